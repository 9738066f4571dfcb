// DimSolver: easy cases from the canonical form, the rest through one incremental Z3 solver.
#include "sema/dim_solver.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <z3++.h>

namespace tessera::sema {

std::string_view op_spelling(DimPredicate::Op op) {
  switch (op) {
    case DimPredicate::Op::Eq: return "==";
    case DimPredicate::Op::Ne: return "!=";
    case DimPredicate::Op::Lt: return "<";
    case DimPredicate::Op::Le: return "<=";
    case DimPredicate::Op::Gt: return ">";
    case DimPredicate::Op::Ge: return ">=";
  }
  return "?";
}

std::string DimPredicate::to_string() const {
  return lhs.to_string() + " " + std::string(op_spelling(op)) + " " + rhs.to_string();
}

std::optional<bool> DimPredicate::holds(const std::map<std::string, int64_t>& values) const {
  auto l = lhs.evaluate(values);
  auto r = rhs.evaluate(values);
  if (!l || !r) return std::nullopt;
  switch (op) {
    case Op::Eq: return *l == *r;
    case Op::Ne: return *l != *r;
    case Op::Lt: return *l < *r;
    case Op::Le: return *l <= *r;
    case Op::Gt: return *l > *r;
    case Op::Ge: return *l >= *r;
  }
  return std::nullopt;
}

std::string ProofResult::counterexample_text() const {
  std::string out;
  for (const auto& [name, value] : counterexample) {
    if (!out.empty()) out += ", ";
    out += name + " = " + std::to_string(value);
  }
  return out;
}

namespace {

// A predicate reduced to one polynomial compared with zero. Gt/Ge/Lt/Le become `p >= 0`
// (integers: `a < b` is `b - a - 1 >= 0`), and for Eq/Ne the smaller of `p` and `-p` is kept,
// so `a == b` and `b == a` share a cache entry.
struct NormPred {
  enum class Kind { EqZero, NeZero, GeZero };
  Kind kind = Kind::EqZero;
  DimExpr poly;

  bool operator<(const NormPred& o) const {
    if (kind != o.kind) return kind < o.kind;
    return poly < o.poly;
  }
};

NormPred normalize(const DimPredicate& p) {
  const DimExpr one = DimExpr::constant(1);
  switch (p.op) {
    case DimPredicate::Op::Eq:
    case DimPredicate::Op::Ne: {
      DimExpr d = p.lhs - p.rhs;
      DimExpr n = p.rhs - p.lhs;
      auto kind = p.op == DimPredicate::Op::Eq ? NormPred::Kind::EqZero : NormPred::Kind::NeZero;
      return {kind, n < d ? n : d};
    }
    case DimPredicate::Op::Le: return {NormPred::Kind::GeZero, p.rhs - p.lhs};
    case DimPredicate::Op::Ge: return {NormPred::Kind::GeZero, p.lhs - p.rhs};
    case DimPredicate::Op::Lt: return {NormPred::Kind::GeZero, p.rhs - p.lhs - one};
    case DimPredicate::Op::Gt: return {NormPred::Kind::GeZero, p.lhs - p.rhs - one};
  }
  return {};
}

bool has_zero_divisor(const DimExpr& e) {
  for (const DimTerm& t : e.terms()) {
    for (const auto& [atom, exp] : t.factors) {
      if (atom.kind == DimAtom::Kind::Symbol) continue;
      bool division = atom.kind == DimAtom::Kind::FloorDiv || atom.kind == DimAtom::Kind::Mod;
      if (division && atom.rhs.terms().empty()) return true;
      if (has_zero_divisor(atom.lhs) || has_zero_divisor(atom.rhs)) return true;
    }
  }
  return false;
}

// What the canonical form alone says about a normalized predicate.
enum class Easy {
  Proven,
  FalseEverywhere,  // false under every assignment (where defined)
  FalseAtOnes,      // false when every symbol is 1
  Undecided,
};

Easy decide_easy(const NormPred& p) {
  const DimExpr& e = p.poly;
  if (e.is_constant()) {
    int64_t c = e.constant_value();
    bool holds = p.kind == NormPred::Kind::EqZero ? c == 0 : (p.kind == NormPred::Kind::NeZero ? c != 0 : c >= 0);
    return holds ? Easy::Proven : Easy::FalseEverywhere;
  }
  // A polynomial in symbols alone whose non-constant coefficients share one sign is monotone in
  // every symbol over the integers >= 1, so its extreme value is at all ones.
  bool all_pos = true, all_neg = true;
  int64_t at_ones = 0;
  for (const DimTerm& t : e.terms()) {
    for (const auto& [atom, exp] : t.factors)
      if (atom.kind != DimAtom::Kind::Symbol) return Easy::Undecided;
    if (!t.factors.empty()) {
      all_pos = all_pos && t.coefficient > 0;
      all_neg = all_neg && t.coefficient < 0;
    }
    if (__builtin_add_overflow(at_ones, t.coefficient, &at_ones)) return Easy::Undecided;
  }
  if (all_pos) {  // at_ones is the minimum
    switch (p.kind) {
      case NormPred::Kind::GeZero: return at_ones >= 0 ? Easy::Proven : Easy::FalseAtOnes;
      case NormPred::Kind::EqZero: return at_ones > 0 ? Easy::FalseEverywhere : Easy::Undecided;
      case NormPred::Kind::NeZero: return at_ones > 0 ? Easy::Proven : Easy::Undecided;
    }
  }
  if (all_neg) {  // at_ones is the maximum
    switch (p.kind) {
      case NormPred::Kind::GeZero: return at_ones < 0 ? Easy::FalseEverywhere : Easy::Undecided;
      case NormPred::Kind::EqZero: return at_ones < 0 ? Easy::FalseEverywhere : Easy::Undecided;
      case NormPred::Kind::NeZero: return at_ones < 0 ? Easy::Proven : Easy::Undecided;
    }
  }
  return Easy::Undecided;
}

// A divisor that is >= 1 for every assignment: a sum of symbol monomials with positive
// coefficients (a positive constant included).
bool statically_positive(const DimExpr& e) {
  if (e.terms().empty()) return false;
  for (const DimTerm& t : e.terms()) {
    if (t.coefficient <= 0) return false;
    for (const auto& [atom, exp] : t.factors)
      if (atom.kind != DimAtom::Kind::Symbol) return false;
  }
  return true;
}

// Translates canonical forms to Z3 integer terms, collecting the side conditions (divisors
// are nonzero) that make the translated term defined.
class Translator {
 public:
  explicit Translator(z3::context& ctx) : ctx_(ctx) {}

