// Unit tests for the diagnostics engine: the code/kind registry, message
// formats, the rustc-style text renderer, the JSON renderer and sorting.
#include "frontend/diagnostics.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <vector>

#include <fmt/args.h>

using namespace tessera;

namespace {

size_t count_placeholders(std::string_view format) {
  size_t n = 0;
  for (size_t pos = format.find("{}"); pos != std::string_view::npos; pos = format.find("{}", pos + 2)) ++n;
  return n;
}

std::string format_with(const char* format, const std::vector<std::string>& args) {
  fmt::dynamic_format_arg_store<fmt::format_context> store;
  for (const auto& a : args) store.push_back(a);
  return fmt::vformat(fmt::string_view(format), store);
}

SourceRange range_at(const SourceManager& sm, uint32_t file, uint32_t line, uint32_t col, uint32_t len) {
  SourceLoc b = sm.loc_at(file, line, col);
  return {b, {file, b.offset + len}};
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

TEST_SUITE("diagnostics") {

TEST_CASE("registry: codes are well-formed, unique and indexed by their enum") {
  auto codes = all_diag_codes();
  REQUIRE(codes.size() > 0);
  std::set<std::string> names;
  for (size_t i = 0; i < codes.size(); ++i) {
    const DiagCodeInfo& c = codes[i];
    CAPTURE(c.name);
    CHECK(static_cast<size_t>(c.code) == i);
    CHECK(&diag_code_info(c.code) == &c);
    std::string name = c.name;
    REQUIRE(name.size() == 5);
    CHECK((name[0] == 'E' || name[0] == 'W'));
    CHECK((name[0] == 'E') == (c.severity == Severity::Error));
    CHECK(std::all_of(name.begin() + 1, name.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); }));
    CHECK(names.insert(name).second);
    CHECK(c.summary != nullptr);
    CHECK(std::string(c.summary).size() > 0);
  }
  // The codes of LANGUAGE.md §14 keep their meaning.
  for (const char* required : {"E0001", "E0002", "E0003", "E0101", "E0102", "E0103", "E0201", "E0301", "E0302",
                               "E0303", "E0304", "E0305", "E0306", "E0310", "E0501", "E0502", "E0601", "E0701",
                               "E0900", "W0401"}) {
    CAPTURE(required);
    CHECK(names.count(required) == 1);
  }
  CHECK(diag_code_info(DiagCode::W0401).severity == Severity::Warning);
  CHECK(std::string(diag_code_info(DiagCode::E0004).name) == "E0004");
}

TEST_CASE("registry: every diagnostic kind names an existing code") {
  auto kinds = all_diag_kinds();
  auto codes = all_diag_codes();
  REQUIRE(kinds.size() > 0);
  std::set<std::string> names;
  for (size_t i = 0; i < kinds.size(); ++i) {
    const DiagKindInfo& k = kinds[i];
    CAPTURE(k.name);
    CHECK(static_cast<size_t>(k.kind) == i);
    CHECK(&diag_kind_info(k.kind) == &k);
    CHECK(names.insert(k.name).second);
    REQUIRE(static_cast<size_t>(k.code) < codes.size());
    CHECK(diag_code_info(k.code).code == k.code);
    REQUIRE(k.format != nullptr);
    std::string format = k.format;
    CHECK_FALSE(format.empty());
    // Messages are lowercase (TOOLS.md / diagnostic_kinds.def); `{}` alone is
    // a message supplied whole by the caller.
    if (format != "{}") CHECK_FALSE(std::isupper(static_cast<unsigned char>(format[0])));
    CHECK(format.back() != '.');
  }
  // Every code is used by at least one kind, except codes of stages whose
  // kinds have not been written yet.
  std::set<DiagCode> used;
  for (const auto& k : kinds) used.insert(k.code);
  for (DiagCode c : {DiagCode::E0001, DiagCode::E0002, DiagCode::E0003, DiagCode::E0004}) CHECK(used.count(c) == 1);
}

TEST_CASE("registry: every code parses back, in any case") {
  for (const DiagCodeInfo& c : all_diag_codes()) {
    CAPTURE(c.name);
    auto exact = parse_diag_code(c.name);
    REQUIRE(exact);
    CHECK(*exact == c.code);
    auto low = parse_diag_code(lower(c.name));
    REQUIRE(low);
    CHECK(*low == c.code);
    std::string mixed = c.name;
    mixed[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(mixed[0])));
    CHECK(parse_diag_code(mixed) == c.code);
  }
  CHECK_FALSE(parse_diag_code(""));
  CHECK_FALSE(parse_diag_code("E"));
  CHECK_FALSE(parse_diag_code("E9999"));
  CHECK_FALSE(parse_diag_code("E030"));
  CHECK_FALSE(parse_diag_code("E03011"));
  CHECK_FALSE(parse_diag_code(" E0301"));
  CHECK_FALSE(parse_diag_code("0301"));
  CHECK_FALSE(parse_diag_code("X0301"));
}

