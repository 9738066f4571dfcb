// Measures how much native stack a recursive walk has used, so walks over
// user input stop with a diagnostic instead of overflowing the stack.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tessera {

class StackGuard {
 public:
  explicit StackGuard(size_t budget_bytes) : base_(address()), budget_(budget_bytes) {}

  // True once the stack has grown by more than the budget since construction.
  bool exhausted() const {
    uintptr_t here = address();
    uintptr_t used = base_ > here ? base_ - here : here - base_;
    return used > budget_;
  }

 private:
  static uintptr_t address() { return reinterpret_cast<uintptr_t>(__builtin_frame_address(0)); }

  uintptr_t base_;
  size_t budget_;
};

}  // namespace tessera
