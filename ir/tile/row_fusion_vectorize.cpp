// `--tessera-cpu-vectorize`: see RowFusionVectorize.h and docs/tile_ir.md.
//
// Works on linalg.generic / linalg.fill with buffer semantics, after bufferization. A group is a
// run of such ops in one block (allocations, deallocations and side-effect-free ops may sit
// between them) whose loops are `K` shared outer parallel loops plus at most one innermost loop
// each. The group becomes
//
//   scf.parallel %blk = 0 to ceil(S0 / rows) {          // rows per block: grain of kGrainElems
//     scf.for %i0 = blk*rows to min(S0, (blk+1)*rows) {  // then the other outer loops
//       op 1: vector loop over its innermost dim (+ scalar remainder), or one scalar step
//       op 2: ...
//   } }
//
// which is legal when every buffer that some op of the group writes is indexed by the outer loop
// variables at the same positions in every access: row i of one op then touches only row i of
// the others, and running the ops row by row keeps every dependence.
#include "ir/tile/RowFusionVectorize.h"
#include "ir/tile/VectorMath.h"

#include <functional>
#include <limits>
#include <optional>

#include <llvm/ADT/SetVector.h>
#include <llvm/ADT/bit.h>
#include <mlir/Conversion/LLVMCommon/TypeConverter.h>
#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/Dialect/LLVMIR/LLVMDialect.h>
#include <mlir/Dialect/Linalg/IR/Linalg.h>
#include <mlir/Dialect/Math/IR/Math.h>
#include <mlir/Dialect/MemRef/IR/MemRef.h>
#include <mlir/Dialect/SCF/IR/SCF.h>
#include <mlir/Dialect/Utils/StaticValueUtils.h>
#include <mlir/Dialect/Vector/IR/VectorOps.h>
#include <mlir/IR/BuiltinTypes.h>
#include <mlir/IR/IRMapping.h>
#include <mlir/Interfaces/SideEffectInterfaces.h>
#include <mlir/Interfaces/ViewLikeInterface.h>
#include <mlir/Pass/Pass.h>

