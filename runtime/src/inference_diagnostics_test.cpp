// Tests for R-hat, ESS and quantiles: against R `posterior`'s published values on a Stan run
// (runtime/tests/inference/README.md), a hand-checked example, and properties of known chains.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "inference.h"
#include "inference_internal.h"

namespace {

using namespace tessera::rt::infer;
namespace fs = std::filesystem;

fs::path data_dir() { return fs::path(TESSERA_RUNTIME_SOURCE_DIR) / "tests" / "inference"; }

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) out.push_back(cell);
  return out;
}

// Columns of a CSV with a header line, as doubles (the first column of the reference is a name).
struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  explicit Csv(const fs::path& path) {
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "cannot read " << path);
    std::string line;
    std::getline(in, line);
    header = split_csv(line);
    while (std::getline(in, line)) {
      if (!line.empty()) rows.push_back(split_csv(line));
    }
  }
  size_t col(const std::string& name) const {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return i;
    }
    FAIL("no column " << name);
    return 0;
  }
};

// chains x draws, chain-major.
struct Sample {
  std::vector<double> x;
  int64_t chains, draws;
  Draws draws_view() const { return Draws{x.data(), chains, draws, draws, 1}; }
};

bool close_rel(double a, double b, double tol) { return std::fabs(a - b) <= tol * std::fabs(b); }

TEST_CASE("diagnostics match R posterior on the blocker draws") {
  Csv draws(data_dir() / "blocker_draws.csv");
  Csv ref(data_dir() / "blocker_reference.csv");
  REQUIRE(draws.rows.size() == 2000);
  REQUIRE(ref.rows.size() >= 8);
  const size_t chain_col = draws.col("chain");
  for (const auto& r : ref.rows) {
    const std::string& name = r[0];
    CAPTURE(name);
    size_t col = draws.col(name);
    Sample s{{}, 2, 1000};
    for (const auto& row : draws.rows) {
      CHECK(std::stoi(row[chain_col]) == (s.x.size() < 1000 ? 1 : 2));
      s.x.push_back(std::stod(row[col]));
    }
    Draws d = s.draws_view();
    auto want = [&](const char* what) { return std::stod(r[ref.col(what)]); };
    const double tol = 1e-9;
    CHECK(close_rel(rhat(d), want("rhat_rank"), tol));
    CHECK(close_rel(ess_bulk(d), want("ess_bulk"), tol));
    CHECK(close_rel(ess_tail(d), want("ess_tail"), tol));
    CHECK(close_rel(ess_basic(d), want("ess_mean"), tol));
    CHECK(close_rel(detail::ess_quantile(d, 0.5), want("ess_median"), tol));
    CHECK(close_rel(detail::ess_quantile(d, 0.01), want("ess_quantile01"), tol));
    CHECK(close_rel(detail::ess_quantile(d, 0.1), want("ess_quantile10"), tol));
    CHECK(close_rel(detail::ess_quantile(d, 0.3), want("ess_quantile30"), tol));
    CHECK(close_rel(detail::mcse_mean(d), want("mcse_mean"), tol));
    // posterior's rhat_basic(x, split = FALSE) and ess_basic(x, split = FALSE).
    CHECK(close_rel(detail::rhat_raw(detail::columns(d)), want("rhat_raw"), tol));
    CHECK(close_rel(detail::ess_raw(detail::columns(d)), want("ess_raw"), tol));
  }
}

