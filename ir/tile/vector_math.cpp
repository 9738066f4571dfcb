// `--tessera-vector-math`: see VectorMath.h.
#include "ir/tile/VectorMath.h"

#include <cmath>
#include <cstdint>

#include <llvm/ADT/APFloat.h>
#include <llvm/ADT/APInt.h>
#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/Math/IR/Math.h>
#include <mlir/Dialect/Math/Transforms/Passes.h>
#include <mlir/Dialect/Vector/IR/VectorOps.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/BuiltinAttributes.h>
#include <mlir/IR/PatternMatch.h>
#include <mlir/IR/TypeUtilities.h>
#include <mlir/Pass/Pass.h>
#include <mlir/Transforms/GreedyPatternRewriteDriver.h>

namespace tessera::ir {
namespace {

using namespace mlir;

// ---------------------------------------------------------------------------------------------
// f64 exp, log and log1p as branch-free arith code on scalars or vectors of f64.
//
// Every value is computed by the same sequence of IEEE operations (fma included), so a lane of a
// vector and a scalar give the same bits: a vector loop and its scalar remainder agree, and the
// result does not depend on where a row is cut. Only add/sub/mul/div/fma, compares, selects,
// bit casts and i64 add/and/shift are used (no f64 <-> i64 conversion, which AVX2 lacks).
class F64Math {
 public:
  F64Math(OpBuilder& b, Location loc, Type type) : b_(b), loc_(loc), ft_(type) {
    if (auto v = dyn_cast<VectorType>(type))
      it_ = VectorType::get(v.getShape(), b.getI64Type(), v.getScalableDims());
    else
      it_ = b.getI64Type();
  }

  // exp(x). n = round(x / ln 2) (by adding 1.5 * 2^52), r = x - n ln2 in two fma steps (the first
  // is exact), exp(r) by its Taylor polynomial of degree 13 (|r| <= 0.347: truncation below 1e-17),
  // evaluated as 1 + (r + r^2 q(r)); the result is scaled by 2^n as 2^(n/2) * 2^(n - n/2), so that
  // each factor is a normal number and a subnormal result is rounded once. x is clamped to
  // [-1100, 1100] first (exp is 0 or inf there already); NaN gives NaN.
  Value exp(Value x) {
    Value nan = cmp(arith::CmpFPredicate::UNO, x, x);
    Value xc = select(cmp(arith::CmpFPredicate::OLT, x, f(-1100.0)), f(-1100.0), x);
    xc = select(cmp(arith::CmpFPredicate::OGT, xc, f(1100.0)), f(1100.0), xc);
    xc = select(nan, f(0.0), xc);
    const double shifter = 6755399441055744.0;  // 1.5 * 2^52
    Value t = fma(xc, f(1.4426950408889634074), f(shifter));
    Value n = sub(t, f(shifter));
    Value r = fma(n, f(-6.93147180559945286227e-01), xc);  // ln2_hi = (double)ln 2: exact
    r = fma(n, f(-2.31904681384629955842e-17), r);         // ln2_lo = ln 2 - ln2_hi
    // q(r) = sum_{k>=2} r^(k-2) / k!
    static const double inv_fact[] = {
        1.0 / 2,           1.0 / 6,            1.0 / 24,             1.0 / 120,           1.0 / 720,
        1.0 / 5040,        1.0 / 40320,        1.0 / 362880,         1.0 / 3628800,       1.0 / 39916800,
        1.0 / 479001600.0, 1.0 / 6227020800.0};
    Value q = f(inv_fact[11]);
    for (int k = 10; k >= 0; --k) q = fma(q, r, f(inv_fact[k]));
    Value y = add(f(1.0), fma(q, mul(r, r), r));
    // n as an integer: the low bits of t.
    Value ni = isub(bitcast_i(t), i(int64_t(0x4338000000000000)));
    Value n1 = isub(shru(iadd(ni, i(2048)), 1), i(1024));  // floor(n / 2), n in [-1588, 1588]
    Value n2 = isub(ni, n1);
    Value s1 = bitcast_f(shl(iadd(n1, i(1023)), 52));
    Value s2 = bitcast_f(shl(iadd(n2, i(1023)), 52));
    Value res = mul(mul(y, s1), s2);
    return select(nan, x, res);
  }

