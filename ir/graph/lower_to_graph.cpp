// Typed AST -> Graph IR. One Lowerer walks the entry function and every user function it
// reaches, specializing each callee to the dimension values of its call site. Values:
// tensors are ranked `tensor<...>` (dynamic `?` where a dimension is not fixed), Python
// `Int`/`Float`/`Bool` values are `i64`/`f64`/`i1`. Control flow becomes `scf`; a
// `static_range` loop is unrolled.
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

namespace tessera::ir {

using namespace tessera::ast;
using sema::DimExpr;
using sema::Type;
using sema::TypeKind;

void load_graph_dialects(mlir::MLIRContext& ctx) {
  ctx.loadDialect<mlir::tessera::TesseraDialect, mlir::func::FuncDialect, mlir::arith::ArithDialect,
                  mlir::math::MathDialect, mlir::scf::SCFDialect, mlir::tensor::TensorDialect>();
}

namespace {

// A lowering that cannot continue; the diagnostic is already reported.
struct LoweringFailed {};

// A value of the program: its SSA value and its (symbolic) sema type.
struct Local {
  mlir::Value value;
  Type type;
  std::optional<double> literal;  // a number literal, folded into tensor constants
  std::vector<Local> elems;       // a tuple (the parts of split): its elements, and no value
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
  bool operator<(const SpecKey& o) const {
    return std::make_tuple(fn, dims, layout_keys()) < std::make_tuple(o.fn, o.dims, o.layout_keys());
  }
};

const std::set<std::string> kUnary = {"exp",  "log",  "log1p", "sqrt", "rsqrt", "tanh", "sigmoid",
                                      "sin",  "cos",  "relu",  "gelu", "silu",  "abs",  "neg"};
const std::map<std::string, std::string> kReductions = {
    {"sum", "sum"}, {"mean", "mean"}, {"var", "var"},   {"std", "std"},       {"max", "max"},
    {"min", "min"}, {"prod", "prod"}, {"argmax", "argmax"}, {"argmin", "argmin"}, {"logsumexp", "logsumexp"},
    {"logsumexp_safe", "logsumexp"}};

class Lowerer {
 public:
  Lowerer(mlir::MLIRContext& ctx, const SourceManager& sources, DiagnosticEngine& diags)
      : ctx_(ctx), b_(&ctx), sources_(sources), diags_(diags) {
    module_ = mlir::ModuleOp::create(mlir::UnknownLoc::get(&ctx));
  }

  mlir::OwningOpRef<mlir::ModuleOp> run(const sema::TypedModule& m, const GraphLoweringOptions& options) {
    mlir::OwningOpRef<mlir::ModuleOp> owned(module_);
    try {
      std::vector<const sema::TypedFunction*> roots;
      const sema::TypedFunction* main_fn = nullptr;
      for (const sema::TypedFunction* f : m.functions) {
        if (!options.entry.empty() && f->name == options.entry) roots.push_back(f);
        if (f->name == "main") main_fn = f;
      }
      if (options.all_functions) {
        roots.assign(m.functions.begin(), m.functions.end());
      } else if (options.entry.empty()) {
        if (main_fn) roots.push_back(main_fn);
        else roots.assign(m.functions.begin(), m.functions.end());
      }
      for (const sema::TypedFunction* f : roots) {
        // The program's entry cannot take parameters: its models need params=.
        if (f->is_model && !options.all_functions && (f == main_fn || f->name == options.entry)) {
          SourceRange where = f->range;
          for (const auto& [call, first] : f->layer_params)
            if (first == 0) where = call->range;
          unsupported(where, fmt::format("running '{}', which declares parameters (this call has no params=); create "
                                         "them with ts.init(model, seed=...) and pass params=",
                                         f->name));
        }
        declare(SpecKey{f, {}, {}}, /*root=*/true);
      }
      while (!work_.empty()) {
        auto [key, fn] = work_.front();
        work_.erase(work_.begin());
        lower_function(key, fn);
      }
      reject_recursion();
    } catch (const LoweringFailed&) {
      return nullptr;
    }
    // IR that its own dialect rejects is a bug of the lowering, not of the program.
    std::string errors;
    {
      mlir::ScopedDiagnosticHandler handler(&ctx_, [&](mlir::Diagnostic& d) {
        std::string text;
        llvm::raw_string_ostream os(text);
        os << d.getLocation() << ": " << d;
        errors += (errors.empty() ? "" : "\n") + text;
        return mlir::success();
      });
      if (mlir::failed(mlir::verify(*owned))) TSR_ICE("graph lowering", "the generated Graph IR does not verify:\n" + errors);
      // Graph-level cleanup: constants folded and shared, dead values dropped.
      mlir::PassManager pm(&ctx_);
      pm.addPass(mlir::createCanonicalizerPass());
      pm.addPass(mlir::createCSEPass());
      if (mlir::failed(pm.run(*owned))) TSR_ICE("graph lowering", "canonicalization failed:\n" + errors);
    }
    return owned;
  }

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

  // Compiled code cannot recurse yet (buffers cross calls by ownership, which recursion breaks);
  // a call that closes a cycle is reported where it is.
  void reject_recursion() {
    std::map<mlir::Operation*, std::vector<const CallEdge*>> out;
    for (const CallEdge& e : calls_) out[e.caller].push_back(&e);
    std::map<mlir::Operation*, int> state;  // 1 on the stack, 2 done
    std::function<void(mlir::Operation*)> visit = [&](mlir::Operation* f) {
      state[f] = 1;
      for (const CallEdge* e : out[f]) {
        mlir::Operation* g = e->callee;
        if (state[g] == 1)
          unsupported(e->where, fmt::format("recursive calls ('{}' calls itself through this call)", e->callee_name));
        if (state[g] == 0) visit(g);
      }
      state[f] = 2;
    };
    for (const CallEdge& e : calls_)
      if (state[e.caller] == 0) visit(e.caller);
  }

  // Per function.
  const sema::TypedFunction* fn_ = nullptr;
  std::map<std::string, DimExpr> dim_subst_;      // dimension -> its value, as an expression
  std::map<std::string, mlir::Value> dim_values_;  // dynamic dimension -> `index` value
  std::vector<std::map<std::string, Local>> scopes_;
  std::optional<Local> returned_;
  mlir::Block* entry_ = nullptr;
  std::vector<Local> model_args_;  // a model's parameters (its extra arguments)

  // ---- values made of several SSA values (Params, optimizers) through control flow

  static void flatten(const Local& l, std::vector<mlir::Value>& out) {
    if (l.value) out.push_back(l.value);
    else
      for (const Local& e : l.elems) flatten(e, out);
  }
  // `cur` as the values of `proto`'s structure, each converted to proto's type.
  void flatten_as(const Local& cur, const Local& proto, std::vector<mlir::Value>& out, SourceRange r) {
    if (proto.value) {
      if (!cur.value) unsupported(r, "a name that changes from a tensor to another kind of value in a loop or branch");
      out.push_back(convert(cur, proto.value.getType(), r));
      return;
    }
    if (cur.value || cur.elems.size() != proto.elems.size() || cur.names != proto.names || cur.object != proto.object)
      unsupported(r, "a Params, optimizer or tuple that changes its structure in a loop or branch");
    for (size_t i = 0; i < proto.elems.size(); ++i) flatten_as(cur.elems[i], proto.elems[i], out, r);
  }
  static Local rebuild(const Local& proto, mlir::ValueRange values, size_t& pos) {
    Local r = proto;
    if (proto.value) {
      r.value = values[pos++];
      r.literal.reset();
      return r;
    }
    for (Local& e : r.elems) e = rebuild(e, values, pos);
    return r;
  }

  // The value of a dynamic dimension, read at the function's entry from the first argument
  // that has it as an axis, or from a `Const[H]` argument.
  std::optional<mlir::Value> dynamic_dim_value(const std::string& d) {
    if (auto it = dim_values_.find(d); it != dim_values_.end()) return it->second;
    mlir::OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPointToStart(entry_);
    mlir::Location l = loc(fn_->range);
    for (size_t i = 0; i < fn_->params.size(); ++i) {
      const Type& t = fn_->params[i].type;
      if (t && t->kind == TypeKind::Tensor && t->shape) {
        for (size_t k = 0; k < t->shape->size(); ++k)
          if ((*t->shape)[k].as_symbol() == d)
            return dim_values_[d] = b_.create<mlir::tensor::DimOp>(l, entry_->getArgument(i), k);
      } else if (t && t->kind == TypeKind::Int && t->int_value && t->int_value->as_symbol() == d) {
        return dim_values_[d] = b_.create<mlir::arith::IndexCastOp>(l, b_.getIndexType(), entry_->getArgument(i));
      }
    }
    return std::nullopt;
  }

  [[noreturn]] void unsupported(SourceRange where, const std::string& what) {
    diags_.report(DiagKind::NotYetSupported, where, what + " (in the Graph IR lowering)");
    throw LoweringFailed{};
  }

  mlir::Location loc(SourceRange r) {
    if (!r.begin.valid()) return mlir::UnknownLoc::get(&ctx_);
    LineCol lc = sources_.line_col(r.begin);
    return mlir::FileLineColLoc::get(&ctx_, sources_.file(r.begin.file).name, lc.line, lc.col);
  }

  // ------------------------------------------------------------------ types

  mlir::Type element_type(sema::DType d) {
    switch (d) {
      case sema::DType::F64: return b_.getF64Type();
      case sema::DType::F32: return b_.getF32Type();
      case sema::DType::F16: return b_.getF16Type();
      case sema::DType::BF16: return b_.getBF16Type();
      case sema::DType::F8E4M3: return b_.getFloat8E4M3FNType();
      case sema::DType::F8E5M2: return b_.getFloat8E5M2Type();
      case sema::DType::I64: return b_.getI64Type();
      case sema::DType::I32: return b_.getI32Type();
      case sema::DType::I16: return b_.getI16Type();
      case sema::DType::I8: return b_.getI8Type();
      case sema::DType::U8: return b_.getI8Type();
      case sema::DType::Bool: return b_.getI1Type();
    }
    return b_.getF32Type();
  }

  // A dimension under the current specialization: its value when fixed, else dynamic.
  std::optional<int64_t> static_dim(const DimExpr& d) {
    DimExpr e = d.substitute(dim_subst_);
    if (e.is_constant()) return e.constant_value();
    return std::nullopt;
  }

  mlir::Type to_mlir(const Type& t, SourceRange where) {
    if (!t || t->kind == TypeKind::Unknown) unsupported(where, "a value whose type is not known");
    switch (t->kind) {
      case TypeKind::Int: return b_.getI64Type();
      case TypeKind::Float: return b_.getF64Type();
      case TypeKind::Bool: return b_.getI1Type();
      case TypeKind::Tensor: {
        if (!t->shape) unsupported(where, "a tensor whose rank is not known");
        std::vector<int64_t> shape;
        for (const DimExpr& d : *t->shape) shape.push_back(static_dim(d).value_or(mlir::ShapedType::kDynamic));
        return mlir::RankedTensorType::get(shape, element_type(t->dtype));
      }
      default: unsupported(where, feature_of(t));
    }
  }

  // The language feature a value of a type that does not lower belongs to, for the E0900 text.
  static std::string feature_of(const Type& t) {
    switch (t->kind) {
      case TypeKind::Posterior: return "probabilistic inference (Posterior values of @mcmc and @variational functions)";
      case TypeKind::Distribution: return "distributions as values (sampling with '~' and inference)";
      case TypeKind::Params: return "models with parameters (tessera.nn layers, ts.init, Params)";
      case TypeKind::Object:
        if (t->name.rfind("tile.", 0) == 0) return "the tile programming model (tile.context, tile.program_id, tile.load/store)";
        return fmt::format("values of type {}", sema::to_string(t));
      case TypeKind::Function:
        if (t->name == "transformed") return "automatic differentiation (grad, value_and_grad, vjp, jvp)";
        return "functions as values";
      default: return fmt::format("values of type {}", sema::to_string(t));
    }
  }

  // Names of the transforms of automatic differentiation.
  static bool is_ad_transform(const std::string& name) {
    return name == "grad" || name == "value_and_grad" || name == "vjp" || name == "jvp" ||
           name == "hessian_vector_product" || name == "custom_vjp";
  }

  Type type_of(const Expr* e) {
    auto it = fn_->expr_types.find(e);
    if (it == fn_->expr_types.end() || !it->second) unsupported(e->range, "an expression that was not type-checked");
    return it->second;
  }

  mlir::Attribute policy_attr(const Type& t) {
    if (!t || t->kind != TypeKind::Tensor || t->policy.empty()) return {};
    const sema::Policy& p = t->policy;
    return mlir::tessera::PolicyAttr::get(&ctx_, p.accum ? element_type(*p.accum) : mlir::Type{},
                                          p.loss_scale ? b_.getF64FloatAttr(*p.loss_scale) : mlir::FloatAttr{},
                                          p.rounding == "stochastic", p.saturate, p.deterministic,
                                          p.device.empty() ? mlir::StringAttr{} : b_.getStringAttr(p.device));
  }

  // ------------------------------------------------------------- functions

  std::string mangle(const SpecKey& key, bool root) {
    // Functions other than the roots get a prefix that no C name has, so that a user function
    // called `exp` or `free` cannot clash with the C library in compiled code.
    std::string name = root ? entry_symbol(key.fn->name) : "tsr." + key.fn->name;
    if (!key.dims.empty()) {
      name += "_";
      for (const auto& [d, v] : key.dims) name += fmt::format("_{}{}", d, v);
    }
    std::string unique = name;
    for (int i = 2; names_.count(unique); ++i) unique = fmt::format("{}_{}", name, i);
    names_.insert(unique);
    return unique;
  }

  void set_dims(const SpecKey& key) {
    dim_subst_.clear();
    for (const auto& [d, v] : key.dims) dim_subst_.emplace(d, DimExpr::constant(v));
  }

  mlir::func::FuncOp declare(const SpecKey& key, bool root = false) {
    if (auto it = specs_.find(key); it != specs_.end()) return it->second;
    const sema::TypedFunction& f = *key.fn;
    if (!f.ok) unsupported(f.range, fmt::format("lowering '{}', which has errors", f.name));
    // Modifier decorators whose meaning no stage implements yet: never ignored.
    for (const std::string& d : f.decorators) {
      if (d == "distributed")
        unsupported(f.range, fmt::format("distributed execution (@distributed on '{}'; meshes and collectives arrive "
                                         "with the distributed stage)",
                                         f.name));
      if (d == "monitor_numerics")
        unsupported(f.range, fmt::format("@monitor_numerics on '{}' (`tesserac run --debug-numerics` stops at the "
                                         "first NaN or Inf of any function)",
                                         f.name));
      if (d == "accumulate")
        unsupported(f.range, fmt::format("@accumulate on '{}' (write the policy on the tensor types instead: "
                                         "Tensor[..., bf16 @accum(f32)])",
                                         f.name));
    }
    auto saved_fn = fn_;
    auto saved = dim_subst_;
    fn_ = &f;
    set_dims(key);
    std::vector<mlir::Type> inputs, outputs;
    std::vector<unsigned> donated;  // the function arguments of donated parameters
    for (size_t i = 0; i < f.params.size(); ++i) {
      const auto& p = f.params[i];
      size_t first = inputs.size();
      if (p.type && p.type->kind == TypeKind::Params) {
        auto it = key.layouts.find(i);
        if (it == key.layouts.end()) unsupported(p.range, "a Params argument whose parameters are not known");
        for (const auto& [n, t] : it->second) inputs.push_back(to_mlir(t, p.range));
      } else {
        inputs.push_back(to_mlir(p.type, p.range));
      }
      if (std::find(f.donate_argnums.begin(), f.donate_argnums.end(), int64_t(i)) != f.donate_argnums.end())
        for (size_t a = first; a < inputs.size(); ++a) donated.push_back(unsigned(a));
    }
    // A model takes its parameters after the declared arguments, in declaration order.
    for (const sema::ModelParam& p : f.model_params) inputs.push_back(to_mlir(sema::tensor_type(p.dtype, p.shape), f.range));
    Type ret = f.declared_return ? f.declared_return : f.inferred_return;
    // A returned Params has the parameters of the function's Params arguments (one layout).
    const Layout* layout = params_layout(key);
    if (ret && ret->kind != TypeKind::None) flat_types(ret, f.range, outputs, layout);
    std::optional<SpecKey> bwd_key = custom_vjp_key(f);
    fn_ = saved_fn;
    dim_subst_ = saved;
    mlir::OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPointToEnd(module_.getBody());
    auto func = b_.create<mlir::func::FuncOp>(loc(f.range), mangle(key, root), b_.getFunctionType(inputs, outputs));
    if (!root) func.setPrivate();
    specs_.emplace(key, func);
    if (layout) returned_layouts_[func.getOperation()] = *layout;
    work_.push_back({key, func});
    if (bwd_key) mark_custom_vjp(func, *bwd_key);
    // `@checkpoint`: read by reverse AD for the loops of this function (docs/autodiff.md).
    if (f.checkpoint_every >= 0) func->setAttr("tessera.checkpoint", b_.getI64IntegerAttr(f.checkpoint_every));
    // `donate_argnums`: the entry may update these arguments in place (ir/schedule/Passes.h,
    // kDonatedAttr; docs/codegen.md).
    if (root)
      for (unsigned a : donated) func.setArgAttr(a, "tessera.donated", b_.getUnitAttr());
    return func;
  }

  // `@custom_vjp(bwd)`: the specialization of bwd that goes with the current one of f (its
  // dimensions from f's, dim_subst_ being f's).
  std::optional<SpecKey> custom_vjp_key(const sema::TypedFunction& f) {
    if (!f.custom_vjp.callee) return std::nullopt;
    SpecKey key{f.custom_vjp.callee, {}, {}};
    for (const std::string& d : key.fn->dims) {
      auto it = f.custom_vjp.dims.find(d);
      if (it == f.custom_vjp.dims.end()) continue;
      if (auto v = static_dim(it->second)) key.dims[d] = *v;
    }
    return key;
  }

  // Names bwd's specialization on f's func.func (`tessera.custom_vjp = @bwd`): reverse AD calls it
  // instead of differentiating (and inlining) f. Its types are f's inputs, then f's result twice
  // -> f's floating-point inputs (sema checked the surface types).
  void mark_custom_vjp(mlir::func::FuncOp f, const SpecKey& bwd_key) {
    const sema::TypedFunction& fn = *key_fn(f);
    for (const auto& p : fn.params)
      if (p.type && p.type->kind == TypeKind::Params)
        unsupported(fn.range, "@custom_vjp on a function with a Params argument");
    if (!fn.model_params.empty()) unsupported(fn.range, "@custom_vjp on a model that declares parameters");
    mlir::func::FuncOp bwd = declare(bwd_key);
    f->setAttr("tessera.custom_vjp", mlir::FlatSymbolRefAttr::get(bwd.getSymNameAttr()));
  }

  const sema::TypedFunction* key_fn(mlir::func::FuncOp f) {
    for (const auto& [k, v] : specs_)
      if (v == f) return k.fn;
    return nullptr;
  }

  void lower_function(const SpecKey& key, mlir::func::FuncOp func) {
    const sema::TypedFunction& f = *key.fn;
    current_func_ = func;
    fn_ = &f;
    set_dims(key);
    dim_values_.clear();
    scopes_.assign(1, {});
    returned_.reset();
    mlir::Block* entry = func.addEntryBlock();
    b_.setInsertionPointToStart(entry);
    size_t arg = 0;
    for (size_t i = 0; i < f.params.size(); ++i) {
      if (auto it = key.layouts.find(i); it != key.layouts.end()) {
        Local bundle;
        bundle.type = f.params[i].type;
        bundle.object = "params";
        for (const auto& [n, t] : it->second) {
          bundle.names.push_back(n);
          bundle.elems.push_back({entry->getArgument(arg++), t});
        }
        scopes_.back()[f.params[i].name] = bundle;
        continue;
      }
      scopes_.back()[f.params[i].name] = {entry->getArgument(arg++), f.params[i].type};
    }
    model_args_.clear();
    for (const sema::ModelParam& p : f.model_params)
      model_args_.push_back({entry->getArgument(arg++), sema::tensor_type(p.dtype, p.shape)});
    entry_ = entry;
    block(f.def->body, /*top=*/true);
    mlir::Location end = loc(f.range);
    if (func.getFunctionType().getNumResults() == 0) {
      b_.create<mlir::func::ReturnOp>(end);
    } else {
      if (!returned_) unsupported(f.range, fmt::format("'{}' does not end with a return", f.name));
      // A tuple returns its elements (flattened, in order) as the function's results.
      std::vector<Local> parts;
      auto layout = returned_layouts_.find(func.getOperation());
      flat_locals(*returned_, f.range, parts, layout == returned_layouts_.end() ? nullptr : &layout->second);
      auto results = func.getFunctionType().getResults();
      if (parts.size() != results.size()) unsupported(f.range, fmt::format("what '{}' returns", f.name));
      std::vector<mlir::Value> values;
      for (size_t i = 0; i < parts.size(); ++i) values.push_back(convert(parts[i], results[i], f.range));
      b_.create<mlir::func::ReturnOp>(end, values);
    }
  }

  using Layout = std::vector<std::pair<std::string, Type>>;

  // The parameters of a specialization's Params arguments, when they all have the same ones
  // (null otherwise, or without Params arguments).
  static const Layout* params_layout(const SpecKey& key) {
    const Layout* out = nullptr;
    for (const auto& [i, l] : key.layouts) {
      if (out && !same_layout(*out, l)) return nullptr;
      out = &l;
    }
    return out;
  }

  static bool same_layout(const Layout& a, const Layout& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].first != b[i].first || sema::to_string(a[i].second) != sema::to_string(b[i].second)) return false;
    return true;
  }

  static constexpr const char* kParamsResult =
      "returning Params other than those of the function's Params arguments (same names and shapes)";

