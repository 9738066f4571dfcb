/* The C ABI of libtessera_rt, the library that compiled Tessera programs link against. */
/*
 * Conventions (docs/runtime.md has the full reference):
 * - Every entry that can fail returns a tessStatus_t: 0 (TESS_SUCCESS) or a negative error.
 *   A failing entry also stores a message for the calling thread, read back with
 *   tessGetLastErrorMessage(). No entry aborts, and no C++ exception crosses this ABI.
 * - Pure functions that cannot fail (conversions, names) return their value directly.
 * - Handles are opaque pointers; a handle that was never created or was already destroyed is
 *   reported as TESS_ERROR_INVALID_ARGUMENT.
 * - The header is C99: it needs only <stddef.h> and <stdint.h>.
 */
#ifndef TESSERA_RUNTIME_H_
#define TESSERA_RUNTIME_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define TESS_API __attribute__((visibility("default")))
#define TESS_PRINTF_LIKE(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define TESS_API
#define TESS_PRINTF_LIKE(fmt_index, first_arg)
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define TESS_VERSION_MAJOR 0
#define TESS_VERSION_MINOR 1
/* The largest tensor rank the runtime handles (tessTensor has room for this many dims). */
#define TESS_MAX_RANK 8

/* ---------------------------------------------------------------------------------------
 * Status codes and errors
 * ------------------------------------------------------------------------------------- */

typedef enum tessStatus {
  TESS_SUCCESS = 0,
  TESS_ERROR_INVALID_ARGUMENT = -1, /* null pointer, zero size, bad enum, unknown handle */
  TESS_ERROR_OUT_OF_MEMORY = -2,
  TESS_ERROR_IO = -3,       /* a file could not be opened, read or written */
  TESS_ERROR_BAD_FILE = -4, /* a file is truncated, corrupt or not in the format */
  TESS_ERROR_SHAPE_MISMATCH = -5,
  TESS_ERROR_DTYPE_MISMATCH = -6,
  TESS_ERROR_NO_DEVICE = -7,         /* the requested device does not exist */
  TESS_ERROR_NOT_SUPPORTED = -8,     /* valid request that this runtime does not implement */
  TESS_ERROR_NOT_FOUND = -9,         /* a named entry (e.g. in an .npz archive) is missing */
  TESS_ERROR_BUFFER_TOO_SMALL = -10, /* a caller-provided output buffer is too small */
  TESS_ERROR_RUNTIME = -11,          /* raised by the program itself (tessRuntimeError) */
  TESS_ERROR_INTERNAL = -12,         /* a bug in the runtime */
  /* Keeps every enum 32 bits wide and makes any int a valid value for C++ callers (entries
   * check the values they receive). Never returned. */
  TESS_STATUS_MAX_ENUM = 0x7fffffff
} tessStatus_t;

/* A short fixed description of a status ("invalid argument"); "unknown status" otherwise. */
TESS_API const char* tessGetErrorString(tessStatus_t status);

/* The detailed message of the last failing call on this thread, e.g.
 * "x.npy: expected dtype <f4, found <i8". Empty string if none. Valid until the next failing
 * call on the same thread. */
TESS_API const char* tessGetLastErrorMessage(void);

/* Forgets this thread's last error message. */
TESS_API void tessClearLastError(void);

/* Raised by generated code when the program fails at run time (a failed assert, a NaN under
 * --debug-numerics, a shape that does not match at run time). Formats the message like printf,
 * stores it as this thread's last error and returns TESS_ERROR_RUNTIME, which the caller
 * propagates. A NULL fmt gives the message "unknown error". */
TESS_API tessStatus_t tessRuntimeError(const char* fmt, ...) TESS_PRINTF_LIKE(1, 2);

/* Formats the line the runner prints for a failed status: "runtime error: " followed by the
 * last error message of this thread, or by tessGetErrorString(status) when there is none.
 * No trailing newline. Buffer convention as for tessFormatTensor. */
TESS_API tessStatus_t tessFormatRuntimeError(tessStatus_t status, char* buf, size_t cap, size_t* needed);

