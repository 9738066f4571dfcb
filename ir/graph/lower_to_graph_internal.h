// The Lowerer (typed AST -> Graph IR), shared by the files of the lowering: lower_to_graph.cpp
// (entry, functions and their specializations, types), lower_statements.cpp (statements and
// control flow), lower_expressions.cpp (conversions, operators, comparisons, indexing),
// lower_calls.cpp (built-in operations and user calls), lower_models.cpp (models, parameters,
// optimizers) and lower_autodiff.cpp (grad, vjp, jvp and their compositions). Internal: only those
// files include it.
#pragma once

#include "ir/graph/lower_to_graph.h"

#include <fmt/format.h>

#include <functional>
#include <map>
#include <optional>
#include <set>

#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/Dialect/Math/IR/Math.h>
#include <mlir/Dialect/SCF/IR/SCF.h>
#include <mlir/Dialect/Tensor/IR/Tensor.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/BuiltinTypes.h>
#include <mlir/IR/Diagnostics.h>
#include <mlir/IR/Verifier.h>
#include <mlir/Pass/PassManager.h>
#include <mlir/Transforms/Passes.h>
#include <llvm/Support/raw_ostream.h>

#include "frontend/internal_error.h"
#include "ir/graph/Tessera.h"
#include "sema/types.h"

namespace tessera::ir::lowering {

using namespace tessera::ast;
using sema::DimExpr;
using sema::Type;
using sema::TypeKind;

// A lowering that cannot continue; the diagnostic is already reported.
struct LoweringFailed {};

// A value of the program: its SSA value and its (symbolic) sema type.
struct Local {
  mlir::Value value;
  Type type;
  std::optional<double> literal = {};  // a number literal, folded into tensor constants
  std::vector<Local> elems = {};       // a tuple (the parts of split): its elements, and no value
  // A Params bundle (object "params"): one tensor per parameter in `elems`, named by `names`.
  // An optimizer (object "SGD" / "AdamW"): its state tensors in `elems`, the parameter names it
  // was made for in `names`, its hyperparameters in `hyper` (docs/models.md).
  std::vector<std::string> names = {};
  std::string object = {};
  std::vector<double> hyper = {};
};

// One specialization: a function with values for some of its dimensions.
struct SpecKey {
  const sema::TypedFunction* fn;
  std::map<std::string, int64_t> dims;
  // The layout of each `ts.Params` argument (its names and tensor types), by parameter index.
  std::map<size_t, std::vector<std::pair<std::string, Type>>> layouts;
  std::map<size_t, std::string> layout_keys() const {
    std::map<size_t, std::string> out;
    for (const auto& [i, l] : layouts)
      for (const auto& [n, t] : l) out[i] += n + ":" + sema::to_string(t) + ";";
    return out;
  }
  // 0: the function itself; 1: its log density, 2: its Posterior quantities, 3: its log
  // density's terms, one per statement (a probabilistic function called for inference,
  // lower_inference.cpp); 4: a conditional distribution (a @probabilistic function that returns
  // a distribution, on the right of '~'): its latents' log density and the returned
  // distribution's parameters; 5: the mean and variance of the distribution its observed
  // argument has (Posterior.predict / uncertainty).
  int role = 0;
  bool operator<(const SpecKey& o) const {
    return std::make_tuple(fn, dims, layout_keys(), role) < std::make_tuple(o.fn, o.dims, o.layout_keys(), o.role);
  }
};

inline const std::set<std::string> kUnary = {"exp",  "log",  "log1p", "sqrt", "rsqrt", "tanh", "sigmoid",
                                             "sin",  "cos",  "relu",  "gelu", "silu",  "abs",  "neg"};
inline const std::map<std::string, std::string> kReductions = {
    {"sum", "sum"}, {"mean", "mean"}, {"var", "var"},   {"std", "std"},       {"max", "max"},
    {"min", "min"}, {"prod", "prod"}, {"argmax", "argmax"}, {"argmin", "argmin"}, {"logsumexp", "logsumexp"},
    {"logsumexp_safe", "logsumexp"}};

class Lowerer {
 public:
  Lowerer(mlir::MLIRContext& ctx, const SourceManager& sources, DiagnosticEngine& diags)
      : ctx_(ctx), b_(&ctx), sources_(sources), diags_(diags) {
    module_ = mlir::ModuleOp::create(mlir::UnknownLoc::get(&ctx));
  }

