// Philox4x32-10 and the uniform and normal streams built on it (mapping in docs/runtime.md).
#include <cmath>

#include "internal.h"

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

}  // namespace
}  // namespace tessera::rt

using namespace tessera::rt;

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
