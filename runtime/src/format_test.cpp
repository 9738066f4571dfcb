// Tests for print formatting. The expected strings are NumPy 1.24's str() of the same arrays;
// tests/numpy_check.py compares many more against NumPy itself.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tessera/runtime.h"

namespace {

template <class T>
std::string format(tessDType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  tessTensor t;
  REQUIRE(tessTensorWrap(dtype, static_cast<int32_t>(shape.size()), shape.data(), nullptr,
                         const_cast<T*>(values.data()), &t) == TESS_SUCCESS);
  size_t needed = 0;
  REQUIRE(tessFormatTensor(&t, nullptr, 0, &needed) == TESS_SUCCESS);
  std::string out(needed + 1, '\0');
  REQUIRE(tessFormatTensor(&t, out.data(), out.size(), nullptr) == TESS_SUCCESS);
  out.resize(needed);
  return out;
}

std::string f64(double v) {
  char buf[64];
  REQUIRE(tessFormatF64(v, buf, sizeof buf, nullptr) == TESS_SUCCESS);
  return buf;
}

std::string f32(float v) {
  char buf[64];
  REQUIRE(tessFormatF32(v, buf, sizeof buf, nullptr) == TESS_SUCCESS);
  return buf;
}

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

}  // namespace

TEST_CASE("scalars print like Python's repr and NumPy's scalar str") {
  CHECK(f64(1.375) == "1.375");
  CHECK(f64(0.1) == "0.1");
  CHECK(f64(1.0) == "1.0");
  CHECK(f64(1e-05) == "1e-05");
  CHECK(f64(0.0001) == "0.0001");
  CHECK(f64(1.5e-05) == "1.5e-05");
  CHECK(f64(1e16) == "1e+16");
  CHECK(f64(1e15) == "1000000000000000.0");
  CHECK(f64(0.1 + 0.2) == "0.30000000000000004");
  CHECK(f64(kInf) == "inf");
  CHECK(f64(-kInf) == "-inf");
  CHECK(f64(kNan) == "nan");
  CHECK(f64(-0.0) == "-0.0");
  CHECK(f64(1e300) == "1e+300");
  CHECK(f64(5e-324) == "5e-324");
  CHECK(f64(123456.789) == "123456.789");
  CHECK(f32(0.1f) == "0.1");
  CHECK(f32(1e-4f) == "1e-04");  // the float is just below 1e-4
  CHECK(f32(1.0f / 3) == "0.33333334");
  CHECK(f32(16777216.0f) == "16777216.0");
  CHECK(f32(3.4028235e38f) == "3.4028235e+38");
}

TEST_CASE("rank-0 tensors print as scalars") {
  CHECK(format<float>(TESS_F32, {}, {2.5f}) == "2.5");
  CHECK(format<double>(TESS_F64, {}, {1e-7}) == "1e-07");
  CHECK(format<int32_t>(TESS_I32, {}, {-42}) == "-42");
  CHECK(format<uint8_t>(TESS_BOOL, {}, {1}) == "True");
  CHECK(format<uint8_t>(TESS_BOOL, {}, {0}) == "False");
  CHECK(format<uint16_t>(TESS_F16, {}, {tessF32ToF16(0.1f)}) == "0.1");  // shortest among f16 values
  CHECK(format<uint16_t>(TESS_BF16, {}, {tessF32ToBF16(0.1f)}) == "0.1");
  CHECK(format<uint16_t>(TESS_F16, {}, {0x7bff}) == "65500.0");
}

TEST_CASE("float arrays print like NumPy") {
  CHECK(format<double>(TESS_F64, {3}, {1.5, 2, 3}) == "[1.5 2.  3. ]");
  CHECK(format<double>(TESS_F64, {2}, {1e-5, 1.0}) == "[1.e-05 1.e+00]");
  CHECK(format<float>(TESS_F32, {2}, {1.5e-5f, 1.0f}) == "[1.5e-05 1.0e+00]");
  CHECK(format<float>(TESS_F32, {2, 2}, {1, 2, 3, 4}) == "[[1. 2.]\n [3. 4.]]");
  CHECK(format<double>(TESS_F64, {3}, {kNan, 1.0, -kInf}) == "[ nan   1. -inf]");
  CHECK(format<double>(TESS_F64, {2}, {-0.0, 1.5}) == "[-0.   1.5]");
  CHECK(format<double>(TESS_F64, {1}, {0.1 + 0.2}) == "[0.3]");
  CHECK(format<float>(TESS_F32, {1}, {1e-4f}) == "[1.e-04]");
  CHECK(format<float>(TESS_F32, {1}, {1.0f / 3}) == "[0.33333334]");
  CHECK(format<double>(TESS_F64, {1}, {kNan}) == "[nan]");
  CHECK(format<double>(TESS_F64, {2}, {kInf, 1e-5}) == "[   inf 1.e-05]");
  CHECK(format<double>(TESS_F64, {0, 3}, {}) == "[]");
  std::vector<double> r(30);
  for (int i = 0; i < 30; ++i) r[i] = i;
  CHECK(format<double>(TESS_F64, {30}, r) ==
        "[ 0.  1.  2.  3.  4.  5.  6.  7.  8.  9. 10. 11. 12. 13. 14. 15. 16. 17.\n"
        " 18. 19. 20. 21. 22. 23. 24. 25. 26. 27. 28. 29.]");
}