namespace tessera::ir {
namespace {

using namespace mlir;

// Element operations per parallel block: one block is worth waking a thread for.
constexpr int64_t kGrainElems = 1 << 15;
// Block of a rank-1 elementwise chain (a multiple of every vector width).
constexpr int64_t kBlock1D = 1 << 14;
// Vector registers are 512 bits (AVX-512); narrower targets split the vectors.
constexpr int64_t kVectorBits = 512;

bool has_reduction(linalg::LinalgOp op) { return op.getNumReductionLoops() > 0; }

// The loop dims of a map's results (-1 for a constant result), or nullopt if a result is
// neither a dim nor a constant or a dim appears twice.
std::optional<SmallVector<int64_t>> result_dims(AffineMap map) {
  SmallVector<int64_t> dims;
  for (AffineExpr e : map.getResults()) {
    if (auto d = dyn_cast<AffineDimExpr>(e)) {
      if (llvm::is_contained(dims, int64_t(d.getPosition()))) return std::nullopt;
      dims.push_back(d.getPosition());
    } else if (isa<AffineConstantExpr>(e)) {
      dims.push_back(-1);
    } else {
      return std::nullopt;
    }
  }
  return dims;
}

Value root_of(Value v);
bool may_alias(Value a, Value b);

// A read-only operand may be indexed by sums of loop indices times constants (the patches of a
// convolution, `x[n, c, y*s + i*d, ...]`): a gather. Whether every result of `map` is such an
// expression (no mod or division).
bool linear_map(AffineMap map) {
  if (map.getNumSymbols() != 0) return false;
  std::function<bool(AffineExpr)> linear = [&](AffineExpr e) -> bool {
    if (isa<AffineDimExpr, AffineConstantExpr>(e)) return true;
    auto bin = dyn_cast<AffineBinaryOpExpr>(e);
    if (!bin) return false;
    if (e.getKind() == AffineExprKind::Add) return linear(bin.getLHS()) && linear(bin.getRHS());
    if (e.getKind() == AffineExprKind::Mul)
      return linear(bin.getLHS()) && isa<AffineConstantExpr>(bin.getRHS());
    return false;
  };
  return llvm::all_of(map.getResults(), linear);
}

// Whether some result of `map` depends on loop `dim`.
bool uses_dim(AffineMap map, unsigned dim) {
  return llvm::any_of(map.getResults(), [&](AffineExpr e) { return e.isFunctionOfDim(dim); });
}

// An op with a gathered operand (some input map not made of loop indices and constants).
bool is_gather(linalg::LinalgOp op) {
  for (OpOperand* in : op.getDpsInputOperands())
    if (isa<MemRefType>(in->get().getType()) && !result_dims(op.getMatchingIndexingMap(in))) return true;
  return false;
}

// A linalg op this pass can turn into loops on its own.
bool is_candidate(Operation* o) {
  if (!isa<linalg::GenericOp, linalg::FillOp>(o)) return false;
  auto op = cast<linalg::LinalgOp>(o);
  if (!op.hasPureBufferSemantics()) return false;
  for (OpOperand& operand : op->getOpOperands()) {
    Type t = operand.get().getType();
    if (auto m = dyn_cast<MemRefType>(t)) {
      if (!m.getElementType().isIntOrIndexOrFloat()) return false;
      AffineMap map = op.getMatchingIndexingMap(&operand);
      if (!result_dims(map) && (op.isDpsInit(&operand) || !linear_map(map))) return false;
    } else if (isa<ShapedType>(t)) {
      return false;
    }
  }
  unsigned n = op.getNumLoops();
  auto iters = op.getIteratorTypesArray();
  for (unsigned i = 0; i < n; ++i)
    if (iters[i] != utils::IteratorType::parallel && i + 1 != n) return false;  // reduction only innermost
  if (has_reduction(op)) {
    for (OpOperand& init : op.getDpsInitsMutable())
      if (llvm::is_contained(*result_dims(op.getMatchingIndexingMap(&init)), int64_t(n - 1))) return false;
  }
  if (auto g = dyn_cast<linalg::GenericOp>(o)) {
    for (Operation& b : g.getRegion().front()) {
      if (isa<linalg::YieldOp, linalg::IndexOp>(b)) continue;
      if (b.getNumRegions() != 0 || !isMemoryEffectFree(&b)) return false;
    }
  }
  // A gather runs its iterations in any order: what it reads must not be what it writes.
  if (is_gather(op)) {
    if (has_reduction(op)) return false;
    for (OpOperand* in : op.getDpsInputOperands())
      for (OpOperand& out : op.getDpsInitsMutable())
        if (may_alias(root_of(in->get()), root_of(out.get()))) return false;
  }
  return true;
}

Value root_of(Value v) {
  while (auto view = v.getDefiningOp<ViewLikeOpInterface>()) v = view.getViewSource();
  return v;
}

// A donated argument of an entry (`tessera.donated`): its caller guarantees that it shares no
// memory with another argument (the JIT copies it otherwise; the C wrapper rejects it).
bool donated_argument(Value root) {
  auto arg = dyn_cast<BlockArgument>(root);
  if (!arg) return false;
  auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
  return func && arg.getOwner() == &func.getBody().front() &&
         func.getArgAttr(arg.getArgNumber(), "tessera.donated") != nullptr;
}

// Whether two buffers (roots of views) may be the same memory: the same value, or two function
// arguments, unless one of them was donated.
bool may_alias(Value a, Value b) {
  if (a == b) return true;
  if (!isa<BlockArgument>(a) || !isa<BlockArgument>(b)) return false;
  return !donated_argument(a) && !donated_argument(b);
}

struct Plan {
  unsigned K = 0;         // shared outer loops
  bool blocked = false;   // K == 0 rank-1 elementwise chain, cut into blocks
};

// Whether `ops` (in program order) can be one loop nest, and how.
std::optional<Plan> plan_group(ArrayRef<linalg::LinalgOp> ops) {
  Plan p;
  unsigned max_n = 0;
  for (auto op : ops) max_n = std::max(max_n, op.getNumLoops());
  p.K = max_n == 0 ? 0 : max_n - 1;
  bool any_reduction = false;
  for (auto op : ops) {
    unsigned n = op.getNumLoops();
    if (n != p.K && n != p.K + 1) return std::nullopt;
    if (n == p.K && has_reduction(op)) return std::nullopt;
    any_reduction |= has_reduction(op);
  }
  if (p.K == 0) {
    p.blocked = !any_reduction && llvm::all_of(ops, [](linalg::LinalgOp op) { return op.getNumLoops() == 1; });
  }
  if (ops.size() == 1) return p;
  if (llvm::any_of(ops, [](linalg::LinalgOp op) { return is_gather(op); })) return std::nullopt;  // a group of its own
  // Shared outer sizes (static, equal).
  unsigned pinned = p.blocked ? 1 : p.K;
  SmallVector<int64_t> outer;
  for (auto op : ops) {
    SmallVector<int64_t> r = op.getStaticLoopRanges();
    for (unsigned t = 0; t < pinned; ++t) {
      if (ShapedType::isDynamic(r[t])) return std::nullopt;
      if (outer.size() <= t) outer.push_back(r[t]);
      else if (outer[t] != r[t]) return std::nullopt;
    }
  }
  // Dependences: written buffers are indexed by the pinned loops at fixed positions.
  struct Access {
    Value value, root;
    SmallVector<int64_t> dims;
    bool write;
  };
  SmallVector<Access> accesses;
  for (auto op : ops)
    for (OpOperand& operand : op->getOpOperands()) {
      if (!isa<MemRefType>(operand.get().getType())) continue;
      accesses.push_back({operand.get(), root_of(operand.get()), *result_dims(op.getMatchingIndexingMap(&operand)),
                          op.isDpsInit(&operand)});
    }
  auto pinned_positions = [&](const Access& a) -> std::optional<SmallVector<int64_t>> {
    SmallVector<int64_t> pos;
    for (unsigned t = 0; t < pinned; ++t) {
      auto it = llvm::find(a.dims, int64_t(t));
      if (it == a.dims.end()) return std::nullopt;
      pos.push_back(it - a.dims.begin());
    }
    return pos;
  };
  for (const Access& w : accesses) {
    if (!w.write) continue;
    auto wpos = pinned_positions(w);
    if (!wpos) return std::nullopt;
    for (const Access& a : accesses) {
      if (!may_alias(a.root, w.root)) continue;
      if (a.value != w.value) return std::nullopt;
      auto apos = pinned_positions(a);
      if (!apos || *apos != *wpos) return std::nullopt;
    }
  }
  return p;
}

// The neutral element and vector combining kind of a reduction's combiner.
struct Combiner {
  vector::CombiningKind kind;
  TypedAttr neutral;
};

std::optional<Combiner> combiner_of(Operation* c, Type t) {
  using K = vector::CombiningKind;
  if (auto ft = dyn_cast<FloatType>(t)) {
    const llvm::fltSemantics& s = ft.getFloatSemantics();
    auto f = [&](llvm::APFloat v) { return FloatAttr::get(ft, v); };
    if (isa<arith::AddFOp>(c)) return Combiner{K::ADD, f(llvm::APFloat::getZero(s, /*Negative=*/true))};
    if (isa<arith::MulFOp>(c)) return Combiner{K::MUL, f(llvm::APFloat::getOne(s))};
    if (isa<arith::MaximumFOp>(c)) return Combiner{K::MAXIMUMF, f(llvm::APFloat::getInf(s, true))};
    if (isa<arith::MinimumFOp>(c)) return Combiner{K::MINIMUMF, f(llvm::APFloat::getInf(s, false))};
    if (isa<arith::MaxNumFOp>(c)) return Combiner{K::MAXNUMF, f(llvm::APFloat::getInf(s, true))};
    if (isa<arith::MinNumFOp>(c)) return Combiner{K::MINNUMF, f(llvm::APFloat::getInf(s, false))};
    return std::nullopt;
  }
  auto it = dyn_cast<IntegerType>(t);
  if (!it || it.getWidth() == 1) return std::nullopt;
  unsigned w = it.getWidth();
  auto i = [&](llvm::APInt v) { return IntegerAttr::get(it, v); };
  if (isa<arith::AddIOp>(c)) return Combiner{K::ADD, i(llvm::APInt::getZero(w))};
  if (isa<arith::MulIOp>(c)) return Combiner{K::MUL, i(llvm::APInt(w, 1))};
  if (isa<arith::MaxSIOp>(c)) return Combiner{K::MAXSI, i(llvm::APInt::getSignedMinValue(w))};
  if (isa<arith::MinSIOp>(c)) return Combiner{K::MINSI, i(llvm::APInt::getSignedMaxValue(w))};
  if (isa<arith::OrIOp>(c)) return Combiner{K::OR, i(llvm::APInt::getZero(w))};
  if (isa<arith::AndIOp>(c)) return Combiner{K::AND, i(llvm::APInt::getAllOnes(w))};
  return std::nullopt;
}

unsigned bits_of(Type t) {
  if (t.isIndex()) return 64;
  return t.getIntOrFloatBitWidth();
}

// Bytes of one element of `t` in memory (i1 buffers hold bytes).
int64_t elem_bytes(Type t) { return std::max<int64_t>(1, (bits_of(t) + 7) / 8); }

// The bytes of a static memref, saturated at INT64_MAX (a shape whose size overflows, which the
// allocation rejects at run time, must not overflow here).
int64_t static_bytes(MemRefType t) {
  int64_t n = elem_bytes(t.getElementType());
  for (int64_t d : t.getShape())
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return std::numeric_limits<int64_t>::max();
  return n;
}

bool static_identity(MemRefType t) { return t.hasStaticShape() && t.getLayout().isIdentity(); }

// Whether `operand` is indexed by the op's loops in order (d0, ..., dn-1).
bool identity_access(linalg::LinalgOp op, OpOperand& operand) {
  auto dims = result_dims(op.getMatchingIndexingMap(&operand));
  if (!dims || dims->size() != op.getNumLoops()) return false;
  for (auto [k, d] : llvm::enumerate(*dims))
    if (d != int64_t(k)) return false;
  return true;
}

bool reads(linalg::LinalgOp op, OpOperand& operand) {
  return isa<MemRefType>(operand.get().getType()) && op.payloadUsesValueFromOperand(&operand);
}

// Streaming (nontemporal) stores for outputs at least this big: they would not stay in the
// caches anyway, and a streaming store skips reading the line before writing it.
constexpr int64_t kStreamBytes = 16 << 20;
// A row-local intermediate goes to a scratch row when one row is at most this big (it stays in
// L1/L2 while the row is processed).
constexpr int64_t kScratchRowBytes = 64 << 10;
// Inputs at least this big get the next row prefetched by their last reader in the group.
constexpr int64_t kPrefetchBytes = 1 << 20;
// Independent vector accumulators of a vectorized reduction (the add latency is hidden).
constexpr unsigned kAccumulators = 4;

class GroupEmitter {
 public:
  GroupEmitter(OpBuilder& b, Location loc) : b_(b), loc_(loc) {}

  // Buffers of the group that became scratch rows entirely (their alloc is dead once the group
  // is emitted).
  ArrayRef<Value> contracted() const { return contracted_; }

