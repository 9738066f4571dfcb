// `--tessera-expand-float8`: conversions to and from the 8-bit float types as integer arithmetic.
//
// LLVM has no 8-bit float type: the LLVM type converter stores f8E4M3FN and f8E5M2 as i8, and
// arith.extf / arith.truncf with an f8 side have no lowering. This pass rewrites them (scalars and
// vectors alike, so vectorized loops stay vectorized) into integer and f32/f64 operations:
//
// - extf f8 -> f32 (exact): a normal number's exponent is rebiased and its mantissa shifted into
//   place; a subnormal is its mantissa (an integer) times 2^(1 - bias - mbits), exact in f32; the
//   all-ones exponent is inf (E5M2, mantissa 0) or NaN; E4M3FN has no inf, and only S.1111.111 is
//   NaN. Then extf/truncf to the result type (exact from f32 to f64; f16/bf16 results round once,
//   the f8 value being exactly representable in f32).
// - comparisons and arithmetic with f8 operands first run in f32 (compute_in_f32).
// - truncf f32/f64 -> f8 (round to nearest, ties to even, as IEEE 754 and as PyTorch, JAX and
//   MLIR's APFloat convert): on the magnitude's bits, three cases:
//     * at least 2^(emax + 1): inf for E5M2 (NaN stays NaN), NaN for E4M3FN (no inf);
//     * below the smallest normal: adding 2^(1 - bias - mbits + srcmbits) in the source type
//       rounds the magnitude to a multiple of the f8 subnormal spacing (the FPU does the
//       rounding); the difference of the bit patterns is the f8 encoding;
//     * otherwise the exponent is rebiased and the mantissa rounded by adding
//       (half ulp - 1) + (the kept mantissa's lowest bit), then shifted; a carry moves to the
//       next binade, and past the largest finite value it gives inf (E5M2) or NaN (E4M3FN: above
//       464 the result is the NaN encoding, 464 itself rounds to even, 448).
//   Sources other than f32/f64 (f16, bf16) are extended to f32 first (exact). An f64 source is
//   rounded from its own bits, never through f32 (no double rounding).
// The bit tricks follow the classic float -> half conversion (F. Giesen, "float_to_half_fast3").
#include "codegen/codegen.h"

#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/BuiltinTypes.h>
#include <mlir/Pass/Pass.h>

#include <cmath>
#include <optional>

namespace tessera::codegen {
namespace {

using namespace mlir;

// An 8-bit float format: exponent and mantissa bits, bias, and whether the all-ones exponent is
// inf/NaN (IEEE-like, E5M2) or finite except S.1111.111 (E4M3FN).
struct F8Format {
  int ebits, mbits, bias;
  bool ieee;
};

std::optional<F8Format> f8_format(Type t) {
  if (isa<Float8E4M3FNType>(t)) return F8Format{4, 3, 7, false};
  if (isa<Float8E5M2Type>(t)) return F8Format{5, 2, 15, true};
  return std::nullopt;
}

class Emit {
 public:
  Emit(OpBuilder& b, Location loc, Type shape_like) : b_(b), loc_(loc), shape_(dyn_cast<VectorType>(shape_like)) {}

  // `elt`, or a vector of it shaped like the value being converted.
  Type like(Type elt) const { return shape_ ? Type(VectorType::get(shape_.getShape(), elt)) : elt; }

  Value int_const(unsigned width, uint64_t v) {
    Type t = like(b_.getIntegerType(width));
    if (width < 64) v &= (uint64_t(1) << width) - 1;
    auto attr = b_.getIntegerAttr(b_.getIntegerType(width), APInt(width, v));
    if (shape_) return b_.create<arith::ConstantOp>(loc_, t, DenseElementsAttr::get(cast<ShapedType>(t), attr));
    return b_.create<arith::ConstantOp>(loc_, t, attr);
  }
  Value float_const(FloatType ft, double v) {
    Type t = like(ft);
    auto attr = b_.getFloatAttr(ft, v);
    if (shape_) return b_.create<arith::ConstantOp>(loc_, t, DenseElementsAttr::get(cast<ShapedType>(t), attr));
    return b_.create<arith::ConstantOp>(loc_, t, attr);
  }
  Value bitcast(Value v, Type elt) { return b_.create<arith::BitcastOp>(loc_, like(elt), v); }
  Value band(Value a, Value c) { return b_.create<arith::AndIOp>(loc_, a, c); }
  Value bor(Value a, Value c) { return b_.create<arith::OrIOp>(loc_, a, c); }
  Value bxor(Value a, Value c) { return b_.create<arith::XOrIOp>(loc_, a, c); }
  Value add(Value a, Value c) { return b_.create<arith::AddIOp>(loc_, a, c); }
  Value sub(Value a, Value c) { return b_.create<arith::SubIOp>(loc_, a, c); }
  Value shl(Value a, Value c) { return b_.create<arith::ShLIOp>(loc_, a, c); }
  Value shr(Value a, Value c) { return b_.create<arith::ShRUIOp>(loc_, a, c); }
  Value cmp(arith::CmpIPredicate p, Value a, Value c) { return b_.create<arith::CmpIOp>(loc_, p, a, c); }
  Value select(Value c, Value a, Value d) { return b_.create<arith::SelectOp>(loc_, c, a, d); }
  Value trunc(Value v, unsigned width) { return b_.create<arith::TruncIOp>(loc_, like(b_.getIntegerType(width)), v); }
  Value zext(Value v, unsigned width) { return b_.create<arith::ExtUIOp>(loc_, like(b_.getIntegerType(width)), v); }
  Value uitofp(Value v, FloatType ft) { return b_.create<arith::UIToFPOp>(loc_, like(ft), v); }
  Value fadd(Value a, Value c) { return b_.create<arith::AddFOp>(loc_, a, c); }
  Value fmul(Value a, Value c) { return b_.create<arith::MulFOp>(loc_, a, c); }

