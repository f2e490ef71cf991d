// What the CUDA runtime sees on this machine. Plain C++ header: callers need no CUDA headers.
// Only compiled when the CUDA backend is built (CTV_HAVE_CUDA); the CPU path never calls it.
#pragma once
#include <string>

namespace ctv::cuda {

struct DeviceProbe {
  int device_count = 0;        // 0 when no usable GPU (no driver, no device, or a runtime error)
  std::string device_name;     // of device 0, when device_count > 0
  int compute_capability = 0;  // major*10 + minor of device 0
  std::string why_none;        // the runtime's reason when device_count == 0
};

// ensures: never throws, never aborts; safe on machines without a driver.
DeviceProbe probe_devices();

}  // namespace ctv::cuda
