// Typed AST -> Graph IR. Models and parameters (docs/models.md): layer calls, ts.init, Params
// arithmetic, save/load of Params, learning-rate schedules, optimizers, gradient clipping.
#include "ir/graph/lower_to_graph_internal.h"

namespace tessera::ir::lowering {

// A rank-0 constant of `like`'s element type (the elementwise ops broadcast it).
mlir::Value Lowerer::scalar_of(mlir::Type like, double v, SourceRange r) {
  mlir::Type elt = mlir::cast<mlir::RankedTensorType>(like).getElementType();
  auto rt0 = mlir::RankedTensorType::get({}, elt);
  return b_.create<mlir::arith::ConstantOp>(loc(r), mlir::DenseElementsAttr::get(rt0, b_.getFloatAttr(elt, v)));
}

// An f64 scalar as a rank-0 tensor of `like`'s element type.
mlir::Value Lowerer::scalar_value(mlir::Type like, mlir::Value f64, SourceRange r) {
  mlir::Type elt = mlir::cast<mlir::RankedTensorType>(like).getElementType();
  return convert({f64, sema::float_type()}, mlir::RankedTensorType::get({}, elt), r);
}

mlir::Value Lowerer::ew(const char* name, mlir::Value a, mlir::Value b, SourceRange r) {
  return op(name, {a, b}, a.getType(), r, nullptr);
}

mlir::Value Lowerer::ew1(const char* name, mlir::Value a, SourceRange r) {
  return op(name, {a}, a.getType(), r, nullptr);
}

double Lowerer::float_kw(const CallExpr* c, const char* kw, double dflt) {
  const Expr* e = keyword(c, kw);
  if (!e) return dflt;
  auto v = constant_float(e);
  if (!v) unsupported(e->range, fmt::format("{}= that is not a number constant", kw));
  return *v;
}

// A layer call of a model: the functional op on the model's own parameter arguments.
Local Lowerer::layer_call(const CallExpr* c, size_t first, const Type& t) {
  std::string name = builtin_name(c->callee);
  auto args = positional(c);
  mlir::Type mt = to_mlir(t, c->range);
  auto param = [&](size_t k) { return model_args_.at(first + k).value; };
  if (args.empty()) unsupported(c->range, "a layer call without its input");
  mlir::Value x = expr(args[0]).value;
  auto build = [&](llvm::StringRef opname, std::vector<mlir::Value> operands,
                   std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs) -> Local {
    mlir::OperationState st(loc(c->range), opname);
    st.addOperands(operands);
    st.addTypes(mt);
    for (auto& [k, v] : attrs) st.addAttribute(k, v);
    if (mlir::Attribute p = policy_attr(t)) st.addAttribute("policy", p);
    return {checked(b_.create(st), c->range)->getResult(0), t};
  };
  if (name == "linear") return build("tessera.linear", {x, param(0), param(1)}, {});
  if (name == "embedding") return {op("tessera.embedding", {param(0), x}, mt, c->range, t), t};
  double eps = float_kw(c, "eps", 1e-5);
  if (name == "layer_norm")
    return build("tessera.layer_norm", {x, param(0), param(1)},
                 {{"eps", b_.getF64FloatAttr(eps)},
                  {"axis", b_.getI64IntegerAttr(mlir::cast<mlir::RankedTensorType>(mt).getRank() - 1)},
                  {"operandSegmentSizes", b_.getDenseI32ArrayAttr({1, 1, 1})}});
  if (name == "rms_norm") return build("tessera.rms_norm", {x, param(0)}, {{"eps", b_.getF64FloatAttr(eps)}});
  if (name == "group_norm") {
    const Expr* g = args.size() > 1 ? args[1] : keyword(c, "num_groups");
    if (!g) g = keyword(c, "groups");
    auto groups = g ? constant_int_expr(g) : std::nullopt;
    if (!groups) unsupported(c->range, "group_norm with a number of groups that is not a constant");
    return build("tessera.group_norm", {x, param(0), param(1)},
                 {{"groups", b_.getI64IntegerAttr(*groups)},
                  {"eps", b_.getF64FloatAttr(eps)},
                  {"operandSegmentSizes", b_.getDenseI32ArrayAttr({1, 1, 1})}});
  }
  if (name == "conv2d") {
    auto pair = [&](const char* kw, int64_t dflt) { return b_.getDenseI64ArrayAttr(pair_arg(c, kw, dflt)); };
    return {op("tessera.conv2d", {x, param(0), param(1)}, mt, c->range, t,
               {{"stride", pair("stride", 1)}, {"padding", pair("padding", 0)}, {"dilation", pair("dilation", 1)},
                {"groups", b_.getI64IntegerAttr(pair_arg(c, "groups", 1)[0])}}),
            t};
  }
  if (name == "multi_head_attention") return multi_head_attention(c, x, param, t);
  unsupported(c->range, fmt::format("the layer 'nn.{}'", name));
}

// nn.multi_head_attention(x, num_heads, causal=): q, k, v = the projections of x, each split
// into H heads ([..., S, D] -> [..., S, H, D/H] -> [..., H, S, D/H]), scaled dot-product
// attention per head (tessera.attention, flash-style), the heads merged back and projected by
// w_o, b_o. The parameters are w_q b_q w_k b_k w_v b_v w_o b_o, in that order (sema).
template <typename Param>
Local Lowerer::multi_head_attention(const CallExpr* c, mlir::Value x, Param param, const Type& t) {
  auto args = positional(c);
  const Expr* he = args.size() > 1 ? args[1] : keyword(c, "num_heads");
  auto heads = he ? constant_int_expr(he) : std::nullopt;
  if (!heads || *heads < 1) unsupported(c->range, "nn.multi_head_attention with num_heads that is not a constant");
  if (!t || !t->shape || t->shape->size() < 2) unsupported(c->range, "nn.multi_head_attention of this input");
  std::vector<DimExpr> shape = *t->shape;
  size_t rank = shape.size();
  DimExpr hd = DimExpr::constant(*heads), dh = floordiv(shape.back(), hd);
  std::vector<DimExpr> split = shape;  // [..., S, H, Dh]
  split.back() = hd;
  split.push_back(dh);
  std::vector<DimExpr> per_head = split;  // [..., H, S, Dh]
  std::swap(per_head[rank - 1], per_head[rank - 2]);
  Type split_t = sema::tensor_type(t->dtype, split), head_t = sema::tensor_type(t->dtype, per_head);
  mlir::Type mt = to_mlir(t, c->range), split_mt = to_mlir(split_t, c->range), head_mt = to_mlir(head_t, c->range);
  std::vector<int64_t> perm;
  for (size_t i = 0; i < rank + 1; ++i) perm.push_back(static_cast<int64_t>(i));
  std::swap(perm[rank - 1], perm[rank - 2]);
  auto perm_attr = b_.getDenseI64ArrayAttr(perm);
  SourceRange r = c->range;
  auto project = [&](mlir::Value in, size_t k) { return op("tessera.linear", {in, param(2 * k), param(2 * k + 1)}, mt, r, t); };
  auto to_heads = [&](mlir::Value v) {
    mlir::Value s = op("tessera.reshape", concat({v}, dynamic_dims(split_t, split_mt, r)), split_mt, r, split_t);
    return op("tessera.transpose", {s}, head_mt, r, head_t, {{"perm", perm_attr}});
  };
  std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs;
  if (const Expr* k = keyword(c, "causal")) {
    auto* bl = dyn_cast<BoolLiteralExpr>(k);
    if (!bl) unsupported(k->range, "causal= that is not True or False");
    if (bl->value) attrs.push_back({"causal", b_.getUnitAttr()});
  }
  mlir::Value o = op("tessera.attention", {to_heads(project(x, 0)), to_heads(project(x, 1)), to_heads(project(x, 2))},
                     head_mt, r, head_t, attrs);
  mlir::Value back = op("tessera.transpose", {o}, split_mt, r, split_t, {{"perm", perm_attr}});
  mlir::Value merged = op("tessera.reshape", concat({back}, dynamic_dims(t, mt, r)), mt, r, t);
  return {project(merged, 3), t};
}

// ts.init(model, seed=0, D=512): each parameter from its initializer, drawn from one Philox
// stream (the seed) at consecutive counters, in declaration order.
Local Lowerer::init_params(const CallExpr* c, const sema::TypedFunction& model, const Type& t) {
  if (!t || t->kind != TypeKind::Params || t->fields.size() != model.model_params.size())
    unsupported(c->range, "ts.init of this model");
  int64_t seed = 0;
  std::map<std::string, DimExpr> subst;
  for (const Argument& a : c->args) {
    if (a.kind != ArgKind::Keyword) continue;
    auto v = constant_int_expr(a.value);
    if (!v) unsupported(a.range, fmt::format("{}= that is not a constant", a.name));
    if (a.name == "seed") seed = *v;
    else subst.emplace(a.name, DimExpr::constant(*v));
  }
  Local bundle;
  bundle.type = t;
  bundle.object = "params";
  int64_t offset = 0;
  for (size_t i = 0; i < model.model_params.size(); ++i) {
    const sema::ModelParam& p = model.model_params[i];
    mlir::Type mt = to_mlir(t->elems[i], c->range);
    auto rt = mlir::cast<mlir::RankedTensorType>(mt);
    if (!rt.hasStaticShape()) unsupported(c->range, fmt::format("ts.init of '{}', whose shape is not constant", p.name));
    std::vector<std::pair<llvm::StringRef, mlir::Attribute>> rng{{"seed", b_.getI64IntegerAttr(seed)},
                                                                 {"offset", b_.getI64IntegerAttr(offset)}};
    mlir::Value v;
    switch (p.init) {
      case sema::ParamInit::Zeros: v = op("tessera.zeros", {}, mt, c->range, nullptr); break;
      case sema::ParamInit::Ones: v = op("tessera.ones", {}, mt, c->range, nullptr); break;
      case sema::ParamInit::Normal: v = op("tessera.randn", {}, mt, c->range, nullptr, rng); break;
      case sema::ParamInit::UniformFanIn: {
        DimExpr fan = p.fan_in.substitute(subst);
        if (!fan.is_constant() || fan.constant_value() < 1) unsupported(c->range, fmt::format("the fan-in of '{}'", p.name));
        double bound = 1.0 / std::sqrt(static_cast<double>(fan.constant_value()));
        mlir::Value u = op("tessera.rand", {}, mt, c->range, nullptr, rng);
        v = ew("tessera.sub", ew("tessera.mul", u, scalar_of(mt, 2 * bound, c->range), c->range),
               scalar_of(mt, bound, c->range), c->range);
        break;
      }
    }
    if (p.init == sema::ParamInit::Normal || p.init == sema::ParamInit::UniformFanIn)
      offset += (rt.getNumElements() + 3) / 4 * 4;
    bundle.names.push_back(p.name);
    bundle.elems.push_back({v, t->elems[i]});
  }
  return bundle;
}

Local Lowerer::params_value(const Expr* e) {
  Local v = expr(e);
  if (v.object != "params") unsupported(e->range, "Params that are not known here (from ts.init, an optimizer or a Params argument)");
  return v;
}

// save(params, "p.npz"): one tessera.save per tensor, marked as a member of the archive; the
// last one writes it (docs/models.md).
Local Lowerer::save_params(const CallExpr* c, const Type& t) {
  auto args = positional(c);
  if (args.size() != 2) unsupported(c->range, "save of Params with other than (params, path)");
  Local bundle = params_value(args[0]);
  std::string path = path_arg(c, args[1]);
  if (bundle.elems.empty()) unsupported(c->range, "saving Params without parameters");
  for (size_t i = 0; i < bundle.elems.size(); ++i) {
    mlir::OperationState st(loc(c->range), "tessera.save");
    st.addOperands(bundle.elems[i].value);
    st.addAttribute("path", b_.getStringAttr(path));
    st.addAttribute("member", b_.getStringAttr(bundle.names[i]));
    if (i + 1 == bundle.elems.size()) st.addAttribute("commit", b_.getUnitAttr());
    b_.create(st);
  }
  return {mlir::Value{}, t};
}

// load("p.npz", like=params): one tessera.load of each member, in the layout of `like` (its
// names and tensor types, known from the checker; its values are not needed).
Local Lowerer::load_params(const CallExpr* c, const Type& t) {
  auto args = positional(c);
  const Expr* p = args.empty() ? keyword(c, "path") : args[0];
  if (!p) p = keyword(c, "file");
  std::string path = path_arg(c, p);
  if (t->fields.empty() || t->fields.size() != t->elems.size())
    unsupported(c->range, "load(..., like=p) where the layout of p is not known here");
  Local bundle{mlir::Value{}, t};
  bundle.object = "params";
  for (size_t i = 0; i < t->fields.size(); ++i) {
    mlir::Type mt = to_mlir(t->elems[i], c->range);
    mlir::Value v = op("tessera.load", {}, mt, c->range, Type{},
                       {{"path", b_.getStringAttr(path)}, {"member", b_.getStringAttr(t->fields[i])}});
    bundle.names.push_back(t->fields[i]);
    bundle.elems.push_back({v, t->elems[i]});
  }
  return bundle;
}

// `params - 0.1 * grads`: the operation on each tensor (matched by name), or with a number.
Local Lowerer::params_binary(BinaryOp bop, const Local& l, const Local& r, const Type& t, SourceRange range) {
  const Local& p = l.object == "params" ? l : r;
  Local out = p;
  out.type = t;
  std::vector<Local> others;
  bool both = l.object == "params" && r.object == "params";
  if (both) others = by_names(l.object == "params" && &p == &l ? r : l, p.names, range);
  for (size_t i = 0; i < p.elems.size(); ++i) {
    const Local& mine = p.elems[i];
    const Local& other = both ? others[i] : (&p == &l ? r : l);
    Local a = &p == &l ? mine : other, b = &p == &l ? other : mine;
    out.elems[i] = binary(bop, a, b, mine.type, range);
  }
  return out;
}

// `grads` in the order of `names`.
std::vector<Local> Lowerer::by_names(const Local& bundle, const std::vector<std::string>& names, SourceRange r) {
  std::vector<Local> out;
  for (const std::string& n : names) {
    auto it = std::find(bundle.names.begin(), bundle.names.end(), n);
    if (it == bundle.names.end()) unsupported(r, fmt::format("Params without '{}' here", n));
    out.push_back(bundle.elems[static_cast<size_t>(it - bundle.names.begin())]);
  }
  return out;
}

// ts.optimizers.SGD(params, lr=, momentum=0, weight_decay=0) and
// AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2), as PyTorch.
// A learning-rate schedule (docs/models.md): object "schedule" whose hyper is the descriptor
// {kind, lr, a, b, c}: kind 1 cosine_decay (a = steps, b = warmup, c = final), 2 linear_decay
// (same), 3 step_decay (a = every, b = gamma), 4 exponential_decay (a = gamma). Kind 0 is a
// constant lr (a number).
Local Lowerer::make_schedule(const CallExpr* c, const std::string& kind, const Type& t) {
  auto args = positional(c);
  auto num = [&](size_t i, const char* kw, std::optional<double> dflt) {
    const Expr* e = i < args.size() ? args[i] : keyword(c, kw);
    if (!e) {
      if (!dflt) unsupported(c->range, fmt::format("{} without {}=", kind, kw));
      return *dflt;
    }
    auto v = constant_float(e);
    if (!v) unsupported(e->range, fmt::format("{}= of a learning-rate schedule that is not a number constant", kw));
    return *v;
  };
  Local out{mlir::Value{}, t};
  out.object = "schedule";
  double lr = num(0, "lr", std::nullopt);
  if (kind == "cosine_decay" || kind == "linear_decay") {
    double steps = num(1, "steps", std::nullopt), warmup = num(2, "warmup", 0.0), final_lr = num(3, "final", 0.0);
    if (steps < 1 || warmup < 0 || warmup >= steps)
      unsupported(c->range, fmt::format("{} with steps={} and warmup={} (need steps >= 1 and 0 <= warmup < steps)",
                                        kind, steps, warmup));
    out.hyper = {kind == "cosine_decay" ? 1.0 : 2.0, lr, steps, warmup, final_lr};
  } else if (kind == "step_decay") {
    double every = num(1, "every", std::nullopt), gamma = num(2, "gamma", 0.1);
    if (every < 1) unsupported(c->range, "step_decay with every= below 1");
    out.hyper = {3.0, lr, every, gamma, 0.0};
  } else if (kind == "exponential_decay") {
    out.hyper = {4.0, lr, num(1, "gamma", std::nullopt), 0.0, 0.0};
  } else {
    unsupported(c->range, fmt::format("the learning-rate schedule '{}'", kind));
  }
  return out;
}

// The schedule descriptor of an optimizer's lr (a number, a schedule call or a name bound to one).
std::vector<double> Lowerer::lr_descriptor(const CallExpr* c, const Expr* e, double dflt) {
  if (!e) return {0.0, dflt, 0.0, 0.0, 0.0};
  if (auto v = constant_float(e)) return {0.0, *v, 0.0, 0.0, 0.0};
  Local l = expr(e);
  if (l.object != "schedule") unsupported(e->range, "lr= that is not a number constant or a learning-rate schedule");
  return l.hyper;
}

// The learning rate at 0-based step `s` (an f64 value) of the descriptor at h[at..at+5).
mlir::Value Lowerer::schedule_lr(const std::vector<double>& h, size_t at, mlir::Value s, SourceRange r) {
  mlir::Location l = loc(r);
  auto f64 = [&](double v) { return b_.create<mlir::arith::ConstantOp>(l, b_.getF64FloatAttr(v)).getResult(); };
  int kind = static_cast<int>(h[at]);
  double lr = h[at + 1], a = h[at + 2], bb = h[at + 3], cc = h[at + 4];
  auto mul = [&](mlir::Value x, mlir::Value y) { return b_.create<mlir::arith::MulFOp>(l, x, y).getResult(); };
  auto add = [&](mlir::Value x, mlir::Value y) { return b_.create<mlir::arith::AddFOp>(l, x, y).getResult(); };
  auto sub = [&](mlir::Value x, mlir::Value y) { return b_.create<mlir::arith::SubFOp>(l, x, y).getResult(); };
  switch (kind) {
    case 0: return f64(lr);
    case 1:
    case 2: {
      double steps = a, warmup = bb, final_lr = cc;
      // p = clamp((s - warmup) / (steps - warmup), 0, 1)
      mlir::Value p = mul(sub(s, f64(warmup)), f64(1.0 / std::max(steps - warmup, 1.0)));
      p = b_.create<mlir::arith::MinimumFOp>(l, b_.create<mlir::arith::MaximumFOp>(l, p, f64(0.0)), f64(1.0));
      mlir::Value frac = kind == 1 ? mul(f64(0.5), add(f64(1.0), b_.create<mlir::math::CosOp>(l, mul(p, f64(M_PI)))))
                                   : sub(f64(1.0), p);
      mlir::Value v = add(f64(final_lr), mul(f64(lr - final_lr), frac));
      if (warmup <= 0) return v;
      mlir::Value w = mul(add(s, f64(1.0)), f64(lr / warmup));
      mlir::Value in_warmup = b_.create<mlir::arith::CmpFOp>(l, mlir::arith::CmpFPredicate::OLT, s, f64(warmup));
      return b_.create<mlir::arith::SelectOp>(l, in_warmup, w, v);
    }
    case 3: {
      mlir::Value k = b_.create<mlir::math::FloorOp>(l, mul(s, f64(1.0 / a)));
      return mul(f64(lr), b_.create<mlir::math::PowFOp>(l, f64(bb), k));
    }
    default: return mul(f64(lr), b_.create<mlir::math::PowFOp>(l, f64(a), s));
  }
}

Local Lowerer::make_optimizer(const CallExpr* c, const std::string& kind, const Type& t) {
  auto args = positional(c);
  const Expr* pe = args.empty() ? keyword(c, "params") : args[0];
  if (!pe) unsupported(c->range, "an optimizer without params");
  Local params = params_value(pe);
  Local opt;
  opt.type = t;
  opt.object = kind;
  opt.names = params.names;
  SourceRange r = c->range;
  auto zeros_like = [&](const Local& p) { return Local{op("tessera.zeros", {}, p.value.getType(), r, nullptr), p.type}; };
  if (kind == "SGD") {
    if (!keyword(c, "lr") && args.size() < 2) unsupported(r, "SGD without lr=");
    std::vector<double> sched = lr_descriptor(c, args.size() > 1 ? args[1] : keyword(c, "lr"), 0);
    double momentum = float_kw(c, "momentum", 0), wd = float_kw(c, "weight_decay", 0);
    opt.hyper = {sched[1], momentum, wd};
    opt.hyper.insert(opt.hyper.end(), sched.begin(), sched.end());
    if (momentum != 0)
      for (const Local& p : params.elems) opt.elems.push_back(zeros_like(p));
    // A scheduled lr needs the step count: one more state value, after the momentum buffers.
    if (sched[0] != 0)
      opt.elems.push_back({b_.create<mlir::arith::ConstantOp>(loc(r), b_.getF64FloatAttr(0.0)), sema::float_type()});
    return opt;
  }
  std::vector<double> sched = lr_descriptor(c, keyword(c, "lr"), 1e-3);
  double lr = sched[1], eps = float_kw(c, "eps", 1e-8), wd = float_kw(c, "weight_decay", 1e-2);
  double b1 = 0.9, b2 = 0.999;
  if (const Expr* b = keyword(c, "betas")) {
    auto* tu = dyn_cast<TupleExpr>(b);
    auto v1 = tu && tu->elements.size() == 2 ? constant_float(tu->elements[0]) : std::nullopt;
    auto v2 = tu && tu->elements.size() == 2 ? constant_float(tu->elements[1]) : std::nullopt;
    if (!v1 || !v2) unsupported(b->range, "betas= that is not a pair of number constants");
    b1 = *v1;
    b2 = *v2;
  }
  opt.hyper = {lr, b1, b2, eps, wd};
  opt.hyper.insert(opt.hyper.end(), sched.begin(), sched.end());
  opt.elems.push_back({b_.create<mlir::arith::ConstantOp>(loc(r), b_.getF64FloatAttr(0.0)), sema::float_type()});
  for (const Local& p : params.elems) opt.elems.push_back(zeros_like(p));  // first moments
  for (const Local& p : params.elems) opt.elems.push_back(zeros_like(p));  // second moments
  return opt;
}

// `opt.step(params, grads)`: the new parameters; the name `opt` is rebound to the optimizer
// with its new state (the step is `opt', params' = step(opt, params, grads)` in SSA).
Local Lowerer::optimizer_step(const CallExpr* c, const AttributeExpr* a) {
  auto* name = dyn_cast<NameExpr>(a->object);
  if (!name) unsupported(a->object->range, "a step of an optimizer that is not a name");
  Local* cur = lookup(name->name);
  if (!cur || (cur->object != "SGD" && cur->object != "AdamW")) unsupported(a->object->range, "this optimizer");
  Local opt = *cur;
  auto args = positional(c);
  if (args.size() != 2) unsupported(c->range, "opt.step with other than (params, grads)");
  Local params = params_value(args[0]);
  std::vector<Local> ps = by_names(params, opt.names, args[0]->range);
  std::vector<Local> gs = by_names(params_value(args[1]), opt.names, args[1]->range);
  SourceRange r = c->range;
  size_t n = ps.size();
  Local out = params;
  out.names = opt.names;
  out.elems.clear();
  if (opt.object == "SGD") {
    double momentum = opt.hyper[1], wd = opt.hyper[2];
    mlir::Value lr;
    if (opt.hyper[3] != 0) {
      mlir::Value s = opt.elems.back().value;  // steps taken before this one
      lr = schedule_lr(opt.hyper, 3, s, r);
      opt.elems.back().value = b_.create<mlir::arith::AddFOp>(
          loc(r), s, b_.create<mlir::arith::ConstantOp>(loc(r), b_.getF64FloatAttr(1.0)));
    } else {
      lr = schedule_lr(opt.hyper, 3, mlir::Value{}, r);
    }
    for (size_t i = 0; i < n; ++i) {
      mlir::Value p = ps[i].value, g = convert(gs[i], p.getType(), r);
      mlir::Type mt = p.getType();
      if (wd != 0) g = ew("tessera.add", g, ew("tessera.mul", p, scalar_of(mt, wd, r), r), r);
      if (momentum != 0) {
        mlir::Value buf = ew("tessera.add", ew("tessera.mul", opt.elems[i].value, scalar_of(mt, momentum, r), r), g, r);
        opt.elems[i].value = buf;
        g = buf;
      }
      mlir::Value lr_t = opt.hyper[3] != 0 ? scalar_value(mt, lr, r) : scalar_of(mt, opt.hyper[0], r);
      out.elems.push_back({ew("tessera.sub", p, ew("tessera.mul", g, lr_t, r), r), ps[i].type});
    }
  } else {
    double b1 = opt.hyper[1], b2 = opt.hyper[2], eps = opt.hyper[3], wd = opt.hyper[4];
    mlir::Location l = loc(r);
    auto f64 = [&](double v) { return b_.create<mlir::arith::ConstantOp>(l, b_.getF64FloatAttr(v)).getResult(); };
    mlir::Value lr = schedule_lr(opt.hyper, 5, opt.elems[0].value, r);
    mlir::Value step = b_.create<mlir::arith::AddFOp>(l, opt.elems[0].value, f64(1.0));
    opt.elems[0].value = step;
    // Bias corrections: 1 - beta^t, on scalars.
    mlir::Value bc1 = b_.create<mlir::arith::SubFOp>(l, f64(1.0), b_.create<mlir::math::PowFOp>(l, f64(b1), step));
    mlir::Value bc2 = b_.create<mlir::arith::SubFOp>(l, f64(1.0), b_.create<mlir::math::PowFOp>(l, f64(b2), step));
    mlir::Value step_size = b_.create<mlir::arith::DivFOp>(l, lr, bc1);
    // p *= 1 - lr * wd (decoupled weight decay, with the scheduled lr)
    mlir::Value keep = b_.create<mlir::arith::SubFOp>(l, f64(1.0), b_.create<mlir::arith::MulFOp>(l, lr, f64(wd)));
    mlir::Value inv_sqrt_bc2 = b_.create<mlir::arith::DivFOp>(l, f64(1.0), b_.create<mlir::math::SqrtOp>(l, bc2));
    for (size_t i = 0; i < n; ++i) {
      mlir::Value p = ps[i].value, g = convert(gs[i], p.getType(), r);
      mlir::Type mt = p.getType();
      // One elementwise chain per parameter (fused into one loop by the schedule):
      // p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
      // p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
      mlir::Value m = ew("tessera.add", ew("tessera.mul", opt.elems[1 + i].value, scalar_of(mt, b1, r), r),
                         ew("tessera.mul", g, scalar_of(mt, 1 - b1, r), r), r);
      mlir::Value v = ew("tessera.add", ew("tessera.mul", opt.elems[1 + n + i].value, scalar_of(mt, b2, r), r),
                         ew("tessera.mul", ew("tessera.mul", g, g, r), scalar_of(mt, 1 - b2, r), r), r);
      opt.elems[1 + i].value = m;
      opt.elems[1 + n + i].value = v;
      mlir::Value keep_t = opt.hyper[5] != 0 ? scalar_value(mt, keep, r) : scalar_of(mt, 1 - opt.hyper[0] * wd, r);
      mlir::Value decayed = wd != 0 ? ew("tessera.mul", p, keep_t, r) : p;
      mlir::Value denom = ew("tessera.add", ew("tessera.mul", ew1("tessera.sqrt", v, r), scalar_value(mt, inv_sqrt_bc2, r), r),
                             scalar_of(mt, eps, r), r);
      mlir::Value upd = ew("tessera.mul", ew("tessera.div", m, denom, r), scalar_value(mt, step_size, r), r);
      out.elems.push_back({ew("tessera.sub", decayed, upd, r), ps[i].type});
    }
  }
  assign(name->name, opt);
  return out;
}

// ts.clip_grad_norm(grads, max_norm): grads * min(1, max_norm / (total_norm + 1e-6)), with the
// total 2-norm over all tensors (PyTorch's clip_grad_norm_).
Local Lowerer::clip_grad_norm(const CallExpr* c, const Type& t) {
  auto args = positional(c);
  if (args.empty()) unsupported(c->range, "clip_grad_norm without grads");
  Local grads = params_value(args[0]);
  const Expr* me = args.size() > 1 ? args[1] : keyword(c, "max_norm");
  auto max_norm = me ? constant_float(me) : std::nullopt;
  if (!max_norm) unsupported(c->range, "a max_norm that is not a number constant");
  SourceRange r = c->range;
  mlir::Location l = loc(r);
  mlir::Value total = b_.create<mlir::arith::ConstantOp>(l, b_.getF64FloatAttr(0.0));
  for (const Local& g : grads.elems) {
    auto rt = mlir::cast<mlir::RankedTensorType>(g.value.getType());
    mlir::Value n = op("tessera.norm", {g.value}, mlir::RankedTensorType::get({}, rt.getElementType()), r, nullptr);
    mlir::Value s = b_.create<mlir::tensor::ExtractOp>(l, n, mlir::ValueRange{});
    s = convert_scalar(s, b_.getF64Type(), r);
    total = b_.create<mlir::arith::AddFOp>(l, total, b_.create<mlir::arith::MulFOp>(l, s, s));
  }
  total = b_.create<mlir::math::SqrtOp>(l, total);
  mlir::Value eps = b_.create<mlir::arith::ConstantOp>(l, b_.getF64FloatAttr(1e-6));
  mlir::Value coef = b_.create<mlir::arith::DivFOp>(l, b_.create<mlir::arith::ConstantOp>(l, b_.getF64FloatAttr(*max_norm)),
                                                    b_.create<mlir::arith::AddFOp>(l, total, eps));
  coef = b_.create<mlir::arith::MinimumFOp>(l, coef, b_.create<mlir::arith::ConstantOp>(l, b_.getF64FloatAttr(1.0)));
  Local out = grads;
  out.type = t;
  for (Local& g : out.elems)
    g.value = ew("tessera.mul", g.value, scalar_value(g.value.getType(), coef, r), r);
  return out;
}

}  // namespace tessera::ir::lowering
