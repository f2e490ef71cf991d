// NIfTI-1 I/O and reorientation against nibabel: the fixtures in tests/data/nifti and what
// nibabel says of each (expected.json) are written by tools/make_nifti_fixtures.py.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "data/nifti.h"

namespace fs = std::filesystem;
using namespace ctv::data;
using nlohmann::json;

namespace {

fs::path fixture(const std::string& name) { return fs::path(CTV_TEST_DATA_DIR) / "nifti" / name; }

const json& expected() {
  static const json j = [] {
    std::ifstream in(fixture("expected.json"));
    REQUIRE(in.good());
    return json::parse(in);
  }();
  return j;
}

std::vector<std::string> readable_fixtures() {
  std::vector<std::string> names;
  for (const auto& [name, e] : expected().items())
    if (!e.value("refused", false)) names.push_back(name);
  REQUIRE(names.size() >= 15);
  return names;
}

Eigen::Matrix4d matrix(const json& rows) {
  Eigen::Matrix4d m;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) m(r, c) = rows.at(r).at(c).get<double>();
  return m;
}

double max_abs_diff(const Eigen::Matrix4d& a, const Eigen::Matrix4d& b) {
  return (a - b).cwiseAbs().maxCoeff();
}

// A folder of its own per test, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> n{0};
    path = fs::temp_directory_path() /
           ("ctv-test-nifti-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path)) out.push_back(e.path().filename().string());
    return out;
  }
};

