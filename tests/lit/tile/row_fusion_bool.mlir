// RUN: %tessera_opt %s --tessera-cpu-vectorize | %FileCheck %s
// Bool (i1) buffers in vectorized loops. An i1 buffer holds one byte per element (memref.load
// and memref.store of i1, and NumPy's bool arrays), but a vector<16xi1> load or store would
// touch 16 bits: the vector loop reads the bytes as vector<16xi8> and compares them with zero,
// and writes a vector<16xi1> as bytes (arith.extui). The rows' tails stay scalar i1 accesses.
// Before, any i1 operand kept the whole loop scalar: the causal mask of attention's gradient
// made its masked softmax a scalar loop. Rows shorter than 16 lanes stay scalar (LLVM
// vectorizes those across rows itself, and did it better: @short_rows).

#id2 = affine_map<(i, j) -> (i, j)>

// CHECK-LABEL: func.func @masked_scale
// CHECK: %[[DESC:.*]] = builtin.unrealized_conversion_cast %arg0 : memref<4x37xi1> to !llvm.struct
// CHECK: %[[BASE:.*]] = llvm.extractvalue %[[DESC]][1]
// CHECK: %[[PTR:.*]] = llvm.getelementptr inbounds %[[BASE]][%{{.*}}] : (!llvm.ptr, i64) -> !llvm.ptr, i8
// CHECK: %[[BYTES:.*]] = llvm.load %[[PTR]] {alignment = 1 : i64} : !llvm.ptr -> vector<16xi8>
// CHECK: %[[MASK:.*]] = arith.cmpi ne, %[[BYTES]], %{{.*}} : vector<16xi8>
// CHECK: vector.load %arg1{{.*}} : memref<4x37xf32>, vector<16xf32>
// CHECK: arith.select %[[MASK]], %{{.*}}, %{{.*}} : vector<16xi1>, vector<16xf32>
// CHECK: memref.load %arg0{{.*}} : memref<4x37xi1>
// CHECK-NOT: linalg.generic
func.func @masked_scale(%m: memref<4x37xi1>, %x: memref<4x37xf32>) -> memref<4x37xf32> {
  %out = memref.alloc() {alignment = 64 : i64} : memref<4x37xf32>
  %zero = arith.constant -1.0e30 : f32
  %s = arith.constant 0.125 : f32
  linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%m, %x : memref<4x37xi1>, memref<4x37xf32>) outs(%out : memref<4x37xf32>) {
  ^bb0(%keep: i1, %v: f32, %o: f32):
    %y = arith.mulf %v, %s : f32
    %r = arith.select %keep, %y, %zero : f32
    linalg.yield %r : f32
  }
  return %out : memref<4x37xf32>
}

// A comparison written to a bool buffer: bytes 0 / 1 through arith.extui.
// CHECK-LABEL: func.func @positive
// CHECK: %[[CMP:.*]] = arith.cmpf ogt, %{{.*}}, %{{.*}} : vector<16xf32>
// CHECK: %[[EXT:.*]] = arith.extui %[[CMP]] : vector<16xi1> to vector<16xi8>
// CHECK: llvm.store %[[EXT]], %{{.*}} {alignment = 1 : i64} : vector<16xi8>, !llvm.ptr
// CHECK: memref.store %{{.*}}, %{{.*}} : memref<4x37xi1>
func.func @positive(%x: memref<4x37xf32>) -> memref<4x37xi1> {
  %out = memref.alloc() {alignment = 64 : i64} : memref<4x37xi1>
  %zero = arith.constant 0.0 : f32
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x37xf32>) outs(%out : memref<4x37xi1>) {
  ^bb0(%v: f32, %o: i1):
    %c = arith.cmpf ogt, %v, %zero : f32
    linalg.yield %c : i1
  }
  return %out : memref<4x37xi1>
}

// Rows of 4: the loop stays scalar.
// CHECK-LABEL: func.func @short_rows
// CHECK-NOT: llvm.load
// CHECK: memref.load %arg0{{.*}} : memref<8x4xi1>
// CHECK-NOT: vector<4xi8>
func.func @short_rows(%m: memref<8x4xi1>, %x: memref<8x4xf32>) -> memref<8x4xf32> {
  %out = memref.alloc() {alignment = 64 : i64} : memref<8x4xf32>
  %zero = arith.constant 0.0 : f32
  linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%m, %x : memref<8x4xi1>, memref<8x4xf32>) outs(%out : memref<8x4xf32>) {
  ^bb0(%keep: i1, %v: f32, %o: f32):
    %r = arith.select %keep, %v, %zero : f32
    linalg.yield %r : f32
  }
  return %out : memref<8x4xf32>
}