  // f8 (as its i8 bits) -> f32, exact.
  Value decode(Value bits8, const F8Format& f) {
    FloatType f32 = b_.getF32Type();
    Value u = zext(bits8, 32);
    Value sign = shl(band(u, int_const(32, 0x80)), int_const(32, 24));
    Value em = band(u, int_const(32, 0x7f));
    Value exp = shr(em, int_const(32, f.mbits));
    Value mant = band(em, int_const(32, (1u << f.mbits) - 1));
    // Normal: exponent rebiased by 127 - bias, mantissa moved up to f32's 23 bits.
    Value normal = add(shl(em, int_const(32, 23 - f.mbits)), int_const(32, uint64_t(127 - f.bias) << 23));
    // Subnormal: mantissa * 2^(1 - bias - mbits), exact.
    Value sub_value = fmul(uitofp(mant, f32), float_const(f32, std::ldexp(1.0, 1 - f.bias - f.mbits)));
    Value is_sub = cmp(arith::CmpIPredicate::eq, exp, int_const(32, 0));
    Value mag = select(is_sub, bitcast(sub_value, b_.getI32Type()), normal);
    Value nan = int_const(32, 0x7fc00000);
    if (f.ieee) {
      Value top = cmp(arith::CmpIPredicate::eq, exp, int_const(32, (1u << f.ebits) - 1));
      Value special = select(cmp(arith::CmpIPredicate::eq, mant, int_const(32, 0)), int_const(32, 0x7f800000), nan);
      mag = select(top, special, mag);
    } else {
      mag = select(cmp(arith::CmpIPredicate::eq, em, int_const(32, 0x7f)), nan, mag);
    }
    return bitcast(bor(mag, sign), f32);
  }

  // f32 or f64 `x` -> the f8 bits (i8), round to nearest even.
  Value encode(Value x, const F8Format& f) {
    auto ft = cast<FloatType>(getElementTypeOrSelf(x.getType()));
    unsigned w = ft.getWidth();  // 32 or 64
    int sm = w == 32 ? 23 : 52, sbias = w == 32 ? 127 : 1023;
    Type it = b_.getIntegerType(w);
    uint64_t sign_bit = uint64_t(1) << (w - 1);
    uint64_t inf_bits = w == 32 ? 0x7f800000ull : 0x7ff0000000000000ull;
    Value u = bitcast(x, it);
    Value sign = band(u, int_const(w, sign_bit));
    Value a = bxor(u, sign);  // |x| bits
    int emax = (f.ieee ? (1 << f.ebits) - 2 : (1 << f.ebits) - 1) - f.bias;
    // |x| >= 2^(emax + 1): out of range.
    Value big = cmp(arith::CmpIPredicate::uge, a, int_const(w, uint64_t(sbias + emax + 1) << sm));
    uint64_t f8_inf = f.ieee ? uint64_t((1u << f.ebits) - 1) << f.mbits : 0x7f;
    uint64_t f8_nan = f.ieee ? f8_inf | (1u << (f.mbits - 1)) : 0x7f;
    Value is_nan = cmp(arith::CmpIPredicate::ugt, a, int_const(w, inf_bits));
    Value over = select(is_nan, int_const(w, f8_nan), int_const(w, f8_inf));
    // Below the smallest normal 2^(1 - bias): the FPU rounds |x| + magic to the subnormal spacing.
    Value tiny = cmp(arith::CmpIPredicate::ult, a, int_const(w, uint64_t(sbias + 1 - f.bias) << sm));
    uint64_t magic_bits = uint64_t((sbias - f.bias) + (sm - f.mbits) + 1) << sm;
    Value magic = bitcast(int_const(w, magic_bits), ft);
    Value rounded = fadd(bitcast(a, ft), magic);
    Value sub_bits = sub(bitcast(rounded, it), int_const(w, magic_bits));
    // Normal: rebias, add half an ulp - 1 plus the kept mantissa's lowest bit, shift.
    int drop = sm - f.mbits;
    Value odd = band(shr(a, int_const(w, drop)), int_const(w, 1));
    uint64_t rebias = (uint64_t(f.bias) << sm) - (uint64_t(sbias) << sm);  // modulo 2^w
    if (w == 32) rebias &= 0xffffffffull;
    Value normal = add(add(a, int_const(w, rebias + (uint64_t(1) << (drop - 1)) - 1)), odd);
    normal = shr(normal, int_const(w, drop));
    // E4M3FN: from 480 up the carry runs past S.1111.111 (NaN); keep it there.
    if (!f.ieee) normal = b_.create<arith::MinUIOp>(loc_, normal, int_const(w, 0x7f));
    Value mag = select(big, over, select(tiny, sub_bits, normal));
    Value signed_bits = bor(mag, shr(sign, int_const(w, w - 8)));
    return trunc(signed_bits, 8);
  }

