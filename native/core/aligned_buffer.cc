#include "aligned_buffer.h"

#include <cstdlib>
#include <new>

namespace blockferry {

uint8_t* AllocAligned(size_t size, size_t alignment) {
  void* p = nullptr;
  // posix_memalign rejects size 0 on some libcs; one byte keeps it portable.
  if (posix_memalign(&p, alignment, size == 0 ? 1 : size) != 0) {
    throw std::bad_alloc();
  }
  return static_cast<uint8_t*>(p);
}

void FreeAligned(void* p) { std::free(p); }

}  // namespace blockferry
