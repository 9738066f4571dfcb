// Contexts (thread pool, numerics policy, owned children), devices, meshes, tessParallelFor.
#include "context.h"

#include "aot_call.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace tessera::rt {
namespace {

constexpr int kMaxThreads = 1024;

// $TESSERA_NUM_THREADS when it is set (a bad value is an error of tessInit and of the calls
// that use the default context, see check_environment), else the hardware thread count.
int default_thread_count() {
  int n = 0;
  if (env_thread_count(kMaxThreads, &n, nullptr) && n > 0) return n;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min<unsigned>(hw, kMaxThreads));
}

tessStatus_t check_environment(const char* entry) {
  int n = 0;
  std::string error;
  if (!env_thread_count(kMaxThreads, &n, &error)) return fail(TESS_ERROR_INVALID_ARGUMENT, entry + (": " + error));
  return TESS_SUCCESS;
}

tessStatus_t check_context(tessContext_t ctx, const char* entry) {
  if (ctx == nullptr) return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: ctx is NULL", entry);
  if (!is_live_handle(HandleKind::kContext, ctx)) {
    return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: ctx is not a live context (destroyed, or never created)", entry);
  }
  return TESS_SUCCESS;
}

}  // namespace

tessContext_t default_context() {
  // Never destroyed: its workers may still be parked when the process exits, and joining
  // them from a static destructor could deadlock if exit() is called from a worker.
  static tessContext_t ctx = [] {
    auto* c = new tessContext_st(default_thread_count());
    c->is_default = true;
    register_handle(HandleKind::kContext, c);
    return c;
  }();
  return ctx;
}

tessStatus_t resolve_context(tessContext_t ctx, const char* entry, tessContext_t* out) {
  if (ctx == nullptr) {
    if (tessStatus_t s = check_environment(entry)) return s;
    *out = default_context();
    return TESS_SUCCESS;
  }
  if (tessStatus_t s = check_context(ctx, entry)) return s;
  *out = ctx;
  return TESS_SUCCESS;
}

void add_child(tessContext_t ctx, HandleKind kind, void* child) {
  std::lock_guard lock(ctx->mutex);
  ctx->children.push_back({kind, child});
}

void remove_child(tessContext_t ctx, void* child) {
  std::lock_guard lock(ctx->mutex);
  std::erase_if(ctx->children, [&](const tessContext_st::Child& c) { return c.handle == child; });
}

void parallel_for(tessContext_t ctx, int64_t begin, int64_t end, int64_t grain, void (*body)(int64_t, int64_t, void*),
                  void* data) {
  ctx->pool.run(begin, end, grain, body, data);
}

}  // namespace tessera::rt

using namespace tessera::rt;