  mlir::OwningOpRef<mlir::ModuleOp> run(const sema::TypedModule& m, const GraphLoweringOptions& options);

 private:
  mlir::MLIRContext& ctx_;
  mlir::OpBuilder b_;
  const SourceManager& sources_;
  DiagnosticEngine& diags_;
  mlir::ModuleOp module_;
  std::map<SpecKey, mlir::func::FuncOp> specs_;
  // The parameters of the Params a specialization returns (those of its Params arguments).
  std::map<mlir::Operation*, std::vector<std::pair<std::string, Type>>> returned_layouts_;
  std::vector<std::pair<SpecKey, mlir::func::FuncOp>> work_;
  std::set<std::string> names_;
  struct CallEdge {
    mlir::Operation* caller;
    mlir::Operation* callee;
    std::string callee_name;
    SourceRange where;
  };
  std::vector<CallEdge> calls_;
  mlir::func::FuncOp current_func_;
  void reject_recursion();

  // Per function.
  const sema::TypedFunction* fn_ = nullptr;
  std::map<std::string, DimExpr> dim_subst_;      // dimension -> its value, as an expression
  std::map<std::string, mlir::Value> dim_values_;  // dynamic dimension -> `index` value
  // A dimension symbol of a load's annotation -> its size from the first file that had it, and
  // that file (later loads with the symbol are checked against it).
  std::map<std::string, std::pair<mlir::Value, std::string>> loaded_dims_;
  std::vector<std::map<std::string, Local>> scopes_;
  std::vector<const Stmt*> loops_;  // the loops around the statement being lowered, innermost last
  std::optional<Local> returned_;
  mlir::Block* entry_ = nullptr;
  std::vector<Local> model_args_;  // a model's parameters (its extra arguments)

  // ---- values made of several SSA values (Params, optimizers) through control flow

  static void flatten(const Local& l, std::vector<mlir::Value>& out);
  void flatten_as(const Local& cur, const Local& proto, std::vector<mlir::Value>& out, SourceRange r);
  static Local rebuild(const Local& proto, mlir::ValueRange values, size_t& pos);
  std::optional<mlir::Value> dynamic_dim_value(const std::string& d);
  [[noreturn]] void unsupported(SourceRange where, const std::string& what);
  mlir::Location loc(SourceRange r);

  // ------------------------------------------------------------------ types

  mlir::Type element_type(sema::DType d);
  std::optional<int64_t> static_dim(const DimExpr& d);
  mlir::Type to_mlir(const Type& t, SourceRange where);
  static std::string feature_of(const Type& t);
  static bool is_ad_transform(const std::string& name);
  Type type_of(const Expr* e);
  mlir::Attribute policy_attr(const Type& t);

  // ------------------------------------------------------------- functions

  std::string mangle(const SpecKey& key, bool root);
  void set_dims(const SpecKey& key);
  mlir::func::FuncOp declare(const SpecKey& key, bool root = false);
  std::optional<SpecKey> custom_vjp_key(const sema::TypedFunction& f);
  void mark_custom_vjp(mlir::func::FuncOp f, const SpecKey& bwd_key);
  const sema::TypedFunction* key_fn(mlir::func::FuncOp f);
  void lower_function(const SpecKey& key, mlir::func::FuncOp func);
  using Layout = std::vector<std::pair<std::string, Type>>;
  static const Layout* params_layout(const SpecKey& key);
  static bool same_layout(const Layout& a, const Layout& b);
  static constexpr const char* kParamsResult =
      "returning Params other than those of the function's Params arguments (same names and shapes)";
  void flat_types(const Type& t, const SourceRange& where, std::vector<mlir::Type>& out,
                  const Layout* layout = nullptr);
  void flat_locals(const Local& l, const SourceRange& where, std::vector<Local>& out,
                   const Layout* layout = nullptr);
  Local unflatten(const Type& t, mlir::ValueRange results, size_t& next, const Layout* layout = nullptr);

