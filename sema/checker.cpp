// The semantic checker's driver: Checker::run, the services the shape rules use, scopes and
// one function's body. The walker (CheckerImpl, checker_impl.h) is split by concern into
// checker_*.cpp; shape rules of built-in operations live in ops.cpp.
#include "sema/checker_impl.h"

namespace tessera::sema {

std::vector<std::string> effect_names(unsigned effects) {
  std::vector<std::string> out;
  if (effects & kRandom) out.push_back("random");
  if (effects & kState) out.push_back("state");
  if (effects & kIO) out.push_back("io");
  if (effects & kCollective) out.push_back("collective");
  if (effects & kMovement) out.push_back("movement");
  return out;
}

const Arg* Call::kw(std::string_view n) const {
  for (const Arg& a : kwargs)
    if (a.keyword == n) return &a;
  return nullptr;
}

const Arg* Call::arg(size_t i, std::string_view n) const {
  if (i < args.size()) return &args[i];
  return kw(n);
}

// The closest candidate within a third of the name's length (at least 1, at most
// kMaxSuggestionDistance). Bounded work: only candidates of a similar length are compared, each
// with a banded edit distance, and the whole search stops after kSuggestionBudget cells, so a
// 1M-character identifier or a module of 100,000 names costs no more than a short one.
std::string closest_name(const std::string& name, const std::vector<std::string>& candidates) {
  constexpr size_t kMaxSuggestionDistance = 8;
  constexpr size_t kSuggestionBudget = 4'000'000;
  std::string best;
  size_t limit = std::min(std::max<size_t>(1, name.size() / 3), kMaxSuggestionDistance);
  size_t budget = kSuggestionBudget;
  for (const auto& c : candidates) {
    if (c == name || c.empty()) continue;
    size_t diff = c.size() > name.size() ? c.size() - name.size() : name.size() - c.size();
    if (diff > limit) continue;
    size_t cost = std::min(c.size(), name.size()) * (2 * limit + 1) + 1;
    if (cost > budget) break;
    budget -= cost;
    auto d = edit_distance_within(name, c, limit);
    if (!d || *d >= name.size() || *d >= c.size()) continue;  // `c` is not a misspelling of `x`
    best = c;
    if (*d == 1) break;
    limit = *d - 1;  // only a closer candidate can win now
  }
  return best;
}

Type CheckerImpl::lookup_local(const std::string& name) {
  for (auto it = scopes.rbegin(); it != scopes.rend(); ++it) {
    auto f = it->find(name);
    if (f != it->end()) return f->second;
  }
  return nullptr;
}

void CheckerImpl::bind(const std::string& name, Type t, SourceRange range) {
  if (scopes.empty()) scopes.emplace_back();
  scopes.back()[name] = t;
  if (fn) fn->typed.bindings.push_back({name, range, t});
}

std::vector<std::string> CheckerImpl::visible_names() {
  std::vector<std::string> out;
  for (auto& s : scopes)
    for (auto& [k, v] : s) out.push_back(k);
  for (auto& [k, v] : dims) out.push_back(k);
  for (auto& [k, v] : c.functions_) out.push_back(k);
  for (auto& [k, v] : c.classes_) out.push_back(k);
  for (auto& [k, v] : c.module_aliases_) out.push_back(k);
  for (auto& [k, v] : c.user_modules_) out.push_back(k);
  for (auto& [k, v] : c.imported_functions_) out.push_back(k);
  for (auto& [k, v] : c.imported_classes_) out.push_back(k);
  for (auto& [k, v] : c.imported_names_) out.push_back(k);
  for (const auto& n : builtin_names())
    if (n.find('.') == std::string::npos) out.push_back(n);
  return out;
}

void CheckerImpl::check_function(FunctionInfo& info) {
  fn = &info;
  c.current_ = &info;
  scopes.clear();
  scopes.emplace_back();
  origin.clear();
  dims.clear();
  for (const auto& d : info.dims) dims.emplace(d, DimExpr::symbol(d));
  c.solver().push();
  for (const auto& d : info.dims) c.solver().assume({DimPredicate::Op::Ge, DimExpr::symbol(d), DimExpr::constant(1)});
  for (const auto& p : info.preconditions) c.solver().assume(p.pred);
  for (const auto& p : info.params) {
    scopes.back()[p.name] = p.type;
  }
  size_t errors_before = diags.error_count();
  block(info.def->body);
  // The latent variables of conditional distributions are reported after the Posterior's fields.
  Type& ret = info.typed.inferred_return;
  if (ret && ret->kind == TypeKind::Posterior && !ret->fields.empty() && info.typed.latent_names.size() > info.typed.latents.size()) {
    std::vector<std::string> names = ret->fields;
    std::vector<Type> types = ret->elems;
    for (const auto& [n, t] : info.typed.latent_names)
      if (n.find('.') != std::string::npos) {
        names.push_back(n);
        types.push_back(t);
        ++info.typed.conditional_fields;
      }
    TypeNode node = *posterior_type(names, types);
    node.int_value = ret->int_value;
    ret = std::make_shared<const TypeNode>(std::move(node));
  }
  info.typed.ok = diags.error_count() == errors_before;
  info.checked = true;
  info.typed.body_checked = true;
  c.solver().pop();
  c.current_ = nullptr;
  fn = nullptr;
}



Checker::Checker(const SourceManager& sources, DiagnosticEngine& diags, const SemaOptions& options, Program* program)
    : sources_(sources),
      diags_(diags),
      options_(options),
      solver_(std::make_unique<DimSolver>(options.solver_timeout_ms)),
      program_(program) {}

ProofResult Checker::prove_equal(const DimExpr& a, const DimExpr& b) { return solver_->prove_equal(a, b); }

const FunctionInfo* Checker::user_function(const Type& t) {
  if (!t || t->kind != TypeKind::Function || !t->user || !t->ref) return nullptr;
  return static_cast<const FunctionInfo*>(t->ref);
}

DimExpr Checker::fresh_dim(const std::string& hint) {
  return DimExpr::symbol(fmt::format("{}'{}", hint.empty() ? "d" : hint, ++fresh_counter_));
}

std::string Checker::describe_counterexample(const ProofResult& r) const {
  if (r.kind == ProofResult::Kind::Unknown) return " (the solver could not decide)";
  // Internal fresh symbols (with a quote) are not the user's names.
  std::vector<std::string> parts;
  for (const auto& [name, value] : r.counterexample)
    if (name.find('\'') == std::string::npos) parts.push_back(fmt::format("{} = {}", name, value));
  if (parts.empty()) return "";
  std::string out = " (e.g. ";
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out + ")";
}

std::optional<DimExpr> Checker::dim_value(const Type& t) {
  if (t && t->kind == TypeKind::Int && t->int_value) return t->int_value;
  return std::nullopt;
}

std::optional<int64_t> Checker::int_constant(const Arg* arg) {
  if (!arg) return std::nullopt;
  auto v = dim_value(arg->type);
  if (v && v->is_constant()) return v->constant_value();
  return std::nullopt;
}

std::optional<std::vector<DimExpr>> Checker::dims_from(const Arg& arg) {
  const Type& t = arg.type;
  if (!t) return std::nullopt;
  if (t->kind == TypeKind::Int) {
    if (t->int_value) return std::vector<DimExpr>{*t->int_value};
    return std::vector<DimExpr>{fresh_dim("n")};
  }
  if (t->kind == TypeKind::Tuple) {
    std::vector<DimExpr> out;
    for (const Type& e : t->elems) {
      if (e && e->kind == TypeKind::Int && e->int_value) out.push_back(*e->int_value);
      else if (e && e->kind == TypeKind::Int) out.push_back(fresh_dim("n"));
      else return std::nullopt;
    }
    return out;
  }
  return std::nullopt;
}

TypedModule Checker::run(const ast::Module& module) {
  CheckerImpl impl(*this, sources_, diags_);
  impl.declare(module);
  for (FunctionInfo* f : function_order_) impl.decorators(*f);
  for (FunctionInfo* f : function_order_) impl.signature(*f);
  // Module-level statements other than definitions and imports.
  for (const Stmt* s : module.body) {
    if (isa<FunctionDefStmt>(s) || isa<ClassDefStmt>(s) || isa<ImportStmt>(s) || isa<ImportFromStmt>(s) ||
        isa<ErrorStmt>(s))
      continue;
    if (auto* e = dyn_cast<ExprStmt>(s); e && isa<StringLiteralExpr>(e->expr)) continue;  // docstring
    impl.stmt(s);
  }
  // Models first, so that the parameters they declare are known where ts.init and calls use them.
  for (FunctionInfo* f : function_order_)
    if (f->is_model) impl.check_function(*f);
  // Then @probabilistic functions, so that the latent variables of a conditional distribution
  // are known where a model's '~' uses it.
  auto probabilistic_only = [](const FunctionInfo* f) {
    return std::find(f->decorators.begin(), f->decorators.end(), "probabilistic") != f->decorators.end();
  };
  for (FunctionInfo* f : function_order_)
    if (!f->is_model && probabilistic_only(f)) impl.check_function(*f);
  for (FunctionInfo* f : function_order_)
    if (!f->is_model && !probabilistic_only(f)) impl.check_function(*f);
  for (FunctionInfo* f : function_order_) f->is_model = f->is_model || f->typed.is_model;
  for (FunctionInfo* f : function_order_) impl.custom_vjp(*f);
  for (FunctionInfo* f : function_order_) impl.checkpoint(*f);
  for (FunctionInfo* f : function_order_) impl.donate(*f);
  impl.finish_effects();
  TypedModule out;
  for (FunctionInfo* f : function_order_) out.functions.push_back(&f->typed);
  return out;
}

const char* param_init_name(ParamInit init) {
  switch (init) {
    case ParamInit::UniformFanIn: return "uniform";
    case ParamInit::Ones: return "ones";
    case ParamInit::Zeros: return "zeros";
    case ParamInit::Normal: return "normal";
  }
  return "?";
}

std::string print_typed(const TypedModule& module, const SourceManager& sources) {
  std::string out;
  for (const TypedFunction* fp : module.functions) {
    const TypedFunction& f = *fp;
    LineCol lc = sources.line_col(f.range.begin);
    std::string head = "function " + f.name;
    if (!f.dims.empty()) {
      head += "[";
      for (size_t i = 0; i < f.dims.size(); ++i) head += (i ? ", " : "") + f.dims[i];
      head += "]";
    }
    head += "(";
    for (size_t i = 0; i < f.params.size(); ++i)
      head += (i ? ", " : "") + f.params[i].name + ": " + to_string(f.params[i].type);
    head += ")";
    if (f.declared_return) head += " -> " + to_string(f.declared_return);
    out += fmt::format("{}  <{}:{}>\n", head, lc.line, lc.col);
    if (!f.decorators.empty()) {
      out += "  decorators:";
      for (const auto& d : f.decorators) out += " " + d;
      out += "\n";
    }
    for (const auto& p : f.preconditions) out += "  requires " + p + "\n";
    out += "  effects: {";
    for (size_t i = 0; i < f.effects.size(); ++i) out += (i ? ", " : "") + f.effects[i];
    out += "}\n";
    for (const ModelParam& p : f.model_params) {
      out += fmt::format("  param {}: {} {}", p.name, to_string(tensor_type(p.dtype, p.shape)), param_init_name(p.init));
      if (p.init == ParamInit::UniformFanIn) out += "(fan_in=" + p.fan_in.to_string() + ")";
      out += "\n";
    }
    for (const TypedBinding& b : f.bindings) {
      LineCol blc = sources.line_col(b.range.begin);
      out += fmt::format("  {}: {}  <{}:{}>\n", b.name, to_string(b.type), blc.line, blc.col);
    }
    if (f.inferred_return) out += "  returns " + to_string(f.inferred_return) + "\n";
  }
  return out;
}

}  // namespace tessera::sema
