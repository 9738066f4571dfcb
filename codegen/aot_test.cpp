// Unit tests of ahead-of-time output: objects, shared libraries, and a C program built against
// the generated header and library with the C compiler.
#include <dlfcn.h>

#include <string>
#include <vector>

#include "codegen/cpu/aot.h"
#include "codegen/test_util.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

using namespace tessera::codegen;
using tessera::codegen::testing::check_ok;
using tessera::codegen::testing::Context;
using tessera::codegen::testing::error_of;
using tessera::codegen::testing::unwrap;

namespace {

const char* kAotModule = R"mlir(
#id = affine_map<(i) -> (i)>
#id2 = affine_map<(i, j) -> (i, j)>
func.func @scale(%x: tensor<?x3xf32>, %k: f32) -> tensor<?x3xf32> {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %x, %c0 : tensor<?x3xf32>
  %e = tensor.empty(%d) : tensor<?x3xf32>
  %r = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<?x3xf32>) outs(%e : tensor<?x3xf32>) {
  ^bb0(%v: f32, %o: f32):
    %s = arith.mulf %v, %k : f32
    linalg.yield %s : f32
  } -> tensor<?x3xf32>
  return %r : tensor<?x3xf32>
}
func.func @dot(%a: tensor<4xf64>, %b: tensor<4xf64>) -> f64 {
  %z = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<f64>
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<f64>) -> tensor<f64>
  %r = linalg.dot ins(%a, %b : tensor<4xf64>, tensor<4xf64>) outs(%f : tensor<f64>) -> tensor<f64>
  %v = tensor.extract %r[] : tensor<f64>
  return %v : f64
}
func.func @stats(%x: tensor<?xf64>, %flag: i1) -> (f64, i64, i1, tensor<?xf64>) {
  %c0 = arith.constant 0 : index
  %true = arith.constant true
  %z = arith.constant 0.0 : f64
  %two = arith.constant 2.0 : f64
  %n = tensor.dim %x, %c0 : tensor<?xf64>
  %e = tensor.empty() : tensor<f64>
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<f64>) -> tensor<f64>
  %r = linalg.reduce ins(%x : tensor<?xf64>) outs(%f : tensor<f64>) dimensions = [0]
    (%in: f64, %acc: f64) {
      %s = arith.addf %in, %acc : f64
      linalg.yield %s : f64
    }
  %sum = tensor.extract %r[] : tensor<f64>
  %count = arith.index_cast %n : index to i64
  %flipped = arith.xori %flag, %true : i1
  %ed = tensor.empty(%n) : tensor<?xf64>
  %d = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<?xf64>) outs(%ed : tensor<?xf64>) {
  ^bb0(%v: f64, %o: f64):
    %s = arith.mulf %v, %two : f64
    linalg.yield %s : f64
  } -> tensor<?xf64>
  return %sum, %count, %flipped, %d : f64, i64, i1, tensor<?xf64>
}
func.func @axpy(%y: tensor<4xf32> {tessera.donated}, %x: tensor<4xf32>) -> tensor<4xf32> {
  %two = arith.constant 2.0 : f32
  %r = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%y, %x : tensor<4xf32>, tensor<4xf32>) outs(%y : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %b, %two : f32
    %s = arith.addf %a, %m : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}
)mlir";

struct TempDir {
  llvm::SmallString<128> path;
  TempDir() { REQUIRE(!llvm::sys::fs::createUniqueDirectory("tessera-aot-test", path)); }
  ~TempDir() { llvm::sys::fs::remove_directories(path); }
  std::string file(const char* name) const { return (path + "/" + name).str(); }
};

// Runs a program, returning its exit status and what it printed (stdout and stderr).
int run(const std::vector<std::string>& argv, std::string& output, const TempDir& dir) {
  std::string log = dir.file("run.log");
  std::vector<llvm::StringRef> refs(argv.begin(), argv.end());
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(log), llvm::StringRef(log)};
  std::string error;
  int status = llvm::sys::ExecuteAndWait(argv[0], refs, std::nullopt, redirects, 60, 0, &error);
  output = error;
  if (auto buffer = llvm::MemoryBuffer::getFile(log)) output += (*buffer)->getBuffer().str();
  return status;
}

}  // namespace

TEST_CASE("aot: a C program built against the generated header and shared library") {
  Context ctx;
  TempDir dir;
  auto module = ctx.parse(kAotModule);
  check_ok(emit_shared_library(*module, dir.file("libaot_module.so")));
  check_ok(emit_c_header(*module, dir.file("aot_module.h")));

  std::string output;
  int status = run({TESSERA_C_COMPILER, "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", dir.path.str().str(),
                    TESSERA_CODEGEN_TESTDATA "/aot_main.c", "-o", dir.file("aot_main"), dir.file("libaot_module.so"),
                    "-Wl,-rpath," + dir.path.str().str(), "-lm"},
                   output, dir);
  INFO(output);
  REQUIRE(status == 0);
  status = run({dir.file("aot_main")}, output, dir);
  INFO(output);
  CHECK(status == 0);
  CHECK(output.find("aot ok") != std::string::npos);
}

