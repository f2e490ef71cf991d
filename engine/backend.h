// Run-time backend selection. A binary built with CUDA runs on a machine without a GPU: it
// uses the CPU and says so once. When CUDA is not built, nothing here touches CUDA at all.
#pragma once
#include <iosfwd>
#include <optional>
#include <string>

namespace ctv {

enum class Device { cpu, cuda };

const char* device_name(Device d);
// Parses "cpu" or "cuda"; nullopt for anything else.
std::optional<Device> parse_device(const std::string& text);

struct BackendInfo {
  bool cuda_built = false;  // compiled with the CUDA backend
  bool gpu_found = false;   // a CUDA device answered at run time
  std::string gpu_name;     // device 0, when found
  int compute_capability = 0;
  std::string why_no_gpu;  // when built but none found
};

// ensures: probes at most once per process (thread-safe); never throws.
const BackendInfo& backend_info();

// Why the GPU cannot be used: "" when it can, else "this ctv was built without the CUDA backend
// (no nvcc at build time)" or "no GPU: <the runtime's reason>".
std::string cuda_unavailable_reason();

// Picks the device for a command. requested = nullopt means "the best available".
// ensures: with nullopt and no GPU in a CUDA build, writes one line to `log` (once per
//          process) saying the CPU is used and why.
// throws std::runtime_error "--device cuda: <cuda_unavailable_reason()>" when cuda is requested
//        but cannot be used.
Device select_device(std::optional<Device> requested, std::ostream& log);

// The arithmetic of the convolutions (SPEC's --precision): fp32 everywhere; tf32 or bf16
// (operands rounded to 10 or 7 mantissa bits, float accumulation, float32 tensors) on the CUDA
// tensor cores only.
// ensures: every convolution on `device` that follows, process-wide, uses `precision`.
// throws std::runtime_error "--precision <p>: <why>" for anything else: tf32 or bf16 on the
//        CPU, an unknown name.
void select_precision(Device device, const std::string& precision);

}  // namespace ctv