  // ------------------------------------------------------------- statements

  Local* lookup(const std::string& name);
  void assign(const std::string& name, Local v);
  void block(const Body& body, bool top = false);
  void stmt(const Stmt* s, bool last_top);
  void assign_target(const Expr* target, const Local& v);
  static void assigned_names(const Body& body, std::vector<std::string>& out, const Stmt* loop = nullptr);
  std::vector<std::pair<std::string, Local>> carried(const std::vector<const Body*>& bodies, const Stmt* loop = nullptr);
  // break/continue: each loop that has them carries two Bool flags (see lower_statements.cpp).
  static std::string jump_flag(const Stmt* loop, bool is_break);
  static bool jumps(const Stmt* s);
  static bool body_jumps(const Body& body);
  void init_jump_flags(const Stmt* loop);
  mlir::Value not_jumped(SourceRange r);
  mlir::Value flag_value(const Stmt* loop, bool is_break);
  void lower_if(mlir::Value cond, const Body& then_body, const Body& else_body, SourceRange range);
  void assert_stmt(const AssertStmt* a);
  void runtime_check(mlir::Value ok, const std::string& message, SourceRange where);
  mlir::Value condition(const Expr* e);
  mlir::Value truthy(mlir::Value v, SourceRange r);
  void if_stmt(const IfStmt* s);
  void while_stmt(const WhileStmt* s);
  const CallExpr* range_call(const Expr* iter, bool& is_static);
  std::optional<int64_t> constant_int(const Expr* e);
  bool varies(const Expr* e);
  bool is_local_name(const std::string& name);
  void for_stmt(const ForStmt* s);

  // ------------------------------------------------------------ conversions

  mlir::Value convert(const Local& v, mlir::Type want, SourceRange r);
  mlir::OperationState cast_state(mlir::Location l, llvm::StringRef name, mlir::ValueRange operands, mlir::Type result);
  mlir::Value convert_scalar(mlir::Value x, mlir::Type want, SourceRange r);
  void check_runtime_rank(mlir::Type t, const char* what, SourceRange r);
  mlir::Value scalar_conversion(const std::string& what, const Local& x, mlir::Type want, SourceRange r);
  mlir::Value dim_index(const DimExpr& d, SourceRange r);
  std::vector<mlir::Value> dynamic_dims(const Type& t, mlir::Type mt, SourceRange r);

  // -------------------------------------------------------------- expressions

  Local constant_scalar(const Type& t, double v, SourceRange r);
  Local expr(const Expr* e);
  mlir::Value condition_value(const Local& x, SourceRange r);
  mlir::Value op(llvm::StringRef name, std::vector<mlir::Value> operands, mlir::Type result, SourceRange r, const Type& t,
                 std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs = {});
  Local binary(BinaryOp bop, const Local& l, const Local& r, const Type& t, SourceRange range);
  mlir::Value tensor_operand(const Local& x, mlir::RankedTensorType result, SourceRange r = {});
  mlir::Value python_division(BinaryOp bop, mlir::Value a, mlir::Value b, mlir::Type mt, SourceRange range,
                              const Type& t);
  mlir::Operation* checked(mlir::Operation* o, SourceRange r);
  mlir::Value with_element(const Local& x, mlir::Type element, SourceRange r);
  mlir::Type common_element(const Local& a, const Local& b);
  Local compare(const CompareExpr* c, const Type& t);
  Local subscript(const SubscriptExpr* s, const Type& t);
  std::optional<int64_t> constant_int_expr(const Expr* e);

  // ------------------------------------------------------------------- calls

