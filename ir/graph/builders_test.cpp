// Unit tests of the C++ API of the tessera dialect: the convenience builders
// give ops that verify, the policy attribute prints as documented, and the
// print format helpers agree with the verifier.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "ir/graph/Tessera.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"

using namespace mlir;
using namespace mlir::tessera;

namespace {

// A module with one function whose arguments are `inputs`, and a builder
// positioned in its body.
struct Fixture {
  MLIRContext context;
  OpBuilder b{&context};
  Location loc = b.getUnknownLoc();
  ModuleOp module;
  func::FuncOp func;

  Fixture() {
    context.loadDialect<TesseraDialect, func::FuncDialect, arith::ArithDialect>();
    module = ModuleOp::create(loc);
  }
  ~Fixture() { module->erase(); }

  // Starts the function; its argument types come from this context.
  void start(ArrayRef<Type> inputs = {}) {
    b.setInsertionPointToEnd(module.getBody());
    func = b.create<func::FuncOp>(loc, "f", b.getFunctionType(inputs, {}));
    b.setInsertionPointToEnd(func.addEntryBlock());
  }

  Value arg(unsigned i) { return func.getArgument(i); }
  RankedTensorType tensor(ArrayRef<int64_t> shape, Type element = {}) {
    return RankedTensorType::get(shape, element ? element : b.getF32Type());
  }
  bool verifies() {
    b.create<func::ReturnOp>(loc);
    return succeeded(verify(module));
  }
  template <typename T>
  std::string print(T value) {
    std::string text;
    llvm::raw_string_ostream os(text);
    value.print(os);
    return text;
  }
};

} // namespace

TEST_CASE("convenience builders create ops that verify") {
  Fixture f;
  auto& b = f.b;
  f.start({f.tensor({4, 8}), f.tensor({8}), f.tensor({8, 16}), f.tensor({4}, b.getI64Type()), b.getIndexType()});
  auto loc = f.loc;
  Value x = f.arg(0), v = f.arg(1), w = f.arg(2), ids = f.arg(3), n = f.arg(4);
  auto t48 = f.tensor({4, 8});
  auto policy = PolicyAttr::get(&f.context, b.getF32Type(), FloatAttr(), false, false, true, StringAttr());

  Value sum = b.create<AddOp>(loc, t48, x, v);
  b.create<AddOp>(loc, t48, x, v, policy);
  b.create<CmpOp>(loc, f.tensor({4, 8}, b.getI1Type()), CmpPredicate::lt, x, v);
  Value e = b.create<ExpOp>(loc, sum);
  CHECK(e.getType() == t48);
  b.create<CastOp>(loc, f.tensor({4, 8}, b.getBF16Type()), e);
  b.create<ClampOp>(loc, e, 0.0, std::nullopt);
  b.create<ReduceOp>(loc, f.tensor({4, 1}), x, ReduceKind::mean, ArrayRef<int64_t>{1}, /*keepdim=*/true);
  b.create<ReduceOp>(loc, f.tensor({4}, b.getI64Type()), x, ReduceKind::argmax, ArrayRef<int64_t>{1});
  b.create<NormOp>(loc, x);
  b.create<MatmulOp>(loc, f.tensor({4, 16}), x, w);
  b.create<TransposeOp>(loc, f.tensor({8, 4}), x, ArrayRef<int64_t>{1, 0});
  b.create<ReshapeOp>(loc, f.tensor({32}), x);
  b.create<ReshapeOp>(loc, f.tensor({ShapedType::kDynamic}), x, ValueRange{n});
  b.create<BroadcastToOp>(loc, f.tensor({2, 4, 8}), x);
  b.create<SliceOp>(loc, f.tensor({4}), x, ArrayRef<OpFoldResult>{b.getIndexAttr(0), n},
                    ArrayRef<OpFoldResult>{b.getIndexAttr(4), b.getIndexAttr(1)},
                    ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)}, ArrayRef<int64_t>{1});
  b.create<DimOp>(loc, x, 0);
  b.create<SoftmaxOp>(loc, x, 1, /*safe=*/true);
  b.create<LogSoftmaxOp>(loc, x, 1);
  b.create<LayerNormOp>(loc, x, v, Value(), 1, 1e-5);
  b.create<RmsNormOp>(loc, x, Value(), 1e-6, /*safe=*/true);
  b.create<DropoutOp>(loc, x, 0.1, 7);
  b.create<LinearOp>(loc, f.tensor({4, 16}), x, w);
  b.create<CrossEntropyOp>(loc, f.tensor({}), x, ids);
  b.create<AttentionOp>(loc, t48, x, x, x, /*causal=*/true, 0.5);
  b.create<ZerosOp>(loc, t48);
  b.create<FullOp>(loc, t48, 2.5);
  b.create<RandnOp>(loc, t48, 42);
  b.create<RandOp>(loc, f.tensor({ShapedType::kDynamic}), std::nullopt, ValueRange{n});
  b.create<PrintOp>(loc, b.getStrArrayAttr({"loss", "{:.4f}"}), ValueRange{e});
  CHECK(f.verifies());
}