/* Writes the tessFormatRuntimeError line and a newline to stderr. The CLI then exits with
 * code 3. Returns TESS_SUCCESS when the line was written. */
TESS_API tessStatus_t tessPrintRuntimeError(tessStatus_t status);

/* ---------------------------------------------------------------------------------------
 * Context, numerics policy, devices, mesh
 * ------------------------------------------------------------------------------------- */

typedef struct tessContext_st* tessContext_t;
typedef struct tessMesh_st* tessMesh_t;
typedef struct tessStream_st* tessStream_t;
typedef struct tessMemPool_st* tessMemPool_t;

/* Creates a context with its own thread pool. The thread count is $TESSERA_NUM_THREADS when
 * set to a number in [1, 1024], else the number of hardware threads. */
TESS_API tessStatus_t tessInit(tessContext_t* ctx);

/* Destroys a context and everything created from it that is still alive: streams (drained
 * first), memory pools (their memory is released) and meshes. The default context cannot be
 * shut down. */
TESS_API tessStatus_t tessShutdown(tessContext_t ctx);

/* The process-wide context that generated code uses when it passes NULL. Created on first
 * use, never destroyed. */
TESS_API tessStatus_t tessGetDefaultContext(tessContext_t* ctx);

/* Sets the number of threads of the context's pool, n in [1, 1024] (1 = run everything on
 * the calling thread). Waits for parallel loops already running on the context. */
TESS_API tessStatus_t tessSetNumThreads(tessContext_t ctx, int num_threads);
TESS_API tessStatus_t tessGetNumThreads(tessContext_t ctx, int* num_threads);

/* The design document's determinism switches. Fields are 0 or 1. The runtime keeps the
 * policy for generated code and host code to read; on CPU the runtime's own routines are
 * already deterministic (static partitioning, counter-based RNG) whatever the policy. */
typedef struct tessNumericsPolicy {
  int32_t stableReductions; /* pairwise summation */
  int32_t deterministic;    /* fixed operation order, results independent of thread count */
  int32_t rngStateless;     /* counter-based (Philox) random numbers keyed by seed */
  int32_t allowFastMath;    /* 0 = strict IEEE */
} tessNumericsPolicy;

/* The default policy: stableReductions=1, deterministic=1, rngStateless=1, allowFastMath=0. */
TESS_API tessStatus_t tessSetNumericsPolicy(tessContext_t ctx, const tessNumericsPolicy* policy);
TESS_API tessStatus_t tessGetNumericsPolicy(tessContext_t ctx, tessNumericsPolicy* policy);

typedef enum tessDeviceKind {
  TESS_DEVICE_CPU = 0,
  TESS_DEVICE_CUDA = 1,
  TESS_DEVICE_HIP = 2,
  TESS_DEVICE_MAX_ENUM = 0x7fffffff
} tessDeviceKind;

typedef struct tessDeviceInfo {
  tessDeviceKind kind;
  int32_t id;
  int32_t numCores; /* hardware threads */
  int32_t reserved;
  uint64_t totalMemory; /* bytes of physical memory, 0 if unknown */
  char name[64];        /* "cpu" */
} tessDeviceInfo;

/* Number of devices this runtime can use. The CPU runtime has exactly one: device 0, CPU. */
TESS_API tessStatus_t tessDeviceCount(tessContext_t ctx, int* count);
TESS_API tessStatus_t tessDeviceGetInfo(tessContext_t ctx, int device, tessDeviceInfo* info);

/* Sizes of the mesh axes; 0 counts as 1. Their product must equal the number of devices. */
typedef struct tessMeshAxes {
  int32_t dp; /* data parallel */
  int32_t tp; /* tensor parallel */
  int32_t pp; /* pipeline parallel */
} tessMeshAxes;

/* Creates a mesh over device ids. The CPU runtime accepts exactly {0}; any other id gives
 * TESS_ERROR_NO_DEVICE. */
