// Typed AST -> Graph IR. Probabilistic functions (docs/inference.md): a call of an @mcmc or
// @variational function becomes `tessera.infer` over two functions made from its body, each
// specialized to the call's dimensions:
//   - the log density (role 1): `(theta: tensor<Pxf64>, data...) -> tensor<f64>`. Each latent
//     `w ~ D` takes the next numel(w) entries of the unconstrained vector theta, maps them into
//     D's support (adding the log-Jacobian) and adds D.log_prob(w); each observation `y ~ D`
//     adds D.log_prob(y). Densities are computed and summed in f64 whatever the data's dtype.
//     Its gradient (reverse mode) makes the public callback `__tess_logp_grad.<f>`;
//   - the quantities (role 2): `(theta, data...) -> tensor<Wxf64>`, the fields of the
//     `Posterior(...)` the body returns, flattened one after the other (a public callback).
// The runtime's engines (runtime/src/inference.h) call both through their packed wrappers.
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>

#include "ir/graph/lower_to_graph_internal.h"

namespace tessera::ir::lowering {

namespace {

// The support of a distribution, which decides the bijection of a latent variable.
enum class Support { Real, Positive, Unit, Interval, Simplex, CholeskyCorr, Discrete, Unknown };

struct Family {
  const char* name;
  std::vector<const char*> params;    // torch.distributions' names, in positional order
  std::vector<double> defaults;       // for the trailing parameters (NaN: required)
  Support support;
};

const std::vector<Family>& families() {
  static const double kReq = std::nan("");
  static const std::vector<Family> table = {
      {"Normal", {"loc", "scale"}, {kReq, kReq}, Support::Real},
      {"HalfNormal", {"scale"}, {kReq}, Support::Positive},
      {"LogNormal", {"loc", "scale"}, {kReq, kReq}, Support::Positive},
      {"Cauchy", {"loc", "scale"}, {kReq, kReq}, Support::Real},
      {"HalfCauchy", {"scale"}, {kReq}, Support::Positive},
      {"StudentT", {"df", "loc", "scale"}, {kReq, 0.0, 1.0}, Support::Real},
      {"Gamma", {"concentration", "rate"}, {kReq, kReq}, Support::Positive},
      {"Exponential", {"rate"}, {kReq}, Support::Positive},
      {"Beta", {"concentration1", "concentration0"}, {kReq, kReq}, Support::Unit},
      {"Uniform", {"low", "high"}, {kReq, kReq}, Support::Interval},
      {"Bernoulli", {"probs", "logits"}, {}, Support::Discrete},
      {"Poisson", {"rate", "log_rate"}, {}, Support::Discrete},
      {"Binomial", {"total_count", "probs", "logits"}, {1.0}, Support::Discrete},
      {"Categorical", {"probs", "logits"}, {}, Support::Discrete},
      {"Dirichlet", {"concentration"}, {kReq}, Support::Simplex},
      {"MultivariateNormal", {"loc", "covariance_matrix", "scale_tril"}, {kReq}, Support::Real},
      {"LKJCholesky", {"dim", "concentration"}, {kReq, 1.0}, Support::CholeskyCorr},
  };
  return table;
}

const Family* find_family(const std::string& name) {
  for (const Family& f : families())
    if (name == f.name) return &f;
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------- distributions

bool Lowerer::is_distribution(const std::string& name) { return find_family(name) != nullptr; }

// NumPy broadcasting of two ranked types' shapes (a dynamic size meets a static one: the static
// one, unless it is 1), with `element` as the element type.
mlir::RankedTensorType Lowerer::broadcast_type(mlir::Type a, mlir::Type b, mlir::Type element) {
  auto at = mlir::cast<mlir::RankedTensorType>(a), bt = mlir::cast<mlir::RankedTensorType>(b);
  int64_t rank = std::max(at.getRank(), bt.getRank());
  std::vector<int64_t> shape(static_cast<size_t>(rank));
  for (int64_t i = 0; i < rank; ++i) {
    int64_t ia = at.getRank() - rank + i, ib = bt.getRank() - rank + i;
    int64_t da = ia >= 0 ? at.getDimSize(ia) : 1, db = ib >= 0 ? bt.getDimSize(ib) : 1;
    int64_t d = da == 1 ? db : db == 1 ? da : mlir::ShapedType::isDynamic(da) ? db : da;
    shape[static_cast<size_t>(i)] = d;
  }
  return mlir::RankedTensorType::get(shape, element);
}

// An elementwise binary op of the density code, typed by broadcasting its operands.
mlir::Value Lowerer::bin(const char* name, mlir::Value a, mlir::Value b, SourceRange r) {
  auto elt = mlir::cast<mlir::RankedTensorType>(a.getType()).getElementType();
  return op(name, {a, b}, broadcast_type(a.getType(), b.getType(), elt), r, nullptr);
}

// A constant as a rank-0 f64 tensor.
mlir::Value Lowerer::k64(double v, SourceRange r) {
  return scalar_of(mlir::RankedTensorType::get({}, b_.getF64Type()), v, r);
}

// A distribution as a value of the program (`d = Normal(mu, 1)`): its family in `object`
// ("distribution:Normal") and its parameters, evaluated here, by torch's names.
Local Lowerer::distribution_value(const CallExpr* c, const Type& t) {
  std::string name = builtin_name(c->callee);
  const Family* fam = find_family(name);
  if (!fam) unsupported(c->range, "this distribution");
  Local out;
  out.type = t;
  out.object = "distribution:" + name;
  size_t pos = 0;
  auto put = [&](const std::string& n, Local v, SourceRange r) {
    if (std::find(out.names.begin(), out.names.end(), n) != out.names.end())
      unsupported(r, fmt::format("'{}' given twice", n));
    out.names.push_back(n);
    out.elems.push_back(std::move(v));
  };
  for (const Argument& a : c->args) {
    if (a.kind == ArgKind::Positional) {
      if (pos >= fam->params.size()) unsupported(a.range, fmt::format("this argument of {}", name));
      put(fam->params[pos++], expr(a.value), a.range);
    } else if (a.kind == ArgKind::Keyword) {
      if (a.name == "shape") continue;  // the sample shape, in the checker's type
      if (a.name == "ordered") {
        auto* flag = dyn_cast<BoolLiteralExpr>(a.value);
        if (!flag) unsupported(a.value->range, "ordered= other than True or False");
        if (flag->value && ((fam->support != Support::Real && fam->support != Support::Positive) ||
                            name == "MultivariateNormal"))
          unsupported(a.range, fmt::format("ordered=True on {} (it orders the values of a univariate distribution on "
                                           "the real line or on the positive numbers)",
                                           name));
        out.hyper = {flag->value ? 1.0 : 0.0};
        continue;
      }
      put(a.name, expr(a.value), a.range);
    } else {
      unsupported(a.range, "'*' and '**' arguments");
    }
  }
  for (size_t i = 0; i < fam->params.size() && i < fam->defaults.size(); ++i) {
    if (std::find(out.names.begin(), out.names.end(), fam->params[i]) != out.names.end()) continue;
    if (std::isnan(fam->defaults[i])) unsupported(c->range, fmt::format("{} without its parameter '{}'", name, fam->params[i]));
    Local d{mlir::Value{}, sema::float_type(fam->defaults[i], true)};
    d.value = b_.create<mlir::arith::ConstantOp>(loc(c->range), b_.getF64FloatAttr(fam->defaults[i]));
    d.literal = fam->defaults[i];
    put(fam->params[i], d, c->range);
  }
  return out;
}

// The distribution `e` (a constructor call, or a name bound to one) with its parameters as f64
// tensors of the shape `shape_f64`.
Lowerer::Dist Lowerer::distribution_of(const Expr* e, mlir::RankedTensorType shape_f64, const SampleStmt* s) {
  auto* c = dyn_cast<CallExpr>(e);
  if (c && fn_->calls.count(c)) {
    const sema::CallTarget& target = fn_->calls.at(c);
    if (!s || !is_conditional(*target.callee))
      unsupported(e->range, fmt::format("'{}' on the right of '~' (a conditional distribution is a function that "
                                        "ends with `return Normal(...)` or another distribution's constructor)",
                                        target.callee->name));
    return to_dist(conditional_call(c, target, s), shape_f64, e->range);
  }
  Type dt = type_of(e);
  bool constructor = c && dt && dt->kind == TypeKind::Distribution && !fn_->calls.count(c);
  Local v = constructor ? distribution_value(c, dt) : expr(e);
  if (v.object.rfind("distribution:", 0) != 0)
    unsupported(e->range, "this expression on the right of '~' (write a distribution: Normal(loc, scale), ...)");
  return to_dist(v, shape_f64, e->range);
}

Lowerer::Dist Lowerer::to_dist(const Local& v, mlir::RankedTensorType shape_f64, SourceRange r) {
  Dist d;
  d.family = v.object.substr(std::string("distribution:").size());
  d.range = r;
  d.ordered = !v.hyper.empty() && v.hyper[0] != 0.0;
  (void)shape_f64;
  // Each parameter as an f64 tensor of its own shape: the ops broadcast it.
  for (size_t i = 0; i < v.names.size(); ++i) {
    const Local& p = v.elems[i];
    auto pt = p.value ? mlir::dyn_cast<mlir::RankedTensorType>(p.value.getType()) : mlir::RankedTensorType{};
    auto want = mlir::RankedTensorType::get(pt ? pt.getShape() : llvm::ArrayRef<int64_t>{}, b_.getF64Type());
    d.params[v.names[i]] = convert(p, want, r);
  }
  return d;
}

// D.log_prob(x) in ordinary code: the elementwise log density, computed in f64 (-inf outside
// the support), in the result's dtype.
Local Lowerer::distribution_method(const CallExpr* c, const std::string& method, const Local& dist, const Type& t) {
  if (method == "sample") return distribution_sample(c, dist, t);
  if (method != "log_prob") unsupported(c->range, fmt::format("the distribution method '{}'", method));
  auto args = positional(c);
  if (args.size() != 1) unsupported(c->range, "log_prob without exactly one value");
  mlir::Type mt = to_mlir(t, c->range);
  Dist d = to_dist(dist, {}, c->range);
  if (d.ordered) unsupported(c->range, "log_prob of a distribution with ordered=True (it constrains a latent variable)");
  Local xv = expr(args[0]);
  auto xt = xv.value ? mlir::dyn_cast<mlir::RankedTensorType>(xv.value.getType()) : mlir::RankedTensorType{};
  mlir::Value x = convert(xv, mlir::RankedTensorType::get(xt ? xt.getShape() : llvm::ArrayRef<int64_t>{}, b_.getF64Type()),
                          args[0]->range);
  mlir::Value lp = masked_log_prob(d, x, c->range);
  // The result broadcasts to the checker's shape (x may be smaller than the parameters).
  auto rt = mlir::cast<mlir::RankedTensorType>(mt);
  auto lt = mlir::cast<mlir::RankedTensorType>(lp.getType());
  if (lt.getRank() != rt.getRank()) lp = convert({lp, t}, mlir::RankedTensorType::get(rt.getShape(), b_.getF64Type()), c->range);
  return {convert({lp, t}, mt, c->range), t};
}

// D.sample(seed=s): one draw of the sample shape from the Philox streams of randn / rand (the
// same numbers for a seed on every machine and thread count), by the inverse transform of each
// family, computed in f64 and rounded to the sample's dtype.
// A random draw in the body of a probabilistic function called for inference: its log density
// and its quantities are functions of the parameters, evaluated again for every draw, so a draw
// with a fixed seed would be the same in every posterior draw (a silent wrong posterior
// predictive). Not yet supported.
void Lowerer::random_in_model(SourceRange r) {
  unsupported(r, "a random draw in a probabilistic function called for inference (it would repeat the same "
                 "numbers in every posterior draw); draw from the Posterior's samples after the fit instead");
}

Local Lowerer::distribution_sample(const CallExpr* c, const Local& dist, const Type& t) {
  if (role_ != 0) random_in_model(c->range);
  mlir::Type mt = to_mlir(t, c->range);
  auto rt = mlir::cast<mlir::RankedTensorType>(mt);
  auto ft = mlir::RankedTensorType::get(rt.getShape(), b_.getF64Type());
  Dist d = to_dist(dist, {}, c->range);
  if (d.ordered) unsupported(c->range, "sampling a distribution with ordered=True");
  const Expr* seed = keyword(c, "seed");
  auto s = seed ? constant_int_expr(seed) : std::optional<int64_t>(next_seed_++);
  if (!s) unsupported(seed->range, "a seed that is not a constant");
  std::vector<mlir::Value> dyn = dynamic_dims(t, ft, c->range);
  auto stream = [&](const char* name) {
    return op(name, dyn, ft, c->range, nullptr,
              {{"seed", b_.getI64IntegerAttr(*s)}, {"offset", b_.getI64IntegerAttr(0)}});
  };
  auto r = c->range;
  auto k = [&](double v) { return k64(v, r); };
  auto p = [&](const char* n) { return d.params.at(n); };
  auto fill = [&](mlir::Value v) {  // broadcast to the sample's shape
    return bin("tessera.add", v, bin("tessera.mul", stream("tessera.rand"), k(0.0), r), r);
  };
  // tan(pi (u - 1/2)): a standard Cauchy draw.
  auto cauchy = [&]() {
    mlir::Value a = bin("tessera.mul", bin("tessera.sub", stream("tessera.rand"), k(0.5), r), k(std::numbers::pi), r);
    return bin("tessera.div", ew1("tessera.sin", a, r), ew1("tessera.cos", a, r), r);
  };
  const std::string& f = d.family;
  mlir::Value x;
  if (f == "Normal") x = bin("tessera.add", p("loc"), bin("tessera.mul", p("scale"), stream("tessera.randn"), r), r);
  else if (f == "HalfNormal") x = bin("tessera.mul", p("scale"), ew1("tessera.abs", stream("tessera.randn"), r), r);
  else if (f == "LogNormal")
    x = ew1("tessera.exp", bin("tessera.add", p("loc"), bin("tessera.mul", p("scale"), stream("tessera.randn"), r), r), r);
  else if (f == "Cauchy") x = bin("tessera.add", p("loc"), bin("tessera.mul", p("scale"), cauchy(), r), r);
  else if (f == "HalfCauchy") x = bin("tessera.mul", p("scale"), ew1("tessera.abs", cauchy(), r), r);
  else if (f == "Exponential")
    x = bin("tessera.div", ew1("tessera.neg", ew1("tessera.log1p", ew1("tessera.neg", stream("tessera.rand"), r), r), r),
            p("rate"), r);
  else if (f == "Uniform")
    x = bin("tessera.add", p("low"), bin("tessera.mul", bin("tessera.sub", p("high"), p("low"), r), stream("tessera.rand"), r), r);
  else if (f == "Bernoulli") {
    mlir::Value pr = d.params.count("probs") ? p("probs") : ew1("tessera.sigmoid", p("logits"), r);
    auto bt = broadcast_type(ft, pr.getType(), b_.getI1Type());
    mlir::Value hit = op("tessera.cmp", {stream("tessera.rand"), pr}, bt, r, nullptr,
                         {{"predicate", mlir::tessera::CmpPredicateAttr::get(&ctx_, mlir::tessera::CmpPredicate::lt)}});
    x = op("tessera.cast", {hit}, mlir::RankedTensorType::get(bt.getShape(), b_.getF64Type()), r, nullptr);
  } else if (f == "Gamma" || f == "Beta" || f == "StudentT" || f == "Dirichlet" || f == "Poisson" || f == "Binomial") {
    // The runtime's per-element samplers (tessera.sample_family) on the parameters broadcast to
    // the sample's shape and flattened; a second draw of one family takes another offset.
    mlir::Value zeros = op("tessera.zeros", dyn, ft, r, nullptr);
    mlir::Value n_dyn = ft.hasStaticShape() ? mlir::Value{} : numel_index(*sema::as_tensor(t).value()->shape, r);
    auto flat_t = mlir::RankedTensorType::get({ft.hasStaticShape() ? ft.getNumElements() : mlir::ShapedType::kDynamic},
                                              b_.getF64Type());
    auto flat = [&](mlir::Value v) {
      mlir::Value full = bin("tessera.add", v, zeros, r);
      return op("tessera.reshape", n_dyn ? std::vector<mlir::Value>{full, n_dyn} : std::vector<mlir::Value>{full}, flat_t, r,
                nullptr);
    };
    auto draw = [&](const char* family, mlir::Value a, mlir::Value b, int64_t offset) {
      mlir::Value fa = flat(a);
      mlir::Value v = op("tessera.sample_family", {fa, b ? flat(b) : fa}, flat_t, r, nullptr,
                         {{"family", b_.getStringAttr(family)}, {"seed", b_.getI64IntegerAttr(*s)},
                          {"offset", b_.getI64IntegerAttr(offset)}});
      return op("tessera.reshape", concat({v}, dyn), ft, r, nullptr);
    };
    const int64_t second = int64_t{1} << 40;
    if (f == "Gamma") {
      x = bin("tessera.div", draw("gamma", p("concentration"), {}, 0), p("rate"), r);
    } else if (f == "Beta") {
      mlir::Value g1 = draw("gamma", p("concentration1"), {}, 0), g2 = draw("gamma", p("concentration0"), {}, second);
      x = bin("tessera.div", g1, bin("tessera.add", g1, g2, r), r);
    } else if (f == "StudentT") {
      // z / sqrt(chi2_df / df), chi2_df = 2 Gamma(df / 2, 1).
      mlir::Value g = draw("gamma", bin("tessera.mul", p("df"), k(0.5), r), {}, 0);
      mlir::Value chi = ew1("tessera.sqrt", bin("tessera.div", bin("tessera.mul", g, k(2.0), r), p("df"), r), r);
      x = bin("tessera.add", p("loc"), bin("tessera.mul", p("scale"), bin("tessera.div", stream("tessera.randn"), chi, r), r), r);
    } else if (f == "Dirichlet") {
      // Gamma(a_i, 1) draws over their sum, per vector of the last axis.
      mlir::Value g = draw("gamma", p("concentration"), {}, 0);
      x = bin("tessera.div", g, sum_last(g, r, /*keepdim=*/true), r);
    } else if (f == "Poisson") {
      mlir::Value rate = d.params.count("rate") ? p("rate") : ew1("tessera.exp", p("log_rate"), r);
      x = draw("poisson", rate, {}, 0);
    } else {
      mlir::Value pr = d.params.count("probs") ? p("probs") : ew1("tessera.sigmoid", p("logits"), r);
      x = draw("binomial", p("total_count"), pr, 0);
    }
  } else if (f == "Categorical") {
    // The inverse CDF: the number of cumulative probabilities at or below u, at most C - 1.
    auto [v, classes, logits] = categorical_parameter(d, r);
    auto vt = mlir::cast<mlir::RankedTensorType>(v.getType());
    mlir::Value prob = logits ? op("tessera.softmax", {v}, vt, r, nullptr, {{"axis", b_.getI64IntegerAttr(vt.getRank() - 1)}})
                              : bin("tessera.div", v, sum_last(v, r, /*keepdim=*/true), r);
    std::vector<double> tri(static_cast<size_t>(classes * classes), 0.0);
    for (int64_t j = 0; j < classes; ++j)
      for (int64_t i = j; i < classes; ++i) tri[static_cast<size_t>(j * classes + i)] = 1.0;
    auto tri_t = mlir::RankedTensorType::get({classes, classes}, b_.getF64Type());
    mlir::Value upper = b_.create<mlir::arith::ConstantOp>(loc(r), mlir::DenseElementsAttr::get(tri_t, llvm::ArrayRef(tri)));
    mlir::Value cdf = op("tessera.matmul", {prob, upper}, vt, r, nullptr);
    std::vector<int64_t> ushape(ft.getShape().begin(), ft.getShape().end());
    ushape.push_back(1);
    mlir::Value u = op("tessera.unsqueeze", {stream("tessera.rand")}, mlir::RankedTensorType::get(ushape, b_.getF64Type()), r,
                       nullptr, {{"axis", b_.getI64IntegerAttr(ft.getRank())}});
    auto below_t = broadcast_type(cdf.getType(), u.getType(), b_.getI1Type());
    mlir::Value below = op("tessera.cmp", {cdf, u}, below_t, r, nullptr,
                           {{"predicate", mlir::tessera::CmpPredicateAttr::get(&ctx_, mlir::tessera::CmpPredicate::le)}});
    mlir::Value count = op("tessera.cast", {below}, mlir::RankedTensorType::get(below_t.getShape(), b_.getF64Type()), r, nullptr);
    mlir::Value ids = op("tessera.reduce", {count}, ft, r, nullptr,
                         {{"kind", mlir::tessera::ReduceKindAttr::get(&ctx_, mlir::tessera::ReduceKind::sum)},
                          {"axes", b_.getDenseI64ArrayAttr({ft.getRank()})}});
    x = bin("tessera.minimum", ids, k(static_cast<double>(classes - 1)), r);
  } else if (f == "MultivariateNormal") {
    // loc + z L^T for standard normal rows z of the sample's shape [..., N].
    mlir::Value lf = mvn_factor(d, r);
    auto lt = mlir::cast<mlir::RankedTensorType>(lf.getType());
    mlir::Value lT = op("tessera.transpose", {lf}, mlir::RankedTensorType::get({lt.getDimSize(1), lt.getDimSize(0)}, b_.getF64Type()),
                        r, nullptr, {{"perm", b_.getDenseI64ArrayAttr({1, 0})}});
    x = bin("tessera.add", p("loc"), op("tessera.matmul", {stream("tessera.randn"), lT}, ft, r, nullptr), r);
  } else {
    unsupported(c->range, fmt::format("{}.sample()", f));
  }
  if (mlir::cast<mlir::RankedTensorType>(x.getType()).getRank() != ft.getRank()) x = fill(x);
  return {convert({x, t}, mt, c->range), t};
}

// log_prob with -inf where x is outside the distribution's support (observed values and
// log_prob calls; a latent variable is inside by construction).
mlir::Value Lowerer::masked_log_prob(const Dist& d, mlir::Value x, SourceRange r) {
  mlir::Value lp = log_prob(d, x, r);
  auto cmp = [&](mlir::tessera::CmpPredicate p, mlir::Value a, mlir::Value b) {
    return op("tessera.cmp", {a, b}, broadcast_type(a.getType(), b.getType(), b_.getI1Type()), r, nullptr,
              {{"predicate", mlir::tessera::CmpPredicateAttr::get(&ctx_, p)}});
  };
  auto both = [&](mlir::Value a, mlir::Value b) { return bin("tessera.and", a, b, r); };
  auto k = [&](double v) { return k64(v, r); };
  using P = mlir::tessera::CmpPredicate;
  mlir::Value inside;
  const Family* fam = find_family(d.family);
  if (d.family == "LogNormal") {
    inside = cmp(P::gt, x, k(0.0));  // log(0) would make (log x - loc)^2 - log x NaN
  } else if (fam->support == Support::Positive) {
    inside = cmp(P::ge, x, k(0.0));
  } else if (fam->support == Support::Unit) {
    inside = both(cmp(P::ge, x, k(0.0)), cmp(P::le, x, k(1.0)));
  } else if (fam->support == Support::Interval) {
    inside = both(cmp(P::ge, x, d.params.at("low")), cmp(P::le, x, d.params.at("high")));
  } else if (d.family == "Bernoulli") {
    inside = bin("tessera.or", cmp(P::eq, x, k(0.0)), cmp(P::eq, x, k(1.0)), r);
  } else if (d.family == "Binomial") {
    mlir::Value whole = cmp(P::eq, bin("tessera.floordiv", x, k(1.0), r), x);
    inside = both(both(cmp(P::ge, x, k(0.0)), cmp(P::le, x, d.params.at("total_count"))), whole);
  } else if (d.family == "Categorical") {
    mlir::Value v = d.params.count("logits") ? d.params.at("logits") : d.params.at("probs");
    auto vt = mlir::cast<mlir::RankedTensorType>(v.getType());
    double classes = static_cast<double>(vt.getDimSize(vt.getRank() - 1));
    mlir::Value whole = cmp(P::eq, bin("tessera.floordiv", x, k(1.0), r), x);
    inside = both(both(cmp(P::ge, x, k(0.0)), cmp(P::lt, x, k(classes))), whole);
  } else if (d.family == "Dirichlet") {
    // A simplex: no negative component, and components that sum to 1 (to 1e-6 per component,
    // so that data rounded to f32 passes).
    auto xt = mlir::cast<mlir::RankedTensorType>(x.getType());
    std::vector<int64_t> out(xt.getShape().begin(), xt.getShape().end() - 1);
    mlir::Value lo = op("tessera.reduce", {x}, mlir::RankedTensorType::get(out, b_.getF64Type()), r, nullptr,
                        {{"kind", mlir::tessera::ReduceKindAttr::get(&ctx_, mlir::tessera::ReduceKind::min)},
                         {"axes", b_.getDenseI64ArrayAttr({xt.getRank() - 1})}});
    double tol = 1e-6 * static_cast<double>(std::max<int64_t>(1, xt.isDynamicDim(xt.getRank() - 1) ? 1 : xt.getDimSize(xt.getRank() - 1)));
    mlir::Value off = ew1("tessera.abs", bin("tessera.sub", sum_last(x, r), k(1.0), r), r);
    inside = both(cmp(P::ge, lo, k(0.0)), cmp(P::le, off, k(tol)));
  } else if (d.family == "Poisson") {
    // A count: a non-negative integer.
    mlir::Value whole = cmp(P::eq, bin("tessera.floordiv", x, k(1.0), r), x);
    inside = both(cmp(P::ge, x, k(0.0)), whole);
  }
  if (!inside) return lp;
  // The where broadcasts its operands (the mask may be smaller than the log density, or larger:
  // a value of [N, 1] against parameters of [K]).
  auto lt = broadcast_type(lp.getType(), inside.getType(), b_.getF64Type());
  return op("tessera.where", {inside, lp, k(-std::numeric_limits<double>::infinity())}, lt, r, nullptr);
}

// ln Γ(z) for z > 0, elementwise: Stirling's series at w = z + 8, to the w^-9 term (truncation
// error below 3e-13), shifted back by ln z + ln(z+1) + ... + ln(z+7) (a sum of logs: no
// overflow). Built from differentiable ops, so gradients flow through it.
mlir::Value Lowerer::lgamma_of(mlir::Value z, SourceRange r) {
  auto k = [&](double v) { return k64(v, r); };
  auto bin = [&](const char* n, mlir::Value a, mlir::Value b) { return this->bin(n, a, b, r); };
  mlir::Value w = bin("tessera.add", z, k(8.0));
  mlir::Value inv = bin("tessera.div", k(1.0), w);
  mlir::Value inv2 = bin("tessera.mul", inv, inv);
  // 1/(12w) - 1/(360w^3) + 1/(1260w^5) - 1/(1680w^7) + 1/(1188w^9), by Horner in 1/w^2.
  mlir::Value series = k(1.0 / 1188.0);
  for (double c : {-1.0 / 1680.0, 1.0 / 1260.0, -1.0 / 360.0, 1.0 / 12.0})
    series = bin("tessera.add", bin("tessera.mul", series, inv2), k(c));
  series = bin("tessera.mul", series, inv);
  mlir::Value st = bin("tessera.sub", bin("tessera.mul", bin("tessera.sub", w, k(0.5)), ew1("tessera.log", w, r)), w);
  st = bin("tessera.add", bin("tessera.add", st, k(0.5 * std::log(2.0 * std::numbers::pi))), series);
  mlir::Value shift = ew1("tessera.log", z, r);
  for (int i = 1; i < 8; ++i) shift = bin("tessera.add", shift, ew1("tessera.log", bin("tessera.add", z, k(i)), r));
  return bin("tessera.sub", st, shift);
}

// ln Γ(a + 1/2) - ln Γ(a) for a > 0 without the cancellation of two large values: the
// asymptotic series 1/2 ln a - 1/(8a) + 1/(192a^3) + 1/(640a^5) - 17/(14336a^7) where a >= 64
// (truncation error below 1e-15), the difference of lgamma_of below.
mlir::Value Lowerer::lgamma_half_diff(mlir::Value a, SourceRange r) {
  auto k = [&](double v) { return k64(v, r); };
  auto bin = [&](const char* n, mlir::Value x, mlir::Value y) { return this->bin(n, x, y, r); };
  mlir::Value direct = bin("tessera.sub", lgamma_of(bin("tessera.add", a, k(0.5)), r), lgamma_of(a, r));
  // The series at max(a, 64), so that the branch not taken stays finite.
  mlir::Value big = bin("tessera.maximum", a, k(64.0));
  mlir::Value inv = bin("tessera.div", k(1.0), big);
  mlir::Value inv2 = bin("tessera.mul", inv, inv);
  mlir::Value series = k(-17.0 / 14336.0);
  for (double c : {1.0 / 640.0, 1.0 / 192.0, 0.0, -1.0 / 8.0})
    series = bin("tessera.add", bin("tessera.mul", series, c == 0.0 ? inv : inv2), k(c));
  series = bin("tessera.add", bin("tessera.mul", series, inv), bin("tessera.mul", k(0.5), ew1("tessera.log", big, r)));
  auto bt = broadcast_type(a.getType(), a.getType(), b_.getI1Type());
  mlir::Value large = op("tessera.cmp", {a, k(64.0)}, bt, r, nullptr,
                         {{"predicate", mlir::tessera::CmpPredicateAttr::get(&ctx_, mlir::tessera::CmpPredicate::ge)}});
  return op("tessera.where", {large, series, direct}, a.getType(), r, nullptr);
}

// log(1 + exp(v)) without overflow: max(v, 0) + log1p(exp(-|v|)).
mlir::Value Lowerer::softplus_of(mlir::Value v, SourceRange r) {
  mlir::Value m = bin("tessera.maximum", v, k64(0.0, r), r);
  mlir::Value e = ew1("tessera.exp", ew1("tessera.neg", ew1("tessera.abs", v, r), r), r);
  return bin("tessera.add", m, ew1("tessera.log1p", e, r), r);
}

// a * lx, and 0 where a is 0 (torch's xlogy: 0 log 0 = 0, so that a density at the edge of its
// support, Gamma(1, b) at 0 or Bernoulli(probs=0) at 0, is finite rather than NaN).
mlir::Value Lowerer::xlogy(mlir::Value a, mlir::Value lx, SourceRange r) {
  mlir::Value prod = bin("tessera.mul", a, lx, r);
  auto at = mlir::cast<mlir::RankedTensorType>(a.getType());
  mlir::Value zero = k64(0.0, r);
  mlir::Value mask = op("tessera.cmp", {a, zero}, mlir::RankedTensorType::get(at.getShape(), b_.getI1Type()), r, nullptr,
                        {{"predicate", mlir::tessera::CmpPredicateAttr::get(&ctx_, mlir::tessera::CmpPredicate::eq)}});
  return op("tessera.where", {mask, zero, prod}, broadcast_type(prod.getType(), mask.getType(), b_.getF64Type()), r, nullptr);
}

// D.log_prob(x), elementwise, in f64 (x and the parameters are f64 tensors of one shape).
// `log_x` / `log_1mx`, when given, are log(x) and log(1 - x) computed without rounding x
// (a Beta latent, from its unconstrained value).
mlir::Value Lowerer::log_prob(const Dist& d, mlir::Value x, SourceRange r, mlir::Value log_x, mlir::Value log_1mx) {
  auto k = [&](double v) { return k64(v, r); };
  auto bin = [&](const char* n, mlir::Value a, mlir::Value b) { return this->bin(n, a, b, r); };
  auto add = [&](mlir::Value a, mlir::Value b) { return bin("tessera.add", a, b); };
  auto sub = [&](mlir::Value a, mlir::Value b) { return bin("tessera.sub", a, b); };
  auto mul = [&](mlir::Value a, mlir::Value b) { return bin("tessera.mul", a, b); };
  auto div = [&](mlir::Value a, mlir::Value b) { return bin("tessera.div", a, b); };
  auto log = [&](mlir::Value a) { return ew1("tessera.log", a, r); };
  auto log1p = [&](mlir::Value a) { return ew1("tessera.log1p", a, r); };
  auto p = [&](const char* n) { return d.params.at(n); };
  const double log_sqrt_2pi = 0.5 * std::log(2.0 * std::numbers::pi);
  const std::string& f = d.family;
  if (f == "Normal" || f == "LogNormal") {
    mlir::Value y = f == "LogNormal" ? (log_x ? log_x : log(x)) : x;
    mlir::Value z = div(sub(y, p("loc")), p("scale"));
    mlir::Value lp = sub(mul(k(-0.5), mul(z, z)), add(log(p("scale")), k(log_sqrt_2pi)));
    return f == "LogNormal" ? sub(lp, y) : lp;
  }
  if (f == "HalfNormal") {
    mlir::Value z = div(x, p("scale"));
    return sub(mul(k(-0.5), mul(z, z)), add(log(p("scale")), k(log_sqrt_2pi - std::log(2.0))));
  }
  if (f == "Cauchy" || f == "HalfCauchy") {
    mlir::Value z = f == "Cauchy" ? div(sub(x, p("loc")), p("scale")) : div(x, p("scale"));
    double c = f == "Cauchy" ? std::log(std::numbers::pi) : std::log(std::numbers::pi / 2.0);
    return sub(k(-c), add(log(p("scale")), log1p(mul(z, z))));
  }
  if (f == "StudentT") {
    mlir::Value df = p("df");
    mlir::Value z = div(sub(x, p("loc")), p("scale"));
    mlir::Value half_df1 = mul(add(df, k(1.0)), k(0.5));
    mlir::Value norm = lgamma_half_diff(mul(df, k(0.5)), r);
    norm = sub(norm, mul(k(0.5), log(mul(df, k(std::numbers::pi)))));
    return sub(sub(norm, log(p("scale"))), mul(half_df1, log1p(div(mul(z, z), df))));
  }
  if (f == "Gamma") {
    mlir::Value a = p("concentration"), b = p("rate");
    mlir::Value lx = log_x ? log_x : log(x);
    return sub(add(sub(mul(a, log(b)), lgamma_of(a, r)), xlogy(sub(a, k(1.0)), lx, r)), mul(b, x));
  }
  if (f == "Exponential") return sub(log(p("rate")), mul(p("rate"), x));
  if (f == "Beta") {
    mlir::Value a = p("concentration1"), b = p("concentration0");
    mlir::Value lx = log_x ? log_x : log(x);
    mlir::Value l1 = log_1mx ? log_1mx : log1p(ew1("tessera.neg", x, r));
    mlir::Value norm = sub(lgamma_of(add(a, b), r), add(lgamma_of(a, r), lgamma_of(b, r)));
    return add(norm, add(xlogy(sub(a, k(1.0)), lx, r), xlogy(sub(b, k(1.0)), l1, r)));
  }
  if (f == "Uniform") return ew1("tessera.neg", log(sub(p("high"), p("low"))), r);
  if (f == "Bernoulli") {
    if (d.params.count("logits")) {
      mlir::Value l = p("logits");
      return sub(mul(x, l), softplus_of(l, r));
    }
    mlir::Value pr = p("probs");
    return add(xlogy(x, log(pr), r), xlogy(sub(k(1.0), x), log1p(ew1("tessera.neg", pr, r)), r));
  }
  if (f == "Binomial") {
    mlir::Value n = p("total_count");
    mlir::Value norm = sub(lgamma_of(add(n, k(1.0)), r), add(lgamma_of(add(x, k(1.0)), r), lgamma_of(add(sub(n, x), k(1.0)), r)));
    if (d.params.count("logits")) {
      // x l - n softplus(l): log p = -softplus(-l), log(1 - p) = -softplus(l).
      mlir::Value l = p("logits");
      return add(norm, sub(mul(x, l), mul(n, softplus_of(l, r))));
    }
    mlir::Value pr = p("probs");
    return add(norm, add(xlogy(x, log(pr), r), xlogy(sub(n, x), log1p(ew1("tessera.neg", pr, r)), r)));
  }
  if (f == "Categorical") {
    // x holds class ids: log_softmax(logits)[x] (probs: log(probs / sum(probs))), classes on the
    // last axis.
    auto [v, classes, logits] = categorical_parameter(d, r);
    auto vt = mlir::cast<mlir::RankedTensorType>(v.getType());
    mlir::Value lsm;
    if (logits) {
      lsm = op("tessera.log_softmax", {v}, vt, r, nullptr, {{"axis", b_.getI64IntegerAttr(vt.getRank() - 1)}});
    } else {
      lsm = bin("tessera.sub", log(v), log(sum_last(v, r, /*keepdim=*/true)));
    }
    auto xt = mlir::cast<mlir::RankedTensorType>(x.getType());
    mlir::Value ids = op("tessera.cast", {x}, mlir::RankedTensorType::get(xt.getShape(), b_.getI64Type()), r, nullptr);
    std::vector<int64_t> hot_shape(xt.getShape().begin(), xt.getShape().end());
    hot_shape.push_back(classes);
    mlir::Value hot = op("tessera.one_hot", {ids}, mlir::RankedTensorType::get(hot_shape, b_.getF64Type()), r, nullptr,
                         {{"num_classes", b_.getI64IntegerAttr(classes)}});
    // The picked class's log probability (where, not hot * lsm: a class of probability 0 is -inf,
    // and 0 * -inf would make every other class NaN).
    auto ht = mlir::cast<mlir::RankedTensorType>(hot.getType());
    mlir::Value is_hot = op("tessera.cmp", {hot, k(0.0)}, mlir::RankedTensorType::get(ht.getShape(), b_.getI1Type()), r, nullptr,
                            {{"predicate", mlir::tessera::CmpPredicateAttr::get(&ctx_, mlir::tessera::CmpPredicate::ne)}});
    mlir::Value picked = op("tessera.where", {is_hot, lsm, k(0.0)}, broadcast_type(hot.getType(), lsm.getType(), b_.getF64Type()),
                            r, nullptr);
    auto pt = mlir::cast<mlir::RankedTensorType>(picked.getType());
    std::vector<int64_t> out(pt.getShape().begin(), pt.getShape().end() - 1);
    return op("tessera.reduce", {picked}, mlir::RankedTensorType::get(out, b_.getF64Type()), r, nullptr,
              {{"kind", mlir::tessera::ReduceKindAttr::get(&ctx_, mlir::tessera::ReduceKind::sum)},
               {"axes", b_.getDenseI64ArrayAttr({pt.getRank() - 1})}});
  }
  if (f == "Poisson") {
    mlir::Value norm = lgamma_of(add(x, k(1.0)), r);
    if (d.params.count("log_rate")) {
      mlir::Value lr = p("log_rate");
      return sub(sub(mul(x, lr), ew1("tessera.exp", lr, r)), norm);
    }
    return sub(sub(xlogy(x, log(p("rate")), r), p("rate")), norm);
  }
  if (f == "Dirichlet") {
    // sum((a - 1) log x) + lgamma(sum a) - sum(lgamma(a)) over the last axis; (a - 1) log x is 0
    // where a = 1 (torch's xlogy), so a zero component has a finite density there.
    mlir::Value a = p("concentration");
    // a - 1 in the shape of the values (x * 0 broadcasts it without a broadcast_to).
    mlir::Value am1 = add(sub(a, k(1.0)), mul(x, k(0.0)));
    mlir::Value lx = log_x ? log_x : log(x);
    mlir::Value term = mul(am1, lx);
    auto tt = mlir::cast<mlir::RankedTensorType>(term.getType());
    mlir::Value unit = op("tessera.cmp", {am1, k(0.0)}, mlir::RankedTensorType::get(tt.getShape(), b_.getI1Type()), r,
                          nullptr, {{"predicate", mlir::tessera::CmpPredicateAttr::get(&ctx_, mlir::tessera::CmpPredicate::eq)}});
    term = op("tessera.where", {unit, k(0.0), term}, tt, r, nullptr);
    mlir::Value norm = sub(lgamma_of(sum_last(a, r), r), sum_last(lgamma_of(a, r), r));
    return add(sum_last(term, r), norm);
  }
  if (f == "MultivariateNormal") return mvn_log_prob(d, x, r);
  if (f == "LKJCholesky") return lkj_log_prob(d, x, r);
  unsupported(r, fmt::format("the log density of {}", f));
}

// Categorical's logits (or probs), with the classes on the last axis: the parameter, the
// number of classes (static) and whether it is logits.
std::tuple<mlir::Value, int64_t, bool> Lowerer::categorical_parameter(const Dist& d, SourceRange r) {
  bool logits = d.params.count("logits") > 0;
  mlir::Value v = d.params.at(logits ? "logits" : "probs");
  auto vt = mlir::cast<mlir::RankedTensorType>(v.getType());
  if (vt.getRank() == 0 || vt.isDynamicDim(vt.getRank() - 1))
    unsupported(r, "Categorical with a number of classes that is not known when compiled");
  return {v, vt.getDimSize(vt.getRank() - 1), logits};
}

// The sum over the last axis of an f64 tensor (rank >= 1), kept as a size-1 axis or not.
mlir::Value Lowerer::sum_last(mlir::Value v, SourceRange r, bool keepdim) {
  auto vt = mlir::cast<mlir::RankedTensorType>(v.getType());
  std::vector<int64_t> out(vt.getShape().begin(), vt.getShape().end() - 1);
  if (keepdim) out.push_back(1);
  std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs{
      {"kind", mlir::tessera::ReduceKindAttr::get(&ctx_, mlir::tessera::ReduceKind::sum)},
      {"axes", b_.getDenseI64ArrayAttr({vt.getRank() - 1})}};
  if (keepdim) attrs.push_back({"keepdim", b_.getUnitAttr()});
  return op("tessera.reduce", {v}, mlir::RankedTensorType::get(out, vt.getElementType()), r, nullptr, attrs);
}

// The lower factor L of a MultivariateNormal: scale_tril, or the Cholesky factor of
// covariance_matrix. A matrix of rank 2 (one for the whole batch).
mlir::Value Lowerer::mvn_factor(const Dist& d, SourceRange r) {
  mlir::Value l = d.params.count("scale_tril") ? d.params.at("scale_tril") : mlir::Value{};
  if (!l) {
    mlir::Value cov = d.params.at("covariance_matrix");
    l = op("tessera.cholesky", {cov}, cov.getType(), r, nullptr);
  }
  if (mlir::cast<mlir::RankedTensorType>(l.getType()).getRank() != 2)
    unsupported(r, "MultivariateNormal with a stack of covariance or scale matrices (one [N, N] matrix for the batch)");
  return l;
}

// log N(x | loc, L L^T) = -|L^-1 (x - loc)|^2 / 2 - sum(log diag L) - N log(2 pi) / 2, for x of
// [N] or [M, N] (one density per row).
mlir::Value Lowerer::mvn_log_prob(const Dist& d, mlir::Value x, SourceRange r) {
  auto k = [&](double v) { return k64(v, r); };
  mlir::Value l = mvn_factor(d, r);
  auto lt = mlir::cast<mlir::RankedTensorType>(l.getType());
  mlir::Value diff = bin("tessera.sub", x, d.params.at("loc"), r);
  auto dt = mlir::cast<mlir::RankedTensorType>(diff.getType());
  if (dt.getRank() == 0 || dt.getRank() > 2)
    unsupported(r, "a MultivariateNormal density of a value that is not [N] or [M, N]");
  // The residuals as the columns of [N, M].
  mlir::Value cols;
  if (dt.getRank() == 1) {
    cols = op("tessera.unsqueeze", {diff}, mlir::RankedTensorType::get({dt.getDimSize(0), 1}, b_.getF64Type()), r, nullptr,
              {{"axis", b_.getI64IntegerAttr(1)}});
  } else {
    cols = op("tessera.transpose", {diff}, mlir::RankedTensorType::get({dt.getDimSize(1), dt.getDimSize(0)}, b_.getF64Type()),
              r, nullptr, {{"perm", b_.getDenseI64ArrayAttr({1, 0})}});
  }
  mlir::Value z = op("tessera.triangular_solve", {l, cols}, cols.getType(), r, nullptr,
                     {{"transpose", b_.getBoolAttr(false)}});
  mlir::Value zz = bin("tessera.mul", z, z, r);
  auto zt = mlir::cast<mlir::RankedTensorType>(zz.getType());
  // Sum over N (axis 0): [M], or a scalar for one vector.
  std::vector<int64_t> rest;
  if (dt.getRank() == 2) rest.push_back(zt.getDimSize(1));
  mlir::Value maha = op("tessera.reduce", {zz}, mlir::RankedTensorType::get(rest, b_.getF64Type()), r, nullptr,
                        {{"kind", mlir::tessera::ReduceKindAttr::get(&ctx_, mlir::tessera::ReduceKind::sum)},
                         {"axes", dt.getRank() == 2 ? b_.getDenseI64ArrayAttr({0}) : b_.getDenseI64ArrayAttr({0, 1})}});
  // sum_i (log L_ii + log(2 pi) / 2), from the diagonal picked by an identity mask.
  mlir::Location lc = loc(r);
  auto iota = [&](int64_t axis) {
    std::vector<mlir::Value> dyn;
    if (lt.isDynamicDim(axis))
      dyn.push_back(op("tessera.dim", {l}, b_.getIndexType(), r, nullptr, {{"axis", b_.getI64IntegerAttr(axis)}}));
    return b_.create<mlir::tessera::ArangeOp>(lc, mlir::RankedTensorType::get({lt.getDimSize(axis)}, b_.getI64Type()),
                                              b_.getF64FloatAttr(0.0), b_.getF64FloatAttr(1.0), dyn)
        .getResult();
  };
  mlir::Value rows = op("tessera.unsqueeze", {iota(0)}, mlir::RankedTensorType::get({lt.getDimSize(0), 1}, b_.getI64Type()), r,
                        nullptr, {{"axis", b_.getI64IntegerAttr(1)}});
  mlir::Value eye = op("tessera.cmp", {rows, iota(1)}, mlir::RankedTensorType::get(lt.getShape(), b_.getI1Type()), r, nullptr,
                       {{"predicate", mlir::tessera::CmpPredicateAttr::get(&ctx_, mlir::tessera::CmpPredicate::eq)}});
  mlir::Value diag = op("tessera.where", {eye, l, k(1.0)}, lt, r, nullptr);
  mlir::Value logs = bin("tessera.add", ew1("tessera.log", diag, r), k(0.5 * std::log(2.0 * std::numbers::pi)), r);
  mlir::Value norm = total(op("tessera.where", {eye, logs, k(0.0)}, lt, r, nullptr), r);
  return bin("tessera.sub", bin("tessera.mul", maha, k(-0.5), r), norm, r);
}

// A rank-0 f64 tensor: the sum of all elements of an f64 tensor.
mlir::Value Lowerer::total(mlir::Value v, SourceRange r) {
  auto vt = mlir::cast<mlir::RankedTensorType>(v.getType());
  if (vt.getRank() == 0) return v;
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < vt.getRank(); ++i) axes.push_back(i);
  return op("tessera.reduce", {v}, mlir::RankedTensorType::get({}, vt.getElementType()), r, nullptr,
            {{"kind", mlir::tessera::ReduceKindAttr::get(&ctx_, mlir::tessera::ReduceKind::sum)},
             {"axes", b_.getDenseI64ArrayAttr(axes)}});
}

// Adds a term to the log density: to its accumulator (role 1), or to the accumulator of the
// statement `key` (a `~` statement or a factor call) in the terms function (role 3).
void Lowerer::add_density(mlir::Value term, SourceRange r, const void* key) {
  std::string name = role_ == 3 ? density_name(key) : kLogDensity;
  Local* lp = lookup(name);
  if (!lp) throw std::logic_error("the log-density accumulator is not in scope");
  assign(name, {op("tessera.add", {lp->value, total(term, r)}, lp->value.getType(), r, nullptr), lp->type});
}

// The accumulator of one statement's terms in the terms function (a local of that function).
std::string Lowerer::density_name(const void* key) {
  return fmt::format("{}@{}", kLogDensity, reinterpret_cast<uintptr_t>(key));
}

// The statements that add to a log density, in source order: `~` statements and factor calls
// (their CallExpr), in loops and branches too.
void Lowerer::density_statements(const Body& body, std::vector<std::pair<const void*, SourceRange>>& out) {
  for (const Stmt* s : body) {
    if (auto* smp = dyn_cast<SampleStmt>(s)) out.push_back({smp, smp->range});
    if (auto* x = dyn_cast<ExprStmt>(s))
      if (auto* call = dyn_cast<CallExpr>(x->expr); call && builtin_name(call->callee) == "factor")
        out.push_back({call, call->range});
    if (auto* i = dyn_cast<IfStmt>(s)) {
      density_statements(i->then_body, out);
      density_statements(i->else_body, out);
    }
    if (auto* f = dyn_cast<ForStmt>(s)) density_statements(f->body, out);
    if (auto* w = dyn_cast<WhileStmt>(s)) density_statements(w->body, out);
  }
}

// ------------------------------------------------------------------ statements

bool Lowerer::is_top_level(const Stmt* s) const {
  for (const Stmt* t : fn_->def->body)
    if (t == s) return true;
  return false;
}

// `name ~ D` (a latent variable) or `value ~ D` (an observation), in a log density (role 1) or
// quantities (role 2) function.
void Lowerer::sample_stmt(const SampleStmt* s) {
  if (role_ == 0)
    unsupported(s->range, "'~' in a function called directly (call an @mcmc or @variational function to fit it)");
  auto latent = std::find_if(fn_->latents.begin(), fn_->latents.end(), [&](const auto& l) { return l.first == s; });
  if (latent == fn_->latents.end()) {
    auto* target_name = dyn_cast<NameExpr>(s->target);
    if (!predicting_.empty() && target_name && target_name->name == predicting_) {
      // Posterior.predict: the mean and variance of the observed argument's distribution.
      if (!is_top_level(s) || predicted_)
        unsupported(s->range, fmt::format("Posterior.predict of a model that observes '{}' in a loop, a branch or more "
                                          "than once",
                                          predicting_));
      Local* y = lookup(predicting_);
      auto yt = mlir::cast<mlir::RankedTensorType>(y->value.getType());
      auto ft = mlir::RankedTensorType::get(yt.getShape(), b_.getF64Type());
      Dist d = distribution_of(s->distribution, ft, s);
      auto [mean, var] = moments(d, s->range);
      // Broadcast to the observed shape (the placeholder is zeros), then flat.
      mlir::Value zero = bin("tessera.mul", convert(*y, ft, s->range), k64(0.0, s->range), s->range);
      auto flat = [&](mlir::Value v) {
        return flat_f64({bin("tessera.add", v, zero, s->range), sema::float_type()}, s->range);
      };
      predicted_ = {flat(mean), flat(var)};
      return;
    }
    if (role_ == 2) {
      // Observations do not change the quantities; a conditional distribution's latent variables do.
      auto* c = dyn_cast<CallExpr>(s->distribution);
      if (c && fn_->calls.count(c)) distribution_of(s->distribution, {}, s);
      return;
    }
    // A name is looked up (the checker types the target of '~' without recording it).
    Local value;
    if (auto* n = dyn_cast<NameExpr>(s->target)) {
      Local* bound = lookup(n->name);
      if (!bound) unsupported(s->target->range, fmt::format("observing '{}', which has no value here", n->name));
      value = *bound;
    } else {
      value = expr(s->target);
    }
    auto vt = mlir::dyn_cast<mlir::RankedTensorType>(value.value.getType());
    auto shape = vt ? vt.getShape() : llvm::ArrayRef<int64_t>{};
    auto ft = mlir::RankedTensorType::get(shape, b_.getF64Type());
    Dist d = distribution_of(s->distribution, ft, s);
    if (d.ordered) unsupported(s->distribution->range, "ordered=True on an observation (it constrains a latent variable)");
    add_density(masked_log_prob(d, convert(value, ft, s->target->range), s->range), s->range, s);
    return;
  }
  auto* name = cast<NameExpr>(s->target);
  if (!is_top_level(s))
    unsupported(s->range, fmt::format("a latent variable ('{}') drawn inside a loop or branch; draw it once, at the "
                                      "top level of the function, with shape=[...]",
                                      name->name));
  mlir::Type want = to_mlir(latent->second, s->range);
  auto wt = mlir::dyn_cast<mlir::RankedTensorType>(want);
  if (!wt) unsupported(s->range, fmt::format("a latent variable ('{}') that is not a tensor", name->name));
  auto ft = mlir::RankedTensorType::get(wt.getShape(), b_.getF64Type());
  mlir::Location l = loc(s->range);
  // A simplex of K components (Dirichlet) has K - 1 unconstrained coordinates.
  bool simplex = is_simplex(*fn_, s);
  if (simplex && (!ft.hasStaticShape() || ft.getRank() < 1 || ft.getDimSize(ft.getRank() - 1) < 2))
    unsupported(s->range, fmt::format("a Dirichlet latent variable ('{}') whose number of categories is not known when "
                                      "the function is called, or is below 2",
                                      name->name));
  // The distribution first: a conditional distribution's own latent variables come before this one
  // in theta (unconstrained_types).
  Dist d = distribution_of(s->distribution, ft, s);
  if (simplex != (d.family == "Dirichlet"))
    unsupported(s->range, fmt::format("a latent variable ('{}') drawn from a conditional distribution that returns "
                                      "a Dirichlet",
                                      name->name));
  bool corr = is_cholesky_corr(*fn_, s);
  if (corr != (d.family == "LKJCholesky"))
    unsupported(s->range, fmt::format("a latent variable ('{}') drawn from a conditional distribution that returns "
                                      "an LKJCholesky",
                                      name->name));
  if (corr && (!ft.hasStaticShape() || ft.getRank() != 2 || ft.getDimSize(0) < 2))
    unsupported(s->range, fmt::format("an LKJCholesky latent variable ('{}') whose dimension is not known when the "
                                      "function is called",
                                      name->name));
  auto uft = ft;
  if (corr) uft = mlir::RankedTensorType::get({ft.getDimSize(0) * (ft.getDimSize(0) - 1) / 2}, b_.getF64Type());
  if (simplex) {
    std::vector<int64_t> us(ft.getShape().begin(), ft.getShape().end());
    us.back() -= 1;
    uft = mlir::RankedTensorType::get(us, b_.getF64Type());
  }
  // theta[offset : offset + n], reshaped to the latent's shape; a dynamic size (from the data's
  // dimensions) makes the offsets of the latents after it dynamic too.
  std::vector<mlir::Value> dyn = dynamic_dims(latent->second, ft, s->range);
  mlir::Value n_dyn;
  if (!ft.hasStaticShape()) n_dyn = numel_index(*sema::as_tensor(latent->second).value()->shape, s->range);
  int64_t n = uft.hasStaticShape() ? uft.getNumElements() : mlir::ShapedType::kDynamic;
  mlir::Value u = take_theta(n, n_dyn, s->range);
  if (uft != u.getType()) u = op("tessera.reshape", concat({u}, dyn), uft, s->range, nullptr);
  (void)l;
  const Family* fam = find_family(d.family);
  mlir::Value x = u, log_jac, log_x, log_1mx;
  switch (fam->support) {
    case Support::Real:
      if (d.ordered) {
        // An increasing vector (Stan's `ordered`): x[0] = u[0], x[i] = x[i-1] + exp(u[i]), that is
        // x = L y with y = (u[0], exp(u[1:])) and L lower-triangular ones; log |dx/du| = sum u[1:].
        if (ft.getRank() != 1 || ft.isDynamicDim(0) || ft.getDimSize(0) < 1)
          unsupported(s->range, "ordered=True on a latent variable that is not a vector of a size known when the "
                                "function is called (shape=[K])");
        int64_t kk = ft.getDimSize(0);
        auto one_t = mlir::RankedTensorType::get({1}, b_.getF64Type());
        auto rest_t = mlir::RankedTensorType::get({kk - 1}, b_.getF64Type());
        auto slice = [&](int64_t off, int64_t size, mlir::RankedTensorType t) {
          return op("tessera.slice", {u}, t, s->range, nullptr,
                    {{"static_offsets", b_.getDenseI64ArrayAttr({off})},
                     {"static_sizes", b_.getDenseI64ArrayAttr({size})},
                     {"static_strides", b_.getDenseI64ArrayAttr({1})},
                     {"operandSegmentSizes", b_.getDenseI32ArrayAttr({1, 0, 0, 0})}});
        };
        if (kk > 1) {
          mlir::Value tail = slice(1, kk - 1, rest_t);
          mlir::Value y = op("tessera.concat", {slice(0, 1, one_t), ew1("tessera.exp", tail, s->range)}, ft, s->range,
                             nullptr, {{"axis", b_.getI64IntegerAttr(0)}});
          x = cumulative_sum(y, s->range);
          log_jac = tail;
        }
      }
      break;
    case Support::Positive:
      if (d.ordered) {
        // An increasing positive vector (Stan's `positive_ordered`): x = cumsum(exp(u));
        // log |dx/du| = sum u.
        if (ft.getRank() != 1 || ft.isDynamicDim(0) || ft.getDimSize(0) < 1)
          unsupported(s->range, "ordered=True on a latent variable that is not a vector of a size known when the "
                                "function is called (shape=[K])");
        x = cumulative_sum(ew1("tessera.exp", u, s->range), s->range);
        log_jac = u;
        break;
      }
      // x = exp(u); log |dx/du| = u.
      x = ew1("tessera.exp", u, s->range);
      log_jac = u;
      log_x = u;
      break;
    case Support::CholeskyCorr: {
      auto [cl, cjac] = cholesky_corr_transform(u, ft.getDimSize(0), s->range);
      x = cl;
      log_jac = cjac;
      break;
    }
    case Support::Simplex: {
      auto [sx, slog_x, sjac] = simplex_transform(u, ft, s->range);
      x = sx;
      log_x = slog_x;
      log_jac = sjac;
      break;
    }
    case Support::Unit:
    case Support::Interval: {
      // x = low + (high - low) sigmoid(u); log |dx/du| = log(high - low) + log s + log(1 - s),
      // with log s = -softplus(-u) and log(1 - s) = -softplus(u) (no rounding of s to 0 or 1).
      mlir::Value sig = ew1("tessera.sigmoid", u, s->range);
      log_x = ew1("tessera.neg", softplus_of(ew1("tessera.neg", u, s->range), s->range), s->range);
      log_1mx = ew1("tessera.neg", softplus_of(u, s->range), s->range);
      log_jac = bin("tessera.add", log_x, log_1mx, s->range);
      x = sig;
      if (fam->support == Support::Interval) {
        mlir::Value width = bin("tessera.sub", d.params.at("high"), d.params.at("low"), s->range);
        x = bin("tessera.add", d.params.at("low"), bin("tessera.mul", width, sig, s->range), s->range);
        log_jac = bin("tessera.add", log_jac, ew1("tessera.log", width, s->range), s->range);
        log_x = log_1mx = {};
      }
      break;
    }
    case Support::Discrete:
      unsupported(s->range, fmt::format("a discrete latent variable ('{}' ~ {}): NUTS, HMC and ADVI need continuous "
                                        "parameters (sum it out of the model)",
                                        name->name, d.family));
    case Support::Unknown: unsupported(s->range, "this distribution for a latent variable");
  }
  if (role_ == 1 || role_ == 3) {
    if (log_jac) add_density(log_jac, s->range, s);
    add_density(log_prob(d, x, s->range, log_x, log_1mx), s->range, s);
  }
  drawn_values_.push_back({false, flat_f64({x, latent->second}, s->range)});
  assign(name->name, {convert({x, latent->second}, want, s->range), latent->second});
}

// The values of the latent variables drawn so far (or only those of conditional distributions),
// flat f64, one after the other.
mlir::Value Lowerer::drawn_flat(bool conditional_only, SourceRange r) {
  std::vector<mlir::Value> parts;
  bool dynamic = false;
  int64_t width = 0;
  for (const auto& [from_conditional, v] : drawn_values_) {
    if (conditional_only && !from_conditional) continue;
    int64_t n = mlir::cast<mlir::RankedTensorType>(v.getType()).getDimSize(0);
    if (mlir::ShapedType::isDynamic(n)) dynamic = true;
    else width += n;
    parts.push_back(v);
  }
  auto t = mlir::RankedTensorType::get({dynamic ? mlir::ShapedType::kDynamic : width}, b_.getF64Type());
  if (parts.empty())
    return b_.create<mlir::arith::ConstantOp>(loc(r), mlir::DenseElementsAttr::get(t, llvm::ArrayRef<double>{}));
  if (parts.size() == 1) return parts[0];
  return op("tessera.concat", parts, t, r, nullptr, {{"axis", b_.getI64IntegerAttr(0)}});
}

// theta[offset : offset + n] (n static, or the `index` n_dyn), the next n unconstrained
// coordinates; a dynamic size (from the data's dimensions) makes the offsets after it dynamic.
mlir::Value Lowerer::take_theta(int64_t n, mlir::Value n_dyn, SourceRange r) {
  mlir::Location l = loc(r);
  auto flat_t = mlir::RankedTensorType::get({n}, b_.getF64Type());
  std::vector<mlir::Value> operands{theta_};
  int64_t off = theta_offset_;
  if (theta_offset_dyn_) {
    operands.push_back(b_.create<mlir::arith::AddIOp>(l, theta_offset_dyn_,
                                                      b_.create<mlir::arith::ConstantIndexOp>(l, theta_offset_)));
    off = mlir::ShapedType::kDynamic;
  }
  if (n_dyn) operands.push_back(n_dyn);
  mlir::Value u = op("tessera.slice", operands, flat_t, r, nullptr,
                     {{"static_offsets", b_.getDenseI64ArrayAttr({off})},
                      {"static_sizes", b_.getDenseI64ArrayAttr({n})},
                      {"static_strides", b_.getDenseI64ArrayAttr({1})},
                      {"operandSegmentSizes", b_.getDenseI32ArrayAttr({1, theta_offset_dyn_ ? 1 : 0, n_dyn ? 1 : 0, 0})}});
  if (n_dyn) theta_offset_dyn_ = theta_offset_dyn_ ? b_.create<mlir::arith::AddIOp>(l, theta_offset_dyn_, n_dyn).getResult() : n_dyn;
  else theta_offset_ += n;
  return u;
}

// ------------------------------------------------------- conditional distributions

// A function that returns a distribution (`return Normal(mean, scale)`; @probabilistic when it
// draws latent variables of its own): used on the right of '~', its latent variables become the
// caller's (after those drawn before the call), its log density adds to the caller's, and the
// '~' statement's value is drawn from or observed under the distribution it returns.
bool Lowerer::is_conditional(const sema::TypedFunction& f) {
  const Type& ret = f.declared_return ? f.declared_return : f.inferred_return;
  return ret && ret->kind == TypeKind::Distribution;
}

// The distribution a conditional returns: one constructor call, as its last statement.
Lowerer::ConditionalSig Lowerer::conditional_signature(const sema::TypedFunction& f) {
  ConditionalSig sig;
  sig.range = f.range;
  const ReturnStmt* ret = nullptr;
  if (!f.def->body.empty()) ret = dyn_cast<ReturnStmt>(f.def->body.back());
  auto* c = ret && ret->value ? dyn_cast<CallExpr>(ret->value) : nullptr;
  const Family* fam = c && !f.calls.count(c) ? find_family(builtin_name(c->callee)) : nullptr;
  if (!fam)
    unsupported(ret ? ret->range : f.range,
                fmt::format("a conditional distribution ('{}') that does not end with `return D(...)`, one distribution's "
                            "constructor (Normal(mean, scale), ...)",
                            f.name));
  sig.family = fam->name;
  sig.range = ret->range;
  size_t pos = 0;
  for (const Argument& a : c->args) {
    if (a.kind == ArgKind::Positional && pos < fam->params.size()) {
      sig.names.push_back(fam->params[pos++]);
      sig.values.push_back(a.value);
    } else if (a.kind == ArgKind::Keyword && a.name != "shape") {
      if (a.name == "ordered") unsupported(a.range, "ordered= in what a conditional distribution returns");
      sig.names.push_back(a.name);
      sig.values.push_back(a.value);
    }
  }
  for (size_t i = 0; i < fam->params.size() && i < fam->defaults.size(); ++i)
    if (std::find(sig.names.begin(), sig.names.end(), fam->params[i]) == sig.names.end()) {
      sig.names.push_back(fam->params[i]);
      sig.values.push_back(nullptr);
    }
  return sig;
}

// The parameters' types as results of the conditional's function (role 4): f64 tensors of the
// checker's shapes under the current specialization.
std::vector<mlir::Type> Lowerer::conditional_results(const sema::TypedFunction& f) {
  ConditionalSig sig = conditional_signature(f);
  std::vector<mlir::Type> out;
  for (const Expr* v : sig.values) {
    std::vector<int64_t> shape;
    if (v) {
      auto it = f.expr_types.find(v);
      if (it == f.expr_types.end() || !it->second) unsupported(v->range, "a parameter of unknown type");
      if (auto rt = mlir::dyn_cast<mlir::RankedTensorType>(to_mlir(it->second, v->range)))
        shape.assign(rt.getShape().begin(), rt.getShape().end());
    }
    out.push_back(mlir::RankedTensorType::get(shape, b_.getF64Type()));
  }
  return out;
}

// `y ~ cond(x)`: calls the conditional's function (role 4) on its latents' slice of theta and
// the arguments; its log density goes to the statement `s`; returns the distribution.
Local Lowerer::conditional_call(const CallExpr* c, const sema::CallTarget& target, const SampleStmt* s) {
  const sema::TypedFunction& callee = *target.callee;
  std::vector<Type> latent_types;
  for (const Type& t : unconstrained_types(callee)) {
    auto tt = sema::as_tensor(t);
    if (!tt || !(*tt)->shape) unsupported(c->range, "a latent variable of unknown shape");
    std::vector<DimExpr> shape;
    for (const DimExpr& d : *(*tt)->shape) shape.push_back(d.substitute(target.dims));
    latent_types.push_back(sema::tensor_type((*tt)->dtype, shape));
  }
  if (!latent_types.empty() && !is_top_level(s))
    unsupported(c->range, fmt::format("the conditional distribution '{}', which draws latent variables, inside a loop "
                                      "or branch (they would be drawn once per pass); call it at the top level",
                                      callee.name));
  auto [f, args] = bind_call(c, target, nullptr, 0, nullptr, /*role=*/4);
  std::optional<int64_t> n = static_numel(latent_types, c->range, "a latent variable");
  mlir::Value n_dyn;
  if (!n) {
    mlir::Location l = loc(c->range);
    n_dyn = b_.create<mlir::arith::ConstantIndexOp>(l, 0);
    for (const Type& t : latent_types)
      n_dyn = b_.create<mlir::arith::AddIOp>(l, n_dyn, numel_index(*sema::as_tensor(t).value()->shape, c->range));
  }
  mlir::Value u = take_theta(n ? *n : mlir::ShapedType::kDynamic, n_dyn, c->range);
  std::vector<mlir::Value> operands{convert({u, sema::float_type()}, f.getFunctionType().getInput(0), c->range)};
  operands.insert(operands.end(), args.begin(), args.end());
  auto call = b_.create<mlir::func::CallOp>(loc(c->range), f, operands);
  calls_.push_back({current_func_.getOperation(), f.getOperation(), callee.name, c->range});
  if (role_ == 1 || role_ == 3) add_density(call.getResult(0), c->range, s);
  drawn_values_.push_back({true, call.getResults().back()});
  ConditionalSig sig = conditional_signature(callee);
  Local out;
  out.type = type_of(c);
  out.object = "distribution:" + sig.family;
  for (size_t i = 0; i < sig.names.size(); ++i) {
    out.names.push_back(sig.names[i]);
    out.elems.push_back({call.getResult(static_cast<unsigned>(i + 1)), sema::float_type()});
  }
  return out;
}

// The mean and the variance of a distribution, elementwise, in f64 (Posterior.predict). NaN where
// one is not defined: Cauchy's; StudentT's mean for df <= 1 and variance for df <= 1 (infinite for
// 1 < df <= 2).
std::pair<mlir::Value, mlir::Value> Lowerer::moments(const Dist& d, SourceRange r) {
  auto k = [&](double v) { return k64(v, r); };
  auto p = [&](const char* n) { return d.params.at(n); };
  auto add = [&](mlir::Value a, mlir::Value b) { return bin("tessera.add", a, b, r); };
  auto sub = [&](mlir::Value a, mlir::Value b) { return bin("tessera.sub", a, b, r); };
  auto mul = [&](mlir::Value a, mlir::Value b) { return bin("tessera.mul", a, b, r); };
  auto div = [&](mlir::Value a, mlir::Value b) { return bin("tessera.div", a, b, r); };
  auto sq = [&](mlir::Value a) { return mul(a, a); };
  auto where = [&](mlir::Value c, mlir::Value a, mlir::Value b) {
    auto t = broadcast_type(c.getType(), broadcast_type(a.getType(), b.getType(), b_.getF64Type()), b_.getF64Type());
    return op("tessera.where", {c, a, b}, t, r, nullptr);
  };
  auto gt = [&](mlir::Value a, double v) {
    return op("tessera.cmp", {a, k(v)}, broadcast_type(a.getType(), k(v).getType(), b_.getI1Type()), r, nullptr,
              {{"predicate", mlir::tessera::CmpPredicateAttr::get(&ctx_, mlir::tessera::CmpPredicate::gt)}});
  };
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::string& f = d.family;
  if (f == "Normal") return {p("loc"), sq(p("scale"))};
  if (f == "HalfNormal") return {mul(p("scale"), k(std::sqrt(2.0 / std::numbers::pi))), mul(sq(p("scale")), k(1.0 - 2.0 / std::numbers::pi))};
  if (f == "LogNormal") {
    mlir::Value s2 = sq(p("scale"));
    mlir::Value m = ew1("tessera.exp", add(p("loc"), mul(s2, k(0.5))), r);
    return {m, mul(sub(ew1("tessera.exp", s2, r), k(1.0)), sq(m))};
  }
  if (f == "Cauchy" || f == "HalfCauchy") {
    mlir::Value s = p("scale");
    mlir::Value n = add(mul(s, k(0.0)), k(nan));
    return {n, n};
  }
  if (f == "StudentT") {
    mlir::Value df = p("df");
    mlir::Value mean = where(gt(df, 1.0), add(p("loc"), mul(df, k(0.0))), k(nan));
    mlir::Value var = where(gt(df, 2.0), div(mul(sq(p("scale")), df), sub(df, k(2.0))), where(gt(df, 1.0), k(inf), k(nan)));
    return {mean, var};
  }
  if (f == "Gamma") return {div(p("concentration"), p("rate")), div(p("concentration"), sq(p("rate")))};
  if (f == "Exponential") return {div(k(1.0), p("rate")), div(k(1.0), sq(p("rate")))};
  if (f == "Beta") {
    mlir::Value a = p("concentration1"), b = p("concentration0"), s = add(a, b);
    return {div(a, s), div(mul(a, b), mul(sq(s), add(s, k(1.0))))};
  }
  if (f == "Uniform") return {mul(add(p("low"), p("high")), k(0.5)), div(sq(sub(p("high"), p("low"))), k(12.0))};
  if (f == "Bernoulli" || f == "Binomial") {
    mlir::Value pr = d.params.count("probs") ? p("probs") : ew1("tessera.sigmoid", p("logits"), r);
    mlir::Value n = f == "Binomial" ? p("total_count") : k(1.0);
    mlir::Value mean = mul(n, pr);
    return {mean, mul(mean, sub(k(1.0), pr))};
  }
  if (f == "Poisson") {
    mlir::Value rate = d.params.count("rate") ? p("rate") : ew1("tessera.exp", p("log_rate"), r);
    return {rate, rate};
  }
  if (f == "MultivariateNormal") {
    // loc, and the diagonal of the covariance: the row sums of L * L.
    mlir::Value l = mvn_factor(d, r);
    return {p("loc"), sum_last(mul(l, l), r)};
  }
  unsupported(r, fmt::format("Posterior.predict of a value observed under {} (its mean is not a value of the "
                             "observed kind)",
                             f));
}

// post.predict(X_new, ...) / post.uncertainty(X_new, ...): the model's predictive function (role 5)
// at every draw, averaged by the runtime (tessera.posterior_predict).
Local Lowerer::posterior_predict(const CallExpr* c, const std::string& method, const Local& post, const Type& t) {
  auto it = fn_->predictions.find(c);
  if (it == fn_->predictions.end() || !t || !t->shape)
    unsupported(c->range, fmt::format("Posterior.{} of a Posterior passed as an argument (its model is not known here: call "
                                      "{} in the function that calls the model)",
                                      method, method));
  const sema::CallTarget& target = it->second;
  const sema::TypedFunction& model = *target.callee;
  SpecKey key = call_key(target);
  key.role = 5;
  mlir::func::FuncOp f = declare(key);
  f.setPublic();
  f->setAttr("tessera.callback", b_.getUnitAttr());
  auto ft = f.getFunctionType();
  auto args = positional(c);
  std::vector<mlir::Value> data;
  size_t next = 0;
  for (size_t k = 0; k < model.params.size(); ++k) {
    mlir::Type want = ft.getInput(static_cast<unsigned>(k + 1));
    const auto& p = model.params[k];
    if (p.name == model.observed_params.at(0)) {
      // The observed argument: zeros of its shape at the new inputs' dimensions.
      auto tt = sema::as_tensor(p.type);
      auto wt = mlir::dyn_cast<mlir::RankedTensorType>(want);
      if (!tt || !(*tt)->shape || !wt) unsupported(c->range, fmt::format("Posterior.{} of a model whose observed argument is not a tensor", method));
      std::vector<DimExpr> shape;
      for (const DimExpr& d : *(*tt)->shape) shape.push_back(d.substitute(target.dims));
      data.push_back(op("tessera.zeros", dynamic_dims(sema::tensor_type((*tt)->dtype, shape), wt, c->range), wt, c->range, nullptr));
      continue;
    }
    const Expr* v = keyword(c, p.name);
    if (!v && next < args.size()) v = args[next++];
    if (!v) unsupported(c->range, fmt::format("Posterior.{} without a value for '{}'", method, p.name));
    data.push_back(convert(expr(v), want, v->range));
  }
  mlir::Type mt = to_mlir(t, c->range);
  mlir::OperationState st(loc(c->range), "tessera.posterior_predict");
  st.addOperands(post.value);
  std::vector<mlir::Value> dims = dynamic_dims(t, mt, c->range);
  st.addOperands(dims);
  st.addOperands(data);
  st.addAttribute("operandSegmentSizes",
                  b_.getDenseI32ArrayAttr({1, static_cast<int32_t>(dims.size()), static_cast<int32_t>(data.size())}));
  st.addAttribute("stat", b_.getStringAttr(method));
  st.addAttribute("predictive", mlir::FlatSymbolRefAttr::get(f.getSymNameAttr()));
  st.addTypes(mt);
  mlir::Operation* pred = checked(b_.create(st), c->range);
  calls_.push_back({current_func_.getOperation(), f.getOperation(), model.name, c->range});
  return {pred->getResult(0), t};
}

// Whether the latent variable of `s` is drawn from an LKJCholesky: a correlation matrix's factor.
bool Lowerer::is_cholesky_corr(const sema::TypedFunction& f, const SampleStmt* s) {
  auto it = f.expr_types.find(s->distribution);
  return it != f.expr_types.end() && it->second && it->second->kind == TypeKind::Distribution &&
         it->second->name == "LKJCholesky";
}

// Stan's cholesky_corr transform, for u of [K(K-1)/2] to the lower Cholesky factor L [K, K] of a
// correlation matrix: z = tanh(u) (canonical partial correlations), row by row
//   L[0, 0] = 1; L[i, 0] = z; L[i, j] = z sqrt(1 - sum_{k<j} L[i, k]^2) (0 < j < i);
//   L[i, i] = sqrt(1 - sum_{k<i} L[i, k]^2),
// consuming z in the order (1,0), (2,0), (2,1), (3,0), ...; log |dL/du| = sum log(1 - z^2) +
// sum_{0<j<i} log(1 - sum_{k<j} L[i, k]^2) / 2, with log(1 - tanh(u)^2) = 2 (log 2 - |u| -
// softplus(-2|u|)) (no rounding of z to 1). Returns L and the log-Jacobian terms.
std::pair<mlir::Value, mlir::Value> Lowerer::cholesky_corr_transform(mlir::Value u, int64_t kk, SourceRange r) {
  auto f64 = b_.getF64Type();
  auto scalar_t = mlir::RankedTensorType::get({1}, f64);
  auto k = [&](double v) { return k64(v, r); };
  auto add = [&](mlir::Value a, mlir::Value b) { return bin("tessera.add", a, b, r); };
  auto sub = [&](mlir::Value a, mlir::Value b) { return bin("tessera.sub", a, b, r); };
  auto mul = [&](mlir::Value a, mlir::Value b) { return bin("tessera.mul", a, b, r); };
  mlir::Value z = ew1("tessera.tanh", u, r);
  mlir::Value au = ew1("tessera.abs", u, r);
  mlir::Value jac = mul(k(2.0), sub(sub(k(std::numbers::ln2), au), softplus_of(mul(k(-2.0), au), r)));
  std::vector<mlir::Value> jac_parts{jac};
  auto at = [&](int64_t i) {
    return op("tessera.slice", {z}, scalar_t, r, nullptr,
              {{"static_offsets", b_.getDenseI64ArrayAttr({i})},
               {"static_sizes", b_.getDenseI64ArrayAttr({1})},
               {"static_strides", b_.getDenseI64ArrayAttr({1})},
               {"operandSegmentSizes", b_.getDenseI32ArrayAttr({1, 0, 0, 0})}});
  };
  mlir::Value zero = mul(at(0), k(0.0)), one = add(zero, k(1.0));
  std::vector<mlir::Value> entries;  // row-major, [K * K] of [1]
  int64_t next = 0;
  for (int64_t i = 0; i < kk; ++i) {
    mlir::Value sum_sqs;
    for (int64_t j = 0; j < kk; ++j) {
      if (i == 0) {
        entries.push_back(j == 0 ? one : zero);
        continue;
      }
      if (j > i) {
        entries.push_back(zero);
        continue;
      }
      if (j == i) {
        entries.push_back(ew1("tessera.sqrt", sub(k(1.0), sum_sqs), r));
        continue;
      }
      mlir::Value zij = at(next++);
      mlir::Value x = zij;
      if (j > 0) {
        mlir::Value rest = sub(k(1.0), sum_sqs);
        jac_parts.push_back(mul(k(0.5), ew1("tessera.log", rest, r)));
        x = mul(zij, ew1("tessera.sqrt", rest, r));
      }
      sum_sqs = sum_sqs ? add(sum_sqs, mul(x, x)) : mul(x, x);
      entries.push_back(x);
    }
  }
  auto flat_t = mlir::RankedTensorType::get({kk * kk}, f64);
  mlir::Value flat = op("tessera.concat", entries, flat_t, r, nullptr, {{"axis", b_.getI64IntegerAttr(0)}});
  mlir::Value l = op("tessera.reshape", {flat}, mlir::RankedTensorType::get({kk, kk}, f64), r, nullptr);
  mlir::Value terms = jac_parts.size() == 1 ? jac_parts[0]
                                            : op("tessera.concat", jac_parts,
                                                 mlir::RankedTensorType::get({static_cast<int64_t>(kk * (kk - 1) / 2 + jac_parts.size() - 1)}, f64),
                                                 r, nullptr, {{"axis", b_.getI64IntegerAttr(0)}});
  return {l, terms};
}

// LKJCholesky(K, eta).log_prob(L), as torch's: sum_{i>=1} (K - i - 1 + 2 (eta - 1)) log L[i, i]
// minus log of the normalizer (pi^((K-1)/2) mvlgamma(a - 1/2, K - 1) / Gamma(a)^(K-1),
// a = eta + (K - 1) / 2); -inf where a diagonal element is not positive. One density per
// factor on the last two axes.
mlir::Value Lowerer::lkj_log_prob(const Dist& d, mlir::Value x, SourceRange r) {
  auto xt = mlir::cast<mlir::RankedTensorType>(x.getType());
  if (xt.getRank() < 2 || xt.isDynamicDim(xt.getRank() - 1) || xt.getDimSize(xt.getRank() - 1) < 2)
    unsupported(r, "LKJCholesky.log_prob of a value that is not a [K, K] factor of a size known when the function is called");
  int64_t kk = xt.getDimSize(xt.getRank() - 1);
  auto f64 = b_.getF64Type();
  auto k = [&](double v) { return k64(v, r); };
  auto add = [&](mlir::Value a, mlir::Value b) { return bin("tessera.add", a, b, r); };
  auto sub = [&](mlir::Value a, mlir::Value b) { return bin("tessera.sub", a, b, r); };
  auto mul = [&](mlir::Value a, mlir::Value b) { return bin("tessera.mul", a, b, r); };
  mlir::Location l = loc(r);
  auto constant = [&](std::vector<int64_t> shape, const std::vector<double>& v) {
    auto t = mlir::RankedTensorType::get(shape, f64);
    return b_.create<mlir::arith::ConstantOp>(l, mlir::DenseElementsAttr::get(t, llvm::ArrayRef(v))).getResult();
  };
  std::vector<double> eye(static_cast<size_t>(kk * kk), 0.0), base(static_cast<size_t>(kk), 0.0), ones(static_cast<size_t>(kk), 0.0);
  for (int64_t i = 0; i < kk; ++i) {
    eye[static_cast<size_t>(i * kk + i)] = 1.0;
    if (i > 0) {
      base[static_cast<size_t>(i)] = static_cast<double>(kk - i - 1);
      ones[static_cast<size_t>(i)] = 1.0;
    }
  }
  mlir::Value diag = sum_last(mul(x, constant({kk, kk}, eye)), r);  // [..., K]
  mlir::Value eta = d.params.at("concentration");
  mlir::Value order = add(constant({kk}, base), mul(mul(sub(eta, k(1.0)), k(2.0)), constant({kk}, ones)));
  // 0 log d is 0 for the first row (order 0), as for xlogy.
  mlir::Value unnormalized = sum_last(xlogy(order, ew1("tessera.log", diag, r), r), r);
  mlir::Value alpha = add(eta, k(0.5 * static_cast<double>(kk - 1)));
  mlir::Value numerator = k(0.25 * static_cast<double>((kk - 1) * (kk - 2)) * std::log(std::numbers::pi));
  for (int64_t j = 0; j < kk - 1; ++j) numerator = add(numerator, lgamma_of(sub(alpha, k(0.5 + 0.5 * static_cast<double>(j))), r));
  mlir::Value normalizer = sub(add(k(0.5 * static_cast<double>(kk - 1) * std::log(std::numbers::pi)), numerator),
                               mul(lgamma_of(alpha, r), k(static_cast<double>(kk - 1))));
  mlir::Value lp = sub(unnormalized, normalizer);
  // Outside the support (a diagonal element <= 0): -inf.
  auto dt = mlir::cast<mlir::RankedTensorType>(diag.getType());
  std::vector<int64_t> out(dt.getShape().begin(), dt.getShape().end() - 1);
  mlir::Value lo = op("tessera.reduce", {diag}, mlir::RankedTensorType::get(out, f64), r, nullptr,
                      {{"kind", mlir::tessera::ReduceKindAttr::get(&ctx_, mlir::tessera::ReduceKind::min)},
                       {"axes", b_.getDenseI64ArrayAttr({dt.getRank() - 1})}});
  mlir::Value inside = op("tessera.cmp", {lo, k(0.0)}, mlir::RankedTensorType::get(out, b_.getI1Type()), r, nullptr,
                          {{"predicate", mlir::tessera::CmpPredicateAttr::get(&ctx_, mlir::tessera::CmpPredicate::gt)}});
  return op("tessera.where", {inside, lp, k(-std::numeric_limits<double>::infinity())},
            broadcast_type(lp.getType(), inside.getType(), f64), r, nullptr);
}

// Whether the latent variable of `s` is drawn from a Dirichlet: a simplex.
bool Lowerer::is_simplex(const sema::TypedFunction& f, const SampleStmt* s) {
  auto it = f.expr_types.find(s->distribution);
  return it != f.expr_types.end() && it->second && it->second->kind == TypeKind::Distribution &&
         it->second->name == "Dirichlet";
}

// The types of the unconstrained coordinates of the latent variables, in the order the '~'
// statements draw them: a simplex of K components has K - 1; a conditional distribution's latent
// variables (in the caller's dimensions) come before the variable drawn from it.
std::vector<Type> Lowerer::unconstrained_types(const sema::TypedFunction& f, int depth) {
  if (depth > 32) unsupported(f.range, fmt::format("conditional distributions nested more than 32 deep (from '{}')", f.name));
  std::vector<Type> out;
  std::vector<const SampleStmt*> stmts;
  std::function<void(const Body&)> walk = [&](const Body& body) {
    for (const Stmt* s : body) {
      if (auto* smp = dyn_cast<SampleStmt>(s)) stmts.push_back(smp);
      if (auto* i = dyn_cast<IfStmt>(s)) {
        walk(i->then_body);
        walk(i->else_body);
      }
      if (auto* fs = dyn_cast<ForStmt>(s)) walk(fs->body);
      if (auto* w = dyn_cast<WhileStmt>(s)) walk(w->body);
    }
  };
  walk(f.def->body);
  for (const SampleStmt* ss : stmts) {
    if (auto* c = dyn_cast<CallExpr>(ss->distribution); c && f.calls.count(c) && is_conditional(*f.calls.at(c).callee)) {
      const sema::CallTarget& target = f.calls.at(c);
      for (const Type& t : unconstrained_types(*target.callee, depth + 1)) {
        auto tt = sema::as_tensor(t);
        if (!tt || !(*tt)->shape) {
          out.push_back(t);
          continue;
        }
        std::vector<DimExpr> shape;
        for (const DimExpr& d : *(*tt)->shape) shape.push_back(d.substitute(target.dims));
        out.push_back(sema::tensor_type((*tt)->dtype, shape));
      }
    }
    auto latent = std::find_if(f.latents.begin(), f.latents.end(), [&](const auto& l) { return l.first == ss; });
    if (latent == f.latents.end()) continue;
    const Type& type = latent->second;
    auto tt = sema::as_tensor(type);
    if (is_cholesky_corr(f, ss) && tt && (*tt)->shape && (*tt)->shape->size() == 2) {
      // The strictly lower triangle of a [K, K] factor: K (K - 1) / 2 coordinates.
      const DimExpr& kk = (*(*tt)->shape)[0];
      out.push_back(sema::tensor_type((*tt)->dtype, std::vector<DimExpr>{floordiv(kk * (kk - DimExpr::constant(1)), DimExpr::constant(2))}));
      continue;
    }
    if (!is_simplex(f, ss) || !tt || !(*tt)->shape || (*tt)->shape->empty()) {
      out.push_back(type);
      continue;
    }
    std::vector<DimExpr> shape = *(*tt)->shape;
    shape.back() = shape.back() - DimExpr::constant(1);
    out.push_back(sema::tensor_type((*tt)->dtype, shape));
  }
  return out;
}

// y[0], y[0] + y[1], ...: the running sum of a static vector (a lower-triangular matrix of ones
// times y; differentiable, and the same order of additions on every machine).
mlir::Value Lowerer::cumulative_sum(mlir::Value y, SourceRange r) {
  auto yt = mlir::cast<mlir::RankedTensorType>(y.getType());
  int64_t kk = yt.getDimSize(0);
  std::vector<double> tri(static_cast<size_t>(kk * kk), 0.0);
  for (int64_t i = 0; i < kk; ++i)
    for (int64_t j = 0; j <= i; ++j) tri[static_cast<size_t>(i * kk + j)] = 1.0;
  auto tri_t = mlir::RankedTensorType::get({kk, kk}, b_.getF64Type());
  mlir::Value lower = b_.create<mlir::arith::ConstantOp>(loc(r), mlir::DenseElementsAttr::get(tri_t, llvm::ArrayRef(tri)));
  return op("tessera.matmul", {lower, y}, yt, r, nullptr);
}

// Stan's stick-breaking simplex transform, for u of [..., K-1] (static) to x of [..., K]:
//   z_i = sigmoid(u_i - log(K - 1 - i)), x_i = z_i prod_{j<i} (1 - z_j), x_{K-1} = prod_j (1 - z_j),
//   log |dx/du| = sum_i log z_i + log(1 - z_i) + sum_{j<i} log(1 - z_j)
//               = sum_i log z_i + (K - 1 - i) log(1 - z_i),
// with log z and log(1 - z) as -softplus(-v) and -softplus(v) (no rounding to 0 or 1). u = 0 is
// the centre of the simplex. Returns x, log x and the log-Jacobian terms.
std::tuple<mlir::Value, mlir::Value, mlir::Value> Lowerer::simplex_transform(mlir::Value u, mlir::RankedTensorType ft,
                                                                               SourceRange r) {
  mlir::Location l = loc(r);
  int64_t kk = ft.getDimSize(ft.getRank() - 1), m = ft.getNumElements() / kk;
  auto f64 = b_.getF64Type();
  auto constant = [&](std::vector<int64_t> shape, const std::vector<double>& v) {
    auto t = mlir::RankedTensorType::get(shape, f64);
    return b_.create<mlir::arith::ConstantOp>(l, mlir::DenseElementsAttr::get(t, llvm::ArrayRef(v))).getResult();
  };
  auto u2 = op("tessera.reshape", {u}, mlir::RankedTensorType::get({m, kk - 1}, f64), r, nullptr);
  std::vector<double> offs(static_cast<size_t>(kk - 1)), coef(static_cast<size_t>(kk - 1));
  for (int64_t i = 0; i < kk - 1; ++i) {
    offs[static_cast<size_t>(i)] = std::log(static_cast<double>(kk - 1 - i));
    coef[static_cast<size_t>(i)] = static_cast<double>(kk - 1 - i);
  }
  mlir::Value v = bin("tessera.sub", u2, constant({kk - 1}, offs), r);
  mlir::Value log_z = ew1("tessera.neg", softplus_of(ew1("tessera.neg", v, r), r), r);
  mlir::Value log_1mz = ew1("tessera.neg", softplus_of(v, r), r);
  // S[:, i] = sum_{j<i} log(1 - z_j), i = 0..K-1: log_1mz @ T with T[j, i] = (j < i).
  std::vector<double> tri(static_cast<size_t>((kk - 1) * kk), 0.0);
  for (int64_t j = 0; j < kk - 1; ++j)
    for (int64_t i = j + 1; i < kk; ++i) tri[static_cast<size_t>(j * kk + i)] = 1.0;
  auto mk = mlir::RankedTensorType::get({m, kk}, f64);
  mlir::Value stick = op("tessera.matmul", {log_1mz, constant({kk - 1, kk}, tri)}, mk, r, nullptr);
  mlir::Value pad = op("tessera.concat", {log_z, constant({m, 1}, std::vector<double>(static_cast<size_t>(m), 0.0))}, mk, r,
                       nullptr, {{"axis", b_.getI64IntegerAttr(1)}});
  mlir::Value log_x = bin("tessera.add", pad, stick, r);
  mlir::Value jac = bin("tessera.add", log_z, bin("tessera.mul", log_1mz, constant({kk - 1}, coef), r), r);
  log_x = op("tessera.reshape", {log_x}, ft, r, nullptr);
  return {ew1("tessera.exp", log_x, r), log_x, jac};
}

// factor(lp): adds the sum of lp to the log density (in f64); nothing in the quantities.
Local Lowerer::factor_call(const CallExpr* c, const Type& t) {
  if (role_ == 0) unsupported(c->range, "factor(...) in a function called directly (call an @mcmc or @variational function)");
  if (role_ == 2) return {mlir::Value{}, t};
  auto args = positional(c);
  const Expr* e = args.empty() ? keyword(c, "value") : args[0];
  if (!e) unsupported(c->range, "factor() without a value");
  Local v = expr(e);
  auto vt = v.value ? mlir::dyn_cast<mlir::RankedTensorType>(v.value.getType()) : mlir::RankedTensorType{};
  auto ft = mlir::RankedTensorType::get(vt ? vt.getShape() : llvm::ArrayRef<int64_t>{}, b_.getF64Type());
  add_density(convert(v, ft, e->range), c->range, c);
  return {mlir::Value{}, t};
}

// `Posterior(w=w, ...)` in a quantities function: its fields, by name.
Local Lowerer::posterior_fields(const CallExpr* c, const Type& t) {
  if (role_ != 2) unsupported(c->range, "Posterior(...) other than as what an @mcmc or @variational function returns");
  Local out;
  out.type = t;
  out.object = "posterior";
  for (const Argument& a : c->args) {
    if (a.kind != ArgKind::Keyword) unsupported(a.range, "Posterior(...) takes its fields by name: Posterior(w=w)");
    out.names.push_back(a.name);
    out.elems.push_back(expr(a.value));
  }
  return out;
}

// The quantities function's result: each field as f64, flattened, one after the other.
mlir::Value Lowerer::flatten_fields(const Local& fields, SourceRange r) {
  std::vector<mlir::Value> parts;
  bool dynamic = false;
  int64_t width = 0;
  for (size_t i = 0; i < fields.elems.size(); ++i) {
    const Local& f = fields.elems[i];
    if (!f.value) unsupported(r, fmt::format("the Posterior field '{}' (a value that is not a tensor or a number)",
                                             fields.names[i]));
    mlir::Value v = flat_f64(f, r);
    int64_t size = mlir::cast<mlir::RankedTensorType>(v.getType()).getDimSize(0);
    if (mlir::ShapedType::isDynamic(size)) dynamic = true;
    else width += size;
    parts.push_back(v);
  }
  if (parts.size() == 1) return parts[0];
  return op("tessera.concat", parts,
            mlir::RankedTensorType::get({dynamic ? mlir::ShapedType::kDynamic : width}, b_.getF64Type()), r, nullptr,
            {{"axis", b_.getI64IntegerAttr(0)}});
}

// A value as a flat f64 vector (a scalar: one element).
mlir::Value Lowerer::flat_f64(const Local& v, SourceRange r) {
  auto vt = mlir::dyn_cast<mlir::RankedTensorType>(v.value.getType());
  auto shape = vt ? vt.getShape() : llvm::ArrayRef<int64_t>{};
  auto ft = mlir::RankedTensorType::get(shape, b_.getF64Type());
  mlir::Value x = convert(v, ft, r);
  if (ft.getRank() == 1) return x;
  if (ft.hasStaticShape())
    return op("tessera.reshape", {x}, mlir::RankedTensorType::get({ft.getNumElements()}, b_.getF64Type()), r, nullptr);
  mlir::Location l = loc(r);
  mlir::Value n = b_.create<mlir::arith::ConstantIndexOp>(l, 1);
  for (int64_t i = 0; i < ft.getRank(); ++i)
    n = b_.create<mlir::arith::MulIOp>(l, n, b_.create<mlir::tensor::DimOp>(l, x, i));
  return op("tessera.reshape", {x, n}, mlir::RankedTensorType::get({mlir::ShapedType::kDynamic}, b_.getF64Type()), r,
            nullptr);
}

// The element count of a shape, as an `index` (in the current function).
mlir::Value Lowerer::numel_index(const std::vector<DimExpr>& shape, SourceRange r) {
  mlir::Location l = loc(r);
  mlir::Value n = b_.create<mlir::arith::ConstantIndexOp>(l, 1);
  for (const DimExpr& d : shape) n = b_.create<mlir::arith::MulIOp>(l, n, dim_index(d, r));
  return n;
}

// --------------------------------------------------------------------- the call

namespace {

// A constant keyword argument of a decorator, as text for the runtime's configuration.
std::optional<std::string> literal_text(const Expr* e) {
  if (auto* s = dyn_cast<StringLiteralExpr>(e)) return s->value;
  if (auto* i = dyn_cast<IntLiteralExpr>(e)) return std::to_string(static_cast<int64_t>(i->value));
  if (auto* f = dyn_cast<FloatLiteralExpr>(e)) return fmt::format("{:.17g}", f->value);
  if (auto* b = dyn_cast<BoolLiteralExpr>(e)) return b->value ? "1" : "0";
  if (auto* u = dyn_cast<UnaryExpr>(e); u && u->op == UnaryOp::Neg)
    if (auto v = literal_text(u->operand)) return "-" + *v;
  return std::nullopt;
}

}  // namespace

// The configuration string of tessera.infer: `key=value;...` from the decorators' arguments
// (sema checked their names and values), plus the fields of the Posterior.
std::string Lowerer::inference_config(const sema::TypedFunction& f, const Type& posterior,
                                      const std::map<std::string, DimExpr>& callee_dims) {
  std::string out;
  for (const Decorator& d : f.def->decorators) {
    const auto* call = dyn_cast<CallExpr>(d.expr);
    std::string name = builtin_name(call ? call->callee : d.expr);
    if (name != "mcmc" && name != "variational" && name != "elbo") continue;
    out += fmt::format("engine.{}=1;", name);
    if (!call) continue;
    for (const Argument& a : call->args) {
      if (a.kind != ArgKind::Keyword) unsupported(a.range, fmt::format("a positional argument of @{}", name));
      auto v = literal_text(a.value);
      if (!v) unsupported(a.range, fmt::format("a value of @{}({}=...) that is not a constant", name, a.name));
      if (v->find(';') != std::string::npos || v->find('=') != std::string::npos)
        unsupported(a.range, "';' or '=' in this argument");
      out += fmt::format("{}.{}={};", name, a.name, *v);
    }
  }
  out += "fields=";
  for (size_t i = 0; i < posterior->fields.size(); ++i) {
    out += (i ? "," : "") + posterior->fields[i] + ":";
    auto ft = sema::as_tensor(posterior->elems[i]);
    std::vector<std::string> dims;
    if (ft && (*ft)->shape)
      for (const DimExpr& e : *(*ft)->shape) {
        auto v = static_dim(e.substitute(callee_dims));
        dims.push_back(v ? std::to_string(*v) : "?");
      }
    out += fmt::format("{}", fmt::join(dims, "x"));
  }
  return out + ";";
}

Local Lowerer::inference_call(const CallExpr* c, const sema::CallTarget& target, const Type& t) {
  const sema::TypedFunction& callee = *target.callee;
  if (callee.is_model) unsupported(c->range, "a probabilistic function that declares tessera.nn parameters");
  if (!t || t->kind != TypeKind::Posterior || t->fields.empty())
    unsupported(c->range, fmt::format("calling '{}', which does not end with `return Posterior(name=value, ...)`",
                                      callee.name));
  SpecKey key = call_key(target);
  // The data: the call's arguments in parameter order.
  std::vector<const Expr*> bound(callee.params.size(), nullptr);
  mlir::Value seed;
  size_t i = 0;
  for (const Argument& a : c->args) {
    if (a.kind == ArgKind::Positional) {
      if (i < bound.size()) bound[i++] = a.value;
    } else if (a.kind == ArgKind::Keyword) {
      if (a.name == "seed") {  // a run-time seed, over the decorator's
        seed = convert(expr(a.value), b_.getI64Type(), a.range);
        continue;
      }
      for (size_t k = 0; k < callee.params.size(); ++k)
        if (callee.params[k].name == a.name) bound[k] = a.value;
    } else {
      unsupported(a.range, "'*' and '**' arguments");
    }
  }
  std::vector<Local> values;
  for (size_t k = 0; k < bound.size(); ++k) {
    if (!bound[k]) unsupported(c->range, fmt::format("a call that leaves '{}' to its default value", callee.params[k].name));
    values.push_back(expr(bound[k]));
  }
  std::string config = inference_config(callee, callee.inferred_return, target.dims);
  SpecKey logp_key = key, gq_key = key, terms_key = key;
  logp_key.role = 1;
  gq_key.role = 2;
  terms_key.role = 3;
  mlir::func::FuncOp logp = declare(logp_key), gq = declare(gq_key), terms = declare(terms_key);
  // Where each term of the log density comes from, for the message when no initial point has a
  // finite log density: "file:line:col\tsource line" per statement, percent-encoded.
  {
    std::vector<std::pair<const void*, SourceRange>> stmts;
    density_statements(callee.def->body, stmts);
    auto encode = [](const std::string& text) {
      std::string out;
      for (char ch : text) {
        if (ch == ';' || ch == '=' || ch == '|' || ch == '%' || ch == ',' || static_cast<unsigned char>(ch) < 32)
          out += fmt::format("%{:02X}", static_cast<unsigned char>(ch));
        else
          out += ch;
      }
      return out;
    };
    config += "terms=";
    for (size_t k = 0; k < stmts.size(); ++k) {
      SourceRange r = stmts[k].second;
      LineCol lc = sources_.line_col(r.begin);
      std::string line = encode_utf8(sources_.line_text(r.begin.file, lc.line));
      size_t first = line.find_first_not_of(' ');
      line = first == std::string::npos ? "" : line.substr(first);
      config += (k ? "|" : "") + encode(fmt::format("{}:{}:{}\t{}", sources_.file(r.begin.file).name, lc.line, lc.col, line));
    }
    config += ";";
  }
  auto lt = logp.getFunctionType();
  std::vector<mlir::Value> args;
  for (size_t k = 0; k < values.size(); ++k) args.push_back(convert(values[k], lt.getInput(k + 1), bound[k]->range));
  auto theta_t = mlir::cast<mlir::RankedTensorType>(lt.getInput(0));
  mlir::Location l = loc(c->range);
  // The sizes of theta and of the fields, from the callee's dimensions as the caller has them.
  auto total = [&](const std::vector<Type>& types) {
    mlir::Value n = b_.create<mlir::arith::ConstantIndexOp>(l, 0);
    for (const Type& ty : types) {
      auto tt = sema::as_tensor(ty);
      if (!tt || !(*tt)->shape) unsupported(c->range, "a latent variable or Posterior field of unknown shape");
      std::vector<DimExpr> shape;
      for (const DimExpr& d : *(*tt)->shape) shape.push_back(d.substitute(target.dims));
      n = b_.create<mlir::arith::AddIOp>(l, n, numel_index(shape, c->range));
    }
    return n;
  };
  std::vector<Type> latent_types = unconstrained_types(callee);
  const Type& fields_t = callee.inferred_return;
  mlir::Value dim_v = total(latent_types), width_v = total(fields_t ? fields_t->elems : std::vector<Type>{});

  // The public callback: (theta, data...) -> (log density, gradient), by reverse mode.
  std::string grad_name = "__tess_logp_grad." + logp.getSymName().str().substr(std::string("__tess_logp.").size());
  mlir::func::FuncOp grad = module_.lookupSymbol<mlir::func::FuncOp>(grad_name);
  if (!grad) {
    mlir::OpBuilder::InsertionGuard guard(b_);
    grad = new_private_function(grad_name, lt.getInputs(), {b_.getF64Type(), theta_t}, l);
    grad.setPublic();
    grad->setAttr("tessera.callback", b_.getUnitAttr());
    std::vector<mlir::Value> inner(grad.getArguments().begin(), grad.getArguments().end());
    auto vg = grad_op(logp, inner, {0}, /*with_value=*/true, c->range);
    mlir::Value v = b_.create<mlir::tensor::ExtractOp>(l, vg[0], mlir::ValueRange{});
    b_.create<mlir::func::ReturnOp>(l, mlir::ValueRange{v, vg[1]});
  }
  for (mlir::func::FuncOp f : {gq, terms}) {
    f.setPublic();
    f->setAttr("tessera.callback", b_.getUnitAttr());
  }

  // The fields' sizes that are not static (the `?` of the configuration's fields=), in order.
  std::vector<mlir::Value> field_dims;
  for (const Type& ty : fields_t ? fields_t->elems : std::vector<Type>{}) {
    auto tt = sema::as_tensor(ty);
    if (!tt || !(*tt)->shape) continue;
    for (const DimExpr& d : *(*tt)->shape) {
      DimExpr caller = d.substitute(target.dims);
      if (!static_dim(caller)) field_dims.push_back(dim_index(caller, c->range));
    }
  }
  mlir::OperationState st(l, "tessera.infer");
  st.addOperands({dim_v, width_v});
  st.addOperands(field_dims);
  if (seed) st.addOperands(seed);
  st.addOperands(args);
  st.addAttribute("operandSegmentSizes", b_.getDenseI32ArrayAttr({1, 1, static_cast<int32_t>(field_dims.size()),
                                                                  seed ? 1 : 0, static_cast<int32_t>(args.size())}));
  st.addTypes(b_.getI64Type());
  st.addAttribute("log_density", mlir::FlatSymbolRefAttr::get(grad.getSymNameAttr()));
  st.addAttribute("quantities", mlir::FlatSymbolRefAttr::get(gq.getSymNameAttr()));
  st.addAttribute("terms", mlir::FlatSymbolRefAttr::get(terms.getSymNameAttr()));
  st.addAttribute("config", b_.getStringAttr(config));
  mlir::Operation* infer = checked(b_.create(st), c->range);
  calls_.push_back({current_func_.getOperation(), grad.getOperation(), callee.name, c->range});
  return {infer->getResult(0), t};
}

// The total element count of these types under the current specialization; nothing when a
// size depends on the data's dynamic dimensions. `what` names a value of unknown shape.
std::optional<int64_t> Lowerer::static_numel(const std::vector<Type>& types, SourceRange r, const std::string& what) {
  int64_t n = 0;
  for (const Type& type : types) {
    auto tt = sema::as_tensor(type);
    if (!tt || !(*tt)->shape) unsupported(r, what + " whose shape is not known");
    int64_t size = 1;
    for (const DimExpr& d : *(*tt)->shape) {
      auto v = static_dim(d);
      if (!v) return std::nullopt;
      size *= *v;
    }
    n += size;
  }
  return n;
}

// The size of the unconstrained vector: all latent variables.
std::optional<int64_t> Lowerer::latent_size(const sema::TypedFunction& f) {
  return static_numel(unconstrained_types(f), f.range, "a latent variable");
}

// The size of a Posterior's fields, flattened one after the other.
std::optional<int64_t> Lowerer::fields_size(const Type& posterior, SourceRange r) {
  return static_numel(posterior->elems, r, "a Posterior field");
}

// post.mean("w"), post.sd, post.quantile("w", q), post.rhat, post.ess, post.samples.
Local Lowerer::posterior_method(const CallExpr* c, const std::string& method, const Local& post, const Type& t) {
  if (method == "predict" || method == "uncertainty") return posterior_predict(c, method, post, t);
  if (method == "summary") unsupported(c->range, "Posterior.summary() other than printed: print(post.summary())");
  if (method == "trace_plot") {
    // post.trace_plot("trace.svg", "mu", "tau"): one panel per scalar, a line per chain.
    auto args = positional(c);
    auto* path = args.empty() ? nullptr : dyn_cast<StringLiteralExpr>(args[0]);
    if (!path) unsupported(c->range, "Posterior.trace_plot without a constant path");
    if (path->value.size() < 5 || path->value.substr(path->value.size() - 4) != ".svg")
      unsupported(args[0]->range, "a trace plot other than an .svg file");
    std::vector<mlir::Attribute> names;
    for (size_t i = 1; i < args.size(); ++i) {
      auto* n = dyn_cast<StringLiteralExpr>(args[i]);
      if (!n) unsupported(args[i]->range, "Posterior.trace_plot with a field name that is not a string literal");
      names.push_back(b_.getStringAttr(n->value));
    }
    Type pt = type_of(cast<AttributeExpr>(c->callee)->object);
    for (size_t i = 1; i < args.size(); ++i) {
      const std::string& n = cast<StringLiteralExpr>(args[i])->value;
      if (pt && !pt->fields.empty() && std::find(pt->fields.begin(), pt->fields.end(), n) == pt->fields.end())
        unsupported(args[i]->range, fmt::format("a trace plot of '{}', which is not a field of this Posterior", n));
    }
    mlir::OperationState st(loc(c->range), "tessera.posterior_save");
    st.addOperands(post.value);
    st.addAttribute("path", b_.getStringAttr(path->value));
    st.addAttribute("fields", b_.getArrayAttr(names));
    checked(b_.create(st), c->range);
    return {mlir::Value{}, t};
  }
  if (method == "save") {
    // post.save("draws.npz" | "draws.csv")
    auto args = positional(c);
    const Expr* p = args.empty() ? keyword(c, "path") : args[0];
    auto* path = p ? dyn_cast<StringLiteralExpr>(p) : nullptr;
    if (!path) unsupported(c->range, "Posterior.save without a constant path");
    bool npz = path->value.size() > 4 && path->value.substr(path->value.size() - 4) == ".npz";
    bool csv = path->value.size() > 4 && path->value.substr(path->value.size() - 4) == ".csv";
    if (!npz && !csv) unsupported(p->range, "saving a Posterior other than as .npz or .csv (Stan CSV)");
    mlir::OperationState st(loc(c->range), "tessera.posterior_save");
    st.addOperands(post.value);
    st.addAttribute("path", b_.getStringAttr(path->value));
    checked(b_.create(st), c->range);
    return {mlir::Value{}, t};
  }
  auto args = positional(c);
  const Expr* name = args.empty() ? keyword(c, "name") : args[0];
  auto* literal = name ? dyn_cast<StringLiteralExpr>(name) : nullptr;
  if (!literal) unsupported(c->range, fmt::format("Posterior.{} without the name of a field", method));
  double q = 0;
  if (method == "quantile") {
    const Expr* qe = args.size() > 1 ? args[1] : keyword(c, "q");
    auto v = qe ? constant_float(qe) : std::nullopt;
    if (!v) unsupported(c->range, "Posterior.quantile without a constant q");
    if (*v < 0 || *v > 1) unsupported(qe->range, "a quantile outside [0, 1]");
    q = *v;
  }
  mlir::Type mt = to_mlir(t, c->range);
  mlir::OperationState st(loc(c->range), "tessera.posterior_stat");
  st.addOperands(post.value);
  // The sizes of the field's dynamic dimensions (after the draws' row count of samples).
  auto rt = mlir::cast<mlir::RankedTensorType>(mt);
  for (int64_t i = method == "samples" ? 1 : 0; i < rt.getRank(); ++i)
    if (rt.isDynamicDim(i)) st.addOperands(dim_index((*t->shape)[static_cast<size_t>(i)], c->range));
  st.addTypes(mt);
  st.addAttribute("stat", b_.getStringAttr(method));
  st.addAttribute("field", b_.getStringAttr(literal->value));
  st.addAttribute("q", b_.getF64FloatAttr(q));
  return {checked(b_.create(st), c->range)->getResult(0), t};
}

}  // namespace tessera::ir::lowering
