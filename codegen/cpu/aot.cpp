// Ahead-of-time output (aot.h).
#include "codegen/cpu/aot.h"

#include <cctype>
#include <optional>
#include <vector>

#include "llvm/ADT/SmallString.h"
#include "llvm/Object/ObjectFile.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace tessera::codegen {
namespace {

llvm::Error write_file(llvm::StringRef path, llvm::StringRef contents) {
  std::error_code error;
  llvm::raw_fd_ostream os(path, error);
  if (error) return llvm::createStringError(error, "cannot open %s for writing", path.str().c_str());
  os << contents;
  os.close();
  if (os.has_error()) {
    error = os.error();
    os.clear_error();  // else the stream's destructor reports a fatal error
    return llvm::createStringError(error, "cannot write %s", path.str().c_str());
  }
  return llvm::Error::success();
}

// Bodiless declarations named tess*: calls into libtessera_rt.
std::vector<std::string> runtime_calls(mlir::ModuleOp module) {
  std::vector<std::string> names;
  for (auto func : module.getOps<mlir::func::FuncOp>())
    if (func.isExternal() && func.getSymName().starts_with("tess")) names.push_back(func.getSymName().str());
  return names;
}

// The conversion helpers LLVM may call where the CPU has no instruction (__truncsfbf2, ...),
// which the runtime library defines.
bool is_float_builtin(llvm::StringRef name) {
  static const char* const kNames[] = {
#define TESS_FLOAT_BUILTIN(name) #name,
#include "runtime/include/tessera/float_builtins.def"
#undef TESS_FLOAT_BUILTIN
  };
  for (const char* known : kNames)
    if (name == known) return true;
  return false;
}

// Undefined symbols of an object file that the runtime library defines: runtime calls that the
// pass pipeline added (tessParallelFor, from the parallel-loop lowering) and that the input module
// did not declare, and the conversion helpers LLVM calls for bf16/f16 where the CPU has no
// instruction for them (so a library built for x86-64-v2 links on any host).
void add_object_runtime_calls(llvm::StringRef object_path, std::vector<std::string>& names) {
  auto object = llvm::object::ObjectFile::createObjectFile(object_path);
  if (!object) {
    llvm::consumeError(object.takeError());
    return;
  }
  for (const llvm::object::SymbolRef& symbol : object->getBinary()->symbols()) {
    auto flags = symbol.getFlags();
    auto name = symbol.getName();
    if (!flags || !name) {
      if (!flags) llvm::consumeError(flags.takeError());
      if (!name) llvm::consumeError(name.takeError());
      continue;
    }
    if ((*flags & llvm::object::SymbolRef::SF_Undefined) && (name->starts_with("tess") || is_float_builtin(*name)))
      names.push_back(name->str());
  }
}

const char* c_scalar_type(DType dtype) {
  switch (dtype) {
    case DType::I1: return "bool";
    case DType::I32: return "int32_t";
    case DType::I64: return "int64_t";
    case DType::F32: return "float";
    case DType::F64: return "double";
    default: return nullptr;  // not a scalar type of the C interface
  }
}

std::optional<std::string> find_linker(const AotOptions& options) {
  std::vector<std::string> candidates = {"clang-19", "clang", "cc"};
  if (!options.linker.empty()) candidates = {options.linker};
  for (const std::string& candidate : candidates)
    if (llvm::ErrorOr<std::string> path = llvm::sys::findProgramByName(candidate)) return *path;
  return std::nullopt;
}

constexpr const char* kTensorViewText = R"(#ifndef TESS_TENSOR_VIEW_DEFINED
#define TESS_TENSOR_VIEW_DEFINED
#define TESS_VIEW_MAX_RANK 8

/* A tensor crossing the C interface. Inputs: data points at element (0, ..., 0) of row-major
 * contiguous memory (tessTensorViewInit fills in the rest); the caller keeps ownership.
 * Results: filled in by the callee; the caller owns `allocated` and frees it with
 * tessTensorViewRelease. Strides count elements. */
typedef struct tessTensorView {
  void* data;
  int64_t rank;
  int64_t shape[TESS_VIEW_MAX_RANK];
  int64_t strides[TESS_VIEW_MAX_RANK];
  void* allocated;
} tessTensorView;

#ifdef __cplusplus
static_assert(sizeof(tessTensorView) == 152, "tessTensorView layout");
#else
_Static_assert(sizeof(tessTensorView) == 152, "tessTensorView layout");
#endif

/* Describes `rank` dimensions of row-major contiguous memory at `data` as an input view. */
static inline void tessTensorViewInit(tessTensorView* view, void* data, int64_t rank, const int64_t* shape) {
  int64_t stride = 1, d;
  view->data = data;
  view->rank = rank;
  view->allocated = NULL;
  for (d = 0; d < TESS_VIEW_MAX_RANK; ++d) view->shape[d] = view->strides[d] = 0;
  for (d = rank - 1; d >= 0; --d) {
    view->shape[d] = shape[d];
    view->strides[d] = stride;
    stride *= shape[d];
  }
}

/* Frees the memory of a result view (allocated with the C library's malloc). */
static inline void tessTensorViewRelease(tessTensorView* view) {
  free(view->allocated);
  view->allocated = NULL;
  view->data = NULL;
}

/* Status codes of the entry points (the values of tessStatus_t in tessera/runtime.h). */
#define TESS_VIEW_SUCCESS 0
#define TESS_VIEW_INVALID_ARGUMENT (-1) /* a null pointer, a negative size, non-contiguous strides */
#define TESS_VIEW_SHAPE_MISMATCH (-5)   /* a rank or static size differs from the signature */
#endif /* TESS_TENSOR_VIEW_DEFINED */
)";

}  // namespace

