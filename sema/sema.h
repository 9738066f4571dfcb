// Semantic analysis of one module: names, types, shapes (proved with Z3),
// effects and decorators. Input: the AST. Output: a TypedModule and
// diagnostics.
#pragma once

#include <string>
#include <vector>

#include "frontend/ast.h"
#include "frontend/diagnostics.h"
#include "frontend/source_manager.h"
#include "sema/types.h"

namespace tessera::sema {

// A name bound in a function body, with the type inferred for it.
struct TypedBinding {
  std::string name;
  SourceRange range;
  Type type;
};

struct TypedFunction {
  std::string name;
  SourceRange range;
  std::vector<std::string> decorators;
  std::vector<std::string> dims;  // symbolic dimensions of the signature
  std::vector<TypedBinding> params;
  Type declared_return;  // null when not annotated
  Type inferred_return;  // null when the body returns nothing
  std::vector<std::string> preconditions;
  std::vector<std::string> effects;
  std::vector<TypedBinding> bindings;  // in source order
};

struct TypedModule {
  std::vector<TypedFunction> functions;
};

struct SemaOptions {
  // Wall-clock guard per Z3 query. Answers are bounded by a deterministic resource limit
  // first (see dim_solver.cpp), so this only matters on a pathologically slow machine.
  unsigned solver_timeout_ms = 5000;
  // Folders searched for user modules after the importing file's own folder (`-I`).
  std::vector<std::string> include_dirs;
};

// Checks one module and the user modules it imports (see program.h to keep them).
TypedModule check_module(const ast::Module& module, SourceManager& sources, DiagnosticEngine& diags,
                         const SemaOptions& options = {});

// `tesserac emit --stage=typed`: every function with its signature, effects
// and every binding with its inferred type.
std::string print_typed(const TypedModule& module, const SourceManager& sources);

}  // namespace tessera::sema
