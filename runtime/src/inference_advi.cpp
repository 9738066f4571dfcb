// ADVI (Kucukelbir et al. 2017) with Stan's families and gradients (stan/variational/advi.hpp,
// families/normal_meanfield.hpp and normal_fullrank.hpp): reparameterized Monte Carlo
// gradients of the ELBO plus the analytic entropy gradient and Stan's relative-ELBO
// convergence rule; but Adam with a learning-rate search, a decaying learning rate and an
// average of the iterates instead of Stan's step-size sequence, whose last iterate can stay
// several posterior sds off (docs/inference.md, "ADVI").
#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "inference_internal.h"

namespace tessera::rt::infer {
namespace {

using detail::Rng;
using Vec = std::vector<double>;

// Stan's std::domain_error inside ADVI: a gradient or ELBO that cannot be computed.
struct AdviFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The variational family's parameters as one flat vector, so that Stan's elementwise updates
// (square, sqrt, +=) apply to all of them: mu (dim), then omega = log sd (dim, mean-field) or
// the dim x dim row-major Cholesky factor L whose upper triangle stays 0 (full-rank).
struct Family {
  bool fullrank;
  size_t dim;
  Vec v;
  Family(bool fullrank, size_t dim) : fullrank(fullrank), dim(dim), v(dim + (fullrank ? dim * dim : dim), 0.0) {}
  // Stan's Q(cont_params): the given mean, unit scale.
  static Family at(bool fullrank, const Vec& mean) {
    Family q(fullrank, mean.size());
    std::copy(mean.begin(), mean.end(), q.v.begin());
    if (fullrank) {
      for (size_t i = 0; i < q.dim; ++i) q.L(i, i) = 1.0;
    }
    return q;
  }
  double& mu(size_t i) { return v[i]; }
  double mu(size_t i) const { return v[i]; }
  double& omega(size_t i) { return v[dim + i]; }
  double omega(size_t i) const { return v[dim + i]; }
  double& L(size_t i, size_t j) { return v[dim + i * dim + j]; }
  double L(size_t i, size_t j) const { return v[dim + i * dim + j]; }

  void transform(const Vec& eta, Vec& zeta) const {
    for (double x : v) {
      if (!std::isfinite(x)) throw AdviFailure("the variational parameters are not finite");
    }
    zeta.assign(dim, 0.0);
    for (size_t i = 0; i < dim; ++i) {
      if (fullrank) {
        double s = mu(i);
        for (size_t j = 0; j <= i; ++j) s += L(i, j) * eta[j];
        zeta[i] = s;
      } else {
        zeta[i] = eta[i] * std::exp(omega(i)) + mu(i);
      }
    }
  }
  void sample(Rng& rng, Vec& eta, Vec& zeta) const {
    eta.resize(dim);
    for (double& e : eta) e = rng.normal();
    transform(eta, zeta);
  }
  // KL(this || old), both Gaussians.
  double kl_from(const Family& old) const {
    double kl = -0.5 * static_cast<double>(dim);
    if (!fullrank) {
      for (size_t i = 0; i < dim; ++i) {
        double r = std::exp(omega(i) - old.omega(i)), z = (mu(i) - old.mu(i)) * std::exp(-old.omega(i));
        kl += old.omega(i) - omega(i) + 0.5 * (r * r + z * z);
      }
      return kl;
    }
    // tr(S_old^-1 S) = |L_old^-1 L|_F^2, the Mahalanobis term |L_old^-1 (mu - mu_old)|^2 and the
    // log-determinants, by forward substitution.
    Vec x(dim);
    for (size_t c = 0; c <= dim; ++c) {  // columns of L, then the mean difference
      for (size_t i = 0; i < dim; ++i) {
        double b = c < dim ? (i >= c ? L(i, c) : 0.0) : mu(i) - old.mu(i);
        for (size_t j = 0; j < i; ++j) b -= old.L(i, j) * x[j];
        x[i] = b / old.L(i, i);
        kl += 0.5 * x[i] * x[i];
      }
    }
    for (size_t i = 0; i < dim; ++i) kl += std::log(std::fabs(old.L(i, i))) - std::log(std::fabs(L(i, i)));
    return kl;
  }
  double entropy() const {
    double h = 0.5 * static_cast<double>(dim) * (1.0 + std::log(2 * M_PI));
    for (size_t i = 0; i < dim; ++i) h += fullrank ? std::log(std::fabs(L(i, i))) : omega(i);
    return h;
  }
};

// Adam's moments for every variational parameter (Kingma & Ba 2015, bias-corrected).
struct Adam {
  static constexpr double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
  Vec m, v, recent;  // recent: the sum of g^2 since the last forget()
  int64_t t = 0, steps = 0;
  explicit Adam(size_t n) : m(n, 0.0), v(n, 0.0), recent(n, 0.0) {}
  // Called every eval_elbo steps of the main run: where v_hat exceeds 100 times the mean g^2 of those steps, it
  // becomes that mean. With beta2 = 0.999, v remembers a transient for thousands of steps (the
  // log-scale's gradient is huge while the mean is far from the posterior), and the steps of
  // that parameter stay tiny long after; this forgets a 100-fold drop within one window.
  void forget() {
    if (steps == 0) return;
    const double c2 = 1 - std::pow(beta2, static_cast<double>(t));
    for (size_t k = 0; k < v.size(); ++k) {
      double ms = recent[k] / static_cast<double>(steps);
      if (v[k] / c2 > kForget * ms) v[k] = ms * c2;
      recent[k] = 0;
    }
    steps = 0;
  }
  static constexpr double kForget = 100;
  // Ascent: q += lr * m_hat / (sqrt(v_hat) + epsilon).
  void step(Family& q, const Family& g, double lr) {
    ++t;
    ++steps;
    const double c1 = 1 - std::pow(beta1, static_cast<double>(t)), c2 = 1 - std::pow(beta2, static_cast<double>(t));
    for (size_t k = 0; k < q.v.size(); ++k) {
      m[k] = beta1 * m[k] + (1 - beta1) * g.v[k];
      v[k] = beta2 * v[k] + (1 - beta2) * g.v[k] * g.v[k];
      recent[k] += g.v[k] * g.v[k];
      q.v[k] += lr * (m[k] / c1) / (std::sqrt(v[k] / c2) + epsilon);
    }
  }
};

class Advi {
 public:
  Advi(const LogDensity& f, int64_t dim, const AdviConfig& config, Rng& rng, const Vec& init)
      : f_(f), dim_(static_cast<size_t>(dim)), config_(config), rng_(rng), init_(init), grad_(dim_) {}

