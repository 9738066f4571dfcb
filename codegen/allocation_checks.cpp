// The size check of every allocation (codegen.h, create_allocation_size_check_pass): the byte
// count of a buffer is computed with overflow checks before the buffer is allocated, so a shape
// whose element count or byte size does not fit in int64_t (`ones(2**32, 2**32)`) is a run-time
// error at its source line, not a wrapped size (a small buffer written out of bounds).
#include <string>
#include <vector>

#include "codegen/codegen.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/DataLayoutInterfaces.h"
#include "mlir/Pass/Pass.h"

namespace tessera::codegen {
namespace {

// "  --> file:line:col" of the allocation. Only the location, which is part of the compile-cache
// key (cpu/cache.cpp prints the module with its locations), and no source text: a cached object
// must not carry a snippet that the file no longer has.
std::string where(mlir::Location loc) {
  auto flc = loc->findInstanceOf<mlir::FileLineColLoc>();
  if (!flc) return "";
  std::string width(std::to_string(flc.getLine()).size(), ' ');
  return width + " --> " + flc.getFilename().str() + ":" + std::to_string(flc.getLine()) + ":" +
         std::to_string(flc.getColumn());
}

struct AllocationSizeCheckPass
    : public mlir::PassWrapper<AllocationSizeCheckPass, mlir::OperationPass<mlir::ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(AllocationSizeCheckPass)

  llvm::StringRef getArgument() const final { return "tessera-check-allocation-sizes"; }
  llvm::StringRef getDescription() const final {
    return "fail at run time before an allocation whose byte count overflows or whose size is negative";
  }
  void getDependentDialects(mlir::DialectRegistry& registry) const override {
    registry.insert<mlir::arith::ArithDialect, mlir::scf::SCFDialect, mlir::memref::MemRefDialect,
                    mlir::func::FuncDialect>();
  }

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    std::vector<mlir::memref::AllocOp> allocs;
    module.walk([&](mlir::memref::AllocOp alloc) { allocs.push_back(alloc); });
    if (allocs.empty()) return;
    mlir::MLIRContext* context = module.getContext();
    auto i8_memref = mlir::MemRefType::get({mlir::ShapedType::kDynamic}, mlir::IntegerType::get(context, 8));
    mlir::func::FuncOp fail = module.lookupSymbol<mlir::func::FuncOp>(kAllocationSizeError);
    if (!fail) {
      mlir::OpBuilder b(module.getBodyRegion());
      b.setInsertionPointToStart(module.getBody());
      fail = b.create<mlir::func::FuncOp>(module.getLoc(), kAllocationSizeError,
                                          b.getFunctionType({i8_memref}, {}));
      fail.setPrivate();
    }
    int strings = 0;
    for (mlir::memref::AllocOp alloc : allocs) {
      mlir::MemRefType type = alloc.getType();
      mlir::OpBuilder b(alloc);
      mlir::Location loc = alloc.getLoc();
      mlir::Type i64 = b.getI64Type();
      uint64_t element_bytes = mlir::DataLayout::closest(alloc).getTypeSize(type.getElementType());
      auto constant = [&](int64_t value) { return b.create<mlir::arith::ConstantIntOp>(loc, value, 64).getResult(); };
      mlir::Value bytes = constant(static_cast<int64_t>(element_bytes == 0 ? 1 : element_bytes));
      mlir::Value failed = b.create<mlir::arith::ConstantIntOp>(loc, 0, 1);
      auto dynamic = alloc.getDynamicSizes().begin();
      bool all_static = true;
      int64_t static_bytes = static_cast<int64_t>(element_bytes == 0 ? 1 : element_bytes);
      bool static_overflow = false;
      for (int64_t dim : type.getShape()) {
        mlir::Value size;
        if (mlir::ShapedType::isDynamic(dim)) {
          all_static = false;
          size = b.create<mlir::arith::IndexCastOp>(loc, i64, *dynamic++);
          mlir::Value negative =
              b.create<mlir::arith::CmpIOp>(loc, mlir::arith::CmpIPredicate::slt, size, constant(0));
          failed = b.create<mlir::arith::OrIOp>(loc, failed, negative);
        } else {
          size = constant(dim);
          static_overflow = static_overflow || __builtin_mul_overflow(static_bytes, dim, &static_bytes);
        }
        auto product = b.create<mlir::arith::MulSIExtendedOp>(loc, bytes, size);
        mlir::Value sign = b.create<mlir::arith::ShRSIOp>(loc, product.getLow(), constant(63));
        mlir::Value overflow =
            b.create<mlir::arith::CmpIOp>(loc, mlir::arith::CmpIPredicate::ne, product.getHigh(), sign);
        failed = b.create<mlir::arith::OrIOp>(loc, failed, overflow);
        bytes = product.getLow();
      }
      // Statically sized buffers that fit need no code.
      if (all_static && !static_overflow && static_bytes <= kMaxAllocationBytes) continue;
      // The LLVM lowering adds the alignment to the byte count: leave room for it.
      mlir::Value too_large =
          b.create<mlir::arith::CmpIOp>(loc, mlir::arith::CmpIPredicate::sgt, bytes, constant(kMaxAllocationBytes));
      failed = b.create<mlir::arith::OrIOp>(loc, failed, too_large);
      auto when = b.create<mlir::scf::IfOp>(loc, failed, /*withElseRegion=*/false);
      mlir::OpBuilder then = mlir::OpBuilder::atBlockBegin(when.thenBlock());
      std::string text =
          "runtime error: cannot allocate a tensor of this shape: a size is negative, or its byte count overflows "
          "int64_t\n" +
          where(loc) + "\n";
      std::string name = "__tess_size_message" + std::to_string(strings++);
      while (module.lookupSymbol(name)) name = "__tess_size_message" + std::to_string(strings++);
      auto global_type = mlir::MemRefType::get({static_cast<int64_t>(text.size())}, b.getI8Type());
      {
        mlir::OpBuilder gb(module.getBodyRegion());
        gb.setInsertionPointToStart(module.getBody());
        std::vector<int8_t> chars(text.begin(), text.end());
        auto init = mlir::DenseElementsAttr::get(mlir::RankedTensorType::get(global_type.getShape(), gb.getI8Type()),
                                                 llvm::ArrayRef<int8_t>(chars));
        gb.create<mlir::memref::GlobalOp>(loc, name, gb.getStringAttr("private"), global_type, init,
                                          /*constant=*/true, mlir::IntegerAttr{});
      }
      mlir::Value global = then.create<mlir::memref::GetGlobalOp>(loc, global_type, name);
      mlir::Value message = then.create<mlir::memref::CastOp>(loc, i8_memref, global);
      then.create<mlir::func::CallOp>(loc, fail, mlir::ValueRange{message});
    }
  }
};

}  // namespace

std::unique_ptr<mlir::Pass> create_allocation_size_check_pass() { return std::make_unique<AllocationSizeCheckPass>(); }

}  // namespace tessera::codegen
