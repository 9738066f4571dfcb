// Logical lines and indentation for the Tessera lexer (Python's rules).
#include "frontend/indenting_token_source.h"

#include "TesseraLexer.h"

namespace tessera {

namespace {

SourceRange token_range(uint32_t file, const antlr4::Token& t) {
  uint32_t b = static_cast<uint32_t>(t.getStartIndex());
  uint32_t e = t.getStopIndex() == static_cast<size_t>(-1) || t.getStopIndex() < t.getStartIndex()
                   ? b
                   : static_cast<uint32_t>(t.getStopIndex() + 1);
  return {{file, b}, {file, e}};
}

}  // namespace

IndentingTokenSource::IndentingTokenSource(antlr4::Lexer& lexer, uint32_t file, const SourceManager& sources,
                                           DiagnosticEngine& diags, int max_bracket_depth, bool expression_only,
                                           uint32_t shift)
    : lexer_(lexer),
      file_(file),
      sources_(sources),
      diags_(diags),
      max_bracket_depth_(max_bracket_depth),
      expression_only_(expression_only),
      shift_(shift) {}

std::unique_ptr<antlr4::Token> IndentingTokenSource::synthesize(size_t type, const antlr4::Token& at, bool at_end) {
  (void)at_end;
  size_t start = at.getStartIndex();
  auto tok = std::make_unique<antlr4::CommonToken>(std::make_pair(this, lexer_.getInputStream()), type,
                                                   antlr4::Token::DEFAULT_CHANNEL, start, start - 1);
  tok->setLine(at.getLine());
  tok->setCharPositionInLine(at.getCharPositionInLine());
  tok->setText(type == TesseraLexer::INDENT ? "<indent>" : type == TesseraLexer::DEDENT ? "<dedent>" : "<newline>");
  return tok;
}

void IndentingTokenSource::start_logical_line(const antlr4::Token& first) {
  // Measure the indentation from the start of the physical line.
  const SourceFile& f = sources_.file(file_);
  uint32_t offset = static_cast<uint32_t>(first.getStartIndex());
  LineCol lc = sources_.line_col({file_, offset});
  uint32_t line_start = f.line_starts[lc.line - 1];
  uint32_t width = 0;
  bool reported_tab = false;
  for (uint32_t i = line_start; i < offset; ++i) {
    char32_t c = f.text[i];
    if (c == U'\t') {
      if (!reported_tab) {
        diags_.report(DiagKind::TabInIndentation, {{file_, i}, {file_, i + 1}})
            .label("tab here")
            .help("indent with spaces (4 per level is conventional)");
        reported_tab = true;
      }
      width = (width / 4 + 1) * 4;  // recover as if tabs were 4-column stops
    } else if (c == U'\f') {
      width = 0;
    } else {
      ++width;
    }
  }

  if (width > indents_.back()) {
    indents_.push_back(width);
    pending_.push_back(synthesize(TesseraLexer::INDENT, first, false));
    return;
  }
  while (width < indents_.back()) {
    indents_.pop_back();
    pending_.push_back(synthesize(TesseraLexer::DEDENT, first, false));
  }
  if (width != indents_.back()) {
    diags_.report(DiagKind::InconsistentDedent, {{file_, line_start}, {file_, offset}})
        .label(fmt::format("this line is indented by {} column{}", width, width == 1 ? "" : "s"))
        .note(fmt::format("the enclosing blocks are indented by {}", [&] {
          std::string levels;
          for (size_t k = 0; k < indents_.size(); ++k) {
            if (k) levels += k + 1 == indents_.size() ? " or " : ", ";
            levels += std::to_string(indents_[k]);
          }
          return levels;
        }()));
    // Recover by treating the line as belonging to the nearest outer block.
  }
}

void IndentingTokenSource::finish() {
  finished_ = true;
}

std::unique_ptr<antlr4::Token> IndentingTokenSource::nextToken() {
  while (pending_.empty()) {
    std::unique_ptr<antlr4::Token> tok = fatal_ ? nullptr : lexer_.nextToken();
    size_t type = tok ? tok->getType() : antlr4::Token::EOF;
    if (tok && shift_) {
      // Text lexed on its own (an f-string field): move the token to where
      // the text sits in the file.
      auto* common = static_cast<antlr4::CommonToken*>(tok.get());
      common->setText(common->getText());
      size_t start = common->getStartIndex() + shift_;
      common->setStopIndex(common->getStopIndex() + shift_);
      common->setStartIndex(start);
      LineCol lc = sources_.line_col({file_, static_cast<uint32_t>(start)});
      common->setLine(lc.line);
      common->setCharPositionInLine(lc.col - 1);
    }

    if (type == antlr4::Token::EOF) {
      // Close the last logical line and every open block.
      std::unique_ptr<antlr4::Token> eof = tok ? std::move(tok) : nullptr;
      if (!eof) {
        size_t end = lexer_.getInputStream()->size();
        auto made = std::make_unique<antlr4::CommonToken>(std::make_pair(this, lexer_.getInputStream()),
                                                          antlr4::Token::EOF, antlr4::Token::DEFAULT_CHANNEL, end,
                                                          end - 1);
        made->setText("<EOF>");
        eof = std::move(made);
      }
      if (!open_brackets_.empty() && !fatal_ && !expression_only_) {
        auto [bt, off] = open_brackets_.back();
        const char* spelling = bt == TesseraLexer::LPAREN ? "(" : bt == TesseraLexer::LBRACK ? "[" : "{";
        diags_.report(DiagKind::UnclosedBracket, {{file_, off}, {file_, off + 1}}, spelling)
            .label("opened here")
            .help(fmt::format("add the matching '{}'", bt == TesseraLexer::LPAREN   ? ")"
                                                       : bt == TesseraLexer::LBRACK ? "]"
                                                                                    : "}"));
        fatal_ = true;
      }
      if (!finished_ && !expression_only_) {
        if (!at_line_start_) pending_.push_back(synthesize(TesseraLexer::NEWLINE, *eof, true));
        for (size_t k = 1; k < indents_.size(); ++k) pending_.push_back(synthesize(TesseraLexer::DEDENT, *eof, true));
        indents_.resize(1);
        at_line_start_ = true;
        finish();
      }
      pending_.push_back(std::move(eof));
      break;
    }

    if (type == TesseraLexer::NEWLINE) {
      if (depth_ > 0 || at_line_start_ || expression_only_) continue;  // inside brackets, or a blank line
      at_line_start_ = true;
      return tok;
    }

    if (type == TesseraLexer::ERROR_CHAR) {
      std::string text = tok->getText();
      diags_.report(DiagKind::InvalidCharacter, token_range(file_, *tok), fmt::format("'{}'", text));
      error_lines_.insert(tok->getLine());
      continue;
    }
    if (type == TesseraLexer::UNTERMINATED_STRING) {
      diags_.report(DiagKind::UnterminatedString, token_range(file_, *tok))
          .label("this string is not closed before the end of the line");
      error_lines_.insert(tok->getLine());
      auto* common = static_cast<antlr4::CommonToken*>(tok.get());
      common->setType(TesseraLexer::STRING);
    }

    if (at_line_start_ && depth_ == 0 && !expression_only_) {
      at_line_start_ = false;
      start_logical_line(*tok);
    }

    if (type == TesseraLexer::LPAREN || type == TesseraLexer::LBRACK || type == TesseraLexer::LBRACE) {
      open_brackets_.push_back({type, static_cast<uint32_t>(tok->getStartIndex())});
      if (++depth_ > max_bracket_depth_) {
        diags_.report(DiagKind::BracketsTooDeep, token_range(file_, *tok), max_bracket_depth_)
            .label("this bracket is too deep")
            .help("split the expression into several statements with named intermediate values");
        fatal_ = true;
        continue;
      }
    } else if (type == TesseraLexer::RPAREN || type == TesseraLexer::RBRACK || type == TesseraLexer::RBRACE) {
      if (depth_ > 0) --depth_;
      if (!open_brackets_.empty()) open_brackets_.pop_back();
    }
    pending_.push_back(std::move(tok));
  }
  std::unique_ptr<antlr4::Token> out = std::move(pending_.front());
  pending_.pop_front();
  return out;
}

}  // namespace tessera
