// `--tessera-parallel-to-runtime`: see ParallelToRuntime.h.
//
// The captured values travel in an LLVM struct: an index as i64, a memref as its LLVM
// descriptor (through builtin.unrealized_conversion_cast, which the memref and func
// conversions later cancel against their own casts), other scalars as they are. The struct is
// an llvm.alloca in the entry block of the enclosing function, so a parallel loop inside a
// sequential one does not grow the stack.
#include "ir/tile/ParallelToRuntime.h"

#include <cmath>
#include <map>
#include <optional>
#include <string>

#include <mlir/Conversion/LLVMCommon/TypeConverter.h>
#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/Dialect/LLVMIR/LLVMDialect.h>
#include <mlir/Dialect/MemRef/IR/MemRef.h>
#include <mlir/Dialect/SCF/IR/SCF.h>
#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/IRMapping.h>
#include <mlir/IR/Matchers.h>
#include <mlir/Interfaces/CallInterfaces.h>
#include <mlir/IR/SymbolTable.h>
#include <mlir/Pass/Pass.h>
#include <mlir/Transforms/RegionUtils.h>

namespace tessera::ir {
namespace {

using namespace mlir;

constexpr const char* kRuntimeEntry = "tessParallelFor";

// The least estimated work (operations executed, see estimate_ops) one chunk of a parallel loop
// must hold before a thread is woken for it: about 20 us of one core's time (the digits CNN
// step: 8.2 M estimated operations in 1.1 ms). Waking a worker and joining it cost 5 to 50 us
// (docs/runtime.md, "Grain by estimated work").
constexpr double kMinChunkOps = 1 << 17;

// The value of an index or integer computed from constants only (arith on constants), if it is
// (nothing on overflow).
std::optional<int64_t> fold_index(Value v, int depth = 0) {
  APInt value;
  if (matchPattern(v, m_ConstantInt(&value))) return value.getSExtValue();
  Operation* def = v.getDefiningOp();
  if (!def || depth > 16) return std::nullopt;
  if (isa<arith::IndexCastOp, arith::IndexCastUIOp>(def)) return fold_index(def->getOperand(0), depth + 1);
  if (def->getNumOperands() != 2) return std::nullopt;
  std::optional<int64_t> a = fold_index(def->getOperand(0), depth + 1);
  if (!a) return std::nullopt;
  std::optional<int64_t> b = fold_index(def->getOperand(1), depth + 1);
  if (!b) return std::nullopt;
  int64_t r;
  if (isa<arith::AddIOp>(def)) return __builtin_add_overflow(*a, *b, &r) ? std::nullopt : std::optional(r);
  if (isa<arith::SubIOp>(def)) return __builtin_sub_overflow(*a, *b, &r) ? std::nullopt : std::optional(r);
  if (isa<arith::MulIOp>(def)) return __builtin_mul_overflow(*a, *b, &r) ? std::nullopt : std::optional(r);
  if (isa<arith::MinUIOp, arith::MinSIOp>(def)) return std::min(*a, *b);
  if (isa<arith::MaxUIOp, arith::MaxSIOp>(def)) return std::max(*a, *b);
  if (*b <= 0) return std::nullopt;
  if (isa<arith::DivUIOp, arith::DivSIOp>(def)) return *a / *b;
  if (isa<arith::CeilDivUIOp, arith::CeilDivSIOp>(def)) return (*a + *b - 1) / *b;
  if (isa<arith::RemUIOp, arith::RemSIOp>(def)) return *a % *b;
  return std::nullopt;
}

// An upper bound of the distance ub - lb (both non-negative indices): exact when both fold,
// else through ub = min(x, y) (the tighter of the two bounds known), ub = lb + c, or a constant ub.
std::optional<int64_t> span_bound(Value lb, Value ub, int depth = 0) {
  std::optional<int64_t> l = fold_index(lb), u = fold_index(ub);
  if (l && u) return *u - *l;
  if (depth > 8) return std::nullopt;
  Operation* def = ub.getDefiningOp();
  if (isa_and_nonnull<arith::MinUIOp, arith::MinSIOp>(def)) {
    std::optional<int64_t> a = span_bound(lb, def->getOperand(0), depth + 1);
    std::optional<int64_t> b = span_bound(lb, def->getOperand(1), depth + 1);
    if (a && b) return std::min(*a, *b);
    return a ? a : b;
  }
  if (isa_and_nonnull<arith::AddIOp>(def)) {
    if (def->getOperand(0) == lb) return fold_index(def->getOperand(1));
    if (def->getOperand(1) == lb) return fold_index(def->getOperand(0));
  }
  return u;  // lb >= 0
}

// The estimated cost of one operation without regions: 1, a vector 1 per 16 lanes, a math
// function 10.
double op_cost(Operation& op) {
  double lanes = 1;
  for (Type t : op.getResultTypes())
    if (auto v = dyn_cast<VectorType>(t)) lanes = std::max<double>(lanes, double(v.getNumElements()) / 16);
  if (op.getDialect() && op.getDialect()->getNamespace() == "math") return 10 * lanes;
  return lanes;
}

// A static estimate of the operations one execution of `region` runs: every operation counts
// op_cost, an scf.for multiplies its body by (an upper bound of) its trip count, an scf.if counts
// its costlier branch. Nothing when a trip count has no bound known at compile time, or for
// calls, scf.while and nested scf.parallel.
std::optional<double> estimate_ops(Region& region) {
  double total = 0;
  for (Block& block : region)
    for (Operation& op : block) {
      if (op.hasTrait<OpTrait::ConstantLike>() || op.hasTrait<OpTrait::IsTerminator>()) continue;
      if (auto loop = dyn_cast<scf::ForOp>(op)) {
        std::optional<int64_t> span = span_bound(loop.getLowerBound(), loop.getUpperBound());
        std::optional<int64_t> step = fold_index(loop.getStep());
        std::optional<double> body = estimate_ops(loop.getRegion());
        if (!span || !step || *step <= 0 || !body) return std::nullopt;
        total += double(std::max<int64_t>(0, (*span + *step - 1) / *step)) * (*body + 1);
        continue;
      }
      if (auto branch = dyn_cast<scf::IfOp>(op)) {
        std::optional<double> then = estimate_ops(branch.getThenRegion());
        std::optional<double> other = branch.getElseRegion().empty() ? 0.0 : estimate_ops(branch.getElseRegion());
        if (!then || !other) return std::nullopt;
        total += 1 + std::max(*then, *other);
        continue;
      }
      // A call (the matmul schedule's micro-kernels are functions) does unknown work.
      if (isa<scf::WhileOp, scf::ParallelOp, CallOpInterface>(op)) return std::nullopt;
      total += op_cost(op);
      for (Region& inner : op.getRegions()) {
        std::optional<double> r = estimate_ops(inner);
        if (!r) return std::nullopt;
        total += *r;
      }
    }
  return total;
}

struct ParallelToRuntimePass : public PassWrapper<ParallelToRuntimePass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ParallelToRuntimePass)

