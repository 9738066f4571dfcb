// The parse driver: lexing through IndentingTokenSource, SLL-then-LL parsing,
// friendly syntax errors with recovery, and the AST builder.
#include "frontend/parser.h"

#include <algorithm>
#include <set>

#include <antlr4-runtime.h>

#include "TesseraLexer.h"
#include "TesseraParser.h"
#include "frontend/ast_builder.h"
#include "frontend/indenting_token_source.h"
#include "frontend/stack_guard.h"

namespace tessera {

namespace {

// Thrown when the parser's recursion has used up its stack budget. Not a
// RecognitionException, so generated rules do not try to recover from it.
struct NestingTooDeep {
  size_t token_index;
};

// The generated parser with a stack check on every rule entry.
class GuardedParser : public TesseraParser {
 public:
  GuardedParser(antlr4::TokenStream* input, StackGuard& guard) : TesseraParser(input), guard_(guard) {}

  void enterRule(antlr4::ParserRuleContext* localctx, size_t state, size_t rule_index) override {
    if (guard_.exhausted()) throw NestingTooDeep{getCurrentToken() ? getCurrentToken()->getTokenIndex() : 0};
    TesseraParser::enterRule(localctx, state, rule_index);
  }

  // Left-recursive rules (expressions) enter through here instead.
  void enterRecursionRule(antlr4::ParserRuleContext* localctx, size_t state, size_t rule_index,
                          int precedence) override {
    if (guard_.exhausted()) throw NestingTooDeep{getCurrentToken() ? getCurrentToken()->getTokenIndex() : 0};
    TesseraParser::enterRecursionRule(localctx, state, rule_index, precedence);
  }

 private:
  StackGuard& guard_;
};

bool is_expression_start(size_t t) {
  switch (t) {
    case TesseraLexer::NAME:
    case TesseraLexer::INT_NUMBER:
    case TesseraLexer::FLOAT_NUMBER:
    case TesseraLexer::STRING:
    case TesseraLexer::LPAREN:
    case TesseraLexer::LBRACK:
    case TesseraLexer::LBRACE:
    case TesseraLexer::MINUS:
    case TesseraLexer::PLUS:
    case TesseraLexer::TILDE:
    case TesseraLexer::NOT:
    case TesseraLexer::LAMBDA:
    case TesseraLexer::AWAIT:
    case TesseraLexer::TRUE:
    case TesseraLexer::FALSE:
    case TesseraLexer::NONE:
    case TesseraLexer::ELLIPSIS:
      return true;
    default:
      return false;
  }
}

std::string describe_type(size_t t, const antlr4::dfa::Vocabulary& vocab) {
  switch (t) {
    case antlr4::Token::EOF: return "end of file";
    case TesseraLexer::NEWLINE: return "end of line";
    case TesseraLexer::INDENT: return "an indented block";
    case TesseraLexer::DEDENT: return "end of block";
    case TesseraLexer::NAME: return "a name";
    case TesseraLexer::INT_NUMBER: return "an integer";
    case TesseraLexer::FLOAT_NUMBER: return "a number";
    case TesseraLexer::STRING: return "a string";
    default: {
      std::string lit = vocab.getLiteralName(t);
      return lit.empty() ? vocab.getDisplayName(t) : lit;
    }
  }
}

std::string describe_token(antlr4::Token* tok) {
  if (!tok) return "input";
  switch (tok->getType()) {
    case antlr4::Token::EOF: return "end of file";
    case TesseraLexer::NEWLINE: return "end of line";
    case TesseraLexer::INDENT: return "indentation";
    case TesseraLexer::DEDENT: return "end of block";
    case TesseraLexer::NAME: return "name '" + tok->getText() + "'";
    case TesseraLexer::INT_NUMBER:
    case TesseraLexer::FLOAT_NUMBER: return "number " + tok->getText();
    case TesseraLexer::STRING: return "string literal";
    default: return "'" + tok->getText() + "'";
  }
}

// ANTLR's default recovery, except that it does not re-synchronize before
// optional parts of a rule: a missing ':' after `def f()` is then repaired by
// single-token insertion instead of abandoning the whole definition.
//
// Recovery also always stops at the end of a logical line or block: the
// driver parses one top-level statement at a time, so the follow sets ANTLR
// computes end there and would otherwise skip the rest of the file.
class TesseraErrorStrategy : public antlr4::DefaultErrorStrategy {
 public:
  void sync(antlr4::Parser*) override {}

