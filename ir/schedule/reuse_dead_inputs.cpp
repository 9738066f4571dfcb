// `--tessera-reuse-dead-inputs`: see Passes.h.
#include "ir/schedule/Passes.h"

#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/Dialect/Linalg/IR/Linalg.h>
#include <mlir/Dialect/SCF/IR/SCF.h>
#include <mlir/Dialect/Tensor/IR/Tensor.h>
#include <mlir/Pass/PassRegistry.h>

using namespace mlir;

namespace tessera::ir {
namespace {

// Ops whose result may share the buffer of their (first) tensor operand after bufferization.
bool view_like(Operation* op) {
  return isa<tensor::ExtractSliceOp, tensor::CollapseShapeOp, tensor::ExpandShapeOp, tensor::CastOp,
             tensor::ReshapeOp>(op);
}

// The value's buffer may be written without a copy: it is not a constant, not a read-only
// argument of a function (an entry's input belongs to its caller unless it was donated), and
// not a view of either.
bool writable(Value v) {
  while (Operation* def = v.getDefiningOp()) {
    if (isa<arith::ConstantOp>(def)) return false;
    if (!view_like(def)) return true;  // a fresh buffer: the result of a computation
    v = def->getOperand(0);
  }
  auto arg = cast<BlockArgument>(v);
  if (auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp())) {
    if (arg.getOwner() != &func.getBody().front()) return false;
    return func.getArgAttr(arg.getArgNumber(), kDonatedAttr) != nullptr;
  }
  // Loop-carried values (scf.for/while iter_args) belong to the loop: bufferization copies a
  // read-only initial value once, before the loop.
  return isa<scf::ForOp, scf::WhileOp>(arg.getOwner()->getParentOp());
}

// No use of `v`, or of a view of it, comes after `op`: `v` is defined in `op`'s block (a value
// from an enclosing block is read again by every iteration of a loop around `op`), and every
// other user is an op of that block placed before `op`, or nested in one.
bool dead_after(Value v, Operation* op) {
  Block* block = op->getBlock();
  if (v.getParentBlock() != block) return false;
  SmallVector<Value> worklist = {v};
  while (!worklist.empty()) {
    Value x = worklist.pop_back_val();
    for (OpOperand& use : x.getUses()) {
      Operation* user = use.getOwner();
      if (user == op) continue;
      Operation* in_block = block->findAncestorOpInBlock(*user);
      if (!in_block || in_block == op || !in_block->isBeforeInBlock(op)) return false;
      if (view_like(user)) worklist.push_back(user->getResult(0));
    }
  }
  return true;
}

// All loops parallel: each output element is written once, from the inputs at its own index
// (identity maps) or broadcast ones (scalars, rows).
bool elementwise(linalg::GenericOp g) {
  return g.hasPureTensorSemantics() && g.getNumLoops() > 0 && g.getNumParallelLoops() == g.getNumLoops();
}

struct ReuseDeadInputs : PassWrapper<ReuseDeadInputs, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ReuseDeadInputs)

  StringRef getArgument() const override { return "tessera-reuse-dead-inputs"; }
  StringRef getDescription() const override {
    return "Let an elementwise op write into the buffer of an input that is dead after it";
  }
  void getDependentDialects(DialectRegistry& registry) const override {
    registry.insert<linalg::LinalgDialect, tensor::TensorDialect>();
  }

  void runOnOperation() override {
    getOperation().walk([](linalg::GenericOp g) {
      if (!elementwise(g)) return;
      llvm::SmallPtrSet<Value, 4> taken;
      for (OpOperand& init : g.getDpsInitsMutable()) {
        // Only an init that holds no values: an empty tensor the payload does not read.
        if (!init.get().getDefiningOp<tensor::EmptyOp>() || g.payloadUsesValueFromOperand(&init)) continue;
        if (!g.getMatchingIndexingMap(&init).isIdentity()) continue;
        for (OpOperand* input : g.getDpsInputOperands()) {
          Value x = input->get();
          if (!g.getMatchingIndexingMap(input).isIdentity()) continue;
          if (x.getType() != init.get().getType() || taken.contains(x)) continue;
          if (!writable(x) || !dead_after(x, g)) continue;
          // Another init of this op must not already be this value.
          if (llvm::any_of(g.getDpsInits(), [&](Value v) { return v == x; })) continue;
          taken.insert(x);
          init.set(x);
          break;
        }
      }
    });
  }
};

}  // namespace

std::unique_ptr<Pass> createReuseDeadInputsPass() { return std::make_unique<ReuseDeadInputs>(); }

}  // namespace tessera::ir
