// lz4 block compression of a batch, and its bounded decoding.
#pragma once

#include <cstddef>
#include <cstdint>

namespace blockferry {

// A block is sent compressed only when lz4 saves at least 1/16 of it; below
// that the receiver's decode and the sender's CPU cost more than they save.
constexpr size_t kMinSavingShift = 4;

// Room CompressBlocks needs in `dst` for `length` bytes in blocks.
size_t CompressCapacity(size_t length, size_t block_size);

// Compresses each block of `src` into `dst`, packed one after another. sizes[i]
// is the compressed size of block i, or 0 when the block is kept raw because
// it did not shrink enough. Returns the bytes used in `dst`.
size_t CompressBlocks(const uint8_t* src, size_t length, size_t block_size, uint8_t* dst,
                      size_t dst_capacity, uint32_t* sizes);

// How a received block is encoded.
enum class BlockKind : uint8_t { kRaw = 0, kLz4 = 1, kZero = 2 };

// Rebuilds `dst` (`dst_length` bytes in blocks of `block_size`, the last may be
// shorter) from `src`, where block i takes sizes[i] bytes encoded as kinds[i]
// (kZero blocks take none). Untrusted input: every size is checked against
// both buffers, and an lz4 block must decode to exactly its block's length;
// anything else throws IoError(kCorrupt) naming the block. Never writes
// outside dst.
void DecodeBlocks(const uint8_t* src, size_t src_length, const uint32_t* sizes,
                  const uint8_t* kinds, uint8_t* dst, size_t dst_length, size_t block_size);

}  // namespace blockferry
