// Semantic analysis of one module: names, types, shapes (proved with Z3),
// effects and decorators. Input: the AST. Output: a TypedModule and
// diagnostics.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "frontend/ast.h"
#include "frontend/diagnostics.h"
#include "frontend/source_manager.h"
#include "sema/dim_solver.h"
#include "sema/types.h"

namespace tessera::sema {

// A name bound in a function body, with the type inferred for it.
struct TypedBinding {
  std::string name;
  SourceRange range;
  Type type;
};

struct TypedFunction;

// A call of a user function: the callee and its dimensions expressed in the caller's.
struct CallTarget {
  const TypedFunction* callee = nullptr;
  std::map<std::string, DimExpr> dims;
};

// One parameter that a model declares (LANGUAGE.md §15): a `tessera.nn` layer call declares
// its parameters where it is called, named `<layer>_<n>.<field>` (n counts that layer's calls
// in the function, in source order) or `<name>.<field>` with `name=`; a model called from a
// model without `params=` contributes its parameters as `<callee>_<n>.<its name>`.
enum class ParamInit {
  UniformFanIn,  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's Linear/Conv2d default
  Ones,          // norm weights
  Zeros,         // norm biases
  Normal,        // N(0, 1), PyTorch's Embedding default
};
const char* param_init_name(ParamInit init);

struct ModelParam {
  std::string name;            // "linear_0.w"
  DType dtype = DType::F32;
  std::vector<DimExpr> shape;  // in the model's dimensions
  ParamInit init = ParamInit::Zeros;
  DimExpr fan_in = DimExpr::constant(1);  // UniformFanIn
};

// The typed AST of one function: what the later stages (Graph IR lowering) read. Types are
// symbolic (generic functions are checked once); a specialization substitutes dimensions.
struct TypedFunction {
  const ast::FunctionDefStmt* def = nullptr;
  std::string module;  // the module's file name
  std::string name;
  SourceRange range;
  std::vector<std::string> decorators;
  std::vector<std::string> dims;  // symbolic dimensions of the signature
  std::vector<TypedBinding> params;
  Type declared_return;  // null when not annotated
  Type inferred_return;  // null when the body returns nothing
  std::vector<std::string> preconditions;
  std::vector<std::string> effects;
  std::vector<TypedBinding> bindings;  // in source order
  std::vector<std::pair<std::string, DimPredicate>> precondition_facts;  // parsed preconditions
  // The type of every expression of the body that was checked.
  std::unordered_map<const ast::Expr*, Type> expr_types;
  // Every call of a user function in the body.
  std::unordered_map<const ast::CallExpr*, CallTarget> calls;
  // The latent variables of a probabilistic function (`w ~ Normal(0, 1, shape=[K])` for a name
  // not bound before), in source order, with their sample types.
  std::vector<std::pair<const ast::SampleStmt*, Type>> latents;
  // Every latent variable drawn for this function's log density, in the order drawn: its own by
  // name, and those of the conditional distributions on the right of its '~' statements as
  // `<callee>_<n>.<name>` (a @probabilistic function that returns a distribution). An @mcmc or
  // @variational function's Posterior reports the conditionals' ones after its own fields.
  std::vector<std::pair<std::string, Type>> latent_names;
  // How many of the fields of the Posterior this function returns are those conditional ones.
  size_t conditional_fields = 0;
  // The parameters this function observes by name (`y ~ Normal(...)` for an argument `y`), in
  // source order: what Posterior.predict / uncertainty predict.
  std::vector<std::string> observed_params;
  // Each `post.predict(...)` / `post.uncertainty(...)`: the model that made the Posterior, with
  // its dimensions as the new inputs give them.
  std::unordered_map<const ast::CallExpr*, CallTarget> predictions;
  bool body_checked = false;  // set when its body has been checked (latent_names is then complete)
  bool ok = true;  // no error was reported inside this function
  // A model: the parameters it declares, in order (the lowering passes them as extra tensor
  // arguments after the declared ones), and for each layer call (or call of a model without
  // `params=`) the index of its first parameter.
  bool is_model = false;
  std::vector<ModelParam> model_params;
  std::unordered_map<const ast::CallExpr*, size_t> layer_params;
  // `@custom_vjp(bwd)`: the backward function with its dimensions in this function's (null
  // callee: none). Reverse AD calls it instead of differentiating the body (docs/autodiff.md).
  CallTarget custom_vjp;
  // `@checkpoint(every=K)`: K; `@checkpoint`: 0 (every ceil(sqrt(n)) iterations); -1: none. The
  // gradients of this function's loops keep a checkpoint every K iterations (docs/autodiff.md).
  int64_t checkpoint_every = -1;
  // `@function(donate_argnums=...)`: the donated parameters, in increasing order. An entry may
  // update their buffers in place and return them as results; the caller gives them up
  // (docs/codegen.md, "Donated arguments").
  std::vector<int64_t> donate_argnums;
  // Each `ts.init(model, ...)` in the body: the model it initializes.
  std::unordered_map<const ast::CallExpr*, const TypedFunction*> init_models;
};

// The functions of one module, owned by the Program that checked it.
struct TypedModule {
  std::vector<const TypedFunction*> functions;
};

struct SemaOptions {
  // Wall-clock guard per Z3 query. Answers are bounded by a deterministic resource limit
  // first (see dim_solver.cpp), so this only matters on a pathologically slow machine.
  unsigned solver_timeout_ms = 5000;
  // Folders searched for user modules after the importing file's own folder (`-I`).
  std::vector<std::string> include_dirs;
};

// `tesserac emit --stage=typed`: every function with its signature, effects
// and every binding with its inferred type.
std::string print_typed(const TypedModule& module, const SourceManager& sources);

}  // namespace tessera::sema
