#include "worker.h"

#include <cstdlib>
#include <memory>
#include <new>
#include <utility>

#include "errors.h"

namespace blockferry {

PromiseWorker::PromiseWorker(Napi::Env env)
    : Napi::AsyncWorker(env, "blockferry"), deferred_(Napi::Promise::Deferred::New(env)) {}

Napi::Promise PromiseWorker::Queue() {
  Napi::Promise promise = deferred_.Promise();
  Napi::AsyncWorker::Queue();
  return promise;
}

Napi::Promise PromiseWorker::RunHere() {
  // Never queued, so freed here, even if settling the promise throws.
  std::unique_ptr<PromiseWorker> self(this);
  Napi::Promise promise = deferred_.Promise();
  Execute();
  if (error_) {
    OnError(Napi::Error::New(Env(), *error_));
  } else {
    OnOK();
  }
  return promise;
}

void PromiseWorker::KeepAlive(const Napi::Object& owner) {
  keep_alive_.push_back(Napi::Persistent(owner));
}

void PromiseWorker::Execute() {
  // Exceptions must not cross threads: keep what failed, report it in OnError.
  try {
    Run();
  } catch (const IoError& e) {
    io_error_ = e;
    error_ = e.what();
    SetError(e.what());
  } catch (const std::bad_alloc&) {
    io_error_ = IoError(ErrorKind::kSystem, "allocate", ENOMEM, -1, "out of memory");
    error_ = "out of memory";
    SetError("out of memory");
  } catch (const std::exception& e) {
    error_ = e.what();
    SetError(e.what());
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  try {
    deferred_.Resolve(Result(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

void PromiseWorker::OnError(const Napi::Error& error) {
  if (io_error_) {
    deferred_.Reject(MakeError(Env(), *io_error_));
  } else {
    deferred_.Reject(error.Value());
  }
}

TaskWorker::TaskWorker(Napi::Env env, Task task, Build build)
    : PromiseWorker(env), task_(std::move(task)), build_(std::move(build)) {}

void TaskWorker::Run() { task_(); }

Napi::Value TaskWorker::Result(Napi::Env env) { return build_(env); }

Napi::Promise QueueTask(Napi::Env env, TaskWorker::Task task, TaskWorker::Build build,
                        std::initializer_list<Napi::Object> keep_alive) {
  auto* worker = new TaskWorker(env, std::move(task), std::move(build));
  for (const Napi::Object& o : keep_alive) worker->KeepAlive(o);
  return worker->Queue();
}

Napi::Buffer<uint8_t> TakeBuffer(Napi::Env env, uint8_t* data, size_t length) {
  return Napi::Buffer<uint8_t>::New(env, data, length, [](Napi::Env, uint8_t* p) { std::free(p); });
}

}  // namespace blockferry
