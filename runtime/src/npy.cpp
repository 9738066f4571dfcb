// .npy files: the header parser (a Python dict literal), loading, and numpy.save's writer.
#include "npy.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "memory.h"
#include "tensor.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the runtime reads and writes little-endian data as is");

namespace tessera::rt {
namespace {

constexpr unsigned char kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
// numpy.load refuses headers above 10000 bytes by default; ours are far smaller (rank <= 8),
// so anything above this bound is corrupt.
constexpr size_t kMaxHeaderBytes = 1 << 20;

std::string shape_text(int32_t rank, const int64_t* shape) {
  std::string s = "(";
  for (int d = 0; d < rank; ++d) {
    if (d) s += ", ";
    s += std::to_string(shape[d]);
  }
  if (rank == 1) s += ",";
  return s + ")";
}

// Reads the Python dict literal of an .npy header: {'descr': '<f4', 'fortran_order': False,
// 'shape': (3, 4), } with keys in any order.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& name) : s_(text), name_(name) {}

  tessStatus_t parse(NpyHeader* h) {
    skip_ws();
    if (!eat('{')) return bad("header does not start with '{'");
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    std::string descr;
    for (;;) {
      skip_ws();
      if (eat('}')) break;
      std::string key;
      if (tessStatus_t s = parse_string(&key, "a key")) return s;
      skip_ws();
      if (!eat(':')) return bad("expected ':' after key '" + key + "'");
      skip_ws();
      if (key == "descr") {
        if (seen_descr) return bad("duplicate key 'descr'");
        seen_descr = true;
        if (peek() == '[') {
          return fail(TESS_ERROR_NOT_SUPPORTED, name_ + ": structured dtypes (a list descr) are not supported");
        }
        if (tessStatus_t s = parse_string(&descr, "the descr string")) return s;
      } else if (key == "fortran_order") {
        if (seen_fortran) return bad("duplicate key 'fortran_order'");
        seen_fortran = true;
        if (eat_word("True")) {
          h->fortran_order = true;
        } else if (eat_word("False")) {
          h->fortran_order = false;
        } else {
          return bad("fortran_order must be True or False");
        }
      } else if (key == "shape") {
        if (seen_shape) return bad("duplicate key 'shape'");
        seen_shape = true;
        if (tessStatus_t s = parse_shape(h)) return s;
      } else {
        return bad("unexpected key '" + key + "' (expected descr, fortran_order and shape)");
      }
      skip_ws();
      if (eat(',')) continue;
      skip_ws();
      if (eat('}')) break;
      return bad("expected ',' or '}' after the value of '" + key + "'");
    }
    skip_ws();
    if (pos_ != s_.size()) return bad("unexpected text after the closing '}'");
    if (!seen_descr || !seen_fortran || !seen_shape) {
      std::string missing;
      if (!seen_descr) missing += " descr";
      if (!seen_fortran) missing += " fortran_order";
      if (!seen_shape) missing += " shape";
      return bad("missing key(s):" + missing);
    }
    return parse_descr(descr, &h->dtype);
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  bool eat_word(std::string_view w) {
    if (s_.substr(pos_, w.size()) != w) return false;
    char after = pos_ + w.size() < s_.size() ? s_[pos_ + w.size()] : '\0';
    if (std::isalnum(static_cast<unsigned char>(after)) || after == '_') return false;
    pos_ += w.size();
    return true;
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  tessStatus_t bad(const std::string& what) {
    return fail(TESS_ERROR_BAD_FILE,
                name_ + ": invalid header: " + what + " (at header offset " + std::to_string(pos_) + ")");
  }

  tessStatus_t parse_string(std::string* out, const char* what) {
    char quote = peek();
    if (quote != '\'' && quote != '"') return bad(std::string("expected ") + what + " in quotes");
    ++pos_;
    out->clear();
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\') return bad("escape sequences are not allowed in header strings");
      if (out->size() > 64) return bad("string is too long");
      out->push_back(s_[pos_++]);
    }
    if (!eat(quote)) return bad("unterminated string");
    return TESS_SUCCESS;
  }

  tessStatus_t parse_shape(NpyHeader* h) {
    if (!eat('(')) return bad("shape must be a tuple");
    h->rank = 0;
    for (;;) {
      skip_ws();
      if (eat(')')) break;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) return bad("shape entries must be non-negative integers");
      uint64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        v = v * 10 + static_cast<uint64_t>(s_[pos_++] - '0');
        if (v > static_cast<uint64_t>(INT64_MAX)) return bad("shape entry is too large");
      }
      eat('L');  // Python 2 wrote long integers as 3L
      if (h->rank == TESS_MAX_RANK) {
        return fail(TESS_ERROR_NOT_SUPPORTED,
                    name_ + ": arrays of rank above " + std::to_string(TESS_MAX_RANK) + " are not supported");
      }
      h->shape[h->rank++] = static_cast<int64_t>(v);
      skip_ws();
      if (eat(',')) continue;
      skip_ws();
      if (eat(')')) {
        if (h->rank == 1) return bad("a one-element shape needs a trailing comma, as in (3,)");
        break;
      }
      return bad("expected ',' or ')' in shape");
    }
    return TESS_SUCCESS;
  }

