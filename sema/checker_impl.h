// Internal to sema: the checker's walker (CheckerImpl), whose member functions are defined by
// concern in checker*.cpp:
//   checker.cpp             the driver (Checker::run), scopes, one function's body
//   checker_decls.cpp       module-level declarations, imports, decorators
//   checker_signatures.cpp  type annotations and function signatures
//   checker_stmt.cpp        statements, control flow, returns, assignability
//   checker_expr.cpp        expressions: names, operators and dtype promotion, attributes, indexing
//   checker_calls.cpp       calls: built-in operations, methods, user functions
//   checker_autodiff.cpp    grad/vjp/jvp/hvp transforms and @custom_vjp
//   checker_models.cpp      models: `~` sampling, layers, parameters, optimizers
//   checker_effects.cpp     effects and their propagation
// Shape rules of built-in operations live in ops.cpp.
#pragma once

#include <algorithm>
#include <fmt/format.h>

#include "frontend/ast_printer.h"
#include "sema/checker.h"
#include "sema/program.h"

namespace tessera::sema {

using namespace ast;

// "tessera.nn.linear" -> "nn.linear"; names outside tessera are unchanged.
inline std::string strip_tessera(const std::string& q) {
  if (q == "tessera") return "";
  if (q.rfind("tessera.", 0) == 0) return q.substr(8);
  return q;
}

// The dotted spelling of a decorator or attribute chain, if it is one.
inline std::optional<std::string> dotted(const Expr* e) {
  if (auto* n = dyn_cast<NameExpr>(e)) return n->name;
  if (auto* a = dyn_cast<AttributeExpr>(e)) {
    auto base = dotted(a->object);
    if (base) return *base + "." + a->name;
  }
  return std::nullopt;
}

struct DecoratorSpec {
  const char* spelling;
  int kind;  // 0 Pure, 1 Probabilistic, 2 Kernel, 3 Modifier
  bool takes_args;
};

enum { Pure = 0, Probabilistic = 1, Kernel = 2, Modifier = 3 };

inline constexpr DecoratorSpec kDecorators[] = {
#define TSR_DECORATOR(spelling, kind, args) {spelling, kind, args},
#include "sema/decorators.def"
};

struct CheckerImpl {
  Checker& c;
  const SourceManager& sources;
  DiagnosticEngine& diags;
  // Per-function state.
  FunctionInfo* fn = nullptr;
  std::vector<std::unordered_map<std::string, Type>> scopes;
  std::map<std::string, DimExpr> dims;  // dimension symbols visible as Int values
  std::map<std::string, std::string> origin;  // local name -> op that produced it without keepdim
  std::unordered_map<const Expr*, std::string> expr_origin;
  bool declared_dims_only = false;  // in signatures: bare names must be declared dims
  CheckerImpl(Checker& checker, const SourceManager& s, DiagnosticEngine& d) : c(checker), sources(s), diags(d) {}

  // ------------------------------------------------------------ declarations
  void declare(const Module& m);
  std::map<std::string, SourceRange> defined;
  uint32_t m_file = 0;  // the file of the module being checked
  // `from mylib import f, Point as P` (also relative: `from .mylib import f`).
  void import_from_user_module(const ImportFromStmt& fi);
  // Reports a second definition of a module-level name (E0104).
  bool define_once(const std::string& name, SourceRange range);
  // Validates decorators and classifies the function.
  void decorators(FunctionInfo& info);
  void inference_settings(const std::string& decorator, const CallExpr* call);
  // `@custom_vjp(bwd)` on f: bwd must be a function of the module taking f's parameters, then
  // f's result and its cotangent, and returning one cotangent per floating-point parameter of f
  // (a tuple when there are several). Records bwd, its dimensions in f's, as f's custom_vjp.
  void custom_vjp(FunctionInfo& f);
  // `@function(donate_argnums=N)` or `(donate_argnums=(i, j, ...))`, also on `jit` and
  // `shape_checked`: the parameters whose buffers the compiled entry may update in place and
  // return (JAX's donate_argnums). Each is a tensor or Params parameter, named once.
  void donate(FunctionInfo& f);
  // `@checkpoint` or `@checkpoint(every=K)` with K an integer literal >= 1.
  void checkpoint(FunctionInfo& f);
  static bool ends_with(const std::string& s, const std::string& suffix);
  static std::string param_list(const FunctionInfo& f);
  static bool is_float_value(const Type& t);
  void check_custom_vjp(FunctionInfo& f, FunctionInfo& bwd, SourceRange where);

