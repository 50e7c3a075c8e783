#include "digest.h"

#include <xxhash.h>

#include <cstring>

// libxxhash's portable entry points use only the baseline vector unit (SSE2
// on x86-64: about 6 GB/s from memory). Builds of the library that include
// xxHash's x86 dispatcher (Debian's and Ubuntu's do) also export *_dispatch
// variants that pick AVX2 or AVX-512 at run time (about 14 GB/s here). A weak
// reference uses them when present and falls back otherwise.
extern "C" XXH128_hash_t XXH3_128bits_withSeed_dispatch(const void* input, size_t len,
                                                        XXH64_hash_t seed) __attribute__((weak));

namespace blockferry {
namespace {

XXH128_hash_t Hash128(const uint8_t* data, size_t length, uint64_t seed) {
#if defined(__x86_64__)
  if (XXH3_128bits_withSeed_dispatch != nullptr) {
    return XXH3_128bits_withSeed_dispatch(data, length, seed);
  }
#endif
  return XXH3_128bits_withSeed(data, length, seed);
}

void Canonical(const uint8_t* data, size_t length, uint64_t seed, uint8_t* out) {
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, Hash128(data, length, seed));
  std::memcpy(out, canonical.digest, kDigestSize);
}

uint64_t LoadBigEndian(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

void StoreBigEndian(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

}  // namespace

void FoldDigests(uint8_t* acc, const uint8_t* digests, size_t count, uint64_t first_block,
                 uint64_t seed, bool repeat) {
  uint64_t high = LoadBigEndian(acc);
  uint64_t low = LoadBigEndian(acc + 8);
  uint8_t keyed[8 + kDigestSize];
  for (size_t i = 0; i < count; ++i) {
    uint64_t index = first_block + i;
    for (int b = 0; b < 8; ++b) keyed[b] = static_cast<uint8_t>(index >> (8 * b));
    std::memcpy(keyed + 8, repeat ? digests : digests + i * kDigestSize, kDigestSize);
    XXH128_hash_t h = XXH3_128bits_withSeed(keyed, sizeof keyed, seed);
    uint64_t sum = low + h.low64;
    high += h.high64 + (sum < low ? 1 : 0);
    low = sum;
  }
  StoreBigEndian(acc, high);
  StoreBigEndian(acc + 8, low);
}

bool IsAllZero(const uint8_t* data, size_t length) {
  // Real data almost always differs from zero in its first bytes, so the
  // common case costs nothing; zero blocks are scanned in wide strides the
  // compiler vectorises.
  constexpr size_t kStride = 256;
  size_t i = 0;
  for (; i + kStride <= length; i += kStride) {
    uint64_t acc = 0;
    for (size_t j = 0; j < kStride; j += 8) {
      uint64_t word;
      std::memcpy(&word, data + i + j, 8);
      acc |= word;
    }
    if (acc != 0) return false;
  }
  for (; i < length; ++i) {
    if (data[i] != 0) return false;
  }
  return true;
}

void DigestBlocks(const uint8_t* data, size_t length, size_t block_size, uint64_t seed,
                  uint8_t* digests, uint8_t* zero) {
  // Every full zero block has the same digest: hash one once, copy it after.
  uint8_t zero_digest[kDigestSize];
  bool have_zero_digest = false;
  size_t count = BlockCount(length, block_size);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* block = data + i * block_size;
    size_t n = i + 1 < count ? block_size : length - i * block_size;
    bool is_zero = IsAllZero(block, n);
    if (zero != nullptr) zero[i] = is_zero ? 1 : 0;
    if (digests == nullptr) continue;
    uint8_t* out = digests + i * kDigestSize;
    if (is_zero && n == block_size) {
      if (!have_zero_digest) {
        Canonical(block, n, seed, zero_digest);
        have_zero_digest = true;
      }
      std::memcpy(out, zero_digest, kDigestSize);
    } else {
      Canonical(block, n, seed, out);
    }
  }
}

}  // namespace blockferry
