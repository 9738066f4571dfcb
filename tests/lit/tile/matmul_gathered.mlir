// RUN: %tessera_opt %s --tessera-matmul-schedule | %FileCheck %s
// Implicit GEMM: an operand that a gather (a linalg.generic copy through an affine map of sums
// of indices times constants, a convolution's patches) wrote just before the contraction is
// read through the gather's map where the schedule copies it anyway; the gather and its buffer
// go. B: pack_b loads a vector from the source where the lanes are one run of its last index
// (an output row of 32), else gathers the lanes (vector.gather). A: each row block copies its
// rows of the K block into an [M, KC] buffer that its micro-kernels read from column 0
// (no zero-fill overwrite then: C keeps its fill). The gather stays when its source is written
// before the contraction, or when its buffer is read again afterwards.

#patch = affine_map<(c, i, j, n, y, x) -> (n, c, y + i, x + j)>
#id6 = affine_map<(a, b, c, d, e, f) -> (a, b, c, d, e, f)>
#wpatch = affine_map<(c, i, j, n, y, x) -> (c, n, y + i, x + j)>
#a = affine_map<(m, k, n) -> (m, k)>
#b = affine_map<(m, k, n) -> (k, n)>
#c = affine_map<(m, k, n) -> (m, n)>

// CHECK-LABEL: func.func @patches_b
// CHECK-NOT: memref<3x3x3x2x32x32xf32>
// CHECK: scf.parallel
// CHECK: %[[BP:.*]] = memref.alloc() {alignment = 64 : i64} : memref<16x256x64xf32>
// CHECK: scf.if %{{.*}} -> (vector<16xf32>) {
// CHECK: vector.load %arg0[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<2x3x34x34xf32>, vector<16xf32>
// CHECK: } else {
// CHECK: vector.gather %arg0[%c0, %c0, %c0, %c0] [%{{.*}}], %{{.*}}, %{{.*}} : memref<2x3x34x34xf32>, vector<16xi32>, vector<16xi1>, vector<16xf32> into vector<16xf32>
// CHECK: vector.store %{{.*}}, %[[BP]]
// CHECK: func.call @__tessera_matmul_block
// CHECK-NOT: memref.dealloc %{{.*}} : memref<3x3x3x2x32x32xf32>
// CHECK: return
func.func @patches_b(%src: memref<2x3x34x34xf32>, %w: memref<4x27xf32>, %out: memref<4x2048xf32>) {
  %cols = memref.alloc() : memref<3x3x3x2x32x32xf32>
  linalg.generic {indexing_maps = [#patch, #id6], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]}
      ins(%src : memref<2x3x34x34xf32>) outs(%cols : memref<3x3x3x2x32x32xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  %b = memref.collapse_shape %cols [[0, 1, 2], [3, 4, 5]] : memref<3x3x3x2x32x32xf32> into memref<27x2048xf32>
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%w, %b : memref<4x27xf32>, memref<27x2048xf32>) outs(%out : memref<4x2048xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  memref.dealloc %cols : memref<3x3x3x2x32x32xf32>
  return
}

// CHECK-LABEL: func.func @patches_a
// CHECK-NOT: memref<2x3x3x4x8x8xf32>
// CHECK: %[[AB:.*]] = memref.alloc() {alignment = 64 : i64} : memref<18x256xf32>
// CHECK: scf.parallel (%[[IC:.*]]) = (%c0) to (%c18) step (%c96)
// CHECK: vector.gather %arg0[%c0, %c0, %c0, %c0] [%{{.*}}], %{{.*}}, %{{.*}} : memref<2x4x10x10xf32>
// CHECK: vector.store %{{.*}}, %[[AB]][%{{.*}}, %{{.*}}] : memref<18x256xf32>, vector<16xf32>
// CHECK: %[[A2:.*]] = memref.cast %[[AB]]
// CHECK: func.call @__tessera_matmul_block_f32_f32_{{[0-9x]+}}_kc256_mc96_au(%[[A2]], %{{.*}}, %{{.*}}, %c18, %{{.*}}, %{{.*}}, %c0, %{{.*}}, %{{.*}}, %[[IC]])
// CHECK: memref.dealloc %[[AB]]
func.func @patches_a(%src: memref<2x4x10x10xf32>, %g: memref<256x16xf32>, %out: memref<18x16xf32>) {
  %cols = memref.alloc() : memref<2x3x3x4x8x8xf32>
  linalg.generic {indexing_maps = [#wpatch, #id6], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]}
      ins(%src : memref<2x4x10x10xf32>) outs(%cols : memref<2x3x3x4x8x8xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  %a = memref.collapse_shape %cols [[0, 1, 2], [3, 4, 5]] : memref<2x3x3x4x8x8xf32> into memref<18x256xf32>
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%a, %g : memref<18x256xf32>, memref<256x16xf32>) outs(%out : memref<18x16xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// CHECK-LABEL: func.func @source_written
// CHECK: %[[COLS:.*]] = memref.alloc() : memref<3x3x3x2x32x32xf32>
// CHECK: linalg.generic {{.*}} ins(%arg0 : memref<2x3x34x34xf32>) outs(%[[COLS]]
// CHECK-NOT: vector.gather
// CHECK: return
func.func @source_written(%src: memref<2x3x34x34xf32>, %w: memref<4x27xf32>, %out: memref<4x2048xf32>, %v: f32) {
  %cols = memref.alloc() : memref<3x3x3x2x32x32xf32>
  linalg.generic {indexing_maps = [#patch, #id6], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]}
      ins(%src : memref<2x3x34x34xf32>) outs(%cols : memref<3x3x3x2x32x32xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  linalg.fill ins(%v : f32) outs(%src : memref<2x3x34x34xf32>)
  %b = memref.collapse_shape %cols [[0, 1, 2], [3, 4, 5]] : memref<3x3x3x2x32x32xf32> into memref<27x2048xf32>
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%w, %b : memref<4x27xf32>, memref<27x2048xf32>) outs(%out : memref<4x2048xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// CHECK-LABEL: func.func @read_again
// CHECK: %[[COLS:.*]] = memref.alloc() : memref<3x3x3x2x32x32xf32>
// CHECK: linalg.generic {{.*}} outs(%[[COLS]]
// CHECK-NOT: vector.gather
// CHECK: memref.copy
func.func @read_again(%src: memref<2x3x34x34xf32>, %w: memref<4x27xf32>, %out: memref<4x2048xf32>, %copy: memref<27x2048xf32>) {
  %cols = memref.alloc() : memref<3x3x3x2x32x32xf32>
  linalg.generic {indexing_maps = [#patch, #id6], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]}
      ins(%src : memref<2x3x34x34xf32>) outs(%cols : memref<3x3x3x2x32x32xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  %b = memref.collapse_shape %cols [[0, 1, 2], [3, 4, 5]] : memref<3x3x3x2x32x32xf32> into memref<27x2048xf32>
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%w, %b : memref<4x27xf32>, memref<27x2048xf32>) outs(%out : memref<4x2048xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  memref.copy %b, %copy : memref<27x2048xf32> to memref<27x2048xf32>
  return
}
