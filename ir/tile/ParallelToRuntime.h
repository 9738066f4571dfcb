// `--tessera-parallel-to-runtime`: scf.parallel loops on buffers run on the runtime's thread
// pool (tessParallelFor). See docs/tile_ir.md.
#pragma once

#include <memory>

#include <mlir/Pass/Pass.h>

namespace tessera::ir {

// Every outermost scf.parallel (after bufferization) becomes a call
//   tessParallelFor(NULL, 0, trip_count, grain, @<func>_parallel_<n>, &captures)
// Its body is outlined into `func.func private @<func>_parallel_<n>(lo: i64, hi: i64, data:
// !llvm.ptr)`, which loops over [lo, hi) of the linearized iteration space (row-major over the
// loop's dimensions) and reads the values it captures (memref descriptors, indices, scalars)
// from a struct on the caller's stack. `grain` is the loop's `tessera.grain` integer attribute,
// else chosen from the body's estimated work (at least 2^17 operations a chunk; a loop with less
// in all runs inline; 1 where the work has no static bound). Iterations are assigned to threads by the runtime's fixed partition; the pass never
// splits a reduction, so results do not depend on the thread count. Nested scf.parallel loops
// stay sequential.
std::unique_ptr<mlir::Pass> createParallelToRuntimePass();

}  // namespace tessera::ir
