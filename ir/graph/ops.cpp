// Verifiers of the `tessera` ops, and the generated op definitions.
#include "ir/graph/Tessera.h"
#include "ir/graph/shape_utils.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace mlir::tessera;

#define GET_OP_CLASSES
#include "ir/graph/TesseraOps.cpp.inc"

namespace {

RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }

// Checks that `type` is `expected`'s element type with a compatible shape.
LogicalResult verifySameShape(Operation* op, RankedTensorType input, RankedTensorType result) {
  if (failed(verifyCompatibleShape(input.getShape(), result.getShape())))
    return op->emitOpError() << "result shape " << shapeString(result.getShape()) << " differs from the input shape "
                             << shapeString(input.getShape());
  return success();
}

LogicalResult verifySameElementType(Operation* op, Type expected, Type found, StringRef what) {
  if (expected != found)
    return op->emitOpError() << what << " element type must be " << expected << ", found " << found;
  return success();
}

// One `index` operand per dynamic dimension of the result type.
LogicalResult verifyDynamicDimOperands(Operation* op, size_t count, RankedTensorType result) {
  if (count != static_cast<size_t>(result.getNumDynamicDims()))
    return op->emitOpError() << "needs one index operand per dynamic result dimension: " << result.getNumDynamicDims()
                             << " expected, " << count << " given";
  return success();
}

// Checks an optional parameter tensor (weight, bias) against the shape it
// must have.
LogicalResult verifyParameter(Operation* op, Value param, StringRef name, ArrayRef<int64_t> expected,
                              Type element) {
  if (!param) return success();
  auto type = tensorType(param);
  if (type.getElementType() != element)
    return op->emitOpError() << name << " element type must be " << element << ", found " << type.getElementType();
  if (failed(verifyCompatibleShape(type.getShape(), expected)))
    return op->emitOpError() << name << " shape " << shapeString(type.getShape()) << " differs from the expected "
                             << shapeString(expected);
  return success();
}

