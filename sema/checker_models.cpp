// Models: `~` sampling statements, tessera.nn layers declaring parameters, model
// calls, ts.init and optimizer steps.
#include "sema/checker_impl.h"

namespace tessera::sema {

bool CheckerImpl::body_declares_parameters(const Body& body) {
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

void CheckerImpl::sample(const SampleStmt* s) {
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

  // A conditional distribution (a @probabilistic function that returns one): its latent
  // variables are drawn here, as `<callee>_<n>.<name>`, before the value of this statement.
  auto* name = dyn_cast<NameExpr>(s->target);
  Type bound = name ? lookup_local(name->name) : expr(s->target);
  auto* cond_call = dyn_cast<CallExpr>(s->distribution);
  auto target = fn && cond_call ? fn->typed.calls.find(cond_call) : decltype(fn->typed.calls.end()){};
  if (fn && cond_call && target != fn->typed.calls.end()) {
    const TypedFunction& callee = *target->second.callee;
    bool probabilistic = std::find(callee.decorators.begin(), callee.decorators.end(), "probabilistic") !=
                         callee.decorators.end();
    // Dimensions that only the conditional's result has (`Out` of `-> Distribution[Tensor[B,
    // Out]]`, in no argument) take the observed value's sizes.
    auto obs = bound ? as_tensor(bound) : std::nullopt;
    if (probabilistic && obs && (*obs)->shape && is_tensor(sample_type) && sample_type->shape &&
        sample_type->shape->size() == (*obs)->shape->size() && callee.declared_return) {
      bool changed = false;
      for (size_t i = 0; i < sample_type->shape->size(); ++i) {
        auto sym = (*sample_type->shape)[i].as_symbol();
        if (!sym || sym->find('\'') == std::string::npos) continue;
        for (auto& [d, e] : target->second.dims)
          if (e.as_symbol() == sym) {
            e = (*(*obs)->shape)[i];
            changed = true;
          }
      }
      if (changed) {
        dist = substitute(callee.declared_return, target->second.dims);
        fn->typed.expr_types[s->distribution] = dist;
        if (dist && dist->kind == TypeKind::Distribution) sample_type = dist->elems[0];
      }
    }
    if (probabilistic && dist && dist->kind == TypeKind::Distribution) {
      if (!callee.body_checked) {
        diags.report(DiagKind::TypeMismatch, s->distribution->range,
                     fmt::format("the conditional distribution '{}' is used before its definition", callee.name))
            .help(fmt::format("define '{}' above '{}' (a conditional distribution used by another one comes first)",
                              callee.name, fn->name));
      } else {
        std::string prefix = fmt::format("{}_{}", callee.name, fn->layer_counts[callee.name]++);
        for (const auto& [n, t] : callee.latent_names)
          fn->typed.latent_names.emplace_back(prefix + "." + n, substitute(t, target->second.dims));
      }
    }
  }
  if (name && !bound) {
    bind(name->name, sample_type, name->range);  // a latent variable
    if (fn) {
      fn->typed.latents.emplace_back(s, sample_type);
      fn->typed.latent_names.emplace_back(name->name, sample_type);
    }
    return;
  }
  // An observed argument (`y ~ ...`, or element by element `y[i] ~ ...`): what
  // Posterior.predict predicts.
  const NameExpr* observed = name;
  if (auto* sub = dyn_cast<SubscriptExpr>(s->target)) observed = dyn_cast<NameExpr>(sub->object);
  if (fn && observed &&
      std::any_of(fn->params.begin(), fn->params.end(), [&](const auto& p) { return p.name == observed->name; }) &&
      std::find(fn->typed.observed_params.begin(), fn->typed.observed_params.end(), observed->name) ==
          fn->typed.observed_params.end())
    fn->typed.observed_params.push_back(observed->name);
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
    bool multivariate = dist && (dist->name == "Dirichlet" || dist->name == "MultivariateNormal");
    if (multivariate) {
      std::vector<DimExpr> batch(want.begin(), want.end() - 1);
      b.note(fmt::format("the {}'s shape is [{}]: batch shape [{}] of vectors of {} on the last axis", dist->name,
                         shape_to_string(want), shape_to_string(batch), want.back().to_string()));
    } else {
      b.note(fmt::format("the distribution's batch shape is [{}]", shape_to_string(want)));
    }
    if (!why.empty()) b.note(why);
    b.note("an observation is never broadcast: that would multiply the likelihood by the broadcast factor");
    if (multivariate && got.size() > want.size())
      b.help(fmt::format("for independent vectors, give the parameters the batch dimensions of the value (e.g. a loc "
                         "of shape [{}])",
                         shape_to_string(got)));
  }
}

// `opt.step(params, grads)`: Params of the same names; the result has params' layout.
Type CheckerImpl::optimizer_step(const CallExpr* call, const std::vector<Arg>& pos) {
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

// A call of a model: with `params=`, the bundle must have the model's parameter names; without,
// the caller becomes a model that declares the callee's parameters as `<callee>_<n>.<name>`.
void CheckerImpl::model_call(const FunctionInfo& callee, const CallExpr* call, const std::vector<Arg>& kwargs,
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

}  // namespace tessera::sema

namespace tessera::sema {

// post.predict(X_new, ...) / post.uncertainty(X_new, ...): the model's arguments other than the
// one it observes, new values of the same ranks; the result has the observed argument's shape
// with the dimensions these values give (docs/inference.md, "Predictions").
Type CheckerImpl::posterior_predict(const Type& obj, const std::string& method, const CallExpr* call,
                                    const std::vector<Arg>& pos, const std::vector<Arg>& kwargs) {
  const auto* model = static_cast<const FunctionInfo*>(obj->ref);
  if (!model) return tensor_type(DType::F32, std::nullopt);  // checked where it is lowered
  const std::vector<std::string>& observed = model->typed.observed_params;
  if (observed.size() != 1) {
    auto b = diags.report(DiagKind::TypeMismatch, call->callee->range,
                          fmt::format("Posterior.{} needs a model that observes exactly one of its arguments by name; "
                                      "'{}' observes {}",
                                      method, model->name,
                                      observed.empty() ? std::string("none") : fmt::format("{}", fmt::join(observed, ", "))));
    b.note(fmt::format("{}() evaluates the observed argument's distribution at new values of the other arguments",
                       method));
    return unknown_type();
  }
  std::vector<const FunctionInfo::Param*> inputs;
  const FunctionInfo::Param* response = nullptr;
  for (const auto& p : model->params) {
    if (p.name == observed[0]) response = &p;
    else inputs.push_back(&p);
  }
  // The new values: positional, then by the model's parameter names.
  std::vector<Arg> given(pos.begin(), pos.end());
  given.resize(std::max(given.size(), inputs.size()));
  for (const Arg& k : kwargs) {
    auto at = std::find_if(inputs.begin(), inputs.end(), [&](const auto* p) { return p->name == k.keyword; });
    if (at == inputs.end()) {
      diags.report(DiagKind::UnknownKeyword, k.range, "Posterior." + method, k.keyword);
      return unknown_type();
    }
    size_t i = static_cast<size_t>(at - inputs.begin());
    if (given[i].type) {
      diags.report(DiagKind::DuplicateArgument, k.range, k.keyword, "Posterior." + method);
      return unknown_type();
    }
    given[i] = k;
  }
  size_t count = 0;
  for (const Arg& a : given) count += a.type ? 1 : 0;
  if (pos.size() > inputs.size() || count != inputs.size()) {
    std::vector<std::string> names;
    for (const auto* p : inputs) names.push_back(p->name);
    diags.report(DiagKind::WrongArgumentCount, call->range, "Posterior." + method, plural(inputs.size(), "argument"),
                 pos.size() + kwargs.size(), pos.size() + kwargs.size() == 1 ? "was" : "were")
        .note(fmt::format("new values of '{}''s arguments other than the observed '{}': {}", model->name, observed[0],
                          names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "))));
    return unknown_type();
  }
  // The model's dimensions from the new values' shapes.
  std::map<std::string, DimExpr> subst;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto want = as_tensor(inputs[i]->type);
    if (!want || !(*want)->shape) continue;
    if (is_unknown(given[i].type)) return unknown_type();
    auto got = as_tensor(given[i].type);
    if (!got || !(*got)->shape || (*got)->shape->size() != (*want)->shape->size()) {
      diags.report(DiagKind::TypeMismatch, given[i].range,
                   fmt::format("Posterior.{}: '{}' of '{}' is {}, found {}", method, inputs[i]->name, model->name,
                               to_string(inputs[i]->type), to_string(given[i].type)));
      return unknown_type();
    }
    for (size_t d = 0; d < (*want)->shape->size(); ++d) {
      const DimExpr& w = (*(*want)->shape)[d];
      const DimExpr& g = (*(*got)->shape)[d];
      auto sym = w.as_symbol();
      if (sym && std::find(model->dims.begin(), model->dims.end(), *sym) != model->dims.end() && !subst.count(*sym)) {
        subst.emplace(*sym, g);
        continue;
      }
      ProofResult r = c.prove_equal(g, w.substitute(subst));
      if (r.kind != ProofResult::Kind::Proven) {
        diags.report(DiagKind::TypeMismatch, given[i].range,
                     fmt::format("Posterior.{}: dimension {} of '{}' is {}, which is not provably {}{}", method, d,
                                 inputs[i]->name, g.to_string(), w.substitute(subst).to_string(),
                                 c.describe_counterexample(r)));
        return unknown_type();
      }
    }
  }
  auto rt = response ? as_tensor(response->type) : std::nullopt;
  if (!rt || !(*rt)->shape) return tensor_type(DType::F32, std::nullopt);
  std::vector<DimExpr> shape;
  for (const DimExpr& d : *(*rt)->shape) {
    for (const std::string& s : d.symbols())
      if (!subst.count(s)) {
        diags.report(DiagKind::TypeMismatch, call->range,
                     fmt::format("Posterior.{}: the new arguments do not give the size '{}' of the observed '{}' ({})",
                                 method, s, observed[0], to_string(response->type)));
        return unknown_type();
      }
    shape.push_back(d.substitute(subst));
  }
  if (fn) fn->typed.predictions[call] = CallTarget{&model->typed, subst};
  return tensor_type((*rt)->dtype == DType::F64 ? DType::F64 : DType::F32, shape);
}

}  // namespace tessera::sema
