// RUN: %tessera_opt %s --tessera-cpu-vectorize | %FileCheck %s
// f64 rows: exp, log and log1p (which --tessera-vector-math expands into arithmetic) and math
// ops with vector instructions (abs, sqrt, ...) vectorize by 8 lanes; other f64 math (tanh, a
// libm call per lane) keeps its loop scalar. A long row with a bool operand vectorizes at 8 f64
// lanes (the rule that keeps bool rows scalar is for rows shorter than 16). An op on [N, 1]
// buffers loses its unit inner loop and vectorizes over N.

#id1 = affine_map<(i) -> (i)>
#sum1 = affine_map<(i) -> ()>
#id2 = affine_map<(i, j) -> (i, j)>

// The Bernoulli log likelihood's sum: y * l - (max(l, 0) + log1p(exp(-|l|))), masked by a bool.
// CHECK-LABEL: func.func @bernoulli_sum
// CHECK: scf.for {{.*}} -> (vector<8xf64>, vector<8xf64>, vector<8xf64>, vector<8xf64>)
// CHECK: llvm.load %{{.*}} {alignment = 1 : i64} : !llvm.ptr -> vector<8xi8>
// CHECK: math.absf %{{.*}} : vector<8xf64>
// CHECK: math.exp %{{.*}} : vector<8xf64>
// CHECK: math.log1p %{{.*}} : vector<8xf64>
// CHECK: vector.reduction <add>
// CHECK-NOT: linalg.generic
func.func @bernoulli_sum(%m: memref<1003xi1>, %y: memref<1003xf64>, %l: memref<1003xf64>, %acc: memref<f64>) {
  %zero = arith.constant 0.0 : f64
  %ninf = arith.constant 0xFFF0000000000000 : f64
  linalg.generic {indexing_maps = [#id1, #id1, #id1, #sum1], iterator_types = ["reduction"]}
      ins(%m, %y, %l : memref<1003xi1>, memref<1003xf64>, memref<1003xf64>) outs(%acc : memref<f64>) {
  ^bb0(%keep: i1, %yv: f64, %lv: f64, %a: f64):
    %p = arith.mulf %yv, %lv : f64
    %mx = arith.maximumf %lv, %zero : f64
    %ab = math.absf %lv : f64
    %ng = arith.negf %ab : f64
    %e = math.exp %ng : f64
    %sp = math.log1p %e : f64
    %s = arith.addf %mx, %sp : f64
    %t = arith.subf %p, %s : f64
    %r = arith.select %keep, %t, %ninf : f64
    %n = arith.addf %r, %a : f64
    linalg.yield %n : f64
  }
  return
}

// CHECK-LABEL: func.func @f64_log_sqrt
// CHECK: math.log %{{.*}} : vector<8xf64>
// CHECK: math.sqrt %{{.*}} : vector<8xf64>
// CHECK: vector.store %{{.*}} : memref<4x100xf64>, vector<8xf64>
func.func @f64_log_sqrt(%x: memref<4x100xf64>, %out: memref<4x100xf64>) {
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x100xf64>) outs(%out : memref<4x100xf64>) {
  ^bb0(%v: f64, %o: f64):
    %a = math.log %v : f64
    %b = math.sqrt %a : f64
    linalg.yield %b : f64
  }
  return
}

// CHECK-LABEL: func.func @f64_tanh_scalar
// CHECK-NOT: vector<
// CHECK: math.tanh %{{.*}} : f64
// CHECK: return
func.func @f64_tanh_scalar(%x: memref<4x100xf64>, %out: memref<4x100xf64>) {
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x100xf64>) outs(%out : memref<4x100xf64>) {
  ^bb0(%v: f64, %o: f64):
    %a = math.tanh %v : f64
    linalg.yield %a : f64
  }
  return
}

// A residual on [N, 1] columns (what a matrix-vector product's gradient reads): subviews of
// rank 1, and a vector loop over N.
// CHECK-LABEL: func.func @column
// CHECK-DAG: %[[X:.*]] = memref.subview %arg0[0, 0] [1000, 1] [1, 1] : memref<1000x1xf64> to memref<1000xf64, strided<[1]>>
// CHECK-DAG: %[[O:.*]] = memref.subview %arg2[0, 0] [1000, 1] [1, 1] : memref<1000x1xf32> to memref<1000xf32, strided<[1]>>
// CHECK: vector.load %[[X]][%{{.*}}] : memref<1000xf64, strided<[1]>>, vector<8xf64>
// CHECK: arith.divf %{{.*}} : vector<8xf64>
// CHECK: vector.store %{{.*}}, %[[O]][%{{.*}}] : memref<1000xf32, strided<[1]>>, vector<8xf32>
// CHECK-NOT: linalg.generic
func.func @column(%x: memref<1000x1xf64>, %s: memref<f64>, %out: memref<1000x1xf32>) {
  linalg.generic {indexing_maps = [#id2, affine_map<(i, j) -> ()>, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x, %s : memref<1000x1xf64>, memref<f64>) outs(%out : memref<1000x1xf32>) {
  ^bb0(%v: f64, %sv: f64, %o: f32):
    %a = arith.divf %sv, %v : f64
    %b = arith.truncf %a : f64 to f32
    linalg.yield %b : f32
  }
  return
}

// A unit inner loop indexed into a broadcast operand's non-unit dim cannot be dropped (j is
// not an index of a size-1 dim of %b): unchanged semantics, a scalar inner step.
// CHECK-LABEL: func.func @unit_loop_kept
// CHECK-NOT: memref.subview
// CHECK: return
func.func @unit_loop_kept(%a: memref<8x1xf32>, %b: memref<3xf32>, %out: memref<8x1xf32>) {
  linalg.generic {indexing_maps = [#id2, affine_map<(i, j) -> (j + 2)>, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%a, %b : memref<8x1xf32>, memref<3xf32>) outs(%out : memref<8x1xf32>) {
  ^bb0(%v: f32, %w: f32, %o: f32):
    %r = arith.addf %v, %w : f32
    linalg.yield %r : f32
  }
  return
}
