// Differentiation transforms: grad/value_and_grad, vjp, jvp, hvp, pullbacks, and
// the signature check of @custom_vjp backward functions.
#include "sema/checker_impl.h"

namespace tessera::sema {

bool CheckerImpl::is_float_value(const Type& t) {
  if (!t) return false;
  if (t->kind == TypeKind::Float) return true;
  return t->kind == TypeKind::Tensor && is_float(t->dtype);
}

void CheckerImpl::check_custom_vjp(FunctionInfo& f, FunctionInfo& bwd, SourceRange where) {
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

// A call of `tessera.grad(f, argnums)` or `value_and_grad(f, argnums)`: f is checked as if
// called with these arguments (the call records f as its target); f must return a float
// scalar, and each argument it is differentiated against must be floating point (E0601).
// The result: one gradient typed like its argument (a tuple when argnums is a tuple), after
// the value for value_and_grad. vjp, jvp and hessian_vector_product are not typed yet.
// `shown`: the transform's name in messages when it differs (hessian_vector_product's grad).
Type CheckerImpl::transformed_call(const Type& transform, const CallExpr* call, const std::vector<Arg>& pos,
                                   const std::vector<Arg>& kwargs, const std::string& shown) {
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
bool CheckerImpl::differentiable_function(const Arg& a, const char* transform) {
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
Type CheckerImpl::vjp_call(const CallExpr* call, const std::vector<Arg>& pos, const std::vector<Arg>& kwargs) {
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

// The result of the function given to vjp/jvp: a floating-point tensor, or (for a user
// function) a tuple of them, whose pullback takes a tuple of cotangents and whose tangent is a
// tuple; E0201 otherwise.
bool CheckerImpl::float_result(const Type& value, const Type& ft, const FunctionInfo& f, const char* transform, SourceRange where) {
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
std::vector<Arg> CheckerImpl::tuple_args(const Arg& a) {
  if (!a.type || a.type->kind != TypeKind::Tuple) return {a};
  std::vector<Arg> out;
  const auto* te = dyn_cast_or_null<TupleExpr>(a.expr);
  for (size_t i = 0; i < a.type->elems.size(); ++i) {
    bool lit = te && i < te->elements.size();
    out.push_back({lit ? te->elements[i] : a.expr, a.type->elems[i], "", lit ? te->elements[i]->range : a.range});
  }
  return out;
}

bool CheckerImpl::same_tensor_type(const Type& a, const Type& b) {
  auto x = as_tensor(a), y = as_tensor(b);
  return x && y && (*x)->dtype == (*y)->dtype &&
         to_string(tensor_type((*x)->dtype, (*x)->shape)) == to_string(tensor_type((*y)->dtype, (*y)->shape));
}

// `y, t = jvp(f, (primals...), (tangents...))` (JAX's jax.jvp): y = f(primals...), a
// floating-point tensor; t = J v, typed like y. Each primal must be floating point (E0601),
// each tangent typed like its primal (E0201). f may be a user function or a transformed one
// (`jvp(grad(f), ...)`: a Hessian-vector product, forward over reverse).
Type CheckerImpl::jvp_call(const CallExpr* call, const std::vector<Arg>& pos, const std::vector<Arg>& kwargs) {
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
Type CheckerImpl::pullback_call(const Type& pb, const CallExpr* call, const std::vector<Arg>& pos, const std::vector<Arg>& kwargs) {
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
Type CheckerImpl::hvp_call(const Type& transform, FunctionInfo& f, const CallExpr* call, const std::vector<Arg>& pos,
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

}  // namespace tessera::sema
