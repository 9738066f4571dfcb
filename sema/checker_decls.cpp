// Module-level declarations: functions, classes, imports of tessera and user modules,
// decorators (@custom_vjp, @function(donate_argnums=...), @checkpoint).
#include "sema/checker_impl.h"

namespace tessera::sema {

void CheckerImpl::declare(const Module& m) {
  m_file = m.file;
  for (const Stmt* s : m.body) {
    if (auto* f = dyn_cast<FunctionDefStmt>(s)) {
      if (!define_once(f->name, f->name_range)) continue;
      auto info = std::make_unique<FunctionInfo>();
      info->def = f;
      info->name = f->name;
      c.function_order_.push_back(info.get());
      c.functions_[f->name] = std::move(info);
    } else if (auto* k = dyn_cast<ClassDefStmt>(s)) {
      if (!define_once(k->name, k->name_range)) continue;
      auto info = std::make_unique<ClassInfo>();
      info->def = k;
      info->name = k->name;
      c.classes_[k->name] = std::move(info);
    } else if (auto* im = dyn_cast<ImportStmt>(s)) {
      for (const ImportAlias& a : im->names) {
        if (a.name == "tessera" || a.name.rfind("tessera.", 0) == 0) {
          std::string local = a.alias.empty() ? a.name.substr(0, a.name.find('.')) : a.alias;
          c.module_aliases_[local] = a.alias.empty() ? "tessera" : a.name;
        } else if (!c.program_) {
          diags.report(DiagKind::NotYetSupported, a.range, fmt::format("importing the user module '{}'", a.name))
              .help("for now, put the functions you need in the same file");
        } else if (a.alias.empty() && a.name.find('.') != std::string::npos) {
          diags.report(DiagKind::NotYetSupported, a.range,
                       fmt::format("'import {}' without 'as' (a package name as a value)", a.name))
              .help(fmt::format("write 'import {} as {}' or 'from {} import ...'", a.name,
                                a.name.substr(a.name.rfind('.') + 1), a.name));
        } else {
          std::string local = a.alias.empty() ? a.name : a.alias;
          if (!define_once(local, a.range)) continue;
          Checker* m = c.program_->import_module(a.name, 0, m_file, a.range);
          // A module that cannot be used still binds its name, so uses do not cascade.
          c.user_modules_[local] = m;
        }
      }
    } else if (auto* fi = dyn_cast<ImportFromStmt>(s)) {
      std::string mod = fi->module;
      if (fi->level > 0 || (mod != "tessera" && mod.rfind("tessera.", 0) != 0)) {
        import_from_user_module(*fi);
        continue;
      }
      for (const ImportAlias& a : fi->names) {
        std::string q = mod + "." + a.name;
        std::string local = a.alias.empty() ? a.name : a.alias;
        if (is_builtin_module(q)) {
          c.module_aliases_[local] = q;
        } else if (find_builtin(strip_tessera(q)) || find_builtin(a.name)) {
          c.imported_names_[local] = find_builtin(strip_tessera(q)) ? strip_tessera(q) : a.name;
        } else {
          diags.report(DiagKind::UnknownMember, a.range, fmt::format("module '{}'", mod), a.name);
        }
      }
    }
  }
}

// `from mylib import f, Point as P` (also relative: `from .mylib import f`).
void CheckerImpl::import_from_user_module(const ImportFromStmt& fi) {
  SourceRange where = fi.module_range.valid() ? fi.module_range : fi.range;
  std::string shown = std::string(static_cast<size_t>(fi.level), '.') + fi.module;
  if (!c.program_) {
    diags.report(DiagKind::NotYetSupported, where, fmt::format("importing the user module '{}'", shown))
        .help("for now, put the functions you need in the same file");
    return;
  }
  if (fi.module.empty()) {
    // `from . import mylib`: each name is a module of the importing file's folder.
    for (const ImportAlias& a : fi.names) {
      std::string local = a.alias.empty() ? a.name : a.alias;
      if (!define_once(local, a.range)) continue;
      c.user_modules_[local] = c.program_->import_module(a.name, fi.level, m_file, a.range);
    }
    return;
  }
  Checker* m = c.program_->import_module(fi.module, fi.level, m_file, where);
  for (const ImportAlias& a : fi.names) {
    std::string local = a.alias.empty() ? a.name : a.alias;
    if (a.name == "*") {
      diags.report(DiagKind::NotYetSupported, a.range, "'import *'")
          .help("name what you import: 'from " + shown + " import f, g'");
      continue;
    }
    if (!define_once(local, a.range)) continue;
    if (!m) {
      c.user_modules_[local] = nullptr;  // unusable: its uses are not reported again
      continue;
    }
    if (auto f = m->functions_.find(a.name); f != m->functions_.end()) {
      c.imported_functions_[local] = f->second.get();
    } else if (auto k = m->classes_.find(a.name); k != m->classes_.end()) {
      c.imported_classes_[local] = k->second.get();
    } else if (auto f2 = m->imported_functions_.find(a.name); f2 != m->imported_functions_.end()) {
      c.imported_functions_[local] = f2->second;  // re-exported
    } else if (auto k2 = m->imported_classes_.find(a.name); k2 != m->imported_classes_.end()) {
      c.imported_classes_[local] = k2->second;
    } else {
      std::vector<std::string> names;
      for (auto& [k, v] : m->functions_) names.push_back(k);
      for (auto& [k, v] : m->classes_) names.push_back(k);
      auto b = diags.report(DiagKind::UnknownMember, a.range, fmt::format("module '{}'", shown), a.name);
      std::string guess = closest_name(a.name, names);
      if (!guess.empty()) b.help(fmt::format("did you mean '{}'?", guess));
      c.user_modules_[local] = nullptr;
    }
  }
}

// Reports a second definition of a module-level name (E0104).
bool CheckerImpl::define_once(const std::string& name, SourceRange range) {
  auto [it, fresh] = defined.emplace(name, range);
  if (fresh) return true;
  diags.report(DiagKind::DuplicateDefinition, range, name)
      .label("defined again here")
      .related(it->second, "first defined here");
  return false;
}

// The settings of @mcmc(...), @variational(...) and @elbo(...) (docs/inference.md): known names,
// constant values of the right kind and range. The runtime reads them as given.
void CheckerImpl::inference_settings(const std::string& decorator, const CallExpr* call) {
  struct Setting {
    const char* name;
    char kind;  // 'i' Int, 'f' Number, 's' string
    double lo, hi;
    bool lo_open;
    std::vector<std::string> choices;
  };
  constexpr double inf = std::numeric_limits<double>::infinity();
  static const std::map<std::string, std::vector<Setting>> table = {
      {"mcmc",
       {{"algorithm", 's', 0, 0, false, {"NUTS", "HMC"}},
        {"num_samples", 'i', 1, inf, false, {}},
        {"num_warmup", 'i', 0, inf, false, {}},
        {"chains", 'i', 1, 1024, false, {}},
        {"seed", 'i', 0, inf, false, {}},
        {"max_tree_depth", 'i', 1, 30, false, {}},
        {"target_accept", 'f', 0, 1, true, {}},
        {"num_steps", 'i', 1, 100000, false, {}},
        {"init_radius", 'f', 0, inf, false, {}},
        {"step_size", 'f', 0, inf, true, {}}}},
      {"variational",
       {{"method", 's', 0, 0, false, {"meanfield", "fullrank"}},
        {"max_iter", 'i', 1, inf, false, {}},
        {"tol_rel_obj", 'f', 0, inf, true, {}},
        {"eta", 'f', 0, inf, true, {}},
        {"output_samples", 'i', 1, inf, false, {}},
        {"seed", 'i', 0, inf, false, {}},
        {"eval_elbo", 'i', 1, inf, false, {}},
        {"elbo_samples", 'i', 1, inf, false, {}}}},
      {"elbo", {{"n_samples", 'i', 1, 100000, false, {}}}},
  };
  const std::vector<Setting>& settings = table.at(decorator);
  std::vector<std::string> names;
  for (const Setting& s : settings) names.push_back(s.name);
  std::set<std::string> seen;
  for (const Argument& a : call->args) {
    if (a.kind != ArgKind::Keyword) {
      diags.report(DiagKind::BadDecoratorArgument, a.range, decorator, "takes its settings by name")
          .note(fmt::format("its settings are {}", fmt::join(names, ", ")));
      continue;
    }
    auto it = std::find_if(settings.begin(), settings.end(), [&](const Setting& s) { return a.name == s.name; });
    if (it == settings.end()) {
      auto b = diags.report(DiagKind::BadDecoratorArgument, a.name_range.valid() ? a.name_range : a.range, decorator,
                            fmt::format("has no setting '{}'", a.name));
      std::string guess = closest_name(a.name, names);
      if (!guess.empty()) b.help(fmt::format("did you mean '{}'?", guess));
      else b.note(fmt::format("its settings are {}", fmt::join(names, ", ")));
      continue;
    }
    if (!seen.insert(a.name).second) {
      diags.report(DiagKind::BadDecoratorArgument, a.range, decorator, fmt::format("sets '{}' twice", a.name));
      continue;
    }
    const Setting& s = *it;
    const Expr* v = a.value;
    bool negative = false;
    if (auto* u = dyn_cast<UnaryExpr>(v); u && u->op == UnaryOp::Neg) {
      negative = true;
      v = u->operand;
    }
    if (s.kind == 's') {
      auto* str = dyn_cast<StringLiteralExpr>(a.value);
      if (!str || std::find(s.choices.begin(), s.choices.end(), str->value) == s.choices.end())
        diags.report(DiagKind::BadDecoratorArgument, a.value->range, decorator,
                     fmt::format("takes {}= as one of \"{}\"", s.name, fmt::join(s.choices, "\", \"")));
      continue;
    }
    std::optional<double> number;
    if (auto* i = dyn_cast<IntLiteralExpr>(v)) number = static_cast<double>(i->value);
    else if (auto* f = dyn_cast<FloatLiteralExpr>(v); f && s.kind == 'f') number = f->value;
    if (number && negative) *number = -*number;
    // lo_open: the interval is open at both ends.
    bool ok = number && (s.lo_open ? *number > s.lo && (s.hi == inf || *number < s.hi) : *number >= s.lo && *number <= s.hi);
    if (ok) continue;
    std::string range = s.hi == inf ? fmt::format("{} {}", s.lo_open ? ">" : ">=", s.lo)
                                    : fmt::format("in {}{}, {}{}", s.lo_open ? "(" : "[", s.lo, s.hi, s.lo_open ? ")" : "]");
    diags.report(DiagKind::BadDecoratorArgument, a.value->range, decorator,
                 fmt::format("takes {}= as {} {}", s.name, s.kind == 'i' ? "an integer constant" : "a number constant",
                             range));
  }
}

// Validates decorators and classifies the function.
void CheckerImpl::decorators(FunctionInfo& info) {
  for (const Decorator& d : info.def->decorators) {
    const Expr* target = d.expr;
    const CallExpr* call = dyn_cast<CallExpr>(target);
    if (call) target = call->callee;
    auto name = dotted(target);
    std::string spelled = name ? *name : "?";
    std::string bare = spelled;
    // Accept `tessera.X`, an alias of tessera (`ts.X`) and bare `X`.
    auto dot = bare.find('.');
    if (dot != std::string::npos) {
      std::string head = bare.substr(0, dot);
      auto alias = c.module_aliases_.find(head);
      if (head == "tessera" || (alias != c.module_aliases_.end() && alias->second == "tessera"))
        bare = bare.substr(dot + 1);
    }
    const DecoratorSpec* spec = nullptr;
    for (const auto& k : kDecorators)
      if (bare == k.spelling) spec = &k;
    if (!spec) {
      std::vector<std::string> names;
      for (const auto& k : kDecorators) names.push_back(k.spelling);
      std::string guess = closest_name(bare, names);
      auto b = diags.report(DiagKind::UnknownDecorator, target->range, spelled);
      b.label("not a Tessera decorator");
      if (!guess.empty()) {
        std::string prefix = spelled.size() > bare.size() ? spelled.substr(0, spelled.size() - bare.size()) : "";
        b.help(fmt::format("did you mean '{}{}'?", prefix, guess));
      } else {
        b.note("decorators are listed in LANGUAGE.md §3 (function, kernel, probabilistic, mcmc, ...)");
      }
      continue;
    }
    info.decorators.push_back(spec->spelling);
    if (call && !spec->takes_args) {
      diags.report(DiagKind::BadDecoratorArgument, call->range, spec->spelling, "takes no arguments")
          .help(fmt::format("write '@tessera.{}' without parentheses", spec->spelling));
    }
    if (call && (bare == "mcmc" || bare == "variational" || bare == "elbo")) inference_settings(bare, call);
    if (spec->kind == Pure && info.kind == FunctionInfo::Kind::Plain) info.kind = FunctionInfo::Kind::Pure;
    if (spec->kind == Probabilistic) info.kind = FunctionInfo::Kind::Probabilistic;
    if (spec->kind == Kernel) info.kind = FunctionInfo::Kind::Kernel;
    if (std::string(spec->spelling) == "effects" && call) {
      unsigned bound = 0;
      for (const Argument& a : call->args) {
        auto n = dotted(a.value);
        std::string e = n ? *n : "";
        if (e == "random") bound |= kRandom;
        else if (e == "state") bound |= kState;
        else if (e == "io") bound |= kIO;
        else if (e == "collective") bound |= kCollective;
        else if (e == "movement") bound |= kMovement;
        else
          diags.report(DiagKind::BadDecoratorArgument, a.range, "effects",
                       fmt::format("does not know the effect '{}'", e.empty() ? "?" : e))
              .note("effects are random, state, io, collective and movement");
      }
      info.effect_bound = bound;
      info.effect_bound_range = d.range;
    }
  }
}

// `@custom_vjp(bwd)` on f: bwd must be a function of the module taking f's parameters, then
// f's result and its cotangent, and returning one cotangent per floating-point parameter of f
// (a tuple when there are several). Records bwd, its dimensions in f's, as f's custom_vjp.
void CheckerImpl::custom_vjp(FunctionInfo& f) {
  for (const Decorator& d : f.def->decorators) {
    const CallExpr* call = dyn_cast<CallExpr>(d.expr);
    auto name = dotted(call ? call->callee : d.expr);
    if (!name || (*name != "custom_vjp" && !ends_with(*name, ".custom_vjp"))) continue;
    if (!call || call->args.size() != 1 || call->args[0].kind != ArgKind::Positional ||
        !isa<NameExpr>(call->args[0].value)) {
      diags.report(DiagKind::BadDecoratorArgument, d.range, "custom_vjp",
                   "takes one argument, the name of the backward function")
          .help(fmt::format("write '@tessera.custom_vjp({}_bwd)' with 'def {}_bwd({}out, ct)'", f.name, f.name,
                            param_list(f)));
      return;
    }
    const auto* bname = cast<NameExpr>(call->args[0].value);
    auto it = c.functions_.find(bname->name);
    if (it == c.functions_.end()) {
      std::vector<std::string> names;
      for (auto& [k, v] : c.functions_) names.push_back(k);
      auto b = diags.report(DiagKind::UndefinedName, bname->range, bname->name);
      b.label("the backward function of a custom_vjp must be a function of this module");
      std::string guess = closest_name(bname->name, names);
      if (!guess.empty()) b.help(fmt::format("did you mean '{}'?", guess));
      return;
    }
    FunctionInfo& bwd = *it->second;
    check_custom_vjp(f, bwd, bname->range);
    return;
  }
}

// `@function(donate_argnums=N)` or `(donate_argnums=(i, j, ...))`, also on `jit` and
// `shape_checked`: the parameters whose buffers the compiled entry may update in place and
// return (JAX's donate_argnums). Each is a tensor or Params parameter, named once.
void CheckerImpl::donate(FunctionInfo& f) {
  for (const Decorator& d : f.def->decorators) {
    const CallExpr* call = dyn_cast<CallExpr>(d.expr);
    auto name = dotted(call ? call->callee : d.expr);
    if (!call || !name) continue;
    std::string bare = name->substr(name->rfind('.') == std::string::npos ? 0 : name->rfind('.') + 1);
    if (bare != "function" && bare != "jit" && bare != "shape_checked") continue;
    std::string help = fmt::format("write '@tessera.{}(donate_argnums=0)' or '(donate_argnums=(0, 2))'", bare);
    for (const Argument& a : call->args) {
      if (a.kind != ArgKind::Keyword || a.name != "donate_argnums") {
        diags.report(DiagKind::BadDecoratorArgument, a.range, bare,
                     a.kind == ArgKind::Keyword ? fmt::format("does not take '{}'", a.name)
                                                : std::string("takes only the keyword argument donate_argnums"))
            .help(help);
        continue;
      }
      std::vector<const Expr*> items;
      if (const auto* t = dyn_cast<TupleExpr>(a.value)) items.assign(t->elements.begin(), t->elements.end());
      else items.push_back(a.value);
      for (const Expr* e : items) {
        const auto* lit = dyn_cast<IntLiteralExpr>(e);
        if (!lit) {
          diags.report(DiagKind::BadDecoratorArgument, e->range, bare,
                       "donate_argnums takes an integer literal or a tuple of them")
              .help(help);
          continue;
        }
        if (lit->value >= f.typed.params.size()) {
          diags.report(DiagKind::BadDecoratorArgument, e->range, bare,
                       fmt::format("donate_argnums {} is out of range: '{}' has {} parameter{}", lit->value, f.name,
                                   f.typed.params.size(), f.typed.params.size() == 1 ? "" : "s"));
          continue;
        }
        auto n = static_cast<int64_t>(lit->value);
        const TypedBinding& p = f.typed.params[n];
        bool scalar = p.type && p.type->kind == TypeKind::Tensor && p.type->shape && p.type->shape->empty();
        if (!p.type || scalar || (p.type->kind != TypeKind::Tensor && p.type->kind != TypeKind::Params)) {
          diags.report(DiagKind::BadDecoratorArgument, e->range, bare,
                       fmt::format("cannot donate '{}': only a tensor or Params argument has a buffer to give up",
                                   p.name))
              .note(scalar ? fmt::format("'{}' is a scalar", p.name)
                           : fmt::format("'{}' is {}", p.name, p.type ? to_string(p.type) : std::string("untyped")));
          continue;
        }
        if (std::find(f.typed.donate_argnums.begin(), f.typed.donate_argnums.end(), n) !=
            f.typed.donate_argnums.end()) {
          diags.report(DiagKind::BadDecoratorArgument, e->range, bare,
                       fmt::format("donate_argnums names '{}' twice", p.name));
          continue;
        }
        f.typed.donate_argnums.push_back(n);
      }
    }
    std::sort(f.typed.donate_argnums.begin(), f.typed.donate_argnums.end());
  }
}

// `@checkpoint` or `@checkpoint(every=K)` with K an integer literal >= 1.
void CheckerImpl::checkpoint(FunctionInfo& f) {
  for (const Decorator& d : f.def->decorators) {
    const CallExpr* call = dyn_cast<CallExpr>(d.expr);
    auto name = dotted(call ? call->callee : d.expr);
    if (!name || (*name != "checkpoint" && !ends_with(*name, ".checkpoint"))) continue;
    f.typed.checkpoint_every = 0;
    if (!call) return;
    for (const Argument& a : call->args) {
      auto* lit = dyn_cast<IntLiteralExpr>(a.value);
      if (a.kind == ArgKind::Keyword && a.name == "every" && lit && lit->value >= 1 && lit->value <= (1u << 30)) {
        f.typed.checkpoint_every = static_cast<int64_t>(lit->value);
        continue;
      }
      diags.report(DiagKind::BadDecoratorArgument, a.range, "checkpoint",
                   "takes one argument, every=K with K an integer literal >= 1")
          .help("write '@tessera.checkpoint(every=16)', or '@tessera.checkpoint' for every ceil(sqrt(n)) iterations");
    }
    return;
  }
}

bool CheckerImpl::ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string CheckerImpl::param_list(const FunctionInfo& f) {
  std::string out;
  for (const auto& p : f.params) out += p.name + ", ";
  return out;
}

}  // namespace tessera::sema