  z3::expr expr(const DimExpr& e) {
    std::optional<z3::expr> sum;
    for (const DimTerm& t : e.terms()) {
      std::optional<z3::expr> term;
      if (t.coefficient != 1 || t.factors.empty()) term = ctx_.int_val(t.coefficient);
      for (const auto& [a, exp] : t.factors) {
        z3::expr x = atom(a);
        // Powers are repeated products: Z3's `^` on integers yields a real-valued term.
        for (uint32_t i = 0; i < exp; ++i) term = term ? *term * x : x;
      }
      sum = sum ? *sum + *term : *term;
    }
    return sum ? *sum : ctx_.int_val(0);
  }

  const std::vector<z3::expr>& side_conditions() const { return side_; }

 private:
  z3::expr atom(const DimAtom& a) {
    switch (a.kind) {
      case DimAtom::Kind::Symbol: return ctx_.int_const(a.name.c_str());
      case DimAtom::Kind::FloorDiv: return floor_div(a.lhs, a.rhs);
      case DimAtom::Kind::Mod: {
        if (statically_positive(a.rhs)) return z3::mod(expr(a.lhs), expr(a.rhs));
        return expr(a.lhs) - expr(a.rhs) * floor_div(a.lhs, a.rhs);
      }
      case DimAtom::Kind::Sum: return expr(a.lhs) + expr(a.rhs);
      case DimAtom::Kind::Difference: return expr(a.lhs) - expr(a.rhs);
      case DimAtom::Kind::Product: return expr(a.lhs) * expr(a.rhs);
    }
    return ctx_.int_val(0);
  }

  // Z3's integer division is Euclidean, which is floor division for a positive divisor; for a
  // negative one, floor(a / b) = floor(-a / -b).
  z3::expr floor_div(const DimExpr& lhs, const DimExpr& rhs) {
    z3::expr l = expr(lhs);
    z3::expr r = expr(rhs);
    if (statically_positive(rhs)) return l / r;
    if (rhs.is_constant() && rhs.constant_value() < 0) return (-l) / (-r);
    if (!rhs.is_constant()) side_.push_back(r != 0);
    return z3::ite(r > 0, l / r, (-l) / (-r));
  }

