// The matmul schedule on buffers: see MatmulSchedule.h and docs/tile_ir.md.
//
// For a contraction C[o..., m, n] += A[.., m, .., k ..] * B[.., k, .., n] (o: the other parallel
// loops, iterated outermost; B's last index and C's last index are n) it builds:
//
//   Bp = alloc [ceil(min(N, NC) / NR)] x KC x NR (acc type, 64-byte aligned)
//   for o...:                                       (the outer parallel loops, sequential)
//     for jc in 0..N step NC:
//       for kc in 0..K step KC:
//         pack B[kc:+KC, jc:+NC] into Bp            (zero-padded to a multiple of NR)
//         scf.parallel ic in 0..M step MC:          (row blocks of C: independent)
//           for p in panels of Bp:                  (the KC x NR panel stays in L1)
//             for ir in 0..MC step MR:
//               acc[MR][NV] = 0                     (vector<lanes x T>, in registers)
//               for k in 0..kcl: b[j] = load Bp[p, k, j*L]; a = bcast A[m0 + r, kc + k]
//                                (rows past M, in the last tile only: row M - 1)
//                                acc[r][j] = fma(a, b[j], acc[r][j])        (scf.for iter_args)
//               C[m0 + r, n0 + j*L : +L] += acc[r][j]  (in bounds, or masked on the edges)
//   dealloc Bp
#include "ir/tile/MatmulSchedule.h"

#include "codegen/codegen.h"

#include <llvm/ADT/SetVector.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/Support/MathExtras.h>
#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/Dialect/LLVMIR/LLVMDialect.h>
#include <mlir/Dialect/Linalg/IR/Linalg.h>
#include <mlir/Dialect/MemRef/IR/MemRef.h>
#include <mlir/Dialect/SCF/IR/SCF.h>
#include <mlir/Dialect/Utils/StaticValueUtils.h>
#include <mlir/Dialect/Vector/IR/VectorOps.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/Matchers.h>
#include <mlir/Interfaces/SideEffectInterfaces.h>
#include <mlir/Interfaces/ViewLikeInterface.h>
#include <mlir/Pass/Pass.h>

#include <algorithm>
#include <optional>
#include <tuple>

using namespace mlir;

namespace tessera::ir {

int vector_bits_for_arch(const std::string& arch) {
  codegen::CpuOptions cpu;
  cpu.arch = arch.empty() ? "native" : arch;
  return codegen::target_has_feature(cpu, "avx512f") ? 512 : codegen::target_has_feature(cpu, "avx") ? 256 : 128;
}

namespace {

// An operand of a contraction that a gather wrote just before it (implicit GEMM): a
// linalg.generic copy alloc[i...] = src[f(i...)], f affine (sums of indices times constants: a
// convolution's patches, a transposition), read as a 2-D collapse_shape of the alloc (its row
// dims, then its column dims). The schedule reads src through f where it copies the operand
// anyway (B: pack_b; A: a copy of each K block's rows, see fill_gathered_a), and the gather
// and its buffer go away: a 3x3 convolution's patches are 9x its input (75 MB at B = 32,
// C = 64, 32x32), written and read back once per product otherwise.
struct Gathered {
  Value src;                        // the gather's input: static shape, identity layout
  AffineMap map;                    // alloc indices -> src indices
  SmallVector<int64_t> rows, cols;  // the alloc's dims in the operand's row / column group
  AffineExpr offset;                // sum of map results times src strides (element offset)
  bool unit_inner = false;          // the last column dim moves src's last index by 1, only it
  bool unit_row_inner = false;      // likewise the last row dim (B: k, e.g. a transposition)
  Operation* gather = nullptr;
  Value alloc;
};

// What the schedule needs to know about one contraction.
struct Contraction {
  linalg::LinalgOp op;
  unsigned m = 0, n = 0, k = 0;
  SmallVector<unsigned> outer;  // the other (parallel) loops, in loop order
  Type acc;                     // C's element type (f32 or f64)
  // C was zero-filled just before (the fill is removed): the first K block stores its sums
  // instead of adding them to C (no fill pass, no read of C in that block).
  bool overwrite_first = false;
  // In a row-block function whose A is stored transposed (its m index contiguous): the block's
  // rows of A are first copied into MR-row slivers (see pack_a).
  bool pack_a = false;
  // bf16 A (k contiguous) and B, f32 C, 16 lanes, and the target has AVX512-BF16: B is packed as
  // interleaved pairs of k and the micro-kernel runs vdpbf16ps (see pack_b_pairs).
  bool dot = false;
  // In a row-block function whose A is narrower than C and row-major, without `dot`: the
  // block's rows of A are first converted to C's type (see convert_a), and the micro-kernel
  // broadcasts from the copy as it does from an f32 A.
  bool convert_a = false;
  // A matrix-vector product (C has a static N or M of 1): not the GEMM loop nest (whose panel
  // of NR columns would hold one real one) but a GEMV schedule (see gemv_axpy, gemv_dot).
  enum class Gemv { none, axpy_n1, dot_n1, axpy_m1 };
  Gemv gemv = Gemv::none;
  // A or B read through the gather that wrote it (see Gathered).
  std::optional<Gathered> ga, gb;
  // A rank-1 C (a matrix-vector product written with a vector: x @ v, x.T @ r, r @ x): loops m
  // (C's index) and k only; n is unused. Operand mat_operand (0 or 1) is the matrix.
  bool vec_out = false;
  unsigned mat_operand = 0;
};

// A map result is a loop index or a constant (a broadcast batch dimension).
bool simple_map(AffineMap map) {
  for (AffineExpr e : map.getResults())
    if (!isa<AffineDimExpr, AffineConstantExpr>(e)) return false;
  return true;
}

bool uses_dim(AffineMap map, unsigned d) {
  for (AffineExpr e : map.getResults())
    if (auto de = dyn_cast<AffineDimExpr>(e); de && de.getPosition() == d) return true;
  return false;
}

unsigned count_dim(AffineMap map, unsigned d) {
  unsigned n = 0;
  for (AffineExpr e : map.getResults())
    if (auto de = dyn_cast<AffineDimExpr>(e); de && de.getPosition() == d) ++n;
  return n;
}

Value strip_ext(Value v) {
  if (auto ext = v.getDefiningOp<arith::ExtFOp>()) return ext.getIn();
  return v;
}

// The body is out + ext?(a) * ext?(b) (either operand order), nothing else.
bool contraction_body(Block& body) {
  if (body.getNumArguments() != 3) return false;
  auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
  if (!yield || yield.getNumOperands() != 1) return false;
  auto add = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add) return false;
  Value other;
  if (add.getLhs() == body.getArgument(2)) other = add.getRhs();
  else if (add.getRhs() == body.getArgument(2)) other = add.getLhs();
  else return false;
  auto mul = other.getDefiningOp<arith::MulFOp>();
  if (!mul) return false;
  Value x = strip_ext(mul.getLhs()), y = strip_ext(mul.getRhs());
  bool ab = x == body.getArgument(0) && y == body.getArgument(1);
  bool ba = x == body.getArgument(1) && y == body.getArgument(0);
  if (!ab && !ba) return false;
  // mul, add, yield and at most two extensions.
  return std::distance(body.begin(), body.end()) <= 5;
}

std::optional<Contraction> match(linalg::LinalgOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1) return std::nullopt;
  if (op->getNumRegions() != 1 || op->getRegion(0).empty() || !contraction_body(op->getRegion(0).front()))
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  AffineMap am = maps[0], bm = maps[1], cm = maps[2];
  if (!simple_map(am) || !simple_map(bm) || !cm.isProjectedPermutation() || cm.getNumResults() < 2) return std::nullopt;
  auto ct = dyn_cast<MemRefType>(op.getDpsInits()[0].getType());
  auto at = dyn_cast<MemRefType>(op.getDpsInputs()[0].getType());
  auto bt = dyn_cast<MemRefType>(op.getDpsInputs()[1].getType());
  if (!ct || !at || !bt) return std::nullopt;
  Contraction c;
  c.op = op;
  c.acc = ct.getElementType();
  if (!c.acc.isF32() && !c.acc.isF64()) return std::nullopt;
  for (Type t : {at.getElementType(), bt.getElementType()})
    if (!isa<FloatType>(t) || t.getIntOrFloatBitWidth() > c.acc.getIntOrFloatBitWidth()) return std::nullopt;
  c.n = cast<AffineDimExpr>(cm.getResults().back()).getPosition();
  c.m = cast<AffineDimExpr>(cm.getResults()[cm.getNumResults() - 2]).getPosition();
  // B's last index is n (contiguous panels); A has m, not n; B has n, not m.
  auto b_last = dyn_cast<AffineDimExpr>(bm.getResults().back());
  if (!b_last || b_last.getPosition() != c.n) return std::nullopt;
  if (!uses_dim(am, c.m) || uses_dim(am, c.n) || uses_dim(bm, c.m)) return std::nullopt;
  auto iters = op.getIteratorTypesArray();
  int reductions = 0;
  for (unsigned d = 0; d < op.getNumLoops(); ++d) {
    if (iters[d] == utils::IteratorType::reduction) {
      ++reductions;
      c.k = d;
    } else if (d != c.m && d != c.n) {
      if (!uses_dim(cm, d)) return std::nullopt;
      c.outer.push_back(d);
    }
  }
  if (reductions != 1 || !uses_dim(am, c.k) || !uses_dim(bm, c.k) || uses_dim(cm, c.k)) return std::nullopt;
  // A and C are read through 2-D views (rows, columns): each index appears once.
  if (count_dim(am, c.m) != 1 || count_dim(am, c.k) != 1) return std::nullopt;
  return c;
}

// ---- Gathered operands (see Gathered) ----

// The buffer a view (collapse_shape, subview, cast, reshape, ...) is a view of.
Value root_of(Value v) {
  while (auto view = v.getDefiningOp<ViewLikeOpInterface>()) v = view.getViewSource();
  return v;
}

// Sums of loop indices times constants (and constants): what the gather may compute.
bool linear_expr(AffineExpr e) {
  if (isa<AffineDimExpr, AffineConstantExpr>(e)) return true;
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin) return false;
  if (e.getKind() == AffineExprKind::Add) return linear_expr(bin.getLHS()) && linear_expr(bin.getRHS());
  if (e.getKind() == AffineExprKind::Mul)
    return linear_expr(bin.getLHS()) && linear_expr(bin.getRHS()) &&
           (isa<AffineConstantExpr>(bin.getLHS()) || isa<AffineConstantExpr>(bin.getRHS()));
  return false;
}

bool static_identity(MemRefType t) { return t && t.hasStaticShape() && t.getLayout().isIdentity(); }

// alloc[i...] = src[map(i...)]: a copy over every element of `alloc` (identity output map,
// parallel loops, the body yields the input), the map linear.
bool is_gather(Operation* op, Value alloc, AffineMap& map) {
  auto g = dyn_cast<linalg::GenericOp>(op);
  if (!g || !g.hasPureBufferSemantics() || g.getNumDpsInputs() != 1 || g.getNumDpsInits() != 1 ||
      g.getDpsInits()[0] != alloc)
    return false;
  if (llvm::any_of(g.getIteratorTypesArray(), [](utils::IteratorType t) { return t != utils::IteratorType::parallel; }))
    return false;
  SmallVector<AffineMap> maps = g.getIndexingMapsArray();
  if (!maps[1].isIdentity() || maps[0].getNumSymbols() != 0 || !llvm::all_of(maps[0].getResults(), linear_expr))
    return false;
  Block& body = g.getRegion().front();
  auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
  if (!yield || yield.getNumOperands() != 1 || yield.getOperand(0) != body.getArgument(0) || body.getOperations().size() != 1)
    return false;
  auto st = dyn_cast<MemRefType>(g.getDpsInputs()[0].getType());
  if (!static_identity(st) || st.getElementType() != cast<MemRefType>(alloc.getType()).getElementType()) return false;
  map = maps[0];
  return true;
}

// Whether `op` (or an op inside it) uses one of `values`.
bool uses_any(Operation* op, const llvm::SmallPtrSetImpl<Value>& values) {
  bool found = false;
  op->walk([&](Operation* inner) {
    for (Value v : inner->getOperands())
      if (values.contains(v)) found = true;
    return found ? WalkResult::interrupt() : WalkResult::advance();
  });
  return found;
}

// Whether `op` may write (or free) memory of buffer `root` (a function argument may alias
// another argument).
bool may_write(Operation* op, Value root) {
  bool write = false;
  op->walk([&](Operation* inner) {
    if (isMemoryEffectFree(inner) || isa<memref::AllocOp, memref::AllocaOp>(inner)) return WalkResult::advance();
    auto effects = dyn_cast<MemoryEffectOpInterface>(inner);
    if (!effects) {
      write = !inner->hasTrait<OpTrait::HasRecursiveMemoryEffects>();
      return write ? WalkResult::interrupt() : WalkResult::advance();
    }
    SmallVector<MemoryEffects::EffectInstance> list;
    effects.getEffects(list);
    for (auto& e : list) {
      if (!isa<MemoryEffects::Write, MemoryEffects::Free>(e.getEffect())) continue;
      Value v = e.getValue();
      if (!v) write = true;
      else {
        Value r = root_of(v);
        write |= r == root || (isa<BlockArgument>(r) && isa<BlockArgument>(root));
      }
    }
    return write ? WalkResult::interrupt() : WalkResult::advance();
  });
  return write;
}

