// The ops of the `tessera` dialect (the Graph IR). Each op has a summary, a
// description, an assembly format that round-trips, and a verifier where
// there is anything to check. docs/graph_ir.md describes them all.
#ifndef TESSERA_OPS_TD
#define TESSERA_OPS_TD

include "ir/graph/TesseraDialect.td"
include "ir/graph/TesseraAttrs.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/IR/SymbolInterfaces.td"

// Ops that compute on floats carry an optional numerical policy.
defvar PolicyArg = (ins OptionalAttr<Tessera_PolicyAttr>:$policy);

defvar FloatTensor = RankedTensorOf<[AnyFloat]>;
defvar BoolTensor = RankedTensorOf<[I1]>;
defvar IntTensor = RankedTensorOf<[AnySignlessInteger]>;

// Dynamic result dimensions, one `index` per `?` of the result type, in order.
defvar DynamicDims = (ins Variadic<Index>:$dims);

//===----------------------------------------------------------------------===//
// Elementwise binary ops (NumPy broadcasting)
//===----------------------------------------------------------------------===//

class Tessera_BinaryOp<string mnemonic, string opSummary, list<Trait> traits = [],
                       dag extraArgs = (ins), string prefix = "">
    : Tessera_Op<mnemonic, !listconcat(traits, [Pure])> {
  let summary = opSummary;
  let arguments = !con(extraArgs, (ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs), PolicyArg);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = prefix # [{
    $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let builders = [
    // Without a policy.
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$lhs, "::mlir::Value":$rhs), [{
      build($_builder, $_state, result, lhs, rhs, ::mlir::tessera::PolicyAttr());
    }]>];
  let description = [{
    Elementwise }] # opSummary # [{ with NumPy broadcasting: operands of
    any ranks are aligned on their trailing dimensions, and a dimension of
    size 1 stretches to the other operand's size. Both operands have the same
    element type, and so does the result. The result type is explicit; the
    verifier checks that the broadcast of the static operand dimensions equals
    the result shape (dynamic dimensions are accepted).

    Example:
    ```mlir
    %2 = tessera.}] # mnemonic # [{ %0, %1 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    ```
  }];
}

def Tessera_AddOp : Tessera_BinaryOp<"add", "addition `lhs + rhs`", [Commutative]> {
  let hasFolder = 1;
}
def Tessera_SubOp : Tessera_BinaryOp<"sub", "subtraction `lhs - rhs`"> {
  let hasFolder = 1;
}
def Tessera_MulOp : Tessera_BinaryOp<"mul", "multiplication `lhs * rhs`", [Commutative]> {
  let hasFolder = 1;
}
def Tessera_DivOp : Tessera_BinaryOp<"div", "true division `lhs / rhs` (integer operands divide toward zero)"> {
  let hasFolder = 1;
}
def Tessera_PowOp : Tessera_BinaryOp<"pow", "power `lhs ** rhs`">;
def Tessera_MaximumOp : Tessera_BinaryOp<"maximum", "maximum (NaN-propagating)", [Commutative]>;
def Tessera_MinimumOp : Tessera_BinaryOp<"minimum", "minimum (NaN-propagating)", [Commutative]>;
def Tessera_FloorDivOp : Tessera_BinaryOp<"floordiv", "floor division `lhs // rhs` (rounds toward negative infinity, as Python)">;
def Tessera_ModOp : Tessera_BinaryOp<"mod", "modulo `lhs % rhs` (the result has the sign of `rhs`, as Python)">;

def Tessera_CmpOp : Tessera_BinaryOp<"cmp", "comparison", [],
    (ins Tessera_CmpPredicate:$predicate), "$predicate `,`"> {
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::tessera::CmpPredicate":$predicate,
                   "::mlir::Value":$lhs, "::mlir::Value":$rhs), [{
      build($_builder, $_state, result, predicate, lhs, rhs, ::mlir::tessera::PolicyAttr());
    }]>];
  let description = [{
    Elementwise comparison `lhs PREDICATE rhs` with NumPy broadcasting; the
    predicate is one of `eq ne lt le gt ge`. Both operands have the same
    element type and the result is an `i1` tensor of the broadcast shape.
    Floats compare as IEEE ordered predicates (`ne` is unordered: NaN != x).

    Example:
    ```mlir
    %m = tessera.cmp lt, %a, %b : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xi1>
    ```
  }];
}

def Tessera_AndOp : Tessera_BinaryOp<"and", "logical and", [Commutative]>;
def Tessera_OrOp : Tessera_BinaryOp<"or", "logical or", [Commutative]>;
def Tessera_XorOp : Tessera_BinaryOp<"xor", "logical exclusive or", [Commutative]>;

//===----------------------------------------------------------------------===//
// Elementwise unary ops
//===----------------------------------------------------------------------===//

class Tessera_UnaryOp<string mnemonic, string opSummary, Type tensorType,
                      list<Trait> traits = []>
    : Tessera_Op<mnemonic, !listconcat(traits, [Pure, SameOperandsAndResultType])> {
  let summary = opSummary;
  let arguments = !con((ins tensorType:$input), PolicyArg);
  let results = (outs tensorType:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let builders = [
    // The result has the operand's type; no policy.
    OpBuilder<(ins "::mlir::Value":$input), [{
      build($_builder, $_state, input.getType(), input, ::mlir::tessera::PolicyAttr());
    }]>];
  let description = [{
    Elementwise }] # opSummary # [{. The result has the operand's type.

    Example:
    ```mlir
    %1 = tessera.}] # mnemonic # [{ %0 : tensor<4x8xf32>
    ```
  }];
}

def Tessera_NegOp : Tessera_UnaryOp<"neg", "negation `-x`", AnyRankedTensor> {
  let hasFolder = 1;
}
def Tessera_AbsOp : Tessera_UnaryOp<"abs", "absolute value", AnyRankedTensor>;
def Tessera_ExpOp : Tessera_UnaryOp<"exp", "exponential `e ** x`", FloatTensor>;
def Tessera_LogOp : Tessera_UnaryOp<"log", "natural logarithm", FloatTensor>;
def Tessera_Log1pOp : Tessera_UnaryOp<"log1p", "`log(1 + x)`, accurate near 0", FloatTensor>;
def Tessera_SqrtOp : Tessera_UnaryOp<"sqrt", "square root", FloatTensor>;
def Tessera_RsqrtOp : Tessera_UnaryOp<"rsqrt", "reciprocal square root `1 / sqrt(x)`", FloatTensor>;
def Tessera_TanhOp : Tessera_UnaryOp<"tanh", "hyperbolic tangent", FloatTensor>;
def Tessera_SigmoidOp : Tessera_UnaryOp<"sigmoid", "logistic sigmoid `1 / (1 + exp(-x))`", FloatTensor>;
def Tessera_SinOp : Tessera_UnaryOp<"sin", "sine", FloatTensor>;
def Tessera_CosOp : Tessera_UnaryOp<"cos", "cosine", FloatTensor>;
def Tessera_ReluOp : Tessera_UnaryOp<"relu", "rectified linear unit `max(x, 0)`", AnyRankedTensor>;
def Tessera_GeluOp : Tessera_UnaryOp<"gelu", "Gaussian error linear unit `x * Phi(x)` (the exact erf form)", FloatTensor>;
def Tessera_SiluOp : Tessera_UnaryOp<"silu", "sigmoid linear unit `x * sigmoid(x)`", FloatTensor>;
// Internal: no surface syntax. The gradient of gelu builds `Phi(x) = (1 + erf(x / sqrt(2))) / 2`
// with it, lowered like gelu's forward (math.erf) so that both agree.
def Tessera_ErfOp : Tessera_UnaryOp<"erf", "Gauss error function `erf(x)` (internal, for gelu's gradient)", FloatTensor>;
def Tessera_NotOp : Tessera_UnaryOp<"not", "logical not", BoolTensor>;

