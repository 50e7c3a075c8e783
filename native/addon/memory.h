#pragma once
#include <napi.h>

namespace blockferry {
// allocAligned(size, alignment): a Buffer over aligned memory that O_DIRECT
// can use; the memory is freed when the Buffer is collected.
Napi::Value AllocAlignedBuffer(const Napi::CallbackInfo& info);
}  // namespace blockferry
