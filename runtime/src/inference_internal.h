// What the inference engines share between their translation units and their tests: the
// per-chain Philox stream, Stan's random initialization, running chains on the pool, and the
// pieces of the diagnostics that the public functions combine.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "inference.h"

namespace tessera::rt::infer::detail {

// Counter words 2 and 3 of every block: the chain and a tag per engine, so that no two engines
// (nor tessRand*, whose word 3 is 0) ever read the same block for one seed.
constexpr uint32_t kTagNuts = 0x4E555453u;  // "NUTS"
constexpr uint32_t kTagAdvi = 0x41445649u;  // "ADVI"

// A Philox4x32-10 stream keyed by the seed, for one (chain, tag): the draws of a chain depend on
// (seed, chain) only, never on which thread runs it or when.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t chain, uint32_t tag) : seed_(seed), chain_(static_cast<uint32_t>(chain)), tag_(tag) {}
  uint32_t next32() {
    if (pos_ == 4) refill();
    return words_[pos_++];
  }
  // In [0, 1), 53 bits.
  double uniform() {
    uint64_t lo = next32(), hi = next32();
    return static_cast<double>(((hi << 32) | lo) >> 11) * 0x1.0p-53;
  }
  // Standard normal (Box-Muller; the second value of each pair is kept for the next call).
  double normal();
  uint64_t blocks_used() const { return counter_; }

 private:
  void refill();
  uint64_t seed_;
  uint32_t chain_, tag_;
  uint64_t counter_ = 0;
  uint32_t words_[4] = {};
  int pos_ = 4;
  bool have_spare_ = false;
  double spare_ = 0;
};

// Stan's initialization: each coordinate uniform in (-radius, radius) (all zeros when radius is
// 0), up to 100 tries until the log density and its gradient are finite. Returns "" with the
// point in theta, or the reason it failed.
std::string initialize(const LogDensity& f, int64_t dim, double radius, Rng& rng, std::vector<double>& theta);

// Runs body(i) for i in [0, n) on the default context's pool (grain 1). A log density that
// itself calls tessParallelFor runs its loop inline on the chain's thread (the pool runs nested
// loops inline), so this cannot deadlock. The first exception a body throws is rethrown here.
void parallel_chains(int64_t n, const std::function<void(int64_t)>& body);

// Calls a Progress callback from several chains under one mutex, about every 1% of the
// iterations and at the end.
class ProgressReporter {
 public:
  ProgressReporter(const std::function<void(const Progress&)>& callback, int64_t total);
  // Reports iteration (1-based) if it is due.
  void update(int64_t chain, int64_t iteration, bool warmup, int64_t divergences);
  void done(int64_t chain, int64_t divergences);

 private:
  const std::function<void(const Progress&)>& callback_;
  int64_t total_, every_;
};

// The standard normal quantile (Wichura's AS241, as R's qnorm).
double normal_quantile(double p);

// One quantity as columns (one per chain, equal lengths), the shape posterior's .ess and .rhat
// take.
using Columns = std::vector<std::vector<double>>;
Columns columns(const Draws& d);
Columns split_chains(const Columns& x);  // halves; the middle draw of an odd chain is dropped
Columns z_scale(const Columns& x);       // normal scores of the average ranks, offset 3/8
Columns fold(const Columns& x);          // |x - median(x)|
double ess_raw(const Columns& x);        // posterior's .ess: Geyer's initial monotone sequence
double rhat_raw(const Columns& x);       // posterior's .rhat: Gelman-Rubin on the given chains
double ess_quantile(const Draws& d, double prob);  // ESS of the indicator x <= quantile(x, prob)
double ess_mean(const Draws& d);                   // split, no rank normalization (= ess_basic)
double mcse_mean(const Draws& d);                  // sd / sqrt(ess_mean)

}  // namespace tessera::rt::infer::detail
