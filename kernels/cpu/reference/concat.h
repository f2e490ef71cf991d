// Channel concatenation and strided row copies (channels-last tensors and their channel-slice
// views: rows of `width` elements, `pitch` elements apart).
//
// Every output is overwritten (=); nothing is accumulated.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ctv::kernels::ref {

// dst[r*dp + j] = src[r*sp + j] for r < rows, j < width. requires: no overlap.
template <typename T>
void copy_rows(std::size_t rows, std::size_t width, const T* src, std::size_t sp, T* dst,
               std::size_t dp);

// dst row r = src[0] row r ++ src[1] row r ++ ... (input order preserved).
// requires: count >= 1; src[i] has rows rows of widths[i] elements, pitches[i] apart; dst has
//           rows rows of dst_pitch >= sum(widths) elements; no overlap.
// ensures: dst[r*dst_pitch + off_i + j] = src[i][r*pitches[i] + j], off_i = sum of earlier widths.
template <typename T>
void concat_channels(std::size_t rows, std::size_t count, const T* const* src,
                     const std::size_t* widths, const std::size_t* pitches, T* dst,
                     std::size_t dst_pitch);

}  // namespace ctv::kernels::ref
