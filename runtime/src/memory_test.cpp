// Tests for the aligned allocator and the memory pools.
#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "memory.h"
#include "tessera/codegen_abi.h"
#include "tessera/runtime.h"

using tessera::rt::SizeClasses;

TEST_CASE("tessMalloc returns 64-byte aligned memory and checks frees") {
  for (size_t size : {size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{1000}, size_t{1} << 20}) {
    void* p = nullptr;
    REQUIRE(tessMalloc(nullptr, size, &p) == TESS_SUCCESS);
    CHECK(reinterpret_cast<uintptr_t>(p) % TESS_ALIGNMENT == 0);
    std::memset(p, 0xab, size);
    CHECK(tessFree(nullptr, p) == TESS_SUCCESS);
    CHECK(tessFree(nullptr, p) == TESS_ERROR_INVALID_ARGUMENT);  // double free is caught
  }
  void* p = nullptr;
  CHECK(tessMalloc(nullptr, 0, &p) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()) == "tessMalloc: size is 0");
  CHECK(tessMalloc(nullptr, 16, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessMalloc(nullptr, ~size_t{0}, &p) == TESS_ERROR_OUT_OF_MEMORY);
  CHECK(p == nullptr);
  CHECK(tessFree(nullptr, nullptr) == TESS_SUCCESS);
  int local = 0;
  CHECK(tessFree(nullptr, &local) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()).find("was not allocated by tessMalloc") != std::string::npos);
}

TEST_CASE("tessMalloc through a mesh") {
  tessContext_t ctx = nullptr;
  REQUIRE(tessInit(&ctx) == TESS_SUCCESS);
  int zero[] = {0};
  tessMesh_t mesh = nullptr;
  REQUIRE(tessMeshCreate(ctx, zero, 1, tessMeshAxes{}, &mesh) == TESS_SUCCESS);
  void* p = nullptr;
  REQUIRE(tessMalloc(mesh, 256, &p) == TESS_SUCCESS);
  CHECK(tessFree(mesh, p) == TESS_SUCCESS);
  REQUIRE(tessMeshDestroy(mesh) == TESS_SUCCESS);
  CHECK(tessMalloc(mesh, 256, &p) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessShutdown(ctx) == TESS_SUCCESS);
}

TEST_CASE("size classes are 64-byte multiples that waste at most a quarter") {
  CHECK(SizeClasses::size_of(SizeClasses::index_of(1)) == 64);
  CHECK(SizeClasses::size_of(SizeClasses::index_of(64)) == 64);
  CHECK(SizeClasses::size_of(SizeClasses::index_of(65)) == 128);
  CHECK(SizeClasses::size_of(SizeClasses::index_of(256)) == 256);
  CHECK(SizeClasses::size_of(SizeClasses::index_of(257)) == 320);
  CHECK(SizeClasses::size_of(SizeClasses::index_of(513)) == 640);
  CHECK(SizeClasses::size_of(SizeClasses::index_of(1000)) == 1024);
  size_t previous = 0;
  for (size_t i = 0; i < 200; ++i) {
    size_t s = SizeClasses::size_of(i);
    CHECK(s % 64 == 0);
    CHECK(s > previous);
    CHECK(SizeClasses::index_of(s) == i);
    CHECK(SizeClasses::index_of(s + 1) == i + 1);
    previous = s;
  }
  for (size_t size = 257; size < (1u << 22); size = size * 3 / 2 + 1) {
    size_t block = SizeClasses::size_of(SizeClasses::index_of(size));
    CHECK(block >= size);
    CHECK(block <= size + size / 4 + 64);
  }
}

