// kernels/cpu/host_memory.h: alignment, reuse of freed big blocks, the bound on the mapped
// total, and concurrent use.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "kernels/cpu/host_memory.h"

using namespace ctv::kernels;

namespace {
constexpr std::size_t kMiB = std::size_t(1) << 20;
bool aligned64(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; }
}  // namespace

TEST_CASE("host_alloc: small and big blocks are 64-byte aligned and writable") {
  for (std::size_t bytes : {std::size_t(0), std::size_t(1), std::size_t(1000), 4 * kMiB - 1,
                            4 * kMiB, 5 * kMiB + 3}) {
    auto* p = static_cast<unsigned char*>(host_alloc(bytes));
    REQUIRE(p != nullptr);
    CHECK(aligned64(p));
    if (bytes) {
      std::memset(p, 0x5a, bytes);
      CHECK(p[bytes - 1] == 0x5a);
    }
    host_free(p, bytes);
  }
  host_free(nullptr, 123);
}

TEST_CASE("host_alloc: a freed big block serves the next request of about its size") {
  if (!host_memory_caching()) return;  // sanitizer build: operator new only
  host_memory_release_cache();
  const HostMemoryStats s0 = host_memory_stats();
  void* a = host_alloc(64 * kMiB);
  host_free(a, 64 * kMiB);
  CHECK(host_memory_stats().cached_bytes == std::int64_t(64 * kMiB));
  // 60 MiB is within 8/9 of 64 MiB: the same block comes back, no new mapping.
  void* b = host_alloc(60 * kMiB);
  CHECK(b == a);
  HostMemoryStats s = host_memory_stats();
  CHECK(s.hits == s0.hits + 1);
  CHECK(s.misses == s0.misses + 1);
  CHECK(s.cached_bytes == 0);
  host_free(b, 60 * kMiB);
  // 40 MiB would waste more than an eighth of the block: a new mapping, and the cached block
  // stays (64 + 40 MiB is within the slack above the live peak).
  void* c = host_alloc(40 * kMiB);
  s = host_memory_stats();
  CHECK(s.misses == s0.misses + 2);
  CHECK(s.cached_bytes == std::int64_t(64 * kMiB));
  CHECK(s.mapped_bytes == std::int64_t(104 * kMiB));
  host_free(c, 40 * kMiB);
  host_memory_release_cache();
  CHECK(host_memory_stats().mapped_bytes == 0);
}

TEST_CASE("host_alloc: cached blocks are given back when the slack above the live peak is spent") {
  if (!host_memory_caching()) return;
  host_memory_release_cache();
  // Mapped, never touched: address space only.
  const std::size_t big = 600 * kMiB, mid = 100 * kMiB, bigger = 700 * kMiB;
  host_free(host_alloc(big), big);
  host_free(host_alloc(mid), mid);  // 600 + 100 MiB <= 600 MiB + 512 MiB: both cached
  HostMemoryStats s = host_memory_stats();
  CHECK(s.cached_bytes == std::int64_t(big + mid));
  // 700 MiB: 600 + 100 + 700 > 700 + 512, so 188 MiB must go: the smallest block that large
  // (600 MiB), not the 100 MiB one.
  void* p = host_alloc(bigger);
  s = host_memory_stats();
  CHECK(s.cached_bytes == std::int64_t(mid));
  CHECK(s.mapped_bytes == std::int64_t(mid + bigger));
  CHECK(s.mapped_bytes <= s.peak_live_bytes + std::max(s.peak_live_bytes / 4, kHostCacheSlackMin));
  host_free(p, bigger);
  host_memory_release_cache();
}

TEST_CASE("host_alloc: the mapped total stays within the slack above the peak of what was live") {
  if (!host_memory_caching()) return;
  host_memory_release_cache();
  REQUIRE(host_memory_stats().mapped_bytes == 0);
  // Live at most 3 blocks at once, sizes that mostly miss the cache; blocks are touched at
  // their ends only (address space, not memory).
  std::int64_t live_peak = 0, live = 0;
  std::vector<std::pair<void*, std::size_t>> held;
  const std::size_t sizes[] = {512, 128, 256, 512, 384, 128, 480, 192, 512, 96, 320, 512};
  for (std::size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
    const std::size_t bytes = sizes[i] * kMiB;
    auto* q = static_cast<unsigned char*>(host_alloc(bytes));
    q[0] = q[bytes - 1] = static_cast<unsigned char>(i);
    held.emplace_back(q, bytes);
    live += std::int64_t(bytes);
    live_peak = std::max(live_peak, live);
    if (held.size() == 3) {
      host_free(held.front().first, held.front().second);
      live -= std::int64_t(held.front().second);
      held.erase(held.begin());
    }
    // Live blocks may be 1/8 larger than asked; the total at most the slack over their peak.
    const HostMemoryStats now = host_memory_stats();
    CHECK(now.peak_live_bytes <= live_peak + live_peak / 8);
    CHECK(now.mapped_bytes <=
          now.peak_live_bytes + std::max(now.peak_live_bytes / 4, kHostCacheSlackMin));
  }
  for (auto& [q, bytes] : held) host_free(q, bytes);
  const HostMemoryStats end = host_memory_stats();
  CHECK(end.hits > 0);
  CHECK(end.peak_mapped_bytes <=
        end.peak_live_bytes + std::max(end.peak_live_bytes / 4, kHostCacheSlackMin));
  host_memory_release_cache();
}

TEST_CASE("host_alloc: four threads allocating and freeing at once") {
  const HostMemoryStats s0 = host_memory_stats();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 50; ++i) {
        const std::size_t bytes = (4 + std::size_t((t + i) % 5)) * kMiB;
        auto* p = static_cast<unsigned char*>(host_alloc(bytes));
        p[0] = p[bytes - 1] = static_cast<unsigned char>(t);
        host_free(p, bytes);
      }
    });
  for (auto& th : threads) th.join();
  const HostMemoryStats s = host_memory_stats();
  CHECK(s.mapped_bytes - s.cached_bytes == s0.mapped_bytes - s0.cached_bytes);  // nothing leaked
  host_memory_release_cache();
}
