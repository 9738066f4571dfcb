// RUN: %tessera_opt %s --tessera-vector-math | %FileCheck %s
// f32 exp/log/tanh/erf (scalar or vector) become polynomial code; f64 keeps the libm path.

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
// CHECK: math.exp {{.*}} : f64
// CHECK: math.erf {{.*}} : f64
func.func @f64_scalar(%x: f64) -> f64 {
  %a = math.exp %x : f64
  %b = math.erf %a : f64
  return %b : f64
}
