// Unit tests of the CPU back end: lowering, JIT calls on runtime values, ownership of returned
// buffers, external symbols, errors, and the compile cache. Also the test runner's main().
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "codegen/codegen.h"
#include "codegen/cpu/cache.h"
#include "codegen/cpu/jit.h"
#include "codegen/test_util.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Object/ObjectFile.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

using namespace tessera::codegen;
using tessera::codegen::testing::check_ok;
using tessera::codegen::testing::Context;
using tessera::codegen::testing::error_of;
using tessera::codegen::testing::unwrap;

// C functions the compiled code calls by name; the JIT finds them in this process (the test
// executable exports its symbols, as tesserac does for the runtime).
static std::atomic<int> g_scale_calls{0};

extern "C" __attribute__((used, visibility("default"))) double tess_test_scale(double value) {
  ++g_scale_calls;
  return 10 * value;
}

// The convention recommended for runtime functions taking tensors: an unranked memref, which
// the C side receives as (rank, pointer to the ranked descriptor).
extern "C" __attribute__((used, visibility("default"))) double tess_test_sum(int64_t rank, void* descriptor) {
  auto* fields = static_cast<int64_t*>(descriptor);
  const double* aligned = reinterpret_cast<const double*>(fields[1]);
  int64_t offset = fields[2];
  if (rank != 1) return -1;
  int64_t size = fields[3], stride = fields[4];
  double sum = 0;
  for (int64_t i = 0; i < size; ++i) sum += aligned[offset + i * stride];
  return sum;
}

// Allocation counters, installed as the compiled code's malloc/calloc/free.
static std::atomic<int64_t> g_live_blocks{0};
static std::atomic<int64_t> g_allocations{0};

extern "C" void* counting_malloc(size_t size) {
  void* block = std::malloc(size);
  if (block) ++g_live_blocks, ++g_allocations;
  return block;
}
extern "C" void* counting_calloc(size_t count, size_t size) {
  void* block = std::calloc(count, size);
  if (block) ++g_live_blocks, ++g_allocations;
  return block;
}
extern "C" void counting_free(void* block) {
  if (block) --g_live_blocks;
  std::free(block);
}
// The JIT's malloc and free go to the runtime's buffer cache (tessBufferAlloc/Free).
extern "C" void* counting_buffer_alloc(uint64_t size) { return counting_malloc(size); }
extern "C" void counting_buffer_free(void* block) { counting_free(block); }

namespace {

JitOptions no_cache() {
  JitOptions options;
  options.use_cache = false;
  return options;
}

// No cache, and the compiled code allocates through the counters above.
JitOptions counting_allocations() {
  JitOptions options = no_cache();
  options.symbols = {{"malloc", reinterpret_cast<void*>(&counting_malloc)},
                     {"calloc", reinterpret_cast<void*>(&counting_calloc)},
                     {"free", reinterpret_cast<void*>(&counting_free)},
                     {"tessBufferAlloc", reinterpret_cast<void*>(&counting_buffer_alloc)},
                     {"tessBufferFree", reinterpret_cast<void*>(&counting_buffer_free)}};
  return options;
}

std::unique_ptr<JitModule> compile(Context& ctx, const std::string& text, const CpuOptions& options = {},
                                   const JitOptions& jit_options = no_cache()) {
  mlir::OwningOpRef<mlir::ModuleOp> module = ctx.parse(text);
  return unwrap(JitModule::compile(*module, options, jit_options));
}

std::vector<RtValue> call(JitModule& jit, const char* entry, std::vector<RtValue> args) {
  return unwrap(jit.invoke(entry, args));
}

std::vector<float> random_floats(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

const char* kElementwise = R"mlir(
#id = affine_map<(d0) -> (d0)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @axpy(%a: f32, %x: tensor<8xf32>, %y: tensor<8xf32>) -> tensor<8xf32> {
  %e = tensor.empty() : tensor<8xf32>
  %r = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%x, %y : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%xi: f32, %yi: f32, %o: f32):
    %m = arith.mulf %a, %xi : f32
    %s = arith.addf %m, %yi : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
}
func.func @act(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %d0 = tensor.dim %x, %c0 : tensor<?x?xf32>
  %d1 = tensor.dim %x, %c1 : tensor<?x?xf32>
  %e = tensor.empty(%d0, %d1) : tensor<?x?xf32>
  %r = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<?x?xf32>) outs(%e : tensor<?x?xf32>) {
  ^bb0(%v: f32, %o: f32):
    %t = math.tanh %v : f32
    %ex = math.exp %v : f32
    %s = arith.addf %t, %ex : f32
    linalg.yield %s : f32
  } -> tensor<?x?xf32>
  return %r : tensor<?x?xf32>
}
func.func @positive(%x: tensor<?xf64>) -> tensor<?xi1> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f64
  %d0 = tensor.dim %x, %c0 : tensor<?xf64>
  %e = tensor.empty(%d0) : tensor<?xi1>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<?xf64>) outs(%e : tensor<?xi1>) {
  ^bb0(%v: f64, %o: i1):
    %c = arith.cmpf ogt, %v, %zero : f64
    linalg.yield %c : i1
  } -> tensor<?xi1>
  return %r : tensor<?xi1>
}
)mlir";

}  // namespace

TEST_CASE("elementwise linalg.generic on a static shape") {
  Context ctx;
  auto jit = compile(ctx, kElementwise);
  std::vector<float> x = random_floats(8, 1), y = random_floats(8, 2);
  auto results = call(*jit, "axpy",
                      {RtValue::from_f32(2.5f), RtValue::tensor_view(DType::F32, {8}, x.data()),
                       RtValue::tensor_view(DType::F32, {8}, y.data())});
  REQUIRE(results.size() == 1);
  const RtValue& r = results[0];
  REQUIRE(r.is_tensor());
  CHECK(r.dtype == DType::F32);
  CHECK(r.shape == std::vector<int64_t>{8});
  CHECK(r.owning());
  for (int64_t i = 0; i < 8; ++i) CHECK(r.at<float>({i}) == doctest::Approx(2.5f * x[i] + y[i]));
}

TEST_CASE("elementwise linalg.generic on dynamic shapes, libm calls, strided inputs") {
  Context ctx;
  auto jit = compile(ctx, kElementwise);
  auto expected = [](float v) { return std::tanh(v) + std::exp(v); };
  std::vector<float> x = random_floats(3 * 5, 3);
  auto results = call(*jit, "act", {RtValue::tensor_view(DType::F32, {3, 5}, x.data())});
  REQUIRE(results[0].shape == std::vector<int64_t>{3, 5});
  CHECK(results[0].strides == std::vector<int64_t>{5, 1});
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 5; ++j) CHECK(results[0].at<float>({i, j}) == doctest::Approx(expected(x[i * 5 + j])));

  // A transposed view of the same memory (strides {1, 5}) is copied to row-major first.
  results = call(*jit, "act", {RtValue::tensor_view(DType::F32, {5, 3}, x.data(), {1, 5})});
  REQUIRE(results[0].shape == std::vector<int64_t>{5, 3});
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 3; ++j) CHECK(results[0].at<float>({i, j}) == doctest::Approx(expected(x[j * 5 + i])));

  // An empty tensor.
  results = call(*jit, "act", {RtValue::tensor_view(DType::F32, {0, 4}, x.data())});
  CHECK(results[0].shape == std::vector<int64_t>{0, 4});

  // i1 results are one byte per element.
  std::vector<double> d = {-1.0, 2.0, 0.0, 3.5};
  results = call(*jit, "positive", {RtValue::tensor_view(DType::F64, {4}, d.data())});
  CHECK(results[0].dtype == DType::I1);
  CHECK(results[0].at<uint8_t>({0}) == 0);
  CHECK(results[0].at<uint8_t>({1}) == 1);
  CHECK(results[0].at<uint8_t>({2}) == 0);
  CHECK(results[0].at<uint8_t>({3}) == 1);
}