  // Stan's calc_ELBO: a Monte Carlo average of log p plus the entropy; draws where log p is not
  // finite are dropped, up to elbo_samples of them.
  double elbo(const Family& q, Rng& rng) {
    double sum = 0;
    int64_t dropped = 0;
    for (int64_t i = 0; i < config_.elbo_samples;) {
      q.sample(rng, eta_, zeta_);
      double lp = f_(zeta_.data(), grad_.data());
      if (std::isfinite(lp)) {
        sum += lp;
        ++i;
      } else if (++dropped >= config_.elbo_samples) {
        throw AdviFailure("the log density was not finite at " + std::to_string(dropped) +
                          " draws of the approximation while estimating the ELBO; the model may be "
                          "ill-conditioned or misspecified");
      }
    }
    return sum / static_cast<double>(config_.elbo_samples) + q.entropy();
  }

  // Stan's calc_grad of both families: reparameterized gradients averaged over grad_samples
  // draws (up to 10 x grad_samples dropped), then the entropy's gradient.
  void elbo_grad(const Family& q, Family& g, Rng& rng) {
    std::fill(g.v.begin(), g.v.end(), 0.0);
    const int64_t n = config_.grad_samples;
    for (int64_t i = 0, dropped = 0; i < n;) {
      q.sample(rng, eta_, zeta_);
      double lp = f_(zeta_.data(), grad_.data());
      bool ok = std::isfinite(lp) && std::all_of(grad_.begin(), grad_.end(), [](double x) { return std::isfinite(x); });
      if (!ok) {
        if (++dropped >= 10 * n) {
          throw AdviFailure("the gradient of the log density was not finite at " + std::to_string(dropped) +
                            " draws of the approximation; the model may be ill-conditioned or misspecified");
        }
        continue;
      }
      for (size_t d = 0; d < dim_; ++d) {
        g.mu(d) += grad_[d];
        if (q.fullrank) {
          for (size_t j = 0; j <= d; ++j) g.L(d, j) += grad_[d] * eta_[j];
        } else {
          g.omega(d) += grad_[d] * eta_[d];
        }
      }
      ++i;
    }
    for (double& x : g.v) x /= static_cast<double>(n);
    for (size_t d = 0; d < dim_; ++d) {
      if (q.fullrank) {
        g.L(d, d) += 1.0 / q.L(d, d);
      } else {
        g.omega(d) = g.omega(d) * std::exp(q.omega(d)) + 1.0;
      }
    }
  }

