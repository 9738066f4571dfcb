// Unit tests for source_manager: UTF-8 decoding/encoding, loading rules
// (invalid UTF-8, NUL bytes, BOM, missing files) and offset <-> line/column.
#include "frontend/source_manager.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace tessera;

namespace {

std::u32string decode_ok(std::string_view in) {
  std::u32string out;
  size_t bad = 12345;
  CHECK(decode_utf8(in, out, &bad));
  CHECK(bad == 12345);  // untouched on success
  return out;
}

// Returns the reported byte offset of the first invalid sequence, or -1 if
// the input decoded.
long decode_bad_offset(std::string_view in) {
  std::u32string out;
  size_t bad = 0;
  if (decode_utf8(in, out, &bad)) return -1;
  return static_cast<long>(bad);
}

// A temporary directory removed at the end of a test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tessera_sm_test_XXXXXX").string();
    char* made = mkdtemp(tmpl.data());
    REQUIRE(made != nullptr);
    path = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& bytes) const {
    std::filesystem::path p = path / name;
    std::ofstream out(p, std::ios::binary);
    out << bytes;
    return p.string();
  }
};

std::string lc(const SourceManager& sm, uint32_t file, uint32_t offset) {
  LineCol l = sm.line_col({file, offset});
  return std::to_string(l.line) + ":" + std::to_string(l.col);
}

}  // namespace

TEST_SUITE("source_manager") {

TEST_CASE("decode_utf8 decodes 1- to 4-byte sequences") {
  CHECK(decode_ok("") == U"");
  CHECK(decode_ok("abc") == U"abc");
  CHECK(decode_ok("\x7F") == U"\x7F");
  CHECK(decode_ok("\xC2\x80") == U"\u0080");
  CHECK(decode_ok("\xC3\xA9") == U"\u00E9");          // é
  CHECK(decode_ok("\xDF\xBF") == U"\u07FF");
  CHECK(decode_ok("\xE0\xA0\x80") == U"\u0800");
  CHECK(decode_ok("\xE2\x82\xAC") == U"\u20AC");      // €
  CHECK(decode_ok("\xEF\xBF\xBF") == U"\uFFFF");
  CHECK(decode_ok("\xF0\x90\x80\x80") == U"\U00010000");
  CHECK(decode_ok("\xF0\x9F\x98\x80") == U"\U0001F600");  // 😀
  CHECK(decode_ok("\xF4\x8F\xBF\xBF") == U"\U0010FFFF");
  CHECK(decode_ok("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z") == U"a\u00E9\u20AC\U0001F600z");
}

TEST_CASE("encode_utf8 is the inverse of decode_utf8") {
  const std::u32string samples[] = {
      U"",
      U"x = 1\n",
      U"\u007F\u0080\u07FF\u0800\uD7FF\uE000\uFFFD\uFFFF",
      U"\U00010000\U0001F600\U0010FFFF",
      U"caf\u00E9 \u20AC \u4E2D\u6587 \U0001F600",
  };
  for (const auto& s : samples) {
    std::string bytes = encode_utf8(s);
    std::u32string back;
    REQUIRE(decode_utf8(bytes, back));
    CHECK(back == s);
    CHECK(encode_utf8(back) == bytes);
  }
  CHECK(encode_utf8(U"\u00E9") == "\xC3\xA9");
  CHECK(encode_utf8(U"\u20AC") == "\xE2\x82\xAC");
  CHECK(encode_utf8(U"\U0001F600") == "\xF0\x9F\x98\x80");
  // Every code point that is not a surrogate (or NUL) survives a round trip.
  std::u32string all;
  for (char32_t c = 1; c <= 0x10FFFF; c += (c < 0x3000 ? 1 : 97)) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    all.push_back(c);
  }
  std::u32string back;
  REQUIRE(decode_utf8(encode_utf8(all), back));
  CHECK(back == all);
}

