// The LLVM half of the CPU back end: the host TargetMachine, the new PassBuilder pipeline, object
// emission, the wrappers the JIT and C callers go through, and compile_to_object, which runs the
// whole path.
#include <algorithm>
#include <map>
#include <chrono>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "codegen/codegen.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/MDBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Object/Archive.h"
#include "llvm/Object/ArchiveWriter.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"
#include "llvm/Transforms/Utils/Cloning.h"
#include "llvm/Transforms/Utils/ValueMapper.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/OwningOpRef.h"

namespace tessera::codegen {
namespace {

void initialize_native_target() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

double elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// Collects the diagnostics emitted on a context while it lives, as "file:line:col: error: ..."
// lines, so that library callers get MLIR's text back in an llvm::Error.
class DiagnosticCollector {
 public:
  explicit DiagnosticCollector(mlir::MLIRContext* context)
      : handler_(context, [this](mlir::Diagnostic& diagnostic) {
          append(diagnostic);
          return mlir::success();
        }) {}
  std::string text() const { return text_.empty() ? std::string("unknown error (no diagnostic)") : text_; }

 private:
  void append(mlir::Diagnostic& diagnostic) {
    llvm::raw_string_ostream os(text_);
    if (!text_.empty()) os << "\n";
    if (auto file = llvm::dyn_cast<mlir::FileLineColLoc>(diagnostic.getLocation()))
      os << file.getFilename().getValue() << ":" << file.getLine() << ":" << file.getColumn() << ": ";
    switch (diagnostic.getSeverity()) {
      case mlir::DiagnosticSeverity::Error: os << "error: "; break;
      case mlir::DiagnosticSeverity::Warning: os << "warning: "; break;
      case mlir::DiagnosticSeverity::Note: os << "note: "; break;
      case mlir::DiagnosticSeverity::Remark: os << "remark: "; break;
    }
    os << diagnostic.str();
    for (mlir::Diagnostic& note : diagnostic.getNotes()) {
      // Failing passes attach the whole operation ("see current operation: ..."), which can be
      // the entire module; the start is enough to find it.
      std::string text = note.str();
      if (text.size() > kMaxNoteChars) text = text.substr(0, kMaxNoteChars) + " ...";
      os << "\n  note: " << text;
    }
  }

  static constexpr size_t kMaxNoteChars = 1000;

