#include "tools/tesserac/entry_dims.h"

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/BuiltinTypes.h>

#include "ir/graph/lower_to_graph.h"
#include "sema/types.h"

namespace tessera::cli {

void annotate_entry_dims(mlir::ModuleOp module, const sema::TypedModule& typed) {
  mlir::Builder b(module.getContext());
  for (const sema::TypedFunction* f : typed.functions) {
    auto func = module.lookupSymbol<mlir::func::FuncOp>(ir::entry_symbol(f->name));
    if (!func || func.isPrivate() || func.isExternal() || func.getNumArguments() != f->params.size()) continue;
    for (unsigned i = 0; i < func.getNumArguments(); ++i) {
      const sema::TypedBinding& param = f->params[i];
      func.setArgAttr(i, "tessera.name", b.getStringAttr(param.name));
      auto tensor = llvm::dyn_cast<mlir::RankedTensorType>(func.getArgumentTypes()[i]);
      if (!tensor || !param.type || param.type->kind != sema::TypeKind::Tensor || !param.type->shape ||
          static_cast<int64_t>(param.type->shape->size()) != tensor.getRank())
        continue;
      llvm::SmallVector<mlir::Attribute> dims;
      for (const sema::DimExpr& dim : *param.type->shape) dims.push_back(b.getStringAttr(dim.as_symbol().value_or("")));
      func.setArgAttr(i, "tessera.dims", b.getArrayAttr(dims));
    }
  }
}

}  // namespace tessera::cli
