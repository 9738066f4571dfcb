// The entry points of tessera/codegen_abi.h: what compiled programs call to print and to draw
// random numbers. Thin adapters from MLIR's memref calling convention to the runtime's API.
#include "tessera/codegen_abi.h"

#include "aot_call.h"

#include <map>
#include <mutex>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace {

// The line being built by print(...) on this thread.
struct Line {
  std::vector<tessValue> values;
  std::vector<std::unique_ptr<std::string>> strings;
  std::vector<std::unique_ptr<tessTensor>> tensors;

  void clear() {
    values.clear();
    strings.clear();
    tensors.clear();
  }
};

thread_local Line line;

void add(tessValue v) { line.values.push_back(v); }

// The ranked descriptor that an unranked memref points to.
struct Descriptor {
  void* allocated;
  void* aligned;
  int64_t offset;
  int64_t sizes_and_strides[1];  // sizes[rank] then strides[rank]
};

void add_memref(tessDType dtype, int64_t rank, void* descriptor) {
  if (descriptor == nullptr || rank < 0 || rank > TESS_MAX_RANK) {
    std::string text = "<invalid tensor>";
    line.strings.push_back(std::make_unique<std::string>(text));
    add(tessValue{TESS_VALUE_STR, 0, 0, 0.0, line.strings.back()->c_str()});
    return;
  }
  auto* d = static_cast<Descriptor*>(descriptor);
  const int64_t* sizes = d->sizes_and_strides;
  const int64_t* strides = d->sizes_and_strides + rank;
  auto* base = static_cast<char*>(d->aligned) + d->offset * static_cast<int64_t>(tessDTypeSize(dtype));
  auto t = std::make_unique<tessTensor>();
  if (tessTensorWrap(dtype, static_cast<int32_t>(rank), sizes, strides, base, t.get()) != TESS_SUCCESS) {
    line.strings.push_back(std::make_unique<std::string>("<invalid tensor>"));
    add(tessValue{TESS_VALUE_STR, 0, 0, 0.0, line.strings.back()->c_str()});
    return;
  }
  line.tensors.push_back(std::move(t));
  add(tessValue{TESS_VALUE_TENSOR, static_cast<int32_t>(rank), 0, 0.0, line.tensors.back().get()});
}

}  // namespace

extern "C" {

void tessPrintBeginLine(void) { line.clear(); }

void tessPrintEndLine(void) {
  tessStatus_t s = tessPrintValues(line.values.data(), line.values.size());
  line.clear();
  if (s != TESS_SUCCESS) tessPrintRuntimeError(s);  // "runtime error: ..." on stderr
}

void tessPrintAddStr(const char* allocated, const char* aligned, int64_t offset, int64_t size, int64_t stride) {
  (void)allocated;
  std::string text;
  if (aligned != nullptr && size > 0) {
    text.reserve(static_cast<size_t>(size));
    for (int64_t i = 0; i < size; ++i) text.push_back(aligned[offset + i * stride]);
  }
  line.strings.push_back(std::make_unique<std::string>(std::move(text)));
  add(tessValue{TESS_VALUE_STR, 0, 0, 0.0, line.strings.back()->c_str()});
}

void tessPrintAddI64(int64_t value) { add(tessValue{TESS_VALUE_I64, 0, value, 0.0, nullptr}); }
void tessPrintAddF64(double value) { add(tessValue{TESS_VALUE_F64, 0, 0, value, nullptr}); }
void tessPrintAddF32(float value) { add(tessValue{TESS_VALUE_F32, 0, 0, static_cast<double>(value), nullptr}); }
void tessPrintAddBool(int32_t value) { add(tessValue{TESS_VALUE_BOOL, 0, value != 0, 0.0, nullptr}); }

void tessPrintAddMemref_f32(int64_t rank, void* d) { add_memref(TESS_F32, rank, d); }
void tessPrintAddMemref_f64(int64_t rank, void* d) { add_memref(TESS_F64, rank, d); }
void tessPrintAddMemref_f16(int64_t rank, void* d) { add_memref(TESS_F16, rank, d); }
void tessPrintAddMemref_bf16(int64_t rank, void* d) { add_memref(TESS_BF16, rank, d); }
void tessPrintAddMemref_i1(int64_t rank, void* d) { add_memref(TESS_BOOL, rank, d); }
void tessPrintAddMemref_i8(int64_t rank, void* d) { add_memref(TESS_I8, rank, d); }
void tessPrintAddMemref_i16(int64_t rank, void* d) { add_memref(TESS_I16, rank, d); }
void tessPrintAddMemref_i32(int64_t rank, void* d) { add_memref(TESS_I32, rank, d); }
void tessPrintAddMemref_i64(int64_t rank, void* d) { add_memref(TESS_I64, rank, d); }

}  // extern "C"

