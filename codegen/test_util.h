// Helpers shared by the codegen unit tests: a context with the codegen dialects, MLIR parsing,
// and unwrapping llvm::Expected into test failures.
#ifndef TESSERA_CODEGEN_TEST_UTIL_H_
#define TESSERA_CODEGEN_TEST_UTIL_H_

#include <doctest/doctest.h>

#include <string>

#include "codegen/codegen.h"
#include "llvm/Support/Error.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Parser/Parser.h"

namespace tessera::codegen::testing {

inline mlir::DialectRegistry codegen_registry() {
  mlir::DialectRegistry registry;
  register_codegen_dialects(registry);
  return registry;
}

// One context per test, so that tests do not share state.
struct Context {
  mlir::MLIRContext context{codegen_registry()};

  mlir::OwningOpRef<mlir::ModuleOp> parse(const std::string& text) {
    mlir::OwningOpRef<mlir::ModuleOp> module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
    REQUIRE_MESSAGE(module, "the test module does not parse");
    return module;
  }
};

template <class T>
T unwrap(llvm::Expected<T> value) {
  if (!value) FAIL(llvm::toString(value.takeError()));
  return std::move(*value);
}

inline void check_ok(llvm::Error error) {
  if (error) FAIL(llvm::toString(std::move(error)));
}

// The message of an error that must happen.
template <class T>
std::string error_of(llvm::Expected<T> value) {
  if (value) FAIL("expected an error");
  return llvm::toString(value.takeError());
}

inline std::string error_of(llvm::Error error) {
  if (!error) FAIL("expected an error");
  return llvm::toString(std::move(error));
}

}  // namespace tessera::codegen::testing

#endif  // TESSERA_CODEGEN_TEST_UTIL_H_
