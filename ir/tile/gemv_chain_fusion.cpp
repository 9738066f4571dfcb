// `--tessera-gemv-chain-fusion`: see GemvChainFusion.h and docs/tile_ir.md.
#include "ir/tile/GemvChainFusion.h"

#include <algorithm>
#include <optional>

#include <llvm/ADT/DenseSet.h>
#include <llvm/ADT/SetVector.h>
#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/Dialect/Linalg/IR/Linalg.h>
#include <mlir/Dialect/LLVMIR/LLVMDialect.h>
#include <mlir/Dialect/MemRef/IR/MemRef.h>
#include <mlir/Dialect/Utils/StaticValueUtils.h>
#include <mlir/Dialect/SCF/IR/SCF.h>
#include <mlir/Dialect/Tensor/IR/Tensor.h>
#include <mlir/Dialect/Utils/StructuredOpsUtils.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/IRMapping.h>
#include <mlir/Interfaces/SideEffectInterfaces.h>
#include <mlir/Transforms/RegionUtils.h>
#include <mlir/Pass/Pass.h>

namespace tessera::ir {
namespace {

using namespace mlir;

// Bytes of X per chunk: the chunk's rows stay in L2 (1-2 MiB per core) between the two
// products, with room for the rest of the chunk's working set.
constexpr int64_t kChunkBytes = 256 * 1024;

// The body is `out + ext?(a) * ext?(b)` (the contraction form of the matmul schedule).
bool mul_add_body(linalg::GenericOp g) {
  Block& body = g.getRegion().front();
  if (g.getNumDpsInputs() != 2 || g.getNumDpsInits() != 1) return false;
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add) return false;
  BlockArgument out = g.getRegionOutputArgs()[0];
  Value prod = add.getLhs() == out ? add.getRhs() : add.getRhs() == out ? add.getLhs() : Value();
  auto mul = prod ? prod.getDefiningOp<arith::MulFOp>() : arith::MulFOp();
  if (!mul) return false;
  auto input = [&](Value v) {
    if (auto e = v.getDefiningOp<arith::ExtFOp>()) v = e.getIn();
    auto a = dyn_cast<BlockArgument>(v);
    return a && a.getOwner() == &body && a.getArgNumber() < 2;
  };
  if (!input(mul.getLhs()) || !input(mul.getRhs())) return false;
  // Nothing else in the body.
  size_t n = body.getOperations().size();
  size_t ext = isa_and_nonnull<arith::ExtFOp>(mul.getLhs().getDefiningOp()) + isa_and_nonnull<arith::ExtFOp>(mul.getRhs().getDefiningOp());
  return n == 3 + ext;
}

bool is_dim(AffineExpr e, unsigned d) {
  auto de = dyn_cast<AffineDimExpr>(e);
  return de && de.getPosition() == d;
}

// t[n] += X[n, k] * v[k]: returns X.
Value dot_matrix(linalg::GenericOp g) {
  if (!g.hasPureTensorSemantics() || g.getNumLoops() != 2 || !mul_add_body(g)) return {};
  auto it = g.getIteratorTypesArray();
  if (it[0] != utils::IteratorType::parallel || it[1] != utils::IteratorType::reduction) return {};
  auto maps = g.getIndexingMapsArray();
  if (maps[0].getNumResults() != 2 || !is_dim(maps[0].getResult(0), 0) || !is_dim(maps[0].getResult(1), 1)) return {};
  if (maps[1].getNumResults() != 1 || !is_dim(maps[1].getResult(0), 1)) return {};
  if (maps[2].getNumResults() != 1 || !is_dim(maps[2].getResult(0), 0)) return {};
  auto x = dyn_cast<RankedTensorType>(g.getDpsInputs()[0].getType());
  if (!x || !x.hasStaticShape()) return {};
  return g.getDpsInputs()[0];
}

// g[j, 1...] += X[n, j] * r[n, 1...] with one reduction loop n and every loop but n and j of
// static extent 1: the index of X among the inputs, or nullopt.
std::optional<unsigned> transposed_gemv_matrix(linalg::GenericOp g) {
  if (!g.hasPureTensorSemantics() || !mul_add_body(g) || g.getNumReductionLoops() != 1) return std::nullopt;
  auto it = g.getIteratorTypesArray();
  unsigned n = 0;
  for (unsigned d = 0; d < it.size(); ++d)
    if (it[d] == utils::IteratorType::reduction) n = d;
  auto ranges = g.getStaticLoopRanges();
  auto maps = g.getIndexingMapsArray();
  for (unsigned x = 0; x < 2; ++x) {
    AffineMap mx = maps[x], mr = maps[1 - x];
    if (mx.getNumResults() != 2 || !is_dim(mx.getResult(0), n)) continue;
    auto j = dyn_cast<AffineDimExpr>(mx.getResult(1));
    if (!j || it[j.getPosition()] != utils::IteratorType::parallel) continue;
    if (mr.getNumResults() < 1 || !is_dim(mr.getResult(0), n)) continue;
    bool ok = true;
    for (unsigned d = 0; d < it.size(); ++d)
      if (d != n && d != j.getPosition() && ranges[d] != 1) ok = false;
    for (AffineExpr e : mr.getResults().drop_front())
      if (!isa<AffineDimExpr>(e) || e.isFunctionOfDim(n)) ok = false;
    AffineMap mo = maps[2];
    if (!mo.isProjectedPermutation() || mo.isFunctionOfDim(n)) ok = false;
    if (ok) return x;
  }
  return std::nullopt;
}

struct Chain {
  linalg::GenericOp dot;          // A
  linalg::GenericOp transposed;   // C
  unsigned x_index = 0;           // X among C's inputs
  Value x;
  int64_t rows = 0;               // N
  // X's producer when X is computed row by row from other values and only the products read it
  // (x.astype(f64) of an f32 matrix): it runs per chunk too, and X is never materialized whole.
  linalg::GenericOp x_producer;
  llvm::SetVector<Operation*> ops;  // A and the row-local ops between A and C that C's r needs, in block order
  // Sums over the rows (`acc + f(row values)`, rank 1 to 0-d) between A and C of the chain's
  // values: each chunk sums its rows from 0, and the chunks' sums are added onto the init after
  // the loop in chunk order (a log likelihood's sum).
  SmallVector<linalg::GenericOp> sums;
};

// acc[] += f(x[n], ...) over the rows: one reduction loop of N iterations, a 0-d init, the body
// `addf(out, v)` with out used once.
bool row_sum(linalg::GenericOp g, int64_t rows) {
  if (!g.hasPureTensorSemantics() || g.getNumLoops() != 1 || g.getNumReductionLoops() != 1) return false;
  if (g.getStaticLoopRanges()[0] != rows || g.getNumDpsInits() != 1) return false;
  if (!g.getRegion().front().getOps<linalg::IndexOp>().empty()) return false;
  auto init = dyn_cast<RankedTensorType>(g.getDpsInits()[0].getType());
  if (!init || init.getRank() != 0 || !isa<FloatType>(init.getElementType())) return false;
  BlockArgument out = g.getRegionOutputArgs()[0];
  auto yield = cast<linalg::YieldOp>(g.getRegion().front().getTerminator());
  auto add = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add || !out.hasOneUse() || (add.getLhs() != out && add.getRhs() != out)) return false;
  for (OpOperand* in : g.getDpsInputOperands()) {
    AffineMap m = g.getMatchingIndexingMap(in);
    if (m.getNumResults() == 0) continue;
    auto t = dyn_cast<RankedTensorType>(in->get().getType());
    if (m.getNumResults() != 1 || !is_dim(m.getResult(0), 0) || !t || t.getDimSize(0) != rows) return false;
  }
  return true;
}

