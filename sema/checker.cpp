// The semantic checker: declarations, signatures, statements, expressions,
// user-function calls with generic instantiation and preconditions, sampling
// and effects. Shape rules of built-in operations live in ops.cpp.
#include "sema/checker.h"

#include <algorithm>
#include <fmt/format.h>

#include "frontend/ast_printer.h"
#include "sema/program.h"

namespace tessera::sema {

using namespace ast;

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

// The closest candidate within a third of the name's length (at least 1).
std::string closest_name(const std::string& name, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(1, name.size() / 3) + 1;
  for (const auto& c : candidates) {
    if (c == name || c.empty()) continue;
    size_t d = edit_distance(name, c);
    if (d >= name.size() || d >= c.size()) continue;  // `c` is not a misspelling of `x`
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

namespace {

// "tessera.nn.linear" -> "nn.linear"; names outside tessera are unchanged.
std::string strip_tessera(const std::string& q) {
  if (q == "tessera") return "";
  if (q.rfind("tessera.", 0) == 0) return q.substr(8);
  return q;
}

// The dotted spelling of a decorator or attribute chain, if it is one.
std::optional<std::string> dotted(const Expr* e) {
  if (auto* n = dyn_cast<NameExpr>(e)) return n->name;
  if (auto* a = dyn_cast<AttributeExpr>(e)) {
    auto base = dotted(a->object);
    if (base) return *base + "." + a->name;
  }
  return std::nullopt;
}

struct DecoratorSpec {
  const char* spelling;
  int kind;  // 0 Pure, 1 Probabilistic, 2 Kernel, 3 Modifier
  bool takes_args;
};

enum { Pure = 0, Probabilistic = 1, Kernel = 2, Modifier = 3 };

constexpr DecoratorSpec kDecorators[] = {
#define TSR_DECORATOR(spelling, kind, args) {spelling, kind, args},
#include "sema/decorators.def"
};

}  // namespace

// ============================================================== the walker

struct CheckerImpl {
  Checker& c;
  const SourceManager& sources;
  DiagnosticEngine& diags;

  // Per-function state.
  FunctionInfo* fn = nullptr;
  std::vector<std::unordered_map<std::string, Type>> scopes;
  std::map<std::string, DimExpr> dims;  // dimension symbols visible as Int values
  std::map<std::string, std::string> origin;  // local name -> op that produced it without keepdim
  std::unordered_map<const Expr*, std::string> expr_origin;
  bool declared_dims_only = false;  // in signatures: bare names must be declared dims

  CheckerImpl(Checker& checker, const SourceManager& s, DiagnosticEngine& d) : c(checker), sources(s), diags(d) {}

  // ------------------------------------------------------------ declarations

  void declare(const Module& m) {
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

  std::map<std::string, SourceRange> defined;
  uint32_t m_file = 0;  // the file of the module being checked

  // `from mylib import f, Point as P` (also relative: `from .mylib import f`).
  void import_from_user_module(const ImportFromStmt& fi) {
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
  bool define_once(const std::string& name, SourceRange range) {
    auto [it, fresh] = defined.emplace(name, range);
    if (fresh) return true;
    diags.report(DiagKind::DuplicateDefinition, range, name)
        .label("defined again here")
        .related(it->second, "first defined here");
    return false;
  }

  // Validates decorators and classifies the function.
  void decorators(FunctionInfo& info) {
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
  void custom_vjp(FunctionInfo& f) {
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
  void donate(FunctionInfo& f) {
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
  void checkpoint(FunctionInfo& f) {
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

  static bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  }

  static std::string param_list(const FunctionInfo& f) {
    std::string out;
    for (const auto& p : f.params) out += p.name + ", ";
    return out;
  }

  static bool is_float_value(const Type& t) {
    if (!t) return false;
    if (t->kind == TypeKind::Float) return true;
    return t->kind == TypeKind::Tensor && is_float(t->dtype);
  }

  void check_custom_vjp(FunctionInfo& f, FunctionInfo& bwd, SourceRange where) {
    if (!f.typed.ok || !bwd.typed.ok) return;
    if (&bwd == &f) {
      diags.report(DiagKind::CustomVjpMismatch, where, bwd.name, f.name, "is the function itself");
      return;
    }
    Type ret = f.ret ? f.ret : f.typed.inferred_return;
    if (is_unknown(ret)) return;
    if (!is_float_value(ret)) {
      diags.report(DiagKind::TypeMismatch, where,
                   fmt::format("a custom_vjp function must return one floating-point tensor or scalar; '{}' returns {}",
                               f.name, to_string(ret)))
          .related(f.def->name_range, fmt::format("'{}' defined here", f.name));
      return;
    }
    size_t want = f.params.size() + 2;
    if (bwd.params.size() != want) {
      diags.report(DiagKind::CustomVjpMismatch, where, bwd.name, f.name,
                   fmt::format("takes {} but needs {}", plural(bwd.params.size(), "parameter"), want))
          .note(fmt::format("'{}' receives the arguments of '{}', then its result and the result's cotangent: {}({}out, ct)",
                            bwd.name, f.name, bwd.name, param_list(f)))
          .related(bwd.def->name_range, fmt::format("'{}' defined here", bwd.name));
      return;
    }
    // What bwd receives: f's parameter types, then the result twice.
    std::vector<Type> given;
    for (const auto& p : f.params) given.push_back(p.type);
    given.push_back(ret);
    given.push_back(ret);
    // Bind bwd's dimensions to f's (as a call would).
    std::map<std::string, DimExpr> subst;
    for (size_t i = 0; i < want; ++i) {
      const Type& pt = bwd.params[i].type;
      auto at = as_tensor(given[i]);
      if (!is_tensor(pt) || !pt->shape || !at || !(*at)->shape || pt->shape->size() != (*at)->shape->size()) continue;
      for (size_t k = 0; k < pt->shape->size(); ++k)
        if (auto sym = (*pt->shape)[k].as_symbol(); sym && !subst.count(*sym)) subst.emplace(*sym, (*(*at)->shape)[k]);
    }
    for (const auto& d : bwd.dims)
      if (!subst.count(d)) subst.emplace(d, c.fresh_dim(d));
    bool ok = true;
    for (size_t i = 0; i < want; ++i) {
      const auto& p = bwd.params[i];
      if (!p.annotated) continue;
      std::vector<std::string> notes;
      Type expect = substitute(p.type, subst);
      if (mismatch(given[i], expect, notes).empty()) continue;
      std::string role = i < f.params.size() ? fmt::format("parameter '{}' of '{}'", f.params[i].name, f.name)
                                             : (i == f.params.size() ? fmt::format("the result of '{}'", f.name)
                                                                     : fmt::format("the cotangent of the result of '{}'", f.name));
      auto b = diags.report(DiagKind::CustomVjpMismatch, p.range, bwd.name, f.name,
                            fmt::format("declares parameter '{}' as {}, but it receives {}: {}", p.name,
                                        to_string(p.type), role, to_string(given[i])));
      for (const auto& n : notes) b.note(n);
      ok = false;
    }
    if (!ok) return;
    // What bwd must return: one cotangent per floating-point parameter of f.
    std::vector<Type> cts;
    for (const auto& p : f.params)
      if (is_float_value(p.type)) cts.push_back(p.type);
    if (cts.empty()) {
      diags.report(DiagKind::CustomVjpMismatch, where, bwd.name, f.name,
                   "has nothing to return: no parameter of the function is floating point");
      return;
    }
    Type bret = bwd.ret ? bwd.ret : bwd.typed.inferred_return;
    if (is_unknown(bret)) return;
    Type found = substitute(bret, subst);
    Type expected = cts.size() == 1 ? cts[0] : tuple_type(cts);
    std::vector<std::string> notes;
    // A Float parameter's cotangent may be a float scalar tensor (the lowering converts it).
    auto cotangent_mismatch = [&](const Type& got, const Type& want) -> std::string {
      if (want && want->kind == TypeKind::Float && got && got->kind == TypeKind::Tensor && is_float(got->dtype) &&
          got->shape && got->shape->empty())
        return "";
      return mismatch(got, want, notes);
    };
    std::string m;
    if (cts.size() == 1) {
      m = found->kind == TypeKind::Tuple ? "kind" : cotangent_mismatch(found, expected);
    } else if (found->kind != TypeKind::Tuple || found->elems.size() != cts.size()) {
      m = "kind";
    } else {
      for (size_t i = 0; i < cts.size() && m.empty(); ++i) {
        m = cotangent_mismatch(found->elems[i], cts[i]);
        if (!m.empty()) notes.insert(notes.begin(), fmt::format("cotangent {} (of a {})", i, to_string(cts[i])));
      }
    }
    if (m.empty()) {
      f.typed.custom_vjp = CallTarget{&bwd.typed, subst};
      return;
    }
    std::vector<std::string> names;
    for (const auto& p : f.params)
      if (is_float_value(p.type)) names.push_back(p.name);
    std::string list;
    for (size_t i = 0; i < names.size(); ++i) list += (i ? ", " : "") + names[i];
    auto b = diags.report(DiagKind::CustomVjpMismatch, bwd.def->returns ? bwd.def->returns->range : bwd.def->name_range,
                          bwd.name, f.name,
                          fmt::format("returns {}, but must return {}", to_string(found), to_string(expected)));
    for (const auto& n : notes) b.note(n);
    b.note(fmt::format("one cotangent per floating-point parameter of '{}' ({}), typed like it{}", f.name, list,
                       cts.size() > 1 ? ", as a tuple" : ""));
  }

  // ------------------------------------------------------------ signatures

  // Converts a dimension expression of a signature or body into a DimExpr.
  std::optional<DimExpr> to_dim(const Expr* e, bool report) {
    if (auto* i = dyn_cast<IntLiteralExpr>(e)) return DimExpr::constant(static_cast<int64_t>(i->value));
    if (auto* s = dyn_cast<StringLiteralExpr>(e)) {
      if (!dims.count(s->value)) {
        dims.emplace(s->value, DimExpr::symbol(s->value));
        if (fn) fn->dims.push_back(s->value);
      }
      return dims.at(s->value);
    }
    if (auto* n = dyn_cast<NameExpr>(e)) {
      if (n->name == "_") return c.fresh_dim("_");
      auto it = dims.find(n->name);
      if (it != dims.end()) return it->second;
      if (!declared_dims_only) {
        Type t = lookup_local(n->name);
        if (t) return c.dim_value(t);
        return std::nullopt;
      }
      if (report) {
        std::vector<std::string> names;
        for (auto& [k, v] : dims) names.push_back(k);
        auto b = diags.report(DiagKind::UndefinedDimension, n->range, n->name);
        std::string guess = closest_name(n->name, names);
        if (!guess.empty()) b.help(fmt::format("did you mean '{}'?", guess));
        else
          b.help(fmt::format("declare it as a generic parameter (`def f[{}](...)`) or write it as a string "
                             "dimension (\"{}\")",
                             n->name, n->name));
      }
      return std::nullopt;
    }
    if (auto* u = dyn_cast<UnaryExpr>(e); u && u->op == UnaryOp::Neg) {
      auto v = to_dim(u->operand, report);
      if (v) return DimExpr::constant(0) - *v;
      return std::nullopt;
    }
    if (auto* b = dyn_cast<BinaryExpr>(e)) {
      auto l = to_dim(b->lhs, report);
      auto r = to_dim(b->rhs, report);
      if (!l || !r) return std::nullopt;
      switch (b->op) {
        case BinaryOp::Add: return *l + *r;
        case BinaryOp::Sub: return *l - *r;
        case BinaryOp::Mul: return *l * *r;
        case BinaryOp::FloorDiv: return floordiv(*l, *r);
        case BinaryOp::Mod: return mod(*l, *r);
        default: return std::nullopt;
      }
    }
    if (!declared_dims_only) {
      Type t = expr(e);
      return c.dim_value(t);
    }
    return std::nullopt;
  }

  // Reads `bf16 @accum(f32) @stochastic_round` (a matmul chain in the AST)
  // or a bare dtype name.
  bool dtype_and_policies(const Expr* e, DType& dtype, Policy& policy) {
    std::vector<const Expr*> chain;
    const Expr* cur = e;
    while (auto* b = dyn_cast<BinaryExpr>(cur)) {
      if (b->op != BinaryOp::MatMul) break;
      chain.push_back(b->rhs);
      cur = b->lhs;
    }
    auto* head = dyn_cast<NameExpr>(cur);
    if (!head) return false;
    auto d = dtype_from_name(head->name);
    if (!d) return false;
    dtype = *d;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) apply_policy(*it, policy);
    return true;
  }

  void apply_policy(const Expr* p, Policy& policy) {
    const Expr* target = p;
    const CallExpr* call = dyn_cast<CallExpr>(p);
    if (call) target = call->callee;
    auto name = dotted(target);
    std::string n = name ? *name : "";
    auto first_arg = [&]() -> const Expr* { return call && !call->args.empty() ? call->args[0].value : nullptr; };
    if (n == "accum" || n == "accumulate") {
      if (auto* a = dyn_cast_or_null_name(first_arg())) {
        if (auto d = dtype_from_name(a->name)) {
          policy.accum = *d;
          return;
        }
      }
      diags.report(DiagKind::TypeMismatch, p->range, "@accum(...) takes a dtype such as f32");
      return;
    }
    if (n == "stochastic_round") {
      policy.rounding = "stochastic";
      return;
    }
    if (n == "rounding") {
      if (auto* s = dyn_cast_or_null<StringLiteralExpr>(first_arg())) {
        if (s->value == "nearest" || s->value == "stochastic") {
          policy.rounding = s->value;
          return;
        }
      }
      diags.report(DiagKind::TypeMismatch, p->range, "@rounding(...) takes \"nearest\" or \"stochastic\"");
      return;
    }
    if (n == "loss_scale") {
      const Expr* a = first_arg();
      if (auto* i = dyn_cast_or_null<IntLiteralExpr>(a)) policy.loss_scale = static_cast<double>(i->value);
      else if (auto* f = dyn_cast_or_null<FloatLiteralExpr>(a)) policy.loss_scale = f->value;
      else diags.report(DiagKind::TypeMismatch, p->range, "@loss_scale(...) takes a number");
      return;
    }
    if (n == "saturate") {
      policy.saturate = true;
      return;
    }
    if (n == "deterministic") {
      policy.deterministic = true;
      return;
    }
    if (n == "device") {
      if (auto* s = dyn_cast_or_null<StringLiteralExpr>(first_arg())) policy.device = s->value;
      return;
    }
    if (n == "NumericalPolicy" && call) {
      for (const Argument& a : call->args) {
        if (a.name == "accumulation") {
          if (auto* an = dyn_cast_or_null_name(a.value))
            if (auto d = dtype_from_name(an->name)) policy.accum = *d;
        } else if (a.name == "deterministic") {
          policy.deterministic = true;
        } else if (a.name == "saturate") {
          policy.saturate = true;
        } else if (a.name == "rounding") {
          if (auto* s = dyn_cast_or_null<StringLiteralExpr>(a.value)) policy.rounding = s->value;
        } else if (a.name == "loss_scale") {
          if (auto* f = dyn_cast_or_null<FloatLiteralExpr>(a.value)) policy.loss_scale = f->value;
          if (auto* i = dyn_cast_or_null<IntLiteralExpr>(a.value)) policy.loss_scale = static_cast<double>(i->value);
        }
      }
      return;
    }
    diags.report(DiagKind::UnknownMember, p->range, "numerical policies", n.empty() ? "?" : n)
        .note("policies are accum(dtype), rounding(...), stochastic_round, loss_scale(x), saturate, deterministic, "
              "device(...)");
  }

  template <typename T>
  static const T* dyn_cast_or_null(const Expr* e) {
    return e ? dyn_cast<T>(e) : nullptr;
  }
  static const NameExpr* dyn_cast_or_null_name(const Expr* e) { return e ? dyn_cast<NameExpr>(e) : nullptr; }

  // A class named in an annotation: `Point`, an imported `Point`, or `mylib.Point`.
  const ClassInfo* find_class(const std::string& head) const {
    if (auto it = c.classes_.find(head); it != c.classes_.end()) return it->second.get();
    if (auto it = c.imported_classes_.find(head); it != c.imported_classes_.end()) return it->second;
    auto dot = head.find('.');
    if (dot == std::string::npos) return nullptr;
    auto m = c.user_modules_.find(head.substr(0, dot));
    if (m == c.user_modules_.end() || !m->second) return nullptr;
    std::string rest = head.substr(dot + 1);
    if (auto it = m->second->classes_.find(rest); it != m->second->classes_.end()) return it->second.get();
    if (auto it = m->second->imported_classes_.find(rest); it != m->second->imported_classes_.end()) return it->second;
    return nullptr;
  }

  // The name an annotation refers to, with `tessera.` and aliases removed.
  std::string type_head(const Expr* e) {
    auto name = dotted(e);
    if (!name) return "";
    std::string n = *name;
    auto dot = n.find('.');
    if (dot != std::string::npos) {
      std::string head = n.substr(0, dot);
      auto alias = c.module_aliases_.find(head);
      if (head == "tessera" || (alias != c.module_aliases_.end() && alias->second == "tessera")) return n.substr(dot + 1);
    }
    return n;
  }

  // Converts a type annotation. Unknown forms are reported and give Unknown.
  Type annotation(const Expr* e) {
    if (!e) return unknown_type();
    if (isa<NoneLiteralExpr>(e)) return none_type();
    if (auto* b = dyn_cast<BinaryExpr>(e); b && b->op == BinaryOp::BitOr) {
      const Expr* other = isa<NoneLiteralExpr>(b->rhs) ? b->lhs : isa<NoneLiteralExpr>(b->lhs) ? b->rhs : nullptr;
      if (other) return optional_type(annotation(other));
      diags.report(DiagKind::NotYetSupported, e->range, "union types other than `T | None`");
      return unknown_type();
    }
    if (auto* s = dyn_cast<SubscriptExpr>(e)) {
      std::string head = type_head(s->object);
      if (head == "Tensor" || head == "Tile") return tensor_annotation(s, head == "Tile");
      if (head == "Const") {
        if (s->indices.size() == 1) {
          if (auto* n = dyn_cast<NameExpr>(s->indices[0])) {
            auto it = dims.find(n->name);
            if (it != dims.end()) return int_type(it->second);
          }
          if (auto d = to_dim(s->indices[0], true)) return int_type(*d);
        }
        diags.report(DiagKind::TypeMismatch, e->range, "Const[...] takes one dimension name");
        return int_type();
      }
      if (head == "Distribution") {
        if (s->indices.size() == 1) return distribution_type(annotation(s->indices[0]));
        return distribution_type(unknown_type());
      }
      if (head == "List" && s->indices.size() == 1) return list_type(annotation(s->indices[0]));
      if (head == "Dict" && s->indices.size() == 2) return dict_type(annotation(s->indices[0]), annotation(s->indices[1]));
      if (head == "Tuple") {
        std::vector<Type> elems;
        for (const Expr* i : s->indices) {
          if (isa<EllipsisLiteralExpr>(i)) return tuple_type({});
          elems.push_back(annotation(i));
        }
        return tuple_type(elems);
      }
      if (head == "Int" || head == "Float") {
        // Int[bits=32] / Float[bits=16]: the dtype of a rank-0 tensor.
        for (const Expr* i : s->indices) {
          if (auto* k = dyn_cast<KeywordExpr>(i); k && k->name == "bits") {
            if (auto* lit = dyn_cast<IntLiteralExpr>(k->value)) {
              std::string dn = (head == "Int" ? "i" : "f") + std::to_string(lit->value);
              if (auto d = dtype_from_name(dn)) return scalar_tensor(*d);
            }
          }
        }
        diags.report(DiagKind::TypeMismatch, e->range, fmt::format("{}[...] takes bits=8, 16, 32 or 64", head));
        return unknown_type();
      }
      diags.report(DiagKind::NotYetSupported, e->range, fmt::format("the type annotation '{}'", print_expr(e)));
      return unknown_type();
    }
    // A dtype with policies: `bf16 @accum(f32)` as a rank-0 tensor type.
    DType dt;
    Policy pol;
    if (dtype_and_policies(e, dt, pol)) return tensor_type(dt, std::vector<DimExpr>{}, pol);
    std::string head = type_head(e);
    if (head == "Tensor" || head == "Tile") return tensor_type(DType::F32, std::nullopt, {}, head == "Tile");
    if (head == "Int" || head == "int") return int_type();
    if (head == "Float" || head == "float") return float_type();
    if (head == "Bool" || head == "bool") return bool_type();
    if (head == "str" || head == "Str") return str_type();
    if (head == "Posterior") return posterior_type();
    if (head == "Params") return params_type();
    if (head == "Distribution") return distribution_type(unknown_type());
    if (head == "Mesh" || head == "Dataset" || head == "Model" || head == "TileOp" || head == "Proof")
      return named_type(TypeKind::Object, head);
    if (const ClassInfo* k = find_class(head)) return named_type(TypeKind::Object, k->name, k);
    if (auto* n = dyn_cast<NameExpr>(e)) {
      std::vector<std::string> names = {"Tensor", "Tile", "Int", "Float", "Bool", "Const", "Distribution",
                                        "Posterior", "Params", "List", "Dict", "Tuple", "Mesh"};
      for (auto& [k, v] : c.classes_) names.push_back(k);
      auto b = diags.report(DiagKind::UndefinedName, e->range, n->name);
      b.label("not a type");
      std::string guess = closest_name(n->name, names);
      if (!guess.empty()) b.help(fmt::format("did you mean '{}'?", guess));
      return unknown_type();
    }
    if (auto* tu = dyn_cast<TupleExpr>(e)) {  // `-> (Tensor[N], f32)`: the same as Tuple[...]
      std::vector<Type> elems;
      for (const Expr* x : tu->elements) elems.push_back(annotation(x));
      return tuple_type(elems);
    }
    diags.report(DiagKind::NotYetSupported, e->range, fmt::format("the type annotation '{}'", print_expr(e)));
    return unknown_type();
  }

  Type tensor_annotation(const SubscriptExpr* s, bool tile) {
    DType dtype = DType::F32;
    Policy policy;
    std::vector<DimExpr> shape;
    bool ok = true;
    for (const Expr* i : s->indices) {
      if (auto* p = dyn_cast<PolicyExpr>(i)) {
        apply_policy(p->policy, policy);
        continue;
      }
      if (auto* k = dyn_cast<KeywordExpr>(i)) {
        if (k->name == "dtype") {
          DType d;
          Policy extra;
          if (dtype_and_policies(k->value, d, extra)) {
            dtype = d;
            if (!extra.empty()) policy = extra;
          } else {
            diags.report(DiagKind::TypeMismatch, k->value->range, "dtype= takes a dtype such as f32 or bf16");
          }
        } else {
          diags.report(DiagKind::UnknownKeyword, k->range, "Tensor[...]", k->name).note("Tensor[...] takes dtype=");
        }
        continue;
      }
      DType d;
      Policy extra;
      if (dtype_and_policies(i, d, extra)) {
        dtype = d;
        if (!extra.empty()) {
          if (extra.accum) policy.accum = extra.accum;
          if (!extra.rounding.empty()) policy.rounding = extra.rounding;
          if (extra.loss_scale) policy.loss_scale = extra.loss_scale;
          policy.saturate |= extra.saturate;
          policy.deterministic |= extra.deterministic;
          if (!extra.device.empty()) policy.device = extra.device;
        }
        continue;
      }
      if (isa<EllipsisLiteralExpr>(i)) {
        diags.report(DiagKind::NotYetSupported, i->range, "'...' (any number of dimensions) in a tensor type");
        ok = false;
        continue;
      }
      auto dim = to_dim(i, true);
      if (!dim) {
        ok = false;
        continue;
      }
      shape.push_back(*dim);
    }
    if (!ok) return tensor_type(dtype, std::nullopt, policy, tile);
    return tensor_type(dtype, shape, policy, tile);
  }

  bool is_dim_predicate_expr(const Expr* e) {
    auto* cmp = dyn_cast<CompareExpr>(e);
    if (!cmp || cmp->rest.size() != 1) return false;
    switch (cmp->rest[0].first) {
      case CompareOp::Eq:
      case CompareOp::Ne:
      case CompareOp::Lt:
      case CompareOp::Le:
      case CompareOp::Gt:
      case CompareOp::Ge: break;
      default: return false;
    }
    std::function<bool(const Expr*)> only_dims = [&](const Expr* x) -> bool {
      if (isa<IntLiteralExpr>(x)) return true;
      if (auto* n = dyn_cast<NameExpr>(x)) return dims.count(n->name) > 0;
      if (auto* b = dyn_cast<BinaryExpr>(x))
        return (b->op == BinaryOp::Add || b->op == BinaryOp::Sub || b->op == BinaryOp::Mul ||
                b->op == BinaryOp::FloorDiv || b->op == BinaryOp::Mod) &&
               only_dims(b->lhs) && only_dims(b->rhs);
      return false;
    };
    bool any_symbol = false;
    std::function<void(const Expr*)> find = [&](const Expr* x) {
      if (isa<NameExpr>(x)) any_symbol = true;
      if (auto* b = dyn_cast<BinaryExpr>(x)) {
        find(b->lhs);
        find(b->rhs);
      }
    };
    find(cmp->first);
    find(cmp->rest[0].second);
    return any_symbol && only_dims(cmp->first) && only_dims(cmp->rest[0].second);
  }

  DimPredicate to_predicate(const CompareExpr* cmp) {
    DimPredicate p{DimPredicate::Op::Eq, *to_dim(cmp->first, false), *to_dim(cmp->rest[0].second, false)};
    switch (cmp->rest[0].first) {
      case CompareOp::Eq: p.op = DimPredicate::Op::Eq; break;
      case CompareOp::Ne: p.op = DimPredicate::Op::Ne; break;
      case CompareOp::Lt: p.op = DimPredicate::Op::Lt; break;
      case CompareOp::Le: p.op = DimPredicate::Op::Le; break;
      case CompareOp::Gt: p.op = DimPredicate::Op::Gt; break;
      case CompareOp::Ge: p.op = DimPredicate::Op::Ge; break;
      default: break;
    }
    return p;
  }

  bool body_declares_parameters(const Body& body) {
    bool found = false;
    std::function<void(const Expr*)> visit = [&](const Expr* e) {
      if (!e || found) return;
      if (auto* call = dyn_cast<CallExpr>(e)) {
        std::string head = type_head(call->callee);
        static const std::set<std::string> layers = {"nn.linear",    "nn.conv2d",       "nn.layer_norm",
                                                     "nn.rms_norm",  "nn.group_norm",   "nn.embedding",
                                                     "nn.multi_head_attention"};
        if (layers.count(head)) found = true;
        visit(call->callee);
        for (const Argument& a : call->args) visit(a.value);
      } else if (auto* b = dyn_cast<BinaryExpr>(e)) {
        visit(b->lhs);
        visit(b->rhs);
      } else if (auto* u = dyn_cast<UnaryExpr>(e)) {
        visit(u->operand);
      } else if (auto* a = dyn_cast<AttributeExpr>(e)) {
        visit(a->object);
      }
    };
    std::function<void(const Body&)> walk = [&](const Body& b) {
      for (const Stmt* s : b) {
        if (auto* a = dyn_cast<AssignStmt>(s)) visit(a->value);
        else if (auto* r = dyn_cast<ReturnStmt>(s)) visit(r->value);
        else if (auto* x = dyn_cast<ExprStmt>(s)) visit(x->expr);
        else if (auto* i = dyn_cast<IfStmt>(s)) {
          walk(i->then_body);
          walk(i->else_body);
        } else if (auto* f = dyn_cast<ForStmt>(s)) walk(f->body);
        else if (auto* w = dyn_cast<WhileStmt>(s)) walk(w->body);
        else if (auto* w2 = dyn_cast<WithStmt>(s)) walk(w2->body);
      }
    };
    walk(body);
    return found;
  }

  void signature(FunctionInfo& info) {
    fn = &info;
    dims.clear();
    declared_dims_only = true;
    const FunctionDefStmt* f = info.def;
    for (const GenericParam& g : f->generics) {
      dims.emplace(g.name, DimExpr::symbol(g.name));
      info.dims.push_back(g.name);
    }
    for (const Param& p : f->params) {
      FunctionInfo::Param fp;
      fp.name = p.name;
      fp.range = p.range;
      fp.has_default = p.default_value != nullptr;
      fp.annotated = p.annotation != nullptr;
      if (p.kind != ParamKind::Normal) {
        if (p.kind == ParamKind::VarArgs || p.kind == ParamKind::KwArgs)
          diags.report(DiagKind::NotYetSupported, p.range, "'*args' and '**kwargs' parameters");
        continue;
      }
      if (p.annotation) {
        if (auto* s = dyn_cast<SubscriptExpr>(p.annotation); s && type_head(s->object) == "Const") {
          fp.is_const = true;
          if (s->indices.size() == 1)
            if (auto* n = dyn_cast<NameExpr>(s->indices[0])) fp.const_symbol = n->name;
        }
        fp.type = annotation(p.annotation);
      } else {
        fp.type = unknown_type();
      }
      info.params.push_back(fp);
    }
    if (f->returns) info.ret = annotation(f->returns);
    declared_dims_only = false;
    info.is_model = body_declares_parameters(f->body);

    // Preconditions: asserts over dimensions at the top of the body.
    for (const Stmt* s : f->body) {
      auto* a = dyn_cast<AssertStmt>(s);
      if (!a) break;
      if (!is_dim_predicate_expr(a->test)) break;
      auto* cmp = cast<CompareExpr>(a->test);
      info.preconditions.push_back({to_predicate(cmp), a->test->range, sources.text(a->test->range)});
    }
    info.typed.def = f;
    info.typed.module = sources.file(f->range.begin.file).name;
    info.typed.name = info.name;
    info.typed.range = f->name_range;
    info.typed.decorators = info.decorators;
    info.typed.dims = info.dims;
    for (const auto& p : info.params) info.typed.params.push_back({p.name, p.range, p.type});
    info.typed.declared_return = info.ret;
    for (const auto& p : info.preconditions) {
      info.typed.preconditions.push_back(p.text);
      info.typed.precondition_facts.push_back({p.text, p.pred});
    }
    fn = nullptr;
  }

  // ---------------------------------------------------------------- scopes

  Type lookup_local(const std::string& name) {
    for (auto it = scopes.rbegin(); it != scopes.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    return nullptr;
  }

  void bind(const std::string& name, Type t, SourceRange range) {
    if (scopes.empty()) scopes.emplace_back();
    scopes.back()[name] = t;
    if (fn) fn->typed.bindings.push_back({name, range, t});
  }

  std::vector<std::string> visible_names() {
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

  // ------------------------------------------------------------ functions

  void check_function(FunctionInfo& info) {
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
    info.typed.ok = diags.error_count() == errors_before;
    info.checked = true;
    c.solver().pop();
    c.current_ = nullptr;
    fn = nullptr;
  }

  // ------------------------------------------------------------ statements

  void block(const Body& body) {
    for (const Stmt* s : body) stmt(s);
  }

  void assign_target(const Expr* target, const Type& t, const Expr* value) {
    if (auto* n = dyn_cast<NameExpr>(target)) {
      bind(n->name, t, n->range);
      if (value && expr_origin.count(value)) origin[n->name] = expr_origin[value];
      else origin.erase(n->name);
      return;
    }
    if (auto* tu = dyn_cast<TupleExpr>(target)) {
      for (size_t i = 0; i < tu->elements.size(); ++i) {
        Type et = unknown_type();
        if (t && t->kind == TypeKind::Tuple && i < t->elems.size()) et = t->elems[i];
        assign_target(tu->elements[i], et, nullptr);
      }
      if (t && t->kind == TypeKind::Tuple && t->elems.size() != tu->elements.size())
        diags.report(DiagKind::TypeMismatch, target->range,
                     fmt::format("cannot unpack a tuple of {} values into {} names", t->elems.size(),
                                 tu->elements.size()));
      return;
    }
    if (auto* l = dyn_cast<ListExpr>(target)) {
      for (const Expr* e : l->elements) assign_target(e, unknown_type(), nullptr);
      return;
    }
    if (auto* s = dyn_cast<StarredExpr>(target)) {
      assign_target(s->value, unknown_type(), nullptr);
      return;
    }
    // Attribute and subscript targets: check the object expression.
    if (auto* a = dyn_cast<AttributeExpr>(target)) expr(a->object);
    if (auto* sub = dyn_cast<SubscriptExpr>(target)) {
      expr(sub->object);
      for (const Expr* i : sub->indices) expr(i);
    }
  }

  void stmt(const Stmt* s) {
    switch (s->kind) {
      case NodeKind::ExprStmt: expr(cast<ExprStmt>(s)->expr); return;
      case NodeKind::AssignStmt: {
        auto* a = cast<AssignStmt>(s);
        Type t = expr(a->value);
        for (const Expr* target : a->targets) assign_target(target, t, a->value);
        return;
      }
      case NodeKind::AugAssignStmt: {
        auto* a = cast<AugAssignStmt>(s);
        Type lhs = expr(a->target);
        Type rhs = expr(a->value);
        Type result = binary(a->op, lhs, rhs, a->range, a->target->range, a->value->range,
                             std::string(binary_op_spelling(a->op)) + "=");
        if (auto* n = dyn_cast<NameExpr>(a->target)) bind(n->name, result, n->range);
        return;
      }
      case NodeKind::AnnAssignStmt: {
        auto* a = cast<AnnAssignStmt>(s);
        Type declared = annotation(a->annotation);
        if (a->value) {
          Type t = expr(a->value);
          // `w: Tensor[4, 16] = load("w.npy")`: the annotation is the type of the load (its
          // dtype and shape are checked against the file when the program runs).
          if (is_untyped_load(a->value, t) && declared && declared->kind == TypeKind::Tensor && declared->shape) {
            fn->typed.expr_types[a->value] = declared;
            t = declared;
          }
          check_assignable(t, declared, a->value->range, "assignment");
          // `p: ts.Params = ts.init(model)`: a bare Params annotation keeps the value's layout.
          if (declared && declared->kind == TypeKind::Params && declared->fields.empty() && t &&
              t->kind == TypeKind::Params && !t->fields.empty())
            declared = t;
        }
        if (auto* n = dyn_cast<NameExpr>(a->target)) bind(n->name, declared, n->range);
        return;
      }
      case NodeKind::SampleStmt: sample(cast<SampleStmt>(s)); return;
      case NodeKind::ReturnStmt: ret(cast<ReturnStmt>(s)); return;
      case NodeKind::PassStmt:
      case NodeKind::BreakStmt:
      case NodeKind::ContinueStmt:
      case NodeKind::ErrorStmt: return;
      case NodeKind::AssertStmt: {
        auto* a = cast<AssertStmt>(s);
        expr(a->test);
        if (a->message) expr(a->message);
        return;
      }
      case NodeKind::RaiseStmt: {
        auto* r = cast<RaiseStmt>(s);
        diags.report(DiagKind::NotYetSupported, r->range, "'raise'");
        return;
      }
      case NodeKind::IfStmt: {
        auto* i = cast<IfStmt>(s);
        expr(i->cond);
        narrow_and_run(i);
        return;
      }
      case NodeKind::ForStmt: {
        auto* f = cast<ForStmt>(s);
        Type it = expr(f->iter);
        Type elem = iter_element(it);
        assign_target(f->target, elem, nullptr);
        block(f->body);
        block(f->else_body);
        return;
      }
      case NodeKind::WhileStmt: {
        auto* w = cast<WhileStmt>(s);
        expr(w->cond);
        block(w->body);
        block(w->else_body);
        return;
      }
      case NodeKind::WithStmt: {
        auto* w = cast<WithStmt>(s);
        for (const WithItem& item : w->items) {
          Type t = expr(item.context);
          if (item.target) assign_target(item.target, unknown_type(), nullptr);
          (void)t;
        }
        block(w->body);
        return;
      }
      case NodeKind::TryStmt:
        diags.report(DiagKind::NotYetSupported, s->range, "'try' statements");
        return;
      case NodeKind::FunctionDefStmt:
        diags.report(DiagKind::NotYetSupported, cast<FunctionDefStmt>(s)->name_range, "nested function definitions");
        return;
      case NodeKind::ClassDefStmt:
        diags.report(DiagKind::NotYetSupported, cast<ClassDefStmt>(s)->name_range, "classes inside functions");
        return;
      case NodeKind::ImportStmt:
      case NodeKind::ImportFromStmt:
        diags.report(DiagKind::NotYetSupported, s->range, "imports inside functions");
        return;
      default: return;
    }
  }

  // `if x is not None:` narrows an optional inside the branch.
  void narrow_and_run(const IfStmt* i) {
    std::string narrowed;
    Type saved;
    if (auto* cmp = dyn_cast<CompareExpr>(i->cond); cmp && cmp->rest.size() == 1 &&
                                                    cmp->rest[0].first == CompareOp::IsNot &&
                                                    isa<NoneLiteralExpr>(cmp->rest[0].second)) {
      if (auto* n = dyn_cast<NameExpr>(cmp->first)) {
        Type t = lookup_local(n->name);
        if (t && t->kind == TypeKind::Optional) {
          narrowed = n->name;
          saved = t;
          scopes.back()[n->name] = t->elems[0];
        }
      }
    }
    block(i->then_body);
    if (!narrowed.empty()) scopes.back()[narrowed] = saved;
    block(i->else_body);
  }

  Type iter_element(const Type& it) {
    if (!it) return unknown_type();
    if (it->kind == TypeKind::Object && (it->name == "range" || it->name == "tile.range")) return int_type();
    if (it->kind == TypeKind::List) return it->elems[0];
    if (it->kind == TypeKind::Tuple && !it->elems.empty()) return it->elems[0];
    if (it->kind == TypeKind::Tensor && it->shape && !it->shape->empty()) {
      std::vector<DimExpr> rest(it->shape->begin() + 1, it->shape->end());
      return tensor_type(it->dtype, rest, it->policy);
    }
    return unknown_type();
  }

  void sample(const SampleStmt* s) {
    Type dist = expr(s->distribution);
    if (fn && fn->kind != FunctionInfo::Kind::Probabilistic) {
      auto b = diags.report(DiagKind::SampleOutsideModel, s->tilde_range.valid() ? s->tilde_range : s->range);
      b.label("'~' draws a random variable or observes a value");
      b.help(fmt::format("mark '{}' with @tessera.probabilistic (or @tessera.mcmc / @tessera.variational)", fn->name));
    } else if (!fn) {
      diags.report(DiagKind::SampleOutsideModel, s->tilde_range.valid() ? s->tilde_range : s->range)
          .help("'~' is allowed only inside a function marked @tessera.probabilistic, @tessera.mcmc or "
                "@tessera.variational");
    }
    // Outside a probabilistic function E0501 already says what is wrong;
    // the effect is not counted again as E0502.
    if (fn && fn->kind == FunctionInfo::Kind::Probabilistic) c.add_effect(kRandom, s->range);
    Type sample_type = unknown_type();
    if (dist && dist->kind == TypeKind::Distribution) sample_type = dist->elems[0];
    else if (!is_unknown(dist))
      diags.report(DiagKind::TypeMismatch, s->distribution->range,
                   fmt::format("the right side of '~' must be a distribution, not {}", to_string(dist)));

    auto* name = dyn_cast<NameExpr>(s->target);
    Type bound = name ? lookup_local(name->name) : expr(s->target);
    if (name && !bound) {
      bind(name->name, sample_type, name->range);  // a latent variable
      return;
    }
    // An observation: its shape must equal the distribution's batch shape.
    // A distribution with scalar parameters observes every element (i.i.d.).
    auto obs = as_tensor(bound);
    if (!obs || !is_tensor(sample_type) || !(*obs)->shape || !sample_type->shape) return;
    const auto& want = *sample_type->shape;
    const auto& got = *(*obs)->shape;
    if (want.empty()) return;
    bool ok = want.size() == got.size();
    std::string why;
    for (size_t i = 0; ok && i < want.size(); ++i) {
      ProofResult r = c.prove_equal(got[i], want[i]);
      if (r.kind != ProofResult::Kind::Proven) {
        ok = false;
        why = fmt::format("dimension {}: {} is not provably equal to {}{}", i, got[i].to_string(), want[i].to_string(),
                          c.describe_counterexample(r));
      }
    }
    if (!ok) {
      auto b = diags.report(DiagKind::ObservationShapeMismatch, s->target->range);
      b.label(fmt::format("observed {} has shape [{}]", name ? "'" + name->name + "'" : "value",
                          shape_to_string(got)));
      b.note(fmt::format("the distribution's batch shape is [{}]", shape_to_string(want)));
      if (!why.empty()) b.note(why);
      b.note("an observation is never broadcast: that would multiply the likelihood by the broadcast factor");
    }
  }

  // A call of the built-in load(path), whose type is a tensor of unknown shape until an
  // annotation (or the declared return type) gives it one.
  bool is_untyped_load(const Expr* e, const Type& t) const {
    auto* c = dyn_cast<CallExpr>(e);
    if (!c || !fn) return false;
    if (t && !is_unknown(t) && !(t->kind == TypeKind::Tensor && !t->shape)) return false;
    if (auto* n = dyn_cast<NameExpr>(c->callee)) return n->name == "load";
    if (auto* a = dyn_cast<AttributeExpr>(c->callee)) return a->name == "load" && isa<NameExpr>(a->object);
    return false;
  }

  void ret(const ReturnStmt* r) {
    Type t = r->value ? expr(r->value) : none_type();
    if (r->value && fn && fn->ret && fn->ret->kind == TypeKind::Tensor && fn->ret->shape && is_untyped_load(r->value, t)) {
      fn->typed.expr_types[r->value] = fn->ret;
      t = fn->ret;
    }
    if (fn) {
      // Returns that disagree leave the inferred type unknown (callers then need an annotation).
      Type& inferred = fn->typed.inferred_return;
      inferred = !inferred || to_string(inferred) == to_string(t) ? t : unknown_type();
    }
    if (!fn || !fn->ret || !r->value) return;
    check_return(t, fn->ret, r);
  }

  // Compares an inferred type with a declared one dimension by dimension.
  // Returns an empty string when they match, else the first difference.
  std::string mismatch(const Type& found, const Type& expected, std::vector<std::string>& notes) {
    if (is_unknown(found) || is_unknown(expected)) return "";
    if (expected->kind == TypeKind::Optional) {
      if (found->kind == TypeKind::None) return "";
      return mismatch(found, expected->elems[0], notes);
    }
    if (expected->kind == TypeKind::Distribution) {
      if (found->kind != TypeKind::Distribution) return "kind";
      return mismatch(found->elems[0], expected->elems[0], notes);
    }
    auto ft = as_tensor(found);
    if (expected->kind == TypeKind::Tensor) {
      if (!ft) return "kind";
      if (found->kind != TypeKind::Tensor && expected->shape && expected->shape->empty()) return "";  // scalar
      const Type& f = *ft;
      if (!f->shape || !expected->shape) return "";
      if (f->shape->size() != expected->shape->size()) {
        notes.push_back(fmt::format("expected rank {}, found rank {}", expected->shape->size(), f->shape->size()));
        return "rank";
      }
      for (size_t i = 0; i < f->shape->size(); ++i) {
        ProofResult r = c.prove_equal((*f->shape)[i], (*expected->shape)[i]);
        if (r.kind != ProofResult::Kind::Proven) {
          notes.push_back(fmt::format("dimension {}: {} is not provably equal to {}{}", i, (*f->shape)[i].to_string(),
                                      (*expected->shape)[i].to_string(), c.describe_counterexample(r)));
          return "dim";
        }
      }
      if (f->dtype != expected->dtype && found->kind == TypeKind::Tensor && !found->weak) {
        notes.push_back(fmt::format("the element type is {}, expected {}", dtype_name(f->dtype),
                                    dtype_name(expected->dtype)));
        return "dtype";
      }
      return "";
    }
    if (expected->kind == TypeKind::Float && (found->kind == TypeKind::Int || found->kind == TypeKind::Float)) return "";
    if (expected->kind == TypeKind::Int && found->kind == TypeKind::Int) return "";
    if (expected->kind == TypeKind::Bool && found->kind == TypeKind::Bool) return "";
    if (expected->kind == found->kind) return "";
    return "kind";
  }

  void check_return(const Type& found, const Type& expected, const ReturnStmt* r) {
    std::vector<std::string> notes;
    std::string what = mismatch(found, expected, notes);
    if (what.empty()) return;
    if (what == "kind") {
      diags.report(DiagKind::TypeMismatch, r->value->range,
                   fmt::format("return type mismatch in '{}': expected {}, found {}", fn->name, to_string(expected),
                               to_string(found)))
          .related(fn->def->returns->range, "return type declared here");
      return;
    }
    auto b = diags.report(DiagKind::ReturnTypeMismatch, r->value->range, fn->name);
    b.label(fmt::format("expected {}, found {}", to_string(expected), to_string(found)));
    for (const auto& n : notes) b.note(n);
    // A reduction without keepdim=True that removed exactly the dimensions
    // the declared type keeps as 1 is the classic cause.
    std::string op;
    if (auto* n = dyn_cast<NameExpr>(r->value); n && origin.count(n->name)) op = origin[n->name];
    else if (expr_origin.count(r->value)) op = expr_origin[r->value];
    auto ft = as_tensor(found);
    if (!op.empty() && ft && (*ft)->shape && expected->kind == TypeKind::Tensor && expected->shape &&
        expected->shape->size() > (*ft)->shape->size()) {
      b.help(fmt::format("did you forget keepdim=True in the {} operation?", op));
    }
    b.related(fn->def->returns->range, "return type declared here");
  }

  void check_assignable(const Type& found, const Type& expected, SourceRange range, const std::string& what) {
    std::vector<std::string> notes;
    std::string m = mismatch(found, expected, notes);
    if (m.empty()) return;
    auto b = diags.report(DiagKind::TypeMismatch, range,
                          fmt::format("{} expects {}, found {}", what, to_string(expected), to_string(found)));
    for (const auto& n : notes) b.note(n);
  }

  // ------------------------------------------------------------ expressions

  // Types an expression and records its type in the typed AST.
  Type expr(const Expr* e) {
    Type t = expr_kind(e);
    if (fn && e) fn->typed.expr_types[e] = t;
    return t;
  }

  Type expr_kind(const Expr* e) {
    if (!e) return unknown_type();
    switch (e->kind) {
      case NodeKind::NameExpr: return name(cast<NameExpr>(e));
      case NodeKind::IntLiteralExpr:
        return int_type(DimExpr::constant(static_cast<int64_t>(cast<IntLiteralExpr>(e)->value)), true);
      case NodeKind::FloatLiteralExpr: return float_type(cast<FloatLiteralExpr>(e)->value, true);
      case NodeKind::StringLiteralExpr: return str_type();
      case NodeKind::FStringExpr:
        for (const auto& p : cast<FStringExpr>(e)->parts)
          if (p.expr) expr(p.expr);
        return str_type();
      case NodeKind::BoolLiteralExpr: return bool_type();
      case NodeKind::NoneLiteralExpr: return none_type();
      case NodeKind::EllipsisLiteralExpr: return unknown_type();
      case NodeKind::UnaryExpr: return unary(cast<UnaryExpr>(e));
      case NodeKind::BinaryExpr: {
        auto* b = cast<BinaryExpr>(e);
        Type l = expr(b->lhs);
        Type r = expr(b->rhs);
        Type t = binary(b->op, l, r, b->op_range.valid() ? b->op_range : b->range, b->lhs->range, b->rhs->range,
                        std::string(binary_op_spelling(b->op)));
        return t;
      }
      case NodeKind::CompareExpr: return compare(cast<CompareExpr>(e));
      case NodeKind::ConditionalExpr: {
        auto* ce = cast<ConditionalExpr>(e);
        expr(ce->cond);
        Type a = expr(ce->then_value);
        Type b = expr(ce->else_value);
        std::vector<std::string> notes;
        return mismatch(a, b, notes).empty() ? a : unknown_type();
      }
      case NodeKind::LambdaExpr:
        diags.report(DiagKind::NotYetSupported, e->range, "lambda expressions");
        return unknown_type();
      case NodeKind::CallExpr: return call(cast<CallExpr>(e));
      case NodeKind::AttributeExpr: return attribute(cast<AttributeExpr>(e));
      case NodeKind::SubscriptExpr: return subscript(cast<SubscriptExpr>(e));
      case NodeKind::SliceExpr:
      case NodeKind::KeywordExpr:
      case NodeKind::PolicyExpr:
      case NodeKind::StarredExpr: return unknown_type();
      case NodeKind::TupleExpr: {
        std::vector<Type> elems;
        for (const Expr* x : cast<TupleExpr>(e)->elements) elems.push_back(expr(x));
        return tuple_type(elems);
      }
      case NodeKind::ListExpr: {
        std::vector<Type> elems;
        for (const Expr* x : cast<ListExpr>(e)->elements) elems.push_back(expr(x));
        // Lists of dimensions (shapes) keep their element values as a tuple type.
        return tuple_type(elems);
      }
      case NodeKind::SetExpr:
        for (const Expr* x : cast<SetExpr>(e)->elements) expr(x);
        return unknown_type();
      case NodeKind::DictExpr: {
        for (const auto& d : cast<DictExpr>(e)->entries) {
          if (d.key) expr(d.key);
          expr(d.value);
        }
        return named_type(TypeKind::Object, "dict");
      }
      case NodeKind::ComprehensionExpr:
        diags.report(DiagKind::NotYetSupported, e->range, "comprehensions");
        return unknown_type();
      case NodeKind::AwaitExpr:
        diags.report(DiagKind::NotYetSupported, e->range, "'await'");
        return unknown_type();
      case NodeKind::ErrorExpr: return unknown_type();
      default: return unknown_type();
    }
  }

  Type name(const NameExpr* n) {
    if (Type t = lookup_local(n->name)) return t;
    if (auto it = dims.find(n->name); it != dims.end()) return int_type(it->second);
    if (auto it = c.functions_.find(n->name); it != c.functions_.end()) return user_type(TypeKind::Function, n->name, it->second.get());
    if (auto it = c.classes_.find(n->name); it != c.classes_.end()) return user_type(TypeKind::Class, n->name, it->second.get());
    if (auto it = c.imported_functions_.find(n->name); it != c.imported_functions_.end())
      return user_type(TypeKind::Function, it->second->name, it->second);
    if (auto it = c.imported_classes_.find(n->name); it != c.imported_classes_.end())
      return user_type(TypeKind::Class, it->second->name, it->second);
    if (auto it = c.user_modules_.find(n->name); it != c.user_modules_.end())
      return it->second ? user_type(TypeKind::Module, n->name, it->second) : unknown_type();
    if (auto it = c.module_aliases_.find(n->name); it != c.module_aliases_.end())
      return named_type(TypeKind::Module, it->second);
    if (auto it = c.imported_names_.find(n->name); it != c.imported_names_.end())
      return named_type(TypeKind::Function, it->second, find_builtin(it->second));
    if (n->name == "tessera" || n->name == "tile") return named_type(TypeKind::Module, n->name);
    if (auto d = dtype_from_name(n->name)) return dtype_value_type(*d);
    if (const BuiltinOp* op = find_builtin(n->name)) return named_type(TypeKind::Function, op->name, op);
    if (n->name == "True" || n->name == "False") return bool_type();
    auto b = diags.report(DiagKind::UndefinedName, n->range, n->name);
    b.label("not found in this scope");
    std::string guess = closest_name(n->name, visible_names());
    if (!guess.empty()) b.help(fmt::format("a name with a similar spelling exists: '{}'", guess));
    // Bind it so later uses do not cascade into more errors.
    if (!scopes.empty()) scopes.back()[n->name] = unknown_type();
    return unknown_type();
  }

  Type unary(const UnaryExpr* u) {
    Type t = expr(u->operand);
    if (u->op == UnaryOp::Not) {
      if (is_tensor(t)) return tensor_type(DType::Bool, t->shape);
      return bool_type();
    }
    if (t && t->kind == TypeKind::Int && t->int_value && u->op == UnaryOp::Neg)
      return int_type(DimExpr::constant(0) - *t->int_value, t->weak);
    if (t && t->kind == TypeKind::Float && t->float_value && u->op == UnaryOp::Neg)
      return float_type(-*t->float_value, t->weak);
    return t;
  }

  // Arithmetic on Params, tensor by tensor: `params - 0.1 * grads` (+ - * / with Params of the
  // same names or a number).
  Type params_binary(BinaryOp op, const Type& l, const Type& r, SourceRange range, const std::string& spelling) {
    bool arith = op == BinaryOp::Add || op == BinaryOp::Sub || op == BinaryOp::Mul || op == BinaryOp::Div;
    auto number = [](const Type& t) { return t->kind == TypeKind::Int || t->kind == TypeKind::Float; };
    const Type& p = l->kind == TypeKind::Params ? l : r;
    const Type& other = l->kind == TypeKind::Params ? r : l;
    if (arith && number(other)) return p;
    if (arith && other->kind == TypeKind::Params) {
      if (l->fields.empty()) return r;
      if (r->fields.empty() || l->fields == r->fields) return l;
      diags.report(DiagKind::TypeMismatch, range, fmt::format("'{}' of Params with different names", spelling))
          .note("left: " + to_string(l))
          .note("right: " + to_string(r));
      return unknown_type();
    }
    diags.report(DiagKind::TypeMismatch, range,
                 fmt::format("'{}' of {} and {}: Params take + - * / with Params of the same names or a number",
                             spelling, l->kind == TypeKind::Params ? "Params" : to_string(l),
                             r->kind == TypeKind::Params ? "Params" : to_string(r)));
    return unknown_type();
  }

  Type binary(BinaryOp op, const Type& l, const Type& r, SourceRange range, SourceRange lrange, SourceRange rrange,
              const std::string& spelling) {
    if (op == BinaryOp::And || op == BinaryOp::Or) {
      if (is_tensor(l) || is_tensor(r)) return c.elementwise(spelling, range, {l, r});
      return bool_type();
    }
    if (is_unknown(l) || is_unknown(r)) {
      if (is_tensor(l) || is_tensor(r)) {
        const Type& t = is_tensor(l) ? l : r;
        return tensor_type(t->dtype, std::nullopt, t->policy);
      }
      return unknown_type();
    }
    if (l->kind == TypeKind::Params || r->kind == TypeKind::Params) return params_binary(op, l, r, range, spelling);
    if (op == BinaryOp::MatMul) return c.matmul(l, r, range, lrange, rrange);
    // Integer arithmetic on dimension values stays symbolic.
    if (l->kind == TypeKind::Int && r->kind == TypeKind::Int) {
      if (op == BinaryOp::Div) return float_type();
      if (l->int_value && r->int_value) {
        const DimExpr& a = *l->int_value;
        const DimExpr& b = *r->int_value;
        bool weak = l->weak && r->weak;
        switch (op) {
          case BinaryOp::Add: return int_type(a + b, weak);
          case BinaryOp::Sub: return int_type(a - b, weak);
          case BinaryOp::Mul: return int_type(a * b, weak);
          case BinaryOp::FloorDiv: return int_type(floordiv(a, b), weak);
          case BinaryOp::Mod: return int_type(mod(a, b), weak);
          default: break;
        }
      }
      return int_type();
    }
    if (is_numeric_scalar(l) && is_numeric_scalar(r)) {
      if (l->kind == TypeKind::Float || r->kind == TypeKind::Float || op == BinaryOp::Div) return float_type();
      return int_type();
    }
    if (l->kind == TypeKind::Str || r->kind == TypeKind::Str) {
      if (op == BinaryOp::Add && l->kind == TypeKind::Str && r->kind == TypeKind::Str) return str_type();
      diags.report(DiagKind::TypeMismatch, range,
                   fmt::format("'{}' is not defined for {} and {}", spelling, to_string(l), to_string(r)));
      return unknown_type();
    }
    if ((is_tensor(l) || is_numeric_scalar(l)) && (is_tensor(r) || is_numeric_scalar(r)))
      return c.elementwise(spelling, range, {l, r});
    if (l->kind == TypeKind::Distribution || r->kind == TypeKind::Distribution) {
      diags.report(DiagKind::TypeMismatch, range,
                   fmt::format("'{}' is not defined for {} and {}", spelling, to_string(l), to_string(r)))
          .help("sample from the distribution with '~' first, then compute with the value");
      return unknown_type();
    }
    return unknown_type();
  }

  Type compare(const CompareExpr* cmp) {
    Type first = expr(cmp->first);
    Type result = bool_type();
    Type prev = first;
    for (const auto& [op, rhs] : cmp->rest) {
      Type r = expr(rhs);
      if ((op == CompareOp::Is || op == CompareOp::IsNot || op == CompareOp::In || op == CompareOp::NotIn)) {
        prev = r;
        continue;
      }
      if (is_tensor(prev) || is_tensor(r)) {
        Type t = c.elementwise(std::string(compare_op_spelling(op)), cmp->range, {prev, r});
        if (is_tensor(t)) result = tensor_type(DType::Bool, t->shape);
      }
      prev = r;
    }
    return result;
  }

  static Type user_type(TypeKind kind, std::string name, const void* ref) {
    auto t = std::make_shared<TypeNode>();
    t->kind = kind;
    t->name = std::move(name);
    t->ref = ref;
    t->user = true;
    return t;
  }

  // `mylib.f`, `mylib.Point`: a member of a user module.
  Type user_module_member(const Checker& m, const std::string& module_name, const AttributeExpr* a) {
    if (auto f = m.functions_.find(a->name); f != m.functions_.end())
      return user_type(TypeKind::Function, f->second->name, f->second.get());
    if (auto k = m.classes_.find(a->name); k != m.classes_.end())
      return user_type(TypeKind::Class, k->second->name, k->second.get());
    if (auto f = m.imported_functions_.find(a->name); f != m.imported_functions_.end())
      return user_type(TypeKind::Function, f->second->name, f->second);
    if (auto k = m.imported_classes_.find(a->name); k != m.imported_classes_.end())
      return user_type(TypeKind::Class, k->second->name, k->second);
    if (auto sub = m.user_modules_.find(a->name); sub != m.user_modules_.end())
      return sub->second ? user_type(TypeKind::Module, a->name, sub->second) : unknown_type();
    std::vector<std::string> names;
    for (auto& [k, v] : m.functions_) names.push_back(k);
    for (auto& [k, v] : m.classes_) names.push_back(k);
    auto b = diags.report(DiagKind::UnknownMember, a->name_range, fmt::format("module '{}'", module_name), a->name);
    std::string guess = closest_name(a->name, names);
    if (!guess.empty()) b.help(fmt::format("did you mean '{}'?", guess));
    return unknown_type();
  }

  Type attribute(const AttributeExpr* a) {
    Type obj = expr(a->object);
    if (is_unknown(obj)) return unknown_type();
    if (obj->kind == TypeKind::Module && obj->user)
      return user_module_member(*static_cast<const Checker*>(obj->ref), obj->name, a);
    if (obj->kind == TypeKind::Module) {
      std::string q = obj->name + "." + a->name;
      if (is_builtin_module(q)) return named_type(TypeKind::Module, q);
      std::string stripped = strip_tessera(q);
      if (const BuiltinOp* op = find_builtin(stripped)) return named_type(TypeKind::Function, op->name, op);
      // `tessera.nn.relu`: activations are in the prelude too.
      if (obj->name == "tessera.nn")
        if (const BuiltinOp* op = find_builtin(a->name)) return named_type(TypeKind::Function, op->name, op);
      if (obj->name == "tessera" || obj->name == "tile") {
        if (auto d = dtype_from_name(a->name)) return dtype_value_type(*d);
        if (a->name == "Tensor" || a->name == "Tile" || a->name == "Params" || a->name == "Posterior")
          return named_type(TypeKind::Class, a->name);
      }
      std::vector<std::string> names;
      std::string prefix = strip_tessera(obj->name);
      for (const auto& n : builtin_names()) {
        if (prefix.empty()) {
          if (n.find('.') == std::string::npos) names.push_back(n);
        } else if (n.rfind(prefix + ".", 0) == 0) {
          names.push_back(n.substr(prefix.size() + 1));
        }
      }
      auto b = diags.report(DiagKind::UnknownMember, a->name_range, fmt::format("module '{}'", obj->name), a->name);
      std::string guess = closest_name(a->name, names);
      if (!guess.empty()) b.help(fmt::format("did you mean '{}'?", guess));
      return unknown_type();
    }
    if (is_tensor(obj)) {
      const Type& t = obj;
      if (a->name == "shape") {
        if (!t->shape) return unknown_type();
        std::vector<Type> elems;
        for (const DimExpr& d : *t->shape) elems.push_back(int_type(d));
        return tuple_type(elems);
      }
      if (a->name == "T") {
        if (!t->shape) return t;
        std::vector<DimExpr> rev(t->shape->rbegin(), t->shape->rend());
        return tensor_type(t->dtype, rev, t->policy, t->is_tile);
      }
      if (a->name == "dtype") return dtype_value_type(t->dtype);
      if (a->name == "ndim") return int_type(t->shape ? std::optional<DimExpr>(DimExpr::constant(
                                                              static_cast<int64_t>(t->shape->size())))
                                                        : std::nullopt);
      if (find_method(a->name)) return named_type(TypeKind::Function, "method:" + a->name, find_method(a->name));
      auto b = diags.report(DiagKind::UnknownMember, a->name_range, to_string(t), a->name);
      std::string guess = closest_name(a->name, method_names());
      if (!guess.empty()) b.help(fmt::format("did you mean '{}'?", guess));
      return unknown_type();
    }
    if (obj->kind == TypeKind::Object && obj->name == "tile.context") {
      // Block sizes of a kernel: symbolic, fixed by autotuning.
      static const std::set<std::string> fields = {"BM", "BN", "BK", "warps", "stages", "vector"};
      if (fields.count(a->name)) return int_type(DimExpr::symbol(a->name));
      diags.report(DiagKind::UnknownMember, a->name_range, "the tile context", a->name)
          .note("the tile context has BM, BN, BK, warps, stages and vector");
      return unknown_type();
    }
    if (obj->kind == TypeKind::Posterior || obj->kind == TypeKind::Params || obj->kind == TypeKind::Object ||
        obj->kind == TypeKind::Distribution || obj->kind == TypeKind::Class) {
      return named_type(TypeKind::Function, "method:" + a->name);
    }
    if (obj->kind == TypeKind::Function && obj->user && a->name == "export") {
      diags.report(DiagKind::NotYetSupported, a->range, "model.export")
          .help("compile the model ahead of time with `tesserac build FILE --target cpu` (a shared library that "
                "exports tess_<name>, docs/cli.md) and write its parameters with save(params, \"p.npz\")");
      return unknown_type();
    }
    return unknown_type();
  }

  // `params["linear_0.w"]`: a string constant key, checked against the bundle's names.
  Type params_entry(const Type& obj, const SubscriptExpr* s) {
    auto* key = s->indices.size() == 1 ? dyn_cast<StringLiteralExpr>(s->indices[0]) : nullptr;
    if (!key) {
      diags.report(DiagKind::TypeMismatch, s->range, "Params are indexed by a parameter name in a string constant")
          .help(fmt::format("for example params[\"{}\"]", obj->fields[0]));
      return unknown_type();
    }
    for (size_t i = 0; i < obj->fields.size(); ++i)
      if (obj->fields[i] == key->value) return obj->elems[i];
    std::string names;
    for (const auto& f : obj->fields) names += (names.empty() ? "" : ", ") + f;
    auto b = diags.report(DiagKind::UnknownParam, s->indices[0]->range, key->value);
    b.note("the parameters are " + names);
    std::string guess = closest_name(key->value, obj->fields);
    if (!guess.empty()) b.help(fmt::format("did you mean '{}'?", guess));
    return unknown_type();
  }

  Type subscript(const SubscriptExpr* s) {
    Type obj = expr(s->object);
    std::vector<Type> index_types;
    for (const Expr* i : s->indices) {
      if (auto* sl = dyn_cast<SliceExpr>(i)) {
        if (sl->lower) expr(sl->lower);
        if (sl->upper) expr(sl->upper);
        if (sl->step) expr(sl->step);
        index_types.push_back(nullptr);
      } else {
        index_types.push_back(expr(i));
      }
    }
    if (is_unknown(obj)) return unknown_type();
    if (obj->kind == TypeKind::Tuple) {
      if (s->indices.size() == 1 && index_types[0] && index_types[0]->kind == TypeKind::Int &&
          index_types[0]->int_value && index_types[0]->int_value->is_constant()) {
        int64_t k = index_types[0]->int_value->constant_value();
        int64_t n = static_cast<int64_t>(obj->elems.size());
        if (k < 0) k += n;
        if (k >= 0 && k < n) return obj->elems[static_cast<size_t>(k)];
        diags.report(DiagKind::AxisOutOfRange, s->indices[0]->range, index_types[0]->int_value->to_string(), n)
            .label("index out of range for this tuple");
        return unknown_type();
      }
      return unknown_type();
    }
    if (obj->kind == TypeKind::Params && !obj->fields.empty()) return params_entry(obj, s);
    if (obj->kind == TypeKind::Params || obj->kind == TypeKind::Object) return tensor_type(DType::F32, std::nullopt);
    if (!is_tensor(obj)) return unknown_type();
    if (!obj->shape) return tensor_type(obj->dtype, std::nullopt, obj->policy);
    // Tensor indexing: integers drop a dimension, slices keep (and size) it,
    // `...` stands for the dimensions not indexed, None adds a dimension.
    const auto& shape = *obj->shape;
    size_t consumed = 0;
    for (size_t k = 0; k < s->indices.size(); ++k)
      if (!isa<EllipsisLiteralExpr>(s->indices[k]) && !isa<NoneLiteralExpr>(s->indices[k])) ++consumed;
    if (consumed > shape.size()) {
      diags.report(DiagKind::AxisOutOfRange, s->range, static_cast<int64_t>(consumed) - 1,
                   static_cast<int64_t>(shape.size()))
          .label(fmt::format("{} indices for a tensor of rank {}", consumed, shape.size()));
      return unknown_type();
    }
    std::vector<DimExpr> out;
    size_t dim = 0;
    for (size_t k = 0; k < s->indices.size(); ++k) {
      const Expr* i = s->indices[k];
      if (isa<EllipsisLiteralExpr>(i)) {
        size_t skip = shape.size() - consumed;
        for (size_t q = 0; q < skip; ++q) out.push_back(shape[dim++]);
        continue;
      }
      if (isa<NoneLiteralExpr>(i)) {
        out.push_back(DimExpr::constant(1));
        continue;
      }
      if (auto* sl = dyn_cast<SliceExpr>(i)) {
        out.push_back(slice_size(sl, shape[dim]));
        ++dim;
        continue;
      }
      const Type& it = index_types[k];
      if (is_tensor(it)) {
        // Indexing with a tensor (gather): the index tensor's shape replaces the dimension.
        if (it->shape)
          for (const DimExpr& d : *it->shape) out.push_back(d);
        ++dim;
        continue;
      }
      ++dim;  // an integer index drops the dimension
    }
    for (; dim < shape.size(); ++dim) out.push_back(shape[dim]);
    return tensor_type(obj->dtype, out, obj->policy, obj->is_tile);
  }

  DimExpr slice_size(const SliceExpr* sl, const DimExpr& n) {
    if (!sl->lower && !sl->upper && !sl->step) return n;
    auto value = [&](const Expr* e) -> std::optional<DimExpr> {
      if (!e) return std::nullopt;
      Type t = expr(e);
      if (t && t->kind == TypeKind::Int && t->int_value) return t->int_value;
      return std::nullopt;
    };
    if (sl->step) {
      // A negative constant step over a known size, with constant bounds: Python's size (the
      // bounds default to the last element and to "before the first", b < 0 is n + b, clamped
      // to [-1, n - 1]), as the Graph IR lowering computes it. Other steps: a fresh size.
      auto st = value(sl->step);
      if (st && st->is_constant() && st->constant_value() < 0 && n.is_constant()) {
        int64_t size = n.constant_value(), step = st->constant_value();
        auto lo = value(sl->lower), hi = value(sl->upper);
        if ((!sl->lower || (lo && lo->is_constant())) && (!sl->upper || (hi && hi->is_constant()))) {
          auto clamp = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + size : v, -1, size - 1); };
          int64_t l = sl->lower ? clamp(lo->constant_value()) : size - 1;
          int64_t h = sl->upper ? clamp(hi->constant_value()) : -1;
          return DimExpr::constant(l > h ? (l - h - step - 1) / -step : 0);
        }
      }
      if (st && st->is_constant() && st->constant_value() > 0) {
        // A positive constant step, as the Graph IR lowering sizes it: over a known size with
        // constant bounds, Python's ceil((hi - lo) / step) after clamping the bounds to [0, n]
        // (x[::2] of 10 has 5, x[1:8:3] has 3); over a symbolic size, `lo::step` (lo >= 0) has
        // ceil((n - lo) / step) and `lo:hi:step` with constant 0 <= lo <= hi has
        // ceil((hi - lo) / step).
        int64_t step = st->constant_value();
        auto lo = sl->lower ? value(sl->lower) : std::optional<DimExpr>(DimExpr::constant(0));
        auto hi = sl->upper ? value(sl->upper) : std::nullopt;
        bool lo_const = lo && lo->is_constant(), hi_const = hi && hi->is_constant();
        if (n.is_constant() && lo_const && (!sl->upper || hi_const)) {
          int64_t size = n.constant_value();
          auto clamp = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + size : v, 0, size); };
          int64_t l = clamp(lo->constant_value()), h = sl->upper ? clamp(hi->constant_value()) : size;
          return DimExpr::constant(h > l ? (h - l + step - 1) / step : 0);
        }
        if (!n.is_constant() && lo_const && lo->constant_value() >= 0) {
          int64_t l = lo->constant_value();
          if (!sl->upper) return floordiv(n - DimExpr::constant(l) + DimExpr::constant(step - 1), DimExpr::constant(step));
          if (hi_const && hi->constant_value() >= l)
            return DimExpr::constant((hi->constant_value() - l + step - 1) / step);
        }
      }
      return c.fresh_dim("slice");
    }
    auto lo = sl->lower ? value(sl->lower) : std::optional<DimExpr>(DimExpr::constant(0));
    auto hi = sl->upper ? value(sl->upper) : std::optional<DimExpr>(n);
    if (!lo || !hi) return c.fresh_dim("slice");
    auto norm = [&](DimExpr v) {
      if (v.is_constant() && v.constant_value() < 0) return n + v;
      return v;
    };
    // A known size: bounds clamp to [0, n] and an empty range has size 0, as in Python and
    // NumPy (x[0:50] of 40 elements has 40; x[5:2] has none).
    if (n.is_constant() && lo->is_constant() && hi->is_constant()) {
      int64_t size = n.constant_value();
      auto clamp = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + size : v, 0, size); };
      return DimExpr::constant(std::max<int64_t>(0, clamp(hi->constant_value()) - clamp(lo->constant_value())));
    }
    return norm(*hi) - norm(*lo);
  }

  // ------------------------------------------------------------ calls

  std::vector<Arg> args_of(const CallExpr* call, std::vector<Arg>& kwargs) {
    std::vector<Arg> pos;
    for (const Argument& a : call->args) {
      Arg arg{a.value, expr(a.value), a.name, a.range};
      if (a.kind == ArgKind::Keyword) kwargs.push_back(arg);
      else if (a.kind == ArgKind::Positional) pos.push_back(arg);
      else diags.report(DiagKind::NotYetSupported, a.range, "'*' and '**' arguments");
    }
    return pos;
  }

  Type call(const CallExpr* call) {
    // Methods: `x.mean(...)` on a tensor.
    if (auto* attr = dyn_cast<AttributeExpr>(call->callee)) {
      Type obj = expr(attr->object);
      if (is_tensor(obj)) {
        const BuiltinOp* m = find_method(attr->name);
        std::vector<Arg> kwargs;
        std::vector<Arg> pos = args_of(call, kwargs);
        if (!m) {
          auto b = diags.report(DiagKind::UnknownMember, attr->name_range, to_string(obj), attr->name);
          std::string guess = closest_name(attr->name, method_names());
          if (!guess.empty()) b.help(fmt::format("did you mean '{}'?", guess));
          return unknown_type();
        }
        Arg self{attr->object, obj, "", attr->object->range};
        Call info{"x." + attr->name, call->range, &self, pos, kwargs};
        c.add_effect(m->effects, call->range);
        Type t = m->rule(c, info);
        static const std::set<std::string> reductions = {"mean", "sum", "var", "max", "min", "logsumexp", "std",
                                                         "argmax", "prod"};
        if (reductions.count(attr->name) && !call_has_keepdim(call)) expr_origin[call] = attr->name;
        return t;
      }
      if (obj && (obj->kind == TypeKind::Posterior || obj->kind == TypeKind::Params ||
                  obj->kind == TypeKind::Object || obj->kind == TypeKind::Distribution)) {
        std::vector<Arg> kwargs;
        std::vector<Arg> pos = args_of(call, kwargs);
        if (obj->kind == TypeKind::Object && obj->name == "optimizer" && attr->name == "step")
          return optimizer_step(call, pos);
        return object_method(obj, attr->name, call);
      }
      if (obj && obj->kind == TypeKind::Function && obj->user && attr->name == "export") {
        std::vector<Arg> kwargs;
        args_of(call, kwargs);
        return attribute(attr);  // model.export: E0900 with the way to do it today
      }
      if (obj && obj->kind != TypeKind::Module) {
        std::vector<Arg> kwargs;
        args_of(call, kwargs);
        return unknown_type();
      }
    }
    Type callee = expr(call->callee);
    std::vector<Arg> kwargs;
    std::vector<Arg> pos = args_of(call, kwargs);
    if (is_unknown(callee)) return unknown_type();
    if (callee->kind == TypeKind::Function && callee->name == "transformed") return transformed_call(callee, call, pos, kwargs);
    if (callee->kind == TypeKind::Function && callee->ref && callee->name.rfind("method:", 0) != 0) {
      // User function or builtin?
      if (callee->user)
        return user_call(*const_cast<FunctionInfo*>(static_cast<const FunctionInfo*>(callee->ref)), call, pos, kwargs);
      auto* op = static_cast<const BuiltinOp*>(callee->ref);
      if (op->name == "vjp") return vjp_call(call, pos, kwargs);
      if (op->name == "jvp") return jvp_call(call, pos, kwargs);
      Call info{op->name, call->range, nullptr, pos, kwargs};
      info.expr = call;
      c.add_effect(op->effects, call->range);
      Type t = op->rule(c, info);
      static const std::set<std::string> reductions = {"mean", "sum", "var", "max", "min", "logsumexp", "argmax"};
      if (reductions.count(op->name) && !call_has_keepdim(call)) expr_origin[call] = op->name;
      return t;
    }
    if (callee->kind == TypeKind::Class) {
      if (callee->name == "Params" || callee->name == "Posterior") return named_type(TypeKind::Object, callee->name);
      return named_type(TypeKind::Object, callee->name, callee->ref);
    }
    if (callee->kind == TypeKind::DTypeValue) {
      // `f32(x)`: a conversion.
      if (!pos.empty()) {
        if (auto t = as_tensor(pos[0].type)) return tensor_type(callee->dtype, (*t)->shape, (*t)->policy);
      }
      return scalar_tensor(callee->dtype);
    }
    return unknown_type();
  }

  // A call of `tessera.grad(f, argnums)` or `value_and_grad(f, argnums)`: f is checked as if
  // called with these arguments (the call records f as its target); f must return a float
  // scalar, and each argument it is differentiated against must be floating point (E0601).
  // The result: one gradient typed like its argument (a tuple when argnums is a tuple), after
  // the value for value_and_grad. vjp, jvp and hessian_vector_product are not typed yet.
  // `shown`: the transform's name in messages when it differs (hessian_vector_product's grad).
  Type transformed_call(const Type& transform, const CallExpr* call, const std::vector<Arg>& pos,
                        const std::vector<Arg>& kwargs, const std::string& shown = "") {
    if (transform->transform == "pullback") return pullback_call(transform, call, pos, kwargs);
    bool with_value = transform->transform == "value_and_grad";
    bool hvp = transform->transform == "hessian_vector_product";
    if ((transform->transform != "grad" && !with_value && !hvp) || !transform->ref) return unknown_type();
    if (transform->of && transform->of->transform == "hessian_vector_product") return unknown_type();
    auto& f = *const_cast<FunctionInfo*>(static_cast<const FunctionInfo*>(transform->ref));
    if (hvp) return hvp_call(transform, f, call, pos, kwargs);
    // The value: a call of f, or of the inner transform (higher order).
    Type value = transform->of ? transformed_call(transform->of, call, pos, kwargs) : user_call(f, call, pos, kwargs);
    if (is_unknown(value)) return unknown_type();
    auto vt = as_tensor(value);
    if (!vt || !(*vt)->shape || !(*vt)->shape->empty() || !is_float((*vt)->dtype)) {
      diags.report(DiagKind::TypeMismatch, call->range,
                   fmt::format("{} needs a function that returns a floating-point scalar; '{}' returns {}",
                               shown.empty() ? transform->transform : shown, transform->of ? transform->of->transform + "(" + f.name + ")" : f.name,
                               to_string(value)));
      return unknown_type();
    }
    std::vector<Type> grads;
    bool ok = true;
    for (int64_t n : transform->argnums) {
      if (n >= static_cast<int64_t>(f.params.size())) {
        diags.report(DiagKind::TypeMismatch, call->range,
                     fmt::format("argnums {} is out of range: '{}' has {}", n, f.name,
                                 plural(f.params.size(), "parameter")));
        ok = false;
        continue;
      }
      const auto& p = f.params[static_cast<size_t>(n)];
      const Arg* a = static_cast<size_t>(n) < pos.size() ? &pos[static_cast<size_t>(n)] : nullptr;
      for (const Arg& k : kwargs)
        if (k.keyword == p.name) a = &k;
      Type at = a ? a->type : p.type;
      if (is_unknown(at)) return unknown_type();
      if (at->kind == TypeKind::Params) {  // a Params of gradients (the lowering has no Params yet)
        grads.push_back(at);
        continue;
      }
      auto t = as_tensor(at);
      if (!t || !is_float((*t)->dtype) || at->kind == TypeKind::Bool || at->kind == TypeKind::Int) {
        diags.report(DiagKind::NonDifferentiableArgument, a ? a->range : call->range, p.name, f.name, to_string(at))
            .related(p.range, "parameter declared here")
            .help("differentiate with respect to a floating-point argument (set argnums)");
        ok = false;
        continue;
      }
      // A literal argument gets the parameter's type (it is not weak any more).
      grads.push_back(at->weak && !is_unknown(p.type) ? p.type : at);
    }
    if (!ok) return unknown_type();
    Type g = transform->argnums_tuple ? tuple_type(grads) : grads[0];
    if (!with_value) return g;
    return tuple_type({value, g});
  }

  // The function argument of vjp/jvp: a user function or a gradient of one (E0201 otherwise).
  bool differentiable_function(const Arg& a, const char* transform) {
    const Type& ft = a.type;
    bool transformed = ft->kind == TypeKind::Function && ft->name == "transformed" && ft->ref &&
                       (ft->transform == "grad" || ft->transform == "hessian_vector_product");
    if (ft->kind == TypeKind::Function && ft->ref && (ft->user || transformed)) return true;
    diags.report(DiagKind::TypeMismatch, a.range,
                 fmt::format("{} needs a user function (or a gradient of one) as its first argument; found {}",
                             transform, to_string(ft)));
    return false;
  }

  // `y, pullback = vjp(f, primals...)` (JAX's jax.vjp): y = f(primals...), a floating-point
  // tensor of any shape; `pullback(ct)`, ct typed like y, gives one cotangent per primal (a
  // tuple when there are several). Every primal must be floating point (E0601). The pullback
  // is a Function "transformed" with transform "pullback", ref f, elems {ct type, result type}.
  Type vjp_call(const CallExpr* call, const std::vector<Arg>& pos, const std::vector<Arg>& kwargs) {
    if (pos.empty() || is_unknown(pos[0].type)) return unknown_type();
    const Type& ft = pos[0].type;
    if (!differentiable_function(pos[0], "vjp")) return unknown_type();
    if (!kwargs.empty()) {
      diags.report(DiagKind::TypeMismatch, call->range, "vjp(f, primals...) takes positional primals only");
      return unknown_type();
    }
    auto& f = *const_cast<FunctionInfo*>(static_cast<const FunctionInfo*>(ft->ref));
    std::vector<Arg> primals(pos.begin() + 1, pos.end());
    Type value = !ft->user ? transformed_call(ft, call, primals, kwargs) : user_call(f, call, primals, kwargs);
    if (is_unknown(value)) return unknown_type();
    if (!float_result(value, ft, f, "vjp", call->range)) return unknown_type();
    std::vector<Type> cts;
    bool ok = true;
    for (size_t i = 0; i < primals.size() && i < f.params.size(); ++i) {
      const Arg& a = primals[i];
      const auto& p = f.params[i];
      if (is_unknown(a.type)) return unknown_type();
      Type primal = differentiable_primal(a, p, f, "vjp");  // its cotangent's type
      if (is_unknown(primal)) {
        ok = false;
        continue;
      }
      cts.push_back(primal);
    }
    if (!ok || cts.empty()) return unknown_type();
    auto pb = std::make_shared<TypeNode>();
    pb->kind = TypeKind::Function;
    pb->name = "transformed";
    pb->transform = "pullback";
    pb->ref = &f;
    for (size_t i = 0; i < cts.size(); ++i) pb->argnums.push_back(static_cast<int64_t>(i));
    pb->argnums_tuple = cts.size() > 1;
    pb->elems = {value, cts.size() > 1 ? tuple_type(cts) : cts[0]};
    return tuple_type({value, Type(pb)});
  }

  // A primal of vjp/jvp: a Params, or a floating-point tensor (E0601 otherwise, then unknown).
  // Gives the type its cotangent or tangent takes: a number literal takes the parameter's type.
  Type differentiable_primal(const Arg& a, const auto& p, const FunctionInfo& f, const char* transform) {
    if (a.type->kind == TypeKind::Params) return a.type;
    auto t = as_tensor(a.type);
    if (!t || !is_float((*t)->dtype) || a.type->kind == TypeKind::Bool || a.type->kind == TypeKind::Int) {
      diags.report(DiagKind::NonDifferentiableArgument, a.range, p.name, f.name, to_string(a.type))
          .related(p.range, "parameter declared here")
          .help(fmt::format("{} differentiates with respect to every primal: pass only floating-point tensors or Params",
                            transform));
      return unknown_type();
    }
    return a.type->weak && !is_unknown(p.type) ? p.type : a.type;
  }

  // The result of the function given to vjp/jvp: a floating-point tensor, or (for a user
  // function) a tuple of them, whose pullback takes a tuple of cotangents and whose tangent is a
  // tuple; E0201 otherwise.
  bool float_result(const Type& value, const Type& ft, const FunctionInfo& f, const char* transform, SourceRange where) {
    auto float_tensor = [](const Type& t) {
      auto vt = as_tensor(t);
      return vt && (*vt)->shape && is_float((*vt)->dtype) && t->kind == TypeKind::Tensor;
    };
    bool tuple_ok = value->kind == TypeKind::Tuple && !value->elems.empty() && ft->user &&
                    std::all_of(value->elems.begin(), value->elems.end(), float_tensor);
    if (float_tensor(value) || tuple_ok) return true;
    diags.report(DiagKind::TypeMismatch, where,
                 fmt::format("{} needs a function that returns a floating-point tensor or a tuple of them; '{}' returns {}",
                             transform, f.name, to_string(value)));
    return false;
  }

  // The elements of a tuple argument (`(x, y)` of jvp) as arguments; a single value is a
  // tuple of one.
  static std::vector<Arg> tuple_args(const Arg& a) {
    if (!a.type || a.type->kind != TypeKind::Tuple) return {a};
    std::vector<Arg> out;
    const auto* te = dyn_cast_or_null<TupleExpr>(a.expr);
    for (size_t i = 0; i < a.type->elems.size(); ++i) {
      bool lit = te && i < te->elements.size();
      out.push_back({lit ? te->elements[i] : a.expr, a.type->elems[i], "", lit ? te->elements[i]->range : a.range});
    }
    return out;
  }

  static bool same_tensor_type(const Type& a, const Type& b) {
    auto x = as_tensor(a), y = as_tensor(b);
    return x && y && (*x)->dtype == (*y)->dtype &&
           to_string(tensor_type((*x)->dtype, (*x)->shape)) == to_string(tensor_type((*y)->dtype, (*y)->shape));
  }

  // `y, t = jvp(f, (primals...), (tangents...))` (JAX's jax.jvp): y = f(primals...), a
  // floating-point tensor; t = J v, typed like y. Each primal must be floating point (E0601),
  // each tangent typed like its primal (E0201). f may be a user function or a transformed one
  // (`jvp(grad(f), ...)`: a Hessian-vector product, forward over reverse).
  Type jvp_call(const CallExpr* call, const std::vector<Arg>& pos, const std::vector<Arg>& kwargs) {
    if (pos.size() != 3 || !kwargs.empty()) {
      diags.report(DiagKind::WrongArgumentCount, call->range, "jvp", plural(3, "argument"), pos.size(),
                   pos.size() == 1 ? "was" : "were");
      return unknown_type();
    }
    for (const Arg& a : pos)
      if (is_unknown(a.type)) return unknown_type();
    const Type& ft = pos[0].type;
    if (!differentiable_function(pos[0], "jvp")) return unknown_type();
    auto& f = *const_cast<FunctionInfo*>(static_cast<const FunctionInfo*>(ft->ref));
    std::vector<Arg> primals = tuple_args(pos[1]), tangents = tuple_args(pos[2]);
    if (primals.size() != tangents.size()) {
      diags.report(DiagKind::TypeMismatch, pos[2].range,
                   fmt::format("jvp needs one tangent per primal: {} primals, {} tangents", primals.size(),
                               tangents.size()));
      return unknown_type();
    }
    Type value = !ft->user ? transformed_call(ft, call, primals, {}) : user_call(f, call, primals, {});
    if (is_unknown(value)) return unknown_type();
    if (!float_result(value, ft, f, "jvp", call->range)) return unknown_type();
    bool ok = true;
    for (size_t i = 0; i < primals.size() && i < f.params.size(); ++i) {
      const Arg& a = primals[i];
      const auto& p = f.params[i];
      if (a.type->kind == TypeKind::Params) {  // the tangent: a Params with the same tensors
        if (to_string(tangents[i].type) != to_string(a.type)) {
          diags.report(DiagKind::TypeMismatch, tangents[i].range,
                       fmt::format("tangent {} of jvp must be typed like its primal '{}' ({}); found {}", i, p.name,
                                   to_string(a.type), to_string(tangents[i].type)));
          ok = false;
        }
        continue;
      }
      Type want = differentiable_primal(a, p, f, "jvp");
      if (is_unknown(want)) {
        ok = false;
        continue;
      }
      auto t = as_tensor(want);
      if (!same_tensor_type(tangents[i].type, want) && !(tangents[i].type->weak && same_tensor_type(want, scalar_tensor((*t)->dtype)))) {
        diags.report(DiagKind::TypeMismatch, tangents[i].range,
                     fmt::format("tangent {} of jvp must be typed like its primal '{}' ({}); found {}", i, p.name,
                                 to_string(want), to_string(tangents[i].type)));
        ok = false;
      }
    }
    if (!ok) return unknown_type();
    return tuple_type({value, value});
  }

  // `pullback(ct)` of a vjp: ct must be typed like the function's result (E0201).
  Type pullback_call(const Type& pb, const CallExpr* call, const std::vector<Arg>& pos, const std::vector<Arg>& kwargs) {
    if (pb->elems.size() != 2) return unknown_type();
    if (pos.size() != 1 || !kwargs.empty()) {
      diags.report(DiagKind::WrongArgumentCount, call->range, "pullback", plural(1, "argument"), pos.size(),
                   pos.size() == 1 ? "was" : "were");
      return unknown_type();
    }
    if (is_unknown(pos[0].type)) return unknown_type();
    auto typed_like = [](const Type& got_t, const Type& want_t) {
      auto want = as_tensor(want_t), got = as_tensor(got_t);
      if (!want || !got) return false;
      bool same = (*got)->dtype == (*want)->dtype &&
                  to_string(tensor_type((*got)->dtype, (*got)->shape)) == to_string(tensor_type((*want)->dtype, (*want)->shape));
      // A number literal for a scalar result.
      return same || (got_t->weak && (*got)->shape && (*got)->shape->empty() && (*want)->shape && (*want)->shape->empty());
    };
    bool same;
    if (pb->elems[0]->kind == TypeKind::Tuple) {  // one cotangent per result of f
      const Type& got = pos[0].type;
      same = got->kind == TypeKind::Tuple && got->elems.size() == pb->elems[0]->elems.size();
      for (size_t i = 0; same && i < got->elems.size(); ++i) same = typed_like(got->elems[i], pb->elems[0]->elems[i]);
    } else {
      same = typed_like(pos[0].type, pb->elems[0]);
    }
    if (!same) {
      diags.report(DiagKind::TypeMismatch, pos[0].range,
                   fmt::format("the cotangent passed to a vjp pullback must be typed like the function's result ({}); "
                               "found {}",
                               to_string(pb->elems[0]), to_string(pos[0].type)));
      return unknown_type();
    }
    return pb->elems[1];
  }

  // `hessian_vector_product(f, argnums=n)(args..., v)`: H v for the Hessian of the scalar f
  // with respect to argument n, typed like that argument; v must have its type.
  Type hvp_call(const Type& transform, FunctionInfo& f, const CallExpr* call, const std::vector<Arg>& pos,
                const std::vector<Arg>& kwargs) {
    if (transform->argnums_tuple || transform->argnums.size() != 1) {
      diags.report(DiagKind::TypeMismatch, call->range,
                   "hessian_vector_product differentiates with respect to one argument: argnums must be an integer");
      return unknown_type();
    }
    if (pos.size() <= f.params.size() || !kwargs.empty()) {
      diags.report(DiagKind::TypeMismatch, call->range,
                   fmt::format("hessian_vector_product(f)(args..., v) takes the arguments of '{}' then v, all positional",
                               f.name));
      return unknown_type();
    }
    std::vector<Arg> primals(pos.begin(), pos.end() - 1);
    const Arg& v = pos.back();
    auto grad = std::make_shared<TypeNode>(*transform);
    grad->transform = "grad";
    Type g = transformed_call(grad, call, primals, kwargs, "hessian_vector_product");
    if (is_unknown(g) || is_unknown(v.type)) return unknown_type();
    auto gt = as_tensor(g), vt = as_tensor(v.type);
    if (!vt || !gt || (*vt)->dtype != (*gt)->dtype || to_string(tensor_type((*vt)->dtype, (*vt)->shape)) !=
                                                  to_string(tensor_type((*gt)->dtype, (*gt)->shape))) {
      diags.report(DiagKind::TypeMismatch, v.range,
                   fmt::format("the vector of hessian_vector_product must be typed like argument {} of '{}' ({}); "
                               "found {}",
                               transform->argnums[0], f.name, to_string(g), to_string(v.type)));
      return unknown_type();
    }
    return g;
  }

  static bool call_has_keepdim(const CallExpr* call) {
    for (const Argument& a : call->args)
      if (a.name == "keepdim") {
        if (auto* b = dyn_cast<BoolLiteralExpr>(a.value)) return b->value;
        return true;
      }
    return false;
  }

  // `opt.step(params, grads)`: Params of the same names; the result has params' layout.
  Type optimizer_step(const CallExpr* call, const std::vector<Arg>& pos) {
    if (pos.size() != 2) {
      diags.report(DiagKind::WrongArgumentCount, call->range, "step", plural(2, "argument"), pos.size(),
                   pos.size() == 1 ? "was" : "were");
      return unknown_type();
    }
    if (is_unknown(pos[0].type)) return unknown_type();
    for (const Arg& a : pos)
      if (!is_unknown(a.type) && a.type->kind != TypeKind::Params) {
        diags.report(DiagKind::TypeMismatch, a.range, fmt::format("opt.step expects Params, found {}", to_string(a.type)));
        return unknown_type();
      }
    const Type& p = pos[0].type;
    const Type& g = pos[1].type;
    if (is_unknown(g) || p->kind != TypeKind::Params) return p;
    if (!p->fields.empty() && !g->fields.empty() && p->fields != g->fields) {
      diags.report(DiagKind::TypeMismatch, pos[1].range, "the gradients do not have the parameters' names")
          .note("parameters: " + to_string(p))
          .note("gradients: " + to_string(g));
      return unknown_type();
    }
    return p;
  }

  Type object_method(const Type& obj, const std::string& method, const CallExpr* call) {
    if (obj->kind == TypeKind::Posterior) {
      if (method == "mean" || method == "sd" || method == "samples" || method == "quantile" || method == "rhat" ||
          method == "ess" || method == "predict" || method == "uncertainty")
        return tensor_type(DType::F32, std::nullopt);
      if (method == "summary") return str_type();
      diags.report(DiagKind::UnknownMember, call->callee->range, "Posterior", method)
          .note("a Posterior has mean, sd, samples, quantile, summary, rhat, ess, predict and uncertainty");
      return unknown_type();
    }
    if (obj->kind == TypeKind::Distribution) {
      if (method == "sample") return obj->elems[0];
      if (method == "log_prob") return scalar_tensor(DType::F32);
    }
    return unknown_type();
  }

  // Calls a user function: binds its dimensions from the arguments, checks
  // each argument against its parameter type and the preconditions.
  Type user_call(FunctionInfo& callee, const CallExpr* call, const std::vector<Arg>& pos,
                 const std::vector<Arg>& kwargs) {
    if (fn) fn->callees.insert(&callee);
    // Match arguments to parameters.
    std::vector<const Arg*> bound(callee.params.size(), nullptr);
    bool arity_error = false;
    if (pos.size() > callee.params.size()) {
      diags.report(DiagKind::WrongArgumentCount, call->range, callee.name, plural(callee.params.size(), "argument"),
                   pos.size(), pos.size() == 1 ? "was" : "were")
          .related(callee.def->name_range, fmt::format("'{}' defined here", callee.name));
      arity_error = true;
    }
    for (size_t i = 0; i < pos.size() && i < callee.params.size(); ++i) bound[i] = &pos[i];
    for (const Arg& k : kwargs) {
      auto it = std::find_if(callee.params.begin(), callee.params.end(),
                             [&](const FunctionInfo::Param& p) { return p.name == k.keyword; });
      if (it == callee.params.end()) {
        if (k.keyword == "params" && (callee.is_model || callee.typed.is_model)) continue;  // model(x, params=params)
        std::vector<std::string> names, unbound;
        for (size_t q = 0; q < callee.params.size(); ++q) {
          names.push_back(callee.params[q].name);
          if (!bound[q] && q >= pos.size()) unbound.push_back(callee.params[q].name);
        }
        auto b = diags.report(DiagKind::UnknownKeyword, k.range, callee.name, k.keyword);
        std::string guess = closest_name(k.keyword, names);
        if (!guess.empty()) b.help(fmt::format("did you mean '{}'?", guess));
        else if (unbound.size() == 1) b.help(fmt::format("the parameter not given yet is '{}'", unbound[0]));
        b.related(callee.def->name_range, fmt::format("'{}' defined here", callee.name));
        arity_error = true;
        continue;
      }
      size_t idx = static_cast<size_t>(it - callee.params.begin());
      if (bound[idx]) {
        diags.report(DiagKind::DuplicateArgument, k.range, k.keyword, callee.name);
        arity_error = true;
        continue;
      }
      bound[idx] = &k;
    }
    for (size_t i = 0; i < callee.params.size(); ++i) {
      if (!bound[i] && !callee.params[i].has_default) {
        diags.report(DiagKind::MissingArgument, call->range, callee.params[i].name, callee.name)
            .related(callee.params[i].range, "parameter declared here");
        arity_error = true;
      }
    }
    if (arity_error) return unknown_type();

    // Bind the callee's dimensions. Bare symbols bind first; compound
    // dimensions are then checked against the arguments.
    std::map<std::string, DimExpr> subst;
    for (size_t i = 0; i < callee.params.size(); ++i) {
      const auto& p = callee.params[i];
      if (!bound[i]) continue;
      if (p.is_const && !p.const_symbol.empty()) {
        auto v = c.dim_value(bound[i]->type);
        if (v) subst.emplace(p.const_symbol, *v);
        continue;
      }
      auto at = as_tensor(bound[i]->type);
      if (!is_tensor(p.type) || !p.type->shape || !at || !(*at)->shape) continue;
      const auto& ps = *p.type->shape;
      const auto& as = *(*at)->shape;
      if (ps.size() != as.size()) continue;
      for (size_t k = 0; k < ps.size(); ++k)
        if (auto sym = ps[k].as_symbol(); sym && !subst.count(*sym)) subst.emplace(*sym, as[k]);
    }
    for (const auto& d : callee.dims)
      if (!subst.count(d)) subst.emplace(d, c.fresh_dim(d));

    for (size_t i = 0; i < callee.params.size(); ++i) {
      const auto& p = callee.params[i];
      if (!bound[i] || p.is_const) continue;
      Type want = substitute(p.type, subst);
      std::vector<std::string> notes;
      std::string m = mismatch(bound[i]->type, want, notes);
      if (m.empty()) continue;
      if (m == "kind" || m == "dtype") {
        auto b = diags.report(DiagKind::TypeMismatch, bound[i]->range,
                              fmt::format("argument '{}' of '{}' expects {}, found {}", p.name, callee.name,
                                          to_string(want), to_string(bound[i]->type)));
        for (const auto& n : notes) b.note(n);
        if (m == "dtype") b.help("convert it with `.astype(...)`");
        b.related(p.range, "parameter declared here");
        continue;
      }
      auto b = diags.report(DiagKind::ArgumentShapeMismatch, bound[i]->range, p.name, callee.name);
      b.label(fmt::format("expected {}, found {}", to_string(want), to_string(bound[i]->type)));
      for (const auto& n : notes) b.note(n);
      b.related(p.range, "parameter declared here");
    }

    // Preconditions, with the callee's dimensions replaced by the caller's.
    for (const auto& pre : callee.preconditions) {
      DimPredicate pred{pre.pred.op, pre.pred.lhs.substitute(subst), pre.pred.rhs.substitute(subst)};
      ProofResult r = c.solver().prove(pred);
      if (r.kind == ProofResult::Kind::Proven) continue;
      std::vector<std::string> assignment;
      for (const auto& d : callee.dims)
        if ((pre.pred.lhs.symbols().count(d) || pre.pred.rhs.symbols().count(d)) && subst.at(d).to_string() != d)
          assignment.push_back(fmt::format("{} = {}", d, subst.at(d).to_string()));
      std::string bindings;
      for (size_t k = 0; k < assignment.size(); ++k) bindings += (k ? ", " : "") + assignment[k];
      bool closed = pred.lhs.symbols().empty() && pred.rhs.symbols().empty();
      if (closed) {
        auto b = diags.report(DiagKind::PreconditionFalse, call->range, callee.name);
        b.label(fmt::format("here {}", bindings));
        b.note(fmt::format("'{}' requires {}, which is false for {}", callee.name, pre.text, bindings));
        b.related(pre.range, "precondition declared here");
      } else {
        auto b = diags.report(DiagKind::PreconditionUnprovable, call->range, callee.name);
        if (!bindings.empty()) b.label(fmt::format("here {}", bindings));
        b.note(fmt::format("'{}' requires {}, that is {}{}", callee.name, pre.text, pred.to_string(),
                           c.describe_counterexample(r)));
        b.help(fmt::format("add `assert {}` at the top of the calling function", pred.to_string()));
        b.related(pre.range, "precondition declared here");
      }
    }
    if (fn) fn->typed.calls[call] = CallTarget{&callee.typed, subst};
    if (callee.typed.is_model) model_call(callee, call, kwargs, subst);
    // Without an annotation, a callee checked earlier (defined above the caller) gives the type
    // its returns inferred: `def two(x): return x * 2.0, x.sum()` then `a, b = two(x)`.
    if (!callee.ret) {
      const Type& inferred = callee.typed.inferred_return;
      if (!inferred || is_unknown(inferred) || !callee.checked) return unknown_type();
      return substitute(inferred, subst);
    }
    return substitute(callee.ret, subst);
  }

  // A call of a model: with `params=`, the bundle must have the model's parameter names; without,
  // the caller becomes a model that declares the callee's parameters as `<callee>_<n>.<name>`.
  void model_call(const FunctionInfo& callee, const CallExpr* call, const std::vector<Arg>& kwargs,
                  const std::map<std::string, DimExpr>& subst) {
    const Arg* given = nullptr;
    for (const Arg& k : kwargs)
      if (k.keyword == "params") given = &k;
    const auto& want = callee.typed.model_params;
    if (given) {
      const Type& pt = given->type;
      if (is_unknown(pt)) return;
      if (pt->kind != TypeKind::Params) {
        diags.report(DiagKind::TypeMismatch, given->range,
                     fmt::format("params= of model '{}' expects Params, found {}", callee.name, to_string(pt)));
        return;
      }
      if (pt->fields.empty()) return;  // an annotated `ts.Params`: checked when it is lowered
      std::vector<std::string> missing, extra;
      for (const auto& p : want)
        if (std::find(pt->fields.begin(), pt->fields.end(), p.name) == pt->fields.end()) missing.push_back(p.name);
      for (const auto& f : pt->fields)
        if (std::none_of(want.begin(), want.end(), [&](const ModelParam& p) { return p.name == f; })) extra.push_back(f);
      if (missing.empty() && extra.empty()) return;
      auto join = [](const std::vector<std::string>& v) {
        std::string out;
        for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
        return out;
      };
      auto b = diags.report(DiagKind::TypeMismatch, given->range,
                            fmt::format("these Params do not fit model '{}'", callee.name));
      if (!missing.empty()) b.note("missing: " + join(missing));
      if (!extra.empty()) b.note("not parameters of '" + callee.name + "': " + join(extra));
      b.help(fmt::format("create them with ts.init({}, ...)", callee.name));
      return;
    }
    if (!fn) return;
    TypedFunction& t = fn->typed;
    std::string prefix = fmt::format("{}_{}", callee.name, fn->layer_counts[callee.name]++);
    t.is_model = true;
    t.layer_params[call] = t.model_params.size();
    for (const ModelParam& p : want) {
      ModelParam q = p;
      q.name = prefix + "." + p.name;
      for (DimExpr& d : q.shape) d = d.substitute(subst);
      q.fan_in = p.fan_in.substitute(subst);
      t.model_params.push_back(std::move(q));
    }
  }

  static std::string plural(size_t n, const char* word) {
    return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
  }

  Type substitute(const Type& t, const std::map<std::string, DimExpr>& subst) {
    if (!t) return t;
    if (t->kind == TypeKind::Tensor && t->shape) {
      std::vector<DimExpr> shape;
      for (const DimExpr& d : *t->shape) shape.push_back(d.substitute(subst));
      return tensor_type(t->dtype, shape, t->policy, t->is_tile);
    }
    if (t->kind == TypeKind::Int && t->int_value) return int_type(t->int_value->substitute(subst));
    if (t->kind == TypeKind::Distribution) return distribution_type(substitute(t->elems[0], subst));
    if (t->kind == TypeKind::Optional) return optional_type(substitute(t->elems[0], subst));
    if (t->kind == TypeKind::Tuple) {
      std::vector<Type> elems;
      for (const Type& e : t->elems) elems.push_back(substitute(e, subst));
      return tuple_type(elems);
    }
    return t;
  }

  // ------------------------------------------------------------ effects

  void finish_effects() {
    // Propagate effects through calls to a fixed point.
    bool changed = true;
    while (changed) {
      changed = false;
      for (FunctionInfo* f : c.function_order_) {
        unsigned before = f->effects;
        for (FunctionInfo* callee : f->callees) f->effects |= callee->effects;
        if (f->effects != before) changed = true;
      }
    }
    for (FunctionInfo* f : c.function_order_) {
      f->typed.effects = effect_names(f->effects);
      unsigned allowed = ~0u;
      std::string what;
      if (f->effect_bound) {
        allowed = *f->effect_bound;
        what = "its @effects(...) bound";
      } else if (f->kind == FunctionInfo::Kind::Pure) {
        allowed = ~static_cast<unsigned>(kRandom);
        what = "a pure @function";
      }
      unsigned extra = f->effects & ~allowed;
      if (!extra) continue;
      for (const std::string& e : effect_names(extra)) {
        unsigned bit = e == "random" ? kRandom : e == "state" ? kState : e == "io" ? kIO : e == "collective" ? kCollective : kMovement;
        SourceRange where = f->def->name_range;
        for (const auto& [r, bits] : f->effect_sites)
          if (bits & bit) {
            where = r;
            break;
          }
        if (where.begin.offset == f->def->name_range.begin.offset) {
          // The effect comes from a callee: point at the first such call.
          for (FunctionInfo* callee : f->callees)
            if (callee->effects & bit) {
              where = f->def->name_range;
              break;
            }
        }
        auto b = diags.report(DiagKind::EffectNotAllowed, where, f->name, e, what);
        if (e == "random" && !f->effect_bound)
          b.help(fmt::format("mark '{}' @tessera.probabilistic, or declare @tessera.effects(random)", f->name));
        else if (f->effect_bound)
          b.related(f->effect_bound_range, "effects declared here");
      }
    }
  }
};

// ================================================================= Checker

Checker::Checker(const SourceManager& sources, DiagnosticEngine& diags, const SemaOptions& options, Program* program)
    : sources_(sources),
      diags_(diags),
      options_(options),
      solver_(std::make_unique<DimSolver>(options.solver_timeout_ms)),
      program_(program) {}

ProofResult Checker::prove_equal(const DimExpr& a, const DimExpr& b) { return solver_->prove_equal(a, b); }

void Checker::declare_layer_params(const Call& call, const std::string& layer, std::vector<ModelParam> fields) {
  if (!current_ || !call.expr) return;
  std::string prefix;
  if (const Arg* n = call.kw("name")) {
    auto* lit = n->expr ? ast::dyn_cast<ast::StringLiteralExpr>(n->expr) : nullptr;
    if (!lit) {
      diags_.report(DiagKind::TypeMismatch, n->range, "name= of a layer must be a string literal");
      return;
    }
    prefix = lit->value;
  } else {
    prefix = fmt::format("{}_{}", layer, current_->layer_counts[layer]++);
  }
  TypedFunction& t = current_->typed;
  t.is_model = true;
  for (const ModelParam& p : t.model_params)
    if (p.name.rfind(prefix + ".", 0) == 0) {
      diags_.report(DiagKind::TypeMismatch, call.range,
                    fmt::format("the parameters '{}.*' are declared twice in '{}'", prefix, current_->name));
      return;
    }
  t.layer_params[call.expr] = t.model_params.size();
  for (ModelParam& p : fields) {
    p.name = prefix + "." + p.name;
    t.model_params.push_back(std::move(p));
  }
}

void Checker::record_init(const Call& call, const FunctionInfo& model) {
  if (current_ && call.expr) current_->typed.init_models[call.expr] = &model.typed;
}

const FunctionInfo* Checker::user_function(const Type& t) {
  if (!t || t->kind != TypeKind::Function || !t->user || !t->ref) return nullptr;
  return static_cast<const FunctionInfo*>(t->ref);
}

DimExpr Checker::fresh_dim(const std::string& hint) {
  return DimExpr::symbol(fmt::format("{}'{}", hint.empty() ? "d" : hint, ++fresh_counter_));
}

void Checker::add_effect(unsigned effects, SourceRange where) {
  if (!effects || !current_) return;
  current_->effects |= effects;
  current_->effect_sites.push_back({where, effects});
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
  for (FunctionInfo* f : function_order_)
    if (!f->is_model) impl.check_function(*f);
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
