// Tests for tensors (create, wrap, copy, checks) and the f16/bf16 conversions.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tessera/runtime.h"

namespace {
uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

TEST_CASE("dtype sizes and names") {
  CHECK(tessDTypeSize(TESS_F32) == 4);
  CHECK(tessDTypeSize(TESS_F64) == 8);
  CHECK(tessDTypeSize(TESS_F16) == 2);
  CHECK(tessDTypeSize(TESS_BF16) == 2);
  CHECK(tessDTypeSize(TESS_I8) == 1);
  CHECK(tessDTypeSize(TESS_I16) == 2);
  CHECK(tessDTypeSize(TESS_I32) == 4);
  CHECK(tessDTypeSize(TESS_I64) == 8);
  CHECK(tessDTypeSize(TESS_U8) == 1);
  CHECK(tessDTypeSize(TESS_BOOL) == 1);
  CHECK(tessDTypeSize(static_cast<tessDType>(99)) == 0);
  CHECK(std::string(tessDTypeName(TESS_BF16)) == "bf16");
  CHECK(std::string(tessDTypeName(static_cast<tessDType>(-1))) == "invalid");
}

TEST_CASE("created tensors are zeroed, contiguous and owned") {
  int64_t shape[] = {2, 3, 4};
  tessTensor t;
  REQUIRE(tessTensorCreate(TESS_F32, 3, shape, &t) == TESS_SUCCESS);
  CHECK(t.rank == 3);
  CHECK(t.owns == 1);
  CHECK(t.strides[0] == 12);
  CHECK(t.strides[1] == 4);
  CHECK(t.strides[2] == 1);
  CHECK(reinterpret_cast<uintptr_t>(t.data) % 64 == 0);
  int64_t n = 0;
  REQUIRE(tessTensorNumel(&t, &n) == TESS_SUCCESS);
  CHECK(n == 24);
  for (int64_t i = 0; i < n; ++i) CHECK(static_cast<float*>(t.data)[i] == 0.0f);
  int c = 0;
  REQUIRE(tessTensorIsContiguous(&t, &c) == TESS_SUCCESS);
  CHECK(c == 1);
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);
  CHECK(t.data == nullptr);
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);  // a zeroed struct is fine

  tessTensor s;
  REQUIRE(tessTensorCreate(TESS_I64, 0, nullptr, &s) == TESS_SUCCESS);  // a scalar
  REQUIRE(tessTensorNumel(&s, &n) == TESS_SUCCESS);
  CHECK(n == 1);
  CHECK(tessTensorFree(&s) == TESS_SUCCESS);

  int64_t empty[] = {3, 0};
  REQUIRE(tessTensorCreate(TESS_F64, 2, empty, &s) == TESS_SUCCESS);
  CHECK(s.data == nullptr);
  REQUIRE(tessTensorNumel(&s, &n) == TESS_SUCCESS);
  CHECK(n == 0);
  CHECK(tessTensorFree(&s) == TESS_SUCCESS);
}

TEST_CASE("tensor creation rejects bad arguments") {
  tessTensor t;
  int64_t shape[] = {2, -1};
  CHECK(tessTensorCreate(TESS_F32, 2, shape, &t) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()) == "tessTensorCreate: tensor has negative size -1 in dimension 1");
  CHECK(tessTensorCreate(static_cast<tessDType>(10), 1, shape, &t) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessTensorCreate(TESS_F32, 9, shape, &t) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessTensorCreate(TESS_F32, -1, shape, &t) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessTensorCreate(TESS_F32, 2, nullptr, &t) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessTensorCreate(TESS_F32, 2, shape, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  int64_t huge[] = {int64_t{1} << 40, int64_t{1} << 40};
  CHECK(tessTensorCreate(TESS_F32, 2, huge, &t) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()).find("more elements than memory can hold") != std::string::npos);
  // An empty dimension makes any other size harmless.
  int64_t empty_huge[] = {int64_t{1} << 62, 0, int64_t{1} << 62};
  REQUIRE(tessTensorCreate(TESS_F32, 3, empty_huge, &t) == TESS_SUCCESS);
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);
  CHECK(tessTensorFree(nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  int local = 0;
  tessTensor liar;
  std::memset(&liar, 0, sizeof liar);
  liar.data = &local;
  liar.owns = 1;
  CHECK(tessTensorFree(&liar) == TESS_ERROR_INVALID_ARGUMENT);
}

TEST_CASE("wrapped strided views and contiguous copies") {
  std::vector<float> data = {0, 1, 2, 3, 4, 5};  // 2x3 row-major
  int64_t shape[] = {3, 2}, strides[] = {1, 3};  // its transpose
  tessTensor view;
  REQUIRE(tessTensorWrap(TESS_F32, 2, shape, strides, data.data(), &view) == TESS_SUCCESS);
  CHECK(view.owns == 0);
  int c = 1;
  REQUIRE(tessTensorIsContiguous(&view, &c) == TESS_SUCCESS);
  CHECK(c == 0);
  tessTensor copy;
  REQUIRE(tessTensorCopy(&view, &copy) == TESS_SUCCESS);
  const float* p = static_cast<const float*>(copy.data);
  std::vector<float> got(p, p + 6);
  CHECK(got == std::vector<float>{0, 3, 1, 4, 2, 5});
  REQUIRE(tessTensorIsContiguous(&copy, &c) == TESS_SUCCESS);
  CHECK(c == 1);
  CHECK(tessTensorFree(&copy) == TESS_SUCCESS);
  CHECK(tessTensorFree(&view) == TESS_SUCCESS);  // does not free data
  CHECK(data[5] == 5);

  // Size-1 dimensions do not break contiguity, whatever their stride.
  int64_t shape1[] = {1, 6}, strides1[] = {100, 1};
  REQUIRE(tessTensorWrap(TESS_F32, 2, shape1, strides1, data.data(), &view) == TESS_SUCCESS);
  REQUIRE(tessTensorIsContiguous(&view, &c) == TESS_SUCCESS);
  CHECK(c == 1);
  // Negative strides walk backwards.
  int64_t shape2[] = {6}, strides2[] = {-1};
  REQUIRE(tessTensorWrap(TESS_F32, 1, shape2, strides2, data.data() + 5, &view) == TESS_SUCCESS);
  REQUIRE(tessTensorCopy(&view, &copy) == TESS_SUCCESS);
  CHECK(static_cast<float*>(copy.data)[0] == 5);
  CHECK(static_cast<float*>(copy.data)[5] == 0);
  CHECK(tessTensorFree(&copy) == TESS_SUCCESS);

  CHECK(tessTensorWrap(TESS_F32, 1, shape2, nullptr, nullptr, &view) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()) == "tessTensorWrap: tensor has NULL data");
  tessTensor bad = view;
  bad.rank = 12;
  CHECK(tessTensorValidate(&bad) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessTensorValidate(&view) == TESS_SUCCESS);
}