  z3::context& ctx_;
  std::vector<z3::expr> side_;  // a plain vector: z3::expr_vector copies share storage
};

// From an assumption `poly == 0`, a symbol it defines: one that occurs only as a term `v` or
// `-v`, so `v = expression in the other symbols`. Substituting such definitions into later
// queries lets the canonical form decide them: given `D == H * Dh`, `D // H == Dh` becomes
// `Dh == Dh`, a query Z3 needs about 200 ms of nonlinear search for.
std::optional<std::pair<std::string, DimExpr>> definition(const DimExpr& poly) {
  for (const DimTerm& t : poly.terms()) {
    if (t.factors.size() != 1 || t.factors[0].second != 1) continue;
    if (t.factors[0].first.kind != DimAtom::Kind::Symbol) continue;
    if (t.coefficient != 1 && t.coefficient != -1) continue;
    const std::string& v = t.factors[0].first.name;
    DimExpr rest = poly - DimExpr::constant(t.coefficient) * DimExpr::symbol(v);
    if (rest.symbols().count(v)) continue;
    return std::make_pair(v, t.coefficient == 1 ? DimExpr::constant(0) - rest : rest);
  }
  return std::nullopt;
}

struct Assumption {
  NormPred norm;
  DimPredicate original;
};

using CacheKey = std::pair<NormPred, std::vector<NormPred>>;

// Bounds the cache; past it the cache starts over (answers are recomputed, never wrong).
constexpr size_t kMaxCacheEntries = 1 << 16;

// Z3's resource units per query. The dimension queries of real programs use under 200,000
// (the largest seen: a refuted reshape, 190,000 units in 0.1 s); nonlinear queries beyond
// Z3's reach stop here after about 2 s instead of running on.
constexpr unsigned kRlimitPerQuery = 500000;

}  // namespace

struct DimSolver::Impl {
  explicit Impl(unsigned timeout) : timeout_ms(timeout), solver(ctx) {
    z3::params p(ctx);
    // The resource limit makes answers deterministic: the same query gets the same answer on
    // a loaded machine and an idle one. The wall-clock timeout only guards against a limit
    // that turns out far slower than measured; it is set well above what the limit costs.
    p.set("rlimit", kRlimitPerQuery);
    solver.set(p);
  }

  unsigned timeout_ms;
  z3::context ctx;
  z3::solver solver;  // declared after ctx: destroyed before it
  std::vector<std::vector<Assumption>> scopes{1};
  // Per scope, every definition `symbol = expression` taken from the active equalities, fully
  // substituted (no defined symbol occurs on a right-hand side).
  std::vector<std::map<std::string, DimExpr>> definitions{1};
  std::map<CacheKey, ProofResult> cache;
  SolverStats stats;

  bool has_assumptions() const {
    for (const auto& s : scopes)
      if (!s.empty()) return true;
    return false;
  }

  std::vector<NormPred> assumption_key() const {
    std::vector<NormPred> out;
    for (const auto& s : scopes)
      for (const Assumption& a : s) out.push_back(a.norm);
    return out;
  }

  // Every symbol of the goal and of the active assumptions.
  std::set<std::string> relevant_symbols(const DimPredicate& goal) const {
    std::set<std::string> out = goal.lhs.symbols();
    out.merge(goal.rhs.symbols());
    for (const auto& s : scopes) {
      for (const Assumption& a : s) {
        out.merge(a.original.lhs.symbols());
        out.merge(a.original.rhs.symbols());
      }
    }
    return out;
  }

  // A counterexample is kept only if evaluation confirms it: every assumption holds and the
  // goal is false.
  bool confirms(const DimPredicate& goal, const std::map<std::string, int64_t>& values) const {
    for (const auto& [name, v] : values)
      if (v < 1) return false;
    if (goal.holds(values) != std::optional<bool>(false)) return false;
    for (const auto& s : scopes)
      for (const Assumption& a : s)
        if (a.original.holds(values) != std::optional<bool>(true)) return false;
    return true;
  }

