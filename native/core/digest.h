// Per-block digests (XXH3-128, seeded) and all-zero detection.
#pragma once

#include <cstddef>
#include <cstdint>

namespace blockferry {

constexpr size_t kDigestSize = 16;  // canonical (big-endian) XXH128

inline size_t BlockCount(size_t length, size_t block_size) {
  return (length + block_size - 1) / block_size;
}

bool IsAllZero(const uint8_t* data, size_t length);

// Cuts `data` into blocks of `block_size` bytes (the last may be shorter) and
// writes, for block i, its digest at digests[16 * i] and 1 or 0 at zero[i]
// for an all-zero block or not. Either output may be null.
void DigestBlocks(const uint8_t* data, size_t length, size_t block_size, uint64_t seed,
                  uint8_t* digests, uint8_t* zero);

}  // namespace blockferry
