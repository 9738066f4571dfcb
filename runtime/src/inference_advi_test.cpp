// Tests for ADVI: mean-field recovers a Gaussian's mean and scales, full-rank its covariance,
// the convergence rule, the eta search, determinism and failures.
#include <doctest/doctest.h>

#include <cmath>

#include "inference.h"

namespace {

using namespace tessera::rt::infer;

// N(1, 2^2) x N(-3, 0.5^2), plus a constant offset (which moves the ELBO, not the optimum).
LogDensity shifted_normal(double offset) {
  return [offset](const double* x, double* g) {
    double a = (x[0] - 1) / 2, b = (x[1] + 3) / 0.5;
    g[0] = -a / 2;
    g[1] = -b / 0.5;
    return -0.5 * (a * a + b * b) + offset;
  };
}

TEST_CASE("advi: mean-field on a normal") {
  AdviConfig c;
  c.seed = 1;
  c.max_iterations = 5000;
  c.output_samples = 4000;
  AdviResult r = fit_advi(shifted_normal(0), 2, c);
  REQUIRE(r.error.empty());
  CHECK(r.eta > 0);  // found by the search over {100, 10, 1, 0.1, 0.01}
  CHECK(r.elbo.size() == static_cast<size_t>(r.iterations / c.eval_elbo));
  CHECK(r.mean[0] == doctest::Approx(1).epsilon(0.1));
  CHECK(r.mean[1] == doctest::Approx(-3).epsilon(0.03));
  CHECK(r.scale_tril[0] == doctest::Approx(2).epsilon(0.1));
  CHECK(r.scale_tril[1] == 0);
  CHECK(r.scale_tril[2] == 0);
  CHECK(r.scale_tril[3] == doctest::Approx(0.5).epsilon(0.1));
  // The output draws come from the fitted approximation.
  REQUIRE(r.draws.size() == 2 * 4000);
  double m = 0, v = 0;
  for (size_t i = 0; i < r.draws.size(); i += 2) m += r.draws[i] / 4000;
  for (size_t i = 0; i < r.draws.size(); i += 2) v += (r.draws[i] - m) * (r.draws[i] - m) / 3999;
  CHECK(m == doctest::Approx(r.mean[0]).epsilon(0.1));
  CHECK(std::sqrt(v) == doctest::Approx(r.scale_tril[0]).epsilon(0.05));
  // Determinism.
  AdviResult again = fit_advi(shifted_normal(0), 2, c);
  CHECK(again.draws == r.draws);
  CHECK(again.elbo == r.elbo);
  c.seed = 2;
  CHECK(fit_advi(shifted_normal(0), 2, c).draws != r.draws);
}

TEST_CASE("advi: full-rank on a correlated Gaussian") {
  const double s1 = 1, s2 = 3, rho = 0.9, det = 1 - rho * rho;
  LogDensity f = [=](const double* x, double* g) {
    double a = x[0] / s1, b = x[1] / s2;
    g[0] = -(a - rho * b) / det / s1;
    g[1] = -(b - rho * a) / det / s2;
    return -0.5 * (a * a - 2 * rho * a * b + b * b) / det;
  };
  AdviConfig c;
  c.fullrank = true;
  c.grad_samples = 5;
  c.max_iterations = 5000;
  c.seed = 3;
  AdviResult r = fit_advi(f, 2, c);
  REQUIRE(r.error.empty());
  double L00 = r.scale_tril[0], L10 = r.scale_tril[2], L11 = r.scale_tril[3];
  CHECK(r.scale_tril[1] == 0);
  double v0 = L00 * L00, v1 = L10 * L10 + L11 * L11, cov = L00 * L10;
  // The fit is stochastic (grad_samples draws per step): variances within 25%, correlation 0.03.
  CHECK(v0 == doctest::Approx(s1 * s1).epsilon(0.25));
  CHECK(v1 == doctest::Approx(s2 * s2).epsilon(0.25));
  CHECK(cov / std::sqrt(v0 * v1) == doctest::Approx(rho).epsilon(0.035));
  CHECK(std::fabs(r.mean[0]) < 0.3);
  CHECK(std::fabs(r.mean[1]) < 0.9);
}

TEST_CASE("advi: relative ELBO convergence, fixed eta, failures") {
  AdviConfig c;
  c.seed = 4;
  c.eta = 0.5;  // no search
  // With the ELBO near -1000 the relative changes fall below 1% at once. The first estimate's
  // relative change is 1 (from Stan's initial 0), and Stan's median of a buffer of two is its
  // larger entry, so the rule stops at the third estimate.
  AdviResult r = fit_advi(shifted_normal(-1000), 2, c);
  REQUIRE(r.error.empty());
  CHECK(r.eta == 0.5);
  CHECK(r.converged);
  CHECK(r.iterations == 300);
  CHECK(r.elbo.size() == 3);
  // Without the offset the ELBO is near log(2 pi), and its Monte Carlo noise (a few %) stays
  // above a tolerance of 1e-4: the run ends at max_iterations.
  c.max_iterations = 1000;
  c.tol_rel_obj = 1e-4;
  r = fit_advi(shifted_normal(0), 2, c);
  CHECK_FALSE(r.converged);
  CHECK(r.iterations == 1000);

  LogDensity never = [](const double*, double* g) {
    g[0] = 0;
    return -INFINITY;
  };
  r = fit_advi(never, 1, c);
  CHECK(r.error.find("not finite at any of 100 initial points") != std::string::npos);
  // Valid only near the start: the approximation's draws leave the support.
  LogDensity narrow = [](const double* x, double* g) {
    g[0] = -x[0];
    return std::fabs(x[0]) < 1e-3 ? -0.5 * x[0] * x[0] : -INFINITY;
  };
  c.init_radius = 0;
  c.eta = 0;
  r = fit_advi(narrow, 1, c);
  CHECK_FALSE(r.error.empty());
  MESSAGE("narrow support: " << r.error);
}

}  // namespace