  tessStatus_t parse_descr(const std::string& d, tessDType* dtype) {
    if (d.size() < 2) return fail(TESS_ERROR_BAD_FILE, name_ + ": invalid dtype descr '" + d + "'");
    char order = d[0];
    std::string code = d.substr(1);
    struct Known {
      const char* code;
      tessDType dtype;
    };
    static const Known known[] = {{"f4", TESS_F32}, {"f8", TESS_F64}, {"f2", TESS_F16},
                                  {"i1", TESS_I8},  {"i2", TESS_I16}, {"i4", TESS_I32},
                                  {"i8", TESS_I64}, {"u1", TESS_U8},  {"b1", TESS_BOOL}};
    if (order != '<' && order != '>' && order != '|' && order != '=') {
      return fail(TESS_ERROR_BAD_FILE, name_ + ": invalid dtype descr '" + d + "'");
    }
    if (code == "O" || code == "O8" || code == "O4") {
      return fail(TESS_ERROR_BAD_FILE,
                  name_ + ": object arrays (descr '" + d + "') hold pickled Python objects and cannot be loaded");
    }
    for (const Known& k : known) {
      if (code != k.code) continue;
      bool single_byte = tessDTypeSize(k.dtype) == 1;
      if (!single_byte && order == '>') {
        return fail(TESS_ERROR_BAD_FILE, name_ + ": big-endian dtype " + d +
                                             " is not supported; save it as little-endian (arr.astype('<" + code +
                                             "'))");
      }
      if (!single_byte && order == '|') return fail(TESS_ERROR_BAD_FILE, name_ + ": invalid dtype descr '" + d + "'");
      *dtype = k.dtype;
      return TESS_SUCCESS;
    }
    // Valid NumPy type codes without a tessDType.
    static const char* const other[] = {"u2", "u4", "u8", "f16", "f12", "c8", "c16", "c32", "V2", "V4"};
    for (const char* o : other) {
      if (code == o) {
        return fail(TESS_ERROR_NOT_SUPPORTED,
                    name_ + ": dtype " + d + " is not supported (supported: <f4 <f8 <f2 |i1 <i2 <i4 <i8 |u1 |b1)");
      }
    }
    char kind = code[0];
    if (kind == 'U' || kind == 'S' || kind == 'V' || kind == 'M' || kind == 'm' || kind == 'a') {
      return fail(TESS_ERROR_NOT_SUPPORTED,
                  name_ + ": dtype " + d + " is not supported (supported: <f4 <f8 <f2 |i1 <i2 <i4 <i8 |u1 |b1)");
    }
    return fail(TESS_ERROR_BAD_FILE, name_ + ": invalid dtype descr '" + d + "'");
  }