// A static list of exactly `n` entries, each >= `minimum`.
LogicalResult verifyPair(Operation* op, ArrayRef<int64_t> values, StringRef name, int64_t minimum) {
  if (values.size() != 2) return op->emitOpError() << name << " must have 2 entries, found " << values.size();
  for (int64_t v : values)
    if (v < minimum) return op->emitOpError() << name << " entries must be >= " << minimum << ", found " << v;
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

namespace {

// What a binary op requires of element types.
enum class BinaryKind {
  Arith,   // lhs, rhs and result share one element type, which is not i1
  Compare, // lhs and rhs share one element type, the result is i1
  Logical, // lhs, rhs and result share one integer element type
};

LogicalResult verifyBinary(Operation* op, BinaryKind kind) {
  auto lhs = tensorType(op->getOperand(op->getNumOperands() - 2));
  auto rhs = tensorType(op->getOperand(op->getNumOperands() - 1));
  auto result = tensorType(op->getResult(0));
  Type element = lhs.getElementType();
  if (element != rhs.getElementType())
    return op->emitOpError() << "operand element types differ: " << element << " and " << rhs.getElementType();
  if (kind == BinaryKind::Arith && element.isInteger(1))
    return op->emitOpError() << "does not apply to i1 operands (use tessera.and, or, xor, or cast first)";
  if (kind == BinaryKind::Logical && !element.isSignlessInteger())
    return op->emitOpError() << "operands must have a signless integer element type, found " << element;
  Type expected = kind == BinaryKind::Compare ? Type(IntegerType::get(op->getContext(), 1)) : element;
  if (failed(verifySameElementType(op, expected, result.getElementType(), "result"))) return failure();
  return verifyBroadcastResult(op, {lhs, rhs}, result);
}

} // namespace

LogicalResult AddOp::verify() { return verifyBinary(*this, BinaryKind::Arith); }
LogicalResult SubOp::verify() { return verifyBinary(*this, BinaryKind::Arith); }
LogicalResult MulOp::verify() { return verifyBinary(*this, BinaryKind::Arith); }
LogicalResult DivOp::verify() { return verifyBinary(*this, BinaryKind::Arith); }
LogicalResult PowOp::verify() { return verifyBinary(*this, BinaryKind::Arith); }
LogicalResult MaximumOp::verify() { return verifyBinary(*this, BinaryKind::Arith); }
LogicalResult MinimumOp::verify() { return verifyBinary(*this, BinaryKind::Arith); }
LogicalResult FloorDivOp::verify() { return verifyBinary(*this, BinaryKind::Arith); }
LogicalResult ModOp::verify() { return verifyBinary(*this, BinaryKind::Arith); }
LogicalResult CmpOp::verify() { return verifyBinary(*this, BinaryKind::Compare); }
LogicalResult AndOp::verify() { return verifyBinary(*this, BinaryKind::Logical); }
LogicalResult OrOp::verify() { return verifyBinary(*this, BinaryKind::Logical); }
LogicalResult XorOp::verify() { return verifyBinary(*this, BinaryKind::Logical); }

LogicalResult CastOp::verify() { return verifySameShape(*this, getInput().getType(), getResult().getType()); }

LogicalResult WhereOp::verify() {
  auto lhs = getLhs().getType(), rhs = getRhs().getType(), result = getResult().getType();
  if (lhs.getElementType() != rhs.getElementType())
    return emitOpError() << "operand element types differ: " << lhs.getElementType() << " and "
                         << rhs.getElementType();
  if (failed(verifySameElementType(*this, lhs.getElementType(), result.getElementType(), "result")))
    return failure();
  return verifyBroadcastResult(*this, {getCond().getType(), lhs, rhs}, result);
}

LogicalResult ClampOp::verify() {
  if (!getMin() && !getMax()) return emitOpError() << "needs a min or a max bound";
  if (getMin() && getMax() && getMin()->convertToDouble() > getMax()->convertToDouble())
    return emitOpError() << "min " << getMin()->convertToDouble() << " is greater than max "
                         << getMax()->convertToDouble();
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions
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
  if (failed(verifySameElementType(*this, element, result.getElementType(), "result"))) return failure();
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

LogicalResult NormOp::verify() {
  if (getResult().getType().getRank() != 0)
    return emitOpError() << "result must be rank 0, found " << getResult().getType();
  return verifySameElementType(*this, getInput().getType().getElementType(),
                               getResult().getType().getElementType(), "result");
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
  if (failed(verifySameElementType(*this, lhs.getElementType(), result.getElementType(), "result")))
    return failure();
  // Promote rank-1 operands to matrices as numpy.matmul does.
  SmallVector<int64_t> a(lhs.getShape()), b(rhs.getShape());
  bool vectorLhs = a.size() == 1, vectorRhs = b.size() == 1;
  if (vectorLhs) a.insert(a.begin(), 1);
  if (vectorRhs) b.push_back(1);
  int64_t k1 = a[a.size() - 1], k2 = b[b.size() - 2];
  if (!compatibleDims(k1, k2))
    return emitOpError() << "inner dimensions differ: " << k1 << " (" << lhs << ") and " << k2 << " (" << rhs
                         << ")";
  auto batch = broadcastShapes(ArrayRef(a).drop_back(2), ArrayRef(b).drop_back(2));
  if (!batch) return emitOpError() << "batch dimensions of " << lhs << " and " << rhs << " are not broadcastable";
  SmallVector<int64_t> expected = *batch;
  if (!vectorLhs) expected.push_back(a[a.size() - 2]);
  if (!vectorRhs) expected.push_back(b[b.size() - 1]);
  return verifyResultShape(*this, expected, result);
}

LogicalResult SampleFamilyOp::verify() {
  StringRef f = getFamily();
  if (f != "gamma" && f != "poisson" && f != "binomial")
    return emitOpError() << "family must be gamma, poisson or binomial, found '" << f << "'";
  for (Value v : {getA(), getB()})
    if (!compatibleDims(tensorType(v).getDimSize(0), getResult().getType().getDimSize(0)))
      return emitOpError() << "operands and result must have one size, found " << tensorType(v) << " and "
                           << getResult().getType();
  return success();
}

LogicalResult CholeskyOp::verify() {
  auto in = getInput().getType();
  if (in.getRank() < 2) return emitOpError() << "input must be a matrix or a stack of them, found " << in;
  if (!compatibleDims(in.getDimSize(in.getRank() - 1), in.getDimSize(in.getRank() - 2)))
    return emitOpError() << "input matrices must be square, found " << in;
  if (failed(verifySameElementType(*this, in.getElementType(), getResult().getType().getElementType(), "result")))
    return failure();
  return verifySameShape(*this, in, getResult().getType());
}

LogicalResult TriangularSolveOp::verify() {
  auto l = getTri().getType(), rhs = getRhs().getType();
  if (l.getRank() < 2 || rhs.getRank() < 2)
    return emitOpError() << "operands must be matrices or stacks of them, found " << l << " and " << rhs;
  int64_t n = l.getDimSize(l.getRank() - 1);
  if (!compatibleDims(n, l.getDimSize(l.getRank() - 2)))
    return emitOpError() << "the triangular matrix must be square, found " << l;
  if (!compatibleDims(n, rhs.getDimSize(rhs.getRank() - 2)))
    return emitOpError() << "rows of the right-hand side (" << rhs << ") differ from the order of " << l;
  if (l.getRank() != 2 && (l.getRank() != rhs.getRank() ||
                           failed(verifyCompatibleShape(l.getShape().drop_back(2), rhs.getShape().drop_back(2)))))
    return emitOpError() << "batch dimensions of " << l << " and " << rhs << " differ";
  if (l.getElementType() != rhs.getElementType())
    return emitOpError() << "operand element types differ: " << l.getElementType() << " and " << rhs.getElementType();
  if (failed(verifySameElementType(*this, rhs.getElementType(), getResult().getType().getElementType(), "result")))
    return failure();
  return verifySameShape(*this, rhs, getResult().getType());
}

//===----------------------------------------------------------------------===//
// Shape ops
//===----------------------------------------------------------------------===//

LogicalResult TransposeOp::verify() {
  auto input = getInput().getType();
  ArrayRef<int64_t> perm = getPerm();
  if (static_cast<int64_t>(perm.size()) != input.getRank())
    return emitOpError() << "permutation has " << perm.size() << " entries for rank " << input.getRank();
  SmallVector<bool> seen(perm.size(), false);
  SmallVector<int64_t> expected;
  for (int64_t p : perm) {
    if (p < 0 || p >= input.getRank() || seen[p])
      return emitOpError() << "perm must be a permutation of [0, " << input.getRank() << ")";
    seen[p] = true;
    expected.push_back(input.getDimSize(p));
  }
  if (failed(verifySameElementType(*this, input.getElementType(), getType().getElementType(), "result")))
    return failure();
  return verifyResultShape(*this, expected, getType());
}

LogicalResult ReshapeOp::verify() {
  auto input = getInput().getType(), result = getType();
  if (failed(verifySameElementType(*this, input.getElementType(), result.getElementType(), "result")))
    return failure();
  if (failed(verifyDynamicDimOperands(*this, getDims().size(), result))) return failure();
  auto a = staticNumElements(input.getShape()), b = staticNumElements(result.getShape());
  if (a && b && *a != *b)
    return emitOpError() << "cannot reshape " << shapeString(input.getShape()) << " (" << *a << " elements) to "
                         << shapeString(result.getShape()) << " (" << *b << " elements)";
  return success();
}

LogicalResult BroadcastToOp::verify() {
  auto input = getInput().getType(), result = getType();
  if (failed(verifySameElementType(*this, input.getElementType(), result.getElementType(), "result")))
    return failure();
  int64_t offset = result.getRank() - input.getRank();
  if (offset < 0)
    return emitOpError() << "cannot broadcast rank " << input.getRank() << " to the smaller rank "
                         << result.getRank();
  bool sizesFromInput = true;
  for (int64_t i = 0; i < result.getRank(); ++i) {
    int64_t r = result.getDimSize(i);
    int64_t d = i >= offset ? input.getDimSize(i - offset) : 1;
    if (ShapedType::isDynamic(r) && !ShapedType::isDynamic(d)) sizesFromInput = false;
    if (d != 1 && !compatibleDims(d, r))
      return emitOpError() << "cannot broadcast " << shapeString(input.getShape()) << " to "
                           << shapeString(result.getShape()) << ": dimension " << i << " is " << d << ", not 1 or "
                           << r;
  }
  if (getDims().empty() && sizesFromInput) return success();
  return verifyDynamicDimOperands(*this, getDims().size(), result);
}

LogicalResult UnsqueezeOp::verify() {
  auto input = getInput().getType();
  int64_t axis = getAxis();
  if (axis < 0 || axis > input.getRank())
    return emitOpError() << "axis " << axis << " is out of range for inserting into rank " << input.getRank();
  SmallVector<int64_t> expected(input.getShape());
  expected.insert(expected.begin() + axis, 1);
  if (failed(verifySameElementType(*this, input.getElementType(), getType().getElementType(), "result")))
    return failure();
  return verifyResultShape(*this, expected, getType());
}

LogicalResult SqueezeOp::verify() {
  auto input = getInput().getType();
  if (failed(verifyAxisList(*this, getAxes(), input.getRank(), "axes"))) return failure();
  SmallVector<int64_t> expected;
  for (int64_t i = 0; i < input.getRank(); ++i) {
    int64_t d = input.getDimSize(i);
    if (!llvm::is_contained(getAxes(), i)) {
      expected.push_back(d);
    } else if (d != 1 && !ShapedType::isDynamic(d)) {
      return emitOpError() << "cannot squeeze dimension " << i << " of size " << d;
    }
  }
  if (failed(verifySameElementType(*this, input.getElementType(), getType().getElementType(), "result")))
    return failure();
  return verifyResultShape(*this, expected, getType());
}

LogicalResult ConcatOp::verify() {
  if (getInputs().empty()) return emitOpError() << "needs at least one operand";
  auto first = tensorType(getInputs().front());
  int64_t rank = first.getRank();
  int64_t axis = getAxis();
  if (failed(verifyAxis(*this, axis, rank))) return failure();
  SmallVector<int64_t> expected(first.getShape());
  expected[axis] = 0;
  for (Value v : getInputs()) {
    auto t = tensorType(v);
    if (t.getRank() != rank)
      return emitOpError() << "operands must have one rank: " << first << " and " << t;
    if (failed(verifySameElementType(*this, first.getElementType(), t.getElementType(), "operand")))
      return failure();
    for (int64_t i = 0; i < rank; ++i) {
      int64_t d = t.getDimSize(i);
      if (i == axis) {
        expected[i] = ShapedType::isDynamic(d) || ShapedType::isDynamic(expected[i]) ? ShapedType::kDynamic
                                                                                      : expected[i] + d;
      } else if (!compatibleDims(expected[i], d)) {
        return emitOpError() << "operand shapes " << shapeString(first.getShape()) << " and "
                             << shapeString(t.getShape()) << " differ at dimension " << i
                             << ", which is not the concatenation axis";
      } else if (ShapedType::isDynamic(expected[i])) {
        expected[i] = d;
      }
    }
  }
  if (failed(verifySameElementType(*this, first.getElementType(), getType().getElementType(), "result")))
    return failure();
  return verifyResultShape(*this, expected, getType());
}

LogicalResult StackOp::verify() {
  if (getInputs().empty()) return emitOpError() << "needs at least one operand";
  auto first = tensorType(getInputs().front());
  int64_t axis = getAxis();
  if (axis < 0 || axis > first.getRank())
    return emitOpError() << "axis " << axis << " is out of range for inserting into rank " << first.getRank();
  for (Value v : getInputs()) {
    auto t = tensorType(v);
    if (t.getElementType() != first.getElementType() ||
        failed(verifyCompatibleShape(t.getShape(), first.getShape())))
      return emitOpError() << "operands must have one type: " << first << " and " << t;
  }
  SmallVector<int64_t> expected(first.getShape());
  expected.insert(expected.begin() + axis, static_cast<int64_t>(getInputs().size()));
  if (failed(verifySameElementType(*this, first.getElementType(), getType().getElementType(), "result")))
    return failure();
  return verifyResultShape(*this, expected, getType());
}

LogicalResult SplitOp::verify() {
  auto input = getInput().getType();
  int64_t axis = getAxis();
  size_t parts = getResults().size();
  if (parts == 0) return emitOpError() << "needs at least one result";
  if (failed(verifyAxis(*this, axis, input.getRank()))) return failure();
  int64_t whole = input.getDimSize(axis);
  SmallVector<int64_t> sizes;
  if (auto given = getSizes()) {
    if (given->size() != parts)
      return emitOpError() << "has " << parts << " results but " << given->size() << " sizes";
    int64_t sum = 0;
    for (int64_t s : *given) {
      if (s < 0) return emitOpError() << "sizes must be non-negative, found " << s;
      sum += s;
    }
    if (!ShapedType::isDynamic(whole) && sum != whole)
      return emitOpError() << "sizes add up to " << sum << " but dimension " << axis << " is " << whole;
    sizes.assign(given->begin(), given->end());
  } else {
    int64_t n = static_cast<int64_t>(parts);
    if (!ShapedType::isDynamic(whole) && whole % n != 0)
      return emitOpError() << "dimension " << axis << " of size " << whole << " does not split into " << parts
                           << " equal parts";
    sizes.assign(parts, ShapedType::isDynamic(whole) ? ShapedType::kDynamic : whole / n);
  }
  for (size_t i = 0; i < parts; ++i) {
    auto t = tensorType(getResult(i));
    if (failed(verifySameElementType(*this, input.getElementType(), t.getElementType(), "result")))
      return failure();
    SmallVector<int64_t> expected(input.getShape());
    expected[axis] = sizes[i];
    if (failed(verifyResultShape(*this, expected, t))) return failure();
  }
  return success();
}

LogicalResult SliceOp::verify() {
  auto input = getInput().getType();
  int64_t rank = input.getRank();
  ArrayRef<int64_t> offsets = getStaticOffsets(), sizes = getStaticSizes(), strides = getStaticStrides();
  auto checkList = [&](ArrayRef<int64_t> list, size_t dynamicCount, StringRef name) -> LogicalResult {
    if (static_cast<int64_t>(list.size()) != rank)
      return emitOpError() << name << " has " << list.size() << " entries for rank " << rank;
    if (static_cast<size_t>(llvm::count_if(list, ShapedType::isDynamic)) != dynamicCount)
      return emitOpError() << name << " has " << llvm::count_if(list, ShapedType::isDynamic)
                           << " dynamic entries but " << dynamicCount << " index operands";
    return success();
  };
  if (failed(checkList(offsets, getOffsets().size(), "offsets")) ||
      failed(checkList(sizes, getSizes().size(), "sizes")) ||
      failed(checkList(strides, getStrides().size(), "strides")))
    return failure();
  ArrayRef<int64_t> drop;
  if (auto d = getDropDims()) drop = *d;
  if (failed(verifyAxisList(*this, drop, rank, "drop"))) return failure();
  SmallVector<int64_t> expected;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t o = offsets[i], s = sizes[i], st = strides[i], d = input.getDimSize(i);
    if (!ShapedType::isDynamic(o) && o < 0) return emitOpError() << "offset " << o << " is negative";
    if (!ShapedType::isDynamic(s) && s < 0) return emitOpError() << "size " << s << " is negative";
    if (!ShapedType::isDynamic(st) && st == 0) return emitOpError() << "stride of dimension " << i << " is 0";
    bool allStatic = !ShapedType::isDynamic(o) && !ShapedType::isDynamic(s) && !ShapedType::isDynamic(st) &&
                     !ShapedType::isDynamic(d);
    if (allStatic && s > 0) {
      int64_t last = o + (s - 1) * st;
      if (o >= d || last < 0 || last >= d)
        return emitOpError() << "slice of dimension " << i << " (offset " << o << ", size " << s << ", stride "
                             << st << ") is out of bounds for size " << d;
    }
    if (llvm::is_contained(drop, i)) {
      if (s != 1) return emitOpError() << "dropped dimension " << i << " must have size 1";
    } else {
      expected.push_back(s);
    }
  }
  if (failed(verifySameElementType(*this, input.getElementType(), getType().getElementType(), "result")))
    return failure();
  return verifyResultShape(*this, expected, getType());
}

void SliceOp::build(OpBuilder& builder, OperationState& state, Type result, Value input,
                    ArrayRef<OpFoldResult> offsets, ArrayRef<OpFoldResult> sizes, ArrayRef<OpFoldResult> strides,
                    ArrayRef<int64_t> dropDims) {
  SmallVector<int64_t> staticOffsets, staticSizes, staticStrides;
  SmallVector<Value> dynamicOffsets, dynamicSizes, dynamicStrides;
  dispatchIndexOpFoldResults(offsets, dynamicOffsets, staticOffsets);
  dispatchIndexOpFoldResults(sizes, dynamicSizes, staticSizes);
  dispatchIndexOpFoldResults(strides, dynamicStrides, staticStrides);
  build(builder, state, result, input, dynamicOffsets, dynamicSizes, dynamicStrides,
        builder.getDenseI64ArrayAttr(staticOffsets), builder.getDenseI64ArrayAttr(staticSizes),
        builder.getDenseI64ArrayAttr(staticStrides),
        dropDims.empty() ? DenseI64ArrayAttr() : builder.getDenseI64ArrayAttr(dropDims));
}

LogicalResult DimOp::verify() { return verifyAxis(*this, getAxis(), getInput().getType().getRank()); }

//===----------------------------------------------------------------------===//
// Neural-network ops
//===----------------------------------------------------------------------===//

LogicalResult SoftmaxOp::verify() { return verifyAxis(*this, getAxis(), getInput().getType().getRank()); }
LogicalResult LogSoftmaxOp::verify() { return verifyAxis(*this, getAxis(), getInput().getType().getRank()); }

LogicalResult LayerNormOp::verify() {
  auto input = getInput().getType();
  if (failed(verifyAxis(*this, getAxis(), input.getRank()))) return failure();
  if (getEps().convertToDouble() < 0) return emitOpError() << "eps must be non-negative";
  ArrayRef<int64_t> normalized = input.getShape().drop_front(getAxis());
  if (failed(verifyParameter(*this, getWeight(), "weight", normalized, input.getElementType())) ||
      failed(verifyParameter(*this, getBias(), "bias", normalized, input.getElementType())))
    return failure();
  if (failed(verifySameElementType(*this, input.getElementType(), getType().getElementType(), "result")))
    return failure();
  return verifySameShape(*this, input, getType());
}

LogicalResult RmsNormOp::verify() {
  auto input = getInput().getType();
  if (input.getRank() < 1) return emitOpError() << "input must have rank 1 or more";
  if (getEps().convertToDouble() < 0) return emitOpError() << "eps must be non-negative";
  if (failed(verifyParameter(*this, getWeight(), "weight", input.getShape().take_back(1), input.getElementType())))
    return failure();
  if (failed(verifySameElementType(*this, input.getElementType(), getType().getElementType(), "result")))
    return failure();
  return verifySameShape(*this, input, getType());
}

LogicalResult GroupNormOp::verify() {
  auto input = getInput().getType();
  if (input.getRank() < 2) return emitOpError() << "input must be [N, C, ...], found rank " << input.getRank();
  // I64Attr getters return uint64_t; read the signed value.
  int64_t groups = static_cast<int64_t>(getGroups());
  if (groups <= 0) return emitOpError() << "groups must be positive, found " << groups;
  if (getEps().convertToDouble() < 0) return emitOpError() << "eps must be non-negative";
  int64_t channels = input.getDimSize(1);
  if (!ShapedType::isDynamic(channels) && channels % groups != 0)
    return emitOpError() << channels << " channels do not split into " << groups << " groups";
  if (failed(verifyParameter(*this, getWeight(), "weight", {channels}, input.getElementType())) ||
      failed(verifyParameter(*this, getBias(), "bias", {channels}, input.getElementType())))
    return failure();
  if (failed(verifySameElementType(*this, input.getElementType(), getType().getElementType(), "result")))
    return failure();
  return verifySameShape(*this, input, getType());
}

LogicalResult DropoutOp::verify() {
  double p = getP().convertToDouble();
  if (!(p >= 0.0 && p < 1.0)) return emitOpError() << "p must be in [0, 1), found " << p;
  return success();
}

LogicalResult LinearOp::verify() {
  auto input = getInput().getType(), weight = getWeight().getType();
  Type element = input.getElementType();
  if (input.getRank() < 1) return emitOpError() << "input must have rank 1 or more";
  if (weight.getRank() != 2) return emitOpError() << "weight must be [K, N], found " << weight;
  if (failed(verifySameElementType(*this, element, weight.getElementType(), "weight"))) return failure();
  int64_t k = input.getDimSize(input.getRank() - 1);
  if (!compatibleDims(k, weight.getDimSize(0)))
    return emitOpError() << "input has " << k << " features but weight expects " << weight.getDimSize(0);
  int64_t n = weight.getDimSize(1);
  if (failed(verifyParameter(*this, getBias(), "bias", {n}, element))) return failure();
  SmallVector<int64_t> expected(input.getShape().drop_back());
  expected.push_back(n);
  if (failed(verifySameElementType(*this, element, getType().getElementType(), "result"))) return failure();
  return verifyResultShape(*this, expected, getType());
}

LogicalResult EmbeddingOp::verify() {
  auto table = getTable().getType();
  if (table.getRank() != 2) return emitOpError() << "table must be [V, D], found " << table;
  SmallVector<int64_t> expected(getIds().getType().getShape());
  expected.push_back(table.getDimSize(1));
  if (failed(verifySameElementType(*this, table.getElementType(), getType().getElementType(), "result")))
    return failure();
  return verifyResultShape(*this, expected, getType());
}

LogicalResult OneHotOp::verify() {
  int64_t classes = static_cast<int64_t>(getNumClasses());
  if (classes <= 0) return emitOpError() << "num_classes must be positive, found " << classes;
  SmallVector<int64_t> expected(getIds().getType().getShape());
  expected.push_back(classes);
  return verifyResultShape(*this, expected, getType());
}

LogicalResult CrossEntropyOp::verify() {
  auto logits = getLogits().getType(), labels = getLabels().getType();
  if (logits.getRank() < 1) return emitOpError() << "logits must be [..., C]";
  if (failed(verifyCompatibleShape(labels.getShape(), logits.getShape().drop_back())))
    return emitOpError() << "labels shape " << shapeString(labels.getShape()) << " must be the logits shape "
                         << shapeString(logits.getShape()) << " without its class dimension";
  if (getType().getRank() != 0) return emitOpError() << "result must be rank 0, found " << getType();
  return verifySameElementType(*this, logits.getElementType(), getType().getElementType(), "result");
}

LogicalResult AttentionOp::verify() {
  auto q = getQuery().getType(), k = getKey().getType(), v = getValue().getType();
  int64_t rank = q.getRank();
  if (rank < 2 || k.getRank() != rank || v.getRank() != rank)
    return emitOpError() << "query, key and value must have one rank of 2 or more, found " << q << ", " << k
                         << ", " << v;
  if (k.getElementType() != q.getElementType() || v.getElementType() != q.getElementType())
    return emitOpError() << "query, key and value must have one element type";
  for (int64_t i = 0; i + 2 < rank; ++i)
    if (!compatibleDims(q.getDimSize(i), k.getDimSize(i)) || !compatibleDims(q.getDimSize(i), v.getDimSize(i)))
      return emitOpError() << "batch dimension " << i << " differs between query, key and value";
  if (!compatibleDims(q.getDimSize(rank - 1), k.getDimSize(rank - 1)))
    return emitOpError() << "query and key head dimensions differ: " << q.getDimSize(rank - 1) << " and "
                         << k.getDimSize(rank - 1);
  if (!compatibleDims(k.getDimSize(rank - 2), v.getDimSize(rank - 2)))
    return emitOpError() << "key and value sequence lengths differ: " << k.getDimSize(rank - 2) << " and "
                         << v.getDimSize(rank - 2);
  if (getScale() && !(getScale()->convertToDouble() > 0)) return emitOpError() << "scale must be positive";
  SmallVector<int64_t> expected(q.getShape().drop_back());
  expected.push_back(v.getDimSize(rank - 1));
  if (failed(verifySameElementType(*this, q.getElementType(), getType().getElementType(), "result")))
    return failure();
  return verifyResultShape(*this, expected, getType());
}

namespace {

// The output size of a convolution or pooling window along one dimension,
// `(n + 2p - d(k-1) - 1) // s + 1`, or kDynamic when `n` or `k` is.
int64_t windowOutput(int64_t n, int64_t k, int64_t s, int64_t p, int64_t d) {
  if (ShapedType::isDynamic(n) || ShapedType::isDynamic(k)) return ShapedType::kDynamic;
  int64_t span = n + 2 * p - d * (k - 1) - 1;
  return span < 0 ? -1 : span / s + 1;
}

LogicalResult verifyWindowResult(Operation* op, RankedTensorType input, ArrayRef<int64_t> expected,
                                 RankedTensorType result) {
  for (int64_t d : expected.drop_front(2))
    if (!ShapedType::isDynamic(d) && d <= 0)
      return op->emitOpError() << "the window does not fit in the input " << shapeString(input.getShape());
  if (failed(verifySameElementType(op, input.getElementType(), result.getElementType(), "result")))
    return failure();
  return verifyResultShape(op, expected, result);
}

} // namespace

LogicalResult Conv2dOp::verify() {
  auto input = getInput().getType(), weight = getWeight().getType();
  if (input.getRank() != 4) return emitOpError() << "input must be [N, C, H, W], found " << input;
  if (weight.getRank() != 4) return emitOpError() << "weight must be [O, C / groups, kH, kW], found " << weight;
  if (failed(verifySameElementType(*this, input.getElementType(), weight.getElementType(), "weight")))
    return failure();
  if (failed(verifyPair(*this, getStride(), "stride", 1)) || failed(verifyPair(*this, getPadding(), "padding", 0)) ||
      failed(verifyPair(*this, getDilation(), "dilation", 1)))
    return failure();
  int64_t groups = static_cast<int64_t>(getGroups());
  if (groups <= 0) return emitOpError() << "groups must be positive, found " << groups;
  int64_t c = input.getDimSize(1), o = weight.getDimSize(0), cw = weight.getDimSize(1);
  if (!ShapedType::isDynamic(c) && !ShapedType::isDynamic(cw) && c != cw * groups)
    return emitOpError() << "input has " << c << " channels but weight expects " << cw << " x " << groups
                         << " groups";
  if (!ShapedType::isDynamic(o) && o % groups != 0)
    return emitOpError() << o << " output channels do not split into " << groups << " groups";
  if (failed(verifyParameter(*this, getBias(), "bias", {o}, input.getElementType()))) return failure();
  SmallVector<int64_t> expected{input.getDimSize(0), o};
  for (int i = 0; i < 2; ++i)
    expected.push_back(windowOutput(input.getDimSize(2 + i), weight.getDimSize(2 + i), getStride()[i],
                                    getPadding()[i], getDilation()[i]));
  return verifyWindowResult(*this, input, expected, getType());
}

namespace {

template <typename PoolOp>
LogicalResult verifyPool(PoolOp op) {
  auto input = op.getInput().getType();
  if (input.getRank() != 4) return op.emitOpError() << "input must be [N, C, H, W], found " << input;
  if (failed(verifyPair(op, op.getKernel(), "kernel", 1)) || failed(verifyPair(op, op.getStride(), "stride", 1)) ||
      failed(verifyPair(op, op.getPadding(), "padding", 0)))
    return failure();
  SmallVector<int64_t> expected{input.getDimSize(0), input.getDimSize(1)};
  for (int i = 0; i < 2; ++i) {
    if (op.getPadding()[i] * 2 > op.getKernel()[i])
      return op.emitOpError() << "padding " << op.getPadding()[i] << " is more than half the kernel size "
                              << op.getKernel()[i];
    expected.push_back(
        windowOutput(input.getDimSize(2 + i), op.getKernel()[i], op.getStride()[i], op.getPadding()[i], 1));
  }
  return verifyWindowResult(op, input, expected, op.getType());
}

} // namespace

LogicalResult MaxPool2dOp::verify() { return verifyPool(*this); }
LogicalResult AvgPool2dOp::verify() { return verifyPool(*this); }

LogicalResult AdaptiveAvgPool2dOp::verify() {
  auto input = getInput().getType();
  if (input.getRank() != 4) return emitOpError() << "input must be [N, C, H, W], found " << input;
  if (failed(verifyPair(*this, getOutputSize(), "output_size", 1))) return failure();
  SmallVector<int64_t> expected{input.getDimSize(0), input.getDimSize(1), getOutputSize()[0], getOutputSize()[1]};
  if (failed(verifySameElementType(*this, input.getElementType(), getType().getElementType(), "result")))
    return failure();
  return verifyResultShape(*this, expected, getType());
}

//===----------------------------------------------------------------------===//
// Creation
//===----------------------------------------------------------------------===//

LogicalResult ZerosOp::verify() { return verifyDynamicDimOperands(*this, getDims().size(), getType()); }
LogicalResult OnesOp::verify() { return verifyDynamicDimOperands(*this, getDims().size(), getType()); }
LogicalResult FullOp::verify() { return verifyDynamicDimOperands(*this, getDims().size(), getType()); }

LogicalResult ArangeOp::verify() {
  if (getStep().convertToDouble() == 0.0) return emitOpError() << "step must not be 0";
  Type element = getType().getElementType();
  if (!element.isIntOrFloat() || element.isInteger(1))
    return emitOpError() << "result element type must be an integer or float type, found " << element;
  return verifyDynamicDimOperands(*this, getDims().size(), getType());
}

namespace {

template <typename RandomOp>
LogicalResult verifyRandom(RandomOp op) {
  int64_t offset = static_cast<int64_t>(op.getOffset());
  if (offset < 0) return op.emitOpError() << "offset must be non-negative, found " << offset;
  return verifyDynamicDimOperands(op, op.getDims().size(), op.getType());
}

} // namespace

LogicalResult RandnOp::verify() { return verifyRandom(*this); }
LogicalResult RandOp::verify() { return verifyRandom(*this); }

//===----------------------------------------------------------------------===//
// Input and output
//===----------------------------------------------------------------------===//

FailureOr<SmallVector<PrintOp::Segment>> PrintOp::parseFormat(ArrayAttr format, std::string* error) {
  SmallVector<Segment> segments;
  auto text = [&](StringRef piece) {
    if (segments.empty() || segments.back().isValue) segments.push_back({false, ""});
    segments.back().text += piece.str();
  };
  auto fail = [&](StringRef entry, StringRef why) {
    if (error) *error = ("format string \"" + entry + "\" " + why).str();
    return failure();
  };
  for (auto [index, attr] : llvm::enumerate(format)) {
    auto entry = dyn_cast<StringAttr>(attr);
    if (!entry) return fail("", "is not a string");
    StringRef s = entry.getValue();
    if (index) text(" ");
    for (size_t i = 0; i < s.size(); ++i) {
      if ((s[i] == '{' || s[i] == '}') && i + 1 < s.size() && s[i + 1] == s[i]) {
        text(s.substr(i, 1));
        ++i;
      } else if (s[i] == '{') {
        size_t close = s.find('}', i);
        if (close == StringRef::npos) return fail(s, "has an unclosed '{' (write {{ for a literal brace)");
        StringRef inside = s.slice(i + 1, close);
        if (!inside.empty() && (inside.front() != ':' || inside.contains('{')))
          return fail(s, "has a placeholder that is neither {} nor {:SPEC}");
        segments.push_back({true, inside.empty() ? std::string() : inside.drop_front().str()});
        i = close;
      } else if (s[i] == '}') {
        return fail(s, "has an unmatched '}' (write }} for a literal brace)");
      } else {
        text(s.substr(i, 1));
      }
    }
  }
  return segments;
}

std::string PrintOp::escapeLiteral(StringRef text) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '{' || c == '}') out += c;
  }
  return out;
}

