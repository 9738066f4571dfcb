// `--tessera-gemv-chain-fusion`: a matrix-vector product, the row-local work on its output and a
// transposed matrix-vector product over the same matrix, run chunk by chunk of the matrix's rows
// (the matrix read from memory once). See docs/tile_ir.md.
#pragma once

#include <memory>

#include <mlir/Pass/Pass.h>

namespace tessera::ir {

// On tensors (before bufferization). For
//
//   t = X @ v              (linalg.generic: t[n] += X[n, k] * v[k]; X static [N, K])
//   r = f(t, ...)          (elementwise ops over n: every operand indexed by n at its first
//                           dimension, or not indexed by n at all; reshapes to [N, 1])
//   g = init + X^T @ r     (g[j, 1...] += X[n, j] * r[n, 1...], the same X)
//
// the three run in one `scf.forall` over chunks of the rows of X (about 256 KiB of X each, a
// multiple of 16 rows, fixed by the shapes): per chunk, its slice of t, of f's results and the
// chunk's partial product X[chunk]^T @ r[chunk] into its own row of a [chunks, ...] buffer. The
// chunk's rows of X are still in L2 when the transposed product reads them. After the loop, the
// partials are added onto `init` in chunk order: every result is the same bits for any thread
// count. Values of f used by other ops (a log density's sum) are written whole as before; ops
// between the products that use them are moved after the loop. The gradient of a GLM (a
// logistic regression's `X^T (y - sigmoid(X b))`) is this pattern.
std::unique_ptr<mlir::Pass> createGemvChainFusionPass();

// On buffers (`--tessera-forall-stack-scratch`): the buffers an `scf.forall` body allocates and
// frees itself, whose sizes are constants or min(x, constant) (a GEMV chain's per-chunk arrays),
// become stack buffers of that bound (the stack saved and restored around the body; at most 64 KiB per
// body): no malloc and free per chunk, and the same memory for every chunk of a thread.
std::unique_ptr<mlir::Pass> createForallStackScratchPass();

}  // namespace tessera::ir
