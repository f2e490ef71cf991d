// ctv info: what a NIfTI file holds (geometry, orientation, datatype, value range), or what a
// weights file or checkpoint holds (network, parameter count, preprocessing record), read
// exactly as every other command reads it, so what it shows is what they see.
#include <cstdio>
#include <iostream>
#include <sstream>

#include "data/nifti.h"
#include "data/weights_h5.h"
#include "tools/command.h"
#include "unet3d/weights.h"

namespace ctv::cli {

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return std::string(buf) == "-0" ? "0" : buf;
}

void print_info(const std::string& file, const data::Volume& v, std::ostream& os) {
  const data::Geometry& g = v.geometry;
  double lo = 0, hi = 0, sum = 0;
  std::size_t above = 0;
  if (!v.data.empty()) lo = hi = v.data[0];
  for (float x : v.data) {
    lo = std::min(lo, double(x));
    hi = std::max(hi, double(x));
    sum += x;
    above += x > 0.5f;
  }
  const double mean = v.data.empty() ? 0 : sum / double(v.data.size());
  const int code = g.header.sform_code > 0 ? g.header.sform_code : g.header.qform_code;
  const Eigen::Vector3d o = g.origin();
  os << file << "\n"
     << "  datatype     " << data::voxel_type_name(v.stored_type) << "\n"
     << "  dims         " << g.dim[0] << " x " << g.dim[1] << " x " << g.dim[2] << "\n"
     << "  spacing      " << num(g.spacing[0]) << " x " << num(g.spacing[1]) << " x "
     << num(g.spacing[2]) << " mm\n"
     << "  orientation  " << data::orientation_code(g) << "\n"
     << "  transform    " << data::transform_name(g.header) << " (code " << code << ", "
     << data::xform_code_name(code) << ")\n"
     << "  origin       " << num(o(0)) << ", " << num(o(1)) << ", " << num(o(2)) << " mm\n"
     << "  values       min " << num(lo) << ", max " << num(hi) << ", mean " << num(mean) << "\n"
     << "  voxels > 0.5 " << above << " (" << num(double(above) * g.voxel_volume_mm3() / 1000.0)
     << " cm3)\n";
}

// The file is read twice: load_weights checks every tensor against the config, read_weights
// gives the checkpoint's step and optimizer settings and the integrity block's check.
void print_weights_info(const std::string& file, std::ostream& os) {
  const unet3d::LoadedWeights w = unet3d::load_weights(file);
  const data::WeightsFile rec = data::read_weights(file);
  const data::PreprocessConfig& p = w.preprocessing;
  os << file << "\n"
     << "  format       " << data::kWeightsFormatName << " " << data::kWeightsFormatVersion
     << ", checksum sha256 " << w.checksum << "\n"
     << "  integrity    file sha256 " << rec.file_sha256 << " matches its integrity block ("
     << rec.file_bytes << " bytes)\n";
  if (rec.checkpoint) {
    const data::CheckpointRecord& c = *rec.checkpoint;
    std::string rngs;
    for (const auto& [name, r] : c.rngs) rngs += (rngs.empty() ? "" : ", ") + name;
    os << "  kind         checkpoint: step " << c.step << ", Adam lr " << num(c.adam.lr)
       << " betas " << num(c.adam.beta1) << "/" << num(c.adam.beta2) << " eps " << num(c.adam.eps)
       << ", RNG states: " << (rngs.empty() ? "none" : rngs) << "\n";
  } else {
    os << "  kind         weights (no optimizer state)\n";
  }
  std::istringstream lines(w.model.describe());  // config and parameter counts
  bool head = true;
  for (std::string line; std::getline(lines, line); head = false)
    os << (head ? "  network      " : "               ")
       << line.substr(std::min(line.size(), line.find_first_not_of(' '))) << "\n";
  const std::string offset =
      p.window.offset < 0 ? "(" + num(p.window.offset) + ")" : num(p.window.offset);
  os << "  preprocess   spacing " << num(p.spacing[0]) << " x " << num(p.spacing[1]) << " x "
     << num(p.spacing[2]) << " mm, grid " << p.grid[0] << " x " << p.grid[1] << " x " << p.grid[2]
     << ", crop " << data::crop_rule_name(p.crop) << "\n"
     << "  CT input     (clip(HU, " << num(p.window.lo) << ", " << num(p.window.hi) << ") - "
     << offset << ") / " << num(p.window.scale) << ", padding " << num(p.ct_pad_hu) << " HU\n";
}

}  // namespace

Command add_info(CLI::App& root) {
  static std::vector<std::string> files;
  static std::vector<std::string> weights;
  CLI::App* app = root.add_subcommand(
      "info", "Show the geometry, orientation and values of NIfTI files, or what weights hold");
  app->add_option("files", files, "NIfTI files (.nii, .nii.gz)");
  app->add_option("--weights", weights,
                  "Weights files or checkpoints (HDF5): network, parameters, preprocessing");
  app->callback([] {  // runs within parsing, so a missing file is a usage error (exit 2)
    if (files.empty() && weights.empty())
      throw CLI::RequiredError("at least one NIfTI file or --weights FILE");
  });
  return {app, [] {
            // Every file is shown; each one that cannot be read is one error line, and the
            // exit code says whether all were read.
            int rc = kExitOk;
            bool first = true;
            for (const std::string& f : files) {
              try {
                const data::Volume v = data::read_nifti(f);
                std::ostringstream os;
                print_info(f, v, os);
                std::cout << (first ? "" : "\n") << os.str() << std::flush;
                first = false;
              } catch (const data::NiftiError& e) {
                std::cerr << "ctv info: error: " << e.what() << "\n";
                rc = kExitFault;
              }
            }
            for (const std::string& f : weights) {
              try {
                std::ostringstream os;
                print_weights_info(f, os);
                std::cout << (first ? "" : "\n") << os.str() << std::flush;
                first = false;
              } catch (const data::WeightsError& e) {
                std::cerr << "ctv info: error: " << e.what() << "\n";
                rc = kExitFault;
              }
            }
            return rc;
          }};
}

}  // namespace ctv::cli
