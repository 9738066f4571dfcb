// Type annotations (tensor types, dimensions, dtype policies, classes) and function
// signatures with their preconditions.
#include "sema/checker_impl.h"

namespace tessera::sema {

// Converts a dimension expression of a signature or body into a DimExpr.
std::optional<DimExpr> CheckerImpl::to_dim(const Expr* e, bool report) {
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
bool CheckerImpl::dtype_and_policies(const Expr* e, DType& dtype, Policy& policy) {
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

void CheckerImpl::apply_policy(const Expr* p, Policy& policy) {
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

// A class named in an annotation: `Point`, an imported `Point`, or `mylib.Point`.
const ClassInfo* CheckerImpl::find_class(const std::string& head) const {
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
std::string CheckerImpl::type_head(const Expr* e) {
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
Type CheckerImpl::annotation(const Expr* e) {
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
    if (head == "Optional" && s->indices.size() == 1) return optional_type(annotation(s->indices[0]));
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
      diags.report(DiagKind::TypeMismatch, e->range,
                   fmt::format("{}[...] takes bits={} (a literal)", head, head == "Int" ? "8, 16, 32 or 64" : "16, 32 or 64"));
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

Type CheckerImpl::tensor_annotation(const SubscriptExpr* s, bool tile) {
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
    if (dim->is_constant() && dim->constant_value() < 0) {
      diags.report(DiagKind::OperandShapeRule, i->range,
                   fmt::format("a dimension must be >= 0, found {}", dim->constant_value()));
      ok = false;
      continue;
    }
    shape.push_back(*dim);
  }
  if (!ok) return tensor_type(dtype, std::nullopt, policy, tile);
  return tensor_type(dtype, shape, policy, tile);
}

bool CheckerImpl::is_dim_predicate_expr(const Expr* e) {
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

DimPredicate CheckerImpl::to_predicate(const CompareExpr* cmp) {
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

void CheckerImpl::signature(FunctionInfo& info) {
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

}  // namespace tessera::sema