TEST_CASE("pools reuse freed blocks and keep statistics") {
  tessMemPool_t pool = nullptr;
  REQUIRE(tessMemPoolCreate(nullptr, 1 << 16, 2.0, &pool) == TESS_SUCCESS);
  tessMemPoolStats st;
  REQUIRE(tessMemPoolGetStats(pool, &st) == TESS_SUCCESS);
  CHECK(st.bytesReserved == 1 << 16);
  CHECK(st.numChunks == 1);
  CHECK(st.bytesInUse == 0);

  void *a = nullptr, *b = nullptr, *c = nullptr;
  REQUIRE(tessMemPoolAlloc(pool, 100, &a) == TESS_SUCCESS);
  REQUIRE(tessMemPoolAlloc(pool, 100, &b) == TESS_SUCCESS);
  CHECK(a != b);
  CHECK(reinterpret_cast<uintptr_t>(a) % 64 == 0);
  CHECK(reinterpret_cast<uintptr_t>(b) % 64 == 0);
  REQUIRE(tessMemPoolGetStats(pool, &st) == TESS_SUCCESS);
  CHECK(st.bytesInUse == 256);  // two 128-byte blocks
  REQUIRE(tessMemPoolFree(pool, a) == TESS_SUCCESS);
  REQUIRE(tessMemPoolAlloc(pool, 120, &c) == TESS_SUCCESS);  // same class: reused
  CHECK(c == a);
  REQUIRE(tessMemPoolGetStats(pool, &st) == TESS_SUCCESS);
  CHECK(st.numAllocs == 3);
  CHECK(st.numReused == 1);
  CHECK(st.bytesInUse == 256);
  CHECK(st.peakBytesInUse == 256);

  CHECK(tessMemPoolFree(pool, c) == TESS_SUCCESS);
  CHECK(tessMemPoolFree(pool, c) == TESS_ERROR_INVALID_ARGUMENT);  // double free
  int local = 0;
  CHECK(tessMemPoolFree(pool, &local) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()).find("was not allocated from this pool") != std::string::npos);
  CHECK(tessMemPoolFree(pool, nullptr) == TESS_SUCCESS);
  CHECK(tessMemPoolAlloc(pool, 0, &c) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessMemPoolAlloc(pool, 16, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessMemPoolDestroy(pool) == TESS_SUCCESS);
  CHECK(tessMemPoolDestroy(pool) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessMemPoolAlloc(pool, 16, &c) == TESS_ERROR_INVALID_ARGUMENT);
}

TEST_CASE("pools grow by the growth factor") {
  tessMemPool_t pool = nullptr;
  REQUIRE(tessMemPoolCreate(nullptr, 4096, 2.0, &pool) == TESS_SUCCESS);
  std::vector<void*> blocks(40);
  for (void*& p : blocks) REQUIRE(tessMemPoolAlloc(pool, 1000, &p) == TESS_SUCCESS);  // 1024-byte blocks
  std::set<void*> distinct(blocks.begin(), blocks.end());
  CHECK(distinct.size() == blocks.size());
  tessMemPoolStats st;
  REQUIRE(tessMemPoolGetStats(pool, &st) == TESS_SUCCESS);
  // 4 KiB, 8 KiB, 16 KiB, 32 KiB chunks hold 4 + 8 + 16 + 32 >= 40 blocks.
  CHECK(st.numChunks == 4);
  CHECK(st.bytesReserved == 4096 + 8192 + 16384 + 32768);
  // A block bigger than the next chunk gets a chunk of its own size.
  void* big = nullptr;
  REQUIRE(tessMemPoolAlloc(pool, 1 << 20, &big) == TESS_SUCCESS);
  std::memset(big, 1, 1 << 20);
  REQUIRE(tessMemPoolGetStats(pool, &st) == TESS_SUCCESS);
  CHECK(st.numChunks == 5);
  CHECK(tessMemPoolDestroy(pool) == TESS_SUCCESS);

  // initial_size 0 reserves nothing until the first allocation.
  REQUIRE(tessMemPoolCreate(nullptr, 0, 1.0, &pool) == TESS_SUCCESS);
  REQUIRE(tessMemPoolGetStats(pool, &st) == TESS_SUCCESS);
  CHECK(st.bytesReserved == 0);
  REQUIRE(tessMemPoolAlloc(pool, 10, &big) == TESS_SUCCESS);
  REQUIRE(tessMemPoolGetStats(pool, &st) == TESS_SUCCESS);
  CHECK(st.bytesReserved == tessera::rt::kMinPoolChunk);
  CHECK(tessMemPoolDestroy(pool) == TESS_SUCCESS);
}

