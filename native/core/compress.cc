#include "compress.h"

#include <lz4.h>

#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "digest.h"
#include "error.h"

namespace blockferry {
namespace {

size_t CompressLimit(size_t block_length) {
  return block_length - (block_length >> kMinSavingShift);
}

IoError Corrupt(size_t block, const std::string& why) {
  return IoError(ErrorKind::kCorrupt, "decode", 0, -1,
                 "block " + std::to_string(block) + " of the batch is corrupt: " + why);
}

}  // namespace

size_t CompressCapacity(size_t length, size_t block_size) {
  size_t count = BlockCount(length, block_size);
  if (count == 0) return 0;
  size_t last = length - (count - 1) * block_size;
  return (count - 1) * CompressLimit(block_size) + CompressLimit(last);
}

size_t CompressBlocks(const uint8_t* src, size_t length, size_t block_size, uint8_t* dst,
                      size_t dst_capacity, uint32_t* sizes) {
  if (block_size > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) {
    throw IoError(ErrorKind::kInvalid, "compress", 0, -1, "block size too large for lz4");
  }
  std::vector<char> state(static_cast<size_t>(LZ4_sizeofState()));
  size_t used = 0;
  size_t count = BlockCount(length, block_size);
  for (size_t i = 0; i < count; ++i) {
    size_t n = i + 1 < count ? block_size : length - i * block_size;
    size_t limit = CompressLimit(n);
    if (used + limit > dst_capacity) {
      throw IoError(ErrorKind::kRange, "compress", 0, -1, "compression buffer too small");
    }
    // Capacity capped at the limit: lz4 gives up (returns 0) as soon as the
    // output would not save enough, so incompressible blocks cost little.
    int got = LZ4_compress_fast_extState(
        state.data(), reinterpret_cast<const char*>(src + i * block_size),
        reinterpret_cast<char*>(dst + used), static_cast<int>(n), static_cast<int>(limit), 1);
    sizes[i] = static_cast<uint32_t>(got > 0 ? got : 0);
    used += sizes[i];
  }
  return used;
}

void DecodeBlocks(const uint8_t* src, size_t src_length, const uint32_t* sizes,
                  const uint8_t* kinds, uint8_t* dst, size_t dst_length, size_t block_size) {
  if (src < dst + dst_length && dst < src + src_length) {
    throw IoError(ErrorKind::kInvalid, "decode", 0, -1, "source and destination overlap");
  }
  size_t count = BlockCount(dst_length, block_size);
  size_t pos = 0;
  for (size_t i = 0; i < count; ++i) {
    size_t n = i + 1 < count ? block_size : dst_length - i * block_size;
    uint8_t* out = dst + i * block_size;
    size_t size = sizes[i];
    if (size > src_length - pos) throw Corrupt(i, "size runs past the input");
    const uint8_t* in = src + pos;
    switch (static_cast<BlockKind>(kinds[i])) {
      case BlockKind::kRaw:
        if (size != n) throw Corrupt(i, "raw size differs from block length");
        std::memcpy(out, in, n);
        break;
      case BlockKind::kLz4: {
        if (size > INT_MAX || size == 0) throw Corrupt(i, "bad lz4 size");
        int got =
            LZ4_decompress_safe(reinterpret_cast<const char*>(in), reinterpret_cast<char*>(out),
                                static_cast<int>(size), static_cast<int>(n));
        if (got < 0) throw Corrupt(i, "malformed lz4 data");
        if (static_cast<size_t>(got) != n) {
          throw Corrupt(i, "lz4 data decodes to " + std::to_string(got) + " bytes, expected " +
                               std::to_string(n));
        }
        break;
      }
      case BlockKind::kZero:
        if (size != 0) throw Corrupt(i, "zero block carries bytes");
        std::memset(out, 0, n);
        break;
      default:
        throw Corrupt(i, "unknown block kind " + std::to_string(kinds[i]));
    }
    pos += size;
  }
}

}  // namespace blockferry
