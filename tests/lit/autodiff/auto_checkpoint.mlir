// Automatic checkpointing (docs/autodiff.md, "Checkpointing"): a `for` loop without
// `tessera.checkpoint` whose tape (n iterations x its carried state) would exceed
// `auto-checkpoint-bytes` (default 256 MiB) gets checkpoints every ceil(sqrt(n)) iterations;
// below it, or with a dynamic trip count, the plain one-slot-per-iteration tape.
// RUN: %tessera_opt %s --split-input-file --tessera-reverse-ad="auto-checkpoint-bytes=1000" | FileCheck %s
// RUN: %tessera_opt %s --split-input-file --tessera-reverse-ad | FileCheck %s --check-prefix=DEFAULT
// RUN: %tessera_opt %s --split-input-file --tessera-reverse-ad="auto-checkpoint-bytes=0" | FileCheck %s --check-prefix=OFF

// 100 iterations x 16 bytes = 1600 bytes > 1000: checkpointed (the sqrt search, then segments).
func.func private @big(%x: tensor<4xf32>) -> tensor<f32> {
  %c0 = arith.constant 0 : index
  %c100 = arith.constant 100 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %i = %c0 to %c100 step %c1 iter_args(%a = %x) -> (tensor<4xf32>) {
    %y = tessera.tanh %a : tensor<4xf32>
    scf.yield %y : tensor<4xf32>
  }
  %s = tessera.reduce sum %r axes = [0] : tensor<4xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func @use_big(%x: tensor<4xf32>) -> tensor<4xf32> {
  %g = tessera.grad @big(%x) {argnums = array<i64: 0>} : (tensor<4xf32>) -> tensor<4xf32>
  return %g : tensor<4xf32>
}
// CHECK-LABEL: func.func private @big__grad_0(
// CHECK: scf.while
// CHECK: arith.ceildivsi
// CHECK: tensor.empty(%{{.*}}) : tensor<?x4xf32>
// DEFAULT-LABEL: func.func private @big__grad_0(
// DEFAULT-NOT: scf.while
// DEFAULT: tensor.empty(%{{.*}}) : tensor<?x4xf32>
// DEFAULT-NOT: scf.while
// DEFAULT-LABEL: func.func @use_big(
// OFF-LABEL: func.func private @big__grad_0(
// OFF-NOT: scf.while
// OFF-LABEL: func.func @use_big(

// -----

// 10 iterations x 16 bytes = 160 bytes: the plain tape.
func.func private @small(%x: tensor<4xf32>) -> tensor<f32> {
  %c0 = arith.constant 0 : index
  %c10 = arith.constant 10 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %i = %c0 to %c10 step %c1 iter_args(%a = %x) -> (tensor<4xf32>) {
    %y = tessera.tanh %a : tensor<4xf32>
    scf.yield %y : tensor<4xf32>
  }
  %s = tessera.reduce sum %r axes = [0] : tensor<4xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func @use_small(%x: tensor<4xf32>) -> tensor<4xf32> {
  %g = tessera.grad @small(%x) {argnums = array<i64: 0>} : (tensor<4xf32>) -> tensor<4xf32>
  return %g : tensor<4xf32>
}
// CHECK-LABEL: func.func private @small__grad_0(
// CHECK-NOT: scf.while
// CHECK: tensor.empty(%{{.*}}) : tensor<?x4xf32>
// CHECK-NOT: scf.while
// CHECK-LABEL: func.func @use_small(
