// ctv expand: the cropped-expansion baseline (SPEC section 5).
//
// Reads the iGTV and every crop and body mask, all in the iGTV's geometry (a mismatch names
// both files), grows the iGTV by the margins (data/expansion.h), writes a uint8 mask in the
// iGTV's geometry with its provenance sidecar, and prints one summary line. An existing output
// is refused unless --force. With --patient DIR the inputs come from a cohort patient folder
// (SPEC section 2): igtv, body and the default crops heart, esophagus, great_vessels,
// vertebrae (--crop replaces the defaults).
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "data/expansion.h"
#include "data/nifti.h"
#include "tools/command.h"
#include "tools/provenance.h"

namespace ctv::cli {

namespace fs = std::filesystem;

namespace {

struct Options {
  std::string igtv, margins, body, out, patient;
  double margin = 5;
  std::vector<std::string> crop;
  bool force = false;
};

constexpr const char* kDefaultCrops[] = {"heart", "esophagus", "great_vessels", "vertebrae"};

// "SUP,INF,ANT,POST,RIGHT,LEFT" in mm: exactly six numbers.
data::Margins parse_margins(const std::string& text) {
  std::vector<double> v;
  std::stringstream ss(text);
  std::string item;
  bool bad = false;
  while (std::getline(ss, item, ',')) {
    std::size_t used = 0;
    try {
      v.push_back(std::stod(item, &used));
    } catch (const std::exception&) {
      bad = true;
    }
    bad |= used != item.size();
  }
  if (!text.empty() && text.back() == ',') bad = true;
  if (bad || v.size() != 6)
    throw UsageError("--margins \"" + text +
                     "\": expected 6 numbers in mm, SUP,INF,ANT,POST,RIGHT,LEFT" +
                     (bad ? "" : ", got " + std::to_string(v.size())));
  return {v[0], v[1], v[2], v[3], v[4], v[5]};
}

std::string cm3(std::int64_t voxels, const data::Geometry& g) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << double(voxels) * g.voxel_volume_mm3() / 1000.0;
  return os.str();
}

int run(Options& o) {
  const auto t0 = std::chrono::steady_clock::now();
  data::Margins m = data::Margins::uniform(o.margin);
  if (!o.patient.empty() && !o.igtv.empty()) throw UsageError("give --igtv or --patient, not both");
  if (o.patient.empty() && o.igtv.empty()) throw UsageError("needs --igtv FILE or --patient DIR");
  if (!o.margins.empty()) m = parse_margins(o.margins);
  if (const std::string fault = data::margins_fault(m); !fault.empty())
    throw UsageError((o.margins.empty() ? "--margin: " : "--margins: ") + fault);
  if (!o.patient.empty()) {
    const fs::path dir(o.patient);
    if (!fs::is_directory(dir)) throw UserError(o.patient + ": not a patient folder");
    o.igtv = (dir / "igtv.nii.gz").string();
    if (o.body.empty()) o.body = (dir / "body.nii.gz").string();
    if (o.crop.empty())
      for (const char* name : kDefaultCrops) o.crop.push_back((dir / name).string() + ".nii.gz");
  }
  const fs::path out(o.out);
  if (!o.force && fs::exists(out))
    throw UserError(o.out + ": exists; not overwritten (use --force to replace it)");

  const data::Volume igtv = data::read_nifti(o.igtv);
  std::vector<fs::path> inputs{o.igtv};
  std::vector<std::unique_ptr<data::Volume>> crops;
  for (const std::string& f : o.crop) {
    crops.push_back(std::make_unique<data::Volume>(data::read_nifti(f)));
    data::require_same_geometry(igtv.geometry, o.igtv, crops.back()->geometry, f);
    inputs.emplace_back(f);
  }
  std::unique_ptr<data::Volume> body;
  if (!o.body.empty()) {
    body = std::make_unique<data::Volume>(data::read_nifti(o.body));
    data::require_same_geometry(igtv.geometry, o.igtv, body->geometry, o.body);
    inputs.emplace_back(o.body);
  }
  std::vector<const data::Volume*> crop_ptrs;
  for (const auto& c : crops) crop_ptrs.push_back(c.get());

  const data::ExpansionResult r = data::expand_igtv(igtv, m, crop_ptrs, body.get());
  if (r.igtv_voxels == 0)
    throw UserError(o.igtv + ": the iGTV is empty (no voxel > 0.5); nothing to expand");

  data::write_nifti(out, igtv.geometry, r.mask, data::VoxelType::uint8, o.force);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_provenance(out, Provenance{inputs, {}, seconds}, o.force);

  const data::Geometry& g = igtv.geometry;
  std::cout << "ctv expand: " << o.out << ": iGTV " << cm3(r.igtv_voxels, g) << " cm3, CTV "
            << cm3(r.ctv_voxels, g) << " cm3, margins " << m.to_string()
            << " mm (SUP,INF,ANT,POST,RIGHT,LEFT)";
  for (std::size_t c = 0; c < crops.size(); ++c)
    std::cout << "; " << fs::path(o.crop[c]).filename().string() << " removed "
              << r.removed_by_crop[c] << " voxels";
  if (body) std::cout << "; outside body " << r.removed_outside_body << " voxels";
  std::cout << "\n";
  return kExitOk;
}

}  // namespace

Command add_expand(CLI::App& root) {
  static Options o;
  CLI::App* app = root.add_subcommand(
      "expand",
      "Expand the iGTV by a margin (exact Euclidean distance, honouring spacing), cropped at "
      "organs at risk, within the body; the iGTV itself is always kept");
  app->add_option("--igtv", o.igtv, "iGTV mask (NIfTI; voxels > 0.5)");
  app->add_option("--patient", o.patient,
                  "Cohort patient folder: igtv.nii.gz, body.nii.gz and the default crops "
                  "heart, esophagus, great_vessels, vertebrae (.nii.gz) from there");
  app->add_option("--margin", o.margin, "Uniform margin in mm (0 to 50)")->capture_default_str();
  app->add_option("--margins", o.margins,
                  "Per-direction margins in mm, patient frame: SUP,INF,ANT,POST,RIGHT,LEFT "
                  "(an asymmetric ellipsoid; replaces --margin)");
  app->add_option("--crop", o.crop,
                  "Organ-at-risk mask to crop at (repeatable; replaces --patient's defaults)");
  app->add_option("--body", o.body, "Body mask; the expansion stays inside it");
  app->add_option("--out", o.out, "Output mask (NIfTI, uint8, the iGTV's geometry)")->required();
  app->add_flag("--force", o.force, "Replace an existing output (and its sidecar)");
  return {app, [] { return run(o); }};
}

}  // namespace ctv::cli
