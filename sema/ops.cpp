// Shape rules of the built-in operations (LANGUAGE.md §6), tensor methods,
// distributions and the tile operations of kernels.
#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <optional>
#include <set>

#include "sema/checker.h"

namespace tessera::sema {

// ------------------------------------------------------------ shape helpers

std::optional<std::vector<DimExpr>> Checker::broadcast(const std::vector<DimExpr>& a, const std::vector<DimExpr>& b,
                                                       const std::string& op, SourceRange range, const Type& ta,
                                                       const Type& tb) {
  size_t n = std::max(a.size(), b.size());
  std::vector<DimExpr> out(n, DimExpr::constant(1));
  for (size_t i = 0; i < n; ++i) {
    // Align from the right.
    std::optional<DimExpr> da, db;
    if (i < a.size()) da = a[a.size() - 1 - i];
    if (i < b.size()) db = b[b.size() - 1 - i];
    DimExpr& slot = out[n - 1 - i];
    if (!da) {
      slot = *db;
      continue;
    }
    if (!db) {
      slot = *da;
      continue;
    }
    if (da->is_constant() && da->constant_value() == 1) {
      slot = *db;
      continue;
    }
    if (db->is_constant() && db->constant_value() == 1) {
      slot = *da;
      continue;
    }
    ProofResult r = prove_equal(*da, *db);
    if (r.kind == ProofResult::Kind::Proven) {
      slot = *da;
      continue;
    }
    auto builder = diags_.report(DiagKind::BroadcastMismatch, range, op, to_string(ta), to_string(tb));
    size_t ia = a.size() - 1 - i, ib = b.size() - 1 - i;
    if (da->is_constant() && db->is_constant()) {
      builder.label(fmt::format("{} and {} differ", da->to_string(), db->to_string()));
    } else {
      builder.label(fmt::format("{} is not provably equal to {}", da->to_string(), db->to_string()));
    }
    builder.note(fmt::format("dimension {} of the left operand is {}; dimension {} of the right operand is {}{}", ia,
                             da->to_string(), ib, db->to_string(), describe_counterexample(r)));
    builder.note("broadcasting needs each pair of dimensions (aligned from the right) to be equal or 1");
    return std::nullopt;
  }
  return out;
}

Type Checker::elementwise(const std::string& op, SourceRange range, const std::vector<Type>& operands) {
  std::optional<std::vector<DimExpr>> shape = std::vector<DimExpr>{};
  std::optional<DType> dtype;
  Policy policy;
  bool has_policy = false;
  bool tile = false;
  Type first_shaped;
  for (const Type& t : operands) {
    if (is_unknown(t)) return unknown_type();
    auto tt = as_tensor(t);
    if (!tt) return unknown_type();
    const Type& x = *tt;
    tile = tile || x->is_tile;
    // Weak scalars (literals, Python numbers) take the tensor's dtype.
    bool weak = t->kind != TypeKind::Tensor;
    if (!weak) {
      if (dtype && *dtype != x->dtype) dtype = promote(*dtype, x->dtype);
      else if (!dtype) dtype = x->dtype;
      if (!x->policy.empty()) {
        if (has_policy && !(policy == x->policy)) {
          Policy wider = policy;
          if (x->policy.accum && (!policy.accum || dtype_bits(*x->policy.accum) > dtype_bits(*policy.accum)))
            wider.accum = x->policy.accum;
          diags_.report(DiagKind::PolicyMismatch, range, op, policy.to_string().substr(1),
                        x->policy.to_string().substr(1))
              .note(fmt::format("the result takes the wider accumulation:{}", wider.to_string()));
          policy = wider;
        } else if (!has_policy) {
          policy = x->policy;
          has_policy = true;
        }
      }
    }
    if (!x->shape) {
      shape.reset();
      continue;
    }
    if (!shape) continue;
    if (!first_shaped) {
      first_shaped = x;
      shape = x->shape;
      continue;
    }
    shape = broadcast(*shape, *x->shape, op, range, tensor_type(x->dtype, *shape), x);
    if (!shape) return unknown_type();
  }
  if (dtype) {
    // Weak scalars keep the tensor's dtype within their kind (bool < integer < float): a float
    // scalar with an integer or bool tensor gives f32, an integer scalar with a bool tensor i64
    // (JAX's weak types; docs/types.md).
    auto category = [](DType d) { return d == DType::Bool ? 0 : is_float(d) ? 2 : 1; };
    for (const Type& t : operands) {
      if (t->kind == TypeKind::Tensor) continue;
      int k = t->kind == TypeKind::Float ? 2 : t->kind == TypeKind::Int ? 1 : 0;
      if (k > category(*dtype)) dtype = k == 2 ? DType::F32 : DType::I64;
    }
    // True division of integers or bools is a float (NumPy, JAX): f32.
    if ((op == "/" || op == "/=") && !is_float(*dtype)) dtype = DType::F32;
  }
  if (!dtype) {
    // Only scalars: the result is a scalar of the widest kind.
    bool any_float = false;
    for (const Type& t : operands) any_float = any_float || t->kind == TypeKind::Float;
    return any_float ? float_type() : operands.empty() ? unknown_type() : operands[0];
  }
  return tensor_type(*dtype, shape, policy, tile);
}

Type Checker::matmul(const Type& a, const Type& b, SourceRange range, SourceRange lhs_range, SourceRange rhs_range) {
  auto ta = as_tensor(a), tb = as_tensor(b);
  if (!ta || !tb) {
    diags_.report(DiagKind::TypeMismatch, range,
                  fmt::format("'@' needs tensors, found {} and {}", to_string(a), to_string(b)));
    return unknown_type();
  }
  const Type& x = *ta;
  const Type& y = *tb;
  DType dt = promote(x->dtype, y->dtype);
  Policy policy = !x->policy.empty() ? x->policy : y->policy;
  bool tile = x->is_tile || y->is_tile;
  if (!x->shape || !y->shape) return tensor_type(dt, std::nullopt, policy, tile);
  std::vector<DimExpr> xs = *x->shape, ys = *y->shape;
  if (xs.empty() || ys.empty()) {
    diags_.report(DiagKind::MatmulMismatch, range, to_string(x), to_string(y))
        .label("matmul needs operands of rank 1 or more")
        .help("use '*' to multiply by a scalar");
    return unknown_type();
  }
  bool vec_l = xs.size() == 1, vec_r = ys.size() == 1;
  if (vec_l) xs.insert(xs.begin(), DimExpr::constant(1));
  if (vec_r) ys.push_back(DimExpr::constant(1));
  const DimExpr& k1 = xs.back();
  const DimExpr& k2 = ys[ys.size() - 2];
  ProofResult r = prove_equal(k1, k2);
  if (r.kind != ProofResult::Kind::Proven) {
    auto builder = diags_.report(DiagKind::MatmulMismatch, range, k1.to_string(), k2.to_string());
    builder.label(fmt::format("{} @ {}", to_string(x), to_string(y)));
    builder.note(fmt::format("the last dimension of the left operand ({}) must equal the second-to-last of the "
                             "right operand ({}){}",
                             k1.to_string(), k2.to_string(), describe_counterexample(r)));
    // A transposed right operand is the usual slip.
    if (!vec_r && ys.size() >= 2 && prove_equal(k1, ys.back()).kind == ProofResult::Kind::Proven)
      builder.help("the right operand looks transposed: did you mean to write '.T' after it?");
    else if (!vec_l && xs.size() >= 2 && prove_equal(xs[xs.size() - 2], k2).kind == ProofResult::Kind::Proven)
      builder.help("the left operand looks transposed: did you mean to write '.T' after it?");
    (void)lhs_range;
    (void)rhs_range;
    return unknown_type();
  }
  std::vector<DimExpr> batch_x(xs.begin(), xs.end() - 2), batch_y(ys.begin(), ys.end() - 2);
  auto batch = broadcast(batch_x, batch_y, "@", range, x, y);
  if (!batch) return unknown_type();
  std::vector<DimExpr> out = *batch;
  if (!vec_l) out.push_back(xs[xs.size() - 2]);
  if (!vec_r) out.push_back(ys.back());
  return tensor_type(dt, out, policy, tile);
}

std::optional<size_t> Checker::axis(int64_t a, size_t rank, SourceRange range) {
  int64_t r = static_cast<int64_t>(rank);
  if (a < -r || a >= r || (rank == 0)) {
    diags_.report(DiagKind::AxisOutOfRange, range, a, rank)
        .note(rank == 0 ? std::string("a rank-0 tensor has no axes")
                        : fmt::format("valid axes are {} to {}", -r, r - 1));
    return std::nullopt;
  }
  return static_cast<size_t>(a < 0 ? a + r : a);
}

namespace {

Type same_as(const Type& t) {
  if (auto x = as_tensor(t)) return *x;
  return unknown_type();
}

// Unary elementwise functions keep the shape; integer inputs become float
// for the transcendental ones.
const Arg* input(const Call& c) { return c.self ? c.self : c.arg(0, "x"); }
size_t pos_offset(const Call& c) { return c.self ? 0 : 1; }

// exp(x) and x.exp(): the argument, or the receiver of the method spelling.
Type unary_float(Checker&, const Call& c) {
  const Arg* x = input(c);
  if (!x) return unknown_type();
  if (x->type->kind == TypeKind::Int || x->type->kind == TypeKind::Float) return float_type();
  auto t = as_tensor(x->type);
  if (!t) return unknown_type();
  DType d = is_float((*t)->dtype) ? (*t)->dtype : DType::F32;
  return tensor_type(d, (*t)->shape, (*t)->policy, (*t)->is_tile);
}

Type unary_same(Checker&, const Call& c) {
  const Arg* x = input(c);
  if (!x) return unknown_type();
  if (is_numeric_scalar(x->type)) return x->type;
  return same_as(x->type);
}

// dropout(x, p=0.5, seed=...): p is a probability in [0, 1); a literal outside is E0306 (the
// Graph IR lowering needs a constant p).
Type dropout(Checker& ck, const Call& c) {
  if (const Arg* p = c.arg(pos_offset(c), "p")) {
    const ast::Expr* e = p->expr;
    bool neg = false;
    if (auto* u = (e ? ast::dyn_cast<ast::UnaryExpr>(e) : nullptr); u && u->op == ast::UnaryOp::Neg) {
      neg = true;
      e = u->operand;
    }
    std::optional<double> v;
    if (auto* f = (e ? ast::dyn_cast<ast::FloatLiteralExpr>(e) : nullptr)) v = f->value;
    else if (auto* i = (e ? ast::dyn_cast<ast::IntLiteralExpr>(e) : nullptr)) v = static_cast<double>(i->value);
    if (v && neg) v = -*v;
    if (v && !(*v >= 0.0 && *v < 1.0)) {
      ck.diags().report(DiagKind::OperandShapeRule, p->range, fmt::format("dropout: p must be in [0, 1), found {}", *v));
      return unknown_type();
    }
  }
  return unary_same(ck, c);
}

// Reductions over `axis` (int, tuple or None) with `keepdim`.
Type reduce(Checker& ck, const Call& c, bool to_int) {
  const Arg* x = input(c);
  if (!x) return unknown_type();
  auto t = as_tensor(x->type);
  if (!t) return unknown_type();
  DType d = to_int ? DType::I64 : (*t)->dtype;
  std::string op = c.name.substr(c.name.rfind('.') == std::string::npos ? 0 : c.name.rfind('.') + 1);
  bool averaging = op == "mean" || op == "var" || op == "std" || op == "logsumexp" || op == "logsumexp_safe";
  // mean/var/std/logsumexp of integers or bools are f32 (JAX); sum/prod of bools count in i64.
  if (!to_int && averaging && !is_float(d)) d = DType::F32;
  if (!to_int && (op == "sum" || op == "prod") && d == DType::Bool) d = DType::I64;
  const Arg* axis_arg = c.arg(pos_offset(c), "axis");
  const Arg* keep = c.kw("keepdim");
  bool keepdim = keep && keep->type->kind == TypeKind::Bool;
  if (keep && keep->expr)
    if (auto* b = ast::dyn_cast<ast::BoolLiteralExpr>(keep->expr)) keepdim = b->value;
  if (!(*t)->shape) return tensor_type(d, std::nullopt, (*t)->policy, (*t)->is_tile);
  const auto& shape = *(*t)->shape;
  std::vector<bool> reduced(shape.size(), false);
  if (!axis_arg || axis_arg->type->kind == TypeKind::None) {
    std::fill(reduced.begin(), reduced.end(), true);
  } else {
    std::vector<Type> axes;
    if (axis_arg->type->kind == TypeKind::Tuple) axes = axis_arg->type->elems;
    else axes = {axis_arg->type};
    for (const Type& a : axes) {
      if (!a || a->kind != TypeKind::Int || !a->int_value || !a->int_value->is_constant())
        return tensor_type(d, std::nullopt, (*t)->policy, (*t)->is_tile);
      auto ax = ck.axis(a->int_value->constant_value(), shape.size(), axis_arg->range);
      if (!ax) return unknown_type();
      if (reduced[*ax]) {
        ck.diags().report(DiagKind::OperandShapeRule, axis_arg->range,
                          fmt::format("{}: axis {} is listed twice", c.name, *ax));
        return unknown_type();
      }
      reduced[*ax] = true;
    }
  }
  std::vector<DimExpr> out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (!reduced[i]) out.push_back(shape[i]);
    else if (keepdim) out.push_back(DimExpr::constant(1));
  }
  return tensor_type(d, out, (*t)->policy, (*t)->is_tile);
}

// Operations that normalize along an axis keep the shape (softmax & co).
Type along_axis(Checker& ck, const Call& c) {
  const Arg* x = input(c);
  if (!x) return unknown_type();
  auto t = as_tensor(x->type);
  if (!t) return unknown_type();
  const Arg* axis_arg = c.arg(pos_offset(c), "axis");
  if (axis_arg && (*t)->shape) {
    if (auto a = ck.int_constant(axis_arg)) {
      if (!ck.axis(*a, (*t)->shape->size(), axis_arg->range)) return unknown_type();
    }
  }
  // softmax & co of integers or bools are f32 (JAX).
  if (!is_float((*t)->dtype)) return tensor_type(DType::F32, (*t)->shape, (*t)->policy, (*t)->is_tile);
  return *t;
}

// group_norm(x, num_groups, weight=None, bias=None, eps=1e-5), as torch.nn.functional.group_norm:
// x is [N, C, ...], C divides into num_groups groups, weight and bias are [C].
Type group_norm(Checker& ck, const Call& c) {
  const Arg* x = input(c);
  auto t = x ? as_tensor(x->type) : std::nullopt;
  if (!t) return unknown_type();
  if (!(*t)->shape) return *t;
  const auto& shape = *(*t)->shape;
  if (shape.size() < 2) {
    ck.diags().report(DiagKind::OperandShapeRule, x->range,
                      fmt::format("group_norm needs an input of shape [N, C, ...], found {}", to_string(*t)));
    return unknown_type();
  }
  const Arg* g = c.arg(pos_offset(c), "num_groups");
  if (!g) g = c.kw("groups");
  if (!g) {
    ck.diags().report(DiagKind::MissingArgument, c.range, "num_groups", c.name);
    return unknown_type();
  }
  auto gv = ck.int_constant(g);
  if (!gv) {
    ck.diags().report(DiagKind::OperandShapeRule, g->range, "group_norm: num_groups must be a constant integer");
    return unknown_type();
  }
  DimExpr channels = shape[1];
  if (*gv <= 0 || ck.prove_equal(floordiv(channels, DimExpr::constant(*gv)) * DimExpr::constant(*gv), channels).kind !=
                      ProofResult::Kind::Proven) {
    ck.diags().report(DiagKind::OperandShapeRule, g->range,
                      fmt::format("group_norm: the {} channels (dimension 1 of {}) are not provably divisible into {} groups",
                                  channels.to_string(), to_string(*t), *gv));
    return unknown_type();
  }
  size_t first = pos_offset(c);
  for (auto [i, name] : {std::pair<size_t, const char*>{first + 1, "weight"}, {first + 2, "bias"}}) {
    const Arg* a = c.arg(i, name);
    if (!a) continue;
    auto at = as_tensor(a->type);
    if (!at || !(*at)->shape) continue;
    const auto& as = *(*at)->shape;
    if (as.size() != 1 || ck.prove_equal(as[0], channels).kind != ProofResult::Kind::Proven) {
      ck.diags().report(DiagKind::OperandShapeRule, a->range,
                        fmt::format("group_norm: {} must have shape [{}] (one value per channel), found {}", name,
                                    channels.to_string(), to_string(*at)));
      return unknown_type();
    }
  }
  return *t;
}

// layer_norm(x, weight=None, bias=None, eps=) and rms_norm(x, weight=None, eps=) normalize over
// the last axis: weight and bias are [D] for x [..., D] (E0306 otherwise).
Type norm_rule(Checker& ck, const Call& c) {
  const Arg* x = input(c);
  auto t = x ? as_tensor(x->type) : std::nullopt;
  if (!t) return unknown_type();
  if (!(*t)->shape) return *t;
  const auto& shape = *(*t)->shape;
  if (shape.empty()) {
    ck.diags().report(DiagKind::OperandShapeRule, x->range,
                      fmt::format("{} normalizes over the last axis and needs a tensor of rank 1 or more, found {}",
                                  c.name, to_string(*t)));
    return unknown_type();
  }
  const DimExpr& d = shape.back();
  for (auto [i, name] : {std::pair<size_t, const char*>{1, "weight"}, {2, "bias"}}) {
    const Arg* a = c.arg(i, name);
    if (!a || (a->type && a->type->kind == TypeKind::None)) continue;
    auto at = as_tensor(a->type);
    if (!at || !(*at)->shape) continue;
    const auto& as = *(*at)->shape;
    ProofResult r = as.size() == 1 ? ck.prove_equal(as[0], d) : ProofResult{};
    if (as.size() != 1 || r.kind != ProofResult::Kind::Proven) {
      auto b = ck.diags().report(DiagKind::OperandShapeRule, a->range,
                                 fmt::format("{}: {} must have shape [{}] (one value per feature of the last axis "
                                             "of {}), found {}",
                                             c.name, name, d.to_string(), to_string(*t), to_string(*at)));
      if (as.size() == 1) b.note(fmt::format("{} is not provably equal to {}{}", as[0].to_string(), d.to_string(),
                                             ck.describe_counterexample(r)));
      return unknown_type();
    }
  }
  if (!is_float((*t)->dtype)) return tensor_type(DType::F32, (*t)->shape, (*t)->policy, (*t)->is_tile);
  return *t;
}

Type reshape(Checker& ck, const Call& c) {
  const Arg* x = input(c);
  if (!x) return unknown_type();
  auto t = as_tensor(x->type);
  if (!t) return unknown_type();
  std::vector<DimExpr> target;
  size_t first = pos_offset(c);
  std::vector<const Arg*> parts;
  for (size_t i = first; i < c.args.size(); ++i) parts.push_back(&c.args[i]);
  if (parts.empty())
    if (const Arg* s = c.kw("shape")) parts.push_back(s);
  int infer_at = -1;
  for (const Arg* p : parts) {
    auto dims = ck.dims_from(*p);
    if (!dims) return tensor_type((*t)->dtype, std::nullopt, (*t)->policy);
    for (const DimExpr& d : *dims) {
      if (d.is_constant() && d.constant_value() < -1) {
        ck.diags().report(DiagKind::OperandShapeRule, p->range,
                          fmt::format("{}: a size must be >= 0 (or -1, inferred), found {}", c.name,
                                      d.constant_value()));
        return unknown_type();
      }
      if (d.is_constant() && d.constant_value() == -1) {
        if (infer_at >= 0) {
          ck.diags().report(DiagKind::OperandShapeRule, p->range,
                            fmt::format("{}: only one size can be -1 (inferred)", c.name));
          return unknown_type();
        }
        infer_at = static_cast<int>(target.size());
        target.push_back(DimExpr::constant(1));
        continue;
      }
      target.push_back(d);
    }
  }
  if (!(*t)->shape) return tensor_type((*t)->dtype, target, (*t)->policy);
  DimExpr before = DimExpr::constant(1);
  for (const DimExpr& d : *(*t)->shape) before = before * d;
  DimExpr after = DimExpr::constant(1);
  for (const DimExpr& d : target) after = after * d;
  if (infer_at >= 0) {
    // The -1 takes before / after, which must divide exactly (as NumPy requires).
    DimExpr inferred = floordiv(before, after);
    ProofResult r = ck.prove_equal(inferred * after, before);
    if (r.kind != ProofResult::Kind::Proven) {
      auto b = ck.diags().report(DiagKind::ReshapeMismatch, c.range, before.to_string(),
                                 fmt::format("a multiple of {}", after.to_string()));
      b.label(fmt::format("{} cannot become [{}] with -1 inferred", to_string(*t), shape_to_string(target)));
      b.note(fmt::format("{} is not provably divisible by {}{}", before.to_string(), after.to_string(),
                         ck.describe_counterexample(r)));
      return unknown_type();
    }
    target[static_cast<size_t>(infer_at)] = inferred;
    return tensor_type((*t)->dtype, target, (*t)->policy);
  }
  ProofResult r = ck.prove_equal(before, after);
  if (r.kind != ProofResult::Kind::Proven) {
    auto b = ck.diags().report(DiagKind::ReshapeMismatch, c.range, before.to_string(), after.to_string());
    b.label(fmt::format("{} cannot become [{}]", to_string(*t), shape_to_string(target)));
    b.note(fmt::format("{} is not provably equal to {}{}", before.to_string(), after.to_string(),
                       ck.describe_counterexample(r)));
    bool has_div = after.to_string().find("//") != std::string::npos;
    if (has_div) b.help("if a dimension divides another, state it as a precondition: `assert D % H == 0`");
    return unknown_type();
  }
  return tensor_type((*t)->dtype, target, (*t)->policy);
}

// cholesky(A), as torch.linalg.cholesky: A is [..., N, N]; the factor has A's shape (float).
Type cholesky_rule(Checker& ck, const Call& c) {
  const Arg* x = input(c);
  auto t = x ? as_tensor(x->type) : std::nullopt;
  if (!t) return unknown_type();
  DType d = is_float((*t)->dtype) ? (*t)->dtype : DType::F32;
  if (!(*t)->shape) return tensor_type(d, std::nullopt);
  const auto& shape = *(*t)->shape;
  if (shape.size() < 2) {
    ck.diags().report(DiagKind::OperandShapeRule, x->range,
                      fmt::format("cholesky needs a square matrix or a stack of them ([..., N, N]), found {}",
                                  to_string(*t)));
    return unknown_type();
  }
  ProofResult r = ck.prove_equal(shape[shape.size() - 2], shape.back());
  if (r.kind != ProofResult::Kind::Proven) {
    ck.diags()
        .report(DiagKind::OperandShapeRule, x->range,
                fmt::format("cholesky needs square matrices, found {}", to_string(*t)))
        .note(fmt::format("the last two dimensions, {} and {}, must be equal{}", shape[shape.size() - 2].to_string(),
                          shape.back().to_string(), ck.describe_counterexample(r)));
    return unknown_type();
  }
  return tensor_type(d, shape);
}

// solve_triangular(A, B, *, upper, left=True), as torch.linalg.solve_triangular: A is
// [..., N, N] (triangular), B is [..., N, K] (left) or [..., K, N]; X has B's shape. A's batch
// dimensions, when it has any, equal B's.
Type solve_triangular_rule(Checker& ck, const Call& c) {
  const Arg* a = c.arg(0, "A");
  const Arg* b = c.arg(1, "B");
  auto at = a ? as_tensor(a->type) : std::nullopt;
  auto bt = b ? as_tensor(b->type) : std::nullopt;
  if (!at || !bt) return unknown_type();
  DType d = is_float((*bt)->dtype) ? (*bt)->dtype : is_float((*at)->dtype) ? (*at)->dtype : DType::F32;
  if ((*at)->dtype == DType::F64) d = DType::F64;
  if (!(*at)->shape || !(*bt)->shape) return tensor_type(d, (*bt)->shape);
  const auto& as = *(*at)->shape;
  const auto& bs = *(*bt)->shape;
  if (as.size() < 2 || bs.size() < 2) {
    ck.diags().report(DiagKind::OperandShapeRule, c.range,
                      fmt::format("solve_triangular needs A: [..., N, N] and B: [..., N, K] (matrices), found {} and {}",
                                  to_string(*at), to_string(*bt)));
    return unknown_type();
  }
  bool left = true;
  if (const Arg* l = c.kw("left"))
    if (auto* lit = ast::dyn_cast<ast::BoolLiteralExpr>(l->expr)) left = lit->value;
  auto require = [&](const DimExpr& x, const DimExpr& y, const std::string& what) {
    ProofResult r = ck.prove_equal(x, y);
    if (r.kind == ProofResult::Kind::Proven) return true;
    ck.diags()
        .report(DiagKind::OperandShapeRule, c.range,
                fmt::format("solve_triangular: {} ({} and {})", what, x.to_string(), y.to_string()))
        .note(fmt::format("A is {}, B is {}{}", to_string(*at), to_string(*bt), ck.describe_counterexample(r)));
    return false;
  };
  if (!require(as[as.size() - 2], as.back(), "A must be square")) return unknown_type();
  const DimExpr& bn = left ? bs[bs.size() - 2] : bs.back();
  if (!require(as.back(), bn,
               left ? "the rows of B must equal the order of A" : "the columns of B must equal the order of A (left=False)"))
    return unknown_type();
  if (as.size() > 2) {
    if (as.size() != bs.size()) {
      ck.diags().report(DiagKind::OperandShapeRule, c.range,
                        fmt::format("solve_triangular: a stack of A ({}) needs B with the same batch dimensions, found {}",
                                    to_string(*at), to_string(*bt)));
      return unknown_type();
    }
    for (size_t i = 0; i + 2 < as.size(); ++i)
      if (!require(as[i], bs[i], "the batch dimensions of A and B must be equal")) return unknown_type();
  }
  return tensor_type(d, bs);
}

Type transpose(Checker& ck, const Call& c) {
  const Arg* x = input(c);
  if (!x) return unknown_type();
  auto t = as_tensor(x->type);
  if (!t || !(*t)->shape) return t ? *t : unknown_type();
  const auto& shape = *(*t)->shape;
  std::vector<int64_t> perm;
  size_t first = pos_offset(c);
  for (size_t i = first; i < c.args.size(); ++i) {
    const Arg& a = c.args[i];
    if (a.type->kind == TypeKind::Tuple) {
      for (const Type& e : a.type->elems) {
        if (!e || e->kind != TypeKind::Int || !e->int_value || !e->int_value->is_constant())
          return tensor_type((*t)->dtype, std::nullopt, (*t)->policy);
        perm.push_back(e->int_value->constant_value());
      }
    } else if (auto v = ck.int_constant(&a)) {
      perm.push_back(*v);
    } else {
      return tensor_type((*t)->dtype, std::nullopt, (*t)->policy);
    }
  }
  if (perm.empty()) {
    std::vector<DimExpr> rev(shape.rbegin(), shape.rend());
    return tensor_type((*t)->dtype, rev, (*t)->policy, (*t)->is_tile);
  }
  // transpose(a, b) on a tensor of higher rank swaps two axes.
  if (perm.size() == 2 && shape.size() != 2) {
    auto a = ck.axis(perm[0], shape.size(), c.range);
    auto b = ck.axis(perm[1], shape.size(), c.range);
    if (!a || !b) return unknown_type();
    std::vector<DimExpr> out = shape;
    std::swap(out[*a], out[*b]);
    return tensor_type((*t)->dtype, out, (*t)->policy, (*t)->is_tile);
  }
  if (perm.size() != shape.size()) {
    ck.diags().report(DiagKind::OperandShapeRule, c.range,
                      fmt::format("transpose needs a permutation of {} axes, got {}", shape.size(), perm.size()));
    return unknown_type();
  }
  std::vector<bool> seen(shape.size(), false);
  std::vector<DimExpr> out;
  for (int64_t p : perm) {
    auto a = ck.axis(p, shape.size(), c.range);
    if (!a) return unknown_type();
    if (seen[*a]) {
      ck.diags().report(DiagKind::OperandShapeRule, c.range,
                        fmt::format("transpose lists axis {} twice; it needs a permutation", *a));
      return unknown_type();
    }
    seen[*a] = true;
    out.push_back(shape[*a]);
  }
  return tensor_type((*t)->dtype, out, (*t)->policy, (*t)->is_tile);
}

Type unsqueeze(Checker& ck, const Call& c) {
  const Arg* x = input(c);
  auto t = x ? as_tensor(x->type) : std::nullopt;
  if (!t || !(*t)->shape) return t ? *t : unknown_type();
  auto a = ck.int_constant(c.arg(pos_offset(c), "axis"));
  if (!a) return tensor_type((*t)->dtype, std::nullopt, (*t)->policy);
  auto shape = *(*t)->shape;
  auto ax = ck.axis(*a, shape.size() + 1, c.range);
  if (!ax) return unknown_type();
  shape.insert(shape.begin() + static_cast<long>(*ax), DimExpr::constant(1));
  return tensor_type((*t)->dtype, shape, (*t)->policy, (*t)->is_tile);
}

Type astype(Checker&, const Call& c) {
  const Arg* x = input(c);
  const Arg* d = c.arg(pos_offset(c), "dtype");
  auto t = x ? as_tensor(x->type) : std::nullopt;
  if (!t) return unknown_type();
  if (d && d->type->kind == TypeKind::DTypeValue) return tensor_type(d->type->dtype, (*t)->shape, (*t)->policy);
  return *t;
}

// Sizes known at compile time must be >= 0 (E0306 at the argument): `zeros(-3, 4)`.
bool sizes_nonnegative(Checker& ck, const Call& c, const Arg& a, const std::vector<DimExpr>& dims) {
  for (const DimExpr& d : dims)
    if (d.is_constant() && d.constant_value() < 0) {
      ck.diags().report(DiagKind::OperandShapeRule, a.range,
                        fmt::format("{}: a size must be >= 0, found {}", c.name, d.constant_value()));
      return false;
    }
  return true;
}

// Creation: randn(2, 3), zeros((2, 3)), full(shape, value).
Type creation(Checker& ck, const Call& c, DType d) {
  std::vector<DimExpr> shape;
  for (const Arg& a : c.args) {
    auto dims = ck.dims_from(a);
    if (!dims) {
      ck.diags().report(DiagKind::TypeMismatch, a.range,
                        fmt::format("'{}' takes dimensions (integers), found {}", c.name, to_string(a.type)));
      return unknown_type();
    }
    if (!sizes_nonnegative(ck, c, a, *dims)) return unknown_type();
    shape.insert(shape.end(), dims->begin(), dims->end());
  }
  if (const Arg* s = c.kw("shape")) {
    auto dims = ck.dims_from(*s);
    if (dims && !sizes_nonnegative(ck, c, *s, *dims)) return unknown_type();
    if (dims) shape.insert(shape.end(), dims->begin(), dims->end());
  }
  if (const Arg* dt = c.kw("dtype"); dt && dt->type->kind == TypeKind::DTypeValue) d = dt->type->dtype;
  return tensor_type(d, shape);
}

Type full(Checker& ck, const Call& c) {
  const Arg* s = c.arg(0, "shape");
  if (!s) return unknown_type();
  auto dims = ck.dims_from(*s);
  if (dims && !sizes_nonnegative(ck, c, *s, *dims)) return unknown_type();
  DType d = DType::F32;
  if (const Arg* v = c.arg(1, "value"); v && v->type->kind == TypeKind::Int) d = DType::I64;
  if (const Arg* v = c.arg(1, "value"); v && v->type->kind == TypeKind::Bool) d = DType::Bool;
  if (const Arg* dt = c.kw("dtype"); dt && dt->type->kind == TypeKind::DTypeValue) d = dt->type->dtype;
  if (!dims) return tensor_type(d, std::nullopt);
  return tensor_type(d, *dims);
}

// tensor([[1, 2], [3, 4]]): the shape of a nested list literal.
Type tensor_literal(Checker& ck, const Call& c) {
  const Arg* data = c.arg(0, "data");
  if (!data) return unknown_type();
  std::vector<DimExpr> shape;
  DType d = DType::F32;
  bool all_int = true, all_bool = true;
  std::function<bool(const ast::Expr*, size_t)> walk = [&](const ast::Expr* e, size_t depth) -> bool {
    const std::vector<ast::Expr*>* elems = nullptr;
    if (auto* l = ast::dyn_cast<ast::ListExpr>(e)) elems = &l->elements;
    else if (auto* t = ast::dyn_cast<ast::TupleExpr>(e)) elems = &t->elements;
    if (!elems) {
      bool is_bool = ast::isa<ast::BoolLiteralExpr>(e);
      if (!is_bool) all_bool = false;
      if (is_bool) {
        // True/False: bool, or 1/0 among integers (NumPy's promotion).
      } else if (ast::isa<ast::FloatLiteralExpr>(e)) all_int = false;
      else if (auto* u = ast::dyn_cast<ast::UnaryExpr>(e); u && ast::isa<ast::FloatLiteralExpr>(u->operand))
        all_int = false;
      else if (!ast::isa<ast::IntLiteralExpr>(e) && !ast::isa<ast::UnaryExpr>(e)) all_int = false;
      return depth == shape.size();
    }
    if (depth == shape.size()) shape.push_back(DimExpr::constant(static_cast<int64_t>(elems->size())));
    else if (!(shape[depth] == DimExpr::constant(static_cast<int64_t>(elems->size())))) return false;
    for (const ast::Expr* x : *elems)
      if (!walk(x, depth + 1)) return false;
    return true;
  };
  if (!walk(data->expr, 0)) {
    ck.diags().report(DiagKind::OperandShapeRule, data->range, "the nested lists of a tensor literal are ragged")
        .note("every row must have the same length");
    return unknown_type();
  }
  if (all_int) d = all_bool ? DType::Bool : DType::I64;
  // Elements that are values of the program (tensor([r, 2 * r]), tensor(i)): the kinds of their
  // types decide, as torch.tensor does (any float: f32; else any int: i64; else bool).
  bool has_float = false, has_int = false, has_bool = false, has_other = false;
  std::function<void(const Type&)> kinds = [&](const Type& t) {
    if (!t) {
      has_other = true;
    } else if (t->kind == TypeKind::Tuple) {
      for (const Type& e : t->elems) kinds(e);
    } else if (t->kind == TypeKind::Int) {
      has_int = true;
    } else if (t->kind == TypeKind::Bool) {
      has_bool = true;
    } else if (t->kind == TypeKind::Float) {
      has_float = true;
    } else if (auto tt = as_tensor(t); tt && (*tt)->shape && (*tt)->shape->empty()) {
      if (is_float((*tt)->dtype)) has_float = true;
      else if ((*tt)->dtype == DType::Bool) has_bool = true;
      else has_int = true;
    } else {
      has_other = true;
    }
  };
  kinds(data->type);
  if (!has_other) d = has_float ? DType::F32 : has_int ? DType::I64 : has_bool ? DType::Bool : d;
  if (const Arg* dt = c.kw("dtype"); dt && dt->type->kind == TypeKind::DTypeValue) d = dt->type->dtype;
  return tensor_type(d, shape);
}

Type concat_like(Checker& ck, const Call& c, bool stack) {
  const Arg* list = c.arg(0, "tensors");
  if (!list || list->type->kind != TypeKind::Tuple) return tensor_type(DType::F32, std::nullopt);
  int64_t axis_value = 0;
  const Arg* axis_arg = c.arg(1, "axis");
  if (axis_arg) {
    auto v = ck.int_constant(axis_arg);
    if (!v) return tensor_type(DType::F32, std::nullopt);
    axis_value = *v;
  }
  std::vector<Type> parts;
  for (const Type& e : list->type->elems) {
    auto t = as_tensor(e);
    if (!t || !(*t)->shape) return tensor_type(DType::F32, std::nullopt);
    parts.push_back(*t);
  }
  if (parts.empty()) return unknown_type();
  const auto& first = *parts[0]->shape;
  size_t rank = first.size();
  auto ax = ck.axis(axis_value, stack ? rank + 1 : rank, axis_arg ? axis_arg->range : c.range);
  if (!ax) return unknown_type();
  std::vector<DimExpr> out = first;
  DimExpr total = stack ? DimExpr::constant(static_cast<int64_t>(parts.size())) : first[*ax];
  DType d = parts[0]->dtype;
  for (size_t k = 1; k < parts.size(); ++k) {
    const auto& s = *parts[k]->shape;
    d = promote(d, parts[k]->dtype);
    if (s.size() != rank) {
      ck.diags().report(DiagKind::OperandShapeRule, c.range,
                        fmt::format("{} needs tensors of the same rank: {} and {}", c.name, to_string(parts[0]),
                                    to_string(parts[k])));
      return unknown_type();
    }
    for (size_t i = 0; i < rank; ++i) {
      if (!stack && i == *ax) continue;
      ProofResult r = ck.prove_equal(first[i], s[i]);
      if (r.kind != ProofResult::Kind::Proven) {
        ck.diags()
            .report(DiagKind::OperandShapeRule, c.range,
                    fmt::format("{} needs equal dimensions {}: {} and {}", c.name,
                                stack ? "everywhere" : "outside the joined axis", to_string(parts[0]),
                                to_string(parts[k])))
            .note(fmt::format("dimension {}: {} is not provably equal to {}{}", i, first[i].to_string(),
                              s[i].to_string(), ck.describe_counterexample(r)));
        return unknown_type();
      }
    }
    if (!stack) total = total + s[*ax];
  }
  if (stack) out.insert(out.begin() + static_cast<long>(*ax), total);
  else out[*ax] = total;
  return tensor_type(d, out);
}

Type one_hot(Checker& ck, const Call& c) {
  const Arg* labels = c.arg(0, "labels");
  const Arg* n = c.arg(1, "num_classes");
  auto t = labels ? as_tensor(labels->type) : std::nullopt;
  if (!t) return unknown_type();
  if (is_float((*t)->dtype)) {
    ck.diags().report(DiagKind::TypeMismatch, labels->range,
                      fmt::format("one_hot needs integer labels, found {}", to_string(*t)));
    return unknown_type();
  }
  auto nv = n ? ck.dim_value(n->type) : std::nullopt;
  if (!(*t)->shape) return tensor_type(DType::F32, std::nullopt);
  auto shape = *(*t)->shape;
  shape.push_back(nv ? *nv : ck.fresh_dim("classes"));
  return tensor_type(DType::F32, shape);
}

Type cross_entropy(Checker& ck, const Call& c) {
  const Arg* logits = c.arg(0, "logits");
  const Arg* labels = c.arg(1, "labels");
  auto lt = logits ? as_tensor(logits->type) : std::nullopt;
  auto yt = labels ? as_tensor(labels->type) : std::nullopt;
  if (yt && !is_integer((*yt)->dtype)) {
    ck.diags()
        .report(DiagKind::TypeMismatch, labels->range,
                fmt::format("cross_entropy needs integer class labels, found {}", to_string(*yt)))
        .help("labels are class indices (i64); for probabilities write -(p * log_softmax(logits)).sum(axis=-1)");
    return unknown_type();
  }
  if (lt && (*lt)->shape && (*lt)->shape->empty()) {
    ck.diags().report(DiagKind::OperandShapeRule, logits->range,
                      fmt::format("cross_entropy needs logits of rank 1 or more, found {}", to_string(*lt)));
    return unknown_type();
  }
  if (lt && yt && (*lt)->shape && (*yt)->shape) {
    const auto& ls = *(*lt)->shape;
    const auto& ys = *(*yt)->shape;
    if (ls.size() != ys.size() + 1) {
      ck.diags().report(DiagKind::OperandShapeRule, c.range,
                        fmt::format("cross_entropy needs logits of rank one more than the labels: {} and {}",
                                    to_string(*lt), to_string(*yt)));
      return unknown_type();
    }
    for (size_t i = 0; i < ys.size(); ++i) {
      ProofResult r = ck.prove_equal(ls[i], ys[i]);
      if (r.kind != ProofResult::Kind::Proven) {
        ck.diags()
            .report(DiagKind::OperandShapeRule, c.range,
                    fmt::format("cross_entropy: logits {} and labels {} disagree", to_string(*lt), to_string(*yt)))
            .note(fmt::format("dimension {}: {} is not provably equal to {}{}", i, ls[i].to_string(),
                              ys[i].to_string(), ck.describe_counterexample(r)));
        return unknown_type();
      }
    }
  }
  return scalar_tensor(lt ? (*lt)->dtype : DType::F32);
}

// linear(x, w, b): x[..., in] @ w[in, out] + b[out].
Type linear(Checker& ck, const Call& c) {
  const Arg* x = c.arg(0, "x");
  const Arg* w = c.arg(1, "w");
  if (!x || !w) return unknown_type();
  if (w->type->kind == TypeKind::Int) {
    // nn.linear(x, 256): declares w: [in, 256] and b: [256].
    auto t = as_tensor(x->type);
    if (!t || !(*t)->shape || (*t)->shape->empty()) return t ? tensor_type((*t)->dtype, std::nullopt) : unknown_type();
    auto out = ck.dim_value(w->type);
    auto shape = *(*t)->shape;
    shape.back() = out ? *out : ck.fresh_dim("out");
    return tensor_type((*t)->dtype, shape, (*t)->policy);
  }
  Type y = ck.matmul(x->type, w->type, c.range, x->range, w->range);
  if (const Arg* b = c.arg(2, "b")) return ck.elementwise("linear", c.range, {y, b->type});
  return y;
}

Type embedding(Checker& ck, const Call& c);
Type conv2d(Checker& ck, const Call& c);

// ---- tessera.nn layers: the functional rule for the output, plus the parameters the call
// declares (Checker::declare_layer_params keeps the model's one ordered list).

ModelParam param_of(std::string field, DType dtype, std::vector<DimExpr> shape, ParamInit init,
                    DimExpr fan_in = DimExpr::constant(1)) {
  ModelParam p;
  p.name = std::move(field);
  p.dtype = dtype;
  p.shape = std::move(shape);
  p.init = init;
  p.fan_in = std::move(fan_in);
  return p;
}

// The input's shape when it is a tensor of known rank >= min_rank.
std::optional<std::pair<DType, std::vector<DimExpr>>> layer_input(const Arg* x, size_t min_rank) {
  auto t = x ? as_tensor(x->type) : std::nullopt;
  if (!t || !(*t)->shape || (*t)->shape->size() < min_rank) return std::nullopt;
  return std::make_pair((*t)->dtype, *(*t)->shape);
}

// nn.linear(x, out): w [in, out], b [out].
Type nn_linear(Checker& ck, const Call& c) {
  Type y = linear(ck, c);
  const Arg* w = c.arg(1, "out_features");
  if (!w) w = c.arg(1, "w");
  auto in = layer_input(c.arg(0, "x"), 1);
  if (!in || !w || w->type->kind != TypeKind::Int || is_unknown(y) || !y->shape) return y;
  DimExpr fan = in->second.back(), out = y->shape->back();
  ck.declare_layer_params(c, "linear",
                          {param_of("w", in->first, {fan, out}, ParamInit::UniformFanIn, fan),
                           param_of("b", in->first, {out}, ParamInit::UniformFanIn, fan)});
  return y;
}

// nn.layer_norm(x) / nn.rms_norm(x): over the last axis, weight [D] (and bias [D]).
Type nn_norm(Checker& ck, const Call& c) {
  Type y = along_axis(ck, c);
  auto in = layer_input(c.arg(0, "x"), 1);
  if (!in || is_unknown(y)) return y;
  DimExpr d = in->second.back();
  std::vector<ModelParam> ps{param_of("weight", in->first, {d}, ParamInit::Ones)};
  if (c.name == "nn.layer_norm") ps.push_back(param_of("bias", in->first, {d}, ParamInit::Zeros));
  ck.declare_layer_params(c, c.name.substr(3), std::move(ps));
  return y;
}

// nn.group_norm(x, num_groups): weight [C], bias [C].
Type nn_group_norm(Checker& ck, const Call& c) {
  Type y = group_norm(ck, c);
  auto in = layer_input(c.arg(0, "x"), 2);
  if (!in || is_unknown(y)) return y;
  DimExpr ch = in->second[1];
  ck.declare_layer_params(c, "group_norm",
                          {param_of("weight", in->first, {ch}, ParamInit::Ones),
                           param_of("bias", in->first, {ch}, ParamInit::Zeros)});
  return y;
}

// nn.multi_head_attention(x, num_heads, causal=False): x [..., S, D] -> [..., S, D], self-attention
// over H = num_heads heads of D / H features (D % H == 0 must be provable). Parameters: the
// projections w_q, w_k, w_v, w_o [D, D] and their biases b_q, b_k, b_v, b_o [D].
Type nn_multi_head_attention(Checker& ck, const Call& c) {
  const Arg* x = c.arg(0, "x");
  const Arg* h = c.arg(1, "num_heads");
  auto in = layer_input(x, 2);
  if (!in) {
    if (x && !is_unknown(x->type))
      ck.diags().report(DiagKind::OperandShapeRule, c.range,
                        fmt::format("nn.multi_head_attention needs x: [..., S, D], found {}", to_string(x->type)));
    return x ? same_as(x->type) : unknown_type();
  }
  if (!h) {
    ck.diags().report(DiagKind::MissingArgument, c.range, "num_heads", c.name);
    return same_as(x->type);
  }
  auto hv = ck.dim_value(h->type);
  if (!hv) {
    ck.diags().report(DiagKind::NotYetSupported, h->range, "nn.multi_head_attention with num_heads that is not a constant");
    return same_as(x->type);
  }
  DimExpr d = in->second.back();
  ProofResult r = ck.prove_equal(floordiv(d, *hv) * *hv, d);
  if (r.kind != ProofResult::Kind::Proven) {
    ck.diags()
        .report(DiagKind::OperandShapeRule, c.range,
                fmt::format("nn.multi_head_attention: the feature size {} is not divisible by num_heads = {}",
                            d.to_string(), hv->to_string()))
        .note(fmt::format("x is {}{}", to_string(x->type), ck.describe_counterexample(r)))
        .help(d.is_constant()
                  ? fmt::format("each head takes {} / {} features: num_heads must divide {}", d.to_string(),
                                hv->to_string(), d.to_string())
                  : fmt::format("each head takes {} / {} features: add `assert {} % {} == 0` at the top of the "
                                "function, or change num_heads",
                                d.to_string(), hv->to_string(), d.to_string(), hv->to_string()));
    return same_as(x->type);
  }
  std::vector<ModelParam> ps;
  for (const char* proj : {"q", "k", "v", "o"}) {
    ps.push_back(param_of(std::string("w_") + proj, in->first, {d, d}, ParamInit::UniformFanIn, d));
    ps.push_back(param_of(std::string("b_") + proj, in->first, {d}, ParamInit::Zeros));
  }
  ck.declare_layer_params(c, "multi_head_attention", std::move(ps));
  return same_as(x->type);
}

// nn.embedding(ids, vocab, dim): table [vocab, dim].
Type nn_embedding(Checker& ck, const Call& c) {
  Type y = embedding(ck, c);
  const Arg* vocab = c.arg(1, "num_embeddings");
  const Arg* dim = c.arg(2, "dim");
  if (!dim) dim = c.arg(2, "embedding_dim");
  auto vv = vocab ? ck.dim_value(vocab->type) : std::nullopt;
  if (is_unknown(y) || !y->shape || !vv || !dim) return y;
  ck.declare_layer_params(c, "embedding",
                          {param_of("table", DType::F32, {*vv, y->shape->back()}, ParamInit::Normal)});
  return y;
}

// nn.conv2d(x, out_channels, kernel_size, stride=, padding=, dilation=, groups=):
// w [O, C/groups, K, K], b [O]; the output follows the functional conv2d rule.
Type nn_conv2d(Checker& ck, const Call& c) {
  const Arg* x = c.arg(0, "x");
  const Arg* o = c.arg(1, "out_channels");
  const Arg* k = c.arg(2, "kernel_size");
  auto in = layer_input(x, 4);
  auto ov = o ? ck.dim_value(o->type) : std::nullopt;
  auto kv = k ? ck.dim_value(k->type) : std::nullopt;
  if (!in || in->second.size() != 4) {
    if (x && !is_unknown(x->type))
      ck.diags().report(DiagKind::OperandShapeRule, c.range,
                        fmt::format("nn.conv2d needs x: [N, C, H, W], found {}", to_string(x->type)));
    return unknown_type();
  }
  if (!ov || !kv) {
    ck.diags().report(DiagKind::NotYetSupported, c.range,
                      "nn.conv2d without constant out_channels and kernel_size");
    return unknown_type();
  }
  DimExpr g = DimExpr::constant(1);
  if (const Arg* ga = c.kw("groups"))
    if (auto gv = ck.dim_value(ga->type)) g = *gv;
  DimExpr cin = floordiv(in->second[1], g);
  Arg w{nullptr, tensor_type(in->first, std::vector<DimExpr>{*ov, cin, *kv, *kv}), "", c.range};
  Call fc{"conv2d", c.range, nullptr, {*x, w}, c.kwargs};
  Type y = conv2d(ck, fc);
  if (is_unknown(y)) return y;
  DimExpr fan = cin * *kv * *kv;
  ck.declare_layer_params(c, "conv2d",
                          {param_of("w", in->first, {*ov, cin, *kv, *kv}, ParamInit::UniformFanIn, fan),
                           param_of("b", in->first, {*ov}, ParamInit::UniformFanIn, fan)});
  return y;
}

// ---- models: ts.init, optimizers, clip_grad_norm (LANGUAGE.md §15)

// ts.init(model, seed=0, D=512): the model's parameters with the dimensions its types leave
// open fixed by keywords.
Type init_params(Checker& ck, const Call& c) {
  const Arg* m = c.arg(0, "model");
  if (!m || is_unknown(m->type)) return unknown_type();
  const FunctionInfo* f = Checker::user_function(m->type);
  if (!f || !f->typed.is_model) {
    ck.diags()
        .report(DiagKind::TypeMismatch, m->range,
                fmt::format("ts.init needs a model (a function that calls tessera.nn layers), found {}",
                            f ? "'" + f->name + "', which declares no parameters" : to_string(m->type)))
        .help("layers such as ts.nn.linear(x, 256) declare a model's parameters");
    return unknown_type();
  }
  std::map<std::string, DimExpr> subst;
  std::set<std::string> open;
  for (const ModelParam& p : f->typed.model_params)
    for (const DimExpr& d : p.shape)
      for (const std::string& s : d.symbols()) open.insert(s);
  for (const Arg& k : c.kwargs) {
    if (k.keyword == "seed") {
      if (!ck.int_constant(&k)) ck.diags().report(DiagKind::TypeMismatch, k.range, "seed= of ts.init must be an integer constant");
      continue;
    }
    if (!open.count(k.keyword)) {
      auto b = ck.diags().report(DiagKind::UnknownKeyword, k.range, "init", k.keyword);
      if (open.empty()) b.note(fmt::format("the parameters of '{}' have no open dimensions", f->name));
      else {
        std::string names;
        for (const auto& s : open) names += (names.empty() ? "" : ", ") + s;
        b.note(fmt::format("the open dimensions of '{}''s parameters are {}", f->name, names));
      }
      continue;
    }
    auto v = ck.int_constant(&k);
    if (!v || *v < 1) {
      ck.diags().report(DiagKind::TypeMismatch, k.range,
                        fmt::format("dimension {}= of ts.init must be a positive integer constant", k.keyword));
      continue;
    }
    subst.emplace(k.keyword, DimExpr::constant(*v));
  }
  std::vector<std::string> names;
  std::vector<Type> types;
  std::set<std::string> reported;
  bool ok = true;
  for (const ModelParam& p : f->typed.model_params) {
    std::vector<DimExpr> shape;
    for (const DimExpr& d : p.shape) {
      DimExpr e = d.substitute(subst);
      for (const std::string& s : e.symbols()) {
        ok = false;
        if (!reported.insert(s).second) continue;
        std::string user = s.find('\'') == std::string::npos ? s : s.substr(0, s.find('\''));
        ck.diags()
            .report(DiagKind::InitMissingDim, c.range, user, p.name, f->name)
            .note(fmt::format("'{}' is {}", p.name, to_string(tensor_type(p.dtype, p.shape))))
            .help(s.find('\'') == std::string::npos
                      ? fmt::format("give it as a keyword: ts.init({}, {}=...)", f->name, s)
                      : "make the layer's sizes constants");
      }
      shape.push_back(e);
    }
    names.push_back(p.name);
    types.push_back(tensor_type(p.dtype, shape));
  }
  if (!ok) return unknown_type();
  ck.record_init(c, *f);
  return params_type(std::move(names), std::move(types));
}

// The Params argument of an optimizer or clip_grad_norm.
Type params_arg(Checker& ck, const Call& c, size_t i, const char* name) {
  const Arg* p = c.arg(i, name);
  if (!p) {
    ck.diags().report(DiagKind::MissingArgument, c.range, name, c.name);
    return unknown_type();
  }
  if (is_unknown(p->type)) return unknown_type();
  if (p->type->kind != TypeKind::Params) {
    ck.diags().report(DiagKind::TypeMismatch, p->range,
                      fmt::format("{} of {} expects Params, found {}", name, c.name, to_string(p->type)));
    return unknown_type();
  }
  return p->type;
}

Type clip_grad_norm_rule(Checker& ck, const Call& c) {
  Type g = params_arg(ck, c, 0, "grads");
  if (!c.arg(1, "max_norm")) ck.diags().report(DiagKind::MissingArgument, c.range, "max_norm", c.name);
  return g;
}

// load(path): a tensor whose type the annotation gives; load("p.npz", like=params): a Params with
// the layout (names, shapes, dtypes) of `like`, read from the archive's members.
Type load_rule(Checker& ck, const Call& c) {
  if (c.kw("like")) return params_arg(ck, c, 99, "like");
  return tensor_type(DType::F32, std::nullopt);
}

bool is_number(const Type& t) { return t && (t->kind == TypeKind::Float || t->kind == TypeKind::Int); }

Type optimizer_rule(Checker& ck, const Call& c) {
  params_arg(ck, c, 0, "params");
  if (const Arg* lr = c.arg(1, "lr"); lr && !is_unknown(lr->type) && !is_number(lr->type) &&
                                      !(lr->type->kind == TypeKind::Object && lr->type->name == "lr_schedule"))
    ck.diags().report(DiagKind::TypeMismatch, lr->range,
                      fmt::format("lr of {} expects a number or a learning-rate schedule (ts.optimizers.cosine_decay, "
                                  "...), found {}",
                                  c.name, to_string(lr->type)));
  return named_type(TypeKind::Object, "optimizer");
}

// Learning-rate schedules (docs/models.md): ts.optimizers.cosine_decay(lr, steps, warmup=, final=),
// linear_decay(lr, steps, warmup=, final=), step_decay(lr, every, gamma=), exponential_decay(lr,
// gamma): number arguments; the optimizer evaluates the schedule at its step count.
Type schedule_rule(Checker& ck, const Call& c, std::vector<const char*> required) {
  for (size_t i = 0; i < required.size(); ++i)
    if (!c.arg(i, required[i])) ck.diags().report(DiagKind::MissingArgument, c.range, required[i], c.name);
  auto check = [&](const Arg& a) {
    if (!is_unknown(a.type) && !is_number(a.type))
      ck.diags().report(DiagKind::TypeMismatch, a.range,
                        fmt::format("{} expects number arguments, found {}", c.name, to_string(a.type)));
  };
  for (const Arg& a : c.args) check(a);
  for (const Arg& a : c.kwargs) check(a);
  return named_type(TypeKind::Object, "lr_schedule");
}

Type attention(Checker& ck, const Call& c) {
  const Arg* q = c.arg(0, "q");
  const Arg* k = c.arg(1, "k");
  const Arg* v = c.arg(2, "v");
  if (!q) return unknown_type();
  if (!k || !v) return same_as(q->type);
  auto qt = as_tensor(q->type), kt = as_tensor(k->type), vt = as_tensor(v->type);
  if (!qt || !kt || !vt || !(*qt)->shape || !(*kt)->shape || !(*vt)->shape) return same_as(q->type);
  const auto& qs = *(*qt)->shape;
  const auto& ks = *(*kt)->shape;
  const auto& vs = *(*vt)->shape;
  if (qs.empty() || ks.size() < 2 || vs.size() < 2) return same_as(q->type);
  ProofResult r = ck.prove_equal(qs.back(), ks.back());
  if (r.kind != ProofResult::Kind::Proven) {
    ck.diags()
        .report(DiagKind::OperandShapeRule, c.range,
                fmt::format("attention: queries {} and keys {} have different feature sizes", to_string(*qt),
                            to_string(*kt)))
        .note(fmt::format("{} is not provably equal to {}{}", qs.back().to_string(), ks.back().to_string(),
                          ck.describe_counterexample(r)));
    return unknown_type();
  }
  ProofResult r2 = ck.prove_equal(ks[ks.size() - 2], vs[vs.size() - 2]);
  if (r2.kind != ProofResult::Kind::Proven) {
    ck.diags().report(DiagKind::OperandShapeRule, c.range,
                      fmt::format("attention: keys {} and values {} have different sequence lengths", to_string(*kt),
                                  to_string(*vt)));
    return unknown_type();
  }
  auto out = qs;
  out.back() = vs.back();
  return tensor_type((*qt)->dtype, out, (*qt)->policy);
}

// Distributions: the sample type is the broadcast of the parameters, or
// `shape=[...]`.
// A number literal (`2`, `-0.5`), for the checks of constant distribution parameters.
std::optional<double> literal_number(const ast::Expr* e) {
  if (!e) return std::nullopt;
  if (auto* i = dyn_cast<ast::IntLiteralExpr>(e)) return static_cast<double>(i->value);
  if (auto* f = dyn_cast<ast::FloatLiteralExpr>(e)) return f->value;
  if (auto* u = dyn_cast<ast::UnaryExpr>(e); u && u->op == ast::UnaryOp::Neg)
    if (auto v = literal_number(u->operand)) return -*v;
  return std::nullopt;
}

// The first number of `e` outside `ok`: e itself when it is a number literal, or an element
// of a tensor literal of number literals (`tensor([1.0, -2.0])`).
std::optional<double> literal_outside(const ast::Expr* e, const std::function<bool(double)>& ok) {
  if (auto v = literal_number(e)) return ok(*v) ? std::nullopt : v;
  auto* call = e ? dyn_cast<ast::CallExpr>(e) : nullptr;
  auto* callee = call ? dyn_cast<ast::NameExpr>(call->callee) : nullptr;
  if (!callee || callee->name != "tensor" || call->args.empty() || call->args[0].kind != ast::ArgKind::Positional)
    return std::nullopt;
  std::optional<double> bad;
  std::function<void(const ast::Expr*)> walk = [&](const ast::Expr* x) {
    if (bad) return;
    if (auto* l = dyn_cast<ast::ListExpr>(x)) {
      for (const ast::Expr* el : l->elements) walk(el);
    } else if (auto v = literal_number(x); v && !ok(*v)) {
      bad = v;
    }
  };
  walk(call->args[0].value);
  return bad;
}

// The parameters of a distribution, as torch.distributions names them (LANGUAGE.md §9), with
// their domains: arguments are matched to them, and constants outside a domain are E0503.
void check_distribution_arguments(Checker& ck, const Call& c) {
  struct P {
    const char* name;
    char domain;  // 'r' real, 'p' positive, 'u' [0, 1]
    bool required;
  };
  static const std::map<std::string, std::vector<P>> table = {
      {"Normal", {{"loc", 'r', true}, {"scale", 'p', true}}},
      {"HalfNormal", {{"scale", 'p', true}}},
      {"LogNormal", {{"loc", 'r', true}, {"scale", 'p', true}}},
      {"Cauchy", {{"loc", 'r', true}, {"scale", 'p', true}}},
      {"HalfCauchy", {{"scale", 'p', true}}},
      {"StudentT", {{"df", 'p', true}, {"loc", 'r', false}, {"scale", 'p', false}}},
      {"Gamma", {{"concentration", 'p', true}, {"rate", 'p', true}}},
      {"Exponential", {{"rate", 'p', true}}},
      {"Beta", {{"concentration1", 'p', true}, {"concentration0", 'p', true}}},
      {"Uniform", {{"low", 'r', true}, {"high", 'r', true}}},
      {"Bernoulli", {{"probs", 'u', false}, {"logits", 'r', false}}},
      {"Categorical", {{"probs", 'u', false}, {"logits", 'r', false}}},
      {"Binomial", {{"total_count", 'c', false}, {"probs", 'u', false}, {"logits", 'r', false}}},
      {"Poisson", {{"rate", 'n', false}, {"log_rate", 'r', false}}},
      {"Dirichlet", {{"concentration", 'p', true}}},
      {"MultivariateNormal", {{"loc", 'r', true}, {"covariance_matrix", 'r', false}, {"scale_tril", 'r', false}}},
      {"LKJCholesky", {{"dim", 'c', true}, {"concentration", 'p', false}}},
  };
  auto it = table.find(c.name);
  if (it == table.end()) return;
  const std::vector<P>& params = it->second;
  std::vector<std::string> names;
  for (const P& p : params) names.push_back(p.name);
  // Exactly one of two parameters: probs= | logits=, rate= | log_rate=, covariance_matrix= | scale_tril=.
  std::pair<const char*, const char*> choice{nullptr, nullptr};
  if (c.name == "Bernoulli" || c.name == "Categorical" || c.name == "Binomial") choice = {"probs", "logits"};
  if (c.name == "Poisson") choice = {"rate", "log_rate"};
  if (c.name == "MultivariateNormal") choice = {"covariance_matrix", "scale_tril"};
  auto signature = [&] {
    std::vector<std::string> shown;
    for (const P& p : params) {
      if (choice.first && (p.name == std::string(choice.first) || p.name == std::string(choice.second))) continue;
      shown.push_back(p.required ? p.name : std::string(p.name) + "=...");
    }
    if (choice.first) shown.push_back(fmt::format("{}= | {}=", choice.first, choice.second));
    return fmt::format("{}({})", c.name, fmt::join(shown, ", "));
  };
  // Names, counts and required parameters are the signature's (op_signature.cpp); here the
  // choices between parameters and the domains of constants.
  std::map<std::string, const Arg*> given;
  for (size_t i = 0; i < c.args.size() && i < params.size(); ++i) given[params[i].name] = &c.args[i];
  for (const Arg& a : c.kwargs) given[a.keyword] = &a;
  if (choice.first && given.count(choice.first) + given.count(choice.second) != 1)
    ck.diags()
        .report(DiagKind::BadDistributionArgument, c.range,
                fmt::format("{} takes exactly one of {}= and {}=", c.name, choice.first, choice.second))
        .note(fmt::format("its parameters: {}", signature()));
  for (const P& p : params) {
    auto g = given.find(p.name);
    if (g == given.end()) continue;
    auto inside = [&](double x) {
      return p.domain == 'r'   ? std::isfinite(x)
             : p.domain == 'p' ? x > 0 && std::isfinite(x)
             : p.domain == 'c' ? x >= 0 && std::isfinite(x) && std::floor(x) == x
             : p.domain == 'n' ? x >= 0 && std::isfinite(x)
                               : x >= 0 && x <= 1;
    };
    auto v = literal_outside(g->second->expr, inside);
    if (v)
      ck.diags().report(DiagKind::BadDistributionArgument, g->second->range,
                        fmt::format("{}: {} must be {}, found {}", c.name, p.name,
                                    p.domain == 'p'   ? "positive"
                                    : p.domain == 'u' ? "in [0, 1]"
                                    : p.domain == 'c' ? "a whole number >= 0"
                                    : p.domain == 'n' ? ">= 0"
                                                      : "finite",
                                    fmt::format("{:g}", *v)));
  }
  if (c.name == "Uniform" && given.count("low") && given.count("high")) {
    auto lo = literal_number(given["low"]->expr), hi = literal_number(given["high"]->expr);
    if (lo && hi && !(*lo < *hi))
      ck.diags().report(DiagKind::BadDistributionArgument, c.range,
                        fmt::format("Uniform: low ({:g}) must be below high ({:g})", *lo, *hi));
  }
}

// Whether a shape broadcasts to another (NumPy: each trailing dimension equal, or 1), proved.
bool broadcasts_to(Checker& ck, const std::vector<DimExpr>& from, const std::vector<DimExpr>& to) {
  if (from.size() > to.size()) return false;
  for (size_t i = 0; i < from.size(); ++i) {
    const DimExpr& f = from[from.size() - 1 - i];
    if (f.is_constant() && f.constant_value() == 1) continue;
    if (ck.prove_equal(f, to[to.size() - 1 - i]).kind != ProofResult::Kind::Proven) return false;
  }
  return true;
}

// MultivariateNormal(loc, covariance_matrix= | scale_tril=): loc is [..., N] (or a number), the
// matrix [..., N, N]; a sample is [batch..., N] with the batch dimensions of both broadcast.
Type mvn_distribution(Checker& ck, const Call& c) {
  bool f64 = false;
  for (const Arg& a : c.args)
    if (auto pt = as_tensor(a.type); pt && (*pt)->dtype == DType::F64 && !(*pt)->weak) f64 = true;
  for (const Arg& a : c.kwargs)
    if (auto pt = as_tensor(a.type); pt && (*pt)->dtype == DType::F64 && !(*pt)->weak) f64 = true;
  auto multivariate = [&](Type dist) {
    TypeNode n = *dist;
    n.dtype = f64 ? DType::F64 : DType::F32;
    n.name = c.name;
    return std::make_shared<const TypeNode>(std::move(n));
  };
    const Arg* loc = c.arg(0, "loc");
    const Arg* mat = c.arg(1, "covariance_matrix");
    if (!mat) mat = c.kw("scale_tril");
    auto lt = loc ? as_tensor(loc->type) : std::nullopt;
    auto mt = mat ? as_tensor(mat->type) : std::nullopt;
    if (!lt || !mt || !(*lt)->shape || !(*mt)->shape) return multivariate(distribution_type(tensor_type(DType::F32, std::nullopt)));
    const auto& ls = *(*lt)->shape;
    const auto& ms = *(*mt)->shape;
    auto bad = [&](const std::string& what, const ProofResult* r) {
      auto b = ck.diags().report(DiagKind::OperandShapeRule, c.range, fmt::format("MultivariateNormal: {}", what));
      b.note(fmt::format("loc is {}, {} is {}{}", to_string(*lt), mat->keyword.empty() ? "covariance_matrix" : mat->keyword,
                         to_string(*mt), r ? ck.describe_counterexample(*r) : std::string()));
      return distribution_type(unknown_type());
    };
    if (ms.size() < 2) return bad("the covariance or scale matrix must be [..., N, N]", nullptr);
    ProofResult sq = ck.prove_equal(ms[ms.size() - 2], ms.back());
    if (sq.kind != ProofResult::Kind::Proven) return bad("the covariance or scale matrix must be square", &sq);
    if (!ls.empty()) {
      ProofResult r = ck.prove_equal(ls.back(), ms.back());
      if (r.kind != ProofResult::Kind::Proven)
        return bad(fmt::format("loc's last dimension ({}) must equal the matrix's order ({})", ls.back().to_string(),
                               ms.back().to_string()),
                   &r);
    }
    std::vector<DimExpr> lb(ls.begin(), ls.empty() ? ls.end() : ls.end() - 1), mb(ms.begin(), ms.end() - 2);
    Type b = ck.elementwise(c.name, c.range, {tensor_type(DType::F32, lb), tensor_type(DType::F32, mb)});
    auto bt = as_tensor(b);
    if (!bt || !(*bt)->shape) return distribution_type(unknown_type());
    std::vector<DimExpr> shape = *(*bt)->shape;
    shape.push_back(ms.back());
    if (const Arg* sh = c.kw("shape")) {
      // The whole sample shape, ending with the vectors' size N, that the batch broadcasts to.
      auto dims = ck.dims_from(*sh);
      if (dims) {
        bool fits = !dims->empty() && ck.prove_equal(dims->back(), ms.back()).kind == ProofResult::Kind::Proven &&
                    broadcasts_to(ck, shape, *dims);
        if (!fits) {
          ck.diags()
              .report(DiagKind::BroadcastMismatch, sh->range, c.name, "[" + shape_to_string(shape) + "]",
                      "shape=[" + shape_to_string(*dims) + "]")
              .note(fmt::format("shape= is the whole sample shape, ending with the vectors' size {} (e.g. shape=[M, "
                                "{}] for M vectors)",
                                ms.back().to_string(), ms.back().to_string()));
          return distribution_type(unknown_type());
        }
        shape = *dims;
      }
    }
    return multivariate(distribution_type(tensor_type(f64 ? DType::F64 : DType::F32, shape)));
}

// LKJCholesky(dim, concentration=1): the lower Cholesky factor of a dim x dim correlation
// matrix (torch.distributions.LKJCholesky); one scalar concentration, a sample [dim, dim].
Type lkj_distribution(Checker& ck, const Call& c) {
  const Arg* dim = c.arg(0, "dim");
  const Arg* eta = c.arg(1, "concentration");
  bool f64 = false;
  if (eta)
    if (auto et = as_tensor(eta->type); et && (*et)->dtype == DType::F64 && !(*et)->weak) f64 = true;
  if (eta)
    if (auto et = as_tensor(eta->type); et && (*et)->shape && !(*et)->shape->empty()) {
      ck.diags().report(DiagKind::BadDistributionArgument, eta->range,
                        fmt::format("LKJCholesky takes one concentration (a number), found {}", to_string(eta->type)));
      return distribution_type(unknown_type());
    }
  std::optional<DimExpr> k = dim ? ck.dim_value(dim->type) : std::nullopt;
  if (!k) {
    ck.diags().report(DiagKind::BadDistributionArgument, dim ? dim->range : c.range,
                      "LKJCholesky takes its dimension as an Int (a constant or a dimension of the signature)");
    return distribution_type(unknown_type());
  }
  if (k->is_constant() && k->constant_value() < 2) {
    ck.diags().report(DiagKind::BadDistributionArgument, dim->range,
                      fmt::format("LKJCholesky: dim must be at least 2, found {}", k->constant_value()));
    return distribution_type(unknown_type());
  }
  std::vector<DimExpr> shape{*k, *k};
  if (const Arg* sh = c.kw("shape")) {
    auto dims = ck.dims_from(*sh);
    bool fits = dims && dims->size() == 2 && ck.prove_equal((*dims)[0], *k).kind == ProofResult::Kind::Proven &&
                ck.prove_equal((*dims)[1], *k).kind == ProofResult::Kind::Proven;
    if (dims && !fits) {
      ck.diags()
          .report(DiagKind::BroadcastMismatch, sh->range, c.name, "[" + shape_to_string(shape) + "]",
                  "shape=[" + shape_to_string(*dims) + "]")
          .note("an LKJCholesky sample is one [dim, dim] factor (batches of factors are not supported yet)");
      return distribution_type(unknown_type());
    }
  }
  TypeNode n = *distribution_type(tensor_type(f64 ? DType::F64 : DType::F32, shape));
  n.dtype = f64 ? DType::F64 : DType::F32;
  n.name = c.name;
  return std::make_shared<const TypeNode>(std::move(n));
}

Type distribution(Checker& ck, const Call& c) {
  check_distribution_arguments(ck, c);
  if (c.name == "MultivariateNormal") return mvn_distribution(ck, c);
  if (c.name == "LKJCholesky") return lkj_distribution(ck, c);
  std::vector<Type> params;
  for (const Arg& a : c.args) params.push_back(a.type);
  for (const Arg& a : c.kwargs)
    if (a.keyword != "shape" && a.keyword != "ordered") params.push_back(a.type);
  Type batch = ck.elementwise(c.name, c.range, params);
  if (const Arg* s = c.kw("shape")) {
    // shape= is the whole sample shape: the parameters broadcast to it (Categorical's without
    // their class axis); a negative size is an error.
    auto dims = ck.dims_from(*s);
    bool f64s = false;
    for (const Type& p : params)
      if (auto pt = as_tensor(p); pt && (*pt)->dtype == DType::F64 && !(*pt)->weak) f64s = true;
    DType d = c.name == "Bernoulli" || c.name == "Categorical" || c.name == "Poisson" || c.name == "Binomial"
                  ? DType::I64
                  : f64s ? DType::F64 : DType::F32;
    if (dims) {
      for (const DimExpr& e : *dims)
        if (e.is_constant() && e.constant_value() < 0) {
          ck.diags().report(DiagKind::OperandShapeRule, s->range,
                            fmt::format("{}: shape= has a negative size ({})", c.name, e.constant_value()));
          return distribution_type(unknown_type());
        }
      auto bt = as_tensor(batch);
      if (bt && (*bt)->shape) {
        std::vector<DimExpr> pshape = *(*bt)->shape;
        if (c.name == "Categorical" && !pshape.empty()) pshape.pop_back();
        if (!broadcasts_to(ck, pshape, *dims)) {
          ck.diags()
              .report(DiagKind::BroadcastMismatch, s->range, c.name, "[" + shape_to_string(pshape) + "]",
                      "shape=[" + shape_to_string(*dims) + "]")
              .note(fmt::format("shape= is the whole sample shape: the parameters' shape [{}] must broadcast to "
                                "[{}]",
                                shape_to_string(pshape), shape_to_string(*dims)));
          return distribution_type(unknown_type());
        }
      }
    }
    Type dist = distribution_type(tensor_type(d, dims ? std::optional(*dims) : std::nullopt));
    TypeNode n = *dist;
    n.dtype = f64s ? DType::F64 : DType::F32;
    if (c.name == "Dirichlet") n.name = c.name;
    return std::make_shared<const TypeNode>(std::move(n));
  }
  if (is_unknown(batch)) return distribution_type(unknown_type());
  // f64 parameters (not literals) make f64 samples of the continuous families and f64 log
  // densities (kept as the Distribution's own dtype).
  bool f64 = false;
  for (const Type& p : params)
    if (auto pt = as_tensor(p); pt && (*pt)->dtype == DType::F64 && !(*pt)->weak) f64 = true;
  auto with_dtype = [&](Type dist) {
    TypeNode n = *dist;
    n.dtype = f64 ? DType::F64 : DType::F32;
    return std::make_shared<const TypeNode>(std::move(n));
  };
  // The multivariate families: a sample is a vector on the last axis (the event), which
  // log_prob sums over (the type's name marks them).
  auto multivariate = [&](Type dist) {
    TypeNode n = *with_dtype(dist);
    n.name = c.name;
    return std::make_shared<const TypeNode>(std::move(n));
  };
  if (c.name == "Dirichlet") {
    auto t = as_tensor(batch);
    if (t && (*t)->shape && (*t)->shape->empty()) {
      ck.diags().report(DiagKind::BadDistributionArgument, c.range,
                        "Dirichlet takes a concentration vector (the categories on the last axis), found a scalar");
      return distribution_type(unknown_type());
    }
    return multivariate(distribution_type(tensor_type(f64 ? DType::F64 : DType::F32, t ? (*t)->shape : std::nullopt)));
  }
  if (auto t = as_tensor(batch)) {
    DType d = c.name == "Bernoulli" || c.name == "Categorical" || c.name == "Poisson" || c.name == "Binomial"
                  ? DType::I64
                  : f64 ? DType::F64 : DType::F32;
    // Categorical: the last axis of probs / logits holds the classes; a sample is a class id.
    if (c.name == "Categorical" && (*t)->shape) {
      std::vector<DimExpr> shape = *(*t)->shape;
      if (shape.empty()) {
        ck.diags().report(DiagKind::BadDistributionArgument, c.range,
                          "Categorical takes probs or logits with the classes on the last axis, found a scalar");
        return distribution_type(unknown_type());
      }
      shape.pop_back();
      return with_dtype(distribution_type(tensor_type(d, shape)));
    }
    return with_dtype(distribution_type(tensor_type(d, (*t)->shape)));
  }
  return distribution_type(unknown_type());
}

Type conv2d(Checker& ck, const Call& c) {
  const Arg* x = c.arg(0, "x");
  const Arg* w = c.arg(1, "w");
  auto xt = x ? as_tensor(x->type) : std::nullopt;
  auto wt = w ? as_tensor(w->type) : std::nullopt;
  if (!xt || !wt || !(*xt)->shape || !(*wt)->shape) return xt ? tensor_type((*xt)->dtype, std::nullopt) : unknown_type();
  const auto& xs = *(*xt)->shape;
  const auto& ws = *(*wt)->shape;
  if (xs.size() != 4 || ws.size() != 4) {
    ck.diags().report(DiagKind::OperandShapeRule, c.range,
                      fmt::format("conv2d needs x: [N, C, H, W] and w: [O, C/groups, KH, KW], found {} and {}",
                                  to_string(*xt), to_string(*wt)));
    return unknown_type();
  }
  auto param = [&](const char* name, int64_t dflt) {
    const Arg* a = c.kw(name);
    if (!a) return DimExpr::constant(dflt);
    auto v = ck.dim_value(a->type);
    return v ? *v : ck.fresh_dim(name);
  };
  DimExpr s = param("stride", 1), p = param("padding", 0), d = param("dilation", 1), g = param("groups", 1);
  ProofResult r = ck.prove_equal(xs[1], ws[1] * g);
  if (r.kind != ProofResult::Kind::Proven) {
    ck.diags()
        .report(DiagKind::OperandShapeRule, c.range,
                fmt::format("conv2d: input channels {} do not match the weight's {} x groups {}", xs[1].to_string(),
                            ws[1].to_string(), g.to_string()))
        .note(fmt::format("x is {}, w is {}{}", to_string(*xt), to_string(*wt), ck.describe_counterexample(r)));
    return unknown_type();
  }
  auto out_size = [&](const DimExpr& n, const DimExpr& k) {
    return floordiv(n + DimExpr::constant(2) * p - d * (k - DimExpr::constant(1)) - DimExpr::constant(1), s) +
           DimExpr::constant(1);
  };
  return tensor_type((*xt)->dtype, std::vector<DimExpr>{xs[0], ws[0], out_size(xs[2], ws[2]), out_size(xs[3], ws[3])},
                     (*xt)->policy);
}

Type pool2d(Checker& ck, const Call& c) {
  const Arg* x = c.arg(0, "x");
  auto xt = x ? as_tensor(x->type) : std::nullopt;
  if (!xt || !(*xt)->shape) return xt ? tensor_type((*xt)->dtype, std::nullopt) : unknown_type();
  const auto& xs = *(*xt)->shape;
  if (xs.size() != 4) {
    ck.diags().report(DiagKind::OperandShapeRule, c.range,
                      fmt::format("{} needs x: [N, C, H, W], found {}", c.name, to_string(*xt)));
    return unknown_type();
  }
  const Arg* k = c.arg(1, "kernel_size");
  auto kv = k ? ck.dim_value(k->type) : std::nullopt;
  if (!kv) return tensor_type((*xt)->dtype, std::nullopt);
  auto param = [&](const char* name, DimExpr dflt) {
    const Arg* a = c.kw(name);
    if (!a) return dflt;
    auto v = ck.dim_value(a->type);
    return v ? *v : ck.fresh_dim(name);
  };
  DimExpr s = param("stride", *kv), p = param("padding", DimExpr::constant(0));
  auto positive = [&](const char* what, const DimExpr& v, int64_t min) {
    if (v.is_constant() && v.constant_value() < min) {
      ck.diags().report(DiagKind::OperandShapeRule, c.range,
                        fmt::format("{}: {} must be >= {}, found {}", c.name, what, min, v.constant_value()));
      return false;
    }
    return true;
  };
  if (!positive("kernel_size", *kv, 1) || !positive("stride", s, 1) || !positive("padding", p, 0))
    return unknown_type();
  for (size_t i : {size_t{2}, size_t{3}}) {
    DimExpr room = xs[i] + DimExpr::constant(2) * p - *kv;
    if (room.is_constant() && room.constant_value() < 0) {
      ck.diags()
          .report(DiagKind::OperandShapeRule, k->range,
                  fmt::format("{}: the window {} is larger than dimension {} of the input ({}{})", c.name,
                              kv->to_string(), i, xs[i].to_string(),
                              p.is_constant() && p.constant_value() == 0 ? "" : " with padding " + p.to_string()))
          .note(fmt::format("the input is {}", to_string(*xt)));
      return unknown_type();
    }
  }
  auto out_size = [&](const DimExpr& n) {
    return floordiv(n + DimExpr::constant(2) * p - *kv, s) + DimExpr::constant(1);
  };
  return tensor_type((*xt)->dtype, std::vector<DimExpr>{xs[0], xs[1], out_size(xs[2]), out_size(xs[3])});
}

Type adaptive_pool(Checker& ck, const Call& c) {
  const Arg* x = c.arg(0, "x");
  auto xt = x ? as_tensor(x->type) : std::nullopt;
  if (!xt || !(*xt)->shape) return xt ? tensor_type((*xt)->dtype, std::nullopt) : unknown_type();
  const auto& xs = *(*xt)->shape;
  const Arg* o = c.arg(1, "output_size");
  if (xs.size() != 4 || !o) return tensor_type((*xt)->dtype, std::nullopt);
  auto dims = ck.dims_from(*o);
  if (!dims) return tensor_type((*xt)->dtype, std::nullopt);
  if (dims->size() == 1) dims->push_back((*dims)[0]);
  return tensor_type((*xt)->dtype, std::vector<DimExpr>{xs[0], xs[1], (*dims)[0], (*dims)[1]});
}

Type embedding(Checker& ck, const Call& c) {
  const Arg* ids = c.arg(0, "ids");
  const Arg* table = c.arg(1, "table");
  auto it = ids ? as_tensor(ids->type) : std::nullopt;
  if (!it || !(*it)->shape) return tensor_type(DType::F32, std::nullopt);
  if (is_float((*it)->dtype)) {
    ck.diags().report(DiagKind::OperandShapeRule, ids->range,
                      fmt::format("embedding needs integer ids, found {}", to_string(*it)));
    return unknown_type();
  }
  auto shape = *(*it)->shape;
  if (table && table->type->kind == TypeKind::Int) {
    // nn.embedding(ids, vocab, dim)
    const Arg* dim = c.arg(2, "dim");
    auto dv = dim ? ck.dim_value(dim->type) : std::nullopt;
    shape.push_back(dv ? *dv : ck.fresh_dim("dim"));
    return tensor_type(DType::F32, shape);
  }
  auto tt = table ? as_tensor(table->type) : std::nullopt;
  if (!tt || !(*tt)->shape || (*tt)->shape->size() != 2) return tensor_type(DType::F32, std::nullopt);
  shape.push_back((*(*tt)->shape)[1]);
  return tensor_type((*tt)->dtype, shape);
}

Type split(Checker& ck, const Call& c) {
  const Arg* x = input(c);
  auto t = x ? as_tensor(x->type) : std::nullopt;
  const Arg* n = c.arg(pos_offset(c), "sections");
  auto nv = ck.int_constant(n);
  if (!t || !(*t)->shape || !nv || *nv <= 0) return unknown_type();
  int64_t axis_value = 0;
  if (auto a = ck.int_constant(c.arg(pos_offset(c) + 1, "axis"))) axis_value = *a;
  auto ax = ck.axis(axis_value, (*t)->shape->size(), c.range);
  if (!ax) return unknown_type();
  auto shape = *(*t)->shape;
  DimExpr whole = shape[*ax];
  DimExpr part = floordiv(whole, DimExpr::constant(*nv));
  if (ck.prove_equal(part * DimExpr::constant(*nv), whole).kind != ProofResult::Kind::Proven) {
    ck.diags().report(DiagKind::OperandShapeRule, c.range,
                      fmt::format("split: dimension {} ({}) is not provably divisible into {} equal parts", *ax,
                                  whole.to_string(), *nv));
    return unknown_type();
  }
  shape[*ax] = part;
  std::vector<Type> parts(static_cast<size_t>(*nv), tensor_type((*t)->dtype, shape, (*t)->policy));
  return tuple_type(parts);
}

Type broadcast_to(Checker& ck, const Call& c) {
  const Arg* x = input(c);
  const Arg* s = c.arg(pos_offset(c), "shape");
  auto t = x ? as_tensor(x->type) : std::nullopt;
  if (!t || !s) return unknown_type();
  auto dims = ck.dims_from(*s);
  if (!dims) return tensor_type((*t)->dtype, std::nullopt);
  Type target = tensor_type((*t)->dtype, *dims);
  if ((*t)->shape) {
    auto b = ck.broadcast(*(*t)->shape, *dims, "broadcast_to", c.range, *t, target);
    if (!b) return unknown_type();
  }
  return target;
}

Type where(Checker& ck, const Call& c) {
  std::vector<Type> ops;
  for (const Arg& a : c.args) ops.push_back(a.type);
  if (ops.size() != 3) return unknown_type();
  Type t = ck.elementwise("where", c.range, {ops[1], ops[2]});
  Type all = ck.elementwise("where", c.range, {ops[0], t});
  if (!is_tensor(all) || is_unknown(t)) return all;
  // The values decide the dtype, never the condition: two Python numbers give the default dtype
  // of their kind (`where(x > 0, 1.0, 0.0)` is f32, not bool).
  if (!is_tensor(t)) {
    DType d = t->kind == TypeKind::Float ? DType::F32 : t->kind == TypeKind::Int ? DType::I64 : DType::Bool;
    return tensor_type(d, all->shape);
  }
  return tensor_type(t->dtype, all->shape, t->policy);
}

Type elementwise_n(Checker& ck, const Call& c) {
  std::vector<Type> ops;
  if (c.self) ops.push_back(c.self->type);
  for (const Arg& a : c.args) ops.push_back(a.type);
  for (const Arg& a : c.kwargs)
    if (a.keyword == "min" || a.keyword == "max") ops.push_back(a.type);
  return ck.elementwise(c.name, c.range, ops);
}

Type bool_result(Checker&, const Call&) { return bool_type(); }
Type none_result(Checker&, const Call&) { return none_type(); }

Type norm(Checker&, const Call& c) {
  const Arg* x = input(c);
  auto t = x ? as_tensor(x->type) : std::nullopt;
  return scalar_tensor(t ? (*t)->dtype : DType::F32);
}

Type arange(Checker& ck, const Call& c) {
  if (c.args.size() == 1) {
    auto v = ck.dim_value(c.args[0].type);
    DType d = DType::I64;
    if (const Arg* dt = c.kw("dtype"); dt && dt->type->kind == TypeKind::DTypeValue) d = dt->type->dtype;
    return tensor_type(d, std::vector<DimExpr>{v ? *v : ck.fresh_dim("n")});
  }
  if (c.args.size() >= 2) {
    auto a = ck.dim_value(c.args[0].type), b = ck.dim_value(c.args[1].type);
    if (a && b && c.args.size() == 2) return tensor_type(DType::I64, std::vector<DimExpr>{*b - *a});
    return tensor_type(DType::I64, std::vector<DimExpr>{ck.fresh_dim("n")});
  }
  return unknown_type();
}

Type range_result(Checker&, const Call&) { return named_type(TypeKind::Object, "range"); }

Type sqrt_like(Checker& ck, const Call& c) { return unary_float(ck, c); }

// ---- tile operations (kernels)

Type tile_context(Checker&, const Call&) { return named_type(TypeKind::Object, "tile.context"); }
Type tile_program_id(Checker&, const Call&) { return int_type(); }

Type tile_zeros(Checker& ck, const Call& c) {
  const Arg* s = c.arg(0, "shape");
  auto dims = s ? ck.dims_from(*s) : std::nullopt;
  DType d = DType::F32;
  if (const Arg* dt = c.kw("dtype"); dt && dt->type->kind == TypeKind::DTypeValue) d = dt->type->dtype;
  return tensor_type(d, dims, {}, true);
}

Type tile_load(Checker& ck, const Call& c) {
  const Arg* src = c.arg(0, "src");
  auto t = src ? as_tensor(src->type) : std::nullopt;
  if (!t) return unknown_type();
  const Arg* sizes = c.arg(2, "sizes");
  if (!sizes) sizes = c.kw("shape");
  if (!sizes) return tensor_type((*t)->dtype, (*t)->shape, (*t)->policy, true);
  auto dims = ck.dims_from(*sizes);
  if (!dims) return tensor_type((*t)->dtype, std::nullopt, (*t)->policy, true);
  if ((*t)->shape && dims->size() != (*t)->shape->size()) {
    ck.diags().report(DiagKind::TypeMismatch, sizes->range,
                      fmt::format("tile.load of a rank-{} tile needs {} sizes, found {}", (*t)->shape->size(),
                                  (*t)->shape->size(), dims->size()));
    return unknown_type();
  }
  return tensor_type((*t)->dtype, *dims, (*t)->policy, true);
}

Type tile_mma(Checker& ck, const Call& c) {
  const Arg* a = c.arg(0, "a");
  const Arg* b = c.arg(1, "b");
  if (!a || !b) return unknown_type();
  Type t = ck.matmul(a->type, b->type, c.range, a->range, b->range);
  if (!is_tensor(t)) return t;
  // Tensor-core style: accumulate in f32.
  return tensor_type(is_float(t->dtype) ? DType::F32 : t->dtype, t->shape, t->policy, true);
}

Type tile_range(Checker&, const Call&) { return named_type(TypeKind::Object, "tile.range"); }

struct OpTable {
  std::map<std::string, BuiltinOp> ops;
  std::map<std::string, BuiltinOp> methods;
  std::vector<std::string> op_names;
  std::vector<std::string> method_names;

