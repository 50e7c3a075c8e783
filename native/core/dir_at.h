// File-system operations relative to an open directory, never following a
// symbolic link: what --with-dir needs to build and place a tree from an
// untrusted peer where other processes (or other connections) may swap a
// directory on the path for a symlink at any moment. Each entry is named by
// one component under a directory descriptor the caller holds, so nothing
// above it is looked up again; the component itself is never followed
// (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, and mkdirat/symlinkat/renameat, which
// never follow their last component).
//
// Descriptors are plain ints owned by the caller. Every failure throws
// IoError (kSystem with errno; kInvalid for a name that is not one component).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace blockferry {

enum class EntryKind { kNone, kDir, kFile, kSymlink, kOther };
enum class RenameMode { kReplace, kNoReplace, kExchange };

// Opens an absolute directory path component by component from "/", each with
// O_NOFOLLOW|O_DIRECTORY: a symlink at any component fails with ELOOP (a
// non-directory with ENOTDIR). The error's offset is the byte length of the
// path up to and including the component that failed.
int OpenDirPath(const std::string& path);

// The directory `name` under `dir` (ELOOP if it is a symlink).
int OpenDirAt(int dir, const std::string& name);

// Creates the directory `name` (EEXIST if anything is there) and opens it.
int MakeDirAt(int dir, const std::string& name, mode_t mode);

// Creates the file `name` for writing (EEXIST if anything is there, a symlink included).
int CreateFileAt(int dir, const std::string& name, mode_t mode);

void SymlinkAt(int dir, const std::string& name, const std::string& target);

// What `name` is, without following it; kNone if nothing is there.
EntryKind KindAt(int dir, const std::string& name);

// True if `name` under `dir` is the very file open as `fd` (same device and inode).
bool SameEntryAt(int dir, const std::string& name, int fd);

// Owner and times of `name` under `fd` without following it, or of `fd` itself
// when `name` is empty. The access time becomes now.
void ChownAt(int fd, const std::string& name, uint32_t uid, uint32_t gid);
void SetMtimeAt(int fd, const std::string& name, int64_t sec, uint32_t nsec);

// renameat2 within one directory: kNoReplace fails with EEXIST rather than
// replace, kExchange swaps the two names atomically (both must exist). A
// filesystem without the flag fails with EINVAL; the caller decides.
void RenameAt(int dir, const std::string& from, const std::string& to, RenameMode mode);

// rm -rf of `name` under `dir`: never follows a symlink (one is removed
// itself), never leaves the file system `dir` is on (EXDEV at a mount point),
// makes a directory it may not empty writable first. False if nothing was there.
bool RemoveTreeAt(int dir, const std::string& name);

// flock(LOCK_EX|LOCK_NB): false when another open file holds the lock.
bool TryLockExclusive(int fd);

}  // namespace blockferry
