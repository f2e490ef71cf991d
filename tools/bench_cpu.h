// The CPU benchmarks behind `ctv bench cpu` and `ctv bench conv` (SPEC section 6): the U-Net's
// inference and training step, and convolution fprop / dgrad / wgrad on the U-Net's layer
// shapes or any shape, float32, activations NDHWC and weights KTRSC (transposed: CTRSK).
//
// Invariants:
// - Everything runs through the engine (unet3d, engine/ops_dispatch.h), so the kernel set is
//   whatever dispatch::cpu_kernels() says (fast unless CTV_CPU_KERNELS=reference) and the
//   threads whatever kernels::fast::set_num_threads set.
// - Timing: `warmup` untimed runs, then `repeat` timed runs (steady clock); the median of the
//   timed runs is reported, every run is kept in the record.
// - FLOPs are 2 * multiply-adds of the convolutions only (padding taps included, as peers
//   count them): conv3d 2*N*Z*P*Q*K*T*R*S*C for each of fprop, dgrad and wgrad; transposed
//   conv 2*N*D*H*W*C*T*R*S*K (D,H,W its input). unet_infer counts every conv's fprop;
//   unet_step counts fprop + wgrad of every conv and dgrad of every conv but the first (whose
//   input needs no gradient). Pointwise ops, pooling, batch norm and the loss are not counted.
// - Checks before timing are cheap: a convolution on a crop of its shape (at most 8 voxels a
//   side) against the reference kernel; the network at the smallest grid it accepts against
//   the reference kernels. After timing, every timed run's output must be bit-identical to the
//   warm-up's (SPEC section 0); a training step has no fixed output and is only checked finite.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/autograd.h"
#include "engine/ops_dispatch.h"
#include "engine/optim.h"
#include "engine/tensor.h"
#include "kernels/cpu/reference/conv3d.h"
#include "kernels/cpu/reference/conv_transpose3d.h"
#include "unet3d/unet3d.h"
#include "unet3d/unet3d_config.h"

namespace ctv::cli::bench {

// A grid as the command line gives it: x, y, z (SPEC section 0); tensors are D=z, H=y, W=x.
struct Grid {
  int x = 0, y = 0, z = 0;
  std::string text() const;  // "416x288x128"
};

enum class ConvOp { fprop, dgrad, wgrad };
const char* conv_op_name(ConvOp op);

// One convolution shape, with the U-Net layers that have it.
struct ConvCase {
  std::string name;                 // the first layer with this shape ("enc.0.conv2"), or "conv"
  std::vector<std::string> layers;  // every layer of the network with this shape
  bool transposed = false;
  kernels::ref::Conv3dShape conv{};            // when !transposed
  kernels::ref::ConvTranspose3dShape tconv{};  // when transposed
  double gflop() const;                        // per op, see the FLOP rule above
  std::string shape_text() const;  // "1x128x288x416x16 k3 s1 p1 K16" (input NDHWC, kernel, K)
};

// The distinct convolution shapes of the network at input grid `g` (batch 1), in layer-table
// order. requires: config.validate() passes; g's sizes multiples of config.size_divisor().
std::vector<ConvCase> unet_conv_cases(const unet3d::UNetConfig& config, const Grid& g);

// One conv3d shape. requires: a valid shape (std::invalid_argument naming the problem).
ConvCase conv_case(int D, int H, int W, int C, int K, int kernel, int pad, int stride);

struct Check {
  bool ran = false;
  bool ok = true;
  std::string text;  // one line: what was compared and the result
};

struct Record {
  std::string name;   // "unet_infer", "unet_step", "enc.0.conv2/fprop"
  std::string kind;   // "unet" or "conv"
  std::string layer;  // conv: ConvCase::name
  std::string op;     // "infer", "step", "fprop", "dgrad", "wgrad"
  std::vector<std::string> layers;  // conv: every layer sharing the shape
  std::string shape;                // unet: input NDHWC; conv: ConvCase::shape_text()
  int threads = 1;
  int warmup = 0;
  std::vector<double> ms;  // every timed run
  double median_ms = 0;
  double gflop = 0;
  Check check;
  double peak_rss_mib = -1;   // unet_infer: getrusage ru_maxrss after it ran
  double rss_before_mib = -1; // unet_infer: resident set before it ran
  double tensor_peak_mib = -1; // unet_infer: the engine's peak live tensor bytes (no kernel scratch)
  // unet_infer and unet_step, warm-up runs included: big host blocks (kernels/cpu/host_memory.h) newly mapped
  // and reused from the cache.
  std::int64_t host_blocks_mapped = -1, host_blocks_reused = -1;
  // With TimingOptions::profile: time in each dispatch function (engine/ops_dispatch.h) per
  // timed run, calls per run, the most time first; empty without it.
  std::vector<dispatch::KernelTime> profile;
  double gflops() const { return median_ms > 0 ? gflop / (median_ms * 1e-3) : 0; }
};

struct TimingOptions {
  int warmup = 1;
  int repeat = 3;
  bool validate = true;
  bool progress = true;  // tools/progress.h lines on stderr for every case
  bool profile = false;  // fill Record::profile (dispatch::set_kernel_timing over the timed runs)
};

// A fixed pseudo-random stream for benchmark inputs (they only need to be ordinary numbers, not
// a distribution): uniform() in [-1, 1).
struct Lcg {
  std::uint64_t state;
  explicit Lcg(std::uint64_t seed) : state(seed * 2654435761u + 1) {}
  float uniform() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return float(double(state >> 40) * 0x1p-24 * 2.0 - 1.0);
  }
};

