// NIfTI-1 reading and writing through niftilib (nifti1_io) and its zlib layer.
//
// Reading: the raw 348-byte header is checked by us first, so that every refusal (NIfTI-2,
// two-file NIfTI, unsupported datatype, extra dimensions, no transform) is one line naming the
// file and nothing from niftilib reaches stderr; niftilib then validates the header and says
// where the data starts, and the data bytes are read with zlib and checked for truncation and
// NaN/Inf (niftilib's own loader would quietly zero-fill or zero them). Geometry comes from the
// raw fields in double precision, as nibabel computes it; niftilib's float matrices are unused.
// Writing: niftilib writes the header fields given, to a temporary name (atomic_file.h); the
// result is read back and compared before it is renamed into place.
#include "data/nifti.h"

#include <nifti1_io.h>
#include <unistd.h>
#include <zlib.h>
#include <Eigen/LU>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <type_traits>

#include "data/atomic_file.h"

namespace ctv::data {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& file, const std::string& fault) {
  throw NiftiError(file.string() + ": " + fault);
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool is_gz_name(const fs::path& file) { return ends_with(file.filename().string(), ".nii.gz"); }

void require_nifti_name(const fs::path& file) {
  const std::string name = file.filename().string();
  if (!ends_with(name, ".nii") && !ends_with(name, ".nii.gz"))
    fail(file, "not a NIfTI file name (expected .nii or .nii.gz)");
}

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(9);
  os << v;
  return os.str();
}

// niftilib prints its own diagnostics at debug level > 0; ours are the messages a user sees.
void quiet_niftilib() {
  static const bool once = [] {
    nifti_set_debug_level(0);
    return true;
  }();
  (void)once;
}

struct NimDeleter {
  void operator()(nifti_image* nim) const { nifti_image_free(nim); }
};
using NimPtr = std::unique_ptr<nifti_image, NimDeleter>;

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

std::string zlib_message(gzFile gz) {
  int code = 0;
  const char* m = gzerror(gz, &code);
  std::string text = m && *m ? m : "unknown zlib error";
  const std::size_t colon = text.rfind(": ");  // zlib prefixes the path
  return colon == std::string::npos ? text : text.substr(colon + 2);
}

// ---- the raw header ----------------------------------------------------------------------

// Reads the first 348 bytes the way niftilib will (gzip by name, plain otherwise) and
// byte-swaps them to native order.
nifti_1_header read_raw_header(const fs::path& file) {
  unsigned char buf[sizeof(nifti_1_header)] = {};
  static_assert(sizeof(nifti_1_header) == 348);
  long got = 0;
  if (is_gz_name(file)) {
    gzFile gz = gzopen(file.c_str(), "rb");
    if (!gz) fail(file, std::string("cannot be opened: ") + std::strerror(errno));
    got = gzread(gz, buf, sizeof buf);
    const std::string why = got < 0 ? zlib_message(gz) : "";
    gzclose(gz);
    if (got < 0) fail(file, "is corrupt: " + why);
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) fail(file, std::string("cannot be opened: ") + std::strerror(errno));
    in.read(reinterpret_cast<char*>(buf), sizeof buf);
    got = in.gcount();
    if (got >= 2 && buf[0] == 0x1f && buf[1] == 0x8b)
      fail(file, "is gzip-compressed but named .nii (name it .nii.gz)");
  }
  if (got < 4) fail(file, "is empty or truncated (no NIfTI header)");
  std::int32_t size = 0;
  std::memcpy(&size, buf, 4);
  const std::int32_t swapped_size =
      static_cast<std::int32_t>(__builtin_bswap32(std::uint32_t(size)));
  const bool swapped = size != 348 && swapped_size == 348;
  if (size == 540 || swapped_size == 540)
    fail(file, "is a NIfTI-2 file; only NIfTI-1 is supported");
  if (size != 348 && !swapped)
    fail(file,
         "is not a NIfTI-1 file (header size field " + std::to_string(size) + ", expected 348)");
  if (got < static_cast<long>(sizeof buf))
    fail(file, "is truncated: the header holds " + std::to_string(got) + " of 348 bytes");
  nifti_1_header h;
  std::memcpy(&h, buf, sizeof h);
  if (swapped) swap_nifti_header(&h, 1);
  if (std::memcmp(h.magic, "ni1", 4) == 0)
    fail(file, "is a two-file NIfTI (.hdr/.img); only single-file .nii/.nii.gz is supported");
  if (std::memcmp(h.magic, "n+1", 4) != 0)
    fail(file, "is not a NIfTI-1 file (no 'n+1' magic; an Analyze 7.5 file?)");
  return h;
}

