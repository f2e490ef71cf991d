// The tensor-core GEMM of conv3d.cu as host/device functions: TF32 and BF16 rounding, the
// register layouts of the warp-level mma.sync.m16n8k8 TF32 and m16n8k16 BF16 instructions (PTX
// ISA, "Matrix Fragments for mma.m16n8k8" with .tf32 operands and "for mma.m16n8k16 with
// floating point type" with .bf16), and where each fragment register of each lane comes from
// in a block's shared-memory tiles. The kernel and its host emulation
// (tests/test_cuda_mma_layout.cpp) both call these, so the tiling is tested on the CPU on
// machines without a GPU. Plain C++: no CUDA headers needed.
//
// Block tile: kTcTileM rows x BN columns (BN = 16, 32 or 64, by the GEMM's column count) of
// the output, kTcWarps warps each owning kTcWarpRows rows (two m16 tiles) and all BN columns
// (BN / 8 n8 tiles); the reduction is walked kTcTileL at a time through shared memory:
//   As[row][l]   the A operand, kTcTileM x kTcTileL (+ padding), TF32 or BF16 bits
//   Bs[col][l]   the B operand stored column-major, BN x kTcTileL (+ padding)
// TF32: one 32-bit word per value, row stride kTcTileL + kTcSmemPad = 20 words; BF16: two
// values (adjacent l) per 32-bit fragment register, row stride kTcTileL + kTcSmemPadBf16 = 24
// halves = 12 words. Either puts the 32 lanes' fragment reads (8 rows x 4 words) in 32
// different banks.
#pragma once
#include <cstdint>
#include <cstring>

#include "kernels/common.h"

namespace ctv::kernels::cuda {

inline constexpr int kTcTileM = 128;
inline constexpr int kTcTileL = 16;
inline constexpr int kTcSmemPad = 4;
inline constexpr int kTcWarps = 4;
inline constexpr int kTcThreads = kTcWarps * 32;
inline constexpr int kTcWarpRows = kTcTileM / kTcWarps;  // 32: two m16 tiles per warp
inline constexpr int kTcMmaK = 8;                        // m16n8k8 (TF32)
inline constexpr int kTcMmaKBf16 = 16;                   // m16n8k16 (BF16): one per tile
inline constexpr int kTcSmemPadBf16 = 8;                 // halves

// The column tile for a GEMM with n columns: the smallest of 16, 32, 64 that holds it (64 and
// several column blocks beyond).
CTV_HD inline int tc_tile_n(std::int64_t n) { return n <= 16 ? 16 : n <= 32 ? 32 : 64; }

// TF32 as cvt.rna.tf32.f32 makes it: the float rounded to 10 stored mantissa bits, to nearest
// with ties away from zero; the low 13 bits zero. NaN and infinity pass through.
CTV_HD inline std::uint32_t tf32_round_bits(std::uint32_t bits) {
  if ((bits & 0x7f800000u) == 0x7f800000u) return bits;  // inf, NaN
  return (bits + 0x1000u) & 0xffffe000u;
}
inline float tf32_round(float v) {
  std::uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  b = tf32_round_bits(b);
  std::memcpy(&v, &b, sizeof v);
  return v;
}

// BF16 as cvt.rn.bf16.f32 makes it: the top 16 bits of the float rounded to nearest, ties to
// even; infinity passes through, NaN stays NaN.
CTV_HD inline std::uint16_t bf16_round_bits(std::uint32_t bits) {
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  return static_cast<std::uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}
inline float bf16_round(float v) {
  std::uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  b = std::uint32_t(bf16_round_bits(b)) << 16;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

struct MmaCoord {
  int row, col;
};

// mma.m16n8k8 .tf32, lane = threadIdx.x % 32, groupID = lane / 4, threadID_in_group = lane % 4:
// A (16 x 8, row-major), register r of 4: row groupID (+8 for r = 1, 3), column
// threadID_in_group (+4 for r = 2, 3).
CTV_HD inline MmaCoord mma_tf32_a(int lane, int r) {
  return {lane / 4 + 8 * (r % 2), lane % 4 + 4 * (r / 2)};
}
// B (8 x 8, k x n), register r of 2: row (k) threadID_in_group (+4 for r = 1), column groupID.
CTV_HD inline MmaCoord mma_tf32_b(int lane, int r) { return {lane % 4 + 4 * r, lane / 4}; }
// C and D (16 x 8, float), register r of 4: row groupID (+8 for r = 2, 3), column
// 2 * threadID_in_group + r % 2.
CTV_HD inline MmaCoord mma_c(int lane, int r) {
  return {lane / 4 + 8 * (r / 2), 2 * (lane % 4) + r % 2};
}

// mma.m16n8k16 .bf16: each 32-bit register holds two values, half h = 0 in its low 16 bits.
// A (16 x 16), register r of 4: row groupID (+8 for r = 1, 3), column 2 * threadID_in_group
// + h (+8 for r = 2, 3).
CTV_HD inline MmaCoord mma_bf16_a(int lane, int r, int h) {
  return {lane / 4 + 8 * (r % 2), 2 * (lane % 4) + h + 8 * (r / 2)};
}
// B (16 x 8, k x n), register r of 2: row (k) 2 * threadID_in_group + h (+8 for r = 1),
// column groupID.
CTV_HD inline MmaCoord mma_bf16_b(int lane, int r, int h) {
  return {2 * (lane % 4) + h + 8 * r, lane / 4};
}

// Where the block's registers come from and go to. Rows of As and of the output tile:
// warp w's m16 tile i; columns: n8 tile j; k step ks of the kTcTileL slice.
// A fragment register r: As[row][col].
CTV_HD inline MmaCoord tc_a_smem(int warp, int i, int ks, int lane, int r) {
  const MmaCoord c = mma_tf32_a(lane, r);
  return {warp * kTcWarpRows + i * 16 + c.row, ks * kTcMmaK + c.col};
}
// B fragment register r: Bs[row = column of the output tile][col = l in the slice].
CTV_HD inline MmaCoord tc_b_smem(int j, int ks, int lane, int r) {
  const MmaCoord c = mma_tf32_b(lane, r);
  return {j * 8 + c.col, ks * kTcMmaK + c.row};
}
// BF16: the half-word pair of A fragment register r (its h = 0 half): As[row][col, col + 1].
CTV_HD inline MmaCoord tc_a_smem_bf16(int warp, int i, int lane, int r) {
  const MmaCoord c = mma_bf16_a(lane, r, 0);
  return {warp * kTcWarpRows + i * 16 + c.row, c.col};
}
// BF16: B fragment register r: Bs[row = column of the output tile][col, col + 1].
CTV_HD inline MmaCoord tc_b_smem_bf16(int j, int lane, int r) {
  const MmaCoord c = mma_bf16_b(lane, r, 0);
  return {j * 8 + c.col, c.row};
}
// Accumulator register r of tiles (i, j): the output tile's row and column (both types).
CTV_HD inline MmaCoord tc_acc(int warp, int i, int j, int lane, int r) {
  const MmaCoord c = mma_c(lane, r);
  return {warp * kTcWarpRows + i * 16 + c.row, j * 8 + c.col};
}

// Which thread fills which shared-memory word: element e (from tid, stepping by kTcThreads)
// of an A tile is As[e / kTcTileL][e % kTcTileL]; of a B tile, Bs[e / kTcTileL][e % kTcTileL]
// (consecutive threads read consecutive l: along C of an NDHWC tensor for fprop's A).
CTV_HD inline MmaCoord tc_fill(int e) { return {e / kTcTileL, e % kTcTileL}; }

}  // namespace ctv::kernels::cuda
