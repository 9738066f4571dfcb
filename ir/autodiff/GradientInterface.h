// The gradient op interface (GradientInterface.td) and the registration of its models.
#ifndef TESSERA_IR_AUTODIFF_GRADIENT_INTERFACE_H
#define TESSERA_IR_AUTODIFF_GRADIENT_INTERFACE_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/OpDefinition.h"

#include "ir/autodiff/GradientInterface.h.inc"

namespace mlir::tessera {

// Attaches the gradient rule (GradientOpInterface) to every op of the `tessera` dialect.
void registerGradientModels(DialectRegistry& registry);

} // namespace mlir::tessera

#endif // TESSERA_IR_AUTODIFF_GRADIENT_INTERFACE_H
