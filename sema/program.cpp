#include "sema/program.h"

#include <filesystem>
#include <fmt/format.h>
#include <system_error>

#include "frontend/parser.h"
#include "sema/checker.h"

namespace tessera::sema {

namespace fs = std::filesystem;

struct Program::Loaded {
  std::string name;  // as first imported
  uint32_t file = 0;
  ast::Module module;
  std::unique_ptr<Checker> checker;
  bool usable = false;  // parsed without syntax errors and checked
};

Program::Program(SourceManager& sources, DiagnosticEngine& diags, SemaOptions options)
    : sources_(sources), diags_(diags), options_(std::move(options)) {}

Program::~Program() = default;

namespace {

std::string canonical_path(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal().string() : c.string();
}

bool file_exists(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// The module in the searched folders whose dotted name is closest to `dotted` (a likely
// misspelling), or "".
std::string closest_module(const std::string& dotted, const std::vector<std::string>& tried) {
  std::string prefix = dotted.rfind('.') == std::string::npos ? "" : dotted.substr(0, dotted.rfind('.') + 1);
  std::string last = dotted.substr(prefix.size());
  std::string best;
  size_t best_d = std::max<size_t>(1, last.size() / 3) + 1;
  for (const std::string& t : tried) {
    std::error_code ec;
    fs::directory_iterator it(fs::path(t).parent_path().empty() ? fs::path(".") : fs::path(t).parent_path(), ec);
    if (ec) continue;
    int budget = 1000;  // a huge folder is not worth a suggestion
    for (const auto& entry : it) {
      if (--budget == 0) break;
      if (entry.path().extension() != ".tsr") continue;
      std::string stem = entry.path().stem().string();
      size_t d = edit_distance(last, stem);
      if (d > 0 && d < best_d && d < last.size()) {
        best_d = d;
        best = prefix + stem;
      }
    }
  }
  return best;
}

}  // namespace

TypedModule Program::check(const ast::Module& root) {
  std::string path = canonical_path(sources_.file(root.file).name);
  stack_.push_back({path, fs::path(sources_.file(root.file).name).stem().string()});
  auto checker = std::make_unique<Checker>(sources_, diags_, options_, this);
  TypedModule out = checker->run(root);
  roots_.push_back(std::move(checker));
  stack_.pop_back();
  return out;
}

std::string Program::resolve(const std::string& dotted, int level, uint32_t from_file,
                             std::vector<std::string>& tried) const {
  fs::path relative;
  size_t start = 0;
  while (start <= dotted.size()) {
    size_t dot = dotted.find('.', start);
    if (dot == std::string::npos) dot = dotted.size();
    relative /= dotted.substr(start, dot - start);
    start = dot + 1;
  }
  relative += ".tsr";
  fs::path here = fs::path(sources_.file(from_file).name).parent_path();
  if (here.empty()) here = ".";
  std::vector<fs::path> dirs;
  if (level > 0) {
    // `from .m import f`: the importing file's folder; each further dot goes one folder up.
    fs::path d = here;
    for (int i = 1; i < level; ++i) d /= "..";
    dirs.push_back(d);
  } else {
    dirs.push_back(here);
    for (const std::string& inc : options_.include_dirs) dirs.push_back(inc);
  }
  for (const fs::path& d : dirs) {
    fs::path candidate = (d / relative).lexically_normal();
    tried.push_back(candidate.string());
    if (file_exists(candidate)) return candidate.string();
  }
  return "";
}

Checker* Program::import_module(const std::string& dotted, int level, uint32_t from_file, SourceRange where) {
  std::string shown = std::string(static_cast<size_t>(level), '.') + dotted;
  std::vector<std::string> tried;
  // Files are shown as found (relative to where the root was named); the canonical path
  // identifies a module however it was reached.
  std::string found = resolve(dotted, level, from_file, tried);
  std::string path = found.empty() ? "" : canonical_path(found);
  if (path.empty()) {
    auto b = diags_.report(DiagKind::ModuleNotFound, where, shown);
    b.label("no such module");
    std::string looked;
    for (size_t i = 0; i < tried.size(); ++i) looked += (i ? ", " : "") + tried[i];
    b.note(fmt::format("looked for {}", looked));
    std::string guess = closest_module(dotted, tried);
    if (!guess.empty())
      b.help(fmt::format("a module with a similar name exists: '{}'", guess));
    else if (level == 0 && options_.include_dirs.empty())
      b.help("a module in another folder is found with `-I DIR`");
    return nullptr;
  }
  for (size_t i = 0; i < stack_.size(); ++i) {
    if (stack_[i].first != path) continue;
    std::string chain;
    for (size_t k = i; k < stack_.size(); ++k) chain += "'" + stack_[k].second + "' -> ";
    chain += "'" + stack_[i].second + "'";
    diags_.report(DiagKind::ImportCycle, where, stack_[i].second, chain)
        .label("this import closes the cycle")
        .help("move what both modules need into a third module that both import");
    return nullptr;
  }
  if (auto it = modules_.find(path); it != modules_.end()) return it->second->usable ? it->second->checker.get() : nullptr;

  auto loaded = std::make_unique<Loaded>();
  Loaded& m = *loaded;
  modules_[path] = std::move(loaded);
  m.name = shown;
  LoadError error;
  auto id = sources_.add_file(found, &error);
  if (!id) {
    diags_.report(DiagKind::ModuleNotFound, where, shown).label("cannot be read").note(error.message);
    return nullptr;
  }
  m.file = *id;
  size_t errors_before = diags_.error_count();
  m.module = parse_file(m.file, sources_, ast_, diags_);
  if (diags_.error_count() != errors_before) return nullptr;
  stack_.push_back({path, dotted.substr(dotted.rfind('.') == std::string::npos ? 0 : dotted.rfind('.') + 1)});
  m.checker = std::make_unique<Checker>(sources_, diags_, options_, this);
  m.checker->run(m.module);
  stack_.pop_back();
  m.usable = true;
  return m.checker.get();
}

}  // namespace tessera::sema
