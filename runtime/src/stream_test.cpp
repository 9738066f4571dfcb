// Tests for streams (ordered work queues) and async memcpy.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tessera/runtime.h"

namespace {

struct Log {
  std::mutex mutex;
  std::vector<int> order;
  std::vector<std::thread::id> threads;
};

struct Item {
  Log* log;
  int id;
  static void run(void* data) {
    auto* item = static_cast<Item*>(data);
    // Early items are slow, so out-of-order execution would show.
    if (item->id < 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::lock_guard lock(item->log->mutex);
    item->log->order.push_back(item->id);
    item->log->threads.push_back(std::this_thread::get_id());
  }
};

}  // namespace

TEST_CASE("a stream runs its work in order on one worker thread") {
  tessStream_t stream = nullptr;
  REQUIRE(tessStreamCreate(nullptr, &stream) == TESS_SUCCESS);
  Log log;
  std::vector<Item> items;
  for (int i = 0; i < 100; ++i) items.push_back(Item{&log, i});
  for (Item& item : items) REQUIRE(tessStreamEnqueue(stream, Item::run, &item) == TESS_SUCCESS);
  REQUIRE(tessStreamSynchronize(stream) == TESS_SUCCESS);
  REQUIRE(log.order.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(log.order[i] == i);
  for (auto id : log.threads) CHECK(id == log.threads[0]);
  CHECK(log.threads[0] != std::this_thread::get_id());
  CHECK(tessStreamDestroy(stream) == TESS_SUCCESS);
  CHECK(tessStreamDestroy(stream) == TESS_ERROR_INVALID_ARGUMENT);
}

TEST_CASE("async copies are ordered with the stream's other work") {
  tessContext_t ctx = nullptr;
  REQUIRE(tessInit(&ctx) == TESS_SUCCESS);
  tessStream_t stream = nullptr;
  REQUIRE(tessStreamCreate(ctx, &stream) == TESS_SUCCESS);
  struct State {
    std::vector<int> src = std::vector<int>(1000, 0), dst = std::vector<int>(1000, -1);
  } s;
  auto fill = [](void* data) {
    auto* st = static_cast<State*>(data);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (size_t i = 0; i < st->src.size(); ++i) st->src[i] = static_cast<int>(i);
  };
  REQUIRE(tessStreamEnqueue(stream, fill, &s) == TESS_SUCCESS);
  for (tessCopyKind kind : {TESS_COPY_H2H, TESS_COPY_H2D, TESS_COPY_D2H, TESS_COPY_D2D}) {
    REQUIRE(tessMemcpyAsync(s.dst.data(), s.src.data(), s.src.size() * sizeof(int), kind, stream) == TESS_SUCCESS);
  }
  REQUIRE(tessStreamSynchronize(stream) == TESS_SUCCESS);
  for (size_t i = 0; i < s.dst.size(); ++i) REQUIRE(s.dst[i] == static_cast<int>(i));
  CHECK(tessShutdown(ctx) == TESS_SUCCESS);
}

TEST_CASE("memcpy without a stream is synchronous; arguments are checked") {
  char src[8] = "abcdefg", dst[8] = {};
  REQUIRE(tessMemcpyAsync(dst, src, 8, TESS_COPY_H2H, nullptr) == TESS_SUCCESS);
  CHECK(std::string(dst) == "abcdefg");
  // Overlapping ranges behave like memmove.
  REQUIRE(tessMemcpyAsync(src + 1, src, 6, TESS_COPY_H2H, nullptr) == TESS_SUCCESS);
  CHECK(std::string(src) == "aabcdef");
  CHECK(tessMemcpyAsync(dst, src, 8, static_cast<tessCopyKind>(9), nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()) == "tessMemcpyAsync: invalid copy kind 9");
  CHECK(tessMemcpyAsync(nullptr, src, 8, TESS_COPY_H2H, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessMemcpyAsync(dst, nullptr, 8, TESS_COPY_H2H, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessMemcpyAsync(nullptr, nullptr, 0, TESS_COPY_H2H, nullptr) == TESS_SUCCESS);  // nothing to copy
  int fake = 0;
  CHECK(tessMemcpyAsync(dst, src, 8, TESS_COPY_H2H, reinterpret_cast<tessStream_t>(&fake)) ==
        TESS_ERROR_INVALID_ARGUMENT);
}

TEST_CASE("destroying a stream drains it; a stream cannot wait for itself") {
  tessStream_t stream = nullptr;
  REQUIRE(tessStreamCreate(nullptr, &stream) == TESS_SUCCESS);
  static std::atomic<int> count{0};
  count = 0;
  for (int i = 0; i < 50; ++i) {
    REQUIRE(tessStreamEnqueue(
                stream,
                [](void*) {
                  std::this_thread::sleep_for(std::chrono::microseconds(100));
                  count++;
                },
                nullptr) == TESS_SUCCESS);
  }
  struct Self {
    tessStream_t stream;
    tessStatus_t sync = TESS_SUCCESS, destroy = TESS_SUCCESS;
  } self{stream};
  REQUIRE(tessStreamEnqueue(
              stream,
              [](void* data) {
                auto* s = static_cast<Self*>(data);
                s->sync = tessStreamSynchronize(s->stream);
                s->destroy = tessStreamDestroy(s->stream);
              },
              &self) == TESS_SUCCESS);
  CHECK(tessStreamDestroy(stream) == TESS_SUCCESS);
  CHECK(count == 50);
  CHECK(self.sync == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(self.destroy == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessStreamEnqueue(stream, [](void*) {}, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
}

TEST_CASE("stream entries validate their arguments") {
  CHECK(tessStreamCreate(nullptr, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessStreamSynchronize(nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessStreamDestroy(nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  tessStream_t stream = nullptr;
  REQUIRE(tessStreamCreate(nullptr, &stream) == TESS_SUCCESS);
  CHECK(tessStreamEnqueue(stream, nullptr, nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(tessGetLastErrorMessage()) == "tessStreamEnqueue: fn is NULL");
  CHECK(tessStreamDestroy(stream) == TESS_SUCCESS);
}
