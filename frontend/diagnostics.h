// The diagnostics engine: registry lookup, emission with typed arguments,
// and rustc-style text / JSON-lines rendering.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "frontend/source_manager.h"

namespace tessera {

enum class Severity { Error, Warning };

enum class DiagCode : uint16_t {
#define TSR_CODE(code, sev, summary) code,
#include "frontend/diagnostic_codes.def"
};

enum class DiagKind : uint16_t {
#define TSR_DIAG(kind, code, format) kind,
#include "frontend/diagnostic_kinds.def"
};

struct DiagCodeInfo {
  DiagCode code;
  const char* name;  // "E0301"
  Severity severity;
  const char* summary;
};

struct DiagKindInfo {
  DiagKind kind;
  const char* name;
  DiagCode code;
  const char* format;
};

std::span<const DiagCodeInfo> all_diag_codes();
std::span<const DiagKindInfo> all_diag_kinds();
const DiagCodeInfo& diag_code_info(DiagCode code);
const DiagKindInfo& diag_kind_info(DiagKind kind);
std::optional<DiagCode> parse_diag_code(std::string_view name);
// The long explanation printed by `tesserac --explain CODE`.
std::string_view diag_explanation(DiagCode code);

// A note attached to another place in the source ("parameter declared here").
struct RelatedNote {
  SourceRange range;
  std::string message;
};

struct Diagnostic {
  DiagCode code;
  Severity severity;
  std::string message;
  SourceRange range;          // may be invalid for file-less diagnostics
  std::string label;          // text printed after the carets
  std::vector<std::string> notes;
  std::vector<std::string> help;
  std::vector<RelatedNote> related;
};

class DiagnosticEngine;

// Builds one diagnostic; it is recorded when the builder goes out of scope.
class DiagnosticBuilder {
 public:
  DiagnosticBuilder(DiagnosticEngine* engine, Diagnostic diag) : engine_(engine), diag_(std::move(diag)) {}
  DiagnosticBuilder(DiagnosticBuilder&& other) noexcept : engine_(other.engine_), diag_(std::move(other.diag_)) {
    other.engine_ = nullptr;
  }
  DiagnosticBuilder(const DiagnosticBuilder&) = delete;
  DiagnosticBuilder& operator=(const DiagnosticBuilder&) = delete;
  ~DiagnosticBuilder();

  DiagnosticBuilder& label(std::string text) {
    diag_.label = std::move(text);
    return *this;
  }
  DiagnosticBuilder& note(std::string text) {
    diag_.notes.push_back(std::move(text));
    return *this;
  }
  DiagnosticBuilder& help(std::string text) {
    diag_.help.push_back(std::move(text));
    return *this;
  }
  DiagnosticBuilder& related(SourceRange range, std::string text) {
    diag_.related.push_back({range, std::move(text)});
    return *this;
  }

 private:
  DiagnosticEngine* engine_;
  Diagnostic diag_;
};

// Collects diagnostics for one compilation. Stages report through it; the
// driver renders them at the end (or streams them through a consumer).
class DiagnosticEngine {
 public:
  explicit DiagnosticEngine(const SourceManager& sources) : sources_(sources) {}

  template <typename... Args>
  DiagnosticBuilder report(DiagKind kind, SourceRange range, Args&&... args) {
    const DiagKindInfo& info = diag_kind_info(kind);
    std::string message = fmt::format(fmt::runtime(info.format), std::forward<Args>(args)...);
    return DiagnosticBuilder(this, Diagnostic{info.code, diag_code_info(info.code).severity, std::move(message),
                                              range, {}, {}, {}, {}});
  }

  void record(Diagnostic diag);
  const std::vector<Diagnostic>& diagnostics() const { return diags_; }
  size_t error_count() const { return errors_; }
  bool has_errors() const { return errors_ > 0; }
  const SourceManager& sources() const { return sources_; }

 private:
  const SourceManager& sources_;
  std::vector<Diagnostic> diags_;
  size_t errors_ = 0;
};

// Renders a diagnostic the way rustc does (see TOOLS.md).
std::string render_text(const Diagnostic& diag, const SourceManager& sources, bool color = false);
// Renders one JSON object on one line:
// {"severity","code","message","file","line","col","end_line","end_col","notes":[],"help":[]}
std::string render_json(const Diagnostic& diag, const SourceManager& sources);
// Escapes a string for inclusion in JSON.
std::string json_escape(std::string_view s);

// Sorts diagnostics by file and position, keeping emission order for ties.
void sort_diagnostics(std::vector<Diagnostic>& diags);

// Levenshtein distance, for "did you mean" suggestions (names in the checker, flags in the CLI).
size_t edit_distance(std::string_view a, std::string_view b);
// The edit distance of a and b (insertions, deletions, substitutions and transpositions of
// adjacent characters) when it is at most `limit`, else nullopt; O(min(|a|, |b|) * limit) time.
std::optional<size_t> edit_distance_within(std::string_view a, std::string_view b, size_t limit);

}  // namespace tessera
