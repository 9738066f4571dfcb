// .npz archives: a zip reader (stored, deflate, zip64) and a stored-zip writer.
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "memory.h"
#include "npy.h"
#include "npz.h"
#include "tensor.h"

struct tessNpz_st {
  std::vector<std::string> names;
  std::vector<tessTensor> tensors;
  ~tessNpz_st() {
    for (tessTensor& t : tensors) tessTensorFree(&t);
  }
};

namespace tessera::rt {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;
// Deflate cannot compress better than about 1032:1, so a larger declared size is corrupt
// (and must not be allocated).
constexpr uint64_t kMaxDeflateRatio = 1032;

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

class ZipReader {
 public:
  ZipReader(const unsigned char* data, size_t size, std::string name) : d_(data), n_(size), name_(std::move(name)) {}

  tessStatus_t load(tessNpz_st* out) {
    uint64_t entries = 0, cd_offset = 0, cd_size = 0;
    if (tessStatus_t s = find_directory(&entries, &cd_offset, &cd_size)) return s;
    if (cd_offset > n_ || cd_size > n_ - cd_offset) return bad("central directory lies outside the file");
    if (entries > cd_size / 46) return bad("more entries than the central directory can hold");
    uint64_t pos = cd_offset, end = cd_offset + cd_size;
    std::unordered_set<std::string> seen;
    for (uint64_t i = 0; i < entries; ++i) {
      if (end - pos < 46 || le(d_ + pos, 4) != kCentralSig) return bad("corrupt central directory entry");
      const unsigned char* e = d_ + pos;
      uint32_t flags = static_cast<uint32_t>(le(e + 8, 2)), method = static_cast<uint32_t>(le(e + 10, 2));
      uint32_t crc = static_cast<uint32_t>(le(e + 16, 4));
      uint64_t comp = le(e + 20, 4), uncomp = le(e + 24, 4);
      size_t name_len = le(e + 28, 2), extra_len = le(e + 30, 2), comment_len = le(e + 32, 2);
      uint64_t disk = le(e + 34, 2), local = le(e + 42, 4);
      if (end - pos - 46 < name_len + extra_len + comment_len) return bad("corrupt central directory entry");
      std::string member(reinterpret_cast<const char*>(e + 46), name_len);
      if (tessStatus_t s = read_zip64_extra(e + 46 + name_len, extra_len, &uncomp, &comp, &local, &disk)) return s;
      pos += 46 + name_len + extra_len + comment_len;
      if (disk != 0) return fail(TESS_ERROR_NOT_SUPPORTED, name_ + ": multi-disk zip archives are not supported");
      if (member.empty() || member.back() == '/') continue;  // directories
      if (member.size() < 4 || member.compare(member.size() - 4, 4, ".npy") != 0) continue;
      if (flags & 1) return fail(TESS_ERROR_NOT_SUPPORTED, name_ + ": " + member + " is encrypted");
      std::vector<unsigned char> inflated;
      const unsigned char* bytes = nullptr;
      if (tessStatus_t s = member_data(member, local, method, comp, uncomp, &bytes, &inflated)) return s;
      if (crc_of(bytes, uncomp) != crc) {
        return bad(member + ": CRC-32 mismatch (the member is corrupt)");
      }
      std::string key = member.substr(0, member.size() - 4);
      if (!seen.insert(key).second) return bad("duplicate member " + member);
      tessTensor t;
      std::string where = name_ + "/" + member;
      NpyHeader h;
      if (tessStatus_t s = parse_npy_header(bytes, uncomp, where, &h)) return s;
      if (uncomp - h.data_offset < h.data_bytes) {
        return fail(TESS_ERROR_BAD_FILE,
                    where + ": truncated .npy member (" + std::to_string(h.data_bytes) + " bytes of data expected)");
      }
      if (tessStatus_t s = npy_tensor_from_data(h, bytes + h.data_offset, &t, where)) return s;
      out->names.push_back(key);
      out->tensors.push_back(t);
    }
    return TESS_SUCCESS;
  }

 private:
  tessStatus_t bad(const std::string& what) { return fail(TESS_ERROR_BAD_FILE, name_ + ": " + what); }

  static uint32_t crc_of(const unsigned char* p, uint64_t n) {
    uLong crc = crc32(0, Z_NULL, 0);
    while (n > 0) {
      uInt piece = static_cast<uInt>(n > (1u << 30) ? (1u << 30) : n);
      crc = crc32(crc, p, piece);
      p += piece;
      n -= piece;
    }
    return static_cast<uint32_t>(crc);
  }