// The benchmark's network input on grid g (channel 0 uniform noise in [0.5, 1], channel 1 a
// ball of radius a quarter of the smallest side), batch 1; and its target (a ball of 0.3).
Tensor network_input(const Grid& g, int channels, std::uint64_t seed);
Tensor network_target(const Grid& g);
// The conv FLOPs of one forward pass of config on g (first_layer: the first conv's, if asked).
double unet_forward_gflop(const unet3d::UNetConfig& config, const Grid& g, double* first_layer);
// "1xZxYxXxC", the network input's NDHWC shape.
std::string input_text(const unet3d::UNetConfig& config, const Grid& g);

// The median of v (0 when empty).
double median(std::vector<double> v);
// One training step as unet_step times it: forward in training mode, AM-GM loss against
// target, backward, Adam step, zero_grad. ensures: the loss.
double unet_train_step(unet3d::UNet3D& model, Adam& adam, const Var& x, const Var& target);

// Times `ops` of one convolution shape (fresh random inputs; outputs overwritten).
std::vector<Record> bench_conv(const ConvCase& c, const std::vector<ConvOp>& ops,
                               const TimingOptions& t);

// unet_infer: forward of `config` on grid g, batch 1, under InferenceMode with eval-mode batch
// norm. unet_step: forward (training), AM-GM loss, backward, Adam step, zero_grad.
Record bench_unet_infer(const unet3d::UNetConfig& config, const Grid& g, const TimingOptions& t);
Record bench_unet_step(const unet3d::UNetConfig& config, const Grid& g, const TimingOptions& t);

// The header facts every report carries.
struct Machine {
  std::string cpu_model;
  int logical_cpus = 0;
  std::string isa;      // kernels::fast::cpu_isa_name
  std::string kernels;  // dispatch::cpu_kernels_name
  int threads = 0;
  std::string conv_algo;  // kernels::fast::conv3d_algo_name
  std::vector<double> load_average;  // 1, 5, 15 minutes, from /proc/loadavg
};
Machine machine_now();
std::vector<double> load_average();

// The JSON report (schema: bench/README.md). `command` is "cpu" or "conv"; `settings` is
// stored as given.
nlohmann::json report_json(const std::string& command, const Machine& m,
                           const nlohmann::json& settings, const std::vector<Record>& records,
                           const nlohmann::json& summary);

// The human table: a header line, one line per record.
std::string report_table(const Machine& m, const std::vector<Record>& records);

}  // namespace ctv::cli::bench