// Operand `operand` (2-D, its map (row loop, column loop)) of contraction `op` as a gathered
// operand: the last op before `op` that touches its buffer is a gather (is_gather) of a source
// nothing writes in between, and the first op after `op` that touches the buffer overwrites
// all of it or frees it (so no one else reads what the gather wrote).
std::optional<Gathered> match_gathered(linalg::LinalgOp op, unsigned operand) {
  Value v = op->getOperand(operand);
  auto vt = dyn_cast<MemRefType>(v.getType());
  if (!vt || vt.getRank() != 2) return std::nullopt;
  Value alloc = v;
  SmallVector<ReassociationIndices> groups{{0}, {1}};
  if (auto collapse = v.getDefiningOp<memref::CollapseShapeOp>()) {
    alloc = collapse.getSrc();
    groups = collapse.getReassociationIndices();
  }
  auto at = dyn_cast<MemRefType>(alloc.getType());
  if (!alloc.getDefiningOp<memref::AllocOp>() || !static_identity(at) || groups.size() != 2) return std::nullopt;
  // The buffer and its views.
  llvm::SmallPtrSet<Value, 8> aliases;
  SmallVector<Value> work{alloc};
  while (!work.empty()) {
    Value a = work.pop_back_val();
    if (!aliases.insert(a).second) continue;
    for (Operation* user : a.getUsers())
      if (auto view = dyn_cast<ViewLikeOpInterface>(user); view && view.getViewSource() == a)
        for (Value r : user->getResults()) work.push_back(r);
  }
  Gathered g;
  g.alloc = alloc;
  SmallVector<Operation*> between;
  for (Operation* p = op->getPrevNode(); p; p = p->getPrevNode()) {
    if (!uses_any(p, aliases)) {
      between.push_back(p);
      continue;
    }
    if (auto view = dyn_cast<ViewLikeOpInterface>(p); view && aliases.contains(view.getViewSource())) continue;
    if (!is_gather(p, alloc, g.map)) return std::nullopt;
    g.gather = p;
    break;
  }
  if (!g.gather) return std::nullopt;
  g.src = g.gather->getOperand(0);
  if (aliases.contains(g.src)) return std::nullopt;
  Value src_root = root_of(g.src);
  for (Operation* p : between)
    if (may_write(p, src_root)) return std::nullopt;
  for (Operation* p = op->getNextNode(); p; p = p->getNextNode()) {
    if (!uses_any(p, aliases)) continue;
    if (auto view = dyn_cast<ViewLikeOpInterface>(p); view && aliases.contains(view.getViewSource())) continue;
    if (auto dealloc = dyn_cast<memref::DeallocOp>(p); dealloc && dealloc.getMemref() == alloc) break;
    AffineMap unused;
    if (is_gather(p, alloc, unused) && !aliases.contains(p->getOperand(0))) break;
    return std::nullopt;
  }
  // The sizes of the two groups, the element offset in src, and whether the last column dim is
  // src's contiguous index alone.
  for (int64_t d : groups[0]) g.rows.push_back(at.getDimSize(d));
  for (int64_t d : groups[1]) g.cols.push_back(at.getDimSize(d));
  auto st = cast<MemRefType>(g.src.getType());
  if (st.getNumElements() >= (int64_t{1} << 31) || at.getNumElements() >= (int64_t{1} << 31)) return std::nullopt;
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(getStridesAndOffset(st, strides, offset))) return std::nullopt;
  MLIRContext* ctx = op->getContext();
  g.offset = getAffineConstantExpr(0, ctx);
  for (auto [r, e] : llvm::enumerate(g.map.getResults())) g.offset = g.offset + e * strides[r];
  g.offset = simplifyAffineExpr(g.offset, g.map.getNumDims(), 0);
  auto unit_step = [&](unsigned dim) {
    AffineExpr d = getAffineDimExpr(dim, ctx);
    for (auto [r, e] : llvm::enumerate(g.map.getResults())) {
      AffineExpr step = simplifyAffineExpr(e.replace(d, d + 1) - e, g.map.getNumDims(), 0);
      auto ce = dyn_cast<AffineConstantExpr>(step);
      bool last = r + 1 == g.map.getNumResults();
      if (!ce || ce.getValue() != (last ? 1 : 0)) return false;
    }
    return true;
  };
  g.unit_inner = unit_step(at.getRank() - 1);
  g.unit_row_inner = unit_step(g.rows.size() - 1);
  return g;
}

// C[m] += ext?(mat[m, k] or mat[k, m]) * ext?(v[k]) with two loops (m parallel, k reduction),
// either operand order: a matrix-vector product with a rank-1 result.
std::optional<Contraction> match_vec_out(linalg::LinalgOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 || op.getNumLoops() != 2)
    return std::nullopt;
  if (op->getNumRegions() != 1 || op->getRegion(0).empty() || !contraction_body(op->getRegion(0).front()))
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (!simple_map(maps[0]) || !simple_map(maps[1]) || maps[2].getNumResults() != 1) return std::nullopt;
  auto cd = dyn_cast<AffineDimExpr>(maps[2].getResult(0));
  if (!cd) return std::nullopt;
  auto ct = dyn_cast<MemRefType>(op.getDpsInits()[0].getType());
  if (!ct) return std::nullopt;
  Contraction c;
  c.op = op;
  c.acc = ct.getElementType();
  if (!c.acc.isF32() && !c.acc.isF64()) return std::nullopt;
  for (Value in : op.getDpsInputs()) {
    auto t = dyn_cast<MemRefType>(in.getType());
    if (!t || !isa<FloatType>(t.getElementType()) ||
        t.getElementType().getIntOrFloatBitWidth() > c.acc.getIntOrFloatBitWidth())
      return std::nullopt;
  }
  c.m = cd.getPosition();
  c.k = 1 - c.m;
  c.n = c.m;  // unused
  auto iters = op.getIteratorTypesArray();
  if (iters[c.m] != utils::IteratorType::parallel || iters[c.k] != utils::IteratorType::reduction) return std::nullopt;
  bool mat0 = uses_dim(maps[0], c.m);
  AffineMap mat = maps[mat0 ? 0 : 1], vec = maps[mat0 ? 1 : 0];
  if (count_dim(mat, c.m) != 1 || count_dim(mat, c.k) != 1 || count_dim(vec, c.k) != 1 || uses_dim(vec, c.m))
    return std::nullopt;
  c.vec_out = true;
  c.mat_operand = mat0 ? 0 : 1;
  return c;
}

// bf16 A with its k index contiguous, bf16 B, f32 C: the operands of the vdpbf16ps kernel.
// Or A stored transposed (its m index contiguous) and packed (C wider than one panel of `nr`
// columns, as block_function decides): then the packing makes the pairs of k.
bool bf16_dot_operands(const Contraction& c, int nr) {
  linalg::LinalgOp op = c.op;
  auto at = cast<MemRefType>(op.getDpsInputs()[0].getType());
  auto bt = cast<MemRefType>(op.getDpsInputs()[1].getType());
  if (!c.acc.isF32() || !at.getElementType().isBF16() || !bt.getElementType().isBF16()) return false;
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(getStridesAndOffset(at, strides, offset))) return false;
  AffineMap am = op.getMatchingIndexingMap(&op->getOpOperand(0));
  int64_t k_stride = 0, m_stride = 0;
  for (auto [r, e] : llvm::enumerate(am.getResults()))
    if (auto de = dyn_cast<AffineDimExpr>(e)) {
      if (de.getPosition() == c.k) k_stride = strides[r];
      if (de.getPosition() == c.m) m_stride = strides[r];
    }
  if (k_stride == 1) return true;
  auto ct = cast<MemRefType>(op.getDpsInits()[0].getType());
  int64_t n = ct.getDimSize(ct.getRank() - 1);
  return m_stride == 1 && (ShapedType::isDynamic(n) || n > nr);
}

struct Sizes {
  int lanes, mr, nv, nr, kc, mc, nc;
};

class Builder {
 public:
  Builder(OpBuilder& b, Location loc, const Contraction& c, const Sizes& s, func::FuncOp home)
      : b(b), loc(loc), c(c), s(s), home(home) {}

  // The body of a shared row-block function (see block_function): A [m, k] and C [m, n] are 2-D
  // strided views, Bp the packed panels; the arguments after them are M, N, jc, kc, kcl, panels, ic.
  void build_block_function() {
    MLIRContext* ctx = b.getContext();
    AffineExpr m = getAffineDimExpr(0, ctx), n = getAffineDimExpr(1, ctx), k = getAffineDimExpr(2, ctx);
    amap = AffineMap::get(3, 0, {m, k}, ctx);
    cmap = AffineMap::get(3, 0, {m, n}, ctx);
    ivs.assign(3, Value());
    Block& entry = home.getBody().front();
    auto arg = [&](unsigned i) { return entry.getArgument(i); };
    scratch = b.create<memref::AllocOp>(loc, MemRefType::get({s.mr, s.nr}, c.acc), b.getI64IntegerAttr(64));
    if (c.convert_a)
      aconv = b.create<memref::AllocOp>(loc, MemRefType::get({s.mc, s.kc}, c.acc), b.getI64IntegerAttr(64));
    if (c.pack_a && c.dot)
      apack = b.create<memref::AllocOp>(
          loc, MemRefType::get({s.mc / s.mr, (s.kc + 1) / 2, 2 * sliver_width()}, BFloat16Type::get(b.getContext())),
          b.getI64IntegerAttr(64));
    else if (c.pack_a)
      apack = b.create<memref::AllocOp>(loc, MemRefType::get({s.mc / s.mr, s.kc, sliver_width()}, c.acc),
                                        b.getI64IntegerAttr(64));
    row_block(arg(0), arg(1), arg(2), arg(3), arg(4), arg(5), arg(6), arg(7), arg(8), arg(9));
    if (apack) b.create<memref::DeallocOp>(loc, apack);
    if (aconv) b.create<memref::DeallocOp>(loc, aconv);
    b.create<memref::DeallocOp>(loc, scratch);
    b.create<func::ReturnOp>(loc);
  }

  void build() {
    linalg::LinalgOp op = c.op;
    Value A = op.getDpsInputs()[0], B = op.getDpsInputs()[1], C = op.getDpsInits()[0];
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    amap = maps[0];
    bmap = maps[1];
    cmap = maps[2];
    ivs.assign(op.getNumLoops(), Value());
    Value M = loop_size(c.m), N = c.vec_out ? cidx(1) : loop_size(c.n), K = loop_size(c.k);
    Value zero = cidx(0), one = cidx(1);
    // The packed B block, reused by every (outer, jc, kc) iteration (column-parallel: one per
    // column block, in its task).
    Value Bp;
    if (c.gemv == Contraction::Gemv::none && !column_parallel(M, N)) {
      Value panels_max = ceil_div(min(N, cidx(s.nc)), cidx(s.nr));
      std::optional<int64_t> static_panels = getConstantIntValue(panels_max);
      auto bp_type = packed_b_type(static_panels.value_or(ShapedType::kDynamic));
      Bp = static_panels ? b.create<memref::AllocOp>(loc, bp_type, b.getI64IntegerAttr(64))
                         : b.create<memref::AllocOp>(loc, bp_type, ValueRange{panels_max}, b.getI64IntegerAttr(64));
    }
    if (c.ga) {
      int64_t rows = *getConstantIntValue(M), cols = (s.kc + s.lanes - 1) / s.lanes * s.lanes;
      a_block = b.create<memref::AllocOp>(loc, MemRefType::get({rows, cols}, c.acc), b.getI64IntegerAttr(64));
    }
    std::function<void(size_t)> outer_loops = [&](size_t i) {
      if (i == c.outer.size()) return blocks(A, B, C, Bp, M, N, K);
      auto f = b.create<scf::ForOp>(loc, zero, loop_size(c.outer[i]), one);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPoint(f.getBody()->getTerminator());
      ivs[c.outer[i]] = f.getInductionVar();
      outer_loops(i + 1);
    };
    outer_loops(0);
    if (Bp) b.create<memref::DeallocOp>(loc, Bp);
    if (a_block) b.create<memref::DeallocOp>(loc, a_block);
  }

 private:
  OpBuilder& b;
  Location loc;
  const Contraction& c;
  const Sizes& s;
  func::FuncOp home;  // the function being built (its entry block holds the constants)
  AffineMap amap, bmap, cmap;
  SmallVector<Value> ivs;  // loop index values, by loop position
  Value scratch;           // MR x NR accumulators of an edge tile
  Value apack;             // with pack_a: [MC / MR][KC][sliver_width()], the block's A in slivers
  Value sliver;            // with pack_a: the micro-kernel's sliver of apack
  Value aconv;             // with convert_a: [MC][KC], the block's rows of A in C's type
  Value a_block;           // with a gathered A: [M][KC rounded up to lanes], a K block of A's rows
  Value block_row0;        // with convert_a: the block's first row (ic)
  // MR rounded up to a power of two: one vector load and store per k when packing.
  int sliver_width() const { return static_cast<int>(llvm::PowerOf2Ceil(s.mr)); }
  llvm::DenseMap<Attribute, Value> constants;