  tessStatus_t find_directory(uint64_t* entries, uint64_t* cd_offset, uint64_t* cd_size) {
    // A zip starts with a member's local header, or, when empty, with its end record.
    if (n_ < 4 || (le(d_, 4) != kLocalSig && le(d_, 4) != kEndSig)) return bad("not an .npz file (no zip signature)");
    if (n_ < 22) return bad("truncated zip archive (no end of central directory record)");
    size_t lowest = n_ >= 22 + 0xffff ? n_ - 22 - 0xffff : 0;
    size_t at = n_ - 22;
    for (;;) {
      if (le(d_ + at, 4) == kEndSig && at + 22 + le(d_ + at + 20, 2) == n_) break;
      if (at == lowest) return bad("truncated zip archive (no end of central directory record)");
      --at;
    }
    const unsigned char* e = d_ + at;
    if (le(e + 4, 2) != 0 || le(e + 6, 2) != 0) {
      return fail(TESS_ERROR_NOT_SUPPORTED, name_ + ": multi-disk zip archives are not supported");
    }
    *entries = le(e + 10, 2);
    *cd_size = le(e + 12, 4);
    *cd_offset = le(e + 16, 4);
    if (*entries != 0xffff && *cd_size != 0xffffffff && *cd_offset != 0xffffffff) return TESS_SUCCESS;
    // Zip64: a locator just before the end record points at the zip64 end record.
    if (at < 20 || le(d_ + at - 20, 4) != kZip64LocatorSig)
      return bad("zip64 end of central directory locator missing");
    uint64_t z = le(d_ + at - 20 + 8, 8);
    if (z > n_ || n_ - z < 56 || le(d_ + z, 4) != kZip64EndSig) return bad("corrupt zip64 end of central directory");
    *entries = le(d_ + z + 32, 8);
    *cd_size = le(d_ + z + 40, 8);
    *cd_offset = le(d_ + z + 48, 8);
    return TESS_SUCCESS;
  }

  // Replaces the 32-bit fields that are 0xffffffff (0xffff for disk) with the values of the
  // zip64 extra field, which lists exactly those, in this order.
  tessStatus_t read_zip64_extra(const unsigned char* p, size_t len, uint64_t* uncomp, uint64_t* comp, uint64_t* local,
                                uint64_t* disk) {
    while (len >= 4) {
      uint64_t id = le(p, 2), size = le(p + 2, 2);
      if (size > len - 4) return bad("corrupt extra field in the central directory");
      if (id == 0x0001) {
        const unsigned char* q = p + 4;
        uint64_t left = size;
        for (uint64_t* field : {uncomp, comp, local}) {
          if (*field != 0xffffffff) continue;
          if (left < 8) return bad("corrupt zip64 extra field");
          *field = le(q, 8);
          q += 8;
          left -= 8;
        }
        if (*disk == 0xffff) {
          if (left < 4) return bad("corrupt zip64 extra field");
          *disk = le(q, 4);
        }
      }
      p += 4 + size;
      len -= 4 + size;
    }
    return TESS_SUCCESS;
  }