  StringRef getArgument() const final { return "tessera-parallel-to-runtime"; }
  StringRef getDescription() const final { return "run outermost scf.parallel loops on the runtime's thread pool"; }
  void getDependentDialects(DialectRegistry& registry) const override {
    registry.insert<arith::ArithDialect, func::FuncDialect, LLVM::LLVMDialect, scf::SCFDialect>();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<scf::ParallelOp> loops;
    module.walk([&](scf::ParallelOp par) {
      if (!par->getParentOfType<scf::ParallelOp>() && par.getNumReductions() == 0 && par->getParentOfType<func::FuncOp>())
        loops.push_back(par);
    });
    if (loops.empty()) return;
    LLVMTypeConverter converter(&getContext());
    SymbolTable symbols(module);
    int counter = 0;
    SmallVector<func::FuncOp> outlined;
    for (scf::ParallelOp par : loops)
      if (func::FuncOp body = outline(par, converter, symbols, counter)) outlined.push_back(body);
    merge_identical(module, symbols, outlined);
  }

  // Outlined bodies that are the same function (a training step updates every parameter of one
  // shape with the same AdamW loop; a gradient repeats its forward's loops) are compiled once:
  // later copies are erased and their calls take the first. The structural hash only sorts
  // candidates; OperationEquivalence decides.
  static void merge_identical(ModuleOp module, SymbolTable& symbols, ArrayRef<func::FuncOp> bodies) {
    // Keyed by the full hash (std::map: any value is a valid key, unlike DenseMap's reserved ones).
    std::map<size_t, SmallVector<func::FuncOp>> by_hash;
    auto flags = OperationEquivalence::IgnoreLocations;
    for (func::FuncOp body : bodies) {
      llvm::hash_code hash = hash_value(body.getFunctionType());
      body.getBody().walk([&](Operation* op) {
        llvm::hash_code one = OperationEquivalence::computeHash(op, OperationEquivalence::ignoreHashValue,
                                                                OperationEquivalence::ignoreHashValue, flags);
        hash = llvm::hash_combine(hash, one);
      });
      SmallVector<func::FuncOp>& same = by_hash[static_cast<size_t>(hash)];
      func::FuncOp keep;
      for (func::FuncOp candidate : same)
        if (candidate.getFunctionType() == body.getFunctionType() &&
            OperationEquivalence::isRegionEquivalentTo(&candidate.getBody(), &body.getBody(), flags)) {
          keep = candidate;
          break;
        }
      if (!keep) {
        same.push_back(body);
        continue;
      }
      if (failed(SymbolTable::replaceAllSymbolUses(body, keep.getSymNameAttr(), module))) continue;
      symbols.erase(body);
    }
  }

