// Asks the statically linked CUDA runtime for devices. The runtime loads the driver library
// itself at this first call, so a machine without one gets an error code here, not a crash.
#include "kernels/cuda/device_query.h"

#include <cuda_runtime.h>

#include <string>

namespace ctv::cuda {

DeviceProbe probe_devices() {
  DeviceProbe probe;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (err == cudaErrorNoDevice)
      probe.why_none = "no CUDA device on this machine";
    else if (err == cudaErrorInsufficientDriver)
      probe.why_none = "no NVIDIA driver on this machine, or one older than CUDA " +
                       std::to_string(CUDART_VERSION / 1000);
    else
      probe.why_none = cudaGetErrorString(err);
    cudaGetLastError();  // clear the error so later probes start clean
    return probe;
  }
  if (count == 0) {
    probe.why_none = "the CUDA runtime reports no device";
    return probe;
  }
  cudaDeviceProp prop{};
  err = cudaGetDeviceProperties(&prop, 0);
  if (err != cudaSuccess) {
    probe.why_none = cudaGetErrorString(err);
    return probe;
  }
  probe.device_count = count;
  probe.device_name = prop.name;
  probe.compute_capability = prop.major * 10 + prop.minor;
  return probe;
}

}  // namespace ctv::cuda
