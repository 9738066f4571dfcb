// CPU benchmarks of issue 4: our JIT-compiled code against its peers, on the same inputs, in
// the same run (bench rules: /work/shared/design/BENCH.md).
//
//   SGEMM 1024^3, 1000^3, 512x4096x512 f32  vs OpenBLAS cblas_sgemm (in this process)
//   gelu(x * a + b), 16M f32    vs PyTorch eager   (bench/torch_peer.py, a co-process)
//   softmax [4096, 4096]        vs torch.softmax
//   layer_norm [8192, 1024]     vs torch.nn.functional.layer_norm
//   attention [4, 8, 512, 64], plain and causal, forward and forward+backward, vs PyTorch eager
//     (matmul, softmax, matmul; autograd)
//   CNN training steps (digits CNN, a ResNet-style block at B=32, C=64, 32x32) vs PyTorch eager
//   bf16 @accum(f32) matmul 1024^3 vs PyTorch bf16 matmul, and vs our own f32 matmul
//   JIT compile of a transformer block: cold (cache off) and cache hit
//
// Programs go through the path `tesserac run` takes: parse -> sema::Program ->
// ir::lower_to_graph (entry) -> ir::run_schedule_pipeline -> codegen::JitModule::compile with
// the runtime's symbols. Each benchmark first checks that our output matches the peer's
// (allclose); a mismatch prints no ratio and makes the exit status 1. Timing alternates
// peer and ours (ABAB..., `--pairs` pairs after a warm-up); ratio = median(peer) / median(ours),
// so > 1 means we are faster. In one process, one thread on each side (the gate); more threads
// are timed by bench/scaling.py with each side alone in its own process (--solo).
//
// Usage: cpu_bench [--small] [--pairs N] [--peer PATH/torch_peer.py] [--python EXE] [--no-torch]
//                  [--only NAME[,NAME...]] [--solo ours|peer [--threads N]] [--print-program block|block_bf16|cnn|resnet]
//   --solo: time one side only, at N threads, and print tab-separated `solo` lines (the
//   processes bench/scaling.py alternates for its thread curve).
//   --small: tiny sizes, correctness only (the bench_smoke ctest); no figures are judged.

#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <cblas.h>
#include "ir/tile/CpuPipeline.h"
#include "ir/tile/MatmulSchedule.h"
#include <llvm/Support/Error.h>
#include <llvm/TargetParser/Host.h>
#include <mlir/IR/MLIRContext.h>

#include "codegen/cpu/jit.h"
#include "frontend/diagnostics.h"
#include "frontend/parser.h"
#include "frontend/source_manager.h"
#include "ir/graph/lower_to_graph.h"
#include "ir/schedule/Passes.h"
#include "sema/program.h"
#include "sema/sema.h"
#include "tessera/codegen_abi.h"
#include "tessera/runtime.h"

extern "C" void openblas_set_num_threads(int);
extern "C" char* openblas_get_corename(void);

using namespace tessera;
using codegen::DType;
using codegen::RtValue;
using Clock = std::chrono::steady_clock;

extern char** environ;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

[[noreturn]] void die(const std::string& message) {
  std::cerr << "cpu_bench: " << message << "\n";
  std::exit(2);
}


// Times of the stages in front of the JIT, and the JIT's own.
struct CompileTimes {
  double frontend_ms = 0;  // parse + sema
  double graph_ms = 0;     // lower_to_graph
  double schedule_ms = 0;  // run_schedule_pipeline
  double jit_ms = 0;       // JitModule::compile
  codegen::CompileStats stats;
  double total_ms() const { return frontend_ms + graph_ms + schedule_ms + jit_ms; }
};

// A compiled program and its entry's symbol. The MLIR context must outlive nothing here: the
// JIT keeps its own LLVM context, so the module is dropped after compile.
struct Compiled {
  std::unique_ptr<codegen::JitModule> jit;
  std::string entry;
  CompileTimes times;
};

Compiled compile_program(const std::string& source, const std::string& entry, const codegen::JitOptions& jit_options,
                         const std::string& arch = "native") {
  Compiled out;
  auto t0 = Clock::now();
  SourceManager sources;
  auto file = sources.add_buffer(entry + ".tsr", source);
  if (!file) die("cannot add the program buffer");
  DiagnosticEngine diags(sources);
  ast::AstContext ctx;
  ast::Module module = parse_file(*file, sources, ctx, diags);
  auto report = [&](const char* stage) {
    std::string text;
    for (const Diagnostic& d : diags.diagnostics()) text += render_text(d, sources) + "\n";
    die(std::string(stage) + " failed for '" + entry + "':\n" + text);
  };
  if (diags.has_errors()) report("parsing");
  sema::Program program(sources, diags, sema::SemaOptions{});
  sema::TypedModule typed = program.check(module);
  if (diags.has_errors()) report("checking");
  out.times.frontend_ms = seconds_since(t0) * 1e3;

  t0 = Clock::now();
  mlir::MLIRContext context;
  ir::GraphLoweringOptions lowering;
  lowering.entry = entry;
  mlir::OwningOpRef<mlir::ModuleOp> graph = ir::lower_to_graph(context, typed, sources, diags, lowering);
  if (!graph || diags.has_errors()) report("graph lowering");
  out.times.graph_ms = seconds_since(t0) * 1e3;

  t0 = Clock::now();
  {
    ir::DiagnosticBridge bridge(context, sources, diags);
    if (mlir::failed(ir::run_schedule_pipeline(*graph))) {
      if (!bridge.internal_errors().empty()) die("schedule lowering: " + bridge.internal_errors());
      report("schedule lowering");
    }
  }
  out.times.schedule_ms = seconds_since(t0) * 1e3;

  t0 = Clock::now();
  codegen::CpuOptions cpu;  // arch "native", O2 and the Tile IR schedule: what `tesserac run` uses
  cpu.arch = arch;
  ir::CpuScheduleOptions schedule;
  schedule.arch = cpu.arch;
  cpu.pre_bufferization = [schedule](mlir::OpPassManager& pm) { ir::buildCpuTensorSchedule(pm, schedule); };
  cpu.post_bufferization = [schedule](mlir::OpPassManager& pm) { ir::buildCpuBufferSchedule(pm, schedule); };
  auto jit = codegen::JitModule::compile(*graph, cpu, jit_options);
  if (!jit) die("code generation for '" + entry + "': " + llvm::toString(jit.takeError()));
  out.times.jit_ms = seconds_since(t0) * 1e3;
  out.jit = std::move(*jit);
  out.times.stats = out.jit->stats();
  out.entry = ir::entry_symbol(entry);
  return out;
}

codegen::JitOptions no_cache() {
  codegen::JitOptions o;
  o.use_cache = false;
  o.symbols = tessCodegenSymbolList();  // the runtime, by address (as tesserac run does)
  return o;
}

// Calls the entry; returns its first result (an entry may return several: a training step
// returns the updated parameters first).
RtValue call(Compiled& c, const std::vector<RtValue>& args) {
  auto r = c.jit->invoke(c.entry, args);
  if (!r) die("invoke '" + c.entry + "': " + llvm::toString(r.takeError()));
  if (r->empty() || !(*r)[0].is_tensor()) die("'" + c.entry + "' should return a tensor first");
  return (*r)[0];
}

RtValue random_tensor(std::vector<int64_t> shape, std::mt19937& rng, float lo, float hi) {
  RtValue t = RtValue::tensor_zeros(DType::F32, std::move(shape));
  std::uniform_real_distribution<float> dist(lo, hi);
  float* p = static_cast<float*>(t.data);
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = dist(rng);
  return t;
}

// f32 -> bf16, rounding to nearest even (the inputs are finite).
RtValue to_bf16(const RtValue& f) {
  RtValue t = RtValue::tensor_zeros(DType::BF16, f.shape);
  const float* src = static_cast<const float*>(f.data);
  auto* dst = static_cast<uint16_t*>(t.data);
  for (int64_t i = 0, n = f.numel(); i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &src[i], 4);
    dst[i] = static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
  }
  return t;
}

// bf16 -> f32 (exact), for the .npy files the peer reads; other dtypes unchanged.
RtValue widen(const RtValue& v) {
  if (v.dtype != DType::BF16) return v;
  RtValue c = v.contiguous() ? v : v.contiguous_copy();
  RtValue t = RtValue::tensor_zeros(DType::F32, c.shape);
  const auto* src = static_cast<const uint16_t*>(c.data);
  auto* dst = static_cast<float*>(t.data);
  for (int64_t i = 0, n = c.numel(); i < n; ++i) {
    uint32_t u = uint32_t(src[i]) << 16;
    std::memcpy(&dst[i], &u, 4);
  }
  return t;
}

