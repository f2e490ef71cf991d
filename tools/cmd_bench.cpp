// ctv bench: kernel and end-to-end benchmarks beside their peers (SPEC section 6).
//
//   ctv bench cpu   the U-Net's inference (grid 416x288x128) and training step (96x96x64), and
//                   every distinct conv layer's fprop, dgrad and wgrad on its U-Net shape
//   ctv bench conv  fprop, dgrad and wgrad of any conv3d shape
//   ctv bench gpu   every distinct conv layer's fprop, dgrad and wgrad on our CUDA kernels
//
// A human table goes to stdout, progress to stderr, and with --json the report of
// bench/README.md (written atomically; an existing file is refused without --force, before
// any timing). The peer (PyTorch) runs from bench/torch_cpu.py, which reads this report.
// Exit 1 when a check fails (the table and report are still written, the failure named).
#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include "ctv/version.h"
#include "engine/backend.h"
#include "engine/optim.h"
#include "kernels/cpu/fast/conv_winograd.h"
#include "kernels/cpu/fast/parallel.h"
#include "tools/bench_cpu.h"
#include "tools/bench_gpu.h"
#include "tools/progress.h"
#include "tools/command.h"
#include "tools/metric_table.h"

namespace ctv::cli {

namespace {

namespace fs = std::filesystem;
using bench::ConvOp;
using bench::Grid;

struct BenchOptions {
  int threads = 0;  // 0: all cores
  std::string conv_algo = "auto";
  fs::path json;
  bool force = false;
  int repeat = 3;
  int warmup = 1;
  bool no_check = false;
  bool profile = false;
  // cpu
  std::string cases = "infer,step,conv";
  std::string grid = "416,288,128";
  std::string step_grid = "96,96,64";
  std::string layer_grid;  // empty: the inference grid
  // gpu
  std::string gpu_cases = "infer,step,conv";
  std::string precision = "fp32";
  // conv
  std::string shape;
  std::string ops = "fprop,dgrad,wgrad";
};

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<int> parse_ints(const std::string& text, const char* option) {
  std::vector<int> v;
  for (const std::string& s : split(text)) {
    std::size_t used = 0;
    int n = 0;
    try {
      n = std::stoi(s, &used);
    } catch (...) {
      used = 0;
    }
    if (used != s.size() || n < 0)
      throw UserError(std::string(option) + " '" + text + "': '" + s +
                      "' is not a non-negative whole number");
    v.push_back(n);
  }
  return v;
}

Grid parse_grid(const std::string& text, const char* option, const unet3d::UNetConfig& config) {
  const std::vector<int> v = parse_ints(text, option);
  const int q = int(config.size_divisor());
  if (v.size() != 3 || v[0] < 1 || v[1] < 1 || v[2] < 1)
    throw UserError(std::string(option) + " '" + text + "': give X,Y,Z (voxels, x y z order)");
  for (int n : v)
    if (n % q != 0)
      throw UserError(std::string(option) + " '" + text + "': every size must be a multiple of " +
                      std::to_string(q) + " (2^(levels-1) for the " +
                      std::to_string(config.levels) + "-level network)");
  return Grid{v[0], v[1], v[2]};
}

std::vector<ConvOp> parse_ops(const std::string& text) {
  std::vector<ConvOp> ops;
  for (const std::string& s : split(text)) {
    if (s == "fprop")
      ops.push_back(ConvOp::fprop);
    else if (s == "dgrad")
      ops.push_back(ConvOp::dgrad);
    else if (s == "wgrad")
      ops.push_back(ConvOp::wgrad);
    else
      throw UserError("--ops '" + text + "': '" + s + "' is not fprop, dgrad or wgrad");
  }
  if (ops.empty()) throw UserError("--ops is empty");
  return ops;
}

// Refuses an existing report before any timing (the run may take minutes).
void check_json_target(const BenchOptions& o) {
  if (o.json.empty()) return;
  if (fs::exists(o.json) && !o.force)
    throw UserError(o.json.string() + ": exists; nothing run (use --force to replace it)");
  const fs::path dir = o.json.has_parent_path() ? o.json.parent_path() : fs::path(".");
  if (!fs::is_directory(dir)) throw UserError(o.json.string() + ": folder does not exist");
}

bench::TimingOptions timing(const BenchOptions& o) {
  if (o.repeat < 1) throw UserError("--repeat must be at least 1");
  if (o.warmup < 0) throw UserError("--warmup must not be negative");
  return {o.warmup, o.repeat, !o.no_check, true, o.profile};
}

int finish(const char* command, const bench::Machine& m, const nlohmann::json& settings,
           const std::vector<bench::Record>& records, const nlohmann::json& summary,
           const std::string& extra, const BenchOptions& o) {
  std::cout << bench::report_table(m, records) << extra << std::flush;
  if (!o.json.empty()) {
    const nlohmann::json j = bench::report_json(command, m, settings, records, summary);
    write_text_output(o.json, j.dump(2) + "\n", {}, o.force);
  }
  int failed = 0;
  for (const bench::Record& r : records)
    if (r.check.ran && !r.check.ok) {
      std::cerr << "ctv bench " << command << ": error: check failed for " << r.name << ": "
                << r.check.text << "\n";
      ++failed;
    }
  return failed ? kExitFault : kExitOk;
}

// Sums the per-layer conv medians the way `unet` (unet_infer or unet_step) runs them: every
// layer's fprop, and for a step also every layer's wgrad and every dgrad but the first layer's.
// ensures: summary[unet + "_conv_ms"], summary[unet + "_other_ms"] and a line in `extra` when
//          every needed record is there; nothing otherwise.
void conv_share(const std::string& unet, const std::vector<bench::ConvCase>& all_layers,
                const std::vector<bench::Record>& records, nlohmann::json& summary,
                std::ostringstream& extra) {
  const bool step = unet == "unet_step";
  double conv_ms = 0, total_ms = 0;
  for (const auto& l : all_layers)
    for (const char* op : {"fprop", "dgrad", "wgrad"}) {
      const std::string o = op;
      if (!step && o != "fprop") continue;
      double times = double(l.layers.size());
      if (o == "dgrad") times -= std::count(l.layers.begin(), l.layers.end(), "enc.0.conv1");
      if (times == 0) continue;
      bool seen = false;
      for (const auto& r : records)
        if (r.kind == "conv" && r.layer == l.name && r.op == o)
          conv_ms += r.median_ms * times, seen = true;
      if (!seen) return;
    }
  for (const auto& r : records)
    if (r.name == unet) total_ms = r.median_ms;
  if (total_ms <= 0) return;
  summary[unet + "_conv_ms"] = conv_ms;
  summary[unet + "_other_ms"] = total_ms - conv_ms;
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "%s: its convolutions timed alone sum to %.0f ms (%.0f%% of %.0f ms); the rest "
                "(batch norm, ReLU, pooling, concat, sigmoid, loss, Adam, allocation) %.0f ms\n",
                unet.c_str(), conv_ms, 100.0 * conv_ms / total_ms, total_ms, total_ms - conv_ms);
  extra << buf;
}

// The benchmarked network and training step, as both reports record them (the step itself:
// bench_unet_step, bench_unet_gpu: Adam's defaults, amgm_loss's default eps).
nlohmann::json network_json(const unet3d::UNetConfig& config) {
  return {{"levels", config.levels},
          {"filters", config.level_filters()},
          {"norm", unet3d::norm_name(config.norm)},
          {"in_channels", config.in_channels},
          {"batch", 1}};
}
nlohmann::json adam_json() {
  const AdamConfig a;
  return {{"lr", a.lr}, {"beta1", a.beta1}, {"beta2", a.beta2}, {"eps", a.eps}};
}
constexpr double kAmgmEps = 1e-5;

// The algorithm named by --conv-algo (CLI11 has checked the name).
kernels::fast::Conv3dAlgo conv_algo(const std::string& name) {
  using kernels::fast::Conv3dAlgo;
  for (Conv3dAlgo a : {Conv3dAlgo::direct, Conv3dAlgo::winograd})
    if (name == kernels::fast::conv3d_algo_name(a)) return a;
  return Conv3dAlgo::automatic;
}

int run_cpu(const BenchOptions& o) {
  check_json_target(o);
  const bench::TimingOptions t = timing(o);
  const unet3d::UNetConfig config;  // SPEC section 3 defaults: 16-32-64-128-256, batch norm
  const Grid infer_grid = parse_grid(o.grid, "--grid", config);
  const Grid step_grid = parse_grid(o.step_grid, "--step-grid", config);
  const Grid layer_grid =
      o.layer_grid.empty() ? infer_grid : parse_grid(o.layer_grid, "--layer-grid", config);
  const std::vector<bench::ConvCase> all_layers = bench::unet_conv_cases(config, layer_grid);

  bool infer = false, step = false;
  std::vector<bench::ConvCase> layers;
  std::set<std::string> chosen;
  for (const std::string& c : split(o.cases)) {
    if (c == "infer") {
      infer = true;
    } else if (c == "step") {
      step = true;
    } else if (c == "conv") {
      for (const auto& l : all_layers) chosen.insert(l.name);
    } else {
      bool found = false;
      for (const auto& l : all_layers)
        for (const auto& name : l.layers)
          if (name == c) chosen.insert(l.name), found = true;
      if (!found) {
        std::string names;
        for (const auto& l : all_layers) names += " " + l.name;
        throw UserError("--cases: '" + c +
                        "' is not infer, step, conv or a conv layer of the network (distinct "
                        "shapes:" + names + ")");
      }
    }
  }
  for (const auto& l : all_layers)
    if (chosen.count(l.name)) layers.push_back(l);
  if (!infer && !step && layers.empty()) throw UserError("--cases chose nothing to run");
  const std::vector<ConvOp> ops = parse_ops(o.ops);

  kernels::fast::set_num_threads(o.threads);
  kernels::fast::set_conv3d_algo(conv_algo(o.conv_algo));
  const bench::Machine m = bench::machine_now();
  std::vector<bench::Record> records;
  if (infer) records.push_back(bench::bench_unet_infer(config, infer_grid, t));
  if (step) records.push_back(bench::bench_unet_step(config, step_grid, t));
  for (const auto& l : layers)
    for (bench::Record& r : bench::bench_conv(l, ops, t)) records.push_back(std::move(r));

  // Where a network case's time goes: its convolutions, timed one by one at the same grid.
  nlohmann::json summary = nlohmann::json::object();
  std::ostringstream extra;
  auto same = [](const Grid& a, const Grid& b) { return a.x == b.x && a.y == b.y && a.z == b.z; };
  if (layers.size() == all_layers.size()) {
    if (infer && same(layer_grid, infer_grid)) conv_share("unet_infer", all_layers, records, summary, extra);
    if (step && same(layer_grid, step_grid)) conv_share("unet_step", all_layers, records, summary, extra);
  }
  auto grid_json = [](const Grid& g) { return std::vector<int>{g.x, g.y, g.z}; };
  nlohmann::json settings = {
      {"threads", m.threads},
      {"conv_algo", m.conv_algo},
      {"repeat", o.repeat},
      {"warmup", o.warmup},
      {"precision", "fp32"},
      {"layout", "activations NDHWC, conv weights KTRSC, transposed-conv weights CTRSK"},
      {"flop_formula",
       "2*MACs of the convolutions only: conv3d 2*N*Z*P*Q*K*T*R*S*C (padding taps "
       "included) for each of fprop, dgrad, wgrad; conv_transpose3d 2*N*D*H*W*C*T*R*S*K; "
       "unet_infer = every conv's fprop; unet_step = fprop + wgrad of every conv + dgrad of "
       "every conv but the first"},
      {"network", network_json(config)},
      {"grids_xyz",
       {{"infer", grid_json(infer_grid)},
        {"step", grid_json(step_grid)},
        {"layers", grid_json(layer_grid)}}},
      {"cases", o.cases},
      {"ops", o.ops},
      {"adam", adam_json()},
      {"amgm_eps", kAmgmEps}};
  return finish("cpu", m, settings, records, summary, extra.str(), o);
}

int run_conv(const BenchOptions& o) {
  check_json_target(o);
  const bench::TimingOptions t = timing(o);
  const std::vector<int> v = parse_ints(o.shape, "--shape");
  if (v.size() != 5 && v.size() != 7 && v.size() != 8)
    throw UserError("--shape '" + o.shape + "': give D,H,W,C,K[,kernel,pad[,stride]]");
  bench::ConvCase c;
  try {
    c = bench::conv_case(v[0], v[1], v[2], v[3], v[4], v.size() > 5 ? v[5] : 3,
                         v.size() > 5 ? v[6] : 1, v.size() > 7 ? v[7] : 1);
  } catch (const std::invalid_argument& e) {
    throw UserError("--shape '" + o.shape + "': " + e.what());
  }
  const std::vector<ConvOp> ops = parse_ops(o.ops);
  kernels::fast::set_num_threads(o.threads);
  kernels::fast::set_conv3d_algo(conv_algo(o.conv_algo));
  const bench::Machine m = bench::machine_now();
  const std::vector<bench::Record> records = bench::bench_conv(c, ops, t);
  nlohmann::json settings = {
      {"threads", m.threads}, {"conv_algo", m.conv_algo}, {"repeat", o.repeat}, {"warmup", o.warmup},
      {"precision", "fp32"},  {"shape_dhwckps", v},     {"ops", o.ops},
      {"layout", "activations NDHWC, conv weights KTRSC"},
      {"flop_formula", "2*N*Z*P*Q*K*T*R*S*C (padding taps included) for each op"}};
  return finish("conv", m, settings, records, nlohmann::json::object(), "", o);
}

// ctv bench gpu: the conv layers of the default U-Net at --grid on our CUDA kernels.
int run_gpu(const BenchOptions& o) {
  if (const std::string why = cuda_unavailable_reason(); !why.empty()) throw UserError(why);
  const BackendInfo& b = backend_info();
  check_json_target(o);
  if (o.repeat < 1) throw UserError("--repeat must be at least 1");
  const bench::TimingOptions t = timing(o);
  select_precision(Device::cuda, o.precision);
  const unet3d::UNetConfig config;
  const Grid grid = parse_grid(o.grid, "--grid", config);
  const std::vector<bench::ConvCase> all_layers = bench::unet_conv_cases(config, grid);
  std::vector<bench::ConvCase> layers;
  bool infer = false, step = false;
  for (const std::string& c : split(o.gpu_cases)) {
    if (c == "infer" || c == "step") {
      (c == "infer" ? infer : step) = true;
      continue;
    }
    bool found = false;
    for (const auto& l : all_layers)
      if (c == "conv" || std::count(l.layers.begin(), l.layers.end(), c)) {
        if (std::none_of(layers.begin(), layers.end(),
                         [&](const bench::ConvCase& k) { return k.name == l.name; }))
          layers.push_back(l);
        found = true;
      }
    if (!found)
      throw UserError("--cases: '" + c + "' is not infer, step, conv or a conv layer of the network");
  }
  const std::vector<ConvOp> ops = parse_ops(o.ops);
  std::vector<bench::Record> records;
  Progress bar("ctv bench gpu", std::int64_t(layers.size()) + infer + step, "cases");
  std::int64_t done = 0;
  for (bool is_step : {false, true})
    if (is_step ? step : infer) {
      records.push_back(bench::bench_unet_gpu(config, grid, is_step, t));
      bar.update(++done, records.back().name);
    }
  for (const bench::ConvCase& l : layers) {
    for (bench::Record& r : bench::bench_conv_gpu(l, ops, t)) records.push_back(std::move(r));
    bar.update(++done, l.name);
  }
  const char* kernels = o.precision == "tf32"   ? "tensor-core TF32 implicit GEMM"
                        : o.precision == "bf16" ? "tensor-core BF16 implicit GEMM, float32 tensors"
                                                : "SIMT implicit GEMM";
  char line[512];
  std::snprintf(line, sizeof line,
                "ctv bench gpu | %s (sm_%d) | %s NDHWC/KTRSC | our CUDA kernels (%s) | grid %s\n",
                b.gpu_name.c_str(), b.compute_capability, o.precision.c_str(), kernels,
                grid.text().c_str());
  std::cout << line;
  std::snprintf(line, sizeof line, "%-22s %-44s %10s %9s %9s\n", "case", "shape (NDHWC)", "median ms",
                "GFLOP", "TFLOP/s");
  std::cout << line;
  nlohmann::json rows = nlohmann::json::array();
  for (const bench::Record& r : records) {
    std::snprintf(line, sizeof line, "%-22s %-44s %10.3f %9.2f %9.2f  %s\n", r.name.c_str(),
                  r.shape.c_str(), r.median_ms, r.gflop, r.gflops() * 1e-3,
                  r.check.ran ? r.check.text.c_str() : "");
    std::cout << line;
    if (r.tensor_peak_mib >= 0) {
      std::snprintf(line, sizeof line, "%-22s engine's peak of live GPU tensors %.0f MiB\n", "",
                    r.tensor_peak_mib);
      std::cout << line;
    }
    rows.push_back({{"case", r.name},
                    {"kind", r.kind},
                    {"layer", r.layer},
                    {"layers", r.layers},
                    {"op", r.op},
                    {"shape", r.shape},
                    {"precision", o.precision},
                    {"warmup", r.warmup},
                    {"repeats", r.ms.size()},
                    {"times_ms", r.ms},
                    {"median_ms", r.median_ms},
                    {"gflop", r.gflop},
                    {"tflops", r.gflops() * 1e-3},
                    {"tensor_peak_mib", r.tensor_peak_mib >= 0 ? nlohmann::json(r.tensor_peak_mib)
                                                               : nlohmann::json(nullptr)},
                    {"check", r.check.ran ? nlohmann::json{{"ok", r.check.ok},
                                                           {"text", r.check.text}}
                                          : nlohmann::json(nullptr)}});
  }
  if (!o.json.empty()) {
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    const nlohmann::json j = {
        {"schema", "ctvnet-bench-gpu"},
        {"version", 1},
        {"date", date},
        {"ctvnet", {{"version", build::kVersion}, {"commit", build::kCommit}}},
        {"device", {{"name", b.gpu_name}, {"compute_capability", b.compute_capability}}},
        {"settings",
         {{"grid_xyz", std::vector<int>{grid.x, grid.y, grid.z}},
          {"repeat", o.repeat},
          {"warmup", o.warmup},
          {"precision", o.precision},
          {"layout", "activations NDHWC, conv weights KTRSC, transposed-conv weights CTRSK"},
          {"kernels", std::string("kernels/cuda/conv3d.h (") + kernels +
                          ", deterministic split-K wgrad)"},
          {"timing", "CUDA events around each call, device time"},
          {"network", network_json(config)},
          {"adam", adam_json()},
          {"amgm_eps", kAmgmEps}}},
        {"records", rows}};
    write_text_output(o.json, j.dump(2) + "\n", {}, o.force);
  }
  return kExitOk;
}

void add_common(CLI::App* app, BenchOptions& o) {
  app->add_option("--threads", o.threads, "Threads for the fast kernels (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--conv-algo", o.conv_algo,
                  "3x3x3 convolutions: auto (Winograd on large grids), direct, or winograd "
                  "(wherever it applies); default auto")
      ->check(CLI::IsMember({"auto", "direct", "winograd"}));
  app->add_option("--json", o.json, "Also write the report as JSON (bench/README.md)");
  app->add_flag("--force", o.force, "Replace an existing --json file (and its sidecar)");
  app->add_option("--repeat", o.repeat, "Timed runs per case; the median is reported (default 3)");
  app->add_option("--warmup", o.warmup, "Untimed runs before them (default 1)");
  app->add_option("--ops", o.ops, "Conv ops to time: any of fprop,dgrad,wgrad (default all)");
  app->add_flag("--no-check", o.no_check, "Skip the checks against the reference kernels");
  app->add_flag("--profile", o.profile,
                "Also print each case's time per run by kernel (engine dispatch functions) and "
                "the time outside them");
}

}  // namespace

