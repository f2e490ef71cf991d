// The GPU benchmark behind `ctv bench gpu` (SPEC section 6): every distinct conv layer of the
// default U-Net, fprop, dgrad and wgrad, on our CUDA kernels (kernels/cuda/conv3d.h), float32,
// NDHWC/KTRSC, batch 1, timed with CUDA events. The peer (cuDNN, through PyTorch) runs from
// bench/torch_gpu.py on the same shapes.
#pragma once
#include <string>
#include <vector>

#include "tools/bench_cpu.h"

namespace ctv::cli::bench {

// One op of one layer shape on the GPU: `warmup` untimed runs, then `repeat` timed ones (device
// time between events); inputs uniform in [-1, 1), outputs poisoned (NaN) before the first run.
// requires: a build with the CUDA backend and a GPU (else std::runtime_error saying which).
std::vector<Record> bench_conv_gpu(const ConvCase& c, const std::vector<ConvOp>& ops,
                                   const TimingOptions& t);

// The whole network on the GPU through the engine, as bench_unet_infer / bench_unet_step on
// the CPU (same inputs, loss and Adam settings), each run timed from its first queued kernel to
// the end of its last (CUDA events; the engine's reductions synchronise inside a run). Records
// the engine's peak of live GPU tensor bytes in tensor_peak_mib.
Record bench_unet_gpu(const unet3d::UNetConfig& config, const Grid& g, bool step,
                      const TimingOptions& t);

}  // namespace ctv::cli::bench
