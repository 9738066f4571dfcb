// tessera-opt: runs passes on .mlir files, like mlir-opt, with the `tessera`
// dialect and the upstream dialects and passes that the Graph IR and its
// lowerings use. Registration stays in this one file because the dialect
// headers are expensive to compile.
#include "ir/autodiff/GradientInterface.h"
#include "ir/autodiff/Passes.h"
#include "ir/graph/Passes.h"
#include "ir/graph/Tessera.h"
#include "ir/schedule/Passes.h"
#include "ir/tile/CpuPipeline.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char** argv) {
  mlir::DialectRegistry registry;
  registry.insert<mlir::tessera::TesseraDialect, mlir::arith::ArithDialect,
                  mlir::bufferization::BufferizationDialect, mlir::func::FuncDialect, mlir::linalg::LinalgDialect,
                  mlir::math::MathDialect, mlir::memref::MemRefDialect, mlir::scf::SCFDialect,
                  mlir::tensor::TensorDialect, mlir::vector::VectorDialect>();
  // canonicalize, cse, inline, symbol-dce and the other generic passes.
  mlir::registerTransformsPasses();
  // linalg-fuse-elementwise-ops and the other linalg passes of the schedule pipeline.
  mlir::registerLinalgPasses();
  mlir::tessera::registerTesseraGraphPasses();
  mlir::tessera::registerGradientModels(registry);
  mlir::tessera::registerAutodiffPasses();
  tessera::ir::registerSchedulePasses();
  tessera::ir::registerTilePasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(argc, argv, "Tessera optimizer driver\n", registry));
}
