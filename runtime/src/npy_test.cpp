// Tests for .npy and .npz loading and saving: round trips, header layout, and every way a
// file can be wrong.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "npz.h"
#include "tessera/runtime.h"

namespace {

// A scratch directory removed at the end of the test run.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/tessera_rt_npy_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// An .npy image with the given header dict and data.
std::string npy(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict + "\n";
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  size_t n = header.size();
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  if (major > 1) out += std::string(2, '\0');
  return out + header + data;
}

std::string bytes_of(const void* p, size_t n) { return std::string(static_cast<const char*>(p), n); }

tessStatus_t load_image(const std::string& image, tessTensor* t) {
  return tessNpyLoadFromMemory(image.data(), image.size(), t);
}

std::string message() { return tessGetLastErrorMessage(); }

}  // namespace

TEST_CASE("npy round trip for every dtype and rank") {
  TempDir dir;
  const tessDType dtypes[] = {TESS_F32, TESS_F64, TESS_F16, TESS_I8, TESS_I16, TESS_I32, TESS_I64, TESS_U8, TESS_BOOL};
  const std::vector<std::vector<int64_t>> shapes = {{}, {5}, {2, 3}, {2, 1, 4}, {0, 3}};
  std::mt19937 rng(1);
  for (tessDType dt : dtypes) {
    for (const auto& shape : shapes) {
      tessTensor t;
      REQUIRE(tessTensorCreate(dt, static_cast<int32_t>(shape.size()), shape.data(), &t) == TESS_SUCCESS);
      int64_t n = 0;
      REQUIRE(tessTensorNumel(&t, &n) == TESS_SUCCESS);
      auto* bytes = static_cast<unsigned char*>(t.data);
      for (int64_t i = 0; i < n * static_cast<int64_t>(tessDTypeSize(dt)); ++i) {
        bytes[i] = dt == TESS_BOOL ? rng() % 2 : static_cast<unsigned char>(rng());
      }
      std::string path = dir.file("a.npy");
      REQUIRE(tessNpySave(path.c_str(), &t) == TESS_SUCCESS);
      std::string image = read_all(path);
      CHECK(image.size() % 64 == (n * tessDTypeSize(dt)) % 64);  // data starts 64-aligned
      tessTensor back;
      REQUIRE(tessNpyLoad(path.c_str(), &back) == TESS_SUCCESS);
      CHECK(back.dtype == dt);
      REQUIRE(back.rank == t.rank);
      for (int d = 0; d < t.rank; ++d) CHECK(back.shape[d] == t.shape[d]);
      if (n > 0) CHECK(std::memcmp(back.data, t.data, n * tessDTypeSize(dt)) == 0);
      CHECK(tessTensorFree(&back) == TESS_SUCCESS);
      CHECK(tessTensorFree(&t) == TESS_SUCCESS);
    }
  }
}

TEST_CASE("npy headers are laid out exactly as numpy.save writes them") {
  TempDir dir;
  int64_t shape[] = {2, 3};
  tessTensor t;
  REQUIRE(tessTensorCreate(TESS_F32, 2, shape, &t) == TESS_SUCCESS);
  REQUIRE(tessNpySave(dir.file("h.npy").c_str(), &t) == TESS_SUCCESS);
  std::string image = read_all(dir.file("h.npy"));
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  dict += std::string(21 - 1, ' ');  // room for the first axis to grow to 21 digits
  std::string expected_header = std::string("\x93NUMPY\x01\x00", 8) + "\x76" + std::string(1, '\0') + dict;
  expected_header.append(128 - 1 - expected_header.size(), ' ');
  expected_header += '\n';
  CHECK(image.substr(0, 128) == expected_header);
  CHECK(image.size() == 128 + 24);
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);

  // Scalars have no growth padding; bf16 is stored as <f4; rank 1 shapes keep the comma.
  uint16_t half = tessF32ToBF16(1.5f);
  tessTensor s;
  REQUIRE(tessTensorWrap(TESS_BF16, 0, nullptr, nullptr, &half, &s) == TESS_SUCCESS);
  REQUIRE(tessNpySave(dir.file("s.npy").c_str(), &s) == TESS_SUCCESS);
  image = read_all(dir.file("s.npy"));
  CHECK(image.substr(10, 60) == "{'descr': '<f4', 'fortran_order': False, 'shape': (), }     ");
  CHECK(image.size() == 128 + 4);
  float f = 0;
  std::memcpy(&f, image.data() + 128, 4);
  CHECK(f == 1.5f);
  int64_t five[] = {5};
  REQUIRE(tessTensorCreate(TESS_BOOL, 1, five, &t) == TESS_SUCCESS);
  REQUIRE(tessNpySave(dir.file("b.npy").c_str(), &t) == TESS_SUCCESS);
  CHECK(read_all(dir.file("b.npy")).find("{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }") == 10);
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);
}

