// --tessera-reverse-ad of loops with `tessera.checkpoint` (docs/autodiff.md, "Checkpointing").
// RUN: %tessera_opt %s --split-input-file --tessera-reverse-ad | FileCheck %s

// every = 4 (the attribute on the loop): S = ceildiv(n, 4) segments. The forward loop runs over
// the segments, writes the checkpoint tape (S slots) and runs the body over the segment's
// iterations; the reverse loop over the segments reads a checkpoint, recomputes the segment into
// a segment tape (min(4, n - s*4) slots) and sweeps it backwards.
func.func private @loop(%x: tensor<3xf32>, %w: tensor<3xf32>) -> tensor<f32> {
  %c0 = arith.constant 0 : index
  %c10 = arith.constant 10 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %i = %c0 to %c10 step %c1 iter_args(%a = %x) -> (tensor<3xf32>) {
    %y = tessera.mul %a, %w : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %z = tessera.sin %y : tensor<3xf32>
    scf.yield %z : tensor<3xf32>
  } {tessera.checkpoint = 4 : i64}
  %s = tessera.reduce sum %r axes = [0] : tensor<3xf32> -> tensor<f32>
  return %s : tensor<f32>
}
// CHECK-LABEL: func.func private @loop__grad_0_1(
// CHECK: %[[N:.*]] = arith.ceildivsi
// CHECK: %[[K:.*]] = arith.constant 4 : index
// CHECK: %[[S:.*]] = arith.ceildivsi %[[N]], %[[K]]
// CHECK: %[[CKPT:.*]] = tensor.empty(%[[S]]) : tensor<?x3xf32>
// CHECK: %[[FWD:.*]]:2 = scf.for %[[SEG:.*]] = %{{.*}} to %[[S]] {{.*}} iter_args(%[[A:.*]] = %arg0, %[[T:.*]] = %[[CKPT]])
// CHECK: tensor.insert_slice %[[A]] into %[[T]][%[[SEG]], 0]
// CHECK: %[[HI:.*]] = arith.minsi
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[HI]]
// CHECK: tessera.sin
// CHECK: %[[REV:.*]]:2 = scf.for %{{.*}} to %[[S]]
// CHECK: %[[LEN:.*]] = arith.minsi %[[K]]
// CHECK: tensor.extract_slice %[[FWD]]#1
// CHECK: %[[SEGT:.*]] = tensor.empty(%[[LEN]]) : tensor<?x3xf32>
// CHECK: %[[REC:.*]]:2 = scf.for %{{.*}} to %[[LEN]] {{.*}} iter_args({{.*}}, {{.*}} = %[[SEGT]])
// CHECK: tensor.insert_slice
// CHECK: tessera.sin
// CHECK: scf.for %{{.*}} to %[[LEN]]
// CHECK: tensor.extract_slice %[[REC]]#1
// CHECK: tessera.cos
// CHECK: return %{{.*}}, %[[REV]]#0, %[[REV]]#1
func.func @use_loop(%x: tensor<3xf32>, %w: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %g:2 = tessera.grad @loop(%x, %w) {argnums = array<i64: 0, 1>} : (tensor<3xf32>, tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>)
  return %g#0, %g#1 : tensor<3xf32>, tensor<3xf32>
}

// -----

// every = 0 on the function (what `@tessera.checkpoint` lowers to): K = ceil(sqrt(n)), computed
// by an integer loop (k*k < n); the loops of the function are marked when its gradient is built.
func.func private @f(%x: tensor<f32>, %n: index) -> tensor<f32> attributes {tessera.checkpoint = 0 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%a = %x) -> (tensor<f32>) {
    %y = tessera.tanh %a : tensor<f32>
    scf.yield %y : tensor<f32>
  }
  return %r : tensor<f32>
}
// CHECK-LABEL: func.func private @f__grad_0(
// CHECK: %[[N:.*]] = arith.ceildivsi
// CHECK: %[[K:.*]] = scf.while
// CHECK: arith.muli
// CHECK: arith.cmpi slt
// CHECK: %[[S:.*]] = arith.ceildivsi %[[N]], %[[K]]
// CHECK: tensor.empty(%[[S]]) : tensor<?xf32>
// CHECK: tensor.insert_slice %{{.*}} : tensor<f32> into tensor<?xf32>
func.func @use_f(%x: tensor<f32>, %n: index) -> tensor<f32> {
  %g = tessera.grad @f(%x, %n) {argnums = array<i64: 0>} : (tensor<f32>, index) -> tensor<f32>
  return %g : tensor<f32>
}
