// The per-ISA inner loops of the fast convolutions: register-blocked tiles over raw float
// buffers, one table of function pointers per instruction-set level (conv_microkernels_*.cpp,
// all built from conv_microkernels_body.inc). The op files (conv3d.cpp, conv_transpose3d.cpp)
// prepare buffers, pack weights, split work with parallel_for and call these; nothing here
// allocates or threads.
//
// The one GEMM view every entry point shares ("direct" convolution over a prepared input in
// which every tap is in range, i.e. padding already materialised as zeros):
//   out[row][q][k] = bias[k] + sum_{t<T, r<R, j<S*C} in(row, t, r)[q*sw*C + j] * w[k][t][r][j]
//   in(row, t, r) = in + n*in_image + (z*sd + t)*in_plane + (p*sh + r)*in_row,
//   row = (n*Z + z)*P + p.
// For fixed (t, r) the S*C reduction index j is contiguous in both the input row and KTRSC
// weights, so a row of taps is one contiguous segment (the first layer's C=2 gives segments of
// S*C=6, not 3 of 2).
//
// Packed weights ("panel" layout, built by pack_weight_panels in conv3d.cpp): output channels
// in blocks of k_block = 2 vectors; block b at offset b*k_block*L (L = T*R*S*C), laid out
// [l][wb] with wb = the block's width rounded up to whole vectors, zero beyond K.
#pragma once
#include <cstdint>

namespace ctv::kernels::fast {

struct DirectConvArgs {
  const float* in;                          // prepared input (see above); no alignment required
  std::int64_t in_row, in_plane, in_image;  // strides in floats of h, d and n
  int C, T, R, S;                           // input channels, taps
  int sd, sh, sw;                           // strides
  int Z, P, Q, K;                           // output depth, height, width, channels
  const float* wpack;                       // fprop: packed panels; wgrad: unused
  const float* bias;                        // fprop: null or K; wgrad: unused
  float* out;                               // fprop: [rows][Q][K], overwritten
  const float* dy;                          // wgrad: [rows][Q][dy_pixel], channels [0, K)
  std::int64_t dy_pixel;                    // wgrad: floats from one dy pixel to the next (>= K)
};

// conv_transpose3d with stride == kernel and no padding (no overlap): one GEMM whose columns
// are (t, r, s, k), each output written once:
//   y[n][d*T+t][h*R+r][w*S+s][k] = bias[k] + sum_c x[n][d][h][w][c] * wt[c][t][r][s][k].
struct ScatterGemmArgs {
  const float* x;  // [N][D][H][W][C]
  int D, H, W, C;
  int T, R, S, K;          // requires: K a multiple of the level's vector width
  const float* wpack;      // panels of the [T*R*S*K columns][C] matrix (L = C)
  const float* bias_cols;  // null or T*R*S*K: bias[col % K]
  float* y;                // [N][D*T][H*R][W*S][K], overwritten
};

// Winograd F(2x2x2, 3x3x3) for a 3x3x3 convolution with stride 1 and padding 1 (output size =
// input size), padding implicit (taps outside the input read as zero, no padded copy):
//   y[n][z][p][q][k] = bias[k] + sum_{t,r,s,c} x[n][z+t-1][p+r-1][q+s-1][c] * w[k][t][r][s][c]
// computed per tile of 2x2x2 outputs as A^T [ (B^T d B) (.) (G w G^T) ] A along each axis:
// the 4x4x4 input tile d transformed (adds only), multiplied position by position (xi = 64
// positions) with the transformed weights U over the channels (a GEMM per position), and the
// 64 products transformed back into 8 outputs. Blocks of tiles_per_block tiles along w are the
// unit of work: block b = ((n * tiles_d + tz) * tiles_h + tp) * blocks_w + bw.
struct WinogradArgs {
  const float* x;  // [N][D][H][W][C]
  int N, D, H, W;
  int C, K;             // requires: multiples of the level's vector width
  int tiles_per_block;  // tiles along w per block
  const float* u;       // per position xi: the K x C matrix U_xi in panels (pack_weight_panels)
  std::int64_t u_stride;  // floats from one position's panels to the next
  const float* bias;      // null or K
  float* y;               // [N][D][H][W][K], overwritten
  const float* dy;        // wgrad: [N][D][H][W][K]
};
// One tile's 64 transformed positions of `channels` channels in winograd_blocks' scratch, one
// cache line more than they take: without it, the GEMM's rows (one per tile) would lie a
// multiple of 4 KiB apart at 16 channels, all in one L1 set.
inline std::int64_t winograd_tile_floats(int channels) { return std::int64_t(64) * channels + 16; }
// Scratch a winograd_blocks or winograd_wgrad_blocks call needs: tiles_per_block tiles of C
// and of K channels.
inline std::int64_t winograd_scratch_floats(const WinogradArgs& a) {
  return a.tiles_per_block * (winograd_tile_floats(a.C) + winograd_tile_floats(a.K));
}

struct ConvMicrokernels {
  const char* name;
  int vec_width;  // floats per vector
  int k_block;    // packed panel width: 2 vectors
  // Rows [row_begin, row_end) of out (rows = N*Z*P), overwritten.
  void (*fprop_rows)(const DirectConvArgs& a, std::int64_t row_begin, std::int64_t row_end);
  // partial[k][t][r][j] += sum over rows [row_begin, row_end) and q, in that order, of
  // dy[row][q][k] * in(row, t, r)[q*sw*C + j]. Each element is one float sum in a fixed order,
  // so the result depends only on the rows given, not on how a caller groups calls.
  void (*wgrad_rows)(const DirectConvArgs& a, std::int64_t row_begin, std::int64_t row_end,
                     float* partial);
  // Input rows [row_begin, row_end) (rows = N*D*H) of the scatter GEMM.
  void (*scatter_gemm_rows)(const ScatterGemmArgs& a, std::int64_t row_begin, std::int64_t row_end);
  // Blocks [block_begin, block_end) of the Winograd convolution; scratch holds
  // winograd_scratch_floats(a) floats. Each output is written by the block holding its tile.
  void (*winograd_blocks)(const WinogradArgs& a, std::int64_t block_begin, std::int64_t block_end,
                          float* scratch);
  // The weight gradient in the Winograd domain, blocks [block_begin, block_end) in order:
  // partial[xi][k][c] += sum over their tiles of (A dy_tile)_xi[k] * (B^T x_tile)_xi[c], with
  // A the transpose of the output transform (per axis [e0, e0 + e1, e0 - e1, -e1]) and dy taken
  // as zero outside the output; dw = G^T partial G per axis (the caller). Same scratch as
  // winograd_blocks; u, bias and y unused.
  void (*winograd_wgrad_blocks)(const WinogradArgs& a, std::int64_t block_begin,
                                std::int64_t block_end, float* scratch, float* partial);
};

const ConvMicrokernels& conv_microkernels_portable();
const ConvMicrokernels& conv_microkernels_avx2();    // only on CPUs with AVX2 and FMA
const ConvMicrokernels& conv_microkernels_avx512();  // only on CPUs with AVX-512 F

}  // namespace ctv::kernels::fast