  // Z3's models are arbitrary (`H = 7` where `H = 2` would do); small values read better in a
  // diagnostic, so each symbol is lowered to the least value that keeps the counterexample
  // valid, by evaluation alone.
  void shrink(const DimPredicate& goal, std::map<std::string, int64_t>& values) const {
    constexpr int64_t kTryUpTo = 64;
    for (int pass = 0; pass < 2; ++pass) {
      for (auto& [name, v] : values) {
        int64_t original = v;
        for (int64_t candidate = 1; candidate < original && candidate <= kTryUpTo; ++candidate) {
          v = candidate;
          if (confirms(goal, values)) break;
          v = original;
        }
      }
    }
  }

  // Asserts `symbol >= 1` for each symbol of `e` and the side conditions of its translation,
  // and returns the translated term.
  z3::expr encode(const DimExpr& e) {
    for (const std::string& s : e.symbols()) solver.add(ctx.int_const(s.c_str()) >= 1);
    Translator tr(ctx);
    z3::expr out = tr.expr(e);
    for (const z3::expr& c : tr.side_conditions()) solver.add(c);
    return out;
  }

  // solver.check() under a wall-clock guard: a watchdog thread interrupts the context when the
  // time is up, and keeps interrupting until check() returns (Z3's own `timeout` parameter was
  // seen to lose its cancellation on a loaded machine and run for minutes).
  z3::check_result check_with_watchdog() {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::thread watchdog([&] {
      std::unique_lock<std::mutex> lock(m);
      auto wait = std::chrono::milliseconds(std::max(1u, timeout_ms));
      while (!cv.wait_for(lock, wait, [&] { return done; })) {
        ctx.interrupt();
        wait = std::chrono::milliseconds(5);
      }
    });
    z3::check_result r = z3::unknown;
    try {
      r = solver.check();
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(m);
        done = true;
      }
      cv.notify_all();
      watchdog.join();
      throw;
    }
    {
      std::lock_guard<std::mutex> lock(m);
      done = true;
    }
    cv.notify_all();
    watchdog.join();
    return r;
  }

  ProofResult run_z3(const DimPredicate& goal, const NormPred& q) {
    ProofResult result;
    bool pushed = false;
    try {
      solver.push();
      pushed = true;
      // Symbols that cancel out of the normalized form still get a value in the counterexample.
      for (const std::string& name : relevant_symbols(goal)) solver.add(ctx.int_const(name.c_str()) >= 1);
      z3::expr p = encode(q.poly);
      switch (q.kind) {
        case NormPred::Kind::EqZero: solver.add(p != 0); break;
        case NormPred::Kind::NeZero: solver.add(p == 0); break;
        case NormPred::Kind::GeZero: solver.add(p < 0); break;
      }
      auto start = std::chrono::steady_clock::now();
      z3::check_result r = check_with_watchdog();
      stats.z3_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      ++stats.z3_calls;
      if (r == z3::unsat) {
        result.kind = ProofResult::Kind::Proven;
      } else if (r == z3::sat) {
        z3::model m = solver.get_model();
        std::map<std::string, int64_t> values;
        bool complete = true;
        for (const std::string& s : relevant_symbols(goal)) {
          int64_t v = 0;
          if (!m.eval(ctx.int_const(s.c_str()), true).is_numeral_i64(v)) complete = false;
          values[s] = v;
        }
        if (complete && confirms(goal, values)) {
          shrink(goal, values);
          result.kind = ProofResult::Kind::Refuted;
          result.counterexample = std::move(values);
        }
      }
      solver.pop();
    } catch (...) {
      // Z3 reports errors by exception; none may leave the solver, and the answer is Unknown.
      if (pushed) {
        try {
          solver.pop();
        } catch (...) {
          // Nothing more can be done; the query's answer is already Unknown.
        }
      }
      result = ProofResult{};
    }
    return result;
  }
};

DimSolver::DimSolver(unsigned timeout_ms) : impl_(std::make_unique<Impl>(timeout_ms)) {}

DimSolver::~DimSolver() = default;

void DimSolver::set_timeout_ms(unsigned timeout_ms) { impl_->timeout_ms = timeout_ms; }

void DimSolver::push() {
  try {
    impl_->solver.push();
  } catch (...) {
    return;  // no Z3 scope was opened, so none is recorded; the matching pop() is then a no-op
  }
  auto definitions = impl_->definitions.back();
  impl_->scopes.emplace_back();
  impl_->definitions.push_back(std::move(definitions));
}

