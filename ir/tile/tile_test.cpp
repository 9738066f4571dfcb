// Unit tests of the CPU Tile IR schedule: the vector width chosen per target, the schedule's
// options in the pipeline description (the compile-cache key), and matmuls compiled through it
// for SSE, AVX2 and the host, against a float64 reference.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "codegen/codegen.h"
#include "codegen/cpu/jit.h"
#include "codegen/test_util.h"
#include "ir/tile/CpuPipeline.h"
#include "ir/tile/MatmulSchedule.h"
#include "llvm/TargetParser/Host.h"
#include "tessera/codegen_abi.h"

using namespace tessera;
using codegen::testing::Context;
using codegen::testing::unwrap;

namespace {

codegen::CpuOptions scheduled(const std::string& arch) {
  codegen::CpuOptions cpu;
  cpu.arch = arch;
  ir::CpuScheduleOptions schedule;
  schedule.arch = arch;
  cpu.pre_bufferization = [schedule](mlir::OpPassManager& pm) { ir::buildCpuTensorSchedule(pm, schedule); };
  cpu.post_bufferization = [schedule](mlir::OpPassManager& pm) { ir::buildCpuBufferSchedule(pm, schedule); };
  return cpu;
}

}  // namespace

TEST_CASE("matmul schedule: vector width per target") {
  CHECK(ir::vector_bits_for_arch("generic") == 128);
  CHECK(ir::vector_bits_for_arch("x86-64") == 128);
  CHECK(ir::vector_bits_for_arch("x86-64-v3") == 256);
  CHECK(ir::vector_bits_for_arch("skylake-avx512") == 512);
  llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
  int expected = host.lookup("avx512f") ? 512 : host.lookup("avx") ? 256 : 128;
  CHECK(ir::vector_bits_for_arch("native") == expected);
}

TEST_CASE("matmul schedule: its options are part of the pipeline (the cache key)") {
  std::string sse = codegen::describe_pipeline(scheduled("x86-64"));
  std::string avx2 = codegen::describe_pipeline(scheduled("x86-64-v3"));
  CHECK(sse.find("tessera-matmul-schedule{") != std::string::npos);
  CHECK(sse.find("vector-bits=128") != std::string::npos);
  CHECK(avx2.find("vector-bits=256") != std::string::npos);
  CHECK(sse.find("tessera-matmul-schedule") > sse.find("one-shot-bufferize"));
}

TEST_CASE("matmul schedule: results for SSE, AVX2 and the host, ragged and blocked sizes") {
  // Dynamic sizes: one compiled entry serves every shape below.
  const char* kModule = R"mlir(
    func.func @mm(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>) -> tensor<?x?xf32> {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %m = tensor.dim %a, %c0 : tensor<?x?xf32>
      %n = tensor.dim %b, %c1 : tensor<?x?xf32>
      %zero = arith.constant 0.0 : f32
      %e = tensor.empty(%m, %n) : tensor<?x?xf32>
      %init = linalg.fill ins(%zero : f32) outs(%e : tensor<?x?xf32>) -> tensor<?x?xf32>
      %r = linalg.matmul ins(%a, %b : tensor<?x?xf32>, tensor<?x?xf32>) outs(%init : tensor<?x?xf32>) -> tensor<?x?xf32>
      return %r : tensor<?x?xf32>
    })mlir";
  struct Shape {
    int64_t m, k, n;
  };
  const Shape shapes[] = {{1, 1, 1}, {7, 13, 5}, {6, 256, 64}, {97, 300, 130}, {13, 40, 1100}};
  for (const char* arch : {"x86-64", "x86-64-v3", "native"}) {
    Context ctx;
    auto module = ctx.parse(kModule);
    codegen::JitOptions jit_options;
    jit_options.use_cache = false;
    // The row-block loop runs on the runtime's pool (tessParallelFor).
    jit_options.symbols = tessCodegenSymbolList();
    auto jit = unwrap(codegen::JitModule::compile(*module, scheduled(arch), jit_options));
    for (Shape s : shapes) {
      CAPTURE(arch);
      CAPTURE(s.m);
      CAPTURE(s.k);
      CAPTURE(s.n);
      std::mt19937 rng(static_cast<unsigned>(s.m * 31 + s.k * 7 + s.n));
      std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
      std::vector<float> a(s.m * s.k), b(s.k * s.n);
      for (float& v : a) v = dist(rng);
      for (float& v : b) v = dist(rng);
      auto out = unwrap(jit->invoke("mm", {codegen::RtValue::tensor_view(codegen::DType::F32, {s.m, s.k}, a.data()),
                                           codegen::RtValue::tensor_view(codegen::DType::F32, {s.k, s.n}, b.data())}));
      REQUIRE(out.size() == 1);
      REQUIRE(out[0].shape == std::vector<int64_t>{s.m, s.n});
      const float* c = static_cast<const float*>(out[0].data);
      double worst = 0;
      for (int64_t i = 0; i < s.m; ++i)
        for (int64_t j = 0; j < s.n; ++j) {
          double ref = 0;
          for (int64_t p = 0; p < s.k; ++p) ref += double(a[i * s.k + p]) * b[p * s.n + j];
          worst = std::max(worst, std::fabs(ref - c[i * s.n + j]));
        }
      CHECK(worst < 1e-4);
    }
  }
}

