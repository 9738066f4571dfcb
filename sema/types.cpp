// Type constructors, dtype rules and printing.
#include "sema/types.h"

#include <fmt/format.h>

namespace tessera::sema {

namespace {

struct DTypeInfo {
  DType d;
  const char* name;
  int bits;
  bool is_float;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "f64", 64, true},        {DType::F32, "f32", 32, true},   {DType::F16, "f16", 16, true},
    {DType::BF16, "bf16", 16, true},      {DType::F8E4M3, "f8e4m3", 8, true}, {DType::F8E5M2, "f8e5m2", 8, true},
    {DType::I64, "i64", 64, false},       {DType::I32, "i32", 32, false},  {DType::I16, "i16", 16, false},
    {DType::I8, "i8", 8, false},          {DType::U8, "u8", 8, false},     {DType::Bool, "bool", 1, false},
};

Type make(TypeNode n) { return std::make_shared<const TypeNode>(std::move(n)); }

}  // namespace

std::optional<DType> dtype_from_name(std::string_view name) {
  if (name == "fp8") return DType::F8E4M3;
  if (name == "Bool") return DType::Bool;
  for (const auto& d : kDTypes)
    if (name == d.name) return d.d;
  return std::nullopt;
}

std::string_view dtype_name(DType d) { return kDTypes[static_cast<int>(d)].name; }
bool is_float(DType d) { return kDTypes[static_cast<int>(d)].is_float; }
bool is_integer(DType d) { return !is_float(d) && d != DType::Bool; }
int dtype_bits(DType d) { return kDTypes[static_cast<int>(d)].bits; }

DType promote(DType a, DType b) {
  if (a == b) return a;
  if (a == DType::Bool) return b;
  if (b == DType::Bool) return a;
  bool fa = is_float(a), fb = is_float(b);
  if (fa && !fb) return a;
  if (fb && !fa) return b;
  if (fa && fb) {
    // bf16 with f16 has no exact common 16-bit type: widen to f32.
    if (dtype_bits(a) == dtype_bits(b)) return dtype_bits(a) >= 32 ? a : DType::F32;
    return dtype_bits(a) > dtype_bits(b) ? a : b;
  }
  if (a == DType::U8 || b == DType::U8) {
    DType other = a == DType::U8 ? b : a;
    return dtype_bits(other) > 8 ? other : DType::I16;
  }
  return dtype_bits(a) > dtype_bits(b) ? a : b;
}

std::string Policy::to_string() const {
  std::string out;
  if (accum) out += fmt::format(" @accum({})", dtype_name(*accum));
  if (rounding == "stochastic") out += " @stochastic_round";
  if (loss_scale) out += fmt::format(" @loss_scale({})", *loss_scale);
  if (saturate) out += " @saturate";
  if (deterministic) out += " @deterministic";
  if (!device.empty()) out += fmt::format(" @device(\"{}\")", device);
  return out;
}

Type unknown_type() {
  static Type t = make(TypeNode{});
  return t;
}
Type none_type() {
  TypeNode n;
  n.kind = TypeKind::None;
  return make(n);
}
Type bool_type() {
  TypeNode n;
  n.kind = TypeKind::Bool;
  n.dtype = DType::Bool;
  return make(n);
}
Type int_type(std::optional<DimExpr> value, bool weak) {
  TypeNode n;
  n.kind = TypeKind::Int;
  n.dtype = DType::I64;
  n.int_value = std::move(value);
  n.weak = weak;
  return make(n);
}
Type float_type(std::optional<double> value, bool weak) {
  TypeNode n;
  n.kind = TypeKind::Float;
  n.dtype = DType::F32;
  n.float_value = value;
  n.weak = weak;
  return make(n);
}
Type str_type() {
  TypeNode n;
  n.kind = TypeKind::Str;
  return make(n);
}
Type tensor_type(DType dtype, std::optional<std::vector<DimExpr>> shape, Policy policy, bool tile) {
  TypeNode n;
  n.kind = TypeKind::Tensor;
  n.dtype = dtype;
  n.shape = std::move(shape);
  n.policy = std::move(policy);
  n.is_tile = tile;
  return make(n);
}
Type scalar_tensor(DType dtype) { return tensor_type(dtype, std::vector<DimExpr>{}); }
Type tuple_type(std::vector<Type> elems) {
  TypeNode n;
  n.kind = TypeKind::Tuple;
  n.elems = std::move(elems);
  return make(n);
}
Type list_type(Type elem) {
  TypeNode n;
  n.kind = TypeKind::List;
  n.elems = {std::move(elem)};
  return make(n);
}
Type dict_type(Type key, Type value) {
  TypeNode n;
  n.kind = TypeKind::Dict;
  n.elems = {std::move(key), std::move(value)};
  return make(n);
}
Type optional_type(Type inner) {
  TypeNode n;
  n.kind = TypeKind::Optional;
  n.elems = {std::move(inner)};
  return make(n);
}
Type distribution_type(Type sample) {
  TypeNode n;
  n.kind = TypeKind::Distribution;
  n.elems = {std::move(sample)};
  return make(n);
}
Type posterior_type() {
  TypeNode n;
  n.kind = TypeKind::Posterior;
  return make(n);
}
Type posterior_type(std::vector<std::string> names, std::vector<Type> types) {
  TypeNode n;
  n.kind = TypeKind::Posterior;
  n.fields = std::move(names);
  n.elems = std::move(types);
  return make(n);
}
Type params_type() {
  TypeNode n;
  n.kind = TypeKind::Params;
  return make(n);
}

