// Parse tree -> AST. Every accessor may be null after a syntax error, so each
// step checks and falls back to ErrorExpr / ErrorStmt.
#include "frontend/ast_builder.h"

#include <cerrno>
#include <cstdlib>
#include <utility>

namespace tessera {

using namespace ast;
using TP = TesseraParser;
using antlr4::ParserRuleContext;
using antlr4::tree::ParseTree;
using antlr4::tree::TerminalNode;

namespace {

// Expression trees deeper than this (e.g. a 5,000-term `a + a + ...` chain)
// are rejected so that every later recursive walk stays within the stack.
constexpr size_t kMaxExprDepth = 1000;

TerminalNode* as_terminal(ParseTree* t) { return dynamic_cast<TerminalNode*>(t); }

size_t token_type(ParseTree* t) {
  auto* term = as_terminal(t);
  return term ? term->getSymbol()->getType() : 0;
}

bool is_real_token(antlr4::Token* t) {
  return t && t->getType() != antlr4::Token::EOF && t->getStopIndex() != static_cast<size_t>(-1) &&
         t->getStopIndex() >= t->getStartIndex();
}

BinaryOp binary_op_for(size_t type) {
  switch (type) {
    case TP::PLUS: return BinaryOp::Add;
    case TP::MINUS: return BinaryOp::Sub;
    case TP::STAR: return BinaryOp::Mul;
    case TP::SLASH: return BinaryOp::Div;
    case TP::FLOORDIV: return BinaryOp::FloorDiv;
    case TP::PERCENT: return BinaryOp::Mod;
    case TP::POWER: return BinaryOp::Pow;
    case TP::AT: return BinaryOp::MatMul;
    case TP::PIPE: return BinaryOp::BitOr;
    case TP::AMP: return BinaryOp::BitAnd;
    case TP::AND: return BinaryOp::And;
    case TP::OR: return BinaryOp::Or;
    default: return BinaryOp::Add;
  }
}

// Children of an expression, for the iterative depth check.
void expr_children(const Expr* e, std::vector<const Expr*>& out) {
  auto add = [&](const Expr* c) {
    if (c) out.push_back(c);
  };
  switch (e->kind) {
    case NodeKind::FStringExpr:
      for (const auto& p : cast<FStringExpr>(e)->parts) add(p.expr);
      break;
    case NodeKind::UnaryExpr: add(cast<UnaryExpr>(e)->operand); break;
    case NodeKind::BinaryExpr:
      add(cast<BinaryExpr>(e)->lhs);
      add(cast<BinaryExpr>(e)->rhs);
      break;
    case NodeKind::CompareExpr:
      add(cast<CompareExpr>(e)->first);
      for (const auto& r : cast<CompareExpr>(e)->rest) add(r.second);
      break;
    case NodeKind::ConditionalExpr:
      add(cast<ConditionalExpr>(e)->cond);
      add(cast<ConditionalExpr>(e)->then_value);
      add(cast<ConditionalExpr>(e)->else_value);
      break;
    case NodeKind::LambdaExpr:
      for (const auto& p : cast<LambdaExpr>(e)->params) add(p.default_value);
      add(cast<LambdaExpr>(e)->body);
      break;
    case NodeKind::CallExpr:
      add(cast<CallExpr>(e)->callee);
      for (const auto& a : cast<CallExpr>(e)->args) add(a.value);
      break;
    case NodeKind::AttributeExpr: add(cast<AttributeExpr>(e)->object); break;
    case NodeKind::SubscriptExpr:
      add(cast<SubscriptExpr>(e)->object);
      for (const Expr* i : cast<SubscriptExpr>(e)->indices) add(i);
      break;
    case NodeKind::SliceExpr:
      add(cast<SliceExpr>(e)->lower);
      add(cast<SliceExpr>(e)->upper);
      add(cast<SliceExpr>(e)->step);
      break;
    case NodeKind::KeywordExpr: add(cast<KeywordExpr>(e)->value); break;
    case NodeKind::PolicyExpr: add(cast<PolicyExpr>(e)->policy); break;
    case NodeKind::StarredExpr: add(cast<StarredExpr>(e)->value); break;
    case NodeKind::TupleExpr:
      for (const Expr* x : cast<TupleExpr>(e)->elements) add(x);
      break;
    case NodeKind::ListExpr:
      for (const Expr* x : cast<ListExpr>(e)->elements) add(x);
      break;
    case NodeKind::SetExpr:
      for (const Expr* x : cast<SetExpr>(e)->elements) add(x);
      break;
    case NodeKind::DictExpr:
      for (const auto& d : cast<DictExpr>(e)->entries) {
        add(d.key);
        add(d.value);
      }
      break;
    case NodeKind::ComprehensionExpr: {
      auto* c = cast<ComprehensionExpr>(e);
      add(c->element);
      add(c->value);
      for (const auto& cl : c->clauses) {
        add(cl.target);
        add(cl.iter);
        add(cl.cond);
      }
      break;
    }
    case NodeKind::AwaitExpr: add(cast<AwaitExpr>(e)->value); break;
    default: break;
  }
}

size_t expr_depth(const Expr* root) {
  if (!root) return 0;
  size_t max_depth = 0;
  std::vector<std::pair<const Expr*, size_t>> stack{{root, 1}};
  std::vector<const Expr*> kids;
  while (!stack.empty()) {
    auto [e, d] = stack.back();
    stack.pop_back();
    max_depth = std::max(max_depth, d);
    if (max_depth > kMaxExprDepth) return max_depth;
    kids.clear();
    expr_children(e, kids);
    for (const Expr* k : kids) stack.push_back({k, d + 1});
  }
  return max_depth;
}

// Expressions directly held by a statement (not those of nested statements).
void stmt_exprs(const Stmt* s, std::vector<const Expr*>& out) {
  auto add = [&](const Expr* e) {
    if (e) out.push_back(e);
  };
  switch (s->kind) {
    case NodeKind::ExprStmt: add(cast<ExprStmt>(s)->expr); break;
    case NodeKind::AssignStmt:
      for (const Expr* t : cast<AssignStmt>(s)->targets) add(t);
      add(cast<AssignStmt>(s)->value);
      break;
    case NodeKind::AugAssignStmt:
      add(cast<AugAssignStmt>(s)->target);
      add(cast<AugAssignStmt>(s)->value);
      break;
    case NodeKind::AnnAssignStmt:
      add(cast<AnnAssignStmt>(s)->target);
      add(cast<AnnAssignStmt>(s)->annotation);
      add(cast<AnnAssignStmt>(s)->value);
      break;
    case NodeKind::SampleStmt:
      add(cast<SampleStmt>(s)->target);
      add(cast<SampleStmt>(s)->distribution);
      break;
    case NodeKind::ReturnStmt: add(cast<ReturnStmt>(s)->value); break;
    case NodeKind::AssertStmt:
      add(cast<AssertStmt>(s)->test);
      add(cast<AssertStmt>(s)->message);
      break;
    case NodeKind::RaiseStmt:
      add(cast<RaiseStmt>(s)->exception);
      add(cast<RaiseStmt>(s)->cause);
      break;
    case NodeKind::IfStmt: add(cast<IfStmt>(s)->cond); break;
    case NodeKind::ForStmt:
      add(cast<ForStmt>(s)->target);
      add(cast<ForStmt>(s)->iter);
      break;
    case NodeKind::WhileStmt: add(cast<WhileStmt>(s)->cond); break;
    case NodeKind::WithStmt:
      for (const auto& it : cast<WithStmt>(s)->items) {
        add(it.context);
        add(it.target);
      }
      break;
    case NodeKind::TryStmt:
      for (const auto& h : cast<TryStmt>(s)->handlers) add(h.type);
      break;
    case NodeKind::FunctionDefStmt: {
      auto* f = cast<FunctionDefStmt>(s);
      for (const auto& d : f->decorators) add(d.expr);
      for (const auto& p : f->params) {
        add(p.annotation);
        add(p.default_value);
      }
      add(f->returns);
      break;
    }
    case NodeKind::ClassDefStmt:
      for (const auto& d : cast<ClassDefStmt>(s)->decorators) add(d.expr);
      for (const auto& a : cast<ClassDefStmt>(s)->bases) add(a.value);
      break;
    default: break;
  }
}

// Decodes the escapes of a string body (not raw).
std::string decode_escapes(const std::string& body, bool raw) {
  if (raw) return body;
  std::string out;
  out.reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out.push_back(c);
      continue;
    }
    char n = body[++i];
    switch (n) {
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'r': out.push_back('\r'); break;
      case '0': out.push_back('\0'); break;
      case '\\': out.push_back('\\'); break;
      case '\'': out.push_back('\''); break;
      case '"': out.push_back('"'); break;
      case '\n': break;  // line continuation inside a string
      case 'x':
        if (i + 2 < body.size() + 0 && std::isxdigit(static_cast<unsigned char>(body[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(body[i + 2]))) {
          int v = std::stoi(body.substr(i + 1, 2), nullptr, 16);
          out += encode_utf8(std::u32string(1, static_cast<char32_t>(v)));
          i += 2;
          break;
        }
        [[fallthrough]];
      default:
        out.push_back('\\');
        out.push_back(n);
    }
  }
  return out;
}

struct StringPieces {
  bool is_f = false, is_raw = false, is_bytes = false;
  size_t prefix_len = 0, quote_len = 0;
  std::u32string body;  // between the quotes
};

StringPieces split_string(const std::u32string& text) {
  StringPieces p;
  size_t i = 0;
  while (i < text.size() && text[i] != U'"' && text[i] != U'\'') {
    char32_t c = text[i] | 0x20;  // lowercase ASCII letters
    if (c == U'f') p.is_f = true;
    if (c == U'r') p.is_raw = true;
    if (c == U'b') p.is_bytes = true;
    ++i;
  }
  p.prefix_len = i;
  if (i >= text.size()) return p;
  char32_t q = text[i];
  p.quote_len = (i + 2 < text.size() && text[i + 1] == q && text[i + 2] == q && text.size() - i >= 6) ? 3 : 1;
  size_t begin = i + p.quote_len;
  size_t end = text.size();
  // The closing quotes are absent for an unterminated string (already reported).
  if (end - begin >= p.quote_len && text.size() >= begin + p.quote_len) {
    bool closed = true;
    for (size_t k = 0; k < p.quote_len; ++k)
      if (text[end - 1 - k] != q) closed = false;
    if (closed && end - p.quote_len >= begin) end -= p.quote_len;
  }
  p.body = text.substr(begin, end - begin);
  // Line ends inside strings read as '\n' whatever the file uses.
  std::u32string normalized;
  normalized.reserve(p.body.size());
  for (size_t k = 0; k < p.body.size(); ++k) {
    if (p.body[k] == U'\r') {
      normalized.push_back(U'\n');
      if (k + 1 < p.body.size() && p.body[k + 1] == U'\n') ++k;
    } else {
      normalized.push_back(p.body[k]);
    }
  }
  p.body = std::move(normalized);
  return p;
}

}  // namespace

// ------------------------------------------------------------------ helpers

SourceRange AstBuilder::range(antlr4::Token* t) const {
  if (!t) return {};
  uint32_t b = static_cast<uint32_t>(t->getStartIndex());
  uint32_t e = is_real_token(t) ? static_cast<uint32_t>(t->getStopIndex() + 1) : b;
  return {{file_, b}, {file_, e}};
}

SourceRange AstBuilder::range(TerminalNode* t) const { return t ? range(t->getSymbol()) : SourceRange{}; }

SourceRange AstBuilder::range(ParserRuleContext* c) const {
  if (!c || !c->getStart()) return {};
  SourceRange b = range(c->getStart());
  antlr4::Token* stop = c->getStop();
  if (stop && is_real_token(stop) && stop->getStopIndex() + 1 >= b.begin.offset &&
      stop->getType() != TP::NEWLINE) {
    b.end = {file_, static_cast<uint32_t>(stop->getStopIndex() + 1)};
  }
  return b;
}

Expr* AstBuilder::error_expr(ParserRuleContext* c) { return ctx_.make<ErrorExpr>(range(c)); }

bool AstBuilder::too_deep(ParserRuleContext* c) {
  if (!guard_.exhausted()) return false;
  if (!reported_depth_) {
    reported_depth_ = true;
    diags_.report(DiagKind::ExpressionTooDeep, range(c)).label("nesting limit reached here");
  }
  return true;
}

void AstBuilder::check_target(Expr* e, bool sample, bool single) {
  if (!e) return;
  switch (e->kind) {
    case NodeKind::NameExpr:
    case NodeKind::AttributeExpr:
    case NodeKind::SubscriptExpr:
    case NodeKind::ErrorExpr:
      return;
    case NodeKind::TupleExpr:
    case NodeKind::ListExpr:
    case NodeKind::StarredExpr:
      if (!sample && !single) {
        if (auto* t = dyn_cast<TupleExpr>(e)) {
          for (Expr* x : t->elements) check_target(x, false);
        } else if (auto* l = dyn_cast<ListExpr>(e)) {
          for (Expr* x : l->elements) check_target(x, false);
        } else {
          check_target(cast<StarredExpr>(e)->value, false);
        }
        return;
      }
      break;
    default: break;
  }
  if (quiet_) return;
  const char* what = "an expression";
  switch (e->kind) {
    case NodeKind::CallExpr: what = "a function call"; break;
    case NodeKind::IntLiteralExpr:
    case NodeKind::FloatLiteralExpr:
    case NodeKind::StringLiteralExpr:
    case NodeKind::FStringExpr:
    case NodeKind::BoolLiteralExpr:
    case NodeKind::NoneLiteralExpr: what = "a literal"; break;
    case NodeKind::BinaryExpr:
    case NodeKind::UnaryExpr: what = "an operator expression"; break;
    case NodeKind::TupleExpr: what = "a tuple"; break;
    case NodeKind::ListExpr: what = "a list"; break;
    default: break;
  }
  if (sample) {
    diags_.report(DiagKind::InvalidSampleTarget, e->range, what);
  } else {
    diags_.report(DiagKind::InvalidAssignTarget, e->range, what);
  }
}

// --------------------------------------------------------------- statements

void AstBuilder::statement(TP::StatementContext* c, Body& out) {
  if (!c) return;
  if (too_deep(c)) {
    out.push_back(ctx_.make<ErrorStmt>(range(c)));
    return;
  }
  size_t first = out.size();
  if (c->compoundStmt()) {
    out.push_back(compound_stmt(c->compoundStmt()));
  } else if (c->INDENT()) {
    if (!after_error_) {
      diags_.report(DiagKind::UnexpectedIndent, range(c->INDENT()))
          .label("this line is indented more than the one before it")
          .help("indent only the body of a block (after a line ending in ':')");
    }
    for (auto* inner : c->statement()) statement(inner, out);
    return;
  } else if (c->simpleStmts()) {
    simple_stmts(c->simpleStmts(), out);
  } else {
    out.push_back(ctx_.make<ErrorStmt>(range(c)));
  }
  // Reject expressions nested beyond what later recursive stages may walk.
  std::vector<const Expr*> exprs;
  for (size_t i = first; i < out.size(); ++i) {
    exprs.clear();
    stmt_exprs(out[i], exprs);
    for (const Expr* e : exprs) {
      if (expr_depth(e) > kMaxExprDepth) {
        diags_.report(DiagKind::ExpressionTooDeep, e->range)
            .label(fmt::format("this expression nests more than {} levels", kMaxExprDepth))
            .help("split it into several statements with named intermediate values");
        out[i] = ctx_.make<ErrorStmt>(out[i]->range);
        break;
      }
    }
  }
}

void AstBuilder::simple_stmts(TP::SimpleStmtsContext* c, Body& out) {
  for (TP::SimpleStmtContext* s : c->simpleStmt()) out.push_back(simple_stmt(s));
}

Stmt* AstBuilder::simple_stmt(TP::SimpleStmtContext* c) {
  SourceRange r = range(c);
  if (dynamic_cast<TP::PassStmtContext*>(c)) return ctx_.make<PassStmt>(r);
  bool is_break = dynamic_cast<TP::BreakStmtContext*>(c) != nullptr;
  if (is_break || dynamic_cast<TP::ContinueStmtContext*>(c)) {
    // Python's SyntaxError: a jump out of no loop (a function body starts outside any loop).
    if (loop_depth_ == 0) diags_.report(DiagKind::JumpOutsideLoop, r, is_break ? "break" : "continue");
    if (is_break) return ctx_.make<BreakStmt>(r);
    return ctx_.make<ContinueStmt>(r);
  }
  if (auto* ret = dynamic_cast<TP::ReturnStmtContext*>(c))
    return ctx_.make<ReturnStmt>(r, ret->testListStarExpr() ? comma_list(ret->testListStarExpr(), false) : nullptr);
  if (auto* rs = dynamic_cast<TP::RaiseStmtContext*>(c)) {
    auto tests = rs->test();
    return ctx_.make<RaiseStmt>(r, tests.size() > 0 ? test(tests[0]) : nullptr,
                                tests.size() > 1 ? test(tests[1]) : nullptr);
  }
  if (auto* as = dynamic_cast<TP::AssertStmtContext*>(c)) {
    auto tests = as->test();
    if (tests.empty()) return ctx_.make<ErrorStmt>(r);
    return ctx_.make<AssertStmt>(r, test(tests[0]), tests.size() > 1 ? test(tests[1]) : nullptr);
  }
  if (auto* im = dynamic_cast<TP::ImportStmtContext*>(c)) {
    auto* s = ctx_.make<ImportStmt>(r);
    for (auto* d : im->dottedAsName()) {
      ImportAlias a;
      a.range = range(d);
      if (d->dottedName()) a.name = d->dottedName()->getText();
      if (d->NAME()) a.alias = d->NAME()->getText();
      s->names.push_back(std::move(a));
    }
    return s;
  }
  if (auto* fi = dynamic_cast<TP::FromImportStmtContext*>(c)) {
    auto* s = ctx_.make<ImportFromStmt>(r);
    if (auto* m = fi->fromModule()) {
      s->module_range = range(m);
      for (ParseTree* ch : m->children) {
        if (token_type(ch) == TP::DOT) ++s->level;
      }
      if (m->dottedName()) s->module = m->dottedName()->getText();
    }
    if (auto* t = fi->importTargets()) {
      if (t->STAR()) s->star = true;
      if (auto* names = t->importAsNames()) {
        for (auto* n : names->importAsName()) {
          ImportAlias a;
          a.range = range(n);
          auto ids = n->NAME();
          if (!ids.empty()) a.name = ids[0]->getText();
          if (ids.size() > 1) a.alias = ids[1]->getText();
          s->names.push_back(std::move(a));
        }
      }
    }
    return s;
  }
  if (auto* es = dynamic_cast<TP::ExprStmtContext*>(c)) return expr_stmt(es);
  return ctx_.make<ErrorStmt>(r);
}

Stmt* AstBuilder::expr_stmt(TP::ExprStmtContext* c) {
  SourceRange r = range(c);
  if (!c->testListStarExpr()) return ctx_.make<ErrorStmt>(r);
  Expr* lhs = comma_list(c->testListStarExpr(), false);
  TP::ExprStmtTailContext* tail = c->exprStmtTail();
  if (!tail) return ctx_.make<ExprStmt>(r, lhs);

  if (auto* s = dynamic_cast<TP::SampleTailContext*>(tail)) {
    check_target(lhs, true);
    auto* st = ctx_.make<SampleStmt>(r, lhs, s->test() ? test(s->test()) : error_expr(s));
    st->tilde_range = range(s->TILDE());
    return st;
  }
  if (auto* a = dynamic_cast<TP::AugAssignTailContext*>(tail)) {
    check_target(lhs, false, true);
    BinaryOp op = BinaryOp::Add;
    if (auto* o = a->augAssignOp()) {
      if (o->MINUS_ASSIGN()) op = BinaryOp::Sub;
      if (o->STAR_ASSIGN()) op = BinaryOp::Mul;
      if (o->SLASH_ASSIGN()) op = BinaryOp::Div;
      if (o->AT_ASSIGN()) op = BinaryOp::MatMul;
      if (o->POWER_ASSIGN()) op = BinaryOp::Pow;
      if (o->FLOORDIV_ASSIGN()) op = BinaryOp::FloorDiv;
      if (o->PERCENT_ASSIGN()) op = BinaryOp::Mod;
      if (o->PIPE_ASSIGN()) op = BinaryOp::BitOr;
      if (o->AMP_ASSIGN()) op = BinaryOp::BitAnd;
    }
    return ctx_.make<AugAssignStmt>(r, op, lhs,
                                    a->testListStarExpr() ? comma_list(a->testListStarExpr(), false) : error_expr(a));
  }
  if (auto* a = dynamic_cast<TP::AnnAssignTailContext*>(tail)) {
    check_target(lhs, false, true);
    return ctx_.make<AnnAssignStmt>(r, lhs, a->test() ? test(a->test()) : error_expr(a),
                                    a->testListStarExpr() ? comma_list(a->testListStarExpr(), false) : nullptr);
  }
  if (auto* a = dynamic_cast<TP::AssignTailContext*>(tail)) {
    auto* st = ctx_.make<AssignStmt>(r);
    std::vector<Expr*> items{lhs};
    for (auto* t : a->testListStarExpr()) items.push_back(comma_list(t, false));
    st->value = items.back();
    items.pop_back();
    for (Expr* t : items) check_target(t, false);
    st->targets = std::move(items);
    return st;
  }
  return ctx_.make<ErrorStmt>(r);
}

Body AstBuilder::block(TP::BlockContext* c) {
  Body out;
  if (!c) return out;
  if (c->simpleStmts()) {
    simple_stmts(c->simpleStmts(), out);
  } else {
    for (auto* s : c->statement()) statement(s, out);
  }
  return out;
}

namespace {
// A compound statement's range runs from its first token to the end of the
// last statement in its last block (not to the DEDENT that closes it).
SourceRange span_to(SourceRange head, const Body& last) {
  if (!last.empty() && last.back()->range.valid()) head.end = last.back()->range.end;
  return head;
}
}  // namespace

Stmt* AstBuilder::compound_stmt(TP::CompoundStmtContext* c) {
  Stmt* s = nullptr;
  if (c->ifStmt()) s = if_stmt(c->ifStmt());
  else if (c->whileStmt()) s = while_stmt(c->whileStmt());
  else if (c->forStmt()) s = for_stmt(c->forStmt());
  else if (c->withStmt()) s = with_stmt(c->withStmt());
  else if (c->tryStmt()) s = try_stmt(c->tryStmt());
  else if (c->funcDef()) s = func_def(c->funcDef());
  else if (c->classDef()) s = class_def(c->classDef());
  else if (c->decorated()) s = decorated(c->decorated());
  if (!s) return ctx_.make<ErrorStmt>(range(c));
  if (c->ASYNC()) {
    s->range.begin = range(c->ASYNC()).begin;
    if (auto* f = dyn_cast<FunctionDefStmt>(s)) f->is_async = true;
    if (auto* f = dyn_cast<ForStmt>(s)) f->is_async = true;
    if (auto* w = dyn_cast<WithStmt>(s)) w->is_async = true;
  }
  return s;
}

Stmt* AstBuilder::if_stmt(TP::IfStmtContext* c) {
  auto tests = c->test();
  auto blocks = c->block();
  if (tests.empty() || blocks.empty()) return ctx_.make<ErrorStmt>(range(c));
  // Build the elif chain from the inside out.
  bool has_else = c->ELSE() != nullptr && blocks.size() > tests.size();
  Body tail;
  if (has_else) tail = block(blocks.back());
  IfStmt* inner = nullptr;
  for (size_t k = tests.size(); k-- > 0;) {
    SourceRange head = range(tests[k]);
    if (k == 0) head.begin = range(c).begin;
    else if (auto* e = c->ELIF(k - 1)) head.begin = range(e).begin;
    auto* s = ctx_.make<IfStmt>(head, test(tests[k]));
    s->is_elif = k > 0;
    s->then_body = k < blocks.size() ? block(blocks[k]) : Body{};
    if (inner) {
      s->else_body.push_back(inner);
    } else {
      s->else_body = std::move(tail);
    }
    s->range = span_to(s->range, s->else_body.empty() ? s->then_body : s->else_body);
    inner = s;
  }
  return inner;
}

Stmt* AstBuilder::while_stmt(TP::WhileStmtContext* c) {
  if (!c->test()) return ctx_.make<ErrorStmt>(range(c));
  auto* s = ctx_.make<WhileStmt>(range(c), test(c->test()));
  auto blocks = c->block();
  ++loop_depth_;
  if (!blocks.empty()) s->body = block(blocks[0]);
  --loop_depth_;
  if (blocks.size() > 1) s->else_body = block(blocks[1]);
  s->range = span_to(s->range, s->else_body.empty() ? s->body : s->else_body);
  return s;
}

Stmt* AstBuilder::for_stmt(TP::ForStmtContext* c) {
  if (!c->exprList() || !c->testList()) return ctx_.make<ErrorStmt>(range(c));
  Expr* target = comma_list(c->exprList(), false);
  check_target(target, false);
  auto* s = ctx_.make<ForStmt>(range(c), target, comma_list(c->testList(), false));
  auto blocks = c->block();
  ++loop_depth_;
  if (!blocks.empty()) s->body = block(blocks[0]);
  --loop_depth_;
  if (blocks.size() > 1) s->else_body = block(blocks[1]);
  s->range = span_to(s->range, s->else_body.empty() ? s->body : s->else_body);
  return s;
}

Stmt* AstBuilder::with_stmt(TP::WithStmtContext* c) {
  auto* s = ctx_.make<WithStmt>(range(c));
  for (auto* item : c->withItem()) {
    WithItem w;
    w.context = item->test() ? test(item->test()) : error_expr(item);
    if (item->primary()) {
      w.target = primary(item->primary());
      check_target(w.target, false);
    }
    s->items.push_back(w);
  }
  s->body = block(c->block());
  s->range = span_to(s->range, s->body);
  return s;
}

Stmt* AstBuilder::try_stmt(TP::TryStmtContext* c) {
  auto* s = ctx_.make<TryStmt>(range(c));
  // Blocks in order: try body, handler bodies (inside exceptClause), else, finally.
  auto blocks = c->block();
  size_t bi = 0;
  if (bi < blocks.size()) s->body = block(blocks[bi++]);
  for (auto* h : c->exceptClause()) {
    ExceptHandler eh;
    eh.range = range(h);
    if (h->test()) eh.type = test(h->test());
    if (h->NAME()) eh.name = h->NAME()->getText();
    eh.body = block(h->block());
    eh.range = span_to(eh.range, eh.body);
    s->handlers.push_back(std::move(eh));
  }
  if (c->ELSE() && bi < blocks.size()) s->else_body = block(blocks[bi++]);
  if (c->FINALLY() && bi < blocks.size()) s->finally_body = block(blocks[bi++]);
  const Body* last = &s->body;
  if (!s->handlers.empty()) last = &s->handlers.back().body;
  if (!s->else_body.empty()) last = &s->else_body;
  if (!s->finally_body.empty()) last = &s->finally_body;
  s->range = span_to(s->range, *last);
  return s;
}

void AstBuilder::extract_docstring(Body& body, std::string& doc, bool& has_doc) {
  if (body.empty()) return;
  auto* es = dyn_cast<ExprStmt>(body.front());
  if (!es) return;
  if (auto* str = dyn_cast<StringLiteralExpr>(es->expr)) {
    doc = str->value;
    has_doc = true;
  }
}

std::vector<Param> AstBuilder::params(TP::ParamListContext* c) {
  std::vector<Param> out;
  if (!c) return out;
  for (auto* p : c->param()) {
    Param prm;
    prm.range = range(p);
    auto tests = p->test();
    if (p->SLASH()) {
      prm.kind = ParamKind::PositionalOnlyMarker;
    } else if (p->STAR()) {
      prm.kind = p->NAME() ? ParamKind::VarArgs : ParamKind::KeywordOnlyMarker;
    } else if (p->POWER()) {
      prm.kind = ParamKind::KwArgs;
    }
    if (p->NAME()) {
      prm.name = p->NAME()->getText();
      prm.name_range = range(p->NAME());
    }
    // The annotation follows ':' and the default follows '='; find which is which.
    size_t ti = 0;
    for (ParseTree* ch : p->children) {
      size_t tt = token_type(ch);
      if (tt == TP::COLON && ti < tests.size()) prm.annotation = test(tests[ti++]);
      if (tt == TP::ASSIGN && ti < tests.size()) prm.default_value = test(tests[ti++]);
    }
    out.push_back(std::move(prm));
  }
  return out;
}

std::vector<Param> AstBuilder::lambda_params(TP::LambdaParamsContext* c) {
  std::vector<Param> out;
  if (!c) return out;
  for (auto* p : c->lambdaParam()) {
    Param prm;
    prm.range = range(p);
    if (p->STAR()) prm.kind = p->NAME() ? ParamKind::VarArgs : ParamKind::KeywordOnlyMarker;
    if (p->POWER()) prm.kind = ParamKind::KwArgs;
    if (p->NAME()) {
      prm.name = p->NAME()->getText();
      prm.name_range = range(p->NAME());
    }
    if (p->test()) prm.default_value = test(p->test());
    out.push_back(std::move(prm));
  }
  return out;
}

Stmt* AstBuilder::func_def(TP::FuncDefContext* c) {
  if (!c->NAME()) return ctx_.make<ErrorStmt>(range(c));
  auto* f = ctx_.make<FunctionDefStmt>(range(c), c->NAME()->getText(), range(c->NAME()));
  if (auto* g = c->genericParams()) {
    for (auto* n : g->NAME()) f->generics.push_back({n->getText(), range(n)});
  }
  f->params = params(c->paramList());
  if (c->test()) f->returns = test(c->test());
  int loops_outside = std::exchange(loop_depth_, 0);
  f->body = block(c->block());
  loop_depth_ = loops_outside;
  extract_docstring(f->body, f->docstring, f->has_docstring);
  f->range = span_to(f->range, f->body);
  return f;
}

Stmt* AstBuilder::class_def(TP::ClassDefContext* c) {
  if (!c->NAME()) return ctx_.make<ErrorStmt>(range(c));
  auto* k = ctx_.make<ClassDefStmt>(range(c), c->NAME()->getText(), range(c->NAME()));
  k->bases = arg_list(c->argList());
  int loops_outside = std::exchange(loop_depth_, 0);
  k->body = block(c->block());
  loop_depth_ = loops_outside;
  extract_docstring(k->body, k->docstring, k->has_docstring);
  k->range = span_to(k->range, k->body);
  return k;
}

Stmt* AstBuilder::decorated(TP::DecoratedContext* c) {
  std::vector<Decorator> decos;
  for (auto* d : c->decorator()) {
    Decorator deco;
    deco.range = range(d);
    Expr* e = nullptr;
    if (auto* dn = d->dottedName()) {
      auto names = dn->NAME();
      for (size_t i = 0; i < names.size(); ++i) {
        SourceRange nr = range(names[i]);
        e = i == 0 ? static_cast<Expr*>(ctx_.make<NameExpr>(nr, names[i]->getText()))
                   : ctx_.make<AttributeExpr>(join(e->range, nr), e, names[i]->getText(), nr);
      }
    }
    if (!e) e = error_expr(d);
    if (d->LPAREN()) {
      auto* call = ctx_.make<CallExpr>(join(e->range, range(d->RPAREN() ? d->RPAREN() : d->LPAREN())), e);
      call->args = arg_list(d->argList());
      e = call;
    }
    deco.expr = e;
    deco.range = join(range(d->AT()), e->range);
    decos.push_back(deco);
  }
  Stmt* s = nullptr;
  if (c->funcDef()) s = func_def(c->funcDef());
  else if (c->classDef()) s = class_def(c->classDef());
  if (!s) return ctx_.make<ErrorStmt>(range(c));
  if (auto* f = dyn_cast<FunctionDefStmt>(s)) {
    f->decorators = std::move(decos);
    f->is_async = c->ASYNC() != nullptr;
  } else if (auto* k = dyn_cast<ClassDefStmt>(s)) {
    k->decorators = std::move(decos);
  }
  return s;
}

// -------------------------------------------------------------- expressions

Expr* AstBuilder::build_field(TP::FstringFieldContext* c) {
  if (!c || !c->testListStarExpr()) return ctx_.make<ErrorExpr>(range(c));
  return comma_list(c->testListStarExpr(), false);
}

Expr* AstBuilder::test(TP::TestContext* c) {
  if (!c) return ctx_.make<ErrorExpr>(SourceRange{});
  if (too_deep(c)) return error_expr(c);
  if (auto* l = c->lambdef()) return lambdef(l, l->lambdaParams(), l->test() ? test(l->test()) : error_expr(l));
  auto ors = c->expr();
  if (ors.empty()) return error_expr(c);
  Expr* value = expr(ors[0]);
  if (ors.size() == 2) {
    Expr* cond = expr(ors[1]);
    Expr* other = c->test() ? test(c->test()) : error_expr(c);
    return ctx_.make<ConditionalExpr>(range(c), cond, value, other);
  }
  return value;
}

Expr* AstBuilder::test_nocond(TP::TestNoCondContext* c) {
  if (!c) return ctx_.make<ErrorExpr>(SourceRange{});
  if (too_deep(c)) return error_expr(c);
  if (auto* l = c->lambdefNoCond())
    return lambdef(l, l->lambdaParams(), l->testNoCond() ? test_nocond(l->testNoCond()) : error_expr(l));
  return c->expr() ? expr(c->expr()) : error_expr(c);
}

Expr* AstBuilder::lambdef(ParserRuleContext* c, TP::LambdaParamsContext* ps, Expr* body) {
  auto* l = ctx_.make<LambdaExpr>(range(c));
  l->params = lambda_params(ps);
  l->body = body;
  return l;
}

namespace {

// Left-associative binary alternatives, whose left operand is expr(0).
bool is_left_binary(TP::ExprContext* c) {
  return dynamic_cast<TP::MulExprContext*>(c) || dynamic_cast<TP::AddExprContext*>(c) ||
         dynamic_cast<TP::BitAndExprContext*>(c) || dynamic_cast<TP::BitOrExprContext*>(c) ||
         dynamic_cast<TP::CompareExprContext*>(c) || dynamic_cast<TP::AndExprContext*>(c) ||
         dynamic_cast<TP::OrExprContext*>(c);
}

CompareOp compare_op_for(TP::CompOpContext* o) {
  if (!o) return CompareOp::Eq;
  if (o->LT()) return CompareOp::Lt;
  if (o->GT()) return CompareOp::Gt;
  if (o->NOTEQ()) return CompareOp::Ne;
  if (o->LTE()) return CompareOp::Le;
  if (o->GTE()) return CompareOp::Ge;
  if (o->IN()) return o->NOT() ? CompareOp::NotIn : CompareOp::In;
  if (o->IS()) return o->NOT() ? CompareOp::IsNot : CompareOp::Is;
  return CompareOp::Eq;
}

}  // namespace

// Binary chains are walked down their left spine with a loop, so a long
// `a + b + c + ...` does not recurse once per operator.
Expr* AstBuilder::expr(TP::ExprContext* c) {
  if (!c) return ctx_.make<ErrorExpr>(SourceRange{});
  if (too_deep(c)) return error_expr(c);
  std::vector<TP::ExprContext*> spine;
  TP::ExprContext* cur = c;
  while (is_left_binary(cur)) {
    spine.push_back(cur);
    TP::ExprContext* left = cur->getRuleContext<TP::ExprContext>(0);
    if (!left) break;
    cur = left;
  }
  Expr* lhs = is_left_binary(cur) ? error_expr(cur) : expr_operand(cur);
  CompareExpr* open_chain = nullptr;  // a comparison chain lhs may extend
  for (auto it = spine.rbegin(); it != spine.rend(); ++it) {
    TP::ExprContext* node = *it;
    TP::ExprContext* right = node->getRuleContext<TP::ExprContext>(1);
    Expr* rhs = right ? expr(right) : error_expr(node);
    SourceRange r = join(lhs->range, rhs->range);
    if (auto* cmp = dynamic_cast<TP::CompareExprContext*>(node)) {
      CompareOp op = compare_op_for(cmp->compOp());
      if (open_chain) {
        open_chain->rest.push_back({op, rhs});
        open_chain->range = r;
        continue;
      }
      open_chain = ctx_.make<CompareExpr>(r, lhs);
      open_chain->rest.push_back({op, rhs});
      lhs = open_chain;
      continue;
    }
    open_chain = nullptr;
    antlr4::Token* op_token = nullptr;
    BinaryOp op = BinaryOp::Add;
    if (auto* m = dynamic_cast<TP::MulExprContext*>(node)) {
      op_token = m->op;
    } else if (auto* a = dynamic_cast<TP::AddExprContext*>(node)) {
      op_token = a->op;
    } else if (auto* b = dynamic_cast<TP::BitAndExprContext*>(node)) {
      op_token = b->AMP()->getSymbol();
    } else if (auto* b2 = dynamic_cast<TP::BitOrExprContext*>(node)) {
      op_token = b2->PIPE()->getSymbol();
    } else if (auto* a2 = dynamic_cast<TP::AndExprContext*>(node)) {
      op_token = a2->AND()->getSymbol();
    } else if (auto* o = dynamic_cast<TP::OrExprContext*>(node)) {
      op_token = o->OR()->getSymbol();
    }
    if (op_token) op = binary_op_for(op_token->getType());
    auto* bin = ctx_.make<BinaryExpr>(r, op, lhs, rhs);
    bin->op_range = range(op_token);
    lhs = bin;
  }
  if (open_chain && spine.size() == 1) open_chain->range = range(c);
  return lhs;
}

// The operand at the bottom of a left spine: a primary, a prefix operator
// or a (right-associative) power.
Expr* AstBuilder::expr_operand(TP::ExprContext* c) {
  SourceRange r = range(c);
  if (auto* p = dynamic_cast<TP::PrimaryExprContext*>(c)) return p->primary() ? primary(p->primary()) : error_expr(c);
  if (auto* u = dynamic_cast<TP::UnaryExprContext*>(c)) {
    UnaryOp op = !u->op ? UnaryOp::Neg
                 : u->op->getType() == TP::MINUS ? UnaryOp::Neg
                 : u->op->getType() == TP::PLUS  ? UnaryOp::Pos
                                                 : UnaryOp::Invert;
    return ctx_.make<UnaryExpr>(r, op, u->expr() ? expr(u->expr()) : error_expr(c));
  }
  if (auto* n = dynamic_cast<TP::NotExprContext*>(c))
    return ctx_.make<UnaryExpr>(r, UnaryOp::Not, n->expr() ? expr(n->expr()) : error_expr(c));
  if (auto* pw = dynamic_cast<TP::PowerExprContext*>(c)) {
    auto parts = pw->expr();
    Expr* base = parts.size() > 0 ? expr(parts[0]) : error_expr(c);
    Expr* exponent = parts.size() > 1 ? expr(parts[1]) : error_expr(c);
    auto* b = ctx_.make<BinaryExpr>(r, BinaryOp::Pow, base, exponent);
    b->op_range = range(pw->POWER());
    return b;
  }
  return error_expr(c);
}

Expr* AstBuilder::primary(TP::PrimaryContext* c) {
  if (too_deep(c)) return error_expr(c);
  Expr* e = c->atom() ? atom(c->atom()) : error_expr(c);
  for (TP::TrailerContext* t : c->trailer()) {
    SourceRange r = join(e->range, range(t));
    if (auto* call = dynamic_cast<TP::CallTrailerContext*>(t)) {
      auto* ce = ctx_.make<CallExpr>(r, e);
      ce->args = arg_list(call->argList());
      e = ce;
    } else if (auto* idx = dynamic_cast<TP::IndexTrailerContext*>(t)) {
      auto* se = ctx_.make<SubscriptExpr>(r, e);
      if (auto* list = idx->subscriptList()) {
        for (auto* s : list->subscript()) se->indices.push_back(subscript(s));
      }
      e = se;
    } else if (auto* at = dynamic_cast<TP::AttrTrailerContext*>(t)) {
      if (!at->NAME()) {
        e = ctx_.make<ErrorExpr>(r);
        continue;
      }
      e = ctx_.make<AttributeExpr>(r, e, at->NAME()->getText(), range(at->NAME()));
    }
  }
  if (c->AWAIT()) e = ctx_.make<AwaitExpr>(range(c), e);
  return e;
}

Expr* AstBuilder::subscript(TP::SubscriptContext* c) {
  SourceRange r = range(c);
  if (auto* p = dynamic_cast<TP::PolicySubscriptContext*>(c))
    return ctx_.make<PolicyExpr>(r, p->primary() ? primary(p->primary()) : error_expr(p));
  if (auto* k = dynamic_cast<TP::KeywordSubscriptContext*>(c))
    return ctx_.make<KeywordExpr>(r, k->NAME() ? k->NAME()->getText() : "", k->test() ? test(k->test()) : error_expr(k));
  if (auto* t = dynamic_cast<TP::TestSubscriptContext*>(c)) {
    auto tests = t->test();
    Expr* first = tests.empty() ? error_expr(t) : test(tests[0]);
    if (!t->COLON()) return first;
    auto* s = ctx_.make<SliceExpr>(r);
    s->lower = first;
    if (tests.size() > 1) s->upper = test(tests[1]);
    if (auto* st = t->sliceStep(); st && st->test()) s->step = test(st->test());
    return s;
  }
  if (auto* o = dynamic_cast<TP::OpenSliceSubscriptContext*>(c)) {
    auto* s = ctx_.make<SliceExpr>(r);
    if (o->test()) s->upper = test(o->test());
    if (auto* st = o->sliceStep(); st && st->test()) s->step = test(st->test());
    return s;
  }
  return error_expr(c);
}

std::vector<Argument> AstBuilder::arg_list(TP::ArgListContext* c) {
  std::vector<Argument> out;
  if (!c) return out;
  for (TP::ArgumentContext* a : c->argument()) {
    Argument arg;
    arg.range = range(a);
    if (auto* k = dynamic_cast<TP::KeywordArgumentContext*>(a)) {
      arg.kind = ArgKind::Keyword;
      if (k->NAME()) {
        arg.name = k->NAME()->getText();
        arg.name_range = range(k->NAME());
      }
      arg.value = k->test() ? test(k->test()) : error_expr(k);
    } else if (auto* s = dynamic_cast<TP::StarArgumentContext*>(a)) {
      arg.kind = ArgKind::Star;
      arg.value = s->test() ? test(s->test()) : error_expr(s);
    } else if (auto* d = dynamic_cast<TP::DoubleStarArgumentContext*>(a)) {
      arg.kind = ArgKind::DoubleStar;
      arg.value = d->test() ? test(d->test()) : error_expr(d);
    } else if (auto* p = dynamic_cast<TP::PositionalArgumentContext*>(a)) {
      Expr* v = p->test() ? test(p->test()) : error_expr(p);
      if (p->compFor()) {
        auto* comp = ctx_.make<ComprehensionExpr>(range(p), ComprehensionKind::Generator);
        comp->element = v;
        comp_clauses(p->compFor(), comp->clauses);
        v = comp;
      }
      arg.value = v;
    } else {
      arg.value = error_expr(a);
    }
    out.push_back(std::move(arg));
  }
  return out;
}

void AstBuilder::comp_clauses(TP::CompForContext* c, std::vector<ComprehensionClause>& out) {
  // compFor and compIf nest to the right; walk them with a loop.
  ParserRuleContext* cur = c;
  while (cur) {
    if (auto* f = dynamic_cast<TP::CompForContext*>(cur)) {
      ComprehensionClause cl;
      cl.is_async = f->ASYNC() != nullptr;
      cl.target = f->exprList() ? comma_list(f->exprList(), false) : error_expr(f);
      check_target(cl.target, false);
      cl.iter = f->expr() ? expr(f->expr()) : error_expr(f);
      out.push_back(cl);
      TP::CompIterContext* it = f->compIter();
      cur = it ? (it->compFor() ? static_cast<ParserRuleContext*>(it->compFor()) : it->compIf()) : nullptr;
    } else if (auto* i = dynamic_cast<TP::CompIfContext*>(cur)) {
      ComprehensionClause cl;
      cl.is_if = true;
      cl.cond = i->testNoCond() ? test_nocond(i->testNoCond()) : error_expr(i);
      out.push_back(cl);
      TP::CompIterContext* it = i->compIter();
      cur = it ? (it->compFor() ? static_cast<ParserRuleContext*>(it->compFor()) : it->compIf()) : nullptr;
    } else {
      cur = nullptr;
    }
  }
}

Expr* AstBuilder::star_expr(TP::StarExprContext* c) {
  return ctx_.make<StarredExpr>(range(c), c->expr() ? expr(c->expr()) : error_expr(c));
}

Expr* AstBuilder::test_or_star(ParseTree* t) {
  if (auto* x = dynamic_cast<TP::TestContext*>(t)) return test(x);
  if (auto* x = dynamic_cast<TP::StarExprContext*>(t)) return star_expr(x);
  if (auto* x = dynamic_cast<TP::ExprContext*>(t)) return expr(x);
  if (auto* x = dynamic_cast<TP::PrimaryContext*>(t)) return primary(x);
  if (auto* x = dynamic_cast<ParserRuleContext*>(t)) return error_expr(x);
  return ctx_.make<ErrorExpr>(SourceRange{});
}

Expr* AstBuilder::comma_list(ParserRuleContext* c, bool parenthesized) {
  std::vector<Expr*> items;
  bool trailing_comma = false;
  for (ParseTree* ch : c->children) {
    if (as_terminal(ch)) {
      trailing_comma = token_type(ch) == TP::COMMA;
      continue;
    }
    trailing_comma = false;
    items.push_back(test_or_star(ch));
  }
  if (items.size() == 1 && !trailing_comma) return items[0];
  if (items.empty()) return error_expr(c);
  auto* t = ctx_.make<TupleExpr>(range(c), parenthesized);
  t->elements = std::move(items);
  return t;
}

Expr* AstBuilder::test_list_comp(TP::TestListCompContext* c, ParserRuleContext* whole, char bracket) {
  SourceRange r = range(whole);
  if (auto* cf = c->compFor()) {
    auto kind = bracket == '[' ? ComprehensionKind::List : ComprehensionKind::Generator;
    auto* comp = ctx_.make<ComprehensionExpr>(r, kind);
    comp->element = test_or_star(c->children.empty() ? nullptr : c->children[0]);
    comp_clauses(cf, comp->clauses);
    return comp;
  }
  if (bracket == '[') {
    auto* l = ctx_.make<ListExpr>(r);
    for (ParseTree* ch : c->children)
      if (!as_terminal(ch)) l->elements.push_back(test_or_star(ch));
    return l;
  }
  Expr* e = comma_list(c, true);
  if (auto* t = dyn_cast<TupleExpr>(e)) t->range = r;
  return e;
}

Expr* AstBuilder::dict_or_set(TP::DictOrSetMakerContext* c, ParserRuleContext* whole) {
  SourceRange r = range(whole);
  auto entries = c->dictEntry();
  if (!entries.empty()) {
    auto to_entry = [&](TP::DictEntryContext* d) {
      DictEntry e;
      if (d->POWER()) {
        e.value = d->expr() ? expr(d->expr()) : error_expr(d);
      } else {
        auto ts = d->test();
        e.key = ts.size() > 0 ? test(ts[0]) : error_expr(d);
        e.value = ts.size() > 1 ? test(ts[1]) : error_expr(d);
      }
      return e;
    };
    if (c->compFor()) {
      auto* comp = ctx_.make<ComprehensionExpr>(r, ComprehensionKind::Dict);
      DictEntry e = to_entry(entries[0]);
      comp->element = e.key ? e.key : error_expr(entries[0]);
      comp->value = e.value;
      comp_clauses(c->compFor(), comp->clauses);
      return comp;
    }
    auto* d = ctx_.make<DictExpr>(r);
    for (auto* e : entries) d->entries.push_back(to_entry(e));
    return d;
  }
  if (c->compFor()) {
    auto* comp = ctx_.make<ComprehensionExpr>(r, ComprehensionKind::Set);
    comp->element = test_or_star(c->children.empty() ? nullptr : c->children[0]);
    comp_clauses(c->compFor(), comp->clauses);
    return comp;
  }
  auto* s = ctx_.make<SetExpr>(r);
  for (ParseTree* ch : c->children)
    if (!as_terminal(ch)) s->elements.push_back(test_or_star(ch));
  return s;
}

Expr* AstBuilder::atom(TP::AtomContext* c) {
  SourceRange r = range(c);
  if (auto* p = dynamic_cast<TP::ParenAtomContext*>(c)) {
    if (!p->testListComp()) return ctx_.make<TupleExpr>(r, true);
    Expr* e = test_list_comp(p->testListComp(), p, '(');
    return e;
  }
  if (auto* l = dynamic_cast<TP::ListAtomContext*>(c)) {
    if (!l->testListComp()) return ctx_.make<ListExpr>(r);
    return test_list_comp(l->testListComp(), l, '[');
  }
  if (auto* b = dynamic_cast<TP::BraceAtomContext*>(c)) {
    if (!b->dictOrSetMaker()) return ctx_.make<DictExpr>(r);
    return dict_or_set(b->dictOrSetMaker(), b);
  }
  if (auto* n = dynamic_cast<TP::NameAtomContext*>(c)) return ctx_.make<NameExpr>(r, n->getText());
  if (dynamic_cast<TP::IntAtomContext*>(c)) {
    std::string spelling = c->getText();
    std::string digits;
    for (char ch : spelling)
      if (ch != '_') digits.push_back(ch);
    int base = 10;
    size_t skip = 0;
    if (digits.size() > 1 && digits[0] == '0' && std::isalpha(static_cast<unsigned char>(digits[1]))) {
      char k = static_cast<char>(std::tolower(static_cast<unsigned char>(digits[1])));
      base = k == 'x' ? 16 : k == 'o' ? 8 : 2;
      skip = 2;
    }
    errno = 0;
    char* end = nullptr;
    unsigned long long v = std::strtoull(digits.c_str() + skip, &end, base);
    if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX)) {
      diags_.report(DiagKind::InvalidNumber, r, spelling).label("this integer does not fit in 64 bits");
      return ctx_.make<ErrorExpr>(r);
    }
    if (base == 10 && digits.size() > 1 && digits[0] == '0' && v != 0) {
      diags_.report(DiagKind::InvalidNumber, r, spelling)
          .label("leading zeros are not allowed in decimal integers")
          .help("write 0o for an octal number");
      return ctx_.make<ErrorExpr>(r);
    }
    return ctx_.make<IntLiteralExpr>(r, spelling, v);
  }
  if (dynamic_cast<TP::FloatAtomContext*>(c)) {
    std::string spelling = c->getText();
    std::string digits;
    for (char ch : spelling)
      if (ch != '_') digits.push_back(ch);
    double v = std::strtod(digits.c_str(), nullptr);
    return ctx_.make<FloatLiteralExpr>(r, spelling, v);
  }
  if (auto* s = dynamic_cast<TP::StringAtomContext*>(c)) return strings(s);
  if (dynamic_cast<TP::EllipsisAtomContext*>(c)) return ctx_.make<EllipsisLiteralExpr>(r);
  if (dynamic_cast<TP::NoneAtomContext*>(c)) return ctx_.make<NoneLiteralExpr>(r);
  if (dynamic_cast<TP::TrueAtomContext*>(c)) return ctx_.make<BoolLiteralExpr>(r, true);
  if (dynamic_cast<TP::FalseAtomContext*>(c)) return ctx_.make<BoolLiteralExpr>(r, false);
  return error_expr(c);
}