 protected:
  antlr4::misc::IntervalSet getErrorRecoverySet(antlr4::Parser* recognizer) override {
    antlr4::misc::IntervalSet set = antlr4::DefaultErrorStrategy::getErrorRecoverySet(recognizer);
    set.add(TesseraLexer::NEWLINE);
    set.add(TesseraLexer::DEDENT);
    set.add(antlr4::Token::EOF);
    return set;
  }
};

// Turns ANTLR's syntax errors into E0002 diagnostics that say what was found
// and what was expected. At most one error is reported per line.
class SyntaxErrorListener : public antlr4::BaseErrorListener {
 public:
  SyntaxErrorListener(uint32_t file, DiagnosticEngine& diags, const IndentingTokenSource& tokens, size_t max_errors)
      : file_(file), diags_(diags), tokens_(tokens), max_errors_(max_errors) {}

  void syntaxError(antlr4::Recognizer* recognizer, antlr4::Token* offending, size_t line, size_t,
                   const std::string&, std::exception_ptr) override {
    if (tokens_.fatal() || stopped_) return;
    if (tokens_.error_lines().count(line) || !lines_.insert(line).second) return;
    // Reaching the end of the file after an error is a consequence of it.
    if (offending && offending->getType() == antlr4::Token::EOF && count_ > 0) return;
    if (++count_ > max_errors_) {
      stopped_ = true;
      diags_.report(DiagKind::TooManyErrors, range_of(offending));
      return;
    }
    auto* parser = dynamic_cast<antlr4::Parser*>(recognizer);
    SourceRange r = range_of(offending);
    if (offending && offending->getType() == TesseraLexer::INDENT) {
      diags_.report(DiagKind::UnexpectedIndent, r)
          .label("this line is indented more than the one before it")
          .help("indent only the body of a block (after a line ending in ':')");
      return;
    }
    std::vector<std::string> expected;
    if (parser) {
      antlr4::misc::IntervalSet set;
      try {
        set = parser->getExpectedTokens();
      } catch (...) {
      }
      bool expr = false;
      int expr_count = 0;
      for (size_t t : set.toList())
        if (is_expression_start(t)) ++expr_count;
      if (expr_count >= 4) expr = true;
      if (expr) expected.push_back("an expression");
      for (size_t t : set.toList()) {
        if (expr && is_expression_start(t)) continue;
        if (t == antlr4::Token::EPSILON) continue;
        expected.push_back(describe_type(t, parser->getVocabulary()));
      }
    }
    std::string found = describe_token(offending);
    auto builder = [&]() {
      if (expected.empty() || expected.size() > 8) return diags_.report(DiagKind::UnexpectedTokenNoExpectation, r, found);
      std::string list;
      for (size_t i = 0; i < expected.size(); ++i) {
        if (i) list += i + 1 == expected.size() ? " or " : ", ";
        list += expected[i];
      }
      if (expected.size() > 1) list = "one of " + list;
      return diags_.report(DiagKind::UnexpectedToken, r, found, list);
    }();
    if (offending && offending->getType() == TesseraLexer::BANG)
      builder.help("use 'not' for logical negation and '!=' for inequality");
    auto expects = [&](const char* what) { return std::find(expected.begin(), expected.end(), what) != expected.end(); };
    if (offending && offending->getType() == TesseraLexer::ASSIGN) {
      if (expects("':'")) builder.help("'=' assigns a value; use '==' to compare");
      else if (expects("')'")) builder.help("keyword arguments are written `name=value` with a name on the left");
    }
    if (offending && offending->getType() == TesseraLexer::ELSE)
      builder.help("'else' belongs after an 'if', 'for', 'while' or 'try' block at the same indentation");
    if (offending && offending->getType() == TesseraLexer::NEWLINE && !expected.empty() && expected[0] == "':'")
      builder.help("a block header ('def', 'if', 'for', 'while', 'with', 'class') ends with ':'");
  }

