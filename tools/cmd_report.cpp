// ctv report: the evaluation report of a cohort (SPEC section 1), as the paper presents it.
//
// For every test patient of DIR/cohort.json and every method (default: model when its
// predictions exist, expand5 and expand8, the expansions computed when absent) it scores
// <patient>/pred_<method>.nii.gz against <patient>/ctv.nii.gz with every OAR present
// (data/metrics.h, the same numbers as `ctv eval --cohort`), then writes into the report
// folder, each file atomically with a provenance sidecar:
//   table1.md, table1.csv   the paper's Table 1 (mean +- sd, median [min, max]) per method,
//                           with the reference CTV's own volume and OAR overlaps
//   per_patient.csv         one row per patient and method, every metric
//   figures/*.png           box plots (overlap, surface distances, OAR overlap and volume) and
//                           tri-planar overlays of the first test patients
//   report.html             all of it in one self-contained page
// An existing non-empty report folder is refused without --force.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "ctv/version.h"
#include "data/cohort.h"
#include "data/metrics.h"
#include "data/nifti.h"
#include "data/overlap.h"
#include "tools/cohort_scoring.h"
#include "tools/command.h"
#include "tools/figures.h"
#include "tools/metric_table.h"
#include "tools/progress.h"
#include "tools/provenance.h"
#include "tools/report_html.h"
#include "tools/report_table.h"

