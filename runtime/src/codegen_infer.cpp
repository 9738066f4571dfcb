// The compiled side of inference (codegen_abi.h, "Inference"): the arguments of a call of an
// @mcmc / @variational function, the compiled log density and quantities called through their
// packed wrappers, the engines of inference.h, and the Posteriors they produce, by handle.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "aot_call.h"
#include "inference.h"
#include "npz.h"
#include "tessera/codegen_abi.h"

namespace {

using tessera::rt::infer::Field;
using tessera::rt::infer::Posterior;

// One argument of the probabilistic function, as the packed wrapper takes it: a tensor as a
// pointer to its descriptor (over a row-major copy), a scalar as its bytes.
struct Arg {
  std::vector<unsigned char> data;      // the copy of a tensor's elements
  std::vector<int64_t> descriptor;      // {allocated, aligned, offset, sizes..., strides...}
  void* descriptor_pointer = nullptr;   // what the slot points at, for a tensor
  uint64_t scalar = 0;                  // a scalar's bytes
  bool tensor = false;
  void* slot() { return tensor ? static_cast<void*>(&descriptor_pointer) : static_cast<void*>(&scalar); }
};

thread_local std::vector<std::unique_ptr<Arg>> g_args;
thread_local std::vector<int64_t> g_field_dims;  // the `?` sizes of fields=, in order
thread_local std::optional<int64_t> g_seed;       // fit(y, seed=r)

std::mutex g_posteriors_mutex;
std::vector<std::unique_ptr<Posterior>> g_posteriors;

[[noreturn]] void fail(const std::string& message) {
  tessCodegenFail(("runtime error: " + message).c_str());
  std::abort();  // a handler that returns cannot continue an inference
}

void add_tensor(int64_t rank, void* descriptor, size_t element_size) {
  const auto* d = static_cast<const int64_t*>(descriptor);
  const auto* base = reinterpret_cast<const unsigned char*>(d[1]) + d[2] * static_cast<int64_t>(element_size);
  auto arg = std::make_unique<Arg>();
  arg->tensor = true;
  int64_t n = 1;
  for (int64_t i = 0; i < rank; ++i) n *= d[3 + i];
  arg->data.resize(static_cast<size_t>(std::max<int64_t>(n, 1)) * element_size);
  // Row-major copy, whatever the strides.
  std::vector<int64_t> index(static_cast<size_t>(rank), 0);
  for (int64_t k = 0; k < n; ++k) {
    int64_t offset = 0;
    for (int64_t i = 0; i < rank; ++i) offset += index[static_cast<size_t>(i)] * d[3 + rank + i];
    std::memcpy(arg->data.data() + static_cast<size_t>(k) * element_size, base + offset * static_cast<int64_t>(element_size),
                element_size);
    for (int64_t i = rank - 1; i >= 0; --i) {
      if (++index[static_cast<size_t>(i)] < d[3 + i]) break;
      index[static_cast<size_t>(i)] = 0;
    }
  }
  arg->descriptor.assign(static_cast<size_t>(3 + 2 * rank), 0);
  arg->descriptor[0] = arg->descriptor[1] = reinterpret_cast<int64_t>(arg->data.data());
  int64_t stride = 1;
  for (int64_t i = rank - 1; i >= 0; --i) {
    arg->descriptor[static_cast<size_t>(3 + i)] = d[3 + i];
    arg->descriptor[static_cast<size_t>(3 + rank + i)] = stride;
    stride *= d[3 + i];
  }
  arg->descriptor_pointer = arg->descriptor.data();
  g_args.push_back(std::move(arg));
}

std::string memref_text(const char* aligned, int64_t offset, int64_t size, int64_t stride) {
  std::string text;
  for (int64_t i = 0; i < size; ++i) text.push_back(aligned[offset + i * stride]);
  return text;
}

// The pieces of `text` between `sep`s (none for an empty text).
std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find(sep, start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// `key=value;...`
std::map<std::string, std::string> parse_config(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const std::string& item : split(text, ';')) {
    size_t eq = item.find('=');
    if (eq != std::string::npos) out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

std::vector<Field> parse_fields(const std::string& text, const std::vector<int64_t>& dynamic) {
  std::vector<Field> fields;
  size_t next_dynamic = 0;
  int64_t offset = 0;
  for (const std::string& item : split(text, ',')) {
    size_t colon = item.find(':');
    Field f;
    f.name = item.substr(0, colon);
    std::string dims = colon == std::string::npos ? "" : item.substr(colon + 1);
    for (const std::string& d : split(dims, 'x')) {
      if (d == "?") {
        if (next_dynamic >= dynamic.size()) fail("internal: a Posterior field's size was not given");
        f.shape.push_back(dynamic[next_dynamic++]);
      } else {
        f.shape.push_back(std::stoll(d));
      }
    }
    f.offset = offset;
    offset += f.size();
    fields.push_back(std::move(f));
  }
  return fields;
}

// A compiled function of (theta, args...) called through its packed wrapper; its first tensor
// result is copied out and its buffer freed (compiled code allocates results with malloc).
struct Compiled {
  void (*packed)(void**);
  std::vector<Arg*> args;
  int64_t dim;

  // (f64, tensor<dim x f64>): the log density, and its gradient into grad.
  double log_density(const double* theta, double* grad) const {
    int64_t theta_desc[5] = {reinterpret_cast<int64_t>(theta), reinterpret_cast<int64_t>(theta), 0, dim, 1};
    void* theta_pointer = theta_desc;
    alignas(16) int64_t result[6] = {};  // {double; descriptor of rank 1}
    void* result_pointer = result;
    std::vector<void*> slots{&result_pointer, &theta_pointer};
    for (Arg* a : args) slots.push_back(a->slot());
    packed(slots.data());
    double value;
    std::memcpy(&value, &result[0], sizeof value);
    const int64_t* desc = result + 1;
    const double* g = reinterpret_cast<const double*>(desc[1]) + desc[2];
    for (int64_t i = 0; i < dim; ++i) grad[i] = g[i * desc[4]];
    std::free(reinterpret_cast<void*>(desc[0]));
    return value;
  }

  // tensor<width x f64>: the Posterior's fields at theta, into out.
  void quantities(const double* theta, double* out, int64_t width) const {
    int64_t theta_desc[5] = {reinterpret_cast<int64_t>(theta), reinterpret_cast<int64_t>(theta), 0, dim, 1};
    void* theta_pointer = theta_desc;
    alignas(16) int64_t result[5] = {};
    void* result_pointer = result;
    std::vector<void*> slots{&result_pointer, &theta_pointer};
    for (Arg* a : args) slots.push_back(a->slot());
    packed(slots.data());
    const double* q = reinterpret_cast<const double*>(result[1]) + result[2];
    for (int64_t i = 0; i < width; ++i) out[i] = q[i * result[4]];
    std::free(reinterpret_cast<void*>(result[0]));
  }
};

std::string percent_decode(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out.push_back(static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// The statement to blame when no initial point has a finite log density: the terms (one per
// `~` statement or factor call, in source order) at the point 0 and at points drawn as the
// engines draw them; the first statement whose term is not finite at the first such point.
// "file:line:col: ...", or "" when every term is finite (then the gradient is to blame).
std::string non_finite_statement(const Compiled& terms, const std::string& sources, int64_t dim) {
  std::vector<std::string> where;
  for (const std::string& w : split(sources, '|')) where.push_back(percent_decode(w));
  if (where.empty()) return "";
  std::vector<double> theta(static_cast<size_t>(dim), 0.0), values(where.size());
  uint64_t state = 0x9E3779B97F4A7C15ull;
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (attempt > 0)
      for (double& t : theta) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        t = -2.0 + 4.0 * static_cast<double>(state >> 11) / 9007199254740992.0;
      }
    terms.quantities(theta.data(), values.data(), static_cast<int64_t>(values.size()));
    for (size_t k = 0; k < values.size(); ++k) {
      if (std::isfinite(values[k])) continue;
      std::string w = where[k];
      size_t tab = w.find('\t');
      std::string location = tab == std::string::npos ? w : w.substr(0, tab);
      std::string text = tab == std::string::npos ? "" : w.substr(tab + 1);
      char value[32];
      if (std::isnan(values[k])) std::snprintf(value, sizeof value, "NaN");
      else std::snprintf(value, sizeof value, "%g", values[k]);
      return location + ": the log density is not finite at the initial point" + (attempt == 0 ? " 0" : "") +
             ": this statement's term is " + value + "\n    " + text;
    }
  }
  return "";
}

int64_t to_int(const std::map<std::string, std::string>& c, const std::string& key, int64_t dflt) {
  auto it = c.find(key);
  return it == c.end() ? dflt : std::stoll(it->second);
}

double to_double(const std::map<std::string, std::string>& c, const std::string& key, double dflt) {
  auto it = c.find(key);
  return it == c.end() ? dflt : std::stod(it->second);
}

std::string to_string(const std::map<std::string, std::string>& c, const std::string& key, const std::string& dflt) {
  auto it = c.find(key);
  return it == c.end() ? dflt : it->second;
}

bool quiet() {
  const char* q = std::getenv("TESSERA_QUIET");
  return q && *q && std::strcmp(q, "0") != 0;
}

Posterior& posterior_of(int64_t handle) {
  std::lock_guard lock(g_posteriors_mutex);
  if (handle <= 0 || static_cast<size_t>(handle) > g_posteriors.size()) fail("not a Posterior handle");
  return *g_posteriors[static_cast<size_t>(handle - 1)];
}

// post.predict / post.uncertainty: the predictive function (mean and variance of the observed
// argument's distribution, K each) at every draw, in draw order, over the data of g_args.
template <class T>
void posterior_predict(int64_t handle, int64_t predictive, const std::string& stat, int64_t rank, void* descriptor) {
  std::vector<std::unique_ptr<Arg>> args = std::move(g_args);
  g_args.clear();
  Posterior& p = posterior_of(handle);
  const auto* d = static_cast<const int64_t*>(descriptor);
  int64_t k = 1;
  for (int64_t i = 0; i < rank; ++i) k *= d[3 + i];
  const int64_t rows = p.chains() * p.draws();
  if (static_cast<int64_t>(p.theta.size()) != rows * p.theta_dim)
    fail("Posterior." + stat + ": this Posterior keeps no draws of its parameters");
  static double no_parameters = 0;
  const double* theta = p.theta.empty() ? &no_parameters : p.theta.data();
  Compiled pred{reinterpret_cast<void (*)(void**)>(predictive), {}, p.theta_dim};
  for (auto& a : args) pred.args.push_back(a.get());
  std::vector<double> moments(static_cast<size_t>(2 * k)), sum(static_cast<size_t>(k), 0.0),
      sum_var(static_cast<size_t>(k), 0.0), means(static_cast<size_t>(rows * k));
  for (int64_t row = 0; row < rows; ++row) {
    pred.quantities(theta + row * p.theta_dim, moments.data(), 2 * k);
    for (int64_t i = 0; i < k; ++i) {
      means[static_cast<size_t>(row * k + i)] = moments[static_cast<size_t>(i)];
      sum[static_cast<size_t>(i)] += moments[static_cast<size_t>(i)];
      sum_var[static_cast<size_t>(i)] += moments[static_cast<size_t>(k + i)];
    }
  }
  T* out = reinterpret_cast<T*>(d[1]) + d[2];
  std::vector<int64_t> index(static_cast<size_t>(rank), 0);
  for (int64_t i = 0; i < k; ++i) {
    double mean = rows > 0 ? sum[static_cast<size_t>(i)] / static_cast<double>(rows) : std::nan("");
    double value = mean;
    if (stat == "uncertainty") {
      // Law of total variance: the average variance plus the variance of the means.
      double spread = 0;
      for (int64_t row = 0; row < rows; ++row) {
        double dm = means[static_cast<size_t>(row * k + i)] - mean;
        spread += dm * dm;
      }
      value = rows > 0 ? std::sqrt(sum_var[static_cast<size_t>(i)] / static_cast<double>(rows) +
                                   spread / static_cast<double>(rows))
                       : std::nan("");
    }
    int64_t offset = 0;
    for (int64_t a = 0; a < rank; ++a) offset += index[static_cast<size_t>(a)] * d[3 + rank + a];
    out[offset] = static_cast<T>(value);
    for (int64_t a = rank - 1; a >= 0; --a) {
      if (++index[static_cast<size_t>(a)] < d[3 + a]) break;
      index[static_cast<size_t>(a)] = 0;
    }
  }
}

template <class T>
void posterior_stat(int64_t handle, const std::string& stat, const std::string& name, double q, int64_t rank,
                    void* descriptor) {
  Posterior& p = posterior_of(handle);
  const Field* f = p.find(name);
  if (!f) fail("the Posterior has no field '" + name + "'");
  const auto* d = static_cast<const int64_t*>(descriptor);
  T* out = reinterpret_cast<T*>(d[1]) + d[2];
  bool samples = stat == "samples";
  int64_t want_rank = static_cast<int64_t>(f->shape.size()) + (samples ? 1 : 0);
  if (rank != want_rank) fail("Posterior." + stat + "(\"" + name + "\"): the result's rank differs from the field's");
  // The result buffer's sizes are the field's (after the row count of samples): never write
  // past a buffer whose size the program computed otherwise.
  for (size_t i = 0; i < f->shape.size(); ++i)
    if (d[3 + (samples ? 1 : 0) + static_cast<int64_t>(i)] != f->shape[i])
      fail("Posterior." + stat + "(\"" + name + "\"): the result's dimension " + std::to_string(i) + " is " +
           std::to_string(d[3 + (samples ? 1 : 0) + static_cast<int64_t>(i)]) + ", the field's is " +
           std::to_string(f->shape[i]));
  std::vector<double> values;
  if (samples) {
    int64_t rows = p.chains() * p.draws(), n = f->size();
    if (d[3] != rows) fail("Posterior.samples: the result's row count differs from the draws'");
    values.resize(static_cast<size_t>(rows * n));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < n; ++k)
        values[static_cast<size_t>(r * n + k)] = p.values()[static_cast<size_t>(r * p.width() + f->offset + k)];
  } else if (stat == "mean") {
    values = p.mean(*f);
  } else if (stat == "sd") {
    values = p.sd(*f);
  } else if (stat == "quantile") {
    values = p.quantile(*f, q);
  } else if (stat == "rhat") {
    values = p.rhat(*f);
  } else if (stat == "ess") {
    values = p.ess(*f);
  } else {
    fail("unknown Posterior statistic '" + stat + "'");
  }
  for (size_t i = 0; i < values.size(); ++i) out[i] = static_cast<T>(values[i]);
}

// TESSERA_LOGP_PROBE="points.npy:out.npz" (a test hook, docs/inference.md): before the engine
// runs, the compiled log density, its gradient and the Posterior's fields at each row of
// points.npy ([R, dim] f64, unconstrained coordinates) go to out.npz as lp [R], grad [R, dim]
// and fields [R, width]; tests/bijections compares them with SciPy's densities and with finite
// differences (the log-Jacobian of every constraint, and the gradient).
void probe(const Compiled& logp, const Compiled& gq, int64_t dim, int64_t width) {
  const char* spec = std::getenv("TESSERA_LOGP_PROBE");
  if (!spec || !*spec) return;
  std::string text(spec);
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) fail("TESSERA_LOGP_PROBE: expected points.npy:out.npz, found " + text);
  std::string in = text.substr(0, colon), out = text.substr(colon + 1);
  tessTensor points;
  if (tessNpyLoad(in.c_str(), &points) != TESS_SUCCESS) fail("TESSERA_LOGP_PROBE: " + std::string(tessGetLastErrorMessage()));
  if (points.dtype != TESS_F64 || points.rank != 2 || points.shape[1] != dim) {
    tessTensorFree(&points);
    fail("TESSERA_LOGP_PROBE: " + in + " must hold an f64 array of [rows, " + std::to_string(dim) + "]");
  }
  const int64_t rows = points.shape[0];
  std::vector<double> theta(static_cast<size_t>(rows * dim)), lp(static_cast<size_t>(rows)),
      grad(static_cast<size_t>(rows * dim)), fields(static_cast<size_t>(rows * width));
  std::memcpy(theta.data(), points.data, theta.size() * sizeof(double));
  tessTensorFree(&points);
  for (int64_t r = 0; r < rows; ++r) {
    lp[static_cast<size_t>(r)] = logp.log_density(&theta[static_cast<size_t>(r * dim)], &grad[static_cast<size_t>(r * dim)]);
    gq.quantities(&theta[static_cast<size_t>(r * dim)], &fields[static_cast<size_t>(r * width)], width);
  }
  int64_t s_lp[1] = {rows}, s_grad[2] = {rows, dim}, s_fields[2] = {rows, width};
  tessTensor t[3];
  if (tessTensorWrap(TESS_F64, 1, s_lp, nullptr, lp.data(), &t[0]) != TESS_SUCCESS ||
      tessTensorWrap(TESS_F64, 2, s_grad, nullptr, grad.data(), &t[1]) != TESS_SUCCESS ||
      tessTensorWrap(TESS_F64, 2, s_fields, nullptr, fields.data(), &t[2]) != TESS_SUCCESS)
    fail("TESSERA_LOGP_PROBE: " + std::string(tessGetLastErrorMessage()));
  const char* names[3] = {"lp", "grad", "fields"};
  if (tessera::rt::write_npz(out.c_str(), 3, names, t, 0xffffffffu) != TESS_SUCCESS)
    fail("TESSERA_LOGP_PROBE: " + std::string(tessGetLastErrorMessage()));
}

}  // namespace

