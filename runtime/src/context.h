// The structures behind tessContext_t and tessMesh_t, shared by the files that use them.
#pragma once

#include <mutex>
#include <vector>

#include "internal.h"
#include "thread_pool.h"

struct tessContext_st {
  explicit tessContext_st(int threads) : pool(threads) {}

  struct Child {
    tessera::rt::HandleKind kind;
    void* handle;
  };

  tessera::rt::ThreadPool pool;
  std::mutex mutex;  // guards policy and children
  tessNumericsPolicy policy{1, 1, 1, 0};
  std::vector<Child> children;  // streams, pools and meshes to release at shutdown
  bool is_default = false;
};

struct tessMesh_st {
  tessContext_t ctx;
  tessMeshAxes axes;
  int devices[1];
};

namespace tessera::rt {
// ctx == NULL gives the default context; otherwise ctx must be live.
tessStatus_t resolve_context(tessContext_t ctx, const char* entry, tessContext_t* out);
void add_child(tessContext_t ctx, HandleKind kind, void* child);
void remove_child(tessContext_t ctx, void* child);
}  // namespace tessera::rt
