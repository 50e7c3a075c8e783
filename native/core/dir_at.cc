#include "dir_at.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "error.h"

namespace blockferry {
namespace {

// Deeper trees than this are refused by RemoveTreeAt rather than risk the
// worker thread's stack (a received tree is at most 2048 levels deep).
constexpr int kMaxRemoveDepth = 4096;

[[noreturn]] void Fail(const char* op, int err) { throw IoError::System(op, err, -1); }

[[noreturn]] void FailMountPoint() {
  throw IoError(ErrorKind::kSystem, "remove", EXDEV, -1,
                "a file system is mounted inside the tree: not removed (unmount it first)");
}

void CheckName(const std::string& name, const char* op) {
  if (name.empty() || name == "." || name == ".." || name.size() > 255 ||
      name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
    throw IoError(ErrorKind::kInvalid, op, EINVAL, -1,
                  std::string(op) + ": expected a single file name");
  }
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// fstatat without following `name`; false if nothing is there.
bool StatAt(int dir, const std::string& name, struct stat* st) {
  if (fstatat(dir, name.c_str(), st, AT_SYMLINK_NOFOLLOW) == 0) return true;
  if (errno == ENOENT) return false;
  Fail("stat", errno);
}

bool IsSymlinkAt(int dir, const char* name) {
  struct stat st;
  return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

// openat with O_NOFOLLOW|O_DIRECTORY; a symlink reports ELOOP (the kernel says
// ENOTDIR when both flags are given), so callers can tell it from a file.
int OpenDirFlags(int dir, const char* name, int flags) {
  int fd = openat(dir, name, flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOTDIR && IsSymlinkAt(dir, name)) errno = ELOOP;
  return fd;
}

std::vector<std::string> ListDir(int dir) {
  int copy = fcntl(dir, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) Fail("dup", errno);
  DIR* d = fdopendir(copy);
  if (d == nullptr) {
    int err = errno;
    close(copy);
    Fail("fdopendir", err);
  }
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    struct dirent* e = readdir(d);
    if (e == nullptr) break;
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  int err = errno;
  closedir(d);
  if (err != 0) Fail("readdir", err);
  return names;
}

void RemoveEntry(int dir, const std::string& name, const struct stat& st, dev_t dev, int depth);

// Removes everything in the directory `name` (already known to be a directory on `dev`).
void EmptyDir(int dir, const std::string& name, dev_t dev, int depth) {
  if (depth > kMaxRemoveDepth) {
    throw IoError(ErrorKind::kSystem, "remove", ELOOP, -1,
                  "the tree is more than 4096 directories deep: not removed");
  }
  int raw = OpenDirFlags(dir, name.c_str(), O_RDONLY);
  if (raw < 0 && errno == EACCES) {
    // Not root, and a directory we may not read: ours to remove, so make it readable.
    if (fchmodat(dir, name.c_str(), S_IRWXU, AT_SYMLINK_NOFOLLOW) == 0) {
      raw = OpenDirFlags(dir, name.c_str(), O_RDONLY);
    }
  }
  if (raw < 0) Fail("open", errno);
  Fd fd(raw);
  struct stat self;
  if (fstat(fd.get(), &self) != 0) Fail("stat", errno);
  if (self.st_dev != dev) FailMountPoint();
  bool made_writable = false;
  for (const std::string& child : ListDir(fd.get())) {
    struct stat st;
    if (!StatAt(fd.get(), child, &st)) continue;
    try {
      RemoveEntry(fd.get(), child, st, dev, depth + 1);
    } catch (const IoError& e) {
      if (made_writable || (e.err() != EACCES && e.err() != EPERM)) throw;
      // Not root, in a read-only directory: make it writable once and try again.
      made_writable = true;
      if (fchmod(fd.get(), S_IRWXU) != 0) throw;
      RemoveEntry(fd.get(), child, st, dev, depth + 1);
    }
  }
}

void RemoveEntry(int dir, const std::string& name, const struct stat& st, dev_t dev, int depth) {
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) Fail("unlink", errno);
    return;
  }
  if (st.st_dev != dev) FailMountPoint();
  EmptyDir(dir, name, dev, depth);
  if (unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) Fail("rmdir", errno);
}

}  // namespace

int OpenDirPath(const std::string& path) {
  if (path.empty() || path[0] != '/' || path.find('\0') != std::string::npos) {
    throw IoError(ErrorKind::kInvalid, "open", EINVAL, -1, "open: expected an absolute path");
  }
  // Components above the last are opened O_PATH: searching them needs no read permission.
  Fd cur(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (cur.get() < 0) Fail("open", errno);
  size_t at = 1;
  for (;;) {
    while (at < path.size() && path[at] == '/') ++at;
    size_t slash = path.find('/', at);
    size_t end = slash == std::string::npos ? path.size() : slash;
    size_t next = end;
    while (next < path.size() && path[next] == '/') ++next;
    bool last = next >= path.size();
    std::string name = path.substr(at, end - at);
    if (name == "." || name == "..") {
      throw IoError(ErrorKind::kInvalid, "open", EINVAL, static_cast<int64_t>(end),
                    "open: expected a path without \".\" or \"..\"");
    }
    const char* component = name.empty() ? "." : name.c_str();  // "/" itself
    int fd = OpenDirFlags(cur.get(), component, last ? O_RDONLY : O_PATH);
    if (fd < 0) throw IoError::System("open", errno, static_cast<int64_t>(end));
    cur.reset(fd);
    if (last) return cur.release();
    at = next;
  }
}

int OpenDirAt(int dir, const std::string& name) {
  CheckName(name, "open");
  int fd = OpenDirFlags(dir, name.c_str(), O_RDONLY);
  if (fd < 0) Fail("open", errno);
  return fd;
}

int MakeDirAt(int dir, const std::string& name, mode_t mode) {
  CheckName(name, "mkdir");
  if (mkdirat(dir, name.c_str(), mode) != 0) Fail("mkdir", errno);
  return OpenDirAt(dir, name);
}

int CreateFileAt(int dir, const std::string& name, mode_t mode) {
  CheckName(name, "create");
  int fd = openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) Fail("create", errno);
  return fd;
}

void SymlinkAt(int dir, const std::string& name, const std::string& target) {
  CheckName(name, "symlink");
  if (target.empty() || target.find('\0') != std::string::npos) {
    throw IoError(ErrorKind::kInvalid, "symlink", EINVAL, -1, "symlink: expected a target");
  }
  if (symlinkat(target.c_str(), dir, name.c_str()) != 0) Fail("symlink", errno);
}

EntryKind KindAt(int dir, const std::string& name) {
  CheckName(name, "stat");
  struct stat st;
  if (!StatAt(dir, name, &st)) return EntryKind::kNone;
  if (S_ISDIR(st.st_mode)) return EntryKind::kDir;
  if (S_ISREG(st.st_mode)) return EntryKind::kFile;
  if (S_ISLNK(st.st_mode)) return EntryKind::kSymlink;
  return EntryKind::kOther;
}

bool SameEntryAt(int dir, const std::string& name, int fd) {
  CheckName(name, "stat");
  struct stat a, b;
  if (fstat(fd, &b) != 0) Fail("stat", errno);
  if (!StatAt(dir, name, &a)) return false;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

void ChownAt(int fd, const std::string& name, uint32_t uid, uint32_t gid) {
  int r;
  if (name.empty()) {
    r = fchown(fd, uid, gid);
  } else {
    CheckName(name, "chown");
    r = fchownat(fd, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
  }
  if (r != 0) Fail("chown", errno);
}

void SetMtimeAt(int fd, const std::string& name, int64_t sec, uint32_t nsec) {
  if (nsec > 999999999) throw IoError(ErrorKind::kInvalid, "utimens", EINVAL, -1, "utimens: nsec");
  struct timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_NOW;
  times[1].tv_sec = static_cast<time_t>(sec);
  times[1].tv_nsec = static_cast<long>(nsec);
  int r;
  if (name.empty()) {
    r = futimens(fd, times);
  } else {
    CheckName(name, "utimens");
    r = utimensat(fd, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
  }
  if (r != 0) Fail("utimens", errno);
}

void RenameAt(int dir, const std::string& from, const std::string& to, RenameMode mode) {
  CheckName(from, "rename");
  CheckName(to, "rename");
  unsigned flags = mode == RenameMode::kNoReplace  ? RENAME_NOREPLACE
                   : mode == RenameMode::kExchange ? RENAME_EXCHANGE
                                                   : 0;
  if (renameat2(dir, from.c_str(), dir, to.c_str(), flags) != 0) Fail("rename", errno);
}

bool RemoveTreeAt(int dir, const std::string& name) {
  CheckName(name, "remove");
  struct stat top, st;
  if (fstat(dir, &top) != 0) Fail("stat", errno);
  if (!StatAt(dir, name, &st)) return false;
  RemoveEntry(dir, name, st, top.st_dev, 0);
  return true;
}

bool TryLockExclusive(int fd) {
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
    if (errno == EWOULDBLOCK) return false;
    if (errno != EINTR) Fail("flock", errno);
  }
}

}  // namespace blockferry
