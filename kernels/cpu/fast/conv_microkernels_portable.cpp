// The convolution micro-kernels for any CPU: GCC/Clang vector extensions of 4 floats (one SSE2
// register on x86-64, one NEON register on AArch64), multiply then add (no FMA assumed), 12
// accumulators. Compiled with the baseline flags.
#include <cstdint>
#include <cstring>

#include "kernels/cpu/fast/conv_microkernels.h"

namespace ctv::kernels::fast {
namespace {

constexpr const char* kLevelName = "portable";

struct Vec {
  static constexpr int kWidth = 4;
  static constexpr int kAcc = 12;
  typedef float V __attribute__((vector_size(16)));
  static V zero() { return V{0.0f, 0.0f, 0.0f, 0.0f}; }
  static V load(const float* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static V load_first(const float* p, int n) {
    V v = zero();
    for (int i = 0; i < n; ++i) v[i] = p[i];
    return v;
  }
  static V bcast(const float* p) { return V{*p, *p, *p, *p}; }
  static V fma(V a, V b, V c) { return a * b + c; }
  static void store(float* p, V v) { std::memcpy(p, &v, sizeof v); }
  static void store_first(float* p, V v, int n) {
    for (int i = 0; i < n; ++i) p[i] = v[i];
  }
};

#include "kernels/cpu/fast/conv_microkernels_body.inc"

}  // namespace

const ConvMicrokernels& conv_microkernels_portable() { return kTable; }

}  // namespace ctv::kernels::fast