// How `op` (row-local, over N rows) indexes each operand: true when the operand's first
// dimension is the row (sliced per chunk), false when the operand does not depend on the row
// (used whole); nullopt when neither.
std::optional<SmallVector<bool>> row_operands(Operation* op, int64_t rows) {
  SmallVector<bool> sliced;
  if (auto e = dyn_cast<tensor::ExpandShapeOp>(op)) {
    auto src = e.getSrcType();
    auto res = e.getResultType();
    if (src.getRank() != 1 || src.getDimSize(0) != rows || res.getDimSize(0) != rows) return std::nullopt;
    for (int64_t d = 1; d < res.getRank(); ++d)
      if (res.getDimSize(d) != 1) return std::nullopt;
    return SmallVector<bool>{true};
  }
  auto g = dyn_cast<linalg::GenericOp>(op);
  if (!g || !g.hasPureTensorSemantics() || g.getNumLoops() < 1) return std::nullopt;
  if (!g.getRegion().front().getOps<linalg::IndexOp>().empty()) return std::nullopt;
  if (g.getNumReductionLoops() != 0 || g.getStaticLoopRanges()[0] != rows) return std::nullopt;
  for (OpOperand& operand : g->getOpOperands()) {
    AffineMap m = g.getMatchingIndexingMap(&operand);
    if (!m.isFunctionOfDim(0)) {
      if (g.isDpsInit(&operand)) return std::nullopt;
      sliced.push_back(false);
      continue;
    }
    if (m.getNumResults() == 0 || !is_dim(m.getResult(0), 0)) return std::nullopt;
    for (AffineExpr e : m.getResults().drop_front())
      if (e.isFunctionOfDim(0)) return std::nullopt;
    auto t = dyn_cast<RankedTensorType>(operand.get().getType());
    if (!t || t.getDimSize(0) != rows) return std::nullopt;
    sliced.push_back(true);
  }
  return sliced;
}

