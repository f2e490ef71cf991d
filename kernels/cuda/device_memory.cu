// The caching device allocator (device_memory.h): free lists by rounded size under one mutex.
#include "kernels/cuda/device_memory.h"

#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace ctv::kernels::cuda {

namespace {

struct Cache {
  std::mutex mutex;
  std::map<std::size_t, std::vector<void*>> free_blocks;  // rounded size -> blocks
  DeviceMemoryStats stats;
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: blocks may be freed during static teardown
  return *c;
}

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Frees every cached block. requires: c.mutex held.
void release_locked(Cache& c) {
  for (auto& [size, blocks] : c.free_blocks)
    for (void* p : blocks) {
      cudaFree(p);
      c.stats.cached_bytes -= static_cast<std::int64_t>(size);
    }
  c.free_blocks.clear();
}

}  // namespace

std::size_t device_block_size(std::size_t bytes) {
  if (bytes < kDeviceLargeFrom) return round_up(bytes == 0 ? 1 : bytes, kDeviceSmallRound);
  return round_up(bytes, kDeviceLargeRound);
}

void* device_alloc(std::size_t bytes) {
  const std::size_t size = device_block_size(bytes);
  Cache& c = cache();
  const std::lock_guard<std::mutex> lock(c.mutex);
  void* p = nullptr;
  if (auto it = c.free_blocks.find(size); it != c.free_blocks.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    c.stats.cached_bytes -= static_cast<std::int64_t>(size);
    ++c.stats.hits;
  } else {
    cudaError_t err = cudaMalloc(&p, size);
    if (err != cudaSuccess) {
      cudaGetLastError();
      release_locked(c);
      err = cudaMalloc(&p, size);
    }
    if (err != cudaSuccess) {
      cudaGetLastError();
      throw std::runtime_error("GPU memory: cannot allocate " + std::to_string(size) +
                               " bytes (" + std::to_string(c.stats.live_bytes) +
                               " in use): " + cudaGetErrorString(err));
    }
    ++c.stats.misses;
  }
  c.stats.live_bytes += static_cast<std::int64_t>(size);
  if (c.stats.live_bytes > c.stats.peak_live_bytes) c.stats.peak_live_bytes = c.stats.live_bytes;
  return p;
}

void device_free(void* p, std::size_t bytes) {
  if (!p) return;
  const std::size_t size = device_block_size(bytes);
  Cache& c = cache();
  const std::lock_guard<std::mutex> lock(c.mutex);
  c.free_blocks[size].push_back(p);
  c.stats.live_bytes -= static_cast<std::int64_t>(size);
  c.stats.cached_bytes += static_cast<std::int64_t>(size);
}

DeviceMemoryStats device_memory_stats() {
  Cache& c = cache();
  const std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

void device_memory_reset_peak() {
  Cache& c = cache();
  const std::lock_guard<std::mutex> lock(c.mutex);
  c.stats.peak_live_bytes = c.stats.live_bytes;
}

void device_memory_release_cache() {
  Cache& c = cache();
  const std::lock_guard<std::mutex> lock(c.mutex);
  release_locked(c);
}

}  // namespace ctv::kernels::cuda
