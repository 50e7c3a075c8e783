#include "dir_ops.h"

#include <climits>
#include <memory>
#include <string>
#include <type_traits>

#include "args.h"
#include "dir_at.h"
#include "worker.h"

namespace blockferry {
namespace {

int FdArg(const Napi::CallbackInfo& info, size_t index) {
  uint64_t fd = IntegerArg(info, index, "fd");
  if (fd > INT_MAX) throw Napi::RangeError::New(info.Env(), "fd: expected a file descriptor");
  return static_cast<int>(fd);
}

// Copied on the main thread: the worker never touches the Buffer.
std::string NameArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  ByteSpan b = BytesArg(info, index, name);
  return std::string(reinterpret_cast<const char*>(b.data), b.length);
}

// A name, or null for the descriptor itself.
std::string OptionalNameArg(const Napi::CallbackInfo& info, size_t index) {
  if (info[index].IsNull() || info[index].IsUndefined()) return std::string();
  return NameArg(info, index, "name");
}

uint32_t BoundedArg(const Napi::CallbackInfo& info, size_t index, const char* name, uint64_t max) {
  uint64_t v = IntegerArg(info, index, name);
  if (v > max) throw Napi::RangeError::New(info.Env(), std::string(name) + ": out of range");
  return static_cast<uint32_t>(v);
}

// Runs `task` (which sets *result) on a worker; resolves with the result made a JS value.
template <typename T, typename Task>
Napi::Promise Run(Napi::Env env, Task task) {
  auto result = std::make_shared<T>();
  return QueueTask(
      env, [task, result] { *result = task(); },
      [result](Napi::Env e) -> Napi::Value {
        if constexpr (std::is_same_v<T, bool>) {
          return Napi::Boolean::New(e, *result);
        } else {
          return Napi::Number::New(e, static_cast<double>(*result));
        }
      });
}

template <typename Task>
Napi::Promise RunVoid(Napi::Env env, Task task) {
  return QueueTask(env, task, [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
}

Napi::Value OpenPath(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "path: expected a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  return Run<int>(info.Env(), [path] { return OpenDirPath(path); });
}

// (dir, name) -> Promise of what `fn` returns.
template <typename T>
Napi::Value DirName(const Napi::CallbackInfo& info, T (*fn)(int, const std::string&)) {
  int dir = FdArg(info, 0);
  std::string name = NameArg(info, 1, "name");
  return Run<T>(info.Env(), [fn, dir, name] { return fn(dir, name); });
}

// (dir, name, mode) -> Promise<fd> of the directory or file `make` created.
Napi::Value NewEntry(const Napi::CallbackInfo& info, int (*make)(int, const std::string&, mode_t)) {
  int dir = FdArg(info, 0);
  std::string name = NameArg(info, 1, "name");
  mode_t mode = BoundedArg(info, 2, "mode", 07777);
  return Run<int>(info.Env(), [make, dir, name, mode] { return make(dir, name, mode); });
}

Napi::Value OpenAt(const Napi::CallbackInfo& info) { return DirName(info, OpenDirAt); }
Napi::Value MakeDir(const Napi::CallbackInfo& info) { return NewEntry(info, MakeDirAt); }
Napi::Value CreateFile(const Napi::CallbackInfo& info) { return NewEntry(info, CreateFileAt); }

Napi::Value Symlink(const Napi::CallbackInfo& info) {
  int dir = FdArg(info, 0);
  std::string name = NameArg(info, 1, "name");
  std::string target = NameArg(info, 2, "target");
  return RunVoid(info.Env(), [dir, name, target] { SymlinkAt(dir, name, target); });
}

Napi::Value Kind(const Napi::CallbackInfo& info) {
  int dir = FdArg(info, 0);
  std::string name = NameArg(info, 1, "name");
  auto kind = std::make_shared<EntryKind>(EntryKind::kNone);
  return QueueTask(
      info.Env(), [dir, name, kind] { *kind = KindAt(dir, name); },
      [kind](Napi::Env e) -> Napi::Value {
        switch (*kind) {
          case EntryKind::kNone:
            return e.Null();
          case EntryKind::kDir:
            return Napi::String::New(e, "dir");
          case EntryKind::kFile:
            return Napi::String::New(e, "file");
          case EntryKind::kSymlink:
            return Napi::String::New(e, "symlink");
          case EntryKind::kOther:
            break;
        }
        return Napi::String::New(e, "other");
      });
}

Napi::Value SameEntry(const Napi::CallbackInfo& info) {
  int dir = FdArg(info, 0);
  std::string name = NameArg(info, 1, "name");
  int fd = FdArg(info, 2);
  return Run<bool>(info.Env(), [dir, name, fd] { return SameEntryAt(dir, name, fd); });
}

Napi::Value Chown(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  std::string name = OptionalNameArg(info, 1);
  // 2^32-1 is (uid_t)-1, which chown reads as "leave unchanged".
  uint32_t uid = BoundedArg(info, 2, "uid", 0xfffffffe);
  uint32_t gid = BoundedArg(info, 3, "gid", 0xfffffffe);
  return RunVoid(info.Env(), [fd, name, uid, gid] { ChownAt(fd, name, uid, gid); });
}

Napi::Value SetMtime(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  std::string name = OptionalNameArg(info, 1);
  int64_t sec = SignedIntegerArg(info, 2, "sec");
  uint32_t nsec = BoundedArg(info, 3, "nsec", 999999999);
  return RunVoid(info.Env(), [fd, name, sec, nsec] { SetMtimeAt(fd, name, sec, nsec); });
}

Napi::Value Rename(const Napi::CallbackInfo& info) {
  int dir = FdArg(info, 0);
  std::string from = NameArg(info, 1, "from");
  std::string to = NameArg(info, 2, "to");
  auto mode = static_cast<RenameMode>(BoundedArg(info, 3, "mode", 2));
  return RunVoid(info.Env(), [dir, from, to, mode] { RenameAt(dir, from, to, mode); });
}

Napi::Value RemoveTree(const Napi::CallbackInfo& info) { return DirName(info, RemoveTreeAt); }

Napi::Value TryLock(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  return Run<bool>(info.Env(), [fd] { return TryLockExclusive(fd); });
}

}  // namespace

Napi::Object DirAtFunctions(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("openPath", Napi::Function::New(env, OpenPath));
  o.Set("openAt", Napi::Function::New(env, OpenAt));
  o.Set("makeDirAt", Napi::Function::New(env, MakeDir));
  o.Set("createFileAt", Napi::Function::New(env, CreateFile));
  o.Set("symlinkAt", Napi::Function::New(env, Symlink));
  o.Set("kindAt", Napi::Function::New(env, Kind));
  o.Set("sameEntryAt", Napi::Function::New(env, SameEntry));
  o.Set("chownAt", Napi::Function::New(env, Chown));
  o.Set("setMtimeAt", Napi::Function::New(env, SetMtime));
  o.Set("renameAt", Napi::Function::New(env, Rename));
  o.Set("removeTreeAt", Napi::Function::New(env, RemoveTree));
  o.Set("tryLock", Napi::Function::New(env, TryLock));
  return o;
}

}  // namespace blockferry