// A and the ops between A and C that C's row operand depends on, if all are row-local and
// every value that C needs comes from them or from before A.
std::optional<Chain> find_chain(linalg::GenericOp c) {
  auto xi = transposed_gemv_matrix(c);
  if (!xi) return std::nullopt;
  Chain chain;
  chain.transposed = c;
  chain.x_index = *xi;
  chain.x = c.getDpsInputs()[*xi];
  auto xt = dyn_cast<RankedTensorType>(chain.x.getType());
  if (!xt || !xt.hasStaticShape()) return std::nullopt;
  chain.rows = xt.getDimSize(0);
  Block* block = c->getBlock();
  // The dot product over the same X before C in the block.
  for (Operation* o = c->getPrevNode(); o; o = o->getPrevNode()) {
    auto g = dyn_cast<linalg::GenericOp>(o);
    if (g && dot_matrix(g) == chain.x) {
      chain.dot = g;
      break;
    }
  }
  if (!chain.dot) return std::nullopt;
  if (auto px = chain.x.getDefiningOp<linalg::GenericOp>()) {
    bool only_products = llvm::all_of(chain.x.getUsers(), [&](Operation* u) { return u == chain.dot || u == c; });
    if (only_products && px->getBlock() == block && px.getNumLoops() == 2 && row_operands(px, chain.rows) &&
        px.getNumDpsInits() == 1 && px.getNumResults() == 1 && px.getIndexingMapsArray().back().isIdentity() &&
        px.getDpsInits()[0].getDefiningOp<tensor::EmptyOp>())
      chain.x_producer = px;
  }
  Operation* first = chain.dot;
  auto between = [&](Operation* o) {
    return o && o->getBlock() == block && first->isBeforeInBlock(o) && o->isBeforeInBlock(c);
  };
  // Walk back from C's row operand.
  llvm::DenseSet<Operation*> in_chain{first};
  SmallVector<Operation*> work;
  bool reaches_dot = false;
  auto visit = [&](Value v) -> bool {
    Operation* p = v.getDefiningOp();
    if (p == first) {
      reaches_dot = true;
      return true;
    }
    if (!between(p) || in_chain.count(p)) return true;
    if (isa<linalg::FillOp>(p)) return false;  // a fill of N rows: not worth it, left alone
    if (!row_operands(p, chain.rows)) return false;
    in_chain.insert(p);
    work.push_back(p);
    return true;
  };
  if (!visit(c.getDpsInputs()[1 - *xi])) return std::nullopt;
  auto grow = [&]() -> bool {
  while (!work.empty()) {
    Operation* op = work.pop_back_val();
    auto sliced = *row_operands(op, chain.rows);
    for (auto [k, v] : llvm::enumerate(op->getOperands())) {
      // An init produced by a fill is made again per chunk (init_of in body).
      if (auto g = dyn_cast<linalg::GenericOp>(op); g && g.isDpsInit(&op->getOpOperand(k))) {
        Value init = v;
        if (auto f = init.getDefiningOp<linalg::FillOp>()) init = f.getDpsInits()[0];
        Operation* p = init.getDefiningOp();
        // An init that is a value of the chain (an input reused as the output): sliced as one.
        if (between(p) && !isa<tensor::EmptyOp>(p) && !visit(init)) return false;
        continue;
      }
      if (sliced[k]) {
        if (!visit(v)) return false;
      }
      // A whole operand computed between A and C is checked not to depend on the chain (run).
    }
  }
  return true;
  };
  if (!grow() || !reaches_dot) return std::nullopt;
  // Row sums of the chain's values (and of values row-local ops make from them) join it.
  for (Operation& o : llvm::make_range(std::next(Block::iterator(first)), Block::iterator(c))) {
    auto g = dyn_cast<linalg::GenericOp>(&o);
    if (!g || in_chain.count(&o) || !row_sum(g, chain.rows)) continue;
    bool reads_chain = false, ok = true;
    for (OpOperand* in : g.getDpsInputOperands()) {
      if (g.getMatchingIndexingMap(in).getNumResults() == 0) continue;
      Operation* p = in->get().getDefiningOp();
      if (p && in_chain.count(p)) reads_chain = true;
    }
    if (!reads_chain) continue;
    for (OpOperand* in : g.getDpsInputOperands())
      if (g.getMatchingIndexingMap(in).getNumResults() != 0 && !visit(in->get())) ok = false;
    if (!ok || !grow()) return std::nullopt;
    chain.sums.push_back(g);
  }
  // The dot's own init: a fill (or a value from before A).
  {
    Value init = chain.dot.getDpsInits()[0];
    if (auto f = init.getDefiningOp<linalg::FillOp>()) init = f.getDpsInits()[0];
    if (between(init.getDefiningOp()) && !isa<tensor::EmptyOp>(init.getDefiningOp())) return std::nullopt;
  }
  for (Operation& o : llvm::make_range(Block::iterator(first), Block::iterator(c)))
    if (in_chain.count(&o)) chain.ops.insert(&o);
  return chain;
}

