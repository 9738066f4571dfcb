// Attributes and enums of the `tessera` dialect: the numerical policy, the
// comparison predicate and the reduction kind.
#ifndef TESSERA_ATTRS_TD
#define TESSERA_ATTRS_TD

include "ir/graph/TesseraDialect.td"
include "mlir/IR/EnumAttr.td"

def Tessera_PolicyAttr : AttrDef<Tessera_Dialect, "Policy"> {
  let mnemonic = "policy";
  let summary = "numerical policy of an operation";
  let description = [{
    The numerical policy that a `.tsr` tensor type carries
    (`Tensor[B, D, bf16 @accum(f32) @loss_scale(1024)]`). Every field is
    optional:

    - `accum = TYPE`: accumulation type of reductions and matmuls;
    - `loss_scale = FLOAT`: the loss-scaling factor;
    - `stochastic_round`: round stochastically instead of to nearest;
    - `saturate`: saturate on overflow instead of producing infinities;
    - `deterministic`: require a deterministic reduction order;
    - `device = "STRING"`: the device the value lives on (`"gpu:0"`).

    Printed with only the fields that are set, in this order:
    `#tessera.policy<accum = f32, loss_scale = 1024.0, stochastic_round,
    saturate, deterministic, device = "gpu:0">`.
  }];
  let parameters = (ins
    OptionalParameter<"::mlir::Type">:$accum,
    OptionalParameter<"::mlir::FloatAttr">:$loss_scale,
    DefaultValuedParameter<"bool", "false">:$stochastic_round,
    DefaultValuedParameter<"bool", "false">:$saturate,
    DefaultValuedParameter<"bool", "false">:$deterministic,
    OptionalParameter<"::mlir::StringAttr">:$device);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// True when no field is set.
    bool isEmpty() const;
  }];
}

def Tessera_CmpPredicate : I64EnumAttr<"CmpPredicate",
    "comparison predicate of tessera.cmp", [
      I64EnumAttrCase<"eq", 0>, I64EnumAttrCase<"ne", 1>,
      I64EnumAttrCase<"lt", 2>, I64EnumAttrCase<"le", 3>,
      I64EnumAttrCase<"gt", 4>, I64EnumAttrCase<"ge", 5>]> {
  let cppNamespace = "::mlir::tessera";
}

def Tessera_ReduceKind : I64EnumAttr<"ReduceKind",
    "reduction computed by tessera.reduce", [
      I64EnumAttrCase<"sum", 0>, I64EnumAttrCase<"mean", 1>,
      I64EnumAttrCase<"var", 2>, I64EnumAttrCase<"std", 3>,
      I64EnumAttrCase<"max", 4>, I64EnumAttrCase<"min", 5>,
      I64EnumAttrCase<"prod", 6>, I64EnumAttrCase<"logsumexp", 7>,
      I64EnumAttrCase<"argmax", 8>, I64EnumAttrCase<"argmin", 9>]> {
  let cppNamespace = "::mlir::tessera";
}

#endif // TESSERA_ATTRS_TD