TEST_CASE("large arrays are summarized with ...") {
  std::vector<double> r(2000);
  for (int i = 0; i < 2000; ++i) r[i] = i;
  CHECK(format<double>(TESS_F64, {2, 1000}, r) ==
        "[[0.000e+00 1.000e+00 2.000e+00 ... 9.970e+02 9.980e+02 9.990e+02]\n"
        " [1.000e+03 1.001e+03 1.002e+03 ... 1.997e+03 1.998e+03 1.999e+03]]");
  std::vector<int64_t> big(1001);
  for (int i = 0; i < 1001; ++i) big[i] = i;
  CHECK(format<int64_t>(TESS_I64, {1001}, big) == "[   0    1    2 ...  998  999 1000]");
}

TEST_CASE("integer and bool arrays print like NumPy") {
  CHECK(format<int64_t>(TESS_I64, {3}, {1, -10, 100}) == "[  1 -10 100]");
  CHECK(format<uint8_t>(TESS_BOOL, {2}, {1, 0}) == "[ True False]");
  CHECK(format<uint8_t>(TESS_U8, {2}, {255, 0}) == "[255   0]");
  CHECK(format<int8_t>(TESS_I8, {2}, {-128, 7}) == "[-128    7]");
  std::vector<int32_t> r(24);
  for (int i = 0; i < 24; ++i) r[i] = i;
  CHECK(format<int32_t>(TESS_I32, {2, 3, 4}, r) ==
        "[[[ 0  1  2  3]\n  [ 4  5  6  7]\n  [ 8  9 10 11]]\n\n [[12 13 14 15]\n  [16 17 18 19]\n  [20 21 22 23]]]");
}

TEST_CASE("strided views print in logical order") {
  std::vector<float> data = {0, 1, 2, 3, 4, 5};
  int64_t shape[] = {3, 2}, strides[] = {1, 3};
  tessTensor t;
  REQUIRE(tessTensorWrap(TESS_F32, 2, shape, strides, data.data(), &t) == TESS_SUCCESS);
  char buf[64];
  REQUIRE(tessFormatTensor(&t, buf, sizeof buf, nullptr) == TESS_SUCCESS);
  CHECK(std::string(buf) == "[[0. 3.]\n [1. 4.]\n [2. 5.]]");
}

TEST_CASE("print joins values with one space and ends the line") {
  float data[] = {1.5f, 2, 3};
  int64_t shape[] = {3}, dims[] = {784, 256}, one[] = {5};
  tessTensor t, s;
  REQUIRE(tessTensorWrap(TESS_F32, 1, shape, nullptr, data, &t) == TESS_SUCCESS);
  REQUIRE(tessTensorWrap(TESS_F32, 0, nullptr, nullptr, data, &s) == TESS_SUCCESS);
  tessValue values[] = {
      {TESS_VALUE_STR, 0, 0, 0, "loss:"},   {TESS_VALUE_TENSOR, 0, 0, 0, &s},      {TESS_VALUE_TENSOR, 0, 0, 0, &t},
      {TESS_VALUE_SHAPE, 2, 0, 0, dims},    {TESS_VALUE_SHAPE, 1, 0, 0, one},      {TESS_VALUE_SHAPE, 0, 0, 0, nullptr},
      {TESS_VALUE_BOOL, 0, 1, 0, nullptr},  {TESS_VALUE_BOOL, 0, 0, 0, nullptr},   {TESS_VALUE_I64, 0, -7, 0, nullptr},
      {TESS_VALUE_F64, 0, 0, 0.1, nullptr}, {TESS_VALUE_F32, 0, 0, 0.1f, nullptr}, {TESS_VALUE_NONE, 0, 0, 0, nullptr},
  };
  char buf[256];
  size_t needed = 0;
  REQUIRE(tessFormatValues(values, std::size(values), buf, sizeof buf, &needed) == TESS_SUCCESS);
  CHECK(std::string(buf) == "loss: 1.5 [1.5 2.  3. ] (784, 256) (5,) () True False -7 0.1 0.1 None\n");
  CHECK(needed == std::strlen(buf));
  REQUIRE(tessFormatValues(nullptr, 0, buf, sizeof buf, nullptr) == TESS_SUCCESS);
  CHECK(std::string(buf) == "\n");  // print()

  tessValue bad_kind = {42, 0, 0, 0, nullptr};
  CHECK(tessFormatValues(&bad_kind, 1, buf, sizeof buf, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  tessValue bad_shape = {TESS_VALUE_SHAPE, 3, 0, 0, nullptr};
  CHECK(tessFormatValues(&bad_shape, 1, buf, sizeof buf, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  tessValue null_tensor = {TESS_VALUE_TENSOR, 0, 0, 0, nullptr};
  CHECK(tessFormatValues(&null_tensor, 1, buf, sizeof buf, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()) == "tessFormatValues: value 0 is NULL");
}

TEST_CASE("format buffers follow the documented convention") {
  int64_t dims[] = {784, 256};
  size_t needed = 0;
  CHECK(tessFormatShape(2, dims, nullptr, 0, &needed) == TESS_SUCCESS);
  CHECK(needed == 10);
  char small[4];
  CHECK(tessFormatShape(2, dims, small, sizeof small, &needed) == TESS_ERROR_BUFFER_TOO_SMALL);
  CHECK(std::string(small) == "(78");
  CHECK(needed == 10);
  char exact[11];
  CHECK(tessFormatShape(2, dims, exact, sizeof exact, nullptr) == TESS_SUCCESS);
  CHECK(std::string(exact) == "(784, 256)");
  CHECK(tessFormatShape(2, dims, nullptr, 5, &needed) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessFormatShape(9, dims, exact, sizeof exact, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessFormatShape(1, nullptr, exact, sizeof exact, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessFormatTensor(nullptr, exact, sizeof exact, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
}