class GemvChainFusion {
 public:
  explicit GemvChainFusion(Chain chain) : c_(std::move(chain)) {}

  // false when the chain is left as it is (checked before anything changes); failure on an
  // internal error after the rewrite began.
  FailureOr<bool> run() {
    linalg::GenericOp c = c_.transposed;
    Block* block = c->getBlock();
    Operation* first = c_.dot;
    // Ops between A and C that use the chain's values (directly or not) move after the loop; no
    // op of the chain may use one of them.
    llvm::SetVector<Operation*> deferred;
    llvm::DenseSet<Operation*> tainted(c_.ops.begin(), c_.ops.end());
    llvm::DenseSet<Operation*> sums;
    for (linalg::GenericOp g : c_.sums) sums.insert(g);
    tainted.insert(sums.begin(), sums.end());
    for (Operation& o : llvm::make_range(std::next(Block::iterator(first)), Block::iterator(c))) {
      if (c_.ops.count(&o) || sums.count(&o)) continue;
      bool uses = false;
      o.walk([&](Operation* inner) {
        for (Value v : inner->getOperands()) {
          Operation* p = v.getDefiningOp();
          while (p && p->getBlock() != block) p = p->getParentOp();
          if (p && tainted.count(p)) uses = true;
        }
      });
      if (!uses) continue;
      if (!isMemoryEffectFree(&o) || (o.getNumRegions() != 0 && !isa<linalg::LinalgOp>(o))) return false;
      tainted.insert(&o);
      deferred.insert(&o);
    }
    for (Operation* op : c_.ops)
      for (Value v : op->getOperands())
        if (Operation* p = v.getDefiningOp(); p && (deferred.count(p) || sums.count(p))) return false;
    for (linalg::GenericOp g : c_.sums)
      for (Value v : g->getOperands())
        if (Operation* p = v.getDefiningOp(); p && (deferred.count(p) || sums.count(p))) return false;
    // Which chain values are used outside the chain (besides C): written whole.
    SmallVector<Value> escaping;
    for (Operation* op : c_.ops)
      for (Value r : op->getResults())
        if (llvm::any_of(r.getUsers(), [&](Operation* u) {
              while (u->getBlock() != block) u = u->getParentOp();
              return !c_.ops.count(u) && !sums.count(u) && u != c.getOperation();
            }))
          escaping.push_back(r);
    for (Value r : escaping)
      if (!cast<RankedTensorType>(r.getType()).hasStaticShape()) return false;

    auto xt = cast<RankedTensorType>(c_.x.getType());
    int64_t row_bytes = std::max<int64_t>(1, xt.getDimSize(1) * std::max<int64_t>(1, xt.getElementTypeBitWidth() / 8));
    int64_t chunk = std::max<int64_t>(16, kChunkBytes / row_bytes / 16 * 16);
    int64_t rows = c_.rows;
    if (rows <= chunk) return false;  // one chunk: nothing to gain
    int64_t chunks = (rows + chunk - 1) / chunk;

    OpBuilder b(c);
    Location loc = c.getLoc();
    auto ct = cast<RankedTensorType>(c.getResult(0).getType());
    if (!ct.hasStaticShape()) return false;
    SmallVector<int64_t> pshape{chunks};
    pshape.append(ct.getShape().begin(), ct.getShape().end());
    auto ptype = RankedTensorType::get(pshape, ct.getElementType());
    SmallVector<Value> outs;
    for (Value r : escaping) {
      auto t = cast<RankedTensorType>(r.getType());
      outs.push_back(b.create<tensor::EmptyOp>(loc, t.getShape(), t.getElementType()));
    }
    for (linalg::GenericOp g : c_.sums) {
      Type t = cast<RankedTensorType>(g.getResult(0).getType()).getElementType();
      outs.push_back(b.create<tensor::EmptyOp>(loc, ArrayRef<int64_t>{chunks}, t));
    }
    outs.push_back(b.create<tensor::EmptyOp>(loc, ptype.getShape(), ptype.getElementType()));

    auto forall = b.create<scf::ForallOp>(loc, ArrayRef<OpFoldResult>{b.getIndexAttr(chunks)}, outs, std::nullopt);
    {
      OpBuilder nb(forall.getTerminator());
      body(nb, loc, forall.getBody()->getArguments(), forall.getTerminator(), chunk, escaping);
    }
    forall->setAttr("tessera.gemv_chain_chunk_rows", b.getI64IntegerAttr(chunk));

    // g = init + partial[0] + partial[1] + ..., in chunk order: a loop over the chunks whose
    // body adds one chunk's partial to g elementwise (vectorized over g; a reduction over the
    // chunks innermost would be a chain of dependent scalar adds per element).
    b.setInsertionPointAfter(forall);
    Value partials = forall.getResults().back();
    unsigned r = ct.getRank();
    auto sum = b.create<scf::ForOp>(
        loc, b.create<arith::ConstantIndexOp>(loc, 0), b.create<arith::ConstantIndexOp>(loc, chunks),
        b.create<arith::ConstantIndexOp>(loc, 1), ValueRange{c.getDpsInits()[0]},
        [&](OpBuilder& nb, Location l, Value iv, ValueRange acc) {
          SmallVector<OpFoldResult> offsets(r + 1, nb.getIndexAttr(0)), sizes{nb.getIndexAttr(1)},
              strides(r + 1, nb.getIndexAttr(1));
          offsets[0] = iv;
          for (int64_t d : ct.getShape()) sizes.push_back(nb.getIndexAttr(d));
          Value part = nb.create<tensor::ExtractSliceOp>(l, ct, partials, offsets, sizes, strides);
          AffineMap id = AffineMap::getMultiDimIdentityMap(r, nb.getContext());
          SmallVector<utils::IteratorType> its(r, utils::IteratorType::parallel);
          auto add = nb.create<linalg::GenericOp>(l, TypeRange{ct}, ValueRange{part}, ValueRange{acc[0]},
                                                  ArrayRef<AffineMap>{id, id}, its,
                                                  [](OpBuilder& bb, Location ll, ValueRange a) {
                                                    bb.create<linalg::YieldOp>(ll, ValueRange{bb.create<arith::AddFOp>(ll, a[1], a[0])});
                                                  });
          nb.create<scf::YieldOp>(l, add.getResult(0));
        });
    // Uses outside the chain now read the loop's results; the deferred ops follow the sum.
    for (auto [k, v] : llvm::enumerate(escaping))
      v.replaceUsesWithIf(forall.getResult(k), [&](OpOperand& use) {
        Operation* u = use.getOwner();
        while (u->getBlock() != block) u = u->getParentOp();
        return !c_.ops.count(u) && !forall->isAncestor(use.getOwner());
      });
    c.getResult(0).replaceAllUsesWith(sum.getResult(0));
    // Each row sum: its init plus the chunks' sums in chunk order.
    Operation* after = sum;
    for (auto [k, g] : llvm::enumerate(c_.sums)) {
      MLIRContext* ctx = b.getContext();
      AffineMap id1 = AffineMap::getMultiDimIdentityMap(1, ctx);
      AffineMap to0 = AffineMap::get(1, 0, ArrayRef<AffineExpr>{}, ctx);
      b.setInsertionPointAfter(after);
      auto total = b.create<linalg::GenericOp>(
          loc, TypeRange{g.getResult(0).getType()}, ValueRange{forall.getResult(escaping.size() + k)},
          ValueRange{g.getDpsInits()[0]}, ArrayRef<AffineMap>{id1, to0},
          ArrayRef<utils::IteratorType>{utils::IteratorType::reduction}, [](OpBuilder& nb, Location l, ValueRange a) {
            nb.create<linalg::YieldOp>(l, ValueRange{nb.create<arith::AddFOp>(l, a[1], a[0])});
          });
      g.getResult(0).replaceAllUsesWith(total.getResult(0));
      after = total;
    }
    for (Operation* o : deferred) {
      o->moveAfter(after);
      after = o;
    }
    c.erase();
    for (linalg::GenericOp g : llvm::reverse(c_.sums)) g.erase();
    for (Operation* op : llvm::reverse(c_.ops)) {
      if (!op->use_empty()) return op->emitError("gemv chain fusion: a fused op is still used"), failure();
      op->erase();
    }
    if (c_.x_producer && c_.x_producer->use_empty()) c_.x_producer.erase();
    // Fills and empty tensors that only the fused ops used.
    for (Operation& o : llvm::make_early_inc_range(llvm::reverse(*block)))
      if (isa<linalg::FillOp, tensor::EmptyOp, arith::ConstantOp>(o) && isOpTriviallyDead(&o)) o.erase();
    return true;
  }

