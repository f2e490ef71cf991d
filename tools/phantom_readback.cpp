// A written phantom cohort read back (what and why in tools/phantom_readback.h).
#include "tools/phantom_readback.h"

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "data/cohort.h"
#include "data/nifti.h"
#include "tools/command.h"
#include "tools/figures.h"

namespace ctv::cli {

namespace fs = std::filesystem;
namespace ph = data::phantom;
using Json = nlohmann::ordered_json;

namespace {

constexpr const char* kMadeElsewhere =
    ": the cohort was made by another version of ctv phantom or edited; nothing checked";

template <class T, std::size_t N>
std::array<T, N> number_array(const Json& g, const char* key, const fs::path& manifest) {
  const auto bad = [&] {
    return UserError(manifest.string() + ": \"generator\".\"" + key + "\" must be " +
                     std::to_string(N) + " numbers");
  };
  if (!g.contains(key) || !g[key].is_array() || g[key].size() != N) throw bad();
  std::array<T, N> v{};
  for (std::size_t i = 0; i < N; ++i) {
    const Json& x = g[key][i];
    if (!x.is_number() || (std::is_integral_v<T> && !x.is_number_integer())) throw bad();
    v[i] = x.get<T>();
  }
  return v;
}

std::vector<std::uint8_t> as_mask(const data::Volume& v) {
  std::vector<std::uint8_t> m(v.data.size());
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = v.data[i] > 0.5f;
  return m;
}

// The manifest's "features" of one patient as ctv phantom writes them, compact.
std::string features_text(const ph::CohortSlot& slot, const ph::PhantomConfig& config,
                          const ph::PatientFeatures& f) {
  return Json::parse(ph::manifest_json({slot}, config, {f}))["patients"][0]["features"].dump();
}

}  // namespace

PhantomCohortOnDisk read_phantom_cohort(const fs::path& dir) {
  const data::Cohort cohort = data::read_cohort(dir);  // the common fields, with their errors
  const fs::path manifest = cohort.manifest();
  PhantomCohortOnDisk c;
  c.dir = dir;
  Json j;
  try {
    std::ifstream in(manifest, std::ios::binary);
    j = Json::parse(in);
  } catch (const std::exception&) {
    throw UserError(manifest.string() + ": cannot be read as JSON");
  }
  if (!j.contains("generator") || !j["generator"].is_object() ||
      j["generator"].value("program", "") != "ctv phantom")
    throw UserError(manifest.string() +
                    ": no \"generator\" of ctv phantom: not a synthetic cohort");
  const Json& g = j["generator"];
  if (!g.contains("seed") || !g["seed"].is_number_unsigned())
    throw UserError(manifest.string() + ": \"generator\".\"seed\" must be a whole number >= 0");
  c.config.seed = g["seed"].get<std::uint64_t>();
  c.config.size = number_array<int, 3>(g, "size", manifest);
  c.config.spacing = number_array<double, 3>(g, "spacing", manifest);
  for (int a = 0; a < 3; ++a)
    if (c.config.size[a] < 8 || c.config.size[a] > 2048 ||
        !(c.config.spacing[a] > 0 && c.config.spacing[a] <= 10))
      throw UserError(manifest.string() +
                      ": \"generator\": sizes must be 8 to 2048 and spacings in (0, 10] mm");
  if (!g.contains("observer_variation") || !g["observer_variation"].is_boolean())
    throw UserError(manifest.string() +
                    ": \"generator\".\"observer_variation\" must be true or false");
  c.config.observer_variation = g["observer_variation"].get<bool>();

  const int n = int(cohort.patients.size());
  if (n < 1 || n > 9999) throw UserError(manifest.string() + ": needs 1 to 9999 patients");
  c.slots = ph::plan_cohort(n, c.config.seed);
  for (int i = 0; i < n; ++i) {
    const data::CohortPatient& p = cohort.patients[std::size_t(i)];
    const ph::CohortSlot& s = c.slots[std::size_t(i)];
    if (p.id != s.id || p.side != s.side || p.split != s.split)
      throw UserError(manifest.string() + ": patient " + std::to_string(i + 1) + " is " + p.id +
                      " (" + p.side + ", " + p.split + "), but seed " +
                      std::to_string(c.config.seed) + " plans " + s.id + " (" + s.side + ", " +
                      s.split + ") for " + std::to_string(n) + " patients" + kMadeElsewhere);
    const Json& entry = j["patients"][std::size_t(i)];
    c.features_json.push_back(entry.contains("features") ? entry["features"].dump() : "");
  }
  return c;
}

ph::PhantomPatient reload_patient(const PhantomCohortOnDisk& c, int index) {
  const ph::CohortSlot& slot = c.slots[std::size_t(index)];
  ph::PhantomPatient p = ph::make_patient(c.config, index, slot.side);
  const fs::path dir = c.dir / slot.id;
  const std::string made_by =
      " that seed " + std::to_string(c.config.seed) + " makes for " + slot.id;
  const auto read = [&](const std::string& name) {
    const fs::path file = dir / (name + ".nii.gz");
    data::Volume v = data::read_nifti(file);
    if (const std::string d = data::geometry_difference(v.geometry, p.geometry); !d.empty())
      throw UserError(file.string() + ": grid differs from the manifest's (" + d + ")" +
                      kMadeElsewhere);
    return v;
  };
  const auto require_same = [&](const std::string& name, const std::vector<std::uint8_t>& made,
                                const char* what) {
    const std::vector<std::uint8_t> disk = as_mask(read(name));
    std::size_t differ = 0;
    for (std::size_t i = 0; i < disk.size(); ++i) differ += disk[i] != made[i];
    if (differ > 0)
      throw UserError((dir / (name + ".nii.gz")).string() + ": differs from the " + what + made_by +
                      " in " + std::to_string(differ) + " voxels" + kMadeElsewhere);
  };
  require_same("igtv", p.igtv, "iGTV");
  require_same("ctv", p.ctv, "reference CTV");
  if (features_text(slot, c.config, p.features) != c.features_json[std::size_t(index)])
    throw UserError((c.dir / "cohort.json").string() + ": the features of " + slot.id +
                    " differ from those" + made_by + kMadeElsewhere);
  p.ct = read("ct").data;
  for (std::size_t o = 0; o < data::kOarNames.size(); ++o)
    p.oars[o] = as_mask(read(data::kOarNames[o]));
  return p;
}

std::string snapshot_name(const std::string& id) { return "phantom_snapshot_" + id + ".png"; }

std::string draw_phantom_snapshot(const PhantomCohortOnDisk& c, int index,
                                  std::vector<fs::path>& inputs) {
  const ph::CohortSlot& slot = c.slots[std::size_t(index)];
  const fs::path dir = c.dir / slot.id, ct_file = dir / "ct.nii.gz";
  const data::Volume ct = data::read_nifti(ct_file);
  inputs.push_back(ct_file);
  const data::Reorientation plan = data::plan_canonical(ct.geometry, ct_file);
  // Drawn last to first: the iGTV on top, the lungs (the largest) underneath.
  struct Layer {
    const char* file;
    const char* label;
    Rgb colour;
    bool dashed;
  };
  static constexpr Layer kLayers[] = {
      {"igtv", "iGTV", {0.95, 0.10, 0.10}, false},
      {"ctv", "reference CTV", {0.10, 0.80, 0.20}, false},
      {"heart", "heart", {1.00, 0.45, 0.80}, false},
      {"esophagus", "esophagus", {1.00, 0.60, 0.00}, false},
      {"great_vessels", "great vessels", {0.25, 0.50, 1.00}, false},
      {"spinal_canal", "spinal canal", {0.00, 0.85, 0.85}, false},  // over the vertebrae' hole
      {"vertebrae", "vertebrae", {0.95, 0.90, 0.20}, false},
      {"lungs", "lungs", {0.70, 0.45, 1.00}, false},
  };
  std::vector<data::Volume> volumes;
  volumes.reserve(std::size(kLayers));
  for (const Layer& l : kLayers) {
    const fs::path file = dir / (std::string(l.file) + ".nii.gz");
    data::Volume v = data::read_nifti(file);
    inputs.push_back(file);
    if (const std::string d = data::geometry_difference(v.geometry, ct.geometry); !d.empty())
      throw UserError(file.string() + ": grid differs from " + ct_file.string() + " (" + d + ")");
    volumes.push_back(data::to_canonical(v, plan));
  }
  std::vector<ContourMask> masks;
  for (std::size_t m = 0; m < volumes.size(); ++m)
    masks.push_back({kLayers[m].label, kLayers[m].colour, &volumes[m].data, kLayers[m].dashed});

  std::string title = slot.id + ", " + slot.side + " lung (" + slot.split + ")";
  const Json f = Json::parse(c.features_json[std::size_t(index)], nullptr, false);
  if (f.is_object()) {
    char motion[48];
    std::snprintf(motion, sizeof motion, ", motion %.1f mm", f.value("motion_mm", 0.0));
    title += ", " + f.value("lobe", std::string("?")) + " lobe" +
             (f.value("ground_glass", false) ? ", ground-glass halo" : "") + motion;
    if (f.contains("involved_stations") && f["involved_stations"].is_array() &&
        !f["involved_stations"].empty()) {
      title += ", involved nodes";
      for (const Json& s : f["involved_stations"])
        if (s.is_string()) title += " " + s.get<std::string>();
    }
  }
  const data::Volume ct_c = data::to_canonical(ct, plan);
  return draw_triplanar(ct_c, masks, mask_centroid_voxel(volumes.front()), kLungWindow, 220, title,
                        900);
}

}  // namespace ctv::cli
