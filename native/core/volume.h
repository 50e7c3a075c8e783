// An open volume: a block device or a regular (image) file.
//
// Two descriptors are kept on the same inode: one opened with O_DIRECT for
// aligned transfers, one buffered for what O_DIRECT cannot do (an unaligned
// tail, a filesystem that refuses O_DIRECT). All methods are safe to call from
// several threads at once: they use pread/pwrite and never move a file offset.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace blockferry {

enum class OpenMode { kRead, kWrite };

struct OpenOptions {
  OpenMode mode = OpenMode::kRead;
  bool create = false;  // write mode only: create a missing regular file
  bool direct = true;   // try O_DIRECT
};

// How a zero range reached the volume.
enum class ZeroMethod { kNone, kPunchHole, kZeroOut, kWrite };
const char* ZeroMethodName(ZeroMethod method);

class Volume {
 public:
  static std::unique_ptr<Volume> Open(const std::string& path, const OpenOptions& options);
  ~Volume();
  Volume(const Volume&) = delete;
  Volume& operator=(const Volume&) = delete;

  uint64_t size() const { return size_.load(); }
  uint32_t sector_size() const { return sector_size_; }
  // Alignment of offsets, lengths and memory for O_DIRECT transfers.
  size_t alignment() const { return alignment_; }
  bool is_block_device() const { return is_block_device_; }
  bool writable() const { return writable_; }
  // False once O_DIRECT was refused, at open or by a later transfer.
  bool direct() const { return direct_.load(); }

  // Reads exactly `length` bytes at `offset` into `buf`, which holds
  // `capacity` bytes (O_DIRECT is used for an unaligned tail only when
  // capacity reaches RoundUp(length, alignment())). Returns true when O_DIRECT
  // was used.
  bool Read(uint8_t* buf, size_t capacity, uint64_t offset, size_t length);
  // Writes `length` bytes at `offset`. Returns true when O_DIRECT was used.
  bool Write(const uint8_t* buf, uint64_t offset, size_t length);
  // Makes [offset, offset + length) read as zeros, as cheaply as it can.
  ZeroMethod ZeroRange(uint64_t offset, uint64_t length);
  void Sync();
  // Appends to `out` the [start, end) extents that hold data within
  // [offset, offset + length), at most `max_extents` of them, and returns the
  // offset up to which the search got (offset + length when complete). Holes
  // of image files are found with SEEK_DATA/SEEK_HOLE; a block device, or a
  // filesystem without them, is one extent.
  uint64_t DataExtents(uint64_t offset, uint64_t length, size_t max_extents,
                       std::vector<uint64_t>* out);
  // Regular files only: grow or shrink the image to `size` bytes.
  void SetSize(uint64_t size);

 private:
  Volume() = default;
  void CheckRange(const char* op, uint64_t offset, uint64_t length) const;
  void CheckWritable(const char* op, uint64_t offset) const;
  bool CanUseDirect(const void* buf, size_t capacity, uint64_t offset, size_t length) const;
  void ReadBuffered(uint8_t* buf, uint64_t offset, size_t length);
  void WriteBuffered(const uint8_t* buf, uint64_t offset, size_t length);
  void WriteZeros(uint64_t offset, uint64_t length);

  std::string path_;
  int fd_ = -1;         // buffered
  int direct_fd_ = -1;  // O_DIRECT, or -1 when refused
  std::atomic<uint64_t> size_{0};
  uint32_t sector_size_ = 512;
  size_t alignment_ = 4096;
  bool is_block_device_ = false;
  bool writable_ = false;
  std::atomic<bool> direct_{false};
};

}  // namespace blockferry
