// Tests for Philox4x32-10 (Random123 known answers) and the uniform and normal streams.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "tessera/runtime.h"

namespace {

void set_default_threads(int n) {
  tessContext_t ctx = nullptr;
  REQUIRE(tessGetDefaultContext(&ctx) == TESS_SUCCESS);
  REQUIRE(tessSetNumThreads(ctx, n) == TESS_SUCCESS);
}

template <class T>
void moments(const std::vector<T>& v, double* mean, double* var) {
  double s = 0, s2 = 0;
  for (T x : v) s += x;
  *mean = s / v.size();
  for (T x : v) s2 += (x - *mean) * (x - *mean);
  *var = s2 / v.size();
}

}  // namespace

TEST_CASE("philox4x32-10 matches Random123's known-answer vectors") {
  struct Kat {
    uint32_t ctr[4], key[2], out[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    uint32_t out[4];
    tessPhilox4x32_10(k.ctr, k.key, out);
    for (int i = 0; i < 4; ++i) CHECK(out[i] == k.out[i]);
  }
}

TEST_CASE("uniform f32 follows the documented mapping") {
  const uint64_t seed = 0x0123456789abcdefull;
  std::vector<float> u(10);
  REQUIRE(tessRandUniformF32(seed, 5, u.size(), u.data()) == TESS_SUCCESS);
  for (uint64_t k = 0; k < u.size(); ++k) {
    uint64_t i = 5 + k;
    uint32_t ctr[4] = {static_cast<uint32_t>(i / 4), 0, 0, 0}, key[2] = {0x89abcdef, 0x01234567}, w[4];
    tessPhilox4x32_10(ctr, key, w);
    CHECK(u[k] == static_cast<float>(w[i % 4] >> 8) * 0x1.0p-24f);
  }
}

TEST_CASE("uniform f64 and normals follow the documented mapping") {
  const uint64_t seed = 7;
  uint32_t key[2] = {7, 0};
  std::vector<double> u(4), z(4);
  std::vector<float> zf(8);
  REQUIRE(tessRandUniformF64(seed, 0, u.size(), u.data()) == TESS_SUCCESS);
  REQUIRE(tessRandNormalF64(seed, 0, z.size(), z.data()) == TESS_SUCCESS);
  REQUIRE(tessRandNormalF32(seed, 0, zf.size(), zf.data()) == TESS_SUCCESS);
  for (uint64_t i = 0; i < 4; ++i) {
    uint32_t w[4], ctr[4] = {static_cast<uint32_t>(i / 2), 0, 0, 0};
    tessPhilox4x32_10(ctr, key, w);
    unsigned j = 2 * (i % 2);
    uint64_t x = (uint64_t{w[j + 1]} << 32) | w[j];
    CHECK(u[i] == static_cast<double>(x >> 11) * 0x1.0p-53);

    uint32_t n[4], nctr[4] = {static_cast<uint32_t>(i / 2), 0, 1, 0};
    tessPhilox4x32_10(nctr, key, n);
    double u1 = (static_cast<double>(((uint64_t{n[1]} << 32) | n[0]) >> 11) + 1.0) * 0x1.0p-53;
    double u2 = static_cast<double>(((uint64_t{n[3]} << 32) | n[2]) >> 11) * 0x1.0p-53;
    double r = std::sqrt(-2.0 * std::log(u1)), theta = 6.283185307179586476925286766559 * u2;
    CHECK(z[i] == (i % 2 == 0 ? r * std::cos(theta) : r * std::sin(theta)));
  }
  for (uint64_t i = 0; i < 8; ++i) {
    uint32_t n[4], nctr[4] = {static_cast<uint32_t>(i / 4), 0, 1, 0};
    tessPhilox4x32_10(nctr, key, n);
    unsigned pair = 2 * ((i % 4) / 2);
    double u1 = (static_cast<double>(n[pair] >> 8) + 1.0) * 0x1.0p-24;
    double u2 = static_cast<double>(n[pair + 1] >> 8) * 0x1.0p-24;
    double r = std::sqrt(-2.0 * std::log(u1)), theta = 6.283185307179586476925286766559 * u2;
    CHECK(zf[i] == static_cast<float>(i % 2 == 0 ? r * std::cos(theta) : r * std::sin(theta)));
  }
}

TEST_CASE("random numbers do not depend on chunking or thread count") {
  const size_t n = 300000;  // above the parallel threshold
  std::vector<float> one(n), split(n), threaded(n);
  set_default_threads(1);
  REQUIRE(tessRandNormalF32(42, 1000, n, one.data()) == TESS_SUCCESS);
  // Uneven pieces, each continuing at its offset.
  size_t cuts[] = {0, 1, 7, 4096, 70001, n};
  for (size_t c = 0; c + 1 < std::size(cuts); ++c) {
    REQUIRE(tessRandNormalF32(42, 1000 + cuts[c], cuts[c + 1] - cuts[c], split.data() + cuts[c]) == TESS_SUCCESS);
  }
  for (int threads : {2, 3, 8}) {
    set_default_threads(threads);
    REQUIRE(tessRandNormalF32(42, 1000, n, threaded.data()) == TESS_SUCCESS);
    CHECK(std::memcmp(one.data(), threaded.data(), n * sizeof(float)) == 0);
  }
  CHECK(std::memcmp(one.data(), split.data(), n * sizeof(float)) == 0);

  std::vector<double> a(n), b(n);
  set_default_threads(1);
  REQUIRE(tessRandUniformF64(9, 0, n, a.data()) == TESS_SUCCESS);
  set_default_threads(5);
  REQUIRE(tessRandUniformF64(9, 0, n, b.data()) == TESS_SUCCESS);
  CHECK(std::memcmp(a.data(), b.data(), n * sizeof(double)) == 0);
  set_default_threads(4);
}

TEST_CASE("uniform and normal draws have the right moments") {
  const size_t n = 1 << 20;
  double mean, var;
  std::vector<float> f(n);
  REQUIRE(tessRandUniformF32(1, 0, n, f.data()) == TESS_SUCCESS);
  moments(f, &mean, &var);
  CHECK(mean == doctest::Approx(0.5).epsilon(0.005));
  CHECK(var == doctest::Approx(1.0 / 12).epsilon(0.01));
  float lo = 1, hi = 0;
  for (float x : f) lo = std::min(lo, x), hi = std::max(hi, x);
  CHECK(lo >= 0.0f);
  CHECK(hi < 1.0f);

  REQUIRE(tessRandNormalF32(2, 0, n, f.data()) == TESS_SUCCESS);
  moments(f, &mean, &var);
  CHECK(std::fabs(mean) < 0.005);
  CHECK(var == doctest::Approx(1.0).epsilon(0.01));
  size_t beyond3 = 0;
  for (float x : f) beyond3 += std::fabs(x) > 3;
  CHECK(beyond3 == doctest::Approx(n * 0.0027).epsilon(0.15));  // two-sided 3-sigma tail

  std::vector<double> d(n);
  REQUIRE(tessRandUniformF64(3, 0, n, d.data()) == TESS_SUCCESS);
  moments(d, &mean, &var);
  CHECK(mean == doctest::Approx(0.5).epsilon(0.005));
  CHECK(var == doctest::Approx(1.0 / 12).epsilon(0.01));
  REQUIRE(tessRandNormalF64(4, 0, n, d.data()) == TESS_SUCCESS);
  moments(d, &mean, &var);
  CHECK(std::fabs(mean) < 0.005);
  CHECK(var == doctest::Approx(1.0).epsilon(0.01));
  for (double x : d) REQUIRE(std::isfinite(x));
}

TEST_CASE("seeds and streams give different numbers") {
  std::vector<float> a(64), b(64), c(64);
  REQUIRE(tessRandUniformF32(1, 0, 64, a.data()) == TESS_SUCCESS);
  REQUIRE(tessRandUniformF32(2, 0, 64, b.data()) == TESS_SUCCESS);
  REQUIRE(tessRandUniformF32(uint64_t{1} << 32 | 1, 0, 64, c.data()) == TESS_SUCCESS);  // high seed bits count
  CHECK(a != b);
  CHECK(a != c);
  // The counter is 64 bits wide: offsets near 2^64 wrap without trouble.
  REQUIRE(tessRandUniformF32(1, ~uint64_t{0} - 2, 8, a.data()) == TESS_SUCCESS);
  REQUIRE(tessRandUniformF32(1, 0, 5, b.data()) == TESS_SUCCESS);
  for (int i = 0; i < 5; ++i) CHECK(a[3 + i] == b[i]);
}

TEST_CASE("random fills validate their arguments") {
  CHECK(tessRandUniformF32(0, 0, 4, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::strstr(tessGetLastErrorMessage(), "out is NULL") != nullptr);
  CHECK(tessRandNormalF64(0, 0, 1, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessRandUniformF64(0, 0, 0, nullptr) == TESS_SUCCESS);  // nothing to fill
}
