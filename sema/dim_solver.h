// DimSolver: proves or refutes facts about symbolic dimensions, with Z3 for the hard cases.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sema/dim_expr.h"

namespace tessera::sema {

// A comparison between two dimension expressions: `lhs op rhs`.
struct DimPredicate {
  enum class Op { Eq, Ne, Lt, Le, Gt, Ge };
  Op op = Op::Eq;
  DimExpr lhs, rhs;

  // `D // H * H == D` style text: `lhs op rhs` with Python operators.
  std::string to_string() const;
  // Whether the predicate holds under an assignment; nullopt when either side cannot be
  // evaluated (an unassigned symbol, a zero divisor, an overflow).
  std::optional<bool> holds(const std::map<std::string, int64_t>& values) const;
};

std::string_view op_spelling(DimPredicate::Op op);  // "==", "!=", "<", ...

struct ProofResult {
  enum class Kind { Proven, Refuted, Unknown };
  Kind kind = Kind::Unknown;
  // For Refuted: values of the symbols of the query and of the active assumptions under which
  // every assumption holds and the predicate is false (checked by evaluation).
  std::map<std::string, int64_t> counterexample;

  // "D = 10, H = 3", sorted by name; empty when there is no counterexample.
  std::string counterexample_text() const;
};

struct SolverStats {
  uint64_t queries = 0;     // calls to prove / prove_equal
  uint64_t easy = 0;        // decided from the canonical form alone, without Z3 or the cache
  uint64_t cache_hits = 0;  // answered from the cache
  uint64_t z3_calls = 0;    // Z3 check() calls
  double z3_ms = 0;         // wall time spent in Z3 check() calls
};

// Decides dimension predicates under a stack of assumptions. Every symbol stands for an
// integer >= 1, and every divisor in a query or an assumption is taken to be nonzero (an
// expression with a zero divisor is undefined, so facts are about where it is defined).
//
// Easy cases are decided from the canonical form without Z3: equal canonical forms are equal;
// a constant difference decides the comparison; a difference whose non-constant coefficients
// are all non-negative and made of symbols alone is smallest when every symbol is 1. The rest
// goes to one Z3 solver per DimSolver, used incrementally (push/pop per query, which costs
// well under a millisecond against 5-20 ms for a fresh solver), with a deterministic resource
// limit (the same answer on a loaded machine as on an idle one) and a wall-clock guard, and answers
// are cached by (normalized query, active assumptions). A timeout or an incomplete answer
// from Z3 gives Unknown, never a hang. A query whose divisor is the constant 0 is Unknown.
//
// Not thread-safe: one DimSolver per checker thread.
class DimSolver {
 public:
  explicit DimSolver(unsigned timeout_ms = 5000);
  ~DimSolver();
  DimSolver(const DimSolver&) = delete;
  DimSolver& operator=(const DimSolver&) = delete;
  // The wall-clock guard of later queries (the deterministic rlimit is unchanged).
  void set_timeout_ms(unsigned timeout_ms);

  // Opens a scope; assumptions made in it are dropped by the matching pop(). A pop() without
  // a matching push() does nothing.
  void push();
  void pop();
  // Adds a fact to the current scope. Facts implied by `symbols >= 1` alone are not recorded,
  // so they do not split the cache.
  void assume(const DimPredicate& fact);

  ProofResult prove(const DimPredicate& goal);
  ProofResult prove_equal(const DimExpr& a, const DimExpr& b);

  const SolverStats& stats() const;
  // Number of scopes opened by push() and not yet popped.
  size_t depth() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::sema
