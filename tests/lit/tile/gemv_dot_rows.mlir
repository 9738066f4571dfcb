// RUN: %tessera_opt %s --tessera-matmul-schedule | %FileCheck %s
// RUN: %tessera_opt %s --tessera-matmul-schedule="vector-bits=256" | %FileCheck %s --check-prefix=AVX2
// The GEMV dot (X @ v, K contiguous; docs/tile_ir.md): 8 rows at a time, one accumulator per
// row over the K vectors, and the 8 rows' lanes summed together in the tree order of a single
// row (halves added): the lanes of several rows share one vector, one add per level for all of
// them. A block with all 8 rows inside M reads them unclamped and adds its sums to C as a vector;
// the last block (rows past M clamped to M - 1) stores its rows inside M one by one.

// CHECK-LABEL: func.func @dot_f32
// CHECK: scf.for %[[M0:.*]] = %{{.*}} to %{{.*}} step %c8
// CHECK-NEXT: %[[END:.*]] = arith.addi %[[M0]], %c8
// CHECK-NEXT: %[[FULL:.*]] = arith.cmpi sle, %[[END]], %c1000
// CHECK-NEXT: scf.if %[[FULL]] {
// CHECK-NOT: arith.minsi
// CHECK: %[[ACC:.*]]:8 = scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK: %[[T:.*]]:8 = scf.if
// Level 1 (16 -> 8 lanes per row): rows 0 and 1 share a vector, low halves + high halves.
// CHECK: %[[LO01:.*]] = vector.shuffle %[[T]]#0, %[[T]]#1 [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23] : vector<16xf32>, vector<16xf32>
// CHECK-NEXT: %[[HI01:.*]] = vector.shuffle %[[T]]#0, %[[T]]#1 [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31] : vector<16xf32>, vector<16xf32>
// CHECK-NEXT: %[[S01:.*]] = arith.addf %[[LO01]], %[[HI01]] : vector<16xf32>
// CHECK: %[[S23:.*]] = arith.addf
// CHECK: %[[S45:.*]] = arith.addf
// CHECK: %[[S67:.*]] = arith.addf
// Level 2 (8 -> 4 lanes per row), rows 0-3 in one vector.
// CHECK: vector.shuffle %[[S01]], %[[S23]] [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]
// CHECK-NEXT: vector.shuffle %[[S01]], %[[S23]] [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31]
// CHECK: %[[S0123:.*]] = arith.addf
// CHECK: %[[S4567:.*]] = arith.addf
// Level 3 (4 -> 2), all 8 rows in one vector; level 4 (2 -> 1) within it.
// CHECK: vector.shuffle %[[S0123]], %[[S4567]] [0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29]
// CHECK: %[[S2:.*]] = arith.addf {{.*}} : vector<16xf32>
// CHECK-NEXT: %[[EVEN:.*]] = vector.shuffle %[[S2]], %[[S2]] [0, 2, 4, 6, 8, 10, 12, 14] : vector<16xf32>, vector<16xf32>
// CHECK-NEXT: %[[ODD:.*]] = vector.shuffle %[[S2]], %[[S2]] [1, 3, 5, 7, 9, 11, 13, 15] : vector<16xf32>, vector<16xf32>
// CHECK-NEXT: %[[SUMS:.*]] = arith.addf %[[EVEN]], %[[ODD]] : vector<8xf32>
// CHECK-NEXT: %[[OLD:.*]] = vector.load %{{.*}}[%[[M0]]] : memref<?xf32, strided<[1], offset: ?>>, vector<8xf32>
// CHECK-NEXT: %[[NEW:.*]] = arith.addf %[[OLD]], %[[SUMS]] : vector<8xf32>
// CHECK-NEXT: vector.store %[[NEW]], %{{.*}}[%[[M0]]] : memref<?xf32, strided<[1], offset: ?>>, vector<8xf32>
// CHECK-NEXT: } else {
// CHECK: arith.minsi %[[M0]], %c999
// CHECK: %[[TSUMS:.*]] = arith.addf {{.*}} : vector<8xf32>
// CHECK: vector.extract %[[TSUMS]][0] : f32 from vector<8xf32>
// CHECK: vector.extract %[[TSUMS]][7] : f32 from vector<8xf32>
func.func @dot_f32(%x: memref<1000x100xf32>, %v: memref<100xf32>, %t: memref<1000xf32>) {
  linalg.matvec ins(%x, %v : memref<1000x100xf32>, memref<100xf32>) outs(%t : memref<1000xf32>)
  return
}

// f64 with 4 lanes: after two levels each row has one lane; rows 0-3 and 4-7 are two vectors.
// AVX2-LABEL: func.func @dot_f64
// AVX2: %[[T:.*]]:8 = scf.if
// AVX2: vector.shuffle %[[T]]#0, %[[T]]#1 [0, 1, 4, 5] : vector<4xf64>, vector<4xf64>
// AVX2-NEXT: vector.shuffle %[[T]]#0, %[[T]]#1 [2, 3, 6, 7] : vector<4xf64>, vector<4xf64>
// AVX2: %[[S01:.*]] = arith.addf
// AVX2: %[[S23:.*]] = arith.addf
// AVX2: %[[S45:.*]] = arith.addf
// AVX2: %[[S67:.*]] = arith.addf
// AVX2: vector.shuffle %[[S01]], %[[S23]] [0, 2, 4, 6] : vector<4xf64>, vector<4xf64>
// AVX2-NEXT: vector.shuffle %[[S01]], %[[S23]] [1, 3, 5, 7] : vector<4xf64>, vector<4xf64>
// AVX2-NEXT: %[[R0:.*]] = arith.addf {{.*}} : vector<4xf64>
// AVX2: %[[R4:.*]] = arith.addf {{.*}} : vector<4xf64>
// AVX2: vector.store {{.*}}, %{{.*}}[%[[M0:.*]]] : memref<?xf64, strided<[1], offset: ?>>, vector<4xf64>
// AVX2: %[[M4:.*]] = arith.addi %[[M0]], %c4
// AVX2: vector.store {{.*}}, %{{.*}}[%[[M4]]] : memref<?xf64, strided<[1], offset: ?>>, vector<4xf64>
func.func @dot_f64(%x: memref<1000x100xf64>, %v: memref<100xf64>, %t: memref<1000xf64>) {
  linalg.matvec ins(%x, %v : memref<1000x100xf64>, memref<100xf64>) outs(%t : memref<1000xf64>)
  return
}
