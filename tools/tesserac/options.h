// Command-line parsing for tesserac: subcommands, options in any position,
// and usage errors as one-line messages (exit 2).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tessera::cli {

enum class Command { None, Check, Build, Run, Emit, Grad, Fmt, Explain, Version, Help };

struct Options {
  Command command = Command::None;
  std::vector<std::string> files;
  std::string explain_code;
  bool json = false;
  std::string color = "auto";  // auto | always | never
  std::string stage;           // emit --stage
  std::string entry;
  std::string wrt;
  std::string target = "cpu";
  std::string arch;
  std::string cpu;  // --cpu: the CPU code is generated for (native, x86-64-v3, znver4, ...)
  std::string output;
  std::string emit_kind;
  int opt_level = 2;
  std::vector<std::string> args;
  std::vector<std::string> outs;
  std::vector<std::string> include_dirs;
  std::string profile;
  int threads = 0;  // --threads: 0 = $TESSERA_NUM_THREADS or the hardware thread count
  bool quiet = false;  // --quiet: no progress line on stderr while sampling (TESSERA_QUIET=1)
  bool deterministic = false;
  bool debug_numerics = false;
  bool fmt_check = false;
};

// Parses argv. On a usage error returns nullopt and sets `error` to a
// one-line message (without the "tesserac: error: " prefix).
std::optional<Options> parse_options(const std::vector<std::string>& argv, std::string& error);

std::string usage_text();

}  // namespace tessera::cli