TEST_CASE("decode_utf8 rejects overlong encodings") {
  CHECK(decode_bad_offset("\xC0\x80") == 0);              // NUL, 2 bytes
  CHECK(decode_bad_offset("\xC0\xAF") == 0);              // '/', 2 bytes
  CHECK(decode_bad_offset("\xC1\xBF") == 0);              // U+007F, 2 bytes
  CHECK(decode_bad_offset("ab\xE0\x80\xAF") == 2);        // '/', 3 bytes
  CHECK(decode_bad_offset("\xE0\x9F\xBF") == 0);          // U+07FF, 3 bytes
  CHECK(decode_bad_offset("\xF0\x80\x80\xAF") == 0);      // '/', 4 bytes
  CHECK(decode_bad_offset("\xF0\x8F\xBF\xBF") == 0);      // U+FFFF, 4 bytes
}

TEST_CASE("decode_utf8 rejects surrogates and code points above U+10FFFF") {
  CHECK(decode_bad_offset("\xED\xA0\x80") == 0);          // U+D800
  CHECK(decode_bad_offset("x\xED\xBF\xBF") == 1);         // U+DFFF
  CHECK(decode_bad_offset("\xED\xA0\xBD\xED\xB8\x80") == 0);  // CESU-8 pair
  CHECK(decode_bad_offset("\xF4\x90\x80\x80") == 0);      // U+110000
  CHECK(decode_bad_offset("\xF7\xBF\xBF\xBF") == 0);
  CHECK(decode_bad_offset("\xF8\x88\x80\x80\x80") == 0);  // 5-byte form
  CHECK(decode_bad_offset("\xFC\x84\x80\x80\x80\x80") == 0);
  CHECK(decode_bad_offset("\xFE") == 0);
  CHECK(decode_bad_offset("\xFF") == 0);
  // The neighbours of the surrogate block are fine.
  CHECK(decode_bad_offset("\xED\x9F\xBF\xEE\x80\x80") == -1);  // U+D7FF U+E000
}

TEST_CASE("decode_utf8 rejects truncated and malformed sequences") {
  CHECK(decode_bad_offset("\xC3") == 0);
  CHECK(decode_bad_offset("abc\xE2\x82") == 3);
  CHECK(decode_bad_offset("\xF0\x9F\x98") == 0);
  CHECK(decode_bad_offset("\xE2\x82x") == 0);        // continuation replaced by ASCII
  CHECK(decode_bad_offset("\xC3\xC3\xA9") == 0);      // lead byte where a continuation belongs
  CHECK(decode_bad_offset("ok\x80") == 2);            // stray continuation byte
  CHECK(decode_bad_offset("\xBF") == 0);
}

TEST_CASE("decode_utf8 rejects NUL") {
  CHECK(decode_bad_offset(std::string_view("\0", 1)) == 0);
  CHECK(decode_bad_offset(std::string_view("x = 1\0", 6)) == 5);
}

TEST_CASE("add_buffer: invalid UTF-8 and NUL are load errors naming the byte") {
  SourceManager sm;
  LoadError err;
  CHECK_FALSE(sm.add_buffer("bad.tsr", "x = \"\xC3\x28\"\n", &err));
  CHECK(err.message == "bad.tsr: file is not valid UTF-8 (at byte 5)");

  LoadError nul;
  CHECK_FALSE(sm.add_buffer("nul.tsr", std::string("x = 1\n\0y\n", 9), &nul));
  CHECK(nul.message == "nul.tsr: file contains a NUL byte (at byte 6)");

  // The error pointer is optional.
  CHECK_FALSE(sm.add_buffer("bad2.tsr", "\xFF"));
  // Failed loads do not take a file id.
  auto id = sm.add_buffer("good.tsr", "x\n");
  REQUIRE(id);
  CHECK(*id == 1);
}