LogicalResult PrintOp::verify() {
  std::string error;
  auto segments = parseFormat(getFormat(), &error);
  if (failed(segments)) return emitOpError() << error;
  size_t placeholders = llvm::count_if(*segments, [](const Segment& s) { return s.isValue; });
  if (placeholders != getValues().size())
    return emitOpError() << "format has " << placeholders << " placeholders for " << getValues().size()
                         << " operands";
  return success();
}

LogicalResult LoadOp::verify() {
  if (getPath().empty()) return emitOpError() << "path must not be empty";
  if (getMember() && getMember()->empty()) return emitOpError() << "member must not be empty";
  return success();
}

LogicalResult SaveOp::verify() {
  if (getPath().empty()) return emitOpError() << "path must not be empty";
  if (getMember() && getMember()->empty()) return emitOpError() << "member must not be empty";
  if (getCommit() && !getMember()) return emitOpError() << "commit requires a member (an .npz archive)";
  return success();
}

//===----------------------------------------------------------------------===//
// Sampling
//===----------------------------------------------------------------------===//

// Checks a distribution name and its number of parameters (the language's
// order, with defaults filled in by the front end).
static LogicalResult verifyDistribution(Operation* op, StringRef distribution, size_t params, StringRef name) {
  std::pair<size_t, size_t> arity = llvm::StringSwitch<std::pair<size_t, size_t>>(distribution)
                                        .Cases("Normal", "LogNormal", "Cauchy", "Gamma", {2, 2})
                                        .Cases("Beta", "Uniform", "MultivariateNormal", {2, 2})
                                        .Cases("HalfNormal", "HalfCauchy", "Exponential", "Bernoulli", {1, 1})
                                        .Cases("Categorical", "Poisson", "Dirichlet", {1, 1})
                                        .Case("StudentT", {1, 3})
                                        .Default({0, 0});
  if (arity.second == 0) return op->emitOpError() << "unknown distribution '" << distribution << "'";
  if (params < arity.first || params > arity.second) {
    auto diag = op->emitOpError() << distribution << " takes " << arity.first;
    if (arity.second != arity.first) diag << " to " << arity.second;
    return diag << " parameters, found " << params;
  }
  if (name.empty()) return op->emitOpError() << "name must not be empty";
  return success();
}