  // The LLVM type a captured value travels as, or null if it cannot.
  static Type carried_type(Type t, LLVMTypeConverter& converter) {
    if (t.isIndex()) return IntegerType::get(t.getContext(), 64);
    if (isa<MemRefType>(t)) return converter.convertType(t);
    if (t.isIntOrFloat()) return t;
    return {};
  }

  func::FuncOp runtime_decl(ModuleOp module, SymbolTable& symbols, FunctionType body_type) {
    if (auto f = symbols.lookup<func::FuncOp>(kRuntimeEntry)) return f;
    MLIRContext* ctx = module.getContext();
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    auto i64 = IntegerType::get(ctx, 64);
    auto type = FunctionType::get(ctx, {ptr, i64, i64, i64, body_type, ptr}, {IntegerType::get(ctx, 32)});
    OpBuilder b(module.getBodyRegion());
    b.setInsertionPointToStart(module.getBody());
    auto f = b.create<func::FuncOp>(module.getLoc(), kRuntimeEntry, type);
    f.setPrivate();
    symbols.insert(f);
    return f;
  }

  // Iterations per block, so that a chunk holds at least kMinChunkOps of estimated work: with n
  // iterations known, n split evenly into as many blocks as hold that much (one: the loop runs
  // inline on the caller); with n unknown, the fewest iterations that do. 1 when the body's work
  // has no static bound (every iteration is then worth a thread).
  static int64_t grain_for(scf::ParallelOp par, Value total) {
    std::optional<double> work = estimate_ops(par.getRegion());
    if (!work || *work <= 0) return 1;
    int64_t least = std::max<int64_t>(1, int64_t(std::ceil(kMinChunkOps / *work)));
    std::optional<int64_t> n = fold_index(total);
    if (!n || *n <= 0) return least;
    int64_t blocks = std::max<int64_t>(1, *n / least);
    return (*n + blocks - 1) / blocks;
  }

