// MCMC diagnostics as R `posterior` (>= 1.6) computes them (Vehtari, Gelman, Simpson, Carpenter,
// Bürkner 2021): split chains, rank normalization, folding, Geyer's initial monotone sequence.
// Each step follows posterior's R code (R/convergence.R) so that the numbers agree to rounding;
// runtime/tests/inference/ holds its published values for a Stan run.
#include <algorithm>
#include <complex>
#include <limits>
#include <numeric>

#include "inference_internal.h"

namespace tessera::rt::infer {
namespace detail {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// R's mean: a long double sum, as R accumulates (so chain means match to the last bits).
double mean_of(const std::vector<double>& x) {
  long double s = 0;
  for (double v : x) s += v;
  return static_cast<double>(s / static_cast<long double>(x.size()));
}

double var_of(const std::vector<double>& x) {
  double m = mean_of(x);
  long double s = 0;
  for (double v : x) s += (v - m) * (v - m);
  return static_cast<double>(s / static_cast<long double>(x.size() - 1));
}

// posterior's should_return_NA: any non-finite value, or all values equal (within DBL_EPSILON).
bool degenerate(const Columns& x) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& c : x) {
    for (double v : c) {
      if (!std::isfinite(v)) return true;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  return !(std::fabs(hi - lo) >= std::numeric_limits<double>::epsilon());
}

std::vector<double> flatten(const Columns& x) {
  std::vector<double> all;
  for (const auto& c : x) all.insert(all.end(), c.begin(), c.end());
  return all;
}

// In-place iterative radix-2 FFT; inverse without the 1/n factor (as R's fft(inverse = TRUE)).
void fft(std::vector<std::complex<double>>& a, bool inverse) {
  size_t n = a.size();
  for (size_t i = 1, j = 0; i < n; ++i) {
    size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  for (size_t len = 2; len <= n; len <<= 1) {
    double ang = 2 * M_PI / static_cast<double>(len) * (inverse ? 1 : -1);
    std::complex<double> wlen(std::cos(ang), std::sin(ang));
    for (size_t i = 0; i < n; i += len) {
      std::complex<double> w(1);
      for (size_t k = 0; k < len / 2; ++k) {
        std::complex<double> u = a[i + k], v = a[i + k + len / 2] * w;
        a[i + k] = u + v;
        a[i + k + len / 2] = u - v;
        // Recomputing the twiddle every 32 steps keeps the recurrence's rounding from growing.
        w = (k + 1) % 32 == 0 ? std::polar(1.0, ang * static_cast<double>(k + 1)) : w * wlen;
      }
    }
  }
}

// posterior's autocovariance(), averaged over chains: the biased estimate (divided by N) of
// each chain's autocovariance at lag t. Geyer's sequence usually stops after a few lags, so
// the first kDirectLags lags are direct sums, computed on demand; a longer sequence switches to
// a zero-padded FFT for all lags (what posterior always does; equal to rounding).
class MeanAutocovariance {
 public:
  explicit MeanAutocovariance(const Columns& x) : n_(x[0].size()) {
    for (const auto& c : x) {
      std::vector<double> yc(n_, 0.0);
      // posterior: a chain with zero variance has zero autocovariance at every lag.
      if (!std::all_of(c.begin(), c.end(), [&](double v) { return v == c[0]; })) {
        double m = mean_of(c);
        for (size_t i = 0; i < n_; ++i) yc[i] = c[i] - m;
      }
      centered_.push_back(std::move(yc));
    }
  }
  double operator()(size_t t) {
    while (t >= means_.size() && !fft_done_) {
      if (means_.size() >= kDirectLags) {
        all_lags_by_fft();
        break;
      }
      size_t lag = means_.size();
      double sum = 0;
      for (const auto& y : centered_) {
        long double s = 0;
        for (size_t i = 0; i + lag < n_; ++i) s += y[i] * y[i + lag];
        sum += static_cast<double>(s / static_cast<long double>(n_));
      }
      means_.push_back(sum / static_cast<double>(centered_.size()));
    }
    return means_[t];
  }

 private:
  static constexpr size_t kDirectLags = 48;
  void all_lags_by_fft() {
    size_t size = 1;
    while (size < 2 * n_) size <<= 1;
    std::vector<double> sum(n_, 0.0);
    std::vector<std::complex<double>> a(size);
    for (const auto& y : centered_) {
      std::fill(a.begin(), a.end(), std::complex<double>(0));
      long double ss = 0;
      for (size_t i = 0; i < n_; ++i) {
        a[i] = y[i];
        ss += y[i] * y[i];
      }
      if (ss == 0) continue;
      fft(a, false);
      for (auto& v : a) v = std::norm(v);
      fft(a, true);
      // Scaled so that lag 0 is exactly sum(yc^2) / N, as posterior scales by var(x).
      double scale = static_cast<double>(ss / static_cast<long double>(n_)) / a[0].real();
      for (size_t t = 0; t < n_; ++t) sum[t] += a[t].real() * scale;
    }
    for (double& v : sum) v /= static_cast<double>(centered_.size());
    means_ = std::move(sum);
    fft_done_ = true;
  }
  size_t n_;
  std::vector<std::vector<double>> centered_;
  std::vector<double> means_;
  bool fft_done_ = false;
};

// R's quantile(type = 7): (1 - h) x[lo] + h x[hi] over the sorted values.
double quantile7(std::vector<double> v, double q) {
  double index = static_cast<double>(v.size() - 1) * q;
  size_t lo = static_cast<size_t>(std::floor(index)), hi = static_cast<size_t>(std::ceil(index));
  std::sort(v.begin(), v.end());
  double h = index - static_cast<double>(lo);
  if (hi == lo || v[hi] == v[lo]) return v[lo];
  return (1 - h) * v[lo] + h * v[hi];
}

double median_of(std::vector<double> v) {
  size_t n = v.size(), half = (n + 1) / 2;
  std::sort(v.begin(), v.end());
  if (n % 2 == 1) return v[half - 1];
  return static_cast<double>((static_cast<long double>(v[half - 1]) + v[half]) / 2);
}

}  // namespace

double normal_quantile(double p) {
  if (!(p > 0 && p < 1)) return p == 0 ? -INFINITY : p == 1 ? INFINITY : kNaN;
  double q = p - 0.5, r, val;
  if (std::fabs(q) <= 0.425) {
    r = 0.180625 - q * q;
    return q *
           (((((((2509.0809287301226727 * r + 33430.575583588128105) * r + 67265.770927008700853) * r +
                45921.953931549871457) * r + 13731.693765509461125) * r + 1971.5909503065514427) * r +
             133.14166789178437745) * r + 3.387132872796366608) /
           (((((((5226.495278852545925 * r + 28729.085735721942674) * r + 39307.89580009271061) * r +
                21213.794301586595867) * r + 5394.1960214247511077) * r + 687.1870074920579083) * r +
             42.313330701600911252) * r + 1.0);
  }
  r = std::sqrt(-std::log(q < 0 ? p : 1 - p));
  if (r <= 5) {
    r -= 1.6;
    val = (((((((7.7454501427834140764e-4 * r + 0.0227238449892691845833) * r + 0.24178072517745061177) * r +
               1.27045825245236838258) * r + 3.64784832476320460504) * r + 5.7694972214606914055) * r +
            4.6303378461565452959) * r + 1.42343711074968357734) /
          (((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) * r + 0.0151986665636164571966) * r +
               0.14810397642748007459) * r + 0.68976733498510000455) * r + 1.6763848301838038494) * r +
            2.05319162663775882187) * r + 1.0);
  } else {
    r -= 5;
    val = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r + 0.0012426609473880784386) * r +
               0.026532189526576123093) * r + 0.29656057182850489123) * r + 1.7848265399172913358) * r +
            5.4637849111641143699) * r + 6.6579046435011037772) /
          (((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) * r +
               7.868691311456132591e-4) * r + 0.0148753612908506148525) * r + 0.13692988092273580531) * r +
            0.59983220655588793769) * r + 1.0);
  }
  return q < 0 ? -val : val;
}

