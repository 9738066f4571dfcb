// The thread pool: workers wait for a loop, claim its chunks, and report back to the caller.
#include "thread_pool.h"

#include <algorithm>

#include "aot_call.h"

namespace tessera::rt {
namespace {
thread_local bool t_in_parallel = false;

// Marks the current thread as running loop bodies for the lifetime of the guard.
struct ParallelRegion {
  bool saved = t_in_parallel;
  ParallelRegion() { t_in_parallel = true; }
  ~ParallelRegion() { t_in_parallel = saved; }
};
}  // namespace

Partition::Partition(int64_t begin, int64_t end, int64_t grain, int threads) : begin(begin), end(end), grain(grain) {
  // Unsigned arithmetic: end - begin may exceed INT64_MAX for a range across zero.
  uint64_t n = static_cast<uint64_t>(end) - static_cast<uint64_t>(begin);
  uint64_t g = static_cast<uint64_t>(grain);
  uint64_t b = n / g + (n % g != 0 ? 1 : 0);
  blocks = static_cast<int64_t>(std::min<uint64_t>(b, INT64_MAX));
  chunks = std::min<int64_t>(threads, blocks);
}

int64_t Partition::lo(int64_t chunk) const {
  // chunk * blocks fits in 128 bits; blocks * grain may exceed the range, so clamp to end.
  __int128 block = static_cast<__int128>(chunk) * blocks / chunks;
  __int128 at = static_cast<__int128>(begin) + block * grain;
  return at >= end ? end : static_cast<int64_t>(at);
}

int64_t Partition::hi(int64_t chunk) const { return chunk + 1 == chunks ? end : lo(chunk + 1); }

ThreadPool::ThreadPool(int threads) : threads_(threads) { start_workers(threads - 1); }

ThreadPool::~ThreadPool() {
  std::lock_guard call(call_mutex_);
  stop_workers();
}

bool ThreadPool::in_parallel_region() { return t_in_parallel; }

void ThreadPool::start_workers(int count) {
  {
    std::lock_guard lock(mutex_);
    stop_ = false;
  }
  workers_.reserve(count);
  for (int i = 0; i < count; ++i) workers_.emplace_back([this] { worker_main(); });
}

void ThreadPool::stop_workers() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void ThreadPool::resize(int threads) {
  std::lock_guard call(call_mutex_);
  stop_workers();
  threads_.store(threads, std::memory_order_relaxed);
  start_workers(threads - 1);
}

void ThreadPool::work_on(Job& job) {
  for (;;) {
    int64_t i = job.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= job.part.chunks) return;
    run_guarded(job.body, job.part.lo(i), job.part.hi(i), job.data, job.call);
    job.done.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::worker_main() {
  t_in_parallel = true;
  uint64_t seen = 0;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || (job_ != nullptr && generation_ != seen); });
    if (stop_) return;
    seen = generation_;
    Job* job = job_;
    ++busy_;
    lock.unlock();
    work_on(*job);
    lock.lock();
    --busy_;
    finished_.notify_all();
  }
}

void ThreadPool::run(int64_t begin, int64_t end, int64_t grain, LoopBody body, void* data) {
  if (begin >= end) return;
  int threads = this->threads();
  Partition part(begin, end, grain, threads);
  // Inside a call of a `tesserac build` library, every chunk runs under a jump target of its
  // thread, so a run-time error in a body comes back to the pool (aot_call.h).
  AotCall* call = current_call();
  if (part.chunks <= 1 || t_in_parallel) {
    run_guarded(body, begin, end, data, call);
    return;
  }
  std::lock_guard turn(call_mutex_);
  // The thread count may have changed while waiting for the pool; repartition.
  part = Partition(begin, end, grain, this->threads());
  if (part.chunks <= 1) {
    run_guarded(body, begin, end, data, call);
    return;
  }
  Job job{part, body, data, call};
  {
    std::lock_guard lock(mutex_);
    job_ = &job;
    ++generation_;
  }
  wake_.notify_all();
  {
    ParallelRegion region;
    work_on(job);
  }
  std::unique_lock lock(mutex_);
  finished_.wait(lock, [&] { return job.done.load(std::memory_order_acquire) == job.part.chunks; });
  // No worker may touch the job after it goes out of scope: hide it from late wakers and
  // wait for the ones still inside work_on.
  job_ = nullptr;
  finished_.wait(lock, [&] { return busy_ == 0; });
}

}  // namespace tessera::rt