// Captures what is written to file descriptor 2 (where niftilib prints).
struct StderrCapture {
  TempDir dir;
  int saved = -1;
  StderrCapture() {
    std::fflush(stderr);
    saved = ::dup(2);
    const int fd = ::open((dir.path / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  std::string finish() {
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::ifstream in(dir.path / "stderr");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

// Source voxel index of every canonical voxel, found by reorienting a volume of indices.
std::vector<std::size_t> source_index_of_canonical(const Volume& v, const Reorientation& p) {
  Volume idx = v;
  std::iota(idx.data.begin(), idx.data.end(), 0.0f);  // exact: far fewer than 2^24 voxels
  const Volume c = to_canonical(idx, p);
  std::vector<std::size_t> out(c.data.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::size_t(c.data[i]);
  return out;
}

Eigen::Vector4d voxel_of(std::size_t index, const std::array<int, 3>& dim) {
  return Eigen::Vector4d(double(index % dim[0]), double((index / dim[0]) % dim[1]),
                         double(index / (std::size_t(dim[0]) * dim[1])), 1.0);
}

VoxelType type_named(const std::string& s) {
  for (VoxelType t : {VoxelType::uint8, VoxelType::int16, VoxelType::int32, VoxelType::float32,
                      VoxelType::float64})
    if (s == voxel_type_name(t)) return t;
  FAIL("unknown datatype " << s);
  return VoxelType::float32;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const NiftiError& e) {
    return e.what();
  }
  return "(no NiftiError thrown)";
}

}  // namespace

// ---- reading -------------------------------------------------------------------------------

TEST_CASE("read: every readable fixture gives nibabel's shape, datatype, values and affine") {
  for (const std::string& name : readable_fixtures()) {
    CAPTURE(name);
    const json& e = expected().at(name);
    const Volume v = read_nifti(fixture(name));
    for (int a = 0; a < 3; ++a) CHECK(v.geometry.dim[a] == e["shape"][a].get<int>());
    CHECK(voxel_type_name(v.stored_type) == e["datatype"].get<std::string>());
    const auto& want = e["data"];
    REQUIRE(v.data.size() == want.size());
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < v.data.size(); ++i)
      wrong += v.data[i] != static_cast<float>(want[i].get<double>());
    CHECK(wrong == 0);
    CHECK(max_abs_diff(v.geometry.affine, matrix(e["affine"])) < 1e-5);
    for (int a = 0; a < 3; ++a)
      CHECK(v.geometry.spacing[a] ==
            doctest::Approx(v.geometry.affine.block<3, 1>(0, a).norm()).epsilon(1e-12));
    for (std::size_t n = 0; n < e["voxels"].size(); ++n) {
      const auto& ijk = e["voxels"][n];
      const Eigen::Vector4d w =
          v.geometry.affine *
          Eigen::Vector4d(ijk[0].get<double>(), ijk[1].get<double>(), ijk[2].get<double>(), 1.0);
      for (int a = 0; a < 3; ++a) CHECK(w(a) == doctest::Approx(e["world"][n][a].get<double>()));
    }
    CHECK(orientation_code(v.geometry) == e["axcodes"].get<std::string>());
  }
}

TEST_CASE("read: integer datatypes keep their extremes, in either byte order") {
  // The fixture script puts each type's minimum at voxel (0,0,0), its maximum at (0,0,1)
  // (index 42 of a 7x6x5 grid) and 0 at the last voxel.
  struct Case {
    const char* file;
    double lo, hi;
  };
  for (const Case& c : {Case{"uint8.nii", 0, 255}, Case{"int16.nii", -32768, 32767},
                        Case{"int16_bigendian.nii", -32768, 32767},
                        Case{"int32.nii", -2147483648.0, 2147483647.0}}) {
    CAPTURE(c.file);
    const Volume v = read_nifti(fixture(c.file));
    CHECK(v.data[0] == static_cast<float>(c.lo));
    CHECK(v.data[42] == static_cast<float>(c.hi));
    CHECK(v.data.back() == 0.0f);
  }
}

TEST_CASE("read: scl_slope and scl_inter are applied - slope 0 means no scaling") {
  const Volume scaled = read_nifti(fixture("int16_scaled.nii"));
  CHECK(scaled.stored_type == VoxelType::int16);
  // Every value is raw * 2.5 - 1024.5 for an integer raw, and some are not integers.
  std::size_t fractional = 0;
  for (float x : scaled.data) {
    const double raw = (double(x) + 1024.5) / 2.5;
    CHECK(raw == std::round(raw));
    fractional += x != std::round(x);
  }
  CHECK(fractional > 0);

  // scl_slope 0 with scl_inter 7: stored values as they are; 255 stays 255.
  const Volume unscaled = read_nifti(fixture("uint8_slope0.nii"));
  CHECK(unscaled.data[42] == 255.0f);
  CHECK(*std::max_element(unscaled.data.begin(), unscaled.data.end()) == 255.0f);
}

TEST_CASE("read: .nii.gz and .nii of the same volume are identical") {
  const Volume a = read_nifti(fixture("float32.nii"));
  const Volume b = read_nifti(fixture("float32.nii.gz"));
  CHECK(a.data == b.data);
  CHECK(a.geometry.affine == b.geometry.affine);
  CHECK(geometry_difference(a.geometry, b.geometry).empty());
}

TEST_CASE("read: the sform wins over a different qform - the qform serves when sform_code is 0") {
  const Volume s = read_nifti(fixture("sform_wins.nii"));
  CHECK(std::string(transform_name(s.geometry.header)) == "sform");
  CHECK(s.geometry.header.sform_code == 2);
  CHECK(s.geometry.spacing[2] == doctest::Approx(2.5));  // the qform says 2 mm
  CHECK(s.geometry.header.pixdim[2] == 2.0f);            // kept verbatim all the same
  CHECK(s.geometry.origin()(0) == doctest::Approx(100.0));

  const Volume q = read_nifti(fixture("qform_only.nii.gz"));
  CHECK(std::string(transform_name(q.geometry.header)) == "qform");
  CHECK(q.geometry.header.qfac == -1.0f);
  CHECK(q.geometry.origin()(0) == doctest::Approx(12.5));  // not the stale srow's 9
  CHECK(q.geometry.affine(2, 2) == doctest::Approx(-2.0));
  CHECK(orientation_code(q.geometry) == "ALI");
}

TEST_CASE("read: a 4-D file with one volume is read as 3-D") {
  const Volume v = read_nifti(fixture("dim4.nii"));
  CHECK(v.geometry.dim == std::array<int, 3>{7, 6, 5});
  CHECK(v.data.size() == 210);
}

TEST_CASE("read: every refused file gives one NiftiError line naming the file and the fault") {
  std::size_t n = 0;
  for (const auto& [name, e] : expected().items()) {
    if (!e.value("refused", false)) continue;
    CAPTURE(name);
    ++n;
    const fs::path file = fixture(name);
    const std::string msg = message_of([&] { read_nifti(file); });
    CAPTURE(msg);
    CHECK(msg.rfind(file.string() + ": ", 0) == 0);
    CHECK(msg.find(e["reason"].get<std::string>()) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }
  CHECK(n >= 10);
  CHECK(message_of([] { read_nifti(fixture("expected.json")); }).find("expected.json") !=
        std::string::npos);
}

// A copy of a small .nii with dim[1..3] replaced, written plain and gzip-compressed.
void write_with_claimed_dims(const fs::path& plain, const fs::path& out_nii,
                             const fs::path& out_gz, std::int16_t nx, std::int16_t ny,
                             std::int16_t nz) {
  std::ifstream in(plain, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::int16_t dims[3] = {nx, ny, nz};
  std::memcpy(&bytes[42], dims, sizeof dims);  // dim[1..3]: int16 at offset 40 + 2 i
  std::ofstream(out_nii, std::ios::binary) << bytes;
  gzFile gz = gzopen(out_gz.c_str(), "wb");
  REQUIRE(gz != nullptr);
  REQUIRE(gzwrite(gz, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  REQUIRE(gzclose(gz) == Z_OK);
}

TEST_CASE("read: a header claiming a huge image is refused before anything is allocated") {
  TempDir dir;
  const Volume v = read_nifti(fixture("mask_ras.nii.gz"));
  write_nifti(dir.path / "small.nii", v.geometry, v.data, VoxelType::uint8);
  // Over the cap: refused by the header check, naming the claim.
  write_with_claimed_dims(dir.path / "small.nii", dir.path / "huge.nii", dir.path / "huge.nii.gz",
                          2048, 2048, 2048);
  for (const char* name : {"huge.nii", "huge.nii.gz"}) {
    const std::string msg = message_of([&] { read_nifti(dir.path / name); });
    CAPTURE(msg);
    CHECK(msg.find(std::string(name) + ": claims 2048x2048x2048 = 8589934592 voxels") !=
          std::string::npos);
  }
  // Under the cap but far beyond the bytes present: refused as truncated (the compressed file
  // is read in bounded chunks, so the 1 GB claim is never allocated).
  write_with_claimed_dims(dir.path / "small.nii", dir.path / "big.nii", dir.path / "big.nii.gz",
                          1024, 1024, 1000);
  for (const char* name : {"big.nii", "big.nii.gz"}) {
    const std::string msg = message_of([&] { read_nifti(dir.path / name); });
    CAPTURE(msg);
    CHECK(msg.find(std::string(name) + ": is truncated") != std::string::npos);
  }
}

TEST_CASE("fuzz corpus: every input found by fuzz_nifti is read or refused, nothing else") {
  // tests/fuzz/README.md: the corpus (and tests/fuzz/known) of the libFuzzer target, replayed
  // here so that a regression fails without clang. Each file is stored as the target does.
  TempDir dir;
  std::size_t n = 0, read = 0;
  for (const char* sub : {"corpus/nifti", "known/nifti"}) {
    const fs::path folder = fs::path(CTV_TEST_DATA_DIR) / ".." / "fuzz" / sub;
    if (!fs::is_directory(folder)) continue;
    for (const auto& entry : fs::directory_iterator(folder)) {
      if (!entry.is_regular_file() || entry.path().extension() == ".md") continue;
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const bool gz = bytes.size() >= 2 && (unsigned char)bytes[0] == 0x1f &&
                      (unsigned char)bytes[1] == 0x8b;
      const fs::path file = dir.path / (gz ? "input.nii.gz" : "input.nii");
      std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
      CAPTURE(entry.path().filename().string());
      ++n;
      try {
        const Volume v = read_nifti(file);
        CHECK(v.data.size() == v.geometry.voxel_count());
        ++read;
      } catch (const NiftiError&) {
      }
    }
  }
  MESSAGE(n << " fuzz inputs, " << read << " read, the rest refused");
  CHECK(n >= 50);
}

TEST_CASE("niftilib prints nothing: refused files, reads and writes leave stderr silent") {
  StderrCapture cap;
  for (const auto& [name, e] : expected().items())
    if (e.value("refused", false)) CHECK_THROWS_AS(read_nifti(fixture(name)), NiftiError);
  TempDir dir;
  const Volume v = read_nifti(fixture("qform_only.nii.gz"));
  write_nifti(dir.path / "a.nii.gz", v.geometry, v.data, VoxelType::float32);
  CHECK_THROWS_AS(write_nifti(dir.path / "a.nii.gz", v.geometry, v.data, VoxelType::float32),
                  NiftiError);
  CHECK(read_nifti(dir.path / "a.nii.gz").data == v.data);
  const std::string printed = cap.finish();
  CHECK(printed == "");
}

// ---- reorientation -------------------------------------------------------------------------

TEST_CASE("orientation: the canonical volume and affine are nibabel's reorientation to LPS") {
  for (const std::string& name : readable_fixtures()) {
    CAPTURE(name);
    const json& e = expected().at(name)["canonical"];
    const Volume v = read_nifti(fixture(name));
    const Reorientation p = plan_canonical(v.geometry, fixture(name));
    for (int c = 0; c < 3; ++c) {
      CHECK(p.source_axis[c] == e["source_axis"][c].get<int>());
      CHECK(p.flip[c] == e["flip"][c].get<bool>());
    }
    CHECK(p.source_code() == expected().at(name)["axcodes"].get<std::string>());
    const Volume c = to_canonical(v, p);
    for (int a = 0; a < 3; ++a) CHECK(c.geometry.dim[a] == e["shape"][a].get<int>());
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < c.data.size(); ++i)
      wrong += c.data[i] != static_cast<float>(e["data"][i].get<double>());
    CHECK(wrong == 0);
    CHECK(max_abs_diff(c.geometry.affine, matrix(e["affine"])) < 1e-5);
    // "LPS" except for steep obliques, where nibabel's own choice differs too.
    CHECK(orientation_code(c.geometry) == e["axcodes"].get<std::string>());
    if (e["axcodes"] == "LPS") CHECK(plan_canonical(c.geometry).is_identity());
    if (name != "oblique_steep.nii.gz") CHECK(e["axcodes"] == "LPS");
  }
}

TEST_CASE("orientation: a left-right flipped file gives the mirrored mask, not the same one") {
  const Volume ras = read_nifti(fixture("mask_ras.nii.gz"));
  const Volume las = read_nifti(fixture("mask_las.nii.gz"));
  REQUIRE(ras.data == las.data);  // same array on disk, only the x axis runs the other way
  const Volume a = to_canonical(ras, plan_canonical(ras.geometry));
  const Volume b = to_canonical(las, plan_canonical(las.geometry));
  const auto& d = a.geometry.dim;
  std::size_t differ = 0, mirrored = 0;
  for (int k = 0; k < d[2]; ++k)
    for (int j = 0; j < d[1]; ++j)
      for (int i = 0; i < d[0]; ++i) {
        differ += a.at(i, j, k) != b.at(i, j, k);
        mirrored += a.at(i, j, k) == b.at(d[0] - 1 - i, j, k);
      }
  CHECK(differ > 0);
  CHECK(mirrored == a.data.size());
}

TEST_CASE("orientation: a volume stored as PSR has the same canonical volume as its RAS twin") {
  const Volume ras = read_nifti(fixture("mask_ras.nii.gz"));
  const Volume psr = read_nifti(fixture("mask_psr.nii.gz"));
  CHECK(psr.geometry.dim == std::array<int, 3>{6, 5, 7});
  const Volume a = to_canonical(ras, plan_canonical(ras.geometry));
  const Volume b = to_canonical(psr, plan_canonical(psr.geometry));
  CHECK(a.data == b.data);
  CHECK(geometry_difference(a.geometry, b.geometry) == "");
}

TEST_CASE("orientation: every voxel keeps its world position, by the affine and by the header") {
  for (const std::string& name : readable_fixtures()) {
    CAPTURE(name);
    const Volume v = read_nifti(fixture(name));
    const Reorientation p = plan_canonical(v.geometry);
    const Volume c = to_canonical(v, p);
    const std::vector<std::size_t> src = source_index_of_canonical(v, p);
    // What a reader of the canonical header would use, and the qform on its own.
    const Eigen::Matrix4d header_affine = best_affine(c.geometry.header);
    const bool has_qform = v.geometry.header.qform_code > 0;
    const Eigen::Matrix4d q_src = qform_affine(v.geometry.header);
    const Eigen::Matrix4d q_can = qform_affine(c.geometry.header);
    double err_affine = 0, err_header = 0, err_qform = 0;
    for (std::size_t i = 0; i < src.size(); ++i) {
      const Eigen::Vector4d vc = voxel_of(i, c.geometry.dim), vs = voxel_of(src[i], v.geometry.dim);
      const Eigen::Vector4d world = v.geometry.affine * vs;
      err_affine = std::max(err_affine, (c.geometry.affine * vc - world).cwiseAbs().maxCoeff());
      err_header = std::max(err_header, (header_affine * vc - world).cwiseAbs().maxCoeff());
      if (has_qform)
        err_qform = std::max(err_qform, (q_can * vc - q_src * vs).cwiseAbs().maxCoeff());
    }
    CHECK(err_affine < 1e-9);
    CHECK(err_header < 1e-3);  // float32 header fields
    CHECK(err_qform < 1e-3);
    CHECK(c.geometry.header.sform_code == v.geometry.header.sform_code);
    CHECK(c.geometry.header.qform_code == v.geometry.header.qform_code);
  }
}

TEST_CASE("orientation: to_source inverts to_canonical exactly") {
  for (const std::string& name : readable_fixtures()) {
    CAPTURE(name);
    const Volume v = read_nifti(fixture(name));
    const Reorientation p = plan_canonical(v.geometry);
    CHECK(to_source(to_canonical(v, p).data, p) == v.data);
  }
  const Volume v = read_nifti(fixture("mask_psr.nii.gz"));
  CHECK_THROWS_AS(to_source(std::vector<float>(7), plan_canonical(v.geometry)), NiftiError);
}

TEST_CASE("orientation: a degenerate affine is refused naming the file") {
  Geometry g = make_geometry({4, 4, 4}, Eigen::Matrix4d::Identity());
  g.affine.block<3, 1>(0, 1) = Eigen::Vector3d(1, 0, 0);  // j along x, as i
  const std::string msg = message_of([&] { plan_canonical(g, "ct.nii.gz"); });
  CHECK(msg.rfind("ct.nii.gz: ", 0) == 0);
  CHECK(msg.find("same world axis") != std::string::npos);
}

// ---- writing -------------------------------------------------------------------------------

TEST_CASE("write: read -> canonical -> source -> write -> read keeps data and geometry") {
  TempDir dir;
  for (const std::string& name : readable_fixtures()) {
    CAPTURE(name);
    const Volume v = read_nifti(fixture(name));
    const Reorientation p = plan_canonical(v.geometry);
    const std::vector<float> back = to_source(to_canonical(v, p).data, p);
    REQUIRE(back == v.data);
    // Scaled values are not integers: they go back out as float32. float32 holds int32's
    // maximum as 2^31, which int32 cannot: that file goes back out as float64.
    VoxelType type = type_named(expected().at(name)["datatype"].get<std::string>());
    if (name == "int16_scaled.nii") type = VoxelType::float32;
    if (name == "int32.nii") type = VoxelType::float64;
    const fs::path out = dir.path / ("out_" + name);
    write_nifti(out, v.geometry, back, type);
    const Volume r = read_nifti(out);
    CHECK(r.data == v.data);
    CHECK(r.stored_type == type);
    CHECK(r.geometry.dim == v.geometry.dim);
    CHECK(r.geometry.affine == v.geometry.affine);
    const NiftiHeaderGeometry &a = v.geometry.header, &b = r.geometry.header;
    CHECK(b.sform_code == a.sform_code);
    CHECK(b.qform_code == a.qform_code);
    CHECK(b.pixdim == a.pixdim);
    CHECK(b.xyzt_units == a.xyzt_units);
    if (a.sform_code > 0) CHECK(b.srow == a.srow);
    if (a.qform_code > 0) {
      CHECK(b.quatern_b == a.quatern_b);
      CHECK(b.quatern_c == a.quatern_c);
      CHECK(b.quatern_d == a.quatern_d);
      CHECK(b.qoffset_x == a.qoffset_x);
      CHECK(b.qoffset_y == a.qoffset_y);
      CHECK(b.qoffset_z == a.qoffset_z);
      CHECK(b.qfac == a.qfac);
    }
  }
}

TEST_CASE("write: a canonical volume written and read back keeps its world positions") {
  TempDir dir;
  for (const char* name : {"qform_only.nii.gz", "mask_psr.nii.gz", "oblique_aniso.nii.gz"}) {
    CAPTURE(name);
    const Volume v = read_nifti(fixture(name));
    const Volume c = to_canonical(v, plan_canonical(v.geometry));
    write_nifti(dir.path / name, c.geometry, c.data, VoxelType::float32);
    const Volume r = read_nifti(dir.path / name);
    CHECK(r.data == c.data);
    CHECK(geometry_difference(r.geometry, c.geometry) == "");
    CHECK(orientation_code(r.geometry) == "LPS");
  }
}

TEST_CASE("write: .nii.gz is compressed and .nii is not - no temporary file is left") {
  TempDir dir;
  const Volume v = read_nifti(fixture("mask_ras.nii.gz"));
  write_nifti(dir.path / "a.nii.gz", v.geometry, v.data, VoxelType::uint8);
  write_nifti(dir.path / "b.nii", v.geometry, v.data, VoxelType::uint8);
  auto first_bytes = [](const fs::path& f) {
    std::ifstream in(f, std::ios::binary);
    unsigned char b[2] = {0, 0};
    in.read(reinterpret_cast<char*>(b), 2);
    return (b[0] << 8) | b[1];
  };
  CHECK(first_bytes(dir.path / "a.nii.gz") == 0x1f8b);
  CHECK(first_bytes(dir.path / "b.nii") != 0x1f8b);
  CHECK(fs::file_size(dir.path / "b.nii") == 352 + 210);
  auto files = dir.files();
  std::sort(files.begin(), files.end());
  CHECK(files == std::vector<std::string>{"a.nii.gz", "b.nii"});
}

TEST_CASE("write: refuses to overwrite an existing file unless asked to") {
  TempDir dir;
  const fs::path f = dir.path / "ctv.nii.gz";
  const Volume v = read_nifti(fixture("mask_ras.nii.gz"));
  write_nifti(f, v.geometry, v.data, VoxelType::uint8);
  std::vector<float> other(v.data.size(), 1.0f);
  const std::string msg = message_of([&] { write_nifti(f, v.geometry, other, VoxelType::uint8); });
  CHECK(msg.rfind(f.string() + ": ", 0) == 0);
  CHECK(msg.find("exists") != std::string::npos);
  CHECK(read_nifti(f).data == v.data);  // untouched
  write_nifti(f, v.geometry, other, VoxelType::uint8, /*overwrite=*/true);
  CHECK(read_nifti(f).data == other);
  CHECK(dir.files() == std::vector<std::string>{"ctv.nii.gz"});
}

TEST_CASE("write: a failed write leaves nothing under the final name, nor a temporary") {
  TempDir dir;
  const Volume v = read_nifti(fixture("mask_ras.nii.gz"));
  struct Case {
    VoxelType type;
    float bad;
    const char* fault;
  };
  for (const Case& c : {Case{VoxelType::uint8, 256.0f, "does not fit uint8"},
                        Case{VoxelType::uint8, -0.6f, "does not fit uint8"},
                        Case{VoxelType::uint8, 255.5f, "does not fit uint8"},  // ties to even
                        Case{VoxelType::int16, 32768.0f, "does not fit int16"},
                        Case{VoxelType::int32, 3e9f, "does not fit int32"},
                        Case{VoxelType::float32, NAN, "not finite"},
                        Case{VoxelType::float64, INFINITY, "not finite"}}) {
    CAPTURE(c.fault);
    CAPTURE(c.bad);
    std::vector<float> data = v.data;
    data[v.index(3, 2, 1)] = c.bad;
    const fs::path f = dir.path / "ctv.nii.gz";
    const std::string msg = message_of([&] { write_nifti(f, v.geometry, data, c.type); });
    CHECK(msg.rfind(f.string() + ": ", 0) == 0);
    CHECK(msg.find(c.fault) != std::string::npos);
    CHECK(msg.find("(3, 2, 1)") != std::string::npos);
    CHECK(dir.files().empty());
  }
  // A folder that does not exist.
  const fs::path nowhere = dir.path / "no_such_folder" / "ctv.nii";
  const std::string msg =
      message_of([&] { write_nifti(nowhere, v.geometry, v.data, VoxelType::uint8); });
  CHECK(msg.rfind(nowhere.string() + ": ", 0) == 0);
  CHECK(dir.files().empty());
}

TEST_CASE("write: integer types round to nearest, ties to even") {
  TempDir dir;
  Geometry g = make_geometry({6, 1, 1}, Eigen::Matrix4d::Identity());
  const std::vector<float> in = {0.4f, 0.6f, 1.5f, 2.5f, -1.5f, 254.6f};
  write_nifti(dir.path / "r.nii", g, in, VoxelType::int16);
  CHECK(read_nifti(dir.path / "r.nii").data == std::vector<float>{0, 1, 2, 2, -2, 255});
  const std::vector<float> big = {-2147483648.0f, 2147483520.0f, -0.5f, 0.5f, 1e9f, -7.5f};
  write_nifti(dir.path / "i.nii.gz", g, big, VoxelType::int32);
  CHECK(read_nifti(dir.path / "i.nii.gz").data ==
        std::vector<float>{-2147483648.0f, 2147483520.0f, 0, 0, 1e9f, -8});
}

TEST_CASE("write: a geometry whose affine disagrees with its header fields is refused") {
  TempDir dir;
  Geometry g;  // an affine but no header transform: the file would have no orientation
  g.dim = {2, 2, 2};
  const std::string msg = message_of(
      [&] { write_nifti(dir.path / "x.nii", g, std::vector<float>(8), VoxelType::uint8); });
  CHECK(msg.find("x.nii") != std::string::npos);
  CHECK(msg.find("neither sform nor qform") != std::string::npos);
  g = make_geometry({2, 2, 2}, Eigen::Matrix4d::Identity());
  g.affine(0, 3) = 5;  // moved without its header
  CHECK(message_of([&] {
          write_nifti(dir.path / "x.nii", g, std::vector<float>(8), VoxelType::uint8);
        }).find("disagree") != std::string::npos);
  CHECK(dir.files().empty());
}

TEST_CASE("make_geometry: both header transforms equal the affine, reflections included") {
  Eigen::Matrix4d a = Eigen::Matrix4d::Identity();
  a.block<3, 3>(0, 0) << 0, -0.9, 0, 0.8, 0, 0, 0, 0, -2.5;  // det < 0: qfac -1
  a.block<3, 1>(0, 3) << 12.5, -40.25, 7;
  const Geometry g = make_geometry({7, 6, 5}, a);
  CHECK(max_abs_diff(sform_affine(g.header), a) < 1e-6);
  CHECK(max_abs_diff(qform_affine(g.header), a) < 1e-6);
  CHECK(g.header.qfac == -1.0f);
  CHECK(g.spacing[0] == doctest::Approx(0.8));
  CHECK(g.spacing[1] == doctest::Approx(0.9));
  CHECK(g.spacing[2] == doctest::Approx(2.5));
  // The affine is the one the file holds: written and read back, it is identical.
  TempDir dir;
  write_nifti(dir.path / "g.nii", g, std::vector<float>(210, 1.0f), VoxelType::uint8);
  const Volume r = read_nifti(dir.path / "g.nii");
  CHECK(r.geometry.affine == g.affine);
  CHECK(r.geometry.spacing == g.spacing);
  CHECK(orientation_code(r.geometry) == "ALI");
}

// ---- geometry checks -----------------------------------------------------------------------

TEST_CASE("geometry: files of one patient must share dims, spacing, origin and directions") {
  const Volume a = read_nifti(fixture("geometry_a.nii.gz"));
  const Volume b = read_nifti(fixture("geometry_b.nii.gz"));
  const Volume c = read_nifti(fixture("geometry_c.nii.gz"));
  CHECK(geometry_difference(a.geometry, c.geometry) == "");  // 0.0004 mm is within 1e-3
  const std::string d = geometry_difference(a.geometry, b.geometry);
  CHECK(d == "origin (-3, -2.5, 10) vs (-3, -2, 10) mm");
  const std::string msg = message_of([&] {
    require_same_geometry(a.geometry, fixture("geometry_a.nii.gz"), b.geometry,
                          fixture("geometry_b.nii.gz"));
  });
  CHECK(msg.find(fixture("geometry_a.nii.gz").string()) != std::string::npos);
  CHECK(msg.find(fixture("geometry_b.nii.gz").string()) != std::string::npos);
  CHECK(msg.find("origin") != std::string::npos);
  CHECK_NOTHROW(require_same_geometry(a.geometry, "a", c.geometry, "c"));

  Geometry g = a.geometry;
  g.dim[2] = 6;
  CHECK(geometry_difference(a.geometry, g) == "dims 7x6x5 vs 7x6x6");
  auto stretched = [&](double by) {  // axis k longer by `by` mm, directions unchanged
    Geometry s = a.geometry;
    s.affine.block<3, 1>(0, 2) *= (s.spacing[2] + by) / s.spacing[2];
    s.spacing[2] += by;
    return s;
  };
  CHECK(geometry_difference(a.geometry, stretched(2e-3)) == "spacing 1x1x1 vs 1x1x1.002 mm");
  CHECK(geometry_difference(a.geometry, stretched(5e-4)) == "");
  g = a.geometry;
  g.affine(1, 0) = 2e-4;  // axis i tilts toward y
  CHECK(geometry_difference(a.geometry, g).find("direction of axis i") == 0);
  g.affine(1, 0) = 5e-5;
  CHECK(geometry_difference(a.geometry, g) == "");
}
