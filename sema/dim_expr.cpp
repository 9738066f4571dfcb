// DimExpr: canonical polynomial arithmetic, simplification, evaluation and printing.
#include "sema/dim_expr.h"

#include <algorithm>
#include <functional>
#include <limits>

namespace tessera::sema {

struct DimExpr::Node {
  std::vector<DimTerm> terms;
  size_t hash = 0;
  // Symbols in the order they first appeared while the expression was built. Display only.
  std::vector<std::string> order;
};

namespace {

using Factors = std::vector<std::pair<DimAtom, uint32_t>>;
using Order = std::vector<std::string>;

// Products of many-term sums grow quickly; past this many terms a product stays opaque
// rather than expanded, which is sound and keeps the work bounded.
constexpr size_t kMaxTerms = 4096;

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

int three_way(int64_t a, int64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

int compare_atoms(const DimAtom& a, const DimAtom& b) {
  if (a.kind != b.kind) return a.kind < b.kind ? -1 : 1;
  if (a.kind == DimAtom::Kind::Symbol) return a.name.compare(b.name) < 0 ? -1 : (a.name == b.name ? 0 : 1);
  if (int c = DimExpr::compare(a.lhs, b.lhs)) return c;
  return DimExpr::compare(a.rhs, b.rhs);
}

// Lexicographic on (atom, exponent); a proper prefix sorts first, so the empty monomial (the
// constant term) comes before every other.
int compare_factors(const Factors& a, const Factors& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (int c = compare_atoms(a[i].first, b[i].first)) return c;
    if (a[i].second != b[i].second) return a[i].second < b[i].second ? -1 : 1;
  }
  return three_way(static_cast<int64_t>(a.size()), static_cast<int64_t>(b.size()));
}

size_t mix(size_t seed, size_t v) { return seed ^ (v + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2)); }

size_t hash_atom(const DimAtom& a) {
  size_t h = static_cast<size_t>(a.kind);
  if (a.kind == DimAtom::Kind::Symbol) return mix(h, std::hash<std::string>{}(a.name));
  return mix(mix(h, a.lhs.hash()), a.rhs.hash());
}

size_t hash_terms(const std::vector<DimTerm>& terms) {
  size_t h = 0x51ed27;
  for (const DimTerm& t : terms) {
    h = mix(h, std::hash<int64_t>{}(t.coefficient));
    for (const auto& [atom, e] : t.factors) h = mix(mix(h, hash_atom(atom)), e);
    h = mix(h, 0xfeed);
  }
  return h;
}

Order merge_order(const Order& a, const Order& b) {
  Order out = a;
  for (const std::string& s : b)
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  return out;
}

// Sorts terms by monomial, merges equal monomials and drops zero coefficients; nullopt when a
// merged coefficient overflows.
std::optional<std::vector<DimTerm>> normalize(std::vector<DimTerm> raw) {
  // Terms with equal monomials are merged below, so their relative order does not matter.
  std::sort(raw.begin(), raw.end(),
            [](const DimTerm& x, const DimTerm& y) { return compare_factors(x.factors, y.factors) < 0; });
  std::vector<DimTerm> out;
  for (DimTerm& t : raw) {
    if (!out.empty() && compare_factors(out.back().factors, t.factors) == 0) {
      int64_t sum;
      if (__builtin_add_overflow(out.back().coefficient, t.coefficient, &sum)) return std::nullopt;
      out.back().coefficient = sum;
    } else {
      out.push_back(std::move(t));
    }
  }
  std::erase_if(out, [](const DimTerm& t) { return t.coefficient == 0; });
  return out;
}

// Multiplies two monomials by merging their sorted factor lists; nullopt on exponent overflow.
std::optional<Factors> multiply_factors(const Factors& a, const Factors& b) {
  Factors out;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    int c = i == a.size() ? 1 : (j == b.size() ? -1 : compare_atoms(a[i].first, b[j].first));
    if (c < 0) {
      out.push_back(a[i++]);
    } else if (c > 0) {
      out.push_back(b[j++]);
    } else {
      uint32_t e;
      if (__builtin_add_overflow(a[i].second, b[j].second, &e)) return std::nullopt;
      out.emplace_back(a[i].first, e);
      ++i, ++j;
    }
  }
  return out;
}