namespace ctv::cli {

namespace fs = std::filesystem;

namespace {

struct ReportOptions {
  std::string cohort, out, window = "lung";
  std::vector<std::string> methods;
  int overlays = 4;
  double fov_mm = 160;
  bool force = false;
};

constexpr const char* kTimeColumn = "contouring_time_s";

// One colour per method, the same in the box plots and the contours.
Rgb colour_of(const std::string& method) {
  static const std::map<std::string, Rgb> fixed = {{"reference", {0.10, 0.70, 0.20}},
                                                   {"model", {1.00, 0.78, 0.00}},
                                                   {"expand5", {0.00, 0.70, 0.95}},
                                                   {"expand8", {0.85, 0.25, 0.85}}};
  static const Rgb others[] = {
      {0.95, 0.50, 0.10}, {0.55, 0.35, 0.15}, {0.45, 0.45, 0.95}, {0.40, 0.75, 0.65}};
  if (const auto it = fixed.find(method); it != fixed.end()) return it->second;
  return others[std::hash<std::string>{}(method) % std::size(others)];
}
constexpr Rgb kIgtvColour{0.95, 0.10, 0.10};

// The methods to report: those asked for, else model (when every test patient has its
// prediction; when only some do, the first missing one is named) and the two expansions.
std::vector<std::string> choose_methods(const ReportOptions& o, const data::Cohort& cohort,
                                        const std::vector<data::CohortPatient>& test) {
  std::vector<std::string> methods;
  for (const std::string& m : o.methods) {
    if (!data::is_plain_name(m) || m == "reference")
      throw UserError("--method " + m +
                      ": the name must be letters, digits, '-' or '_' (and "
                      "not \"reference\", which is always reported)");
    if (std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
  }
  if (!methods.empty()) return methods;
  const auto has_model = [&](const data::CohortPatient& p) {
    return fs::exists(prediction_file(cohort, p, "model"));
  };
  if (std::any_of(test.begin(), test.end(), has_model)) {
    methods.push_back("model");
  } else {
    std::cerr << "ctv report: no test patient has pred_model.nii.gz (run ctv predict --cohort "
              << cohort.dir.string() << " first); reporting the expansions only\n";
  }
  methods.push_back("expand5");
  methods.push_back("expand8");
  return methods;
}

// Checked before any work; the folder is made only once everything is computed, so a fault
// leaves nothing behind.
void check_out_dir(const fs::path& out, bool force) {
  if (fs::exists(out) && !fs::is_directory(out))
    throw UserError(out.string() + ": exists and is not a folder");
  if (fs::exists(out) && !fs::is_empty(out) && !force)
    throw UserError(out.string() +
                    ": exists and is not empty; not overwritten (use --force to "
                    "replace its report files)");
}

struct Scores {
  std::vector<MetricRow> rows;  // reference first, then each method, per patient
  std::vector<fs::path> inputs;
};

// The reference CTV's own row: its volume and its overlap with each OAR.
MetricRow reference_row(const std::string& patient, const data::Volume& ref,
                        const std::vector<std::pair<std::string, data::Volume>>& oars) {
  const double voxel_cm3 = ref.geometry.voxel_volume_mm3() / 1000.0;
  MetricRow row{patient, "reference", {}};
  const data::OverlapCounts self = data::count_overlap(ref.data, ref.data);
  row.values.push_back({"pred_volume_cm3", double(self.ref) * voxel_cm3});
  for (const auto& [name, oar] : oars)
    row.values.push_back(
        {"ov_" + name + "_cm3", double(data::count_overlap(ref.data, oar.data).both) * voxel_cm3});
  return row;
}

Scores score_all(const data::Cohort& cohort, const std::vector<data::CohortPatient>& test,
                 const std::vector<std::string>& methods) {
  Scores s;
  s.inputs.push_back(cohort.manifest());
  Progress progress("ctv report", std::int64_t(test.size()), "patients");
  for (std::size_t i = 0; i < test.size(); ++i) {
    const data::CohortPatient& p = test[i];
    const fs::path dir = cohort.patient_dir(p), ref_file = dir / "ctv.nii.gz";
    const data::Volume ref = data::read_nifti(ref_file);
    s.inputs.push_back(ref_file);
    std::vector<std::pair<std::string, data::Volume>> oars;
    for (const auto& [name, file] : patient_oar_files(dir)) {
      oars.emplace_back(name, read_on_grid(file, ref, ref_file));
      s.inputs.push_back(file);
    }
    std::vector<data::NamedMask> named;
    for (const auto& [name, v] : oars) named.push_back({name, &v.data});
    s.rows.push_back(reference_row(p.id, ref, oars));
    for (const std::string& m : methods) {
      const fs::path pred_file = prediction_file(cohort, p, m);
      const data::Volume pred = read_on_grid(pred_file, ref, ref_file);
      s.inputs.push_back(pred_file);
      const data::Metrics metrics = data::compute_metrics(pred.data, ref.data, ref.geometry, named);
      for (const std::string& w : metrics.warnings)
        std::cerr << "ctv report: warning: " << pred_file.string() << ": " << w << "\n";
      MetricRow row{p.id, m, data::metric_columns(metrics)};
      row.values.push_back({kTimeColumn, read_elapsed_seconds(pred_file).value_or(std::nan(""))});
      s.rows.push_back(std::move(row));
    }
    progress.update(std::int64_t(i + 1), p.id);
  }
  return s;
}

std::vector<BoxPanel> panels(const std::vector<MetricRow>& rows,
                             const std::vector<std::string>& methods,
                             const std::vector<std::pair<std::string, std::string>>& columns) {
  std::vector<BoxPanel> out;
  for (const auto& [title, column] : columns) {
    BoxPanel panel{title, {}};
    for (const std::string& m : methods) {
      BoxSeries series{m == "reference" ? "reference" : m, colour_of(m), {}};
      for (const MetricRow& r : rows)
        if (r.method == m) series.values.push_back(metric_value(r, column));
      panel.series.push_back(std::move(series));
    }
    out.push_back(std::move(panel));
  }
  return out;
}

std::vector<ReportFigure> box_plot_figures(const std::vector<MetricRow>& rows,
                                           const std::vector<std::string>& methods) {
  std::vector<std::string> with_reference{"reference"};
  with_reference.insert(with_reference.end(), methods.begin(), methods.end());
  std::vector<ReportFigure> figures;
  figures.push_back(
      {"boxplot_overlap", "Overlap with the reference CTV per test patient (as the paper's Fig. 3)",
       draw_box_plots(panels(rows, methods,
                             {{"DSC", "dice"}, {"Precision", "precision"}, {"Recall", "recall"}}),
                      "Overlap with the reference CTV")});
  figures.push_back({"boxplot_distance",
                     "Surface distances to the reference CTV per test patient (as the paper's "
                     "Fig. 4)",
                     draw_box_plots(panels(rows, methods,
                                           {{"Median SD (mm)", "median_surface_distance_mm"},
                                            {"HD95 (mm)", "hausdorff95_mm"},
                                            {"Hausdorff (mm)", "hausdorff_mm"}}),
                                    "Surface distances to the reference CTV")});
  figures.push_back({"boxplot_oar", "Overlap with organs at risk and CTV volume per test patient",
                     draw_box_plots(panels(rows, with_reference,
                                           {{"OV esophagus (cm3)", "ov_esophagus_cm3"},
                                            {"OV heart (cm3)", "ov_heart_cm3"},
                                            {"CTV volume (cm3)", "pred_volume_cm3"}}),
                                    "Organs at risk and volume")});
  return figures;
}

ReportFigure overlay_figure(const data::Cohort& cohort, const data::CohortPatient& p,
                            const std::vector<std::string>& methods, const CtWindow& window,
                            double fov_mm, std::vector<fs::path>& inputs) {
  const fs::path dir = cohort.patient_dir(p), ct_file = dir / "ct.nii.gz";
  if (!fs::exists(ct_file))
    throw UserError(ct_file.string() + ": does not exist (needed for the overlay of " + p.id + ")");
  const data::Volume ct = data::read_nifti(ct_file);
  const data::Reorientation plan = data::plan_canonical(ct.geometry, ct_file);
  const auto canonical = [&](const fs::path& f) {
    inputs.push_back(f);
    return data::to_canonical(read_on_grid(f, ct, ct_file), plan);
  };
  inputs.push_back(ct_file);
  const data::Volume ct_c = data::to_canonical(ct, plan);
  std::vector<std::pair<std::string, data::Volume>> volumes;
  volumes.emplace_back("igtv", canonical(dir / "igtv.nii.gz"));
  volumes.emplace_back("reference", canonical(dir / "ctv.nii.gz"));
  for (const std::string& m : methods)
    volumes.emplace_back(m, canonical(prediction_file(cohort, p, m)));
  std::vector<ContourMask> masks;
  for (const auto& [name, v] : volumes) {
    const bool expansion = name.rfind("expand", 0) == 0;
    masks.push_back({name == "igtv" ? "iGTV" : method_label(name),
                     name == "igtv" ? kIgtvColour : colour_of(name), &v.data, expansion});
  }
  const std::string title = "Patient " + p.id + " (" + p.side +
                            " lung): slices through the "
                            "iGTV centroid";
  return {
      "overlay_" + p.id, "Patient " + p.id + ": iGTV, reference, and each method's CTV",
      draw_triplanar(ct_c, masks, mask_centroid_voxel(volumes.front().second), window, fov_mm, title)};
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  return when;
}

int run_report(const ReportOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const data::Cohort cohort = data::read_cohort(o.cohort);
  const std::vector<data::CohortPatient> test = cohort.in_split("test");
  if (test.empty()) throw UserError(cohort.manifest().string() + ": no patient has split \"test\"");
  const std::vector<std::string> methods = choose_methods(o, cohort, test);
  for (const std::string& m : methods) require_cohort_files(cohort, test, m);
  const fs::path out(o.out);
  check_out_dir(out, o.force);

  for (const std::string& m : methods)
    if (is_on_demand_expansion(m))
      for (const data::CohortPatient& p : test) ensure_expansion(cohort, p, m, "ctv report");

  Scores scores = score_all(cohort, test, methods);
  std::vector<std::string> table_methods{"reference"};
  table_methods.insert(table_methods.end(), methods.begin(), methods.end());
  const Table1 table = make_table1(scores.rows, table_methods);
  const std::string title = "CTV evaluation: " + fs::absolute(cohort.dir).filename().string();
  const std::string markdown = table1_markdown(table, title);
  // Columns in ctv eval's order: the methods' rows first (the reference's are a subset).
  std::vector<MetricRow> method_rows;
  for (const MetricRow& r : scores.rows)
    if (r.method != "reference") method_rows.push_back(r);
  const std::vector<std::string> columns = metric_column_names(method_rows);

  ReportPage page;
  page.title = title;
  page.facts = {"Cohort: " + fs::absolute(cohort.dir).lexically_normal().string() + " (" +
                    std::to_string(test.size()) + " test patients of " +
                    std::to_string(cohort.patients.size()) + ")",
                std::string("Written by ctvnet ") + build::kVersion + " (" + build::kCommit +
                    ") on " + utc_now()};
  page.table1 = table;
  page.box_plots = box_plot_figures(scores.rows, methods);
  const CtWindow window = o.window == "mediastinal" ? kMediastinalWindow : kLungWindow;
  std::vector<fs::path> overlay_inputs{cohort.manifest()};
  for (int i = 0; i < std::min<int>(o.overlays, int(test.size())); ++i)
    page.overlays.push_back(
        overlay_figure(cohort, test[std::size_t(i)], methods, window, o.fov_mm, overlay_inputs));
  page.per_patient = scores.rows;
  page.per_patient_columns = columns;

  fs::create_directories(out / "figures");
  write_text_output(out / "table1.md", markdown, scores.inputs, o.force);
  write_text_output(out / "table1.csv", table1_csv(table), scores.inputs, o.force);
  write_text_output(out / "per_patient.csv", metrics_csv(scores.rows, columns), scores.inputs,
                    o.force);
  for (const ReportFigure& f : page.box_plots)
    write_text_output(out / "figures" / (f.id + ".png"), f.png, scores.inputs, o.force);
  for (const ReportFigure& f : page.overlays)
    write_text_output(out / "figures" / (f.id + ".png"), f.png, overlay_inputs, o.force);
  std::vector<fs::path> all_inputs = scores.inputs;
  all_inputs.insert(all_inputs.end(), overlay_inputs.begin(), overlay_inputs.end());
  write_text_output(out / "report.html", report_html(page), all_inputs, o.force);

  std::cout << "\n" << markdown.substr(0, markdown.find("## Median")) << "";
  std::cout << "ctv report: " << test.size() << " test patients, " << methods.size()
            << " methods, in "
            << format_duration(
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count())
            << "; wrote " << (out / "report.html").string() << " (open it in any browser), "
            << "table1.md, table1.csv, per_patient.csv and figures/ beside it\n";
  return kExitOk;
}

}  // namespace

Command add_report(CLI::App& root) {
  static ReportOptions o;
  CLI::App* app = root.add_subcommand(
      "report", "Write the evaluation report of a cohort (Table 1, box plots, overlays, HTML)");
  app->footer(
      "Scores every test patient's pred_<METHOD>.nii.gz against ctv.nii.gz as ctv eval does; "
      "expand5 and expand8 are computed when absent. Contouring times come from each "
      "prediction's provenance sidecar (elapsed_s).");
  app->add_option("--cohort", o.cohort, "Cohort folder (cohort.json and patient folders)")
      ->required();
  app->add_option("--out", o.out, "Report folder (made if absent)")->required();
  app->add_option("--method", o.methods,
                  "Method to report, repeatable (default: model when predicted, expand5, "
                  "expand8)");
  app->add_option("--overlays", o.overlays, "Tri-planar overlays of the first N test patients")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  app->add_option("--window", o.window, "CT window of the overlays")
      ->capture_default_str()
      ->check(CLI::IsMember({"lung", "mediastinal"}));
  app->add_option("--fov", o.fov_mm, "Field of view of each overlay view in mm (0: whole slice)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 2000.0));
  app->add_flag("--force", o.force, "Write into a non-empty report folder, replacing its files");
  return {app, [] { return run_report(o); }};
}

}  // namespace ctv::cli
