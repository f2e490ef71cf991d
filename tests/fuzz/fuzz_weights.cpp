// libFuzzer target for the weights reader (data/weights_h5.h read_weights, through the HDF5 C
// library): any byte string, stored as an .h5 file, must be read or refused with a
// WeightsError, never crash, hang, leak or allocate what the file claims (data/h5_tree.h
// ReadLimits). Any other exception is a defect and aborts the run so libFuzzer keeps the input.
// Build and run: see tests/fuzz/README.md.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "data/weights_h5.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const char* dir = std::getenv("CTV_FUZZ_TMP");
  const std::filesystem::path file = std::filesystem::path(dir ? dir : "/tmp") /
                                     ("ctv-fuzz-weights-" + std::to_string(::getpid()) + ".h5");
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  }
  try {
    const ctv::data::WeightsFile w = ctv::data::read_weights(file);
    if (w.checksum.size() != 64) std::abort();
  } catch (const ctv::data::WeightsError&) {
    // Refused with a message: the expected outcome for almost every input.
  }
  std::filesystem::remove(file);
  return 0;
}
