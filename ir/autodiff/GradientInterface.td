// The gradient rule of an op, as an op interface. ir/autodiff attaches it to every op of the
// `tessera` dialect as an external model (ir/graph does not depend on autodiff).
#ifndef TESSERA_GRADIENT_INTERFACE_TD
#define TESSERA_GRADIENT_INTERFACE_TD

include "mlir/IR/OpBase.td"

def Tessera_GradientOpInterface : OpInterface<"GradientOpInterface"> {
  let cppNamespace = "::mlir::tessera";
  let description = [{
    The reverse-mode rule of an op: given the cotangents of its results (a
    null value is a zero cotangent), builds ops that compute the cotangents
    of its operands, typed like the operands, at the builder's insertion
    point (after the forward ops, so that it may use the op's operands and
    results). A null operand cotangent is a zero one: integer and boolean
    operands, and ops whose derivative is zero almost everywhere (`cmp`,
    `argmax`, `one_hot`, creation ops). Failure means that the op has no
    rule yet; the caller reports it as not yet supported.
  }];
  let methods = [
    InterfaceMethod<"Builds the operands' cotangents from the results' cotangents.",
      "::mlir::LogicalResult", "buildGradient",
      (ins "::mlir::OpBuilder&":$builder, "::llvm::ArrayRef<::mlir::Value>":$resultCotangents,
           "::llvm::SmallVectorImpl<::mlir::Value>&":$operandCotangents)>
  ];
}

#endif // TESSERA_GRADIENT_INTERFACE_TD