TEST_CASE("linalg.matmul 64x64 and a dynamic matmul against a naive reference") {
  Context ctx;
  auto jit = compile(ctx, R"mlir(
func.func @mm(%a: tensor<64x64xf32>, %b: tensor<64x64xf32>) -> tensor<64x64xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x64xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<64x64xf32>) -> tensor<64x64xf32>
  %r = linalg.matmul ins(%a, %b : tensor<64x64xf32>, tensor<64x64xf32>) outs(%f : tensor<64x64xf32>) -> tensor<64x64xf32>
  return %r : tensor<64x64xf32>
}
func.func @mm_dyn(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %m = tensor.dim %a, %c0 : tensor<?x?xf32>
  %n = tensor.dim %b, %c1 : tensor<?x?xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty(%m, %n) : tensor<?x?xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x?xf32>) -> tensor<?x?xf32>
  %r = linalg.matmul ins(%a, %b : tensor<?x?xf32>, tensor<?x?xf32>) outs(%f : tensor<?x?xf32>) -> tensor<?x?xf32>
  return %r : tensor<?x?xf32>
}
)mlir");
  auto reference = [](const std::vector<float>& a, const std::vector<float>& b, int m, int k, int n) {
    std::vector<float> c(m * n, 0.0f);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double sum = 0;
        for (int p = 0; p < k; ++p) sum += double(a[i * k + p]) * b[p * n + j];
        c[i * n + j] = static_cast<float>(sum);
      }
    return c;
  };
  std::vector<float> a = random_floats(64 * 64, 4), b = random_floats(64 * 64, 5);
  auto results = call(
      *jit, "mm",
      {RtValue::tensor_view(DType::F32, {64, 64}, a.data()), RtValue::tensor_view(DType::F32, {64, 64}, b.data())});
  std::vector<float> c = reference(a, b, 64, 64, 64);
  int wrong = 0;
  for (int64_t i = 0; i < 64; ++i)
    for (int64_t j = 0; j < 64; ++j)
      if (std::abs(results[0].at<float>({i, j}) - c[i * 64 + j]) > 1e-4f) ++wrong;
  CHECK(wrong == 0);

  std::vector<float> a2 = random_floats(17 * 9, 6), b2 = random_floats(9 * 5, 7);
  results =
      call(*jit, "mm_dyn",
           {RtValue::tensor_view(DType::F32, {17, 9}, a2.data()), RtValue::tensor_view(DType::F32, {9, 5}, b2.data())});
  REQUIRE(results[0].shape == std::vector<int64_t>{17, 5});
  std::vector<float> c2 = reference(a2, b2, 17, 9, 5);
  for (int64_t i = 0; i < 17; ++i)
    for (int64_t j = 0; j < 5; ++j) CHECK(results[0].at<float>({i, j}) == doctest::Approx(c2[i * 5 + j]));
}

TEST_CASE("reductions: linalg.reduce to a tensor and a scalar, max with arith.maximumf") {
  Context ctx;
  auto jit = compile(ctx, R"mlir(
func.func @row_sum(%x: tensor<?x?xf64>) -> (tensor<?xf64>, f64) {
  %c0 = arith.constant 0 : index
  %d0 = tensor.dim %x, %c0 : tensor<?x?xf64>
  %z = arith.constant 0.0 : f64
  %e = tensor.empty(%d0) : tensor<?xf64>
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<?xf64>) -> tensor<?xf64>
  %r = linalg.reduce ins(%x : tensor<?x?xf64>) outs(%f : tensor<?xf64>) dimensions = [1]
    (%in: f64, %acc: f64) {
      %s = arith.addf %in, %acc : f64
      linalg.yield %s : f64
    }
  %e0 = tensor.empty() : tensor<f64>
  %f0 = linalg.fill ins(%z : f64) outs(%e0 : tensor<f64>) -> tensor<f64>
  %t = linalg.reduce ins(%r : tensor<?xf64>) outs(%f0 : tensor<f64>) dimensions = [0]
    (%in: f64, %acc: f64) {
      %s = arith.addf %in, %acc : f64
      linalg.yield %s : f64
    }
  %total = tensor.extract %t[] : tensor<f64>
  return %r, %total : tensor<?xf64>, f64
}
func.func @max(%x: tensor<?xf32>) -> tensor<f32> {
  %lowest = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<f32>
  %f = linalg.fill ins(%lowest : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>],
                       iterator_types = ["reduction"]}
      ins(%x : tensor<?xf32>) outs(%f : tensor<f32>) {
  ^bb0(%v: f32, %acc: f32):
    %m = arith.maximumf %v, %acc : f32
    linalg.yield %m : f32
  } -> tensor<f32>
  return %r : tensor<f32>
}
)mlir");
  std::vector<double> x(4 * 3);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.5 * double(i);
  auto results = call(*jit, "row_sum", {RtValue::tensor_view(DType::F64, {4, 3}, x.data())});
  REQUIRE(results.size() == 2);
  REQUIRE(results[0].shape == std::vector<int64_t>{4});
  for (int64_t i = 0; i < 4; ++i) CHECK(results[0].at<double>({i}) == doctest::Approx(0.5 * (3 * i * 3 + 3)));
  CHECK(results[1].kind == RtValue::Kind::F64);
  CHECK(results[1].float_value == doctest::Approx(0.5 * 66));

  std::vector<float> v = {3.0f, -7.0f, 11.5f, 2.0f};
  results = call(*jit, "max", {RtValue::tensor_view(DType::F32, {4}, v.data())});
  CHECK(results[0].shape.empty());
  CHECK(results[0].at<float>({}) == 11.5f);
}

TEST_CASE("scf.while with a data-dependent trip count over a tensor") {
  Context ctx;
  auto jit = compile(ctx, R"mlir(
func.func @doubling(%a: tensor<?xf32>, %lim: f32) -> (tensor<?xf32>, i64) {
  %c0 = arith.constant 0 : index
  %c0i = arith.constant 0 : i64
  %c1i = arith.constant 1 : i64
  %two = arith.constant 2.0 : f32
  %r:2 = scf.while (%t = %a, %n = %c0i) : (tensor<?xf32>, i64) -> (tensor<?xf32>, i64) {
    %x = tensor.extract %t[%c0] : tensor<?xf32>
    %c = arith.cmpf olt, %x, %lim : f32
    scf.condition(%c) %t, %n : tensor<?xf32>, i64
  } do {
  ^bb0(%t: tensor<?xf32>, %n: i64):
    %d = tensor.dim %t, %c0 : tensor<?xf32>
    %e = tensor.empty(%d) : tensor<?xf32>
    %m = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                         iterator_types = ["parallel"]}
      ins(%t : tensor<?xf32>) outs(%e : tensor<?xf32>) {
      ^bb0(%x: f32, %o: f32):
        %y = arith.mulf %x, %two : f32
        linalg.yield %y : f32
    } -> tensor<?xf32>
    %n1 = arith.addi %n, %c1i : i64
    scf.yield %m, %n1 : tensor<?xf32>, i64
  }
  return %r#0, %r#1 : tensor<?xf32>, i64
}
)mlir");
  std::vector<float> x = {1.0f, 3.0f, -2.0f};
  for (float limit : {0.5f, 2.0f, 100.0f}) {
    auto results = call(*jit, "doubling", {RtValue::tensor_view(DType::F32, {3}, x.data()), RtValue::from_f32(limit)});
    int64_t trips = 0;
    for (float v = 1.0f; v < limit; v *= 2) ++trips;
    CHECK(results[1].int_value == trips);
    CHECK(results[0].at<float>({1}) == doctest::Approx(3.0f * std::ldexp(1.0f, int(trips))));
  }
  CHECK(x[0] == 1.0f);  // the input is not changed
}