  std::string text_;
  mlir::ScopedDiagnosticHandler handler_;
};

llvm::Type* scalar_llvm_type(llvm::LLVMContext& context, DType dtype) {
  switch (dtype) {
    case DType::I1: return llvm::Type::getInt1Ty(context);
    case DType::I32: return llvm::Type::getInt32Ty(context);
    case DType::I64: return llvm::Type::getInt64Ty(context);
    case DType::F32: return llvm::Type::getFloatTy(context);
    case DType::F64: return llvm::Type::getDoubleTy(context);
    default: return nullptr;  // not a scalar type of the C interface (collect_entry_signatures rejects it)
  }
}

// MLIR's memref descriptor as an LLVM struct (rank 0 has no size and stride arrays).
llvm::StructType* descriptor_type(llvm::LLVMContext& context, int64_t rank) {
  llvm::Type* ptr = llvm::PointerType::getUnqual(context);
  llvm::Type* i64 = llvm::Type::getInt64Ty(context);
  if (rank == 0) return llvm::StructType::get(context, {ptr, ptr, i64});
  llvm::Type* array = llvm::ArrayType::get(i64, rank);
  return llvm::StructType::get(context, {ptr, ptr, i64, array, array});
}

llvm::Type* value_llvm_type(llvm::LLVMContext& context, const ValueType& value) {
  return value.is_tensor ? descriptor_type(context, value.rank()) : scalar_llvm_type(context, value.dtype);
}

// The struct _mlir_ciface_<name> writes its results into (when results_through_pointer()).
llvm::StructType* result_struct_type(llvm::LLVMContext& context, const EntrySignature& entry) {
  llvm::SmallVector<llvm::Type*> fields;
  for (const ValueType& result : entry.results) fields.push_back(value_llvm_type(context, result));
  return llvm::StructType::get(context, fields);
}

// The C interface function of an entry, checked against its signature: the parameter count of
// _mlir_ciface_<name>, and the result layout that JitModule::invoke computes without LLVM.
llvm::Expected<llvm::Function*> ciface_function(llvm::Module& module, const EntrySignature& entry) {
  llvm::Function* callee = module.getFunction("_mlir_ciface_" + entry.name);
  if (!callee || callee->isDeclaration())
    return llvm::createStringError("entry function '%s' has no C interface (_mlir_ciface_%s)", entry.name.c_str(),
                                   entry.name.c_str());
  size_t expected = entry.params.size() + (entry.results_through_pointer() ? 1 : 0);
  if (callee->arg_size() != expected)
    return llvm::createStringError("internal: _mlir_ciface_%s has %zu parameters, the signature %zu",
                                   entry.name.c_str(), callee->arg_size(), expected);
  if (entry.results_through_pointer()) {
    const llvm::StructLayout* layout =
        module.getDataLayout().getStructLayout(result_struct_type(module.getContext(), entry));
    ResultLayout ours = result_layout(entry);
    bool same = layout->getSizeInBytes() == ours.size;
    for (size_t i = 0; i < ours.offsets.size(); ++i) same = same && layout->getElementOffset(i) == ours.offsets[i];
    if (!same)
      return llvm::createStringError("internal: the result layout of '%s' differs from the data layout's",
                                     entry.name.c_str());
  }
  return callee;
}

// Row-major strides (in elements) of a view of the given sizes, as IR values.
llvm::SmallVector<llvm::Value*> row_major_strides(llvm::IRBuilder<>& b, llvm::ArrayRef<llvm::Value*> sizes) {
  llvm::SmallVector<llvm::Value*> strides(sizes.size());
  llvm::Value* running = b.getInt64(1);
  for (size_t i = sizes.size(); i-- > 0;) {
    strides[i] = running;
    running = b.CreateMul(running, sizes[i]);
  }
  return strides;
}

// The address of sizes[d] (field 3) or strides[d] (field 4) of a memref descriptor.
llvm::Value* array_element(llvm::IRBuilder<>& b, llvm::StructType* desc_type, llvm::Value* desc, unsigned field,
                           int64_t d) {
  return b.CreateInBoundsGEP(desc_type, desc, {b.getInt32(0), b.getInt32(field), b.getInt32(static_cast<int32_t>(d))});
}

}  // namespace

llvm::Expected<TargetDescription> describe_target(const CpuOptions& options) {
  initialize_native_target();
  TargetDescription target;
  target.triple = llvm::sys::getProcessTriple();
  llvm::Triple triple(target.triple);
  if (options.arch == "native") {
    target.cpu = llvm::sys::getHostCPUName().str();
    std::vector<std::string> features;
    for (const auto& feature : llvm::sys::getHostCPUFeatures())
      features.push_back((feature.second ? "+" : "-") + feature.first().str());
    std::sort(features.begin(), features.end());
    for (const std::string& feature : features) target.features += (target.features.empty() ? "" : ",") + feature;
  } else if (options.arch == "generic" || options.arch.empty()) {
    target.cpu = triple.getArch() == llvm::Triple::x86_64 ? "x86-64" : "generic";
  } else {
    target.cpu = options.arch;
  }
  std::string error;
  const llvm::Target* llvm_target = llvm::TargetRegistry::lookupTarget(target.triple, error);
  if (!llvm_target) return llvm::createStringError("no LLVM target for %s: %s", target.triple.c_str(), error.c_str());
  // Asking an MCSubtargetInfo made for the default CPU, because one made for an unknown CPU
  // prints a warning to stderr.
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget(llvm_target->createMCSubtargetInfo(target.triple, "", ""));
  if (!subtarget || !subtarget->isCPUStringValid(target.cpu))
    return llvm::createStringError("unknown CPU '%s' (use native, generic, x86-64-v2, x86-64-v3, x86-64-v4 or an "
                                   "LLVM CPU name such as znver4 or sapphirerapids)",
                                   target.cpu.c_str());
  return target;
}

bool target_has_feature(const CpuOptions& options, llvm::StringRef feature) {
  llvm::Expected<TargetDescription> target = describe_target(options);
  if (!target) {
    llvm::consumeError(target.takeError());
    return false;
  }
  std::string error;
  const llvm::Target* llvm_target = llvm::TargetRegistry::lookupTarget(target->triple, error);
  if (!llvm_target) return false;
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget(
      llvm_target->createMCSubtargetInfo(target->triple, target->cpu, target->features));
  return subtarget && subtarget->checkFeatures(("+" + feature).str());
}

llvm::Error check_cpu_name(llvm::StringRef name) {
  CpuOptions options;
  options.arch = name.str();
  llvm::Expected<TargetDescription> target = describe_target(options);
  if (!target) return target.takeError();
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<llvm::TargetMachine>> create_target_machine(const CpuOptions& options) {
  if (options.opt_level < 0 || options.opt_level > 3)
    return llvm::createStringError("optimization level %d is not in 0..3", options.opt_level);
  llvm::Expected<TargetDescription> target = describe_target(options);
  if (!target) return target.takeError();
  std::string error;
  const llvm::Target* llvm_target = llvm::TargetRegistry::lookupTarget(target->triple, error);
  if (!llvm_target) return llvm::createStringError("no LLVM target for %s: %s", target->triple.c_str(), error.c_str());
  static constexpr llvm::CodeGenOptLevel kLevels[] = {llvm::CodeGenOptLevel::None, llvm::CodeGenOptLevel::Less,
                                                      llvm::CodeGenOptLevel::Default,
                                                      llvm::CodeGenOptLevel::Aggressive};
  llvm::TargetOptions target_options;
  std::unique_ptr<llvm::TargetMachine> machine(
      llvm_target->createTargetMachine(target->triple, target->cpu, target->features, target_options, llvm::Reloc::PIC_,
                                       llvm::CodeModel::Small, kLevels[options.opt_level]));
  if (!machine) return llvm::createStringError("could not create a target machine for %s", target->triple.c_str());
  return machine;
}

llvm::Error optimize_llvm_module(llvm::Module& module, llvm::TargetMachine& machine, int opt_level) {
  if (opt_level < 0 || opt_level > 3) return llvm::createStringError("optimization level %d is not in 0..3", opt_level);
  module.setTargetTriple(machine.getTargetTriple().str());
  module.setDataLayout(machine.createDataLayout());
  for (llvm::Function& function : module) {
    if (function.isDeclaration()) continue;
    function.addFnAttr("target-cpu", machine.getTargetCPU());
    if (!machine.getTargetFeatureString().empty())
      function.addFnAttr("target-features", machine.getTargetFeatureString());
  }

  llvm::LoopAnalysisManager loop_analyses;
  llvm::FunctionAnalysisManager function_analyses;
  llvm::CGSCCAnalysisManager cgscc_analyses;
  llvm::ModuleAnalysisManager module_analyses;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = opt_level >= 2;
  tuning.SLPVectorization = opt_level >= 2;
  llvm::PassBuilder builder(&machine, tuning);
  builder.registerModuleAnalyses(module_analyses);
  builder.registerCGSCCAnalyses(cgscc_analyses);
  builder.registerFunctionAnalyses(function_analyses);
  builder.registerLoopAnalyses(loop_analyses);
  builder.crossRegisterProxies(loop_analyses, function_analyses, cgscc_analyses, module_analyses);
  static const llvm::OptimizationLevel* kLevels[] = {&llvm::OptimizationLevel::O0, &llvm::OptimizationLevel::O1,
                                                     &llvm::OptimizationLevel::O2, &llvm::OptimizationLevel::O3};
  llvm::ModulePassManager passes = opt_level == 0 ? builder.buildO0DefaultPipeline(*kLevels[0])
                                                  : builder.buildPerModuleDefaultPipeline(*kLevels[opt_level]);
  passes.run(module, module_analyses);
  return llvm::Error::success();
}

llvm::Expected<llvm::SmallVector<char, 0>> emit_object_code(llvm::Module& module, llvm::TargetMachine& machine) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager passes;
  if (machine.addPassesToEmitFile(passes, os, nullptr, llvm::CodeGenFileType::ObjectFile))
    return llvm::createStringError("the target machine cannot emit object files");
  passes.run(module);
  return buffer;
}

namespace {

// `void <name>(void** slots)`: calls `callee` with the values slots[i] point at, and stores a
// scalar result through slots[n] (the form of add_packed_wrappers).
llvm::Function* create_packed_function(llvm::Module& module, llvm::Function* callee, const std::string& name,
                                       llvm::GlobalValue::LinkageTypes linkage) {
  llvm::LLVMContext& context = module.getContext();
  llvm::Type* ptr = llvm::PointerType::getUnqual(context);
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(context), {ptr}, false);
  auto* wrapper = llvm::Function::Create(type, linkage, name, module);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(context, "entry", wrapper));
  llvm::Value* slots = wrapper->getArg(0);
  llvm::SmallVector<llvm::Value*> args;
  for (llvm::Argument& param : callee->args()) {
    llvm::Value* slot = b.CreateLoad(ptr, b.CreateConstGEP1_64(ptr, slots, param.getArgNo()));
    args.push_back(b.CreateLoad(param.getType(), slot));
  }
  llvm::CallInst* call = b.CreateCall(callee, args);
  if (!call->getType()->isVoidTy()) b.CreateStore(call, b.CreateLoad(ptr, b.CreateConstGEP1_64(ptr, slots, args.size())));
  b.CreateRetVoid();
  return wrapper;
}

}  // namespace

