// The MLIR half of the CPU back end: dialect registration and the pass pipeline from tensors to
// the LLVM dialect, then translation to LLVM IR. Registration lives only in this file because
// MLIR's registration headers are slow to compile.
#include <atomic>
#include <functional>
#include <string>

#include "codegen/codegen.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/BufferizationToMemRef/BufferizationToMemRef.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/BufferDeallocationOpInterfaceImpl.h"
#include "mlir/Dialect/Arith/Transforms/BufferViewFlowOpInterfaceImpl.h"
#include "mlir/Dialect/Arith/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/Transforms/OneShotAnalysis.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/ControlFlow/Transforms/BufferDeallocationOpInterfaceImpl.h"
#include "mlir/Dialect/ControlFlow/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/AllInterfaces.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/AllocationOpInterfaceImpl.h"
#include "mlir/Dialect/MemRef/Transforms/BufferViewFlowOpInterfaceImpl.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/BufferDeallocationOpInterfaceImpl.h"
#include "mlir/Dialect/SCF/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/IR/TensorInferTypeOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/Transforms/SubsetInsertionOpInterfaceImpl.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "mlir/Transforms/Passes.h"

namespace tessera::codegen {
namespace {

std::atomic<uint64_t> g_pipeline_runs{0};

// finalize-memref-to-llvm turns a memref.copy between non-contiguous buffers (copies into and
// out of subviews) into a call to `memrefCopy` from MLIR's C runner library, which compiled
// programs do not link. This pass rewrites those copies as linalg.copy, which becomes loops;
// contiguous copies stay memref.copy and become memcpy. It is an implementation detail of the
// pipeline, so it has no header of its own.
struct StridedCopyToLinalgPass : public mlir::PassWrapper<StridedCopyToLinalgPass, mlir::OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(StridedCopyToLinalgPass)

  llvm::StringRef getArgument() const final { return "tessera-strided-copy-to-linalg"; }
  llvm::StringRef getDescription() const final { return "rewrite non-contiguous memref.copy as linalg.copy"; }
  void getDependentDialects(mlir::DialectRegistry& registry) const override {
    registry.insert<mlir::linalg::LinalgDialect>();
  }

  static bool contiguous(mlir::Type type) {
    auto memref = llvm::dyn_cast<mlir::MemRefType>(type);
    return memref && (memref.getLayout().isIdentity() || mlir::memref::isStaticShapeAndContiguousRowMajor(memref));
  }

  void runOnOperation() override {
    llvm::SmallVector<mlir::memref::CopyOp> copies;
    getOperation()->walk([&](mlir::memref::CopyOp copy) {
      bool ranked = llvm::isa<mlir::MemRefType>(copy.getSource().getType()) &&
                    llvm::isa<mlir::MemRefType>(copy.getTarget().getType());
      if (ranked && !(contiguous(copy.getSource().getType()) && contiguous(copy.getTarget().getType())))
        copies.push_back(copy);
    });
    for (mlir::memref::CopyOp copy : copies) {
      mlir::OpBuilder builder(copy);
      builder.create<mlir::linalg::CopyOp>(copy.getLoc(), mlir::ValueRange{copy.getSource()},
                                           mlir::ValueRange{copy.getTarget()});
      copy.erase();
    }
  }
};

// Names the pass that failed in the diagnostics: several upstream passes fail without saying so.
struct FailedPassReporter : public mlir::PassInstrumentation {
  void runAfterPassFailed(mlir::Pass* pass, mlir::Operation* op) override {
    mlir::emitError(op->getLoc()) << "codegen pass '" << pass->getArgument() << "' failed";
  }
};

// Entry functions get the C interface, and their tensor arguments are read-only: without
// `bufferization.writable = false`, one-shot bufferization may update an argument in place,
// which would change the caller's input.
void prepare_entries(mlir::ModuleOp module) {
  mlir::MLIRContext* context = module.getContext();
  for (auto func : module.getOps<mlir::func::FuncOp>()) {
    if (func.isExternal() || func.isPrivate()) continue;
    func->setAttr("llvm.emit_c_interface", mlir::UnitAttr::get(context));
    for (unsigned i = 0; i < func.getNumArguments(); ++i) {
      if (llvm::isa<mlir::TensorType>(func.getArgument(i).getType()))
        func.setArgAttr(i, "bufferization.writable",
                        mlir::BoolAttr::get(context, func.getArgAttr(i, "tessera.donated") != nullptr));
    }
  }
}

// Streaming stores keep their promise of alignment: a nontemporal vector store (only the Tile IR
// schedule makes them, and only where it proved the address aligned to the vector's size, up
// to 64 bytes; docs/tile_ir.md) gets that alignment on the LLVM store. MLIR lowers vector.store
// with the element's alignment, and x86 splits an under-aligned streaming store into scalar ones.
struct NontemporalAlignmentPass : public mlir::PassWrapper<NontemporalAlignmentPass, mlir::OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(NontemporalAlignmentPass)

