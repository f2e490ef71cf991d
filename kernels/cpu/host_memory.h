// Host memory for tensors and kernel scratch: small blocks from operator new, big ones mapped
// from the kernel with transparent huge pages requested and kept for reuse when freed.
//
// Why: a U-Net inference at the full grid allocates and frees about twenty 1-2 GB
// activations. Mapped afresh each time, every one is zero-filled by the kernel page by page on
// first touch and unmapped on free: a third of the CPU time at 416x288x128 on 2 cores went to
// the kernel's page-fault path. Freed big blocks are therefore cached and handed out again.
//
// The footprint stays bounded: a request is served by the smallest cached block of its size up
// to 9/8 of it; otherwise a new block is mapped, and cached blocks are first given back
// (the smallest that suffices, else the largest, until enough) so that the mapped total,
// this request included, is at most the peak of the bytes live in big blocks (each counted
// at its block's size, at most 9/8 of what was asked) plus the larger of 1/4 of that peak and
// kHostCacheSlackMin. The slack holds the blocks a repeated pass (an inference, a training
// step) needs away from its peak, so that from the second pass on nothing is mapped afresh:
// measured on the U-Net at 416x288x128, 1/8 left five blocks (about 3 GB) to be mapped and
// zero-filled again every pass, 1/4 none; the cost is resident memory up to 1/4 above the
// live peak (5.4 GB instead of 4.6 GB there).
//
// Invariants: every pointer is 64-byte aligned; contents are uninitialised (a reused block
// holds its previous data); thread-safe. Built with AddressSanitizer, every block comes from
// operator new (no cache), so the sanitizer sees each allocation's bounds.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ctv::kernels {

// Blocks of at least this many bytes are mapped and cached; smaller ones use operator new.
inline constexpr std::size_t kHostBigBlockBytes = std::size_t(4) << 20;
// The least room above the live peak that cached blocks may take (see above).
inline constexpr std::int64_t kHostCacheSlackMin = std::int64_t(512) << 20;

// ensures: a 64-byte aligned block of at least max(bytes, 1) bytes, uninitialised.
//          Throws std::bad_alloc when the system has no memory.
void* host_alloc(std::size_t bytes);
// requires: p from host_alloc(bytes) with the same bytes, not yet freed (or p null).
void host_free(void* p, std::size_t bytes);

struct HostMemoryStats {
  std::int64_t mapped_bytes = 0;  // big blocks mapped now (live + cached)
  std::int64_t peak_live_bytes = 0;  // peak of the live big blocks, at block size
  std::int64_t cached_bytes = 0;  // of which free, kept for reuse
  std::int64_t peak_mapped_bytes = 0;
  std::int64_t hits = 0, misses = 0;  // big requests served from the cache / by a new mapping
};
HostMemoryStats host_memory_stats();
// False in sanitizer builds, where every block comes from operator new (see above).
bool host_memory_caching();
// Gives every cached block back to the system (live blocks are untouched) and restarts both
// peaks from what is live now.
void host_memory_release_cache();

}  // namespace ctv::kernels