TESS_API tessStatus_t tessMeshCreate(tessContext_t ctx, const int* devices, int num_devices, tessMeshAxes axes,
                                     tessMesh_t* mesh);
TESS_API tessStatus_t tessMeshDestroy(tessMesh_t mesh);

/* ---------------------------------------------------------------------------------------
 * Memory, pools, streams
 * ------------------------------------------------------------------------------------- */

/* Allocates size > 0 bytes aligned to TESS_ALIGNMENT, uninitialized. mesh may be NULL for
 * host memory; on CPU all memory is host memory. */
#define TESS_ALIGNMENT 64
TESS_API tessStatus_t tessMalloc(tessMesh_t mesh, size_t size, void** ptr);
/* Frees memory from tessMalloc. NULL is accepted and does nothing; a pointer that did not
 * come from tessMalloc (or was freed already) gives TESS_ERROR_INVALID_ARGUMENT. */
TESS_API tessStatus_t tessFree(tessMesh_t mesh, void* ptr);

/* A pool reserves memory in chunks (the first of initial_size bytes, later ones growing by
 * growth_factor >= 1) and hands out 64-byte aligned blocks rounded up to a size class.
 * Freed blocks go to a free list per class and are reused. Thread-safe. */
TESS_API tessStatus_t tessMemPoolCreate(tessMesh_t mesh, size_t initial_size, double growth_factor,
                                        tessMemPool_t* pool);
TESS_API tessStatus_t tessMemPoolAlloc(tessMemPool_t pool, size_t size, void** ptr);
TESS_API tessStatus_t tessMemPoolFree(tessMemPool_t pool, void* ptr);
TESS_API tessStatus_t tessMemPoolDestroy(tessMemPool_t pool);

typedef struct tessMemPoolStats {
  uint64_t bytesInUse; /* sum of the size classes of live blocks */
  uint64_t peakBytesInUse;
  uint64_t bytesReserved; /* sum of the chunk sizes */
  uint64_t numChunks;
  uint64_t numAllocs; /* successful tessMemPoolAlloc calls */
  uint64_t numReused; /* of those, served from a free list */
} tessMemPoolStats;
TESS_API tessStatus_t tessMemPoolGetStats(tessMemPool_t pool, tessMemPoolStats* stats);

/* A stream is an ordered work queue with its own worker thread: work enqueued on one stream
 * runs in order, one item at a time. */
TESS_API tessStatus_t tessStreamCreate(tessContext_t ctx, tessStream_t* stream);
/* Waits for the queued work, then destroys the stream. */
TESS_API tessStatus_t tessStreamDestroy(tessStream_t stream);
/* Waits until all work enqueued so far has run. */
TESS_API tessStatus_t tessStreamSynchronize(tessStream_t stream);
/* Enqueues fn(user_data) to run on the stream's thread. */
TESS_API tessStatus_t tessStreamEnqueue(tessStream_t stream, void (*fn)(void* user_data), void* user_data);

typedef enum tessCopyKind {
  TESS_COPY_H2H = 0,
  TESS_COPY_H2D = 1,
  TESS_COPY_D2H = 2,
  TESS_COPY_D2D = 3,
  TESS_COPY_INVALID = -1,
  TESS_COPY_MAX_ENUM = 0x7fffffff
} tessCopyKind;

/* Copies size bytes, ordered after the work already on the stream (all kinds are host copies
 * on CPU; overlapping ranges are allowed). A NULL stream copies synchronously. size 0 is a
 * no-op. dst and src must stay valid until the copy has run. */
TESS_API tessStatus_t tessMemcpyAsync(void* dst, const void* src, size_t size, tessCopyKind kind, tessStream_t stream);

/* ---------------------------------------------------------------------------------------
 * Thread pool
 * ------------------------------------------------------------------------------------- */

