// tesserac: the Tessera compiler driver. Runs the stages that exist and stops
// after the one a subcommand asks for.
#include <pthread.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "frontend/ast_printer.h"
#include "frontend/diagnostics.h"
#include "frontend/parser.h"
#include "frontend/source_manager.h"
#include <fmt/format.h>
#include <llvm/Support/raw_ostream.h>

#include "frontend/internal_error.h"
#include "codegen/codegen.h"
#include "ir/autodiff/Gradient.h"
#include "ir/graph/lower_to_graph.h"
#include "ir/schedule/Passes.h"
#include "tools/tesserac/entry_dims.h"
#include "tools/tesserac/run.h"
#include "sema/program.h"
#include "sema/sema.h"
#include "tools/tesserac/options.h"

using namespace tessera;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitErrors = 1;
constexpr int kExitUsage = 2;

int usage_error(const std::string& message) {
  std::cerr << "tesserac: error: " << message << "\n";
  return kExitUsage;
}

bool use_color(const cli::Options& o) {
  if (o.color == "always") return true;
  if (o.color == "never" || o.json) return false;
  const char* term = std::getenv("TERM");
  return isatty(STDERR_FILENO) && !std::getenv("NO_COLOR") && term && std::string(term) != "dumb";
}

// Prints every diagnostic, sorted by position, and a closing count.
void emit_diagnostics(DiagnosticEngine& diags, const cli::Options& o) {
  std::vector<Diagnostic> all = diags.diagnostics();
  sort_diagnostics(all);
  bool color = use_color(o);
  size_t errors = 0, warnings = 0;
  for (const Diagnostic& d : all) {
    (d.severity == Severity::Error ? errors : warnings)++;
    if (o.json) {
      std::cout << render_json(d, diags.sources()) << "\n";
    } else {
      std::cerr << render_text(d, diags.sources(), color) << "\n";
    }
  }
  if (o.json) return;
  if (errors)
    std::cerr << "error: aborting due to " << errors << " previous error" << (errors == 1 ? "" : "s") << "\n";
  else if (warnings)
    std::cerr << "warning: " << warnings << " warning" << (warnings == 1 ? "" : "s") << " emitted\n";
}

int explain(const std::string& code_name) {
  auto code = parse_diag_code(code_name);
  if (!code) return usage_error("unknown diagnostic code '" + code_name + "' (codes look like E0301 or W0401)");
  const DiagCodeInfo& info = diag_code_info(*code);
  std::cout << info.name << ": " << info.summary << "\n\n" << diag_explanation(*code);
  std::string_view text = diag_explanation(*code);
  if (!text.empty() && text.back() != '\n') std::cout << "\n";
  return kExitOk;
}

const char* command_name(cli::Command c) {
  switch (c) {
    case cli::Command::Check: return "check";
    case cli::Command::Build: return "build";
    case cli::Command::Run: return "run";
    case cli::Command::Emit: return "emit";
    case cli::Command::Grad: return "grad";
    case cli::Command::Fmt: return "fmt";
    default: return "?";
  }
}

bool has_function(const sema::TypedModule& m, const std::string& name) {
  for (const sema::TypedFunction* f : m.functions)
    if (f->name == name) return true;
  return false;
}

// Stages that later issues build; asking for them is reported, never faked.
int not_yet_supported(const std::string& what) {
  std::cerr << "tesserac: not yet supported: " << what << "\n";
  return kExitUsage;
}

}  // namespace

