// Base for every asynchronous operation: the byte work runs in Run() on a
// libuv worker thread with no N-API calls; the promise is settled on the main
// thread. Buffers the work reads or writes are kept alive by references held
// until the worker is destroyed (on the main thread).
#pragma once

#include <napi.h>

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "error.h"

namespace blockferry {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env);
  Napi::Promise Queue();  // starts the work; returns its promise
  // Small work: done here, on the main thread, and the promise settled (a trip through the
  // thread pool costs more than a few microseconds of work, and a delta makes thousands).
  Napi::Promise RunHere();
  // Queue(), or RunHere() when `small`.
  Napi::Promise Start(bool small) { return small ? RunHere() : Queue(); }
  void KeepAlive(const Napi::Object& owner);

 protected:
  virtual void Run() = 0;                         // worker thread
  virtual Napi::Value Result(Napi::Env env) = 0;  // main thread

 private:
  void Execute() final;
  void OnOK() final;
  void OnError(const Napi::Error& error) final;

  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> keep_alive_;
  std::optional<IoError> io_error_;
  std::optional<std::string> error_;
};

// A worker whose result is built from a plain function run off the main thread.
class TaskWorker : public PromiseWorker {
 public:
  using Task = std::function<void()>;
  using Build = std::function<Napi::Value(Napi::Env)>;
  TaskWorker(Napi::Env env, Task task, Build build);

 protected:
  void Run() override;
  Napi::Value Result(Napi::Env env) override;

 private:
  Task task_;
  Build build_;
};

// Runs `task` on a worker thread; the promise resolves with `build`'s value, made on the main
// thread.
Napi::Promise QueueTask(Napi::Env env, TaskWorker::Task task, TaskWorker::Build build,
                        std::initializer_list<Napi::Object> keep_alive = {});

// Wraps malloc'ed memory in a Buffer that frees it when collected.
Napi::Buffer<uint8_t> TakeBuffer(Napi::Env env, uint8_t* data, size_t length);

}  // namespace blockferry