  // Constants, created once at the top of the function (fewer ops for the rest of the pipeline).
  Value constant(TypedAttr value) {
    Value& slot = constants[value];
    if (!slot) {
      auto top = OpBuilder::atBlockBegin(&home.getBody().front());
      slot = top.create<arith::ConstantOp>(loc, value);
    }
    return slot;
  }
  Value cidx(int64_t v) { return constant(b.getIndexAttr(v)); }
  // Index arithmetic, folded where the operands are constants (static shapes).
  Value add(Value x, Value y) { return b.createOrFold<arith::AddIOp>(loc, x, y); }
  Value sub(Value x, Value y) { return b.createOrFold<arith::SubIOp>(loc, x, y); }
  Value mul(Value x, Value y) { return b.createOrFold<arith::MulIOp>(loc, x, y); }
  Value min(Value x, Value y) { return b.createOrFold<arith::MinSIOp>(loc, x, y); }
  Value ceil_div(Value x, Value y) { return b.createOrFold<arith::CeilDivSIOp>(loc, x, y); }
  Value ule(Value x, Value y) { return b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ule, x, y); }
  Value ult(Value x, Value y) { return b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ult, x, y); }

  // The size of loop d, from the first operand that indexes with it.
  Value loop_size(unsigned d) {
    linalg::LinalgOp op = c.op;
    for (OpOperand& operand : op->getOpOperands()) {
      AffineMap map = op.getMatchingIndexingMap(&operand);
      for (unsigned r = 0; r < map.getNumResults(); ++r)
        if (auto de = dyn_cast<AffineDimExpr>(map.getResult(r)); de && de.getPosition() == d)
          return b.createOrFold<memref::DimOp>(loc, operand.get(), r);
    }
    llvm_unreachable("a loop that no operand indexes");
  }

  // The indices of an operand, with `ivs` holding the loop values (overrides by position).
  SmallVector<Value> indices(AffineMap map, ArrayRef<std::pair<unsigned, Value>> overrides) {
    SmallVector<Value> out;
    for (AffineExpr e : map.getResults()) {
      if (auto ce = dyn_cast<AffineConstantExpr>(e)) {
        out.push_back(cidx(ce.getValue()));
        continue;
      }
      unsigned d = cast<AffineDimExpr>(e).getPosition();
      Value v = ivs[d];
      for (auto [pos, val] : overrides)
        if (pos == d) v = val;
      out.push_back(v);
    }
    return out;
  }

  // The packed B block: [panels][KC][NR] of the accumulator type, or with `dot` [panels][KC / 2]
  // [2 NR] bf16 (pairs of k interleaved).
  MemRefType packed_b_type(int64_t panels) const {
    if (c.dot) return MemRefType::get({panels, (s.kc + 1) / 2, 2 * s.nr}, BFloat16Type::get(c.acc.getContext()));
    return MemRefType::get({panels, s.kc, s.nr}, c.acc);
  }

  Value to_acc(Value v) {
    Type t = getElementTypeOrSelf(v.getType());
    if (t == c.acc) return v;
    Type target = c.acc;
    if (auto vt = dyn_cast<VectorType>(v.getType())) target = VectorType::get(vt.getShape(), c.acc);
    return b.create<arith::ExtFOp>(loc, target, v);
  }

  Value fzero(Type t) { return constant(b.getFloatAttr(t, 0.0)); }

  // ---- Gathered operands (see Gathered) ----

  // v split into the digits of `sizes` (row-major, static): index values, or i32 vectors.
  SmallVector<Value> delinearize(Value v, ArrayRef<int64_t> sizes) {
    SmallVector<Value> out(sizes.size());
    for (size_t i = sizes.size(); i-- > 1;) {
      Value size = splat_or_index(v.getType(), sizes[i]);
      out[i] = b.createOrFold<arith::RemUIOp>(loc, v, size);
      v = b.createOrFold<arith::DivUIOp>(loc, v, size);
    }
    out[0] = v;
    return out;
  }

  Value splat_or_index(Type type, int64_t value) {
    if (isa<IndexType>(type)) return cidx(value);
    return constant(DenseElementsAttr::get(cast<VectorType>(type), b.getI32IntegerAttr(static_cast<int32_t>(value))));
  }

  // A linear expression (see linear_expr) of `dims` (index values, or i32 vectors of `type`).
  Value expand(AffineExpr e, ArrayRef<Value> dims, Type type) {
    if (auto de = dyn_cast<AffineDimExpr>(e)) return dims[de.getPosition()];
    if (auto ce = dyn_cast<AffineConstantExpr>(e)) return splat_or_index(type, ce.getValue());
    auto bin = cast<AffineBinaryOpExpr>(e);
    Value l = expand(bin.getLHS(), dims, type), r = expand(bin.getRHS(), dims, type);
    if (e.getKind() == AffineExprKind::Add) return b.createOrFold<arith::AddIOp>(loc, l, r);
    return b.createOrFold<arith::MulIOp>(loc, l, r);
  }

  // The operand's elements [row, col + l] for the lanes l (zero past its columns), read through
  // the gather (`rdims`: row split into the row dims). Where the lanes are consecutive in src's
  // last index (one run of the last column dim, e.g. a row of a convolution's output) one
  // vector load; otherwise a vector.gather of the lanes' offsets (a border, a transposition).
  Value gathered_vector(const Gathered& g, ArrayRef<Value> rdims, Value col) {
    auto st = cast<MemRefType>(g.src.getType());
    auto vt = VectorType::get({s.lanes}, st.getElementType());
    int64_t ncols = 1;
    for (int64_t d : g.cols) ncols *= d;
    int64_t inner = g.cols.back();
    auto gather = [&]() -> Value {
      auto it = VectorType::get({s.lanes}, b.getI32Type());
      SmallVector<int32_t> iota;
      for (int l = 0; l < s.lanes; ++l) iota.push_back(l);
      auto i32 = [&](Value v) {
        return b.create<vector::BroadcastOp>(loc, it, b.createOrFold<arith::IndexCastOp>(loc, b.getI32Type(), v))
            .getResult();
      };
      Value cols = b.create<arith::AddIOp>(loc, i32(col), constant(DenseIntElementsAttr::get(it, iota)));
      Value mask = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ult, cols, splat_or_index(it, ncols));
      SmallVector<Value> dims;
      for (Value r : rdims) dims.push_back(i32(r));
      dims.append(delinearize(cols, g.cols));
      Value offsets = expand(g.offset, dims, it);
      SmallVector<Value> zeros(st.getRank(), cidx(0));
      Value pass = constant(DenseElementsAttr::get(vt, b.getFloatAttr(st.getElementType(), 0.0)));
      return b.create<vector::GatherOp>(loc, vt, g.src, zeros, offsets, mask, pass);
    };
    if (!g.unit_inner || inner < s.lanes) return gather();
    Value x0 = g.cols.size() == 1 ? col : b.createOrFold<arith::RemUIOp>(loc, col, cidx(inner));
    Value whole = b.create<arith::AndIOp>(loc, ule(add(x0, cidx(s.lanes)), cidx(inner)),
                                          ule(add(col, cidx(s.lanes)), cidx(ncols)));
    auto branch = b.create<scf::IfOp>(loc, TypeRange{vt}, whole, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(branch.thenBlock());
    SmallVector<Value> dims(rdims);
    dims.append(delinearize(col, g.cols));
    SmallVector<Value> idx;
    for (AffineExpr e : g.map.getResults()) idx.push_back(expand(e, dims, b.getIndexType()));
    b.create<scf::YieldOp>(loc, ValueRange{b.create<vector::LoadOp>(loc, vt, g.src, idx).getResult()});
    b.setInsertionPointToStart(branch.elseBlock());
    b.create<scf::YieldOp>(loc, ValueRange{gather()});
    return branch.getResult(0);
  }

  // Ab[m, k] = A[m, kc + k] for this row block's rows (ic .. ic + mcl) and the K block's kcl
  // columns, read through A's gather: the rows the block's micro-kernels then read (in L2)
  // instead of the gathered buffer. Lanes past kcl are written (zero past K), never read.
  void fill_gathered_a(Value M, Value kc, Value kcl, Value ic) {
    const Gathered& g = *c.ga;
    Value mcl = min(cidx(s.mc), sub(M, ic));
    auto r_loop = b.create<scf::ForOp>(loc, cidx(0), mcl, cidx(1));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(r_loop.getBody()->getTerminator());
    Value row = add(ic, r_loop.getInductionVar());
    SmallVector<Value> rdims = delinearize(row, g.rows);
    auto k_loop = b.create<scf::ForOp>(loc, cidx(0), kcl, cidx(s.lanes));
    b.setInsertionPoint(k_loop.getBody()->getTerminator());
    Value k = k_loop.getInductionVar();
    Value v = gathered_vector(g, rdims, add(kc, k));
    b.create<vector::StoreOp>(loc, v, a_block, ValueRange{row, k});
  }

  // Whether the column blocks (jc) are the parallel loop instead of the row blocks: C has few
  // rows (fewer than 4 row blocks: a convolution's output channels, C^T of a skinny product)
  // and at least two column blocks.
  bool column_parallel(Value M, Value N) {
    std::optional<int64_t> m = getConstantIntValue(M), n = getConstantIntValue(N);
    if (!m || (*m + s.mc - 1) / s.mc >= 4) return false;
    return !n || *n >= 2 * s.nc;
  }

  // The column-parallel form: each column block (in its own task) packs its own B panels and
  // runs the row blocks one after the other. Every C element is still computed by one thread in
  // the same K order.
  void column_blocks(Value A, Value B, Value C, Value M, Value N, Value K) {
    Value zero = cidx(0);
    auto bp_type = packed_b_type(ceil_div_static(s.nc, s.nr));
    b.create<scf::ParallelOp>(
        loc, ValueRange{zero}, ValueRange{N}, ValueRange{cidx(s.nc)}, [&](OpBuilder& nb, Location, ValueRange iv) {
          OpBuilder::InsertionGuard g(b);
          b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          Value jc = iv[0];
          Value ncl = min(cidx(s.nc), sub(N, jc));
          Value panels = ceil_div(ncl, cidx(s.nr));
          Value Bp = b.create<memref::AllocOp>(loc, bp_type, b.getI64IntegerAttr(64));
          auto kc_loop = b.create<scf::ForOp>(loc, zero, K, cidx(s.kc));
          {
            OpBuilder::InsertionGuard g2(b);
            b.setInsertionPoint(kc_loop.getBody()->getTerminator());
            Value kc = kc_loop.getInductionVar();
            Value kcl = min(cidx(s.kc), sub(K, kc));
            if (c.dot) pack_b_pairs(B, Bp, jc, kc, kcl, panels);
            else pack_b(B, Bp, jc, kc, kcl, panels);
            auto ic_loop = b.create<scf::ForOp>(loc, zero, M, cidx(s.mc));
            b.setInsertionPoint(ic_loop.getBody()->getTerminator());
            call_block(A, C, Bp, M, N, jc, kc, kcl, panels, ic_loop.getInductionVar());
          }
          b.create<memref::DeallocOp>(loc, Bp);
        });
  }

  static int64_t ceil_div_static(int64_t x, int64_t y) { return (x + y - 1) / y; }

  // One row block: a call of the module's shared function for this kernel shape, on 2-D views of
  // A and C.
  void call_block(Value A, Value C, Value Bp, Value M, Value N, Value jc, Value kc, Value kcl, Value panels, Value ic) {
    func::FuncOp fn = block_function(cast<MemRefType>(A.getType()).getElementType());
    auto bp_type = cast<MemRefType>(fn.getArgumentTypes()[2]);
    Value bp = Bp.getType() == bp_type ? Bp : b.create<memref::CastOp>(loc, bp_type, Bp);
    Value a2 = view2d(A, amap, c.m, c.k, cast<MemRefType>(fn.getArgumentTypes()[0]));
    Value c2 = view2d(C, cmap, c.m, c.n, cast<MemRefType>(fn.getArgumentTypes()[1]));
    b.create<func::CallOp>(loc, fn, ValueRange{a2, c2, bp, M, N, jc, kc, kcl, panels, ic});
  }

  void blocks(Value A, Value B, Value C, Value Bp, Value M, Value N, Value K) {
    Value zero = cidx(0);
    if (c.gemv == Contraction::Gemv::dot_n1) return gemv_dot(A, B, C, M, K);
    if (c.gemv != Contraction::Gemv::none) return gemv_axpy(A, B, C, M, N, K);
    if (column_parallel(M, N)) return column_blocks(A, B, C, M, N, K);
    auto jc_loop = b.create<scf::ForOp>(loc, zero, N, cidx(s.nc));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(jc_loop.getBody()->getTerminator());
    Value jc = jc_loop.getInductionVar();
    Value ncl = min(cidx(s.nc), sub(N, jc));
    Value panels = ceil_div(ncl, cidx(s.nr));
    auto kc_loop = b.create<scf::ForOp>(loc, zero, K, cidx(s.kc));
    b.setInsertionPoint(kc_loop.getBody()->getTerminator());
    Value kc = kc_loop.getInductionVar();
    Value kcl = min(cidx(s.kc), sub(K, kc));
    if (c.dot) pack_b_pairs(B, Bp, jc, kc, kcl, panels);
    else pack_b(B, Bp, jc, kc, kcl, panels);
    // Row blocks of C are independent: the parallel loop.
    b.create<scf::ParallelOp>(loc, ValueRange{zero}, ValueRange{M}, ValueRange{cidx(s.mc)},
                              [&](OpBuilder& nb, Location, ValueRange iv) {
                                OpBuilder::InsertionGuard g2(b);
                                b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
                                if (!a_block) return call_block(A, C, Bp, M, N, jc, kc, kcl, panels, iv[0]);
                                // A gathered: this block's rows of the K block first, then the
                                // micro-kernels on them (their column 0 is kc).
                                fill_gathered_a(M, kc, kcl, iv[0]);
                                call_block(a_block, C, Bp, M, N, jc, cidx(0), kcl, panels, iv[0]);
                              });
  }

  // ---- Matrix-vector products (docs/tile_ir.md, "GEMV") ----

  static MemRefType dyn2d(Type elt, bool last_unit) {
    int64_t d = ShapedType::kDynamic;
    return MemRefType::get({d, d}, elt, StridedLayoutAttr::get(elt.getContext(), d, {d, last_unit ? 1 : d}));
  }

  static MemRefType dyn1d(Type elt, bool unit) {
    int64_t d = ShapedType::kDynamic;
    return MemRefType::get({d}, elt, StridedLayoutAttr::get(elt.getContext(), d, {unit ? 1 : d}));
  }

  // The subview of `v` that keeps the dimensions at `positions` (ascending) with their own
  // strides, the others of size 1 dropped. (MLIR's inferRankReducedResultType picks which unit
  // dimensions to drop by itself: with a kept extent of 1 it may keep another unit dimension,
  // and the view has wrong strides.) Falls back to it when the strides are not static.
  Value rank_reduced_subview(Value v, ArrayRef<OpFoldResult> offsets, ArrayRef<OpFoldResult> sizes,
                             ArrayRef<OpFoldResult> strides, ArrayRef<int64_t> kept, ArrayRef<int> positions) {
    auto t = cast<MemRefType>(v.getType());
    auto full = cast<MemRefType>(memref::SubViewOp::inferResultType(t, offsets, sizes, strides));
    SmallVector<int64_t> full_strides;
    int64_t offset;
    if (failed(getStridesAndOffset(full, full_strides, offset))) {
      auto vt = memref::SubViewOp::inferRankReducedResultType(kept, t, offsets, sizes, strides);
      return b.create<memref::SubViewOp>(loc, cast<MemRefType>(vt), v, offsets, sizes, strides);
    }
    SmallVector<int64_t> kept_strides;
    for (int p : positions) kept_strides.push_back(full_strides[p]);
    auto layout = StridedLayoutAttr::get(b.getContext(), offset, kept_strides);
    auto vt = MemRefType::get(kept, t.getElementType(), layout, t.getMemorySpace());
    return b.create<memref::SubViewOp>(loc, vt, v, offsets, sizes, strides);
  }

  // A 1-D view along loop `dim` of `v` (indexed by `map`, `dim` once); the other indices fixed at
  // the current loop values or constants. Cast to `type`.
  Value view1d(Value v, AffineMap map, unsigned dim, MemRefType type) {
    auto t = cast<MemRefType>(v.getType());
    Value view = v;
    if (t.getRank() != 1) {
      SmallVector<OpFoldResult> offsets, sizes, strides;
      SmallVector<int64_t> kept;
      for (auto [r, e] : llvm::enumerate(map.getResults())) {
        strides.push_back(b.getIndexAttr(1));
        auto de = dyn_cast<AffineDimExpr>(e);
        if (de && de.getPosition() == dim) {
          offsets.push_back(b.getIndexAttr(0));
          sizes.push_back(t.isDynamicDim(r) ? OpFoldResult(b.createOrFold<memref::DimOp>(loc, v, r))
                                            : OpFoldResult(b.getIndexAttr(t.getDimSize(r))));
          kept.push_back(t.getDimSize(r));
          continue;
        }
        // (A loop that is not iterated here, n of a GEMV: index 0.)
        offsets.push_back(de && ivs[de.getPosition()] ? OpFoldResult(ivs[de.getPosition()])
                          : de                        ? OpFoldResult(b.getIndexAttr(0))
                              : OpFoldResult(b.getIndexAttr(cast<AffineConstantExpr>(e).getValue())));
        sizes.push_back(b.getIndexAttr(1));
      }
      int pos = 0;
      for (auto [r, e] : llvm::enumerate(map.getResults()))
        if (auto de = dyn_cast<AffineDimExpr>(e); de && de.getPosition() == dim) pos = int(r);
      view = rank_reduced_subview(v, offsets, sizes, strides, kept, {pos});
    }
    if (view.getType() == type) return view;
    return b.create<memref::CastOp>(loc, type, view);
  }

  // The sum of the lanes of each of `rows` vectors (R and lanes powers of two) in a fixed tree
  // order: halves added until one lane is left (lane i + lane i + h at width 2h; log2(lanes)
  // dependent adds, where LLVM expands an ordered vector.reduction to lanes - 1). The rows are
  // summed together: their lanes share vectors, so one add serves several rows (with R <=
  // lanes: R - 1 + log2(lanes / R) adds and twice as many shuffles, instead of R log2(lanes)
  // adds); each row's sum has the same bits as when summed alone. Returns vectors
  // whose lanes are the row sums in row order (one vector when R <= lanes).
  SmallVector<Value> tree_sums(ArrayRef<Value> rows) {
    SmallVector<Value> vecs(rows.begin(), rows.end());
    int64_t g = cast<VectorType>(vecs[0].getType()).getNumElements();  // lanes per row
    // The lanes [k g, k g + g) of each vector hold one row's g partial sums.
    auto halves = [&](Value x, Value y, int64_t width, int64_t off) {
      SmallVector<int64_t> mask;
      for (int64_t k = 0; k < width / g; ++k)
        for (int64_t j = 0; j < g / 2; ++j) mask.push_back(k * g + j + off);
      if (x != y)
        for (int64_t k = 0; k < width / g; ++k)
          for (int64_t j = 0; j < g / 2; ++j) mask.push_back(width + k * g + j + off);
      return b.create<vector::ShuffleOp>(loc, x, y, mask).getResult();
    };
    while (g > 1) {
      SmallVector<Value> next;
      if (vecs.size() > 1) {
        // Two vectors of the same width: the low halves of each row's lanes, then the high
        // halves, added: twice the rows, half the lanes per row.
        for (size_t i = 0; i + 1 < vecs.size(); i += 2) {
          int64_t width = cast<VectorType>(vecs[i].getType()).getNumElements();
          Value lo = halves(vecs[i], vecs[i + 1], width, 0), hi = halves(vecs[i], vecs[i + 1], width, g / 2);
          next.push_back(b.create<arith::AddFOp>(loc, lo, hi));
        }
      } else {
        // One vector left: its rows' low and high halves as vectors of half the width.
        int64_t width = cast<VectorType>(vecs[0].getType()).getNumElements();
        next.push_back(b.create<arith::AddFOp>(loc, halves(vecs[0], vecs[0], width, 0), halves(vecs[0], vecs[0], width, g / 2)));
      }
      vecs = std::move(next);
      g /= 2;
    }
    return vecs;
  }

  static constexpr int kGemvVectors = 8;     // accumulators of the axpy kernel
  static constexpr int kGemvRows = 8;        // rows of the dot kernel
  static constexpr int64_t kGemvGrain = 1 << 15;  // multiply-adds per parallel task
  static constexpr int64_t kGemvSplitJ = 2048;    // wider outputs are split by columns instead of K

  // out[j] (+)= sum_k v[k] * Mat[k, j], Mat's j contiguous: C = A @ B with N = 1 and A stored
  // transposed (A[m, k] = Mat[k, m], v = B[:, 0]: the gradient's X^T @ r), or with M = 1 and a
  // row-major B (v = A[0, :], Mat = B). Per k one broadcast of v[k] and up to kGemvVectors
  // vector FMAs into accumulators that stay in registers along a range of k.
  // Parallel: a narrow output (static J <= kGemvSplitJ) splits K into fixed chunks (their number
  // and size depend on the shapes only); each chunk sums its rows into its own row of a partial
  // buffer, and the partials are added in chunk order afterwards: the same bits for any thread
  // count. A wide output is split by columns (each column summed by one task over all of K).
  void gemv_axpy(Value A, Value B, Value C, Value M, Value N, Value K) {
    bool m1 = c.gemv == Contraction::Gemv::axpy_m1;
    // The matrix operand and the output's loop: B and n for v @ B, else the matrix and m.
    unsigned mi = m1 ? 1 : c.vec_out ? c.mat_operand : 0;
    unsigned j_dim = m1 ? c.n : c.m;
    Value matv = mi == 0 ? A : B, vecv = mi == 0 ? B : A;
    AffineMap matmap = mi == 0 ? amap : bmap, vecmap = mi == 0 ? bmap : amap;
    Type mat_elt = cast<MemRefType>(matv.getType()).getElementType();
    Type vec_elt = cast<MemRefType>(vecv.getType()).getElementType();
    Value mat = view2d(matv, matmap, c.k, j_dim, dyn2d(mat_elt, true));
    Value vec = view1d(vecv, vecmap, c.k, dyn1d(vec_elt, false));
    Value out = view1d(C, cmap, j_dim, dyn1d(c.acc, true));
    Value J = m1 ? N : M;
    int L = s.lanes;
    auto vt = VectorType::get({L}, c.acc);
    auto mvt = VectorType::get({L}, mat_elt);
    Value vzero = constant(DenseElementsAttr::get(vt, b.getFloatAttr(c.acc, 0.0)));
    auto v_at = [&](Value k) {
      Value x = b.create<memref::LoadOp>(loc, vec, ValueRange{k});
      return b.create<vector::BroadcastOp>(loc, vt, to_acc(x)).getResult();
    };
    // Sums of rows [k0, k1) for the nv vectors at columns j0 + v * L; `masked`: the last vector
    // may cross J (its lanes past J read as zero).
    auto kernel = [&](Value k0, Value k1, Value j0, int nv, bool masked) -> SmallVector<Value> {
      SmallVector<Value> init(nv, vzero);
      auto loop = b.create<scf::ForOp>(loc, k0, k1, cidx(1), init, [&](OpBuilder& nb, Location, Value k, ValueRange acc) {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value sv = v_at(k);
        SmallVector<Value> next;
        for (int v = 0; v < nv; ++v) {
          Value j = add(j0, cidx(v * L));
          Value x = masked && v == nv - 1
                        ? b.create<vector::TransferReadOp>(loc, mvt, mat, ValueRange{k, j}, fzero(mat_elt),
                                                           ArrayRef<bool>{false}).getResult()
                        : b.create<vector::LoadOp>(loc, mvt, mat, ValueRange{k, j}).getResult();
          next.push_back(b.create<vector::FMAOp>(loc, to_acc(x), sv, acc[v]));
        }
        b.create<scf::YieldOp>(loc, next);
      });
      return SmallVector<Value>(loop.getResults());
    };
    // out[j0 + v L : +L] = sum (overwrite_first: C was zero-filled) or += sum.
    auto store_out = [&](Value j, Value sum, bool masked) {
      if (!c.overwrite_first) {
        Value old = b.create<vector::TransferReadOp>(loc, vt, out, ValueRange{j}, fzero(c.acc),
                                                     ArrayRef<bool>{!masked});
        sum = b.create<arith::AddFOp>(loc, old, sum);
      }
      b.create<vector::TransferWriteOp>(loc, sum, out, ValueRange{j}, ArrayRef<bool>{!masked});
    };
    std::optional<int64_t> j_static = getConstantIntValue(J);
    const int VB = kGemvVectors;
    if (!j_static || *j_static > kGemvSplitJ) {
      // Column blocks of VB vectors in parallel, each over all of K.
      Value width = cidx(VB * L);
      b.create<scf::ParallelOp>(loc, ValueRange{cidx(0)}, ValueRange{J}, ValueRange{width},
                                [&](OpBuilder& nb, Location, ValueRange iv) {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value j0 = iv[0];
        auto inside = b.create<scf::IfOp>(loc, ule(add(j0, width), J), /*withElseRegion=*/true);
        {
          OpBuilder::InsertionGuard g2(b);
          b.setInsertionPoint(inside.thenBlock()->getTerminator());
          SmallVector<Value> acc = kernel(cidx(0), K, j0, VB, false);
          for (int v = 0; v < VB; ++v) store_out(add(j0, cidx(v * L)), acc[v], false);
          b.setInsertionPoint(inside.elseBlock()->getTerminator());
          // The last block: VB vectors, each masked (few columns; rare).
          SmallVector<Value> init(VB, vzero);
          auto loop = b.create<scf::ForOp>(loc, cidx(0), K, cidx(1), init,
                                           [&](OpBuilder& lb, Location, Value k, ValueRange a) {
            OpBuilder::InsertionGuard g3(b);
            b.setInsertionPoint(lb.getInsertionBlock(), lb.getInsertionPoint());
            Value sv = v_at(k);
            SmallVector<Value> next;
            for (int v = 0; v < VB; ++v) {
              Value x = b.create<vector::TransferReadOp>(loc, mvt, mat, ValueRange{k, add(j0, cidx(v * L))},
                                                         fzero(mat_elt), ArrayRef<bool>{false});
              next.push_back(b.create<vector::FMAOp>(loc, to_acc(x), sv, a[v]));
            }
            b.create<scf::YieldOp>(loc, next);
          });
          for (int v = 0; v < VB; ++v) store_out(add(j0, cidx(v * L)), loop.getResult(v), true);
        }
      });
      return;
    }
    // Narrow output: K in chunks, partial sums per chunk.
    int64_t jn = *j_static;
    int64_t nvec = std::max<int64_t>(1, (jn + L - 1) / L);
    int64_t full_blocks = jn / (VB * L);                 // blocks of VB whole vectors
    int64_t rest = nvec - full_blocks * VB;              // vectors of the last block
    bool rest_masked = jn % L != 0;
    // Chunk rows: at least kGemvGrain / J multiply-adds per task, at most 64 chunks.
    int64_t min_rows = std::max<int64_t>(64, kGemvGrain / std::max<int64_t>(jn, 1));
    Value kb = b.createOrFold<arith::MaxSIOp>(loc, cidx(min_rows), ceil_div(K, cidx(64)));
    // At least one chunk (an empty K leaves one row of zeros).
    Value chunks = b.createOrFold<arith::MaxSIOp>(loc, cidx(1), ceil_div(K, kb));
    std::optional<int64_t> chunks_static = getConstantIntValue(chunks);
    // One chunk (static), or inside a parallel loop (whose nested loops run sequentially: a
    // GEMV chain's chunk): no partial buffer, the sums go straight to out (out + sum: the
    // same bits as out + partial[0]).
    if (chunks_static == 1 || c.op->getParentOfType<scf::ForallOp>() || c.op->getParentOfType<scf::ParallelOp>()) {
      if (full_blocks > 0) {
        auto jl = b.create<scf::ForOp>(loc, cidx(0), cidx(full_blocks * VB * L), cidx(VB * L));
        OpBuilder::InsertionGuard g2(b);
        b.setInsertionPoint(jl.getBody()->getTerminator());
        Value j0 = jl.getInductionVar();
        SmallVector<Value> acc = kernel(cidx(0), K, j0, VB, false);
        for (int v = 0; v < VB; ++v) store_out(add(j0, cidx(v * L)), acc[v], false);
      }
      if (rest > 0) {
        Value j0 = cidx(full_blocks * VB * L);
        SmallVector<Value> acc = kernel(cidx(0), K, j0, int(rest), rest_masked);
        for (int v = 0; v < rest; ++v) store_out(add(j0, cidx(v * L)), acc[v], rest_masked && v == rest - 1);
      }
      return;
    }
    auto pt = MemRefType::get({chunks_static.value_or(ShapedType::kDynamic), nvec * L}, c.acc);
    Value partial = chunks_static ? b.create<memref::AllocOp>(loc, pt, b.getI64IntegerAttr(64)).getResult()
                                  : b.create<memref::AllocOp>(loc, pt, ValueRange{chunks}, b.getI64IntegerAttr(64)).getResult();
    b.create<scf::ParallelOp>(loc, ValueRange{cidx(0)}, ValueRange{chunks}, ValueRange{cidx(1)},
                              [&](OpBuilder& nb, Location, ValueRange iv) {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
      Value q = iv[0];
      Value k0 = mul(q, kb);
      Value k1 = min(K, add(k0, kb));
      if (full_blocks > 0) {
        auto jl = b.create<scf::ForOp>(loc, cidx(0), cidx(full_blocks * VB * L), cidx(VB * L));
        OpBuilder::InsertionGuard g2(b);
        b.setInsertionPoint(jl.getBody()->getTerminator());
        Value j0 = jl.getInductionVar();
        SmallVector<Value> acc = kernel(k0, k1, j0, VB, false);
        for (int v = 0; v < VB; ++v)
          b.create<vector::StoreOp>(loc, acc[v], partial, ValueRange{q, add(j0, cidx(v * L))});
      }
      if (rest > 0) {
        Value j0 = cidx(full_blocks * VB * L);
        SmallVector<Value> acc = kernel(k0, k1, j0, int(rest), rest_masked);
        for (int v = 0; v < rest; ++v)
          b.create<vector::StoreOp>(loc, acc[v], partial, ValueRange{q, add(j0, cidx(v * L))});
      }
    });
    // out = partial[0] + partial[1] + ... in chunk order (+ out's old value first).
    auto jl = b.create<scf::ForOp>(loc, cidx(0), cidx(nvec * L), cidx(L));
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPoint(jl.getBody()->getTerminator());
      Value j = jl.getInductionVar();
      Value first = b.create<vector::LoadOp>(loc, vt, partial, ValueRange{cidx(0), j});
      auto ql = b.create<scf::ForOp>(loc, cidx(1), chunks, cidx(1), ValueRange{first},
                                     [&](OpBuilder& nb, Location, Value q, ValueRange a) {
        OpBuilder::InsertionGuard g2(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value x = b.create<vector::LoadOp>(loc, vt, partial, ValueRange{q, j});
        b.create<scf::YieldOp>(loc, ValueRange{b.create<arith::AddFOp>(loc, a[0], x).getResult()});
      });
      store_out(j, ql.getResult(0), rest_masked);
    }
    b.create<memref::DeallocOp>(loc, partial);
  }

  // out[m] (+)= sum_k A[m, k] * v[k], A's k contiguous (C = A @ B with N = 1: X @ v). v is
  // first copied into a zero-padded vector buffer of C's type; then kGemvRows rows at a time,
  // one accumulator per row over the K vectors (the last one masked), and each row's lanes summed
  // in a fixed tree order. Row blocks run in parallel; each row is summed by one task in one
  // order: the same bits for any thread count.
  void gemv_dot(Value A, Value B, Value C, Value M, Value K) {
    unsigned mi = c.vec_out ? c.mat_operand : 0;
    Value matv = mi == 0 ? A : B, vecv = mi == 0 ? B : A;
    AffineMap matmap = mi == 0 ? amap : bmap, vecmap = mi == 0 ? bmap : amap;
    Type a_elt = cast<MemRefType>(matv.getType()).getElementType();
    Type b_elt = cast<MemRefType>(vecv.getType()).getElementType();
    Value mat = view2d(matv, matmap, c.m, c.k, dyn2d(a_elt, true));
    Value vec = view1d(vecv, vecmap, c.k, dyn1d(b_elt, false));
    Value out = view1d(C, cmap, c.m, dyn1d(c.acc, false));
    // out with a unit stride (known from its type): the row sums are stored as vectors.
    Value out_unit;
    {
      Value src = out;
      if (auto cast = out.getDefiningOp<memref::CastOp>()) src = cast.getSource();
      SmallVector<int64_t> strides;
      int64_t offset;
      auto st = cast<MemRefType>(src.getType());
      if (succeeded(getStridesAndOffset(st, strides, offset)) && strides.size() == 1 && strides[0] == 1)
        out_unit = b.create<memref::CastOp>(loc, dyn1d(c.acc, true), src);
    }
    int L = s.lanes;
    const int R = kGemvRows;
    auto vt = VectorType::get({L}, c.acc);
    auto avt = VectorType::get({L}, a_elt);
    Value vzero = constant(DenseElementsAttr::get(vt, b.getFloatAttr(c.acc, 0.0)));
    // v already of C's type with unit stride: read in place (the last vector masked), no
    // padded copy.
    Value direct;
    if (b_elt == c.acc) {
      Value src = vec;
      if (auto cast = vec.getDefiningOp<memref::CastOp>()) src = cast.getSource();
      SmallVector<int64_t> strides;
      int64_t offset;
      auto st = cast<MemRefType>(src.getType());
      if (succeeded(getStridesAndOffset(st, strides, offset)) && strides.size() == 1 && strides[0] == 1)
        direct = b.create<memref::CastOp>(loc, dyn1d(b_elt, true), src);
    }
    Value kpad = mul(ceil_div(K, cidx(L)), cidx(L));
    std::optional<int64_t> kpad_static = getConstantIntValue(kpad);
    auto bt = MemRefType::get({kpad_static.value_or(ShapedType::kDynamic)}, c.acc);
    Value vbuf = direct              ? direct
                 : kpad_static ? b.create<memref::AllocOp>(loc, bt, b.getI64IntegerAttr(64)).getResult()
                               : b.create<memref::AllocOp>(loc, bt, ValueRange{kpad}, b.getI64IntegerAttr(64)).getResult();
    if (!direct) {
      auto kl = b.create<scf::ForOp>(loc, cidx(0), kpad, cidx(1));
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPoint(kl.getBody()->getTerminator());
      Value k = kl.getInductionVar();
      auto inside = b.create<scf::IfOp>(loc, TypeRange{c.acc}, ult(k, K), /*withElseRegion=*/true);
      b.setInsertionPointToStart(inside.thenBlock());
      b.create<scf::YieldOp>(loc, to_acc(b.create<memref::LoadOp>(loc, vec, ValueRange{k})));
      b.setInsertionPointToStart(inside.elseBlock());
      b.create<scf::YieldOp>(loc, fzero(c.acc));
      b.setInsertionPointAfter(inside);
      b.create<memref::StoreOp>(loc, inside.getResult(0), vbuf, ValueRange{k});
    }
    Value kfull = mul(b.createOrFold<arith::DivUIOp>(loc, K, cidx(L)), cidx(L));
    // Rows per task: about kGemvGrain multiply-adds, a multiple of R.
    Value rows = b.createOrFold<arith::MaxSIOp>(
        loc, cidx(R), mul(ceil_div(ceil_div(cidx(kGemvGrain), b.createOrFold<arith::MaxSIOp>(loc, K, cidx(1))), cidx(R)), cidx(R)));
    Value last_row = sub(M, cidx(1));
    b.create<scf::ParallelOp>(loc, ValueRange{cidx(0)}, ValueRange{M}, ValueRange{rows},
                              [&](OpBuilder& nb, Location, ValueRange iv) {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
      Value hi = min(M, add(iv[0], rows));
      auto ml = b.create<scf::ForOp>(loc, iv[0], hi, cidx(R));
      b.setInsertionPoint(ml.getBody()->getTerminator());
      Value m0 = ml.getInductionVar();
      // One block of R rows: the K loop, the last partial K vector and the R sums (tree_sums).
      // `clamp`: rows past M read row M - 1 (not stored).
      auto block_sums = [&](bool clamp) {
        SmallVector<Value> row;
        for (int r = 0; r < R; ++r)
          row.push_back(clamp ? b.createOrFold<arith::MinSIOp>(loc, add(m0, cidx(r)), last_row) : add(m0, cidx(r)));
        SmallVector<Value> init(R, vzero);
        auto kl = b.create<scf::ForOp>(loc, cidx(0), kfull, cidx(L), init, [&](OpBuilder& lb, Location, Value k, ValueRange a) {
          OpBuilder::InsertionGuard g2(b);
          b.setInsertionPoint(lb.getInsertionBlock(), lb.getInsertionPoint());
          Value bv = b.create<vector::LoadOp>(loc, vt, vbuf, ValueRange{k});
          SmallVector<Value> next;
          for (int r = 0; r < R; ++r) {
            Value x = b.create<vector::LoadOp>(loc, avt, mat, ValueRange{row[r], k});
            next.push_back(b.create<vector::FMAOp>(loc, to_acc(x), bv, a[r]));
          }
          b.create<scf::YieldOp>(loc, next);
        });
        // The last, partial K vector (lanes past K read as zero).
        auto tail = b.create<scf::IfOp>(loc, TypeRange(ValueRange(kl.getResults())), ult(kfull, K), /*withElseRegion=*/true);
        {
          OpBuilder::InsertionGuard g2(b);
          b.setInsertionPointToStart(tail.thenBlock());
          Value bv = direct ? b.create<vector::TransferReadOp>(loc, vt, vbuf, ValueRange{kfull}, fzero(c.acc),
                                                               ArrayRef<bool>{false}).getResult()
                            : b.create<vector::LoadOp>(loc, vt, vbuf, ValueRange{kfull}).getResult();
          SmallVector<Value> next;
          for (int r = 0; r < R; ++r) {
            Value x = b.create<vector::TransferReadOp>(loc, avt, mat, ValueRange{row[r], kfull}, fzero(a_elt),
                                                       ArrayRef<bool>{false});
            next.push_back(b.create<vector::FMAOp>(loc, to_acc(x), bv, kl.getResult(r)));
          }
          b.create<scf::YieldOp>(loc, next);
          b.setInsertionPointToStart(tail.elseBlock());
          b.create<scf::YieldOp>(loc, kl.getResults());
        }
        return tree_sums(SmallVector<Value>(tail.getResults()));
      };
      // Row by row, the rows inside M.
      auto each_row = [&](ArrayRef<Value> sums) {
        for (int r = 0; r < R; ++r) {
          Value m = add(m0, cidx(r));
          auto valid = b.create<scf::IfOp>(loc, ult(m, M), /*withElseRegion=*/false);
          OpBuilder::InsertionGuard g2(b);
          b.setInsertionPoint(valid.thenBlock()->getTerminator());
          int64_t w = cast<VectorType>(sums[0].getType()).getNumElements();
          Value sum = b.create<vector::ExtractOp>(loc, sums[r / w], ArrayRef<int64_t>{r % w});
          if (!c.overwrite_first)
            sum = b.create<arith::AddFOp>(loc, b.create<memref::LoadOp>(loc, out, ValueRange{m}), sum);
          b.create<memref::StoreOp>(loc, sum, out, ValueRange{m});
        }
      };
      // All R rows inside M: no clamping, and with a unit-stride out the sums are stored as
      // vectors. Else (the last block of M) clamped rows, stored one by one.
      auto full = b.create<scf::IfOp>(loc, b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::sle, add(m0, cidx(R)), M),
                                      /*withElseRegion=*/true);
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPoint(full.thenBlock()->getTerminator());
      SmallVector<Value> sums = block_sums(false);
      if (!out_unit) {
        each_row(sums);
      } else {
        int64_t off = 0;
        for (Value v : sums) {
          Value m = add(m0, cidx(off));
          if (!c.overwrite_first)
            v = b.create<arith::AddFOp>(loc, b.create<vector::LoadOp>(loc, v.getType(), out_unit, ValueRange{m}), v);
          b.create<vector::StoreOp>(loc, v, out_unit, ValueRange{m});
          off += cast<VectorType>(v.getType()).getNumElements();
        }
      }
      b.setInsertionPoint(full.elseBlock()->getTerminator());
      each_row(block_sums(true));
    });
    if (!direct) b.create<memref::DeallocOp>(loc, vbuf);
  }

  // A 2-D view [rows, cols] of `v`, whose map indexes it with loops `row` and `col` (once each);
  // the other indices are fixed at the current loop values (or constants). Cast to `type`.
  Value view2d(Value v, AffineMap map, unsigned row, unsigned col, MemRefType type) {
    auto t = cast<MemRefType>(v.getType());
    SmallVector<OpFoldResult> offsets, sizes, strides;
    SmallVector<int64_t> kept;
    int row_pos = -1, col_pos = -1;
    for (auto [r, e] : llvm::enumerate(map.getResults())) {
      strides.push_back(b.getIndexAttr(1));
      auto de = dyn_cast<AffineDimExpr>(e);
      if (de && (de.getPosition() == row || de.getPosition() == col)) {
        (de.getPosition() == row ? row_pos : col_pos) = int(r);
        offsets.push_back(b.getIndexAttr(0));
        if (t.getRank() == 2) sizes.push_back(b.getIndexAttr(0));  // no subview
        else if (t.isDynamicDim(r)) sizes.push_back(b.createOrFold<memref::DimOp>(loc, v, r));
        else sizes.push_back(b.getIndexAttr(t.getDimSize(r)));
        kept.push_back(t.getDimSize(r));
        continue;
      }
      offsets.push_back(de ? OpFoldResult(ivs[de.getPosition()])
                           : OpFoldResult(b.getIndexAttr(cast<AffineConstantExpr>(e).getValue())));
      sizes.push_back(b.getIndexAttr(1));
    }
    Value view = v;
    if (t.getRank() != 2) {
      // The rank-reduced view keeps the strides of the row and column dimensions.
      view = rank_reduced_subview(v, offsets, sizes, strides, kept,
                                  {std::min(row_pos, col_pos), std::max(row_pos, col_pos)});
    }
    if (row_pos > col_pos) {
      AffineMap swap = AffineMap::getPermutationMap(ArrayRef<unsigned>{1, 0}, b.getContext());
      view = b.create<memref::TransposeOp>(loc, view, AffineMapAttr::get(swap));
    }
    if (view.getType() == type) return view;
    return b.create<memref::CastOp>(loc, type, view);
  }

  // The module's row-block function for this kernel shape and these element types, created on
  // first use: every contraction of the module with the same shape calls the same code (a
  // transformer block's eight matmuls compile one micro-kernel, not eight).
  func::FuncOp block_function(Type a_elt) {
    auto module = home->getParentOfType<ModuleOp>();
    auto type_name = [](Type t) {
      std::string str;
      llvm::raw_string_ostream os(str);
      t.print(os);
      return str;
    };
    // C's rows are contiguous (the usual case): its view says so, and the tile updates are
    // vector loads and stores. Otherwise a variant with a dynamic column stride.
    SmallVector<int64_t> c_strides;
    int64_t c_offset;
    bool c_unit = succeeded(getStridesAndOffset(cast<MemRefType>(c.op->getOperand(2).getType()), c_strides, c_offset)) &&
                  c_strides.back() == 1;
    // A's k index is contiguous (a row-major A, not a transposed one): a variant whose A view says
    // so, so that a row's element k is addressed from one loop index (no per-row pointer to step
    // by a run-time stride: fewer registers, no spills in the 12-row narrow kernel).
    // Likewise when A's m index is contiguous (a transposed A): the MR rows of a tile are then at
    // fixed offsets from one address per k.
    bool a_unit = false, a_m_unit = false;
    {
      SmallVector<int64_t> a_strides;
      int64_t a_offset;
      linalg::LinalgOp op = c.op;
      AffineMap am = op.getMatchingIndexingMap(&op->getOpOperand(0));
      if (succeeded(getStridesAndOffset(cast<MemRefType>(c.op->getOperand(0).getType()), a_strides, a_offset)))
        for (auto [r, e] : llvm::enumerate(am.getResults())) {
          auto de = dyn_cast<AffineDimExpr>(e);
          if (de && de.getPosition() == c.k) a_unit = a_strides[r] == 1;
          if (de && de.getPosition() == c.m) a_m_unit = a_strides[r] == 1;
        }
      if (a_unit) a_m_unit = false;
    }
    // A transposed A is packed when its block is read for more than one panel (N > NR): with
    // one panel the copy would be all cost.
    auto ct = cast<MemRefType>(c.op->getOperand(2).getType());
    int64_t n_static = ct.getDimSize(ct.getRank() - 1);
    bool pack = a_m_unit && (ShapedType::isDynamic(n_static) || n_static > s.nr);
    std::string name = "__tessera_matmul_block_" + type_name(a_elt) + "_" + type_name(c.acc) + "_" +
                       std::to_string(s.mr) + "x" + std::to_string(s.nv) + "x" + std::to_string(s.lanes) + "_kc" +
                       std::to_string(s.kc) + "_mc" + std::to_string(s.mc) + (c_unit ? "" : "_strided") +
                       (a_unit ? "_au" : pack ? "_ap" : a_m_unit ? "_at" : "") + (c.overwrite_first ? "_z" : "") +
                       (c.dot ? "_dot" : "") + (a_unit && !c.dot && a_elt != c.acc ? "_ac" : "");
    if (auto fn = module.lookupSymbol<func::FuncOp>(name)) return fn;
    MLIRContext* ctx = b.getContext();
    auto strided = [&](Type elt, bool unit, bool rows_unit = false) {
      int64_t d = ShapedType::kDynamic;
      return MemRefType::get({d, d}, elt, StridedLayoutAttr::get(ctx, d, {rows_unit ? 1 : d, unit ? 1 : d}));
    };
    Type index = b.getIndexType();
    auto bp_type = packed_b_type(ShapedType::kDynamic);
    auto fn_type = FunctionType::get(ctx, {strided(a_elt, a_unit, a_m_unit), strided(c.acc, c_unit), bp_type, index, index, index, index, index,
                                           index, index},
                                     {});
    OpBuilder mb(ctx);
    mb.setInsertionPointToEnd(module.getBody());
    auto fn = mb.create<func::FuncOp>(loc, name, fn_type);
    fn.setPrivate();
    // One copy: LLVM would otherwise inline it back into every caller.
    fn->setAttr("passthrough", mb.getArrayAttr({mb.getStringAttr("noinline")}));
    OpBuilder fb = OpBuilder::atBlockBegin(fn.addEntryBlock());
    Contraction inner = c;
    inner.m = 0;
    inner.n = 1;
    inner.k = 2;
    inner.outer.clear();
    inner.ga.reset();
    inner.gb.reset();
    inner.pack_a = pack;
    inner.convert_a = a_unit && !c.dot && a_elt != c.acc;
    Builder(fb, loc, inner, s, fn).build_block_function();
    return fn;
  }

  // Bp[p, k, j] = B[kc + k, jc + p * NR + j], zero past N. Rows of B outermost: each row's
  // NC columns are read in order (panels innermost), one sequential stream for the prefetcher,
  // where panels outermost would read a quarter of every row per pass.
  void pack_b(Value B, Value Bp, Value jc, Value kc, Value kcl, Value panels) {
    Value zero = cidx(0), one = cidx(1);
    // A gathered B whose rows (k), not columns, are contiguous in its source (the transposed
    // cotangent of a weight gradient): whole groups of `lanes` rows are packed as transposed
    // lanes x lanes tiles (pack_b_transposed), the rest of the block below.
    Value k_first = zero;
    if (transposed_pack()) {
      k_first = mul(b.createOrFold<arith::DivUIOp>(loc, kcl, cidx(s.lanes)), cidx(s.lanes));
      pack_b_transposed(Bp, jc, kc, k_first, panels);
    }
    auto k_loop = b.create<scf::ForOp>(loc, k_first, kcl, one);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(k_loop.getBody()->getTerminator());
    Value k = k_loop.getInductionVar();
    Value kk = add(kc, k);
    // A gathered B: row kk split into the gather's row dims once per row.
    SmallVector<Value> rdims;
    if (c.gb) rdims = delinearize(kk, c.gb->rows);
    auto p_loop = b.create<scf::ForOp>(loc, zero, panels, one);
    b.setInsertionPoint(p_loop.getBody()->getTerminator());
    Value p = p_loop.getInductionVar();
    Value n0 = add(jc, mul(p, cidx(s.nr)));
    Type bt = cast<MemRefType>(B.getType()).getElementType();
    auto vt = VectorType::get({s.lanes}, bt);
    Value pad = fzero(bt);
    for (int j = 0; j < s.nv; ++j) {
      Value nj = add(n0, cidx(j * s.lanes));
      Value v = c.gb ? gathered_vector(*c.gb, rdims, nj)
                     : b.create<vector::TransferReadOp>(loc, vt, B, indices(bmap, {{c.k, kk}, {c.n, nj}}), pad,
                                                        ArrayRef<bool>{false})
                           .getResult();
      b.create<vector::StoreOp>(loc, to_acc(v), Bp, ValueRange{p, k, cidx(j * s.lanes)});
    }
  }

  // Whether pack_b packs a gathered B by transposed tiles: its rows (k) are one run of src's
  // last index in groups of `lanes` (the last row dim a multiple of lanes, K blocks starting at
  // multiples of lanes) and its columns are not (else the row-wise packing loads them).
  bool transposed_pack() const {
    if (!c.gb || c.gb->unit_inner || !c.gb->unit_row_inner) return false;
    if (cast<MemRefType>(c.gb->src.getType()).getElementType() != c.acc) return false;
    return llvm::isPowerOf2_32(s.lanes) && c.gb->rows.back() % s.lanes == 0 && s.kc % s.lanes == 0;
  }

  // The lanes x lanes tile in `r` (one vector per row) transposed: log2(lanes) rounds, each
  // swapping the off-diagonal blocks of size h inside every 2h x 2h block with two-source
  // shuffles (lanes / 2 pairs of rows per round).
  SmallVector<Value> transpose_tile(SmallVector<Value> r) {
    int n = static_cast<int>(r.size());
    for (int h = n / 2; h >= 1; h /= 2)
      for (int i = 0; i < n; ++i) {
        if (i & h) continue;
        SmallVector<int64_t> lo, hi;
        for (int j = 0; j < n; ++j) {
          lo.push_back((j & h) ? n + j - h : j);
          hi.push_back((j & h) ? n + j : j + h);
        }
        Value a = r[i], bb = r[i + h];
        r[i] = b.create<vector::ShuffleOp>(loc, a, bb, lo);
        r[i + h] = b.create<vector::ShuffleOp>(loc, a, bb, hi);
      }
    return r;
  }

  // Bp[p, k, j] for k in [0, kend) (a multiple of lanes) from a gathered B (transposed_pack):
  // per `lanes` rows and `lanes` columns, one vector load along k per column (a contiguous run
  // of the source), the tile transposed in registers, one store per row. Per-lane gathers
  // instead would touch `lanes` far-apart cache lines per vector (the transposed cotangent:
  // a stride of N H W elements).
  void pack_b_transposed(Value Bp, Value jc, Value kc, Value kend, Value panels) {
    const Gathered& g = *c.gb;
    auto st = cast<MemRefType>(g.src.getType());
    auto vt = VectorType::get({s.lanes}, st.getElementType());
    int64_t ncols = 1;
    for (int64_t d : g.cols) ncols *= d;
    Value vzero = constant(DenseElementsAttr::get(vt, b.getFloatAttr(st.getElementType(), 0.0)));
    auto k_loop = b.create<scf::ForOp>(loc, cidx(0), kend, cidx(s.lanes));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(k_loop.getBody()->getTerminator());
    Value k0 = k_loop.getInductionVar();
    SmallVector<Value> rdims = delinearize(add(kc, k0), g.rows);
    auto p_loop = b.create<scf::ForOp>(loc, cidx(0), panels, cidx(1));
    b.setInsertionPoint(p_loop.getBody()->getTerminator());
    Value p = p_loop.getInductionVar();
    Value n0 = add(jc, mul(p, cidx(s.nr)));
    for (int jb = 0; jb < s.nv; ++jb) {
      SmallVector<Value> tile;
      for (int l = 0; l < s.lanes; ++l) {
        Value col = add(n0, cidx(jb * s.lanes + l));
        // Columns past N: a valid column's row, zeroed.
        Value inside = ult(col, cidx(ncols));
        SmallVector<Value> dims(rdims);
        dims.append(delinearize(min(col, cidx(ncols - 1)), g.cols));
        SmallVector<Value> idx;
        for (AffineExpr e : g.map.getResults()) idx.push_back(expand(e, dims, b.getIndexType()));
        Value v = b.create<vector::LoadOp>(loc, vt, g.src, idx);
        tile.push_back(b.create<arith::SelectOp>(loc, inside, v, vzero));
      }
      tile = transpose_tile(tile);
      for (int m = 0; m < s.lanes; ++m)
        b.create<vector::StoreOp>(loc, tile[m], Bp, ValueRange{p, add(k0, cidx(m)), cidx(jb * s.lanes)});
    }
  }

  // Bp[p, k2, 2 j + t] = B[kc + 2 k2 + t, jc + p * NR + j], zero past N and past the block's K:
  // the rows k and k + 1 interleaved, the layout of vdpbf16ps's second operand (lane j gets
  // a[2j] * b[2j] + a[2j+1] * b[2j+1]). Rows of B outermost, as in pack_b.
  void pack_b_pairs(Value B, Value Bp, Value jc, Value kc, Value kcl, Value panels) {
    Value zero = cidx(0), one = cidx(1);
    auto k_loop = b.create<scf::ForOp>(loc, zero, ceil_div(kcl, cidx(2)), one);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(k_loop.getBody()->getTerminator());
    Value k2 = k_loop.getInductionVar();
    // An odd block's last pair has one row: the second half is zero.
    auto [kk, kk1, second] = pair_rows(kc, kcl, k2);
    auto p_loop = b.create<scf::ForOp>(loc, zero, panels, one);
    b.setInsertionPoint(p_loop.getBody()->getTerminator());
    Value p = p_loop.getInductionVar();
    Value n0 = add(jc, mul(p, cidx(s.nr)));
    Type bt = cast<MemRefType>(B.getType()).getElementType();
    auto vt = VectorType::get({s.lanes}, bt);
    auto it = VectorType::get({s.lanes}, b.getI16Type());
    Value izero = constant(DenseElementsAttr::get(it, b.getI16IntegerAttr(0)));
    for (int j = 0; j < s.nv; ++j) {
      Value nj = add(n0, cidx(j * s.lanes));
      auto row = [&](Value k) {
        Value v = b.create<vector::TransferReadOp>(loc, vt, B, indices(bmap, {{c.k, k}, {c.n, nj}}), fzero(bt),
                                                   ArrayRef<bool>{false});
        return b.create<vector::BitCastOp>(loc, it, v).getResult();
      };
      Value hi = b.create<arith::SelectOp>(loc, second, row(kk1), izero);
      b.create<vector::StoreOp>(loc, interleave_pair(row(kk), hi, bt), Bp, ValueRange{p, k2, cidx(2 * j * s.lanes)});
    }
  }

  // Ap[q, k, r] = A[ic + q * MR + r, kc + k] (zero past M; those rows are never stored): a
  // transposed A's rows of this block, copied once for all the panels. Read in place, each k of
  // a tile is a new cache line at a large stride, again for every panel; packed, the tile's
  // values for one k are adjacent. One vector per (sliver, k), read along m.
  // With `dot`: Ap[q, k2, 2 r + t] = A[ic + q * MR + r, kc + 2 k2 + t] (bf16; zero past M and
  // past the block's K): each row's two consecutive k side by side, what the micro-kernel
  // broadcasts as one 32-bit value; two such vectors interleaved per pair of k.
  void pack_a(Value A, Value M, Value kc, Value kcl, Value mcl, Value ic) {
    auto q_loop = b.create<scf::ForOp>(loc, cidx(0), ceil_div(mcl, cidx(s.mr)), cidx(1));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(q_loop.getBody()->getTerminator());
    Value q = q_loop.getInductionVar();
    Value m0 = add(ic, mul(q, cidx(s.mr)));
    // A as [k, m]: m is its contiguous last index.
    AffineMap swap = AffineMap::getPermutationMap(ArrayRef<unsigned>{1, 0}, b.getContext());
    Value at = b.create<memref::TransposeOp>(loc, A, AffineMapAttr::get(swap));
    int sw = sliver_width();
    Type a_elt = cast<MemRefType>(A.getType()).getElementType();
    // Lanes past this sliver's MR rows (and past M) are zero.
    Value lanes = min(cidx(s.mr), sub(M, m0));
    Value mask = b.create<vector::CreateMaskOp>(loc, VectorType::get({sw}, b.getI1Type()), ValueRange{lanes});
    auto read = [&](Value k) -> Value {
      return b.create<vector::TransferReadOp>(
          loc, VectorType::get({sw}, a_elt), at, ValueRange{k, m0},
          AffineMapAttr::get(AffineMap::getMinorIdentityMap(2, 1, b.getContext())), fzero(a_elt), mask,
          b.getBoolArrayAttr({false}));
    };
    if (!c.dot) {
      auto k_loop = b.create<scf::ForOp>(loc, cidx(0), kcl, cidx(1));
      b.setInsertionPoint(k_loop.getBody()->getTerminator());
      Value k = k_loop.getInductionVar();
      b.create<vector::StoreOp>(loc, to_acc(read(add(kc, k))), apack, ValueRange{q, k, cidx(0)});
      return;
    }
    auto k_loop = b.create<scf::ForOp>(loc, cidx(0), ceil_div(kcl, cidx(2)), cidx(1));
    b.setInsertionPoint(k_loop.getBody()->getTerminator());
    Value k2 = k_loop.getInductionVar();
    auto [kk, kk1, second] = pair_rows(kc, kcl, k2);
    auto it = VectorType::get({sw}, b.getI16Type());
    Value lo = b.create<vector::BitCastOp>(loc, it, read(kk));
    Value hi = b.create<arith::SelectOp>(loc, second, b.create<vector::BitCastOp>(loc, it, read(kk1)),
                                         constant(DenseElementsAttr::get(it, b.getI16IntegerAttr(0))));
    b.create<vector::StoreOp>(loc, interleave_pair(lo, hi, a_elt), apack, ValueRange{q, k2, cidx(0)});
  }

  // The rows of pair k2 of a K block: kc + 2 k2, the next one when it is in the block (else the
  // same row again, never read past the block or past the operand), and whether it is.
  std::tuple<Value, Value, Value> pair_rows(Value kc, Value kcl, Value k2) {
    Value k0 = mul(k2, cidx(2));
    Value second = ult(add(k0, cidx(1)), kcl);
    Value kk = add(kc, k0);
    return {kk, b.create<arith::SelectOp>(loc, second, add(kk, cidx(1)), kk), second};
  }

  // Two i16 vectors (the bits of rows k and k + 1) interleaved, [lo0, hi0, lo1, hi1, ...], as
  // a vector of `elt`: the pairs vdpbf16ps multiplies.
  Value interleave_pair(Value lo, Value hi, Type elt) {
    int64_t n = cast<VectorType>(lo.getType()).getNumElements();
    SmallVector<int64_t> order;
    for (int64_t j = 0; j < n; ++j) {
      order.push_back(j);
      order.push_back(j + n);
    }
    Value pair = b.create<vector::ShuffleOp>(loc, lo, hi, order);
    return b.create<vector::BitCastOp>(loc, VectorType::get({2 * n}, elt), pair);
  }

  // Ac[r, k] = A[ic + r, kc + k] in C's type, for the block's mcl rows and kcl columns: one
  // vector conversion per `lanes` elements, where the micro-kernel would otherwise widen every
  // element it broadcasts, once per panel.
  void convert_a(Value A, Value kc, Value kcl, Value mcl, Value ic) {
    block_row0 = ic;
    auto r_loop = b.create<scf::ForOp>(loc, cidx(0), mcl, cidx(1));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(r_loop.getBody()->getTerminator());
    Value r = r_loop.getInductionVar();
    auto k_loop = b.create<scf::ForOp>(loc, cidx(0), kcl, cidx(s.lanes));
    b.setInsertionPoint(k_loop.getBody()->getTerminator());
    Value k = k_loop.getInductionVar();
    Type a_elt = cast<MemRefType>(A.getType()).getElementType();
    // Lanes past the block's kcl columns are read (zero past A's end) and written (dropped past
    // KC); the micro-kernel reads only the first kcl.
    Value v = b.create<vector::TransferReadOp>(loc, VectorType::get({s.lanes}, a_elt), A,
                                               indices(amap, {{c.m, add(ic, r)}, {c.k, add(kc, k)}}), fzero(a_elt),
                                               ArrayRef<bool>{false});
    b.create<vector::TransferWriteOp>(loc, to_acc(v), aconv, ValueRange{r, k}, ArrayRef<bool>{false});
  }

  void row_block(Value A, Value C, Value Bp, Value M, Value N, Value jc, Value kc, Value kcl, Value panels, Value ic) {
    Value mcl = min(cidx(s.mc), sub(M, ic));
    if (apack) pack_a(A, M, kc, kcl, mcl, ic);
    if (aconv) convert_a(A, kc, kcl, mcl, ic);
    auto p_loop = b.create<scf::ForOp>(loc, cidx(0), panels, cidx(1));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(p_loop.getBody()->getTerminator());
    Value p = p_loop.getInductionVar();
    Value n0 = add(jc, mul(p, cidx(s.nr)));
    auto ir_loop = b.create<scf::ForOp>(loc, cidx(0), mcl, cidx(s.mr));
    b.setInsertionPoint(ir_loop.getBody()->getTerminator());
    Value m0 = add(ic, ir_loop.getInductionVar());
    if (apack) sliver = b.createOrFold<arith::DivUIOp>(loc, ir_loop.getInductionVar(), cidx(s.mr));
    micro_kernel(A, C, Bp, M, N, kc, kcl, p, m0, n0);
  }

  // vdpbf16ps: acc[i] += a[2i] * b[2i] + a[2i+1] * b[2i+1] (f32 lanes, bf16 pairs).
  Value dot(Value acc, Value a, Value bv) {
    return b.create<LLVM::CallIntrinsicOp>(loc, acc.getType(), "llvm.x86.avx512bf16.dpbf16ps.512",
                                           ValueRange{acc, a, bv})
        .getResult(0);
  }

  // A 32-bit value broadcast to every lane pair: vector<2 lanes x bf16>.
  Value broadcast_pair(Value bits) {
    auto it = VectorType::get({s.lanes}, b.getI32Type());
    Value v = b.create<vector::BroadcastOp>(loc, it, bits);
    return b.create<vector::BitCastOp>(loc, VectorType::get({2 * s.lanes}, BFloat16Type::get(b.getContext())), v);
  }

  // The K loop of the vdpbf16ps kernel: per pair of k, NV loads of interleaved B and per row one
  // 32-bit broadcast of A's two consecutive elements; an odd last k pairs A's element with zero.
  Operation* dot_k_loop(Value A, Value Bp, Value kc, Value kcl, Value p, ArrayRef<Value> rows, ArrayRef<Value> init) {
    auto pt = VectorType::get({2 * s.lanes}, BFloat16Type::get(b.getContext()));
    // Packed A (pack_a with dot) has zeros in an odd block's last pair, as Bp does: every pair is
    // whole, no tail.
    Value pairs = apack ? ceil_div(kcl, cidx(2)) : b.createOrFold<arith::DivUIOp>(loc, kcl, cidx(2));
    auto load_b = [&](Value k2) {
      SmallVector<Value> bv;
      for (int j = 0; j < s.nv; ++j)
        bv.push_back(b.create<vector::LoadOp>(loc, pt, Bp, ValueRange{p, k2, cidx(2 * j * s.lanes)}));
      return bv;
    };
    auto loop = b.create<scf::ForOp>(
        loc, cidx(0), pairs, cidx(1), init, [&](OpBuilder& nb, Location, Value k2, ValueRange acc) {
          OpBuilder::InsertionGuard g(b);
          b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          SmallVector<Value> bv = load_b(k2);
          Value kk = add(kc, mul(k2, cidx(2)));
          SmallVector<Value> next;
          for (int r = 0; r < s.mr; ++r) {
            auto two = VectorType::get({2}, BFloat16Type::get(b.getContext()));
            Value a2 = apack ? b.create<vector::LoadOp>(loc, two, apack, ValueRange{sliver, k2, cidx(2 * r)}).getResult()
                             : b.create<vector::LoadOp>(loc, two, A, indices(amap, {{c.m, rows[r]}, {c.k, kk}})).getResult();
            Value bits = b.create<vector::BitCastOp>(loc, VectorType::get({1}, b.getI32Type()), a2);
            Value av = broadcast_pair(b.create<vector::ExtractOp>(loc, bits, ArrayRef<int64_t>{0}));
            for (int j = 0; j < s.nv; ++j) next.push_back(dot(acc[r * s.nv + j], av, bv[j]));
          }
          b.create<scf::YieldOp>(loc, next);
        });
    if (apack) return loop.getOperation();
    // The odd k: the pair (A[m, k], 0) against the last packed pair (B[k, n], 0).
    Value odd = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne, b.createOrFold<arith::RemUIOp>(loc, kcl, cidx(2)),
                                        cidx(0));
    auto tail = b.create<scf::IfOp>(loc, TypeRange(ValueRange(init)), odd, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(tail.thenBlock());
    SmallVector<Value> bv = load_b(pairs);
    Value kk = add(kc, sub(kcl, cidx(1)));
    SmallVector<Value> next;
    for (int r = 0; r < s.mr; ++r) {
      Value a = b.create<memref::LoadOp>(loc, A, indices(amap, {{c.m, rows[r]}, {c.k, kk}}));
      Value bits = b.create<arith::ExtUIOp>(loc, b.getI32Type(), b.create<arith::BitcastOp>(loc, b.getI16Type(), a));
      Value av = broadcast_pair(bits);
      for (int j = 0; j < s.nv; ++j) next.push_back(dot(loop.getResult(r * s.nv + j), av, bv[j]));
    }
    b.create<scf::YieldOp>(loc, next);
    b.setInsertionPointToStart(tail.elseBlock());
    b.create<scf::YieldOp>(loc, loop.getResults());
    return tail.getOperation();
  }

  void micro_kernel(Value A, Value C, Value Bp, Value M, Value N, Value kc, Value kcl, Value p, Value m0, Value n0) {
    auto vt = VectorType::get({s.lanes}, c.acc);
    Value vzero = constant(DenseElementsAttr::get(vt, b.getFloatAttr(c.acc, 0.0)));
    SmallVector<Value> init(s.mr * s.nv, vzero);
    // The K loop over the given rows of A.
    auto k_loop = [&](ArrayRef<Value> rows) -> Operation* {
      if (c.dot) return dot_k_loop(A, Bp, kc, kcl, p, rows, init);
      return b.create<scf::ForOp>(
          loc, cidx(0), kcl, cidx(1), init, [&](OpBuilder& nb, Location, Value k, ValueRange acc) {
            OpBuilder::InsertionGuard g(b);
            b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
            SmallVector<Value> bv;
            for (int j = 0; j < s.nv; ++j)
              bv.push_back(b.create<vector::LoadOp>(loc, vt, Bp, ValueRange{p, k, cidx(j * s.lanes)}));
            Value kk = add(kc, k);
            SmallVector<Value> next;
            for (int r = 0; r < s.mr; ++r) {
              Value a = apack ? b.create<memref::LoadOp>(loc, apack, ValueRange{sliver, k, cidx(r)}).getResult()
                      : aconv ? b.create<memref::LoadOp>(loc, aconv, ValueRange{sub(rows[r], block_row0), k}).getResult()
                              : b.create<memref::LoadOp>(loc, A, indices(amap, {{c.m, rows[r]}, {c.k, kk}})).getResult();
              Value av = b.create<vector::BroadcastOp>(loc, vt, to_acc(a));
              for (int j = 0; j < s.nv; ++j)
                next.push_back(b.create<vector::FMAOp>(loc, av, bv[j], acc[r * s.nv + j]));
            }
            b.create<scf::YieldOp>(loc, next);
          }).getOperation();
    };
    // All MR rows inside A: rows m0 + r, at fixed offsets from one another (one address per k
    // when A's rows are contiguous, as in a transposed A). Otherwise rows past M read row M - 1
    // (their results are not stored).
    // (Packed A: the packing zeroed the rows past M, so one loop.)
    Operation* packed_loop = apack ? k_loop({}) : nullptr;
    auto rows_inside = apack ? scf::IfOp()
                             : b.create<scf::IfOp>(loc, TypeRange(ValueRange(init)), ule(add(m0, cidx(s.mr)), M),
                                                   /*withElseRegion=*/true);
    if (rows_inside) {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(rows_inside.thenBlock());
      SmallVector<Value> rows;
      for (int r = 0; r < s.mr; ++r) rows.push_back(add(m0, cidx(r)));
      b.create<scf::YieldOp>(loc, k_loop(rows)->getResults());
      b.setInsertionPointToStart(rows_inside.elseBlock());
      Value last_row = sub(M, cidx(1));
      rows.clear();
      for (int r = 0; r < s.mr; ++r) rows.push_back(min(add(m0, cidx(r)), last_row));
      b.create<scf::YieldOp>(loc, k_loop(rows)->getResults());
    }
    ValueRange acc = apack ? packed_loop->getResults() : rows_inside.getResults();
    // C += acc: whole tiles with plain vector accesses; an edge tile goes through `scratch`, and
    // its min(MR, M - m0) valid rows are added with masked vector accesses (a loop over rows:
    // little code for a rare case).
    // With overwrite_first, the first K block (kc == 0) stores the sums: C holds no values yet.
    Value first = c.overwrite_first ? b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, kc, cidx(0)) : Value();
    Value full = b.create<arith::AndIOp>(loc, ule(add(m0, cidx(s.mr)), M), ule(add(n0, cidx(s.nr)), N));
    auto branch = b.create<scf::IfOp>(loc, full, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(branch.thenBlock()->getTerminator());
    auto store_tile = [&](bool add_old) {
      for (int r = 0; r < s.mr; ++r) {
        for (int j = 0; j < s.nv; ++j) {
          SmallVector<Value> idx = indices(cmap, {{c.m, add(m0, cidx(r))}, {c.n, add(n0, cidx(j * s.lanes))}});
          Value sum = acc[r * s.nv + j];
          if (add_old) {
            Value old = b.create<vector::TransferReadOp>(loc, vt, C, idx, fzero(c.acc), ArrayRef<bool>{true});
            sum = b.create<arith::AddFOp>(loc, old, sum);
          }
          b.create<vector::TransferWriteOp>(loc, sum, C, idx, ArrayRef<bool>{true});
        }
      }
    };
    if (first) {
      auto which = b.create<scf::IfOp>(loc, first, /*withElseRegion=*/true);
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPoint(which.thenBlock()->getTerminator());
      store_tile(false);
      b.setInsertionPoint(which.elseBlock()->getTerminator());
      store_tile(true);
    } else {
      store_tile(true);
    }
    b.setInsertionPoint(branch.elseBlock()->getTerminator());
    for (int r = 0; r < s.mr; ++r)
      for (int j = 0; j < s.nv; ++j)
        b.create<vector::StoreOp>(loc, acc[r * s.nv + j], scratch, ValueRange{cidx(r), cidx(j * s.lanes)});
    Value rows_left = min(cidx(s.mr), sub(M, m0));
    auto r_loop = b.create<scf::ForOp>(loc, cidx(0), rows_left, cidx(1));
    b.setInsertionPoint(r_loop.getBody()->getTerminator());
    Value r = r_loop.getInductionVar();
    for (int j = 0; j < s.nv; ++j) {
      SmallVector<Value> idx = indices(cmap, {{c.m, add(m0, r)}, {c.n, add(n0, cidx(j * s.lanes))}});
      Value part = b.create<vector::LoadOp>(loc, vt, scratch, ValueRange{r, cidx(j * s.lanes)});
      Value old = b.create<vector::TransferReadOp>(loc, vt, C, idx, fzero(c.acc), ArrayRef<bool>{false});
      // (First K block of a zero-filled C: whatever C holds is replaced.)
      if (first) old = b.create<arith::SelectOp>(loc, first, constant(DenseElementsAttr::get(vt, b.getFloatAttr(c.acc, 0.0))), old);
      Value sum = b.create<arith::AddFOp>(loc, old, part);
      b.create<vector::TransferWriteOp>(loc, sum, C, idx, ArrayRef<bool>{false});
    }
  }
};