TEST_CASE("func.call between functions, private and public") {
  Context ctx;
  auto jit = compile(ctx, R"mlir(
func.func private @square(%x: tensor<?xf64>) -> tensor<?xf64> {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %x, %c0 : tensor<?xf64>
  %e = tensor.empty(%d) : tensor<?xf64>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%x : tensor<?xf64>) outs(%e : tensor<?xf64>) {
  ^bb0(%v: f64, %o: f64):
    %s = arith.mulf %v, %v : f64
    linalg.yield %s : f64
  } -> tensor<?xf64>
  return %r : tensor<?xf64>
}
func.func @sum_of_squares(%x: tensor<?xf64>) -> f64 {
  %sq = call @square(%x) : (tensor<?xf64>) -> tensor<?xf64>
  %z = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<f64>
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<f64>) -> tensor<f64>
  %r = linalg.reduce ins(%sq : tensor<?xf64>) outs(%f : tensor<f64>) dimensions = [0]
    (%in: f64, %acc: f64) {
      %s = arith.addf %in, %acc : f64
      linalg.yield %s : f64
    }
  %v = tensor.extract %r[] : tensor<f64>
  return %v : f64
}
func.func @twice(%x: tensor<?xf64>) -> f64 {
  %a = call @sum_of_squares(%x) : (tensor<?xf64>) -> f64
  %b = arith.addf %a, %a : f64
  return %b : f64
}
)mlir");
  // Private functions are not entries.
  CHECK(jit->find_entry("square") == nullptr);
  CHECK(jit->entries().size() == 2);
  std::vector<double> x = {1, 2, 3};
  auto results = call(*jit, "twice", {RtValue::tensor_view(DType::F64, {3}, x.data())});
  CHECK(results[0].float_value == doctest::Approx(28.0));
  results = call(*jit, "sum_of_squares", {RtValue::tensor_view(DType::F64, {3}, x.data())});
  CHECK(results[0].float_value == doctest::Approx(14.0));
}

TEST_CASE("scalars in and out: i64, f64, i1, f32, i32, and results mixed with tensors") {
  Context ctx;
  auto jit = compile(ctx, R"mlir(
func.func @scalars(%a: i64, %b: f64, %c: i1, %d: f32) -> (f64, i64, i1, f32) {
  %true = arith.constant true
  %c3 = arith.constant 3 : i64
  %half = arith.constant 0.5 : f32
  %af = arith.sitofp %a : i64 to f64
  %s = arith.addf %af, %b : f64
  %n = arith.xori %c, %true : i1
  %a3 = arith.muli %a, %c3 : i64
  %d2 = arith.mulf %d, %half : f32
  return %s, %a3, %n, %d2 : f64, i64, i1, f32
}
func.func @square(%a: i64) -> i64 {
  %r = arith.muli %a, %a : i64
  return %r : i64
}
func.func @is_positive(%x: f64) -> i1 {
  %z = arith.constant 0.0 : f64
  %r = arith.cmpf ogt, %x, %z : f64
  return %r : i1
}
func.func @add32(%a: i32, %b: i32) -> i32 {
  %r = arith.addi %a, %b : i32
  return %r : i32
}
func.func @nothing() {
  return
}
func.func @mixed(%x: tensor<?xf32>, %k: f32) -> (i1, tensor<?xf32>, f32) {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %x, %c0 : tensor<?xf32>
  %e = tensor.empty(%d) : tensor<?xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%x : tensor<?xf32>) outs(%e : tensor<?xf32>) {
  ^bb0(%v: f32, %o: f32):
    %s = arith.mulf %v, %k : f32
    linalg.yield %s : f32
  } -> tensor<?xf32>
  %first = tensor.extract %x[%c0] : tensor<?xf32>
  %z = arith.constant 0.0 : f32
  %neg = arith.cmpf olt, %first, %z : f32
  return %neg, %r, %first : i1, tensor<?xf32>, f32
}
)mlir");
  auto results =
      call(*jit, "scalars",
           {RtValue::from_i64(-7), RtValue::from_f64(0.25), RtValue::from_i1(false), RtValue::from_f32(3.0f)});
  REQUIRE(results.size() == 4);
  CHECK(results[0].kind == RtValue::Kind::F64);
  CHECK(results[0].float_value == -6.75);
  CHECK(results[1].kind == RtValue::Kind::I64);
  CHECK(results[1].int_value == -21);
  CHECK(results[2].kind == RtValue::Kind::I1);
  CHECK(results[2].int_value == 1);
  CHECK(results[3].kind == RtValue::Kind::F32);
  CHECK(results[3].float_value == 1.5);

  CHECK(call(*jit, "square", {RtValue::from_i64(12)})[0].int_value == 144);
  CHECK(call(*jit, "square", {RtValue::from_i64(-3000000000LL)})[0].int_value == 9000000000000000000LL);
  CHECK(call(*jit, "is_positive", {RtValue::from_f64(2.0)})[0].int_value == 1);
  CHECK(call(*jit, "is_positive", {RtValue::from_f64(-2.0)})[0].int_value == 0);
  CHECK(call(*jit, "add32", {RtValue::from_i32(2000000000), RtValue::from_i32(2000000000)})[0].int_value ==
        static_cast<int32_t>(4000000000LL - 4294967296LL));
  CHECK(call(*jit, "nothing", {}).empty());

  std::vector<float> x = {-2.0f, 4.0f};
  results = call(*jit, "mixed", {RtValue::tensor_view(DType::F32, {2}, x.data()), RtValue::from_f32(3.0f)});
  REQUIRE(results.size() == 3);
  CHECK(results[0].int_value == 1);
  REQUIRE(results[1].shape == std::vector<int64_t>{2});
  CHECK(results[1].at<float>({0}) == -6.0f);
  CHECK(results[1].at<float>({1}) == 12.0f);
  CHECK(results[2].float_value == -2.0);
}

TEST_CASE("returned buffers are owned by the caller; nothing leaks, nothing is freed twice") {
  Context ctx;
  JitOptions options = counting_allocations();
  auto jit = compile(ctx, R"mlir(
#id = affine_map<(i) -> (i)>
func.func @chain(%x: tensor<?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %x, %c0 : tensor<?xf32>
  %e = tensor.empty(%d) : tensor<?xf32>
  %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<?xf32>) outs(%e : tensor<?xf32>) {
  ^bb0(%v: f32, %o: f32):
    %s = math.exp %v : f32
    linalg.yield %s : f32
  } -> tensor<?xf32>
  %e2 = tensor.empty(%d) : tensor<?xf32>
  %r = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%t, %x : tensor<?xf32>, tensor<?xf32>) outs(%e2 : tensor<?xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<?xf32>
  return %r : tensor<?xf32>
}
func.func @ident(%x: tensor<?xf32>) -> tensor<?xf32> {
  return %x : tensor<?xf32>
}
func.func @constant() -> tensor<4xf32> {
  %c = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  return %c : tensor<4xf32>
}
func.func @halving(%a: tensor<?xf32>, %lim: f32) -> (tensor<?xf32>, i64) {
  %c0 = arith.constant 0 : index
  %c0i = arith.constant 0 : i64
  %c1i = arith.constant 1 : i64
  %half = arith.constant 0.5 : f32
  %r:2 = scf.while (%t = %a, %n = %c0i) : (tensor<?xf32>, i64) -> (tensor<?xf32>, i64) {
    %x = tensor.extract %t[%c0] : tensor<?xf32>
    %c = arith.cmpf ogt, %x, %lim : f32
    scf.condition(%c) %t, %n : tensor<?xf32>, i64
  } do {
  ^bb0(%t: tensor<?xf32>, %n: i64):
    %d = tensor.dim %t, %c0 : tensor<?xf32>
    %e = tensor.empty(%d) : tensor<?xf32>
    %m = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%t : tensor<?xf32>) outs(%e : tensor<?xf32>) {
      ^bb0(%x: f32, %o: f32):
        %y = arith.mulf %x, %half : f32
        linalg.yield %y : f32
    } -> tensor<?xf32>
    %n1 = arith.addi %n, %c1i : i64
    scf.yield %m, %n1 : tensor<?xf32>, i64
  }
  return %r#0, %r#1 : tensor<?xf32>, i64
}
func.func @pick(%x: tensor<?xf32>, %which: i1) -> tensor<?xf32> {
  %r = scf.if %which -> tensor<?xf32> {
    %y = func.call @chain(%x) : (tensor<?xf32>) -> tensor<?xf32>
    scf.yield %y : tensor<?xf32>
  } else {
    scf.yield %x : tensor<?xf32>
  }
  return %r : tensor<?xf32>
}
func.func @twice_the_same(%x: tensor<?xf32>) -> (tensor<?xf32>, tensor<?xf32>) {
  %y = call @chain(%x) : (tensor<?xf32>) -> tensor<?xf32>
  return %y, %y : tensor<?xf32>, tensor<?xf32>
}
)mlir",
                     {}, options);
  std::vector<float> x = {0.0f, 1.0f, 2.0f};
  int64_t before = g_allocations.load();
  {
    auto results = call(*jit, "chain", {RtValue::tensor_view(DType::F32, {3}, x.data())});
    CHECK(results[0].at<float>({1}) == doctest::Approx(std::exp(1.0f) + 1.0f));
    CHECK(g_live_blocks.load() == 1);  // the temporary was freed inside, the result is alive
  }
  CHECK(g_live_blocks.load() == 0);
  {
    // Returning an argument returns a copy the caller owns, not the caller's own memory.
    auto results = call(*jit, "ident", {RtValue::tensor_view(DType::F32, {3}, x.data())});
    CHECK(results[0].data != x.data());
    CHECK(results[0].owning());
    CHECK(results[0].at<float>({2}) == 2.0f);
    auto constant = call(*jit, "constant", {});
    CHECK(constant[0].at<float>({3}) == 4.0f);
    std::vector<float> big = {64.0f, 1.0f};
    for (float limit : {100.0f, 1.0f, 0.01f}) {
      auto loop = call(*jit, "halving", {RtValue::tensor_view(DType::F32, {2}, big.data()), RtValue::from_f32(limit)});
      CHECK(loop[0].at<float>({0}) <= limit);
    }
    for (bool which : {true, false}) {
      auto picked = call(*jit, "pick", {RtValue::tensor_view(DType::F32, {3}, x.data()), RtValue::from_i1(which)});
      CHECK(picked[0].data != x.data());
      CHECK(picked[0].at<float>({0}) == doctest::Approx(which ? 1.0f : 0.0f));
    }
    auto pair = call(*jit, "twice_the_same", {RtValue::tensor_view(DType::F32, {3}, x.data())});
    CHECK(pair[0].at<float>({0}) == doctest::Approx(1.0f));
    CHECK(pair[1].at<float>({0}) == doctest::Approx(1.0f));
  }
  CHECK(g_live_blocks.load() == 0);
  CHECK(g_allocations.load() > before);
}