int run(const std::vector<std::string>& args) {
  std::string error;
  auto parsed = cli::parse_options(args, error);
  if (!parsed) return usage_error(error);
  cli::Options o = std::move(*parsed);

  switch (o.command) {
    case cli::Command::Help: std::cout << cli::usage_text(); return kExitOk;
    case cli::Command::Version:
      std::cout << "tesserac " << TESSERA_VERSION << " (ANTLR 4.9 runtime)\n";
      return kExitOk;
    case cli::Command::Explain: return explain(o.explain_code);
    default: break;
  }

  // The CPU code is generated for: --cpu, else --arch of `build --target cpu`, else $TESSERA_CPU,
  // else the host ("native"). An unknown name is a usage error; so is an empty $TESSERA_CPU.
  if (o.command == cli::Command::Build || o.command == cli::Command::Run || o.command == cli::Command::Emit ||
      o.command == cli::Command::Grad) {
    std::string cpu = o.cpu, from = "--cpu";
    if (cpu.empty() && !o.arch.empty() && o.target == "cpu") cpu = o.arch, from = "--arch";
    if (cpu.empty()) {
      if (const char* env = std::getenv("TESSERA_CPU")) {
        if (*env == '\0') return usage_error("$TESSERA_CPU is set but empty (unset it, or name a CPU such as native)");
        cpu = env, from = "$TESSERA_CPU";
      }
    }
    if (!cpu.empty()) {
      if (llvm::Error e = codegen::check_cpu_name(cpu)) return usage_error(from + ": " + llvm::toString(std::move(e)));
      if (o.target == "cpu") o.arch = cpu;
    }
  }

  // Load every file first: unreadable input is a usage error (exit 2).
  SourceManager sources;
  std::vector<uint32_t> files;
  for (const std::string& path : o.files) {
    LoadError load_error;
    auto id = sources.add_file(path, &load_error);
    if (!id) return usage_error(load_error.message);
    files.push_back(*id);
  }

  switch (o.command) {
    case cli::Command::Build:
      if (o.target != "cpu") return not_yet_supported("'build --target " + o.target + "' (GPU code generation is not built yet)");
      if (!o.emit_kind.empty() && o.emit_kind != "obj" && o.emit_kind != "shared" && o.emit_kind != "header")
        return not_yet_supported("'build --emit=" + o.emit_kind + "' for the CPU");
      break;
    case cli::Command::Run:
      if (!o.profile.empty()) return not_yet_supported("'run --profile'");
      break;
    case cli::Command::Grad: break;
    case cli::Command::Fmt: return not_yet_supported("'fmt' (the formatter is not built yet)");
    case cli::Command::Emit:
      if (o.stage != "ast" && o.stage != "typed" && o.stage != "graph" && o.stage != "schedule" && o.stage != "tile" &&
          o.stage != "llvm")
        return not_yet_supported("'emit --stage=" + o.stage + "' (that stage is not built yet)");
      break;
    default: break;
  }

  DiagnosticEngine diags(sources);
  ast::AstContext ctx;
  std::vector<ast::Module> modules;
  for (uint32_t f : files) modules.push_back(parse_file(f, sources, ctx, diags));
  // Semantic analysis runs on files that parsed; after a syntax error its
  // findings would mostly be consequences of the recovery.
  bool syntax_ok = !diags.has_errors();
  if (o.command == cli::Command::Emit && o.stage == "ast") {
    emit_diagnostics(diags, o);
    if (!syntax_ok) return kExitErrors;
    for (const ast::Module& m : modules) std::cout << ast::print_module(m, sources);
    return kExitOk;
  }
  std::vector<sema::TypedModule> typed;
  sema::SemaOptions sema_options;
  sema_options.include_dirs = o.include_dirs;
  sema::Program program(sources, diags, sema_options);
  if (syntax_ok)
    for (const ast::Module& m : modules) typed.push_back(program.check(m));
  bool lowers = (o.command == cli::Command::Emit &&
                 (o.stage == "graph" || o.stage == "schedule" || o.stage == "tile" || o.stage == "llvm")) ||
                o.command == cli::Command::Run || o.command == cli::Command::Build || o.command == cli::Command::Grad;
  if (!lowers || diags.has_errors()) {
    emit_diagnostics(diags, o);
    if (diags.has_errors()) return kExitErrors;
  }
  if (o.command == cli::Command::Emit && o.stage == "typed") {
    for (const sema::TypedModule& t : typed) std::cout << sema::print_typed(t, sources);
  }
  if (lowers) {
    mlir::MLIRContext context;
    ir::GraphLoweringOptions lowering;
    lowering.entry = o.entry;
    if (!o.entry.empty() && !has_function(typed[0], o.entry))
      return usage_error(fmt::format("{}: no function named '{}'", o.files[0], o.entry));
    bool run = o.command == cli::Command::Run;
    if (run && o.entry.empty() && !has_function(typed[0], "main"))
      return usage_error(fmt::format("{}: no function 'main' to run (name one with --entry)", o.files[0]));
    if (run) lowering.entry = o.entry.empty() ? "main" : o.entry;
    bool build = o.command == cli::Command::Build;
    if (build) lowering.all_functions = o.entry.empty();
    // `grad --entry NAME [--wrt ARG]`: the argument to differentiate with respect to (the
    // first by default) must be floating point (E0601).
    int64_t wrt = 0;
    if (o.command == cli::Command::Grad) {
      const sema::TypedFunction* f = nullptr;
      for (const sema::TypedFunction* t : typed[0].functions)
        if (t->name == o.entry) f = t;
      if (!o.wrt.empty()) {
        wrt = -1;
        for (size_t i = 0; i < f->params.size(); ++i)
          if (f->params[i].name == o.wrt) wrt = static_cast<int64_t>(i);
        if (wrt < 0) return usage_error(fmt::format("--wrt {}: '{}' has no parameter named '{}'", o.wrt, o.entry, o.wrt));
      }
      if (f->params.empty()) return usage_error(fmt::format("'{}' has no parameters to differentiate", o.entry));
      const auto& p = f->params[static_cast<size_t>(wrt)];
      auto pt = sema::as_tensor(p.type);
      if (!pt || !sema::is_float((*pt)->dtype)) {
        diags.report(DiagKind::NonDifferentiableArgument, p.range, p.name, f->name, sema::to_string(p.type))
            .help("name a floating-point parameter with --wrt");
        emit_diagnostics(diags, o);
        return kExitErrors;
      }
    }
    mlir::OwningOpRef<mlir::ModuleOp> graph = ir::lower_to_graph(context, typed[0], sources, diags, lowering);
    if (graph && (run || build)) cli::annotate_entry_dims(*graph, typed[0]);
    if (graph && o.command == cli::Command::Grad) {
      ir::DiagnosticBridge bridge(context, sources, diags);
      auto g = mlir::tessera::buildGradientFunction(*graph, ir::entry_symbol(o.entry), {wrt});
      if (mlir::failed(g)) {
        if (!bridge.internal_errors().empty()) TSR_ICE("automatic differentiation", bridge.internal_errors());
        emit_diagnostics(diags, o);
        return kExitErrors;
      }
      emit_diagnostics(diags, o);
      std::string text;
      llvm::raw_string_ostream os(text);
      g->print(os);
      std::cout << text << "\n";
      return kExitOk;
    }
    if (graph && (o.stage == "schedule" || o.stage == "tile" || o.stage == "llvm" || run || build)) {
      ir::DiagnosticBridge bridge(context, sources, diags);
      if (mlir::failed(ir::run_schedule_pipeline(*graph, run && o.debug_numerics))) {
        if (!bridge.internal_errors().empty()) TSR_ICE("schedule lowering", bridge.internal_errors());
        graph = nullptr;
      }
    }
    emit_diagnostics(diags, o);
    if (!graph) return kExitErrors;
    if (o.stage == "tile" && !run && !build) {
      cli::BuildRequest request;
      request.input = o.files[0];
      request.kind = "tile";
      if (!o.arch.empty()) request.arch = o.arch;
      request.opt_level = o.opt_level;
      return cli::build_module(*graph, request);
    }
    if (build || o.stage == "llvm") {
      cli::BuildRequest request;
      request.input = o.files[0];
      request.output = o.output;
      request.kind = build ? (o.emit_kind.empty() ? "shared" : o.emit_kind) : "llvm";
      if (!o.arch.empty()) request.arch = o.arch;
      request.opt_level = o.opt_level;
      request.deterministic = o.deterministic;
      return cli::build_module(*graph, request);
    }
    if (run) {
      cli::RunRequest request;
      request.entry = ir::entry_symbol(lowering.entry);
      request.args = o.args;
      request.outs = o.outs;
      if (!o.arch.empty()) request.arch = o.arch;
      request.opt_level = o.opt_level;
      request.threads = o.threads;
      request.deterministic = o.deterministic;
      // The runtime's inference engines read it (runtime/src/codegen_infer.cpp).
      if (o.quiet) setenv("TESSERA_QUIET", "1", 1);
      return cli::run_module(*graph, request);
    }
    std::string text;
    llvm::raw_string_ostream os(text);
    graph->print(os);
    std::cout << text;
  }
  (void)command_name;
  return kExitOk;
}

namespace {

// The compiler runs on a thread with a large stack so that the recursion
// limits of the parser (a fraction of this) hold whatever `ulimit -s` says.
constexpr size_t kCompilerStackBytes = 64u << 20;

struct ThreadArgs {
  const std::vector<std::string>* args;
  int exit_code;
};

void* compiler_thread(void* p) {
  auto* t = static_cast<ThreadArgs*>(p);
  try {
    t->exit_code = run(*t->args);
  } catch (const InternalError& e) {
    std::cerr << "internal compiler error in " << e.stage() << ": " << e.what()
              << "\nthis is a bug in tesserac, not in your program\n";
    t->exit_code = kExitInternalError;
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  ThreadArgs t{&args, 0};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kCompilerStackBytes);
  pthread_t thread;
  if (pthread_create(&thread, &attr, compiler_thread, &t) != 0) return run(args);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  return t.exit_code;
}
