// Tests for NUTS and static HMC: Gaussian targets recovered within Monte Carlo error, the
// adaptation's step size and metric, determinism across seeds and thread counts, a log density
// that runs its own parallel loops, divergences on Neal's funnel, and initialization failures.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <mutex>

#include "inference.h"
#include "tessera/runtime.h"

namespace {

using namespace tessera::rt::infer;

// A diagonal Gaussian with the given scales.
LogDensity diag_normal(std::vector<double> scale) {
  return [scale](const double* x, double* g) {
    double lp = 0;
    for (size_t i = 0; i < scale.size(); ++i) {
      double z = x[i] / scale[i];
      lp -= 0.5 * z * z;
      g[i] = -z / scale[i];
    }
    return lp;
  };
}

// Sets the default context's thread count for the scope of a test.
struct Threads {
  int saved = 1;
  explicit Threads(int n) {
    tessContext_t ctx;
    REQUIRE(tessGetDefaultContext(&ctx) == TESS_SUCCESS);
    REQUIRE(tessGetNumThreads(ctx, &saved) == TESS_SUCCESS);
    REQUIRE(tessSetNumThreads(ctx, n) == TESS_SUCCESS);
  }
  ~Threads() {
    tessContext_t ctx;
    tessGetDefaultContext(&ctx);
    tessSetNumThreads(ctx, saved);
  }
};

Posterior to_posterior(const NutsResult& r, const NutsConfig& c, int64_t dim) {
  Posterior p({Field{"x", {dim}, 0}}, c.chains, c.num_samples);
  for (int64_t ch = 0; ch < c.chains; ++ch) {
    const auto& d = r.chains[static_cast<size_t>(ch)].draws;
    std::copy(d.begin(), d.end(), p.values().begin() + static_cast<std::ptrdiff_t>(ch * c.num_samples * dim));
  }
  p.set_sampler_stats(r, c);
  return p;
}

// Every coordinate's mean and sd within Monte Carlo error of the truth (z < 4.5 over all
// coordinates), R-hat < 1.01, no divergences.
void check_recovers(const Posterior& p, const std::vector<double>& mean, const std::vector<double>& sd) {
  const Field& f = p.fields()[0];
  auto m = p.mean(f), s = p.sd(f), r = p.rhat(f), ess = p.ess(f);
  for (size_t i = 0; i < mean.size(); ++i) {
    CAPTURE(i);
    CAPTURE(ess[i]);
    CHECK(std::fabs(m[i] - mean[i]) < 4.5 * sd[i] / std::sqrt(ess[i]));
    // The sd of a Gaussian's sd estimate is about sd / sqrt(2 ESS); draws of x^2 mix worse
    // than x under NUTS, so allow for half the ESS.
    CHECK(std::fabs(s[i] - sd[i]) < 4.5 * sd[i] / std::sqrt(ess[i]));
    CHECK(r[i] < 1.01);
    CHECK(ess[i] > 200);
  }
  CHECK(p.divergences == 0);
}

TEST_CASE("nuts: 1-d and 10-d standard normal") {
  for (int64_t dim : {1, 10}) {
    CAPTURE(dim);
    NutsConfig c;
    c.seed = 11;
    NutsResult r = sample_nuts(diag_normal(std::vector<double>(static_cast<size_t>(dim), 1.0)), dim, c);
    REQUIRE(r.error.empty());
    REQUIRE(r.chains.size() == 4);
    Posterior p = to_posterior(r, c, dim);
    check_recovers(p, std::vector<double>(static_cast<size_t>(dim), 0.0), std::vector<double>(static_cast<size_t>(dim), 1.0));
    for (const ChainResult& ch : r.chains) {
      CHECK(ch.step_size > 0.3);
      CHECK(ch.step_size < 2.5);
      double mean_accept = 0;
      for (double a : ch.accept_stat) mean_accept += a / static_cast<double>(ch.accept_stat.size());
      CHECK(mean_accept > 0.65);  // dual averaging targets 0.8
      CHECK(ch.max_depth_hits == 0);
      for (size_t i = 0; i < ch.lp.size(); ++i) CHECK(ch.energy[i] >= -ch.lp[i] - 1e-12);  // H = K + V, K >= 0
    }
  }
}

TEST_CASE("nuts: correlated 2-d Gaussian") {
  // sd 1 and 3, correlation 0.9: the precision matrix written out.
  const double s1 = 1, s2 = 3, rho = 0.9, det = 1 - rho * rho;
  LogDensity f = [=](const double* x, double* g) {
    double a = x[0] / s1, b = x[1] / s2;
    double q = (a * a - 2 * rho * a * b + b * b) / det;
    g[0] = -(a - rho * b) / det / s1;
    g[1] = -(b - rho * a) / det / s2;
    return -0.5 * q;
  };
  NutsConfig c;
  c.num_warmup = 500;
  c.num_samples = 1000;
  c.seed = 5;
  NutsResult r = sample_nuts(f, 2, c);
  REQUIRE(r.error.empty());
  Posterior p = to_posterior(r, c, 2);
  check_recovers(p, {0, 0}, {s1, s2});
  // The sample correlation.
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t k = 0; k + 1 < p.values().size(); k += 2) {
    sxy += p.values()[k] * p.values()[k + 1];
    sxx += p.values()[k] * p.values()[k];
    syy += p.values()[k + 1] * p.values()[k + 1];
  }
  CHECK(sxy / std::sqrt(sxx * syy) == doctest::Approx(rho).epsilon(0.03));
}

