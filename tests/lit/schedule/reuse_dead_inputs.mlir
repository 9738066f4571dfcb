// RUN: %tessera_opt %s --tessera-reuse-dead-inputs | %FileCheck %s
// An elementwise op whose init is an empty tensor writes into an input instead, when the input
// has the init's type and identity map, is dead after the op, and its buffer is writable (a
// computed value, a loop-carried value, a donated argument). Bufferization then updates that
// buffer in place.
#id = affine_map<(d0) -> (d0)>
#scalar = affine_map<(d0) -> ()>

// A computed value that nothing reads afterwards: the second op writes into it.
// CHECK-LABEL: func.func @computed
// CHECK: %[[A:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<8xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[A]], %arg1 : tensor<8xf32>, tensor<f32>) outs(%[[A]] : tensor<8xf32>)
func.func @computed(%x: tensor<8xf32>, %s: tensor<f32>) -> tensor<8xf32> {
  %e = tensor.empty() : tensor<8xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %in : f32
    linalg.yield %0 : f32
  } -> tensor<8xf32>
  %b = linalg.generic {indexing_maps = [#id, #scalar, #id], iterator_types = ["parallel"]} ins(%a, %s : tensor<8xf32>, tensor<f32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %c: f32, %out: f32):
    %0 = arith.mulf %in, %c : f32
    linalg.yield %0 : f32
  } -> tensor<8xf32>
  return %b : tensor<8xf32>
}

// Still read after the op (returned): a new buffer.
// CHECK-LABEL: func.func @live
// CHECK: %[[A:.*]] = linalg.generic
// CHECK: linalg.generic {{.*}} ins(%[[A]] : tensor<8xf32>) outs(%{{.*}} : tensor<8xf32>)
// CHECK-NOT: outs(%[[A]]
// CHECK: return
func.func @live(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  %e = tensor.empty() : tensor<8xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %in : f32
    linalg.yield %0 : f32
  } -> tensor<8xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.mulf %in, %in : f32
    linalg.yield %0 : f32
  } -> tensor<8xf32>
  return %a, %b : tensor<8xf32>, tensor<8xf32>
}

// A view of the input read later keeps it alive too.
// CHECK-LABEL: func.func @live_view
// CHECK: %[[A:.*]] = linalg.generic
// CHECK: tensor.extract_slice %[[A]]
// CHECK-NOT: outs(%[[A]]
// CHECK: return
func.func @live_view(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<4xf32>) {
  %e = tensor.empty() : tensor<8xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %in : f32
    linalg.yield %0 : f32
  } -> tensor<8xf32>
  %v = tensor.extract_slice %a[0] [4] [1] : tensor<8xf32> to tensor<4xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.mulf %in, %in : f32
    linalg.yield %0 : f32
  } -> tensor<8xf32>
  return %b, %v : tensor<8xf32>, tensor<4xf32>
}

// An entry's argument belongs to its caller; a donated one may be overwritten; a constant never.
// CHECK-LABEL: func.func @arguments
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1 : tensor<8xf32>, tensor<8xf32>) outs(%arg1 : tensor<8xf32>)
// CHECK: linalg.generic {{.*}} ins(%arg0, %[[C:.*]] : tensor<8xf32>, tensor<8xf32>) outs(%{{[0-9]+}} : tensor<8xf32>)
func.func @arguments(%x: tensor<8xf32>, %d: tensor<8xf32> {tessera.donated}) -> (tensor<8xf32>, tensor<8xf32>) {
  %c = arith.constant dense<1.0> : tensor<8xf32>
  %e = tensor.empty() : tensor<8xf32>
  %a = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%x, %d : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %0 = arith.addf %in, %in2 : f32
    linalg.yield %0 : f32
  } -> tensor<8xf32>
  %b = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%x, %c : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %0 = arith.addf %in, %in2 : f32
    linalg.yield %0 : f32
  } -> tensor<8xf32>
  return %a, %b : tensor<8xf32>, tensor<8xf32>
}

// A loop-carried value updated each iteration: in place.
// CHECK-LABEL: func.func @loop
// CHECK: scf.for {{.*}} iter_args(%[[W:.*]] = %arg0)
// CHECK: linalg.generic {{.*}} ins(%[[W]] : tensor<8xf32>) outs(%[[W]] : tensor<8xf32>)
func.func @loop(%x: tensor<8xf32>) -> tensor<8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%w = %x) -> tensor<8xf32> {
    %e = tensor.empty() : tensor<8xf32>
    %n = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%w : tensor<8xf32>) outs(%e : tensor<8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %0 = arith.mulf %in, %in : f32
      linalg.yield %0 : f32
    } -> tensor<8xf32>
    scf.yield %n : tensor<8xf32>
  }
  return %r : tensor<8xf32>
}

// A reduction reads other elements than the one it writes: left alone.
// CHECK-LABEL: func.func @reduction
// CHECK: outs(%{{.*}} : tensor<f32>)
func.func @reduction(%x: tensor<8xf32> {tessera.donated}) -> tensor<f32> {
  %e = tensor.empty() : tensor<f32>
  %r = linalg.generic {indexing_maps = [#id, #scalar], iterator_types = ["reduction"]} ins(%x : tensor<8xf32>) outs(%e : tensor<f32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<f32>
  return %r : tensor<f32>
}

// A value computed before a loop and read inside it is read again by every iteration: the loop's
// op writes into its own loop-carried value instead.
// CHECK-LABEL: func.func @outside_loop
// CHECK: %[[A:.*]] = linalg.generic
// CHECK: scf.for {{.*}} iter_args(%[[S:.*]] = %arg1)
// CHECK: linalg.generic {{.*}} ins(%[[A]], %[[S]] : tensor<8xf32>, tensor<8xf32>) outs(%[[S]] : tensor<8xf32>)
func.func @outside_loop(%x: tensor<8xf32>, %s0: tensor<8xf32>) -> tensor<8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %e0 = tensor.empty() : tensor<8xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<8xf32>) outs(%e0 : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  } -> tensor<8xf32>
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%s = %s0) -> tensor<8xf32> {
    %e = tensor.empty() : tensor<8xf32>
    %n = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%a, %s : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) {
    ^bb0(%in: f32, %in2: f32, %out: f32):
      %0 = arith.addf %in, %in2 : f32
      linalg.yield %0 : f32
    } -> tensor<8xf32>
    scf.yield %n : tensor<8xf32>
  }
  return %r : tensor<8xf32>
}