  void emit(ArrayRef<linalg::LinalgOp> ops, const Plan& plan, bool parallel) {
    ops_.assign(ops.begin(), ops.end());
    K_ = plan.K;
    for (auto op : ops) {
      SmallVector<Value> s;
      for (Range r : op.createLoopRanges(b_, loc_)) s.push_back(getValueOrCreateConstantIndexOp(b_, loc_, r.size));
      sizes_.push_back(s);
    }
    if (!plan.blocked && K_ > 0) plan_scratch();
    plan_streaming();
    if (K_ == 1) plan_prefetch();
    Value zero = cst(0), one = cst(1);
    if (plan.blocked) {
      Value n = sizes_[0][0];
      Value block = cst(kBlock1D);
      Value blocks = b_.create<arith::CeilDivUIOp>(loc_, n, block);
      outer_loop(parallel, blocks, [&](Value blk) {
        Value lo = b_.create<arith::MulIOp>(loc_, blk, block);
        Value hi = b_.create<arith::MinUIOp>(loc_, b_.create<arith::AddIOp>(loc_, lo, block), n);
        for (size_t i = 0; i < ops.size(); ++i) emit_op(i, {}, lo, hi);
      });
      return;
    }
    if (K_ == 0) {
      for (size_t i = 0; i < ops.size(); ++i) emit_op(i, {}, zero, ops_[i].getNumLoops() ? sizes_[i][0] : zero);
      return;
    }
    // Outer sizes from any op (they are equal), and the work of one row.
    SmallVector<Value> outer(sizes_[0].begin(), sizes_[0].begin() + K_);
    outer_ = outer;
    Value work = cst(0);
    for (size_t i = 0; i < ops.size(); ++i)
      work = b_.create<arith::AddIOp>(loc_, work, ops_[i].getNumLoops() == K_ ? one : sizes_[i][K_]);
    for (unsigned t = 1; t < K_; ++t) work = b_.create<arith::MulIOp>(loc_, work, outer[t]);
    work = b_.create<arith::MaxUIOp>(loc_, work, one);
    Value rows = b_.create<arith::MaxUIOp>(loc_, b_.create<arith::CeilDivUIOp>(loc_, cst(kGrainElems), work), one);
    Value blocks = b_.create<arith::CeilDivUIOp>(loc_, outer[0], rows);
    if (!parallel) make_scratch(scratch_home());
    outer_loop(parallel, blocks, [&](Value blk) {
      // Scratch rows: one set per block of rows of the parallel loop, at the top of its body
      // (parallel_to_runtime hoists them to the entry of the outlined function, so a thread
      // allocates them once per chunk of blocks).
      if (parallel) make_scratch(b_.saveInsertionPoint());
      Value lo = b_.create<arith::MulIOp>(loc_, blk, rows);
      Value hi = b_.create<arith::MinUIOp>(loc_, b_.create<arith::AddIOp>(loc_, lo, rows), outer[0]);
      SmallVector<Value> ivs;
      nest(lo, hi, outer, ivs);
    });
  }

 private:
  using Key = std::pair<unsigned, unsigned>;  // (op in the group, operand number)

  Value cst(int64_t v) { return b_.create<arith::ConstantIndexOp>(loc_, v); }

  // Where a sequential nest's scratch rows go: the top of the outermost enclosing parallel loop's
  // body (one set per iteration, hoisted per thread when outlined), else the function's entry
  // block, so that no loop around the nest grows the stack.
  OpBuilder::InsertPoint scratch_home() {
    Operation* here = b_.getInsertionBlock()->getParentOp();
    Operation* outermost = nullptr;
    for (Operation* p = here; p; p = p->getParentOp())
      if (isa<scf::ParallelOp, scf::ForallOp>(p)) outermost = p;
    Block* block = nullptr;
    if (outermost) block = &outermost->getRegion(0).front();
    else if (auto f = here->getParentOfType<func::FuncOp>(); f || isa<func::FuncOp>(here))
      block = &(f ? f : cast<func::FuncOp>(here)).getBody().front();
    if (!block) return b_.saveInsertionPoint();
    return OpBuilder::InsertPoint(block, block->begin());
  }

  void make_scratch(OpBuilder::InsertPoint where) {
    if (scratch_buffers_.empty()) return;
    OpBuilder::InsertionGuard guard(b_);
    b_.restoreInsertionPoint(where);
    scratch_.clear();
    for (Value buffer : scratch_buffers_) {
      auto t = cast<MemRefType>(buffer.getType());
      SmallVector<int64_t> shape(K_, 1);
      shape.push_back(t.getDimSize(K_));
      scratch_.push_back(
          b_.create<memref::AllocaOp>(loc_, MemRefType::get(shape, t.getElementType()), b_.getI64IntegerAttr(64)));
    }
  }

  // Row-local intermediates: a buffer of rank K+1 that the group writes whole rows of more than
  // once (or that nothing outside the group reads) keeps every version but the last in a scratch
  // row; only the final version goes to memory. For softmax, exp(x - max) lives in a scratch row
  // and the output is written once.
  void plan_scratch() {
    SmallVector<Value> buffers;
    for (auto op : ops_)
      for (OpOperand& operand : op->getOpOperands())
        if (isa<MemRefType>(operand.get().getType()) && !llvm::is_contained(buffers, operand.get()))
          buffers.push_back(operand.get());
    for (Value buffer : buffers) {
      auto t = cast<MemRefType>(buffer.getType());
      if (!static_identity(t) || t.getRank() != int64_t(K_) + 1) continue;
      if (t.getDimSize(K_) * elem_bytes(t.getElementType()) > kScratchRowBytes) continue;
      bool ok = true, first = true;
      SmallVector<unsigned> writers;
      for (auto [i, op] : llvm::enumerate(ops_)) {
        bool r = false, w = false;
        for (OpOperand& operand : op->getOpOperands()) {
          if (operand.get() != buffer) continue;
          if (op.getNumLoops() != K_ + 1 || !identity_access(op, operand) ||
              op.getStaticLoopRanges()[K_] != t.getDimSize(K_))
            ok = false;
          r |= reads(op, operand);
          w |= op.isDpsInit(&operand);
        }
        if (!r && !w) continue;
        if (first && r) ok = false;  // the rows' old contents are read
        first = false;
        if (w) writers.push_back(i);
      }
      if (!ok || writers.empty()) continue;
      bool local = buffer.getDefiningOp<memref::AllocOp>() && llvm::all_of(buffer.getUsers(), [&](Operation* user) {
                     return isa<memref::DeallocOp>(user) || llvm::is_contained(ops_, user);
                   });
      if (writers.size() < 2 && !local) continue;
      unsigned last = local ? std::numeric_limits<unsigned>::max() : writers.back();
      unsigned slot = scratch_buffers_.size();
      scratch_buffers_.push_back(buffer);
      if (local) contracted_.push_back(buffer);
      for (auto [i, op] : llvm::enumerate(ops_)) {
        if (i > last) break;
        for (OpOperand& operand : op->getOpOperands()) {
          if (operand.get() != buffer) continue;
          Key key{unsigned(i), operand.getOperandNumber()};
          read_scratch_[key] = slot;
          if (i < last) write_scratch_[key] = slot;
        }
      }
    }
  }

  // Streaming stores: the vector stores of an output written for the last time in the group,
  // big, freshly allocated with 64-byte alignment, rows a multiple of 64 bytes (so every vector
  // store is aligned to its size: codegen gives the LLVM store that alignment) and read by no
  // later op of the group.
  void plan_streaming() {
    for (auto [i, op] : llvm::enumerate(ops_)) {
      for (OpOperand& out : op.getDpsInitsMutable()) {
        Key key{unsigned(i), out.getOperandNumber()};
        if (write_scratch_.count(key)) continue;
        Value buffer = out.get();
        auto alloc = buffer.getDefiningOp<memref::AllocOp>();
        if (!alloc || alloc.getAlignment().value_or(0) < 64) continue;
        auto t = cast<MemRefType>(buffer.getType());
        int64_t bytes = elem_bytes(t.getElementType());
        if (!static_identity(t) || t.getRank() == 0 || static_bytes(t) < kStreamBytes) continue;
        int64_t row_bytes = 0;
        if (__builtin_mul_overflow(t.getShape().back(), bytes, &row_bytes) || row_bytes % 64 != 0) continue;
        if (op.getNumLoops() != unsigned(t.getRank()) || !identity_access(op, out)) continue;
        bool reread = false;
        for (size_t k = i; k < ops_.size(); ++k)
          for (OpOperand& operand : ops_[k]->getOpOperands())
            if (isa<MemRefType>(operand.get().getType()) && root_of(operand.get()) == root_of(buffer) &&
                ((reads(ops_[k], operand) && !read_scratch_.count({unsigned(k), operand.getOperandNumber()})) ||
                 (k > i && ops_[k].isDpsInit(&operand))))
              reread = true;
        if (!reread) stream_.insert(key);
      }
    }
  }

