// Diagnostic registry tables and the text / JSON renderers.
#include <optional>
#include "frontend/diagnostics.h"

#include <algorithm>
#include <array>

namespace tessera {

namespace {

constexpr DiagCodeInfo kCodes[] = {
#define TSR_CODE(code, sev, summary) {DiagCode::code, #code, Severity::sev, summary},
#include "frontend/diagnostic_codes.def"
};

constexpr DiagKindInfo kKinds[] = {
#define TSR_DIAG(kind, code, format) {DiagKind::kind, #kind, DiagCode::code, format},
#include "frontend/diagnostic_kinds.def"
};

struct Explanation {
  DiagCode code;
  const char* text;
};

constexpr Explanation kExplanations[] = {
#define TSR_EXPLAIN(code, text) {DiagCode::code, text},
#include "frontend/diagnostic_explanations.def"
};

std::string repeat(char c, size_t n) { return std::string(n, c); }

// Expands tabs to 4 spaces for display; returns the display column (0-based)
// of every code point so carets line up with the expanded text.
std::u32string display_line(std::u32string_view line, std::vector<size_t>& columns) {
  std::u32string out;
  columns.clear();
  for (char32_t c : line) {
    columns.push_back(out.size());
    if (c == U'\t') {
      out.append(4, U' ');
    } else {
      out.push_back(c);
    }
  }
  columns.push_back(out.size());
  return out;
}

// Source lines wider than this are shown as a window around the carets.
constexpr size_t kMaxShownWidth = 120;
constexpr size_t kContextBefore = 40;

}  // namespace

std::span<const DiagCodeInfo> all_diag_codes() { return kCodes; }
std::span<const DiagKindInfo> all_diag_kinds() { return kKinds; }

const DiagCodeInfo& diag_code_info(DiagCode code) { return kCodes[static_cast<size_t>(code)]; }
const DiagKindInfo& diag_kind_info(DiagKind kind) { return kKinds[static_cast<size_t>(kind)]; }

std::optional<DiagCode> parse_diag_code(std::string_view name) {
  for (const auto& c : kCodes) {
    std::string_view n = c.name;
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::toupper(static_cast<unsigned char>(a)) == std::toupper(static_cast<unsigned char>(b));
        }))
      return c.code;
  }
  return std::nullopt;
}

std::string_view diag_explanation(DiagCode code) {
  for (const auto& e : kExplanations)
    if (e.code == code) return e.text;
  return {};
}

DiagnosticBuilder::~DiagnosticBuilder() {
  if (engine_) engine_->record(std::move(diag_));
}

void DiagnosticEngine::record(Diagnostic diag) {
  if (diag.severity == Severity::Error) ++errors_;
  diags_.push_back(std::move(diag));
}

void sort_diagnostics(std::vector<Diagnostic>& diags) {
  // Stable by position: equal positions keep the order they were reported in. (An index sort,
  // because libstdc++ 12's std::stable_sort uses the deprecated get_temporary_buffer.)
  std::vector<size_t> order(diags.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t i, size_t j) {
    const SourceLoc& a = diags[i].range.begin;
    const SourceLoc& b = diags[j].range.begin;
    if (a.file != b.file) return a.file < b.file;
    if (a.offset != b.offset) return a.offset < b.offset;
    return i < j;
  });
  std::vector<Diagnostic> sorted;
  sorted.reserve(diags.size());
  for (size_t i : order) sorted.push_back(std::move(diags[i]));
  diags = std::move(sorted);
}

namespace {

// Renders the "--> file:line:col" header and the source snippet with carets.
void render_snippet(std::string& out, SourceRange range, const std::string& label, const SourceManager& sources,
                    const char* marker_color, const char* reset, const char* blue, size_t gutter) {
  LineCol lc = sources.line_col(range.begin);
  const SourceFile& file = sources.file(range.begin.file);
  std::string pad = repeat(' ', gutter);
  out += pad;
  out += blue;
  out += "--> ";
  out += reset;
  out += fmt::format("{}:{}:{}\n", file.name, lc.line, lc.col);
  out += fmt::format("{}{}|{}\n", pad, blue, reset);

  std::vector<size_t> cols;
  std::u32string_view line = sources.line_text(range.begin.file, lc.line);
  std::u32string shown = display_line(line, cols);

  // Carets cover the range on its first line (at least one caret).
  size_t start = std::min<size_t>(lc.col - 1, line.size());
  size_t end_cp = start + 1;
  if (range.end.valid() && range.end.offset > range.begin.offset) {
    LineCol elc = sources.line_col(range.end);
    end_cp = elc.line == lc.line ? std::min<size_t>(elc.col - 1, line.size()) : line.size();
    if (end_cp <= start) end_cp = start + 1;
  }
  size_t dstart = cols[std::min(start, cols.size() - 1)];
  size_t dend = end_cp < cols.size() ? cols[end_cp] : cols.back() + (end_cp - (cols.size() - 1));
  if (dend <= dstart) dend = dstart + 1;

  // Long lines are cut to a window around the carets, marked with "...".
  size_t win_begin = 0, win_end = std::max(shown.size(), dend);
  if (win_end > kMaxShownWidth) {
    win_begin = dstart > kContextBefore ? dstart - kContextBefore : 0;
    win_end = std::min(std::max(shown.size(), dend), win_begin + kMaxShownWidth);
  }
  std::string prefix = win_begin > 0 ? "..." : "";
  std::string suffix = win_end < shown.size() ? "..." : "";
  std::string text = prefix + encode_utf8(shown.substr(win_begin, std::min(shown.size(), win_end) - std::min(shown.size(), win_begin))) + suffix;

  std::string lineno = std::to_string(lc.line);
  out += fmt::format("{}{}{} |{}", blue, lineno, repeat(' ', gutter - lineno.size() - 1), reset);
  if (!text.empty()) out += " " + text;
  out += "\n";

  size_t cstart = dstart - win_begin + prefix.size();
  size_t cend = std::min(dend, win_end) - win_begin + prefix.size();
  if (cend <= cstart) cend = cstart + 1;
  out += fmt::format("{}{}|{} {}{}{}", pad, blue, reset, repeat(' ', cstart), marker_color, repeat('^', cend - cstart));
  if (!label.empty()) out += " " + label;
  out += reset;
  out += "\n";
}

}  // namespace

