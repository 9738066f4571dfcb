// Unit tests of the CPU Tile IR schedule: the vector width chosen per target, the schedule's
// options in the pipeline description (the compile-cache key), and matmuls compiled through it
// for SSE, AVX2 and the host, against a float64 reference.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <cmath>
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