extern "C" {

tessStatus_t tessInit(tessContext_t* ctx) {
  return guarded("tessInit", [&] {
    if (ctx == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessInit: ctx is NULL");
    if (tessStatus_t s = check_environment("tessInit")) return s;
    auto* c = new tessContext_st(default_thread_count());
    register_handle(HandleKind::kContext, c);
    *ctx = c;
    return TESS_SUCCESS;
  });
}

tessStatus_t tessShutdown(tessContext_t ctx) {
  return guarded("tessShutdown", [&] {
    if (tessStatus_t s = check_context(ctx, "tessShutdown")) return s;
    if (ctx->is_default) {
      return fail(TESS_ERROR_INVALID_ARGUMENT, "tessShutdown: the default context is owned by the runtime");
    }
    if (ThreadPool::in_parallel_region()) {
      return fail(TESS_ERROR_INVALID_ARGUMENT, "tessShutdown: called from inside a parallel loop");
    }
    unregister_handle(HandleKind::kContext, ctx);
    std::vector<tessContext_st::Child> children;
    {
      std::lock_guard lock(ctx->mutex);
      children.swap(ctx->children);
    }
    // Streams first: their queued work may still use pools and meshes.
    for (auto& c : children)
      if (c.kind == HandleKind::kStream) destroy_stream_now(static_cast<tessStream_t>(c.handle));
    for (auto& c : children)
      if (c.kind == HandleKind::kPool) destroy_pool_now(static_cast<tessMemPool_t>(c.handle));
    for (auto& c : children)
      if (c.kind == HandleKind::kMesh) destroy_mesh_now(static_cast<tessMesh_t>(c.handle));
    delete ctx;
    return TESS_SUCCESS;
  });
}

tessStatus_t tessGetDefaultContext(tessContext_t* ctx) {
  return guarded("tessGetDefaultContext", [&] {
    if (ctx == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessGetDefaultContext: ctx is NULL");
    if (tessStatus_t s = check_environment("tessGetDefaultContext")) return s;
    *ctx = default_context();
    return TESS_SUCCESS;
  });
}

tessStatus_t tessSetNumThreads(tessContext_t ctx, int num_threads) {
  return guarded("tessSetNumThreads", [&] {
    if (tessStatus_t s = check_context(ctx, "tessSetNumThreads")) return s;
    if (num_threads < 1 || num_threads > kMaxThreads) {
      return failf(TESS_ERROR_INVALID_ARGUMENT, "tessSetNumThreads: num_threads must be in [1, %d], got %d",
                   kMaxThreads, num_threads);
    }
    if (ThreadPool::in_parallel_region()) {
      return fail(TESS_ERROR_INVALID_ARGUMENT, "tessSetNumThreads: called from inside a parallel loop");
    }
    if (ctx->pool.threads() != num_threads) ctx->pool.resize(num_threads);
    return TESS_SUCCESS;
  });
}

tessStatus_t tessGetNumThreads(tessContext_t ctx, int* num_threads) {
  return guarded("tessGetNumThreads", [&] {
    if (tessStatus_t s = check_context(ctx, "tessGetNumThreads")) return s;
    if (num_threads == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessGetNumThreads: num_threads is NULL");
    *num_threads = ctx->pool.threads();
    return TESS_SUCCESS;
  });
}

tessStatus_t tessSetNumericsPolicy(tessContext_t ctx, const tessNumericsPolicy* policy) {
  return guarded("tessSetNumericsPolicy", [&] {
    if (tessStatus_t s = check_context(ctx, "tessSetNumericsPolicy")) return s;
    if (policy == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessSetNumericsPolicy: policy is NULL");
    const int32_t fields[] = {policy->stableReductions, policy->deterministic, policy->rngStateless,
                              policy->allowFastMath};
    const char* names[] = {"stableReductions", "deterministic", "rngStateless", "allowFastMath"};
    for (int i = 0; i < 4; ++i) {
      if (fields[i] != 0 && fields[i] != 1) {
        return failf(TESS_ERROR_INVALID_ARGUMENT, "tessSetNumericsPolicy: %s must be 0 or 1, got %d", names[i],
                     fields[i]);
      }
    }
    if (policy->deterministic && policy->allowFastMath) {
      return fail(TESS_ERROR_INVALID_ARGUMENT,
                  "tessSetNumericsPolicy: deterministic and allowFastMath cannot both be set (fast math may "
                  "reassociate reductions)");
    }
    std::lock_guard lock(ctx->mutex);
    ctx->policy = *policy;
    return TESS_SUCCESS;
  });
}

tessStatus_t tessGetNumericsPolicy(tessContext_t ctx, tessNumericsPolicy* policy) {
  return guarded("tessGetNumericsPolicy", [&] {
    if (tessStatus_t s = check_context(ctx, "tessGetNumericsPolicy")) return s;
    if (policy == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessGetNumericsPolicy: policy is NULL");
    std::lock_guard lock(ctx->mutex);
    *policy = ctx->policy;
    return TESS_SUCCESS;
  });
}

tessStatus_t tessDeviceCount(tessContext_t ctx, int* count) {
  return guarded("tessDeviceCount", [&] {
    if (tessStatus_t s = check_context(ctx, "tessDeviceCount")) return s;
    if (count == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessDeviceCount: count is NULL");
    *count = 1;
    return TESS_SUCCESS;
  });
}

tessStatus_t tessDeviceGetInfo(tessContext_t ctx, int device, tessDeviceInfo* info) {
  return guarded("tessDeviceGetInfo", [&] {
    if (tessStatus_t s = check_context(ctx, "tessDeviceGetInfo")) return s;
    if (info == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessDeviceGetInfo: info is NULL");
    if (device != 0) {
      return failf(TESS_ERROR_NO_DEVICE, "tessDeviceGetInfo: no device %d (the CPU runtime has device 0 only)", device);
    }
    std::memset(info, 0, sizeof *info);
    info->kind = TESS_DEVICE_CPU;
    info->id = 0;
    unsigned hw = std::thread::hardware_concurrency();
    info->numCores = hw == 0 ? 1 : static_cast<int32_t>(hw);
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    info->totalMemory = pages > 0 && page_size > 0 ? static_cast<uint64_t>(pages) * page_size : 0;
    std::strcpy(info->name, "cpu");
    return TESS_SUCCESS;
  });
}

tessStatus_t tessMeshCreate(tessContext_t ctx, const int* devices, int num_devices, tessMeshAxes axes,
                            tessMesh_t* mesh) {
  return guarded("tessMeshCreate", [&] {
    if (tessStatus_t s = check_context(ctx, "tessMeshCreate")) return s;
    if (mesh == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMeshCreate: mesh is NULL");
    if (devices == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMeshCreate: devices is NULL");
    if (num_devices < 1) {
      return failf(TESS_ERROR_INVALID_ARGUMENT, "tessMeshCreate: num_devices must be >= 1, got %d", num_devices);
    }
    if (axes.dp < 0 || axes.tp < 0 || axes.pp < 0) {
      return failf(TESS_ERROR_INVALID_ARGUMENT, "tessMeshCreate: negative mesh axis (dp=%d, tp=%d, pp=%d)", axes.dp,
                   axes.tp, axes.pp);
    }
    int64_t product = int64_t{axes.dp ? axes.dp : 1} * (axes.tp ? axes.tp : 1) * (axes.pp ? axes.pp : 1);
    if (product != num_devices) {
      return failf(TESS_ERROR_INVALID_ARGUMENT,
                   "tessMeshCreate: mesh axes dp=%d tp=%d pp=%d cover %lld devices, but %d were given", axes.dp,
                   axes.tp, axes.pp, static_cast<long long>(product), num_devices);
    }
    for (int i = 0; i < num_devices; ++i) {
      if (devices[i] != 0) {
        return failf(TESS_ERROR_NO_DEVICE,
                     "tessMeshCreate: no device %d (the CPU runtime has one device, id 0; a mesh of one process "
                     "is devices={0})",
                     devices[i]);
      }
    }
    if (num_devices > 1) {
      return failf(TESS_ERROR_NO_DEVICE,
                   "tessMeshCreate: device 0 listed %d times; the CPU runtime has one device, so a mesh has one",
                   num_devices);
    }
    auto* m = new tessMesh_st{ctx, axes, {0}};
    register_handle(HandleKind::kMesh, m);
    add_child(ctx, HandleKind::kMesh, m);
    *mesh = m;
    return TESS_SUCCESS;
  });
}

tessStatus_t tessMeshDestroy(tessMesh_t mesh) {
  return guarded("tessMeshDestroy", [&] {
    if (mesh == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMeshDestroy: mesh is NULL");
    if (!is_live_handle(HandleKind::kMesh, mesh)) {
      return fail(TESS_ERROR_INVALID_ARGUMENT,
                  "tessMeshDestroy: mesh is not a live mesh (destroyed, or never created)");
    }
    remove_child(mesh->ctx, mesh);
    destroy_mesh_now(mesh);
    return TESS_SUCCESS;
  });
}

static tessStatus_t parallel_for_entry(tessContext_t ctx, int64_t begin, int64_t end, int64_t grain,
                                       void (*body)(int64_t lo, int64_t hi, void* data), void* data) {
  return guarded("tessParallelFor", [&] {
    tessContext_t c = nullptr;
    if (tessStatus_t s = resolve_context(ctx, "tessParallelFor", &c)) return s;
    if (body == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessParallelFor: body is NULL");
    if (grain < 1) {
      return failf(TESS_ERROR_INVALID_ARGUMENT, "tessParallelFor: grain must be >= 1, got %lld",
                   static_cast<long long>(grain));
    }
    if (begin > end) {
      return failf(TESS_ERROR_INVALID_ARGUMENT, "tessParallelFor: begin %lld is after end %lld",
                   static_cast<long long>(begin), static_cast<long long>(end));
    }
    parallel_for(c, begin, end, grain, body, data);
    return TESS_SUCCESS;
  });
}

tessStatus_t tessParallelFor(tessContext_t ctx, int64_t begin, int64_t end, int64_t grain,
                             void (*body)(int64_t lo, int64_t hi, void* data), void* data) {
  tessStatus_t status = parallel_for_entry(ctx, begin, end, grain, body, data);
  // Inside a call of a `tesserac build` library (compiled code ignores this status): a loop
  // that cannot run, or a run-time error in one of its chunks, fails the call (aot_call.h).
  if (status != TESS_SUCCESS) record_failure(status, std::string("runtime error: ") + tessGetLastErrorMessage());
  unwind_if_failed();
  return status;
}

}  // extern "C"

namespace tessera::rt {
void destroy_mesh_now(tessMesh_t mesh) {
  unregister_handle(HandleKind::kMesh, mesh);
  delete mesh;
}
}  // namespace tessera::rt
