// Wraps the generated lexer: turns physical line ends into logical NEWLINE,
// INDENT and DEDENT tokens, ignores line ends inside brackets, and reports
// lexical errors (tabs in indentation, bad dedents, stray characters,
// unterminated strings, brackets nested too deeply).
#pragma once

#include <deque>
#include <memory>
#include <set>
#include <vector>

#include <antlr4-runtime.h>

#include "frontend/diagnostics.h"
#include "frontend/source_manager.h"

namespace tessera {

class IndentingTokenSource : public antlr4::TokenSource {
 public:
  IndentingTokenSource(antlr4::Lexer& lexer, uint32_t file, const SourceManager& sources, DiagnosticEngine& diags,
                       int max_bracket_depth, bool expression_only = false, uint32_t shift = 0);

  std::unique_ptr<antlr4::Token> nextToken() override;
  size_t getLine() const override { return lexer_.getLine(); }
  size_t getCharPositionInLine() override { return lexer_.getCharPositionInLine(); }
  antlr4::CharStream* getInputStream() override { return lexer_.getInputStream(); }
  std::string getSourceName() override { return lexer_.getSourceName(); }
  antlr4::TokenFactory<antlr4::CommonToken>* getTokenFactory() override { return lexer_.getTokenFactory(); }

  // Set once an error makes the rest of the file meaningless (E0004); the
  // token stream then ends and later syntax errors are not reported.
  bool fatal() const { return fatal_; }

  // Lines that already carry a lexical error; the syntax error listener
  // reports nothing more on them (one error per line, no cascades).
  const std::set<size_t>& error_lines() const { return error_lines_; }

 private:
  std::unique_ptr<antlr4::Token> synthesize(size_t type, const antlr4::Token& at, bool at_end);
  void start_logical_line(const antlr4::Token& first);
  void finish();

  antlr4::Lexer& lexer_;
  uint32_t file_;
  const SourceManager& sources_;
  DiagnosticEngine& diags_;
  int max_bracket_depth_;
  bool expression_only_;  // f-string fields: no logical lines at all
  uint32_t shift_;        // f-string fields: offset of the lexed text in the file

  std::deque<std::unique_ptr<antlr4::Token>> pending_;
  std::vector<uint32_t> indents_{0};
  std::vector<std::pair<size_t, uint32_t>> open_brackets_;  // token type and offset
  std::set<size_t> error_lines_;
  int depth_ = 0;
  bool at_line_start_ = true;
  bool finished_ = false;
  bool fatal_ = false;
};

}  // namespace tessera
