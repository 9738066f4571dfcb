// Typed AST -> Graph IR. One Lowerer walks the entry function and every user function it
// reaches, specializing each callee to the dimension values of its call site. Values:
// tensors are ranked `tensor<...>` (dynamic `?` where a dimension is not fixed), Python
// `Int`/`Float`/`Bool` values are `i64`/`f64`/`i1`. Control flow becomes `scf`; a
// `static_range` loop is unrolled.
#include "ir/graph/lower_to_graph.h"
#include "ir/graph/lower_to_graph_internal.h"

namespace tessera::ir {

void load_graph_dialects(mlir::MLIRContext& ctx) {
  ctx.loadDialect<mlir::tessera::TesseraDialect, mlir::func::FuncDialect, mlir::arith::ArithDialect,
                  mlir::math::MathDialect, mlir::scf::SCFDialect, mlir::tensor::TensorDialect>();
}

namespace lowering {

mlir::OwningOpRef<mlir::ModuleOp> Lowerer::run(const sema::TypedModule& m, const GraphLoweringOptions& options) {
  mlir::OwningOpRef<mlir::ModuleOp> owned(module_);
  try {
    std::vector<const sema::TypedFunction*> roots;
    const sema::TypedFunction* main_fn = nullptr;
    for (const sema::TypedFunction* f : m.functions) {
      if (!options.entry.empty() && f->name == options.entry) roots.push_back(f);
      if (f->name == "main") main_fn = f;
    }
    if (options.all_functions) {
      // A probabilistic function is not an entry of its own: a call of it is inference.
      for (const sema::TypedFunction* f : m.functions)
        if (std::none_of(f->decorators.begin(), f->decorators.end(), [](const std::string& d) {
              return d == "mcmc" || d == "variational" || d == "probabilistic";
            }))
          roots.push_back(f);
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

// Compiled code cannot recurse yet (buffers cross calls by ownership, which recursion breaks);
// a call that closes a cycle is reported where it is.
void Lowerer::reject_recursion() {
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

void Lowerer::flatten(const Local& l, std::vector<mlir::Value>& out) {
  if (l.value) out.push_back(l.value);
  else
    for (const Local& e : l.elems) flatten(e, out);
}

// `cur` as the values of `proto`'s structure, each converted to proto's type.
void Lowerer::flatten_as(const Local& cur, const Local& proto, std::vector<mlir::Value>& out, SourceRange r) {
  if (proto.value) {
    if (!cur.value) unsupported(r, "a name that changes from a tensor to another kind of value in a loop or branch");
    out.push_back(convert(cur, proto.value.getType(), r));
    return;
  }
  if (cur.value || cur.elems.size() != proto.elems.size() || cur.names != proto.names || cur.object != proto.object)
    unsupported(r, "a Params, optimizer or tuple that changes its structure in a loop or branch");
  for (size_t i = 0; i < proto.elems.size(); ++i) flatten_as(cur.elems[i], proto.elems[i], out, r);
}

Local Lowerer::rebuild(const Local& proto, mlir::ValueRange values, size_t& pos) {
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
std::optional<mlir::Value> Lowerer::dynamic_dim_value(const std::string& d) {
  if (auto it = dim_values_.find(d); it != dim_values_.end()) return it->second;
  mlir::OpBuilder::InsertionGuard guard(b_);
  b_.setInsertionPointToStart(entry_);
  mlir::Location l = loc(fn_->range);
  // A probabilistic function's log density or quantities take the unconstrained vector first.
  unsigned first = role_ != 0 ? 1 : 0;
  for (size_t i = 0; i < fn_->params.size(); ++i) {
    const Type& t = fn_->params[i].type;
    unsigned a = first + static_cast<unsigned>(i);
    if (t && t->kind == TypeKind::Tensor && t->shape) {
      for (size_t k = 0; k < t->shape->size(); ++k)
        if ((*t->shape)[k].as_symbol() == d)
          return dim_values_[d] = b_.create<mlir::tensor::DimOp>(l, entry_->getArgument(a), k);
    } else if (t && t->kind == TypeKind::Int && t->int_value && t->int_value->as_symbol() == d) {
      return dim_values_[d] = b_.create<mlir::arith::IndexCastOp>(l, b_.getIndexType(), entry_->getArgument(a));
    }
  }
  // A symbol that a load's annotation named, with the size of the first file that had it.
  if (auto it = loaded_dims_.find(d); it != loaded_dims_.end()) return it->second.first;
  return std::nullopt;
}

void Lowerer::unsupported(SourceRange where, const std::string& what) {
  diags_.report(DiagKind::NotYetSupported, where, what + " (in the Graph IR lowering)");
  throw LoweringFailed{};
}

mlir::Location Lowerer::loc(SourceRange r) {
  if (!r.begin.valid()) return mlir::UnknownLoc::get(&ctx_);
  LineCol lc = sources_.line_col(r.begin);
  return mlir::FileLineColLoc::get(&ctx_, sources_.file(r.begin.file).name, lc.line, lc.col);
}

mlir::Type Lowerer::element_type(sema::DType d) {
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
std::optional<int64_t> Lowerer::static_dim(const DimExpr& d) {
  DimExpr e = d.substitute(dim_subst_);
  if (e.is_constant()) return e.constant_value();
  return std::nullopt;
}

mlir::Type Lowerer::to_mlir(const Type& t, SourceRange where) {
  if (!t || t->kind == TypeKind::Unknown) unsupported(where, "a value whose type is not known");
  switch (t->kind) {
    case TypeKind::Int: return b_.getI64Type();
    case TypeKind::Posterior: return b_.getI64Type();  // a handle of the runtime's Posterior
    case TypeKind::Float: return b_.getF64Type();
    case TypeKind::Bool: return b_.getI1Type();
    case TypeKind::Tensor: {
      if (!t->shape) unsupported(where, "a tensor whose rank is not known");
      // u8 has no unsigned lowering yet: as i8, 200 would compute as -56. An error, not that.
      if (t->dtype == sema::DType::U8)
        unsupported(where, "u8 tensors at run time (they would compute as signed i8); use i16, i32 or f32");
      std::vector<int64_t> shape;
      for (const DimExpr& d : *t->shape) shape.push_back(static_dim(d).value_or(mlir::ShapedType::kDynamic));
      return mlir::RankedTensorType::get(shape, element_type(t->dtype));
    }
    default: unsupported(where, feature_of(t));
  }
}

// The language feature a value of a type that does not lower belongs to, for the E0900 text.
std::string Lowerer::feature_of(const Type& t) {
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
bool Lowerer::is_ad_transform(const std::string& name) {
  return name == "grad" || name == "value_and_grad" || name == "vjp" || name == "jvp" ||
         name == "hessian_vector_product" || name == "custom_vjp";
}

Type Lowerer::type_of(const Expr* e) {
  auto it = fn_->expr_types.find(e);
  if (it == fn_->expr_types.end() || !it->second) unsupported(e->range, "an expression that was not type-checked");
  return it->second;
}

mlir::Attribute Lowerer::policy_attr(const Type& t) {
  if (!t || t->kind != TypeKind::Tensor || t->policy.empty()) return {};
  const sema::Policy& p = t->policy;
  return mlir::tessera::PolicyAttr::get(&ctx_, p.accum ? element_type(*p.accum) : mlir::Type{},
                                        p.loss_scale ? b_.getF64FloatAttr(*p.loss_scale) : mlir::FloatAttr{},
                                        p.rounding == "stochastic", p.saturate, p.deterministic,
                                        p.device.empty() ? mlir::StringAttr{} : b_.getStringAttr(p.device));
}

std::string Lowerer::mangle(const SpecKey& key, bool root) {
  // Functions other than the roots get a prefix that no C name has, so that a user function
  // called `exp` or `free` cannot clash with the C library in compiled code.
  std::string name = key.role == 1   ? "__tess_logp." + key.fn->name
                     : key.role == 2 ? "__tess_gq." + key.fn->name
                     : key.role == 3 ? "__tess_terms." + key.fn->name
                     : key.role == 4 ? "__tess_cond." + key.fn->name
                     : key.role == 5 ? "__tess_pred." + key.fn->name
                     : root          ? entry_symbol(key.fn->name)
                                     : "tsr." + key.fn->name;
  if (!key.dims.empty()) {
    name += "_";
    for (const auto& [d, v] : key.dims) name += fmt::format("_{}{}", d, v);
  }
  std::string unique = name;
  for (int i = 2; names_.count(unique); ++i) unique = fmt::format("{}_{}", name, i);
  names_.insert(unique);
  return unique;
}

void Lowerer::set_dims(const SpecKey& key) {
  dim_subst_.clear();
  for (const auto& [d, v] : key.dims) dim_subst_.emplace(d, DimExpr::constant(v));
}

mlir::func::FuncOp Lowerer::declare(const SpecKey& key, bool root) {
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
  if (key.role != 0) {
    // A probabilistic function's log density or quantities: the unconstrained vector first.
    inputs.insert(inputs.begin(), mlir::RankedTensorType::get({latent_size(f).value_or(mlir::ShapedType::kDynamic)},
                                                              b_.getF64Type()));
    if (key.role == 1) {
      outputs.push_back(mlir::RankedTensorType::get({}, b_.getF64Type()));
    } else if (key.role == 4) {
      // A conditional distribution: its latents' log density, then the returned distribution's
      // parameters (lower_inference.cpp).
      outputs.push_back(mlir::RankedTensorType::get({}, b_.getF64Type()));
      for (mlir::Type t : conditional_results(f)) outputs.push_back(t);
      std::vector<Type> drawn;
      for (const auto& [n, t] : f.latent_names) drawn.push_back(t);
      outputs.push_back(mlir::RankedTensorType::get({static_numel(drawn, f.range, "a latent variable").value_or(mlir::ShapedType::kDynamic)},
                                                    b_.getF64Type()));
    } else if (key.role == 5) {
      // The mean and the variance of the observed argument's distribution, one after the other.
      std::optional<int64_t> k;
      for (const auto& p : f.params)
        if (!f.observed_params.empty() && p.name == f.observed_params[0]) k = static_numel({p.type}, p.range, "the observed argument");
      outputs.push_back(mlir::RankedTensorType::get({k ? 2 * *k : mlir::ShapedType::kDynamic}, b_.getF64Type()));
    } else if (key.role == 3) {
      std::vector<std::pair<const void*, SourceRange>> terms;
      density_statements(f.def->body, terms);
      outputs.push_back(mlir::RankedTensorType::get({static_cast<int64_t>(terms.size())}, b_.getF64Type()));
    } else {
      const Type& fields = f.inferred_return;
      if (!fields || fields->kind != TypeKind::Posterior)
        unsupported(f.range, fmt::format("'{}' does not end with `return Posterior(name=value, ...)`", f.name));
      outputs.push_back(mlir::RankedTensorType::get({fields_size(fields, f.range).value_or(mlir::ShapedType::kDynamic)},
                                                    b_.getF64Type()));
    }
  } else if (ret && ret->kind != TypeKind::None) {
    flat_types(ret, f.range, outputs, layout);
  }
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
std::optional<SpecKey> Lowerer::custom_vjp_key(const sema::TypedFunction& f) {
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
void Lowerer::mark_custom_vjp(mlir::func::FuncOp f, const SpecKey& bwd_key) {
  const sema::TypedFunction& fn = *key_fn(f);
  for (const auto& p : fn.params)
    if (p.type && p.type->kind == TypeKind::Params)
      unsupported(fn.range, "@custom_vjp on a function with a Params argument");
  if (!fn.model_params.empty()) unsupported(fn.range, "@custom_vjp on a model that declares parameters");
  mlir::func::FuncOp bwd = declare(bwd_key);
  f->setAttr("tessera.custom_vjp", mlir::FlatSymbolRefAttr::get(bwd.getSymNameAttr()));
}

const sema::TypedFunction* Lowerer::key_fn(mlir::func::FuncOp f) {
  for (const auto& [k, v] : specs_)
    if (v == f) return k.fn;
  return nullptr;
}

void Lowerer::lower_function(const SpecKey& key, mlir::func::FuncOp func) {
  const sema::TypedFunction& f = *key.fn;
  current_func_ = func;
  fn_ = &f;
  set_dims(key);
  dim_values_.clear();
  loaded_dims_.clear();
  scopes_.assign(1, {});
  returned_.reset();
  mlir::Block* entry = func.addEntryBlock();
  b_.setInsertionPointToStart(entry);
  size_t arg = 0;
  role_ = key.role == 4 ? 1 : key.role == 5 ? 2 : key.role;
  conditional_ = key.role == 4;
  predicting_ = key.role == 5 && !f.observed_params.empty() ? f.observed_params[0] : "";
  predicted_.reset();
  drawn_values_.clear();
  theta_ = {};
  theta_offset_ = 0;
  theta_offset_dyn_ = {};
  if (role_ != 0) {
    theta_ = entry->getArgument(arg++);
    auto zero = mlir::DenseElementsAttr::get(mlir::RankedTensorType::get({}, b_.getF64Type()), 0.0);
    if (role_ == 1)
      scopes_.back()[kLogDensity] = {b_.create<mlir::arith::ConstantOp>(loc(f.range), zero), sema::float_type()};
    if (role_ == 3) {
      std::vector<std::pair<const void*, SourceRange>> terms;
      density_statements(f.def->body, terms);
      for (const auto& [key, range] : terms)
        scopes_.back()[density_name(key)] = {b_.create<mlir::arith::ConstantOp>(loc(f.range), zero), sema::float_type()};
    }
  }
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
  // Predictions: the observed argument is a placeholder, read only as the target of its '~'.
  if (!predicting_.empty())
    if (Local* y = lookup(predicting_)) y->object = "predict:observed";
  model_args_.clear();
  for (const sema::ModelParam& p : f.model_params)
    model_args_.push_back({entry->getArgument(arg++), sema::tensor_type(p.dtype, p.shape)});
  entry_ = entry;
  block(f.def->body, /*top=*/true);
  mlir::Location end = loc(f.range);
  if (conditional_) {
    // The log density of the conditional's own latents, then its distribution's parameters.
    ConditionalSig sig = conditional_signature(f);
    if (!returned_ || returned_->object != "distribution:" + sig.family)
      unsupported(sig.range, fmt::format("what '{}' returns (a conditional distribution returns one constructor: "
                                         "return {}(...))",
                                         f.name, sig.family));
    auto results = func.getFunctionType().getResults();
    std::vector<mlir::Value> values{lookup(kLogDensity)->value};
    for (size_t i = 0; i < sig.names.size(); ++i) {
      auto at = std::find(returned_->names.begin(), returned_->names.end(), sig.names[i]);
      if (at == returned_->names.end()) unsupported(sig.range, fmt::format("the parameter '{}' of what '{}' returns", sig.names[i], f.name));
      values.push_back(convert(returned_->elems[static_cast<size_t>(at - returned_->names.begin())], results[i + 1], sig.range));
    }
    values.push_back(convert({drawn_flat(false, f.range), sema::float_type()}, results.back(), f.range));
    b_.create<mlir::func::ReturnOp>(end, values);
  } else if (role_ == 1) {
    b_.create<mlir::func::ReturnOp>(end, mlir::ValueRange{lookup(kLogDensity)->value});
  } else if (role_ == 3) {
    std::vector<std::pair<const void*, SourceRange>> terms;
    density_statements(f.def->body, terms);
    std::vector<mlir::Value> values;
    for (const auto& [key, range] : terms)
      values.push_back(b_.create<mlir::tensor::ExtractOp>(end, lookup(density_name(key))->value, mlir::ValueRange{}));
    auto type = mlir::RankedTensorType::get({static_cast<int64_t>(values.size())}, b_.getF64Type());
    b_.create<mlir::func::ReturnOp>(end, mlir::ValueRange{b_.create<mlir::tensor::FromElementsOp>(end, type, values)});
  } else if (!predicting_.empty()) {
    if (!predicted_)
      unsupported(f.range, fmt::format("Posterior.predict of '{}', which does not observe '{}' at the top level of its "
                                       "body (`{} ~ D(...)`)",
                                       f.name, predicting_, predicting_));
    mlir::Value mean = predicted_->first, var = predicted_->second;
    auto mt = mlir::cast<mlir::RankedTensorType>(mean.getType());
    int64_t k = mt.getDimSize(0);
    auto both = mlir::RankedTensorType::get({mlir::ShapedType::isDynamic(k) ? k : 2 * k}, b_.getF64Type());
    mlir::Value out = op("tessera.concat", {mean, var}, both, f.range, nullptr, {{"axis", b_.getI64IntegerAttr(0)}});
    b_.create<mlir::func::ReturnOp>(end, mlir::ValueRange{convert({out, sema::float_type()}, func.getFunctionType().getResult(0), f.range)});
  } else if (role_ == 2) {
    if (!returned_ || returned_->object != "posterior")
      unsupported(f.range, fmt::format("'{}' does not end with `return Posterior(name=value, ...)`", f.name));
    mlir::Value fields = flatten_fields(*returned_, f.range);
    if (f.conditional_fields > 0) {
      // The latent variables of the conditional distributions, after the fields.
      mlir::Value drawn = drawn_flat(true, f.range);
      auto ft = mlir::cast<mlir::RankedTensorType>(fields.getType()), dt = mlir::cast<mlir::RankedTensorType>(drawn.getType());
      int64_t width = ft.isDynamicDim(0) || dt.isDynamicDim(0) ? mlir::ShapedType::kDynamic : ft.getDimSize(0) + dt.getDimSize(0);
      fields = op("tessera.concat", {fields, drawn}, mlir::RankedTensorType::get({width}, b_.getF64Type()), f.range, nullptr,
                  {{"axis", b_.getI64IntegerAttr(0)}});
    }
    b_.create<mlir::func::ReturnOp>(end, mlir::ValueRange{fields});
  } else if (func.getFunctionType().getNumResults() == 0) {
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

// The parameters of a specialization's Params arguments, when they all have the same ones
// (null otherwise, or without Params arguments).
const Lowerer::Layout* Lowerer::params_layout(const SpecKey& key) {
  const Layout* out = nullptr;
  for (const auto& [i, l] : key.layouts) {
    if (out && !same_layout(*out, l)) return nullptr;
    out = &l;
  }
  return out;
}

bool Lowerer::same_layout(const Layout& a, const Layout& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || sema::to_string(a[i].second) != sema::to_string(b[i].second)) return false;
  return true;
}

// Tuples cross function boundaries flattened: (a, (b, c)) is three results; a Params is its
// tensors, in the order of `layout` (its Params arguments').
void Lowerer::flat_types(const Type& t, const SourceRange& where, std::vector<mlir::Type>& out, const Layout* layout) {
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

void Lowerer::flat_locals(const Local& l, const SourceRange& where, std::vector<Local>& out, const Layout* layout) {
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
Local Lowerer::unflatten(const Type& t, mlir::ValueRange results, size_t& next, const Layout* layout) {
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

}  // namespace lowering

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
  lowering::Lowerer lowerer(ctx, sources, diags);
  return lowerer.run(module, options);
}

}  // namespace tessera::ir
