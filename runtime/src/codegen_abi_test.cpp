#include "tessera/codegen_abi.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

TEST_CASE("codegen_abi: a strided random fill gives the contiguous fill's values") {
  std::vector<float> contiguous(8), strided(24, -7.0f);
  tessFillRandom_f32(42, 3, 1, contiguous.data(), contiguous.data(), 0, 8, 1);
  tessFillRandom_f32(42, 3, 1, strided.data(), strided.data(), 1, 8, 3);
  for (int i = 0; i < 8; ++i) {
    CHECK(strided[1 + 3 * i] == contiguous[i]);
    CHECK(strided[3 * i] == -7.0f);  // untouched between the elements
  }
  std::vector<float> expect(8);
  tessRandNormalF32(42, 3, 8, expect.data());
  CHECK(std::memcmp(expect.data(), contiguous.data(), sizeof(float) * 8) == 0);
  std::vector<double> u(5);
  tessFillRandom_f64(1, 0, 0, u.data(), u.data(), 0, 5, 1);
  for (double v : u) CHECK((v >= 0.0 && v < 1.0));
}

TEST_CASE("codegen_abi: the symbol table names every entry point by its address") {
  size_t n = 0;
  const tessSymbol* table = tessCodegenSymbols(&n);
  REQUIRE(n == 97);  // ..., tessBufferAlloc/Free, the 24 entries of inference (tessInfer*, tessPosterior*), cholesky, triangular solve, tessSampleFamily_f64
  bool found = false;
  for (size_t i = 0; i < n; ++i)
    if (std::strcmp(table[i].name, "tessFillRandom_f32") == 0) found = table[i].address == reinterpret_cast<void*>(&tessFillRandom_f32);
  CHECK(found);
  // The parallel-loop lowering (ir/tile) calls tessParallelFor from compiled code.
  bool parallel_for = false;
  for (size_t i = 0; i < n; ++i)
    if (std::strcmp(table[i].name, "tessParallelFor") == 0)
      parallel_for = table[i].address == reinterpret_cast<void*>(&tessParallelFor);
  CHECK(parallel_for);
  size_t builtins = 0;
  tessFloatBuiltinSymbols(&builtins);
  CHECK(builtins > 0);
  CHECK(tessCodegenSymbolList().size() == n + builtins);
}

namespace {

std::vector<std::string> failures;
void record(const char* message) { failures.emplace_back(message); }

// A ranked descriptor of rank 1 or 2 over `data`, row-major: what an unranked memref points to.
template <class T>
struct Desc {
  T* allocated;
  T* aligned;
  int64_t offset;
  int64_t sizes_strides[4];
};

}  // namespace

TEST_CASE("codegen_abi: a load that fails calls the error handler, which may let the program go on with zeros") {
  failures.clear();
  tessCodegenSetErrorHandler(record);
  const char path[] = "/nonexistent/dir/w.npy";
  int64_t shape[2] = {2, -1};
  int64_t h = tessNpyLoadOpen(path, path, 0, sizeof(path) - 1, 1, TESS_F32, shape, shape, 0, 2, 1);
  REQUIRE(failures.size() == 1);
  CHECK(failures[0].find("runtime error: cannot load /nonexistent/dir/w.npy") == 0);
  CHECK(tessNpyLoadDim(h, 0) == 2);
  CHECK(tessNpyLoadDim(h, 1) == 0);  // not declared: empty
  std::vector<float> buf(4, 5.0f);
  Desc<float> d{buf.data(), buf.data(), 0, {2, 2, 2, 1}};
  tessNpyLoadFinish_f32(h, 2, &d);
  for (float v : buf) CHECK(v == 0.0f);
  tessCodegenSetErrorHandler(nullptr);
}

