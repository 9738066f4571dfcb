// Tests for tessParallelFor: partitioning, coverage, nesting, concurrent callers, errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "tessera/runtime.h"
#include "thread_pool.h"

namespace {

struct Recorder {
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> chunks;
  static void body(int64_t lo, int64_t hi, void* data) {
    auto* r = static_cast<Recorder*>(data);
    std::lock_guard lock(r->mutex);
    r->chunks.emplace_back(lo, hi);
  }
  std::vector<std::pair<int64_t, int64_t>> sorted() {
    auto c = chunks;
    std::sort(c.begin(), c.end());
    return c;
  }
};

struct Coverage {
  std::vector<std::atomic<int>> hits;
  int64_t begin;
  explicit Coverage(int64_t b, int64_t n) : hits(static_cast<size_t>(n)), begin(b) {}
  static void body(int64_t lo, int64_t hi, void* data) {
    auto* c = static_cast<Coverage*>(data);
    for (int64_t i = lo; i < hi; ++i) c->hits[static_cast<size_t>(i - c->begin)]++;
  }
};

tessContext_t make_context(int threads) {
  tessContext_t ctx = nullptr;
  REQUIRE(tessInit(&ctx) == TESS_SUCCESS);
  REQUIRE(tessSetNumThreads(ctx, threads) == TESS_SUCCESS);
  return ctx;
}

}  // namespace

TEST_CASE("partition cuts grain-aligned chunks that depend only on range, grain and threads") {
  tessera::rt::Partition p(0, 10, 3, 2);
  CHECK(p.blocks == 4);
  CHECK(p.chunks == 2);
  CHECK(p.lo(0) == 0);
  CHECK(p.hi(0) == 6);
  CHECK(p.lo(1) == 6);
  CHECK(p.hi(1) == 10);

  tessera::rt::Partition q(-5, 1000, 7, 16);
  for (int64_t i = 0; i < q.chunks; ++i) {
    CHECK((q.lo(i) - (-5)) % 7 == 0);
    CHECK(q.lo(i) < q.hi(i));
    if (i + 1 < q.chunks) CHECK(q.hi(i) == q.lo(i + 1));
  }
  CHECK(q.hi(q.chunks - 1) == 1000);

  // The full int64 range does not overflow.
  tessera::rt::Partition w(INT64_MIN, INT64_MAX, INT64_MAX / 3, 8);
  CHECK(w.lo(0) == INT64_MIN);
  CHECK(w.hi(w.chunks - 1) == INT64_MAX);
  for (int64_t i = 0; i + 1 < w.chunks; ++i) CHECK(w.hi(i) == w.lo(i + 1));
}

TEST_CASE("parallel for runs the chunks of the documented partition") {
  tessContext_t ctx = make_context(4);
  Recorder r;
  REQUIRE(tessParallelFor(ctx, 3, 103, 10, Recorder::body, &r) == TESS_SUCCESS);
  tessera::rt::Partition p(3, 103, 10, 4);
  auto got = r.sorted();
  REQUIRE(got.size() == static_cast<size_t>(p.chunks));
  for (int64_t i = 0; i < p.chunks; ++i) {
    CHECK(got[i].first == p.lo(i));
    CHECK(got[i].second == p.hi(i));
  }
  // Same call, same boundaries, every time.
  for (int rep = 0; rep < 20; ++rep) {
    Recorder again;
    REQUIRE(tessParallelFor(ctx, 3, 103, 10, Recorder::body, &again) == TESS_SUCCESS);
    CHECK(again.sorted() == got);
  }
  CHECK(tessShutdown(ctx) == TESS_SUCCESS);
}

TEST_CASE("every index is visited exactly once for any thread count") {
  for (int threads : {1, 2, 3, 7, 16}) {
    tessContext_t ctx = make_context(threads);
    for (auto [begin, end, grain] : {std::tuple<int64_t, int64_t, int64_t>{0, 1, 1},
                                     {0, 1000, 1},
                                     {-50, 50, 3},
                                     {10, 10007, 64},
                                     {0, 100, 1000}}) {
      Coverage c(begin, end - begin);
      REQUIRE(tessParallelFor(ctx, begin, end, grain, Coverage::body, &c) == TESS_SUCCESS);
      bool all_once = std::all_of(c.hits.begin(), c.hits.end(), [](const std::atomic<int>& h) { return h == 1; });
      CHECK_MESSAGE(all_once, "threads=" << threads << " range [" << begin << ", " << end << ") grain " << grain);
    }
    CHECK(tessShutdown(ctx) == TESS_SUCCESS);
  }
}

