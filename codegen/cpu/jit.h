// In-process execution of compiled modules: an ORC LLJIT over the cached or freshly compiled
// object, and calls into entry functions with runtime values.
#ifndef TESSERA_CODEGEN_CPU_JIT_H_
#define TESSERA_CODEGEN_CPU_JIT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "codegen/codegen.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

namespace tessera::codegen {

// A value passed to or returned from an entry function: a scalar or a strided tensor.
struct RtValue {
  enum class Kind : uint8_t { Tensor, I1, I32, I64, F32, F64 };
  Kind kind = Kind::I64;
  // Scalars: I1 (0 or 1), I32 and I64 in int_value; F32 and F64 in float_value.
  int64_t int_value = 0;
  double float_value = 0;
  // Tensors: element type, sizes, strides in elements (same length as shape), and the address
  // of element (0, ..., 0).
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  void* data = nullptr;
  // Set when the value owns its buffer (copies share it); null for a borrowed view, whose memory
  // must outlive every use. Tensors returned by invoke() own their buffers.
  std::shared_ptr<void> owner;

  static RtValue from_i1(bool value);
  static RtValue from_i32(int32_t value);
  static RtValue from_i64(int64_t value);
  static RtValue from_f32(float value);
  static RtValue from_f64(double value);
  // A borrowed view of caller memory; empty strides mean row-major contiguous.
  static RtValue tensor_view(DType dtype, std::vector<int64_t> shape, void* data, std::vector<int64_t> strides = {});
  // A new owning, zero-filled, row-major tensor, 64-byte aligned.
  static RtValue tensor_zeros(DType dtype, std::vector<int64_t> shape);

  bool is_tensor() const { return kind == Kind::Tensor; }
  bool owning() const { return owner != nullptr; }
  int64_t numel() const;
  // Same rank as `type`, and the same sizes where `type` has static ones.
  bool shape_matches(const ValueType& type) const;
  // Row-major without gaps (strides of size-1 dimensions do not matter).
  bool contiguous() const;
  // A new owning row-major copy of a (strided) tensor.
  RtValue contiguous_copy() const;
  // The element at a multi-index, following strides.
  template <class T>
  T at(std::initializer_list<int64_t> index) const {
    int64_t offset = 0, d = 0;
    for (int64_t i : index) offset += i * strides[d++];
    return static_cast<const T*>(data)[offset];
  }
  // "tensor<2x3xf32>", "i64 5", "f64 0.5".
  std::string str() const;
};

struct JitOptions {
  // Look up and store compiled objects in the compile cache (cpu/cache.h).
  bool use_cache = true;
  // Empty: default_cache_dir(). The cache is off when both are empty.
  std::string cache_dir;
  // Shared libraries searched for external symbols after the process itself and libm (for
  // example libtessera_rt.so when the runtime is not linked into the executable).
  std::vector<std::string> libraries;
  // Explicit definitions of external symbols; they win over the process's. Tests use them to
  // count allocations (malloc, calloc, free).
  std::vector<std::pair<std::string, void*>> symbols;
};

// A compiled module loaded into an ORC LLJIT. External symbols resolve to `symbols`, then to the
// current process (so runtime functions linked into tesserac are found; the executable must
// export them, e.g. with -rdynamic / ENABLE_EXPORTS), then to libm, then to `libraries`.
class JitModule {
 public:
  // Compiles (or takes from the cache) a tensor-level module; `module` itself is not changed.
  static llvm::Expected<std::unique_ptr<JitModule>> compile(mlir::ModuleOp module, const CpuOptions& options = {},
                                                            const JitOptions& jit_options = {});
  // Loads an object made by compile_to_object(..., ObjectKind::Jit) for these entries.
  static llvm::Expected<std::unique_ptr<JitModule>> load(std::unique_ptr<llvm::MemoryBuffer> object,
                                                         std::vector<EntrySignature> entries,
                                                         const JitOptions& jit_options = {});
  ~JitModule();
  JitModule(const JitModule&) = delete;
  JitModule& operator=(const JitModule&) = delete;

  // Calls an entry: checks the arguments against its signature (kinds, dtypes, ranks, static
  // sizes), builds memref descriptors (a row-major copy is made of non-contiguous tensors),
  // calls through _mlir_ciface_<name>, and returns the results. Returned tensors own their
  // buffers and free them with the deallocator the compiled code allocates with (`free` as the
  // JIT resolves it); results that share one buffer share its ownership.
  llvm::Expected<std::vector<RtValue>> invoke(llvm::StringRef entry, llvm::ArrayRef<RtValue> args);

  const std::vector<EntrySignature>& entries() const;
  const EntrySignature* find_entry(llvm::StringRef name) const;
  // The address of any symbol of the compiled code (e.g. "_mlir_ciface_main").
  llvm::Expected<void*> lookup(llvm::StringRef symbol);
  // Time per phase; cache_hit says whether the MLIR and LLVM pipelines were skipped.
  const CompileStats& stats() const;
  // Why the object could not be stored in the cache (the compile still succeeded); empty if it was.
  const std::string& cache_warning() const;

 private:
  struct Impl;
  explicit JitModule(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::codegen

#endif  // TESSERA_CODEGEN_CPU_JIT_H_