void save_npy(const RtValue& v, const std::string& path) {
  RtValue c = v.contiguous() ? v : v.contiguous_copy();
  tessTensor t{};
  tessDType dtype = c.dtype == DType::I64 ? TESS_I64 : c.dtype == DType::F64 ? TESS_F64 : TESS_F32;
  if (c.dtype != DType::F32 && c.dtype != DType::F64 && c.dtype != DType::I64) die("save_npy: unexpected dtype");
  tessTensorWrap(dtype, static_cast<int32_t>(c.shape.size()), c.shape.data(), c.strides.data(), c.data, &t);
  if (tessNpySave(path.c_str(), &t) != TESS_SUCCESS) die("cannot write " + path + ": " + tessGetLastErrorMessage());
}

// The PyTorch peer: /usr/bin/python3 bench/torch_peer.py, one command per line each way.
class TorchPeer {
 public:
  bool start(const std::string& python, const std::string& script) {
    int to_child[2], from_child[2];
    if (pipe(to_child) || pipe(from_child)) return false;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
    posix_spawn_file_actions_addclose(&actions, to_child[1]);
    posix_spawn_file_actions_addclose(&actions, from_child[0]);
    std::vector<char*> argv = {const_cast<char*>(python.c_str()), const_cast<char*>(script.c_str()), nullptr};
    int rc = posix_spawn(&pid_, python.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(to_child[0]);
    close(from_child[1]);
    if (rc != 0) return false;
    in_ = fdopen(to_child[1], "w");
    out_ = fdopen(from_child[0], "r");
    return ask("threads 1").rfind("ok", 0) == 0;
  }
  ~TorchPeer() {
    if (in_) {
      std::fputs("quit\n", in_);
      std::fclose(in_);
    }
    if (out_) std::fclose(out_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  // Sends one command and returns its one-line answer ("" when the peer is gone).
  std::string ask(const std::string& command) {
    if (!in_ || !out_) return "";
    std::fputs((command + "\n").c_str(), in_);
    std::fflush(in_);
    std::string line;
    int ch;
    while ((ch = std::fgetc(out_)) != EOF && ch != '\n') line.push_back(static_cast<char>(ch));
    return line;
  }
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  FILE* in_ = nullptr;
  FILE* out_ = nullptr;
};

struct Row {
  std::string name, unit, threads_note, target_text, check;
  double ours = 0, peer = 0;  // throughput in `unit`
  double ours_ms = 0, peer_ms = 0;
  double target = 0;  // minimum ratio; 0: none
  bool has_ratio = false;
  double work = 0;       // per call, in units of `unit` x 1e9 x seconds
  int solo_threads = 0;  // --solo: the thread count of the one side timed
};

std::vector<Row> rows;
bool failed = false;

// Which side a --solo run times: with more than one thread each side runs in its own process
// (BENCH.md: in one process a peer's workers keep spinning after a call and take cores from
// ours); bench/scaling.py alternates such processes.
enum class Solo { none, ours, peer };
Solo solo = Solo::none;

// The host's busy and total CPU time so far, in clock ticks (the first line of /proc/stat).
std::pair<uint64_t, uint64_t> host_cpu_ticks() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  uint64_t busy = user + nice + system + irq + softirq + steal;
  return {busy, busy + idle + iowait};
}

// With --solo, nothing else may run while one side is timed: after the output check, the peer's
// workers (PyTorch's OpenMP pool in its process, OpenBLAS's in ours) keep spinning for tens of
// ms, and a 2-thread run of ours then shared the cores with them (our bf16 matmul timed 5.5 ms
// at 2 threads, as at 1, right after PyTorch's check, and 3.2 ms without it). Waits, up to 3 s,
// for a 100 ms window in which the host's cores were at least 90% idle (our own pool sleeps
// 200 us after its last region); warns when the host stayed busy.
void wait_until_host_quiet() {
  auto deadline = Clock::now() + std::chrono::seconds(3);
  while (true) {
    auto [busy0, total0] = host_cpu_ticks();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto [busy1, total1] = host_cpu_ticks();
    uint64_t total = total1 - total0, busy = busy1 - busy0;
    if (total > 0 && busy * 10 <= total) return;
    if (Clock::now() > deadline) {
      std::fprintf(stderr, "cpu_bench: the host stayed busy (%llu of %llu ticks) before a solo timing\n",
                   static_cast<unsigned long long>(busy), static_cast<unsigned long long>(total));
      return;
    }
  }
}

// ABAB timing: `pairs` alternations of ours and the peer after one warm-up of each (ours is
// already warm when `ours_warm`: the output check ran it, and a slow kernel is not run twice).
// With --solo, `pairs` timed calls of that side only, after its warm-up, on a quiet host.
void time_pairs(const std::function<double()>& ours, const std::function<double()>& peer, int pairs,
                std::vector<double>& t_ours, std::vector<double>& t_peer, bool ours_warm = false) {
  // Then calls for at least 100 ms before the timed ones: after the quiet wait (or a resize of
  // the pool) the first calls on two threads ran up to twice as slow (an idle vCPU is
  // descheduled by the hypervisor and comes back slowly), and with 7 timed calls they set the
  // median: our bf16 matmul read 5.5 ms on 2 threads, 3.2 ms after this warm-up.
  auto warm_then_time = [&](const std::function<double()>& side, std::vector<double>& t) {
    wait_until_host_quiet();
    for (double spent = 0; spent < 0.1;) spent += side();
    for (int i = 0; i < pairs; ++i) t.push_back(side());
  };
  if (solo == Solo::ours) {
    if (!ours_warm) ours();
    warm_then_time(ours, t_ours);
    return;
  }
  if (solo == Solo::peer) {
    peer();
    warm_then_time(peer, t_peer);
    return;
  }
  if (!ours_warm) ours();
  peer();
  for (int i = 0; i < pairs; ++i) {
    t_peer.push_back(peer());
    t_ours.push_back(ours());
  }
}

// A timer of one call of `f`, in seconds: a side of time_pairs.
template <typename F>
std::function<double()> timed(F f) {
  return [f] {
    auto t0 = Clock::now();
    f();
    return seconds_since(t0);
  };
}

// `got` against `ref` (f32 tensors of n elements): "match (max |err| E<what>)" when every
// element is within atol + rtol |ref|, else "MISMATCH (...)"; `ok` says which.
std::string compare_f32(const RtValue& got, const RtValue& ref, int64_t n, double tol, const char* what, bool& ok) {
  const float* g = static_cast<const float*>(got.data);
  const float* r = static_cast<const float*>(ref.data);
  double max_err = 0;
  ok = true;
  for (int64_t i = 0; i < n; ++i) {
    double e = std::fabs(double(g[i]) - r[i]);
    max_err = std::max(max_err, e);
    if (!(e <= tol + tol * std::fabs(r[i]))) ok = false;
  }
  char check[96];
  std::snprintf(check, sizeof check, "%s (max |err| %.2g%s)", ok ? "match" : "MISMATCH", max_err, what);
  return check;
}

// Thread configurations timed, ours / peer. In one process only 1 / 1, the gate; --solo SIDE
// --threads N times one side at N threads.
struct ThreadConfig {
  int ours, peer;
};
std::vector<ThreadConfig> configs = {{1, 1}};
using Times = std::vector<std::vector<double>>;  // per configuration

// Our parallel loops run on the runtime's default context (tessParallelFor with NULL).
void set_our_threads(int n) {
  tessContext_t context = nullptr;
  if (tessGetDefaultContext(&context) != TESS_SUCCESS || tessSetNumThreads(context, n) != TESS_SUCCESS)
    die("cannot set the runtime's thread count to " + std::to_string(n));
}

void add_rows(const std::string& name, const std::string& unit, double work, double target, const Times& t_ours,
              const Times& t_peer, const std::string& check) {
  for (size_t th = 0; th < configs.size(); ++th) {
    if (solo != Solo::none) {
      const std::vector<double>& t = solo == Solo::ours ? t_ours[th] : t_peer[th];
      if (t.empty()) continue;
      Row r;
      r.name = name;
      r.unit = unit;
      r.work = work;
      r.solo_threads = solo == Solo::ours ? configs[th].ours : configs[th].peer;
      (solo == Solo::ours ? r.ours_ms : r.peer_ms) = median(t) * 1e3;
      r.check = check;
      rows.push_back(r);
      continue;
    }
    if (t_ours[th].empty() || t_peer[th].empty()) continue;
    Row r;
    r.name = name;
    r.unit = unit;
    r.work = work;
    r.threads_note = std::to_string(configs[th].ours) + " / " + std::to_string(configs[th].peer);
    r.ours_ms = median(t_ours[th]) * 1e3;
    r.peer_ms = median(t_peer[th]) * 1e3;
    r.ours = work / (r.ours_ms * 1e-3) * 1e-9;
    r.peer = work / (r.peer_ms * 1e-3) * 1e-9;
    r.target = th == 0 ? target : 0;
    r.has_ratio = true;
    r.check = check;
    rows.push_back(r);
  }
}

void add_unchecked(const std::string& name, const std::string& why) {
  Row r;
  r.name = name;
  r.check = why;
  rows.push_back(r);
}

struct Config {
  bool small = false;
  int pairs = 7;
  std::string peer_script, python = "/usr/bin/python3";
  bool torch = true;
  std::vector<std::string> only;
  bool wants(const std::string& name) const {
    return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
  }
};

// --- SGEMM against OpenBLAS, in process -------------------------------------------------
// C[m, n] = A[m, k] @ B[k, n], row-major, for the sizes of BENCH.md (1024^3, 1000^3 ragged,
// 512 x 4096 x 512); --small: ragged sizes that are no multiple of any vector width or block.
void bench_sgemm_size(const Config& cfg, int64_t m, int64_t k, int64_t n) {
  std::ostringstream src;
  src << "@tessera.function\ndef mm(a: Tensor[" << m << ", " << k << "], b: Tensor[" << k << ", " << n
      << "]) -> Tensor[" << m << ", " << n << "]:\n    return a @ b\n";
  Compiled c = compile_program(src.str(), "mm", no_cache());
  std::mt19937 rng(1234);
  RtValue a = random_tensor({m, k}, rng, -1, 1), b = random_tensor({k, n}, rng, -1, 1);
  RtValue ref = RtValue::tensor_zeros(DType::F32, {m, n});
  auto blas = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, static_cast<float*>(a.data), k,
                static_cast<float*>(b.data), n, 0.0f, static_cast<float*>(ref.data), n);
  };
  openblas_set_num_threads(1);
  blas();
  bool ok = true;
  std::string check = compare_f32(call(c, {a, b}), ref, m * n, 1e-3, "", ok);
  std::string name = m == k && k == n ? "sgemm " + std::to_string(n) + "^3 f32"
                                      : "sgemm " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n) + " f32";
  if (!ok) {
    failed = true;
    add_unchecked(name, check);
    return;
  }
  if (cfg.small) {
    add_unchecked(name, check);
    return;
  }
  Times t_ours(configs.size()), t_peer(configs.size());
  for (size_t th = 0; th < configs.size(); ++th) {
    openblas_set_num_threads(configs[th].peer);
    set_our_threads(configs[th].ours);
    time_pairs(timed([&] { call(c, {a, b}); }), timed(blas), cfg.pairs, t_ours[th], t_peer[th], /*ours_warm=*/true);
  }
  openblas_set_num_threads(1);
  set_our_threads(1);
  add_rows(name + " (OpenBLAS)", "GFLOP/s", 2.0 * m * n * k, 0.7, t_ours, t_peer, check);
}

