// RUN: %tessera_opt %s --tessera-cpu-vectorize | %FileCheck %s
// How the row loops of --tessera-cpu-vectorize treat memory: row-local intermediates in scratch
// rows, streaming stores for big final outputs, the next row prefetched, row-invariant loads
// hoisted out of inner loops, reductions with four vector accumulators.

// softmax with a 64 MiB output: exp(x - max) lives in a scratch row (an alloca at the top of
// the parallel loop's body), the sum reads it there, and the output is written once, with
// streaming stores. The exp pass, x's last reader, prefetches the next row of x.
// CHECK-LABEL: func.func @softmax_big
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4096x4096xf32>
// CHECK: scf.parallel
// CHECK-NEXT: %[[ROW:.*]] = memref.alloca() {alignment = 64 : i64} : memref<1x4096xf32>
//   max: four accumulators over blocks of 64 lanes, then one over the remaining vectors.
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-4: arith.maximumf {{.*}} : vector<16xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>)
// CHECK-COUNT-3: arith.maximumf {{.*}} : vector<16xf32>
// CHECK: vector.reduction <maximumf>
//   exp: the row maximum loaded once, before the loop.
// CHECK: %[[MAX:.*]] = memref.load %{{.*}}[%{{.*}}] : memref<4096xf32>
// CHECK: scf.for
// CHECK: memref.prefetch %arg0[{{.*}}], read, locality<3>, data
// CHECK-NOT: memref.load
// CHECK: math.exp {{.*}} : vector<16xf32>
// CHECK: vector.store %{{.*}}, %[[ROW]][%c0{{.*}}, %{{.*}}] : memref<1x4096xf32>, vector<16xf32>
// CHECK: vector.load %[[ROW]]
// CHECK: vector.reduction <add>
//   scale: reads the scratch row, streams the output.
// CHECK: arith.divf
// CHECK: scf.for
// CHECK: vector.load %[[ROW]]
// CHECK: vector.store %{{.*}}, %[[OUT]][{{.*}}] {nontemporal = true} : memref<4096x4096xf32>, vector<16xf32>
// CHECK: return %[[OUT]]
func.func @softmax_big(%x: memref<4096x4096xf32>) -> memref<4096x4096xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %m = memref.alloc() {alignment = 64 : i64} : memref<4096xf32>
  %out = memref.alloc() {alignment = 64 : i64} : memref<4096x4096xf32>
  linalg.fill ins(%ninf : f32) outs(%m : memref<4096xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4096x4096xf32>) outs(%m : memref<4096xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%x, %m : memref<4096x4096xf32>, memref<4096xf32>) outs(%out : memref<4096x4096xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.subf %a, %b : f32
    %e = math.exp %d : f32
    linalg.yield %e : f32
  }
  %s = memref.alloc() {alignment = 64 : i64} : memref<4096xf32>
  linalg.fill ins(%zero : f32) outs(%s : memref<4096xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%out : memref<4096x4096xf32>) outs(%s : memref<4096xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%s : memref<4096xf32>) outs(%out : memref<4096x4096xf32>) {
  ^bb0(%a: f32, %o: f32):
    %inv = arith.divf %one, %a : f32
    %r = arith.mulf %o, %inv : f32
    linalg.yield %r : f32
  }
  memref.dealloc %m : memref<4096xf32>
  memref.dealloc %s : memref<4096xf32>
  return %out : memref<4096x4096xf32>
}

// A row-local temporary that nothing outside the group reads lives only in a scratch row: its
// allocation goes. A small output (under 16 MiB) gets ordinary stores; no prefetch for a small
// input.
// CHECK-LABEL: func.func @local_temp
// CHECK: %[[Y:.*]] = memref.alloc() {alignment = 64 : i64} : memref<64x256xf32>
// CHECK-NOT: memref.alloc()
// CHECK: scf.parallel
// CHECK-NEXT: %[[T:.*]] = memref.alloca() {alignment = 64 : i64} : memref<1x256xf32>
// CHECK: vector.store %{{.*}}, %[[T]]
// CHECK: vector.load %[[T]]
// CHECK-NOT: nontemporal
// CHECK: vector.store %{{.*}}, %[[Y]]
// CHECK-NOT: memref.prefetch
// CHECK-NOT: memref.dealloc
// CHECK: return %[[Y]]
func.func @local_temp(%x: memref<64x256xf32>) -> memref<64x256xf32> {
  %y = memref.alloc() {alignment = 64 : i64} : memref<64x256xf32>
  %t = memref.alloc() {alignment = 64 : i64} : memref<64x256xf32>
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<64x256xf32>) outs(%t : memref<64x256xf32>) {
  ^bb0(%a: f32, %o: f32):
    %e = math.exp %a : f32
    linalg.yield %e : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%t : memref<64x256xf32>) outs(%y : memref<64x256xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.mulf %a, %a : f32
    linalg.yield %r : f32
  }
  memref.dealloc %t : memref<64x256xf32>
  return %y : memref<64x256xf32>
}

// Row statistics and what depends only on them (rsqrt of the variance) are computed once per
// row, before the vector loop. An output the op may alias (a function argument, like the input
// of the statistics) keeps its loads in the loop.
// CHECK-LABEL: func.func @normalize
// CHECK: scf.for %[[I:.*]] =
// CHECK: memref.load %arg1[%[[I]]]
// CHECK-NEXT: arith.addf
// CHECK: math.rsqrt
// CHECK: scf.for
// CHECK-NOT: math.rsqrt
// CHECK: vector.load %arg0
// CHECK: vector.store
// CHECK-LABEL: func.func @clobbered
// CHECK: scf.for
// CHECK: scf.for
// CHECK: memref.load %arg1
// CHECK: vector.store
func.func @normalize(%x: memref<64x256xf32>, %var: memref<64xf32>) -> memref<64x256xf32> {
  %eps = arith.constant 1.0e-5 : f32
  %y = memref.alloc() {alignment = 64 : i64} : memref<64x256xf32>
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%x, %var : memref<64x256xf32>, memref<64xf32>) outs(%y : memref<64x256xf32>) {
  ^bb0(%a: f32, %v: f32, %o: f32):
    %ve = arith.addf %v, %eps : f32
    %r = math.rsqrt %ve : f32
    %n = arith.mulf %a, %r : f32
    linalg.yield %n : f32
  }
  return %y : memref<64x256xf32>
}
func.func @clobbered(%x: memref<64x256xf32>, %s: memref<64xf32>, %y: memref<64x256xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%x, %s : memref<64x256xf32>, memref<64xf32>) outs(%y : memref<64x256xf32>) {
  ^bb0(%a: f32, %v: f32, %o: f32):
    %n = arith.mulf %a, %v : f32
    linalg.yield %n : f32
  }
  return
}
