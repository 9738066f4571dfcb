// print(): scalars as NumPy's str of a scalar, tensors as NumPy's str(array) (numpy 1.24,
// default print options). The port follows numpy/core/arrayprint.py; docs/runtime.md
// states the rules.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "tensor.h"

namespace tessera::rt {
namespace {

// NumPy's default print options.
constexpr int kLineWidth = 75;
constexpr int64_t kThreshold = 1000;
constexpr int kEdgeItems = 3;
constexpr int kPrecision = 8;

enum class FloatKind { kF16, kBF16, kF32, kF64 };

// The decimal digits of |value|: value = 0.D * 10^point, D without leading zeros (except
// "0" for zero, with point 1) and without trailing zeros.
struct Digits {
  std::string d;
  int point = 1;
};

void normalize(Digits& x) {
  size_t lead = 0;
  while (lead + 1 < x.d.size() && x.d[lead] == '0') ++lead;
  x.d.erase(0, lead);
  x.point -= static_cast<int>(lead);
  while (x.d.size() > 1 && x.d.back() == '0') x.d.pop_back();
  if (x.d == "0") x.point = 1;
}

// Reads the output of to_chars in scientific form ("1.2345e-05", no sign).
Digits from_scientific(std::string_view s) {
  Digits x;
  size_t e = s.find('e');
  for (size_t i = 0; i < e; ++i)
    if (s[i] != '.') x.d += s[i];
  int exp = 0;
  std::from_chars(s.data() + e + (s[e + 1] == '+' ? 2 : 1), s.data() + s.size(), exp);
  x.point = exp + 1;
  normalize(x);
  return x;
}

// Reads the output of to_chars in fixed form ("123.4500", no sign).
Digits from_fixed(std::string_view s) {
  Digits x;
  size_t dot = s.find('.');
  if (dot == std::string_view::npos) dot = s.size();
  for (char c : s)
    if (c != '.') x.d += c;
  x.point = static_cast<int>(dot);
  normalize(x);
  return x;
}

std::string chars(double a, std::chars_format f, int precision) {
  char buf[512];
  auto r = std::to_chars(buf, buf + sizeof buf, a, f, precision);
  return std::string(buf, r.ptr);
}

// Bits of a 16-bit format value and back (a >= 0 and exactly representable).
uint16_t bits16(double a, FloatKind k) {
  return k == FloatKind::kF16 ? tessF64ToF16(a) : tessF32ToBF16(static_cast<float>(a));
}
double value16(uint32_t bits, FloatKind k) {
  if (k == FloatKind::kF16) return bits >= 0x7c00 ? 65536.0 : tessF16ToF32(static_cast<uint16_t>(bits));
  return bits >= 0x7f80 ? std::ldexp(1.0, 128) : tessBF16ToF32(static_cast<uint16_t>(bits));
}

// The shortest digits that read back as the same 16-bit value, nearest to it among those of
// that length. As in NumPy's Dragon4 (and Ryu), a decimal exactly on a rounding boundary
// counts when the value's mantissa is even, since ties round to even. Every value and
// boundary of f16 and bf16 is exact in double, and a short decimal that is not equal to a
// boundary stays on its side of it when parsed.
Digits shortest16(double a, FloatKind k) {
  uint32_t b = bits16(a, k);
  double up = value16(b + 1, k), down = b == 0 ? 0.0 : value16(b - 1, k);
  double low = (a + down) / 2, high = (a + up) / 2;
  bool even = (b & 1) == 0;
  auto inside = [&](double v) { return even ? v >= low && v <= high : v > low && v < high; };
  for (int n = 1; n <= 17; ++n) {
    Digits c = from_scientific(chars(a, std::chars_format::scientific, n - 1));
    double v = std::strtod(("0." + c.d + "e" + std::to_string(c.point)).c_str(), nullptr);
    if (inside(v)) return c;
    // The nearest n-digit decimal missed; the next one on the other side of a may still be
    // inside when the interval is lopsided (at a power of two).
    double step = std::pow(10.0, c.point - static_cast<int>(n));
    double other = v < a ? v + step : v - step;
    std::string s = chars(other, std::chars_format::scientific, n - 1);
    double w = std::strtod(s.c_str(), nullptr);
    if (inside(w)) return from_scientific(s);
  }
  return from_scientific(chars(a, std::chars_format::scientific, 16));
}

// Shortest round-trip digits of |v| in its own format.
Digits shortest(double a, FloatKind k) {
  if (a == 0) return Digits{"0", 1};
  char buf[64];
  std::to_chars_result r;
  switch (k) {
    case FloatKind::kF64: r = std::to_chars(buf, buf + sizeof buf, a, std::chars_format::scientific); break;
    case FloatKind::kF32:
      r = std::to_chars(buf, buf + sizeof buf, static_cast<float>(a), std::chars_format::scientific);
      break;
    case FloatKind::kF16:
    case FloatKind::kBF16: return shortest16(a, k);
  }
  return from_scientific(std::string_view(buf, r.ptr - buf));
}

std::string int_part(const Digits& x) {
  if (x.point <= 0) return "0";
  std::string s = x.d.substr(0, static_cast<size_t>(x.point));
  s.append(static_cast<size_t>(x.point) - s.size(), '0');
  return s;
}

std::string frac_part(const Digits& x) {
  if (x.d == "0") return "";
  if (x.point <= 0) return std::string(static_cast<size_t>(-x.point), '0') + x.d;
  return static_cast<size_t>(x.point) < x.d.size() ? x.d.substr(static_cast<size_t>(x.point)) : "";
}

// NumPy's trim modes: 'k' keep, '.' keep the point, '0' leave one zero, '-' drop the point.
enum class Trim { kKeep, kDot, kOneZero, kNoPoint };

// dragon4_positional with unique=True, fractional=True.
std::string positional(double v, FloatKind k, int precision, int min_digits, Trim trim, int pad_left, int pad_right) {
  double a = std::fabs(v);
  // Shortest digits, cut to `precision` fraction digits. With min_digits >= 0, Dragon4 goes
  // on generating the value's own digits (not zeros) at least down to the units digit and
  // to min_digits fraction digits: 52576 in f16 prints as "52576." in an array, although
  // "52580.0" reads back the same (the scalar, with min_digits -1).
  Digits x = shortest(a, k);
  int frac = static_cast<int>(frac_part(x).size());
  bool whole_cut = x.point > static_cast<int>(x.d.size());
  if (precision >= 0 && frac > precision) {
    x = from_fixed(chars(a, std::chars_format::fixed, precision));
  } else if (min_digits >= 0 && (frac < min_digits || whole_cut)) {
    x = from_fixed(chars(a, std::chars_format::fixed, min_digits));
  }
  std::string ip = (std::signbit(v) ? "-" : "") + int_part(x), fp = frac_part(x);
  if (static_cast<int>(fp.size()) < min_digits) fp.append(static_cast<size_t>(min_digits) - fp.size(), '0');
  if (trim == Trim::kOneZero && fp.empty()) fp = "0";
  std::string out;
  if (static_cast<int>(ip.size()) < pad_left) out.append(static_cast<size_t>(pad_left) - ip.size(), ' ');
  out += ip;
  if (trim == Trim::kNoPoint && fp.empty()) return out;
  out += '.';
  out += fp;
  if (static_cast<int>(fp.size()) < pad_right) out.append(static_cast<size_t>(pad_right) - fp.size(), ' ');
  return out;
}

// dragon4_scientific with unique=True.
std::string scientific(double v, FloatKind k, int precision, int min_digits, Trim trim, int pad_left, int exp_digits) {
  double a = std::fabs(v);
  Digits x = shortest(a, k);
  int frac = static_cast<int>(x.d.size()) - 1;
  if (precision >= 0 && frac > precision) {
    x = from_scientific(chars(a, std::chars_format::scientific, precision));
  } else if (frac < min_digits && a != 0) {
    x = from_scientific(chars(a, std::chars_format::scientific, min_digits));
  }
  std::string lead = (std::signbit(v) ? "-" : "") + x.d.substr(0, 1), rest = x.d.substr(1);
  if (static_cast<int>(rest.size()) < min_digits) rest.append(static_cast<size_t>(min_digits) - rest.size(), '0');
  std::string out;
  if (static_cast<int>(lead.size()) < pad_left) out.append(static_cast<size_t>(pad_left) - lead.size(), ' ');
  out += lead;
  if (!(trim == Trim::kNoPoint && rest.empty())) out += "." + rest;
  int exp = x.d == "0" ? 0 : x.point - 1;
  std::string e = std::to_string(exp < 0 ? -exp : exp);
  int width = exp_digits < 2 ? 2 : exp_digits;
  if (static_cast<int>(e.size()) < width) e.insert(0, static_cast<size_t>(width) - e.size(), '0');
  out += exp < 0 ? "e-" : "e+";
  return out + e;
}

// str() of a NumPy float scalar: positional between 1e-4 and 1e16 (and for 0), else
// scientific; shortest digits of the value's own type.
std::string scalar_float(double v, FloatKind k) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  long double a = std::fabs(static_cast<long double>(v));
  if (a == 0 || (a >= 1.e-4L && a < 1.e16L)) return positional(v, k, -1, -1, Trim::kOneZero, -1, -1);
  return scientific(v, k, -1, -1, Trim::kNoPoint, -1, -1);
}

FloatKind float_kind(tessDType dt) {
  switch (dt) {
    case TESS_F16: return FloatKind::kF16;
    case TESS_BF16: return FloatKind::kBF16;
    case TESS_F64: return FloatKind::kF64;
    default: return FloatKind::kF32;
  }
}

bool is_float(tessDType dt) { return dt == TESS_F32 || dt == TESS_F64 || dt == TESS_F16 || dt == TESS_BF16; }

double load_float(const char* p, tessDType dt) {
  switch (dt) {
    case TESS_F64: {
      double d;
      std::memcpy(&d, p, 8);
      return d;
    }
    case TESS_F16:
    case TESS_BF16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return dt == TESS_F16 ? tessF16ToF32(b) : tessBF16ToF32(b);
    }
    default: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
  }
}

