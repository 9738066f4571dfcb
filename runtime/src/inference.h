// The inference engines behind `@tessera.mcmc` and `@tessera.variational`, and the Posterior
// they produce (docs/inference.md). They know nothing of the compiler: a model reaches them as
// a log density over an unconstrained parameter vector with its gradient (compiled code, or a
// C++ function in the tests), and the Posterior's columns are whatever the caller maps each
// unconstrained draw to.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tessera::rt::infer {

// log p(theta) up to a constant, over the unconstrained vector theta[dim]; writes the gradient
// into grad[dim]. A non-finite value (NaN, -inf) rejects the point. Called from several threads
// at once (one chain per thread), so it must be reentrant.
using LogDensity = std::function<double(const double* theta, double* grad)>;

// What a progress line shows; the engines call NutsConfig::progress / AdviConfig::progress
// with it (about every 1% of the iterations, and at the end).
struct Progress {
  int64_t chain = 0;
  int64_t iteration = 0;  // 1-based, warm-up included
  int64_t total = 0;
  bool warmup = false;
  int64_t divergences = 0;
  bool done = false;
};

struct NutsConfig {
  bool nuts = true;  // false: static HMC with `hmc_num_steps` leapfrog steps
  int64_t hmc_num_steps = 16;
  int64_t num_warmup = 1000;
  int64_t num_samples = 1000;
  int64_t chains = 4;
  uint64_t seed = 0;
  int max_tree_depth = 10;
  double target_accept = 0.8;  // dual averaging's delta
  double init_radius = 2.0;    // initial points uniform in (-r, r), as Stan; 0: all zeros
  double init_step_size = 1.0;
  bool adapt_metric = true;  // diagonal inverse metric, Stan's windows (75 / 25 / doubling slow windows)
  // Chains run in parallel on the runtime's thread pool; results do not depend on the number
  // of threads.
  std::function<void(const Progress&)> progress;
};

// One chain's post-warm-up draws and the sampler's statistics per draw (Stan's names).
struct ChainResult {
  std::vector<double> draws;        // num_samples x dim, unconstrained, row-major
  std::vector<double> lp;           // lp__
  std::vector<double> accept_stat;  // accept_stat__
  std::vector<int32_t> tree_depth;  // treedepth__
  std::vector<int32_t> n_leapfrog;  // n_leapfrog__
  std::vector<uint8_t> divergent;   // divergent__
  std::vector<double> energy;       // energy__
  double step_size = 0;             // after adaptation
  std::vector<double> inv_metric;   // diagonal, dim
  int64_t warmup_divergences = 0;
  int64_t max_depth_hits = 0;  // post-warm-up transitions that stopped at max_tree_depth
  // Wall time (steady_clock) of this chain's warm-up and sampling iterations, as CmdStan's
  // "Elapsed Time": initialization and the first step-size search are in neither.
  double warmup_seconds = 0, sampling_seconds = 0;
};

struct NutsResult {
  std::vector<ChainResult> chains;
  // Empty on success. Otherwise why sampling could not start, e.g. "the log density is not
  // finite at any of 100 initial points" (chain, last value seen).
  std::string error;
  // Wall time of the whole call (all chains, parallel or one after another).
  double wall_seconds = 0;
};

NutsResult sample_nuts(const LogDensity& f, int64_t dim, const NutsConfig& config);

struct AdviConfig {
  bool fullrank = false;  // mean-field (diagonal Gaussian) by default
  int64_t grad_samples = 1;    // Monte Carlo draws per gradient (@elbo(n_samples=))
  int64_t elbo_samples = 100;  // draws per ELBO estimate
  int64_t eval_elbo = 100;     // iterations between ELBO estimates
  int64_t max_iterations = 10000;
  double tol_rel_obj = 0.01;  // Stan's relative-ELBO convergence rule (plus a settled-average check)
  double eta = 0;             // Adam's learning rate; 0: search over {1, 0.3, 0.1, 0.03, 0.01}
  int64_t adapt_iterations = 50;  // Adam steps per candidate of the search
  int64_t output_samples = 1000;  // draws from the fitted approximation
  uint64_t seed = 0;
  double init_radius = 2.0;  // the initial mean, as NutsConfig::init_radius (Stan's ADVI does the same)
  std::function<void(const Progress&)> progress;
};

struct AdviResult {
  // The average of Adam's iterates (docs/inference.md, "ADVI").
  std::vector<double> mean;        // dim, unconstrained
  std::vector<double> scale_tril;  // dim x dim lower-triangular (mean-field: diagonal)
  std::vector<double> draws;       // output_samples x dim, unconstrained
  std::vector<double> elbo;        // each estimate, in order
  int64_t iterations = 0;
  bool converged = false;
  double eta = 0;  // Adam's initial learning rate (given or found by the search)
  std::string error;
};

AdviResult fit_advi(const LogDensity& f, int64_t dim, const AdviConfig& config);

