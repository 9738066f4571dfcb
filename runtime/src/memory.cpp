// The aligned host allocator (tessMalloc), memory pools with size classes and free lists, and
// the buffer cache of JIT-compiled code (tessBufferAlloc / tessBufferFree).
#include <malloc.h>
#include <sys/mman.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "context.h"
#include "memory.h"
#include "tessera/codegen_abi.h"

namespace tessera::rt {
namespace {

std::mutex g_alloc_mutex;
std::unordered_map<void*, size_t>& live_allocations() {
  static auto* map = new std::unordered_map<void*, size_t>();  // never destroyed: used until exit
  return *map;
}

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

tessStatus_t check_mesh(tessMesh_t mesh, const char* entry) {
  if (mesh != nullptr && !is_live_handle(HandleKind::kMesh, mesh)) {
    return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: mesh is not a live mesh (destroyed, or never created)", entry);
  }
  return TESS_SUCCESS;
}

}  // namespace

void* host_alloc(size_t size) {
  if (size == 0 || size > kMaxAllocation) return nullptr;
  void* p = std::aligned_alloc(TESS_ALIGNMENT, round_up(size, TESS_ALIGNMENT));
  if (p == nullptr) return nullptr;
  try {
    std::lock_guard lock(g_alloc_mutex);
    live_allocations().emplace(p, size);
  } catch (...) {
    std::free(p);
    return nullptr;
  }
  return p;
}

bool host_free(void* ptr) {
  {
    std::lock_guard lock(g_alloc_mutex);
    if (live_allocations().erase(ptr) == 0) return false;
  }
  std::free(ptr);
  return true;
}

size_t SizeClasses::index_of(size_t size) {
  if (size <= 256) return size == 0 ? 0 : (size - 1) / 64;
  // 2^k < size <= 2^(k+1), k >= 8: four classes per power of two, 2^k * {5,6,7,8}/4.
  int k = 63 - __builtin_clzll(static_cast<unsigned long long>(size - 1));
  size_t step = size_t{1} << (k - 2);
  size_t q = (size - (size_t{1} << k) + step - 1) / step;  // 1..4
  return 4 + static_cast<size_t>(k - 8) * 4 + (q - 1);
}

size_t SizeClasses::size_of(size_t index) {
  if (index < 4) return (index + 1) * 64;
  size_t k = 8 + (index - 4) / 4, q = (index - 4) % 4 + 1;
  return (size_t{1} << k) + q * (size_t{1} << (k - 2));
}

}  // namespace tessera::rt

using namespace tessera::rt;

struct tessMemPool_st {
  tessMemPool_st(tessContext_t c, double g) : ctx(c), growth(g) {}

  tessContext_t ctx;
  double growth;
  std::mutex mutex;
  size_t next_chunk = 0;  // size of the next chunk to reserve
  std::vector<void*> chunks;
  char* bump = nullptr;  // the unused tail of the newest chunk
  char* bump_end = nullptr;
  std::vector<std::vector<void*>> free_lists;  // by size class
  std::unordered_map<void*, size_t> live;      // block -> size class
  tessMemPoolStats stats{};

  ~tessMemPool_st() {
    for (void* c : chunks) host_free(c);
  }

  // Reserves a chunk of at least `block` bytes and makes it the bump region.
  bool grow(size_t block) {
    size_t size = next_chunk == 0 ? kMinPoolChunk : next_chunk;
    if (size < block) size = block;
    void* chunk = host_alloc(size);
    if (chunk == nullptr) return false;
    chunks.push_back(chunk);
    bump = static_cast<char*>(chunk);
    bump_end = bump + size;
    stats.bytesReserved += size;
    stats.numChunks += 1;
    double next = std::ceil(static_cast<double>(size) * growth);
    next_chunk = next >= static_cast<double>(kMaxAllocation) ? kMaxAllocation : round_up(static_cast<size_t>(next), 64);
    return true;
  }
};

namespace tessera::rt {
void destroy_pool_now(tessMemPool_t pool) {
  unregister_handle(HandleKind::kPool, pool);
  delete pool;
}
}  // namespace tessera::rt