  // Tuples cross function boundaries flattened: (a, (b, c)) is three results; a Params is its
  // tensors, in the order of `layout` (its Params arguments').
  void flat_types(const Type& t, const SourceRange& where, std::vector<mlir::Type>& out,
                  const Layout* layout = nullptr) {
    if (t && t->kind == TypeKind::Tuple) {
      for (const Type& e : t->elems) flat_types(e, where, out, layout);
      return;
    }
    if (t && t->kind == TypeKind::Params) {
      if (!layout) unsupported(where, kParamsResult);
      for (const auto& [n, e] : *layout) out.push_back(to_mlir(e, where));
      return;
    }
    out.push_back(to_mlir(t, where));
  }

  void flat_locals(const Local& l, const SourceRange& where, std::vector<Local>& out,
                   const Layout* layout = nullptr) {
    if (l.type && l.type->kind == TypeKind::Tuple) {
      if (l.elems.size() != l.type->elems.size()) unsupported(where, "a tuple whose parts are not known");
      for (const Local& e : l.elems) flat_locals(e, where, out, layout);
      return;
    }
    if (l.object == "params" && layout) {
      if (l.names.size() != layout->size()) unsupported(where, kParamsResult);
      std::vector<std::string> names;
      for (const auto& [n, t] : *layout) names.push_back(n);
      for (Local& e : by_names(l, names, where)) out.push_back(e);
      return;
    }
    out.push_back(l);
  }

  // The inverse of flat_locals: rebuilds a value of type `t` from results[next...].
  Local unflatten(const Type& t, mlir::ValueRange results, size_t& next, const Layout* layout = nullptr) {
    if (t && t->kind == TypeKind::Tuple) {
      Local out;
      out.type = t;
      for (const Type& e : t->elems) out.elems.push_back(unflatten(e, results, next, layout));
      return out;
    }
    if (t && t->kind == TypeKind::Params && layout) {
      Local bundle;
      bundle.type = t;
      bundle.object = "params";
      for (const auto& [n, e] : *layout) {
        bundle.names.push_back(n);
        bundle.elems.push_back({results[next++], e});
      }
      return bundle;
    }
    return {results[next++], t};
  }

  // ------------------------------------------------------------- statements

