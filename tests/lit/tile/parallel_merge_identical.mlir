// RUN: %tessera_opt %s --tessera-parallel-to-runtime | %FileCheck %s
// Outlined bodies that are the same function are compiled once: the second loop of @twice and
// the loop of @again call the first body; the loop that scales by 3 keeps a body of its own.

func.func @twice(%x: memref<?x4xf32>, %y: memref<?x4xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %two = arith.constant 2.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c4) step (%c1, %c1) {
    %v = memref.load %x[%i, %j] : memref<?x4xf32>
    %w = arith.mulf %v, %two : f32
    memref.store %w, %x[%i, %j] : memref<?x4xf32>
    scf.reduce
  }
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c4) step (%c1, %c1) {
    %v = memref.load %y[%i, %j] : memref<?x4xf32>
    %w = arith.mulf %v, %two : f32
    memref.store %w, %y[%i, %j] : memref<?x4xf32>
    scf.reduce
  }
  return
}

func.func @again(%x: memref<?x4xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %two = arith.constant 2.0 : f32
  %three = arith.constant 3.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c4) step (%c1, %c1) {
    %v = memref.load %x[%i, %j] : memref<?x4xf32>
    %w = arith.mulf %v, %two : f32
    memref.store %w, %x[%i, %j] : memref<?x4xf32>
    scf.reduce
  }
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c4) step (%c1, %c1) {
    %v = memref.load %x[%i, %j] : memref<?x4xf32>
    %w = arith.mulf %v, %three : f32
    memref.store %w, %x[%i, %j] : memref<?x4xf32>
    scf.reduce
  }
  return
}

// CHECK-LABEL: func.func @twice
// CHECK: constant @twice_parallel_0
// CHECK: constant @twice_parallel_0
// CHECK-LABEL: func.func private @twice_parallel_0
// CHECK-NOT: func.func private @twice_parallel_1
// CHECK-LABEL: func.func @again
// CHECK: constant @twice_parallel_0
// CHECK: constant @again_parallel_
// CHECK-LABEL: func.func private @again_parallel_
// CHECK: arith.constant 3.000000e+00
// CHECK-NOT: func.func private
