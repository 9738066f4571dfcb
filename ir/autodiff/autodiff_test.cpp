// Every op of the `tessera` dialect has a gradient rule model (GradientOpInterface); a new op
// without one fails here.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ir/autodiff/GradientInterface.h"
#include "ir/graph/Tessera.h"

#include "mlir/IR/MLIRContext.h"

TEST_CASE("every tessera op implements GradientOpInterface") {
  mlir::DialectRegistry registry;
  registry.insert<mlir::tessera::TesseraDialect>();
  mlir::tessera::registerGradientModels(registry);
  mlir::MLIRContext ctx(registry);
  auto* dialect = ctx.getOrLoadDialect<mlir::tessera::TesseraDialect>();
  REQUIRE(dialect);
  std::vector<std::string> missing;
  size_t count = 0;
  for (mlir::RegisteredOperationName name : ctx.getRegisteredOperations()) {
    if (&name.getDialect() != dialect) continue;
    ++count;
    if (!name.hasInterface<mlir::tessera::GradientOpInterface>()) missing.push_back(name.getStringRef().str());
  }
  CHECK(count > 70);
  for (const std::string& m : missing) INFO("no gradient model: " << m);
  CHECK(missing.empty());
}
