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

#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"
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

Value zerosLike(OpBuilder& b, Location loc, Value v);

// x + y for two cotangents of one type.
Value sum(OpBuilder& b, Location loc, Value x, Value y) {
  if (isa<RankedTensorType>(x.getType())) return b.create<AddOp>(loc, x.getType(), x, y);
  return b.create<arith::AddFOp>(loc, x, y);
}

// The floating-point values defined outside `op` that the ops of its regions use, in order.
SmallVector<Value> freeFloatValues(Operation* op) {
  llvm::SetVector<Value> vals;
  for (Region& r : op->getRegions())
    r.walk([&](Operation* in) {
      for (Value v : in->getOperands()) {
        if (!isFloatLike(v.getType())) continue;
        // (A region being built, e.g. the body of a reverse loop, has no parent op yet.)
        Operation* at = v.getParentRegion()->getParentOp();
        if (!at || !op->isAncestor(at)) vals.insert(v);
      }
    });
  return vals.takeVector();
}

// ---- Tapes of loop-carried values (the loop adjoints).

Value indexOf(OpBuilder& b, Location loc, Value v) {
  return v.getType().isIndex() ? v : b.create<arith::IndexCastOp>(loc, b.getIndexType(), v).getResult();
}

// tensor<n x T> for values like `like` (T's dynamic sizes: like's).
Value allocTape(OpBuilder& b, Location loc, Value like, Value n) {
  Type t = like.getType();
  SmallVector<int64_t> shape{ShapedType::kDynamic};
  SmallVector<Value> dyn{n};
  Type elt = t;
  if (auto rt = dyn_cast<RankedTensorType>(t)) {
    elt = rt.getElementType();
    for (int64_t i = 0; i < rt.getRank(); ++i) {
      shape.push_back(rt.getDimSize(i));
      if (rt.isDynamicDim(i)) dyn.push_back(b.create<tensor::DimOp>(loc, like, i));
    }
  }
  return b.create<tensor::EmptyOp>(loc, shape, elt, dyn);
}

Value tapeWrite(OpBuilder& b, Location loc, Value v, Value tape, Value slot) {
  auto rt = dyn_cast<RankedTensorType>(v.getType());
  if (!rt) return b.create<tensor::InsertOp>(loc, v, tape, ValueRange{slot});
  SmallVector<OpFoldResult> offs{slot}, sizes{b.getIndexAttr(1)}, strides(rt.getRank() + 1, b.getIndexAttr(1));
  for (int64_t i = 0; i < rt.getRank(); ++i) {
    offs.push_back(b.getIndexAttr(0));
    sizes.push_back(rt.isDynamicDim(i) ? OpFoldResult(b.create<tensor::DimOp>(loc, v, i).getResult())
                                       : OpFoldResult(b.getIndexAttr(rt.getDimSize(i))));
  }
  return b.create<tensor::InsertSliceOp>(loc, v, tape, offs, sizes, strides);
}

Value tapeRead(OpBuilder& b, Location loc, Type t, Value tape, Value slot) {
  auto rt = dyn_cast<RankedTensorType>(t);
  if (!rt) return b.create<tensor::ExtractOp>(loc, tape, ValueRange{slot});
  SmallVector<OpFoldResult> offs{slot}, sizes{b.getIndexAttr(1)}, strides(rt.getRank() + 1, b.getIndexAttr(1));
  for (int64_t i = 0; i < rt.getRank(); ++i) {
    offs.push_back(b.getIndexAttr(0));
    sizes.push_back(rt.isDynamicDim(i) ? OpFoldResult(b.create<tensor::DimOp>(loc, tape, i + 1).getResult())
                                       : OpFoldResult(b.getIndexAttr(rt.getDimSize(i))));
  }
  return b.create<tensor::ExtractSliceOp>(loc, rt, tape, offs, sizes, strides);
}

// Clones `body` (a loop body; the caller maps its arguments) without prints and saves and returns
// its yielded values.
SmallVector<Value> recomputeBody(OpBuilder& b, Block& body, IRMapping& map) {
  for (Operation& op : body.without_terminator()) {
    if (isa<PrintOp, SaveOp>(op)) continue;
    Operation* c = b.clone(op, map);
    SmallVector<Operation*> io;
    c->walk([&](Operation* in) {
      if (isa<PrintOp, SaveOp>(in)) io.push_back(in);
    });
    for (Operation* in : io) in->erase();
  }
  SmallVector<Value> ys;
  for (Value v : body.getTerminator()->getOperands()) ys.push_back(map.lookupOrDefault(v));
  return ys;
}

// The checkpoint interval of a loop: `tessera.checkpoint` (K >= 1: every K iterations; 0:
// ceil(sqrt(n))), or none.
constexpr const char* kCheckpointAttr = "tessera.checkpoint";
constexpr const char* kCustomVjpAttr = "tessera.custom_vjp";

std::optional<int64_t> checkpointOf(Operation* op) {
  if (auto a = op->getAttrOfType<IntegerAttr>(kCheckpointAttr)) return a.getInt();
  return std::nullopt;
}

// Automatic checkpointing: a `for` loop without `tessera.checkpoint` whose tape (one state of its
// loop-carried values per iteration) would take more than this many bytes is differentiated with
// checkpoints every ceil(sqrt(n)) iterations, as `@checkpoint` (pass option
// `auto-checkpoint-bytes`; 0 turns it off). Only static trip counts and shapes are measured.
constexpr int64_t kDefaultAutoCheckpointBytes = int64_t{256} << 20;
thread_local int64_t tlsAutoCheckpointBytes = kDefaultAutoCheckpointBytes;

// The bytes the plain adjoint of `op` tapes (n iterations x its carried state), or 0 when the
// trip count or a carried shape is not static.
int64_t tapeBytes(scf::ForOp op) {
  auto lb = getConstantIntValue(op.getLowerBound()), ub = getConstantIntValue(op.getUpperBound()),
       st = getConstantIntValue(op.getStep());
  if (!lb || !ub || !st || *st <= 0 || *ub <= *lb) return 0;
  int64_t n = (*ub - *lb + *st - 1) / *st, state = 0;
  for (Type t : op.getResultTypes()) {
    if (auto rt = dyn_cast<RankedTensorType>(t)) {
      if (!rt.hasStaticShape()) return 0;
      int64_t bytes = std::max<int64_t>(1, rt.getElementTypeBitWidth() / 8);
      for (int64_t d : rt.getShape())
        if (__builtin_mul_overflow(bytes, d, &bytes)) return INT64_MAX;  // a size that overflows: the most
      if (__builtin_add_overflow(state, bytes, &state)) return INT64_MAX;
    } else if (t.isIntOrIndexOrFloat()) {
      state += 8;
    }
  }
  return n > 0 && state > INT64_MAX / n ? INT64_MAX : n * state;
}

