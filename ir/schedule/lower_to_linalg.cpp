// `--tessera-to-linalg`: Graph IR (the `tessera` dialect) -> linalg on tensors.
//
// Elementwise ops become one `linalg.generic` each, with NumPy broadcasting expressed in the
// indexing maps (a size-1 operand dimension reads index 0), so that linalg's elementwise
// fusion later merges chains such as `gelu(x * a + b)` into one loop nest. Reductions are
// `linalg.generic`s with reduction iterators over a filled init tensor; composite ops
// (softmax, layer_norm, logsumexp, var) are written as a few generics whose intermediate
// results have the reduced shape. 2-D matmul is `linalg.matmul` (tiling and vectorization
// recognize it); other ranks are a generic contraction. Half-precision inputs (bf16, f16) are
// computed in f32 (or the op's `@accum` type) and rounded once at the end.
#include "ir/schedule/Passes.h"
#include "ir/autodiff/Passes.h"

#include <array>
#include <fmt/format.h>

#include <functional>
#include <map>
#include <llvm/ADT/StringSet.h>
#include <llvm/Support/MemoryBuffer.h>
#include <numeric>

#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/IR/Matchers.h>
#include <mlir/Dialect/Arith/Utils/Utils.h>
#include <mlir/Dialect/Bufferization/IR/Bufferization.h>
#include <mlir/Dialect/Func/Extensions/InlinerExtension.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/Dialect/Linalg/IR/Linalg.h>
#include <mlir/Dialect/Math/IR/Math.h>
#include <mlir/Dialect/MemRef/IR/MemRef.h>
#include <mlir/Dialect/SCF/IR/SCF.h>
#include <mlir/Dialect/Tensor/IR/Tensor.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/BuiltinOps.h>
#include <mlir/Dialect/Linalg/Passes.h>
#include <mlir/Dialect/Linalg/Transforms/Transforms.h>
#include <mlir/IR/PatternMatch.h>
#include <mlir/Pass/Pass.h>
#include <mlir/Pass/PassManager.h>
#include <mlir/Transforms/Passes.h>

#include "ir/graph/Tessera.h"

namespace tessera::ir {

using namespace mlir;
namespace td = ::mlir::tessera;
using IterKind = utils::IteratorType;

namespace {

// A lowering that cannot continue; the error is already emitted at the op.
struct Unsupported {};

class Emitter {
 public:
  Emitter(OpBuilder& b, Location loc) : b(b), loc(loc) {}

  OpBuilder& b;
  Location loc;

  // ---------------------------------------------------------------- types

  static bool is_half(Type t) { return t.isBF16() || t.isF16() || mlir::isa<Float8E4M3FNType, Float8E5M2Type>(t); }

  // The type arithmetic runs in for element type `t` (and an optional `@accum` type).
  static Type compute_type(Type t, Type accum = {}) {
    if (accum) return accum;
    if (is_half(t)) return Float32Type::get(t.getContext());
    return t;
  }

  Value cast_scalar(Value v, Type to) {
    Type from = v.getType();
    if (from == to) return v;
    auto ff = dyn_cast<FloatType>(from), tf = dyn_cast<FloatType>(to);
    auto fi = dyn_cast<IntegerType>(from), ti = dyn_cast<IntegerType>(to);
    if (ff && tf) return ff.getWidth() < tf.getWidth() ? b.create<arith::ExtFOp>(loc, to, v).getResult()
                                                      : b.create<arith::TruncFOp>(loc, to, v).getResult();
    if (fi && tf) return fi.getWidth() == 1 ? b.create<arith::UIToFPOp>(loc, to, v).getResult()
                                            : b.create<arith::SIToFPOp>(loc, to, v).getResult();
    if (ff && ti) {
      if (ti.getWidth() == 1) return b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::UNE, v, zero(from));
      return b.create<arith::FPToSIOp>(loc, to, v);
    }
    if (fi && ti) {
      if (ti.getWidth() == 1) return b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne, v, zero(from));
      if (fi.getWidth() == 1) return b.create<arith::ExtUIOp>(loc, to, v);
      return fi.getWidth() < ti.getWidth() ? b.create<arith::ExtSIOp>(loc, to, v).getResult()
                                           : b.create<arith::TruncIOp>(loc, to, v).getResult();
    }
    if (isa<IndexType>(from) && ti) return b.create<arith::IndexCastOp>(loc, to, v);
    if (isa<IndexType>(from) && tf) {
      Value i = b.create<arith::IndexCastOp>(loc, b.getI64Type(), v);
      return b.create<arith::SIToFPOp>(loc, to, i);
    }
    emitError(loc) << "not yet supported: converting " << from << " to " << to;
    throw Unsupported{};
  }

  Value constant(Type t, double v) {
    if (isa<FloatType>(t)) return b.create<arith::ConstantOp>(loc, b.getFloatAttr(t, v));
    if (isa<IndexType>(t)) return b.create<arith::ConstantIndexOp>(loc, static_cast<int64_t>(v));
    return b.create<arith::ConstantOp>(loc, b.getIntegerAttr(t, static_cast<int64_t>(v)));
  }
  Value zero(Type t) { return constant(t, 0.0); }

  // -inf / +inf, or the largest finite value of a format without infinities (f8E4M3FN, where
  // getInf gives NaN, which no comparison would ever replace).
  static APFloat extreme(FloatType f, bool negative) {
    APFloat inf = APFloat::getInf(f.getFloatSemantics(), negative);
    return inf.isInfinity() ? inf : APFloat::getLargest(f.getFloatSemantics(), negative);
  }
  // Lowest / highest value of a type, the identities of max / min.
  Value lowest(Type t) {
    if (auto f = dyn_cast<FloatType>(t)) return b.create<arith::ConstantOp>(loc, b.getFloatAttr(t, extreme(f, true)));
    auto i = cast<IntegerType>(t);
    return b.create<arith::ConstantOp>(loc, b.getIntegerAttr(t, APInt::getSignedMinValue(i.getWidth())));
  }
  Value highest(Type t) {
    if (auto f = dyn_cast<FloatType>(t)) return b.create<arith::ConstantOp>(loc, b.getFloatAttr(t, extreme(f, false)));
    auto i = cast<IntegerType>(t);
    return b.create<arith::ConstantOp>(loc, b.getIntegerAttr(t, APInt::getSignedMaxValue(i.getWidth())));
  }

  // ---------------------------------------------------------------- tensors

  Value dim(Value t, int64_t i) {
    auto rt = cast<RankedTensorType>(t.getType());
    if (!rt.isDynamicDim(i)) return b.create<arith::ConstantIndexOp>(loc, rt.getDimSize(i));
    return b.create<tensor::DimOp>(loc, t, i);
  }

  // tensor.empty of `type`, its dynamic sizes given by `size_of(i)` for each dynamic dim i.
  Value empty(RankedTensorType type, const std::function<Value(int64_t)>& size_of) {
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < type.getRank(); ++i)
      if (type.isDynamicDim(i)) dyn.push_back(size_of(i));
    return b.create<tensor::EmptyOp>(loc, type.getShape(), type.getElementType(), dyn);
  }

  Value fill(Value init, Value scalar) { return b.create<linalg::FillOp>(loc, scalar, init).getResult(0); }

  using Body = std::function<Value(OpBuilder&, Location, ValueRange)>;
  using MultiBody = std::function<SmallVector<Value>(OpBuilder&, Location, ValueRange)>;

  // linalg.generic with explicit maps. `outs` are the init tensors; `body` receives the input
  // elements followed by the current output elements and returns the new output elements.
  SmallVector<Value> generic(ValueRange ins, ValueRange outs, ArrayRef<AffineMap> maps, ArrayRef<IterKind> iters,
                             const MultiBody& body) {
    SmallVector<Type> result_types;
    for (Value o : outs) result_types.push_back(o.getType());
    auto op = b.create<linalg::GenericOp>(loc, result_types, ins, outs, maps, iters,
                                          [&](OpBuilder& nb, Location nl, ValueRange args) {
                                            OpBuilder::InsertionGuard guard(b);
                                            b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
                                            SmallVector<Value> r = body(b, nl, args);
                                            b.create<linalg::YieldOp>(nl, r);
                                          });
    return SmallVector<Value>(op.getResults().begin(), op.getResults().end());
  }

  // An elementwise op with NumPy broadcasting into `result` (operands aligned on trailing dims).
  Value elementwise(RankedTensorType result, ArrayRef<Value> operands, const Body& body) {
    int64_t r = result.getRank();
    SmallVector<AffineMap> maps;
    for (Value v : operands) {
      auto vt = cast<RankedTensorType>(v.getType());
      int64_t k = vt.getRank();
      SmallVector<AffineExpr> exprs;
      for (int64_t i = 0; i < k; ++i) {
        int64_t j = r - k + i;
        if (vt.getDimSize(i) == 1 && result.getDimSize(j) != 1) exprs.push_back(b.getAffineConstantExpr(0));
        else exprs.push_back(b.getAffineDimExpr(j));
      }
      maps.push_back(AffineMap::get(r, 0, exprs, b.getContext()));
    }
    maps.push_back(b.getMultiDimIdentityMap(r));
    Value init = empty(result, [&](int64_t j) -> Value {
      for (Value v : operands) {
        auto vt = cast<RankedTensorType>(v.getType());
        int64_t i = j - (r - vt.getRank());
        if (i >= 0 && vt.getDimSize(i) != 1) return dim(v, i);
      }
      return b.create<arith::ConstantIndexOp>(loc, 1);
    });
    SmallVector<IterKind> iters(r, IterKind::parallel);
    return generic(operands, {init}, maps, iters, [&](OpBuilder& nb, Location nl, ValueRange args) {
      return SmallVector<Value>{body(nb, nl, args.drop_back())};
    })[0];
  }

  // Reduces `input` over `axes` (sorted) into the shape without them, elements of `acc`,
  // starting from `init`. `extra` are tensors of the reduced shape read alongside (e.g. the
  // mean when computing a variance). `body(x, extras..., acc)` returns the new accumulator.
  Value reduction(Value input, ArrayRef<int64_t> axes, Type acc, Value init_scalar, ArrayRef<Value> extra,
                  const Body& body) {
    auto it = cast<RankedTensorType>(input.getType());
    int64_t n = it.getRank();
    SmallVector<int64_t> kept, shape;
    for (int64_t i = 0; i < n; ++i)
      if (!llvm::is_contained(axes, i)) {
        kept.push_back(i);
        shape.push_back(it.getDimSize(i));
      }
    auto out_type = RankedTensorType::get(shape, acc);
    Value init = empty(out_type, [&](int64_t j) { return dim(input, kept[j]); });
    init = fill(init, init_scalar);
    SmallVector<AffineExpr> out_exprs;
    for (int64_t i : kept) out_exprs.push_back(b.getAffineDimExpr(i));
    AffineMap out_map = AffineMap::get(n, 0, out_exprs, b.getContext());
    SmallVector<AffineMap> maps{b.getMultiDimIdentityMap(n)};
    for (size_t k = 0; k < extra.size(); ++k) maps.push_back(out_map);
    maps.push_back(out_map);
    SmallVector<IterKind> iters;
    for (int64_t i = 0; i < n; ++i) iters.push_back(llvm::is_contained(axes, i) ? IterKind::reduction : IterKind::parallel);
    SmallVector<Value> ins{input};
    ins.append(extra.begin(), extra.end());
    return generic(ins, {init}, maps, iters, [&](OpBuilder& nb, Location nl, ValueRange args) {
      return SmallVector<Value>{body(nb, nl, args)};
    })[0];
  }

  // The number of elements over `axes`, as a value of type `t`.
  Value count(Value input, ArrayRef<int64_t> axes, Type t) {
    Value n = b.create<arith::ConstantIndexOp>(loc, 1);
    for (int64_t a : axes) n = b.create<arith::MulIOp>(loc, n, dim(input, a));
    return cast_scalar(n, t);
  }

  // Maps a reduced tensor (axes removed) elementwise with `body`.
  Value map(Value v, Type elt, const Body& body) {
    auto vt = cast<RankedTensorType>(v.getType());
    return elementwise(RankedTensorType::get(vt.getShape(), elt), {v}, body);
  }

  // Groups the dims of `big` around the dims of `small`, where `big` is `small` with unit
  // dimensions inserted; nullopt when it is not.
  static std::optional<SmallVector<ReassociationIndices>> unit_groups(RankedTensorType small, RankedTensorType big) {
    int64_t s = small.getRank(), r = big.getRank();
    SmallVector<ReassociationIndices> groups(s);
    ReassociationIndices pending;
    int64_t i = 0;
    for (int64_t j = 0; j < r; ++j) {
      int64_t bj = big.getDimSize(j);
      bool extra_needed = (r - j) > (s - i);
      bool matches = i < s && (bj == small.getDimSize(i) || ShapedType::isDynamic(bj) || ShapedType::isDynamic(small.getDimSize(i)));
      if (matches && !(extra_needed && bj == 1 && small.getDimSize(i) != 1)) {
        groups[i].push_back(j);
        ++i;
      } else if (bj == 1) {
        if (i == 0) pending.push_back(j);
        else groups[i - 1].push_back(j);
      } else {
        return std::nullopt;
      }
    }
    if (i != s) return std::nullopt;
    if (s == 0) return SmallVector<ReassociationIndices>{};
    groups[0].insert(groups[0].begin(), pending.begin(), pending.end());
    return groups;
  }

  // A tensor of `result` type from `v` when they differ only by unit dimensions: an
  // expand_shape or collapse_shape (which fusion sees through), else a tensor.reshape.
  Value reshape_to(Value v, RankedTensorType result) {
    if (v.getType() == result) return v;
    auto vt = cast<RankedTensorType>(v.getType());
    if (vt.getElementType() == result.getElementType()) {
      if (vt.getRank() < result.getRank()) {
        if (auto groups = unit_groups(vt, result)) {
          SmallVector<OpFoldResult> out;
          for (int64_t i = 0; i < result.getRank(); ++i)
            out.push_back(result.isDynamicDim(i) ? OpFoldResult(dim_of_result(v, vt, result, i))
                                                 : OpFoldResult(b.getIndexAttr(result.getDimSize(i))));
          return b.create<tensor::ExpandShapeOp>(loc, result, v, *groups, out);
        }
      } else if (vt.getRank() > result.getRank()) {
        if (auto groups = unit_groups(result, vt)) return b.create<tensor::CollapseShapeOp>(loc, result, v, *groups);
      }
    }
    SmallVector<Value> sizes;
    for (int64_t i = 0; i < result.getRank(); ++i) sizes.push_back(dim_of_result(v, vt, result, i));
    Value shape = b.create<tensor::FromElementsOp>(
        loc, RankedTensorType::get({result.getRank()}, b.getIndexType()), sizes);
    return b.create<tensor::ReshapeOp>(loc, result, v, shape);
  }

  // Size i of `result` for a reshape of `v` that only inserts or removes unit dimensions.
  Value dim_of_result(Value v, RankedTensorType vt, RankedTensorType result, int64_t i) {
    if (!result.isDynamicDim(i)) return b.create<arith::ConstantIndexOp>(loc, result.getDimSize(i));
    // The i-th non-unit dimension of the result is the i-th non-unit dimension of v.
    int64_t nth = 0;
    for (int64_t k = 0; k < i; ++k)
      if (result.getDimSize(k) != 1) ++nth;
    for (int64_t k = 0; k < vt.getRank(); ++k) {
      if (vt.getDimSize(k) == 1) continue;
      if (nth-- == 0) return dim(v, k);
    }
    return b.create<arith::ConstantIndexOp>(loc, 1);
  }

  // Casts every element of `v` to `elt`.
  Value convert(Value v, Type elt) {
    auto vt = cast<RankedTensorType>(v.getType());
    if (vt.getElementType() == elt) return v;
    return map(v, elt, [&](OpBuilder&, Location, ValueRange a) { return cast_scalar(a[0], elt); });
  }
};

// ------------------------------------------------------------------ scalar math

Value scalar_binary(Emitter& e, StringRef name, Value a, Value b) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  Type t = a.getType();
  if (isa<FloatType>(t)) {
    if (name == "add") return B.create<arith::AddFOp>(l, a, b);
    if (name == "sub") return B.create<arith::SubFOp>(l, a, b);
    if (name == "mul") return B.create<arith::MulFOp>(l, a, b);
    if (name == "div") return B.create<arith::DivFOp>(l, a, b);
    if (name == "pow") return B.create<math::PowFOp>(l, a, b);
    if (name == "maximum") return B.create<arith::MaximumFOp>(l, a, b);
    if (name == "minimum") return B.create<arith::MinimumFOp>(l, a, b);
    if (name == "floordiv") return B.create<math::FloorOp>(l, B.create<arith::DivFOp>(l, a, b));
    if (name == "mod") {
      // Python: a - floor(a / b) * b, the sign of b.
      Value q = B.create<math::FloorOp>(l, B.create<arith::DivFOp>(l, a, b));
      return B.create<arith::SubFOp>(l, a, B.create<arith::MulFOp>(l, q, b));
    }
  } else {
    if (name == "add") return B.create<arith::AddIOp>(l, a, b);
    if (name == "sub") return B.create<arith::SubIOp>(l, a, b);
    if (name == "mul") return B.create<arith::MulIOp>(l, a, b);
    if (name == "div" || name == "floordiv" || name == "mod") {
      // x86 traps on a zero divisor and on MIN / -1: the division never sees either. A zero
      // divisor gives 0 (lower_binary reports it as a run-time error first); b = -1 gives -a
      // (wrapping at MIN, as NumPy) and a remainder of 0.
      Value zero = e.zero(t), one = e.constant(t, 1.0), minus_one = e.constant(t, -1.0);
      Value by_zero = B.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, b, zero);
      Value by_minus_one = B.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, b, minus_one);
      Value special = B.create<arith::OrIOp>(l, by_zero, by_minus_one);
      Value d = B.create<arith::SelectOp>(l, special, one, b);
      if (name == "mod") {
        Value r = B.create<arith::RemSIOp>(l, a, d);
        Value r_neg = B.create<arith::CmpIOp>(l, arith::CmpIPredicate::slt, r, zero);
        Value b_neg = B.create<arith::CmpIOp>(l, arith::CmpIPredicate::slt, d, zero);
        Value nz = B.create<arith::CmpIOp>(l, arith::CmpIPredicate::ne, r, zero);
        Value fix = B.create<arith::AndIOp>(l, nz, B.create<arith::XOrIOp>(l, r_neg, b_neg));
        return B.create<arith::SelectOp>(l, fix, B.create<arith::AddIOp>(l, r, d), r);  // 0 when special
      }
      Value q = name == "div" ? B.create<arith::DivSIOp>(l, a, d).getResult() : B.create<arith::FloorDivSIOp>(l, a, d).getResult();
      q = B.create<arith::SelectOp>(l, by_minus_one, B.create<arith::SubIOp>(l, zero, a), q);
      return B.create<arith::SelectOp>(l, by_zero, zero, q);
    }
    if (name == "pow") {
      // a ** b by squaring over the 63 bits of b >= 0, wrapping at the type's width as NumPy
      // (lower_binary reports a negative exponent as a run-time error first). Branch-free, so
      // that it vectorizes.
      unsigned bits = cast<IntegerType>(t).getWidth();
      Value r = e.constant(t, 1.0), base = a, zero = e.zero(t), one = e.constant(t, 1.0);
      for (unsigned k = 0; k + 1 < bits; ++k) {
        Value bit = B.create<arith::AndIOp>(l, B.create<arith::ShRSIOp>(l, b, e.constant(t, double(k))), one);
        Value set = B.create<arith::CmpIOp>(l, arith::CmpIPredicate::ne, bit, zero);
        r = B.create<arith::SelectOp>(l, set, B.create<arith::MulIOp>(l, r, base), r);
        if (k + 2 < bits) base = B.create<arith::MulIOp>(l, base, base);
      }
      return r;
    }
    if (name == "maximum") return B.create<arith::MaxSIOp>(l, a, b);
    if (name == "minimum") return B.create<arith::MinSIOp>(l, a, b);
    if (name == "and") return B.create<arith::AndIOp>(l, a, b);
    if (name == "or") return B.create<arith::OrIOp>(l, a, b);
    if (name == "xor") return B.create<arith::XOrIOp>(l, a, b);
  }
  emitError(l) << "not yet supported: '" << name << "' on " << t;
  throw Unsupported{};
}

