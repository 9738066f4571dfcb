// The CPU Tile IR schedule: see CpuPipeline.h. Each pass of the schedule lives in its own file
// of this folder with one creation function; this file only orders them.
#include "ir/tile/CpuPipeline.h"

namespace tessera::ir {

void buildCpuTensorSchedule(mlir::OpPassManager& pm, const CpuScheduleOptions& options) {
  (void)pm;
  (void)options;
}

void buildCpuBufferSchedule(mlir::OpPassManager& pm, const CpuScheduleOptions& options) {
  (void)pm;
  (void)options;
}

void registerTilePasses() {}

}  // namespace tessera::ir
