// Front-end speed: parses a file (lexer, indentation, SLL/LL parser, AST
// builder) several times and reports the median time and throughput.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "frontend/parser.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: parse_bench FILE [REPEATS]\n");
    return 2;
  }
  int repeats = argc > 2 ? std::atoi(argv[2]) : 7;
  tessera::SourceManager sources;
  tessera::LoadError err;
  auto id = sources.add_file(argv[1], &err);
  if (!id) {
    std::fprintf(stderr, "%s\n", err.message.c_str());
    return 2;
  }
  std::vector<double> times;
  tessera::ParseStats stats;
  size_t nodes = 0, errors = 0;
  for (int r = 0; r < repeats; ++r) {
    tessera::DiagnosticEngine diags(sources);
    tessera::ast::AstContext ctx;
    auto t0 = std::chrono::steady_clock::now();
    tessera::ast::Module m = tessera::parse_file(*id, sources, ctx, diags, {}, &stats);
    auto t1 = std::chrono::steady_clock::now();
    times.push_back(std::chrono::duration<double>(t1 - t0).count());
    nodes = ctx.node_count();
    errors = diags.error_count();
  }
  double first = times.front();
  std::sort(times.begin(), times.end());
  double median = times[times.size() / 2];
  uint32_t lines = sources.line_count(*id);
  std::printf("parse %s: %u lines, %zu tokens, %zu AST nodes, %zu errors, LL fallback: %s\n", argv[1], lines,
              stats.tokens, nodes, errors, stats.used_ll_fallback ? "yes" : "no");
  std::printf("  first (cold) run %.1f ms; then median %.1f ms (min %.1f ms) over %d runs = %.0f lines/s\n",
              first * 1e3, median * 1e3, times.front() * 1e3, repeats, lines / median);
  return errors ? 1 : 0;
}