TEST_CASE("strided tensors are saved in row-major order") {
  TempDir dir;
  std::vector<int32_t> data = {0, 1, 2, 3, 4, 5};
  int64_t shape[] = {3, 2}, strides[] = {1, 3};
  tessTensor view, back;
  REQUIRE(tessTensorWrap(TESS_I32, 2, shape, strides, data.data(), &view) == TESS_SUCCESS);
  REQUIRE(tessNpySave(dir.file("t.npy").c_str(), &view) == TESS_SUCCESS);
  REQUIRE(tessNpyLoad(dir.file("t.npy").c_str(), &back) == TESS_SUCCESS);
  const int32_t* p = static_cast<const int32_t*>(back.data);
  CHECK(std::vector<int32_t>(p, p + 6) == std::vector<int32_t>{0, 3, 1, 4, 2, 5});
  CHECK(tessTensorFree(&back) == TESS_SUCCESS);
}

TEST_CASE("npy headers in other valid spellings load") {
  float data[6] = {0, 1, 2, 3, 4, 5};
  std::string raw = bytes_of(data, sizeof data);
  tessTensor t;
  // Keys in another order, double quotes, no trailing comma, Python 2 long ints.
  REQUIRE(load_image(npy("{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f4\"}", raw), &t) ==
          TESS_SUCCESS);
  CHECK(t.shape[0] == 2);
  CHECK(t.shape[1] == 3);
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);
  // Versions 2.0 and 3.0 have a 4-byte header length.
  for (int major : {2, 3}) {
    REQUIRE(load_image(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", raw, major), &t) ==
            TESS_SUCCESS);
    CHECK(t.rank == 1);
    CHECK(static_cast<float*>(t.data)[5] == 5);
    CHECK(tessTensorFree(&t) == TESS_SUCCESS);
  }
  // Fortran order is converted to row-major: file data is column-major.
  REQUIRE(load_image(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", raw), &t) == TESS_SUCCESS);
  const float* p = static_cast<const float*>(t.data);
  CHECK(std::vector<float>(p, p + 6) == std::vector<float>{0, 2, 4, 1, 3, 5});
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);
  // Trailing bytes after the data are ignored, as numpy.load does.
  REQUIRE(load_image(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", raw), &t) == TESS_SUCCESS);
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);
  // Native-order '=' and '>' on single bytes are little-endian here; bools become 0/1.
  REQUIRE(load_image(npy("{'descr': '>b1', 'fortran_order': False, 'shape': (3,), }", std::string("\x00\x05\x01", 3)),
                     &t) == TESS_SUCCESS);
  CHECK(t.dtype == TESS_BOOL);
  CHECK(static_cast<unsigned char*>(t.data)[1] == 1);
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);
  REQUIRE(load_image(npy("{'descr': '=i4', 'fortran_order': False, 'shape': (1,), }", raw), &t) == TESS_SUCCESS);
  CHECK(t.dtype == TESS_I32);
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);
}

