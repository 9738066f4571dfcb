// Shape helpers shared by the verifiers of the `tessera` ops (private to
// ir/graph). Dimensions use ShapedType::kDynamic for `?`.
#ifndef TESSERA_IR_GRAPH_SHAPE_UTILS_H
#define TESSERA_IR_GRAPH_SHAPE_UTILS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"

#include <optional>
#include <string>

namespace mlir::tessera {

// A shape as MLIR spells it: `4x?x8`, or `scalar` for rank 0.
std::string shapeString(ArrayRef<int64_t> shape);

// NumPy broadcast of two shapes aligned on their trailing dimensions. A
// dynamic dimension against a static one yields the static one unless that
// is 1. Returns nullopt when two static dimensions differ and neither is 1.
std::optional<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> a, ArrayRef<int64_t> b);

// Checks that the operands broadcast and that their broadcast shape is
// compatible with the result shape (dynamic dimensions are compatible with
// anything).
LogicalResult verifyBroadcastResult(Operation* op, ArrayRef<RankedTensorType> operands, RankedTensorType result);

// Checks that `result` has the expected rank and, where both are static, the
// expected dimensions.
LogicalResult verifyResultShape(Operation* op, ArrayRef<int64_t> expected, RankedTensorType result);

// Checks that `axes` are sorted, unique and within [0, rank).
LogicalResult verifyAxisList(Operation* op, ArrayRef<int64_t> axes, int64_t rank, StringRef name);

// Checks that one axis is within [0, rank).
LogicalResult verifyAxis(Operation* op, int64_t axis, int64_t rank, StringRef name = "axis");

// The number of elements, or nullopt when a dimension is dynamic.
std::optional<int64_t> staticNumElements(ArrayRef<int64_t> shape);

// True when two dimensions may be equal (equal, or either is dynamic).
inline bool compatibleDims(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

} // namespace mlir::tessera

#endif // TESSERA_IR_GRAPH_SHAPE_UTILS_H
