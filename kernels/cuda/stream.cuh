// What every CUDA source of ctvnet shares (CUDA sources only): the one stream every kernel,
// copy and event runs on, error checks, launch geometry, scratch blocks, and the host-side
// combination of reduction partials.
//
// The stream is a blocking one (cudaStreamCreate's default flags): work on the legacy default stream, as
// tests and tools may issue, stays ordered with it. Cached device blocks are handed out again
// only to work queued on this same stream after their last use, so reuse is ordered too.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/device_memory.h"

namespace ctv::kernels::cuda {

// Created on first use (thread-safe), never destroyed.
cudaStream_t compute_stream();

// cudaMemcpyAsync on compute_stream(), then waits for it: when it returns, the bytes are at
// dst and src may be reused. Returns the CUDA error.
cudaError_t copy_sync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);

// Throws std::runtime_error "<what> (CUDA): <the runtime's message>" unless err is success.
inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string(what) + " (CUDA): " + cudaGetErrorString(err));
}
// The same for the last kernel launch.
inline void check_launch(const char* what) { check(cudaGetLastError(), what); }

// One thread per element: blocks of kBlock threads, and the element of the calling thread.
inline constexpr int kBlock = 256;
inline unsigned blocks_for(std::int64_t n) {
  return static_cast<unsigned>((n + kBlock - 1) / kBlock);
}
__device__ inline std::int64_t global_index() {
  return std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
}

// n elements of T in device memory (device_memory.h) for the length of a scope, uninitialised
// or a copy of a host vector.
template <typename T>
struct DeviceScratch {
  std::size_t n;
  T* p;
  explicit DeviceScratch(std::size_t count)
      : n(count), p(static_cast<T*>(device_alloc(count * sizeof(T)))) {}
  // If the upload throws, the destructor frees the block: the delegated-to constructor has
  // finished, so the object counts as constructed.
  explicit DeviceScratch(const std::vector<T>& host) : DeviceScratch(host.size()) {
    check(copy_sync(p, host.data(), n * sizeof(T), cudaMemcpyHostToDevice), "upload");
  }
  ~DeviceScratch() { device_free(p, n * sizeof(T)); }
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
};

// chunks x width partial sums on the device, copied back and combined column by column by
// kernels/cpu/reference/reduce.h's tree (combine_partials): the reference's sums.
std::vector<double> combine_device_partials(const double* partials, std::int64_t chunks,
                                            std::int64_t width);

}  // namespace ctv::kernels::cuda
