#include "args.h"

#include <string>

namespace blockferry {
namespace {

[[noreturn]] void Fail(const Napi::CallbackInfo& info, const char* name, const char* expected) {
  throw Napi::TypeError::New(info.Env(),
                             std::string("argument ") + name + ": expected " + expected);
}

}  // namespace

ByteSpan BytesArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsTypedArray()) Fail(info, name, "a Buffer or Uint8Array");
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  if (t.TypedArrayType() != napi_uint8_array) {
    Fail(info, name, "a Buffer or Uint8Array");
  }
  Napi::Uint8Array u = t.As<Napi::Uint8Array>();
  return ByteSpan{u.Data(), u.ByteLength(), u};
}

const uint32_t* Uint32Arg(const Napi::CallbackInfo& info, size_t index, const char* name,
                          size_t count, Napi::Object* owner) {
  Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    Fail(info, name, "a Uint32Array");
  }
  Napi::Uint32Array a = v.As<Napi::Uint32Array>();
  if (a.ElementLength() < count) Fail(info, name, "one entry per block");
  *owner = a;
  return a.Data();
}

uint64_t IntegerArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsNumber()) Fail(info, name, "a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740992.0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
    Fail(info, name, "a non-negative integer");
  }
  return static_cast<uint64_t>(d);
}

int64_t SignedIntegerArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsNumber()) Fail(info, name, "a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) ||
      d != static_cast<double>(static_cast<int64_t>(d))) {
    Fail(info, name, "an integer");
  }
  return static_cast<int64_t>(d);
}

uint64_t BigIntArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsBigInt()) Fail(info, name, "a bigint");
  bool lossless = false;
  uint64_t n = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) Fail(info, name, "a bigint from 0 to 2^64-1");
  return n;
}

bool BoolArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsBoolean()) Fail(info, name, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

}  // namespace blockferry