namespace {

// Fills n elements `stride` apart with the stream of (seed, offset); contiguous buffers are
// filled in place, strided ones through a temporary.
template <class T>
void fill_random(int64_t seed, int64_t offset, int32_t normal, T* aligned, int64_t start, int64_t size, int64_t stride,
                 tessStatus_t (*uniform)(uint64_t, uint64_t, size_t, T*),
                 tessStatus_t (*gaussian)(uint64_t, uint64_t, size_t, T*)) {
  if (aligned == nullptr || size <= 0) return;
  auto fill = normal ? gaussian : uniform;
  T* out = aligned + start;
  tessStatus_t s;
  if (stride == 1) {
    s = fill(static_cast<uint64_t>(seed), static_cast<uint64_t>(offset), static_cast<size_t>(size), out);
  } else {
    std::vector<T> tmp(static_cast<size_t>(size));
    s = fill(static_cast<uint64_t>(seed), static_cast<uint64_t>(offset), tmp.size(), tmp.data());
    for (int64_t i = 0; i < size; ++i) out[i * stride] = tmp[static_cast<size_t>(i)];
  }
  if (s != TESS_SUCCESS) tessPrintRuntimeError(s);
}

}  // namespace

extern "C" {

void tessFillRandom_f32(int64_t seed, int64_t offset, int32_t normal, float* allocated, float* aligned, int64_t start,
                        int64_t size, int64_t stride) {
  (void)allocated;
  fill_random(seed, offset, normal, aligned, start, size, stride, tessRandUniformF32, tessRandNormalF32);
}

void tessFillRandom_f64(int64_t seed, int64_t offset, int32_t normal, double* allocated, double* aligned, int64_t start,
                        int64_t size, int64_t stride) {
  (void)allocated;
  fill_random(seed, offset, normal, aligned, start, size, stride, tessRandUniformF64, tessRandNormalF64);
}

}  // extern "C"

