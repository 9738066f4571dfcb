// RUN: %tessera_opt %s --tessera-forall-stack-scratch | %FileCheck %s
// An scf.forall body's own buffers (allocated and freed in the body) whose sizes are bounded by
// constants (min(x, 640): a GEMV chain's chunk) become stack buffers of the bound, viewed at
// the dynamic size with the alloc's type; the stack is saved and restored around the body. A
// size without a constant bound stays on the heap.

// CHECK-LABEL: func.func @chunks
// CHECK: scf.forall
// CHECK: %[[SP:.*]] = llvm.intr.stacksave
// CHECK: %[[A:.*]] = memref.alloca() {alignment = 64 : i64} : memref<640xf64>
// CHECK: memref.reinterpret_cast %[[A]] to offset: [0], sizes: [%{{.*}}], strides: [1] : memref<640xf64> to memref<?xf64>
// CHECK: %[[B:.*]] = memref.alloca() {alignment = 64 : i64} : memref<640x1xf32>
// CHECK: memref.reinterpret_cast %[[B]] to offset: [0], sizes: [%{{.*}}, 1], strides: [1, 1] : memref<640x1xf32> to memref<?x1xf32>
// CHECK: memref.alloc(%{{.*}}) : memref<?xf64>
// CHECK-NOT: memref.dealloc %{{.*}} : memref<?x1xf32>
// CHECK: llvm.intr.stackrestore %[[SP]]
func.func @chunks(%n: index, %out: memref<10000xf64>) {
  %c640 = arith.constant 640 : index
  %c10000 = arith.constant 10000 : index
  %cst = arith.constant 1.0 : f64
  %cst32 = arith.constant 1.0 : f32
  scf.forall (%i) in (16) {
    %lo = arith.muli %i, %c640 : index
    %left = arith.subi %c10000, %lo : index
    %size = arith.minsi %left, %c640 : index
    %a = memref.alloc(%size) {alignment = 64 : i64} : memref<?xf64>
    %b = memref.alloc(%size) {alignment = 64 : i64} : memref<?x1xf32>
    %u = memref.alloc(%n) : memref<?xf64>
    linalg.fill ins(%cst : f64) outs(%a : memref<?xf64>)
    linalg.fill ins(%cst32 : f32) outs(%b : memref<?x1xf32>)
    linalg.fill ins(%cst : f64) outs(%u : memref<?xf64>)
    %o = memref.subview %out[%lo] [%size] [1] : memref<10000xf64> to memref<?xf64, strided<[1], offset: ?>>
    memref.copy %a, %o : memref<?xf64> to memref<?xf64, strided<[1], offset: ?>>
    memref.dealloc %a : memref<?xf64>
    memref.dealloc %b : memref<?x1xf32>
    memref.dealloc %u : memref<?xf64>
  }
  return
}
