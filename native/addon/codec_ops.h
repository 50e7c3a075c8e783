// Byte work on memory, no volume: digests, lz4 compression and decoding.
#pragma once
#include <napi.h>

namespace blockferry {
// digestBlocks(data, blockSize, seed) -> Promise<{digests, zero}>
Napi::Value DigestBlocksAsync(const Napi::CallbackInfo& info);
// compressBlocks(data, blockSize) -> Promise<{payload, sizes}>
Napi::Value CompressBlocksAsync(const Napi::CallbackInfo& info);
// decodeBlocks(src, sizes, kinds, dst, blockSize) -> Promise<undefined>
Napi::Value DecodeBlocksAsync(const Napi::CallbackInfo& info);
// receiveUnits(parts, sizes, kinds, dst, unit, offsets | null, [blockSize, seed, firstBlock] |
// null)
//   -> Promise<undefined | {sum, zero}>
Napi::Value ReceiveUnitsAsync(const Napi::CallbackInfo& info);
// foldDigests(acc, digests, count, firstBlock, seed, repeat) -> Promise<Buffer>
Napi::Value FoldDigestsAsync(const Napi::CallbackInfo& info);
}  // namespace blockferry
