// The `tessera` dialect: its definition, the resources its effects name, and
// the base classes every Graph IR op derives from.
#ifndef TESSERA_DIALECT_TD
#define TESSERA_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Tessera_Dialect : Dialect {
  let name = "tessera";
  let cppNamespace = "::mlir::tessera";
  let summary = "Tessera's Graph IR: tensor-level deep-learning operations";
  let description = [{
    The Graph IR is the first MLIR level of the Tessera compiler. Values are
    builtin ranked tensors (dimensions may be dynamic); scalars that are not
    tensors are builtin `i64`/`f64`/`i1` handled with `arith`. Constants use
    `arith.constant`, control flow uses `scf` and calls use `func.call`; the
    dialect defines only the tensor operations of the language, its numerical
    policy attribute, and sampling.
  }];
  // Folders that produce an attribute (for example `tessera.dim` of a static
  // dimension) materialize it with `arith.constant`.
  let hasConstantMaterializer = 1;
  let useDefaultAttributePrinterParser = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

// Resources named by the effects of Graph IR ops. Writing to a resource keeps
// an op from being removed, merged by CSE or moved across another op that
// touches the same resource.
def Tessera_RandomResource : Resource<"::mlir::tessera::RandomResource">;
def Tessera_IOResource : Resource<"::mlir::tessera::IOResource">;
def Tessera_DensityResource : Resource<"::mlir::tessera::DensityResource">;

// Marks ops that draw from the random number stream (rand, randn, dropout,
// sample). Passes query it with `op->hasTrait<OpTrait::tessera::IsRandom>()`.
def Tessera_IsRandom : NativeOpTrait<"IsRandom"> {
  let cppNamespace = "::mlir::OpTrait::tessera";
}

// The effects of a random op: it reads and advances the generator state.
defvar Tessera_RandomEffects = [Tessera_IsRandom,
    MemoryEffects<[MemRead<Tessera_RandomResource>, MemWrite<Tessera_RandomResource>]>];

// Checks that an attribute named `policy`, declared by the op or not, is a
// #tessera.policy. The Graph IR lowering puts the policy of a result's type on
// the op that produces it, shape ops included.
def Tessera_VerifyPolicy : NativeOpTrait<"VerifyPolicy"> {
  let cppNamespace = "::mlir::OpTrait::tessera";
}

// Base class of every op of the dialect.
class Tessera_Op<string mnemonic, list<Trait> traits = []>
    : Op<Tessera_Dialect, mnemonic, !listconcat(traits, [Tessera_VerifyPolicy])>;

#endif // TESSERA_DIALECT_TD
