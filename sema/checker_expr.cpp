// Expressions: names, unary and binary operators (dtype promotion), comparisons,
// attributes, subscripts and slices.
#include "sema/checker_impl.h"

namespace tessera::sema {

// Types an expression and records its type in the typed AST.
Type CheckerImpl::expr(const Expr* e) {
  Type t = expr_kind(e);
  if (fn && e) fn->typed.expr_types[e] = t;
  return t;
}

Type CheckerImpl::expr_kind(const Expr* e) {
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
      Type l = value_use(b->lhs, expr(b->lhs));
      // `x is not None and f(x)` (and `x is None or f(x)`): x is narrowed on the right.
      bool is_not = false;
      std::string narrowed = b->op == BinaryOp::And || b->op == BinaryOp::Or ? none_test(b->lhs, is_not) : "";
      Type saved = narrowed.empty() ? nullptr : lookup_local(narrowed);
      if (!narrowed.empty() && is_not == (b->op == BinaryOp::And)) scopes.back()[narrowed] = saved->elems[0];
      Type r = value_use(b->rhs, expr(b->rhs));
      if (saved) scopes.back()[narrowed] = saved;
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

Type CheckerImpl::name(const NameExpr* n) {
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

Type CheckerImpl::unary(const UnaryExpr* u) {
  Type t = u->op == UnaryOp::Not ? expr(u->operand) : value_use(u->operand, expr(u->operand));
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
Type CheckerImpl::params_binary(BinaryOp op, const Type& l, const Type& r, SourceRange range, const std::string& spelling) {
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

Type CheckerImpl::binary(BinaryOp op, const Type& l, const Type& r, SourceRange range, SourceRange lrange, SourceRange rrange,
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

Type CheckerImpl::compare(const CompareExpr* cmp) {
  Type first = expr(cmp->first);
  Type result = bool_type();
  Type prev = first;
  for (const auto& [op, rhs] : cmp->rest) {
    Type r = expr(rhs);
    if ((op == CompareOp::Is || op == CompareOp::IsNot || op == CompareOp::In || op == CompareOp::NotIn)) {
      prev = r;
      continue;
    }
    if (prev == first) prev = value_use(cmp->first, prev);
    r = value_use(rhs, r);
    if (is_tensor(prev) || is_tensor(r)) {
      Type t = c.elementwise(std::string(compare_op_spelling(op)), cmp->range, {prev, r});
      if (is_tensor(t)) result = tensor_type(DType::Bool, t->shape);
    }
    prev = r;
  }
  return result;
}

Type CheckerImpl::user_type(TypeKind kind, std::string name, const void* ref) {
  auto t = std::make_shared<TypeNode>();
  t->kind = kind;
  t->name = std::move(name);
  t->ref = ref;
  t->user = true;
  return t;
}

// `mylib.f`, `mylib.Point`: a member of a user module.
Type CheckerImpl::user_module_member(const Checker& m, const std::string& module_name, const AttributeExpr* a) {
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

Type CheckerImpl::attribute(const AttributeExpr* a) {
  Type obj = value_use(a->object, expr(a->object));
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
  if (obj->kind == TypeKind::Posterior) {
    // A Posterior's fields are read through its methods (post.mean("mu")), not as attributes.
    static const std::set<std::string> methods = {"mean", "sd", "samples", "quantile", "rhat", "ess", "summary",
                                                  "save", "trace_plot", "predict", "uncertainty"};
    if (!methods.count(a->name)) {
      auto b = diags.report(DiagKind::UnknownMember, a->name_range, "Posterior", a->name);
      if (std::find(obj->fields.begin(), obj->fields.end(), a->name) != obj->fields.end())
        b.help(fmt::format("'{0}' is a field: read it with post.mean(\"{0}\"), post.samples(\"{0}\"), ...", a->name));
      else
        b.note("a Posterior has the methods mean, sd, samples, quantile, rhat, ess, summary, save and trace_plot");
      return unknown_type();
    }
    return named_type(TypeKind::Function, "method:" + a->name);
  }
  if (obj->kind == TypeKind::Params || obj->kind == TypeKind::Object || obj->kind == TypeKind::Distribution ||
      obj->kind == TypeKind::Class) {
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
Type CheckerImpl::params_entry(const Type& obj, const SubscriptExpr* s) {
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

Type CheckerImpl::subscript(const SubscriptExpr* s) {
  Type obj = value_use(s->object, expr(s->object));
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
    // An integer index drops the dimension. A constant index must be in [-n, n) where the size n is
    // known (E0305); otherwise it is checked when the program runs.
    if (it && it->kind == TypeKind::Int && it->int_value && it->int_value->is_constant() && shape[dim].is_constant()) {
      int64_t k = it->int_value->constant_value(), n = shape[dim].constant_value();
      if (k >= n || k < -n) {
        diags.report(DiagKind::IndexOutOfRange, i->range, k, dim, n)
            .label(fmt::format("valid indices are {} to {}", -n, n - 1))
            .note(fmt::format("the tensor is {}", to_string(obj)));
        return unknown_type();
      }
    }
    ++dim;
  }
  for (; dim < shape.size(); ++dim) out.push_back(shape[dim]);
  return tensor_type(obj->dtype, out, obj->policy, obj->is_tile);
}

DimExpr CheckerImpl::slice_size(const SliceExpr* sl, const DimExpr& n) {
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

}  // namespace tessera::sema