def Tessera_CastOp : Tessera_Op<"cast", [Pure]> {
  let summary = "element type conversion";
  let description = [{
    Converts each element to the result's element type; the shape does not
    change. Floats convert with round-to-nearest-even (or stochastic rounding
    under a `stochastic_round` policy), float to integer truncates toward
    zero, integers are signed except that `i1` converts as 0/1, and a
    conversion to `i1` tests for non-zero.

    Example:
    ```mlir
    %1 = tessera.cast %0 : tensor<4x8xf32> -> tensor<4x8xbf16>
    ```
  }];
  let arguments = !con((ins AnyRankedTensor:$input), PolicyArg);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input), [{
      build($_builder, $_state, result, input, ::mlir::tessera::PolicyAttr());
    }]>];
}

def Tessera_WhereOp : Tessera_Op<"where", [Pure]> {
  let summary = "elementwise selection `cond ? lhs : rhs` with broadcasting";
  let description = [{
    Picks `lhs` where `cond` is true and `rhs` elsewhere. The three operands
    broadcast together (NumPy rules); `lhs`, `rhs` and the result share one
    element type.

    Example:
    ```mlir
    %r = tessera.where %c, %a, %b : (tensor<4x1xi1>, tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    ```
  }];
  let arguments = (ins BoolTensor:$cond, AnyRankedTensor:$lhs, AnyRankedTensor:$rhs);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$cond `,` $lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Tessera_ClampOp : Tessera_Op<"clamp", [Pure, SameOperandsAndResultType]> {
  let summary = "elementwise clamp to `[min, max]`";
  let description = [{
    `min(max(x, min), max)`; either bound may be absent but not both, and
    `min <= max` when both are given. NaN stays NaN.

    Example:
    ```mlir
    %1 = tessera.clamp %0 {max = 6.0 : f64, min = 0.0 : f64} : tensor<4xf32>
    ```
  }];
  let arguments = !con((ins AnyRankedTensor:$input, OptionalAttr<F64Attr>:$min,
                            OptionalAttr<F64Attr>:$max), PolicyArg);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "std::optional<double>":$min, "std::optional<double>":$max), [{
      build($_builder, $_state, input.getType(), input,
            min ? $_builder.getF64FloatAttr(*min) : ::mlir::FloatAttr(),
            max ? $_builder.getF64FloatAttr(*max) : ::mlir::FloatAttr(), ::mlir::tessera::PolicyAttr());
    }]>];
}

//===----------------------------------------------------------------------===//
// Reductions and checks
//===----------------------------------------------------------------------===//

def Tessera_ReduceOp : Tessera_Op<"reduce", [Pure]> {
  let summary = "reduction over axes";
  let description = [{
    Reduces `input` over `axes` (non-negative, sorted, unique) with `kind`:
    `sum mean var std max min prod logsumexp argmax argmin`. `var` and `std`
    are population statistics (ddof = 0); `mean var std logsumexp` need a
    float element type. `argmax`/`argmin` return `i64` indices and take one
    axis, or all axes (an index into the flattened input); every other kind
    keeps the element type. With `keepdim` the reduced axes stay as size 1,
    otherwise they are dropped. `safe` (the language's `logsumexp_safe`) asks
    `logsumexp` for the max-subtracted form `m + log(sum(exp(x - m)))`.
    Under a policy, `accum` is the accumulation type.

    Example:
    ```mlir
    %m = tessera.reduce mean %x axes = [1] keepdim : tensor<4x8xf32> -> tensor<4x1xf32>
    %s = tessera.reduce sum %x axes = [0, 1] : tensor<4x8xf32> -> tensor<f32>
    ```
  }];
  let arguments = !con((ins AnyRankedTensor:$input, Tessera_ReduceKind:$kind,
                            DenseI64ArrayAttr:$axes, UnitAttr:$keepdim,
                            UnitAttr:$safe), PolicyArg);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $kind $input `axes` `=` $axes (`keepdim` $keepdim^)? (`safe` $safe^)? attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input, "::mlir::tessera::ReduceKind":$kind,
                   "::llvm::ArrayRef<int64_t>":$axes, CArg<"bool", "false">:$keepdim), [{
      build($_builder, $_state, result, input, kind, axes, keepdim, /*safe=*/false, ::mlir::tessera::PolicyAttr());
    }]>];
}

def Tessera_NormOp : Tessera_Op<"norm", [Pure]> {
  let summary = "L2 norm of all elements";
  let description = [{
    `sqrt(sum(x * x))` over every element, as a rank-0 tensor of the input's
    (float) element type.

    Example:
    ```mlir
    %n = tessera.norm %x : tensor<4x8xf32> -> tensor<f32>
    ```
  }];
  let arguments = !con((ins FloatTensor:$input), PolicyArg);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let builders = [
    // The rank-0 result of the input's element type.
    OpBuilder<(ins "::mlir::Value":$input), [{
      auto element = ::mlir::cast<::mlir::RankedTensorType>(input.getType()).getElementType();
      build($_builder, $_state, ::mlir::RankedTensorType::get({}, element), input, ::mlir::tessera::PolicyAttr());
    }]>];
}

class Tessera_CheckOp<string mnemonic, string what>
    : Tessera_Op<mnemonic, [Pure]> {
  let summary = "true when any element is " # what;
  let description = [{
    A rank-0 `i1` tensor that is true when any element of the float input is
    }] # what # [{.

    Example:
    ```mlir
    %b = tessera.}] # mnemonic # [{ %x : tensor<4x8xf32> -> tensor<i1>
    ```
  }];
  let arguments = (ins FloatTensor:$input);
  let results = (outs 0DTensorOf<[I1]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

def Tessera_HasNanOp : Tessera_CheckOp<"has_nan", "NaN">;
def Tessera_HasInfOp : Tessera_CheckOp<"has_inf", "infinite">;

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
    Under a policy, `accum` is the accumulation type.

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
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$lhs, "::mlir::Value":$rhs), [{
      build($_builder, $_state, result, lhs, rhs, ::mlir::tessera::PolicyAttr());
    }]>];
}

//===----------------------------------------------------------------------===//
// Shape ops
//===----------------------------------------------------------------------===//

