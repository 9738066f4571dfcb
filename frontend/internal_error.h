// Internal compiler errors (TSR_ICE): a bug in the compiler, never a mistake in the user's
// program. They are thrown, caught by the tools, and printed as
// "internal compiler error in <stage>: <message>" with exit code 101 (as rustc does).
// User errors go through the DiagnosticEngine instead.
#pragma once

#include <stdexcept>
#include <string>

namespace tessera {

class InternalError : public std::runtime_error {
 public:
  InternalError(std::string stage, const std::string& message)
      : std::runtime_error(message), stage_(std::move(stage)) {}
  const std::string& stage() const { return stage_; }

 private:
  std::string stage_;
};

constexpr int kExitInternalError = 101;

}  // namespace tessera

// Raises an internal compiler error from `stage` (a short name such as "graph lowering").
#define TSR_ICE(stage, message) throw ::tessera::InternalError((stage), (message))
