// Batched transfers of whole blocks between a volume and memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "volume.h"

namespace blockferry {

// Reads go to the volume in requests of this size (or one block when blocks
// are larger): large enough for full device throughput, small enough that the
// digests are computed while the bytes are still in the CPU cache.
constexpr size_t kIoRequestSize = 4 << 20;

struct ReadResult {
  bool direct = true;    // every request went through O_DIRECT
  uint64_t read_ns = 0;  // time in the reads
  uint64_t hash_ns = 0;  // time digesting and checking for zeros
};

// Reads `length` bytes at `offset` into `buf` (`capacity` bytes, at least
// `length`; see Volume::Read), and in the same pass digests each
// block and flags the all-zero ones (see DigestBlocks). `digests`/`zero` may be
// null to skip that work.
ReadResult ReadBlocks(Volume& volume, uint8_t* buf, size_t capacity, uint64_t offset, size_t length,
                      size_t block_size, uint64_t seed, uint8_t* digests, uint8_t* zero);

struct WriteResult {
  uint64_t bytes_written = 0;                       // bytes sent to the volume as data
  uint64_t bytes_zeroed = 0;                        // bytes turned into holes or zero-outs
  bool direct = true;                               // every data write went through O_DIRECT
  ZeroMethod zero_method = ZeroMethod::kPunchHole;  // of the last zero run
};

// Writes `length` bytes of `buf` at `offset`. When `zero` is given (one flag
// per block of `block_size`), each run of flagged blocks becomes one
// Volume::ZeroRange instead of a write; the bytes of those blocks in `buf` are
// not read.
WriteResult WriteBlocks(Volume& volume, const uint8_t* buf, uint64_t offset, size_t length,
                        size_t block_size, const uint8_t* zero);

}  // namespace blockferry