  // log(x), fdlibm/musl's algorithm: x = 2^k m with m in [sqrt(2)/2, sqrt(2)), f = m - 1,
  // s = f / (2 + f), log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)) with R of degree 14 (error below
  // 1 ulp). Subnormal x is scaled by 2^54 first. log(0) = -inf, log(x < 0) = NaN, log(inf) = inf.
  Value log(Value x) {
    Value sub_normal = cmp(arith::CmpFPredicate::OLT, x, f(0x1p-1022));
    Value xs = select(sub_normal, mul(x, f(0x1p54)), x);
    Value kadj = select(sub_normal, f(-54.0), f(0.0));
    Value ix = iadd(bitcast_i(xs), i(int64_t(0x00095f6200000000)));
    Value k = add(exponent_of(ix), kadj);
    Value m = bitcast_f(iadd(iand(ix, i(int64_t(0x000fffffffffffff))), i(int64_t(0x3fe6a09e00000000))));
    Value fr = sub(m, f(1.0));
    Value res = kernel(fr, k, f(0.0));
    res = select(cmp(arith::CmpFPredicate::OEQ, x, f(0.0)), f(-INFINITY), res);
    res = select(cmp(arith::CmpFPredicate::OEQ, x, f(INFINITY)), x, res);
    res = select(cmp(arith::CmpFPredicate::ULT, x, f(0.0)), f(NAN), res);  // x < 0 or NaN
    return res;
  }

  // log1p(x), musl's algorithm: u = 1 + x, k and f from u as for log, and the rounding error of
  // 1 + x added back as c / u with c = x - (u - 1) (or 1 - (u - x) when u >= 4, both exact).
  Value log1p(Value x) {
    Value u = add(f(1.0), x);
    Value iu = iadd(bitcast_i(u), i(int64_t(0x00095f6200000000)));
    Value k = exponent_of(iu);
    Value c = select(cmp(arith::CmpFPredicate::OGE, k, f(2.0)), sub(f(1.0), sub(u, x)), sub(x, sub(u, f(1.0))));
    c = div(c, u);
    Value m = bitcast_f(iadd(iand(iu, i(int64_t(0x000fffffffffffff))), i(int64_t(0x3fe6a09e00000000))));
    Value fr = sub(m, f(1.0));
    Value res = kernel(fr, k, c);
    res = select(cmp(arith::CmpFPredicate::OEQ, x, f(0.0)), x, res);  // keeps -0
    res = select(cmp(arith::CmpFPredicate::OEQ, x, f(-1.0)), f(-INFINITY), res);
    res = select(cmp(arith::CmpFPredicate::OEQ, x, f(INFINITY)), x, res);
    res = select(cmp(arith::CmpFPredicate::ULT, x, f(-1.0)), f(NAN), res);  // x < -1 or NaN
    return res;
  }

 private:
  // The unbiased exponent of a double whose bits are `bits` (a non-negative number), as a double:
  // (bits >> 52) placed in the mantissa of 2^52, minus 2^52 + 1023.
  Value exponent_of(Value bits) {
    Value e = shru(bits, 52);
    Value d = bitcast_f(ior(e, i(int64_t(0x4330000000000000))));
    return sub(d, f(4503599627370496.0 + 1023.0));
  }

  // log(2^k (1 + f)) + c, with f in [sqrt(2)/2 - 1, sqrt(2) - 1] (fdlibm's coefficients).
  Value kernel(Value fr, Value k, Value c) {
    Value hfsq = mul(mul(f(0.5), fr), fr);
    Value s = div(fr, add(f(2.0), fr));
    Value z = mul(s, s);
    Value w = mul(z, z);
    Value t1 = mul(w, fma(w, fma(w, f(1.531383769920937332e-01), f(2.222219843214978396e-01)),
                          f(3.999999999940941908e-01)));
    Value t2 = mul(z, fma(w, fma(w, fma(w, f(1.479819860511658591e-01), f(1.818357216161805012e-01)),
                                 f(2.857142874366239149e-01)),
                          f(6.666666666666735130e-01)));
    Value R = add(t2, t1);
    Value lo = add(mul(k, f(1.90821492927058770002e-10)), c);
    Value acc = add(mul(s, add(hfsq, R)), lo);
    acc = sub(acc, hfsq);
    acc = add(acc, fr);
    return add(acc, mul(k, f(6.93147180369123816490e-01)));
  }