namespace {

// `i64 __tess_callback.<name>()`, which compiled code calls for the address of a callback's
// packed wrapper (ir/schedule/lower_to_linalg.cpp, tessera.infer), gets its body here, where the
// wrapper exists.
llvm::Error define_callback_addresses(llvm::Module& module) {
  constexpr llvm::StringLiteral kPrefix = "__tess_callback.";
  for (llvm::Function& f : module) {
    if (!f.isDeclaration() || !f.getName().starts_with(kPrefix)) continue;
    std::string target = "_tess_packed_" + f.getName().drop_front(kPrefix.size()).str();
    llvm::Function* wrapper = module.getFunction(target);
    if (!wrapper) return llvm::createStringError("internal: no packed wrapper '%s' for a callback", target.c_str());
    f.setLinkage(llvm::GlobalValue::InternalLinkage);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(module.getContext(), "entry", &f));
    b.CreateRet(b.CreatePtrToInt(wrapper, f.getReturnType()));
  }
  return llvm::Error::success();
}

}  // namespace

llvm::Error add_packed_wrappers(llvm::Module& module, llvm::ArrayRef<EntrySignature> entries) {
  for (const EntrySignature& entry : entries) {
    llvm::Expected<llvm::Function*> callee = ciface_function(module, entry);
    if (!callee) return callee.takeError();
    create_packed_function(module, *callee, "_tess_packed_" + entry.name, llvm::Function::ExternalLinkage);
  }
  return define_callback_addresses(module);
}

