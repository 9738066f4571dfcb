// The `tessera` dialect class, the resources its effects name and its traits.
#ifndef TESSERA_IR_GRAPH_TESSERADIALECT_H
#define TESSERA_IR_GRAPH_TESSERADIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::tessera {

// The random number stream that rand, randn, dropout and sample draw from.
struct RandomResource : public SideEffects::Resource::Base<RandomResource> {
  StringRef getName() final { return "<TesseraRandom>"; }
};

// Files and the standard output (print, load, save).
struct IOResource : public SideEffects::Resource::Base<IOResource> {
  StringRef getName() final { return "<TesseraIO>"; }
};

// The log density that observations add to in probabilistic programs.
struct DensityResource : public SideEffects::Resource::Base<DensityResource> {
  StringRef getName() final { return "<TesseraDensity>"; }
};

} // namespace mlir::tessera

namespace mlir::tessera {

// Fails with an op error when `op` has a `policy` attribute that is not a
// #tessera.policy.
LogicalResult verifyPolicyAttribute(Operation* op);

} // namespace mlir::tessera

namespace mlir::OpTrait::tessera {

// Every tessera op: a `policy` attribute, declared or not, is a #tessera.policy.
template <typename ConcreteType>
class VerifyPolicy : public TraitBase<ConcreteType, VerifyPolicy> {
public:
  static LogicalResult verifyTrait(Operation* op) { return ::mlir::tessera::verifyPolicyAttribute(op); }
};

// Marks ops that draw from the random number stream; a pass that must not
// duplicate or reorder them (autodiff, rematerialization) tests for it.
template <typename ConcreteType>
class IsRandom : public TraitBase<ConcreteType, IsRandom> {};

} // namespace mlir::OpTrait::tessera

#include "ir/graph/TesseraDialect.h.inc"

#endif // TESSERA_IR_GRAPH_TESSERADIALECT_H
