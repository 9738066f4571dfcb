// The .npz writer, exposed so that tests can force zip64 records on small archives.
#pragma once

#include <cstdint>

#include "internal.h"

namespace tessera::rt {

// Writes count validated tensors as stored "<name>.npy" members. Sizes and offsets at or
// above zip64_at are written with zip64 records (tessNpzSave passes 0xffffffff).
tessStatus_t write_npz(const char* path, size_t count, const char* const* names, const tessTensor* tensors,
                       uint64_t zip64_at);

}  // namespace tessera::rt
