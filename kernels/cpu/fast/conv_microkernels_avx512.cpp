// The convolution micro-kernels for AVX-512 F: 16-float vectors, 24 of the 32 zmm registers
// as accumulators. Compiled with -mavx512f -mavx512vl -mavx2 -mfma (CMakeLists.txt); reached
// only through conv_microkernels_avx512() when cpu_isa() says the CPU has AVX-512.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/fast/conv_microkernels.h"

namespace ctv::kernels::fast {
namespace {

constexpr const char* kLevelName = "avx512";

struct Vec {
  static constexpr int kWidth = 16;
  static constexpr int kAcc = 24;
  using V = __m512;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V load_first(const float* p, int n) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p);
  }
  static V bcast(const float* p) { return _mm512_set1_ps(*p); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static void store_first(float* p, V v, int n) {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), v);
  }
};

#include "kernels/cpu/fast/conv_microkernels_body.inc"

}  // namespace

const ConvMicrokernels& conv_microkernels_avx512() { return kTable; }

}  // namespace ctv::kernels::fast
