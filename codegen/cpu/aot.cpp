// Ahead-of-time output (aot.h).
#include "codegen/cpu/aot.h"

#include <unistd.h>

#include <cctype>
#include <cstring>
#include <optional>
#include <vector>

#include "llvm/ADT/SmallString.h"
#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Object/Archive.h"
#include "llvm/Object/Binary.h"
#include "llvm/Object/ELFObjectFile.h"
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
  auto add = [&](const llvm::object::ObjectFile& object) {
    for (const llvm::object::SymbolRef& symbol : object.symbols()) {
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
  };
  auto binary = llvm::object::createBinary(object_path);
  if (!binary) {
    llvm::consumeError(binary.takeError());
    return;
  }
  if (auto* object = llvm::dyn_cast<llvm::object::ObjectFile>(binary->getBinary())) {
    add(*object);
    return;
  }
  // The partitions of a module compiled in parallel: an archive of objects.
  auto* archive = llvm::dyn_cast<llvm::object::Archive>(binary->getBinary());
  if (!archive) return;
  llvm::Error error = llvm::Error::success();
  for (const llvm::object::Archive::Child& child : archive->children(error)) {
    auto member = child.getAsBinary();
    if (!member) {
      llvm::consumeError(member.takeError());
      continue;
    }
    if (auto* object = llvm::dyn_cast<llvm::object::ObjectFile>(member->get())) add(*object);
  }
  llvm::consumeError(std::move(error));
}

// The DT_SONAME of an ELF shared library ("libtessera_rt.so.0"), or its file name.
std::string soname_of(llvm::StringRef library) {
  std::string fallback = llvm::sys::path::filename(library).str();
  auto object = llvm::object::ObjectFile::createObjectFile(library);
  if (!object) {
    llvm::consumeError(object.takeError());
    return fallback;
  }
  auto* elf = llvm::dyn_cast<llvm::object::ELF64LEObjectFile>(object->getBinary());
  if (!elf) return fallback;
  const auto& file = elf->getELFFile();
  auto entries = file.dynamicEntries();
  if (!entries) {
    llvm::consumeError(entries.takeError());
    return fallback;
  }
  uint64_t strtab = 0, soname = 0;
  bool has_soname = false;
  for (const auto& entry : *entries) {
    if (entry.d_tag == llvm::ELF::DT_STRTAB) strtab = entry.d_un.d_ptr;
    if (entry.d_tag == llvm::ELF::DT_SONAME) {
      soname = entry.d_un.d_val;
      has_soname = true;
    }
  }
  if (!has_soname || strtab == 0) return fallback;
  auto mapped = file.toMappedAddr(strtab);
  if (!mapped) {
    llvm::consumeError(mapped.takeError());
    return fallback;
  }
  const char* base = reinterpret_cast<const char*>(file.base());
  const char* end = base + file.getBufSize();
  const char* strings = reinterpret_cast<const char*>(*mapped);
  if (strings < base || strings >= end || soname >= static_cast<uint64_t>(end - strings)) return fallback;
  const char* begin = strings + soname;
  std::string name(begin, strnlen(begin, static_cast<size_t>(end - begin)));
  return name.empty() || name.find('/') != std::string::npos ? fallback : name;
}