// Marks the loops under `root` (not yet marked) with the checkpoint interval of `from`'s function.
void stampCheckpoints(Operation* root, func::FuncOp from) {
  auto a = from->getAttrOfType<IntegerAttr>(kCheckpointAttr);
  if (!a) return;
  root->walk([&](Operation* in) {
    if (isa<scf::ForOp, scf::WhileOp>(in) && !in->hasAttr(kCheckpointAttr)) in->setAttr(kCheckpointAttr, a);
  });
}

// The module whose gradient functions are being built: the reverse bodies of loops are built in
// regions that have no parent op yet, where a symbol lookup from the op finds nothing.
thread_local Operation* tlsSymbolScope = nullptr;
struct SymbolScope {
  Operation* saved;
  explicit SymbolScope(Operation* m) : saved(tlsSymbolScope) { tlsSymbolScope = m; }
  ~SymbolScope() { tlsSymbolScope = saved; }
};

// The backward function of a `@custom_vjp` function (null: none).
func::FuncOp customVjpOf(Operation* from, func::CallOp call) {
  auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(from, call.getCalleeAttr());
  if (!callee && tlsSymbolScope) from = tlsSymbolScope;
  if (!callee) callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(from, call.getCalleeAttr());
  if (!callee) return {};
  auto ref = callee->getAttrOfType<FlatSymbolRefAttr>(kCustomVjpAttr);
  if (!ref) return {};
  return SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(from, ref);
}

// `v` as type `t` across the forms a value of the lowering takes: a less or more static tensor
// (tensor.cast), a rank-0 tensor and a float scalar (extract / from_elements), f32 and f64
// (extf / truncf). Null when there is no such conversion.
Value convertTo(OpBuilder& b, Location loc, Value v, Type t) {
  Type vt = v.getType();
  if (vt == t) return v;
  if (isa<RankedTensorType>(vt) && isa<RankedTensorType>(t)) {
    if (!tensor::CastOp::areCastCompatible(vt, t)) return {};
    return b.create<tensor::CastOp>(loc, t, v);
  }
  auto scalarCast = [&](Value x, Type to) -> Value {
    auto from = cast<FloatType>(x.getType());
    auto toF = cast<FloatType>(to);
    if (from == toF) return x;
    if (from.getWidth() < toF.getWidth()) return b.create<arith::ExtFOp>(loc, toF, x);
    return b.create<arith::TruncFOp>(loc, toF, x);
  };
  auto rt = dyn_cast<RankedTensorType>(vt);
  if (rt && rt.getRank() == 0 && isa<FloatType>(rt.getElementType()) && isa<FloatType>(t))
    return scalarCast(b.create<tensor::ExtractOp>(loc, v, ValueRange{}), t);
  auto tt = dyn_cast<RankedTensorType>(t);
  if (tt && tt.getRank() == 0 && isa<FloatType>(tt.getElementType()) && isa<FloatType>(vt))
    return b.create<tensor::FromElementsOp>(loc, tt, ValueRange{scalarCast(v, tt.getElementType())});
  return {};
}