def Tessera_CholeskyOp : Tessera_Op<"cholesky", [Pure]> {
  let summary = "lower Cholesky factor of symmetric positive-definite matrices";
  let description = [{
    `torch.linalg.cholesky`: for each matrix `A` of the input `[..., N, N]`,
    the lower-triangular `L` with a positive diagonal and `L L^T = A`, zeros
    above the diagonal. Only the lower triangle of `A` is read. A matrix that
    is not positive definite (a pivot that is not > 0, or NaN) gives a factor
    of NaN, so a log density built on it is NaN and a sampler rejects the
    point. Computed in f64 for f32 inputs.

    Example:
    ```mlir
    %l = tessera.cholesky %a : tensor<8x8xf64> -> tensor<8x8xf64>
    ```
  }];
  let arguments = (ins FloatTensor:$input);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Tessera_TriangularSolveOp : Tessera_Op<"triangular_solve", [Pure]> {
  let summary = "solve with a lower-triangular matrix";
  let description = [{
    `X = L^-1 B`, or `X = L^-T B` with `transpose`, for `L` of `[..., N, N]`
    (only its lower triangle is read) and `B` of `[..., N, M]`; `L` of rank 2
    applies to every matrix of a batched `B`, otherwise the batch dimensions
    are equal. Forward (backward) substitution, in f64 for f32 operands.

    Example:
    ```mlir
    %x = tessera.triangular_solve %l, %b {transpose = false} : (tensor<8x8xf64>, tensor<8x3xf64>) -> tensor<8x3xf64>
    ```
  }];
  let arguments = (ins FloatTensor:$tri, FloatTensor:$rhs, BoolAttr:$transpose);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$tri `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Tessera_TransposeOp : Tessera_Op<"transpose", [Pure]> {
  let summary = "permutation of dimensions";
  let description = [{
    Result dimension `i` is input dimension `perm[i]`; `perm` is a
    permutation of `[0, rank)`. An identity permutation folds away and two
    transposes in a row become one.

    Example:
    ```mlir
    %t = tessera.transpose %x [1, 0] : tensor<4x8xf32> -> tensor<8x4xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input $perm attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Tessera_ReshapeOp : Tessera_Op<"reshape", [Pure]> {
  let summary = "row-major reshape";
  let description = [{
    Reinterprets the elements in row-major order with the result's shape.
    Each `?` of the result type takes its size from one `index` operand, in
    order. The element counts must agree (checked when both shapes are
    static). A reshape of a reshape is one reshape, and a reshape to the
    input's static type folds away.

    Example:
    ```mlir
    %r = tessera.reshape %x [%n] : tensor<?x8xf32> -> tensor<?x2x4xf32>
    ```
  }];
  let arguments = !con((ins AnyRankedTensor:$input), DynamicDims);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input (` ` `[` $dims^ `]`)? attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
  let hasCanonicalizer = 1;
  let builders = [
    // A reshape to a static shape, or one whose `?` sizes are passed later.
    OpBuilder<(ins "::mlir::Type":$resultType, "::mlir::Value":$input), [{
      build($_builder, $_state, resultType, input, ::mlir::ValueRange{});
    }]>];
}

def Tessera_BroadcastToOp : Tessera_Op<"broadcast_to", [Pure]> {
  let summary = "NumPy broadcast to an explicit shape";
  let description = [{
    Broadcasts `input` to the result shape with NumPy rules (aligned on the
    trailing dimensions; input dimensions must be 1 or equal). Each `?` of
    the result takes its size from one `index` operand, in order; the operands
    may be left out only when every `?` of the result sits over a `?` of the
    input (the size then comes from the input). A broadcast to the input's
    type folds away.

    Example:
    ```mlir
    %b = tessera.broadcast_to %x [%n] : tensor<1x8xf32> -> tensor<?x8xf32>
    ```
  }];
  let arguments = !con((ins AnyRankedTensor:$input), DynamicDims);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input (` ` `[` $dims^ `]`)? attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Type":$resultType, "::mlir::Value":$input), [{
      build($_builder, $_state, resultType, input, ::mlir::ValueRange{});
    }]>];
}

