// The Posterior container: per-column statistics, a stansummary-like table, Stan CSV (CmdStan's
// layout) and .npz output, and the terminal progress line.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>

#include "inference_internal.h"
#include "tessera/runtime.h"

namespace tessera::rt::infer {
namespace {

const char* const kNutsStats[] = {"lp__",         "accept_stat__", "stepsize__", "treedepth__",
                                  "n_leapfrog__", "divergent__",   "energy__"};

// Index i of a row-major shape as "[i0,i1]" (0-based) or ".i0+1.i1+1" (CmdStan, 1-based).
std::string index_suffix(const std::vector<int64_t>& shape, int64_t flat, bool cmdstan) {
  if (shape.empty()) return "";
  std::vector<int64_t> idx(shape.size());
  for (size_t k = shape.size(); k-- > 0;) {
    idx[k] = shape[k] > 0 ? flat % shape[k] : 0;
    flat = shape[k] > 0 ? flat / shape[k] : 0;
  }
  std::string s = cmdstan ? "" : "[";
  for (size_t k = 0; k < idx.size(); ++k) {
    if (cmdstan) {
      s += "." + std::to_string(idx[k] + 1);
    } else {
      s += (k ? "," : "") + std::to_string(idx[k]);
    }
  }
  return cmdstan ? s : s + "]";
}

std::string fmt(const char* f, double v) {
  if (std::isnan(v)) return "nan";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

struct File {
  std::FILE* f;
  explicit File(std::FILE* f) : f(f) {}
  ~File() {
    if (f) std::fclose(f);
  }
};

}  // namespace

int64_t Field::size() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Posterior::Posterior(std::vector<Field> fields, int64_t chains, int64_t draws)
    : fields_(std::move(fields)), chains_(chains), draws_(draws), width_(0) {
  for (const Field& f : fields_) width_ = std::max(width_, f.offset + f.size());
  values_.assign(static_cast<size_t>(chains_ * draws_ * width_), 0.0);
}

const Field* Posterior::find(const std::string& name) const {
  for (const Field& f : fields_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Draws Posterior::column(int64_t c) const { return Draws{values_.data() + c, chains_, draws_, draws_ * width_, width_}; }

void Posterior::set_sampler_stats(const NutsResult& result, const NutsConfig& config) {
  stat_names.assign(std::begin(kNutsStats), std::end(kNutsStats));
  const size_t k = stat_names.size();
  stats.assign(static_cast<size_t>(chains_ * draws_) * k, 0.0);
  method = config.nuts ? "NUTS" : "HMC";
  max_tree_depth = config.max_tree_depth;
  num_warmup = config.num_warmup;
  seed = config.seed;
  divergences = max_depth_hits = 0;
  step_sizes.clear();
  inv_metrics.clear();
  warmup_seconds.clear();
  sampling_seconds.clear();
  wall_seconds = result.wall_seconds;
  for (int64_t c = 0; c < chains_ && c < static_cast<int64_t>(result.chains.size()); ++c) {
    const ChainResult& r = result.chains[static_cast<size_t>(c)];
    step_sizes.push_back(r.step_size);
    inv_metrics.push_back(r.inv_metric);
    warmup_seconds.push_back(r.warmup_seconds);
    sampling_seconds.push_back(r.sampling_seconds);
    max_depth_hits += r.max_depth_hits;
    for (int64_t d = 0; d < draws_ && d < static_cast<int64_t>(r.lp.size()); ++d) {
      size_t i = static_cast<size_t>(d);
      double* row = &stats[static_cast<size_t>(c * draws_ + d) * k];
      row[0] = r.lp[i];
      row[1] = r.accept_stat[i];
      row[2] = r.step_size;
      row[3] = r.tree_depth[i];
      row[4] = r.n_leapfrog[i];
      row[5] = r.divergent[i];
      row[6] = r.energy[i];
      divergences += r.divergent[i];
    }
  }
}

std::vector<double> Posterior::mean(const Field& f) const {
  std::vector<double> out;
  for (int64_t j = 0; j < f.size(); ++j) {
    Draws d = column(f.offset + j);
    long double s = 0;
    for (int64_t c = 0; c < chains_; ++c) {
      for (int64_t i = 0; i < draws_; ++i) s += d.at(c, i);
    }
    out.push_back(static_cast<double>(s / static_cast<long double>(chains_ * draws_)));
  }
  return out;
}

std::vector<double> Posterior::sd(const Field& f) const {
  std::vector<double> m = mean(f), out;
  for (int64_t j = 0; j < f.size(); ++j) {
    Draws d = column(f.offset + j);
    long double s = 0;
    for (int64_t c = 0; c < chains_; ++c) {
      for (int64_t i = 0; i < draws_; ++i) {
        double e = d.at(c, i) - m[static_cast<size_t>(j)];
        s += e * e;
      }
    }
    out.push_back(std::sqrt(static_cast<double>(s / static_cast<long double>(chains_ * draws_ - 1))));
  }
  return out;
}

std::vector<double> Posterior::quantile(const Field& f, double q) const {
  std::vector<double> out;
  for (int64_t j = 0; j < f.size(); ++j) out.push_back(infer::quantile(column(f.offset + j), q));
  return out;
}

std::vector<double> Posterior::rhat(const Field& f) const {
  std::vector<double> out;
  for (int64_t j = 0; j < f.size(); ++j) out.push_back(infer::rhat(column(f.offset + j)));
  return out;
}

std::vector<double> Posterior::ess(const Field& f) const {
  std::vector<double> out;
  for (int64_t j = 0; j < f.size(); ++j) out.push_back(ess_bulk(column(f.offset + j)));
  return out;
}

std::string Posterior::summary() const {
  struct Row {
    std::string name;
    Draws d;
  };
  std::vector<Row> rows;
  auto lp = std::find(stat_names.begin(), stat_names.end(), "lp__");
  if (lp != stat_names.end()) {
    int64_t k = lp - stat_names.begin(), n = static_cast<int64_t>(stat_names.size());
    rows.push_back({"lp__", Draws{stats.data() + k, chains_, draws_, draws_ * n, n}});
  }
  for (const Field& f : fields_) {
    for (int64_t j = 0; j < f.size(); ++j) rows.push_back({f.name + index_suffix(f.shape, j, false), column(f.offset + j)});
  }
  size_t w = 4;
  for (const Row& r : rows) w = std::max(w, r.name.size());
  char line[512];
  std::string out = (method.empty() ? std::string("Posterior") : method) + ": " + std::to_string(chains_) +
                    (chains_ == 1 ? " chain, " : " chains, ") + std::to_string(draws_) + " draws each (" +
                    std::to_string(chains_ * draws_) + " in all)\n\n";
  std::snprintf(line, sizeof line, "%-*s %10s %10s %10s %10s %10s %10s %9s %9s %6s\n", static_cast<int>(w), "", "Mean",
                "MCSE", "StdDev", "5%", "50%", "95%", "ESS_bulk", "ESS_tail", "R_hat");
  out += line;
  for (const Row& r : rows) {
    std::vector<double> all;
    for (int64_t c = 0; c < chains_; ++c) {
      for (int64_t i = 0; i < draws_; ++i) all.push_back(r.d.at(c, i));
    }
    long double s = 0;
    for (double v : all) s += v;
    double m = all.empty() ? NAN : static_cast<double>(s / static_cast<long double>(all.size()));
    long double ss = 0;
    for (double v : all) ss += (v - m) * (v - m);
    double sdv = all.size() > 1 ? std::sqrt(static_cast<double>(ss / static_cast<long double>(all.size() - 1))) : NAN;
    std::snprintf(line, sizeof line, "%-*s %10s %10s %10s %10s %10s %10s %9s %9s %6s\n", static_cast<int>(w),
                  r.name.c_str(), fmt("%.4g", m).c_str(), fmt("%.2g", detail::mcse_mean(r.d)).c_str(),
                  fmt("%.4g", sdv).c_str(), fmt("%.4g", infer::quantile(r.d, 0.05)).c_str(),
                  fmt("%.4g", infer::quantile(r.d, 0.5)).c_str(), fmt("%.4g", infer::quantile(r.d, 0.95)).c_str(),
                  fmt("%.0f", ess_bulk(r.d)).c_str(), fmt("%.0f", ess_tail(r.d)).c_str(),
                  fmt("%.3f", infer::rhat(r.d)).c_str());
    out += line;
  }
  if (!stat_names.empty()) {
    out += "\n" + std::to_string(divergences) + (divergences == 1 ? " divergent transition" : " divergent transitions");
    if (method == "NUTS") {
      out += ", " + std::to_string(max_depth_hits) + (max_depth_hits == 1 ? " transition" : " transitions") +
             " at max_tree_depth (" + std::to_string(max_tree_depth) + ")";
    }
    out += "\n";
  }
  if (!warmup_seconds.empty()) {
    // CmdStan's "Elapsed Time" in one line: summed over the chains, then the run's wall time
    // (less than the sum when chains ran in parallel).
    double warm = 0, samp = 0;
    for (double t : warmup_seconds) warm += t;
    for (double t : sampling_seconds) samp += t;
    std::snprintf(line, sizeof line, "Elapsed Time: %.4g seconds (Warm-up), %.4g seconds (Sampling), %.4g seconds (Total)",
                  warm, samp, warm + samp);
    out += line;
    if (warmup_seconds.size() > 1) out += " over " + std::to_string(warmup_seconds.size()) + " chains";
    if (wall_seconds > 0) {
      std::snprintf(line, sizeof line, "; %.4g seconds wall", wall_seconds);
      out += line;
    }
    out += "\n";
  }
  return out;
}

std::string Posterior::write_stan_csv(const std::string& path) const {
  errno = 0;
  File file(std::fopen(path.c_str(), "w"));
  if (!file.f) return path + ": cannot open for writing: " + std::strerror(errno);
  std::FILE* f = file.f;
  const bool sampler = !stat_names.empty();
  const bool nuts = method == "NUTS";
  // CmdStan's argument tree, so that readers find the method and the sizes where they look.
  std::fprintf(f, "# model = tessera_model\n");
  if (sampler) {
    std::fprintf(f,
                 "# method = sample (Default)\n#   sample\n#     num_samples = %" PRId64 "\n#     num_warmup = %" PRId64
                 "\n#     save_warmup = 0\n#     thin = 1\n#     adapt\n#       engaged = %d\n#     algorithm = hmc\n"
                 "#       hmc\n#         engine = %s\n",
                 draws_, num_warmup, num_warmup > 0 ? 1 : 0, nuts ? "nuts" : "static");
    if (nuts) std::fprintf(f, "#           nuts\n#             max_depth = %d\n", max_tree_depth);
    std::fprintf(f, "#         metric = diag_e\n");
  } else {
    std::fprintf(f, "# method = variational\n#   variational\n#     algorithm = %s\n#     output_samples = %" PRId64 "\n",
                 method.find("full") != std::string::npos ? "fullrank" : "meanfield", chains_ * draws_);
  }
  std::fprintf(f, "# num_chains = %" PRId64 "\n# random\n#   seed = %" PRIu64 "\n", chains_, seed);
  std::string header;
  for (const std::string& s : stat_names) header += (header.empty() ? "" : ",") + s;
  for (const Field& fd : fields_) {
    for (int64_t j = 0; j < fd.size(); ++j) header += (header.empty() ? "" : ",") + fd.name + index_suffix(fd.shape, j, true);
  }
  std::fprintf(f, "%s\n", header.c_str());
  const size_t k = stat_names.size();
  for (int64_t c = 0; c < chains_; ++c) {
    std::fprintf(f, "# chain = %" PRId64 "\n", c + 1);
    if (sampler && num_warmup > 0 && static_cast<size_t>(c) < step_sizes.size()) {
      std::fprintf(f, "# Adaptation terminated\n# Step size = %.9g\n", step_sizes[static_cast<size_t>(c)]);
      if (static_cast<size_t>(c) < inv_metrics.size()) {
        std::fprintf(f, "# Diagonal elements of inverse mass matrix:\n#");
        const auto& m = inv_metrics[static_cast<size_t>(c)];
        for (size_t i = 0; i < m.size(); ++i) std::fprintf(f, "%s %.9g", i ? "," : "", m[i]);
        std::fprintf(f, "\n");
      }
    }
    for (int64_t d = 0; d < draws_; ++d) {
      std::string row;
      char buf[40];
      for (size_t s = 0; s < k; ++s) {
        std::snprintf(buf, sizeof buf, "%.10g", stats[static_cast<size_t>(c * draws_ + d) * k + s]);
        row += (row.empty() ? "" : ",") + std::string(buf);
      }
      for (const Field& fd : fields_) {
        for (int64_t j = 0; j < fd.size(); ++j) {
          std::snprintf(buf, sizeof buf, "%.10g", values_[static_cast<size_t>((c * draws_ + d) * width_ + fd.offset + j)]);
          row += (row.empty() ? "" : ",") + std::string(buf);
        }
      }
      std::fprintf(f, "%s\n", row.c_str());
    }
    // CmdStan's trailing comment (services/util/mcmc_writer.hpp, write_timing), per chain.
    if (sampler && static_cast<size_t>(c) < warmup_seconds.size() && static_cast<size_t>(c) < sampling_seconds.size()) {
      const double warm = warmup_seconds[static_cast<size_t>(c)], samp = sampling_seconds[static_cast<size_t>(c)];
      std::fprintf(f,
                   "# \n#  Elapsed Time: %g seconds (Warm-up)\n#                %g seconds (Sampling)\n"
                   "#                %g seconds (Total)\n# \n",
                   warm, samp, warm + samp);
    }
  }
  if (std::ferror(f) || std::fflush(f) != 0) return path + ": cannot write: " + std::strerror(errno);
  return "";
}

std::string Posterior::write_npz(const std::string& path) const {
  // Contiguous copies, [chains, draws, *shape] per field and [chains, draws] per statistic.
  std::vector<std::vector<double>> data;
  std::vector<std::string> names;
  std::vector<tessTensor> tensors;
  for (const Field& fd : fields_) {
    if (fd.shape.size() + 2 > TESS_MAX_RANK) return path + ": field " + fd.name + " has too many dimensions for .npy";
    std::vector<double> v;
    v.reserve(static_cast<size_t>(chains_ * draws_ * fd.size()));
    for (int64_t r = 0; r < chains_ * draws_; ++r) {
      auto row = values_.begin() + static_cast<std::ptrdiff_t>(r * width_ + fd.offset);
      v.insert(v.end(), row, row + static_cast<std::ptrdiff_t>(fd.size()));
    }
    data.push_back(std::move(v));
    names.push_back(fd.name);
    std::vector<int64_t> shape = {chains_, draws_};
    shape.insert(shape.end(), fd.shape.begin(), fd.shape.end());
    tessTensor t;
    if (tessTensorWrap(TESS_F64, static_cast<int32_t>(shape.size()), shape.data(), nullptr, data.back().data(), &t) !=
        TESS_SUCCESS) {
      return path + ": " + tessGetLastErrorMessage();
    }
    tensors.push_back(t);
  }
  const size_t k = stat_names.size();
  for (size_t s = 0; s < k; ++s) {
    std::vector<double> v(static_cast<size_t>(chains_ * draws_));
    for (size_t r = 0; r < v.size(); ++r) v[r] = stats[r * k + s];
    data.push_back(std::move(v));
    names.push_back(stat_names[s]);
    int64_t shape[2] = {chains_, draws_};
    tessTensor t;
    if (tessTensorWrap(TESS_F64, 2, shape, nullptr, data.back().data(), &t) != TESS_SUCCESS) {
      return path + ": " + tessGetLastErrorMessage();
    }
    tensors.push_back(t);
  }
  // Each chain's warm-up and sampling seconds, [chains].
  const std::pair<const char*, const std::vector<double>*> timings[] = {{"warmup_seconds__", &warmup_seconds},
                                                                          {"sampling_seconds__", &sampling_seconds}};
  for (const auto& [name, seconds] : timings) {
    if (static_cast<int64_t>(seconds->size()) != chains_) continue;
    data.push_back(*seconds);
    names.push_back(name);
    int64_t shape[1] = {chains_};
    tessTensor t;
    if (tessTensorWrap(TESS_F64, 1, shape, nullptr, data.back().data(), &t) != TESS_SUCCESS) {
      return path + ": " + tessGetLastErrorMessage();
    }
    tensors.push_back(t);
  }
  // data's vectors never reallocate their buffers after wrapping (moved, not copied).
  std::vector<const char*> cnames;
  for (const std::string& n : names) cnames.push_back(n.c_str());
  if (tessNpzSave(path.c_str(), tensors.size(), cnames.data(), tensors.data()) != TESS_SUCCESS) {
    return tessGetLastErrorMessage();
  }
  return "";
}

// Trace plots: one panel per scalar (field elements in order, at most kMaxPanels), a polyline
// per chain over the draws (at most 1000 points per line: every k-th draw), the value range and
// the scalar's name; colors per chain. Plain SVG 1.1, readable by any browser.
std::string Posterior::write_trace_svg(const std::string& path, const std::vector<std::string>& names) const {
  constexpr int kMaxPanels = 24, kWidth = 900, kPanel = 110, kLeft = 150, kRight = 20, kTop = 30;
  static const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
  std::vector<std::pair<std::string, int64_t>> columns;  // label, column
  for (const Field& f : fields_) {
    if (!names.empty() && std::find(names.begin(), names.end(), f.name) == names.end()) continue;
    for (int64_t j = 0; j < f.size(); ++j) columns.push_back({f.name + index_suffix(f.shape, j, false), f.offset + j});
  }
  for (const std::string& n : names)
    if (!find(n)) return path + ": the Posterior has no field '" + n + "'";
  bool truncated = columns.size() > static_cast<size_t>(kMaxPanels);
  if (truncated) columns.resize(kMaxPanels);
  int height = kTop + kPanel * static_cast<int>(columns.size()) + 20;
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(kWidth) + "\" height=\"" +
         std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"10\" y=\"18\" font-size=\"14\">" + method + ": " + std::to_string(chains_) + " chain" +
         (chains_ == 1 ? "" : "s") + " x " + std::to_string(draws_) + " draws" +
         (truncated ? " (first " + std::to_string(kMaxPanels) + " scalars)" : "") + "</text>\n";
  int64_t step = std::max<int64_t>(1, draws_ / 1000);
  for (size_t p = 0; p < columns.size(); ++p) {
    Draws d = column(columns[p].second);
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t c = 0; c < chains_; ++c)
      for (int64_t i = 0; i < draws_; ++i) {
        double v = d.at(c, i);
        if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
      }
    if (!(lo <= hi)) lo = hi = 0;
    if (hi == lo) hi = lo + 1;
    int y0 = kTop + kPanel * static_cast<int>(p);
    int plot_h = kPanel - 20, plot_w = kWidth - kLeft - kRight;
    svg += "<text x=\"10\" y=\"" + std::to_string(y0 + plot_h / 2 + 4) + "\">" + columns[p].first + "</text>\n";
    svg += "<text x=\"" + std::to_string(kLeft - 5) + "\" y=\"" + std::to_string(y0 + 10) +
           "\" text-anchor=\"end\" font-size=\"10\">" + fmt("%.4g", hi) + "</text>\n";
    svg += "<text x=\"" + std::to_string(kLeft - 5) + "\" y=\"" + std::to_string(y0 + plot_h) +
           "\" text-anchor=\"end\" font-size=\"10\">" + fmt("%.4g", lo) + "</text>\n";
    svg += "<rect x=\"" + std::to_string(kLeft) + "\" y=\"" + std::to_string(y0) + "\" width=\"" +
           std::to_string(plot_w) + "\" height=\"" + std::to_string(plot_h) + "\" fill=\"none\" stroke=\"#999\"/>\n";
    for (int64_t c = 0; c < chains_; ++c) {
      svg += "<polyline fill=\"none\" stroke-width=\"0.8\" stroke-opacity=\"0.8\" stroke=\"" +
             std::string(kColors[c % 8]) + "\" points=\"";
      for (int64_t i = 0; i < draws_; i += step) {
        double v = d.at(c, i);
        if (!std::isfinite(v)) continue;
        double x = kLeft + plot_w * (draws_ > 1 ? static_cast<double>(i) / static_cast<double>(draws_ - 1) : 0.5);
        double y = y0 + plot_h * (1.0 - (v - lo) / (hi - lo));
        char pt[64];
        std::snprintf(pt, sizeof pt, "%.1f,%.1f ", x, y);
        svg += pt;
      }
      svg += "\"/>\n";
    }
  }
  svg += "</svg>\n";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return "cannot write " + path + ": " + std::strerror(errno);
  bool ok = std::fwrite(svg.data(), 1, svg.size(), f) == svg.size();
  ok = std::fclose(f) == 0 && ok;
  return ok ? "" : "cannot write " + path + ": " + std::strerror(errno);
}

std::function<void(const Progress&)> terminal_progress(const std::string& what, int64_t chains) {
  if (!isatty(2)) return [](const Progress&) {};
  struct State {
    std::string what;
    std::vector<int64_t> iteration;
    std::vector<int64_t> divergences;
    std::vector<bool> done;
    std::mutex mutex;
  };
  auto state = std::make_shared<State>();
  state->what = what;
  size_t n = static_cast<size_t>(std::max<int64_t>(chains, 1));
  state->iteration.assign(n, 0);
  state->divergences.assign(n, 0);
  state->done.assign(n, false);
  return [state](const Progress& p) {
    std::lock_guard lock(state->mutex);
    size_t c = static_cast<size_t>(p.chain);
    if (c >= state->iteration.size()) return;
    state->iteration[c] = p.iteration;
    state->divergences[c] = p.divergences;
    state->done[c] = p.done;
    int64_t sum = 0, div = 0;
    for (size_t i = 0; i < state->iteration.size(); ++i) {
      sum += state->iteration[i];
      div += state->divergences[i];
    }
    double pct = p.total > 0 ? 100.0 * static_cast<double>(sum) / static_cast<double>(p.total * state->iteration.size()) : 100;
    bool all = std::all_of(state->done.begin(), state->done.end(), [](bool b) { return b; });
    std::fprintf(stderr, "\r%s: %3.0f%% %-9s", state->what.c_str(), pct,
                 all ? "done" : p.warmup ? "(warm-up)" : "");
    if (div > 0) std::fprintf(stderr, " %" PRId64 " divergent", div);
    if (all) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
}

}  // namespace tessera::rt::infer