TEST_CASE("add_buffer: a UTF-8 BOM is skipped") {
  SourceManager sm;
  auto id = sm.add_buffer("bom.tsr", "\xEF\xBB\xBFx = 1\ny\n");
  REQUIRE(id);
  const SourceFile& f = sm.file(*id);
  CHECK(f.name == "bom.tsr");
  CHECK(f.text == U"x = 1\ny\n");
  CHECK(lc(sm, *id, 0) == "1:1");
  CHECK(lc(sm, *id, 6) == "2:1");
  CHECK(sm.line_text(*id, 1) == U"x = 1");
  CHECK(sm.text({{*id, 0}, {*id, 5}}) == "x = 1");

  // A BOM alone is an empty file; a BOM anywhere else is an ordinary U+FEFF.
  auto only = sm.add_buffer("only.tsr", "\xEF\xBB\xBF");
  REQUIRE(only);
  CHECK(sm.file(*only).text.empty());
  auto mid = sm.add_buffer("mid.tsr", "a\xEF\xBB\xBF");
  REQUIRE(mid);
  CHECK(sm.file(*mid).text == U"a\uFEFF");

  // Offsets in load errors count the bytes of the file, BOM included.
  LoadError err;
  CHECK_FALSE(sm.add_buffer("bombad.tsr", "\xEF\xBB\xBF" "ab\xFF", &err));
  CHECK(err.message == "bombad.tsr: file is not valid UTF-8 (at byte 5)");
}

TEST_CASE("file ids count from 1 and keep their contents") {
  SourceManager sm;
  auto a = sm.add_buffer("a.tsr", "aaa");
  auto b = sm.add_buffer("b.tsr", "bb\nb");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a == 1);
  CHECK(*b == 2);
  CHECK(sm.file(1).name == "a.tsr");
  CHECK(sm.file(2).name == "b.tsr");
  CHECK(sm.file(2).utf8 == "bb\nb");
  CHECK(sm.line_count(1) == 1);
  CHECK(sm.line_count(2) == 2);
  CHECK_FALSE(SourceLoc{}.valid());
  CHECK(SourceLoc{1, 0}.valid());
  CHECK_FALSE(SourceRange{}.valid());
  SourceRange p = SourceRange::point({2, 3});
  CHECK(p.begin.offset == 3);
  CHECK(p.end.offset == 3);
  CHECK(p.end.file == 2);
}

TEST_CASE("line_col with LF line ends") {
  SourceManager sm;
  auto id = sm.add_buffer("lf.tsr", "ab\ncd\n\nef");
  REQUIRE(id);
  CHECK(sm.line_count(*id) == 4);
  CHECK(lc(sm, *id, 0) == "1:1");
  CHECK(lc(sm, *id, 1) == "1:2");
  CHECK(lc(sm, *id, 2) == "1:3");  // the '\n' belongs to line 1
  CHECK(lc(sm, *id, 3) == "2:1");
  CHECK(lc(sm, *id, 5) == "2:3");
  CHECK(lc(sm, *id, 6) == "3:1");
  CHECK(lc(sm, *id, 7) == "4:1");
  CHECK(lc(sm, *id, 9) == "4:3");  // end of file
  // An invalid location has no line.
  LineCol none = sm.line_col(SourceLoc{});
  CHECK(none.line == 0);
  CHECK(none.col == 0);
}

TEST_CASE("line_col with CRLF line ends") {
  SourceManager sm;
  auto id = sm.add_buffer("crlf.tsr", "ab\r\ncd\r\n\r\nef\r\n");
  REQUIRE(id);
  CHECK(sm.line_count(*id) == 5);
  CHECK(lc(sm, *id, 2) == "1:3");  // '\r'
  CHECK(lc(sm, *id, 3) == "1:4");  // '\n'
  CHECK(lc(sm, *id, 4) == "2:1");
  CHECK(lc(sm, *id, 8) == "3:1");
  CHECK(lc(sm, *id, 10) == "4:1");
  CHECK(lc(sm, *id, 11) == "4:2");
  CHECK(lc(sm, *id, 14) == "5:1");
  CHECK(sm.line_text(*id, 1) == U"ab");
  CHECK(sm.line_text(*id, 3) == U"");
  CHECK(sm.line_text(*id, 4) == U"ef");
}