namespace {

tessCodegenErrorHandler g_error_handler = nullptr;

// A run-time error of compiled code. Inside a call of a library built by `tesserac build`, it
// is recorded and the extern "C" entry unwinds at its end (unwind_if_failed, aot_call.h), once
// the locals of this and the inner functions are gone. Elsewhere: tessCodegenFail.
void report(const std::string& message) {
  if (tessera::rt::record_failure(TESS_ERROR_RUNTIME, message)) return;
  tessCodegenFail(message.c_str());
}

// The memref an unranked descriptor describes, as a tensor view; false when it is malformed.
bool wrap_memref(tessDType dtype, int64_t rank, void* descriptor, tessTensor* t) {
  if (descriptor == nullptr || rank < 0 || rank > TESS_MAX_RANK) return false;
  auto* d = static_cast<Descriptor*>(descriptor);
  const int64_t* sizes = d->sizes_and_strides;
  const int64_t* strides = d->sizes_and_strides + rank;
  auto* base = static_cast<char*>(d->aligned) + d->offset * static_cast<int64_t>(tessDTypeSize(dtype));
  return tessTensorWrap(dtype, static_cast<int32_t>(rank), sizes, strides, base, t) == TESS_SUCCESS;
}

std::string memref_string(const char* aligned, int64_t offset, int64_t size, int64_t stride) {
  std::string text;
  if (aligned != nullptr && size > 0)
    for (int64_t i = 0; i < size; ++i) text.push_back(aligned[offset + i * stride]);
  return text;
}

// An open load: the file's tensor, or the declared shape after a failure that a handler let pass.
struct LoadHandle {
  tessTensor tensor{};
  bool ok = false;
  std::vector<int64_t> declared;
};

void finish_load(int64_t handle, tessDType dtype, int64_t rank, void* descriptor) {
  auto* h = reinterpret_cast<LoadHandle*>(handle);
  tessTensor out{};
  if (wrap_memref(dtype, rank, descriptor, &out)) {
    size_t n = 1;
    for (int32_t i = 0; i < out.rank; ++i) n *= static_cast<size_t>(out.shape[i]);
    size_t bytes = n * tessDTypeSize(dtype);
    if (bytes > 0 && out.data != nullptr) {
      if (h && h->ok) std::memcpy(out.data, h->tensor.data, bytes);  // both row-major, same shape
      else std::memset(out.data, 0, bytes);
    }
  }
  if (h) {
    tessTensorFree(&h->tensor);
    delete h;
  }
}

void save_memref(tessDType dtype, const char* aligned, int64_t offset, int64_t size, int64_t stride, int64_t rank,
                 void* descriptor) {
  std::string path = memref_string(aligned, offset, size, stride);
  tessTensor t{};
  if (!wrap_memref(dtype, rank, descriptor, &t)) {
    report("runtime error: " + path + ": cannot save an invalid tensor");
    return;
  }
  tessStatus_t s = tessNpySave(path.c_str(), &t);
  if (s != TESS_SUCCESS) {
    const char* m = tessGetLastErrorMessage();
    std::string text = m && *m ? m : (path + ": " + tessGetErrorString(s));
    report("runtime error: cannot save " + text);
  }
}

// load("p.npz", like=params): one tessNpzLoadOpen per member. The last archive read is kept
// (one at a time, keyed by path, size and modification time, dropped when save(params, path)
// rewrites it) so that loading N members reads the file once.
struct CachedNpz {
  std::string path;
  std::uintmax_t size = 0;
  std::filesystem::file_time_type mtime{};
  tessNpz_t npz = nullptr;
};
CachedNpz& cached_npz() {
  static CachedNpz cache;
  return cache;
}
std::mutex& cached_npz_mutex() {
  static std::mutex m;
  return m;
}
void forget_cached_npz(const std::string& path) {
  std::lock_guard<std::mutex> lock(cached_npz_mutex());
  CachedNpz& c = cached_npz();
  if (c.npz && c.path == path) {
    tessNpzFree(c.npz);
    c = CachedNpz{};
  }
}

std::string shape_string(int32_t rank, const int64_t* shape, bool wildcard) {
  std::string text = "(";
  for (int32_t d = 0; d < rank; ++d) {
    if (d) text += ", ";
    text += wildcard && shape[d] < 0 ? std::string("_") : std::to_string(shape[d]);
  }
  return text + (rank == 1 ? ",)" : ")");
}

// Opens member `member` of the archive at `path`, checked against dtype and the declared shape
// (-1 = any size). Returns the error text, empty on success, and the member's owning copy.
std::string open_npz_member(const std::string& path, const std::string& member, tessDType dtype,
                            const std::vector<int64_t>& declared, tessTensor* out) {
  std::error_code ec;
  std::uintmax_t size = std::filesystem::file_size(path, ec);
  auto mtime = ec ? std::filesystem::file_time_type{} : std::filesystem::last_write_time(path, ec);
  std::lock_guard<std::mutex> lock(cached_npz_mutex());
  CachedNpz& c = cached_npz();
  if (!c.npz || c.path != path || ec || c.size != size || c.mtime != mtime) {
    if (c.npz) tessNpzFree(c.npz);
    c = CachedNpz{};
    tessNpz_t npz = nullptr;
    if (tessStatus_t s = tessNpzLoad(path.c_str(), &npz); s != TESS_SUCCESS) {
      const char* m = tessGetLastErrorMessage();
      return m && *m ? m : path + ": " + tessGetErrorString(s);
    }
    c = CachedNpz{path, size, mtime, npz};
  }
  tessTensor view{};
  if (tessNpzGet(c.npz, member.c_str(), &view) != TESS_SUCCESS) {
    std::string names;
    size_t count = 0;
    tessNpzCount(c.npz, &count);
    for (size_t i = 0; i < count; ++i) {
      const char* n = nullptr;
      if (tessNpzName(c.npz, i, &n) == TESS_SUCCESS && n) names += std::string(names.empty() ? "" : ", ") + n;
    }
    return path + ": no member '" + member + "' (the archive has: " + (names.empty() ? "nothing" : names) + ")";
  }
  std::string where = path + ": '" + member + "'";
  // bf16 is saved as <f4, so a program expecting bf16 reads <f4 and rounds.
  bool widened_bf16 = dtype == TESS_BF16 && view.dtype == TESS_F32;
  if (view.dtype != dtype && !widened_bf16) {
    return where + ": expected dtype " + tessDTypeName(dtype) + ", found " + tessDTypeName(view.dtype);
  }
  bool match = view.rank == static_cast<int32_t>(declared.size());
  for (size_t d = 0; match && d < declared.size(); ++d) match = declared[d] < 0 || declared[d] == view.shape[d];
  if (!match)
    return where + ": expected shape " +
           shape_string(static_cast<int32_t>(declared.size()), declared.data(), true) + ", found " +
           shape_string(view.rank, view.shape, false);
  if (widened_bf16) {
    if (tessTensorCreate(TESS_BF16, view.rank, view.shape, out) != TESS_SUCCESS) return where + ": out of memory";
    tessTensor dense{};
    if (tessTensorCopy(&view, &dense) != TESS_SUCCESS) return where + ": out of memory";
    const float* src = static_cast<const float*>(dense.data);
    auto* dst = static_cast<uint16_t*>(out->data);
    int64_t n = 0;
    tessTensorNumel(&dense, &n);
    for (int64_t i = 0; i < n; ++i) dst[i] = tessF32ToBF16(src[i]);
    tessTensorFree(&dense);
    return "";
  }
  if (tessTensorCopy(&view, out) != TESS_SUCCESS) return where + ": out of memory";
  return "";
}

// save(params, "p.npz"): the members staged per archive path until tessNpzCommit writes them.
struct StagedNpz {
  std::vector<std::string> names;
  std::vector<tessTensor> tensors;  // owning copies
};
std::map<std::string, StagedNpz>& staged_npz() {
  static std::map<std::string, StagedNpz> staged;
  return staged;
}
std::mutex& staged_npz_mutex() {
  static std::mutex m;
  return m;
}

void stage_npz_memref(tessDType dtype, const char* aligned, int64_t offset, int64_t size, int64_t stride,
                      const char* m_aligned, int64_t m_offset, int64_t m_size, int64_t m_stride, int64_t rank,
                      void* descriptor) {
  std::string path = memref_string(aligned, offset, size, stride);
  std::string member = memref_string(m_aligned, m_offset, m_size, m_stride);
  tessTensor view{}, copy{};
  if (!wrap_memref(dtype, rank, descriptor, &view) || tessTensorCopy(&view, &copy) != TESS_SUCCESS) {
    report("runtime error: " + path + ": cannot save '" + member + "'");
    return;
  }
  std::lock_guard<std::mutex> lock(staged_npz_mutex());
  StagedNpz& npz = staged_npz()[path];
  npz.names.push_back(member);
  npz.tensors.push_back(copy);
}

void commit_npz(const char* aligned, int64_t offset, int64_t size, int64_t stride) {
  std::string path = memref_string(aligned, offset, size, stride);
  forget_cached_npz(path);
  StagedNpz npz;
  {
    std::lock_guard<std::mutex> lock(staged_npz_mutex());
    npz = std::move(staged_npz()[path]);
    staged_npz().erase(path);
  }
  std::vector<const char*> names;
  for (const std::string& n : npz.names) names.push_back(n.c_str());
  tessStatus_t s = tessNpzSave(path.c_str(), names.size(), names.data(), npz.tensors.data());
  for (tessTensor& t : npz.tensors) tessTensorFree(&t);
  if (s != TESS_SUCCESS) {
    const char* m = tessGetLastErrorMessage();
    std::string text = m && *m ? m : (path + ": " + tessGetErrorString(s));
    report("runtime error: cannot save " + text);
  }
}

// Statistics of a float tensor: its finite values' min, max and mean, and its NaN and Inf.
struct Stats {
  int64_t count = 0, nan = 0, inf = 0, finite = 0;
  double min = 0, max = 0, sum = 0;
};

double element(const tessTensor& t, const char* p) {
  switch (t.dtype) {
    case TESS_F32: return *reinterpret_cast<const float*>(p);
    case TESS_F64: return *reinterpret_cast<const double*>(p);
    case TESS_F16: return tessF16ToF32(*reinterpret_cast<const uint16_t*>(p));
    case TESS_BF16: return tessBF16ToF32(*reinterpret_cast<const uint16_t*>(p));
    default: return 0;
  }
}

Stats stats_of(const tessTensor& t) {
  Stats s;
  int64_t n = 1;
  for (int32_t i = 0; i < t.rank; ++i) n *= t.shape[i];
  if (n <= 0 || t.data == nullptr) return s;
  size_t esize = tessDTypeSize(t.dtype);
  std::vector<int64_t> idx(static_cast<size_t>(t.rank), 0);
  for (int64_t k = 0; k < n; ++k) {
    int64_t off = 0;
    for (int32_t i = 0; i < t.rank; ++i) off += idx[i] * t.strides[i];
    double v = element(t, static_cast<const char*>(t.data) + off * static_cast<int64_t>(esize));
    ++s.count;
    if (std::isnan(v)) {
      ++s.nan;
    } else if (std::isinf(v)) {
      ++s.inf;
    } else {
      if (s.finite == 0 || v < s.min) s.min = v;
      if (s.finite == 0 || v > s.max) s.max = v;
      s.sum += v;
      ++s.finite;
    }
    for (int32_t i = t.rank - 1; i >= 0; --i) {
      if (++idx[i] < t.shape[i]) break;
      idx[i] = 0;
    }
  }
  return s;
}

std::string type_of(const tessTensor& t) {
  std::string out = "Tensor[";
  for (int32_t i = 0; i < t.rank; ++i) out += std::to_string(t.shape[i]) + ", ";
  const char* names[] = {"f32", "f64", "f16", "bf16"};
  return out + (t.dtype <= TESS_BF16 ? names[t.dtype] : "?") + "]";
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string describe(const tessTensor& t, const Stats& s) {
  std::string out = type_of(t) + ": ";
  if (s.finite > 0)
    out += "min " + number(s.min) + ", max " + number(s.max) + ", mean " + number(s.sum / static_cast<double>(s.finite)) +
           ", ";
  else if (s.count > 0)
    out += "no finite values, ";
  return out + std::to_string(s.nan) + " NaN, " + std::to_string(s.inf) + " Inf (" + std::to_string(s.count) +
         " elements)";
}

// The operands of the op being checked on this thread (their statistics, taken before the op
// runs, since its result may reuse an operand's buffer), and the report of a check that found
// a NaN or an Inf.
struct NumericsState {
  std::vector<std::string> operands;
  bool pending = false;
  std::string text;
};
thread_local NumericsState numerics;

void numerics_check(tessDType dtype, const char* aligned, int64_t offset, int64_t size, int64_t stride, int64_t rank,
                    void* descriptor) {
  tessTensor t{};
  if (!wrap_memref(dtype, rank, descriptor, &t)) return;
  Stats s = stats_of(t);
  if (s.nan == 0 && s.inf == 0) return;
  std::string info = memref_string(aligned, offset, size, stride);
  size_t a = info.find('\n');
  size_t b = a == std::string::npos ? std::string::npos : info.find('\n', a + 1);
  std::string op = info.substr(0, a);
  std::string where = a == std::string::npos ? "" : info.substr(a + 1, b == std::string::npos ? b : b - a - 1);
  std::string snippet = b == std::string::npos ? "" : info.substr(b + 1);
  numerics.pending = true;
  numerics.text = "error: '" + op + "' produced " + (s.nan ? "NaN" : "Inf") + " at " + where + " (--debug-numerics)\n" +
                  snippet;
  std::string width = "  ";
  if (size_t arrow = snippet.find("-->"); arrow != std::string::npos) width = std::string(arrow, ' ');
  numerics.text += width + "= note: result: " + describe(t, s) + "\n";
  for (size_t i = 0; i < numerics.operands.size(); ++i)
    numerics.text += width + "= note: operand " + std::to_string(i + 1) + ": " + numerics.operands[i] + "\n";
}

void numerics_operand(tessDType dtype, int64_t rank, void* descriptor) {
  tessTensor t{};
  if (!wrap_memref(dtype, rank, descriptor, &t)) {
    numerics.operands.push_back("<invalid tensor>");
    return;
  }
  numerics.operands.push_back(describe(t, stats_of(t)));
}

}  // namespace

extern "C" {

void tessCodegenSetErrorHandler(tessCodegenErrorHandler handler) { g_error_handler = handler; }

void tessCodegenFail(const char* message) {
  // Inside a call of a `tesserac build` library: the call returns TESS_ERROR_RUNTIME.
  if (tessera::rt::record_failure(TESS_ERROR_RUNTIME, message ? message : "")) tessera::rt::unwind_if_failed();
  if (g_error_handler) {
    g_error_handler(message ? message : "");
    return;
  }
  std::fflush(stdout);
  std::fprintf(stderr, "%s\n", message ? message : "");
  std::fflush(stderr);
  std::_Exit(3);
}

int64_t tessNpyLoadOpen(const char* allocated, const char* aligned, int64_t offset, int64_t size, int64_t stride,
                        int32_t dtype, int64_t* shape_allocated, int64_t* shape_aligned, int64_t shape_offset,
                        int64_t rank, int64_t shape_stride) {
  // The locals are gone before a failure unwinds (aot_call.h).
  int64_t result = [&]() -> int64_t {
    (void)allocated;
    (void)shape_allocated;
    std::string path = memref_string(aligned, offset, size, stride);
    auto* h = new LoadHandle;
    for (int64_t i = 0; i < rank; ++i) h->declared.push_back(shape_aligned[shape_offset + i * shape_stride]);
    tessStatus_t s = tessNpyLoadExpect(path.c_str(), static_cast<tessDType>(dtype), static_cast<int32_t>(rank),
                                       h->declared.data(), &h->tensor);
    h->ok = s == TESS_SUCCESS;
    if (!h->ok) {
      const char* m = tessGetLastErrorMessage();
      std::string text = m && *m ? m : (path + ": " + tessGetErrorString(s));
      report("runtime error: cannot load " + text);
    }
    return reinterpret_cast<int64_t>(h);
  }();
  tessera::rt::unwind_if_failed();
  return result;
}

int64_t tessNpzLoadOpen(const char* allocated, const char* aligned, int64_t offset, int64_t size, int64_t stride,
                        const char* m_allocated, const char* m_aligned, int64_t m_offset, int64_t m_size,
                        int64_t m_stride, int32_t dtype, int64_t* shape_allocated, int64_t* shape_aligned,
                        int64_t shape_offset, int64_t rank, int64_t shape_stride) {
  // The locals are gone before a failure unwinds (aot_call.h).
  int64_t result = [&]() -> int64_t {
    (void)allocated;
    (void)m_allocated;
    (void)shape_allocated;
    std::string path = memref_string(aligned, offset, size, stride);
    std::string member = memref_string(m_aligned, m_offset, m_size, m_stride);
    auto* h = new LoadHandle;
    for (int64_t i = 0; i < rank; ++i) h->declared.push_back(shape_aligned[shape_offset + i * shape_stride]);
    std::string error = open_npz_member(path, member, static_cast<tessDType>(dtype), h->declared, &h->tensor);
    h->ok = error.empty();
    if (!h->ok) report("runtime error: cannot load " + error);
    return reinterpret_cast<int64_t>(h);
  }();
  tessera::rt::unwind_if_failed();
  return result;
}

int64_t tessNpyLoadDim(int64_t handle, int64_t axis) {
  auto* h = reinterpret_cast<LoadHandle*>(handle);
  if (!h || axis < 0 || axis >= static_cast<int64_t>(h->declared.size())) return 0;
  if (h->ok) return h->tensor.shape[axis];
  return h->declared[static_cast<size_t>(axis)] < 0 ? 0 : h->declared[static_cast<size_t>(axis)];
}

#define TESS_IO_DEFS(sfx, dt)                                                                                    \
  void tessNpyLoadFinish_##sfx(int64_t handle, int64_t rank, void* d) { finish_load(handle, dt, rank, d); }       \
  void tessNpySaveMemref_##sfx(const char* allocated, const char* aligned, int64_t offset, int64_t size,          \
                               int64_t stride, int64_t rank, void* d) {                                          \
    (void)allocated;                                                                                             \
    save_memref(dt, aligned, offset, size, stride, rank, d);                                                     \
    tessera::rt::unwind_if_failed();                                                                             \
  }
TESS_IO_DEFS(f32, TESS_F32)
TESS_IO_DEFS(f64, TESS_F64)
TESS_IO_DEFS(f16, TESS_F16)
TESS_IO_DEFS(bf16, TESS_BF16)
TESS_IO_DEFS(i1, TESS_BOOL)
TESS_IO_DEFS(i8, TESS_I8)
TESS_IO_DEFS(i16, TESS_I16)
TESS_IO_DEFS(i32, TESS_I32)
TESS_IO_DEFS(i64, TESS_I64)
#undef TESS_IO_DEFS

#define TESS_NPZ_DEFS(sfx, dt)                                                                                   \
  void tessNpzStageMemref_##sfx(const char* allocated, const char* aligned, int64_t offset, int64_t size,        \
                                int64_t stride, const char* m_allocated, const char* m_aligned, int64_t m_offset, \
                                int64_t m_size, int64_t m_stride, int64_t rank, void* d) {                       \
    (void)allocated;                                                                                             \
    (void)m_allocated;                                                                                           \
    stage_npz_memref(dt, aligned, offset, size, stride, m_aligned, m_offset, m_size, m_stride, rank, d);         \
    tessera::rt::unwind_if_failed();                                                                             \
  }