  // The learning-rate search: adapt_iterations Adam steps with each rate in kRates from the
  // initial approximation, then the ELBO; the best ELBO wins. Every candidate reads the same
  // draws (a stream of its own for the gradients, another for the ELBO), so the comparison
  // measures the rates, not Monte Carlo noise.
  double search(detail::ProgressReporter& progress) {
    const double lowest = -std::numeric_limits<double>::infinity();
    double best = lowest, best_rate = 0;
    for (int k = 0; k < kRateCount; ++k) {
      Rng grad_rng(config_.seed, 1, detail::kTagAdvi), elbo_rng(config_.seed, 2, detail::kTagAdvi);
      Family q = Family::at(config_.fullrank, init_), g(config_.fullrank, dim_);
      Adam adam(q.v.size());
      double value = lowest;
      try {
        for (int64_t it = 1; it <= config_.adapt_iterations; ++it) {
          progress.update(0, k * config_.adapt_iterations + it, true, 0);
          elbo_grad(q, g, grad_rng);
          adam.step(q, g, kRates[k]);
        }
        value = elbo(q, elbo_rng);
      } catch (const AdviFailure&) {
        value = lowest;  // this rate diverged; the others decide
      }
      if (std::isfinite(value) && value > best) {
        best = value;
        best_rate = kRates[k];
      }
    }
    if (best_rate == 0) {
      throw AdviFailure("the ELBO could not be computed after " + std::to_string(config_.adapt_iterations) +
                        " steps with any learning rate in {1, 0.3, 0.1, 0.03, 0.01}; the model may be "
                        "ill-conditioned or misspecified");
    }
    return best_rate;
  }

  // Adam from the initial approximation with the learning rate rate / sqrt(1 + t / eval_elbo)
  // (the classic t^-1/2 of Polyak-Ruppert averaging; a fixed schedule, because the ELBO's
  // Monte Carlo noise would trigger a plateau rule at random). The approximation reported is a
  // polynomial-decay average of the iterates (Shamir & Zhang 2013),
  // avg += (q - avg) (kAveraging + 1) / (t + kAveraging): a Polyak-Ruppert average weighted
  // towards the last quarter or so of the run, which forgets the first steps. Every eval_elbo
  // iterations the ELBO of the average enters Stan's rule: its relative change joins a
  // circular buffer, whose mean or (upper) median must be below tol_rel_obj. A relative change
  // cannot see progress when the ELBO is large in magnitude (a log density with a large
  // constant), so stopping also needs the average to have settled:
  // KL(average || the average min(buffer size, 10) evaluations earlier) below
  // 0.5 tol_rel_obj^2 dim nats, i.e. about tol_rel_obj sds per coordinate.
  Family fit(double rate, detail::ProgressReporter& progress, int64_t offset, AdviResult& out) {
    Family q = Family::at(config_.fullrank, init_), g(config_.fullrank, dim_);
    Family avg = q;
    // The averages at the last `lag` evaluations, oldest first.
    const size_t lag = static_cast<size_t>(std::min<int64_t>(cb_size_of(config_), 10));
    std::vector<Family> earlier;
    Adam adam(q.v.size());
    const int64_t every = config_.eval_elbo;
    const int64_t cb_size = cb_size_of(config_);
    const double settled = 0.5 * config_.tol_rel_obj * config_.tol_rel_obj * static_cast<double>(dim_);
    std::vector<double> window;  // the circular buffer, oldest first
    double value = 0;
    for (int64_t it = 1;; ++it) {
      progress.update(0, offset + it, false, 0);
      elbo_grad(q, g, rng_);
      adam.step(q, g, rate / std::sqrt(1.0 + static_cast<double>(it - 1) / static_cast<double>(every)));
      const double w = (kAveraging + 1) / (static_cast<double>(it) + kAveraging);
      for (size_t k = 0; k < q.v.size(); ++k) avg.v[k] += (q.v[k] - avg.v[k]) * w;
      bool stop = false;
      if (it % every == 0) {
        adam.forget();
        double prev = value;
        value = elbo(avg, rng_);
        out.elbo.push_back(value);
        // Stan's rel_difference(elbo, elbo_prev) = |(elbo_prev - elbo) / elbo|.
        double delta = std::fabs((prev - value) / value);
        if (static_cast<int64_t>(window.size()) == cb_size) window.erase(window.begin());
        window.push_back(delta);
        double mean = std::accumulate(window.begin(), window.end(), 0.0) / static_cast<double>(window.size());
        std::vector<double> sorted = window;
        size_t half = sorted.size() / 2;  // Stan takes the upper median of an even buffer
        std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(half), sorted.end());
        bool still = earlier.size() == lag && avg.kl_from(earlier.front()) < settled;
        if (earlier.size() == lag) earlier.erase(earlier.begin());
        earlier.push_back(avg);
        if ((mean < config_.tol_rel_obj || sorted[half] < config_.tol_rel_obj) && still) {
          out.converged = true;
          stop = true;
        }
      }
      if (it == config_.max_iterations) stop = true;
      if (stop) {
        out.iterations = it;
        return avg;
      }
    }
  }