  Value f(double v) {
    if (auto vt = dyn_cast<VectorType>(ft_))
      return b_.create<arith::ConstantOp>(loc_, vt, DenseElementsAttr::get(vt, llvm::APFloat(v)));
    return b_.create<arith::ConstantOp>(loc_, ft_, b_.getF64FloatAttr(v));
  }
  Value i(int64_t v) {
    if (auto vt = dyn_cast<VectorType>(it_))
      return b_.create<arith::ConstantOp>(loc_, vt, DenseElementsAttr::get(vt, llvm::APInt(64, uint64_t(v))));
    return b_.create<arith::ConstantOp>(loc_, it_, b_.getI64IntegerAttr(v));
  }
  Value add(Value a, Value c) { return b_.create<arith::AddFOp>(loc_, a, c); }
  Value sub(Value a, Value c) { return b_.create<arith::SubFOp>(loc_, a, c); }
  Value mul(Value a, Value c) { return b_.create<arith::MulFOp>(loc_, a, c); }
  Value div(Value a, Value c) { return b_.create<arith::DivFOp>(loc_, a, c); }
  Value fma(Value a, Value c, Value d) { return b_.create<math::FmaOp>(loc_, a, c, d); }
  Value cmp(arith::CmpFPredicate p, Value a, Value c) { return b_.create<arith::CmpFOp>(loc_, p, a, c); }
  Value select(Value c, Value a, Value d) { return b_.create<arith::SelectOp>(loc_, c, a, d); }
  Value bitcast_i(Value v) { return b_.create<arith::BitcastOp>(loc_, it_, v); }
  Value bitcast_f(Value v) { return b_.create<arith::BitcastOp>(loc_, ft_, v); }
  Value iadd(Value a, Value c) { return b_.create<arith::AddIOp>(loc_, a, c); }
  Value isub(Value a, Value c) { return b_.create<arith::SubIOp>(loc_, a, c); }
  Value iand(Value a, Value c) { return b_.create<arith::AndIOp>(loc_, a, c); }
  Value ior(Value a, Value c) { return b_.create<arith::OrIOp>(loc_, a, c); }
  Value shru(Value a, int64_t s) { return b_.create<arith::ShRUIOp>(loc_, a, i(s)); }
  Value shl(Value a, int64_t s) { return b_.create<arith::ShLIOp>(loc_, a, i(s)); }

  OpBuilder& b_;
  Location loc_;
  Type ft_;
  Type it_;
};

bool is_f64_expanded(Operation* op) {
  if (!isa<math::ExpOp, math::LogOp, math::Log1pOp>(op)) return false;
  Type t = op->getResult(0).getType();
  if (auto v = dyn_cast<VectorType>(t))
    if (v.isScalable()) return false;
  return getElementTypeOrSelf(t).isF64();
}

struct VectorMathPass : public PassWrapper<VectorMathPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(VectorMathPass)

  StringRef getArgument() const final { return "tessera-vector-math"; }
  StringRef getDescription() const final {
    return "expand f32 exp/log/tanh/erf and f64 exp/log/log1p into vectorizable polynomial code";
  }
  void getDependentDialects(DialectRegistry& registry) const override {
    registry.insert<arith::ArithDialect, math::MathDialect, vector::VectorDialect>();
  }

  static bool selected(Operation* op) {
    if (!isa<math::ExpOp, math::ExpM1Op, math::LogOp, math::Log1pOp, math::Log2Op, math::TanhOp, math::ErfOp>(op))
      return false;
    return getElementTypeOrSelf(op->getResult(0).getType()).isF32();
  }

  void runOnOperation() override {
    SmallVector<Operation*> ops, f64_ops;
    getOperation()->walk([&](Operation* op) {
      if (selected(op)) ops.push_back(op);
      if (is_f64_expanded(op)) f64_ops.push_back(op);
    });
    for (Operation* op : f64_ops) {
      OpBuilder b(op);
      F64Math m(b, op->getLoc(), op->getResult(0).getType());
      Value x = op->getOperand(0);
      Value r = isa<math::ExpOp>(op) ? m.exp(x) : isa<math::LogOp>(op) ? m.log(x) : m.log1p(x);
      op->getResult(0).replaceAllUsesWith(r);
      op->erase();
    }
    if (ops.empty()) return;
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns, MathPolynomialApproximationOptions{});
    FrozenRewritePatternSet frozen(std::move(patterns));
    GreedyRewriteConfig config;
    config.strictMode = GreedyRewriteStrictness::ExistingAndNewOps;
    if (failed(applyOpPatternsAndFold(ops, frozen, config))) {
      // Not converged is not an error: what was not expanded keeps the intrinsic/libm path.
    }
  }
};

}  // namespace

bool vector_math_expands(Operation* op) {
  if (is_f64_expanded(op)) return true;
  return VectorMathPass::selected(op);
}

std::unique_ptr<Pass> createVectorMathPass() { return std::make_unique<VectorMathPass>(); }

}  // namespace tessera::ir
