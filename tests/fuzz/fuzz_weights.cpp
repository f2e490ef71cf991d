// libFuzzer target for the weights reader (data/weights_h5.h read_weights: the integrity block
// of data/weights_integrity.h, then the HDF5 C library): any byte string, stored as an .h5
// file, must be read or refused with a WeightsError, never crash, hang, leak or allocate what
// the file claims (data/h5_tree.h ReadLimits). Any other exception is a defect and aborts the
// run so libFuzzer keeps the input.
//
// Two modes (tests/fuzz/README.md):
// - plain (default): the input is the file. The fence refuses almost every mutation, so this
//   checks the fence itself and that nothing it lets through reaches a fault.
// - CTV_FUZZ_FIX_INTEGRITY=1: the integrity block of each input of at least 512 bytes is
//   rewritten to match the rest before reading, so mutations reach HDF5 behind the fence.
//   Known HDF5 1.10.8 crashes (tests/fuzz/known/weights) are expected here.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/weights_h5.h"
#include "data/weights_integrity.h"

namespace {

bool fix_integrity() {
  static const bool fix = [] {
    const char* v = std::getenv("CTV_FUZZ_FIX_INTEGRITY");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return fix;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const char* dir = std::getenv("CTV_FUZZ_TMP");
  const std::filesystem::path file = std::filesystem::path(dir ? dir : "/tmp") /
                                     ("ctv-fuzz-weights-" + std::to_string(::getpid()) + ".h5");
  {
    std::vector<std::uint8_t> bytes(data, data + size);
    if (fix_integrity() && bytes.size() >= ctv::data::kIntegrityBlockBytes)
      ctv::data::seal_image(bytes);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
  try {
    const ctv::data::WeightsFile w = ctv::data::read_weights(file);
    if (w.checksum.size() != 64 || w.file_sha256.size() != 64) std::abort();
  } catch (const ctv::data::WeightsError&) {
    // Refused with a message: the expected outcome for almost every input.
  }
  std::filesystem::remove(file);
  return 0;
}