LogicalResult SampleOp::verify() {
  return verifyDistribution(*this, getDistribution(), getParams().size(), getName());
}

LogicalResult ObserveOp::verify() {
  return verifyDistribution(*this, getDistribution(), getParams().size(), getName());
}

//===----------------------------------------------------------------------===//
// grad
//===----------------------------------------------------------------------===//

LogicalResult GradOp::verify() {
  ArrayRef<int64_t> argnums = getArgnums();
  if (argnums.empty()) return emitOpError() << "needs at least one entry in argnums";
  llvm::SmallDenseSet<int64_t> seen;
  if (getSeeded() && getArgs().empty()) return emitOpError() << "is seeded but has no seed argument";
  // With `seeded`, the last argument is the seed, not an argument of the callee.
  int64_t nargs = static_cast<int64_t>(getArgs().size()) - (getSeeded() ? 1 : 0);
  for (int64_t n : argnums) {
    if (n < 0 || n >= nargs)
      return emitOpError() << "argnums entry " << n << " is out of range for " << nargs << " arguments";
    if (!seen.insert(n).second) return emitOpError() << "argnums entry " << n << " is repeated";
  }
  size_t expected = argnums.size() + (getValue() ? 1 : 0);
  if (getResults().size() != expected)
    return emitOpError() << "has " << getResults().size() << " results; expected " << expected
                         << (getValue() ? " (the value, then one gradient per argnums entry)"
                                        : " (one gradient per argnums entry)");
  size_t first = getValue() ? 1 : 0;
  for (size_t i = 0; i < argnums.size(); ++i) {
    Type arg = getArgs()[argnums[i]].getType();
    Type res = getResults()[first + i].getType();
    if (arg != res)
      return emitOpError() << "gradient " << i << " has type " << res << "; expected " << arg
                           << ", the type of argument " << argnums[i];
    Type elt = getElementTypeOrSelf(arg);
    if (!isa<FloatType>(elt))
      return emitOpError() << "argument " << argnums[i] << " has type " << arg << ", which is not floating point";
  }
  return success();
}