void bench_sgemm(const Config& cfg) {
  if (cfg.small) {
    bench_sgemm_size(cfg, 67, 67, 67);  // ragged, not a multiple of any vector width
    bench_sgemm_size(cfg, 7, 300, 45);  // more than one K block, tails in M and N
    return;
  }
  bench_sgemm_size(cfg, 1024, 1024, 1024);
  bench_sgemm_size(cfg, 1000, 1000, 1000);
  bench_sgemm_size(cfg, 512, 4096, 512);
}

// --- the PyTorch benchmarks --------------------------------------------------------------
struct TorchCase {
  std::string name;  // torch_peer.py's name
  std::string label;
  std::string source, entry;
  std::vector<RtValue> inputs;
  double bytes = 0;  // compulsory traffic: inputs read once, output written once
  std::string unit = "GB/s";  // the figure is bytes / time / 1e9 in that unit
  std::vector<RtValue> scalar_args;  // after the tensor inputs, ours only (the peer reads the tensors)
  double target = 0;
  double rtol = 1e-5, atol = 1e-6;
  int min_pairs = 0;  // at least this many ABAB pairs (a case of a few ms is cheap to time more often)
  double min_fraction = 1.0;  // the fraction of elements that must be allclose
};

void bench_torch(const Config& cfg, TorchPeer& peer, TorchCase& tc, const std::string& dir) {
  Compiled c = compile_program(tc.source, tc.entry, no_cache());
  for (size_t i = 0; i < tc.inputs.size(); ++i)
    save_npy(widen(tc.inputs[i]), dir + "/" + tc.name + "_in" + std::to_string(i) + ".npy");
  if (!peer.running()) {
    add_unchecked(tc.label, "no peer (PyTorch not started)");
    return;
  }
  std::string reply = peer.ask("load " + tc.name + " " + dir);
  if (reply != "ok") {
    add_unchecked(tc.label, "peer failed to load: " + reply);
    return;
  }
  std::vector<RtValue> args = tc.inputs;
  args.insert(args.end(), tc.scalar_args.begin(), tc.scalar_args.end());
  RtValue got = call(c, args);
  std::string ours_path = dir + "/" + tc.name + "_ours.npy";
  save_npy(widen(got), ours_path);
  char tol[96];
  std::snprintf(tol, sizeof tol, " %g %g %g", tc.rtol, tc.atol, tc.min_fraction);
  reply = peer.ask("check " + tc.name + " " + ours_path + tol);
  bool ok = reply.rfind("ok ", 0) == 0;
  std::string check = ok ? "match (max |err| " + reply.substr(3) + ")" : "MISMATCH: " + reply;
  if (!ok || cfg.small) {
    if (!ok) failed = true;
    add_unchecked(tc.label, check);
    peer.ask("drop " + tc.name);
    return;
  }
  Times t_ours(configs.size()), t_peer(configs.size());
  for (size_t th = 0; th < configs.size(); ++th) {
    peer.ask("threads " + std::to_string(configs[th].peer));
    set_our_threads(configs[th].ours);
    time_pairs(
        timed([&] { call(c, args); }),
        [&] {
          std::string t = peer.ask("time " + tc.name);
          char* end = nullptr;
          double s = std::strtod(t.c_str(), &end);
          if (end == t.c_str()) die("peer answered '" + t + "' to 'time " + tc.name + "'");
          return s;
        },
        std::max(cfg.pairs, tc.min_pairs), t_ours[th], t_peer[th]);
  }
  peer.ask("threads 1");
  set_our_threads(1);
  peer.ask("drop " + tc.name);
  add_rows(tc.label, tc.unit, tc.bytes, tc.target, t_ours, t_peer, check);
}

std::string dims(std::initializer_list<int64_t> d) {
  std::string s;
  for (int64_t x : d) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return s;
}

// --- One training step of an MLP (784-256-10) ------------------------------------------------
// Forward, backward (tessera.value_and_grad) and AdamW (lr 1e-3, betas 0.9/0.999, eps 1e-8,
// decoupled weight decay 0.01) on a batch, against PyTorch eager (loss.backward(),
// torch.optim.AdamW.step()) in the same run. The update is written as PyTorch's AdamW computes
// it (torch/optim/adamw.py, _single_tensor_adamw): p *= 1 - lr wd; the bias corrections are
// scalars; p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps). Same arithmetic on both sides. Ours is one entry: parameters and moments in,
// updated parameters and moments out, the updated w1 first: the peer checks it after one step
// from the same state (the inputs were saved before). The entry donates its state
// (donate_argnums, docs/codegen.md): like PyTorch's in-place optimizer it updates the parameters
// and moments where they are, so each timed call is a step from the previous one's state.
// adamw<rank>: AdamW (lr 1e-3, betas 0.9 / 0.999, eps 1e-8, decoupled weight decay 0.01) of a
// parameter of that rank, as PyTorch's _single_tensor_adamw computes it: the training-step
// programs' optimizer.
std::string adamw_function(int rank) {
  const char* names[] = {"A", "B", "C", "D", "E", "F"};
  std::string dims, type = "Tensor[";
  for (int i = 0; i < rank; ++i) {
    dims += std::string(i ? ", " : "") + names[i];
    type += std::string(i ? ", " : "") + names[i];
  }
  type += "]";
  return "\n@ts.function\ndef adamw" + std::to_string(rank) + "[" + dims + "](p: " + type + ", g: " + type + ", m: " + type +
         ", v: " + type + R"(, t: f32):
    m2 = 0.9 * m + 0.1 * g
    v2 = 0.999 * v + 0.001 * g * g
    step_size = 0.001 / (1.0 - 0.9 ** t)
    bias_correction2_sqrt = sqrt(1.0 - 0.999 ** t)
    return p * (1.0 - 0.001 * 0.01) - step_size * (m2 / (sqrt(v2) / bias_correction2_sqrt + 1e-8)), m2, v2
)";
}
const std::string kAdamW = adamw_function(2) + adamw_function(1);

