// DimExpr: symbolic integer dimension expressions in a canonical polynomial form.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace tessera::sema {

struct DimTerm;

// An immutable integer expression over named dimension symbols (each symbol stands for an
// integer >= 1): constants, symbols, `+ - *`, and Python floor division `//` and modulo `%`.
//
// The value is kept in canonical form: a sum of terms `coefficient * monomial`, where a
// monomial is a sorted product of atoms raised to exponents, and an atom is a symbol or an
// opaque `a // b` / `a % b` over canonical operands. Two expressions that are structurally equal
// in this form are provably equal, so `n + 1 - 1 == n`, `H * Dh == Dh * H` and
// `2 * (a + b) == 2 * a + 2 * b` hold through `operator==` without a solver. The converse does
// not hold: `(D // H) * H` and `D` differ structurally, and whether they are equal is the
// solver's question (DimSolver).
//
// Division follows Python: `//` rounds toward negative infinity and `%` takes the sign of the
// divisor. Simplification folds constants and applies `x // 1 = x`, `x % 1 = 0`, `x // x = 1`,
// `x % x = 0`, `0 // x = 0`, `(m * q) // m = q` and `(m * q) % m = 0` for a single-term divisor
// `m` (a constant or a monomial such as `b` or `3 * S`), and `(k * q + c) // k = q + c // k`,
// `(k * q + c) % k = c % k` for constants k and c. Rules that cancel a symbolic divisor assume it
// is nonzero, the same side condition the solver asserts for every divisor.
//
// Overflow: constant arithmetic is checked with __builtin_*_overflow and never wraps. When a
// coefficient would overflow, the operation is kept symbolic instead: the result is an opaque
// atom `(a + b)`, `(a - b)` or `(a * b)` over the canonical operands, which the solver
// translates exactly (Z3 integers are unbounded) and `evaluate` reports as unknown. Division of
// a constant by the constant 0 and `INT64_MIN // -1` likewise stay as opaque atoms.
//
// Printing keeps symbols in the order in which they first appeared while the expression was
// built (`H * Dh` stays `H * Dh`), constants last. That order is for display only: equality,
// ordering and hashing look at the canonical form alone.
class DimExpr {
 public:
  // The constant 0.
  DimExpr();

  static DimExpr constant(int64_t value);
  static DimExpr symbol(std::string name);

  bool is_constant() const;
  // The value of a constant expression; 0 for a non-constant one.
  int64_t constant_value() const;
  // The name when the expression is exactly one symbol (coefficient 1, exponent 1).
  std::optional<std::string> as_symbol() const;
  // Every symbol the canonical form mentions, sorted (cancelled symbols are gone).
  std::set<std::string> symbols() const;

  // Replaces symbols by expressions and re-simplifies; unmapped symbols stay as they are.
  DimExpr substitute(const std::map<std::string, DimExpr>& subst) const;
  // The value under an assignment, with Python floor semantics for `//` and `%`; nullopt when
  // a symbol is unassigned, a divisor is zero, or an intermediate value overflows int64.
  std::optional<int64_t> evaluate(const std::map<std::string, int64_t>& values) const;

  // User-facing text with minimal parentheses: `n + 1`, `D // H`, `4 * D`, `(D // H) * H`.
  std::string to_string() const;

  size_t hash() const;
  bool operator==(const DimExpr& other) const;
  bool operator!=(const DimExpr& other) const { return !(*this == other); }
  // A total order on canonical forms, for use as a map key.
  bool operator<(const DimExpr& other) const;

  // The canonical form, read-only: terms sorted by monomial, no zero coefficients, the
  // constant term (empty monomial) first when present. Translators such as the solver walk it.
  const std::vector<DimTerm>& terms() const;

  // Three-way structural comparison of canonical forms (<0, 0, >0).
  static int compare(const DimExpr& a, const DimExpr& b);

  friend DimExpr operator+(const DimExpr& a, const DimExpr& b);
  friend DimExpr operator-(const DimExpr& a, const DimExpr& b);
  friend DimExpr operator*(const DimExpr& a, const DimExpr& b);
  friend DimExpr floordiv(const DimExpr& a, const DimExpr& b);
  friend DimExpr mod(const DimExpr& a, const DimExpr& b);

  struct Node;

 private:
  friend struct DimExprBuilder;
  explicit DimExpr(std::shared_ptr<const Node> node) : node_(std::move(node)) {}
  std::shared_ptr<const Node> node_;
};

DimExpr operator+(const DimExpr& a, const DimExpr& b);
DimExpr operator-(const DimExpr& a, const DimExpr& b);
DimExpr operator*(const DimExpr& a, const DimExpr& b);
// Python `a // b` (floor division).
DimExpr floordiv(const DimExpr& a, const DimExpr& b);
// Python `a % b` (the result has the sign of b).
DimExpr mod(const DimExpr& a, const DimExpr& b);

// A factor of a monomial: a symbol, or an operation the polynomial form cannot absorb.
struct DimAtom {
  // Sum, Difference and Product appear only where a coefficient would have overflowed int64.
  enum class Kind : uint8_t { Symbol, FloorDiv, Mod, Sum, Difference, Product };
  Kind kind = Kind::Symbol;
  std::string name;  // Symbol only
  DimExpr lhs, rhs;  // every other kind
};

// coefficient * product of atoms^exponent; the factors are sorted by atom, exponents >= 1.
struct DimTerm {
  int64_t coefficient = 0;
  std::vector<std::pair<DimAtom, uint32_t>> factors;
};

}  // namespace tessera::sema

template <>
struct std::hash<tessera::sema::DimExpr> {
  size_t operator()(const tessera::sema::DimExpr& e) const { return e.hash(); }
};
