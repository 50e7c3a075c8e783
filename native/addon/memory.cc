#include "memory.h"

#include "aligned_buffer.h"
#include "args.h"
#include "worker.h"

namespace blockferry {

Napi::Value AllocAlignedBuffer(const Napi::CallbackInfo& info) {
  uint64_t size = IntegerArg(info, 0, "size");
  uint64_t alignment = IntegerArg(info, 1, "alignment");
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > (1 << 20)) {
    throw Napi::RangeError::New(info.Env(), "alignment must be a power of two up to 1 MiB");
  }
  uint8_t* p;
  try {
    p = AllocAligned(static_cast<size_t>(size), static_cast<size_t>(alignment));
  } catch (const std::bad_alloc&) {
    throw Napi::RangeError::New(info.Env(), "cannot allocate " + std::to_string(size) + " bytes");
  }
  return TakeBuffer(info.Env(), p, static_cast<size_t>(size));
}

}  // namespace blockferry
