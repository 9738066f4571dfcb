// `--tessera-elementwise-fusion`: see Passes.h.
#include "ir/schedule/Passes.h"

#include <mlir/Dialect/Affine/IR/AffineOps.h>
#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/Linalg/IR/Linalg.h>
#include <mlir/Dialect/Linalg/Transforms/Transforms.h>
#include <mlir/Dialect/Tensor/IR/Tensor.h>
#include <mlir/Interfaces/SideEffectInterfaces.h>
#include <mlir/Pass/PassRegistry.h>
#include <mlir/Transforms/GreedyPatternRewriteDriver.h>

using namespace mlir;

namespace tessera::ir {

namespace {

// A linalg.generic whose body yields block arguments, each perhaps widened by arith.extf.
bool moves_data_only(Operation* op) {
  auto g = dyn_cast<linalg::GenericOp>(op);
  if (!g || g->getNumRegions() != 1 || g->getRegion(0).empty()) return false;
  for (Operation& inner : g->getRegion(0).front()) {
    if (isa<linalg::YieldOp>(inner)) continue;
    auto ext = dyn_cast<arith::ExtFOp>(inner);
    if (!ext || !isa<BlockArgument>(ext.getIn())) return false;
  }
  return true;
}

}  // namespace

bool fuse_elementwise_producer(OpOperand* operand) {
  Operation* producer = operand->get().getDefiningOp();
  if (!producer || !producer->hasOneUse()) return false;
  // A rank-0 result computed for a consumer with loops stays its own op: fused, its body would
  // run once per element of the consumer (AdamW's `lr / (1 - b1 ** t)`: two powf and a divide
  // per element) instead of once.
  auto consumer = dyn_cast<linalg::LinalgOp>(operand->getOwner());
  auto type = dyn_cast<ShapedType>(operand->get().getType());
  if (consumer && type && type.hasRank() && type.getRank() == 0 && consumer.getNumLoops() > 0) return false;
  // Nor is a producer that computes something fused into a reduction whose loops the operand
  // does not all index (a contraction, C[m, n] += A[m, k] * B[k, n], where A lacks n): fused,
  // its body would run once per step of the missing loop (N times per element of A), and the
  // contraction would no longer be the multiply-add that the matmul schedule recognizes (an
  // `astype(bf16)` feeding a matmul made it scalar loops, 400x slower). Layout-only producers (a
  // body that yields its arguments, perhaps widened by extf: what the contraction reads anyway)
  // still fuse, and so does anything into a row reduction that reads it once per element.
  if (consumer && consumer.getNumReductionLoops() > 0 && !moves_data_only(producer)) {
    AffineMap map = consumer.getMatchingIndexingMap(operand);
    for (unsigned d = 0; d < consumer.getNumLoops(); ++d)
      if (!map.isFunctionOfDim(d)) return false;
  }
  return true;
}

namespace {

// Scalar work moves up: an op without memory effects whose results are all scalars or rank-0
// tensors (a rank-0 linalg.generic such as AdamW's bias correction `1 - b1 ** t`, its
// tensor.empty, a tensor.from_elements, the arith ops feeding them) is moved to just after the
// last definition of a value it uses in its block. Left where fusion put it, between the
// elementwise ops of a chain, it would cut the chain into two loop nests: the Tile IR row fusion
// groups adjacent ops only, and a rank-0 buffer write between them is a memory effect.
bool scalar_result(Type t) {
  if (t.isIntOrIndexOrFloat()) return true;
  auto r = dyn_cast<RankedTensorType>(t);
  return r && r.getRank() == 0;
}

bool scalar_op(Operation* op) {
  if (op->getNumResults() == 0 || !isMemoryEffectFree(op)) return false;
  if (op->getNumRegions() != 0) {
    auto g = dyn_cast<linalg::GenericOp>(op);
    if (!g || !g.hasPureTensorSemantics() || g.getNumLoops() != 0) return false;
  }
  return llvm::all_of(op->getResultTypes(), scalar_result);
}

void hoist_scalar_ops(Operation* root) {
  SmallVector<Operation*> scalars;
  root->walk<WalkOrder::PreOrder>([&](Operation* op) {
    if (scalar_op(op)) {
      scalars.push_back(op);
      return WalkResult::skip();  // a rank-0 generic's body stays as it is
    }
    return WalkResult::advance();
  });
  for (Operation* op : scalars) {  // in program order: operands move before their users
    Block* block = op->getBlock();
    Operation* after = nullptr;  // the last op of the block that defines a value `op` uses
    op->walk([&](Operation* inner) {
      for (Value v : inner->getOperands()) {
        Operation* def = v.getDefiningOp();
        // A value from an enclosing block dominates every position of this one.
        Operation* in_block = def ? block->findAncestorOpInBlock(*def) : nullptr;
        if (!in_block || in_block == op) continue;
        if (!after || after->isBeforeInBlock(in_block)) after = in_block;
      }
    });
    if (after) op->moveAfter(after);
    else op->moveBefore(&block->front());
  }
}

struct ElementwiseFusion : PassWrapper<ElementwiseFusion, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ElementwiseFusion)

  StringRef getArgument() const override { return "tessera-elementwise-fusion"; }
  StringRef getDescription() const override {
    return "MLIR's linalg elementwise fusion, without replicating rank-0 producers into loops";
  }
  void getDependentDialects(DialectRegistry& registry) const override {
    registry.insert<affine::AffineDialect, linalg::LinalgDialect, tensor::TensorDialect>();
  }

  // The pattern set of MLIR's `linalg-fuse-elementwise-ops`, with our control function.
  void runOnOperation() override {
    MLIRContext* context = &getContext();
    RewritePatternSet patterns(context);
    linalg::populateElementwiseOpsFusionPatterns(patterns, fuse_elementwise_producer);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, fuse_elementwise_producer);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, context);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, context);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, context);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, context);
    context->getLoadedDialect<linalg::LinalgDialect>()->getCanonicalizationPatterns(patterns);
    linalg::populateConstantFoldLinalgOperations(patterns, fuse_elementwise_producer);
    GreedyRewriteConfig config;
    config.useTopDownTraversal = true;
    (void)applyPatternsAndFoldGreedily(getOperation(), std::move(patterns), config);
    hoist_scalar_ops(getOperation());
  }
};

}  // namespace

std::unique_ptr<Pass> createElementwiseFusionPass() { return std::make_unique<ElementwiseFusion>(); }

}  // namespace tessera::ir
