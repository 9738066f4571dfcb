// Folders and canonicalization patterns of the tessera dialect.
// RUN: %tessera_opt %s --canonicalize --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @transpose_twice
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>)
// CHECK-NEXT: %[[T:.*]] = tessera.transpose %[[X]] [2, 0, 1] {policy = #tessera.policy<accum = f32>} : tensor<2x3x4xf32> -> tensor<4x2x3xf32>
// CHECK-NEXT: return %[[T]]
func.func @transpose_twice(%x: tensor<2x3x4xf32>) -> tensor<4x2x3xf32> {
  %0 = tessera.transpose %x [1, 2, 0] : tensor<2x3x4xf32> -> tensor<3x4x2xf32>
  %1 = tessera.transpose %0 [1, 2, 0] {policy = #tessera.policy<accum = f32>} : tensor<3x4x2xf32> -> tensor<4x2x3xf32>
  return %1 : tensor<4x2x3xf32>
}

// -----

// Two transposes that undo each other disappear.
// CHECK-LABEL: func.func @transpose_inverse
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK-NEXT: return %[[X]]
func.func @transpose_inverse(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = tessera.transpose %x [1, 0] : tensor<4x8xf32> -> tensor<8x4xf32>
  %1 = tessera.transpose %0 [1, 0] : tensor<8x4xf32> -> tensor<4x8xf32>
  return %1 : tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func.func @transpose_identity
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK-NEXT: return %[[X]]
func.func @transpose_identity(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = tessera.transpose %x [0, 1] : tensor<4x8xf32> -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_twice
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK-NEXT: %[[R:.*]] = tessera.reshape %[[X]] : tensor<4x8xf32> -> tensor<32xf32>
// CHECK-NEXT: return %[[R]]
func.func @reshape_twice(%x: tensor<4x8xf32>) -> tensor<32xf32> {
  %0 = tessera.reshape %x : tensor<4x8xf32> -> tensor<2x16xf32>
  %1 = tessera.reshape %0 : tensor<2x16xf32> -> tensor<32xf32>
  return %1 : tensor<32xf32>
}

// -----

// The outer reshape's dynamic sizes are kept.
// CHECK-LABEL: func.func @reshape_twice_dynamic
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %[[N:.*]]: index, %[[M:.*]]: index)
// CHECK-NEXT: %[[R:.*]] = tessera.reshape %[[X]] [%[[M]]] : tensor<?x8xf32> -> tensor<?x4xf32>
// CHECK-NEXT: return %[[R]]
func.func @reshape_twice_dynamic(%x: tensor<?x8xf32>, %n: index, %m: index) -> tensor<?x4xf32> {
  %0 = tessera.reshape %x [%n] : tensor<?x8xf32> -> tensor<?xf32>
  %1 = tessera.reshape %0 [%m] : tensor<?xf32> -> tensor<?x4xf32>
  return %1 : tensor<?x4xf32>
}

// -----

// Two reshapes back to the static input type fold away entirely.
// CHECK-LABEL: func.func @reshape_round_trip
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK-NEXT: return %[[X]]
func.func @reshape_round_trip(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = tessera.reshape %x : tensor<4x8xf32> -> tensor<32xf32>
  %1 = tessera.reshape %0 : tensor<32xf32> -> tensor<4x8xf32>
  return %1 : tensor<4x8xf32>
}

// -----

// A reshape between equal dynamic types may change the shape, so it stays.
// CHECK-LABEL: func.func @reshape_same_dynamic_type
// CHECK-NEXT: tessera.reshape
func.func @reshape_same_dynamic_type(%x: tensor<?x?xf32>, %n: index, %m: index) -> tensor<?x?xf32> {
  %0 = tessera.reshape %x [%n, %m] : tensor<?x?xf32> -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

// -----

// CHECK-LABEL: func.func @broadcast_same_type
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[Y:.*]]: tensor<?x8xf32>)
// CHECK-NEXT: return %[[X]], %[[Y]]
func.func @broadcast_same_type(%x: tensor<4x8xf32>, %y: tensor<?x8xf32>) -> (tensor<4x8xf32>, tensor<?x8xf32>) {
  %0 = tessera.broadcast_to %x : tensor<4x8xf32> -> tensor<4x8xf32>
  %1 = tessera.broadcast_to %y : tensor<?x8xf32> -> tensor<?x8xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<?x8xf32>
}

// -----

// With an explicit size, a ?x8 input of size 1x8 may grow: no fold.
// CHECK-LABEL: func.func @broadcast_dynamic_size
// CHECK-NEXT: tessera.broadcast_to
func.func @broadcast_dynamic_size(%y: tensor<?x8xf32>, %n: index) -> tensor<?x8xf32> {
  %0 = tessera.broadcast_to %y [%n] : tensor<?x8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// CHECK-LABEL: func.func @cast_same_type
// CHECK-SAME: (%[[X:.*]]: tensor<4xbf16>)
// CHECK-NEXT: %[[C:.*]] = tessera.cast %[[X]] : tensor<4xbf16> -> tensor<4xf32>
// CHECK-NEXT: return %[[X]], %[[C]]
func.func @cast_same_type(%x: tensor<4xbf16>) -> (tensor<4xbf16>, tensor<4xf32>) {
  %0 = tessera.cast %x : tensor<4xbf16> -> tensor<4xbf16>
  %1 = tessera.cast %x : tensor<4xbf16> -> tensor<4xf32>
  return %0, %1 : tensor<4xbf16>, tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @neg_neg
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>)
// CHECK-NEXT: return %[[X]]
func.func @neg_neg(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = tessera.neg %x : tensor<4xf32>
  %1 = tessera.neg %0 : tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

// x + 0 -> x for integers, x + (-0.0) -> x for floats, 0 + x -> x.
// CHECK-LABEL: func.func @add_zero
// CHECK-SAME: (%[[I:.*]]: tensor<4xi32>, %[[F:.*]]: tensor<2x4xf32>)
// CHECK-NEXT: return %[[I]], %[[F]], %[[F]]
func.func @add_zero(%i: tensor<4xi32>, %f: tensor<2x4xf32>) -> (tensor<4xi32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  %zi = arith.constant dense<0> : tensor<4xi32>
  %nz = arith.constant dense<-0.0> : tensor<f32>
  %0 = tessera.add %i, %zi : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  %1 = tessera.add %f, %nz : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xf32>
  %2 = tessera.add %nz, %f : (tensor<f32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0, %1, %2 : tensor<4xi32>, tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// x + 0.0 is not x when x is -0.0; a zero that broadcasts x to a larger shape
// is not an identity either.
// CHECK-LABEL: func.func @add_zero_kept
// CHECK: tessera.add
// CHECK: tessera.add
func.func @add_zero_kept(%f: tensor<4xf32>) -> (tensor<4xf32>, tensor<2x4xf32>) {
  %pz = arith.constant dense<0.0> : tensor<4xf32>
  %z2 = arith.constant dense<-0.0> : tensor<2x4xf32>
  %0 = tessera.add %f, %pz : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = tessera.add %f, %z2 : (tensor<4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0, %1 : tensor<4xf32>, tensor<2x4xf32>
}

// -----

// CHECK-LABEL: func.func @sub_zero
// CHECK-SAME: (%[[F:.*]]: tensor<4xf32>)
// CHECK-NEXT: return %[[F]]
func.func @sub_zero(%f: tensor<4xf32>) -> tensor<4xf32> {
  %z = arith.constant dense<0.0> : tensor<f32>
  %0 = tessera.sub %f, %z : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @mul_div_one
// CHECK-SAME: (%[[F:.*]]: tensor<4xf32>, %[[I:.*]]: tensor<4xi64>)
// CHECK-NEXT: return %[[F]], %[[F]], %[[I]]
func.func @mul_div_one(%f: tensor<4xf32>, %i: tensor<4xi64>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xi64>) {
  %one = arith.constant dense<1.0> : tensor<f32>
  %onei = arith.constant dense<1> : tensor<4xi64>
  %0 = tessera.mul %one, %f : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = tessera.div %f, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %2 = tessera.mul %i, %onei : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  return %0, %1, %2 : tensor<4xf32>, tensor<4xf32>, tensor<4xi64>
}

// -----

// A static dimension folds to a constant; a dynamic one to the size that
// created the tensor.
// CHECK-LABEL: func.func @dim
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %[[N:.*]]: index)
// CHECK-NEXT: %[[C8:.*]] = arith.constant 8 : index
// CHECK-NEXT: %[[D:.*]] = tessera.dim %[[X]], 0 : tensor<?x8xf32>
// CHECK-NEXT: return %[[C8]], %[[D]], %[[N]]
func.func @dim(%x: tensor<?x8xf32>, %n: index) -> (index, index, index) {
  %0 = tessera.dim %x, 1 : tensor<?x8xf32>
  %1 = tessera.dim %x, 0 : tensor<?x8xf32>
  %z = tessera.zeros [%n] : tensor<4x?xf32>
  %2 = tessera.dim %z, 1 : tensor<4x?xf32>
  return %0, %1, %2 : index, index, index
}

// -----

// Random ops are neither merged nor removed when unused; pure ops are.
// CHECK-LABEL: func.func @random_kept
// CHECK-NEXT: tessera.randn
// CHECK-NEXT: tessera.randn
// CHECK-NEXT: tessera.dropout
// CHECK-NEXT: return
func.func @random_kept(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = tessera.randn {seed = 0 : i64} : tensor<4xf32>
  %1 = tessera.randn {seed = 0 : i64} : tensor<4xf32>
  %2 = tessera.dropout %x p = 0.5 seed = 1 : tensor<4xf32>
  %3 = tessera.exp %x : tensor<4xf32>
  return %0, %1 : tensor<4xf32>, tensor<4xf32>
}
