// The CPU Tile IR schedule: see CpuPipeline.h. Each pass of the schedule lives in its own file
// of this folder with one creation function; this file only orders them.
#include "ir/tile/CpuPipeline.h"

#include "codegen/codegen.h"

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/Dialect/SCF/Transforms/Passes.h>

#include "ir/tile/GemvChainFusion.h"
#include "ir/tile/MatmulSchedule.h"
#include "ir/tile/ParallelToRuntime.h"
#include "ir/tile/RowFusionVectorize.h"
#include "ir/tile/VectorMath.h"

namespace tessera::ir {

void buildCpuTensorSchedule(mlir::OpPassManager& pm, const CpuScheduleOptions& options) {
  (void)options;
  // X @ v, row-local work on it and X^T @ r over the same X: chunk by chunk of X's rows.
  pm.addPass(createGemvChainFusionPass());
}

void buildCpuBufferSchedule(mlir::OpPassManager& pm, const CpuScheduleOptions& options) {
  // Contractions first: they become blocked vector loop nests before any generic pass sees them.
  MatmulScheduleOptions matmul;
  matmul.vector_bits = vector_bits_for_arch(options.arch);
  codegen::CpuOptions cpu;
  cpu.arch = options.arch;
  matmul.bf16_dot = codegen::target_has_feature(cpu, "avx512bf16");
  pm.addPass(createMatmulSchedulePass(matmul));
  // Elementwise ops and row reductions: fused row loops, vectorized, outer loop scf.parallel.
  pm.addPass(createRowFusionVectorizePass());
  // A GEMV chain's per-chunk buffers on the stack (scf.forall bodies).
  pm.addPass(createForallStackScratchPass());
  // Parallel loops (scf.forall as scf.parallel) on the runtime's thread pool. No pass splits a
  // reduction across iterations of a parallel loop, so `deterministic` needs nothing more.
  pm.addPass(mlir::createForallToParallelLoopPass());
  if (options.parallel) pm.addPass(createParallelToRuntimePass());
  // f32 exp/log/tanh/erf as polynomial code (after outlining, so outlined bodies get it too).
  pm.addPass(createVectorMathPass());
}

void registerTilePasses() {
  mlir::registerPass([] { return createGemvChainFusionPass(); });
  mlir::registerPass([] { return createForallStackScratchPass(); });
  registerMatmulSchedulePass();
  mlir::registerPass([] { return createRowFusionVectorizePass(); });
  mlir::registerPass([] { return createParallelToRuntimePass(); });
  mlir::registerPass([] { return createVectorMathPass(); });
}

}  // namespace tessera::ir
