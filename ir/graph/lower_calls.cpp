// Typed AST -> Graph IR. Calls: the built-in operations (elementwise, reductions, methods, creation,
// print, load/save) and calls of user functions (specialized per dimension values).
#include "ir/graph/lower_to_graph_internal.h"
#include "runtime/include/tessera/runtime.h"

namespace tessera::ir::lowering {

// The built-in a call names (`exp`, `tessera.exp`, `ts.nn.relu` -> "exp", "relu"), or "".
std::string Lowerer::builtin_name(const Expr* callee) {
  if (auto* n = dyn_cast<NameExpr>(callee)) return n->name;
  if (auto* a = dyn_cast<AttributeExpr>(callee)) return a->name;
  return "";
}

const Expr* Lowerer::keyword(const CallExpr* c, std::string_view name) {
  for (const Argument& a : c->args)
    if (a.kind == ArgKind::Keyword && a.name == name) return a.value;
  return nullptr;
}

std::vector<const Expr*> Lowerer::positional(const CallExpr* c) {
  std::vector<const Expr*> out;
  for (const Argument& a : c->args) {
    if (a.kind == ArgKind::Positional) out.push_back(a.value);
    else if (a.kind != ArgKind::Keyword) unsupported(a.range, "'*' and '**' arguments");
  }
  return out;
}

Local Lowerer::call(const CallExpr* c, const Type& t) {
  // `tessera.grad(f)(x)`: the transform (a function value), or a call of what it returns.
  if (auto ct = fn_->expr_types.find(c->callee);
      ct != fn_->expr_types.end() && ct->second && ct->second->kind == TypeKind::Function &&
      ct->second->name == "transformed")
    return transformed_call(c, ct->second, t);
  if (is_ad_transform(builtin_name(c->callee))) return transform_value(c, t);
  if (auto it = fn_->calls.find(c); it != fn_->calls.end()) {
    for (const std::string& d : it->second.callee->decorators)
      if (d == "mcmc" || d == "variational") return inference_call(c, it->second, t);
    return user_call(c, it->second, t);
  }
  if (auto it = fn_->layer_params.find(c); it != fn_->layer_params.end()) return layer_call(c, it->second, t);
  if (auto it = fn_->init_models.find(c); it != fn_->init_models.end()) return init_params(c, *it->second, t);
  // Methods of tensors: `x.mean(...)`, `x.reshape(...)`.
  if (auto* a = dyn_cast<AttributeExpr>(c->callee)) {
    auto ot = fn_->expr_types.find(a->object);
    if (ot != fn_->expr_types.end() && ot->second && ot->second->kind == TypeKind::Object &&
        ot->second->name == "optimizer" && a->name == "step")
      return optimizer_step(c, a);
    if (ot != fn_->expr_types.end() && ot->second && ot->second->kind == TypeKind::Tensor)
      return method(c, a->name, expr(a->object), t);
    if (ot != fn_->expr_types.end() && ot->second && ot->second->kind == TypeKind::Posterior)
      return posterior_method(c, a->name, expr(a->object), t);
    if (ot != fn_->expr_types.end() && ot->second && ot->second->kind == TypeKind::Distribution)
      return distribution_method(c, a->name, expr(a->object), t);
  }
  std::string name = builtin_name(c->callee);
  if (name == "print") return print(c, t);
  if (name == "Posterior") return posterior_fields(c, t);
  if (name == "factor" && !fn_->calls.count(c)) return factor_call(c, t);
  if (t && t->kind == TypeKind::Distribution) return distribution_value(c, t);
  if (name == "SGD" || name == "AdamW") return make_optimizer(c, name, t);
  if (t && t->kind == TypeKind::Object && t->name == "lr_schedule") return make_schedule(c, name, t);
  if (name == "clip_grad_norm") return clip_grad_norm(c, t);
  if (name == "save" && !positional(c).empty())
    if (Type at = type_of(positional(c)[0]); at && at->kind == TypeKind::Params) return save_params(c, t);
  if (name == "load" && t && t->kind == TypeKind::Params) return load_params(c, t);
  if (name == "split" && !positional(c).empty()) return split(c, expr(positional(c)[0]), t, 1);
  if (name == "load") return load(c, t);
  if (name == "save") return save(c, t);
  auto args = positional(c);
  mlir::Type mt = t && t->kind != TypeKind::None ? to_mlir(t, c->range) : mlir::Type{};
  if ((name == "float" || name == "int") && args.size() == 1 && c->args.size() == 1)
    return {scalar_conversion(name, expr(args[0]), mt, c->range), t};
  if (kUnary.count(name) && args.size() == 1) {
    if (!mlir::isa<mlir::RankedTensorType>(mt)) return {scalar_unary(name, expr(args[0]), mt, c->range), t};
    return {op("tessera." + name, {convert(expr(args[0]), mt, c->range)}, mt, c->range, t), t};
  }
  if (name == "tensor") return tensor_literal(c, t, mt);
  if (name == "norm" || name == "has_nan" || name == "has_inf") {
    if (args.size() != 1) unsupported(c->range, fmt::format("these arguments of {}", name));
    Local x = expr(args[0]);
    auto xt = mlir::dyn_cast<mlir::RankedTensorType>(x.value.getType());
    if (!xt) unsupported(args[0]->range, fmt::format("{} of a scalar", name));
    // The ops give rank-0 tensors; the checker may type the result as a scalar.
    mlir::Type elt = name == "norm" ? xt.getElementType() : b_.getI1Type();
    mlir::Value r = op("tessera." + name, {x.value}, mlir::RankedTensorType::get({}, elt), c->range, t);
    return {convert({r, t}, mt, c->range), t};
  }
  if (name == "maximum" || name == "minimum") {
    if (args.size() != 2) unsupported(c->range, fmt::format("these arguments of {}", name));
    auto rt = mlir::cast<mlir::RankedTensorType>(mt);
    return {op("tessera." + name, {tensor_operand(expr(args[0]), rt, c->range), tensor_operand(expr(args[1]), rt, c->range)},
               mt, c->range, t),
            t};
  }
  if (name == "cholesky" && args.size() == 1) {
    auto rt = mlir::cast<mlir::RankedTensorType>(mt);
    return {op("tessera.cholesky", {convert(expr(args[0]), rt, c->range)}, mt, c->range, t), t};
  }
  if (name == "solve_triangular") return solve_triangular(c, t, mt);
  if (name == "matmul" && args.size() == 2) {
    auto rt = mlir::cast<mlir::RankedTensorType>(mt);
    return {op("tessera.matmul", {tensor_operand(expr(args[0]), rt, c->range), tensor_operand(expr(args[1]), rt, c->range)},
               mt, c->range, t),
            t};
  }
  if ((name == "softmax" || name == "log_softmax" || name == "softmax_safe") && args.size() == 1) {
    Local x = expr(args[0]);
    int64_t axis = axis_arg(c, "axis", -1, x);
    std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs{{"axis", b_.getI64IntegerAttr(axis)}};
    if (name == "softmax_safe") attrs.push_back({"safe", b_.getUnitAttr()});
    // Of an integer tensor: computed in the (float) result dtype, f32 if the result is not float.
    auto rt = mlir::cast<mlir::RankedTensorType>(mt);
    mlir::Type elt = mlir::isa<mlir::FloatType>(rt.getElementType()) ? rt.getElementType() : b_.getF32Type();
    auto ft = mlir::RankedTensorType::get(rt.getShape(), elt);
    mlir::Value r = op(name == "log_softmax" ? "tessera.log_softmax" : "tessera.softmax", {with_element(x, elt, c->range)},
                       ft, c->range, t, attrs);
    return {convert({r, t}, mt, c->range), t};
  }
  // sum(x), sum(x, axis) / sum(x, axis=...): the axis is the second positional argument.
  if (kReductions.count(name) && (args.size() == 1 || args.size() == 2))
    return reduce(c, kReductions.at(name), expr(args[0]), t, /*skip=*/1);
  if (name == "layer_norm" || name == "layernorm_safe" || name == "rms_norm" || name == "rmsnorm_safe") {
    bool rms = name == "rms_norm" || name == "rmsnorm_safe";
    if (args.empty() || args.size() > (rms ? 2u : 3u)) unsupported(c->range, fmt::format("these arguments of {}", name));
    std::vector<mlir::Value> operands;
    mlir::Type elt = mlir::cast<mlir::RankedTensorType>(mt).getElementType();
    for (const Expr* a : args) operands.push_back(with_element(expr(a), elt, a->range));
    for (const char* kw : {"weight", "bias"})
      if (const Expr* e = keyword(c, kw)) operands.push_back(with_element(expr(e), elt, e->range));
    double eps = 1e-5;
    if (const Expr* e = keyword(c, "eps")) {
      auto v = constant_float(e);
      if (!v) unsupported(e->range, "an eps that is not a constant");
      eps = *v;
    }
    std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs{{"eps", b_.getF64FloatAttr(eps)}};
    if (!rms) attrs.push_back({"axis", b_.getI64IntegerAttr(mlir::cast<mlir::RankedTensorType>(mt).getRank() - 1)});
    if (name.find("safe") != std::string::npos) attrs.push_back({"safe", b_.getUnitAttr()});
    mlir::OperationState st(loc(c->range), rms ? "tessera.rms_norm" : "tessera.layer_norm");
    st.addOperands(operands);
    st.addTypes(mt);
    for (auto& [k, v] : attrs) st.addAttribute(k, v);
    // layer_norm's weight and bias are both optional operands: say which are present.
    if (!rms)
      st.addAttribute("operandSegmentSizes",
                      b_.getDenseI32ArrayAttr({1, operands.size() > 1 ? 1 : 0, operands.size() > 2 ? 1 : 0}));
    if (mlir::Attribute p = policy_attr(t)) st.addAttribute("policy", p);
    return {checked(b_.create(st), c->range)->getResult(0), t};
  }
  if (name == "group_norm" && !args.empty() && args.size() <= 4) {
    // group_norm(x, num_groups, weight=None, bias=None, eps=1e-5), as PyTorch.
    const Expr* g = args.size() > 1 ? args[1] : keyword(c, "num_groups");
    if (!g) g = keyword(c, "groups");
    auto groups = g ? constant_int_expr(g) : std::nullopt;
    if (!groups) unsupported(c->range, "group_norm with a number of groups that is not a constant");
    std::vector<mlir::Value> operands{expr(args[0]).value};
    const Expr* w = args.size() > 2 ? args[2] : keyword(c, "weight");
    const Expr* bias = args.size() > 3 ? args[3] : keyword(c, "bias");
    if (w) operands.push_back(expr(w).value);
    if (bias) operands.push_back(expr(bias).value);
    double eps = 1e-5;
    if (const Expr* e = keyword(c, "eps")) {
      auto v = constant_float(e);
      if (!v) unsupported(e->range, "an eps that is not a constant");
      eps = *v;
    }
    mlir::OperationState st(loc(c->range), "tessera.group_norm");
    st.addOperands(operands);
    st.addTypes(mt);
    st.addAttribute("groups", b_.getI64IntegerAttr(*groups));
    st.addAttribute("eps", b_.getF64FloatAttr(eps));
    st.addAttribute("operandSegmentSizes", b_.getDenseI32ArrayAttr({1, w ? 1 : 0, bias ? 1 : 0}));
    if (mlir::Attribute p = policy_attr(t)) st.addAttribute("policy", p);
    return {checked(b_.create(st), c->range)->getResult(0), t};
  }
  if (name == "linear" && (args.size() == 2 || args.size() == 3)) {
    std::vector<mlir::Value> operands;
    for (const Expr* a : args) operands.push_back(expr(a).value);
    mlir::OperationState st(loc(c->range), "tessera.linear");
    st.addOperands(operands);
    st.addTypes(mt);
    if (mlir::Attribute p = policy_attr(t)) st.addAttribute("policy", p);
    return {checked(b_.create(st), c->range)->getResult(0), t};
  }
  if (name == "where" && args.size() == 3) {
    // The condition as a bool tensor (a Python bool is a rank-0 one), the branches in the
    // result's dtype.
    auto rt = mlir::cast<mlir::RankedTensorType>(mt);
    mlir::Value cond = with_element(expr(args[0]), b_.getI1Type(), args[0]->range);
    return {op("tessera.where",
               {cond, tensor_operand(expr(args[1]), rt, args[1]->range), tensor_operand(expr(args[2]), rt, args[2]->range)},
               mt, c->range, t),
            t};
  }
  if ((name == "concat" || name == "stack") && !args.empty()) {
    std::vector<mlir::Value> operands;
    if (auto* l = dyn_cast<ListExpr>(args[0])) {
      for (const Expr* el : l->elements) operands.push_back(expr(el).value);
    } else if (auto* tu = dyn_cast<TupleExpr>(args[0])) {
      for (const Expr* el : tu->elements) operands.push_back(expr(el).value);
    } else {
      unsupported(args[0]->range, fmt::format("{} of anything but a list of tensors", name));
    }
    const Expr* ax = keyword(c, "axis");
    if (!ax && args.size() > 1) ax = args[1];
    int64_t axis = 0;
    if (ax) {
      auto v = constant_int_expr(ax);
      if (!v) unsupported(ax->range, "an axis that is not a constant");
      axis = *v;
    }
    int64_t rank = mlir::cast<mlir::RankedTensorType>(mt).getRank();
    if (axis < 0) axis += rank;
    return {op("tessera." + name, operands, mt, c->range, t, {{"axis", b_.getI64IntegerAttr(axis)}}), t};
  }
  if (name == "clamp" && args.size() == 1) return method(c, "clamp", expr(args[0]), t, 1);
  if (name == "broadcast_to" && !args.empty()) return method(c, "broadcast_to", expr(args[0]), t, 1);
  if (name == "embedding" && args.size() == 2) {
    Local ids = expr(args[0]), table = expr(args[1]);
    if (!mlir::isa<mlir::RankedTensorType>(table.value.getType()))
      unsupported(c->range, "embedding with a table made by tessera.nn (parameters are not built yet)");
    return {op("tessera.embedding", {table.value, ids.value}, mt, c->range, t), t};
  }
  if (name == "one_hot" && !args.empty()) {
    auto n = args.size() > 1 ? constant_int_expr(args[1]) : std::nullopt;
    if (const Expr* k = keyword(c, "num_classes")) n = constant_int_expr(k);
    if (!n) unsupported(c->range, "one_hot with a number of classes that is not a constant");
    return {op("tessera.one_hot", {expr(args[0]).value}, mt, c->range, t, {{"num_classes", b_.getI64IntegerAttr(*n)}}), t};
  }
  if (name == "cross_entropy" && args.size() == 2) {
    mlir::Value logits = expr(args[0]).value, labels = expr(args[1]).value;
    mlir::Type rt0 = mlir::RankedTensorType::get({}, mlir::cast<mlir::RankedTensorType>(logits.getType()).getElementType());
    mlir::Value r = op("tessera.cross_entropy", {logits, labels}, rt0, c->range, t);
    return {convert({r, t}, mt, c->range), t};
  }
  if ((name == "attention" || name == "attention_safe") && args.size() == 3) {
    std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs;
    if (const Expr* k = keyword(c, "causal")) {
      auto* bl = dyn_cast<BoolLiteralExpr>(k);
      if (!bl) unsupported(k->range, "causal= that is not True or False");
      if (bl->value) attrs.push_back({"causal", b_.getUnitAttr()});
    }
    if (const Expr* k = keyword(c, "scale")) {
      auto v = constant_float(k);
      if (!v) unsupported(k->range, "a scale that is not a constant");
      attrs.push_back({"scale", b_.getF64FloatAttr(*v)});
    }
    if (name == "attention_safe") attrs.push_back({"safe", b_.getUnitAttr()});
    return {op("tessera.attention", {expr(args[0]).value, expr(args[1]).value, expr(args[2]).value}, mt, c->range, t, attrs), t};
  }
  if ((name == "dropout" || name == "randn" || name == "rand") && role_ != 0) random_in_model(c->range);
  if (name == "dropout" && !args.empty() && args.size() <= 2) {
    // dropout(x, p=0.5, seed=...): inverted dropout (torch's in training mode); the mask is the
    // Philox stream `seed` (the next program seed when not given, as randn).
    const Expr* pe = args.size() > 1 ? args[1] : keyword(c, "p");
    double p = 0.5;
    if (pe) {
      auto v = constant_float(pe);
      if (!v) unsupported(pe->range, "a dropout probability that is not a constant");
      p = *v;
    }
    if (!(p >= 0.0 && p < 1.0)) unsupported(pe->range, "a dropout probability outside [0, 1)");
    const Expr* seed = keyword(c, "seed");
    auto s = seed ? constant_int_expr(seed) : std::optional<int64_t>(next_seed_++);
    if (!s) unsupported(seed->range, "a seed that is not a constant");
    return {op("tessera.dropout", {expr(args[0]).value}, mt, c->range, t,
               {{"p", b_.getF64FloatAttr(p)}, {"seed", b_.getI64IntegerAttr(*s)}}),
            t};
  }
  if (name == "arange" && !args.empty() && args.size() <= 3) {
    auto rt = mlir::cast<mlir::RankedTensorType>(mt);
    double start = 0, step = 1;
    if (args.size() >= 2) {
      auto s = constant_float(args[0]);
      if (!s) unsupported(args[0]->range, "an arange start that is not a constant");
      start = *s;
    }
    if (args.size() == 3) {
      auto s = constant_float(args[2]);
      if (!s) unsupported(args[2]->range, "an arange step that is not a constant");
      step = *s;
    }
    return {op("tessera.arange", dynamic_dims(t, rt, c->range), mt, c->range, t,
               {{"start", b_.getF64FloatAttr(start)}, {"step", b_.getF64FloatAttr(step)}}),
            t};
  }
  if (name == "conv2d" && (args.size() == 2 || args.size() == 3)) {
    std::vector<mlir::Value> operands{expr(args[0]).value, expr(args[1]).value};
    if (args.size() == 3) operands.push_back(expr(args[2]).value);
    else if (const Expr* b = keyword(c, "bias")) operands.push_back(expr(b).value);
    auto pair = [&](const char* kw, int64_t dflt) { return b_.getDenseI64ArrayAttr(pair_arg(c, kw, dflt)); };
    int64_t groups = pair_arg(c, "groups", 1)[0];
    return {op("tessera.conv2d", operands, mt, c->range, t,
               {{"stride", pair("stride", 1)}, {"padding", pair("padding", 0)}, {"dilation", pair("dilation", 1)},
                {"groups", b_.getI64IntegerAttr(groups)}}),
            t};
  }
  if ((name == "max_pool2d" || name == "avg_pool2d") && args.size() >= 1) {
    const Expr* k = args.size() > 1 ? args[1] : keyword(c, "kernel_size");
    auto kv = k ? constant_int_expr(k) : std::nullopt;
    if (!kv) unsupported(c->range, "a pooling kernel size that is not a constant");
    auto stride = pair_arg(c, "stride", *kv);
    return {op("tessera." + name, {expr(args[0]).value}, mt, c->range, t,
               {{"kernel", b_.getDenseI64ArrayAttr({*kv, *kv})}, {"stride", b_.getDenseI64ArrayAttr(stride)},
                {"padding", b_.getDenseI64ArrayAttr(pair_arg(c, "padding", 0))}}),
            t};
  }
  if (name == "adaptive_avg_pool2d" && args.size() == 2) {
    auto rt = mlir::cast<mlir::RankedTensorType>(mt);
    if (rt.isDynamicDim(2) || rt.isDynamicDim(3)) unsupported(c->range, "an adaptive pooling size that is not a constant");
    return {op("tessera.adaptive_avg_pool2d", {expr(args[0]).value}, mt, c->range, t,
               {{"output_size", b_.getDenseI64ArrayAttr({rt.getDimSize(2), rt.getDimSize(3)})}}),
            t};
  }
  if (name == "transpose" && !args.empty()) return method(c, "transpose", expr(args[0]), t, 1);
  if (name == "reshape" && !args.empty()) return method(c, "reshape", expr(args[0]), t, 1);
  if (name == "zeros" || name == "ones" || name == "randn" || name == "rand" || name == "full") {
    // The sizes are the checker's (the result type); one that changes at run time (a name
    // reassigned in a loop or a branch) has no such value.
    auto sizes = positional(c);
    if (name == "full") {
      // full(shape, value): nothing else is read, so nothing else may be given.
      if (sizes.size() > 2) unsupported(sizes[2]->range, "a third positional argument of full(shape, value)");
      sizes.resize(std::min<size_t>(sizes.size(), 1));
    }
    for (const Expr* a : sizes)
      if (varies(a)) unsupported(a->range, fmt::format("a size of {}(...) that changes at run time", name));
    std::vector<mlir::Value> dyn = dynamic_dims(t, mt, c->range);
    std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs;
    if (name == "full") {
      const Expr* v = args.size() >= 2 ? args[1] : keyword(c, "value");
      auto f = v ? constant_float(v) : std::nullopt;
      if (!f) unsupported(c->range, "full(...) with a value that is not a constant");
      attrs.push_back({"value", b_.getF64FloatAttr(*f)});
    }
    if (name == "randn" || name == "rand") {
      const Expr* seed = keyword(c, "seed");
      auto s = seed ? constant_int_expr(seed) : std::optional<int64_t>(next_seed_++);
      if (!s) unsupported(seed->range, "a seed that is not a constant");
      attrs.push_back({"seed", b_.getI64IntegerAttr(*s)});
      attrs.push_back({"offset", b_.getI64IntegerAttr(0)});
    }
    return {op("tessera." + name, dyn, mt, c->range, t, attrs), t};
  }
  unsupported(c->range, fmt::format("the operation '{}'", name.empty() ? "this call" : name));
}

// `split(x, n, axis=0)` / `x.split(n, axis=0)`: n equal parts (NumPy's array_split with
// sections that divide), as a tuple.
Local Lowerer::split(const CallExpr* c, const Local& x, const Type& t, size_t skip) {
  if (!t || t->kind != TypeKind::Tuple || t->elems.empty()) unsupported(c->range, "split whose parts are not known");
  auto args = positional(c);
  const Expr* ax = keyword(c, "axis");
  if (!ax && args.size() > skip + 1) ax = args[skip + 1];
  int64_t axis = 0;
  if (ax) {
    auto v = constant_int_expr(ax);
    if (!v) unsupported(ax->range, "an axis that is not a constant");
    axis = *v;
  }
  auto xt = mlir::cast<mlir::RankedTensorType>(x.value.getType());
  if (axis < 0) axis += xt.getRank();
  std::vector<mlir::Type> types;
  for (const Type& e : t->elems) types.push_back(to_mlir(e, c->range));
  mlir::OperationState st(loc(c->range), "tessera.split");
  st.addOperands(x.value);
  st.addTypes(types);
  st.addAttribute("axis", b_.getI64IntegerAttr(axis));
  mlir::Operation* o = b_.create(st);
  Local out{mlir::Value{}, t, std::nullopt, {}};
  for (size_t i = 0; i < t->elems.size(); ++i) out.elems.push_back({o->getResult(i), t->elems[i], std::nullopt, {}});
  return out;
}

// The path argument of load/save: a string literal.
std::string Lowerer::path_arg(const CallExpr* c, const Expr* e) {
  auto* s = e ? dyn_cast<StringLiteralExpr>(e) : nullptr;
  if (!s) unsupported(e ? e->range : c->range, "a file path that is not a string literal");
  if (s->value.empty()) unsupported(e->range, "an empty file path");
  return s->value;
}

// The runtime's .npy files and printing handle tensors of rank TESS_MAX_RANK at most: a higher
// rank is reported when compiling, at the call, not when the program runs.
void Lowerer::check_runtime_rank(mlir::Type t, const char* what, SourceRange r) {
  auto rt = mlir::dyn_cast<mlir::RankedTensorType>(t);
  if (rt && rt.getRank() > TESS_MAX_RANK)
    unsupported(r, fmt::format("{} a tensor of rank {} (the runtime handles rank {} at most)", what, rt.getRank(),
                               TESS_MAX_RANK));
}

// `w: Tensor[4, 16] = load("w.npy")`: the checker gave the load the annotation's type; the
// file's dtype and shape are checked against it at run time.
Local Lowerer::load(const CallExpr* c, const Type& t) {
  auto args = positional(c);
  const Expr* p = args.empty() ? keyword(c, "path") : args[0];
  if (!p) p = keyword(c, "file");
  std::string path = path_arg(c, p);
  if (!t || t->kind != TypeKind::Tensor || !t->shape)
    unsupported(c->range, "load(...) without a declared type (write `w: Tensor[..., dtype] = load(path)`)");
  mlir::Type mt = to_mlir(t, c->range);
  check_runtime_rank(mt, "loading", c->range);
  mlir::Value v = op("tessera.load", {}, mt, c->range, Type{}, {{"path", b_.getStringAttr(path)}});
  // A size named by a dimension symbol whose value is only known at run time is taken from the
  // file; every other load (or argument) with that symbol must have the same size, checked
  // when the program runs (two files that disagree would otherwise be read past their end).
  auto rt = mlir::cast<mlir::RankedTensorType>(mt);
  mlir::Location l = loc(c->range);
  for (size_t i = 0; i < t->shape->size(); ++i) {
    if (!rt.isDynamicDim(static_cast<int64_t>(i))) continue;
    auto name = (*t->shape)[i].as_symbol();
    if (!name || name->find('\'') != std::string::npos) continue;  // `_` sizes are fresh symbols
    mlir::Value size = op("tessera.dim", {v}, b_.getIndexType(), c->range, nullptr,
                          {{"axis", b_.getI64IntegerAttr(static_cast<int64_t>(i))}});
    auto seen = loaded_dims_.find(*name);
    if (seen != loaded_dims_.end()) {
      mlir::Value same = b_.create<mlir::arith::CmpIOp>(l, mlir::arith::CmpIPredicate::eq, size, seen->second.first);
      runtime_check(same,
                    fmt::format("runtime error: the dimension '{}' of {} differs from its size in {}, loaded before "
                                "(both are declared with '{}')",
                                *name, path, seen->second.second, *name),
                    c->range);
      continue;
    }
    if (auto param = dynamic_dim_value(*name)) {  // a size of the function's own arguments
      mlir::Value same = b_.create<mlir::arith::CmpIOp>(l, mlir::arith::CmpIPredicate::eq, size, *param);
      runtime_check(same,
                    fmt::format("runtime error: the dimension '{}' of {} differs from its size in the function's "
                                "arguments",
                                *name, path),
                    c->range);
      continue;
    }
    // The first file with the symbol gives its value, for later loads and for sizes computed
    // from it (a fit's latent variables of N elements); at the top level of the function, so
    // that it is defined wherever it is used.
    if (b_.getInsertionBlock() == entry_) loaded_dims_[*name] = {size, path};
  }
  return {v, t};
}

// `save(x, "out.npy")` (also `save("out.npy", x)`, NumPy's order).
Local Lowerer::save(const CallExpr* c, const Type& t) {
  auto args = positional(c);
  const Expr* value = keyword(c, "x");
  const Expr* p = keyword(c, "path");
  for (const Expr* a : args) {
    if (isa<StringLiteralExpr>(a) && !p) p = a;
    else if (!value) value = a;
  }
  if (!value) unsupported(c->range, "these arguments of save");
  std::string path = path_arg(c, p);
  Local x = expr(value);
  if (!mlir::isa<mlir::RankedTensorType>(x.value.getType())) unsupported(value->range, "saving a value that is not a tensor");
  check_runtime_rank(x.value.getType(), "saving", value->range);
  mlir::OperationState st(loc(c->range), "tessera.save");
  st.addOperands(x.value);
  st.addAttribute("path", b_.getStringAttr(path));
  b_.create(st);
  return {mlir::Value{}, t};
}

// A keyword argument given as an int or a pair (`stride=2`, `padding=(1, 0)`), as two values.
std::vector<int64_t> Lowerer::pair_arg(const CallExpr* c, const char* kw, int64_t dflt) {
  const Expr* e = keyword(c, kw);
  if (!e) return {dflt, dflt};
  if (auto* tu = dyn_cast<TupleExpr>(e); tu && tu->elements.size() == 2) {
    auto a = constant_int_expr(tu->elements[0]), b = constant_int_expr(tu->elements[1]);
    if (a && b) return {*a, *b};
  } else if (auto v = constant_int_expr(e)) {
    return {*v, *v};
  }
  unsupported(e->range, fmt::format("{}= that is not a constant int or pair", kw));
}

// exp, sqrt, ... of a Python scalar (`sqrt(D // H)`), computed in f64.
mlir::Value Lowerer::scalar_unary(const std::string& name, const Local& x, mlir::Type want, SourceRange r) {
  mlir::Location l = loc(r);
  mlir::Type f64 = b_.getF64Type();
  mlir::Value v = convert(x, f64, r);
  mlir::Value out;
  if (name == "exp") out = b_.create<mlir::math::ExpOp>(l, v);
  else if (name == "log") out = b_.create<mlir::math::LogOp>(l, v);
  else if (name == "log1p") out = b_.create<mlir::math::Log1pOp>(l, v);
  else if (name == "sqrt") out = b_.create<mlir::math::SqrtOp>(l, v);
  else if (name == "rsqrt") out = b_.create<mlir::math::RsqrtOp>(l, v);
  else if (name == "tanh") out = b_.create<mlir::math::TanhOp>(l, v);
  else if (name == "sin") out = b_.create<mlir::math::SinOp>(l, v);
  else if (name == "cos") out = b_.create<mlir::math::CosOp>(l, v);
  else if (name == "abs") out = b_.create<mlir::math::AbsFOp>(l, v);
  else if (name == "neg") out = b_.create<mlir::arith::NegFOp>(l, v);
  else unsupported(r, fmt::format("'{}' of a scalar", name));
  return convert({out, sema::float_type()}, want, r);
}

std::optional<double> Lowerer::constant_float(const Expr* e) {
  if (auto* f = dyn_cast<FloatLiteralExpr>(e)) return f->value;
  if (auto* i = dyn_cast<IntLiteralExpr>(e)) return static_cast<double>(i->value);
  if (auto* u = dyn_cast<UnaryExpr>(e); u && u->op == UnaryOp::Neg)
    if (auto v = constant_float(u->operand)) return -*v;
  return std::nullopt;
}

// A non-negative axis from a keyword or positional argument.
int64_t Lowerer::axis_arg(const CallExpr* c, std::string_view kw, int64_t dflt, const Local& x, size_t pos) {
  const Expr* e = keyword(c, kw);
  if (!e && pos != SIZE_MAX) {
    auto args = positional(c);
    if (pos < args.size()) e = args[pos];
  }
  int64_t a = dflt;
  if (e) {
    auto v = constant_int_expr(e);
    if (!v) unsupported(e->range, "an axis that is not a constant");
    a = *v;
  }
  int64_t rank = mlir::cast<mlir::RankedTensorType>(x.value.getType()).getRank();
  return a < 0 ? a + rank : a;
}

// `skip`: positional arguments before the axis (1 for `sum(x, 0)`, 0 for `x.sum(0)`); the axis
// is the next positional argument or the keyword `axis` (the checker's signature table).
Local Lowerer::reduce(const CallExpr* c, const std::string& kind, const Local& x, const Type& t, size_t skip) {
  auto xt = mlir::cast<mlir::RankedTensorType>(x.value.getType());
  std::vector<int64_t> axes;
  const Expr* ax = keyword(c, "axis");
  if (!ax) {
    auto pos = positional(c);
    if (pos.size() > skip) ax = pos[skip];
  }
  if (!ax) {
    for (int64_t i = 0; i < xt.getRank(); ++i) axes.push_back(i);
  } else if (auto* tup = dyn_cast<TupleExpr>(ax)) {
    for (const Expr* el : tup->elements) {
      auto v = constant_int_expr(el);
      if (!v) unsupported(el->range, "an axis that is not a constant");
      axes.push_back(*v < 0 ? *v + xt.getRank() : *v);
    }
  } else {
    auto v = constant_int_expr(ax);
    if (!v) unsupported(ax->range, "an axis that is not a constant");
    axes.push_back(*v < 0 ? *v + xt.getRank() : *v);
  }
  std::sort(axes.begin(), axes.end());
  bool keepdim = false;
  if (const Expr* k = keyword(c, "keepdim")) {
    auto* bl = dyn_cast<BoolLiteralExpr>(k);
    if (!bl) unsupported(k->range, "keepdim that is not True or False");
    keepdim = bl->value;
  }
  auto kind_attr = mlir::tessera::symbolizeReduceKind(kind);
  mlir::Type mt = to_mlir(t, c->range);
  // The reduction runs in the result's dtype (the input cast to it where they differ: `sum` of
  // bool counts in i64); mean, var, std and logsumexp of integers in f32 when the result is not
  // a float (docs/types.md). argmax/argmin give i64 of any input.
  bool arg = kind == "argmax" || kind == "argmin";
  bool needs_float = kind == "mean" || kind == "var" || kind == "std" || kind == "logsumexp";
  auto mrt = mlir::dyn_cast<mlir::RankedTensorType>(mt);
  mlir::Type out_elt = mrt ? mrt.getElementType() : mt;
  mlir::Type elt = arg ? xt.getElementType() : out_elt;
  if (needs_float && !mlir::isa<mlir::FloatType>(elt))
    elt = mlir::isa<mlir::FloatType>(xt.getElementType()) ? xt.getElementType() : b_.getF32Type();
  std::vector<int64_t> shape;
  for (int64_t i = 0; i < xt.getRank(); ++i) {
    if (!std::binary_search(axes.begin(), axes.end(), i)) shape.push_back(xt.getDimSize(i));
    else if (keepdim) shape.push_back(1);
  }
  auto rt = mlir::RankedTensorType::get(shape, arg ? b_.getI64Type() : elt);
  mlir::Value r = op("tessera.reduce", {with_element(x, elt, c->range)}, rt, c->range, t,
                     {{"kind", mlir::tessera::ReduceKindAttr::get(&ctx_, *kind_attr)},
                      {"axes", b_.getDenseI64ArrayAttr(axes)},
                      {"keepdim", keepdim ? b_.getUnitAttr() : mlir::Attribute{}}});
  return {convert({r, t}, mt, c->range), t};
}

// `float(x)`, `int(x)`, `x.item()`: a scalar of a scalar or of a one-element tensor (any rank;
// another element count is a run-time error, as in PyTorch). `int` truncates toward zero
// (Python); a NaN, an infinity or a float outside the i64 range is a run-time error.
mlir::Value Lowerer::scalar_conversion(const std::string& what, const Local& x, mlir::Type want, SourceRange r) {
  mlir::Location l = loc(r);
  mlir::Value v = x.value;
  if (!v) unsupported(r, fmt::format("{}() of this value", what));
  if (auto tt = mlir::dyn_cast<mlir::RankedTensorType>(v.getType())) {
    mlir::Value numel = b_.create<mlir::arith::ConstantIndexOp>(l, 1);
    for (int64_t d = 0; d < tt.getRank(); ++d)
      numel = b_.create<mlir::arith::MulIOp>(l, numel, b_.create<mlir::tensor::DimOp>(l, v, d));
    mlir::Value one = b_.create<mlir::arith::ConstantIndexOp>(l, 1);
    runtime_check(b_.create<mlir::arith::CmpIOp>(l, mlir::arith::CmpIPredicate::eq, numel, one),
                  fmt::format("runtime error: {}() of a tensor that does not have exactly one element", what), r);
    mlir::Value zero = b_.create<mlir::arith::ConstantIndexOp>(l, 0);
    std::vector<mlir::Value> at(static_cast<size_t>(tt.getRank()), zero);
    v = b_.create<mlir::tensor::ExtractOp>(l, v, at);
  }
  if (!mlir::isa<mlir::IntegerType>(v.getType()) && !mlir::isa<mlir::FloatType>(v.getType()))
    unsupported(r, fmt::format("{}() of this value", what));
  if (mlir::isa<mlir::FloatType>(v.getType()) && mlir::isa<mlir::IntegerType>(want)) {
    mlir::Value wide = convert_scalar(v, b_.getF64Type(), r);
    mlir::Value limit = b_.create<mlir::arith::ConstantOp>(l, b_.getF64FloatAttr(9223372036854775808.0));
    mlir::Value mag = b_.create<mlir::math::AbsFOp>(l, wide);
    // OLT is false for NaN: one comparison rejects NaN, infinities and values out of range.
    runtime_check(b_.create<mlir::arith::CmpFOp>(l, mlir::arith::CmpFPredicate::OLT, mag, limit),
                  "runtime error: int() of a NaN, an infinity or a float outside the 64-bit integer range", r);
    return b_.create<mlir::arith::FPToSIOp>(l, want, wide);
  }
  return convert_scalar(v, want, r);
}

// `skip`: positional arguments that are not the method's own (the tensor of `transpose(x, ...)`).
Local Lowerer::method(const CallExpr* c, const std::string& name, const Local& x, const Type& t, size_t skip) {
  if (name == "split") return split(c, x, t, skip);
  mlir::Type mt = t && t->kind != TypeKind::None ? to_mlir(t, c->range) : mlir::Type{};
  if (name == "item" && c->args.empty()) return {scalar_conversion("item", x, mt, c->range), t};
  if (kReductions.count(name)) return reduce(c, kReductions.at(name), x, t, skip);
  if (name == "reshape" || name == "view") {
    for (const Argument& a : c->args)
      if (varies(a.value)) unsupported(a.range, fmt::format("a size of {}(...) that changes at run time", name));
    std::vector<mlir::Value> dyn = dynamic_dims(t, mt, c->range);
    auto xt = mlir::cast<mlir::RankedTensorType>(x.value.getType());
    auto rt = mlir::cast<mlir::RankedTensorType>(mt);
    if (!xt.hasStaticShape() || !rt.hasStaticShape()) {
      // Sizes known at run time only (a -1 over dynamic dimensions): the element counts must
      // agree, or the -1 does not divide (10 elements into (3, -1)): a run-time error.
      mlir::Location l = loc(c->range);
      auto count = [&](mlir::RankedTensorType tt, auto dim_of) {
        mlir::Value n = b_.create<mlir::arith::ConstantIndexOp>(l, 1);
        size_t k = 0;
        for (int64_t i = 0; i < tt.getRank(); ++i) {
          mlir::Value d = tt.isDynamicDim(i) ? dim_of(i, k++)
                                             : b_.create<mlir::arith::ConstantIndexOp>(l, tt.getDimSize(i)).getResult();
          n = b_.create<mlir::arith::MulIOp>(l, n, d);
        }
        return n;
      };
      mlir::Value in = count(xt, [&](int64_t i, size_t) { return b_.create<mlir::tensor::DimOp>(l, x.value, i).getResult(); });
      mlir::Value out = count(rt, [&](int64_t, size_t k) { return dyn.at(k); });
      runtime_check(b_.create<mlir::arith::CmpIOp>(l, mlir::arith::CmpIPredicate::eq, in, out),
                    fmt::format("runtime error: {}(...) changes the number of elements (a -1 that does not divide)", name),
                    c->range);
    }
    return {op("tessera.reshape", concat({x.value}, dyn), mt, c->range, t), t};
  }
  if (name == "transpose" || name == "permute") {
    auto args = positional(c);
    args.erase(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(std::min(skip, args.size())));
    auto xt = mlir::cast<mlir::RankedTensorType>(x.value.getType());
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < xt.getRank(); ++i) perm.push_back(i);
    std::vector<int64_t> given;
    for (const Expr* a : args) {
      auto v = constant_int_expr(a);
      if (!v) unsupported(a->range, "an axis that is not a constant");
      given.push_back(*v < 0 ? *v + xt.getRank() : *v);
    }
    if (given.size() == 2 && xt.getRank() != 2) std::swap(perm[given[0]], perm[given[1]]);
    else if (given.size() == static_cast<size_t>(xt.getRank())) perm = given;
    else if (given.empty() && xt.getRank() == 2) std::swap(perm[0], perm[1]);
    else if (given.size() == 2) std::swap(perm[given[0]], perm[given[1]]);
    else unsupported(c->range, "these transpose arguments");
    return {op("tessera.transpose", {x.value}, mt, c->range, t, {{"perm", b_.getDenseI64ArrayAttr(perm)}}), t};
  }
  if (name == "unsqueeze") {
    auto args = positional(c);
    if (args.size() != 1) unsupported(c->range, "these unsqueeze arguments");
    auto v = constant_int_expr(args[0]);
    if (!v) unsupported(args[0]->range, "an axis that is not a constant");
    int64_t rank = mlir::cast<mlir::RankedTensorType>(mt).getRank();
    return {op("tessera.unsqueeze", {x.value}, mt, c->range, t, {{"axis", b_.getI64IntegerAttr(*v < 0 ? *v + rank : *v)}}), t};
  }
  if (name == "astype") return {convert(x, mt, c->range), t};
  if (name == "clamp") {
    std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs;
    auto args = positional(c);
    args.erase(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(std::min(skip, args.size())));
    const Expr* lo = keyword(c, "min");
    const Expr* hi = keyword(c, "max");
    if (!lo && !args.empty()) lo = args[0];
    if (!hi && args.size() > 1) hi = args[1];
    for (auto [k, e] : {std::pair<llvm::StringRef, const Expr*>{"min", lo}, {"max", hi}}) {
      if (!e) continue;
      auto v = constant_float(e);
      if (!v) unsupported(e->range, "clamp bounds that are not constants");
      attrs.push_back({k, b_.getF64FloatAttr(*v)});
    }
    return {op("tessera.clamp", {convert(x, mt, c->range)}, mt, c->range, t, attrs), t};
  }
  if (name == "broadcast_to") {
    return {op("tessera.broadcast_to", concat({x.value}, dynamic_dims(t, mt, c->range)), mt, c->range, t), t};
  }
  if (kUnary.count(name)) return {op("tessera." + name, {convert(x, mt, c->range)}, mt, c->range, t), t};
  if (name == "softmax" || name == "log_softmax") {
    int64_t axis = axis_arg(c, "axis", -1, x, 0);
    return {op("tessera." + name, {x.value}, mt, c->range, t, {{"axis", b_.getI64IntegerAttr(axis)}}), t};
  }
  unsupported(c->range, fmt::format("the method '.{}'", name));
}