  tessStatus_t member_data(const std::string& member, uint64_t local, uint32_t method, uint64_t comp, uint64_t uncomp,
                           const unsigned char** bytes, std::vector<unsigned char>* inflated) {
    if (local > n_ || n_ - local < 30 || le(d_ + local, 4) != kLocalSig) {
      return bad(member + ": local header missing or outside the file");
    }
    uint64_t start = local + 30 + le(d_ + local + 26, 2) + le(d_ + local + 28, 2);
    if (start > n_ || comp > n_ - start) return bad(member + ": truncated member data");
    if (method == 0) {
      if (comp != uncomp) return bad(member + ": stored member with different compressed and uncompressed sizes");
      *bytes = d_ + start;
      return TESS_SUCCESS;
    }
    if (method != 8) {
      return fail(TESS_ERROR_NOT_SUPPORTED, name_ + ": " + member + " uses zip compression method " +
                                                std::to_string(method) + " (supported: stored, deflate)");
    }
    if (uncomp > comp * kMaxDeflateRatio + 1024 || uncomp > kMaxAllocation) {
      return bad(member + ": declared size " + std::to_string(uncomp) + " is impossible for " + std::to_string(comp) +
                 " compressed bytes");
    }
    inflated->resize(uncomp);
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return fail(TESS_ERROR_INTERNAL, name_ + ": zlib inflateInit2 failed");
    const unsigned char* in = d_ + start;
    uint64_t in_left = comp, out_done = 0;
    int rc = Z_OK;
    while (rc == Z_OK) {
      if (z.avail_in == 0 && in_left > 0) {
        uInt piece = static_cast<uInt>(in_left > (1u << 30) ? (1u << 30) : in_left);
        z.next_in = const_cast<unsigned char*>(in);
        z.avail_in = piece;
        in += piece;
        in_left -= piece;
      }
      uint64_t out_left = uncomp - out_done;
      uInt out_piece = static_cast<uInt>(out_left > (1u << 30) ? (1u << 30) : out_left);
      z.next_out = inflated->data() + out_done;
      z.avail_out = out_piece;
      rc = inflate(&z, Z_NO_FLUSH);
      out_done += out_piece - z.avail_out;
      if (rc == Z_BUF_ERROR && (z.avail_in > 0 || in_left > 0) && out_done < uncomp) rc = Z_OK;
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END || out_done != uncomp) {
      return bad(member + ": corrupt deflate data" + (z.msg ? std::string(" (") + z.msg + ")" : std::string()));
    }
    *bytes = inflated->data();
    return TESS_SUCCESS;
  }