def Tessera_UnsqueezeOp : Tessera_Op<"unsqueeze", [Pure]> {
  let summary = "insert a dimension of size 1";
  let description = [{
    Inserts a size-1 dimension at `axis`, `0 <= axis <= rank`.

    Example:
    ```mlir
    %u = tessera.unsqueeze %x axis = 1 : tensor<4x8xf32> -> tensor<4x1x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input `axis` `=` $axis attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Tessera_SqueezeOp : Tessera_Op<"squeeze", [Pure]> {
  let summary = "remove dimensions of size 1";
  let description = [{
    Removes the dimensions listed in `axes` (sorted, unique), which must have
    size 1 (a `?` is accepted and must be 1 at run time).

    Example:
    ```mlir
    %s = tessera.squeeze %x axes = [1] : tensor<4x1x8xf32> -> tensor<4x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$axes);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input `axes` `=` $axes attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Tessera_ConcatOp : Tessera_Op<"concat", [Pure]> {
  let summary = "concatenation along an existing axis";
  let description = [{
    Joins one or more tensors of one rank and element type along `axis`;
    the other dimensions must agree, and the result's `axis` dimension is the
    sum (checked when static).

    Example:
    ```mlir
    %c = tessera.concat %a, %b axis = 0 : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<6x3xf32>
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$inputs `axis` `=` $axis attr-dict `:` functional-type($inputs, results)";
  let hasVerifier = 1;
}

def Tessera_StackOp : Tessera_Op<"stack", [Pure]> {
  let summary = "stacking along a new axis";
  let description = [{
    Stacks one or more tensors of one type along a new dimension inserted at
    `axis` (`0 <= axis <= rank`); that dimension's size is the number of
    operands.

    Example:
    ```mlir
    %s = tessera.stack %a, %b axis = 0 : (tensor<3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$inputs `axis` `=` $axis attr-dict `:` functional-type($inputs, results)";
  let hasVerifier = 1;
}

def Tessera_SplitOp : Tessera_Op<"split", [Pure]> {
  let summary = "split into parts along an axis";
  let description = [{
    Splits `input` along `axis` into one part per result. Without `sizes` the
    parts are equal (the dimension must divide evenly when static); with
    `sizes` part `i` has `sizes[i]` elements along `axis` and the sizes add up
    to the dimension when it is static.

    Example:
    ```mlir
    %a, %b = tessera.split %x axis = 1 : tensor<4x8xf32> -> tensor<4x4xf32>, tensor<4x4xf32>
    %c, %d = tessera.split %x axis = 1 sizes = [2, 6] : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x6xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$axis,
                       OptionalAttr<DenseI64ArrayAttr>:$sizes);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let assemblyFormat = [{
    $input `axis` `=` $axis (`sizes` `=` $sizes^)? attr-dict `:` type($input) `->` type($results)
  }];
  let hasVerifier = 1;
}

def Tessera_SliceOp : Tessera_Op<"slice", [Pure, AttrSizedOperandSegments]> {
  let summary = "NumPy basic indexing (strided slice, optionally dropping dimensions)";
  let description = [{
    Takes, for every input dimension, `size` elements starting at `offset`
    with step `stride` (non-zero; negative steps walk backwards), like
    `tensor.extract_slice`. Offsets, sizes and strides are each a list with
    one entry per input dimension; an entry is a constant or an `index`
    operand (its static entry is `ShapedType::kDynamic`, printed as the
    operand). Offsets are non-negative, already normalized by the front end.
    `drop` lists dimensions of size 1 that the result leaves out, which is
    how an integer index (`x[:, 0]`) removes a dimension.

    Example:
    ```mlir
    %s = tessera.slice %x[0, %i] [4, 1] [1, 1] drop = [1] : tensor<4x8xf32> -> tensor<4xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, Variadic<Index>:$offsets,
                       Variadic<Index>:$sizes, Variadic<Index>:$strides,
                       DenseI64ArrayAttr:$static_offsets,
                       DenseI64ArrayAttr:$static_sizes,
                       DenseI64ArrayAttr:$static_strides,
                       OptionalAttr<DenseI64ArrayAttr>:$drop_dims);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `` custom<DynamicIndexList>($offsets, $static_offsets)
    custom<DynamicIndexList>($sizes, $static_sizes)
    custom<DynamicIndexList>($strides, $static_strides)
    (`drop` `=` $drop_dims^)? attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
  let builders = [
    // Each offset, size and stride is a constant (an IntegerAttr) or an
    // `index` value, as for tensor.extract_slice.
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::llvm::ArrayRef<::mlir::OpFoldResult>":$offsets,
                   "::llvm::ArrayRef<::mlir::OpFoldResult>":$sizes,
                   "::llvm::ArrayRef<::mlir::OpFoldResult>":$strides,
                   CArg<"::llvm::ArrayRef<int64_t>", "{}">:$dropDims)>];
}

def Tessera_DimOp : Tessera_Op<"dim", [Pure]> {
  let summary = "size of one dimension";
  let description = [{
    The size of dimension `axis` of `input` as an `index`. A static size
    folds to an `arith.constant`.

    Example:
    ```mlir
    %n = tessera.dim %x, 0 : tensor<?x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$axis);
  let results = (outs Index:$result);
  let assemblyFormat = "$input `,` $axis attr-dict `:` type($input)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Neural-network ops
//===----------------------------------------------------------------------===//

def Tessera_SoftmaxOp : Tessera_Op<"softmax", [Pure, SameOperandsAndResultType]> {
  let summary = "softmax along an axis";
  let description = [{
    `exp(x) / sum(exp(x))` along `axis`. With `safe` (the language's
    `softmax_safe`) the maximum along `axis` is subtracted first, which the
    CPU lowering always does; the flag records that the program asked for it.

    Example:
    ```mlir
    %p = tessera.softmax %x axis = 1 : tensor<4x8xf32>
    ```
  }];
  let arguments = !con((ins FloatTensor:$input, I64Attr:$axis, UnitAttr:$safe), PolicyArg);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input `axis` `=` $axis (`safe` $safe^)? attr-dict `:` type($result)";
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "int64_t":$axis, CArg<"bool", "false">:$safe), [{
      build($_builder, $_state, input.getType(), input, axis, safe, ::mlir::tessera::PolicyAttr());
    }]>];
}

def Tessera_LogSoftmaxOp : Tessera_Op<"log_softmax", [Pure, SameOperandsAndResultType]> {
  let summary = "log of softmax along an axis";
  let description = [{
    `x - logsumexp(x)` along `axis`, computed with the maximum subtracted.

    Example:
    ```mlir
    %p = tessera.log_softmax %x axis = 1 : tensor<4x8xf32>
    ```
  }];
  let arguments = !con((ins FloatTensor:$input, I64Attr:$axis), PolicyArg);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input `axis` `=` $axis attr-dict `:` type($result)";
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "int64_t":$axis), [{
      build($_builder, $_state, input.getType(), input, axis, ::mlir::tessera::PolicyAttr());
    }]>];
}

def Tessera_LayerNormOp : Tessera_Op<"layer_norm", [Pure, AttrSizedOperandSegments]> {
  let summary = "layer normalization over the trailing dimensions";
  let description = [{
    Normalizes over dimensions `[axis, rank)`: `(x - mean) / sqrt(var + eps)`
    with the population variance, then multiplies by `weight` and adds `bias`
    when given; both have the shape `x.shape[axis:]`. `axis` is non-negative
    (the front end normalizes the language's default of -1). With `safe` (the
    language's `layernorm_safe`) mean and variance are computed with
    Welford's algorithm.

    Example:
    ```mlir
    %y = tessera.layer_norm %x weight %w bias %b axis = 2 eps = 1.0e-05 : (tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
    ```
  }];
  let arguments = !con((ins FloatTensor:$input, Optional<FloatTensor>:$weight,
                            Optional<FloatTensor>:$bias, I64Attr:$axis, F64Attr:$eps,
                            UnitAttr:$safe), PolicyArg);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $input (`weight` $weight^)? (`bias` $bias^)? `axis` `=` $axis `eps` `=` $eps (`safe` $safe^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let builders = [
    // `weight` and `bias` may be null; the result has the input's type.
    OpBuilder<(ins "::mlir::Value":$input, "::mlir::Value":$weight, "::mlir::Value":$bias,
                   "int64_t":$axis, "double":$eps, CArg<"bool", "false">:$safe), [{
      build($_builder, $_state, input.getType(), input, weight, bias, $_builder.getI64IntegerAttr(axis),
            $_builder.getF64FloatAttr(eps), safe ? $_builder.getUnitAttr() : ::mlir::UnitAttr(),
            ::mlir::tessera::PolicyAttr());
    }]>];
}

def Tessera_RmsNormOp : Tessera_Op<"rms_norm", [Pure]> {
  let summary = "root-mean-square normalization over the last dimension";
  let description = [{
    `x / sqrt(mean(x * x) + eps)` over the last dimension, times `weight`
    (shape `[D]`) when given. With `safe` (the language's `rmsnorm_safe`)
    the reciprocal square root is clamped so that an all-zero row gives 0
    rather than a huge value.

    Example:
    ```mlir
    %y = tessera.rms_norm %x weight %w eps = 1.0e-06 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    ```
  }];
  let arguments = !con((ins FloatTensor:$input, Optional<FloatTensor>:$weight,
                            F64Attr:$eps, UnitAttr:$safe), PolicyArg);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $input (`weight` $weight^)? `eps` `=` $eps (`safe` $safe^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let builders = [
    // `weight` may be null; the result has the input's type.
    OpBuilder<(ins "::mlir::Value":$input, "::mlir::Value":$weight, "double":$eps, CArg<"bool", "false">:$safe), [{
      build($_builder, $_state, input.getType(), input, weight, $_builder.getF64FloatAttr(eps),
            safe ? $_builder.getUnitAttr() : ::mlir::UnitAttr(), ::mlir::tessera::PolicyAttr());
    }]>];
}

def Tessera_GroupNormOp : Tessera_Op<"group_norm", [Pure, AttrSizedOperandSegments]> {
  let summary = "group normalization of channels";
  let description = [{
    Input `[N, C, ...]`: the `C` channels are split into `groups` groups of
    `C / groups` channels, each group normalized over its channels and all
    trailing dimensions, then scaled by `weight` and shifted by `bias` (both
    `[C]`) when given. `C` must be divisible by `groups` when static.

    Example:
    ```mlir
    %y = tessera.group_norm %x weight %w bias %b groups = 2 eps = 1.0e-05 : (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4x8x8xf32>
    ```
  }];
  let arguments = !con((ins FloatTensor:$input, Optional<FloatTensor>:$weight,
                            Optional<FloatTensor>:$bias, I64Attr:$groups, F64Attr:$eps), PolicyArg);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $input (`weight` $weight^)? (`bias` $bias^)? `groups` `=` $groups `eps` `=` $eps attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let builders = [
    // `weight` and `bias` may be null; the result has the input's type.
    OpBuilder<(ins "::mlir::Value":$input, "::mlir::Value":$weight, "::mlir::Value":$bias,
                   "int64_t":$groups, "double":$eps), [{
      build($_builder, $_state, input.getType(), input, weight, bias, $_builder.getI64IntegerAttr(groups),
            $_builder.getF64FloatAttr(eps), ::mlir::tessera::PolicyAttr());
    }]>];
}

def Tessera_DropoutOp : Tessera_Op<"dropout",
    !listconcat(Tessera_RandomEffects, [SameOperandsAndResultType])> {
  let summary = "inverted dropout";
  let description = [{
    Zeroes each element with probability `p` (`0 <= p < 1`) and scales the
    others by `1 / (1 - p)`. The mask comes from the Philox stream `seed`.
    The op is random: it is never merged with another dropout or moved.

    Example:
    ```mlir
    %y = tessera.dropout %x p = 1.000000e-01 seed = 7 : tensor<4x8xf32>
    ```
  }];
  let arguments = !con((ins FloatTensor:$input, F64Attr:$p, I64Attr:$seed), PolicyArg);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input `p` `=` $p `seed` `=` $seed attr-dict `:` type($result)";
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "double":$p, "int64_t":$seed), [{
      build($_builder, $_state, input.getType(), input, $_builder.getF64FloatAttr(p),
            $_builder.getI64IntegerAttr(seed), ::mlir::tessera::PolicyAttr());
    }]>];
}

def Tessera_LinearOp : Tessera_Op<"linear", [Pure]> {
  let summary = "affine map `x @ w + b`";
  let description = [{
    `input[..., K] @ weight[K, N] + bias[N]` (the bias is optional); the
    result is `[..., N]`. Under a policy, `accum` is the accumulation type.

    Example:
    ```mlir
    %y = tessera.linear %x, %w, %b : (tensor<4x8xf32>, tensor<8x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
    ```
  }];
  let arguments = !con((ins FloatTensor:$input, FloatTensor:$weight,
                            Optional<FloatTensor>:$bias), PolicyArg);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input, "::mlir::Value":$weight,
                   CArg<"::mlir::Value", "{}">:$bias), [{
      build($_builder, $_state, result, input, weight, bias, ::mlir::tessera::PolicyAttr());
    }]>];
}

def Tessera_EmbeddingOp : Tessera_Op<"embedding", [Pure]> {
  let summary = "row lookup in a table";
  let description = [{
    `table[V, D]` indexed by the integer `ids[...]` gives `[..., D]`. An id
    outside `[0, V)` is a run-time error.

    Example:
    ```mlir
    %e = tessera.embedding %table, %ids : (tensor<100x16xf32>, tensor<2x5xi64>) -> tensor<2x5x16xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$table, IntTensor:$ids);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$table `,` $ids attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Tessera_EmbeddingGradOp : Tessera_Op<"embedding_grad", [Pure]> {
  let summary = "scatter-add of row cotangents into a table (internal, embedding's gradient)";
  let description = [{
    `embedding_grad %table, %ids, %ct` is zeros shaped like `table[V, D]` with
    `ct[i..., :]` added into row `ids[i...]` for every lookup, in order (the
    table's values are not read: it gives the shape). An id outside `[0, V)`
    is a run-time error. Embedding's gradient rule makes it; its own gradient
    with respect to `ct` is the lookup `embedding(ct_table, ids)`.

    Example:
    ```mlir
    %g = tessera.embedding_grad %table, %ids, %ct : (tensor<100x16xf32>, tensor<2x5xi64>, tensor<2x5x16xf32>) -> tensor<100x16xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$table, IntTensor:$ids, AnyRankedTensor:$ct);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$table `,` $ids `,` $ct attr-dict `:` functional-type(operands, results)";
}

def Tessera_OneHotOp : Tessera_Op<"one_hot", [Pure]> {
  let summary = "one-hot encoding of class ids";
  let description = [{
    Integer `ids[...]` give `[..., num_classes]` with 1 at the id and 0
    elsewhere, in the result's element type. An id outside
    `[0, num_classes)` gives a row of zeros.

    Example:
    ```mlir
    %h = tessera.one_hot %ids num_classes = 10 : tensor<4xi64> -> tensor<4x10xf32>
    ```
  }];
  let arguments = (ins IntTensor:$ids, I64Attr:$num_classes);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$ids `num_classes` `=` $num_classes attr-dict `:` type($ids) `->` type($result)";
  let hasVerifier = 1;
}

def Tessera_CrossEntropyOp : Tessera_Op<"cross_entropy", [Pure]> {
  let summary = "mean softmax cross-entropy against class ids";
  let description = [{
    `logits[..., C]` against integer class ids `labels[...]`: the mean over
    all positions of `logsumexp(logits) - logits[label]`, a rank-0 tensor of
    the logits' element type.

    Example:
    ```mlir
    %l = tessera.cross_entropy %logits, %labels : (tensor<4x10xf32>, tensor<4xi64>) -> tensor<f32>
    ```
  }];
  let arguments = !con((ins FloatTensor:$logits, IntTensor:$labels), PolicyArg);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$logits `,` $labels attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$logits, "::mlir::Value":$labels), [{
      build($_builder, $_state, result, logits, labels, ::mlir::tessera::PolicyAttr());
    }]>];
}

def Tessera_AttentionOp : Tessera_Op<"attention", [Pure]> {
  let summary = "scaled dot-product attention";
  let description = [{
    `softmax(q @ k^T * scale) @ v` with `query[..., Sq, D]`,
    `key[..., Sk, D]` and `value[..., Sk, Dv]` (equal batch dimensions),
    giving `[..., Sq, Dv]`. `scale` defaults to `1 / sqrt(D)`. With `causal`,
    query `i` attends to keys `j <= i` only (as PyTorch's `is_causal`). The CPU lowering is
    flash-style (online softmax); `safe` (the language's `attention_safe`)
    also clamps the running denominator so that a fully masked row gives 0.

    Example:
    ```mlir
    %o = tessera.attention %q, %k, %v causal : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
    ```
  }];
  let arguments = !con((ins FloatTensor:$query, FloatTensor:$key, FloatTensor:$value,
                            UnitAttr:$causal, OptionalAttr<F64Attr>:$scale,
                            UnitAttr:$safe), PolicyArg);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`causal` $causal^)? (`scale` `=` $scale^)? (`safe` $safe^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$query, "::mlir::Value":$key, "::mlir::Value":$value,
                   CArg<"bool", "false">:$causal, CArg<"std::optional<double>", "std::nullopt">:$scale,
                   CArg<"bool", "false">:$safe), [{
      build($_builder, $_state, result, query, key, value, causal ? $_builder.getUnitAttr() : ::mlir::UnitAttr(),
            scale ? $_builder.getF64FloatAttr(*scale) : ::mlir::FloatAttr(),
            safe ? $_builder.getUnitAttr() : ::mlir::UnitAttr(), ::mlir::tessera::PolicyAttr());
    }]>];
}

def Tessera_Conv2dOp : Tessera_Op<"conv2d", [Pure]> {
  let summary = "2-D convolution (NCHW input, OIHW weight)";
  let description = [{
    `input[N, C, H, W]` with `weight[O, C / groups, kH, kW]` and an optional
    `bias[O]` gives `[N, O, Ho, Wo]` where
    `Ho = (H + 2 * padding[0] - dilation[0] * (kH - 1) - 1) // stride[0] + 1`
    (and likewise `Wo`). `stride`, `padding` and `dilation` have two entries
    (height, width); `C` and `O` must be divisible by `groups`. The verifier
    checks every relation whose dimensions are static.

    Example:
    ```mlir
    %y = tessera.conv2d %x, %w stride = [1, 1] padding = [1, 1] dilation = [1, 1] groups = 1 : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>
    ```
  }];
  let arguments = !con((ins FloatTensor:$input, FloatTensor:$weight, Optional<FloatTensor>:$bias,
                            DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding,
                            DenseI64ArrayAttr:$dilation, I64Attr:$groups), PolicyArg);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? `stride` `=` $stride `padding` `=` $padding `dilation` `=` $dilation `groups` `=` $groups attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let builders = [
    // `bias` may be null.
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input, "::mlir::Value":$weight, "::mlir::Value":$bias,
                   "::llvm::ArrayRef<int64_t>":$stride, "::llvm::ArrayRef<int64_t>":$padding,
                   "::llvm::ArrayRef<int64_t>":$dilation, "int64_t":$groups), [{
      build($_builder, $_state, result, input, weight, bias, stride, padding, dilation, groups,
            ::mlir::tessera::PolicyAttr());
    }]>];
}

class Tessera_Pool2dOp<string mnemonic, string what>
    : Tessera_Op<mnemonic, [Pure]> {
  let summary = "2-D " # what # " pooling (NCHW)";
  let description = [{
    }] # what # [{ over `kernel` windows moved by `stride`, with `padding`
    on each side (2 entries each: height, width): `input[N, C, H, W]` gives
    `[N, C, Ho, Wo]` with `Ho = (H + 2 * padding[0] - kernel[0]) // stride[0] + 1`.
    Padding counts as -infinity for max pooling and as zeros in the average
    (the count is always `kernel[0] * kernel[1]`, PyTorch's default).

    Example:
    ```mlir
    %y = tessera.}] # mnemonic # [{ %x kernel = [2, 2] stride = [2, 2] padding = [0, 0] : tensor<1x3x8x8xf32> -> tensor<1x3x4x4xf32>
    ```
  }];
  let arguments = !con((ins FloatTensor:$input, DenseI64ArrayAttr:$kernel,
                            DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding), PolicyArg);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $input `kernel` `=` $kernel `stride` `=` $stride `padding` `=` $padding attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input, "::llvm::ArrayRef<int64_t>":$kernel,
                   "::llvm::ArrayRef<int64_t>":$stride, "::llvm::ArrayRef<int64_t>":$padding), [{
      build($_builder, $_state, result, input, kernel, stride, padding, ::mlir::tessera::PolicyAttr());
    }]>];
}

def Tessera_MaxPool2dOp : Tessera_Pool2dOp<"max_pool2d", "maximum">;
def Tessera_AvgPool2dOp : Tessera_Pool2dOp<"avg_pool2d", "average">;

def Tessera_AdaptiveAvgPool2dOp : Tessera_Op<"adaptive_avg_pool2d", [Pure]> {
  let summary = "2-D average pooling to a fixed output size (NCHW)";
  let description = [{
    `input[N, C, H, W]` gives `[N, C, output_size[0], output_size[1]]`;
    output cell `i` averages input rows `[floor(i * H / Ho), ceil((i + 1) * H / Ho))`
    (as PyTorch), and likewise for columns.

    Example:
    ```mlir
    %y = tessera.adaptive_avg_pool2d %x output_size = [1, 1] : tensor<1x3x8x8xf32> -> tensor<1x3x1x1xf32>
    ```
  }];
  let arguments = !con((ins FloatTensor:$input, DenseI64ArrayAttr:$output_size), PolicyArg);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $input `output_size` `=` $output_size attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input, "::llvm::ArrayRef<int64_t>":$outputSize), [{
      build($_builder, $_state, result, input, outputSize, ::mlir::tessera::PolicyAttr());
    }]>];
}

//===----------------------------------------------------------------------===//
// Creation
//===----------------------------------------------------------------------===//

class Tessera_FillOp<string mnemonic, string what>
    : Tessera_Op<mnemonic, [Pure]> {
  let summary = "tensor filled with " # what;
  let description = [{
    A tensor of the result type filled with }] # what # [{. Each `?` of the
    result type takes its size from one `index` operand, in order.

    Example:
    ```mlir
    %z = tessera.}] # mnemonic # [{ [%n] : tensor<?x8xf32>
    ```
  }];
  let arguments = DynamicDims;
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "(` ` `[` $dims^ `]`)? attr-dict `:` type($result)";
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Type":$resultType), [{
      build($_builder, $_state, resultType, ::mlir::ValueRange{});
    }]>];
}

