#include "tools/cohort_scoring.h"

#include <chrono>
#include <iostream>
#include <map>

#include "data/expansion.h"
#include "tools/command.h"
#include "tools/provenance.h"

namespace ctv::cli {

namespace fs = std::filesystem;

namespace {

const std::map<std::string, double> kOnDemandExpansionsMm = {{"expand5", 5.0}, {"expand8", 8.0}};
constexpr const char* kExpansionCrops[] = {"heart", "esophagus", "great_vessels", "vertebrae"};

}  // namespace

bool is_on_demand_expansion(const std::string& method) {
  return kOnDemandExpansionsMm.count(method) > 0;
}

fs::path prediction_file(const data::Cohort& cohort, const data::CohortPatient& p,
                         const std::string& method) {
  return cohort.patient_dir(p) / ("pred_" + method + ".nii.gz");
}

void require_cohort_files(const data::Cohort& cohort,
                          const std::vector<data::CohortPatient>& patients,
                          const std::string& method) {
  for (const data::CohortPatient& p : patients) {
    std::vector<fs::path> needed{cohort.patient_dir(p) / "ctv.nii.gz"};
    if (!is_on_demand_expansion(method)) needed.push_back(prediction_file(cohort, p, method));
    for (const fs::path& f : needed)
      if (!fs::exists(f))
        throw UserError(f.string() + ": does not exist (patient " + p.id + ", needed to score " +
                        method + ")");
  }
}

data::Volume read_on_grid(const fs::path& file, const data::Volume& ref, const fs::path& ref_file) {
  data::Volume v = data::read_nifti(file);
  data::require_same_geometry(ref.geometry, ref_file, v.geometry, file);
  return v;
}

bool ensure_expansion(const data::Cohort& cohort, const data::CohortPatient& p,
                      const std::string& method, const std::string& who) {
  const fs::path out = prediction_file(cohort, p, method);
  if (fs::exists(out)) return false;
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path dir = cohort.patient_dir(p);
  const fs::path igtv_file = dir / "igtv.nii.gz";
  if (!fs::exists(igtv_file))
    throw UserError(igtv_file.string() + ": does not exist (needed to compute " +
                    out.filename().string() + ")");
  const data::Volume igtv = data::read_nifti(igtv_file);
  std::vector<fs::path> inputs{igtv_file};
  std::vector<data::Volume> crops;
  for (const char* name : kExpansionCrops) {
    const fs::path f = dir / (std::string(name) + ".nii.gz");
    if (!fs::exists(f))
      throw UserError(f.string() + ": does not exist (a crop of " + out.filename().string() + ")");
    crops.push_back(read_on_grid(f, igtv, igtv_file));
    inputs.push_back(f);
  }
  std::optional<data::Volume> body;
  if (fs::exists(dir / "body.nii.gz")) {
    body = read_on_grid(dir / "body.nii.gz", igtv, igtv_file);
    inputs.push_back(dir / "body.nii.gz");
  }
  std::vector<const data::Volume*> crop_ptrs;
  for (const data::Volume& c : crops) crop_ptrs.push_back(&c);
  const data::ExpansionResult r =
      data::expand_igtv(igtv, data::Margins::uniform(kOnDemandExpansionsMm.at(method)), crop_ptrs,
                        body ? &*body : nullptr);
  data::write_nifti(out, igtv.geometry, r.mask, data::VoxelType::uint8);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_provenance(out, Provenance{inputs, {}, seconds}, /*overwrite=*/false);
  std::cerr << who << ": computed " << out.string() << "\n";
  return true;
}

std::vector<std::pair<std::string, fs::path>> patient_oar_files(const fs::path& patient_dir) {
  std::vector<std::pair<std::string, fs::path>> files;
  for (const char* name : data::kOarNames) {
    const fs::path f = patient_dir / (std::string(name) + ".nii.gz");
    if (fs::exists(f)) files.push_back({name, f});
  }
  return files;
}

ScoredPair score_pair(const fs::path& pred_file, const fs::path& ref_file,
                      const std::vector<std::pair<std::string, fs::path>>& oar_files,
                      const std::string& who) {
  const data::Volume ref = data::read_nifti(ref_file);
  const data::Volume pred = read_on_grid(pred_file, ref, ref_file);
  std::vector<data::Volume> oars;
  oars.reserve(oar_files.size());
  ScoredPair s;
  s.inputs = {pred_file, ref_file};
  for (const auto& [name, file] : oar_files) {
    oars.push_back(read_on_grid(file, ref, ref_file));
    s.inputs.push_back(file);
  }
  std::vector<data::NamedMask> named;
  for (std::size_t i = 0; i < oars.size(); ++i)
    named.push_back({oar_files[i].first, &oars[i].data});
  s.metrics = data::compute_metrics(pred.data, ref.data, ref.geometry, named);
  for (const std::string& w : s.metrics.warnings)
    std::cerr << who << ": warning: " << pred_file.string() << " against " << ref_file.string()
              << ": " << w << "\n";
  return s;
}

}  // namespace ctv::cli
