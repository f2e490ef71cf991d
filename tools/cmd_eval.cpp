// ctv eval: overlap, surface and organ-at-risk metrics (SPEC section 5, data/metrics.h).
//
// Pair mode: --pred F --ref F [--oar NAME=F ...] [--csv OUT] prints every metric and writes a
// one-row CSV. Cohort mode: --cohort DIR --method NAME scores <patient>/pred_<NAME>.nii.gz
// against <patient>/ctv.nii.gz for every test patient of DIR/cohort.json (data/cohort.h), with
// each OAR mask present in the patient folder, writes DIR/eval_<NAME>.csv (one row per patient)
// and prints the summary per metric: mean +- sd (sample sd, n - 1), median [min, max].
// expand5 and expand8 are computed when a patient lacks them (data/expansion.h, written beside
// the patient's files with a sidecar). A CSV is never overwritten without --force; every CSV gets a
// provenance sidecar. The grid is the reference's: every other file must share its geometry (SPEC
// section 0).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "data/atomic_file.h"
#include "data/cohort.h"
#include "data/expansion.h"
#include "data/metrics.h"
#include "data/nifti.h"
#include "tools/command.h"
#include "tools/progress.h"
#include "tools/provenance.h"

namespace ctv::cli {

namespace fs = std::filesystem;

namespace {

struct EvalOptions {
  std::string pred, ref, csv, cohort, method, patient;
  std::vector<std::string> oar;
  bool force = false;
};

// One scored pair: who, what, and its metrics as named columns.
struct Row {
  std::string patient, method;
  std::vector<data::NamedValue> values;
};

std::string num(double v, const char* format = "%.6g") {
  if (std::isnan(v)) return "nan";
  char buf[40];
  std::snprintf(buf, sizeof buf, format, v);
  return std::string(buf) == "-0" ? "0" : buf;
}

// Reads a mask and checks it against the reference grid.
data::Volume read_on_grid(const fs::path& file, const data::Volume& ref, const fs::path& ref_file) {
  data::Volume v = data::read_nifti(file);
  data::require_same_geometry(ref.geometry, ref_file, v.geometry, file);
  return v;
}

struct Scored {
  data::Metrics metrics;
  std::vector<fs::path> inputs;
};

Scored score(const fs::path& pred_file, const fs::path& ref_file,
             const std::vector<std::pair<std::string, fs::path>>& oar_files) {
  const data::Volume ref = data::read_nifti(ref_file);
  const data::Volume pred = read_on_grid(pred_file, ref, ref_file);
  std::vector<data::Volume> oars;
  oars.reserve(oar_files.size());
  std::vector<data::NamedMask> named;
  Scored s;
  s.inputs = {pred_file, ref_file};
  for (const auto& [name, file] : oar_files) {
    oars.push_back(read_on_grid(file, ref, ref_file));
    s.inputs.push_back(file);
  }
  for (std::size_t i = 0; i < oars.size(); ++i)
    named.push_back({oar_files[i].first, &oars[i].data});
  s.metrics = data::compute_metrics(pred.data, ref.data, ref.geometry, named);
  for (const std::string& w : s.metrics.warnings)
    std::cerr << "ctv eval: warning: " << pred_file.string() << " against " << ref_file.string()
              << ": " << w << "\n";
  return s;
}

void refuse_existing(const fs::path& csv, bool force) {
  if (!force && fs::exists(csv))
    throw UserError(csv.string() + ": exists; not overwritten (use --force to replace it)");
}

// Header "patient,method,<columns>"; a column missing from a row (an OAR absent for one patient)
// is written as nan, so every row has every column.
void write_csv(const fs::path& csv, const std::vector<Row>& rows,
               const std::vector<std::string>& columns, const std::vector<fs::path>& inputs,
               bool force) {
  std::ostringstream os;
  os << "patient,method";
  for (const std::string& c : columns) os << "," << c;
  os << "\n";
  for (const Row& r : rows) {
    std::map<std::string, double> by_name;
    for (const data::NamedValue& v : r.values) by_name[v.name] = v.value;
    os << r.patient << "," << r.method;
    for (const std::string& c : columns) {
      const auto it = by_name.find(c);
      os << "," << (it == by_name.end() ? "nan" : num(it->second, "%.10g"));
    }
    os << "\n";
  }
  const std::string text = os.str();
  data::write_file_atomically(
      csv,
      [&](const fs::path& tmp) {
        std::ofstream out(tmp, std::ios::binary);
        out << text;
        out.close();
        if (!out) throw data::FileWriteError(csv.string() + ": cannot be written");
      },
      force);
  write_provenance(csv, Provenance{inputs, {}}, force);
}

std::vector<std::string> column_names(const std::vector<Row>& rows) {
  std::vector<std::string> names;
  for (const Row& r : rows)
    for (const data::NamedValue& v : r.values)
      if (std::find(names.begin(), names.end(), v.name) == names.end()) names.push_back(v.name);
  return names;
}

// "heart=/path/heart.nii.gz" -> ("heart", path); the name becomes a CSV column.
std::pair<std::string, fs::path> parse_oar(const std::string& arg) {
  const auto eq = arg.find('=');
  if (eq == std::string::npos || eq + 1 == arg.size())
    throw UserError("--oar " + arg + ": expected NAME=FILE");
  const std::string name = arg.substr(0, eq);
  if (!data::is_plain_name(name))
    throw UserError("--oar " + arg + ": the name must be letters, digits, '-' or '_'");
  return {name, fs::path(arg.substr(eq + 1))};
}

// The baselines `ctv eval` computes when their prediction is absent (SPEC section 1): the
// iGTV grown by 5 or 8 mm, cropped at heart, esophagus, great vessels and vertebrae (each must
// be present, as for `ctv expand --patient`), within the body when body.nii.gz is present.
const std::map<std::string, double> kOnDemandExpansionsMm = {{"expand5", 5.0}, {"expand8", 8.0}};
constexpr const char* kExpansionCrops[] = {"heart", "esophagus", "great_vessels", "vertebrae"};

void write_expansion(const fs::path& dir, const fs::path& out, double margin_mm) {
  const fs::path igtv_file = dir / "igtv.nii.gz";
  if (!fs::exists(igtv_file))
    throw UserError(igtv_file.string() + ": does not exist (needed to compute " +
                    out.filename().string() + ")");
  const data::Volume igtv = data::read_nifti(igtv_file);
  std::vector<fs::path> inputs{igtv_file};
  std::vector<data::Volume> crops;
  for (const char* name : kExpansionCrops) {
    const fs::path f = dir / (std::string(name) + ".nii.gz");
    if (!fs::exists(f))
      throw UserError(f.string() + ": does not exist (a crop of " + out.filename().string() + ")");
    crops.push_back(read_on_grid(f, igtv, igtv_file));
    inputs.push_back(f);
  }
  std::optional<data::Volume> body;
  if (fs::exists(dir / "body.nii.gz")) {
    body = read_on_grid(dir / "body.nii.gz", igtv, igtv_file);
    inputs.push_back(dir / "body.nii.gz");
  }
  std::vector<const data::Volume*> crop_ptrs;
  for (const data::Volume& c : crops) crop_ptrs.push_back(&c);
  const data::ExpansionResult r = data::expand_igtv(igtv, data::Margins::uniform(margin_mm),
                                                    crop_ptrs, body ? &*body : nullptr);
  data::write_nifti(out, igtv.geometry, r.mask, data::VoxelType::uint8);
  write_provenance(out, Provenance{inputs, {}}, /*overwrite=*/false);
}

std::string strip_nifti_extension(std::string name) {
  for (const char* ext : {".nii.gz", ".nii"})
    if (name.size() > std::string(ext).size() &&
        name.compare(name.size() - std::string(ext).size(), std::string::npos, ext) == 0)
      return name.substr(0, name.size() - std::string(ext).size());
  return name;
}

int run_pair(const EvalOptions& o) {
  std::vector<std::pair<std::string, fs::path>> oar_files;
  for (const std::string& a : o.oar) oar_files.push_back(parse_oar(a));
  if (!o.csv.empty()) refuse_existing(o.csv, o.force);

  const Scored s = score(o.pred, o.ref, oar_files);
  Row row;
  row.patient =
      o.patient.empty() ? fs::absolute(o.ref).parent_path().filename().string() : o.patient;
  row.method = o.method;
  if (row.method.empty()) {
    row.method = strip_nifti_extension(fs::path(o.pred).filename().string());
    if (row.method.rfind("pred_", 0) == 0 && row.method.size() > 5) row.method.erase(0, 5);
  }
  row.values = data::metric_columns(s.metrics);

  std::cout << "ctv eval: " << o.pred << " against " << o.ref << "\n";
  for (const data::NamedValue& v : row.values)
    std::printf("  %-28s %s\n", v.name.c_str(), num(v.value).c_str());
  std::fflush(stdout);
  if (!o.csv.empty()) {
    write_csv(o.csv, {row}, column_names({row}), s.inputs, o.force);
    std::cout << "wrote " << o.csv << "\n";
  }
  return kExitOk;
}

int run_cohort(const EvalOptions& o) {
  if (!data::is_plain_name(o.method))
    throw UserError("--method " + o.method + ": the name must be letters, digits, '-' or '_'");
  const data::Cohort cohort = data::read_cohort(o.cohort);
  const std::vector<data::CohortPatient> test = cohort.in_split("test");
  if (test.empty()) throw UserError(cohort.manifest().string() + ": no patient has split \"test\"");
  const fs::path csv = cohort.dir / ("eval_" + o.method + ".csv");
  refuse_existing(csv, o.force);

  // Every file is checked before the first patient is scored, so a missing one fails fast.
  const std::string pred_name = "pred_" + o.method + ".nii.gz";
  const auto expansion = kOnDemandExpansionsMm.find(o.method);
  for (const data::CohortPatient& p : test)
    for (const std::string& name : {std::string("ctv.nii.gz"), pred_name}) {
      const fs::path f = cohort.patient_dir(p) / name;
      if (name == pred_name && expansion != kOnDemandExpansionsMm.end()) continue;
      if (!fs::exists(f))
        throw UserError(f.string() + ": does not exist (patient " + p.id + ", needed to score " +
                        o.method + ")");
    }

  std::vector<Row> rows;
  std::vector<fs::path> inputs{cohort.manifest()};
  {
    Progress progress("ctv eval", std::int64_t(test.size()), "patients");
    for (const data::CohortPatient& p : test) {
      const fs::path dir = cohort.patient_dir(p);
      if (expansion != kOnDemandExpansionsMm.end() && !fs::exists(dir / pred_name)) {
        write_expansion(dir, dir / pred_name, expansion->second);
        std::cerr << "ctv eval: computed " << (dir / pred_name).string() << "\n";
      }
      std::vector<std::pair<std::string, fs::path>> oar_files;
      for (const char* name : data::kOarNames)
        if (fs::exists(dir / (std::string(name) + ".nii.gz")))
          oar_files.push_back({name, dir / (std::string(name) + ".nii.gz")});
      const Scored s = score(dir / pred_name, dir / "ctv.nii.gz", oar_files);
      inputs.insert(inputs.end(), s.inputs.begin(), s.inputs.end());
      rows.push_back({p.id, o.method, data::metric_columns(s.metrics)});
      progress.update(std::int64_t(rows.size()), p.id);
    }
  }
  const std::vector<std::string> columns = column_names(rows);
  write_csv(csv, rows, columns, inputs, o.force);

  std::cout << "ctv eval: " << o.method << " on " << rows.size() << " test patients of "
            << cohort.dir.string() << "\n"
            << "  metric                       mean +- sd (sample sd, n-1)   median [min, max]\n";
  for (const std::string& c : columns) {
    std::vector<double> values;
    for (const Row& r : rows) {
      double v = std::nan("");
      for (const data::NamedValue& nv : r.values)
        if (nv.name == c) v = nv.value;
      values.push_back(v);
    }
    const data::Summary s = data::summarize(values);
    std::ostringstream line;
    line << num(s.mean, "%.4g") << " +- " << num(s.sd, "%.3g");
    std::printf("  %-28s %-30s %s [%s, %s]", c.c_str(), line.str().c_str(),
                num(s.median, "%.4g").c_str(), num(s.min, "%.4g").c_str(),
                num(s.max, "%.4g").c_str());
    if (s.nan_skipped > 0)
      std::printf("  (n %lld, %lld NaN skipped)", static_cast<long long>(s.n),
                  static_cast<long long>(s.nan_skipped));
    std::printf("\n");
  }
  std::fflush(stdout);
  std::cout << "wrote " << csv.string() << "\n";
  return kExitOk;
}

}  // namespace

Command add_eval(CLI::App& root) {
  static EvalOptions o;
  CLI::App* app = root.add_subcommand(
      "eval", "Score a predicted CTV against the reference (Dice, surface distances, OAR overlap)");
  app->footer(
      "Surface distances are in mm between voxel centres on the reference's grid; HD95 is the "
      "larger of the two directed 95th percentiles (linear interpolation). Cohort summaries "
      "give mean +- sample sd (n-1) and median [min, max], skipping NaN.");
  auto* pred = app->add_option("--pred", o.pred, "Predicted mask (NIfTI)");
  auto* ref = app->add_option("--ref", o.ref, "Reference mask (NIfTI); its grid is used");
  auto* oar = app->add_option("--oar", o.oar, "Organ at risk as NAME=FILE (repeatable)");
  auto* csv = app->add_option("--csv", o.csv, "Write the metrics to this CSV file (one row)");
  auto* patient = app->add_option(
      "--patient", o.patient, "Patient column of the CSV (default: the reference's folder name)");
  auto* cohort = app->add_option("--cohort", o.cohort,
                                 "Evaluate every test patient of this cohort; writes "
                                 "DIR/eval_<NAME>.csv");
  app->add_option("--method", o.method,
                  "Method name: predictions are <patient>/pred_<NAME>.nii.gz (pair mode: the "
                  "CSV's method column, default from the prediction's file name)");
  app->add_flag("--force", o.force, "Replace an existing CSV (and its sidecar)");
  for (CLI::Option* opt : {pred, ref, oar, csv, patient}) cohort->excludes(opt);
  return {app, [] {
            // Usage errors (exit 2) are told apart from faults in the inputs (exit 1).
            const char* missing =
                !o.cohort.empty() ? (o.method.empty() ? "--cohort needs --method NAME" : nullptr)
                : (o.pred.empty() || o.ref.empty())
                    ? "needs --pred and --ref, or --cohort and --method"
                    : nullptr;
            if (missing != nullptr) {
              std::cerr << "ctv eval: " << missing << " (see ctv eval --help)\n";
              return kExitUsage;
            }
            return o.cohort.empty() ? run_pair(o) : run_cohort(o);
          }};
}

}  // namespace ctv::cli