  Local* lookup(const std::string& name) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      if (auto f = it->find(name); f != it->end()) return &f->second;
    return nullptr;
  }

  void assign(const std::string& name, Local v) {
    if (Local* l = lookup(name)) *l = v;
    else scopes_.back()[name] = v;
  }

  void block(const Body& body, bool top = false) {
    for (size_t i = 0; i < body.size(); ++i) {
      const Stmt* s = body[i];
      if (returned_) unsupported(s->range, "code after 'return'");
      stmt(s, top && i + 1 == body.size());
    }
  }

  void stmt(const Stmt* s, bool last_top) {
    switch (s->kind) {
      case NodeKind::ExprStmt: {
        auto* e = cast<ExprStmt>(s)->expr;
        if (isa<StringLiteralExpr>(e)) return;  // docstring
        expr(e);
        return;
      }
      case NodeKind::AssignStmt: {
        auto* a = cast<AssignStmt>(s);
        Local v = expr(a->value);
        for (const Expr* t : a->targets) assign_target(t, v);
        return;
      }
      case NodeKind::AnnAssignStmt: {
        auto* a = cast<AnnAssignStmt>(s);
        if (!a->value) return;
        assign_target(a->target, expr(a->value));
        return;
      }
      case NodeKind::AugAssignStmt: {
        auto* a = cast<AugAssignStmt>(s);
        auto* n = dyn_cast<NameExpr>(a->target);
        if (!n) unsupported(a->target->range, "augmented assignment to anything but a name");
        Local* cur = lookup(n->name);
        if (!cur) unsupported(a->target->range, fmt::format("'{}' before assignment", n->name));
        Local rhs = expr(a->value);
        // The checker typed `x += y` as `x = x + y`: the result type is x's type again.
        Local out = binary(a->op, *cur, rhs, cur->type, a->range);
        assign(n->name, out);
        return;
      }
      case NodeKind::ReturnStmt: {
        auto* r = cast<ReturnStmt>(s);
        if (!last_top) unsupported(s->range, "'return' other than as the last statement of a function");
        if (r->value) returned_ = expr(r->value);
        return;
      }
      case NodeKind::PassStmt: return;
      case NodeKind::AssertStmt: return;  // checked statically (preconditions) or by sema
      case NodeKind::IfStmt: return if_stmt(cast<IfStmt>(s));
      case NodeKind::WhileStmt: return while_stmt(cast<WhileStmt>(s));
      case NodeKind::ForStmt: return for_stmt(cast<ForStmt>(s));
      default: unsupported(s->range, "this statement");
    }
  }

  void assign_target(const Expr* target, const Local& v) {
    if (auto* n = dyn_cast<NameExpr>(target)) return assign(n->name, v);
    if (auto* tu = dyn_cast<TupleExpr>(target)) {
      // `a, b = split(x, 2)`: one name per element (the checker matched the counts).
      if (v.value || v.elems.size() != tu->elements.size()) unsupported(target->range, "unpacking this value");
      for (size_t i = 0; i < tu->elements.size(); ++i) assign_target(tu->elements[i], v.elems[i]);
      return;
    }
    unsupported(target->range, "assignment to anything but a name");
  }

  // Names assigned anywhere in a block (targets of assignments and loops).
  static void assigned_names(const Body& body, std::vector<std::string>& out) {
    std::function<void(const Expr*)> add = [&](const Expr* t) {
      if (auto* n = dyn_cast<NameExpr>(t))
        if (std::find(out.begin(), out.end(), n->name) == out.end()) out.push_back(n->name);
      if (auto* tu = dyn_cast<TupleExpr>(t))  // `a, (b, c) = f(x)` assigns a, b and c
        for (const Expr* e : tu->elements) add(e);
    };
    // `opt.step(...)` rebinds `opt` (the optimizer's new state).
    std::function<void(const Expr*)> steps = [&](const Expr* e) {
      if (!e) return;
      if (auto* c = dyn_cast<CallExpr>(e)) {
        if (auto* at = dyn_cast<AttributeExpr>(c->callee); at && at->name == "step") add(at->object);
        steps(c->callee);
        for (const Argument& a : c->args) steps(a.value);
      } else if (auto* b = dyn_cast<BinaryExpr>(e)) {
        steps(b->lhs);
        steps(b->rhs);
      } else if (auto* u = dyn_cast<UnaryExpr>(e)) {
        steps(u->operand);
      } else if (auto* t = dyn_cast<TupleExpr>(e)) {
        for (const Expr* x : t->elements) steps(x);
      } else if (auto* a = dyn_cast<AttributeExpr>(e)) {
        steps(a->object);
      } else if (auto* sub = dyn_cast<SubscriptExpr>(e)) {
        steps(sub->object);
      }
    };
    for (const Stmt* s : body) {
      if (auto* a = dyn_cast<AssignStmt>(s)) steps(a->value);
      if (auto* x = dyn_cast<ExprStmt>(s)) steps(x->expr);
      if (auto* a = dyn_cast<AssignStmt>(s)) for (const Expr* t : a->targets) add(t);
      if (auto* a = dyn_cast<AugAssignStmt>(s)) add(a->target);
      if (auto* a = dyn_cast<AnnAssignStmt>(s)) add(a->target);
      if (auto* i = dyn_cast<IfStmt>(s)) {
        assigned_names(i->then_body, out);
        assigned_names(i->else_body, out);
      }
      if (auto* w = dyn_cast<WhileStmt>(s)) assigned_names(w->body, out);
      if (auto* f = dyn_cast<ForStmt>(s)) {
        add(f->target);
        assigned_names(f->body, out);
      }
    }
  }

  // The values that flow out of a region: names assigned in it that exist before it.
  std::vector<std::pair<std::string, Local>> carried(const std::vector<const Body*>& bodies) {
    std::vector<std::string> names;
    for (const Body* b : bodies) assigned_names(*b, names);
    std::vector<std::pair<std::string, Local>> out;
    for (const std::string& n : names)
      if (Local* l = lookup(n)) out.push_back({n, *l});
    return out;
  }

  mlir::Value condition(const Expr* e) {
    Local c = expr(e);
    mlir::Type t = c.value.getType();
    if (auto rt = mlir::dyn_cast<mlir::RankedTensorType>(t)) {
      if (rt.getRank() != 0) unsupported(e->range, "a condition that is not a scalar");
      mlir::Value v = b_.create<mlir::tensor::ExtractOp>(loc(e->range), c.value, mlir::ValueRange{});
      return truthy(v, e->range);
    }
    return truthy(c.value, e->range);
  }

  mlir::Value truthy(mlir::Value v, SourceRange r) {
    mlir::Type t = v.getType();
    if (t.isInteger(1)) return v;
    if (mlir::isa<mlir::FloatType>(t)) {
      mlir::Value zero = b_.create<mlir::arith::ConstantOp>(loc(r), b_.getFloatAttr(t, 0.0));
      return b_.create<mlir::arith::CmpFOp>(loc(r), mlir::arith::CmpFPredicate::UNE, v, zero);
    }
    if (mlir::isa<mlir::IntegerType>(t)) {
      mlir::Value zero = b_.create<mlir::arith::ConstantOp>(loc(r), b_.getIntegerAttr(t, 0));
      return b_.create<mlir::arith::CmpIOp>(loc(r), mlir::arith::CmpIPredicate::ne, v, zero);
    }
    unsupported(r, "this condition");
  }

  // `if`: an scf.if whose results are the names the branches assign that exist before it, or
  // that both branches assign (Python keeps them after the `if`). The branches are lowered
  // first, into an scf.if without results, then moved into one with the result types.
  void if_stmt(const IfStmt* s) {
    mlir::Value cond = condition(s->cond);
    mlir::Location l = loc(s->range);
    std::vector<std::string> then_names, else_names;
    assigned_names(s->then_body, then_names);
    assigned_names(s->else_body, else_names);
    auto draft = b_.create<mlir::scf::IfOp>(l, mlir::TypeRange{}, cond, /*withElseRegion=*/true);
    struct Branch {
      mlir::Block* block;
      std::map<std::string, Local> values;  // every name visible at its end
    };
    std::map<std::string, Local> before;
    for (auto& scope : scopes_)
      for (auto& [n, v] : scope) before[n] = v;
    auto lower_branch = [&](mlir::Block* blk, const Body& body) {
      mlir::OpBuilder::InsertionGuard guard(b_);
      if (!blk->empty() && blk->back().hasTrait<mlir::OpTrait::IsTerminator>()) blk->back().erase();
      b_.setInsertionPointToEnd(blk);
      scopes_.emplace_back();
      block(body);
      Branch out{blk, {}};
      for (auto& scope : scopes_)
        for (auto& [n, v] : scope) out.values[n] = v;
      scopes_.pop_back();
      for (auto& [n, v] : before) assign(n, v);  // the else branch starts from the same state
      return out;
    };
    Branch then_b = lower_branch(&draft.getThenRegion().front(), s->then_body);
    Branch else_b = lower_branch(&draft.getElseRegion().front(), s->else_body);
    std::vector<std::pair<std::string, Local>> outs;
    auto in = [](const std::vector<std::string>& v, const std::string& n) {
      return std::find(v.begin(), v.end(), n) != v.end();
    };
    std::vector<std::string> names = then_names;
    for (const auto& n : else_names)
      if (!in(names, n)) names.push_back(n);
    for (const auto& n : names) {
      if (before.count(n)) outs.push_back({n, before[n]});
      else if (in(then_names, n) && in(else_names, n) && then_b.values.count(n) && else_b.values.count(n))
        outs.push_back({n, then_b.values[n]});
    }
    std::vector<mlir::Type> types;
    {
      std::vector<mlir::Value> protos;
      for (auto& [n, v] : outs) flatten(v, protos);
      for (mlir::Value v : protos) types.push_back(v.getType());
    }
    for (Branch* br : {&then_b, &else_b}) {
      mlir::OpBuilder::InsertionGuard guard(b_);
      b_.setInsertionPointToEnd(br->block);
      std::vector<mlir::Value> yielded;
      for (size_t i = 0; i < outs.size(); ++i) flatten_as(br->values.at(outs[i].first), outs[i].second, yielded, s->range);
      b_.create<mlir::scf::YieldOp>(l, yielded);
    }
    auto op = b_.create<mlir::scf::IfOp>(l, types, cond, /*withElseRegion=*/true);
    op.getThenRegion().takeBody(draft.getThenRegion());
    op.getElseRegion().takeBody(draft.getElseRegion());
    draft.erase();
    size_t pos = 0;
    for (size_t i = 0; i < outs.size(); ++i) assign(outs[i].first, rebuild(outs[i].second, op->getResults(), pos));
  }

  void while_stmt(const WhileStmt* s) {
    if (!s->else_body.empty()) unsupported(s->range, "'while ... else'");
    auto outs = carried({&s->body});
    std::vector<mlir::Type> types;
    std::vector<mlir::Value> inits;
    std::vector<mlir::Location> locs;
    for (auto& [n, l] : outs) flatten(l, inits);
    for (mlir::Value v : inits) {
      types.push_back(v.getType());
      locs.push_back(loc(s->range));
    }
    auto op = b_.create<mlir::scf::WhileOp>(loc(s->range), types, inits);
    {
      mlir::OpBuilder::InsertionGuard guard(b_);
      mlir::Block* before = b_.createBlock(&op.getBefore(), {}, types, locs);
      size_t pos = 0;
      for (size_t i = 0; i < outs.size(); ++i) assign(outs[i].first, rebuild(outs[i].second, before->getArguments(), pos));
      mlir::Value cond = condition(s->cond);
      b_.create<mlir::scf::ConditionOp>(loc(s->cond->range), cond, before->getArguments());
      mlir::Block* after = b_.createBlock(&op.getAfter(), {}, types, locs);
      pos = 0;
      for (size_t i = 0; i < outs.size(); ++i) assign(outs[i].first, rebuild(outs[i].second, after->getArguments(), pos));
      scopes_.emplace_back();
      block(s->body);
      std::vector<mlir::Value> yielded;
      for (auto& [n, l] : outs) flatten_as(*lookup(n), l, yielded, s->range);
      scopes_.pop_back();
      b_.create<mlir::scf::YieldOp>(loc(s->range), yielded);
    }
    size_t pos = 0;
    for (size_t i = 0; i < outs.size(); ++i) assign(outs[i].first, rebuild(outs[i].second, op->getResults(), pos));
  }

  // `tessera.static_range(n)` / `range(...)` as a call, or nullptr.
  const CallExpr* range_call(const Expr* iter, bool& is_static) {
    auto* call = dyn_cast<CallExpr>(iter);
    if (!call) return nullptr;
    std::string callee;
    if (auto* n = dyn_cast<NameExpr>(call->callee)) callee = n->name;
    else if (auto* a = dyn_cast<AttributeExpr>(call->callee)) callee = a->name;
    is_static = callee == "static_range";
    return callee == "static_range" || callee == "range" ? call : nullptr;
  }

  std::optional<int64_t> constant_int(const Expr* e) {
    Type t = type_of(e);
    if (t && t->kind == TypeKind::Int && t->int_value) return static_dim(*t->int_value);
    return std::nullopt;
  }

  void for_stmt(const ForStmt* s) {
    if (!s->else_body.empty()) unsupported(s->range, "'for ... else'");
    auto* target = dyn_cast<NameExpr>(s->target);
    bool is_static = false;
    const CallExpr* range = range_call(s->iter, is_static);
    if (!target || !range || range->args.empty() || range->args.size() > 3)
      unsupported(s->iter->range, "a 'for' loop over anything but range(...) or static_range(...)");
    for (const Argument& a : range->args)
      if (a.kind != ArgKind::Positional) unsupported(a.range, "this argument of range(...)");
    auto bound = [&](size_t i, int64_t dflt) -> std::optional<int64_t> {
      if (range->args.size() == 1) return i == 1 ? constant_int(range->args[0].value) : std::optional<int64_t>(dflt);
      if (i < range->args.size()) return constant_int(range->args[i].value);
      return dflt;
    };
    if (is_static) {
      auto lo = bound(0, 0), hi = bound(1, 0), st = bound(2, 1);
      if (!lo || !hi || !st || *st == 0) unsupported(s->iter->range, "static_range bounds that are not known at compile time");
      for (int64_t i = *lo; *st > 0 ? i < *hi : i > *hi; i += *st) {
        mlir::Value iv = b_.create<mlir::arith::ConstantOp>(loc(s->target->range), b_.getI64IntegerAttr(i));
        assign(target->name, {iv, sema::int_type(DimExpr::constant(i))});
        block(s->body);
      }
      return;
    }
    // range(): scf.for over index with the assigned names carried.
    auto index = [&](size_t i, int64_t dflt) -> mlir::Value {
      const Expr* e = range->args.size() == 1 ? (i == 1 ? range->args[0].value : nullptr)
                                              : (i < range->args.size() ? range->args[i].value : nullptr);
      if (!e) return b_.create<mlir::arith::ConstantIndexOp>(loc(s->iter->range), dflt);
      Local v = expr(e);
      return b_.create<mlir::arith::IndexCastOp>(loc(e->range), b_.getIndexType(), convert(v, b_.getI64Type(), e->range));
    };
    mlir::Value lo = index(0, 0), hi = index(1, 0), st = index(2, 1);
    auto outs = carried({&s->body});
    std::vector<mlir::Value> inits;
    for (auto& [n, l] : outs) flatten(l, inits);
    auto op = b_.create<mlir::scf::ForOp>(loc(s->range), lo, hi, st, inits);
    {
      mlir::OpBuilder::InsertionGuard guard(b_);
      mlir::Block* body = op.getBody();
      if (!body->empty() && body->back().hasTrait<mlir::OpTrait::IsTerminator>()) body->back().erase();
      b_.setInsertionPointToEnd(body);
      mlir::Value iv = b_.create<mlir::arith::IndexCastOp>(loc(s->target->range), b_.getI64Type(), op.getInductionVar());
      size_t pos = 0;
      for (size_t i = 0; i < outs.size(); ++i) assign(outs[i].first, rebuild(outs[i].second, op.getRegionIterArgs(), pos));
      scopes_.emplace_back();
      scopes_.back()[target->name] = {iv, sema::int_type()};
      block(s->body);
      std::vector<mlir::Value> yielded;
      for (auto& [n, l] : outs) flatten_as(*lookup(n), l, yielded, s->range);
      scopes_.pop_back();
      b_.create<mlir::scf::YieldOp>(loc(s->range), yielded);
    }
    size_t pos = 0;
    for (size_t i = 0; i < outs.size(); ++i) assign(outs[i].first, rebuild(outs[i].second, op->getResults(), pos));
  }

  // ------------------------------------------------------------ conversions

  // Converts a value to `want`: scalar widening/narrowing, scalar -> rank-0 tensor, dtype casts
  // of tensors, and static <-> dynamic shape casts.
  mlir::Value convert(const Local& v, mlir::Type want, SourceRange r) {
    mlir::Value x = v.value;
    mlir::Type have = x.getType();
    if (have == want) return x;
    mlir::Location l = loc(r);
    auto want_tensor = mlir::dyn_cast<mlir::RankedTensorType>(want);
    auto have_tensor = mlir::dyn_cast<mlir::RankedTensorType>(have);
    if (want_tensor && !have_tensor && v.literal && want_tensor.hasStaticShape()) {
      mlir::Type elt = want_tensor.getElementType();
      mlir::Attribute a = mlir::isa<mlir::FloatType>(elt) ? mlir::Attribute(b_.getFloatAttr(elt, *v.literal))
                                                         : mlir::Attribute(b_.getIntegerAttr(elt, static_cast<int64_t>(*v.literal)));
      return b_.create<mlir::arith::ConstantOp>(l, mlir::DenseElementsAttr::get(want_tensor, a));
    }
    if (want_tensor && !have_tensor) {
      mlir::Value e = convert_scalar(x, want_tensor.getElementType(), r);
      auto t0 = mlir::RankedTensorType::get({}, want_tensor.getElementType());
      mlir::Value t = b_.create<mlir::tensor::FromElementsOp>(l, t0, mlir::ValueRange{e});
      if (t0 == want) return t;
      return b_.create(cast_state(l, "tessera.broadcast_to", {t}, want))->getResult(0);
    }
    if (!want_tensor && have_tensor) {
      if (have_tensor.getRank() != 0) unsupported(r, "using a tensor as a scalar");
      mlir::Value e = b_.create<mlir::tensor::ExtractOp>(l, x, mlir::ValueRange{});
      return convert_scalar(e, want, r);
    }
    if (want_tensor && have_tensor) {
      if (have_tensor.getElementType() != want_tensor.getElementType()) {
        auto same_shape = mlir::RankedTensorType::get(have_tensor.getShape(), want_tensor.getElementType());
        x = b_.create(cast_state(l, "tessera.cast", {x}, same_shape))->getResult(0);
        have_tensor = same_shape;
      }
      if (have_tensor == want_tensor) return x;
      if (have_tensor.getRank() == want_tensor.getRank()) return b_.create<mlir::tensor::CastOp>(l, want_tensor, x);
      return b_.create(cast_state(l, "tessera.broadcast_to", {x}, want_tensor))->getResult(0);
    }
    return convert_scalar(x, want, r);
  }

  mlir::OperationState cast_state(mlir::Location l, llvm::StringRef name, mlir::ValueRange operands, mlir::Type result) {
    mlir::OperationState st(l, name);
    st.addOperands(operands);
    st.addTypes(result);
    return st;
  }

  mlir::Value convert_scalar(mlir::Value x, mlir::Type want, SourceRange r) {
    mlir::Type have = x.getType();
    if (have == want) return x;
    mlir::Location l = loc(r);
    auto hf = mlir::dyn_cast<mlir::FloatType>(have);
    auto wf = mlir::dyn_cast<mlir::FloatType>(want);
    auto hi = mlir::dyn_cast<mlir::IntegerType>(have);
    auto wi = mlir::dyn_cast<mlir::IntegerType>(want);
    if (hf && wf) {
      if (hf.getWidth() > wf.getWidth()) return b_.create<mlir::arith::TruncFOp>(l, want, x);
      return b_.create<mlir::arith::ExtFOp>(l, want, x);
    }
    if (hi && wf) {
      if (hi.getWidth() == 1) return b_.create<mlir::arith::UIToFPOp>(l, want, x);
      return b_.create<mlir::arith::SIToFPOp>(l, want, x);
    }
    if (hf && wi) {
      if (wi.getWidth() == 1) return truthy(x, r);
      return b_.create<mlir::arith::FPToSIOp>(l, want, x);
    }
    if (hi && wi) {
      if (wi.getWidth() == 1) return truthy(x, r);
      if (hi.getWidth() == 1) return b_.create<mlir::arith::ExtUIOp>(l, want, x);
      if (hi.getWidth() > wi.getWidth()) return b_.create<mlir::arith::TruncIOp>(l, want, x);
      return b_.create<mlir::arith::ExtSIOp>(l, want, x);
    }
    if (mlir::isa<mlir::IndexType>(have) && wi) return b_.create<mlir::arith::IndexCastOp>(l, want, x);
    unsupported(r, "this conversion");
  }

  // A dimension as an `index` value (for dynamic shapes).
  mlir::Value dim_index(const DimExpr& d, SourceRange r) {
    DimExpr e = d.substitute(dim_subst_);
    mlir::Location l = loc(r);
    if (e.is_constant()) return b_.create<mlir::arith::ConstantIndexOp>(l, e.constant_value());
    mlir::Value sum;
    for (const sema::DimTerm& term : e.terms()) {
      mlir::Value prod = b_.create<mlir::arith::ConstantIndexOp>(l, term.coefficient);
      for (const auto& [atom, exp] : term.factors) {
        mlir::Value a;
        switch (atom.kind) {
          case sema::DimAtom::Kind::Symbol: {
            auto v = dynamic_dim_value(atom.name);
            if (!v) unsupported(r, fmt::format("the dimension '{}', whose value is not known here", atom.name));
            a = *v;
            break;
          }
          case sema::DimAtom::Kind::FloorDiv:
            a = b_.create<mlir::arith::FloorDivSIOp>(l, dim_index(atom.lhs, r), dim_index(atom.rhs, r));
            break;
          case sema::DimAtom::Kind::Mod: a = b_.create<mlir::arith::RemSIOp>(l, dim_index(atom.lhs, r), dim_index(atom.rhs, r)); break;
          default: unsupported(r, "a dimension expression this large");
        }
        for (uint32_t k = 0; k < exp; ++k) prod = b_.create<mlir::arith::MulIOp>(l, prod, a);
      }
      sum = sum ? b_.create<mlir::arith::AddIOp>(l, sum, prod).getResult() : prod;
    }
    return sum ? sum : b_.create<mlir::arith::ConstantIndexOp>(l, 0).getResult();
  }

  // The `index` operands for the dynamic dimensions of a result type.
  std::vector<mlir::Value> dynamic_dims(const Type& t, mlir::Type mt, SourceRange r) {
    std::vector<mlir::Value> out;
    auto rt = mlir::dyn_cast<mlir::RankedTensorType>(mt);
    if (!rt || !t->shape) return out;
    for (int64_t i = 0; i < rt.getRank(); ++i)
      if (rt.isDynamicDim(i)) out.push_back(dim_index((*t->shape)[static_cast<size_t>(i)], r));
    return out;
  }

  // -------------------------------------------------------------- expressions

  Local constant_scalar(const Type& t, double v, SourceRange r) {
    mlir::Type mt = to_mlir(t, r);
    if (mlir::isa<mlir::FloatType>(mt)) return {b_.create<mlir::arith::ConstantOp>(loc(r), b_.getFloatAttr(mt, v)), t};
    return {b_.create<mlir::arith::ConstantOp>(loc(r), b_.getIntegerAttr(mt, static_cast<int64_t>(v))), t};
  }

  Local expr(const Expr* e) {
    Type t = type_of(e);
    switch (e->kind) {
      case NodeKind::IntLiteralExpr: {
        auto v = static_cast<int64_t>(cast<IntLiteralExpr>(e)->value);
        return {b_.create<mlir::arith::ConstantOp>(loc(e->range), b_.getI64IntegerAttr(v)), t, static_cast<double>(v)};
      }
      case NodeKind::FloatLiteralExpr: {
        double v = cast<FloatLiteralExpr>(e)->value;
        return {b_.create<mlir::arith::ConstantOp>(loc(e->range), b_.getF64FloatAttr(v)), t, v};
      }
      case NodeKind::BoolLiteralExpr:
        return {b_.create<mlir::arith::ConstantOp>(loc(e->range), b_.getBoolAttr(cast<BoolLiteralExpr>(e)->value)), t};
      case NodeKind::TupleExpr: {
        // `(a, b)`: a tuple of values (returned, unpacked or passed on as a whole).
        Local out;
        out.type = t;
        for (const Expr* x : cast<TupleExpr>(e)->elements) out.elems.push_back(expr(x));
        return out;
      }
      case NodeKind::NameExpr: {
        auto* n = cast<NameExpr>(e);
        if (Local* l = lookup(n->name)) return *l;
        if (t->kind == TypeKind::Int && t->int_value) {
          if (auto v = static_dim(*t->int_value)) return {b_.create<mlir::arith::ConstantOp>(loc(e->range), b_.getI64IntegerAttr(*v)), t};
          mlir::Value idx = dim_index(*t->int_value, e->range);
          return {b_.create<mlir::arith::IndexCastOp>(loc(e->range), b_.getI64Type(), idx), t};
        }
        unsupported(e->range, fmt::format("the name '{}' as a value", n->name));
      }
      case NodeKind::UnaryExpr: {
        auto* u = cast<UnaryExpr>(e);
        Local x = expr(u->operand);
        if (u->op == UnaryOp::Pos) return x;
        if (u->op == UnaryOp::Not) {
          mlir::Value c = condition_value(x, u->range);
          mlir::Value one = b_.create<mlir::arith::ConstantOp>(loc(e->range), b_.getBoolAttr(true));
          return {b_.create<mlir::arith::XOrIOp>(loc(e->range), c, one), t};
        }
        if (u->op == UnaryOp::Neg) {
          mlir::Type mt = to_mlir(t, e->range);
          if (mlir::isa<mlir::RankedTensorType>(mt)) return {op("tessera.neg", {convert(x, mt, e->range)}, mt, e->range, t), t};
          if (mlir::isa<mlir::FloatType>(mt)) return {b_.create<mlir::arith::NegFOp>(loc(e->range), convert(x, mt, e->range)), t};
          mlir::Value zero = b_.create<mlir::arith::ConstantOp>(loc(e->range), b_.getIntegerAttr(mt, 0));
          return {b_.create<mlir::arith::SubIOp>(loc(e->range), zero, convert(x, mt, e->range)), t};
        }
        unsupported(e->range, "this unary operator");
      }
      case NodeKind::BinaryExpr: {
        auto* bin = cast<BinaryExpr>(e);
        if (bin->op == BinaryOp::And || bin->op == BinaryOp::Or) {
          mlir::Value l = condition_value(expr(bin->lhs), bin->lhs->range);
          mlir::Value r = condition_value(expr(bin->rhs), bin->rhs->range);
          if (bin->op == BinaryOp::And) return {b_.create<mlir::arith::AndIOp>(loc(e->range), l, r), t};
          return {b_.create<mlir::arith::OrIOp>(loc(e->range), l, r), t};
        }
        Local l = expr(bin->lhs);
        Local r = expr(bin->rhs);
        if (l.object == "params" || r.object == "params") return params_binary(bin->op, l, r, t, e->range);
        return binary(bin->op, l, r, t, e->range);
      }
      case NodeKind::CompareExpr: return compare(cast<CompareExpr>(e), t);
      case NodeKind::CallExpr: return call(cast<CallExpr>(e), t);
      case NodeKind::SubscriptExpr: return subscript(cast<SubscriptExpr>(e), t);
      case NodeKind::AttributeExpr: {
        auto* a = cast<AttributeExpr>(e);
        if (a->name == "T") {
          Local x = expr(a->object);
          mlir::Type mt = to_mlir(t, e->range);
          auto rt = mlir::cast<mlir::RankedTensorType>(x.value.getType());
          std::vector<int64_t> perm;
          for (int64_t i = rt.getRank() - 1; i >= 0; --i) perm.push_back(i);
          return {op("tessera.transpose", {x.value}, mt, e->range, t, {{"perm", b_.getDenseI64ArrayAttr(perm)}}), t};
        }
        unsupported(e->range, fmt::format("the attribute '.{}'", a->name));
      }
      default: unsupported(e->range, "this expression");
    }
  }

  mlir::Value condition_value(const Local& x, SourceRange r) {
    mlir::Value v = x.value;
    if (auto rt = mlir::dyn_cast<mlir::RankedTensorType>(v.getType())) {
      if (rt.getRank() != 0) unsupported(r, "a tensor used as a truth value");
      v = b_.create<mlir::tensor::ExtractOp>(loc(r), v, mlir::ValueRange{});
    }
    return truthy(v, r);
  }

  // Creates a tessera op by name, with the policy of its result type.
  mlir::Value op(llvm::StringRef name, std::vector<mlir::Value> operands, mlir::Type result, SourceRange r, const Type& t,
                 std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs = {}) {
    mlir::OperationState st(loc(r), name);
    st.addOperands(operands);
    st.addTypes(result);
    for (auto& [k, v] : attrs)
      if (v) st.addAttribute(k, v);
    if (mlir::Attribute p = policy_attr(t)) st.addAttribute("policy", p);
    return b_.create(st)->getResult(0);
  }

  Local binary(BinaryOp bop, const Local& l, const Local& r, const Type& t, SourceRange range) {
    mlir::Type mt = to_mlir(t, range);
    if (auto rt = mlir::dyn_cast<mlir::RankedTensorType>(mt)) {
      if (bop == BinaryOp::MatMul) return {op("tessera.matmul", {tensor_operand(l, rt), tensor_operand(r, rt)}, mt, range, t), t};
      const char* name = nullptr;
      switch (bop) {
        case BinaryOp::Add: name = "tessera.add"; break;
        case BinaryOp::Sub: name = "tessera.sub"; break;
        case BinaryOp::Mul: name = "tessera.mul"; break;
        case BinaryOp::Div: name = "tessera.div"; break;
        case BinaryOp::Pow: name = "tessera.pow"; break;
        case BinaryOp::FloorDiv: name = "tessera.floordiv"; break;
        case BinaryOp::Mod: name = "tessera.mod"; break;
        case BinaryOp::BitAnd: name = "tessera.and"; break;
        case BinaryOp::BitOr: name = "tessera.or"; break;
        default: unsupported(range, "this operator on tensors");
      }
      return {op(name, {tensor_operand(l, rt), tensor_operand(r, rt)}, mt, range, t), t};
    }
    // Scalars.
    mlir::Location lc = loc(range);
    mlir::Value a = convert(l, mt, range), b = convert(r, mt, range);
    if (mlir::isa<mlir::FloatType>(mt)) {
      switch (bop) {
        case BinaryOp::Add: return {b_.create<mlir::arith::AddFOp>(lc, a, b), t};
        case BinaryOp::Sub: return {b_.create<mlir::arith::SubFOp>(lc, a, b), t};
        case BinaryOp::Mul: return {b_.create<mlir::arith::MulFOp>(lc, a, b), t};
        case BinaryOp::Div: return {b_.create<mlir::arith::DivFOp>(lc, a, b), t};
        case BinaryOp::Pow: return {b_.create<mlir::math::PowFOp>(lc, a, b), t};
        case BinaryOp::Mod: return {b_.create<mlir::arith::RemFOp>(lc, a, b), t};
        case BinaryOp::FloorDiv: {
          mlir::Value q = b_.create<mlir::arith::DivFOp>(lc, a, b);
          return {b_.create<mlir::math::FloorOp>(lc, q), t};
        }
        default: unsupported(range, "this operator on floats");
      }
    }
    switch (bop) {
      case BinaryOp::Add: return {b_.create<mlir::arith::AddIOp>(lc, a, b), t};
      case BinaryOp::Sub: return {b_.create<mlir::arith::SubIOp>(lc, a, b), t};
      case BinaryOp::Mul: return {b_.create<mlir::arith::MulIOp>(lc, a, b), t};
      case BinaryOp::FloorDiv:
      case BinaryOp::Mod: {
        // Python's // and % (the sign of the divisor) through the rank-0 tensor op: its lowering
        // makes a zero divisor a run-time error and never divides by zero or MIN by -1 (a scalar
        // arith division by zero is undefined behavior, and x86 traps).
        auto rt0 = mlir::RankedTensorType::get({}, mt);
        mlir::Value ta = b_.create<mlir::tensor::FromElementsOp>(lc, rt0, a);
        mlir::Value tb = b_.create<mlir::tensor::FromElementsOp>(lc, rt0, b);
        mlir::Value q = op(bop == BinaryOp::Mod ? "tessera.mod" : "tessera.floordiv", {ta, tb}, rt0, range, t);
        return {b_.create<mlir::tensor::ExtractOp>(lc, q, mlir::ValueRange{}), t};
      }
      case BinaryOp::BitAnd: return {b_.create<mlir::arith::AndIOp>(lc, a, b), t};
      case BinaryOp::BitOr: return {b_.create<mlir::arith::OrIOp>(lc, a, b), t};
      default: unsupported(range, "this operator on integers");
    }
  }

  // An operand of a tensor op: tensors keep their shape (the op broadcasts), scalars become
  // rank-0 tensors of the result's element type.
  mlir::Value tensor_operand(const Local& x, mlir::RankedTensorType result) {
    auto xt = mlir::dyn_cast<mlir::RankedTensorType>(x.value.getType());
    if (xt) return x.value;
    return convert(x, mlir::RankedTensorType::get({}, result.getElementType()), {});  // a literal folds to a dense constant
  }

  Local compare(const CompareExpr* c, const Type& t) {
    if (c->rest.size() != 1) unsupported(c->range, "chained comparisons");
    CompareOp cop = c->rest[0].first;
    Local l = expr(c->first);
    Local r = expr(c->rest[0].second);
    mlir::Location lc = loc(c->range);
    mlir::Type mt = to_mlir(t, c->range);
    // `is` / `is not` on values that are not None compare like == / !=.
    mlir::tessera::CmpPredicate p;
    switch (cop) {
      case CompareOp::Eq: case CompareOp::Is: p = mlir::tessera::CmpPredicate::eq; break;
      case CompareOp::Ne: case CompareOp::IsNot: p = mlir::tessera::CmpPredicate::ne; break;
      case CompareOp::Lt: p = mlir::tessera::CmpPredicate::lt; break;
      case CompareOp::Le: p = mlir::tessera::CmpPredicate::le; break;
      case CompareOp::Gt: p = mlir::tessera::CmpPredicate::gt; break;
      case CompareOp::Ge: p = mlir::tessera::CmpPredicate::ge; break;
      default: unsupported(c->range, fmt::format("the comparison '{}'", compare_op_spelling(cop)));
    }
    bool tensors = mlir::isa<mlir::RankedTensorType>(l.value.getType()) || mlir::isa<mlir::RankedTensorType>(r.value.getType());
    if (tensors) {
      // Compare in the operands' common element type.
      mlir::Type elt;
      for (const Local* x : {&l, &r})
        if (auto rt = mlir::dyn_cast<mlir::RankedTensorType>(x->value.getType())) elt = elt ? elt : rt.getElementType();
      auto scalar_t = mlir::RankedTensorType::get({}, elt);
      auto operand = [&](const Local& x) {
        return mlir::isa<mlir::RankedTensorType>(x.value.getType()) ? x.value : convert(x, scalar_t, c->range);
      };
      return {op("tessera.cmp", {operand(l), operand(r)}, mt, c->range, nullptr,
                 {{"predicate", mlir::tessera::CmpPredicateAttr::get(&ctx_, p)}}),
              t};
    }
    // Scalars: the same six predicates on arith (ordered float comparisons, `!=` unordered).
    static constexpr mlir::arith::CmpFPredicate kFloat[] = {
        mlir::arith::CmpFPredicate::OEQ, mlir::arith::CmpFPredicate::UNE, mlir::arith::CmpFPredicate::OLT,
        mlir::arith::CmpFPredicate::OLE, mlir::arith::CmpFPredicate::OGT, mlir::arith::CmpFPredicate::OGE};
    static constexpr mlir::arith::CmpIPredicate kInt[] = {
        mlir::arith::CmpIPredicate::eq,  mlir::arith::CmpIPredicate::ne,  mlir::arith::CmpIPredicate::slt,
        mlir::arith::CmpIPredicate::sle, mlir::arith::CmpIPredicate::sgt, mlir::arith::CmpIPredicate::sge};
    auto k = static_cast<size_t>(p);
    bool floats = mlir::isa<mlir::FloatType>(l.value.getType()) || mlir::isa<mlir::FloatType>(r.value.getType());
    if (floats) {
      mlir::Value a = convert(l, b_.getF64Type(), c->range), b = convert(r, b_.getF64Type(), c->range);
      return {b_.create<mlir::arith::CmpFOp>(lc, kFloat[k], a, b), t};
    }
    mlir::Type it = l.value.getType().isInteger(1) && r.value.getType().isInteger(1) ? b_.getI1Type() : b_.getI64Type();
    mlir::Value a = convert(l, it, c->range), b = convert(r, it, c->range);
    return {b_.create<mlir::arith::CmpIOp>(lc, kInt[k], a, b), t};
  }

  // Index expressions: integers select (and drop) an axis, slices keep it, `...` fills.
  Local subscript(const SubscriptExpr* s, const Type& t) {
    if (Type ot = type_of(s->object); ot && ot->kind == TypeKind::Params) {
      // `params["linear_0.w"]`: the checker checked the key.
      Local bundle = expr(s->object);
      auto* key = s->indices.size() == 1 ? dyn_cast<StringLiteralExpr>(s->indices[0]) : nullptr;
      for (size_t i = 0; key && i < bundle.names.size(); ++i)
        if (bundle.names[i] == key->value) return bundle.elems[i];
      unsupported(s->range, "this index of Params");
    }
    if (auto* at = dyn_cast<AttributeExpr>(s->object); at && at->name == "shape" && s->indices.size() == 1) {
      // `x.shape[i]`: an Int, constant when the dimension is static.
      Local x = expr(at->object);
      auto rt = mlir::dyn_cast<mlir::RankedTensorType>(x.value.getType());
      auto i = constant_int_expr(s->indices[0]);
      if (!rt || !i) unsupported(s->range, "a shape index that is not a constant");
      int64_t axis = *i < 0 ? *i + rt.getRank() : *i;
      if (axis < 0 || axis >= rt.getRank()) unsupported(s->range, "a shape index out of range");
      mlir::Location l = loc(s->range);
      if (!rt.isDynamicDim(axis)) return {b_.create<mlir::arith::ConstantOp>(l, b_.getI64IntegerAttr(rt.getDimSize(axis))), t};
      mlir::Value d = b_.create<mlir::tensor::DimOp>(l, x.value, axis);
      return {b_.create<mlir::arith::IndexCastOp>(l, b_.getI64Type(), d), t};
    }
    Local x = expr(s->object);
    if (!x.value && !x.elems.empty()) {
      // An element of a tuple (`parts[1]` of `parts = split(x, 3)`).
      auto i = s->indices.size() == 1 ? constant_int_expr(s->indices[0]) : std::nullopt;
      int64_t n = static_cast<int64_t>(x.elems.size());
      if (!i || *i < -n || *i >= n) unsupported(s->range, "a tuple index that is not a constant in range");
      return x.elems[static_cast<size_t>(*i < 0 ? *i + n : *i)];
    }
    auto xt = x.value ? mlir::dyn_cast<mlir::RankedTensorType>(x.value.getType()) : mlir::RankedTensorType{};
    if (!xt) unsupported(s->range, "indexing anything but a tensor");
    mlir::Type mt = to_mlir(t, s->range);
    int64_t rank = xt.getRank();
    size_t explicit_axes = 0;
    for (const Expr* i : s->indices)
      if (!isa<EllipsisLiteralExpr>(i)) ++explicit_axes;
    std::vector<int64_t> offsets, sizes, strides, drop;
    std::vector<mlir::Value> dyn_offsets, dyn_sizes;
    mlir::Location l0 = loc(s->range);
    // A whole axis: its size, from the tensor when it is dynamic.
    auto whole = [&](int64_t a) {
      offsets.push_back(0);
      sizes.push_back(xt.getDimSize(a));
      strides.push_back(1);
      if (xt.isDynamicDim(a)) dyn_sizes.push_back(b_.create<mlir::tensor::DimOp>(l0, x.value, a));
    };
    int64_t axis = 0;
    for (const Expr* i : s->indices) {
      if (isa<EllipsisLiteralExpr>(i)) {
        for (int64_t k = 0; k < rank - static_cast<int64_t>(explicit_axes); ++k, ++axis) whole(axis);
        continue;
      }
      if (axis >= rank) unsupported(i->range, "more indices than axes");
      int64_t dim = xt.getDimSize(axis);
      if (auto* sl = dyn_cast<SliceExpr>(i)) {
        auto cst = [&](const Expr* e, int64_t dflt) -> std::optional<int64_t> {
          if (!e) return dflt;
          return constant_int_expr(e);
        };
        auto lo = cst(sl->lower, 0), st = cst(sl->step, 1);
        auto hi = sl->upper ? constant_int_expr(sl->upper) : std::optional<int64_t>(dim);
        if (dim == mlir::ShapedType::kDynamic && lo && st && *lo >= 0 && *st > 0 &&
            (!sl->upper || (hi && *hi >= *lo))) {
          // A dynamic axis: `lo:hi:st` with constant 0 <= lo <= hi has a static size (the bounds are
          // checked at run time by the slice); `lo::st` runs to the end, ceil((dim - lo) / st).
          offsets.push_back(*lo);
          strides.push_back(*st);
          if (sl->upper) {
            sizes.push_back((*hi - *lo + *st - 1) / *st);
          } else {
            sizes.push_back(mlir::ShapedType::kDynamic);
            mlir::Value d = b_.create<mlir::tensor::DimOp>(l0, x.value, axis);
            mlir::Value n = b_.create<mlir::arith::SubIOp>(l0, d, b_.create<mlir::arith::ConstantIndexOp>(l0, *lo));
            n = b_.create<mlir::arith::MaxSIOp>(l0, n, b_.create<mlir::arith::ConstantIndexOp>(l0, 0));
            dyn_sizes.push_back(b_.create<mlir::arith::CeilDivSIOp>(l0, n, b_.create<mlir::arith::ConstantIndexOp>(l0, *st)));
          }
          ++axis;
          continue;
        }
        if (dim == mlir::ShapedType::kDynamic && lo && st && *st > 0 && (!sl->upper || hi)) {
          // Negative bounds on a dynamic axis, with Python's meaning: a bound b < 0 is dim + b,
          // and both are clamped to [0, dim] as NumPy does; the size is ceil((hi - lo) / st),
          // at least 0.
          mlir::Value d = b_.create<mlir::tensor::DimOp>(l0, x.value, axis);
          auto cidx = [&](int64_t v) { return b_.create<mlir::arith::ConstantIndexOp>(l0, v).getResult(); };
          auto bound = [&](int64_t v) -> mlir::Value {
            if (v >= 0) return b_.create<mlir::arith::MinSIOp>(l0, cidx(v), d);
            return b_.create<mlir::arith::MaxSIOp>(l0, b_.create<mlir::arith::AddIOp>(l0, d, cidx(v)), cidx(0));
          };
          mlir::Value lo_v = bound(*lo);
          mlir::Value hi_v = sl->upper ? bound(*hi) : d;
          offsets.push_back(mlir::ShapedType::kDynamic);
          dyn_offsets.push_back(lo_v);
          strides.push_back(*st);
          int64_t result_axis = axis - static_cast<int64_t>(drop.size());
          auto rt = mlir::cast<mlir::RankedTensorType>(mt);
          if (!rt.isDynamicDim(result_axis)) {
            sizes.push_back(rt.getDimSize(result_axis));
          } else {
            mlir::Value n = b_.create<mlir::arith::SubIOp>(l0, hi_v, lo_v);
            n = b_.create<mlir::arith::MaxSIOp>(l0, n, cidx(0));
            sizes.push_back(mlir::ShapedType::kDynamic);
            dyn_sizes.push_back(b_.create<mlir::arith::CeilDivSIOp>(l0, n, cidx(*st)));
          }
          ++axis;
          continue;
        }
        if (st && *st < 0 && dim != mlir::ShapedType::kDynamic) {
          // A negative step on a static axis, as Python: the bounds default to the last element
          // and to "before the first"; a bound b < 0 is dim + b, clamped to [-1, dim - 1].
          auto bound = [&](const Expr* e, int64_t dflt) -> int64_t {
            if (!e) return dflt;
            auto v = constant_int_expr(e);
            if (!v) unsupported(e->range, "a slice whose bounds are not known at compile time");
            return std::clamp<int64_t>(*v < 0 ? *v + dim : *v, -1, dim - 1);
          };
          int64_t l = bound(sl->lower, dim - 1), h = bound(sl->upper, -1);
          int64_t n = l > h ? (l - h - *st - 1) / -*st : 0;
          offsets.push_back(n > 0 ? l : 0);
          sizes.push_back(n);
          strides.push_back(*st);
          ++axis;
          continue;
        }
        if (!lo || !hi || !st || *st <= 0 || dim == mlir::ShapedType::kDynamic)
          unsupported(i->range, "a slice whose bounds are not known at compile time");
        int64_t l = *lo < 0 ? *lo + dim : *lo, h = *hi < 0 ? *hi + dim : *hi;
        l = std::clamp<int64_t>(l, 0, dim);
        h = std::clamp<int64_t>(h, 0, dim);
        offsets.push_back(l);
        sizes.push_back(h > l ? (h - l + *st - 1) / *st : 0);
        strides.push_back(*st);
      } else {
        auto c = constant_int_expr(i);
        if (c && *c < 0 && dim == mlir::ShapedType::kDynamic) {
          // `x[-1]` on a dynamic axis: the offset is dim - 1.
          mlir::Value d = b_.create<mlir::tensor::DimOp>(l0, x.value, axis);
          dyn_offsets.push_back(b_.create<mlir::arith::AddIOp>(l0, d, b_.create<mlir::arith::ConstantIndexOp>(l0, *c)));
          offsets.push_back(mlir::ShapedType::kDynamic);
        } else if (c) {
          int64_t v = *c < 0 && dim != mlir::ShapedType::kDynamic ? *c + dim : *c;
          offsets.push_back(v);
        } else {
          // A run-time index, as in Python: i < 0 counts from the end (i + dim). The lowering of
          // the slice checks the result against [0, dim) (a run-time error naming i).
          Local iv = expr(i);
          mlir::Location li = loc(i->range);
          mlir::Value raw = b_.create<mlir::arith::IndexCastOp>(li, b_.getIndexType(), convert(iv, b_.getI64Type(), i->range));
          mlir::Value d = dim == mlir::ShapedType::kDynamic
                              ? b_.create<mlir::tensor::DimOp>(li, x.value, axis).getResult()
                              : b_.create<mlir::arith::ConstantIndexOp>(li, dim).getResult();
          mlir::Value zero = b_.create<mlir::arith::ConstantIndexOp>(li, 0);
          mlir::Value negative = b_.create<mlir::arith::CmpIOp>(li, mlir::arith::CmpIPredicate::slt, raw, zero);
          dyn_offsets.push_back(b_.create<mlir::arith::SelectOp>(li, negative, b_.create<mlir::arith::AddIOp>(li, raw, d), raw));
          offsets.push_back(mlir::ShapedType::kDynamic);
        }
        sizes.push_back(1);
        strides.push_back(1);
        drop.push_back(axis);
      }
      ++axis;
    }
    for (; axis < rank; ++axis) whole(axis);
    std::vector<mlir::Value> operands{x.value};
    operands.insert(operands.end(), dyn_offsets.begin(), dyn_offsets.end());
    operands.insert(operands.end(), dyn_sizes.begin(), dyn_sizes.end());
    return {op("tessera.slice", operands, mt, s->range, t,
               {{"static_offsets", b_.getDenseI64ArrayAttr(offsets)},
                {"static_sizes", b_.getDenseI64ArrayAttr(sizes)},
                {"static_strides", b_.getDenseI64ArrayAttr(strides)},
                {"drop_dims", drop.empty() ? mlir::Attribute{} : b_.getDenseI64ArrayAttr(drop)},
                {"operandSegmentSizes", b_.getDenseI32ArrayAttr({1, static_cast<int32_t>(dyn_offsets.size()),
                                                                   static_cast<int32_t>(dyn_sizes.size()), 0})}}),
            t};
  }

  std::optional<int64_t> constant_int_expr(const Expr* e) {
    if (auto* i = dyn_cast<IntLiteralExpr>(e)) return static_cast<int64_t>(i->value);
    if (auto* u = dyn_cast<UnaryExpr>(e); u && u->op == UnaryOp::Neg)
      if (auto v = constant_int_expr(u->operand)) return -*v;
    return constant_int(e);
  }

  // ------------------------------------------------------------------- calls

  // The built-in a call names (`exp`, `tessera.exp`, `ts.nn.relu` -> "exp", "relu"), or "".
  static std::string builtin_name(const Expr* callee) {
    if (auto* n = dyn_cast<NameExpr>(callee)) return n->name;
    if (auto* a = dyn_cast<AttributeExpr>(callee)) return a->name;
    return "";
  }

  const Expr* keyword(const CallExpr* c, std::string_view name) {
    for (const Argument& a : c->args)
      if (a.kind == ArgKind::Keyword && a.name == name) return a.value;
    return nullptr;
  }

  std::vector<const Expr*> positional(const CallExpr* c) {
    std::vector<const Expr*> out;
    for (const Argument& a : c->args) {
      if (a.kind == ArgKind::Positional) out.push_back(a.value);
      else if (a.kind != ArgKind::Keyword) unsupported(a.range, "'*' and '**' arguments");
    }
    return out;
  }

  Local call(const CallExpr* c, const Type& t) {
    // `tessera.grad(f)(x)`: the transform (a function value), or a call of what it returns.
    if (auto ct = fn_->expr_types.find(c->callee);
        ct != fn_->expr_types.end() && ct->second && ct->second->kind == TypeKind::Function &&
        ct->second->name == "transformed")
      return transformed_call(c, ct->second, t);
    if (is_ad_transform(builtin_name(c->callee))) return transform_value(c, t);
    if (auto it = fn_->calls.find(c); it != fn_->calls.end()) return user_call(c, it->second, t);
    if (auto it = fn_->layer_params.find(c); it != fn_->layer_params.end()) return layer_call(c, it->second, t);
    if (auto it = fn_->init_models.find(c); it != fn_->init_models.end()) return init_params(c, *it->second, t);
    // Methods of tensors: `x.mean(...)`, `x.reshape(...)`.
    if (auto* a = dyn_cast<AttributeExpr>(c->callee)) {
      auto ot = fn_->expr_types.find(a->object);
      if (ot != fn_->expr_types.end() && ot->second && ot->second->kind == TypeKind::Object &&
          ot->second->name == "optimizer" && a->name == "step")
        return optimizer_step(c, a);
      if (ot != fn_->expr_types.end() && ot->second && ot->second->kind == TypeKind::Tensor)
        return method(c, a->name, expr(a->object), t);
    }
    std::string name = builtin_name(c->callee);
    if (name == "print") return print(c, t);
    if (name == "SGD" || name == "AdamW") return make_optimizer(c, name, t);
    if (t && t->kind == TypeKind::Object && t->name == "lr_schedule") return make_schedule(c, name, t);
    if (name == "clip_grad_norm") return clip_grad_norm(c, t);
    if (name == "save" && !positional(c).empty())
      if (Type at = type_of(positional(c)[0]); at && at->kind == TypeKind::Params) return save_params(c, t);
    if (name == "load" && t && t->kind == TypeKind::Params) return load_params(c, t);
    if (name == "split" && !positional(c).empty()) return split(c, expr(positional(c)[0]), t, 1);
    if (name == "load") return load(c, t);
    if (name == "save") return save(c, t);
    auto args = positional(c);
    mlir::Type mt = t && t->kind != TypeKind::None ? to_mlir(t, c->range) : mlir::Type{};
    if (kUnary.count(name) && args.size() == 1) {
      if (!mlir::isa<mlir::RankedTensorType>(mt)) return {scalar_unary(name, expr(args[0]), mt, c->range), t};
      return {op("tessera." + name, {convert(expr(args[0]), mt, c->range)}, mt, c->range, t), t};
    }
    if (name == "tensor") return tensor_literal(c, t, mt);
    if (name == "norm" || name == "has_nan" || name == "has_inf") {
      if (args.size() != 1) unsupported(c->range, fmt::format("these arguments of {}", name));
      Local x = expr(args[0]);
      auto xt = mlir::dyn_cast<mlir::RankedTensorType>(x.value.getType());
      if (!xt) unsupported(args[0]->range, fmt::format("{} of a scalar", name));
      // The ops give rank-0 tensors; the checker may type the result as a scalar.
      mlir::Type elt = name == "norm" ? xt.getElementType() : b_.getI1Type();
      mlir::Value r = op("tessera." + name, {x.value}, mlir::RankedTensorType::get({}, elt), c->range, t);
      return {convert({r, t}, mt, c->range), t};
    }
    if (name == "maximum" || name == "minimum") {
      if (args.size() != 2) unsupported(c->range, fmt::format("these arguments of {}", name));
      auto rt = mlir::cast<mlir::RankedTensorType>(mt);
      return {op("tessera." + name, {tensor_operand(expr(args[0]), rt), tensor_operand(expr(args[1]), rt)}, mt, c->range, t), t};
    }
    if (name == "matmul" && args.size() == 2) {
      auto rt = mlir::cast<mlir::RankedTensorType>(mt);
      return {op("tessera.matmul", {tensor_operand(expr(args[0]), rt), tensor_operand(expr(args[1]), rt)}, mt, c->range, t), t};
    }
    if ((name == "softmax" || name == "log_softmax" || name == "softmax_safe") && args.size() == 1) {
      Local x = expr(args[0]);
      int64_t axis = axis_arg(c, "axis", -1, x);
      std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs{{"axis", b_.getI64IntegerAttr(axis)}};
      if (name == "softmax_safe") attrs.push_back({"safe", b_.getUnitAttr()});
      return {op(name == "log_softmax" ? "tessera.log_softmax" : "tessera.softmax", {x.value}, mt, c->range, t, attrs), t};
    }
    if (kReductions.count(name) && args.size() == 1) return reduce(c, kReductions.at(name), expr(args[0]), t);
    if (name == "layer_norm" || name == "layernorm_safe" || name == "rms_norm" || name == "rmsnorm_safe") {
      bool rms = name == "rms_norm" || name == "rmsnorm_safe";
      if (args.empty() || args.size() > (rms ? 2u : 3u)) unsupported(c->range, fmt::format("these arguments of {}", name));
      std::vector<mlir::Value> operands;
      for (const Expr* a : args) operands.push_back(expr(a).value);
      for (const char* kw : {"weight", "bias"})
        if (const Expr* e = keyword(c, kw)) operands.push_back(expr(e).value);
      double eps = 1e-5;
      if (const Expr* e = keyword(c, "eps")) {
        auto v = constant_float(e);
        if (!v) unsupported(e->range, "an eps that is not a constant");
        eps = *v;
      }
      std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs{{"eps", b_.getF64FloatAttr(eps)}};
      if (!rms) attrs.push_back({"axis", b_.getI64IntegerAttr(mlir::cast<mlir::RankedTensorType>(mt).getRank() - 1)});
      if (name.find("safe") != std::string::npos) attrs.push_back({"safe", b_.getUnitAttr()});
      mlir::OperationState st(loc(c->range), rms ? "tessera.rms_norm" : "tessera.layer_norm");
      st.addOperands(operands);
      st.addTypes(mt);
      for (auto& [k, v] : attrs) st.addAttribute(k, v);
      // layer_norm's weight and bias are both optional operands: say which are present.
      if (!rms)
        st.addAttribute("operandSegmentSizes",
                        b_.getDenseI32ArrayAttr({1, operands.size() > 1 ? 1 : 0, operands.size() > 2 ? 1 : 0}));
      if (mlir::Attribute p = policy_attr(t)) st.addAttribute("policy", p);
      return {b_.create(st)->getResult(0), t};
    }
    if (name == "group_norm" && !args.empty() && args.size() <= 4) {
      // group_norm(x, num_groups, weight=None, bias=None, eps=1e-5), as PyTorch.
      const Expr* g = args.size() > 1 ? args[1] : keyword(c, "num_groups");
      if (!g) g = keyword(c, "groups");
      auto groups = g ? constant_int_expr(g) : std::nullopt;
      if (!groups) unsupported(c->range, "group_norm with a number of groups that is not a constant");
      std::vector<mlir::Value> operands{expr(args[0]).value};
      const Expr* w = args.size() > 2 ? args[2] : keyword(c, "weight");
      const Expr* bias = args.size() > 3 ? args[3] : keyword(c, "bias");
      if (w) operands.push_back(expr(w).value);
      if (bias) operands.push_back(expr(bias).value);
      double eps = 1e-5;
      if (const Expr* e = keyword(c, "eps")) {
        auto v = constant_float(e);
        if (!v) unsupported(e->range, "an eps that is not a constant");
        eps = *v;
      }
      mlir::OperationState st(loc(c->range), "tessera.group_norm");
      st.addOperands(operands);
      st.addTypes(mt);
      st.addAttribute("groups", b_.getI64IntegerAttr(*groups));
      st.addAttribute("eps", b_.getF64FloatAttr(eps));
      st.addAttribute("operandSegmentSizes", b_.getDenseI32ArrayAttr({1, w ? 1 : 0, bias ? 1 : 0}));
      if (mlir::Attribute p = policy_attr(t)) st.addAttribute("policy", p);
      return {b_.create(st)->getResult(0), t};
    }
    if (name == "linear" && (args.size() == 2 || args.size() == 3)) {
      std::vector<mlir::Value> operands;
      for (const Expr* a : args) operands.push_back(expr(a).value);
      mlir::OperationState st(loc(c->range), "tessera.linear");
      st.addOperands(operands);
      st.addTypes(mt);
      if (mlir::Attribute p = policy_attr(t)) st.addAttribute("policy", p);
      return {b_.create(st)->getResult(0), t};
    }
    if (name == "where" && args.size() == 3) {
      auto rt = mlir::cast<mlir::RankedTensorType>(mt);
      Local cond = expr(args[0]);
      return {op("tessera.where", {cond.value, tensor_operand(expr(args[1]), rt), tensor_operand(expr(args[2]), rt)}, mt, c->range, t), t};
    }
    if ((name == "concat" || name == "stack") && !args.empty()) {
      std::vector<mlir::Value> operands;
      if (auto* l = dyn_cast<ListExpr>(args[0])) {
        for (const Expr* el : l->elements) operands.push_back(expr(el).value);
      } else if (auto* tu = dyn_cast<TupleExpr>(args[0])) {
        for (const Expr* el : tu->elements) operands.push_back(expr(el).value);
      } else {
        unsupported(args[0]->range, fmt::format("{} of anything but a list of tensors", name));
      }
      const Expr* ax = keyword(c, "axis");
      if (!ax && args.size() > 1) ax = args[1];
      int64_t axis = 0;
      if (ax) {
        auto v = constant_int_expr(ax);
        if (!v) unsupported(ax->range, "an axis that is not a constant");
        axis = *v;
      }
      int64_t rank = mlir::cast<mlir::RankedTensorType>(mt).getRank();
      if (axis < 0) axis += rank;
      return {op("tessera." + name, operands, mt, c->range, t, {{"axis", b_.getI64IntegerAttr(axis)}}), t};
    }
    if (name == "clamp" && args.size() == 1) return method(c, "clamp", expr(args[0]), t, 1);
    if (name == "broadcast_to" && !args.empty()) return method(c, "broadcast_to", expr(args[0]), t, 1);
    if (name == "embedding" && args.size() == 2) {
      Local ids = expr(args[0]), table = expr(args[1]);
      if (!mlir::isa<mlir::RankedTensorType>(table.value.getType()))
        unsupported(c->range, "embedding with a table made by tessera.nn (parameters are not built yet)");
      return {op("tessera.embedding", {table.value, ids.value}, mt, c->range, t), t};
    }
    if (name == "one_hot" && !args.empty()) {
      auto n = args.size() > 1 ? constant_int_expr(args[1]) : std::nullopt;
      if (const Expr* k = keyword(c, "num_classes")) n = constant_int_expr(k);
      if (!n) unsupported(c->range, "one_hot with a number of classes that is not a constant");
      return {op("tessera.one_hot", {expr(args[0]).value}, mt, c->range, t, {{"num_classes", b_.getI64IntegerAttr(*n)}}), t};
    }
    if (name == "cross_entropy" && args.size() == 2) {
      mlir::Value logits = expr(args[0]).value, labels = expr(args[1]).value;
      mlir::Type rt0 = mlir::RankedTensorType::get({}, mlir::cast<mlir::RankedTensorType>(logits.getType()).getElementType());
      mlir::Value r = op("tessera.cross_entropy", {logits, labels}, rt0, c->range, t);
      return {convert({r, t}, mt, c->range), t};
    }
    if ((name == "attention" || name == "attention_safe") && args.size() == 3) {
      std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs;
      if (const Expr* k = keyword(c, "causal")) {
        auto* bl = dyn_cast<BoolLiteralExpr>(k);
        if (!bl) unsupported(k->range, "causal= that is not True or False");
        if (bl->value) attrs.push_back({"causal", b_.getUnitAttr()});
      }
      if (const Expr* k = keyword(c, "scale")) {
        auto v = constant_float(k);
        if (!v) unsupported(k->range, "a scale that is not a constant");
        attrs.push_back({"scale", b_.getF64FloatAttr(*v)});
      }
      if (name == "attention_safe") attrs.push_back({"safe", b_.getUnitAttr()});
      return {op("tessera.attention", {expr(args[0]).value, expr(args[1]).value, expr(args[2]).value}, mt, c->range, t, attrs), t};
    }
    if (name == "dropout" && !args.empty() && args.size() <= 2) {
      // dropout(x, p=0.5, seed=...): inverted dropout (torch's in training mode); the mask is the
      // Philox stream `seed` (the next program seed when not given, as randn).
      const Expr* pe = args.size() > 1 ? args[1] : keyword(c, "p");
      double p = 0.5;
      if (pe) {
        auto v = constant_float(pe);
        if (!v) unsupported(pe->range, "a dropout probability that is not a constant");
        p = *v;
      }
      if (!(p >= 0.0 && p < 1.0)) unsupported(pe->range, "a dropout probability outside [0, 1)");
      const Expr* seed = keyword(c, "seed");
      auto s = seed ? constant_int_expr(seed) : std::optional<int64_t>(next_seed_++);
      if (!s) unsupported(seed->range, "a seed that is not a constant");
      return {op("tessera.dropout", {expr(args[0]).value}, mt, c->range, t,
                 {{"p", b_.getF64FloatAttr(p)}, {"seed", b_.getI64IntegerAttr(*s)}}),
              t};
    }
    if (name == "arange" && !args.empty() && args.size() <= 3) {
      auto rt = mlir::cast<mlir::RankedTensorType>(mt);
      double start = 0, step = 1;
      if (args.size() >= 2) {
        auto s = constant_float(args[0]);
        if (!s) unsupported(args[0]->range, "an arange start that is not a constant");
        start = *s;
      }
      if (args.size() == 3) {
        auto s = constant_float(args[2]);
        if (!s) unsupported(args[2]->range, "an arange step that is not a constant");
        step = *s;
      }
      return {op("tessera.arange", dynamic_dims(t, rt, c->range), mt, c->range, t,
                 {{"start", b_.getF64FloatAttr(start)}, {"step", b_.getF64FloatAttr(step)}}),
              t};
    }
    if (name == "conv2d" && (args.size() == 2 || args.size() == 3)) {
      std::vector<mlir::Value> operands{expr(args[0]).value, expr(args[1]).value};
      if (args.size() == 3) operands.push_back(expr(args[2]).value);
      else if (const Expr* b = keyword(c, "bias")) operands.push_back(expr(b).value);
      auto pair = [&](const char* kw, int64_t dflt) { return b_.getDenseI64ArrayAttr(pair_arg(c, kw, dflt)); };
      int64_t groups = pair_arg(c, "groups", 1)[0];
      return {op("tessera.conv2d", operands, mt, c->range, t,
                 {{"stride", pair("stride", 1)}, {"padding", pair("padding", 0)}, {"dilation", pair("dilation", 1)},
                  {"groups", b_.getI64IntegerAttr(groups)}}),
              t};
    }
    if ((name == "max_pool2d" || name == "avg_pool2d") && args.size() >= 1) {
      const Expr* k = args.size() > 1 ? args[1] : keyword(c, "kernel_size");
      auto kv = k ? constant_int_expr(k) : std::nullopt;
      if (!kv) unsupported(c->range, "a pooling kernel size that is not a constant");
      auto stride = pair_arg(c, "stride", *kv);
      return {op("tessera." + name, {expr(args[0]).value}, mt, c->range, t,
                 {{"kernel", b_.getDenseI64ArrayAttr({*kv, *kv})}, {"stride", b_.getDenseI64ArrayAttr(stride)},
                  {"padding", b_.getDenseI64ArrayAttr(pair_arg(c, "padding", 0))}}),
              t};
    }
    if (name == "adaptive_avg_pool2d" && args.size() == 2) {
      auto rt = mlir::cast<mlir::RankedTensorType>(mt);
      if (rt.isDynamicDim(2) || rt.isDynamicDim(3)) unsupported(c->range, "an adaptive pooling size that is not a constant");
      return {op("tessera.adaptive_avg_pool2d", {expr(args[0]).value}, mt, c->range, t,
                 {{"output_size", b_.getDenseI64ArrayAttr({rt.getDimSize(2), rt.getDimSize(3)})}}),
              t};
    }
    if (name == "transpose" && !args.empty()) return method(c, "transpose", expr(args[0]), t, 1);
    if (name == "reshape" && !args.empty()) return method(c, "reshape", expr(args[0]), t, 1);
    if (name == "zeros" || name == "ones" || name == "randn" || name == "rand" || name == "full") {
      std::vector<mlir::Value> dyn = dynamic_dims(t, mt, c->range);
      std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs;
      if (name == "full") {
        const Expr* v = args.size() >= 2 ? args[1] : keyword(c, "fill_value");
        auto f = v ? constant_float(v) : std::nullopt;
        if (!f) unsupported(c->range, "full(...) with a value that is not a constant");
        attrs.push_back({"value", b_.getF64FloatAttr(*f)});
      }
      if (name == "randn" || name == "rand") {
        const Expr* seed = keyword(c, "seed");
        auto s = seed ? constant_int_expr(seed) : std::optional<int64_t>(next_seed_++);
        if (!s) unsupported(seed->range, "a seed that is not a constant");
        attrs.push_back({"seed", b_.getI64IntegerAttr(*s)});
        attrs.push_back({"offset", b_.getI64IntegerAttr(0)});
      }
      return {op("tessera." + name, dyn, mt, c->range, t, attrs), t};
    }
    unsupported(c->range, fmt::format("the operation '{}'", name.empty() ? "this call" : name));
  }

  int64_t next_seed_ = 0;

  // ------------------------------------------------- models and parameters (docs/models.md)

  // A rank-0 constant of `like`'s element type (the elementwise ops broadcast it).
  mlir::Value scalar_of(mlir::Type like, double v, SourceRange r) {
    mlir::Type elt = mlir::cast<mlir::RankedTensorType>(like).getElementType();
    auto rt0 = mlir::RankedTensorType::get({}, elt);
    return b_.create<mlir::arith::ConstantOp>(loc(r), mlir::DenseElementsAttr::get(rt0, b_.getFloatAttr(elt, v)));
  }
  // An f64 scalar as a rank-0 tensor of `like`'s element type.
  mlir::Value scalar_value(mlir::Type like, mlir::Value f64, SourceRange r) {
    mlir::Type elt = mlir::cast<mlir::RankedTensorType>(like).getElementType();
    return convert({f64, sema::float_type()}, mlir::RankedTensorType::get({}, elt), r);
  }
  mlir::Value ew(const char* name, mlir::Value a, mlir::Value b, SourceRange r) {
    return op(name, {a, b}, a.getType(), r, nullptr);
  }
  mlir::Value ew1(const char* name, mlir::Value a, SourceRange r) { return op(name, {a}, a.getType(), r, nullptr); }

  double float_kw(const CallExpr* c, const char* kw, double dflt) {
    const Expr* e = keyword(c, kw);
    if (!e) return dflt;
    auto v = constant_float(e);
    if (!v) unsupported(e->range, fmt::format("{}= that is not a number constant", kw));
    return *v;
  }

  // A layer call of a model: the functional op on the model's own parameter arguments.
  Local layer_call(const CallExpr* c, size_t first, const Type& t) {
    std::string name = builtin_name(c->callee);
    auto args = positional(c);
    mlir::Type mt = to_mlir(t, c->range);
    auto param = [&](size_t k) { return model_args_.at(first + k).value; };
    if (args.empty()) unsupported(c->range, "a layer call without its input");
    mlir::Value x = expr(args[0]).value;
    auto build = [&](llvm::StringRef opname, std::vector<mlir::Value> operands,
                     std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs) -> Local {
      mlir::OperationState st(loc(c->range), opname);
      st.addOperands(operands);
      st.addTypes(mt);
      for (auto& [k, v] : attrs) st.addAttribute(k, v);
      if (mlir::Attribute p = policy_attr(t)) st.addAttribute("policy", p);
      return {b_.create(st)->getResult(0), t};
    };
    if (name == "linear") return build("tessera.linear", {x, param(0), param(1)}, {});
    if (name == "embedding") return {op("tessera.embedding", {param(0), x}, mt, c->range, t), t};
    double eps = float_kw(c, "eps", 1e-5);
    if (name == "layer_norm")
      return build("tessera.layer_norm", {x, param(0), param(1)},
                   {{"eps", b_.getF64FloatAttr(eps)},
                    {"axis", b_.getI64IntegerAttr(mlir::cast<mlir::RankedTensorType>(mt).getRank() - 1)},
                    {"operandSegmentSizes", b_.getDenseI32ArrayAttr({1, 1, 1})}});
    if (name == "rms_norm") return build("tessera.rms_norm", {x, param(0)}, {{"eps", b_.getF64FloatAttr(eps)}});
    if (name == "group_norm") {
      const Expr* g = args.size() > 1 ? args[1] : keyword(c, "num_groups");
      if (!g) g = keyword(c, "groups");
      auto groups = g ? constant_int_expr(g) : std::nullopt;
      if (!groups) unsupported(c->range, "group_norm with a number of groups that is not a constant");
      return build("tessera.group_norm", {x, param(0), param(1)},
                   {{"groups", b_.getI64IntegerAttr(*groups)},
                    {"eps", b_.getF64FloatAttr(eps)},
                    {"operandSegmentSizes", b_.getDenseI32ArrayAttr({1, 1, 1})}});
    }
    if (name == "conv2d") {
      auto pair = [&](const char* kw, int64_t dflt) { return b_.getDenseI64ArrayAttr(pair_arg(c, kw, dflt)); };
      return {op("tessera.conv2d", {x, param(0), param(1)}, mt, c->range, t,
                 {{"stride", pair("stride", 1)}, {"padding", pair("padding", 0)}, {"dilation", pair("dilation", 1)},
                  {"groups", b_.getI64IntegerAttr(pair_arg(c, "groups", 1)[0])}}),
              t};
    }
    if (name == "multi_head_attention") return multi_head_attention(c, x, param, t);
    unsupported(c->range, fmt::format("the layer 'nn.{}'", name));
  }

  // nn.multi_head_attention(x, num_heads, causal=): q, k, v = the projections of x, each split
  // into H heads ([..., S, D] -> [..., S, H, D/H] -> [..., H, S, D/H]), scaled dot-product
  // attention per head (tessera.attention, flash-style), the heads merged back and projected by
  // w_o, b_o. The parameters are w_q b_q w_k b_k w_v b_v w_o b_o, in that order (sema).
  template <typename Param>
  Local multi_head_attention(const CallExpr* c, mlir::Value x, Param param, const Type& t) {
    auto args = positional(c);
    const Expr* he = args.size() > 1 ? args[1] : keyword(c, "num_heads");
    auto heads = he ? constant_int_expr(he) : std::nullopt;
    if (!heads || *heads < 1) unsupported(c->range, "nn.multi_head_attention with num_heads that is not a constant");
    if (!t || !t->shape || t->shape->size() < 2) unsupported(c->range, "nn.multi_head_attention of this input");
    std::vector<DimExpr> shape = *t->shape;
    size_t rank = shape.size();
    DimExpr hd = DimExpr::constant(*heads), dh = floordiv(shape.back(), hd);
    std::vector<DimExpr> split = shape;  // [..., S, H, Dh]
    split.back() = hd;
    split.push_back(dh);
    std::vector<DimExpr> per_head = split;  // [..., H, S, Dh]
    std::swap(per_head[rank - 1], per_head[rank - 2]);
    Type split_t = sema::tensor_type(t->dtype, split), head_t = sema::tensor_type(t->dtype, per_head);
    mlir::Type mt = to_mlir(t, c->range), split_mt = to_mlir(split_t, c->range), head_mt = to_mlir(head_t, c->range);
    std::vector<int64_t> perm;
    for (size_t i = 0; i < rank + 1; ++i) perm.push_back(static_cast<int64_t>(i));
    std::swap(perm[rank - 1], perm[rank - 2]);
    auto perm_attr = b_.getDenseI64ArrayAttr(perm);
    SourceRange r = c->range;
    auto project = [&](mlir::Value in, size_t k) { return op("tessera.linear", {in, param(2 * k), param(2 * k + 1)}, mt, r, t); };
    auto to_heads = [&](mlir::Value v) {
      mlir::Value s = op("tessera.reshape", concat({v}, dynamic_dims(split_t, split_mt, r)), split_mt, r, split_t);
      return op("tessera.transpose", {s}, head_mt, r, head_t, {{"perm", perm_attr}});
    };
    std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs;
    if (const Expr* k = keyword(c, "causal")) {
      auto* bl = dyn_cast<BoolLiteralExpr>(k);
      if (!bl) unsupported(k->range, "causal= that is not True or False");
      if (bl->value) attrs.push_back({"causal", b_.getUnitAttr()});
    }
    mlir::Value o = op("tessera.attention", {to_heads(project(x, 0)), to_heads(project(x, 1)), to_heads(project(x, 2))},
                       head_mt, r, head_t, attrs);
    mlir::Value back = op("tessera.transpose", {o}, split_mt, r, split_t, {{"perm", perm_attr}});
    mlir::Value merged = op("tessera.reshape", concat({back}, dynamic_dims(t, mt, r)), mt, r, t);
    return {project(merged, 3), t};
  }

  // ts.init(model, seed=0, D=512): each parameter from its initializer, drawn from one Philox
  // stream (the seed) at consecutive counters, in declaration order.
  Local init_params(const CallExpr* c, const sema::TypedFunction& model, const Type& t) {
    if (!t || t->kind != TypeKind::Params || t->fields.size() != model.model_params.size())
      unsupported(c->range, "ts.init of this model");
    int64_t seed = 0;
    std::map<std::string, DimExpr> subst;
    for (const Argument& a : c->args) {
      if (a.kind != ArgKind::Keyword) continue;
      auto v = constant_int_expr(a.value);
      if (!v) unsupported(a.range, fmt::format("{}= that is not a constant", a.name));
      if (a.name == "seed") seed = *v;
      else subst.emplace(a.name, DimExpr::constant(*v));
    }
    Local bundle;
    bundle.type = t;
    bundle.object = "params";
    int64_t offset = 0;
    for (size_t i = 0; i < model.model_params.size(); ++i) {
      const sema::ModelParam& p = model.model_params[i];
      mlir::Type mt = to_mlir(t->elems[i], c->range);
      auto rt = mlir::cast<mlir::RankedTensorType>(mt);
      if (!rt.hasStaticShape()) unsupported(c->range, fmt::format("ts.init of '{}', whose shape is not constant", p.name));
      std::vector<std::pair<llvm::StringRef, mlir::Attribute>> rng{{"seed", b_.getI64IntegerAttr(seed)},
                                                                   {"offset", b_.getI64IntegerAttr(offset)}};
      mlir::Value v;
      switch (p.init) {
        case sema::ParamInit::Zeros: v = op("tessera.zeros", {}, mt, c->range, nullptr); break;
        case sema::ParamInit::Ones: v = op("tessera.ones", {}, mt, c->range, nullptr); break;
        case sema::ParamInit::Normal: v = op("tessera.randn", {}, mt, c->range, nullptr, rng); break;
        case sema::ParamInit::UniformFanIn: {
          DimExpr fan = p.fan_in.substitute(subst);
          if (!fan.is_constant() || fan.constant_value() < 1) unsupported(c->range, fmt::format("the fan-in of '{}'", p.name));
          double bound = 1.0 / std::sqrt(static_cast<double>(fan.constant_value()));
          mlir::Value u = op("tessera.rand", {}, mt, c->range, nullptr, rng);
          v = ew("tessera.sub", ew("tessera.mul", u, scalar_of(mt, 2 * bound, c->range), c->range),
                 scalar_of(mt, bound, c->range), c->range);
          break;
        }
      }
      if (p.init == sema::ParamInit::Normal || p.init == sema::ParamInit::UniformFanIn)
        offset += (rt.getNumElements() + 3) / 4 * 4;
      bundle.names.push_back(p.name);
      bundle.elems.push_back({v, t->elems[i]});
    }
    return bundle;
  }

  Local params_value(const Expr* e) {
    Local v = expr(e);
    if (v.object != "params") unsupported(e->range, "Params that are not known here (from ts.init, an optimizer or a Params argument)");
    return v;
  }

  // save(params, "p.npz"): one tessera.save per tensor, marked as a member of the archive; the
  // last one writes it (docs/models.md).
  Local save_params(const CallExpr* c, const Type& t) {
    auto args = positional(c);
    if (args.size() != 2) unsupported(c->range, "save of Params with other than (params, path)");
    Local bundle = params_value(args[0]);
    std::string path = path_arg(c, args[1]);
    if (bundle.elems.empty()) unsupported(c->range, "saving Params without parameters");
    for (size_t i = 0; i < bundle.elems.size(); ++i) {
      mlir::OperationState st(loc(c->range), "tessera.save");
      st.addOperands(bundle.elems[i].value);
      st.addAttribute("path", b_.getStringAttr(path));
      st.addAttribute("member", b_.getStringAttr(bundle.names[i]));
      if (i + 1 == bundle.elems.size()) st.addAttribute("commit", b_.getUnitAttr());
      b_.create(st);
    }
    return {mlir::Value{}, t};
  }

  // load("p.npz", like=params): one tessera.load of each member, in the layout of `like` (its
  // names and tensor types, known from the checker; its values are not needed).
  Local load_params(const CallExpr* c, const Type& t) {
    auto args = positional(c);
    const Expr* p = args.empty() ? keyword(c, "path") : args[0];
    if (!p) p = keyword(c, "file");
    std::string path = path_arg(c, p);
    if (t->fields.empty() || t->fields.size() != t->elems.size())
      unsupported(c->range, "load(..., like=p) where the layout of p is not known here");
    Local bundle{mlir::Value{}, t};
    bundle.object = "params";
    for (size_t i = 0; i < t->fields.size(); ++i) {
      mlir::Type mt = to_mlir(t->elems[i], c->range);
      mlir::Value v = op("tessera.load", {}, mt, c->range, Type{},
                         {{"path", b_.getStringAttr(path)}, {"member", b_.getStringAttr(t->fields[i])}});
      bundle.names.push_back(t->fields[i]);
      bundle.elems.push_back({v, t->elems[i]});
    }
    return bundle;
  }

  // `params - 0.1 * grads`: the operation on each tensor (matched by name), or with a number.
  Local params_binary(BinaryOp bop, const Local& l, const Local& r, const Type& t, SourceRange range) {
    const Local& p = l.object == "params" ? l : r;
    Local out = p;
    out.type = t;
    std::vector<Local> others;
    bool both = l.object == "params" && r.object == "params";
    if (both) others = by_names(l.object == "params" && &p == &l ? r : l, p.names, range);
    for (size_t i = 0; i < p.elems.size(); ++i) {
      const Local& mine = p.elems[i];
      const Local& other = both ? others[i] : (&p == &l ? r : l);
      Local a = &p == &l ? mine : other, b = &p == &l ? other : mine;
      out.elems[i] = binary(bop, a, b, mine.type, range);
    }
    return out;
  }

  // `grads` in the order of `names`.
  std::vector<Local> by_names(const Local& bundle, const std::vector<std::string>& names, SourceRange r) {
    std::vector<Local> out;
    for (const std::string& n : names) {
      auto it = std::find(bundle.names.begin(), bundle.names.end(), n);
      if (it == bundle.names.end()) unsupported(r, fmt::format("Params without '{}' here", n));
      out.push_back(bundle.elems[static_cast<size_t>(it - bundle.names.begin())]);
    }
    return out;
  }

  // ts.optimizers.SGD(params, lr=, momentum=0, weight_decay=0) and
  // AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2), as PyTorch.
  // A learning-rate schedule (docs/models.md): object "schedule" whose hyper is the descriptor
  // {kind, lr, a, b, c}: kind 1 cosine_decay (a = steps, b = warmup, c = final), 2 linear_decay
  // (same), 3 step_decay (a = every, b = gamma), 4 exponential_decay (a = gamma). Kind 0 is a
  // constant lr (a number).
  Local make_schedule(const CallExpr* c, const std::string& kind, const Type& t) {
    auto args = positional(c);
    auto num = [&](size_t i, const char* kw, std::optional<double> dflt) {
      const Expr* e = i < args.size() ? args[i] : keyword(c, kw);
      if (!e) {
        if (!dflt) unsupported(c->range, fmt::format("{} without {}=", kind, kw));
        return *dflt;
      }
      auto v = constant_float(e);
      if (!v) unsupported(e->range, fmt::format("{}= of a learning-rate schedule that is not a number constant", kw));
      return *v;
    };
    Local out{mlir::Value{}, t};
    out.object = "schedule";
    double lr = num(0, "lr", std::nullopt);
    if (kind == "cosine_decay" || kind == "linear_decay") {
      double steps = num(1, "steps", std::nullopt), warmup = num(2, "warmup", 0.0), final_lr = num(3, "final", 0.0);
      if (steps < 1 || warmup < 0 || warmup >= steps)
        unsupported(c->range, fmt::format("{} with steps={} and warmup={} (need steps >= 1 and 0 <= warmup < steps)",
                                          kind, steps, warmup));
      out.hyper = {kind == "cosine_decay" ? 1.0 : 2.0, lr, steps, warmup, final_lr};
    } else if (kind == "step_decay") {
      double every = num(1, "every", std::nullopt), gamma = num(2, "gamma", 0.1);
      if (every < 1) unsupported(c->range, "step_decay with every= below 1");
      out.hyper = {3.0, lr, every, gamma, 0.0};
    } else if (kind == "exponential_decay") {
      out.hyper = {4.0, lr, num(1, "gamma", std::nullopt), 0.0, 0.0};
    } else {
      unsupported(c->range, fmt::format("the learning-rate schedule '{}'", kind));
    }
    return out;
  }

  // The schedule descriptor of an optimizer's lr (a number, a schedule call or a name bound to one).
  std::vector<double> lr_descriptor(const CallExpr* c, const Expr* e, double dflt) {
    if (!e) return {0.0, dflt, 0.0, 0.0, 0.0};
    if (auto v = constant_float(e)) return {0.0, *v, 0.0, 0.0, 0.0};
    Local l = expr(e);
    if (l.object != "schedule") unsupported(e->range, "lr= that is not a number constant or a learning-rate schedule");
    return l.hyper;
  }

  // The learning rate at 0-based step `s` (an f64 value) of the descriptor at h[at..at+5).
  mlir::Value schedule_lr(const std::vector<double>& h, size_t at, mlir::Value s, SourceRange r) {
    mlir::Location l = loc(r);
    auto f64 = [&](double v) { return b_.create<mlir::arith::ConstantOp>(l, b_.getF64FloatAttr(v)).getResult(); };
    int kind = static_cast<int>(h[at]);
    double lr = h[at + 1], a = h[at + 2], bb = h[at + 3], cc = h[at + 4];
    auto mul = [&](mlir::Value x, mlir::Value y) { return b_.create<mlir::arith::MulFOp>(l, x, y).getResult(); };
    auto add = [&](mlir::Value x, mlir::Value y) { return b_.create<mlir::arith::AddFOp>(l, x, y).getResult(); };
    auto sub = [&](mlir::Value x, mlir::Value y) { return b_.create<mlir::arith::SubFOp>(l, x, y).getResult(); };
    switch (kind) {
      case 0: return f64(lr);
      case 1:
      case 2: {
        double steps = a, warmup = bb, final_lr = cc;
        // p = clamp((s - warmup) / (steps - warmup), 0, 1)
        mlir::Value p = mul(sub(s, f64(warmup)), f64(1.0 / std::max(steps - warmup, 1.0)));
        p = b_.create<mlir::arith::MinimumFOp>(l, b_.create<mlir::arith::MaximumFOp>(l, p, f64(0.0)), f64(1.0));
        mlir::Value frac = kind == 1 ? mul(f64(0.5), add(f64(1.0), b_.create<mlir::math::CosOp>(l, mul(p, f64(M_PI)))))
                                     : sub(f64(1.0), p);
        mlir::Value v = add(f64(final_lr), mul(f64(lr - final_lr), frac));
        if (warmup <= 0) return v;
        mlir::Value w = mul(add(s, f64(1.0)), f64(lr / warmup));
        mlir::Value in_warmup = b_.create<mlir::arith::CmpFOp>(l, mlir::arith::CmpFPredicate::OLT, s, f64(warmup));
        return b_.create<mlir::arith::SelectOp>(l, in_warmup, w, v);
      }
      case 3: {
        mlir::Value k = b_.create<mlir::math::FloorOp>(l, mul(s, f64(1.0 / a)));
        return mul(f64(lr), b_.create<mlir::math::PowFOp>(l, f64(bb), k));
      }
      default: return mul(f64(lr), b_.create<mlir::math::PowFOp>(l, f64(a), s));
    }
  }

  Local make_optimizer(const CallExpr* c, const std::string& kind, const Type& t) {
    auto args = positional(c);
    const Expr* pe = args.empty() ? keyword(c, "params") : args[0];
    if (!pe) unsupported(c->range, "an optimizer without params");
    Local params = params_value(pe);
    Local opt;
    opt.type = t;
    opt.object = kind;
    opt.names = params.names;
    SourceRange r = c->range;
    auto zeros_like = [&](const Local& p) { return Local{op("tessera.zeros", {}, p.value.getType(), r, nullptr), p.type}; };
    if (kind == "SGD") {
      if (!keyword(c, "lr") && args.size() < 2) unsupported(r, "SGD without lr=");
      std::vector<double> sched = lr_descriptor(c, args.size() > 1 ? args[1] : keyword(c, "lr"), 0);
      double momentum = float_kw(c, "momentum", 0), wd = float_kw(c, "weight_decay", 0);
      opt.hyper = {sched[1], momentum, wd};
      opt.hyper.insert(opt.hyper.end(), sched.begin(), sched.end());
      if (momentum != 0)
        for (const Local& p : params.elems) opt.elems.push_back(zeros_like(p));
      // A scheduled lr needs the step count: one more state value, after the momentum buffers.
      if (sched[0] != 0)
        opt.elems.push_back({b_.create<mlir::arith::ConstantOp>(loc(r), b_.getF64FloatAttr(0.0)), sema::float_type()});
      return opt;
    }
    std::vector<double> sched = lr_descriptor(c, keyword(c, "lr"), 1e-3);
    double lr = sched[1], eps = float_kw(c, "eps", 1e-8), wd = float_kw(c, "weight_decay", 1e-2);
    double b1 = 0.9, b2 = 0.999;
    if (const Expr* b = keyword(c, "betas")) {
      auto* tu = dyn_cast<TupleExpr>(b);
      auto v1 = tu && tu->elements.size() == 2 ? constant_float(tu->elements[0]) : std::nullopt;
      auto v2 = tu && tu->elements.size() == 2 ? constant_float(tu->elements[1]) : std::nullopt;
      if (!v1 || !v2) unsupported(b->range, "betas= that is not a pair of number constants");
      b1 = *v1;
      b2 = *v2;
    }
    opt.hyper = {lr, b1, b2, eps, wd};
    opt.hyper.insert(opt.hyper.end(), sched.begin(), sched.end());
    opt.elems.push_back({b_.create<mlir::arith::ConstantOp>(loc(r), b_.getF64FloatAttr(0.0)), sema::float_type()});
    for (const Local& p : params.elems) opt.elems.push_back(zeros_like(p));  // first moments
    for (const Local& p : params.elems) opt.elems.push_back(zeros_like(p));  // second moments
    return opt;
  }

  // `opt.step(params, grads)`: the new parameters; the name `opt` is rebound to the optimizer
  // with its new state (the step is `opt', params' = step(opt, params, grads)` in SSA).
  Local optimizer_step(const CallExpr* c, const AttributeExpr* a) {
    auto* name = dyn_cast<NameExpr>(a->object);
    if (!name) unsupported(a->object->range, "a step of an optimizer that is not a name");
    Local* cur = lookup(name->name);
    if (!cur || (cur->object != "SGD" && cur->object != "AdamW")) unsupported(a->object->range, "this optimizer");
    Local opt = *cur;
    auto args = positional(c);
    if (args.size() != 2) unsupported(c->range, "opt.step with other than (params, grads)");
    Local params = params_value(args[0]);
    std::vector<Local> ps = by_names(params, opt.names, args[0]->range);
    std::vector<Local> gs = by_names(params_value(args[1]), opt.names, args[1]->range);
    SourceRange r = c->range;
    size_t n = ps.size();
    Local out = params;
    out.names = opt.names;
    out.elems.clear();
    if (opt.object == "SGD") {
      double momentum = opt.hyper[1], wd = opt.hyper[2];
      mlir::Value lr;
      if (opt.hyper[3] != 0) {
        mlir::Value s = opt.elems.back().value;  // steps taken before this one
        lr = schedule_lr(opt.hyper, 3, s, r);
        opt.elems.back().value = b_.create<mlir::arith::AddFOp>(
            loc(r), s, b_.create<mlir::arith::ConstantOp>(loc(r), b_.getF64FloatAttr(1.0)));
      } else {
        lr = schedule_lr(opt.hyper, 3, mlir::Value{}, r);
      }
      for (size_t i = 0; i < n; ++i) {
        mlir::Value p = ps[i].value, g = convert(gs[i], p.getType(), r);
        mlir::Type mt = p.getType();
        if (wd != 0) g = ew("tessera.add", g, ew("tessera.mul", p, scalar_of(mt, wd, r), r), r);
        if (momentum != 0) {
          mlir::Value buf = ew("tessera.add", ew("tessera.mul", opt.elems[i].value, scalar_of(mt, momentum, r), r), g, r);
          opt.elems[i].value = buf;
          g = buf;
        }
        mlir::Value lr_t = opt.hyper[3] != 0 ? scalar_value(mt, lr, r) : scalar_of(mt, opt.hyper[0], r);
        out.elems.push_back({ew("tessera.sub", p, ew("tessera.mul", g, lr_t, r), r), ps[i].type});
      }
    } else {
      double b1 = opt.hyper[1], b2 = opt.hyper[2], eps = opt.hyper[3], wd = opt.hyper[4];
      mlir::Location l = loc(r);
      auto f64 = [&](double v) { return b_.create<mlir::arith::ConstantOp>(l, b_.getF64FloatAttr(v)).getResult(); };
      mlir::Value lr = schedule_lr(opt.hyper, 5, opt.elems[0].value, r);
      mlir::Value step = b_.create<mlir::arith::AddFOp>(l, opt.elems[0].value, f64(1.0));
      opt.elems[0].value = step;
      // Bias corrections: 1 - beta^t, on scalars.
      mlir::Value bc1 = b_.create<mlir::arith::SubFOp>(l, f64(1.0), b_.create<mlir::math::PowFOp>(l, f64(b1), step));
      mlir::Value bc2 = b_.create<mlir::arith::SubFOp>(l, f64(1.0), b_.create<mlir::math::PowFOp>(l, f64(b2), step));
      mlir::Value step_size = b_.create<mlir::arith::DivFOp>(l, lr, bc1);
      // p *= 1 - lr * wd (decoupled weight decay, with the scheduled lr)
      mlir::Value keep = b_.create<mlir::arith::SubFOp>(l, f64(1.0), b_.create<mlir::arith::MulFOp>(l, lr, f64(wd)));
      mlir::Value inv_sqrt_bc2 = b_.create<mlir::arith::DivFOp>(l, f64(1.0), b_.create<mlir::math::SqrtOp>(l, bc2));
      for (size_t i = 0; i < n; ++i) {
        mlir::Value p = ps[i].value, g = convert(gs[i], p.getType(), r);
        mlir::Type mt = p.getType();
        // One elementwise chain per parameter (fused into one loop by the schedule):
        // p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
        // p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
        mlir::Value m = ew("tessera.add", ew("tessera.mul", opt.elems[1 + i].value, scalar_of(mt, b1, r), r),
                           ew("tessera.mul", g, scalar_of(mt, 1 - b1, r), r), r);
        mlir::Value v = ew("tessera.add", ew("tessera.mul", opt.elems[1 + n + i].value, scalar_of(mt, b2, r), r),
                           ew("tessera.mul", ew("tessera.mul", g, g, r), scalar_of(mt, 1 - b2, r), r), r);
        opt.elems[1 + i].value = m;
        opt.elems[1 + n + i].value = v;
        mlir::Value keep_t = opt.hyper[5] != 0 ? scalar_value(mt, keep, r) : scalar_of(mt, 1 - opt.hyper[0] * wd, r);
        mlir::Value decayed = wd != 0 ? ew("tessera.mul", p, keep_t, r) : p;
        mlir::Value denom = ew("tessera.add", ew("tessera.mul", ew1("tessera.sqrt", v, r), scalar_value(mt, inv_sqrt_bc2, r), r),
                               scalar_of(mt, eps, r), r);
        mlir::Value upd = ew("tessera.mul", ew("tessera.div", m, denom, r), scalar_value(mt, step_size, r), r);
        out.elems.push_back({ew("tessera.sub", decayed, upd, r), ps[i].type});
      }
    }
    assign(name->name, opt);
    return out;
  }

  // ts.clip_grad_norm(grads, max_norm): grads * min(1, max_norm / (total_norm + 1e-6)), with the
  // total 2-norm over all tensors (PyTorch's clip_grad_norm_).
  Local clip_grad_norm(const CallExpr* c, const Type& t) {
    auto args = positional(c);
    if (args.empty()) unsupported(c->range, "clip_grad_norm without grads");
    Local grads = params_value(args[0]);
    const Expr* me = args.size() > 1 ? args[1] : keyword(c, "max_norm");
    auto max_norm = me ? constant_float(me) : std::nullopt;
    if (!max_norm) unsupported(c->range, "a max_norm that is not a number constant");
    SourceRange r = c->range;
    mlir::Location l = loc(r);
    mlir::Value total = b_.create<mlir::arith::ConstantOp>(l, b_.getF64FloatAttr(0.0));
    for (const Local& g : grads.elems) {
      auto rt = mlir::cast<mlir::RankedTensorType>(g.value.getType());
      mlir::Value n = op("tessera.norm", {g.value}, mlir::RankedTensorType::get({}, rt.getElementType()), r, nullptr);
      mlir::Value s = b_.create<mlir::tensor::ExtractOp>(l, n, mlir::ValueRange{});
      s = convert_scalar(s, b_.getF64Type(), r);
      total = b_.create<mlir::arith::AddFOp>(l, total, b_.create<mlir::arith::MulFOp>(l, s, s));
    }
    total = b_.create<mlir::math::SqrtOp>(l, total);
    mlir::Value eps = b_.create<mlir::arith::ConstantOp>(l, b_.getF64FloatAttr(1e-6));
    mlir::Value coef = b_.create<mlir::arith::DivFOp>(l, b_.create<mlir::arith::ConstantOp>(l, b_.getF64FloatAttr(*max_norm)),
                                                      b_.create<mlir::arith::AddFOp>(l, total, eps));
    coef = b_.create<mlir::arith::MinimumFOp>(l, coef, b_.create<mlir::arith::ConstantOp>(l, b_.getF64FloatAttr(1.0)));
    Local out = grads;
    out.type = t;
    for (Local& g : out.elems)
      g.value = ew("tessera.mul", g.value, scalar_value(g.value.getType(), coef, r), r);
    return out;
  }

  // `split(x, n, axis=0)` / `x.split(n, axis=0)`: n equal parts (NumPy's array_split with
  // sections that divide), as a tuple.
  Local split(const CallExpr* c, const Local& x, const Type& t, size_t skip) {
    if (!t || t->kind != TypeKind::Tuple || t->elems.empty()) unsupported(c->range, "split whose parts are not known");
    auto args = positional(c);
    const Expr* ax = keyword(c, "axis");
    if (!ax && args.size() > skip + 1) ax = args[skip + 1];
    int64_t axis = 0;
    if (ax) {
      auto v = constant_int_expr(ax);
      if (!v) unsupported(ax->range, "an axis that is not a constant");
      axis = *v;
    }
    auto xt = mlir::cast<mlir::RankedTensorType>(x.value.getType());
    if (axis < 0) axis += xt.getRank();
    std::vector<mlir::Type> types;
    for (const Type& e : t->elems) types.push_back(to_mlir(e, c->range));
    mlir::OperationState st(loc(c->range), "tessera.split");
    st.addOperands(x.value);
    st.addTypes(types);
    st.addAttribute("axis", b_.getI64IntegerAttr(axis));
    mlir::Operation* o = b_.create(st);
    Local out{mlir::Value{}, t, std::nullopt, {}};
    for (size_t i = 0; i < t->elems.size(); ++i) out.elems.push_back({o->getResult(i), t->elems[i], std::nullopt, {}});
    return out;
  }

  // The path argument of load/save: a string literal.
  std::string path_arg(const CallExpr* c, const Expr* e) {
    auto* s = e ? dyn_cast<StringLiteralExpr>(e) : nullptr;
    if (!s) unsupported(e ? e->range : c->range, "a file path that is not a string literal");
    if (s->value.empty()) unsupported(e->range, "an empty file path");
    return s->value;
  }

  // `w: Tensor[4, 16] = load("w.npy")`: the checker gave the load the annotation's type; the
  // file's dtype and shape are checked against it at run time.
  Local load(const CallExpr* c, const Type& t) {
    auto args = positional(c);
    const Expr* p = args.empty() ? keyword(c, "path") : args[0];
    if (!p) p = keyword(c, "file");
    std::string path = path_arg(c, p);
    if (!t || t->kind != TypeKind::Tensor || !t->shape)
      unsupported(c->range, "load(...) without a declared type (write `w: Tensor[..., dtype] = load(path)`)");
    mlir::Type mt = to_mlir(t, c->range);
    return {op("tessera.load", {}, mt, c->range, Type{}, {{"path", b_.getStringAttr(path)}}), t};
  }

  // `save(x, "out.npy")` (also `save("out.npy", x)`, NumPy's order).
  Local save(const CallExpr* c, const Type& t) {
    auto args = positional(c);
    const Expr* value = keyword(c, "x");
    const Expr* p = keyword(c, "path");
    for (const Expr* a : args) {
      if (isa<StringLiteralExpr>(a) && !p) p = a;
      else if (!value) value = a;
    }
    if (!value) unsupported(c->range, "these arguments of save");
    std::string path = path_arg(c, p);
    Local x = expr(value);
    if (!mlir::isa<mlir::RankedTensorType>(x.value.getType())) unsupported(value->range, "saving a value that is not a tensor");
    mlir::OperationState st(loc(c->range), "tessera.save");
    st.addOperands(x.value);
    st.addAttribute("path", b_.getStringAttr(path));
    b_.create(st);
    return {mlir::Value{}, t};
  }

  // A keyword argument given as an int or a pair (`stride=2`, `padding=(1, 0)`), as two values.
  std::vector<int64_t> pair_arg(const CallExpr* c, const char* kw, int64_t dflt) {
    const Expr* e = keyword(c, kw);
    if (!e) return {dflt, dflt};
    if (auto* tu = dyn_cast<TupleExpr>(e); tu && tu->elements.size() == 2) {
      auto a = constant_int_expr(tu->elements[0]), b = constant_int_expr(tu->elements[1]);
      if (a && b) return {*a, *b};
    } else if (auto v = constant_int_expr(e)) {
      return {*v, *v};
    }
    unsupported(e->range, fmt::format("{}= that is not a constant int or pair", kw));
  }

  // exp, sqrt, ... of a Python scalar (`sqrt(D // H)`), computed in f64.
  mlir::Value scalar_unary(const std::string& name, const Local& x, mlir::Type want, SourceRange r) {
    mlir::Location l = loc(r);
    mlir::Type f64 = b_.getF64Type();
    mlir::Value v = convert(x, f64, r);
    mlir::Value out;
    if (name == "exp") out = b_.create<mlir::math::ExpOp>(l, v);
    else if (name == "log") out = b_.create<mlir::math::LogOp>(l, v);
    else if (name == "log1p") out = b_.create<mlir::math::Log1pOp>(l, v);
    else if (name == "sqrt") out = b_.create<mlir::math::SqrtOp>(l, v);
    else if (name == "rsqrt") out = b_.create<mlir::math::RsqrtOp>(l, v);
    else if (name == "tanh") out = b_.create<mlir::math::TanhOp>(l, v);
    else if (name == "sin") out = b_.create<mlir::math::SinOp>(l, v);
    else if (name == "cos") out = b_.create<mlir::math::CosOp>(l, v);
    else if (name == "abs") out = b_.create<mlir::math::AbsFOp>(l, v);
    else if (name == "neg") out = b_.create<mlir::arith::NegFOp>(l, v);
    else unsupported(r, fmt::format("'{}' of a scalar", name));
    return convert({out, sema::float_type()}, want, r);
  }

  std::optional<double> constant_float(const Expr* e) {
    if (auto* f = dyn_cast<FloatLiteralExpr>(e)) return f->value;
    if (auto* i = dyn_cast<IntLiteralExpr>(e)) return static_cast<double>(i->value);
    if (auto* u = dyn_cast<UnaryExpr>(e); u && u->op == UnaryOp::Neg)
      if (auto v = constant_float(u->operand)) return -*v;
    return std::nullopt;
  }

  // A non-negative axis from a keyword or positional argument.
  int64_t axis_arg(const CallExpr* c, std::string_view kw, int64_t dflt, const Local& x, size_t pos = SIZE_MAX) {
    const Expr* e = keyword(c, kw);
    if (!e && pos != SIZE_MAX) {
      auto args = positional(c);
      if (pos < args.size()) e = args[pos];
    }
    int64_t a = dflt;
    if (e) {
      auto v = constant_int_expr(e);
      if (!v) unsupported(e->range, "an axis that is not a constant");
      a = *v;
    }
    int64_t rank = mlir::cast<mlir::RankedTensorType>(x.value.getType()).getRank();
    return a < 0 ? a + rank : a;
  }

  Local reduce(const CallExpr* c, const std::string& kind, const Local& x, const Type& t) {
    auto xt = mlir::cast<mlir::RankedTensorType>(x.value.getType());
    std::vector<int64_t> axes;
    const Expr* ax = keyword(c, "axis");
    if (!ax) {
      for (int64_t i = 0; i < xt.getRank(); ++i) axes.push_back(i);
    } else if (auto* tup = dyn_cast<TupleExpr>(ax)) {
      for (const Expr* el : tup->elements) {
        auto v = constant_int_expr(el);
        if (!v) unsupported(el->range, "an axis that is not a constant");
        axes.push_back(*v < 0 ? *v + xt.getRank() : *v);
      }
    } else {
      auto v = constant_int_expr(ax);
      if (!v) unsupported(ax->range, "an axis that is not a constant");
      axes.push_back(*v < 0 ? *v + xt.getRank() : *v);
    }
    std::sort(axes.begin(), axes.end());
    bool keepdim = false;
    if (const Expr* k = keyword(c, "keepdim")) {
      auto* bl = dyn_cast<BoolLiteralExpr>(k);
      if (!bl) unsupported(k->range, "keepdim that is not True or False");
      keepdim = bl->value;
    }
    auto kind_attr = mlir::tessera::symbolizeReduceKind(kind);
    mlir::Type mt = to_mlir(t, c->range);
    return {op("tessera.reduce", {x.value}, mt, c->range, t,
               {{"kind", mlir::tessera::ReduceKindAttr::get(&ctx_, *kind_attr)},
                {"axes", b_.getDenseI64ArrayAttr(axes)},
                {"keepdim", keepdim ? b_.getUnitAttr() : mlir::Attribute{}}}),
            t};
  }

  // `skip`: positional arguments that are not the method's own (the tensor of `transpose(x, ...)`).
  Local method(const CallExpr* c, const std::string& name, const Local& x, const Type& t, size_t skip = 0) {
    if (name == "split") return split(c, x, t, skip);
    mlir::Type mt = t && t->kind != TypeKind::None ? to_mlir(t, c->range) : mlir::Type{};
    if (kReductions.count(name)) return reduce(c, kReductions.at(name), x, t);
    if (name == "reshape" || name == "view") {
      return {op("tessera.reshape", concat({x.value}, dynamic_dims(t, mt, c->range)), mt, c->range, t), t};
    }
    if (name == "transpose" || name == "permute") {
      auto args = positional(c);
      args.erase(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(std::min(skip, args.size())));
      auto xt = mlir::cast<mlir::RankedTensorType>(x.value.getType());
      std::vector<int64_t> perm;
      for (int64_t i = 0; i < xt.getRank(); ++i) perm.push_back(i);
      std::vector<int64_t> given;
      for (const Expr* a : args) {
        auto v = constant_int_expr(a);
        if (!v) unsupported(a->range, "an axis that is not a constant");
        given.push_back(*v < 0 ? *v + xt.getRank() : *v);
      }
      if (given.size() == 2 && xt.getRank() != 2) std::swap(perm[given[0]], perm[given[1]]);
      else if (given.size() == static_cast<size_t>(xt.getRank())) perm = given;
      else if (given.empty() && xt.getRank() == 2) std::swap(perm[0], perm[1]);
      else if (given.size() == 2) std::swap(perm[given[0]], perm[given[1]]);
      else unsupported(c->range, "these transpose arguments");
      return {op("tessera.transpose", {x.value}, mt, c->range, t, {{"perm", b_.getDenseI64ArrayAttr(perm)}}), t};
    }
    if (name == "unsqueeze") {
      auto args = positional(c);
      if (args.size() != 1) unsupported(c->range, "these unsqueeze arguments");
      auto v = constant_int_expr(args[0]);
      if (!v) unsupported(args[0]->range, "an axis that is not a constant");
      int64_t rank = mlir::cast<mlir::RankedTensorType>(mt).getRank();
      return {op("tessera.unsqueeze", {x.value}, mt, c->range, t, {{"axis", b_.getI64IntegerAttr(*v < 0 ? *v + rank : *v)}}), t};
    }
    if (name == "astype") return {convert(x, mt, c->range), t};
    if (name == "clamp") {
      std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs;
      auto args = positional(c);
      args.erase(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(std::min(skip, args.size())));
      const Expr* lo = keyword(c, "min");
      const Expr* hi = keyword(c, "max");
      if (!lo && !args.empty()) lo = args[0];
      if (!hi && args.size() > 1) hi = args[1];
      for (auto [k, e] : {std::pair<llvm::StringRef, const Expr*>{"min", lo}, {"max", hi}}) {
        if (!e) continue;
        auto v = constant_float(e);
        if (!v) unsupported(e->range, "clamp bounds that are not constants");
        attrs.push_back({k, b_.getF64FloatAttr(*v)});
      }
      return {op("tessera.clamp", {convert(x, mt, c->range)}, mt, c->range, t, attrs), t};
    }
    if (name == "broadcast_to") {
      return {op("tessera.broadcast_to", concat({x.value}, dynamic_dims(t, mt, c->range)), mt, c->range, t), t};
    }
    if (kUnary.count(name)) return {op("tessera." + name, {x.value}, mt, c->range, t), t};
    if (name == "softmax" || name == "log_softmax") {
      int64_t axis = axis_arg(c, "axis", -1, x, 0);
      return {op("tessera." + name, {x.value}, mt, c->range, t, {{"axis", b_.getI64IntegerAttr(axis)}}), t};
    }
    unsupported(c->range, fmt::format("the method '.{}'", name));
  }

  static std::vector<mlir::Value> concat(std::vector<mlir::Value> a, const std::vector<mlir::Value>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  // `tensor([1.0, 2.0])`: a dense constant when every element is a literal.
  Local tensor_literal(const CallExpr* c, const Type& t, mlir::Type mt) {
    auto args = positional(c);
    if (args.size() != 1) unsupported(c->range, "these tensor(...) arguments");
    auto rt = mlir::dyn_cast<mlir::RankedTensorType>(mt);
    if (!rt || !rt.hasStaticShape()) unsupported(c->range, "a tensor literal without a static shape");
    std::vector<double> values;
    std::function<void(const Expr*)> flatten = [&](const Expr* e) {
      if (auto* l = dyn_cast<ListExpr>(e)) {
        for (const Expr* el : l->elements) flatten(el);
        return;
      }
      if (auto* tu = dyn_cast<TupleExpr>(e)) {
        for (const Expr* el : tu->elements) flatten(el);
        return;
      }
      if (auto* bl = dyn_cast<BoolLiteralExpr>(e)) {
        values.push_back(bl->value ? 1.0 : 0.0);
        return;
      }
      auto v = constant_float(e);
      if (!v) unsupported(e->range, "a tensor literal with an element that is not a number");
      values.push_back(*v);
    };
    flatten(args[0]);
    if (static_cast<int64_t>(values.size()) != rt.getNumElements()) unsupported(c->range, "a ragged tensor literal");
    mlir::Type elt = rt.getElementType();
    std::vector<mlir::Attribute> attrs;
    for (double v : values) {
      if (mlir::isa<mlir::FloatType>(elt)) attrs.push_back(b_.getFloatAttr(elt, v));
      else attrs.push_back(b_.getIntegerAttr(elt, static_cast<int64_t>(v)));
    }
    auto dense = mlir::DenseElementsAttr::get(rt, attrs);
    return {b_.create<mlir::arith::ConstantOp>(loc(c->range), dense), t};
  }

  // `print(a, "text", b)`: literal strings go into the format, values are operands.
  Local print(const CallExpr* c, const Type& t) {
    std::vector<mlir::Attribute> format;
    std::vector<mlir::Value> operands;
    for (const Expr* a : positional(c)) {
      if (auto* s = dyn_cast<StringLiteralExpr>(a)) {
        format.push_back(b_.getStringAttr(mlir::tessera::PrintOp::escapeLiteral(s->value)));
        continue;
      }
      if (auto* at = dyn_cast<AttributeExpr>(a); at && at->name == "shape") {
        // A static shape prints as a Python tuple: `(784, 256)`, `(5,)`, `()`.
        auto rt = mlir::dyn_cast<mlir::RankedTensorType>(expr(at->object).value.getType());
        if (!rt || !rt.hasStaticShape()) unsupported(a->range, "printing a shape that is not known at compile time");
        std::string text = "(";
        for (int64_t i = 0; i < rt.getRank(); ++i) text += (i ? ", " : "") + std::to_string(rt.getDimSize(i));
        text += rt.getRank() == 1 ? ",)" : ")";
        format.push_back(b_.getStringAttr(mlir::tessera::PrintOp::escapeLiteral(text)));
        continue;
      }
      Local v = expr(a);
      if (v.object == "params") {
        // One `name: Tensor[shape]` line per parameter, then its values (docs/models.md); what
        // comes before the bundle in the same print is a line of its own.
        auto emit = [&](std::vector<mlir::Attribute> fmt_, std::vector<mlir::Value> vals) {
          mlir::OperationState st(loc(c->range), "tessera.print");
          st.addOperands(vals);
          st.addAttribute("format", b_.getArrayAttr(fmt_));
          b_.create(st);
        };
        if (!format.empty()) emit(format, operands);
        format.clear();
        operands.clear();
        for (size_t i = 0; i < v.names.size(); ++i) {
          std::string head = v.names[i] + ": " + sema::to_string(v.elems[i].type);
          emit({b_.getStringAttr(mlir::tessera::PrintOp::escapeLiteral(head))}, {});
          emit({b_.getStringAttr("{}")}, {v.elems[i].value});
        }
        continue;
      }
      if (!v.value) unsupported(a->range, "printing this value");
      format.push_back(b_.getStringAttr("{}"));
      operands.push_back(v.value);
    }
    if (!c->args.empty() && positional(c).size() != c->args.size()) unsupported(c->range, "keyword arguments of print");
    if (format.empty() && !c->args.empty()) return {mlir::Value{}, t};  // ended with a Params bundle
    mlir::OperationState st(loc(c->range), "tessera.print");
    st.addOperands(operands);
    st.addAttribute("format", b_.getArrayAttr(format));
    b_.create(st);
    return {mlir::Value{}, t};
  }

  // `tessera.grad(f, argnums=...)` as a value: nothing to compute until it is called.
  Local transform_value(const CallExpr* c, const Type& t) {
    std::string name = builtin_name(c->callee);
    if (name == "vjp") return vjp_value(c, t);
    if (name == "jvp") return jvp_value(c, t);
    bool built = name == "grad" || name == "value_and_grad" || name == "hessian_vector_product";
    if (built && t && t->kind == TypeKind::Function && t->ref) return {mlir::Value{}, t};
    if (built)
      unsupported(c->range, fmt::format("automatic differentiation of anything but a user function ({})", name));
    unsupported(c->range, fmt::format("automatic differentiation with {} (grad, value_and_grad, hessian_vector_product and higher order are built)", name));
  }

  // A call of `grad(f, argnums)` or `value_and_grad(f, argnums)`: f is specialized as for a
  // call, and one `tessera.grad` op gives the value and the gradients (ir/autodiff expands it).
  Local transformed_call(const CallExpr* c, const Type& transform, const Type& t) {
    const std::string& kind = transform->transform;
    if (kind == "pullback") return pullback_call(c, t);
    if (transform->of || kind == "hessian_vector_product") return higher_order_call(c, transform, t);
    if (kind != "grad" && kind != "value_and_grad")
      unsupported(c->range, fmt::format("automatic differentiation with {} (grad, value_and_grad, hessian_vector_product and higher order are built)", kind));
    auto it = fn_->calls.find(c);
    if (it == fn_->calls.end() || !t || (kind == "value_and_grad" && t->elems.size() != 2))
      unsupported(c->range, "this call of a differentiated function");
    std::vector<Local> bound;
    auto [f, args] = bind_call(c, it->second, &bound);
    bool with_value = kind == "value_and_grad";
    auto ftype = f.getFunctionType();
    // A Params argument is one function input per parameter: its argnum becomes those inputs,
    // and its gradients come back as a Params with the same names.
    std::vector<size_t> first_input(bound.size() + 1, 0);
    for (size_t k = 0; k < bound.size(); ++k)
      first_input[k + 1] = first_input[k] + (bound[k].object == "params" ? bound[k].elems.size() : 1);
    std::vector<int64_t> flat_argnums;
    for (int64_t n : transform->argnums) {
      if (n < 0 || static_cast<size_t>(n) >= bound.size()) unsupported(c->range, "this call of a differentiated function");
      for (size_t q = first_input[n]; q < first_input[n + 1]; ++q) flat_argnums.push_back(static_cast<int64_t>(q));
    }
    std::vector<mlir::Type> results;
    if (with_value) results.push_back(ftype.getResult(0));
    for (int64_t n : flat_argnums) results.push_back(ftype.getInput(static_cast<unsigned>(n)));
    mlir::OperationState st(loc(c->range), "tessera.grad");
    st.addOperands(args);
    st.addTypes(results);
    st.addAttribute("callee", mlir::FlatSymbolRefAttr::get(f.getSymNameAttr()));
    st.addAttribute("argnums", b_.getDenseI64ArrayAttr(flat_argnums));
    if (with_value) st.addAttribute("value", b_.getUnitAttr());
    mlir::Operation* g = b_.create(st);
    calls_.push_back({current_func_.getOperation(), f.getOperation(), it->second.callee->name, c->range});
    // The results as the program sees them: each gradient typed as the checker typed it.
    Type grads_t = with_value ? t->elems[1] : t;
    size_t next = with_value ? 1 : 0;
    auto grad_local = [&](size_t i, const Type& gt) -> Local {
      int64_t n = transform->argnums[i];
      if (bound[n].object == "params") {  // a Params of gradients, named like the argument
        Local out = bound[n];
        for (Local& e : out.elems) e = {g->getResult(next++), e.type};
        out.type = gt;
        return out;
      }
      mlir::Value r = g->getResult(next++);
      return {convert({r, gt}, to_mlir(gt, c->range), c->range), gt};
    };
    Local grads;
    if (transform->argnums_tuple) {
      if (grads_t->kind != TypeKind::Tuple || grads_t->elems.size() != transform->argnums.size())
        unsupported(c->range, "this call of a differentiated function");
      grads.type = grads_t;
      for (size_t i = 0; i < transform->argnums.size(); ++i) grads.elems.push_back(grad_local(i, grads_t->elems[i]));
    } else {
      grads = grad_local(0, grads_t);
    }
    if (!with_value) return grads;
    Local out;
    out.type = t;
    out.elems.push_back({convert({g->getResult(0), t->elems[0]}, to_mlir(t->elems[0], c->range), c->range), t->elems[0]});
    out.elems.push_back(grads);
    return out;
  }

  // `y, pullback = vjp(f, primals...)`: y is a call of f; the pullback (object "pullback")
  // keeps f's symbol and the primal values, and each call of it is one seeded `tessera.grad`.
  Local vjp_value(const CallExpr* c, const Type& t) {
    auto it = fn_->calls.find(c);
    if (it == fn_->calls.end() || !t || t->kind != TypeKind::Tuple || t->elems.size() != 2)
      unsupported(c->range, "this call of vjp");
    std::vector<Local> bound;
    auto [inner, args] = bind_call(c, it->second, &bound, /*skip=*/1);
    // vjp(grad(f), x): the pullback of the gradient function (a Hessian-vector product).
    Type ft = type_of(positional(c).at(0));
    bool transformed = ft && ft->name == "transformed";
    for (const Local& v : bound)
      if (v.object == "params" && transformed) unsupported(c->range, "vjp of a gradient of a function with Params arguments");
    mlir::func::FuncOp f = transformed ? materialize(ft, inner, args, c->range) : inner;
    if (args.size() != f.getFunctionType().getNumInputs()) unsupported(c->range, "vjp of a model");
    const Type& yt = t->elems[0];
    size_t n_results = yt && yt->kind == TypeKind::Tuple ? yt->elems.size() : 1;
    if (f.getFunctionType().getNumResults() != n_results)
      unsupported(c->range, "vjp of a function whose results are nested tuples");
    auto call = b_.create<mlir::func::CallOp>(loc(c->range), f, args);
    calls_.push_back({current_func_.getOperation(), inner.getOperation(), it->second.callee->name, c->range});
    Local pullback{mlir::Value{}, t->elems[1]};
    pullback.object = "pullback";
    pullback.names = {f.getSymName().str()};
    // One element per primal: a tensor (the value f was called with), or a Params bundle whose
    // elements are its tensors (f takes them as consecutive inputs).
    size_t next_arg = 0;
    for (const Local& v : bound) {
      if (v.object == "params") {
        Local p = v;
        for (Local& e : p.elems) e.value = args.at(next_arg++);
        pullback.elems.push_back(p);
      } else {
        pullback.elems.push_back({args.at(next_arg++), nullptr});
      }
    }
    if (next_arg != args.size()) unsupported(c->range, "this call of vjp");
    Local out;
    out.type = t;
    if (n_results == 1) {
      out.elems.push_back({convert({call.getResult(0), yt}, to_mlir(yt, c->range), c->range), yt});
    } else {  // a tuple of results
      Local y;
      y.type = yt;
      for (size_t i = 0; i < n_results; ++i) {
        const Type& et = yt->elems[i];
        y.elems.push_back({convert({call.getResult(static_cast<unsigned>(i)), et}, to_mlir(et, c->range), c->range), et});
      }
      out.elems.push_back(y);
    }
    out.elems.push_back(pullback);
    return out;
  }

  // The one float element type of `types` (E0900 `not_float` / `mixed` otherwise): the dtype of
  // the scalar that vjp_dot / jvp_dot return.
  mlir::Type one_float_dtype(mlir::TypeRange types, const SourceRange& r, const char* not_float, const char* mixed) {
    mlir::Type elt;
    for (mlir::Type t : types) {
      auto rt = mlir::dyn_cast<mlir::RankedTensorType>(t);
      if (!rt || !mlir::isa<mlir::FloatType>(rt.getElementType())) unsupported(r, not_float);
      if (elt && elt != rt.getElementType()) unsupported(r, mixed);
      elt = rt.getElementType();
    }
    return elt;
  }

  // sum_i sum(a_i * b_i), a rank-0 tensor of `scalar`'s type.
  mlir::Value sum_of_products(mlir::Location l, llvm::ArrayRef<mlir::Value> a, llvm::ArrayRef<mlir::Value> b,
                              mlir::RankedTensorType scalar) {
    mlir::Value total;
    for (size_t i = 0; i < a.size(); ++i) {
      auto rt = mlir::cast<mlir::RankedTensorType>(b[i].getType());
      mlir::Value p = b_.create<mlir::tessera::MulOp>(l, rt, a[i], b[i]);
      if (rt.getRank() > 0) {
        llvm::SmallVector<int64_t> axes;
        for (int64_t x = 0; x < rt.getRank(); ++x) axes.push_back(x);
        p = b_.create<mlir::tessera::ReduceOp>(l, scalar, p, mlir::tessera::ReduceKind::sum, axes, false);
      }
      total = total ? b_.create<mlir::tessera::AddOp>(l, scalar, total, p).getResult() : p;
    }
    return total;
  }

  // The pullback of a function with several results: u -> vjp(f)(x)(u) is the gradient over x
  // of h(x..., u...) = sum_i sum(f(x...)_i * u_i), a scalar (a plain, unseeded tessera.grad).
  mlir::func::FuncOp vjp_dot(mlir::func::FuncOp f, const SourceRange& r) {
    std::string name = f.getSymName().str() + "__vjp_dot";
    if (auto existing = module_.lookupSymbol<mlir::func::FuncOp>(name)) return existing;
    auto ftype = f.getFunctionType();
    mlir::Type elt = one_float_dtype(ftype.getResults(), r, "vjp of a function with a result that is not a floating-point tensor",
                                     "vjp of a function whose results have different dtypes");
    std::vector<mlir::Type> inputs(ftype.getInputs().begin(), ftype.getInputs().end());
    inputs.insert(inputs.end(), ftype.getResults().begin(), ftype.getResults().end());
    auto scalar = mlir::RankedTensorType::get({}, elt);
    mlir::OpBuilder::InsertionGuard guard(b_);
    mlir::Location l = loc(r);
    auto func = new_private_function(name, inputs, mlir::TypeRange{scalar}, l);
    mlir::Block* entry = &func.getBody().front();
    size_t n = ftype.getNumInputs();
    auto ys = b_.create<mlir::func::CallOp>(l, f, entry->getArguments().take_front(n));
    llvm::SmallVector<mlir::Value> results(ys.getResults().begin(), ys.getResults().end());
    llvm::SmallVector<mlir::Value> us(entry->getArguments().begin() + n, entry->getArguments().end());
    b_.create<mlir::func::ReturnOp>(l, sum_of_products(l, results, us, scalar));
    return func;
  }

  // `y, t = jvp(f, (primals...), (tangents...))`, forward mode by the transpose of the
  // pullback: u -> vjp(f)(x)(u) is linear, so the gradient over u of
  // h(x, u, v) = sum_i sum(vjp_i(x; u) * v_i) is J v at any u (u = y here). Costs a reverse
  // pass over the gradient code: about 3-4x f's forward work (docs/autodiff.md).
  Local jvp_value(const CallExpr* c, const Type& t) {
    auto it = fn_->calls.find(c);
    std::vector<const Expr*> pos = positional(c);
    if (it == fn_->calls.end() || !t || t->kind != TypeKind::Tuple || t->elems.size() != 2 || pos.size() != 3)
      unsupported(c->range, "this call of jvp");
    auto elements = [&](const Expr* e) -> std::vector<const Expr*> {
      if (const auto* te = dyn_cast<TupleExpr>(e)) return {te->elements.begin(), te->elements.end()};
      Type et = type_of(e);
      if (et && et->kind == TypeKind::Tuple) unsupported(e->range, "jvp with primals or tangents not written as a tuple");
      return {e};
    };
    std::vector<const Expr*> primals = elements(pos[1]), tangents = elements(pos[2]);
    std::vector<Local> bound;
    auto [f, args] = bind_call(c, it->second, &bound, 0, &primals);
    // A Params primal is one input of f per tensor, and so is its tangent.
    size_t flat = 0;
    for (const Local& v : bound) flat += v.object == "params" ? v.elems.size() : 1;
    if (bound.size() != primals.size() || args.size() != flat || tangents.size() != primals.size())
      unsupported(c->range, "jvp of a model, or with primals that do not match the function's arguments");
    Type ft = type_of(pos[0]);
    for (const Local& v : bound)
      if (v.object == "params" && ft && ft->name == "transformed")
        unsupported(c->range, "jvp of a gradient of a function with Params arguments");
    mlir::func::FuncOp g = ft && ft->name == "transformed" ? materialize(ft, f, args, c->range) : f;
    const Type& yt = t->elems[0];
    size_t n_results = yt && yt->kind == TypeKind::Tuple ? yt->elems.size() : 1;
    if (g.getFunctionType().getNumResults() != n_results)
      unsupported(c->range, "jvp of a function whose results are nested tuples");
    mlir::Location l = loc(c->range);
    auto ycall = b_.create<mlir::func::CallOp>(l, g, args);
    calls_.push_back({current_func_.getOperation(), f.getOperation(), it->second.callee->name, c->range});
    mlir::func::FuncOp h = jvp_dot(g, args.size(), c->range);
    std::vector<mlir::Value> hargs(args.begin(), args.end());
    for (mlir::Value y : ycall.getResults()) hargs.push_back(y);
    for (size_t i = 0; i < tangents.size(); ++i) {
      Local v = expr(tangents[i]);
      if (bound[i].object == "params") {
        if (v.object != "params" || v.names != bound[i].names || v.elems.size() != bound[i].elems.size())
          unsupported(tangents[i]->range, "a Params tangent that does not match its primal");
        for (const Local& e : v.elems) {
          size_t k = hargs.size() - args.size() - n_results;
          hargs.push_back(convert(e, args[k].getType(), tangents[i]->range));
        }
        continue;
      }
      size_t k = hargs.size() - args.size() - n_results;
      hargs.push_back(convert(v, args[k].getType(), tangents[i]->range));
    }
    std::vector<int64_t> u_argnums;
    for (size_t i = 0; i < n_results; ++i) u_argnums.push_back(static_cast<int64_t>(args.size() + i));
    std::vector<mlir::Value> tvs = grad_op(h, hargs, u_argnums, false, c->range);
    // y and J v, each a value or (several results) a tuple typed like y.
    auto typed = [&](auto&& value_of) {
      if (n_results == 1) return Local{convert({value_of(0), yt}, to_mlir(yt, c->range), c->range), yt};
      Local tuple;
      tuple.type = yt;
      for (size_t i = 0; i < n_results; ++i) {
        const Type& et = yt->elems[i];
        tuple.elems.push_back({convert({value_of(i), et}, to_mlir(et, c->range), c->range), et});
      }
      return tuple;
    };
    Local out;
    out.type = t;
    out.elems.push_back(typed([&](size_t i) { return ycall.getResult(static_cast<unsigned>(i)); }));
    out.elems.push_back(typed([&](size_t i) { return tvs.at(i); }));
    return out;
  }

  // h(x..., u..., v...) = sum_i sum(vjp(g)(x...)(u)_i * v_i), a scalar linear in u (one u per
  // result of g: for several, the pullback is the gradient of vjp_dot(g)).
  mlir::func::FuncOp jvp_dot(mlir::func::FuncOp g, size_t n, const SourceRange& r) {
    std::string name = g.getSymName().str() + "__jvp_dot";
    if (auto existing = module_.lookupSymbol<mlir::func::FuncOp>(name)) return existing;
    auto gt = g.getFunctionType();
    mlir::Type elt = one_float_dtype(gt.getInputs(), r, "jvp with respect to an argument that is not a floating-point tensor",
                                     "jvp with primals of different dtypes");
    size_t m = gt.getNumResults();
    mlir::func::FuncOp pulled = m == 1 ? g : vjp_dot(g, r);  // a seeded grad of g, or a grad of vjp_dot
    std::vector<mlir::Type> inputs(gt.getInputs().begin(), gt.getInputs().end());
    inputs.insert(inputs.end(), gt.getResults().begin(), gt.getResults().end());
    inputs.insert(inputs.end(), gt.getInputs().begin(), gt.getInputs().end());
    auto scalar = mlir::RankedTensorType::get({}, elt);
    mlir::OpBuilder::InsertionGuard guard(b_);
    mlir::Location l = loc(r);
    auto func = new_private_function(name, inputs, mlir::TypeRange{scalar}, l);
    mlir::Block* entry = &func.getBody().front();
    std::vector<mlir::Value> vargs;
    std::vector<int64_t> argnums;
    for (size_t i = 0; i < n + m; ++i) {
      if (i < n) argnums.push_back(static_cast<int64_t>(i));
      vargs.push_back(entry->getArgument(static_cast<unsigned>(i)));
    }
    mlir::OperationState st(l, "tessera.grad");
    st.addOperands(vargs);
    st.addTypes(gt.getInputs());
    st.addAttribute("callee", mlir::FlatSymbolRefAttr::get(pulled.getSymNameAttr()));
    st.addAttribute("argnums", b_.getDenseI64ArrayAttr(argnums));
    if (m == 1) st.addAttribute("seeded", b_.getUnitAttr());
    mlir::Operation* cts = b_.create(st);
    llvm::SmallVector<mlir::Value> grads(cts->getResults().begin(), cts->getResults().end());
    llvm::SmallVector<mlir::Value> vs(entry->getArguments().begin() + n + m, entry->getArguments().end());
    b_.create<mlir::func::ReturnOp>(l, sum_of_products(l, grads, vs, scalar));
    return func;
  }

  // `pullback(ct)`: `tessera.grad @f(primals..., ct) {argnums = all, seeded}`.
  Local pullback_call(const CallExpr* c, const Type& t) {
    Local pb = expr(c->callee);
    std::vector<const Expr*> pos = positional(c);
    if (pb.object != "pullback" || pb.names.size() != 1 || pos.size() != 1 || !t)
      unsupported(c->range, "this call of a vjp pullback");
    auto f = module_.lookupSymbol<mlir::func::FuncOp>(pb.names[0]);
    if (!f) unsupported(c->range, "this call of a vjp pullback");
    std::vector<mlir::Value> args;
    std::vector<int64_t> argnums;
    for (const Local& p : pb.elems) {
      for (const Local& e : p.object == "params" ? p.elems : std::vector<Local>{p}) {
        argnums.push_back(static_cast<int64_t>(args.size()));
        args.push_back(e.value);
      }
    }
    // The cotangent: one value for a function with one result (the seed of a seeded grad), a
    // tuple of them for several (arguments of vjp_dot, whose gradient is the pullback).
    bool several = f.getFunctionType().getNumResults() != 1;
    Local ct = expr(pos[0]);
    if (several) {
      if (ct.elems.size() != f.getFunctionType().getNumResults()) unsupported(c->range, "this call of a vjp pullback");
      for (size_t i = 0; i < ct.elems.size(); ++i)
        args.push_back(convert(ct.elems[i], f.getFunctionType().getResult(static_cast<unsigned>(i)), pos[0]->range));
      f = vjp_dot(f, c->range);
    } else {
      args.push_back(convert(ct, f.getFunctionType().getResult(0), pos[0]->range));
    }
    std::vector<mlir::Type> results;
    for (int64_t n : argnums) results.push_back(args[static_cast<size_t>(n)].getType());
    mlir::OperationState st(loc(c->range), "tessera.grad");
    st.addOperands(args);
    st.addTypes(results);
    st.addAttribute("callee", mlir::FlatSymbolRefAttr::get(f.getSymNameAttr()));
    st.addAttribute("argnums", b_.getDenseI64ArrayAttr(argnums));
    if (!several) st.addAttribute("seeded", b_.getUnitAttr());
    mlir::Operation* g = b_.create(st);
    // One cotangent per primal (a tuple when there are several), a Params for a Params primal.
    size_t next = 0;
    auto cotangent = [&](const Local& primal, const Type& rt) -> Local {
      if (primal.object == "params") {
        Local out = primal;
        for (Local& e : out.elems) e = {g->getResult(next++), e.type};
        out.type = rt;
        return out;
      }
      mlir::Value r = g->getResult(next++);
      return {convert({r, rt}, to_mlir(rt, c->range), c->range), rt};
    };
    if (pb.elems.size() == 1) return cotangent(pb.elems[0], t);
    if (t->kind != TypeKind::Tuple || t->elems.size() != pb.elems.size()) unsupported(c->range, "this call of a vjp pullback");
    Local out;
    out.type = t;
    for (size_t i = 0; i < pb.elems.size(); ++i) out.elems.push_back(cotangent(pb.elems[i], t->elems[i]));
    return out;
  }

  // A call of a transform of a transformed function (`grad(grad(f))(x)`) or of
  // `hessian_vector_product(f, argnums=n)(args..., v)`: each inner transform becomes a private
  // function whose body is its `tessera.grad` (materialize), which the outer `tessera.grad`
  // differentiates; ir/autodiff expands the innermost gradients first (docs/autodiff.md).
  Local higher_order_call(const CallExpr* c, const Type& transform, const Type& t) {
    for (Type in = transform->of; in; in = in->of)
      if (in->transform == "hessian_vector_product")
        unsupported(c->range, "a transform of hessian_vector_product (differentiate a function that calls it instead)");
    auto it = fn_->calls.find(c);
    if (it == fn_->calls.end() || !t) unsupported(c->range, "this call of a differentiated function");
    std::vector<Local> bound;
    auto [f, args] = bind_call(c, it->second, &bound);
    for (const Local& v : bound)
      if (v.object == "params")
        unsupported(c->range, "higher-order automatic differentiation of a function with Params arguments");
    std::vector<mlir::Value> all(args.begin(), args.end());
    if (transform->transform == "hessian_vector_product") {
      std::vector<const Expr*> pos = positional(c);
      int64_t n = transform->argnums.at(0);
      if (pos.size() != bound.size() + 1 || n < 0 || static_cast<size_t>(n) >= args.size())
        unsupported(c->range, "this call of hessian_vector_product");
      all.push_back(convert(expr(pos.back()), args[static_cast<size_t>(n)].getType(), pos.back()->range));
    }
    std::vector<mlir::Value> results = emit_transform(transform, f, all, c->range);
    calls_.push_back({current_func_.getOperation(), f.getOperation(), it->second.callee->name, c->range});
    // The results as the program sees them, typed as the checker typed them.
    size_t next = 0;
    std::function<Local(const Type&)> rebuild = [&](const Type& rt) -> Local {
      if (rt && rt->kind == TypeKind::Tuple) {
        Local out;
        out.type = rt;
        for (const Type& e : rt->elems) out.elems.push_back(rebuild(e));
        return out;
      }
      if (next >= results.size()) unsupported(c->range, "this call of a differentiated function");
      mlir::Value r = results[next++];
      return {convert({r, rt}, to_mlir(rt, c->range), c->range), rt};
    };
    return rebuild(t);
  }

  // The transform `tr` applied to `args` at the builder (`f`: the specialized innermost user
  // function); its flat results.
  std::vector<mlir::Value> emit_transform(const Type& tr, mlir::func::FuncOp f, std::vector<mlir::Value> args,
                                          const SourceRange& r) {
    const std::string& kind = tr->transform;
    mlir::Location l = loc(r);
    if (kind == "hessian_vector_product") {
      // H v = grad over x of h(args, v) = sum(grad(f)(args) * v) (reverse over reverse).
      int64_t n = tr->argnums.at(0);
      std::vector<mlir::Value> primals(args.begin(), args.end() - 1);
      mlir::func::FuncOp g = tr->of ? materialize(tr->of, f, primals, r) : f;
      mlir::func::FuncOp h = hvp_dot(g, n, r);
      return grad_op(h, args, {n}, false, r);
    }
    if (kind != "grad" && kind != "value_and_grad")
      unsupported(r, fmt::format("automatic differentiation with {} of a transformed function", kind));
    mlir::func::FuncOp g = tr->of ? materialize(tr->of, f, args, r) : f;
    (void)l;
    return grad_op(g, args, tr->argnums, kind == "value_and_grad", r);
  }

  // One `tessera.grad` of `g` (which must return one value) at the builder.
  std::vector<mlir::Value> grad_op(mlir::func::FuncOp g, const std::vector<mlir::Value>& args,
                                   const std::vector<int64_t>& argnums, bool with_value, const SourceRange& r) {
    auto gt = g.getFunctionType();
    if (gt.getNumResults() != 1)
      unsupported(r, "differentiating a transformed function that returns several values");
    std::vector<mlir::Type> results;
    if (with_value) results.push_back(gt.getResult(0));
    for (int64_t n : argnums) {
      if (n < 0 || static_cast<size_t>(n) >= gt.getNumInputs()) unsupported(r, "this call of a differentiated function");
      results.push_back(gt.getInput(static_cast<unsigned>(n)));
    }
    mlir::OperationState st(loc(r), "tessera.grad");
    st.addOperands(args);
    st.addTypes(results);
    st.addAttribute("callee", mlir::FlatSymbolRefAttr::get(g.getSymNameAttr()));
    st.addAttribute("argnums", b_.getDenseI64ArrayAttr(argnums));
    if (with_value) st.addAttribute("value", b_.getUnitAttr());
    mlir::Operation* op = b_.create(st);
    return {op->getResults().begin(), op->getResults().end()};
  }

  // A private function `name` at the end of the module, with an entry block; the builder is left
  // at the start of it (callers hold an InsertionGuard).
  mlir::func::FuncOp new_private_function(const std::string& name, mlir::TypeRange inputs, mlir::TypeRange results,
                                          mlir::Location l) {
    b_.setInsertionPointToEnd(module_.getBody());
    auto func = b_.create<mlir::func::FuncOp>(l, name, b_.getFunctionType(inputs, results));
    func.setPrivate();
    b_.setInsertionPointToStart(func.addEntryBlock());
    return func;
  }

  // The name of a transform chain over `f`: f__grad0__grad0 for grad(grad(f)).
  static std::string transform_name(const Type& tr, mlir::func::FuncOp f) {
    std::string name = tr->of ? transform_name(tr->of, f) : f.getSymName().str();
    name += tr->transform == "hessian_vector_product" ? "__hvp" : "__" + tr->transform;
    for (int64_t n : tr->argnums) name += std::to_string(n);
    return name;
  }

  // A private function computing the transform `tr` of `f` (its arguments typed like `args`).
  mlir::func::FuncOp materialize(const Type& tr, mlir::func::FuncOp f, const std::vector<mlir::Value>& args,
                                 const SourceRange& r) {
    std::string name = transform_name(tr, f);
    if (auto existing = module_.lookupSymbol<mlir::func::FuncOp>(name)) return existing;
    std::vector<mlir::Type> inputs;
    for (mlir::Value a : args) inputs.push_back(a.getType());
    mlir::OpBuilder::InsertionGuard guard(b_);
    auto func = new_private_function(name, inputs, mlir::TypeRange{}, loc(r));
    mlir::Block* entry = &func.getBody().front();
    std::vector<mlir::Value> params(entry->getArguments().begin(), entry->getArguments().end());
    std::vector<mlir::Value> results = emit_transform(tr, f, params, r);
    b_.create<mlir::func::ReturnOp>(loc(r), results);
    std::vector<mlir::Type> outs;
    for (mlir::Value v : results) outs.push_back(v.getType());
    func.setFunctionType(b_.getFunctionType(inputs, outs));
    return func;
  }

  // h(args..., v) = sum(grad(g, argnums=n)(args) * v): a scalar whose gradient with respect to
  // argument n is the Hessian of g times v.
  mlir::func::FuncOp hvp_dot(mlir::func::FuncOp g, int64_t n, const SourceRange& r) {
    std::string name = g.getSymName().str() + "__hvp_dot" + std::to_string(n);
    if (auto existing = module_.lookupSymbol<mlir::func::FuncOp>(name)) return existing;
    auto gt = g.getFunctionType();
    if (n < 0 || static_cast<size_t>(n) >= gt.getNumInputs()) unsupported(r, "this call of hessian_vector_product");
    mlir::Type xt = gt.getInput(static_cast<unsigned>(n));
    auto rt = mlir::dyn_cast<mlir::RankedTensorType>(xt);
    if (!rt) unsupported(r, "hessian_vector_product with respect to an argument that is not a tensor");
    std::vector<mlir::Type> inputs(gt.getInputs().begin(), gt.getInputs().end());
    inputs.push_back(xt);
    auto scalar = mlir::RankedTensorType::get({}, rt.getElementType());
    mlir::OpBuilder::InsertionGuard guard(b_);
    mlir::Location l = loc(r);
    auto func = new_private_function(name, inputs, mlir::TypeRange{scalar}, l);
    mlir::Block* entry = &func.getBody().front();
    std::vector<mlir::Value> primals(entry->getArguments().begin(), entry->getArguments().end() - 1);
    mlir::Value grad = grad_op(g, primals, {n}, false, r).at(0);
    mlir::Value p = b_.create<mlir::tessera::MulOp>(l, xt, grad, entry->getArguments().back());
    if (rt.getRank() > 0) {
      llvm::SmallVector<int64_t> axes;
      for (int64_t i = 0; i < rt.getRank(); ++i) axes.push_back(i);
      p = b_.create<mlir::tessera::ReduceOp>(l, scalar, p, mlir::tessera::ReduceKind::sum, axes, false);
    }
    b_.create<mlir::func::ReturnOp>(l, p);
    return func;
  }

  // The specialized callee of a user call and its arguments, converted to its parameter types.
  // With `bound_values`, also the argument values in parameter order (a Params bundle whole).
  // `skip`: positional arguments of `c` before the callee's (vjp's function); `given`: the
  // positional arguments instead of c's (the primals tuple of jvp).
  std::pair<mlir::func::FuncOp, std::vector<mlir::Value>> bind_call(const CallExpr* c, const sema::CallTarget& target,
                                                                    std::vector<Local>* bound_values = nullptr,
                                                                    size_t skip = 0,
                                                                    const std::vector<const Expr*>* given = nullptr) {
    const sema::TypedFunction& callee = *target.callee;
    for (const std::string& d : callee.decorators)
      if (d == "mcmc" || d == "variational" || d == "probabilistic")
        unsupported(c->range, fmt::format("probabilistic inference (calling the @{} function '{}')", d, callee.name));
    SpecKey key{&callee, {}, {}};
    for (const std::string& d : callee.dims) {
      auto it = target.dims.find(d);
      if (it == target.dims.end()) continue;
      if (auto v = static_dim(it->second)) key.dims[d] = *v;
    }
    // Arguments in parameter order (positional, then keywords by name, then defaults).
    std::vector<const Expr*> bound(callee.params.size(), nullptr);
    const Expr* params_kw = nullptr;
    size_t i = 0;
    for (const Argument& a : c->args) {
      if (a.kind == ArgKind::Positional) {
        if (skip > 0) {
          --skip;
          continue;
        }
        if (given) continue;
        if (i < bound.size()) bound[i++] = a.value;
      } else if (a.kind == ArgKind::Keyword) {
        bool found = false;
        for (size_t k = 0; k < callee.params.size(); ++k)
          if (callee.params[k].name == a.name) bound[k] = a.value, found = true;
        if (!found && a.name == "params" && callee.is_model) params_kw = a.value;
      } else {
        unsupported(a.range, "'*' and '**' arguments");
      }
    }
    if (given)
      for (size_t k = 0; k < given->size() && k < bound.size(); ++k) bound[k] = (*given)[k];
    std::vector<Local> values;
    for (size_t k = 0; k < bound.size(); ++k) {
      if (!bound[k]) unsupported(c->range, fmt::format("a call that leaves '{}' to its default value", callee.params[k].name));
      values.push_back(expr(bound[k]));
      if (values.back().object == "params") {
        auto& layout = key.layouts[k];
        for (size_t q = 0; q < values.back().names.size(); ++q)
          layout.push_back({values.back().names[q], values.back().elems[q].type});
      } else if (callee.params[k].type && callee.params[k].type->kind == TypeKind::Params) {
        unsupported(bound[k]->range, "Params that are not known here (from ts.init, an optimizer or a Params argument)");
      }
    }
    // A model's parameters: from `params=`, or the caller's own (a model inside a model).
    std::vector<Local> model_values;
    if (callee.is_model) {
      if (params_kw) {
        Local bundle = params_value(params_kw);
        std::vector<std::string> names;
        for (const auto& p : callee.model_params) names.push_back(p.name);
        model_values = by_names(bundle, names, params_kw->range);
      } else if (auto it = fn_->layer_params.find(c); it != fn_->layer_params.end()) {
        for (size_t q = 0; q < callee.model_params.size(); ++q) model_values.push_back(model_args_.at(it->second + q));
      } else {
        unsupported(c->range, fmt::format("calling the model '{}' without params=", callee.name));
      }
    }
    mlir::func::FuncOp f = declare(key);
    std::vector<mlir::Value> args;
    auto ftype = f.getFunctionType();
    size_t in = 0;
    for (size_t k = 0; k < values.size(); ++k) {
      if (values[k].object == "params") {
        for (const Local& e : values[k].elems) args.push_back(convert(e, ftype.getInput(in++), bound[k]->range));
        continue;
      }
      args.push_back(convert(values[k], ftype.getInput(in++), bound[k]->range));
    }
    for (const Local& v : model_values) args.push_back(convert(v, ftype.getInput(in++), c->range));
    if (bound_values) *bound_values = values;
    return {f, args};
  }

  Local user_call(const CallExpr* c, const sema::CallTarget& target, const Type& t) {
    auto [f, args] = bind_call(c, target);
    const sema::TypedFunction& callee = *target.callee;
    auto call = b_.create<mlir::func::CallOp>(loc(c->range), f, args);
    calls_.push_back({current_func_.getOperation(), f.getOperation(), callee.name, c->range});
    if (call.getNumResults() == 0) return {mlir::Value{}, t};
    size_t next = 0;
    auto layout = returned_layouts_.find(f.getOperation());
    return unflatten(t, call.getResults(), next, layout == returned_layouts_.end() ? nullptr : &layout->second);
  }

};

}  // namespace

