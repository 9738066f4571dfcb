// `tesserac run`: JIT-compiles a lowered program and calls its entry with --arg values.
#pragma once

#include <string>
#include <vector>

#include <mlir/IR/BuiltinOps.h>

namespace tessera::cli {

struct RunRequest {
  std::string entry;               // the function symbol in the module
  std::vector<std::string> args;   // --arg: a .npy path or a number
  std::vector<std::string> outs;   // --out: .npy paths for the results, in order
  std::string arch = "native";
  int opt_level = 2;
  int threads = 0;             // --threads: threads of the runtime's pool (0: its default)
  bool deterministic = false;  // --deterministic: results independent of the thread count
};

struct BuildRequest {
  std::string input;   // the .tsr file (default output names come from it)
  std::string output;  // -o; empty: <input stem>.so / .o / .h next to the input
  std::string kind;    // "shared", "obj", "header", "llvm" (print LLVM IR on stdout) or "tile" (print
                       // the buffer-level module after the CPU Tile IR schedule)
  std::string arch = "native";
  int opt_level = 2;
  bool deterministic = false;
};

// Ahead-of-time compilation of `module` (Schedule IR) for the CPU.
int build_module(mlir::ModuleOp module, const BuildRequest& request);

// Compiles `module` (Schedule IR) for the host and runs the entry. Runtime errors (a bad
// .npy file, arguments that do not fit the entry) are printed as `runtime error: ...` and give
// exit code 3; results without an --out are printed like print() does.
int run_module(mlir::ModuleOp module, const RunRequest& request);

}  // namespace tessera::cli