  // Prefetch of the next row: the last op of a two-level group that reads a big input row
  // fetches the same columns of the next row, so the next row's first pass finds it in cache
  // while this row's later passes compute.
  void plan_prefetch() {
    prefetch_.assign(ops_.size(), {});
    llvm::DenseMap<Value, unsigned> last_reader;
    llvm::DenseSet<Value> written;
    for (auto [i, op] : llvm::enumerate(ops_))
      for (OpOperand& operand : op->getOpOperands()) {
        if (!isa<MemRefType>(operand.get().getType())) continue;
        if (op.isDpsInit(&operand)) written.insert(root_of(operand.get()));
        if (!reads(op, operand) || op.isDpsInit(&operand) || read_scratch_.count({unsigned(i), operand.getOperandNumber()}))
          continue;
        auto t = cast<MemRefType>(operand.get().getType());
        if (!static_identity(t) || t.getRank() != 2 || op.getNumLoops() != 2 || !identity_access(op, operand)) continue;
        if (static_bytes(t) < kPrefetchBytes) continue;
        last_reader[operand.get()] = i;
      }
    for (auto [buffer, i] : last_reader)
      if (!written.count(root_of(buffer))) prefetch_[i].push_back(buffer);
  }

  void outer_loop(bool parallel, Value blocks, llvm::function_ref<void(Value)> body) {
    OpBuilder::InsertionGuard guard(b_);
    if (parallel) {
      auto par = b_.create<scf::ParallelOp>(loc_, ValueRange{cst(0)}, ValueRange{blocks}, ValueRange{cst(1)});
      b_.setInsertionPointToStart(par.getBody());
      body(par.getInductionVars()[0]);
    } else {
      auto loop = b_.create<scf::ForOp>(loc_, cst(0), blocks, cst(1));
      b_.setInsertionPointToStart(loop.getBody());
      body(loop.getInductionVar());
    }
  }

  void for_loop(Value lb, Value ub, Value step, llvm::function_ref<void(Value)> body) {
    OpBuilder::InsertionGuard guard(b_);
    auto loop = b_.create<scf::ForOp>(loc_, lb, ub, step);
    b_.setInsertionPointToStart(loop.getBody());
    body(loop.getInductionVar());
  }

  // Loops over the outer dims (the first from lo to hi), then the ops in order.
  void nest(Value lo, Value hi, ArrayRef<Value> outer, SmallVector<Value>& ivs) {
    unsigned t = ivs.size();
    if (t == K_) {
      for (size_t i = 0; i < ops_.size(); ++i) {
        bool inner = ops_[i].getNumLoops() == K_ + 1;
        emit_op(i, ivs, cst(0), inner ? sizes_[i][K_] : Value());
      }
      return;
    }
    for_loop(t == 0 ? lo : cst(0), t == 0 ? hi : outer[t], cst(1), [&](Value iv) {
      ivs.push_back(iv);
      nest(lo, hi, outer, ivs);
      ivs.pop_back();
    });
  }

  // Indices of an operand at loop indices `ivs` (one per loop; the innermost may be null).
  SmallVector<Value> indices(AffineMap map, ArrayRef<Value> ivs) {
    SmallVector<Value> idx;
    for (AffineExpr e : map.getResults()) idx.push_back(expand(e, ivs));
    return idx;
  }

  // The value of a linear index expression (see linear_map) at loop indices `ivs`.
  Value expand(AffineExpr e, ArrayRef<Value> ivs) {
    if (auto d = dyn_cast<AffineDimExpr>(e)) return ivs[d.getPosition()];
    if (auto c = dyn_cast<AffineConstantExpr>(e)) return cst(c.getValue());
    auto bin = cast<AffineBinaryOpExpr>(e);
    Value lhs = expand(bin.getLHS(), ivs);
    if (e.getKind() == AffineExprKind::Mul)
      return b_.create<arith::MulIOp>(loc_, lhs, cst(cast<AffineConstantExpr>(bin.getRHS()).getValue()));
    return b_.create<arith::AddIOp>(loc_, lhs, expand(bin.getRHS(), ivs));
  }

  // The buffer and indices a read or write of `operand` (of op `i`) at loop indices `ivs` goes
  // to: the operand itself, or its scratch row.
  std::pair<Value, SmallVector<Value>> access(size_t i, OpOperand& operand, ArrayRef<Value> ivs, bool write) {
    SmallVector<Value> idx = indices(ops_[i].getMatchingIndexingMap(&operand), ivs);
    auto& redirect = write ? write_scratch_ : read_scratch_;
    auto it = redirect.find({unsigned(i), operand.getOperandNumber()});
    if (it == redirect.end()) return {operand.get(), idx};
    for (unsigned k = 0; k < K_; ++k) idx[k] = cst(0);
    return {scratch_[it->second], idx};
  }

  // The byte address of buffer[idx] as an LLVM pointer: a GEP of `offset + idx . strides` bytes
  // from the buffer's aligned pointer, read from its LLVM descriptor (an unrealized cast that the
  // memref conversion cancels, as the parallel-loop outlining does), so that the pointer keeps
  // its provenance (an inttoptr address hid from LLVM that the loop's other accesses do not
  // alias it).
  Value byte_address(Value buffer, ArrayRef<Value> idx) {
    auto meta = b_.create<memref::ExtractStridedMetadataOp>(loc_, buffer);
    Value linear = meta.getOffset();
    for (auto [k, v] : llvm::enumerate(idx))
      linear = b_.create<arith::AddIOp>(loc_, linear, b_.create<arith::MulIOp>(loc_, v, meta.getStrides()[k]));
    LLVMTypeConverter converter(b_.getContext());
    Type descriptor_type = converter.convertType(buffer.getType());
    Value descriptor = b_.create<UnrealizedConversionCastOp>(loc_, descriptor_type, buffer).getResult(0);
    auto ptr = LLVM::LLVMPointerType::get(b_.getContext());
    Value aligned = b_.create<LLVM::ExtractValueOp>(loc_, ptr, descriptor, ArrayRef<int64_t>{1});
    Value bytes = b_.create<arith::IndexCastOp>(loc_, b_.getI64Type(), linear);
    return b_.create<LLVM::GEPOp>(loc_, ptr, b_.getI8Type(), aligned, ValueRange{bytes}, /*inbounds=*/true);
  }

  // `width` lanes of an i1 buffer from buffer[idx] on. An i1 buffer holds one byte per element
  // (what memref.load/store of i1 and NumPy's bool arrays use), but a vector<N x i1> load reads
  // N bits: the bytes are loaded as vector<N x i8> and compared with zero.
  Value bool_load(Value buffer, ArrayRef<Value> idx, unsigned width) {
    auto bytes_type = VectorType::get({int64_t(width)}, b_.getI8Type());
    Value bytes = b_.create<LLVM::LoadOp>(loc_, bytes_type, byte_address(buffer, idx), /*alignment=*/1);
    Value zero =
        b_.create<arith::ConstantOp>(loc_, bytes_type, DenseElementsAttr::get(bytes_type, b_.getI8IntegerAttr(0)));
    return b_.create<arith::CmpIOp>(loc_, arith::CmpIPredicate::ne, bytes, zero);
  }

