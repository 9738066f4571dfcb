// Unit tests for DimSolver: proofs, checked counterexamples, scopes, caching and timeouts.
#include "sema/dim_solver.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

using namespace tessera::sema;

namespace {

using Op = DimPredicate::Op;

DimExpr c(int64_t v) { return DimExpr::constant(v); }
DimExpr s(const char* name) { return DimExpr::symbol(name); }
DimPredicate eq(const DimExpr& a, const DimExpr& b) { return {Op::Eq, a, b}; }

struct Case {
  const char* name;
  DimPredicate goal;
  std::vector<DimPredicate> assumptions;
};

ProofResult prove_under(DimSolver& solver, const Case& k) {
  solver.push();
  for (const DimPredicate& a : k.assumptions) solver.assume(a);
  ProofResult r = solver.prove(k.goal);
  solver.pop();
  return r;
}

// A refutation is only worth showing if its values really satisfy the assumptions and falsify
// the goal, with every symbol >= 1.
void check_counterexample(const Case& k, const ProofResult& r) {
  INFO(std::string(k.name), ": ", k.goal.to_string(), " counterexample ", r.counterexample_text());
  REQUIRE(r.kind == ProofResult::Kind::Refuted);
  CHECK(k.goal.holds(r.counterexample) == std::optional<bool>(false));
  for (const DimPredicate& a : k.assumptions) CHECK(a.holds(r.counterexample) == std::optional<bool>(true));
  for (const auto& [name, v] : r.counterexample) CHECK(v >= 1);
  for (const std::string& sym : k.goal.lhs.symbols()) CHECK(r.counterexample.count(sym) == 1);
  for (const std::string& sym : k.goal.rhs.symbols()) CHECK(r.counterexample.count(sym) == 1);
}

}  // namespace

TEST_CASE("dim_solver: identities are proven") {
  DimExpr a = s("a"), b = s("b"), k = s("k"), n = s("n"), m = s("m"), x = s("x"), y = s("y");
  DimExpr B = s("B"), S = s("S"), D = s("D"), H = s("H"), W = s("W"), Dh = s("Dh"), T = s("T"), p = s("p");
  DimPredicate d_div_h{Op::Eq, mod(D, H), c(0)};
  std::vector<Case> cases = {
      {"add commutes", eq(a + b, b + a), {}},
      {"mul commutes", eq(a * b, b * a), {}},
      {"add associates", eq((a + b) + k, a + (b + k)), {}},
      {"mul associates", eq((a * b) * k, a * (b * k)), {}},
      {"distributes", eq(a * (b + k), a * b + a * k), {}},
      {"n + 1 - 1", eq(n + c(1) - c(1), n), {}},
      {"2 * (a + b)", eq(c(2) * (a + b), c(2) * a + c(2) * b), {}},
      {"difference of squares", eq((a + c(1)) * (a - c(1)), a * a - c(1)), {}},
      {"(a * b) // b", eq(floordiv(a * b, b), a), {}},
      {"(a * b + b) // b", eq(floordiv(a * b + b, b), a + c(1)), {}},
      {"(2 * n) % 2", eq(mod(c(2) * n, c(2)), c(0)), {}},
      {"(n + n) // 2", eq(floordiv(n + n, c(2)), n), {}},
      {"(n * m) % m", eq(mod(n * m, m), c(0)), {}},
      {"n // n", eq(floordiv(n, n), c(1)), {}},
      {"(D // H) * H given D % H == 0", eq(floordiv(D, H) * H, D), {d_div_h}},
      {"reshape B*S*H*(D//H)", eq(B * S * H * floordiv(D, H), B * S * D), {d_div_h}},
      {"merge heads", eq(B * H * S * Dh, B * S * (H * Dh)), {}},
      {"D // H == Dh given D == H * Dh", eq(floordiv(D, H), Dh), {eq(D, H * Dh)}},
      {"euclid with symbolic divisor", eq(mod(D, H) + H * floordiv(D, H), D), {}},
      {"euclid with constant divisor", eq(c(4) * floordiv(x, c(4)) + mod(x, c(4)), x), {}},
      {"halves", eq(floordiv(x, c(2)) + floordiv(x + c(1), c(2)), x), {}},
      {"(x + 4) // 4", eq(floordiv(x + c(4), c(4)), floordiv(x, c(4)) + c(1)), {}},
      {"(x + 2y) % 2", eq(mod(x + c(2) * y, c(2)), mod(x, c(2))), {}},
      {"(D // 4) * 4 given D % 4 == 0", eq(floordiv(D, c(4)) * c(4), D), {eq(mod(D, c(4)), c(0))}},
      {"n // 2 given n == 2m", eq(floordiv(n, c(2)), m), {eq(n, c(2) * m)}},
      {"n % 2 given n == 2m", eq(mod(n, c(2)), c(0)), {eq(n, c(2) * m)}},
      {"a + k == b + k given a == b", eq(a + k, b + k), {eq(a, b)}},
      {"conv stride 1 no dilation",
       eq(floordiv(H + c(2) * p - (k - c(1)) - c(1), c(1)) + c(1), H + c(2) * p - k + c(1)),
       {}},
      {"conv same padding", eq(floordiv(H + c(2) * p - (k - c(1)) - c(1), c(1)) + c(1), H), {eq(k, c(2) * p + c(1))}},
      {"conv 3x3 stride 2 pad 1, even H",
       eq(floordiv(H + c(2) - c(2) - c(1), c(2)) + c(1), floordiv(H, c(2))),
       {eq(mod(H, c(2)), c(0))}},
      {"pool 2x2 stride 2", eq(floordiv(W - c(2), c(2)) + c(1), floordiv(W, c(2))), {}},
      {"adaptive pooling T * (S // T)", eq(T * floordiv(S, T), S), {eq(mod(S, T), c(0))}},
      {"negative constant divisor", eq(floordiv(n, c(-2)), c(0) - floordiv(n + c(1), c(2))), {}},
      {"modulo by a negative constant", eq(mod(n, c(-2)), c(0) - mod(n, c(2))), {}},
      {"S - 1 + 1", eq(S - c(1) + c(1), S), {}},
  };
  CHECK(cases.size() >= 30);
  DimSolver solver;
  for (const Case& k : cases) {
    INFO(std::string(k.name), ": ", k.goal.to_string());
    CHECK(prove_under(solver, k).kind == ProofResult::Kind::Proven);
  }
  // The same, as prove_equal.
  CHECK(solver.prove_equal(a * b, b * a).kind == ProofResult::Kind::Proven);
}

