// ctv info: what a NIfTI file holds (geometry, orientation, datatype, value range), read
// exactly as every other command reads it, so what it shows is what they see.
#include <cstdio>
#include <iostream>
#include <sstream>

#include "data/nifti.h"
#include "tools/command.h"

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

}  // namespace

Command add_info(CLI::App& root) {
  static std::vector<std::string> files;
  CLI::App* app =
      root.add_subcommand("info", "Show the geometry, orientation and values of NIfTI files");
  app->add_option("files", files, "NIfTI files (.nii, .nii.gz)")->required();
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
            return rc;
          }};
}

}  // namespace ctv::cli
