// Gradient functions on demand (`tesserac grad`), outside a pass pipeline.
#ifndef TESSERA_IR_AUTODIFF_GRADIENT_H
#define TESSERA_IR_AUTODIFF_GRADIENT_H

#include <cstdint>

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::tessera {

// Builds the reverse-mode gradient function of `callee` (a function of `module` returning a
// float scalar) with respect to the arguments `argnums`, as --tessera-reverse-ad does for a
// `tessera.grad` op, and simplifies the module (canonicalize, CSE). The function is
// `(args) -> (value, cotangents...)`. Errors are emitted as diagnostics; failure then.
FailureOr<func::FuncOp> buildGradientFunction(ModuleOp module, StringRef callee, ArrayRef<int64_t> argnums);

} // namespace mlir::tessera

#endif // TESSERA_IR_AUTODIFF_GRADIENT_H