struct TypeInfo {
  VoxelType type;
  int code;  // NIfTI DT_*
  const char* name;
};
constexpr TypeInfo kTypes[] = {{VoxelType::uint8, DT_UINT8, "uint8"},
                               {VoxelType::int16, DT_INT16, "int16"},
                               {VoxelType::int32, DT_INT32, "int32"},
                               {VoxelType::float32, DT_FLOAT32, "float32"},
                               {VoxelType::float64, DT_FLOAT64, "float64"}};

const TypeInfo* type_of_code(int code) {
  for (const TypeInfo& t : kTypes)
    if (t.code == code) return &t;
  return nullptr;
}

const TypeInfo& type_info(VoxelType type) {
  for (const TypeInfo& t : kTypes)
    if (t.type == type) return t;
  throw NiftiError("unknown voxel type");
}

// Calls f(T{}) with the C++ type that stores `type`.
template <class F>
decltype(auto) with_stored_type(VoxelType type, F&& f) {
  switch (type) {
    case VoxelType::uint8:
      return f(std::uint8_t{});
    case VoxelType::int16:
      return f(std::int16_t{});
    case VoxelType::int32:
      return f(std::int32_t{});
    case VoxelType::float32:
      return f(float{});
    case VoxelType::float64:
      break;
  }
  return f(double{});
}

std::string datatype_text(int code) {
  std::string name = nifti_datatype_string(code);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name.empty() || name[0] == '*') return "code " + std::to_string(code);
  return name + " (code " + std::to_string(code) + ")";
}

// dim[1..3] of the image; refuses non-positive sizes and extra dimensions larger than 1.
std::array<int, 3> spatial_dims(const nifti_1_header& h, const fs::path& file) {
  const int n = h.dim[0];
  if (n < 1 || n > 7) fail(file, "has an invalid dim[0] = " + std::to_string(n));
  std::array<int, 3> d{1, 1, 1};
  std::ostringstream all;
  bool extra = false;
  for (int i = 1; i <= n; ++i) {
    if (h.dim[i] < 1)
      fail(file, "has an invalid size " + std::to_string(h.dim[i]) + " in dimension " +
                     std::to_string(i));
    if (i <= 3) d[i - 1] = h.dim[i];
    if (i > 3 && h.dim[i] > 1) extra = true;
    all << (i > 1 ? "x" : "") << h.dim[i];
  }
  if (extra)
    fail(file, "has " + std::to_string(n) + " dimensions (" + all.str() +
                   "); only 3-D images are accepted (extra dimensions must be 1)");
  // A hostile or damaged header must not make us allocate what it claims.
  const std::uint64_t voxels = std::uint64_t(d[0]) * std::uint64_t(d[1]) * std::uint64_t(d[2]);
  if (voxels > kMaxNiftiVoxels)
    fail(file, "claims " + all.str() + " = " + std::to_string(voxels) +
                   " voxels, more than the " + std::to_string(kMaxNiftiVoxels) +
                   " this reader accepts");
  return d;
}

NiftiHeaderGeometry header_geometry(const nifti_1_header& h) {
  NiftiHeaderGeometry g;
  g.qform_code = h.qform_code;
  g.sform_code = h.sform_code;
  g.quatern_b = h.quatern_b;
  g.quatern_c = h.quatern_c;
  g.quatern_d = h.quatern_d;
  g.qoffset_x = h.qoffset_x;
  g.qoffset_y = h.qoffset_y;
  g.qoffset_z = h.qoffset_z;
  g.qfac = h.pixdim[0] < 0 ? -1.0f : 1.0f;  // 0 means 1 (NIfTI standard)
  g.pixdim = {h.pixdim[1], h.pixdim[2], h.pixdim[3]};
  for (int c = 0; c < 4; ++c) {
    g.srow[0][c] = h.srow_x[c];
    g.srow[1][c] = h.srow_y[c];
    g.srow[2][c] = h.srow_z[c];
  }
  g.xyzt_units = h.xyzt_units;
  return g;
}