  const unsigned char* d_;
  size_t n_;
  std::string name_;
};

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

void put(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

// Streams member data to the file while computing its CRC-32.
struct CrcSink {
  FILE* f;
  uLong crc;
  static bool write(const void* bytes, size_t n, void* data) {
    auto* self = static_cast<CrcSink*>(data);
    const auto* p = static_cast<const unsigned char*>(bytes);
    for (size_t done = 0; done < n;) {
      uInt piece = static_cast<uInt>(n - done > (1u << 30) ? (1u << 30) : n - done);
      self->crc = crc32(self->crc, p + done, piece);
      done += piece;
    }
    return std::fwrite(bytes, 1, n, self->f) == n;
  }
};

}  // namespace

// Writes a stored zip. Sizes and offsets at or above zip64_at use zip64 records (exposed so
// tests can force zip64 with small files).
tessStatus_t write_npz(const char* path, size_t count, const char* const* names, const tessTensor* tensors,
                       uint64_t zip64_at) {
  std::string name = path;
  errno = 0;
  File f(std::fopen(path, "wb"));
  if (!f) return fail(TESS_ERROR_IO, name + ": cannot open for writing: " + std::strerror(errno));
  auto io = [&] { return fail(TESS_ERROR_IO, name + ": cannot write: " + std::strerror(errno)); };
  // A fixed timestamp (1980-01-01 00:00) keeps archives byte-identical across runs.
  const uint64_t kTime = 0, kDate = (0 << 9) | (1 << 5) | 1;
  std::string central;
  uint64_t offset = 0;
  for (size_t i = 0; i < count; ++i) {
    std::string member = std::string(names[i]) + ".npy";
    std::string header = npy_header_bytes(tensors[i]);
    uint64_t size = header.size() + npy_data_bytes(tensors[i]);
    bool big = size >= zip64_at, far = offset >= zip64_at;
    // Local header; the CRC is patched in after the data is written.
    std::string local;
    put(local, kLocalSig, 4);
    put(local, big ? 45 : 20, 2);
    put(local, 0, 2);  // flags
    put(local, 0, 2);  // stored
    put(local, kTime, 2);
    put(local, kDate, 2);
    put(local, 0, 4);  // CRC-32, patched
    put(local, big ? 0xffffffff : size, 4);
    put(local, big ? 0xffffffff : size, 4);
    put(local, member.size(), 2);
    put(local, big ? 20 : 0, 2);
    local += member;
    if (big) {
      put(local, 0x0001, 2);
      put(local, 16, 2);
      put(local, size, 8);
      put(local, size, 8);
    }
    if (std::fwrite(local.data(), 1, local.size(), f.get()) != local.size()) return io();
    CrcSink sink{f.get(), crc32(0, Z_NULL, 0)};
    if (!CrcSink::write(header.data(), header.size(), &sink) || !npy_write_data(tensors[i], &CrcSink::write, &sink)) {
      return io();
    }
    uint32_t crc = static_cast<uint32_t>(sink.crc);
    unsigned char crc_bytes[4] = {static_cast<unsigned char>(crc), static_cast<unsigned char>(crc >> 8),
                                  static_cast<unsigned char>(crc >> 16), static_cast<unsigned char>(crc >> 24)};
    if (fseeko(f.get(), static_cast<off_t>(offset + 14), SEEK_SET) != 0 || std::fwrite(crc_bytes, 1, 4, f.get()) != 4 ||
        fseeko(f.get(), 0, SEEK_END) != 0) {
      return io();
    }
    // Central directory entry.
    std::string extra;
    if (big || far) {
      put(extra, 0x0001, 2);
      put(extra, (big ? 16 : 0) + (far ? 8 : 0), 2);
      if (big) {
        put(extra, size, 8);
        put(extra, size, 8);
      }
      if (far) put(extra, offset, 8);
    }
    put(central, kCentralSig, 4);
    put(central, (3 << 8) | (big || far ? 45 : 20), 2);  // made by: Unix
    put(central, big || far ? 45 : 20, 2);
    put(central, 0, 2);
    put(central, 0, 2);
    put(central, kTime, 2);
    put(central, kDate, 2);
    put(central, crc, 4);
    put(central, big ? 0xffffffff : size, 4);
    put(central, big ? 0xffffffff : size, 4);
    put(central, member.size(), 2);
    put(central, extra.size(), 2);
    put(central, 0, 2);                        // comment
    put(central, 0, 2);                        // disk
    put(central, 0, 2);                        // internal attributes
    put(central, uint64_t{0100644} << 16, 4);  // external: regular file, rw-r--r--
    put(central, far ? 0xffffffff : offset, 4);
    central += member;
    central += extra;
    offset += local.size() + size;
  }
  std::string end;
  uint64_t cd_offset = offset, cd_size = central.size();
  bool zip64 = count >= 0xffff || cd_offset >= zip64_at || cd_size >= zip64_at;
  if (zip64) {
    put(end, kZip64EndSig, 4);
    put(end, 44, 8);
    put(end, (3 << 8) | 45, 2);
    put(end, 45, 2);
    put(end, 0, 4);
    put(end, 0, 4);
    put(end, count, 8);
    put(end, count, 8);
    put(end, cd_size, 8);
    put(end, cd_offset, 8);
    put(end, kZip64LocatorSig, 4);
    put(end, 0, 4);
    put(end, cd_offset + cd_size, 8);
    put(end, 1, 4);
  }
  put(end, kEndSig, 4);
  put(end, 0, 2);
  put(end, 0, 2);
  put(end, zip64 ? 0xffff : count, 2);
  put(end, zip64 ? 0xffff : count, 2);
  put(end, zip64 ? 0xffffffff : cd_size, 4);
  put(end, zip64 ? 0xffffffff : cd_offset, 4);
  put(end, 0, 2);
  if (std::fwrite(central.data(), 1, central.size(), f.get()) != central.size() ||
      std::fwrite(end.data(), 1, end.size(), f.get()) != end.size()) {
    return io();
  }
  FILE* raw = f.release();
  if (std::fclose(raw) != 0) return fail(TESS_ERROR_IO, name + ": cannot write: " + std::strerror(errno));
  return TESS_SUCCESS;
}

tessStatus_t load_npz(const unsigned char* data, size_t size, const std::string& name, tessNpz_t* npz) {
  auto archive = std::make_unique<tessNpz_st>();
  ZipReader reader(data, size, name);
  if (tessStatus_t s = reader.load(archive.get())) return s;
  register_handle(HandleKind::kNpz, archive.get());
  *npz = archive.release();
  return TESS_SUCCESS;
}

}  // namespace tessera::rt

using namespace tessera::rt;

namespace {
tessStatus_t check_npz(tessNpz_t npz, const char* entry) {
  if (!is_live_handle(HandleKind::kNpz, npz)) {
    return failf(TESS_ERROR_INVALID_ARGUMENT, "%s: npz is not a live archive (freed, or never loaded)", entry);
  }
  return TESS_SUCCESS;
}
}  // namespace