TEST_CASE("bad npy files are rejected with precise messages") {
  float data[4] = {};
  std::string raw = bytes_of(data, sizeof data);
  auto expect = [&](const std::string& image, tessStatus_t status, const std::string& text) {
    tessTensor t;
    std::memset(&t, 0, sizeof t);
    CHECK(load_image(image, &t) == status);
    CHECK_MESSAGE(message().find(text) != std::string::npos, message());
    CHECK(t.data == nullptr);
  };
  expect("PK\x03\x04 not npy", TESS_ERROR_BAD_FILE,
         "<memory>: not an .npy file (the magic string \\x93NUMPY is missing)");
  expect("", TESS_ERROR_BAD_FILE, "truncated .npy file (0 bytes)");
  expect(std::string("\x93NUMPY\x04\x00", 8) + "xx", TESS_ERROR_BAD_FILE, "unsupported .npy format version 4.0");
  expect(npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", raw), TESS_ERROR_BAD_FILE,
         "big-endian dtype >f4 is not supported");
  expect(npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", raw), TESS_ERROR_BAD_FILE,
         "object arrays (descr '|O') hold pickled Python objects");
  expect(npy("{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }", raw), TESS_ERROR_NOT_SUPPORTED,
         "dtype <u4 is not supported");
  expect(npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", raw), TESS_ERROR_NOT_SUPPORTED,
         "dtype <c8 is not supported");
  expect(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", raw), TESS_ERROR_NOT_SUPPORTED,
         "structured dtypes");
  expect(npy("{'descr': '<q9', 'fortran_order': False, 'shape': (1,), }", raw), TESS_ERROR_BAD_FILE,
         "invalid dtype descr '<q9'");
  expect(npy("{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }", raw), TESS_ERROR_BAD_FILE,
         "invalid dtype descr '|f4'");
  expect(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", raw),
         TESS_ERROR_NOT_SUPPORTED, "arrays of rank above 8 are not supported");
  expect(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", raw), TESS_ERROR_BAD_FILE,
         "truncated .npy image: shape (2, 3) needs 24 bytes of data, found 16");
  expect(npy("{'descr': '<f4', 'fortran_order': False}", raw), TESS_ERROR_BAD_FILE, "missing key(s): shape");
  expect(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", raw), TESS_ERROR_BAD_FILE,
         "unexpected key 'x'");
  expect(npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", raw), TESS_ERROR_BAD_FILE,
         "duplicate key 'descr'");
  expect(npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", raw), TESS_ERROR_BAD_FILE,
         "fortran_order must be True or False");
  expect(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", raw), TESS_ERROR_BAD_FILE,
         "shape entries must be non-negative integers");
  expect(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1)}", raw), TESS_ERROR_BAD_FILE,
         "a one-element shape needs a trailing comma");
  expect(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", raw), TESS_ERROR_BAD_FILE,
         "shape entry is too large");
  expect(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4)}", raw), TESS_ERROR_BAD_FILE,
         "is too large");
  expect(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", raw), TESS_ERROR_BAD_FILE,
         "unexpected text after the closing '}'");
  expect(npy("['descr']", raw), TESS_ERROR_BAD_FILE, "header does not start with '{'");
  expect(npy("{'descr': '<f4", raw), TESS_ERROR_BAD_FILE, "unterminated string");
}

TEST_CASE("every truncation of a valid file is rejected, never read past the end") {
  TempDir dir;
  int64_t shape[] = {3, 4};
  tessTensor t;
  REQUIRE(tessTensorCreate(TESS_F64, 2, shape, &t) == TESS_SUCCESS);
  REQUIRE(tessNpySave(dir.file("full.npy").c_str(), &t) == TESS_SUCCESS);
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);
  std::string full = read_all(dir.file("full.npy"));
  for (size_t n = 0; n < full.size(); ++n) {
    std::string cut = full.substr(0, n);
    // Exact-size heap copy so that AddressSanitizer would see any overread.
    std::vector<char> heap(cut.begin(), cut.end());
    CHECK(tessNpyLoadFromMemory(heap.data(), heap.size(), &t) == TESS_ERROR_BAD_FILE);
    write_all(dir.file("cut.npy"), cut);
    CHECK(tessNpyLoad(dir.file("cut.npy").c_str(), &t) == TESS_ERROR_BAD_FILE);
  }
  CHECK(message().find(dir.file("cut.npy") + ": truncated .npy file") == 0);
}