llvm::Error add_c_wrappers(llvm::Module& module, llvm::ArrayRef<EntrySignature> entries) {
  llvm::LLVMContext& context = module.getContext();
  llvm::Type* ptr = llvm::PointerType::getUnqual(context);
  llvm::Type* i8 = llvm::Type::getInt8Ty(context);
  llvm::Type* i32 = llvm::Type::getInt32Ty(context);
  llvm::Type* i64 = llvm::Type::getInt64Ty(context);
  // The runtime's side of the C entry points (tessera/codegen_abi.h).
  llvm::FunctionCallee argument_error =
      module.getOrInsertFunction("tessAotArgumentError", llvm::FunctionType::get(i32, {i32, ptr, i64, i64}, false));
  llvm::FunctionCallee invoke = module.getOrInsertFunction("tessAotInvoke", llvm::FunctionType::get(i32, {ptr, ptr}, false));
  llvm::Function* mul_overflow = llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::smul_with_overflow, {i64});
  for (const EntrySignature& entry : entries) {
    llvm::Expected<llvm::Function*> callee = ciface_function(module, entry);
    if (!callee) return callee.takeError();
    if (entry.callback) {
      // Called by the runtime only, through the packed form.
      create_packed_function(module, *callee, "_tess_packed_" + entry.name, llvm::GlobalValue::InternalLinkage);
      continue;
    }
    std::string name = "tess_" + entry.name;
    if (module.getFunction(name))
      return llvm::createStringError("the C entry point '%s' of '%s' clashes with a function of the same name",
                                     name.c_str(), entry.name.c_str());
    for (const auto* list : {&entry.params, &entry.results})
      for (const ValueType& value : *list)
        if (value.is_tensor && value.rank() > c_abi::kMaxRank)
          return llvm::createStringError("entry '%s' has a tensor of rank %lld; tessTensorView holds at most %lld",
                                         entry.name.c_str(), static_cast<long long>(value.rank()),
                                         static_cast<long long>(c_abi::kMaxRank));
    // The compiled code runs inside tessAotInvoke, which turns its run-time errors into a status.
    llvm::Function* body =
        create_packed_function(module, *callee, "__tess_body_" + entry.name, llvm::GlobalValue::InternalLinkage);

    // int32_t tess_<name>(inputs: tensors as pointers, scalars by value; results: pointers).
    llvm::SmallVector<llvm::Type*> param_types;
    for (const ValueType& param : entry.params)
      param_types.push_back(param.is_tensor ? ptr : scalar_llvm_type(context, param.dtype));
    for (size_t i = 0; i < entry.results.size(); ++i) param_types.push_back(ptr);
    auto* type = llvm::FunctionType::get(i32, param_types, false);
    auto* wrapper = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, module);
    for (size_t i = 0; i < entry.params.size(); ++i)
      if (!entry.params[i].is_tensor && entry.params[i].dtype == DType::I1)
        wrapper->addParamAttr(i, llvm::Attribute::ZExt);  // C's bool, as clang passes it

    llvm::IRBuilder<> b(llvm::BasicBlock::Create(context, "entry", wrapper));
    llvm::MDBuilder md(context);
    // Continues when `failed` is false; else returns tessAotArgumentError(status, message, got,
    // expected), which stores "<name>: <message>" as the last error ({got} and {expected}
    // replaced by the values).
    auto check = [&](llvm::Value* failed, int32_t status, const std::string& message, llvm::Value* got = nullptr,
                     llvm::Value* expected = nullptr) {
      auto* bad = llvm::BasicBlock::Create(context, "bad_argument", wrapper);
      auto* next = llvm::BasicBlock::Create(context, "ok", wrapper);
      b.CreateCondBr(failed, bad, next, md.createBranchWeights(1, 1 << 20));
      llvm::IRBuilder<> fb(bad);
      llvm::Value* text = fb.CreateGlobalStringPtr(name + ": " + message, "__tess_argument_message");
      fb.CreateRet(fb.CreateCall(argument_error, {fb.getInt32(status), text, got ? got : fb.getInt64(0),
                                                  expected ? expected : fb.getInt64(0)}));
      b.SetInsertPoint(next);
    };
    auto field = [&](llvm::Value* view, uint64_t offset) { return b.CreateConstGEP1_64(i8, view, offset); };

    llvm::SmallVector<llvm::Value*> args;
    llvm::AllocaInst* results = nullptr;
    if (entry.results_through_pointer()) {
      results = b.CreateAlloca(result_struct_type(context, entry));
      args.push_back(results);
    }
    for (size_t i = 0; i < entry.results.size(); ++i)
      check(b.CreateIsNull(wrapper->getArg(entry.params.size() + i)), c_abi::kInvalidArgument,
            "result pointer " + std::to_string(i + 1) + " is NULL");
    std::vector<llvm::Value*> input_data(entry.params.size(), nullptr);
    auto donated = [&](size_t i) { return i < entry.donated.size() && entry.donated[i] && input_data[i]; };
    // The first size that binds each symbolic dimension, and where it came from.
    struct Binding {
      llvm::Value* size;
      std::string where;
    };
    std::map<std::string, Binding> bound;
    for (size_t i = 0; i < entry.params.size(); ++i) {
      const ValueType& param = entry.params[i];
      llvm::Value* arg = wrapper->getArg(i);
      if (!param.is_tensor) {
        args.push_back(arg);
        continue;
      }
      std::string what = describe_param(entry, i);
      // A view must be non-null, of the entry's rank and static sizes, with one value per
      // symbolic dimension, sizes whose byte count fits in int64_t, data unless it is empty, and
      // row-major contiguous (the compiled code indexes static shapes with constant strides).
      check(b.CreateIsNull(arg), c_abi::kInvalidArgument, what + " is NULL");
      llvm::Value* rank = b.CreateLoad(i64, field(arg, c_abi::kRankOffset));
      check(b.CreateICmpNE(rank, b.getInt64(param.rank())), c_abi::kShapeMismatch,
            what + " has rank {got}, expected " + std::to_string(param.rank()), rank);
      llvm::SmallVector<llvm::Value*> sizes;
      llvm::Value* bytes = b.getInt64(dtype_size(param.dtype));
      llvm::Value* overflow = b.getFalse();
      for (int64_t d = 0; d < param.rank(); ++d) {
        std::string dim = what + ": dimension " + std::to_string(d);
        llvm::Value* size = b.CreateLoad(i64, field(arg, c_abi::kShapeOffset + 8 * d));
        if (param.shape[d] == ValueType::kDynamic)
          check(b.CreateICmpSLT(size, b.getInt64(0)), c_abi::kInvalidArgument, dim + " is negative ({got})", size);
        else
          check(b.CreateICmpNE(size, b.getInt64(param.shape[d])), c_abi::kShapeMismatch,
                dim + " is {got}, expected " + std::to_string(param.shape[d]), size);
        if (d < static_cast<int64_t>(param.dim_names.size()) && !param.dim_names[d].empty()) {
          const std::string& symbol = param.dim_names[d];
          auto [it, fresh] = bound.try_emplace(symbol, Binding{size, what + ", dimension " + std::to_string(d)});
          if (!fresh)
            check(b.CreateICmpNE(size, it->second.size), c_abi::kShapeMismatch,
                  dim + " is {got}, but " + symbol + " is {expected} from " + it->second.where, size, it->second.size);
        }
        llvm::Value* product = b.CreateCall(mul_overflow, {bytes, size});
        bytes = b.CreateExtractValue(product, 0);
        overflow = b.CreateOr(overflow, b.CreateExtractValue(product, 1));
        sizes.push_back(size);
      }
      check(overflow, c_abi::kInvalidArgument, what + ": the shape has more bytes than int64_t can count");
      llvm::Value* data = b.CreateLoad(ptr, field(arg, c_abi::kDataOffset));
      check(b.CreateAnd(b.CreateIsNull(data), b.CreateICmpNE(bytes, b.getInt64(0))), c_abi::kInvalidArgument,
            what + ": the data pointer is NULL for {got} bytes", bytes);
      llvm::SmallVector<llvm::Value*> strides = row_major_strides(b, sizes);
      for (int64_t d = 0; d < param.rank(); ++d) {
        llvm::Value* given = b.CreateLoad(i64, field(arg, c_abi::kStridesOffset + 8 * d));
        check(b.CreateAnd(b.CreateICmpNE(given, strides[d]), b.CreateICmpSGT(sizes[d], b.getInt64(1))),
              c_abi::kInvalidArgument,
              what + ": not row-major contiguous (dimension " + std::to_string(d) +
                  " has stride {got}, expected {expected})",
              given, strides[d]);
      }
      llvm::StructType* desc_type = descriptor_type(context, param.rank());
      llvm::AllocaInst* desc = b.CreateAlloca(desc_type);
      input_data[i] = data;
      b.CreateStore(data, b.CreateStructGEP(desc_type, desc, 0));
      b.CreateStore(data, b.CreateStructGEP(desc_type, desc, 1));
      b.CreateStore(b.getInt64(0), b.CreateStructGEP(desc_type, desc, 2));
      for (int64_t d = 0; d < param.rank(); ++d) {
        b.CreateStore(sizes[d], array_element(b, desc_type, desc, 3, d));
        b.CreateStore(strides[d], array_element(b, desc_type, desc, 4, d));
      }
      args.push_back(desc);
    }
    // A donated view is updated in place: it must not be the memory of another input.
    for (size_t i = 0; i < entry.params.size(); ++i) {
      if (!donated(i)) continue;
      for (size_t k = 0; k < entry.params.size(); ++k)
        if (k != i && input_data[k])
          check(b.CreateICmpEQ(input_data[i], input_data[k]), c_abi::kInvalidArgument,
                describe_param(entry, i) + " is donated but shares its data with " + describe_param(entry, k));
    }

    // The slots of the body: one per parameter of _mlir_ciface_<name>, then the scalar result.
    llvm::FunctionType* callee_type = (*callee)->getFunctionType();
    auto* slots = b.CreateAlloca(llvm::ArrayType::get(ptr, args.size() + 1));
    for (size_t k = 0; k < args.size(); ++k) {
      llvm::AllocaInst* storage = b.CreateAlloca(callee_type->getParamType(k));
      b.CreateStore(args[k], storage);
      b.CreateStore(storage, b.CreateConstGEP2_64(slots->getAllocatedType(), slots, 0, k));
    }
    llvm::AllocaInst* scalar_result = nullptr;
    if (!callee_type->getReturnType()->isVoidTy()) {
      scalar_result = b.CreateAlloca(callee_type->getReturnType());
      b.CreateStore(scalar_result, b.CreateConstGEP2_64(slots->getAllocatedType(), slots, 0, args.size()));
    }
    llvm::Value* status = b.CreateCall(invoke, {body, slots});
    {
      auto* failed = llvm::BasicBlock::Create(context, "failed", wrapper);
      auto* next = llvm::BasicBlock::Create(context, "ran", wrapper);
      b.CreateCondBr(b.CreateICmpNE(status, b.getInt32(c_abi::kSuccess)), failed, next,
                     md.createBranchWeights(1, 1 << 20));
      llvm::IRBuilder<>(failed).CreateRet(status);
      b.SetInsertPoint(next);
    }

    for (size_t i = 0; i < entry.results.size(); ++i) {
      const ValueType& result = entry.results[i];
      llvm::Value* out = wrapper->getArg(entry.params.size() + i);
      llvm::StructType* packed = results ? llvm::cast<llvm::StructType>(results->getAllocatedType()) : nullptr;
      if (!result.is_tensor) {
        llvm::Value* value = nullptr;
        if (results) value = b.CreateLoad(packed->getElementType(i), b.CreateStructGEP(packed, results, i));
        else value = b.CreateLoad(scalar_result->getAllocatedType(), scalar_result);
        if (result.dtype == DType::I1) value = b.CreateZExt(value, i8);  // stored as a C bool
        b.CreateStore(value, out);
        continue;
      }
      llvm::StructType* desc_type = descriptor_type(context, result.rank());
      llvm::Value* desc = b.CreateStructGEP(packed, results, i);
      llvm::Value* allocated = b.CreateLoad(ptr, b.CreateStructGEP(desc_type, desc, 0));
      llvm::Value* aligned = b.CreateLoad(ptr, b.CreateStructGEP(desc_type, desc, 1));
      llvm::Value* offset = b.CreateLoad(i64, b.CreateStructGEP(desc_type, desc, 2));
      llvm::Value* data = b.CreateGEP(i8, aligned, b.CreateMul(offset, b.getInt64(dtype_size(result.dtype))));
      b.CreateStore(data, field(out, c_abi::kDataOffset));
      b.CreateStore(b.getInt64(result.rank()), field(out, c_abi::kRankOffset));
      for (int64_t d = 0; d < c_abi::kMaxRank; ++d) {
        llvm::Value* size = b.getInt64(0);
        llvm::Value* stride = b.getInt64(0);
        if (d < result.rank()) {
          size = b.CreateLoad(i64, array_element(b, desc_type, desc, 3, d));
          stride = b.CreateLoad(i64, array_element(b, desc_type, desc, 4, d));
        }
        b.CreateStore(size, field(out, c_abi::kShapeOffset + 8 * d));
        b.CreateStore(stride, field(out, c_abi::kStridesOffset + 8 * d));
      }
      // The buffer of a donated input, updated in place, stays the caller's: nothing to free.
      for (size_t k = 0; k < entry.params.size(); ++k)
        if (donated(k))
          allocated = b.CreateSelect(b.CreateICmpEQ(allocated, input_data[k]), llvm::ConstantPointerNull::get(
                                                                                    llvm::PointerType::getUnqual(context)),
                                     allocated);
      b.CreateStore(allocated, field(out, c_abi::kAllocatedOffset));
    }
    b.CreateRet(b.getInt32(c_abi::kSuccess));
  }
  return define_callback_addresses(module);
}

