// Typed AST -> Graph IR. Transforms of automatic differentiation as values and calls: grad,
// value_and_grad, vjp and its pullback, jvp, hessian_vector_product, and compositions of them
// (ir/autodiff expands the `tessera.grad` ops they produce).
#include "ir/graph/lower_to_graph_internal.h"

namespace tessera::ir::lowering {

// `tessera.grad(f, argnums=...)` as a value: nothing to compute until it is called.
Local Lowerer::transform_value(const CallExpr* c, const Type& t) {
  std::string name = builtin_name(c->callee);
  if (name == "vjp") return vjp_value(c, t);
  if (name == "jvp") return jvp_value(c, t);
  bool built = name == "grad" || name == "value_and_grad" || name == "hessian_vector_product";
  if (built && t && t->kind == TypeKind::Function && t->ref) return {mlir::Value{}, t};
  if (built)
    unsupported(c->range, fmt::format("automatic differentiation of anything but a user function ({})", name));
  unsupported(c->range, fmt::format("automatic differentiation with {} (grad, value_and_grad, hessian_vector_product and higher order are built)", name));
}

// A call of `grad(f, argnums)` or `value_and_grad(f, argnums)`: f is specialized as for a
// call, and one `tessera.grad` op gives the value and the gradients (ir/autodiff expands it).
Local Lowerer::transformed_call(const CallExpr* c, const Type& transform, const Type& t) {
  const std::string& kind = transform->transform;
  if (kind == "pullback") return pullback_call(c, t);
  if (transform->of || kind == "hessian_vector_product") return higher_order_call(c, transform, t);
  if (kind != "grad" && kind != "value_and_grad")
    unsupported(c->range, fmt::format("automatic differentiation with {} (grad, value_and_grad, hessian_vector_product and higher order are built)", kind));
  auto it = fn_->calls.find(c);
  if (it == fn_->calls.end() || !t || (kind == "value_and_grad" && t->elems.size() != 2))
    unsupported(c->range, "this call of a differentiated function");
  std::vector<Local> bound;
  auto [f, args] = bind_call(c, it->second, &bound);
  bool with_value = kind == "value_and_grad";
  auto ftype = f.getFunctionType();
  // A Params argument is one function input per parameter: its argnum becomes those inputs,
  // and its gradients come back as a Params with the same names.
  std::vector<size_t> first_input(bound.size() + 1, 0);
  for (size_t k = 0; k < bound.size(); ++k)
    first_input[k + 1] = first_input[k] + (bound[k].object == "params" ? bound[k].elems.size() : 1);
  std::vector<int64_t> flat_argnums;
  for (int64_t n : transform->argnums) {
    if (n < 0 || static_cast<size_t>(n) >= bound.size()) unsupported(c->range, "this call of a differentiated function");
    for (size_t q = first_input[n]; q < first_input[n + 1]; ++q) flat_argnums.push_back(static_cast<int64_t>(q));
  }
  std::vector<mlir::Type> results;
  if (with_value) results.push_back(ftype.getResult(0));
  for (int64_t n : flat_argnums) results.push_back(ftype.getInput(static_cast<unsigned>(n)));
  mlir::OperationState st(loc(c->range), "tessera.grad");
  st.addOperands(args);
  st.addTypes(results);
  st.addAttribute("callee", mlir::FlatSymbolRefAttr::get(f.getSymNameAttr()));
  st.addAttribute("argnums", b_.getDenseI64ArrayAttr(flat_argnums));
  if (with_value) st.addAttribute("value", b_.getUnitAttr());
  mlir::Operation* g = b_.create(st);
  calls_.push_back({current_func_.getOperation(), f.getOperation(), it->second.callee->name, c->range});
  // The results as the program sees them: each gradient typed as the checker typed it.
  Type grads_t = with_value ? t->elems[1] : t;
  size_t next = with_value ? 1 : 0;
  auto grad_local = [&](size_t i, const Type& gt) -> Local {
    int64_t n = transform->argnums[i];
    if (bound[n].object == "params") {  // a Params of gradients, named like the argument
      Local out = bound[n];
      for (Local& e : out.elems) e = {g->getResult(next++), e.type};
      out.type = gt;
      return out;
    }
    mlir::Value r = g->getResult(next++);
    return {convert({r, gt}, to_mlir(gt, c->range), c->range), gt};
  };
  Local grads;
  if (transform->argnums_tuple) {
    if (grads_t->kind != TypeKind::Tuple || grads_t->elems.size() != transform->argnums.size())
      unsupported(c->range, "this call of a differentiated function");
    grads.type = grads_t;
    for (size_t i = 0; i < transform->argnums.size(); ++i) grads.elems.push_back(grad_local(i, grads_t->elems[i]));
  } else {
    grads = grad_local(0, grads_t);
  }
  if (!with_value) return grads;
  Local out;
  out.type = t;
  out.elems.push_back({convert({g->getResult(0), t->elems[0]}, to_mlir(t->elems[0], c->range), c->range), t->elems[0]});
  out.elems.push_back(grads);
  return out;
}

// `y, pullback = vjp(f, primals...)`: y is a call of f; the pullback (object "pullback")
// keeps f's symbol and the primal values, and each call of it is one seeded `tessera.grad`.
Local Lowerer::vjp_value(const CallExpr* c, const Type& t) {
  auto it = fn_->calls.find(c);
  if (it == fn_->calls.end() || !t || t->kind != TypeKind::Tuple || t->elems.size() != 2)
    unsupported(c->range, "this call of vjp");
  std::vector<Local> bound;
  auto [inner, args] = bind_call(c, it->second, &bound, /*skip=*/1);
  // vjp(grad(f), x): the pullback of the gradient function (a Hessian-vector product).
  Type ft = type_of(positional(c).at(0));
  bool transformed = ft && ft->name == "transformed";
  for (const Local& v : bound)
    if (v.object == "params" && transformed) unsupported(c->range, "vjp of a gradient of a function with Params arguments");
  mlir::func::FuncOp f = transformed ? materialize(ft, inner, args, c->range) : inner;
  if (args.size() != f.getFunctionType().getNumInputs()) unsupported(c->range, "vjp of a model");
  const Type& yt = t->elems[0];
  size_t n_results = yt && yt->kind == TypeKind::Tuple ? yt->elems.size() : 1;
  if (f.getFunctionType().getNumResults() != n_results)
    unsupported(c->range, "vjp of a function whose results are nested tuples");
  auto call = b_.create<mlir::func::CallOp>(loc(c->range), f, args);
  calls_.push_back({current_func_.getOperation(), inner.getOperation(), it->second.callee->name, c->range});
  Local pullback{mlir::Value{}, t->elems[1]};
  pullback.object = "pullback";
  pullback.names = {f.getSymName().str()};
  // One element per primal: a tensor (the value f was called with), or a Params bundle whose
  // elements are its tensors (f takes them as consecutive inputs).
  size_t next_arg = 0;
  for (const Local& v : bound) {
    if (v.object == "params") {
      Local p = v;
      for (Local& e : p.elems) e.value = args.at(next_arg++);
      pullback.elems.push_back(p);
    } else {
      pullback.elems.push_back({args.at(next_arg++), nullptr});
    }
  }
  if (next_arg != args.size()) unsupported(c->range, "this call of vjp");
  Local out;
  out.type = t;
  if (n_results == 1) {
    out.elems.push_back({convert({call.getResult(0), yt}, to_mlir(yt, c->range), c->range), yt});
  } else {  // a tuple of results
    Local y;
    y.type = yt;
    for (size_t i = 0; i < n_results; ++i) {
      const Type& et = yt->elems[i];
      y.elems.push_back({convert({call.getResult(static_cast<unsigned>(i)), et}, to_mlir(et, c->range), c->range), et});
    }
    out.elems.push_back(y);
  }
  out.elems.push_back(pullback);
  return out;
}

// The one float element type of `types` (E0900 `not_float` / `mixed` otherwise): the dtype of
// the scalar that vjp_dot / jvp_dot return.
mlir::Type Lowerer::one_float_dtype(mlir::TypeRange types, const SourceRange& r, const char* not_float,
                                    const char* mixed) {
  mlir::Type elt;
  for (mlir::Type t : types) {
    auto rt = mlir::dyn_cast<mlir::RankedTensorType>(t);
    if (!rt || !mlir::isa<mlir::FloatType>(rt.getElementType())) unsupported(r, not_float);
    if (elt && elt != rt.getElementType()) unsupported(r, mixed);
    elt = rt.getElementType();
  }
  return elt;
}

// sum_i sum(a_i * b_i), a rank-0 tensor of `scalar`'s type.
mlir::Value Lowerer::sum_of_products(mlir::Location l, llvm::ArrayRef<mlir::Value> a, llvm::ArrayRef<mlir::Value> b,
                                     mlir::RankedTensorType scalar) {
  mlir::Value total;
  for (size_t i = 0; i < a.size(); ++i) {
    auto rt = mlir::cast<mlir::RankedTensorType>(b[i].getType());
    mlir::Value p = b_.create<mlir::tessera::MulOp>(l, rt, a[i], b[i]);
    if (rt.getRank() > 0) {
      llvm::SmallVector<int64_t> axes;
      for (int64_t x = 0; x < rt.getRank(); ++x) axes.push_back(x);
      p = b_.create<mlir::tessera::ReduceOp>(l, scalar, p, mlir::tessera::ReduceKind::sum, axes, false);
    }
    total = total ? b_.create<mlir::tessera::AddOp>(l, scalar, total, p).getResult() : p;
  }
  return total;
}

// The pullback of a function with several results: u -> vjp(f)(x)(u) is the gradient over x
// of h(x..., u...) = sum_i sum(f(x...)_i * u_i), a scalar (a plain, unseeded tessera.grad).
mlir::func::FuncOp Lowerer::vjp_dot(mlir::func::FuncOp f, const SourceRange& r) {
  std::string name = f.getSymName().str() + "__vjp_dot";
  if (auto existing = module_.lookupSymbol<mlir::func::FuncOp>(name)) return existing;
  auto ftype = f.getFunctionType();
  mlir::Type elt = one_float_dtype(ftype.getResults(), r, "vjp of a function with a result that is not a floating-point tensor",
                                   "vjp of a function whose results have different dtypes");
  std::vector<mlir::Type> inputs(ftype.getInputs().begin(), ftype.getInputs().end());
  inputs.insert(inputs.end(), ftype.getResults().begin(), ftype.getResults().end());
  auto scalar = mlir::RankedTensorType::get({}, elt);
  mlir::OpBuilder::InsertionGuard guard(b_);
  mlir::Location l = loc(r);
  auto func = new_private_function(name, inputs, mlir::TypeRange{scalar}, l);
  mlir::Block* entry = &func.getBody().front();
  size_t n = ftype.getNumInputs();
  auto ys = b_.create<mlir::func::CallOp>(l, f, entry->getArguments().take_front(n));
  llvm::SmallVector<mlir::Value> results(ys.getResults().begin(), ys.getResults().end());
  llvm::SmallVector<mlir::Value> us(entry->getArguments().begin() + n, entry->getArguments().end());
  b_.create<mlir::func::ReturnOp>(l, sum_of_products(l, results, us, scalar));
  return func;
}

// `y, t = jvp(f, (primals...), (tangents...))`, forward mode by the transpose of the
// pullback: u -> vjp(f)(x)(u) is linear, so the gradient over u of
// h(x, u, v) = sum_i sum(vjp_i(x; u) * v_i) is J v at any u (u = y here). Costs a reverse
// pass over the gradient code: about 3-4x f's forward work (docs/autodiff.md).
Local Lowerer::jvp_value(const CallExpr* c, const Type& t) {
  auto it = fn_->calls.find(c);
  std::vector<const Expr*> pos = positional(c);
  if (it == fn_->calls.end() || !t || t->kind != TypeKind::Tuple || t->elems.size() != 2 || pos.size() != 3)
    unsupported(c->range, "this call of jvp");
  auto elements = [&](const Expr* e) -> std::vector<const Expr*> {
    if (const auto* te = dyn_cast<TupleExpr>(e)) return {te->elements.begin(), te->elements.end()};
    Type et = type_of(e);
    if (et && et->kind == TypeKind::Tuple) unsupported(e->range, "jvp with primals or tangents not written as a tuple");
    return {e};
  };
  std::vector<const Expr*> primals = elements(pos[1]), tangents = elements(pos[2]);
  std::vector<Local> bound;
  auto [f, args] = bind_call(c, it->second, &bound, 0, &primals);
  // A Params primal is one input of f per tensor, and so is its tangent.
  size_t flat = 0;
  for (const Local& v : bound) flat += v.object == "params" ? v.elems.size() : 1;
  if (bound.size() != primals.size() || args.size() != flat || tangents.size() != primals.size())
    unsupported(c->range, "jvp of a model, or with primals that do not match the function's arguments");
  Type ft = type_of(pos[0]);
  for (const Local& v : bound)
    if (v.object == "params" && ft && ft->name == "transformed")
      unsupported(c->range, "jvp of a gradient of a function with Params arguments");
  mlir::func::FuncOp g = ft && ft->name == "transformed" ? materialize(ft, f, args, c->range) : f;
  const Type& yt = t->elems[0];
  size_t n_results = yt && yt->kind == TypeKind::Tuple ? yt->elems.size() : 1;
  if (g.getFunctionType().getNumResults() != n_results)
    unsupported(c->range, "jvp of a function whose results are nested tuples");
  mlir::Location l = loc(c->range);
  auto ycall = b_.create<mlir::func::CallOp>(l, g, args);
  calls_.push_back({current_func_.getOperation(), f.getOperation(), it->second.callee->name, c->range});
  mlir::func::FuncOp h = jvp_dot(g, args.size(), c->range);
  std::vector<mlir::Value> hargs(args.begin(), args.end());
  for (mlir::Value y : ycall.getResults()) hargs.push_back(y);
  for (size_t i = 0; i < tangents.size(); ++i) {
    Local v = expr(tangents[i]);
    if (bound[i].object == "params") {
      if (v.object != "params" || v.names != bound[i].names || v.elems.size() != bound[i].elems.size())
        unsupported(tangents[i]->range, "a Params tangent that does not match its primal");
      for (const Local& e : v.elems) {
        size_t k = hargs.size() - args.size() - n_results;
        hargs.push_back(convert(e, args[k].getType(), tangents[i]->range));
      }
      continue;
    }
    size_t k = hargs.size() - args.size() - n_results;
    hargs.push_back(convert(v, args[k].getType(), tangents[i]->range));
  }
  std::vector<int64_t> u_argnums;
  for (size_t i = 0; i < n_results; ++i) u_argnums.push_back(static_cast<int64_t>(args.size() + i));
  std::vector<mlir::Value> tvs = grad_op(h, hargs, u_argnums, false, c->range);
  // y and J v, each a value or (several results) a tuple typed like y.
  auto typed = [&](auto&& value_of) {
    if (n_results == 1) return Local{convert({value_of(0), yt}, to_mlir(yt, c->range), c->range), yt};
    Local tuple;
    tuple.type = yt;
    for (size_t i = 0; i < n_results; ++i) {
      const Type& et = yt->elems[i];
      tuple.elems.push_back({convert({value_of(i), et}, to_mlir(et, c->range), c->range), et});
    }
    return tuple;
  };
  Local out;
  out.type = t;
  out.elems.push_back(typed([&](size_t i) { return ycall.getResult(static_cast<unsigned>(i)); }));
  out.elems.push_back(typed([&](size_t i) { return tvs.at(i); }));
  return out;
}

// h(x..., u..., v...) = sum_i sum(vjp(g)(x...)(u)_i * v_i), a scalar linear in u (one u per
// result of g: for several, the pullback is the gradient of vjp_dot(g)).
mlir::func::FuncOp Lowerer::jvp_dot(mlir::func::FuncOp g, size_t n, const SourceRange& r) {
  std::string name = g.getSymName().str() + "__jvp_dot";
  if (auto existing = module_.lookupSymbol<mlir::func::FuncOp>(name)) return existing;
  auto gt = g.getFunctionType();
  mlir::Type elt = one_float_dtype(gt.getInputs(), r, "jvp with respect to an argument that is not a floating-point tensor",
                                   "jvp with primals of different dtypes");
  size_t m = gt.getNumResults();
  mlir::func::FuncOp pulled = m == 1 ? g : vjp_dot(g, r);  // a seeded grad of g, or a grad of vjp_dot
  std::vector<mlir::Type> inputs(gt.getInputs().begin(), gt.getInputs().end());
  inputs.insert(inputs.end(), gt.getResults().begin(), gt.getResults().end());
  inputs.insert(inputs.end(), gt.getInputs().begin(), gt.getInputs().end());
  auto scalar = mlir::RankedTensorType::get({}, elt);
  mlir::OpBuilder::InsertionGuard guard(b_);
  mlir::Location l = loc(r);
  auto func = new_private_function(name, inputs, mlir::TypeRange{scalar}, l);
  mlir::Block* entry = &func.getBody().front();
  std::vector<mlir::Value> vargs;
  std::vector<int64_t> argnums;
  for (size_t i = 0; i < n + m; ++i) {
    if (i < n) argnums.push_back(static_cast<int64_t>(i));
    vargs.push_back(entry->getArgument(static_cast<unsigned>(i)));
  }
  mlir::OperationState st(l, "tessera.grad");
  st.addOperands(vargs);
  st.addTypes(gt.getInputs());
  st.addAttribute("callee", mlir::FlatSymbolRefAttr::get(pulled.getSymNameAttr()));
  st.addAttribute("argnums", b_.getDenseI64ArrayAttr(argnums));
  if (m == 1) st.addAttribute("seeded", b_.getUnitAttr());
  mlir::Operation* cts = b_.create(st);
  llvm::SmallVector<mlir::Value> grads(cts->getResults().begin(), cts->getResults().end());
  llvm::SmallVector<mlir::Value> vs(entry->getArguments().begin() + n + m, entry->getArguments().end());
  b_.create<mlir::func::ReturnOp>(l, sum_of_products(l, grads, vs, scalar));
  return func;
}

// `pullback(ct)`: `tessera.grad @f(primals..., ct) {argnums = all, seeded}`.
Local Lowerer::pullback_call(const CallExpr* c, const Type& t) {
  Local pb = expr(c->callee);
  std::vector<const Expr*> pos = positional(c);
  if (pb.object != "pullback" || pb.names.size() != 1 || pos.size() != 1 || !t)
    unsupported(c->range, "this call of a vjp pullback");
  auto f = module_.lookupSymbol<mlir::func::FuncOp>(pb.names[0]);
  if (!f) unsupported(c->range, "this call of a vjp pullback");
  std::vector<mlir::Value> args;
  std::vector<int64_t> argnums;
  for (const Local& p : pb.elems) {
    for (const Local& e : p.object == "params" ? p.elems : std::vector<Local>{p}) {
      argnums.push_back(static_cast<int64_t>(args.size()));
      args.push_back(e.value);
    }
  }
  // The cotangent: one value for a function with one result (the seed of a seeded grad), a
  // tuple of them for several (arguments of vjp_dot, whose gradient is the pullback).
  bool several = f.getFunctionType().getNumResults() != 1;
  Local ct = expr(pos[0]);
  if (several) {
    if (ct.elems.size() != f.getFunctionType().getNumResults()) unsupported(c->range, "this call of a vjp pullback");
    for (size_t i = 0; i < ct.elems.size(); ++i)
      args.push_back(convert(ct.elems[i], f.getFunctionType().getResult(static_cast<unsigned>(i)), pos[0]->range));
    f = vjp_dot(f, c->range);
  } else {
    args.push_back(convert(ct, f.getFunctionType().getResult(0), pos[0]->range));
  }
  std::vector<mlir::Type> results;
  for (int64_t n : argnums) results.push_back(args[static_cast<size_t>(n)].getType());
  mlir::OperationState st(loc(c->range), "tessera.grad");
  st.addOperands(args);
  st.addTypes(results);
  st.addAttribute("callee", mlir::FlatSymbolRefAttr::get(f.getSymNameAttr()));
  st.addAttribute("argnums", b_.getDenseI64ArrayAttr(argnums));
  if (!several) st.addAttribute("seeded", b_.getUnitAttr());
  mlir::Operation* g = b_.create(st);
  // One cotangent per primal (a tuple when there are several), a Params for a Params primal.
  size_t next = 0;
  auto cotangent = [&](const Local& primal, const Type& rt) -> Local {
    if (primal.object == "params") {
      Local out = primal;
      for (Local& e : out.elems) e = {g->getResult(next++), e.type};
      out.type = rt;
      return out;
    }
    mlir::Value r = g->getResult(next++);
    return {convert({r, rt}, to_mlir(rt, c->range), c->range), rt};
  };
  if (pb.elems.size() == 1) return cotangent(pb.elems[0], t);
  if (t->kind != TypeKind::Tuple || t->elems.size() != pb.elems.size()) unsupported(c->range, "this call of a vjp pullback");
  Local out;
  out.type = t;
  for (size_t i = 0; i < pb.elems.size(); ++i) out.elems.push_back(cotangent(pb.elems[i], t->elems[i]));
  return out;
}

// A call of a transform of a transformed function (`grad(grad(f))(x)`) or of
// `hessian_vector_product(f, argnums=n)(args..., v)`: each inner transform becomes a private
// function whose body is its `tessera.grad` (materialize), which the outer `tessera.grad`
// differentiates; ir/autodiff expands the innermost gradients first (docs/autodiff.md).
Local Lowerer::higher_order_call(const CallExpr* c, const Type& transform, const Type& t) {
  for (Type in = transform->of; in; in = in->of)
    if (in->transform == "hessian_vector_product")
      unsupported(c->range, "a transform of hessian_vector_product (differentiate a function that calls it instead)");
  auto it = fn_->calls.find(c);
  if (it == fn_->calls.end() || !t) unsupported(c->range, "this call of a differentiated function");
  std::vector<Local> bound;
  auto [f, args] = bind_call(c, it->second, &bound);
  for (const Local& v : bound)
    if (v.object == "params")
      unsupported(c->range, "higher-order automatic differentiation of a function with Params arguments");
  std::vector<mlir::Value> all(args.begin(), args.end());
  if (transform->transform == "hessian_vector_product") {
    std::vector<const Expr*> pos = positional(c);
    int64_t n = transform->argnums.at(0);
    if (pos.size() != bound.size() + 1 || n < 0 || static_cast<size_t>(n) >= args.size())
      unsupported(c->range, "this call of hessian_vector_product");
    all.push_back(convert(expr(pos.back()), args[static_cast<size_t>(n)].getType(), pos.back()->range));
  }
  std::vector<mlir::Value> results = emit_transform(transform, f, all, c->range);
  calls_.push_back({current_func_.getOperation(), f.getOperation(), it->second.callee->name, c->range});
  // The results as the program sees them, typed as the checker typed them.
  size_t next = 0;
  std::function<Local(const Type&)> rebuild = [&](const Type& rt) -> Local {
    if (rt && rt->kind == TypeKind::Tuple) {
      Local out;
      out.type = rt;
      for (const Type& e : rt->elems) out.elems.push_back(rebuild(e));
      return out;
    }
    if (next >= results.size()) unsupported(c->range, "this call of a differentiated function");
    mlir::Value r = results[next++];
    return {convert({r, rt}, to_mlir(rt, c->range), c->range), rt};
  };
  return rebuild(t);
}

// The transform `tr` applied to `args` at the builder (`f`: the specialized innermost user
// function); its flat results.
std::vector<mlir::Value> Lowerer::emit_transform(const Type& tr, mlir::func::FuncOp f, std::vector<mlir::Value> args,
                                                 const SourceRange& r) {
  const std::string& kind = tr->transform;
  mlir::Location l = loc(r);
  if (kind == "hessian_vector_product") {
    // H v = grad over x of h(args, v) = sum(grad(f)(args) * v) (reverse over reverse).
    int64_t n = tr->argnums.at(0);
    std::vector<mlir::Value> primals(args.begin(), args.end() - 1);
    mlir::func::FuncOp g = tr->of ? materialize(tr->of, f, primals, r) : f;
    mlir::func::FuncOp h = hvp_dot(g, n, r);
    return grad_op(h, args, {n}, false, r);
  }
  if (kind != "grad" && kind != "value_and_grad")
    unsupported(r, fmt::format("automatic differentiation with {} of a transformed function", kind));
  mlir::func::FuncOp g = tr->of ? materialize(tr->of, f, args, r) : f;
  (void)l;
  return grad_op(g, args, tr->argnums, kind == "value_and_grad", r);
}

// One `tessera.grad` of `g` (which must return one value) at the builder.
std::vector<mlir::Value> Lowerer::grad_op(mlir::func::FuncOp g, const std::vector<mlir::Value>& args,
                                          const std::vector<int64_t>& argnums, bool with_value, const SourceRange& r) {
  auto gt = g.getFunctionType();
  if (gt.getNumResults() != 1)
    unsupported(r, "differentiating a transformed function that returns several values");
  std::vector<mlir::Type> results;
  if (with_value) results.push_back(gt.getResult(0));
  for (int64_t n : argnums) {
    if (n < 0 || static_cast<size_t>(n) >= gt.getNumInputs()) unsupported(r, "this call of a differentiated function");
    results.push_back(gt.getInput(static_cast<unsigned>(n)));
  }
  mlir::OperationState st(loc(r), "tessera.grad");
  st.addOperands(args);
  st.addTypes(results);
  st.addAttribute("callee", mlir::FlatSymbolRefAttr::get(g.getSymNameAttr()));
  st.addAttribute("argnums", b_.getDenseI64ArrayAttr(argnums));
  if (with_value) st.addAttribute("value", b_.getUnitAttr());
  mlir::Operation* op = b_.create(st);
  return {op->getResults().begin(), op->getResults().end()};
}

// A private function `name` at the end of the module, with an entry block; the builder is left
// at the start of it (callers hold an InsertionGuard).
mlir::func::FuncOp Lowerer::new_private_function(const std::string& name, mlir::TypeRange inputs,
                                                 mlir::TypeRange results, mlir::Location l) {
  b_.setInsertionPointToEnd(module_.getBody());
  auto func = b_.create<mlir::func::FuncOp>(l, name, b_.getFunctionType(inputs, results));
  func.setPrivate();
  b_.setInsertionPointToStart(func.addEntryBlock());
  return func;
}

// The name of a transform chain over `f`: f__grad0__grad0 for grad(grad(f)).
std::string Lowerer::transform_name(const Type& tr, mlir::func::FuncOp f) {
  std::string name = tr->of ? transform_name(tr->of, f) : f.getSymName().str();
  name += tr->transform == "hessian_vector_product" ? "__hvp" : "__" + tr->transform;
  for (int64_t n : tr->argnums) name += std::to_string(n);
  return name;
}

// A private function computing the transform `tr` of `f` (its arguments typed like `args`).
mlir::func::FuncOp Lowerer::materialize(const Type& tr, mlir::func::FuncOp f, const std::vector<mlir::Value>& args,
                                        const SourceRange& r) {
  std::string name = transform_name(tr, f);
  if (auto existing = module_.lookupSymbol<mlir::func::FuncOp>(name)) return existing;
  std::vector<mlir::Type> inputs;
  for (mlir::Value a : args) inputs.push_back(a.getType());
  mlir::OpBuilder::InsertionGuard guard(b_);
  auto func = new_private_function(name, inputs, mlir::TypeRange{}, loc(r));
  mlir::Block* entry = &func.getBody().front();
  std::vector<mlir::Value> params(entry->getArguments().begin(), entry->getArguments().end());
  std::vector<mlir::Value> results = emit_transform(tr, f, params, r);
  b_.create<mlir::func::ReturnOp>(loc(r), results);
  std::vector<mlir::Type> outs;
  for (mlir::Value v : results) outs.push_back(v.getType());
  func.setFunctionType(b_.getFunctionType(inputs, outs));
  return func;
}

// h(args..., v) = sum(grad(g, argnums=n)(args) * v): a scalar whose gradient with respect to
// argument n is the Hessian of g times v.
mlir::func::FuncOp Lowerer::hvp_dot(mlir::func::FuncOp g, int64_t n, const SourceRange& r) {
  std::string name = g.getSymName().str() + "__hvp_dot" + std::to_string(n);
  if (auto existing = module_.lookupSymbol<mlir::func::FuncOp>(name)) return existing;
  auto gt = g.getFunctionType();
  if (n < 0 || static_cast<size_t>(n) >= gt.getNumInputs()) unsupported(r, "this call of hessian_vector_product");
  mlir::Type xt = gt.getInput(static_cast<unsigned>(n));
  auto rt = mlir::dyn_cast<mlir::RankedTensorType>(xt);
  if (!rt) unsupported(r, "hessian_vector_product with respect to an argument that is not a tensor");
  std::vector<mlir::Type> inputs(gt.getInputs().begin(), gt.getInputs().end());
  inputs.push_back(xt);
  auto scalar = mlir::RankedTensorType::get({}, rt.getElementType());
  mlir::OpBuilder::InsertionGuard guard(b_);
  mlir::Location l = loc(r);
  auto func = new_private_function(name, inputs, mlir::TypeRange{scalar}, l);
  mlir::Block* entry = &func.getBody().front();
  std::vector<mlir::Value> primals(entry->getArguments().begin(), entry->getArguments().end() - 1);
  mlir::Value grad = grad_op(g, primals, {n}, false, r).at(0);
  mlir::Value p = b_.create<mlir::tessera::MulOp>(l, xt, grad, entry->getArguments().back());
  if (rt.getRank() > 0) {
    llvm::SmallVector<int64_t> axes;
    for (int64_t i = 0; i < rt.getRank(); ++i) axes.push_back(i);
    p = b_.create<mlir::tessera::ReduceOp>(l, scalar, p, mlir::tessera::ReduceKind::sum, axes, false);
  }
  b_.create<mlir::func::ReturnOp>(l, p);
  return func;
}

}  // namespace tessera::ir::lowering
