// The compile cache (cache.h).
#include "codegen/cpu/cache.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/IR/OperationSupport.h"

namespace tessera::codegen {
namespace {

// Bump when the pipeline or the wrappers change in a way the other key parts do not show.
// v3: entries carry a header with the content hash; target CPU from --cpu / $TESSERA_CPU.
constexpr const char* kCacheFormat = "tessera-cpu-object-v3";
// The first line of every entry; the second is the SHA-256 (hex) of the object, the third its size.
constexpr llvm::StringLiteral kEntryMagic = "TESSERA-CACHE-ENTRY 1\n";
// Larger entries are refused: no object of ours comes near it.
constexpr uint64_t kMaxEntryBytes = uint64_t{1} << 30;

std::string sha256_hex(llvm::StringRef data) {
  llvm::SHA256 hash;
  hash.update(data);
  return llvm::toHex(hash.final(), /*LowerCase=*/true);
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

}  // namespace

// The GNU build ID of the binary this code is linked into (tesserac, or a program linking the
// codegen library), as hex; "" when it has none. Compiler builds of one version differ in the code
// they generate, so the cache key holds it: a rebuilt compiler never loads objects of another.
const std::string& compiler_build_id() {
  static const std::string id = [] {
    struct Search {
      uintptr_t address;
      std::string id;
    } search{reinterpret_cast<uintptr_t>(&compiler_build_id), ""};
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) -> int {
          auto* s = static_cast<Search*>(data);
          bool here = false;
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const ElfW(Phdr)& ph = info->dlpi_phdr[i];
            uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
            if (ph.p_type == PT_LOAD && s->address >= begin && s->address < begin + ph.p_memsz) here = true;
          }
          if (!here) return 0;
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const ElfW(Phdr)& ph = info->dlpi_phdr[i];
            if (ph.p_type != PT_NOTE) continue;
            auto* p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
            const unsigned char* end = p + ph.p_memsz;
            while (p + sizeof(ElfW(Nhdr)) <= end) {
              auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
              const unsigned char* name = p + sizeof(ElfW(Nhdr));
              const unsigned char* desc = name + ((note->n_namesz + 3) & ~3u);
              if (desc + note->n_descsz > end) break;
              if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
                s->id = llvm::toHex(llvm::ArrayRef<uint8_t>(desc, note->n_descsz), /*LowerCase=*/true);
                return 1;
              }
              p = desc + ((note->n_descsz + 3) & ~3u);
            }
          }
          return 1;
        },
        &search);
    return search.id;
  }();
  return id;
}

std::string default_cache_dir() {
  if (std::string dir = env("TESSERA_CACHE_DIR"); !dir.empty()) return dir;
  if (std::string dir = env("XDG_CACHE_HOME"); !dir.empty()) return dir + "/tessera";
  if (std::string dir = env("HOME"); !dir.empty()) return dir + "/.cache/tessera";
  return "";
}

llvm::Expected<std::string> cache_key(mlir::ModuleOp module, const CpuOptions& options, ObjectKind kind) {
  llvm::Expected<TargetDescription> target = describe_target(options);
  if (!target) return target.takeError();
  std::string text;
  llvm::raw_string_ostream os(text);
  os << kCacheFormat << "\ntesserac " << TESSERA_VERSION << " build " << compiler_build_id() << "\nllvm " << LLVM_VERSION_STRING << "\nkind " << (kind == ObjectKind::Jit ? "jit" : "aot")
     << "\ntarget " << target->triple << " " << target->cpu << " " << target->features << "\nO" << options.opt_level
     << "\npipeline " << describe_pipeline(options) << "\n";
  // With locations: the code generator puts them into run-time error messages
  // (tessera-check-allocation-sizes), so two modules that differ only there differ.
  module->print(os, mlir::OpPrintingFlags().printGenericOpForm().enableDebugInfo(true));
  llvm::SHA256 hash;
  hash.update(text);
  return llvm::toHex(hash.final(), /*LowerCase=*/true);
}

std::string ObjectCache::path_for(llvm::StringRef key) const { return dir_ + "/" + key.str() + ".o"; }

std::unique_ptr<llvm::MemoryBuffer> ObjectCache::lookup(llvm::StringRef key, std::string* warning) const {
  std::string path = path_for(key);
  auto refuse = [&](const std::string& why) -> std::unique_ptr<llvm::MemoryBuffer> {
    if (warning) *warning = "ignoring the compile-cache entry " + path + ": " + why + "; compiling again";
    return nullptr;
  };
  // The cache is untrusted input: no symbolic links, nothing but a regular file (a FIFO or a
  // device would block or never end), opened without blocking and checked on the descriptor.
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return nullptr;
    if (errno == ELOOP) return refuse("it is a symbolic link");
    return refuse(std::strerror(errno));
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat info;
  if (::fstat(fd, &info) != 0) return refuse(std::strerror(errno));
  if (!S_ISREG(info.st_mode)) return refuse("it is not a regular file");
  if (info.st_size == 0) return refuse("it is empty");
  if (static_cast<uint64_t>(info.st_size) > kMaxEntryBytes) return refuse("it is larger than 1 GiB");
  std::string data(static_cast<size_t>(info.st_size), '\0');
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return refuse(n < 0 ? std::string(std::strerror(errno)) : "it was truncated while reading");
    done += static_cast<size_t>(n);
  }
  llvm::StringRef rest(data);
  if (!rest.consume_front(kEntryMagic)) return refuse("it is not an entry of this compiler's cache");
  auto [hash, after_hash] = rest.split('\n');
  auto [size_text, payload] = after_hash.split('\n');
  uint64_t size = 0;
  if (hash.size() != 64 || size_text.getAsInteger(10, size) || size != payload.size())
    return refuse("its header is damaged");
  if (sha256_hex(payload) != hash) return refuse("its content does not match its hash (damaged)");
  return llvm::MemoryBuffer::getMemBufferCopy(payload, path);
}

llvm::Error ObjectCache::store(llvm::StringRef key, llvm::ArrayRef<char> object) const {
  if (std::error_code error = llvm::sys::fs::create_directories(dir_))
    return llvm::createStringError(error, "cannot create the cache directory %s", dir_.c_str());
  llvm::SmallString<256> temp;
  int fd = -1;
  if (std::error_code error = llvm::sys::fs::createUniqueFile(dir_ + "/" + key.str() + "-%%%%%%.tmp", fd, temp))
    return llvm::createStringError(error, "cannot write to the cache directory %s", dir_.c_str());
  std::error_code write_error;
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    llvm::StringRef payload(object.data(), object.size());
    os << kEntryMagic << sha256_hex(payload) << "\n" << payload.size() << "\n";
    os.write(object.data(), object.size());
    os.close();
    if (os.has_error()) {
      write_error = os.error();
      os.clear_error();  // else the stream's destructor reports a fatal error
    }
  }
  if (write_error) {
    llvm::sys::fs::remove(temp);
    return llvm::createStringError(write_error, "cannot write %s", temp.c_str());
  }
  if (std::error_code error = llvm::sys::fs::rename(temp, path_for(key))) {
    llvm::sys::fs::remove(temp);
    return llvm::createStringError(error, "cannot rename %s into the cache", temp.c_str());
  }
  return llvm::Error::success();
}

}  // namespace tessera::codegen
