// Shape helpers shared by the verifiers of the `tessera` ops.
#include "ir/graph/shape_utils.h"

#include "mlir/IR/Diagnostics.h"

namespace mlir::tessera {

std::string shapeString(ArrayRef<int64_t> shape) {
  if (shape.empty()) return "scalar";
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += "x";
    out += ShapedType::isDynamic(shape[i]) ? std::string("?") : std::to_string(shape[i]);
  }
  return out;
}

std::optional<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t x = i < a.size() ? a[a.size() - 1 - i] : 1;
    int64_t y = i < b.size() ? b[b.size() - 1 - i] : 1;
    int64_t r;
    if (ShapedType::isDynamic(x) && ShapedType::isDynamic(y)) {
      r = ShapedType::kDynamic;
    } else if (ShapedType::isDynamic(x)) {
      r = y == 1 ? ShapedType::kDynamic : y;
    } else if (ShapedType::isDynamic(y)) {
      r = x == 1 ? ShapedType::kDynamic : x;
    } else if (x == y || y == 1) {
      r = x;
    } else if (x == 1) {
      r = y;
    } else {
      return std::nullopt;
    }
    out[rank - 1 - i] = r;
  }
  return out;
}

LogicalResult verifyBroadcastResult(Operation* op, ArrayRef<RankedTensorType> operands, RankedTensorType result) {
  SmallVector<int64_t> shape;
  for (size_t i = 0; i < operands.size(); ++i) {
    auto next = broadcastShapes(shape, operands[i].getShape());
    if (!next) {
      auto diag = op->emitOpError() << "operand shapes ";
      for (size_t j = 0; j <= i; ++j) diag << (j ? ", " : "") << shapeString(operands[j].getShape());
      return diag << " are not broadcastable";
    }
    shape = std::move(*next);
  }
  if (static_cast<size_t>(result.getRank()) != shape.size())
    return op->emitOpError() << "result rank " << result.getRank() << " differs from the broadcast rank "
                             << shape.size() << " of the operands";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (!compatibleDims(shape[i], result.getDimSize(i)))
      return op->emitOpError() << "result shape " << shapeString(result.getShape())
                               << " differs from the broadcast shape " << shapeString(shape)
                               << " of the operands";
  }
  return success();
}

LogicalResult verifyResultShape(Operation* op, ArrayRef<int64_t> expected, RankedTensorType result) {
  bool ok = static_cast<size_t>(result.getRank()) == expected.size();
  for (size_t i = 0; ok && i < expected.size(); ++i) ok = compatibleDims(expected[i], result.getDimSize(i));
  if (!ok)
    return op->emitOpError() << "result shape " << shapeString(result.getShape()) << " differs from the expected "
                             << shapeString(expected);
  return success();
}

LogicalResult verifyAxisList(Operation* op, ArrayRef<int64_t> axes, int64_t rank, StringRef name) {
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] < 0 || axes[i] >= rank)
      return op->emitOpError() << name << " entry " << axes[i] << " is out of range for rank " << rank;
    if (i && axes[i] <= axes[i - 1]) return op->emitOpError() << name << " must be sorted and unique";
  }
  return success();
}

LogicalResult verifyAxis(Operation* op, int64_t axis, int64_t rank, StringRef name) {
  if (axis < 0 || axis >= rank)
    return op->emitOpError() << name << " " << axis << " is out of range for rank " << rank;
  return success();
}

std::optional<int64_t> staticNumElements(ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (ShapedType::isDynamic(d)) return std::nullopt;
    n *= d;
  }
  return n;
}

} // namespace mlir::tessera
