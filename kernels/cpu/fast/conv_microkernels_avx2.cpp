// The convolution micro-kernels for AVX2 + FMA: 8-float vectors, 12 of the 16 ymm registers as
// accumulators. Compiled with -mavx2 -mfma (CMakeLists.txt); reached only through
// conv_microkernels_avx2() when cpu_isa() says the CPU has AVX2 and FMA.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/fast/conv_microkernels.h"

namespace ctv::kernels::fast {
namespace {

constexpr const char* kLevelName = "avx2";

// Lanes [8 - n, 16 - n) of this table are the mask "first n lanes".
alignas(64) constexpr std::int32_t kMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                     0,  0,  0,  0,  0,  0,  0,  0};

struct Vec {
  static constexpr int kWidth = 8;
  static constexpr int kAcc = 12;
  using V = __m256;
  static __m256i mask(int n) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 8 - n));
  }
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V load_first(const float* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  static V bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static void store_first(float* p, V v, int n) { _mm256_maskstore_ps(p, mask(n), v); }
};

#include "kernels/cpu/fast/conv_microkernels_body.inc"

}  // namespace

const ConvMicrokernels& conv_microkernels_avx2() { return kTable; }

}  // namespace ctv::kernels::fast
