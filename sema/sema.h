// Semantic analysis of one module: names, types, shapes (proved with Z3),
// effects and decorators. Input: the AST. Output: a TypedModule and
// diagnostics.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "frontend/ast.h"
#include "frontend/diagnostics.h"
#include "frontend/source_manager.h"
#include "sema/dim_solver.h"
#include "sema/types.h"

namespace tessera::sema {

// A name bound in a function body, with the type inferred for it.
struct TypedBinding {
  std::string name;
  SourceRange range;
  Type type;
};

struct TypedFunction;

// A call of a user function: the callee and its dimensions expressed in the caller's.
struct CallTarget {
  const TypedFunction* callee = nullptr;
  std::map<std::string, DimExpr> dims;
};

// The typed AST of one function: what the later stages (Graph IR lowering) read. Types are
// symbolic (generic functions are checked once); a specialization substitutes dimensions.
struct TypedFunction {
  const ast::FunctionDefStmt* def = nullptr;
  std::string module;  // the module's file name
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
  std::vector<std::pair<std::string, DimPredicate>> precondition_facts;  // parsed preconditions
  // The type of every expression of the body that was checked.
  std::unordered_map<const ast::Expr*, Type> expr_types;
  // Every call of a user function in the body.
  std::unordered_map<const ast::CallExpr*, CallTarget> calls;
  bool ok = true;  // no error was reported inside this function
};

// The functions of one module, owned by the Program that checked it.
struct TypedModule {
  std::vector<const TypedFunction*> functions;
};

struct SemaOptions {
  // Wall-clock guard per Z3 query. Answers are bounded by a deterministic resource limit
  // first (see dim_solver.cpp), so this only matters on a pathologically slow machine.
  unsigned solver_timeout_ms = 5000;
  // Folders searched for user modules after the importing file's own folder (`-I`).
  std::vector<std::string> include_dirs;
};

// `tesserac emit --stage=typed`: every function with its signature, effects
// and every binding with its inferred type.
std::string print_typed(const TypedModule& module, const SourceManager& sources);

}  // namespace tessera::sema