void DimSolver::pop() {
  if (impl_->scopes.size() <= 1) return;
  try {
    impl_->solver.pop();
  } catch (...) {
    // Our scope bookkeeping still closes the scope; errors may not leave the solver.
  }
  impl_->scopes.pop_back();
  impl_->definitions.pop_back();
}

size_t DimSolver::depth() const { return impl_->scopes.size() - 1; }

void DimSolver::assume(const DimPredicate& fact) {
  NormPred n = normalize(fact);
  // A fact about an expression divided by zero says nothing; asserting `0 != 0` would make
  // every later query vacuously true.
  if (has_zero_divisor(n.poly)) return;
  const auto& defs = impl_->definitions.back();
  NormPred reduced{n.kind, n.poly.substitute(defs)};
  if (decide_easy(reduced) == Easy::Proven) return;
  try {
    z3::expr p = impl_->encode(n.poly);
    switch (n.kind) {
      case NormPred::Kind::EqZero: impl_->solver.add(p == 0); break;
      case NormPred::Kind::NeZero: impl_->solver.add(p != 0); break;
      case NormPred::Kind::GeZero: impl_->solver.add(p >= 0); break;
    }
  } catch (...) {
    return;  // not asserted, so not recorded either
  }
  impl_->scopes.back().push_back({std::move(n), fact});
  if (reduced.kind != NormPred::Kind::EqZero || has_zero_divisor(reduced.poly)) return;
  if (auto def = definition(reduced.poly)) {
    auto& current = impl_->definitions.back();
    std::map<std::string, DimExpr> one{{def->first, def->second}};
    for (auto& [name, value] : current) value = value.substitute(one);
    current.emplace(def->first, def->second);
  }
}

ProofResult DimSolver::prove_equal(const DimExpr& a, const DimExpr& b) {
  return prove(DimPredicate{DimPredicate::Op::Eq, a, b});
}

ProofResult DimSolver::prove(const DimPredicate& goal) {
  Impl& s = *impl_;
  ++s.stats.queries;
  const auto& defs = s.definitions.back();
  NormPred q = defs.empty() ? normalize(goal)
                            : normalize(DimPredicate{goal.op, goal.lhs.substitute(defs), goal.rhs.substitute(defs)});
  if (has_zero_divisor(q.poly)) return {};

  Easy easy = decide_easy(q);
  if (easy == Easy::Proven) {
    ++s.stats.easy;
    return {ProofResult::Kind::Proven, {}};
  }
  // Without assumptions, all ones (or all twos, should a divisor vanish at ones) is a
  // counterexample to a predicate that is false everywhere; with assumptions Z3 must find
  // values that satisfy them.
  if (!s.has_assumptions() && (easy == Easy::FalseEverywhere || easy == Easy::FalseAtOnes)) {
    for (int64_t v : {int64_t{1}, int64_t{2}}) {
      if (v == 2 && easy == Easy::FalseAtOnes) break;
      std::map<std::string, int64_t> values;
      for (const std::string& name : s.relevant_symbols(goal)) values[name] = v;
      if (s.confirms(goal, values)) {
        ++s.stats.easy;
        return {ProofResult::Kind::Refuted, std::move(values)};
      }
    }
  }

  CacheKey key{q, s.assumption_key()};
  if (auto it = s.cache.find(key); it != s.cache.end()) {
    const ProofResult& hit = it->second;
    if (hit.kind != ProofResult::Kind::Refuted) {
      ++s.stats.cache_hits;
      return hit;
    }
    // Goals with one normalized form can differ in symbols that cancel (`n + m == m + 5` and
    // `n + k == k + 5`), so a cached counterexample is fitted to this goal and checked again.
    std::map<std::string, int64_t> values;
    for (const std::string& name : s.relevant_symbols(goal)) {
      auto v = hit.counterexample.find(name);
      values[name] = v == hit.counterexample.end() ? 1 : v->second;
    }
    if (s.confirms(goal, values)) {
      ++s.stats.cache_hits;
      return {ProofResult::Kind::Refuted, std::move(values)};
    }
  }
  ProofResult r = s.run_z3(goal, q);
  if (s.cache.size() >= kMaxCacheEntries) s.cache.clear();
  s.cache.insert_or_assign(std::move(key), r);
  return r;
}

const SolverStats& DimSolver::stats() const { return impl_->stats; }

}  // namespace tessera::sema
