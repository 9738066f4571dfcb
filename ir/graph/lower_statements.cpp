// Typed AST -> Graph IR. Statements and control flow: blocks, assignments, `if` (scf.if), `while`
// (scf.while), `for` over `range`/`static_range` (scf.for, unrolled).
#include "ir/graph/lower_to_graph_internal.h"

namespace tessera::ir::lowering {

Local* Lowerer::lookup(const std::string& name) {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
    if (auto f = it->find(name); f != it->end()) return &f->second;
  return nullptr;
}

void Lowerer::assign(const std::string& name, Local v) {
  if (Local* l = lookup(name)) *l = v;
  else scopes_.back()[name] = v;
}

void Lowerer::block(const Body& body, bool top) {
  for (size_t i = 0; i < body.size(); ++i) {
    const Stmt* s = body[i];
    if (returned_) unsupported(s->range, "code after 'return'");
    stmt(s, top && i + 1 == body.size());
    // After a statement that may `break` or `continue` the innermost loop, the rest of the body
    // runs only while neither flag is set.
    if (!loops_.empty() && i + 1 < body.size() && jumps(s)) {
      Body rest(body.begin() + static_cast<std::ptrdiff_t>(i) + 1, body.end());
      lower_if(not_jumped(s->range), rest, {}, s->range);
      return;
    }
  }
}

// ---- break and continue
//
// Structured control flow has no early exit, so a loop whose body has `break` or `continue`
// (for that loop, not a nested one) carries two Bool flags, hidden names that no program can
// spell. `break`/`continue` set one; the statements after one that may set them run under
// `if not (broke or continued)`; `continue`'s flag is cleared when an iteration starts. A
// `while` stops when the break flag is set, before its condition is evaluated again (Python
// evaluates it no more); a `for` with `break` becomes an scf.while over its iteration count, so
// the iterations after a `break` do not run at all.

std::string Lowerer::jump_flag(const Stmt* loop, bool is_break) {
  return fmt::format("${}@{}", is_break ? "break" : "continue", static_cast<const void*>(loop));
}

// Whether `s` contains a break or continue of the loop it is in (not of a loop nested in it).
bool Lowerer::jumps(const Stmt* s) {
  if (isa<BreakStmt>(s) || isa<ContinueStmt>(s)) return true;
  if (auto* i = dyn_cast<IfStmt>(s)) return body_jumps(i->then_body) || body_jumps(i->else_body);
  return false;
}

bool Lowerer::body_jumps(const Body& body) {
  return std::any_of(body.begin(), body.end(), [](const Stmt* s) { return jumps(s); });
}

void Lowerer::init_jump_flags(const Stmt* loop) {
  mlir::Value no = b_.create<mlir::arith::ConstantOp>(loc(loop->range), b_.getBoolAttr(false));
  for (bool is_break : {true, false}) assign(jump_flag(loop, is_break), {no, sema::bool_type()});
}

mlir::Value Lowerer::flag_value(const Stmt* loop, bool is_break) {
  Local* f = lookup(jump_flag(loop, is_break));
  if (!f) throw std::logic_error("a loop's break/continue flag is not in scope");
  return f->value;
}

// True while the innermost loop's current iteration goes on.
mlir::Value Lowerer::not_jumped(SourceRange r) {
  mlir::Location l = loc(r);
  mlir::Value any = b_.create<mlir::arith::OrIOp>(l, flag_value(loops_.back(), true), flag_value(loops_.back(), false));
  mlir::Value yes = b_.create<mlir::arith::ConstantOp>(l, b_.getBoolAttr(true));
  return b_.create<mlir::arith::XOrIOp>(l, any, yes);
}

void Lowerer::stmt(const Stmt* s, bool last_top) {
  switch (s->kind) {
    case NodeKind::ExprStmt: {
      auto* e = cast<ExprStmt>(s)->expr;
      if (isa<StringLiteralExpr>(e)) return;  // docstring
      expr(e);
      return;
    }
    case NodeKind::AssignStmt: {
      auto* a = cast<AssignStmt>(s);
      Local v = expr(a->value);
      for (const Expr* t : a->targets) assign_target(t, v);
      return;
    }
    case NodeKind::AnnAssignStmt: {
      auto* a = cast<AnnAssignStmt>(s);
      if (!a->value) return;
      assign_target(a->target, expr(a->value));
      return;
    }
    case NodeKind::AugAssignStmt: {
      auto* a = cast<AugAssignStmt>(s);
      auto* n = dyn_cast<NameExpr>(a->target);
      if (!n) unsupported(a->target->range, "augmented assignment to anything but a name");
      Local* cur = lookup(n->name);
      if (!cur) unsupported(a->target->range, fmt::format("'{}' before assignment", n->name));
      Local rhs = expr(a->value);
      // The checker typed `x += y` as `x = x + y`: the result type is x's type again.
      Local out = binary(a->op, *cur, rhs, cur->type, a->range);
      assign(n->name, out);
      return;
    }
    case NodeKind::ReturnStmt: {
      auto* r = cast<ReturnStmt>(s);
      if (!last_top) unsupported(s->range, "'return' other than as the last statement of a function");
      // A log density returns its accumulator(s), not the body's value; a conditional
      // distribution returns both.
      if ((role_ == 1 || role_ == 3) && !conditional_) return;
      if (r->value) returned_ = expr(r->value);
      return;
    }
    case NodeKind::SampleStmt: return sample_stmt(cast<SampleStmt>(s));
    case NodeKind::PassStmt: return;
    case NodeKind::BreakStmt:
    case NodeKind::ContinueStmt: {
      if (loops_.empty()) unsupported(s->range, "'break' or 'continue' outside a loop");
      mlir::Value yes = b_.create<mlir::arith::ConstantOp>(loc(s->range), b_.getBoolAttr(true));
      assign(jump_flag(loops_.back(), isa<BreakStmt>(s)), {yes, sema::bool_type()});
      return;
    }
    case NodeKind::AssertStmt: return assert_stmt(cast<AssertStmt>(s));
    case NodeKind::IfStmt: return if_stmt(cast<IfStmt>(s));
    case NodeKind::WhileStmt: return while_stmt(cast<WhileStmt>(s));
    case NodeKind::ForStmt: return for_stmt(cast<ForStmt>(s));
    default: unsupported(s->range, "this statement");
  }
}

void Lowerer::assign_target(const Expr* target, const Local& v) {
  if (auto* n = dyn_cast<NameExpr>(target)) return assign(n->name, v);
  if (auto* tu = dyn_cast<TupleExpr>(target)) {
    // `a, b = split(x, 2)`: one name per element (the checker matched the counts).
    if (v.value || v.elems.size() != tu->elements.size()) unsupported(target->range, "unpacking this value");
    for (size_t i = 0; i < tu->elements.size(); ++i) assign_target(tu->elements[i], v.elems[i]);
    return;
  }
  unsupported(target->range, "assignment to anything but a name");
}

// Names assigned anywhere in a block (targets of assignments and loops; the break/continue
// flags of `loop`, the loop the block is in, and of the loops in it).
void Lowerer::assigned_names(const Body& body, std::vector<std::string>& out, const Stmt* loop) {
  std::function<void(const Expr*)> add = [&](const Expr* t) {
    if (auto* n = dyn_cast<NameExpr>(t))
      if (std::find(out.begin(), out.end(), n->name) == out.end()) out.push_back(n->name);
    if (auto* tu = dyn_cast<TupleExpr>(t))  // `a, (b, c) = f(x)` assigns a, b and c
      for (const Expr* e : tu->elements) add(e);
  };
  // `opt.step(...)` rebinds `opt` (the optimizer's new state).
  std::function<void(const Expr*)> steps = [&](const Expr* e) {
    if (!e) return;
    if (auto* c = dyn_cast<CallExpr>(e)) {
      if (auto* at = dyn_cast<AttributeExpr>(c->callee); at && at->name == "step") add(at->object);
      steps(c->callee);
      for (const Argument& a : c->args) steps(a.value);
    } else if (auto* b = dyn_cast<BinaryExpr>(e)) {
      steps(b->lhs);
      steps(b->rhs);
    } else if (auto* u = dyn_cast<UnaryExpr>(e)) {
      steps(u->operand);
    } else if (auto* t = dyn_cast<TupleExpr>(e)) {
      for (const Expr* x : t->elements) steps(x);
    } else if (auto* a = dyn_cast<AttributeExpr>(e)) {
      steps(a->object);
    } else if (auto* sub = dyn_cast<SubscriptExpr>(e)) {
      steps(sub->object);
    }
  };
  for (const Stmt* s : body) {
    if (auto* a = dyn_cast<AssignStmt>(s)) steps(a->value);
    if (auto* x = dyn_cast<ExprStmt>(s)) steps(x->expr);
    if (auto* a = dyn_cast<AssignStmt>(s)) for (const Expr* t : a->targets) add(t);
    if (auto* a = dyn_cast<AugAssignStmt>(s)) add(a->target);
    if (auto* a = dyn_cast<AnnAssignStmt>(s)) add(a->target);
    // An observation adds to the log density's accumulator (a local of log-density functions).
    // (and to its statement's own accumulator in the terms function).
    const void* key = isa<SampleStmt>(s) ? static_cast<const void*>(s) : nullptr;
    if (auto* x = dyn_cast<ExprStmt>(s))
      if (auto* call = dyn_cast<CallExpr>(x->expr); call && builtin_name(call->callee) == "factor") key = call;
    if (key) {
      for (std::string n : {std::string(kLogDensity), density_name(key)})
        if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
    }
    if (loop && (isa<BreakStmt>(s) || isa<ContinueStmt>(s))) {
      std::string flag = jump_flag(loop, isa<BreakStmt>(s));
      if (std::find(out.begin(), out.end(), flag) == out.end()) out.push_back(flag);
    }
    if (auto* i = dyn_cast<IfStmt>(s)) {
      assigned_names(i->then_body, out, loop);
      assigned_names(i->else_body, out, loop);
    }
    if (auto* w = dyn_cast<WhileStmt>(s)) assigned_names(w->body, out, w);
    if (auto* f = dyn_cast<ForStmt>(s)) {
      add(f->target);
      assigned_names(f->body, out, f);
    }
  }
}

// The values that flow out of a region: names assigned in it that exist before it.
std::vector<std::pair<std::string, Local>> Lowerer::carried(const std::vector<const Body*>& bodies, const Stmt* loop) {
  std::vector<std::string> names;
  for (const Body* b : bodies) assigned_names(*b, names, loop);
  std::vector<std::pair<std::string, Local>> out;
  for (const std::string& n : names)
    if (Local* l = lookup(n)) out.push_back({n, *l});
  return out;
}

// `assert test, "message"`: the test runs (a precondition on dimensions that the checker proved
// is true again at run time); a false one stops the program with the message and the line (exit
// 3), as Python's AssertionError.
void Lowerer::assert_stmt(const AssertStmt* a) {
  std::string message = "AssertionError";
  if (a->message) {
    // A string literal is the message; any other message (an f-string whose dimensions are
    // not formatted at run time yet) is shown as written in the source, so the assert still runs.
    if (auto* text = dyn_cast<StringLiteralExpr>(a->message))
      message += ": " + text->value;
    else
      message += ": " + sources_.text(a->message->range);
  }
  runtime_check(condition(a->test), message, a->range);
}

// A run-time check: when `ok` (an i1) is false, the program stops with `message` and the source
// line of `where` (exit 3).
void Lowerer::runtime_check(mlir::Value ok, const std::string& message, SourceRange where) {
  mlir::OperationState st(loc(where), "tessera.assert");
  st.addOperands(ok);
  st.addAttribute("message", b_.getStringAttr(message));
  b_.create(st);
}

mlir::Value Lowerer::condition(const Expr* e) {
  Local c = expr(e);
  mlir::Type t = c.value.getType();
  if (auto rt = mlir::dyn_cast<mlir::RankedTensorType>(t)) {
    if (rt.getRank() != 0) unsupported(e->range, "a condition that is not a scalar");
    mlir::Value v = b_.create<mlir::tensor::ExtractOp>(loc(e->range), c.value, mlir::ValueRange{});
    return truthy(v, e->range);
  }
  return truthy(c.value, e->range);
}

mlir::Value Lowerer::truthy(mlir::Value v, SourceRange r) {
  mlir::Type t = v.getType();
  if (t.isInteger(1)) return v;
  if (mlir::isa<mlir::FloatType>(t)) {
    mlir::Value zero = b_.create<mlir::arith::ConstantOp>(loc(r), b_.getFloatAttr(t, 0.0));
    return b_.create<mlir::arith::CmpFOp>(loc(r), mlir::arith::CmpFPredicate::UNE, v, zero);
  }
  if (mlir::isa<mlir::IntegerType>(t)) {
    mlir::Value zero = b_.create<mlir::arith::ConstantOp>(loc(r), b_.getIntegerAttr(t, 0));
    return b_.create<mlir::arith::CmpIOp>(loc(r), mlir::arith::CmpIPredicate::ne, v, zero);
  }
  unsupported(r, "this condition");
}

// `if`: an scf.if whose results are the names the branches assign that exist before it, or
// that both branches assign (Python keeps them after the `if`). The branches are lowered
// first, into an scf.if without results, then moved into one with the result types.
void Lowerer::if_stmt(const IfStmt* s) { lower_if(condition(s->cond), s->then_body, s->else_body, s->range); }

void Lowerer::lower_if(mlir::Value cond, const Body& then_body, const Body& else_body, SourceRange range) {
  mlir::Location l = loc(range);
  const Stmt* loop = loops_.empty() ? nullptr : loops_.back();
  std::vector<std::string> then_names, else_names;
  assigned_names(then_body, then_names, loop);
  assigned_names(else_body, else_names, loop);
  auto draft = b_.create<mlir::scf::IfOp>(l, mlir::TypeRange{}, cond, /*withElseRegion=*/true);
  struct Branch {
    mlir::Block* block;
    std::map<std::string, Local> values;  // every name visible at its end
  };
  std::map<std::string, Local> before;
  for (auto& scope : scopes_)
    for (auto& [n, v] : scope) before[n] = v;
  auto lower_branch = [&](mlir::Block* blk, const Body& body) {
    mlir::OpBuilder::InsertionGuard guard(b_);
    if (!blk->empty() && blk->back().hasTrait<mlir::OpTrait::IsTerminator>()) blk->back().erase();
    b_.setInsertionPointToEnd(blk);
    scopes_.emplace_back();
    block(body);
    Branch out{blk, {}};
    for (auto& scope : scopes_)
      for (auto& [n, v] : scope) out.values[n] = v;
    scopes_.pop_back();
    for (auto& [n, v] : before) assign(n, v);  // the else branch starts from the same state
    return out;
  };
  Branch then_b = lower_branch(&draft.getThenRegion().front(), then_body);
  Branch else_b = lower_branch(&draft.getElseRegion().front(), else_body);
  std::vector<std::pair<std::string, Local>> outs;
  auto in = [](const std::vector<std::string>& v, const std::string& n) {
    return std::find(v.begin(), v.end(), n) != v.end();
  };
  std::vector<std::string> names = then_names;
  for (const auto& n : else_names)
    if (!in(names, n)) names.push_back(n);
  for (const auto& n : names) {
    if (before.count(n)) outs.push_back({n, before[n]});
    else if (in(then_names, n) && in(else_names, n) && then_b.values.count(n) && else_b.values.count(n))
      outs.push_back({n, then_b.values[n]});
  }
  std::vector<mlir::Type> types;
  {
    std::vector<mlir::Value> protos;
    for (auto& [n, v] : outs) flatten(v, protos);
    for (mlir::Value v : protos) types.push_back(v.getType());
  }
  for (Branch* br : {&then_b, &else_b}) {
    mlir::OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPointToEnd(br->block);
    std::vector<mlir::Value> yielded;
    for (size_t i = 0; i < outs.size(); ++i) flatten_as(br->values.at(outs[i].first), outs[i].second, yielded, range);
    b_.create<mlir::scf::YieldOp>(l, yielded);
  }
  auto op = b_.create<mlir::scf::IfOp>(l, types, cond, /*withElseRegion=*/true);
  op.getThenRegion().takeBody(draft.getThenRegion());
  op.getElseRegion().takeBody(draft.getElseRegion());
  draft.erase();
  size_t pos = 0;
  for (size_t i = 0; i < outs.size(); ++i) assign(outs[i].first, rebuild(outs[i].second, op->getResults(), pos));
}

void Lowerer::while_stmt(const WhileStmt* s) {
  if (!s->else_body.empty()) unsupported(s->range, "'while ... else'");
  bool has_jumps = body_jumps(s->body);
  if (has_jumps) init_jump_flags(s);
  auto outs = carried({&s->body}, s);
  std::vector<mlir::Type> types;
  std::vector<mlir::Value> inits;
  std::vector<mlir::Location> locs;
  for (auto& [n, l] : outs) flatten(l, inits);
  for (mlir::Value v : inits) {
    types.push_back(v.getType());
    locs.push_back(loc(s->range));
  }
  auto op = b_.create<mlir::scf::WhileOp>(loc(s->range), types, inits);
  loops_.push_back(s);
  {
    mlir::OpBuilder::InsertionGuard guard(b_);
    mlir::Block* before = b_.createBlock(&op.getBefore(), {}, types, locs);
    size_t pos = 0;
    for (size_t i = 0; i < outs.size(); ++i) assign(outs[i].first, rebuild(outs[i].second, before->getArguments(), pos));
    mlir::Value cond;
    if (has_jumps) {
      // After a `break` the condition is not evaluated again.
      mlir::Location l = loc(s->cond->range);
      auto check = b_.create<mlir::scf::IfOp>(l, mlir::TypeRange{b_.getI1Type()}, flag_value(s, true), true);
      mlir::OpBuilder::InsertionGuard inner(b_);
      b_.setInsertionPointToStart(&check.getThenRegion().front());
      b_.create<mlir::scf::YieldOp>(l, mlir::ValueRange{b_.create<mlir::arith::ConstantOp>(l, b_.getBoolAttr(false))});
      b_.setInsertionPointToStart(&check.getElseRegion().front());
      b_.create<mlir::scf::YieldOp>(l, mlir::ValueRange{condition(s->cond)});
      cond = check.getResult(0);
    } else {
      cond = condition(s->cond);
    }
    b_.create<mlir::scf::ConditionOp>(loc(s->cond->range), cond, before->getArguments());
    mlir::Block* after = b_.createBlock(&op.getAfter(), {}, types, locs);
    pos = 0;
    for (size_t i = 0; i < outs.size(); ++i) assign(outs[i].first, rebuild(outs[i].second, after->getArguments(), pos));
    scopes_.emplace_back();
    if (has_jumps) assign(jump_flag(s, false), {b_.create<mlir::arith::ConstantOp>(loc(s->range), b_.getBoolAttr(false)), sema::bool_type()});
    block(s->body);
    std::vector<mlir::Value> yielded;
    for (auto& [n, l] : outs) flatten_as(*lookup(n), l, yielded, s->range);
    scopes_.pop_back();
    b_.create<mlir::scf::YieldOp>(loc(s->range), yielded);
  }
  loops_.pop_back();
  size_t pos = 0;
  for (size_t i = 0; i < outs.size(); ++i) assign(outs[i].first, rebuild(outs[i].second, op->getResults(), pos));
}

// `tessera.static_range(n)` / `range(...)` as a call, or nullptr.
const CallExpr* Lowerer::range_call(const Expr* iter, bool& is_static) {
  auto* call = dyn_cast<CallExpr>(iter);
  if (!call) return nullptr;
  std::string callee;
  if (auto* n = dyn_cast<NameExpr>(call->callee)) callee = n->name;
  else if (auto* a = dyn_cast<AttributeExpr>(call->callee)) callee = a->name;
  is_static = callee == "static_range";
  return callee == "static_range" || callee == "range" ? call : nullptr;
}

// The checker's value of an Int expression, when it is a constant here: only what is provably
// constant is folded. A name whose value the lowering holds as a run-time value (assigned in a
// loop or a branch, a loop variable, an argument) makes the expression a run-time value, whatever
// value the checker recorded for it.
std::optional<int64_t> Lowerer::constant_int(const Expr* e) {
  Type t = type_of(e);
  if (!t || t->kind != TypeKind::Int || !t->int_value || varies(e)) return std::nullopt;
  return static_dim(*t->int_value);
}

// Whether `e` reads a scalar name whose value is only known at run time (see constant_int).
bool Lowerer::varies(const Expr* e) {
  if (!e) return false;
  switch (e->kind) {
    case NodeKind::NameExpr: {
      auto* n = cast<NameExpr>(e);
      Local* l = lookup(n->name);
      if (!l) return is_local_name(n->name);  // a local that is not in scope has no value here
      if (!l->value || mlir::isa<mlir::ShapedType>(l->value.getType())) return false;  // tensors: their shapes are types
      // The checker's value holds for a name bound once at the function's top level (an
      // argument, `m = n * 2`): it is the same expression of the arguments. A value made in a
      // loop or a branch, or flowing out of one, is only known at run time.
      mlir::Value v = l->value;
      if (auto arg = mlir::dyn_cast<mlir::BlockArgument>(v)) return arg.getOwner() != entry_;
      mlir::Operation* def = v.getDefiningOp();
      if (mlir::isa<mlir::scf::ForOp, mlir::scf::IfOp, mlir::scf::WhileOp>(def)) return true;
      return def->getBlock() != entry_;
    }
    case NodeKind::UnaryExpr: return varies(cast<UnaryExpr>(e)->operand);
    case NodeKind::BinaryExpr: return varies(cast<BinaryExpr>(e)->lhs) || varies(cast<BinaryExpr>(e)->rhs);
    case NodeKind::CompareExpr: {
      auto* c = cast<CompareExpr>(e);
      if (varies(c->first)) return true;
      for (const auto& [op, x] : c->rest)
        if (varies(x)) return true;
      return false;
    }
    case NodeKind::CallExpr: {
      auto* c = cast<CallExpr>(e);
      for (const Argument& a : c->args)
        if (varies(a.value)) return true;
      return false;
    }
    case NodeKind::SubscriptExpr: {
      auto* s = cast<SubscriptExpr>(e);
      for (const Expr* i : s->indices)
        if (varies(i)) return true;
      return varies(s->object);
    }
    case NodeKind::SliceExpr: {
      auto* s = cast<SliceExpr>(e);
      return varies(s->lower) || varies(s->upper) || varies(s->step);
    }
    case NodeKind::AttributeExpr: return varies(cast<AttributeExpr>(e)->object);
    case NodeKind::TupleExpr:
      return std::any_of(cast<TupleExpr>(e)->elements.begin(), cast<TupleExpr>(e)->elements.end(),
                         [&](const Expr* x) { return varies(x); });
    case NodeKind::ListExpr:
      return std::any_of(cast<ListExpr>(e)->elements.begin(), cast<ListExpr>(e)->elements.end(),
                         [&](const Expr* x) { return varies(x); });
    default: return false;
  }
}

// Whether `name` is assigned anywhere in the current function (a local variable, not a
// dimension or a module-level constant).
bool Lowerer::is_local_name(const std::string& name) {
  if (!fn_ || !fn_->def) return false;
  std::vector<std::string> names;
  assigned_names(fn_->def->body, names);
  return std::find(names.begin(), names.end(), name) != names.end();
}

void Lowerer::for_stmt(const ForStmt* s) {
  if (!s->else_body.empty()) unsupported(s->range, "'for ... else'");
  auto* target = dyn_cast<NameExpr>(s->target);
  bool is_static = false;
  const CallExpr* range = range_call(s->iter, is_static);
  if (!target || !range || range->args.empty() || range->args.size() > 3)
    unsupported(s->iter->range, "a 'for' loop over anything but range(...) or static_range(...)");
  for (const Argument& a : range->args)
    if (a.kind != ArgKind::Positional) unsupported(a.range, "this argument of range(...)");
  bool has_jumps = body_jumps(s->body);
  auto bound = [&](size_t i, int64_t dflt) -> std::optional<int64_t> {
    if (range->args.size() == 1) return i == 1 ? constant_int(range->args[0].value) : std::optional<int64_t>(dflt);
    if (i < range->args.size()) return constant_int(range->args[i].value);
    return dflt;
  };
  if (is_static) {
    auto lo = bound(0, 0), hi = bound(1, 0), st = bound(2, 1);
    if (!lo || !hi || !st || *st == 0) unsupported(s->iter->range, "static_range bounds that are not known at compile time");
    if (has_jumps)
      unsupported(s->range, "'break' or 'continue' in a static_range loop (it is unrolled at compile time; use range)");
    for (int64_t i = *lo; *st > 0 ? i < *hi : i > *hi; i += *st) {
      mlir::Value iv = b_.create<mlir::arith::ConstantOp>(loc(s->target->range), b_.getI64IntegerAttr(i));
      assign(target->name, {iv, sema::int_type(DimExpr::constant(i))});
      block(s->body);
    }
    return;
  }
  // range(): scf.for over index with the assigned names carried.
  auto index = [&](size_t i, int64_t dflt) -> mlir::Value {
    const Expr* e = range->args.size() == 1 ? (i == 1 ? range->args[0].value : nullptr)
                                            : (i < range->args.size() ? range->args[i].value : nullptr);
    if (!e) return b_.create<mlir::arith::ConstantIndexOp>(loc(s->iter->range), dflt);
    Local v = expr(e);
    return b_.create<mlir::arith::IndexCastOp>(loc(e->range), b_.getIndexType(), convert(v, b_.getI64Type(), e->range));
  };
  mlir::Value lo = index(0, 0), hi = index(1, 0), st = index(2, 1);
  mlir::Location l = loc(s->iter->range);
  std::vector<std::string> body_names;
  assigned_names(s->body, body_names, s);
  bool has_break = std::find(body_names.begin(), body_names.end(), jump_flag(s, true)) != body_names.end();
  // Python's range: ceil((hi - lo) / st) iterations, at least 0, for either sign of the step
  // (a negative step counts down); the loop runs k = 0 .. n-1 with i = lo + k * st. A step of 0
  // is a run-time error (Python's ValueError). A constant positive step loops over i directly
  // (unless the body may `break`: then an scf.while runs k while the break flag is clear).
  std::optional<int64_t> const_step;
  if (auto c = st.getDefiningOp<mlir::arith::ConstantIndexOp>()) const_step = c.value();
  bool direct = const_step && *const_step > 0 && !has_break;
  mlir::Value zero = b_.create<mlir::arith::ConstantIndexOp>(l, 0), one = b_.create<mlir::arith::ConstantIndexOp>(l, 1);
  mlir::Value trips;
  if (!direct) {
    mlir::Value is_zero = b_.create<mlir::arith::CmpIOp>(l, mlir::arith::CmpIPredicate::eq, st, zero);
    runtime_check(b_.create<mlir::arith::CmpIOp>(l, mlir::arith::CmpIPredicate::ne, st, zero),
                  "runtime error: range() arg 3 must not be zero", s->iter->range);
    mlir::Value safe = b_.create<mlir::arith::SelectOp>(l, is_zero, one, st);
    trips = b_.create<mlir::arith::CeilDivSIOp>(l, b_.create<mlir::arith::SubIOp>(l, hi, lo), safe);
    trips = b_.create<mlir::arith::MaxSIOp>(l, trips, zero);
  }
  // The target keeps its last value after the loop (Python), so it is carried like the names the
  // body assigns; before a first iteration it is `lo` (a loop that never runs leaves it so).
  if (!lookup(target->name))
    assign(target->name, {b_.create<mlir::arith::IndexCastOp>(l, b_.getI64Type(), lo), sema::int_type()});
  else
    assign(target->name, {convert(*lookup(target->name), b_.getI64Type(), s->target->range), sema::int_type()});
  if (has_jumps) init_jump_flags(s);
  auto outs = carried({&s->body}, s);
  if (std::none_of(outs.begin(), outs.end(), [&](const auto& o) { return o.first == target->name; }))
    outs.push_back({target->name, *lookup(target->name)});
  std::vector<mlir::Value> inits;
  for (auto& [n, v] : outs) flatten(v, inits);
  // One iteration: the target is i (from the loop's counter k unless `direct`), the carried
  // values are `carried_in`; returns the values to yield.
  auto iteration = [&](mlir::Value k, mlir::ValueRange carried_in) {
    mlir::Value i = direct ? k : b_.create<mlir::arith::AddIOp>(l, lo, b_.create<mlir::arith::MulIOp>(l, k, st));
    mlir::Value iv = b_.create<mlir::arith::IndexCastOp>(loc(s->target->range), b_.getI64Type(), i);
    size_t pos = 0;
    for (size_t n = 0; n < outs.size(); ++n) assign(outs[n].first, rebuild(outs[n].second, carried_in, pos));
    assign(target->name, {iv, sema::int_type()});
    if (has_jumps)
      assign(jump_flag(s, false), {b_.create<mlir::arith::ConstantOp>(l, b_.getBoolAttr(false)), sema::bool_type()});
    loops_.push_back(s);
    block(s->body);
    loops_.pop_back();
    std::vector<mlir::Value> yielded;
    for (auto& [n, v] : outs) flatten_as(*lookup(n), v, yielded, s->range);
    return yielded;
  };
  mlir::Operation* loop_op;
  if (has_break) {
    // scf.while over (carried..., k): runs while k < trips and no `break` has run.
    std::vector<mlir::Value> winits = inits;
    winits.push_back(zero);
    std::vector<mlir::Type> types;
    std::vector<mlir::Location> locs;
    for (mlir::Value v : winits) {
      types.push_back(v.getType());
      locs.push_back(loc(s->range));
    }
    auto op = b_.create<mlir::scf::WhileOp>(loc(s->range), types, winits);
    {
      mlir::OpBuilder::InsertionGuard guard(b_);
      mlir::Block* before = b_.createBlock(&op.getBefore(), {}, types, locs);
      size_t pos = 0;
      for (size_t n = 0; n < outs.size(); ++n) assign(outs[n].first, rebuild(outs[n].second, before->getArguments(), pos));
      mlir::Value more = b_.create<mlir::arith::CmpIOp>(l, mlir::arith::CmpIPredicate::slt, before->getArguments().back(), trips);
      mlir::Value yes = b_.create<mlir::arith::ConstantOp>(l, b_.getBoolAttr(true));
      mlir::Value go = b_.create<mlir::arith::AndIOp>(l, more, b_.create<mlir::arith::XOrIOp>(l, flag_value(s, true), yes));
      b_.create<mlir::scf::ConditionOp>(l, go, before->getArguments());
      mlir::Block* after = b_.createBlock(&op.getAfter(), {}, types, locs);
      scopes_.emplace_back();
      std::vector<mlir::Value> yielded = iteration(after->getArguments().back(), after->getArguments().drop_back());
      scopes_.pop_back();
      yielded.push_back(b_.create<mlir::arith::AddIOp>(l, after->getArguments().back(), one));
      b_.create<mlir::scf::YieldOp>(loc(s->range), yielded);
    }
    loop_op = op;
  } else {
    auto op = direct ? b_.create<mlir::scf::ForOp>(loc(s->range), lo, hi, st, inits)
                     : b_.create<mlir::scf::ForOp>(loc(s->range), zero, trips, one, inits);
    mlir::OpBuilder::InsertionGuard guard(b_);
    mlir::Block* body = op.getBody();
    if (!body->empty() && body->back().hasTrait<mlir::OpTrait::IsTerminator>()) body->back().erase();
    b_.setInsertionPointToEnd(body);
    // A name the body assigns first lives in the body's scope (as in the scf.while form above):
    // after the loop it has no value (a loop may run zero times), which is a diagnostic there.
    scopes_.emplace_back();
    std::vector<mlir::Value> yielded = iteration(op.getInductionVar(), op.getRegionIterArgs());
    scopes_.pop_back();
    b_.create<mlir::scf::YieldOp>(loc(s->range), yielded);
    loop_op = op;
  }
  size_t pos = 0;
  for (size_t i = 0; i < outs.size(); ++i) assign(outs[i].first, rebuild(outs[i].second, loop_op->getResults(), pos));
}

}  // namespace tessera::ir::lowering
