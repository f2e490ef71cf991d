// libFuzzer target for the NIfTI reader (data/nifti.h read_nifti): any byte string, stored as a
// .nii file (or .nii.gz when it starts with the gzip magic), must be read or refused with a
// NiftiError, never crash, hang, leak or allocate what a header claims. Any other exception is
// a defect and aborts the run so libFuzzer keeps the input.
// Build and run: see tests/fuzz/README.md.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "data/nifti.h"

namespace {

std::filesystem::path scratch(const char* extension) {
  const char* dir = std::getenv("CTV_FUZZ_TMP");
  return std::filesystem::path(dir ? dir : "/tmp") /
         ("ctv-fuzz-nifti-" + std::to_string(::getpid()) + extension);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  const std::filesystem::path file = scratch(gz ? ".nii.gz" : ".nii");
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  }
  try {
    const ctv::data::Volume v = ctv::data::read_nifti(file);
    // A volume that was accepted must be whole: its reorientation works on every voxel.
    const ctv::data::Reorientation plan = ctv::data::plan_canonical(v.geometry, file);
    const ctv::data::Volume c = ctv::data::to_canonical(v, plan);
    if (c.data.size() != v.data.size()) std::abort();
  } catch (const ctv::data::NiftiError&) {
    // Refused with a message: the expected outcome for most inputs.
  }
  std::filesystem::remove(file);
  return 0;
}
