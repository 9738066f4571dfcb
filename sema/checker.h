// Internal to sema: the checker's state, shared by the statement/expression
// walker (checker.cpp) and the shape rules of built-in operations (ops.cpp).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "frontend/ast.h"
#include "frontend/diagnostics.h"
#include "sema/dim_solver.h"
#include "sema/sema.h"
#include "sema/types.h"

namespace tessera::sema {

enum Effect : unsigned { kRandom = 1, kState = 2, kIO = 4, kCollective = 8, kMovement = 16 };
std::vector<std::string> effect_names(unsigned effects);

// The candidate closest to `name` (frontend edit_distance_within: with transpositions) within a
// third of its length (at least 1, at most 8), or "": the "did you mean" of every diagnostic.
// Bounded work: only candidates of a similar length are compared, within a fixed budget.
std::string closest_name(const std::string& name, const std::vector<std::string>& candidates);

struct FunctionInfo {
  enum class Kind { Plain, Pure, Probabilistic, Kernel };
  const ast::FunctionDefStmt* def = nullptr;
  std::string name;
  Kind kind = Kind::Plain;
  std::vector<std::string> decorators;
  std::vector<std::string> dims;
  struct Param {
    std::string name;
    Type type;
    bool annotated = false;
    bool is_const = false;  // Const[H]: binds H from an Int argument
    std::string const_symbol;
    bool has_default = false;
    SourceRange range;
  };
  std::vector<Param> params;
  Type ret;  // null: not annotated
  struct Precondition {
    DimPredicate pred;
    SourceRange range;
    std::string text;
  };
  std::vector<Precondition> preconditions;
  unsigned effects = 0;
  std::optional<unsigned> effect_bound;
  SourceRange effect_bound_range;
  std::set<FunctionInfo*> callees;
  std::vector<std::pair<SourceRange, unsigned>> effect_sites;  // where each direct effect comes from
  bool is_model = false;  // declares parameters through tessera.nn layers
  bool checked = false;   // its body has been checked (callers may use its inferred return type)
  std::map<std::string, int> layer_counts;  // calls of each layer kind so far (parameter names)
  TypedFunction typed;
};

struct ClassInfo {
  const ast::ClassDefStmt* def = nullptr;
  std::string name;
  std::map<std::string, Type> fields;
};

// One argument of a call, already typed.
struct Arg {
  const ast::Expr* expr = nullptr;
  Type type;
  std::string keyword;  // empty for positional
  SourceRange range;
};

// A call of a built-in operation or method: what the shape rules see.
struct Call {
  std::string name;     // user-facing: "softmax", "x.mean", "nn.linear"
  SourceRange range;    // the whole call
  const Arg* self = nullptr;  // the receiver of a method call
  std::vector<Arg> args;      // positional
  std::vector<Arg> kwargs;
  const ast::CallExpr* expr = nullptr;  // the call in the source (builtins only)

  const Arg* kw(std::string_view name) const;
  // Positional argument i, or the keyword argument `name`.
  const Arg* arg(size_t i, std::string_view name) const;
};

class Checker;
using OpRule = std::function<Type(Checker&, const Call&)>;

// ---- operation signatures: what a call of a built-in operation may pass (LANGUAGE.md §6).
// Each entry of ops.cpp's one table spells its signature in Python's notation; the checker
// validates every call against it (op_signature.cpp), and the LSP's signature help and the
// docs read the same text (OpSignature::to_string).
enum ArgKindBits : unsigned {
  kTensorArg = 1,     // Tensor: a tensor, or a number (a rank-0 tensor)
  kIntArg = 2,        // Int
  kNumberArg = 4,     // Number: Int or Float
  kBoolArg = 8,       // Bool
  kShapeArg = 16,     // Shape: an Int or a tuple/list of Ints
  kAxesArg = 32,      // Axes: an Int or a tuple/list of Ints
  kDTypeArg = 64,     // DType: f32, bf16, ...
  kStrArg = 128,      // Str
  kTensorsArg = 256,  // Tensors: a tuple/list of tensors
  kFunctionArg = 512, // Function
  kParamsArg = 1024,  // Params
  kNoneArg = 2048,    // None (spelled `T | None`, or a default of None)
  kAnyArg = 0xffffffffu,
};

struct OpParam {
  std::string name;
  unsigned kinds = kAnyArg;
  bool required = true;
  bool variadic = false;      // `*name`: any number of positional arguments
  bool keyword_only = false;  // after `*` or `*name`
  std::string default_text;   // as written: "-1", "None"
};

struct OpSignature {
  std::vector<OpParam> params;
  bool extra_keywords = false;  // `**name`: keywords the rule checks itself (ts.init's dimensions)
  std::string text;             // the parameter list as written in the table
  // "x: Tensor, axis: Int = -1", "*dims: Shape, dtype: DType = f32", "a, *, b: Int = 0".
  // Kinds: Tensor Int Number Bool Shape Axes DType Str Tensors Function Params None Any,
  // joined with `|`. Throws std::invalid_argument on a malformed spec (a bug in the table).
  static OpSignature parse(std::string_view spec);
  std::string to_string(const std::string& name) const;  // "softmax(x: Tensor, axis: Int = -1)"
  size_t max_positional() const;                          // SIZE_MAX with a `*name`
};

std::string kind_names(unsigned kinds);  // "Int or Tensor"
bool has_kind(const Type& t, unsigned kinds);

// The arguments of a call matched to the parameters of a signature: for each parameter, the
// arguments bound to it (several for a `*name`, none when it is left to its default).
struct BoundArgs {
  std::vector<std::vector<const Arg*>> by_param;
};

struct BuiltinOp {
  std::string name;  // "softmax", "nn.linear", "tile.load", "Normal"
  OpRule rule;
  unsigned effects = 0;
  OpSignature sig;
};

// Matches a call to `op`'s signature (the receiver of a method is not part of it): reports
// E0103 for extra positional arguments, unknown keywords (with "did you mean"), arguments
// given twice and missing ones, and E0201 for an argument of the wrong kind. Returns nullopt
// after an error (the rule is then not run: one mistake, one message).
std::optional<BoundArgs> bind_call(DiagnosticEngine& diags, const BuiltinOp& op, const Call& call);

// Built-in operations by qualified name and tensor methods by name (ops.cpp).
const BuiltinOp* find_builtin(const std::string& qualified);
const BuiltinOp* find_method(const std::string& name);
const std::vector<std::string>& builtin_names();
const std::vector<std::string>& method_names();
bool is_builtin_module(const std::string& qualified);  // "tessera", "tessera.nn", "tile", ...

class Program;

class Checker {
 public:
  // `program` loads the user modules this one imports; without one, user imports are
  // reported as not supported.
  Checker(const SourceManager& sources, DiagnosticEngine& diags, const SemaOptions& options,
          Program* program = nullptr);
  TypedModule run(const ast::Module& module);