// In JIT-compiled code, malloc and free of buffers go through the runtime's buffer cache
// (tessBufferAlloc / tessBufferFree, tessera/codegen_abi.h): the big temporaries of a function
// called again and again (a training step) are reused instead of coming back from the kernel
// as fresh pages. Same contract as malloc and free; libraries built ahead of time keep the C
// library's, so that code that calls nothing else of the runtime stays independent of it.
static void use_buffer_cache(llvm::Module& module) {
  llvm::LLVMContext& context = module.getContext();
  llvm::Type* ptr = llvm::PointerType::getUnqual(context);
  llvm::Type* i64 = llvm::Type::getInt64Ty(context);
  for (auto [from, to] : {std::pair<const char*, const char*>{"malloc", "tessBufferAlloc"}, {"free", "tessBufferFree"}}) {
    llvm::Function* f = module.getFunction(from);
    if (!f || !f->isDeclaration()) continue;
    llvm::FunctionType* type = std::string(from) == "malloc" ? llvm::FunctionType::get(ptr, {i64}, false)
                                                              : llvm::FunctionType::get(llvm::Type::getVoidTy(context), {ptr}, false);
    if (f->getFunctionType() != type) continue;
    llvm::FunctionCallee callee = module.getOrInsertFunction(to, type);
    // What LLVM knows of malloc and free (a fresh, unaliased block; an allocator pair), so that
    // alias analysis treats the buffers as before.
    if (auto* g = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
      g->addFnAttr(llvm::Attribute::NoUnwind);
      g->addFnAttr("alloc-family", "malloc");
      if (std::string(from) == "malloc") {
        g->addRetAttr(llvm::Attribute::NoAlias);
        g->addFnAttr(llvm::Attribute::getWithAllocSizeArgs(context, 0, std::nullopt));
        g->addFnAttr(llvm::Attribute::get(context, llvm::Attribute::AllocKind,
                                          uint64_t(llvm::AllocFnKind::Alloc | llvm::AllocFnKind::Uninitialized)));
      } else {
        g->addParamAttr(0, llvm::Attribute::AllocatedPointer);
        g->addFnAttr(llvm::Attribute::get(context, llvm::Attribute::AllocKind, uint64_t(llvm::AllocFnKind::Free)));
      }
    }
    f->replaceAllUsesWith(callee.getCallee());
    f->eraseFromParent();
  }
}