// A library built by `tesserac build` finds its runtime through the rpath $ORIGIN: the runtime
// is copied next to it, under the name the dynamic linker looks for (its soname), with a
// `libtessera_rt.so` link for hosts that link with -ltessera_rt. The two can be moved together
// (docs/codegen.md). Returns the path of the copy, which the library is linked against.
llvm::Expected<std::string> runtime_beside(llvm::StringRef output, const std::string& runtime_library) {
  llvm::SmallString<256> dir(output);
  if (std::error_code error = llvm::sys::fs::make_absolute(dir))
    return llvm::createStringError(error, "cannot resolve %s", output.str().c_str());
  llvm::sys::path::remove_filename(dir);
  std::string soname = soname_of(runtime_library);
  llvm::SmallString<256> copy(dir);
  llvm::sys::path::append(copy, soname);
  llvm::sys::fs::UniqueID from, to;
  bool same = !llvm::sys::fs::getUniqueID(runtime_library, from) && !llvm::sys::fs::getUniqueID(copy, to) && from == to;
  if (!same) {
    // Through a temporary and a rename, so that a concurrent build never sees half a file.
    llvm::SmallString<256> temporary(copy);
    temporary += ".tmp%%%%%%";
    int fd = -1;
    llvm::SmallString<256> unique;
    if (std::error_code error = llvm::sys::fs::createUniqueFile(temporary, fd, unique))
      return llvm::createStringError(error, "cannot write the runtime library next to %s (in %s)",
                                     output.str().c_str(), dir.c_str());
    ::close(fd);
    if (std::error_code error = llvm::sys::fs::copy_file(runtime_library, unique)) {
      llvm::sys::fs::remove(unique);
      return llvm::createStringError(error, "cannot copy the runtime library %s to %s", runtime_library.c_str(),
                                     unique.c_str());
    }
    if (std::error_code error = llvm::sys::fs::rename(unique, copy)) {
      llvm::sys::fs::remove(unique);
      return llvm::createStringError(error, "cannot write %s", copy.c_str());
    }
  }
  llvm::SmallString<256> link(dir);
  llvm::sys::path::append(link, "libtessera_rt.so");
  if (soname != "libtessera_rt.so" && !llvm::sys::fs::exists(link)) {
    std::error_code error = llvm::sys::fs::create_link(soname, link);
    (void)error;  // a convenience for hosts; the library itself needs only the soname
  }
  return copy.str().str();
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

/* Describes `rank` dimensions of row-major contiguous memory at `data` as an input view. A rank
 * outside 0..8 leaves the sizes zero (the entry points reject the view); the strides are
 * computed without overflow (the entry points reject a shape whose byte count overflows). */
static inline void tessTensorViewInit(tessTensorView* view, void* data, int64_t rank, const int64_t* shape) {
  uint64_t stride = 1;
  int64_t d;
  view->data = data;
  view->rank = rank;
  view->allocated = NULL;
  for (d = 0; d < TESS_VIEW_MAX_RANK; ++d) view->shape[d] = view->strides[d] = 0;
  if (rank < 0 || rank > TESS_VIEW_MAX_RANK) return;
  for (d = rank - 1; d >= 0; --d) {
    view->shape[d] = shape[d];
    view->strides[d] = (int64_t)stride;
    stride *= (uint64_t)shape[d];
  }
}

/* Frees the memory of a result view (allocated with the C library's malloc). */
static inline void tessTensorViewRelease(tessTensorView* view) {
  free(view->allocated);
  view->allocated = NULL;
  view->data = NULL;
}

/* Status codes of the entry points (the values of tessStatus_t in tessera/runtime.h).
 * INVALID_ARGUMENT: a null pointer, a negative size, a shape whose byte count overflows
 *   int64_t, non-contiguous strides, a bad $TESSERA_NUM_THREADS.
 * OUT_OF_MEMORY: an allocation inside the call failed.
 * SHAPE_MISMATCH: a rank or static size differs from the signature, or a symbolic dimension
 *   shared by several arguments has two values.
 * RUNTIME_ERROR: the program failed (an index out of range, an integer division by zero, a
 *   failed load or save). */
#define TESS_VIEW_SUCCESS 0
#define TESS_VIEW_INVALID_ARGUMENT (-1)
#define TESS_VIEW_OUT_OF_MEMORY (-2)
#define TESS_VIEW_SHAPE_MISMATCH (-5)
#define TESS_VIEW_RUNTIME_ERROR (-11)

/* The message of the last failed entry call on this thread, e.g. "tess_mm: argument 2 (b):
 * dimension 0 is 5, but K is 3 from argument 1 (a), dimension 1", or "runtime error: ..." with
 * the source line; "" after a call that succeeded. In libtessera_rt (link with -ltessera_rt;
 * `tesserac build` puts it next to the library). */
const char* tessGetLastErrorMessage(void);
#endif /* TESS_TENSOR_VIEW_DEFINED */
)";

}  // namespace

llvm::Error emit_object(mlir::ModuleOp module, llvm::StringRef path, const CpuOptions& options) {
  llvm::Expected<CompiledObject> compiled = compile_to_object(module, options, ObjectKind::Aot, Partitions::One);
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

  // A big module is compiled in partitions on threads (docs/codegen.md): an archive of their
  // objects, linked whole.
  llvm::Expected<CompiledObject> compiled = compile_to_object(module, options, ObjectKind::Aot, Partitions::ByModule);
  if (!compiled) return compiled.takeError();
  bool archive = compiled->stats.partitions > 1;
  llvm::SmallString<128> object_path, log_path;
  if (std::error_code error = llvm::sys::fs::createTemporaryFile("tessera-aot", archive ? "a" : "o", object_path))
    return llvm::createStringError(error, "cannot create a temporary object file");
  if (std::error_code error = llvm::sys::fs::createTemporaryFile("tessera-link", "log", log_path)) {
    llvm::sys::fs::remove(object_path);
    return llvm::createStringError(error, "cannot create a temporary file");
  }
  auto cleanup = [&] {
    llvm::sys::fs::remove(object_path);
    llvm::sys::fs::remove(log_path);
  };
  if (llvm::Error error = write_file(object_path, llvm::StringRef(compiled->object.data(), compiled->object.size()))) {
    cleanup();
    return error;
  }
  add_object_runtime_calls(object_path, calls);
  if (!calls.empty() && aot_options.runtime_library.empty()) {
    cleanup();
    return no_runtime();
  }

  std::vector<std::string> argv = {*linker, "-shared", "-o", path.str()};
  if (archive) {
    argv.push_back("-Wl,--whole-archive");
    argv.push_back(object_path.str().str());
    argv.push_back("-Wl,--no-whole-archive");
  } else {
    argv.push_back(object_path.str().str());
  }
  if (!calls.empty()) {
    llvm::Expected<std::string> runtime = runtime_beside(path, aot_options.runtime_library);
    if (!runtime) {
      cleanup();
      return runtime.takeError();
    }
    argv.push_back(*runtime);
    argv.push_back("-Wl,-rpath,$ORIGIN");
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
     << " * An entry checks its arguments before it reads them, and a run-time error inside it is a\n"
     << " * status too: an entry never exits or aborts the calling process. After an error,\n"
     << " * tessGetLastErrorMessage() says what happened (per thread; memory the failed call had\n"
     << " * allocated is not freed). Link with the shared library built alongside (tesserac build)\n"
     << " * and the runtime library next to it (-ltessera_rt). */\n"
     << "#ifndef " << guard_macro << "\n#define " << guard_macro << "\n\n"
     << "#include <stdbool.h>\n#include <stdint.h>\n#include <stdlib.h>\n\n"
     << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
     << kTensorViewText << "\n";
  for (const EntrySignature& entry : *entries) {
    if (entry.callback) continue;  // called by the runtime, not a C entry point
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