Columns columns(const Draws& d) {
  Columns x(static_cast<size_t>(d.chains), std::vector<double>(static_cast<size_t>(d.draws)));
  for (int64_t c = 0; c < d.chains; ++c) {
    for (int64_t i = 0; i < d.draws; ++i) x[static_cast<size_t>(c)][static_cast<size_t>(i)] = d.at(c, i);
  }
  return x;
}

Columns split_chains(const Columns& x) {
  if (x.empty() || x[0].size() <= 1) return x;
  size_t n = x[0].size(), half = n / 2;
  Columns out;
  for (const auto& c : x) {
    out.emplace_back(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(half));
    out.emplace_back(c.end() - static_cast<std::ptrdiff_t>(half), c.end());
  }
  return out;
}

Columns z_scale(const Columns& x) {
  std::vector<double> all = flatten(x);
  size_t s = all.size();
  std::vector<size_t> order(s);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return all[a] < all[b] || (all[a] == all[b] && a < b); });
  std::vector<double> rank(s);
  for (size_t i = 0; i < s;) {
    size_t j = i;
    while (j + 1 < s && all[order[j + 1]] == all[order[i]]) ++j;
    double average = (static_cast<double>(i + 1) + static_cast<double>(j + 1)) / 2;  // ties share their mean rank
    for (size_t k = i; k <= j; ++k) rank[order[k]] = average;
    i = j + 1;
  }
  const double c = 3.0 / 8.0;
  Columns out = x;
  size_t k = 0;
  for (auto& col : out) {
    for (double& v : col) v = normal_quantile((rank[k++] - c) / (static_cast<double>(s) - 2 * c + 1));
  }
  return out;
}

Columns fold(const Columns& x) {
  double m = median_of(flatten(x));
  Columns out = x;
  for (auto& col : out) {
    for (double& v : col) v = std::fabs(v - m);
  }
  return out;
}