Value scalar_compare(Emitter& e, td::CmpPredicate p, Value a, Value b) {
  if (isa<FloatType>(a.getType())) {
    arith::CmpFPredicate f;
    switch (p) {
      case td::CmpPredicate::eq: f = arith::CmpFPredicate::OEQ; break;
      case td::CmpPredicate::ne: f = arith::CmpFPredicate::UNE; break;
      case td::CmpPredicate::lt: f = arith::CmpFPredicate::OLT; break;
      case td::CmpPredicate::le: f = arith::CmpFPredicate::OLE; break;
      case td::CmpPredicate::gt: f = arith::CmpFPredicate::OGT; break;
      case td::CmpPredicate::ge: f = arith::CmpFPredicate::OGE; break;
    }
    return e.b.create<arith::CmpFOp>(e.loc, f, a, b);
  }
  arith::CmpIPredicate i;
  switch (p) {
    case td::CmpPredicate::eq: i = arith::CmpIPredicate::eq; break;
    case td::CmpPredicate::ne: i = arith::CmpIPredicate::ne; break;
    case td::CmpPredicate::lt: i = arith::CmpIPredicate::slt; break;
    case td::CmpPredicate::le: i = arith::CmpIPredicate::sle; break;
    case td::CmpPredicate::gt: i = arith::CmpIPredicate::sgt; break;
    case td::CmpPredicate::ge: i = arith::CmpIPredicate::sge; break;
  }
  return e.b.create<arith::CmpIOp>(e.loc, i, a, b);
}

// |x| < inf: false for infinities and NaN.
Value is_finite(Emitter& e, Value x) {
  Value a = e.b.create<math::AbsFOp>(e.loc, x);
  return e.b.create<arith::CmpFOp>(e.loc, arith::CmpFPredicate::OLT, a, e.highest(x.getType()));
}

Value is_inf(Emitter& e, Value x) {
  Value a = e.b.create<math::AbsFOp>(e.loc, x);
  return e.b.create<arith::CmpFOp>(e.loc, arith::CmpFPredicate::OEQ, a, e.highest(x.getType()));
}

Value sigmoid(Emitter& e, Value x) {
  Type t = x.getType();
  Value one = e.constant(t, 1.0);
  Value ex = e.b.create<math::ExpOp>(e.loc, e.b.create<arith::NegFOp>(e.loc, x));
  return e.b.create<arith::DivFOp>(e.loc, one, e.b.create<arith::AddFOp>(e.loc, one, ex));
}

Value scalar_unary(Emitter& e, StringRef name, Value x) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  Type t = x.getType();
  bool f = isa<FloatType>(t);
  if (name == "neg") return f ? B.create<arith::NegFOp>(l, x).getResult() : B.create<arith::SubIOp>(l, e.zero(t), x).getResult();
  if (name == "abs") return f ? B.create<math::AbsFOp>(l, x).getResult() : B.create<math::AbsIOp>(l, x).getResult();
  if (name == "relu") return f ? B.create<arith::MaximumFOp>(l, x, e.zero(t)).getResult() : B.create<arith::MaxSIOp>(l, x, e.zero(t)).getResult();
  if (name == "not") return B.create<arith::XOrIOp>(l, x, e.constant(t, 1));
  if (!f) {
    emitError(l) << "not yet supported: '" << name << "' on " << t;
    throw Unsupported{};
  }
  if (name == "exp") return B.create<math::ExpOp>(l, x);
  if (name == "log") return B.create<math::LogOp>(l, x);
  if (name == "log1p") return B.create<math::Log1pOp>(l, x);
  if (name == "sqrt") return B.create<math::SqrtOp>(l, x);
  if (name == "rsqrt") return B.create<math::RsqrtOp>(l, x);
  if (name == "tanh") return B.create<math::TanhOp>(l, x);
  if (name == "sin") return B.create<math::SinOp>(l, x);
  if (name == "cos") return B.create<math::CosOp>(l, x);
  if (name == "erf") return B.create<math::ErfOp>(l, x);  // as in gelu below
  if (name == "sigmoid") return sigmoid(e, x);
  if (name == "silu") return B.create<arith::MulFOp>(l, x, sigmoid(e, x));
  if (name == "gelu") {
    // x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2))), as PyTorch's default.
    Value s = B.create<arith::MulFOp>(l, x, e.constant(t, 0.70710678118654752440));
    Value one_plus = B.create<arith::AddFOp>(l, e.constant(t, 1.0), B.create<math::ErfOp>(l, s));
    return B.create<arith::MulFOp>(l, B.create<arith::MulFOp>(l, e.constant(t, 0.5), x), one_plus);
  }
  emitError(l) << "not yet supported: the elementwise op '" << name << "'";
  throw Unsupported{};
}

// ------------------------------------------------------------------- op lowerings

Value split_dim(Emitter& e, Value v, int64_t axis, int64_t parts);
Value merge_dims(Emitter& e, Value v, int64_t axis, RankedTensorType result);

Type accum_of(Operation* op) {
  if (auto p = op->getAttrOfType<td::PolicyAttr>("policy")) return p.getAccum();
  return {};
}

RankedTensorType result_type(Operation* op) { return cast<RankedTensorType>(op->getResult(0).getType()); }

const llvm::StringSet<> kBinary = {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "floordiv", "mod",
                                   "and", "or", "xor"};
const llvm::StringSet<> kUnary = {"neg", "abs", "exp", "log", "log1p", "sqrt", "rsqrt", "tanh",
                                  "sigmoid", "sin", "cos", "relu", "gelu", "silu", "not", "erf"};

void check_nonzero_divisor(Emitter& e, Operation* op, Value divisor);
void check_nonnegative_exponent(Emitter& e, Operation* op, Value exponent);

Value lower_binary(Emitter& e, Operation* op, StringRef name) {
  RankedTensorType rt = result_type(op);
  Type ct = Emitter::compute_type(rt.getElementType(), accum_of(op));
  if (isa<IntegerType>(ct) && (name == "div" || name == "floordiv" || name == "mod"))
    check_nonzero_divisor(e, op, op->getOperand(1));
  if (isa<IntegerType>(ct) && !ct.isInteger(1) && name == "pow") check_nonnegative_exponent(e, op, op->getOperand(1));
  // A float power by a constant 0, 1, 2 or -1 (`(x - y) ** 2`, and its gradient's x ** 1) is
  // computed without powf, which runs as a libm call per element: 1, x, x * x and 1 / x give the
  // same values (each correctly rounded; pow(NaN, 0) is 1 as in C and NumPy).
  std::optional<double> exponent;
  DenseElementsAttr dense;
  if (name == "pow" && isa<FloatType>(ct) && matchPattern(op->getOperand(1), m_Constant(&dense)) && dense.isSplat() &&
      isa<FloatType>(dense.getElementType())) {
    double c = dense.getSplatValue<APFloat>().convertToDouble();
    if (c == 0.0 || c == 1.0 || c == 2.0 || c == -1.0) exponent = c;
  }
  return e.elementwise(rt, {op->getOperand(0), op->getOperand(1)}, [&](OpBuilder& b, Location l, ValueRange a) {
    Value x = e.cast_scalar(a[0], ct), r;
    if (!exponent) r = scalar_binary(e, name, x, e.cast_scalar(a[1], ct));
    else if (*exponent == 0.0) r = e.constant(ct, 1.0);
    else if (*exponent == 1.0) r = x;
    else if (*exponent == 2.0) r = b.create<arith::MulFOp>(l, x, x);
    else r = b.create<arith::DivFOp>(l, e.constant(ct, 1.0), x);
    return e.cast_scalar(r, rt.getElementType());
  });
}

Value lower_unary(Emitter& e, Operation* op, StringRef name) {
  RankedTensorType rt = result_type(op);
  Type ct = Emitter::compute_type(rt.getElementType(), accum_of(op));
  return e.elementwise(rt, {op->getOperand(0)}, [&](OpBuilder&, Location, ValueRange a) {
    return e.cast_scalar(scalar_unary(e, name, e.cast_scalar(a[0], ct)), rt.getElementType());
  });
}

// A reduction of `x` over `axes` of the given kind, in `ct`, without keepdim.
// A sum over several axes that include the last one, in the form the row loops parallelize and
// vectorize (one innermost reduction loop): the trailing run of reduced axes merged into one
// (a contiguous row of the tensor) and summed first, then the other reduced axes (a bias
// gradient's batch axis) summed over those row sums. A sum over every axis is one row. The
// association order depends on the shape only.
Value sum_rows_first(Emitter& e, Value x, ArrayRef<int64_t> axes, Type ct) {
  auto add = [&](OpBuilder&, Location, ValueRange a) -> Value {
    return scalar_binary(e, "add", e.cast_scalar(a[0], ct), a[1]);
  };
  auto xt = cast<RankedTensorType>(x.getType());
  int64_t r = xt.getRank(), t = r;
  while (t > 0 && llvm::is_contained(axes, t - 1)) --t;  // axes [t, r) are reduced
  if (t == r || axes.size() < 2) return e.reduction(x, axes, ct, e.zero(ct), {}, add);
  SmallVector<ReassociationIndices> groups;
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < t; ++i) {
    groups.push_back({i});
    shape.push_back(xt.getDimSize(i));
  }
  ReassociationIndices row;
  int64_t row_size = 1;
  for (int64_t i = t; i < r; ++i) {
    row.push_back(i);
    if (xt.isDynamicDim(i) || ShapedType::isDynamic(row_size)) {
      row_size = ShapedType::kDynamic;
    } else if (__builtin_mul_overflow(row_size, xt.getDimSize(i), &row_size)) {
      // No such row (the allocation's size check reports the shape at run time).
      return e.reduction(x, axes, ct, e.zero(ct), {}, add);
    }
  }
  groups.push_back(row);
  shape.push_back(row_size);
  Value rows = e.b.create<tensor::CollapseShapeOp>(e.loc, RankedTensorType::get(shape, xt.getElementType()), x, groups);
  Value sums = e.reduction(rows, {t}, ct, e.zero(ct), {}, add);
  SmallVector<int64_t> outer;
  for (int64_t a : axes)
    if (a < t) outer.push_back(a);
  if (outer.empty()) return sums;
  llvm::sort(outer);
  return e.reduction(sums, outer, ct, e.zero(ct), {}, add);
}

Value reduce_kind(Emitter& e, Value x, ArrayRef<int64_t> axes, td::ReduceKind kind, Type ct, bool safe) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  switch (kind) {
    case td::ReduceKind::sum: return sum_rows_first(e, x, axes, ct);
    case td::ReduceKind::prod:
      return e.reduction(x, axes, ct, e.constant(ct, 1.0), {}, [&](OpBuilder&, Location, ValueRange a) {
        return scalar_binary(e, "mul", e.cast_scalar(a[0], ct), a[1]);
      });
    case td::ReduceKind::max:
      return e.reduction(x, axes, ct, e.lowest(ct), {}, [&](OpBuilder&, Location, ValueRange a) {
        return scalar_binary(e, "maximum", e.cast_scalar(a[0], ct), a[1]);
      });
    case td::ReduceKind::min:
      return e.reduction(x, axes, ct, e.highest(ct), {}, [&](OpBuilder&, Location, ValueRange a) {
        return scalar_binary(e, "minimum", e.cast_scalar(a[0], ct), a[1]);
      });
    case td::ReduceKind::mean: {
      Value s = sum_rows_first(e, x, axes, ct);
      Value n = e.count(x, axes, ct);
      return e.map(s, ct, [&](OpBuilder&, Location, ValueRange a) { return scalar_binary(e, "div", a[0], n); });
    }
    case td::ReduceKind::var:
    case td::ReduceKind::std: {
      // Two passes (mean, then squared deviations): stable where the one-pass formula is not.
      Value mean = reduce_kind(e, x, axes, td::ReduceKind::mean, ct, safe);
      Value ss = e.reduction(x, axes, ct, e.zero(ct), {mean}, [&](OpBuilder&, Location, ValueRange a) {
        Value d = scalar_binary(e, "sub", e.cast_scalar(a[0], ct), a[1]);
        return scalar_binary(e, "add", scalar_binary(e, "mul", d, d), a[2]);
      });
      Value n = e.count(x, axes, ct);
      return e.map(ss, ct, [&](OpBuilder&, Location, ValueRange a) {
        Value v = scalar_binary(e, "div", a[0], n);
        return kind == td::ReduceKind::std ? B.create<math::SqrtOp>(l, v).getResult() : v;
      });
    }
    case td::ReduceKind::logsumexp: {
      // max + log(sum(exp(x - max))); an all -inf slice gives -inf, not NaN.
      Value m = reduce_kind(e, x, axes, td::ReduceKind::max, ct, safe);
      Value s = e.reduction(x, axes, ct, e.zero(ct), {m}, [&](OpBuilder&, Location, ValueRange a) {
        Value mm = a[1];
        Value finite = is_finite(e, mm);
        Value shift = B.create<arith::SelectOp>(l, finite, mm, e.zero(ct));
        Value d = B.create<arith::SubFOp>(l, e.cast_scalar(a[0], ct), shift);
        return B.create<arith::AddFOp>(l, B.create<math::ExpOp>(l, d), a[2]).getResult();
      });
      return e.elementwise(cast<RankedTensorType>(s.getType()), {s, m}, [&](OpBuilder&, Location, ValueRange a) {
        Value finite = is_finite(e, a[1]);
        Value shift = B.create<arith::SelectOp>(l, finite, a[1], e.zero(ct));
        return B.create<arith::AddFOp>(l, B.create<math::LogOp>(l, a[0]), shift).getResult();
      });
    }
    case td::ReduceKind::argmax:
    case td::ReduceKind::argmin: {
      // (best value, flat index over the reduced axes); the first index wins ties.
      auto it = cast<RankedTensorType>(x.getType());
      Type elt = it.getElementType();
      bool is_max = kind == td::ReduceKind::argmax;
      SmallVector<int64_t> kept, shape;
      for (int64_t i = 0; i < it.getRank(); ++i)
        if (!llvm::is_contained(axes, i)) {
          kept.push_back(i);
          shape.push_back(it.getDimSize(i));
        }
      auto vt = RankedTensorType::get(shape, elt);
      auto itype = RankedTensorType::get(shape, B.getI64Type());
      Value vinit = e.fill(e.empty(vt, [&](int64_t j) { return e.dim(x, kept[j]); }), is_max ? e.lowest(elt) : e.highest(elt));
      Value iinit = e.fill(e.empty(itype, [&](int64_t j) { return e.dim(x, kept[j]); }), e.constant(B.getI64Type(), -1));
      SmallVector<Value> sizes;
      for (int64_t a : axes) sizes.push_back(e.dim(x, a));
      SmallVector<AffineExpr> out;
      for (int64_t i : kept) out.push_back(B.getAffineDimExpr(i));
      int64_t n = it.getRank();
      AffineMap om = AffineMap::get(n, 0, out, B.getContext());
      SmallVector<IterKind> iters;
      for (int64_t i = 0; i < n; ++i) iters.push_back(llvm::is_contained(axes, i) ? IterKind::reduction : IterKind::parallel);
      auto r = e.generic({x}, {vinit, iinit}, {B.getMultiDimIdentityMap(n), om, om}, iters,
                         [&](OpBuilder&, Location, ValueRange a) {
                           Value flat = B.create<arith::ConstantIndexOp>(l, 0);
                           for (size_t k = 0; k < axes.size(); ++k) {
                             flat = B.create<arith::MulIOp>(l, flat, sizes[k]);
                             flat = B.create<arith::AddIOp>(l, flat, B.create<linalg::IndexOp>(l, axes[k]));
                           }
                           Value idx = B.create<arith::IndexCastOp>(l, B.getI64Type(), flat);
                           Value better = isa<FloatType>(elt)
                                              ? B.create<arith::CmpFOp>(l, is_max ? arith::CmpFPredicate::OGT : arith::CmpFPredicate::OLT, a[0], a[1]).getResult()
                                              : B.create<arith::CmpIOp>(l, is_max ? arith::CmpIPredicate::sgt : arith::CmpIPredicate::slt, a[0], a[1]).getResult();
                           Value unset = B.create<arith::CmpIOp>(l, arith::CmpIPredicate::slt, a[2], e.zero(B.getI64Type()));
                           Value take = B.create<arith::OrIOp>(l, better, unset);
                           return SmallVector<Value>{B.create<arith::SelectOp>(l, take, a[0], a[1]),
                                                     B.create<arith::SelectOp>(l, take, idx, a[2])};
                         });
      return r[1];
    }
  }
  emitError(l) << "not yet supported: this reduction";
  throw Unsupported{};
}

Value lower_reduce(Emitter& e, Operation* op) {
  RankedTensorType rt = result_type(op);
  Value x = op->getOperand(0);
  auto kind = op->getAttrOfType<td::ReduceKindAttr>("kind").getValue();
  auto axes = op->getAttrOfType<DenseI64ArrayAttr>("axes").asArrayRef();
  Type xelt = cast<RankedTensorType>(x.getType()).getElementType();
  Type ct = Emitter::compute_type(xelt, accum_of(op));
  if (!isa<FloatType>(xelt) && kind != td::ReduceKind::argmax && kind != td::ReduceKind::argmin &&
      kind != td::ReduceKind::sum && kind != td::ReduceKind::max && kind != td::ReduceKind::min &&
      kind != td::ReduceKind::prod)
    ct = e.b.getF64Type();  // mean/var of integers are floats
  // Long f32 (and bf16/f16) sums accumulate in f64: each vector lane and each sequential loop
  // then adds up to ~1e7 terms with an error far below one f32 rounding of the result, no worse
  // than NumPy's pairwise summation (a sequential f32 sum of 1e7 copies of 0.1 is 9% off). Rows
  // of up to kShortSum elements keep f32 (the vectorized row reductions split them over 64
  // partial sums). The order is fixed by the shape: the same bits for any number of threads.
  constexpr int64_t kShortSum = 4096;
  if (!accum_of(op) && ct.isF32() &&
      (kind == td::ReduceKind::sum || kind == td::ReduceKind::mean || kind == td::ReduceKind::var ||
       kind == td::ReduceKind::std)) {
    auto xt = cast<RankedTensorType>(x.getType());
    int64_t count = 1;
    for (int64_t a : axes) count = xt.isDynamicDim(a) || count > kShortSum ? kShortSum + 1 : count * xt.getDimSize(a);
    if (count > kShortSum) ct = e.b.getF64Type();
  }
  Value r = reduce_kind(e, x, axes, kind, ct, op->hasAttr("safe"));
  // f64 -> bf16/f16 through f32 (a direct truncation is a compiler-rt call the JIT may lack).
  if (ct.isF64() && Emitter::is_half(rt.getElementType())) r = e.convert(r, e.b.getF32Type());
  r = e.convert(r, rt.getElementType());
  return e.reshape_to(r, rt);
}

