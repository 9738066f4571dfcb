// RUN: %tessera_opt %s --tessera-cpu-vectorize | %FileCheck %s
// Gathers, copies into views and linalg.map under --tessera-cpu-vectorize: an input indexed by
// sums of loop indices times constants (a convolution's patches) is read at the computed
// indices, with vector loads where the innermost loop walks it with step 1 and scalar loads
// otherwise; a gather is a group of its own and is not formed when it reads the buffer it writes.
// memref.copy into a strided view, linalg.map and linalg.transpose become loops as the other
// elementwise ops.

#gather = affine_map<(c, i, n, x) -> (n, c, x + i)>
#strided = affine_map<(c, i, n, x) -> (n, c, x * 2 + i)>
#id4 = affine_map<(c, i, n, x) -> (c, i, n, x)>

// CHECK-LABEL: func.func @patches
// CHECK: scf.parallel
// CHECK: %[[COL:.*]] = arith.addi %arg{{[0-9]+}}, %arg{{[0-9]+}} : index
// CHECK-NEXT: vector.load %arg0[%arg{{[0-9]+}}, %arg{{[0-9]+}}, %[[COL]]] : memref<2x3x40xf32>, vector<16xf32>
// CHECK: vector.store {{.*}} : memref<3x4x2x32xf32>, vector<16xf32>
// CHECK-NOT: linalg.generic
func.func @patches(%x: memref<2x3x40xf32>) -> memref<3x4x2x32xf32> {
  %out = memref.alloc() {alignment = 64 : i64} : memref<3x4x2x32xf32>
  linalg.generic {indexing_maps = [#gather, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : memref<2x3x40xf32>) outs(%out : memref<3x4x2x32xf32>) {
  ^bb0(%a: f32, %b: f32):
    linalg.yield %a : f32
  }
  return %out : memref<3x4x2x32xf32>
}

// Stride 2 along the innermost loop: scalar loads at 2 x + i.
// CHECK-LABEL: func.func @strided_patches
// CHECK: scf.parallel
// CHECK: %[[TWO_X:.*]] = arith.muli %arg{{[0-9]+}}, %c2{{.*}} : index
// CHECK-NEXT: %[[COL:.*]] = arith.addi %[[TWO_X]], %arg{{[0-9]+}} : index
// CHECK: memref.load %arg0[%{{.*}}, %{{.*}}, %[[COL]]] : memref<2x3x80xf32>
// CHECK-NOT: vector.load
func.func @strided_patches(%x: memref<2x3x80xf32>) -> memref<3x4x2x32xf32> {
  %out = memref.alloc() {alignment = 64 : i64} : memref<3x4x2x32xf32>
  linalg.generic {indexing_maps = [#strided, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : memref<2x3x80xf32>) outs(%out : memref<3x4x2x32xf32>) {
  ^bb0(%a: f32, %b: f32):
    linalg.yield %a : f32
  }
  return %out : memref<3x4x2x32xf32>
}

// Reading what it writes (two views of one buffer): left to linalg's sequential loops.
#self = affine_map<(i, j) -> (i, j + 1)>
#id2 = affine_map<(i, j) -> (i, j)>
// CHECK-LABEL: func.func @gather_self
// CHECK: linalg.generic
func.func @gather_self(%x: memref<4x33xf32>) {
  %v = memref.subview %x[0, 0] [4, 32] [1, 1] : memref<4x33xf32> to memref<4x32xf32, strided<[33, 1]>>
  linalg.generic {indexing_maps = [#self, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x33xf32>) outs(%v : memref<4x32xf32, strided<[33, 1]>>) {
  ^bb0(%a: f32, %b: f32):
    linalg.yield %a : f32
  }
  return
}

// A padded copy: the fill (linalg.map) and the copy into the interior view, both vectorized.
// CHECK-LABEL: func.func @pad
// CHECK: scf.parallel
// CHECK: vector.store %{{.*}}, %[[OUT:.*]][{{.*}}] : memref<4x36xf32>, vector<16xf32>
// CHECK: %[[IN:.*]] = memref.subview %[[OUT]][0, 2] [4, 32] [1, 1]
// CHECK: scf.parallel
// CHECK: %[[V:.*]] = vector.load %arg0[{{.*}}] : memref<4x32xf32>, vector<16xf32>
// CHECK: vector.store %[[V]], %[[IN]][{{.*}}] : memref<4x32xf32, strided<[36, 1], offset: 2>>, vector<16xf32>
// CHECK-NOT: memref.copy
// CHECK-NOT: linalg.map
func.func @pad(%x: memref<4x32xf32>) -> memref<4x36xf32> {
  %out = memref.alloc() {alignment = 64 : i64} : memref<4x36xf32>
  %zero = arith.constant 0.0 : f32
  linalg.map outs(%out : memref<4x36xf32>) () {
    linalg.yield %zero : f32
  }
  %in = memref.subview %out[0, 2] [4, 32] [1, 1] : memref<4x36xf32> to memref<4x32xf32, strided<[36, 1], offset: 2>>
  memref.copy %x, %in : memref<4x32xf32> to memref<4x32xf32, strided<[36, 1], offset: 2>>
  return %out : memref<4x36xf32>
}

// A copy between contiguous buffers stays a memcpy.
// CHECK-LABEL: func.func @contiguous_copy
// CHECK: memref.copy %arg0, %arg1
func.func @contiguous_copy(%x: memref<4x32xf32>, %out: memref<4x32xf32>) {
  memref.copy %x, %out : memref<4x32xf32> to memref<4x32xf32>
  return
}

// A transpose becomes a copy through the inverse permutation: result[a, b, c] = x[c, a, b].
// CHECK-LABEL: func.func @transpose3
// CHECK: scf.parallel
// CHECK: %[[V:.*]] = memref.load %arg0[%[[C:arg[0-9]+]], %[[A:arg[0-9]+]], %[[B:arg[0-9]+]]] : memref<2x3x4xf32>
// CHECK-NEXT: memref.store %[[V]], %{{.*}}[%[[A]], %[[B]], %[[C]]] : memref<3x4x2xf32>
// CHECK-NOT: linalg.transpose
func.func @transpose3(%x: memref<2x3x4xf32>) -> memref<3x4x2xf32> {
  %out = memref.alloc() {alignment = 64 : i64} : memref<3x4x2xf32>
  linalg.transpose ins(%x : memref<2x3x4xf32>) outs(%out : memref<3x4x2xf32>) permutation = [1, 2, 0]
  return %out : memref<3x4x2xf32>
}
