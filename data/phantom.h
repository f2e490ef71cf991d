// The synthetic stage III thorax patient of SPEC section 4: anatomy, tumour with respiratory
// motion, averaged CT, organ-at-risk masks and the reference CTV.
//
// How a patient is made (each step in its own file):
// - data/phantom_anatomy.cpp: a label map of the static anatomy (one Tissue per voxel), from
//   analytic shapes (superellipses, ellipsoids, tubes along polylines, a random vessel tree) laid
//   out in patient millimetres around the centre of the field of view and moved by one smooth
//   random deformation per patient, so shapes vary while staying where anatomy puts them.
// - data/phantom_tumour.cpp: the primary tumour (irregular: lobulated, spiculated, an optional
//   ground-glass halo) in the chosen lung, involved nodes (nodal GTV, short axis >= 10 mm) at
//   mediastinal or hilar stations, respiratory motion over 10 phases; iGTV = union over phases;
//   CT = average of the phase images, blurred by the slice profile, plus noise.
// - data/phantom_ctv.cpp: the reference CTV rule (tissue-dependent margins, at-risk nodes,
//   observer variation that a switch turns off).
// Invariants: the grid is stored in LPS voxel order (i toward Left, j Posterior, k Superior) with
// a valid sform and qform (make_geometry); voxel (i, j, k) sits at patient coordinates
// ((i - (nx-1)/2) sx, (j - (ny-1)/2) sy, (k - (nz-1)/2) sz) mm, left, posterior, superior. The
// anatomy is laid out in mm, so any grid samples the same patient; a whole thorax needs a field
// of view of about 360 x 260 x 280 mm (smaller fields crop it). Every random draw of patient
// `index` comes from its own stream (seed, index): patients are independent of each other, of
// the cohort size and of the thread that makes them, and the same inputs give the same arrays.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/nifti.h"

namespace ctv::data::phantom {

// One label per voxel of the static anatomy (the tumour labels mark where the iGTV's solid part
// or halo is at least half the time, for the HU report).
enum Tissue : std::uint8_t {
  kOutside = 0,  // air outside the body
  kSubcutaneousFat,
  kMuscle,          // chest wall, paraspinal and neck muscle, intervertebral discs
  kRib,             // ribs and sternum
  kLung,            // parenchyma
  kLungVessel,      // pulmonary vessels inside the lung
  kMediastinalFat,  // mediastinal and pericardial fat
  kHeart,
  kGreatVessel,  // aorta and arch branches, pulmonary trunk and arteries, superior vena cava
  kEsophagusWall,
  kEsophagusAir,
  kAirway,  // trachea and bronchi lumen
  kAirwayWall,
  kVertebraCancellous,
  kVertebraCortical,
  kSpinalCanal,
  kLymphNode,    // normal or at-risk node (short axis < 10 mm)
  kAbdomen,      // liver, stomach and the rest below the diaphragm
  kTumour,       // solid primary or involved node (GTV)
  kGroundGlass,  // ground-glass halo of the primary
  kTissueCount
};
const char* tissue_name(Tissue t);
// The HU range SPEC section 4's table gives for a tissue, as text (e.g. "-850 +- 50").
const char* tissue_expected_hu(Tissue t);

struct PhantomConfig {
  std::array<int, 3> size{416, 288, 128};        // voxels x, y, z
  std::array<double, 3> spacing{1.0, 1.0, 2.5};  // mm
  std::uint64_t seed = 1;
  bool observer_variation = true;  // false: the reference CTV is the rule alone
};

// What a physician could see and what the generator chose (written into the manifest).
struct PatientFeatures {
  std::string side;  // "left" or "right": the primary's lung
  double primary_radius_mm = 0;
  bool ground_glass = false;  // adenocarcinoma-like: halo visible, larger lung margin
  double halo_mm = 0;         // width of the ground-glass halo (0 without one)
  double motion_mm = 0;       // peak-to-peak amplitude of the primary
  std::string lobe;           // "upper", "middle" or "lower" (by height)
  int involved_nodes = 0;     // nodal GTVs
  std::vector<std::string> involved_stations;
  int at_risk_nodes_included = 0;  // small nodes the reference CTV takes in
  double noise_sd_hu = 0;
  double lung_margin_mm = 0, fat_margin_mm = 0, nodal_fat_margin_mm = 0;  // the rule's margins
};

// A lymph node of the anatomy: an ellipsoid at a station (normal, at-risk or involved).
struct LymphNode {
  std::string station;             // "4R", "4L", "7", "10R", "10L", "5"
  std::array<double, 3> centre{};  // patient mm (L, P, S), before motion
  std::array<double, 3> radii{};   // mm along L, P, S (short axis = 2 min(radii))
  bool involved = false;
  double short_axis_mm() const;
};

struct PhantomPatient {
  Geometry geometry;                 // LPS voxel order, see the invariants above
  std::vector<std::uint8_t> tissue;  // Tissue per voxel
  std::vector<float> ct;             // HU, rounded to integers, in [-1024, 3071]
  std::vector<std::uint8_t> igtv, igtv_primary, igtv_nodal;  // 0/1; igtv = the union of the two
  std::vector<std::uint8_t> ctv;  // the reference (rule plus observer variation when enabled)
  // Organs at risk, in data/cohort.h kOarNames order: heart, esophagus, great_vessels,
  // vertebrae, lungs, body, spinal_canal.
  std::array<std::vector<std::uint8_t>, 7> oars;
  std::vector<LymphNode> nodes;
  PatientFeatures features;
  std::uint64_t variation_seed = 0;  // the observer variation's own stream
  std::array<double, 3> hilum{};     // the primary's hilum (patient mm L, P, S), visible
};

// The patient `index` of the cohort with `seed`, its primary in the `side` lung.
// requires: config.size all >= 8, spacing finite and in (0, 10] mm; side "left" or "right"
//           (std::invalid_argument otherwise).
// ensures: every array has geometry.voxel_count() entries; igtv non-empty and inside ctv;
//          ctv never in bone, heart, great vessels, esophagus (iGTV voxels aside, which never
//          lie there); every mask inside body.
PhantomPatient make_patient(const PhantomConfig& config, int index, const std::string& side);

// The reference CTV rule of data/phantom_ctv.cpp on a patient's anatomy and iGTV; with
// `variation` false it is the rule alone, else it adds the observer variation drawn from
// patient.variation_seed. Fills features' margins and at-risk count when `record` is non-null.
std::vector<std::uint8_t> reference_ctv(const PhantomPatient& patient, bool variation,
                                        PatientFeatures* record = nullptr);

// The stream of patient `index` (splitmix64 of both), used for every draw of that patient.
std::uint64_t patient_stream(std::uint64_t seed, int index);

}  // namespace ctv::data::phantom
