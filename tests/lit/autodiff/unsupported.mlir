// Gradients the pass does not build yet are E0900-style errors at the op.
// RUN: %tessera_opt %s --split-input-file --tessera-reverse-ad --verify-diagnostics

func.func private @loop(%x: tensor<3xf32>) -> tensor<f32> {
  %c0 = arith.constant 0 : index
  %c3 = arith.constant 3 : index
  %c1 = arith.constant 1 : index
  // The adjoint recomputes the body, so a body that draws random numbers is not supported.
  // expected-error @+1 {{not yet supported: gradients through control flow that draws random numbers ('tessera.dropout')}}
  %r = scf.for %i = %c0 to %c3 step %c1 iter_args(%a = %x) -> (tensor<3xf32>) {
    %y = tessera.dropout %a p = 5.000000e-01 seed = 7 : tensor<3xf32>
    scf.yield %y : tensor<3xf32>
  }
  %s = tessera.reduce sum %r axes = [0] : tensor<3xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func @use_loop(%x: tensor<3xf32>) -> tensor<3xf32> {
  %g = tessera.grad @loop(%x) {argnums = array<i64: 0>} : (tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}

// -----

// A slice whose step is only known at run time (its sign decides the rule).
func.func private @dyn_step(%x: tensor<8xf32>, %s: tensor<i64>) -> tensor<f32> {
  %e = tensor.extract %s[] : tensor<i64>
  %i = arith.index_cast %e : i64 to index
  // expected-error @+1 {{not yet supported: the gradient of 'tessera.slice'}}
  %0 = tessera.slice %x[0] [2] [%i] : tensor<8xf32> -> tensor<2xf32>
  %1 = tessera.reduce sum %0 axes = [0] : tensor<2xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
func.func @use_dyn_step(%x: tensor<8xf32>, %s: tensor<i64>) -> tensor<8xf32> {
  %g = tessera.grad @dyn_step(%x, %s) {argnums = array<i64: 0>} : (tensor<8xf32>, tensor<i64>) -> tensor<8xf32>
  return %g : tensor<8xf32>
}

// -----

// A while whose condition region computes the values passed on (the front end never does).
func.func private @cond_changes(%x: tensor<f32>) -> tensor<f32> {
  %eps = arith.constant dense<1.0e-02> : tensor<f32>
  // expected-error @+1 {{not yet supported: gradients through a 'while' whose condition changes the loop values}}
  %r = scf.while (%a = %x) : (tensor<f32>) -> tensor<f32> {
    %h = tessera.mul %a, %a : (tensor<f32>, tensor<f32>) -> tensor<f32>
    %c = tessera.cmp gt, %h, %eps : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %b = tensor.extract %c[] : tensor<i1>
    scf.condition(%b) %h : tensor<f32>
  } do {
  ^bb0(%a: tensor<f32>):
    scf.yield %a : tensor<f32>
  }
  return %r : tensor<f32>
}
func.func @use_cond_changes(%x: tensor<f32>) -> tensor<f32> {
  %g = tessera.grad @cond_changes(%x) {argnums = array<i64: 0>} : (tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}

// -----

// A @custom_vjp function called in a loop is run again by the reverse pass: random numbers in it
// would differ.
func.func private @noisy(%x: tensor<3xf32>) -> tensor<3xf32> attributes {tessera.custom_vjp = @noisy_bwd} {
  %0 = tessera.dropout %x p = 5.000000e-01 seed = 7 : tensor<3xf32>
  return %0 : tensor<3xf32>
}
func.func private @noisy_bwd(%x: tensor<3xf32>, %out: tensor<3xf32>, %ct: tensor<3xf32>) -> tensor<3xf32> {
  return %ct : tensor<3xf32>
}
func.func private @noisy_loop(%x: tensor<3xf32>) -> tensor<f32> {
  %c0 = arith.constant 0 : index
  %c3 = arith.constant 3 : index
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{not yet supported: gradients through control flow that calls 'noisy', which uses 'tessera.dropout' (the reverse pass runs the body again)}}
  %r = scf.for %i = %c0 to %c3 step %c1 iter_args(%a = %x) -> (tensor<3xf32>) {
    %y = func.call @noisy(%a) : (tensor<3xf32>) -> tensor<3xf32>
    scf.yield %y : tensor<3xf32>
  }
  %s = tessera.reduce sum %r axes = [0] : tensor<3xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func @use_noisy_loop(%x: tensor<3xf32>) -> tensor<3xf32> {
  %g = tessera.grad @noisy_loop(%x) {argnums = array<i64: 0>} : (tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}

// -----

// A backward function whose signature does not fit (sema rejects this in .tsr programs).
func.func private @bad(%x: tensor<3xf32>) -> tensor<3xf32> attributes {tessera.custom_vjp = @bad_bwd} {
  return %x : tensor<3xf32>
}
func.func private @bad_bwd(%x: tensor<3xf32>, %ct: tensor<3xf32>) -> tensor<3xf32> {
  return %ct : tensor<3xf32>
}
func.func private @bad_loss(%x: tensor<3xf32>) -> tensor<f32> {
  // expected-error @+1 {{the backward function 'bad_bwd' of 'bad' does not have the signature (arguments, result, cotangent) -> (cotangents of the floating-point arguments)}}
  %y = func.call @bad(%x) : (tensor<3xf32>) -> tensor<3xf32>
  %s = tessera.reduce sum %y axes = [0] : tensor<3xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func @use_bad(%x: tensor<3xf32>) -> tensor<3xf32> {
  %g = tessera.grad @bad_loss(%x) {argnums = array<i64: 0>} : (tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}
