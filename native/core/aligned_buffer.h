// Page-aligned heap memory, as O_DIRECT needs for its buffers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace blockferry {

constexpr size_t kPageAlignment = 4096;

// Returns uninitialised memory (as Buffer.allocUnsafe) aligned to `alignment` (a power of two), or
// throws std::bad_alloc. Free with FreeAligned.
uint8_t* AllocAligned(size_t size, size_t alignment = kPageAlignment);
void FreeAligned(void* p);

inline bool IsAligned(const void* p, size_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

inline uint64_t RoundUp(uint64_t n, uint64_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

}  // namespace blockferry