Sizes sizes_for(const MatmulScheduleOptions& o, Type acc) {
  Sizes s;
  int bits = o.vector_bits >= 512 ? 512 : o.vector_bits >= 256 ? 256 : 128;
  s.lanes = bits / acc.getIntOrFloatBitWidth();
  // 32 zmm registers: 6 x 4 vectors = 24 accumulators + 4 of B + 1 broadcast; per k, 10 loads
  // feed 24 FMAs. 16 ymm / xmm registers: 6 x 2 = 12 accumulators + 2 + 1. (Measured on AVX-512:
  // 6 x 4 beat 8 x 2, 8 x 3, 12 x 2 and 14 x 2; docs/tile_ir.md.)
  s.mr = o.mr > 0 ? o.mr : 6;
  s.nv = o.nv > 0 ? o.nv : bits == 512 ? 4 : 2;
  s.nr = s.nv * s.lanes;
  s.kc = o.kc > 0 ? o.kc : 256;
  int mc = o.mc > 0 ? o.mc : 96;
  s.mc = std::max(s.mr, mc / s.mr * s.mr);
  int nc = o.nc > 0 ? o.nc : 1024;
  s.nc = std::max(s.nr, nc / s.nr * s.nr);
  return s;
}

// A contraction with a static N narrower than the default panel (a classifier's N = 10 against
// NR = 64 f32 lanes) gets a kernel of ceil(N / lanes) vectors per row and correspondingly more
// rows (the same accumulator count, at most 12 rows): the default would compute 64 columns for
// 10, padding included. Options set explicitly are kept.
Sizes narrow(Sizes s, const MatmulScheduleOptions& o, const Contraction& c) {
  auto ct = cast<MemRefType>(c.op->getOperand(2).getType());
  if (o.nv > 0 || ct.isDynamicDim(ct.getRank() - 1)) return s;
  int64_t n = ct.getDimSize(ct.getRank() - 1);
  int nv = static_cast<int>(std::max<int64_t>(1, (n + s.lanes - 1) / s.lanes));
  if (nv >= s.nv) return s;
  if (o.mr <= 0) s.mr = std::min(12, s.mr * s.nv / nv);
  s.nv = nv;
  s.nr = nv * s.lanes;
  s.mc = std::max(s.mr, s.mc / s.mr * s.mr);
  s.nc = std::max(s.nr, s.nc / s.nr * s.nr);
  return s;
}

