// Streams: ordered work queues, each drained by its own worker thread; async memcpy.
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "context.h"

namespace {

// One queued item: a host function, or a copy when fn is NULL.
struct Task {
  void (*fn)(void*);
  void* user_data;
  void* dst;
  const void* src;
  size_t size;
};

thread_local const tessStream_st* t_current_stream = nullptr;

}  // namespace

struct tessStream_st {
  tessContext_t ctx;
  std::mutex mutex;
  std::condition_variable work_ready;
  std::condition_variable drained;
  std::deque<Task> queue;
  bool running = false;  // the worker is executing a task taken from the queue
  bool stop = false;
  std::thread worker;

  explicit tessStream_st(tessContext_t c) : ctx(c) {
    worker = std::thread([this] { main(); });
  }

  void main() {
    t_current_stream = this;
    std::unique_lock lock(mutex);
    for (;;) {
      work_ready.wait(lock, [&] { return stop || !queue.empty(); });
      if (queue.empty()) return;  // stop requested and nothing left to run
      Task task = queue.front();
      queue.pop_front();
      running = true;
      lock.unlock();
      if (task.fn) {
        task.fn(task.user_data);
      } else {
        std::memmove(task.dst, task.src, task.size);
      }
      lock.lock();
      running = false;
      if (queue.empty()) drained.notify_all();
    }
  }

  void push(const Task& task) {
    {
      std::lock_guard lock(mutex);
      queue.push_back(task);
    }
    work_ready.notify_one();
  }

  void synchronize() {
    std::unique_lock lock(mutex);
    drained.wait(lock, [&] { return queue.empty() && !running; });
  }

  // Runs what is queued, then stops and joins the worker.
  ~tessStream_st() {
    {
      std::lock_guard lock(mutex);
      stop = true;
    }
    work_ready.notify_all();
    worker.join();
  }
};

namespace tessera::rt {

void destroy_stream_now(tessStream_t stream) {
  unregister_handle(HandleKind::kStream, stream);
  delete stream;
}

}  // namespace tessera::rt

using namespace tessera::rt;

namespace {

tessStatus_t check_stream(tessStream_t stream, const char* entry) {
  if (stream == nullptr) return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: stream is NULL", entry);
  if (!is_live_handle(HandleKind::kStream, stream)) {
    return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: stream is not a live stream (destroyed, or never created)", entry);
  }
  return TESS_SUCCESS;
}

}  // namespace

extern "C" {

tessStatus_t tessStreamCreate(tessContext_t ctx, tessStream_t* stream) {
  return guarded("tessStreamCreate", [&] {
    if (stream == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessStreamCreate: stream is NULL");
    *stream = nullptr;
    tessContext_t c = nullptr;
    if (tessStatus_t s = resolve_context(ctx, "tessStreamCreate", &c)) return s;
    auto* st = new tessStream_st(c);
    register_handle(HandleKind::kStream, st);
    if (!c->is_default) add_child(c, HandleKind::kStream, st);
    *stream = st;
    return TESS_SUCCESS;
  });
}

tessStatus_t tessStreamDestroy(tessStream_t stream) {
  return guarded("tessStreamDestroy", [&] {
    if (tessStatus_t s = check_stream(stream, "tessStreamDestroy")) return s;
    if (t_current_stream == stream) {
      return fail(TESS_ERROR_INVALID_ARGUMENT, "tessStreamDestroy: a stream cannot destroy itself from its own work");
    }
    if (!stream->ctx->is_default) remove_child(stream->ctx, stream);
    destroy_stream_now(stream);
    return TESS_SUCCESS;
  });
}

tessStatus_t tessStreamSynchronize(tessStream_t stream) {
  return guarded("tessStreamSynchronize", [&] {
    if (tessStatus_t s = check_stream(stream, "tessStreamSynchronize")) return s;
    if (t_current_stream == stream) {
      return fail(TESS_ERROR_INVALID_ARGUMENT,
                  "tessStreamSynchronize: a stream cannot wait for itself from its own work (it would deadlock)");
    }
    stream->synchronize();
    return TESS_SUCCESS;
  });
}

tessStatus_t tessStreamEnqueue(tessStream_t stream, void (*fn)(void* user_data), void* user_data) {
  return guarded("tessStreamEnqueue", [&] {
    if (tessStatus_t s = check_stream(stream, "tessStreamEnqueue")) return s;
    if (fn == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessStreamEnqueue: fn is NULL");
    stream->push(Task{fn, user_data, nullptr, nullptr, 0});
    return TESS_SUCCESS;
  });
}

tessStatus_t tessMemcpyAsync(void* dst, const void* src, size_t size, tessCopyKind kind, tessStream_t stream) {
  return guarded("tessMemcpyAsync", [&] {
    if (kind != TESS_COPY_H2H && kind != TESS_COPY_H2D && kind != TESS_COPY_D2H && kind != TESS_COPY_D2D) {
      return failf(TESS_ERROR_INVALID_ARGUMENT, "tessMemcpyAsync: invalid copy kind %d", static_cast<int>(kind));
    }
    if (stream != nullptr) {
      if (tessStatus_t s = check_stream(stream, "tessMemcpyAsync")) return s;
    }
    if (size == 0) return TESS_SUCCESS;
    if (dst == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMemcpyAsync: dst is NULL");
    if (src == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMemcpyAsync: src is NULL");
    if (stream == nullptr) {
      std::memmove(dst, src, size);
    } else {
      stream->push(Task{nullptr, nullptr, dst, src, size});
    }
    return TESS_SUCCESS;
  });
}

}  // extern "C"
