// Automatic differentiation on the Graph IR (docs/autodiff.md).
#ifndef TESSERA_IR_AUTODIFF_PASSES_H
#define TESSERA_IR_AUTODIFF_PASSES_H

#include <memory>

#include "mlir/Pass/Pass.h"

namespace mlir::tessera {

// --tessera-reverse-ad: replaces each `tessera.grad` with a call of a generated gradient
// function (the callee inlined, then a reverse sweep with the ops' gradient rules).
std::unique_ptr<Pass> createReverseADPass();

// Registers the pass with MLIR's registry (tessera-opt).
void registerAutodiffPasses();

} // namespace mlir::tessera

#endif // TESSERA_IR_AUTODIFF_PASSES_H