  static std::string builtin_name(const Expr* callee);
  const Expr* keyword(const CallExpr* c, std::string_view name);
  std::vector<const Expr*> positional(const CallExpr* c);
  Local call(const CallExpr* c, const Type& t);
  int64_t next_seed_ = 0;

  // ------------------------------------------------- models and parameters (docs/models.md)

  mlir::Value scalar_of(mlir::Type like, double v, SourceRange r);
  mlir::Value scalar_value(mlir::Type like, mlir::Value f64, SourceRange r);
  mlir::Value ew(const char* name, mlir::Value a, mlir::Value b, SourceRange r);
  mlir::Value ew1(const char* name, mlir::Value a, SourceRange r);
  double float_kw(const CallExpr* c, const char* kw, double dflt);
  Local layer_call(const CallExpr* c, size_t first, const Type& t);
  template <typename Param>
  Local multi_head_attention(const CallExpr* c, mlir::Value x, Param param, const Type& t);
  Local init_params(const CallExpr* c, const sema::TypedFunction& model, const Type& t);
  Local params_value(const Expr* e);
  Local save_params(const CallExpr* c, const Type& t);
  Local load_params(const CallExpr* c, const Type& t);
  Local params_binary(BinaryOp bop, const Local& l, const Local& r, const Type& t, SourceRange range);
  std::vector<Local> by_names(const Local& bundle, const std::vector<std::string>& names, SourceRange r);
  Local make_schedule(const CallExpr* c, const std::string& kind, const Type& t);
  std::vector<double> lr_descriptor(const CallExpr* c, const Expr* e, double dflt);
  mlir::Value schedule_lr(const std::vector<double>& h, size_t at, mlir::Value s, SourceRange r);
  Local make_optimizer(const CallExpr* c, const std::string& kind, const Type& t);
  Local optimizer_step(const CallExpr* c, const AttributeExpr* a);
  Local clip_grad_norm(const CallExpr* c, const Type& t);
  Local split(const CallExpr* c, const Local& x, const Type& t, size_t skip);
  std::string path_arg(const CallExpr* c, const Expr* e);
  Local load(const CallExpr* c, const Type& t);
  Local save(const CallExpr* c, const Type& t);
  std::vector<int64_t> pair_arg(const CallExpr* c, const char* kw, int64_t dflt);
  mlir::Value scalar_unary(const std::string& name, const Local& x, mlir::Type want, SourceRange r);
  std::optional<double> constant_float(const Expr* e);
  int64_t axis_arg(const CallExpr* c, std::string_view kw, int64_t dflt, const Local& x, size_t pos = SIZE_MAX);
  Local reduce(const CallExpr* c, const std::string& kind, const Local& x, const Type& t, size_t skip);
  Local method(const CallExpr* c, const std::string& name, const Local& x, const Type& t, size_t skip = 0);
  static std::vector<mlir::Value> concat(std::vector<mlir::Value> a, const std::vector<mlir::Value>& b);
  Local tensor_literal(const CallExpr* c, const Type& t, mlir::Type mt);
  Local print(const CallExpr* c, const Type& t);
  Local transform_value(const CallExpr* c, const Type& t);
  Local transformed_call(const CallExpr* c, const Type& transform, const Type& t);
  Local vjp_value(const CallExpr* c, const Type& t);
  mlir::Type one_float_dtype(mlir::TypeRange types, const SourceRange& r, const char* not_float, const char* mixed);
  mlir::Value sum_of_products(mlir::Location l, llvm::ArrayRef<mlir::Value> a, llvm::ArrayRef<mlir::Value> b,
                              mlir::RankedTensorType scalar);
  mlir::func::FuncOp vjp_dot(mlir::func::FuncOp f, const SourceRange& r);
  Local jvp_value(const CallExpr* c, const Type& t);
  mlir::func::FuncOp jvp_dot(mlir::func::FuncOp g, size_t n, const SourceRange& r);
  Local pullback_call(const CallExpr* c, const Type& t);
  Local higher_order_call(const CallExpr* c, const Type& transform, const Type& t);
  std::vector<mlir::Value> emit_transform(const Type& tr, mlir::func::FuncOp f, std::vector<mlir::Value> args,
                                          const SourceRange& r);
  std::vector<mlir::Value> grad_op(mlir::func::FuncOp g, const std::vector<mlir::Value>& args,
                                   const std::vector<int64_t>& argnums, bool with_value, const SourceRange& r);
  mlir::func::FuncOp new_private_function(const std::string& name, mlir::TypeRange inputs, mlir::TypeRange results,
                                          mlir::Location l);
  static std::string transform_name(const Type& tr, mlir::func::FuncOp f);
  mlir::func::FuncOp materialize(const Type& tr, mlir::func::FuncOp f, const std::vector<mlir::Value>& args,
                                 const SourceRange& r);
  mlir::func::FuncOp hvp_dot(mlir::func::FuncOp g, int64_t n, const SourceRange& r);
  std::pair<mlir::func::FuncOp, std::vector<mlir::Value>> bind_call(const CallExpr* c, const sema::CallTarget& target,
                                                                    std::vector<Local>* bound_values = nullptr,
                                                                    size_t skip = 0,
                                                                    const std::vector<const Expr*>* given = nullptr,
                                                                    int role = 0);
  Local user_call(const CallExpr* c, const sema::CallTarget& target, const Type& t);
  SpecKey call_key(const sema::CallTarget& target);