// If term `t` is an exact multiple of the single term `d`, stores t / d in `q`.
bool divide_term(const DimTerm& t, const DimTerm& d, DimTerm& q) {
  if (d.coefficient == 0 || t.coefficient % d.coefficient != 0) return false;
  if (t.coefficient == kMin && d.coefficient == -1) return false;
  q.coefficient = t.coefficient / d.coefficient;
  q.factors.clear();
  size_t j = 0;
  for (const auto& [atom, e] : t.factors) {
    if (j < d.factors.size()) {
      int c = compare_atoms(atom, d.factors[j].first);
      if (c > 0) return false;  // t lacks d's factor j
      if (c == 0) {
        if (e < d.factors[j].second) return false;
        if (e > d.factors[j].second) q.factors.emplace_back(atom, e - d.factors[j].second);
        ++j;
        continue;
      }
    }
    q.factors.emplace_back(atom, e);
  }
  return j == d.factors.size();
}

std::optional<int64_t> py_floordiv(int64_t a, int64_t b) {
  if (b == 0 || (a == kMin && b == -1)) return std::nullopt;
  int64_t q = a / b;
  if (a % b != 0 && ((a % b < 0) != (b < 0))) --q;
  return q;
}

std::optional<int64_t> py_mod(int64_t a, int64_t b) {
  if (b == 0) return std::nullopt;
  if (b == -1) return 0;  // also avoids the INT64_MIN % -1 trap
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

std::optional<int64_t> checked_pow(int64_t base, uint32_t e) {
  int64_t result = 1;
  while (e) {
    if (e & 1u && __builtin_mul_overflow(result, base, &result)) return std::nullopt;
    e >>= 1;
    if (e && __builtin_mul_overflow(base, base, &base)) return std::nullopt;
  }
  return result;
}

void collect_symbols(const DimExpr& e, std::set<std::string>& out) {
  for (const DimTerm& t : e.terms()) {
    for (const auto& [atom, exp] : t.factors) {
      if (atom.kind == DimAtom::Kind::Symbol) {
        out.insert(atom.name);
      } else {
        collect_symbols(atom.lhs, out);
        collect_symbols(atom.rhs, out);
      }
    }
  }
}

}  // namespace

// Construction helpers with access to the private constructor.
struct DimExprBuilder {
  static DimExpr make(std::vector<DimTerm> terms, Order order) {
    auto node = std::make_shared<DimExpr::Node>();
    node->hash = hash_terms(terms);
    node->terms = std::move(terms);
    node->order = std::move(order);
    return DimExpr(std::move(node));
  }
  static const Order& order(const DimExpr& e) { return e.node_->order; }
  static DimExpr with_order(const DimExpr& e, Order order) { return make(e.node_->terms, std::move(order)); }
  static DimExpr opaque(DimAtom::Kind kind, const DimExpr& a, const DimExpr& b) {
    DimTerm t;
    t.coefficient = 1;
    t.factors.emplace_back(DimAtom{kind, {}, a, b}, 1u);
    std::vector<DimTerm> terms;
    terms.push_back(std::move(t));
    return make(std::move(terms), merge_order(order(a), order(b)));
  }
};

namespace {

using B = DimExprBuilder;

std::optional<std::vector<DimTerm>> negate_terms(const std::vector<DimTerm>& terms) {
  std::vector<DimTerm> out = terms;
  for (DimTerm& t : out)
    if (__builtin_mul_overflow(t.coefficient, int64_t{-1}, &t.coefficient)) return std::nullopt;
  return out;
}

// Splits `a` by the single-term divisor `d`: the terms that are exact multiples go, divided,
// to `quotient`; the others stay in `rest`.
void split_by(const DimExpr& a, const DimTerm& d, std::vector<DimTerm>& quotient, std::vector<DimTerm>& rest) {
  for (const DimTerm& t : a.terms()) {
    DimTerm q;
    if (divide_term(t, d, q))
      quotient.push_back(std::move(q));
    else
      rest.push_back(t);
  }
}

// Whether `(m * q + rest) // m` should become `q + rest // m`. Only when that leaves nothing
// opaque behind: `rest` is empty, or a constant over a constant divisor (which folds). Pulling
// divisible terms out of an otherwise opaque quotient would be just as sound, but diagnostics
// would print `p + (H - 1) // 2` for the user's `(H + 2 * p - 1) // 2`.
bool splits_cleanly(const DimExpr& divisor, const std::vector<DimTerm>& rest) {
  if (rest.empty()) return true;
  return divisor.is_constant() && rest.size() == 1 && rest[0].factors.empty();
}

}  // namespace

