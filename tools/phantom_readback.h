// A cohort that ctv phantom wrote, read back from disk: its generator settings, each patient
// re-made by the generator and matched against its files (so that `ctv phantom --cohort DIR
// --check` gives the numbers the check made while writing), and tri-planar snapshots drawn
// from the files.
//
// Why re-make: the check needs what no file holds (the tissue label map and the CTV rule
// without its observer variation). The generator is deterministic per patient (data/phantom.h:
// seed and index), so the manifest's seed, grid and patient order are enough; the files on disk
// must then be the ones it makes, which is verified (iGTV and reference CTV voxel for voxel,
// the manifest's features) and refused otherwise: a cohort made by another version or edited
// would give numbers that describe neither.
// What is read from disk and used as is: the CT and the organ-at-risk masks.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "data/phantom.h"
#include "data/phantom_cohort.h"

namespace ctv::cli {

struct PhantomCohortOnDisk {
  std::filesystem::path dir;
  data::phantom::PhantomConfig config;           // from cohort.json "generator"
  std::vector<data::phantom::CohortSlot> slots;  // manifest order = the generator's index order
  std::vector<std::string> features_json;        // per patient, the manifest's "features" (compact)
};

// Reads DIR/cohort.json (data/cohort.h's fields plus "generator" and each patient's
// "features").
// throws data::CohortError (missing manifest, bad JSON, bad patient fields) or UserError naming
//   the manifest and the field: "generator" missing or not from ctv phantom, seed/size/spacing/
//   observer_variation missing or invalid, or patients (ids, sides, splits, order) other than
//   those the seed plans for their number (data/phantom_cohort.h plan_cohort).
PhantomCohortOnDisk read_phantom_cohort(const std::filesystem::path& dir);

// Patient `index` of the cohort re-made by the generator, with its CT and organ-at-risk masks
// replaced by the files in DIR/<id>/.
// throws data::NiftiError naming the file when one is missing or unreadable; UserError naming
//   the file when its grid differs from the manifest's, when igtv.nii.gz or ctv.nii.gz differs
//   from what the generator makes (with the count of differing voxels), or naming the manifest
//   when the patient's features differ.
data::phantom::PhantomPatient reload_patient(const PhantomCohortOnDisk& cohort, int index);

// The file name of a patient's snapshot inside the cohort folder.
std::string snapshot_name(const std::string& id);

// PNG bytes: axial, coronal and sagittal slices through the iGTV centroid of the patient in
// DIR/<id>/ (CT in the lung window, 220 mm field of view), with the contours of the iGTV, the
// reference CTV and the organs at risk and a legend. `inputs` gets every file read.
// throws data::NiftiError naming a missing or unreadable file; UserError when a mask's grid
//   differs from the CT's.
std::string draw_phantom_snapshot(const PhantomCohortOnDisk& cohort, int index,
                                  std::vector<std::filesystem::path>& inputs);

}  // namespace ctv::cli
