// The Volume class seen from JavaScript. Each I/O method queues a worker that
// holds its own reference to the core Volume, so close() never pulls a
// descriptor from under a transfer still running: the descriptors are closed
// when the last transfer ends.
#pragma once

#include <napi.h>

#include <memory>

#include "volume.h"

namespace blockferry {

class VolumeWrap : public Napi::ObjectWrap<VolumeWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // openVolume(path, write, create, direct) -> Promise<VolumeWrap>
  static Napi::Value OpenAsync(const Napi::CallbackInfo& info);

  explicit VolumeWrap(const Napi::CallbackInfo& info);

 private:
  std::shared_ptr<Volume> Get(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value ReadSpans(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value WriteSpans(const Napi::CallbackInfo& info);
  Napi::Value ZeroRange(const Napi::CallbackInfo& info);
  Napi::Value SetSize(const Napi::CallbackInfo& info);
  Napi::Value Sync(const Napi::CallbackInfo& info);
  Napi::Value DataExtents(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::shared_ptr<Volume> volume_;
};

}  // namespace blockferry