  // The lanes of `v` (vector<N x i1>) as N bytes 0 / 1 from buffer[idx] on (see bool_load).
  void bool_store(Value v, Value buffer, ArrayRef<Value> idx) {
    auto bytes_type = VectorType::get(cast<VectorType>(v.getType()).getShape(), b_.getI8Type());
    Value bytes = b_.create<arith::ExtUIOp>(loc_, bytes_type, v);
    b_.create<LLVM::StoreOp>(loc_, bytes, byte_address(buffer, idx), /*alignment=*/1);
  }

  static bool holds_bools(Value buffer) { return cast<MemRefType>(buffer.getType()).getElementType().isInteger(1); }

  Value load(size_t i, OpOperand& operand, ArrayRef<Value> ivs) {
    auto [buffer, idx] = access(i, operand, ivs, /*write=*/false);
    return b_.create<memref::LoadOp>(loc_, buffer, idx);
  }

  void store(size_t i, OpOperand& operand, ArrayRef<Value> ivs, Value v) {
    auto [buffer, idx] = access(i, operand, ivs, /*write=*/true);
    b_.create<memref::StoreOp>(loc_, v, buffer, idx);
  }

  // The row-invariant part of op `i` at outer indices `outer`, emitted before its inner loops:
  // loads of operands not indexed by the inner loop (unless the op writes a buffer they may
  // alias) and the body ops that depend on nothing else. LLVM cannot hoist these itself, since
  // the loop's stores may alias the loads as far as it knows.
  IRMapping hoist(size_t i, ArrayRef<Value> outer) {
    IRMapping pre;
    auto g = dyn_cast<linalg::GenericOp>(ops_[i].getOperation());
    if (!g) return pre;
    linalg::LinalgOp op = ops_[i];
    unsigned n = op.getNumLoops();
    Block& body = g.getRegion().front();
    SmallVector<Value> ivs(outer.begin(), outer.end());
    ivs.push_back(Value());
    for (OpOperand& operand : op->getOpOperands()) {
      BlockArgument arg = body.getArgument(operand.getOperandNumber());
      if (!isa<MemRefType>(operand.get().getType())) {
        pre.map(arg, operand.get());
        continue;
      }
      if (op.isDpsInit(&operand) || arg.use_empty()) continue;
      if (uses_dim(op.getMatchingIndexingMap(&operand), n - 1)) continue;
      Value root = root_of(operand.get());
      bool clobbered = llvm::any_of(op.getDpsInitsMutable(), [&](OpOperand& out) {
        return may_alias(root_of(out.get()), root);
      });
      if (!clobbered) pre.map(arg, load(i, operand, ivs));
    }
    for (Operation& o : body.without_terminator()) {
      if (auto index = dyn_cast<linalg::IndexOp>(o)) {
        if (index.getDim() + 1 < n) pre.map(index.getResult(), outer[index.getDim()]);
        continue;
      }
      if (llvm::all_of(o.getOperands(), [&](Value v) { return pre.contains(v) || !v.getParentBlock() ||
                                                              v.getParentBlock() != &body; }))
        b_.clone(o, pre);
    }
    return pre;
  }

  // One op over the innermost range [lo, hi) at outer indices `outer` (a row-scalar op when
  // `hi` is null).
  void emit_op(size_t i, ArrayRef<Value> outer, Value lo, Value hi) {
    linalg::LinalgOp op = ops_[i];
    unsigned n = op.getNumLoops();
    if (n == outer.size()) {  // no innermost loop
      SmallVector<Value> ivs(outer.begin(), outer.end());
      scalar_step(i, ivs, nullptr, IRMapping());
      return;
    }
    IRMapping pre = hoist(i, outer);
    unsigned width = vector_width(op);
    auto scalar_loop = [&](Value from, Value to) {
      for_loop(from, to, cst(1), [&](Value j) {
        SmallVector<Value> ivs(outer.begin(), outer.end());
        ivs.push_back(j);
        scalar_step(i, ivs, nullptr, pre);
      });
    };
    if (width <= 1) {
      scalar_loop(lo, hi);
      return;
    }
    Value w = cst(width);
    Value count = b_.create<arith::SubIOp>(loc_, hi, lo);
    Value vec_end = b_.create<arith::SubIOp>(loc_, hi, b_.create<arith::RemUIOp>(loc_, count, w));
    if (!has_reduction(op)) {
      for_loop(lo, vec_end, w, [&](Value j) { vector_step(i, outer, j, width, nullptr, pre); });
      scalar_loop(vec_end, hi);
      return;
    }
    // Reduction: kAccumulators vector accumulators over blocks of kAccumulators vectors, then one
    // over the remaining vectors; the accumulators combined as a tree, the lanes combined in
    // order into the initial value, then the remainder in order. The order depends on the row
    // length only, never on threads.
    auto generic = cast<linalg::GenericOp>(op.getOperation());
    OpOperand* init = op.getDpsInitOperand(0);
    Type elt = getElementTypeOrSelf(init->get().getType());
    Operation* comb = *generic.getRegionOutputArgs()[0].getUsers().begin();
    Combiner c = *combiner_of(comb, elt);
    auto vt = VectorType::get({int64_t(width)}, elt);
    Value vinit = b_.create<arith::ConstantOp>(loc_, vt, DenseElementsAttr::get(vt, c.neutral));
    Value big = cst(int64_t(width) * kAccumulators);
    Value main_end = b_.create<arith::SubIOp>(loc_, hi, b_.create<arith::RemUIOp>(loc_, count, big));
    SmallVector<Value> inits(kAccumulators, vinit);
    auto mloop = b_.create<scf::ForOp>(loc_, lo, main_end, big, inits,
                                       [&](OpBuilder& nb, Location, Value j, ValueRange acc) {
                                         OpBuilder::InsertionGuard guard(b_);
                                         b_.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
                                         SmallVector<Value> next;
                                         for (unsigned u = 0; u < kAccumulators; ++u) {
                                           Value ju = u == 0 ? j : b_.create<arith::AddIOp>(loc_, j, cst(u * width));
                                           next.push_back(vector_step(i, outer, ju, width, acc[u], pre));
                                         }
                                         b_.create<scf::YieldOp>(loc_, next);
                                       });
    auto vloop = b_.create<scf::ForOp>(loc_, main_end, vec_end, w, ValueRange{mloop.getResult(0)},
                                       [&](OpBuilder& nb, Location, Value j, ValueRange acc) {
                                         OpBuilder::InsertionGuard guard(b_);
                                         b_.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
                                         b_.create<scf::YieldOp>(loc_, vector_step(i, outer, j, width, acc[0], pre));
                                       });
    SmallVector<Value> accs{vloop.getResult(0)};
    for (unsigned u = 1; u < kAccumulators; ++u) accs.push_back(mloop.getResult(u));
    while (accs.size() > 1) {
      SmallVector<Value> half;
      for (size_t k = 0; k + 1 < accs.size(); k += 2)
        half.push_back(vector::makeArithReduction(b_, loc_, c.kind, accs[k], accs[k + 1]));
      if (accs.size() % 2) half.push_back(accs.back());
      accs = std::move(half);
    }
    SmallVector<Value> outer_ivs(outer.begin(), outer.end());
    outer_ivs.push_back(Value());
    Value start = load(i, *init, outer_ivs);
    Value folded = b_.create<vector::ReductionOp>(loc_, c.kind, accs[0], start);
    auto tail = b_.create<scf::ForOp>(loc_, vec_end, hi, cst(1), ValueRange{folded},
                                      [&](OpBuilder& nb, Location, Value j, ValueRange acc) {
                                        OpBuilder::InsertionGuard guard(b_);
                                        b_.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
                                        SmallVector<Value> ivs(outer.begin(), outer.end());
                                        ivs.push_back(j);
                                        Value next = scalar_step(i, ivs, acc[0], pre);
                                        b_.create<scf::YieldOp>(loc_, next);
                                      });
    store(i, *init, outer_ivs, tail.getResult(0));
  }

