// Verifiers and custom assembly directives of the `tessera` ops, and the
// generated op definitions.
#include "ir/graph/Tessera.h"
#include "ir/graph/shape_utils.h"

#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::tessera;

#define GET_OP_CLASSES
#include "ir/graph/TesseraOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Elementwise binary ops
//===----------------------------------------------------------------------===//

namespace {

// What a binary op requires of element types.
enum class BinaryKind {
  Arith,   // lhs, rhs and result share one element type
  Compare, // lhs and rhs share one element type, the result is i1
  Logical, // lhs, rhs and result share one integer element type
};

LogicalResult verifyBinary(Operation* op, BinaryKind kind) {
  auto lhs = cast<RankedTensorType>(op->getOperand(0).getType());
  auto rhs = cast<RankedTensorType>(op->getOperand(1).getType());
  auto result = cast<RankedTensorType>(op->getResult(0).getType());
  if (lhs.getElementType() != rhs.getElementType())
    return op->emitOpError() << "operand element types differ: " << lhs.getElementType() << " and "
                             << rhs.getElementType();
  Type expected = kind == BinaryKind::Compare ? Type(IntegerType::get(op->getContext(), 1)) : lhs.getElementType();
  if (result.getElementType() != expected)
    return op->emitOpError() << "result element type must be " << expected << ", found " << result.getElementType();
  if (kind == BinaryKind::Logical && !lhs.getElementType().isSignlessInteger())
    return op->emitOpError() << "operands must have a signless integer element type, found " << lhs.getElementType();
  return verifyBroadcastResult(op, {lhs, rhs}, result);
}

} // namespace

LogicalResult AddOp::verify() { return verifyBinary(*this, BinaryKind::Arith); }
LogicalResult SubOp::verify() { return verifyBinary(*this, BinaryKind::Arith); }
LogicalResult MulOp::verify() { return verifyBinary(*this, BinaryKind::Arith); }

//===----------------------------------------------------------------------===//
// ReduceOp
//===----------------------------------------------------------------------===//

LogicalResult ReduceOp::verify() {
  auto input = getInput().getType();
  auto result = getResult().getType();
  int64_t rank = input.getRank();
  if (failed(verifyAxisList(*this, getAxes(), rank, "axes"))) return failure();
  ReduceKind kind = getKind();
  bool isArg = kind == ReduceKind::argmax || kind == ReduceKind::argmin;
  if (isArg && getAxes().size() != 1 && static_cast<int64_t>(getAxes().size()) != rank)
    return emitOpError() << stringifyReduceKind(kind) << " reduces one axis or all axes, found "
                         << getAxes().size() << " of " << rank;
  bool needsFloat = kind == ReduceKind::mean || kind == ReduceKind::var || kind == ReduceKind::std ||
                    kind == ReduceKind::logsumexp;
  if (needsFloat && !isa<FloatType>(input.getElementType()))
    return emitOpError() << stringifyReduceKind(kind) << " needs a float element type, found "
                         << input.getElementType();
  if (getSafe() && kind != ReduceKind::logsumexp)
    return emitOpError() << "'safe' applies to logsumexp only, not " << stringifyReduceKind(kind);
  Type element = isArg ? Type(IntegerType::get(getContext(), 64)) : input.getElementType();
  if (result.getElementType() != element)
    return emitOpError() << "result element type must be " << element << ", found " << result.getElementType();
  SmallVector<int64_t> expected;
  ArrayRef<int64_t> axes = getAxes();
  for (int64_t i = 0; i < rank; ++i) {
    if (llvm::is_contained(axes, i)) {
      if (getKeepdim()) expected.push_back(1);
    } else {
      expected.push_back(input.getDimSize(i));
    }
  }
  return verifyResultShape(*this, expected, result);
}

//===----------------------------------------------------------------------===//
// MatmulOp
//===----------------------------------------------------------------------===//

LogicalResult MatmulOp::verify() {
  auto lhs = getLhs().getType();
  auto rhs = getRhs().getType();
  auto result = getResult().getType();
  if (lhs.getRank() < 1 || rhs.getRank() < 1)
    return emitOpError() << "operands must have rank 1 or more, found " << lhs << " and " << rhs;
  if (lhs.getElementType() != rhs.getElementType())
    return emitOpError() << "operand element types differ: " << lhs.getElementType() << " and "
                         << rhs.getElementType();
  if (result.getElementType() != lhs.getElementType())
    return emitOpError() << "result element type must be " << lhs.getElementType() << ", found "
                         << result.getElementType();
  // Promote rank-1 operands to matrices as numpy.matmul does.
  SmallVector<int64_t> a(lhs.getShape()), b(rhs.getShape());
  bool vectorLhs = a.size() == 1, vectorRhs = b.size() == 1;
  if (vectorLhs) a.insert(a.begin(), 1);
  if (vectorRhs) b.push_back(1);
  int64_t k1 = a[a.size() - 1], k2 = b[b.size() - 2];
  if (!ShapedType::isDynamic(k1) && !ShapedType::isDynamic(k2) && k1 != k2)
    return emitOpError() << "inner dimensions differ: " << k1 << " (" << lhs << ") and " << k2 << " (" << rhs
                         << ")";
  auto batch = broadcastShapes(ArrayRef(a).drop_back(2), ArrayRef(b).drop_back(2));
  if (!batch)
    return emitOpError() << "batch dimensions of " << lhs << " and " << rhs << " are not broadcastable";
  SmallVector<int64_t> expected = *batch;
  if (!vectorLhs) expected.push_back(a[a.size() - 2]);
  if (!vectorRhs) expected.push_back(b[b.size() - 1]);
  return verifyResultShape(*this, expected, result);
}