TEST_CASE("codegen_abi: staged .npz members are written as one archive on commit, in order") {
  std::string path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/tess_abi_stage.npz";
  std::vector<float> w = {1, 2, 3, 4, 5, 6};
  std::vector<float> b = {7, 8};
  Desc<float> dw{w.data(), w.data(), 0, {2, 3, 3, 1}};
  Desc<float> db{b.data(), b.data(), 0, {2, 1, 0, 0}};
  const char* p = path.c_str();
  int64_t n = static_cast<int64_t>(path.size());
  tessNpzStageMemref_f32(p, p, 0, n, 1, "lin.w", "lin.w", 0, 5, 1, 2, &dw);
  w[0] = 100;  // staged as a copy
  tessNpzStageMemref_f32(p, p, 0, n, 1, "lin.b", "lin.b", 0, 5, 1, 1, &db);
  tessNpzCommit(p, p, 0, n, 1);
  tessNpz_t npz = nullptr;
  REQUIRE(tessNpzLoad(p, &npz) == TESS_SUCCESS);
  size_t count = 0;
  tessNpzCount(npz, &count);
  REQUIRE(count == 2);
  const char* name = nullptr;
  tessNpzName(npz, 0, &name);
  CHECK(std::string(name) == "lin.w");
  tessTensor t{};
  REQUIRE(tessNpzGet(npz, "lin.w", &t) == TESS_SUCCESS);
  CHECK(t.rank == 2);
  CHECK(t.shape[0] == 2);
  CHECK(t.shape[1] == 3);
  CHECK(static_cast<const float*>(t.data)[0] == 1.0f);
  REQUIRE(tessNpzGet(npz, "lin.b", &t) == TESS_SUCCESS);
  CHECK(static_cast<const float*>(t.data)[1] == 8.0f);
  tessNpzFree(npz);

  // load(path, like=params): each member read back (with a dynamic size), then a rewrite of the
  // same path is read again (the runtime's cached archive is dropped on commit).
  int64_t wshape[2] = {2, -1};
  int64_t h = tessNpzLoadOpen(p, p, 0, n, 1, "lin.w", "lin.w", 0, 5, 1, TESS_F32, wshape, wshape, 0, 2, 1);
  CHECK(tessNpyLoadDim(h, 1) == 3);
  std::vector<float> got(6, 0.0f);
  Desc<float> dg{got.data(), got.data(), 0, {2, 3, 3, 1}};
  tessNpyLoadFinish_f32(h, 2, &dg);
  CHECK(got[0] == 1.0f);
  CHECK(got[5] == 6.0f);
  b[1] = 9;
  tessNpzStageMemref_f32(p, p, 0, n, 1, "lin.b", "lin.b", 0, 5, 1, 1, &db);
  tessNpzCommit(p, p, 0, n, 1);
  int64_t bshape[1] = {2};
  h = tessNpzLoadOpen(p, p, 0, n, 1, "lin.b", "lin.b", 0, 5, 1, TESS_F32, bshape, bshape, 0, 1, 1);
  std::vector<float> gb(2, 0.0f);
  Desc<float> dgb{gb.data(), gb.data(), 0, {2, 1, 0, 0}};
  tessNpyLoadFinish_f32(h, 1, &dgb);
  CHECK(gb[1] == 9.0f);
  // A member the archive does not have: the error handler, naming the members there are.
  failures.clear();
  tessCodegenSetErrorHandler(record);
  h = tessNpzLoadOpen(p, p, 0, n, 1, "lin.w", "lin.w", 0, 5, 1, TESS_F32, wshape, wshape, 0, 2, 1);
  REQUIRE(failures.size() == 1);
  CHECK(failures[0].find("no member 'lin.w' (the archive has: lin.b)") != std::string::npos);
  tessNpyLoadFinish_f32(h, 2, &dg);
  tessCodegenSetErrorHandler(nullptr);
  std::remove(p);
}

TEST_CASE("codegen_abi: numerics checks report the first NaN with the operands' statistics") {
  failures.clear();
  tessCodegenSetErrorHandler(record);
  const char info[] = "log\nf.tsr:3:9\n  --> f.tsr:3:9\n";
  std::vector<float> clean{1.0f, 2.0f}, bad{0.0f, std::nanf("")}, operand{1.0f, -3.0f};
  Desc<float> dc{clean.data(), clean.data(), 0, {2, 1}}, db{bad.data(), bad.data(), 0, {2, 1}},
      dop{operand.data(), operand.data(), 0, {2, 1}};
  tessNumericsOperand_f32(1, &dop);
  tessNumericsCheck_f32(info, info, 0, sizeof(info) - 1, 1, 1, &dc);
  tessNumericsEnd();
  CHECK(failures.empty());
  tessNumericsOperand_f32(1, &dop);
  operand[0] = std::nanf("");  // the op may overwrite its operand: the statistics were taken before
  tessNumericsCheck_f32(info, info, 0, sizeof(info) - 1, 1, 1, &db);
  tessNumericsEnd();
  REQUIRE(failures.size() == 1);
  CHECK(failures[0] ==
        "error: 'log' produced NaN at f.tsr:3:9 (--debug-numerics)\n"
        "  --> f.tsr:3:9\n"
        "  = note: result: Tensor[2, f32]: min 0, max 0, mean 0, 1 NaN, 0 Inf (2 elements)\n"
        "  = note: operand 1: Tensor[2, f32]: min -3, max 1, mean -1, 0 NaN, 0 Inf (2 elements)");
  tessCodegenSetErrorHandler(nullptr);
}