TEST_CASE("registry: every code has a long explanation") {
  for (const DiagCodeInfo& c : all_diag_codes()) {
    CAPTURE(c.name);
    std::string_view text = diag_explanation(c.code);
    CHECK_FALSE(text.empty());
    CHECK(text.size() > 20);
  }
}

TEST_CASE("every message format formats with its number of arguments") {
  for (const DiagKindInfo& k : all_diag_kinds()) {
    CAPTURE(k.name);
    CAPTURE(k.format);
    size_t n = count_placeholders(k.format);
    // Only plain `{}` placeholders are used (no indices or format specs),
    // so counting them gives the argument count.
    std::string stripped = k.format;
    for (size_t pos; (pos = stripped.find("{}")) != std::string::npos;) stripped.erase(pos, 2);
    CHECK(stripped.find('{') == std::string::npos);
    CHECK(stripped.find('}') == std::string::npos);

    std::vector<std::string> args;
    for (size_t i = 0; i < n; ++i) args.push_back("<arg" + std::to_string(i) + ">");
    std::string message;
    CHECK_NOTHROW(message = format_with(k.format, args));
    for (const auto& a : args) CHECK(message.find(a) != std::string::npos);
    CHECK(message.find("{}") == std::string::npos);
    // One argument too few is an error fmt detects at run time.
    if (n > 0) {
      args.pop_back();
      CHECK_THROWS(format_with(k.format, args));
    }
  }
}

TEST_CASE("engine: report formats the message, records on scope exit and counts errors") {
  SourceManager sm;
  auto id = sm.add_buffer("e.tsr", "x = y\n");
  REQUIRE(id);
  DiagnosticEngine engine(sm);
  CHECK(&engine.sources() == &sm);
  CHECK_FALSE(engine.has_errors());
  {
    auto b = engine.report(DiagKind::UndefinedName, range_at(sm, *id, 1, 5, 1), "y");
    b.label("not found").note("n1").help("h1").related(range_at(sm, *id, 1, 1, 1), "rel");
    CHECK(engine.diagnostics().empty());  // not recorded until the builder dies
  }
  engine.report(DiagKind::PolicyMismatch, range_at(sm, *id, 1, 1, 5), "+", "accum(f32)", "accum(bf16)");
  engine.report(DiagKind::TabInIndentation, SourceRange{});
  REQUIRE(engine.diagnostics().size() == 3);
  CHECK(engine.error_count() == 2);
  CHECK(engine.has_errors());

  const Diagnostic& d = engine.diagnostics()[0];
  CHECK(d.code == DiagCode::E0101);
  CHECK(d.severity == Severity::Error);
  CHECK(d.message == "cannot find 'y' in this scope");
  CHECK(d.label == "not found");
  REQUIRE(d.notes.size() == 1);
  CHECK(d.notes[0] == "n1");
  REQUIRE(d.help.size() == 1);
  CHECK(d.help[0] == "h1");
  REQUIRE(d.related.size() == 1);
  CHECK(d.related[0].message == "rel");
  CHECK(d.range.begin.offset == 4);
  CHECK(d.range.end.offset == 5);

  const Diagnostic& w = engine.diagnostics()[1];
  CHECK(w.code == DiagCode::W0401);
  CHECK(w.severity == Severity::Warning);
  CHECK(w.message == "numerical policies of the operands of '+' disagree: accum(f32) and accum(bf16)");

  // A moved-from builder records nothing.
  {
    auto a = engine.report(DiagKind::UnexpectedIndent, range_at(sm, *id, 1, 1, 1));
    auto b = std::move(a);
  }
  CHECK(engine.diagnostics().size() == 4);
}