TEST_CASE("line_col with CR-only and mixed line ends") {
  SourceManager sm;
  auto id = sm.add_buffer("cr.tsr", "ab\rcd\r\ref");
  REQUIRE(id);
  CHECK(sm.line_count(*id) == 4);
  CHECK(lc(sm, *id, 3) == "2:1");
  CHECK(lc(sm, *id, 6) == "3:1");
  CHECK(lc(sm, *id, 7) == "4:1");
  CHECK(sm.line_text(*id, 2) == U"cd");
  CHECK(sm.line_text(*id, 3) == U"");

  auto mixed = sm.add_buffer("mixed.tsr", "a\nb\r\nc\rd");
  REQUIRE(mixed);
  CHECK(sm.line_count(*mixed) == 4);
  CHECK(lc(sm, *mixed, 2) == "2:1");
  CHECK(lc(sm, *mixed, 5) == "3:1");
  CHECK(lc(sm, *mixed, 7) == "4:1");
  CHECK(sm.line_text(*mixed, 1) == U"a");
  CHECK(sm.line_text(*mixed, 2) == U"b");
  CHECK(sm.line_text(*mixed, 3) == U"c");
  CHECK(sm.line_text(*mixed, 4) == U"d");

  // "\n\r" is two line ends, not one.
  auto lfcr = sm.add_buffer("lfcr.tsr", "a\n\rb");
  REQUIRE(lfcr);
  CHECK(sm.line_count(*lfcr) == 3);
  CHECK(lc(sm, *lfcr, 3) == "3:1");
}

TEST_CASE("columns count code points, not bytes") {
  SourceManager sm;
  // "é€😀x" are 1 code point each (2, 3 and 4 bytes).
  auto id = sm.add_buffer("u.tsr", "# \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80x\n\xE4\xB8\xADy = 1\n");
  REQUIRE(id);
  const SourceFile& f = sm.file(*id);
  CHECK(f.text.size() == 14);
  CHECK(f.utf8.size() == 22);
  CHECK(lc(sm, *id, 2) == "1:3");  // é
  CHECK(lc(sm, *id, 3) == "1:4");  // €
  CHECK(lc(sm, *id, 4) == "1:5");  // 😀
  CHECK(lc(sm, *id, 5) == "1:6");  // x
  CHECK(lc(sm, *id, 7) == "2:1");  // 中
  CHECK(lc(sm, *id, 8) == "2:2");  // y
  CHECK(sm.text({{*id, 2}, {*id, 6}}) == "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80x");
  CHECK(sm.line_text(*id, 2) == U"\u4E2Dy = 1");
}

TEST_CASE("loc_at is the inverse of line_col and clamps") {
  SourceManager sm;
  auto id = sm.add_buffer("l.tsr", "ab\r\n\xC3\xA9" "cd\nxyz");
  REQUIRE(id);
  const uint32_t n = static_cast<uint32_t>(sm.file(*id).text.size());
  CHECK(n == 11);
  for (uint32_t off = 0; off <= n; ++off) {
    LineCol l = sm.line_col({*id, off});
    SourceLoc back = sm.loc_at(*id, l.line, l.col);
    CHECK(back.file == *id);
    CHECK(back.offset == off);
  }
  CHECK(sm.loc_at(*id, 2, 2).offset == 5);   // 'c' after é
  CHECK(sm.loc_at(*id, 3, 1).offset == 8);
  CHECK(sm.loc_at(*id, 0, 1).offset == 0);   // line 0 reads as line 1
  CHECK(sm.loc_at(*id, 1, 0).offset == 0);   // column 0 reads as column 1
  CHECK(sm.loc_at(*id, 99, 1).offset == n);  // past the last line: end of file
  CHECK(sm.loc_at(*id, 3, 99).offset == n);  // past the end of the file
}