// Batched matmul with NumPy semantics, accumulating in `ct`.
Value matmul_values(Emitter& e, Value a, Value bb, RankedTensorType rt, Type accum) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  auto at = cast<RankedTensorType>(a.getType()), bt = cast<RankedTensorType>(bb.getType());
  Type ct = Emitter::compute_type(rt.getElementType(), accum);
  if (!isa<FloatType>(rt.getElementType()) && !accum) ct = rt.getElementType();
  auto acc_type = RankedTensorType::get(rt.getShape(), ct);
  // A transposed A (x.T @ y: the backward pass of every linear layer) is read in place: the
  // contraction indexes A's source as [..., k, m] instead of copying the transpose (the CPU
  // matmul schedule reads A through a strided view either way).
  Value a_src = a;
  bool a_transposed = false;
  if (at.getRank() >= 2)
    if (auto tr = a.getDefiningOp<linalg::TransposeOp>()) {
      ArrayRef<int64_t> perm = tr.getPermutation();
      int64_t n = static_cast<int64_t>(perm.size());
      bool swap_last = perm[n - 1] == n - 2 && perm[n - 2] == n - 1;
      for (int64_t i = 0; i + 2 < n; ++i) swap_last = swap_last && perm[i] == i;
      if (swap_last) {
        a_src = tr.getInput();
        a_transposed = true;
      }
    }
  // 2-D x 2-D in the result's own type: the named op, which tiling and vectorization know.
  if (!a_transposed && at.getRank() == 2 && bt.getRank() == 2 && ct == rt.getElementType() && at.getElementType() == ct &&
      bt.getElementType() == ct) {
    Value init = e.fill(e.empty(rt, [&](int64_t j) { return j == 0 ? e.dim(a, 0) : e.dim(bb, 1); }), e.zero(ct));
    return B.create<linalg::MatmulOp>(l, TypeRange{rt}, ValueRange{a, bb}, ValueRange{init}).getResult(0);
  }
  // General: loops = result dims + K.
  int64_t r = rt.getRank();
  int64_t k = r;  // the contraction loop
  bool a_vec = at.getRank() == 1, b_vec = bt.getRank() == 1;
  // Result dims: batch..., [M if !a_vec], [N if !b_vec].
  int64_t batch = r - (a_vec ? 0 : 1) - (b_vec ? 0 : 1);
  int64_t m_dim = a_vec ? -1 : batch, n_dim = b_vec ? -1 : r - 1;
  auto batch_exprs = [&](RankedTensorType t) {
    SmallVector<AffineExpr> ex;
    int64_t tb = t.getRank() - 2;
    for (int64_t i = 0; i < tb; ++i) {
      int64_t j = batch - tb + i;
      if (t.getDimSize(i) == 1 && rt.getDimSize(j) != 1) ex.push_back(B.getAffineConstantExpr(0));
      else ex.push_back(B.getAffineDimExpr(j));
    }
    return ex;
  };
  SmallVector<AffineExpr> am, bm;
  if (a_vec) {
    am.push_back(B.getAffineDimExpr(k));
  } else {
    am = batch_exprs(at);
    if (a_transposed) {
      am.push_back(B.getAffineDimExpr(k));
      am.push_back(B.getAffineDimExpr(m_dim));
    } else {
      am.push_back(B.getAffineDimExpr(m_dim));
      am.push_back(B.getAffineDimExpr(k));
    }
  }
  if (b_vec) {
    bm.push_back(B.getAffineDimExpr(k));
  } else {
    bm = batch_exprs(bt);
    bm.push_back(B.getAffineDimExpr(k));
    bm.push_back(B.getAffineDimExpr(n_dim));
  }
  SmallVector<AffineMap> maps{AffineMap::get(r + 1, 0, am, B.getContext()), AffineMap::get(r + 1, 0, bm, B.getContext())};
  SmallVector<AffineExpr> om;
  for (int64_t i = 0; i < r; ++i) om.push_back(B.getAffineDimExpr(i));
  maps.push_back(AffineMap::get(r + 1, 0, om, B.getContext()));
  SmallVector<IterKind> iters(r, IterKind::parallel);
  iters.push_back(IterKind::reduction);
  Value init = e.fill(e.empty(acc_type, [&](int64_t j) -> Value {
                        if (j == m_dim) return e.dim(a_src, at.getRank() - (a_transposed ? 1 : 2));
                        if (j == n_dim) return e.dim(bb, bt.getRank() - 1);
                        // A batch dimension: from whichever operand has it.
                        for (auto [v, t] : {std::pair{a_src, at}, std::pair{bb, bt}}) {
                          int64_t tb = t.getRank() - 2, i = j - (batch - tb);
                          if (t.getRank() >= 2 && i >= 0 && t.getDimSize(i) != 1) return e.dim(v, i);
                        }
                        return B.create<arith::ConstantIndexOp>(l, 1);
                      }),
                      e.zero(ct));
  Value acc = e.generic({a_src, bb}, {init}, maps, iters, [&](OpBuilder&, Location, ValueRange v) {
    Value p = scalar_binary(e, "mul", e.cast_scalar(v[0], ct), e.cast_scalar(v[1], ct));
    return SmallVector<Value>{scalar_binary(e, "add", v[2], p)};
  })[0];
  // The contraction loop is last; the loop-order pass moves it before the N loop (see below).
  if (!b_vec) acc.getDefiningOp()->setAttr("tessera.contraction", B.getUnitAttr());
  return e.convert(acc, rt.getElementType());
}

Value lower_matmul(Emitter& e, Operation* op) {
  return matmul_values(e, op->getOperand(0), op->getOperand(1), result_type(op), accum_of(op));
}

// softmax / log_softmax along `axis`: exp(x - max) / sum(exp(x - max)).
Value softmax_values(Emitter& e, Value x, int64_t axis, RankedTensorType rt, Type accum, bool log) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  if (axis < 0) axis += rt.getRank();
  Type ct = Emitter::compute_type(rt.getElementType(), accum);
  SmallVector<int64_t> axes{axis};
  Value m = reduce_kind(e, x, axes, td::ReduceKind::max, ct, true);
  int64_t n = rt.getRank();
  SmallVector<AffineExpr> red;
  for (int64_t i = 0; i < n; ++i)
    if (i != axis) red.push_back(B.getAffineDimExpr(i));
  AffineMap rm = AffineMap::get(n, 0, red, B.getContext());
  if (!log && rt.getElementType() == ct) {
    // exp once: p = exp(x - max) is written to the result, summed, then scaled in place by
    // 1 / sum (p has several uses, so elementwise fusion does not recompute it in the sum).
    Value init = e.empty(rt, [&](int64_t j) { return e.dim(x, j); });
    Value p = e.generic({x, m}, {init}, {B.getMultiDimIdentityMap(n), rm, B.getMultiDimIdentityMap(n)},
                        SmallVector<IterKind>(n, IterKind::parallel), [&](OpBuilder&, Location, ValueRange a) {
                          Value d = B.create<arith::SubFOp>(l, a[0], a[1]);
                          return SmallVector<Value>{B.create<math::ExpOp>(l, d).getResult()};
                        })[0];
    Value s = e.reduction(p, axes, ct, e.zero(ct), {}, [&](OpBuilder&, Location, ValueRange a) {
      return B.create<arith::AddFOp>(l, a[0], a[1]).getResult();
    });
    // p is an input and the init (for in-place bufferization); the body does not read the
    // init, so elementwise fusion may still fuse this op into a consumer (attention's matmul).
    return e.generic({p, s}, {p}, {B.getMultiDimIdentityMap(n), rm, B.getMultiDimIdentityMap(n)},
                     SmallVector<IterKind>(n, IterKind::parallel), [&](OpBuilder&, Location, ValueRange a) {
                       Value inv = B.create<arith::DivFOp>(l, e.constant(ct, 1.0), a[1]);
                       return SmallVector<Value>{B.create<arith::MulFOp>(l, a[0], inv).getResult()};
                     })[0];
  }
  Value s = e.reduction(x, axes, ct, e.zero(ct), {m}, [&](OpBuilder&, Location, ValueRange a) {
    Value d = B.create<arith::SubFOp>(l, e.cast_scalar(a[0], ct), a[1]);
    return B.create<arith::AddFOp>(l, B.create<math::ExpOp>(l, d), a[2]).getResult();
  });
  Value init = e.empty(rt, [&](int64_t j) { return e.dim(x, j); });
  return e.generic({x, m, s}, {init}, {B.getMultiDimIdentityMap(n), rm, rm, B.getMultiDimIdentityMap(n)},
                   SmallVector<IterKind>(n, IterKind::parallel), [&](OpBuilder&, Location, ValueRange a) {
                     Value d = B.create<arith::SubFOp>(l, e.cast_scalar(a[0], ct), a[1]);
                     Value r = log ? B.create<arith::SubFOp>(l, d, B.create<math::LogOp>(l, a[2])).getResult()
                                   : B.create<arith::DivFOp>(l, B.create<math::ExpOp>(l, d), a[2]).getResult();
                     return SmallVector<Value>{e.cast_scalar(r, rt.getElementType())};
                   })[0];
}

Value lower_softmax(Emitter& e, Operation* op, bool log) {
  return softmax_values(e, op->getOperand(0), op->getAttrOfType<IntegerAttr>("axis").getInt(), result_type(op),
                        accum_of(op), log);
}

// linear(x, w, b) = x @ w + b.
Value lower_linear(Emitter& e, Operation* op) {
  RankedTensorType rt = result_type(op);
  Value y = matmul_values(e, op->getOperand(0), op->getOperand(1), rt, accum_of(op));
  if (op->getNumOperands() < 3) return y;
  Type ct = Emitter::compute_type(rt.getElementType(), accum_of(op));
  return e.elementwise(rt, {y, op->getOperand(2)}, [&](OpBuilder&, Location, ValueRange a) {
    return e.cast_scalar(scalar_binary(e, "add", e.cast_scalar(a[0], ct), e.cast_scalar(a[1], ct)), rt.getElementType());
  });
}

// Scaled dot-product attention: softmax(q @ k^T * scale [+ causal mask]) @ v.
Value lower_attention(Emitter& e, Operation* op) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  RankedTensorType rt = result_type(op);
  Value q = op->getOperand(0), k = op->getOperand(1), v = op->getOperand(2);
  auto qt = cast<RankedTensorType>(q.getType()), kt = cast<RankedTensorType>(k.getType());
  int64_t r = qt.getRank();
  Type ct = Emitter::compute_type(rt.getElementType(), accum_of(op));
  // k^T: swap the last two dimensions.
  SmallVector<int64_t> perm;
  for (int64_t i = 0; i < kt.getRank(); ++i) perm.push_back(i);
  std::swap(perm[kt.getRank() - 1], perm[kt.getRank() - 2]);
  SmallVector<int64_t> kts;
  for (int64_t p : perm) kts.push_back(kt.getDimSize(p));
  auto ktt = RankedTensorType::get(kts, kt.getElementType());
  Value ktv = B.create<linalg::TransposeOp>(l, k, e.empty(ktt, [&](int64_t j) { return e.dim(k, perm[j]); }), perm).getResult()[0];
  // Scores [..., S, T] in the compute type.
  SmallVector<int64_t> ss(qt.getShape().begin(), qt.getShape().end());
  ss.back() = kt.getDimSize(kt.getRank() - 2);
  auto st = RankedTensorType::get(ss, ct);
  Value scores = matmul_values(e, q, ktv, st, ct);
  double scale = 0;
  if (auto a = op->getAttrOfType<FloatAttr>("scale")) scale = a.getValueAsDouble();
  Value scale_v = scale ? e.constant(ct, scale)
                        : B.create<math::RsqrtOp>(l, e.cast_scalar(e.dim(q, r - 1), ct)).getResult();
  bool causal = op->hasAttr("causal");
  SmallVector<AffineMap> maps{B.getMultiDimIdentityMap(r), B.getMultiDimIdentityMap(r)};
  Value init = e.empty(st, [&](int64_t j) { return e.dim(scores, j); });
  scores = e.generic({scores}, {init}, maps, SmallVector<IterKind>(r, IterKind::parallel), [&](OpBuilder&, Location, ValueRange a) {
             Value s = B.create<arith::MulFOp>(l, a[0], scale_v);
             if (causal) {
               Value i = B.create<linalg::IndexOp>(l, r - 2), j = B.create<linalg::IndexOp>(l, r - 1);
               Value future = B.create<arith::CmpIOp>(l, arith::CmpIPredicate::ugt, j, i);
               s = B.create<arith::SelectOp>(l, future, e.lowest(ct), s);
             }
             return SmallVector<Value>{s};
           })[0];
  Value p = softmax_values(e, scores, r - 1, st, ct, false);
  return matmul_values(e, p, v, rt, ct);
}

void check_index_range(Emitter& e, Operation* op, Value ids, Value bound, StringRef what);
void index_error(Emitter& e, Operation* op, Value failed, Value index, Value lo, Value hi, StringRef what);
void runtime_failure(Emitter& e, Operation* op, Value failed, StringRef fn, StringRef head, ArrayRef<Value> args);

// An id as a row index in [0, rows): clamped, so that a lookup stays in bounds even when the
// error handler of check_index_range returns.
Value clamped_row(Emitter& e, Value id, Value rows) {
  OpBuilder& B = e.b;
  Value row = id.getType().isIndex() ? id : B.create<arith::IndexCastOp>(e.loc, B.getIndexType(), id).getResult();
  Value last = B.create<arith::SubIOp>(e.loc, rows, B.create<arith::ConstantIndexOp>(e.loc, 1));
  row = B.create<arith::MinSIOp>(e.loc, row, last);
  return B.create<arith::MaxSIOp>(e.loc, row, B.create<arith::ConstantIndexOp>(e.loc, 0));
}

// Mean over the batch of logsumexp(logits) - logits[label]. A label outside [0, C) is a run-time
// error (exit 3), as in PyTorch.
Value lower_cross_entropy(Emitter& e, Operation* op) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  RankedTensorType rt = result_type(op);
  Value logits = op->getOperand(0), labels = op->getOperand(1);
  auto lt = cast<RankedTensorType>(logits.getType());
  auto yt = cast<RankedTensorType>(labels.getType());
  int64_t n = lt.getRank();
  Type ct = Emitter::compute_type(rt.getElementType(), accum_of(op));
  SmallVector<int64_t> last{n - 1};
  Value classes = e.dim(logits, n - 1);
  check_index_range(e, op, labels, classes, "cross_entropy label");
  Value lse = reduce_kind(e, logits, last, td::ReduceKind::logsumexp, ct, true);  // [...]
  // Per-row loss: lse - logits[..., label].
  auto row_t = RankedTensorType::get(yt.getShape(), ct);
  Value rows = e.elementwise(row_t, {lse, labels}, [&](OpBuilder&, Location, ValueRange a) {
    SmallVector<Value> idx;
    for (int64_t i = 0; i < yt.getRank(); ++i) idx.push_back(B.create<linalg::IndexOp>(l, i));
    idx.push_back(clamped_row(e, a[1], classes));
    Value picked = e.cast_scalar(B.create<tensor::ExtractOp>(l, logits, idx), ct);
    return B.create<arith::SubFOp>(l, a[0], picked).getResult();
  });
  SmallVector<int64_t> all;
  for (int64_t i = 0; i < yt.getRank(); ++i) all.push_back(i);
  Value mean = reduce_kind(e, rows, all, td::ReduceKind::mean, ct, true);
  return e.reshape_to(e.convert(mean, rt.getElementType()), rt);
}

// table[ids[...], :]; an id outside [0, V) is a run-time error (exit 3) naming it.
Value lower_embedding(Emitter& e, Operation* op) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  RankedTensorType rt = result_type(op);
  Value table = op->getOperand(0), ids = op->getOperand(1);
  int64_t r = rt.getRank();
  Value rows = e.dim(table, 0);
  // `what` names the ids in the message: a gather a[ids] says "index" (lower_expressions.cpp).
  auto what = op->getAttrOfType<StringAttr>("what");
  check_index_range(e, op, ids, rows, what ? what.getValue() : StringRef("embedding id"));
  SmallVector<AffineExpr> im;
  for (int64_t i = 0; i + 1 < r; ++i) im.push_back(B.getAffineDimExpr(i));
  Value init = e.empty(rt, [&](int64_t j) { return j + 1 < r ? e.dim(ids, j) : e.dim(table, 1); });
  return e.generic({ids}, {init}, {AffineMap::get(r, 0, im, B.getContext()), B.getMultiDimIdentityMap(r)},
                   SmallVector<IterKind>(r, IterKind::parallel), [&](OpBuilder&, Location, ValueRange a) {
                     Value row = clamped_row(e, a[0], rows);
                     Value col = B.create<linalg::IndexOp>(l, r - 1);
                     return SmallVector<Value>{B.create<tensor::ExtractOp>(l, table, ValueRange{row, col})};
                   })[0];
}

// embedding_grad(table, ids, ct): zeros like the table, then row ids[i] += ct[i, :] for each
// lookup i in order: a loop over the lookups whose body updates one row of the loop-carried
// table (in place after bufferization): O(lookups x D), where one_hot(ids)^T @ ct is
// O(lookups x V x D).
Value lower_embedding_grad(Emitter& e, Operation* op) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  RankedTensorType rt = result_type(op);
  Value table = op->getOperand(0), ids = op->getOperand(1), ct = op->getOperand(2);
  auto it = cast<RankedTensorType>(ids.getType());
  auto ctt = cast<RankedTensorType>(ct.getType());
  Value rows = e.dim(table, 0), width = e.dim(table, 1);
  check_index_range(e, op, ids, rows, "embedding id");
  // The lookups as one axis: ids [n], ct [n, D].
  auto flat = [&](Value v, RankedTensorType t, int64_t keep) -> Value {
    SmallVector<ReassociationIndices> groups(1);
    for (int64_t i = 0; i < t.getRank() - keep; ++i) groups[0].push_back(i);
    if (t.getRank() - keep == 0) {  // a single id: [1] / [1, D]
      SmallVector<int64_t> shape{1};
      for (int64_t i = 0; i < keep; ++i) shape.push_back(t.getDimSize(i));
      SmallVector<ReassociationIndices> g2;
      if (keep == 0) return B.create<tensor::ExpandShapeOp>(l, RankedTensorType::get(shape, t.getElementType()), v, g2);
      g2.push_back({0, 1});
      return B.create<tensor::ExpandShapeOp>(l, RankedTensorType::get(shape, t.getElementType()), v, g2);
    }
    for (int64_t i = 0; i < keep; ++i) groups.push_back({t.getRank() - keep + i});
    return B.create<tensor::CollapseShapeOp>(l, v, groups);
  };
  Value ids1 = flat(ids, it, 0), ct2 = flat(ct, ctt, 1);
  Type elt = rt.getElementType();
  Value zeros = e.fill(e.empty(rt, [&](int64_t j) { return j == 0 ? rows : width; }), e.zero(elt));
  Value n = e.dim(ids1, 0);
  Value c0 = B.create<arith::ConstantIndexOp>(l, 0), c1 = B.create<arith::ConstantIndexOp>(l, 1);
  auto loop = B.create<scf::ForOp>(l, c0, n, c1, ValueRange{zeros},
                                   [&](OpBuilder& nb, Location, Value i, ValueRange acc) {
    OpBuilder::InsertionGuard g(B);
    B.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
    Value row = clamped_row(e, B.create<tensor::ExtractOp>(l, ids1, ValueRange{i}), rows);
    auto row_t = RankedTensorType::get({1, rt.getDimSize(1)}, elt);
    SmallVector<OpFoldResult> sizes{B.getIndexAttr(1), rt.isDynamicDim(1) ? OpFoldResult(width) : B.getIndexAttr(rt.getDimSize(1))};
    SmallVector<OpFoldResult> unit{B.getIndexAttr(1), B.getIndexAttr(1)};
    Value old = B.create<tensor::ExtractSliceOp>(l, row_t, acc[0], SmallVector<OpFoldResult>{row, B.getIndexAttr(0)}, sizes, unit);
    Value add = B.create<tensor::ExtractSliceOp>(l, row_t, ct2, SmallVector<OpFoldResult>{i, B.getIndexAttr(0)}, sizes, unit);
    // old += add, written into the row itself (the slice of acc), so the update is in place.
    AffineMap id2 = B.getMultiDimIdentityMap(2);
    Value sum = e.generic({add}, {old}, {id2, id2}, {IterKind::parallel, IterKind::parallel},
                          [&](OpBuilder& bb, Location ll, ValueRange a) {
                            return SmallVector<Value>{bb.create<arith::AddFOp>(ll, a[1], a[0]).getResult()};
                          })[0];
    Value next = B.create<tensor::InsertSliceOp>(l, sum, acc[0], SmallVector<OpFoldResult>{row, B.getIndexAttr(0)}, sizes, unit);
    B.create<scf::YieldOp>(l, next);
  });
  return loop.getResult(0);
}

Value lower_one_hot(Emitter& e, Operation* op) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  RankedTensorType rt = result_type(op);
  Value ids = op->getOperand(0);
  int64_t r = rt.getRank();
  SmallVector<AffineExpr> im;
  for (int64_t i = 0; i + 1 < r; ++i) im.push_back(B.getAffineDimExpr(i));
  Value init = e.empty(rt, [&](int64_t j) { return e.dim(ids, j); });
  return e.generic({ids}, {init}, {AffineMap::get(r, 0, im, B.getContext()), B.getMultiDimIdentityMap(r)},
                   SmallVector<IterKind>(r, IterKind::parallel), [&](OpBuilder&, Location, ValueRange a) {
                     Value c = B.create<arith::IndexCastOp>(l, a[0].getType(), B.create<linalg::IndexOp>(l, r - 1));
                     Value hit = B.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, c, a[0]);
                     return SmallVector<Value>{e.cast_scalar(hit, rt.getElementType())};
                   })[0];
}