// A static K a little over a multiple of KC (784 = 3 x 256 + 16) is cut into equal blocks
// instead (4 x 196): a last block of a few k would load and store every C tile for little work.
// A KC set explicitly is kept.
Sizes balance_k(Sizes s, const MatmulScheduleOptions& o, const Contraction& c) {
  if (o.kc > 0) return s;
  linalg::LinalgOp op = c.op;
  for (OpOperand& operand : op->getOpOperands()) {
    auto t = dyn_cast<MemRefType>(operand.get().getType());
    AffineMap map = op.getMatchingIndexingMap(&operand);
    for (unsigned r = 0; t && r < map.getNumResults(); ++r) {
      auto de = dyn_cast<AffineDimExpr>(map.getResult(r));
      if (!de || de.getPosition() != c.k || t.isDynamicDim(r)) continue;
      int64_t k = t.getDimSize(r), blocks = (k + s.kc - 1) / s.kc;
      if (blocks > 1) s.kc = static_cast<int>(((k + blocks - 1) / blocks + 3) / 4 * 4);
      return s;
    }
  }
  return s;
}

// The static stride of loop d in an operand (through its map), or nullopt.
std::optional<int64_t> stride_of(const Contraction& c, unsigned operand, unsigned d) {
  linalg::LinalgOp op = c.op;
  auto t = cast<MemRefType>(op->getOperand(operand).getType());
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(getStridesAndOffset(t, strides, offset))) return std::nullopt;
  AffineMap map = op.getMatchingIndexingMap(&op->getOpOperand(operand));
  for (auto [r, e] : llvm::enumerate(map.getResults()))
    if (auto de = dyn_cast<AffineDimExpr>(e); de && de.getPosition() == d) {
      if (ShapedType::isDynamic(strides[r])) return std::nullopt;
      return strides[r];
    }
  return std::nullopt;
}

