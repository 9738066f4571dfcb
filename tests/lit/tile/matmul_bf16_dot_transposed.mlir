// RUN: %tessera_opt %s --tessera-matmul-schedule="bf16-dot=true" | %FileCheck %s --check-prefix=DOT
// RUN: %tessera_opt %s --tessera-matmul-schedule | %FileCheck %s --check-prefix=AC

// A stored transposed ([k, m], a weight gradient's x^T) and read for several panels: its block is
// packed as pairs of k too ([MC/MR][KC/2][2 x 8] bf16, the sliver's rows side by side per
// pair), and the kernel broadcasts each row's pair from the packed block (no odd tail: the
// packing zeroed the missing half).
// DOT-LABEL: func.func @bf16_dot_transposed
// DOT: func.call @__tessera_matmul_block_bf16_f32_6x4x16_kc512_mc96_ap_dot(
// DOT-LABEL: func.func private @__tessera_matmul_block_bf16_f32_6x4x16_kc512_mc96_ap_dot
// DOT: %[[AP:.*]] = memref.alloc() {alignment = 64 : i64} : memref<16x256x16xbf16>
// DOT: vector.transfer_read {{.*}} : memref<?x?xbf16, strided<[?, 1], offset: ?>>, vector<8xbf16>
// DOT: vector.shuffle {{.*}} [0, 8, 1, 9, 2, 10,
// DOT: vector.store %{{.*}}, %[[AP]]{{.*}} : memref<16x256x16xbf16>, vector<16xbf16>
// DOT: vector.load %[[AP]]{{.*}} : memref<16x256x16xbf16>, vector<2xbf16>
// DOT: llvm.call_intrinsic "llvm.x86.avx512bf16.dpbf16ps.512"
// AC-LABEL: func.func @bf16_dot_transposed
// AC: func.call @__tessera_matmul_block_bf16_f32_6x4x16_kc152_mc96_ap(
func.func @bf16_dot_transposed(%A: memref<301x33xbf16>, %B: memref<301x70xbf16>, %C: memref<33x70xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, k, n) -> (k, m)>, affine_map<(m, k, n) -> (k, n)>,
                                   affine_map<(m, k, n) -> (m, n)>],
                  iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%A, %B : memref<301x33xbf16>, memref<301x70xbf16>) outs(%C : memref<33x70xf32>) {
  ^bb0(%x: bf16, %y: bf16, %acc: f32):
    %xe = arith.extf %x : bf16 to f32
    %ye = arith.extf %y : bf16 to f32
    %p = arith.mulf %xe, %ye : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
