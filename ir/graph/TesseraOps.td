// The ops of the `tessera` dialect (the Graph IR). Each op has a summary, a
// description, an assembly format that round-trips, and a verifier where
// there is anything to check. docs/graph_ir.md describes them all.
#ifndef TESSERA_OPS_TD
#define TESSERA_OPS_TD

include "ir/graph/TesseraDialect.td"
include "ir/graph/TesseraAttrs.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"

// Ops that compute on floats carry an optional numerical policy.
defvar PolicyArg = (ins OptionalAttr<Tessera_PolicyAttr>:$policy);

//===----------------------------------------------------------------------===//
// Elementwise binary ops (NumPy broadcasting)
//===----------------------------------------------------------------------===//

class Tessera_BinaryOp<string mnemonic, string opSummary, Type operandType,
                       list<Trait> traits = []>
    : Tessera_Op<mnemonic, !listconcat(traits, [Pure])> {
  let summary = opSummary;
  let arguments = !con((ins operandType:$lhs, operandType:$rhs), PolicyArg);
  let results = (outs operandType:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let description = [{
    Elementwise `}] # opSummary # [{` with NumPy broadcasting: operands of
    any ranks are aligned on their trailing dimensions, and a dimension of
    size 1 stretches to the other operand's size. Both operands and the
    result have the same element type. The result type is explicit; the
    verifier checks that the broadcast of the static operand dimensions equals
    the result shape (dynamic dimensions are accepted).

    Example:
    ```mlir
    %2 = tessera.}] # mnemonic # [{ %0, %1 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    ```
  }];
}

def Tessera_AddOp : Tessera_BinaryOp<"add", "addition", AnyRankedTensor, [Commutative]> {
  let hasFolder = 1;
}
def Tessera_SubOp : Tessera_BinaryOp<"sub", "subtraction", AnyRankedTensor> {
  let hasFolder = 1;
}
def Tessera_MulOp : Tessera_BinaryOp<"mul", "multiplication", AnyRankedTensor, [Commutative]> {
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

def Tessera_ReduceOp : Tessera_Op<"reduce", [Pure]> {
  let summary = "reduction over axes";
  let description = [{
    Reduces `input` over `axes` (non-negative, sorted, unique) with `kind`:
    `sum mean var std max min prod logsumexp argmax argmin`. `var` and `std`
    are population statistics (ddof = 0). `argmax`/`argmin` return `i64`
    indices and take exactly one axis; every other kind keeps the element
    type. With `keepdim` the reduced axes stay as size 1, otherwise they are
    dropped. `safe` asks `logsumexp` for the max-subtracted form.

    Example:
    ```mlir
    %m = tessera.reduce mean %x axes = [1] keepdim : tensor<4x8xf32> -> tensor<4x1xf32>
    ```
  }];
  let arguments = !con((ins AnyRankedTensor:$input, Tessera_ReduceKind:$kind,
                            DenseI64ArrayAttr:$axes,
                            UnitAttr:$keepdim,
                            UnitAttr:$safe), PolicyArg);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $kind $input `axes` `=` $axes (`keepdim` $keepdim^)? attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

def Tessera_MatmulOp : Tessera_Op<"matmul", [Pure]> {
  let summary = "matrix product with NumPy semantics";
  let description = [{
    `numpy.matmul`: a rank-1 `lhs` is a row vector and a rank-1 `rhs` a
    column vector (the added dimension is removed from the result); operands
    of rank > 2 are stacks of matrices whose batch dimensions broadcast. The
    verifier checks the inner dimensions when static and the result shape.

    Example:
    ```mlir
    %c = tessera.matmul %a, %b : (tensor<2x4x8xf32>, tensor<8x16xf32>) -> tensor<2x4x16xf32>
    ```
  }];
  let arguments = !con((ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs), PolicyArg);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif // TESSERA_OPS_TD