Type params_type(std::vector<std::string> names, std::vector<Type> types) {
  TypeNode n;
  n.kind = TypeKind::Params;
  n.fields = std::move(names);
  n.elems = std::move(types);
  return std::make_shared<const TypeNode>(std::move(n));
}
Type dtype_value_type(DType d) {
  TypeNode n;
  n.kind = TypeKind::DTypeValue;
  n.dtype = d;
  return make(n);
}
Type named_type(TypeKind kind, std::string name, const void* ref) {
  TypeNode n;
  n.kind = kind;
  n.name = std::move(name);
  n.ref = ref;
  return make(n);
}

bool is_unknown(const Type& t) { return !t || t->kind == TypeKind::Unknown; }
bool is_tensor(const Type& t) { return t && t->kind == TypeKind::Tensor; }
bool is_numeric_scalar(const Type& t) {
  return t && (t->kind == TypeKind::Int || t->kind == TypeKind::Float || t->kind == TypeKind::Bool);
}

std::optional<Type> as_tensor(const Type& t) {
  if (is_tensor(t)) return t;
  if (is_numeric_scalar(t)) return scalar_tensor(t->dtype);
  return std::nullopt;
}

std::string shape_to_string(const std::vector<DimExpr>& shape) {
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += shape[i].to_string();
  }
  return out;
}

std::string to_string(const Type& t) {
  if (!t) return "?";
  switch (t->kind) {
    case TypeKind::Unknown: return "?";
    case TypeKind::None: return "None";
    case TypeKind::Bool: return "Bool";
    case TypeKind::Int: return t->int_value ? fmt::format("Int = {}", t->int_value->to_string()) : "Int";
    case TypeKind::Float: return "Float";
    case TypeKind::Str: return "Str";
    case TypeKind::Tensor: {
      std::string head = t->is_tile ? "Tile" : "Tensor";
      if (!t->shape) return head + "[..., " + std::string(dtype_name(t->dtype)) + t->policy.to_string() + "]";
      std::string inner = shape_to_string(*t->shape);
      bool show_dtype = t->dtype != DType::F32 || !t->policy.empty() || t->shape->empty();
      if (show_dtype) {
        if (!inner.empty()) inner += ", ";
        inner += std::string(dtype_name(t->dtype)) + t->policy.to_string();
      }
      return head + "[" + inner + "]";
    }
    case TypeKind::Tuple: {
      std::string out = "(";
      for (size_t i = 0; i < t->elems.size(); ++i) {
        if (i) out += ", ";
        out += to_string(t->elems[i]);
      }
      if (t->elems.size() == 1) out += ",";
      return out + ")";
    }
    case TypeKind::List: return "List[" + to_string(t->elems[0]) + "]";
    case TypeKind::Dict: return "Dict[" + to_string(t->elems[0]) + ", " + to_string(t->elems[1]) + "]";
    case TypeKind::Optional: return to_string(t->elems[0]) + " | None";
    case TypeKind::Distribution: return "Distribution[" + to_string(t->elems[0]) + "]";
    case TypeKind::Posterior: return "Posterior";
    case TypeKind::Params: {
      if (t->fields.empty()) return "Params";
      std::string out = "Params{";
      for (size_t i = 0; i < t->fields.size(); ++i)
        out += (i ? ", " : "") + t->fields[i] + ": " + to_string(t->elems[i]);
      return out + "}";
    }
    case TypeKind::Function: return "function " + t->name;
    case TypeKind::Module: return "module " + t->name;
    case TypeKind::DTypeValue: return "dtype " + std::string(dtype_name(t->dtype));
    case TypeKind::Class: return "class " + t->name;
    case TypeKind::Object: return t->name;
  }
  return "?";
}

}  // namespace tessera::sema