  std::string_view s_;
  const std::string& name_;
  size_t pos_ = 0;
};

uint32_t read_le(const unsigned char* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// The file name as messages show it: the path as given.
std::string display_name(const char* path) { return path; }

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

tessStatus_t io_error(const std::string& name, const char* what, int err) {
  return fail(TESS_ERROR_IO, name + ": " + what + ": " + std::strerror(err));
}

}  // namespace

tessStatus_t parse_npy_header(const unsigned char* data, size_t size, const std::string& name, NpyHeader* h) {
  if (size < 6 || std::memcmp(data, kMagic, 6) != 0) {
    if (size < 6 && (size == 0 || std::memcmp(data, kMagic, size) == 0)) {
      return fail(TESS_ERROR_BAD_FILE, name + ": truncated .npy file (" + std::to_string(size) + " bytes)");
    }
    return fail(TESS_ERROR_BAD_FILE, name + ": not an .npy file (the magic string \\x93NUMPY is missing)");
  }
  if (size < 8) return fail(TESS_ERROR_BAD_FILE, name + ": truncated .npy file (no format version)");
  int major = data[6], minor = data[7];
  if (!((major == 1 || major == 2 || major == 3) && minor == 0)) {
    return fail(TESS_ERROR_BAD_FILE, name + ": unsupported .npy format version " + std::to_string(major) + "." +
                                         std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  }
  size_t len_bytes = major == 1 ? 2 : 4;
  if (size < 8 + len_bytes) return fail(TESS_ERROR_BAD_FILE, name + ": truncated .npy file (no header length)");
  size_t header_len = read_le(data + 8, static_cast<int>(len_bytes));
  size_t start = 8 + len_bytes;
  if (header_len > kMaxHeaderBytes) {
    return fail(TESS_ERROR_BAD_FILE, name + ": header length " + std::to_string(header_len) + " is implausibly large");
  }
  if (size - start < header_len) {
    return fail(TESS_ERROR_BAD_FILE, name + ": truncated .npy file (header of " + std::to_string(header_len) +
                                         " bytes, file has " + std::to_string(size - start) + " after the preamble)");
  }
  std::string_view text(reinterpret_cast<const char*>(data + start), header_len);
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80 || c == '\0') {
      return fail(TESS_ERROR_BAD_FILE, name + ": invalid header: non-ASCII byte in the header");
    }
  }
  *h = NpyHeader{};
  HeaderParser parser(text, name);
  if (tessStatus_t s = parser.parse(h)) return s;
  h->data_offset = start + header_len;
  unsigned __int128 bytes = tessDTypeSize(h->dtype);
  bool empty = false;
  for (int d = 0; d < h->rank; ++d) {
    empty |= h->shape[d] == 0;
    bytes *= static_cast<uint64_t>(h->shape[d]);
    if (bytes > kMaxAllocation) bytes = kMaxAllocation + 1;
  }
  if (empty) bytes = 0;
  if (bytes > kMaxAllocation) {
    return fail(TESS_ERROR_BAD_FILE, name + ": shape " + shape_text(h->rank, h->shape) + " is too large");
  }
  h->data_bytes = static_cast<size_t>(bytes);
  return TESS_SUCCESS;
}

tessStatus_t npy_tensor_from_data(const NpyHeader& h, const unsigned char* data, tessTensor* out,
                                  const std::string& name) {
  tessTensor t;
  if (tessStatus_t s = make_tensor(h.dtype, h.rank, h.shape, false, &t, name.c_str())) return s;
  if (h.fortran_order && h.rank > 1 && h.data_bytes > 0) {
    // The file holds the array with reversed strides; walk it as that view.
    tessTensor view = t;
    view.data = const_cast<unsigned char*>(data);
    view.owns = 0;
    int64_t stride = 1;
    for (int d = 0; d < h.rank; ++d) {
      view.strides[d] = stride;
      stride *= h.shape[d];
    }
    gather_contiguous(view, t.data);
  } else if (h.data_bytes > 0) {
    std::memcpy(t.data, data, h.data_bytes);
  }
  if (h.dtype == TESS_BOOL) {
    auto* b = static_cast<unsigned char*>(t.data);
    for (size_t i = 0; i < h.data_bytes; ++i) b[i] = b[i] != 0;
  }
  *out = t;
  return TESS_SUCCESS;
}