extern "C" {

tessStatus_t tessMalloc(tessMesh_t mesh, size_t size, void** ptr) {
  return guarded("tessMalloc", [&] {
    if (ptr == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMalloc: ptr is NULL");
    *ptr = nullptr;
    if (tessStatus_t s = check_mesh(mesh, "tessMalloc")) return s;
    if (size == 0) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMalloc: size is 0");
    void* p = host_alloc(size);
    if (p == nullptr) return failf(TESS_ERROR_OUT_OF_MEMORY, "tessMalloc: cannot allocate %zu bytes", size);
    *ptr = p;
    return TESS_SUCCESS;
  });
}

tessStatus_t tessFree(tessMesh_t mesh, void* ptr) {
  return guarded("tessFree", [&] {
    if (tessStatus_t s = check_mesh(mesh, "tessFree")) return s;
    if (ptr == nullptr) return TESS_SUCCESS;
    if (!host_free(ptr)) {
      return failf(TESS_ERROR_INVALID_ARGUMENT, "tessFree: %p was not allocated by tessMalloc, or was freed already",
                   ptr);
    }
    return TESS_SUCCESS;
  });
}

tessStatus_t tessMemPoolCreate(tessMesh_t mesh, size_t initial_size, double growth_factor, tessMemPool_t* pool) {
  return guarded("tessMemPoolCreate", [&] {
    if (pool == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMemPoolCreate: pool is NULL");
    *pool = nullptr;
    if (tessStatus_t s = check_mesh(mesh, "tessMemPoolCreate")) return s;
    if (!(growth_factor >= 1.0) || !std::isfinite(growth_factor)) {
      return failf(TESS_ERROR_INVALID_ARGUMENT, "tessMemPoolCreate: growth_factor must be finite and >= 1, got %g",
                   growth_factor);
    }
    if (initial_size > kMaxAllocation) {
      return failf(TESS_ERROR_OUT_OF_MEMORY, "tessMemPoolCreate: initial_size %zu is too large", initial_size);
    }
    tessContext_t ctx = mesh ? mesh->ctx : default_context();
    auto* p = new tessMemPool_st(ctx, growth_factor);
    p->next_chunk = round_up(initial_size, 64);
    if (initial_size > 0 && !p->grow(p->next_chunk)) {
      delete p;
      return failf(TESS_ERROR_OUT_OF_MEMORY, "tessMemPoolCreate: cannot reserve %zu bytes", initial_size);
    }
    register_handle(HandleKind::kPool, p);
    if (!ctx->is_default) add_child(ctx, HandleKind::kPool, p);
    *pool = p;
    return TESS_SUCCESS;
  });
}

tessStatus_t tessMemPoolAlloc(tessMemPool_t pool, size_t size, void** ptr) {
  return guarded("tessMemPoolAlloc", [&] {
    if (ptr == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMemPoolAlloc: ptr is NULL");
    *ptr = nullptr;
    if (!is_live_handle(HandleKind::kPool, pool)) {
      return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMemPoolAlloc: pool is not a live memory pool");
    }
    if (size == 0) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMemPoolAlloc: size is 0");
    if (size > kMaxAllocation) return failf(TESS_ERROR_OUT_OF_MEMORY, "tessMemPoolAlloc: %zu bytes is too large", size);
    size_t cls = SizeClasses::index_of(size), block = SizeClasses::size_of(cls);
    std::lock_guard lock(pool->mutex);
    if (pool->free_lists.size() <= cls) pool->free_lists.resize(cls + 1);
    void* p = nullptr;
    if (!pool->free_lists[cls].empty()) {
      p = pool->free_lists[cls].back();
      pool->free_lists[cls].pop_back();
      pool->stats.numReused += 1;
    } else {
      if (static_cast<size_t>(pool->bump_end - pool->bump) < block && !pool->grow(block)) {
        return failf(TESS_ERROR_OUT_OF_MEMORY, "tessMemPoolAlloc: cannot reserve a chunk for %zu bytes", size);
      }
      p = pool->bump;
      pool->bump += block;
    }
    pool->live.emplace(p, cls);
    pool->stats.numAllocs += 1;
    pool->stats.bytesInUse += block;
    if (pool->stats.bytesInUse > pool->stats.peakBytesInUse) pool->stats.peakBytesInUse = pool->stats.bytesInUse;
    *ptr = p;
    return TESS_SUCCESS;
  });
}

tessStatus_t tessMemPoolFree(tessMemPool_t pool, void* ptr) {
  return guarded("tessMemPoolFree", [&] {
    if (!is_live_handle(HandleKind::kPool, pool)) {
      return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMemPoolFree: pool is not a live memory pool");
    }
    if (ptr == nullptr) return TESS_SUCCESS;
    std::lock_guard lock(pool->mutex);
    auto it = pool->live.find(ptr);
    if (it == pool->live.end()) {
      return failf(TESS_ERROR_INVALID_ARGUMENT,
                   "tessMemPoolFree: %p was not allocated from this pool, or was freed already", ptr);
    }
    size_t cls = it->second;
    pool->live.erase(it);
    pool->free_lists[cls].push_back(ptr);
    pool->stats.bytesInUse -= SizeClasses::size_of(cls);
    return TESS_SUCCESS;
  });
}

tessStatus_t tessMemPoolDestroy(tessMemPool_t pool) {
  return guarded("tessMemPoolDestroy", [&] {
    if (!is_live_handle(HandleKind::kPool, pool)) {
      return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMemPoolDestroy: pool is not a live memory pool");
    }
    if (!pool->ctx->is_default) remove_child(pool->ctx, pool);
    destroy_pool_now(pool);
    return TESS_SUCCESS;
  });
}

tessStatus_t tessMemPoolGetStats(tessMemPool_t pool, tessMemPoolStats* stats) {
  return guarded("tessMemPoolGetStats", [&] {
    if (!is_live_handle(HandleKind::kPool, pool)) {
      return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMemPoolGetStats: pool is not a live memory pool");
    }
    if (stats == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessMemPoolGetStats: stats is NULL");
    std::lock_guard lock(pool->mutex);
    *stats = pool->stats;
    return TESS_SUCCESS;
  });
}

}  // extern "C"

// --- The buffer cache of JIT-compiled code ----------------------------------------------------
// Blocks of at least kCachedMin bytes that compiled code frees are kept (newest last) and handed
// out again for a request of the same size. `live` maps each big block handed out to its size:
// a block the compiled code returns to its caller is released there with free() and its entry
// goes stale, so an entry is trusted only while the block's usable size still covers it, and
// entries are dropped wholesale past kMaxLive (their blocks are then freed, not cached).
namespace {

constexpr size_t kCachedMin = size_t{64} << 10;
constexpr size_t kMaxCachedBlocks = 64;
constexpr size_t kMaxLive = 4096;

struct BufferCache {
  std::mutex mutex;
  std::unordered_map<void*, size_t> live;
  std::vector<std::pair<void*, size_t>> cached;
  size_t cached_bytes = 0;
  size_t limit = 0;
};

BufferCache& buffer_cache() {
  static BufferCache* cache = [] {
    auto* c = new BufferCache();  // never destroyed: compiled code may free blocks until exit
    c->limit = size_t{1024} << 20;
    if (const char* env = std::getenv("TESSERA_BUFFER_CACHE_MB")) {
      char* end = nullptr;
      unsigned long long mb = std::strtoull(env, &end, 10);
      if (end != env && *end == '\0' && mb <= (1ull << 30)) c->limit = static_cast<size_t>(mb) << 20;
    }
    return c;
  }();
  return *cache;
}

// A block of at least kHugeMin bytes is aligned to 2 MiB and asks for transparent huge pages
// (where the kernel gives them only on request, as Debian's default "madvise"): a training
// step's big temporaries (a convolution's patches, attention scores) are read with large
// strides, and with 4 KiB pages nearly every access of a transposed read missed the TLB.
constexpr size_t kHugeMin = size_t{4} << 20;
constexpr size_t kHugePage = size_t{2} << 20;

void* big_block(size_t bytes) {
  if (bytes < kHugeMin) return std::malloc(bytes);
  size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* block = std::aligned_alloc(kHugePage, rounded);
  if (block != nullptr) (void)madvise(block, rounded, MADV_HUGEPAGE);
  return block;
}

void release_cached(BufferCache& c) {
  for (auto& [block, size] : c.cached) std::free(block);
  c.cached.clear();
  c.cached_bytes = 0;
}

}  // namespace

extern "C" {

void* tessBufferAlloc(uint64_t bytes) {
  if (bytes < kCachedMin) return std::malloc(bytes);
  BufferCache& c = buffer_cache();
  if (c.limit == 0) return std::malloc(bytes);
  std::lock_guard lock(c.mutex);
  for (size_t i = c.cached.size(); i-- > 0;) {
    if (c.cached[i].second != bytes) continue;
    void* block = c.cached[i].first;
    c.cached.erase(c.cached.begin() + static_cast<std::ptrdiff_t>(i));
    c.cached_bytes -= bytes;
    try {
      c.live[block] = bytes;
    } catch (...) {
      // Untracked: tessBufferFree then frees it.
    }
    return block;
  }
  void* block = big_block(bytes);
  if (block == nullptr && !c.cached.empty()) {  // the cache holds the memory: give it back first
    release_cached(c);
    block = big_block(bytes);
  }
  if (block == nullptr) return nullptr;
  try {
    if (c.live.size() >= kMaxLive) c.live.clear();
    c.live[block] = bytes;
  } catch (...) {
    // Untracked: tessBufferFree then frees it.
  }
  return block;
}

void tessBufferFree(void* block) {
  if (block == nullptr) return;
  size_t usable = malloc_usable_size(block);
  if (usable < kCachedMin) {
    std::free(block);
    return;
  }
  BufferCache& c = buffer_cache();
  std::lock_guard lock(c.mutex);
  auto it = c.live.find(block);
  if (it == c.live.end() || it->second > usable || it->second > c.limit) {
    if (it != c.live.end()) c.live.erase(it);
    std::free(block);
    return;
  }
  size_t bytes = it->second;
  c.live.erase(it);
  try {
    c.cached.emplace_back(block, bytes);
  } catch (...) {
    std::free(block);
    return;
  }
  c.cached_bytes += bytes;
  while (c.cached_bytes > c.limit || c.cached.size() > kMaxCachedBlocks) {
    std::free(c.cached.front().first);
    c.cached_bytes -= c.cached.front().second;
    c.cached.erase(c.cached.begin());
  }
}

}  // extern "C"
