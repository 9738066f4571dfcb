// libFuzzer target for the lexer, indentation, parser, AST builder and the
// semantic checker: any byte string must produce diagnostics or a typed
// module, never a crash, a hang or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string>

#include "frontend/ast_printer.h"
#include "frontend/parser.h"
#include "sema/sema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::SourceManager sources;
  auto id = sources.add_buffer("fuzz.tsr", std::string(reinterpret_cast<const char*>(data), size));
  if (!id) return 0;  // not UTF-8: the CLI rejects it before parsing
  tessera::DiagnosticEngine diags(sources);
  tessera::ast::AstContext ctx;
  tessera::ast::Module m = tessera::parse_file(*id, sources, ctx, diags);
  (void)tessera::ast::print_module(m, sources);
  if (!diags.has_errors()) {
    // A short solver timeout keeps each input fast; correctness of the
    // answers is what the unit tests check.
    tessera::sema::SemaOptions options;
    options.solver_timeout_ms = 50;
    tessera::sema::TypedModule typed = tessera::sema::check_module(m, sources, diags, options);
    (void)tessera::sema::print_typed(typed, sources);
  }
  // Rendering exercises every range the stages produced.
  for (const auto& d : diags.diagnostics()) {
    (void)tessera::render_text(d, sources);
    (void)tessera::render_json(d, sources);
  }
  return 0;
}
