// Gradient rules of the `tessera` ops, attached as external models of GradientOpInterface.
// Each rule builds the operands' cotangents from the results' cotangents with tessera ops;
// binary ops that broadcast sum the cotangent back to the operand's shape (unbroadcast).
#include "ir/autodiff/GradientInterface.h"
#include "ir/graph/Tessera.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <limits>

#include "ir/autodiff/GradientInterface.cpp.inc"

using namespace mlir;
using namespace mlir::tessera;

namespace {

RankedTensorType ttype(Value v) { return cast<RankedTensorType>(v.getType()); }
bool isFloatTensor(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && isa<FloatType>(t.getElementType());
}

// Builds the rules' ops at one location.
struct G {
  OpBuilder& b;
  Location loc;

  // A rank-0 constant of `elt`, which broadcasts against any tensor.
  Value scalar(Type elt, double v) {
    auto t = RankedTensorType::get({}, elt);
    return b.create<arith::ConstantOp>(loc, t, DenseElementsAttr::get(t, b.getFloatAttr(elt, v)));
  }
  Value zeroLike(Value v) { return scalar(ttype(v).getElementType(), 0.0); }
  // The `index` sizes of the `?` dimensions of `like` (for a result of like's shape).
  SmallVector<Value> dynDims(Value like) {
    SmallVector<Value> dims;
    auto t = ttype(like);
    for (int64_t i = 0; i < t.getRank(); ++i)
      if (t.isDynamicDim(i)) dims.push_back(b.create<DimOp>(loc, b.getIndexType(), like, b.getI64IntegerAttr(i)));
    return dims;
  }
  Value add(Value x, Value y) { return b.create<AddOp>(loc, x.getType(), x, y); }
  Value sub(Value x, Value y) { return b.create<SubOp>(loc, x.getType(), x, y); }
  // x * y, typed like `x` (y broadcasts to it).
  Value mul(Value x, Value y) { return b.create<MulOp>(loc, x.getType(), x, y); }
  Value div(Value x, Value y) { return b.create<DivOp>(loc, x.getType(), x, y); }
  Value neg(Value x) { return b.create<NegOp>(loc, x); }
  Value cmp(CmpPredicate p, Value x, Value y) {
    auto t = ttype(x);
    return b.create<CmpOp>(loc, RankedTensorType::get(t.getShape(), b.getI1Type()), p, x, y);
  }
  Value where(Value c, Value x, Value y, Type result) { return b.create<WhereOp>(loc, result, c, x, y); }
  // x[mask] kept, zero elsewhere, typed like `x`.
  Value mask(Value c, Value x) { return where(c, x, zeroLike(x), x.getType()); }

  // Sums `ct` over the axes that broadcasting added or stretched, back to `target`'s shape.
  Value unbroadcast(Value ct, Value target) {
    auto ctt = ttype(ct);
    auto tt = ttype(target);
    if (ctt == tt) return ct;
    int64_t lead = ctt.getRank() - tt.getRank();
    if (lead > 0) {
      SmallVector<int64_t> axes, shape;
      for (int64_t i = 0; i < lead; ++i) axes.push_back(i);
      for (int64_t i = lead; i < ctt.getRank(); ++i) shape.push_back(ctt.getDimSize(i));
      ct = b.create<ReduceOp>(loc, RankedTensorType::get(shape, ctt.getElementType()), ct, ReduceKind::sum, axes, false);
      ctt = ttype(ct);
    }
    SmallVector<int64_t> axes;
    SmallVector<int64_t> shape(ctt.getShape());
    for (int64_t i = 0; i < tt.getRank(); ++i)
      if (tt.getDimSize(i) == 1 && ctt.getDimSize(i) != 1) {
        axes.push_back(i);
        shape[i] = 1;
      }
    if (!axes.empty())
      ct = b.create<ReduceOp>(loc, RankedTensorType::get(shape, ctt.getElementType()), ct, ReduceKind::sum, axes, true);
    if (ct.getType() != tt) ct = b.create<tensor::CastOp>(loc, tt, ct);
    return ct;
  }