// Adjacent string literals concatenate; any f-string among them makes the
// result an FStringExpr.
Expr* AstBuilder::strings(TP::StringAtomContext* c) {
  SourceRange r = range(c);
  std::vector<FStringPart> parts;
  bool any_f = false, bytes = false;
  auto add_text = [&](const std::string& t) {
    if (t.empty()) return;
    if (!parts.empty() && !parts.back().expr) {
      parts.back().text += t;
    } else {
      FStringPart p;
      p.text = t;
      parts.push_back(std::move(p));
    }
  };
  for (TerminalNode* tok : c->STRING()) {
    std::u32string text;
    decode_utf8(tok->getText(), text);
    StringPieces sp = split_string(text);
    bytes = bytes || sp.is_bytes;
    uint32_t body_offset = static_cast<uint32_t>(tok->getSymbol()->getStartIndex() + sp.prefix_len + sp.quote_len);
    if (!sp.is_f) {
      add_text(decode_escapes(encode_utf8(sp.body), sp.is_raw));
      continue;
    }
    any_f = true;
    const std::u32string& b = sp.body;
    std::u32string literal;
    size_t i = 0;
    auto flush = [&] {
      add_text(decode_escapes(encode_utf8(literal), sp.is_raw));
      literal.clear();
    };
    while (i < b.size()) {
      char32_t ch = b[i];
      if (ch == U'{' && i + 1 < b.size() && b[i + 1] == U'{') {
        literal.push_back(U'{');
        i += 2;
        continue;
      }
      if (ch == U'}' && i + 1 < b.size() && b[i + 1] == U'}') {
        literal.push_back(U'}');
        i += 2;
        continue;
      }
      if (ch == U'}') {
        diags_.report(DiagKind::InvalidFString, {{file_, body_offset + static_cast<uint32_t>(i)}, {file_, body_offset + static_cast<uint32_t>(i + 1)}},
                      "single '}' is not allowed")
            .help("write '}}' for a literal brace");
        ++i;
        continue;
      }
      if (ch != U'{') {
        literal.push_back(ch);
        ++i;
        continue;
      }
      // A replacement field: find its end, skipping nested brackets and strings.
      size_t start = i + 1, j = start;
      int depth = 0;
      char32_t quote = 0;
      size_t expr_end = std::u32string::npos, conv_pos = std::u32string::npos, spec_pos = std::u32string::npos;
      for (; j < b.size(); ++j) {
        char32_t d = b[j];
        if (quote) {
          if (d == quote) quote = 0;
          continue;
        }
        if (d == U'\'' || d == U'"') quote = d;
        else if (d == U'(' || d == U'[' || d == U'{') ++depth;
        else if ((d == U')' || d == U']' || d == U'}') && depth > 0) --depth;
        else if (depth == 0 && d == U'}') break;
        else if (depth == 0 && d == U'!' && conv_pos == std::u32string::npos && spec_pos == std::u32string::npos &&
                 !(j + 1 < b.size() && b[j + 1] == U'='))
          conv_pos = j;
        else if (depth == 0 && d == U':' && spec_pos == std::u32string::npos)
          spec_pos = j;
      }
      SourceRange field_range{{file_, body_offset + static_cast<uint32_t>(i)},
                              {file_, body_offset + static_cast<uint32_t>(std::min(j + 1, b.size()))}};
      if (j >= b.size()) {
        diags_.report(DiagKind::InvalidFString, field_range, "expected '}' to close the replacement field");
        break;
      }
      expr_end = std::min({conv_pos, spec_pos, j});
      std::u32string expr_text = b.substr(start, expr_end - start);
      bool blank = expr_text.find_first_not_of(U" \t") == std::u32string::npos;
      flush();
      FStringPart part;
      if (blank) {
        diags_.report(DiagKind::InvalidFString, field_range, "empty expression in replacement field");
        part.expr = ctx_.make<ErrorExpr>(field_range);
      } else {
        part.expr = fields_(expr_text, body_offset + static_cast<uint32_t>(start));
      }
      if (conv_pos != std::u32string::npos && conv_pos + 1 < b.size()) {
        char32_t conv = b[conv_pos + 1];
        if (conv == U'r' || conv == U's' || conv == U'a') {
          part.conversion = static_cast<char>(conv);
        } else {
          diags_.report(DiagKind::InvalidFString, field_range, "conversion must be !r, !s or !a");
        }
      }
      if (spec_pos != std::u32string::npos) part.format_spec = encode_utf8(b.substr(spec_pos + 1, j - spec_pos - 1));
      parts.push_back(std::move(part));
      i = j + 1;
    }
    flush();
  }
  if (!any_f) {
    std::string all;
    for (const auto& p : parts) all += p.text;
    return ctx_.make<StringLiteralExpr>(r, std::move(all), bytes);
  }
  auto* f = ctx_.make<FStringExpr>(r);
  f->parts = std::move(parts);
  return f;
}

}  // namespace tessera