  // The outlined body, or null where the loop stays sequential.
  func::FuncOp outline(scf::ParallelOp par, LLVMTypeConverter& converter, SymbolTable& symbols, int& counter) {
    MLIRContext* ctx = par.getContext();
    Location loc = par.getLoc();
    auto func = par->getParentOfType<func::FuncOp>();
    auto module = func->getParentOfType<ModuleOp>();
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    auto i64 = IntegerType::get(ctx, 64);
    unsigned dims = par.getNumLoops();

    // Values the body needs from outside: captures (constants are cloned instead).
    llvm::SetVector<Value> above;
    getUsedValuesDefinedAbove(par.getRegion(), above);
    SmallVector<Value> captures;
    SmallVector<Operation*> constants;
    for (Value v : above) {
      Operation* def = v.getDefiningOp();
      if (def && def->hasTrait<OpTrait::ConstantLike>() && def->getNumOperands() == 0) constants.push_back(def);
      else captures.push_back(v);
    }
    OpBuilder b(par);
    // Trip counts and the linearized size.
    SmallVector<Value> trips;
    Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
    Value total = b.create<arith::ConstantIndexOp>(loc, 1);
    for (unsigned d = 0; d < dims; ++d) {
      Value span = b.create<arith::SubIOp>(loc, par.getUpperBound()[d], par.getLowerBound()[d]);
      Value trip = b.create<arith::CeilDivSIOp>(loc, span, par.getStep()[d]);
      trip = b.create<arith::MaxSIOp>(loc, trip, zero);
      trips.push_back(trip);
      total = b.create<arith::MulIOp>(loc, total, trip);
    }
    // Loop parameters travel with the captures.
    size_t first_param = captures.size();
    for (unsigned d = 0; d < dims; ++d) {
      captures.push_back(par.getLowerBound()[d]);
      captures.push_back(par.getStep()[d]);
      captures.push_back(trips[d]);
    }
    // Static allocas at the top of the body (scratch rows of --tessera-cpu-vectorize) are made
    // once per call of the outlined body, before its loop; a loop left sequential takes them to
    // the function's entry block. Either way no loop grows the stack.
    SmallVector<Operation*> scratch;
    for (Operation& op : par.getBody()->without_terminator()) {
      auto alloca = dyn_cast<memref::AllocaOp>(op);
      if (!alloca || alloca->getNumOperands() != 0) break;
      scratch.push_back(alloca);
    }
    SmallVector<Type> fields;
    for (Value v : captures) {
      Type t = carried_type(v.getType(), converter);
      if (!t) {  // leave the loop sequential
        for (Operation* op : llvm::reverse(scratch)) op->moveBefore(&func.getBody().front().front());
        return {};
      }
      fields.push_back(t);
    }
    auto record = LLVM::LLVMStructType::getLiteral(ctx, fields);

    // The outlined body.
    auto body_type = FunctionType::get(ctx, {i64, i64, ptr}, {});
    std::string name;
    do {
      name = (func.getName() + "_parallel_" + llvm::Twine(counter++)).str();
    } while (symbols.lookup(name));
    OpBuilder mb(ctx);
    mb.setInsertionPointAfter(func);
    auto outlined = mb.create<func::FuncOp>(loc, name, body_type);
    outlined.setPrivate();
    symbols.insert(outlined);
    {
      Block* entry = outlined.addEntryBlock();
      OpBuilder ob = OpBuilder::atBlockBegin(entry);
      Value lo = entry->getArgument(0), hi = entry->getArgument(1), data = entry->getArgument(2);
      IRMapping map;
      for (Operation* c : constants) ob.clone(*c, map);
      for (Operation* op : scratch) ob.clone(*op, map);
      SmallVector<Value> inside;
      for (auto [i, v] : llvm::enumerate(captures)) {
        Value addr = ob.create<LLVM::GEPOp>(loc, ptr, record, data, ArrayRef<LLVM::GEPArg>{0, int32_t(i)});
        Value loaded = ob.create<LLVM::LoadOp>(loc, fields[i], addr);
        Value back = loaded;
        if (v.getType().isIndex()) back = ob.create<arith::IndexCastOp>(loc, v.getType(), loaded);
        else if (isa<MemRefType>(v.getType()))
          back = ob.create<UnrealizedConversionCastOp>(loc, v.getType(), loaded).getResult(0);
        inside.push_back(back);
        if (i < first_param) map.map(v, back);
      }
      Value lo_i = ob.create<arith::IndexCastOp>(loc, ob.getIndexType(), lo);
      Value hi_i = ob.create<arith::IndexCastOp>(loc, ob.getIndexType(), hi);
      Value one = ob.create<arith::ConstantIndexOp>(loc, 1);
      auto loop = ob.create<scf::ForOp>(loc, lo_i, hi_i, one);
      ob.create<func::ReturnOp>(loc);
      ob.setInsertionPointToStart(loop.getBody());
      // Delinearize (row-major: the last dimension varies fastest).
      Value rest = loop.getInductionVar();
      SmallVector<Value> ivs(dims);
      for (int d = int(dims) - 1; d >= 0; --d) {
        Value lb = inside[first_param + 3 * d], step = inside[first_param + 3 * d + 1];
        Value trip = inside[first_param + 3 * d + 2];
        Value idx = rest;
        if (d > 0) {
          idx = ob.create<arith::RemUIOp>(loc, rest, trip);
          rest = ob.create<arith::DivUIOp>(loc, rest, trip);
        }
        ivs[d] = ob.create<arith::AddIOp>(loc, lb, ob.create<arith::MulIOp>(loc, idx, step));
      }
      for (unsigned d = 0; d < dims; ++d) map.map(par.getInductionVars()[d], ivs[d]);
      for (Operation& op : par.getBody()->without_terminator())
        if (!llvm::is_contained(scratch, &op)) ob.clone(op, map);
    }

    // The call: the struct lives in the entry block of the caller.
    OpBuilder eb = OpBuilder::atBlockBegin(&func.getBody().front());
    Value count = eb.create<LLVM::ConstantOp>(loc, i64, eb.getI64IntegerAttr(1));
    Value slot = eb.create<LLVM::AllocaOp>(loc, ptr, record, count, 8);
    for (auto [i, v] : llvm::enumerate(captures)) {
      Value carried = v;
      if (v.getType().isIndex()) carried = b.create<arith::IndexCastOp>(loc, i64, v);
      else if (isa<MemRefType>(v.getType()))
        carried = b.create<UnrealizedConversionCastOp>(loc, fields[i], v).getResult(0);
      Value addr = b.create<LLVM::GEPOp>(loc, ptr, record, slot, ArrayRef<LLVM::GEPArg>{0, int32_t(i)});
      b.create<LLVM::StoreOp>(loc, carried, addr);
    }
    int64_t grain = 1;
    if (auto g = par->getAttrOfType<IntegerAttr>("tessera.grain")) grain = std::max<int64_t>(1, g.getInt());
    else grain = grain_for(par, total);
    func::FuncOp runtime = runtime_decl(module, symbols, body_type);
    Value fn = b.create<func::ConstantOp>(loc, body_type, SymbolRefAttr::get(outlined));
    Value null = b.create<LLVM::ZeroOp>(loc, ptr);
    Value begin = b.create<arith::ConstantIntOp>(loc, 0, 64);
    Value end = b.create<arith::IndexCastOp>(loc, i64, total);
    Value grain_v = b.create<arith::ConstantIntOp>(loc, grain, 64);
    b.create<func::CallOp>(loc, runtime, ValueRange{null, begin, end, grain_v, fn, slot});
    par.erase();
    return outlined;
  }
};

}  // namespace

std::unique_ptr<Pass> createParallelToRuntimePass() { return std::make_unique<ParallelToRuntimePass>(); }

}  // namespace tessera::ir