DimExpr::DimExpr() {
  // Every default-constructed expression shares one zero node; nodes are immutable.
  static const std::shared_ptr<const Node> zero = [] {
    auto n = std::make_shared<Node>();
    n->hash = hash_terms(n->terms);
    return n;
  }();
  node_ = zero;
}

DimExpr DimExpr::constant(int64_t value) {
  std::vector<DimTerm> terms;
  if (value != 0) terms.push_back(DimTerm{value, {}});
  return B::make(std::move(terms), {});
}

DimExpr DimExpr::symbol(std::string name) {
  DimTerm t;
  t.coefficient = 1;
  t.factors.emplace_back(DimAtom{DimAtom::Kind::Symbol, name, {}, {}}, 1u);
  std::vector<DimTerm> terms;
  terms.push_back(std::move(t));
  return B::make(std::move(terms), {std::move(name)});
}

const std::vector<DimTerm>& DimExpr::terms() const { return node_->terms; }

bool DimExpr::is_constant() const {
  return node_->terms.empty() || (node_->terms.size() == 1 && node_->terms[0].factors.empty());
}

int64_t DimExpr::constant_value() const {
  if (!is_constant() || node_->terms.empty()) return 0;
  return node_->terms[0].coefficient;
}

std::optional<std::string> DimExpr::as_symbol() const {
  if (node_->terms.size() != 1) return std::nullopt;
  const DimTerm& t = node_->terms[0];
  if (t.coefficient != 1 || t.factors.size() != 1 || t.factors[0].second != 1) return std::nullopt;
  if (t.factors[0].first.kind != DimAtom::Kind::Symbol) return std::nullopt;
  return t.factors[0].first.name;
}

std::set<std::string> DimExpr::symbols() const {
  std::set<std::string> out;
  collect_symbols(*this, out);
  return out;
}

size_t DimExpr::hash() const { return node_->hash; }

int DimExpr::compare(const DimExpr& a, const DimExpr& b) {
  if (a.node_ == b.node_) return 0;
  const auto& x = a.node_->terms;
  const auto& y = b.node_->terms;
  size_t n = std::min(x.size(), y.size());
  for (size_t i = 0; i < n; ++i) {
    if (int c = compare_factors(x[i].factors, y[i].factors)) return c;
    if (int c = three_way(x[i].coefficient, y[i].coefficient)) return c;
  }
  return three_way(static_cast<int64_t>(x.size()), static_cast<int64_t>(y.size()));
}

bool DimExpr::operator==(const DimExpr& other) const {
  if (node_ == other.node_) return true;
  if (node_->hash != other.node_->hash) return false;
  return compare(*this, other) == 0;
}

bool DimExpr::operator<(const DimExpr& other) const { return compare(*this, other) < 0; }

DimExpr operator+(const DimExpr& a, const DimExpr& b) {
  if (b.terms().empty()) return a;
  if (a.terms().empty()) return b;
  std::vector<DimTerm> raw = a.terms();
  raw.insert(raw.end(), b.terms().begin(), b.terms().end());
  auto terms = normalize(std::move(raw));
  if (!terms) return B::opaque(DimAtom::Kind::Sum, a, b);
  return B::make(std::move(*terms), merge_order(B::order(a), B::order(b)));
}

DimExpr operator-(const DimExpr& a, const DimExpr& b) {
  if (b.terms().empty()) return a;
  auto neg = negate_terms(b.terms());
  if (!neg) return B::opaque(DimAtom::Kind::Difference, a, b);
  std::vector<DimTerm> raw = a.terms();
  raw.insert(raw.end(), neg->begin(), neg->end());
  auto terms = normalize(std::move(raw));
  if (!terms) return B::opaque(DimAtom::Kind::Difference, a, b);
  return B::make(std::move(*terms), merge_order(B::order(a), B::order(b)));
}