TEST_CASE("line_text strips line terminators and is empty out of range") {
  SourceManager sm;
  auto id = sm.add_buffer("t.tsr", "first\r\nsecond\nthird\r");
  REQUIRE(id);
  CHECK(sm.line_count(*id) == 4);
  CHECK(sm.line_text(*id, 1) == U"first");
  CHECK(sm.line_text(*id, 2) == U"second");
  CHECK(sm.line_text(*id, 3) == U"third");
  CHECK(sm.line_text(*id, 4) == U"");
  CHECK(sm.line_text(*id, 0) == U"");
  CHECK(sm.line_text(*id, 5) == U"");

  auto empty = sm.add_buffer("e.tsr", "");
  REQUIRE(empty);
  CHECK(sm.line_count(*empty) == 1);
  CHECK(sm.line_text(*empty, 1) == U"");
  CHECK(lc(sm, *empty, 0) == "1:1");
}

TEST_CASE("text(range) returns UTF-8 and tolerates odd ranges") {
  SourceManager sm;
  auto id = sm.add_buffer("r.tsr", "x = \"\xE2\x82\xAC\"\nnext");
  REQUIRE(id);
  CHECK(sm.text({{*id, 0}, {*id, 1}}) == "x");
  CHECK(sm.text({{*id, 4}, {*id, 7}}) == "\"\xE2\x82\xAC\"");
  CHECK(sm.text({{*id, 4}, {*id, 13}}) == "\"\xE2\x82\xAC\"\nnext");
  CHECK(sm.text({{*id, 3}, {*id, 3}}) == "");          // empty range
  CHECK(sm.text({{*id, 5}, {*id, 2}}) == "");          // reversed range
  CHECK(sm.text({{*id, 9}, {*id, 500}}) == "ext");     // clamped to the end
  CHECK(sm.text({{*id, 500}, {*id, 600}}) == "");
  CHECK(sm.text(SourceRange{}) == "");                 // invalid range
}

TEST_CASE("add_file reads files and reports missing paths and directories") {
  TempDir dir;
  SourceManager sm;

  std::string good = dir.write("good.tsr", "\xEF\xBB\xBFy = 2\r\nz = 3\n");
  LoadError err;
  auto id = sm.add_file(good, &err);
  REQUIRE(id);
  CHECK(sm.file(*id).name == good);
  CHECK(sm.file(*id).text == U"y = 2\r\nz = 3\n");
  CHECK(sm.line_count(*id) == 3);

  std::string missing = (dir.path / "missing.tsr").string();
  LoadError miss;
  CHECK_FALSE(sm.add_file(missing, &miss));
  CHECK(miss.message == missing + ": no such file");

  LoadError isdir;
  CHECK_FALSE(sm.add_file(dir.path.string(), &isdir));
  CHECK(isdir.message == dir.path.string() + ": is a directory, not a file");

  std::string bad = dir.write("bad.tsr", "ok\n\xC0\xAF\n");
  LoadError badutf;
  CHECK_FALSE(sm.add_file(bad, &badutf));
  CHECK(badutf.message == bad + ": file is not valid UTF-8 (at byte 3)");

  std::string nul = dir.write("nul.tsr", std::string("a\0", 2));
  LoadError nulerr;
  CHECK_FALSE(sm.add_file(nul, &nulerr));
  CHECK(nulerr.message == nul + ": file contains a NUL byte (at byte 1)");

  std::string empty = dir.write("empty.tsr", "");
  auto eid = sm.add_file(empty);
  REQUIRE(eid);
  CHECK(sm.file(*eid).text.empty());

  // Missing files without an error sink still fail cleanly.
  CHECK_FALSE(sm.add_file(missing));
  CHECK_FALSE(sm.add_file(""));
}

}  // TEST_SUITE
