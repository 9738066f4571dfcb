// Philox4x32-10 and the uniform and normal streams built on it (mapping in docs/runtime.md).
#include <cmath>

#include "internal.h"
#include "tessera/codegen_abi.h"

namespace tessera::rt {
namespace {

constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
constexpr uint32_t kStreamUniform = 0, kStreamNormal = 1;

// Above this many elements the fill is split over the default context's pool.
constexpr size_t kParallelThreshold = 1 << 16;
constexpr int64_t kGrain = 1 << 14;

inline void philox(const uint32_t in[4], const uint32_t key_in[2], uint32_t out[4]) {
  uint32_t c0 = in[0], c1 = in[1], c2 = in[2], c3 = in[3];
  uint32_t k0 = key_in[0], k1 = key_in[1];
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t{kMul0} * c0, p1 = uint64_t{kMul1} * c2;
    uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

// The four words of block `block` of stream `stream` for seed.
inline void block_words(uint64_t seed, uint64_t block, uint32_t stream, uint32_t out[4]) {
  const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  const uint32_t ctr[4] = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), stream, 0};
  philox(ctr, key, out);
}

inline float uniform24(uint32_t w) { return static_cast<float>(w >> 8) * 0x1.0p-24f; }
inline double uniform53(uint32_t lo, uint32_t hi) {
  return static_cast<double>(((uint64_t{hi} << 32) | lo) >> 11) * 0x1.0p-53;
}
// In (0, 1]: safe for log.
inline double open_uniform24(uint32_t w) { return (static_cast<double>(w >> 8) + 1.0) * 0x1.0p-24; }
inline double open_uniform53(uint32_t lo, uint32_t hi) {
  return (static_cast<double>(((uint64_t{hi} << 32) | lo) >> 11) + 1.0) * 0x1.0p-53;
}

constexpr double kTwoPi = 6.283185307179586476925286766559;

// Element i of each stream comes from word(s) i % kPerBlock of block i / kPerBlock (the
// mapping of runtime.h).
struct UniformF32 {
  using T = float;
  static constexpr uint64_t kPerBlock = 4;
  static constexpr uint32_t kStream = kStreamUniform;
  static T from(const uint32_t w[4], unsigned j) { return uniform24(w[j]); }
};
struct UniformF64 {
  using T = double;
  static constexpr uint64_t kPerBlock = 2;
  static constexpr uint32_t kStream = kStreamUniform;
  static T from(const uint32_t w[4], unsigned j) { return uniform53(w[2 * j], w[2 * j + 1]); }
};
struct NormalF32 {
  using T = float;
  static constexpr uint64_t kPerBlock = 4;
  static constexpr uint32_t kStream = kStreamNormal;
  static T from(const uint32_t w[4], unsigned j) {
    unsigned pair = 2 * (j / 2);
    double r = std::sqrt(-2.0 * std::log(open_uniform24(w[pair])));
    double theta = kTwoPi * (static_cast<double>(w[pair + 1] >> 8) * 0x1.0p-24);
    return static_cast<float>(j % 2 == 0 ? r * std::cos(theta) : r * std::sin(theta));
  }
};
struct NormalF64 {
  using T = double;
  static constexpr uint64_t kPerBlock = 2;
  static constexpr uint32_t kStream = kStreamNormal;
  static T from(const uint32_t w[4], unsigned j) {
    double r = std::sqrt(-2.0 * std::log(open_uniform53(w[0], w[1])));
    double theta = kTwoPi * uniform53(w[2], w[3]);
    return j == 0 ? r * std::cos(theta) : r * std::sin(theta);
  }
};

template <class Dist>
struct FillJob {
  uint64_t seed, offset;
  typename Dist::T* out;
  static void body(int64_t lo, int64_t hi, void* data) {
    auto* job = static_cast<FillJob*>(data);
    uint32_t w[4];
    uint64_t cached = 0;
    bool have = false;
    for (int64_t k = lo; k < hi; ++k) {
      uint64_t i = job->offset + static_cast<uint64_t>(k);  // wraps modulo 2^64
      uint64_t block = i / Dist::kPerBlock;
      if (!have || block != cached) {
        block_words(job->seed, block, Dist::kStream, w);
        cached = block;
        have = true;
      }
      job->out[k] = Dist::from(w, static_cast<unsigned>(i % Dist::kPerBlock));
    }
  }
};

template <class Dist>
tessStatus_t fill(const char* entry, uint64_t seed, uint64_t offset, size_t n, typename Dist::T* out) {
  return guarded(entry, [&] {
    if (n == 0) return TESS_SUCCESS;
    if (out == nullptr) return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: out is NULL", entry);
    if (n > static_cast<size_t>(INT64_MAX)) return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: n is too large", entry);
    FillJob<Dist> job{seed, offset, out};
    if (n < kParallelThreshold) {
      FillJob<Dist>::body(0, static_cast<int64_t>(n), &job);
    } else {
      parallel_for(default_context(), 0, static_cast<int64_t>(n), kGrain, &FillJob<Dist>::body, &job);
    }
    return TESS_SUCCESS;
  });
}

// Draws of the families without an inverse transform (tessSampleFamily_f64): element i of a
// call draws from its own sub-stream, blocks {i, stream 2, attempt j} for j = 0, 1, ..., so
// that a rejection loop of any length gives the same value for the element whatever the
// thread count or the other elements.
constexpr uint32_t kStreamFamily = 2;

struct ElementRng {
  uint64_t seed, index;
  uint32_t attempt = 0, words[4] = {0, 0, 0, 0};
  unsigned used = 4;  // 32-bit words consumed of the current block (two per double)
  bool spare_ok = false;
  double spare = 0;

