// Host memory (see host_memory.h): operator new for small blocks; for big ones anonymous
// mappings rounded to 2 MiB and aligned to it (so the kernel can back them with transparent
// huge pages, which madvise asks for), cached on free under one mutex.
#include "kernels/cpu/host_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>

#if defined(__SANITIZE_ADDRESS__)
#define CTV_HOST_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CTV_HOST_CACHE 0
#endif
#endif
#ifndef CTV_HOST_CACHE
#define CTV_HOST_CACHE 1
#endif

namespace ctv::kernels {

namespace {

constexpr std::size_t kAlignment = 64;
constexpr std::size_t kHugePage = std::size_t(2) << 20;

std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }

void* small_alloc(std::size_t bytes) {
  return ::operator new(round_up(std::max<std::size_t>(bytes, 1), kAlignment),
                        std::align_val_t(kAlignment));
}
void small_free(void* p) { ::operator delete(p, std::align_val_t(kAlignment)); }

// A fresh mapping of `size` bytes (a multiple of kHugePage) starting on a kHugePage boundary.
void* map_block(std::size_t size) {
  const std::size_t span = size + kHugePage;
  void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto base = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t start = round_up(base, kHugePage);
  if (start > base) ::munmap(raw, start - base);
  const std::uintptr_t end = start + size, span_end = base + span;
  if (span_end > end) ::munmap(reinterpret_cast<void*>(end), span_end - end);
  void* p = reinterpret_cast<void*>(start);
#ifdef MADV_HUGEPAGE
  ::madvise(p, size, MADV_HUGEPAGE);  // a hint: without huge pages the block still works
#endif
  return p;
}

struct Cache {
  std::mutex mu;
  std::multimap<std::size_t, void*> free_blocks;   // size -> block
  std::unordered_map<void*, std::size_t> live;     // block -> its size
  std::int64_t live_bytes = 0, cached_bytes = 0, peak_live = 0, peak_mapped = 0, hits = 0,
               misses = 0;

  void* take(std::multimap<std::size_t, void*>::iterator it) {
    const std::size_t size = it->first;
    void* p = it->second;
    free_blocks.erase(it);
    cached_bytes -= static_cast<std::int64_t>(size);
    live_bytes += static_cast<std::int64_t>(size);
    live.emplace(p, size);
    peak_live = std::max(peak_live, live_bytes);
    ++hits;
    return p;
  }
  // Unmaps the smallest cached block of at least `bytes`, else the largest (the blocks most
  // likely to be asked for again are kept).
  void unmap_at_least(std::int64_t bytes) {
    auto it = free_blocks.lower_bound(static_cast<std::size_t>(bytes));
    if (it == free_blocks.end()) it = std::prev(free_blocks.end());
    ::munmap(it->second, it->first);
    cached_bytes -= static_cast<std::int64_t>(it->first);
    free_blocks.erase(it);
  }
};
Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: storages may be freed during static teardown
  return *c;
}

}  // namespace

void* host_alloc(std::size_t bytes) {
  if (!CTV_HOST_CACHE || bytes < kHostBigBlockBytes) return small_alloc(bytes);
  const std::size_t need = round_up(bytes, kHugePage);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.free_blocks.lower_bound(need);
  if (it != c.free_blocks.end() && it->first <= need + need / 8) return c.take(it);
  const auto n = static_cast<std::int64_t>(need);
  const std::int64_t peak_live = std::max(c.peak_live, c.live_bytes + n);
  const std::int64_t limit = peak_live + std::max(peak_live / 4, kHostCacheSlackMin);
  while (!c.free_blocks.empty() && c.live_bytes + c.cached_bytes + n > limit)
    c.unmap_at_least(c.live_bytes + c.cached_bytes + n - limit);
  void* p = map_block(need);
  c.live_bytes += n;
  c.live.emplace(p, need);
  c.peak_live = std::max(c.peak_live, c.live_bytes);
  c.peak_mapped = std::max(c.peak_mapped, c.live_bytes + c.cached_bytes);
  ++c.misses;
  return p;
}

void host_free(void* p, std::size_t bytes) {
  if (!p) return;
  if (!CTV_HOST_CACHE || bytes < kHostBigBlockBytes) return small_free(p);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.live.find(p);
  if (it == c.live.end()) std::terminate();  // not ours: a caller broke the contract
  const std::size_t size = it->second;
  c.live.erase(it);
  c.live_bytes -= static_cast<std::int64_t>(size);
  c.cached_bytes += static_cast<std::int64_t>(size);
  c.free_blocks.emplace(size, p);
}

HostMemoryStats host_memory_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return {c.live_bytes + c.cached_bytes, c.peak_live, c.cached_bytes, c.peak_mapped, c.hits,
          c.misses};
}

bool host_memory_caching() { return CTV_HOST_CACHE != 0; }

void host_memory_release_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  while (!c.free_blocks.empty()) c.unmap_at_least(0);
  c.peak_live = c.peak_mapped = c.live_bytes;
}

}  // namespace ctv::kernels
