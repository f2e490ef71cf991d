// ctv predict: the model's CTV in the CT's own geometry (SPEC sections 1 and 3).
//
// One patient (--ct, --igtv, --out) or every patient of a cohort (--cohort; --split picks
// which), each predicted by unet3d::predict_patient with the preprocessing recorded in the
// weights file, written as a uint8 mask in the CT's header geometry with a provenance sidecar
// (model checksum, inputs, seconds taken: `ctv report`'s contouring time). With --prob-map the
// probability map (float32, same geometry) is written too: <out>_prob.nii.gz for one patient,
// <patient>/prob_<NAME>.nii.gz in a cohort.
//
// Before any work: the weights load, every input exists, and no output exists unless --force
// (a cohort is checked whole, so a fault found at patient 20 does not cost 19 predictions).
// Every file is written atomically; a failure leaves no partial output under its final name.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "data/cohort.h"
#include "data/nifti.h"
#include "engine/backend.h"
#include "kernels/cpu/fast/parallel.h"
#include "tools/cohort_scoring.h"
#include "tools/command.h"
#include "tools/progress.h"
#include "tools/provenance.h"
#include "unet3d/inference.h"
#include "unet3d/weights.h"

namespace ctv::cli {

namespace fs = std::filesystem;

namespace {

struct Options {
  std::string model, ct, igtv, out, cohort, name = "model", split = "all";
  bool no_igtv_union = false, prob_map = false, force = false;
  int threads = 0;
  std::string device = "cpu", precision = "fp32";
};

// One prediction to make: inputs and outputs.
struct Job {
  std::string id;                // patient id, or the CT file's name for a single patient
  fs::path ct, igtv, out, prob;  // prob empty when no probability map is asked for
};

fs::path prob_path_beside(const fs::path& out) {
  std::string name = out.filename().string();
  for (const char* ext : {".nii.gz", ".nii"})
    if (name.size() > std::string(ext).size() &&
        name.compare(name.size() - std::string(ext).size(), std::string::npos, ext) == 0) {
      name.resize(name.size() - std::string(ext).size());
      return out.parent_path() / (name + "_prob" + ext);
    }
  throw UserError(out.string() + ": the output must end in .nii.gz or .nii");
}

std::vector<Job> plan_jobs(const Options& o) {
  std::vector<Job> jobs;
  if (!o.cohort.empty()) {
    if (!o.ct.empty() || !o.igtv.empty() || !o.out.empty())
      throw UsageError("give --cohort, or --ct, --igtv and --out; not both");
    if (!data::is_plain_name(o.name))
      throw UserError("--name '" + o.name + "': a method name is letters, digits, '-' and '_'");
    const data::Cohort cohort = data::read_cohort(o.cohort);
    const auto patients = o.split == "all" ? cohort.patients : cohort.in_split(o.split);
    if (patients.empty())
      throw UserError(cohort.manifest().string() + ": no patient in split '" + o.split + "'");
    for (const data::CohortPatient& p : patients) {
      const fs::path dir = cohort.patient_dir(p);
      Job j{p.id, dir / "ct.nii.gz", dir / "igtv.nii.gz", prediction_file(cohort, p, o.name), {}};
      if (o.prob_map) j.prob = dir / ("prob_" + o.name + ".nii.gz");
      jobs.push_back(j);
    }
  } else {
    if (o.ct.empty() || o.igtv.empty() || o.out.empty())
      throw UsageError("needs --ct, --igtv and --out (one patient) or --cohort DIR");
    Job j{fs::path(o.ct).filename().string(), o.ct, o.igtv, o.out, {}};
    if (o.prob_map) j.prob = prob_path_beside(j.out);
    jobs.push_back(j);
  }
  for (const Job& j : jobs) {
    for (const fs::path& in : {j.ct, j.igtv})
      if (!fs::is_regular_file(in)) throw UserError(in.string() + ": missing");
    if (o.force) continue;
    for (const fs::path& out : {j.out, j.prob})
      if (!out.empty() && fs::exists(out))
        throw UserError(out.string() + ": exists; not overwritten (use --force to replace it)");
  }
  return jobs;
}

int run(const Options& o) {
  const auto t_start = std::chrono::steady_clock::now();
  const std::vector<Job> jobs = plan_jobs(o);
  const int threads =
      o.threads > 0 ? o.threads : std::max(1, int(std::thread::hardware_concurrency()));
  kernels::fast::set_num_threads(threads);
  if (o.device == "cuda") select_device(Device::cuda, std::cerr);  // throws why it cannot
  select_precision(o.device == "cuda" ? Device::cuda : Device::cpu, o.precision);
  unet3d::LoadedWeights w = unet3d::load_weights(o.model);
  if (o.device == "cuda") {
    if (w.model.config().dtype != DType::f32)
      throw UserError(o.model + ": a float64 model runs on the CPU only");
    w.model.to(Device::cuda);
  }
  const auto& g = w.preprocessing.grid;
  std::cerr << "ctv predict: " << o.model << " (" << (w.is_checkpoint ? "checkpoint" : "weights")
            << ", sha256 " << w.checksum.substr(0, 12) << "...), grid " << g[0] << " x " << g[1]
            << " x " << g[2] << " at " << w.preprocessing.spacing[0] << " x "
            << w.preprocessing.spacing[1] << " x " << w.preprocessing.spacing[2] << " mm, "
            << threads << " thread" << (threads == 1 ? "" : "s") << ", " << o.device << " "
            << o.precision << "; " << jobs.size() << " patient" << (jobs.size() == 1 ? "" : "s")
            << "\n";

  unet3d::PredictSettings settings;
  settings.igtv_union = !o.no_igtv_union;
  settings.threads = threads;
  Progress progress("ctv predict", std::int64_t(jobs.size()), "patients");
  double total_s = 0;
  for (std::size_t k = 0; k < jobs.size(); ++k) {
    const Job& j = jobs[k];
    const auto t0 = std::chrono::steady_clock::now();
    const data::Volume ct = data::read_nifti(j.ct);
    const data::Volume igtv = data::read_nifti(j.igtv);
    data::require_same_geometry(ct.geometry, j.ct, igtv.geometry, j.igtv);
    std::int64_t igtv_count = 0;
    for (float v : igtv.data) igtv_count += v > 0.5f;
    if (igtv_count == 0)
      throw UserError(j.igtv.string() + ": the iGTV is empty (no voxel > 0.5); nothing to predict");

    const unet3d::PatientPrediction p =
        unet3d::predict_patient(w.model, w.preprocessing, ct, igtv, settings);
    const double seconds = seconds_since(t0);
    total_s += seconds;
    const std::vector<fs::path> inputs{j.ct, j.igtv, o.model};
    data::write_nifti(j.out, ct.geometry, p.mask, data::VoxelType::uint8, o.force);
    write_provenance(j.out, Provenance{inputs, w.checksum, seconds}, o.force);
    if (!j.prob.empty()) {
      data::write_nifti(j.prob, ct.geometry, p.probability, data::VoxelType::float32, o.force);
      write_provenance(j.prob, Provenance{inputs, w.checksum, seconds}, o.force);
    }

    if (p.crop_clearance_mm < 10)
      std::cerr << "ctv predict: warning: " << j.id << ": the iGTV plus 10 mm leaves the network's "
                << "crop (clearance " << p.crop_clearance_mm << " mm); the CTV may be cut there\n";
    char line[256];
    std::snprintf(line, sizeof line,
                  "%s: CTV %.1f cm3, raw output covered %.1f%% of the iGTV, %.1f s", j.id.c_str(),
                  double(p.ctv_voxels) * ct.geometry.voxel_volume_mm3() / 1000.0,
                  100.0 * p.raw_igtv_coverage(), seconds);
    if (jobs.size() == 1)
      std::cout << "ctv predict: " << j.out.string() << ": " << line << "\n";
    else
      progress.update(std::int64_t(k + 1), line);
  }
  if (jobs.size() > 1)
    std::cout << "ctv predict: " << jobs.size() << " patients of " << o.cohort << " -> pred_"
              << o.name << ".nii.gz, " << format_duration(total_s / double(jobs.size()))
              << " per patient, " << format_duration(seconds_since(t_start)) << " in all\n";
  return kExitOk;
}

}  // namespace

Command add_predict(CLI::App& root) {
  static Options o;
  CLI::App* app = root.add_subcommand(
      "predict", "Predict the CTV for one patient or every patient of a cohort");
  app->add_option("--model", o.model, "Weights or checkpoint file (HDF5, weights/FORMAT.md)")
      ->required();
  app->add_option("--ct", o.ct, "Planning CT (NIfTI, HU)");
  app->add_option("--igtv", o.igtv, "iGTV mask (NIfTI, the CT's geometry)");
  app->add_option("--out", o.out, "Output CTV mask (NIfTI uint8, the CT's geometry)");
  app->add_option("--cohort", o.cohort, "Predict the patients of this cohort folder");
  app->add_option("--split", o.split, "With --cohort: which patients (all, train, val, test)")
      ->capture_default_str()
      ->check(CLI::IsMember({"all", "train", "val", "test"}));
  app->add_option("--name", o.name, "Method name for cohort outputs: <patient>/pred_<NAME>.nii.gz")
      ->capture_default_str();
  app->add_flag("--prob-map", o.prob_map,
                "Also write the probability map (float32): <out>_prob.nii.gz, or "
                "<patient>/prob_<NAME>.nii.gz in a cohort");
  app->add_flag("--no-igtv-union", o.no_igtv_union,
                "Do not unite the output with the iGTV (it is by default)");
  app->add_option("--threads", o.threads, "CPU threads (default: all cores)")
      ->check(CLI::Range(1, 1024));
  app->add_flag("--force", o.force, "Replace existing outputs (and their sidecars)");
  app->add_option("--device", o.device, "cpu (default) or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  app->add_option(
         "--precision", o.precision,
         "Convolution arithmetic: fp32 (default), or tf32 / bf16 (tensor cores; --device cuda)")
      ->capture_default_str();
  return {app, [] { return run(o); }};
}

}  // namespace ctv::cli