/* Runs body(lo, hi, data) over [begin, end) split into contiguous chunks, in parallel on the
 * pool of ctx (NULL = the default context), and returns when all chunks are done.
 * - grain >= 1 is the smallest chunk worth a thread. The range is cut into blocks of grain
 *   elements from begin (the last may be shorter), and the blocks into
 *   c = min(threads, number of blocks) chunks of consecutive blocks: chunk i covers blocks
 *   [i*B/c, (i+1)*B/c). So every chunk boundary is begin + k*grain, and the boundaries are a
 *   function of (begin, end, grain, threads) only.
 * - With one thread, one block, or when called from inside a body (nested), the body runs
 *   once, inline, over the whole range.
 * - Safe to call from several threads at once; calls on one context take turns.
 * - begin == end is a no-op; begin > end is an error. */
TESS_API tessStatus_t tessParallelFor(tessContext_t ctx, int64_t begin, int64_t end, int64_t grain,
                                      void (*body)(int64_t lo, int64_t hi, void* data), void* data);

/* ---------------------------------------------------------------------------------------
 * Tensors
 * ------------------------------------------------------------------------------------- */

typedef enum tessDType {
  TESS_F32 = 0,
  TESS_F64 = 1,
  TESS_F16 = 2,
  TESS_BF16 = 3,
  TESS_I8 = 4,
  TESS_I16 = 5,
  TESS_I32 = 6,
  TESS_I64 = 7,
  TESS_U8 = 8,
  TESS_BOOL = 9, /* one byte, 0 or 1 */
  /* Not dtypes: INVALID marks "no dtype", and the two make every int a valid value. */
  TESS_DTYPE_INVALID = -1,
  TESS_DTYPE_MAX_ENUM = 0x7fffffff
} tessDType;
#define TESS_NUM_DTYPES 10

/* A strided view of memory. Layout (x86-64 and AArch64): dtype @0, rank @4, shape @8,
 * strides @72, data @136, owns @144, size 152. strides are in elements (not bytes); the
 * entries past rank are ignored. owns = 1 means tessTensorFree releases data. A tensor with
 * zero elements may have data == NULL. */
typedef struct tessTensor {
  tessDType dtype;
  int32_t rank;
  int64_t shape[TESS_MAX_RANK];
  int64_t strides[TESS_MAX_RANK];
  void* data;
  int32_t owns;
  int32_t reserved;
} tessTensor;

/* Element size in bytes (1 for bool); 0 for an invalid dtype. */
TESS_API size_t tessDTypeSize(tessDType dtype);
/* "f32", "bf16", ... ; "invalid" for an invalid dtype. */
TESS_API const char* tessDTypeName(tessDType dtype);

/* A new contiguous (row-major) tensor of zeros that owns its 64-byte aligned data. */
TESS_API tessStatus_t tessTensorCreate(tessDType dtype, int32_t rank, const int64_t* shape, tessTensor* out);
/* A non-owning view of data. strides NULL means contiguous row-major. */
TESS_API tessStatus_t tessTensorWrap(tessDType dtype, int32_t rank, const int64_t* shape, const int64_t* strides,
                                     void* data, tessTensor* out);
/* Releases data if the tensor owns it and zeroes the struct. A zeroed struct is accepted. */
TESS_API tessStatus_t tessTensorFree(tessTensor* tensor);
/* A new contiguous, owning copy of any (strided) tensor. */
TESS_API tessStatus_t tessTensorCopy(const tessTensor* src, tessTensor* out);
/* Checks dtype, rank, shape (>= 0) and that data is set when there are elements. */
TESS_API tessStatus_t tessTensorValidate(const tessTensor* tensor);
TESS_API tessStatus_t tessTensorNumel(const tessTensor* tensor, int64_t* numel);
/* 1 if the elements are laid out row-major without gaps (strides of size-1 dims ignored). */
TESS_API tessStatus_t tessTensorIsContiguous(const tessTensor* tensor, int* contiguous);

/* Conversions between f32 and the 16-bit float formats. Narrowing rounds to nearest, ties to
 * even; overflow gives infinity; NaN stays a (quiet) NaN with its sign. */