  // ------------------------------------------------------------ signatures
  // Converts a dimension expression of a signature or body into a DimExpr.
  std::optional<DimExpr> to_dim(const Expr* e, bool report);
  // Reads `bf16 @accum(f32) @stochastic_round` (a matmul chain in the AST)
  // or a bare dtype name.
  bool dtype_and_policies(const Expr* e, DType& dtype, Policy& policy);
  void apply_policy(const Expr* p, Policy& policy);
  template <typename T>
  static const T* dyn_cast_or_null(const Expr* e) {
    return e ? dyn_cast<T>(e) : nullptr;
  }
  static const NameExpr* dyn_cast_or_null_name(const Expr* e) { return e ? dyn_cast<NameExpr>(e) : nullptr; }
  // A class named in an annotation: `Point`, an imported `Point`, or `mylib.Point`.
  const ClassInfo* find_class(const std::string& head) const;
  // The name an annotation refers to, with `tessera.` and aliases removed.
  std::string type_head(const Expr* e);
  // Converts a type annotation. Unknown forms are reported and give Unknown.
  Type annotation(const Expr* e);
  Type tensor_annotation(const SubscriptExpr* s, bool tile);
  bool is_dim_predicate_expr(const Expr* e);
  DimPredicate to_predicate(const CompareExpr* cmp);
  bool body_declares_parameters(const Body& body);
  void signature(FunctionInfo& info);

  // ---------------------------------------------------------------- scopes
  Type lookup_local(const std::string& name);
  void bind(const std::string& name, Type t, SourceRange range);
  std::vector<std::string> visible_names();

  // ------------------------------------------------------------ functions
  void check_function(FunctionInfo& info);

  // ------------------------------------------------------------ statements
  void block(const Body& body);
  void assign_target(const Expr* target, const Type& t, const Expr* value);
  void stmt(const Stmt* s);
  // `if x is not None:` narrows an optional inside the branch.
  void narrow_and_run(const IfStmt* i);
  std::string none_test(const Expr* cond, bool& is_not);
  static bool ends_in_exit(const Body& body);
  // Flow: each branch of an `if` starts from the state before it, and the states they leave are
  // merged; a value (Int = 3) that a loop or only one branch changes is not known after it.
  using Scopes = decltype(scopes);
  void merge_branches(const Scopes& before, const Scopes& after_then, bool then_exits, bool else_exits);
  void forget_values(const Body& body);
  Type value_use(const Expr* e, const Type& t);
  Type lookup_object(const Expr* e);
  Type iter_element(const Type& it);
  void sample(const SampleStmt* s);
  // A call of the built-in load(path), whose type is a tensor of unknown shape until an
  // annotation (or the declared return type) gives it one.
  bool is_untyped_load(const Expr* e, const Type& t) const;
  void ret(const ReturnStmt* r);
  // Compares an inferred type with a declared one dimension by dimension.
  // Returns an empty string when they match, else the first difference.
  std::string mismatch(const Type& found, const Type& expected, std::vector<std::string>& notes);
  void check_return(const Type& found, const Type& expected, const ReturnStmt* r);
  void check_assignable(const Type& found, const Type& expected, SourceRange range, const std::string& what);

  // ------------------------------------------------------------ expressions
  // Types an expression and records its type in the typed AST.
  Type expr(const Expr* e);
  Type expr_kind(const Expr* e);
  Type name(const NameExpr* n);
  Type unary(const UnaryExpr* u);
  // Arithmetic on Params, tensor by tensor: `params - 0.1 * grads` (+ - * / with Params of the
  // same names or a number).
  Type params_binary(BinaryOp op, const Type& l, const Type& r, SourceRange range, const std::string& spelling);
  Type binary(BinaryOp op, const Type& l, const Type& r, SourceRange range, SourceRange lrange, SourceRange rrange,
              const std::string& spelling);
  Type compare(const CompareExpr* cmp);
  static Type user_type(TypeKind kind, std::string name, const void* ref);
  // `mylib.f`, `mylib.Point`: a member of a user module.
  Type user_module_member(const Checker& m, const std::string& module_name, const AttributeExpr* a);
  Type attribute(const AttributeExpr* a);
  // `params["linear_0.w"]`: a string constant key, checked against the bundle's names.
  Type params_entry(const Type& obj, const SubscriptExpr* s);
  Type subscript(const SubscriptExpr* s);
  DimExpr slice_size(const SliceExpr* sl, const DimExpr& n);