// layer_norm / rms_norm over the last axis, with optional weight and bias on that axis.
Value lower_norm_layer(Emitter& e, Operation* op, bool rms) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  RankedTensorType rt = result_type(op);
  Value x = op->getOperand(0);
  Value weight, bias;
  if (rms) {
    if (op->getNumOperands() > 1) weight = op->getOperand(1);
  } else {
    auto seg = op->getAttrOfType<DenseI32ArrayAttr>("operandSegmentSizes");
    SmallVector<int32_t> sizes = seg ? SmallVector<int32_t>(seg.asArrayRef()) : SmallVector<int32_t>{1, 0, 0};
    unsigned i = 1;
    if (sizes[1]) weight = op->getOperand(i++);
    if (sizes[2]) bias = op->getOperand(i++);
  }
  int64_t n = rt.getRank();
  int64_t axis = rms ? n - 1 : op->getAttrOfType<IntegerAttr>("axis").getInt();
  if (axis < 0) axis += n;
  double eps = op->getAttrOfType<FloatAttr>("eps").getValueAsDouble();
  Type ct = Emitter::compute_type(rt.getElementType(), accum_of(op));
  SmallVector<int64_t> axes{axis};
  Value mean, inv;
  Value cnt = e.count(x, axes, ct);
  if (rms) {
    Value ss = e.reduction(x, axes, ct, e.zero(ct), {}, [&](OpBuilder&, Location, ValueRange a) {
      Value v = e.cast_scalar(a[0], ct);
      return B.create<arith::AddFOp>(l, B.create<arith::MulFOp>(l, v, v), a[1]).getResult();
    });
    inv = e.map(ss, ct, [&](OpBuilder&, Location, ValueRange a) {
      Value ms = B.create<arith::DivFOp>(l, a[0], cnt);
      return B.create<math::RsqrtOp>(l, B.create<arith::AddFOp>(l, ms, e.constant(ct, eps))).getResult();
    });
  } else {
    mean = reduce_kind(e, x, axes, td::ReduceKind::mean, ct, true);
    Value ss = e.reduction(x, axes, ct, e.zero(ct), {mean}, [&](OpBuilder&, Location, ValueRange a) {
      Value d = B.create<arith::SubFOp>(l, e.cast_scalar(a[0], ct), a[1]);
      return B.create<arith::AddFOp>(l, B.create<arith::MulFOp>(l, d, d), a[2]).getResult();
    });
    inv = e.map(ss, ct, [&](OpBuilder&, Location, ValueRange a) {
      Value var = B.create<arith::DivFOp>(l, a[0], cnt);
      return B.create<math::RsqrtOp>(l, B.create<arith::AddFOp>(l, var, e.constant(ct, eps))).getResult();
    });
  }
  SmallVector<AffineExpr> red;
  for (int64_t i = 0; i < n; ++i)
    if (i != axis) red.push_back(B.getAffineDimExpr(i));
  AffineMap rm = AffineMap::get(n, 0, red, B.getContext());
  AffineMap am = AffineMap::get(n, 0, {B.getAffineDimExpr(axis)}, B.getContext());
  SmallVector<Value> ins{x, inv};
  SmallVector<AffineMap> maps{B.getMultiDimIdentityMap(n), rm};
  if (mean) {
    ins.push_back(mean);
    maps.push_back(rm);
  }
  if (weight) {
    ins.push_back(weight);
    maps.push_back(am);
  }
  if (bias) {
    ins.push_back(bias);
    maps.push_back(am);
  }
  maps.push_back(B.getMultiDimIdentityMap(n));
  Value init = e.empty(rt, [&](int64_t j) { return e.dim(x, j); });
  return e.generic(ins, {init}, maps, SmallVector<IterKind>(n, IterKind::parallel), [&](OpBuilder&, Location, ValueRange a) {
           size_t i = 2;
           Value v = e.cast_scalar(a[0], ct);
           if (mean) v = B.create<arith::SubFOp>(l, v, a[i++]);
           v = B.create<arith::MulFOp>(l, v, a[1]);
           if (weight) v = B.create<arith::MulFOp>(l, v, e.cast_scalar(a[i++], ct));
           if (bias) v = B.create<arith::AddFOp>(l, v, e.cast_scalar(a[i++], ct));
           return SmallVector<Value>{e.cast_scalar(v, rt.getElementType())};
         })[0];
}

// group_norm over x [N, C, ...] as PyTorch: the channels split into G groups, each (n, group)
// normalized over its C/G channels and all spatial positions (population variance), then the
// per-channel weight and bias. Computed on x viewed as [N, G, C/G, ...] and collapsed back.
Value lower_group_norm(Emitter& e, Operation* op) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  RankedTensorType rt = result_type(op);
  auto seg = op->getAttrOfType<DenseI32ArrayAttr>("operandSegmentSizes").asArrayRef();
  Value x = op->getOperand(0), weight, bias;
  unsigned next = 1;
  if (seg[1]) weight = op->getOperand(next++);
  if (seg[2]) bias = op->getOperand(next++);
  int64_t groups = op->getAttrOfType<IntegerAttr>("groups").getInt();
  double eps = op->getAttrOfType<FloatAttr>("eps").getValueAsDouble();
  Type ct = Emitter::compute_type(rt.getElementType(), accum_of(op));
  Value xg = split_dim(e, x, 1, groups);  // [N, G, C/G, ...]
  auto gt = cast<RankedTensorType>(xg.getType());
  int64_t n = gt.getRank();
  SmallVector<int64_t> axes;
  for (int64_t i = 2; i < n; ++i) axes.push_back(i);
  Value mean = reduce_kind(e, xg, axes, td::ReduceKind::mean, ct, true);  // [N, G]
  Value ss = e.reduction(xg, axes, ct, e.zero(ct), {mean}, [&](OpBuilder&, Location, ValueRange a) {
    Value d = B.create<arith::SubFOp>(l, e.cast_scalar(a[0], ct), a[1]);
    return B.create<arith::AddFOp>(l, B.create<arith::MulFOp>(l, d, d), a[2]).getResult();
  });
  Value cnt = e.count(xg, axes, ct);
  Value inv = e.map(ss, ct, [&](OpBuilder&, Location, ValueRange a) {
    Value var = B.create<arith::DivFOp>(l, a[0], cnt);
    return B.create<math::RsqrtOp>(l, B.create<arith::AddFOp>(l, var, e.constant(ct, eps))).getResult();
  });
  MLIRContext* ctx = B.getContext();
  AffineMap gm = AffineMap::get(n, 0, {B.getAffineDimExpr(0), B.getAffineDimExpr(1)}, ctx);
  AffineMap cm = AffineMap::get(n, 0, {B.getAffineDimExpr(1), B.getAffineDimExpr(2)}, ctx);
  SmallVector<Value> ins{xg, mean, inv};
  SmallVector<AffineMap> maps{B.getMultiDimIdentityMap(n), gm, gm};
  if (weight) {
    ins.push_back(split_dim(e, weight, 0, groups));  // [G, C/G]
    maps.push_back(cm);
  }
  if (bias) {
    ins.push_back(split_dim(e, bias, 0, groups));
    maps.push_back(cm);
  }
  maps.push_back(B.getMultiDimIdentityMap(n));
  auto yt = RankedTensorType::get(gt.getShape(), rt.getElementType());
  Value init = e.empty(yt, [&](int64_t j) { return e.dim(xg, j); });
  Value y = e.generic(ins, {init}, maps, SmallVector<IterKind>(n, IterKind::parallel), [&](OpBuilder&, Location, ValueRange a) {
              Value v = B.create<arith::SubFOp>(l, e.cast_scalar(a[0], ct), a[1]);
              v = B.create<arith::MulFOp>(l, v, a[2]);
              size_t i = 3;
              if (weight) v = B.create<arith::MulFOp>(l, v, e.cast_scalar(a[i++], ct));
              if (bias) v = B.create<arith::AddFOp>(l, v, e.cast_scalar(a[i++], ct));
              return SmallVector<Value>{e.cast_scalar(v, rt.getElementType())};
            })[0];
  return merge_dims(e, y, 1, rt);
}

// Shape ops -------------------------------------------------------------------

Value shape_tensor(Emitter& e, RankedTensorType rt, ValueRange dyn) {
  SmallVector<Value> sizes;
  size_t d = 0;
  for (int64_t i = 0; i < rt.getRank(); ++i)
    sizes.push_back(rt.isDynamicDim(i) ? dyn[d++] : e.b.create<arith::ConstantIndexOp>(e.loc, rt.getDimSize(i)).getResult());
  return e.b.create<tensor::FromElementsOp>(e.loc, RankedTensorType::get({rt.getRank()}, e.b.getIndexType()), sizes);
}

Value lower_reshape(Emitter& e, Operation* op) {
  RankedTensorType rt = result_type(op);
  Value shape = shape_tensor(e, rt, op->getOperands().drop_front());
  return e.b.create<tensor::ReshapeOp>(e.loc, rt, op->getOperand(0), shape);
}

// unsqueeze / squeeze: only unit dimensions change.
Value lower_unit_reshape(Emitter& e, Operation* op) { return e.reshape_to(op->getOperand(0), result_type(op)); }

Value lower_transpose(Emitter& e, Operation* op) {
  RankedTensorType rt = result_type(op);
  Value x = op->getOperand(0);
  auto perm = op->getAttrOfType<DenseI64ArrayAttr>("perm").asArrayRef();
  Value init = e.empty(rt, [&](int64_t j) { return e.dim(x, perm[j]); });
  return e.b.create<linalg::TransposeOp>(e.loc, x, init, perm).getResult()[0];
}

Value lower_broadcast(Emitter& e, Operation* op) {
  RankedTensorType rt = result_type(op);
  Value x = op->getOperand(0);
  auto xt = cast<RankedTensorType>(x.getType());
  if (xt.getElementType() != rt.getElementType()) x = e.convert(x, rt.getElementType());
  // Dynamic result sizes come from the op's operands when given.
  auto dyn = op->getOperands().drop_front();
  if (!dyn.empty()) {
    int64_t r = rt.getRank();
    SmallVector<AffineExpr> ex;
    auto vt = cast<RankedTensorType>(x.getType());
    for (int64_t i = 0; i < vt.getRank(); ++i) {
      int64_t j = r - vt.getRank() + i;
      ex.push_back(vt.getDimSize(i) == 1 && rt.getDimSize(j) != 1 ? e.b.getAffineConstantExpr(0) : e.b.getAffineDimExpr(j));
    }
    size_t d = 0;
    SmallVector<Value> dv(dyn.begin(), dyn.end());
    Value init = e.empty(rt, [&](int64_t) { return dv[d++]; });
    return e.generic({x}, {init}, {AffineMap::get(r, 0, ex, e.b.getContext()), e.b.getMultiDimIdentityMap(r)},
                     SmallVector<IterKind>(r, IterKind::parallel),
                     [&](OpBuilder&, Location, ValueRange a) { return SmallVector<Value>{a[0]}; })[0];
  }
  return e.elementwise(rt, {x}, [&](OpBuilder&, Location, ValueRange a) { return a[0]; });
}

Value lower_concat(Emitter& e, Operation* op, bool stack) {
  RankedTensorType rt = result_type(op);
  int64_t axis = op->getAttrOfType<IntegerAttr>("axis").getInt();
  SmallVector<Value> inputs(op->getOperands().begin(), op->getOperands().end());
  if (stack) {
    // Each input gains a unit dimension at `axis`, then they are concatenated.
    SmallVector<int64_t> shape(rt.getShape().begin(), rt.getShape().end());
    shape[axis] = 1;
    for (Value& v : inputs) v = e.reshape_to(v, RankedTensorType::get(shape, cast<RankedTensorType>(v.getType()).getElementType()));
  }
  // One input is the result itself. (Inserted into a fresh tensor of its own dynamic size, it made
  // eliminate-empty-tensors build a slice of that tensor before the size it depends on.)
  if (inputs.size() == 1) {
    Value v = inputs[0];
    if (cast<RankedTensorType>(v.getType()).getElementType() != rt.getElementType()) v = e.convert(v, rt.getElementType());
    if (v.getType() != rt) v = e.b.create<tensor::CastOp>(e.loc, rt, v);
    return v;
  }
  Value offset = e.b.create<arith::ConstantIndexOp>(e.loc, 0);
  Value total = offset;
  for (Value v : inputs) total = e.b.create<arith::AddIOp>(e.loc, total, e.dim(v, axis));
  Value out = e.empty(rt, [&](int64_t j) { return j == axis ? total : e.dim(inputs[0], j); });
  for (Value v : inputs) {
    auto vt = cast<RankedTensorType>(v.getType());
    SmallVector<OpFoldResult> offs, sizes, strides;
    for (int64_t i = 0; i < vt.getRank(); ++i) {
      offs.push_back(i == axis ? OpFoldResult(offset) : OpFoldResult(e.b.getIndexAttr(0)));
      sizes.push_back(vt.isDynamicDim(i) ? OpFoldResult(e.dim(v, i)) : OpFoldResult(e.b.getIndexAttr(vt.getDimSize(i))));
      strides.push_back(e.b.getIndexAttr(1));
    }
    if (vt.getElementType() != rt.getElementType()) v = e.convert(v, rt.getElementType());
    out = e.b.create<tensor::InsertSliceOp>(e.loc, v, out, offs, sizes, strides);
    offset = e.b.create<arith::AddIOp>(e.loc, offset, e.dim(v, axis));
  }
  return out;
}

Value lower_slice(Emitter& e, Operation* op) {
  RankedTensorType rt = result_type(op);
  Value x = op->getOperand(0);
  auto so = op->getAttrOfType<DenseI64ArrayAttr>("static_offsets").asArrayRef();
  auto ss = op->getAttrOfType<DenseI64ArrayAttr>("static_sizes").asArrayRef();
  auto st = op->getAttrOfType<DenseI64ArrayAttr>("static_strides").asArrayRef();
  auto seg = op->getAttrOfType<DenseI32ArrayAttr>("operandSegmentSizes").asArrayRef();
  unsigned next = 1;
  auto take = [&](ArrayRef<int64_t> stat, int32_t count, SmallVector<OpFoldResult>& out) {
    int32_t used = 0;
    for (int64_t v : stat) {
      if (ShapedType::isDynamic(v) && used < count) {
        out.push_back(op->getOperand(next++));
        ++used;
      } else {
        out.push_back(e.b.getIndexAttr(v));
      }
    }
  };
  SmallVector<OpFoldResult> offs, sizes, strides;
  take(so, seg[1], offs);
  take(ss, seg[2], sizes);
  take(st, seg[3], strides);
  // A run-time index of an axis the slice drops (`x[i]`; the Graph IR lowering has made i < 0
  // count from the end): outside [0, n) it is a run-time error (exit 3) naming the index as
  // written (offset - n for a negative one, in [-n, n)); then clamped, so the read stays in
  // bounds even when the error handler returns.
  if (auto dropped = op->getAttrOfType<DenseI64ArrayAttr>("drop_dims")) {
    OpBuilder& B = e.b;
    Location l = e.loc;
    for (int64_t a : dropped.asArrayRef()) {
      if (a >= static_cast<int64_t>(offs.size()) || getConstantIntValue(offs[a])) continue;
      Value at = cast<Value>(offs[a]);
      Value n = e.dim(x, a);
      Type i64 = B.getI64Type();
      Value at64 = B.create<arith::IndexCastOp>(l, i64, at), n64 = B.create<arith::IndexCastOp>(l, i64, n);
      Value zero = B.create<arith::ConstantIntOp>(l, 0, 64);
      Value below = B.create<arith::CmpIOp>(l, arith::CmpIPredicate::slt, at64, zero);
      Value above = B.create<arith::CmpIOp>(l, arith::CmpIPredicate::sge, at64, n64);
      Value written = B.create<arith::SelectOp>(l, below, B.create<arith::SubIOp>(l, at64, n64), at64);
      index_error(e, op, B.create<arith::OrIOp>(l, below, above), written, B.create<arith::SubIOp>(l, zero, n64), n64,
                  "index");
      offs[a] = clamped_row(e, at, n);
    }
  }
  // A negative step: the same elements taken with the positive step from the last one
  // (offset + (size - 1) * step), then reversed along that axis (below).
  SmallVector<bool> reversed(st.size(), false);
  for (size_t i = 0; i < st.size(); ++i) {
    int64_t s = st[i];
    if (ShapedType::isDynamic(s) || s > 0) continue;
    if (s == 0) {
      emitError(e.loc) << "not yet supported: slices with a zero step";
      throw Unsupported{};
    }
    reversed[i] = true;
    auto co = getConstantIntValue(offs[i]), cs = getConstantIntValue(sizes[i]);
    if (co && cs) {
      offs[i] = e.b.getIndexAttr(*co + (*cs > 0 ? (*cs - 1) * s : 0));
    } else {
      Value idx = getValueOrCreateConstantIndexOp(e.b, e.loc, offs[i]);
      Value n = getValueOrCreateConstantIndexOp(e.b, e.loc, sizes[i]);
      Value one = e.b.create<arith::ConstantIndexOp>(e.loc, 1);
      Value last = e.b.create<arith::MaxSIOp>(e.loc, e.b.create<arith::SubIOp>(e.loc, n, one), e.b.create<arith::ConstantIndexOp>(e.loc, 0));
      offs[i] = e.b.create<arith::AddIOp>(e.loc, idx, e.b.create<arith::MulIOp>(e.loc, last, e.b.create<arith::ConstantIndexOp>(e.loc, s))).getResult();
    }
    strides[i] = e.b.getIndexAttr(-s);
  }
  // The result type may be less static than the sizes (`x[::2]` types as `?`): slice to the
  // static type the sizes give, then cast.
  SmallVector<int64_t> shape(rt.getShape());
  auto drop = op->getAttrOfType<DenseI64ArrayAttr>("drop_dims");
  int64_t r = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(sizes.size()) && r < rt.getRank(); ++i) {
    if (drop && llvm::is_contained(drop.asArrayRef(), i)) continue;
    if (auto c = getConstantIntValue(sizes[i]); c && ShapedType::isDynamic(shape[r])) shape[r] = *c;
    ++r;
  }
  auto st2 = RankedTensorType::get(shape, rt.getElementType());
  // Which unit axes a rank-reducing slice drops is ambiguous when a kept axis has size 1 too
  // (x[6:7:4, 0]): MLIR may drop the other one, and the strided metadata of the view is then
  // wrong (expand-strided-metadata fails). Slice without dropping, then collapse the axes.
  bool ambiguous = false;
  if (drop && !drop.empty())
    for (int64_t i = 0; i < static_cast<int64_t>(sizes.size()); ++i)
      if (!llvm::is_contained(drop.asArrayRef(), i))
        if (auto c = getConstantIntValue(sizes[i]); c && *c == 1) ambiguous = true;
  Value v;
  if (ambiguous) {
    SmallVector<int64_t> full;
    SmallVector<ReassociationIndices> groups;
    ReassociationIndices pending;
    for (int64_t i = 0, j = 0; i < static_cast<int64_t>(sizes.size()); ++i) {
      bool dropped = llvm::is_contained(drop.asArrayRef(), i);
      full.push_back(dropped ? 1 : shape[j]);
      pending.push_back(i);
      if (!dropped) {
        groups.push_back(pending);
        pending.clear();
        ++j;
      }
    }
    if (!pending.empty() && !groups.empty()) groups.back().append(pending.begin(), pending.end());
    auto ft = RankedTensorType::get(full, rt.getElementType());
    Value whole = e.b.create<tensor::ExtractSliceOp>(e.loc, ft, x, offs, sizes, strides);
    v = e.b.create<tensor::CollapseShapeOp>(e.loc, st2, whole, groups);
  } else {
    v = e.b.create<tensor::ExtractSliceOp>(e.loc, st2, x, offs, sizes, strides);
  }
  // Reverse the axes of negative steps (a dropped axis has one element: nothing to do).
  SmallVector<int64_t> rev;
  for (int64_t i = 0, j = 0; i < static_cast<int64_t>(sizes.size()); ++i) {
    if (drop && llvm::is_contained(drop.asArrayRef(), i)) continue;
    if (reversed[i]) rev.push_back(j);
    ++j;
  }
  if (!rev.empty()) {
    int64_t n = st2.getRank();
    SmallVector<Value> last(n);
    for (int64_t j : rev)
      last[j] = e.b.create<arith::SubIOp>(e.loc, e.dim(v, j), e.b.create<arith::ConstantIndexOp>(e.loc, 1));
    Value src = v;
    Value init = e.empty(st2, [&](int64_t j) { return e.dim(src, j); });
    v = e.generic({}, {init}, {e.b.getMultiDimIdentityMap(n)}, SmallVector<IterKind>(n, IterKind::parallel),
                  [&](OpBuilder& B, Location l, ValueRange) {
                    SmallVector<Value> at;
                    for (int64_t j = 0; j < n; ++j) {
                      Value i = B.create<linalg::IndexOp>(l, j);
                      at.push_back(last[j] ? B.create<arith::SubIOp>(l, last[j], i).getResult() : i);
                    }
                    return SmallVector<Value>{B.create<tensor::ExtractOp>(l, src, at)};
                  })[0];
  }
  return st2 == rt ? v : e.b.create<tensor::CastOp>(e.loc, rt, v).getResult();
}