TEST_CASE("aot: the C header declares one tess_<name> per entry with plain C types") {
  Context ctx;
  auto module = ctx.parse(kAotModule);
  std::string header = unwrap(c_header_text(*module, "demo"));
  CHECK(header.find("#ifndef TESS_DEMO_H_") != std::string::npos);
  CHECK(header.find("typedef struct tessTensorView {") != std::string::npos);
  CHECK(header.find("int32_t tess_scale(const tessTensorView* arg0, float arg1, tessTensorView* result0);") !=
        std::string::npos);
  CHECK(header.find("int32_t tess_dot(const tessTensorView* arg0, const tessTensorView* arg1, double* result0);") !=
        std::string::npos);
  CHECK(header.find("int32_t tess_stats(const tessTensorView* arg0, bool arg1, double* result0, int64_t* result1, "
                    "bool* result2, tessTensorView* result3);") != std::string::npos);
  CHECK(header.find("/* stats(arg0: tensor<?xf64>, arg1: i1) -> (f64, i64, i1, tensor<?xf64>) */") !=
        std::string::npos);
  CHECK(header.find("/* axpy(arg0: tensor<4xf32> (donated), arg1: tensor<4xf32>) -> (tensor<4xf32>) */") !=
        std::string::npos);

  auto high_rank = ctx.parse("func.func @f(%x: tensor<1x1x1x1x1x1x1x1x1xf32>) { return }");
  CHECK(error_of(c_header_text(*high_rank, "x")).find("at most 8") != std::string::npos);
}

TEST_CASE("aot: objects, and the runtime library linked only when the module calls it") {
  Context ctx;
  TempDir dir;
  auto module = ctx.parse(kAotModule);
  check_ok(emit_object(*module, dir.file("plain.o")));
  auto object = llvm::MemoryBuffer::getFile(dir.file("plain.o"));
  REQUIRE(object);
  CHECK((*object)->getBuffer().starts_with("\177ELF"));

  const char* calls_runtime = R"mlir(
func.func private @tess_fake_twice(f64) -> f64
func.func @use_runtime(%x: f64) -> f64 {
  %y = call @tess_fake_twice(%x) : (f64) -> f64
  return %y : f64
}
)mlir";
  auto uses = ctx.parse(calls_runtime);
  CHECK(error_of(emit_shared_library(*uses, dir.file("libuses.so"))).find("no runtime library was given") !=
        std::string::npos);

  // A stand-in runtime in a directory of its own: the library finds it through its rpath.
  std::string rt_dir = dir.file("rt");
  REQUIRE(!llvm::sys::fs::create_directory(rt_dir));
  std::string output;
  REQUIRE(run({TESSERA_C_COMPILER, "-shared", "-fPIC", TESSERA_CODEGEN_TESTDATA "/fake_runtime.c", "-o",
               rt_dir + "/libfake_rt.so"},
              output, dir) == 0);
  AotOptions aot;
  aot.runtime_library = rt_dir + "/libfake_rt.so";
  check_ok(emit_shared_library(*uses, dir.file("libuses.so"), {}, aot));
  void* library = dlopen(dir.file("libuses.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  INFO((library ? "" : dlerror()));
  REQUIRE(library != nullptr);
  auto entry = reinterpret_cast<int32_t (*)(double, double*)>(dlsym(library, "tess_use_runtime"));
  REQUIRE(reinterpret_cast<void*>(entry) != nullptr);
  double result = 0;
  CHECK(entry(1.25, &result) == 0);
  CHECK(result == 2.5);
  dlclose(library);

  // A module without runtime calls links without one.
  check_ok(emit_shared_library(*module, dir.file("libplain.so")));
}

TEST_CASE("aot: a shared library exports its C entry points only") {
  // A function named like a C library one (glibc's regexp `step`): exported with default
  // visibility, the library's own call of it could bind to libc's.
  const char* named_like_libc = R"mlir(
func.func @step(%x: f64) -> f64 {
  %y = arith.mulf %x, %x : f64
  return %y : f64
}
func.func @use(%x: f64) -> f64 {
  %y = call @step(%x) : (f64) -> f64
  %z = arith.addf %y, %x : f64
  return %z : f64
}
)mlir";
  Context ctx;
  TempDir dir;
  auto module = ctx.parse(named_like_libc);
  check_ok(emit_shared_library(*module, dir.file("libstep.so")));
  void* library = dlopen(dir.file("libstep.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  INFO((library ? "" : dlerror()));
  REQUIRE(library != nullptr);
  auto use = reinterpret_cast<int32_t (*)(double, double*)>(dlsym(library, "tess_use"));
  auto step = reinterpret_cast<int32_t (*)(double, double*)>(dlsym(library, "tess_step"));
  REQUIRE(reinterpret_cast<void*>(use) != nullptr);
  REQUIRE(reinterpret_cast<void*>(step) != nullptr);
  double result = 0;
  CHECK(use(3.0, &result) == 0);
  CHECK(result == 12.0);
  CHECK(step(3.0, &result) == 0);
  CHECK(result == 9.0);
  // The generated functions behind the entry points are not exported.
  CHECK(dlsym(library, "_mlir_ciface_step") == nullptr);
  CHECK(dlsym(library, "_mlir_ciface_use") == nullptr);
  CHECK(dlsym(library, "use") == nullptr);
  dlclose(library);
}
