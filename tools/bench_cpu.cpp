// CPU benchmark cases, their checks and their reports (see bench_cpu.h).
#include "tools/bench_cpu.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "ctv/version.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops_dispatch.h"
#include "engine/optim.h"
#include "kernels/cpu/fast/conv_winograd.h"
#include "kernels/cpu/fast/isa.h"
#include "kernels/cpu/fast/parallel.h"
#include "kernels/cpu/host_memory.h"
#include "tools/progress.h"
#include "unet3d/unet3d.h"

namespace ctv::cli::bench {

namespace ref = kernels::ref;
namespace fast = kernels::fast;
using unet3d::UNet3D;
using unet3d::UNetConfig;

std::string Grid::text() const {
  return std::to_string(x) + "x" + std::to_string(y) + "x" + std::to_string(z);
}

const char* conv_op_name(ConvOp op) {
  switch (op) {
    case ConvOp::fprop:
      return "fprop";
    case ConvOp::dgrad:
      return "dgrad";
    case ConvOp::wgrad:
      return "wgrad";
  }
  return "?";
}

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void fill_uniform(Tensor& t, std::uint64_t seed) {
  Lcg g(seed);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = g.uniform();
}

// 64-bit FNV-1a over the words of a float tensor: equal hashes <=> (almost surely) equal bits.
std::uint64_t bits_hash(const Tensor& t) {
  const auto* p = static_cast<const std::uint32_t*>(t.raw_data());
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::int64_t i = 0; i < t.numel(); ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

// max |a - b| / max |b| over n values.
double rel_err(const float* a, const float* b, std::size_t n) {
  double num = 0.0, den = 1e-30;
  for (std::size_t i = 0; i < n; ++i) {
    num = std::max(num, std::fabs(double(a[i]) - double(b[i])));
    den = std::max(den, std::fabs(double(b[i])));
  }
  return num / den;
}

double current_rss_mib() {
  std::ifstream in("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  if (!(in >> pages_total >> pages_resident)) return -1;
  return double(pages_resident) * double(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double peak_rss_mib() {
  struct rusage u {};
  ::getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

// Warm-up, then timed runs of `run`; `output` (may be null) is hashed after every run.
// ensures: r.ms, r.median_ms, r.warmup; r.check gains "runs bit-identical" or a mismatch.
void time_runs(Record& r, const TimingOptions& t, const std::function<void()>& run,
               const Tensor* output) {
  std::unique_ptr<Progress> bar;
  if (t.progress) bar = std::make_unique<Progress>(r.name, t.warmup + t.repeat, "run");
  std::uint64_t first = 0;
  bool identical = true;
  dispatch::set_kernel_timing(t.profile);
  for (int i = 0; i < t.warmup + t.repeat; ++i) {
    if (i == t.warmup) dispatch::reset_kernel_times();
    const double t0 = now_s();
    run();
    const double dt = now_s() - t0;
    if (i >= t.warmup) r.ms.push_back(dt * 1e3);
    if (output) {
      const std::uint64_t h = bits_hash(*output);
      if (i == 0) first = h;
      identical = identical && h == first;
    }
    if (bar) bar->update(i + 1, i < t.warmup ? "warm-up" : "");
  }
  dispatch::set_kernel_timing(false);
  if (t.profile && t.repeat > 0) {
    r.profile = dispatch::kernel_times();
    for (dispatch::KernelTime& k : r.profile) {
      k.calls /= t.repeat;
      k.seconds /= t.repeat;
    }
  }
  r.warmup = t.warmup;
  r.median_ms = median(r.ms);
  if (output && t.warmup + t.repeat > 1) {
    r.check.ran = true;
    r.check.ok = r.check.ok && identical;
    r.check.text += std::string(r.check.text.empty() ? "" : "; ") +
                    (identical ? "runs bit-identical" : "RUNS DIFFER (non-deterministic)");
  }
}

Shape x_shape(const ConvCase& c) {
  if (c.transposed) return Shape{c.tconv.N, c.tconv.D, c.tconv.H, c.tconv.W, c.tconv.C};
  return Shape{c.conv.N, c.conv.D, c.conv.H, c.conv.W, c.conv.C};
}
Shape y_shape(const ConvCase& c) {
  if (c.transposed) return Shape{c.tconv.N, c.tconv.Z(), c.tconv.P(), c.tconv.Q(), c.tconv.K};
  return Shape{c.conv.N, c.conv.Z(), c.conv.P(), c.conv.Q(), c.conv.K};
}
Shape w_shape(const ConvCase& c) {
  if (c.transposed) return Shape{c.tconv.C, c.tconv.T, c.tconv.R, c.tconv.S, c.tconv.K};
  return Shape{c.conv.K, c.conv.T, c.conv.R, c.conv.S, c.conv.C};
}

// The engine's kernel for one op: out = op(x, w, dy) with the shapes of c.
void run_op(const ConvCase& c, ConvOp op, const Tensor& x, const Tensor& w, const Tensor& dy,
            Tensor& out) {
  if (c.transposed) {
    switch (op) {
      case ConvOp::fprop:
        return dispatch::conv_transpose3d_fprop(c.tconv, x, w, nullptr, out);
      case ConvOp::dgrad:
        return dispatch::conv_transpose3d_dgrad(c.tconv, dy, w, out);
      case ConvOp::wgrad:
        return dispatch::conv_transpose3d_wgrad(c.tconv, x, dy, out);
    }
  }
  switch (op) {
    case ConvOp::fprop:
      return dispatch::conv3d_fprop(c.conv, x, w, nullptr, out);
    case ConvOp::dgrad:
      return dispatch::conv3d_dgrad(c.conv, dy, w, out);
    case ConvOp::wgrad:
      return dispatch::conv3d_wgrad(c.conv, x, dy, out);
  }
}

// The reference kernel (the spec: double accumulation) for the same op.
void run_reference(const ConvCase& c, ConvOp op, const Tensor& x, const Tensor& w,
                   const Tensor& dy, Tensor& out) {
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  const float* dyp = dy.data<float>();
  float* o = out.data<float>();
  if (c.transposed) {
    switch (op) {
      case ConvOp::fprop:
        return ref::conv_transpose3d_fprop<float>(c.tconv, xp, wp, nullptr, o);
      case ConvOp::dgrad:
        return ref::conv_transpose3d_dgrad<float>(c.tconv, dyp, wp, o);
      case ConvOp::wgrad:
        return ref::conv_transpose3d_wgrad<float>(c.tconv, xp, dyp, o, nullptr);
    }
  }
  switch (op) {
    case ConvOp::fprop:
      return ref::conv3d_fprop<float>(c.conv, xp, wp, nullptr, o);
    case ConvOp::dgrad:
      return ref::conv3d_dgrad<float>(c.conv, dyp, wp, o);
    case ConvOp::wgrad:
      return ref::conv3d_wgrad<float>(c.conv, xp, dyp, o, nullptr);
  }
}

Shape out_shape(const ConvCase& c, ConvOp op) {
  return op == ConvOp::fprop ? y_shape(c) : op == ConvOp::dgrad ? x_shape(c) : w_shape(c);
}

// The same shape with every spatial input size cut to at most 8 (never below the kernel).
ConvCase crop(const ConvCase& c) {
  ConvCase k = c;
  auto cut = [](int n, int kernel) { return std::min(n, std::max(8, kernel)); };
  if (c.transposed) {
    k.tconv.D = cut(c.tconv.D, 1), k.tconv.H = cut(c.tconv.H, 1), k.tconv.W = cut(c.tconv.W, 1);
  } else {
    k.conv.D = cut(c.conv.D, c.conv.T), k.conv.H = cut(c.conv.H, c.conv.R);
    k.conv.W = cut(c.conv.W, c.conv.S);
  }
  return k;
}

Check check_on_crop(const ConvCase& c, ConvOp op) {
  Check ch;
  ch.ran = true;
  const ConvCase k = crop(c);
  Tensor x = Tensor::empty(x_shape(k)), w = Tensor::empty(w_shape(k)), dy = Tensor::empty(y_shape(k));
  fill_uniform(x, 11), fill_uniform(w, 12), fill_uniform(dy, 13);
  Tensor got = Tensor::empty(out_shape(k, op)), want = Tensor::empty(out_shape(k, op));
  run_op(k, op, x, w, dy, got);
  run_reference(k, op, x, w, dy, want);
  const double e = rel_err(got.data<float>(), want.data<float>(), std::size_t(got.numel()));
  ch.ok = e < 1e-4;
  char buf[160];
  std::snprintf(buf, sizeof buf, "crop %s vs reference: max err/max|ref| %.1e%s",
                x_shape(k).str().c_str(), e, ch.ok ? "" : " MISMATCH");
  ch.text = buf;
  return ch;
}


Tensor infer_once(UNet3D& model, const Tensor& x) {
  InferenceMode guard;
  return model.forward(Var(x), false).value();
}

}  // namespace

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

double unet_train_step(unet3d::UNet3D& model, Adam& adam, const Var& x, const Var& target) {
  Var p = model.forward(x, true);
  Var loss = amgm_loss(p, target);
  p = Var();
  backward(loss);
  adam.step();
  adam.zero_grad();
  return loss.value().item();
}

Tensor network_input(const Grid& g, int channels, std::uint64_t seed) {
  // Channel 0 an image-like noise in [0, 1]; channel 1 (if any) a ball mask in the middle.
  Tensor x = Tensor::empty(Shape{1, g.z, g.y, g.x, channels});
  float* p = x.data<float>();
  Lcg rng(seed);
  const double r2 = std::pow(0.25 * std::min({g.x, g.y, g.z}), 2);
  std::int64_t i = 0;
  for (int z = 0; z < g.z; ++z)
    for (int y = 0; y < g.y; ++y)
      for (int xx = 0; xx < g.x; ++xx)
        for (int c = 0; c < channels; ++c, ++i) {
          const double d2 = std::pow(xx - 0.5 * g.x, 2) + std::pow(y - 0.5 * g.y, 2) +
                            std::pow(z - 0.5 * g.z, 2);
          p[i] = c == 0 ? 0.5f + 0.5f * rng.uniform() : (d2 <= r2 ? 1.0f : 0.0f);
        }
  return x;
}

// A ball mask a little larger than the input's: the training target.
Tensor network_target(const Grid& g) {
  Tensor t = Tensor::empty(Shape{1, g.z, g.y, g.x, 1});
  float* p = t.data<float>();
  const double r2 = std::pow(0.3 * std::min({g.x, g.y, g.z}), 2);
  std::int64_t i = 0;
  for (int z = 0; z < g.z; ++z)
    for (int y = 0; y < g.y; ++y)
      for (int xx = 0; xx < g.x; ++xx, ++i)
        p[i] = std::pow(xx - 0.5 * g.x, 2) + std::pow(y - 0.5 * g.y, 2) +
                           std::pow(z - 0.5 * g.z, 2) <=
                       r2
                   ? 1.0f
                   : 0.0f;
  return t;
}

// Sum of the conv FLOPs of one forward pass of `config` on g.
double unet_forward_gflop(const UNetConfig& config, const Grid& g, double* first_layer) {
  double sum = 0;
  for (const ConvCase& c : unet_conv_cases(config, g)) {
    sum += c.gflop() * double(c.layers.size());
    if (first_layer && c.layers.front() == "enc.0.conv1") *first_layer = c.gflop();
  }
  return sum;
}

std::string input_text(const UNetConfig& config, const Grid& g) {
  return "1x" + std::to_string(g.z) + "x" + std::to_string(g.y) + "x" + std::to_string(g.x) +
         "x" + std::to_string(config.in_channels);
}

double ConvCase::gflop() const {
  if (transposed)
    return 2.0 * double(tconv.x_size()) * tconv.T * tconv.R * tconv.S * tconv.K * 1e-9;
  return 2.0 * double(conv.y_size()) * conv.T * conv.R * conv.S * conv.C * 1e-9;
}

std::string ConvCase::shape_text() const {
  std::ostringstream os;
  if (transposed)
    os << tconv.N << "x" << tconv.D << "x" << tconv.H << "x" << tconv.W << "x" << tconv.C
       << " transposed k" << tconv.T << " s" << tconv.stride_d << " p" << tconv.pad_d << " K"
       << tconv.K;
  else
    os << conv.N << "x" << conv.D << "x" << conv.H << "x" << conv.W << "x" << conv.C << " k"
       << conv.T << " s" << conv.stride_d << " p" << conv.pad_d << " K" << conv.K;
  return os.str();
}

ConvCase conv_case(int D, int H, int W, int C, int K, int kernel, int pad, int stride) {
  ConvCase c;
  c.name = "conv";
  c.layers = {"conv"};
  c.conv = ref::Conv3dShape{1, D, H, W, C, K, kernel, kernel, kernel, stride, stride, stride,
                            pad, pad, pad};
  c.conv.validate();
  return c;
}

std::vector<ConvCase> unet_conv_cases(const UNetConfig& config, const Grid& g) {
  const std::vector<unet3d::LayerSpec> layers = unet3d::unet3d_layers(config);
  std::vector<ConvCase> out;
  std::map<std::string, std::size_t> index;  // shape text -> out index
  for (const unet3d::LayerSpec& s : layers) {
    if (s.kind == unet3d::LayerKind::batch_norm) continue;
    // "enc.3.conv1", "dec.0.conv2", "up.2", "head": the level is the number after the prefix.
    int level = 0;
    if (s.name != "head") level = std::stoi(s.name.substr(s.name.find('.') + 1));
    ConvCase c;
    c.name = s.name;
    c.layers = {s.name};
    if (s.kind == unet3d::LayerKind::conv_transpose3d) {
      // up.l maps level l+1 to level l: its input is at level l+1.
      const int f = 1 << (level + 1);
      c.transposed = true;
      c.tconv = ref::ConvTranspose3dShape{1, g.z / f, g.y / f, g.x / f, int(s.in_channels),
                                          int(s.out_channels), s.kernel, s.kernel, s.kernel,
                                          2, 2, 2, 0, 0, 0};
      c.tconv.validate();
    } else {
      const int f = 1 << level, pad = s.kernel / 2;
      c.conv = ref::Conv3dShape{1, g.z / f, g.y / f, g.x / f, int(s.in_channels),
                                int(s.out_channels), s.kernel, s.kernel, s.kernel, 1, 1, 1,
                                pad, pad, pad};
      c.conv.validate();
    }
    const std::string key = c.shape_text();
    auto it = index.find(key);
    if (it != index.end()) {
      out[it->second].layers.push_back(s.name);
      continue;
    }
    index[key] = out.size();
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<Record> bench_conv(const ConvCase& c, const std::vector<ConvOp>& ops,
                               const TimingOptions& t) {
  Tensor x = Tensor::empty(x_shape(c)), w = Tensor::empty(w_shape(c)), dy = Tensor::empty(y_shape(c));
  fill_uniform(x, 1), fill_uniform(w, 2), fill_uniform(dy, 3);
  std::vector<Record> out;
  for (ConvOp op : ops) {
    Record r;
    r.kind = "conv";
    r.layer = c.name;
    r.op = conv_op_name(op);
    r.name = c.name + "/" + r.op;
    r.layers = c.layers;
    r.shape = c.shape_text();
    r.threads = fast::num_threads();
    r.gflop = c.gflop();
    if (t.validate) r.check = check_on_crop(c, op);
    Tensor o = Tensor::empty(out_shape(c, op));
    time_runs(r, t, [&] { run_op(c, op, x, w, dy, o); }, &o);
    out.push_back(std::move(r));
  }
  return out;
}

namespace {
// The big host blocks mapped and reused since `before` (kernels/cpu/host_memory.h).
void record_host_blocks(Record& r, const kernels::HostMemoryStats& before) {
  const kernels::HostMemoryStats now = kernels::host_memory_stats();
  r.host_blocks_mapped = now.misses - before.misses;
  r.host_blocks_reused = now.hits - before.hits;
}
}  // namespace

Record bench_unet_infer(const UNetConfig& config, const Grid& g, const TimingOptions& t) {
  Record r;
  r.name = "unet_infer";
  r.kind = "unet";
  r.op = "infer";
  r.shape = input_text(config, g);
  r.threads = fast::num_threads();
  r.gflop = unet_forward_gflop(config, g, nullptr);
  UNet3D model(config);
  if (t.validate) {
    // The whole network at the smallest grid it accepts, against the reference kernels.
    const int q = int(config.size_divisor());
    const Grid small{q, q, q};
    const Tensor xs = network_input(small, config.in_channels, 5);
    r.check.ran = true;
    if (dispatch::cpu_kernels() == dispatch::CpuKernels::reference) {
      r.check.text = "kernels are the reference: not compared";
    } else {
      const Tensor got = infer_once(model, xs);
      dispatch::set_cpu_kernels(dispatch::CpuKernels::reference);
      Tensor want;
      try {
        want = infer_once(model, xs);
      } catch (...) {
        dispatch::set_cpu_kernels(dispatch::CpuKernels::fast);
        throw;
      }
      dispatch::set_cpu_kernels(dispatch::CpuKernels::fast);
      double e = 0;
      for (std::int64_t i = 0; i < got.numel(); ++i)
        e = std::max(e, std::fabs(double(got.data<float>()[i]) - double(want.data<float>()[i])));
      r.check.ok = e < 1e-4;
      char buf[160];
      std::snprintf(buf, sizeof buf, "grid %s vs reference kernels: max |p - p_ref| %.1e%s",
                    small.text().c_str(), e, r.check.ok ? "" : " MISMATCH");
      r.check.text = buf;
    }
  }
  const Tensor x = network_input(g, config.in_channels, 7);
  r.rss_before_mib = current_rss_mib();
  const std::int64_t live = memory_stats().live_bytes;
  reset_peak_memory();
  const kernels::HostMemoryStats host0 = kernels::host_memory_stats();
  Tensor p;
  time_runs(r, t, [&] { p = Tensor(), p = infer_once(model, x); }, &p);
  record_host_blocks(r, host0);
  r.peak_rss_mib = peak_rss_mib();
  r.tensor_peak_mib = double(memory_stats().peak_bytes - live) / (1024.0 * 1024.0);
  return r;
}

Record bench_unet_step(const UNetConfig& config, const Grid& g, const TimingOptions& t) {
  Record r;
  r.name = "unet_step";
  r.kind = "unet";
  r.op = "step";
  r.shape = input_text(config, g);
  r.threads = fast::num_threads();
  double first = 0;
  const double fwd = unet_forward_gflop(config, g, &first);
  r.gflop = 3 * fwd - first;
  UNet3D model(config);
  Adam adam(model.parameters());
  const Var x(network_input(g, config.in_channels, 9));
  const Var target(network_target(g));
  double last_loss = 0;
  bool finite = true;
  const kernels::HostMemoryStats host0 = kernels::host_memory_stats();
  time_runs(
      r, t,
      [&] {
        last_loss = unet_train_step(model, adam, x, target);
        finite = finite && std::isfinite(last_loss);
      },
      nullptr);
  record_host_blocks(r, host0);
  r.check.ran = true;
  r.check.ok = finite;
  char buf[120];
  std::snprintf(buf, sizeof buf, "loss finite at every step (last %.6f)", last_loss);
  r.check.text = finite ? buf : "LOSS NOT FINITE";
  return r;
}

std::vector<double> load_average() {
  std::ifstream in("/proc/loadavg");
  std::vector<double> v(3, -1.0);
  in >> v[0] >> v[1] >> v[2];
  return v;
}

Machine machine_now() {
  Machine m;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      m.cpu_model = line.substr(line.find(':') + 2);
      break;
    }
  if (m.cpu_model.empty()) m.cpu_model = "unknown CPU";
  m.logical_cpus = int(std::thread::hardware_concurrency());
  m.isa = fast::cpu_isa_name(fast::cpu_isa());
  m.kernels = dispatch::cpu_kernels_name(dispatch::cpu_kernels());
  m.threads = fast::num_threads();
  m.conv_algo = fast::conv3d_algo_name(fast::conv3d_algo());
  m.load_average = load_average();
  return m;
}

nlohmann::json report_json(const std::string& command, const Machine& m,
                           const nlohmann::json& settings, const std::vector<Record>& records,
                           const nlohmann::json& summary) {
  using nlohmann::json;
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  json j;
  j["schema"] = "ctvnet-bench-cpu";
  j["version"] = 1;
  j["command"] = command;
  j["date"] = date;
  j["ctvnet"] = {{"version", build::kVersion}, {"commit", build::kCommit}};
  j["machine"] = {{"cpu_model", m.cpu_model},
                  {"logical_cpus", m.logical_cpus},
                  {"isa", m.isa},
                  {"kernels", m.kernels},
                  {"load_average_start", m.load_average},
                  {"load_average_end", load_average()}};
  j["settings"] = settings;
  j["records"] = json::array();
  for (const Record& r : records) {
    json o = {{"case", r.name},
              {"kind", r.kind},
              {"op", r.op},
              {"shape", r.shape},
              {"precision", "fp32"},
              {"threads", r.threads},
              {"warmup", r.warmup},
              {"repeats", r.ms.size()},
              {"times_ms", r.ms},
              {"median_ms", r.median_ms},
              {"gflop", r.gflop},
              {"gflops", r.gflops()}};
    if (r.kind == "conv") o["layer"] = r.layer, o["layers"] = r.layers;
    o["check"] = r.check.ran ? json{{"ok", r.check.ok}, {"text", r.check.text}} : json(nullptr);
    if (r.peak_rss_mib >= 0) o["peak_rss_mib"] = r.peak_rss_mib;
    if (r.rss_before_mib >= 0) o["rss_before_mib"] = r.rss_before_mib;
    if (r.tensor_peak_mib >= 0) o["tensor_peak_mib"] = r.tensor_peak_mib;
    if (r.host_blocks_mapped >= 0) o["host_blocks_mapped"] = r.host_blocks_mapped;
    if (r.host_blocks_reused >= 0) o["host_blocks_reused"] = r.host_blocks_reused;
    if (!r.profile.empty()) {
      json rows = json::array();
      for (const dispatch::KernelTime& k : r.profile)
        rows.push_back({{"kernel", k.kernel}, {"calls", k.calls}, {"ms", k.seconds * 1e3}});
      o["profile"] = rows;
    }
    j["records"].push_back(std::move(o));
  }
  j["summary"] = summary;
  return j;
}

std::string report_table(const Machine& m, const std::vector<Record>& records) {
  std::ostringstream os;
  char line[512];
  std::snprintf(line, sizeof line,
                "ctv bench | %s (%d logical CPUs) | fp32 NDHWC/KTRSC | kernels %s, level %s, "
                "conv3d %s | %d thread%s | load %.2f %.2f %.2f\n",
                m.cpu_model.c_str(), m.logical_cpus, m.kernels.c_str(), m.isa.c_str(),
                m.conv_algo.c_str(), m.threads,
                m.threads == 1 ? "" : "s",
                m.load_average[0], m.load_average[1], m.load_average[2]);
  os << line;
  std::snprintf(line, sizeof line, "%-22s %-38s %12s %10s %9s  %s\n", "case", "shape (NDHWC)",
                "median ms", "GFLOP", "GFLOP/s", "check");
  os << line;
  for (const Record& r : records) {
    std::snprintf(line, sizeof line, "%-22s %-38s %12.2f %10.2f %9.1f  %s\n", r.name.c_str(),
                  r.shape.c_str(), r.median_ms, r.gflop, r.gflops(),
                  r.check.ran ? r.check.text.c_str() : "-");
    os << line;
    if (r.peak_rss_mib >= 0) {
      std::snprintf(line, sizeof line,
                    "%-22s peak RSS %.0f MiB (%.2f GB; %.0f MiB resident before the case); "
                    "engine tensors' peak above the inputs %.0f MiB\n",
                    "", r.peak_rss_mib, r.peak_rss_mib * 1048576.0 * 1e-9, r.rss_before_mib,
                    r.tensor_peak_mib);
      os << line;
    }
    if (r.host_blocks_mapped >= 0) {
      std::snprintf(line, sizeof line,
                    "%-22s big host blocks (>= 4 MiB) mapped %lld, reused %lld (warm-up runs "
                    "included)\n",
                    "", static_cast<long long>(r.host_blocks_mapped),
                    static_cast<long long>(r.host_blocks_reused));
      os << line;
    }
    if (!r.profile.empty()) {
      // Per timed run; the mean of the runs, beside their median.
      double mean_ms = 0, in_kernels = 0;
      for (double v : r.ms) mean_ms += v / double(r.ms.size());
      std::snprintf(line, sizeof line, "%-22s %-30s %10s %7s %6s\n", "", "time per run by kernel",
                    "ms", "share", "calls");
      os << line;
      for (const dispatch::KernelTime& k : r.profile) {
        in_kernels += k.seconds * 1e3;
        std::snprintf(line, sizeof line, "%-22s %-30s %10.2f %6.1f%% %6lld\n", "",
                      k.kernel.c_str(), k.seconds * 1e3, 100 * k.seconds * 1e3 / mean_ms,
                      static_cast<long long>(k.calls));
        os << line;
      }
      std::snprintf(line, sizeof line, "%-22s %-30s %10.2f %6.1f%%\n", "",
                    "outside the kernels", mean_ms - in_kernels,
                    100 * (mean_ms - in_kernels) / mean_ms);
      os << line;
    }
  }
  return os.str();
}

}  // namespace ctv::cli::bench