TEST_CASE("diagnostics by hand") {
  // Chains {1,2,3,4} and {2,3,4,5}: W = 5/3, B = 4 var(2.5, 3.5) = 2, R-hat = sqrt((B/W + 3) / 4).
  std::vector<double> x = {1, 2, 3, 4, 2, 3, 4, 5};
  Draws d{x.data(), 2, 4, 4, 1};
  CHECK(detail::rhat_raw(detail::columns(d)) == doctest::Approx(std::sqrt(1.05)).epsilon(1e-14));
  // Type-7 quantiles over all 8 draws (sorted 1 2 2 3 3 4 4 5).
  CHECK(quantile(d, 0.5) == 3.0);
  CHECK(quantile(d, 0.05) == doctest::Approx(1.35).epsilon(1e-14));  // 1 + 0.35 (2 - 1)
  CHECK(quantile(d, 1.0) == 5.0);
  // Average ranks for ties, then Blom's offset: the two 2s share rank 2.5.
  auto z = detail::z_scale(detail::columns(d));
  CHECK(z[0][1] == doctest::Approx(detail::normal_quantile((2.5 - 0.375) / (8 + 0.25))).epsilon(1e-15));
  CHECK(z[0][1] == z[1][0]);
  // Split drops the middle draw of an odd chain.
  auto s = detail::split_chains({{1, 2, 3, 4, 5}});
  REQUIRE(s.size() == 2);
  CHECK(s[0] == std::vector<double>{1, 2});
  CHECK(s[1] == std::vector<double>{4, 5});
  // AS241 against known quantiles.
  CHECK(detail::normal_quantile(0.975) == doctest::Approx(1.959963984540054).epsilon(1e-15));
  CHECK(detail::normal_quantile(1e-10) == doctest::Approx(-6.361340902404056).epsilon(1e-14));
  CHECK(detail::normal_quantile(0.5) == 0.0);
  // Constant or non-finite draws give NaN, as posterior's NA.
  std::vector<double> c(20, 1.0);
  Draws dc{c.data(), 2, 10, 10, 1};
  CHECK(std::isnan(rhat(dc)));
  CHECK(std::isnan(ess_bulk(dc)));
  c[3] = NAN;
  CHECK(std::isnan(ess_tail(dc)));
}

// iid, shifted and AR(1) chains from the runtime's Philox stream.
Sample ar1(int64_t chains, int64_t n, double phi, double shift_per_chain, uint64_t seed) {
  detail::Rng rng(seed, 0, 7);
  Sample s{{}, chains, n};
  for (int64_t c = 0; c < chains; ++c) {
    double v = rng.normal() / std::sqrt(1 - phi * phi);
    for (int64_t i = 0; i < n; ++i) {
      v = phi * v + rng.normal();
      s.x.push_back(v + shift_per_chain * static_cast<double>(c));
    }
  }
  return s;
}

TEST_CASE("diagnostics properties") {
  Sample iid = ar1(4, 1000, 0.0, 0.0, 1);
  Draws d = iid.draws_view();
  CHECK(rhat(d) < 1.01);
  CHECK(ess_bulk(d) > 3400);
  CHECK(ess_bulk(d) < 4600);
  CHECK(ess_tail(d) > 3000);
  Sample apart = ar1(4, 1000, 0.0, 1.0, 2);
  CHECK(rhat(apart.draws_view()) > 1.5);
  // AR(1): ESS = n (1 - phi) / (1 + phi).
  for (double phi : {0.5, 0.9}) {
    Sample a = ar1(4, 5000, phi, 0.0, 3);
    double expect = 20000 * (1 - phi) / (1 + phi);
    CAPTURE(phi);
    CHECK(ess_basic(a.draws_view()) == doctest::Approx(expect).epsilon(0.15));
    CHECK(ess_bulk(a.draws_view()) == doctest::Approx(expect).epsilon(0.15));
  }
  // Antithetic chains are capped at n log10(n).
  Sample anti = ar1(1, 1000, -0.9, 0.0, 4);
  CHECK(ess_basic(anti.draws_view()) <= 1000 * std::log10(1000.0) + 1e-9);
}

TEST_CASE("diagnostics are fast: 10k draws x 100 quantities") {
  std::vector<Sample> params;
  for (int p = 0; p < 100; ++p) params.push_back(ar1(4, 2500, 0.3, 0.0, 100 + static_cast<uint64_t>(p)));
  auto t0 = std::chrono::steady_clock::now();
  double sum = 0;
  for (const Sample& s : params) sum += rhat(s.draws_view()) + ess_bulk(s.draws_view()) + ess_tail(s.draws_view());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("rhat + ess_bulk + ess_tail of 100 x 10000 draws: " << seconds << " s");
  CHECK(std::isfinite(sum));
  CHECK(seconds < 3.0);  // about 0.5 s on the 2-core VM; generous for a loaded machine
}

}  // namespace
