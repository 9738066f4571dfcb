// `--tessera-vector-math`: see VectorMath.h.
#include "ir/tile/VectorMath.h"

#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/Math/IR/Math.h>
#include <mlir/Dialect/Math/Transforms/Passes.h>
#include <mlir/Dialect/Vector/IR/VectorOps.h>
#include <mlir/IR/PatternMatch.h>
#include <mlir/IR/TypeUtilities.h>
#include <mlir/Pass/Pass.h>
#include <mlir/Transforms/GreedyPatternRewriteDriver.h>

namespace tessera::ir {
namespace {

using namespace mlir;

struct VectorMathPass : public PassWrapper<VectorMathPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(VectorMathPass)

  StringRef getArgument() const final { return "tessera-vector-math"; }
  StringRef getDescription() const final { return "expand f32 exp/log/tanh/erf into vectorizable polynomial code"; }
  void getDependentDialects(DialectRegistry& registry) const override {
    registry.insert<arith::ArithDialect, math::MathDialect, vector::VectorDialect>();
  }

  static bool selected(Operation* op) {
    if (!isa<math::ExpOp, math::ExpM1Op, math::LogOp, math::Log1pOp, math::Log2Op, math::TanhOp, math::ErfOp>(op))
      return false;
    return getElementTypeOrSelf(op->getResult(0).getType()).isF32();
  }

  void runOnOperation() override {
    SmallVector<Operation*> ops;
    getOperation()->walk([&](Operation* op) {
      if (selected(op)) ops.push_back(op);
    });
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

std::unique_ptr<Pass> createVectorMathPass() { return std::make_unique<VectorMathPass>(); }

}  // namespace tessera::ir
