// RUN: %tessera_opt %s --tessera-parallel-to-runtime | %FileCheck %s
// An outermost scf.parallel becomes a call of tessParallelFor; its body is outlined into a
// function of (lo, hi, data) that reads the captured memref and index from a struct.

func.func @scale(%x: memref<?x4xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %two = arith.constant 2.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c4) step (%c1, %c1) {
    %v = memref.load %x[%i, %j] : memref<?x4xf32>
    %w = arith.mulf %v, %two : f32
    memref.store %w, %x[%i, %j] : memref<?x4xf32>
    scf.reduce
  } {tessera.grain = 8 : i64}
  return
}

// CHECK-LABEL: func.func private @tessParallelFor(!llvm.ptr, i64, i64, i64, (i64, i64, !llvm.ptr) -> (), !llvm.ptr) -> i32
// CHECK-LABEL: func.func @scale
// CHECK: llvm.alloca
// CHECK: builtin.unrealized_conversion_cast %{{.*}} : memref<?x4xf32> to !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>
// CHECK: llvm.store
// CHECK: %[[FN:.*]] = constant @scale_parallel_0 : (i64, i64, !llvm.ptr) -> ()
// CHECK: %[[GRAIN:.*]] = arith.constant 8 : i64
// CHECK: call @tessParallelFor(%{{.*}}, %{{.*}}, %{{.*}}, %[[GRAIN]], %[[FN]], %{{.*}})
// CHECK-NOT: scf.parallel
// CHECK-LABEL: func.func private @scale_parallel_0(%{{.*}}: i64, %{{.*}}: i64, %{{.*}}: !llvm.ptr)
// CHECK: llvm.load
// CHECK: builtin.unrealized_conversion_cast %{{.*}} : !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)> to memref<?x4xf32>
// CHECK: scf.for
// CHECK: arith.remui
// CHECK: arith.divui
// CHECK: memref.load
// CHECK: arith.mulf
// CHECK: memref.store