extern "C" {

void tessInferBegin(void) {
  g_args.clear();
  g_field_dims.clear();
  g_seed.reset();
}

void tessInferFieldDim(int64_t size) { g_field_dims.push_back(size); }

void tessInferSeed(int64_t seed) { g_seed = seed; }

#define TESS_INFER_DEF(sfx, size) \
  void tessInferAddTensor_##sfx(int64_t rank, void* descriptor) { add_tensor(rank, descriptor, size); }
TESS_INFER_DEF(f32, 4)
TESS_INFER_DEF(f64, 8)
TESS_INFER_DEF(f16, 2)
TESS_INFER_DEF(bf16, 2)
TESS_INFER_DEF(i1, 1)
TESS_INFER_DEF(i8, 1)
TESS_INFER_DEF(i16, 2)
TESS_INFER_DEF(i32, 4)
TESS_INFER_DEF(i64, 8)
#undef TESS_INFER_DEF

void tessInferAddI64(int64_t value) {
  auto arg = std::make_unique<Arg>();
  std::memcpy(&arg->scalar, &value, sizeof value);
  g_args.push_back(std::move(arg));
}

void tessInferAddF64(double value) {
  auto arg = std::make_unique<Arg>();
  std::memcpy(&arg->scalar, &value, sizeof value);
  g_args.push_back(std::move(arg));
}

void tessInferAddBool(int32_t value) {
  auto arg = std::make_unique<Arg>();
  arg->scalar = value != 0 ? 1 : 0;
  g_args.push_back(std::move(arg));
}

int64_t tessInferRun(int64_t log_density, int64_t quantities, int64_t terms, const char* allocated,
                     const char* aligned, int64_t offset, int64_t size, int64_t stride, int64_t dim, int64_t width) {
  (void)allocated;
  using namespace tessera::rt::infer;
  std::vector<std::unique_ptr<Arg>> args = std::move(g_args);
  g_args.clear();
  std::optional<int64_t> seed = g_seed;
  g_seed.reset();
  if (seed && *seed < 0) fail("seed= must be >= 0, got " + std::to_string(*seed));
  std::map<std::string, std::string> config = parse_config(memref_text(aligned, offset, size, stride));
  std::vector<Field> fields = parse_fields(to_string(config, "fields", ""), g_field_dims);
  g_field_dims.clear();
  Compiled logp{reinterpret_cast<void (*)(void**)>(log_density), {}, dim};
  Compiled gq{reinterpret_cast<void (*)(void**)>(quantities), {}, dim};
  for (auto& a : args) {
    logp.args.push_back(a.get());
    gq.args.push_back(a.get());
  }
  LogDensity f = [&logp](const double* theta, double* grad) { return logp.log_density(theta, grad); };
  Compiled per_statement{reinterpret_cast<void (*)(void**)>(terms), logp.args, dim};
  std::string sources = to_string(config, "terms", "");
  // An engine that cannot start: name the statement whose term is not finite, when there is one.
  auto fail_start = [&](const std::string& why) {
    if (terms != 0 && why.find("initial point") != std::string::npos)
      if (std::string where = non_finite_statement(per_statement, sources, dim); !where.empty()) fail(where + "\n" + why);
    fail(why);
  };

  probe(logp, gq, dim, width);
  std::unique_ptr<Posterior> post;
  std::vector<double> theta_draws;  // rows of dim, chains one after the other
  int64_t chains = 1, draws = 0;
  if (config.count("engine.mcmc")) {
    NutsConfig c;
    std::string algorithm = to_string(config, "mcmc.algorithm", "NUTS");
    if (algorithm != "NUTS" && algorithm != "HMC") fail("@mcmc(algorithm=\"" + algorithm + "\"): NUTS or HMC");
    c.nuts = algorithm == "NUTS";
    c.num_samples = to_int(config, "mcmc.num_samples", 1000);
    c.num_warmup = to_int(config, "mcmc.num_warmup", 1000);
    c.chains = to_int(config, "mcmc.chains", 4);
    c.seed = static_cast<uint64_t>(seed.value_or(to_int(config, "mcmc.seed", 0)));
    c.max_tree_depth = static_cast<int>(to_int(config, "mcmc.max_tree_depth", 10));
    c.target_accept = to_double(config, "mcmc.target_accept", 0.8);
    c.hmc_num_steps = to_int(config, "mcmc.num_steps", c.hmc_num_steps);
    c.init_radius = to_double(config, "mcmc.init_radius", 2.0);
    c.init_step_size = to_double(config, "mcmc.step_size", 1.0);
    if (!quiet()) c.progress = terminal_progress(algorithm, c.chains);
    NutsResult r = sample_nuts(f, dim, c);
    if (!r.error.empty()) fail_start(r.error);
    chains = c.chains;
    draws = c.num_samples;
    post = std::make_unique<Posterior>(fields, chains, draws);
    post->set_sampler_stats(r, c);
    for (const ChainResult& cr : r.chains) theta_draws.insert(theta_draws.end(), cr.draws.begin(), cr.draws.end());
  } else if (config.count("engine.variational")) {
    AdviConfig c;
    std::string method = to_string(config, "variational.method", "meanfield");
    if (method != "meanfield" && method != "fullrank")
      fail("@variational(method=\"" + method + "\"): meanfield or fullrank");
    c.fullrank = method == "fullrank";
    c.grad_samples = to_int(config, "elbo.n_samples", 1);
    c.elbo_samples = to_int(config, "variational.elbo_samples", c.elbo_samples);
    c.eval_elbo = to_int(config, "variational.eval_elbo", c.eval_elbo);
    c.max_iterations = to_int(config, "variational.max_iter", c.max_iterations);
    c.tol_rel_obj = to_double(config, "variational.tol_rel_obj", c.tol_rel_obj);
    c.eta = to_double(config, "variational.eta", 0);
    c.output_samples = to_int(config, "variational.output_samples", c.output_samples);
    c.seed = static_cast<uint64_t>(seed.value_or(to_int(config, "variational.seed", 0)));
    if (!quiet()) c.progress = terminal_progress("ADVI", 1);
    AdviResult r = fit_advi(f, dim, c);
    if (!r.error.empty()) fail_start(r.error);
    draws = c.output_samples;
    theta_draws = r.draws;
    post = std::make_unique<Posterior>(fields, 1, draws);
    post->method = c.fullrank ? "ADVI (full-rank)" : "ADVI (mean-field)";
    post->seed = c.seed;
    // As Stan's informational message: the fit stopped at max_iter, not by the relative-ELBO rule.
    if (!r.converged)
      std::fprintf(stderr,
                   "warning: ADVI stopped at max_iter = %lld iterations before the relative ELBO change fell below "
                   "tol_rel_obj = %g: the approximation may not have converged (raise max_iter)\n",
                   static_cast<long long>(c.max_iterations), c.tol_rel_obj);
  } else {
    fail("inference without an engine (@mcmc or @variational)");
  }
  // The fields of each draw, from the compiled quantities.
  post->values().assign(static_cast<size_t>(chains * draws * width), 0.0);
  for (int64_t row = 0; row < chains * draws; ++row)
    gq.quantities(&theta_draws[static_cast<size_t>(row * dim)], &post->values()[static_cast<size_t>(row * width)], width);
  post->theta = std::move(theta_draws);
  post->theta_dim = dim;
  std::lock_guard lock(g_posteriors_mutex);
  g_posteriors.push_back(std::move(post));
  return static_cast<int64_t>(g_posteriors.size());
}

int64_t tessPosteriorDraws(int64_t posterior) {
  Posterior& p = posterior_of(posterior);
  return p.chains() * p.draws();
}

#define TESS_POSTERIOR_STAT_DEF(sfx, T)                                                                       \
  void tessPosteriorStat_##sfx(int64_t posterior, const char* s_allocated, const char* s_aligned, int64_t s_offset, \
                               int64_t s_size, int64_t s_stride, const char* f_allocated, const char* f_aligned,  \
                               int64_t f_offset, int64_t f_size, int64_t f_stride, double q, int64_t rank,       \
                               void* descriptor) {                                                                \
    (void)s_allocated;                                                                                            \
    (void)f_allocated;                                                                                            \
    posterior_stat<T>(posterior, memref_text(s_aligned, s_offset, s_size, s_stride),                              \
                      memref_text(f_aligned, f_offset, f_size, f_stride), q, rank, descriptor);                   \
  }