 private:
  OpBuilder& b_;
  Location loc_;
  VectorType shape_;
};

struct ExpandFloat8Pass : public PassWrapper<ExpandFloat8Pass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ExpandFloat8Pass)

  StringRef getArgument() const final { return "tessera-expand-float8"; }
  StringRef getDescription() const final { return "rewrite conversions to and from f8 types as integer arithmetic"; }
  void getDependentDialects(DialectRegistry& registry) const override { registry.insert<arith::ArithDialect>(); }

  // Comparisons and arithmetic on f8 values (an argmax compares its running maximum as stored)
  // run in f32: the operands extend exactly, comparisons compare them, an arithmetic result rounds
  // back to f8 (the same value as computing in f32 and storing, the rule for f8 arithmetic).
  static void compute_in_f32(Operation* root) {
    SmallVector<Operation*> ops;
    root->walk([&](Operation* op) {
      if (!isa<arith::CmpFOp, arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp, arith::RemFOp,
               arith::NegFOp, arith::MaximumFOp, arith::MinimumFOp, arith::MaxNumFOp, arith::MinNumFOp>(op))
        return;
      if (f8_format(getElementTypeOrSelf(op->getOperand(0).getType()))) ops.push_back(op);
    });
    for (Operation* op : ops) {
      OpBuilder b(op);
      Type f8 = op->getOperand(0).getType();
      Emit e(b, op->getLoc(), f8);
      Type f32 = e.like(b.getF32Type());
      SmallVector<Value> wide;
      for (Value v : op->getOperands()) wide.push_back(b.create<arith::ExtFOp>(op->getLoc(), f32, v));
      Type result = isa<arith::CmpFOp>(op) ? op->getResult(0).getType() : f32;
      OperationState state(op->getLoc(), op->getName(), wide, TypeRange{result}, op->getAttrs());
      Operation* computed = b.create(state);
      Value r = computed->getResult(0);
      if (!isa<arith::CmpFOp>(op)) r = b.create<arith::TruncFOp>(op->getLoc(), f8, r);
      op->getResult(0).replaceAllUsesWith(r);
      op->erase();
    }
  }

  void runOnOperation() override {
    compute_in_f32(getOperation());
    SmallVector<Operation*> ops;
    getOperation()->walk([&](Operation* op) {
      if (!isa<arith::ExtFOp, arith::TruncFOp>(op)) return;
      Type in = getElementTypeOrSelf(op->getOperand(0).getType());
      Type out = getElementTypeOrSelf(op->getResult(0).getType());
      if (f8_format(in) || f8_format(out)) ops.push_back(op);
    });
    for (Operation* op : ops) {
      OpBuilder b(op);
      Value x = op->getOperand(0);
      Type in = getElementTypeOrSelf(x.getType());
      Type out = getElementTypeOrSelf(op->getResult(0).getType());
      Emit e(b, op->getLoc(), x.getType());
      Value r;
      if (auto f = f8_format(in)) {
        // f8 -> f32, then to the result type.
        Value v = e.decode(e.bitcast(x, b.getI8Type()), *f);
        if (out.isF64()) v = b.create<arith::ExtFOp>(op->getLoc(), e.like(out), v);
        else if (auto g = f8_format(out)) v = e.bitcast(e.encode(v, *g), out);
        else if (!out.isF32()) v = b.create<arith::TruncFOp>(op->getLoc(), e.like(out), v);
        r = v;
      } else {
        F8Format g = *f8_format(out);
        Value v = x;
        if (!in.isF32() && !in.isF64()) v = b.create<arith::ExtFOp>(op->getLoc(), e.like(b.getF32Type()), v);
        r = e.bitcast(e.encode(v, g), out);
      }
      op->getResult(0).replaceAllUsesWith(r);
      op->erase();
    }
  }
};

}  // namespace

std::unique_ptr<mlir::Pass> create_expand_float8_pass() { return std::make_unique<ExpandFloat8Pass>(); }

}  // namespace tessera::codegen
