// Folders and canonicalization patterns of the `tessera` ops.
#include "ir/graph/Tessera.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

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