  // ---- services for the shape rules
  DiagnosticEngine& diags() { return diags_; }
  DimSolver& solver() { return *solver_; }
  // Proves a == b under the current function's facts.
  ProofResult prove_equal(const DimExpr& a, const DimExpr& b);
  DimExpr fresh_dim(const std::string& hint);
  void add_effect(unsigned effects, SourceRange where);
  bool in_kernel() const { return current_ && current_->kind == FunctionInfo::Kind::Kernel; }

  // Broadcasts two shapes (NumPy rules); reports E0302 and returns nullopt
  // when a pair of dimensions is neither provably equal nor 1.
  std::optional<std::vector<DimExpr>> broadcast(const std::vector<DimExpr>& a, const std::vector<DimExpr>& b,
                                                const std::string& op, SourceRange range, const Type& ta,
                                                const Type& tb);
  // Broadcasts the types of an elementwise operation (tensors and scalars).
  Type elementwise(const std::string& op, SourceRange range, const std::vector<Type>& operands);
  Type matmul(const Type& a, const Type& b, SourceRange range, SourceRange lhs_range, SourceRange rhs_range);
  // Resolves a (possibly negative) axis; reports E0305.
  std::optional<size_t> axis(int64_t axis, size_t rank, SourceRange range);
  // The dimension value of an Int-typed argument, when statically known.
  std::optional<DimExpr> dim_value(const Type& t);
  // A list/tuple of dimension values (`shape=[K, N]`, `(ctx.BM, ctx.BN)`).
  std::optional<std::vector<DimExpr>> dims_from(const Arg& arg);
  std::optional<int64_t> int_constant(const Arg* arg);
  std::string describe_counterexample(const ProofResult& r) const;
  // A `tessera.nn` layer call declares its parameters in the current model (LANGUAGE.md §15):
  // names `<layer>_<n>.<field>`, or `<name>.<field>` with a `name="..."` keyword.
  void declare_layer_params(const Call& call, const std::string& layer, std::vector<ModelParam> fields);
  // Records which model a `ts.init` call initializes (for the lowering).
  void record_init(const Call& call, const FunctionInfo& model);
  // The user function a `Function` type refers to, or nullptr.
  static const FunctionInfo* user_function(const Type& t);

 private:
  friend struct CheckerImpl;
  const SourceManager& sources_;
  DiagnosticEngine& diags_;
  SemaOptions options_;
  std::unique_ptr<DimSolver> solver_;
  FunctionInfo* current_ = nullptr;
  int fresh_counter_ = 0;
  std::map<std::string, std::unique_ptr<FunctionInfo>> functions_;
  std::vector<FunctionInfo*> function_order_;
  std::map<std::string, std::unique_ptr<ClassInfo>> classes_;
  std::map<std::string, std::string> module_aliases_;  // local name -> "tessera.nn"
  std::map<std::string, std::string> imported_names_;  // local name -> builtin qualified name
  Program* program_ = nullptr;
  std::map<std::string, Checker*> user_modules_;                // `import mylib as m`: local name -> module
  std::map<std::string, FunctionInfo*> imported_functions_;     // `from mylib import f`
  std::map<std::string, ClassInfo*> imported_classes_;          // `from mylib import Point`
};

}  // namespace tessera::sema
