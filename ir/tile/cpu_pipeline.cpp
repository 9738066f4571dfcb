// The CPU Tile IR schedule: see CpuPipeline.h. Each pass of the schedule lives in its own file
// of this folder with one creation function; this file only orders them.
#include "ir/tile/CpuPipeline.h"

#include <mlir/Dialect/Func/IR/FuncOps.h>

#include "ir/tile/MatmulSchedule.h"

namespace tessera::ir {

void buildCpuTensorSchedule(mlir::OpPassManager& pm, const CpuScheduleOptions& options) {
  (void)pm;
  (void)options;
}

void buildCpuBufferSchedule(mlir::OpPassManager& pm, const CpuScheduleOptions& options) {
  // Contractions first: they become blocked vector loop nests before any generic pass sees them.
  MatmulScheduleOptions matmul;
  matmul.vector_bits = vector_bits_for_arch(options.arch);
  pm.addNestedPass<mlir::func::FuncOp>(createMatmulSchedulePass(matmul));
}

void registerTilePasses() { registerMatmulSchedulePass(); }

}  // namespace tessera::ir