TEST_CASE("nuts: 100-d normal with scales 0.01 .. 100, adaptation") {
  const int64_t dim = 100;
  std::vector<double> scale(dim);
  for (int64_t i = 0; i < dim; ++i) scale[static_cast<size_t>(i)] = std::pow(10.0, -2 + 4.0 * static_cast<double>(i) / (dim - 1));
  NutsConfig c;
  c.seed = 3;
  NutsResult r = sample_nuts(diag_normal(scale), dim, c);
  REQUIRE(r.error.empty());
  Posterior p = to_posterior(r, c, dim);
  check_recovers(p, std::vector<double>(dim, 0.0), scale);
  for (const ChainResult& ch : r.chains) {
    // The metric is the variance of the last slow window's 500 draws, regularized.
    for (size_t i = 0; i < scale.size(); ++i) {
      CAPTURE(i);
      CHECK(ch.inv_metric[i] / (scale[i] * scale[i]) == doctest::Approx(1.0).epsilon(0.35));
    }
    // With a well-adapted metric the target is a 100-d standard normal: step about 0.4 .. 0.9.
    CHECK(ch.step_size > 0.25);
    CHECK(ch.step_size < 1.2);
  }
}

TEST_CASE("nuts: short warm-up (15% / 75% / 10% windows) and no warm-up") {
  NutsConfig c;
  c.num_warmup = 100;
  c.num_samples = 200;
  c.chains = 2;
  std::vector<double> scale = {10.0, 0.1};
  NutsResult r = sample_nuts(diag_normal(scale), 2, c);
  REQUIRE(r.error.empty());
  for (const ChainResult& ch : r.chains) {
    // One slow window of 75 draws adapted the metric away from the unit one.
    CHECK(ch.inv_metric[0] > 10);
    CHECK(ch.inv_metric[1] < 0.1);
  }
  c.num_warmup = 0;
  c.init_step_size = 0.3;
  r = sample_nuts(diag_normal(scale), 2, c);
  REQUIRE(r.error.empty());
  CHECK(r.chains[0].step_size == 0.3);
  CHECK(r.chains[0].inv_metric == std::vector<double>{1.0, 1.0});
}

TEST_CASE("nuts: determinism across runs and thread counts") {
  NutsConfig c;
  c.num_warmup = 150;
  c.num_samples = 100;
  c.chains = 4;
  c.seed = 42;
  LogDensity f = diag_normal({1.0, 2.0, 0.5});
  NutsResult one, many, again, other;
  {
    Threads t(1);
    one = sample_nuts(f, 3, c);
  }
  {
    Threads t(3);
    many = sample_nuts(f, 3, c);
    again = sample_nuts(f, 3, c);
  }
  c.seed = 43;
  other = sample_nuts(f, 3, c);
  REQUIRE(one.error.empty());
  for (size_t k = 0; k < 4; ++k) {
    CHECK(one.chains[k].draws == many.chains[k].draws);
    CHECK(one.chains[k].draws == again.chains[k].draws);
    CHECK(one.chains[k].energy == many.chains[k].energy);
    CHECK(one.chains[k].step_size == many.chains[k].step_size);
    CHECK(one.chains[k].draws != other.chains[k].draws);
  }
  CHECK(one.chains[0].draws != one.chains[1].draws);  // chains have their own streams
  // Every chain times its warm-up and sampling. With one thread the chains run one after
  // another on the caller, so the run's wall time covers the sum of theirs.
  double one_sum = 0;
  for (const ChainResult& ch : one.chains) {
    CHECK(ch.warmup_seconds > 0);
    CHECK(ch.sampling_seconds > 0);
    one_sum += ch.warmup_seconds + ch.sampling_seconds;
  }
  CHECK(one.wall_seconds >= one_sum);
  Posterior p = to_posterior(one, c, 3);
  REQUIRE(p.warmup_seconds.size() == 4);
  CHECK(p.sampling_seconds[3] == one.chains[3].sampling_seconds);
  CHECK(p.wall_seconds == one.wall_seconds);
  CHECK(p.summary().find("Elapsed Time: ") != std::string::npos);
}

// The log density of an iid normal summed with the runtime's own parallel loop, as compiled code
// would do it.
struct NestedSum {
  const double* x;
  double* g;
  std::vector<double> partial;
  static void body(int64_t lo, int64_t hi, void* data) {
    auto* s = static_cast<NestedSum*>(data);
    for (int64_t i = lo; i < hi; ++i) {
      s->partial[static_cast<size_t>(i)] = -0.5 * s->x[i] * s->x[i];
      s->g[i] = -s->x[i];
    }
  }
};