  void refill() {
    const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
    const uint32_t ctr[4] = {static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), kStreamFamily, attempt++};
    philox(ctr, key, words);
    used = 0;
  }
  // In (0, 1].
  double uniform() {
    if (used >= 4) refill();
    double u = open_uniform53(words[used], words[used + 1]);
    used += 2;
    return u;
  }
  double normal() {
    if (spare_ok) {
      spare_ok = false;
      return spare;
    }
    double r = std::sqrt(-2.0 * std::log(uniform())), theta = kTwoPi * uniform();
    spare = r * std::sin(theta);
    spare_ok = true;
    return r * std::cos(theta);
  }
};

// Gamma(a, 1): Marsaglia and Tsang (2000), with Gamma(a + 1) U^(1/a) for a < 1.
double gamma_draw(double a, ElementRng& r) {
  if (!(a > 0.0) || std::isinf(a)) return std::nan("");
  if (a < 1.0) {
    double g = gamma_draw(a + 1.0, r);
    return g * std::exp(std::log(r.uniform()) / a);
  }
  const double d = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = r.normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    double u = r.uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

// The inverse CDF of a count, searched outward from the mode m (alternately below and above):
// exact up to rounding, about sqrt(variance) steps. `down(k, pk)` / `up(k, pk)` give the
// probability of k - 1 / k + 1 from that of k; `lo`/`hi` bound the support.
template <class Down, class Up>
double search_from_mode(double m, double pm, double lo, double hi, double u, Down down, Up up) {
  u -= pm;
  if (u <= 0.0) return m;
  double a = m, pa = pm, b = m, pb = pm;
  for (;;) {
    bool moved = false;
    if (a > lo && pa > 0.0) {
      pa = down(a, pa);
      a -= 1.0;
      u -= pa;
      if (u <= 0.0) return a;
      moved = true;
    }
    if (b < hi && pb > 0.0) {
      pb = up(b, pb);
      b += 1.0;
      u -= pb;
      if (u <= 0.0) return b;
      moved = true;
    }
    if (!moved) return m;  // the mass left is below rounding
  }
}

double poisson_draw(double rate, ElementRng& r) {
  if (!(rate >= 0.0) || std::isinf(rate)) return std::nan("");
  if (rate == 0.0) return 0.0;
  if (rate < 12.0) {
    // Knuth's product of uniforms.
    const double limit = std::exp(-rate);
    double k = 0.0, prod = r.uniform();
    while (prod > limit) {
      k += 1.0;
      prod *= r.uniform();
    }
    return k;
  }
  double m = std::floor(rate);
  double pm = std::exp(m * std::log(rate) - rate - std::lgamma(m + 1.0));
  return search_from_mode(
      m, pm, 0.0, INFINITY, r.uniform(), [&](double k, double pk) { return pk * k / rate; },
      [&](double k, double pk) { return pk * rate / (k + 1.0); });
}

double binomial_draw(double n, double p, ElementRng& r) {
  if (!(n >= 0.0) || std::isinf(n) || std::floor(n) != n || !(p >= 0.0 && p <= 1.0)) return std::nan("");
  if (p == 0.0 || n == 0.0) return 0.0;
  if (p == 1.0) return n;
  double m = std::min(n, std::floor((n + 1.0) * p));
  double lpm = std::lgamma(n + 1.0) - std::lgamma(m + 1.0) - std::lgamma(n - m + 1.0) + m * std::log(p) +
               (n - m) * std::log1p(-p);
  const double odds = p / (1.0 - p);
  return search_from_mode(
      m, std::exp(lpm), 0.0, n, r.uniform(), [&](double k, double pk) { return pk * k / ((n - k + 1.0) * odds); },
      [&](double k, double pk) { return pk * (n - k) / (k + 1.0) * odds; });
}

}  // namespace
}  // namespace tessera::rt

