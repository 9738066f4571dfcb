// Schedule IR passes: the `tessera` dialect lowered to MLIR's linalg/tensor/arith/math.
#pragma once

#include <memory>

#include <mlir/IR/BuiltinOps.h>
#include <mlir/Pass/Pass.h>

namespace tessera::ir {

// `--tessera-to-linalg`: every tessera op becomes linalg (named ops where one fits,
// linalg.generic otherwise), tensor, arith and math ops on tensors; I/O ops become calls of
// the runtime (`func.func private @tess...`). An op without a CPU lowering yet is an error at
// its location ("not yet supported: ...") and the pass fails. With `debug_numerics` (pass option
// `debug-numerics`), every op that computes a float tensor is followed by runtime calls that stop
// the program at the first NaN or Inf, naming the op, its source line and its operands'
// statistics (`tesserac run --debug-numerics`).
std::unique_ptr<mlir::Pass> createLowerToLinalgPass(bool debug_numerics = false);

// `--tessera-unshare-fills`: a linalg op whose init is a `linalg.fill` of a `tensor.empty` that
// other ops also use (CSE merges identical zero-filled inits, e.g. of two matmuls of one shape)
// gets its own empty + fill, placed before it. Bufferization then fills each op's output buffer
// in place, where a shared fill would be filled once and copied for every other writer.
std::unique_ptr<mlir::Pass> createUnshareFillsPass();

// `--tessera-elementwise-fusion`: MLIR's elementwise fusion of linalg ops on tensors (the
// patterns of `linalg-fuse-elementwise-ops`: a single-use producer is fused into its consumer),
// except that a rank-0 producer is not fused into a consumer with loops (computed once, not per
// element), nor a computing producer into a reduction with a loop the operand does not index
// (a contraction keeps its plain multiply-add body and its schedule):
// fuse_elementwise_producer is the rule.
std::unique_ptr<mlir::Pass> createElementwiseFusionPass();
bool fuse_elementwise_producer(mlir::OpOperand* operand);

// `--tessera-reuse-dead-inputs`: an elementwise linalg.generic (identity maps, all loops parallel)
// whose init is an empty tensor it does not read writes into one of its inputs instead, when that
// input has the same type, is dead after the op (no later use of it or of a view of it) and its
// buffer is writable: a computed value, a loop-carried value, or an entry argument marked
// donated (kDonatedAttr). Bufferization then updates that buffer in place (AdamW's
// `p - lr * u` overwrites p), where it would have allocated a new one and left the input's to
// be freed.
std::unique_ptr<mlir::Pass> createReuseDeadInputsPass();

// The argument attribute of a donated entry argument (`@ts.function(donate_argnums=...)`): its
// buffer may be updated in place and returned as a result; the caller gives it up.
inline constexpr const char kDonatedAttr[] = "tessera.donated";

// The Graph IR -> Schedule IR pipeline of `tesserac` (`--stage=schedule` prints its result):
// tessera-to-linalg, canonicalization, elementwise fusion (chains such as `gelu(x * a + b)`
// become one linalg.generic), CSE, unshare-fills. Errors go to the context's diagnostic handler.
mlir::LogicalResult run_schedule_pipeline(mlir::ModuleOp module, bool debug_numerics = false);

// Registers the passes of this folder with MLIR's registry (for tessera-opt).
void registerSchedulePasses();

}  // namespace tessera::ir
