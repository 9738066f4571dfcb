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

/* A failure that compiled code cannot continue from (a load or save that fails, a NaN found
 * under --debug-numerics) calls the error handler with the whole message. Without a handler
 * (the default), the message is written to stderr after stdout is flushed, and the process
 * exits with status 3, the runtime-error status of `tesserac run`. A handler that returns lets
 * the program go on: a failed load then gives zeros (of the declared shape, empty where a size
 * was not declared). tessCodegenSetErrorHandler(NULL) restores the default. */
typedef void (*tessCodegenErrorHandler)(const char* message);
TESS_API void tessCodegenSetErrorHandler(tessCodegenErrorHandler handler);
TESS_API void tessCodegenFail(const char* message);

/* load(path) of a tensor of dtype `dtype` (a tessDType) whose declared shape is `shape`
 * (memref<?xi64>, rank = its size, -1 for a size the program does not fix): reads and checks
 * the file, returns a handle. tessNpyLoadDim gives size `axis` of the file's array;
 * tessNpyLoadFinish_<t> copies the data into the buffer the program allocated for it (a
 * row-major memref of that shape) and releases the handle. */
TESS_API int64_t tessNpyLoadOpen(const char* allocated, const char* aligned, int64_t offset, int64_t size,
                                 int64_t stride, int32_t dtype, int64_t* shape_allocated, int64_t* shape_aligned,
                                 int64_t shape_offset, int64_t rank, int64_t shape_stride);
/* load("p.npz", like=params): like tessNpyLoadOpen for the member "<member>.npy" of an .npz
 * archive (a missing member, or another dtype or shape, is a runtime error). */
TESS_API int64_t tessNpzLoadOpen(const char* allocated, const char* aligned, int64_t offset, int64_t size,
                                 int64_t stride, const char* m_allocated, const char* m_aligned, int64_t m_offset,
                                 int64_t m_size, int64_t m_stride, int32_t dtype, int64_t* shape_allocated,
                                 int64_t* shape_aligned, int64_t shape_offset, int64_t rank, int64_t shape_stride);
TESS_API int64_t tessNpyLoadDim(int64_t handle, int64_t axis);
TESS_API void tessNpyLoadFinish_f32(int64_t handle, int64_t rank, void* descriptor);
TESS_API void tessNpyLoadFinish_f64(int64_t handle, int64_t rank, void* descriptor);
TESS_API void tessNpyLoadFinish_f16(int64_t handle, int64_t rank, void* descriptor);
TESS_API void tessNpyLoadFinish_bf16(int64_t handle, int64_t rank, void* descriptor);
TESS_API void tessNpyLoadFinish_i1(int64_t handle, int64_t rank, void* descriptor);
TESS_API void tessNpyLoadFinish_i8(int64_t handle, int64_t rank, void* descriptor);
TESS_API void tessNpyLoadFinish_i16(int64_t handle, int64_t rank, void* descriptor);
TESS_API void tessNpyLoadFinish_i32(int64_t handle, int64_t rank, void* descriptor);
TESS_API void tessNpyLoadFinish_i64(int64_t handle, int64_t rank, void* descriptor);
/* D.sample() of Gamma(a, 1) (family 0), Poisson(a) (1), Binomial(a, b) (2): out[k] from element
 * offset + k's own Philox sub-stream of seed (runtime/src/philox.cpp); rank-1 memrefs. */
TESS_API void tessSampleFamily_f64(int32_t family, int64_t seed, int64_t offset, int64_t a_rank, void* a,
                                   int64_t b_rank, void* b, int64_t out_rank, void* out);
/* cholesky / triangular_solve (runtime/src/codegen_linalg.cpp): operands and the fresh output
 * as unranked memrefs; transpose != 0 solves with L^T. Computed in f64. */
TESS_API void tessCholesky_f32(int64_t in_rank, void* in, int64_t out_rank, void* out);
TESS_API void tessCholesky_f64(int64_t in_rank, void* in, int64_t out_rank, void* out);
TESS_API void tessTriangularSolve_f32(int64_t l_rank, void* l, int64_t b_rank, void* b, int64_t out_rank, void* out,
                                      int32_t transpose);
