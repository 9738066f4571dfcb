// The fixed thread pool behind tessParallelFor: static, grain-aligned partitioning.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace tessera::rt {

struct AotCall;
using LoopBody = void (*)(int64_t lo, int64_t hi, void* data);

// Chunk i of a loop of `blocks` grain-sized blocks cut into `chunks` chunks covers blocks
// [i*blocks/chunks, (i+1)*blocks/chunks). Exposed for tests.
struct Partition {
  int64_t begin, end, grain, blocks, chunks;
  Partition(int64_t begin, int64_t end, int64_t grain, int threads);
  int64_t lo(int64_t chunk) const;
  int64_t hi(int64_t chunk) const;
};

// threads - 1 workers plus the calling thread. One loop runs at a time; other callers wait.
// Loops started from inside a body run inline (the nested flag is per thread).
class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_.load(std::memory_order_relaxed); }
  // Stops the workers and starts `threads - 1` new ones, after the running loop ends.
  void resize(int threads);
  void run(int64_t begin, int64_t end, int64_t grain, LoopBody body, void* data);

  // True on the pool's workers and on a caller while it runs chunks of a loop.
  static bool in_parallel_region();

 private:
  struct Job {
    Partition part;
    LoopBody body;
    void* data;
    AotCall* call;  // the `tesserac build` library call running the loop, or null
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
    uint64_t published_ns = 0;  // with $TESSERA_POOL_STATS: when the caller published the job
  };
  void start_workers(int count);
  void stop_workers();
  void worker_main();
  static void work_on(Job& job, bool worker);

  std::atomic<int> threads_;
  std::mutex call_mutex_;  // held by the caller of the running loop, and by resize
  std::mutex mutex_;       // guards the fields below
  std::condition_variable wake_;
  std::condition_variable finished_;
  // Bumped (under mutex_) when a job is published; workers also read it without the lock
  // while they spin before sleeping.
  std::atomic<uint64_t> generation_{0};
  Job* job_ = nullptr;
  int busy_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace tessera::rt