std::string mlp_program(int64_t b, int64_t d, int64_t h, int64_t c) {
  std::string t = R"(import tessera as ts

@ts.function
def loss(w1: Tensor[{D}, {H}], b1: Tensor[{H}], w2: Tensor[{H}, {C}], b2: Tensor[{C}], x: Tensor[{B}, {D}],
         labels: Tensor[{B}, i64]) -> f32:
    return cross_entropy(relu(x @ w1 + b1) @ w2 + b2, labels)

@ts.function
def gradients(w1: Tensor[{D}, {H}], b1: Tensor[{H}], w2: Tensor[{H}, {C}], b2: Tensor[{C}], x: Tensor[{B}, {D}],
              labels: Tensor[{B}, i64]):
    l, g = ts.value_and_grad(loss, argnums=(0, 1, 2, 3))(w1, b1, w2, b2, x, labels)
    return g[0], g[1], g[2], g[3], l

)" + kAdamW + R"(
@ts.function(donate_argnums=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11))
def step(w1: Tensor[{D}, {H}], b1: Tensor[{H}], w2: Tensor[{H}, {C}], b2: Tensor[{C}],
         mw1: Tensor[{D}, {H}], mb1: Tensor[{H}], mw2: Tensor[{H}, {C}], mb2: Tensor[{C}],
         vw1: Tensor[{D}, {H}], vb1: Tensor[{H}], vw2: Tensor[{H}, {C}], vb2: Tensor[{C}],
         x: Tensor[{B}, {D}], labels: Tensor[{B}, i64], t: f32):
    l, g = ts.value_and_grad(loss, argnums=(0, 1, 2, 3))(w1, b1, w2, b2, x, labels)
    w1n, mw1n, vw1n = adamw2(w1, g[0], mw1, vw1, t)
    b1n, mb1n, vb1n = adamw1(b1, g[1], mb1, vb1, t)
    w2n, mw2n, vw2n = adamw2(w2, g[2], mw2, vw2, t)
    b2n, mb2n, vb2n = adamw1(b2, g[3], mb2, vb2, t)
    return w1n, b1n, w2n, b2n, mw1n, mb1n, mw2n, mb2n, vw1n, vb1n, vw2n, vb2n, l
)";
  // The sizes are written in as static dimensions.
  for (auto [name, v] : {std::pair<std::string, int64_t>{"{B}", b}, {"{D}", d}, {"{H}", h}, {"{C}", c}})
    for (size_t at = t.find(name); at != std::string::npos; at = t.find(name, at))
      t.replace(at, name.size(), std::to_string(v));
  return t;
}

std::string grad_cost_line;  // the training benchmark's gradient-cost figure, printed after the table

void bench_training(const Config& cfg, TorchPeer& peer, const std::string& dir) {
  int64_t b = cfg.small ? 7 : 256, d = cfg.small ? 20 : 784, h = cfg.small ? 12 : 256, c = 10;
  std::mt19937 rng(77);
  float s1 = 1.0f / std::sqrt(float(d)), s2 = 1.0f / std::sqrt(float(h));
  RtValue w1 = random_tensor({d, h}, rng, -s1, s1), b1 = random_tensor({h}, rng, -s1, s1);
  RtValue w2 = random_tensor({h, c}, rng, -s2, s2), b2 = random_tensor({c}, rng, -s2, s2);
  RtValue x = random_tensor({b, d}, rng, -1, 1);
  RtValue labels = RtValue::tensor_zeros(DType::I64, {b});
  for (int64_t i = 0; i < b; ++i) static_cast<int64_t*>(labels.data)[i] = static_cast<int64_t>(rng() % c);
  auto zeros_like = [](const RtValue& v) { return RtValue::tensor_zeros(DType::F32, v.shape); };
  TorchCase tc;
  tc.name = "train";
  tc.label = "MLP " + std::to_string(d) + "-" + std::to_string(h) + "-" + std::to_string(c) + " AdamW step B=" +
             std::to_string(b);
  tc.entry = "step";
  tc.source = mlp_program(b, d, h, c);
  tc.inputs = {w1, b1, w2, b2, zeros_like(w1), zeros_like(b1), zeros_like(w2), zeros_like(b2),
               zeros_like(w1), zeros_like(b1), zeros_like(w2), zeros_like(b2), x, labels};
  RtValue t = RtValue::tensor_zeros(DType::F32, {});  // the step count (an f32 is a rank-0 tensor)
  *static_cast<float*>(t.data) = 1.0f;
  tc.scalar_args = {t};
  tc.bytes = 1e9;                              // the figure is steps per second
  tc.unit = "st/s";
  tc.target = 1.5;
  // AdamW's first step moves a weight by about lr * g / (|g| + eps): where |g| is tiny, a last-bit
  // difference in g (summation order) changes the step by up to ~1% of lr. 2e-5 is 2% of lr.
  tc.rtol = 1e-4;
  tc.atol = 2e-5;
  // A step takes a few ms, and this VM's speed drifts in phases of a few hundred ms that do not
  // slow both sides alike: with 25 pairs (~0.15 s) one phase decided a run's ratio (1.26x to
  // 2.0x for the same build). 61 pairs (~0.35 s per thread configuration) span several phases:
  // 16 runs of the same build gave 1.45x to 1.65x (median 1.59x).
  tc.min_pairs = 61;
  bench_torch(cfg, peer, tc, dir);

  // Gradient cost: forward+backward against the forward alone, ours, one thread (issue 5's
  // bound: at most 3x).
  if (cfg.small) return;
  Compiled fwd = compile_program(tc.source, "loss", no_cache());
  Compiled grads = compile_program(tc.source, "gradients", no_cache());
  std::vector<RtValue> args = {w1, b1, w2, b2, x, labels};
  auto time_median = [&](Compiled& k) {
    auto warm = k.jit->invoke(k.entry, args);
    if (!warm) die("invoke '" + k.entry + "': " + llvm::toString(warm.takeError()));
    std::vector<double> t;
    for (int i = 0; i < std::max(cfg.pairs, 7) * 3; ++i) {
      auto t0 = Clock::now();
      auto out = k.jit->invoke(k.entry, args);
      t.push_back(seconds_since(t0));
    }
    return median(t);
  };
  set_our_threads(1);
  double t_fwd = time_median(fwd), t_grad = time_median(grads);
  char line[256];
  std::snprintf(line, sizeof line,
                "\nMLP gradient cost (ours, 1 thread): forward %.3f ms, forward+backward %.3f ms = %.2fx the "
                "forward (target <= 3x): %s",
                t_fwd * 1e3, t_grad * 1e3, t_grad / t_fwd, t_grad / t_fwd <= 3.0 ? "PASS" : "above");
  grad_cost_line = line;
}

// --- One training step of a transformer block -------------------------------------------
// A pre-norm block (layer_norm, q/k/v projections, causal multi-head attention, output
// projection, layer_norm, MLP with gelu; residuals), loss mean((block(x) - y)^2), gradients of
// the 12 parameters (tessera.value_and_grad) and AdamW on each, as one entry (parameters and
// moments in, updated ones out, donated), against PyTorch eager (loss.backward(),
// torch.optim.AdamW.step()). bf16: every matmul's operands rounded to bf16 (f32 accumulation, the
// product rounded to bf16 and widened back), as torch.autocast(bfloat16) does for the peer;
// norms, softmax and the optimizer in f32 on both sides.
const char* kBlockParams[] = {"wq", "wk", "wv", "wo", "w1", "b1", "w2", "b2", "g1", "c1", "g2", "c2"};