def Tessera_ZerosOp : Tessera_FillOp<"zeros", "zeros">;
def Tessera_OnesOp : Tessera_FillOp<"ones", "ones">;

def Tessera_FullOp : Tessera_Op<"full", [Pure]> {
  let summary = "tensor filled with a value";
  let description = [{
    A tensor of the result type filled with `value` (converted to the
    element type as `tessera.cast` does). Each `?` of the result type takes
    its size from one `index` operand, in order.

    Example:
    ```mlir
    %f = tessera.full 2.500000e+00 : tensor<4xf32>
    ```
  }];
  let arguments = !con((ins F64Attr:$value), DynamicDims);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$value (` ` `[` $dims^ `]`)? attr-dict `:` type($result)";
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Type":$resultType, "double":$value), [{
      build($_builder, $_state, resultType, $_builder.getF64FloatAttr(value), ::mlir::ValueRange{});
    }]>];
}

def Tessera_ArangeOp : Tessera_Op<"arange", [Pure]> {
  let summary = "evenly spaced values";
  let description = [{
    A rank-1 tensor with `result[i] = start + i * step`; its length is the
    result type's dimension, or the one `index` operand when that is `?`.

    Example:
    ```mlir
    %r = tessera.arange start = 0.000000e+00 step = 1.000000e+00 : tensor<10xi64>
    ```
  }];
  let arguments = !con((ins F64Attr:$start, F64Attr:$step), DynamicDims);
  let results = (outs 1DTensorOf<[AnyType]>:$result);
  let assemblyFormat = "`start` `=` $start `step` `=` $step (` ` `[` $dims^ `]`)? attr-dict `:` type($result)";
  let hasVerifier = 1;
}