// Creation --------------------------------------------------------------------

Value lower_fill(Emitter& e, Operation* op, double value) {
  RankedTensorType rt = result_type(op);
  SmallVector<Value> dyn(op->getOperands().begin(), op->getOperands().end());
  size_t d = 0;
  Value init = e.empty(rt, [&](int64_t) { return dyn[d++]; });
  return e.fill(init, e.constant(rt.getElementType(), value));
}

Value lower_arange(Emitter& e, Operation* op) {
  RankedTensorType rt = result_type(op);
  double start = op->getAttrOfType<FloatAttr>("start").getValueAsDouble();
  double step = op->getAttrOfType<FloatAttr>("step").getValueAsDouble();
  SmallVector<Value> dyn(op->getOperands().begin(), op->getOperands().end());
  size_t d = 0;
  Value init = e.empty(rt, [&](int64_t) { return dyn[d++]; });
  Type elt = rt.getElementType();
  Type ct = isa<FloatType>(elt) ? Type(e.b.getF64Type()) : elt;
  return e.generic({}, {init}, {e.b.getMultiDimIdentityMap(1)}, {IterKind::parallel}, [&](OpBuilder&, Location, ValueRange) {
           Value i = e.cast_scalar(e.b.create<linalg::IndexOp>(e.loc, 0), isa<FloatType>(ct) ? ct : Type(e.b.getI64Type()));
           Value v = scalar_binary(e, "add", e.cast_scalar(e.constant(e.b.getF64Type(), start), isa<FloatType>(ct) ? ct : Type(e.b.getI64Type())),
                                   scalar_binary(e, "mul", i, e.cast_scalar(e.constant(e.b.getF64Type(), step), isa<FloatType>(ct) ? ct : Type(e.b.getI64Type()))));
           return SmallVector<Value>{e.cast_scalar(v, elt)};
         })[0];
}

// Checks and norms ------------------------------------------------------------------

Value all_axes_reduce(Emitter& e, Value x, Type acc, Value init, const Emitter::Body& body) {
  auto xt = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> axes;
  for (int64_t i = 0; i < xt.getRank(); ++i) axes.push_back(i);
  return e.reduction(x, axes, acc, init, {}, body);
}

Value lower_check(Emitter& e, Operation* op, bool nan) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  Value x = op->getOperand(0);
  return all_axes_reduce(e, x, B.getI1Type(), e.constant(B.getI1Type(), 0), [&](OpBuilder&, Location, ValueRange a) {
    Value v = a[0];
    Value hit = nan ? B.create<arith::CmpFOp>(l, arith::CmpFPredicate::UNO, v, v).getResult()
                    : is_inf(e, v);
    return B.create<arith::OrIOp>(l, hit, a[1]).getResult();
  });
}

Value lower_l2norm(Emitter& e, Operation* op) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  RankedTensorType rt = result_type(op);
  Type ct = Emitter::compute_type(rt.getElementType(), accum_of(op));
  Value ss = all_axes_reduce(e, op->getOperand(0), ct, e.zero(ct), [&](OpBuilder&, Location, ValueRange a) {
    Value v = e.cast_scalar(a[0], ct);
    return B.create<arith::AddFOp>(l, B.create<arith::MulFOp>(l, v, v), a[1]).getResult();
  });
  return e.map(ss, rt.getElementType(), [&](OpBuilder&, Location, ValueRange a) {
    return e.cast_scalar(B.create<math::SqrtOp>(l, a[0]), rt.getElementType());
  });
}

// Printing ----------------------------------------------------------------------
//
// `tessera.print` becomes calls of the runtime's line printer (runtime/src/codegen_abi.cpp):
// tessPrintBeginLine(), one tessPrintAdd*(...) per format entry, tessPrintEndLine(). Literal
// strings are constant memref globals; tensors are passed as unranked memrefs, one entry
// point per element type.

// The runtime's entries only read the tensors they are given.
void mark_read_only(func::FuncOp f) {
  for (unsigned i = 0; i < f.getNumArguments(); ++i)
    if (isa<TensorType>(f.getArgumentTypes()[i]))
      f.setArgAttr(i, "bufferization.access", StringAttr::get(f.getContext(), "read"));
}

func::FuncOp runtime_function(ModuleOp module, StringRef name, TypeRange inputs) {
  if (auto f = module.lookupSymbol<func::FuncOp>(name)) return f;
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToStart(module.getBody());
  auto f = b.create<func::FuncOp>(module.getLoc(), name, b.getFunctionType(inputs, {}));
  f.setPrivate();
  mark_read_only(f);
  return f;
}

std::string element_suffix(Type t) {
  if (t.isF32()) return "f32";
  if (t.isF64()) return "f64";
  if (t.isF16()) return "f16";
  if (t.isBF16()) return "bf16";
  if (t.isInteger(1)) return "i1";
  if (t.isInteger(8)) return "i8";
  if (t.isInteger(16)) return "i16";
  if (t.isInteger(32)) return "i32";
  if (t.isInteger(64)) return "i64";
  return "";
}

func::FuncOp runtime_function(ModuleOp module, StringRef name, TypeRange inputs, TypeRange results) {
  if (auto f = module.lookupSymbol<func::FuncOp>(name)) return f;
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToStart(module.getBody());
  auto f = b.create<func::FuncOp>(module.getLoc(), name, b.getFunctionType(inputs, results));
  f.setPrivate();
  mark_read_only(f);
  return f;
}

// A constant string as a memref<?xi8> (a private global), the form the runtime's entries take.
Value string_memref(Emitter& e, ModuleOp module, StringRef text, int& counter) {
  OpBuilder& b = e.b;
  std::string name = fmt::format("__tess_str{}", counter++);
  while (module.lookupSymbol(name)) name = fmt::format("__tess_str{}", counter++);
  auto type = MemRefType::get({static_cast<int64_t>(text.size())}, b.getI8Type());
  {
    OpBuilder gb(module.getBodyRegion());
    gb.setInsertionPointToStart(module.getBody());
    SmallVector<int8_t> bytes(text.begin(), text.end());
    auto init = DenseElementsAttr::get(RankedTensorType::get(type.getShape(), b.getI8Type()), ArrayRef<int8_t>(bytes));
    gb.create<memref::GlobalOp>(e.loc, name, gb.getStringAttr("private"), type, init, /*constant=*/true, IntegerAttr{});
  }
  Value g = b.create<memref::GetGlobalOp>(e.loc, type, name);
  auto dyn = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  return b.create<memref::CastOp>(e.loc, dyn, g);
}

// A tensor as an unranked tensor, the form the runtime's entries take (they receive an unranked
// memref: rank and descriptor). The runtime function reads it (runtime_function marks tensor
// parameters `bufferization.access = "read"`), so bufferization sees the read where the call is.
// (A `bufferization.to_memref` here was unsafe: CSE merged two of them, and the second call then
// read a buffer that an in-place op had overwritten in between.)
Value unranked_view(Emitter& e, Value v) {
  auto rt = cast<RankedTensorType>(v.getType());
  return e.b.create<tensor::CastOp>(e.loc, UnrankedTensorType::get(rt.getElementType()), v);
}

void print_string(Emitter& e, ModuleOp module, StringRef text, int& counter) {
  OpBuilder& b = e.b;
  Value d = string_memref(e, module, text, counter);
  auto dyn = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  b.create<func::CallOp>(e.loc, runtime_function(module, "tessPrintAddStr", {dyn}), ValueRange{d});
}

void print_value(Emitter& e, ModuleOp module, Value v) {
  OpBuilder& b = e.b;
  Type t = v.getType();
  if (auto rt = dyn_cast<RankedTensorType>(t)) {
    if (rt.getRank() == 0) {
      // A rank-0 tensor prints as a scalar of its dtype.
      Value x = b.create<tensor::ExtractOp>(e.loc, v, ValueRange{});
      if (rt.getElementType().isF32() || Emitter::is_half(rt.getElementType())) {
        Value f = e.cast_scalar(x, b.getF32Type());
        b.create<func::CallOp>(e.loc, runtime_function(module, "tessPrintAddF32", {b.getF32Type()}), ValueRange{f});
        return;
      }
      return print_value(e, module, x);
    }
    std::string suffix = element_suffix(rt.getElementType());
    if (suffix.empty()) {
      emitError(e.loc) << "not yet supported: printing a tensor of " << rt.getElementType();
      throw Unsupported{};
    }
    Value u = unranked_view(e, v);
    b.create<func::CallOp>(e.loc, runtime_function(module, "tessPrintAddMemref_" + suffix, {u.getType()}), ValueRange{u});
    return;
  }
  if (t.isInteger(1)) {
    // i32, not i1: C callers and callees agree on how an int is passed.
    Value i = b.create<arith::ExtUIOp>(e.loc, b.getI32Type(), v);
    b.create<func::CallOp>(e.loc, runtime_function(module, "tessPrintAddBool", {b.getI32Type()}), ValueRange{i});
    return;
  }
  if (auto it = dyn_cast<IntegerType>(t)) {
    Value x = e.cast_scalar(v, b.getI64Type());
    b.create<func::CallOp>(e.loc, runtime_function(module, "tessPrintAddI64", {b.getI64Type()}), ValueRange{x});
    return;
  }
  if (isa<IndexType>(t)) return print_value(e, module, e.cast_scalar(v, b.getI64Type()));
  if (t.isF64()) {
    b.create<func::CallOp>(e.loc, runtime_function(module, "tessPrintAddF64", {t}), ValueRange{v});
    return;
  }
  if (isa<FloatType>(t)) {
    Value f = e.cast_scalar(v, b.getF32Type());
    b.create<func::CallOp>(e.loc, runtime_function(module, "tessPrintAddF32", {b.getF32Type()}), ValueRange{f});
    return;
  }
  emitError(e.loc) << "not yet supported: printing a value of type " << t;
  throw Unsupported{};
}

void lower_print(Operation* op, int& counter) {
  OpBuilder b(op);
  Emitter e(b, op->getLoc());
  auto module = op->getParentOfType<ModuleOp>();
  auto format = op->getAttrOfType<ArrayAttr>("format");
  b.create<func::CallOp>(e.loc, runtime_function(module, "tessPrintBeginLine", {}), ValueRange{});
  // One format string per print() argument; the runtime puts one space between them.
  unsigned next = 0;
  for (Attribute a : format) {
    StringRef s = cast<StringAttr>(a).getValue();
    if (s == "{}" && next < op->getNumOperands()) {
      print_value(e, module, op->getOperand(next++));
      continue;
    }
    auto segments = td::PrintOp::parseFormat(b.getArrayAttr({a}));
    std::string text;
    bool literal = succeeded(segments);
    if (literal)
      for (const auto& seg : *segments) {
        if (seg.isValue) literal = false;
        text += seg.text;
      }
    if (!literal) {
      emitError(e.loc) << "not yet supported: formatted values in print ('" << s << "')";
      throw Unsupported{};
    }
    print_string(e, module, text, counter);
  }
  b.create<func::CallOp>(e.loc, runtime_function(module, "tessPrintEndLine", {}), ValueRange{});
  op->erase();
}

// randn / rand: a buffer filled by the runtime's Philox streams (tessFillRandom_<t>, the same
// numbers for a (seed, offset) on every machine and thread count), viewed as a tensor.
Value random_tensor(Emitter& e, ModuleOp module, RankedTensorType rt, ValueRange dyn, int64_t seed, int64_t offset,
                    bool normal) {
  OpBuilder& b = e.b;
  Type elt = rt.getElementType();
  if (elt.isF16() || elt.isBF16()) {
    // f16/bf16 storage: the f32 stream rounded to the narrow type, so a seed gives the same
    // numbers in every float type up to rounding.
    Value wide = random_tensor(e, module, RankedTensorType::get(rt.getShape(), b.getF32Type()), dyn, seed, offset, normal);
    return e.elementwise(rt, {wide}, [&](OpBuilder&, Location, ValueRange a) { return e.cast_scalar(a[0], elt); });
  }
  if (!elt.isF32() && !elt.isF64()) {
    emitError(e.loc) << "not yet supported: random tensors of " << elt;
    throw Unsupported{};
  }
  auto mt = MemRefType::get(rt.getShape(), elt);
  Value buf = b.create<memref::AllocOp>(e.loc, mt, dyn, b.getI64IntegerAttr(64));
  Value flat = buf;
  if (rt.getRank() == 0) {
    // A scalar: the 0-d buffer seen as one element.
    flat = b.create<memref::ExpandShapeOp>(e.loc, MemRefType::get({1}, elt), buf, SmallVector<ReassociationIndices>{});
  } else if (rt.getRank() > 1) {
    ReassociationIndices all;
    for (int64_t i = 0; i < rt.getRank(); ++i) all.push_back(i);
    flat = b.create<memref::CollapseShapeOp>(e.loc, buf, SmallVector<ReassociationIndices>{all});
  }
  auto dyn1 = MemRefType::get({ShapedType::kDynamic}, elt);
  Value view = b.create<memref::CastOp>(e.loc, dyn1, flat);
  std::string fn = std::string("tessFillRandom_") + (elt.isF32() ? "f32" : "f64");
  Type i64 = b.getI64Type();
  b.create<func::CallOp>(e.loc, runtime_function(module, fn, {i64, i64, b.getI32Type(), dyn1}),
                         ValueRange{e.constant(i64, static_cast<double>(seed)), e.constant(i64, static_cast<double>(offset)),
                                    e.constant(b.getI32Type(), normal ? 1 : 0), view});
  return b.create<bufferization::ToTensorOp>(e.loc, rt, buf, /*restrict=*/true, /*writable=*/true);
}

Value lower_random(Emitter& e, Operation* op, bool normal) {
  auto seed = op->getAttrOfType<IntegerAttr>("seed");
  auto offset = op->getAttrOfType<IntegerAttr>("offset");
  return random_tensor(e, op->getParentOfType<ModuleOp>(), result_type(op), op->getOperands(), seed ? seed.getInt() : 0,
                       offset ? offset.getInt() : 0, normal);
}

// dropout: keep an element with probability 1 - p and scale it by 1 / (1 - p).
Value lower_dropout(Emitter& e, Operation* op) {
  RankedTensorType rt = result_type(op);
  Value x = op->getOperand(0);
  double p = op->getAttrOfType<FloatAttr>("p").getValueAsDouble();
  int64_t seed = op->getAttrOfType<IntegerAttr>("seed").getInt();
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rt.getRank(); ++i)
    if (rt.isDynamicDim(i)) dyn.push_back(e.dim(x, i));
  Type ct = Emitter::compute_type(rt.getElementType());
  Type ut = ct.isF64() ? ct : Type(e.b.getF32Type());
  Value u = random_tensor(e, op->getParentOfType<ModuleOp>(), RankedTensorType::get(rt.getShape(), ut), dyn, seed, 0, false);
  return e.elementwise(rt, {x, u}, [&](OpBuilder&, Location, ValueRange a) {
    Value keep = e.b.create<arith::CmpFOp>(e.loc, arith::CmpFPredicate::OGE, a[1], e.constant(ut, p));
    Value scaled = scalar_binary(e, "mul", e.cast_scalar(a[0], ct), e.constant(ct, p < 1 ? 1.0 / (1.0 - p) : 0.0));
    return e.cast_scalar(e.b.create<arith::SelectOp>(e.loc, keep, scaled, e.zero(ct)), rt.getElementType());
  });
}

// Pads the two spatial dimensions of an NCHW tensor with `value`.
Value pad_spatial(Emitter& e, Value x, ArrayRef<int64_t> pad, Value value) {
  if (pad[0] == 0 && pad[1] == 0) return x;
  auto xt = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> shape(xt.getShape().begin(), xt.getShape().end());
  for (int i = 0; i < 2; ++i)
    if (!ShapedType::isDynamic(shape[2 + i])) shape[2 + i] += 2 * pad[i];
  SmallVector<OpFoldResult> lo{e.b.getIndexAttr(0), e.b.getIndexAttr(0), e.b.getIndexAttr(pad[0]), e.b.getIndexAttr(pad[1])};
  return e.b.create<tensor::PadOp>(e.loc, RankedTensorType::get(shape, xt.getElementType()), x, lo, lo, value);
}

DenseIntElementsAttr pair_attr(OpBuilder& b, ArrayRef<int64_t> v) {
  return DenseIntElementsAttr::get(VectorType::get({2}, b.getI64Type()), v);
}

// Splits dimension `axis` of `v` into [parts, size / parts] (tensor.expand_shape).
Value split_dim(Emitter& e, Value v, int64_t axis, int64_t parts) {
  auto vt = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape;
  SmallVector<OpFoldResult> sizes;
  SmallVector<ReassociationIndices> groups;
  for (int64_t i = 0; i < vt.getRank(); ++i) {
    int64_t d = vt.getDimSize(i);
    int64_t out = static_cast<int64_t>(shape.size());
    if (i != axis) {
      shape.push_back(d);
      sizes.push_back(ShapedType::isDynamic(d) ? OpFoldResult(e.dim(v, i)) : OpFoldResult(e.b.getIndexAttr(d)));
      groups.push_back({out});
      continue;
    }
    shape.push_back(parts);
    sizes.push_back(e.b.getIndexAttr(parts));
    if (ShapedType::isDynamic(d)) {
      shape.push_back(ShapedType::kDynamic);
      sizes.push_back(e.b.create<arith::DivSIOp>(e.loc, e.dim(v, i), e.constant(e.b.getIndexType(), parts)).getResult());
    } else {
      shape.push_back(d / parts);
      sizes.push_back(e.b.getIndexAttr(d / parts));
    }
    groups.push_back({out, out + 1});
  }
  return e.b.create<tensor::ExpandShapeOp>(e.loc, RankedTensorType::get(shape, vt.getElementType()), v, groups, sizes);
}

// Merges dimensions `axis` and `axis + 1` of `v` into `result` (tensor.collapse_shape).
Value merge_dims(Emitter& e, Value v, int64_t axis, RankedTensorType result) {
  auto vt = cast<RankedTensorType>(v.getType());
  SmallVector<ReassociationIndices> groups;
  for (int64_t i = 0; i < vt.getRank(); ++i) {
    if (i == axis + 1) continue;
    if (i == axis) groups.push_back({i, i + 1});
    else groups.push_back({i});
  }
  return e.b.create<tensor::CollapseShapeOp>(e.loc, result, v, groups);
}

Value grouped_conv(Emitter& e, Value x, Value w, RankedTensorType rt, Type ct, int64_t groups, Attribute strides,
                   Attribute dilations) {
  Value xg = split_dim(e, x, 1, groups);  // [N, G, C/G, H, W]
  Value wg = split_dim(e, w, 0, groups);  // [G, O/G, C/G, KH, KW]
  auto wgt = cast<RankedTensorType>(wg.getType());
  SmallVector<int64_t> shape{rt.getDimSize(0), groups, wgt.getDimSize(1), rt.getDimSize(2), rt.getDimSize(3)};
  auto acc_t = RankedTensorType::get(shape, ct);
  Value init = e.fill(e.empty(acc_t, [&](int64_t j) -> Value { return j == 0 ? e.dim(x, 0) : e.dim(wg, 1); }), e.zero(ct));
  Value y = e.b.create<linalg::Conv2DNgchwGfchwOp>(e.loc, TypeRange{acc_t}, ValueRange{xg, wg}, ValueRange{init}, strides,
                                                   dilations)
                .getResult(0);
  return merge_dims(e, y, 1, RankedTensorType::get(rt.getShape(), ct));
}

