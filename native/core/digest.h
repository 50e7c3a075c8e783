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

// Whole-volume fingerprint. Block i with digest d contributes
// XXH3-128(i as 8 little-endian bytes || d, seed); the fingerprint is the sum
// of all contributions modulo 2^128. A sum does not depend on the order blocks
// were written in, and its state is 16 bytes, so an interrupted copy can carry
// it over. `acc` is the running sum, 16 bytes big-endian, updated in place.
// With `repeat`, the single digest at `digests` stands for all `count` blocks
// (a run of zero blocks).
void FoldDigests(uint8_t* acc, const uint8_t* digests, size_t count, uint64_t first_block,
                 uint64_t seed, bool repeat);

}  // namespace blockferry
