/* Entry points that code compiled by tesserac calls (ir/schedule/lower_to_linalg.cpp emits the
 * calls). Not meant for hand-written C: the signatures are those MLIR's LLVM lowering gives to
 * memref arguments. A `memref<?xT>` argument arrives as (allocated, aligned, offset, size,
 * stride); an unranked `memref<*xT>` as (rank, pointer to the ranked descriptor
 * {T* allocated; T* aligned; int64_t offset; int64_t sizes[rank]; int64_t strides[rank]}).
 *
 * print(a, "text", b) becomes tessPrintBeginLine(), one tessPrintAdd* per argument, then
 * tessPrintEndLine(), which formats the line with tessPrintValues (one space between values,
 * a newline at the end) and writes it in one call. The line is per thread. */
#ifndef TESSERA_CODEGEN_ABI_H_
#define TESSERA_CODEGEN_ABI_H_

#include <stddef.h>
#include <stdint.h>

#include "tessera/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

TESS_API void tessPrintBeginLine(void);
TESS_API void tessPrintEndLine(void);
TESS_API void tessPrintAddStr(const char* allocated, const char* aligned, int64_t offset, int64_t size, int64_t stride);
TESS_API void tessPrintAddI64(int64_t value);
TESS_API void tessPrintAddF64(double value);
TESS_API void tessPrintAddF32(float value);
TESS_API void tessPrintAddBool(int32_t value);
/* Tensors, one entry per element type of the memref. */
TESS_API void tessPrintAddMemref_f32(int64_t rank, void* descriptor);
TESS_API void tessPrintAddMemref_f64(int64_t rank, void* descriptor);
TESS_API void tessPrintAddMemref_f16(int64_t rank, void* descriptor);
TESS_API void tessPrintAddMemref_bf16(int64_t rank, void* descriptor);
TESS_API void tessPrintAddMemref_i1(int64_t rank, void* descriptor);
TESS_API void tessPrintAddMemref_i8(int64_t rank, void* descriptor);
TESS_API void tessPrintAddMemref_i16(int64_t rank, void* descriptor);
TESS_API void tessPrintAddMemref_i32(int64_t rank, void* descriptor);
TESS_API void tessPrintAddMemref_i64(int64_t rank, void* descriptor);

/* Fills a buffer (a memref<?xT>, any stride) with the Philox stream of
 * (seed, offset): standard normal when normal != 0, else uniform in [0, 1). */
TESS_API void tessFillRandom_f32(int64_t seed, int64_t offset, int32_t normal, float* allocated, float* aligned,
                                 int64_t start, int64_t size, int64_t stride);
TESS_API void tessFillRandom_f64(int64_t seed, int64_t offset, int32_t normal, double* allocated, double* aligned,
                                 int64_t start, int64_t size, int64_t stride);

/* Every entry point above by name, for a JIT that resolves symbols explicitly (the runtime's
 * symbols are not exported from an executable that links it statically). */
typedef struct tessSymbol {
  const char* name;
  void* address;
} tessSymbol;
TESS_API const tessSymbol* tessCodegenSymbols(size_t* count);

#ifdef __cplusplus
} /* extern "C" */
#endif

#ifdef __cplusplus
#include <string>
#include <utility>
#include <vector>

/* The same table as (name, address) pairs, the form JIT drivers take. */
inline std::vector<std::pair<std::string, void*>> tessCodegenSymbolList() {
  size_t n = 0;
  const tessSymbol* table = tessCodegenSymbols(&n);
  std::vector<std::pair<std::string, void*>> out;
  for (size_t i = 0; i < n; ++i) out.emplace_back(table[i].name, table[i].address);
  return out;
}
#endif

#endif /* TESSERA_CODEGEN_ABI_H_ */