TEST_CASE("bf16 conversion rounds to nearest even") {
  CHECK(tessF32ToBF16(1.0f) == 0x3f80);
  CHECK(tessF32ToBF16(-2.0f) == 0xc000);
  CHECK(tessF32ToBF16(from_bits(0x3f808000)) == 0x3f80);  // tie, even stays
  CHECK(tessF32ToBF16(from_bits(0x3f818000)) == 0x3f82);  // tie, odd rounds up
  CHECK(tessF32ToBF16(from_bits(0x3f808001)) == 0x3f81);
  CHECK(tessF32ToBF16(from_bits(0x7f7fffff)) == 0x7f80);  // overflow to infinity
  CHECK(tessF32ToBF16(std::numeric_limits<float>::infinity()) == 0x7f80);
  uint16_t nan = tessF32ToBF16(from_bits(0x7f800001));  // signalling NaN with low payload
  CHECK(std::isnan(tessBF16ToF32(nan)));
  CHECK(std::isnan(tessBF16ToF32(tessF32ToBF16(-std::numeric_limits<float>::quiet_NaN()))));
  CHECK(bits(tessBF16ToF32(0x3fc0)) == 0x3fc00000);
  for (uint32_t b = 0; b < 0x10000; ++b) {
    float f = tessBF16ToF32(static_cast<uint16_t>(b));
    if (!std::isnan(f)) REQUIRE(tessF32ToBF16(f) == b);
  }
}

TEST_CASE("f16 conversion rounds to nearest even, with subnormals and overflow") {
  CHECK(tessF32ToF16(1.0f) == 0x3c00);
  CHECK(tessF32ToF16(-2.0f) == 0xc000);
  CHECK(tessF32ToF16(65504.0f) == 0x7bff);
  CHECK(tessF32ToF16(65519.0f) == 0x7bff);
  CHECK(tessF32ToF16(65520.0f) == 0x7c00);                // tie with the next power of two: infinity
  CHECK(tessF32ToF16(2049.0f) == tessF32ToF16(2048.0f));  // tie, even
  CHECK(tessF32ToF16(2051.0f) == tessF32ToF16(2052.0f));  // tie, odd rounds up
  CHECK(tessF32ToF16(std::ldexp(1.0f, -24)) == 0x0001);   // smallest subnormal
  CHECK(tessF32ToF16(std::ldexp(1.0f, -25)) == 0x0000);   // tie with zero: even
  CHECK(tessF32ToF16(std::ldexp(1.5f, -25)) == 0x0001);
  CHECK(tessF32ToF16(std::ldexp(1.0f, -14)) == 0x0400);     // smallest normal
  CHECK(tessF32ToF16(std::ldexp(1023.5f, -24)) == 0x0400);  // rounds up into the normals
  CHECK(tessF32ToF16(-0.0f) == 0x8000);
  CHECK(std::isnan(tessF16ToF32(tessF32ToF16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(tessF16ToF32(0x7c00) == std::numeric_limits<float>::infinity());
  for (uint32_t b = 0; b < 0x10000; ++b) {
    float f = tessF16ToF32(static_cast<uint16_t>(b));
    if (std::isnan(f)) continue;
    REQUIRE(tessF32ToF16(f) == b);
    REQUIRE(tessF64ToF16(f) == b);
  }
  // f64 -> f16 rounds once: just above a tie rounds up, where going through f32 would not.
  double above_tie = 2049.0 + std::ldexp(1.0, -30);
  CHECK(tessF64ToF16(above_tie) == tessF32ToF16(2050.0f));
  CHECK(tessF32ToF16(static_cast<float>(above_tie)) == tessF32ToF16(2048.0f));
  CHECK(tessF64ToF16(1e300) == 0x7c00);
  CHECK(tessF64ToF16(-1e-300) == 0x8000);
}
