// RUN: %tessera_opt %s --tessera-matmul-schedule | %FileCheck %s
// A product with few rows of C (fewer than 4 row blocks) and at least two column blocks runs
// the column blocks (jc) in parallel: each task packs its own panels of B (an allocation inside
// the parallel body) and calls the row-block function for every row block in order. Otherwise
// (many rows, or dynamic M) the row blocks are the parallel loop, as before.

#a = affine_map<(m, k, n) -> (m, k)>
#b = affine_map<(m, k, n) -> (k, n)>
#c = affine_map<(m, k, n) -> (m, n)>

// CHECK-LABEL: func.func @filters_times_patches
// CHECK-NOT: memref.alloc
// CHECK: scf.parallel (%[[JC:.*]]) = (%c0) to (%c32768) step (%c1024)
// CHECK: %[[BP:.*]] = memref.alloc() {alignment = 64 : i64} : memref<16x{{[0-9]+}}x64xf32>
// CHECK: scf.for %[[KC:.*]] = %c0 to %c576 step
// CHECK: scf.for %[[IC:.*]] = %c0 to %c64{{.*}} step %c96
// CHECK: func.call @__tessera_matmul_block_f32_f32_6x4x16_{{.*}}(%{{.*}}, %{{.*}}, %{{.*}}, %c64{{.*}}, %c32768, %[[JC]], %[[KC]], %{{.*}}, %{{.*}}, %[[IC]])
// CHECK: memref.dealloc %[[BP]]
func.func @filters_times_patches(%A: memref<64x576xf32>, %B: memref<576x32768xf32>, %C: memref<64x32768xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%A, %B : memref<64x576xf32>, memref<576x32768xf32>) outs(%C : memref<64x32768xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// Many rows: the row blocks stay the parallel loop, with one shared packed block.
// CHECK-LABEL: func.func @tall
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<16x{{[0-9]+}}x64xf32>
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.parallel {{.*}} step (%c96)
func.func @tall(%A: memref<1024x576xf32>, %B: memref<576x4096xf32>, %C: memref<1024x4096xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%A, %B : memref<1024x576xf32>, memref<576x4096xf32>) outs(%C : memref<1024x4096xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
