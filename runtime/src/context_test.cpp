// Tests for status strings, last-error messages, runtime errors, contexts, devices and meshes.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "tessera/runtime.h"

TEST_CASE("every status has a description") {
  for (int s = 0; s >= TESS_ERROR_INTERNAL; --s) {
    std::string text = tessGetErrorString(static_cast<tessStatus_t>(s));
    CHECK(!text.empty());
    CHECK(text != "unknown status");
  }
  CHECK(std::string(tessGetErrorString(TESS_SUCCESS)) == "success");
  CHECK(std::string(tessGetErrorString(TESS_ERROR_BAD_FILE)) == "bad file format");
  CHECK(std::string(tessGetErrorString(static_cast<tessStatus_t>(-999))) == "unknown status");
  CHECK(std::string(tessGetErrorString(static_cast<tessStatus_t>(5))) == "unknown status");
}

TEST_CASE("the last error message is per thread") {
  tessClearLastError();
  CHECK(std::string(tessGetLastErrorMessage()).empty());
  CHECK(tessInit(nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()) == "tessInit: ctx is NULL");
  std::string other;
  std::thread([&] { other = tessGetLastErrorMessage(); }).join();
  CHECK(other.empty());
  CHECK(std::string(tessGetLastErrorMessage()) == "tessInit: ctx is NULL");
  tessClearLastError();
  CHECK(std::string(tessGetLastErrorMessage()).empty());
}

TEST_CASE("runtime errors format as 'runtime error: ...'") {
  CHECK(tessRuntimeError("assertion failed: %s at line %d", "D % H == 0", 7) == TESS_ERROR_RUNTIME);
  CHECK(std::string(tessGetLastErrorMessage()) == "assertion failed: D % H == 0 at line 7");
  char buf[128];
  size_t needed = 0;
  REQUIRE(tessFormatRuntimeError(TESS_ERROR_RUNTIME, buf, sizeof buf, &needed) == TESS_SUCCESS);
  CHECK(std::string(buf) == "runtime error: assertion failed: D % H == 0 at line 7");
  CHECK(needed == std::strlen(buf));
  // A short buffer is reported, cut, NUL-terminated, and leaves the message in place.
  char small[10];
  CHECK(tessFormatRuntimeError(TESS_ERROR_RUNTIME, small, sizeof small, &needed) == TESS_ERROR_BUFFER_TOO_SMALL);
  CHECK(std::string(small) == "runtime e");
  CHECK(std::string(tessGetLastErrorMessage()) == "assertion failed: D % H == 0 at line 7");
  // Measuring only.
  CHECK(tessFormatRuntimeError(TESS_ERROR_RUNTIME, nullptr, 0, &needed) == TESS_SUCCESS);
  CHECK(needed == std::strlen("runtime error: assertion failed: D % H == 0 at line 7"));
  // Without a message the status description is used.
  tessClearLastError();
  REQUIRE(tessFormatRuntimeError(TESS_ERROR_OUT_OF_MEMORY, buf, sizeof buf, nullptr) == TESS_SUCCESS);
  CHECK(std::string(buf) == "runtime error: out of memory");
  CHECK(tessRuntimeError(nullptr) == TESS_ERROR_RUNTIME);
  CHECK(std::string(tessGetLastErrorMessage()) == "unknown error");
}

TEST_CASE("contexts are created, validated and shut down") {
  tessContext_t ctx = nullptr;
  REQUIRE(tessInit(&ctx) == TESS_SUCCESS);
  REQUIRE(ctx != nullptr);
  int n = 0;
  CHECK(tessGetNumThreads(ctx, &n) == TESS_SUCCESS);
  CHECK(n >= 1);
  CHECK(tessSetNumThreads(ctx, 3) == TESS_SUCCESS);
  CHECK(tessGetNumThreads(ctx, &n) == TESS_SUCCESS);
  CHECK(n == 3);
  CHECK(tessSetNumThreads(ctx, 0) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()) == "tessSetNumThreads: num_threads must be in [1, 1024], got 0");
  CHECK(tessSetNumThreads(ctx, 100000) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessGetNumThreads(ctx, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessShutdown(ctx) == TESS_SUCCESS);
  CHECK(tessShutdown(ctx) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessShutdown(nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessGetNumThreads(ctx, &n) == TESS_ERROR_INVALID_ARGUMENT);
}

TEST_CASE("the default context exists and cannot be shut down") {
  tessContext_t a = nullptr, b = nullptr;
  REQUIRE(tessGetDefaultContext(&a) == TESS_SUCCESS);
  REQUIRE(tessGetDefaultContext(&b) == TESS_SUCCESS);
  CHECK(a == b);
  CHECK(tessShutdown(a) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()) == "tessShutdown: the default context is owned by the runtime");
  CHECK(tessGetDefaultContext(nullptr) == TESS_ERROR_INVALID_ARGUMENT);
}

