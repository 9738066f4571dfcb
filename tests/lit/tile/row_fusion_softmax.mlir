// RUN: %tessera_opt %s --tessera-cpu-vectorize | %FileCheck %s
// softmax on buffers (what bufferization leaves): fill, max, exp, fill, sum, scale. All six ops
// share the row loop, so they become one nest: a parallel loop over row blocks, then per row
// each op's vectorized inner loop; reductions keep a vector accumulator folded in lane order.

func.func @softmax(%x: memref<64x100xf32>, %out: memref<64x100xf32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %m = memref.alloc() : memref<64xf32>
  linalg.fill ins(%ninf : f32) outs(%m : memref<64xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<64x100xf32>) outs(%m : memref<64xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%x, %m : memref<64x100xf32>, memref<64xf32>) outs(%out : memref<64x100xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.subf %a, %b : f32
    %e = math.exp %d : f32
    linalg.yield %e : f32
  }
  %s = memref.alloc() : memref<64xf32>
  linalg.fill ins(%zero : f32) outs(%s : memref<64xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%out : memref<64x100xf32>) outs(%s : memref<64xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  memref.dealloc %m : memref<64xf32>
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%s : memref<64xf32>) outs(%out : memref<64x100xf32>) {
  ^bb0(%a: f32, %o: f32):
    %inv = arith.divf %one, %a : f32
    %r = arith.mulf %o, %inv : f32
    linalg.yield %r : f32
  }
  memref.dealloc %s : memref<64xf32>
  return
}

// CHECK-LABEL: func.func @softmax
// CHECK-NOT: linalg.
// CHECK: scf.parallel
// CHECK: scf.for
// CHECK: memref.store
// CHECK: scf.for {{.*}} iter_args
// CHECK: vector.load {{.*}} : memref<64x100xf32>, vector<16xf32>
// CHECK: arith.maximumf {{.*}} : vector<16xf32>
// CHECK: vector.reduction <maximumf>
// CHECK: math.exp {{.*}} : vector<16xf32>
// CHECK: vector.store
// CHECK: vector.reduction <add>
// CHECK: arith.mulf {{.*}} : vector<16xf32>
// CHECK-NOT: scf.parallel
// CHECK-NOT: linalg.
// CHECK: memref.dealloc
// CHECK: memref.dealloc
// CHECK: return

// A rank-1 elementwise chain is cut into blocks of 16384 elements run in parallel.
// CHECK-LABEL: func.func @chain
// CHECK: %[[N:.*]] = arith.constant 16384 : index
// CHECK: scf.parallel
// CHECK: math.erf {{.*}} : vector<16xf32>
// CHECK-NOT: linalg.generic
func.func @chain(%x: memref<100000xf32>, %out: memref<100000xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                  iterator_types = ["parallel"]}
      ins(%x : memref<100000xf32>) outs(%out : memref<100000xf32>) {
  ^bb0(%a: f32, %o: f32):
    %e = math.erf %a : f32
    linalg.yield %e : f32
  }
  return
}

// A reduction over the outer loop, or over two loops, is left to convert-linalg-to-loops.
// CHECK-LABEL: func.func @column_sum
// CHECK: linalg.generic
// CHECK-NOT: scf.parallel
func.func @column_sum(%x: memref<8x100xf32>, %out: memref<100xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>],
                  iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<8x100xf32>) outs(%out : memref<100xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  return
}
