// The entry points of tessera/codegen_abi.h: what compiled programs call to print and to draw
// random numbers. Thin adapters from MLIR's memref calling convention to the runtime's API.
#include "tessera/codegen_abi.h"

#include <cstdio>
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
  };
#undef TESS_SYMBOL
  if (count) *count = sizeof(table) / sizeof(table[0]);
  return table;
}

}  // extern "C"
