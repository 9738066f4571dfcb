// libFuzzer target for the lexer, indentation, parser, AST builder and the
// semantic checker: any byte string must produce diagnostics or a typed
// module, never a crash, a hang or a sanitizer report.
#include <pthread.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "frontend/ast_printer.h"
#include "frontend/parser.h"
#include "sema/program.h"

namespace {

void compile(const uint8_t* data, size_t size) {
  tessera::SourceManager sources;
  auto id = sources.add_buffer("fuzz.tsr", std::string(reinterpret_cast<const char*>(data), size));
  if (!id) return;  // not UTF-8: the CLI rejects it before parsing
  tessera::DiagnosticEngine diags(sources);
  tessera::ast::AstContext ctx;
  tessera::ast::Module m = tessera::parse_file(*id, sources, ctx, diags);
  (void)tessera::ast::print_module(m, sources);
  if (!diags.has_errors()) {
    // A short solver timeout keeps each input fast; correctness of the
    // answers is what the unit tests check.
    tessera::sema::SemaOptions options;
    options.solver_timeout_ms = 50;
    tessera::sema::Program program(sources, diags, options);
    tessera::sema::TypedModule typed = program.check(m);
    (void)tessera::sema::print_typed(typed, sources);
  }
  // Rendering exercises every range the stages produced.
  for (const auto& d : diags.diagnostics()) {
    (void)tessera::render_text(d, sources);
    (void)tessera::render_json(d, sources);
  }
}

struct Input {
  const uint8_t* data;
  size_t size;
};

void* compile_thread(void* p) {
  auto* in = static_cast<Input*>(p);
  compile(in->data, in->size);
  return nullptr;
}

}  // namespace

// Each input is compiled on a thread with the stack tesserac gives its compiler thread
// (tools/tesserac/main.cpp), so the recursion limits are tested as users meet them.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kCompilerStackBytes = 64u << 20;
  Input in{data, size};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kCompilerStackBytes);
  pthread_t thread;
  if (pthread_create(&thread, &attr, compile_thread, &in) != 0) abort();
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  return 0;
}
