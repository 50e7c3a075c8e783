// Registration only: each operation lives in its own file.
#include <lz4.h>
#include <napi.h>
#include <xxhash.h>

#include <string>

#include "codec_ops.h"
#include "dir_ops.h"
#include "memory.h"
#include "volume_wrap.h"

namespace blockferry {

// The libraries as loaded at run time (not as compiled against): --version shows them.
static Napi::Object Libraries(Napi::Env env) {
  unsigned xxh = XXH_versionNumber();
  Napi::Object libs = Napi::Object::New(env);
  libs.Set("lz4", LZ4_versionString());
  libs.Set("xxhash", std::to_string(xxh / 10000) + "." + std::to_string(xxh / 100 % 100) + "." +
                         std::to_string(xxh % 100));
  return libs;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeVolume", VolumeWrap::Define(env));
  exports.Set("openVolume", Napi::Function::New(env, VolumeWrap::OpenAsync));
  exports.Set("allocAligned", Napi::Function::New(env, AllocAlignedBuffer));
  exports.Set("digestBlocks", Napi::Function::New(env, DigestBlocksAsync));
  exports.Set("compressBlocks", Napi::Function::New(env, CompressBlocksAsync));
  exports.Set("decodeBlocks", Napi::Function::New(env, DecodeBlocksAsync));
  exports.Set("receiveUnits", Napi::Function::New(env, ReceiveUnitsAsync));
  exports.Set("foldDigests", Napi::Function::New(env, FoldDigestsAsync));
  exports.Set("dirAt", DirAtFunctions(env));
  exports.Set("libraries", Libraries(env));
  return exports;
}

NODE_API_MODULE(blockferry, Init)

}  // namespace blockferry
