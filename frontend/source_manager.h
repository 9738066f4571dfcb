// Source files, locations and ranges shared by every stage of the compiler.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

// A position in a source file, counted in Unicode code points from the start of
// the file (the unit ANTLR uses for token indices).
struct SourceLoc {
  uint32_t file = 0;  // 0 means "no file"; files are numbered from 1.
  uint32_t offset = 0;

  bool valid() const { return file != 0; }
};

// A half-open range [begin, end) inside one file.
struct SourceRange {
  SourceLoc begin;
  SourceLoc end;

  bool valid() const { return begin.valid(); }
  static SourceRange point(SourceLoc loc) { return {loc, loc}; }
};

// A 1-based line and column (columns count code points).
struct LineCol {
  uint32_t line = 0;
  uint32_t col = 0;
};

// One loaded file: its name, the original UTF-8 bytes and the decoded code points.
struct SourceFile {
  std::string name;
  std::string utf8;
  std::u32string text;
  std::vector<uint32_t> line_starts;  // code-point offset of each line's start
};

// Why a file could not be loaded; the CLI turns these into usage errors (exit 2).
struct LoadError {
  std::string message;
};

// Owns all source text. Locations stay valid for the lifetime of the manager.
class SourceManager {
 public:
  // Adds a buffer; returns its file id. Fails (with a message) if it is not UTF-8.
  std::optional<uint32_t> add_buffer(std::string name, std::string utf8, LoadError* error = nullptr);
  // Reads and adds a file from disk.
  std::optional<uint32_t> add_file(const std::string& path, LoadError* error = nullptr);

  const SourceFile& file(uint32_t id) const { return *files_.at(id - 1); }
  // The id of a loaded file by the name it was loaded under.
  std::optional<uint32_t> find(std::string_view name) const;
  LineCol line_col(SourceLoc loc) const;
  SourceLoc loc_at(uint32_t file, uint32_t line, uint32_t col) const;
  // The text of a 1-based line without its line terminator.
  std::u32string_view line_text(uint32_t file, uint32_t line) const;
  std::string text(SourceRange range) const;  // UTF-8 text of a range
  uint32_t line_count(uint32_t file) const;

 private:
  std::vector<std::unique_ptr<SourceFile>> files_;
};

// UTF-8 helpers used across the frontend.
bool decode_utf8(std::string_view in, std::u32string& out, size_t* bad_offset = nullptr);
std::string encode_utf8(std::u32string_view in);

}  // namespace tessera