std::string block_train_program(int64_t b, int64_t s, int64_t d, int64_t h, int64_t f, bool bf16) {
  std::string t = R"(import tessera as ts

@ts.function
def block(x: Tensor[{B}, {S}, {D}], wq: Tensor[{D}, {D}], wk: Tensor[{D}, {D}], wv: Tensor[{D}, {D}],
          wo: Tensor[{D}, {D}], w1: Tensor[{D}, {F}], b1: Tensor[{F}], w2: Tensor[{F}, {D}], b2: Tensor[{D}],
          g1: Tensor[{D}], c1: Tensor[{D}], g2: Tensor[{D}], c2: Tensor[{D}]) -> Tensor[{B}, {S}, {D}]:
    hn = layer_norm(x, g1, c1)
    q = MM(hn, wq).reshape({B}, {S}, {H}, {Dh}).transpose(0, 2, 1, 3)
    k = MM(hn, wk).reshape({B}, {S}, {H}, {Dh}).transpose(0, 2, 1, 3)
    v = MM(hn, wv).reshape({B}, {S}, {H}, {Dh}).transpose(0, 2, 1, 3)
    a = ATTN(q, k, v).transpose(0, 2, 1, 3).reshape({B}, {S}, {D})
    x1 = x + MM(a, wo)
    h2 = layer_norm(x1, g2, c2)
    return x1 + MM(gelu(MM(h2, w1) + b1), w2) + b2

@ts.function
def loss(wq: Tensor[{D}, {D}], wk: Tensor[{D}, {D}], wv: Tensor[{D}, {D}], wo: Tensor[{D}, {D}],
         w1: Tensor[{D}, {F}], b1: Tensor[{F}], w2: Tensor[{F}, {D}], b2: Tensor[{D}], g1: Tensor[{D}],
         c1: Tensor[{D}], g2: Tensor[{D}], c2: Tensor[{D}], x: Tensor[{B}, {S}, {D}], y: Tensor[{B}, {S}, {D}]) -> f32:
    return ((block(x, wq, wk, wv, wo, w1, b1, w2, b2, g1, c1, g2, c2) - y) ** 2).mean()

)" + kAdamW;
  // The step: parameters, first moments, second moments (donated), x, y, t.
  std::string params, moments1, moments2, names, grads, outs_p, outs_m, outs_v, body;
  int i = 0;
  for (const char* p : kBlockParams) {
    std::string name = p;
    bool vec = name[0] == 'b' || name[0] == 'g' || name[0] == 'c';
    std::string type = name == "w1" ? "Tensor[{D}, {F}]" : name == "w2" ? "Tensor[{F}, {D}]"
                       : name == "b1" ? "Tensor[{F}]" : vec ? "Tensor[{D}]" : "Tensor[{D}, {D}]";
    params += name + ": " + type + ", ";
    moments1 += "m" + name + ": " + type + ", ";
    moments2 += "v" + name + ": " + type + ", ";
    names += name + ", ";
    body += "    " + name + "n, m" + name + "n, v" + name + "n = " + (vec ? "adamw1(" : "adamw2(") + name + ", g[" +
            std::to_string(i) + "], m" + name + ", v" + name + ", t)\n";
    outs_p += name + "n, ";
    outs_m += "m" + name + "n, ";
    outs_v += "v" + name + "n, ";
    ++i;
  }
  t += "\n@ts.function(donate_argnums=(" ;
  for (int j = 0; j < 36; ++j) t += std::to_string(j) + (j < 35 ? ", " : "");
  t += "))\ndef step(" + params + moments1 + moments2 + "x: Tensor[{B}, {S}, {D}], y: Tensor[{B}, {S}, {D}], t: f32):\n";
  t += "    l, g = ts.value_and_grad(loss, argnums=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11))(" + names + "x, y)\n";
  t += body + "    return " + outs_p + outs_m + outs_v + "l\n";
  auto replace_all = [&](const std::string& from, const std::string& to) {
    for (size_t at = t.find(from); at != std::string::npos; at = t.find(from, at + to.size())) t.replace(at, from.size(), to);
  };
  // MM(a, w) and ATTN(q, k, v): plain in f32, bf16 operands (autocast's rule) in bf16.
  auto expand = [&](const std::string& macro, int arity, const std::function<std::string(std::vector<std::string>)>& f) {
    for (size_t at = t.find(macro + "("); at != std::string::npos; at = t.find(macro + "(")) {
      size_t open = at + macro.size(), pos = open + 1;
      int depth = 1;
      std::vector<std::string> args(1);
      for (; depth > 0; ++pos) {
        char ch = t[pos];
        if (ch == '(') ++depth;
        if (ch == ')' && --depth == 0) break;
        if (ch == ',' && depth == 1) args.emplace_back();
        else args.back() += ch;
      }
      for (std::string& a : args) a.erase(0, a.find_first_not_of(' '));
      if (static_cast<int>(args.size()) != arity) die("block_train_program: bad macro use");
      t.replace(at, pos + 1 - at, f(args));
    }
  };
  expand("MM", 2, [&](std::vector<std::string> a) {
    return bf16 ? "(" + a[0] + ".astype(bf16) @ " + a[1] + ".astype(bf16)).astype(f32)" : "(" + a[0] + " @ " + a[1] + ")";
  });
  expand("ATTN", 3, [&](std::vector<std::string> a) {
    return bf16 ? "attention(" + a[0] + ".astype(bf16), " + a[1] + ".astype(bf16), " + a[2] +
                      ".astype(bf16), causal=True).astype(f32)"
                : "attention(" + a[0] + ", " + a[1] + ", " + a[2] + ", causal=True)";
  });
  for (auto [name, v] : {std::pair<std::string, int64_t>{"{B}", b}, {"{S}", s}, {"{D}", d}, {"{H}", h},
                         {"{Dh}", d / h}, {"{F}", f}})
    replace_all(name, std::to_string(v));
  return t;
}

void bench_block_training(const Config& cfg, TorchPeer& peer, const std::string& dir, bool bf16) {
  int64_t b = cfg.small ? 2 : 8, s = cfg.small ? 12 : 128, d = cfg.small ? 16 : 256, h = 4, f = 4 * d;
  std::mt19937 rng(99);
  float sd = 1.0f / std::sqrt(float(d)), sf = 1.0f / std::sqrt(float(f));
  std::vector<RtValue> params;
  for (const char* p : kBlockParams) {
    std::string name = p;
    if (name == "w1") params.push_back(random_tensor({d, f}, rng, -sd, sd));
    else if (name == "w2") params.push_back(random_tensor({f, d}, rng, -sf, sf));
    else if (name == "b1") params.push_back(random_tensor({f}, rng, -sd, sd));
    else if (name[0] == 'g') params.push_back(random_tensor({d}, rng, 0.8f, 1.2f));
    else if (name[0] == 'b' || name[0] == 'c') params.push_back(random_tensor({d}, rng, -0.1f, 0.1f));
    else params.push_back(random_tensor({d, d}, rng, -sd, sd));
  }
  TorchCase tc;
  tc.name = bf16 ? "block_train_bf16" : "block_train";
  tc.label = "block step B" + std::to_string(b) + " S" + std::to_string(s) + " D" + std::to_string(d) + (bf16 ? " bf16" : " f32");
  tc.entry = "step";
  tc.source = block_train_program(b, s, d, h, f, bf16);
  tc.inputs = params;
  for (int rep = 0; rep < 2; ++rep)
    for (const RtValue& p : params) tc.inputs.push_back(RtValue::tensor_zeros(DType::F32, p.shape));
  tc.inputs.push_back(random_tensor({b, s, d}, rng, -1, 1));
  tc.inputs.push_back(random_tensor({b, s, d}, rng, -1, 1));
  RtValue t = RtValue::tensor_zeros(DType::F32, {});
  *static_cast<float*>(t.data) = 1.0f;
  tc.scalar_args = {t};
  tc.bytes = 1e9;  // steps per second
  tc.unit = "st/s";
  tc.target = 1.5;
  // The updated wq after one step from the same state (see the MLP step). bf16: products
  // rounded differently flip the sign of a few tiny gradients (AdamW's first step moves each
  // weight by about lr * sign(g)), so 97% of the elements must match (wrong gradients: about half).
  tc.rtol = 1e-4;
  tc.atol = 2e-5;
  if (bf16) tc.min_fraction = 0.97;
  tc.min_pairs = 15;
  bench_torch(cfg, peer, tc, dir);
}

// --- CNN training steps -------------------------------------------------------------------
// Two convolutional models, one training step each (forward, loss, value_and_grad, AdamW with the
// MLP's settings), as one donated entry against PyTorch eager (loss.backward(), AdamW.step()):
//  - `cnn`: the digits classifier users try first (scikit-learn's 8x8 digits): conv 3x3 (1 -> 16,
//    padding 1, bias) -> relu -> max_pool 2 -> linear 256 -> 10 -> cross_entropy, B = 256;
//  - `resnet`: a ResNet-style basic block at B = 32, C = 64, 32x32: relu(x + conv(relu(conv(x)))),
//    3x3 convolutions with bias, padding 1, loss mean((block(x) - y)^2).
const std::string kAdamW4 = adamw_function(4);

// The step entry of a model whose loss takes `params` (name, type, adamw rank) then `data`.
std::string train_step_program(const std::string& loss_source,
                               const std::vector<std::tuple<std::string, std::string, int>>& params,
                               const std::string& data_params, const std::string& data_args) {
  std::string t = loss_source + kAdamW + kAdamW4;
  std::string ps, ms, vs, names, body, op, om, ov, argnums, donate;
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& [name, type, rank] = params[i];
    ps += name + ": " + type + ", ";
    ms += "m" + name + ": " + type + ", ";
    vs += "v" + name + ": " + type + ", ";
    names += name + ", ";
    argnums += std::to_string(i) + (i + 1 < params.size() ? ", " : "");
    body += "    " + name + "n, m" + name + "n, v" + name + "n = adamw" + std::to_string(rank) + "(" + name + ", g[" +
            std::to_string(i) + "], m" + name + ", v" + name + ", t)\n";
    op += name + "n, ";
    om += "m" + name + "n, ";
    ov += "v" + name + "n, ";
  }
  for (size_t i = 0; i < 3 * params.size(); ++i) donate += std::to_string(i) + (i + 1 < 3 * params.size() ? ", " : "");
  t += "\n@ts.function(donate_argnums=(" + donate + "))\ndef step(" + ps + ms + vs + data_params + ", t: f32):\n";
  t += "    l, g = ts.value_and_grad(loss, argnums=(" + argnums + (params.size() == 1 ? "," : "") + "))(" + names +
       data_args + ")\n";
  t += body + "    return " + op + om + ov + "l\n";
  return t;
}