 private:
  void body(OpBuilder& b, Location loc, ValueRange args, scf::InParallelOp in_parallel, int64_t chunk,
            ArrayRef<Value> escaping) {
    Value iv = args[0];
    Value lo = b.create<arith::MulIOp>(loc, iv, b.create<arith::ConstantIndexOp>(loc, chunk));
    Value left = b.create<arith::SubIOp>(loc, b.create<arith::ConstantIndexOp>(loc, c_.rows), lo);
    Value size = b.create<arith::MinSIOp>(loc, left, b.create<arith::ConstantIndexOp>(loc, chunk));
    IRMapping map;
    // Rows [lo, lo + size) of a value indexed by the row at its first dimension.
    auto rows_of = [&](Value v) -> Value {
      if (Value m = map.lookupOrNull(v)) return m;
      auto t = cast<RankedTensorType>(v.getType());
      SmallVector<OpFoldResult> offsets(t.getRank(), b.getIndexAttr(0)), sizes, strides(t.getRank(), b.getIndexAttr(1));
      offsets[0] = lo;
      sizes.push_back(size);
      for (int64_t d = 1; d < t.getRank(); ++d) sizes.push_back(b.getIndexAttr(t.getDimSize(d)));
      return b.create<tensor::ExtractSliceOp>(loc, v, offsets, sizes, strides);
    };
    // A fresh init of `size` rows: the fill again when the init was a fill.
    auto init_of = [&](Value init) -> Value {
      if (Value m = map.lookupOrNull(init)) return m;
      auto t = cast<RankedTensorType>(init.getType());
      SmallVector<OpFoldResult> sizes{size};
      for (int64_t d = 1; d < t.getRank(); ++d) sizes.push_back(b.getIndexAttr(t.getDimSize(d)));
      Value empty = b.create<tensor::EmptyOp>(loc, sizes, t.getElementType());
      if (auto f = init.getDefiningOp<linalg::FillOp>())
        return b.create<linalg::FillOp>(loc, f.getInputs()[0], empty).getResult(0);
      if (init.getDefiningOp<tensor::EmptyOp>()) return empty;
      return rows_of(init);
    };
    Value x_rows;
    if (linalg::GenericOp px = c_.x_producer) {
      auto sliced = *row_operands(px, c_.rows);
      SmallVector<Value> operands;
      for (auto [k, operand] : llvm::enumerate(px->getOpOperands()))
        operands.push_back(px.isDpsInit(&operand) ? init_of(operand.get())
                                                  : sliced[k] ? rows_of(operand.get()) : operand.get());
      x_rows = mlir::clone(b, px.getOperation(), TypeRange{operands.back().getType()}, operands)->getResult(0);
    } else {
      x_rows = rows_of(c_.x);
    }
    for (Operation* op : c_.ops) {
      if (auto e = dyn_cast<tensor::ExpandShapeOp>(op)) {
        auto res = e.getResultType();
        SmallVector<int64_t> shape(res.getShape());
        shape[0] = ShapedType::kDynamic;
        SmallVector<OpFoldResult> out_shape{size};
        for (int64_t d = 1; d < res.getRank(); ++d) out_shape.push_back(b.getIndexAttr(1));
        Value src = map.contains(e.getSrc()) ? map.lookup(e.getSrc()) : rows_of(e.getSrc());
        auto ne = b.create<tensor::ExpandShapeOp>(loc, RankedTensorType::get(shape, res.getElementType()), src,
                                                  e.getReassociationIndices(), out_shape);
        map.map(e.getResult(), ne.getResult());
        continue;
      }
      auto g = cast<linalg::GenericOp>(op);
      SmallVector<Value> operands;
      if (op == c_.dot.getOperation()) {
        operands = {x_rows, g.getDpsInputs()[1], init_of(g.getDpsInits()[0])};
      } else {
        auto sliced = *row_operands(op, c_.rows);
        for (auto [k, operand] : llvm::enumerate(op->getOpOperands())) {
          Value v = operand.get();
          if (g.isDpsInit(&operand))
            operands.push_back(init_of(v));
          else if (!sliced[k])
            operands.push_back(v);
          else
            operands.push_back(map.contains(v) ? map.lookup(v) : rows_of(v));
        }
      }
      SmallVector<Type> types;
      for (Value init : ArrayRef<Value>(operands).take_back(g.getNumDpsInits())) types.push_back(init.getType());
      Operation* clone = mlir::clone(b, op, types, operands);
      for (auto [old_result, new_result] : llvm::zip(op->getResults(), clone->getResults()))
        map.map(old_result, new_result);
    }
    // The chunk's row sums, from zero.
    SmallVector<Value> chunk_sums;
    for (linalg::GenericOp g : c_.sums) {
      SmallVector<Value> operands;
      for (OpOperand* in : g.getDpsInputOperands()) {
        Value v = in->get();
        operands.push_back(g.getMatchingIndexingMap(in).getNumResults() == 0 ? v : rows_of(v));
      }
      auto t = cast<RankedTensorType>(g.getResult(0).getType());
      Value zero = b.create<arith::ConstantOp>(loc, b.getZeroAttr(t.getElementType()));
      operands.push_back(b.create<linalg::FillOp>(loc, zero, b.create<tensor::EmptyOp>(loc, t.getShape(), t.getElementType()).getResult())
                             .getResult(0));
      chunk_sums.push_back(mlir::clone(b, g.getOperation(), TypeRange{t}, operands)->getResult(0));
    }
    // The chunk's partial transposed product, from zero.
    linalg::GenericOp c = c_.transposed;
    auto ct = cast<RankedTensorType>(c.getResult(0).getType());
    Value zero = b.create<arith::ConstantOp>(loc, b.getZeroAttr(ct.getElementType()));
    Value pinit = b.create<linalg::FillOp>(loc, zero, b.create<tensor::EmptyOp>(loc, ct.getShape(), ct.getElementType()).getResult())
                      .getResult(0);
    Value r = c.getDpsInputs()[1 - c_.x_index];
    Value r_rows = map.contains(r) ? map.lookup(r) : rows_of(r);
    SmallVector<Value> operands(2);
    operands[c_.x_index] = x_rows;
    operands[1 - c_.x_index] = r_rows;
    operands.push_back(pinit);
    Value partial = mlir::clone(b, c.getOperation(), TypeRange{ct}, operands)->getResult(0);
    // Results into the shared outputs.
    OpBuilder tb = OpBuilder::atBlockEnd(in_parallel.getBody());
    for (auto [k, v] : llvm::enumerate(escaping)) {
      auto t = cast<RankedTensorType>(v.getType());
      SmallVector<OpFoldResult> offsets(t.getRank(), tb.getIndexAttr(0)), sizes{size}, strides(t.getRank(), tb.getIndexAttr(1));
      offsets[0] = lo;
      for (int64_t d = 1; d < t.getRank(); ++d) sizes.push_back(tb.getIndexAttr(t.getDimSize(d)));
      tb.create<tensor::ParallelInsertSliceOp>(loc, map.lookup(v), args[1 + k], offsets, sizes, strides);
    }
    for (auto [k, v] : llvm::enumerate(chunk_sums))
      tb.create<tensor::ParallelInsertSliceOp>(loc, v, args[1 + escaping.size() + k], ArrayRef<OpFoldResult>{iv},
                                               ArrayRef<OpFoldResult>{tb.getIndexAttr(1)},
                                               ArrayRef<OpFoldResult>{tb.getIndexAttr(1)});
    SmallVector<OpFoldResult> offsets(ct.getRank() + 1, tb.getIndexAttr(0)), sizes{tb.getIndexAttr(1)},
        strides(ct.getRank() + 1, tb.getIndexAttr(1));
    offsets[0] = iv;
    for (int64_t d : ct.getShape()) sizes.push_back(tb.getIndexAttr(d));
    tb.create<tensor::ParallelInsertSliceOp>(loc, partial, args.back(), offsets, sizes, strides);
  }