class Tessera_RandomOp<string mnemonic, string distribution>
    : Tessera_Op<mnemonic, Tessera_RandomEffects> {
  let summary = "tensor of " # distribution # " random values";
  let description = [{
    A float tensor of the result type filled with }] # distribution # [{
    values from the counter-based Philox generator: stream `seed`, starting
    at counter `offset`. Without `seed` the op draws from the program's
    global generator. The op is random: it is never merged with another or
    moved. Each `?` of the result type takes its size from one `index`
    operand, in order.

    Example:
    ```mlir
    %r = tessera.}] # mnemonic # [{ {seed = 0 : i64} : tensor<4x8xf32>
    ```
  }];
  let arguments = !con((ins OptionalAttr<I64Attr>:$seed,
                            DefaultValuedAttr<I64Attr, "0">:$offset), DynamicDims);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "(` ` `[` $dims^ `]`)? attr-dict `:` type($result)";
  let hasVerifier = 1;
  let builders = [
    // Without a seed the op draws from the global generator.
    OpBuilder<(ins "::mlir::Type":$result, "std::optional<int64_t>":$seed,
                   CArg<"::mlir::ValueRange", "{}">:$dims), [{
      build($_builder, $_state, result, seed ? $_builder.getI64IntegerAttr(*seed) : ::mlir::IntegerAttr(),
            $_builder.getI64IntegerAttr(0), dims);
    }]>];
}