DimExpr operator*(const DimExpr& a, const DimExpr& b) {
  Order order = merge_order(B::order(a), B::order(b));
  if (a.terms().empty() || b.terms().empty()) return B::make({}, std::move(order));
  if (a.is_constant() && a.constant_value() == 1) return B::with_order(b, std::move(order));
  if (b.is_constant() && b.constant_value() == 1) return B::with_order(a, std::move(order));
  if (a.terms().size() * b.terms().size() > kMaxTerms) return B::opaque(DimAtom::Kind::Product, a, b);
  std::vector<DimTerm> raw;
  raw.reserve(a.terms().size() * b.terms().size());
  for (const DimTerm& x : a.terms()) {
    for (const DimTerm& y : b.terms()) {
      DimTerm t;
      if (__builtin_mul_overflow(x.coefficient, y.coefficient, &t.coefficient))
        return B::opaque(DimAtom::Kind::Product, a, b);
      auto f = multiply_factors(x.factors, y.factors);
      if (!f) return B::opaque(DimAtom::Kind::Product, a, b);
      t.factors = std::move(*f);
      raw.push_back(std::move(t));
    }
  }
  auto terms = normalize(std::move(raw));
  if (!terms) return B::opaque(DimAtom::Kind::Product, a, b);
  return B::make(std::move(*terms), std::move(order));
}

DimExpr floordiv(const DimExpr& a, const DimExpr& b) {
  Order order = merge_order(B::order(a), B::order(b));
  if (b.is_constant()) {
    int64_t k = b.constant_value();
    if (k == 0) return B::opaque(DimAtom::Kind::FloorDiv, a, b);  // undefined; left for diagnostics
    if (a.is_constant()) {
      if (auto q = py_floordiv(a.constant_value(), k)) return DimExpr::constant(*q);
      return B::opaque(DimAtom::Kind::FloorDiv, a, b);
    }
    if (k == 1) return B::with_order(a, std::move(order));
  }
  if (a.terms().empty()) return B::make({}, std::move(order));
  if (a == b) return DimExpr::constant(1);
  if (b.terms().size() == 1) {
    std::vector<DimTerm> quotient, rest;
    split_by(a, b.terms()[0], quotient, rest);
    if (!quotient.empty() && splits_cleanly(b, rest)) {
      auto q = normalize(std::move(quotient));
      auto r = normalize(std::move(rest));
      if (q && r) {
        DimExpr sum = B::make(std::move(*q), B::order(a)) + floordiv(B::make(std::move(*r), B::order(a)), b);
        return B::with_order(sum, std::move(order));
      }
    }
  }
  return B::opaque(DimAtom::Kind::FloorDiv, a, b);
}

DimExpr mod(const DimExpr& a, const DimExpr& b) {
  Order order = merge_order(B::order(a), B::order(b));
  if (b.is_constant()) {
    int64_t k = b.constant_value();
    if (k == 0) return B::opaque(DimAtom::Kind::Mod, a, b);
    if (a.is_constant()) return DimExpr::constant(*py_mod(a.constant_value(), k));
    if (k == 1 || k == -1) return B::make({}, std::move(order));
  }
  if (a.terms().empty() || a == b) return B::make({}, std::move(order));
  if (b.terms().size() == 1) {
    std::vector<DimTerm> quotient, rest;
    split_by(a, b.terms()[0], quotient, rest);
    if (!quotient.empty() && splits_cleanly(b, rest)) {
      if (auto r = normalize(std::move(rest)))
        return B::with_order(mod(B::make(std::move(*r), B::order(a)), b), std::move(order));
    }
  }
  return B::opaque(DimAtom::Kind::Mod, a, b);
}