TEST_CASE("nuts: a log density that calls tessParallelFor") {
  const int64_t dim = 64;
  std::atomic<int64_t> calls{0};
  LogDensity nested = [&](const double* x, double* g) {
    NestedSum s{x, g, std::vector<double>(dim)};
    if (tessParallelFor(nullptr, 0, dim, 8, &NestedSum::body, &s) != TESS_SUCCESS) return std::nan("");
    ++calls;
    double lp = 0;
    for (double v : s.partial) lp += v;  // a fixed order: the result does not depend on threads
    return lp;
  };
  NutsConfig c;
  c.num_warmup = 100;
  c.num_samples = 50;
  c.chains = 3;
  NutsResult a, b, plain;
  {
    Threads t(2);
    a = sample_nuts(nested, dim, c);
    c.chains = 1;  // one chain: the loop body is not nested, the log density gets the whole pool
    b = sample_nuts(nested, dim, c);
    c.chains = 3;
  }
  plain = sample_nuts(diag_normal(std::vector<double>(dim, 1.0)), dim, c);
  REQUIRE(a.error.empty());
  REQUIRE(b.error.empty());
  CHECK(calls > 0);
  for (size_t k = 0; k < 3; ++k) CHECK(a.chains[k].draws == plain.chains[k].draws);
  CHECK(b.chains[0].draws == plain.chains[0].draws);
}

TEST_CASE("nuts: Neal's funnel (centered) diverges") {
  // v ~ N(0, 3), x_i ~ N(0, exp(v / 2)), i = 1..9.
  LogDensity funnel = [](const double* t, double* g) {
    double v = t[0], lp = -v * v / 18.0, gv = -v / 9.0;
    for (int i = 1; i < 10; ++i) {
      double e = std::exp(-v);
      lp += -0.5 * t[i] * t[i] * e - 0.5 * v;
      g[i] = -t[i] * e;
      gv += 0.5 * t[i] * t[i] * e - 0.5;
    }
    g[0] = gv;
    return lp;
  };
  NutsConfig c;
  c.num_warmup = 300;
  c.num_samples = 300;
  c.chains = 2;
  NutsResult r = sample_nuts(funnel, 10, c);
  REQUIRE(r.error.empty());
  Posterior p = to_posterior(r, c, 10);
  CHECK(p.divergences > 0);
  CHECK(p.summary().find(std::to_string(p.divergences) + " divergent transition") != std::string::npos);
}

TEST_CASE("nuts: initialization failures") {
  NutsConfig c;
  c.num_warmup = 10;
  c.num_samples = 10;
  c.chains = 2;
  int64_t calls_seen = 0;
  std::mutex m;
  LogDensity never = [&](const double*, double* g) {
    std::lock_guard lock(m);
    ++calls_seen;
    g[0] = 0;
    return -INFINITY;
  };
  NutsResult r = sample_nuts(never, 1, c);
  CHECK(r.chains.empty());
  CHECK(r.error == "chain 0: the log density is not finite at any of 100 initial points drawn uniformly from (-2, 2) "
                   "(the last log density was -inf)");
  CHECK(calls_seen == 200);
  LogDensity bad_grad = [](const double*, double* g) {
    g[0] = NAN;
    return 0.0;
  };
  c.init_radius = 0;
  r = sample_nuts(bad_grad, 1, c);
  CHECK(r.error == "chain 0: its gradient is not finite at the initial point 0 (log density 0)");
  // Only part of the space is valid: x > 0. The random inits find it.
  LogDensity half = [](const double* x, double* g) {
    g[0] = -1;
    return x[0] > 0 ? -x[0] : -INFINITY;
  };
  c.init_radius = 2;
  r = sample_nuts(half, 1, c);
  CHECK(r.error.empty());
  CHECK(sample_nuts(half, 0, c).error.find("dimension 0") != std::string::npos);
}

TEST_CASE("hmc: static HMC on a normal, and progress reports") {
  NutsConfig c;
  c.nuts = false;
  // Short fixed trajectories on a Gaussian can resonate (eps L near a multiple of pi gives
  // antithetic or stuck chains); 5 steps of the adapted size do not.
  c.hmc_num_steps = 5;
  c.chains = 2;
  std::mutex m;
  std::vector<Progress> seen;
  c.progress = [&](const Progress& p) {
    std::lock_guard lock(m);  // the engines already serialize calls; this guards `seen` for the test
    seen.push_back(p);
  };
  NutsResult r = sample_nuts(diag_normal({2.0, 0.5}), 2, c);
  REQUIRE(r.error.empty());
  Posterior p = to_posterior(r, c, 2);
  CHECK(p.method == "HMC");
  check_recovers(p, {0, 0}, {2.0, 0.5});
  for (const ChainResult& ch : r.chains) {
    CHECK(ch.n_leapfrog[0] == 5);
    CHECK(ch.tree_depth[0] == 0);
  }
  int done = 0;
  for (const Progress& pr : seen) {
    CHECK(pr.total == 2000);
    if (pr.done) ++done;
  }
  CHECK(done == 2);
  CHECK(seen.size() >= 2 * 100);
  CHECK(seen.size() <= 2 * 101);
}

}  // namespace
