// RUN: %tessera_opt %s --tessera-matmul-schedule | %FileCheck %s
// A contraction whose C is zero-filled just before: the fill is removed and the row-block
// function's "_z" variant stores the first K block's sums (kc == 0) instead of adding them to C.
// The fill stays when K is dynamic (K = 0 would leave C unwritten), when it fills another value
// than 0, or when something runs between it and the contraction.

#a = affine_map<(m, k, n) -> (m, k)>
#b = affine_map<(m, k, n) -> (k, n)>
#c = affine_map<(m, k, n) -> (m, n)>

// CHECK-LABEL: func.func @zero_filled
// CHECK-NOT: linalg.fill
// CHECK: func.call @__tessera_matmul_block_f32_f32_6x4x16_kc152_mc96_au_z(
// CHECK: return
func.func @zero_filled(%A: memref<?x300xf32>, %B: memref<300x?xf32>, %C: memref<?x?xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%C : memref<?x?xf32>)
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%A, %B : memref<?x300xf32>, memref<300x?xf32>) outs(%C : memref<?x?xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// CHECK-LABEL: func.func @dynamic_k
// CHECK: linalg.fill
// CHECK: func.call @__tessera_matmul_block_f32_f32_6x4x16_kc256_mc96_au(
func.func @dynamic_k(%A: memref<?x?xf32>, %B: memref<?x?xf32>, %C: memref<?x?xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%C : memref<?x?xf32>)
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%A, %B : memref<?x?xf32>, memref<?x?xf32>) outs(%C : memref<?x?xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// CHECK-LABEL: func.func @one_filled
// CHECK: linalg.fill
// CHECK: func.call @__tessera_matmul_block_f32_f32_6x4x16_kc152_mc96_au(
func.func @one_filled(%A: memref<?x300xf32>, %B: memref<300x?xf32>, %C: memref<?x?xf32>) {
  %one = arith.constant 1.0 : f32
  linalg.fill ins(%one : f32) outs(%C : memref<?x?xf32>)
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%A, %B : memref<?x300xf32>, memref<300x?xf32>) outs(%C : memref<?x?xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// The "_z" row-block function: kc == 0 picks the stores without a read of C.
// CHECK-LABEL: func.func private @__tessera_matmul_block_f32_f32_6x4x16_kc152_mc96_au_z(
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %arg6, %c0
// CHECK: scf.if
// CHECK: scf.if %[[FIRST]]
// CHECK-NOT: vector.transfer_read
// CHECK: vector.transfer_write
// CHECK: } else {
// CHECK: vector.transfer_read
// CHECK: arith.addf
// CHECK: vector.transfer_write
// CHECK: arith.select %[[FIRST]]
