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
#include <iostream>
#include <sstream>

#include "data/cohort.h"
#include "data/metrics.h"
#include "data/nifti.h"
#include "tools/cohort_scoring.h"
#include "tools/command.h"
#include "tools/metric_table.h"
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

void refuse_existing(const fs::path& csv, bool force) {
  if (!force && fs::exists(csv))
    throw UserError(csv.string() + ": exists; not overwritten (use --force to replace it)");
}

void write_csv(const fs::path& csv, const std::vector<MetricRow>& rows,
               const std::vector<fs::path>& inputs, bool force) {
  write_text_output(csv, metrics_csv(rows, metric_column_names(rows)), inputs, force);
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

  const ScoredPair s = score_pair(o.pred, o.ref, oar_files, "ctv eval");
  MetricRow row;
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
    std::printf("  %-28s %s\n", v.name.c_str(), format_number(v.value).c_str());
  std::fflush(stdout);
  if (!o.csv.empty()) {
    write_csv(o.csv, {row}, s.inputs, o.force);
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

  require_cohort_files(cohort, test, o.method);

  std::vector<MetricRow> rows;
  std::vector<fs::path> inputs{cohort.manifest()};
  {
    Progress progress("ctv eval", std::int64_t(test.size()), "patients");
    for (const data::CohortPatient& p : test) {
      const fs::path dir = cohort.patient_dir(p);
      if (is_on_demand_expansion(o.method)) ensure_expansion(cohort, p, o.method, "ctv eval");
      const ScoredPair s = score_pair(prediction_file(cohort, p, o.method), dir / "ctv.nii.gz",
                                      patient_oar_files(dir), "ctv eval");
      inputs.insert(inputs.end(), s.inputs.begin(), s.inputs.end());
      rows.push_back({p.id, o.method, data::metric_columns(s.metrics)});
      progress.update(std::int64_t(rows.size()), p.id);
    }
  }
  const std::vector<std::string> columns = metric_column_names(rows);
  write_csv(csv, rows, inputs, o.force);

  std::cout << "ctv eval: " << o.method << " on " << rows.size() << " test patients of "
            << cohort.dir.string() << "\n"
            << "  metric                       mean +- sd (sample sd, n-1)   median [min, max]\n";
  for (const std::string& c : columns) {
    std::vector<double> values;
    for (const MetricRow& r : rows) values.push_back(metric_value(r, c));
    const data::Summary s = data::summarize(values);
    std::ostringstream line;
    line << format_number(s.mean, "%.4g") << " +- " << format_number(s.sd, "%.3g");
    std::printf("  %-28s %-30s %s [%s, %s]", c.c_str(), line.str().c_str(),
                format_number(s.median, "%.4g").c_str(), format_number(s.min, "%.4g").c_str(),
                format_number(s.max, "%.4g").c_str());
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