TESS_API uint16_t tessF32ToBF16(float value);
TESS_API float tessBF16ToF32(uint16_t bits);
TESS_API uint16_t tessF32ToF16(float value);
TESS_API float tessF16ToF32(uint16_t bits);
/* f64 -> f16 rounded once (NumPy's astype(float16) from float64). */
TESS_API uint16_t tessF64ToF16(double value);

/* ---------------------------------------------------------------------------------------
 * Random numbers: Philox4x32-10 (Salmon et al., SC'11), counter-based
 * ------------------------------------------------------------------------------------- */

/* One Philox4x32-10 block: 10 rounds with multipliers 0xD2511F53, 0xCD9E8D57 and Weyl
 * increments 0x9E3779B9, 0xBB67AE85. Matches Random123 and cuRAND. */
TESS_API void tessPhilox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

/* Fill out[0..n) with element offset..offset+n-1 of the stream for seed. Element i depends
 * only on (seed, i), so any split into calls, and any thread count, gives the same numbers.
 * key = {seed low 32 bits, seed high 32 bits}; the counter is {block low, block high, stream,
 * 0} with stream 0 for uniform and 1 for normal draws. Exact mapping in docs/runtime.md.
 * - UniformF32: block i/4, word w = i%4, value (w >> 8) * 2^-24, in [0, 1).
 * - UniformF64: block i/2, words 2(i%2) (low half) and 2(i%2)+1 (high half) form a 64-bit
 *   x, value (x >> 11) * 2^-53, in [0, 1).
 * - NormalF32/F64: Box-Muller on u1 in (0, 1] and u2 in [0, 1), computed in double:
 *   z0 = sqrt(-2 ln u1) cos(2 pi u2), z1 = sqrt(-2 ln u1) sin(2 pi u2). */
TESS_API tessStatus_t tessRandUniformF32(uint64_t seed, uint64_t offset, size_t n, float* out);
TESS_API tessStatus_t tessRandUniformF64(uint64_t seed, uint64_t offset, size_t n, double* out);
TESS_API tessStatus_t tessRandNormalF32(uint64_t seed, uint64_t offset, size_t n, float* out);
TESS_API tessStatus_t tessRandNormalF64(uint64_t seed, uint64_t offset, size_t n, double* out);

/* ---------------------------------------------------------------------------------------
 * .npy and .npz files
 * ------------------------------------------------------------------------------------- */

/* Loads an .npy file (format 1.0, 2.0 or 3.0) into a new contiguous owning tensor of the
 * file's dtype: <f4 <f8 <f2 |i1 <i2 <i4 <i8 |u1 |b1. Fortran-order files are converted to
 * row-major. Errors: TESS_ERROR_IO (cannot read), TESS_ERROR_BAD_FILE (truncated, corrupt,
 * big-endian, object dtype), TESS_ERROR_NOT_SUPPORTED (a valid dtype without a tessDType,
 * rank above 8). */
TESS_API tessStatus_t tessNpyLoad(const char* path, tessTensor* out);
/* As tessNpyLoad, then checks the result against what the program expects: dtype, and
 * (when shape is not NULL) rank and shape, where -1 matches any size. Expecting TESS_BF16
 * accepts a <f4 file and rounds it to bf16 (the way bf16 is saved). Mismatches give
 * TESS_ERROR_DTYPE_MISMATCH ("x.npy: expected dtype <f4, found <i8") or
 * TESS_ERROR_SHAPE_MISMATCH. */
TESS_API tessStatus_t tessNpyLoadExpect(const char* path, tessDType dtype, int32_t rank, const int64_t* shape,
                                        tessTensor* out);
/* Parses an .npy image from memory (for archives and tests). */
TESS_API tessStatus_t tessNpyLoadFromMemory(const void* data, size_t size, tessTensor* out);
/* Saves as format 1.0 (2.0 if the header needs it) with NumPy's exact header layout. bf16 is
 * saved as <f4 (exact); strided tensors are saved in row-major order. */
TESS_API tessStatus_t tessNpySave(const char* path, const tessTensor* tensor);

