// Unit tests for DimExpr: canonical forms, simplification, printing, substitution, evaluation.
#include "sema/dim_expr.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <unordered_set>

using namespace tessera::sema;

namespace {

DimExpr c(int64_t v) { return DimExpr::constant(v); }
DimExpr s(const char* name) { return DimExpr::symbol(name); }

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

}  // namespace

TEST_CASE("dim_expr: canonical forms make algebraic identities structural") {
  DimExpr n = s("n"), m = s("m"), a = s("a"), b = s("b"), k = s("k");
  DimExpr H = s("H"), Dh = s("Dh"), D = s("D");
  CHECK(n + c(1) - c(1) == n);
  CHECK(c(1) + n == n + c(1));
  CHECK(m + n == n + m);
  CHECK(H * Dh == Dh * H);
  CHECK(c(2) * (a + b) == c(2) * a + c(2) * b);
  CHECK((a + b) + k == a + (b + k));
  CHECK((a * b) * k == a * (b * k));
  CHECK((a + b) * (a - b) == a * a - b * b);
  CHECK((n + c(1)) * (n + c(1)) == n * n + c(2) * n + c(1));
  CHECK(n - n == c(0));
  CHECK(n * c(0) == c(0));
  CHECK(floordiv(D, H) * H == H * floordiv(D, H));
  CHECK(floordiv(D, H) + c(1) - floordiv(D, H) == c(1));
  CHECK(n != m);
  CHECK(n + c(1) != n);
  CHECK(floordiv(D, H) * H != D);  // a solver question, not a structural one
}

TEST_CASE("dim_expr: constants fold with Python floor semantics") {
  CHECK(floordiv(c(7), c(2)) == c(3));
  CHECK(floordiv(c(-7), c(2)) == c(-4));
  CHECK(floordiv(c(7), c(-2)) == c(-4));
  CHECK(floordiv(c(-7), c(-2)) == c(3));
  CHECK(mod(c(7), c(2)) == c(1));
  CHECK(mod(c(-7), c(2)) == c(1));
  CHECK(mod(c(7), c(-2)) == c(-1));
  CHECK(mod(c(-7), c(-2)) == c(-1));
  CHECK(mod(c(kMin), c(-1)) == c(0));
  CHECK((c(3) * c(4) + c(5) - c(20)).constant_value() == -3);
  CHECK(c(6).is_constant());
  CHECK(c(0).is_constant());
  CHECK(c(0).constant_value() == 0);
  CHECK_FALSE(s("n").is_constant());
  CHECK(DimExpr() == c(0));
}

TEST_CASE("dim_expr: division and modulo simplify") {
  DimExpr x = s("x"), n = s("n"), a = s("a"), b = s("b"), D = s("D"), H = s("H");
  CHECK(floordiv(x, c(1)) == x);
  CHECK(mod(x, c(1)) == c(0));
  CHECK(floordiv(x, x) == c(1));
  CHECK(mod(x, x) == c(0));
  CHECK(floordiv(D + H, D + H) == c(1));
  CHECK(floordiv(c(0), x) == c(0));
  CHECK(floordiv(c(4) * x, c(4)) == x);
  CHECK(mod(c(4) * x, c(4)) == c(0));
  CHECK(floordiv(c(6) * x + c(4) * n, c(2)) == c(3) * x + c(2) * n);
  CHECK(mod(c(2) * n, c(2)) == c(0));
  CHECK(floordiv(n + n, c(2)) == n);
  CHECK(floordiv(c(2) * n + c(1), c(2)) == n);  // n + 1 // 2 = n
  CHECK(mod(c(2) * n + c(3), c(2)) == c(1));
  CHECK(floordiv(a * b, b) == a);
  CHECK(mod(a * b, b) == c(0));
  CHECK(floordiv(c(6) * a * b, c(3) * b) == c(2) * a);
  CHECK(floordiv(a * b + b, b) == a + c(1));
  // Not divisible: stays opaque, and is not equal to a
  CHECK(floordiv(c(3) * n, c(2)) != n);
  CHECK(floordiv(D, H).symbols() == std::set<std::string>{"D", "H"});
  CHECK(floordiv(x, c(-1)) == c(0) - x);
}

TEST_CASE("dim_expr: to_string") {
  DimExpr n = s("n"), D = s("D"), H = s("H"), Dh = s("Dh"), S = s("S"), B = s("B");
  CHECK((n + c(1)).to_string() == "n + 1");
  CHECK((c(1) + n).to_string() == "n + 1");
  CHECK(floordiv(D, H).to_string() == "D // H");
  CHECK(mod(D, H).to_string() == "D % H");
  CHECK((H * Dh).to_string() == "H * Dh");
  CHECK((Dh * H).to_string() == "Dh * H");
  CHECK((c(4) * D).to_string() == "4 * D");
  CHECK((D * c(4)).to_string() == "4 * D");
  CHECK((floordiv(D, H) * H).to_string() == "(D // H) * H");
  CHECK((S - c(1)).to_string() == "S - 1");
  CHECK((c(1) - S).to_string() == "-S + 1");
  CHECK((c(0) - floordiv(D, H)).to_string() == "-(D // H)");
  CHECK((S - floordiv(D, H)).to_string() == "S - D // H");
  CHECK((floordiv(D, H) + c(1)).to_string() == "D // H + 1");
  CHECK((c(2) * floordiv(D, H)).to_string() == "2 * (D // H)");
  CHECK(floordiv(n + c(1), c(2)).to_string() == "(n + 1) // 2");
  CHECK(floordiv(D, H * S).to_string() == "D // (H * S)");
  CHECK(floordiv(D, H - c(1)).to_string() == "D // (H - 1)");
  CHECK(floordiv(floordiv(D, H), c(2)).to_string() == "D // H // 2");
  CHECK((B * S * H * floordiv(D, H)).to_string() == "B * S * H * (D // H)");
  CHECK(((n + c(1)) * (n + c(1))).to_string() == "n * n + 2 * n + 1");
  CHECK(c(0).to_string() == "0");
  CHECK(c(-3).to_string() == "-3");
  CHECK(c(kMin).to_string() == "-9223372036854775808");
  DimExpr p = s("p"), d = s("d"), k = s("k");
  DimExpr conv = floordiv(H + c(2) * p - d * (k - c(1)) - c(1), c(2)) + c(1);
  CHECK(conv.to_string() == "(H + 2 * p - d * k + d - 1) // 2 + 1");
}