// Which GEMV form a contraction takes (Contraction::gemv): C with a static N of 1 (A @ v) or a
// static M of 1 (v @ B), the output's index contiguous for the axpy form.
Contraction::Gemv gemv_kind(const Contraction& c) {
  auto is1v = [](std::optional<int64_t> s) { return s && *s == 1; };
  if (c.vec_out) {
    if (is1v(stride_of(c, c.mat_operand, c.m)) && is1v(stride_of(c, 2, c.m))) return Contraction::Gemv::axpy_n1;
    if (is1v(stride_of(c, c.mat_operand, c.k))) return Contraction::Gemv::dot_n1;
    return Contraction::Gemv::none;
  }
  auto ct = cast<MemRefType>(c.op->getOperand(2).getType());
  int64_t n = ct.getDimSize(ct.getRank() - 1), m = ct.getDimSize(ct.getRank() - 2);
  auto is1 = [](std::optional<int64_t> s) { return s && *s == 1; };
  if (n == 1) {
    if (is1(stride_of(c, 0, c.m)) && is1(stride_of(c, 2, c.m))) return Contraction::Gemv::axpy_n1;
    if (is1(stride_of(c, 0, c.k))) return Contraction::Gemv::dot_n1;
    return Contraction::Gemv::none;
  }
  if (m == 1 && is1(stride_of(c, 1, c.n)) && is1(stride_of(c, 2, c.n))) return Contraction::Gemv::axpy_m1;
  return Contraction::Gemv::none;
}

