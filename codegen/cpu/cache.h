// The compile cache: object files keyed by a content hash of the module and everything that
// changes its code.
#ifndef TESSERA_CODEGEN_CPU_CACHE_H_
#define TESSERA_CODEGEN_CPU_CACHE_H_

#include <memory>
#include <string>

#include "codegen/codegen.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

namespace tessera::codegen {

// $TESSERA_CACHE_DIR, else $XDG_CACHE_HOME/tessera, else $HOME/.cache/tessera; empty when none
// of them is set.
std::string default_cache_dir();

// SHA-256 (hex) of: a format version of this back end, the compiler's version and build ID, the LLVM version, the object kind, the
// target triple, CPU and features, the optimization level, the textual MLIR pass pipeline
// (hooks included) and the module printed in MLIR's generic form.
llvm::Expected<std::string> cache_key(mlir::ModuleOp module, const CpuOptions& options, ObjectKind kind);

// The GNU build ID of the compiler binary (hex), part of every cache key; "" without one.
const std::string& compiler_build_id();

// A directory of `<key>.o` files. Each holds a header (a magic line, the SHA-256 of the object,
// its size) and the object. Writes go to a temporary file renamed into place, so a reader never
// sees half an object, and several processes may share one directory. The directory is untrusted:
// an entry that is not a regular file (a symbolic link, a FIFO, a device), or whose content does
// not match its hash, is a miss with a warning, never loaded. There is no eviction yet: delete
// the directory to empty it.
class ObjectCache {
 public:
  explicit ObjectCache(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  // The cached object, or null when there is none or the entry is refused (then `warning`, when
  // given, says why).
  std::unique_ptr<llvm::MemoryBuffer> lookup(llvm::StringRef key, std::string* warning = nullptr) const;
  llvm::Error store(llvm::StringRef key, llvm::ArrayRef<char> object) const;
  std::string path_for(llvm::StringRef key) const;

 private:
  std::string dir_;
};

}  // namespace tessera::codegen

#endif  // TESSERA_CODEGEN_CPU_CACHE_H_
