// Prints an AST as an indented tree (`tesserac emit --stage=ast`), and
// expressions as fully parenthesized S-expressions.
#pragma once

#include <string>

#include "frontend/ast.h"
#include "frontend/source_manager.h"

namespace tessera::ast {

// The whole module, one statement per line, children indented by two spaces.
// Each statement shows its source range as `<line:col-line:col>`.
std::string print_module(const Module& module, const SourceManager& sources);

// One expression as an S-expression: `(call (attr x mean) (kw axis (neg 1)))`.
std::string print_expr(const Expr* expr);

}  // namespace tessera::ast