// A convolution without groups as one GEMM (the CPU matmul schedule's packed, vectorized,
// parallel kernel) over the input's patches, x already zero-padded. Two forms, by which walks
// the source contiguously over the longer run in the gather that writes the patches:
//  - the output is at least as wide as the kernel (an ordinary convolution, and the input
//    gradient's): the patches K-major, the output channels as the GEMM's rows,
//      cols[(c, i, j), (n, y, x)] = xp[n, c, y*sh + i*dh, x*sw + j*dw]  (vector rows of xp)
//      out[o, (n, y, x)]          = w[o, (c, i, j)] @ cols                (B packed row by row,
//                                                                          A small, in cache)
//      y[n, o, y, x]              = out[o, n Ho Wo + y Wo + x] (+ bias)   (contiguous rows);
//    with few output channels the schedule runs the column blocks in parallel;
//  - the kernel is wider (the weight gradient's convolution, whose "kernel" is the output's
//    cotangent, and whose output is the 3x3 filter): the patches row-major, pixels as rows,
//      cols[(n, y, x), (c, i, j)] = xp[...]                            (vector runs along j)
//      out[(n, y, x), o]          = cols @ w[o, (c, i, j)]^T
//      y[n, o, y, x]              = out[n Ho Wo + y Wo + x, o] (+ bias).
// The last pass reads the GEMM's result through an affine map, not a reshape: a reshape would be
// propagated into the contraction and split it into many small products. Returns the result in
// `ct`, bias added.
Value conv2d_as_gemm(Emitter& e, Value x, Value w, Value bias, RankedTensorType rt, Type ct, ArrayRef<int64_t> stride,
                     ArrayRef<int64_t> dilation) {
  OpBuilder& B = e.b;
  MLIRContext* ctx = B.getContext();
  auto wt = cast<RankedTensorType>(w.getType());
  int64_t o = wt.getDimSize(0), c = wt.getDimSize(1), kh = wt.getDimSize(2), kw = wt.getDimSize(3);
  int64_t ho = rt.getDimSize(2), wo = rt.getDimSize(3), n = rt.getDimSize(0);
  auto d = [&](unsigned i) { return B.getAffineDimExpr(i); };
  auto copy = [&](OpBuilder&, Location, ValueRange v) { return SmallVector<Value>{v[0]}; };
  bool rows_inner = kw > wo;
  int64_t rows = ShapedType::isDynamic(n) ? ShapedType::kDynamic : n * ho * wo;
  int64_t depth = c * kh * kw;
  auto w2_t = RankedTensorType::get({o, depth}, ct);
  Value w2 = B.create<tensor::CollapseShapeOp>(e.loc, w2_t, w, SmallVector<ReassociationIndices>{{0}, {1, 2, 3}});
  Value out;
  AffineExpr pixel = d(0) * (ho * wo) + d(2) * wo + d(3);  // loops (n, o, y, x) of the result
  AffineMap read_out;
  // The patches as a 2-D [first, second] matrix: loops over the six dims in `order` (positions
  // of n, y, x, c, i, j among the loops), the gather reading xp[n, c, y*sh + i*dh, x*sw + j*dw].
  auto patches = [&](std::array<unsigned, 6> at, int64_t first, int64_t second) {
    SmallVector<int64_t> shape(6);
    int64_t sizes[6] = {n, ho, wo, c, kh, kw};
    for (int k = 0; k < 6; ++k) shape[at[k]] = sizes[k];
    Value init = e.empty(RankedTensorType::get(shape, ct), [&](int64_t) { return e.dim(x, 0); });
    AffineMap gather = AffineMap::get(6, 0, {d(at[0]), d(at[3]), d(at[1]) * stride[0] + d(at[4]) * dilation[0],
                                             d(at[2]) * stride[1] + d(at[5]) * dilation[1]}, ctx);
    Value cols = e.generic({x}, {init}, {gather, B.getMultiDimIdentityMap(6)}, SmallVector<IterKind>(6, IterKind::parallel),
                           copy)[0];
    return B.create<tensor::CollapseShapeOp>(e.loc, RankedTensorType::get({first, second}, ct), cols,
                                             SmallVector<ReassociationIndices>{{0, 1, 2}, {3, 4, 5}})
        .getResult();
  };
  if (rows_inner) {
    Value a = patches({0, 1, 2, 3, 4, 5}, rows, depth);  // loops (n, y, x, c, i, j)
    // w as [C KH KW, O] (a small copy: B of the GEMM is read along its rows).
    auto wT_t = RankedTensorType::get({depth, o}, ct);
    Value wT = B.create<linalg::TransposeOp>(e.loc, w2, e.empty(wT_t, [&](int64_t) -> Value { return {}; }),
                                             ArrayRef<int64_t>{1, 0})
                   .getResult()[0];
    out = matmul_values(e, a, wT, RankedTensorType::get({rows, o}, ct), Type());
    read_out = AffineMap::get(4, 0, {pixel, d(1)}, ctx);
  } else {
    Value b = patches({3, 4, 5, 0, 1, 2}, depth, rows);  // loops (c, i, j, n, y, x)
    out = matmul_values(e, w2, b, RankedTensorType::get({o, rows}, ct), Type());
    read_out = AffineMap::get(4, 0, {d(1), pixel}, ctx);
  }
  auto res_t = RankedTensorType::get(rt.getShape(), ct);
  Value res_init = e.empty(res_t, [&](int64_t) { return e.dim(x, 0); });
  SmallVector<Value> ins{out};
  SmallVector<AffineMap> maps{read_out};
  if (bias) {
    ins.push_back(bias);
    maps.push_back(AffineMap::get(4, 0, {d(1)}, ctx));
  }
  maps.push_back(B.getMultiDimIdentityMap(4));
  return e.generic(ins, {res_init}, maps, SmallVector<IterKind>(4, IterKind::parallel),
                   [&](OpBuilder&, Location, ValueRange a) {
                     Value v = a[0];
                     if (bias) v = scalar_binary(e, "add", v, e.cast_scalar(a[1], ct));
                     return SmallVector<Value>{v};
                   })[0];
}

// conv2d, NCHW input and OIHW weight, over a zero-padded input: without groups one GEMM over the
// patches (conv2d_as_gemm); grouped, linalg.conv_2d_ngchw_gfchw.
Value lower_conv2d(Emitter& e, Operation* op) {
  RankedTensorType rt = result_type(op);
  int64_t groups = op->getAttrOfType<IntegerAttr>("groups").getInt();
  Type ct = Emitter::compute_type(rt.getElementType(), accum_of(op));
  Value x = e.convert(op->getOperand(0), ct), w = e.convert(op->getOperand(1), ct);
  x = pad_spatial(e, x, op->getAttrOfType<DenseI64ArrayAttr>("padding").asArrayRef(), e.zero(ct));
  for (int64_t j = 2; j < 4; ++j)
    if (rt.isDynamicDim(j)) {
      emitError(e.loc) << "not yet supported: convolution with dynamic spatial sizes";
      throw Unsupported{};
    }
  Attribute strides = pair_attr(e.b, op->getAttrOfType<DenseI64ArrayAttr>("stride").asArrayRef());
  Attribute dilations = pair_attr(e.b, op->getAttrOfType<DenseI64ArrayAttr>("dilation").asArrayRef());
  Value y;
  auto wt = cast<RankedTensorType>(w.getType());
  if (groups == 1 && wt.hasStaticShape()) {
    Value bias = op->getNumOperands() > 2 ? op->getOperand(2) : Value();
    y = conv2d_as_gemm(e, x, w, bias, rt, ct, op->getAttrOfType<DenseI64ArrayAttr>("stride").asArrayRef(),
                       op->getAttrOfType<DenseI64ArrayAttr>("dilation").asArrayRef());
    return e.convert(y, rt.getElementType());
  } else if (groups == 1) {
    // Dynamic channels (or a dynamic "kernel": the weight gradient's convolution of a batch of
    // dynamic size): linalg.conv_2d_nchw_fchw, loops.
    auto acc_t = RankedTensorType::get(rt.getShape(), ct);
    Value init = e.fill(e.empty(acc_t, [&](int64_t j) -> Value { return j == 0 ? e.dim(x, 0) : e.dim(w, 0); }), e.zero(ct));
    y = e.b.create<linalg::Conv2DNchwFchwOp>(e.loc, TypeRange{acc_t}, ValueRange{x, w}, ValueRange{init}, strides, dilations)
            .getResult(0);
  } else {
    // Grouped (depthwise when groups == channels): the channels of x split into [G, C/G] and the
    // filters into [G, O/G], then linalg.conv_2d_ngchw_gfchw, whose result [N, G, O/G, Ho, Wo]
    // collapses back to [N, O, Ho, Wo].
    y = grouped_conv(e, x, w, rt, ct, groups, strides, dilations);
  }
  if (op->getNumOperands() > 2) {
    Value bias = op->getOperand(2);
    int64_t n = 4;
    AffineMap bm = AffineMap::get(n, 0, {e.b.getAffineDimExpr(1)}, e.b.getContext());
    Value out = e.empty(rt, [&](int64_t j) { return e.dim(y, j); });
    return e.generic({y, bias}, {out}, {e.b.getMultiDimIdentityMap(n), bm, e.b.getMultiDimIdentityMap(n)},
                     SmallVector<IterKind>(n, IterKind::parallel), [&](OpBuilder&, Location, ValueRange a) {
                       Value v = scalar_binary(e, "add", a[0], e.cast_scalar(a[1], ct));
                       return SmallVector<Value>{e.cast_scalar(v, rt.getElementType())};
                     })[0];
  }
  return e.convert(y, rt.getElementType());
}

// max / average pooling (average counts the padding, as PyTorch's default).
Value pool_values(Emitter& e, Value x0, RankedTensorType rt, ArrayRef<int64_t> kernel, ArrayRef<int64_t> stride,
                  ArrayRef<int64_t> pad, bool max) {
  Type ct = Emitter::compute_type(rt.getElementType());
  Value x = e.convert(x0, ct);
  x = pad_spatial(e, x, pad, max ? e.lowest(ct) : e.zero(ct));
  auto acc_t = RankedTensorType::get(rt.getShape(), ct);
  Value init = e.fill(e.empty(acc_t, [&](int64_t j) -> Value {
                        if (j < 2) return e.dim(x, j);
                        emitError(e.loc) << "not yet supported: pooling with dynamic spatial sizes";
                        throw Unsupported{};
                      }),
                      max ? e.lowest(ct) : e.zero(ct));
  Value window = e.b.create<tensor::EmptyOp>(e.loc, kernel, ct);
  Attribute s = pair_attr(e.b, stride), d = pair_attr(e.b, {1, 1});
  Value y = max ? e.b.create<linalg::PoolingNchwMaxOp>(e.loc, TypeRange{acc_t}, ValueRange{x, window}, ValueRange{init}, s, d)
                      .getResult(0)
                : e.b.create<linalg::PoolingNchwSumOp>(e.loc, TypeRange{acc_t}, ValueRange{x, window}, ValueRange{init}, s, d)
                      .getResult(0);
  if (!max) {
    Value n = e.constant(ct, static_cast<double>(kernel[0] * kernel[1]));
    y = e.map(y, ct, [&](OpBuilder&, Location, ValueRange a) { return scalar_binary(e, "div", a[0], n); });
  }
  return e.convert(y, rt.getElementType());
}

Value lower_pool(Emitter& e, Operation* op, bool max) {
  return pool_values(e, op->getOperand(0), result_type(op), op->getAttrOfType<DenseI64ArrayAttr>("kernel").asArrayRef(),
                     op->getAttrOfType<DenseI64ArrayAttr>("stride").asArrayRef(),
                     op->getAttrOfType<DenseI64ArrayAttr>("padding").asArrayRef(), max);
}

// Adaptive average pooling where the output size does not divide the input, as PyTorch: output
// cell i of an axis of size `in` averages input rows [floor(i * in / out), ceil((i + 1) * in / out)).
// The windows differ in size (by one at most), so this is one reduction over a window of the
// largest size, masked per cell, then a division by each cell's own count.
Value uneven_adaptive_pool(Emitter& e, Value x0, RankedTensorType rt, ArrayRef<int64_t> in, ArrayRef<int64_t> out) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  Type ct = Emitter::compute_type(rt.getElementType());
  Value x = e.convert(x0, ct);
  int64_t window[2];
  for (int a = 0; a < 2; ++a) {
    window[a] = 0;
    for (int64_t i = 0; i < out[a]; ++i) {
      int64_t start = i * in[a] / out[a], end = ((i + 1) * in[a] + out[a] - 1) / out[a];
      window[a] = std::max(window[a], end - start);
    }
  }
  Type idx = B.getIndexType();
  auto cidx = [&](int64_t v) { return e.constant(idx, static_cast<double>(v)); };
  // [start, end) of output cell `i` on axis a.
  auto bounds = [&](int a, Value i) {
    Value start = B.create<arith::DivUIOp>(l, B.create<arith::MulIOp>(l, i, cidx(in[a])), cidx(out[a]));
    Value next = B.create<arith::AddIOp>(l, i, cidx(1));
    Value end = B.create<arith::DivUIOp>(
        l, B.create<arith::AddIOp>(l, B.create<arith::MulIOp>(l, next, cidx(in[a])), cidx(out[a] - 1)), cidx(out[a]));
    return std::pair<Value, Value>{start, end};
  };
  auto acc_t = RankedTensorType::get(rt.getShape(), ct);
  Value init = e.fill(e.empty(acc_t, [&](int64_t j) { return e.dim(x, j); }), e.zero(ct));
  Value win = B.create<tensor::EmptyOp>(l, ArrayRef<int64_t>{window[0], window[1]}, ct);
  MLIRContext* ctx = B.getContext();
  AffineMap wm = AffineMap::get(6, 0, {B.getAffineDimExpr(4), B.getAffineDimExpr(5)}, ctx);
  AffineMap om = AffineMap::get(6, 0, {B.getAffineDimExpr(0), B.getAffineDimExpr(1), B.getAffineDimExpr(2), B.getAffineDimExpr(3)}, ctx);
  SmallVector<IterKind> iters(4, IterKind::parallel);
  iters.push_back(IterKind::reduction);
  iters.push_back(IterKind::reduction);
  Value sum = e.generic({win}, {init}, {wm, om}, iters, [&](OpBuilder&, Location, ValueRange a) {
    SmallVector<Value> at{B.create<linalg::IndexOp>(l, 0), B.create<linalg::IndexOp>(l, 1)};
    Value valid;
    for (int k = 0; k < 2; ++k) {
      auto [start, end] = bounds(k, B.create<linalg::IndexOp>(l, 2 + k));
      Value pos = B.create<arith::AddIOp>(l, start, B.create<linalg::IndexOp>(l, 4 + k));
      Value inside = B.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, pos, end);
      valid = valid ? B.create<arith::AndIOp>(l, valid, inside).getResult() : inside;
      at.push_back(B.create<arith::MinUIOp>(l, pos, cidx(in[k] - 1)));  // in bounds even where masked
    }
    Value v = B.create<tensor::ExtractOp>(l, x, at);
    Value add = B.create<arith::SelectOp>(l, valid, v, e.zero(ct));
    return SmallVector<Value>{B.create<arith::AddFOp>(l, a[1], add)};
  })[0];
  return e.elementwise(rt, {sum}, [&](OpBuilder&, Location, ValueRange a) {
    Value count = cidx(1);
    for (int k = 0; k < 2; ++k) {
      auto [start, end] = bounds(k, B.create<linalg::IndexOp>(l, 2 + k));
      count = B.create<arith::MulIOp>(l, count, B.create<arith::SubIOp>(l, end, start));
    }
    Value avg = B.create<arith::DivFOp>(l, a[0], e.cast_scalar(count, ct));
    return e.cast_scalar(avg, rt.getElementType());
  });
}

// adaptive average pooling where the output size divides the input: a plain average pool.
Value lower_adaptive_pool(Emitter& e, Operation* op) {
  RankedTensorType rt = result_type(op);
  auto xt = cast<RankedTensorType>(op->getOperand(0).getType());
  auto out = op->getAttrOfType<DenseI64ArrayAttr>("output_size").asArrayRef();
  int64_t h = xt.getDimSize(2), w = xt.getDimSize(3);
  if (ShapedType::isDynamic(h) || ShapedType::isDynamic(w)) {
    emitError(e.loc) << "not yet supported: adaptive pooling of dynamic spatial sizes";
    throw Unsupported{};
  }
  if (h % out[0] == 0 && w % out[1] == 0) {
    SmallVector<int64_t> k{h / out[0], w / out[1]};
    return pool_values(e, op->getOperand(0), rt, k, k, {0, 0}, false);
  }
  return uneven_adaptive_pool(e, op->getOperand(0), rt, {h, w}, out);
}

// split: consecutive slices along the axis.
void lower_split(Operation* op) {
  OpBuilder b(op);
  Emitter e(b, op->getLoc());
  Value x = op->getOperand(0);
  auto xt = cast<RankedTensorType>(x.getType());
  int64_t axis = op->getAttrOfType<IntegerAttr>("axis").getInt();
  Value offset = b.create<arith::ConstantIndexOp>(e.loc, 0);
  for (Value r : op->getResults()) {
    auto rt = cast<RankedTensorType>(r.getType());
    SmallVector<OpFoldResult> offs, sizes, strides;
    for (int64_t i = 0; i < xt.getRank(); ++i) {
      offs.push_back(i == axis ? OpFoldResult(offset) : OpFoldResult(b.getIndexAttr(0)));
      if (rt.isDynamicDim(i)) {
        if (i == axis) {
          // Equal parts of a dynamic axis: dim / number of parts.
          if (op->getAttr("sizes")) {
            emitError(e.loc) << "not yet supported: splitting into parts of dynamic size";
            throw Unsupported{};
          }
          sizes.push_back(b.create<arith::DivSIOp>(e.loc, e.dim(x, i),
                                                   b.create<arith::ConstantIndexOp>(e.loc, op->getNumResults()))
                              .getResult());
        } else {
          sizes.push_back(e.dim(x, i));
        }
      } else {
        sizes.push_back(b.getIndexAttr(rt.getDimSize(i)));
      }
      strides.push_back(b.getIndexAttr(1));
    }
    Value part = b.create<tensor::ExtractSliceOp>(e.loc, rt, x, offs, sizes, strides);
    offset = b.create<arith::AddIOp>(e.loc, offset, e.dim(part, axis));
    r.replaceAllUsesWith(part);
  }
  op->erase();
}

// I/O ---------------------------------------------------------------------------
//
// load(path) with its declared type: tessNpyLoadOpen reads and checks the file (dtype, rank and
// the static sizes; -1 stands for a dynamic one), tessNpyLoadDim gives each dynamic size, then
// tessNpyLoadFinish_<t> copies the data into a fresh buffer (tessNpzLoadOpen instead for a
// `member` of an .npz archive). save(x, path) is one call of tessNpySaveMemref_<t>. A file that is missing, corrupt or of another dtype or shape is a
// runtime error (runtime/src/codegen_abi.cpp).

int32_t tess_dtype(Type t) {
  if (t.isF32()) return 0;
  if (t.isF64()) return 1;
  if (t.isF16()) return 2;
  if (t.isBF16()) return 3;
  if (t.isInteger(8)) return 4;
  if (t.isInteger(16)) return 5;
  if (t.isInteger(32)) return 6;
  if (t.isInteger(64)) return 7;
  if (t.isInteger(1)) return 9;
  return -1;
}