def Tessera_SampleFamilyOp : Tessera_Op<"sample_family", Tessera_RandomEffects> {
  let summary = "draws of Gamma(a, 1), Poisson(a) or Binomial(a, b), elementwise";
  let description = [{
    `family` is `gamma`, `poisson` or `binomial`; `a` (and `b`, the
    probability of Binomial, ignored otherwise) are f64 vectors of the
    result's size. Element `i` draws from its own Philox sub-stream of `seed`
    (element `offset + i`), by rejection (Marsaglia-Tsang for Gamma) or an
    inverse CDF searched from the mode (Poisson, Binomial), so the values do
    not depend on the thread count. Parameters outside their domain give NaN.
    Used by `D.sample()` of Gamma, Beta, StudentT, Dirichlet, Poisson and
    Binomial (lower_inference.cpp).

    Example:
    ```mlir
    %g = tessera.sample_family %a, %a {family = "gamma", seed = 3 : i64, offset = 0 : i64} : (tensor<8xf64>, tensor<8xf64>) -> tensor<8xf64>
    ```
  }];
  let arguments = (ins 1DTensorOf<[F64]>:$a, 1DTensorOf<[F64]>:$b, StrAttr:$family, I64Attr:$seed, I64Attr:$offset);
  let results = (outs 1DTensorOf<[F64]>:$result);
  let assemblyFormat = "$a `,` $b attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Tessera_RandnOp : Tessera_RandomOp<"randn", "standard normal">;
def Tessera_RandOp : Tessera_RandomOp<"rand", "uniform `[0, 1)`">;

//===----------------------------------------------------------------------===//
// Input and output
//===----------------------------------------------------------------------===//

def Tessera_PrintOp : Tessera_Op<"print", [MemoryEffects<[MemWrite<Tessera_IOResource>]>]> {
  let summary = "print values to standard output";
  let description = [{
    Writes one line to standard output. `format` has one string per
    argument of the language's `print(a, b, ...)`; the strings are written
    separated by one space, and a newline ends the line. Inside a string,
    `{}` is replaced by the next operand, `{:SPEC}` by the next operand
    formatted with a Python format spec (`{:.4f}`), and `{{` and `}}` are
    literal braces. So `print("loss", x)` is `["loss", "{}"]` and
    `print(f"step {i}: {l:.3f}")` is `["step {}: {:.3f}"]`. The number of
    placeholders equals the number of operands.

    A rank-0 tensor prints as a scalar, an `i1` as `True`/`False`, and a
    tensor like NumPy.

    Example:
    ```mlir
    tessera.print ["loss", "{:.4f}"](%l) : tensor<f32>
    tessera.print ["done"]()
    ```
  }];
  let arguments = (ins StrArrayAttr:$format, Variadic<AnyType>:$values);
  let assemblyFormat = "$format `(` $values `)` attr-dict (`:` type($values)^)?";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// One piece of the printed line: literal text (braces unescaped), or
    /// the next operand formatted with `text` as its format spec (empty for
    /// `{}`, `.4f` for `{:.4f}`).
    struct Segment {
      bool isValue;
      std::string text;
    };
    /// The line as pieces in order, the spaces between the format strings
    /// included and the final newline left out. Fails (with a message in
    /// `error`) when a brace is unbalanced; the verifier rejects that.
    static ::mlir::FailureOr<::llvm::SmallVector<Segment>> parseFormat(::mlir::ArrayAttr format,
                                                                       std::string* error = nullptr);
    ::mlir::FailureOr<::llvm::SmallVector<Segment>> getSegments() { return parseFormat(getFormat()); }
    /// Literal text as a format string: doubles every brace.
    static std::string escapeLiteral(::llvm::StringRef text);
  }];
}

