// The `tessera` dialect: registration, the numerical policy attribute's
// syntax and verifier, and constant materialization.
#include "ir/graph/Tessera.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::tessera;

#include "ir/graph/TesseraDialect.cpp.inc"
#include "ir/graph/TesseraEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "ir/graph/TesseraAttrs.cpp.inc"

void TesseraDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "ir/graph/TesseraAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "ir/graph/TesseraOps.cpp.inc"
      >();
}

Operation* TesseraDialect::materializeConstant(OpBuilder& builder, Attribute value, Type type, Location loc) {
  return arith::ConstantOp::materialize(builder, value, type, loc);
}

//===----------------------------------------------------------------------===//
// PolicyAttr
//===----------------------------------------------------------------------===//

LogicalResult mlir::tessera::verifyPolicyAttribute(Operation* op) {
  Attribute policy = op->getAttr("policy");
  if (policy && !isa<PolicyAttr>(policy))
    return op->emitOpError() << "attribute 'policy' must be a #tessera.policy, found " << policy;
  return success();
}

bool PolicyAttr::isEmpty() const {
  return !getAccum() && !getLossScale() && !getStochasticRound() && !getSaturate() && !getDeterministic() &&
         !getDevice();
}

LogicalResult PolicyAttr::verify(function_ref<InFlightDiagnostic()> emitError, Type accum, FloatAttr lossScale,
                                 bool stochasticRound, bool saturate, bool deterministic, StringAttr device) {
  if (accum && !accum.isIntOrFloat())
    return emitError() << "policy accumulation type must be an integer or float type, found " << accum;
  if (lossScale && !(lossScale.getValueAsDouble() > 0.0))
    return emitError() << "policy loss_scale must be positive, found " << lossScale.getValueAsDouble();
  if (device && device.getValue().empty()) return emitError() << "policy device must not be empty";
  return success();
}

// Syntax: `<` (field (`,` field)*)? `>` where a field is `accum = TYPE`,
// `loss_scale = NUMBER`, `stochastic_round`, `saturate`, `deterministic` or
// `device = STRING`, each at most once.
Attribute PolicyAttr::parse(AsmParser& parser, Type) {
  MLIRContext* ctx = parser.getContext();
  Type accum;
  FloatAttr lossScale;
  bool stochasticRound = false, saturate = false, deterministic = false;
  StringAttr device;
  llvm::SmallDenseSet<StringRef> seen;
  if (parser.parseLess()) return {};
  if (failed(parser.parseOptionalGreater())) {
    do {
      SMLoc loc = parser.getCurrentLocation();
      StringRef key;
      if (parser.parseKeyword(&key)) return {};
      if (!seen.insert(key).second) {
        parser.emitError(loc) << "policy field '" << key << "' given twice";
        return {};
      }
      if (key == "accum") {
        if (parser.parseEqual() || parser.parseType(accum)) return {};
      } else if (key == "loss_scale") {
        // An integer (`1024`) is accepted as well as a float (`1024.0`).
        double value = 0;
        int64_t integer = 0;
        if (parser.parseEqual()) return {};
        OptionalParseResult isInteger = parser.parseOptionalInteger(integer);
        if (isInteger.has_value()) {
          if (failed(*isInteger)) return {};
          value = static_cast<double>(integer);
        } else if (parser.parseFloat(value)) {
          return {};
        }
        lossScale = FloatAttr::get(Float64Type::get(ctx), value);
      } else if (key == "stochastic_round") {
        stochasticRound = true;
      } else if (key == "saturate") {
        saturate = true;
      } else if (key == "deterministic") {
        deterministic = true;
      } else if (key == "device") {
        std::string value;
        if (parser.parseEqual() || parser.parseString(&value)) return {};
        device = StringAttr::get(ctx, value);
      } else {
        parser.emitError(loc) << "unknown policy field '" << key
                              << "' (expected accum, loss_scale, stochastic_round, saturate, deterministic or device)";
        return {};
      }
    } while (succeeded(parser.parseOptionalComma()));
    if (parser.parseGreater()) return {};
  }
  return PolicyAttr::getChecked([&] { return parser.emitError(parser.getNameLoc()); }, ctx, accum, lossScale,
                                stochasticRound, saturate, deterministic, device);
}

void PolicyAttr::print(AsmPrinter& printer) const {
  bool first = true;
  auto field = [&](StringRef name) -> AsmPrinter& {
    printer << (first ? "" : ", ") << name;
    first = false;
    return printer;
  };
  printer << "<";
  if (getAccum()) field("accum = ") << getAccum();
  if (getLossScale()) field("loss_scale = ").printFloat(getLossScale().getValue());
  if (getStochasticRound()) field("stochastic_round");
  if (getSaturate()) field("saturate");
  if (getDeterministic()) field("deterministic");
  if (getDevice()) field("device = ").printString(getDevice().getValue());
  printer << ">";
}