const char* npy_descr(tessDType dtype) {
  switch (dtype) {
    case TESS_F32:
    case TESS_BF16: return "<f4";
    case TESS_F64: return "<f8";
    case TESS_F16: return "<f2";
    case TESS_I8: return "|i1";
    case TESS_I16: return "<i2";
    case TESS_I32: return "<i4";
    case TESS_I64: return "<i8";
    case TESS_U8: return "|u1";
    case TESS_BOOL: return "|b1";
    case TESS_DTYPE_INVALID:
    case TESS_DTYPE_MAX_ENUM: break;
  }
  return "";
}

std::string npy_header_bytes(const tessTensor& t) {
  // numpy/lib/format.py _write_array_header: sorted keys, repr of values, then spare space
  // for the first axis to grow to 21 digits, then spaces and '\n' up to a multiple of 64.
  std::string dict = "{'descr': '";
  dict += npy_descr(t.dtype);
  dict += "', 'fortran_order': False, 'shape': " + shape_text(t.rank, t.shape) + ", }";
  if (t.rank > 0) dict.append(21 - std::to_string(t.shape[0]).size(), ' ');
  int major = 1;
  size_t hlen = dict.size() + 1;
  size_t pad = 64 - (8 + 2 + hlen) % 64;
  if (hlen + pad > 0xffff) {
    major = 2;
    pad = 64 - (8 + 4 + hlen) % 64;
  }
  std::string out(reinterpret_cast<const char*>(kMagic), 6);
  out += static_cast<char>(major);
  out += '\0';
  uint32_t total = static_cast<uint32_t>(hlen + pad);
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) out += static_cast<char>((total >> (8 * i)) & 0xff);
  out += dict;
  out.append(pad, ' ');
  out += '\n';
  return out;
}

size_t npy_data_bytes(const tessTensor& t) {
  size_t size = t.dtype == TESS_BF16 ? 4 : tessDTypeSize(t.dtype);
  return static_cast<size_t>(numel_of(t)) * size;
}

bool npy_write_data(const tessTensor& t, bool (*sink)(const void*, size_t, void*), void* sink_data) {
  if (numel_of(t) == 0) return true;
  const size_t in_size = tessDTypeSize(t.dtype);
  const size_t out_size = t.dtype == TESS_BF16 ? 4 : in_size;
  std::vector<char> buf(std::min<size_t>(1 << 20, npy_data_bytes(t)));
  size_t used = 0;
  bool ok = true;
  for_each_element(t, [&](const char* e) {
    if (!ok) return;
    if (used + out_size > buf.size()) {
      ok = sink(buf.data(), used, sink_data);
      used = 0;
    }
    if (t.dtype == TESS_BF16) {
      uint16_t bits;
      std::memcpy(&bits, e, 2);
      float f = tessBF16ToF32(bits);
      std::memcpy(buf.data() + used, &f, 4);
    } else if (t.dtype == TESS_BOOL) {
      buf[used] = *e != 0;
    } else {
      std::memcpy(buf.data() + used, e, in_size);
    }
    used += out_size;
  });
  return ok && (used == 0 || sink(buf.data(), used, sink_data));
}

}  // namespace tessera::rt

using namespace tessera::rt;