// The CNN step's case: program, inputs (parameters, zero moments, data), checks.
TorchCase cnn_case(const Config& cfg, bool resnet) {
  std::mt19937 rng(resnet ? 202 : 101);
  TorchCase tc;
  std::vector<RtValue> params;
  std::vector<std::tuple<std::string, std::string, int>> decl;
  auto dims_text = [](std::vector<int64_t> d) {
    std::string s = "Tensor[";
    for (size_t i = 0; i < d.size(); ++i) s += std::to_string(d[i]) + (i + 1 < d.size() ? ", " : "]");
    return s;
  };
  auto param = [&](const std::string& name, std::vector<int64_t> shape, float bound) {
    params.push_back(random_tensor(shape, rng, -bound, bound));
    decl.emplace_back(name, dims_text(shape), static_cast<int>(shape.size()));
  };
  std::string loss, data_params;
  std::vector<RtValue> data;
  if (!resnet) {
    int64_t b = cfg.small ? 6 : 256, c = 16, s = 8, classes = 10, flat = c * (s / 2) * (s / 2);
    param("k1", {c, 1, 3, 3}, 1.0f / 3.0f);
    param("c1", {c}, 1.0f / 3.0f);
    param("w", {flat, classes}, 1.0f / std::sqrt(float(flat)));
    param("b", {classes}, 1.0f / std::sqrt(float(flat)));
    std::string x = dims_text({b, 1, s, s}), l = "Tensor[" + std::to_string(b) + ", i64]";
    loss = "import tessera as ts\n\n@ts.function\ndef loss(k1: " + std::get<1>(decl[0]) + ", c1: " + std::get<1>(decl[1]) +
           ", w: " + std::get<1>(decl[2]) + ", b: " + std::get<1>(decl[3]) + ", x: " + x + ", labels: " + l +
           ") -> f32:\n    h = max_pool2d(relu(conv2d(x, k1, c1, padding=1)), 2)\n    return cross_entropy(h.reshape(" +
           std::to_string(b) + ", " + std::to_string(flat) + ") @ w + b, labels)\n";
    data_params = "x: " + x + ", labels: " + l;
    // Digit-like images: pixel intensities in [0, 16) as scikit-learn's digits, scaled to [0, 1).
    data.push_back(random_tensor({b, 1, s, s}, rng, 0, 1));
    RtValue labels = RtValue::tensor_zeros(DType::I64, {b});
    for (int64_t i = 0; i < b; ++i) static_cast<int64_t*>(labels.data)[i] = static_cast<int64_t>(rng() % classes);
    data.push_back(labels);
    tc.name = "cnn_train";
    tc.label = "digits CNN AdamW step B=" + std::to_string(b);
    tc.min_pairs = 61;
  } else {
    int64_t b = cfg.small ? 2 : 32, c = cfg.small ? 4 : 64, s = cfg.small ? 6 : 32;
    float bound = 1.0f / std::sqrt(float(c * 9));
    param("k1", {c, c, 3, 3}, bound);
    param("c1", {c}, bound);
    param("k2", {c, c, 3, 3}, bound);
    param("c2", {c}, bound);
    std::string x = dims_text({b, c, s, s});
    loss = "import tessera as ts\n\n@ts.function\ndef loss(k1: " + std::get<1>(decl[0]) + ", c1: " + std::get<1>(decl[1]) +
           ", k2: " + std::get<1>(decl[2]) + ", c2: " + std::get<1>(decl[3]) + ", x: " + x + ", y: " + x +
           ") -> f32:\n    h = relu(conv2d(x, k1, c1, padding=1))\n    out = relu(x + conv2d(h, k2, c2, padding=1))\n"
           "    return ((out - y) ** 2).mean()\n";
    data_params = "x: " + x + ", y: " + x;
    data.push_back(random_tensor({b, c, s, s}, rng, -1, 1));
    data.push_back(random_tensor({b, c, s, s}, rng, -1, 1));
    tc.name = "resnet_train";
    tc.label = "ResNet block AdamW step B" + std::to_string(b) + " C" + std::to_string(c) + " " + std::to_string(s) +
               "x" + std::to_string(s);
    tc.min_pairs = 15;
  }
  tc.entry = "step";
  tc.source = train_step_program(loss, decl, data_params, resnet ? "x, y" : "x, labels");
  tc.inputs = params;
  for (int rep = 0; rep < 2; ++rep)
    for (const RtValue& p : params) tc.inputs.push_back(RtValue::tensor_zeros(DType::F32, p.shape));
  tc.inputs.insert(tc.inputs.end(), data.begin(), data.end());
  RtValue t = RtValue::tensor_zeros(DType::F32, {});
  *static_cast<float*>(t.data) = 1.0f;
  tc.scalar_args = {t};
  tc.bytes = 1e9;  // steps per second
  tc.unit = "st/s";
  tc.target = 1.5;
  tc.rtol = 1e-4;  // the first parameter after one AdamW step (see the MLP step)
  tc.atol = 2e-5;
  return tc;
}

void bench_cnn_training(const Config& cfg, TorchPeer& peer, const std::string& dir, bool resnet) {
  TorchCase tc = cnn_case(cfg, resnet);
  bench_torch(cfg, peer, tc, dir);
}

// --- bf16 @accum(f32) matmul -------------------------------------------------------------
// C = A @ B with bf16 operands and result, f32 accumulation: against PyTorch's bf16 matmul
// (oneDNN: AVX512-BF16 or AMX where present) on the same bf16 values, and against our own f32
// matmul of the same size. Ours uses vdpbf16ps where the host has AVX512-BF16 (what the bench
// says it used); elsewhere B is converted while packing and the f32 micro-kernel runs. On a host
// with the instructions, the same program compiled for x86-64-v4 (AVX-512 without them) gives
// the figure of a host without.
std::string bf16_matmul_program(int64_t m, int64_t k, int64_t n) {
  std::string t = "bf16 @accum(f32)";
  return "@tessera.function\ndef mm(a: Tensor[" + dims({m, k}) + ", " + t + "], b: Tensor[" + dims({k, n}) + ", " + t +
         "]) -> Tensor[" + dims({m, n}) + ", bf16]:\n    return a @ b\n";
}

void bench_bf16_matmul(const Config& cfg, TorchPeer& peer, const std::string& dir) {
  int64_t m = cfg.small ? 37 : 1024, k = cfg.small ? 301 : 1024, n = cfg.small ? 70 : 1024;
  bool dot = codegen::target_has_feature(codegen::CpuOptions{}, "avx512bf16") && ir::vector_bits_for_arch("native") == 512;
  std::string how = dot ? "vdpbf16ps" : "f32 FMA";
  std::string size = m == k && k == n ? std::to_string(n) + "^3" : std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n);
  std::mt19937 rng(7);
  RtValue a = to_bf16(random_tensor({m, k}, rng, -1, 1)), b = to_bf16(random_tensor({k, n}, rng, -1, 1));
  TorchCase tc;
  tc.name = "bf16mm";
  tc.label = "bf16 matmul " + size + " [" + how + "] (PyTorch bf16)";
  tc.entry = "mm";
  tc.source = bf16_matmul_program(m, k, n);
  tc.inputs = {a, b};
  tc.bytes = 2.0 * m * n * k;
  tc.unit = "GFLOP/s";
  tc.target = dot ? 1.0 : 0;  // the gate where both sides have the instructions
  tc.rtol = 1e-2;             // one bf16 rounding of a sum accumulated in another order
  tc.atol = 1e-2;
  bench_torch(cfg, peer, tc, dir);

  // Against our own f32 matmul of the same values.
  std::string f32_source = "@tessera.function\ndef mm(a: Tensor[" + dims({m, k}) + "], b: Tensor[" + dims({k, n}) +
                           "]) -> Tensor[" + dims({m, n}) + "]:\n    return a @ b\n";
  Compiled f32 = compile_program(f32_source, "mm", no_cache());
  RtValue af = widen(a), bf = widen(b);
  RtValue ref = call(f32, {af, bf});
  struct Variant {
    std::string arch, how;
    double target;
  };
  std::vector<Variant> variants{{"native", how, dot ? 0.0 : 0.9}};
  if (dot) variants.push_back({"x86-64-v4", "f32 FMA, --cpu x86-64-v4", 0.9});
  for (const Variant& v : variants) {
    Compiled c = compile_program(tc.source, "mm", no_cache(), v.arch);
    bool ok = true;
    std::string check = compare_f32(widen(call(c, {a, b})), ref, m * n, 1e-2, " against our f32", ok);
    std::string name = "bf16 matmul " + size + " [" + v.how + "] (our f32)";
    if (!ok) failed = true;
    if (!ok || cfg.small) {
      add_unchecked(name, check);
      continue;
    }
    Times t_ours(configs.size()), t_peer(configs.size());
    for (size_t th = 0; th < configs.size(); ++th) {
      // (Both sides are ours: one thread count, the solo side's.)
      set_our_threads(solo == Solo::peer ? configs[th].peer : configs[th].ours);
      time_pairs(timed([&] { call(c, {a, b}); }), timed([&] { call(f32, {af, bf}); }), cfg.pairs, t_ours[th],
                 t_peer[th]);
    }
    set_our_threads(1);
    add_rows(name, "GFLOP/s", 2.0 * m * n * k, v.target, t_ours, t_peer, check);
  }
}

