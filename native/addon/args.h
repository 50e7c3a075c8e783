// Argument checks for the addon's entry points. The TypeScript layer validates
// with friendly messages first; these checks exist so that no call, however
// wrong, can make native code touch memory it does not own.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace blockferry {

struct ByteSpan {
  uint8_t* data;
  size_t length;
  Napi::Object owner;  // the typed array, to keep alive while in use
};

ByteSpan BytesArg(const Napi::CallbackInfo& info, size_t index, const char* name);
// A Uint32Array argument; `count` elements are required.
const uint32_t* Uint32Arg(const Napi::CallbackInfo& info, size_t index, const char* name,
                          size_t count, Napi::Object* owner);
// A non-negative integer number no larger than 2^53.
uint64_t IntegerArg(const Napi::CallbackInfo& info, size_t index, const char* name);
// An integer number from -2^53 to 2^53.
int64_t SignedIntegerArg(const Napi::CallbackInfo& info, size_t index, const char* name);
uint64_t BigIntArg(const Napi::CallbackInfo& info, size_t index, const char* name);
bool BoolArg(const Napi::CallbackInfo& info, size_t index, const char* name);

}  // namespace blockferry