std::vector<mlir::Value> Lowerer::concat(std::vector<mlir::Value> a, const std::vector<mlir::Value>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// `tensor([1.0, 2.0])`: a dense constant when every element is a literal.
Local Lowerer::tensor_literal(const CallExpr* c, const Type& t, mlir::Type mt) {
  auto args = positional(c);
  if (args.size() != 1) unsupported(c->range, "these tensor(...) arguments");
  auto rt = mlir::dyn_cast<mlir::RankedTensorType>(mt);
  if (!rt || !rt.hasStaticShape()) unsupported(c->range, "a tensor literal without a static shape");
  // Elements that are values of the program (tensor([r, 2 * r]), tensor(i) of a loop variable):
  // each converted to the element type, in one tensor.from_elements.
  std::vector<const Expr*> leaves;
  std::function<void(const Expr*)> gather = [&](const Expr* e) {
    if (auto* l = dyn_cast<ListExpr>(e)) {
      for (const Expr* el : l->elements) gather(el);
    } else if (auto* tu = dyn_cast<TupleExpr>(e)) {
      for (const Expr* el : tu->elements) gather(el);
    } else {
      leaves.push_back(e);
    }
  };
  gather(args[0]);
  bool constant = std::all_of(leaves.begin(), leaves.end(),
                              [&](const Expr* e) { return isa<BoolLiteralExpr>(e) || constant_float(e).has_value(); });
  if (!constant) {
    if (static_cast<int64_t>(leaves.size()) != rt.getNumElements()) unsupported(c->range, "a ragged tensor literal");
    auto scalar_t = mlir::RankedTensorType::get({}, rt.getElementType());
    std::vector<mlir::Value> elems;
    for (const Expr* e : leaves) {
      Local v = expr(e);
      if (auto vt = mlir::dyn_cast<mlir::RankedTensorType>(v.value.getType()); vt && vt.getRank() != 0)
        unsupported(e->range, "a tensor literal with an element that is a tensor (use stack or concat)");
      mlir::Value one = convert(v, scalar_t, e->range);
      elems.push_back(b_.create<mlir::tensor::ExtractOp>(loc(e->range), one, mlir::ValueRange{}));
    }
    return {b_.create<mlir::tensor::FromElementsOp>(loc(c->range), rt, elems), t};
  }
  std::vector<double> values;
  std::function<void(const Expr*)> flatten = [&](const Expr* e) {
    if (auto* l = dyn_cast<ListExpr>(e)) {
      for (const Expr* el : l->elements) flatten(el);
      return;
    }
    if (auto* tu = dyn_cast<TupleExpr>(e)) {
      for (const Expr* el : tu->elements) flatten(el);
      return;
    }
    if (auto* bl = dyn_cast<BoolLiteralExpr>(e)) {
      values.push_back(bl->value ? 1.0 : 0.0);
      return;
    }
    auto v = constant_float(e);
    if (!v) unsupported(e->range, "a tensor literal with an element that is not a number");
    values.push_back(*v);
  };
  flatten(args[0]);
  if (static_cast<int64_t>(values.size()) != rt.getNumElements()) unsupported(c->range, "a ragged tensor literal");
  mlir::Type elt = rt.getElementType();
  std::vector<mlir::Attribute> attrs;
  for (double v : values) {
    if (mlir::isa<mlir::FloatType>(elt)) attrs.push_back(b_.getFloatAttr(elt, v));
    else attrs.push_back(b_.getIntegerAttr(elt, static_cast<int64_t>(v)));
  }
  auto dense = mlir::DenseElementsAttr::get(rt, attrs);
  return {b_.create<mlir::arith::ConstantOp>(loc(c->range), dense), t};
}

// `print(a, "text", b)`: literal strings go into the format, values are operands.
Local Lowerer::print(const CallExpr* c, const Type& t) {
  std::vector<mlir::Attribute> format;
  std::vector<mlir::Value> operands;
  // print(post.summary()): the Posterior's table, on its own.
  for (const Expr* a : positional(c)) {
    auto* call = dyn_cast<CallExpr>(a);
    auto* at = call ? dyn_cast<AttributeExpr>(call->callee) : nullptr;
    if (!at || at->name != "summary") continue;
    Type ot = type_of(at->object);
    if (!ot || ot->kind != TypeKind::Posterior) continue;
    if (positional(c).size() != 1 || c->args.size() != 1)
      unsupported(c->range, "printing a Posterior's summary() with other values (print it on its own)");
    mlir::OperationState st(loc(c->range), "tessera.posterior_summary");
    st.addOperands(expr(at->object).value);
    checked(b_.create(st), c->range);
    return {mlir::Value{}, t};
  }
  for (const Expr* a : positional(c)) {
    if (auto* s = dyn_cast<StringLiteralExpr>(a)) {
      format.push_back(b_.getStringAttr(mlir::tessera::PrintOp::escapeLiteral(s->value)));
      continue;
    }
    if (auto* at = dyn_cast<AttributeExpr>(a); at && at->name == "shape") {
      // A static shape prints as a Python tuple: `(784, 256)`, `(5,)`, `()`.
      auto rt = mlir::dyn_cast<mlir::RankedTensorType>(expr(at->object).value.getType());
      if (!rt || !rt.hasStaticShape()) unsupported(a->range, "printing a shape that is not known at compile time");
      std::string text = "(";
      for (int64_t i = 0; i < rt.getRank(); ++i) text += (i ? ", " : "") + std::to_string(rt.getDimSize(i));
      text += rt.getRank() == 1 ? ",)" : ")";
      format.push_back(b_.getStringAttr(mlir::tessera::PrintOp::escapeLiteral(text)));
      continue;
    }
    Local v = expr(a);
    if (v.object == "params") {
      // One `name: Tensor[shape]` line per parameter, then its values (docs/models.md); what
      // comes before the bundle in the same print is a line of its own.
      auto emit = [&](std::vector<mlir::Attribute> fmt_, std::vector<mlir::Value> vals) {
        mlir::OperationState st(loc(c->range), "tessera.print");
        st.addOperands(vals);
        st.addAttribute("format", b_.getArrayAttr(fmt_));
        b_.create(st);
      };
      if (!format.empty()) emit(format, operands);
      format.clear();
      operands.clear();
      for (size_t i = 0; i < v.names.size(); ++i) {
        std::string head = v.names[i] + ": " + sema::to_string(v.elems[i].type);
        emit({b_.getStringAttr(mlir::tessera::PrintOp::escapeLiteral(head))}, {});
        emit({b_.getStringAttr("{}")}, {v.elems[i].value});
      }
      continue;
    }
    if (!v.value) unsupported(a->range, "printing this value");
    check_runtime_rank(v.value.getType(), "printing", a->range);
    format.push_back(b_.getStringAttr("{}"));
    operands.push_back(v.value);
  }
  if (!c->args.empty() && positional(c).size() != c->args.size()) unsupported(c->range, "keyword arguments of print");
  if (format.empty() && !c->args.empty()) return {mlir::Value{}, t};  // ended with a Params bundle
  mlir::OperationState st(loc(c->range), "tessera.print");
  st.addOperands(operands);
  st.addAttribute("format", b_.getArrayAttr(format));
  b_.create(st);
  return {mlir::Value{}, t};
}

// The specialized callee of a user call and its arguments, converted to its parameter types.
// With `bound_values`, also the argument values in parameter order (a Params bundle whole).
// `skip`: positional arguments of `c` before the callee's (vjp's function); `given`: the
// positional arguments instead of c's (the primals tuple of jvp).
std::pair<mlir::func::FuncOp, std::vector<mlir::Value>> Lowerer::bind_call(const CallExpr* c,
                                                                           const sema::CallTarget& target,
                                                                           std::vector<Local>* bound_values,
                                                                           size_t skip,
                                                                           const std::vector<const Expr*>* given,
                                                                           int role) {
  const sema::TypedFunction& callee = *target.callee;
  if (role != 4)
    for (const std::string& d : callee.decorators)
      if (d == "probabilistic")
        unsupported(c->range, fmt::format("calling the @probabilistic function '{}' other than on the right of '~' "
                                          "(a conditional distribution: `y ~ {}(...)` in a probabilistic function)",
                                          callee.name, callee.name));
  SpecKey key = call_key(target);
  key.role = role;
  // Arguments in parameter order (positional, then keywords by name, then defaults).
  std::vector<const Expr*> bound(callee.params.size(), nullptr);
  const Expr* params_kw = nullptr;
  size_t i = 0;
  for (const Argument& a : c->args) {
    if (a.kind == ArgKind::Positional) {
      if (skip > 0) {
        --skip;
        continue;
      }
      if (given) continue;
      if (i < bound.size()) bound[i++] = a.value;
    } else if (a.kind == ArgKind::Keyword) {
      bool found = false;
      for (size_t k = 0; k < callee.params.size(); ++k)
        if (callee.params[k].name == a.name) bound[k] = a.value, found = true;
      if (!found && a.name == "params" && callee.is_model) params_kw = a.value;
    } else {
      unsupported(a.range, "'*' and '**' arguments");
    }
  }
  if (given)
    for (size_t k = 0; k < given->size() && k < bound.size(); ++k) bound[k] = (*given)[k];
  std::vector<Local> values;
  for (size_t k = 0; k < bound.size(); ++k) {
    if (!bound[k]) unsupported(c->range, fmt::format("a call that leaves '{}' to its default value", callee.params[k].name));
    values.push_back(expr(bound[k]));
    if (values.back().object == "params") {
      auto& layout = key.layouts[k];
      for (size_t q = 0; q < values.back().names.size(); ++q)
        layout.push_back({values.back().names[q], values.back().elems[q].type});
    } else if (callee.params[k].type && callee.params[k].type->kind == TypeKind::Params) {
      unsupported(bound[k]->range, "Params that are not known here (from ts.init, an optimizer or a Params argument)");
    }
  }
  // A model's parameters: from `params=`, or the caller's own (a model inside a model).
  std::vector<Local> model_values;
  if (callee.is_model) {
    if (params_kw) {
      Local bundle = params_value(params_kw);
      std::vector<std::string> names;
      for (const auto& p : callee.model_params) names.push_back(p.name);
      model_values = by_names(bundle, names, params_kw->range);
    } else if (auto it = fn_->layer_params.find(c); it != fn_->layer_params.end()) {
      for (size_t q = 0; q < callee.model_params.size(); ++q) model_values.push_back(model_args_.at(it->second + q));
    } else {
      unsupported(c->range, fmt::format("calling the model '{}' without params=", callee.name));
    }
  }
  mlir::func::FuncOp f = declare(key);
  std::vector<mlir::Value> args;
  auto ftype = f.getFunctionType();
  size_t in = role == 4 ? 1 : 0;  // a conditional distribution takes its latents' coordinates first
  for (size_t k = 0; k < values.size(); ++k) {
    if (values[k].object == "params") {
      for (const Local& e : values[k].elems) args.push_back(convert(e, ftype.getInput(in++), bound[k]->range));
      continue;
    }
    args.push_back(convert(values[k], ftype.getInput(in++), bound[k]->range));
  }
  for (const Local& v : model_values) args.push_back(convert(v, ftype.getInput(in++), c->range));
  if (bound_values) *bound_values = values;
  return {f, args};
}

// The specialization a call selects: the callee with the dimensions the call fixes.
SpecKey Lowerer::call_key(const sema::CallTarget& target) {
  SpecKey key{target.callee, {}, {}};
  for (const std::string& d : target.callee->dims) {
    auto it = target.dims.find(d);
    if (it == target.dims.end()) continue;
    if (auto v = static_dim(it->second)) key.dims[d] = *v;
  }
  return key;
}

Local Lowerer::user_call(const CallExpr* c, const sema::CallTarget& target, const Type& t) {
  auto [f, args] = bind_call(c, target);
  const sema::TypedFunction& callee = *target.callee;
  auto call = b_.create<mlir::func::CallOp>(loc(c->range), f, args);
  calls_.push_back({current_func_.getOperation(), f.getOperation(), callee.name, c->range});
  if (call.getNumResults() == 0) return {mlir::Value{}, t};
  size_t next = 0;
  auto layout = returned_layouts_.find(f.getOperation());
  return unflatten(t, call.getResults(), next, layout == returned_layouts_.end() ? nullptr : &layout->second);
}

// solve_triangular(A, B, *, upper, left=True) (torch.linalg.solve_triangular) on
// tessera.triangular_solve, which solves with the lower triangle of its first operand, or with
// that triangle's transpose: upper A is the transpose of the lower A^T; left=False solves
// A^T X^T = B^T.
Local Lowerer::solve_triangular(const CallExpr* c, const Type& t, mlir::Type mt) {
  auto args = positional(c);
  const Expr* a_e = args.size() > 0 ? args[0] : keyword(c, "A");
  const Expr* b_e = args.size() > 1 ? args[1] : keyword(c, "B");
  auto flag = [&](const char* n, bool dflt) {
    const Expr* e = keyword(c, n);
    if (!e) return dflt;
    auto* lit = dyn_cast<BoolLiteralExpr>(e);
    if (!lit) unsupported(e->range, fmt::format("solve_triangular with {}= that is not True or False", n));
    return lit->value;
  };
  bool upper = flag("upper", false), left = flag("left", true);
  auto rt = mlir::cast<mlir::RankedTensorType>(mt);
  Local av = expr(a_e);
  auto at = mlir::cast<mlir::RankedTensorType>(av.value.getType());
  mlir::Value a = convert(av, mlir::RankedTensorType::get(at.getShape(), rt.getElementType()), a_e->range);
  mlir::Value bm = convert(expr(b_e), rt, b_e->range);
  auto last2 = [&](mlir::Value v) {
    auto vt = mlir::cast<mlir::RankedTensorType>(v.getType());
    std::vector<int64_t> perm, shape;
    for (int64_t i = 0; i < vt.getRank(); ++i) perm.push_back(i);
    std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
    for (int64_t p : perm) shape.push_back(vt.getDimSize(p));
    return op("tessera.transpose", {v}, mlir::RankedTensorType::get(shape, vt.getElementType()), c->range, nullptr,
              {{"perm", b_.getDenseI64ArrayAttr(perm)}});
  };
  auto solve = [&](mlir::Value tri, mlir::Value rhs, bool transpose) {
    return op("tessera.triangular_solve", {tri, rhs}, rhs.getType(), c->range, nullptr,
              {{"transpose", b_.getBoolAttr(transpose)}});
  };
  if (left) {
    // A X = B: lower A directly; upper A = (A^T)^T with A^T lower.
    return {upper ? solve(last2(a), bm, true) : solve(a, bm, false), t};
  }
  // X A = B: A^T X^T = B^T, where A^T is upper when A is lower.
  mlir::Value y = upper ? solve(last2(a), last2(bm), false) : solve(a, last2(bm), true);
  return {last2(y), t};
}

}  // namespace tessera::ir::lowering