TESS_API void tessTriangularSolve_f64(int64_t l_rank, void* l, int64_t b_rank, void* b, int64_t out_rank, void* out,
                                      int32_t transpose);
/* save(x, path): writes the memref (any strides) as an .npy file. */
#define TESS_SAVE_DECL(sfx)                                                                                    \
  TESS_API void tessNpySaveMemref_##sfx(const char* allocated, const char* aligned, int64_t offset, int64_t size, \
                                        int64_t stride, int64_t rank, void* descriptor);
TESS_SAVE_DECL(f32)
TESS_SAVE_DECL(f64)
TESS_SAVE_DECL(f16)
TESS_SAVE_DECL(bf16)
TESS_SAVE_DECL(i1)
TESS_SAVE_DECL(i8)
TESS_SAVE_DECL(i16)
TESS_SAVE_DECL(i32)
TESS_SAVE_DECL(i64)
#undef TESS_SAVE_DECL

/* save(params, "p.npz"): tessNpzStageMemref_<t>(path, member, x) stages a copy of one tensor
 * as the archive member "<member>.npy"; tessNpzCommit(path) writes the staged members as an
 * uncompressed zip (what numpy.load reads) and forgets them. */
#define TESS_NPZ_DECL(sfx)                                                                                        \
  TESS_API void tessNpzStageMemref_##sfx(const char* allocated, const char* aligned, int64_t offset, int64_t size, \
                                         int64_t stride, const char* m_allocated, const char* m_aligned,         \
                                         int64_t m_offset, int64_t m_size, int64_t m_stride, int64_t rank,       \
                                         void* descriptor);
TESS_NPZ_DECL(f32)
TESS_NPZ_DECL(f64)
TESS_NPZ_DECL(f16)
TESS_NPZ_DECL(bf16)
TESS_NPZ_DECL(i1)
TESS_NPZ_DECL(i8)
TESS_NPZ_DECL(i16)
TESS_NPZ_DECL(i32)
TESS_NPZ_DECL(i64)
#undef TESS_NPZ_DECL
TESS_API void tessNpzCommit(const char* allocated, const char* aligned, int64_t offset, int64_t size, int64_t stride);

/* --debug-numerics, around an op that computes a float tensor: before it,
 * tessNumericsOperand_<t>(operand) records the statistics of each float operand (before, since
 * the result may reuse an operand's buffer); after it, tessNumericsCheck_<t>(info, result)
 * counts the NaN and Inf of the result, and tessNumericsEnd() fails with the report
 * (tessCodegenFail) when there is one, and forgets the operands. `info` is "<op>\n<file:line:col>\n<source snippet>". */
#define TESS_NUMERICS_DECL(sfx)                                                                                   \
  TESS_API void tessNumericsCheck_##sfx(const char* allocated, const char* aligned, int64_t offset, int64_t size, \
                                        int64_t stride, int64_t rank, void* descriptor);                          \
  TESS_API void tessNumericsOperand_##sfx(int64_t rank, void* descriptor);
TESS_NUMERICS_DECL(f32)
TESS_NUMERICS_DECL(f64)
TESS_NUMERICS_DECL(f16)
TESS_NUMERICS_DECL(bf16)
#undef TESS_NUMERICS_DECL
TESS_API void tessNumericsEnd(void);

/* A run-time error found by compiled code (an integer division by zero): fails
 * (tessCodegenFail) with `info`, the whole message with its source location (memref<?xi8>). */
TESS_API void tessCodegenError(const char* allocated, const char* aligned, int64_t offset, int64_t size, int64_t stride);

/* An index outside [lo, hi) (an embedding id, a class label, x[i]): fails (tessCodegenFail)
 * with "runtime error: <what> <index> is outside [<lo>, <hi>)" and the source location. `info`
 * is "<what>\n<source snippet>" (memref<?xi8>). Compiled code clamps the index after the call, so
 * a handler that returns leaves the program reading in bounds. */
TESS_API void tessIndexError(const char* allocated, const char* aligned, int64_t offset, int64_t size, int64_t stride,
                             int64_t index, int64_t lo, int64_t hi);

