// The calls of a library built by `tesserac build`: each tess_<name> entry runs the compiled
// code through tessAotInvoke, which sets a jump target on the calling thread. A run-time error
// inside (tessCodegenFail and the entries that call it, an allocation that fails, a failed
// tessParallelFor) is recorded in the call and unwinds to the innermost target of its thread
// with longjmp: the call's own target on the calling thread, or the target the thread pool sets
// around each chunk it runs (on workers and on the caller alike). After the loop, the caller
// finds the recorded failure and unwinds to the call's target. The call then returns a status,
// and the message is the calling thread's last error (tessGetLastErrorMessage).
//
// longjmp skips the frames between the failure and the target, so those frames hold no C++
// object with a non-trivial destructor: the compiled code's frames, and the runtime's extern
// "C" entries, which record the failure from an inner function (whose locals are gone by then)
// and unwind as their last step (unwind_if_failed). Memory the compiled code allocated before
// the error is not freed (docs/runtime.md).
#pragma once

#include <atomic>
#include <csetjmp>
#include <cstdint>
#include <mutex>
#include <string>

#include "tessera/runtime.h"

namespace tessera::rt {

struct AotCall {
  std::atomic<bool> failed{false};
  std::mutex mutex;  // guards status and message
  tessStatus_t status = TESS_SUCCESS;
  std::string message;
};

struct JumpTarget {
  std::jmp_buf buf;
  AotCall* call = nullptr;
};

// The innermost jump target of this thread; null outside tess_<name> calls (tesserac run).
JumpTarget*& current_target();
inline AotCall* current_call() { return current_target() ? current_target()->call : nullptr; }

// Inside a call: records the failure (the first one wins) and returns true; the caller then
// unwinds (unwind_if_failed) once its own locals are gone. Outside: returns false.
bool record_failure(tessStatus_t status, const std::string& message);

// Inside a call that has failed (on any thread): longjmp to this thread's innermost target.
void unwind_if_failed();

// Runs body(lo, hi, data) under a jump target of its own when this thread is inside a call, so
// that a failure in it comes back here; skipped when the call has already failed. Used by the
// thread pool for every chunk, inline or not.
void run_guarded(void (*body)(int64_t, int64_t, void*), int64_t lo, int64_t hi, void* data, AotCall* call);

// $TESSERA_NUM_THREADS: true when unset, else when it is a whole number in [1, max] (stored in
// *count); else false with the message in *error.
bool env_thread_count(int max, int* count, std::string* error);

}  // namespace tessera::rt