TEST_CASE("render_text: the LANGUAGE.md §7 example, byte for byte") {
  SourceManager sm;
  auto id = sm.add_buffer("pool.tsr",
                          "def adaptive_pooling(x: Tensor[B, C, H, W]) -> Tensor[B, C, 1, 1]:\n"
                          "    pooled = x.mean(axis=(2, 3))\n"
                          "    return pooled\n");
  REQUIRE(id);
  DiagnosticEngine engine(sm);
  engine.report(DiagKind::ReturnTypeMismatch, range_at(sm, *id, 3, 12, 6), "adaptive_pooling")
      .label("expected Tensor[B, C, 1, 1], found Tensor[B, C, H, W]")
      .note("dimension 2: H is not provably equal to 1 (e.g. H = 2)")
      .help("did you forget keepdim=True in the mean operation?");
  REQUIRE(engine.diagnostics().size() == 1);
  CHECK(render_text(engine.diagnostics()[0], sm) ==
        "error[E0301]: return type mismatch in 'adaptive_pooling'\n"
        "  --> pool.tsr:3:12\n"
        "  |\n"
        "3 |     return pooled\n"
        "  |            ^^^^^^ expected Tensor[B, C, 1, 1], found Tensor[B, C, H, W]\n"
        "  = note: dimension 2: H is not provably equal to 1 (e.g. H = 2)\n"
        "  = help: did you forget keepdim=True in the mean operation?\n");
}

TEST_CASE("render_text: warnings, no label, no range, several notes") {
  SourceManager sm;
  auto id = sm.add_buffer("w.tsr", "y = a + b\n");
  REQUIRE(id);
  Diagnostic w{DiagCode::W0401, Severity::Warning, "policies disagree", range_at(sm, *id, 1, 5, 5), "", {"a", "b"},
               {"c"}, {}};
  CHECK(render_text(w, sm) ==
        "warning[W0401]: policies disagree\n"
        "  --> w.tsr:1:5\n"
        "  |\n"
        "1 | y = a + b\n"
        "  |     ^^^^^\n"
        "  = note: a\n"
        "  = note: b\n"
        "  = help: c\n");

  // A file-less diagnostic has no snippet.
  Diagnostic nofile{DiagCode::E0900, Severity::Error, "not yet supported: x", SourceRange{}, "", {"n"}, {}, {}};
  CHECK(render_text(nofile, sm) ==
        "error[E0900]: not yet supported: x\n"
        "  = note: n\n");

  // An empty range still gets one caret; so does a range at the line end.
  Diagnostic point{DiagCode::E0002, Severity::Error, "m", SourceRange::point(sm.loc_at(*id, 1, 10)), "here", {}, {}, {}};
  CHECK(render_text(point, sm) ==
        "error[E0002]: m\n"
        "  --> w.tsr:1:10\n"
        "  |\n"
        "1 | y = a + b\n"
        "  |          ^ here\n");
}

TEST_CASE("render_text: color adds ANSI escapes around the same text") {
  SourceManager sm;
  auto id = sm.add_buffer("c.tsr", "x\n");
  REQUIRE(id);
  Diagnostic d{DiagCode::E0101, Severity::Error, "cannot find 'x' in this scope", range_at(sm, *id, 1, 1, 1), "l",
               {}, {}, {}};
  std::string colored = render_text(d, sm, true);
  CHECK(colored.find("\033[") != std::string::npos);
  std::string plain;
  for (size_t i = 0; i < colored.size(); ++i) {
    if (colored[i] == '\033') {
      while (i < colored.size() && colored[i] != 'm') ++i;
      continue;
    }
    plain += colored[i];
  }
  CHECK(plain == render_text(d, sm, false));
}

TEST_CASE("render_text: the gutter widens for line numbers of two or more digits") {
  SourceManager sm;
  std::string src;
  for (int i = 1; i <= 120; ++i) src += "line" + std::to_string(i) + " = " + std::to_string(i) + "\n";
  auto id = sm.add_buffer("g.tsr", src);
  REQUIRE(id);
  Diagnostic d{DiagCode::E0002, Severity::Error, "bad", range_at(sm, *id, 12, 1, 6), "here", {"n"}, {"h"}, {}};
  CHECK(render_text(d, sm) ==
        "error[E0002]: bad\n"
        "   --> g.tsr:12:1\n"
        "   |\n"
        "12 | line12 = 12\n"
        "   | ^^^^^^ here\n"
        "   = note: n\n"
        "   = help: h\n");

  Diagnostic d3{DiagCode::E0002, Severity::Error, "bad", range_at(sm, *id, 100, 10, 3), "", {}, {}, {}};
  CHECK(render_text(d3, sm) ==
        "error[E0002]: bad\n"
        "    --> g.tsr:100:10\n"
        "    |\n"
        "100 | line100 = 100\n"
        "    |          ^^^\n");

  // A related note on a later line widens the gutter of the whole diagnostic.
  Diagnostic mixed{DiagCode::E0002, Severity::Error, "bad", range_at(sm, *id, 2, 1, 5), "", {}, {}, {}};
  mixed.related.push_back({range_at(sm, *id, 10, 1, 6), "declared here"});
  CHECK(render_text(mixed, sm) ==
        "error[E0002]: bad\n"
        "   --> g.tsr:2:1\n"
        "   |\n"
        "2  | line2 = 2\n"
        "   | ^^^^^\n"
        "note: declared here\n"
        "   --> g.tsr:10:1\n"
        "   |\n"
        "10 | line10 = 10\n"
        "   | ^^^^^^\n");
}

