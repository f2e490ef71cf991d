// Host memory for tensors and kernel scratch: small blocks from operator new, big ones mapped
// from the kernel with transparent huge pages requested and kept for reuse when freed.
//
// Why: a U-Net inference at the full grid allocates and frees about twenty 1-2 GB
// activations. Mapped afresh each time, every one is zero-filled by the kernel page by page on
// first touch and unmapped on free: a third of the CPU time at 416x288x128 on 2 cores went to
// the kernel's page-fault path. Freed big blocks are therefore cached and handed out again.
//
// The footprint stays bounded: the cache only ever holds blocks that were live earlier, and a
// request the cache cannot serve first gives cached blocks back (largest first) until the
// mapped total, this request included, is no more than the larger of the mapped total's
// earlier peak and what is live now plus this request. So the mapped total never exceeds
// max over time of (bytes live in big blocks), each block counted at its rounded size (a
// cached block serves requests from 8/9 of its size up, so at most 12.5% more).
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

// ensures: a 64-byte aligned block of at least max(bytes, 1) bytes, uninitialised.
//          Throws std::bad_alloc when the system has no memory.
void* host_alloc(std::size_t bytes);
// requires: p from host_alloc(bytes) with the same bytes, not yet freed (or p null).
void host_free(void* p, std::size_t bytes);

struct HostMemoryStats {
  std::int64_t mapped_bytes = 0;  // big blocks mapped now (live + cached)
  std::int64_t cached_bytes = 0;  // of which free, kept for reuse
  std::int64_t peak_mapped_bytes = 0;
  std::int64_t hits = 0, misses = 0;  // big requests served from the cache / by a new mapping
};
HostMemoryStats host_memory_stats();
// False in sanitizer builds, where every block comes from operator new (see above).
bool host_memory_caching();
// Gives every cached block back to the system (live blocks are untouched).
void host_memory_release_cache();

}  // namespace ctv::kernels