LogicalResult GradOp::verifySymbolUses(SymbolTableCollection& symbols) {
  auto fn = symbols.lookupNearestSymbolFrom<FunctionOpInterface>(*this, getCalleeAttr());
  if (!fn) return emitOpError() << "callee " << getCalleeAttr() << " is not a function of the module";
  auto type = dyn_cast<FunctionType>(fn.getFunctionType());
  if (!type) return emitOpError() << "callee " << getCalleeAttr() << " has no function type";
  size_t nargs = getArgs().size() - (getSeeded() && !getArgs().empty() ? 1 : 0);
  if (type.getNumInputs() != nargs)
    return emitOpError() << "passes " << nargs << " arguments to " << getCalleeAttr() << ", which takes "
                         << type.getNumInputs();
  for (size_t i = 0; i < nargs; ++i)
    if (type.getInput(i) != getArgs()[i].getType())
      return emitOpError() << "argument " << i << " has type " << getArgs()[i].getType() << "; "
                           << getCalleeAttr() << " takes " << type.getInput(i);
  if (type.getNumResults() != 1)
    return emitOpError() << "callee " << getCalleeAttr() << " must return one value, not " << type.getNumResults();
  Type out = type.getResult(0);
  if (getSeeded()) {
    if (!isa<FloatType>(getElementTypeOrSelf(out)))
      return emitOpError() << "callee " << getCalleeAttr() << " returns " << out << ", not a floating-point value";
    if (getArgs().back().getType() != out)
      return emitOpError() << "seed has type " << getArgs().back().getType() << "; " << getCalleeAttr() << " returns "
                           << out;
    if (getValue() && getResults()[0].getType() != out)
      return emitOpError() << "value result has type " << getResults()[0].getType() << "; " << getCalleeAttr()
                           << " returns " << out;
    return success();
  }
  auto rt = dyn_cast<RankedTensorType>(out);
  bool scalar = rt ? rt.getRank() == 0 && isa<FloatType>(rt.getElementType()) : isa<FloatType>(out);
  if (!scalar) return emitOpError() << "callee " << getCalleeAttr() << " returns " << out << ", not a float scalar";
  if (getValue() && getResults()[0].getType() != out)
    return emitOpError() << "value result has type " << getResults()[0].getType() << "; " << getCalleeAttr()
                         << " returns " << out;
  return success();
}