TEST_CASE("random corruption never crashes the npy parser") {
  TempDir dir;
  int64_t shape[] = {2, 2};
  tessTensor t;
  REQUIRE(tessTensorCreate(TESS_I16, 2, shape, &t) == TESS_SUCCESS);
  REQUIRE(tessNpySave(dir.file("x.npy").c_str(), &t) == TESS_SUCCESS);
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);
  const std::string good = read_all(dir.file("x.npy"));
  std::mt19937 rng(7);
  for (int iter = 0; iter < 5000; ++iter) {
    std::string s = good;
    int edits = 1 + rng() % 4;
    for (int e = 0; e < edits; ++e) s[rng() % s.size()] = static_cast<char>(rng());
    std::vector<char> heap(s.begin(), s.end());
    if (tessNpyLoadFromMemory(heap.data(), heap.size(), &t) == TESS_SUCCESS) tessTensorFree(&t);
  }
}

TEST_CASE("loading with an expected dtype and shape") {
  TempDir dir;
  int64_t shape[] = {2, 3};
  tessTensor t, out;
  REQUIRE(tessTensorCreate(TESS_I64, 2, shape, &t) == TESS_SUCCESS);
  std::string path = dir.file("x.npy");
  REQUIRE(tessNpySave(path.c_str(), &t) == TESS_SUCCESS);
  CHECK(tessNpyLoadExpect(path.c_str(), TESS_F32, 2, shape, &out) == TESS_ERROR_DTYPE_MISMATCH);
  CHECK(message() == path + ": expected dtype <f4, found <i8");
  int64_t other[] = {3, 2}, wild[] = {-1, 3}, vec[] = {6};
  CHECK(tessNpyLoadExpect(path.c_str(), TESS_I64, 2, other, &out) == TESS_ERROR_SHAPE_MISMATCH);
  CHECK(message() == path + ": expected shape (3, 2), found (2, 3)");
  CHECK(tessNpyLoadExpect(path.c_str(), TESS_I64, 1, vec, &out) == TESS_ERROR_SHAPE_MISMATCH);
  CHECK(message() == path + ": expected shape (6,), found (2, 3)");
  int64_t wild2[] = {-1, 4};
  CHECK(tessNpyLoadExpect(path.c_str(), TESS_I64, 2, wild2, &out) == TESS_ERROR_SHAPE_MISMATCH);
  CHECK(message() == path + ": expected shape (_, 4), found (2, 3)");
  REQUIRE(tessNpyLoadExpect(path.c_str(), TESS_I64, 2, wild, &out) == TESS_SUCCESS);
  CHECK(tessTensorFree(&out) == TESS_SUCCESS);
  REQUIRE(tessNpyLoadExpect(path.c_str(), TESS_I64, 0, nullptr, &out) == TESS_SUCCESS);  // any shape
  CHECK(tessTensorFree(&out) == TESS_SUCCESS);
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);

  // bf16 is saved as <f4 and read back from <f4.
  uint16_t b[3] = {tessF32ToBF16(1.5f), tessF32ToBF16(-0.1f), tessF32ToBF16(3e38f)};
  int64_t three[] = {3};
  REQUIRE(tessTensorWrap(TESS_BF16, 1, three, nullptr, b, &t) == TESS_SUCCESS);
  REQUIRE(tessNpySave(path.c_str(), &t) == TESS_SUCCESS);
  REQUIRE(tessNpyLoad(path.c_str(), &out) == TESS_SUCCESS);
  CHECK(out.dtype == TESS_F32);
  CHECK(tessTensorFree(&out) == TESS_SUCCESS);
  REQUIRE(tessNpyLoadExpect(path.c_str(), TESS_BF16, 1, three, &out) == TESS_SUCCESS);
  CHECK(out.dtype == TESS_BF16);
  CHECK(std::memcmp(out.data, b, sizeof b) == 0);
  CHECK(tessTensorFree(&out) == TESS_SUCCESS);
  CHECK(tessNpyLoadExpect(path.c_str(), TESS_F64, 1, three, &out) == TESS_ERROR_DTYPE_MISMATCH);
  CHECK(message() == path + ": expected dtype <f8, found <f4");
}