// The affine a reader uses, with every way it can be unusable refused.
Eigen::Matrix4d checked_affine(const NiftiHeaderGeometry& g, const fs::path& file) {
  const bool sform = g.sform_code > 0;
  if (!sform && g.qform_code <= 0)
    fail(file, "has neither an sform nor a qform (sform_code " + std::to_string(g.sform_code) +
                   ", qform_code " + std::to_string(g.qform_code) +
                   "): its orientation is unknown");
  const char* which = sform ? "sform" : "qform";
  if (!sform) {
    const double b = g.quatern_b, c = g.quatern_c, d = g.quatern_d;
    if (!std::isfinite(b) || !std::isfinite(c) || !std::isfinite(d) ||
        1.0 - (b * b + c * c + d * d) < -3.0 * std::numeric_limits<float>::epsilon())
      fail(file, "has an invalid qform quaternion (b^2 + c^2 + d^2 > 1)");
    for (int a = 0; a < 3; ++a)
      if (!(g.pixdim[a] > 0))
        fail(file, "has pixdim[" + std::to_string(a + 1) + "] = " + fmt(g.pixdim[a]) +
                       "; the qform needs positive voxel sizes");
  }
  const Eigen::Matrix4d m = sform ? sform_affine(g) : qform_affine(g);
  if (!m.allFinite()) fail(file, std::string("has a non-finite ") + which);
  const Eigen::Matrix3d r = m.block<3, 3>(0, 0);
  const double scale = r.col(0).norm() * r.col(1).norm() * r.col(2).norm();
  if (!(scale > 0) || std::abs(r.determinant()) <= 1e-6 * scale)
    fail(file, std::string("has a singular ") + which +
                   " (a voxel axis of zero length, or two along one direction)");
  return m;
}

// ---- values ------------------------------------------------------------------------------

template <class T>
void scale_into(const void* raw, std::size_t n, bool scaled, double slope, double inter,
                std::vector<float>& out) {
  const T* p = static_cast<const T*>(raw);
  out.resize(n);
  if (scaled)
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(double(p[i]) * slope + inter);
  else
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]);
}

std::string voxel_text(std::size_t index, const std::array<int, 3>& dim) {
  const std::size_t i = index % dim[0], j = (index / dim[0]) % dim[1],
                    k = index / (std::size_t(dim[0]) * dim[1]);
  std::ostringstream os;
  os << "(" << i << ", " << j << ", " << k << ")";
  return os.str();
}

// The image bytes of a file, native byte order. niftilib's own loader is not used for this:
// it fills a short file with zeros and replaces NaN and infinite floats by 0 without a word
// (at debug level 0), and a treatment volume with invented voxels must be refused instead.
// zlib reads .nii.gz and, transparently, .nii (whose gzip content the header check refused).
std::vector<unsigned char> read_image_bytes(const fs::path& file, const nifti_image& nim) {
  const std::size_t need = nim.nvox * std::size_t(nim.nbyper);
  if (!is_gz_name(file)) {
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(file, ec);
    if (!ec && size < std::uintmax_t(nim.iname_offset) + need)
      fail(file, "is truncated: " + std::to_string(size) + " bytes, the header needs " +
                     std::to_string(std::uintmax_t(nim.iname_offset) + need));
  }
  std::unique_ptr<gzFile_s, GzCloser> gz(gzopen(file.c_str(), "rb"));
  if (!gz) fail(file, std::string("cannot be opened: ") + std::strerror(errno));
  gzbuffer(gz.get(), 1 << 18);
  if (gzseek(gz.get(), nim.iname_offset, SEEK_SET) != nim.iname_offset)
    fail(file, "is truncated or corrupt: cannot reach the image data");
  // The buffer grows with the bytes that actually arrive, so a compressed file whose header
  // claims more than it holds is refused as truncated without allocating the claim.
  std::vector<unsigned char> bytes;
  bytes.reserve(std::min<std::size_t>(need, std::size_t(1) << 26));
  std::size_t got = 0;
  while (got < need) {
    const std::size_t chunk = std::min<std::size_t>(need - got, std::size_t(1) << 26);
    bytes.resize(got + chunk);
    const int r = gzread(gz.get(), bytes.data() + got, static_cast<unsigned>(chunk));
    if (r < 0) fail(file, "is corrupt: " + zlib_message(gz.get()));
    got += std::size_t(r);
    if (std::size_t(r) < chunk) break;
  }
  bytes.resize(got);
  if (got < need)
    fail(file, "is truncated: the image data holds " + std::to_string(got) + " of " +
                   std::to_string(need) + " bytes");
  if (is_gz_name(file)) {
    // Reading past the image makes zlib check the stream's end and CRC.
    unsigned char extra;
    if (gzread(gz.get(), &extra, 1) < 0) fail(file, "is corrupt: " + zlib_message(gz.get()));
    if (gzclose(gz.release()) != Z_OK)
      fail(file, "is truncated or corrupt: the compressed stream does not end properly");
  }
  if (nim.byteorder != nifti_short_order() && nim.nbyper > 1)
    nifti_swap_Nbytes(nim.nvox, nim.nbyper, bytes.data());
  return bytes;
}