TEST_CASE("render_text: tabs are expanded and the carets stay aligned") {
  SourceManager sm;
  auto id = sm.add_buffer("t.tsr", "if x:\n\tvalue = a\tb\n");
  REQUIRE(id);
  // `value` (after one tab) and `b` (after a second tab).
  Diagnostic d{DiagCode::E0101, Severity::Error, "m", range_at(sm, *id, 2, 2, 5), "value", {}, {}, {}};
  CHECK(render_text(d, sm) ==
        "error[E0101]: m\n"
        "  --> t.tsr:2:2\n"
        "  |\n"
        "2 |     value = a    b\n"
        "  |     ^^^^^ value\n");
  Diagnostic b{DiagCode::E0101, Severity::Error, "m", range_at(sm, *id, 2, 12, 1), "", {}, {}, {}};
  CHECK(render_text(b, sm) ==
        "error[E0101]: m\n"
        "  --> t.tsr:2:12\n"
        "  |\n"
        "2 |     value = a    b\n"
        "  |                  ^\n");
  // A range covering a tab covers its whole expansion.
  Diagnostic tab{DiagCode::E0001, Severity::Error, "tab", range_at(sm, *id, 2, 1, 1), "tab here", {}, {}, {}};
  CHECK(render_text(tab, sm) ==
        "error[E0001]: tab\n"
        "  --> t.tsr:2:1\n"
        "  |\n"
        "2 |     value = a    b\n"
        "  | ^^^^ tab here\n");
}

TEST_CASE("render_text: carets count code points, not bytes") {
  SourceManager sm;
  auto id = sm.add_buffer("u.tsr", "s = \"\xC3\xA9\xE2\x82\xAC\" + bad\n");
  REQUIRE(id);
  Diagnostic d{DiagCode::E0101, Severity::Error, "m", range_at(sm, *id, 1, 12, 3), "", {}, {}, {}};
  CHECK(render_text(d, sm) ==
        "error[E0101]: m\n"
        "  --> u.tsr:1:12\n"
        "  |\n"
        "1 | s = \"\xC3\xA9\xE2\x82\xAC\" + bad\n"
        "  |            ^^^\n");
}

TEST_CASE("render_text: a multi-line range underlines the rest of its first line") {
  SourceManager sm;
  auto id = sm.add_buffer("m.tsr", "x = f(a,\n      b)\n");
  REQUIRE(id);
  SourceRange r{sm.loc_at(*id, 1, 5), sm.loc_at(*id, 2, 9)};
  Diagnostic d{DiagCode::E0103, Severity::Error, "m", r, "call", {}, {}, {}};
  CHECK(render_text(d, sm) ==
        "error[E0103]: m\n"
        "  --> m.tsr:1:5\n"
        "  |\n"
        "1 | x = f(a,\n"
        "  |     ^^^^ call\n");
}

TEST_CASE("render_text: a related note renders its own snippet") {
  SourceManager sm;
  auto a = sm.add_buffer("main.tsr", "y = f(1, 2)\n");
  auto b = sm.add_buffer("lib.tsr", "def f(x):\n    return x\n");
  REQUIRE(a);
  REQUIRE(b);
  Diagnostic d{DiagCode::E0103, Severity::Error, "'f' takes 1 argument but 2 were given", range_at(sm, *a, 1, 5, 7),
               "called here", {}, {"remove the extra argument"}, {}};
  d.related.push_back({range_at(sm, *b, 1, 5, 1), "'f' is defined here"});
  d.related.push_back({SourceRange{}, "a note without a place"});
  CHECK(render_text(d, sm) ==
        "error[E0103]: 'f' takes 1 argument but 2 were given\n"
        "  --> main.tsr:1:5\n"
        "  |\n"
        "1 | y = f(1, 2)\n"
        "  |     ^^^^^^^ called here\n"
        "  = help: remove the extra argument\n"
        "note: 'f' is defined here\n"
        "  --> lib.tsr:1:5\n"
        "  |\n"
        "1 | def f(x):\n"
        "  |     ^\n"
        "note: a note without a place\n");
}