  llvm::StringRef getArgument() const final { return "tessera-nontemporal-alignment"; }
  llvm::StringRef getDescription() const final {
    return "give nontemporal vector stores the alignment of their vector (at most 64 bytes)";
  }

  void runOnOperation() override {
    getOperation()->walk([](mlir::LLVM::StoreOp store) {
      auto vector = llvm::dyn_cast<mlir::VectorType>(store.getValue().getType());
      if (!store.getNontemporal() || !vector || !vector.getElementType().isIntOrFloat()) return;
      uint64_t bytes = vector.getNumElements() * std::max<uint64_t>(1, vector.getElementTypeBitWidth() / 8);
      uint64_t align = std::min<uint64_t>(64, bytes & (~bytes + 1));  // largest power of two dividing it
      if (store.getAlignment().value_or(0) < align) store.setAlignment(align);
    });
  }
};

// Donated results (docs/codegen.md, "Donated arguments"). An entry's result that one-shot
// bufferization made the buffer of a donated argument (updated in place) would be cloned by
// ownership-based deallocation, which returns owned buffers only. So it is detached before
// deallocation: dropped from the return and the function type, with `tessera.donated_results`
// = [result, argument, ...] recording it (a call of the function in the module uses its operand
// instead), and attached again afterwards, where it returns the argument's buffer itself.
constexpr llvm::StringLiteral kDonatedResults = "tessera.donated_results";

mlir::Value strip_casts(mlir::Value v) {
  while (auto cast = v.getDefiningOp<mlir::memref::CastOp>()) v = cast.getSource();
  return v;
}

// Calls of `func` in the module.
llvm::SmallVector<mlir::func::CallOp> calls_of(mlir::ModuleOp module, mlir::func::FuncOp func) {
  llvm::SmallVector<mlir::func::CallOp> calls;
  module.walk([&](mlir::func::CallOp call) {
    if (call.getCallee() == func.getSymName()) calls.push_back(call);
  });
  return calls;
}