TESS_POSTERIOR_STAT_DEF(f32, float)
TESS_POSTERIOR_STAT_DEF(f64, double)
#undef TESS_POSTERIOR_STAT_DEF

#define TESS_POSTERIOR_PREDICT_DEF(sfx, T)                                                                      \
  void tessPosteriorPredict_##sfx(int64_t posterior, int64_t predictive, const char* s_allocated,                  \
                                  const char* s_aligned, int64_t s_offset, int64_t s_size, int64_t s_stride,        \
                                  int64_t rank, void* descriptor) {                                                 \
    (void)s_allocated;                                                                                              \
    posterior_predict<T>(posterior, predictive, memref_text(s_aligned, s_offset, s_size, s_stride), rank, descriptor); \
  }
TESS_POSTERIOR_PREDICT_DEF(f32, float)
TESS_POSTERIOR_PREDICT_DEF(f64, double)
#undef TESS_POSTERIOR_PREDICT_DEF

void tessPosteriorSummary(int64_t posterior) {
  std::string text = posterior_of(posterior).summary();
  std::fflush(stdout);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void tessPosteriorSave(int64_t posterior, const char* allocated, const char* aligned, int64_t offset, int64_t size,
                       int64_t stride) {
  (void)allocated;
  std::string path = memref_text(aligned, offset, size, stride);
  Posterior& p = posterior_of(posterior);
  bool csv = path.size() > 4 && path.compare(path.size() - 4, 4, ".csv") == 0;
  std::string error = csv ? p.write_stan_csv(path) : p.write_npz(path);
  if (!error.empty()) fail(error);
}

void tessPosteriorTracePlot(int64_t posterior, const char* allocated, const char* aligned, int64_t offset, int64_t size,
                            int64_t stride, const char* n_allocated, const char* n_aligned, int64_t n_offset,
                            int64_t n_size, int64_t n_stride) {
  (void)allocated;
  (void)n_allocated;
  std::string path = memref_text(aligned, offset, size, stride);
  std::string list = memref_text(n_aligned, n_offset, n_size, n_stride);
  std::string error = posterior_of(posterior).write_trace_svg(path, split(list, ','));
  if (!error.empty()) fail(error);
}

}  // extern "C"
