// A cohort folder (SPEC section 2): a manifest `cohort.json` and one folder per patient.
//
// The manifest fields read here (others are ignored, so writers may add their own):
//   {
//     "patients": [                        required, an array (may be empty)
//       {"id": "p001",                     required string, a plain name [A-Za-z0-9_-]+,
//                                          unique; it is also the patient's folder name
//        "side": "right",                  required, "left" or "right" (the tumour's lung)
//        "split": "test"},                 required, "train", "val" or "test"
//       ...
//     ]
//   }
// Patient folder `<dir>/<id>/`: ct.nii.gz, igtv.nii.gz, optional ctv.nii.gz (the reference),
// OAR masks <name>.nii.gz for the names in kOarNames, predictions pred_<method>.nii.gz.
#pragma once

#include <array>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace ctv::data {

// Every fault in a manifest: the message names the manifest file and the field or patient.
class CohortError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The organs at risk a patient folder may hold, in SPEC section 2's order.
inline constexpr std::array<const char*, 7> kOarNames = {
    "heart", "esophagus", "great_vessels", "vertebrae", "lungs", "body", "spinal_canal"};

struct CohortPatient {
  std::string id, side, split;
};

struct Cohort {
  std::filesystem::path dir;
  std::vector<CohortPatient> patients;  // in manifest order

  std::filesystem::path manifest() const { return dir / "cohort.json"; }
  std::filesystem::path patient_dir(const CohortPatient& p) const { return dir / p.id; }
  // Patients whose split is `split`, in manifest order.
  std::vector<CohortPatient> in_split(const std::string& split) const;
};

// True for a non-empty name of letters, digits, '-' and '_' only (no '.', '/', spaces).
bool is_plain_name(const std::string& name);

// Reads <dir>/cohort.json.
// throws CohortError naming the manifest when: it is missing or not valid JSON; "patients" is
//   missing or not an array; a patient is not an object or lacks id/side/split as strings;
//   an id is not a plain name or is repeated (naming the id); side or split has another value.
Cohort read_cohort(const std::filesystem::path& dir);

}  // namespace ctv::data