namespace {

DimExpr substitute_atom(const DimAtom& atom, const std::map<std::string, DimExpr>& subst) {
  switch (atom.kind) {
    case DimAtom::Kind::Symbol: {
      auto it = subst.find(atom.name);
      return it == subst.end() ? DimExpr::symbol(atom.name) : it->second;
    }
    case DimAtom::Kind::FloorDiv: return floordiv(atom.lhs.substitute(subst), atom.rhs.substitute(subst));
    case DimAtom::Kind::Mod: return mod(atom.lhs.substitute(subst), atom.rhs.substitute(subst));
    case DimAtom::Kind::Sum: return atom.lhs.substitute(subst) + atom.rhs.substitute(subst);
    case DimAtom::Kind::Difference: return atom.lhs.substitute(subst) - atom.rhs.substitute(subst);
    case DimAtom::Kind::Product: return atom.lhs.substitute(subst) * atom.rhs.substitute(subst);
  }
  return DimExpr();
}

DimExpr power(DimExpr base, uint32_t e) {
  DimExpr result = DimExpr::constant(1);
  while (e) {
    if (e & 1u) result = result * base;
    e >>= 1;
    if (e) base = base * base;
  }
  return result;
}

std::optional<int64_t> evaluate_atom(const DimAtom& atom, const std::map<std::string, int64_t>& values) {
  if (atom.kind == DimAtom::Kind::Symbol) {
    auto it = values.find(atom.name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  }
  auto l = atom.lhs.evaluate(values);
  auto r = atom.rhs.evaluate(values);
  if (!l || !r) return std::nullopt;
  int64_t out;
  switch (atom.kind) {
    case DimAtom::Kind::Symbol: break;
    case DimAtom::Kind::FloorDiv: return py_floordiv(*l, *r);
    case DimAtom::Kind::Mod: return py_mod(*l, *r);
    case DimAtom::Kind::Sum:
      if (__builtin_add_overflow(*l, *r, &out)) return std::nullopt;
      return out;
    case DimAtom::Kind::Difference:
      if (__builtin_sub_overflow(*l, *r, &out)) return std::nullopt;
      return out;
    case DimAtom::Kind::Product:
      if (__builtin_mul_overflow(*l, *r, &out)) return std::nullopt;
      return out;
  }
  return std::nullopt;
}

}  // namespace

DimExpr DimExpr::substitute(const std::map<std::string, DimExpr>& subst) const {
  if (subst.empty()) return *this;
  std::set<std::string> syms = symbols();
  if (std::none_of(syms.begin(), syms.end(), [&](const std::string& s) { return subst.count(s) != 0; })) return *this;
  DimExpr result;
  for (const DimTerm& t : node_->terms) {
    DimExpr term = DimExpr::constant(t.coefficient);
    for (const auto& [atom, e] : t.factors) term = term * power(substitute_atom(atom, subst), e);
    result = result + term;
  }
  // Keep the caller's display order: each symbol gives way to its replacement's symbols.
  Order order;
  for (const std::string& s : node_->order) {
    auto it = subst.find(s);
    order = merge_order(order, it == subst.end() ? Order{s} : B::order(it->second));
  }
  return B::with_order(result, merge_order(order, B::order(result)));
}

std::optional<int64_t> DimExpr::evaluate(const std::map<std::string, int64_t>& values) const {
  int64_t sum = 0;
  for (const DimTerm& t : node_->terms) {
    int64_t product = t.coefficient;
    for (const auto& [atom, e] : t.factors) {
      auto v = evaluate_atom(atom, values);
      if (!v) return std::nullopt;
      auto p = checked_pow(*v, e);
      if (!p || __builtin_mul_overflow(product, *p, &product)) return std::nullopt;
    }
    if (__builtin_add_overflow(sum, product, &sum)) return std::nullopt;
  }
  return sum;
}

// ------------------------------------------------------------------ printing

namespace {

constexpr size_t kNoRank = std::numeric_limits<size_t>::max();

// Display position of an atom: its earliest symbol in the expression's order; a symbol sorts
// before an operation with the same earliest symbol (`H * (D // H)` under order H, D).
using AtomKey = std::pair<size_t, int>;

struct Printer {
  std::map<std::string, size_t> rank;

  explicit Printer(const Order& order) {
    for (size_t i = 0; i < order.size(); ++i) rank.emplace(order[i], i);
  }

  size_t symbol_rank(const std::string& name) const {
    auto it = rank.find(name);
    return it == rank.end() ? kNoRank : it->second;
  }

  AtomKey key(const DimAtom& atom) const {
    if (atom.kind == DimAtom::Kind::Symbol) return {symbol_rank(atom.name), 0};
    std::set<std::string> syms;
    collect_symbols(atom.lhs, syms);
    collect_symbols(atom.rhs, syms);
    size_t best = kNoRank;
    for (const std::string& s : syms) best = std::min(best, symbol_rank(s));
    return {best, 1};
  }