struct DetachDonatedResultsPass
    : public mlir::PassWrapper<DetachDonatedResultsPass, mlir::OperationPass<mlir::ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(DetachDonatedResultsPass)

  llvm::StringRef getArgument() const final { return "tessera-detach-donated-results"; }
  llvm::StringRef getDescription() const final {
    return "drop the results of entries that are the buffers of donated arguments (before deallocation)";
  }

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    for (auto func : llvm::make_early_inc_range(module.getOps<mlir::func::FuncOp>())) {
      if (func.isExternal() || !func.getBody().hasOneBlock()) continue;
      auto ret = llvm::dyn_cast<mlir::func::ReturnOp>(func.getBody().front().getTerminator());
      if (!ret) continue;
      llvm::SmallVector<int64_t> pairs;
      llvm::BitVector drop(ret.getNumOperands());
      for (auto [i, operand] : llvm::enumerate(ret.getOperands())) {
        auto arg = llvm::dyn_cast<mlir::BlockArgument>(strip_casts(operand));
        if (!arg || arg.getOwner() != &func.getBody().front() ||
            !func.getArgAttr(arg.getArgNumber(), "tessera.donated") || arg.getType() != operand.getType())
          continue;
        pairs.push_back(static_cast<int64_t>(i));
        pairs.push_back(arg.getArgNumber());
        drop.set(i);
      }
      if (pairs.empty()) continue;
      for (mlir::func::CallOp call : calls_of(module, func)) {
        mlir::OpBuilder b(call);
        llvm::SmallVector<mlir::Type> types;
        for (unsigned i = 0; i < call.getNumResults(); ++i)
          if (!drop.test(i)) types.push_back(call.getResult(i).getType());
        auto fresh = b.create<mlir::func::CallOp>(call.getLoc(), func.getSymName(), types, call.getOperands());
        unsigned next = 0;
        for (unsigned i = 0; i < call.getNumResults(); ++i) {
          if (!drop.test(i)) {
            call.getResult(i).replaceAllUsesWith(fresh.getResult(next++));
            continue;
          }
          auto it = llvm::find(pairs, int64_t(i));
          call.getResult(i).replaceAllUsesWith(call.getOperand(static_cast<unsigned>(*(it + 1))));
        }
        call.erase();
      }
      ret->eraseOperands(drop);
      func.setType(mlir::FunctionType::get(func.getContext(), func.getArgumentTypes(), ret.getOperandTypes()));
      func->setAttr(kDonatedResults, mlir::DenseI64ArrayAttr::get(func.getContext(), pairs));
    }
  }
};

struct AttachDonatedResultsPass
    : public mlir::PassWrapper<AttachDonatedResultsPass, mlir::OperationPass<mlir::ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(AttachDonatedResultsPass)

  llvm::StringRef getArgument() const final { return "tessera-attach-donated-results"; }
  llvm::StringRef getDescription() const final {
    return "return the donated arguments' buffers again as the results they were (after deallocation)";
  }

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    for (auto func : module.getOps<mlir::func::FuncOp>()) {
      auto pairs = func->getAttrOfType<mlir::DenseI64ArrayAttr>(kDonatedResults);
      if (!pairs) continue;
      func->removeAttr(kDonatedResults);
      auto ret = llvm::cast<mlir::func::ReturnOp>(func.getBody().front().getTerminator());
      llvm::SmallVector<mlir::Value> operands(ret.getOperands());
      llvm::ArrayRef<int64_t> p = pairs.asArrayRef();
      unsigned total = operands.size() + p.size() / 2;
      llvm::SmallVector<mlir::Value> full(total);
      llvm::BitVector attached(total);
      for (size_t k = 0; k + 1 < p.size(); k += 2) {
        full[p[k]] = func.getArgument(static_cast<unsigned>(p[k + 1]));
        attached.set(p[k]);
      }
      unsigned next = 0;
      for (unsigned i = 0; i < total; ++i)
        if (!attached.test(i)) full[i] = operands[next++];
      ret->setOperands(full);
      func.setType(mlir::FunctionType::get(func.getContext(), func.getArgumentTypes(), ret.getOperandTypes()));
      for (mlir::func::CallOp call : calls_of(module, func)) {
        mlir::OpBuilder b(call);
        auto fresh = b.create<mlir::func::CallOp>(call.getLoc(), func.getSymName(),
                                                  func.getFunctionType().getResults(), call.getOperands());
        unsigned k = 0;
        for (unsigned i = 0; i < total; ++i)
          if (!attached.test(i)) call.getResult(k++).replaceAllUsesWith(fresh.getResult(i));
        call.erase();
      }
    }
  }
};

