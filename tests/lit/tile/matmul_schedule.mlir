// RUN: %tessera_opt %s --tessera-matmul-schedule | %FileCheck %s
// RUN: %tessera_opt %s --tessera-matmul-schedule="vector-bits=256" | %FileCheck %s --check-prefix=AVX2
// RUN: %tessera_opt %s --tessera-matmul-schedule="vector-bits=128 mr=4 nv=3 kc=64 mc=16 nc=96" | %FileCheck %s --check-prefix=SSE

#a = affine_map<(m, k, n) -> (m, k)>
#b = affine_map<(m, k, n) -> (k, n)>
#c = affine_map<(m, k, n) -> (m, n)>

// The loop order the schedule stage leaves (m, k, n), dynamic sizes.
// CHECK-LABEL: func.func @sgemm
// CHECK: %[[BP:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x256x64xf32>
// CHECK: scf.for %[[JC:.*]] = %{{.*}} to %{{.*}} step %c1024
// CHECK: scf.for %[[KC:.*]] = %{{.*}} to %{{.*}} step %c256
//   Packing B: one masked row of 16 lanes at a time, zero past N. Rows of B outermost (one
//   sequential read of each row), panels inside.
// CHECK: scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %c1
// CHECK-NEXT: %[[KK:.*]] = arith.addi %[[KC]], %[[K]]
// CHECK-NEXT: scf.for %[[P:.*]] = %{{.*}} to %{{.*}} step %c1
// CHECK: vector.transfer_read %arg1[%[[KK]], {{.*}}], %{{.*}} : memref<?x?xf32>, vector<16xf32>
// CHECK: vector.store %{{.*}}, %[[BP]][%[[P]], %[[K]], %c0]
//   The parallel loop over row blocks of C: each block is a call of the module's shared
//   row-block function for this kernel shape, on 2-D strided views of A and C.
// CHECK: scf.parallel (%[[IC:.*]]) = (%{{.*}}) to (%{{.*}}) step (%c96)
// CHECK: %[[A2:.*]] = memref.cast %arg0 : memref<?x?xf32> to memref<?x?xf32, strided<[?, 1], offset: ?>>
// CHECK: %[[C2:.*]] = memref.cast %arg2 : memref<?x?xf32> to memref<?x?xf32, strided<[?, 1], offset: ?>>
// CHECK: func.call @__tessera_matmul_block_f32_f32_6x4x16_kc256_mc96_au(%[[A2]], %[[C2]], %[[BP]], {{.*}}, %[[JC]], %[[KC]], {{.*}}, %[[IC]])
// CHECK: memref.dealloc %[[BP]]
// CHECK-NOT: linalg.generic
// CHECK: return

// AVX2-LABEL: func.func @sgemm
// AVX2: memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x256x16xf32>
// AVX2: func.call @__tessera_matmul_block_f32_f32_6x2x8_kc256_mc96
// AVX2-LABEL: func.func private @__tessera_matmul_block_f32_f32_6x2x8_kc256_mc96
// AVX2: scf.for %{{.*}} step %c6
// AVX2: iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)

