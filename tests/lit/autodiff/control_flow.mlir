// --tessera-reverse-ad through scf.if, scf.for and scf.while (docs/autodiff.md, "Control flow").
// RUN: %tessera_opt %s --tessera-reverse-ad | FileCheck %s

// if: a second scf.if on the same condition recomputes each branch and yields the
// cotangents of the outer values the branches use.
func.func private @branch(%x: tensor<3xf32>, %c: i1) -> tensor<f32> {
  %y = scf.if %c -> (tensor<3xf32>) {
    %a = tessera.sin %x : tensor<3xf32>
    scf.yield %a : tensor<3xf32>
  } else {
    scf.yield %x : tensor<3xf32>
  }
  %s = tessera.reduce sum %y axes = [0] : tensor<3xf32> -> tensor<f32>
  return %s : tensor<f32>
}
// CHECK-LABEL: func.func private @branch__grad_0(
// CHECK: scf.if %arg1 -> (tensor<3xf32>)
// CHECK: tessera.sin
// CHECK: %[[D:.*]] = scf.if %arg1 -> (tensor<3xf32>) {
// CHECK: tessera.sin %arg0
// CHECK: tessera.cos %arg0
// CHECK: scf.yield
// CHECK: } else {
// CHECK: scf.yield
// CHECK: return %{{.*}}, %[[D]]
func.func @use_branch(%x: tensor<3xf32>, %c: i1) -> tensor<3xf32> {
  %g = tessera.grad @branch(%x, %c) {argnums = array<i64: 0>} : (tensor<3xf32>, i1) -> tensor<3xf32>
  return %g : tensor<3xf32>
}

// for: the forward loop writes its carried value into a tape allocated before it (one slot
// per iteration); the reverse loop reads the slots backwards and carries the cotangents.
func.func private @loop(%x: tensor<3xf32>, %w: tensor<3xf32>) -> tensor<f32> {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%a = %x) -> (tensor<3xf32>) {
    %y = tessera.mul %a, %w : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    scf.yield %y : tensor<3xf32>
  }
  %s = tessera.reduce sum %r axes = [0] : tensor<3xf32> -> tensor<f32>
  return %s : tensor<f32>
}
// CHECK-LABEL: func.func private @loop__grad_0_1(
// CHECK: %[[N:.*]] = arith.ceildivsi
// CHECK: %[[TAPE:.*]] = tensor.empty(%[[N]]) : tensor<?x3xf32>
// CHECK: %[[FWD:.*]]:2 = scf.for {{.*}} iter_args({{.*}} = %arg0, {{.*}} = %[[TAPE]]) -> (tensor<3xf32>, tensor<?x3xf32>)
// CHECK: tensor.insert_slice {{.*}} : tensor<3xf32> into tensor<?x3xf32>
// CHECK: %[[REV:.*]]:2 = scf.for {{.*}} to %[[N]] {{.*}} -> (tensor<3xf32>, tensor<3xf32>)
// CHECK: tensor.extract_slice %[[FWD]]#1{{.*}} : tensor<?x3xf32> to tensor<3xf32>
// CHECK: tessera.mul
// CHECK: scf.yield
// CHECK: return %{{.*}}, %[[REV]]#0, %[[REV]]#1
func.func @use_loop(%x: tensor<3xf32>, %w: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %g:2 = tessera.grad @loop(%x, %w) {argnums = array<i64: 0, 1>} : (tensor<3xf32>, tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>)
  return %g#0, %g#1 : tensor<3xf32>, tensor<3xf32>
}

// while: one forward pass; the loop also carries a count and a growable tape (16 slots, doubled
// by an scf.if when full) where each iteration writes the value it starts with; the reverse loop
// runs `count` times as for `for`.
func.func private @until(%x: tensor<f32>) -> tensor<f32> {
  %eps = arith.constant dense<1.0e-02> : tensor<f32>
  %r = scf.while (%a = %x) : (tensor<f32>) -> tensor<f32> {
    %c = tessera.cmp gt, %a, %eps : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %b = tensor.extract %c[] : tensor<i1>
    scf.condition(%b) %a : tensor<f32>
  } do {
  ^bb0(%a: tensor<f32>):
    %y = tessera.mul %a, %a : (tensor<f32>, tensor<f32>) -> tensor<f32>
    scf.yield %y : tensor<f32>
  }
  return %r : tensor<f32>
}
// CHECK-LABEL: func.func private @until__grad_0(
// CHECK: %[[C16:.*]] = arith.constant 16 : index
// CHECK: %[[TAPE:.*]] = tensor.empty(%[[C16]]) : tensor<?xf32>
// CHECK: %[[W:.*]]:3 = scf.while ({{.*}}, {{.*}}, {{.*}} = %[[TAPE]]) : (tensor<f32>, index, tensor<?xf32>) -> (tensor<f32>, index, tensor<?xf32>)
// CHECK: } do {
// CHECK: ^bb0(%[[A:.*]]: tensor<f32>, %[[N:.*]]: index, %[[T:.*]]: tensor<?xf32>):
// CHECK: %[[CAP:.*]] = tensor.dim %[[T]]
// CHECK: %[[FULL:.*]] = arith.cmpi sge, %[[N]], %[[CAP]]
// CHECK: %[[G:.*]] = scf.if %[[FULL]] -> (tensor<?xf32>)
// CHECK: arith.muli %[[CAP]]
// CHECK: tensor.insert_slice %[[T]] into
// CHECK: } else {
// CHECK: scf.yield %[[T]]
// CHECK: tensor.insert_slice %[[A]] into %[[G]][%[[N]]]
// CHECK: tessera.mul
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[W]]#1
// CHECK: tensor.extract_slice %[[W]]#2
// CHECK: tessera.mul
// CHECK: return %[[W]]#0,
func.func @use_until(%x: tensor<f32>) -> tensor<f32> {
  %g = tessera.grad @until(%x) {argnums = array<i64: 0>} : (tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}