TEST_CASE("the generated builders of the other ops give ops that verify") {
  Fixture f;
  auto& b = f.b;
  auto loc = f.loc;
  auto i1 = b.getI1Type();
  f.start({f.tensor({4, 8}), f.tensor({4, 8}, i1), f.tensor({1, 4, 8, 8}), f.tensor({6, 2, 3, 3}),
           f.tensor({4}, b.getI64Type()), f.tensor({100, 8}), b.getIndexType()});
  Value x = f.arg(0), c = f.arg(1), img = f.arg(2), kernel = f.arg(3), ids = f.arg(4), table = f.arg(5),
        n = f.arg(6);
  b.create<WhereOp>(loc, f.tensor({4, 8}), c, x, x);
  b.create<UnsqueezeOp>(loc, f.tensor({4, 1, 8}), x, 1);
  Value u = b.create<UnsqueezeOp>(loc, f.tensor({1, 4, 8}), x, 0);
  b.create<SqueezeOp>(loc, f.tensor({4, 8}), u, ArrayRef<int64_t>{0});
  b.create<ConcatOp>(loc, f.tensor({8, 8}), ValueRange{x, x}, 0);
  b.create<StackOp>(loc, f.tensor({2, 4, 8}), ValueRange{x, x}, 0);
  b.create<SplitOp>(loc, TypeRange{f.tensor({4, 4}), f.tensor({4, 4})}, x, 1, DenseI64ArrayAttr());
  b.create<SplitOp>(loc, TypeRange{f.tensor({4, 2}), f.tensor({4, 6})}, x, 1, b.getDenseI64ArrayAttr({2, 6}));
  b.create<GroupNormOp>(loc, img, Value(), Value(), 2, 1e-5);
  b.create<Conv2dOp>(loc, f.tensor({1, 6, 8, 8}), img, kernel, Value(), ArrayRef<int64_t>{1, 1},
                     ArrayRef<int64_t>{1, 1}, ArrayRef<int64_t>{1, 1}, 2);
  b.create<MaxPool2dOp>(loc, f.tensor({1, 4, 4, 4}), img, ArrayRef<int64_t>{2, 2}, ArrayRef<int64_t>{2, 2},
                        ArrayRef<int64_t>{0, 0});
  b.create<AvgPool2dOp>(loc, f.tensor({1, 4, 8, 8}), img, ArrayRef<int64_t>{3, 3}, ArrayRef<int64_t>{1, 1},
                        ArrayRef<int64_t>{1, 1});
  b.create<AdaptiveAvgPool2dOp>(loc, f.tensor({1, 4, 1, 1}), img, ArrayRef<int64_t>{1, 1});
  b.create<EmbeddingOp>(loc, f.tensor({4, 8}), table, ids);
  b.create<OneHotOp>(loc, f.tensor({4, 10}), ids, 10);
  b.create<OnesOp>(loc, f.tensor({ShapedType::kDynamic, 8}), ValueRange{n});
  b.create<ArangeOp>(loc, f.tensor({10}, b.getI64Type()), b.getF64FloatAttr(0), b.getF64FloatAttr(1), ValueRange{});
  Value loaded = b.create<LoadOp>(loc, f.tensor({4, 8}), b.getStringAttr("w.npy"), StringAttr{});
  b.create<SaveOp>(loc, loaded, b.getStringAttr("out.npy"), StringAttr{}, UnitAttr{});
  Value mu = b.create<ZerosOp>(loc, f.tensor({}));
  Value w = b.create<SampleOp>(loc, f.tensor({8}), "Normal", ValueRange{mu, mu}, "w");
  b.create<ObserveOp>(loc, w, "Normal", ValueRange{mu, mu}, "y");
  CHECK(f.verifies());
}