 private:
  SourceRange range_of(antlr4::Token* t) const {
    if (!t) return {};
    uint32_t b = static_cast<uint32_t>(t->getStartIndex());
    uint32_t e = t->getStopIndex() != static_cast<size_t>(-1) && t->getStopIndex() >= t->getStartIndex()
                     ? static_cast<uint32_t>(t->getStopIndex() + 1)
                     : b;
    // A line end is shown as a point at the end of the line it closes.
    if (t->getType() == TesseraLexer::NEWLINE) e = b;
    return {{file_, b}, {file_, e}};
  }

  uint32_t file_;
  DiagnosticEngine& diags_;
  const IndentingTokenSource& tokens_;
  size_t max_errors_;
  size_t count_ = 0;
  bool stopped_ = false;
  std::set<size_t> lines_;
};

// The file's token stream, which frees the tokens of statements already built: a
// CommonTokenStream keeps every token of the file (about 130 bytes each, most of the front end's
// memory on a large file). Only tokens before the previous top-level statement are freed, so the
// parser's look-behind (LT(-1) at a rule's end, error recovery) never meets a freed one.
class ReleasingTokenStream : public antlr4::CommonTokenStream {
 public:
  using antlr4::CommonTokenStream::CommonTokenStream;
  void release_before(size_t index) {
    for (size_t i = released_; i < index && i < _tokens.size(); ++i) _tokens[i].reset();
    released_ = std::max(released_, index);
  }

