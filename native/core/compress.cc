#include "compress.h"

#include <lz4.h>

#include <algorithm>
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

namespace {

// Reads a payload that arrives as several slices, in order.
class SliceReader {
 public:
  SliceReader(const Slice* slices, size_t count) : slices_(slices), count_(count) {
    for (size_t i = 0; i < count; ++i) left_ += slices[i].length;
  }
  size_t left() const { return left_; }

  // Copies the next n bytes to out.
  void CopyTo(uint8_t* out, size_t n) {
    while (n > 0) {
      const Slice& s = Current();
      size_t take = std::min(n, s.length - at_);
      std::memcpy(out, s.data + at_, take);
      Advance(take);
      out += take;
      n -= take;
    }
  }

  // The next n bytes in one piece: inside a slice where they lie in one, else gathered into
  // `scratch`.
  const uint8_t* Contiguous(size_t n, std::vector<uint8_t>& scratch) {
    if (n == 0) return nullptr;
    const Slice& s = Current();
    if (s.length - at_ >= n) {
      const uint8_t* p = s.data + at_;
      Advance(n);
      return p;
    }
    scratch.resize(n);
    CopyTo(scratch.data(), n);
    return scratch.data();
  }

 private:
  const Slice& Current() {
    while (at_ == slices_[index_].length) {
      ++index_;
      at_ = 0;
    }
    return slices_[index_];
  }
  void Advance(size_t n) {
    at_ += n;
    left_ -= n;
  }

  const Slice* slices_;
  size_t count_;
  size_t index_ = 0;
  size_t at_ = 0;
  size_t left_ = 0;
};

bool Overlaps(const Slice& s, const uint8_t* dst, size_t dst_length) {
  return s.length > 0 && s.data < dst + dst_length && dst < s.data + s.length;
}

void DecodeUnit(SliceReader& in, size_t i, BlockKind kind, size_t size, uint8_t* out, size_t n,
                std::vector<uint8_t>& scratch) {
  switch (kind) {
    case BlockKind::kRaw:
      if (size != n) throw Corrupt(i, "raw size differs from block length");
      in.CopyTo(out, n);
      break;
    case BlockKind::kLz4: {
      if (size > INT_MAX || size == 0) throw Corrupt(i, "bad lz4 size");
      const uint8_t* packed = in.Contiguous(size, scratch);
      int got =
          LZ4_decompress_safe(reinterpret_cast<const char*>(packed), reinterpret_cast<char*>(out),
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
      throw Corrupt(i, "unknown block kind " + std::to_string(static_cast<int>(kind)));
  }
}

}  // namespace

void DecodeUnits(const Slice* src, size_t slices, const uint32_t* sizes, const uint8_t* kinds,
                 size_t count, uint8_t* dst, size_t dst_length, size_t unit,
                 const uint32_t* offsets) {
  for (size_t s = 0; s < slices; ++s) {
    if (Overlaps(src[s], dst, dst_length)) {
      throw IoError(ErrorKind::kInvalid, "decode", 0, -1, "source and destination overlap");
    }
  }
  SliceReader in(src, slices);
  std::vector<uint8_t> scratch;
  size_t next_free = 0;  // offsets must increase: no unit is written twice
  for (size_t i = 0; i < count; ++i) {
    size_t offset = offsets != nullptr ? offsets[i] : i * unit;
    if (offset >= dst_length || offset < next_free)
      throw Corrupt(i, "unit outside the destination");
    size_t n = std::min(unit, dst_length - offset);
    next_free = offset + n;
    if (sizes[i] > in.left()) throw Corrupt(i, "size runs past the input");
    DecodeUnit(in, i, static_cast<BlockKind>(kinds[i]), sizes[i], dst + offset, n, scratch);
  }
  if (in.left() != 0) throw Corrupt(count, "input left over after the last unit");
}

void DecodeBlocks(const uint8_t* src, size_t src_length, const uint32_t* sizes,
                  const uint8_t* kinds, uint8_t* dst, size_t dst_length, size_t block_size) {
  Slice one{src, src_length};
  size_t count = BlockCount(dst_length, block_size);
  // The input may hold more than the blocks take (the caller's buffer): only what they take is
  // read.
  size_t used = 0;
  for (size_t i = 0; i < count; ++i) used += sizes[i];
  if (used > src_length) throw Corrupt(0, "size runs past the input");
  one.length = used;
  DecodeUnits(&one, 1, sizes, kinds, count, dst, dst_length, block_size, nullptr);
}

}  // namespace blockferry