template <class T>
std::vector<T> convert_for_writing(const std::vector<float>& data, VoxelType type,
                                   const std::array<int, 3>& dim, const fs::path& file) {
  std::vector<T> out(data.size());
  for (std::size_t n = 0; n < data.size(); ++n) {
    const float v = data[n];
    if (!std::isfinite(v))
      fail(file,
           "not written: value " + fmt(v) + " at voxel " + voxel_text(n, dim) + " is not finite");
    if constexpr (std::is_integral_v<T>) {
      const double r = std::nearbyint(double(v));  // to nearest, ties to even (as numpy)
      if (r < double(std::numeric_limits<T>::min()) || r > double(std::numeric_limits<T>::max()))
        fail(file, "not written: value " + fmt(v) + " at voxel " + voxel_text(n, dim) +
                       " does not fit " + voxel_type_name(type) + " [" +
                       std::to_string(std::numeric_limits<T>::min()) + ", " +
                       std::to_string(std::numeric_limits<T>::max()) + "]");
      out[n] = static_cast<T>(r);
    } else {
      out[n] = static_cast<T>(v);
    }
  }
  return out;
}

// The bytes `type` stores for `data`, range-checked.
std::vector<unsigned char> encode(const std::vector<float>& data, VoxelType type,
                                  const std::array<int, 3>& dim, const fs::path& file) {
  auto bytes = [](const auto& v) {
    const auto* p = reinterpret_cast<const unsigned char*>(v.data());
    return std::vector<unsigned char>(p, p + v.size() * sizeof(v[0]));
  };
  return with_stored_type(type, [&](auto zero) {
    return bytes(convert_for_writing<decltype(zero)>(data, type, dim, file));
  });
}

// Writes the complete file at `path` with niftilib; data must be `type`'s native bytes.
void write_with_niftilib(const fs::path& path, const Geometry& g, VoxelType type,
                         std::vector<unsigned char>& bytes, const fs::path& file) {
  quiet_niftilib();
  int dims[8] = {3, g.dim[0], g.dim[1], g.dim[2], 1, 1, 1, 1};
  NimPtr nim(nifti_make_new_nim(dims, type_info(type).code, 0));
  if (!nim) fail(file, "not written: niftilib could not make a header");
  const NiftiHeaderGeometry& h = g.header;
  nim->dx = nim->pixdim[1] = h.pixdim[0];
  nim->dy = nim->pixdim[2] = h.pixdim[1];
  nim->dz = nim->pixdim[3] = h.pixdim[2];
  nim->qform_code = h.qform_code;
  nim->sform_code = h.sform_code;
  nim->quatern_b = h.quatern_b;
  nim->quatern_c = h.quatern_c;
  nim->quatern_d = h.quatern_d;
  nim->qoffset_x = h.qoffset_x;
  nim->qoffset_y = h.qoffset_y;
  nim->qoffset_z = h.qoffset_z;
  nim->qfac = h.qfac;
  nim->qto_xyz =
      nifti_quatern_to_mat44(h.quatern_b, h.quatern_c, h.quatern_d, h.qoffset_x, h.qoffset_y,
                             h.qoffset_z, h.pixdim[0], h.pixdim[1], h.pixdim[2], h.qfac);
  nim->qto_ijk = nifti_mat44_inverse(nim->qto_xyz);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) nim->sto_xyz.m[r][c] = r < 3 ? h.srow[r][c] : (c == 3 ? 1 : 0);
  nim->sto_ijk = nifti_mat44_inverse(nim->sto_xyz);
  nim->xyz_units = XYZT_TO_SPACE(h.xyzt_units);
  nim->time_units = XYZT_TO_TIME(h.xyzt_units);
  nim->scl_slope = 1;
  nim->scl_inter = 0;
  nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
  if (nifti_set_filenames(nim.get(), path.c_str(), 0, 1) != 0)
    fail(file, "not written: niftilib refused the name " + path.filename().string());
  nim->data = bytes.data();
  nifti_image_write(nim.get());
  nim->data = nullptr;  // ours, not niftilib's to free

  // nifti_image_write reports nothing: read the file back and compare, so a full disk or a
  // short gzip stream is caught before the file is published.
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(file, "not written: the file could not be created");
  const NimPtr back(nifti_image_read(path.c_str(), 0));
  std::vector<unsigned char> again;
  try {
    if (back) again = read_image_bytes(path, *back);
  } catch (const NiftiError&) {
    again.clear();
  }
  if (again != bytes)
    fail(file, "not written: the file read back differs from what was written (disk full?)");
}

}  // namespace

