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
// ranges (tests/values). Other types and other functions keep the LLVM intrinsic or libm path.
std::unique_ptr<mlir::Pass> createVectorMathPass();

}  // namespace tessera::ir
