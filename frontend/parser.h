// Parsing a .tsr file into an AST: lexer, indentation, two-stage ANTLR parse
// (SLL first, full LL with error recovery on failure) and the AST builder.
#pragma once

#include <cstddef>
#include <cstdint>

#include "frontend/ast.h"
#include "frontend/diagnostics.h"
#include "frontend/source_manager.h"

namespace tessera {

struct ParseOptions {
  // Brackets nested deeper than this are E0004 (deterministic, exact).
  int max_bracket_depth = 200;
  // Recursion through any other construct stops with E0004 once the parser
  // or the AST builder has used this much stack.
  size_t stack_budget_bytes = 3u << 20;
  // Syntax errors after this many are dropped with a final note.
  size_t max_errors = 30;
};

struct ParseStats {
  size_t tokens = 0;
  bool used_ll_fallback = false;
};

// Parses `file` into nodes owned by `ctx`. Reports every lexical and syntax
// error to `diags`; never throws. The module is always returned (statements
// that failed to parse are ErrorStmt).
ast::Module parse_file(uint32_t file, const SourceManager& sources, ast::AstContext& ctx, DiagnosticEngine& diags,
                       const ParseOptions& options = {}, ParseStats* stats = nullptr);

}  // namespace tessera