int64_t load_int(const char* p, tessDType dt) {
  switch (dt) {
    case TESS_I8: return static_cast<int8_t>(*p);
    case TESS_U8: return static_cast<uint8_t>(*p);
    case TESS_I16: {
      int16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case TESS_I32: {
      int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    default: {
      int64_t v;
      std::memcpy(&v, p, 8);
      return v;
    }
  }
}

std::string scalar_text(const char* p, tessDType dt) {
  if (dt == TESS_BOOL) return *p ? "True" : "False";
  if (is_float(dt)) return scalar_float(load_float(p, dt), float_kind(dt));
  return std::to_string(load_int(p, dt));
}

// FloatingFormat of arrayprint.py (floatmode 'maxprec', precision 8, sign '-').
struct FloatFormat {
  FloatKind kind;
  bool exp_format = false;
  int precision = kPrecision, min_digits = 0, pad_left = 0, pad_right = 0, exp_size = -1;
  Trim trim = Trim::kDot;

  FloatFormat(FloatKind k, const std::vector<double>& data) : kind(k) {
    std::vector<double> finite;
    bool any_nonfinite = false, neg_inf = false;
    for (double v : data) {
      if (std::isfinite(v)) {
        finite.push_back(v);
      } else {
        any_nonfinite = true;
        neg_inf |= std::isinf(v) && v < 0;
      }
    }
    double max_val = 0, min_val = 0;
    bool any_nonzero = false;
    for (double v : finite) {
      if (v == 0) continue;
      double a = std::fabs(v);
      if (!any_nonzero || a > max_val) max_val = a;
      if (!any_nonzero || a < min_val) min_val = a;
      any_nonzero = true;
    }
    if (any_nonzero) {
      exp_format = max_val >= 1.e8 || min_val < 0.0001 || ratio(max_val, min_val) > 1000.;
    }
    if (finite.empty()) {
      pad_left = pad_right = 0;
      trim = Trim::kDot;
      exp_size = -1;
    } else if (exp_format) {
      size_t int_len = 0, frac_len = 0, exp_len = 0;
      for (double v : finite) {
        std::string s = scientific(v, kind, kPrecision, -1, Trim::kDot, -1, -1);
        size_t dot = s.find('.'), e = s.find('e');
        int_len = std::max(int_len, dot);
        frac_len = std::max(frac_len, e - dot - 1);
        exp_len = std::max(exp_len, s.size() - e - 1);
      }
      exp_size = static_cast<int>(exp_len) - 1;
      trim = Trim::kKeep;
      precision = min_digits = static_cast<int>(frac_len);
      pad_left = static_cast<int>(int_len);
      pad_right = exp_size + 2 + precision;
    } else {
      size_t int_len = 0, frac_len = 0;
      for (double v : finite) {
        std::string s = positional(v, kind, kPrecision, -1, Trim::kDot, -1, -1);
        size_t dot = s.find('.');
        int_len = std::max(int_len, dot);
        frac_len = std::max(frac_len, s.size() - dot - 1);
      }
      pad_left = static_cast<int>(int_len);
      pad_right = static_cast<int>(frac_len);
      trim = Trim::kDot;
      min_digits = 0;
    }
    if (any_nonfinite) {
      int offset = pad_right + 1;
      pad_left = std::max({pad_left, 3 - offset, 3 + (neg_inf ? 1 : 0) - offset});
    }
  }

  // max/min in the array's own type, as NumPy divides the two scalars.
  double ratio(double max_val, double min_val) const {
    switch (kind) {
      case FloatKind::kF64: return max_val / min_val;
      case FloatKind::kF16:
        return tessF16ToF32(tessF32ToF16(static_cast<float>(max_val) / static_cast<float>(min_val)));
      case FloatKind::kF32:
      case FloatKind::kBF16: return static_cast<float>(max_val) / static_cast<float>(min_val);
    }
    return max_val / min_val;
  }

  std::string operator()(double v) const {
    if (!std::isfinite(v)) {
      std::string ret = std::isnan(v) ? "nan" : v < 0 ? "-inf" : "inf";
      int width = pad_left + pad_right + 1;
      return std::string(width > static_cast<int>(ret.size()) ? width - ret.size() : 0, ' ') + ret;
    }
    if (exp_format) return scientific(v, kind, precision, min_digits, trim, pad_left, exp_size);
    return positional(v, kind, precision, min_digits, trim, pad_left, pad_right);
  }
};

// _formatArray of arrayprint.py with separator ' ', prefix "" and legacy printing off.
class ArrayPrinter {
 public:
  explicit ArrayPrinter(const tessTensor& t) : t_(t) {
    summarize_ = numel_of(t) > kThreshold;
    shown_.resize(t.rank);
    for (int d = 0; d < t.rank; ++d) {
      int64_t n = t.shape[d];
      for (int64_t i = 0; i < n; ++i) {
        if (summarize_ && n > 2 * kEdgeItems && i == kEdgeItems) i = n - kEdgeItems;
        shown_[d].push_back(i);
      }
    }
    // The format is fitted to the elements that are shown (all of them, or the edges).
    std::vector<double> floats;
    int64_t max_int = 0, min_int = 0;
    bool first = true;
    std::vector<int64_t> index(t.rank, 0);
    visit_shown(0, index, [&](const char* p) {
      if (is_float(t.dtype)) {
        floats.push_back(load_float(p, t.dtype));
      } else if (t.dtype != TESS_BOOL) {
        int64_t v = load_int(p, t.dtype);
        if (first || v > max_int) max_int = v;
        if (first || v < min_int) min_int = v;
        first = false;
      }
    });
    if (is_float(t.dtype)) float_format_.emplace_back(float_kind(t.dtype), floats);
    int_width_ = static_cast<int>(std::max(std::to_string(max_int).size(), std::to_string(min_int).size()));
  }

  std::string print() {
    std::vector<int64_t> index;
    return recurse(index, " ", kLineWidth);
  }

 private:
  template <class F>
  void visit_shown(int axis, std::vector<int64_t>& index, F&& fn) {
    if (axis == t_.rank) {
      fn(element(index));
      return;
    }
    for (int64_t i : shown_[axis]) {
      index[axis] = i;
      visit_shown(axis + 1, index, fn);
    }
  }

  const char* element(const std::vector<int64_t>& index) const {
    const char* p = static_cast<const char*>(t_.data);
    int64_t size = static_cast<int64_t>(tessDTypeSize(t_.dtype));
    for (size_t d = 0; d < index.size(); ++d) p += index[d] * t_.strides[d] * size;
    return p;
  }

  std::string format(const char* p) const {
    if (t_.dtype == TESS_BOOL) return *p ? " True" : "False";
    if (is_float(t_.dtype)) return float_format_[0](load_float(p, t_.dtype));
    std::string s = std::to_string(load_int(p, t_.dtype));
    return std::string(int_width_ > static_cast<int>(s.size()) ? int_width_ - s.size() : 0, ' ') + s;
  }

  static void extend_line(std::string& s, std::string& line, const std::string& word, int line_width,
                          const std::string& next_line_prefix) {
    bool needs_wrap = static_cast<int>(line.size() + word.size()) > line_width;
    if (line.size() <= next_line_prefix.size()) needs_wrap = false;  // wrapping would not help
    if (needs_wrap) {
      size_t end = line.find_last_not_of(' ');
      s += line.substr(0, end == std::string::npos ? 0 : end + 1);
      s += '\n';
      line = next_line_prefix;
    }
    line += word;
  }

  std::string recurse(std::vector<int64_t>& index, const std::string& hanging_indent, int curr_width) {
    size_t axis = index.size();
    int axes_left = t_.rank - static_cast<int>(axis);
    if (axes_left == 0) return format(element(index));
    std::string next_hanging_indent = hanging_indent + ' ';
    int next_width = curr_width - 1;
    int64_t a_len = t_.shape[axis];
    bool show_summary = summarize_ && 2 * kEdgeItems < a_len;
    int64_t leading = show_summary ? kEdgeItems : 0, trailing = show_summary ? kEdgeItems : a_len;
    std::string s;
    auto child = [&](int64_t i) {
      index.push_back(i);
      std::string r = recurse(index, next_hanging_indent, next_width);
      index.pop_back();
      return r;
    };
    if (axes_left == 1) {
      int elem_width = curr_width - 1;  // room for the closing ']'
      std::string line = hanging_indent;
      for (int64_t i = 0; i < leading; ++i) {
        extend_line(s, line, child(i), elem_width, hanging_indent);
        line += ' ';
      }
      if (show_summary) {
        extend_line(s, line, "...", elem_width, hanging_indent);
        line += ' ';
      }
      for (int64_t i = trailing; i > 1; --i) {
        extend_line(s, line, child(a_len - i), elem_width, hanging_indent);
        line += ' ';
      }
      extend_line(s, line, child(a_len - 1), elem_width, hanging_indent);
      s += line;
    } else {
      std::string line_sep(static_cast<size_t>(axes_left - 1), '\n');
      for (int64_t i = 0; i < leading; ++i) s += hanging_indent + child(i) + line_sep;
      if (show_summary) s += hanging_indent + "..." + line_sep;
      for (int64_t i = trailing; i > 1; --i) s += hanging_indent + child(a_len - i) + line_sep;
      s += hanging_indent + child(a_len - 1);
    }
    return "[" + s.substr(hanging_indent.size()) + "]";
  }

  const tessTensor& t_;
  bool summarize_ = false;
  std::vector<std::vector<int64_t>> shown_;
  std::vector<FloatFormat> float_format_;  // one entry for float tensors
  int int_width_ = 0;
};

std::string shape_tuple(int32_t rank, const int64_t* dims) {
  std::string s = "(";
  for (int d = 0; d < rank; ++d) {
    if (d) s += ", ";
    s += std::to_string(dims[d]);
  }
  if (rank == 1) s += ',';
  return s + ')';
}

std::string tensor_text(const tessTensor& t) {
  if (t.rank == 0) return scalar_text(static_cast<const char*>(t.data), t.dtype);
  if (numel_of(t) == 0) return "[]";
  return ArrayPrinter(t).print();
}

tessStatus_t value_text(const tessValue& v, size_t i, std::string* out) {
  switch (v.kind) {
    case TESS_VALUE_NONE: *out = "None"; return TESS_SUCCESS;
    case TESS_VALUE_BOOL: *out = v.i ? "True" : "False"; return TESS_SUCCESS;
    case TESS_VALUE_I64: *out = std::to_string(v.i); return TESS_SUCCESS;
    case TESS_VALUE_F64: *out = scalar_float(v.f, FloatKind::kF64); return TESS_SUCCESS;
    case TESS_VALUE_F32: *out = scalar_float(static_cast<float>(v.f), FloatKind::kF32); return TESS_SUCCESS;
    case TESS_VALUE_STR:
      if (v.ptr == nullptr) return failf(TESS_ERROR_INVALID_ARGUMENT, "tessFormatValues: value %zu: string is NULL", i);
      *out = static_cast<const char*>(v.ptr);
      return TESS_SUCCESS;
    case TESS_VALUE_SHAPE:
      if (v.rank < 0 || v.rank > TESS_MAX_RANK || (v.rank > 0 && v.ptr == nullptr)) {
        return failf(TESS_ERROR_INVALID_ARGUMENT, "tessFormatValues: value %zu: invalid shape (rank %d)", i, v.rank);
      }
      *out = shape_tuple(v.rank, static_cast<const int64_t*>(v.ptr));
      return TESS_SUCCESS;
    case TESS_VALUE_TENSOR: {
      auto* t = static_cast<const tessTensor*>(v.ptr);
      std::string what = "value " + std::to_string(i);
      if (tessStatus_t s = validate_tensor(t, "tessFormatValues", what.c_str())) return s;
      *out = tensor_text(*t);
      return TESS_SUCCESS;
    }
  }
  return failf(TESS_ERROR_INVALID_ARGUMENT, "tessFormatValues: value %zu has invalid kind %d", i, v.kind);
}

tessStatus_t values_text(const tessValue* values, size_t count, std::string* out) {
  if (values == nullptr && count > 0) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessFormatValues: values is NULL");
  out->clear();
  for (size_t i = 0; i < count; ++i) {
    std::string piece;
    if (tessStatus_t s = value_text(values[i], i, &piece)) return s;
    if (i) *out += ' ';
    *out += piece;
  }
  *out += '\n';
  return TESS_SUCCESS;
}

}  // namespace
}  // namespace tessera::rt