TEST_CASE("one thread, one block, or an empty range run inline or not at all") {
  tessContext_t ctx = make_context(1);
  Recorder r;
  REQUIRE(tessParallelFor(ctx, 0, 1000, 1, Recorder::body, &r) == TESS_SUCCESS);
  CHECK(r.chunks == std::vector<std::pair<int64_t, int64_t>>{{0, 1000}});
  CHECK(tessSetNumThreads(ctx, 8) == TESS_SUCCESS);
  Recorder small;
  REQUIRE(tessParallelFor(ctx, 0, 50, 64, Recorder::body, &small) == TESS_SUCCESS);
  CHECK(small.chunks == std::vector<std::pair<int64_t, int64_t>>{{0, 50}});
  Recorder none;
  REQUIRE(tessParallelFor(ctx, 5, 5, 1, Recorder::body, &none) == TESS_SUCCESS);
  CHECK(none.chunks.empty());
  CHECK(tessShutdown(ctx) == TESS_SUCCESS);
}

namespace {
struct Nested {
  tessContext_t ctx;
  std::atomic<int> inner_calls{0};
  std::atomic<int> inner_chunks_whole{0};
  static void inner(int64_t lo, int64_t hi, void* data) {
    auto* n = static_cast<Nested*>(data);
    n->inner_calls++;
    if (lo == 0 && hi == 1000) n->inner_chunks_whole++;
  }
  static void outer(int64_t, int64_t, void* data) {
    auto* n = static_cast<Nested*>(data);
    CHECK(tessParallelFor(n->ctx, 0, 1000, 1, inner, data) == TESS_SUCCESS);
    // The thread count cannot change under a running loop.
    CHECK(tessSetNumThreads(n->ctx, 2) == TESS_ERROR_INVALID_ARGUMENT);
  }
};
}  // namespace

TEST_CASE("nested parallel loops run inline without deadlock") {
  tessContext_t ctx = make_context(4);
  Nested n{ctx};
  REQUIRE(tessParallelFor(ctx, 0, 4, 1, Nested::outer, &n) == TESS_SUCCESS);
  CHECK(n.inner_calls == 4);
  CHECK(n.inner_chunks_whole == 4);
  // Also through the default context (NULL) from inside a loop of another context.
  n.ctx = nullptr;
  n.inner_calls = 0;
  REQUIRE(tessParallelFor(ctx, 0, 4, 1, Nested::outer, &n) == TESS_SUCCESS);
  CHECK(n.inner_calls == 4);
  CHECK(tessShutdown(ctx) == TESS_SUCCESS);
}

TEST_CASE("several threads may call parallel for at once") {
  tessContext_t ctx = make_context(4);
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 6; ++t) {
    callers.emplace_back([&, t] {
      for (int rep = 0; rep < 50; ++rep) {
        Coverage c(0, 5000 + t);
        if (tessParallelFor(t % 2 ? ctx : nullptr, 0, 5000 + t, 16, Coverage::body, &c) != TESS_SUCCESS) failures++;
        for (auto& h : c.hits)
          if (h != 1) failures++;
      }
    });
  }
  for (auto& c : callers) c.join();
  CHECK(failures == 0);
  CHECK(tessShutdown(ctx) == TESS_SUCCESS);
}

TEST_CASE("changing the thread count between loops repartitions") {
  tessContext_t ctx = make_context(2);
  for (int threads : {1, 5, 3, 12, 2}) {
    REQUIRE(tessSetNumThreads(ctx, threads) == TESS_SUCCESS);
    Recorder r;
    REQUIRE(tessParallelFor(ctx, 0, 120, 1, Recorder::body, &r) == TESS_SUCCESS);
    CHECK(r.chunks.size() == static_cast<size_t>(threads));
  }
  CHECK(tessShutdown(ctx) == TESS_SUCCESS);
}

TEST_CASE("parallel for validates its arguments") {
  Recorder r;
  CHECK(tessParallelFor(nullptr, 0, 10, 0, Recorder::body, &r) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::strstr(tessGetLastErrorMessage(), "grain must be >= 1") != nullptr);
  CHECK(tessParallelFor(nullptr, 10, 0, 1, Recorder::body, &r) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::strstr(tessGetLastErrorMessage(), "begin 10 is after end 0") != nullptr);
  CHECK(tessParallelFor(nullptr, 0, 10, 1, nullptr, &r) == TESS_ERROR_INVALID_ARGUMENT);
  tessContext_t ctx = make_context(2);
  REQUIRE(tessShutdown(ctx) == TESS_SUCCESS);
  CHECK(tessParallelFor(ctx, 0, 10, 1, Recorder::body, &r) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::strstr(tessGetLastErrorMessage(), "not a live context") != nullptr);
  CHECK(r.chunks.empty());
}