// SSE-LABEL: func.func @sgemm
// SSE: memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x64x12xf32>
// SSE: scf.for %{{.*}} step %c96
// SSE: scf.for %{{.*}} step %c64
// SSE: scf.parallel {{.*}} step (%c16)
// SSE: func.call @__tessera_matmul_block_f32_f32_4x3x4_kc64_mc16
// SSE-LABEL: func.func private @__tessera_matmul_block_f32_f32_4x3x4_kc64_mc16
// SSE: scf.for %{{.*}} step %c4
// SSE: iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
func.func @sgemm(%A: memref<?x?xf32>, %B: memref<?x?xf32>, %C: memref<?x?xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%A, %B : memref<?x?xf32>, memref<?x?xf32>) outs(%C : memref<?x?xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// bf16 storage, f32 accumulation (a target without AVX512-BF16): B is widened once while
// packing, and the block's rows of A are widened into an [MC][KC] f32 copy (`_ac`) before the
// micro-kernel, which broadcasts from the copy. (With vdpbf16ps: matmul_bf16_dot.mlir.)
//   K = 300 is cut into two equal blocks of 152 (not 256 + 44).
// CHECK-LABEL: func.func @bf16_accumulate
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<2x152x64xf32>
// CHECK: vector.transfer_read %arg1{{.*}} : memref<300x70xbf16>, vector<16xbf16>
// CHECK: arith.extf %{{.*}} : vector<16xbf16> to vector<16xf32>
// CHECK: func.call @__tessera_matmul_block_bf16_f32_6x4x16_kc152_mc96_au_ac(
// CHECK-NOT: linalg.generic
func.func @bf16_accumulate(%A: memref<33x300xbf16>, %B: memref<300x70xbf16>, %C: memref<33x70xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%A, %B : memref<33x300xbf16>, memref<300x70xbf16>) outs(%C : memref<33x70xf32>) {
  ^bb0(%x: bf16, %y: bf16, %acc: f32):
    %xe = arith.extf %x : bf16 to f32
    %ye = arith.extf %y : bf16 to f32
    %p = arith.mulf %xe, %ye : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// Batched, with B broadcast over the batch, f64 (8 lanes): the batch loop is outermost and
// sequential, B is indexed without it.
// CHECK-LABEL: func.func @batched_f64
// CHECK: memref<?x256x32xf64>
// CHECK: scf.for %[[Z:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: scf.parallel
// CHECK: memref.subview %arg0[%[[Z]], 0, 0] {{.*}} : memref<?x?x?xf64> to memref<?x?xf64, strided<[?, 1], offset: ?>>
// CHECK: memref.subview %arg2[%[[Z]], 0, 0] {{.*}} : memref<?x?x?xf64> to memref<?x?xf64, strided<[?, 1], offset: ?>>
// CHECK: func.call @__tessera_matmul_block_f64_f64_6x4x8_kc256_mc96_au
func.func @batched_f64(%A: memref<?x?x?xf64>, %B: memref<?x?xf64>, %C: memref<?x?x?xf64>) {
  linalg.generic {indexing_maps = [affine_map<(z, m, k, n) -> (z, m, k)>, affine_map<(z, m, k, n) -> (k, n)>,
                                   affine_map<(z, m, k, n) -> (z, m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction", "parallel"]}
      ins(%A, %B : memref<?x?x?xf64>, memref<?x?xf64>) outs(%C : memref<?x?x?xf64>) {
  ^bb0(%x: f64, %y: f64, %acc: f64):
    %p = arith.mulf %x, %y : f64
    %s = arith.addf %acc, %p : f64
    linalg.yield %s : f64
  }
  return
}

// A stored transposed ([k, m]): its 2-D view is a transposed (strided) view, no copy.
// CHECK-LABEL: func.func @a_transposed
// CHECK: scf.parallel
// CHECK: %[[T:.*]] = memref.transpose %arg0 (d0, d1) -> (d1, d0) : memref<?x?xf32> to memref<?x?xf32, strided<[1, ?]>>
// CHECK: memref.cast %[[T]] : memref<?x?xf32, strided<[1, ?]>> to memref<?x?xf32, strided<[1, ?], offset: ?>>
// CHECK: func.call @__tessera_matmul_block_f32_f32_6x4x16_kc256_mc96_ap
func.func @a_transposed(%A: memref<?x?xf32>, %B: memref<?x?xf32>, %C: memref<?x?xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, k, n) -> (k, m)>, #b, #c],
                  iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%A, %B : memref<?x?xf32>, memref<?x?xf32>) outs(%C : memref<?x?xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// The named op is scheduled too.
// CHECK-LABEL: func.func @named
// CHECK: scf.parallel
// CHECK-NOT: linalg.matmul
func.func @named(%A: memref<64x64xf32>, %B: memref<64x64xf32>, %C: memref<64x64xf32>) {
  linalg.matmul ins(%A, %B : memref<64x64xf32>, memref<64x64xf32>) outs(%C : memref<64x64xf32>)
  return
}

// Not contractions of this form: left alone (a fused producer in the body, integers, tensors
// before bufferization). The matvec between them gets the GEMV schedule (vector FMAs over rows).
// CHECK-LABEL: func.func @left_alone
// CHECK-COUNT-2: linalg.generic
// CHECK: scf.parallel
// CHECK: vector.fma
// CHECK: linalg.matmul
func.func @left_alone(%A: memref<8x8xf32>, %B: memref<8x8xf32>, %C: memref<8x8xf32>,
                      %I: memref<8x8xi32>, %IC: memref<8x8xi32>, %v: memref<8xf32>, %w: memref<8xf32>,
                      %T: tensor<8x8xf32>) -> tensor<8x8xf32> {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%A, %B : memref<8x8xf32>, memref<8x8xf32>) outs(%C : memref<8x8xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %e = math.exp %x : f32
    %p = arith.mulf %e, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%I, %I : memref<8x8xi32>, memref<8x8xi32>) outs(%IC : memref<8x8xi32>) {
  ^bb0(%x: i32, %y: i32, %acc: i32):
    %p = arith.muli %x, %y : i32
    %s = arith.addi %acc, %p : i32
    linalg.yield %s : i32
  }
  linalg.generic {indexing_maps = [affine_map<(m, k) -> (m, k)>, affine_map<(m, k) -> (k)>, affine_map<(m, k) -> (m)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%A, %v : memref<8x8xf32>, memref<8xf32>) outs(%w : memref<8xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  %r = linalg.matmul ins(%T, %T : tensor<8x8xf32>, tensor<8x8xf32>) outs(%T : tensor<8x8xf32>) -> tensor<8x8xf32>
  return %r : tensor<8x8xf32>
}

// The shared row-block functions, one per kernel shape, element types and A layout (_au: A's
// k index contiguous; _at: its m index, a transposed A; _ap: a transposed A that is packed),
// after the functions that call them.
// @sgemm and @named share the f32 one.
// CHECK-LABEL: func.func private @__tessera_matmul_block_f32_f32_6x4x16_kc256_mc96_au(
// CHECK-SAME: %arg0: memref<?x?xf32, strided<[?, 1], offset: ?>>, %arg1: memref<?x?xf32, strided<[?, 1], offset: ?>>, %arg2: memref<?x256x64xf32>
// CHECK-SAME: attributes {passthrough = ["noinline"]}
// CHECK: %[[SCRATCH:.*]] = memref.alloc() {alignment = 64 : i64} : memref<6x64xf32>
// CHECK: scf.for
// CHECK: scf.for %{{.*}} step %c6
//   The micro-kernel: 6 x 4 accumulators in vector registers across K. Two copies of the K
//   loop: all 6 rows inside A (rows m0 + r), or the last rows clamped to row M - 1.
// CHECK: scf.if %{{.*}} -> (vector<16xf32>
// CHECK: scf.for %{{.*}} iter_args(%{{.*}} = %cst{{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-4: vector.load %arg2
// CHECK: memref.load %arg0
// CHECK: vector.broadcast %{{.*}} : f32 to vector<16xf32>
// CHECK-COUNT-4: vector.fma
// CHECK-COUNT-5: memref.load %arg0
// CHECK: scf.yield
//   C += acc: whole tiles in bounds; edge tiles through the scratch tile, then a loop over the
//   valid rows with masked accesses of C.
// CHECK: scf.if
// CHECK: vector.transfer_read %arg1{{.*}} {in_bounds = [true]}
// CHECK: vector.transfer_write {{.*}} {in_bounds = [true]}
// CHECK: } else {
// CHECK-COUNT-24: vector.store %{{.*}}, %[[SCRATCH]]
// CHECK: scf.for
// CHECK: vector.load %[[SCRATCH]]
// CHECK: vector.transfer_read %arg1[{{.*}}], %{{.*}} : memref<?x?xf32, strided<[?, 1], offset: ?>>, vector<16xf32>
// CHECK: vector.transfer_write %{{.*}}, %arg1[{{.*}}] : vector<16xf32>, memref<?x?xf32, strided<[?, 1], offset: ?>>
// CHECK: memref.dealloc %[[SCRATCH]]
// CHECK: return
//   bf16 storage, f32 accumulation: the block's rows of A are widened into an f32 copy, one
//   vector at a time, and the micro-kernel broadcasts from the copy.
// CHECK-LABEL: func.func private @__tessera_matmul_block_bf16_f32_6x4x16_kc152_mc96_au_ac
// CHECK: %[[ACONV:.*]] = memref.alloc() {alignment = 64 : i64} : memref<96x152xf32>
// CHECK: vector.transfer_read %arg0{{.*}} : memref<?x?xbf16, strided<[?, 1], offset: ?>>, vector<16xbf16>
// CHECK: arith.extf %{{.*}} : vector<16xbf16> to vector<16xf32>
// CHECK: memref.load %[[ACONV]]
// CHECK-LABEL: func.func private @__tessera_matmul_block_f64_f64_6x4x8_kc256_mc96_au
// CHECK: vector.fma {{.*}} : vector<8xf64>
//   A transposed A, read for several panels (N > NR): its block is packed into 6-row slivers
//   (padded to 8) with one masked vector read along m per k, and the kernel reads the slivers.
// CHECK-LABEL: func.func private @__tessera_matmul_block_f32_f32_6x4x16_kc256_mc96_ap(
// CHECK-SAME: %arg0: memref<?x?xf32, strided<[1, ?], offset: ?>>
// CHECK: %[[AP:.*]] = memref.alloc() {alignment = 64 : i64} : memref<16x256x8xf32>
// CHECK: memref.transpose %arg0 (d0, d1) -> (d1, d0)
// CHECK: vector.create_mask %{{.*}} : vector<8xi1>
// CHECK: vector.transfer_read %{{.*}} : memref<?x?xf32, strided<[?, 1], offset: ?>>, vector<8xf32>
// CHECK: vector.store %{{.*}}, %[[AP]]
// CHECK: memref.load %[[AP]]
// CHECK: memref.dealloc %[[AP]]
// CHECK-NOT: func.func private @__tessera_matmul_block
