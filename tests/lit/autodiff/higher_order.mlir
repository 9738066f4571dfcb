// Higher order and seeded gradients in --tessera-reverse-ad: a function whose body computes a
// gradient is differentiated after its inner tessera.grad became a call of a gradient function
// (inlined: plain ops); `seeded` takes the result's cotangent as the last argument.
// RUN: %tessera_opt %s --tessera-reverse-ad --canonicalize --cse | FileCheck %s

// f(x) = sin(x) * x; df(x) = grad(f)(x); d2f = grad(df) = 2 cos(x) - x sin(x).
func.func private @f(%x: tensor<f32>) -> tensor<f32> {
  %0 = tessera.sin %x : tensor<f32>
  %1 = tessera.mul %0, %x : (tensor<f32>, tensor<f32>) -> tensor<f32>
  return %1 : tensor<f32>
}
func.func private @df(%x: tensor<f32>) -> tensor<f32> {
  %g = tessera.grad @f(%x) {argnums = array<i64: 0>} : (tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}
// The first-order function, built for the inner gradient.
// CHECK-LABEL: func.func private @f__grad_0(
// The second-order one: no tessera.grad and no call left, the sin's second derivative appears.
// CHECK-LABEL: func.func private @df__grad_0(
// CHECK-NOT: tessera.grad
// CHECK-NOT: call
// CHECK: tessera.sin
// CHECK: tessera.cos
// CHECK: return
// CHECK-LABEL: func.func @use_second(
// CHECK: call @df__grad_0(%arg0)
// CHECK-NOT: tessera.grad
func.func @use_second(%x: tensor<f32>) -> tensor<f32> {
  %g = tessera.grad @df(%x) {argnums = array<i64: 0>} : (tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}

// A vector-Jacobian product: the seed is the last argument of the generated function.
func.func private @vec(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = tessera.exp %x : tensor<3xf32>
  return %0 : tensor<3xf32>
}
// CHECK-LABEL: func.func private @vec__vjp_0(
// CHECK-SAME: %[[X:.*]]: tensor<3xf32>, %[[CT:.*]]: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>)
// CHECK: %[[E:.*]] = tessera.exp %[[X]]
// CHECK: %[[G:.*]] = tessera.mul %[[CT]], %[[E]]
// CHECK: return %[[E]], %[[G]]
// CHECK-LABEL: func.func @use_vjp(
// CHECK: %[[R:.*]]:2 = call @vec__vjp_0(%arg0, %arg1)
// CHECK: return %[[R]]#1
func.func @use_vjp(%x: tensor<3xf32>, %ct: tensor<3xf32>) -> tensor<3xf32> {
  %g = tessera.grad @vec(%x, %ct) {argnums = array<i64: 0>, seeded} : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}

// Second order through the slice rule (its cotangent is a tensor.insert_slice into zeros).
func.func private @sl(%x: tensor<4xf32>) -> tensor<f32> {
  %0 = tessera.slice %x[1] [2] [1] : tensor<4xf32> -> tensor<2xf32>
  %1 = tessera.mul %0, %0 : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %2 = tessera.mul %1, %0 : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %3 = tessera.reduce sum %2 axes = [0] : tensor<2xf32> -> tensor<f32>
  return %3 : tensor<f32>
}
func.func private @dsl(%x: tensor<4xf32>) -> tensor<f32> {
  %g = tessera.grad @sl(%x) {argnums = array<i64: 0>} : (tensor<4xf32>) -> tensor<4xf32>
  %s = tessera.reduce sum %g axes = [0] : tensor<4xf32> -> tensor<f32>
  return %s : tensor<f32>
}
// CHECK-LABEL: func.func private @dsl__grad_0(
// CHECK: tensor.extract_slice
// CHECK: return
func.func @use_dsl(%x: tensor<4xf32>) -> tensor<4xf32> {
  %g = tessera.grad @dsl(%x) {argnums = array<i64: 0>} : (tensor<4xf32>) -> tensor<4xf32>
  return %g : tensor<4xf32>
}