  // `spec` is the signature in Python's notation (OpSignature::parse); a method's leaves out
  // its receiver.
  void add(const std::string& name, const char* spec, OpRule rule, unsigned effects = 0) {
    ops[name] = BuiltinOp{name, std::move(rule), effects, OpSignature::parse(spec)};
    op_names.push_back(name);
  }
  void method(const std::string& name, const char* spec, OpRule rule, unsigned effects = 0) {
    methods[name] = BuiltinOp{name, std::move(rule), effects, OpSignature::parse(spec)};
    method_names.push_back(name);
  }

  OpTable() {
    auto reduce_rule = [](Checker& ck, const Call& c) { return reduce(ck, c, false); };
    auto argmax_rule = [](Checker& ck, const Call& c) { return reduce(ck, c, true); };
    auto create = [](DType d) { return [d](Checker& ck, const Call& c) { return creation(ck, c, d); }; };
    const char* unary = "x: Tensor";
    const char* creation_spec = "*dims: Shape, shape: Shape = None, dtype: DType = f32";
    const char* random_spec = "*dims: Shape, shape: Shape = None, dtype: DType = f32, seed: Int = None";
    const char* reduction = "x: Tensor, axis: Axes = None, *, keepdim: Bool = False";
    const char* reduction_m = "axis: Axes = None, *, keepdim: Bool = False";
    const char* along = "x: Tensor, axis: Int = -1";
    const char* collective = "x: Tensor, *, axis: Str|Int = None, mesh: Any = None, op: Str = None";
    // Creation and I/O.
    add("tensor", "data: Any, *, dtype: DType = None", tensor_literal);
    add("zeros", creation_spec, create(DType::F32));
    add("ones", creation_spec, create(DType::F32));
    add("full", "shape: Shape, value: Number|Bool, *, dtype: DType = None", full);
    add("arange", "start: Number, stop: Number = None, step: Number = None, *, dtype: DType = None", arange);
    add("randn", random_spec, create(DType::F32), kRandom);
    add("rand", random_spec, create(DType::F32), kRandom);
    add("load", "path: Str, *, like: Params = None", load_rule, kIO);
    add("save", "x: Any, path: Any", none_result, kIO);
    add("print", "*values: Any", none_result, kIO);
    add("has_nan", unary, bool_result);
    add("has_inf", unary, bool_result);
    add("norm", unary, norm);
    add("range", "start: Int, stop: Int = None, step: Int = None", range_result);
    add("static_range", "start: Int, stop: Int = None, step: Int = None", range_result);
    add("len", "x: Any", [](Checker&, const Call&) { return int_type(); });
    add("abs", unary, unary_same);
    add("float", "x: Number|Bool|Tensor|Str", [](Checker&, const Call&) { return float_type(); });
    add("int", "x: Number|Bool|Tensor|Str", [](Checker&, const Call&) { return int_type(); });
    add("set_numerics", "**options", none_result);
    add("is_training", "", bool_result);
    // Elementwise.
    for (const char* n : {"neg", "relu", "gelu", "silu"}) add(n, unary, unary_same);
    for (const char* n : {"exp", "log", "log1p", "sqrt", "rsqrt", "tanh", "sigmoid", "sin", "cos"})
      add(n, unary, sqrt_like);
    add("where", "cond: Tensor, x: Tensor, y: Tensor", where);
    add("maximum", "a: Tensor, b: Tensor", elementwise_n);
    add("minimum", "a: Tensor, b: Tensor", elementwise_n);
    add("clamp", "x: Tensor, min: Tensor = None, max: Tensor = None", elementwise_n);
    // Reductions.
    for (const char* n : {"sum", "mean", "var", "max", "min", "logsumexp", "logsumexp_safe"}) add(n, reduction, reduce_rule);
    add("argmax", "x: Tensor, axis: Int = None, *, keepdim: Bool = False", argmax_rule);
    // Shape operations.
    add("matmul", "a: Tensor, b: Tensor", [](Checker& ck, const Call& c) {
      const Arg* a = c.arg(0, "a");
      const Arg* b = c.arg(1, "b");
      if (!a || !b) return unknown_type();
      return ck.matmul(a->type, b->type, c.range, a->range, b->range);
    });
    add("transpose", "x: Tensor, *axes: Axes", transpose);
    add("cholesky", unary, cholesky_rule);
    add("solve_triangular", "A: Tensor, B: Tensor, *, upper: Bool, left: Bool = True", solve_triangular_rule);
    add("reshape", "x: Tensor, *dims: Shape, shape: Shape = None", reshape);
    add("concat", "tensors: Tensors, axis: Int = 0", [](Checker& ck, const Call& c) { return concat_like(ck, c, false); });
    add("stack", "tensors: Tensors, axis: Int = 0", [](Checker& ck, const Call& c) { return concat_like(ck, c, true); });
    add("split", "x: Tensor, sections: Shape, axis: Int = 0", split);
    add("broadcast_to", "x: Tensor, shape: Shape", broadcast_to);
    // Neural-network operations.
    for (const char* n : {"softmax", "log_softmax", "softmax_safe"}) add(n, along, along_axis);
    for (const char* n : {"layer_norm", "layernorm_safe"})
      add(n, "x: Tensor, weight: Tensor = None, bias: Tensor = None, *, eps: Number = 1e-5", norm_rule);
    for (const char* n : {"rms_norm", "rmsnorm_safe"})
      add(n, "x: Tensor, weight: Tensor = None, *, eps: Number = 1e-6", norm_rule);
    add("group_norm", "x: Tensor, num_groups: Int, weight: Tensor = None, bias: Tensor = None, *, eps: Number = 1e-5",
        group_norm);
    add("dropout", "x: Tensor, p: Number = 0.5, *, seed: Int = None", dropout, kRandom);
    add("linear", "x: Tensor, w: Tensor, b: Tensor = None", linear);
    add("embedding", "ids: Tensor, table: Tensor|Int, dim: Int = None", embedding);
    add("one_hot", "labels: Tensor, num_classes: Int", one_hot);
    add("cross_entropy", "logits: Tensor, labels: Tensor", cross_entropy);
    const char* attention_spec = "q: Tensor, k: Tensor, v: Tensor, *, causal: Bool = False, scale: Number = None";
    add("attention", attention_spec, attention);
    add("attention_safe", attention_spec, attention);
    const char* conv_opts = "*, stride: Shape = 1, padding: Shape = 0, dilation: Shape = 1, groups: Int = 1";
    add("conv2d", fmt::format("x: Tensor, w: Tensor, b: Tensor = None, {}", conv_opts).c_str(), conv2d);
    const char* pool_spec = "x: Tensor, kernel_size: Shape, *, stride: Shape = None, padding: Shape = 0";
    add("max_pool2d", pool_spec, pool2d);
    add("avg_pool2d", pool_spec, pool2d);
    add("adaptive_avg_pool2d", "x: Tensor, output_size: Shape", adaptive_pool);
    // tessera.nn: layers that declare parameters, and activations.
    add("nn.linear", "x: Tensor, out_features: Int, *, name: Str = None", nn_linear);
    add("nn.conv2d",
        fmt::format("x: Tensor, out_channels: Int, kernel_size: Shape, {}, name: Str = None", conv_opts).c_str(),
        nn_conv2d);
    add("nn.embedding", "ids: Tensor, num_embeddings: Int, dim: Int, *, name: Str = None", nn_embedding);
    add("nn.layer_norm", "x: Tensor, *, eps: Number = 1e-5, name: Str = None", nn_norm);
    add("nn.rms_norm", "x: Tensor, *, eps: Number = 1e-6, name: Str = None", nn_norm);
    add("nn.group_norm", "x: Tensor, num_groups: Int, *, eps: Number = 1e-5, name: Str = None", nn_group_norm);
    for (const char* n : {"nn.softmax", "nn.log_softmax"}) add(n, along, along_axis);
    for (const char* n : {"nn.relu", "nn.gelu", "nn.silu"}) add(n, unary, unary_same);
    for (const char* n : {"nn.tanh", "nn.sigmoid"}) add(n, unary, sqrt_like);
    add("nn.dropout", "x: Tensor, p: Number = 0.5, *, seed: Int = None", unary_same, kRandom);
    add("nn.multi_head_attention", "x: Tensor, num_heads: Int = 1, *, causal: Bool = False, name: Str = None",
        nn_multi_head_attention);
    // Kernels' stable library (tessera.kernels).
    add("kernels.softmax_safe", along, along_axis);
    add("kernels.layernorm_safe", "x: Tensor, weight: Tensor = None, bias: Tensor = None, *, eps: Number = 1e-5",
        norm_rule);
    add("kernels.rmsnorm_safe", "x: Tensor, weight: Tensor = None, *, eps: Number = 1e-6", norm_rule);
    add("kernels.logsumexp_safe", reduction, reduce_rule);
    add("kernels.attention_safe", attention_spec, attention);
    // Automatic differentiation and training.
    for (const char* n : {"grad", "value_and_grad", "vjp", "jvp", "hessian_vector_product"})
      add(n, "f: Function, argnums: Axes = 0", [](Checker& ck, const Call& c) {
        // The transformed function; calling it is typed in Checker::call.
        auto t = std::make_shared<TypeNode>();
        t->kind = TypeKind::Function;
        t->name = "transformed";
        t->transform = c.name;
        const Arg* f = c.arg(0, "f");
        if (f && f->type && f->type->kind == TypeKind::Function && f->type->user) t->ref = f->type->ref;
        // Higher order: a transform of a transformed user function.
        if (f && f->type && f->type->kind == TypeKind::Function && f->type->name == "transformed" && f->type->ref) {
          t->ref = f->type->ref;
          t->of = f->type;
        }
        const Arg* an = c.arg(1, "argnums");
        if (!an) {
          t->argnums = {0};
          return Type(t);
        }
        auto constant = [](const Type& x) -> std::optional<int64_t> {
          if (x && x->kind == TypeKind::Int && x->int_value && x->int_value->is_constant())
            return x->int_value->constant_value();
          return std::nullopt;
        };
        bool ok = true;
        if (auto v = constant(an->type)) {
          t->argnums = {*v};
        } else if (an->type && an->type->kind == TypeKind::Tuple && !an->type->elems.empty()) {
          t->argnums_tuple = true;
          for (const Type& e : an->type->elems) {
            auto v = constant(e);
            if (!v) ok = false;
            else t->argnums.push_back(*v);
          }
        } else {
          ok = false;
        }
        std::set<int64_t> seen(t->argnums.begin(), t->argnums.end());
        if (ok && seen.size() != t->argnums.size()) ok = false;
        for (int64_t v : t->argnums)
          if (v < 0) ok = false;
        if (!ok) {
          if (!is_unknown(an->type))
            ck.diags().report(DiagKind::TypeMismatch, an->range,
                              fmt::format("argnums of {} must be a non-negative integer or a tuple of distinct ones, "
                                          "known at compile time; found {}", c.name, to_string(an->type)));
          return unknown_type();
        }
        return Type(t);
      });
    add("init", "model: Function, *, seed: Int = 0, **dims", init_params, kRandom);
    add("clip_grad_norm", "grads: Params, max_norm: Number", clip_grad_norm_rule);
    const char* optimizer_opts = "*, momentum: Number = 0, weight_decay: Number = 0, betas: Any = (0.9, 0.999), "
                                 "eps: Number = 1e-8, warmup: Int = 0";
    add("optimizers.SGD", fmt::format("params: Params, lr: Any, {}", optimizer_opts).c_str(), optimizer_rule);
    add("optimizers.AdamW", fmt::format("params: Params, lr: Any = 1e-3, {}", optimizer_opts).c_str(), optimizer_rule);
    add("optimizers.cosine_decay", "lr: Number, steps: Number, *, warmup: Number = 0, final: Number = 0",
        [](Checker& ck, const Call& c) { return schedule_rule(ck, c, {"lr", "steps"}); });
    add("optimizers.linear_decay", "lr: Number, steps: Number, *, warmup: Number = 0, final: Number = 0",
        [](Checker& ck, const Call& c) { return schedule_rule(ck, c, {"lr", "steps"}); });
    add("optimizers.step_decay", "lr: Number, every: Number, *, gamma: Number = 0.1",
        [](Checker& ck, const Call& c) { return schedule_rule(ck, c, {"lr", "every"}); });
    add("optimizers.exponential_decay", "lr: Number, gamma: Number",
        [](Checker& ck, const Call& c) { return schedule_rule(ck, c, {"lr", "gamma"}); });
    // Probabilistic programming: a distribution's parameters, positional, and its batch shape.
    // Parameters as torch.distributions names them; `shape=` is the sample shape.
    const char* loc_scale = "loc: Tensor, scale: Tensor, *, shape: Shape = None, ordered: Bool = False";
    const char* scale = "scale: Tensor, *, shape: Shape = None, ordered: Bool = False";
    for (auto [n, sig] : std::initializer_list<std::pair<const char*, const char*>>{
             {"Normal", loc_scale},
             {"HalfNormal", scale},
             {"LogNormal", loc_scale},
             {"Cauchy", loc_scale},
             {"HalfCauchy", scale},
             {"StudentT", "df: Tensor, loc: Tensor = 0, scale: Tensor = 1, *, shape: Shape = None, ordered: Bool = False"},
             {"Gamma", "concentration: Tensor, rate: Tensor, *, shape: Shape = None, ordered: Bool = False"},
             {"Exponential", "rate: Tensor, *, shape: Shape = None, ordered: Bool = False"},
             {"Beta", "concentration1: Tensor, concentration0: Tensor, *, shape: Shape = None"},
             {"Uniform", "low: Tensor, high: Tensor, *, shape: Shape = None"},
             {"Bernoulli", "probs: Tensor = None, logits: Tensor = None, *, shape: Shape = None"},
             {"Categorical", "probs: Tensor = None, logits: Tensor = None, *, shape: Shape = None"},
             {"Binomial", "total_count: Tensor = 1, probs: Tensor = None, logits: Tensor = None, *, shape: Shape = None"},
             {"Poisson", "rate: Tensor = None, *, log_rate: Tensor = None, shape: Shape = None"},
             {"Dirichlet", "concentration: Tensor, *, shape: Shape = None"},
             {"MultivariateNormal",
              "loc: Tensor, covariance_matrix: Tensor = None, *, scale_tril: Tensor = None, shape: Shape = None"},
             {"LKJCholesky", "dim: Int, concentration: Tensor = 1, *, shape: Shape = None"}})
      add(n, sig, distribution);
    // Posterior(w=w, b=b): the quantities to keep per draw, by name.
    // factor(lp): an explicit term of the log density (Stan's `target += lp`), summed.
    add("factor", "value: Tensor", none_result, kRandom);
    add("Posterior", "**samples", [](Checker& ck, const Call& c) {
      std::vector<std::string> names;
      std::vector<Type> types;
      for (const Arg& a : c.kwargs) {
        // Names ending in "__" are the sampler's (lp__, divergent__, ...), in the table and files.
        if (a.keyword.size() > 2 && a.keyword.compare(a.keyword.size() - 2, 2, "__") == 0)
          ck.diags()
              .report(DiagKind::TypeMismatch, a.range,
                      fmt::format("the Posterior field '{}' ends with '__', which the sampler's statistics use "
                                  "(lp__, divergent__, ...)",
                                  a.keyword))
              .help("rename the field");
        // A field is a tensor or a number of each draw.
        if (a.type && (a.type->kind == TypeKind::Distribution || a.type->kind == TypeKind::Posterior ||
                       a.type->kind == TypeKind::Str || a.type->kind == TypeKind::Tuple))
          ck.diags().report(DiagKind::TypeMismatch, a.range,
                            fmt::format("a Posterior field is a tensor or a number of each draw, found {}",
                                        to_string(a.type)));
        names.push_back(a.keyword);
        types.push_back(a.type);
      }
      return posterior_type(std::move(names), std::move(types));
    });
    // Effects and distribution.
    add("effects.prefetch", "value: Any, *, into: Str = None, overlap: Str = None",
        [](Checker&, const Call&) { return named_type(TypeKind::Object, "effect region"); }, kMovement);
    add("mesh", "*, devices: Any = None, axes: Any = None",
        [](Checker&, const Call&) { return named_type(TypeKind::Object, "Mesh"); });
    for (const char* n : {"all_reduce", "all_gather", "reduce_scatter", "broadcast", "collectives.all_reduce",
                          "collectives.all_gather", "collectives.reduce_scatter", "collectives.broadcast",
                          "collectives.scatter"})
      add(n, collective, [](Checker&, const Call& c) {
        const Arg* x = c.arg(0, "x");
        return x ? x->type : unknown_type();
      }, kCollective);
    // Tile operations.
    add("tile.context", "", tile_context);
    add("tile.program_id", "axis: Int", tile_program_id);
    add("tile.zeros", "shape: Shape, *, dtype: DType = f32", tile_zeros);
    add("tile.full", "shape: Shape, value: Number = 0, *, dtype: DType = f32", tile_zeros);
    add("tile.load", "src: Tensor, offsets: Shape, sizes: Shape = None, *, shape: Shape = None, mask: Any = None",
        tile_load, kMovement);
    add("tile.store", "dst: Tensor, offsets: Shape, value: Tensor, *, mask: Any = None", none_result, kMovement);
    add("tile.mma", "a: Tensor, b: Tensor, acc: Tensor = None", tile_mma);
    add("tile.range_k", "start: Int, stop: Int, step: Int = 1", tile_range);
    add("tile.max", reduction, reduce_rule);
    add("tile.sum", reduction, reduce_rule);
    add("tile.exp", unary, sqrt_like);
    add("tile.where", "cond: Tensor, x: Tensor, y: Tensor", where);

    // Tensor methods (the receiver is not part of the signature).
    for (const char* n : {"sum", "mean", "var", "max", "min", "logsumexp", "std", "prod"}) method(n, reduction_m, reduce_rule);
    method("argmax", "axis: Int = None, *, keepdim: Bool = False", argmax_rule);
    method("reshape", "*dims: Shape, shape: Shape = None", reshape);
    method("view", "*dims: Shape, shape: Shape = None", reshape);
    method("transpose", "*axes: Axes", transpose);
    method("permute", "*axes: Axes", transpose);
    method("unsqueeze", "axis: Int", unsqueeze);
    method("astype", "dtype: DType", astype);
    method("split", "sections: Shape, axis: Int = 0", split);
    method("broadcast_to", "shape: Shape", broadcast_to);
    method("softmax", "axis: Int = -1", along_axis);
    method("log_softmax", "axis: Int = -1", along_axis);
    method("abs", "", unary_same);
    method("clamp", "min: Tensor = None, max: Tensor = None", elementwise_n);
    for (const char* n : {"exp", "log", "sqrt", "tanh", "sigmoid"}) method(n, "", sqrt_like);
    method("relu", "", unary_same);
    method("norm", "", norm);
    method("item", "", [](Checker&, const Call&) { return float_type(); });
  }
};

const OpTable& table() {
  static const OpTable t;
  return t;
}

}  // namespace

const BuiltinOp* find_builtin(const std::string& qualified) {
  auto& ops = table().ops;
  auto it = ops.find(qualified);
  return it == ops.end() ? nullptr : &it->second;
}

const BuiltinOp* find_method(const std::string& name) {
  auto& m = table().methods;
  auto it = m.find(name);
  return it == m.end() ? nullptr : &it->second;
}

const std::vector<std::string>& builtin_names() { return table().op_names; }
const std::vector<std::string>& method_names() { return table().method_names; }

bool is_builtin_module(const std::string& q) {
  static const std::set<std::string> modules = {"tessera",         "tessera.nn",          "tessera.optimizers",
                                                "tessera.kernels", "tessera.collectives", "tessera.effects",
                                                "tessera.inference", "tessera.distributions", "tile"};
  return modules.count(q) > 0;
}

}  // namespace tessera::sema
