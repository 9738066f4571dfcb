// Calls: built-in operations (shape rules in ops.cpp), tensor and object methods,
// user functions with generic instantiation and preconditions.
#include "sema/checker_impl.h"

namespace tessera::sema {

std::vector<Arg> CheckerImpl::args_of(const CallExpr* call, std::vector<Arg>& kwargs) {
  std::vector<Arg> pos;
  for (const Argument& a : call->args) {
    Arg arg{a.value, expr(a.value), a.name, a.range};
    if (a.kind == ArgKind::Keyword) kwargs.push_back(arg);
    else if (a.kind == ArgKind::Positional) pos.push_back(arg);
    else diags.report(DiagKind::NotYetSupported, a.range, "'*' and '**' arguments");
  }
  return pos;
}

Type CheckerImpl::call(const CallExpr* call) {
  // Methods: `x.mean(...)` on a tensor.
  if (auto* attr = dyn_cast<AttributeExpr>(call->callee)) {
    Type obj = value_use(attr->object, expr(attr->object));
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
      if (!bind_call(diags, *m, info)) return unknown_type();
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
      if (obj->kind == TypeKind::Object && obj->name == "optimizer" && attr->name == "step") {
        c.add_effect(kState, call->range);  // the optimizer's moments and step count change
        return optimizer_step(call, pos);
      }
      if (obj->kind == TypeKind::Distribution && attr->name == "log_prob") return log_prob_type(obj, call, pos);
      if (obj->kind == TypeKind::Posterior && (attr->name == "predict" || attr->name == "uncertainty"))
        return posterior_predict(obj, attr->name, call, pos, kwargs);
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
    // An Optional passed to a built-in operation must be checked first (print takes anything).
    if (op->name != "print")
      for (std::vector<Arg>* list : {&pos, &kwargs})
        for (Arg& a : *list) a.type = value_use(a.expr, a.type);
    // print(post): a Posterior is a handle (its number would print); its table is post.summary().
    if (op->name == "print")
      for (const Arg& a : pos)
        if (a.type && a.type->kind == TypeKind::Posterior)
          diags.report(DiagKind::TypeMismatch, a.range, "print takes tensors, numbers, strings and shapes, found a Posterior")
              .help("print its table with print(post.summary()), or a statistic with print(post.mean(\"name\"))");
    if (op->name == "vjp") return vjp_call(call, pos, kwargs);
    if (op->name == "jvp") return jvp_call(call, pos, kwargs);
    // factor(lp): adds to the log density of the probabilistic function it is in.
    if (op->name == "factor" && (!fn || fn->kind != FunctionInfo::Kind::Probabilistic))
      diags.report(DiagKind::SampleOutsideModel, call->range)
          .label("factor(...) adds to a probabilistic function's log density")
          .help(fn ? fmt::format("mark '{}' with @tessera.probabilistic (or @tessera.mcmc / @tessera.variational)",
                                 fn->name)
                   : std::string("call it inside a function marked @tessera.mcmc or @tessera.variational"));
    Call info{op->name, call->range, nullptr, pos, kwargs};
    info.expr = call;
    if (!bind_call(diags, *op, info)) return unknown_type();
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

bool CheckerImpl::call_has_keepdim(const CallExpr* call) {
  for (const Argument& a : call->args)
    if (a.name == "keepdim") {
      if (auto* b = dyn_cast<BoolLiteralExpr>(a.value)) return b->value;
      return true;
    }
  return false;
}

// D.log_prob(x): the elementwise log density, of the broadcast shape of x and D's batch shape;
// f64 when x or D's parameters are, else f32.
Type CheckerImpl::log_prob_type(const Type& dist, const CallExpr* call, const std::vector<Arg>& pos) {
  if (pos.size() != 1 || call->args.size() != 1) {
    diags.report(DiagKind::WrongArgumentCount, call->range, "log_prob", "1 argument (the value)", call->args.size(),
                 call->args.size() == 1 ? "was" : "were");
    return unknown_type();
  }
  Type x = pos[0].type;
  Type sample = dist->elems.empty() ? unknown_type() : dist->elems[0];
  if (is_unknown(x) || is_unknown(sample)) return tensor_type(DType::F32, std::nullopt);
  if (!is_tensor(x) && !is_numeric_scalar(x)) {
    diags.report(DiagKind::TypeMismatch, pos[0].range,
                 fmt::format("log_prob takes a tensor or a number, found {}", to_string(x)));
    return unknown_type();
  }
  Type shape = c.elementwise("log_prob", call->range, {x, sample});
  auto st = as_tensor(shape);
  if (!st) return unknown_type();
  auto xt = as_tensor(x);
  DType d = (xt && (*xt)->dtype == DType::F64 && !(*xt)->weak) || dist->dtype == DType::F64 ? DType::F64 : DType::F32;
  // Dirichlet and MultivariateNormal: one density per vector of the last axis.
  if ((dist->name == "Dirichlet" || dist->name == "MultivariateNormal") && (*st)->shape) {
    std::vector<DimExpr> shape = *(*st)->shape;
    if (!shape.empty()) shape.pop_back();
    return tensor_type(d, shape);
  }
  // LKJCholesky: one density per [dim, dim] factor on the last two axes.
  if (dist->name == "LKJCholesky" && (*st)->shape) {
    std::vector<DimExpr> shape = *(*st)->shape;
    shape.resize(shape.size() >= 2 ? shape.size() - 2 : 0);
    return tensor_type(d, shape);
  }
  return tensor_type(d, (*st)->shape);
}

Type CheckerImpl::object_method(const Type& obj, const std::string& method, const CallExpr* call) {
  if (obj->kind == TypeKind::Posterior) {
    if (method == "mean" || method == "sd" || method == "samples" || method == "quantile" || method == "rhat" ||
        method == "ess") {
      if (obj->fields.empty()) return tensor_type(DType::F32, std::nullopt);
      // post.mean("w"): a statistic per element of the field `w`, of its shape.
      const ast::Expr* name = nullptr;
      for (const ast::Argument& a : call->args)
        if (a.kind == ast::ArgKind::Positional || (a.kind == ast::ArgKind::Keyword && a.name == "name")) {
          name = a.value;
          break;
        }
      auto* literal = name ? dyn_cast<ast::StringLiteralExpr>(name) : nullptr;
      if (!literal) {
        diags.report(DiagKind::TypeMismatch, name ? name->range : call->range,
                     fmt::format("Posterior.{} takes the name of a field as a string literal", method));
        return unknown_type();
      }
      auto it = std::find(obj->fields.begin(), obj->fields.end(), literal->value);
      if (it == obj->fields.end()) {
        std::string known;
        for (const std::string& f : obj->fields) known += (known.empty() ? "" : ", ") + f;
        auto b = diags.report(DiagKind::UnknownMember, literal->range, "Posterior", literal->value);
        b.note(fmt::format("this Posterior's fields are {}", known));
        std::string guess = closest_name(literal->value, obj->fields);
        if (!guess.empty()) b.help(fmt::format("did you mean '{}'?", guess));
        return unknown_type();
      }
      if (method == "quantile") {
        // q is a probability: a constant outside [0, 1] is an error here, not at run time.
        const ast::Expr* q = nullptr;
        int positional = 0;
        for (const ast::Argument& a : call->args) {
          if (a.kind == ast::ArgKind::Positional && positional++ == 1) q = a.value;
          if (a.kind == ast::ArgKind::Keyword && a.name == "q") q = a.value;
        }
        std::optional<double> v;
        if (auto* f = q ? dyn_cast<ast::FloatLiteralExpr>(q) : nullptr) v = f->value;
        if (auto* i = q ? dyn_cast<ast::IntLiteralExpr>(q) : nullptr) v = static_cast<double>(i->value);
        bool negative = false;
        if (auto* u = q ? dyn_cast<ast::UnaryExpr>(q) : nullptr; u && u->op == ast::UnaryOp::Neg) {
          negative = true;
          if (auto* f = dyn_cast<ast::FloatLiteralExpr>(u->operand)) v = -f->value;
          if (auto* i = dyn_cast<ast::IntLiteralExpr>(u->operand)) v = -static_cast<double>(i->value);
        }
        if (v && !(*v >= 0.0 && *v <= 1.0 && !(negative && *v != 0.0)))
          diags.report(DiagKind::TypeMismatch, q->range,
                       fmt::format("Posterior.quantile takes q in [0, 1], found {:g}", *v));
      }
      Type field = obj->elems[static_cast<size_t>(it - obj->fields.begin())];
      auto ft = as_tensor(field);
      if (!ft || !(*ft)->shape) return tensor_type(DType::F32, std::nullopt);
      DType dtype = (*ft)->dtype == DType::F64 ? DType::F64 : DType::F32;
      std::vector<DimExpr> shape = *(*ft)->shape;
      // samples: one row per draw (all chains, one after the other); the count is known at run time.
      if (method == "samples") shape.insert(shape.begin(), obj->int_value ? *obj->int_value : c.fresh_dim("draws"));
      return tensor_type(dtype, shape);
    }
    if (method == "summary") return str_type();
    if (method == "trace_plot") {
      // post.trace_plot("t.svg", "mu", ...): the names must be fields.
      bool first = true;
      for (const ast::Argument& a : call->args) {
        if (a.kind != ast::ArgKind::Positional) continue;
        if (first) {
          first = false;
          continue;
        }
        auto* literal = dyn_cast<ast::StringLiteralExpr>(a.value);
        if (!literal || obj->fields.empty()) continue;
        if (std::find(obj->fields.begin(), obj->fields.end(), literal->value) != obj->fields.end()) continue;
        auto b = diags.report(DiagKind::UnknownMember, literal->range, "Posterior", literal->value);
        b.note(fmt::format("this Posterior's fields are {}", fmt::join(obj->fields, ", ")));
        std::string guess = closest_name(literal->value, obj->fields);
        if (!guess.empty()) b.help(fmt::format("did you mean '{}'?", guess));
      }
      return none_type();
    }
    if (method == "save") return none_type();
    diags.report(DiagKind::UnknownMember, call->callee->range, "Posterior", method)
        .note("a Posterior has mean, sd, samples, quantile, summary, rhat, ess, save, trace_plot, predict and uncertainty");
    return unknown_type();
  }
  if (obj->kind == TypeKind::Distribution) {
    if (method == "sample") {
      // D.sample(seed=s): one draw of D's sample shape (shape=[...] sets it), seeded.
      for (const ast::Argument& a : call->args) {
        if (a.kind == ast::ArgKind::Keyword && a.name == "seed") continue;
        auto b = a.kind == ast::ArgKind::Keyword ? diags.report(DiagKind::UnknownKeyword, a.range, "sample", a.name)
                                                  : diags.report(DiagKind::WrongArgumentCount, a.range, "sample",
                                                                 "only seed=", "a positional argument", "was");
        b.note("give the sample shape to the distribution: Normal(0, 1, shape=[N]).sample(seed=0)");
      }
      c.add_effect(kRandom, call->range);
      return obj->elems[0];
    }
  }
  return unknown_type();
}

// Calls a user function: binds its dimensions from the arguments, checks
// each argument against its parameter type and the preconditions.
Type CheckerImpl::user_call(FunctionInfo& callee, const CallExpr* call, const std::vector<Arg>& pos,
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
      // fit(y, seed=r): a run-time seed for an @mcmc / @variational function's engine.
      if (k.keyword == "seed" && std::any_of(callee.typed.decorators.begin(), callee.typed.decorators.end(),
                                             [](const std::string& d) { return d == "mcmc" || d == "variational"; })) {
        if (!is_unknown(k.type) && k.type->kind != TypeKind::Int)
          diags.report(DiagKind::TypeMismatch, k.range,
                       fmt::format("seed= of '{}' takes an Int, found {}", callee.name, to_string(k.type)));
        continue;
      }
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
  // A Const[H] parameter takes a compile-time Int (a literal, a dimension, an Int value).
  for (size_t i = 0; i < callee.params.size(); ++i) {
    const auto& p = callee.params[i];
    if (!bound[i] || !p.is_const || is_unknown(bound[i]->type) || bound[i]->type->kind == TypeKind::Int) continue;
    diags
        .report(DiagKind::TypeMismatch, bound[i]->range,
                fmt::format("argument '{}' of '{}' is a Const parameter: it takes a compile-time Int, found {}",
                            p.name, callee.name, to_string(bound[i]->type)))
        .related(p.range, "parameter declared here");
    arity_error = true;
  }
  if (arity_error) return unknown_type();
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
  // `-> Posterior` names no fields: the Posterior(...) the body returns does.
  if (callee.ret && callee.ret->kind == TypeKind::Posterior && callee.ret->fields.empty() && callee.checked) {
    const Type& inferred = callee.typed.inferred_return;
    if (inferred && inferred->kind == TypeKind::Posterior && !inferred->fields.empty())
      return with_draws(substitute(inferred, subst), callee);
  }
  if (!callee.ret) {
    const Type& inferred = callee.typed.inferred_return;
    if (!inferred || is_unknown(inferred) || !callee.checked) return unknown_type();
    return substitute(inferred, subst);
  }
  return substitute(callee.ret, subst);
}

// A Posterior of an @mcmc / @variational function knows its number of draws from the
// decorators' settings: chains x num_samples (defaults 4 x 1000), or output_samples (1000).
Type CheckerImpl::with_draws(const Type& posterior, const FunctionInfo& callee) {
  int64_t chains = 4, samples = 1000, output = 1000;
  bool mcmc = false, variational = false;
  for (const Decorator& d : callee.def->decorators) {
    const auto* call = dyn_cast<CallExpr>(d.expr);
    auto name = dotted(call ? call->callee : d.expr);
    std::string n = name ? *name : "";
    if (n.size() >= 4 && n.compare(n.size() - 4, 4, "mcmc") == 0) mcmc = true;
    if (n.size() >= 11 && n.compare(n.size() - 11, 11, "variational") == 0) variational = true;
    if (!call) continue;
    for (const Argument& a : call->args) {
      auto* v = dyn_cast<IntLiteralExpr>(a.value);
      if (!v) continue;
      if (a.name == "chains") chains = static_cast<int64_t>(v->value);
      if (a.name == "num_samples") samples = static_cast<int64_t>(v->value);
      if (a.name == "output_samples") output = static_cast<int64_t>(v->value);
    }
  }
  if (!mcmc && !variational) return posterior;
  TypeNode n = *posterior;
  n.int_value = DimExpr::constant(mcmc ? chains * samples : output);
  n.ref = &callee;  // the model, for predict() and uncertainty()
  return std::make_shared<const TypeNode>(std::move(n));
}

std::string CheckerImpl::plural(size_t n, const char* word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

Type CheckerImpl::substitute(const Type& t, const std::map<std::string, DimExpr>& subst) {
  if (!t) return t;
  if (t->kind == TypeKind::Tensor && t->shape) {
    std::vector<DimExpr> shape;
    for (const DimExpr& d : *t->shape) shape.push_back(d.substitute(subst));
    return tensor_type(t->dtype, shape, t->policy, t->is_tile);
  }
  if (t->kind == TypeKind::Int && t->int_value) return int_type(t->int_value->substitute(subst));
  if (t->kind == TypeKind::Distribution) return distribution_type(substitute(t->elems[0], subst));
  if (t->kind == TypeKind::Posterior && !t->fields.empty()) {
    std::vector<Type> elems;
    for (const Type& e : t->elems) elems.push_back(substitute(e, subst));
    TypeNode n = *posterior_type(t->fields, elems);
    n.int_value = t->int_value;  // the number of draws
    return std::make_shared<const TypeNode>(std::move(n));
  }
  if (t->kind == TypeKind::Optional) return optional_type(substitute(t->elems[0], subst));
  if (t->kind == TypeKind::Tuple) {
    std::vector<Type> elems;
    for (const Type& e : t->elems) elems.push_back(substitute(e, subst));
    return tuple_type(elems);
  }
  return t;
}

}  // namespace tessera::sema
