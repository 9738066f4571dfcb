// The AST printer behind `tesserac emit --stage=ast`.
#include "frontend/ast_printer.h"

#include <fmt/format.h>

#include "frontend/diagnostics.h"

namespace tessera::ast {

namespace {

std::string quote(const std::string& s) { return "\"" + json_escape(s) + "\""; }

std::string opt(const Expr* e) { return e ? print_expr(e) : "_"; }

std::string print_params(const std::vector<Param>& params) {
  std::string out;
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    if (i) out += " ";
    switch (p.kind) {
      case ParamKind::Normal: out += p.name; break;
      case ParamKind::VarArgs: out += "*" + p.name; break;
      case ParamKind::KwArgs: out += "**" + p.name; break;
      case ParamKind::PositionalOnlyMarker: out += "/"; break;
      case ParamKind::KeywordOnlyMarker: out += "*"; break;
    }
    if (p.annotation) out += ":" + print_expr(p.annotation);
    if (p.default_value) out += "=" + print_expr(p.default_value);
  }
  return out;
}

std::string print_args(const std::vector<Argument>& args) {
  std::string out;
  for (const Argument& a : args) {
    out += " ";
    switch (a.kind) {
      case ArgKind::Positional: out += print_expr(a.value); break;
      case ArgKind::Keyword: out += "(kw " + a.name + " " + print_expr(a.value) + ")"; break;
      case ArgKind::Star: out += "(* " + print_expr(a.value) + ")"; break;
      case ArgKind::DoubleStar: out += "(** " + print_expr(a.value) + ")"; break;
    }
  }
  return out;
}

std::string join_exprs(const std::vector<Expr*>& es) {
  std::string out;
  for (const Expr* e : es) out += " " + print_expr(e);
  return out;
}

class ModulePrinter {
 public:
  explicit ModulePrinter(const SourceManager& sources) : sources_(sources) {}

  std::string run(const Module& m) {
    line(0, fmt::format("Module {}", quote(sources_.file(m.file).name)));
    if (m.has_docstring) line(1, "docstring " + quote(m.docstring));
    body(m.body, 1);
    return out_;
  }

 private:
  void line(int indent, const std::string& text) {
    out_.append(static_cast<size_t>(indent) * 2, ' ');
    out_ += text;
    out_ += '\n';
  }

  std::string range(SourceRange r) const {
    if (!r.valid()) return "<?>";
    LineCol b = sources_.line_col(r.begin);
    LineCol e = sources_.line_col(r.end);
    return fmt::format("<{}:{}-{}:{}>", b.line, b.col, e.line, e.col);
  }

  void body(const Body& stmts, int indent) {
    for (const Stmt* s : stmts) stmt(s, indent);
  }

  void section(const char* name, const Body& stmts, int indent) {
    if (stmts.empty()) return;
    line(indent, name);
    body(stmts, indent + 1);
  }

  void decorators(const std::vector<Decorator>& ds, int indent) {
    for (const Decorator& d : ds) line(indent, "decorator " + print_expr(d.expr));
  }