// ceil(sqrt(n)) (at least 1), with integer ops: k = 1; while k * k < n: k += 1.
Value ceilSqrt(OpBuilder& b, Location loc, Value n) {
  Value c1 = b.create<arith::ConstantIndexOp>(loc, 1);
  auto w = b.create<scf::WhileOp>(
      loc, TypeRange{b.getIndexType()}, ValueRange{c1},
      [&](OpBuilder& wb, Location, ValueRange a) {
        Value sq = wb.create<arith::MulIOp>(loc, a[0], a[0]);
        Value more = wb.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, sq, n);
        wb.create<scf::ConditionOp>(loc, more, a);
      },
      [&](OpBuilder& wb, Location, ValueRange a) {
        wb.create<scf::YieldOp>(loc, ValueRange{wb.create<arith::AddIOp>(loc, a[0], c1).getResult()});
      });
  return w.getResult(0);
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
    return runOps(ops);
  }
  LogicalResult runOps(ArrayRef<Operation*> ops) {
    for (auto it = ops.rbegin(); it != ops.rend(); ++it)
      if (failed(adjoint(*it))) return failure();
    return success();
  }

  // Recomputes `body` at the builder (the caller maps its arguments in `map`; prints and saves
  // are left out) and sweeps the copies backwards, the terminator's operands seeded with
  // `seeds` (null: no cotangent). get(map.lookupOrDefault(v)) then reads v's cotangent.
  LogicalResult reverseBody(Block& body, IRMapping& map, ArrayRef<Value> seeds) {
    SmallVector<Operation*> clones;
    for (Operation& op : body.without_terminator()) {
      if (isa<PrintOp, SaveOp>(op)) continue;
      Operation* c = b_.clone(op, map);
      SmallVector<Operation*> io;
      c->walk([&](Operation* in) {
        if (isa<PrintOp, SaveOp>(in)) io.push_back(in);
      });
      for (Operation* in : io) in->erase();
      clones.push_back(c);
    }
    for (auto [v, s] : llvm::zip(body.getTerminator()->getOperands(), seeds))
      if (s) add(map.lookupOrDefault(v), s);
    return runOps(clones);
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
        .Case<tensor::InsertSliceOp, tensor::ExtractSliceOp, tensor::EmptyOp>(
            [&](Operation* o) { return adjointSliceOp(o, ct); })
        .Case<scf::IfOp>([&](scf::IfOp o) { return adjointIf(o, cts); })
        .Case<scf::ForOp>([&](scf::ForOp o) {
          if (auto every = checkpointOf(o)) return adjointForCheckpointed(o, cts, *every);
          if (tlsAutoCheckpointBytes > 0 && tapeBytes(o) > tlsAutoCheckpointBytes)
            return adjointForCheckpointed(o, cts, 0);  // automatic: a tape past the threshold
          return adjointFor(o, cts);
        })
        .Case<func::CallOp>([&](func::CallOp o) { return adjointCustomCall(o, cts); })
        .Case<scf::WhileOp>([&](scf::WhileOp o) {
          if (checkpointOf(o)) return adjointWhile(o, cts);  // the replay is checkpointed
          return adjointWhileOnePass(o, cts);
        })
        .Default([&](Operation*) {
          return unsupported(op, Twine("the gradient of '") + op->getName().getStringRef() + "'");
        });
  }

  // tensor.insert_slice (the slice rule's cotangent placed in zeros; gradient code, so second
  // order meets it): the source gets that slice of the cotangent, the destination the
  // cotangent with the slice zeroed. extract_slice: the cotangent placed in zeros.
  LogicalResult adjointSliceOp(Operation* op, Value ct) {
    Location loc = op->getLoc();
    if (auto o = dyn_cast<tensor::InsertSliceOp>(op)) {
      add(o.getSource(), b_.create<tensor::ExtractSliceOp>(loc, o.getSourceType(), ct, o.getMixedOffsets(),
                                                           o.getMixedSizes(), o.getMixedStrides()));
      Value z = zerosLike(b_, loc, o.getSource());
      add(o.getDest(), b_.create<tensor::InsertSliceOp>(loc, z, ct, o.getMixedOffsets(), o.getMixedSizes(),
                                                        o.getMixedStrides()));
      return success();
    }
    if (auto o = dyn_cast<tensor::ExtractSliceOp>(op)) {
      Value z = zerosLike(b_, loc, o.getSource());
      add(o.getSource(), b_.create<tensor::InsertSliceOp>(loc, ct, z, o.getMixedOffsets(), o.getMixedSizes(),
                                                          o.getMixedStrides()));
    }
    return success();  // tensor.empty: no operands to differentiate
  }

  // The adjoints of control flow recompute the bodies (the region's intermediate values are not
  // visible after it); random ops would draw other numbers.
  LogicalResult recomputable(Operation* op) {
    Operation* bad = nullptr;
    op->walk([&](Operation* in) {
      if (isa<RandnOp, RandOp, DropoutOp, SampleOp, ObserveOp>(in)) bad = in;
    });
    if (!bad && failed(recomputableCalls(op))) return failure();
    if (!bad) return success();
    return unsupported(op, Twine("gradients through control flow that draws random numbers ('") +
                               bad->getName().getStringRef() + "')");
  }

  // scf.if: a second scf.if on the same condition; each branch recomputes the forward branch,
  // sweeps it backwards and yields the cotangents of the outer values the branch uses.
  LogicalResult adjointIf(scf::IfOp op, ArrayRef<Value> cts) {
    SmallVector<Value> free = freeFloatValues(op);
    if (free.empty()) return success();
    if (failed(recomputable(op))) return failure();
    Location loc = op.getLoc();
    SmallVector<Type> types;
    for (Value v : free) types.push_back(v.getType());
    auto rev = b_.create<scf::IfOp>(loc, types, op.getCondition(), /*withElseRegion=*/true);
    for (auto [fwd, bwd] : {std::pair{&op.getThenRegion(), &rev.getThenRegion()},
                            std::pair{&op.getElseRegion(), &rev.getElseRegion()}}) {
      OpBuilder nb = OpBuilder::atBlockEnd(&bwd->front());
      Sweep inner(nb);
      IRMapping map;
      if (!fwd->empty() && failed(inner.reverseBody(fwd->front(), map, cts))) return failure();
      SmallVector<Value> outs;
      for (Value v : free) {
        Value c = inner.get(v);
        outs.push_back(c ? c : zerosLike(nb, loc, v));
      }
      nb.create<scf::YieldOp>(loc, outs);
    }
    for (auto [v, c] : llvm::zip(free, rev.getResults())) add(v, c);
    return success();
  }

  // The iter_args of a reverse loop: the cotangents of the float carried values (their positions
  // in `carriedAt`; zeros where none reached them), then zeros for the outer `free` values.
  SmallVector<Value> reverseInits(ValueRange results, ArrayRef<Value> cts, ArrayRef<Value> free,
                                  SmallVector<int64_t>& carriedAt, Location loc) {
    SmallVector<Value> inits;
    for (auto [m, r] : llvm::enumerate(results))
      if (isFloatLike(r.getType())) {
        carriedAt.push_back(static_cast<int64_t>(m));
        inits.push_back(cts[m] ? cts[m] : zerosLike(b_, loc, r));
      }
    for (Value v : free) inits.push_back(zerosLike(b_, loc, v));
    return inits;
  }

  // One iteration of a reverse loop: seeds the yields of the carried values of `body` (recomputed
  // from `map`, its carried state `state`) with the accumulated cotangents `acc`, sweeps it, and
  // yields the cotangents of the carried state, then those of the outer `free` values summed
  // into acc. On failure: yields acc unchanged and sets `status`.
  void reverseIteration(OpBuilder& nb, Location loc, Block& body, IRMapping& map, ArrayRef<Value> state,
                        ArrayRef<int64_t> carriedAt, ArrayRef<Value> free, ValueRange acc, LogicalResult& status) {
    SmallVector<Value> seeds(body.getTerminator()->getNumOperands());
    for (auto [i, m] : llvm::enumerate(carriedAt)) seeds[m] = acc[i];
    Sweep inner(nb);
    // (Seeds for the original yields only: tape operands a grown loop adds are not differentiated.)
    if (failed(inner.reverseBody(body, map, seeds))) {
      status = failure();
      nb.create<scf::YieldOp>(loc, acc);
      return;
    }
    SmallVector<Value> out;
    for (int64_t m : carriedAt) {
      Value c = inner.get(state[m]);
      out.push_back(c ? c : zerosLike(nb, loc, state[m]));
    }
    for (auto [i, v] : llvm::enumerate(free)) {
      Value a = acc[carriedAt.size() + i];
      Value c = inner.get(v);
      out.push_back(c ? sum(nb, loc, a, c) : a);
    }
    nb.create<scf::YieldOp>(loc, out);
  }

  // scf.for: the forward loop writes its carried values into a tape (one slot per iteration,
  // allocated when the loop starts), then a reverse loop reads slot n-1 ... 0, recomputes that
  // iteration's body and sweeps it backwards, carrying the cotangents of the loop values and
  // summing those of the outer values the body uses.
  LogicalResult adjointFor(scf::ForOp op, ArrayRef<Value> cts) {
    SmallVector<Value> free = freeFloatValues(op);
    bool floatCarried = llvm::any_of(op.getResultTypes(), isFloatLike);
    if (!floatCarried && free.empty()) return success();
    if (failed(recomputable(op))) return failure();
    Location loc = op.getLoc();
    auto toIndex = [&](OpBuilder& b, Value v) { return indexOf(b, loc, v); };
    OpBuilder fb(op);
    Value lb = toIndex(fb, op.getLowerBound()), ub = toIndex(fb, op.getUpperBound()),
          step = toIndex(fb, op.getStep());
    Value c0 = fb.create<arith::ConstantIndexOp>(loc, 0);
    Value span = fb.create<arith::MaxSIOp>(loc, fb.create<arith::SubIOp>(loc, ub, lb), c0);
    Value n = fb.create<arith::CeilDivSIOp>(loc, span, step);
    // One tape per carried value: tensor<n x T> (T's dynamic sizes: those of the initial value).
    SmallVector<Value> tapes;
    for (Value init : op.getInitArgs()) tapes.push_back(allocTape(fb, loc, init, n));
    auto slotOf = [&](OpBuilder& b, Value iv) {  // (iv - lb) / step
      return b.create<arith::DivSIOp>(loc, b.create<arith::SubIOp>(loc, toIndex(b, iv), lb), step).getResult();
    };
    auto write = [&](OpBuilder& b, Value v, Value tape, Value slot) { return tapeWrite(b, loc, v, tape, slot); };
    auto read = [&](OpBuilder& b, Type t, Value tape, Value slot) { return tapeRead(b, loc, t, tape, slot); };
    size_t k = op.getNumResults();
    // The forward loop with the tapes as extra iter_args (the body moves over).
    SmallVector<Value> allInits(op.getInitArgs());
    allInits.append(tapes);
    auto fwd = fb.create<scf::ForOp>(loc, op.getLowerBound(), op.getUpperBound(), op.getStep(), allInits);
    fwd.getRegion().takeBody(op.getRegion());
    {
      Block* body = fwd.getBody();
      for (Value t : tapes) body->addArgument(t.getType(), loc);
      Operation* yield = body->getTerminator();
      OpBuilder yb(yield);
      Value slot = slotOf(yb, body->getArgument(0));
      SmallVector<Value> written;
      for (size_t m = 0; m < k; ++m)
        written.push_back(write(yb, body->getArgument(1 + m), body->getArgument(1 + k + m), slot));
      yield->insertOperands(yield->getNumOperands(), written);
    }
    for (size_t m = 0; m < k; ++m) op.getResult(m).replaceAllUsesWith(fwd.getResult(m));
    forget(op);
    op.erase();
    Block& body = *fwd.getBody();
    // The reverse loop: iter_args = cotangents of the float carried values, then of `free`.
    SmallVector<int64_t> carriedAt;
    SmallVector<Value> inits = reverseInits(fwd->getResults().take_front(k), cts, free, carriedAt, loc);
    LogicalResult status = success();
    auto rev = b_.create<scf::ForOp>(
        loc, b_.create<arith::ConstantIndexOp>(loc, 0), n, b_.create<arith::ConstantIndexOp>(loc, 1), inits,
        [&](OpBuilder& nb, Location, Value kIv, ValueRange acc) {
          Value nm1 = nb.create<arith::SubIOp>(loc, n, nb.create<arith::ConstantIndexOp>(loc, 1));
          Value slot = nb.create<arith::SubIOp>(loc, nm1, kIv);
          Value iv = nb.create<arith::AddIOp>(loc, lb, nb.create<arith::MulIOp>(loc, slot, step));
          if (!body.getArgument(0).getType().isIndex())
            iv = nb.create<arith::IndexCastOp>(loc, body.getArgument(0).getType(), iv);
          IRMapping map;
          map.map(body.getArgument(0), iv);
          SmallVector<Value> state;
          for (size_t m = 0; m < k; ++m) {
            state.push_back(read(nb, body.getArgument(1 + m).getType(), fwd.getResult(k + m), slot));
            map.map(body.getArgument(1 + m), state.back());
            // The copied tape writes are dead (canonicalize drops them): any tape will do.
            map.map(body.getArgument(1 + k + m), fwd.getResult(k + m));
          }
          reverseIteration(nb, loc, body, map, state, carriedAt, free, acc, status);
        });
    if (failed(status)) return failure();
    for (auto [i, m] : llvm::enumerate(carriedAt)) add(fwd.getInitArgs()[m], rev.getResult(i));
    for (auto [i, v] : llvm::enumerate(free)) add(v, rev.getResult(carriedAt.size() + i));
    return success();
  }

  // scf.while: the forward loop also counts its iterations; a replay (an scf.for of that many
  // iterations over the loop body) writes the tape, and the replay is differentiated as a for.
  LogicalResult adjointWhile(scf::WhileOp op, ArrayRef<Value> cts) {
    Block& before = op.getBefore().front();
    Block& after = op.getAfter().front();
    scf::ConditionOp cond = op.getConditionOp();
    if (!llvm::equal(cond.getArgs(), before.getArguments()) || op.getInits().getTypes() != op.getResultTypes())
      return unsupported(op, "gradients through a 'while' whose condition changes the loop values");
    bool floatCarried = llvm::any_of(op.getResultTypes(), isFloatLike);
    if (!floatCarried && freeFloatValues(op).empty()) return success();
    if (failed(recomputable(op))) return failure();
    Location loc = op.getLoc();
    OpBuilder fb(op);
    SmallVector<Value> inits(op.getInits());
    inits.push_back(fb.create<arith::ConstantIndexOp>(loc, 0));
    SmallVector<Type> types(op.getResultTypes());
    types.push_back(fb.getIndexType());
    auto w = fb.create<scf::WhileOp>(loc, types, inits);
    size_t k = op.getNumResults();
    {
      OpBuilder wb(op.getContext());
      SmallVector<Location> locs(types.size(), loc);
      Block* nb = wb.createBlock(&w.getBefore(), {}, types, locs);
      IRMapping map;
      for (size_t m = 0; m < k; ++m) map.map(before.getArgument(m), nb->getArgument(m));
      for (Operation& o : before.without_terminator()) wb.clone(o, map);
      SmallVector<Value> passed(nb->getArguments().begin(), nb->getArguments().end());
      wb.create<scf::ConditionOp>(loc, map.lookupOrDefault(cond.getCondition()), passed);
      Block* na = wb.createBlock(&w.getAfter(), {}, types, locs);
      IRMapping amap;
      for (size_t m = 0; m < k; ++m) amap.map(after.getArgument(m), na->getArgument(m));
      for (Operation& o : after.without_terminator()) wb.clone(o, amap);
      SmallVector<Value> yields;
      for (Value v : after.getTerminator()->getOperands()) yields.push_back(amap.lookupOrDefault(v));
      yields.push_back(wb.create<arith::AddIOp>(loc, na->getArgument(k), wb.create<arith::ConstantIndexOp>(loc, 1)));
      wb.create<scf::YieldOp>(loc, yields);
    }
    for (size_t m = 0; m < k; ++m) op.getResult(m).replaceAllUsesWith(w.getResult(m));
    fb.setInsertionPointAfter(w);
    Value c0 = fb.create<arith::ConstantIndexOp>(loc, 0), c1 = fb.create<arith::ConstantIndexOp>(loc, 1);
    auto replay = fb.create<scf::ForOp>(loc, c0, w.getResult(k), c1, op.getInits(),
                                        [&](OpBuilder& rb, Location, Value, ValueRange state) {
                                          IRMapping map;
                                          map.map(after.getArguments(), state);
                                          OpBuilder body = rb;
                                          rb.create<scf::YieldOp>(loc, recomputeBody(body, after, map));
                                        });
    if (auto every = checkpointOf(op)) replay->setAttr(kCheckpointAttr, fb.getI64IntegerAttr(*every));
    forget(op);
    op.erase();
    if (auto every = checkpointOf(replay)) return adjointForCheckpointed(replay, cts, *every);
    return adjointFor(replay, cts);
  }

  // scf.while in one forward pass: the loop carries a count and a **growable tape** per carried
  // value (16 slots first, doubled when full: amortized O(1) copies per iteration); each iteration
  // writes the values it starts with at slot `count`. The reverse loop then runs `count` times
  // over the `do` body as adjointFor's does. (With `tessera.checkpoint`, adjointWhile's counted
  // replay is used instead: the replay is an scf.for that can be checkpointed.)
  LogicalResult adjointWhileOnePass(scf::WhileOp op, ArrayRef<Value> cts) {
    Block& before = op.getBefore().front();
    Block& after = op.getAfter().front();
    scf::ConditionOp cond = op.getConditionOp();
    if (!llvm::equal(cond.getArgs(), before.getArguments()) || op.getInits().getTypes() != op.getResultTypes())
      return unsupported(op, "gradients through a 'while' whose condition changes the loop values");
    SmallVector<Value> free = freeFloatValues(op);
    bool floatCarried = llvm::any_of(op.getResultTypes(), isFloatLike);
    if (!floatCarried && free.empty()) return success();
    if (failed(recomputable(op))) return failure();
    Location loc = op.getLoc();
    OpBuilder fb(op);
    size_t k = op.getNumResults();
    Value c0 = fb.create<arith::ConstantIndexOp>(loc, 0), c1 = fb.create<arith::ConstantIndexOp>(loc, 1);
    Value cap0 = fb.create<arith::ConstantIndexOp>(loc, 16);
    SmallVector<Value> inits(op.getInits());
    inits.push_back(c0);
    for (Value init : op.getInits()) inits.push_back(allocTape(fb, loc, init, cap0));
    SmallVector<Type> types;
    for (Value v : inits) types.push_back(v.getType());
    auto w = fb.create<scf::WhileOp>(loc, types, inits);
    {
      OpBuilder wb(op.getContext());
      SmallVector<Location> locs(types.size(), loc);
      Block* nb = wb.createBlock(&w.getBefore(), {}, types, locs);
      IRMapping map;
      for (size_t m = 0; m < k; ++m) map.map(before.getArgument(m), nb->getArgument(m));
      for (Operation& o : before.without_terminator()) wb.clone(o, map);
      SmallVector<Value> passed(nb->getArguments().begin(), nb->getArguments().end());
      wb.create<scf::ConditionOp>(loc, map.lookupOrDefault(cond.getCondition()), passed);
      Block* na = wb.createBlock(&w.getAfter(), {}, types, locs);
      Value count = na->getArgument(k);
      ValueRange tapes = na->getArguments().drop_front(k + 1);
      // Grow the tapes when full.
      Value cap = wb.create<tensor::DimOp>(loc, tapes[0], 0);
      Value full = wb.create<arith::CmpIOp>(loc, arith::CmpIPredicate::sge, count, cap);
      SmallVector<Type> tapeTypes(tapes.getTypes());
      auto grow = wb.create<scf::IfOp>(loc, tapeTypes, full, /*withElseRegion=*/true);
      {
        OpBuilder gb = OpBuilder::atBlockEnd(&grow.getThenRegion().front());
        Value twice = gb.create<arith::MulIOp>(loc, cap, gb.create<arith::ConstantIndexOp>(loc, 2));
        SmallVector<Value> grown;
        for (auto [m, t] : llvm::enumerate(tapes)) {
          Value fresh = allocTape(gb, loc, na->getArgument(m), twice);
          auto rt = cast<RankedTensorType>(t.getType());
          SmallVector<OpFoldResult> offs(rt.getRank(), gb.getIndexAttr(0)), sizes, strides(rt.getRank(), gb.getIndexAttr(1));
          for (int64_t i = 0; i < rt.getRank(); ++i)
            sizes.push_back(rt.isDynamicDim(i) ? OpFoldResult(gb.create<tensor::DimOp>(loc, t, i).getResult())
                                               : OpFoldResult(gb.getIndexAttr(rt.getDimSize(i))));
          grown.push_back(gb.create<tensor::InsertSliceOp>(loc, t, fresh, offs, sizes, strides));
        }
        gb.create<scf::YieldOp>(loc, grown);
        OpBuilder eb = OpBuilder::atBlockEnd(&grow.getElseRegion().front());
        eb.create<scf::YieldOp>(loc, SmallVector<Value>(tapes.begin(), tapes.end()));
      }
      SmallVector<Value> written;
      for (size_t m = 0; m < k; ++m) written.push_back(tapeWrite(wb, loc, na->getArgument(m), grow.getResult(m), count));
      IRMapping amap;
      for (size_t m = 0; m < k; ++m) amap.map(after.getArgument(m), na->getArgument(m));
      for (Operation& o : after.without_terminator()) wb.clone(o, amap);
      SmallVector<Value> yields;
      for (Value v : after.getTerminator()->getOperands()) yields.push_back(amap.lookupOrDefault(v));
      yields.push_back(wb.create<arith::AddIOp>(loc, count, c1));
      yields.append(written);
      wb.create<scf::YieldOp>(loc, yields);
    }
    for (size_t m = 0; m < k; ++m) op.getResult(m).replaceAllUsesWith(w.getResult(m));
    Value n = w.getResult(k);
    // The reverse loop: iter_args = cotangents of the float carried values, then of `free`; it
    // recomputes the original `do` body (still in `op`, erased at the end).
    SmallVector<int64_t> carriedAt;
    SmallVector<Value> rinits = reverseInits(w->getResults().take_front(k), cts, free, carriedAt, loc);
    LogicalResult status = success();
    auto rev = b_.create<scf::ForOp>(
        loc, b_.create<arith::ConstantIndexOp>(loc, 0), n, b_.create<arith::ConstantIndexOp>(loc, 1), rinits,
        [&](OpBuilder& nb, Location, Value q, ValueRange acc) {
          Value slot = nb.create<arith::SubIOp>(loc, nb.create<arith::SubIOp>(loc, n, c1), q);
          IRMapping map;
          SmallVector<Value> state;
          for (size_t m = 0; m < k; ++m) {
            state.push_back(tapeRead(nb, loc, after.getArgument(m).getType(), w.getResult(k + 1 + m), slot));
            map.map(after.getArgument(m), state.back());
          }
          reverseIteration(nb, loc, after, map, state, carriedAt, free, acc, status);
        });
    forget(op);
    op.erase();
    if (failed(status)) return failure();
    for (auto [i, m] : llvm::enumerate(carriedAt)) add(w.getInits()[m], rev.getResult(i));
    for (auto [i, v] : llvm::enumerate(free)) add(v, rev.getResult(carriedAt.size() + i));
    return success();
  }

  // The `@custom_vjp` functions called in a body that is recomputed (they are not inlined): no
  // random numbers (others would be drawn) and no prints or saves (they would run again).
  LogicalResult recomputableCalls(Operation* op) {
    SmallVector<func::FuncOp> work;
    llvm::SmallPtrSet<Operation*, 8> seen;
    op->walk([&](func::CallOp c) {
      Operation* scope = tlsSymbolScope ? tlsSymbolScope : c.getOperation();
      if (auto f = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(scope, c.getCalleeAttr()))
        if (seen.insert(f).second) work.push_back(f);
    });
    while (!work.empty()) {
      func::FuncOp f = work.pop_back_val();
      Operation* bad = nullptr;
      f.walk([&](Operation* in) {
        if (isa<RandnOp, RandOp, DropoutOp, SampleOp, ObserveOp, PrintOp, SaveOp>(in)) bad = in;
        if (auto c = dyn_cast<func::CallOp>(in))
          if (auto g = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(f, c.getCalleeAttr()))
            if (seen.insert(g).second) work.push_back(g);
      });
      if (bad)
        return unsupported(op, Twine("gradients through control flow that calls '") + f.getSymName() +
                                   "', which uses '" + bad->getName().getStringRef() +
                                   "' (the reverse pass runs the body again)");
    }
    return success();
  }

  // A call of a `@custom_vjp` function (the only calls left after inlining): its backward
  // function is the rule, called with the arguments, the result and the result's cotangent; it
  // returns the cotangents of the floating-point arguments, in order.
  LogicalResult adjointCustomCall(func::CallOp call, ArrayRef<Value> cts) {
    func::FuncOp bwd = customVjpOf(call, call);
    if (!bwd)
      return unsupported(call, Twine("the gradient of a call of '") + call.getCallee() + "'");
    Location loc = call.getLoc();
    FunctionType bt = bwd.getFunctionType();
    SmallVector<Value> args(call.getOperands());
    SmallVector<Value> floats;
    for (Value a : call.getOperands())
      if (isFloatLike(a.getType())) floats.push_back(a);
    if (call.getNumResults() != 1 || bt.getNumInputs() != args.size() + 2 || bt.getNumResults() != floats.size())
      return call.emitError() << "the backward function '" << bwd.getSymName() << "' of '" << call.getCallee()
                              << "' does not have the signature (arguments, result, cotangent) -> (cotangents of "
                                 "the floating-point arguments)";
    args.push_back(call.getResult(0));
    args.push_back(cts[0]);
    for (auto [i, a] : llvm::enumerate(args)) {
      Type want = bt.getInput(static_cast<unsigned>(i));
      Value c = convertTo(b_, loc, a, want);
      if (!c)
        return call.emitError() << "the backward function '" << bwd.getSymName() << "' expects " << want
                                << " as its argument " << i << ", found " << a.getType();
      a = c;
    }
    auto c = b_.create<func::CallOp>(loc, bwd, args);
    for (auto [v, r] : llvm::zip(floats, c.getResults())) {
      Value ct = convertTo(b_, loc, r, v.getType());
      if (!ct)
        return call.emitError() << "the backward function '" << bwd.getSymName() << "' returns " << r.getType()
                                << " for an argument of type " << v.getType();
      add(v, ct);
    }
    return success();
  }

  // scf.for with checkpoints every K iterations (K = ceil(sqrt(n)) when `every` is 0): the forward
  // loop becomes a loop over segments of K iterations that writes the carried values into a
  // checkpoint tape (one slot per segment) before running the segment; the reverse loop walks the
  // segments backwards, recomputes the K states of a segment from its checkpoint into a segment
  // tape, then sweeps them backwards as adjointFor does. Memory: ceil(n/K) + K states instead of n.
  LogicalResult adjointForCheckpointed(scf::ForOp op, ArrayRef<Value> cts, int64_t every) {
    SmallVector<Value> free = freeFloatValues(op);
    bool floatCarried = llvm::any_of(op.getResultTypes(), isFloatLike);
    if (!floatCarried && free.empty()) return success();
    if (failed(recomputable(op))) return failure();
    Location loc = op.getLoc();
    OpBuilder fb(op);
    Type ivType = op.getInductionVar().getType();
    auto toIv = [&](OpBuilder& b, Value v) {
      return ivType.isIndex() ? v : b.create<arith::IndexCastOp>(loc, ivType, v).getResult();
    };
    Value lb = indexOf(fb, loc, op.getLowerBound()), ub = indexOf(fb, loc, op.getUpperBound()),
          step = indexOf(fb, loc, op.getStep());
    Value c0 = fb.create<arith::ConstantIndexOp>(loc, 0), c1 = fb.create<arith::ConstantIndexOp>(loc, 1);
    Value span = fb.create<arith::MaxSIOp>(loc, fb.create<arith::SubIOp>(loc, ub, lb), c0);
    Value n = fb.create<arith::CeilDivSIOp>(loc, span, step);
    Value K = every > 0 ? fb.create<arith::ConstantIndexOp>(loc, every).getResult() : ceilSqrt(fb, loc, n);
    Value S = fb.create<arith::CeilDivSIOp>(loc, n, K);
    size_t k = op.getNumResults();
    SmallVector<Value> ckpts;
    for (Value init : op.getInitArgs()) ckpts.push_back(allocTape(fb, loc, init, S));
    // The forward loop over segments; the segment's iterations run the original body.
    SmallVector<Value> outerInits(op.getInitArgs());
    outerInits.append(ckpts);
    Value kStep = fb.create<arith::MulIOp>(loc, K, step);
    auto outer = fb.create<scf::ForOp>(loc, c0, S, c1, outerInits);
    {
      OpBuilder ob = OpBuilder::atBlockBegin(outer.getBody());
      Value s = outer.getInductionVar();
      ValueRange state = outer.getRegionIterArgs().take_front(k);
      ValueRange tapes = outer.getRegionIterArgs().drop_front(k);
      SmallVector<Value> written;
      for (auto [v, t] : llvm::zip(state, tapes)) written.push_back(tapeWrite(ob, loc, v, t, s));
      Value lo = ob.create<arith::AddIOp>(loc, lb, ob.create<arith::MulIOp>(loc, s, kStep));
      Value hi = ob.create<arith::MinSIOp>(loc, ob.create<arith::AddIOp>(loc, lo, kStep), ub);
      auto inner = ob.create<scf::ForOp>(loc, toIv(ob, lo), toIv(ob, hi), op.getStep(), state);
      inner.getRegion().takeBody(op.getRegion());
      SmallVector<Value> ys(inner.getResults());
      ys.append(written);
      ob.create<scf::YieldOp>(loc, ys);
    }
    for (size_t m = 0; m < k; ++m) op.getResult(m).replaceAllUsesWith(outer.getResult(m));
    forget(op);
    op.erase();
    auto innerFwd = cast<scf::ForOp>(*llvm::find_if(outer.getBody()->getOperations(),
                                                    [](Operation& o) { return isa<scf::ForOp>(o); }));
    Block& body = *innerFwd.getBody();
    // The reverse loop over segments: iter_args = cotangents of the float carried values, then of
    // `free`.
    SmallVector<int64_t> carriedAt;
    SmallVector<Value> inits = reverseInits(outer->getResults().take_front(k), cts, free, carriedAt, loc);
    LogicalResult status = success();
    auto ivAt = [&](OpBuilder& b, Value slot) {  // lb + slot * step, in the loop's type
      return toIv(b, b.create<arith::AddIOp>(loc, lb, b.create<arith::MulIOp>(loc, slot, step)));
    };
    auto rev = b_.create<scf::ForOp>(
        loc, b_.create<arith::ConstantIndexOp>(loc, 0), S, b_.create<arith::ConstantIndexOp>(loc, 1), inits,
        [&](OpBuilder& sb, Location, Value r, ValueRange accSeg) {
          Value seg = sb.create<arith::SubIOp>(loc, sb.create<arith::SubIOp>(loc, S, c1), r);
          Value first = sb.create<arith::MulIOp>(loc, seg, K);
          Value len = sb.create<arith::MinSIOp>(loc, K, sb.create<arith::SubIOp>(loc, n, first));
          // Recompute the segment's states from its checkpoint into a segment tape.
          SmallVector<Value> start, segTapes;
          for (size_t m = 0; m < k; ++m) {
            start.push_back(tapeRead(sb, loc, body.getArgument(1 + m).getType(), outer.getResult(k + m), seg));
            segTapes.push_back(allocTape(sb, loc, start.back(), len));
          }
          SmallVector<Value> recInits(start);
          recInits.append(segTapes);
          auto rec = sb.create<scf::ForOp>(
              loc, c0, len, c1, recInits, [&](OpBuilder& rb, Location, Value j, ValueRange st) {
                IRMapping map;
                map.map(body.getArgument(0), ivAt(rb, rb.create<arith::AddIOp>(loc, first, j)));
                SmallVector<Value> written;
                for (size_t m = 0; m < k; ++m) {
                  map.map(body.getArgument(1 + m), st[m]);
                  written.push_back(tapeWrite(rb, loc, st[m], st[k + m], j));
                }
                SmallVector<Value> ys = recomputeBody(rb, body, map);
                ys.append(written);
                rb.create<scf::YieldOp>(loc, ys);
              });
          // Sweep the segment backwards.
          auto back = sb.create<scf::ForOp>(
              loc, c0, len, c1, accSeg, [&](OpBuilder& nb, Location, Value q, ValueRange acc) {
                Value j = nb.create<arith::SubIOp>(loc, nb.create<arith::SubIOp>(loc, len, c1), q);
                IRMapping map;
                map.map(body.getArgument(0), ivAt(nb, nb.create<arith::AddIOp>(loc, first, j)));
                SmallVector<Value> state;
                for (size_t m = 0; m < k; ++m) {
                  state.push_back(tapeRead(nb, loc, body.getArgument(1 + m).getType(), rec.getResult(k + m), j));
                  map.map(body.getArgument(1 + m), state.back());
                }
                reverseIteration(nb, loc, body, map, state, carriedAt, free, acc, status);
              });
          sb.create<scf::YieldOp>(loc, back.getResults());
        });
    if (failed(status)) return failure();
    for (auto [i, m] : llvm::enumerate(carriedAt)) add(outer.getInitArgs()[m], rev.getResult(i));
    for (auto [i, v] : llvm::enumerate(free)) add(v, rev.getResult(carriedAt.size() + i));
    return success();
  }

  // Drops the cotangents kept for the results of an op about to be erased (a later op could
  // reuse their addresses).
  void forget(Operation* op) {
    for (Value r : op->getResults()) ct_.erase(r);
  }

  OpBuilder& b_;
  llvm::DenseMap<Value, Value> ct_;
};

