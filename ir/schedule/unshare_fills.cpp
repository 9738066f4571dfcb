// `--tessera-unshare-fills`: see Passes.h.
#include "ir/schedule/Passes.h"

#include <mlir/Dialect/Linalg/IR/Linalg.h>
#include <mlir/Dialect/Tensor/IR/Tensor.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/IRMapping.h>
#include <mlir/Pass/PassRegistry.h>

using namespace mlir;

namespace tessera::ir {
namespace {

struct UnshareFills : PassWrapper<UnshareFills, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(UnshareFills)

  StringRef getArgument() const override { return "tessera-unshare-fills"; }
  StringRef getDescription() const override {
    return "Give each linalg op that writes into a filled tensor its own fill (no copy of a shared one)";
  }
  void getDependentDialects(DialectRegistry& registry) const override {
    registry.insert<linalg::LinalgDialect, tensor::TensorDialect>();
  }

  void runOnOperation() override {
    SmallVector<OpOperand*> shared;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (isa<linalg::FillOp>(op)) return;
      for (OpOperand& init : op.getDpsInitsMutable()) {
        auto fill = init.get().getDefiningOp<linalg::FillOp>();
        if (fill && !fill->hasOneUse() && fill.getDpsInits()[0].getDefiningOp<tensor::EmptyOp>())
          shared.push_back(&init);
      }
    });
    for (OpOperand* init : shared) {
      auto fill = init->get().getDefiningOp<linalg::FillOp>();
      if (fill->hasOneUse()) continue;  // the last use keeps the original
      OpBuilder b(init->getOwner());
      Operation* empty = b.clone(*fill.getDpsInits()[0].getDefiningOp());
      IRMapping map;
      map.map(fill.getDpsInits()[0], empty->getResult(0));
      Operation* copy = b.clone(*fill, map);
      init->set(copy->getResult(0));
    }
  }
};

}  // namespace

std::unique_ptr<Pass> createUnshareFillsPass() { return std::make_unique<UnshareFills>(); }

}  // namespace tessera::ir
