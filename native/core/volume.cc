#include "volume.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "aligned_buffer.h"
#include "error.h"

namespace blockferry {
namespace {

// Zeros written when neither hole punching nor BLKZEROOUT is available.
constexpr size_t kZeroChunk = 1 << 20;

int OpenOrThrow(const std::string& path, int flags) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw IoError::System("open " + path, errno, -1);
  return fd;
}

struct stat FstatOrThrow(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) throw IoError::System("fstat " + path, errno, -1);
  return st;
}

bool SameInode(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_rdev == b.st_rdev;
}

bool IsNotSupported(int err) {
  return err == EOPNOTSUPP || err == ENOTSUP || err == EINVAL || err == ENOTTY || err == ENOSYS;
}

}  // namespace

const char* ZeroMethodName(ZeroMethod method) {
  switch (method) {
    case ZeroMethod::kPunchHole:
      return "punch-hole";
    case ZeroMethod::kZeroOut:
      return "zero-out";
    case ZeroMethod::kWrite:
      return "write";
    case ZeroMethod::kNone:
      return "none";
  }
  return "write";
}

std::unique_ptr<Volume> Volume::Open(const std::string& path, const OpenOptions& options) {
  std::unique_ptr<Volume> v(new Volume());
  v->path_ = path;
  v->writable_ = options.mode == OpenMode::kWrite;

  int flags = O_CLOEXEC | (v->writable_ ? O_RDWR : O_RDONLY);
  // O_EXCL on a block device claims it: the open fails with EBUSY while the
  // device is mounted or claimed by another exclusive writer. It is asked for
  // on every open for writing, so no rename between a check and the open can
  // dodge it (Linux ignores O_EXCL without O_CREAT on other files). Only this
  // first descriptor claims; a second claim by us would fail too.
  int first_flags = flags | (v->writable_ ? O_EXCL : 0);
  if (v->writable_ && options.create) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) first_flags |= O_CREAT;
  }
  // O_NONBLOCK so that a FIFO cannot hang the open; cleared once the type is known.
  v->fd_ = OpenOrThrow(path, first_flags | O_NONBLOCK);
  struct stat st = FstatOrThrow(v->fd_, path);
  if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
    throw IoError(ErrorKind::kInvalid, "open " + path, 0, -1,
                  path + " is neither a block device nor a regular file");
  }
  if (::fcntl(v->fd_, F_SETFL, ::fcntl(v->fd_, F_GETFL) & ~O_NONBLOCK) != 0) {
    throw IoError::System("fcntl " + path, errno, -1);
  }
  v->is_block_device_ = S_ISBLK(st.st_mode);
  // An image file has no O_EXCL claim: one writer at a time is an advisory
  // lock instead, held until this descriptor closes (or the process dies).
  if (v->writable_ && !v->is_block_device_ && ::flock(v->fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      throw IoError(ErrorKind::kSystem, "lock " + path, EBUSY, -1,
                    path + " is being written by another writer (it holds a lock on it)");
    }
    throw IoError::System("flock " + path, errno, -1);
  }

  if (options.direct) {
    int dfd = ::open(path.c_str(), flags | O_DIRECT, 0);
    if (dfd >= 0) {
      struct stat dst;
      // The path could have been replaced between the two opens.
      if (::fstat(dfd, &dst) == 0 && SameInode(st, dst)) {
        v->direct_fd_ = dfd;
      } else {
        ::close(dfd);
      }
    } else if (errno != EINVAL) {
      throw IoError::System("open " + path + " with O_DIRECT", errno, -1);
    }
  }
  v->direct_ = v->direct_fd_ >= 0;

  if (v->is_block_device_) {
    uint64_t bytes = 0;
    if (::ioctl(v->fd_, BLKGETSIZE64, &bytes) != 0) {
      throw IoError::System("ioctl BLKGETSIZE64 " + path, errno, -1);
    }
    int sector = 0;
    if (::ioctl(v->fd_, BLKSSZGET, &sector) != 0) {
      throw IoError::System("ioctl BLKSSZGET " + path, errno, -1);
    }
    v->size_ = bytes;
    v->sector_size_ = static_cast<uint32_t>(sector);
  } else {
    v->size_ = static_cast<uint64_t>(st.st_size);
  }
  v->alignment_ = std::max<size_t>(kPageAlignment, v->sector_size_);
  return v;
}

