// Shared core of the LLVM back ends: the MLIR lowering to the LLVM dialect, translation to LLVM IR,
// LLVM optimization and object emission for the host CPU.
#ifndef TESSERA_CODEGEN_CODEGEN_H_
#define TESSERA_CODEGEN_CODEGEN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
}  // namespace llvm

namespace mlir {
class DialectRegistry;
class OpPassManager;
class Pass;
}  // namespace mlir

namespace tessera::codegen {

// What the CPU back end is asked to do. Everything here that changes the generated code is part
// of the compile-cache key (see cpu/cache.h).
struct CpuOptions {
  // LLVM optimization level, 0..3 (the new PassBuilder's O0..O3, and the matching codegen level).
  int opt_level = 2;
  // "native": the host CPU's name and features (AVX2/FMA where present). "generic" or "x86-64":
  // baseline x86-64. Anything else is taken as an LLVM CPU name ("x86-64-v3", "znver4").
  std::string arch = "native";
  // Verbose lowering: print the module after every MLIR pass to stderr.
  bool print_ir_after_all = false;
  // Print MLIR's per-pass timing report to stderr after the pipeline.
  bool pass_timing = false;
  // Where performance work plugs in. Passes added here run on tensors just before bufferization
  // (tiling, fusion, vectorization through the transform dialect) or on memrefs just after the
  // deallocation pipeline (loop tiling, vectorization of buffers, parallel loops). The pipeline
  // accepts vector and scf ops coming out of them. Their passes appear in describe_pipeline(),
  // so they are part of the cache key.
  std::function<void(mlir::OpPassManager&)> pre_bufferization;
  std::function<void(mlir::OpPassManager&)> post_bufferization;
};

// Element types of tensors crossing the C interface. The values are those of tessDType in
// runtime/include/tessera/runtime.h, so the two convert by a cast.
enum class DType : int32_t { F32 = 0, F64 = 1, F16 = 2, BF16 = 3, I8 = 4, I16 = 5, I32 = 6, I64 = 7, U8 = 8, I1 = 9 };

// Size in bytes of one element (I1 is stored as one byte, like MLIR's memref<?xi1>).
int64_t dtype_size(DType dtype);
// "f32", "bf16", "i1", ...
const char* dtype_name(DType dtype);

// The type of one argument or result of an entry function, read from its func.func type.
struct ValueType {
  // Scalar kinds at the boundary are I1, I32, I64, F32, F64 (index is I64).
  bool is_tensor = false;
  DType dtype = DType::F32;
  // Tensors only: the static sizes, kDynamic (-1) for a dynamic dimension.
  std::vector<int64_t> shape;
  // Parameters only, from the `tessera.dims` argument attribute (an array of strings): the
  // symbolic dimension each size binds ("" for none); empty when the attribute is absent. Every
  // size of the entry's parameters that names one symbol must have one value in a call.
  std::vector<std::string> dim_names;
  static constexpr int64_t kDynamic = -1;
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  // "tensor<?x4xf32>", "i64".
  std::string str() const;
};

// An exported function: every public func.func with a body. Private functions are internal
// helpers; bodiless declarations are calls to the runtime or other C functions.
struct EntrySignature {
  std::string name;
  std::vector<ValueType> params;
  std::vector<ValueType> results;
  // Per parameter: donated (`tessera.donated`, from `donate_argnums`). The entry may update a
  // donated tensor in place and return its buffer as a result (docs/codegen.md).
  std::vector<bool> donated;
  // Per parameter: its source name (`tessera.name`), "" when unknown. For messages.
  std::vector<std::string> param_names;
  // A function the runtime calls back (`tessera.callback`: the log density of a probabilistic
  // function): it gets a packed wrapper, `__tess_callback.<name>` returns its address, and it is
  // not an entry of a library's C interface.
  bool callback = false;
  // The C interface returns results through a pointer (first parameter of _mlir_ciface_<name>)
  // when there are several, or when the only one is a tensor.
  bool results_through_pointer() const { return results.size() > 1 || (results.size() == 1 && results[0].is_tensor); }
};

// Where _mlir_ciface_<name> puts each result when it returns them through a pointer: an LLVM
// struct of memref descriptors ({ptr allocated, ptr aligned, i64 offset, [rank x i64] sizes,
// [rank x i64] strides}, 24 + 16 * rank bytes) and scalars, with natural alignment.
struct ResultLayout {
  std::vector<uint64_t> offsets;
  uint64_t size = 0;
  uint64_t align = 1;
};
ResultLayout result_layout(const EntrySignature& entry);

// The entry signatures of a module, on tensors or (identity-layout) memrefs. Fails with a message
// when an entry has a type the C interface cannot pass (unranked tensors, tuples, complex).
llvm::Expected<std::vector<EntrySignature>> collect_entry_signatures(mlir::ModuleOp module);

// Adds the dialects, interface models and LLVM IR translations the CPU pipeline needs. The
// functions below also append them to the module's context themselves, so calling this is only
// needed to parse modules from text.
void register_codegen_dialects(mlir::DialectRegistry& registry);

// Lowers a module of func.func on tensors (linalg, tensor, arith, math, scf, bufferization,
// func.call to bodiless `func.func private` declarations) to the LLVM dialect, in place:
// one-shot bufferization across function boundaries (identity layouts), ownership-based buffer
// deallocation (the caller owns returned buffers), linalg to loops, scf/affine to cf, memref,
// math (libm where LLVM has no intrinsic), arith, func and cf to LLVM. Every entry function gets
// `llvm.emit_c_interface` (`_mlir_ciface_<name>`), and its tensor arguments are marked
// read-only, so compiled code never writes into the caller's inputs. On failure the MLIR
// diagnostics, with the name of the failing pass, go to the context's diagnostic handler.
mlir::LogicalResult lower_to_llvm_dialect(mlir::ModuleOp module, const CpuOptions& options);

// The first half of lower_to_llvm_dialect, in place: the pre_bufferization hook, bufferization,
// deallocation and the post_bufferization hook, stopping at buffers (memref, scf, vector,
// linalg on memrefs), before any LLVM dialect. `tesserac emit --stage=tile` prints its result.
mlir::LogicalResult lower_to_buffers(mlir::ModuleOp module, const CpuOptions& options);

// Before every memref.alloc (on buffers, in lower_to_llvm_dialect): its byte count computed with
// overflow checks; when a size is negative or the count exceeds kMaxAllocationBytes, a call of
// `kAllocationSizeError(message)` with "runtime error: ..." and the source location of the
// allocation. The LLVM back end defines that function (exit 3 in the JIT, a status in AOT
// libraries).
std::unique_ptr<mlir::Pass> create_allocation_size_check_pass();
inline constexpr const char* kAllocationSizeError = "__tess_allocation_size_error";

// `--tessera-expand-float8` (float8.cpp): arith.extf / arith.truncf to or from f8E4M3FN and
// f8E5M2 (stored as i8 in LLVM) become integer arithmetic, for scalars and vectors; rounding to
// nearest even, E4M3FN overflow to NaN, E5M2 overflow to inf.
std::unique_ptr<mlir::Pass> create_expand_float8_pass();
inline constexpr int64_t kMaxAllocationBytes = int64_t{1} << 62;

// The textual pass pipeline that lower_to_llvm_dialect runs (hooks included).
std::string describe_pipeline(const CpuOptions& options);

// How many times lower_to_llvm_dialect has run in this process (the compile cache test checks
// that a cache hit does not run it).
uint64_t pipeline_run_count();

// Translates a module in the LLVM dialect to LLVM IR. Null on failure, with MLIR diagnostics.
std::unique_ptr<llvm::Module> translate_to_llvm_ir(mlir::ModuleOp module, llvm::LLVMContext& context);

// The host CPU name and sorted feature string that `options.arch` selects ("znver4",
// "+avx2,+fma,..."); part of the cache key.
struct TargetDescription {
  std::string triple;
  std::string cpu;
  std::string features;
};
llvm::Expected<TargetDescription> describe_target(const CpuOptions& options);

// Whether the CPU that `options.arch` selects has the LLVM subtarget feature `feature`
// ("avx512bf16"); false for an unknown CPU name.
bool target_has_feature(const CpuOptions& options, llvm::StringRef feature);

// The CPU names `--cpu` / $TESSERA_CPU accept besides LLVM's own: "native", "generic", and the
// x86-64 levels "x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4".
llvm::Error check_cpu_name(llvm::StringRef name);

// A TargetMachine for the host triple, with the CPU and features of `options.arch`, PIC, small
// code model, and the codegen level matching options.opt_level.
llvm::Expected<std::unique_ptr<llvm::TargetMachine>> create_target_machine(const CpuOptions& options);

// Sets the module's triple, data layout and per-function target-cpu/target-features, then runs
// the new PassBuilder's default pipeline for opt_level (0..3).
llvm::Error optimize_llvm_module(llvm::Module& module, llvm::TargetMachine& machine, int opt_level);

// Machine code for the module as an ELF relocatable object.
llvm::Expected<llvm::SmallVector<char, 0>> emit_object_code(llvm::Module& module, llvm::TargetMachine& machine);

// Adds `void _tess_packed_<name>(void** args)` for every entry: args[i] points at the i-th
// parameter of _mlir_ciface_<name> (a descriptor pointer for tensors and the result pointer),
// and, when that function returns a scalar, args[n] points at storage for it. The JIT calls
// entries through these, so one C++ signature serves every entry.
llvm::Error add_packed_wrappers(llvm::Module& module, llvm::ArrayRef<EntrySignature> entries);

// Layout of `tessTensorView`, the tensor struct of the plain-C ABI (emit_c_header writes the
// same struct in C): {void* data; int64_t rank; int64_t shape[8]; int64_t strides[8];
// void* allocated;}. Strides count elements.
namespace c_abi {
inline constexpr int64_t kMaxRank = 8;
inline constexpr uint64_t kDataOffset = 0;
inline constexpr uint64_t kRankOffset = 8;
inline constexpr uint64_t kShapeOffset = 16;
inline constexpr uint64_t kStridesOffset = 80;
inline constexpr uint64_t kAllocatedOffset = 144;
inline constexpr uint64_t kViewSize = 152;
// Status codes the wrappers return; the values of tessStatus_t in runtime.h.
inline constexpr int32_t kSuccess = 0;
inline constexpr int32_t kInvalidArgument = -1;
inline constexpr int32_t kShapeMismatch = -5;
}  // namespace c_abi

// Adds `int32_t tess_<name>(...)` for every entry, the plain-C ABI of emit_c_header (docs/codegen.md):
// tensors as `const tessTensorView*`, scalars by value, results through pointers, status return.
llvm::Error add_c_wrappers(llvm::Module& module, llvm::ArrayRef<EntrySignature> entries);

// The sizes of each parameter that a call passes (a tensor's shape, empty for a scalar) checked
// against an entry's symbolic dimensions: a symbol named by several sizes (`tessera.dims`) binds
// one value. Empty when they agree, else the message ("argument 2 (b): dimension 0 is 5, but K
// is 3 from argument 1 (a), dimension 1"). The JIT's invoke and `tesserac run --entry` use it;
// the C wrappers emit the same checks as code.
std::string check_symbolic_dims(const EntrySignature& entry, const std::vector<std::vector<int64_t>>& shapes);

// "argument 2 (b)", or "argument 2" when the name is unknown (1-based).
std::string describe_param(const EntrySignature& entry, size_t index);

// Wall time of each phase of one compilation, in milliseconds, for the benchmarks.
struct CompileStats {
  double signature_ms = 0;
  double cache_lookup_ms = 0;
  double mlir_pipeline_ms = 0;
  double translate_ms = 0;
  double split_ms = 0;  // cutting the module into partitions (parallel code generation)
  double llvm_opt_ms = 0;
  double codegen_ms = 0;
  double jit_link_ms = 0;
  bool cache_hit = false;
  uint64_t object_bytes = 0;
  unsigned partitions = 1;       // modules optimized and compiled on their own (docs/codegen.md)
  unsigned compile_threads = 1;  // threads that compiled them
  double total_ms() const {
    return signature_ms + cache_lookup_ms + mlir_pipeline_ms + translate_ms + split_ms + llvm_opt_ms + codegen_ms +
           jit_link_ms;
  }
};

// Which wrappers an object carries: the JIT needs the packed ones, AOT libraries the C ones.
enum class ObjectKind { Jit, Aot };

struct CompiledObject {
  // A relocatable object file; for a JIT module compiled in partitions, a GNU archive of one
  // object per partition (JitModule::load links every member).
  llvm::SmallVector<char, 0> object;
  std::vector<EntrySignature> entries;
  CompileStats stats;
};

// Whether a big module may be compiled in partitions on threads (an archive of their objects,
// docs/codegen.md "Parallel code generation"), or must give one relocatable object
// (`tesserac build --emit=obj`).
enum class Partitions { ByModule, One };

// The whole path from a tensor-level module to an object file: signatures, lowering (on a clone;
// `module` is left as it was), translation, wrappers, optimization, codegen. Diagnostics are
// collected into the returned error's message instead of going to the context's handler.
llvm::Expected<CompiledObject> compile_to_object(mlir::ModuleOp module, const CpuOptions& options, ObjectKind kind,
                                                 Partitions partitions = Partitions::ByModule);

// The LLVM IR compile_to_object would turn into machine code (wrappers of `kind` included),
// after optimization at options.opt_level: the text of `tesserac emit --stage=llvm`.
llvm::Expected<std::string> emit_llvm_ir(mlir::ModuleOp module, const CpuOptions& options,
                                         ObjectKind kind = ObjectKind::Jit);

}  // namespace tessera::codegen

#endif  // TESSERA_CODEGEN_CODEGEN_H_