TESS_NPZ_DEFS(f32, TESS_F32)
TESS_NPZ_DEFS(f64, TESS_F64)
TESS_NPZ_DEFS(f16, TESS_F16)
TESS_NPZ_DEFS(bf16, TESS_BF16)
TESS_NPZ_DEFS(i1, TESS_BOOL)
TESS_NPZ_DEFS(i8, TESS_I8)
TESS_NPZ_DEFS(i16, TESS_I16)
TESS_NPZ_DEFS(i32, TESS_I32)
TESS_NPZ_DEFS(i64, TESS_I64)
#undef TESS_NPZ_DEFS

void tessNpzCommit(const char* allocated, const char* aligned, int64_t offset, int64_t size, int64_t stride) {
  // The locals are gone before a failure unwinds (aot_call.h).
  [&] {
    (void)allocated;
    commit_npz(aligned, offset, size, stride);
  }();
  tessera::rt::unwind_if_failed();
}

#define TESS_NUMERICS_DEFS(sfx, dt)                                                                               \
  void tessNumericsCheck_##sfx(const char* allocated, const char* aligned, int64_t offset, int64_t size,          \
                               int64_t stride, int64_t rank, void* d) {                                          \
    (void)allocated;                                                                                             \
    numerics_check(dt, aligned, offset, size, stride, rank, d);                                                  \
  }                                                                                                              \
  void tessNumericsOperand_##sfx(int64_t rank, void* d) { numerics_operand(dt, rank, d); }