TEST_CASE("pool creation validates its arguments") {
  tessMemPool_t pool = nullptr;
  CHECK(tessMemPoolCreate(nullptr, 1024, 0.5, &pool) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()) == "tessMemPoolCreate: growth_factor must be finite and >= 1, got 0.5");
  CHECK(tessMemPoolCreate(nullptr, 1024, std::numeric_limits<double>::quiet_NaN(), &pool) ==
        TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessMemPoolCreate(nullptr, 1024, std::numeric_limits<double>::infinity(), &pool) ==
        TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessMemPoolCreate(nullptr, 1024, 2.0, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessMemPoolCreate(nullptr, ~size_t{0}, 2.0, &pool) == TESS_ERROR_OUT_OF_MEMORY);
  CHECK(tessMemPoolGetStats(nullptr, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
}

TEST_CASE("pools are thread-safe") {
  tessMemPool_t pool = nullptr;
  REQUIRE(tessMemPoolCreate(nullptr, 1 << 16, 1.5, &pool) == TESS_SUCCESS);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::vector<void*> mine;
      for (int i = 0; i < 2000; ++i) {
        void* p = nullptr;
        size_t size = 16 + static_cast<size_t>((i * 37 + t * 11) % 3000);
        if (tessMemPoolAlloc(pool, size, &p) != TESS_SUCCESS) failures++;
        std::memset(p, t, size);
        mine.push_back(p);
        if (i % 3 == 0) {
          if (tessMemPoolFree(pool, mine.back()) != TESS_SUCCESS) failures++;
          mine.pop_back();
        }
      }
      for (void* p : mine)
        if (tessMemPoolFree(pool, p) != TESS_SUCCESS) failures++;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  tessMemPoolStats st;
  REQUIRE(tessMemPoolGetStats(pool, &st) == TESS_SUCCESS);
  CHECK(st.bytesInUse == 0);
  CHECK(st.numReused > 0);
  CHECK(tessMemPoolDestroy(pool) == TESS_SUCCESS);
}

TEST_CASE("tessBufferAlloc reuses a freed big block of the same size, and only that") {
  const uint64_t big = 3u << 20;
  void* a = tessBufferAlloc(big);
  REQUIRE(a != nullptr);
  std::memset(a, 1, big);
  tessBufferFree(a);
  void* b = tessBufferAlloc(big);  // the cached block comes back
  CHECK(b == a);
  void* c = tessBufferAlloc(big + 4096);  // another size: a new block
  CHECK(c != nullptr);
  CHECK(c != a);
  std::memset(c, 2, big + 4096);
  // A block handed to a caller is released with free() (a compiled entry's result): the cache
  // never sees it again, and a later block at the same address is tracked with its own size.
  std::free(b);
  void* d = tessBufferAlloc(big / 2);
  REQUIRE(d != nullptr);
  std::memset(d, 3, big / 2);
  tessBufferFree(d);
  void* e = tessBufferAlloc(big / 2);
  CHECK(e == d);
  tessBufferFree(e);
  tessBufferFree(c);
  // Small blocks are plain malloc and free.
  void* s = tessBufferAlloc(100);
  REQUIRE(s != nullptr);
  tessBufferFree(s);
  tessBufferFree(nullptr);
}

TEST_CASE("tessBufferAlloc and tessBufferFree from many threads") {
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        uint64_t size = (uint64_t(1) << 16) * uint64_t(1 + (i + t) % 5);
        auto* p = static_cast<unsigned char*>(tessBufferAlloc(size));
        if (!p) {
          ++bad;
          continue;
        }
        std::memset(p, t, size);
        if (p[size - 1] != t) ++bad;
        tessBufferFree(p);
      }
    });
  for (auto& th : threads) th.join();
  CHECK(bad.load() == 0);
}
