// RUN: %tessera_opt %s --tessera-parallel-to-runtime | %FileCheck %s
// Without a tessera.grain attribute, the grain comes from the body's estimated work (2^17
// operations at least per chunk): a loop whose whole work is below that gets grain = its trip
// count (the runtime runs it inline, no thread woken); a big loop is split evenly into blocks of
// that much work; a body whose inner trip count has no static bound, or that calls a function,
// keeps grain 1.

// 64 iterations of a 16-iteration inner loop of 3 operations: about 4 K operations in all.
func.func @small(%x: memref<64x256xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %c256 = arith.constant 256 : index
  %two = arith.constant dense<2.0> : vector<16xf32>
  scf.parallel (%i) = (%c0) to (%c64) step (%c1) {
    scf.for %j = %c0 to %c256 step %c16 {
      %v = vector.load %x[%i, %j] : memref<64x256xf32>, vector<16xf32>
      %w = arith.mulf %v, %two : vector<16xf32>
      vector.store %w, %x[%i, %j] : memref<64x256xf32>, vector<16xf32>
    }
    scf.reduce
  }
  return
}

// 1024 rows of 4096 columns (256 vector steps of 4 operations each, about 1 K per row): 128
// rows hold 2^17 operations, so 8 blocks of 128 rows.
func.func @big(%x: memref<1024x4096xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %c1024 = arith.constant 1024 : index
  %c4096 = arith.constant 4096 : index
  %two = arith.constant dense<2.0> : vector<16xf32>
  scf.parallel (%i) = (%c0) to (%c1024) step (%c1) {
    scf.for %j = %c0 to %c4096 step %c16 {
      %v = vector.load %x[%i, %j] : memref<1024x4096xf32>, vector<16xf32>
      %w = arith.mulf %v, %two : vector<16xf32>
      vector.store %w, %x[%i, %j] : memref<1024x4096xf32>, vector<16xf32>
    }
    scf.reduce
  }
  return
}

// Blocks of rows as the row fusion emits them: the inner bound min(lo + 8, 1000) bounds the trip
// count by 8 (about 8 K operations a block); 16 blocks hold 2^17, so 125 blocks split into 7
// blocks of 18.
func.func @blocks(%x: memref<1000x4096xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %c125 = arith.constant 125 : index
  %c1000 = arith.constant 1000 : index
  %c4096 = arith.constant 4096 : index
  %two = arith.constant dense<2.0> : vector<16xf32>
  scf.parallel (%b) = (%c0) to (%c125) step (%c1) {
    %lo = arith.muli %b, %c8 : index
    %end = arith.addi %lo, %c8 : index
    %hi = arith.minui %end, %c1000 : index
    scf.for %i = %lo to %hi step %c1 {
      scf.for %j = %c0 to %c4096 step %c16 {
        %v = vector.load %x[%i, %j] : memref<1000x4096xf32>, vector<16xf32>
        %w = arith.mulf %v, %two : vector<16xf32>
        vector.store %w, %x[%i, %j] : memref<1000x4096xf32>, vector<16xf32>
      }
    }
    scf.reduce
  }
  return
}

// The inner trip count is a function argument: no estimate, grain 1.
func.func @unknown(%x: memref<64x?xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %two = arith.constant 2.0 : f32
  scf.parallel (%i) = (%c0) to (%c64) step (%c1) {
    scf.for %j = %c0 to %n step %c1 {
      %v = memref.load %x[%i, %j] : memref<64x?xf32>
      %w = arith.mulf %v, %two : f32
      memref.store %w, %x[%i, %j] : memref<64x?xf32>
    }
    scf.reduce
  }
  return
}

// A call (a matmul micro-kernel) does unknown work: grain 1.
func.func private @kernel(memref<64x256xf32>, index)
func.func @calls(%x: memref<64x256xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  scf.parallel (%i) = (%c0) to (%c64) step (%c1) {
    func.call @kernel(%x, %i) : (memref<64x256xf32>, index) -> ()
    scf.reduce
  }
  return
}

// CHECK-LABEL: func.func @small
// CHECK: %[[G:.*]] = arith.constant 64 : i64
// CHECK: call @tessParallelFor(%{{.*}}, %{{.*}}, %{{.*}}, %[[G]],
// CHECK-LABEL: func.func @big
// CHECK: %[[G:.*]] = arith.constant 128 : i64
// CHECK: call @tessParallelFor(%{{.*}}, %{{.*}}, %{{.*}}, %[[G]],
// CHECK-LABEL: func.func @blocks
// CHECK: %[[G:.*]] = arith.constant 18 : i64
// CHECK: call @tessParallelFor(%{{.*}}, %{{.*}}, %{{.*}}, %[[G]],
// CHECK-LABEL: func.func @unknown
// CHECK: %[[G:.*]] = arith.constant 1 : i64
// CHECK: call @tessParallelFor(%{{.*}}, %{{.*}}, %{{.*}}, %[[G]],
// CHECK-LABEL: func.func @calls
// CHECK: %[[G:.*]] = arith.constant 1 : i64
// CHECK: call @tessParallelFor(%{{.*}}, %{{.*}}, %{{.*}}, %[[G]],