TESS_NUMERICS_DEFS(f32, TESS_F32)
TESS_NUMERICS_DEFS(f64, TESS_F64)
TESS_NUMERICS_DEFS(f16, TESS_F16)
TESS_NUMERICS_DEFS(bf16, TESS_BF16)
#undef TESS_NUMERICS_DEFS

void tessNumericsEnd(void) {
  // The locals are gone before a failure unwinds (aot_call.h).
  [&] {
    bool pending = numerics.pending;
    std::string text = std::move(numerics.text);
    numerics = NumericsState{};
    if (!pending) return;
    if (!text.empty() && text.back() == '\n') text.pop_back();
    report(text);
  }();
  tessera::rt::unwind_if_failed();
}

void tessCodegenError(const char* allocated, const char* aligned, int64_t offset, int64_t size, int64_t stride) {
  // The locals are gone before a failure unwinds (aot_call.h).
  [&] {
    (void)allocated;
    std::string text = memref_string(aligned, offset, size, stride);
    if (!text.empty() && text.back() == '\n') text.pop_back();
    report(text);
  }();
  tessera::rt::unwind_if_failed();
}

void tessIndexError(const char* allocated, const char* aligned, int64_t offset, int64_t size, int64_t stride,
                    int64_t index, int64_t lo, int64_t hi) {
  // The locals are gone before a failure unwinds (aot_call.h).
  [&] {
    (void)allocated;
    std::string info = memref_string(aligned, offset, size, stride);
    size_t nl = info.find('\n');
    std::string what = info.substr(0, nl), snippet = nl == std::string::npos ? "" : info.substr(nl + 1);
    std::string text = "runtime error: " + what + " " + std::to_string(index) + " is outside [" + std::to_string(lo) +
                       ", " + std::to_string(hi) + ")\n" + snippet;
    if (!text.empty() && text.back() == '\n') text.pop_back();
    report(text);
  }();
  tessera::rt::unwind_if_failed();
}