  Chain c_;
};

struct GemvChainFusionPass : public PassWrapper<GemvChainFusionPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(GemvChainFusionPass)

  StringRef getArgument() const final { return "tessera-gemv-chain-fusion"; }
  StringRef getDescription() const final {
    return "run X @ v, row-local work on it and X^T @ r chunk by chunk of X's rows (X read once)";
  }
  void getDependentDialects(DialectRegistry& registry) const override {
    registry.insert<arith::ArithDialect, linalg::LinalgDialect, scf::SCFDialect, tensor::TensorDialect>();
  }

  void runOnOperation() override {
    SmallVector<linalg::GenericOp> candidates;
    getOperation()->walk([&](linalg::GenericOp g) {
      if (transposed_gemv_matrix(g)) candidates.push_back(g);
    });
    for (linalg::GenericOp c : candidates) {
      std::optional<Chain> chain = find_chain(c);
      if (!chain) continue;
      if (failed(GemvChainFusion(std::move(*chain)).run())) return signalPassFailure();
    }
  }
};

// A bound of a dynamic size: min(x, C) (a chunk's rows) is at most C.
std::optional<int64_t> size_bound(Value v) {
  if (auto c = getConstantIntValue(v)) return *c;
  Operation* p = v.getDefiningOp();
  if (!p || !isa<arith::MinSIOp, arith::MinUIOp>(p)) return std::nullopt;
  std::optional<int64_t> a = getConstantIntValue(p->getOperand(0)), b = getConstantIntValue(p->getOperand(1));
  if (a && b) return std::min(*a, *b);
  return a ? a : b;
}