TEST_CASE("dim_solver: inequalities") {
  DimExpr S = s("S"), D = s("D"), H = s("H");
  DimSolver solver;
  CHECK(solver.prove({Op::Ge, S, c(1)}).kind == ProofResult::Kind::Proven);
  CHECK(solver.prove({Op::Gt, S + c(1), S}).kind == ProofResult::Kind::Proven);
  CHECK(solver.prove({Op::Lt, S, S * D + c(1)}).kind == ProofResult::Kind::Proven);
  CHECK(solver.prove({Op::Le, floordiv(D, H), D}).kind == ProofResult::Kind::Proven);
  CHECK(solver.prove({Op::Ne, S, S + c(1)}).kind == ProofResult::Kind::Proven);
  CHECK(solver.prove({Op::Ge, mod(D, H), c(0)}).kind == ProofResult::Kind::Proven);
  CHECK(solver.prove({Op::Lt, mod(D, H), H}).kind == ProofResult::Kind::Proven);
  Case gt{"S > 1", {Op::Gt, S, c(1)}, {}};
  ProofResult r = solver.prove(gt.goal);
  check_counterexample(gt, r);
  CHECK(r.counterexample_text() == "S = 1");
}

TEST_CASE("dim_solver: false equalities are refuted with checked counterexamples") {
  DimExpr a = s("a"), b = s("b"), n = s("n"), x = s("x"), D = s("D"), H = s("H"), Dh = s("Dh"), S = s("S");
  std::vector<Case> cases = {
      {"(D // H) * H without D % H == 0", eq(floordiv(D, H) * H, D), {}},
      {"n == n + 1", eq(n, n + c(1)), {}},
      {"H == 1", eq(H, c(1)), {}},
      {"a * b == a", eq(a * b, a), {}},
      {"D % H == 0", eq(mod(D, H), c(0)), {}},
      {"a + b == a", eq(a + b, a), {}},
      {"a == b", eq(a, b), {}},
      {"2n == n", eq(c(2) * n, n), {}},
      {"n // 2 * 2 == n", eq(floordiv(n, c(2)) * c(2), n), {}},
      {"(n + 1) // 2 == n // 2", eq(floordiv(n + c(1), c(2)), floordiv(n, c(2))), {}},
      {"n * n == n", eq(n * n, n), {}},
      {"D // H == D", eq(floordiv(D, H), D), {}},
      {"conv without padding", eq(floordiv(H - c(3), c(1)) + c(1), H), {}},
      {"a * b == a + b", eq(a * b, a + b), {}},
      {"n % 3 == n", eq(mod(n, c(3)), n), {}},
      {"H * Dh == D", eq(H * Dh, D), {}},
      {"x // 2 + x // 2 == x", eq(floordiv(x, c(2)) + floordiv(x, c(2)), x), {}},
      {"S - 1 >= 1", {Op::Ge, S - c(1), c(1)}, {}},
      {"D // H == D given D % H == 0", eq(floordiv(D, H), D), {eq(mod(D, H), c(0))}},
      {"n == 4 given n >= 4", eq(n, c(4)), {{Op::Ge, n, c(4)}}},
      {"n == n + 1 given n >= 3", eq(n, n + c(1)), {{Op::Ge, n, c(3)}}},
      {"floor by a negative constant", eq(floordiv(n, c(-2)), c(0) - floordiv(n, c(2))), {}},
  };
  CHECK(cases.size() >= 15);
  DimSolver solver;
  for (const Case& k : cases) check_counterexample(k, prove_under(solver, k));
}