def Tessera_LoadOp : Tessera_Op<"load", [MemoryEffects<[MemRead<Tessera_IOResource>]>]> {
  let summary = "read a tensor from a .npy file";
  let description = [{
    Reads the `.npy` file at `path`. Its dtype must be the result's element
    type and its shape must agree with the result type (`?` takes the file's
    size); a mismatch is a run-time error.

    With `member`, reads the member `<member>.npy` of the `.npz` archive at
    `path` instead (one op per parameter of `load("p.npz", like=params)`); a
    missing member is a run-time error too.

    Example:
    ```mlir
    %w = tessera.load "weights.npy" : tensor<?x16xf32>
    %b = tessera.load "p.npz" {member = "linear_0.b"} : tensor<256xf32>
    ```
  }];
  let arguments = (ins StrAttr:$path, OptionalAttr<StrAttr>:$member);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$path attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Inference (docs/inference.md)
//===----------------------------------------------------------------------===//

def Tessera_InferOp : Tessera_Op<"infer", [MemoryEffects<[MemWrite<Tessera_IOResource>]>, AttrSizedOperandSegments]> {
  let summary = "fit a probabilistic function to its data: NUTS, HMC or ADVI";
  let description = [{
    Runs the inference engine that `config` names (`method=NUTS;num_samples=1000;...`)
    over the function `log_density`: `(theta: tensor<DIMxf64>, data...) -> (f64 log
    density, tensor<DIMxf64> gradient)` on the unconstrained parameter vector. Each draw
    is mapped by `quantities`, `(theta, data...) -> tensor<WIDTHxf64>`, to the values of
    the Posterior's fields, flattened one after the other. `dim` and `width` are those sizes
    (computed from the data's dimensions when they are not static); `field_dims` are the
    values of the `?` sizes of the fields in `config`, in order. `terms`, when present, is
    `(theta, data...) -> tensor<Txf64>`, the log density's terms per statement (`~` and
    `factor`), which the runtime evaluates to say which statement is not finite when no
    initial point has a finite log density (their sources are `terms=` of `config`). `seed`,
    when present, replaces the decorator's seed (`fit(y, seed=r)`). The result is a handle of
    the Posterior (runtime/src/inference.h), read by `tessera.posterior_stat`.

    Example:
    ```mlir
    %p = tessera.infer @__tess_logp_m, @__tess_gq_m(%X, %y) sizes(%c5, %c5)
           {config = "method=NUTS;..."} : (tensor<200x3xf32>, tensor<200xf32>) -> i64
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$log_density, FlatSymbolRefAttr:$quantities,
                       OptionalAttr<FlatSymbolRefAttr>:$terms, StrAttr:$config,
                       Index:$dim, Index:$width, Variadic<Index>:$field_dims, Optional<I64>:$seed,
                       Variadic<AnyType>:$data);
  let results = (outs I64:$posterior);
  let assemblyFormat = [{
    $log_density `,` $quantities `(` $data `)` `sizes` `(` $dim `,` $width `)`
    (`field_dims` `(` $field_dims^ `)`)? (`seed` `(` $seed^ `)`)? attr-dict `:` functional-type($data, $posterior)
  }];
}

def Tessera_PosteriorStatOp : Tessera_Op<"posterior_stat", [MemoryEffects<[MemRead<Tessera_IOResource>]>]> {
  let summary = "a statistic of one field of a Posterior";
  let description = [{
    `stat` is one of `mean sd quantile rhat ess samples`, per element of the
    field `field` (quantile at `q`); `samples` has one row per draw (chains one
    after the other) before the field's dimensions. Each `?` of the field's
    dimensions takes its size from one `index` operand, in order (the row
    count of `samples` comes from the Posterior).

    Example:
    ```mlir
    %m = tessera.posterior_stat "mean" "w"(%p) {q = 0.0 : f64} : tensor<3xf32>
    ```
  }];
  let arguments = (ins I64:$posterior, Variadic<Index>:$dims, StrAttr:$stat, StrAttr:$field, F64Attr:$q);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$stat $field `(` $posterior (`,` $dims^)? `)` attr-dict `:` type($result)";
}

def Tessera_PosteriorPredictOp : Tessera_Op<"posterior_predict",
    [MemoryEffects<[MemRead<Tessera_IOResource>]>, AttrSizedOperandSegments]> {
  let summary = "the posterior predictive mean or standard deviation at new inputs";
  let description = [{
    `post.predict(X_new)` (`stat = "predict"`) and `post.uncertainty(X_new)`
    (`stat = "uncertainty"`). `predictive` is `(theta: tensor<DIMxf64>, data...) ->
    tensor<2Kxf64>`: at one draw's unconstrained parameters, the mean and then the
    variance of the distribution the model observes its response under, K elements
    each, at the new `data` (the model's arguments, the response as a placeholder).
    The runtime evaluates it at every draw of the Posterior: `predict` is the average
    of the means, `uncertainty` the standard deviation of the predictive distribution,
    sqrt(average variance + variance of the means). Each `?` of the result takes its
    size from one `index` operand of `dims`, in order.

    Example:
    ```mlir
    %m = tessera.posterior_predict "predict" @__tess_pred.fit(%p)(%X, %y0) : (tensor<5x3xf32>, tensor<5xf32>) -> tensor<5xf32>
    ```
  }];
  let arguments = (ins I64:$posterior, Variadic<Index>:$dims, Variadic<AnyType>:$data, StrAttr:$stat,
                       FlatSymbolRefAttr:$predictive);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $stat $predictive `(` $posterior (`,` $dims^)? `)` `(` $data `)` attr-dict `:` functional-type($data, $result)
  }];
}

def Tessera_PosteriorSaveOp : Tessera_Op<"posterior_save", [MemoryEffects<[MemWrite<Tessera_IOResource>]>]> {
  let summary = "write a Posterior's draws to a file";
  let description = [{
    `post.save(path)`: an `.npz` archive (one member per field, shape
    `[chains, draws, *field shape]`, and the sampler's statistics) or a Stan
    CSV file (`.csv`), by the path's extension; or a trace plot (`.svg`,
    `post.trace_plot(path, names...)`) of the fields `fields` (all when absent).

    Example:
    ```mlir
    tessera.posterior_save "draws.npz"(%p)
    ```
  }];
  let arguments = (ins I64:$posterior, StrAttr:$path, OptionalAttr<StrArrayAttr>:$fields);
  let assemblyFormat = "$path `(` $posterior `)` attr-dict";
}

def Tessera_PosteriorSummaryOp : Tessera_Op<"posterior_summary", [MemoryEffects<[MemWrite<Tessera_IOResource>]>]> {
  let summary = "print a Posterior's summary table to standard output";
  let arguments = (ins I64:$posterior);
  let assemblyFormat = "`(` $posterior `)` attr-dict";
}

def Tessera_AssertOp : Tessera_Op<"assert", [MemoryEffects<[MemWrite<Tessera_IOResource>]>]> {
  let summary = "stop the program with a run-time error when a condition is false";
  let description = [{
    A value `assert` of the language (`assert n > 0, "n must be positive"`):
    when `condition` is false at run time, the program stops with a run-time
    error (exit 3) that prints `message` and the source line of the op.

    Example:
    ```mlir
    tessera.assert %ok, "AssertionError: n must be positive"
    ```
  }];
  let arguments = (ins I1:$condition, StrAttr:$message);
  let assemblyFormat = "$condition `,` $message attr-dict";
}

def Tessera_SaveOp : Tessera_Op<"save", [MemoryEffects<[MemWrite<Tessera_IOResource>]>]> {
  let summary = "write a tensor to a .npy file";
  let description = [{
    Writes `input` to the `.npy` file at `path`, replacing it.

    With `member`, stages `input` as the member `<member>.npy` of the `.npz`
    archive at `path` (one op per parameter of `save(params, "p.npz")`); the op
    with `commit` (the last member) writes the staged members as the archive,
    replacing the file.

    Example:
    ```mlir
    tessera.save %w, "weights.npy" : tensor<4x16xf32>
    tessera.save %b, "p.npz" {commit, member = "linear_0.b"} : tensor<16xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, StrAttr:$path, OptionalAttr<StrAttr>:$member, UnitAttr:$commit);
  let assemblyFormat = "$input `,` $path attr-dict `:` type($input)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Sampling (probabilistic programs)
//===----------------------------------------------------------------------===//

def Tessera_SampleOp : Tessera_Op<"sample", Tessera_RandomEffects> {
  let summary = "draw a named latent variable";
  let description = [{
    `name ~ distribution(params...)` for a latent variable: draws a value of
    the result type from the distribution. `distribution` is one of the
    language's distributions (`Normal HalfNormal LogNormal Cauchy HalfCauchy
    StudentT Gamma Exponential Beta Uniform Bernoulli Categorical Poisson
    Dirichlet MultivariateNormal`) with its parameters in the language's
    order, defaults filled in; they broadcast to the result shape. Inference
    passes replace the op by a read of the current value of `name` plus a
    log-density term.

    Example:
    ```mlir
    %w = tessera.sample "Normal"(%mu, %sigma) name = "w" : (tensor<f32>, tensor<f32>) -> tensor<3xf32>
    ```
  }];
  let arguments = (ins StrAttr:$distribution, Variadic<AnyType>:$params, StrAttr:$name);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $distribution `(` $params `)` `name` `=` $name attr-dict `:` functional-type($params, $result)
  }];
  let hasVerifier = 1;
}

def Tessera_ObserveOp : Tessera_Op<"observe",
    [MemoryEffects<[MemRead<Tessera_DensityResource>, MemWrite<Tessera_DensityResource>]>]> {
  let summary = "condition on an observed value";
  let description = [{
    `value ~ distribution(params...)` for a bound value: adds
    `log_prob(value)` to the model's log density. The parameters broadcast
    to the value's shape; the value itself is never broadcast (the checker
    rejects that with E0302).

    Example:
    ```mlir
    tessera.observe %y from "Normal"(%mu, %sigma) name = "y" : tensor<10xf32>, (tensor<10xf32>, tensor<f32>)
    ```
  }];
  let arguments = (ins AnyRankedTensor:$value, StrAttr:$distribution,
                       Variadic<AnyType>:$params, StrAttr:$name);
  let assemblyFormat = [{
    $value `from` $distribution `(` $params `)` `name` `=` $name attr-dict `:` type($value) `,` `(` type($params) `)`
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Automatic differentiation
//===----------------------------------------------------------------------===//

def Tessera_GradOp : Tessera_Op<"grad", [DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "reverse-mode gradient of a function";
  let description = [{
    `tessera.grad(f, argnums)(args)` and `value_and_grad`: calls the function
    `callee` with `args` and gives the gradient of its scalar result with
    respect to the arguments numbered `argnums`. The results are the value
    of the call when `value` is set, then one gradient per entry of
    `argnums`, in order, each typed like its argument. The callee returns
    one floating-point scalar (a rank-0 tensor or `f64`). The
    `--tessera-reverse-ad` pass (ir/autodiff) replaces the op with a call of
    a generated gradient function.

    With `seeded` (`vjp`, and the transforms built on it), the last argument
    is the cotangent of the callee's result (not passed to the callee): the
    callee may return any floating-point value, typed like that argument, and
    the gradients are the vector-Jacobian products with it.

    Example:
    ```mlir
    %v, %g0, %g1 = tessera.grad @f(%a, %b, %c) {argnums = array<i64: 0, 1>, value} : (tensor<4xf32>, tensor<4xf32>, tensor<4xi64>) -> (tensor<f32>, tensor<4xf32>, tensor<4xf32>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$callee, Variadic<AnyType>:$args, DenseI64ArrayAttr:$argnums,
                       UnitAttr:$value, UnitAttr:$seeded);
  let results = (outs Variadic<AnyType>:$results);
  let assemblyFormat = [{
    $callee `(` $args `)` attr-dict `:` functional-type($args, $results)
  }];
  let hasVerifier = 1;
}

#endif // TESSERA_OPS_TD
