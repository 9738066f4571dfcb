// The symbolic dimensions of entry functions, carried from the checked signatures to the code
// generator as argument attributes.
#pragma once

#include <mlir/IR/BuiltinOps.h>

#include "sema/sema.h"

namespace tessera::cli {

// For every public function of `module` that lowers a function of `typed` with one argument per
// parameter: `tessera.name` (the parameter's name) on each argument, and `tessera.dims` (one
// string per size: the symbol the signature names there, "" for a constant or an expression) on
// each tensor argument whose rank matches. The C entry points and `run --entry` then check that
// each symbol has one value in a call (codegen::check_symbolic_dims).
void annotate_entry_dims(mlir::ModuleOp module, const sema::TypedModule& typed);

}  // namespace tessera::cli