TEST_CASE("compiled code calls C functions of the process, scalars and unranked tensors") {
  Context ctx;
  auto jit = compile(ctx, R"mlir(
func.func private @tess_test_scale(f64) -> f64
func.func private @tess_test_sum(tensor<*xf64> {bufferization.access = "read"}) -> f64
func.func @external(%x: tensor<?xf64>, %s: f64) -> f64 {
  %a = call @tess_test_scale(%s) : (f64) -> f64
  %u = tensor.cast %x : tensor<?xf64> to tensor<*xf64>
  %b = call @tess_test_sum(%u) : (tensor<*xf64>) -> f64
  %r = arith.addf %a, %b : f64
  return %r : f64
}
)mlir");
  int calls = g_scale_calls.load();
  std::vector<double> x = {1.0, 2.0, 3.5};
  auto results = call(*jit, "external", {RtValue::tensor_view(DType::F64, {3}, x.data()), RtValue::from_f64(0.25)});
  CHECK(results[0].float_value == doctest::Approx(2.5 + 6.5));
  CHECK(g_scale_calls.load() == calls + 1);

  // A symbol that exists nowhere is an error at compile (link) time, not a crash.
  std::string message = error_of(JitModule::compile(*ctx.parse(R"mlir(
func.func private @tess_no_such_function(f64) -> f64
func.func @broken(%s: f64) -> f64 {
  %a = call @tess_no_such_function(%s) : (f64) -> f64
  return %a : f64
}
)mlir"),
                                                    {}, no_cache()));
  CHECK(message.find("tess_no_such_function") != std::string::npos);
}

TEST_CASE("entry functions never write into their tensor arguments") {
  Context ctx;
  auto jit = compile(ctx, R"mlir(
func.func @poke(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %v = arith.constant 42.0 : f32
  %r = tensor.insert %v into %x[%c0] : tensor<4xf32>
  return %r : tensor<4xf32>
}
)mlir");
  std::vector<float> x = {1, 2, 3, 4};
  auto results = call(*jit, "poke", {RtValue::tensor_view(DType::F32, {4}, x.data())});
  CHECK(results[0].at<float>({0}) == 42.0f);
  CHECK(results[0].at<float>({3}) == 4.0f);
  CHECK(x[0] == 1.0f);
}

TEST_CASE("donated arguments are updated in place and returned as they are") {
  Context ctx;
  JitOptions options = counting_allocations();
  auto jit = compile(ctx, R"mlir(
#id = affine_map<(i) -> (i)>
func.func @step(%p: tensor<4xf32> {tessera.donated}, %g: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %r = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%p, %g : tensor<4xf32>, tensor<4xf32>) outs(%p : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.subf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %r, %g : tensor<4xf32>, tensor<4xf32>
}
func.func @caller(%p: tensor<4xf32>, %g: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %r:2 = call @step(%p, %g) : (tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  return %r#0, %p : tensor<4xf32>, tensor<4xf32>
}
)mlir",
                     {}, options);
  const EntrySignature* step = jit->find_entry("step");
  REQUIRE(step);
  CHECK(step->donated == std::vector<bool>{true, false});
  int64_t live = g_live_blocks.load();
  {
    RtValue p = RtValue::tensor_zeros(DType::F32, {4});
    RtValue g = RtValue::tensor_zeros(DType::F32, {4});
    for (int i = 0; i < 4; ++i) static_cast<float*>(g.data)[i] = float(i);
    void* before = p.data;
    auto results = call(*jit, "step", {p, g});
    // The first result is p's buffer, updated; it shares p's owner. The second is a copy of g.
    CHECK(results[0].data == before);
    CHECK(results[0].owner == p.owner);
    CHECK(static_cast<float*>(p.data)[3] == -3.0f);
    CHECK(results[1].data != g.data);
    CHECK(g_live_blocks.load() == live + 1);  // only g's copy was allocated
    // Passing one buffer as both arguments: the donated one is copied first, so g reads the
    // values it had.
    auto same = call(*jit, "step", {g, g});
    CHECK(same[0].data != g.data);
    CHECK(same[0].at<float>({3}) == 0.0f);
    CHECK(static_cast<float*>(g.data)[3] == 3.0f);
    // Inside the module, a call keeps value semantics: p is still p after step donated it.
    auto kept = call(*jit, "caller", {p, g});
    CHECK(kept[0].at<float>({3}) == -6.0f);
    CHECK(kept[1].at<float>({3}) == -3.0f);
  }
  CHECK(g_live_blocks.load() == live);
}

