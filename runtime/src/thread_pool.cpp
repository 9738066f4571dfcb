// The thread pool: workers wait for a loop, claim its chunks, and report back to the caller.
#include "thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "aot_call.h"

namespace tessera::rt {
namespace {
thread_local bool t_in_parallel = false;

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// $TESSERA_POOL_STATS=1: per-region timings of the pool, summed over the process and printed to
// stderr at exit (docs/runtime.md). Off, a region costs one branch more.
// Every member is trivially destructible (workers may still count after static destruction
// begins); the summary is printed by an atexit handler, not a destructor.
struct PoolStats {
  bool enabled = false;
  std::atomic<uint64_t> regions{0}, chunks{0}, thread_slots{0};
  std::atomic<uint64_t> wall_ns{0};       // caller: job published .. all chunks done and workers out
  std::atomic<uint64_t> capacity_ns{0};   // wall x threads of the region
  std::atomic<uint64_t> busy_ns{0};       // inside loop bodies, all threads
  std::atomic<uint64_t> start_ns{0};      // workers: job published .. their first chunk starts
  std::atomic<uint64_t> starts{0};        // workers that ran at least one chunk
  std::atomic<uint64_t> join_ns{0};       // caller: its last chunk done .. region over
  std::atomic<uint64_t> max_wall_ns{0};
  void print() const {
    uint64_t n = regions.load();
    if (n == 0) return;
    double wall = wall_ns.load() * 1e-3, cap = capacity_ns.load() * 1e-3, busy = busy_ns.load() * 1e-3;
    uint64_t s = starts.load();
    std::fprintf(stderr,
                 "tessera pool: %llu parallel regions, %.1f threads each on average, %llu chunks\n"
                 "  wall %.1f us per region (longest %.1f us); work %.1f us per chunk\n"
                 "  fork: %.1f us from publishing a region to a worker's first chunk (mean of %llu starts)\n"
                 "  join: %.1f us from the caller's last chunk to the region's end\n"
                 "  idle: %.1f%% of the threads' time in regions (waiting to start, or for the slowest chunk)\n",
                 static_cast<unsigned long long>(n), double(thread_slots.load()) / n,
                 static_cast<unsigned long long>(chunks.load()), wall / n, max_wall_ns.load() * 1e-3,
                 busy / std::max<uint64_t>(1, chunks.load()), s ? start_ns.load() * 1e-3 / s : 0.0,
                 static_cast<unsigned long long>(s), join_ns.load() * 1e-3 / n, cap > 0 ? 100.0 * (1 - busy / cap) : 0.0);
  }
};
PoolStats g_stats;

[[maybe_unused]] const bool g_stats_registered = [] {
  const char* v = std::getenv("TESSERA_POOL_STATS");
  g_stats.enabled = v != nullptr && std::strcmp(v, "") != 0 && std::strcmp(v, "0") != 0;
  if (g_stats.enabled) std::atexit([] { g_stats.print(); });
  return true;
}();

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

void ThreadPool::work_on(Job& job, bool worker) {
  bool first = true;
  for (;;) {
    int64_t i = job.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= job.part.chunks) return;
    uint64_t t0 = 0;
    if (g_stats.enabled) {
      t0 = now_ns();
      if (worker && first) {
        g_stats.start_ns += t0 - job.published_ns;
        ++g_stats.starts;
      }
      first = false;
    }
    run_guarded(job.body, job.part.lo(i), job.part.hi(i), job.data, job.call);
    if (g_stats.enabled) g_stats.busy_ns += now_ns() - t0;
    job.done.fetch_add(1, std::memory_order_acq_rel);
  }
}

// How long a worker keeps polling for the next region after finishing one before it sleeps on
// the condition variable. Generated code runs many short regions back to back (a training step
// has over a hundred); waking a sleeping worker took about 100 us on the 2-vCPU VMs
// (TESSERA_POOL_STATS), polling takes well under 1 us. Bounded, so an idle pool stops using the
// cores within this time.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(200);

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

void ThreadPool::worker_main() {
  t_in_parallel = true;
  uint64_t seen = 0;
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!stop_ && generation_.load(std::memory_order_relaxed) == seen) {
      lock.unlock();
      auto deadline = std::chrono::steady_clock::now() + kSpinBeforeSleep;
      for (int i = 0; generation_.load(std::memory_order_acquire) == seen; ++i) {
        cpu_relax();
        if ((i & 63) == 63 && std::chrono::steady_clock::now() > deadline) break;
      }
      lock.lock();
    }
    wake_.wait(lock, [&] { return stop_ || (job_ != nullptr && generation_ != seen); });
    if (stop_) return;
    seen = generation_.load(std::memory_order_relaxed);
    Job* job = job_;
    ++busy_;
    lock.unlock();
    work_on(*job, /*worker=*/true);
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
  if (g_stats.enabled) job.published_ns = now_ns();
  {
    std::lock_guard lock(mutex_);
    job_ = &job;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  {
    ParallelRegion region;
    work_on(job, /*worker=*/false);
  }
  uint64_t caller_done = g_stats.enabled ? now_ns() : 0;
  // The caller polls for the workers' last chunks and their exit from the job before it sleeps
  // (as a worker polls for the next region): sleeping on the condition variable cost a wake-up
  // of ~50-100 us on the 2-vCPU VMs at every region whose last chunk was a worker's, and a
  // training step of short regions (the digits CNN) ran slower on 2 threads than on 1.
  auto deadline = std::chrono::steady_clock::now() + kSpinBeforeSleep;
  std::unique_lock lock(mutex_);
  for (int i = 0; job.done.load(std::memory_order_acquire) != job.part.chunks || busy_ != 0; ++i) {
    lock.unlock();
    cpu_relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > deadline) {
      lock.lock();
      break;
    }
    lock.lock();
  }
  finished_.wait(lock, [&] { return job.done.load(std::memory_order_acquire) == job.part.chunks; });
  // No worker may touch the job after it goes out of scope: hide it from late wakers and
  // wait for the ones still inside work_on.
  job_ = nullptr;
  finished_.wait(lock, [&] { return busy_ == 0; });
  if (g_stats.enabled) {
    uint64_t end = now_ns(), wall = end - job.published_ns;
    ++g_stats.regions;
    g_stats.chunks += static_cast<uint64_t>(job.part.chunks);
    uint64_t pool_threads = static_cast<uint64_t>(this->threads());
    g_stats.thread_slots += pool_threads;
    g_stats.wall_ns += wall;
    g_stats.capacity_ns += wall * pool_threads;
    g_stats.join_ns += end - caller_done;
    uint64_t longest = g_stats.max_wall_ns.load();
    while (wall > longest && !g_stats.max_wall_ns.compare_exchange_weak(longest, wall)) {
    }
  }
}

}  // namespace tessera::rt