// A failed allocation (malloc or aligned_alloc giving null for a non-zero size) ends the program
// with a message and exit status 3, as the other run-time errors, instead of a write through a
// null pointer (a segmentation fault). The check calls only the C library (fflush, dprintf,
// _exit), so code that does not call the runtime stays independent of it. In a library built
// ahead of time (`kind` Aot), the check calls the runtime's tessCodegenOutOfMemory instead, which
// makes the C entry point return TESS_ERROR_OUT_OF_MEMORY rather than end the host process.
static void check_allocations(llvm::Module& module, ObjectKind kind) {
  std::vector<llvm::CallInst*> calls;
  for (llvm::Function& f : module)
    for (llvm::BasicBlock& bb : f)
      for (llvm::Instruction& inst : bb)
        if (auto* call = llvm::dyn_cast<llvm::CallInst>(&inst))
          if (llvm::Function* callee = call->getCalledFunction();
              callee && (callee->getName() == "malloc" || callee->getName() == "aligned_alloc" ||
                         callee->getName() == "tessBufferAlloc"))
            calls.push_back(call);
  if (calls.empty()) return;
  llvm::LLVMContext& context = module.getContext();
  llvm::Type* i32 = llvm::Type::getInt32Ty(context);
  llvm::Type* i64 = llvm::Type::getInt64Ty(context);
  llvm::Type* ptr = llvm::PointerType::getUnqual(context);
  llvm::Type* void_t = llvm::Type::getVoidTy(context);
  auto* oom = llvm::Function::Create(llvm::FunctionType::get(void_t, {i64}, false), llvm::GlobalValue::InternalLinkage,
                                     "__tess_out_of_memory", module);
  oom->addFnAttr(llvm::Attribute::NoReturn);
  oom->addFnAttr(llvm::Attribute::Cold);
  oom->addFnAttr(llvm::Attribute::NoInline);
  if (kind == ObjectKind::Aot) {
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(context, "entry", oom));
    llvm::FunctionCallee fail =
        module.getOrInsertFunction("tessCodegenOutOfMemory", llvm::FunctionType::get(void_t, {i64}, false));
    b.CreateCall(fail, {oom->getArg(0)});
    b.CreateUnreachable();
  } else {
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(context, "entry", oom));
    llvm::FunctionCallee fflush = module.getOrInsertFunction("fflush", llvm::FunctionType::get(i32, {ptr}, false));
    llvm::FunctionCallee dprintf = module.getOrInsertFunction("dprintf", llvm::FunctionType::get(i32, {i32, ptr}, true));
    llvm::FunctionCallee exit_now = module.getOrInsertFunction("_exit", llvm::FunctionType::get(void_t, {i32}, false));
    b.CreateCall(fflush, {llvm::ConstantPointerNull::get(llvm::PointerType::getUnqual(context))});
    llvm::Value* format = b.CreateGlobalStringPtr(
        "runtime error: out of memory: cannot allocate %llu bytes for a tensor\n", "__tess_out_of_memory_message");
    b.CreateCall(dprintf, {b.getInt32(2), format, oom->getArg(0)});
    b.CreateCall(exit_now, {b.getInt32(3)});
    b.CreateUnreachable();
  }
  for (llvm::CallInst* call : calls) {
    llvm::Value* size = call->getArgOperand(call->arg_size() - 1);
    llvm::BasicBlock* before = call->getParent();
    llvm::BasicBlock* after = before->splitBasicBlock(call->getNextNode(), "allocated");
    llvm::BasicBlock* failed = llvm::BasicBlock::Create(context, "allocation_failed", before->getParent(), after);
    before->getTerminator()->eraseFromParent();
    llvm::IRBuilder<> b(before);
    llvm::Value* null = b.CreateICmpEQ(call, llvm::ConstantPointerNull::get(llvm::cast<llvm::PointerType>(call->getType())));
    llvm::Value* nonzero = b.CreateICmpNE(size, llvm::ConstantInt::get(size->getType(), 0));
    llvm::MDBuilder md(context);
    b.CreateCondBr(b.CreateAnd(null, nonzero), failed, after, md.createBranchWeights(1, 1 << 20));
    llvm::IRBuilder<> fb(failed);
    fb.CreateCall(oom, {fb.CreateZExtOrTrunc(size, i64)});
    fb.CreateUnreachable();
  }
}

// The body of kAllocationSizeError(allocated, aligned, offset, size, stride), which the allocation
// size checks call with their message (create_allocation_size_check_pass): in the JIT, the
// message to stderr after stdout is flushed, and exit status 3, through the C library only (as
// check_allocations); in a library built ahead of time, the runtime's tessCodegenError, which
// makes the C entry point return TESS_ERROR_RUNTIME.
static void define_allocation_size_error(llvm::Module& module, ObjectKind kind) {
  llvm::Function* fail = module.getFunction(kAllocationSizeError);
  if (!fail || !fail->isDeclaration() || fail->arg_size() != 5) return;
  llvm::LLVMContext& context = module.getContext();
  llvm::Type* i32 = llvm::Type::getInt32Ty(context);
  llvm::Type* i64 = llvm::Type::getInt64Ty(context);
  llvm::Type* ptr = llvm::PointerType::getUnqual(context);
  llvm::Type* void_t = llvm::Type::getVoidTy(context);
  fail->setLinkage(llvm::GlobalValue::InternalLinkage);
  fail->addFnAttr(llvm::Attribute::NoReturn);
  fail->addFnAttr(llvm::Attribute::Cold);
  fail->addFnAttr(llvm::Attribute::NoInline);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(context, "entry", fail));
  if (kind == ObjectKind::Aot) {
    llvm::FunctionCallee error = module.getOrInsertFunction(
        "tessCodegenError", llvm::FunctionType::get(void_t, {ptr, ptr, i64, i64, i64}, false));
    b.CreateCall(error, {fail->getArg(0), fail->getArg(1), fail->getArg(2), fail->getArg(3), fail->getArg(4)});
  } else {
    llvm::FunctionCallee fflush = module.getOrInsertFunction("fflush", llvm::FunctionType::get(i32, {ptr}, false));
    llvm::FunctionCallee write = module.getOrInsertFunction("write", llvm::FunctionType::get(i64, {i32, ptr, i64}, false));
    b.CreateCall(fflush, {llvm::ConstantPointerNull::get(llvm::PointerType::getUnqual(context))});
    // The message is a constant i8 array: contiguous (stride 1).
    llvm::Value* text = b.CreateGEP(b.getInt8Ty(), fail->getArg(1), fail->getArg(2));
    b.CreateCall(write, {b.getInt32(2), text, fail->getArg(3)});
  }
  llvm::FunctionCallee exit_now = module.getOrInsertFunction("_exit", llvm::FunctionType::get(void_t, {i32}, false));
  b.CreateCall(exit_now, {b.getInt32(3)});
  b.CreateUnreachable();
}

// A shared library or object from `tesserac build` exports its C entry points and nothing else.
// With default visibility, an internal function named like a C library one (a user's `step` or
// `index`) is interposable: the dynamic linker may bind the library's own calls of it to libc's.
static void internalize_all_but_c_entries(llvm::Module& module, llvm::ArrayRef<EntrySignature> entries) {
  llvm::StringSet<> exported;
  for (const EntrySignature& entry : entries) exported.insert("tess_" + entry.name);
  for (llvm::GlobalValue& value : module.global_values())
    if (!value.isDeclaration() && !exported.contains(value.getName())) value.setLinkage(llvm::GlobalValue::InternalLinkage);
}