Command add_bench(CLI::App& root) {
  CLI::App* app =
      root.add_subcommand("bench", "Benchmark kernels and the whole network beside their peers");
  app->require_subcommand(1);
  auto o = std::make_shared<BenchOptions>();
  auto which = std::make_shared<std::string>();

  CLI::App* cpu = app->add_subcommand(
      "cpu",
      "Time the U-Net on the CPU (batch 1, float32): unet_infer on --grid, unet_step (forward, "
      "AM-GM loss, backward, Adam) on --step-grid, and every distinct conv layer's fprop, "
      "dgrad and wgrad on --layer-grid. Peer: bench/torch_cpu.py");
  add_common(cpu, *o);
  cpu->add_option("--cases", o->cases,
                  "Comma list of infer, step, conv (every layer) or layer names such as "
                  "enc.0.conv2 (default infer,step,conv)");
  cpu->add_option("--grid", o->grid, "Inference grid X,Y,Z in voxels (default 416,288,128)");
  cpu->add_option("--step-grid", o->step_grid, "Training-step grid X,Y,Z (default 96,96,64)");
  cpu->add_option("--layer-grid", o->layer_grid,
                  "Grid X,Y,Z whose U-Net layer shapes the conv cases take (default: --grid)");
  cpu->callback([which] { *which = "cpu"; });

  CLI::App* conv = app->add_subcommand(
      "conv", "Time conv3d fprop, dgrad and wgrad (float32, NDHWC/KTRSC, batch 1) of one shape");
  add_common(conv, *o);
  conv->add_option("--shape", o->shape,
                   "D,H,W,C,K[,kernel,pad[,stride]] (tensor order: D = z; default kernel 3, "
                   "pad 1, stride 1)")
      ->required();
  conv->callback([which] { *which = "conv"; });

  CLI::App* gpu = app->add_subcommand(
      "gpu",
      "Time the U-Net's inference and training step and every distinct conv layer (fprop, "
      "dgrad, wgrad) on the GPU, float32 (or TF32 / BF16 convolutions), batch 1, at --grid. Peer: "
      "bench/torch_gpu.py "
      "(PyTorch with cuDNN)");
  gpu->add_option("--json", o->json, "Also write the report as JSON (bench/README.md)");
  gpu->add_flag("--force", o->force, "Replace an existing --json file (and its sidecar)");
  gpu->add_option("--repeat", o->repeat, "Timed runs per case; the median is reported (default 3)");
  gpu->add_option("--warmup", o->warmup, "Untimed runs before them (default 1)");
  gpu->add_option("--ops", o->ops, "Conv ops to time: any of fprop,dgrad,wgrad (default all)");
  gpu->add_option("--grid", o->grid, "Grid X,Y,Z in voxels (default 416,288,128)");
  gpu->add_option("--precision", o->precision,
                  "Convolution arithmetic: fp32 (default), or tf32 / bf16 (tensor cores)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
  gpu->add_option("--cases", o->gpu_cases,
                  "Comma list of infer, step (the whole network through the engine on the GPU), "
                  "conv (every layer) or layer names such as enc.0.conv2 (default "
                  "infer,step,conv)");
  gpu->callback([which] { *which = "gpu"; });

  return {app, [o, which] {
            if (*which == "gpu") return run_gpu(*o);
            return *which == "conv" ? run_conv(*o) : run_cpu(*o);
          }};
}

}  // namespace ctv::cli