extern "C" {

tessStatus_t tessNpzLoad(const char* path, tessNpz_t* npz) {
  return guarded("tessNpzLoad", [&] {
    if (path == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpzLoad: path is NULL");
    if (npz == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpzLoad: npz is NULL");
    *npz = nullptr;
    std::string name = path;
    errno = 0;
    File f(std::fopen(path, "rb"));
    if (!f) return fail(TESS_ERROR_IO, name + ": cannot open: " + std::strerror(errno));
    std::vector<unsigned char> bytes;
    unsigned char buf[1 << 16];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f.get())) > 0) bytes.insert(bytes.end(), buf, buf + got);
    if (std::ferror(f.get())) return fail(TESS_ERROR_IO, name + ": cannot read: " + std::strerror(errno));
    return load_npz(bytes.data(), bytes.size(), name, npz);
  });
}

tessStatus_t tessNpzLoadFromMemory(const void* data, size_t size, tessNpz_t* npz) {
  return guarded("tessNpzLoadFromMemory", [&] {
    if (npz == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpzLoadFromMemory: npz is NULL");
    *npz = nullptr;
    if (data == nullptr && size > 0) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpzLoadFromMemory: data is NULL");
    static const unsigned char empty = 0;
    return load_npz(size ? static_cast<const unsigned char*>(data) : &empty, size, "<memory>", npz);
  });
}

tessStatus_t tessNpzCount(tessNpz_t npz, size_t* count) {
  return guarded("tessNpzCount", [&] {
    if (tessStatus_t s = check_npz(npz, "tessNpzCount")) return s;
    if (count == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpzCount: count is NULL");
    *count = npz->names.size();
    return TESS_SUCCESS;
  });
}

tessStatus_t tessNpzName(tessNpz_t npz, size_t index, const char** name) {
  return guarded("tessNpzName", [&] {
    if (tessStatus_t s = check_npz(npz, "tessNpzName")) return s;
    if (name == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpzName: name is NULL");
    if (index >= npz->names.size()) {
      return failf(TESS_ERROR_INVALID_ARGUMENT, "tessNpzName: index %zu is out of range (the archive has %zu)", index,
                   npz->names.size());
    }
    *name = npz->names[index].c_str();
    return TESS_SUCCESS;
  });
}

tessStatus_t tessNpzGet(tessNpz_t npz, const char* name, tessTensor* view) {
  return guarded("tessNpzGet", [&] {
    if (tessStatus_t s = check_npz(npz, "tessNpzGet")) return s;
    if (name == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpzGet: name is NULL");
    if (view == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpzGet: view is NULL");
    for (size_t i = 0; i < npz->names.size(); ++i) {
      if (npz->names[i] == name) {
        *view = npz->tensors[i];
        view->owns = 0;
        return TESS_SUCCESS;
      }
    }
    return fail(TESS_ERROR_NOT_FOUND, std::string("tessNpzGet: no array named '") + name + "' in the archive");
  });
}

tessStatus_t tessNpzFree(tessNpz_t npz) {
  return guarded("tessNpzFree", [&] {
    if (tessStatus_t s = check_npz(npz, "tessNpzFree")) return s;
    unregister_handle(HandleKind::kNpz, npz);
    delete npz;
    return TESS_SUCCESS;
  });
}

tessStatus_t tessNpzSave(const char* path, size_t count, const char* const* names, const tessTensor* tensors) {
  return guarded("tessNpzSave", [&] {
    if (path == nullptr) return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpzSave: path is NULL");
    if (count > 0 && (names == nullptr || tensors == nullptr)) {
      return fail(TESS_ERROR_INVALID_ARGUMENT, "tessNpzSave: names or tensors is NULL");
    }
    std::unordered_set<std::string> seen;
    for (size_t i = 0; i < count; ++i) {
      if (names[i] == nullptr || names[i][0] == '\0') {
        return failf(TESS_ERROR_INVALID_ARGUMENT, "tessNpzSave: name %zu is NULL or empty", i);
      }
      if (std::strlen(names[i]) > 60000)
        return failf(TESS_ERROR_INVALID_ARGUMENT, "tessNpzSave: name %zu is too long", i);
      if (!seen.insert(names[i]).second) {
        return failf(TESS_ERROR_INVALID_ARGUMENT, "tessNpzSave: duplicate name '%s'", names[i]);
      }
      std::string what = "tensor '" + std::string(names[i]) + "'";
      if (tessStatus_t s = validate_tensor(&tensors[i], "tessNpzSave", what.c_str())) return s;
    }
    return write_npz(path, count, names, tensors, 0xffffffff);
  });
}

}  // extern "C"