double rhat_raw(const Columns& x) {
  if (x.empty() || x[0].size() < 2 || degenerate(x)) return kNaN;
  size_t chains = x.size();
  double n = static_cast<double>(x[0].size());
  std::vector<double> means(chains);
  double within = 0;
  for (size_t c = 0; c < chains; ++c) {
    means[c] = mean_of(x[c]);
    within += var_of(x[c]);
  }
  within /= static_cast<double>(chains);
  double between = chains > 1 ? n * var_of(means) : 0.0;  // R's var of one value is NA; Stan's chains > 1
  return std::sqrt((between / within + n - 1) / n);
}

double ess_raw(const Columns& x) {
  if (x.empty() || x[0].size() < 3 || degenerate(x)) return kNaN;
  size_t chains = x.size(), n = x[0].size();
  MeanAutocovariance acm(x);
  std::vector<double> means(chains);
  for (size_t c = 0; c < chains; ++c) means[c] = mean_of(x[c]);
  double dn = static_cast<double>(n);
  double mean_var = acm(0) * dn / (dn - 1);
  double var_plus = mean_var * (dn - 1) / dn;
  if (chains > 1) var_plus += var_of(means);

  // Geyer's initial positive sequence (posterior's indices, shifted to 0-based).
  std::vector<double> rho(n, 0.0);
  int64_t t = 0, last = static_cast<int64_t>(n) - 5;
  double even = 1, odd = 1 - (mean_var - acm(1)) / var_plus;
  rho[0] = even;
  rho[1] = odd;
  while (t < last && !std::isnan(even + odd) && even + odd > 0) {
    t += 2;
    even = 1 - (mean_var - acm(static_cast<size_t>(t))) / var_plus;
    odd = 1 - (mean_var - acm(static_cast<size_t>(t) + 1)) / var_plus;
    if (even + odd >= 0) {
      rho[static_cast<size_t>(t)] = even;
      rho[static_cast<size_t>(t) + 1] = odd;
    }
  }
  int64_t max_t = t;
  if (even > 0) rho[static_cast<size_t>(max_t)] = even;  // used by the improved estimate below
  // Geyer's initial monotone sequence.
  for (t = 0; t <= max_t - 4;) {
    t += 2;
    size_t k = static_cast<size_t>(t);
    if (rho[k] + rho[k + 1] > rho[k - 2] + rho[k - 1]) {
      rho[k] = (rho[k - 2] + rho[k - 1]) / 2;
      rho[k + 1] = rho[k];
    }
  }
  double ess = static_cast<double>(chains * n);
  // R's sum(rho[1:max_t]) is rho[1] alone when max_t is 0.
  double sum = 0;
  for (int64_t k = 0; k < std::max<int64_t>(max_t, 1); ++k) sum += rho[static_cast<size_t>(k)];
  double tau = -1 + 2 * sum + rho[static_cast<size_t>(max_t)];
  // Antithetic chains could give ESS > n; posterior caps it at n log10(n).
  tau = std::max(tau, 1 / std::log10(ess));
  return ess / tau;
}

double ess_quantile(const Draws& d, double prob) {
  Columns x = columns(d);
  if (degenerate(x)) return kNaN;
  std::vector<double> all = flatten(x);
  if (prob == 1) prob = (static_cast<double>(all.size()) - 0.5) / static_cast<double>(all.size());
  double q = quantile7(all, prob);
  for (auto& col : x) {
    for (double& v : col) v = v <= q ? 1.0 : 0.0;
  }
  return ess_raw(split_chains(x));
}

double ess_mean(const Draws& d) { return ess_raw(split_chains(columns(d))); }

double mcse_mean(const Draws& d) {
  std::vector<double> all = flatten(columns(d));
  if (all.size() < 2) return kNaN;
  return std::sqrt(var_of(all)) / std::sqrt(ess_mean(d));
}

}  // namespace detail

using namespace detail;

double rhat(const Draws& d) {
  Columns x = columns(d);
  if (degenerate(x)) return std::numeric_limits<double>::quiet_NaN();
  double bulk = rhat_raw(z_scale(split_chains(x)));
  double tail = rhat_raw(z_scale(split_chains(fold(x))));
  return std::max(bulk, tail);
}

double ess_bulk(const Draws& d) {
  Columns x = columns(d);
  if (degenerate(x)) return std::numeric_limits<double>::quiet_NaN();
  return ess_raw(z_scale(split_chains(x)));
}

double ess_tail(const Draws& d) { return std::min(ess_quantile(d, 0.05), ess_quantile(d, 0.95)); }

double ess_basic(const Draws& d) { return ess_mean(d); }

double quantile(const Draws& d, double q) {
  if (d.chains * d.draws == 0) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> all;
  all.reserve(static_cast<size_t>(d.chains * d.draws));
  for (int64_t c = 0; c < d.chains; ++c) {
    for (int64_t i = 0; i < d.draws; ++i) all.push_back(d.at(c, i));
  }
  return quantile7(std::move(all), q);
}

}  // namespace tessera::rt::infer