TEST_CASE("TESSERA_NUM_THREADS sets the thread count of new contexts") {
  setenv("TESSERA_NUM_THREADS", "3", 1);
  tessContext_t ctx = nullptr;
  REQUIRE(tessInit(&ctx) == TESS_SUCCESS);
  int n = 0;
  CHECK(tessGetNumThreads(ctx, &n) == TESS_SUCCESS);
  CHECK(n == 3);
  CHECK(tessShutdown(ctx) == TESS_SUCCESS);
  unsetenv("TESSERA_NUM_THREADS");
}

TEST_CASE("a bad TESSERA_NUM_THREADS is an error, not ignored") {
  for (const char* bad : {"zero", "0", "-2", "1025", "99999999999999999999", "4x", "", " 4", "+4"}) {
    INFO(bad);
    setenv("TESSERA_NUM_THREADS", bad, 1);
    tessContext_t ctx = nullptr;
    CHECK(tessInit(&ctx) == TESS_ERROR_INVALID_ARGUMENT);
    CHECK(std::string(tessGetLastErrorMessage()) ==
          std::string("tessInit: TESSERA_NUM_THREADS='") + bad +
              "' is not a thread count: expected a whole number from 1 to 1024");
    CHECK(tessGetDefaultContext(&ctx) == TESS_ERROR_INVALID_ARGUMENT);
    auto body = [](int64_t, int64_t, void*) {};
    CHECK(tessParallelFor(nullptr, 0, 10, 1, body, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  }
  setenv("TESSERA_NUM_THREADS", "2", 1);
  tessContext_t ctx = nullptr;
  REQUIRE(tessInit(&ctx) == TESS_SUCCESS);
  CHECK(tessShutdown(ctx) == TESS_SUCCESS);
  unsetenv("TESSERA_NUM_THREADS");
}

TEST_CASE("numerics policy") {
  tessContext_t ctx = nullptr;
  REQUIRE(tessInit(&ctx) == TESS_SUCCESS);
  tessNumericsPolicy p{};
  REQUIRE(tessGetNumericsPolicy(ctx, &p) == TESS_SUCCESS);
  CHECK(p.stableReductions == 1);
  CHECK(p.deterministic == 1);
  CHECK(p.rngStateless == 1);
  CHECK(p.allowFastMath == 0);
  tessNumericsPolicy fast{0, 0, 1, 1};
  REQUIRE(tessSetNumericsPolicy(ctx, &fast) == TESS_SUCCESS);
  REQUIRE(tessGetNumericsPolicy(ctx, &p) == TESS_SUCCESS);
  CHECK(p.deterministic == 0);
  CHECK(p.allowFastMath == 1);
  tessNumericsPolicy bad{2, 0, 0, 0};
  CHECK(tessSetNumericsPolicy(ctx, &bad) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()) == "tessSetNumericsPolicy: stableReductions must be 0 or 1, got 2");
  tessNumericsPolicy conflict{1, 1, 1, 1};
  CHECK(tessSetNumericsPolicy(ctx, &conflict) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessSetNumericsPolicy(ctx, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessGetNumericsPolicy(ctx, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  REQUIRE(tessGetNumericsPolicy(ctx, &p) == TESS_SUCCESS);
  CHECK(p.allowFastMath == 1);  // failed sets change nothing
  CHECK(tessShutdown(ctx) == TESS_SUCCESS);
}

TEST_CASE("the CPU runtime has one device") {
  tessContext_t ctx = nullptr;
  REQUIRE(tessInit(&ctx) == TESS_SUCCESS);
  int count = 0;
  REQUIRE(tessDeviceCount(ctx, &count) == TESS_SUCCESS);
  CHECK(count == 1);
  tessDeviceInfo info;
  REQUIRE(tessDeviceGetInfo(ctx, 0, &info) == TESS_SUCCESS);
  CHECK(info.kind == TESS_DEVICE_CPU);
  CHECK(info.id == 0);
  CHECK(info.numCores >= 1);
  CHECK(std::string(info.name) == "cpu");
  CHECK(tessDeviceGetInfo(ctx, 1, &info) == TESS_ERROR_NO_DEVICE);
  CHECK(tessDeviceCount(ctx, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessDeviceCount(nullptr, &count) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessShutdown(ctx) == TESS_SUCCESS);
}

TEST_CASE("meshes accept device 0 only") {
  tessContext_t ctx = nullptr;
  REQUIRE(tessInit(&ctx) == TESS_SUCCESS);
  int zero[] = {0};
  tessMesh_t mesh = nullptr;
  REQUIRE(tessMeshCreate(ctx, zero, 1, tessMeshAxes{0, 0, 0}, &mesh) == TESS_SUCCESS);
  CHECK(tessMeshDestroy(mesh) == TESS_SUCCESS);
  CHECK(tessMeshDestroy(mesh) == TESS_ERROR_INVALID_ARGUMENT);
  REQUIRE(tessMeshCreate(ctx, zero, 1, tessMeshAxes{1, 1, 1}, &mesh) == TESS_SUCCESS);
  CHECK(tessMeshDestroy(mesh) == TESS_SUCCESS);

  int four[] = {0, 1, 2, 3};
  CHECK(tessMeshCreate(ctx, four, 4, tessMeshAxes{2, 2, 0}, &mesh) == TESS_ERROR_NO_DEVICE);
  CHECK(std::string(tessGetLastErrorMessage()).find("no device 1") != std::string::npos);
  int one[] = {1};
  CHECK(tessMeshCreate(ctx, one, 1, tessMeshAxes{}, &mesh) == TESS_ERROR_NO_DEVICE);
  CHECK(std::string(tessGetLastErrorMessage()).find("the CPU runtime has one device, id 0") != std::string::npos);
  int twice[] = {0, 0};
  CHECK(tessMeshCreate(ctx, twice, 2, tessMeshAxes{2, 0, 0}, &mesh) == TESS_ERROR_NO_DEVICE);
  CHECK(tessMeshCreate(ctx, zero, 1, tessMeshAxes{2, 0, 0}, &mesh) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()).find("cover 2 devices, but 1 were given") != std::string::npos);
  CHECK(tessMeshCreate(ctx, zero, 0, tessMeshAxes{}, &mesh) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessMeshCreate(ctx, nullptr, 1, tessMeshAxes{}, &mesh) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessMeshCreate(ctx, zero, 1, tessMeshAxes{-1, 0, 0}, &mesh) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessMeshCreate(ctx, zero, 1, tessMeshAxes{}, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessMeshCreate(nullptr, zero, 1, tessMeshAxes{}, &mesh) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessShutdown(ctx) == TESS_SUCCESS);
}

TEST_CASE("shutdown releases the streams, pools and meshes of the context") {
  tessContext_t ctx = nullptr;
  REQUIRE(tessInit(&ctx) == TESS_SUCCESS);
  int zero[] = {0};
  tessMesh_t mesh = nullptr;
  REQUIRE(tessMeshCreate(ctx, zero, 1, tessMeshAxes{}, &mesh) == TESS_SUCCESS);
  tessMemPool_t pool = nullptr;
  REQUIRE(tessMemPoolCreate(mesh, 4096, 2.0, &pool) == TESS_SUCCESS);
  void* p = nullptr;
  REQUIRE(tessMemPoolAlloc(pool, 100, &p) == TESS_SUCCESS);
  tessStream_t stream = nullptr;
  REQUIRE(tessStreamCreate(ctx, &stream) == TESS_SUCCESS);
  static int ran = 0;
  REQUIRE(tessStreamEnqueue(stream, [](void*) { ran = 1; }, nullptr) == TESS_SUCCESS);
  CHECK(tessShutdown(ctx) == TESS_SUCCESS);
  CHECK(ran == 1);  // queued work ran before the stream went away
  CHECK(tessMemPoolAlloc(pool, 100, &p) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessStreamSynchronize(stream) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessMeshDestroy(mesh) == TESS_ERROR_INVALID_ARGUMENT);
}
