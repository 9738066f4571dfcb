// --tessera-reverse-ad with `@custom_vjp` functions (docs/autodiff.md, "Custom gradients"): a
// call of a function with `tessera.custom_vjp = @bwd` is not inlined; its adjoint calls @bwd
// with the arguments, the result and the result's cotangent.
// RUN: %tessera_opt %s --split-input-file --tessera-reverse-ad | FileCheck %s

func.func private @sp(%x: tensor<3xf32>) -> tensor<3xf32> attributes {tessera.custom_vjp = @sp_bwd} {
  %0 = tessera.exp %x : tensor<3xf32>
  %1 = tessera.log1p %0 : tensor<3xf32>
  return %1 : tensor<3xf32>
}
func.func private @sp_bwd(%x: tensor<3xf32>, %out: tensor<3xf32>, %ct: tensor<3xf32>) -> tensor<3xf32> {
  %0 = tessera.sigmoid %x : tensor<3xf32>
  %1 = tessera.mul %ct, %0 : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %1 : tensor<3xf32>
}
func.func private @loss(%x: tensor<3xf32>) -> tensor<f32> {
  %y = func.call @sp(%x) : (tensor<3xf32>) -> tensor<3xf32>
  %z = tessera.mul %y, %y : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %s = tessera.reduce sum %z axes = [0] : tensor<3xf32> -> tensor<f32>
  return %s : tensor<f32>
}
// CHECK-LABEL: func.func private @loss__grad_0(
// CHECK: %[[Y:.*]] = call @sp(%arg0)
// CHECK-NOT: tessera.exp
// CHECK: %[[CT:.*]] = tessera.add
// CHECK: %[[G:.*]] = call @sp_bwd(%arg0, %[[Y]], %[[CT]])
// CHECK: return %{{.*}}, %[[G]]
func.func @use_loss(%x: tensor<3xf32>) -> tensor<3xf32> {
  %g = tessera.grad @loss(%x) {argnums = array<i64: 0>} : (tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}

// -----

// Several arguments, one of them an integer: @bwd returns the cotangents of the float ones, in
// order. `grad` of the custom function itself: its gradient function is one call, swept.
func.func private @f(%x: tensor<3xf32>, %n: i64, %w: tensor<3xf32>) -> tensor<f32> attributes {tessera.custom_vjp = @f_bwd} {
  %0 = tessera.mul %x, %w : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %s = tessera.reduce sum %0 axes = [0] : tensor<3xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func private @f_bwd(%x: tensor<3xf32>, %n: i64, %w: tensor<3xf32>, %out: tensor<f32>, %ct: tensor<f32>) -> (tensor<3xf32>, tensor<3xf32>) {
  return %w, %x : tensor<3xf32>, tensor<3xf32>
}
// CHECK-LABEL: func.func private @f__grad_0_2(
// CHECK-NOT: tessera.custom_vjp
// CHECK: %[[V:.*]] = call @f(%arg0, %arg1, %arg2)
// CHECK: %[[G:.*]]:2 = call @f_bwd(%arg0, %arg1, %arg2, %[[V]], %{{.*}})
// CHECK: return %[[V]], %[[G]]#0, %[[G]]#1
func.func @use_f(%x: tensor<3xf32>, %n: i64, %w: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %g:2 = tessera.grad @f(%x, %n, %w) {argnums = array<i64: 0, 2>} : (tensor<3xf32>, i64, tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>)
  return %g#0, %g#1 : tensor<3xf32>, tensor<3xf32>
}

// -----

// In a loop: the reverse loop recomputes the call and calls @bwd on it.
func.func private @sq(%x: tensor<3xf32>) -> tensor<3xf32> attributes {tessera.custom_vjp = @sq_bwd} {
  %0 = tessera.mul %x, %x : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}
func.func private @sq_bwd(%x: tensor<3xf32>, %out: tensor<3xf32>, %ct: tensor<3xf32>) -> tensor<3xf32> {
  return %ct : tensor<3xf32>
}
func.func private @loop(%x: tensor<3xf32>) -> tensor<f32> {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%a = %x) -> (tensor<3xf32>) {
    %y = func.call @sq(%a) : (tensor<3xf32>) -> tensor<3xf32>
    scf.yield %y : tensor<3xf32>
  }
  %s = tessera.reduce sum %r axes = [0] : tensor<3xf32> -> tensor<f32>
  return %s : tensor<f32>
}
// CHECK-LABEL: func.func private @loop__grad_0(
// CHECK: scf.for
// CHECK: call @sq(
// CHECK: scf.for
// CHECK: %[[A:.*]] = tensor.extract_slice
// CHECK: %[[Y:.*]] = func.call @sq(%[[A]])
// CHECK: func.call @sq_bwd(%[[A]], %[[Y]], %{{.*}})
func.func @use_loop(%x: tensor<3xf32>) -> tensor<3xf32> {
  %g = tessera.grad @loop(%x) {argnums = array<i64: 0>} : (tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}