  void stmt(const Stmt* s, int indent) {
    std::string head = fmt::format("{} {}", node_kind_name(s->kind), range(s->range));
    switch (s->kind) {
      case NodeKind::ExprStmt:
        line(indent, head + " " + print_expr(cast<ExprStmt>(s)->expr));
        return;
      case NodeKind::AssignStmt: {
        auto* a = cast<AssignStmt>(s);
        std::string text = head;
        for (const Expr* t : a->targets) text += " " + print_expr(t) + " =";
        line(indent, text + " " + print_expr(a->value));
        return;
      }
      case NodeKind::AugAssignStmt: {
        auto* a = cast<AugAssignStmt>(s);
        line(indent, fmt::format("{} {} {}= {}", head, print_expr(a->target), binary_op_spelling(a->op),
                                 print_expr(a->value)));
        return;
      }
      case NodeKind::AnnAssignStmt: {
        auto* a = cast<AnnAssignStmt>(s);
        std::string text = fmt::format("{} {} : {}", head, print_expr(a->target), print_expr(a->annotation));
        if (a->value) text += " = " + print_expr(a->value);
        line(indent, text);
        return;
      }
      case NodeKind::SampleStmt: {
        auto* a = cast<SampleStmt>(s);
        line(indent, fmt::format("{} {} ~ {}", head, print_expr(a->target), print_expr(a->distribution)));
        return;
      }
      case NodeKind::ReturnStmt: {
        auto* r = cast<ReturnStmt>(s);
        line(indent, r->value ? head + " " + print_expr(r->value) : head);
        return;
      }
      case NodeKind::PassStmt:
      case NodeKind::BreakStmt:
      case NodeKind::ContinueStmt:
      case NodeKind::ErrorStmt:
        line(indent, head);
        return;
      case NodeKind::AssertStmt: {
        auto* a = cast<AssertStmt>(s);
        std::string text = head + " " + print_expr(a->test);
        if (a->message) text += ", " + print_expr(a->message);
        line(indent, text);
        return;
      }
      case NodeKind::RaiseStmt: {
        auto* r = cast<RaiseStmt>(s);
        std::string text = head;
        if (r->exception) text += " " + print_expr(r->exception);
        if (r->cause) text += " from " + print_expr(r->cause);
        line(indent, text);
        return;
      }
      case NodeKind::IfStmt: {
        auto* i = cast<IfStmt>(s);
        line(indent, head + (i->is_elif ? " elif " : " ") + print_expr(i->cond));
        section("then:", i->then_body, indent + 1);
        section("else:", i->else_body, indent + 1);
        return;
      }
      case NodeKind::ForStmt: {
        auto* f = cast<ForStmt>(s);
        line(indent, fmt::format("{}{} {} in {}", head, f->is_async ? " async" : "", print_expr(f->target),
                                 print_expr(f->iter)));
        section("body:", f->body, indent + 1);
        section("else:", f->else_body, indent + 1);
        return;
      }
      case NodeKind::WhileStmt: {
        auto* w = cast<WhileStmt>(s);
        line(indent, head + " " + print_expr(w->cond));
        section("body:", w->body, indent + 1);
        section("else:", w->else_body, indent + 1);
        return;
      }
      case NodeKind::WithStmt: {
        auto* w = cast<WithStmt>(s);
        std::string text = head + (w->is_async ? " async" : "");
        for (size_t k = 0; k < w->items.size(); ++k) {
          text += k ? ", " : " ";
          text += print_expr(w->items[k].context);
          if (w->items[k].target) text += " as " + print_expr(w->items[k].target);
        }
        line(indent, text);
        section("body:", w->body, indent + 1);
        return;
      }
      case NodeKind::TryStmt: {
        auto* t = cast<TryStmt>(s);
        line(indent, head);
        section("body:", t->body, indent + 1);
        for (const ExceptHandler& h : t->handlers) {
          std::string text = "except " + range(h.range);
          if (h.type) text += " " + print_expr(h.type);
          if (!h.name.empty()) text += " as " + h.name;
          line(indent + 1, text);
          body(h.body, indent + 2);
        }
        section("else:", t->else_body, indent + 1);
        section("finally:", t->finally_body, indent + 1);
        return;
      }
      case NodeKind::FunctionDefStmt: {
        auto* f = cast<FunctionDefStmt>(s);
        line(indent, fmt::format("{}{} {}", head, f->is_async ? " async" : "", f->name));
        decorators(f->decorators, indent + 1);
        for (const GenericParam& g : f->generics) line(indent + 1, "generic " + g.name);
        for (const Param& p : f->params) line(indent + 1, "param " + print_params({p}));
        if (f->returns) line(indent + 1, "returns " + print_expr(f->returns));
        if (f->has_docstring) line(indent + 1, "docstring " + quote(f->docstring));
        section("body:", f->body, indent + 1);
        return;
      }
      case NodeKind::ClassDefStmt: {
        auto* c = cast<ClassDefStmt>(s);
        line(indent, head + " " + c->name + (c->bases.empty() ? "" : " (bases" + print_args(c->bases) + ")"));
        decorators(c->decorators, indent + 1);
        if (c->has_docstring) line(indent + 1, "docstring " + quote(c->docstring));
        section("body:", c->body, indent + 1);
        return;
      }
      case NodeKind::ImportStmt: {
        auto* im = cast<ImportStmt>(s);
        std::string text = head;
        for (size_t k = 0; k < im->names.size(); ++k) {
          text += k ? ", " : " ";
          text += im->names[k].name;
          if (!im->names[k].alias.empty()) text += " as " + im->names[k].alias;
        }
        line(indent, text);
        return;
      }
      case NodeKind::ImportFromStmt: {
        auto* im = cast<ImportFromStmt>(s);
        std::string text = head + " " + std::string(im->level, '.') + im->module + " import";
        if (im->star) text += " *";
        for (size_t k = 0; k < im->names.size(); ++k) {
          text += k ? ", " : " ";
          text += im->names[k].name;
          if (!im->names[k].alias.empty()) text += " as " + im->names[k].alias;
        }
        line(indent, text);
        return;
      }
      default:
        line(indent, head + " <expression node in statement position>");
        return;
    }
  }

  const SourceManager& sources_;
  std::string out_;
};

}  // namespace

