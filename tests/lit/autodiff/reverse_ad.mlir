// --tessera-reverse-ad: each tessera.grad becomes a call of a generated gradient function
// that returns the value and the cotangents.
// RUN: %tessera_opt %s --tessera-reverse-ad --canonicalize --cse | FileCheck %s

// d/dx sum(sin(x) * x) = cos(x) * x + sin(x)
func.func private @f(%x: tensor<3xf32>) -> tensor<f32> {
  %0 = tessera.sin %x : tensor<3xf32>
  %1 = tessera.mul %0, %x : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %2 = tessera.reduce sum %1 axes = [0] : tensor<3xf32> -> tensor<f32>
  return %2 : tensor<f32>
}
// CHECK-LABEL: func.func private @f__grad_0(
// CHECK-SAME: %[[X:.*]]: tensor<3xf32>) -> (tensor<f32>, tensor<3xf32>)
// CHECK: %[[SIN:.*]] = tessera.sin %[[X]]
// CHECK: %[[ONES:.*]] = tessera.broadcast_to
// CHECK-DAG: %[[A:.*]] = tessera.mul %[[ONES]], %[[X]]
// CHECK-DAG: %[[B:.*]] = tessera.mul %[[ONES]], %[[SIN]]
// CHECK-DAG: %[[COS:.*]] = tessera.cos %[[X]]
// CHECK: %[[C:.*]] = tessera.mul %[[A]], %[[COS]]
// CHECK: tessera.add %[[B]], %[[C]]
// CHECK: return

// CHECK-LABEL: func.func @use(
// CHECK: %[[G:.*]]:2 = call @f__grad_0(%arg0) : (tensor<3xf32>) -> (tensor<f32>, tensor<3xf32>)
// CHECK: return %[[G]]#1
// CHECK-NOT: tessera.grad
func.func @use(%x: tensor<3xf32>) -> tensor<3xf32> {
  %g = tessera.grad @f(%x) {argnums = array<i64: 0>} : (tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}

// Broadcasting: the bias's cotangent is summed over the rows.
func.func private @bias(%x: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<f32> {
  %0 = tessera.add %x, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %1 = tessera.reduce mean %0 axes = [0, 1] : tensor<4x8xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
// CHECK-LABEL: func.func private @bias__grad_0_1(
// CHECK: tessera.reduce sum %{{.*}} axes = [0] : tensor<4x8xf32> -> tensor<8xf32>
// CHECK: return %{{.*}}, %{{.*}}, %{{.*}} : tensor<f32>, tensor<4x8xf32>, tensor<8xf32>
func.func @use_bias(%x: tensor<4x8xf32>, %b: tensor<8xf32>) -> (tensor<f32>, tensor<8xf32>) {
  %v, %gx, %gb = tessera.grad @bias(%x, %b) {argnums = array<i64: 0, 1>, value} : (tensor<4x8xf32>, tensor<8xf32>) -> (tensor<f32>, tensor<4x8xf32>, tensor<8xf32>)
  return %v, %gb : tensor<f32>, tensor<8xf32>
}

// Calls are inlined; matmul's cotangents are products with the transposed operands.
func.func private @layer(%x: tensor<2x3xf32>, %w: tensor<3x4xf32>) -> tensor<2x4xf32> {
  %0 = tessera.matmul %x, %w : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %1 = tessera.relu %0 : tensor<2x4xf32>
  return %1 : tensor<2x4xf32>
}
func.func private @net(%w: tensor<3x4xf32>, %x: tensor<2x3xf32>, %l: tensor<2xi64>) -> tensor<f32> {
  %0 = call @layer(%x, %w) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %1 = tessera.cross_entropy %0, %l : (tensor<2x4xf32>, tensor<2xi64>) -> tensor<f32>
  return %1 : tensor<f32>
}
// CHECK-LABEL: func.func private @net__grad_0(
// CHECK-NOT: call
// CHECK: tessera.softmax
// CHECK: tessera.one_hot
// CHECK: tessera.cmp gt
// CHECK: tessera.where
// CHECK: tessera.transpose %{{.*}} [1, 0] : tensor<2x3xf32> -> tensor<3x2xf32>
// CHECK: tessera.matmul %{{.*}}, %{{.*}} : (tensor<3x2xf32>, tensor<2x4xf32>) -> tensor<3x4xf32>
func.func @use_net(%w: tensor<3x4xf32>, %x: tensor<2x3xf32>, %l: tensor<2xi64>) -> tensor<3x4xf32> {
  %g = tessera.grad @net(%w, %x, %l) {argnums = array<i64: 0>} : (tensor<3x4xf32>, tensor<2x3xf32>, tensor<2xi64>) -> tensor<3x4xf32>
  return %g : tensor<3x4xf32>
}

// An argument that does not reach the value has a zero cotangent.
func.func private @ignores(%x: tensor<?xf32>, %y: tensor<?xf32>) -> tensor<f32> {
  %0 = tessera.reduce sum %x axes = [0] : tensor<?xf32> -> tensor<f32>
  return %0 : tensor<f32>
}
// CHECK-LABEL: func.func private @ignores__grad_1(
// CHECK: %[[D:.*]] = tessera.dim %arg1, 0
// CHECK: tessera.zeros [%[[D]]] : tensor<?xf32>
func.func @use_ignores(%x: tensor<?xf32>, %y: tensor<?xf32>) -> tensor<?xf32> {
  %g = tessera.grad @ignores(%x, %y) {argnums = array<i64: 1>} : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
  return %g : tensor<?xf32>
}

// Non-differentiable ops (argmax, comparisons) pass no cotangent back.
func.func private @argmax_loss(%x: tensor<4xf32>) -> tensor<f32> {
  %0 = tessera.reduce argmax %x axes = [0] : tensor<4xf32> -> tensor<i64>
  %1 = tessera.cast %0 : tensor<i64> -> tensor<f32>
  return %1 : tensor<f32>
}
// CHECK-LABEL: func.func private @argmax_loss__grad_0(
// CHECK: tessera.zeros : tensor<4xf32>
func.func @use_argmax(%x: tensor<4xf32>) -> tensor<4xf32> {
  %g = tessera.grad @argmax_loss(%x) {argnums = array<i64: 0>} : (tensor<4xf32>) -> tensor<4xf32>
  return %g : tensor<4xf32>
}