namespace {

tessStatus_t load_file(const char* path, tessTensor* out) {
  std::string name = display_name(path);
  errno = 0;
  File f(std::fopen(path, "rb"));
  if (!f) return io_error(name, "cannot open", errno);
  struct stat st;
  if (fstat(fileno(f.get()), &st) != 0) return io_error(name, "cannot stat", errno);
  if (S_ISDIR(st.st_mode)) return fail(TESS_ERROR_IO, name + ": is a directory");
  size_t file_size = static_cast<size_t>(st.st_size);
  // The preamble is at most 12 bytes; then the header, whose length the preamble gives.
  unsigned char preamble[12];
  size_t got = std::fread(preamble, 1, sizeof preamble, f.get());
  if (std::ferror(f.get())) return io_error(name, "cannot read", errno);
  size_t header_len = 0;
  if (got >= 10 && std::memcmp(preamble, kMagic, 6) == 0) {
    header_len = preamble[6] == 1 ? read_le(preamble + 8, 2) : got >= 12 ? read_le(preamble + 8, 4) : 0;
  }
  std::vector<unsigned char> head(preamble, preamble + got);
  size_t want = 12 + std::min(header_len, kMaxHeaderBytes + 1);
  if (want > got && file_size > got) {
    head.resize(std::min(want, file_size));
    size_t more = std::fread(head.data() + got, 1, head.size() - got, f.get());
    if (std::ferror(f.get())) return io_error(name, "cannot read", errno);
    head.resize(got + more);
  }
  NpyHeader h;
  if (tessStatus_t s = parse_npy_header(head.data(), head.size(), name, &h)) return s;
  if (file_size < h.data_offset || file_size - h.data_offset < h.data_bytes) {
    return fail(TESS_ERROR_BAD_FILE, name + ": truncated .npy file: shape " + shape_text(h.rank, h.shape) + " needs " +
                                         std::to_string(h.data_bytes) + " bytes of data, the file has " +
                                         std::to_string(file_size < h.data_offset ? 0 : file_size - h.data_offset));
  }
  if (std::fseek(f.get(), static_cast<long>(h.data_offset), SEEK_SET) != 0) return io_error(name, "cannot seek", errno);
  if (h.fortran_order && h.rank > 1) {
    // Read the file's layout, then transpose into the tensor.
    std::vector<unsigned char> raw(h.data_bytes);
    if (std::fread(raw.data(), 1, raw.size(), f.get()) != raw.size()) {
      return fail(TESS_ERROR_BAD_FILE, name + ": truncated .npy file (data ended early)");
    }
    return npy_tensor_from_data(h, raw.data(), out, name);
  }
  tessTensor t;
  if (tessStatus_t s = make_tensor(h.dtype, h.rank, h.shape, false, &t, name.c_str())) return s;
  if (h.data_bytes > 0 && std::fread(t.data, 1, h.data_bytes, f.get()) != h.data_bytes) {
    tessTensorFree(&t);
    return fail(TESS_ERROR_BAD_FILE, name + ": truncated .npy file (data ended early)");
  }
  if (h.dtype == TESS_BOOL) {
    auto* b = static_cast<unsigned char*>(t.data);
    for (size_t i = 0; i < h.data_bytes; ++i) b[i] = b[i] != 0;
  }
  *out = t;
  return TESS_SUCCESS;
}

bool file_sink(const void* bytes, size_t n, void* data) {
  return std::fwrite(bytes, 1, n, static_cast<FILE*>(data)) == n;
}

}  // namespace