std::string print_expr(const Expr* e) {
  if (!e) return "_";
  switch (e->kind) {
    case NodeKind::NameExpr: return cast<NameExpr>(e)->name;
    case NodeKind::IntLiteralExpr: return std::to_string(cast<IntLiteralExpr>(e)->value);
    case NodeKind::FloatLiteralExpr: return cast<FloatLiteralExpr>(e)->spelling;
    case NodeKind::StringLiteralExpr: {
      auto* s = cast<StringLiteralExpr>(e);
      return (s->is_bytes ? "b" : "") + quote(s->value);
    }
    case NodeKind::FStringExpr: {
      std::string out = "(fstring";
      for (const FStringPart& p : cast<FStringExpr>(e)->parts) {
        if (!p.expr) {
          out += " " + quote(p.text);
          continue;
        }
        out += " (field " + print_expr(p.expr);
        if (p.conversion) out += std::string(" !") + p.conversion;
        if (!p.format_spec.empty()) out += " :" + quote(p.format_spec);
        out += ")";
      }
      return out + ")";
    }
    case NodeKind::BoolLiteralExpr: return cast<BoolLiteralExpr>(e)->value ? "True" : "False";
    case NodeKind::NoneLiteralExpr: return "None";
    case NodeKind::EllipsisLiteralExpr: return "...";
    case NodeKind::UnaryExpr: {
      auto* u = cast<UnaryExpr>(e);
      static const char* names[] = {"neg", "pos", "invert", "not"};
      return fmt::format("({} {})", names[static_cast<int>(u->op)], print_expr(u->operand));
    }
    case NodeKind::BinaryExpr: {
      auto* b = cast<BinaryExpr>(e);
      return fmt::format("({} {} {})", binary_op_spelling(b->op), print_expr(b->lhs), print_expr(b->rhs));
    }
    case NodeKind::CompareExpr: {
      auto* c = cast<CompareExpr>(e);
      if (c->rest.size() == 1)
        return fmt::format("({} {} {})", compare_op_spelling(c->rest[0].first), print_expr(c->first),
                           print_expr(c->rest[0].second));
      std::string out = "(compare " + print_expr(c->first);
      for (const auto& [op, rhs] : c->rest) out += fmt::format(" {} {}", compare_op_spelling(op), print_expr(rhs));
      return out + ")";
    }
    case NodeKind::ConditionalExpr: {
      auto* c = cast<ConditionalExpr>(e);
      return fmt::format("(if {} {} {})", print_expr(c->cond), print_expr(c->then_value), print_expr(c->else_value));
    }
    case NodeKind::LambdaExpr: {
      auto* l = cast<LambdaExpr>(e);
      return fmt::format("(lambda ({}) {})", print_params(l->params), print_expr(l->body));
    }
    case NodeKind::CallExpr: {
      auto* c = cast<CallExpr>(e);
      return "(call " + print_expr(c->callee) + print_args(c->args) + ")";
    }
    case NodeKind::AttributeExpr: {
      auto* a = cast<AttributeExpr>(e);
      return fmt::format("(. {} {})", print_expr(a->object), a->name);
    }
    case NodeKind::SubscriptExpr: {
      auto* s = cast<SubscriptExpr>(e);
      return "(index " + print_expr(s->object) + join_exprs(s->indices) + ")";
    }
    case NodeKind::SliceExpr: {
      auto* s = cast<SliceExpr>(e);
      return fmt::format("(slice {} {} {})", opt(s->lower), opt(s->upper), opt(s->step));
    }
    case NodeKind::KeywordExpr: {
      auto* k = cast<KeywordExpr>(e);
      return fmt::format("(kw {} {})", k->name, print_expr(k->value));
    }
    case NodeKind::PolicyExpr: return "(policy " + print_expr(cast<PolicyExpr>(e)->policy) + ")";
    case NodeKind::StarredExpr: return "(* " + print_expr(cast<StarredExpr>(e)->value) + ")";
    case NodeKind::TupleExpr: return "(tuple" + join_exprs(cast<TupleExpr>(e)->elements) + ")";
    case NodeKind::ListExpr: return "(list" + join_exprs(cast<ListExpr>(e)->elements) + ")";
    case NodeKind::SetExpr: return "(set" + join_exprs(cast<SetExpr>(e)->elements) + ")";
    case NodeKind::DictExpr: {
      std::string out = "(dict";
      for (const DictEntry& d : cast<DictExpr>(e)->entries) {
        if (d.key) {
          out += fmt::format(" ({} {})", print_expr(d.key), print_expr(d.value));
        } else {
          out += " (** " + print_expr(d.value) + ")";
        }
      }
      return out + ")";
    }
    case NodeKind::ComprehensionExpr: {
      auto* c = cast<ComprehensionExpr>(e);
      static const char* names[] = {"listcomp", "setcomp", "dictcomp", "genexpr"};
      std::string out = std::string("(") + names[static_cast<int>(c->comp_kind)] + " " + print_expr(c->element);
      if (c->value) out += " " + print_expr(c->value);
      for (const ComprehensionClause& cl : c->clauses) {
        if (cl.is_if) {
          out += " (if " + print_expr(cl.cond) + ")";
        } else {
          out += fmt::format(" ({}for {} {})", cl.is_async ? "async " : "", print_expr(cl.target), print_expr(cl.iter));
        }
      }
      return out + ")";
    }
    case NodeKind::AwaitExpr: return "(await " + print_expr(cast<AwaitExpr>(e)->value) + ")";
    case NodeKind::ErrorExpr: return "<error>";
    default: return "<statement node in expression position>";
  }
}

std::string print_module(const Module& module, const SourceManager& sources) {
  return ModulePrinter(sources).run(module);
}

}  // namespace tessera::ast