namespace {

// Everything before LLVM optimization: signatures, lowering (on a clone), translation, the
// wrappers of `kind`, and verification. The module gets the machine's data layout.
// Masked loads and stores of bf16 / f16 vectors become the same of i16 vectors, bitcast. The
// bits are what matters; as float vectors, a target without native bf16 (f16) vectors scalarizes
// them into element loads whose inserts go through f32 and a compiler-rt truncation per element
// (a bf16 matrix's edge reads ran 100x slower than the f32 ones). i16 masked accesses are one
// instruction with AVX-512BW and plain scalar code elsewhere.
void half_masked_memory_as_integers(llvm::Module& module) {
  llvm::SmallVector<llvm::IntrinsicInst*> todo;
  for (llvm::Function& function : module)
    for (llvm::Instruction& inst : llvm::instructions(function))
      if (auto* call = llvm::dyn_cast<llvm::IntrinsicInst>(&inst)) {
        llvm::Intrinsic::ID id = call->getIntrinsicID();
        llvm::Type* data = id == llvm::Intrinsic::masked_load    ? call->getType()
                           : id == llvm::Intrinsic::masked_store ? call->getArgOperand(0)->getType()
                                                                 : nullptr;
        auto* vector = llvm::dyn_cast_or_null<llvm::FixedVectorType>(data);
        if (vector && (vector->getElementType()->isBFloatTy() || vector->getElementType()->isHalfTy()))
          todo.push_back(call);
      }
  for (llvm::IntrinsicInst* call : todo) {
    llvm::IRBuilder<> b(call);
    bool load = call->getIntrinsicID() == llvm::Intrinsic::masked_load;
    auto* vector = llvm::cast<llvm::FixedVectorType>(load ? call->getType() : call->getArgOperand(0)->getType());
    auto* ints = llvm::FixedVectorType::get(b.getInt16Ty(), vector->getNumElements());
    if (load) {
      auto align = llvm::cast<llvm::ConstantInt>(call->getArgOperand(1))->getAlignValue();
      llvm::Value* pass = b.CreateBitCast(call->getArgOperand(3), ints);
      llvm::Value* bits = b.CreateMaskedLoad(ints, call->getArgOperand(0), align, call->getArgOperand(2), pass);
      call->replaceAllUsesWith(b.CreateBitCast(bits, vector));
    } else {
      auto align = llvm::cast<llvm::ConstantInt>(call->getArgOperand(2))->getAlignValue();
      b.CreateMaskedStore(b.CreateBitCast(call->getArgOperand(0), ints), call->getArgOperand(1), align,
                          call->getArgOperand(3));
    }
    call->eraseFromParent();
  }
}

llvm::Expected<std::unique_ptr<llvm::Module>> build_llvm_module(mlir::ModuleOp module, const CpuOptions& options,
                                                                ObjectKind kind, llvm::LLVMContext& context,
                                                                llvm::TargetMachine& machine,
                                                                std::vector<EntrySignature>& entries,
                                                                CompileStats& stats) {
  auto start = std::chrono::steady_clock::now();
  llvm::Expected<std::vector<EntrySignature>> collected = collect_entry_signatures(module);
  if (!collected) return collected.takeError();
  entries = std::move(*collected);
  stats.signature_ms = elapsed_ms(start);

  start = std::chrono::steady_clock::now();
  DiagnosticCollector diagnostics(module.getContext());
  mlir::OwningOpRef<mlir::ModuleOp> lowered(module.clone());
  if (mlir::failed(lower_to_llvm_dialect(*lowered, options))) return llvm::createStringError(diagnostics.text());
  stats.mlir_pipeline_ms = elapsed_ms(start);

  start = std::chrono::steady_clock::now();
  std::unique_ptr<llvm::Module> llvm_module = translate_to_llvm_ir(*lowered, context);
  if (!llvm_module) return llvm::createStringError(diagnostics.text());
  lowered = nullptr;
  llvm_module->setDataLayout(machine.createDataLayout());
  if (llvm::Error error =
          kind == ObjectKind::Jit ? add_packed_wrappers(*llvm_module, entries) : add_c_wrappers(*llvm_module, entries))
    return std::move(error);
  if (kind == ObjectKind::Jit) use_buffer_cache(*llvm_module);
  check_allocations(*llvm_module, kind);
  half_masked_memory_as_integers(*llvm_module);
  define_allocation_size_error(*llvm_module, kind);
  if (kind == ObjectKind::Aot) internalize_all_but_c_entries(*llvm_module, entries);
  std::string broken;
  llvm::raw_string_ostream broken_os(broken);
  if (llvm::verifyModule(*llvm_module, &broken_os))
    return llvm::createStringError("internal: the generated LLVM IR does not verify: %s", broken.c_str());
  stats.translate_ms = elapsed_ms(start);
  return llvm_module;
}

}  // namespace

