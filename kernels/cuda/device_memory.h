// GPU memory for tensors and kernel scratch: a caching allocator over cudaMalloc. Plain C++
// header: callers need no CUDA headers. Only built with the CUDA backend (CTV_HAVE_CUDA).
//
// Why: cudaMalloc and cudaFree synchronise the device and cost tens of microseconds to
// milliseconds each; a training step allocates and frees hundreds of activations of the same
// few sizes. Freed blocks are therefore kept, by size, and handed out again.
//
// Invariants: sizes are rounded up to kDeviceSmallRound (512 B) below kDeviceLargeFrom (1 MiB)
// and to kDeviceLargeRound (2 MiB) from there on; a request is served by a cached block of
// exactly its rounded size, else by cudaMalloc; when cudaMalloc fails, the cache is given back
// and the allocation tried once more before the error is reported. Thread-safe. Every pointer
// is 256-byte aligned (cudaMalloc's guarantee). Contents are uninitialised.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ctv::kernels::cuda {

inline constexpr std::size_t kDeviceSmallRound = 512;
inline constexpr std::size_t kDeviceLargeFrom = std::size_t(1) << 20;
inline constexpr std::size_t kDeviceLargeRound = std::size_t(2) << 20;

// The size a request of `bytes` occupies (the rounding above); at least kDeviceSmallRound.
std::size_t device_block_size(std::size_t bytes);

// ensures: a device block of at least max(bytes, 1) bytes. throws std::runtime_error naming
//          the size and the CUDA error when the device has no memory left (or no device).
void* device_alloc(std::size_t bytes);
// requires: p from device_alloc(bytes) with the same bytes, not yet freed (or p null).
void device_free(void* p, std::size_t bytes);

struct DeviceMemoryStats {
  std::int64_t live_bytes = 0;       // in blocks handed out now (rounded sizes)
  std::int64_t peak_live_bytes = 0;  // since the start or device_memory_reset_peak()
  std::int64_t cached_bytes = 0;     // freed blocks kept for reuse
  std::int64_t hits = 0, misses = 0; // requests served from the cache / by cudaMalloc
};
DeviceMemoryStats device_memory_stats();
void device_memory_reset_peak();
// Gives every cached block back to the device (cudaFree); live blocks are untouched.
void device_memory_release_cache();

}  // namespace ctv::kernels::cuda