TEST_CASE("matmul schedule: batched, A read transposed (a strided 2-D view of A per batch)") {
  const char* kModule = R"mlir(
    #a = affine_map<(z, m, n, k) -> (z, k, m)>
    #b = affine_map<(z, m, n, k) -> (k, n)>
    #c = affine_map<(z, m, n, k) -> (z, m, n)>
    func.func @tmm(%a: tensor<?x?x?xf32>, %b: tensor<?x?xf32>) -> tensor<?x?x?xf32> {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %z = tensor.dim %a, %c0 : tensor<?x?x?xf32>
      %m = tensor.dim %a, %c2 : tensor<?x?x?xf32>
      %n = tensor.dim %b, %c1 : tensor<?x?xf32>
      %zero = arith.constant 0.0 : f32
      %e = tensor.empty(%z, %m, %n) : tensor<?x?x?xf32>
      %init = linalg.fill ins(%zero : f32) outs(%e : tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
      %r = linalg.generic {indexing_maps = [#a, #b, #c],
                           iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
          ins(%a, %b : tensor<?x?x?xf32>, tensor<?x?xf32>) outs(%init : tensor<?x?x?xf32>) {
      ^bb0(%x: f32, %y: f32, %acc: f32):
        %p = arith.mulf %x, %y : f32
        %s = arith.addf %acc, %p : f32
        linalg.yield %s : f32
      } -> tensor<?x?x?xf32>
      return %r : tensor<?x?x?xf32>
    })mlir";
  Context ctx;
  auto module = ctx.parse(kModule);
  codegen::JitOptions jit_options;
  jit_options.use_cache = false;
  jit_options.symbols = tessCodegenSymbolList();
  auto jit = unwrap(codegen::JitModule::compile(*module, scheduled("native"), jit_options));
  const int64_t Z = 3, K = 37, M = 29, N = 70;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> a(Z * K * M), b(K * N);
  for (float& v : a) v = dist(rng);
  for (float& v : b) v = dist(rng);
  auto out = unwrap(jit->invoke("tmm", {codegen::RtValue::tensor_view(codegen::DType::F32, {Z, K, M}, a.data()),
                                        codegen::RtValue::tensor_view(codegen::DType::F32, {K, N}, b.data())}));
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].shape == std::vector<int64_t>{Z, M, N});
  const float* c = static_cast<const float*>(out[0].data);
  double worst = 0;
  for (int64_t z = 0; z < Z; ++z)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double ref = 0;
        for (int64_t p = 0; p < K; ++p) ref += double(a[(z * K + p) * M + i]) * b[p * N + j];
        worst = std::max(worst, std::fabs(ref - c[(z * M + i) * N + j]));
      }
  CHECK(worst < 1e-4);
}