  // Lanes for the innermost loop of `op`, or 1 if it is not vectorized.
  unsigned vector_width(linalg::LinalgOp op) {
    unsigned n = op.getNumLoops();
    unsigned bits = 8;
    for (OpOperand& operand : op->getOpOperands()) {
      Type t = operand.get().getType();
      auto m = dyn_cast<MemRefType>(t);
      Type elt = getElementTypeOrSelf(t);
      if (elt.isIndex()) return 1;
      if (!m) continue;
      bits = std::max(bits, elt.isInteger(1) ? 8 : bits_of(elt));  // i1 buffers hold bytes (bool_load)
      AffineMap map = op.getMatchingIndexingMap(&operand);
      if (!uses_dim(map, n - 1)) continue;
      // Contiguous along the inner loop: only the last index depends on it, with step 1.
      for (unsigned r = 0; r + 1 < map.getNumResults(); ++r)
        if (map.getResult(r).isFunctionOfDim(n - 1)) return 1;
      AffineExpr last = map.getResults().back();
      AffineExpr d = getAffineDimExpr(n - 1, op.getContext());
      AffineExpr step = simplifyAffineExpr(last.replace(d, d + 1) - last, n, 0);
      auto one = dyn_cast<AffineConstantExpr>(step);
      if (!one || one.getValue() != 1) return 1;  // strided along the inner loop
      SmallVector<int64_t> strides;
      int64_t offset;
      if (failed(getStridesAndOffset(m, strides, offset)) || strides.back() != 1) return 1;
    }
    if (auto g = dyn_cast<linalg::GenericOp>(op.getOperation())) {
      for (Operation& o : g.getRegion().front()) {
        if (isa<linalg::YieldOp, linalg::IndexOp>(o)) continue;
        if (!isa<arith::ArithDialect, math::MathDialect>(o.getDialect())) return 1;
        if (!OpTrait::hasElementwiseMappableTraits(&o)) return 1;
        for (Type t : o.getResultTypes()) {
          if (!t.isIntOrIndexOrFloat()) return 1;
          if (!t.isInteger(1)) bits = std::max(bits, bits_of(t));
          // f64 math vectorizes where it costs no libm call per lane: the functions that
          // `--tessera-vector-math` expands (exp, log, log1p) and those with vector
          // instructions; the others (tanh, sin, ...) stay scalar libm calls.
          if (isa<math::MathDialect>(o.getDialect()) && t.isF64() && !f64_math_vectorizes(&o)) return 1;
        }
      }
      if (has_reduction(op)) {
        if (op.getNumDpsInits() != 1) return 1;
        BlockArgument acc = g.getRegionOutputArgs()[0];
        if (!acc.hasOneUse()) return 1;
        Operation* c = *acc.getUsers().begin();
        auto yield = cast<linalg::YieldOp>(g.getRegion().front().getTerminator());
        if (c->getNumResults() != 1 || yield.getOperand(0) != c->getResult(0)) return 1;
        if (!combiner_of(c, acc.getType())) return 1;
      }
    }
    unsigned width = std::max<unsigned>(1, std::min<unsigned>(16, kVectorBits / bits));
    // A short static row (an 8x8 image's rows): the widest power of two that fits, so that
    // the vector loop runs at all.
    int64_t inner = op.getStaticLoopRanges()[n - 1];
    if (!ShapedType::isDynamic(inner) && inner < int64_t(width))
      width = inner >= 4 ? unsigned(llvm::bit_floor(uint64_t(inner))) : 1;
    // Bool buffers go through byte loads and compares (bool_load): on rows shorter than 16 the
    // scalar loop, which LLVM unrolls and vectorizes across rows itself, was faster (the digits
    // CNN's max-pool gradient on 4x4 rows: its step 1.05 -> 1.35 ms with 4-lane vectors). The
    // rule is about short rows: a long or dynamic row of f64 (8 lanes) with a bool operand (the
    // Bernoulli log likelihood's `y in {0, 1}` mask) is vectorized.
    if (!ShapedType::isDynamic(inner) && inner < 16 && has_bool_buffer(op)) return 1;
    return width;
  }

  static bool f64_math_vectorizes(Operation* o) {
    return vector_math_expands(o) ||
           isa<math::AbsFOp, math::SqrtOp, math::FmaOp, math::CopySignOp, math::FloorOp, math::CeilOp>(o);
  }

  static bool has_bool_buffer(linalg::LinalgOp op) {
    return llvm::any_of(op->getOperands(), [](Value v) { return isa<MemRefType>(v.getType()) && holds_bools(v); });
  }

  // One scalar iteration at `ivs`. With `acc`, the (single) output is not loaded but `acc`, and
  // the result is returned instead of stored. `pre` holds the values hoisted before the loop.
  Value scalar_step(size_t i, ArrayRef<Value> ivs, Value acc, const IRMapping& pre) {
    linalg::LinalgOp op = ops_[i];
    if (auto fill = dyn_cast<linalg::FillOp>(op.getOperation())) {
      store(i, *op.getDpsInitOperand(0), ivs, fill.value());
      return {};
    }
    auto g = cast<linalg::GenericOp>(op.getOperation());
    Block& body = g.getRegion().front();
    IRMapping map = pre;
    for (OpOperand& operand : op->getOpOperands()) {
      BlockArgument arg = body.getArgument(operand.getOperandNumber());
      if (map.contains(arg)) continue;
      if (!isa<MemRefType>(operand.get().getType())) {
        map.map(arg, operand.get());
        continue;
      }
      if (acc && op.isDpsInit(&operand)) {
        map.map(arg, acc);
        continue;
      }
      if (arg.use_empty()) continue;
      map.map(arg, load(i, operand, ivs));
    }
    for (Operation& o : body.without_terminator()) {
      if (auto index = dyn_cast<linalg::IndexOp>(o)) {
        map.map(index.getResult(), ivs[index.getDim()]);
        continue;
      }
      if (o.getNumResults() && llvm::all_of(o.getResults(), [&](Value r) { return map.contains(r); })) continue;
      b_.clone(o, map);
    }
    auto yield = cast<linalg::YieldOp>(body.getTerminator());
    if (acc) return map.lookupOrDefault(yield.getOperand(0));
    for (auto [k, out] : llvm::enumerate(op.getDpsInitsMutable()))
      store(i, out, ivs, map.lookupOrDefault(yield.getOperand(k)));
    return {};
  }

