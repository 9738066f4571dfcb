// Tensors (create, wrap, copy, free, checks) and the f16/bf16 conversions.
#include "tensor.h"

#include <cstddef>
#include <cstring>

#include "memory.h"

static_assert(sizeof(tessDType) == 4, "tessDType must be 4 bytes for the ABI");
static_assert(offsetof(tessTensor, dtype) == 0 && offsetof(tessTensor, rank) == 4);
static_assert(offsetof(tessTensor, shape) == 8 && offsetof(tessTensor, strides) == 72);
static_assert(offsetof(tessTensor, data) == 136 && offsetof(tessTensor, owns) == 144);
static_assert(sizeof(tessTensor) == 152);

namespace tessera::rt {

tessStatus_t validate_tensor(const tessTensor* t, const char* entry, const char* what) {
  if (t == nullptr) return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", entry, what);
  if (!dtype_valid(t->dtype)) {
    return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: %s has invalid dtype %d", entry, what, static_cast<int>(t->dtype));
  }
  if (t->rank < 0 || t->rank > TESS_MAX_RANK) {
    return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: %s has rank %d, expected 0..%d", entry, what, t->rank,
                 TESS_MAX_RANK);
  }
  unsigned __int128 bytes = tessDTypeSize(t->dtype);
  for (int d = 0; d < t->rank; ++d) {
    if (t->shape[d] < 0) {
      return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: %s has negative size %lld in dimension %d", entry, what,
                   static_cast<long long>(t->shape[d]), d);
    }
    bytes *= static_cast<uint64_t>(t->shape[d]);
    if (bytes > kMaxAllocation) bytes = kMaxAllocation + 1;  // saturate; a later 0 resets it
  }
  bool empty = false;
  for (int d = 0; d < t->rank; ++d) empty |= t->shape[d] == 0;
  if (!empty && bytes > kMaxAllocation) {
    return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: %s has more elements than memory can hold", entry, what);
  }
  if (!empty && t->data == nullptr) return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: %s has NULL data", entry, what);
  return TESS_SUCCESS;
}

int64_t numel_of(const tessTensor& t) {
  for (int d = 0; d < t.rank; ++d)
    if (t.shape[d] == 0) return 0;  // before any product that could overflow
  int64_t n = 1;
  for (int d = 0; d < t.rank; ++d) n *= t.shape[d];
  return n;
}

void contiguous_strides(int32_t rank, const int64_t* shape, int64_t* strides) {
  // Unsigned: the strides of an empty tensor with huge other dimensions may wrap, harmlessly
  // since no element is ever addressed.
  uint64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) {
    strides[d] = static_cast<int64_t>(s);
    s *= shape[d] == 0 ? 1 : static_cast<uint64_t>(shape[d]);
  }
}

tessStatus_t make_tensor(tessDType dtype, int32_t rank, const int64_t* shape, bool zero, tessTensor* out,
                         const char* entry) {
  tessTensor t;
  std::memset(&t, 0, sizeof t);
  t.dtype = dtype;
  t.rank = rank;
  if (rank > 0 && rank <= TESS_MAX_RANK && shape != nullptr) std::memcpy(t.shape, shape, sizeof(int64_t) * rank);
  if (rank > 0 && shape == nullptr) return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: shape is NULL", entry);
  // Validate with a placeholder pointer; the real one comes after the size is known good.
  static char placeholder;
  t.data = &placeholder;
  if (tessStatus_t s = validate_tensor(&t, entry, "tensor")) return s;
  contiguous_strides(rank, t.shape, t.strides);
  size_t bytes = static_cast<size_t>(numel_of(t)) * tessDTypeSize(dtype);
  t.data = nullptr;
  if (bytes > 0) {
    t.data = host_alloc(bytes);
    if (t.data == nullptr) return failf(TESS_ERROR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", entry, bytes);
    if (zero) std::memset(t.data, 0, bytes);
  }
  t.owns = 1;
  *out = t;
  return TESS_SUCCESS;
}

void gather_contiguous(const tessTensor& t, void* dst) {
  const size_t size = tessDTypeSize(t.dtype);
  const int64_t n = numel_of(t);
  if (n == 0) return;
  int contiguous = 0;
  tessTensorIsContiguous(&t, &contiguous);
  if (contiguous) {
    std::memcpy(dst, t.data, static_cast<size_t>(n) * size);
    return;
  }
  char* out = static_cast<char*>(dst);
  for_each_element(t, [&](const char* e) {
    std::memcpy(out, e, size);
    out += size;
  });
}

}  // namespace tessera::rt

