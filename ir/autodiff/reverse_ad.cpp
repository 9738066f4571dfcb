// --tessera-reverse-ad: reverse-mode automatic differentiation of `tessera.grad` ops.
//
// For each distinct (callee, argnums), a private function `<callee>__grad_<argnums>` is built:
// the callee's body is cloned, every func.call in it is inlined (the gradient needs the
// callee's intermediate values), and a reverse sweep appends the adjoint ops: cotangents are
// kept per value (summed when a value has several uses), seeded with 1 for the returned
// scalar, and each op's GradientOpInterface rule turns its results' cotangents into its
// operands' cotangents. The function returns the value and the arguments' cotangents; each
// `tessera.grad` becomes a func.call of it. docs/autodiff.md has the design.
#include "ir/autodiff/Gradient.h"
#include "ir/autodiff/GradientInterface.h"
#include "ir/autodiff/Passes.h"
#include "ir/graph/Tessera.h"

#include <map>
#include <string>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::tessera;

namespace {

bool isFloatLike(Type t) {
  if (auto r = dyn_cast<RankedTensorType>(t)) return isa<FloatType>(r.getElementType());
  return isa<FloatType>(t);
}

// The reverse sweep over one function body (a single block).
class Sweep {
 public:
  explicit Sweep(OpBuilder& b) : b_(b) {}

  void add(Value v, Value ct) {
    if (!ct || !isFloatLike(v.getType())) return;
    if (ct.getType() != v.getType() && isa<RankedTensorType>(ct.getType()) && isa<RankedTensorType>(v.getType()))
      ct = b_.create<tensor::CastOp>(ct.getLoc(), v.getType(), ct);
    auto it = ct_.find(v);
    if (it == ct_.end()) {
      ct_[v] = ct;
      return;
    }
    Location loc = ct.getLoc();
    if (isa<RankedTensorType>(ct.getType())) it->second = b_.create<AddOp>(loc, ct.getType(), it->second, ct);
    else it->second = b_.create<arith::AddFOp>(loc, it->second, ct);
  }
  Value get(Value v) const {
    auto it = ct_.find(v);
    return it == ct_.end() ? Value() : it->second;
  }

  // Adjoints of the ops of `block` before its terminator, in reverse order.
  LogicalResult run(Block& block) {
    SmallVector<Operation*> ops;
    for (Operation& op : block.without_terminator()) ops.push_back(&op);
    for (auto it = ops.rbegin(); it != ops.rend(); ++it)
      if (failed(adjoint(*it))) return failure();
    return success();
  }

 private:
  LogicalResult unsupported(Operation* op, const Twine& what) {
    return op->emitError() << "not yet supported: " << what;
  }