TEST_CASE("errors come back as messages: failing passes, bad signatures, bad arguments") {
  Context ctx;
  // A bodiless function returning a tensor cannot be bufferized: MLIR's diagnostic and the
  // failing pass come back in the error.
  auto module = ctx.parse(R"mlir(
func.func private @tess_make() -> tensor<4xf32>
func.func @uses_make() -> tensor<4xf32> {
  %t = call @tess_make() : () -> tensor<4xf32>
  return %t : tensor<4xf32>
}
)mlir");
  std::string message = error_of(JitModule::compile(*module, {}, no_cache()));
  CHECK(message.find("one-shot-bufferize") != std::string::npos);
  CHECK(message.find("error: ") != std::string::npos);
  // The input module is left as it was (the pipeline runs on a clone).
  std::string printed;
  llvm::raw_string_ostream os(printed);
  module->print(os);
  CHECK(printed.find("tensor<4xf32>") != std::string::npos);
  CHECK(printed.find("llvm.func") == std::string::npos);

  // lower_to_llvm_dialect itself reports failure through the context's handler.
  auto again = ctx.parse(R"mlir(
func.func private @tess_make() -> tensor<4xf32>
func.func @uses_make() -> tensor<4xf32> {
  %t = call @tess_make() : () -> tensor<4xf32>
  return %t : tensor<4xf32>
}
)mlir");
  int errors = 0;
  {
    mlir::ScopedDiagnosticHandler handler(&ctx.context, [&](mlir::Diagnostic&) {
      ++errors;
      return mlir::success();
    });
    CHECK(mlir::failed(lower_to_llvm_dialect(*again, {})));
  }
  CHECK(errors >= 1);

  message = error_of(JitModule::compile(*ctx.parse(R"mlir(
func.func @unranked(%x: tensor<*xf32>) -> tensor<*xf32> {
  return %x : tensor<*xf32>
}
)mlir"),
                                        {}, no_cache()));
  CHECK(message.find("argument 0 has type 'tensor<*xf32>'") != std::string::npos);

  CpuOptions bad_arch;
  bad_arch.arch = "no-such-cpu";
  message = error_of(JitModule::compile(*ctx.parse("func.func @f() { return }"), bad_arch, no_cache()));
  CHECK(message.find("unknown CPU 'no-such-cpu'") != std::string::npos);

  auto jit = compile(ctx, kElementwise);
  std::vector<float> x(8);
  CHECK(error_of(jit->invoke("nope", {})).find("no entry function 'nope' (entries: axpy, act, positive)") !=
        std::string::npos);
  CHECK(error_of(jit->invoke("act", {})).find("takes 1 arguments, got 0") != std::string::npos);
  CHECK(error_of(jit->invoke("axpy", {RtValue::from_f32(1), RtValue::tensor_view(DType::F32, {4}, x.data()),
                                      RtValue::tensor_view(DType::F32, {8}, x.data())}))
            .find("argument 2: expected tensor<8xf32>, got tensor<4xf32>") != std::string::npos);
  CHECK(error_of(jit->invoke("act", {RtValue::tensor_view(DType::F64, {2, 2}, x.data())}))
            .find("expected tensor<?x?xf32>, got tensor<2x2xf64>") != std::string::npos);
  CHECK(error_of(jit->invoke("axpy", {RtValue::from_f64(1), RtValue::tensor_view(DType::F32, {8}, x.data()),
                                      RtValue::tensor_view(DType::F32, {8}, x.data())}))
            .find("argument 1: expected f32, got f64") != std::string::npos);
  // Sizes whose byte count overflows, negative sizes and null data are errors, not calls.
  CHECK(error_of(jit->invoke("act", {RtValue::tensor_view(DType::F32, {int64_t{1} << 32, int64_t{1} << 31}, x.data())}))
            .find("argument 1: the shape tensor<4294967296x2147483648xf32> has more bytes than int64_t can count") !=
        std::string::npos);
  CHECK(error_of(jit->invoke("act", {RtValue::tensor_view(DType::F32, {2, -3}, x.data(), {1, 1})}))
            .find("argument 1: dimension 1 is negative (-3)") != std::string::npos);
  CHECK(error_of(jit->invoke("act", {RtValue::tensor_view(DType::F32, {2, 2}, nullptr)}))
            .find("argument 1: the data pointer is null") != std::string::npos);
}

TEST_CASE("jit: a symbolic dimension shared by two arguments binds one value") {
  const char* module_text = R"mlir(
#id2 = affine_map<(i, j) -> (i, j)>
func.func @add(%a: tensor<?x?xf32> {tessera.name = "a", tessera.dims = ["M", "K"]},
               %b: tensor<?x?xf32> {tessera.name = "b", tessera.dims = ["M", "K"]}) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %m = tensor.dim %a, %c0 : tensor<?x?xf32>
  %k = tensor.dim %a, %c1 : tensor<?x?xf32>
  %e = tensor.empty(%m, %k) : tensor<?x?xf32>
  %r = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%a, %b : tensor<?x?xf32>, tensor<?x?xf32>) outs(%e : tensor<?x?xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %s = arith.addf %x, %y : f32
    linalg.yield %s : f32
  } -> tensor<?x?xf32>
  return %r : tensor<?x?xf32>
}
)mlir";
  Context ctx;
  auto jit = compile(ctx, module_text);
  std::vector<float> a(6, 1.0f), b(6, 2.0f);
  CHECK(error_of(jit->invoke("add", {RtValue::tensor_view(DType::F32, {2, 3}, a.data()),
                                     RtValue::tensor_view(DType::F32, {3, 2}, b.data())}))
            .find("entry 'add', argument 2 (b): dimension 0 is 3, but M is 2 from argument 1 (a), dimension 0") !=
        std::string::npos);
  auto ok = jit->invoke("add", {RtValue::tensor_view(DType::F32, {2, 3}, a.data()),
                                RtValue::tensor_view(DType::F32, {2, 3}, b.data())});
  REQUIRE(ok);
  CHECK((*ok)[0].at<float>({1, 2}) == 3.0f);
}

TEST_CASE("the compile cache key holds the compiler's build ID") {
  // A compiler rebuilt with other code generation (same version) must not load the objects of
  // the previous build: the key holds the GNU build ID of the binary (here the test program).
  const std::string& id = compiler_build_id();
  CHECK(id.size() >= 16);
  CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
}

