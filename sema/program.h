// A program: root files and every user module they import, each parsed and
// checked once. `import mylib` finds `mylib.tsr` next to the importing file,
// then on the include paths (`-I`); a dotted name `a.b` is `a/b.tsr`.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "frontend/ast.h"
#include "frontend/diagnostics.h"
#include "frontend/source_manager.h"
#include "sema/sema.h"

namespace tessera::sema {

class Checker;

class Program {
 public:
  Program(SourceManager& sources, DiagnosticEngine& diags, SemaOptions options);
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  // Checks a root module, already parsed by the caller (who keeps its AST alive as long as
  // the Program). Modules it imports are loaded, parsed and checked first.
  TypedModule check(const ast::Module& root);

  // For the checker: the module `dotted` as imported from `from_file` (`level` leading dots
  // for a relative import). Reports E0105 when no file is found, E0106 for a cycle, and the
  // module's own diagnostics; returns null when the module cannot be used (not found, a
  // cycle, or syntax errors).
  Checker* import_module(const std::string& dotted, int level, uint32_t from_file, SourceRange where);

  const SemaOptions& options() const { return options_; }

 private:
  struct Loaded;
  std::string resolve(const std::string& dotted, int level, uint32_t from_file, std::vector<std::string>& tried) const;

  SourceManager& sources_;
  DiagnosticEngine& diags_;
  SemaOptions options_;
  ast::AstContext ast_;  // owns the ASTs of imported modules
  std::map<std::string, std::unique_ptr<Loaded>> modules_;  // by canonical path
  std::vector<std::unique_ptr<Checker>> roots_;
  std::vector<std::pair<std::string, std::string>> stack_;  // (canonical path, module name) being checked
};

}  // namespace tessera::sema
