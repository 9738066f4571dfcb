// Tests of the error path of `tesserac build` libraries (aot_call.h): run-time errors inside
// tessAotInvoke, on the calling thread or on a pool worker, become a status and a message.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "tessera/codegen_abi.h"

namespace {

std::atomic<int> g_chunks_after_error{0};

void fail_at_57(int64_t lo, int64_t hi, void*) {
  for (int64_t i = lo; i < hi; ++i)
    if (i == 57) {
      static const char info[] = "index\n";
      tessIndexError(info, info, 0, sizeof info - 1, 1, 57, 0, 10);
      g_chunks_after_error.fetch_add(1);  // never: the chunk ends at the error
    }
}

void parallel_body(void** slots) {
  tessParallelFor(nullptr, 0, 100, 1, fail_at_57, nullptr);
  *static_cast<int*>(slots[0]) = 1;  // never: the call ends after the loop
}

void nested_parallel_body(void** slots) {
  // A loop inside a loop body runs inline (nested), under the chunk's own target.
  tessParallelFor(
      nullptr, 0, 4, 1, [](int64_t, int64_t, void*) { tessParallelFor(nullptr, 0, 100, 1, fail_at_57, nullptr); },
      nullptr);
  *static_cast<int*>(slots[0]) = 1;
}

void oom_body(void** slots) {
  tessCodegenOutOfMemory(123);
  *static_cast<int*>(slots[0]) = 1;
}

void fail_body(void**) { tessCodegenFail("runtime error: integer division by zero"); }

void good_body(void** slots) {
  tessParallelFor(nullptr, 0, 100, 1, [](int64_t, int64_t, void*) {}, nullptr);
  *static_cast<int*>(slots[0]) = 1;
}

}  // namespace

TEST_CASE("aot calls: a run-time error on the caller or a pool worker fails the call, not the process") {
  tessContext_t ctx = nullptr;
  REQUIRE(tessGetDefaultContext(&ctx) == TESS_SUCCESS);
  REQUIRE(tessSetNumThreads(ctx, 4) == TESS_SUCCESS);
  for (int round = 0; round < 20; ++round) {
    int reached = 0;
    void* slots[] = {&reached};
    CHECK(tessAotInvoke(parallel_body, slots) == TESS_ERROR_RUNTIME);
    CHECK(reached == 0);
    CHECK(std::string(tessGetLastErrorMessage()) == "runtime error: index 57 is outside [0, 10)");
    CHECK(tessAotInvoke(nested_parallel_body, slots) == TESS_ERROR_RUNTIME);
    CHECK(reached == 0);
    CHECK(std::string(tessGetLastErrorMessage()) == "runtime error: index 57 is outside [0, 10)");
    // The pool still runs loops, and a good call leaves no message.
    CHECK(tessAotInvoke(good_body, slots) == TESS_SUCCESS);
    CHECK(reached == 1);
    CHECK(std::string(tessGetLastErrorMessage()).empty());
  }
  CHECK(g_chunks_after_error.load() == 0);
  int reached = 0;
  void* slots[] = {&reached};
  CHECK(tessAotInvoke(oom_body, slots) == TESS_ERROR_OUT_OF_MEMORY);
  CHECK(std::string(tessGetLastErrorMessage()) == "runtime error: out of memory: cannot allocate 123 bytes for a tensor");
  CHECK(tessAotInvoke(fail_body, slots) == TESS_ERROR_RUNTIME);
  CHECK(std::string(tessGetLastErrorMessage()) == "runtime error: integer division by zero");
  CHECK(reached == 0);
  REQUIRE(tessSetNumThreads(ctx, 1) == TESS_SUCCESS);
}

TEST_CASE("aot calls: argument errors fill in the numbers; a bad TESSERA_NUM_THREADS fails the call") {
  CHECK(tessAotArgumentError(TESS_ERROR_SHAPE_MISMATCH, "tess_f: dimension 0 is {got}, expected {expected}", 5, 3) ==
        TESS_ERROR_SHAPE_MISMATCH);
  CHECK(std::string(tessGetLastErrorMessage()) == "tess_f: dimension 0 is 5, expected 3");
  setenv("TESSERA_NUM_THREADS", "many", 1);
  int reached = 0;
  void* slots[] = {&reached};
  CHECK(tessAotInvoke(good_body, slots) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(reached == 0);
  CHECK(std::string(tessGetLastErrorMessage()) ==
        "TESSERA_NUM_THREADS='many' is not a thread count: expected a whole number from 1 to 1024");
  unsetenv("TESSERA_NUM_THREADS");
  CHECK(tessAotInvoke(good_body, slots) == TESS_SUCCESS);
}
