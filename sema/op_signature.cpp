// Operation signatures: parsing the Python-style parameter lists of ops.cpp's table and
// matching a call's arguments to them (arity, keyword names, repeated arguments, kinds).
#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <map>
#include <stdexcept>

#include "sema/checker.h"

namespace tessera::sema {

namespace {

struct KindName {
  const char* name;
  unsigned bits;
};

constexpr KindName kKinds[] = {
    {"Tensor", kTensorArg}, {"Int", kIntArg},       {"Number", kNumberArg},     {"Bool", kBoolArg},
    {"Shape", kShapeArg},   {"Axes", kAxesArg},     {"DType", kDTypeArg},       {"Str", kStrArg},
    {"Tensors", kTensorsArg}, {"Function", kFunctionArg}, {"Params", kParamsArg}, {"None", kNoneArg},
    {"Any", kAnyArg},
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Splits on commas outside brackets (a default may be a tuple: `(0.9, 0.999)`).
std::vector<std::string_view> split_params(std::string_view spec) {
  std::vector<std::string_view> out;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= spec.size(); ++i) {
    if (i == spec.size() || (spec[i] == ',' && depth == 0)) {
      std::string_view part = trim(spec.substr(start, i - start));
      if (!part.empty()) out.push_back(part);
      start = i + 1;
    } else if (spec[i] == '(' || spec[i] == '[') {
      ++depth;
    } else if (spec[i] == ')' || spec[i] == ']') {
      --depth;
    }
  }
  return out;
}

unsigned parse_kinds(std::string_view text) {
  unsigned bits = 0;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != '|') continue;
    std::string_view k = trim(text.substr(start, i - start));
    start = i + 1;
    bool found = false;
    for (const KindName& kn : kKinds)
      if (k == kn.name) {
        bits |= kn.bits;
        found = true;
      }
    if (!found) throw std::invalid_argument("unknown argument kind '" + std::string(k) + "'");
  }
  return bits;
}

// Foreign spellings of our parameter names (PyTorch's, NumPy's), suggested when the edit
// distance does not find the parameter: `softmax(x, dim=0)` -> did you mean 'axis'?
const std::map<std::string, std::string>& foreign_spellings() {
  static const std::map<std::string, std::string> m = {
      {"dim", "axis"},     {"dims", "axes"},   {"keepdims", "keepdim"}, {"input", "x"},
      {"a_min", "min"},    {"a_max", "max"},   {"newshape", "shape"},   {"size", "shape"},
      {"fill_value", "value"}, {"perm", "axes"}, {"axes", "axis"},    {"prob", "p"},
  };
  return m;
}

}  // namespace

OpSignature OpSignature::parse(std::string_view spec) {
  OpSignature sig;
  sig.text = std::string(trim(spec));
  bool keyword_only = false;
  for (std::string_view part : split_params(spec)) {
    if (part == "*") {
      keyword_only = true;
      continue;
    }
    if (part.substr(0, 2) == "**") {
      sig.extra_keywords = true;
      continue;
    }
    OpParam p;
    if (part.front() == '*') {
      p.variadic = true;
      p.required = false;
      part.remove_prefix(1);
    }
    std::string_view def;
    if (auto eq = part.find('='); eq != std::string_view::npos) {
      def = trim(part.substr(eq + 1));
      part = trim(part.substr(0, eq));
      p.required = false;
      p.default_text = std::string(def);
    }
    if (auto colon = part.find(':'); colon != std::string_view::npos) {
      p.kinds = parse_kinds(part.substr(colon + 1));
      part = trim(part.substr(0, colon));
    }
    if (def == "None") p.kinds |= kNoneArg;
    p.name = std::string(part);
    if (p.name.empty()) throw std::invalid_argument("a parameter without a name in '" + sig.text + "'");
    p.keyword_only = keyword_only;
    if (p.variadic) keyword_only = true;
    for (const OpParam& q : sig.params)
      if (q.name == p.name) throw std::invalid_argument("parameter '" + p.name + "' twice in '" + sig.text + "'");
    sig.params.push_back(std::move(p));
  }
  return sig;
}

std::string OpSignature::to_string(const std::string& name) const { return name + "(" + text + ")"; }

size_t OpSignature::max_positional() const {
  size_t n = 0;
  for (const OpParam& p : params) {
    if (p.variadic) return SIZE_MAX;
    if (!p.keyword_only) ++n;
  }
  return n;
}

