// Tile IR for the CPU: the schedule that turns fused linalg on tensors into tiled, packed and
// vectorized loops (scf/vector/memref), and the buffer-level passes after bufferization
// (parallel loops on the runtime's thread pool, vector math). codegen::CpuOptions takes these
// two functions as its pre_bufferization / post_bufferization hooks; `tesserac run`, `build`
// and `emit --stage=tile` use them, and so does bench/cpu_bench.
#pragma once

#include <mlir/Pass/PassManager.h>

#include <string>

namespace tessera::ir {

// What the CPU schedule may assume and do. Part of the compile-cache key through the passes'
// textual options.
struct CpuScheduleOptions {
  // Run parallel loops on tessParallelFor. With `deterministic`, every reduction keeps a fixed
  // association order whatever the thread count (bitwise-identical results with 1 or 2 threads).
  bool parallel = true;
  bool deterministic = false;
  // The target, as CpuOptions::arch ("native", "generic", "x86-64" or an LLVM CPU name): picks
  // the vector width of the micro-kernels (vector_bits_for_arch in MatmulSchedule.h).
  std::string arch = "native";
};

// Passes on tensors, run just before one-shot bufferization.
void buildCpuTensorSchedule(mlir::OpPassManager& pm, const CpuScheduleOptions& options = {});
// Passes on buffers, run just after the deallocation pipeline.
void buildCpuBufferSchedule(mlir::OpPassManager& pm, const CpuScheduleOptions& options = {});

// Registers the passes of this folder with MLIR's registry (for tessera-opt).
void registerTilePasses();

}  // namespace tessera::ir
