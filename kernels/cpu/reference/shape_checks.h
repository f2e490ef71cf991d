// The fields every sliding-window shape struct shares (Conv3dShape, ConvTranspose3dShape,
// MaxPool3dShape: N, D, H, W, C, T, R, S, stride_*, pad_*, and K for the convolutions), and
// the one describe() text and the one set of field checks they all use. Host only; included
// by the shape structs' .cpp files. Messages start with the shape's describe() (common.h).
#pragma once
#include <sstream>
#include <string>

#include "kernels/common.h"

namespace ctv::kernels::detail {

// How an op names its fields in messages: convolutions have a "kernel" and input and output
// channels; pooling has a "window" and one channel count.
struct WindowFieldNames {
  const char* window;    // "kernel" or "window"
  const char* taps;      // describe()'s label of T x R x S: "TRS" or "window TRS"
  const char* channels;  // "input channels C" or "channels C"
  const char* depth;     // "kernel depth T" or "window depth T"
  const char* height;    // "kernel height R" or "window height R"
  const char* width;     // "kernel width S" or "window width S"
};
inline constexpr WindowFieldNames kConvFieldNames{
    "kernel", "TRS", "input channels C", "kernel depth T", "kernel height R", "kernel width S"};
inline constexpr WindowFieldNames kPoolFieldNames{
    "window", "window TRS", "channels C", "window depth T", "window height R", "window width S"};

// The convolutions have K output channels; pooling keeps C.
template <typename Shape>
concept HasOutputChannels = requires(const Shape& s) {
  s.K;
};

// "<op> N=1 DHW=5x5x5 C=1 [K=1 ]<taps>=3x3x3 stride=1,1,1 pad=0,0,0"; K where the shape has one.
template <typename Shape>
std::string describe_window_shape(const Shape& s, const char* op, const WindowFieldNames& names) {
  std::ostringstream os;
  os << op << " N=" << s.N << " DHW=" << s.D << 'x' << s.H << 'x' << s.W << " C=" << s.C;
  if constexpr (HasOutputChannels<Shape>) os << " K=" << s.K;
  os << ' ' << names.taps << '=' << s.T << 'x' << s.R << 'x' << s.S << " stride=" << s.stride_d
     << ',' << s.stride_h << ',' << s.stride_w << " pad=" << s.pad_d << ',' << s.pad_h << ','
     << s.pad_w;
  return os.str();
}

// Every size and stride positive, every pad non-negative, checked in field order (N, D, H, W,
// C, K, T, R, S, strides, pads): the first bad field is the one reported.
template <typename Shape>
void require_window_fields(const Shape& s, const WindowFieldNames& names) {
  require_positive(s, "batch N", s.N);
  require_positive(s, "input depth D", s.D);
  require_positive(s, "input height H", s.H);
  require_positive(s, "input width W", s.W);
  require_positive(s, names.channels, s.C);
  if constexpr (HasOutputChannels<Shape>) require_positive(s, "output channels K", s.K);
  require_positive(s, names.depth, s.T);
  require_positive(s, names.height, s.R);
  require_positive(s, names.width, s.S);
  require_positive(s, "stride_d", s.stride_d);
  require_positive(s, "stride_h", s.stride_h);
  require_positive(s, "stride_w", s.stride_w);
  require_nonnegative(s, "pad_d", s.pad_d);
  require_nonnegative(s, "pad_h", s.pad_h);
  require_nonnegative(s, "pad_w", s.pad_w);
}

// A forward window op (conv3d, max_pool3d) needs the window to fit the padded input on each
// axis, or its output would be empty.
template <typename Shape>
void require_window_fits(const Shape& s, const WindowFieldNames& names, const char* axis, int in,
                         int pad, int window) {
  if (in + 2 * pad < window)
    fail_shape(s, std::string(names.window) + " " + axis + " " + std::to_string(window) +
                      " is larger than the padded input " + axis + " " +
                      std::to_string(in + 2 * pad) + ": the output would be empty");
}

}  // namespace ctv::kernels::detail