  LogicalResult adjoint(Operation* op) {
    SmallVector<Value> cts;
    bool any = false;
    for (Value r : op->getResults()) {
      cts.push_back(get(r));
      any |= static_cast<bool>(cts.back());
    }
    if (!any) return success();
    Location loc = op->getLoc();
    if (auto g = dyn_cast<GradientOpInterface>(op)) {
      SmallVector<Value> out;
      if (failed(g.buildGradient(b_, cts, out)))
        return unsupported(op, Twine("the gradient of '") + op->getName().getStringRef() + "'");
      for (auto [v, c] : llvm::zip(op->getOperands(), out)) add(v, c);
      return success();
    }
    Value ct = cts[0];
    // Scalars of the lowering (Python floats) and the conversions between them and tensors.
    return llvm::TypeSwitch<Operation*, LogicalResult>(op)
        .Case<arith::ConstantOp>([](auto) { return success(); })
        .Case<arith::AddFOp>([&](auto o) {
          add(o.getLhs(), ct);
          add(o.getRhs(), ct);
          return success();
        })
        .Case<arith::SubFOp>([&](auto o) {
          add(o.getLhs(), ct);
          add(o.getRhs(), b_.create<arith::NegFOp>(loc, ct));
          return success();
        })
        .Case<arith::MulFOp>([&](auto o) {
          add(o.getLhs(), b_.create<arith::MulFOp>(loc, ct, o.getRhs()));
          add(o.getRhs(), b_.create<arith::MulFOp>(loc, ct, o.getLhs()));
          return success();
        })
        .Case<arith::DivFOp>([&](auto o) {
          add(o.getLhs(), b_.create<arith::DivFOp>(loc, ct, o.getRhs()));
          Value q = b_.create<arith::DivFOp>(loc, b_.create<arith::MulFOp>(loc, ct, o.getResult()), o.getRhs());
          add(o.getRhs(), b_.create<arith::NegFOp>(loc, q));
          return success();
        })
        .Case<arith::NegFOp>([&](auto o) {
          add(o.getOperand(), b_.create<arith::NegFOp>(loc, ct));
          return success();
        })
        .Case<arith::ExtFOp>([&](auto o) {
          add(o.getIn(), b_.create<arith::TruncFOp>(loc, o.getIn().getType(), ct));
          return success();
        })
        .Case<arith::TruncFOp>([&](auto o) {
          add(o.getIn(), b_.create<arith::ExtFOp>(loc, o.getIn().getType(), ct));
          return success();
        })
        .Case<arith::SIToFPOp, arith::UIToFPOp>([](auto) { return success(); })
        .Case<tensor::ExtractOp>([&](tensor::ExtractOp o) {
          auto t = cast<RankedTensorType>(o.getTensor().getType());
          if (t.getRank() != 0) return unsupported(op, "the gradient of an element read from a tensor");
          add(o.getTensor(), b_.create<tensor::FromElementsOp>(loc, t, ValueRange{ct}));
          return success();
        })
        .Case<tensor::FromElementsOp>([&](tensor::FromElementsOp o) {
          if (o.getElements().size() != 1 || cast<RankedTensorType>(o.getType()).getRank() != 0)
            return unsupported(op, "the gradient of a tensor built from scalars");
          add(o.getElements()[0], b_.create<tensor::ExtractOp>(loc, ct, ValueRange{}));
          return success();
        })
        .Case<tensor::CastOp>([&](tensor::CastOp o) {
          add(o.getSource(), b_.create<tensor::CastOp>(loc, o.getSource().getType(), ct));
          return success();
        })
        .Case<scf::ForOp, scf::WhileOp>([&](auto) { return unsupported(op, "gradients through loops"); })
        .Case<scf::IfOp>([&](auto) { return unsupported(op, "gradients through 'if' with floating-point results"); })
        .Default([&](Operation*) {
          return unsupported(op, Twine("the gradient of '") + op->getName().getStringRef() + "'");
        });
  }