// Diagnostics of one scalar quantity over chains x draws (x[c * stride_chain + d * stride_draw]),
// as Stan 2.2x / ArviZ / R `posterior` compute them (Vehtari et al. 2021, rank-normalized,
// split chains).
struct Draws {
  const double* x;
  int64_t chains, draws;
  int64_t stride_chain, stride_draw;
  double at(int64_t c, int64_t d) const { return x[c * stride_chain + d * stride_draw]; }
};
double rhat(const Draws& d);      // max of the rank-normalized bulk and folded (tail) split R-hat
double ess_bulk(const Draws& d);  // rank-normalized split ESS
double ess_tail(const Draws& d);  // min of the ESS of the 5% and 95% quantile indicators
double ess_basic(const Draws& d);  // split ESS without rank normalization (Geyer's initial monotone sequence)
double quantile(const Draws& d, double q);  // type-7 quantile (NumPy's default) over all draws

// Draws of named tensor-valued quantities (the fields of `Posterior(w=w, ...)`), flattened per
// draw into columns, with the sampler's statistics.
struct Field {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // first column
  int64_t size() const;
};

class Posterior {
 public:
  Posterior(std::vector<Field> fields, int64_t chains, int64_t draws);
  const std::vector<Field>& fields() const { return fields_; }
  const Field* find(const std::string& name) const;
  int64_t chains() const { return chains_; }
  int64_t draws() const { return draws_; }
  int64_t width() const { return width_; }
  // values()[(chain * draws + draw) * width + column]
  std::vector<double>& values() { return values_; }
  const std::vector<double>& values() const { return values_; }
  Draws column(int64_t c) const;

  // Sampler statistics per chain and draw (empty for ADVI): lp__ accept_stat__ stepsize__
  // treedepth__ n_leapfrog__ divergent__ energy__, in that order.
  std::vector<std::string> stat_names;
  std::vector<double> stats;  // (chain * draws + draw) * stat_names.size() + k
  std::string method;         // "NUTS", "HMC", "ADVI (mean-field)", ...
  int64_t divergences = 0;
  int64_t max_depth_hits = 0;
  int max_tree_depth = 0;
  // For the Stan CSV header (optional): the run's settings and each chain's adaptation.
  int64_t num_warmup = 0;
  uint64_t seed = 0;
  std::vector<double> step_sizes;                // per chain
  std::vector<std::vector<double>> inv_metrics;  // per chain, diagonal, unconstrained
  // Per chain: seconds of warm-up and of sampling (ChainResult); and the run's wall time.
  // Empty / 0 when unknown (ADVI, a Posterior built by hand).
  std::vector<double> warmup_seconds, sampling_seconds;
  double wall_seconds = 0;
  // The draws on the unconstrained scale (rows of theta_dim, in the order of values()), for
  // predictions at new inputs. Empty for a Posterior built by hand.
  std::vector<double> theta;
  int64_t theta_dim = 0;

  // Fills stat_names, stats, method, divergences, max_depth_hits, max_tree_depth and the fields
  // above (timings included) from a NUTS/HMC run (draws of the Posterior must equal config.num_samples).
  void set_sampler_stats(const NutsResult& result, const NutsConfig& config);

  // Per column, in the field's row-major order.
  std::vector<double> mean(const Field& f) const;
  std::vector<double> sd(const Field& f) const;
  std::vector<double> quantile(const Field& f, double q) const;
  std::vector<double> rhat(const Field& f) const;
  std::vector<double> ess(const Field& f) const;  // bulk ESS

  // A table like CmdStan's stansummary: one row per scalar ("w[0]", "b", "L[1,0]"): Mean MCSE
  // StdDev 5% 50% 95% N_Eff(bulk) N_Eff/s? (no) ESS_tail R_hat; then divergences and tree-depth
  // hits, and the elapsed time (warm-up and sampling summed over chains, and the wall time)
  // when it is known.
  std::string summary() const;
  // Stan CSV: comment header (method, draws, adaptation), the column header (stat names, then
  // "w.1" style 1-based names as CmdStan writes them), one line per draw, chains one after
  // the other, and a "# chain = k" comment before each chain's rows. Returns "" or an error.
  std::string write_stan_csv(const std::string& path) const;
  // .npz: one member per field, shape [chains, draws, *field shape], f64; plus the statistics,
  // and warmup_seconds__ / sampling_seconds__ (shape [chains]) when the timings are known.
  std::string write_npz(const std::string& path) const;
  // A trace plot (SVG): one panel per scalar of the named fields (all fields when empty), one
  // line per chain. Returns "" or an error.
  std::string write_trace_svg(const std::string& path, const std::vector<std::string>& names) const;

 private:
  std::vector<Field> fields_;
  int64_t chains_, draws_, width_;
  std::vector<double> values_;
};

// A progress printer for stderr: one line rewritten in place ("\r"), only when stderr is a
// terminal; a no-op function otherwise.
std::function<void(const Progress&)> terminal_progress(const std::string& what, int64_t chains);

}  // namespace tessera::rt::infer
