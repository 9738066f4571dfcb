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

// The runtime that every library with entry points links (their C wrappers call it).
AotOptions with_runtime() {
  AotOptions aot;
  aot.runtime_library = TESSERA_RUNTIME_LIBRARY;
  return aot;
}

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
  check_ok(emit_shared_library(*module, dir.file("libaot_module.so"), {}, with_runtime()));
  check_ok(emit_c_header(*module, dir.file("aot_module.h")));

  std::string output;
  std::vector<std::string> cc = {TESSERA_C_COMPILER, "-std=c11", "-Wall", "-Wextra", "-Werror", "-I",
                                 dir.path.str().str(), TESSERA_CODEGEN_TESTDATA "/aot_main.c", "-o", dir.file("aot_main"),
                                 dir.file("libaot_module.so"), "-Wl,-rpath," + dir.path.str().str(), "-lm"};
  // A sanitized build's runtime needs the sanitizers' runtimes in the program that loads it.
  llvm::SmallVector<llvm::StringRef> sanitize;
  llvm::StringRef(TESSERA_C_SANITIZE_FLAGS).split(sanitize, ' ', -1, false);
  for (llvm::StringRef f : sanitize) cc.push_back(f.str());
  int status = run(cc, output, dir);
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

TEST_CASE("aot: objects, and the runtime library copied next to the library, found through $ORIGIN") {
  Context ctx;
  TempDir dir;
  auto module = ctx.parse(kAotModule);
  check_ok(emit_object(*module, dir.file("plain.o")));
  auto object = llvm::MemoryBuffer::getFile(dir.file("plain.o"));
  REQUIRE(object);
  CHECK((*object)->getBuffer().starts_with("\177ELF"));

  // The C entry points report errors through the runtime: a library needs it.
  CHECK(error_of(emit_shared_library(*module, dir.file("libplain.so"))).find("no runtime library was given") !=
        std::string::npos);

  const char* calls_runtime = R"mlir(
func.func private @tessDTypeSize(i32) -> i64
func.func @use_runtime(%x: i32) -> i64 {
  %y = call @tessDTypeSize(%x) : (i32) -> i64
  return %y : i64
}
)mlir";
  auto uses = ctx.parse(calls_runtime);
  std::string built = dir.file("built");
  REQUIRE(!llvm::sys::fs::create_directory(built));
  check_ok(emit_shared_library(*uses, built + "/libuses.so", {}, with_runtime()));
  // The runtime is next to it under its soname, with a libtessera_rt.so link for -ltessera_rt.
  CHECK(llvm::sys::fs::exists(built + "/libtessera_rt.so.0"));
  CHECK(llvm::sys::fs::exists(built + "/libtessera_rt.so"));
  auto library_bytes = llvm::MemoryBuffer::getFile(built + "/libuses.so");
  REQUIRE(library_bytes);
  CHECK((*library_bytes)->getBuffer().contains("$ORIGIN"));
  llvm::SmallString<256> runtime_dir(TESSERA_RUNTIME_LIBRARY);
  llvm::sys::path::remove_filename(runtime_dir);
  CHECK(!(*library_bytes)->getBuffer().contains(runtime_dir.str()));

  // Moved together to another folder, the library still finds its runtime.
  std::string moved = dir.file("moved");
  REQUIRE(!llvm::sys::fs::create_directory(moved));
  REQUIRE(!llvm::sys::fs::rename(built + "/libuses.so", moved + "/libuses.so"));
  REQUIRE(!llvm::sys::fs::rename(built + "/libtessera_rt.so.0", moved + "/libtessera_rt.so.0"));
  void* library = dlopen((moved + "/libuses.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  INFO((library ? "" : dlerror()));
  REQUIRE(library != nullptr);
  auto entry = reinterpret_cast<int32_t (*)(int32_t, int64_t*)>(dlsym(library, "tess_use_runtime"));
  REQUIRE(reinterpret_cast<void*>(entry) != nullptr);
  int64_t result = 0;
  CHECK(entry(1, &result) == 0);  // tessDTypeSize(TESS_F64)
  CHECK(result == 8);
  dlclose(library);
}

TEST_CASE("aot: run-time errors inside a library are statuses with messages, and the library goes on") {
  // A size from the caller: negative, with a byte count that overflows, or too large to
  // allocate; the library returns a status each time and then works again.
  const char* square = R"mlir(
func.func @square(%n: i64) -> tensor<?x?xf32> {
  %i = arith.index_cast %n : i64 to index
  %e = tensor.empty(%i, %i) : tensor<?x?xf32>
  %z = arith.constant 1.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x?xf32>) -> tensor<?x?xf32>
  return %f : tensor<?x?xf32>
}
)mlir";
  Context ctx;
  TempDir dir;
  auto module = ctx.parse(square);
  check_ok(emit_shared_library(*module, dir.file("libsquare.so"), {}, with_runtime()));
  void* library = dlopen(dir.file("libsquare.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  INFO((library ? "" : dlerror()));
  REQUIRE(library != nullptr);
  // View layout of the generated header: data, rank, shape[8], strides[8], allocated.
  struct View {
    void* data;
    int64_t rank;
    int64_t shape[8];
    int64_t strides[8];
    void* allocated;
  };
  auto call = reinterpret_cast<int32_t (*)(int64_t, View*)>(dlsym(library, "tess_square"));
  auto message = reinterpret_cast<const char* (*)()>(dlsym(library, "tessGetLastErrorMessage"));
  REQUIRE(reinterpret_cast<void*>(call) != nullptr);
  REQUIRE(reinterpret_cast<void*>(message) != nullptr);
  View out{};
  const std::string size_error =
      "runtime error: cannot allocate a tensor of this shape: a size is negative, or its byte count overflows "
      "int64_t\n  --> -:4:8";  // the location of tensor.empty in the module text
  for (int round = 0; round < 2; ++round) {
    CHECK(call(int64_t{1} << 32, &out) == -11);
    CHECK(std::string(message()) == size_error);
    CHECK(call(-3, &out) == -11);
    CHECK(std::string(message()) == size_error);
    CHECK(call(int64_t{1} << 30, &out) == -2);  // 2^62 bytes: a valid size, but no memory for it
    CHECK(std::string(message()).rfind("runtime error: out of memory: cannot allocate ", 0) == 0);
    CHECK(call(3, &out) == 0);
    CHECK(std::string(message()).empty());
    CHECK((out.shape[0] == 3 && out.shape[1] == 3));
    CHECK(static_cast<float*>(out.data)[8] == 1.0f);
    free(out.allocated);
  }
  dlclose(library);
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
  check_ok(emit_shared_library(*module, dir.file("libstep.so"), {}, with_runtime()));
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

TEST_CASE("aot: a big module is compiled in partitions, linked whole, and exports its C entry points only") {
  // 300 entries f<i>(x) = x * (i + 1) + x * x / (i + 2), each calling a private helper: enough
  // LLVM IR for several partitions, with calls across them.
  std::string text = "func.func private @sq(%x: f64) -> f64 {\n  %y = arith.mulf %x, %x : f64\n  return %y : f64\n}\n";
  const int kEntries = 300;
  for (int i = 0; i < kEntries; ++i) {
    std::string n = std::to_string(i);
    text += "func.func @f" + n + "(%x: f64) -> f64 {\n" + "  %a = arith.constant " + std::to_string(i + 1) +
            ".0 : f64\n" + "  %b = arith.constant " + std::to_string(i + 2) + ".0 : f64\n" +
            "  %s = call @sq(%x) : (f64) -> f64\n  %m = arith.mulf %x, %a : f64\n  %q = arith.divf %s, %b : f64\n" +
            "  %r = arith.addf %m, %q : f64\n  return %r : f64\n}\n";
  }
  Context ctx;
  TempDir dir;
  auto module = ctx.parse(text);
  REQUIRE(module);
  CompiledObject split = unwrap(compile_to_object(*module, {}, ObjectKind::Aot, Partitions::ByModule));
  CHECK(split.stats.partitions >= 2);
  CompiledObject one = unwrap(compile_to_object(*module, {}, ObjectKind::Aot, Partitions::One));
  CHECK(one.stats.partitions == 1);
  check_ok(emit_shared_library(*module, dir.file("libmany.so"), {}, with_runtime()));
  void* library = dlopen(dir.file("libmany.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  INFO((library ? "" : dlerror()));
  REQUIRE(library != nullptr);
  for (int i : {0, 1, kEntries / 2, kEntries - 1}) {
    CAPTURE(i);
    std::string name = "tess_f" + std::to_string(i);
    auto f = reinterpret_cast<int32_t (*)(double, double*)>(dlsym(library, name.c_str()));
    REQUIRE(reinterpret_cast<void*>(f) != nullptr);
    double result = 0;
    CHECK(f(1.5, &result) == 0);
    CHECK(result == doctest::Approx(1.5 * (i + 1) + 2.25 / (i + 2)));
  }
  // Functions made hidden to cross partitions are not exported.
  CHECK(dlsym(library, "sq") == nullptr);
  CHECK(dlsym(library, "f7") == nullptr);
  CHECK(dlsym(library, "_mlir_ciface_f7") == nullptr);
  dlclose(library);
}
