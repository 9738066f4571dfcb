// Types of the Tessera language as sema sees them: dtypes, numerical
// policies, tensors with symbolic shapes, scalars, tuples, distributions.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sema/dim_expr.h"

namespace tessera::sema {

enum class DType : uint8_t { F64, F32, F16, BF16, F8E4M3, F8E5M2, I64, I32, I16, I8, U8, Bool };

std::optional<DType> dtype_from_name(std::string_view name);  // "f32", "fp8", "bool", ...
std::string_view dtype_name(DType d);
bool is_float(DType d);
bool is_integer(DType d);  // signed or unsigned integers (not bool)
int dtype_bits(DType d);
// The result dtype of a binary arithmetic operation (docs/types.md).
DType promote(DType a, DType b);

// The numerical policy carried by a tensor type (LANGUAGE.md §4).
struct Policy {
  std::optional<DType> accum;
  std::string rounding;  // "", "nearest" or "stochastic"
  std::optional<double> loss_scale;
  bool saturate = false;
  bool deterministic = false;
  std::string device;

  bool empty() const {
    return !accum && rounding.empty() && !loss_scale && !saturate && !deterministic && device.empty();
  }
  bool operator==(const Policy& o) const {
    return accum == o.accum && rounding == o.rounding && loss_scale == o.loss_scale && saturate == o.saturate &&
           deterministic == o.deterministic && device == o.device;
  }
  std::string to_string() const;  // " @accum(f32) @stochastic_round", empty when none
};

enum class TypeKind : uint8_t {
  Unknown,  // not known (unannotated, or after an error): never reported again
  None,
  Bool,
  Int,      // a Python-style integer; may carry a symbolic value (a dimension)
  Float,
  Str,
  Tensor,   // also kernel tiles (is_tile)
  Tuple,
  List,
  Dict,
  Optional,
  Distribution,
  Posterior,
  Params,
  Function,
  Module,
  DTypeValue,  // a dtype used as a value: `x.astype(bf16)`
  Class,
  Object,      // an instance of a user or library class without a modeled type
};

struct TypeNode;
using Type = std::shared_ptr<const TypeNode>;

struct TypeNode {
  TypeKind kind = TypeKind::Unknown;
  // Tensor
  DType dtype = DType::F32;
  std::optional<std::vector<DimExpr>> shape;  // nullopt: rank not known
  Policy policy;
  bool is_tile = false;
  // Int / Float / Bool: a statically known value, when there is one
  std::optional<DimExpr> int_value;
  std::optional<double> float_value;
  bool weak = false;  // a literal: adapts to the other operand's dtype
  // Tuple, List, Dict (key, value), Optional, Distribution (sample type)
  std::vector<Type> elems;
  // Params: the parameter names, in order, when the layout is known (`ts.init(model)`,
  // `opt.step`, ...); `elems` holds their tensor types. Empty for an annotated `ts.Params`.
  // Posterior: the names of its fields (`elems` their types); empty for the annotation.
  std::vector<std::string> fields;
  // Function, Module, Class, Object, DTypeValue
  std::string name;
  const void* ref = nullptr;
  // Function: `ref` is a user FunctionInfo (else a BuiltinOp); Module: `ref` is the Checker of
  // a user module (else a built-in module); Class: `ref` is a user ClassInfo.
  bool user = false;
  // Function "transformed" (`tessera.grad(f, argnums=...)` and the other transforms of
  // automatic differentiation): the transform's name, and for grad/value_and_grad the
  // argument numbers and whether they were given as a tuple. `ref` is f's FunctionInfo
  // when f is a user function.
  std::string transform;
  std::vector<int64_t> argnums;
  bool argnums_tuple = false;
  // A transform of a transformed function (`grad(grad(f))`): the inner transform; `ref` is
  // then the innermost user function.
  Type of;
};

Type unknown_type();
Type none_type();
Type bool_type();
Type int_type(std::optional<DimExpr> value = std::nullopt, bool weak = false);
Type float_type(std::optional<double> value = std::nullopt, bool weak = false);
Type str_type();
Type tensor_type(DType dtype, std::optional<std::vector<DimExpr>> shape, Policy policy = {}, bool tile = false);
Type scalar_tensor(DType dtype);
Type tuple_type(std::vector<Type> elems);
Type list_type(Type elem);
Type dict_type(Type key, Type value);
Type optional_type(Type inner);
Type distribution_type(Type sample);
Type posterior_type();
// `Posterior(w=w, b=b)`: the fields, their names in `fields` and their types in `elems`.
Type posterior_type(std::vector<std::string> names, std::vector<Type> types);
Type params_type();
Type params_type(std::vector<std::string> names, std::vector<Type> types);
Type dtype_value_type(DType d);
Type named_type(TypeKind kind, std::string name, const void* ref = nullptr);

bool is_unknown(const Type& t);
bool is_tensor(const Type& t);
bool is_numeric_scalar(const Type& t);  // Int, Float, Bool
// Tensors and scalars as tensors: a scalar is a rank-0 tensor of its dtype.
std::optional<Type> as_tensor(const Type& t);

// How users see a type: `Tensor[B, S, D, bf16 @accum(f32)]` (f32 is implied).
std::string to_string(const Type& t);
std::string shape_to_string(const std::vector<DimExpr>& shape);

}  // namespace tessera::sema
