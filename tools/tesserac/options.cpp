// Parsing tesserac's command line (TOOLS.md).
#include "tools/tesserac/options.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>

#include "frontend/diagnostics.h"

namespace tessera::cli {

namespace {

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = 3;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

const std::vector<std::string> kCommands = {"check", "build", "run", "emit", "grad", "fmt"};
const std::vector<std::string> kFlags = {
    "--diagnostics-format", "--color", "--stage", "--entry", "--wrt", "--target", "--arch", "--cpu", "-o",
    "--emit", "--arg", "--out", "--threads", "--deterministic", "--quiet", "--debug-numerics", "--profile", "--check", "-I", "--explain",
    "--version", "--help", "-O0", "-O1", "-O2", "-O3"};

}  // namespace

std::string usage_text() {
  return R"(tesserac - the Tessera compiler

usage:
  tesserac check FILE...                 parse, type-, shape- and effect-check; exit 0 or 1
  tesserac build FILE --target cpu|nvptx|amdgpu [--arch sm_90|gfx90a|native]
                     [-o OUT] [--emit=obj|shared|header|ptx|hsaco] [-O0..-O3] [--cpu NAME]
  tesserac run FILE [--entry NAME] [--arg X.npy|NUMBER ...] [--out Y.npy ...]
                     [--threads N] [--deterministic] [--debug-numerics] [--profile trace.json]
                     [--cpu NAME] [--quiet]   (--quiet: no progress line while sampling)
  tesserac emit FILE --stage=ast|typed|graph|schedule|tile|llvm|ptx|amdgcn [--entry NAME]
  tesserac grad FILE --entry NAME [--wrt ARG]
  tesserac fmt FILE [--check]
  tesserac --explain CODE                long explanation of a diagnostic code
  tesserac --version | --help

options for every command:
  --diagnostics-format=text|json         diagnostics as rustc-style text (default) or JSON lines
  --color=auto|always|never              colored diagnostics (default: auto)
  -I DIR                                 add DIR to the module search path
  --cpu NAME                             the CPU to generate code for (run, build, emit, grad):
                                         native (default), x86-64-v2, x86-64-v3, x86-64-v4,
                                         or an LLVM CPU name (znver4); else $TESSERA_CPU

exit codes: 0 success, 1 errors in the program, 2 usage error, 3 runtime error
)";
}