TEST_CASE("dim_solver: counterexamples are small and printed sorted by name") {
  DimExpr D = s("D"), H = s("H");
  DimSolver solver;
  ProofResult r = solver.prove_equal(floordiv(D, H) * H, D);
  REQUIRE(r.kind == ProofResult::Kind::Refuted);
  CHECK(r.counterexample_text() == "D = 1, H = 2");
  ProofResult h = solver.prove_equal(H, c(1));
  REQUIRE(h.kind == ProofResult::Kind::Refuted);
  CHECK(h.counterexample_text() == "H = 2");
  CHECK(ProofResult{}.counterexample_text().empty());
  CHECK(DimPredicate{Op::Le, floordiv(D, H) * H, D}.to_string() == "(D // H) * H <= D");
}

TEST_CASE("dim_solver: push and pop scope assumptions") {
  DimExpr D = s("D"), H = s("H");
  DimPredicate goal = eq(floordiv(D, H) * H, D);
  DimSolver solver;
  CHECK(solver.prove(goal).kind == ProofResult::Kind::Refuted);
  solver.push();
  CHECK(solver.depth() == 1);
  solver.assume(eq(mod(D, H), c(0)));
  CHECK(solver.prove(goal).kind == ProofResult::Kind::Proven);
  solver.push();
  solver.assume(eq(H, c(4)));
  CHECK(solver.prove_equal(floordiv(D, c(4)) * c(4), D).kind == ProofResult::Kind::Proven);
  solver.pop();
  CHECK(solver.prove_equal(H, c(4)).kind == ProofResult::Kind::Refuted);
  CHECK(solver.prove(goal).kind == ProofResult::Kind::Proven);
  solver.pop();
  CHECK(solver.depth() == 0);
  CHECK(solver.prove(goal).kind == ProofResult::Kind::Refuted);
  solver.pop();  // unbalanced: ignored
  CHECK(solver.depth() == 0);
  CHECK(solver.prove(goal).kind == ProofResult::Kind::Refuted);
}

TEST_CASE("dim_solver: contradictory assumptions prove anything, and are scoped") {
  DimExpr n = s("n");
  DimSolver solver;
  solver.push();
  solver.assume(eq(n, c(2)));
  solver.assume(eq(n, c(3)));
  CHECK(solver.prove_equal(n, n + c(1)).kind == ProofResult::Kind::Proven);
  solver.pop();
  CHECK(solver.prove_equal(n, n + c(1)).kind == ProofResult::Kind::Refuted);
}

TEST_CASE("dim_solver: results are cached by normalized query and assumptions") {
  DimExpr D = s("D"), H = s("H"), a = s("a"), b = s("b");
  DimSolver solver;
  DimPredicate goal = eq(floordiv(D, H) * H, D);
  CHECK(solver.prove(goal).kind == ProofResult::Kind::Refuted);
  uint64_t calls = solver.stats().z3_calls;
  CHECK(calls == 1);
  CHECK(solver.prove(goal).kind == ProofResult::Kind::Refuted);
  CHECK(solver.prove(eq(D, floordiv(D, H) * H)).kind == ProofResult::Kind::Refuted);  // sides swapped
  CHECK(solver.stats().z3_calls == calls);
  CHECK(solver.stats().cache_hits == 2);
  solver.push();
  solver.assume(eq(mod(D, H), c(0)));
  CHECK(solver.prove(goal).kind == ProofResult::Kind::Proven);  // new assumption set: new call
  CHECK(solver.stats().z3_calls == calls + 1);
  CHECK(solver.prove(goal).kind == ProofResult::Kind::Proven);
  CHECK(solver.stats().cache_hits == 3);
  solver.pop();
  // Trivial facts are not recorded, so they keep the cache key.
  solver.push();
  solver.assume({Op::Ge, D, c(1)});
  CHECK(solver.prove(goal).kind == ProofResult::Kind::Refuted);
  CHECK(solver.stats().cache_hits == 4);
  solver.pop();
  // Easy cases do not reach Z3 at all.
  uint64_t before = solver.stats().z3_calls;
  CHECK(solver.prove_equal(a + b, b + a).kind == ProofResult::Kind::Proven);
  CHECK(solver.prove_equal(a, a + c(1)).kind == ProofResult::Kind::Refuted);
  CHECK(solver.stats().z3_calls == before);
  CHECK(solver.stats().easy == 2);
  CHECK(solver.stats().queries == 8);
  CHECK(solver.stats().z3_ms > 0);
}