TEST_CASE("render_text: long lines are shown as a window around the carets") {
  SourceManager sm;
  std::string line = "x = " + std::string(200, 'a') + " + bad + " + std::string(100, 'b');
  auto id = sm.add_buffer("long.tsr", line + "\n");
  REQUIRE(id);
  uint32_t col = static_cast<uint32_t>(line.find("bad")) + 1;
  Diagnostic d{DiagCode::E0101, Severity::Error, "m", range_at(sm, *id, 1, col, 3), "here", {}, {}, {}};
  std::string out = render_text(d, sm);
  // The shown line starts and ends with "..." and the carets sit under "bad".
  size_t l3 = out.find("1 | ");
  REQUIRE(l3 != std::string::npos);
  std::string shown = out.substr(l3 + 4, out.find('\n', l3) - l3 - 4);
  size_t carets_line = out.find('\n', l3) + 1;
  std::string carets = out.substr(carets_line, out.find('\n', carets_line) - carets_line);
  CHECK(shown.substr(0, 3) == "...");
  CHECK(shown.substr(shown.size() - 3) == "...");
  CHECK(shown.size() <= 126);
  size_t caret = carets.find('^');
  REQUIRE(caret != std::string::npos);
  CHECK(carets.substr(caret) == "^^^ here");
  // "  | " is as wide as "1 | ".
  CHECK(shown.substr(caret - 4, 3) == "bad");
}

TEST_CASE("render_json: keys, order and values") {
  SourceManager sm;
  auto id = sm.add_buffer("pool.tsr", "x = 1\n    return pooled\n");
  REQUIRE(id);
  Diagnostic d{DiagCode::E0301, Severity::Error, "return type mismatch in 'f'", range_at(sm, *id, 2, 12, 6),
               "expected A, found B", {"n1", "n2"}, {"h1"}, {}};
  d.related.push_back({range_at(sm, *id, 1, 1, 1), "declared here"});
  d.related.push_back({SourceRange{}, "elsewhere"});
  CHECK(render_json(d, sm) ==
        "{\"severity\":\"error\",\"code\":\"E0301\",\"message\":\"return type mismatch in 'f': expected A, found B\","
        "\"file\":\"pool.tsr\",\"line\":2,\"col\":12,\"end_line\":2,\"end_col\":18,"
        "\"notes\":[\"n1\",\"n2\",\"declared here (pool.tsr:1:1)\",\"elsewhere\"],\"help\":[\"h1\"]}");

  Diagnostic w{DiagCode::W0401, Severity::Warning, "w", range_at(sm, *id, 1, 1, 5), "", {}, {}, {}};
  CHECK(render_json(w, sm) ==
        "{\"severity\":\"warning\",\"code\":\"W0401\",\"message\":\"w\",\"file\":\"pool.tsr\","
        "\"line\":1,\"col\":1,\"end_line\":1,\"end_col\":6,\"notes\":[],\"help\":[]}");

  // No range: empty file and zero positions.
  Diagnostic none{DiagCode::E0900, Severity::Error, "n", SourceRange{}, "", {}, {}, {}};
  CHECK(render_json(none, sm) ==
        "{\"severity\":\"error\",\"code\":\"E0900\",\"message\":\"n\",\"file\":\"\","
        "\"line\":0,\"col\":0,\"end_line\":0,\"end_col\":0,\"notes\":[],\"help\":[]}");

  // A range spanning lines ends on the later line.
  Diagnostic span{DiagCode::E0002, Severity::Error, "s", {sm.loc_at(*id, 1, 3), sm.loc_at(*id, 2, 5)}, "", {}, {}, {}};
  std::string js = render_json(span, sm);
  CHECK(js.find("\"line\":1,\"col\":3,\"end_line\":2,\"end_col\":5,") != std::string::npos);

  // One line per diagnostic: no raw newline anywhere.
  Diagnostic nl{DiagCode::E0002, Severity::Error, "a\nb", range_at(sm, *id, 1, 1, 1), "c\nd", {"e\nf"}, {"g\nh"}, {}};
  CHECK(render_json(nl, sm).find('\n') == std::string::npos);
}

