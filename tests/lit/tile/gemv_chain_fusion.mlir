// RUN: %tessera_opt %s --tessera-gemv-chain-fusion | %FileCheck %s
// X @ v, row-local work on it, a sum over its rows and X^T @ r over the same X run chunk by chunk
// of X's rows (docs/tile_ir.md): 2000 rows of 100 f32 in chunks of 640 rows (256 KiB), 4 chunks;
// each chunk's partial product and partial sum go to their own rows, added in chunk order after
// the loop (the partial products by a loop over the chunks, one elementwise add each). A value the function returns (t) is written whole, slice by slice.

#xk = affine_map<(n, k) -> (n, k)>
#k = affine_map<(n, k) -> (k)>
#n2 = affine_map<(n, k) -> (n)>
#id1 = affine_map<(n) -> (n)>
#to0 = affine_map<(n) -> ()>
#id2 = affine_map<(n, u) -> (n, u)>
#xt = affine_map<(j, n, u) -> (n, j)>
#r = affine_map<(j, n, u) -> (n, u)>
#g = affine_map<(j, n, u) -> (j, u)>

// CHECK-LABEL: func.func @chain
// CHECK: %[[F:.*]]:3 = scf.forall (%[[C:.*]]) in (4) shared_outs(%[[T:.*]] = %{{.*}}, %[[S:.*]] = %{{.*}}, %[[P:.*]] = %{{.*}}) -> (tensor<2000xf32>, tensor<4xf32>, tensor<4x100x1xf32>)
// CHECK: %[[LO:.*]] = arith.muli %[[C]], %c640
// CHECK: %[[SZ:.*]] = arith.minsi
// CHECK: %[[XC:.*]] = tensor.extract_slice %arg0[%[[LO]], 0] [%[[SZ]], 100] [1, 1] : tensor<2000x100xf32> to tensor<?x100xf32>
// CHECK: linalg.fill {{.*}} -> tensor<?xf32>
// CHECK: %[[TC:.*]] = linalg.generic {{.*}} ins(%[[XC]], %arg1 : tensor<?x100xf32>, tensor<100xf32>)
// CHECK: tensor.extract_slice %arg2[%[[LO]]] [%[[SZ]]] [1] : tensor<2000xf32> to tensor<?xf32>
// CHECK: tensor.expand_shape {{.*}} output_shape [%[[SZ]], 1] : tensor<?xf32> into tensor<?x1xf32>
// CHECK: %[[SC:.*]] = linalg.generic {{.*}} iterator_types = ["reduction"]
// CHECK: %[[PC:.*]] = linalg.generic {{.*}} ins(%[[XC]], %{{.*}} : tensor<?x100xf32>, tensor<?x1xf32>) outs(%{{.*}} : tensor<100x1xf32>)
// CHECK: scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %[[TC]] into %[[T]][%[[LO]]] [%[[SZ]]] [1] : tensor<?xf32> into tensor<2000xf32>
// CHECK-NEXT: tensor.parallel_insert_slice %[[SC]] into %[[S]][%[[C]]] [1] [1] : tensor<f32> into tensor<4xf32>
// CHECK-NEXT: tensor.parallel_insert_slice %[[PC]] into %[[P]][%[[C]], 0, 0] [1, 100, 1] [1, 1, 1] : tensor<100x1xf32> into tensor<4x100x1xf32>
// The partials added in chunk order, one chunk's [100, 1] at a time (elementwise: vectorized).
// CHECK: %[[G:.*]] = scf.for %[[I:.*]] = %c0 to %c4 step %c1 iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<100x1xf32>)
// CHECK-NEXT: %[[PI:.*]] = tensor.extract_slice %[[F]]#2[%[[I]], 0, 0] [1, 100, 1] [1, 1, 1] : tensor<4x100x1xf32> to tensor<100x1xf32>
// CHECK-NEXT: %[[ADD:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]} ins(%[[PI]] : tensor<100x1xf32>) outs(%[[ACC]] : tensor<100x1xf32>)
// CHECK-NEXT: ^bb0(%[[IN:.*]]: f32, %[[OUT:.*]]: f32):
// CHECK-NEXT: arith.addf %[[OUT]], %[[IN]] : f32
// CHECK: scf.yield %[[ADD]] : tensor<100x1xf32>
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} iterator_types = ["reduction"]} ins(%[[F]]#1 : tensor<4xf32>) outs(%{{.*}} : tensor<f32>)
// CHECK: %[[AFTER:.*]] = linalg.generic {{.*}} ins(%[[SUM]] : tensor<f32>)
// CHECK: return %[[F]]#0, %[[AFTER]], %[[G]]
func.func @chain(%x: tensor<2000x100xf32>, %v: tensor<100xf32>, %y: tensor<2000xf32>, %c: f32)
    -> (tensor<2000xf32>, tensor<f32>, tensor<100x1xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2000xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2000xf32>) -> tensor<2000xf32>
  %t = linalg.generic {indexing_maps = [#xk, #k, #n2], iterator_types = ["parallel", "reduction"]}
      ins(%x, %v : tensor<2000x100xf32>, tensor<100xf32>) outs(%f : tensor<2000xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<2000xf32>
  %e1 = tensor.empty() : tensor<2000xf32>
  %res = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]}
      ins(%t, %y : tensor<2000xf32>, tensor<2000xf32>) outs(%e1 : tensor<2000xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.subf %b, %a : f32
    %s = arith.mulf %d, %c : f32
    linalg.yield %s : f32
  } -> tensor<2000xf32>
  %e0 = tensor.empty() : tensor<f32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %sum = linalg.generic {indexing_maps = [#id1, #id1, #to0], iterator_types = ["reduction"]}
      ins(%t, %y : tensor<2000xf32>, tensor<2000xf32>) outs(%f0 : tensor<f32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %m, %o : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  // Uses the sum: moved after the loop.
  %after = linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []}
      ins(%sum : tensor<f32>) outs(%e0 : tensor<f32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  %r = tensor.expand_shape %res [[0, 1]] output_shape [2000, 1] : tensor<2000xf32> into tensor<2000x1xf32>
  %eg = tensor.empty() : tensor<100x1xf32>
  %fg = linalg.fill ins(%zero : f32) outs(%eg : tensor<100x1xf32>) -> tensor<100x1xf32>
  %g = linalg.generic {indexing_maps = [#xt, #r, #g], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x, %r : tensor<2000x100xf32>, tensor<2000x1xf32>) outs(%fg : tensor<100x1xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<100x1xf32>
  return %t, %after, %g : tensor<2000xf32>, tensor<f32>, tensor<100x1xf32>
}

// The residual depends on a sum over all rows (t - mean of t): not row-local, not fused.
// CHECK-LABEL: func.func @needs_all_rows
// CHECK-NOT: scf.forall
// CHECK: return
func.func @needs_all_rows(%x: tensor<2000x100xf32>, %v: tensor<100xf32>) -> tensor<100x1xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2000xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2000xf32>) -> tensor<2000xf32>
  %t = linalg.generic {indexing_maps = [#xk, #k, #n2], iterator_types = ["parallel", "reduction"]}
      ins(%x, %v : tensor<2000x100xf32>, tensor<100xf32>) outs(%f : tensor<2000xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<2000xf32>
  %e0 = tensor.empty() : tensor<f32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %sum = linalg.generic {indexing_maps = [#id1, #to0], iterator_types = ["reduction"]}
      ins(%t : tensor<2000xf32>) outs(%f0 : tensor<f32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %o : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  %e1 = tensor.empty() : tensor<2000xf32>
  %res = linalg.generic {indexing_maps = [#id1, #to0, #id1], iterator_types = ["parallel"]}
      ins(%t, %sum : tensor<2000xf32>, tensor<f32>) outs(%e1 : tensor<2000xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.subf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<2000xf32>
  %r = tensor.expand_shape %res [[0, 1]] output_shape [2000, 1] : tensor<2000xf32> into tensor<2000x1xf32>
  %eg = tensor.empty() : tensor<100x1xf32>
  %fg = linalg.fill ins(%zero : f32) outs(%eg : tensor<100x1xf32>) -> tensor<100x1xf32>
  %g = linalg.generic {indexing_maps = [#xt, #r, #g], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x, %r : tensor<2000x100xf32>, tensor<2000x1xf32>) outs(%fg : tensor<100x1xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<100x1xf32>
  return %g : tensor<100x1xf32>
}

// The transposed product reads another matrix: not fused.
// CHECK-LABEL: func.func @other_matrix
// CHECK-NOT: scf.forall
// CHECK: return
func.func @other_matrix(%x: tensor<2000x100xf32>, %z: tensor<2000x100xf32>, %v: tensor<100xf32>) -> tensor<100x1xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2000xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2000xf32>) -> tensor<2000xf32>
  %t = linalg.generic {indexing_maps = [#xk, #k, #n2], iterator_types = ["parallel", "reduction"]}
      ins(%x, %v : tensor<2000x100xf32>, tensor<100xf32>) outs(%f : tensor<2000xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<2000xf32>
  %r = tensor.expand_shape %t [[0, 1]] output_shape [2000, 1] : tensor<2000xf32> into tensor<2000x1xf32>
  %eg = tensor.empty() : tensor<100x1xf32>
  %fg = linalg.fill ins(%zero : f32) outs(%eg : tensor<100x1xf32>) -> tensor<100x1xf32>
  %g = linalg.generic {indexing_maps = [#xt, #r, #g], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%z, %r : tensor<2000x100xf32>, tensor<2000x1xf32>) outs(%fg : tensor<100x1xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<100x1xf32>
  return %g : tensor<100x1xf32>
}

// 600 rows: one chunk of 640, nothing to gain.
// CHECK-LABEL: func.func @one_chunk
// CHECK-NOT: scf.forall
// CHECK: return
func.func @one_chunk(%x: tensor<600x100xf32>, %v: tensor<100xf32>) -> tensor<100x1xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<600xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<600xf32>) -> tensor<600xf32>
  %t = linalg.generic {indexing_maps = [#xk, #k, #n2], iterator_types = ["parallel", "reduction"]}
      ins(%x, %v : tensor<600x100xf32>, tensor<100xf32>) outs(%f : tensor<600xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<600xf32>
  %r = tensor.expand_shape %t [[0, 1]] output_shape [600, 1] : tensor<600xf32> into tensor<600x1xf32>
  %eg = tensor.empty() : tensor<100x1xf32>
  %fg = linalg.fill ins(%zero : f32) outs(%eg : tensor<100x1xf32>) -> tensor<100x1xf32>
  %g = linalg.generic {indexing_maps = [#xt, #r, #g], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x, %r : tensor<600x100xf32>, tensor<600x1xf32>) outs(%fg : tensor<100x1xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<100x1xf32>
  return %g : tensor<100x1xf32>
}