// Tensors to buffers: steps 1-6 of docs/codegen.md (the hooks included).
void build_buffer_pipeline(mlir::OpPassManager& pm, const CpuOptions& options) {
  using namespace mlir;
  // Tensors.
  if (options.pre_bufferization) options.pre_bufferization(pm);
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
  pm.addPass(bufferization::createEmptyTensorToAllocTensorPass());
  // Bufferization: identity layouts at function boundaries keep the C interface to plain
  // row-major buffers; loops may yield fresh buffers (scf.while over tensors).
  // The options are given as pass options, not as a OneShotBufferizationOptions struct: only
  // pass options show in the textual pipeline (describe_pipeline, the cache key).
  std::unique_ptr<Pass> bufferize = bufferization::createOneShotBufferizePass();
  if (failed(bufferize->initializeOptions("bufferize-function-boundaries=true "
                                          "function-boundary-type-conversion=identity-layout-map "
                                          "allow-return-allocs-from-loops=true",
                                          [](const llvm::Twine&) { return failure(); }))) {
    bufferization::OneShotBufferizationOptions options;
    options.bufferizeFunctionBoundaries = true;
    options.setFunctionBoundaryTypeConversion(bufferization::LayoutMapOption::IdentityLayoutMap);
    options.allowReturnAllocsFromLoops = true;
    bufferize = bufferization::createOneShotBufferizePass(options);
  }
  pm.addPass(std::move(bufferize));
  // Ownership-based deallocation: every buffer is freed once; returned buffers are owned by
  // the caller (cloned when they alias an argument or a constant), except the buffers of
  // donated arguments, returned as they are.
  pm.addPass(std::make_unique<DetachDonatedResultsPass>());
  bufferization::buildBufferDeallocationPipeline(pm, bufferization::BufferDeallocationPipelineOptions());
  pm.addPass(std::make_unique<AttachDonatedResultsPass>());
  pm.addPass(createBufferizationToMemRefPass());
  // Buffers.
  if (options.post_bufferization) options.post_bufferization(pm);
}

// Buffers to the LLVM dialect: steps 7-9 of docs/codegen.md.
void build_llvm_pipeline(mlir::OpPassManager& pm, const CpuOptions& options) {
  using namespace mlir;
  pm.addPass(create_allocation_size_check_pass());
  // f32 <-> bf16 conversions become integer arithmetic (round to nearest even, NaN kept), which
  // vectorizes, unless the CPU converts in hardware (AVX512-BF16): LLVM would otherwise call
  // __truncsfbf2 once per element. The option shows in the pipeline text, so in the cache key.
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = !target_has_feature(options, "avx512bf16");
  // Passes that rewrite one function at a time run nested on func.func, so that MLIR runs them
  // on the functions in parallel (the context's threads); the conversions that add or change
  // module-level symbols (memref, libm, func and cf to LLVM) run on the module between them.
  {
    OpPassManager& functions = pm.nest<func::FuncOp>();
    functions.addPass(create_expand_float8_pass());
    functions.addPass(arith::createArithExpandOpsPass(expand));
    functions.addPass(std::make_unique<StridedCopyToLinalgPass>());
    functions.addPass(createConvertVectorToSCFPass());
    functions.addPass(createConvertLinalgToLoopsPass());
    functions.addPass(createLowerAffinePass());
    functions.addPass(createConvertSCFToCFPass());
    functions.addPass(memref::createExpandStridedMetadataPass());
    functions.addPass(createLowerAffinePass());
  }
  // LLVM dialect. Math ops with an LLVM intrinsic become intrinsics (vectorizable); the others
  // (tanh, erf, atan, ...) become libm calls.
  pm.nest<func::FuncOp>().addPass(createConvertVectorToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.nest<func::FuncOp>().addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  {
    OpPassManager& functions = pm.nest<func::FuncOp>();
    functions.addPass(create_expand_float8_pass());
    functions.addPass(arith::createArithExpandOpsPass(expand));
    functions.addPass(createArithToLLVMConversionPass());
    functions.addPass(createConvertIndexToLLVMPass());
  }
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  {
    OpPassManager& functions = pm.nest<LLVM::LLVMFuncOp>();
    functions.addPass(createReconcileUnrealizedCastsPass());
    functions.addPass(std::make_unique<NontemporalAlignmentPass>());
  }
}

void build_pipeline(mlir::OpPassManager& pm, const CpuOptions& options) {
  build_buffer_pipeline(pm, options);
  build_llvm_pipeline(pm, options);
}

// Runs `build` on the module, with the failing pass named in the diagnostics.
mlir::LogicalResult run_passes(mlir::ModuleOp module, const CpuOptions& options,
                               const std::function<void(mlir::OpPassManager&)>& build) {
  mlir::MLIRContext* context = module.getContext();
  mlir::DialectRegistry registry;
  register_codegen_dialects(registry);
  context->appendDialectRegistry(registry);
  prepare_entries(module);

  mlir::PassManager pm(context);
  build(pm);
  pm.addInstrumentation(std::make_unique<FailedPassReporter>());
  if (options.print_ir_after_all) {
    // Printing after each pass needs a single thread (MLIR's own requirement).
    context->disableMultithreading();
    pm.enableIRPrinting(/*shouldPrintBeforePass=*/[](mlir::Pass*, mlir::Operation*) { return false; },
                        /*shouldPrintAfterPass=*/[](mlir::Pass*, mlir::Operation*) { return true; },
                        /*printModuleScope=*/true, /*printAfterOnlyOnChange=*/false);
  }
  if (options.pass_timing) pm.enableTiming();
  return pm.run(module);
}

}  // namespace

