// Folders and canonicalization patterns of the `tessera` ops.
#include "ir/graph/Tessera.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::tessera;

namespace {

// The scalar of a splat constant operand, or null.
Attribute splatValue(Attribute attr) {
  if (auto dense = dyn_cast_or_null<DenseElementsAttr>(attr))
    if (dense.isSplat()) return dense.getSplatValue<Attribute>();
  return {};
}

// True for a splat integer zero, and for a float zero of the given sign.
// `x + 0.0` is not `x` when x is -0.0, so addition folds only -0.0 while
// subtraction folds +0.0.
bool isSplatZero(Attribute attr, bool negativeFloatZero) {
  Attribute value = splatValue(attr);
  if (auto i = dyn_cast_or_null<IntegerAttr>(value)) return i.getValue().isZero();
  if (auto f = dyn_cast_or_null<FloatAttr>(value))
    return f.getValue().isZero() && f.getValue().isNegative() == negativeFloatZero;
  return false;
}

bool isSplatOne(Attribute attr) {
  Attribute value = splatValue(attr);
  if (auto i = dyn_cast_or_null<IntegerAttr>(value)) return i.getValue().isOne();
  if (auto f = dyn_cast_or_null<FloatAttr>(value)) return f.getValue().isExactlyValue(1.0);
  return false;
}

} // namespace

// x + 0 -> x and 0 + x -> x, when the result type is x's type (a constant
// that broadcasts x to a larger shape does not fold).
OpFoldResult AddOp::fold(FoldAdaptor adaptor) {
  if (isSplatZero(adaptor.getRhs(), /*negativeFloatZero=*/true) && getLhs().getType() == getType()) return getLhs();
  if (isSplatZero(adaptor.getLhs(), /*negativeFloatZero=*/true) && getRhs().getType() == getType()) return getRhs();
  return {};
}

// x - 0 -> x.
OpFoldResult SubOp::fold(FoldAdaptor adaptor) {
  if (isSplatZero(adaptor.getRhs(), /*negativeFloatZero=*/false) && getLhs().getType() == getType()) return getLhs();
  return {};
}

// x * 1 -> x and 1 * x -> x.
OpFoldResult MulOp::fold(FoldAdaptor adaptor) {
  if (isSplatOne(adaptor.getRhs()) && getLhs().getType() == getType()) return getLhs();
  if (isSplatOne(adaptor.getLhs()) && getRhs().getType() == getType()) return getRhs();
  return {};
}

// x / 1 -> x.
OpFoldResult DivOp::fold(FoldAdaptor adaptor) {
  if (isSplatOne(adaptor.getRhs()) && getLhs().getType() == getType()) return getLhs();
  return {};
}

// -(-x) -> x.
OpFoldResult NegOp::fold(FoldAdaptor) {
  if (auto inner = getInput().getDefiningOp<NegOp>()) return inner.getInput();
  return {};
}

// A cast to the operand's own type is the operand.
OpFoldResult CastOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType()) return getInput();
  return {};
}

//===----------------------------------------------------------------------===//
// Shape ops
//===----------------------------------------------------------------------===//

// An identity permutation is the operand.
OpFoldResult TransposeOp::fold(FoldAdaptor) {
  for (auto [i, p] : llvm::enumerate(getPerm()))
    if (static_cast<int64_t>(i) != p) return {};
  return getInput();
}

namespace {

// The replacement of an op keeps the policy of the op's result: read before the op is replaced
// (replacing erases it), set on the replacement after.
void keepPolicy(Attribute policy, Operation* replacement) {
  if (policy) replacement->setAttr("policy", policy);
}

// transpose(transpose(x, p1), p2) -> transpose(x, p1[p2[i]]); an identity
// result then folds away.
struct ComposeTransposes : public OpRewritePattern<TransposeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(TransposeOp op, PatternRewriter& rewriter) const override {
    auto inner = op.getInput().getDefiningOp<TransposeOp>();
    if (!inner) return failure();
    SmallVector<int64_t> perm;
    for (int64_t p : op.getPerm()) perm.push_back(inner.getPerm()[p]);
    Attribute policy = op->getAttr("policy");
    auto fused = rewriter.replaceOpWithNewOp<TransposeOp>(op, op.getType(), inner.getInput(), perm);
    keepPolicy(policy, fused);
    return success();
  }
};

// reshape(reshape(x)) -> reshape(x): a row-major reshape depends only on the
// element order, which the inner reshape keeps.
struct ComposeReshapes : public OpRewritePattern<ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ReshapeOp op, PatternRewriter& rewriter) const override {
    auto inner = op.getInput().getDefiningOp<ReshapeOp>();
    if (!inner) return failure();
    Attribute policy = op->getAttr("policy");
    auto fused = rewriter.replaceOpWithNewOp<ReshapeOp>(op, op.getType(), inner.getInput(), op.getDims());
    keepPolicy(policy, fused);
    return success();
  }
};

} // namespace

void TransposeOp::getCanonicalizationPatterns(RewritePatternSet& results, MLIRContext* context) {
  results.add<ComposeTransposes>(context);
}

void ReshapeOp::getCanonicalizationPatterns(RewritePatternSet& results, MLIRContext* context) {
  results.add<ComposeReshapes>(context);
}

// A reshape to the operand's static type is the operand. (With `?` in the
// type the shapes may still differ: 2x6 and 3x4 are both ?x?.)
OpFoldResult ReshapeOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType() && getType().hasStaticShape()) return getInput();
  return {};
}

// A broadcast to the operand's type is the operand, when the type is static
// or every `?` takes its size from the operand.
OpFoldResult BroadcastToOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType() && (getType().hasStaticShape() || getDims().empty())) return getInput();
  return {};
}

// A static dimension folds to a constant; a dynamic one of an op that took
// its size as an operand folds to that operand.
OpFoldResult DimOp::fold(FoldAdaptor) {
  auto type = getInput().getType();
  int64_t axis = getAxis();
  if (axis < 0 || axis >= type.getRank()) return {};
  int64_t size = type.getDimSize(axis);
  if (!ShapedType::isDynamic(size)) return IntegerAttr::get(IndexType::get(getContext()), size);
  Operation* def = getInput().getDefiningOp();
  if (!def) return {};
  OperandRange dims = llvm::TypeSwitch<Operation*, OperandRange>(def)
                          .Case<ReshapeOp, BroadcastToOp, ZerosOp, OnesOp, FullOp, ArangeOp, RandnOp, RandOp>(
                              [](auto op) { return op.getDims(); })
                          .Default([&](Operation*) { return OperandRange(def->operand_end(), def->operand_end()); });
  if (dims.size() != static_cast<size_t>(type.getNumDynamicDims())) return {};
  return dims[type.getDynamicDimIndex(axis)];
}
