// Typed AST -> Graph IR. Expressions: conversions between values, literals, names, operators
// (binary, unary, comparisons) and indexing.
#include "ir/graph/lower_to_graph_internal.h"

namespace tessera::ir::lowering {

// Converts a value to `want`: scalar widening/narrowing, scalar -> rank-0 tensor, dtype casts
// of tensors, and static <-> dynamic shape casts.
mlir::Value Lowerer::convert(const Local& v, mlir::Type want, SourceRange r) {
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

mlir::OperationState Lowerer::cast_state(mlir::Location l, llvm::StringRef name, mlir::ValueRange operands,
                                         mlir::Type result) {
  mlir::OperationState st(l, name);
  st.addOperands(operands);
  st.addTypes(result);
  return st;
}

mlir::Value Lowerer::convert_scalar(mlir::Value x, mlir::Type want, SourceRange r) {
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
mlir::Value Lowerer::dim_index(const DimExpr& d, SourceRange r) {
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
          if (!v) {
            // A fresh symbol (with a quote) stands for a size the checker could not name: an Int
            // argument or value used as a size.
            if (atom.name.find('\'') != std::string::npos)
              unsupported(r, "a size given by an Int value that is not a dimension of the function (declare it as "
                             "one: `def f[J](..., j: Const[J])`, or take it from a tensor's shape)");
            unsupported(r, fmt::format("the dimension '{}', whose value is not known here", atom.name));
          }
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
std::vector<mlir::Value> Lowerer::dynamic_dims(const Type& t, mlir::Type mt, SourceRange r) {
  std::vector<mlir::Value> out;
  auto rt = mlir::dyn_cast<mlir::RankedTensorType>(mt);
  if (!rt || !t->shape) return out;
  for (int64_t i = 0; i < rt.getRank(); ++i)
    if (rt.isDynamicDim(i)) out.push_back(dim_index((*t->shape)[static_cast<size_t>(i)], r));
  return out;
}

Local Lowerer::constant_scalar(const Type& t, double v, SourceRange r) {
  mlir::Type mt = to_mlir(t, r);
  if (mlir::isa<mlir::FloatType>(mt)) return {b_.create<mlir::arith::ConstantOp>(loc(r), b_.getFloatAttr(mt, v)), t};
  return {b_.create<mlir::arith::ConstantOp>(loc(r), b_.getIntegerAttr(mt, static_cast<int64_t>(v))), t};
}

Local Lowerer::expr(const Expr* e) {
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
      if (Local* l = lookup(n->name)) {
        if (l->object == "predict:observed")
          unsupported(e->range, fmt::format("Posterior.predict of a model that reads its observed argument '{}' other "
                                            "than on the left of its '~' (the new inputs have no value for it)",
                                            n->name));
        return *l;
      }
      // A local variable out of scope here (first assigned inside a loop) has no value to fold.
      if (is_local_name(n->name)) unsupported(e->range, fmt::format("'{}' after the loop that first assigns it", n->name));
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

mlir::Value Lowerer::condition_value(const Local& x, SourceRange r) {
  mlir::Value v = x.value;
  if (auto rt = mlir::dyn_cast<mlir::RankedTensorType>(v.getType())) {
    if (rt.getRank() != 0) unsupported(r, "a tensor used as a truth value");
    v = b_.create<mlir::tensor::ExtractOp>(loc(r), v, mlir::ValueRange{});
  }
  return truthy(v, r);
}

// Creates a tessera op by name, with the policy of its result type.
mlir::Value Lowerer::op(llvm::StringRef name, std::vector<mlir::Value> operands, mlir::Type result, SourceRange r,
                        const Type& t, std::vector<std::pair<llvm::StringRef, mlir::Attribute>> attrs) {
  mlir::OperationState st(loc(r), name);
  st.addOperands(operands);
  st.addTypes(result);
  for (auto& [k, v] : attrs)
    if (v) st.addAttribute(k, v);
  if (mlir::Attribute p = policy_attr(t)) st.addAttribute("policy", p);
  return checked(b_.create(st), r)->getResult(0);
}

// A tessera op just built from a call, verified on its own: operands that break the op's shape
// rule where the checker could not see it (a window larger than its input, a weight of another
// size) are an error at the call (E0306, the op's own message), not an invalid module.
mlir::Operation* Lowerer::checked(mlir::Operation* o, SourceRange r) {
  std::string message;
  mlir::LogicalResult ok = mlir::success();
  {
    mlir::ScopedDiagnosticHandler handler(&ctx_, [&](mlir::Diagnostic& d) {
      if (message.empty()) message = d.str();
      return mlir::success();
    });
    ok = mlir::verify(o, /*verifyRecursively=*/false);
  }
  if (mlir::succeeded(ok)) return o;
  std::string name = o->getName().stripDialect().str();
  if (message.rfind("'" + o->getName().getStringRef().str() + "' op ", 0) == 0)
    message = message.substr(o->getName().getStringRef().size() + 6);
  diags_.report(DiagKind::OperandShapeRule, r, fmt::format("{}: {}", name, message));
  throw LoweringFailed{};
}

Local Lowerer::binary(BinaryOp bop, const Local& l, const Local& r, const Type& t, SourceRange range) {
  mlir::Type mt = to_mlir(t, range);
  if (auto rt = mlir::dyn_cast<mlir::RankedTensorType>(mt)) {
    if (bop == BinaryOp::MatMul)
      return {op("tessera.matmul", {tensor_operand(l, rt, range), tensor_operand(r, rt, range)}, mt, range, t), t};
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
    return {op(name, {tensor_operand(l, rt, range), tensor_operand(r, rt, range)}, mt, range, t), t};
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
      case BinaryOp::Mod:
      case BinaryOp::FloorDiv: return {python_division(bop, a, b, mt, range, t), t};
      default: unsupported(range, "this operator on floats");
    }
  }
  switch (bop) {
    case BinaryOp::Add: return {b_.create<mlir::arith::AddIOp>(lc, a, b), t};
    case BinaryOp::Sub: return {b_.create<mlir::arith::SubIOp>(lc, a, b), t};
    case BinaryOp::Mul: return {b_.create<mlir::arith::MulIOp>(lc, a, b), t};
    case BinaryOp::Pow: return {python_division(bop, a, b, mt, range, t), t};
    case BinaryOp::FloorDiv:
    case BinaryOp::Mod: return {python_division(bop, a, b, mt, range, t), t};
    case BinaryOp::BitAnd: return {b_.create<mlir::arith::AndIOp>(lc, a, b), t};
    case BinaryOp::BitOr: return {b_.create<mlir::arith::OrIOp>(lc, a, b), t};
    default: unsupported(range, "this operator on integers");
  }
}

// Python's // and % of scalars (floor, the sign of the divisor: -7.5 % 2.0 is 0.5), and `**`
// of integers, through the rank-0 tensor op: its lowering makes an integer zero divisor a
// run-time error and never divides by zero or MIN by -1 (a scalar arith division by zero is
// undefined behavior, and x86 traps).
mlir::Value Lowerer::python_division(BinaryOp bop, mlir::Value a, mlir::Value b, mlir::Type mt, SourceRange range,
                                     const Type& t) {
  mlir::Location lc = loc(range);
  auto rt0 = mlir::RankedTensorType::get({}, mt);
  mlir::Value ta = b_.create<mlir::tensor::FromElementsOp>(lc, rt0, a);
  mlir::Value tb = b_.create<mlir::tensor::FromElementsOp>(lc, rt0, b);
  const char* name = bop == BinaryOp::Mod ? "tessera.mod" : bop == BinaryOp::Pow ? "tessera.pow" : "tessera.floordiv";
  mlir::Value q = op(name, {ta, tb}, rt0, range, t);
  return b_.create<mlir::tensor::ExtractOp>(lc, q, mlir::ValueRange{});
}

// An operand of a tensor op whose operands have the result's element type (arithmetic,
// maximum/minimum, where, matmul): tensors keep their shape (the op broadcasts) and are cast to
// the result's element type where theirs differs (the promotion of docs/types.md that the
// checker applied), scalars become rank-0 tensors of the result's element type.
mlir::Value Lowerer::tensor_operand(const Local& x, mlir::RankedTensorType result, SourceRange r) {
  return with_element(x, result.getElementType(), r);
}

// `x` as a tensor of element type `element`, its shape kept (a scalar: rank 0).
mlir::Value Lowerer::with_element(const Local& x, mlir::Type element, SourceRange r) {
  auto xt = mlir::dyn_cast<mlir::RankedTensorType>(x.value.getType());
  if (xt && xt.getElementType() == element) return x.value;
  auto want = mlir::RankedTensorType::get(xt ? xt.getShape() : llvm::ArrayRef<int64_t>{}, element);
  return convert(x, want, r);  // a literal folds to a dense constant
}

// The element type two operands of a comparison are compared in: the promotion of
// docs/types.md. Python scalars are weak: an Int takes the tensor's dtype (a bool tensor's
// becomes i64), a Float a float tensor's dtype and f32 with an integer or bool tensor.
mlir::Type Lowerer::common_element(const Local& a, const Local& b) {
  auto dtype = [](mlir::Type t) -> std::optional<sema::DType> {
    if (t.isF64()) return sema::DType::F64;
    if (t.isF32()) return sema::DType::F32;
    if (t.isF16()) return sema::DType::F16;
    if (t.isBF16()) return sema::DType::BF16;
    if (t.isInteger(1)) return sema::DType::Bool;
    if (t.isInteger(8)) return sema::DType::I8;
    if (t.isInteger(16)) return sema::DType::I16;
    if (t.isInteger(32)) return sema::DType::I32;
    if (t.isInteger(64)) return sema::DType::I64;
    return std::nullopt;
  };
  auto at = mlir::dyn_cast<mlir::RankedTensorType>(a.value.getType());
  auto bt = mlir::dyn_cast<mlir::RankedTensorType>(b.value.getType());
  if (at && bt) {
    auto da = dtype(at.getElementType()), db = dtype(bt.getElementType());
    if (!da || !db) return at.getElementType();
    return element_type(sema::promote(*da, *db));
  }
  mlir::Type tensor_elt = (at ? at : bt).getElementType();
  mlir::Type scalar = (at ? b : a).value.getType();
  if (auto st = mlir::dyn_cast<mlir::RankedTensorType>(scalar)) scalar = st.getElementType();
  if (mlir::isa<mlir::FloatType>(scalar) && !mlir::isa<mlir::FloatType>(tensor_elt)) return b_.getF32Type();
  if (mlir::isa<mlir::IntegerType>(scalar) && !scalar.isInteger(1) && tensor_elt.isInteger(1)) return b_.getI64Type();
  return tensor_elt;
}

Local Lowerer::compare(const CompareExpr* c, const Type& t) {
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
    // Compare in the operands' common element type (docs/types.md).
    mlir::Type elt = common_element(l, r);
    return {op("tessera.cmp", {with_element(l, elt, c->range), with_element(r, elt, c->range)}, mt, c->range, nullptr,
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
// a[ids] with a tensor of integer ids (NumPy's integer-array indexing on the first axis, a
// gather): the rows of `a` at the ids, of shape ids.shape + a.shape[1:], as an embedding lookup
// of `a` seen as a [J, R] table (its gradient adds the cotangent rows back at the ids). An id
// outside [0, J) is a run-time error (exit 3); negative ids do not count from the end.
Local Lowerer::gather(const SubscriptExpr* s, const Local& x, const Type& t, mlir::Type mt) {
  const Expr* index = s->indices[0];
  Local ids = expr(index);
  auto it = mlir::dyn_cast<mlir::RankedTensorType>(ids.value.getType());
  if (!it || !it.getElementType().isSignlessInteger() || it.getElementType().isInteger(1))
    unsupported(index->range, "indexing with a tensor that is not of integer ids (a boolean mask)");
  auto xt = mlir::cast<mlir::RankedTensorType>(x.value.getType());
  auto rt = mlir::cast<mlir::RankedTensorType>(mt);
  if (xt.getRank() == 0) unsupported(s->range, "indexing a scalar");
  if (!mlir::isa<mlir::FloatType>(xt.getElementType()))
    unsupported(s->range, "gathering from a tensor that is not of floats (a[ids] of integers)");
  int64_t rows_r = 1;
  for (int64_t i = 1; i < xt.getRank(); ++i) {
    if (xt.isDynamicDim(i)) unsupported(s->range, "a[ids] with a size after the first axis that is not known when compiled");
    rows_r *= xt.getDimSize(i);
  }
  mlir::Location l = loc(s->range);
  std::vector<mlir::Value> dyn;
  if (xt.isDynamicDim(0)) dyn.push_back(b_.create<mlir::tensor::DimOp>(l, x.value, 0));
  auto table_t = mlir::RankedTensorType::get({xt.getDimSize(0), rows_r}, xt.getElementType());
  mlir::Value table = xt == table_t ? x.value : op("tessera.reshape", concat({x.value}, dyn), table_t, s->range, nullptr);
  std::vector<int64_t> eshape(it.getShape().begin(), it.getShape().end());
  eshape.push_back(rows_r);
  auto et = mlir::RankedTensorType::get(eshape, xt.getElementType());
  mlir::Value rows = op("tessera.embedding", {table, ids.value}, et, s->range, nullptr,
                        {{"what", b_.getStringAttr("index")}});
  if (et == rt) return {rows, t};
  std::vector<mlir::Value> rdyn;
  for (int64_t i = 0; i < rt.getRank(); ++i)
    if (rt.isDynamicDim(i)) {
      if (i >= it.getRank()) unsupported(s->range, "a[ids] of this shape");
      rdyn.push_back(b_.create<mlir::tensor::DimOp>(l, ids.value, i));
    }
  return {op("tessera.reshape", concat({rows}, rdyn), rt, s->range, nullptr), t};
}

Local Lowerer::subscript(const SubscriptExpr* s, const Type& t) {
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
  if (s->indices.size() == 1)
    if (auto it = fn_->expr_types.find(s->indices[0]);
        it != fn_->expr_types.end() && it->second && it->second->kind == TypeKind::Tensor)
      return gather(s, x, t, mt);
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

std::optional<int64_t> Lowerer::constant_int_expr(const Expr* e) {
  if (auto* i = dyn_cast<IntLiteralExpr>(e)) return static_cast<int64_t>(i->value);
  if (auto* u = dyn_cast<UnaryExpr>(e); u && u->op == UnaryOp::Neg)
    if (auto v = constant_int_expr(u->operand)) return -*v;
  return constant_int(e);
}

}  // namespace tessera::ir::lowering