const tessSymbol* tessCodegenSymbols(size_t* count) {
#define TESS_SYMBOL(name) tessSymbol{#name, reinterpret_cast<void*>(&name)}
  static const tessSymbol table[] = {
      TESS_SYMBOL(tessPrintBeginLine),      TESS_SYMBOL(tessPrintEndLine),        TESS_SYMBOL(tessPrintAddStr),
      TESS_SYMBOL(tessPrintAddI64),         TESS_SYMBOL(tessPrintAddF64),         TESS_SYMBOL(tessPrintAddF32),
      TESS_SYMBOL(tessPrintAddBool),        TESS_SYMBOL(tessPrintAddMemref_f32),  TESS_SYMBOL(tessPrintAddMemref_f64),
      TESS_SYMBOL(tessPrintAddMemref_f16),  TESS_SYMBOL(tessPrintAddMemref_bf16), TESS_SYMBOL(tessPrintAddMemref_i1),
      TESS_SYMBOL(tessPrintAddMemref_i8),   TESS_SYMBOL(tessPrintAddMemref_i16),  TESS_SYMBOL(tessPrintAddMemref_i32),
      TESS_SYMBOL(tessPrintAddMemref_i64),  TESS_SYMBOL(tessFillRandom_f32),      TESS_SYMBOL(tessFillRandom_f64),
      TESS_SYMBOL(tessParallelFor),
      TESS_SYMBOL(tessCodegenSetErrorHandler), TESS_SYMBOL(tessCodegenFail),      TESS_SYMBOL(tessNpyLoadOpen), TESS_SYMBOL(tessNpzLoadOpen),
      TESS_SYMBOL(tessNpyLoadDim),          TESS_SYMBOL(tessNpyLoadFinish_f32),   TESS_SYMBOL(tessNpyLoadFinish_f64),
      TESS_SYMBOL(tessNpyLoadFinish_f16),   TESS_SYMBOL(tessNpyLoadFinish_bf16),  TESS_SYMBOL(tessNpyLoadFinish_i1),
      TESS_SYMBOL(tessNpyLoadFinish_i8),    TESS_SYMBOL(tessNpyLoadFinish_i16),   TESS_SYMBOL(tessNpyLoadFinish_i32),
      TESS_SYMBOL(tessNpyLoadFinish_i64),   TESS_SYMBOL(tessNpySaveMemref_f32),   TESS_SYMBOL(tessNpySaveMemref_f64),
      TESS_SYMBOL(tessNpySaveMemref_f16),   TESS_SYMBOL(tessNpySaveMemref_bf16),  TESS_SYMBOL(tessNpySaveMemref_i1),
      TESS_SYMBOL(tessNpySaveMemref_i8),    TESS_SYMBOL(tessNpySaveMemref_i16),   TESS_SYMBOL(tessNpySaveMemref_i32),
      TESS_SYMBOL(tessNpySaveMemref_i64),   TESS_SYMBOL(tessNumericsCheck_f32),   TESS_SYMBOL(tessNumericsCheck_f64),
      TESS_SYMBOL(tessNumericsCheck_f16),   TESS_SYMBOL(tessNumericsCheck_bf16),  TESS_SYMBOL(tessNumericsOperand_f32),
      TESS_SYMBOL(tessNumericsOperand_f64), TESS_SYMBOL(tessNumericsOperand_f16), TESS_SYMBOL(tessNumericsOperand_bf16),
      TESS_SYMBOL(tessNumericsEnd),
      TESS_SYMBOL(tessNpzStageMemref_f32),  TESS_SYMBOL(tessNpzStageMemref_f64),  TESS_SYMBOL(tessNpzStageMemref_f16),
      TESS_SYMBOL(tessNpzStageMemref_bf16), TESS_SYMBOL(tessNpzStageMemref_i1),   TESS_SYMBOL(tessNpzStageMemref_i8),
      TESS_SYMBOL(tessNpzStageMemref_i16),  TESS_SYMBOL(tessNpzStageMemref_i32),  TESS_SYMBOL(tessNpzStageMemref_i64),
      TESS_SYMBOL(tessNpzCommit),           TESS_SYMBOL(tessIndexError),     TESS_SYMBOL(tessCodegenError),
      TESS_SYMBOL(tessAotInvoke),           TESS_SYMBOL(tessAotArgumentError), TESS_SYMBOL(tessCodegenOutOfMemory), TESS_SYMBOL(tessBufferAlloc), TESS_SYMBOL(tessBufferFree),
      TESS_SYMBOL(tessInferBegin),          TESS_SYMBOL(tessInferAddTensor_f32),  TESS_SYMBOL(tessInferAddTensor_f64),
      TESS_SYMBOL(tessInferAddTensor_f16),  TESS_SYMBOL(tessInferAddTensor_bf16), TESS_SYMBOL(tessInferAddTensor_i1),
      TESS_SYMBOL(tessInferAddTensor_i8),   TESS_SYMBOL(tessInferAddTensor_i16),  TESS_SYMBOL(tessInferAddTensor_i32),
      TESS_SYMBOL(tessInferAddTensor_i64),  TESS_SYMBOL(tessInferAddI64),         TESS_SYMBOL(tessInferAddF64),
      TESS_SYMBOL(tessInferAddBool),        TESS_SYMBOL(tessInferRun),            TESS_SYMBOL(tessPosteriorDraws),
      TESS_SYMBOL(tessPosteriorStat_f32),   TESS_SYMBOL(tessPosteriorStat_f64),   TESS_SYMBOL(tessPosteriorSummary),
      TESS_SYMBOL(tessPosteriorPredict_f32), TESS_SYMBOL(tessPosteriorPredict_f64),
      TESS_SYMBOL(tessPosteriorSave),       TESS_SYMBOL(tessInferFieldDim),       TESS_SYMBOL(tessInferSeed),
      TESS_SYMBOL(tessPosteriorTracePlot),
      TESS_SYMBOL(tessCholesky_f32),        TESS_SYMBOL(tessCholesky_f64),        TESS_SYMBOL(tessTriangularSolve_f32),
      TESS_SYMBOL(tessTriangularSolve_f64), TESS_SYMBOL(tessSampleFamily_f64),
  };
#undef TESS_SYMBOL
  if (count) *count = sizeof(table) / sizeof(table[0]);
  return table;
}

}  // extern "C"
