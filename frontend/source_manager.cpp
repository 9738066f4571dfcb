// Loading source files, UTF-8 validation and offset <-> line/column mapping.
#include "frontend/source_manager.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace tessera {

bool decode_utf8(std::string_view in, std::u32string& out, size_t* bad_offset) {
  out.clear();
  out.reserve(in.size());
  size_t i = 0;
  const size_t n = in.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    char32_t cp;
    size_t len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07;
      len = 4;
    } else {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    if (i + len > n) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(in[i + k]);
      if ((cc & 0xC0) != 0x80) {
        if (bad_offset) *bad_offset = i;
        return false;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong encodings, surrogates and out-of-range code points.
    static const char32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    out.push_back(cp);
    i += len;
  }
  return true;
}

std::string encode_utf8(std::u32string_view in) {
  std::string out;
  out.reserve(in.size());
  for (char32_t cp : in) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

std::optional<uint32_t> SourceManager::add_buffer(std::string name, std::string utf8, LoadError* error) {
  auto f = std::make_unique<SourceFile>();
  f->name = std::move(name);
  size_t bad = 0;
  // A UTF-8 byte order mark is accepted and ignored.
  std::string_view body = utf8;
  if (body.size() >= 3 && body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);
  if (!decode_utf8(body, f->text, &bad)) {
    if (error) {
      bool nul = bad < body.size() && body[bad] == '\0';
      std::ostringstream os;
      os << f->name << ": " << (nul ? "file contains a NUL byte" : "file is not valid UTF-8") << " (at byte "
         << bad + (utf8.size() - body.size()) << ")";
      error->message = os.str();
    }
    return std::nullopt;
  }
  f->utf8 = std::move(utf8);
  f->line_starts.push_back(0);
  for (uint32_t i = 0; i < f->text.size(); ++i) {
    char32_t c = f->text[i];
    if (c == U'\n') {
      f->line_starts.push_back(i + 1);
    } else if (c == U'\r') {
      if (i + 1 < f->text.size() && f->text[i + 1] == U'\n') ++i;
      f->line_starts.push_back(i + 1);
    }
  }
  files_.push_back(std::move(f));
  return static_cast<uint32_t>(files_.size());
}

std::optional<uint32_t> SourceManager::add_file(const std::string& path, LoadError* error) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (error) error->message = path + ": no such file";
    return std::nullopt;
  }
  if (S_ISDIR(st.st_mode)) {
    if (error) error->message = path + ": is a directory, not a file";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error) error->message = path + ": cannot be read (permission denied?)";
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    if (error) error->message = path + ": read error";
    return std::nullopt;
  }
  return add_buffer(path, ss.str(), error);
}

std::optional<uint32_t> SourceManager::find(std::string_view name) const {
  for (size_t i = 0; i < files_.size(); ++i)
    if (files_[i]->name == name) return static_cast<uint32_t>(i + 1);
  return std::nullopt;
}

LineCol SourceManager::line_col(SourceLoc loc) const {
  if (!loc.valid()) return {};
  const SourceFile& f = file(loc.file);
  auto it = std::upper_bound(f.line_starts.begin(), f.line_starts.end(), loc.offset);
  uint32_t line = static_cast<uint32_t>(it - f.line_starts.begin());  // 1-based
  uint32_t col = loc.offset - f.line_starts[line - 1] + 1;
  return {line, col};
}

SourceLoc SourceManager::loc_at(uint32_t file_id, uint32_t line, uint32_t col) const {
  const SourceFile& f = file(file_id);
  if (line == 0) line = 1;
  if (line > f.line_starts.size()) return {file_id, static_cast<uint32_t>(f.text.size())};
  uint32_t off = f.line_starts[line - 1] + (col > 0 ? col - 1 : 0);
  if (off > f.text.size()) off = static_cast<uint32_t>(f.text.size());
  return {file_id, off};
}

std::u32string_view SourceManager::line_text(uint32_t file_id, uint32_t line) const {
  const SourceFile& f = file(file_id);
  if (line == 0 || line > f.line_starts.size()) return {};
  uint32_t begin = f.line_starts[line - 1];
  uint32_t end = line < f.line_starts.size() ? f.line_starts[line] : static_cast<uint32_t>(f.text.size());
  while (end > begin && (f.text[end - 1] == U'\n' || f.text[end - 1] == U'\r')) --end;
  return std::u32string_view(f.text).substr(begin, end - begin);
}

std::string SourceManager::text(SourceRange range) const {
  if (!range.valid()) return {};
  const SourceFile& f = file(range.begin.file);
  uint32_t b = std::min<uint32_t>(range.begin.offset, f.text.size());
  uint32_t e = std::min<uint32_t>(std::max(range.end.offset, b), f.text.size());
  return encode_utf8(std::u32string_view(f.text).substr(b, e - b));
}

uint32_t SourceManager::line_count(uint32_t file_id) const {
  return static_cast<uint32_t>(file(file_id).line_starts.size());
}

}  // namespace tessera
