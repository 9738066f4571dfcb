// Ahead-of-time output: object files, shared libraries and the C header of their entry points.
#ifndef TESSERA_CODEGEN_CPU_AOT_H_
#define TESSERA_CODEGEN_CPU_AOT_H_

#include <string>

#include "codegen/codegen.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace tessera::codegen {

struct AotOptions {
  // libtessera_rt.so (a path). Linked, with an rpath to its directory, only when the module
  // calls runtime functions (bodiless declarations named tess*); emit_shared_library fails when
  // such a module has no runtime library to link.
  std::string runtime_library;
  // The compiler driver that links: empty tries clang-19, clang, cc in this order.
  std::string linker;
};

// A relocatable object (PIC) with the entry functions, their _mlir_ciface_ functions and the
// plain-C wrappers `tess_<name>` declared by emit_c_header.
llvm::Error emit_object(mlir::ModuleOp module, llvm::StringRef path, const CpuOptions& options = {});

// The object linked into a shared library by the C compiler driver (`-shared ... -lm`).
llvm::Error emit_shared_library(mlir::ModuleOp module, llvm::StringRef path, const CpuOptions& options = {},
                                const AotOptions& aot_options = {});

// The C header of the module's entry points: the tessTensorView struct, its helpers, and one
// `int32_t tess_<name>(...)` declaration per entry (docs/codegen.md describes the ABI).
// `guard` names the include guard (TESS_<GUARD>_H_).
llvm::Expected<std::string> c_header_text(mlir::ModuleOp module, llvm::StringRef guard);

// c_header_text written to `path`, with a guard made from the file name.
llvm::Error emit_c_header(mlir::ModuleOp module, llvm::StringRef path);

}  // namespace tessera::codegen

#endif  // TESSERA_CODEGEN_CPU_AOT_H_