TEST_CASE("dim_solver: a cached counterexample is refitted to cancelled symbols") {
  DimExpr n = s("n"), m = s("m"), k = s("k");
  DimSolver solver;
  // Both normalize to n * n - 5 == 0 but mention different cancelled symbols.
  Case first{"first", eq(n * n + m, m + c(5)), {}};
  Case second{"second", eq(n * n + k, k + c(5)), {}};
  check_counterexample(first, solver.prove(first.goal));
  check_counterexample(second, solver.prove(second.goal));
  CHECK(solver.stats().cache_hits == 1);
}

TEST_CASE("dim_solver: a division by the constant 0 is unknown, not vacuously proven") {
  DimExpr n = s("n");
  DimSolver solver;
  CHECK(solver.prove_equal(floordiv(n, c(0)), n).kind == ProofResult::Kind::Unknown);
  solver.assume(eq(floordiv(n, c(0)), c(1)));  // ignored
  CHECK(solver.prove_equal(n, c(1)).kind == ProofResult::Kind::Refuted);
}

TEST_CASE("dim_solver: a hard query times out as Unknown instead of hanging") {
  DimExpr x = s("x"), y = s("y"), z = s("z");
  // Fermat for n = 3: true, but far beyond Z3's nonlinear integer reasoning.
  DimPredicate fermat{Op::Ne, x * x * x + y * y * y, z * z * z};
  for (unsigned timeout : {1u, 50u}) {
    DimSolver solver(timeout);
    auto start = std::chrono::steady_clock::now();
    ProofResult r = solver.prove(fermat);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    INFO("timeout ", timeout, " ms took ", seconds, " s");
    CHECK(r.kind != ProofResult::Kind::Refuted);
    CHECK(seconds < 5.0);
    // The interrupted solver still answers the next query (a nonlinear one Z3 must decide),
    // given a wall-clock guard a loaded machine cannot hit.
    solver.set_timeout_ms(60000);
    DimPredicate next{Op::Ge, x * y, x};
    CHECK(solver.prove(next).kind == ProofResult::Kind::Proven);
    DimPredicate wrong{Op::Eq, x * y, x + y};
    CHECK(solver.prove(wrong).kind == ProofResult::Kind::Refuted);
  }
}

TEST_CASE("dim_solver: equality assumptions act as scoped definitions") {
  DimExpr D = s("D"), H = s("H"), Dh = s("Dh"), a = s("a"), b = s("b"), k = s("k");
  DimSolver solver;
  solver.push();
  solver.assume(eq(D, H * Dh));
  uint64_t calls = solver.stats().z3_calls;
  // Nonlinear for Z3, immediate once D is replaced by H * Dh.
  CHECK(solver.prove_equal(floordiv(D, H), Dh).kind == ProofResult::Kind::Proven);
  CHECK(solver.prove_equal(mod(D, Dh), c(0)).kind == ProofResult::Kind::Proven);
  CHECK(solver.stats().z3_calls == calls);
  // A refutation still reports the defined symbol, consistent with the definition.
  Case wrong{"D // H == H given D == H * Dh", eq(floordiv(D, H), H), {eq(D, H * Dh)}};
  check_counterexample(wrong, solver.prove(wrong.goal));
  solver.pop();
  CHECK(solver.prove_equal(floordiv(D, H), Dh).kind == ProofResult::Kind::Refuted);

  solver.push();
  solver.assume(eq(a, b));
  solver.assume(eq(b, k + c(1)));
  CHECK(solver.prove_equal(a, k + c(1)).kind == ProofResult::Kind::Proven);
  CHECK(solver.prove({Op::Ge, a, c(2)}).kind == ProofResult::Kind::Proven);
  solver.pop();
  CHECK(solver.prove_equal(a, k + c(1)).kind == ProofResult::Kind::Refuted);
}
