// Every op of the tessera dialect prints and parses back: the output of one
// tessera-opt run is parsed by a second one, and each op is checked in its
// printed form. Regenerate the CHECK lines with update_roundtrip.py.
// RUN: %tessera_opt %s | %tessera_opt | FileCheck %s
// The generic form round-trips too.
// RUN: %tessera_opt %s --mlir-print-op-generic | %tessera_opt | FileCheck %s

// CHECK-LABEL: func.func @binary(
func.func @binary(%a: tensor<4x8xf32>, %b: tensor<8xf32>, %c: tensor<?x8xf32>, %i: tensor<4xi32>, %j: tensor<4xi32>, %p: tensor<4xi1>, %q: tensor<1xi1>) {
  // CHECK-NEXT: %0 = tessera.add %arg0, %arg1 {policy = #tessera.policy<accum = f32, loss_scale = 1.024000e+03, stochastic_round, saturate, deterministic, device = "gpu:0">} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %0 = tessera.add %a, %b {policy = #tessera.policy<accum = f32, loss_scale = 1024, stochastic_round, saturate, deterministic, device = "gpu:0">} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK-NEXT: %1 = tessera.sub %arg0, %arg1 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %1 = tessera.sub %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK-NEXT: %2 = tessera.mul %arg2, %arg1 {policy = #tessera.policy<>} : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %2 = tessera.mul %c, %b {policy = #tessera.policy<>} : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  // CHECK-NEXT: %3 = tessera.div %arg0, %arg0 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %3 = tessera.div %a, %a : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  // CHECK-NEXT: %4 = tessera.pow %arg0, %arg1 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %4 = tessera.pow %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK-NEXT: %5 = tessera.maximum %arg0, %arg2 : (tensor<4x8xf32>, tensor<?x8xf32>) -> tensor<4x8xf32>
  %5 = tessera.maximum %a, %c : (tensor<4x8xf32>, tensor<?x8xf32>) -> tensor<4x8xf32>
  // CHECK-NEXT: %6 = tessera.minimum %arg0, %arg1 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %6 = tessera.minimum %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK-NEXT: %7 = tessera.floordiv %arg3, %arg4 : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  %7 = tessera.floordiv %i, %j : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  // CHECK-NEXT: %8 = tessera.mod %arg3, %arg4 : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  %8 = tessera.mod %i, %j : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  // CHECK-NEXT: %9 = tessera.cmp lt, %arg0, %arg1 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xi1>
  %9 = tessera.cmp lt, %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xi1>
  // CHECK-NEXT: %10 = tessera.cmp ne, %arg3, %arg4 : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi1>
  %10 = tessera.cmp ne, %i, %j : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi1>
  // CHECK-NEXT: %11 = tessera.and %arg5, %arg6 : (tensor<4xi1>, tensor<1xi1>) -> tensor<4xi1>
  %11 = tessera.and %p, %q : (tensor<4xi1>, tensor<1xi1>) -> tensor<4xi1>
  // CHECK-NEXT: %12 = tessera.or %arg5, %arg6 : (tensor<4xi1>, tensor<1xi1>) -> tensor<4xi1>
  %12 = tessera.or %p, %q : (tensor<4xi1>, tensor<1xi1>) -> tensor<4xi1>
  // CHECK-NEXT: %13 = tessera.xor %arg5, %arg5 : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
  %13 = tessera.xor %p, %p : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
  return
}