/* A loaded .npz archive: named tensors in archive order. */
typedef struct tessNpz_st* tessNpz_t;
/* Loads every "<name>.npy" member of a zip archive (stored or deflate-compressed, zip64
 * included) — what numpy.savez and numpy.savez_compressed write. */
TESS_API tessStatus_t tessNpzLoad(const char* path, tessNpz_t* npz);
TESS_API tessStatus_t tessNpzLoadFromMemory(const void* data, size_t size, tessNpz_t* npz);
TESS_API tessStatus_t tessNpzCount(tessNpz_t npz, size_t* count);
/* The name of entry i, without ".npy"; valid until tessNpzFree. */
TESS_API tessStatus_t tessNpzName(tessNpz_t npz, size_t index, const char** name);
/* A non-owning view (owns = 0) of the named entry, valid until tessNpzFree. */
TESS_API tessStatus_t tessNpzGet(tessNpz_t npz, const char* name, tessTensor* view);
TESS_API tessStatus_t tessNpzFree(tessNpz_t npz);
/* Writes count named tensors as an uncompressed zip of "<name>.npy" members, which
 * numpy.load reads. Names must be non-empty and distinct. */
TESS_API tessStatus_t tessNpzSave(const char* path, size_t count, const char* const* names, const tessTensor* tensors);

/* ---------------------------------------------------------------------------------------
 * Printing (LANGUAGE.md section 6; exact rules in docs/runtime.md)
 * ------------------------------------------------------------------------------------- */

/* Output buffer convention of the tessFormat* functions: *needed (if not NULL) receives the
 * length of the full text without the terminating NUL. buf == NULL with cap == 0 only
 * measures. Otherwise the text and a NUL are written; if cap <= length, the text is cut to
 * cap - 1 characters (still NUL-terminated) and TESS_ERROR_BUFFER_TOO_SMALL is returned. */

/* A rank-0 tensor as a scalar (NumPy's str of the scalar: 0.1, 1e-05, 1.0, True), any
 * other as NumPy's str(array) with default print options. */
TESS_API tessStatus_t tessFormatTensor(const tessTensor* tensor, char* buf, size_t cap, size_t* needed);

typedef enum tessValueKind {
  TESS_VALUE_NONE = 0,   /* None */
  TESS_VALUE_BOOL = 1,   /* i != 0: True / False */
  TESS_VALUE_I64 = 2,    /* i */
  TESS_VALUE_F64 = 3,    /* f, shortest round-trip digits of a double (Python's repr) */
  TESS_VALUE_F32 = 4,    /* f (a float widened to double), shortest digits of the float */
  TESS_VALUE_STR = 5,    /* ptr: const char*, printed as is */
  TESS_VALUE_SHAPE = 6,  /* rank dims at ptr (const int64_t*): (784, 256), (5,), () */
  TESS_VALUE_TENSOR = 7, /* ptr: const tessTensor* */
  TESS_VALUE_MAX_ENUM = 0x7fffffff
} tessValueKind;

/* One argument of print(). Flat for generated code: kind @0, rank @4, i @8, f @16, ptr @24,
 * size 32. */
typedef struct tessValue {
  int32_t kind; /* tessValueKind */
  int32_t rank;
  int64_t i;
  double f;
  const void* ptr;
} tessValue;

/* print(v0, v1, ...): the values formatted and separated by one space, then a newline. */
TESS_API tessStatus_t tessFormatValues(const tessValue* values, size_t count, char* buf, size_t cap, size_t* needed);
/* Writes the tessFormatValues text to stdout in one write and flushes. */
TESS_API tessStatus_t tessPrintValues(const tessValue* values, size_t count);

/* Scalar helpers with the same rules as the corresponding tessValue kinds. */
TESS_API tessStatus_t tessFormatF64(double value, char* buf, size_t cap, size_t* needed);
TESS_API tessStatus_t tessFormatF32(float value, char* buf, size_t cap, size_t* needed);
TESS_API tessStatus_t tessFormatShape(int32_t rank, const int64_t* dims, char* buf, size_t cap, size_t* needed);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TESSERA_RUNTIME_H_ */
