// `--tessera-cpu-vectorize`: fused, vectorized loop nests for elementwise ops and row
// reductions on buffers (after bufferization). See docs/tile_ir.md.
#pragma once

#include <memory>

#include <mlir/Pass/Pass.h>

namespace tessera::ir {

// Consecutive linalg.generic / linalg.fill ops on memrefs that share their outer parallel loops
// (the rows: every loop but the innermost) become one loop nest: an `scf.parallel` over blocks
// of rows (grain-sized, so small tensors make one block), and in it, per row, each op's
// innermost loop in program order. A row of softmax or layer_norm is thus read from memory once
// and then from L1. Innermost loops are vectorized (vector<16xf32>, vector<8xf64>, ...) with a
// scalar remainder; a reduction over the innermost loop keeps one vector accumulator whose lanes
// are combined in a fixed order, so every result is independent of the thread count.
// Rank-1 elementwise chains are cut into blocks of 16384 elements run in parallel. Ops that do
// not fit (several reduction loops, gathers, ...) are left to convert-linalg-to-loops.
std::unique_ptr<mlir::Pass> createRowFusionVectorizePass();

}  // namespace tessera::ir
