// The conversion helpers of float_builtins.cpp against an independent decoding of every bf16 and
// f16 bit pattern: exact widening, round trips, and round-to-nearest-even at each midpoint
// (from f32 and, in one rounding, from f64).
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tessera/codegen_abi.h"

extern "C" {
__bf16 __truncsfbf2(float);
__bf16 __truncdfbf2(double);
float __extendbfsf2(__bf16);
_Float16 __truncsfhf2(float);
_Float16 __truncdfhf2(double);
float __extendhfsf2(_Float16);
double __extendhfdf2(_Float16);
uint16_t __gnu_f2h_ieee(float);
float __gnu_h2f_ieee(uint16_t);
}

namespace {

template <typename To, typename From>
To bits_as(From from) {
  return std::bit_cast<To>(from);
}

// The value of a 16-bit pattern with `exp_bits` exponent and `man_bits` mantissa bits, decoded
// from the definition (not from the code under test).
double decode(uint16_t h, int exp_bits, int man_bits) {
  int bias = (1 << (exp_bits - 1)) - 1;
  int e = (h >> man_bits) & ((1 << exp_bits) - 1);
  int m = h & ((1 << man_bits) - 1);
  double sign = (h >> (exp_bits + man_bits)) ? -1.0 : 1.0;
  if (e == (1 << exp_bits) - 1) return m ? NAN : sign * INFINITY;
  if (e == 0) return sign * std::ldexp(m, 1 - bias - man_bits);
  return sign * std::ldexp(m + (1 << man_bits), e - bias - man_bits);
}

struct Format {
  const char* name;
  int exp_bits, man_bits;
  uint16_t (*from_f32)(float);
  uint16_t (*from_f64)(double);
  double (*widen)(uint16_t);
};

const Format kFormats[] = {
    {"bf16", 8, 7, [](float x) { return bits_as<uint16_t>(__truncsfbf2(x)); },
     [](double x) { return bits_as<uint16_t>(__truncdfbf2(x)); },
     [](uint16_t h) { return static_cast<double>(__extendbfsf2(bits_as<__bf16>(h))); }},
    {"f16", 5, 10, [](float x) { return bits_as<uint16_t>(__truncsfhf2(x)); },
     [](double x) { return bits_as<uint16_t>(__truncdfhf2(x)); },
     [](uint16_t h) { return __extendhfdf2(bits_as<_Float16>(h)); }},
};

bool is_nan_bits(uint16_t h, const Format& f) {
  uint16_t exp_mask = static_cast<uint16_t>(((1 << f.exp_bits) - 1) << f.man_bits);
  return (h & exp_mask) == exp_mask && (h & ((1 << f.man_bits) - 1));
}

}  // namespace

TEST_CASE("float builtins: every bf16 and f16 value widens exactly and rounds back to itself") {
  for (const Format& f : kFormats) {
    CAPTURE(f.name);
    for (uint32_t h = 0; h < 0x10000; ++h) {
      uint16_t bits = static_cast<uint16_t>(h);
      double expected = decode(bits, f.exp_bits, f.man_bits);
      double wide = f.widen(bits);
      if (std::isnan(expected)) {
        CHECK(std::isnan(wide));
        CHECK(is_nan_bits(f.from_f32(static_cast<float>(wide)), f));
        CHECK(is_nan_bits(f.from_f64(wide), f));
        continue;
      }
      if (wide != expected || std::signbit(wide) != std::signbit(expected)) {
        FAIL("widening " << h << " gave " << wide << ", expected " << expected);
      }
      if (f.from_f64(expected) != bits || f.from_f32(static_cast<float>(expected)) != bits) {
        FAIL("round trip of " << h << " failed");
      }
    }
  }
  CHECK(__gnu_h2f_ieee(0x3c00) == 1.0f);
  CHECK(__gnu_f2h_ieee(1.0f) == 0x3c00);
  CHECK(__extendhfsf2(bits_as<_Float16>(uint16_t{0xc000})) == -2.0f);
}

TEST_CASE("float builtins: midpoints round to even, values beside them to the nearer neighbour") {
  for (const Format& f : kFormats) {
    CAPTURE(f.name);
    uint16_t max_finite = static_cast<uint16_t>((((1 << f.exp_bits) - 1) << f.man_bits) - 1);
    for (uint16_t lo = 0; lo < max_finite; ++lo) {
      uint16_t hi = static_cast<uint16_t>(lo + 1);
      double a = decode(lo, f.exp_bits, f.man_bits), b = decode(hi, f.exp_bits, f.man_bits);
      double mid = (a + b) / 2;  // exact in f64
      uint16_t even = (lo & 1) ? hi : lo;
      for (double sign : {1.0, -1.0}) {
        uint16_t s = sign < 0 ? static_cast<uint16_t>(1u << (f.exp_bits + f.man_bits)) : 0;
        uint16_t got = f.from_f64(sign * mid);
        if (got != (even | s)) FAIL("f64 midpoint after " << lo << " gave " << got);
        // Just above and below the midpoint: one rounding from f64 (through f32 this would be a
        // tie broken to even, the double-rounding error).
        if (f.from_f64(sign * std::nextafter(mid, INFINITY)) != (hi | s)) FAIL("above midpoint after " << lo);
        if (f.from_f64(sign * std::nextafter(mid, 0.0)) != (lo | s)) FAIL("below midpoint after " << lo);
        float mid32 = static_cast<float>(mid);
        if (static_cast<double>(mid32) == mid && f.from_f32(sign * mid32) != (even | s))
          FAIL("f32 midpoint after " << lo);
      }
    }
    // Overflow: at or beyond the midpoint to the next power of two is infinity; below, the max.
    double max = decode(max_finite, f.exp_bits, f.man_bits);
    double ulp = max - decode(static_cast<uint16_t>(max_finite - 1), f.exp_bits, f.man_bits);
    uint16_t inf = static_cast<uint16_t>(max_finite + 1);
    CHECK(f.from_f64(max + ulp / 2) == inf);
    CHECK(f.from_f64(std::nextafter(max + ulp / 2, 0.0)) == max_finite);
    CHECK(f.from_f64(1e300) == inf);
    CHECK(f.from_f32(INFINITY) == inf);
    // Underflow: half the smallest subnormal is a tie to zero; just above it, the subnormal.
    double tiny = decode(1, f.exp_bits, f.man_bits);
    CHECK(f.from_f64(tiny / 2) == 0);
    CHECK(f.from_f64(std::nextafter(tiny / 2, 1.0)) == 1);
    CHECK(f.from_f64(-tiny / 4) == static_cast<uint16_t>(1u << (f.exp_bits + f.man_bits)));
    CHECK(f.from_f64(5e-324) == 0);
  }
}