std::string render_text(const Diagnostic& diag, const SourceManager& sources, bool color) {
  const char* bold = color ? "\033[1m" : "";
  const char* red = color ? "\033[1;31m" : "";
  const char* yellow = color ? "\033[1;33m" : "";
  const char* blue = color ? "\033[1;34m" : "";
  const char* reset = color ? "\033[0m" : "";
  const char* sev_color = diag.severity == Severity::Error ? red : yellow;
  const char* sev_name = diag.severity == Severity::Error ? "error" : "warning";
  const DiagCodeInfo& info = diag_code_info(diag.code);

  std::string out = fmt::format("{}{}[{}]{}{}: {}{}\n", sev_color, sev_name, info.name, reset, bold, diag.message, reset);

  // The gutter is as wide as the largest line number shown, plus one.
  size_t width = 1;
  auto widen = [&](SourceRange r) {
    if (r.valid()) width = std::max(width, std::to_string(sources.line_col(r.begin).line).size());
  };
  widen(diag.range);
  for (const auto& rel : diag.related) widen(rel.range);
  size_t gutter = width + 1;
  std::string pad = repeat(' ', gutter);

  if (diag.range.valid()) render_snippet(out, diag.range, diag.label, sources, sev_color, reset, blue, gutter);
  for (const auto& n : diag.notes) out += fmt::format("{}{}={} {}note{}: {}\n", pad, blue, reset, bold, reset, n);
  for (const auto& h : diag.help) out += fmt::format("{}{}={} {}help{}: {}\n", pad, blue, reset, bold, reset, h);
  for (const auto& rel : diag.related) {
    out += fmt::format("{}note{}: {}\n", bold, reset, rel.message);
    if (rel.range.valid()) render_snippet(out, rel.range, "", sources, blue, reset, blue, gutter);
  }
  return out;
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

std::string render_json(const Diagnostic& diag, const SourceManager& sources) {
  const DiagCodeInfo& info = diag_code_info(diag.code);
  std::string file;
  LineCol b{}, e{};
  if (diag.range.valid()) {
    file = sources.file(diag.range.begin.file).name;
    b = sources.line_col(diag.range.begin);
    e = diag.range.end.valid() && diag.range.end.offset >= diag.range.begin.offset ? sources.line_col(diag.range.end) : b;
  }
  std::string message = diag.message;
  if (!diag.label.empty()) message += ": " + diag.label;
  std::string out = "{";
  out += fmt::format("\"severity\":\"{}\",", diag.severity == Severity::Error ? "error" : "warning");
  out += fmt::format("\"code\":\"{}\",", info.name);
  out += fmt::format("\"message\":\"{}\",", json_escape(message));
  out += fmt::format("\"file\":\"{}\",", json_escape(file));
  out += fmt::format("\"line\":{},\"col\":{},\"end_line\":{},\"end_col\":{},", b.line, b.col, e.line, e.col);
  out += "\"notes\":[";
  bool first = true;
  auto add = [&](const std::string& s) {
    if (!first) out += ",";
    first = false;
    out += "\"" + json_escape(s) + "\"";
  };
  for (const auto& n : diag.notes) add(n);
  for (const auto& rel : diag.related) {
    if (rel.range.valid()) {
      LineCol lc = sources.line_col(rel.range.begin);
      add(fmt::format("{} ({}:{}:{})", rel.message, sources.file(rel.range.begin.file).name, lc.line, lc.col));
    } else {
      add(rel.message);
    }
  }
  out += "],\"help\":[";
  first = true;
  for (const auto& h : diag.help) add(h);
  out += "]}";
  return out;
}

std::optional<size_t> edit_distance_within(std::string_view a, std::string_view b, size_t limit) {
  size_t n = a.size(), m = b.size();
  if ((n > m ? n - m : m - n) > limit) return std::nullopt;
  const size_t inf = limit + 1;
  // Only the cells within `limit` of the diagonal can lead to a distance <= limit (Ukkonen).
  std::vector<size_t> prev2(m + 1, inf), prev(m + 1, inf), cur(m + 1, inf);
  for (size_t j = 0; j <= std::min(m, limit); ++j) prev[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    size_t lo = i > limit ? i - limit : 0, hi = std::min(m, i + limit);
    for (size_t j = lo > 0 ? lo - 1 : 0; j <= std::min(m, hi + 1); ++j) cur[j] = inf;
    size_t row_min = inf;
    if (lo == 0) row_min = cur[0] = i;
    for (size_t j = std::max<size_t>(lo, 1); j <= hi; ++j) {
      size_t v = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) v = std::min(v, prev2[j - 2] + 1);
      cur[j] = std::min(v, inf);
      row_min = std::min(row_min, cur[j]);
    }
    if (row_min > limit) return std::nullopt;
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  if (prev[m] > limit) return std::nullopt;
  return prev[m];
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace tessera