TEST_CASE("the compile cache: a second compile of the same module skips the pipeline") {
  llvm::SmallString<128> dir;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("tessera-cache-test", dir));
  JitOptions options;
  options.cache_dir = dir.str().str();
  std::vector<float> x = random_floats(8, 9), y = random_floats(8, 10);
  auto run = [&](JitModule& jit) {
    auto results = call(jit, "axpy",
                        {RtValue::from_f32(-1.5f), RtValue::tensor_view(DType::F32, {8}, x.data()),
                         RtValue::tensor_view(DType::F32, {8}, y.data())});
    return results[0].at<float>({5});
  };

  uint64_t runs = pipeline_run_count();
  float first = 0;
  {
    Context ctx;
    auto jit = compile(ctx, kElementwise, {}, options);
    CHECK_FALSE(jit->stats().cache_hit);
    CHECK(jit->cache_warning().empty());
    CHECK(pipeline_run_count() == runs + 1);
    first = run(*jit);
  }
  {
    // A new context and a new parse: only the content counts.
    Context ctx;
    auto jit = compile(ctx, kElementwise, {}, options);
    CHECK(jit->stats().cache_hit);
    CHECK(pipeline_run_count() == runs + 1);
    CHECK(run(*jit) == first);
    CHECK(jit->stats().mlir_pipeline_ms == 0);
    MESSAGE("cache hit: key " << jit->stats().cache_lookup_ms << " ms, link " << jit->stats().jit_link_ms << " ms");
  }
  {
    // Other options are another key.
    Context ctx;
    CpuOptions o1;
    o1.opt_level = 1;
    auto jit = compile(ctx, kElementwise, o1, options);
    CHECK_FALSE(jit->stats().cache_hit);
    CHECK(pipeline_run_count() == runs + 2);
    CHECK(run(*jit) == doctest::Approx(first));
  }
  {
    // A damaged entry is recompiled, not trusted.
    Context ctx;
    auto module = ctx.parse(kElementwise);
    std::string key = unwrap(cache_key(*module, {}, ObjectKind::Jit));
    {
      std::error_code error;
      llvm::raw_fd_ostream os(ObjectCache(options.cache_dir).path_for(key), error);
      os << "not an object file";
    }
    auto jit = unwrap(JitModule::compile(*module, {}, options));
    CHECK_FALSE(jit->stats().cache_hit);
    CHECK(jit->cache_warning().find("not an entry of this compiler's cache") != std::string::npos);
    CHECK(run(*jit) == first);
  }
  {
    // One flipped byte inside a stored object: the content hash no longer matches, so the entry
    // is refused with a warning instead of being loaded (wrong output or a trap).
    Context ctx;
    auto module = ctx.parse(kElementwise);
    std::string path = ObjectCache(options.cache_dir).path_for(unwrap(cache_key(*module, {}, ObjectKind::Jit)));
    auto stored = llvm::MemoryBuffer::getFile(path);
    REQUIRE(stored);
    std::string bytes = (*stored)->getBuffer().str();
    bytes[bytes.size() - 100] ^= 0x40;
    {
      std::error_code error;
      llvm::raw_fd_ostream os(path, error);
      os << bytes;
    }
    auto jit = unwrap(JitModule::compile(*module, {}, options));
    CHECK_FALSE(jit->stats().cache_hit);
    CHECK(jit->cache_warning().find("does not match its hash") != std::string::npos);
    CHECK(run(*jit) == first);
  }
  {
    // Entries that are not regular files are refused at once: a FIFO (reading it would block)
    // and a symbolic link to /dev/zero (reading it would never end).
    Context ctx;
    auto module = ctx.parse(kElementwise);
    std::string path = ObjectCache(options.cache_dir).path_for(unwrap(cache_key(*module, {}, ObjectKind::Jit)));
    ::unlink(path.c_str());
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    std::string warning;
    CHECK(ObjectCache(options.cache_dir).lookup(unwrap(cache_key(*module, {}, ObjectKind::Jit)), &warning) == nullptr);
    CHECK(warning.find("not a regular file") != std::string::npos);
    ::unlink(path.c_str());  // llvm::sys::fs::remove refuses FIFOs
    REQUIRE(!llvm::sys::fs::create_link("/dev/zero", path));
    auto jit = unwrap(JitModule::compile(*module, {}, options));
    CHECK_FALSE(jit->stats().cache_hit);
    CHECK(jit->cache_warning().find("symbolic link") != std::string::npos);
    CHECK(run(*jit) == first);
  }
  {
    // The target CPU is part of the key.
    Context ctx;
    auto module = ctx.parse(kElementwise);
    CpuOptions v2, v3;
    v2.arch = "x86-64-v2";
    v3.arch = "x86-64-v3";
    CHECK(unwrap(cache_key(*module, v2, ObjectKind::Jit)) != unwrap(cache_key(*module, v3, ObjectKind::Jit)));
  }
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE("pipeline: description, hooks, optimization levels, targets, LLVM IR") {
  std::string pipeline = describe_pipeline({});
  for (const char* pass : {"one-shot-bufferize", "ownership-based-buffer-deallocation", "convert-linalg-to-loops",
                           "expand-strided-metadata", "finalize-memref-to-llvm", "convert-math-to-libm",
                           "convert-func-to-llvm", "reconcile-unrealized-casts"})
    CHECK_MESSAGE(pipeline.find(pass) != std::string::npos, pass);
  for (const char* option :
       {"bufferize-function-boundaries=true", "function-boundary-type-conversion=identity-layout-map",
        "allow-return-allocs-from-loops=true"})
    CHECK_MESSAGE(pipeline.find(option) != std::string::npos, option);

  // Hooks add passes where the performance work will go; they show in the description (and so
  // in the cache key).
  CpuOptions hooked;
  hooked.pre_bufferization = [](mlir::OpPassManager& pm) { pm.addPass(mlir::createCSEPass()); };
  hooked.post_bufferization = [](mlir::OpPassManager& pm) { pm.addPass(mlir::createLoopInvariantCodeMotionPass()); };
  std::string with_hooks = describe_pipeline(hooked);
  CHECK(with_hooks.find("cse") < with_hooks.find("one-shot-bufferize"));
  CHECK(with_hooks.find("loop-invariant-code-motion") > with_hooks.find("one-shot-bufferize"));

  std::vector<float> x = random_floats(8, 11), y = random_floats(8, 12);
  for (int level = 0; level <= 3; ++level) {
    for (const char* arch : {"native", "generic", "x86-64-v3"}) {
      Context ctx;
      CpuOptions options = level == 2 ? hooked : CpuOptions{};
      options.opt_level = level;
      options.arch = arch;
      auto jit = compile(ctx, kElementwise, options);
      auto results = call(*jit, "axpy",
                          {RtValue::from_f32(0.5f), RtValue::tensor_view(DType::F32, {8}, x.data()),
                           RtValue::tensor_view(DType::F32, {8}, y.data())});
      CHECK(results[0].at<float>({7}) == doctest::Approx(0.5f * x[7] + y[7]));
    }
  }
  CpuOptions bad_level;
  bad_level.opt_level = 4;
  Context ctx;
  CHECK(error_of(JitModule::compile(*ctx.parse(kElementwise), bad_level, no_cache())).find("0..3") !=
        std::string::npos);

  // --arch native picks up the host's vector extensions.
  TargetDescription native = unwrap(describe_target({}));
  __builtin_cpu_init();
  CHECK((native.features.find("+avx2") != std::string::npos) == bool(__builtin_cpu_supports("avx2")));
  CHECK((native.features.find("+fma") != std::string::npos) == bool(__builtin_cpu_supports("fma")));
  CpuOptions generic;
  generic.arch = "generic";
  CHECK(unwrap(describe_target(generic)).cpu == "x86-64");

  // The stages one at a time, as `tesserac emit --stage=llvm` runs them.
  auto module = ctx.parse(kElementwise);
  REQUIRE(mlir::succeeded(lower_to_llvm_dialect(*module, {})));
  llvm::LLVMContext llvm_context;
  std::unique_ptr<llvm::Module> llvm_module = translate_to_llvm_ir(*module, llvm_context);
  REQUIRE(llvm_module);
  CHECK(llvm_module->getFunction("_mlir_ciface_axpy") != nullptr);
  CHECK(llvm_module->getFunction("tanhf") != nullptr);
  auto machine = unwrap(create_target_machine({}));
  check_ok(optimize_llvm_module(*llvm_module, *machine, 3));
  auto object = unwrap(emit_object_code(*llvm_module, *machine));
  REQUIRE(object.size() > 4);
  CHECK(std::string(object.data(), 4) == "\177ELF");

  // The same as text, with the wrappers of each object kind.
  auto source = ctx.parse(kElementwise);
  std::string jit_ir = unwrap(emit_llvm_ir(*source, {}, ObjectKind::Jit));
  CHECK(jit_ir.find("define void @_tess_packed_axpy(ptr") != std::string::npos);
  CHECK(jit_ir.find("@tess_axpy") == std::string::npos);
  std::string aot_ir = unwrap(emit_llvm_ir(*source, {}, ObjectKind::Aot));
  CHECK(aot_ir.find(" i32 @tess_axpy(float") != std::string::npos);
  CHECK(aot_ir.find("target-cpu") != std::string::npos);
}

TEST_CASE("verbose lowering prints the IR after each pass; pass timing prints a report") {
  Context ctx;
  auto module = ctx.parse("func.func @f(%x: i64) -> i64 { return %x : i64 }");
  CpuOptions options;
  options.print_ir_after_all = true;
  options.pass_timing = true;
  // Both go to stderr; capture it in a file for the duration of the call.
  llvm::SmallString<128> path;
  int fd = -1;
  REQUIRE(!llvm::sys::fs::createTemporaryFile("tessera-stderr", "txt", fd, path));
  std::fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);
  bool ok = mlir::succeeded(lower_to_llvm_dialect(*module, options));
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  auto text = llvm::MemoryBuffer::getFile(path);
  llvm::sys::fs::remove(path);
  CHECK(ok);
  REQUIRE(text);
  llvm::StringRef log = (*text)->getBuffer();
  CHECK(log.contains("IR Dump After OneShotBufferize"));
  CHECK(log.contains("IR Dump After ReconcileUnrealizedCasts"));
  CHECK(log.contains("Execution time report"));
}

// A module of `count` entries f<i>(x) = tanh(x) * (i + 1) + exp(x) / (i + 2) on x: tensor<?xf32>,
// large enough (in LLVM instructions) to be compiled in several partitions.
std::string many_entries(int count) {
  std::string text = "#id = affine_map<(d0) -> (d0)>\n";
  for (int i = 0; i < count; ++i) {
    std::string n = std::to_string(i);
    text += "func.func @f" + n + "(%x: tensor<?xf32>) -> tensor<?xf32> {\n"
            "  %c0 = arith.constant 0 : index\n"
            "  %a = arith.constant " + std::to_string(i + 1) + ".0 : f32\n"
            "  %b = arith.constant " + std::to_string(i + 2) + ".0 : f32\n"
            "  %d = tensor.dim %x, %c0 : tensor<?xf32>\n"
            "  %e = tensor.empty(%d) : tensor<?xf32>\n"
            "  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = [\"parallel\"]}\n"
            "      ins(%x : tensor<?xf32>) outs(%e : tensor<?xf32>) {\n"
            "  ^bb0(%v: f32, %o: f32):\n"
            "    %t = math.tanh %v : f32\n"
            "    %m = arith.mulf %t, %a : f32\n"
            "    %ex = math.exp %v : f32\n"
            "    %q = arith.divf %ex, %b : f32\n"
            "    %s = arith.addf %m, %q : f32\n"
            "    linalg.yield %s : f32\n"
            "  } -> tensor<?xf32>\n"
            "  return %r : tensor<?xf32>\n"
            "}\n";
  }
  return text;
}