using namespace tessera::rt;

extern "C" {

tessStatus_t tessFormatTensor(const tessTensor* tensor, char* buf, size_t cap, size_t* needed) {
  return guarded("tessFormatTensor", [&] {
    if (tessStatus_t s = validate_tensor(tensor, "tessFormatTensor", "tensor")) return s;
    return write_out(tensor_text(*tensor), buf, cap, needed, "tessFormatTensor");
  });
}

tessStatus_t tessFormatValues(const tessValue* values, size_t count, char* buf, size_t cap, size_t* needed) {
  return guarded("tessFormatValues", [&] {
    std::string text;
    if (tessStatus_t s = values_text(values, count, &text)) return s;
    return write_out(text, buf, cap, needed, "tessFormatValues");
  });
}

tessStatus_t tessPrintValues(const tessValue* values, size_t count) {
  return guarded("tessPrintValues", [&] {
    std::string text;
    if (tessStatus_t s = values_text(values, count, &text)) return s;
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
      return fail(TESS_ERROR_IO, "tessPrintValues: cannot write to stdout");
    }
    return TESS_SUCCESS;
  });
}

tessStatus_t tessFormatF64(double value, char* buf, size_t cap, size_t* needed) {
  return guarded("tessFormatF64",
                 [&] { return write_out(scalar_float(value, FloatKind::kF64), buf, cap, needed, "tessFormatF64"); });
}

tessStatus_t tessFormatF32(float value, char* buf, size_t cap, size_t* needed) {
  return guarded("tessFormatF32",
                 [&] { return write_out(scalar_float(value, FloatKind::kF32), buf, cap, needed, "tessFormatF32"); });
}

tessStatus_t tessFormatShape(int32_t rank, const int64_t* dims, char* buf, size_t cap, size_t* needed) {
  return guarded("tessFormatShape", [&] {
    if (rank < 0 || rank > TESS_MAX_RANK) {
      return failf(TESS_ERROR_INVALID_ARGUMENT, "tessFormatShape: rank %d is not in 0..%d", rank, TESS_MAX_RANK);
    }
    if (rank > 0 && dims == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessFormatShape: dims is NULL");
    return write_out(shape_tuple(rank, dims), buf, cap, needed, "tessFormatShape");
  });
}

}  // extern "C"