void register_codegen_dialects(mlir::DialectRegistry& registry) {
  using namespace mlir;
  registry
      .insert<affine::AffineDialect, arith::ArithDialect, bufferization::BufferizationDialect, cf::ControlFlowDialect,
              func::FuncDialect, index::IndexDialect, linalg::LinalgDialect, LLVM::LLVMDialect, math::MathDialect,
              memref::MemRefDialect, scf::SCFDialect, tensor::TensorDialect, vector::VectorDialect>();
  arith::registerBufferDeallocationOpInterfaceExternalModels(registry);
  arith::registerBufferizableOpInterfaceExternalModels(registry);
  arith::registerBufferViewFlowOpInterfaceExternalModels(registry);
  bufferization::func_ext::registerBufferizableOpInterfaceExternalModels(registry);
  cf::registerBufferDeallocationOpInterfaceExternalModels(registry);
  cf::registerBufferizableOpInterfaceExternalModels(registry);
  linalg::registerAllDialectInterfaceImplementations(registry);
  memref::registerAllocationOpInterfaceExternalModels(registry);
  memref::registerBufferViewFlowOpInterfaceExternalModels(registry);
  scf::registerBufferDeallocationOpInterfaceExternalModels(registry);
  scf::registerBufferizableOpInterfaceExternalModels(registry);
  tensor::registerBufferizableOpInterfaceExternalModels(registry);
  tensor::registerInferTypeOpInterfaceExternalModels(registry);
  tensor::registerSubsetOpInterfaceExternalModels(registry);
  vector::registerBufferizableOpInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
}

std::string describe_pipeline(const CpuOptions& options) {
  mlir::DialectRegistry registry;
  register_codegen_dialects(registry);
  mlir::MLIRContext context(registry, mlir::MLIRContext::Threading::DISABLED);
  mlir::PassManager pm(&context);
  build_pipeline(pm, options);
  std::string text;
  llvm::raw_string_ostream os(text);
  pm.printAsTextualPipeline(os);
  return text;
}

uint64_t pipeline_run_count() { return g_pipeline_runs.load(); }

mlir::LogicalResult lower_to_llvm_dialect(mlir::ModuleOp module, const CpuOptions& options) {
  ++g_pipeline_runs;
  return run_passes(module, options, [&](mlir::OpPassManager& pm) { build_pipeline(pm, options); });
}

mlir::LogicalResult lower_to_buffers(mlir::ModuleOp module, const CpuOptions& options) {
  return run_passes(module, options, [&](mlir::OpPassManager& pm) { build_buffer_pipeline(pm, options); });
}

std::unique_ptr<llvm::Module> translate_to_llvm_ir(mlir::ModuleOp module, llvm::LLVMContext& context) {
  mlir::DialectRegistry registry;
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  module.getContext()->appendDialectRegistry(registry);
  return mlir::translateModuleToLLVMIR(module, context, "tessera");
}

}  // namespace tessera::codegen
