#include "data/cohort.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

namespace ctv::data {

namespace fs = std::filesystem;

bool is_plain_name(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::vector<CohortPatient> Cohort::in_split(const std::string& split) const {
  std::vector<CohortPatient> out;
  for (const CohortPatient& p : patients)
    if (p.split == split) out.push_back(p);
  return out;
}

namespace {

std::string field(const nlohmann::json& patient, const char* name, const std::string& where,
                  const std::string& file) {
  const auto it = patient.find(name);
  if (it == patient.end() || !it->is_string())
    throw CohortError(file + ": " + where + " has no \"" + name + "\" string");
  return it->get<std::string>();
}

}  // namespace

Cohort read_cohort(const fs::path& dir) {
  Cohort cohort;
  cohort.dir = dir;
  const std::string file = cohort.manifest().string();
  std::ifstream in(cohort.manifest());
  if (!in)
    throw CohortError(file + ": cannot be read (no cohort manifest in " + dir.string() + ")");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw CohortError(file + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object() || !j.contains("patients") || !j["patients"].is_array())
    throw CohortError(file + ": no \"patients\" array");
  std::set<std::string> seen;
  std::size_t index = 0;
  for (const nlohmann::json& p : j["patients"]) {
    const std::string where = "patient " + std::to_string(index++);
    if (!p.is_object()) throw CohortError(file + ": " + where + " is not an object");
    CohortPatient cp{field(p, "id", where, file), field(p, "side", where, file),
                     field(p, "split", where, file)};
    if (!is_plain_name(cp.id))
      throw CohortError(file + ": patient id \"" + cp.id +
                        "\" is not a plain name (letters, digits, '-', '_')");
    if (!seen.insert(cp.id).second)
      throw CohortError(file + ": patient id \"" + cp.id + "\" appears twice");
    if (cp.side != "left" && cp.side != "right")
      throw CohortError(file + ": patient " + cp.id + ": side \"" + cp.side +
                        "\" is not left or right");
    if (cp.split != "train" && cp.split != "val" && cp.split != "test")
      throw CohortError(file + ": patient " + cp.id + ": split \"" + cp.split +
                        "\" is not train, val or test");
    cohort.patients.push_back(std::move(cp));
  }
  return cohort;
}

}  // namespace ctv::data
