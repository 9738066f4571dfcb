// The compile cache (cache.h).
#include "codegen/cpu/cache.h"

#include <cstdlib>

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
constexpr const char* kCacheFormat = "tessera-cpu-object-v2";  // v2: allocation checks, narrow-N kernels, AOT internalization

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

}  // namespace

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
  os << kCacheFormat << "\nllvm " << LLVM_VERSION_STRING << "\nkind " << (kind == ObjectKind::Jit ? "jit" : "aot")
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

std::unique_ptr<llvm::MemoryBuffer> ObjectCache::lookup(llvm::StringRef key) const {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path_for(key), /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buffer || (*buffer)->getBufferSize() == 0) return nullptr;
  return std::move(*buffer);
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