 private:
  size_t released_ = 0;
};

// Parses one rule's worth of text with both prediction modes.
template <typename Fn>
auto run_two_stage(GuardedParser& parser, antlr4::CommonTokenStream& tokens, antlr4::ANTLRErrorListener& listener,
                   bool& used_ll, Fn rule) -> decltype(rule()) {
  parser.removeErrorListeners();
  parser.setErrorHandler(std::make_shared<antlr4::BailErrorStrategy>());
  parser.getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(antlr4::atn::PredictionMode::SLL);
  try {
    return rule();
  } catch (antlr4::ParseCancellationException&) {
  } catch (antlr4::RecognitionException&) {
  }
  used_ll = true;
  parser.addErrorListener(&listener);
  parser.setErrorHandler(std::make_shared<TesseraErrorStrategy>());
  parser.getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(antlr4::atn::PredictionMode::LL);
  return rule();
}

// Note: `rule` must seek the token stream to its start itself; both stages
// call it.

struct Session {
  uint32_t file;
  const SourceManager& sources;
  ast::AstContext& ctx;
  DiagnosticEngine& diags;
  const ParseOptions& options;
  StackGuard guard;
};

// Parses the expression of an f-string replacement field found at `offset`.
ast::Expr* parse_field(Session& s, const std::u32string& text, uint32_t offset) {
  antlr4::ANTLRInputStream input(encode_utf8(text));
  TesseraLexer lexer(&input);
  lexer.removeErrorListeners();
  IndentingTokenSource source(lexer, s.file, s.sources, s.diags, s.options.max_bracket_depth, true, offset);
  antlr4::CommonTokenStream tokens(&source);
  GuardedParser parser(&tokens, s.guard);
  SyntaxErrorListener listener(s.file, s.diags, source, s.options.max_errors);
  bool used_ll = false;
  try {
    TesseraParser::FstringFieldContext* tree =
        run_two_stage(parser, tokens, listener, used_ll, [&] {
          tokens.seek(0);
          return parser.fstringField();
        });
    AstBuilder builder(s.file, s.ctx, s.diags, s.guard,
                       [&s](const std::u32string& t, uint32_t o) { return parse_field(s, t, o); });
    return builder.build_field(tree);
  } catch (NestingTooDeep&) {
    SourceRange r{{s.file, offset}, {s.file, offset + static_cast<uint32_t>(text.size())}};
    s.diags.report(DiagKind::ExpressionTooDeep, r);
    return s.ctx.make<ast::ErrorExpr>(r);
  }
}

}  // namespace

ast::Module parse_file(uint32_t file, const SourceManager& sources, ast::AstContext& ctx, DiagnosticEngine& diags,
                       const ParseOptions& options, ParseStats* stats) {
  Session s{file, sources, ctx, diags, options, StackGuard(options.stack_budget_bytes)};
  const SourceFile& f = sources.file(file);
  antlr4::ANTLRInputStream input(f.utf8.size() >= 3 && f.utf8.compare(0, 3, "\xEF\xBB\xBF") == 0 ? f.utf8.substr(3)
                                                                                                  : f.utf8);
  input.name = f.name;
  TesseraLexer lexer(&input);
  lexer.removeErrorListeners();
  IndentingTokenSource source(lexer, file, sources, diags, options.max_bracket_depth);
  ReleasingTokenStream tokens(&source);
  GuardedParser parser(&tokens, s.guard);
  SyntaxErrorListener listener(file, diags, source, options.max_errors);
  AstBuilder builder(file, ctx, diags, s.guard,
                     [&s](const std::u32string& t, uint32_t o) { return parse_field(s, t, o); });

  ast::Module module;
  module.file = file;
  bool used_ll = false;
  size_t previous_start = 0;
  // Top-level statements are parsed one at a time and their parse trees freed
  // as soon as their AST is built, so memory stays proportional to the
  // largest statement rather than to the file.
  while (!source.fatal()) {
    size_t la = tokens.LA(1);
    if (la == antlr4::Token::EOF) break;
    if (la == TesseraLexer::NEWLINE) {
      tokens.consume();
      continue;
    }
    size_t start = tokens.index();
    tokens.release_before(previous_start);
    previous_start = start;
    size_t errors_before = diags.error_count();
    TesseraParser::StatementContext* tree = nullptr;
    try {
      tree = run_two_stage(parser, tokens, listener, used_ll, [&] {
        tokens.seek(start);
        parser.getErrorHandler()->reset(&parser);
        return parser.statement();
      });
    } catch (NestingTooDeep& deep) {
      antlr4::Token* at = tokens.get(std::min(deep.token_index, tokens.size() ? tokens.size() - 1 : 0));
      uint32_t b = at ? static_cast<uint32_t>(at->getStartIndex()) : 0;
      diags.report(DiagKind::ExpressionTooDeep, {{file, b}, {file, b + 1}})
          .label("nesting limit reached here")
          .help("split the code into smaller functions or statements");
      module.body.clear();
      return module;
    }
    if (source.fatal()) break;
    // After a syntax error the tree holds recovery artifacts; checks that the
    // builder makes on top of the grammar would only report cascades.
    builder.set_quiet(diags.error_count() > errors_before);
    builder.build_statement(tree, module.body);
    // A block left over from a statement that failed to parse is not a
    // second mistake; do not report its indentation.
    builder.set_after_error(diags.error_count() > errors_before);
    parser.getTreeTracker().reset();
    if (tokens.index() == start) tokens.consume();  // recovery made no progress
  }
  if (stats) {
    stats->tokens = tokens.size();
    stats->used_ll_fallback = used_ll;
  }
  if (source.fatal()) {
    module.body.clear();
    return module;
  }
  builder.take_docstring(module.body, module.docstring, module.has_docstring);
  if (!module.body.empty()) module.range = {module.body.front()->range.begin, module.body.back()->range.end};
  return module;
}

}  // namespace tessera
