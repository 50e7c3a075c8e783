#include "errors.h"

namespace blockferry {

Napi::Value MakeError(Napi::Env env, const IoError& error) {
  Napi::Error e = Napi::Error::New(env, error.what());
  Napi::Object o = e.Value();
  o.Set("kind", ErrorKindName(error.kind()));
  o.Set("errno", error.err());
  o.Set("op", error.op());
  o.Set("offset", static_cast<double>(error.offset()));
  return o;
}

}  // namespace blockferry
