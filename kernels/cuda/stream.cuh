// The one stream every CUDA kernel, copy and event of ctvnet runs on (CUDA sources only).
// A blocking stream (cudaStreamCreate's default flags): work on the legacy default stream, as
// tests and tools may issue, stays ordered with it. Cached device blocks are handed out again
// only to work queued on this same stream after their last use, so reuse is ordered too.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

namespace ctv::kernels::cuda {

// Created on first use (thread-safe), never destroyed.
cudaStream_t compute_stream();

// cudaMemcpyAsync on compute_stream(), then waits for it: when it returns, the bytes are at
// dst and src may be reused. Returns the CUDA error.
cudaError_t copy_sync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);

}  // namespace ctv::kernels::cuda
