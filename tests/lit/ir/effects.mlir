// Random and side-effecting ops survive CSE and dead-code removal; pure ops
// are merged. A load only reads, so an unused one goes away.
// RUN: %tessera_opt %s --cse --canonicalize | FileCheck %s

// CHECK-LABEL: func.func @effects
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>)
// CHECK-NEXT: %[[E:.*]] = tessera.exp %[[X]]
// CHECK-NEXT: %[[R0:.*]] = tessera.randn {seed = 0 : i64}
// CHECK-NEXT: %[[R1:.*]] = tessera.randn {seed = 0 : i64}
// CHECK-NEXT: tessera.rand
// CHECK-NEXT: tessera.dropout %[[X]]
// CHECK-NEXT: tessera.sample "Normal"
// CHECK-NEXT: tessera.observe %[[X]] from "Normal"
// CHECK-NEXT: tessera.print ["{}"](%[[E]])
// CHECK-NEXT: tessera.save %[[X]], "b.npy"
// CHECK-NEXT: return %[[E]], %[[E]], %[[R0]], %[[R1]]
func.func @effects(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %e0 = tessera.exp %x : tensor<4xf32>
  %e1 = tessera.exp %x : tensor<4xf32>
  %r0 = tessera.randn {seed = 0 : i64} : tensor<4xf32>
  %r1 = tessera.randn {seed = 0 : i64} : tensor<4xf32>
  %unused = tessera.rand : tensor<4xf32>
  %d = tessera.dropout %x p = 0.5 seed = 1 : tensor<4xf32>
  %s = tessera.sample "Normal"(%x, %x) name = "s" : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  tessera.observe %x from "Normal"(%x, %x) name = "o" : tensor<4xf32>, (tensor<4xf32>, tensor<4xf32>)
  tessera.print ["{}"](%e0) : tensor<4xf32>
  %l = tessera.load "a.npy" : tensor<4xf32>
  tessera.save %x, "b.npy" : tensor<4xf32>
  %n = tessera.norm %x : tensor<4xf32> -> tensor<f32>
  return %e0, %e1, %r0, %r1 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}