// The `linalg.fill` of 0 into C right before the contraction, when the contraction has a static
// K > 0 (an empty K would leave C unwritten without the fill); null otherwise.
linalg::FillOp zero_fill_of(const Contraction& c, bool any_k = false) {
  auto fill = dyn_cast_or_null<linalg::FillOp>(c.op->getPrevNode());
  linalg::LinalgOp op = c.op;
  Value C = op.getDpsInits()[0];
  if (!fill || !fill.hasPureBufferSemantics() || fill.getDpsInits()[0] != C ||
      !matchPattern(fill.getInputs()[0], m_AnyZeroFloat()))
    return nullptr;
  if (any_k) return fill;
  for (OpOperand& operand : op->getOpOperands()) {
    AffineMap map = op.getMatchingIndexingMap(&operand);
    auto t = dyn_cast<MemRefType>(operand.get().getType());
    for (unsigned r = 0; t && r < map.getNumResults(); ++r)
      if (auto de = dyn_cast<AffineDimExpr>(map.getResult(r)); de && de.getPosition() == c.k)
        return !t.isDynamicDim(r) && t.getDimSize(r) > 0 ? fill : nullptr;
  }
  return nullptr;
}

struct MatmulSchedulePass : PassWrapper<MatmulSchedulePass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(MatmulSchedulePass)

  MatmulSchedulePass() = default;
  MatmulSchedulePass(const MatmulSchedulePass& other) : PassWrapper(other) {}
  explicit MatmulSchedulePass(const MatmulScheduleOptions& o) {
    vectorBits = o.vector_bits;
    mr = o.mr;
    nv = o.nv;
    kc = o.kc;
    mc = o.mc;
    nc = o.nc;
    bf16Dot = o.bf16_dot;
  }

  StringRef getArgument() const override { return "tessera-matmul-schedule"; }
  StringRef getDescription() const override {
    return "Cache-blocked, B-packed, register-blocked vector loop nests for contractions on buffers";
  }
  void getDependentDialects(DialectRegistry& registry) const override {
    registry.insert<arith::ArithDialect, func::FuncDialect, LLVM::LLVMDialect, memref::MemRefDialect,
                    scf::SCFDialect, vector::VectorDialect>();
  }

  Option<int> vectorBits{*this, "vector-bits", llvm::cl::desc("Vector register width: 128, 256 or 512"),
                         llvm::cl::init(512)};
  Option<int> mr{*this, "mr", llvm::cl::desc("Rows of the micro-kernel (0: default)"), llvm::cl::init(0)};
  Option<int> nv{*this, "nv", llvm::cl::desc("Vectors per micro-kernel row (0: default)"), llvm::cl::init(0)};
  Option<int> kc{*this, "kc", llvm::cl::desc("K block (0: default)"), llvm::cl::init(0)};
  Option<int> mc{*this, "mc", llvm::cl::desc("M block (0: default)"), llvm::cl::init(0)};
  Option<int> nc{*this, "nc", llvm::cl::desc("N block (0: default)"), llvm::cl::init(0)};
  Option<bool> bf16Dot{*this, "bf16-dot", llvm::cl::desc("bf16 x bf16 -> f32 with vdpbf16ps (AVX512-BF16)"),
                       llvm::cl::init(false)};

  void runOnOperation() override {
    MatmulScheduleOptions o{vectorBits, mr, nv, kc, mc, nc, bf16Dot};
    std::vector<Contraction> todo;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (auto c = match(op)) todo.push_back(*c);
      else if (auto v = match_vec_out(op)) todo.push_back(*v);
    });
    for (Contraction& c : todo) {
      c.gemv = gemv_kind(c);
      if (c.vec_out && c.gemv == Contraction::Gemv::none) continue;  // the default lowering
      if (c.gemv != Contraction::Gemv::none) {
        Sizes s = sizes_for(o, c.acc);
        // The GEMV forms write every output element for any K (an empty K writes zeros), so a
        // zero fill of C goes whatever K is (a GEMV chain's chunk has a dynamic K).
        if (linalg::FillOp fill = zero_fill_of(c, /*any_k=*/true)) {
          c.overwrite_first = true;
          fill->erase();
        }
        OpBuilder b(c.op);
        Builder(b, c.op->getLoc(), c, s, c.op->getParentOfType<func::FuncOp>()).build();
        c.op->erase();
        continue;
      }
      Sizes s = narrow(sizes_for(o, c.acc), o, c);
      c.dot = o.bf16_dot && s.lanes == 16 && bf16_dot_operands(c, s.nr);
      // vdpbf16ps: twice the K block (the same bytes of packed bf16 B per panel as the f32
      // kernel's, half the passes over C): 1024^3 went from 0.85-0.9x to 0.95-1.05x PyTorch's
      // oneDNN on AMD EPYC with AVX512-BF16 (docs/tile_ir.md).
      if (c.dot && o.kc <= 0) s.kc *= 2;
      s = balance_k(s, o, c);
      find_gathered(c, s);
      // (A gathered: the micro-kernels see each K block from its column 0, so C is not
      // overwritten by "the first block".)
      if (linalg::FillOp fill = c.ga ? nullptr : zero_fill_of(c)) {
        c.overwrite_first = true;
        fill->erase();
      }
      OpBuilder b(c.op);
      Builder(b, c.op->getLoc(), c, s, c.op->getParentOfType<func::FuncOp>()).build();
      c.op->erase();
      // The gathers are read where the operands are packed: they and their buffers go.
      Operation* ga = c.ga ? c.ga->gather : nullptr;
      Operation* gb = c.gb ? c.gb->gather : nullptr;
      if (ga) {
        unused.insert(c.ga->alloc);
        ga->erase();
      }
      if (gb && gb != ga) {
        unused.insert(c.gb->alloc);
        gb->erase();
      }
    }
    for (Value alloc : unused) erase_if_unused(alloc);
  }

  llvm::SetVector<Value> unused;

  // A and B of a GEMM (f32 or f64 operands, no outer loops, 2-D operands) read through the gather
  // that wrote them (match_gathered). A only in the row-parallel form with a static M (its K
  // block of rows is a [M, KC] buffer that the row blocks fill, each its own rows).
  static void find_gathered(Contraction& c, const Sizes& s) {
    if (c.dot || !c.outer.empty()) return;
    linalg::LinalgOp op = c.op;
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    auto is = [](AffineMap map, unsigned r0, unsigned r1) {
      return map.getNumResults() == 2 && map.getResult(0) == getAffineDimExpr(r0, map.getContext()) &&
             map.getResult(1) == getAffineDimExpr(r1, map.getContext());
    };
    // (Operands of C's type only: bf16 gathers would need the i16 forms of the masked accesses.)
    auto bt = cast<MemRefType>(op->getOperand(1).getType());
    if (is(maps[1], c.k, c.n) && bt.getElementType() == c.acc) c.gb = match_gathered(op, 1);
    auto at = cast<MemRefType>(op->getOperand(0).getType());
    auto ct = cast<MemRefType>(op->getOperand(2).getType());
    if (!is(maps[0], c.m, c.k) || at.getElementType() != c.acc || at.isDynamicDim(0)) return;
    int64_t m = at.getDimSize(0);
    int64_t n = ct.getDimSize(ct.getRank() - 1);
    bool column_parallel = (m + s.mc - 1) / s.mc < 4 && (ShapedType::isDynamic(n) || n >= 2 * s.nc);
    if (column_parallel || m * s.kc * 4 > (int64_t{16} << 20)) return;
    c.ga = match_gathered(op, 0);
  }

  // Erases `alloc`, its views and its deallocs when nothing else uses it.
  static void erase_if_unused(Value alloc) {
    SmallVector<Operation*> ops;
    SmallVector<Value> work{alloc};
    while (!work.empty()) {
      Value v = work.pop_back_val();
      for (Operation* user : v.getUsers()) {
        if (isa<memref::DeallocOp>(user)) ops.push_back(user);
        else if (auto view = dyn_cast<ViewLikeOpInterface>(user); view && view.getViewSource() == v) {
          ops.push_back(user);
          for (Value r : user->getResults()) work.push_back(r);
        } else return;
      }
    }
    for (Operation* op : llvm::reverse(ops)) op->erase();
    alloc.getDefiningOp()->erase();
  }

};

}  // namespace

std::unique_ptr<Pass> createMatmulSchedulePass(const MatmulScheduleOptions& options) {
  return std::make_unique<MatmulSchedulePass>(options);
}

void registerMatmulSchedulePass() { PassRegistration<MatmulSchedulePass>(); }

}  // namespace tessera::ir
