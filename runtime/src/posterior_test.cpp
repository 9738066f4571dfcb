// Tests for the Posterior: statistics per field, the summary table (golden), Stan CSV layout and
// the .npz archive read back through the runtime's own loader.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "inference.h"
#include "tessera/runtime.h"

namespace {

using namespace tessera::rt::infer;

// 2 chains x 6 draws of b (scalar) and w (shape [2]), with NUTS statistics.
Posterior tiny() {
  Posterior p({Field{"b", {}, 0}, Field{"w", {2}, 1}}, 2, 6);
  const double b[12] = {0.5, 1.5, -0.25, 2.0, 1.0, 0.75, 1.25, 0.0, 1.75, 0.5, -0.5, 1.0};
  for (int r = 0; r < 12; ++r) {
    double* row = &p.values()[static_cast<size_t>(r) * 3];
    row[0] = b[r];
    row[1] = r * 0.1;
    row[2] = (r % 3) - 1.0;
  }
  NutsResult res;
  NutsConfig cfg;
  cfg.num_warmup = 10;
  cfg.num_samples = 6;
  cfg.chains = 2;
  cfg.seed = 9;
  for (int c = 0; c < 2; ++c) {
    ChainResult ch;
    for (int d = 0; d < 6; ++d) {
      ch.lp.push_back(-1.0 - 0.1 * d - c);
      ch.accept_stat.push_back(0.9);
      ch.tree_depth.push_back(d == 5 && c == 1 ? 10 : 2);
      ch.n_leapfrog.push_back(3);
      ch.divergent.push_back(d == 2 && c == 0 ? 1 : 0);
      ch.energy.push_back(2.0 + d);
    }
    ch.step_size = 0.5 + c;
    ch.inv_metric = {1.0, 0.25, 4.0};
    ch.max_depth_hits = c;
    ch.warmup_seconds = 0.25 + c;
    ch.sampling_seconds = 0.5 + 2 * c;
    res.chains.push_back(ch);
  }
  res.wall_seconds = 4.5;
  p.set_sampler_stats(res, cfg);
  return p;
}

TEST_CASE("posterior: statistics per field") {
  Posterior p = tiny();
  CHECK(p.width() == 3);
  const Field* w = p.find("w");
  REQUIRE(w != nullptr);
  CHECK(w->size() == 2);
  CHECK(p.find("nope") == nullptr);
  // w[0] = 0.1 r for r = 0..11: mean 0.55, sd 0.1 sqrt(13) ; type-7 quantiles.
  CHECK(p.mean(*w)[0] == doctest::Approx(0.55).epsilon(1e-14));
  CHECK(p.sd(*w)[0] == doctest::Approx(0.1 * std::sqrt(13.0)).epsilon(1e-14));
  CHECK(p.quantile(*w, 0.5)[0] == doctest::Approx(0.55).epsilon(1e-14));
  CHECK(p.quantile(*w, 0.05)[0] == doctest::Approx(0.055).epsilon(1e-12));
  CHECK(p.mean(*w)[1] == doctest::Approx(0.0).scale(1));
  CHECK(p.divergences == 1);
  CHECK(p.max_depth_hits == 1);
  CHECK(p.method == "NUTS");
  CHECK(p.stat_names.size() == 7);
  CHECK(p.stats[7 * 6 + 2] == 1.5);  // chain 1's stepsize__
  CHECK(p.warmup_seconds == std::vector<double>{0.25, 1.25});
  CHECK(p.sampling_seconds == std::vector<double>{0.5, 2.5});
  CHECK(p.wall_seconds == 4.5);
  // Chains that disagree in location have R-hat > 1.
  CHECK(p.rhat(*w)[0] > 1.5);
  CHECK(p.ess(*w)[0] > 0);
}

TEST_CASE("posterior: summary table") {
  const std::string expect =
      "NUTS: 2 chains, 6 draws each (12 in all)\n"
      "\n"
      "           Mean       MCSE     StdDev         5%        50%        95%  ESS_bulk  ESS_tail  R_hat\n"
      "lp__      -1.75       0.23     0.5519     -2.445      -1.75     -1.055         6         6  3.065\n"
      "b        0.7917       0.32     0.7821    -0.3625      0.875      1.862         6         6  0.992\n"
      "w[0]       0.55       0.15     0.3606      0.055       0.55      1.045         6         6  3.065\n"
      "w[1]          0       0.35     0.8528         -1          0          1         6         6  0.816\n"
      "\n"
      "1 divergent transition, 1 transition at max_tree_depth (10)\n"
      "Elapsed Time: 1.5 seconds (Warm-up), 3 seconds (Sampling), 4.5 seconds (Total) over 2 chains; 4.5 seconds wall\n";
  // Hand-checked: b's mean 9.5 / 12, median (0.75 + 1) / 2, 5% -0.5 + 0.55 x 0.25; with 3 draws
  // per split chain Geyer's sequence stops at once (tau = 2), so every ESS is 12 / 2.
  CHECK(tiny().summary() == expect);
}

TEST_CASE("posterior: Stan CSV") {
  Posterior p = tiny();
  std::string path = (std::filesystem::temp_directory_path() / "tessera_posterior_test.csv").string();
  REQUIRE(p.write_stan_csv(path) == "");
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::remove(path.c_str());
  // The column header is the first line that is not a comment; CmdStan's names, 1-based.
  size_t h = 0;
  while (h < lines.size() && lines[h].rfind("#", 0) == 0) ++h;
  REQUIRE(h < lines.size());
  CHECK(lines[0] == "# model = tessera_model");
  CHECK(lines[1] == "# method = sample (Default)");
  CHECK(std::find(lines.begin(), lines.end(), "#     num_warmup = 10") != lines.end());
  CHECK(std::find(lines.begin(), lines.end(), "#         engine = nuts") != lines.end());
  CHECK(lines[h] == "lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,b,w.1,w.2");
  CHECK(lines[h + 1] == "# chain = 1");
  CHECK(lines[h + 2] == "# Adaptation terminated");
  CHECK(lines[h + 3] == "# Step size = 0.5");
  CHECK(lines[h + 4] == "# Diagonal elements of inverse mass matrix:");
  CHECK(lines[h + 5] == "# 1, 0.25, 4");
  CHECK(lines[h + 6] == "-1,0.9,0.5,2,3,0,2,0.5,0,-1");
  CHECK(lines[h + 8] == "-1.2,0.9,0.5,2,3,1,4,-0.25,0.2,1");
  // 12 draws, each chain after its own comment block.
  int data = 0;
  for (size_t i = h + 1; i < lines.size(); ++i) data += lines[i].rfind("#", 0) == 0 ? 0 : 1;
  CHECK(data == 12);
  CHECK(std::find(lines.begin(), lines.end(), "# chain = 2") != lines.end());
  // After each chain's rows, CmdStan's elapsed time (write_timing): chain 1 first, then chain 2
  // at the end of the file.
  CHECK(lines[h + 12] == "# ");
  CHECK(lines[h + 13] == "#  Elapsed Time: 0.25 seconds (Warm-up)");
  CHECK(lines[h + 14] == "#                0.5 seconds (Sampling)");
  CHECK(lines[h + 15] == "#                0.75 seconds (Total)");
  CHECK(lines[h + 16] == "# ");
  CHECK(lines[h + 17] == "# chain = 2");
  REQUIRE(lines.size() >= 4);
  CHECK(lines[lines.size() - 4] == "#  Elapsed Time: 1.25 seconds (Warm-up)");
  CHECK(lines[lines.size() - 3] == "#                2.5 seconds (Sampling)");
  CHECK(lines[lines.size() - 2] == "#                3.75 seconds (Total)");
  CHECK(lines.back() == "# ");
  CHECK(p.write_stan_csv("/nonexistent-dir/x.csv").find("cannot open") != std::string::npos);
}

TEST_CASE("posterior: npz") {
  Posterior p = tiny();
  std::string path = (std::filesystem::temp_directory_path() / "tessera_posterior_test.npz").string();
  REQUIRE(p.write_npz(path) == "");
  tessNpz_t npz;
  REQUIRE(tessNpzLoad(path.c_str(), &npz) == TESS_SUCCESS);
  size_t count = 0;
  REQUIRE(tessNpzCount(npz, &count) == TESS_SUCCESS);
  CHECK(count == 2 + 7 + 2);
  tessTensor w;
  REQUIRE(tessNpzGet(npz, "w", &w) == TESS_SUCCESS);
  CHECK(w.dtype == TESS_F64);
  REQUIRE(w.rank == 3);
  CHECK(w.shape[0] == 2);
  CHECK(w.shape[1] == 6);
  CHECK(w.shape[2] == 2);
  const double* wd = static_cast<const double*>(w.data);
  CHECK(wd[(1 * 6 + 2) * 2 + 0] == p.values()[(1 * 6 + 2) * 3 + 1]);
  tessTensor b, lp;
  REQUIRE(tessNpzGet(npz, "b", &b) == TESS_SUCCESS);
  CHECK(b.rank == 2);
  REQUIRE(tessNpzGet(npz, "divergent__", &lp) == TESS_SUCCESS);
  CHECK(static_cast<const double*>(lp.data)[2] == 1.0);
  // Each chain's seconds, [chains].
  tessTensor warm, samp;
  REQUIRE(tessNpzGet(npz, "warmup_seconds__", &warm) == TESS_SUCCESS);
  REQUIRE(tessNpzGet(npz, "sampling_seconds__", &samp) == TESS_SUCCESS);
  REQUIRE(warm.rank == 1);
  CHECK(warm.shape[0] == 2);
  CHECK(static_cast<const double*>(warm.data)[1] == 1.25);
  REQUIRE(samp.rank == 1);
  CHECK(static_cast<const double*>(samp.data)[0] == 0.5);
  tessNpzFree(npz);
  std::remove(path.c_str());
}

TEST_CASE("posterior: ADVI-style posterior has no statistics and terminal_progress is quiet off a tty") {
  Posterior p({Field{"x", {}, 0}}, 1, 4);
  p.values() = {1, 2, 3, 4};
  p.method = "ADVI (mean-field)";
  std::string s = p.summary();
  CHECK(s.rfind("ADVI (mean-field): 1 chain, 4 draws each (4 in all)\n", 0) == 0);
  CHECK(s.find("divergent") == std::string::npos);
  CHECK(s.find("Elapsed Time") == std::string::npos);
  auto progress = terminal_progress("NUTS", 2);
  REQUIRE(progress);
  progress(Progress{0, 1, 10, true, 0, false});  // prints only when stderr is a terminal
}

}  // namespace
