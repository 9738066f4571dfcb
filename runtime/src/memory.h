// Size classes of the memory pools and allocation limits (exposed for tests).
#pragma once

#include <cstddef>

namespace tessera::rt {

// Larger requests are refused up front (no size computation may overflow below this).
constexpr size_t kMaxAllocation = size_t{1} << 62;
// A pool created with initial_size 0 reserves at least this much on first use.
constexpr size_t kMinPoolChunk = size_t{1} << 20;

// Blocks are 64-byte multiples: 64, 128, 192, 256, then four classes per power of two
// (320, 384, 448, 512, 640, ...), so a block wastes at most a quarter of its size.
struct SizeClasses {
  static size_t index_of(size_t size);
  static size_t size_of(size_t index);
};

}  // namespace tessera::rt