std::optional<Options> parse_options(const std::vector<std::string>& argv, std::string& error) {
  Options o;
  std::vector<std::string> positional;
  // Options that take a value, either as `--opt=value` or `--opt value`.
  auto takes_value = [](const std::string& name) {
    static const std::array<const char*, 16> with_value = {"--diagnostics-format", "--color", "--stage", "--entry",
                                                           "--wrt", "--target", "--arch", "--cpu", "-o", "--emit", "--arg",
                                                           "--out", "--profile", "-I", "--explain", "--threads"};
    return std::find(with_value.begin(), with_value.end(), name) != with_value.end();
  };

  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.empty()) {
      error = "empty argument";
      return std::nullopt;
    }
    if (a == "--") {
      for (++i; i < argv.size(); ++i) positional.push_back(argv[i]);
      break;
    }
    if (a[0] != '-' || a == "-") {
      positional.push_back(a);
      continue;
    }
    std::string name = a, value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    } else if (a.size() > 2 && (a.rfind("-I", 0) == 0 || a.rfind("-o", 0) == 0) && a[1] != '-') {
      name = a.substr(0, 2);
      value = a.substr(2);
      has_value = true;
    }
    if (takes_value(name) && !has_value) {
      if (i + 1 >= argv.size()) {
        error = "option '" + name + "' needs a value";
        return std::nullopt;
      }
      value = argv[++i];
      has_value = true;
    }
    if (!takes_value(name) && has_value && name.rfind("--", 0) == 0 && name != a) {
      if (name == "--deterministic" || name == "--quiet" || name == "--debug-numerics" || name == "--check" || name == "--version" ||
          name == "--help") {
        error = "option '" + name + "' does not take a value";
        return std::nullopt;
      }
    }

    if (name == "--diagnostics-format") {
      if (value != "json" && value != "text") {
        error = "--diagnostics-format must be 'text' or 'json', not '" + value + "'";
        return std::nullopt;
      }
      o.json = value == "json";
    } else if (name == "--color") {
      if (value != "auto" && value != "always" && value != "never") {
        error = "--color must be 'auto', 'always' or 'never', not '" + value + "'";
        return std::nullopt;
      }
      o.color = value;
    } else if (name == "--stage") {
      static const std::vector<std::string> stages = {"ast", "typed", "graph", "schedule", "tile", "llvm", "ptx",
                                                      "amdgcn"};
      if (std::find(stages.begin(), stages.end(), value) == stages.end()) {
        error = "unknown stage '" + value + "' (expected ast, typed, graph, schedule, tile, llvm, ptx or amdgcn)";
        return std::nullopt;
      }
      o.stage = value;
    } else if (name == "--entry") {
      o.entry = value;
    } else if (name == "--wrt") {
      o.wrt = value;
    } else if (name == "--target") {
      if (value != "cpu" && value != "nvptx" && value != "amdgpu") {
        error = "unknown target '" + value + "' (expected cpu, nvptx or amdgpu)";
        return std::nullopt;
      }
      o.target = value;
    } else if (name == "--arch") {
      o.arch = value;
    } else if (name == "--cpu") {
      o.cpu = value;
    } else if (name == "-o") {
      o.output = value;
    } else if (name == "--emit") {
      static const std::vector<std::string> kinds = {"obj", "shared", "header", "ptx", "hsaco"};
      if (std::find(kinds.begin(), kinds.end(), value) == kinds.end()) {
        error = "unknown --emit kind '" + value + "' (expected obj, shared, header, ptx or hsaco)";
        return std::nullopt;
      }
      o.emit_kind = value;
    } else if (name == "--arg") {
      o.args.push_back(value);
    } else if (name == "--out") {
      o.outs.push_back(value);
    } else if (name == "--threads") {
      char* end = nullptr;
      long n = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 1 || n > 1024) {
        error = "--threads must be a number from 1 to 1024, not '" + value + "'";
        return std::nullopt;
      }
      o.threads = static_cast<int>(n);
    } else if (name == "--profile") {
      o.profile = value;
    } else if (name == "-I") {
      o.include_dirs.push_back(value);
    } else if (name == "--explain") {
      o.command = Command::Explain;
      o.explain_code = value;
    } else if (name == "--deterministic") {
      o.deterministic = true;
    } else if (name == "--quiet") {
      o.quiet = true;
    } else if (name == "--debug-numerics") {
      o.debug_numerics = true;
    } else if (name == "--check") {
      o.fmt_check = true;
    } else if (name == "--version") {
      o.command = Command::Version;
    } else if (name == "--help" || name == "-h") {
      o.command = Command::Help;
    } else if (name.size() == 3 && name.rfind("-O", 0) == 0 && name[2] >= '0' && name[2] <= '3') {
      o.opt_level = name[2] - '0';
    } else {
      std::string guess = closest(name, kFlags);
      error = "unknown option '" + a + "'" + (guess.empty() ? "" : " (did you mean '" + guess + "'?)");
      return std::nullopt;
    }
  }

  if (o.command == Command::Help || o.command == Command::Version || o.command == Command::Explain) return o;

  if (positional.empty()) {
    error = "no command given (expected check, build, run, emit, grad or fmt; see --help)";
    return std::nullopt;
  }
  static const std::map<std::string, Command> commands = {{"check", Command::Check}, {"build", Command::Build},
                                                          {"run", Command::Run},     {"emit", Command::Emit},
                                                          {"grad", Command::Grad},   {"fmt", Command::Fmt}};
  auto it = commands.find(positional[0]);
  if (it == commands.end()) {
    std::string guess = closest(positional[0], kCommands);
    error = "unknown command '" + positional[0] + "'" + (guess.empty() ? "" : " (did you mean '" + guess + "'?)");
    return std::nullopt;
  }
  o.command = it->second;
  o.files.assign(positional.begin() + 1, positional.end());
  if (o.files.empty()) {
    error = "'" + positional[0] + "' needs a FILE argument";
    return std::nullopt;
  }
  if (o.command != Command::Check && o.files.size() > 1) {
    error = "'" + positional[0] + "' takes one FILE, got " + std::to_string(o.files.size());
    return std::nullopt;
  }
  if (o.command == Command::Emit && o.stage.empty()) {
    error = "'emit' needs --stage=ast|typed|graph|schedule|tile|llvm|ptx|amdgcn";
    return std::nullopt;
  }
  if (o.command == Command::Grad && o.entry.empty()) {
    error = "'grad' needs --entry NAME";
    return std::nullopt;
  }
  return o;
}

}  // namespace tessera::cli
