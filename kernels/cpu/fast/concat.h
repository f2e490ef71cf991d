// Fast channel concatenation (float32): twin of kernels/cpu/reference/concat.h, same contract
// (rows of widths[i] elements pitches[i] apart side by side into rows dst_pitch apart; dst
// overwritten (=); no overlap). A copy: the reference's bits.
// Threads: parallel_for over fixed blocks of rows, each row written by one chunk.
#pragma once
#include <cstddef>

namespace ctv::kernels::fast {

void concat_channels(std::size_t rows, std::size_t count, const float* const* src,
                     const std::size_t* widths, const std::size_t* pitches, float* dst,
                     std::size_t dst_pitch);

}  // namespace ctv::kernels::fast
