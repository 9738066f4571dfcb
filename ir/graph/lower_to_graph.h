// Lowering of the typed AST (sema) to Graph IR: the `tessera` dialect, with `func`, `arith`,
// `tensor` and `scf` for calls, scalars and control flow.
#pragma once

#include <string>

#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/IR/OwningOpRef.h>

#include "frontend/diagnostics.h"
#include "frontend/source_manager.h"
#include "sema/sema.h"

namespace tessera::ir {

struct GraphLoweringOptions {
  // The function to lower with everything it calls. Empty: `main` when the module has one,
  // otherwise every function of the module.
  std::string entry;
  // Every function of the module is a root (an exported entry), `main` or not: `build`.
  bool all_functions = false;
};

// While alive, turns errors that MLIR passes emit on the context into the compiler's own
// diagnostics: "not yet supported: X" at a location in a source file becomes E0900 there;
// anything else is a bug of the compiler, collected for an internal compiler error.
class DiagnosticBridge {
 public:
  DiagnosticBridge(mlir::MLIRContext& ctx, const SourceManager& sources, DiagnosticEngine& diags);
  ~DiagnosticBridge();
  // The errors that were not user-facing, one per line; empty when there were none.
  const std::string& internal_errors() const { return internal_; }

 private:
  mlir::MLIRContext& ctx_;
  uint64_t handler_id_;
  std::string internal_;
};

// The symbol of a root function named `name` in lowered modules: the name itself, or
// `tsr.<name>` when it would clash with the C library or the runtime (`exp`, `free`, `tess*`).
// Other functions are `tsr.<name>` (with their dimension values) and private.
std::string entry_symbol(const std::string& name);

// Loads the dialects Graph IR uses into `ctx`.
void load_graph_dialects(mlir::MLIRContext& ctx);

// Lowers a checked module. A user function is emitted once per distinct set of dimension
// values it is called with (`name` when it has no dimensions, `name__B2_D8` otherwise);
// dimensions that no call site fixes stay dynamic (`?`) and are read from the arguments at
// run time. Constructs without a lowering yet are reported as E0900 and give a null module.
mlir::OwningOpRef<mlir::ModuleOp> lower_to_graph(mlir::MLIRContext& ctx, const sema::TypedModule& module,
                                                 const SourceManager& sources, DiagnosticEngine& diags,
                                                 const GraphLoweringOptions& options = {});

}  // namespace tessera::ir