/* The entries of libraries built by `tesserac build` (docs/runtime.md, "Errors in compiled
 * libraries"). tess_<name> checks its arguments; a bad one gives
 * tessAotArgumentError(status, message, got, expected), which stores the message with "{got}"
 * and "{expected}" replaced by the numbers as this thread's last error and returns status.
 * Then tessAotInvoke(body, slots) clears the last error, checks the environment
 * ($TESSERA_NUM_THREADS), and runs body(slots) under a jump target: a run-time error inside
 * (tessCodegenFail and everything that calls it, tessCodegenOutOfMemory, on this thread or on a
 * pool worker) ends the body, and tessAotInvoke returns its status (TESS_ERROR_RUNTIME,
 * TESS_ERROR_OUT_OF_MEMORY) with the message as this thread's last error, instead of ending
 * the process. Memory the body allocated before the error is not freed. */
TESS_API int32_t tessAotInvoke(void (*body)(void** slots), void** slots);
TESS_API int32_t tessAotArgumentError(int32_t status, const char* message, int64_t got, int64_t expected);

/* An allocation of `bytes` by compiled code failed: inside tessAotInvoke, the call fails with
 * TESS_ERROR_OUT_OF_MEMORY; elsewhere the message goes to stderr and the process exits with
 * status 3 (as tessCodegenFail without a handler). */
TESS_API void tessCodegenOutOfMemory(int64_t bytes);

/* The buffers of JIT-compiled code: malloc and free, except that a block of at least 64 KiB
 * that the code frees is kept and handed out again for the next request of the same size (up
 * to $TESSERA_BUFFER_CACHE_MB MiB in all, default 1024; 0 turns the cache off). A training step
 * allocates the same temporaries on every call; without the cache, each big one came back
 * from the kernel as fresh pages (a page fault per 4 KiB on first touch). Every block is a
 * malloc block: one the compiled code returns is released with free(). */
TESS_API void* tessBufferAlloc(uint64_t bytes);
TESS_API void tessBufferFree(void* block);

/* Inference (docs/inference.md). A call of an @mcmc or @variational function becomes
 * tessInferBegin(), one tessInferAdd* per argument of the function, in order (the runtime copies
 * each tensor, so the caller's buffers may go after the call), then tessInferRun(log_density,
 * quantities, terms, config, dim, width). log_density and quantities are the packed wrappers
 * (`void f(void** slots)`) of the compiled `(theta: f64[dim], args...) -> (f64, f64[dim])` log
 * density with its gradient and `(theta, args...) -> f64[width]` Posterior fields; terms (or 0)
 * of `(theta, args...) -> f64[T]`, the log density per statement (their sources in config's
 * `terms=`), evaluated when no initial point has a finite log density; config is
 * `key=value;...` (decorator arguments as `mcmc.num_samples=1000`, and `fields=w:3,b:;`).
 * Returns a handle of the Posterior (never 0); a failure (no finite initial point, a bad
 * setting) is a run-time error (tessCodegenFail). Posterior handles live until the process
 * ends. tessPosteriorStat_<t>(handle, stat, field, q, out) writes `stat` (mean, sd, quantile,
 * rhat, ess, samples) of the field into `out`, a row-major buffer of the field's shape
 * (`samples`: one more leading dimension, tessPosteriorDraws(handle) rows). */
TESS_API void tessInferBegin(void);
#define TESS_INFER_DECL(sfx) TESS_API void tessInferAddTensor_##sfx(int64_t rank, void* descriptor);
TESS_INFER_DECL(f32)
TESS_INFER_DECL(f64)
TESS_INFER_DECL(f16)
TESS_INFER_DECL(bf16)
TESS_INFER_DECL(i1)
TESS_INFER_DECL(i8)
TESS_INFER_DECL(i16)
TESS_INFER_DECL(i32)
TESS_INFER_DECL(i64)
#undef TESS_INFER_DECL
/* The `?` sizes of config's fields=, in order, before the arguments. */
TESS_API void tessInferFieldDim(int64_t size);
/* fit(y, seed=r): the engine's seed for this call, over the decorator's. */
TESS_API void tessInferSeed(int64_t seed);
TESS_API void tessInferAddI64(int64_t value);
TESS_API void tessInferAddF64(double value);
TESS_API void tessInferAddBool(int32_t value);
TESS_API int64_t tessInferRun(int64_t log_density, int64_t quantities, int64_t terms, const char* allocated,
                              const char* aligned, int64_t offset, int64_t size, int64_t stride, int64_t dim,
                              int64_t width);
