// RUN: %tessera_opt %s --tessera-matmul-schedule | %FileCheck %s
// RUN: %tessera_opt %s --tessera-matmul-schedule="vector-bits=256" | %FileCheck %s --check-prefix=AVX2
// RUN: %tessera_opt %s --tessera-matmul-schedule="nv=4" | %FileCheck %s --check-prefix=FIXED

// A static N narrower than the default panel (64 f32 lanes on AVX-512) gets ceil(N / 16)
// vectors per kernel row and more rows: a classifier's N = 10 computes 16 columns per tile,
// not 64. A dynamic N, or nv= given explicitly, keeps the default.

#a = affine_map<(m, k, n) -> (m, k)>
#b = affine_map<(m, k, n) -> (k, n)>
#c = affine_map<(m, k, n) -> (m, n)>

func.func @logits(%h: memref<256x256xf32>, %w: memref<256x10xf32>, %out: memref<256x10xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%h, %w : memref<256x256xf32>, memref<256x10xf32>) outs(%out : memref<256x10xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

func.func @two_vectors(%h: memref<64x32xf32>, %w: memref<32x20xf32>, %out: memref<64x20xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%h, %w : memref<64x32xf32>, memref<32x20xf32>) outs(%out : memref<64x20xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

func.func @eight(%h: memref<64x32xf32>, %w: memref<32x8xf32>, %out: memref<64x8xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%h, %w : memref<64x32xf32>, memref<32x8xf32>) outs(%out : memref<64x8xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

func.func @dynamic_n(%h: memref<64x32xf32>, %w: memref<32x?xf32>, %out: memref<64x?xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%h, %w : memref<64x32xf32>, memref<32x?xf32>) outs(%out : memref<64x?xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// CHECK-LABEL: func.func @logits
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<1x256x16xf32>
// CHECK: func.call @__tessera_matmul_block_f32_f32_12x1x16_kc256_mc96_au(
// CHECK-LABEL: func.func @two_vectors
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<1x256x32xf32>
// CHECK: func.call @__tessera_matmul_block_f32_f32_12x2x16_kc256_mc96_au(
// CHECK-LABEL: func.func @eight
// CHECK: func.call @__tessera_matmul_block_f32_f32_12x1x16_kc256_mc96_au(
// CHECK-LABEL: func.func @dynamic_n
// CHECK: func.call @__tessera_matmul_block_f32_f32_6x4x16_kc256_mc96_au(
//   The 12-row kernel: 12 accumulators of one vector, one B vector per k.
// CHECK-LABEL: func.func private @__tessera_matmul_block_f32_f32_12x1x16_kc256_mc96_au(
// CHECK: scf.for %{{.*}} step %c12
// CHECK: iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)

//   AVX2 (8 lanes, 6 x 2 by default): N = 10 and 20 need the default's two vectors or more;
//   N = 8 takes one, with 12 rows.
// AVX2-LABEL: func.func @logits
// AVX2: func.call @__tessera_matmul_block_f32_f32_6x2x8_kc256_mc96_au(
// AVX2-LABEL: func.func @two_vectors
// AVX2: func.call @__tessera_matmul_block_f32_f32_6x2x8_kc256_mc96_au(
// AVX2-LABEL: func.func @eight
// AVX2: func.call @__tessera_matmul_block_f32_f32_12x1x8_kc256_mc96_au(

// FIXED-LABEL: func.func @logits
// FIXED: func.call @__tessera_matmul_block_f32_f32_6x4x16_kc256_mc96_au(
