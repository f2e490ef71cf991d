// The few CUDA runtime services code outside kernels/cuda needs, behind a plain C++ header:
// copies between host and device, waiting for the device, and timing queued work with
// events. Only built with the CUDA backend (CTV_HAVE_CUDA). Errors throw std::runtime_error
// naming what failed and the runtime's message.
#pragma once
#include <cstddef>
#include <functional>

namespace ctv::kernels::cuda {

void copy_to_device(void* dst, const void* src, std::size_t bytes);
void copy_to_host(void* dst, const void* src, std::size_t bytes);
void copy_on_device(void* dst, const void* src, std::size_t bytes);
// Rows of `width` bytes, `src_pitch` / `dst_pitch` bytes apart, between any two of host and
// device memory (cudaMemcpy2D with cudaMemcpyDefault: unified addressing tells them apart).
void copy_rows_2d(void* dst, std::size_t dst_pitch, const void* src, std::size_t src_pitch,
                  std::size_t width, std::size_t rows);
// Fills bytes of device memory with the byte value (0xFF: float NaN, a poison).
void fill_device_bytes(void* dst, int value, std::size_t bytes);
void synchronize();

// Milliseconds of device time the work `queue` puts on the compute stream takes, measured
// between two events around it (the host call included only as far as it queues work).
double device_time_ms(const std::function<void()>& queue);

}  // namespace ctv::kernels::cuda