const char* voxel_type_name(VoxelType t) { return type_info(t).name; }

// ---- header geometry helpers -------------------------------------------------------------

Eigen::Matrix4d sform_affine(const NiftiHeaderGeometry& h) {
  Eigen::Matrix4d m = Eigen::Matrix4d::Identity();
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) m(r, c) = h.srow[r][c];
  return m;
}

Eigen::Matrix4d qform_affine(const NiftiHeaderGeometry& h) {
  // nibabel: quaternions.fillpositive then quat2mat, in double.
  const double b = h.quatern_b, c = h.quatern_c, d = h.quatern_d;
  const double a = std::sqrt(std::max(0.0, 1.0 - (b * b + c * c + d * d)));
  Eigen::Matrix3d r;
  const double n = a * a + b * b + c * c + d * d;
  if (n < std::numeric_limits<double>::epsilon()) {
    r.setIdentity();
  } else {
    const double s = 2.0 / n;
    const double X = b * s, Y = c * s, Z = d * s;
    const double wX = a * X, wY = a * Y, wZ = a * Z;
    const double xX = b * X, xY = b * Y, xZ = b * Z;
    const double yY = c * Y, yZ = c * Z, zZ = d * Z;
    r << 1.0 - (yY + zZ), xY - wZ, xZ + wY,  //
        xY + wZ, 1.0 - (xX + zZ), yZ - wX,   //
        xZ - wY, yZ + wX, 1.0 - (xX + yY);
  }
  const Eigen::Vector3d zooms(h.pixdim[0], h.pixdim[1],
                              double(h.pixdim[2]) * (h.qfac < 0 ? -1 : 1));
  Eigen::Matrix4d m = Eigen::Matrix4d::Identity();
  m.block<3, 3>(0, 0) = r * zooms.asDiagonal();
  m.block<3, 1>(0, 3) = Eigen::Vector3d(h.qoffset_x, h.qoffset_y, h.qoffset_z);
  return m;
}

Eigen::Matrix4d best_affine(const NiftiHeaderGeometry& h) {
  if (h.sform_code > 0) return sform_affine(h);
  if (h.qform_code > 0) return qform_affine(h);
  throw NiftiError("neither sform nor qform is set (both codes 0)");
}

const char* transform_name(const NiftiHeaderGeometry& h) {
  return h.sform_code > 0 ? "sform" : "qform";
}

const char* xform_code_name(int code) {
  static const char* const names[] = {"unknown",   "scanner", "aligned",
                                      "talairach", "mni152",  "template"};
  return code >= 0 && code <= NIFTI_XFORM_TEMPLATE_OTHER ? names[code] : "invalid";
}

void set_qform_from_affine(NiftiHeaderGeometry& h, const Eigen::Matrix4d& affine) {
  mat44 m;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) m.m[r][c] = static_cast<float>(affine(r, c));
  float dx = 0, dy = 0, dz = 0;
  nifti_mat44_to_quatern(m, &h.quatern_b, &h.quatern_c, &h.quatern_d, &h.qoffset_x, &h.qoffset_y,
                         &h.qoffset_z, &dx, &dy, &dz, &h.qfac);
  h.pixdim = {dx, dy, dz};
}

