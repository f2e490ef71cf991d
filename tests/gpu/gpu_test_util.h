// Shared by the ctv_gpu_tests suites (tests/gpu/*.cpp): the skip without a GPU, CUDA error
// checks, and device copies of host vectors (poisoned with NaN when made empty) that sync
// before they are read back.
#pragma once
#include <doctest/doctest.h>

#include <cuda_runtime.h>

#include <cstring>
#include <vector>

#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/device_query.h"

namespace gpu_test {

// True when a GPU answers; otherwise says why, once per case.
inline bool gpu_or_skip() {
  static const ctv::cuda::DeviceProbe probe = ctv::cuda::probe_devices();
  if (probe.device_count > 0) return true;
  MESSAGE("skipped: no GPU (" << probe.why_none << ")");
  return false;
}

inline void cuda_ok(cudaError_t err, const char* what) {
  INFO(what);
  REQUIRE_MESSAGE(err == cudaSuccess, cudaGetErrorString(err));
}

// A device copy of a host vector of T (or n elements poisoned with 0xFF bytes: NaN for
// floats), freed with the object.
template <typename T>
struct Dev {
  std::size_t n;
  T* p;
  explicit Dev(const std::vector<T>& host)
      : n(host.size()),
        p(static_cast<T*>(ctv::kernels::cuda::device_alloc(n * sizeof(T)))) {
    cuda_ok(cudaMemcpy(p, host.data(), n * sizeof(T), cudaMemcpyHostToDevice), "upload");
  }
  explicit Dev(std::size_t count)
      : n(count), p(static_cast<T*>(ctv::kernels::cuda::device_alloc(n * sizeof(T)))) {
    cuda_ok(cudaMemset(p, 0xFF, n * sizeof(T)), "poison");
  }
  ~Dev() { ctv::kernels::cuda::device_free(p, n * sizeof(T)); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  std::vector<T> download() const {
    std::vector<T> h(n);
    cuda_ok(cudaDeviceSynchronize(), "kernels");
    cuda_ok(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), "download");
    return h;
  }
};

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

}  // namespace gpu_test
