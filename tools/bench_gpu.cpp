// ctv bench gpu's timing of one conv layer shape on our CUDA kernels (bench_gpu.h).
#include "tools/bench_gpu.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "unet3d/unet3d.h"
#if CTV_HAVE_CUDA
#include "kernels/cuda/conv3d.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/runtime.h"
#endif

namespace ctv::cli::bench {

#if CTV_HAVE_CUDA
namespace {

namespace kc = kernels::cuda;

// A device buffer of n floats, uniform in [-1, 1) from `seed` (or poisoned when seed == 0).
struct DeviceBuffer {
  std::size_t n;
  float* p;
  DeviceBuffer(std::size_t count, std::uint64_t seed)
      : n(count), p(static_cast<float*>(kc::device_alloc(count * sizeof(float)))) {
    if (seed == 0) {
      kc::fill_device_bytes(p, 0xFF, n * sizeof(float));
      return;
    }
    std::vector<float> h(n);
    Lcg g(seed);  // bench_cpu.h's stream, as the CPU cases fill theirs
    for (float& v : h) v = g.uniform();
    kc::copy_to_device(p, h.data(), n * sizeof(float));
  }
  ~DeviceBuffer() { kc::device_free(p, n * sizeof(float)); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

}  // namespace

std::vector<Record> bench_conv_gpu(const ConvCase& c, const std::vector<ConvOp>& ops,
                                   const TimingOptions& t) {
  std::size_t xs, ws, ys;
  if (c.transposed)
    xs = c.tconv.x_size(), ws = c.tconv.w_size(), ys = c.tconv.y_size();
  else
    xs = c.conv.x_size(), ws = c.conv.w_size(), ys = c.conv.y_size();
  const DeviceBuffer x(xs, 11), w(ws, 12), dy(ys, 13), bias(std::size_t(c.transposed ? c.tconv.K : c.conv.K), 14);
  std::vector<Record> out;
  for (ConvOp op : ops) {
    const DeviceBuffer result(op == ConvOp::fprop ? ys : op == ConvOp::dgrad ? xs : ws, 0);
    auto run = [&] {
      if (c.transposed) {
        if (op == ConvOp::fprop) kc::conv_transpose3d_fprop(c.tconv, x.p, w.p, bias.p, result.p);
        if (op == ConvOp::dgrad) kc::conv_transpose3d_dgrad(c.tconv, dy.p, w.p, result.p);
        if (op == ConvOp::wgrad) kc::conv_transpose3d_wgrad(c.tconv, x.p, dy.p, result.p, nullptr);
      } else {
        if (op == ConvOp::fprop) kc::conv3d_fprop(c.conv, x.p, w.p, bias.p, result.p);
        if (op == ConvOp::dgrad) kc::conv3d_dgrad(c.conv, dy.p, w.p, result.p);
        if (op == ConvOp::wgrad) kc::conv3d_wgrad(c.conv, x.p, dy.p, result.p, nullptr);
      }
    };
    Record r;
    r.name = c.name + "/" + conv_op_name(op);
    r.kind = "conv";
    r.layer = c.name;
    r.layers = c.layers;
    r.op = conv_op_name(op);
    r.shape = c.shape_text();
    r.threads = 0;
    r.gflop = c.gflop();
    for (int i = 0; i < t.warmup; ++i) kc::device_time_ms(run);
    for (int i = 0; i < t.repeat; ++i) r.ms.push_back(kc::device_time_ms(run));
    r.warmup = t.warmup;
    r.median_ms = median(r.ms);
    out.push_back(std::move(r));
  }
  kc::synchronize();
  return out;
}

Record bench_unet_gpu(const unet3d::UNetConfig& config, const Grid& g, bool step,
                      const TimingOptions& t) {
  Record r;
  r.name = step ? "unet_step" : "unet_infer";
  r.kind = "unet";
  r.op = step ? "step" : "infer";
  r.shape = input_text(config, g);
  double first = 0;
  const double fwd = unet_forward_gflop(config, g, &first);
  r.gflop = step ? 3 * fwd - first : fwd;
  unet3d::UNet3D model(config);
  model.to(Device::cuda);
  Adam adam(model.parameters());
  const Tensor x = network_input(g, config.in_channels, step ? 9 : 7).to(Device::cuda);
  const Tensor target = network_target(g).to(Device::cuda);
  const std::int64_t live = memory_stats(Device::cuda).live_bytes;
  reset_peak_memory(Device::cuda);
  double last_loss = 0;
  auto run = [&] {
    if (step) {
      last_loss = unet_train_step(model, adam, Var(x), Var(target));
    } else {
      InferenceMode guard;
      Var p = model.forward(Var(x), false);
    }
  };
  for (int i = 0; i < t.warmup; ++i) kc::device_time_ms(run);
  for (int i = 0; i < t.repeat; ++i) r.ms.push_back(kc::device_time_ms(run));
  r.warmup = t.warmup;
  r.median_ms = median(r.ms);
  r.tensor_peak_mib = double(memory_stats(Device::cuda).peak_bytes - live) / (1024.0 * 1024.0);
  if (step) {
    r.check.ran = true;
    r.check.ok = std::isfinite(last_loss);
    r.check.text = r.check.ok ? "loss finite (last " + std::to_string(last_loss) + ")"
                              : "LOSS NOT FINITE";
  }
  return r;
}

#else

std::vector<Record> bench_conv_gpu(const ConvCase&, const std::vector<ConvOp>&,
                                   const TimingOptions&) {
  throw std::runtime_error("this ctv was built without the CUDA backend (no nvcc at build time)");
}
Record bench_unet_gpu(const unet3d::UNetConfig&, const Grid&, bool, const TimingOptions&) {
  throw std::runtime_error("this ctv was built without the CUDA backend (no nvcc at build time)");
}

#endif

}  // namespace ctv::cli::bench
