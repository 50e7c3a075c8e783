// The directory operations of dir_at.h for JavaScript: each runs on a worker
// thread and settles a promise. Descriptors are plain numbers owned by the
// caller (src/native/dir.ts); names are Buffers of one component.
#pragma once
#include <napi.h>

namespace blockferry {
// An object of functions: openPath, openAt, makeDirAt, createFileAt, symlinkAt,
// kindAt, sameEntryAt, chownAt, setMtimeAt, renameAt, removeTreeAt, tryLock.
Napi::Object DirAtFunctions(Napi::Env env);
}  // namespace blockferry
