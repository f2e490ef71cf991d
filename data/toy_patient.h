// The demo's single synthetic patient: a coarse thorax (body, lungs, mediastinum, spine) with
// a tumour in the right lung beside the mediastinum, its iGTV, and a reference CTV that
// follows one tissue rule: the iGTV expanded by a margin but only through lung, so the chest
// wall and the mediastinum crop it. Small enough to train on in seconds with the reference
// kernels; it stands in until the synthetic cohort (ctv phantom) exists, and is no model of
// clinical anatomy.
//
// Every voxel's content is a function of its world position (RAS+ mm, through the geometry's
// affine), so the same patient comes out whatever the storage orientation: a file written in
// RAS order and one in LPS order hold the same anatomy, mirrored in their arrays.
#pragma once

#include <cstdint>
#include <vector>

#include "data/nifti.h"

namespace ctv::data {

struct ToyPatient {
  Geometry geometry;
  std::vector<float> ct;    // Hounsfield units, noise sd 20 HU
  std::vector<float> igtv;  // 0/1
  std::vector<float> ctv;   // 0/1, contains igtv
  std::vector<float> lung;  // 0/1, both lungs
};

struct ToyPatientConfig {
  double margin_mm = 8;    // CTV expansion through lung
  std::uint64_t seed = 7;  // CT noise
};

// requires: geometry from make_geometry / read_nifti, field of view about 190 x 140 x 90 mm
//           or more around the world origin (the anatomy is laid out in mm around it).
ToyPatient make_toy_patient(const Geometry& geometry, const ToyPatientConfig& config = {});

}  // namespace ctv::data