TEST_CASE("a large module is compiled in partitions on threads, linked from one archive, and cached") {
  const int kEntries = 96;
  std::string text = many_entries(kEntries);
  std::vector<float> x = random_floats(37, 21);
  auto check_values = [&](JitModule& jit) {
    for (int i : {0, 1, kEntries / 2, kEntries - 1}) {
      CAPTURE(i);
      std::string name = "f" + std::to_string(i);
      auto results = call(jit, name.c_str(), {RtValue::tensor_view(DType::F32, {37}, x.data())});
      for (int64_t k : {0, 17, 36}) {
        float v = x[static_cast<size_t>(k)];
        float expected = std::tanh(v) * float(i + 1) + std::exp(v) / float(i + 2);
        CHECK(results[0].at<float>({k}) == doctest::Approx(expected).epsilon(1e-5));
      }
    }
  };
  llvm::SmallString<128> dir;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("tessera-partition-test", dir));
  JitOptions options;
  options.cache_dir = dir.str().str();
  unsigned partitions = 0;
  {
    Context ctx;
    auto jit = compile(ctx, text, {}, options);
    CHECK_FALSE(jit->stats().cache_hit);
    partitions = jit->stats().partitions;
    CHECK(partitions >= 2);
    CHECK(jit->stats().compile_threads >= 1);
    CHECK(jit->stats().compile_threads <= partitions);
    check_values(*jit);
  }
  {
    // The partitions depend on the module only: the same split on any host.
    Context ctx;
    auto module = ctx.parse(text);
    CompiledObject a = unwrap(compile_to_object(*module, {}, ObjectKind::Jit));
    CompiledObject b = unwrap(compile_to_object(*module, {}, ObjectKind::Jit));
    CHECK(a.stats.partitions == partitions);
    CHECK(llvm::StringRef(a.object.data(), a.object.size()).starts_with("!<arch>\n"));
    CHECK(a.object == b.object);
    // `tesserac build --emit=obj` asks for one relocatable file.
    CompiledObject aot = unwrap(compile_to_object(*module, {}, ObjectKind::Aot, Partitions::One));
    CHECK(aot.stats.partitions == 1);
    CHECK_FALSE(llvm::StringRef(aot.object.data(), aot.object.size()).starts_with("!<arch>"));
  }
  {
    // The cached archive is loaded as it was stored.
    Context ctx;
    auto jit = compile(ctx, text, {}, options);
    CHECK(jit->stats().cache_hit);
    check_values(*jit);
  }
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE("compile time of a small module and of a transformer-block-sized module") {
  Context ctx;
  {
    auto jit = compile(ctx, kElementwise);
    const CompileStats& s = jit->stats();
    MESSAGE("small module (3 entries): total " << s.total_ms() << " ms = pipeline " << s.mlir_pipeline_ms
                                               << " + translate " << s.translate_ms << " + opt " << s.llvm_opt_ms
                                               << " + codegen " << s.codegen_ms << " + link " << s.jit_link_ms);
    CHECK(s.total_ms() > 0);
  }
  // One transformer block on [S, D] = [?, 64] with 4 heads folded into plain matmuls: layer norm,
  // QKV projections, scores, softmax, attention, output projection, residual, MLP with GELU
  // (tanh form), residual. Sizes of the weights are static; the sequence length is dynamic.
  std::string block = R"mlir(
#id2 = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
#col = affine_map<(i, j) -> (j)>
func.func private @layer_norm(%x: tensor<?x64xf32>, %g: tensor<64xf32>) -> tensor<?x64xf32> {
  %c0 = arith.constant 0 : index
  %s = tensor.dim %x, %c0 : tensor<?x64xf32>
  %zero = arith.constant 0.0 : f32
  %n = arith.constant 64.0 : f32
  %eps = arith.constant 1.0e-5 : f32
  %e1 = tensor.empty(%s) : tensor<?xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<?xf32>) -> tensor<?xf32>
  %sum = linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<?x64xf32>) outs(%z1 : tensor<?xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %a = arith.addf %v, %acc : f32
    linalg.yield %a : f32
  } -> tensor<?xf32>
  %sq = linalg.generic {indexing_maps = [#id2, #row, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x, %sum : tensor<?x64xf32>, tensor<?xf32>) outs(%z1 : tensor<?xf32>) {
  ^bb0(%v: f32, %sm: f32, %acc: f32):
    %mean = arith.divf %sm, %n : f32
    %d = arith.subf %v, %mean : f32
    %d2 = arith.mulf %d, %d : f32
    %a = arith.addf %d2, %acc : f32
    linalg.yield %a : f32
  } -> tensor<?xf32>
  %e2 = tensor.empty(%s) : tensor<?x64xf32>
  %y = linalg.generic {indexing_maps = [#id2, #row, #row, #col, #id2],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x, %sum, %sq, %g : tensor<?x64xf32>, tensor<?xf32>, tensor<?xf32>, tensor<64xf32>)
      outs(%e2 : tensor<?x64xf32>) {
  ^bb0(%v: f32, %sm: f32, %q: f32, %gv: f32, %o: f32):
    %mean = arith.divf %sm, %n : f32
    %var = arith.divf %q, %n : f32
    %ve = arith.addf %var, %eps : f32
    %r = math.rsqrt %ve : f32
    %d = arith.subf %v, %mean : f32
    %nd = arith.mulf %d, %r : f32
    %out = arith.mulf %nd, %gv : f32
    linalg.yield %out : f32
  } -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
func.func private @proj(%x: tensor<?x64xf32>, %w: tensor<64x64xf32>) -> tensor<?x64xf32> {
  %c0 = arith.constant 0 : index
  %s = tensor.dim %x, %c0 : tensor<?x64xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty(%s) : tensor<?x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x64xf32>) -> tensor<?x64xf32>
  %r = linalg.matmul ins(%x, %w : tensor<?x64xf32>, tensor<64x64xf32>) outs(%f : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}
func.func private @softmax_rows(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %m = tensor.dim %x, %c0 : tensor<?x?xf32>
  %n = tensor.dim %x, %c1 : tensor<?x?xf32>
  %lowest = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty(%m) : tensor<?xf32>
  %l1 = linalg.fill ins(%lowest : f32) outs(%e1 : tensor<?xf32>) -> tensor<?xf32>
  %max = linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<?x?xf32>) outs(%l1 : tensor<?xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %a = arith.maximumf %v, %acc : f32
    linalg.yield %a : f32
  } -> tensor<?xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<?xf32>) -> tensor<?xf32>
  %sum = linalg.generic {indexing_maps = [#id2, #row, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x, %max : tensor<?x?xf32>, tensor<?xf32>) outs(%z1 : tensor<?xf32>) {
  ^bb0(%v: f32, %mx: f32, %acc: f32):
    %d = arith.subf %v, %mx : f32
    %ex = math.exp %d : f32
    %a = arith.addf %ex, %acc : f32
    linalg.yield %a : f32
  } -> tensor<?xf32>
  %e2 = tensor.empty(%m, %n) : tensor<?x?xf32>
  %y = linalg.generic {indexing_maps = [#id2, #row, #row, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x, %max, %sum : tensor<?x?xf32>, tensor<?xf32>, tensor<?xf32>) outs(%e2 : tensor<?x?xf32>) {
  ^bb0(%v: f32, %mx: f32, %sm: f32, %o: f32):
    %d = arith.subf %v, %mx : f32
    %ex = math.exp %d : f32
    %r = arith.divf %ex, %sm : f32
    linalg.yield %r : f32
  } -> tensor<?x?xf32>
  return %y : tensor<?x?xf32>
}
func.func @block(%x: tensor<?x64xf32>, %g1: tensor<64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<64x64xf32>,
                 %wv: tensor<64x64xf32>, %wo: tensor<64x64xf32>, %g2: tensor<64xf32>, %w1: tensor<64x64xf32>,
                 %w2: tensor<64x64xf32>) -> tensor<?x64xf32> {
  %c0 = arith.constant 0 : index
  %s = tensor.dim %x, %c0 : tensor<?x64xf32>
  %zero = arith.constant 0.0 : f32
  %h = call @layer_norm(%x, %g1) : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %q = call @proj(%h, %wq) : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %k = call @proj(%h, %wk) : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %v = call @proj(%h, %wv) : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %ek = tensor.empty(%s) : tensor<64x?xf32>
  %kt = linalg.transpose ins(%k : tensor<?x64xf32>) outs(%ek : tensor<64x?xf32>) permutation = [1, 0]
  %es = tensor.empty(%s, %s) : tensor<?x?xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<?x?xf32>) -> tensor<?x?xf32>
  %scores = linalg.matmul ins(%q, %kt : tensor<?x64xf32>, tensor<64x?xf32>) outs(%fs : tensor<?x?xf32>) -> tensor<?x?xf32>
  %p = call @softmax_rows(%scores) : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %ea = tensor.empty(%s) : tensor<?x64xf32>
  %fa = linalg.fill ins(%zero : f32) outs(%ea : tensor<?x64xf32>) -> tensor<?x64xf32>
  %att = linalg.matmul ins(%p, %v : tensor<?x?xf32>, tensor<?x64xf32>) outs(%fa : tensor<?x64xf32>) -> tensor<?x64xf32>
  %o = call @proj(%att, %wo) : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %r1 = linalg.add ins(%x, %o : tensor<?x64xf32>, tensor<?x64xf32>) outs(%ea : tensor<?x64xf32>) -> tensor<?x64xf32>
  %h2 = call @layer_norm(%r1, %g2) : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %u = call @proj(%h2, %w1) : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %c = arith.constant 0.7978845608 : f32
  %c3 = arith.constant 0.044715 : f32
  %half = arith.constant 0.5 : f32
  %one = arith.constant 1.0 : f32
  %eg = tensor.empty(%s) : tensor<?x64xf32>
  %gelu = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%u : tensor<?x64xf32>) outs(%eg : tensor<?x64xf32>) {
  ^bb0(%a: f32, %out: f32):
    %a2 = arith.mulf %a, %a : f32
    %a3 = arith.mulf %a2, %a : f32
    %t0 = arith.mulf %a3, %c3 : f32
    %t1 = arith.addf %a, %t0 : f32
    %t2 = arith.mulf %t1, %c : f32
    %th = math.tanh %t2 : f32
    %t3 = arith.addf %th, %one : f32
    %t4 = arith.mulf %a, %t3 : f32
    %t5 = arith.mulf %t4, %half : f32
    linalg.yield %t5 : f32
  } -> tensor<?x64xf32>
  %d = call @proj(%gelu, %w2) : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %er = tensor.empty(%s) : tensor<?x64xf32>
  %r2 = linalg.add ins(%r1, %d : tensor<?x64xf32>, tensor<?x64xf32>) outs(%er : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %r2 : tensor<?x64xf32>
}
)mlir";
  auto jit = compile(ctx, block);
  const CompileStats& s = jit->stats();
  MESSAGE("transformer block: total " << s.total_ms() << " ms = pipeline " << s.mlir_pipeline_ms << " + translate "
                                      << s.translate_ms << " + opt " << s.llvm_opt_ms << " + codegen " << s.codegen_ms
                                      << " + link " << s.jit_link_ms << "; object " << s.object_bytes << " bytes");
  // It runs, and the residual path keeps the output finite.
  int64_t seq = 5;
  std::vector<float> x = random_floats(seq * 64, 13), g(64, 1.0f);
  std::vector<std::vector<float>> w;
  for (unsigned i = 0; i < 6; ++i) {
    w.push_back(random_floats(64 * 64, 20 + i));
    for (float& v : w.back()) v *= 0.1f;
  }
  auto view = [](std::vector<float>& data, std::vector<int64_t> shape) {
    return RtValue::tensor_view(DType::F32, std::move(shape), data.data());
  };
  auto results =
      call(*jit, "block",
           {view(x, {seq, 64}), view(g, {64}), view(w[0], {64, 64}), view(w[1], {64, 64}), view(w[2], {64, 64}),
            view(w[3], {64, 64}), view(g, {64}), view(w[4], {64, 64}), view(w[5], {64, 64})});
  REQUIRE(results[0].shape == std::vector<int64_t>{seq, 64});
  bool finite = true;
  for (int64_t i = 0; i < seq; ++i)
    for (int64_t j = 0; j < 64; ++j) finite = finite && std::isfinite(results[0].at<float>({i, j}));
  CHECK(finite);
}

