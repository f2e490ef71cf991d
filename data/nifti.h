// NIfTI-1 volumes through niftilib (nifti1_io), with the rules of SPEC sections 0 and 2.
//
// Invariants of a Volume:
// - data is float32, x fastest: index = x + dim[0] * (y + dim[1] * z), in the file's voxel order
//   until reoriented; values are the file's stored values times scl_slope plus scl_inter
//   (slope 0 means "no scaling", as the NIfTI standard says).
// - geometry.affine maps voxel indices (i, j, k, 1) to world millimetres in NIfTI's RAS+ frame:
//   the sform when sform_code > 0, else the qform when qform_code > 0 (as nibabel does). A file
//   with neither is refused: guessing the orientation of a treatment volume is not safe.
// - geometry.spacing is the length of each affine column, in mm.
// - geometry.header keeps what is needed to write a file with the same header geometry
//   (both codes, the quaternion, the sform rows, pixdim and units), so outputs carry the CT's
//   geometry exactly, not a re-derived approximation.
#pragma once

#include <Eigen/Core>

#include <array>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace ctv::data {

// Every fault reading or writing a volume: message names the file and the fault in one line.
class NiftiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The header fields that carry geometry, kept verbatim from the file they came from.
struct NiftiHeaderGeometry {
  int qform_code = 0;
  int sform_code = 0;
  float quatern_b = 0, quatern_c = 0, quatern_d = 0;
  float qoffset_x = 0, qoffset_y = 0, qoffset_z = 0;
  float qfac = 1;
  std::array<float, 3> pixdim{1, 1, 1};
  std::array<std::array<float, 4>, 3> srow{};  // srow_x, srow_y, srow_z
  int xyzt_units = 0;
};

struct Geometry {
  std::array<int, 3> dim{0, 0, 0};                       // voxels along i, j, k
  std::array<double, 3> spacing{1, 1, 1};                // mm, affine column norms
  Eigen::Matrix4d affine = Eigen::Matrix4d::Identity();  // voxel -> RAS+ mm
  NiftiHeaderGeometry header;

  std::size_t voxel_count() const { return std::size_t(dim[0]) * dim[1] * dim[2]; }
  double voxel_volume_mm3() const { return spacing[0] * spacing[1] * spacing[2]; }
  Eigen::Vector3d origin() const { return affine.block<3, 1>(0, 3); }
  // Unit direction of voxel axis a in RAS+ world coordinates.
  Eigen::Vector3d direction(int a) const { return affine.block<3, 1>(0, a) / spacing[a]; }
};

// The on-disk datatype a volume was read from, or is to be written as.
enum class VoxelType { uint8, int16, int32, float32, float64 };
const char* voxel_type_name(VoxelType t);

struct Volume {
  Geometry geometry;
  std::vector<float> data;
  VoxelType stored_type = VoxelType::float32;  // what the file held (informational)

  float& at(int i, int j, int k) { return data[index(i, j, k)]; }
  float at(int i, int j, int k) const { return data[index(i, j, k)]; }
  std::size_t index(int i, int j, int k) const {
    return std::size_t(i) +
           std::size_t(geometry.dim[0]) * (std::size_t(j) + std::size_t(geometry.dim[1]) * k);
  }
};

// The largest image read_nifti accepts: 2^30 voxels (4 GiB as float32; a 512x512x4096 CT).
inline constexpr std::uint64_t kMaxNiftiVoxels = std::uint64_t(1) << 30;

// Reads a .nii or .nii.gz file.
// throws NiftiError naming the file when: its name does not end in .nii or .nii.gz; it does
//   not exist or cannot be read; it is not NIfTI-1 (NIfTI-2, Analyze, .hdr/.img pair, not an
//   image); it has more than 3 non-singleton dimensions; its datatype is not one of
//   uint8/int16/int32/float32/float64; it claims more than kMaxNiftiVoxels voxels (refused
//   before anything is allocated); neither sform nor qform code is set; the affine is
//   singular (or the qform invalid); it is truncated or its gzip stream is corrupt (CRC
//   included); or it holds NaN or infinite values (after scaling). Nothing is printed.
// The message is one line, "FILE: fault".
Volume read_nifti(const std::filesystem::path& file);

// Writes `data` (x fastest, geometry.dim voxels) as `type`, with the header geometry of
// `geometry` (codes, quaternion, sform, pixdim, units copied verbatim), scl_slope 1, inter 0.
// Values are rounded to nearest and range-checked for integer types.
// Written atomically: to a temporary name in the same folder, flushed to disk, then renamed.
// requires: data.size() == geometry.voxel_count().
// Before it is published, the written file is read back and compared byte for byte.
// throws NiftiError naming the file when: the file exists and overwrite is false; a value is
//   not finite or does not fit `type` (naming the voxel); geometry.header has neither an sform
//   nor a qform, or its transform disagrees with geometry.affine by more than 1e-3 (the header
//   fields are what is written: build a new geometry with make_geometry); or on any I/O fault.
//   The final name is never left holding a partial file, and no temporary file remains.
void write_nifti(const std::filesystem::path& file, const Geometry& geometry,
                 const std::vector<float>& data, VoxelType type, bool overwrite = false);