// Replaces each func.call in `f` with the callee's body, until none is left.
LogicalResult inlineCalls(func::FuncOp f, SymbolTable& symbols) {
  for (int depth = 0;; ++depth) {
    SmallVector<func::CallOp> calls;
    f.walk([&](func::CallOp c) {
      if (!customVjpOf(f, c)) calls.push_back(c);  // a @custom_vjp call stays: its rule is a call
    });
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
      for (Operation& op : body.without_terminator()) stampCheckpoints(b.clone(op, map), callee);
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

// The gradient function of a `@custom_vjp` function itself: its body becomes one call of the
// function, which the sweep differentiates with the backward function.
void customVjpBody(func::FuncOp g, func::FuncOp callee) {
  Block& block = g.getBody().front();
  Operation* ret = block.getTerminator();
  OpBuilder b(ret);
  auto call = b.create<func::CallOp>(g.getLoc(), callee, block.getArguments());
  auto newRet = b.create<func::ReturnOp>(g.getLoc(), call.getResults());
  SmallVector<Operation*> old;
  for (Operation& op : block)
    if (&op != call.getOperation() && &op != newRet.getOperation()) old.push_back(&op);
  for (Operation* op : llvm::reverse(old)) {
    op->dropAllUses();
    op->erase();
  }
}

Value one(OpBuilder& b, Location loc, Type t) {
  if (auto r = dyn_cast<RankedTensorType>(t))
    return b.create<arith::ConstantOp>(loc, r, DenseElementsAttr::get(r, b.getFloatAttr(r.getElementType(), 1.0)));
  return b.create<arith::ConstantOp>(loc, b.getFloatAttr(t, 1.0));
}

FailureOr<func::FuncOp> buildGradient(ModuleOp module, SymbolTable& symbols, func::FuncOp callee,
                                      ArrayRef<int64_t> argnums, Location where, bool seeded = false);

// Replaces a `tessera.grad` with a call of its gradient function (built on first use).
LogicalResult expandGrad(GradOp op, ModuleOp module, SymbolTable& symbols) {
  auto callee = symbols.lookup<func::FuncOp>(op.getCallee());
  if (!callee) return op.emitOpError() << "callee " << op.getCalleeAttr() << " is not a function of the module";
  FailureOr<func::FuncOp> g = buildGradient(module, symbols, callee, op.getArgnums(), op.getLoc(), op.getSeeded());
  if (failed(g)) return failure();
  OpBuilder b(op);
  auto call = b.create<func::CallOp>(op.getLoc(), *g, op.getArgs());
  size_t skip = op.getValue() ? 0 : 1;
  for (auto [r, v] : llvm::zip(op.getResults(), call.getResults().drop_front(skip))) r.replaceAllUsesWith(v);
  op.erase();
  return success();
}

// Higher order: the gradients that `f` computes itself (a `tessera.grad` in its body, or in a
// function it calls) become calls of their gradient functions, which are inlined, until only
// plain ops are left; the sweep then differentiates the gradient code like any other code.
LogicalResult inlineCallsAndGradients(func::FuncOp f, ModuleOp module, SymbolTable& symbols) {
  for (int depth = 0;; ++depth) {
    if (failed(inlineCalls(f, symbols))) return failure();
    SmallVector<GradOp> inner;
    f.walk([&](GradOp g) { inner.push_back(g); });
    if (inner.empty()) return success();
    if (depth > 16)
      return inner.front().emitError() << "not yet supported: gradients of recursively differentiated functions";
    for (GradOp g : inner)
      if (failed(expandGrad(g, module, symbols))) return failure();
  }
}

// Builds `<callee>__grad_<argnums>`: (args) -> (value, cotangents of the argnums), the
// returned scalar seeded with 1; or, `seeded`, `<callee>__vjp_<argnums>`: (args, seed) ->
// (value, cotangents), the returned float value (any shape) seeded with the last argument.
FailureOr<func::FuncOp> buildGradient(ModuleOp module, SymbolTable& symbols, func::FuncOp callee,
                                      ArrayRef<int64_t> argnums, Location where, bool seeded) {
  SymbolScope scope(module);
  std::string name = (callee.getSymName() + (seeded ? "__vjp" : "__grad")).str();
  for (int64_t n : argnums) name += "_" + std::to_string(n);
  if (auto existing = symbols.lookup<func::FuncOp>(name)) return existing;
  FunctionType ft = callee.getFunctionType();
  SmallVector<Type> results{ft.getResult(0)};
  for (int64_t n : argnums) results.push_back(ft.getInput(static_cast<unsigned>(n)));
  SmallVector<Type> inputs(ft.getInputs());
  if (seeded) inputs.push_back(ft.getResult(0));
  OpBuilder mb(module.getContext());
  mb.setInsertionPointAfter(callee);
  auto g = cast<func::FuncOp>(mb.clone(*callee));
  g.setSymName(name);
  g.setPrivate();
  g.setFunctionType(FunctionType::get(module.getContext(), inputs, results));
  symbols.insert(g);
  g->removeAttr(kCustomVjpAttr);
  if (callee->hasAttr(kCustomVjpAttr)) customVjpBody(g, callee);
  stampCheckpoints(g, g);
  if (seeded && !g.getBody().empty()) g.getBody().front().addArgument(ft.getResult(0), callee.getLoc());
  if (failed(inlineCallsAndGradients(g, module, symbols))) return failure();
  if (!g.getBody().hasOneBlock())
    return (emitError(where) << "not yet supported: the gradient of a function with several blocks"), failure();
  Block& block = g.getBody().front();
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  OpBuilder b(ret);
  Sweep sweep(b);
  Value out = ret.getOperand(0);
  sweep.add(out, seeded ? block.getArguments().back() : one(b, ret.getLoc(), out.getType()));
  if (failed(sweep.run(block))) return failure();
  // The sweep may have rebuilt the op that defines the returned value (loops): read it again.
  SmallVector<Value> values{ret.getOperand(0)};
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
  ReverseAD() = default;
  ReverseAD(const ReverseAD& other) : PassWrapper(other) {}
  Option<int64_t> autoCheckpointBytes{*this, "auto-checkpoint-bytes",
                                      llvm::cl::desc("Checkpoint a for loop whose gradient tape would exceed this many "
                                                     "bytes (0: never)"),
                                      llvm::cl::init(kDefaultAutoCheckpointBytes)};

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    tlsAutoCheckpointBytes = autoCheckpointBytes;
    SmallVector<GradOp> grads;
    module.walk([&](GradOp g) { grads.push_back(g); });
    for (GradOp op : grads)
      if (failed(expandGrad(op, module, symbols))) return signalPassFailure();
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
