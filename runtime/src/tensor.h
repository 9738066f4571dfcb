// Tensor helpers shared by the I/O and printing code: validation, element walks, creation.
#pragma once

#include <cstdint>
#include <cstring>

#include "internal.h"

namespace tessera::rt {

inline bool dtype_valid(int dtype) { return dtype >= 0 && dtype < TESS_NUM_DTYPES; }

// Checks a tensor as tessTensorValidate documents; `what` names it in the message
// ("tessNpySave: tensor has rank 9 ...").
tessStatus_t validate_tensor(const tessTensor* t, const char* entry, const char* what);

// Element count of a validated tensor.
int64_t numel_of(const tessTensor& t);

// A new contiguous owning tensor; zero-filled only when `zero` is set. Sizes are checked.
tessStatus_t make_tensor(tessDType dtype, int32_t rank, const int64_t* shape, bool zero, tessTensor* out,
                         const char* entry);

// Row-major strides (in elements) for shape.
void contiguous_strides(int32_t rank, const int64_t* shape, int64_t* strides);

// Calls fn(const char* element_bytes) for every element of a validated tensor with at
// least one element, in row-major order.
template <class F>
void for_each_element(const tessTensor& t, F&& fn) {
  const size_t size = tessDTypeSize(t.dtype);
  const char* base = static_cast<const char*>(t.data);
  if (t.rank == 0) {
    fn(base);
    return;
  }
  int64_t index[TESS_MAX_RANK] = {};
  const int last = t.rank - 1;
  const int64_t inner = t.shape[last], inner_stride = t.strides[last] * static_cast<int64_t>(size);
  for (;;) {
    const char* row = base;
    for (int d = 0; d < last; ++d) row += index[d] * t.strides[d] * static_cast<int64_t>(size);
    for (int64_t j = 0; j < inner; ++j) fn(row + j * inner_stride);
    int d = last - 1;
    while (d >= 0 && ++index[d] == t.shape[d]) index[d--] = 0;
    if (d < 0) return;
  }
}

// Copies a validated tensor's elements in row-major order to dst (numel * size bytes).
void gather_contiguous(const tessTensor& t, void* dst);

}  // namespace tessera::rt