// ---- geometry checks (SPEC section 0) ----------------------------------------------

// Two files share a geometry when dims match, spacing and origin agree to 1e-3 mm and
// direction cosines to 1e-4. Returns an empty string when they do, else what differs
// (e.g. "dims 512x512x120 vs 512x512x121").
std::string geometry_difference(const Geometry& a, const Geometry& b);

// throws NiftiError naming both files and the difference when the geometries differ.
void require_same_geometry(const Geometry& a, const std::filesystem::path& file_a,
                           const Geometry& b, const std::filesystem::path& file_b);

// ---- reorientation to the canonical frame (LPS, as DICOM) and back ---------------------
//
// Canonical: voxel axis 0 points to the patient's Left, axis 1 Posterior, axis 2 Superior
// (in RAS+ world coordinates the directions are close to (-1,0,0), (0,-1,0), (0,0,+1)).
// Reorientation only permutes and flips voxel axes: no resampling, no interpolation, and the
// world position of every voxel is unchanged (the affine is adjusted to match).
struct Reorientation {
  std::array<int, 3> source_axis{0, 1, 2};  // canonical axis c reads source axis source_axis[c]
  std::array<bool, 3> flip{false, false, false};  // and runs it backwards when flip[c]
  Geometry source;                                // the geometry to return to

  bool is_identity() const;
  // Orientation code of the source, e.g. "RAS", "LPS", "PSR".
  std::string source_code() const;
};

// Chooses, for each voxel axis, the world axis its direction is closest to, exactly as
// nibabel.orientations.io_orientation does: shear is removed by polar decomposition, then voxel
// axes i, j, k in turn take the world axis of their largest absolute cosine among the world axes
// not yet taken (so a steeply oblique image maps the same way as in nibabel).
// throws NiftiError (with `file` in the message) when a voxel axis has no world axis left
// (two voxel axes point along the same world direction: a degenerate affine).
Reorientation plan_canonical(const Geometry& geometry, const std::filesystem::path& file = {});

// The canonical volume and geometry; plan.source must equal volume.geometry.
// The canonical geometry's affine is source.affine * P (P the index map above, exact in
// double). Its header moves both transforms with the voxels and keeps both codes: srows =
// sform * P; when qform_code > 0 the quaternion, qoffsets, qfac and pixdim are those of
// qform * P (else pixdim is permuted). A reader thus picks the same transform as in the source
// and finds every voxel where it was, to float32 precision of the header fields.
// Note: for a steeply oblique source (axes ~45 degrees off the world axes) the canonical
// geometry may not read as "LPS" again, since io_orientation depends on the axis order; the
// same holds in nibabel. to_source still inverts exactly.
Volume to_canonical(const Volume& volume, const Reorientation& plan);
// Back to the source grid: to_source(to_canonical(v, p), p) reproduces v exactly.
std::vector<float> to_source(const std::vector<float>& canonical_data, const Reorientation& plan);

// Three-letter orientation code of a geometry, the world direction each voxel axis points to
// ("RAS" = i toward Right, j toward Anterior, k toward Superior), as nibabel.aff2axcodes; '?'
// for an axis without a direction.
std::string orientation_code(const Geometry& geometry);

// ---- header geometry helpers ------------------------------------------------------------

// The sform of a header (srows as a 4x4 matrix), whatever its code.
Eigen::Matrix4d sform_affine(const NiftiHeaderGeometry& header);
// The qform of a header, computed in double as nibabel does: rotation from the quaternion
// (a = sqrt(1 - b^2 - c^2 - d^2)), times diag(pixdim) with the k column multiplied by qfac.
Eigen::Matrix4d qform_affine(const NiftiHeaderGeometry& header);
// The affine a reader uses: sform when sform_code > 0, else qform when qform_code > 0.
// throws NiftiError when neither code is set.
Eigen::Matrix4d best_affine(const NiftiHeaderGeometry& header);
// "sform" or "qform": which of the two best_affine uses.
const char* transform_name(const NiftiHeaderGeometry& header);
// "unknown", "scanner", "aligned", "talairach", "mni152", "template" (NIFTI_XFORM_*).
const char* xform_code_name(int code);

// Sets the quaternion, qoffsets, qfac and pixdim of `header` so that its qform is `affine`'s
// rotation (shear, if any, removed as niftilib does); codes are left unchanged.
void set_qform_from_affine(NiftiHeaderGeometry& header, const Eigen::Matrix4d& affine);

// A geometry for a new volume (e.g. a synthetic one): the affine goes into both the sform and
// the qform with code 1 (scanner), pixdim = spacing, units mm.
Geometry make_geometry(const std::array<int, 3>& dim, const Eigen::Matrix4d& affine);

}  // namespace ctv::data