// Buffers of an `scf.forall` body that the body allocates and frees (a GEMV chain's per-chunk
// arrays: malloc and free per chunk) and whose sizes are bounded by constants become stack
// buffers of the bound, with the stack saved and restored around the body (at most kStackBytes per body).
constexpr int64_t kStackBytes = 64 * 1024;

void stack_scratch(scf::ForallOp forall) {
  Block* body = forall.getBody();
  struct Item {
    memref::AllocOp alloc;
    memref::DeallocOp dealloc;
    SmallVector<int64_t> shape;
  };
  SmallVector<Item> items;
  int64_t bytes = 0;
  for (Operation& o : body->without_terminator()) {
    auto alloc = dyn_cast<memref::AllocOp>(&o);
    if (!alloc || !alloc.getType().getLayout().isIdentity() || alloc.getSymbolOperands().size() != 0) continue;
    MemRefType t = alloc.getType();
    if (!t.getElementType().isIntOrFloat()) continue;
    memref::DeallocOp dealloc;
    bool ok = true;
    for (Operation* u : alloc->getUsers())
      if (auto d = dyn_cast<memref::DeallocOp>(u)) {
        if (d->getBlock() != body || dealloc) ok = false;
        dealloc = d;
      }
    if (!ok || !dealloc) continue;
    SmallVector<int64_t> shape;
    unsigned dyn = 0;
    int64_t n = 1;
    for (int64_t d : t.getShape()) {
      int64_t e = d;
      if (ShapedType::isDynamic(d)) {
        std::optional<int64_t> bound = size_bound(alloc.getDynamicSizes()[dyn++]);
        if (!bound || *bound <= 0) ok = false;
        e = bound.value_or(1);
      }
      shape.push_back(e);
      n *= e;
    }
    for (int64_t r = 1; r < t.getRank(); ++r)
      if (t.isDynamicDim(r)) ok = false;
    if (!ok) continue;
    int64_t size = n * std::max<int64_t>(1, (t.getElementTypeBitWidth() + 7) / 8) + 64;
    if (bytes + size > kStackBytes) continue;
    bytes += size;
    items.push_back({alloc, dealloc, shape});
  }
  if (items.empty()) return;
  // The stack is saved at the body's start and restored before its terminator (as an alloca
  // scope; memref.alloca_scope itself does not survive scf-to-cf of the nested loops).
  OpBuilder b(forall.getContext());
  Location loc = forall.getLoc();
  b.setInsertionPointToStart(body);
  Value saved = b.create<LLVM::StackSaveOp>(loc, LLVM::LLVMPointerType::get(b.getContext()));
  b.setInsertionPoint(body->getTerminator());
  b.create<LLVM::StackRestoreOp>(loc, saved);
  for (Item& it : items) {
    MemRefType t = it.alloc.getType();
    b.setInsertionPoint(it.alloc);
    auto st = MemRefType::get(it.shape, t.getElementType());
    Value stack = b.create<memref::AllocaOp>(loc, st, it.alloc.getAlignmentAttr());
    // The alloc's type (identity layout: only the leading dimension may be dynamic, so the
    // stack buffer's row-major strides are the identity's).
    SmallVector<OpFoldResult> sizes, strides(t.getRank(), b.getIndexAttr(1));
    unsigned dyn = 0;
    for (int64_t d : t.getShape())
      sizes.push_back(ShapedType::isDynamic(d) ? OpFoldResult(it.alloc.getDynamicSizes()[dyn++]) : b.getIndexAttr(d));
    int64_t stride = 1;
    for (int r = t.getRank() - 1; r >= 0; --r) {
      strides[r] = b.getIndexAttr(stride);
      stride *= it.shape[r];
    }
    Value view = b.create<memref::ReinterpretCastOp>(loc, t, stack, b.getIndexAttr(0), sizes, strides);
    it.dealloc.erase();
    it.alloc.replaceAllUsesWith(view);
    it.alloc.erase();
  }
}

struct ForallStackScratchPass : public PassWrapper<ForallStackScratchPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ForallStackScratchPass)

  StringRef getArgument() const final { return "tessera-forall-stack-scratch"; }
  StringRef getDescription() const final {
    return "buffers an scf.forall body allocates and frees, of bounded size: stack buffers in an alloca scope";
  }
  void getDependentDialects(DialectRegistry& registry) const override { registry.insert<memref::MemRefDialect, LLVM::LLVMDialect>(); }

  void runOnOperation() override {
    SmallVector<scf::ForallOp> loops;
    getOperation()->walk([&](scf::ForallOp f) {
      if (f.getNumResults() == 0) loops.push_back(f);  // on buffers
    });
    for (scf::ForallOp f : loops) stack_scratch(f);
  }
};

}  // namespace

std::unique_ptr<Pass> createGemvChainFusionPass() { return std::make_unique<GemvChainFusionPass>(); }
std::unique_ptr<Pass> createForallStackScratchPass() { return std::make_unique<ForallStackScratchPass>(); }

}  // namespace tessera::ir
