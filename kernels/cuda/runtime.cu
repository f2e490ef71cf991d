// Copies, synchronisation and event timing (runtime.h).
#include "kernels/cuda/runtime.h"

#include <cuda_runtime.h>

#include "kernels/cpu/reference/reduce.h"
#include "kernels/cuda/stream.cuh"

#include <stdexcept>
#include <string>

namespace ctv::kernels::cuda {

cudaStream_t compute_stream() {
  static const cudaStream_t stream = [] {
    cudaStream_t s = nullptr;
    check(cudaStreamCreate(&s), "creating the compute stream");
    return s;
  }();
  return stream;
}

cudaError_t copy_sync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  const cudaError_t err = cudaMemcpyAsync(dst, src, bytes, kind, compute_stream());
  if (err != cudaSuccess) return err;
  return cudaStreamSynchronize(compute_stream());
}

std::vector<double> combine_device_partials(const double* partials, std::int64_t chunks,
                                            std::int64_t width) {
  std::vector<double> out(static_cast<std::size_t>(width), 0.0);
  if (chunks == 0) return out;
  std::vector<double> host(static_cast<std::size_t>(chunks * width));
  check(copy_sync(host.data(), partials, host.size() * sizeof(double), cudaMemcpyDeviceToHost),
        "reduction partials");
  combine_partials(host.data(), chunks, width, out.data());
  return out;
}

void copy_to_device(void* dst, const void* src, std::size_t bytes) {
  check(copy_sync(dst, src, bytes, cudaMemcpyHostToDevice), "copy to the GPU");
}
void copy_to_host(void* dst, const void* src, std::size_t bytes) {
  check(copy_sync(dst, src, bytes, cudaMemcpyDeviceToHost), "copy from the GPU");
}
void copy_on_device(void* dst, const void* src, std::size_t bytes) {
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, compute_stream()),
        "copy on the GPU");
}
void copy_rows_2d(void* dst, std::size_t dst_pitch, const void* src, std::size_t src_pitch,
                  std::size_t width, std::size_t rows) {
  if (dst_pitch == width && src_pitch == width) {  // dense: one plain copy, not rows of bytes
    check(copy_sync(dst, src, width * rows, cudaMemcpyDefault), "copy to, from or on the GPU");
    return;
  }
  check(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width, rows, cudaMemcpyDefault,
                          compute_stream()),
        "strided copy to, from or on the GPU");
  // The host side of a copy may be reused or read as soon as this returns.
  check(cudaStreamSynchronize(compute_stream()), "strided copy to, from or on the GPU");
}
void fill_device_bytes(void* dst, int value, std::size_t bytes) {
  check(cudaMemsetAsync(dst, value, bytes, compute_stream()), "fill GPU memory");
}
void synchronize() { check(cudaStreamSynchronize(compute_stream()), "waiting for the GPU"); }

double device_time_ms(const std::function<void()>& queue) {
  cudaEvent_t start = nullptr, stop = nullptr;
  check(cudaEventCreate(&start), "event");
  check(cudaEventCreate(&stop), "event");
  float ms = 0.0f;
  try {
    check(cudaEventRecord(start, compute_stream()), "event record");
    queue();
    check(cudaEventRecord(stop, compute_stream()), "event record");
    check(cudaEventSynchronize(stop), "event wait");
    check(cudaEventElapsedTime(&ms, start, stop), "event time");
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return double(ms);
}

}  // namespace ctv::kernels::cuda
