#include "engine/backend.h"

#include <mutex>
#include <ostream>
#include <stdexcept>

#ifdef CTV_HAVE_CUDA
#include "kernels/cuda/conv3d.h"
#include "kernels/cuda/device_query.h"
#endif

namespace ctv {

const char* device_name(Device d) { return d == Device::cuda ? "cuda" : "cpu"; }

std::optional<Device> parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu;
  if (text == "cuda") return Device::cuda;
  return std::nullopt;
}

const BackendInfo& backend_info() {
  static const BackendInfo info = [] {
    BackendInfo b;
#ifdef CTV_HAVE_CUDA
    b.cuda_built = true;
    const cuda::DeviceProbe probe = cuda::probe_devices();
    b.gpu_found = probe.device_count > 0;
    b.gpu_name = probe.device_name;
    b.compute_capability = probe.compute_capability;
    b.why_no_gpu = probe.why_none;
#else
    b.why_no_gpu = "built without the CUDA backend";
#endif
    return b;
  }();
  return info;
}

std::string cuda_unavailable_reason() {
  const BackendInfo& info = backend_info();
  if (!info.cuda_built)
    return "this ctv was built without the CUDA backend (no nvcc at build time)";
  if (!info.gpu_found) return "no GPU: " + info.why_no_gpu;
  return "";
}

Device select_device(std::optional<Device> requested, std::ostream& log) {
  const BackendInfo& info = backend_info();
  if (requested == Device::cpu) return Device::cpu;
  if (requested == Device::cuda) {
    if (const std::string why = cuda_unavailable_reason(); !why.empty())
      throw std::runtime_error("--device cuda: " + why);
    return Device::cuda;
  }
  if (info.gpu_found) return Device::cuda;
  static std::once_flag said;
  if (info.cuda_built)
    std::call_once(said, [&] {
      log << "ctv: no CUDA GPU found (" << info.why_no_gpu << "); using the CPU\n";
    });
  return Device::cpu;
}

void select_precision(Device device, const std::string& precision) {
  auto refuse = [&](const std::string& why) {
    throw std::runtime_error("--precision " + precision + ": " + why);
  };
  if (precision != "fp32" && precision != "tf32" && precision != "bf16")
    refuse("not fp32, tf32 or bf16");
  if (precision != "fp32" && device != Device::cuda)
    refuse("runs on the GPU's tensor cores only: add --device cuda, or use fp32");
#ifdef CTV_HAVE_CUDA
  namespace kc = kernels::cuda;
  kc::set_conv_math(precision == "tf32"   ? kc::ConvMath::tf32
                    : precision == "bf16" ? kc::ConvMath::bf16
                                          : kc::ConvMath::fp32);
#endif
}

}  // namespace ctv