  // ------------------------------------------- probabilistic functions (lower_inference.cpp)

  static constexpr const char* kLogDensity = "__lp";  // the log density's accumulator, a local
  int role_ = 0;                                      // the SpecKey role being lowered (4 runs as 1)
  bool conditional_ = false;                          // role 4: the body's returned distribution is a result
  // The values of the latent variables drawn so far, flat f64, in the order drawn (true: from a
  // conditional distribution): what a conditional returns, and what a Posterior reports of them.
  std::vector<std::pair<bool, mlir::Value>> drawn_values_;
  mlir::Value drawn_flat(bool conditional_only, SourceRange r);
  // Role 5 (Posterior.predict / uncertainty): the observed argument whose distribution's mean
  // and variance the function returns, and those once its '~' statement has been lowered.
  std::string predicting_;
  std::optional<std::pair<mlir::Value, mlir::Value>> predicted_;
  Local posterior_predict(const CallExpr* c, const std::string& method, const Local& post, const Type& t);
  mlir::Value theta_;                                 // roles 1 and 2: the unconstrained vector
  int64_t theta_offset_ = 0;                          // where the next latent variable starts,
  mlir::Value theta_offset_dyn_;                      // plus this `index`, once a size is dynamic
  struct Dist {
    std::string family;
    std::map<std::string, mlir::Value> params;  // f64 tensors (each of its own shape: ops broadcast)
    SourceRange range;
    bool ordered = false;  // `ordered=True`: a latent increasing vector
  };
  std::pair<mlir::Value, mlir::Value> moments(const Dist& d, SourceRange r);
  static bool is_distribution(const std::string& name);
  static mlir::RankedTensorType broadcast_type(mlir::Type a, mlir::Type b, mlir::Type element);
  mlir::Value bin(const char* name, mlir::Value a, mlir::Value b, SourceRange r);
  mlir::Value k64(double v, SourceRange r);
  Local distribution_value(const CallExpr* c, const Type& t);
  Dist distribution_of(const Expr* e, mlir::RankedTensorType shape_f64, const SampleStmt* s = nullptr);
  // Conditional distributions (a @probabilistic function returning a distribution, on the right
  // of '~'): the returned constructor's family and parameters, in result order.
  struct ConditionalSig {
    std::string family;
    std::vector<std::string> names;
    std::vector<const Expr*> values;  // null: the family's default
    SourceRange range;
  };
  static bool is_conditional(const sema::TypedFunction& f);
  ConditionalSig conditional_signature(const sema::TypedFunction& f);
  std::vector<mlir::Type> conditional_results(const sema::TypedFunction& f);
  Local conditional_call(const CallExpr* c, const sema::CallTarget& target, const SampleStmt* s);
  mlir::Value take_theta(int64_t n, mlir::Value n_dyn, SourceRange r);
  Dist to_dist(const Local& v, mlir::RankedTensorType shape_f64, SourceRange r);
  Local distribution_method(const CallExpr* c, const std::string& method, const Local& dist, const Type& t);
  Local solve_triangular(const CallExpr* c, const Type& t, mlir::Type mt);
  Local gather(const SubscriptExpr* s, const Local& x, const Type& t, mlir::Type mt);
  mlir::Value sum_last(mlir::Value v, SourceRange r, bool keepdim = false);
  mlir::Value xlogy(mlir::Value a, mlir::Value lx, SourceRange r);
  std::tuple<mlir::Value, int64_t, bool> categorical_parameter(const Dist& d, SourceRange r);
  [[noreturn]] void random_in_model(SourceRange r);
  static bool is_simplex(const sema::TypedFunction& f, const SampleStmt* s);
  static bool is_cholesky_corr(const sema::TypedFunction& f, const SampleStmt* s);
  std::pair<mlir::Value, mlir::Value> cholesky_corr_transform(mlir::Value u, int64_t kk, SourceRange r);
  mlir::Value lkj_log_prob(const Dist& d, mlir::Value x, SourceRange r);
  std::vector<Type> unconstrained_types(const sema::TypedFunction& f, int depth = 0);
  mlir::Value cumulative_sum(mlir::Value y, SourceRange r);
  std::tuple<mlir::Value, mlir::Value, mlir::Value> simplex_transform(mlir::Value u, mlir::RankedTensorType ft, SourceRange r);
  mlir::Value mvn_factor(const Dist& d, SourceRange r);
  mlir::Value mvn_log_prob(const Dist& d, mlir::Value x, SourceRange r);
  Local distribution_sample(const CallExpr* c, const Local& dist, const Type& t);
  mlir::Value masked_log_prob(const Dist& d, mlir::Value x, SourceRange r);
  mlir::Value lgamma_of(mlir::Value z, SourceRange r);
  mlir::Value lgamma_half_diff(mlir::Value a, SourceRange r);
  mlir::Value softplus_of(mlir::Value v, SourceRange r);
  mlir::Value log_prob(const Dist& d, mlir::Value x, SourceRange r, mlir::Value log_x = {}, mlir::Value log_1mx = {});
  mlir::Value total(mlir::Value v, SourceRange r);
  void add_density(mlir::Value term, SourceRange r, const void* key);
  static std::string density_name(const void* key);
  static void density_statements(const Body& body, std::vector<std::pair<const void*, SourceRange>>& out);
  bool is_top_level(const Stmt* s) const;
  void sample_stmt(const SampleStmt* s);
  Local posterior_fields(const CallExpr* c, const Type& t);
  Local factor_call(const CallExpr* c, const Type& t);
  mlir::Value flatten_fields(const Local& fields, SourceRange r);
  std::string inference_config(const sema::TypedFunction& f, const Type& posterior,
                               const std::map<std::string, DimExpr>& callee_dims);
  Local inference_call(const CallExpr* c, const sema::CallTarget& target, const Type& t);
  std::optional<int64_t> static_numel(const std::vector<Type>& types, SourceRange r, const std::string& what);
  std::optional<int64_t> latent_size(const sema::TypedFunction& f);
  std::optional<int64_t> fields_size(const Type& posterior, SourceRange r);
  mlir::Value numel_index(const std::vector<DimExpr>& shape, SourceRange r);
  mlir::Value flat_f64(const Local& v, SourceRange r);
  Local posterior_method(const CallExpr* c, const std::string& method, const Local& post, const Type& t);

};

}  // namespace tessera::ir::lowering
