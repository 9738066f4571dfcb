// RUN: %tessera_opt %s --tessera-matmul-schedule="bf16-dot=true" | %FileCheck %s --check-prefix=DOT
// RUN: %tessera_opt %s --tessera-matmul-schedule | %FileCheck %s --check-prefix=AC
// RUN: %tessera_opt %s --tessera-matmul-schedule="vector-bits=256 bf16-dot=true" | %FileCheck %s --check-prefix=AVX2

// bf16 x bf16 -> f32 with AVX512-BF16 (`bf16-dot`, chosen when the target CPU has avx512bf16):
// B is packed as interleaved pairs of k rows ([panels][KC/2][2 NR] bf16, zero past N and past
// an odd block's last row), and the micro-kernel broadcasts A's two consecutive elements as one
// 32-bit value and runs vdpbf16ps (two products per f32 lane). The K block is twice the f32
// kernel's (512: the same bytes of packed B per panel); an odd K block (here K = 301, one
// block) ends with the pair (A[m, k], 0).
// DOT-LABEL: func.func @bf16_dot
// DOT: %[[BP:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x256x128xbf16>
// DOT: %[[SECOND:.*]] = arith.cmpi ult
// DOT: vector.transfer_read %arg1{{.*}} : memref<301x70xbf16>, vector<16xbf16>
// DOT: vector.bitcast %{{.*}} : vector<16xbf16> to vector<16xi16>
// DOT: vector.transfer_read %arg1{{.*}} : memref<301x70xbf16>, vector<16xbf16>
// DOT: %[[HI:.*]] = arith.select %[[SECOND]], %{{.*}}, %{{.*}} : vector<16xi16>
// DOT: vector.shuffle %{{.*}}, %[[HI]] [0, 16, 1, 17, 2, 18,
// DOT: vector.store %{{.*}}, %[[BP]]{{.*}} : memref<2x256x128xbf16>, vector<32xbf16>
// DOT: func.call @__tessera_matmul_block_bf16_f32_6x4x16_kc512_mc96_au_dot(
// DOT-LABEL: func.func private @__tessera_matmul_block_bf16_f32_6x4x16_kc512_mc96_au_dot
// DOT: arith.divui %{{.*}}, %c2
// DOT: scf.for
// DOT: vector.load %arg2{{.*}} : memref<?x256x128xbf16>, vector<32xbf16>
// DOT: vector.load %arg0{{.*}} : memref<?x?xbf16, strided<[?, 1], offset: ?>>, vector<2xbf16>
// DOT: vector.bitcast %{{.*}} : vector<2xbf16> to vector<1xi32>
// DOT: vector.broadcast %{{.*}} : i32 to vector<16xi32>
// DOT: llvm.call_intrinsic "llvm.x86.avx512bf16.dpbf16ps.512"(%{{.*}}) : (vector<16xf32>, vector<32xbf16>, vector<32xbf16>) -> vector<16xf32>
//   The odd last k.
// DOT: arith.remui %{{.*}}, %c2
// DOT: scf.if
// DOT: memref.load %arg0
// DOT: arith.bitcast %{{.*}} : bf16 to i16
// DOT: arith.extui %{{.*}} : i16 to i32
// DOT: llvm.call_intrinsic "llvm.x86.avx512bf16.dpbf16ps.512"

// Without the instructions: B widened while packing, the block's rows of A widened into an f32
// copy before the micro-kernel (`_ac`), which broadcasts from it.
// AC-LABEL: func.func @bf16_dot
// AC: memref.alloc() {alignment = 64 : i64} : memref<2x152x64xf32>
// AC: func.call @__tessera_matmul_block_bf16_f32_6x4x16_kc152_mc96_au_ac(
// AC-LABEL: func.func private @__tessera_matmul_block_bf16_f32_6x4x16_kc152_mc96_au_ac
// AC: %[[ACONV:.*]] = memref.alloc() {alignment = 64 : i64} : memref<96x152xf32>
// AC: vector.transfer_read %arg0{{.*}} : memref<?x?xbf16, strided<[?, 1], offset: ?>>, vector<16xbf16>
// AC: arith.extf %{{.*}} : vector<16xbf16> to vector<16xf32>
// AC: vector.transfer_write %{{.*}}, %[[ACONV]]
// AC: memref.load %[[ACONV]]
// AC: vector.fma
// AC-NOT: llvm.call_intrinsic

// vdpbf16ps is a 512-bit kernel: with 256-bit vectors the f32 kernel runs.
// AVX2-LABEL: func.func @bf16_dot
// AVX2: func.call @__tessera_matmul_block_bf16_f32_6x2x8_kc152_mc96_au_ac(
// AVX2-NOT: llvm.call_intrinsic
func.func @bf16_dot(%A: memref<33x301xbf16>, %B: memref<301x70xbf16>, %C: memref<33x70xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, k, n) -> (m, k)>, affine_map<(m, k, n) -> (k, n)>,
                                   affine_map<(m, k, n) -> (m, n)>],
                  iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%A, %B : memref<33x301xbf16>, memref<301x70xbf16>) outs(%C : memref<33x70xf32>) {
  ^bb0(%x: bf16, %y: bf16, %acc: f32):
    %xe = arith.extf %x : bf16 to f32
    %ye = arith.extf %y : bf16 to f32
    %p = arith.mulf %xe, %ye : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