void torch_benchmarks(const Config& cfg, const std::string& dir) {
  TorchPeer peer;
  bool started = cfg.torch && peer.start(cfg.python, cfg.peer_script);
  if (cfg.torch && !started) std::cerr << "cpu_bench: could not start " << cfg.python << " " << cfg.peer_script << "\n";
  std::mt19937 rng(42);
  if (cfg.wants("gelu")) {
    int64_t n = cfg.small ? 1000 : 16 * 1024 * 1024;
    TorchCase tc;
    tc.name = "gelu";
    tc.label = "gelu(x*a+b) " + std::to_string(n) + " f32";
    tc.entry = "fused";
    tc.source = "@tessera.function\ndef fused(x: Tensor[" + dims({n}) + "], a: Tensor[" + dims({n}) + "], b: Tensor[" +
                dims({n}) + "]) -> Tensor[" + dims({n}) + "]:\n    return gelu(x * a + b)\n";
    tc.inputs = {random_tensor({n}, rng, -3, 3), random_tensor({n}, rng, -1, 1), random_tensor({n}, rng, -1, 1)};
    tc.bytes = 4.0 * n * 4;
    tc.target = 2.0;
    tc.rtol = 1e-5;
    tc.atol = 1e-6;
    bench_torch(cfg, peer, tc, dir);
  }
  if (cfg.wants("softmax")) {
    int64_t r = cfg.small ? 13 : 4096, k = cfg.small ? 37 : 4096;
    TorchCase tc;
    tc.name = "softmax";
    tc.label = "softmax [" + dims({r, k}) + "] f32";
    tc.entry = "probs";
    tc.source = "@tessera.function\ndef probs(x: Tensor[" + dims({r, k}) + "]) -> Tensor[" + dims({r, k}) +
                "]:\n    return softmax(x, axis=-1)\n";
    tc.inputs = {random_tensor({r, k}, rng, -4, 4)};
    tc.bytes = 4.0 * r * k * 2;
    tc.target = 1.5;
    tc.rtol = 1e-4;
    tc.atol = 1e-7;
    bench_torch(cfg, peer, tc, dir);
  }
  if (cfg.wants("layer_norm")) {
    int64_t r = cfg.small ? 11 : 8192, k = cfg.small ? 40 : 1024;
    TorchCase tc;
    tc.name = "layer_norm";
    tc.label = "layer_norm [" + dims({r, k}) + "] f32";
    tc.entry = "norm";
    tc.source = "@tessera.function\ndef norm(x: Tensor[" + dims({r, k}) + "], w: Tensor[" + dims({k}) + "], b: Tensor[" +
                dims({k}) + "]) -> Tensor[" + dims({r, k}) + "]:\n    return layer_norm(x, w, b)\n";
    tc.inputs = {random_tensor({r, k}, rng, -2, 3), random_tensor({k}, rng, 0.5, 1.5), random_tensor({k}, rng, -1, 1)};
    tc.bytes = 4.0 * r * k * 2;
    tc.target = 1.5;
    tc.rtol = 1e-4;
    tc.atol = 1e-5;
    bench_torch(cfg, peer, tc, dir);
  }
  if (cfg.wants("attention")) {
    // BENCH.md's attention: B = 4, H = 8, S = 512, D = 64, f32, scale 1/sqrt(D); PyTorch eager
    // as users write it (matmul, softmax, matmul; causal: masked_fill with a mask made once).
    int64_t b = cfg.small ? 2 : 4, h = cfg.small ? 3 : 8, sq = cfg.small ? 37 : 512, d = cfg.small ? 16 : 64;
    // Forward+backward: the gradients of sum(attention(q, k, v) * dy) with respect to q, k and
    // v (ours: ts.grad; PyTorch: out.backward(dy)); dq is checked. 12 B H S^2 D flops: the two
    // forward products and four backward ones. The forward alone: 4 B H S^2 D (causal: the
    // same work).
    for (bool grad : {false, true})
      for (bool causal : {false, true}) {
        TorchCase tc;
        tc.name = std::string(grad ? "attention_grad" : "attention") + (causal ? "_causal" : "");
        tc.label = std::string(grad ? "attention fwd+bwd [" : "attention [") + dims({b, h, sq, d}) + "]" +
                   (causal ? " causal" : "") + " f32";
        std::string t = "Tensor[" + dims({b, h, sq, d}) + "]", call = std::string("attention(q, k, v") +
                                                                  (causal ? ", causal=True" : "") + ")";
        if (grad) {
          tc.entry = "attend_grad";
          tc.source = "import tessera as ts\n\n@ts.function\ndef loss(q: " + t + ", k: " + t + ", v: " + t +
                      ", dy: " + t + ") -> f32:\n    return (" + call + " * dy).sum()\n\n@ts.function\ndef attend_grad(q: " +
                      t + ", k: " + t + ", v: " + t + ", dy: " + t +
                      "):\n    g = ts.grad(loss, argnums=(0, 1, 2))(q, k, v, dy)\n    return g[0], g[1], g[2]\n";
        } else {
          tc.entry = "attend";
          tc.source = "@tessera.function\ndef attend(q: " + t + ", k: " + t + ", v: " + t + ") -> " + t +
                      ":\n    return " + call + "\n";
        }
        for (int i = 0; i < (grad ? 4 : 3); ++i) tc.inputs.push_back(random_tensor({b, h, sq, d}, rng, -1, 1));
        tc.bytes = (grad ? 12.0 : 4.0) * b * h * sq * sq * d;
        tc.unit = "GFLOP/s";
        tc.target = grad ? 1.5 : 2.0;
        tc.rtol = 1e-4;
        tc.atol = 1e-5;
        bench_torch(cfg, peer, tc, dir);
      }
  }
  if (cfg.wants("train")) bench_training(cfg, peer, dir);
  // `block` runs both; `block_f32` or `block_bf16` one (to profile one step alone).
  if (cfg.wants("block") || cfg.wants("block_f32")) bench_block_training(cfg, peer, dir, false);
  if (cfg.wants("block") || cfg.wants("block_bf16")) bench_block_training(cfg, peer, dir, true);
  if (cfg.wants("cnn")) bench_cnn_training(cfg, peer, dir, false);
  if (cfg.wants("resnet")) bench_cnn_training(cfg, peer, dir, true);
  if (cfg.wants("bf16")) bench_bf16_matmul(cfg, peer, dir);
}

// --- JIT compile time of a transformer block ---------------------------------------------
const char* kTransformerBlock = R"(# A pre-norm transformer block, f32: q/k/v projections, 4-head attention, MLP with gelu.
@tessera.function
def block(x: Tensor[128, 256], wq: Tensor[256, 256], wk: Tensor[256, 256], wv: Tensor[256, 256],
          wo: Tensor[256, 256], w1: Tensor[256, 1024], b1: Tensor[1024], w2: Tensor[1024, 256],
          b2: Tensor[256], g1: Tensor[256], c1: Tensor[256], g2: Tensor[256], c2: Tensor[256]) -> Tensor[128, 256]:
    h = layer_norm(x, g1, c1)
    q = (h @ wq).reshape(128, 4, 64).transpose(1, 0, 2)
    k = (h @ wk).reshape(128, 4, 64).transpose(1, 0, 2)
    v = (h @ wv).reshape(128, 4, 64).transpose(1, 0, 2)
    scores = (q @ k.transpose(0, 2, 1)) * 0.125
    attn = softmax(scores, axis=-1) @ v
    x1 = x + attn.transpose(1, 0, 2).reshape(128, 256) @ wo
    h2 = layer_norm(x1, g2, c2)
    return x1 + gelu(h2 @ w1 + b1) @ w2 + b2
)";

struct CompileFigures {
  CompileTimes cold, hit;
  bool ran = false;
};

CompileFigures bench_compile(const Config& cfg, const std::string& dir) {
  CompileFigures f;
  // Cold: cache off, median of 3 (1 with --small).
  int reps = cfg.small ? 1 : 3;
  std::vector<CompileTimes> cold;
  for (int i = 0; i < reps; ++i) cold.push_back(compile_program(kTransformerBlock, "block", no_cache()).times);
  std::sort(cold.begin(), cold.end(), [](auto& a, auto& b) { return a.total_ms() < b.total_ms(); });
  f.cold = cold[cold.size() / 2];
  // Cache hit: a private cache directory, filled by the first compile.
  codegen::JitOptions cached = no_cache();
  cached.use_cache = true;
  cached.cache_dir = dir + "/jit-cache";
  compile_program(kTransformerBlock, "block", cached);
  std::vector<CompileTimes> hits;
  for (int i = 0; i < reps; ++i) hits.push_back(compile_program(kTransformerBlock, "block", cached).times);
  std::sort(hits.begin(), hits.end(), [](auto& a, auto& b) { return a.total_ms() < b.total_ms(); });
  f.hit = hits[hits.size() / 2];
  if (!f.hit.stats.cache_hit) std::cerr << "cpu_bench: the second compile did not hit the cache\n";
  f.ran = true;
  return f;
}