TEST_CASE("render_json: strings are escaped") {
  CHECK(json_escape("plain") == "plain");
  CHECK(json_escape("q\"b\\s/") == "q\\\"b\\\\s/");
  CHECK(json_escape("a\nb\rc\td") == "a\\nb\\rc\\td");
  CHECK(json_escape(std::string_view("\x01\x1f\0", 3)) == "\\u0001\\u001f\\u0000");
  CHECK(json_escape("\x7f") == "\x7f");
  CHECK(json_escape("\xC3\xA9\xE2\x82\xAC") == "\xC3\xA9\xE2\x82\xAC");  // UTF-8 passes through

  SourceManager sm;
  auto id = sm.add_buffer("dir/we\"ird\\name.tsr", "x\n");
  REQUIRE(id);
  Diagnostic d{DiagCode::E0002, Severity::Error, "unexpected \"x\"\tthere", range_at(sm, *id, 1, 1, 1), "l\\1",
               {"note\n2"}, {"help \"3\""}, {}};
  CHECK(render_json(d, sm) ==
        "{\"severity\":\"error\",\"code\":\"E0002\",\"message\":\"unexpected \\\"x\\\"\\tthere: l\\\\1\","
        "\"file\":\"dir/we\\\"ird\\\\name.tsr\",\"line\":1,\"col\":1,\"end_line\":1,\"end_col\":2,"
        "\"notes\":[\"note\\n2\"],\"help\":[\"help \\\"3\\\"\"]}");
}

TEST_CASE("sort_diagnostics orders by file and offset and is stable") {
  SourceManager sm;
  auto a = sm.add_buffer("a.tsr", "0123456789\n");
  auto b = sm.add_buffer("b.tsr", "0123456789\n");
  REQUIRE(a);
  REQUIRE(b);
  auto make = [&](uint32_t file, uint32_t off, std::string msg) {
    return Diagnostic{DiagCode::E0002, Severity::Error, std::move(msg), {{file, off}, {file, off + 1}}, "", {}, {}, {}};
  };
  std::vector<Diagnostic> ds;
  ds.push_back(make(*b, 1, "b1"));
  ds.push_back(make(*a, 5, "a5-first"));
  ds.push_back(Diagnostic{DiagCode::E0900, Severity::Error, "nofile", SourceRange{}, "", {}, {}, {}});
  ds.push_back(make(*a, 2, "a2"));
  ds.push_back(make(*a, 5, "a5-second"));
  ds.push_back(make(*b, 0, "b0"));
  ds.push_back(make(*a, 5, "a5-third"));
  sort_diagnostics(ds);
  std::string order;
  for (const auto& d : ds) order += (order.empty() ? "" : " ") + d.message;
  CHECK(order == "nofile a2 a5-first a5-second a5-third b0 b1");

  std::vector<Diagnostic> empty;
  sort_diagnostics(empty);
  CHECK(empty.empty());
}

TEST_CASE("edit_distance_within: banded, with transpositions, bounded by its limit") {
  CHECK(edit_distance_within("axis", "axis", 1) == 0u);
  CHECK(edit_distance_within("axsi", "axis", 1) == 1u);  // one transposition
  CHECK(edit_distance_within("keepdims", "keepdim", 2) == 1u);
  CHECK(edit_distance_within("kitten", "sitting", 3) == 3u);
  CHECK(!edit_distance_within("kitten", "sitting", 2));
  CHECK(!edit_distance_within("a", "abcdef", 3));  // the lengths alone exceed the limit
  CHECK(edit_distance_within("", "ab", 2) == 2u);
  // Agrees with the full distance wherever that is within the limit.
  const char* words[] = {"softmax", "sofmtax", "log_softmax", "axis", "x", "mean", "meen", "", "abc", "cab"};
  for (const char* a : words)
    for (const char* b : words) {
      size_t full = edit_distance(a, b);
      for (size_t limit = 0; limit < 6; ++limit) {
        auto d = edit_distance_within(a, b, limit);
        if (d) CHECK(*d <= full);
        if (full <= limit) CHECK(d.has_value());
      }
    }
  // Linear in the length: two 1M-character names are compared at once.
  std::string a(1'000'000, 'a'), b = a;
  b.back() = 'b';
  CHECK(edit_distance_within(a, b, 8) == 1u);
}

}  // TEST_SUITE