Value lower_load(Emitter& e, Operation* op, int& strings) {
  OpBuilder& b = e.b;
  Location l = e.loc;
  RankedTensorType rt = result_type(op);
  ModuleOp module = op->getParentOfType<ModuleOp>();
  Type elt = rt.getElementType();
  std::string suffix = element_suffix(elt);
  if (suffix.empty() || tess_dtype(elt) < 0) {
    emitError(l) << "not yet supported: loading a tensor of " << elt;
    throw Unsupported{};
  }
  Value path = string_memref(e, module, op->getAttrOfType<StringAttr>("path").getValue(), strings);
  Type i64 = b.getI64Type(), i32 = b.getI32Type();
  auto shape_t = MemRefType::get({rt.getRank()}, i64);
  Value shape = b.create<memref::AllocaOp>(l, shape_t);
  for (int64_t i = 0; i < rt.getRank(); ++i)
    b.create<memref::StoreOp>(l, e.constant(i64, rt.isDynamicDim(i) ? -1.0 : static_cast<double>(rt.getDimSize(i))), shape,
                              ValueRange{e.constant(b.getIndexType(), static_cast<double>(i))});
  auto dyn_i8 = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  auto dyn_i64 = MemRefType::get({ShapedType::kDynamic}, i64);
  Value shape_dyn = b.create<memref::CastOp>(l, dyn_i64, shape);
  Value handle;
  if (auto member = op->getAttrOfType<StringAttr>("member")) {
    // One tensor of load("p.npz", like=params): the member "<member>.npy" of the archive.
    Value name = string_memref(e, module, member.getValue(), strings);
    handle = b.create<func::CallOp>(l, runtime_function(module, "tessNpzLoadOpen", {dyn_i8, dyn_i8, i32, dyn_i64}, {i64}),
                                    ValueRange{path, name, e.constant(i32, tess_dtype(elt)), shape_dyn})
                 .getResult(0);
  } else {
    handle = b.create<func::CallOp>(l, runtime_function(module, "tessNpyLoadOpen", {dyn_i8, i32, dyn_i64}, {i64}),
                                    ValueRange{path, e.constant(i32, tess_dtype(elt)), shape_dyn})
                 .getResult(0);
  }
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rt.getRank(); ++i) {
    if (!rt.isDynamicDim(i)) continue;
    Value d = b.create<func::CallOp>(l, runtime_function(module, "tessNpyLoadDim", {i64, i64}, {i64}),
                                     ValueRange{handle, e.constant(i64, static_cast<double>(i))})
                  .getResult(0);
    dyn.push_back(b.create<arith::IndexCastOp>(l, b.getIndexType(), d));
  }
  auto mt = MemRefType::get(rt.getShape(), elt);
  Value buf = b.create<memref::AllocOp>(l, mt, dyn, b.getI64IntegerAttr(64));
  auto ut = UnrankedMemRefType::get(elt, 0);
  Value u = b.create<memref::CastOp>(l, ut, buf);
  b.create<func::CallOp>(l, runtime_function(module, "tessNpyLoadFinish_" + suffix, {i64, ut}, {}), ValueRange{handle, u});
  return b.create<bufferization::ToTensorOp>(l, rt, buf, /*restrict=*/true, /*writable=*/true);
}

// Inference (docs/inference.md) ------------------------------------------------------
//
// tessera.infer becomes tessInferBegin(), one tessInferAdd* per data operand (the runtime copies
// each), then tessInferRun(log_density, quantities, config, dim, width), which returns the
// Posterior's handle. The callbacks' addresses come from calls of `__tess_callback.<name>`, which
// the LLVM back end defines as the address of <name>'s packed wrapper (codegen/llvm_backend.cpp).

// One tessInferAdd* call per value: the arguments of the compiled callbacks (the runtime copies
// each).
void add_inference_data(Emitter& e, ModuleOp module, ValueRange data) {
  OpBuilder& b = e.b;
  Type i64 = b.getI64Type(), f64 = b.getF64Type();
  for (Value v : data) {
    Type t = v.getType();
    if (auto rt = dyn_cast<RankedTensorType>(t)) {
      std::string suffix = element_suffix(rt.getElementType());
      if (suffix.empty()) {
        emitError(e.loc) << "not yet supported: data of type " << rt.getElementType() << " for inference";
        throw Unsupported{};
      }
      Value u = unranked_view(e, v);
      b.create<func::CallOp>(e.loc, runtime_function(module, "tessInferAddTensor_" + suffix, {u.getType()}), ValueRange{u});
    } else if (isa<FloatType>(t)) {
      b.create<func::CallOp>(e.loc, runtime_function(module, "tessInferAddF64", {f64}), ValueRange{e.cast_scalar(v, f64)});
    } else if (t.isInteger(1)) {
      Value i = b.create<arith::ExtUIOp>(e.loc, b.getI32Type(), v);
      b.create<func::CallOp>(e.loc, runtime_function(module, "tessInferAddBool", {b.getI32Type()}), ValueRange{i});
    } else if (isa<IntegerType, IndexType>(t)) {
      b.create<func::CallOp>(e.loc, runtime_function(module, "tessInferAddI64", {i64}), ValueRange{e.cast_scalar(v, i64)});
    } else {
      emitError(e.loc) << "not yet supported: data of type " << t << " for inference";
      throw Unsupported{};
    }
  }
}

Value lower_infer(Emitter& e, Operation* op, int& strings) {
  OpBuilder& b = e.b;
  ModuleOp module = op->getParentOfType<ModuleOp>();
  Type i64 = b.getI64Type();
  b.create<func::CallOp>(e.loc, runtime_function(module, "tessInferBegin", {}), ValueRange{});
  // Operands: dim, width, the fields' dynamic sizes, the data.
  auto segments = op->getAttrOfType<DenseI32ArrayAttr>("operandSegmentSizes");
  int64_t field_dims = segments ? segments[2] : 0;
  for (Value v : op->getOperands().slice(2, field_dims))
    b.create<func::CallOp>(e.loc, runtime_function(module, "tessInferFieldDim", {i64}),
                           ValueRange{b.create<arith::IndexCastOp>(e.loc, i64, v).getResult()});
  int64_t seeded = segments ? segments[3] : 0;
  if (seeded)
    b.create<func::CallOp>(e.loc, runtime_function(module, "tessInferSeed", {i64}),
                           ValueRange{op->getOperand(static_cast<unsigned>(2 + field_dims))});
  add_inference_data(e, module, op->getOperands().drop_front(2 + field_dims + seeded));
  auto address = [&](StringRef attr) {
    std::string fn = ("__tess_callback." + op->getAttrOfType<FlatSymbolRefAttr>(attr).getValue()).str();
    return b.create<func::CallOp>(e.loc, runtime_function(module, fn, {}, {i64}), ValueRange{}).getResult(0);
  };
  Value logp = address("log_density"), gq = address("quantities");
  Value terms = op->getAttr("terms") ? address("terms") : e.constant(i64, 0.0);
  Value config = string_memref(e, module, op->getAttrOfType<StringAttr>("config").getValue(), strings);
  auto dyn_i8 = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  Value dim = b.create<arith::IndexCastOp>(e.loc, i64, op->getOperand(0));
  Value width = b.create<arith::IndexCastOp>(e.loc, i64, op->getOperand(1));
  return b.create<func::CallOp>(e.loc, runtime_function(module, "tessInferRun", {i64, i64, i64, dyn_i8, i64, i64}, {i64}),
                                ValueRange{logp, gq, terms, config, dim, width})
      .getResult(0);
}

// tessera.posterior_stat: a fresh buffer of the result's shape (a `samples` row count from
// tessPosteriorDraws), filled by tessPosteriorStat_<t>(handle, stat, field, q, buffer).
Value lower_posterior_stat(Emitter& e, Operation* op, int& strings) {
  OpBuilder& b = e.b;
  ModuleOp module = op->getParentOfType<ModuleOp>();
  RankedTensorType rt = result_type(op);
  Type elt = rt.getElementType(), i64 = b.getI64Type();
  if (!elt.isF32() && !elt.isF64()) {
    emitError(e.loc) << "not yet supported: Posterior statistics of " << elt;
    throw Unsupported{};
  }
  Value handle = op->getOperand(0);
  bool samples = op->getAttrOfType<StringAttr>("stat").getValue() == "samples";
  SmallVector<Value> dyn;
  unsigned next = 1;  // the field's dynamic sizes, after the handle
  for (int64_t i = 0; i < rt.getRank(); ++i) {
    if (!rt.isDynamicDim(i)) continue;
    if (samples && i == 0) {
      Value n = b.create<func::CallOp>(e.loc, runtime_function(module, "tessPosteriorDraws", {i64}, {i64}), ValueRange{handle})
                    .getResult(0);
      dyn.push_back(b.create<arith::IndexCastOp>(e.loc, b.getIndexType(), n));
      continue;
    }
    if (next >= op->getNumOperands()) {
      emitError(e.loc) << "posterior_stat: no size for the field's dynamic dimension " << i;
      throw Unsupported{};
    }
    dyn.push_back(op->getOperand(next++));
  }
  auto mt = MemRefType::get(rt.getShape(), elt);
  Value buf = b.create<memref::AllocOp>(e.loc, mt, dyn, b.getI64IntegerAttr(64));
  auto ut = UnrankedMemRefType::get(elt, 0);
  Value u = b.create<memref::CastOp>(e.loc, ut, buf);
  Value stat = string_memref(e, module, op->getAttrOfType<StringAttr>("stat").getValue(), strings);
  Value field = string_memref(e, module, op->getAttrOfType<StringAttr>("field").getValue(), strings);
  Value q = e.constant(b.getF64Type(), op->getAttrOfType<FloatAttr>("q").getValueAsDouble());
  auto dyn_i8 = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  b.create<func::CallOp>(e.loc,
                         runtime_function(module, std::string("tessPosteriorStat_") + (elt.isF32() ? "f32" : "f64"),
                                          {i64, dyn_i8, dyn_i8, b.getF64Type(), ut}, {}),
                         ValueRange{handle, stat, field, q, u});
  return b.create<bufferization::ToTensorOp>(e.loc, rt, buf, /*restrict=*/true, /*writable=*/true);
}

// tessera.posterior_predict: tessInferBegin, the data (add_inference_data), then
// tessPosteriorPredict_<t>(handle, predictive, stat, buffer) into a fresh buffer of the result's
// shape (its `?` sizes from the dims operands).
Value lower_posterior_predict(Emitter& e, Operation* op, int& strings) {
  OpBuilder& b = e.b;
  ModuleOp module = op->getParentOfType<ModuleOp>();
  RankedTensorType rt = result_type(op);
  Type elt = rt.getElementType(), i64 = b.getI64Type();
  if (!elt.isF32() && !elt.isF64()) {
    emitError(e.loc) << "not yet supported: predictions of " << elt;
    throw Unsupported{};
  }
  auto segments = op->getAttrOfType<DenseI32ArrayAttr>("operandSegmentSizes");
  int64_t ndims = segments[1];
  b.create<func::CallOp>(e.loc, runtime_function(module, "tessInferBegin", {}), ValueRange{});
  add_inference_data(e, module, op->getOperands().drop_front(1 + ndims));
  SmallVector<Value> dyn(op->getOperands().slice(1, ndims));
  auto mt = MemRefType::get(rt.getShape(), elt);
  Value buf = b.create<memref::AllocOp>(e.loc, mt, dyn, b.getI64IntegerAttr(64));
  auto ut = UnrankedMemRefType::get(elt, 0);
  Value u = b.create<memref::CastOp>(e.loc, ut, buf);
  std::string fn = ("__tess_callback." + op->getAttrOfType<FlatSymbolRefAttr>("predictive").getValue()).str();
  Value predictive = b.create<func::CallOp>(e.loc, runtime_function(module, fn, {}, {i64}), ValueRange{}).getResult(0);
  Value stat = string_memref(e, module, op->getAttrOfType<StringAttr>("stat").getValue(), strings);
  auto dyn_i8 = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  b.create<func::CallOp>(e.loc,
                         runtime_function(module, std::string("tessPosteriorPredict_") + (elt.isF32() ? "f32" : "f64"),
                                          {i64, i64, dyn_i8, ut}, {}),
                         ValueRange{op->getOperand(0), predictive, stat, u});
  return b.create<bufferization::ToTensorOp>(e.loc, rt, buf, /*restrict=*/true, /*writable=*/true);
}

// tessera.cholesky / tessera.triangular_solve: a fresh buffer of the result's shape, filled by
// the runtime's tessCholesky_<t>(input, out) / tessTriangularSolve_<t>(tri, rhs, out, transpose)
// (runtime/src/codegen_linalg.cpp), which read the operands through their descriptors.
Value lower_dense_linalg(Emitter& e, Operation* op) {
  OpBuilder& b = e.b;
  ModuleOp module = op->getParentOfType<ModuleOp>();
  RankedTensorType rt = result_type(op);
  Type elt = rt.getElementType();
  if (!elt.isF32() && !elt.isF64()) {
    emitError(e.loc) << "not yet supported: " << op->getName().stripDialect() << " of " << elt;
    throw Unsupported{};
  }
  SmallVector<Value> dyn;
  Value like = op->getOperand(op->getNumOperands() - 1);
  for (int64_t i = 0; i < rt.getRank(); ++i)
    if (rt.isDynamicDim(i)) dyn.push_back(e.dim(like, i));
  auto mt = MemRefType::get(rt.getShape(), elt);
  Value buf = b.create<memref::AllocOp>(e.loc, mt, dyn, b.getI64IntegerAttr(64));
  auto ut = UnrankedMemRefType::get(elt, 0);
  Value out = b.create<memref::CastOp>(e.loc, ut, buf);
  std::string sfx = elt.isF32() ? "f32" : "f64";
  if (op->getName().stripDialect() == "cholesky") {
    Value in = unranked_view(e, op->getOperand(0));
    b.create<func::CallOp>(e.loc, runtime_function(module, "tessCholesky_" + sfx, {in.getType(), ut}, {}),
                           ValueRange{in, out});
  } else {
    Value tri = unranked_view(e, op->getOperand(0)), rhs = unranked_view(e, op->getOperand(1));
    Value tr = b.create<arith::ConstantIntOp>(e.loc, op->getAttrOfType<BoolAttr>("transpose").getValue() ? 1 : 0, 32);
    b.create<func::CallOp>(e.loc,
                           runtime_function(module, "tessTriangularSolve_" + sfx, {tri.getType(), rhs.getType(), ut,
                                                                                   b.getI32Type()}, {}),
                           ValueRange{tri, rhs, out, tr});
  }
  return b.create<bufferization::ToTensorOp>(e.loc, rt, buf, /*restrict=*/true, /*writable=*/true);
}

// tessera.sample_family: a fresh vector filled by tessSampleFamily_f64(family, seed, offset, a,
// b, out) (runtime/src/philox.cpp).
Value lower_sample_family(Emitter& e, Operation* op) {
  OpBuilder& b = e.b;
  ModuleOp module = op->getParentOfType<ModuleOp>();
  RankedTensorType rt = result_type(op);
  SmallVector<Value> dyn;
  if (rt.isDynamicDim(0)) dyn.push_back(e.dim(op->getOperand(0), 0));
  Value buf = b.create<memref::AllocOp>(e.loc, MemRefType::get(rt.getShape(), rt.getElementType()), dyn,
                                        b.getI64IntegerAttr(64));
  auto ut = UnrankedMemRefType::get(rt.getElementType(), 0);
  Value out = b.create<memref::CastOp>(e.loc, ut, buf);
  Value a = unranked_view(e, op->getOperand(0)), bv = unranked_view(e, op->getOperand(1));
  StringRef f = op->getAttrOfType<StringAttr>("family").getValue();
  Type i64 = b.getI64Type(), i32 = b.getI32Type();
  Value family = b.create<arith::ConstantIntOp>(e.loc, f == "gamma" ? 0 : f == "poisson" ? 1 : 2, 32);
  Value seed = b.create<arith::ConstantIntOp>(e.loc, op->getAttrOfType<IntegerAttr>("seed").getInt(), 64);
  Value offset = b.create<arith::ConstantIntOp>(e.loc, op->getAttrOfType<IntegerAttr>("offset").getInt(), 64);
  b.create<func::CallOp>(e.loc,
                         runtime_function(module, "tessSampleFamily_f64", {i32, i64, i64, a.getType(), bv.getType(), ut}, {}),
                         ValueRange{family, seed, offset, a, bv, out});
  return b.create<bufferization::ToTensorOp>(e.loc, rt, buf, /*restrict=*/true, /*writable=*/true);
}

void lower_save(Operation* op, int& strings) {
  OpBuilder b(op);
  Emitter e(b, op->getLoc());
  ModuleOp module = op->getParentOfType<ModuleOp>();
  Value x = op->getOperand(0);
  Type elt = cast<RankedTensorType>(x.getType()).getElementType();
  std::string suffix = element_suffix(elt);
  if (suffix.empty()) {
    emitError(e.loc) << "not yet supported: saving a tensor of " << elt;
    throw Unsupported{};
  }
  Value path = string_memref(e, module, op->getAttrOfType<StringAttr>("path").getValue(), strings);
  Value u = unranked_view(e, x);
  auto dyn_i8 = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  if (auto member = op->getAttrOfType<StringAttr>("member")) {
    // One tensor of save(params, "p.npz"): staged, and the archive written by the last one.
    Value name = string_memref(e, module, member.getValue(), strings);
    b.create<func::CallOp>(e.loc,
                           runtime_function(module, "tessNpzStageMemref_" + suffix, {dyn_i8, dyn_i8, u.getType()}, {}),
                           ValueRange{path, name, u});
    if (op->hasAttr("commit"))
      b.create<func::CallOp>(e.loc, runtime_function(module, "tessNpzCommit", {dyn_i8}, {}), ValueRange{path});
    op->erase();
    return;
  }
  b.create<func::CallOp>(e.loc, runtime_function(module, "tessNpySaveMemref_" + suffix, {dyn_i8, u.getType()}, {}),
                         ValueRange{path, u});
  op->erase();
}

// --debug-numerics ----------------------------------------------------------------
//
// Around each op that computes a float tensor: before it, tessNumericsOperand_<t>(operand) takes
// the statistics of each float operand (before: the result may reuse an operand's buffer);
// after it, tessNumericsCheck_<t>(info, result) looks for NaN and Inf, and tessNumericsEnd()
// stops the program with the report (exit 3).
// `info` is "<op>\n<file:line:col>\n<source snippet>", made here from the op's location.

// Ops that only move or select elements: they cannot make a NaN or an Inf.
const llvm::StringSet<> kMovement = {"transpose", "reshape", "unsqueeze", "squeeze", "broadcast_to", "concat",
                                     "stack", "slice", "split", "dim"};

class SourceLines {
 public:
  // "  --> file:line:col\n  |\nL | text\n  |    ^\n", or just the arrow line when the file is gone.
  std::string snippet(FileLineColLoc loc) {
    std::string file = loc.getFilename().str();
    unsigned line = loc.getLine(), col = loc.getColumn();
    std::string width(std::to_string(line).size(), ' ');
    std::string out = fmt::format("{} --> {}:{}:{}\n", width, file, line, col);
    auto it = files_.find(file);
    if (it == files_.end()) {
      std::vector<std::string> lines;
      if (auto buf = llvm::MemoryBuffer::getFile(file)) {
        StringRef text = (*buf)->getBuffer();
        while (!text.empty()) {
          auto [first, rest] = text.split('\n');
          lines.push_back(first.rtrim('\r').str());
          text = rest;
        }
      }
      it = files_.emplace(file, std::move(lines)).first;
    }
    if (line == 0 || line > it->second.size()) return out;
    out += fmt::format("{} |\n{} | {}\n{} | {}^\n", width, line, it->second[line - 1], width,
                       std::string(col > 0 ? col - 1 : 0, ' '));
    return out;
  }

 private:
  std::map<std::string, std::vector<std::string>> files_;
};

// Before a lookup by `ids` into `bound` rows: when an id is outside [0, bound), tessIndexError
// reports the smallest id if one is negative, else the largest, with the op's source location
// (exit 3 under the default handler). One pass over the ids for their min and max.
void check_index_range(Emitter& e, Operation* op, Value ids, Value bound, StringRef what) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  auto it = cast<RankedTensorType>(ids.getType());
  Type elt = it.getElementType();
  auto scalar_t = RankedTensorType::get({}, elt);
  auto none = [](int64_t) { return Value(); };
  Value lo_init = e.fill(e.empty(scalar_t, none), e.highest(elt));
  Value hi_init = e.fill(e.empty(scalar_t, none), e.lowest(elt));
  int64_t r = it.getRank();
  AffineMap all = B.getMultiDimIdentityMap(r), to_scalar = AffineMap::get(r, 0, {}, B.getContext());
  SmallVector<Value> mm = e.generic({ids}, {lo_init, hi_init}, {all, to_scalar, to_scalar},
                                    SmallVector<IterKind>(r, IterKind::reduction),
                                    [&](OpBuilder& bb, Location ll, ValueRange a) {
                                      return SmallVector<Value>{bb.create<arith::MinSIOp>(ll, a[0], a[1]),
                                                                bb.create<arith::MaxSIOp>(ll, a[0], a[2])};
                                    });
  Type i64 = B.getI64Type();
  auto as_i64 = [&](Value v) -> Value {
    return v.getType() == i64 ? v : B.create<arith::ExtSIOp>(l, i64, v).getResult();
  };
  Value lo = as_i64(B.create<tensor::ExtractOp>(l, mm[0], ValueRange{}));
  Value hi = as_i64(B.create<tensor::ExtractOp>(l, mm[1], ValueRange{}));
  Value zero = B.create<arith::ConstantIntOp>(l, 0, 64);
  Value limit = B.create<arith::IndexCastOp>(l, i64, bound);
  Value negative = B.create<arith::CmpIOp>(l, arith::CmpIPredicate::slt, lo, zero);
  Value over = B.create<arith::CmpIOp>(l, arith::CmpIPredicate::sge, hi, limit);
  index_error(e, op, B.create<arith::OrIOp>(l, negative, over), B.create<arith::SelectOp>(l, negative, lo, hi), zero,
              limit, what);
}