extern "C" {

tessStatus_t tessNpyLoad(const char* path, tessTensor* out) {
  return guarded("tessNpyLoad", [&] {
    if (path == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpyLoad: path is NULL");
    if (out == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpyLoad: out is NULL");
    return load_file(path, out);
  });
}

tessStatus_t tessNpyLoadExpect(const char* path, tessDType dtype, int32_t rank, const int64_t* shape, tessTensor* out) {
  return guarded("tessNpyLoadExpect", [&] {
    if (path == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpyLoadExpect: path is NULL");
    if (out == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpyLoadExpect: out is NULL");
    if (!dtype_valid(dtype)) {
      return failf(TESS_ERROR_INVALID_ARGUMENT, "tessNpyLoadExpect: invalid dtype %d", static_cast<int>(dtype));
    }
    if (shape != nullptr && (rank < 0 || rank > TESS_MAX_RANK)) {
      return failf(TESS_ERROR_INVALID_ARGUMENT, "tessNpyLoadExpect: rank %d is not in 0..%d", rank, TESS_MAX_RANK);
    }
    tessTensor t;
    if (tessStatus_t s = load_file(path, &t)) return s;
    std::string name = display_name(path);
    // bf16 is saved as <f4, so a program expecting bf16 reads <f4 and rounds.
    tessDType file_dtype = dtype == TESS_BF16 && t.dtype == TESS_F32 ? TESS_BF16 : t.dtype;
    if (file_dtype != dtype) {
      std::string found = npy_descr(t.dtype);
      tessTensorFree(&t);
      return fail(TESS_ERROR_DTYPE_MISMATCH, name + ": expected dtype " + npy_descr(dtype) + ", found " + found);
    }
    if (shape != nullptr) {
      bool match = t.rank == rank;
      for (int d = 0; match && d < rank; ++d) match = shape[d] < 0 || shape[d] == t.shape[d];
      if (!match) {
        std::string expected = "(";
        for (int d = 0; d < rank; ++d) {
          if (d) expected += ", ";
          expected += shape[d] < 0 ? std::string("_") : std::to_string(shape[d]);
        }
        expected += rank == 1 ? ",)" : ")";
        std::string found = shape_text(t.rank, t.shape);
        tessTensorFree(&t);
        return fail(TESS_ERROR_SHAPE_MISMATCH, name + ": expected shape " + expected + ", found " + found);
      }
    }
    if (dtype == TESS_BF16) {
      tessTensor b;
      if (tessStatus_t s = make_tensor(TESS_BF16, t.rank, t.shape, false, &b, "tessNpyLoadExpect")) {
        tessTensorFree(&t);
        return s;
      }
      const float* src = static_cast<const float*>(t.data);
      auto* dst = static_cast<uint16_t*>(b.data);
      for (int64_t i = 0, n = numel_of(t); i < n; ++i) dst[i] = tessF32ToBF16(src[i]);
      tessTensorFree(&t);
      t = b;
    }
    *out = t;
    return TESS_SUCCESS;
  });
}

tessStatus_t tessNpyLoadFromMemory(const void* data, size_t size, tessTensor* out) {
  return guarded("tessNpyLoadFromMemory", [&] {
    if (data == nullptr && size > 0) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpyLoadFromMemory: data is NULL");
    if (out == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpyLoadFromMemory: out is NULL");
    static const unsigned char empty = 0;
    const auto* bytes = size ? static_cast<const unsigned char*>(data) : &empty;
    NpyHeader h;
    const std::string name = "<memory>";
    if (tessStatus_t s = parse_npy_header(bytes, size, name, &h)) return s;
    if (size - h.data_offset < h.data_bytes) {
      return fail(TESS_ERROR_BAD_FILE, name + ": truncated .npy image: shape " + shape_text(h.rank, h.shape) +
                                           " needs " + std::to_string(h.data_bytes) + " bytes of data, found " +
                                           std::to_string(size - h.data_offset));
    }
    return npy_tensor_from_data(h, bytes + h.data_offset, out, name);
  });
}

tessStatus_t tessNpySave(const char* path, const tessTensor* tensor) {
  return guarded("tessNpySave", [&] {
    if (path == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpySave: path is NULL");
    if (tessStatus_t s = validate_tensor(tensor, "tessNpySave", "tensor")) return s;
    std::string name = display_name(path);
    errno = 0;
    File f(std::fopen(path, "wb"));
    if (!f) return io_error(name, "cannot open for writing", errno);
    std::string header = npy_header_bytes(*tensor);
    if (std::fwrite(header.data(), 1, header.size(), f.get()) != header.size() ||
        !npy_write_data(*tensor, file_sink, f.get())) {
      return io_error(name, "cannot write", errno);
    }
    FILE* raw = f.release();
    if (std::fclose(raw) != 0) return io_error(name, "cannot write", errno);
    return TESS_SUCCESS;
  });
}

}  // extern "C"