  // ------------------------------------------------------------ calls
  std::vector<Arg> args_of(const CallExpr* call, std::vector<Arg>& kwargs);
  Type call(const CallExpr* call);
  // A call of `tessera.grad(f, argnums)` or `value_and_grad(f, argnums)`: f is checked as if
  // called with these arguments (the call records f as its target); f must return a float
  // scalar, and each argument it is differentiated against must be floating point (E0601).
  // The result: one gradient typed like its argument (a tuple when argnums is a tuple), after
  // the value for value_and_grad. vjp, jvp and hessian_vector_product are not typed yet.
  // `shown`: the transform's name in messages when it differs (hessian_vector_product's grad).
  Type transformed_call(const Type& transform, const CallExpr* call, const std::vector<Arg>& pos,
                        const std::vector<Arg>& kwargs, const std::string& shown = "");
  // The function argument of vjp/jvp: a user function or a gradient of one (E0201 otherwise).
  bool differentiable_function(const Arg& a, const char* transform);
  // `y, pullback = vjp(f, primals...)` (JAX's jax.vjp): y = f(primals...), a floating-point
  // tensor of any shape; `pullback(ct)`, ct typed like y, gives one cotangent per primal (a
  // tuple when there are several). Every primal must be floating point (E0601). The pullback
  // is a Function "transformed" with transform "pullback", ref f, elems {ct type, result type}.
  Type vjp_call(const CallExpr* call, const std::vector<Arg>& pos, const std::vector<Arg>& kwargs);
  // A primal of vjp/jvp: a Params, or a floating-point tensor (E0601 otherwise, then unknown).
  // Gives the type its cotangent or tangent takes: a number literal takes the parameter's type.
  Type differentiable_primal(const Arg& a, const auto& p, const FunctionInfo& f, const char* transform) {
    if (a.type->kind == TypeKind::Params) return a.type;
    auto t = as_tensor(a.type);
    if (!t || !is_float((*t)->dtype) || a.type->kind == TypeKind::Bool || a.type->kind == TypeKind::Int) {
      diags.report(DiagKind::NonDifferentiableArgument, a.range, p.name, f.name, to_string(a.type))
          .related(p.range, "parameter declared here")
          .help(fmt::format("{} differentiates with respect to every primal: pass only floating-point tensors or Params",
                            transform));
      return unknown_type();
    }
    return a.type->weak && !is_unknown(p.type) ? p.type : a.type;
  }
  // The result of the function given to vjp/jvp: a floating-point tensor, or (for a user
  // function) a tuple of them, whose pullback takes a tuple of cotangents and whose tangent is a
  // tuple; E0201 otherwise.
  bool float_result(const Type& value, const Type& ft, const FunctionInfo& f, const char* transform, SourceRange where);
  // The elements of a tuple argument (`(x, y)` of jvp) as arguments; a single value is a
  // tuple of one.
  static std::vector<Arg> tuple_args(const Arg& a);
  static bool same_tensor_type(const Type& a, const Type& b);
  // `y, t = jvp(f, (primals...), (tangents...))` (JAX's jax.jvp): y = f(primals...), a
  // floating-point tensor; t = J v, typed like y. Each primal must be floating point (E0601),
  // each tangent typed like its primal (E0201). f may be a user function or a transformed one
  // (`jvp(grad(f), ...)`: a Hessian-vector product, forward over reverse).
  Type jvp_call(const CallExpr* call, const std::vector<Arg>& pos, const std::vector<Arg>& kwargs);
  // `pullback(ct)` of a vjp: ct must be typed like the function's result (E0201).
  Type pullback_call(const Type& pb, const CallExpr* call, const std::vector<Arg>& pos, const std::vector<Arg>& kwargs);
  // `hessian_vector_product(f, argnums=n)(args..., v)`: H v for the Hessian of the scalar f
  // with respect to argument n, typed like that argument; v must have its type.
  Type hvp_call(const Type& transform, FunctionInfo& f, const CallExpr* call, const std::vector<Arg>& pos,
                const std::vector<Arg>& kwargs);
  static bool call_has_keepdim(const CallExpr* call);
  // `opt.step(params, grads)`: Params of the same names; the result has params' layout.
  Type optimizer_step(const CallExpr* call, const std::vector<Arg>& pos);
  Type with_draws(const Type& posterior, const FunctionInfo& callee);
  Type log_prob_type(const Type& dist, const CallExpr* call, const std::vector<Arg>& pos);
  Type object_method(const Type& obj, const std::string& method, const CallExpr* call);
  Type posterior_predict(const Type& obj, const std::string& method, const CallExpr* call, const std::vector<Arg>& pos,
                         const std::vector<Arg>& kwargs);
  // Calls a user function: binds its dimensions from the arguments, checks
  // each argument against its parameter type and the preconditions.
  Type user_call(FunctionInfo& callee, const CallExpr* call, const std::vector<Arg>& pos,
                 const std::vector<Arg>& kwargs);
  // A call of a model: with `params=`, the bundle must have the model's parameter names; without,
  // the caller becomes a model that declares the callee's parameters as `<callee>_<n>.<name>`.
  void model_call(const FunctionInfo& callee, const CallExpr* call, const std::vector<Arg>& kwargs,
                  const std::map<std::string, DimExpr>& subst);
  static std::string plural(size_t n, const char* word);
  Type substitute(const Type& t, const std::map<std::string, DimExpr>& subst);

  // ------------------------------------------------------------ effects
  void finish_effects();
};

}  // namespace tessera::sema