using namespace tessera::rt;

namespace {

uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Rounds m (with `shift` bits to drop) to nearest, ties to even.
uint64_t round_shift(uint64_t m, int shift) {
  uint64_t r = m >> shift, rem = m & ((uint64_t{1} << shift) - 1), half = uint64_t{1} << (shift - 1);
  return r + (rem > half || (rem == half && (r & 1)) ? 1 : 0);
}

}  // namespace

extern "C" {

size_t tessDTypeSize(tessDType dtype) {
  switch (dtype) {
    case TESS_F64:
    case TESS_I64: return 8;
    case TESS_F32:
    case TESS_I32: return 4;
    case TESS_F16:
    case TESS_BF16:
    case TESS_I16: return 2;
    case TESS_I8:
    case TESS_U8:
    case TESS_BOOL: return 1;
    case TESS_DTYPE_INVALID:
    case TESS_DTYPE_MAX_ENUM: break;
  }
  return 0;
}

const char* tessDTypeName(tessDType dtype) {
  switch (dtype) {
    case TESS_F32: return "f32";
    case TESS_F64: return "f64";
    case TESS_F16: return "f16";
    case TESS_BF16: return "bf16";
    case TESS_I8: return "i8";
    case TESS_I16: return "i16";
    case TESS_I32: return "i32";
    case TESS_I64: return "i64";
    case TESS_U8: return "u8";
    case TESS_BOOL: return "bool";
    case TESS_DTYPE_INVALID:
    case TESS_DTYPE_MAX_ENUM: break;
  }
  return "invalid";
}

tessStatus_t tessTensorCreate(tessDType dtype, int32_t rank, const int64_t* shape, tessTensor* out) {
  return guarded("tessTensorCreate", [&] {
    if (out == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessTensorCreate: out is NULL");
    return make_tensor(dtype, rank, shape, /*zero=*/true, out, "tessTensorCreate");
  });
}

tessStatus_t tessTensorWrap(tessDType dtype, int32_t rank, const int64_t* shape, const int64_t* strides, void* data,
                            tessTensor* out) {
  return guarded("tessTensorWrap", [&] {
    if (out == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessTensorWrap: out is NULL");
    if (rank > 0 && shape == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessTensorWrap: shape is NULL");
    tessTensor t;
    std::memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.rank = rank;
    t.data = data;
    if (rank > 0 && rank <= TESS_MAX_RANK) std::memcpy(t.shape, shape, sizeof(int64_t) * rank);
    if (tessStatus_t s = validate_tensor(&t, "tessTensorWrap", "tensor")) return s;
    if (strides) {
      std::memcpy(t.strides, strides, sizeof(int64_t) * rank);
    } else {
      contiguous_strides(rank, t.shape, t.strides);
    }
    *out = t;
    return TESS_SUCCESS;
  });
}

tessStatus_t tessTensorFree(tessTensor* tensor) {
  return guarded("tessTensorFree", [&] {
    if (tensor == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessTensorFree: tensor is NULL");
    if (tensor->owns && tensor->data != nullptr && !host_free(tensor->data)) {
      return fail(TESS_ERROR_INVALID_ARGUMENT,
                  "tessTensorFree: the tensor claims to own data that the runtime did not allocate (or freed already)");
    }
    std::memset(tensor, 0, sizeof *tensor);
    return TESS_SUCCESS;
  });
}

tessStatus_t tessTensorCopy(const tessTensor* src, tessTensor* out) {
  return guarded("tessTensorCopy", [&] {
    if (tessStatus_t s = validate_tensor(src, "tessTensorCopy", "src")) return s;
    if (out == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessTensorCopy: out is NULL");
    tessTensor t;
    if (tessStatus_t s = make_tensor(src->dtype, src->rank, src->shape, false, &t, "tessTensorCopy")) return s;
    gather_contiguous(*src, t.data);
    *out = t;
    return TESS_SUCCESS;
  });
}

tessStatus_t tessTensorValidate(const tessTensor* tensor) {
  return guarded("tessTensorValidate", [&] { return validate_tensor(tensor, "tessTensorValidate", "tensor"); });
}

tessStatus_t tessTensorNumel(const tessTensor* tensor, int64_t* numel) {
  return guarded("tessTensorNumel", [&] {
    if (tessStatus_t s = validate_tensor(tensor, "tessTensorNumel", "tensor")) return s;
    if (numel == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessTensorNumel: numel is NULL");
    *numel = numel_of(*tensor);
    return TESS_SUCCESS;
  });
}

tessStatus_t tessTensorIsContiguous(const tessTensor* tensor, int* contiguous) {
  return guarded("tessTensorIsContiguous", [&] {
    if (tessStatus_t s = validate_tensor(tensor, "tessTensorIsContiguous", "tensor")) return s;
    if (contiguous == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessTensorIsContiguous: contiguous is NULL");
    // As NumPy's C_CONTIGUOUS flag: empty tensors are contiguous, and the stride of a
    // dimension of size 1 does not matter.
    *contiguous = 1;
    if (numel_of(*tensor) == 0) return TESS_SUCCESS;
    int64_t expected = 1;
    for (int d = tensor->rank - 1; d >= 0; --d) {
      if (tensor->shape[d] == 1) continue;
      if (tensor->strides[d] != expected) {
        *contiguous = 0;
        break;
      }
      expected *= tensor->shape[d];
    }
    return TESS_SUCCESS;
  });
}

uint16_t tessF32ToBF16(float value) {
  uint32_t u = f32_bits(value);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float tessBF16ToF32(uint16_t bits) { return bits_f32(static_cast<uint32_t>(bits) << 16); }

uint16_t tessF32ToF16(float value) {
  uint32_t x = f32_bits(value);
  uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((x >> 13) & 0x3ffu));  // NaN
  if (x >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to infinity
  if (x < 0x38800000u) {                                               // below 2^-14: subnormal or zero
    if (x <= 0x33000000u) return static_cast<uint16_t>(sign);          // <= 2^-25 rounds to zero
    uint32_t m = (x & 0x7fffffu) | 0x800000u;
    int shift = 126 - static_cast<int>(x >> 23);  // value / 2^-24 = m * 2^(e-126)
    return static_cast<uint16_t>(sign | round_shift(m, shift));
  }
  return static_cast<uint16_t>(sign | round_shift(x - 0x38000000u, 13));
}

uint16_t tessF64ToF16(double value) {
  uint64_t x;
  std::memcpy(&x, &value, 8);
  uint32_t sign = static_cast<uint32_t>(x >> 48) & 0x8000u;
  x &= 0x7fffffffffffffffull;
  if (x > 0x7ff0000000000000ull) return static_cast<uint16_t>(sign | 0x7e00u | ((x >> 42) & 0x3ffu));
  if (x >= 0x40effe0000000000ull) return static_cast<uint16_t>(sign | 0x7c00u);
  if (x < 0x3f10000000000000ull) {
    if (x <= 0x3e60000000000000ull) return static_cast<uint16_t>(sign);
    uint64_t m = (x & 0xfffffffffffffull) | (uint64_t{1} << 52);
    int shift = 1051 - static_cast<int>(x >> 52);
    return static_cast<uint16_t>(sign | round_shift(m, shift));
  }
  return static_cast<uint16_t>(sign | round_shift(x - (uint64_t{1008} << 52), 42));
}

float tessF16ToF32(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  uint32_t exp = (bits >> 10) & 0x1fu, mant = bits & 0x3ffu;
  if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return bits_f32(sign);
    // Subnormal: normalize the mantissa.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    return bits_f32(sign | ((112u - e) << 23) | ((mant & 0x3ffu) << 13));
  }
  return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

}  // extern "C"
