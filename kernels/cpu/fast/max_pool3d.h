// Fast 3-D max pooling (float32, channels last). Twin of kernels/cpu/reference/max_pool3d.h:
// same shape struct, layouts (x/dx NDHWC, y/dy/argmax NZPQC, argmax = flat index into x), tie
// rule (the first maximum in window scan order t, r, s wins; the first NaN beats every number)
// and outputs (overwritten, =). Results are the reference's bits: a maximum and its index are
// exact, and bprop's sums have one term per input element whenever the windows do not overlap.
//
// Paths: windows that do not overlap and have no padding (stride >= window on every axis: the
// U-Net's 2x2x2 stride 2) run a loop over output pixels with the channel loop innermost
// (vectorised); bprop there writes each input element once: its window's dy where it is the
// winner, 0 elsewhere and where no window covers it (floor mode). Other shapes (overlapping or
// padded windows, which the U-Net does not use) run the reference kernel itself, one thread.
// Threads: parallel_for over planes of (n, z) outputs or (n, d) inputs; each output element is
// written by one chunk.
#pragma once
#include <cstdint>

#include "kernels/cpu/reference/max_pool3d.h"

namespace ctv::kernels::fast {

using ref::MaxPool3dShape;

// requires/ensures: as ref::max_pool3d_fprop (argmax may be null).
void max_pool3d_fprop(const MaxPool3dShape& shape, const float* x, float* y, std::int64_t* argmax);

// requires/ensures: as ref::max_pool3d_bprop.
void max_pool3d_bprop(const MaxPool3dShape& shape, const float* dy, const std::int64_t* argmax,
                      float* dx);

}  // namespace ctv::kernels::fast