 private:
  // Stan's circular buffer of relative ELBO changes: max(0.1 max_iterations / eval_elbo, 2).
  static int64_t cb_size_of(const AdviConfig& c) {
    return static_cast<int64_t>(
        std::max(0.1 * static_cast<double>(c.max_iterations) / static_cast<double>(c.eval_elbo), 2.0));
  }
  static constexpr double kAveraging = 3;
  static constexpr int kRateCount = 5;
  static constexpr double kRates[kRateCount] = {1, 0.3, 0.1, 0.03, 0.01};
  const LogDensity& f_;
  size_t dim_;
  const AdviConfig& config_;
  Rng& rng_;
  const Vec& init_;
  Vec grad_, eta_, zeta_;
};

}  // namespace

AdviResult fit_advi(const LogDensity& f, int64_t dim, const AdviConfig& config) {
  AdviResult result;
  auto failed = [&](std::string why) {
    AdviResult r;
    r.error = std::move(why);
    return r;
  };
  if (dim < 1) return failed("the model has no parameters to fit (dimension 0)");
  if (config.grad_samples < 1 || config.elbo_samples < 1 || config.eval_elbo < 1 || config.max_iterations < 1 ||
      config.output_samples < 0 || !(config.tol_rel_obj > 0) || config.eta < 0 || !(config.init_radius >= 0)) {
    return failed("grad_samples, elbo_samples, eval_elbo and max_iterations must be >= 1, output_samples >= 0, "
                  "tol_rel_obj > 0, eta >= 0 and init_radius >= 0");
  }
  if (config.eta == 0 && config.adapt_iterations < 1) return failed("adapt_iterations must be >= 1 when eta is 0");
  Rng rng(config.seed, 0, detail::kTagAdvi);
  Vec init;
  if (std::string e = detail::initialize(f, dim, config.init_radius, rng, init); !e.empty()) return failed(e);
  const int64_t adapt_total = config.eta == 0 ? 5 * config.adapt_iterations : 0;
  detail::ProgressReporter progress(config.progress, adapt_total + config.max_iterations);
  Advi advi(f, dim, config, rng, init);
  try {
    result.eta = config.eta == 0 ? advi.search(progress) : config.eta;
    Family q = advi.fit(result.eta, progress, adapt_total, result);
    const size_t d = static_cast<size_t>(dim);
    result.mean.assign(q.v.begin(), q.v.begin() + static_cast<std::ptrdiff_t>(d));
    result.scale_tril.assign(d * d, 0.0);
    for (size_t i = 0; i < d; ++i) {
      if (q.fullrank) {
        for (size_t j = 0; j <= i; ++j) result.scale_tril[i * d + j] = q.L(i, j);
      } else {
        result.scale_tril[i * d + i] = std::exp(q.omega(i));
      }
    }
    result.draws.reserve(static_cast<size_t>(config.output_samples) * d);
    Vec eta, zeta;
    for (int64_t s = 0; s < config.output_samples; ++s) {
      q.sample(rng, eta, zeta);
      result.draws.insert(result.draws.end(), zeta.begin(), zeta.end());
    }
  } catch (const AdviFailure& e) {
    AdviResult r = failed(e.what());
    r.elbo = std::move(result.elbo);
    return r;
  }
  progress.done(0, 0);
  return result;
}

}  // namespace tessera::rt::infer