// CHECK-LABEL: func.func @unary(
func.func @unary(%x: tensor<4x?xf32>, %i: tensor<3xi64>, %p: tensor<2xi1>, %c: tensor<4x8xi1>) {
  // CHECK-NEXT: %0 = tessera.neg %arg0 : tensor<4x?xf32>
  %0 = tessera.neg %x : tensor<4x?xf32>
  // CHECK-NEXT: %1 = tessera.abs %arg1 : tensor<3xi64>
  %1 = tessera.abs %i : tensor<3xi64>
  // CHECK-NEXT: %2 = tessera.exp %arg0 {policy = #tessera.policy<accum = f32>} : tensor<4x?xf32>
  %2 = tessera.exp %x {policy = #tessera.policy<accum = f32>} : tensor<4x?xf32>
  // CHECK-NEXT: %3 = tessera.log %arg0 : tensor<4x?xf32>
  %3 = tessera.log %x : tensor<4x?xf32>
  // CHECK-NEXT: %4 = tessera.log1p %arg0 : tensor<4x?xf32>
  %4 = tessera.log1p %x : tensor<4x?xf32>
  // CHECK-NEXT: %5 = tessera.sqrt %arg0 : tensor<4x?xf32>
  %5 = tessera.sqrt %x : tensor<4x?xf32>
  // CHECK-NEXT: %6 = tessera.rsqrt %arg0 : tensor<4x?xf32>
  %6 = tessera.rsqrt %x : tensor<4x?xf32>
  // CHECK-NEXT: %7 = tessera.tanh %arg0 : tensor<4x?xf32>
  %7 = tessera.tanh %x : tensor<4x?xf32>
  // CHECK-NEXT: %8 = tessera.sigmoid %arg0 : tensor<4x?xf32>
  %8 = tessera.sigmoid %x : tensor<4x?xf32>
  // CHECK-NEXT: %9 = tessera.sin %arg0 : tensor<4x?xf32>
  %9 = tessera.sin %x : tensor<4x?xf32>
  // CHECK-NEXT: %10 = tessera.cos %arg0 : tensor<4x?xf32>
  %10 = tessera.cos %x : tensor<4x?xf32>
  // CHECK-NEXT: %11 = tessera.relu %arg0 : tensor<4x?xf32>
  %11 = tessera.relu %x : tensor<4x?xf32>
  // CHECK-NEXT: %12 = tessera.gelu %arg0 : tensor<4x?xf32>
  %12 = tessera.gelu %x : tensor<4x?xf32>
  // CHECK-NEXT: %13 = tessera.silu %arg0 : tensor<4x?xf32>
  %13 = tessera.silu %x : tensor<4x?xf32>
  // CHECK-NEXT: %14 = tessera.erf %arg0 : tensor<4x?xf32>
  %erf = tessera.erf %x : tensor<4x?xf32>
  // CHECK-NEXT: %15 = tessera.not %arg2 : tensor<2xi1>
  %14 = tessera.not %p : tensor<2xi1>
  // CHECK-NEXT: %16 = tessera.cast %arg0 : tensor<4x?xf32> -> tensor<4x?xbf16>
  %15 = tessera.cast %x : tensor<4x?xf32> -> tensor<4x?xbf16>
  // CHECK-NEXT: %17 = tessera.cast %arg1 {policy = #tessera.policy<stochastic_round>} : tensor<3xi64> -> tensor<3xf8E4M3FN>
  %16 = tessera.cast %i {policy = #tessera.policy<stochastic_round>} : tensor<3xi64> -> tensor<3xf8E4M3FN>
  // CHECK-NEXT: %18 = tessera.where %arg3, %arg0, %arg0 : (tensor<4x8xi1>, tensor<4x?xf32>, tensor<4x?xf32>) -> tensor<4x8xf32>
  %17 = tessera.where %c, %x, %x : (tensor<4x8xi1>, tensor<4x?xf32>, tensor<4x?xf32>) -> tensor<4x8xf32>
  // CHECK-NEXT: %19 = tessera.clamp %arg0 {max = 6.000000e+00 : f64, min = 0.000000e+00 : f64} : tensor<4x?xf32>
  %18 = tessera.clamp %x {max = 6.0 : f64, min = 0.0 : f64} : tensor<4x?xf32>
  // CHECK-NEXT: %20 = tessera.clamp %arg0 {min = -1.000000e+00 : f64} : tensor<4x?xf32>
  %19 = tessera.clamp %x {min = -1.0 : f64} : tensor<4x?xf32>
  return
}

// CHECK-LABEL: func.func @reductions(
func.func @reductions(%x: tensor<4x8xf32>, %y: tensor<2x3x4xf16>) {
  // CHECK-NEXT: %0 = tessera.reduce sum %arg0 axes = [0, 1] {policy = #tessera.policy<accum = f32, deterministic>} : tensor<4x8xf32> -> tensor<f32>
  %0 = tessera.reduce sum %x axes = [0, 1] {policy = #tessera.policy<accum = f32, deterministic>} : tensor<4x8xf32> -> tensor<f32>
  // CHECK-NEXT: %1 = tessera.reduce mean %arg0 axes = [1] keepdim : tensor<4x8xf32> -> tensor<4x1xf32>
  %1 = tessera.reduce mean %x axes = [1] keepdim : tensor<4x8xf32> -> tensor<4x1xf32>
  // CHECK-NEXT: %2 = tessera.reduce var %arg1 axes = [0, 2] : tensor<2x3x4xf16> -> tensor<3xf16>
  %2 = tessera.reduce var %y axes = [0, 2] : tensor<2x3x4xf16> -> tensor<3xf16>
  // CHECK-NEXT: %3 = tessera.reduce std %arg0 axes = [1] : tensor<4x8xf32> -> tensor<4xf32>
  %3 = tessera.reduce std %x axes = [1] : tensor<4x8xf32> -> tensor<4xf32>
  // CHECK-NEXT: %4 = tessera.reduce max %arg0 axes = [0] keepdim : tensor<4x8xf32> -> tensor<1x8xf32>
  %4 = tessera.reduce max %x axes = [0] keepdim : tensor<4x8xf32> -> tensor<1x8xf32>
  // CHECK-NEXT: %5 = tessera.reduce min %arg0 axes = [0] : tensor<4x8xf32> -> tensor<8xf32>
  %5 = tessera.reduce min %x axes = [0] : tensor<4x8xf32> -> tensor<8xf32>
  // CHECK-NEXT: %6 = tessera.reduce prod %arg0 axes = [1] : tensor<4x8xf32> -> tensor<4xf32>
  %6 = tessera.reduce prod %x axes = [1] : tensor<4x8xf32> -> tensor<4xf32>
  // CHECK-NEXT: %7 = tessera.reduce logsumexp %arg0 axes = [1] keepdim safe : tensor<4x8xf32> -> tensor<4x1xf32>
  %7 = tessera.reduce logsumexp %x axes = [1] keepdim safe : tensor<4x8xf32> -> tensor<4x1xf32>
  // CHECK-NEXT: %8 = tessera.reduce argmax %arg0 axes = [1] : tensor<4x8xf32> -> tensor<4xi64>
  %8 = tessera.reduce argmax %x axes = [1] : tensor<4x8xf32> -> tensor<4xi64>
  // CHECK-NEXT: %9 = tessera.reduce argmin %arg0 axes = [0, 1] : tensor<4x8xf32> -> tensor<i64>
  %9 = tessera.reduce argmin %x axes = [0, 1] : tensor<4x8xf32> -> tensor<i64>
  // CHECK-NEXT: %10 = tessera.norm %arg0 : tensor<4x8xf32> -> tensor<f32>
  %10 = tessera.norm %x : tensor<4x8xf32> -> tensor<f32>
  // CHECK-NEXT: %11 = tessera.has_nan %arg0 : tensor<4x8xf32> -> tensor<i1>
  %11 = tessera.has_nan %x : tensor<4x8xf32> -> tensor<i1>
  // CHECK-NEXT: %12 = tessera.has_inf %arg1 : tensor<2x3x4xf16> -> tensor<i1>
  %12 = tessera.has_inf %y : tensor<2x3x4xf16> -> tensor<i1>
  return
}

// CHECK-LABEL: func.func @matmul(
func.func @matmul(%a: tensor<2x4x8xbf16>, %b: tensor<8x16xbf16>, %v: tensor<8xbf16>, %d: tensor<?x?xf32>, %e: tensor<?x?xf32>) {
  // CHECK-NEXT: %0 = tessera.matmul %arg0, %arg1 {policy = #tessera.policy<accum = f32>} : (tensor<2x4x8xbf16>, tensor<8x16xbf16>) -> tensor<2x4x16xbf16>
  %0 = tessera.matmul %a, %b {policy = #tessera.policy<accum = f32>} : (tensor<2x4x8xbf16>, tensor<8x16xbf16>) -> tensor<2x4x16xbf16>
  // CHECK-NEXT: %1 = tessera.matmul %arg2, %arg1 : (tensor<8xbf16>, tensor<8x16xbf16>) -> tensor<16xbf16>
  %1 = tessera.matmul %v, %b : (tensor<8xbf16>, tensor<8x16xbf16>) -> tensor<16xbf16>
  // CHECK-NEXT: %2 = tessera.matmul %arg3, %arg4 : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %3 = tessera.matmul %d, %e : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  // CHECK-NEXT: %3 = tessera.matmul %arg2, %arg2 : (tensor<8xbf16>, tensor<8xbf16>) -> tensor<bf16>
  %4 = tessera.matmul %v, %v : (tensor<8xbf16>, tensor<8xbf16>) -> tensor<bf16>
  return
}

// CHECK-LABEL: func.func @dense_linalg(
func.func @dense_linalg(%a: tensor<4x4xf64>, %b: tensor<4x3xf64>, %s: tensor<2x?x?xf32>, %t: tensor<2x?x5xf32>) {
  // CHECK-NEXT: %0 = tessera.cholesky %arg0 : tensor<4x4xf64> -> tensor<4x4xf64>
  %0 = tessera.cholesky %a : tensor<4x4xf64> -> tensor<4x4xf64>
  // CHECK-NEXT: %1 = tessera.triangular_solve %0, %arg1 {transpose = false} : (tensor<4x4xf64>, tensor<4x3xf64>) -> tensor<4x3xf64>
  %1 = tessera.triangular_solve %0, %b {transpose = false} : (tensor<4x4xf64>, tensor<4x3xf64>) -> tensor<4x3xf64>
  // CHECK-NEXT: %2 = tessera.cholesky %arg2 : tensor<2x?x?xf32> -> tensor<2x?x?xf32>
  %2 = tessera.cholesky %s : tensor<2x?x?xf32> -> tensor<2x?x?xf32>
  // CHECK-NEXT: %3 = tessera.triangular_solve %2, %arg3 {transpose = true} : (tensor<2x?x?xf32>, tensor<2x?x5xf32>) -> tensor<2x?x5xf32>
  %3 = tessera.triangular_solve %2, %t {transpose = true} : (tensor<2x?x?xf32>, tensor<2x?x5xf32>) -> tensor<2x?x5xf32>
  return
}

// CHECK-LABEL: func.func @sample_family(
func.func @sample_family(%a: tensor<8xf64>, %p: tensor<8xf64>, %d: tensor<?xf64>) {
  // CHECK-NEXT: %0 = tessera.sample_family %arg0, %arg0 {family = "gamma", offset = 0 : i64, seed = 3 : i64} : (tensor<8xf64>, tensor<8xf64>) -> tensor<8xf64>
  %0 = tessera.sample_family %a, %a {family = "gamma", seed = 3 : i64, offset = 0 : i64} : (tensor<8xf64>, tensor<8xf64>) -> tensor<8xf64>
  // CHECK-NEXT: %1 = tessera.sample_family %arg0, %arg1 {family = "binomial", offset = 1099511627776 : i64, seed = 3 : i64} : (tensor<8xf64>, tensor<8xf64>) -> tensor<8xf64>
  %1 = tessera.sample_family %a, %p {family = "binomial", seed = 3 : i64, offset = 1099511627776 : i64} : (tensor<8xf64>, tensor<8xf64>) -> tensor<8xf64>
  // CHECK-NEXT: %2 = tessera.sample_family %arg2, %arg2 {family = "poisson", offset = 0 : i64, seed = 0 : i64} : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
  %2 = tessera.sample_family %d, %d {family = "poisson", seed = 0 : i64, offset = 0 : i64} : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
  return
}

// CHECK-LABEL: func.func @shapes(
func.func @shapes(%x: tensor<4x8xf32>, %y: tensor<?x8xf32>, %n: index, %i: index, %o: tensor<1x8xf32>, %z: tensor<4x1x8xf32>) {
  // CHECK-NEXT: %0 = tessera.transpose %arg0 [1, 0] : tensor<4x8xf32> -> tensor<8x4xf32>
  %0 = tessera.transpose %x [1, 0] : tensor<4x8xf32> -> tensor<8x4xf32>
  // CHECK-NEXT: %1 = tessera.reshape %arg0 : tensor<4x8xf32> -> tensor<2x2x8xf32>
  %1 = tessera.reshape %x : tensor<4x8xf32> -> tensor<2x2x8xf32>
  // CHECK-NEXT: %2 = tessera.reshape %arg1 [%arg2] : tensor<?x8xf32> -> tensor<?x2x4xf32>
  %2 = tessera.reshape %y [%n] : tensor<?x8xf32> -> tensor<?x2x4xf32>
  // CHECK-NEXT: %3 = tessera.broadcast_to %arg4 [%arg2] : tensor<1x8xf32> -> tensor<?x8xf32>
  %3 = tessera.broadcast_to %o [%n] : tensor<1x8xf32> -> tensor<?x8xf32>
  // CHECK-NEXT: %4 = tessera.broadcast_to %arg4 : tensor<1x8xf32> -> tensor<3x4x8xf32>
  %4 = tessera.broadcast_to %o : tensor<1x8xf32> -> tensor<3x4x8xf32>
  // CHECK-NEXT: %5 = tessera.broadcast_to %arg1 : tensor<?x8xf32> -> tensor<2x?x8xf32>
  %5 = tessera.broadcast_to %y : tensor<?x8xf32> -> tensor<2x?x8xf32>
  // CHECK-NEXT: %6 = tessera.unsqueeze %arg0 axis = 1 : tensor<4x8xf32> -> tensor<4x1x8xf32>
  %6 = tessera.unsqueeze %x axis = 1 : tensor<4x8xf32> -> tensor<4x1x8xf32>
  // CHECK-NEXT: %7 = tessera.squeeze %arg5 axes = [1] : tensor<4x1x8xf32> -> tensor<4x8xf32>
  %7 = tessera.squeeze %z axes = [1] : tensor<4x1x8xf32> -> tensor<4x8xf32>
  // CHECK-NEXT: %8 = tessera.concat %arg0, %arg1 axis = 0 : (tensor<4x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %8 = tessera.concat %x, %y axis = 0 : (tensor<4x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  // CHECK-NEXT: %9 = tessera.concat %arg0, %arg0 axis = 1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x16xf32>
  %9 = tessera.concat %x, %x axis = 1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x16xf32>
  // CHECK-NEXT: %10 = tessera.stack %arg0, %arg0, %arg0 axis = 2 : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8x3xf32>
  %10 = tessera.stack %x, %x, %x axis = 2 : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8x3xf32>
  // CHECK-NEXT: %11:2 = tessera.split %arg0 axis = 1 : tensor<4x8xf32> -> tensor<4x4xf32>, tensor<4x4xf32>
  %11:2 = tessera.split %x axis = 1 : tensor<4x8xf32> -> tensor<4x4xf32>, tensor<4x4xf32>
  // CHECK-NEXT: %12:3 = tessera.split %arg1 axis = 1 sizes = [2, 2, 4] : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x4xf32>
  %12:3 = tessera.split %y axis = 1 sizes = [2, 2, 4] : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x4xf32>
  // CHECK-NEXT: %13 = tessera.slice %arg0[0, %arg3] [4, 1] [1, 1] drop = [1] : tensor<4x8xf32> -> tensor<4xf32>
  %13 = tessera.slice %x[0, %i] [4, 1] [1, 1] drop = [1] : tensor<4x8xf32> -> tensor<4xf32>
  // CHECK-NEXT: %14 = tessera.slice %arg1[1, 0] [%arg2, 4] [1, 2] : tensor<?x8xf32> -> tensor<?x4xf32>
  %14 = tessera.slice %y[1, 0] [%n, 4] [1, 2] : tensor<?x8xf32> -> tensor<?x4xf32>
  // CHECK-NEXT: %15 = tessera.slice %arg0[3, 7] [4, 8] [-1, -1] : tensor<4x8xf32> -> tensor<4x8xf32>
  %15 = tessera.slice %x[3, 7] [4, 8] [-1, -1] : tensor<4x8xf32> -> tensor<4x8xf32>
  // CHECK-NEXT: %16 = tessera.dim %arg1, 0 : tensor<?x8xf32>
  %16 = tessera.dim %y, 0 : tensor<?x8xf32>
  // CHECK-NEXT: %17 = tessera.transpose %arg0 [1, 0] {policy = #tessera.policy<accum = f32>} : tensor<4x8xf32> -> tensor<8x4xf32>
  %17 = tessera.transpose %x [1, 0] {policy = #tessera.policy<accum = f32>} : tensor<4x8xf32> -> tensor<8x4xf32>
  return
}

// CHECK-LABEL: func.func @nn(
func.func @nn(%x: tensor<2x4x8xf32>, %w: tensor<8xf32>, %b: tensor<8xf32>, %img: tensor<1x4x8x8xf32>, %cw: tensor<4xf32>, %lw: tensor<8x16xf32>, %lb: tensor<16xf32>, %ids: tensor<2x5xi64>, %tab: tensor<100x8xf32>, %logits: tensor<4x10xf32>, %labels: tensor<4xi64>) {
  // CHECK-NEXT: %0 = tessera.softmax %arg0 axis = 2 : tensor<2x4x8xf32>
  %0 = tessera.softmax %x axis = 2 : tensor<2x4x8xf32>
  // CHECK-NEXT: %1 = tessera.softmax %arg0 axis = 2 safe {policy = #tessera.policy<accum = f32>} : tensor<2x4x8xf32>
  %1 = tessera.softmax %x axis = 2 safe {policy = #tessera.policy<accum = f32>} : tensor<2x4x8xf32>
  // CHECK-NEXT: %2 = tessera.log_softmax %arg0 axis = 1 : tensor<2x4x8xf32>
  %2 = tessera.log_softmax %x axis = 1 : tensor<2x4x8xf32>
  // CHECK-NEXT: %3 = tessera.layer_norm %arg0 weight %arg1 bias %arg2 axis = 2 eps = 1.000000e-05 : (tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  %3 = tessera.layer_norm %x weight %w bias %b axis = 2 eps = 1.0e-05 : (tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  // CHECK-NEXT: %4 = tessera.layer_norm %arg0 axis = 2 eps = 1.000000e-05 safe : (tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %4 = tessera.layer_norm %x axis = 2 eps = 1.0e-05 safe : (tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  // CHECK-NEXT: %5 = tessera.layer_norm %arg0 bias %arg2 axis = 2 eps = 0.000000e+00 : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  %5 = tessera.layer_norm %x bias %b axis = 2 eps = 0.0 : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  // CHECK-NEXT: %6 = tessera.rms_norm %arg0 weight %arg1 eps = 9.9999999999999995E-7 : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  %6 = tessera.rms_norm %x weight %w eps = 1.0e-06 : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  // CHECK-NEXT: %7 = tessera.rms_norm %arg0 eps = 9.9999999999999995E-7 safe : (tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %7 = tessera.rms_norm %x eps = 1.0e-06 safe : (tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  // CHECK-NEXT: %8 = tessera.group_norm %arg3 weight %arg4 bias %arg4 groups = 2 eps = 1.000000e-05 : (tensor<1x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  %8 = tessera.group_norm %img weight %cw bias %cw groups = 2 eps = 1.0e-05 : (tensor<1x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  // CHECK-NEXT: %9 = tessera.dropout %arg0 p = 1.000000e-01 seed = 7 : tensor<2x4x8xf32>
  %9 = tessera.dropout %x p = 0.1 seed = 7 : tensor<2x4x8xf32>
  // CHECK-NEXT: %10 = tessera.linear %arg0, %arg5, %arg6 : (tensor<2x4x8xf32>, tensor<8x16xf32>, tensor<16xf32>) -> tensor<2x4x16xf32>
  %10 = tessera.linear %x, %lw, %lb : (tensor<2x4x8xf32>, tensor<8x16xf32>, tensor<16xf32>) -> tensor<2x4x16xf32>
  // CHECK-NEXT: %11 = tessera.linear %arg0, %arg5 : (tensor<2x4x8xf32>, tensor<8x16xf32>) -> tensor<2x4x16xf32>
  %11 = tessera.linear %x, %lw : (tensor<2x4x8xf32>, tensor<8x16xf32>) -> tensor<2x4x16xf32>
  // CHECK-NEXT: %12 = tessera.embedding %arg8, %arg7 : (tensor<100x8xf32>, tensor<2x5xi64>) -> tensor<2x5x8xf32>
  %12 = tessera.embedding %tab, %ids : (tensor<100x8xf32>, tensor<2x5xi64>) -> tensor<2x5x8xf32>
  // CHECK-NEXT: %13 = tessera.one_hot %arg10 num_classes = 10 : tensor<4xi64> -> tensor<4x10xf32>
  %13 = tessera.one_hot %labels num_classes = 10 : tensor<4xi64> -> tensor<4x10xf32>
  // CHECK-NEXT: %14 = tessera.cross_entropy %arg9, %arg10 : (tensor<4x10xf32>, tensor<4xi64>) -> tensor<f32>
  %14 = tessera.cross_entropy %logits, %labels : (tensor<4x10xf32>, tensor<4xi64>) -> tensor<f32>
  // CHECK-NEXT: %15 = tessera.attention %arg0, %arg0, %arg0 causal : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %15 = tessera.attention %x, %x, %x causal : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  // CHECK-NEXT: %16 = tessera.attention %arg0, %arg0, %arg0 scale = 5.000000e-01 safe : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %16 = tessera.attention %x, %x, %x scale = 0.5 safe : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  // CHECK-NEXT: %17 = tessera.embedding_grad %arg8, %arg7, %12 : (tensor<100x8xf32>, tensor<2x5xi64>, tensor<2x5x8xf32>) -> tensor<100x8xf32>
  %17 = tessera.embedding_grad %tab, %ids, %12 : (tensor<100x8xf32>, tensor<2x5xi64>, tensor<2x5x8xf32>) -> tensor<100x8xf32>
  return
}

// CHECK-LABEL: func.func @conv(
func.func @conv(%x: tensor<1x4x8x8xf32>, %w: tensor<6x2x3x3xf32>, %b: tensor<6xf32>, %d: tensor<?x4x?x?xf32>) {
  // CHECK-NEXT: %0 = tessera.conv2d %arg0, %arg1, %arg2 stride = [1, 1] padding = [1, 1] dilation = [1, 1] groups = 2 : (tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32>, tensor<6xf32>) -> tensor<1x6x8x8xf32>
  %0 = tessera.conv2d %x, %w, %b stride = [1, 1] padding = [1, 1] dilation = [1, 1] groups = 2 : (tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32>, tensor<6xf32>) -> tensor<1x6x8x8xf32>
  // CHECK-NEXT: %1 = tessera.conv2d %arg0, %arg1 stride = [2, 2] padding = [0, 0] dilation = [2, 1] groups = 2 : (tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32>) -> tensor<1x6x2x3xf32>
  %1 = tessera.conv2d %x, %w stride = [2, 2] padding = [0, 0] dilation = [2, 1] groups = 2 : (tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32>) -> tensor<1x6x2x3xf32>
  // CHECK-NEXT: %2 = tessera.conv2d %arg3, %arg1 stride = [1, 1] padding = [0, 0] dilation = [1, 1] groups = 2 : (tensor<?x4x?x?xf32>, tensor<6x2x3x3xf32>) -> tensor<?x6x?x?xf32>
  %2 = tessera.conv2d %d, %w stride = [1, 1] padding = [0, 0] dilation = [1, 1] groups = 2 : (tensor<?x4x?x?xf32>, tensor<6x2x3x3xf32>) -> tensor<?x6x?x?xf32>
  // CHECK-NEXT: %3 = tessera.max_pool2d %arg0 kernel = [2, 2] stride = [2, 2] padding = [0, 0] : tensor<1x4x8x8xf32> -> tensor<1x4x4x4xf32>
  %3 = tessera.max_pool2d %x kernel = [2, 2] stride = [2, 2] padding = [0, 0] : tensor<1x4x8x8xf32> -> tensor<1x4x4x4xf32>
  // CHECK-NEXT: %4 = tessera.avg_pool2d %arg0 kernel = [3, 3] stride = [1, 1] padding = [1, 1] : tensor<1x4x8x8xf32> -> tensor<1x4x8x8xf32>
  %4 = tessera.avg_pool2d %x kernel = [3, 3] stride = [1, 1] padding = [1, 1] : tensor<1x4x8x8xf32> -> tensor<1x4x8x8xf32>
  // CHECK-NEXT: %5 = tessera.adaptive_avg_pool2d %arg0 output_size = [1, 1] : tensor<1x4x8x8xf32> -> tensor<1x4x1x1xf32>
  %5 = tessera.adaptive_avg_pool2d %x output_size = [1, 1] : tensor<1x4x8x8xf32> -> tensor<1x4x1x1xf32>
  return
}

// CHECK-LABEL: func.func @creation(
func.func @creation(%n: index) {
  // CHECK-NEXT: %0 = tessera.zeros : tensor<4x8xf32>
  %0 = tessera.zeros : tensor<4x8xf32>
  // CHECK-NEXT: %1 = tessera.ones [%arg0] : tensor<?x8xi32>
  %1 = tessera.ones [%n] : tensor<?x8xi32>
  // CHECK-NEXT: %2 = tessera.full 2.500000e+00 : tensor<4xbf16>
  %2 = tessera.full 2.5 : tensor<4xbf16>
  // CHECK-NEXT: %3 = tessera.full -1.000000e+00 [%arg0, %arg0] : tensor<?x?xf64>
  %3 = tessera.full -1.0 [%n, %n] : tensor<?x?xf64>
  // CHECK-NEXT: %4 = tessera.arange start = 0.000000e+00 step = 1.000000e+00 : tensor<10xi64>
  %4 = tessera.arange start = 0.0 step = 1.0 : tensor<10xi64>
  // CHECK-NEXT: %5 = tessera.arange start = 1.000000e+00 step = 5.000000e-01 [%arg0] : tensor<?xf32>
  %5 = tessera.arange start = 1.0 step = 0.5 [%n] : tensor<?xf32>
  // CHECK-NEXT: %6 = tessera.randn {seed = 0 : i64} : tensor<4x8xf32>
  %6 = tessera.randn {seed = 0 : i64} : tensor<4x8xf32>
  // CHECK-NEXT: %7 = tessera.randn [%arg0] {offset = 16 : i64, seed = 1 : i64} : tensor<?x8xf32>
  %7 = tessera.randn [%n] {offset = 16 : i64, seed = 1 : i64} : tensor<?x8xf32>
  // CHECK-NEXT: %8 = tessera.rand : tensor<3xf64>
  %8 = tessera.rand : tensor<3xf64>
  return
}

// CHECK-LABEL: func.func @io(
func.func @io(%x: tensor<f32>, %y: tensor<3xf32>, %i: i64, %s: f64, %b: i1) {
  // CHECK-NEXT: tessera.print ["loss", "{:.4f}"](%arg0) : tensor<f32>
  tessera.print ["loss", "{:.4f}"](%x) : tensor<f32>
  // CHECK-NEXT: tessera.print ["step {}: {}", "{}", "{{[{][{]}}literal{{[}][}]}}", "{}"](%arg2, %arg1, %arg3, %arg4) : i64, tensor<3xf32>, f64, i1
  tessera.print ["step {}: {}", "{}", "{{literal}}", "{}"](%i, %y, %s, %b) : i64, tensor<3xf32>, f64, i1
  // CHECK-NEXT: tessera.print ["hello"]()
  tessera.print ["hello"]()
  // CHECK-NEXT: %0 = tessera.load "weights.npy" : tensor<?x16xf32>
  %0 = tessera.load "weights.npy" : tensor<?x16xf32>
  // CHECK-NEXT: tessera.save %arg1, "out.npy" : tensor<3xf32>
  tessera.save %y, "out.npy" : tensor<3xf32>
  // CHECK-NEXT: %1 = tessera.load "p.npz" {member = "linear_0.b"} : tensor<3xf32>
  %1 = tessera.load "p.npz" {member = "linear_0.b"} : tensor<3xf32>
  // CHECK-NEXT: tessera.save %arg1, "p.npz" {member = "linear_0.w"} : tensor<3xf32>
  tessera.save %y, "p.npz" {member = "linear_0.w"} : tensor<3xf32>
  // CHECK-NEXT: tessera.save %1, "p.npz" {commit, member = "linear_0.b"} : tensor<3xf32>
  tessera.save %1, "p.npz" {commit, member = "linear_0.b"} : tensor<3xf32>
  // CHECK-NEXT: tessera.assert %arg4, "AssertionError: b must hold"
  tessera.assert %b, "AssertionError: b must hold"
  return
}

// CHECK-LABEL: func.func @sampling(
func.func @sampling(%mu: tensor<f32>, %sigma: f64, %y: tensor<10xf32>, %loc: tensor<10xf32>) {
  // CHECK-NEXT: %0 = tessera.sample "Normal"(%arg0, %arg1) name = "w" : (tensor<f32>, f64) -> tensor<3xf32>
  %0 = tessera.sample "Normal"(%mu, %sigma) name = "w" : (tensor<f32>, f64) -> tensor<3xf32>
  // CHECK-NEXT: %1 = tessera.sample "HalfCauchy"(%arg1) name = "sigma" : (f64) -> tensor<f32>
  %1 = tessera.sample "HalfCauchy"(%sigma) name = "sigma" : (f64) -> tensor<f32>
  // CHECK-NEXT: tessera.observe %arg2 from "Normal"(%arg3, %arg0) name = "y" : tensor<10xf32>, (tensor<10xf32>, tensor<f32>)
  tessera.observe %y from "Normal"(%loc, %mu) name = "y" : tensor<10xf32>, (tensor<10xf32>, tensor<f32>)
  return
}

// CHECK-LABEL: func.func @inference(
func.func @inference(%y: tensor<10xf32>, %n: i64, %d: index) {
  // CHECK-NEXT: %0 = tessera.infer @logp_grad, @quantities(%arg0, %arg1) sizes(%arg2, %arg2) {config = "engine.mcmc=1;fields=mu:;"} : (tensor<10xf32>, i64) -> i64
  %p = tessera.infer @logp_grad, @quantities(%y, %n) sizes(%d, %d) {config = "engine.mcmc=1;fields=mu:;"} : (tensor<10xf32>, i64) -> i64
  // CHECK-NEXT: %1 = tessera.infer @logp_grad, @quantities(%arg0) sizes(%arg2, %arg2) field_dims(%arg2) seed(%arg1) {config = "engine.mcmc=1;fields=mu:?;", terms = @terms} : (tensor<10xf32>) -> i64
  %p2 = tessera.infer @logp_grad, @quantities(%y) sizes(%d, %d) field_dims(%d) seed(%n) {config = "engine.mcmc=1;fields=mu:?;", terms = @terms} : (tensor<10xf32>) -> i64
  // CHECK-NEXT: %2 = tessera.posterior_stat "quantile" "mu"(%0) {q = 5.000000e-02 : f64} : tensor<f32>
  %q = tessera.posterior_stat "quantile" "mu"(%p) {q = 0.05 : f64} : tensor<f32>
  // CHECK-NEXT: %3 = tessera.posterior_stat "samples" "mu"(%0) {q = 0.000000e+00 : f64} : tensor<?xf64>
  %s = tessera.posterior_stat "samples" "mu"(%p) {q = 0.0 : f64} : tensor<?xf64>
  // CHECK-NEXT: %4 = tessera.posterior_stat "mean" "z"(%0, %arg2) {q = 0.000000e+00 : f64} : tensor<?xf64>
  %m = tessera.posterior_stat "mean" "z"(%p, %d) {q = 0.0 : f64} : tensor<?xf64>
  // CHECK-NEXT: %5 = tessera.posterior_predict "predict" @predictive(%0) (%arg0, %arg1) : (tensor<10xf32>, i64) -> tensor<10xf32>
  %pr = tessera.posterior_predict "predict" @predictive(%p)(%y, %n) : (tensor<10xf32>, i64) -> tensor<10xf32>
  // CHECK-NEXT: %6 = tessera.posterior_predict "uncertainty" @predictive(%0, %arg2) (%arg0) : (tensor<10xf32>) -> tensor<?xf64>
  %un = tessera.posterior_predict "uncertainty" @predictive(%p, %d)(%y) : (tensor<10xf32>) -> tensor<?xf64>
  // CHECK-NEXT: tessera.posterior_summary(%0)
  tessera.posterior_summary(%p)
  // CHECK-NEXT: tessera.posterior_save "draws.npz"(%0)
  tessera.posterior_save "draws.npz"(%p)
  return
}

// CHECK-LABEL: func.func @loss(
func.func @loss(%a: tensor<4xf32>, %b: tensor<4xf32>, %l: tensor<4xi64>) -> tensor<f32> {
  // CHECK-NEXT: %0 = tessera.mul %arg0, %arg1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %0 = tessera.mul %a, %b : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: %1 = tessera.reduce sum %0 axes = [0] : tensor<4xf32> -> tensor<f32>
  %1 = tessera.reduce sum %0 axes = [0] : tensor<4xf32> -> tensor<f32>
  // CHECK-NEXT: return %1 : tensor<f32>
  return %1 : tensor<f32>
}

// CHECK-LABEL: func.func @autodiff(
func.func @autodiff(%a: tensor<4xf32>, %b: tensor<4xf32>, %l: tensor<4xi64>) {
  // CHECK-NEXT: %0:3 = tessera.grad @loss(%arg0, %arg1, %arg2) {argnums = array<i64: 0, 1>, value} : (tensor<4xf32>, tensor<4xf32>, tensor<4xi64>) -> (tensor<f32>, tensor<4xf32>, tensor<4xf32>)
  %v, %g0, %g1 = tessera.grad @loss(%a, %b, %l) {argnums = array<i64: 0, 1>, value} : (tensor<4xf32>, tensor<4xf32>, tensor<4xi64>) -> (tensor<f32>, tensor<4xf32>, tensor<4xf32>)
  // CHECK-NEXT: %1 = tessera.grad @loss(%arg0, %arg1, %arg2) {argnums = array<i64: 1>} : (tensor<4xf32>, tensor<4xf32>, tensor<4xi64>) -> tensor<4xf32>
  %g = tessera.grad @loss(%a, %b, %l) {argnums = array<i64: 1>} : (tensor<4xf32>, tensor<4xf32>, tensor<4xi64>) -> tensor<4xf32>
  return
}