std::string kind_names(unsigned kinds) {
  std::vector<std::string> names;
  for (const KindName& kn : kKinds)
    if (kn.bits != kAnyArg && (kinds & kn.bits) == kn.bits) names.push_back(kn.name);
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

bool has_kind(const Type& t, unsigned kinds) {
  if (kinds == kAnyArg || is_unknown(t)) return true;
  auto all_ints = [&] {
    for (const Type& e : t->elems)
      if (!is_unknown(e) && e->kind != TypeKind::Int) return false;
    return true;
  };
  switch (t->kind) {
    case TypeKind::Tensor: return kinds & kTensorArg;
    case TypeKind::Int: return kinds & (kTensorArg | kIntArg | kNumberArg | kShapeArg | kAxesArg);
    case TypeKind::Float: return kinds & (kTensorArg | kNumberArg);
    case TypeKind::Bool: return kinds & (kTensorArg | kBoolArg);
    case TypeKind::Str: return kinds & kStrArg;
    case TypeKind::None: return kinds & kNoneArg;
    case TypeKind::DTypeValue: return kinds & kDTypeArg;
    case TypeKind::Params: return kinds & kParamsArg;
    case TypeKind::Function: return kinds & kFunctionArg;
    case TypeKind::Tuple:
    case TypeKind::List:
      if ((kinds & (kShapeArg | kAxesArg)) && all_ints()) return true;
      if (kinds & kTensorsArg) {
        for (const Type& e : t->elems)
          if (!is_unknown(e) && !is_tensor(e) && !is_numeric_scalar(e)) return false;
        return true;
      }
      return false;
    default: return false;
  }
}

std::optional<BoundArgs> bind_call(DiagnosticEngine& diags, const BuiltinOp& op, const Call& call) {
  const OpSignature& sig = op.sig;
  const std::string shown = call.self ? call.name : op.name;
  BoundArgs out;
  out.by_param.resize(sig.params.size());
  bool ok = true;
  auto signature_note = [&](DiagnosticBuilder& b) { b.note(fmt::format("the signature is {}", sig.to_string(shown))); };
  // Positional arguments, in order.
  size_t next = 0;
  for (const Arg& a : call.args) {
    while (next < sig.params.size() && sig.params[next].keyword_only && !sig.params[next].variadic) ++next;
    if (next >= sig.params.size()) {
      size_t max = sig.max_positional();
      auto b = diags.report(DiagKind::WrongArgumentCount, a.range, shown,
                            max == 0 ? std::string("no positional arguments")
                                     : fmt::format("at most {} positional argument{}", max, max == 1 ? "" : "s"),
                            call.args.size(), call.args.size() == 1 ? "was" : "were");
      b.label("this argument is one too many");
      signature_note(b);
      return std::nullopt;
    }
    out.by_param[next].push_back(&a);
    if (!sig.params[next].variadic) ++next;
  }
  // Keywords by name.
  for (const Arg& k : call.kwargs) {
    size_t idx = sig.params.size();
    for (size_t i = 0; i < sig.params.size(); ++i)
      if (sig.params[i].name == k.keyword && !sig.params[i].variadic) idx = i;
    if (idx == sig.params.size()) {
      if (sig.extra_keywords) continue;
      std::vector<std::string> names;
      for (const OpParam& p : sig.params)
        if (!p.variadic) names.push_back(p.name);
      auto b = diags.report(DiagKind::UnknownKeyword, k.range, shown, k.keyword);
      std::string guess = closest_name(k.keyword, names);
      if (guess.empty()) {
        auto f = foreign_spellings().find(k.keyword);
        if (f != foreign_spellings().end() && std::find(names.begin(), names.end(), f->second) != names.end())
          guess = f->second;
      }
      if (!guess.empty()) b.help(fmt::format("did you mean '{}'?", guess));
      signature_note(b);
      ok = false;
      continue;
    }
    if (!out.by_param[idx].empty()) {
      auto b = diags.report(DiagKind::DuplicateArgument, k.range, k.keyword, shown);
      if (out.by_param[idx][0]->keyword.empty()) b.note(fmt::format("'{}' is also given by position", k.keyword));
      signature_note(b);
      ok = false;
      continue;
    }
    out.by_param[idx].push_back(&k);
  }
  if (!ok) return std::nullopt;
  for (size_t i = 0; i < sig.params.size(); ++i) {
    const OpParam& p = sig.params[i];
    if (p.required && out.by_param[i].empty()) {
      auto b = diags.report(DiagKind::MissingArgument, call.range, p.name, shown);
      signature_note(b);
      return std::nullopt;
    }
  }
  // Kinds.
  for (size_t i = 0; i < sig.params.size(); ++i) {
    const OpParam& p = sig.params[i];
    for (const Arg* a : out.by_param[i]) {
      if (has_kind(a->type, p.kinds)) continue;
      auto b = diags.report(DiagKind::TypeMismatch, a->range,
                            fmt::format("argument '{}' of '{}' must be {}, found {}", p.name, shown,
                                        kind_names(p.kinds), to_string(a->type)));
      if (a->type && a->type->kind == TypeKind::Tensor && (p.kinds & (kIntArg | kShapeArg | kAxesArg)))
        b.help("this argument is a compile-time integer: a literal, a dimension or an Int value");
      signature_note(b);
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace tessera::sema
