// Every op of the tessera dialect prints and parses back unchanged.
// RUN: %tessera_opt %s | %tessera_opt | FileCheck %s

// CHECK-LABEL: func.func @binary
func.func @binary(%a: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // CHECK: tessera.add %{{.*}}, %{{.*}} {policy = #tessera.policy<accum = f32, loss_scale = 1.024000e+03, stochastic_round, saturate, deterministic, device = "gpu:0">} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %0 = tessera.add %a, %b {policy = #tessera.policy<accum = f32, loss_scale = 1024, stochastic_round, saturate, deterministic, device = "gpu:0">} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK: tessera.sub %{{.*}}, %{{.*}} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %1 = tessera.sub %0, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK: tessera.mul %{{.*}}, %{{.*}} {policy = #tessera.policy<>} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %2 = tessera.mul %1, %0 {policy = #tessera.policy<>} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %2 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @reduce
func.func @reduce(%x: tensor<4x?xf32>) -> tensor<4x1xf32> {
  // CHECK: tessera.reduce mean %{{.*}} axes = [1] keepdim : tensor<4x?xf32> -> tensor<4x1xf32>
  %0 = tessera.reduce mean %x axes = [1] keepdim : tensor<4x?xf32> -> tensor<4x1xf32>
  // CHECK: tessera.reduce argmax %{{.*}} axes = [0] : tensor<4x?xf32> -> tensor<?xi64>
  %1 = tessera.reduce argmax %x axes = [0] : tensor<4x?xf32> -> tensor<?xi64>
  return %0 : tensor<4x1xf32>
}

// CHECK-LABEL: func.func @matmul
func.func @matmul(%a: tensor<2x4x8xf32>, %b: tensor<8x16xf32>, %v: tensor<8xf32>) -> tensor<2x4x16xf32> {
  // CHECK: tessera.matmul %{{.*}}, %{{.*}} : (tensor<2x4x8xf32>, tensor<8x16xf32>) -> tensor<2x4x16xf32>
  %0 = tessera.matmul %a, %b : (tensor<2x4x8xf32>, tensor<8x16xf32>) -> tensor<2x4x16xf32>
  // CHECK: tessera.matmul %{{.*}}, %{{.*}} : (tensor<8xf32>, tensor<8x16xf32>) -> tensor<16xf32>
  %1 = tessera.matmul %v, %b : (tensor<8xf32>, tensor<8x16xf32>) -> tensor<16xf32>
  return %0 : tensor<2x4x16xf32>
}