TEST_CASE("npy entries check their arguments and report i/o errors") {
  tessTensor t;
  CHECK(tessNpyLoad(nullptr, &t) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessNpyLoad("x.npy", nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessNpyLoad("/nonexistent/x.npy", &t) == TESS_ERROR_IO);
  CHECK(message() == "/nonexistent/x.npy: cannot open: No such file or directory");
  CHECK(tessNpyLoad("/tmp", &t) == TESS_ERROR_IO);
  CHECK(message() == "/tmp: is a directory");
  int64_t one[] = {1};
  REQUIRE(tessTensorCreate(TESS_F32, 1, one, &t) == TESS_SUCCESS);
  CHECK(tessNpySave("/nonexistent/x.npy", &t) == TESS_ERROR_IO);
  CHECK(message() == "/nonexistent/x.npy: cannot open for writing: No such file or directory");
  CHECK(tessNpySave(nullptr, &t) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessNpySave("/tmp/x.npy", nullptr) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);
  CHECK(tessNpyLoadFromMemory(nullptr, 4, &t) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessNpyLoadExpect("x.npy", static_cast<tessDType>(77), 0, nullptr, &t) == TESS_ERROR_INVALID_ARGUMENT);
}

TEST_CASE("npz round trip") {
  TempDir dir;
  int64_t s1[] = {2, 2}, s2[] = {3};
  tessTensor ts[3];
  REQUIRE(tessTensorCreate(TESS_F32, 2, s1, &ts[0]) == TESS_SUCCESS);
  REQUIRE(tessTensorCreate(TESS_I64, 1, s2, &ts[1]) == TESS_SUCCESS);
  REQUIRE(tessTensorCreate(TESS_BOOL, 0, nullptr, &ts[2]) == TESS_SUCCESS);
  static_cast<float*>(ts[0].data)[3] = 7.5f;
  static_cast<int64_t*>(ts[1].data)[2] = -9;
  static_cast<unsigned char*>(ts[2].data)[0] = 1;
  const char* names[] = {"linear_0.w", "linear_0.b", "flag"};
  std::string path = dir.file("p.npz");
  REQUIRE(tessNpzSave(path.c_str(), 3, names, ts) == TESS_SUCCESS);
  tessNpz_t npz = nullptr;
  REQUIRE(tessNpzLoad(path.c_str(), &npz) == TESS_SUCCESS);
  size_t count = 0;
  REQUIRE(tessNpzCount(npz, &count) == TESS_SUCCESS);
  CHECK(count == 3);
  for (size_t i = 0; i < 3; ++i) {
    const char* name = nullptr;
    REQUIRE(tessNpzName(npz, i, &name) == TESS_SUCCESS);
    CHECK(std::string(name) == names[i]);
  }
  tessTensor v;
  REQUIRE(tessNpzGet(npz, "linear_0.w", &v) == TESS_SUCCESS);
  CHECK(v.owns == 0);
  CHECK(static_cast<float*>(v.data)[3] == 7.5f);
  REQUIRE(tessNpzGet(npz, "linear_0.b", &v) == TESS_SUCCESS);
  CHECK(static_cast<int64_t*>(v.data)[2] == -9);
  REQUIRE(tessNpzGet(npz, "flag", &v) == TESS_SUCCESS);
  CHECK(v.rank == 0);
  CHECK(v.dtype == TESS_BOOL);
  CHECK(tessNpzGet(npz, "missing", &v) == TESS_ERROR_NOT_FOUND);
  CHECK(message() == "tessNpzGet: no array named 'missing' in the archive");
  const char* name = nullptr;
  CHECK(tessNpzName(npz, 3, &name) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(tessNpzFree(npz) == TESS_SUCCESS);
  CHECK(tessNpzFree(npz) == TESS_ERROR_INVALID_ARGUMENT);

  // Archives are byte-identical from run to run (fixed timestamps).
  std::string first = read_all(path);
  REQUIRE(tessNpzSave(path.c_str(), 3, names, ts) == TESS_SUCCESS);
  CHECK(read_all(path) == first);

  // Forced zip64 records read back too.
  REQUIRE(tessera::rt::write_npz(path.c_str(), 3, names, ts, 0) == TESS_SUCCESS);
  REQUIRE(tessNpzLoad(path.c_str(), &npz) == TESS_SUCCESS);
  REQUIRE(tessNpzGet(npz, "linear_0.b", &v) == TESS_SUCCESS);
  CHECK(static_cast<int64_t*>(v.data)[2] == -9);
  CHECK(tessNpzFree(npz) == TESS_SUCCESS);

  // An empty archive.
  REQUIRE(tessNpzSave(path.c_str(), 0, nullptr, nullptr) == TESS_SUCCESS);
  REQUIRE(tessNpzLoad(path.c_str(), &npz) == TESS_SUCCESS);
  REQUIRE(tessNpzCount(npz, &count) == TESS_SUCCESS);
  CHECK(count == 0);
  CHECK(tessNpzFree(npz) == TESS_SUCCESS);

  const char* dup[] = {"a", "a"};
  CHECK(tessNpzSave(path.c_str(), 2, dup, ts) == TESS_ERROR_INVALID_ARGUMENT);
  CHECK(message() == "tessNpzSave: duplicate name 'a'");
  const char* empty[] = {""};
  CHECK(tessNpzSave(path.c_str(), 1, empty, ts) == TESS_ERROR_INVALID_ARGUMENT);
  for (tessTensor& t : ts) CHECK(tessTensorFree(&t) == TESS_SUCCESS);
}

TEST_CASE("bad npz archives are rejected, never crash") {
  TempDir dir;
  int64_t s1[] = {4};
  tessTensor t;
  REQUIRE(tessTensorCreate(TESS_F32, 1, s1, &t) == TESS_SUCCESS);
  const char* names[] = {"w"};
  std::string path = dir.file("p.npz");
  REQUIRE(tessNpzSave(path.c_str(), 1, names, &t) == TESS_SUCCESS);
  CHECK(tessTensorFree(&t) == TESS_SUCCESS);
  const std::string good = read_all(path);
  tessNpz_t npz = nullptr;

  std::string bad_crc = good;
  bad_crc[good.find("NUMPY") + 100] ^= 1;  // a data byte
  CHECK(tessNpzLoadFromMemory(bad_crc.data(), bad_crc.size(), &npz) == TESS_ERROR_BAD_FILE);
  CHECK(message() == "<memory>: w.npy: CRC-32 mismatch (the member is corrupt)");
  CHECK(tessNpzLoadFromMemory("not a zip", 9, &npz) == TESS_ERROR_BAD_FILE);
  CHECK(message() == "<memory>: not an .npz file (no zip signature)");
  CHECK(tessNpzLoad(dir.file("none.npz").c_str(), &npz) == TESS_ERROR_IO);

  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<char> heap(good.begin(), good.begin() + static_cast<long>(n));
    CHECK(tessNpzLoadFromMemory(heap.data(), heap.size(), &npz) != TESS_SUCCESS);
  }
  std::mt19937 rng(3);
  for (int iter = 0; iter < 5000; ++iter) {
    std::string s = good;
    int edits = 1 + rng() % 4;
    for (int e = 0; e < edits; ++e) s[rng() % s.size()] = static_cast<char>(rng());
    std::vector<char> heap(s.begin(), s.end());
    if (tessNpzLoadFromMemory(heap.data(), heap.size(), &npz) == TESS_SUCCESS) tessNpzFree(npz);
  }
}