  // One vector iteration at inner index `j` (lanes j .. j+width-1). With `acc`, the single
  // output is the vector accumulator and the new accumulator is returned.
  Value vector_step(size_t i, ArrayRef<Value> outer, Value j, unsigned width, Value acc, const IRMapping& pre) {
    linalg::LinalgOp op = ops_[i];
    unsigned n = op.getNumLoops();
    SmallVector<Value> ivs(outer.begin(), outer.end());
    ivs.push_back(j);
    auto vec_of = [&](Type t) { return VectorType::get({int64_t(width)}, t); };
    auto vstore = [&](Value v, OpOperand& out) {
      auto [buffer, idx] = access(i, out, ivs, /*write=*/true);
      if (holds_bools(buffer)) {
        bool_store(v, buffer, idx);
        return;
      }
      auto st = b_.create<vector::StoreOp>(loc_, v, buffer, idx);
      if (stream_.count({unsigned(i), out.getOperandNumber()})) st.setNontemporal(true);
    };
    if (i < prefetch_.size())
      for (Value buffer : prefetch_[i]) {
        Value next = b_.create<arith::MinUIOp>(loc_, b_.create<arith::AddIOp>(loc_, outer[0], cst(1)),
                                               b_.create<arith::SubIOp>(loc_, outer_[0], cst(1)));
        b_.create<memref::PrefetchOp>(loc_, buffer, ValueRange{next, j}, /*isWrite=*/false, /*localityHint=*/3,
                                      /*isDataCache=*/true);
      }
    if (auto fill = dyn_cast<linalg::FillOp>(op.getOperation())) {
      vstore(b_.create<vector::BroadcastOp>(loc_, vec_of(fill.value().getType()), fill.value()),
             *op.getDpsInitOperand(0));
      return {};
    }
    auto g = cast<linalg::GenericOp>(op.getOperation());
    Block& body = g.getRegion().front();
    IRMapping uniform = pre;             // scalar values, the same for every lane
    llvm::DenseMap<Value, Value> lanes;  // vector values
    auto as_vector = [&](Value v) -> Value {
      if (auto it = lanes.find(v); it != lanes.end()) return it->second;
      Value s = uniform.lookupOrDefault(v);
      Value bv = b_.create<vector::BroadcastOp>(loc_, vec_of(s.getType()), s);
      lanes[v] = bv;
      return bv;
    };
    for (OpOperand& operand : op->getOpOperands()) {
      BlockArgument arg = body.getArgument(operand.getOperandNumber());
      if (uniform.contains(arg)) continue;
      if (!isa<MemRefType>(operand.get().getType())) {
        uniform.map(arg, operand.get());
        continue;
      }
      if (acc && op.isDpsInit(&operand)) {
        lanes[arg] = acc;
        continue;
      }
      if (arg.use_empty()) continue;
      AffineMap m = op.getMatchingIndexingMap(&operand);
      if (uses_dim(m, n - 1)) {
        auto [buffer, idx] = access(i, operand, ivs, /*write=*/false);
        lanes[arg] = holds_bools(buffer)
                         ? bool_load(buffer, idx, width)
                         : b_.create<vector::LoadOp>(loc_, vec_of(arg.getType()), buffer, idx).getResult();
      } else {
        uniform.map(arg, load(i, operand, ivs));
      }
    }
    for (Operation& o : body.without_terminator()) {
      if (auto index = dyn_cast<linalg::IndexOp>(o)) {
        if (index.getDim() + 1 < n) {
          uniform.map(index.getResult(), ivs[index.getDim()]);
        } else {
          SmallVector<APInt> steps;
          for (unsigned l = 0; l < width; ++l) steps.push_back(APInt(64, l));
          auto vt = vec_of(b_.getIndexType());
          Value iota = b_.create<arith::ConstantOp>(loc_, vt, DenseElementsAttr::get(vt, steps));
          lanes[index.getResult()] =
              b_.create<arith::AddIOp>(loc_, b_.create<vector::BroadcastOp>(loc_, vt, j), iota);
        }
        continue;
      }
      if (o.getNumResults() && llvm::all_of(o.getResults(), [&](Value r) { return uniform.contains(r); })) continue;
      bool varying = llvm::any_of(o.getOperands(), [&](Value v) { return lanes.count(v); });
      if (!varying) {
        b_.clone(o, uniform);
        continue;
      }
      OperationState state(o.getLoc(), o.getName());
      for (Value v : o.getOperands()) state.addOperands(as_vector(v));
      for (Type t : o.getResultTypes()) state.addTypes(vec_of(t));
      state.addAttributes(o.getAttrs());
      Operation* v = b_.create(state);
      for (auto [r, vr] : llvm::zip(o.getResults(), v->getResults())) lanes[r] = vr;
    }
    auto yield = cast<linalg::YieldOp>(body.getTerminator());
    if (acc) return as_vector(yield.getOperand(0));
    for (auto [k, out] : llvm::enumerate(op.getDpsInitsMutable())) vstore(as_vector(yield.getOperand(k)), out);
    return {};
  }

  OpBuilder& b_;
  Location loc_;
  SmallVector<linalg::LinalgOp> ops_;
  unsigned K_ = 0;
  SmallVector<SmallVector<Value>> sizes_;
  SmallVector<Value> outer_;                      // sizes of the outer loops
  SmallVector<Value> scratch_buffers_;            // buffers with a scratch row, by slot
  SmallVector<Value> scratch_;                    // the scratch rows of the current block, by slot
  SmallVector<Value> contracted_;                 // buffers that became scratch rows entirely
  llvm::DenseMap<Key, unsigned> read_scratch_;    // operand reads that go to a scratch row
  llvm::DenseMap<Key, unsigned> write_scratch_;   // operand writes that go to a scratch row
  llvm::DenseSet<Key> stream_;                    // outputs stored with streaming stores
  SmallVector<SmallVector<Value>> prefetch_;      // per op: inputs whose next row it prefetches
};

struct RowFusionVectorizePass : public PassWrapper<RowFusionVectorizePass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(RowFusionVectorizePass)

  StringRef getArgument() const final { return "tessera-cpu-vectorize"; }
  StringRef getDescription() const final {
    return "fuse row-compatible linalg ops on buffers into one parallel loop nest and vectorize their innermost loops";
  }
  void getDependentDialects(DialectRegistry& registry) const override {
    registry.insert<arith::ArithDialect, LLVM::LLVMDialect, memref::MemRefDialect, scf::SCFDialect,
                    vector::VectorDialect>();
  }

  void runOnOperation() override {
    as_generics();
    drop_unit_inner_loops();
    SmallVector<Block*> blocks;
    getOperation()->walk([&](Block* block) { blocks.push_back(block); });
    for (Block* block : blocks) process(*block);
    // The allocations and deallocations of buffers that the groups contracted go last: erasing
    // them while a block is walked could erase the op the walk visits next (a dealloc right
    // after the group, or one in a block still to be processed).
    for (Operation* op : dead_) op->erase();
    dead_.clear();
  }

  llvm::SetVector<Operation*> dead_;

  // A memref.copy into or out of a strided view (the interior of a padded tensor, a slice
  // written into a bigger one) and linalg.map become linalg.generic copies and maps, which this
  // pass runs as the other elementwise loops (parallel, vectorized) instead of the element-wise
  // strided copy routine. A copy between contiguous buffers stays a memcpy.
  // Replaces `op` by a linalg.generic that copies `from` (read through `in_map`) into `to`.
  static void copy_as_generic(IRRewriter& rewriter, Operation* op, Value from, Value to, AffineMap in_map) {
    rewriter.setInsertionPoint(op);
    int64_t rank = cast<MemRefType>(to.getType()).getRank();
    rewriter.create<linalg::GenericOp>(op->getLoc(), from, to,
                                       ArrayRef<AffineMap>{in_map, rewriter.getMultiDimIdentityMap(rank)},
                                       SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
                                       [](OpBuilder& nb, Location l, ValueRange a) { nb.create<linalg::YieldOp>(l, a[0]); });
    rewriter.eraseOp(op);
  }

