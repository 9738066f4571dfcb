// Status strings, the per-thread last error message, and runtime errors raised by programs.
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_set>

#include "internal.h"

namespace tessera::rt {
namespace {

thread_local std::string t_last_error;

std::string vformat(const char* fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n < 0) return "(unformattable message)";
  std::string out(static_cast<size_t>(n), '\0');
  std::vsnprintf(out.data(), out.size() + 1, fmt, args);
  return out;
}

std::mutex g_handle_mutex;
std::unordered_set<const void*> g_handles[5];

}  // namespace

tessStatus_t fail(tessStatus_t status, std::string msg) {
  try {
    t_last_error = std::move(msg);
  } catch (...) {
    // Out of memory while recording the message: keep the status, lose the detail.
  }
  return status;
}

tessStatus_t failf(tessStatus_t status, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  try {
    t_last_error = vformat(fmt, args);
  } catch (...) {}
  va_end(args);
  return status;
}

void register_handle(HandleKind kind, const void* handle) {
  std::lock_guard lock(g_handle_mutex);
  g_handles[static_cast<int>(kind)].insert(handle);
}

void unregister_handle(HandleKind kind, const void* handle) {
  std::lock_guard lock(g_handle_mutex);
  g_handles[static_cast<int>(kind)].erase(handle);
}

bool is_live_handle(HandleKind kind, const void* handle) {
  if (handle == nullptr) return false;
  std::lock_guard lock(g_handle_mutex);
  return g_handles[static_cast<int>(kind)].count(handle) != 0;
}

tessStatus_t write_out(std::string_view text, char* buf, size_t cap, size_t* needed, const char* entry) {
  if (needed) *needed = text.size();
  if (buf == nullptr) {
    if (cap == 0) return TESS_SUCCESS;
    return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: buf is NULL but cap is %zu", entry, cap);
  }
  if (cap == 0) return failf(TESS_ERROR_BUFFER_TOO_SMALL, "%s: cap is 0, text needs %zu bytes", entry, text.size() + 1);
  size_t n = text.size() < cap ? text.size() : cap - 1;
  text.copy(buf, n);
  buf[n] = '\0';
  if (n < text.size()) {
    return failf(TESS_ERROR_BUFFER_TOO_SMALL, "%s: buffer of %zu bytes is too small, text needs %zu", entry, cap,
                 text.size() + 1);
  }
  return TESS_SUCCESS;
}

}  // namespace tessera::rt

using namespace tessera::rt;

extern "C" {

const char* tessGetErrorString(tessStatus_t status) {
  switch (status) {
    case TESS_SUCCESS: return "success";
    case TESS_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case TESS_ERROR_OUT_OF_MEMORY: return "out of memory";
    case TESS_ERROR_IO: return "i/o error";
    case TESS_ERROR_BAD_FILE: return "bad file format";
    case TESS_ERROR_SHAPE_MISMATCH: return "shape mismatch";
    case TESS_ERROR_DTYPE_MISMATCH: return "dtype mismatch";
    case TESS_ERROR_NO_DEVICE: return "no such device";
    case TESS_ERROR_NOT_SUPPORTED: return "not supported";
    case TESS_ERROR_NOT_FOUND: return "not found";
    case TESS_ERROR_BUFFER_TOO_SMALL: return "buffer too small";
    case TESS_ERROR_RUNTIME: return "runtime error";
    case TESS_ERROR_INTERNAL: return "internal runtime error";
    case TESS_STATUS_MAX_ENUM: break;
  }
  return "unknown status";
}

const char* tessGetLastErrorMessage(void) { return t_last_error.c_str(); }

void tessClearLastError(void) { t_last_error.clear(); }

tessStatus_t tessRuntimeError(const char* fmt, ...) {
  if (fmt == nullptr) return fail(TESS_ERROR_RUNTIME, "unknown error");
  va_list args;
  va_start(args, fmt);
  try {
    t_last_error = vformat(fmt, args);
  } catch (...) {}
  va_end(args);
  return TESS_ERROR_RUNTIME;
}

tessStatus_t tessFormatRuntimeError(tessStatus_t status, char* buf, size_t cap, size_t* needed) {
  return guarded("tessFormatRuntimeError", [&] {
    std::string saved = t_last_error;
    std::string detail = saved.empty() ? std::string(tessGetErrorString(status)) : saved;
    tessStatus_t s = write_out("runtime error: " + detail, buf, cap, needed, "tessFormatRuntimeError");
    // A short buffer must not replace the message being formatted: the caller retries with
    // a larger one.
    t_last_error = std::move(saved);
    return s;
  });
}

tessStatus_t tessPrintRuntimeError(tessStatus_t status) {
  return guarded("tessPrintRuntimeError", [&] {
    std::string line = "runtime error: ";
    line += t_last_error.empty() ? tessGetErrorString(status) : t_last_error;
    line += '\n';
    std::fflush(stdout);
    if (std::fwrite(line.data(), 1, line.size(), stderr) != line.size()) {
      return fail(TESS_ERROR_IO, "tessPrintRuntimeError: cannot write to stderr");
    }
    std::fflush(stderr);
    return TESS_SUCCESS;
  });
}

}  // extern "C"
