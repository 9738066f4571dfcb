// Entry-function signatures read from func.func types, and element type helpers.
#include <algorithm>
#include <map>
#include <string>

#include "codegen/codegen.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"

namespace tessera::codegen {
namespace {

std::optional<DType> dtype_of(mlir::Type type) {
  if (type.isF32()) return DType::F32;
  if (type.isF64()) return DType::F64;
  if (type.isF16()) return DType::F16;
  if (type.isBF16()) return DType::BF16;
  if (type.isIndex()) return DType::I64;
  if (auto integer = llvm::dyn_cast<mlir::IntegerType>(type)) {
    bool is_unsigned = integer.isUnsigned();
    switch (integer.getWidth()) {
      case 1: return DType::I1;
      case 8: return is_unsigned ? DType::U8 : DType::I8;
      case 16: return is_unsigned ? std::nullopt : std::optional(DType::I16);
      case 32: return is_unsigned ? std::nullopt : std::optional(DType::I32);
      case 64: return is_unsigned ? std::nullopt : std::optional(DType::I64);
      default: return std::nullopt;
    }
  }
  return std::nullopt;
}

// Tensors (or identity-layout memrefs) of a known element type; scalars i1, i32, i64, index,
// f32, f64 (the scalar types RtValue and the C header can carry).
std::optional<ValueType> value_type_of(mlir::Type type) {
  ValueType value;
  if (auto tensor = llvm::dyn_cast<mlir::RankedTensorType>(type)) {
    if (tensor.getEncoding()) return std::nullopt;
    value.is_tensor = true;
    value.shape.assign(tensor.getShape().begin(), tensor.getShape().end());
    type = tensor.getElementType();
  } else if (auto memref = llvm::dyn_cast<mlir::MemRefType>(type)) {
    if (!memref.getLayout().isIdentity()) return std::nullopt;
    value.is_tensor = true;
    value.shape.assign(memref.getShape().begin(), memref.getShape().end());
    type = memref.getElementType();
  }
  std::optional<DType> dtype = dtype_of(type);
  if (!dtype) return std::nullopt;
  if (!value.is_tensor && (*dtype == DType::F16 || *dtype == DType::BF16 || *dtype == DType::I8 ||
                           *dtype == DType::U8 || *dtype == DType::I16))
    return std::nullopt;
  value.dtype = *dtype;
  for (int64_t& dim : value.shape)
    if (mlir::ShapedType::isDynamic(dim)) dim = ValueType::kDynamic;
  return value;
}

std::string type_text(mlir::Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  type.print(os);
  return text;
}

}  // namespace

int64_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I8: return 1;
    case DType::I16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::U8: return 1;
    case DType::I1: return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "f32";
    case DType::F64: return "f64";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::I8: return "i8";
    case DType::I16: return "i16";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
    case DType::U8: return "ui8";
    case DType::I1: return "i1";
  }
  return "invalid";
}

std::string ValueType::str() const {
  if (!is_tensor) return dtype_name(dtype);
  std::string text = "tensor<";
  for (int64_t dim : shape) text += (dim == kDynamic ? std::string("?") : std::to_string(dim)) + "x";
  return text + dtype_name(dtype) + ">";
}

ResultLayout result_layout(const EntrySignature& entry) {
  ResultLayout layout;
  for (const ValueType& result : entry.results) {
    uint64_t size = result.is_tensor ? 24 + 16 * static_cast<uint64_t>(result.rank()) : dtype_size(result.dtype);
    uint64_t align = result.is_tensor ? 8 : size;
    layout.size = (layout.size + align - 1) / align * align;
    layout.offsets.push_back(layout.size);
    layout.size += size;
    layout.align = std::max(layout.align, align);
  }
  layout.size = (layout.size + layout.align - 1) / layout.align * layout.align;
  return layout;
}

llvm::Expected<std::vector<EntrySignature>> collect_entry_signatures(mlir::ModuleOp module) {
  std::vector<EntrySignature> entries;
  for (auto func : module.getOps<mlir::func::FuncOp>()) {
    if (func.isExternal() || func.isPrivate()) continue;
    EntrySignature entry;
    entry.name = func.getSymName().str();
    entry.callback = func->hasAttr("tessera.callback");
    mlir::FunctionType type = func.getFunctionType();
    for (auto [list, types, what] : {std::tuple(&entry.params, type.getInputs(), "argument"),
                                     std::tuple(&entry.results, type.getResults(), "result")}) {
      for (auto [index, element] : llvm::enumerate(types)) {
        std::optional<ValueType> value = value_type_of(element);
        mlir::Type elt = mlir::getElementTypeOrSelf(element);
        if (!value && mlir::isa<mlir::Float8E4M3FNType, mlir::Float8E5M2Type>(elt)) {
          const char* name = mlir::isa<mlir::Float8E4M3FNType>(elt) ? "f8e4m3" : "f8e5m2";
          return llvm::createStringError(
              "%s %zu of '%s' is a tensor of %s: 8-bit float tensors cannot be passed to or returned "
              "from an entry function yet (take f32 and convert inside with .astype(%s), or return "
              ".astype(f32))",
              what, index + 1, entry.name.c_str(), name, name);
        }
        if (!value)
          return llvm::createStringError(
              "entry function '%s': %s %zu has type '%s', which the C interface of "
              "compiled functions cannot pass",
              entry.name.c_str(), what, index, type_text(element).c_str());
        list->push_back(std::move(*value));
      }
    }
    for (unsigned i = 0; i < func.getNumArguments(); ++i) {
      entry.donated.push_back(func.getArgAttr(i, "tessera.donated") != nullptr);
      auto name = func.getArgAttrOfType<mlir::StringAttr>(i, "tessera.name");
      entry.param_names.push_back(name ? name.getValue().str() : "");
      // The symbolic dimensions of a tensor parameter, when they fit its rank.
      auto dims = func.getArgAttrOfType<mlir::ArrayAttr>(i, "tessera.dims");
      ValueType& param = entry.params[i];
      if (!dims || !param.is_tensor || static_cast<int64_t>(dims.size()) != param.rank()) continue;
      for (mlir::Attribute dim : dims) {
        auto text = llvm::dyn_cast<mlir::StringAttr>(dim);
        param.dim_names.push_back(text ? text.getValue().str() : "");
      }
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::string describe_param(const EntrySignature& entry, size_t index) {
  std::string text = "argument " + std::to_string(index + 1);
  if (index < entry.param_names.size() && !entry.param_names[index].empty())
    text += " (" + entry.param_names[index] + ")";
  return text;
}

std::string check_symbolic_dims(const EntrySignature& entry, const std::vector<std::vector<int64_t>>& shapes) {
  struct Binding {
    int64_t value;
    size_t param;
    size_t dim;
  };
  std::map<std::string, Binding> bound;
  for (size_t i = 0; i < entry.params.size() && i < shapes.size(); ++i) {
    const std::vector<std::string>& names = entry.params[i].dim_names;
    for (size_t d = 0; d < names.size() && d < shapes[i].size(); ++d) {
      if (names[d].empty()) continue;
      auto [it, fresh] = bound.try_emplace(names[d], Binding{shapes[i][d], i, d});
      if (fresh || it->second.value == shapes[i][d]) continue;
      return describe_param(entry, i) + ": dimension " + std::to_string(d) + " is " + std::to_string(shapes[i][d]) +
             ", but " + names[d] + " is " + std::to_string(it->second.value) + " from " +
             describe_param(entry, it->second.param) + ", dimension " + std::to_string(it->second.dim);
    }
  }
  return "";
}

}  // namespace tessera::codegen