llvm::Error emit_object(mlir::ModuleOp module, llvm::StringRef path, const CpuOptions& options) {
  llvm::Expected<CompiledObject> compiled = compile_to_object(module, options, ObjectKind::Aot);
  if (!compiled) return compiled.takeError();
  return write_file(path, llvm::StringRef(compiled->object.data(), compiled->object.size()));
}

llvm::Error emit_shared_library(mlir::ModuleOp module, llvm::StringRef path, const CpuOptions& options,
                                const AotOptions& aot_options) {
  std::vector<std::string> calls = runtime_calls(module);
  auto no_runtime = [&] {
    return llvm::createStringError("the module calls runtime functions (%s, ...) but no runtime library was given",
                                   calls.front().c_str());
  };
  if (!calls.empty() && aot_options.runtime_library.empty()) return no_runtime();
  std::optional<std::string> linker = find_linker(aot_options);
  if (!linker)
    return llvm::createStringError("no C compiler driver to link %s (tried %s)", path.str().c_str(),
                                   aot_options.linker.empty() ? "clang-19, clang, cc" : aot_options.linker.c_str());

  llvm::SmallString<128> object_path, log_path;
  if (std::error_code error = llvm::sys::fs::createTemporaryFile("tessera-aot", "o", object_path))
    return llvm::createStringError(error, "cannot create a temporary object file");
  if (std::error_code error = llvm::sys::fs::createTemporaryFile("tessera-link", "log", log_path)) {
    llvm::sys::fs::remove(object_path);
    return llvm::createStringError(error, "cannot create a temporary file");
  }
  auto cleanup = [&] {
    llvm::sys::fs::remove(object_path);
    llvm::sys::fs::remove(log_path);
  };
  if (llvm::Error error = emit_object(module, object_path, options)) {
    cleanup();
    return error;
  }
  add_object_runtime_calls(object_path, calls);
  if (!calls.empty() && aot_options.runtime_library.empty()) {
    cleanup();
    return no_runtime();
  }

  std::vector<std::string> argv = {*linker, "-shared", "-o", path.str(), object_path.str().str()};
  if (!calls.empty()) {
    argv.push_back(aot_options.runtime_library);
    llvm::SmallString<256> dir(aot_options.runtime_library);
    llvm::sys::fs::make_absolute(dir);
    llvm::sys::path::remove_filename(dir);
    argv.push_back("-Wl,-rpath," + dir.str().str());
  }
  argv.push_back("-lm");
  std::vector<llvm::StringRef> argv_refs(argv.begin(), argv.end());
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(log_path), llvm::StringRef(log_path)};
  std::string exec_error;
  int status = llvm::sys::ExecuteAndWait(*linker, argv_refs, std::nullopt, redirects, 0, 0, &exec_error);
  if (status != 0) {
    std::string log;
    if (auto buffer = llvm::MemoryBuffer::getFile(log_path)) log = (*buffer)->getBuffer().str();
    cleanup();
    std::string command;
    for (const std::string& arg : argv) command += (command.empty() ? "" : " ") + arg;
    return llvm::createStringError("linking %s failed (%s): %s%s", path.str().c_str(), command.c_str(),
                                   exec_error.c_str(), log.c_str());
  }
  cleanup();
  return llvm::Error::success();
}