namespace {

// Every conversion between the float dtypes and to and from the integer ones, elementwise over
// dynamic tensors (vectorized where the CPU allows, with a scalar remainder loop).
std::string conversions_module() {
  const char* floats[] = {"bf16", "f16", "f32", "f64"};
  const char* ints[] = {"i8", "i32", "i64"};
  std::string text = "#id = affine_map<(d0) -> (d0)>\n";
  int n = 0;
  auto unary = [&](const std::string& from, const std::string& to, const std::string& op) {
    std::string name = "conv" + std::to_string(n++);
    text += "func.func @" + name + "(%x: tensor<?x" + from + ">) -> tensor<?x" + to + "> {\n  %c0 = arith.constant 0 : index\n  %d = tensor.dim %x, %c0 : tensor<?x" + from +
            ">\n  %e = tensor.empty(%d) : tensor<?x" + to +
            ">\n  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = [\"parallel\"]}\n      ins(%x : "
            "tensor<?x" + from + ">) outs(%e : tensor<?x" + to + ">) {\n  ^bb0(%v: " + from + ", %o: " + to +
            "):\n    %c = " + op + " %v : " + from + " to " + to + "\n    linalg.yield %c : " + to + "\n  } -> tensor<?x" +
            to + ">\n  return %r : tensor<?x" + to + ">\n}\n";
  };
  auto width = [](const std::string& t) { return t == "f64" ? 64 : t == "f32" ? 32 : 16; };
  for (const char* a : floats)
    for (const char* b : floats) {
      if (std::string(a) == b || (std::string(a) == "bf16" && std::string(b) == "f16") ||
          (std::string(a) == "f16" && std::string(b) == "bf16"))
        continue;
      unary(a, b, width(a) > width(b) ? "arith.truncf" : "arith.extf");
    }
  for (const char* f : floats)
    for (const char* i : ints) {
      unary(f, i, "arith.fptosi");
      unary(i, f, "arith.sitofp");
    }
  return text;
}

}  // namespace

TEST_CASE("every helper that generated code calls is one the JIT and the AOT linker provide, on every x86-64 level") {
  // LLVM turns a conversion the CPU has no instruction for into a call (__truncsfbf2 without
  // AVX512-BF16, __extendhfsf2 without F16C): such a call must be one of the runtime's float
  // builtins (runtime/include/tessera/float_builtins.def) or a C library function.
  std::set<std::string> provided = {
#define TESS_FLOAT_BUILTIN(name) #name,
#include "runtime/include/tessera/float_builtins.def"
#undef TESS_FLOAT_BUILTIN
  };
  for (std::string cpu : {"native", "x86-64-v4", "x86-64-v3", "x86-64-v2", "x86-64", "znver4", "sapphirerapids"}) {
    CAPTURE(cpu);
    Context ctx;
    auto module = ctx.parse(conversions_module());
    REQUIRE(module);
    CpuOptions options;
    options.arch = cpu;
    CompiledObject compiled = unwrap(compile_to_object(*module, options, ObjectKind::Jit));
    auto object = llvm::object::ObjectFile::createObjectFile(
        llvm::MemoryBufferRef(llvm::StringRef(compiled.object.data(), compiled.object.size()), "conversions"));
    REQUIRE(object);
    for (const llvm::object::SymbolRef& symbol : (*object)->symbols()) {
      auto flags = symbol.getFlags();
      auto name = symbol.getName();
      REQUIRE(flags);
      REQUIRE(name);
      if (!(*flags & llvm::object::SymbolRef::SF_Undefined) || name->empty()) continue;
      bool ok = provided.count(name->str()) || name->starts_with("tess") ||
                (!name->starts_with("__") && dlsym(RTLD_DEFAULT, name->str().c_str()) != nullptr);
      if (!ok) FAIL("compiled code for " << cpu << " calls " << name->str() << ", which nothing provides");
    }
  }
}