TESS_API int64_t tessPosteriorDraws(int64_t posterior);
TESS_API void tessPosteriorStat_f32(int64_t posterior, const char* s_allocated, const char* s_aligned, int64_t s_offset,
                                    int64_t s_size, int64_t s_stride, const char* f_allocated, const char* f_aligned,
                                    int64_t f_offset, int64_t f_size, int64_t f_stride, double q, int64_t rank,
                                    void* descriptor);
TESS_API void tessPosteriorStat_f64(int64_t posterior, const char* s_allocated, const char* s_aligned, int64_t s_offset,
                                    int64_t s_size, int64_t s_stride, const char* f_allocated, const char* f_aligned,
                                    int64_t f_offset, int64_t f_size, int64_t f_stride, double q, int64_t rank,
                                    void* descriptor);
/* post.predict(X_new) / post.uncertainty(X_new): the data (tessInferBegin, tessInferAdd*: the
 * model's arguments at the new inputs), then tessPosteriorPredict_<t>(handle, predictive, stat,
 * out). predictive is the packed wrapper of `(theta: f64[dim], args...) -> f64[2K]`, the mean and
 * variance of the observed argument's distribution at one draw; out (K elements, row-major)
 * receives the average mean over the draws (`predict`) or the predictive standard deviation
 * sqrt(average variance + variance of the means) (`uncertainty`). */
TESS_API void tessPosteriorPredict_f32(int64_t posterior, int64_t predictive, const char* s_allocated,
                                       const char* s_aligned, int64_t s_offset, int64_t s_size, int64_t s_stride,
                                       int64_t rank, void* descriptor);
TESS_API void tessPosteriorPredict_f64(int64_t posterior, int64_t predictive, const char* s_allocated,
                                       const char* s_aligned, int64_t s_offset, int64_t s_size, int64_t s_stride,
                                       int64_t rank, void* descriptor);
/* print(post.summary()): the table (runtime/src/inference.h, Posterior::summary) on stdout. */
TESS_API void tessPosteriorSummary(int64_t posterior);
/* post.save(path): an .npz archive or a Stan CSV file, by the extension (a failure to write is a
 * run-time error). */
TESS_API void tessPosteriorSave(int64_t posterior, const char* allocated, const char* aligned, int64_t offset,
                                int64_t size, int64_t stride);
/* post.trace_plot(path, names...): an SVG trace plot of the fields `names` (comma-separated;
 * empty: all). */
TESS_API void tessPosteriorTracePlot(int64_t posterior, const char* allocated, const char* aligned, int64_t offset,
                                     int64_t size, int64_t stride, const char* n_allocated, const char* n_aligned,
                                     int64_t n_offset, int64_t n_size, int64_t n_stride);

/* Every entry point above by name, for a JIT that resolves symbols explicitly (the runtime's
 * symbols are not exported from an executable that links it statically). */
typedef struct tessSymbol {
  const char* name;
  void* address;
} tessSymbol;
TESS_API const tessSymbol* tessCodegenSymbols(size_t* count);

/* The floating-point conversion helpers that LLVM calls where the target CPU lacks an
 * instruction (__truncsfbf2, __extendhfsf2, ...: runtime/src/float_builtins.cpp). A JIT resolves
 * them from this table; AOT libraries that call one link the runtime library. */
TESS_API const tessSymbol* tessFloatBuiltinSymbols(size_t* count);

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
  table = tessFloatBuiltinSymbols(&n);
  for (size_t i = 0; i < n; ++i) out.emplace_back(table[i].name, table[i].address);
  return out;
}
#endif

#endif /* TESSERA_CODEGEN_ABI_H_ */
