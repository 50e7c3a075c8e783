// lz4 block compression of a batch, and its bounded decoding.
#pragma once

#include <cstddef>
#include <cstdint>

namespace blockferry {

// A block is sent compressed only when lz4 saves at least 1/16 of it; below
// that the receiver's decode and the sender's CPU cost more than they save.
constexpr size_t kMinSavingShift = 4;

// Room CompressBlocks needs in `dst` for `length` bytes in blocks.
size_t CompressCapacity(size_t length, size_t block_size);

// Compresses each block of `src` into `dst`, packed one after another. sizes[i]
// is the compressed size of block i, or 0 when the block is kept raw because
// it did not shrink enough. Returns the bytes used in `dst`.
size_t CompressBlocks(const uint8_t* src, size_t length, size_t block_size, uint8_t* dst,
                      size_t dst_capacity, uint32_t* sizes);

// How a received block is encoded.
enum class BlockKind : uint8_t { kRaw = 0, kLz4 = 1, kZero = 2 };

// A run of input bytes: a message's payload arrives as the network's chunks.
struct Slice {
  const uint8_t* data;
  size_t length;
};

// Decodes `count` units (blocks, or the pieces of a two-level comparison)
// from `src`, read in order across its slices, into `dst`: unit i takes
// sizes[i] bytes encoded as kinds[i] (kZero units take none) and goes at
// offsets[i], or at i * unit when `offsets` is null, filling
// min(unit, dst_length - offset) bytes. Raw units are copied straight from the
// slices, so each byte is copied once; an lz4 unit split across slices is
// gathered first. Untrusted input: every size is checked against the input
// left and the room in dst, offsets must increase and stay inside dst, the
// input must be used up exactly, and an lz4 unit must decode to exactly its
// length; anything else throws IoError(kCorrupt) naming the unit. Never
// writes outside dst.
void DecodeUnits(const Slice* src, size_t slices, const uint32_t* sizes, const uint8_t* kinds,
                 size_t count, uint8_t* dst, size_t dst_length, size_t unit,
                 const uint32_t* offsets);

// DecodeUnits of one contiguous input into whole blocks of `block_size` (the
// last may be shorter), as many as fit in dst_length.
void DecodeBlocks(const uint8_t* src, size_t src_length, const uint32_t* sizes,
                  const uint8_t* kinds, uint8_t* dst, size_t dst_length, size_t block_size);

}  // namespace blockferry
