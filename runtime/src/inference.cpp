// NUTS and static HMC with Stan's warm-up (docs/inference.md). The sampler follows Stan 2.2x's
// base_nuts / base_static_hmc / adapt_diag_e_* line by line where it matters for the draws:
// multinomial sampling with biased progressive sampling between subtrees, the generalized
// no-U-turn criterion on the summed momentum with the extra checks across merged subtrees (2.23),
// the step-size heuristic, dual averaging and the windowed variance adaptation.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <limits>
#include <mutex>
#include <stdexcept>

#include "inference_internal.h"
#include "tessera/runtime.h"

namespace tessera::rt::infer {
namespace detail {

void Rng::refill() {
  const uint32_t key[2] = {static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32)};
  const uint32_t ctr[4] = {static_cast<uint32_t>(counter_), static_cast<uint32_t>(counter_ >> 32), chain_, tag_};
  tessPhilox4x32_10(ctr, key, words_);
  ++counter_;
  pos_ = 0;
}

double Rng::normal() {
  if (have_spare_) {
    have_spare_ = false;
    return spare_;
  }
  double u1 = 1.0 - uniform();  // in (0, 1]: safe for log
  double u2 = uniform();
  double r = std::sqrt(-2.0 * std::log(u1)), theta = 6.283185307179586476925286766559 * u2;
  spare_ = r * std::sin(theta);
  have_spare_ = true;
  return r * std::cos(theta);
}

std::string initialize(const LogDensity& f, int64_t dim, double radius, Rng& rng, std::vector<double>& theta) {
  theta.assign(static_cast<size_t>(dim), 0.0);
  std::vector<double> grad(static_cast<size_t>(dim));
  const int tries = radius > 0 ? 100 : 1;
  double last = 0;
  bool grad_bad = false;
  for (int attempt = 0; attempt < tries; ++attempt) {
    if (radius > 0) {
      for (double& v : theta) v = radius * (2 * rng.uniform() - 1);
    }
    last = f(theta.data(), grad.data());
    grad_bad = !std::all_of(grad.begin(), grad.end(), [](double g) { return std::isfinite(g); });
    if (std::isfinite(last) && !grad_bad) return "";
  }
  char buf[256];
  const char* what = std::isfinite(last) ? "its gradient is" : "the log density is";
  if (radius > 0) {
    std::snprintf(buf, sizeof buf, "%s not finite at any of 100 initial points drawn uniformly from (-%g, %g) "
                  "(the last log density was %g)", what, radius, radius, last);
  } else {
    std::snprintf(buf, sizeof buf, "%s not finite at the initial point 0 (log density %g)", what, last);
  }
  return buf;
}

namespace {
struct ChainLoop {
  const std::function<void(int64_t)>* body;
  std::mutex mutex;
  std::exception_ptr error;
  int64_t error_index = -1;
  static void run(int64_t lo, int64_t hi, void* data) {
    auto* loop = static_cast<ChainLoop*>(data);
    for (int64_t i = lo; i < hi; ++i) {
      // No exception may leave a loop body of the pool: keep the lowest chain's and rethrow it.
      try {
        (*loop->body)(i);
      } catch (...) {
        std::lock_guard lock(loop->mutex);
        if (loop->error_index < 0 || i < loop->error_index) {
          loop->error = std::current_exception();
          loop->error_index = i;
        }
      }
    }
  }
};
}  // namespace

void parallel_chains(int64_t n, const std::function<void(int64_t)>& body) {
  ChainLoop loop{&body, {}, {}, -1};
  tessStatus_t status = tessParallelFor(nullptr, 0, n, 1, &ChainLoop::run, &loop);
  if (loop.error) std::rethrow_exception(loop.error);
  if (status != TESS_SUCCESS) throw std::runtime_error(tessGetLastErrorMessage());
}

namespace {
std::mutex g_progress_mutex;
}

ProgressReporter::ProgressReporter(const std::function<void(const Progress&)>& callback, int64_t total)
    : callback_(callback), total_(total), every_(std::max<int64_t>(1, total / 100)) {}

void ProgressReporter::update(int64_t chain, int64_t iteration, bool warmup, int64_t divergences) {
  if (!callback_ || iteration % every_ != 0 || iteration == total_) return;
  Progress p{chain, iteration, total_, warmup, divergences, false};
  std::lock_guard lock(g_progress_mutex);
  callback_(p);
}

void ProgressReporter::done(int64_t chain, int64_t divergences) {
  if (!callback_) return;
  Progress p{chain, total_, total_, false, divergences, true};
  std::lock_guard lock(g_progress_mutex);
  callback_(p);
}

}  // namespace detail

