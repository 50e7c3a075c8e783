// Registration only: each operation lives in its own file.
#include <napi.h>

#include "codec_ops.h"
#include "memory.h"
#include "volume_wrap.h"

namespace blockferry {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeVolume", VolumeWrap::Define(env));
  exports.Set("openVolume", Napi::Function::New(env, VolumeWrap::OpenAsync));
  exports.Set("allocAligned", Napi::Function::New(env, AllocAlignedBuffer));
  exports.Set("digestBlocks", Napi::Function::New(env, DigestBlocksAsync));
  exports.Set("compressBlocks", Napi::Function::New(env, CompressBlocksAsync));
  exports.Set("decodeBlocks", Napi::Function::New(env, DecodeBlocksAsync));
  exports.Set("receiveUnits", Napi::Function::New(env, ReceiveUnitsAsync));
  exports.Set("foldDigests", Napi::Function::New(env, FoldDigestsAsync));
  return exports;
}

NODE_API_MODULE(blockferry, Init)

}  // namespace blockferry