namespace {

// Parallel code generation (docs/codegen.md): a module (JIT, or a shared library) of more than
// kInstructionsPerPartition instructions is cut into partitions of whole functions, which are
// optimized and compiled on their own threads, each in its own LLVMContext. The partitions
// depend only on the module, never on the host's core count, so the same program gives the same
// machine code everywhere; only how many of them run at once depends on the host.
constexpr size_t kInstructionsPerPartition = 2500;
constexpr unsigned kMaxPartitions = 8;

unsigned partition_count(const llvm::Module& module) {
  size_t instructions = 0;
  for (const llvm::Function& function : module) instructions += function.getInstructionCount();
  return static_cast<unsigned>(std::clamp<size_t>(instructions / kInstructionsPerPartition, 1, kMaxPartitions));
}

// Cuts `module` into `count` modules: each function is defined in one of them (the largest
// first, each to the partition with the fewest instructions so far) and declared where others
// call it; global variables are defined in the first. Local symbols become hidden external
// ones, so that a partition can refer to a function another one defines.
std::vector<std::unique_ptr<llvm::Module>> split_module(llvm::Module& module, unsigned count) {
  unsigned unnamed = 0;
  for (llvm::GlobalValue& value : module.global_values()) {
    if (value.isDeclaration()) continue;
    if (!value.hasName()) value.setName("__tess_unnamed." + llvm::Twine(unnamed++));
    if (value.hasLocalLinkage()) {
      value.setLinkage(llvm::GlobalValue::ExternalLinkage);
      value.setVisibility(llvm::GlobalValue::HiddenVisibility);
    }
  }
  std::vector<llvm::Function*> functions;
  for (llvm::Function& function : module)
    if (!function.isDeclaration()) functions.push_back(&function);
  std::sort(functions.begin(), functions.end(), [](llvm::Function* a, llvm::Function* b) {
    unsigned na = a->getInstructionCount(), nb = b->getInstructionCount();
    return na != nb ? na > nb : a->getName() < b->getName();
  });
  std::vector<size_t> load(count, 0);
  llvm::DenseMap<const llvm::GlobalValue*, unsigned> owner;
  for (llvm::Function* function : functions) {
    unsigned lightest = static_cast<unsigned>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[function] = lightest;
    load[lightest] += function->getInstructionCount();
  }
  std::vector<std::unique_ptr<llvm::Module>> parts;
  for (unsigned i = 0; i < count; ++i) {
    llvm::ValueToValueMapTy map;
    parts.push_back(llvm::CloneModule(module, map, [&](const llvm::GlobalValue* value) {
      auto it = owner.find(value);
      return it == owner.end() ? i == 0 : it->second == i;
    }));
  }
  return parts;
}

struct PartitionResult {
  llvm::SmallVector<char, 0> object;
  double opt_ms = 0, codegen_ms = 0;
  std::string error;
};

// One partition, given as bitcode: read into a context of its own, optimized, compiled.
void compile_partition(llvm::StringRef bitcode, const CpuOptions& options, PartitionResult& result) {
  llvm::LLVMContext context;
  llvm::Expected<std::unique_ptr<llvm::Module>> module =
      llvm::parseBitcodeFile(llvm::MemoryBufferRef(bitcode, "tessera-partition"), context);
  if (!module) {
    result.error = llvm::toString(module.takeError());
    return;
  }
  llvm::Expected<std::unique_ptr<llvm::TargetMachine>> machine = create_target_machine(options);
  if (!machine) {
    result.error = llvm::toString(machine.takeError());
    return;
  }
  auto start = std::chrono::steady_clock::now();
  if (llvm::Error error = optimize_llvm_module(**module, **machine, options.opt_level)) {
    result.error = llvm::toString(std::move(error));
    return;
  }
  result.opt_ms = elapsed_ms(start);
  start = std::chrono::steady_clock::now();
  llvm::Expected<llvm::SmallVector<char, 0>> object = emit_object_code(**module, **machine);
  if (!object) {
    result.error = llvm::toString(object.takeError());
    return;
  }
  result.object = std::move(*object);
  result.codegen_ms = elapsed_ms(start);
}

// The partitions of `module` compiled on up to min(partitions, cores) threads, as one GNU
// archive of their objects (what JitModule::load and the compile cache take).
llvm::Error compile_partitioned(llvm::Module& module, unsigned count, const CpuOptions& options,
                                CompiledObject& compiled) {
  auto start = std::chrono::steady_clock::now();
  std::vector<llvm::SmallVector<char, 0>> bitcode(count);
  {
    std::vector<std::unique_ptr<llvm::Module>> parts = split_module(module, count);
    for (unsigned i = 0; i < count; ++i) {
      llvm::raw_svector_ostream os(bitcode[i]);
      llvm::WriteBitcodeToFile(*parts[i], os);
    }
  }
  compiled.stats.split_ms = elapsed_ms(start);

  start = std::chrono::steady_clock::now();
  std::vector<PartitionResult> results(count);
  unsigned threads = std::max(1u, std::min(count, std::thread::hardware_concurrency()));
  std::atomic<unsigned> next{0};
  auto work = [&] {
    for (unsigned i = next++; i < count; i = next++)
      compile_partition(llvm::StringRef(bitcode[i].data(), bitcode[i].size()), options, results[i]);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
  double wall_ms = elapsed_ms(start);

  double opt_ms = 0, codegen_ms = 0;
  std::vector<llvm::NewArchiveMember> members;
  for (unsigned i = 0; i < count; ++i) {
    if (!results[i].error.empty())
      return llvm::createStringError("partition %u of %u: %s", i, count, results[i].error.c_str());
    opt_ms += results[i].opt_ms;
    codegen_ms += results[i].codegen_ms;
    llvm::NewArchiveMember member(
        llvm::MemoryBufferRef(llvm::StringRef(results[i].object.data(), results[i].object.size()), ""));
    members.push_back(std::move(member));
  }
  std::vector<std::string> names;
  for (unsigned i = 0; i < count; ++i) names.push_back("part" + std::to_string(i) + ".o");
  for (unsigned i = 0; i < count; ++i) members[i].MemberName = names[i];
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> archive =
      llvm::writeArchiveToBuffer(members, llvm::SymtabWritingMode::NoSymtab, llvm::object::Archive::K_GNU,
                                 /*Deterministic=*/true, /*Thin=*/false);
  if (!archive) return archive.takeError();
  compiled.object.assign((*archive)->getBufferStart(), (*archive)->getBufferEnd());
  // Wall-clock time, shared between optimization and code generation as their CPU times are.
  double cpu_ms = std::max(opt_ms + codegen_ms, 1e-9);
  compiled.stats.llvm_opt_ms = wall_ms * opt_ms / cpu_ms;
  compiled.stats.codegen_ms = wall_ms * codegen_ms / cpu_ms;
  compiled.stats.partitions = count;
  compiled.stats.compile_threads = threads;
  return llvm::Error::success();
}

}  // namespace

llvm::Expected<CompiledObject> compile_to_object(mlir::ModuleOp module, const CpuOptions& options, ObjectKind kind,
                                                 Partitions partitioning) {
  CompiledObject compiled;
  llvm::Expected<std::unique_ptr<llvm::TargetMachine>> machine = create_target_machine(options);
  if (!machine) return machine.takeError();
  llvm::LLVMContext context;
  llvm::Expected<std::unique_ptr<llvm::Module>> llvm_module =
      build_llvm_module(module, options, kind, context, **machine, compiled.entries, compiled.stats);
  if (!llvm_module) return llvm_module.takeError();

  unsigned partitions = partitioning == Partitions::ByModule ? partition_count(**llvm_module) : 1;
  if (partitions > 1) {
    if (llvm::Error error = compile_partitioned(**llvm_module, partitions, options, compiled)) return std::move(error);
    compiled.stats.object_bytes = compiled.object.size();
    return compiled;
  }

  auto start = std::chrono::steady_clock::now();
  if (llvm::Error error = optimize_llvm_module(**llvm_module, **machine, options.opt_level)) return std::move(error);
  compiled.stats.llvm_opt_ms = elapsed_ms(start);

  start = std::chrono::steady_clock::now();
  llvm::Expected<llvm::SmallVector<char, 0>> object = emit_object_code(**llvm_module, **machine);
  if (!object) return object.takeError();
  compiled.object = std::move(*object);
  compiled.stats.codegen_ms = elapsed_ms(start);
  compiled.stats.object_bytes = compiled.object.size();
  return compiled;
}

llvm::Expected<std::string> emit_llvm_ir(mlir::ModuleOp module, const CpuOptions& options, ObjectKind kind) {
  llvm::Expected<std::unique_ptr<llvm::TargetMachine>> machine = create_target_machine(options);
  if (!machine) return machine.takeError();
  llvm::LLVMContext context;
  std::vector<EntrySignature> entries;
  CompileStats stats;
  llvm::Expected<std::unique_ptr<llvm::Module>> llvm_module =
      build_llvm_module(module, options, kind, context, **machine, entries, stats);
  if (!llvm_module) return llvm_module.takeError();
  if (llvm::Error error = optimize_llvm_module(**llvm_module, **machine, options.opt_level)) return std::move(error);
  std::string text;
  llvm::raw_string_ostream os(text);
  (*llvm_module)->print(os, nullptr);
  return text;
}

}  // namespace tessera::codegen
