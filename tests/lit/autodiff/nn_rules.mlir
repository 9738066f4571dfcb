// The adjoints of the nn ops (issue 5, third part): gelu through the internal tessera.erf,
// dropout with the forward's mask, group_norm, conv2d, the pools, attention; the zero_gradient
// mark where a cotangent stops.
// RUN: %tessera_opt %s --tessera-reverse-ad --canonicalize --cse | FileCheck %s

// gelu' = Phi(x) + x phi(x), Phi from erf(x / sqrt 2).
func.func private @gelu(%x: tensor<3xf32>) -> tensor<f32> {
  %0 = tessera.gelu %x : tensor<3xf32>
  %1 = tessera.reduce sum %0 axes = [0] : tensor<3xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
// CHECK-LABEL: func.func private @gelu__grad_0(
// CHECK: %[[S:.*]] = tessera.mul %arg0, %{{.*}} : (tensor<3xf32>, tensor<f32>) -> tensor<3xf32>
// CHECK: tessera.erf %[[S]] : tensor<3xf32>
// CHECK: tessera.exp
// CHECK: return
func.func @use_gelu(%x: tensor<3xf32>) -> tensor<3xf32> {
  %g = tessera.grad @gelu(%x) {argnums = array<i64: 0>} : (tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}

// erf' = 2 / sqrt(pi) exp(-x^2)
func.func private @erf(%x: tensor<3xf64>) -> tensor<f64> {
  %0 = tessera.erf %x : tensor<3xf64>
  %1 = tessera.reduce sum %0 axes = [0] : tensor<3xf64> -> tensor<f64>
  return %1 : tensor<f64>
}
// CHECK-LABEL: func.func private @erf__grad_0(
// CHECK: %[[C:.*]] = arith.constant dense<1.1283791670955126> : tensor<f64>
// CHECK: tessera.neg
// CHECK: %[[E:.*]] = tessera.exp
// CHECK: tessera.mul %[[E]], %[[C]]
func.func @use_erf(%x: tensor<3xf64>) -> tensor<3xf64> {
  %g = tessera.grad @erf(%x) {argnums = array<i64: 0>} : (tensor<3xf64>) -> tensor<3xf64>
  return %g : tensor<3xf64>
}

// dropout: the cotangent times the forward's mask, the dropout of ones on the same stream.
func.func private @drop(%x: tensor<4xf32>) -> tensor<f32> {
  %0 = tessera.dropout %x p = 2.500000e-01 seed = 9 : tensor<4xf32>
  %1 = tessera.reduce sum %0 axes = [0] : tensor<4xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
// CHECK-LABEL: func.func private @drop__grad_0(
// CHECK: tessera.dropout %arg0 p = 2.500000e-01 seed = 9 : tensor<4xf32>
// CHECK: %[[ONES:.*]] = tessera.ones : tensor<4xf32>
// CHECK: %[[M:.*]] = tessera.dropout %[[ONES]] p = 2.500000e-01 seed = 9 : tensor<4xf32>
// CHECK: tessera.mul %{{.*}}, %[[M]]
func.func @use_drop(%x: tensor<4xf32>) -> tensor<4xf32> {
  %g = tessera.grad @drop(%x) {argnums = array<i64: 0>} : (tensor<4xf32>) -> tensor<4xf32>
  return %g : tensor<4xf32>
}

// group_norm: a layer norm over [N, G, C / G * H * W].
func.func private @gn(%x: tensor<2x4x3x3xf32>, %w: tensor<4xf32>) -> tensor<f32> {
  %0 = tessera.group_norm %x weight %w groups = 2 eps = 1.000000e-05 : (tensor<2x4x3x3xf32>, tensor<4xf32>) -> tensor<2x4x3x3xf32>
  %1 = tessera.reduce sum %0 axes = [0, 1, 2, 3] : tensor<2x4x3x3xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
// CHECK-LABEL: func.func private @gn__grad_0_1(
// CHECK: tessera.reshape %arg0 : tensor<2x4x3x3xf32> -> tensor<2x2x18xf32>
// CHECK: tessera.rsqrt
// CHECK: tessera.reduce sum %{{.*}} axes = [0, 2, 3] : tensor<2x4x3x3xf32> -> tensor<4xf32>
func.func @use_gn(%x: tensor<2x4x3x3xf32>, %w: tensor<4xf32>) -> (tensor<2x4x3x3xf32>, tensor<4xf32>) {
  %g:2 = tessera.grad @gn(%x, %w) {argnums = array<i64: 0, 1>} : (tensor<2x4x3x3xf32>, tensor<4xf32>) -> (tensor<2x4x3x3xf32>, tensor<4xf32>)
  return %g#0, %g#1 : tensor<2x4x3x3xf32>, tensor<4xf32>
}

// conv2d: the input's cotangent is a stride-1 convolution of the spread-out cotangent with the
// flipped kernel; the weight's a convolution of the input with the cotangent (stride and
// dilation swapped); the bias's a sum.
func.func private @conv(%x: tensor<?x2x8x7xf32>, %w: tensor<4x1x3x3xf32>, %b: tensor<4xf32>) -> tensor<f32> {
  %0 = tessera.conv2d %x, %w, %b stride = [2, 2] padding = [1, 0] dilation = [1, 1] groups = 2 : (tensor<?x2x8x7xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>) -> tensor<?x4x4x3xf32>
  %1 = tessera.reduce sum %0 axes = [0, 1, 2, 3] : tensor<?x4x4x3xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
// CHECK-LABEL: func.func private @conv__grad_0_1_2(
// (The spread cotangent leaves out the border that only the padding's gradient reads: the
// convolution gives dx, 8x7, directly.)
// CHECK: tessera.slice %arg1[0, 0, 2, 2] [4, 1, 3, 3] [1, 1, -1, -1]
// CHECK: %[[Z:.*]] = tessera.zeros [%{{.*}}] : tensor<?x4x10x9xf32>
// CHECK: tensor.insert_slice %{{.*}} into %[[Z]][0, 0, 1, 2] [%{{.*}}, 4, 4, 3] [1, 1, 2, 2]
// CHECK: tessera.conv2d %{{.*}}, %{{.*}} stride = [1, 1] padding = [0, 0] dilation = [1, 1] groups = 2 : (tensor<?x4x10x9xf32>, tensor<2x2x3x3xf32>) -> tensor<?x2x8x7xf32>
// CHECK: tessera.conv2d %{{.*}}, %{{.*}} stride = [1, 1] padding = [1, 0] dilation = [2, 2] groups = 2 : (tensor<1x?x8x7xf32>, tensor<4x?x4x3xf32>) -> tensor<1x4x4x3xf32>
// CHECK: tessera.reduce sum %{{.*}} axes = [0, 2, 3] : tensor<?x4x4x3xf32> -> tensor<4xf32>
func.func @use_conv(%x: tensor<?x2x8x7xf32>, %w: tensor<4x1x3x3xf32>, %b: tensor<4xf32>) -> tensor<4x1x3x3xf32> {
  %g:3 = tessera.grad @conv(%x, %w, %b) {argnums = array<i64: 0, 1, 2>} : (tensor<?x2x8x7xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>) -> (tensor<?x2x8x7xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>)
  return %g#1 : tensor<4x1x3x3xf32>
}

// Stride 1, "same" padding: the input's cotangent is the convolution of the cotangent itself,
// padded by the kernel's extent less the padding (no spread copy, no border to cut off).
func.func private @conv_same(%x: tensor<2x3x6x6xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<f32> {
  %0 = tessera.conv2d %x, %w stride = [1, 1] padding = [1, 1] dilation = [1, 1] groups = 1 : (tensor<2x3x6x6xf32>, tensor<4x3x3x3xf32>) -> tensor<2x4x6x6xf32>
  %1 = tessera.reduce sum %0 axes = [0, 1, 2, 3] : tensor<2x4x6x6xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
// CHECK-LABEL: func.func private @conv_same__grad_0(
// CHECK-NOT: tessera.zeros
// CHECK: tessera.conv2d %{{.*}}, %{{.*}} stride = [1, 1] padding = [1, 1] dilation = [1, 1] groups = 1 : (tensor<2x4x6x6xf32>, tensor<3x4x3x3xf32>) -> tensor<2x3x6x6xf32>
// CHECK-NOT: tessera.slice
// CHECK: return
func.func @use_conv_same(%x: tensor<2x3x6x6xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<2x3x6x6xf32> {
  %g = tessera.grad @conv_same(%x, %w) {argnums = array<i64: 0>} : (tensor<2x3x6x6xf32>, tensor<4x3x3x3xf32>) -> tensor<2x3x6x6xf32>
  return %g : tensor<2x3x6x6xf32>
}

// max_pool2d: per kernel position, the first window element equal to the maximum takes the
// cotangent, written back with the stride.
func.func private @maxpool(%x: tensor<1x1x4x4xf32>) -> tensor<f32> {
  %0 = tessera.max_pool2d %x kernel = [2, 1] stride = [2, 1] padding = [0, 0] : tensor<1x1x4x4xf32> -> tensor<1x1x2x4xf32>
  %1 = tessera.reduce sum %0 axes = [0, 1, 2, 3] : tensor<1x1x2x4xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
// CHECK-LABEL: func.func private @maxpool__grad_0(
// CHECK: %[[W0:.*]] = tessera.slice %arg0[0, 0, 0, 0] [1, 1, 2, 4] [1, 1, 2, 1]
// CHECK: %[[H0:.*]] = tessera.cmp eq, %[[W0]]
// CHECK: %[[W1:.*]] = tessera.slice %arg0[0, 0, 1, 0] [1, 1, 2, 4] [1, 1, 2, 1]
// CHECK: %[[H1:.*]] = tessera.cmp eq, %[[W1]]
// CHECK: %[[N:.*]] = tessera.not %[[H0]]
// CHECK: tessera.and %[[H1]], %[[N]]
// CHECK: tensor.insert_slice %{{.*}}[0, 0, 1, 0] [1, 1, 2, 4] [1, 1, 2, 1]
func.func @use_maxpool(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32> {
  %g = tessera.grad @maxpool(%x) {argnums = array<i64: 0>} : (tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  return %g : tensor<1x1x4x4xf32>
}

// adaptive_avg_pool2d: dx = A^T ct B with constant averaging matrices.
func.func private @apool(%x: tensor<1x2x3x4xf32>) -> tensor<f32> {
  %0 = tessera.adaptive_avg_pool2d %x output_size = [2, 1] : tensor<1x2x3x4xf32> -> tensor<1x2x2x1xf32>
  %1 = tessera.reduce sum %0 axes = [0, 1, 2, 3] : tensor<1x2x2x1xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
// CHECK-LABEL: func.func private @apool__grad_0(
// CHECK-DAG: arith.constant dense<{{\[\[}}5.000000e-01, 0.000000e+00], [5.000000e-01, 5.000000e-01], [0.000000e+00, 5.000000e-01]]> : tensor<3x2xf32>
// CHECK-DAG: arith.constant dense<2.500000e-01> : tensor<1x4xf32>
// CHECK: tessera.matmul {{.*}} -> tensor<1x2x3x1xf32>
// CHECK: tessera.matmul {{.*}} -> tensor<1x2x3x4xf32>
func.func @use_apool(%x: tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32> {
  %g = tessera.grad @apool(%x) {argnums = array<i64: 0>} : (tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  return %g : tensor<1x2x3x4xf32>
}

// attention (causal): the probabilities recomputed with the mask j <= i.
func.func private @attn(%q: tensor<2x3x4xf32>, %k: tensor<2x5x4xf32>, %v: tensor<2x5x2xf32>) -> tensor<f32> {
  %0 = tessera.attention %q, %k, %v causal : (tensor<2x3x4xf32>, tensor<2x5x4xf32>, tensor<2x5x2xf32>) -> tensor<2x3x2xf32>
  %1 = tessera.reduce sum %0 axes = [0, 1, 2] : tensor<2x3x2xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
// CHECK-LABEL: func.func private @attn__grad_0_1_2(
// CHECK: tessera.cmp le, %{{.*}}, %{{.*}} : (tensor<5xi64>, tensor<3x1xi64>) -> tensor<3x5xi1>
// CHECK: tessera.softmax %{{.*}} axis = 2 safe : tensor<2x3x5xf32>
// CHECK: return %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<f32>, tensor<2x3x4xf32>, tensor<2x5x4xf32>, tensor<2x5x2xf32>
func.func @use_attn(%q: tensor<2x3x4xf32>, %k: tensor<2x5x4xf32>, %v: tensor<2x5x2xf32>) -> tensor<2x5x4xf32> {
  %g:3 = tessera.grad @attn(%q, %k, %v) {argnums = array<i64: 0, 1, 2>} : (tensor<2x3x4xf32>, tensor<2x5x4xf32>, tensor<2x5x2xf32>) -> (tensor<2x3x4xf32>, tensor<2x5x4xf32>, tensor<2x5x2xf32>)
  return %g#1 : tensor<2x5x4xf32>
}

// A cotangent that stops (argmax cast to float): the op is marked zero_gradient.
func.func private @am(%x: tensor<2x3xf32>) -> tensor<f32> {
  %0 = tessera.reduce argmax %x axes = [1] : tensor<2x3xf32> -> tensor<2xi64>
  %1 = tessera.cast %0 : tensor<2xi64> -> tensor<2xf32>
  %2 = tessera.mul %1, %1 : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %3 = tessera.reduce sum %2 axes = [0] : tensor<2xf32> -> tensor<f32>
  return %3 : tensor<f32>
}
// CHECK-LABEL: func.func private @am__grad_0(
// CHECK: tessera.cast %{{.*}} {zero_gradient} : tensor<2xi64> -> tensor<2xf32>
// CHECK: %[[Z:.*]] = tessera.zeros : tensor<2x3xf32>
// CHECK: return %{{.*}}, %[[Z]]
func.func @use_am(%x: tensor<2x3xf32>) -> (tensor<f32>, tensor<2x3xf32>) {
  %v, %g = tessera.grad @am(%x) {argnums = array<i64: 0>, value} : (tensor<2x3xf32>) -> (tensor<f32>, tensor<2x3xf32>)
  return %v, %g : tensor<f32>, tensor<2x3xf32>
}