  void as_generics() {
    SmallVector<memref::CopyOp> copies;
    SmallVector<linalg::MapOp> maps;
    SmallVector<linalg::TransposeOp> transposes;
    getOperation()->walk([&](Operation* op) {
      if (auto c = dyn_cast<memref::CopyOp>(op)) copies.push_back(c);
      if (auto m = dyn_cast<linalg::MapOp>(op)) maps.push_back(m);
      if (auto t = dyn_cast<linalg::TransposeOp>(op)) transposes.push_back(t);
    });
    IRRewriter rewriter(&getContext());
    for (memref::CopyOp c : copies) {
      auto from = dyn_cast<MemRefType>(c.getSource().getType());
      auto to = dyn_cast<MemRefType>(c.getTarget().getType());
      if (!from || !to || from.getRank() == 0 || from.getRank() != to.getRank()) continue;
      if (!from.getElementType().isIntOrFloat() || from.getElementType() != to.getElementType()) continue;
      if (from.getLayout().isIdentity() && to.getLayout().isIdentity()) continue;
      copy_as_generic(rewriter, c, c.getSource(), c.getTarget(), rewriter.getMultiDimIdentityMap(from.getRank()));
    }
    // A transpose: a copy whose input is read through the permutation.
    for (linalg::TransposeOp t : transposes) {
      if (!t.hasPureBufferSemantics()) continue;
      // Output dim k is input dim perm[k]: the input is read through the inverse permutation.
      AffineMap perm = AffineMap::getPermutationMap(
          SmallVector<unsigned>(t.getPermutation().begin(), t.getPermutation().end()), rewriter.getContext());
      copy_as_generic(rewriter, t, t.getInput(), t.getInit(), inversePermutation(perm));
    }
    for (linalg::MapOp m : maps) {
      if (!m.hasPureBufferSemantics()) continue;
      auto to = cast<MemRefType>(m.getInit().getType());
      rewriter.setInsertionPoint(m);
      AffineMap id = rewriter.getMultiDimIdentityMap(to.getRank());
      SmallVector<AffineMap> idmaps(m.getInputs().size() + 1, id);
      Block& body = m.getMapper().front();
      rewriter.create<linalg::GenericOp>(m.getLoc(), m.getInputs(), ValueRange{m.getInit()}, idmaps,
                                         SmallVector<utils::IteratorType>(to.getRank(), utils::IteratorType::parallel),
                                         [&](OpBuilder& nb, Location, ValueRange a) {
                                           IRMapping map;
                                           for (auto [arg, v] : llvm::zip(body.getArguments(), a)) map.map(arg, v);
                                           for (Operation& op : body) nb.clone(op, map);
                                         });
      rewriter.eraseOp(m);
    }
  }

  // A generic whose innermost loop has one iteration (an op on `[N, 1]` buffers: a column that
  // a matrix-vector product reads or writes) would run a one-element "row" per outer index, a
  // scalar loop. Such a loop is dropped: operands indexed by it (at a static size-1 dimension)
  // are read through a rank-reducing subview, and the op, now with an innermost loop over N,
  // vectorizes. Repeated while the innermost loop is a unit one.
  void drop_unit_inner_loops() {
    SmallVector<linalg::GenericOp> generics;
    getOperation()->walk([&](linalg::GenericOp g) { generics.push_back(g); });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp g : generics)
      while (g) g = drop_unit_inner_loop(rewriter, g);
  }

  // The op without its innermost unit loop, or null if that does not apply.
  static linalg::GenericOp drop_unit_inner_loop(IRRewriter& rewriter, linalg::GenericOp g) {
    if (!g.hasPureBufferSemantics()) return {};
    unsigned n = g.getNumLoops();
    if (n < 2 || g.getStaticLoopRanges()[n - 1] != 1) return {};
    if (!g.getRegion().front().getOps<linalg::IndexOp>().empty()) return {};
    MLIRContext* ctx = g.getContext();
    AffineExpr last = getAffineDimExpr(n - 1, ctx);
    SmallVector<AffineMap> maps;
    SmallVector<std::optional<unsigned>> drop;  // the operand's dim indexed by the unit loop
    for (OpOperand& operand : g->getOpOperands()) {
      AffineMap map = g.getMatchingIndexingMap(&operand);
      if (map.getNumSymbols() != 0) return {};
      auto type = dyn_cast<MemRefType>(operand.get().getType());
      if (!type && map.getNumResults() != 0) return {};
      std::optional<unsigned> at;
      SmallVector<AffineExpr> results;
      for (auto [k, e] : llvm::enumerate(map.getResults())) {
        if (e == last) {
          if (at || type.getDimSize(k) != 1) return {};
          at = unsigned(k);
          continue;
        }
        if (e.isFunctionOfDim(n - 1)) return {};
        results.push_back(e);
      }
      maps.push_back(AffineMap::get(n - 1, 0, results, ctx));
      drop.push_back(at);
    }
    rewriter.setInsertionPoint(g);
    Location loc = g.getLoc();
    SmallVector<Value> operands;
    for (auto [operand, at] : llvm::zip(g->getOpOperands(), drop)) {
      Value v = operand.get();
      if (!at) {
        operands.push_back(v);
        continue;
      }
      auto type = cast<MemRefType>(v.getType());
      SmallVector<OpFoldResult> offsets(type.getRank(), rewriter.getIndexAttr(0));
      SmallVector<OpFoldResult> strides(type.getRank(), rewriter.getIndexAttr(1));
      SmallVector<OpFoldResult> sizes;
      SmallVector<int64_t> shape;
      for (int64_t d = 0; d < type.getRank(); ++d) {
        if (type.isDynamicDim(d))
          sizes.push_back(rewriter.create<memref::DimOp>(loc, v, d).getResult());
        else
          sizes.push_back(rewriter.getIndexAttr(type.getDimSize(d)));
        if (d != int64_t(*at)) shape.push_back(type.getDimSize(d));
      }
      auto reduced = memref::SubViewOp::inferRankReducedResultType(shape, type, offsets, sizes, strides);
      operands.push_back(
          rewriter.create<memref::SubViewOp>(loc, cast<MemRefType>(reduced), v, offsets, sizes, strides));
    }
    SmallVector<utils::IteratorType> iterators = g.getIteratorTypesArray();
    iterators.pop_back();
    unsigned ins = g.getNumDpsInputs();
    auto ng = rewriter.create<linalg::GenericOp>(loc, TypeRange{}, ValueRange(operands).take_front(ins),
                                                 ValueRange(operands).drop_front(ins), maps, iterators);
    ng->setDiscardableAttrs(g->getDiscardableAttrDictionary());
    ng.getRegion().takeBody(g.getRegion());
    rewriter.eraseOp(g);
    return ng;
  }

  void process(Block& block) {
    SmallVector<linalg::LinalgOp> group;
    SmallVector<Operation*> deallocs;
    auto flush = [&]() {
      if (!group.empty()) emit_group(group, deallocs);
      group.clear();
      deallocs.clear();
    };
    for (Operation& op : llvm::make_early_inc_range(block)) {
      if (is_candidate(&op)) {
        SmallVector<linalg::LinalgOp> tentative(group);
        tentative.push_back(cast<linalg::LinalgOp>(op));
        if (plan_group(tentative)) {
          group = std::move(tentative);
        } else {
          flush();
          group.push_back(cast<linalg::LinalgOp>(op));
        }
        continue;
      }
      if (group.empty()) continue;
      if (op.hasTrait<OpTrait::IsTerminator>()) {
        flush();
        continue;
      }
      if (isa<memref::DeallocOp>(op)) {
        deallocs.push_back(&op);
        continue;
      }
      if (isa<memref::AllocOp, memref::AllocaOp>(op) || (op.getNumRegions() == 0 && isMemoryEffectFree(&op))) continue;
      flush();
    }
    flush();
  }

  void emit_group(ArrayRef<linalg::LinalgOp> ops, ArrayRef<Operation*> deallocs) {
    Plan plan = *plan_group(ops);
    Operation* last = ops.back();
    OpBuilder b(last);
    // Inside a loop that already runs in parallel, the nest stays sequential.
    bool parallel = !last->getParentOfType<scf::ParallelOp>() && !last->getParentOfType<scf::ForallOp>();
    GroupEmitter emitter(b, last->getLoc());
    emitter.emit(ops, plan, parallel);
    // Deallocations between the ops of the group move after the nest; later ones stay.
    for (Operation* d : deallocs)
      if (d->isBeforeInBlock(last)) d->moveAfter(last);
    for (auto op : ops) op->erase();
    // Buffers that live only in scratch rows now: their allocation goes.
    for (Value buffer : emitter.contracted()) {
      if (!llvm::all_of(buffer.getUsers(), [](Operation* u) { return isa<memref::DeallocOp>(u); })) continue;
      for (Operation* u : buffer.getUsers()) dead_.insert(u);
      dead_.insert(buffer.getDefiningOp());
    }
  }
};

}  // namespace

std::unique_ptr<Pass> createRowFusionVectorizePass() { return std::make_unique<RowFusionVectorizePass>(); }

}  // namespace tessera::ir