namespace {

using detail::Rng;
using Vec = std::vector<double>;
constexpr double kInf = std::numeric_limits<double>::infinity();

double log_sum_exp(double a, double b) {
  if (a == -kInf) return b;
  if (b == -kInf) return a;
  double m = std::max(a, b);
  return m + std::log(std::exp(a - m) + std::exp(b - m));
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// A point in phase space: position, momentum, the potential V = -log p and its gradient.
struct PhasePoint {
  Vec q, p, g;
  double V = 0;
};

// Stan's dual averaging of log(step size) (stepsize_adaptation.hpp).
struct DualAveraging {
  double mu = 0, delta = 0.8, gamma = 0.05, kappa = 0.75, t0 = 10;
  double counter = 0, s_bar = 0, x_bar = 0;
  void restart() { counter = s_bar = x_bar = 0; }
  void learn(double& epsilon, double adapt_stat) {
    ++counter;
    adapt_stat = std::min(adapt_stat, 1.0);
    double eta = 1.0 / (counter + t0);
    s_bar = (1.0 - eta) * s_bar + eta * (delta - adapt_stat);
    double x = mu - s_bar * std::sqrt(counter) / gamma;
    double x_eta = std::pow(counter, -kappa);
    x_bar = (1.0 - x_eta) * x_bar + x_eta * x;
    epsilon = std::exp(x);
  }
};

// Stan's windowed_adaptation + var_adaptation: an initial fast buffer, slow windows that
// double, a terminal fast buffer; Welford variance per slow window, regularized toward 1e-3.
struct VarianceAdaptation {
  int64_t num_warmup = 0, init_buffer = 0, term_buffer = 0, base_window = 0;
  int64_t counter = 0, window_size = 0, next_window = 0;
  // Welford
  int64_t n = 0;
  Vec m, m2;

  void set_windows(int64_t warmup, int64_t dim) {
    m.assign(static_cast<size_t>(dim), 0.0);
    m2.assign(static_cast<size_t>(dim), 0.0);
    if (warmup < 20) {  // Stan: "No adaptation will be performed"; the windows below stay empty
      num_warmup = 0;
      next_window = -1;
      return;
    }
    num_warmup = warmup;
    if (75 + 25 + 50 > warmup) {
      // Stan's fallback: 15% / 75% / 10%, truncated to whole iterations.
      init_buffer = static_cast<int64_t>(0.15 * static_cast<double>(warmup));
      term_buffer = static_cast<int64_t>(0.1 * static_cast<double>(warmup));
      base_window = warmup - (init_buffer + term_buffer);
    } else {
      init_buffer = 75;
      term_buffer = 50;
      base_window = 25;
    }
    counter = 0;
    window_size = base_window;
    next_window = init_buffer + window_size - 1;
  }
  bool in_window() const {
    return num_warmup > 0 && counter >= init_buffer && counter < num_warmup - term_buffer && counter != num_warmup;
  }
  bool end_window() const { return num_warmup > 0 && counter == next_window && counter != num_warmup; }
  void compute_next_window() {
    if (next_window == num_warmup - term_buffer - 1) return;
    window_size *= 2;
    next_window = counter + window_size;
    if (next_window != num_warmup - term_buffer - 1) {
      // The boundary of the window after this one: if it would not fit, stretch this one.
      int64_t next_boundary = next_window + 2 * window_size;
      if (next_boundary >= num_warmup - term_buffer) next_window = num_warmup - term_buffer - 1;
    }
  }
  // Returns true when a window closed and inv_metric was updated.
  bool learn(Vec& inv_metric, const Vec& q) {
    if (in_window()) {
      ++n;
      for (size_t i = 0; i < q.size(); ++i) {
        double d = q[i] - m[i];
        m[i] += d / static_cast<double>(n);
        m2[i] += d * (q[i] - m[i]);
      }
    }
    if (end_window()) {
      compute_next_window();
      double dn = static_cast<double>(n);
      for (size_t i = 0; i < q.size(); ++i) {
        // Stan's Welford estimator leaves the variance as it was when it has fewer than 2 draws.
        double var = n > 1 ? m2[i] / (dn - 1) : inv_metric[i];
        inv_metric[i] = (dn / (dn + 5.0)) * var + 1e-3 * (5.0 / (dn + 5.0));
        if (!std::isfinite(inv_metric[i])) throw std::runtime_error("numerical overflow in the metric adaptation");
      }
      n = 0;
      std::fill(m.begin(), m.end(), 0.0);
      std::fill(m2.begin(), m2.end(), 0.0);
      ++counter;
      return true;
    }
    ++counter;
    return false;
  }
};

class Sampler {
 public:
  Sampler(const LogDensity& f, int64_t dim, const NutsConfig& config, Rng& rng)
      : inv_metric_(static_cast<size_t>(dim), 1.0), f_(f), dim_(static_cast<size_t>(dim)), config_(config), rng_(rng) {
    z_.q.assign(dim_, 0.0);
    z_.p.assign(dim_, 0.0);
    z_.g.assign(dim_, 0.0);
  }

  PhasePoint z_;
  double epsilon_ = 1;
  Vec inv_metric_;
  // Statistics of the last transition.
  double accept_stat_ = 0, energy_ = 0;
  int depth_ = 0, n_leapfrog_ = 0;
  bool divergent_ = false;

  void update_potential(PhasePoint& z) {
    double lp = f_(z.q.data(), z.g.data());
    // Stan sets V to +inf when the log density fails; a NaN or infinite value rejects the point.
    z.V = std::isfinite(lp) ? -lp : kInf;
    for (double& g : z.g) g = -g;
  }
  void sample_p(PhasePoint& z) {
    for (size_t i = 0; i < dim_; ++i) z.p[i] = rng_.normal() / std::sqrt(inv_metric_[i]);
  }
  double tau(const PhasePoint& z) const {
    double s = 0;
    for (size_t i = 0; i < dim_; ++i) s += inv_metric_[i] * z.p[i] * z.p[i];
    return 0.5 * s;
  }
  double H(const PhasePoint& z) const { return tau(z) + z.V; }
  void dtau_dp(const PhasePoint& z, Vec& out) const {
    out.resize(dim_);
    for (size_t i = 0; i < dim_; ++i) out[i] = inv_metric_[i] * z.p[i];
  }
  // Stan's expl_leapfrog: half step in p, full step in q, half step in p.
  void leapfrog(PhasePoint& z, double eps) {
    for (size_t i = 0; i < dim_; ++i) z.p[i] -= 0.5 * eps * z.g[i];
    for (size_t i = 0; i < dim_; ++i) z.q[i] += eps * inv_metric_[i] * z.p[i];
    update_potential(z);
    for (size_t i = 0; i < dim_; ++i) z.p[i] -= 0.5 * eps * z.g[i];
  }
  static double finite_or_inf(double h) { return std::isnan(h) ? kInf : h; }

  // Stan's base_hmc::init_stepsize: double or halve until one leapfrog step crosses an
  // acceptance of 0.8.
  void init_stepsize() {
    PhasePoint z_init = z_;
    if (epsilon_ == 0 || epsilon_ > 1e7 || std::isnan(epsilon_)) return;
    sample_p(z_);
    double H0 = H(z_);
    leapfrog(z_, epsilon_);
    double delta_H = H0 - finite_or_inf(H(z_));
    int direction = delta_H > std::log(0.8) ? 1 : -1;
    for (;;) {
      z_ = z_init;
      sample_p(z_);
      H0 = H(z_);
      leapfrog(z_, epsilon_);
      delta_H = H0 - finite_or_inf(H(z_));
      if (direction == 1 && !(delta_H > std::log(0.8))) break;
      if (direction == -1 && !(delta_H < std::log(0.8))) break;
      epsilon_ = direction == 1 ? 2 * epsilon_ : 0.5 * epsilon_;
      if (epsilon_ > 1e7) throw std::runtime_error("the posterior is improper (the step size grew past 1e7)");
      if (epsilon_ == 0) {
        throw std::runtime_error("no acceptably small step size could be found; is the log density continuous?");
      }
    }
    z_ = z_init;
  }

  // The NUTS transition from the current z_.q (Stan's base_nuts::transition).
  void nuts_transition() {
    sample_p(z_);
    PhasePoint z_fwd = z_, z_bck = z_, z_sample = z_, z_propose = z_;
    Vec p_sharp_fwd_fwd;
    dtau_dp(z_, p_sharp_fwd_fwd);
    Vec p_fwd_fwd = z_.p, p_fwd_bck = z_.p, p_sharp_fwd_bck = p_sharp_fwd_fwd;
    Vec p_bck_fwd = z_.p, p_sharp_bck_fwd = p_sharp_fwd_fwd;
    Vec p_bck_bck = z_.p, p_sharp_bck_bck = p_sharp_fwd_fwd;
    Vec rho = z_.p;
    double log_sum_weight = 0;  // log(exp(H0 - H0))
    double H0 = H(z_);
    int n_leapfrog = 0;
    double sum_metro_prob = 0;
    depth_ = 0;
    divergent_ = false;
    Vec rho_fwd(dim_), rho_bck(dim_), rho_extended(dim_);
    while (depth_ < config_.max_tree_depth) {
      std::fill(rho_fwd.begin(), rho_fwd.end(), 0.0);
      std::fill(rho_bck.begin(), rho_bck.end(), 0.0);
      bool valid_subtree;
      double log_sum_weight_subtree = -kInf;
      if (rng_.uniform() > 0.5) {
        // Extend the trajectory forward.
        z_ = z_fwd;
        rho_bck = rho;
        p_bck_fwd = p_fwd_bck;
        p_sharp_bck_fwd = p_sharp_fwd_bck;
        valid_subtree = build_tree(depth_, z_propose, p_sharp_fwd_bck, p_sharp_fwd_fwd, rho_fwd, p_fwd_bck, p_fwd_fwd,
                                   H0, 1, n_leapfrog, log_sum_weight_subtree, sum_metro_prob);
        z_fwd = z_;
      } else {
        // Extend the trajectory backward.
        z_ = z_bck;
        rho_fwd = rho;
        p_fwd_bck = p_bck_fwd;
        p_sharp_fwd_bck = p_sharp_bck_fwd;
        valid_subtree = build_tree(depth_, z_propose, p_sharp_bck_fwd, p_sharp_bck_bck, rho_bck, p_bck_fwd, p_bck_bck,
                                   H0, -1, n_leapfrog, log_sum_weight_subtree, sum_metro_prob);
        z_bck = z_;
      }
      if (!valid_subtree) break;
      ++depth_;
      // Biased progressive sampling: the new subtree wins outright when it is heavier.
      if (log_sum_weight_subtree > log_sum_weight) {
        z_sample = z_propose;
      } else if (rng_.uniform() < std::exp(log_sum_weight_subtree - log_sum_weight)) {
        z_sample = z_propose;
      }
      log_sum_weight = log_sum_exp(log_sum_weight, log_sum_weight_subtree);
      for (size_t i = 0; i < dim_; ++i) rho[i] = rho_bck[i] + rho_fwd[i];
      // The criterion across the merged trajectory, and between its two halves (Stan 2.23).
      bool persist = criterion(p_sharp_bck_bck, p_sharp_fwd_fwd, rho);
      for (size_t i = 0; i < dim_; ++i) rho_extended[i] = rho_bck[i] + p_fwd_bck[i];
      persist = persist && criterion(p_sharp_bck_bck, p_sharp_fwd_bck, rho_extended);
      for (size_t i = 0; i < dim_; ++i) rho_extended[i] = rho_fwd[i] + p_bck_fwd[i];
      persist = persist && criterion(p_sharp_bck_fwd, p_sharp_fwd_fwd, rho_extended);
      if (!persist) break;
    }
    n_leapfrog_ = n_leapfrog;
    // The average acceptance over the whole trajectory, rejected subtrees included.
    accept_stat_ = sum_metro_prob / static_cast<double>(n_leapfrog);
    z_ = z_sample;
    energy_ = H(z_);
  }

  // Stan's base_static_hmc::transition with a fixed number of steps.
  void hmc_transition(int64_t steps) {
    sample_p(z_);
    PhasePoint z_init = z_;
    double H0 = H(z_);
    for (int64_t i = 0; i < steps; ++i) leapfrog(z_, epsilon_);
    double h = finite_or_inf(H(z_));
    double accept = std::exp(H0 - h);
    divergent_ = h - H0 > 1000;
    if (accept < 1 && rng_.uniform() > accept) z_ = z_init;
    accept_stat_ = std::min(accept, 1.0);
    depth_ = 0;
    n_leapfrog_ = static_cast<int>(steps);
    energy_ = H(z_);
  }

 private:
  static bool criterion(const Vec& p_sharp_minus, const Vec& p_sharp_plus, const Vec& rho) {
    return dot(p_sharp_plus, rho) > 0 && dot(p_sharp_minus, rho) > 0;
  }

  bool build_tree(int depth, PhasePoint& z_propose, Vec& p_sharp_beg, Vec& p_sharp_end, Vec& rho, Vec& p_beg,
                  Vec& p_end, double H0, double sign, int& n_leapfrog, double& log_sum_weight,
                  double& sum_metro_prob) {
    if (depth == 0) {
      leapfrog(z_, sign * epsilon_);
      ++n_leapfrog;
      double h = finite_or_inf(H(z_));
      if (h - H0 > 1000) divergent_ = true;
      log_sum_weight = log_sum_exp(log_sum_weight, H0 - h);
      sum_metro_prob += H0 - h > 0 ? 1 : std::exp(H0 - h);
      z_propose = z_;
      dtau_dp(z_, p_sharp_beg);
      p_sharp_end = p_sharp_beg;
      for (size_t i = 0; i < dim_; ++i) rho[i] += z_.p[i];
      p_beg = z_.p;
      p_end = p_beg;
      return !divergent_;
    }
    // The initial subtree.
    double log_sum_weight_init = -kInf;
    Vec p_init_end(dim_), p_sharp_init_end(dim_), rho_init(dim_, 0.0);
    if (!build_tree(depth - 1, z_propose, p_sharp_beg, p_sharp_init_end, rho_init, p_beg, p_init_end, H0, sign,
                    n_leapfrog, log_sum_weight_init, sum_metro_prob)) {
      return false;
    }
    // The final subtree.
    PhasePoint z_propose_final = z_;
    double log_sum_weight_final = -kInf;
    Vec p_final_beg(dim_), p_sharp_final_beg(dim_), rho_final(dim_, 0.0);
    if (!build_tree(depth - 1, z_propose_final, p_sharp_final_beg, p_sharp_end, rho_final, p_final_beg, p_end, H0, sign,
                    n_leapfrog, log_sum_weight_final, sum_metro_prob)) {
      return false;
    }
    // Multinomial sampling between the two halves (uniform progressive sampling inside a subtree).
    double log_sum_weight_subtree = log_sum_exp(log_sum_weight_init, log_sum_weight_final);
    log_sum_weight = log_sum_exp(log_sum_weight, log_sum_weight_subtree);
    if (log_sum_weight_final > log_sum_weight_subtree) {
      z_propose = z_propose_final;
    } else if (rng_.uniform() < std::exp(log_sum_weight_final - log_sum_weight_subtree)) {
      z_propose = z_propose_final;
    }
    Vec rho_subtree(dim_), rho_extended(dim_);
    for (size_t i = 0; i < dim_; ++i) {
      rho_subtree[i] = rho_init[i] + rho_final[i];
      rho[i] += rho_subtree[i];
    }
    bool persist = criterion(p_sharp_beg, p_sharp_end, rho_subtree);
    for (size_t i = 0; i < dim_; ++i) rho_extended[i] = rho_init[i] + p_final_beg[i];
    persist = persist && criterion(p_sharp_beg, p_sharp_final_beg, rho_extended);
    for (size_t i = 0; i < dim_; ++i) rho_extended[i] = rho_final[i] + p_init_end[i];
    persist = persist && criterion(p_sharp_init_end, p_sharp_end, rho_extended);
    return persist;
  }

  const LogDensity& f_;
  size_t dim_;
  const NutsConfig& config_;
  Rng& rng_;
};

// One chain: initialization, warm-up with adaptation, sampling. Returns "" or why it failed.
std::string run_chain(const LogDensity& f, int64_t dim, const NutsConfig& config, int64_t chain,
                      detail::ProgressReporter& progress, ChainResult& out) {
  Rng rng(config.seed, static_cast<uint64_t>(chain), detail::kTagNuts);
  Sampler s(f, dim, config, rng);
  if (std::string e = detail::initialize(f, dim, config.init_radius, rng, s.z_.q); !e.empty()) return e;
  s.update_potential(s.z_);
  s.epsilon_ = config.init_step_size;

  const bool adapt = config.num_warmup > 0;
  DualAveraging da;
  da.delta = config.target_accept;
  VarianceAdaptation va;
  va.set_windows(config.adapt_metric ? config.num_warmup : 0, dim);
  if (adapt) {
    s.init_stepsize();
    da.mu = std::log(10 * s.epsilon_);
    da.restart();
  }

  const int64_t total = config.num_warmup + config.num_samples, n = config.num_samples;
  const size_t d = static_cast<size_t>(dim);
  out.draws.assign(static_cast<size_t>(n) * d, 0.0);
  out.lp.assign(static_cast<size_t>(n), 0.0);
  out.accept_stat.assign(static_cast<size_t>(n), 0.0);
  out.tree_depth.assign(static_cast<size_t>(n), 0);
  out.n_leapfrog.assign(static_cast<size_t>(n), 0);
  out.divergent.assign(static_cast<size_t>(n), 0);
  out.energy.assign(static_cast<size_t>(n), 0.0);
  int64_t divergences = 0;
  // CmdStan's "Elapsed Time": the warm-up iterations, then the sampling ones (initialization and
  // the first step-size search are in neither).
  using Clock = std::chrono::steady_clock;
  const auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  Clock::time_point phase_start = Clock::now();
  for (int64_t it = 0; it < total; ++it) {
    const bool warmup = it < config.num_warmup;
    if (it == config.num_warmup) {
      out.warmup_seconds = seconds_since(phase_start);
      phase_start = Clock::now();
    }
    // After warm-up Stan samples with the dual-averaging iterate x-bar.
    if (adapt && it == config.num_warmup) s.epsilon_ = std::exp(da.x_bar);
    if (config.nuts) {
      s.nuts_transition();
    } else {
      s.hmc_transition(config.hmc_num_steps);
    }
    if (s.divergent_) ++divergences;
    if (warmup) {
      if (s.divergent_) ++out.warmup_divergences;
      da.learn(s.epsilon_, s.accept_stat_);
      if (config.adapt_metric && va.learn(s.inv_metric_, s.z_.q)) {
        s.init_stepsize();
        da.mu = std::log(10 * s.epsilon_);
        da.restart();
      }
    } else {
      size_t k = static_cast<size_t>(it - config.num_warmup);
      std::copy(s.z_.q.begin(), s.z_.q.end(), out.draws.begin() + static_cast<std::ptrdiff_t>(k * d));
      out.lp[k] = -s.z_.V;
      out.accept_stat[k] = s.accept_stat_;
      out.tree_depth[k] = s.depth_;
      out.n_leapfrog[k] = s.n_leapfrog_;
      out.divergent[k] = s.divergent_ ? 1 : 0;
      out.energy[k] = s.energy_;
      if (config.nuts && s.depth_ >= config.max_tree_depth) ++out.max_depth_hits;
    }
    progress.update(chain, it + 1, warmup, divergences);
  }
  if (config.num_samples > 0) {
    out.sampling_seconds = seconds_since(phase_start);
  } else {
    out.warmup_seconds = seconds_since(phase_start);
  }
  out.step_size = s.epsilon_;
  out.inv_metric = s.inv_metric_;
  progress.done(chain, divergences);
  return "";
}

}  // namespace

NutsResult sample_nuts(const LogDensity& f, int64_t dim, const NutsConfig& config) {
  NutsResult result;
  if (dim < 1) return NutsResult{{}, "the model has no parameters to sample (dimension 0)"};
  if (config.chains < 1 || config.num_samples < 0 || config.num_warmup < 0) {
    return NutsResult{{}, "chains must be >= 1 and num_samples, num_warmup >= 0"};
  }
  if (!config.nuts && config.hmc_num_steps < 1) return NutsResult{{}, "hmc_num_steps must be >= 1"};
  if (config.nuts && config.max_tree_depth < 1) return NutsResult{{}, "max_tree_depth must be >= 1"};
  if (!(config.target_accept > 0 && config.target_accept < 1)) return NutsResult{{}, "target_accept must be in (0, 1)"};
  if (!(config.init_step_size > 0) || !(config.init_radius >= 0)) {
    return NutsResult{{}, "init_step_size must be > 0 and init_radius >= 0"};
  }
  const auto start = std::chrono::steady_clock::now();
  result.chains.resize(static_cast<size_t>(config.chains));
  std::vector<std::string> errors(static_cast<size_t>(config.chains));
  detail::ProgressReporter progress(config.progress, config.num_warmup + config.num_samples);
  detail::parallel_chains(config.chains, [&](int64_t c) {
    size_t k = static_cast<size_t>(c);
    try {
      errors[k] = run_chain(f, dim, config, c, progress, result.chains[k]);
    } catch (const std::runtime_error& e) {
      errors[k] = e.what();
    }
  });
  for (size_t k = 0; k < errors.size(); ++k) {
    if (!errors[k].empty()) {
      result.error = "chain " + std::to_string(k) + ": " + errors[k];
      result.chains.clear();
      break;
    }
  }
  result.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace tessera::rt::infer