  // A reduction's result cotangent with the reduced axes put back as size 1.
  Value keepdims(Value ct, ArrayRef<int64_t> axes, bool keepdim) {
    if (keepdim) return ct;
    for (int64_t a : axes) {  // ascending: each axis is final once inserted
      auto t = ttype(ct);
      SmallVector<int64_t> shape(t.getShape());
      shape.insert(shape.begin() + a, 1);
      ct = b.create<UnsqueezeOp>(loc, RankedTensorType::get(shape, t.getElementType()), ct, b.getI64IntegerAttr(a));
    }
    return ct;
  }
  Value broadcastTo(Value v, Value like) {
    if (v.getType() == like.getType()) return v;
    return b.create<BroadcastToOp>(loc, like.getType(), v, dynDims(like));
  }
  // The number of elements over `axes` of `x`, as a tensor with those axes kept as 1.
  Value count(Value x, ArrayRef<int64_t> axes) {
    auto t = ttype(x);
    int64_t n = 1;
    bool dynamic = false;
    for (int64_t a : axes) {
      if (t.isDynamicDim(a)) dynamic = true;
      else n *= t.getDimSize(a);
    }
    if (!dynamic) return scalar(t.getElementType(), static_cast<double>(n));
    SmallVector<int64_t> shape(t.getShape());
    for (int64_t a : axes) shape[a] = 1;
    Value ones = b.create<OnesOp>(loc, t, dynDims(x));
    return b.create<ReduceOp>(loc, RankedTensorType::get(shape, t.getElementType()), ones, ReduceKind::sum, axes, true);
  }
  Value reduceKeep(Value x, ReduceKind kind, ArrayRef<int64_t> axes) {
    auto t = ttype(x);
    SmallVector<int64_t> shape(t.getShape());
    for (int64_t a : axes) shape[a] = 1;
    return b.create<ReduceOp>(loc, RankedTensorType::get(shape, t.getElementType()), x, kind, axes, true);
  }
  Value transposeLast2(Value x) {
    auto t = ttype(x);
    SmallVector<int64_t> perm, shape;
    for (int64_t i = 0; i < t.getRank(); ++i) perm.push_back(i);
    std::swap(perm[t.getRank() - 1], perm[t.getRank() - 2]);
    for (int64_t p : perm) shape.push_back(t.getDimSize(p));
    return b.create<TransposeOp>(loc, RankedTensorType::get(shape, t.getElementType()), x, b.getDenseI64ArrayAttr(perm));
  }
  // The lower triangle (below the diagonal when `strict`) of the last two axes of `x`, zero
  // elsewhere.
  Value tril(Value x, bool strict) {
    auto t = ttype(x);
    int64_t r = t.getRank();
    auto ar = [&](int64_t axis) {
      int64_t len = t.getDimSize(axis);
      SmallVector<Value> dyn;
      if (len == ShapedType::kDynamic) dyn.push_back(b.create<DimOp>(loc, b.getIndexType(), x, b.getI64IntegerAttr(axis)));
      return b.create<ArangeOp>(loc, RankedTensorType::get({len}, b.getI64Type()), b.getF64FloatAttr(0.0),
                                b.getF64FloatAttr(1.0), dyn)
          .getResult();
    };
    Value rows = unsqueeze(ar(r - 2), 1), cols = ar(r - 1);
    Value keep = b.create<CmpOp>(loc, RankedTensorType::get({t.getDimSize(r - 2), t.getDimSize(r - 1)}, b.getI1Type()),
                                 strict ? CmpPredicate::lt : CmpPredicate::le, cols, rows);
    return where(keep, x, zeroLike(x), x.getType());
  }
  Value triSolve(Value l, Value rhs, bool transpose) {
    return b.create<TriangularSolveOp>(loc, rhs.getType(), l, rhs, b.getBoolAttr(transpose));
  }
  // lhs @ rhs for rank >= 2 operands whose batch dimensions broadcast to `batch`'s.
  Value matmul(Value lhs, Value rhs, Value batchLike) {
    auto l = ttype(lhs), r = ttype(rhs), bt = ttype(batchLike);
    SmallVector<int64_t> shape(bt.getShape().drop_back(2));
    shape.push_back(l.getDimSize(l.getRank() - 2));
    shape.push_back(r.getDimSize(r.getRank() - 1));
    return b.create<MatmulOp>(loc, RankedTensorType::get(shape, l.getElementType()), lhs, rhs);
  }
  Value unsqueeze(Value x, int64_t axis) {
    auto t = ttype(x);
    SmallVector<int64_t> shape(t.getShape());
    shape.insert(shape.begin() + axis, 1);
    return b.create<UnsqueezeOp>(loc, RankedTensorType::get(shape, t.getElementType()), x, b.getI64IntegerAttr(axis));
  }
  Value reshapeLike(Value x, Value like) {
    if (x.getType() == like.getType()) return x;
    return b.create<ReshapeOp>(loc, like.getType(), x, dynDims(like));
  }
  // x reshaped to [M, last], M the product of the other dimensions (dynamic if any is).
  Value flatten2(Value x) {
    auto t = ttype(x);
    int64_t m = 1;
    Value dyn;
    for (int64_t i = 0; i + 1 < t.getRank(); ++i) {
      if (!t.isDynamicDim(i)) {
        m *= t.getDimSize(i);
        continue;
      }
      Value d = b.create<DimOp>(loc, b.getIndexType(), x, b.getI64IntegerAttr(i));
      dyn = dyn ? b.create<arith::MulIOp>(loc, dyn, d).getResult() : d;
    }
    SmallVector<Value> dims;
    if (dyn) {
      if (m != 1) dyn = b.create<arith::MulIOp>(loc, dyn, b.create<arith::ConstantIndexOp>(loc, m));
      dims.push_back(dyn);
    }
    if (t.isDynamicDim(t.getRank() - 1))
      dims.push_back(b.create<DimOp>(loc, b.getIndexType(), x, b.getI64IntegerAttr(t.getRank() - 1)));
    auto rt = RankedTensorType::get({dyn ? ShapedType::kDynamic : m, t.getDimSize(t.getRank() - 1)}, t.getElementType());
    return b.create<ReshapeOp>(loc, rt, x, dims);
  }
};

// Rules of the nn ops (issue 5, third part): gelu (with the internal erf), erf, dropout,
// group_norm, conv2d, max/avg pooling, adaptive average pooling and attention. Each matches
// the op's CPU lowering (ir/schedule/lower_to_linalg.cpp). Fails for an op without a rule.
LogicalResult nnRules(Operation* op, OpBuilder& b, ArrayRef<Value> cts, SmallVectorImpl<Value>& out) {
  G g{b, op->getLoc()};
  Location loc = op->getLoc();
  Value ct = cts.empty() ? Value() : cts[0];
  const int64_t kDyn = ShapedType::kDynamic;
  auto idx = [&](int64_t v) -> OpFoldResult { return b.getIndexAttr(v); };
  auto dimOf = [&](Value x, int64_t i) -> Value {
    return b.create<DimOp>(loc, b.getIndexType(), x, b.getI64IntegerAttr(i)).getResult();
  };
  // The sizes of `x` (constants where static).
  auto sizesOf = [&](Value x) {
    SmallVector<OpFoldResult> s;
    auto t = ttype(x);
    for (int64_t i = 0; i < t.getRank(); ++i)
      s.push_back(t.isDynamicDim(i) ? OpFoldResult(dimOf(x, i)) : idx(t.getDimSize(i)));
    return s;
  };
  auto tensorOf = [&](ArrayRef<int64_t> shape, Type elt) { return RankedTensorType::get(shape, elt); };
  auto transpose = [&](Value x, ArrayRef<int64_t> perm) -> Value {
    auto t = ttype(x);
    SmallVector<int64_t> shape;
    for (int64_t p : perm) shape.push_back(t.getDimSize(p));
    return b.create<TransposeOp>(loc, tensorOf(shape, t.getElementType()), x, b.getDenseI64ArrayAttr(perm));
  };
  // `x` reshaped to `shape`, whose `?` take the values of `dyn` in order.
  auto reshape = [&](Value x, ArrayRef<int64_t> shape, ValueRange dyn) -> Value {
    auto t = tensorOf(shape, ttype(x).getElementType());
    if (t == x.getType()) return x;
    return b.create<ReshapeOp>(loc, t, x, dyn);
  };
  auto castTo = [&](Value v, Type t) -> Value {
    return v.getType() == t ? v : b.create<tensor::CastOp>(loc, t, v).getResult();
  };
  auto constant = [&](RankedTensorType t, ArrayRef<double> vs) -> Value {
    SmallVector<Attribute> as;
    for (double v : vs) as.push_back(b.getFloatAttr(t.getElementType(), v));
    return b.create<arith::ConstantOp>(loc, t, DenseElementsAttr::get(t, as));
  };
  // A tessera.slice of `x` (static offsets and strides, `sizes` as given).
  auto slice = [&](Value x, Type result, ArrayRef<int64_t> offs, ArrayRef<OpFoldResult> sizes, ArrayRef<int64_t> strides) {
    SmallVector<OpFoldResult> o, s;
    for (int64_t v : offs) o.push_back(idx(v));
    for (int64_t v : strides) s.push_back(idx(v));
    return b.create<SliceOp>(loc, result, x, o, sizes, s).getResult();
  };
  // `src` written into `dest` at `offs` with `strides` (tensor.insert_slice).
  auto insert = [&](Value src, Value dest, ArrayRef<int64_t> offs, ArrayRef<int64_t> strides) {
    SmallVector<OpFoldResult> o, s;
    for (int64_t v : offs) o.push_back(idx(v));
    for (int64_t v : strides) s.push_back(idx(v));
    return b.create<tensor::InsertSliceOp>(loc, src, dest, o, sizesOf(src), s).getResult();
  };
  // Reduces `x` with sum over `axes` (dropped), typed like `like`.
  auto sumTo = [&](Value x, ArrayRef<int64_t> axes, Value like) {
    auto t = ttype(x);
    SmallVector<int64_t> shape;
    for (int64_t i = 0; i < t.getRank(); ++i)
      if (!llvm::is_contained(axes, i)) shape.push_back(t.getDimSize(i));
    Value r = b.create<ReduceOp>(loc, tensorOf(shape, t.getElementType()), x, ReduceKind::sum, axes, false);
    return castTo(r, like.getType());
  };
  return llvm::TypeSwitch<Operation*, LogicalResult>(op)
      .Case<GeluOp>([&](GeluOp gl) {
        // gelu' = Phi(x) + x phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2, phi the normal density.
        Value x = gl.getInput();
        Type elt = ttype(x).getElementType();
        Value erf = b.create<ErfOp>(loc, g.mul(x, g.scalar(elt, 0.70710678118654752440)));
        Value cdf = g.mul(g.add(erf, g.scalar(elt, 1.0)), g.scalar(elt, 0.5));
        Value pdf = g.mul(b.create<ExpOp>(loc, g.mul(g.mul(x, x), g.scalar(elt, -0.5))),
                          g.scalar(elt, 0.39894228040143267794));
        out[0] = g.mul(ct, g.add(cdf, g.mul(x, pdf)));
        return success();
      })
      .Case<ErfOp>([&](ErfOp e) {
        // erf' = 2 / sqrt(pi) exp(-x^2)
        Value x = e.getInput();
        Type elt = ttype(x).getElementType();
        Value d = b.create<ExpOp>(loc, g.neg(g.mul(x, x)));
        out[0] = g.mul(ct, g.mul(d, g.scalar(elt, 1.12837916709551257390)));
        return success();
      })
      .Case<DropoutOp>([&](DropoutOp d) {
        // ct * mask / (1 - p). The mask is the forward's: the Philox stream is counter-based, so
        // the dropout of ones with the same seed and p reads the same numbers at the same
        // counters as the forward op (no new draw; nothing is kept between the passes).
        Value x = d.getInput();
        Value ones = b.create<OnesOp>(loc, x.getType(), g.dynDims(x));
        auto m = b.create<DropoutOp>(loc, ones, d.getP().convertToDouble(), static_cast<int64_t>(d.getSeed()));
        m->setAttrs(d->getAttrDictionary());
        out[0] = g.mul(ct, m.getResult());
        return success();
      })
      .Case<GroupNormOp>([&](GroupNormOp gn) -> LogicalResult {
        // Per (n, group) a layer norm over [C / G, ...]: x viewed as [N, G, M], the rule of
        // layer_norm on the last axis, then the per-channel weight and bias.
        Value x = gn.getInput();
        auto xt = ttype(x);
        int64_t r = xt.getRank(), groups = static_cast<int64_t>(gn.getGroups());
        if (r < 2 || xt.isDynamicDim(1)) return failure();
        Type elt = xt.getElementType();
        int64_t m = xt.getDimSize(1) / groups;
        Value dynM;
        for (int64_t i = 2; i < r; ++i) {
          if (!xt.isDynamicDim(i)) {
            m *= xt.getDimSize(i);
            continue;
          }
          Value d = dimOf(x, i);
          dynM = dynM ? b.create<arith::MulIOp>(loc, dynM, d).getResult() : d;
        }
        SmallVector<Value> dyn;
        if (xt.isDynamicDim(0)) dyn.push_back(dimOf(x, 0));
        if (dynM) dyn.push_back(m == 1 ? dynM : b.create<arith::MulIOp>(loc, dynM, b.create<arith::ConstantIndexOp>(loc, m)).getResult());
        SmallVector<int64_t> shape3{xt.getDimSize(0), groups, dynM ? kDyn : m};
        SmallVector<int64_t> axes{2};
        Value dh = ct;
        if (Value w = gn.getWeight()) {
          SmallVector<int64_t> wshape(r - 1, 1);
          wshape[0] = xt.getDimSize(1);
          dh = g.mul(ct, reshape(w, wshape, {}));
        }
        Value x3 = reshape(x, shape3, dyn), dh3 = reshape(dh, shape3, dyn);
        Value xc = g.sub(x3, g.reduceKeep(x3, ReduceKind::mean, axes));
        Value var = g.reduceKeep(g.mul(xc, xc), ReduceKind::mean, axes);
        Value rstd = b.create<RsqrtOp>(loc, g.add(var, g.scalar(elt, gn.getEps().convertToDouble())));
        Value xhat = g.mul(xc, rstd);
        Value m1 = g.reduceKeep(dh3, ReduceKind::mean, axes);
        Value m2 = g.reduceKeep(g.mul(dh3, xhat), ReduceKind::mean, axes);
        out[0] = g.reshapeLike(g.mul(g.sub(g.sub(dh3, m1), g.mul(xhat, m2)), rstd), x);
        SmallVector<int64_t> notC{0};
        for (int64_t i = 2; i < r; ++i) notC.push_back(i);
        unsigned next = 1;
        if (Value w = gn.getWeight()) out[next++] = sumTo(g.mul(ct, g.reshapeLike(xhat, x)), notC, w);
        if (Value bias = gn.getBias()) out[next] = sumTo(ct, notC, bias);
        return success();
      })
      .Case<Conv2dOp>([&](Conv2dOp c) -> LogicalResult {
        // Input: the transposed convolution, as a stride-1 convolution of the cotangent spread
        // out by the stride (into zeros, with a border of the dilated kernel's size) with the
        // flipped kernel, channels in and out swapped per group; then the padding cut off.
        // Weight: the correlation of the input with the cotangent (the cotangent as the kernel,
        // dilated by the stride, moved by the dilation), batch and channels swapped. Bias: the
        // cotangent summed over N, H, W. Channels, spatial sizes and kernel must be static.
        Value x = c.getInput(), w = c.getWeight();
        auto xt = ttype(x), wt = ttype(w), yt = ttype(c.getResult());
        for (int64_t i = 1; i < 4; ++i)
          if (xt.isDynamicDim(i) || wt.isDynamicDim(i) || yt.isDynamicDim(i)) return failure();
        if (wt.isDynamicDim(0)) return failure();
        Type elt = xt.getElementType();
        int64_t n = xt.getDimSize(0), cin = xt.getDimSize(1), h = xt.getDimSize(2), wd = xt.getDimSize(3);
        int64_t o = wt.getDimSize(0), cg = wt.getDimSize(1), kh = wt.getDimSize(2), kw = wt.getDimSize(3);
        int64_t ho = yt.getDimSize(2), wo = yt.getDimSize(3);
        ArrayRef<int64_t> s = c.getStride(), p = c.getPadding(), d = c.getDilation();
        int64_t grp = static_cast<int64_t>(c.getGroups());
        SmallVector<Value> nDyn;
        if (xt.isDynamicDim(0)) nDyn.push_back(dimOf(x, 0));
        auto conv = [&](Value in, Value k, ArrayRef<int64_t> shape, ArrayRef<int64_t> st, ArrayRef<int64_t> pad,
                        ArrayRef<int64_t> dil) -> Value {
          return b.create<Conv2dOp>(loc, tensorOf(shape, elt), in, k, Value(), st, pad, dil, grp);
        };
        // Input gradient.
        SmallVector<OpFoldResult> wsizes{idx(o), idx(cg), idx(kh), idx(kw)};
        Value wf = slice(w, w.getType(), {0, 0, kh - 1, kw - 1}, wsizes, {1, 1, -1, -1});
        // [O, C/G, kh, kw] -> [G, O/G, C/G, kh, kw] -> [G, C/G, O/G, kh, kw] -> [C, O/G, kh, kw]
        Value w5 = reshape(wf, {grp, o / grp, cg, kh, kw}, {});
        Value wT = reshape(transpose(w5, {0, 2, 1, 3, 4}), {cin, o / grp, kh, kw}, {});
        // The border of the spread cotangent that only the padding's gradient reads is left out
        // when the padding is at most the dilated kernel's extent (the usual case): the
        // convolution then computes dx itself, not the padded input's gradient to be cut down
        // (a 3x3 "same" convolution at 32x32 computed 34x34, 13% more). With stride 1 the spread
        // cotangent is the cotangent zero-padded, which the convolution's own padding does.
        int64_t e0 = (kh - 1) * d[0] - p[0], e1 = (kw - 1) * d[1] - p[1];
        Value dx;
        if (e0 >= 0 && e1 >= 0 && s[0] == 1 && s[1] == 1) {
          dx = conv(ct, wT, {n, cin, h, wd}, {1, 1}, {e0, e1}, d);
        } else if (e0 >= 0 && e1 >= 0) {
          int64_t hz = h + (kh - 1) * d[0], wz = wd + (kw - 1) * d[1];
          Value z = b.create<ZerosOp>(loc, tensorOf({n, o, hz, wz}, elt), nDyn);
          z = insert(ct, z, {0, 0, e0, e1}, {1, 1, s[0], s[1]});
          dx = conv(z, wT, {n, cin, h, wd}, {1, 1}, {0, 0}, d);
        } else {
          int64_t hp = h + 2 * p[0], wp = wd + 2 * p[1];
          int64_t hz = hp + (kh - 1) * d[0], wz = wp + (kw - 1) * d[1];
          Value z = b.create<ZerosOp>(loc, tensorOf({n, o, hz, wz}, elt), nDyn);
          z = insert(ct, z, {0, 0, (kh - 1) * d[0], (kw - 1) * d[1]}, {1, 1, s[0], s[1]});
          Value dxp = conv(z, wT, {n, cin, hp, wp}, {1, 1}, {0, 0}, d);
          dx = slice(dxp, x.getType(), {0, 0, p[0], p[1]}, sizesOf(x), {1, 1, 1, 1});
        }
        out[0] = castTo(dx, x.getType());
        // Weight gradient: x as [C/G, G * N, H, W] (channel (g, n)), the cotangent as [O, N, Ho, Wo].
        SmallVector<Value> gnDyn;
        if (xt.isDynamicDim(0))
          gnDyn.push_back(grp == 1 ? nDyn[0] : b.create<arith::MulIOp>(loc, nDyn[0], b.create<arith::ConstantIndexOp>(loc, grp)).getResult());
        SmallVector<Value> nDyn5(nDyn);
        Value x5 = reshape(x, {n, grp, cg, h, wd}, nDyn5);
        int64_t gn = n == kDyn ? kDyn : grp * n;
        Value xT = reshape(transpose(x5, {2, 1, 0, 3, 4}), {cg, gn, h, wd}, gnDyn);
        Value ctT = transpose(ct, {1, 0, 2, 3});
        int64_t kh2 = (h + 2 * p[0] - s[0] * (ho - 1) - 1) / d[0] + 1;
        int64_t kw2 = (wd + 2 * p[1] - s[1] * (wo - 1) - 1) / d[1] + 1;
        Value dw = conv(xT, ctT, {cg, o, kh2, kw2}, d, p, s);
        if (kh2 != kh || kw2 != kw)
          dw = slice(dw, tensorOf({cg, o, kh, kw}, elt), {0, 0, 0, 0}, {idx(cg), idx(o), idx(kh), idx(kw)}, {1, 1, 1, 1});
        out[1] = castTo(transpose(dw, {1, 0, 2, 3}), w.getType());
        if (Value bias = c.getBias()) out[2] = sumTo(ct, {0, 2, 3}, bias);
        return success();
      })
      .Case<MaxPool2dOp, AvgPool2dOp>([&](auto pool) -> LogicalResult {
        // Each window position (i, j) of the kernel: the strided slice of the (padded) input it
        // reads; its share of the cotangent is written back there with the same stride and
        // summed. Max: the first maximum of each window in row-major order takes the whole
        // cotangent (as PyTorch); average: 1 / (kh kw) each (the lowering counts the padding).
        bool isMax = isa<MaxPool2dOp>(pool.getOperation());
        Value x = pool.getInput(), y = pool.getResult();
        auto xt = ttype(x), yt = ttype(y);
        for (int64_t i = 2; i < 4; ++i)
          if (xt.isDynamicDim(i) || yt.isDynamicDim(i)) return failure();
        Type elt = xt.getElementType();
        ArrayRef<int64_t> k = pool.getKernel(), s = pool.getStride(), p = pool.getPadding();
        SmallVector<Value> ncDyn;
        for (int64_t i = 0; i < 2; ++i)
          if (xt.isDynamicDim(i)) ncDyn.push_back(dimOf(x, i));
        auto pt = tensorOf({xt.getDimSize(0), xt.getDimSize(1), xt.getDimSize(2) + 2 * p[0], xt.getDimSize(3) + 2 * p[1]}, elt);
        Value xp = x;
        if (isMax && (p[0] || p[1])) {
          Value fill = b.create<FullOp>(loc, pt, b.getF64FloatAttr(-std::numeric_limits<double>::infinity()), ncDyn);
          xp = insert(x, fill, {0, 0, p[0], p[1]}, {1, 1, 1, 1});
        }
        Value acc, taken;
        Value share = isMax ? Value() : g.mul(ct, g.scalar(elt, 1.0 / static_cast<double>(k[0] * k[1])));
        for (int64_t i = 0; i < k[0]; ++i)
          for (int64_t j = 0; j < k[1]; ++j) {
            Value part = share;
            if (isMax) {
              Value win = slice(xp, y.getType(), {0, 0, i, j}, sizesOf(y), {1, 1, s[0], s[1]});
              Value hit = g.cmp(CmpPredicate::eq, win, y);
              if (taken) {
                Value fresh = b.create<AndOp>(loc, hit.getType(), hit, b.create<NotOp>(loc, taken));
                taken = b.create<OrOp>(loc, hit.getType(), taken, hit);
                hit = fresh;
              } else {
                taken = hit;
              }
              part = g.mask(hit, ct);
            }
            Value placed = insert(part, b.create<ZerosOp>(loc, pt, ncDyn), {0, 0, i, j}, {1, 1, s[0], s[1]});
            acc = acc ? g.add(acc, placed) : placed;
          }
        if (p[0] || p[1]) acc = slice(acc, x.getType(), {0, 0, p[0], p[1]}, sizesOf(x), {1, 1, 1, 1});
        out[0] = castTo(acc, x.getType());
        return success();
      })
      .Case<AdaptiveAvgPool2dOp>([&](AdaptiveAvgPool2dOp a) -> LogicalResult {
        // Linear in x: y = A x B^T with A [Ho, H] (1 / count over the rows of each output row,
        // rows [floor(i H / Ho), ceil((i + 1) H / Ho))), likewise B; dx = A^T ct B.
        Value x = a.getInput();
        auto xt = ttype(x);
        if (xt.isDynamicDim(2) || xt.isDynamicDim(3)) return failure();
        Type elt = xt.getElementType();
        int64_t h = xt.getDimSize(2), wd = xt.getDimSize(3), ho = a.getOutputSize()[0], wo = a.getOutputSize()[1];
        // The [in, out] matrix of one axis, transposed when `outFirst`.
        auto averaging = [&](int64_t in, int64_t outN, bool outFirst) {
          SmallVector<double> m(in * outN, 0.0);
          for (int64_t i = 0; i < outN; ++i) {
            int64_t lo = (i * in) / outN, hi = ((i + 1) * in + outN - 1) / outN;
            for (int64_t r = lo; r < hi; ++r) m[outFirst ? i * in + r : r * outN + i] = 1.0 / static_cast<double>(hi - lo);
          }
          return constant(outFirst ? tensorOf({outN, in}, elt) : tensorOf({in, outN}, elt), m);
        };
        Value t = g.matmul(averaging(h, ho, false), ct, ct);  // [N, C, H, Wo]
        out[0] = castTo(g.matmul(t, averaging(wd, wo, true), t), x.getType());
        return success();
      })
      .Case<AttentionOp>([&](AttentionOp at) -> LogicalResult {
        // Recomputes p = softmax(q k^T scale [masked]); with do the result's cotangent:
        // dv = p^T do, dp = do v^T, ds = p (dp - sum(dp p)), dq = ds k scale, dk = ds^T q scale.
        Value q = at.getQuery(), k = at.getKey(), v = at.getValue();
        auto qt = ttype(q);
        int64_t r = qt.getRank();
        Type elt = qt.getElementType();
        Value sc;  // the scale, rank 0
        if (at.getScale()) {
          sc = g.scalar(elt, at.getScale()->convertToDouble());
        } else if (!qt.isDynamicDim(r - 1)) {
          sc = g.scalar(elt, 1.0 / std::sqrt(static_cast<double>(qt.getDimSize(r - 1))));
        } else {
          // rsqrt(D) of a dynamic head dimension: D as the sum of D ones.
          Value ones = b.create<OnesOp>(loc, tensorOf({kDyn}, elt), ValueRange{dimOf(q, r - 1)});
          Value d = b.create<ReduceOp>(loc, tensorOf({}, elt), ones, ReduceKind::sum, ArrayRef<int64_t>{0}, false);
          sc = b.create<RsqrtOp>(loc, d);
        }
        Value s = g.mul(g.matmul(q, g.transposeLast2(k), q), sc);
        Value keep;
        if (at.getCausal()) {
          // As lower_attention: key j is masked for query i when j > i.
          auto st = ttype(s);
          auto ar = [&](int64_t axis, Value of) {
            int64_t len = st.getDimSize(axis);
            SmallVector<Value> dyn;
            if (len == kDyn) dyn.push_back(dimOf(of, axis));
            return b.create<ArangeOp>(loc, tensorOf({len}, b.getI64Type()), b.getF64FloatAttr(0.0), b.getF64FloatAttr(1.0), dyn)
                .getResult();
          };
          Value rows = g.unsqueeze(ar(r - 2, s), 1), cols = ar(r - 1, s);
          keep = b.create<CmpOp>(loc, tensorOf({st.getDimSize(r - 2), st.getDimSize(r - 1)}, b.getI1Type()), CmpPredicate::le,
                                 cols, rows);
          s = g.where(keep, s, g.scalar(elt, -std::numeric_limits<double>::infinity()), s.getType());
        }
        Value p = b.create<SoftmaxOp>(loc, s, r - 1, true);
        if (keep) p = g.mask(keep, p);  // a fully masked row: 0, not NaN
        Value dv = g.matmul(g.transposeLast2(p), ct, p);
        Value dp = g.matmul(ct, g.transposeLast2(v), ct);
        Value ds = g.mul(p, g.sub(dp, g.reduceKeep(g.mul(dp, p), ReduceKind::sum, {r - 1})));
        out[0] = castTo(g.mul(g.matmul(ds, k, ds), sc), q.getType());
        out[1] = castTo(g.mul(g.matmul(g.transposeLast2(ds), q, ds), sc), k.getType());
        out[2] = castTo(dv, v.getType());
        return success();
      })
      .Default([](Operation*) { return failure(); });
}

// Rules of the structural and normalization ops (issue 5, second part): slice, concat,
// stack, split, layer_norm, rms_norm, embedding. Fails for an op without a rule.
LogicalResult moreRules(Operation* op, OpBuilder& b, ArrayRef<Value> cts, SmallVectorImpl<Value>& out) {
  G g{b, op->getLoc()};
  Location loc = op->getLoc();
  Value ct = cts.empty() ? Value() : cts[0];
  // `n` elements of `x` along `axis` from `offset`, as a tessera.slice (dropping `axis` if asked).
  auto sliceAlong = [&](Value x, int64_t axis, OpFoldResult offset, OpFoldResult n, Type result, bool drop) {
    auto t = ttype(x);
    SmallVector<OpFoldResult> offs, sizes, strides;
    for (int64_t i = 0; i < t.getRank(); ++i) {
      offs.push_back(i == axis ? offset : b.getIndexAttr(0));
      strides.push_back(b.getIndexAttr(1));
      if (i == axis) sizes.push_back(n);
      else if (t.isDynamicDim(i)) sizes.push_back(b.create<DimOp>(loc, b.getIndexType(), x, b.getI64IntegerAttr(i)).getResult());
      else sizes.push_back(b.getIndexAttr(t.getDimSize(i)));
    }
    SmallVector<int64_t> dropDims;
    if (drop) dropDims.push_back(axis);
    return b.create<SliceOp>(loc, result, x, offs, sizes, strides, dropDims).getResult();
  };
  auto sizeAlong = [&](Value x, int64_t axis) -> OpFoldResult {
    auto t = ttype(x);
    if (!t.isDynamicDim(axis)) return b.getIndexAttr(t.getDimSize(axis));
    return b.create<DimOp>(loc, b.getIndexType(), x, b.getI64IntegerAttr(axis)).getResult();
  };
  auto plus = [&](OpFoldResult a, OpFoldResult c) -> OpFoldResult {
    auto ca = getConstantIntValue(a), cc = getConstantIntValue(c);
    if (ca && cc) return b.getIndexAttr(*ca + *cc);
    return b.create<arith::AddIOp>(loc, getValueOrCreateConstantIndexOp(b, loc, a),
                                   getValueOrCreateConstantIndexOp(b, loc, c))
        .getResult();
  };
  return llvm::TypeSwitch<Operation*, LogicalResult>(op)
      .Case<SliceOp>([&](SliceOp s) -> LogicalResult {
        // The cotangent placed into zeros at the slice (constant steps). A negative step takes
        // the elements of the positive step from the last one in reverse order: the cotangent
        // is reversed along that axis first.
        for (int64_t st : s.getStaticStrides())
          if (st == ShapedType::kDynamic || st == 0) return failure();
        Value x = s.getInput();
        Value c = ct;
        if (auto drop = s.getDropDims())
          for (int64_t a : *drop) c = g.unsqueeze(c, a);  // ascending: restores the dropped axes
        SmallVector<OpFoldResult> offs = getMixedValues(s.getStaticOffsets(), s.getOffsets(), b);
        SmallVector<OpFoldResult> sizes = getMixedValues(s.getStaticSizes(), s.getSizes(), b);
        SmallVector<OpFoldResult> strides = getMixedValues(s.getStaticStrides(), s.getStrides(), b);
        // A run-time index of a dropped axis is checked by the forward slice's lowering; here it
        // is clamped to [0, n), so the placement never writes outside x.
        if (auto drop = s.getDropDims())
          for (int64_t a : *drop) {
            if (a >= static_cast<int64_t>(offs.size()) || getConstantIntValue(offs[a])) continue;
            Value at = getValueOrCreateConstantIndexOp(b, loc, offs[a]);
            Value n = b.create<tensor::DimOp>(loc, x, a);
            Value last = b.create<arith::SubIOp>(loc, n, b.create<arith::ConstantIndexOp>(loc, 1));
            at = b.create<arith::MinSIOp>(loc, at, last);
            offs[a] = b.create<arith::MaxSIOp>(loc, at, b.create<arith::ConstantIndexOp>(loc, 0)).getResult();
          }
        // The cotangent may be typed less precisely than the slice (e.g. dynamic sizes).
        auto want = tensor::ExtractSliceOp::inferResultType(ttype(x), offs, sizes, strides);
        if (c.getType() != want) c = b.create<tensor::CastOp>(loc, want, c);
        if (llvm::any_of(s.getStaticStrides(), [](int64_t st) { return st < 0; })) {
          SmallVector<OpFoldResult> roffs, rstrides;
          auto minus = [&](OpFoldResult a, int64_t k) -> OpFoldResult {  // a - k, a >= k
            if (auto ca = getConstantIntValue(a)) return b.getIndexAttr(std::max<int64_t>(*ca - k, 0));
            return b.create<arith::SubIOp>(loc, getValueOrCreateConstantIndexOp(b, loc, a),
                                           b.create<arith::ConstantIndexOp>(loc, k)).getResult();
          };
          for (auto [i, st] : llvm::enumerate(s.getStaticStrides())) {
            roffs.push_back(st < 0 ? minus(sizes[i], 1) : b.getIndexAttr(0));
            rstrides.push_back(b.getIndexAttr(st < 0 ? -1 : 1));
            if (st > 0) continue;
            // offset + (size - 1) * step, the first element of the positive-step slice
            auto co = getConstantIntValue(offs[i]), cs = getConstantIntValue(sizes[i]);
            if (co && cs) {
              offs[i] = b.getIndexAttr(*co + std::max<int64_t>(*cs - 1, 0) * st);
            } else {
              Value last = getValueOrCreateConstantIndexOp(b, loc, minus(sizes[i], 1));
              Value step = b.create<arith::ConstantIndexOp>(loc, st);
              offs[i] = b.create<arith::AddIOp>(loc, getValueOrCreateConstantIndexOp(b, loc, offs[i]),
                                                b.create<arith::MulIOp>(loc, last, step)).getResult();
            }
            strides[i] = b.getIndexAttr(-st);
          }
          c = b.create<SliceOp>(loc, c.getType(), c, roffs, sizes, rstrides).getResult();
        }
        Value zeros = b.create<ZerosOp>(loc, x.getType(), g.dynDims(x));
        out[0] = b.create<tensor::InsertSliceOp>(loc, c, zeros, offs, sizes, strides);
        return success();
      })
      .Case<ConcatOp>([&](ConcatOp c) {
        int64_t axis = static_cast<int64_t>(c.getAxis());
        OpFoldResult at = b.getIndexAttr(0);
        for (auto [i, x] : llvm::enumerate(c.getInputs())) {
          OpFoldResult n = sizeAlong(x, axis);
          if (isFloatTensor(x)) out[i] = sliceAlong(ct, axis, at, n, x.getType(), false);
          at = plus(at, n);
        }
        return success();
      })
      .Case<StackOp>([&](StackOp s) {
        int64_t axis = static_cast<int64_t>(s.getAxis());
        for (auto [i, x] : llvm::enumerate(s.getInputs()))
          if (isFloatTensor(x))
            out[i] = sliceAlong(ct, axis, b.getIndexAttr(static_cast<int64_t>(i)), b.getIndexAttr(1), x.getType(), true);
        return success();
      })
      .Case<SplitOp>([&](SplitOp s) {
        if (!isFloatTensor(s.getInput())) return success();
        SmallVector<Value> parts;
        for (auto [r, c] : llvm::zip(s.getResults(), cts))
          parts.push_back(c ? c : b.create<ZerosOp>(loc, r.getType(), g.dynDims(r)).getResult());
        out[0] = b.create<ConcatOp>(loc, s.getInput().getType(), parts, s.getAxisAttr());
        return success();
      })
      .Case<LayerNormOp>([&](LayerNormOp l) {
        // xhat = (x - mean) * rstd over [axis, rank); dx = rstd (dh - mean(dh) - xhat mean(dh xhat)).
        Value x = l.getInput();
        SmallVector<int64_t> axes;
        for (int64_t i = static_cast<int64_t>(l.getAxis()); i < ttype(x).getRank(); ++i) axes.push_back(i);
        Type elt = ttype(x).getElementType();
        Value xc = g.sub(x, g.reduceKeep(x, ReduceKind::mean, axes));
        Value var = g.reduceKeep(g.mul(xc, xc), ReduceKind::mean, axes);
        Value rstd = b.create<RsqrtOp>(loc, g.add(var, g.scalar(elt, l.getEps().convertToDouble())));
        Value xhat = g.mul(xc, rstd);
        Value dh = l.getWeight() ? g.mul(ct, l.getWeight()) : ct;
        Value m1 = g.reduceKeep(dh, ReduceKind::mean, axes);
        Value m2 = g.reduceKeep(g.mul(dh, xhat), ReduceKind::mean, axes);
        out[0] = g.mul(g.sub(g.sub(dh, m1), g.mul(xhat, m2)), rstd);
        if (l.getWeight()) out[1] = g.unbroadcast(g.mul(ct, xhat), l.getWeight());
        if (l.getBias()) out[2] = g.unbroadcast(ct, l.getBias());
        return success();
      })
      .Case<RmsNormOp>([&](RmsNormOp r) -> LogicalResult {
        // r = rsqrt(mean(x*x) + eps), xhat = x r; dx = r (dh - xhat mean(dh xhat)). `safe`
        // (rmsnorm_safe) is lowered like the plain op (eps > 0 keeps an all-zero row at 0), so
        // it has the same gradient.
        Value x = r.getInput();
        int64_t last = ttype(x).getRank() - 1;
        Type elt = ttype(x).getElementType();
        Value ms = g.reduceKeep(g.mul(x, x), ReduceKind::mean, {last});
        Value rs = b.create<RsqrtOp>(loc, g.add(ms, g.scalar(elt, r.getEps().convertToDouble())));
        Value xhat = g.mul(x, rs);
        Value dh = r.getWeight() ? g.mul(ct, r.getWeight()) : ct;
        Value m = g.reduceKeep(g.mul(dh, xhat), ReduceKind::mean, {last});
        out[0] = g.mul(g.sub(dh, g.mul(xhat, m)), rs);
        if (r.getWeight()) out[1] = g.unbroadcast(g.mul(ct, xhat), r.getWeight());
        return success();
      })
      .Case<EmbeddingOp>([&](EmbeddingOp e) -> LogicalResult {
        // The scatter-add of the rows' cotangents into a zero table: O(lookups x D).
        Value table = e.getTable();
        if (!isFloatTensor(table)) return success();
        out[0] = b.create<EmbeddingGradOp>(loc, table.getType(), table, e.getIds(), ct);
        return success();
      })
      .Case<EmbeddingGradOp>([&](EmbeddingGradOp e) -> LogicalResult {
        // Linear in ct: its cotangent gathers the table cotangent's rows at the ids.
        if (isFloatTensor(e.getCt())) out[2] = b.create<EmbeddingOp>(loc, e.getCt().getType(), ct, e.getIds());
        return success();
      })
      .Default([&](Operation*) { return nnRules(op, b, cts, out); });
}

// The rule of each op: fills `out` (one entry per operand, null for zero) or fails.
LogicalResult rule(Operation* op, OpBuilder& b, ArrayRef<Value> cts, SmallVectorImpl<Value>& out) {
  out.assign(op->getNumOperands(), Value());
  Value ct = cts.empty() ? Value() : cts[0];
  if (op->getNumResults() == 1 && !ct) return success();  // nothing flows back
  G g{b, op->getLoc()};
  auto binary = [&](Value dl, Value dr) {
    if (dl && isFloatTensor(op->getOperand(0))) out[0] = g.unbroadcast(dl, op->getOperand(0));
    if (dr && isFloatTensor(op->getOperand(1))) out[1] = g.unbroadcast(dr, op->getOperand(1));
    return success();
  };
  return llvm::TypeSwitch<Operation*, LogicalResult>(op)
      // Zero almost everywhere, or not differentiable: no cotangent flows back.
      .Case<CmpOp, AndOp, OrOp, XorOp, NotOp, FloorDivOp, OneHotOp, HasNanOp, HasInfOp, ZerosOp, OnesOp, FullOp,
            ArangeOp, RandnOp, RandOp, SampleFamilyOp, DimOp, LoadOp, PrintOp, SaveOp, AssertOp>(
          [](auto) { return success(); })
      .Case<AddOp>([&](auto) { return binary(ct, ct); })
      .Case<SubOp>([&](auto) { return binary(ct, g.neg(ct)); })
      .Case<MulOp>([&](MulOp m) { return binary(g.mul(ct, m.getRhs()), g.mul(ct, m.getLhs())); })
      .Case<DivOp>([&](DivOp d) {
        if (!isFloatTensor(d.getResult())) return success();
        return binary(g.div(ct, d.getRhs()), g.neg(g.div(g.mul(ct, d.getResult()), d.getRhs())));
      })
      .Case<PowOp>([&](PowOp p) {
        Value x = p.getLhs(), y = p.getRhs();
        Type elt = ttype(x).getElementType();
        // A constant exponent (x ** 2): the derivative's exponent is a constant too, which the
        // lowering computes without powf (x ** 1 is x).
        DenseElementsAttr dense;
        Value ym1;
        if (matchPattern(y, m_Constant(&dense)) && dense.isSplat() && isa<FloatType>(dense.getElementType()) &&
            ttype(y).getRank() == 0)
          ym1 = g.scalar(elt, dense.getSplatValue<APFloat>().convertToDouble() - 1.0);
        else
          ym1 = g.sub(y, g.scalar(elt, 1.0));
        Value xpow = b.create<PowOp>(g.loc, p.getType(), x, ym1);
        Value dl = g.mul(g.mul(ct, y), xpow);
        Value logx = b.create<LogOp>(g.loc, x);
        // d/dy x**y = x**y log x, taken as 0 where x == 0 (as PyTorch does).
        Value dr = g.mul(g.mul(ct, p.getResult()), logx);
        dr = g.where(g.cmp(CmpPredicate::eq, p.getResult(), g.zeroLike(x)), g.zeroLike(x), dr, dr.getType());
        return binary(dl, dr);
      })
      .Case<MaximumOp, MinimumOp>([&](auto m) {
        bool isMax = isa<MaximumOp>(m.getOperation());
        Value lhsB = g.broadcastTo(m.getLhs(), m.getResult());
        Value c = g.cmp(isMax ? CmpPredicate::gt : CmpPredicate::lt, lhsB, m.getRhs());
        // Ties give each side half of the cotangent (as torch.maximum/minimum).
        Value tie = g.cmp(CmpPredicate::eq, lhsB, m.getRhs());
        Value half = g.mul(ct, g.scalar(ttype(ct).getElementType(), 0.5));
        Value other = g.where(tie, half, ct, ct.getType());
        return binary(g.where(c, ct, g.mask(tie, half), ct.getType()), g.where(c, g.zeroLike(ct), other, ct.getType()));
      })
      .Case<ModOp>([&](ModOp m) {
        if (!isFloatTensor(m.getResult())) return success();
        Value q = b.create<FloorDivOp>(g.loc, m.getType(), m.getLhs(), m.getRhs());
        return binary(ct, g.neg(g.mul(ct, q)));
      })
      .Case<NegOp>([&](auto) { out[0] = g.neg(ct); return success(); })
      .Case<ExpOp>([&](ExpOp e) { out[0] = g.mul(ct, e.getResult()); return success(); })
      .Case<LogOp>([&](LogOp l) { out[0] = g.div(ct, l.getInput()); return success(); })
      .Case<Log1pOp>([&](Log1pOp l) {
        out[0] = g.div(ct, g.add(l.getInput(), g.scalar(ttype(ct).getElementType(), 1.0)));
        return success();
      })
      .Case<SqrtOp>([&](SqrtOp s) {
        out[0] = g.div(g.mul(ct, g.scalar(ttype(ct).getElementType(), 0.5)), s.getResult());
        return success();
      })
      .Case<RsqrtOp>([&](RsqrtOp s) {
        Value y = s.getResult();
        out[0] = g.mul(g.mul(g.mul(g.mul(ct, y), y), y), g.scalar(ttype(ct).getElementType(), -0.5));
        return success();
      })
      .Case<SinOp>([&](SinOp s) { out[0] = g.mul(ct, b.create<CosOp>(g.loc, s.getInput())); return success(); })
      .Case<CosOp>([&](CosOp c) { out[0] = g.neg(g.mul(ct, b.create<SinOp>(g.loc, c.getInput()))); return success(); })
      .Case<TanhOp>([&](TanhOp t) {
        Value y = t.getResult();
        // 1 - y*y
        out[0] = g.mul(ct, b.create<SubOp>(g.loc, y.getType(), g.scalar(ttype(y).getElementType(), 1.0), g.mul(y, y)));
        return success();
      })
      .Case<SigmoidOp>([&](SigmoidOp s) {
        Value y = s.getResult();
        Value one = g.scalar(ttype(y).getElementType(), 1.0);
        out[0] = g.mul(g.mul(ct, y), b.create<SubOp>(g.loc, y.getType(), one, y));
        return success();
      })
      .Case<SiluOp>([&](SiluOp s) {
        Value x = s.getInput();
        Value sg = b.create<SigmoidOp>(g.loc, x);
        Value one = g.scalar(ttype(x).getElementType(), 1.0);
        // silu' = s (1 + x (1 - s))
        Value oneMinus = b.create<SubOp>(g.loc, x.getType(), one, sg);
        out[0] = g.mul(ct, g.mul(sg, g.add(g.mul(x, oneMinus), one)));
        return success();
      })
      .Case<ReluOp>([&](ReluOp r) {
        if (!isFloatTensor(r.getResult())) return success();
        out[0] = g.mask(g.cmp(CmpPredicate::gt, r.getInput(), g.zeroLike(r.getInput())), ct);
        return success();
      })
      .Case<AbsOp>([&](AbsOp a) {
        if (!isFloatTensor(a.getResult())) return success();
        Value x = a.getInput();
        Value pos = g.mask(g.cmp(CmpPredicate::gt, x, g.zeroLike(x)), ct);
        out[0] = g.where(g.cmp(CmpPredicate::lt, x, g.zeroLike(x)), g.neg(ct), pos, ct.getType());
        return success();
      })
      .Case<ClampOp>([&](ClampOp c) {
        if (!isFloatTensor(c.getResult())) return success();
        Value x = c.getInput();
        Type elt = ttype(x).getElementType();
        Value keep;
        if (c.getMin()) keep = g.cmp(CmpPredicate::ge, x, g.scalar(elt, c.getMin()->convertToDouble()));
        if (c.getMax()) {
          Value le = g.cmp(CmpPredicate::le, x, g.scalar(elt, c.getMax()->convertToDouble()));
          keep = keep ? b.create<AndOp>(g.loc, le.getType(), keep, le).getResult() : le;
        }
        out[0] = g.mask(keep, ct);
        return success();
      })
      .Case<CastOp>([&](CastOp c) {
        if (isFloatTensor(c.getInput()) && isFloatTensor(c.getResult()))
          out[0] = b.create<CastOp>(g.loc, c.getInput().getType(), ct);
        return success();
      })
      .Case<WhereOp>([&](WhereOp w) {
        if (isFloatTensor(w.getLhs())) out[1] = g.unbroadcast(g.mask(w.getCond(), ct), w.getLhs());
        if (isFloatTensor(w.getRhs()))
          out[2] = g.unbroadcast(g.where(w.getCond(), g.zeroLike(ct), ct, ct.getType()), w.getRhs());
        return success();
      })
      .Case<ReduceOp>([&](ReduceOp r) -> LogicalResult {
        Value x = r.getInput();
        if (!isFloatTensor(x) || r.getKind() == ReduceKind::argmax || r.getKind() == ReduceKind::argmin) return success();
        ArrayRef<int64_t> axes = r.getAxes();
        Value ctk = g.keepdims(ct, axes, r.getKeepdim());
        Value yk = g.keepdims(r.getResult(), axes, r.getKeepdim());
        Value full = g.broadcastTo(ctk, x);
        switch (r.getKind()) {
          case ReduceKind::sum: out[0] = full; break;
          case ReduceKind::mean: out[0] = g.div(full, g.count(x, axes)); break;
          case ReduceKind::max:
          case ReduceKind::min: {
            // Ties share the cotangent equally (as torch.amax).
            Value hit = g.cmp(CmpPredicate::eq, x, yk);
            Value hits = b.create<CastOp>(g.loc, x.getType(), hit);
            Value n = g.reduceKeep(hits, ReduceKind::sum, axes);
            out[0] = g.div(g.mul(full, hits), g.broadcastTo(n, x));
            break;
          }
          case ReduceKind::logsumexp: out[0] = g.mul(full, b.create<ExpOp>(g.loc, g.sub(x, yk))); break;
          case ReduceKind::var: {
            Value centered = g.sub(x, g.reduceKeep(x, ReduceKind::mean, axes));
            out[0] = g.div(g.mul(g.mul(full, centered), g.scalar(ttype(x).getElementType(), 2.0)), g.count(x, axes));
            break;
          }
          case ReduceKind::std: {
            Value centered = g.sub(x, g.reduceKeep(x, ReduceKind::mean, axes));
            out[0] = g.div(g.div(g.mul(full, centered), g.count(x, axes)), g.broadcastTo(yk, x));
            break;
          }
          case ReduceKind::prod: out[0] = g.div(g.mul(full, g.broadcastTo(yk, x)), x); break;
          default: return failure();
        }
        return success();
      })
      .Case<NormOp>([&](NormOp n) {
        out[0] = g.div(g.mul(n.getInput(), ct), n.getResult());
        return success();
      })
      .Case<MatmulOp>([&](MatmulOp m) {
        Value a = m.getLhs(), bm = m.getRhs(), c = ct;
        bool aVec = ttype(a).getRank() == 1, bVec = ttype(bm).getRank() == 1;
        if (aVec) {
          a = g.unsqueeze(a, 0);
          c = g.unsqueeze(c, ttype(c).getRank() - (bVec ? 0 : 1));
        }
        if (bVec) {
          bm = g.unsqueeze(bm, 1);
          c = g.unsqueeze(c, ttype(c).getRank());
        }
        Value da = g.unbroadcast(g.matmul(c, g.transposeLast2(bm), c), a);
        Value db;
        if (ttype(a).getRank() > 2 && ttype(bm).getRank() == 2) {
          // A weight shared by every batch row (x[B, S, K] @ w[K, N]): one contraction over all
          // rows, flatten(x)^T @ flatten(c), instead of a batched product per row and its sum.
          Value a2 = g.flatten2(a), c2 = g.flatten2(c);
          db = g.matmul(g.transposeLast2(a2), c2, c2);
          if (db.getType() != bm.getType()) db = b.create<tensor::CastOp>(g.loc, bm.getType(), db);
        } else {
          db = g.unbroadcast(g.matmul(g.transposeLast2(a), c, c), bm);
        }
        out[0] = aVec ? g.reshapeLike(da, m.getLhs()) : da;
        out[1] = bVec ? g.reshapeLike(db, m.getRhs()) : db;
        return success();
      })
      .Case<CholeskyOp>([&](CholeskyOp c) {
        // Murray (2016), as torch's cholesky_backward: P = tril(L^T dL), made symmetric as
        // (P + tril(P, -1)^T) / 2; dA = L^-T P L^-1 (symmetric).
        Value l = c.getResult();
        Value p = g.tril(g.matmul(g.transposeLast2(l), ct, ct), false);
        p = g.mul(g.add(p, g.transposeLast2(g.tril(p, true))), g.scalar(ttype(l).getElementType(), 0.5));
        Value y = g.triSolve(l, p, true);
        out[0] = g.transposeLast2(g.triSolve(l, g.transposeLast2(y), true));
        return success();
      })
      .Case<TriangularSolveOp>([&](TriangularSolveOp t) {
        // X = L^-1 B: dB = L^-T dX, dL = -tril(dB X^T); X = L^-T B: dB = L^-1 dX, dL = -tril(X dB^T).
        Value l = t.getTri(), x = t.getResult();
        bool tr = t.getTranspose();
        Value db = g.triSolve(l, ct, !tr);
        out[1] = db;
        Value outer = tr ? g.matmul(x, g.transposeLast2(db), x) : g.matmul(db, g.transposeLast2(x), x);
        Value dl = g.neg(g.tril(outer, false));
        out[0] = g.unbroadcast(dl, l);
        return success();
      })
      .Case<TransposeOp>([&](TransposeOp t) {
        ArrayRef<int64_t> perm = t.getPerm();
        SmallVector<int64_t> inv(perm.size());
        for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int64_t>(i);
        out[0] = b.create<TransposeOp>(g.loc, t.getInput().getType(), ct, b.getDenseI64ArrayAttr(inv));
        return success();
      })
      .Case<ReshapeOp, SqueezeOp, UnsqueezeOp>([&](auto r) {
        out[0] = g.reshapeLike(ct, r->getOperand(0));
        return success();
      })
      .Case<BroadcastToOp>([&](BroadcastToOp r) {
        out[0] = g.unbroadcast(ct, r.getInput());
        return success();
      })
      .Case<SoftmaxOp>([&](SoftmaxOp s) {
        Value y = s.getResult();
        int64_t axis = static_cast<int64_t>(s.getAxis());
        Value dot = g.reduceKeep(g.mul(ct, y), ReduceKind::sum, {axis});
        out[0] = g.mul(y, g.sub(ct, dot));
        return success();
      })
      .Case<LogSoftmaxOp>([&](LogSoftmaxOp s) {
        int64_t axis = static_cast<int64_t>(s.getAxis());
        Value sum = g.reduceKeep(ct, ReduceKind::sum, {axis});
        out[0] = g.sub(ct, g.mul(b.create<ExpOp>(g.loc, s.getResult()), sum));
        return success();
      })
      .Case<CrossEntropyOp>([&](CrossEntropyOp c) {
        // mean over rows of -log_softmax(logits)[label]: (softmax - one_hot) * ct / rows.
        Value logits = c.getLogits();
        auto lt = ttype(logits);
        int64_t axis = lt.getRank() - 1;
        Value p = b.create<SoftmaxOp>(g.loc, logits, axis, false);
        Value oh;
        if (lt.isDynamicDim(axis)) {
          // one_hot needs a static class count: compare the labels with arange(C) instead.
          Value nc = b.create<DimOp>(g.loc, b.getIndexType(), logits, b.getI64IntegerAttr(axis));
          Value ids = b.create<ArangeOp>(g.loc, RankedTensorType::get({ShapedType::kDynamic}, ttype(c.getLabels()).getElementType()),
                                         b.getF64FloatAttr(0.0), b.getF64FloatAttr(1.0), ValueRange{nc});
          Value labels = g.unsqueeze(c.getLabels(), ttype(c.getLabels()).getRank());
          Value hit = b.create<CmpOp>(g.loc, RankedTensorType::get(lt.getShape(), b.getI1Type()), CmpPredicate::eq, labels, ids);
          oh = b.create<CastOp>(g.loc, lt, hit);
        } else {
          oh = b.create<OneHotOp>(g.loc, lt, c.getLabels(), b.getI64IntegerAttr(lt.getDimSize(axis)));
        }
        SmallVector<int64_t> rows;
        for (int64_t i = 0; i < axis; ++i) rows.push_back(i);
        Value n = rows.empty() ? g.scalar(lt.getElementType(), 1.0) : g.count(logits, rows);
        out[0] = g.div(g.mul(g.sub(p, oh), ct), n);
        return success();
      })
      .Case<LinearOp>([&](LinearOp l) {
        Value x = l.getInput(), w = l.getWeight();
        auto xt = ttype(x);
        // dx = ct @ w^T
        Value wt = g.transposeLast2(w);
        auto ctt = ttype(ct);
        SmallVector<int64_t> dxShape(ctt.getShape().drop_back());
        dxShape.push_back(ttype(w).getDimSize(0));
        out[0] = b.create<MatmulOp>(g.loc, RankedTensorType::get(dxShape, ctt.getElementType()), ct, wt);
        if (out[0].getType() != x.getType()) out[0] = b.create<tensor::CastOp>(g.loc, x.getType(), out[0]);
        // dw = x2^T @ ct2 over all rows; db = the sum of ct over rows.
        Value x2 = xt.getRank() == 1 ? g.unsqueeze(x, 0) : g.flatten2(x);
        Value c2 = ctt.getRank() == 1 ? g.unsqueeze(ct, 0) : g.flatten2(ct);
        Value dw = g.matmul(g.transposeLast2(x2), c2, c2);
        if (dw.getType() != w.getType()) dw = b.create<tensor::CastOp>(g.loc, w.getType(), dw);
        out[1] = dw;
        if (l.getBias()) out[2] = g.unbroadcast(ct, l.getBias());
        return success();
      })
      .Default([&](Operation*) { return moreRules(op, b, cts, out); });
}

// Marks an op where a cotangent arrives but none flows back to its tensor operands (argmax
// cast to float, a comparison cast to float, floordiv, ...): the gradient is zero there, and
// the printed gradient function says so with the unit attribute `zero_gradient`.
void markZeroGradient(Operation* op, ArrayRef<Value> cts, ArrayRef<Value> out) {
  if (llvm::none_of(cts, [](Value c) { return static_cast<bool>(c); })) return;
  if (llvm::any_of(out, [](Value v) { return static_cast<bool>(v); })) return;
  if (llvm::none_of(op->getOperandTypes(), [](Type t) { return isa<RankedTensorType>(t); })) return;
  op->setAttr("zero_gradient", UnitAttr::get(op->getContext()));
}

template <typename Op>
struct GradientModel : GradientOpInterface::ExternalModel<GradientModel<Op>, Op> {
  LogicalResult buildGradient(Operation* op, OpBuilder& b, ArrayRef<Value> cts,
                              SmallVectorImpl<Value>& out) const {
    if (failed(rule(op, b, cts, out))) return failure();
    markZeroGradient(op, cts, out);
    return success();
  }
};

template <typename... Ops>
void attachAll(MLIRContext* ctx) {
  (Ops::template attachInterface<GradientModel<Ops>>(*ctx), ...);
}

} // namespace

namespace mlir::tessera {

void registerGradientModels(DialectRegistry& registry) {
  registry.addExtension(+[](MLIRContext* ctx, TesseraDialect*) {
    attachAll<
#define GET_OP_LIST
#include "ir/graph/TesseraOps.cpp.inc"
        >(ctx);
  });
}

} // namespace mlir::tessera
