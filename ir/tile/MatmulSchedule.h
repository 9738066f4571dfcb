// `--tessera-matmul-schedule`: the CPU schedule of contractions (matmul, batched matmul, linear
// layers, attention's products) on buffers. Each linalg op on memrefs that computes
// C[..., m, n] += A[..., m, k] * B[..., k, n] (f32 or f64 accumulation, inputs of the same or a
// narrower float type) becomes a cache-blocked loop nest (NC x KC blocks of B packed into
// contiguous KC x NR panels, MC rows of C per parallel block) around a register-blocked
// micro-kernel: MR x NR accumulators held in vector registers across the K loop (scf.for
// iter_args), one broadcast of A and NR / lanes vector loads of B per k, vector.fma.
// Remainders: B panels are zero-padded, rows of A are clamped, and edge tiles of C are updated
// with masked transfers. An operand that a gather (a convolution's patches, a transposition)
// wrote just before is read through the gather's map while packing (implicit GEMM; the gather
// and its buffer go). Other linalg ops are left alone. See docs/tile_ir.md.
#pragma once

#include <memory>
#include <string>

#include <mlir/Pass/Pass.h>

namespace tessera::ir {

// Tile sizes for a vector width; 0 fields take the defaults that docs/tile_ir.md explains.
struct MatmulScheduleOptions {
  int vector_bits = 512;  // 128 (SSE), 256 (AVX2), 512 (AVX-512)
  int mr = 0;             // rows of the micro-kernel
  int nv = 0;             // vectors per row of the micro-kernel (NR = nv * lanes)
  int kc = 0;             // K block
  int mc = 0;             // M block (a multiple of mr), the parallel loop's step
  int nc = 0;             // N block (a multiple of NR): the packed B block is KC x NC
  // bf16 x bf16 -> f32 contractions use vdpbf16ps (AVX512-BF16) with 512-bit vectors: B packed
  // as interleaved pairs of k, two products per lane and instruction.
  bool bf16_dot = false;
};

// The widest vector (in bits) that `arch` (CpuOptions::arch: "native", "generic", "x86-64" or an
// LLVM CPU name) executes natively: 512 with AVX-512F, 256 with AVX, else 128.
int vector_bits_for_arch(const std::string& arch);

std::unique_ptr<mlir::Pass> createMatmulSchedulePass(const MatmulScheduleOptions& options = {});
void registerMatmulSchedulePass();

}  // namespace tessera::ir