TEST_CASE("a verifier rejects a bad op built from C++") {
  Fixture f;
  f.start({f.tensor({4, 8}), f.tensor({3})});
  f.b.create<AddOp>(f.loc, f.tensor({4, 8}), f.arg(0), f.arg(1));
  // The diagnostic is expected; keep it off the test output.
  ScopedDiagnosticHandler quiet(&f.context, [](Diagnostic&) { return success(); });
  CHECK_FALSE(f.verifies());
}

TEST_CASE("the policy attribute prints its set fields in order") {
  Fixture f;
  auto& b = f.b;
  auto full = PolicyAttr::get(&f.context, b.getF32Type(), b.getF64FloatAttr(1024.0), true, true, true,
                              b.getStringAttr("gpu:0"));
  CHECK(f.print(Attribute(full)) ==
        "#tessera.policy<accum = f32, loss_scale = 1.024000e+03, stochastic_round, saturate, deterministic, "
        "device = \"gpu:0\">");
  auto empty = PolicyAttr::get(&f.context, Type(), FloatAttr(), false, false, false, StringAttr());
  CHECK(empty.isEmpty());
  CHECK(f.print(Attribute(empty)) == "#tessera.policy<>");
}

TEST_CASE("print format: segments, escapes and errors") {
  Fixture f;
  auto& b = f.b;
  auto segments = PrintOp::parseFormat(b.getStrArrayAttr({"step {}: {{x}}", "{:.3f}"}));
  REQUIRE(succeeded(segments));
  REQUIRE(segments->size() == 4);
  CHECK((!(*segments)[0].isValue && (*segments)[0].text == "step "));
  CHECK(((*segments)[1].isValue && (*segments)[1].text.empty()));
  CHECK((!(*segments)[2].isValue && (*segments)[2].text == ": {x} "));
  CHECK(((*segments)[3].isValue && (*segments)[3].text == ".3f"));
  CHECK(PrintOp::escapeLiteral("a{b}c") == "a{{b}}c");
  auto escaped = PrintOp::parseFormat(b.getStrArrayAttr({PrintOp::escapeLiteral("{}")}));
  REQUIRE(succeeded(escaped));
  CHECK((escaped->size() == 1 && !(*escaped)[0].isValue && (*escaped)[0].text == "{}"));
  std::string error;
  CHECK(failed(PrintOp::parseFormat(b.getStrArrayAttr({"a}"}), &error)));
  CHECK(error.find("unmatched '}'") != std::string::npos);
}

TEST_CASE("random ops carry the IsRandom trait and effects; pure ops do not") {
  Fixture f;
  f.start();
  auto randn = f.b.create<RandnOp>(f.loc, f.tensor({4}), 0);
  auto zeros = f.b.create<ZerosOp>(f.loc, f.tensor({4}));
  CHECK(randn->hasTrait<OpTrait::tessera::IsRandom>());
  CHECK_FALSE(zeros->hasTrait<OpTrait::tessera::IsRandom>());
  CHECK_FALSE(isMemoryEffectFree(randn));
  CHECK(isMemoryEffectFree(zeros));
  CHECK(f.verifies());
}