Volume::~Volume() {
  if (direct_fd_ >= 0) ::close(direct_fd_);
  if (fd_ >= 0) ::close(fd_);
}

void Volume::CheckRange(const char* op, uint64_t offset, uint64_t length) const {
  uint64_t size = size_.load();
  if (offset > size || length > size - offset) {
    throw IoError(ErrorKind::kRange, op, 0, static_cast<int64_t>(offset),
                  std::string(op) + " of " + std::to_string(length) + " bytes at offset " +
                      std::to_string(offset) + " goes past the end of the volume (" +
                      std::to_string(size) + " bytes)");
  }
}

void Volume::CheckWritable(const char* op, uint64_t offset) const {
  if (!writable_) {
    throw IoError(ErrorKind::kInvalid, op, EBADF, static_cast<int64_t>(offset),
                  std::string(op) + " on a volume opened read-only");
  }
}

bool Volume::CanUseDirect(const void* buf, size_t capacity, uint64_t offset, size_t length) const {
  return direct_.load() && IsAligned(buf, alignment_) && offset % alignment_ == 0 &&
         capacity >= RoundUp(length, alignment_) &&
         (length % alignment_ == 0 || offset + length == size_.load());
}

bool Volume::Read(uint8_t* buf, size_t capacity, uint64_t offset, size_t length) {
  CheckRange("read", offset, length);
  if (CanUseDirect(buf, capacity, offset, length)) {
    // The last block of a file may end off the alignment: ask for whole
    // aligned units and take what precedes end-of-file.
    size_t want = RoundUp(length, alignment_);
    size_t done = 0;
    while (done < length) {
      ssize_t n = ::pread(direct_fd_, buf + done, want - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EINVAL && done == 0) {
        direct_ = false;  // this filesystem refuses O_DIRECT transfers
        break;
      }
      if (n < 0) throw IoError::System("read", errno, offset + done);
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    if (done >= length) return true;
    if (direct_.load()) {
      throw IoError(ErrorKind::kRange, "read", 0, offset + done,
                    "read hit end of volume at byte offset " + std::to_string(offset + done) +
                        ": the volume shrank while open");
    }
  }
  ReadBuffered(buf, offset, length);
  return false;
}

void Volume::ReadBuffered(uint8_t* buf, uint64_t offset, size_t length) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd_, buf + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IoError::System("read", errno, offset + done);
    if (n == 0) {
      throw IoError(ErrorKind::kRange, "read", 0, offset + done,
                    "read hit end of volume at byte offset " + std::to_string(offset + done) +
                        ": the volume shrank while open");
    }
    done += static_cast<size_t>(n);
  }
}

bool Volume::Write(const uint8_t* buf, uint64_t offset, size_t length) {
  CheckWritable("write", offset);
  CheckRange("write", offset, length);
  // Only the aligned prefix goes through O_DIRECT, so no slack is needed.
  if (CanUseDirect(buf, RoundUp(length, alignment_), offset, length)) {
    // O_DIRECT writes whole aligned units only; a tail at the end of an
    // image file goes through the buffered descriptor.
    size_t aligned = length / alignment_ * alignment_;
    size_t done = 0;
    while (done < aligned) {
      ssize_t n =
          ::pwrite(direct_fd_, buf + done, aligned - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EINVAL && done == 0) {
        direct_ = false;
        break;
      }
      if (n < 0) throw IoError::System("write", errno, offset + done);
      if (n == 0) throw IoError::System("write", EIO, offset + done);
      done += static_cast<size_t>(n);
    }
    if (done == aligned) {
      if (aligned < length) {
        WriteBuffered(buf + aligned, offset + aligned, length - aligned);
      }
      return true;
    }
  }
  WriteBuffered(buf, offset, length);
  return false;
}

