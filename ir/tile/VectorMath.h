// `--tessera-vector-math`: f32 transcendental functions as polynomial code that vectorizes.
// See docs/tile_ir.md.
#pragma once

#include <memory>

#include <mlir/Pass/Pass.h>

namespace tessera::ir {

// math.exp, expm1, log, log1p, log2, tanh and erf on f32 (scalars and vectors) are expanded
// into arith/math.fma/bitcast code (MLIR's polynomial approximations; range reduction and
// rational or polynomial kernels), so vector loops stay vector code instead of calling libm per
// lane. The functions were checked against the value tests' f32 tolerance (rtol 2e-5) over their
// ranges (tests/values). math.exp, log and log1p on f64 get our own branch-free expansions
// (within about 1 ulp of the correctly rounded result; specials, subnormals and overflow as
// libm). Other types and other functions keep the LLVM intrinsic or libm path.
std::unique_ptr<mlir::Pass> createVectorMathPass();

// Whether `--tessera-vector-math` expands `op` (a math op on a scalar or vector type) into
// arithmetic: such an op costs no libm call per lane, so a loop that holds it is worth
// vectorizing.
bool vector_math_expands(mlir::Operation* op);

}  // namespace tessera::ir