Geometry make_geometry(const std::array<int, 3>& dim, const Eigen::Matrix4d& affine) {
  Geometry g;
  g.dim = dim;
  g.header.qform_code = g.header.sform_code = NIFTI_XFORM_SCANNER_ANAT;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) g.header.srow[r][c] = static_cast<float>(affine(r, c));
  set_qform_from_affine(g.header, affine);
  g.header.xyzt_units = NIFTI_UNITS_MM;
  // The affine as the file will hold it (float32 srows), so that reading the file back gives
  // exactly this geometry.
  g.affine = sform_affine(g.header);
  for (int a = 0; a < 3; ++a) g.spacing[a] = g.affine.block<3, 1>(0, a).norm();
  return g;
}

// ---- reading -----------------------------------------------------------------------------

Volume read_nifti(const fs::path& file) {
  require_nifti_name(file);
  std::error_code ec;
  if (!fs::exists(file, ec)) fail(file, "does not exist");
  if (!fs::is_regular_file(file, ec)) fail(file, "is not a regular file");
  if (::access(file.c_str(), R_OK) != 0)
    fail(file, std::string("cannot be read: ") + std::strerror(errno));

  const nifti_1_header raw = read_raw_header(file);
  Volume v;
  const TypeInfo* type = type_of_code(raw.datatype);
  if (!type)
    fail(file, "has datatype " + datatype_text(raw.datatype) +
                   ", which is not supported (expected uint8, int16, int32, float32 or float64)");
  v.stored_type = type->type;
  Geometry& g = v.geometry;
  g.dim = spatial_dims(raw, file);
  g.header = header_geometry(raw);
  g.affine = checked_affine(g.header, file);
  for (int a = 0; a < 3; ++a) g.spacing[a] = g.affine.block<3, 1>(0, a).norm();

  // niftilib validates the header and says where the data starts.
  quiet_niftilib();
  const NimPtr nim(nifti_image_read(file.c_str(), 0));
  if (!nim) fail(file, "cannot be read as NIfTI-1 (niftilib refuses its header)");
  const std::size_t n = g.voxel_count();
  if (nim->nvox != n || nim->datatype != raw.datatype)
    fail(file, "niftilib and the header disagree on the size or datatype");
  const std::vector<unsigned char> bytes = read_image_bytes(file, *nim);
  // NIfTI standard: slope 0 (or not finite) means the values are stored unscaled.
  const double slope = raw.scl_slope, inter = raw.scl_inter;
  const bool scaled = slope != 0 && std::isfinite(slope);
  if (scaled && !std::isfinite(inter))
    fail(file, "has scl_slope " + fmt(slope) + " but a non-finite scl_inter");
  with_stored_type(v.stored_type, [&](auto zero) {
    scale_into<decltype(zero)>(bytes.data(), n, scaled, slope, inter, v.data);
  });
  std::size_t bad = 0, first_bad = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(v.data[i]) && bad++ == 0) first_bad = i;
  if (bad)
    fail(file, "holds " + std::to_string(bad) + " NaN or infinite value" + (bad > 1 ? "s" : "") +
                   " (the first at voxel " + voxel_text(first_bad, g.dim) + ")");
  return v;
}

// ---- writing -----------------------------------------------------------------------------

void write_nifti(const fs::path& file, const Geometry& geometry, const std::vector<float>& data,
                 VoxelType type, bool overwrite) {
  require_nifti_name(file);
  if (data.size() != geometry.voxel_count())
    fail(file, "not written: " + std::to_string(data.size()) + " values for a grid of " +
                   std::to_string(geometry.voxel_count()) + " voxels");
  // The header fields are what is written; the affine the caller works with must be theirs.
  Eigen::Matrix4d header_affine;
  try {
    header_affine = best_affine(geometry.header);
  } catch (const NiftiError& e) {
    fail(file, std::string("not written: the geometry's header has ") + e.what());
  }
  const double off = (header_affine - geometry.affine).topRows<3>().cwiseAbs().maxCoeff();
  if (!(off <= 1e-3))
    fail(file, "not written: the geometry's affine and its header fields disagree by " + fmt(off) +
                   " (make geometries with make_geometry or from a file)");
  std::vector<unsigned char> bytes = encode(data, type, geometry.dim, file);
  try {
    write_file_atomically(
        file, [&](const fs::path& tmp) { write_with_niftilib(tmp, geometry, type, bytes, file); },
        overwrite);
  } catch (const FileWriteError& e) {
    throw NiftiError(e.what());
  }
}

}  // namespace ctv::data