void print_compile(const char* what, const CompileTimes& t) {
  const auto& s = t.stats;
  std::printf("  %-10s total %7.1f ms = parse+sema %.1f, graph %.1f, schedule %.1f, JIT %.1f "
              "[MLIR pipeline %.1f, translate %.1f, split %.1f, LLVM opt %.1f, codegen %.1f, link %.1f, "
              "cache lookup %.1f; cache %s, %llu-byte object, %u partition(s) on %u thread(s)]\n",
              what, t.total_ms(), t.frontend_ms, t.graph_ms, t.schedule_ms, t.jit_ms, s.mlir_pipeline_ms,
              s.translate_ms, s.split_ms, s.llvm_opt_ms, s.codegen_ms, s.jit_link_ms, s.cache_lookup_ms,
              s.cache_hit ? "hit" : "miss", static_cast<unsigned long long>(s.object_bytes), s.partitions,
              s.compile_threads);
}

// --solo: one tab-separated line per row for bench/scaling.py:
//   solo <TAB> name <TAB> ours|peer <TAB> threads <TAB> median ms <TAB> work <TAB> unit <TAB> check
// (a row whose output did not match has no time: ms is "-").
void print_solo() {
  for (const Row& r : rows) {
    double ms = solo == Solo::ours ? r.ours_ms : r.peer_ms;
    std::printf("solo\t%s\t%s\t%d\t%s\t%.6g\t%s\t%s\n", r.name.c_str(), solo == Solo::ours ? "ours" : "peer",
                r.solo_threads, r.solo_threads > 0 ? std::to_string(ms).c_str() : "-", r.work, r.unit.c_str(),
                r.check.c_str());
  }
}

void print_table(const Config& cfg) {
  std::printf("\n%-36s %-6s %11s %11s %11s %11s %7s %7s  %s\n", "benchmark", "thr", "ours", "peer", "ours ms",
              "peer ms", "ratio", "target", "verdict / output check");
  for (const Row& r : rows) {
    if (!r.has_ratio) {
      std::printf("%-36s %-6s %11s %11s %11s %11s %7s %7s  %s\n", r.name.c_str(), "-", "-", "-", "-", "-", "-", "-",
                  r.check.c_str());
      continue;
    }
    double ratio = r.peer_ms / r.ours_ms;
    char target[16] = "-";
    std::string verdict = "(reported)";
    if (r.target > 0) {
      std::snprintf(target, sizeof target, ">=%.1fx", r.target);
      verdict = ratio >= r.target ? "PASS" : "below";
    }
    std::string unit = r.unit == "GFLOP/s" ? "GF/s" : r.unit;
    std::printf("%-36s %-6s %7.2f %-4s%7.2f %-4s%11.2f %11.2f %6.3fx %7s  %s; %s\n", r.name.c_str(),
                r.threads_note.c_str(), r.ours, unit.c_str(), r.peer, unit.c_str(), r.ours_ms, r.peer_ms, ratio,
                target, verdict.c_str(), r.check.c_str());
  }
  std::printf("thr = our threads / peer threads (ours: tessSetNumThreads on the runtime's default context, which "
              "runs\nour parallel loops). In one process only 1 / 1 is timed; more threads: bench/scaling.py, each side "
              "in its own process.\nratio = median(peer) / median(ours), %d ABAB pairs (the training step: at least "
              "61); > 1: we are faster.\n",
              cfg.pairs);
}

}  // namespace

// The peer at its best: OpenBLAS picks its kernels from the CPU it detects, and a release older
// than the CPU (Debian 12's 0.3.21 on Sapphire Rapids) falls back to a generic x86-64 kernel, 5x
// slower. On an AVX-512 host whose core OpenBLAS did not recognize as one, run again with its
// AVX-512 kernels (OPENBLAS_CORETYPE is read when the library loads, hence the exec). Setting
// OPENBLAS_CORETYPE yourself disables this.
void peer_at_its_best(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE")) return;
  if (!llvm::sys::getHostCPUFeatures().lookup("avx512f")) return;
  std::string core = openblas_get_corename() ? openblas_get_corename() : "";
  std::transform(core.begin(), core.end(), core.begin(), [](unsigned char ch) { return std::tolower(ch); });
  for (const char* known : {"skylakex", "cooperlake", "sapphirerapids"})
    if (core == known) return;
  std::fprintf(stderr, "cpu_bench: OpenBLAS detected this AVX-512 CPU as '%s'; running again with OPENBLAS_CORETYPE=SkylakeX\n",
               core.c_str());
  setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
  execv("/proc/self/exe", argv);
  std::perror("cpu_bench: exec");  // carry on with the detected kernels
}

int main(int argc, char** argv) {
  peer_at_its_best(argv);
  Config cfg;
  cfg.peer_script = TESSERA_BENCH_DIR "/torch_peer.py";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--small") cfg.small = true;
    else if (a == "--pairs") cfg.pairs = std::max(1, std::atoi(next().c_str()));
    else if (a == "--peer") cfg.peer_script = next();
    else if (a == "--python") cfg.python = next();
    else if (a == "--no-torch") cfg.torch = false;
    else if (a == "--solo") {
      std::string side = next();
      if (side != "ours" && side != "peer") die("--solo takes ours or peer");
      solo = side == "ours" ? Solo::ours : Solo::peer;
    } else if (a == "--print-program") {
      // The generated training-step programs, to inspect with `tesserac emit`.
      std::string which = next();
      if (which == "cnn" || which == "resnet") {
        std::fputs(cnn_case(Config{}, which == "resnet").source.c_str(), stdout);
        return 0;
      }
      if (which != "block" && which != "block_bf16") die("--print-program takes block, block_bf16, cnn or resnet");
      std::fputs(block_train_program(8, 128, 256, 4, 1024, which == "block_bf16").c_str(), stdout);
      return 0;
    } else if (a == "--threads") {
      int n = std::atoi(next().c_str());
      if (n < 1) die("--threads needs a positive count");
      configs = {{n, n}};
    }
    else if (a == "--only") {
      std::stringstream ss(next());
      std::string item;
      while (std::getline(ss, item, ',')) cfg.only.push_back(item);
    } else die("unknown argument '" + a + "'");
  }
  // A warmed allocator on both sides: big buffers come back from the heap instead of fresh
  // mmap()s (glibc's default for > 32 MiB), here through mallopt, in the peer through the same
  // settings in its environment.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  setenv("MALLOC_MMAP_THRESHOLD_", "1073741824", 1);
  setenv("MALLOC_TRIM_THRESHOLD_", "1073741824", 1);
  setenv("OMP_NUM_THREADS", "1", 0);  // torch.set_num_threads switches between 1 and 2
  signal(SIGPIPE, SIG_IGN);

  std::string dir = (std::filesystem::temp_directory_path() / ("tessera-cpu-bench-" + std::to_string(getpid()))).string();
  std::filesystem::create_directories(dir);

  if (solo == Solo::none && (configs.size() != 1 || configs[0].ours != 1))
    die("--threads needs --solo: in one process only one thread per side is timed (BENCH.md)");
  if (solo != Solo::none) {
    // One side at --threads N (default 1), for bench/scaling.py: no compile benchmark.
    if (cfg.wants("sgemm")) bench_sgemm(cfg);
    torch_benchmarks(cfg, dir);
    print_solo();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return failed ? 1 : 0;
  }
  std::printf("== CPU kernels vs peers (%s sizes)\n", cfg.small ? "small, correctness only" : "full");
  std::fflush(stdout);
  if (cfg.wants("sgemm")) bench_sgemm(cfg);
  torch_benchmarks(cfg, dir);
  print_table(cfg);
  if (!grad_cost_line.empty()) std::printf("%s\n", grad_cost_line.c_str());

  if (cfg.wants("compile")) {
    CompileFigures f = bench_compile(cfg, dir);
    std::printf("\n== JIT compile of a transformer block (q/k/v, 4-head attention, MLP with gelu, 2 layer norms; "
                "target < 1 s cold)\n");
    print_compile("cold", f.cold);
    print_compile("cache hit", f.hit);
    if (!cfg.small)
      std::printf("  cold compile: %s (%.0f ms vs 1000 ms)\n", f.cold.total_ms() < 1000 ? "PASS" : "below",
                  f.cold.total_ms());
    // The training step of the `block` benchmark (forward, backward of 12 parameters, AdamW),
    // f32 and bf16, cold: median of 3 (1 with --small).
    std::printf("\n== JIT compile of a transformer block's training step (forward, backward, AdamW; target < 2 s "
                "cold)\n");
    for (bool bf16 : {false, true}) {
      std::vector<CompileTimes> cold;
      for (int i = 0; i < (cfg.small ? 1 : 3); ++i)
        cold.push_back(compile_program(block_train_program(8, 128, 256, 4, 1024, bf16), "step", no_cache()).times);
      std::sort(cold.begin(), cold.end(), [](auto& a, auto& b) { return a.total_ms() < b.total_ms(); });
      const CompileTimes& t = cold[cold.size() / 2];
      print_compile(bf16 ? "cold bf16" : "cold f32", t);
      if (!cfg.small)
        std::printf("  cold compile: %s (%.0f ms vs 2000 ms)\n", t.total_ms() < 2000 ? "PASS" : "below", t.total_ms());
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (failed) std::printf("\ncpu_bench: an output did not match its peer\n");
  return failed ? 1 : 0;
}
