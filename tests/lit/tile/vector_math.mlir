// RUN: %tessera_opt %s --tessera-vector-math | %FileCheck %s
// f32 exp/log/tanh/erf (scalar or vector) become polynomial code; f64 exp/log/log1p become our
// own expansions (scalar or vector, no libm call); other f64 functions keep the libm path.

// CHECK-LABEL: func.func @f32_vector
// CHECK-NOT: math.exp
// CHECK-NOT: math.erf
// CHECK-NOT: math.tanh
// CHECK-NOT: math.log
// CHECK: math.fma {{.*}} : vector<16xf32>
// CHECK: return
func.func @f32_vector(%x: vector<16xf32>) -> vector<16xf32> {
  %a = math.exp %x : vector<16xf32>
  %b = math.erf %a : vector<16xf32>
  %c = math.tanh %b : vector<16xf32>
  %d = math.log %c : vector<16xf32>
  return %d : vector<16xf32>
}

// CHECK-LABEL: func.func @f64_scalar
// CHECK-NOT: math.exp
// CHECK: math.fma {{.*}} : f64
// CHECK: math.erf {{.*}} : f64
func.func @f64_scalar(%x: f64) -> f64 {
  %a = math.exp %x : f64
  %b = math.erf %a : f64
  return %b : f64
}

// CHECK-LABEL: func.func @f64_vector
// CHECK-NOT: math.exp
// CHECK-NOT: math.log
// CHECK: arith.bitcast {{.*}} : vector<8xf64> to vector<8xi64>
// CHECK: math.fma {{.*}} : vector<8xf64>
// CHECK: arith.divf {{.*}} : vector<8xf64>
// CHECK-NOT: math.exp
// CHECK-NOT: math.log
// CHECK: math.tanh {{.*}} : vector<8xf64>
// CHECK: return
func.func @f64_vector(%x: vector<8xf64>) -> vector<8xf64> {
  %a = math.exp %x : vector<8xf64>
  %b = math.log %a : vector<8xf64>
  %c = math.log1p %b : vector<8xf64>
  %d = math.tanh %c : vector<8xf64>
  return %d : vector<8xf64>
}
