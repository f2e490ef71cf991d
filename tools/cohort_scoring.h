// Scoring the predictions of one method over a cohort's patients: shared by `ctv eval --cohort`
// and `ctv report`, so both read the same files and compute the same numbers.
//
// A method's prediction for a patient is <patient>/pred_<method>.nii.gz (SPEC section 1). The
// baselines expand5 and expand8 are computed when absent: the iGTV grown by 5 or 8 mm, cropped
// at heart, esophagus, great_vessels and vertebrae (each must be present), within the body when
// body.nii.gz is present; written beside the patient's files with a sidecar that records the
// time taken. Every mask is checked against the reference's geometry (SPEC section 0).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/cohort.h"
#include "data/metrics.h"
#include "data/nifti.h"

namespace ctv::cli {

// True for the methods computed on demand (expand5, expand8).
bool is_on_demand_expansion(const std::string& method);

// <patient dir>/pred_<method>.nii.gz
std::filesystem::path prediction_file(const data::Cohort& cohort, const data::CohortPatient& p,
                                      const std::string& method);

// throws UserError naming the first file that is missing: the reference ctv.nii.gz of each
// patient, and each prediction unless the method is computed on demand. Checked before any
// work, so a missing file fails fast.
void require_cohort_files(const data::Cohort& cohort,
                          const std::vector<data::CohortPatient>& patients,
                          const std::string& method);

// Writes the on-demand expansion of a patient when its prediction is absent.
// requires: is_on_demand_expansion(method).
// ensures: returns true when the file was written now (and says so on stderr).
// throws UserError naming a missing igtv or crop; data::NiftiError for a bad file.
// `who` starts the message ("ctv eval").
bool ensure_expansion(const data::Cohort& cohort, const data::CohortPatient& p,
                      const std::string& method, const std::string& who);

// The OAR masks of data::kOarNames present in a patient folder, as (name, file).
std::vector<std::pair<std::string, std::filesystem::path>> patient_oar_files(
    const std::filesystem::path& patient_dir);

// Reads a mask and checks it against the reference grid (NiftiError naming both files).
data::Volume read_on_grid(const std::filesystem::path& file, const data::Volume& ref,
                          const std::filesystem::path& ref_file);

struct ScoredPair {
  data::Metrics metrics;
  std::vector<std::filesystem::path> inputs;  // prediction, reference, OARs: for provenance
};

// Every metric of SPEC section 5 for one prediction against its reference, on the reference's
// grid; warnings (e.g. an empty mask) are printed to stderr after `who`, naming both files.
ScoredPair score_pair(const std::filesystem::path& pred_file, const std::filesystem::path& ref_file,
                      const std::vector<std::pair<std::string, std::filesystem::path>>& oar_files,
                      const std::string& who);

}  // namespace ctv::cli
