// The report's figures, drawn with Cairo (image surfaces, PNG out): box plots of per-patient
// metrics (as the paper's Figs 3-4) and tri-planar CT views with mask contours (as its Fig 2).
//
// Invariants:
// - Every function returns the PNG file's bytes (callers write them atomically and embed them
//   in the HTML page); nothing here touches a file.
// - Volumes are in the canonical LPS frame (data/nifti.h to_canonical): voxel axis 0 toward the
//   patient's Left, 1 Posterior, 2 Superior. Views follow the radiological convention: axial
//   and coronal views show the patient's right on the image's left; axial has anterior at the
//   top; coronal and sagittal have superior at the top; sagittal has anterior on the left.
//   Pixels keep their physical aspect ratio (spacing honoured).
// - Contours are the edges between mask and non-mask pixels of the slice shown (the exact
//   voxel boundary, no smoothing), stroked as vector paths.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "data/nifti.h"

namespace ctv::cli {

struct Rgb {
  double r = 0, g = 0, b = 0;  // 0..1
};

// ---- box plots --------------------------------------------------------------------------

struct BoxSeries {
  std::string label;  // the method, under its box
  Rgb colour;
  std::vector<double> values;  // one per patient; NaN values are left out
};

struct BoxPanel {
  std::string title;  // e.g. "DSC", "HD95 (mm)"
  std::vector<BoxSeries> series;
};

// One row of panels, each with one box per series: the box spans the 25th to 75th percentiles
// (linear interpolation, as data::percentile_linear), a line marks the median, whiskers reach
// the most extreme values within 1.5 IQR of the box, values beyond are drawn as circles, and
// every value is shown as a small dot beside its box (cohorts are small). A series with no
// finite value shows "n/a". requires: at least one panel (std::invalid_argument).
// throws std::runtime_error when Cairo fails.
std::string draw_box_plots(const std::vector<BoxPanel>& panels, const std::string& title);

// ---- tri-planar overlays ----------------------------------------------------------------

struct CtWindow {
  std::string name;                   // "lung", "mediastinal"
  double level = -600, width = 1500;  // HU
};
inline const CtWindow kLungWindow{"lung", -600, 1500};
inline const CtWindow kMediastinalWindow{"mediastinal", 40, 400};

struct ContourMask {
  std::string label;  // shown in the legend
  Rgb colour;
  const std::vector<float>* mask = nullptr;  // voxels > 0.5, the CT's canonical grid; not owned
  bool dashed = false;
};

// Axial, coronal and sagittal slices of `ct` through voxel `centre`, each cropped to a square
// field of view of fov_mm around it (clipped to the volume; fov_mm <= 0 shows the whole slice),
// in the given window, with every mask's contour and a legend listing the masks in order (on
// as many lines as the width needs). The first mask is drawn last, on top of the others (put
// the iGTV first). The image is at most max_width_px wide (views scaled to fit, 380 px high at
// most).
// requires: each mask has ct's voxel count; centre inside the volume; max_width_px >= 300
//           (std::invalid_argument).
// throws std::runtime_error when Cairo fails.
std::string draw_triplanar(const data::Volume& ct, const std::vector<ContourMask>& masks,
                           const std::array<int, 3>& centre, const CtWindow& window, double fov_mm,
                           const std::string& title, int max_width_px = 1200);

// The voxel nearest the centroid of a mask (voxels > 0.5); the volume's centre when it is empty.
std::array<int, 3> mask_centroid_voxel(const data::Volume& mask);

}  // namespace ctv::cli