std::string entry_symbol(const std::string& name) {
  // Names a compiled program already uses for the C library and the runtime.
  static const std::set<std::string> reserved = {
      "abort", "abs",  "acos",  "asin",  "atan",   "atan2", "calloc", "ceil",  "cos",   "cosh",    "erf",
      "exit",  "exp",  "exp2",  "expm1", "fabs",   "floor", "fma",    "fmod",  "free",  "log",     "log10",
      "log1p", "log2", "malloc", "memcpy", "memmove", "memset", "pow", "printf", "realloc", "round",
      "sin",   "sinh", "sqrt",  "tan",   "tanh",   "trunc"};
  if (reserved.count(name) || name.rfind("tess", 0) == 0 || name.rfind("_mlir", 0) == 0) return "tsr." + name;
  return name;
}

DiagnosticBridge::DiagnosticBridge(mlir::MLIRContext& ctx, const SourceManager& sources, DiagnosticEngine& diags)
    : ctx_(ctx) {
  handler_id_ = ctx.getDiagEngine().registerHandler([this, &sources, &diags](mlir::Diagnostic& d) {
    if (d.getSeverity() != mlir::DiagnosticSeverity::Error) return mlir::success();
    std::string message = d.str();
    constexpr std::string_view kPrefix = "not yet supported: ";
    SourceRange where;
    if (auto flc = mlir::dyn_cast<mlir::FileLineColLoc>(d.getLocation()))
      if (auto file = sources.find(flc.getFilename().str())) {
        SourceLoc begin = sources.loc_at(*file, flc.getLine(), flc.getColumn());
        where = SourceRange{begin, begin};
      }
    if (message.rfind(kPrefix, 0) == 0 && where.begin.valid()) {
      diags.report(DiagKind::NotYetSupported, where, message.substr(kPrefix.size()) + " (in code generation)");
      return mlir::success();
    }
    std::string text;
    llvm::raw_string_ostream os(text);
    os << d.getLocation() << ": " << message;
    internal_ += (internal_.empty() ? "" : "\n") + text;
    return mlir::success();
  });
}

DiagnosticBridge::~DiagnosticBridge() { ctx_.getDiagEngine().eraseHandler(handler_id_); }

mlir::OwningOpRef<mlir::ModuleOp> lower_to_graph(mlir::MLIRContext& ctx, const sema::TypedModule& module,
                                                 const SourceManager& sources, DiagnosticEngine& diags,
                                                 const GraphLoweringOptions& options) {
  load_graph_dialects(ctx);
  Lowerer lowerer(ctx, sources, diags);
  return lowerer.run(module, options);
}

}  // namespace tessera::ir