using namespace tessera::rt;

extern "C" {

// out[k] = a draw of `family` (0: Gamma(a, 1), 1: Poisson(a), 2: Binomial(a, b)) for element
// offset + k, from seed; a, b and out are rank-1 memrefs of one size, passed unranked
// ({allocated, aligned, offset, size, stride}); b is read by Binomial only.
void tessSampleFamily_f64(int32_t family, int64_t seed, int64_t offset, int64_t a_rank, void* a_desc, int64_t b_rank,
                          void* b_desc, int64_t out_rank, void* out_desc) {
  (void)a_rank;
  (void)b_rank;
  (void)out_rank;
  auto view = [](void* d, int64_t& size, int64_t& stride) {
    auto* w = static_cast<int64_t*>(d);
    size = w[3];
    stride = w[4];
    return reinterpret_cast<double*>(w[1]) + w[2];
  };
  int64_t size, a_stride, b_size, b_stride, out_size, out_stride;
  const double* a = view(a_desc, size, a_stride);
  const double* b = view(b_desc, b_size, b_stride);
  double* out = view(out_desc, out_size, out_stride);
  for (int64_t k = 0; k < size; ++k) {
    ElementRng rng{static_cast<uint64_t>(seed), static_cast<uint64_t>(offset) + static_cast<uint64_t>(k)};
    double x = a[k * a_stride];
    double v;
    switch (family) {
      case 0: v = gamma_draw(x, rng); break;
      case 1: v = poisson_draw(x, rng); break;
      default: v = binomial_draw(x, b[k * b_stride], rng); break;
    }
    out[k * out_stride] = v;
  }
}

}  // extern "C"

extern "C" {

void tessPhilox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
  if (counter == nullptr || key == nullptr || out == nullptr) return;
  philox(counter, key, out);
}

tessStatus_t tessRandUniformF32(uint64_t seed, uint64_t offset, size_t n, float* out) {
  return fill<UniformF32>("tessRandUniformF32", seed, offset, n, out);
}

tessStatus_t tessRandUniformF64(uint64_t seed, uint64_t offset, size_t n, double* out) {
  return fill<UniformF64>("tessRandUniformF64", seed, offset, n, out);
}

tessStatus_t tessRandNormalF32(uint64_t seed, uint64_t offset, size_t n, float* out) {
  return fill<NormalF32>("tessRandNormalF32", seed, offset, n, out);
}

tessStatus_t tessRandNormalF64(uint64_t seed, uint64_t offset, size_t n, double* out) {
  return fill<NormalF64>("tessRandNormalF64", seed, offset, n, out);
}

}  // extern "C"