// An integer division or remainder by zero is a run-time error (exit 3, as PyTorch's
// ZeroDivisionError) at the op's source location: one pass over the divisor for a zero.
void check_nonzero_divisor(Emitter& e, Operation* op, Value divisor) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  auto dt = cast<RankedTensorType>(divisor.getType());
  Type i1 = B.getI1Type();
  Value init = e.fill(e.empty(RankedTensorType::get({}, i1), [](int64_t) { return Value(); }),
                      B.create<arith::ConstantIntOp>(l, 0, 1));
  int64_t r = dt.getRank();
  Value zero = e.zero(dt.getElementType());
  Value any = e.generic({divisor}, {init}, {B.getMultiDimIdentityMap(r), AffineMap::get(r, 0, {}, B.getContext())},
                        SmallVector<IterKind>(r, IterKind::reduction), [&](OpBuilder& bb, Location ll, ValueRange a) {
                          Value z = bb.create<arith::CmpIOp>(ll, arith::CmpIPredicate::eq, a[0], zero);
                          return SmallVector<Value>{bb.create<arith::OrIOp>(ll, a[1], z)};
                        })[0];
  Value failed = B.create<tensor::ExtractOp>(l, any, ValueRange{});
  runtime_failure(e, op, failed, "tessCodegenError", "runtime error: integer division by zero", {});
}

// An integer power with a negative exponent is a run-time error (exit 3), as NumPy's
// "Integers to negative integer powers are not allowed": one pass over the exponent.
void check_nonnegative_exponent(Emitter& e, Operation* op, Value exponent) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  auto dt = cast<RankedTensorType>(exponent.getType());
  Type i1 = B.getI1Type();
  Value init = e.fill(e.empty(RankedTensorType::get({}, i1), [](int64_t) { return Value(); }),
                      B.create<arith::ConstantIntOp>(l, 0, 1));
  int64_t r = dt.getRank();
  Value zero = e.zero(dt.getElementType());
  Value any = e.generic({exponent}, {init}, {B.getMultiDimIdentityMap(r), AffineMap::get(r, 0, {}, B.getContext())},
                        SmallVector<IterKind>(r, IterKind::reduction), [&](OpBuilder& bb, Location ll, ValueRange a) {
                          Value z = bb.create<arith::CmpIOp>(ll, arith::CmpIPredicate::slt, a[0], zero);
                          return SmallVector<Value>{bb.create<arith::OrIOp>(ll, a[1], z)};
                        })[0];
  Value failed = B.create<tensor::ExtractOp>(l, any, ValueRange{});
  runtime_failure(e, op, failed, "tessCodegenError", "runtime error: integers to negative integer powers are not allowed",
                  {});
}

// When `failed`: tessIndexError(what, index, lo, hi) with the op's source location (all i64).
void index_error(Emitter& e, Operation* op, Value failed, Value index, Value lo, Value hi, StringRef what) {
  runtime_failure(e, op, failed, "tessIndexError", what, {index, lo, hi});
}

// When `failed`: the runtime entry `fn`(info, args...) with info = "<head>\n<source snippet of op>"
// (a memref<?xi8>; the args are i64), which reports the error (tessCodegenFail).
void runtime_failure(Emitter& e, Operation* op, Value failed, StringRef fn, StringRef head, ArrayRef<Value> args) {
  OpBuilder& B = e.b;
  Location l = e.loc;
  auto when = B.create<scf::IfOp>(l, failed, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard g(B);
  B.setInsertionPointToStart(when.thenBlock());
  std::string snippet;
  if (auto flc = dyn_cast<FileLineColLoc>(op->getLoc())) snippet = SourceLines().snippet(flc);
  ModuleOp module = op->getParentOfType<ModuleOp>();
  int strings = 0;
  SmallVector<Value> operands{string_memref(e, module, (head + "\n" + snippet).str(), strings)};
  SmallVector<Type> types{MemRefType::get({ShapedType::kDynamic}, B.getI8Type())};
  for (Value a : args) {
    operands.push_back(a);
    types.push_back(a.getType());
  }
  B.create<func::CallOp>(l, runtime_function(module, fn, types, {}), operands);
}

bool is_float_tensor(Type t) {
  auto rt = dyn_cast<RankedTensorType>(t);
  return rt && isa<FloatType>(rt.getElementType()) && !element_suffix(rt.getElementType()).empty();
}

// The name of the op in the report: the reduction's kind for `reduce`.
std::string numerics_op_name(Operation* op) {
  if (auto k = op->getAttrOfType<td::ReduceKindAttr>("kind")) return td::stringifyReduceKind(k.getValue()).str();
  return op->getName().stripDialect().str();
}

bool numerics_checked(Operation* op) {
  return op->getNumResults() == 1 && is_float_tensor(op->getResult(0).getType()) &&
         !kMovement.contains(op->getName().stripDialect());
}

// Before the op's lowering: the statistics of its float operands.
void insert_numerics_operands(Operation* op) {
  if (!numerics_checked(op)) return;
  OpBuilder b(op);
  Emitter e(b, op->getLoc());
  ModuleOp module = op->getParentOfType<ModuleOp>();
  for (Value operand : op->getOperands()) {
    if (!is_float_tensor(operand.getType())) continue;
    Value u = unranked_view(e, operand);
    std::string suffix = element_suffix(cast<RankedTensorType>(operand.getType()).getElementType());
    b.create<func::CallOp>(e.loc, runtime_function(module, "tessNumericsOperand_" + suffix, {u.getType()}, {}), ValueRange{u});
  }
}

// After it: the check of its result, then the report if there is one.
void insert_numerics_check(Operation* op, Value result, SourceLines& sources, int& strings) {
  if (!numerics_checked(op)) return;
  OpBuilder b(op);
  Emitter e(b, op->getLoc());
  ModuleOp module = op->getParentOfType<ModuleOp>();
  std::string where = "<unknown location>", snippet;
  if (auto flc = dyn_cast<FileLineColLoc>(op->getLoc())) {
    where = fmt::format("{}:{}:{}", flc.getFilename().str(), flc.getLine(), flc.getColumn());
    snippet = sources.snippet(flc);
  }
  Value info = string_memref(e, module, numerics_op_name(op) + "\n" + where + "\n" + snippet, strings);
  auto dyn_i8 = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  auto call = [&](StringRef fn, Value v, bool with_info) {
    std::string suffix = element_suffix(cast<RankedTensorType>(v.getType()).getElementType());
    Value u = unranked_view(e, v);
    SmallVector<Type> types;
    SmallVector<Value> args;
    if (with_info) {
      types.push_back(dyn_i8);
      args.push_back(info);
    }
    types.push_back(u.getType());
    args.push_back(u);
    b.create<func::CallOp>(e.loc, runtime_function(module, (fn + "_" + suffix).str(), types, {}), args);
  };
  call("tessNumericsCheck", result, true);
  b.create<func::CallOp>(e.loc, runtime_function(module, "tessNumericsEnd", {}, {}), ValueRange{});
}

// The pass ---------------------------------------------------------------------

struct LowerToLinalg : PassWrapper<LowerToLinalg, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(LowerToLinalg)

  LowerToLinalg() = default;
  LowerToLinalg(const LowerToLinalg& other) : PassWrapper(other) {}

  Option<bool> debugNumerics{*this, "debug-numerics",
                             llvm::cl::desc("Check every float result for NaN and Inf (tesserac run --debug-numerics)"),
                             llvm::cl::init(false)};

  StringRef getArgument() const override { return "tessera-to-linalg"; }
  StringRef getDescription() const override { return "Lower the tessera dialect to linalg, tensor, arith and math"; }

  void getDependentDialects(DialectRegistry& registry) const override {
    registry.insert<linalg::LinalgDialect, tensor::TensorDialect, arith::ArithDialect, math::MathDialect,
                    scf::SCFDialect, bufferization::BufferizationDialect, memref::MemRefDialect, func::FuncDialect>();
  }

  // The replacement of one op; throws Unsupported after emitting an error.
  Value lower(Operation* op) {
    OpBuilder b(op);
    Emitter e(b, op->getLoc());
    StringRef name = op->getName().stripDialect();
    if (kBinary.contains(name)) return lower_binary(e, op, name);
    if (kUnary.contains(name)) return lower_unary(e, op, name);
    if (name == "cmp") {
      RankedTensorType rt = result_type(op);
      auto p = op->getAttrOfType<td::CmpPredicateAttr>("predicate").getValue();
      Type lt = cast<RankedTensorType>(op->getOperand(0).getType()).getElementType();
      Type ct = Emitter::compute_type(lt);
      return e.elementwise(rt, {op->getOperand(0), op->getOperand(1)}, [&](OpBuilder&, Location, ValueRange a) {
        return scalar_compare(e, p, e.cast_scalar(a[0], ct), e.cast_scalar(a[1], ct));
      });
    }
    if (name == "cast") return e.convert(op->getOperand(0), result_type(op).getElementType());
    if (name == "where") {
      RankedTensorType rt = result_type(op);
      return e.elementwise(rt, {op->getOperand(0), op->getOperand(1), op->getOperand(2)},
                           [&](OpBuilder&, Location, ValueRange a) {
                             return b.create<arith::SelectOp>(e.loc, a[0], e.cast_scalar(a[1], rt.getElementType()),
                                                              e.cast_scalar(a[2], rt.getElementType())).getResult();
                           });
    }
    if (name == "clamp") {
      RankedTensorType rt = result_type(op);
      auto lo = op->getAttrOfType<FloatAttr>("min"), hi = op->getAttrOfType<FloatAttr>("max");
      Type ct = Emitter::compute_type(rt.getElementType());
      return e.elementwise(rt, {op->getOperand(0)}, [&](OpBuilder&, Location, ValueRange a) {
        Value v = e.cast_scalar(a[0], ct);
        if (hi) v = scalar_binary(e, "minimum", v, e.constant(ct, hi.getValueAsDouble()));
        if (lo) v = scalar_binary(e, "maximum", v, e.constant(ct, lo.getValueAsDouble()));
        return e.cast_scalar(v, rt.getElementType());
      });
    }
    if (name == "reduce") return lower_reduce(e, op);
    if (name == "norm") return lower_l2norm(e, op);
    if (name == "has_nan" || name == "has_inf") return lower_check(e, op, name == "has_nan");
    if (name == "matmul") return lower_matmul(e, op);
    if (name == "transpose") return lower_transpose(e, op);
    if (name == "reshape") return lower_reshape(e, op);
    if (name == "unsqueeze" || name == "squeeze") return lower_unit_reshape(e, op);
    if (name == "broadcast_to") return lower_broadcast(e, op);
    if (name == "concat" || name == "stack") return lower_concat(e, op, name == "stack");
    if (name == "slice") return lower_slice(e, op);
    if (name == "dim") return e.dim(op->getOperand(0), op->getAttrOfType<IntegerAttr>("axis").getInt());
    if (name == "softmax" || name == "log_softmax") return lower_softmax(e, op, name == "log_softmax");
    if (name == "layer_norm" || name == "rms_norm") return lower_norm_layer(e, op, name == "rms_norm");
    if (name == "group_norm") return lower_group_norm(e, op);
    if (name == "linear") return lower_linear(e, op);
    if (name == "conv2d") return lower_conv2d(e, op);
    if (name == "max_pool2d" || name == "avg_pool2d") return lower_pool(e, op, name == "max_pool2d");
    if (name == "adaptive_avg_pool2d") return lower_adaptive_pool(e, op);
    if (name == "randn" || name == "rand") return lower_random(e, op, name == "randn");
    if (name == "dropout") return lower_dropout(e, op);
    if (name == "attention") return lower_attention(e, op);
    if (name == "cholesky" || name == "triangular_solve") return lower_dense_linalg(e, op);
    if (name == "sample_family") return lower_sample_family(e, op);
    if (name == "cross_entropy") return lower_cross_entropy(e, op);
    if (name == "embedding") return lower_embedding(e, op);
    if (name == "embedding_grad") return lower_embedding_grad(e, op);
    if (name == "one_hot") return lower_one_hot(e, op);
    if (name == "zeros" || name == "ones") return lower_fill(e, op, name == "ones" ? 1.0 : 0.0);
    if (name == "full") return lower_fill(e, op, op->getAttrOfType<FloatAttr>("value").getValueAsDouble());
    if (name == "arange") return lower_arange(e, op);
    op->emitError() << "not yet supported: '" << op->getName() << "' on the CPU";
    throw Unsupported{};
  }

  void runOnOperation() override {
    SmallVector<Operation*> ops;
    getOperation().walk([&](Operation* op) {
      if (op->getDialect() && op->getDialect()->getNamespace() == "tessera") ops.push_back(op);
    });
    int strings = 0;
    SourceLines sources;
    for (Operation* op : ops) {
      try {
        if (op->getName().getStringRef() == "tessera.print") {
          lower_print(op, strings);
          continue;
        }
        if (op->getName().getStringRef() == "tessera.assert") {
          // A false condition: tessCodegenError with the message and the source line (exit 3).
          OpBuilder b(op);
          Emitter e(b, op->getLoc());
          Value ok = op->getOperand(0);
          Value failed = b.create<arith::XOrIOp>(op->getLoc(), ok, b.create<arith::ConstantIntOp>(op->getLoc(), 1, 1));
          runtime_failure(e, op, failed, "tessCodegenError", op->getAttrOfType<StringAttr>("message").getValue(), {});
          op->erase();
          continue;
        }
        if (op->getName().getStringRef() == "tessera.save") {
          lower_save(op, strings);
          continue;
        }
        if (op->getName().getStringRef() == "tessera.load") {
          OpBuilder b(op);
          Emitter e(b, op->getLoc());
          if (debugNumerics) insert_numerics_operands(op);
          Value r = lower_load(e, op, strings);
          if (debugNumerics) insert_numerics_check(op, r, sources, strings);
          op->getResult(0).replaceAllUsesWith(r);
          op->erase();
          continue;
        }
        if (op->getName().getStringRef() == "tessera.infer" ||
            op->getName().getStringRef() == "tessera.posterior_stat" ||
            op->getName().getStringRef() == "tessera.posterior_predict") {
          OpBuilder b(op);
          Emitter e(b, op->getLoc());
          Value r = op->getName().getStringRef() == "tessera.infer"            ? lower_infer(e, op, strings)
                    : op->getName().getStringRef() == "tessera.posterior_stat" ? lower_posterior_stat(e, op, strings)
                                                                                 : lower_posterior_predict(e, op, strings);
          op->getResult(0).replaceAllUsesWith(r);
          op->erase();
          continue;
        }
        if (op->getName().getStringRef() == "tessera.posterior_save") {
          OpBuilder b(op);
          Emitter e(b, op->getLoc());
          ModuleOp module = op->getParentOfType<ModuleOp>();
          Value path = string_memref(e, module, op->getAttrOfType<StringAttr>("path").getValue(), strings);
          auto dyn_i8 = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
          if (auto fields = op->getAttrOfType<ArrayAttr>("fields")) {
            // A trace plot of these fields (all when none), their names joined by ','.
            std::string names;
            for (Attribute a : fields) names += (names.empty() ? "" : ",") + cast<StringAttr>(a).getValue().str();
            Value list = string_memref(e, module, names, strings);
            b.create<func::CallOp>(op->getLoc(),
                                   runtime_function(module, "tessPosteriorTracePlot", {b.getI64Type(), dyn_i8, dyn_i8}, {}),
                                   ValueRange{op->getOperand(0), path, list});
          } else {
            b.create<func::CallOp>(op->getLoc(),
                                   runtime_function(module, "tessPosteriorSave", {b.getI64Type(), dyn_i8}, {}),
                                   ValueRange{op->getOperand(0), path});
          }
          op->erase();
          continue;
        }
        if (op->getName().getStringRef() == "tessera.posterior_summary") {
          OpBuilder b(op);
          b.create<func::CallOp>(op->getLoc(),
                                 runtime_function(op->getParentOfType<ModuleOp>(), "tessPosteriorSummary",
                                                  {b.getI64Type()}, {}),
                                 ValueRange{op->getOperand(0)});
          op->erase();
          continue;
        }
        if (op->getName().getStringRef() == "tessera.split") {
          lower_split(op);
          continue;
        }
        if (op->getNumResults() != 1) {
          op->emitError() << "not yet supported: '" << op->getName() << "' on the CPU";
          throw Unsupported{};
        }
        if (debugNumerics) insert_numerics_operands(op);
        Value r = lower(op);
        if (debugNumerics) insert_numerics_check(op, r, sources, strings);
        op->getResult(0).replaceAllUsesWith(r);
        op->erase();
      } catch (const Unsupported&) {
        return signalPassFailure();
      }
    }
  }
};

}  // namespace

// `--tessera-contraction-loop-order`: matmul-like loop nests run (..., m, k, n) instead of
// (..., m, n, k), so that the innermost loop walks B and C contiguously and LLVM vectorizes it.
// A first scheduling decision; tiling and packing come next.
struct ContractionLoopOrder : PassWrapper<ContractionLoopOrder, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ContractionLoopOrder)

  StringRef getArgument() const override { return "tessera-contraction-loop-order"; }
  StringRef getDescription() const override { return "Put the reduction loop of matmuls before the innermost parallel loop"; }
  void getDependentDialects(DialectRegistry& registry) const override { registry.insert<linalg::LinalgDialect>(); }

  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> todo;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (isa<linalg::MatmulOp>(op) || op->hasAttr("tessera.contraction")) todo.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : todo) {
      rewriter.setInsertionPoint(op);
      linalg::GenericOp g;
      if (auto generic = dyn_cast<linalg::GenericOp>(op.getOperation())) {
        g = generic;
      } else {
        auto r = linalg::generalizeNamedOp(rewriter, op);
        if (failed(r)) continue;
        g = *r;
      }
      unsigned n = g.getNumLoops();
      if (n < 3) continue;
      SmallVector<unsigned> order;
      for (unsigned i = 0; i + 2 < n; ++i) order.push_back(i);
      order.push_back(n - 1);  // k
      order.push_back(n - 2);  // n
      if (failed(linalg::interchangeGenericOp(rewriter, g, order))) continue;
    }
  }
};

std::unique_ptr<Pass> createLowerToLinalgPass(bool debug_numerics) {
  auto pass = std::make_unique<LowerToLinalg>();
  pass->debugNumerics = debug_numerics;
  return pass;
}

LogicalResult run_schedule_pipeline(ModuleOp module, bool debug_numerics) {
  DialectRegistry registry;
  func::registerInlinerExtension(registry);
  module.getContext()->appendDialectRegistry(registry);
  PassManager pm(module.getContext());
  // Gradients first (tessera.grad becomes calls of generated functions), then the same
  // graph-level cleanup that the lowering ran.
  pm.addPass(mlir::tessera::createReverseADPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createLowerToLinalgPass(debug_numerics));
  pm.addPass(createCanonicalizerPass());
  // Calls of user functions are inlined (public callees stay, as entries), so that fusion and
  // in-place updates see across them: AdamW written as a function updates its parameter in place.
  pm.addPass(createInlinerPass());
  // Private functions nothing calls any more (a differentiated function's forward, inlined
  // into its gradient) are dropped: they would be compiled for nothing.
  pm.addPass(createSymbolDCEPass());
  pm.addPass(createElementwiseFusionPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createUnshareFillsPass());
  pm.addPass(std::make_unique<ContractionLoopOrder>());
  pm.addPass(createReuseDeadInputsPass());
  return pm.run(module);
}

void registerSchedulePasses() {
  PassRegistration<LowerToLinalg>();
  PassRegistration<ContractionLoopOrder>();
  registerPass([] { return createUnshareFillsPass(); });
  registerPass([] { return createElementwiseFusionPass(); });
  registerPass([] { return createReuseDeadInputsPass(); });
}

}  // namespace tessera::ir