TEST_CASE("dim_expr: accessors") {
  CHECK(s("D").as_symbol() == std::optional<std::string>("D"));
  CHECK_FALSE((s("D") + c(1)).as_symbol());
  CHECK_FALSE((c(2) * s("D")).as_symbol());
  CHECK_FALSE(c(3).as_symbol());
  CHECK((s("b") * s("a") + mod(s("c"), s("a"))).symbols() == std::set<std::string>{"a", "b", "c"});
  CHECK((s("n") - s("n") + c(2)).symbols().empty());
  CHECK(c(5).constant_value() == 5);
}

TEST_CASE("dim_expr: substitution re-simplifies") {
  DimExpr D = s("D"), H = s("H"), B = s("B");
  std::map<std::string, DimExpr> subst{{"D", c(12)}, {"H", c(4)}};
  CHECK(floordiv(D, H).substitute(subst) == c(3));
  CHECK((floordiv(D, H) * H).substitute(subst) == c(12));
  CHECK((D + B).substitute(subst) == B + c(12));
  CHECK((D + B).substitute(subst).to_string() == "B + 12");
  std::map<std::string, DimExpr> rename{{"D", s("E") * H}};
  CHECK(floordiv(D, H).substitute(rename) == s("E"));
  CHECK(mod(D, H).substitute(rename) == c(0));
  CHECK((H * D).substitute({{"D", s("Dh")}}).to_string() == "H * Dh");
  CHECK(B.substitute({}) == B);
  CHECK(B.substitute(subst) == B);
}

TEST_CASE("dim_expr: evaluation uses Python floor semantics") {
  DimExpr n = s("n"), m = s("m");
  std::map<std::string, int64_t> env{{"n", 3}, {"m", 5}};
  CHECK((n * m + c(1)).evaluate(env) == 16);
  // 3 - 5 = -2 is a negative intermediate: -2 // 4 = -1 and -2 % 4 = 2 in Python.
  CHECK(floordiv(n - m, c(4)).evaluate(env) == -1);
  CHECK(mod(n - m, c(4)).evaluate(env) == 2);
  CHECK(floordiv(m, n - m).evaluate(env) == -3);               // 5 // -2
  CHECK(mod(m, n - m).evaluate(env) == -1);                    // 5 % -2
  CHECK(floordiv(n, m - c(5)).evaluate(env) == std::nullopt);  // division by zero
  CHECK(mod(n, m - c(5)).evaluate(env) == std::nullopt);
  CHECK((n + s("k")).evaluate(env) == std::nullopt);   // unassigned symbol
  CHECK((c(kMax) * n).evaluate(env) == std::nullopt);  // overflow
  CHECK((n * n * n).evaluate(env) == 27);
}

TEST_CASE("dim_expr: overflow stays symbolic instead of wrapping") {
  DimExpr big = c(kMax);
  DimExpr sum = big + c(1);
  CHECK_FALSE(sum.is_constant());
  CHECK(sum.evaluate({}) == std::nullopt);
  CHECK(sum.to_string() == "(9223372036854775807 + 1)");
  DimExpr product = big * c(2);
  CHECK_FALSE(product.is_constant());
  CHECK(product.evaluate({}) == std::nullopt);
  DimExpr diff = c(kMin) - c(1);
  CHECK_FALSE(diff.is_constant());
  CHECK(floordiv(c(kMin), c(-1)).evaluate({}) == std::nullopt);
  CHECK_FALSE(floordiv(c(kMin), c(-1)).is_constant());
  // Division of a constant by zero is kept for the checker to report, never folded.
  CHECK_FALSE(floordiv(c(5), c(0)).is_constant());
  CHECK(floordiv(c(5), c(0)).evaluate({}) == std::nullopt);
  // Coefficient overflow in a symbolic sum or product.
  DimExpr n = s("n");
  DimExpr x = big * n + big * n;
  CHECK(x.evaluate({{"n", 1}}) == std::nullopt);
  CHECK(x == big * n + big * n);  // deterministic structure
  CHECK((big * n * c(3)).evaluate({{"n", 1}}) == std::nullopt);
}

TEST_CASE("dim_expr: ordering and hashing are consistent with equality") {
  DimExpr a = s("a") + c(1), b = c(1) + s("a"), d = s("a") * s("b");
  CHECK(a.hash() == b.hash());
  CHECK_FALSE(a < b);
  CHECK_FALSE(b < a);
  CHECK((a < d) != (d < a));
  std::map<DimExpr, int> m;
  m[a] = 1;
  m[b] = 2;
  m[d] = 3;
  CHECK(m.size() == 2);
  CHECK(m[s("a") + c(1)] == 2);
  std::unordered_set<DimExpr> set{a, b, d, s("b") * s("a")};
  CHECK(set.size() == 2);
}