  // Factors of a term in display order, each atom repeated by its exponent.
  std::vector<const DimAtom*> display_factors(const DimTerm& t, std::vector<AtomKey>& keys) const {
    std::vector<std::pair<AtomKey, size_t>> idx;
    for (size_t i = 0; i < t.factors.size(); ++i) idx.emplace_back(key(t.factors[i].first), i);
    std::sort(idx.begin(), idx.end());  // ties keep the canonical order through the index
    std::vector<const DimAtom*> out;
    for (const auto& [k, i] : idx) {
      for (uint32_t e = 0; e < t.factors[i].second; ++e) {
        out.push_back(&t.factors[i].first);
        keys.push_back(k);
      }
    }
    return out;
  }

  std::string atom(const DimAtom& a) const {
    switch (a.kind) {
      case DimAtom::Kind::Symbol: return a.name;
      case DimAtom::Kind::FloorDiv: return left(a.lhs) + " // " + right(a.rhs);
      case DimAtom::Kind::Mod: return left(a.lhs) + " % " + right(a.rhs);
      case DimAtom::Kind::Sum: return "(" + expr(a.lhs) + " + " + expr(a.rhs) + ")";
      case DimAtom::Kind::Difference: return "(" + expr(a.lhs) + " - " + right(a.rhs) + ")";
      case DimAtom::Kind::Product: return "(" + left(a.lhs) + " * " + right(a.rhs) + ")";
    }
    return "?";
  }

  // The left operand of `*`, `//` or `%`: a single term binds tightly enough as it is.
  std::string left(const DimExpr& e) const {
    std::string s = Printer(B::order(e)).expr(e);
    return e.terms().size() > 1 ? "(" + s + ")" : s;
  }

  // The right operand: only a symbol or a non-negative constant goes without parentheses.
  std::string right(const DimExpr& e) const {
    std::string s = Printer(B::order(e)).expr(e);
    bool bare = e.as_symbol() || (e.is_constant() && e.constant_value() >= 0);
    return bare ? s : "(" + s + ")";
  }

  std::string monomial(uint64_t magnitude, const std::vector<const DimAtom*>& factors, bool leading_negative) const {
    if (factors.empty()) return std::to_string(magnitude);
    bool several = magnitude != 1 || factors.size() > 1;
    std::string out;
    if (magnitude != 1) out = std::to_string(magnitude);
    for (const DimAtom* f : factors) {
      if (!out.empty()) out += " * ";
      std::string s = atom(*f);
      bool division = f->kind == DimAtom::Kind::FloorDiv || f->kind == DimAtom::Kind::Mod;
      out += division && (several || leading_negative) ? "(" + s + ")" : s;
    }
    return out;
  }

  std::string expr(const DimExpr& e) const {
    const auto& terms = e.terms();
    if (terms.empty()) return "0";
    struct Item {
      const DimTerm* term;
      std::vector<AtomKey> keys;
      std::vector<const DimAtom*> factors;
    };
    std::vector<Item> items;
    for (const DimTerm& t : terms) {
      Item it{&t, {}, {}};
      it.factors = display_factors(t, it.keys);
      items.push_back(std::move(it));
    }
    // Constants last; otherwise by the keys of the factors, and where one key list is a prefix
    // of the other the longer first (`n * n + 2 * n + 1`, `H + 2 * p - d * k + d - 1`).
    // Ties fall back to the canonical order (terms are stored sorted, so by address).
    std::sort(items.begin(), items.end(), [](const Item& x, const Item& y) {
      if (x.factors.empty() != y.factors.empty()) return y.factors.empty();
      size_t n = std::min(x.keys.size(), y.keys.size());
      for (size_t i = 0; i < n; ++i)
        if (x.keys[i] != y.keys[i]) return x.keys[i] < y.keys[i];
      if (x.keys.size() != y.keys.size()) return x.keys.size() > y.keys.size();
      return x.term < y.term;
    });
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      int64_t c = items[i].term->coefficient;
      bool negative = c < 0;
      uint64_t magnitude = negative ? uint64_t{0} - static_cast<uint64_t>(c) : static_cast<uint64_t>(c);
      std::string body = monomial(magnitude, items[i].factors, i == 0 && negative);
      if (i == 0)
        out = (negative ? "-" : "") + body;
      else
        out += (negative ? " - " : " + ") + body;
    }
    return out;
  }
};

}  // namespace

std::string DimExpr::to_string() const { return Printer(node_->order).expr(*this); }

}  // namespace tessera::sema
