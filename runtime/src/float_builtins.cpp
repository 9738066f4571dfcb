// Compiler-runtime helpers that LLVM calls for floating-point conversions the target CPU has no
// instruction for: f32/f64 -> bf16 without AVX512-BF16, f16 <-> f32/f64 without F16C (or f64 ->
// f16 on every x86-64 CPU before AVX512-FP16). compiler-rt defines them, but neither the JIT nor
// a library linked with GCC 12's libgcc has the bf16 ones, so the runtime provides them all: the
// JIT resolves them through tessCodegenSymbols and AOT libraries link them from the runtime
// library (docs/codegen.md, "Every x86-64 host").
//
// Rounding is IEEE round-to-nearest-even, in one step from the source (f64 -> bf16 is not
// rounded twice through f32); NaNs stay NaNs (quiet, sign kept); overflow gives infinity and
// underflow gives subnormals or signed zero, as compiler-rt does.
#include <bit>
#include <cmath>
#include <cstdint>

#include "tessera/codegen_abi.h"

namespace {

using std::bit_cast;

// The bits of the format with `exp_bits` exponent bits and `man_bits` mantissa bits (bf16: 8, 7;
// f16: 5, 10) nearest to `value`, ties to even.
uint16_t round_double_to(double value, int exp_bits, int man_bits) {
  uint64_t bits = bit_cast<uint64_t>(value);
  uint16_t sign = static_cast<uint16_t>((bits >> 63) << (exp_bits + man_bits));
  uint64_t exp_field = (bits >> 52) & 0x7ff;
  uint64_t frac = bits & ((uint64_t{1} << 52) - 1);
  const uint16_t exp_max = static_cast<uint16_t>((1u << exp_bits) - 1);
  if (exp_field == 0x7ff) {
    if (frac == 0) return sign | static_cast<uint16_t>(exp_max << man_bits);  // infinity
    // NaN: quiet, with the top payload bits that fit.
    uint16_t payload = static_cast<uint16_t>(frac >> (52 - man_bits)) | static_cast<uint16_t>(1u << (man_bits - 1));
    return sign | static_cast<uint16_t>(exp_max << man_bits) | payload;
  }
  if (exp_field == 0) return sign;  // zero or an f64 subnormal: far below the smallest subnormal
  const int bias = (1 << (exp_bits - 1)) - 1;
  const int emin = 1 - bias;
  int e = static_cast<int>(exp_field) - 1023;
  uint64_t significand = (uint64_t{1} << 52) | frac;  // value = significand * 2^(e - 52)
  bool subnormal = e < emin;
  int shift = 52 - man_bits + (subnormal ? emin - e : 0);
  if (shift > 62) return sign;  // below half the smallest subnormal
  uint64_t q = significand >> shift;
  uint64_t rem = significand & ((uint64_t{1} << shift) - 1);
  uint64_t half = uint64_t{1} << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) ++q;
  if (subnormal) return sign | static_cast<uint16_t>(q);  // a carry into bit man_bits is the smallest normal
  if (q == (uint64_t{1} << (man_bits + 1))) {
    q >>= 1;
    ++e;
  }
  int biased = e + bias;
  if (biased >= exp_max) return sign | static_cast<uint16_t>(exp_max << man_bits);  // overflow
  return sign | static_cast<uint16_t>((static_cast<uint64_t>(biased) << man_bits) | (q & ((uint64_t{1} << man_bits) - 1)));
}

double f16_bits_to_double(uint16_t h) {
  double sign = (h & 0x8000) ? -1.0 : 1.0;
  int exp_field = (h >> 10) & 0x1f;
  int frac = h & 0x3ff;
  if (exp_field == 0x1f) {
    if (frac == 0) return sign * INFINITY;
    // A NaN keeps its sign and payload (shifted into the f64 mantissa), quiet.
    uint64_t bits = (static_cast<uint64_t>(h & 0x8000) << 48) | (uint64_t{0x7ff} << 52) | (uint64_t{1} << 51) |
                    (static_cast<uint64_t>(frac) << 42);
    return bit_cast<double>(bits);
  }
  if (exp_field == 0) return sign * std::ldexp(static_cast<double>(frac), -24);
  return sign * std::ldexp(static_cast<double>(frac | 0x400), exp_field - 25);
}

uint16_t f32_to_bf16_bits(float value) { return round_double_to(static_cast<double>(value), 8, 7); }

}  // namespace

extern "C" {

TESS_API __bf16 __truncsfbf2(float value) { return bit_cast<__bf16>(f32_to_bf16_bits(value)); }
TESS_API __bf16 __truncdfbf2(double value) { return bit_cast<__bf16>(round_double_to(value, 8, 7)); }
TESS_API float __extendbfsf2(__bf16 value) {
  return bit_cast<float>(static_cast<uint32_t>(bit_cast<uint16_t>(value)) << 16);
}
TESS_API _Float16 __truncsfhf2(float value) {
  return bit_cast<_Float16>(round_double_to(static_cast<double>(value), 5, 10));
}
TESS_API _Float16 __truncdfhf2(double value) { return bit_cast<_Float16>(round_double_to(value, 5, 10)); }
TESS_API float __extendhfsf2(_Float16 value) {
  return static_cast<float>(f16_bits_to_double(bit_cast<uint16_t>(value)));
}
TESS_API double __extendhfdf2(_Float16 value) { return f16_bits_to_double(bit_cast<uint16_t>(value)); }
// The older spellings, which pass the half as an integer.
TESS_API uint16_t __gnu_f2h_ieee(float value) { return round_double_to(static_cast<double>(value), 5, 10); }
TESS_API float __gnu_h2f_ieee(uint16_t value) { return static_cast<float>(f16_bits_to_double(value)); }

const tessSymbol* tessFloatBuiltinSymbols(size_t* count) {
  static const tessSymbol table[] = {
#define TESS_FLOAT_BUILTIN(name) {#name, reinterpret_cast<void*>(&name)},
#include "tessera/float_builtins.def"
#undef TESS_FLOAT_BUILTIN
  };
  *count = sizeof(table) / sizeof(table[0]);
  return table;
}

}  // extern "C"