void Volume::WriteBuffered(const uint8_t* buf, uint64_t offset, size_t length) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pwrite(fd_, buf + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IoError::System("write", errno, offset + done);
    if (n == 0) throw IoError::System("write", EIO, offset + done);
    done += static_cast<size_t>(n);
  }
}

ZeroMethod Volume::ZeroRange(uint64_t offset, uint64_t length) {
  CheckWritable("zero range", offset);
  CheckRange("zero range", offset, length);
  if (length == 0) return ZeroMethod::kPunchHole;
  if (is_block_device_) {
    // BLKZEROOUT wants sector-aligned ranges; anything else is written.
    if (offset % sector_size_ == 0 && length % sector_size_ == 0) {
      uint64_t range[2] = {offset, length};
      if (::ioctl(fd_, BLKZEROOUT, range) == 0) return ZeroMethod::kZeroOut;
      if (!IsNotSupported(errno)) {
        throw IoError::System("ioctl BLKZEROOUT", errno, offset);
      }
    }
  } else {
    if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(length)) == 0) {
      return ZeroMethod::kPunchHole;
    }
    if (!IsNotSupported(errno)) {
      throw IoError::System("fallocate punch hole", errno, offset);
    }
  }
  WriteZeros(offset, length);
  return ZeroMethod::kWrite;
}

void Volume::WriteZeros(uint64_t offset, uint64_t length) {
  size_t chunk = static_cast<size_t>(std::min<uint64_t>(kZeroChunk, length));
  std::unique_ptr<uint8_t, void (*)(void*)> zeros(
      AllocAligned(RoundUp(chunk, alignment_), alignment_), FreeAligned);
  std::memset(zeros.get(), 0, RoundUp(chunk, alignment_));
  for (uint64_t done = 0; done < length;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, length - done));
    Write(zeros.get(), offset + done, n);
    done += n;
  }
}

void Volume::Sync() {
  if (::fdatasync(fd_) != 0) throw IoError::System("fdatasync", errno, -1);
}

uint64_t Volume::DataExtents(uint64_t offset, uint64_t length, size_t max_extents,
                             std::vector<uint64_t>* out) {
  CheckRange("find data", offset, length);
  uint64_t end = offset + length;
  if (is_block_device_) {
    if (length > 0) out->insert(out->end(), {offset, end});
    return end;
  }
  uint64_t pos = offset;
  while (pos < end && out->size() / 2 < max_extents) {
    off_t data = ::lseek(fd_, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno == ENXIO) return end;  // only a hole remains
    if (data < 0 && IsNotSupported(errno)) {
      out->insert(out->end(), {pos, end});
      return end;
    }
    if (data < 0) throw IoError::System("lseek SEEK_DATA", errno, pos);
    if (static_cast<uint64_t>(data) >= end) return end;
    off_t hole = ::lseek(fd_, data, SEEK_HOLE);
    if (hole < 0) throw IoError::System("lseek SEEK_HOLE", errno, data);
    uint64_t stop = std::min<uint64_t>(static_cast<uint64_t>(hole), end);
    out->insert(out->end(), {static_cast<uint64_t>(data), stop});
    pos = stop;
  }
  return pos;
}

void Volume::SetSize(uint64_t size) {
  CheckWritable("set size", static_cast<int64_t>(size));
  if (is_block_device_) {
    throw IoError(ErrorKind::kInvalid, "set size", 0, -1,
                  "a block device cannot be resized: " + path_);
  }
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    throw IoError::System("ftruncate", errno, static_cast<int64_t>(size));
  }
  size_ = size;
}

}  // namespace blockferry