  OpBuilder& b_;
  llvm::DenseMap<Value, Value> ct_;
};

// Replaces each func.call in `f` with the callee's body, until none is left.
LogicalResult inlineCalls(func::FuncOp f, SymbolTable& symbols) {
  for (int depth = 0;; ++depth) {
    SmallVector<func::CallOp> calls;
    f.walk([&](func::CallOp c) { calls.push_back(c); });
    if (calls.empty()) return success();
    if (depth > 64) return f.emitError() << "not yet supported: gradients through recursive calls";
    for (func::CallOp call : calls) {
      auto callee = symbols.lookup<func::FuncOp>(call.getCallee());
      if (!callee || callee.isExternal() || !callee.getBody().hasOneBlock())
        return call.emitError() << "not yet supported: the gradient of a call of '" << call.getCallee() << "'";
      Block& body = callee.getBody().front();
      IRMapping map;
      map.map(body.getArguments(), call.getOperands());
      OpBuilder b(call);
      for (Operation& op : body.without_terminator()) b.clone(op, map);
      auto ret = cast<func::ReturnOp>(body.getTerminator());
      for (auto [r, v] : llvm::zip(call.getResults(), ret.getOperands())) r.replaceAllUsesWith(map.lookupOrDefault(v));
      call.erase();
    }
  }
}

Value zerosLike(OpBuilder& b, Location loc, Value v) {
  if (auto t = dyn_cast<RankedTensorType>(v.getType())) {
    SmallVector<Value> dims;
    for (int64_t i = 0; i < t.getRank(); ++i)
      if (t.isDynamicDim(i)) dims.push_back(b.create<DimOp>(loc, b.getIndexType(), v, b.getI64IntegerAttr(i)));
    return b.create<ZerosOp>(loc, t, dims);
  }
  return b.create<arith::ConstantOp>(loc, b.getFloatAttr(v.getType(), 0.0));
}

Value one(OpBuilder& b, Location loc, Type t) {
  if (auto r = dyn_cast<RankedTensorType>(t))
    return b.create<arith::ConstantOp>(loc, r, DenseElementsAttr::get(r, b.getFloatAttr(r.getElementType(), 1.0)));
  return b.create<arith::ConstantOp>(loc, b.getFloatAttr(t, 1.0));
}

// Builds `<callee>__grad_<argnums>`: (args) -> (value, cotangents of the argnums).
FailureOr<func::FuncOp> buildGradient(ModuleOp module, SymbolTable& symbols, func::FuncOp callee,
                                      ArrayRef<int64_t> argnums, Location where) {
  std::string name = (callee.getSymName() + "__grad").str();
  for (int64_t n : argnums) name += "_" + std::to_string(n);
  if (auto existing = symbols.lookup<func::FuncOp>(name)) return existing;
  FunctionType ft = callee.getFunctionType();
  SmallVector<Type> results{ft.getResult(0)};
  for (int64_t n : argnums) results.push_back(ft.getInput(static_cast<unsigned>(n)));
  OpBuilder mb(module.getContext());
  mb.setInsertionPointAfter(callee);
  auto g = cast<func::FuncOp>(mb.clone(*callee));
  g.setSymName(name);
  g.setPrivate();
  g.setFunctionType(FunctionType::get(module.getContext(), ft.getInputs(), results));
  symbols.insert(g);
  if (failed(inlineCalls(g, symbols))) return failure();
  if (!g.getBody().hasOneBlock())
    return (emitError(where) << "not yet supported: the gradient of a function with several blocks"), failure();
  Block& block = g.getBody().front();
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  OpBuilder b(ret);
  Sweep sweep(b);
  Value out = ret.getOperand(0);
  sweep.add(out, one(b, ret.getLoc(), out.getType()));
  if (failed(sweep.run(block))) return failure();
  SmallVector<Value> values{out};
  for (int64_t n : argnums) {
    Value arg = block.getArgument(static_cast<unsigned>(n));
    Value ct = sweep.get(arg);
    values.push_back(ct ? ct : zerosLike(b, ret.getLoc(), arg));
  }
  b.create<func::ReturnOp>(ret.getLoc(), values);
  ret.erase();
  return g;
}

struct ReverseAD : PassWrapper<ReverseAD, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ReverseAD)
  StringRef getArgument() const final { return "tessera-reverse-ad"; }
  StringRef getDescription() const final {
    return "Replace tessera.grad ops with calls of generated reverse-mode gradient functions";
  }
  void getDependentDialects(DialectRegistry& registry) const override {
    registry.insert<TesseraDialect, func::FuncDialect, arith::ArithDialect, tensor::TensorDialect>();
    registerGradientModels(registry);
  }
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<GradOp> grads;
    module.walk([&](GradOp g) { grads.push_back(g); });
    for (GradOp op : grads) {
      auto callee = symbols.lookup<func::FuncOp>(op.getCallee());
      if (!callee) {
        op.emitOpError() << "callee " << op.getCalleeAttr() << " is not a function of the module";
        return signalPassFailure();
      }
      FailureOr<func::FuncOp> g = buildGradient(module, symbols, callee, op.getArgnums(), op.getLoc());
      if (failed(g)) return signalPassFailure();
      OpBuilder b(op);
      auto call = b.create<func::CallOp>(op.getLoc(), *g, op.getArgs());
      size_t skip = op.getValue() ? 0 : 1;
      for (auto [r, v] : llvm::zip(op.getResults(), call.getResults().drop_front(skip))) r.replaceAllUsesWith(v);
      op.erase();
    }
  }
};

} // namespace

namespace mlir::tessera {

std::unique_ptr<Pass> createReverseADPass() { return std::make_unique<ReverseAD>(); }

void registerAutodiffPasses() { PassRegistration<ReverseAD>(); }

FailureOr<func::FuncOp> buildGradientFunction(ModuleOp module, StringRef callee, ArrayRef<int64_t> argnums) {
  DialectRegistry registry;
  registerGradientModels(registry);
  module.getContext()->appendDialectRegistry(registry);
  SymbolTable symbols(module);
  auto f = symbols.lookup<func::FuncOp>(callee);
  if (!f) return (module.emitError() << "no function '" << callee << "'"), failure();
  FunctionType ft = f.getFunctionType();
  auto scalar = [](Type t) {
    auto r = dyn_cast<RankedTensorType>(t);
    return r ? r.getRank() == 0 && isa<FloatType>(r.getElementType()) : isa<FloatType>(t);
  };
  if (ft.getNumResults() != 1 || !scalar(ft.getResult(0)))
    return (f.emitError() << "not yet supported: the gradient of a function that does not return one "
                             "floating-point scalar"),
           failure();
  FailureOr<func::FuncOp> g = buildGradient(module, symbols, f, argnums, f.getLoc());
  if (failed(g)) return failure();
  StringAttr name = g->getSymNameAttr();
  PassManager pm(module.getContext());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  if (failed(pm.run(module))) return failure();
  return SymbolTable(module).lookup<func::FuncOp>(name);
}

} // namespace mlir::tessera
