// Internal to the frontend: turns an ANTLR parse tree into the AST.
#pragma once

#include <functional>
#include <string>

#include "TesseraParser.h"
#include "frontend/ast.h"
#include "frontend/diagnostics.h"
#include "frontend/stack_guard.h"

namespace tessera {

// Parses the expression inside an f-string replacement field. `offset` is the
// code-point offset of the text in the file.
using FieldParser = std::function<ast::Expr*(const std::u32string& text, uint32_t offset)>;

class AstBuilder {
 public:
  AstBuilder(uint32_t file, ast::AstContext& ctx, DiagnosticEngine& diags, StackGuard& guard, FieldParser fields)
      : file_(file), ctx_(ctx), diags_(diags), guard_(guard), fields_(std::move(fields)) {}

  // Appends the AST of one top-level statement to `out`.
  void build_statement(TesseraParser::StatementContext* tree, ast::Body& out) { statement(tree, out); }
  // Moves a leading string statement of `body` into the docstring.
  void take_docstring(ast::Body& body, std::string& doc, bool& has_doc) { extract_docstring(body, doc, has_doc); }
  // Suppresses the builder's own checks (assignment targets) after syntax errors.
  void set_quiet(bool quiet) { quiet_ = quiet; }
  // Set when the previous top-level statement had a syntax error: a stray
  // indented block right after it is part of that error.
  void set_after_error(bool after_error) { after_error_ = after_error; }
  ast::Expr* build_field(TesseraParser::FstringFieldContext* tree);

 private:
  // Statements.
  void statement(TesseraParser::StatementContext* c, ast::Body& out);
  void simple_stmts(TesseraParser::SimpleStmtsContext* c, ast::Body& out);
  ast::Stmt* simple_stmt(TesseraParser::SimpleStmtContext* c);
  ast::Stmt* expr_stmt(TesseraParser::ExprStmtContext* c);
  ast::Stmt* compound_stmt(TesseraParser::CompoundStmtContext* c);
  ast::Body block(TesseraParser::BlockContext* c);
  ast::Stmt* if_stmt(TesseraParser::IfStmtContext* c);
  ast::Stmt* while_stmt(TesseraParser::WhileStmtContext* c);
  ast::Stmt* for_stmt(TesseraParser::ForStmtContext* c);
  ast::Stmt* with_stmt(TesseraParser::WithStmtContext* c);
  ast::Stmt* try_stmt(TesseraParser::TryStmtContext* c);
  ast::Stmt* func_def(TesseraParser::FuncDefContext* c);
  ast::Stmt* class_def(TesseraParser::ClassDefContext* c);
  ast::Stmt* decorated(TesseraParser::DecoratedContext* c);
  void extract_docstring(ast::Body& body, std::string& doc, bool& has_doc);
  std::vector<ast::Param> params(TesseraParser::ParamListContext* c);
  std::vector<ast::Param> lambda_params(TesseraParser::LambdaParamsContext* c);

  // Expressions.
  ast::Expr* test(TesseraParser::TestContext* c);
  ast::Expr* test_nocond(TesseraParser::TestNoCondContext* c);
  ast::Expr* lambdef(antlr4::ParserRuleContext* c, TesseraParser::LambdaParamsContext* ps, ast::Expr* body);
  ast::Expr* expr(TesseraParser::ExprContext* c);
  ast::Expr* expr_operand(TesseraParser::ExprContext* c);
  ast::Expr* primary(TesseraParser::PrimaryContext* c);
  ast::Expr* atom(TesseraParser::AtomContext* c);
  ast::Expr* star_expr(TesseraParser::StarExprContext* c);
  ast::Expr* test_or_star(antlr4::tree::ParseTree* t);
  // A comma list: a single element without a trailing comma is itself,
  // anything else a tuple.
  ast::Expr* comma_list(antlr4::ParserRuleContext* c, bool parenthesized);
  ast::Expr* test_list_comp(TesseraParser::TestListCompContext* c, antlr4::ParserRuleContext* whole, char bracket);
  void comp_clauses(TesseraParser::CompForContext* c, std::vector<ast::ComprehensionClause>& out);
  std::vector<ast::Argument> arg_list(TesseraParser::ArgListContext* c);
  ast::Expr* subscript(TesseraParser::SubscriptContext* c);
  ast::Expr* strings(TesseraParser::StringAtomContext* c);
  ast::Expr* dict_or_set(TesseraParser::DictOrSetMakerContext* c, antlr4::ParserRuleContext* whole);

  // Helpers.
  SourceRange range(antlr4::ParserRuleContext* c) const;
  SourceRange range(antlr4::tree::TerminalNode* t) const;
  SourceRange range(antlr4::Token* t) const;
  SourceRange join(SourceRange a, SourceRange b) const { return {a.begin, b.end}; }
  ast::Expr* error_expr(antlr4::ParserRuleContext* c);
  bool too_deep(antlr4::ParserRuleContext* c);
  // `single`: augmented and annotated assignments take one target, not a tuple.
  void check_target(ast::Expr* e, bool sample, bool single = false);

  uint32_t file_;
  ast::AstContext& ctx_;
  DiagnosticEngine& diags_;
  StackGuard& guard_;
  FieldParser fields_;
  bool reported_depth_ = false;
  int loop_depth_ = 0;  // loops around the statement being built, in the current function
  bool quiet_ = false;
  bool after_error_ = false;
};

}  // namespace tessera
