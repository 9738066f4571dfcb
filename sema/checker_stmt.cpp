// Statements and control flow: assignments, if/for/while, returns and the
// assignability of a value to its expected type.
#include "sema/checker_impl.h"

namespace tessera::sema {

void CheckerImpl::block(const Body& body) {
  for (const Stmt* s : body) stmt(s);
}

void CheckerImpl::assign_target(const Expr* target, const Type& t, const Expr* value) {
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
  // Attribute and subscript targets: check the object expression. Writing a field of an object
  // (`cache.length = n`, `cache.keys[i] = k`) changes state: the `state` effect.
  if (auto* a = dyn_cast<AttributeExpr>(target)) {
    Type obj = expr(a->object);
    if (obj && obj->kind == TypeKind::Object && obj->ref) c.add_effect(kState, target->range);
  }
  if (auto* sub = dyn_cast<SubscriptExpr>(target)) {
    expr(sub->object);
    for (const Expr* i : sub->indices) expr(i);
    if (auto* a = dyn_cast<AttributeExpr>(sub->object)) {
      Type obj = lookup_object(a->object);
      if (obj && obj->kind == TypeKind::Object && obj->ref) c.add_effect(kState, target->range);
    }
  }
}

void CheckerImpl::stmt(const Stmt* s) {
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
      Type result = binary(a->op, value_use(a->target, lhs), value_use(a->value, rhs), a->range, a->target->range,
                           a->value->range, std::string(binary_op_spelling(a->op)) + "=");
      if (auto* n = dyn_cast<NameExpr>(a->target)) bind(n->name, result, n->range);
      if (auto* at = dyn_cast<AttributeExpr>(a->target)) {
        Type obj = lookup_object(at->object);
        if (obj && obj->kind == TypeKind::Object && obj->ref) c.add_effect(kState, a->target->range);
      }
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
      // `assert x is not None` narrows x for the rest of the block.
      bool is_not = false;
      std::string name = none_test(a->test, is_not);
      if (!name.empty() && is_not) scopes.back()[name] = lookup_local(name)->elems[0];
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
      // What the body assigns differs from one iteration to the next: its values are not known
      // in the body (from the second iteration on) nor after the loop.
      auto* f = cast<ForStmt>(s);
      Type it = expr(f->iter);
      Type elem = iter_element(it);
      forget_values(f->body);
      assign_target(f->target, elem, nullptr);
      block(f->body);
      forget_values(f->body);
      block(f->else_body);
      return;
    }
    case NodeKind::WhileStmt: {
      auto* w = cast<WhileStmt>(s);
      forget_values(w->body);
      expr(w->cond);
      block(w->body);
      forget_values(w->body);
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

// The Optional name a condition tests against None (`x is None`, `x is not None`), or "".
std::string CheckerImpl::none_test(const Expr* cond, bool& is_not) {
  auto* cmp = dyn_cast<CompareExpr>(cond);
  if (!cmp || cmp->rest.size() != 1 || !isa<NoneLiteralExpr>(cmp->rest[0].second)) return "";
  if (cmp->rest[0].first != CompareOp::IsNot && cmp->rest[0].first != CompareOp::Is) return "";
  auto* n = dyn_cast<NameExpr>(cmp->first);
  if (!n) return "";
  Type t = lookup_local(n->name);
  if (!t || t->kind != TypeKind::Optional) return "";
  is_not = cmp->rest[0].first == CompareOp::IsNot;
  return n->name;
}

// Whether a block never falls through to the statement after it.
bool CheckerImpl::ends_in_exit(const Body& body) {
  if (body.empty()) return false;
  const Stmt* last = body.back();
  return isa<ReturnStmt>(last) || isa<RaiseStmt>(last) || isa<BreakStmt>(last) || isa<ContinueStmt>(last);
}

// `if x is not None:` narrows an Optional x to its value type inside the branch, `if x is None:`
// in the else branch. After the `if`, x is narrowed when every branch that falls through leaves
// it narrowed (an early `return`, or `x = default` in the None branch).
void CheckerImpl::narrow_and_run(const IfStmt* i) {
  bool is_not = false;
  std::string name = none_test(i->cond, is_not);
  const Scopes before = scopes;
  if (name.empty()) {
    // `if x is not None and ...:` narrows x in the then branch only.
    std::string inner_name;
    if (auto* b = dyn_cast<BinaryExpr>(i->cond); b && b->op == BinaryOp::And) {
      inner_name = none_test(b->lhs, is_not);
      if (!is_not) inner_name.clear();
    }
    Type saved = inner_name.empty() ? nullptr : lookup_local(inner_name);
    if (saved) scopes.back()[inner_name] = saved->elems[0];
    block(i->then_body);
    if (saved && lookup_local(inner_name) == saved->elems[0]) scopes.back()[inner_name] = saved;  // not reassigned
    const Scopes after_then = scopes;
    scopes = before;
    block(i->else_body);
    merge_branches(before, after_then, ends_in_exit(i->then_body), ends_in_exit(i->else_body));
    return;
  }
  Type saved = lookup_local(name);
  Type inner = saved->elems[0];
  scopes.back()[name] = is_not ? inner : saved;
  block(i->then_body);
  Type after_then = lookup_local(name);
  const Scopes then_scopes = scopes;
  scopes = before;
  scopes.back()[name] = is_not ? saved : inner;
  block(i->else_body);
  Type after_else = lookup_local(name);
  merge_branches(before, then_scopes, ends_in_exit(i->then_body), ends_in_exit(i->else_body));
  std::vector<Type> through;
  if (!ends_in_exit(i->then_body)) through.push_back(after_then);
  if (!ends_in_exit(i->else_body)) through.push_back(after_else);
  Type after = inner;
  for (const Type& t : through)
    if (!t || t->kind == TypeKind::Optional || t->kind == TypeKind::None) after = saved;
  if (after != saved && !through.empty()) after = through.front();
  scopes.back()[name] = after;
}

namespace {

bool is_scalar_value(const Type& t) {
  return t && (t->kind == TypeKind::Int || t->kind == TypeKind::Float || t->kind == TypeKind::Bool);
}

// The same scalar type with no known value (Int = 3 -> Int).
Type without_value(const Type& t) {
  if (!is_scalar_value(t) || (!t->int_value && !t->float_value)) return t;
  auto n = std::make_shared<TypeNode>(*t);
  n->int_value.reset();
  n->float_value.reset();
  return n;
}

bool same_value(const Type& a, const Type& b) {
  if (a == b) return true;
  if (!a || !b || a->kind != b->kind) return false;
  if (a->int_value.has_value() != b->int_value.has_value() || a->float_value != b->float_value) return false;
  return !a->int_value || *a->int_value == *b->int_value;
}

// Names a block assigns, nested blocks included.
void assigned_in(const Body& body, std::set<std::string>& out) {
  std::function<void(const Expr*)> add = [&](const Expr* t) {
    if (auto* n = dyn_cast<NameExpr>(t)) out.insert(n->name);
    if (auto* tu = dyn_cast<TupleExpr>(t))
      for (const Expr* e : tu->elements) add(e);
  };
  for (const Stmt* s : body) {
    if (auto* a = dyn_cast<AssignStmt>(s))
      for (const Expr* t : a->targets) add(t);
    if (auto* a = dyn_cast<AugAssignStmt>(s)) add(a->target);
    if (auto* a = dyn_cast<AnnAssignStmt>(s)) add(a->target);
    if (auto* i = dyn_cast<IfStmt>(s)) {
      assigned_in(i->then_body, out);
      assigned_in(i->else_body, out);
    }
    if (auto* w = dyn_cast<WhileStmt>(s)) {
      assigned_in(w->body, out);
      assigned_in(w->else_body, out);
    }
    if (auto* f = dyn_cast<ForStmt>(s)) {
      add(f->target);
      assigned_in(f->body, out);
      assigned_in(f->else_body, out);
    }
    if (auto* w = dyn_cast<WithStmt>(s)) {
      for (const WithItem& item : w->items)
        if (item.target) add(item.target);
      assigned_in(w->body, out);
    }
  }
}

}  // namespace

// After an `if`: the state of the branch that falls through, or of both. A name either branch
// changed takes the changed type (the else branch's when both did); a scalar whose known values
// differ keeps its type without a value.
void CheckerImpl::merge_branches(const Scopes& before, const Scopes& after_then, bool then_exits, bool else_exits) {
  if (then_exits) return;  // the else branch's state (now in `scopes`) is the state after the if
  if (else_exits) {
    scopes = after_then;
    return;
  }
  for (size_t level = 0; level < after_then.size() && level < scopes.size(); ++level) {
    for (const auto& [name, tt] : after_then[level]) {
      Type tb = level < before.size() && before[level].count(name) ? before[level].at(name) : nullptr;
      auto it = scopes[level].find(name);
      if (it == scopes[level].end()) {
        scopes[level][name] = tt;  // assigned in the then branch only (and first)
        continue;
      }
      Type te = it->second;
      if (te == tt) continue;
      Type merged = te != tb ? te : tt;
      if (is_scalar_value(tt) && is_scalar_value(te) && !same_value(tt, te)) merged = without_value(merged);
      it->second = merged;
    }
  }
}

// The names `body` assigns lose their known values (a loop body runs with values that differ
// from one iteration to the next).
void CheckerImpl::forget_values(const Body& body) {
  std::set<std::string> names;
  assigned_in(body, names);
  for (const std::string& n : names)
    for (auto& scope : scopes)
      if (auto it = scope.find(n); it != scope.end()) it->second = without_value(it->second);
}

// A value of type Optional[T] used where a T is needed, without a None check (E0201 with the
// check to add). The name is then taken as checked, so that one mistake gives one message.
Type CheckerImpl::value_use(const Expr* e, const Type& t) {
  if (!t || t->kind != TypeKind::Optional || !e) return t;
  std::string shown = print_expr(e);
  auto b = diags.report(DiagKind::TypeMismatch, e->range,
                        fmt::format("'{}' may be None here: it is {}", shown, to_string(t)));
  b.label("used without a None check");
  b.help(fmt::format("check it first: `if {} is not None:`, or return early: `if {} is None: return ...`", shown,
                     shown));
  if (auto* n = dyn_cast<NameExpr>(e); n && !scopes.empty()) scopes.back()[n->name] = t->elems[0];
  return t->elems[0];
}

Type CheckerImpl::iter_element(const Type& it) {
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

// The type of an object expression already checked (no second diagnostic): a name's binding.
Type CheckerImpl::lookup_object(const Expr* e) {
  if (auto* n = dyn_cast<NameExpr>(e)) return lookup_local(n->name);
  if (fn) {
    auto it = fn->typed.expr_types.find(e);
    if (it != fn->typed.expr_types.end()) return it->second;
  }
  return nullptr;
}

// A call of the built-in load(path), whose type is a tensor of unknown shape until an
// annotation (or the declared return type) gives it one.
bool CheckerImpl::is_untyped_load(const Expr* e, const Type& t) const {
  auto* c = dyn_cast<CallExpr>(e);
  if (!c || !fn) return false;
  if (t && !is_unknown(t) && !(t->kind == TypeKind::Tensor && !t->shape)) return false;
  if (auto* n = dyn_cast<NameExpr>(c->callee)) return n->name == "load";
  if (auto* a = dyn_cast<AttributeExpr>(c->callee)) return a->name == "load" && isa<NameExpr>(a->object);
  return false;
}

void CheckerImpl::ret(const ReturnStmt* r) {
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
std::string CheckerImpl::mismatch(const Type& found, const Type& expected, std::vector<std::string>& notes) {
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

void CheckerImpl::check_return(const Type& found, const Type& expected, const ReturnStmt* r) {
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

void CheckerImpl::check_assignable(const Type& found, const Type& expected, SourceRange range, const std::string& what) {
  std::vector<std::string> notes;
  std::string m = mismatch(found, expected, notes);
  if (m.empty()) return;
  auto b = diags.report(DiagKind::TypeMismatch, range,
                        fmt::format("{} expects {}, found {}", what, to_string(expected), to_string(found)));
  for (const auto& n : notes) b.note(n);
}

}  // namespace tessera::sema
