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

}  // namespace ctv::cli::bench
