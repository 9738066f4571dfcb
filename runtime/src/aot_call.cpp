// The error path of libraries built by `tesserac build` (aot_call.h): jump targets, the failure
// record of a call, and the entries tessAotInvoke, tessAotArgumentError, tessCodegenOutOfMemory.
#include "aot_call.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "internal.h"
#include "tessera/codegen_abi.h"

namespace tessera::rt {
namespace {

thread_local JumpTarget* t_target = nullptr;

constexpr int kMaxThreads = 1024;

}  // namespace

JumpTarget*& current_target() { return t_target; }

bool record_failure(tessStatus_t status, const std::string& message) {
  AotCall* call = current_call();
  if (call == nullptr) return false;
  std::lock_guard lock(call->mutex);
  if (!call->failed.load(std::memory_order_relaxed)) {
    try {
      call->message = message;
    } catch (...) {
      // Out of memory while recording the message: keep the status, lose the detail.
    }
    call->status = status;
    call->failed.store(true, std::memory_order_release);
  }
  return true;
}

void unwind_if_failed() {
  JumpTarget* target = t_target;
  if (target != nullptr && target->call->failed.load(std::memory_order_acquire)) std::longjmp(target->buf, 1);
}

void run_guarded(void (*body)(int64_t, int64_t, void*), int64_t lo, int64_t hi, void* data, AotCall* call) {
  if (call == nullptr) {
    body(lo, hi, data);
    return;
  }
  if (call->failed.load(std::memory_order_acquire)) return;  // the call has failed: skip the rest
  JumpTarget target;
  target.call = call;
  JumpTarget* saved = t_target;  // not changed after setjmp, so still valid after a longjmp
  t_target = &target;
  if (setjmp(target.buf) == 0) body(lo, hi, data);
  t_target = saved;
}

bool env_thread_count(int max, int* count, std::string* error) {
  const char* env = std::getenv("TESSERA_NUM_THREADS");
  if (env == nullptr) return true;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(env, &end, 10);
  bool digits = *env != '\0' && end != env && *end == '\0' && env[0] != ' ' && env[0] != '\t' && env[0] != '+';
  if (digits && errno == 0 && n >= 1 && n <= max) {
    *count = static_cast<int>(n);
    return true;
  }
  if (error != nullptr)
    *error = "TESSERA_NUM_THREADS='" + std::string(env) + "' is not a thread count: expected a whole number from 1 to " +
             std::to_string(max);
  return false;
}

}  // namespace tessera::rt

using namespace tessera::rt;

namespace {

// The entry's body, apart from the jump target of tessAotInvoke.
tessStatus_t check_environment() {
  int threads = 0;
  std::string error;
  if (!env_thread_count(kMaxThreads, &threads, &error)) return fail(TESS_ERROR_INVALID_ARGUMENT, error);
  return TESS_SUCCESS;
}

tessStatus_t finish_call(const AotCall& call) {
  if (!call.failed.load(std::memory_order_acquire)) return TESS_SUCCESS;
  return fail(call.status, call.message.empty() ? std::string("runtime error") : call.message);
}

std::string substitute(const char* message, int64_t got, int64_t expected) {
  std::string text = message ? message : "invalid argument";
  for (auto [key, value] : {std::pair<const char*, int64_t>{"{got}", got}, {"{expected}", expected}}) {
    for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at)) {
      std::string number = std::to_string(value);
      text.replace(at, std::strlen(key), number);
      at += number.size();
    }
  }
  return text;
}

}  // namespace

extern "C" {

int32_t tessAotInvoke(void (*body)(void** slots), void** slots) {
  tessClearLastError();
  if (tessStatus_t s = check_environment()) return s;
  AotCall call;
  JumpTarget target;
  target.call = &call;
  JumpTarget* saved = t_target;  // not changed after setjmp
  t_target = &target;
  if (setjmp(target.buf) == 0) body(slots);
  t_target = saved;
  return finish_call(call);
}

int32_t tessAotArgumentError(int32_t status, const char* message, int64_t got, int64_t expected) {
  return fail(static_cast<tessStatus_t>(status), substitute(message, got, expected));
}

void tessCodegenOutOfMemory(int64_t bytes) {
  char text[128];
  std::snprintf(text, sizeof text, "runtime error: out of memory: cannot allocate %llu bytes for a tensor",
                static_cast<unsigned long long>(bytes));
  if (record_failure(TESS_ERROR_OUT_OF_MEMORY, text)) unwind_if_failed();
  std::fflush(stdout);
  std::fprintf(stderr, "%s\n", text);
  std::fflush(stderr);
  std::_Exit(3);
}

}  // extern "C"
