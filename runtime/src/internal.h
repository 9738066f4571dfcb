// Helpers shared by the runtime's translation units: errors, guarded entries, handles, output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <string_view>

#include "tessera/runtime.h"

namespace tessera::rt {

// Stores msg as this thread's last error message and returns status, so that every failure
// path reads `return fail(TESS_ERROR_..., "...")`.
tessStatus_t fail(tessStatus_t status, std::string msg);
tessStatus_t failf(tessStatus_t status, const char* fmt, ...) TESS_PRINTF_LIKE(2, 3);

// Runs the body of an entry point and turns any C++ exception into a status, so that none
// crosses the C ABI.
template <class F>
tessStatus_t guarded(const char* entry, F&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return failf(TESS_ERROR_OUT_OF_MEMORY, "%s: out of memory", entry);
  } catch (...) {
    return failf(TESS_ERROR_INTERNAL, "%s: internal error (unexpected exception)", entry);
  }
}

// Live handles of each kind. A handle is registered at creation and removed at destruction,
// so entries can reject unknown or destroyed handles instead of crashing.
enum class HandleKind { kContext, kMesh, kStream, kPool, kNpz };
void register_handle(HandleKind kind, const void* handle);
void unregister_handle(HandleKind kind, const void* handle);
bool is_live_handle(HandleKind kind, const void* handle);

// Host allocation with TESS_ALIGNMENT and bookkeeping (tessMalloc/tessFree use these).
// Returns nullptr when out of memory; size must be > 0.
void* host_alloc(size_t size);
// Returns false if ptr is not a live host_alloc pointer.
bool host_free(void* ptr);

// Writes text to a caller buffer following the tessFormat* convention (runtime.h).
tessStatus_t write_out(std::string_view text, char* buf, size_t cap, size_t* needed, const char* entry);

// The context every NULL-context call uses (created on first use).
tessContext_t default_context();

// Runs body over [begin, end) on the pool of ctx (already validated, not NULL).
void parallel_for(tessContext_t ctx, int64_t begin, int64_t end, int64_t grain, void (*body)(int64_t, int64_t, void*),
                  void* data);

// Called by tessShutdown for each child the context still owns.
void destroy_stream_now(tessStream_t stream);
void destroy_pool_now(tessMemPool_t pool);
void destroy_mesh_now(tessMesh_t mesh);

}  // namespace tessera::rt
