// libFuzzer target for the lexer, indentation, parser and AST builder: any
// byte string must produce diagnostics or an AST, never a crash or a hang.
#include <cstddef>
#include <cstdint>
#include <string>

#include "frontend/ast_printer.h"
#include "frontend/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::SourceManager sources;
  auto id = sources.add_buffer("fuzz.tsr", std::string(reinterpret_cast<const char*>(data), size));
  if (!id) return 0;  // not UTF-8: the CLI rejects it before parsing
  tessera::DiagnosticEngine diags(sources);
  tessera::ast::AstContext ctx;
  tessera::ast::Module m = tessera::parse_file(*id, sources, ctx, diags);
  // Rendering exercises every range the parser produced.
  for (const auto& d : diags.diagnostics()) {
    (void)tessera::render_text(d, sources);
    (void)tessera::render_json(d, sources);
  }
  (void)tessera::ast::print_module(m, sources);
  return 0;
}
