#include "batch_io.h"

#include <algorithm>
#include <chrono>

#include "digest.h"

namespace blockferry {

ReadResult ReadBlocks(Volume& volume, uint8_t* buf, size_t capacity, uint64_t offset, size_t length,
                      size_t block_size, uint64_t seed, uint8_t* digests, uint8_t* zero) {
  ReadResult result;
  size_t request = std::max(kIoRequestSize / block_size, size_t{1}) * block_size;
  using Clock = std::chrono::steady_clock;
  auto ns = [](Clock::time_point from) {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - from).count());
  };
  for (size_t done = 0; done < length; done += request) {
    size_t n = std::min(request, length - done);
    auto started = Clock::now();
    result.direct &= volume.Read(buf + done, capacity - done, offset + done, n);
    result.read_ns += ns(started);
    started = Clock::now();
    if (digests != nullptr || zero != nullptr) {
      size_t first = done / block_size;
      DigestBlocks(buf + done, n, block_size, seed,
                   digests ? digests + first * kDigestSize : nullptr,
                   zero ? zero + first : nullptr);
    }
    result.hash_ns += ns(started);
  }
  return result;
}

WriteResult WriteBlocks(Volume& volume, const uint8_t* buf, uint64_t offset, size_t length,
                        size_t block_size, const uint8_t* zero) {
  WriteResult result;
  size_t count = BlockCount(length, block_size);
  size_t i = 0;
  while (i < count) {
    // One run of blocks that are all flagged zero, or all not.
    bool run_zero = zero != nullptr && zero[i] != 0;
    size_t end = i + 1;
    while (end < count && (zero != nullptr && zero[end] != 0) == run_zero) ++end;
    size_t start_byte = i * block_size;
    size_t run_bytes = std::min(end * block_size, length) - start_byte;
    if (run_zero) {
      result.zero_method = volume.ZeroRange(offset + start_byte, run_bytes);
      result.bytes_zeroed += run_bytes;
    } else {
      result.direct &= volume.Write(buf + start_byte, offset + start_byte, run_bytes);
      result.bytes_written += run_bytes;
    }
    i = end;
  }
  return result;
}

}  // namespace blockferry