namespace {

// The ulps between `got` and the exact value `ref` (long double), in units of the last place of
// the double nearest to `ref`.
double ulp_error(double got, long double ref) {
  double r = double(ref);
  if (std::isinf(r) || r == 0) return got == r ? 0 : 1e9;
  int e = std::ilogb(r);
  double ulp = std::ldexp(1.0, std::max(e, -1022) - 52);
  return double(std::fabs((long double)got - ref) / ulp);
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST_CASE("vector math: f64 exp, log and log1p within 1 ulp, specials as libm, vector lanes = scalar") {
  const char* kModule = R"mlir(
    #id = affine_map<(i) -> (i)>
    func.func @f(%x: tensor<?xf64>) -> (tensor<?xf64>, tensor<?xf64>, tensor<?xf64>) {
      %c0 = arith.constant 0 : index
      %n = tensor.dim %x, %c0 : tensor<?xf64>
      %e0 = tensor.empty(%n) : tensor<?xf64>
      %e1 = tensor.empty(%n) : tensor<?xf64>
      %e2 = tensor.empty(%n) : tensor<?xf64>
      %r:3 = linalg.generic {indexing_maps = [#id, #id, #id, #id], iterator_types = ["parallel"]}
          ins(%x : tensor<?xf64>) outs(%e0, %e1, %e2 : tensor<?xf64>, tensor<?xf64>, tensor<?xf64>) {
      ^bb0(%a: f64, %o0: f64, %o1: f64, %o2: f64):
        %y0 = math.exp %a : f64
        %y1 = math.log %a : f64
        %y2 = math.log1p %a : f64
        linalg.yield %y0, %y1, %y2 : f64, f64, f64
      } -> (tensor<?xf64>, tensor<?xf64>, tensor<?xf64>)
      return %r#0, %r#1, %r#2 : tensor<?xf64>, tensor<?xf64>, tensor<?xf64>
    })mlir";
  const double inf = INFINITY, nan = NAN, dmin = 0x1p-1022, dtrue_min = 0x1p-1074;
  std::vector<double> x = {0.0,     -0.0,     dtrue_min, -dtrue_min, 3 * dtrue_min, dmin,   dmin * 0.75, -dmin,
                           1e-310,  1e-300,   1e-20,     -1e-20,     0x1p-53,       0x1p-54, 1.0,        -1.0,
                           2.0,     0.5,      -0.5,      -1 + 0x1p-53, -1 - 0x1p-52, 0x1p53, 0x1p54 + 2,  1e308,
                           1.7976931348623157e308, -1.7976931348623157e308, 709.78, 709.7827128933840, 709.79,
                           -708.39, -708.40, -744.44, -745.13, -745.14, -746.0, -1000.0, 1000.0, 1e5, -1e5,
                           inf,     -inf,     nan,       -nan,       0.6931471805599453, -0.6931471805599453,
                           0.34657359027997264, -0.34657359027997264, 1.4142135623730951, 0.7071067811865476,
                           0.41421356237309503, -0.2928932188134524, 3.0, 4.0, -0.9999999};
  std::mt19937_64 rng(20261207);
  auto uni = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  for (int k = 0; k < 40000; ++k) x.push_back(uni(-746.0, 710.0));
  for (int k = 0; k < 20000; ++k) x.push_back(uni(-1.0, 1.0));
  for (int k = 0; k < 20000; ++k) x.push_back(uni(-1e-6, 1e-6));
  for (int k = 0; k < 40000; ++k) x.push_back(std::exp(uni(-744.0, 709.0)));
  for (int k = 0; k < 20000; ++k) x.push_back(-std::exp(uni(-40.0, 0.0)));  // log1p on (-1, 0)
  for (int k = 0; k < 20000; ++k) {  // random bit patterns: every exponent, subnormals, NaNs
    uint64_t bits = rng();
    double v;
    std::memcpy(&v, &bits, sizeof v);
    x.push_back(v);
  }
  if (x.size() % 8 == 0) x.push_back(0.25);  // a scalar remainder after the vector loop

  for (const char* arch : {"x86-64-v3", "native", "x86-64"}) {
    CAPTURE(arch);
    Context ctx;
    auto module = ctx.parse(kModule);
    codegen::JitOptions jit_options;
    jit_options.use_cache = false;
    jit_options.symbols = tessCodegenSymbolList();
    auto jit = unwrap(codegen::JitModule::compile(*module, scheduled(arch), jit_options));
    // Without FMA (x86-64), math.fma is a libm call per lane: a shorter run.
    size_t count = std::string(arch) == "x86-64" ? 4001 : x.size();
    auto out = unwrap(jit->invoke("f", {codegen::RtValue::tensor_view(codegen::DType::F64, {int64_t(count)}, x.data())}));
    REQUIRE(out.size() == 3);
    const double* res[3] = {static_cast<const double*>(out[0].data), static_cast<const double*>(out[1].data),
                            static_cast<const double*>(out[2].data)};
    double worst[3] = {0, 0, 0};
    for (size_t k = 0; k < count; ++k) {
      long double v = x[k];
      long double ref[3] = {std::exp(v), std::log(v), std::log1p(v)};
      for (int fn = 0; fn < 3; ++fn) {
        double got = res[fn][k];
        double want = double(ref[fn]);
        CAPTURE(fn);
        CAPTURE(x[k]);
        CAPTURE(got);
        CAPTURE(want);
        if (std::isnan(want) || std::isinf(want) || want == 0 || (fn == 0 && std::fabs(want) < dmin)) {
          // Specials, zeros (with their sign) and exp's subnormal results: as libm (exactly the
          // correctly rounded value, or within one subnormal ulp).
          if (std::isnan(want)) {
            CHECK(std::isnan(got));
          } else if (std::isinf(want) || want == 0) {
            CHECK(same_bits(got, want));
          } else {
            CHECK(std::fabs(got - want) <= dtrue_min);
          }
          continue;
        }
        double err = ulp_error(got, ref[fn]);
        worst[fn] = std::max(worst[fn], err);
        if (err >= 1.0) CHECK(err < 1.0);
      }
    }
    MESSAGE(arch << ": max ulp error exp " << worst[0] << ", log " << worst[1] << ", log1p " << worst[2]);
    // The scalar path (a tensor of one element has no vector step) gives the lanes' bits.
    for (size_t k = 0; k < count; k += (count > 5000 ? 97 : 13)) {
      auto one = unwrap(jit->invoke("f", {codegen::RtValue::tensor_view(codegen::DType::F64, {1}, &x[k])}));
      for (int fn = 0; fn < 3; ++fn) {
        double a = static_cast<const double*>(one[fn].data)[0];
        CAPTURE(x[k]);
        CHECK((same_bits(a, res[fn][k]) || (std::isnan(a) && std::isnan(res[fn][k]))));
      }
    }
  }
}