llvm::Expected<std::string> c_header_text(mlir::ModuleOp module, llvm::StringRef guard) {
  llvm::Expected<std::vector<EntrySignature>> entries = collect_entry_signatures(module);
  if (!entries) return entries.takeError();
  std::string text;
  llvm::raw_string_ostream os(text);
  std::string guard_macro = "TESS_" + guard.upper() + "_H_";
  os << "/* C entry points of a module compiled by Tessera. Generated; do not edit.\n"
     << " * Each function takes tensors as const tessTensorView* and scalars by value, writes its\n"
     << " * results through the pointers after them, and returns TESS_VIEW_SUCCESS or an error code.\n"
     << " * Link with the shared library built alongside (tesserac build). */\n"
     << "#ifndef " << guard_macro << "\n#define " << guard_macro << "\n\n"
     << "#include <stdbool.h>\n#include <stdint.h>\n#include <stdlib.h>\n\n"
     << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
     << kTensorViewText << "\n";
  for (const EntrySignature& entry : *entries) {
    std::string summary, params;
    for (size_t i = 0; i < entry.params.size(); ++i) {
      const ValueType& param = entry.params[i];
      if (param.is_tensor && param.rank() > c_abi::kMaxRank)
        return llvm::createStringError("entry '%s' has a tensor of rank %lld; tessTensorView holds at most 8",
                                       entry.name.c_str(), static_cast<long long>(param.rank()));
      // A donated view's memory is updated in place and may come back as a result (with
      // `allocated` null): the caller gives it up for the call (docs/codegen.md).
      bool donated = i < entry.donated.size() && entry.donated[i];
      summary += (i ? ", " : "") + ("arg" + std::to_string(i)) + ": " + param.str() + (donated ? " (donated)" : "");
      params += (i ? ", " : "") + std::string(param.is_tensor ? "const tessTensorView*" : c_scalar_type(param.dtype)) +
                " arg" + std::to_string(i);
    }
    std::string results;
    for (size_t i = 0; i < entry.results.size(); ++i) {
      const ValueType& result = entry.results[i];
      if (result.is_tensor && result.rank() > c_abi::kMaxRank)
        return llvm::createStringError("entry '%s' has a tensor of rank %lld; tessTensorView holds at most 8",
                                       entry.name.c_str(), static_cast<long long>(result.rank()));
      results += (i ? ", " : "") + result.str();
      params += (params.empty() ? "" : ", ") +
                std::string(result.is_tensor ? "tessTensorView" : c_scalar_type(result.dtype)) + "* result" +
                std::to_string(i);
    }
    os << "/* " << entry.name << "(" << summary << ") -> (" << results << ") */\n"
       << "int32_t tess_" << entry.name << "(" << (params.empty() ? "void" : params) << ");\n\n";
  }
  os << "#ifdef __cplusplus\n}\n#endif\n\n#endif /* " << guard_macro << " */\n";
  return text;
}

llvm::Error emit_c_header(mlir::ModuleOp module, llvm::StringRef path) {
  std::string guard;
  for (char c : llvm::sys::path::stem(path)) guard += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  llvm::Expected<std::string> text = c_header_text(module, guard.empty() ? "MODULE" : guard);
  if (!text) return text.takeError();
  return write_file(path, *text);
}

}  // namespace tessera::codegen
