#include "tools/report_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

namespace ctv::cli {

namespace {

struct LineSpec {
  const char* label;
  const char* column;
  int decimals;
};

// The rows of the paper's Table 1, plus the mean surface distance that `ctv eval` reports.
constexpr LineSpec kLines[] = {
    {"DSC", "dice", 2},
    {"Precision", "precision", 2},
    {"Recall", "recall", 2},
    {"Median surface distance (mm)", "median_surface_distance_mm", 1},
    {"Mean surface distance (mm)", "mean_surface_distance_mm", 1},
    {"Hausdorff distance (mm)", "hausdorff_mm", 1},
    {"95% Hausdorff distance (mm)", "hausdorff95_mm", 1},
    {"OV esophagus (cm³)", "ov_esophagus_cm3", 2},
    {"OV heart (cm³)", "ov_heart_cm3", 2},
    {"CTV volume (cm³)", "pred_volume_cm3", 1},
    {"Contouring time (s)", "contouring_time_s", 2},
};

std::string fixed(double v, int decimals) {
  return format_number(v, ("%." + std::to_string(decimals) + "f").c_str());
}

}  // namespace

std::string method_label(const std::string& method) {
  if (method == "reference") return "Reference";
  if (method == "model") return "Model (U-Net)";
  if (method.rfind("expand", 0) == 0 && method.size() > 6 &&
      method.find_first_not_of("0123456789", 6) == std::string::npos)
    return method.substr(6) + " mm expansion";
  return method;
}

Table1 make_table1(const std::vector<MetricRow>& rows, const std::vector<std::string>& methods) {
  Table1 t;
  t.methods = methods;
  std::set<std::string> patients;
  for (const MetricRow& r : rows) patients.insert(r.patient);
  t.patients = patients.size();
  for (const LineSpec& spec : kLines) {
    Table1Line line{spec.label, spec.column, spec.decimals, {}};
    for (const std::string& m : methods) {
      std::vector<double> values;
      bool has_column = false;
      for (const MetricRow& r : rows) {
        if (r.method != m) continue;
        for (const data::NamedValue& v : r.values) has_column |= v.name == spec.column;
        values.push_back(metric_value(r, spec.column));
      }
      // A column no row of this method has is "not applicable", not "all NaN".
      line.per_method.push_back(has_column ? data::summarize(values) : data::summarize({}));
    }
    t.lines.push_back(std::move(line));
  }

  if (std::find(methods.begin(), methods.end(), "model") == methods.end()) return t;
  for (const std::string& m : methods)
    if (m != "model" && m != "reference") t.paired_methods.push_back(m);
  if (t.paired_methods.empty()) return t;
  for (const LineSpec& spec : kLines) {
    // patient -> value, per method, for the rows that have the column.
    std::map<std::string, std::map<std::string, double>> by_method;
    for (const MetricRow& r : rows)
      for (const data::NamedValue& v : r.values)
        if (v.name == spec.column) by_method[r.method][r.patient] = v.value;
    const auto model = by_method.find("model");
    if (model == by_method.end()) continue;
    PairedLine line{spec.label, {}};
    for (const std::string& m : t.paired_methods) {
      std::vector<double> differences;
      for (const auto& [patient, value] : by_method[m]) {
        const auto mine = model->second.find(patient);
        if (mine != model->second.end()) differences.push_back(mine->second - value);
      }
      line.per_method.push_back(data::signed_rank_test(differences));
    }
    t.paired.push_back(std::move(line));
  }
  return t;
}

std::string p_value_cell(const data::SignedRankTest& t, std::size_t patients) {
  if (t.n == 0) return "—";
  std::string cell = t.p < 0.001 ? std::string("< 0.001") : fixed(t.p, 3);
  if (std::size_t(t.n) < patients) cell += " (n = " + std::to_string(t.n) + ")";
  return cell;
}

std::string mean_sd_cell(const data::Summary& s, int decimals) {
  if (s.n == 0) return "—";
  if (std::isnan(s.sd)) return fixed(s.mean, decimals);
  return fixed(s.mean, decimals) + " ± " + fixed(s.sd, decimals);
}

std::string median_range_cell(const data::Summary& s, int decimals) {
  if (s.n == 0) return "—";
  return fixed(s.median, decimals) + " [" + fixed(s.min, decimals) + ", " + fixed(s.max, decimals) +
         "]";
}

std::string table1_markdown(const Table1& t, const std::string& title) {
  std::ostringstream os;
  os << "# " << title << "\n\n";
  const auto table = [&](const char* heading, auto cell) {
    os << "## " << heading << "\n\n| |";
    for (const std::string& m : t.methods) os << " " << method_label(m) << " |";
    os << "\n|---|";
    for (std::size_t i = 0; i < t.methods.size(); ++i) os << "---|";
    os << "\n";
    for (const Table1Line& line : t.lines) {
      os << "| " << line.label << " |";
      for (const data::Summary& s : line.per_method) os << " " << cell(s, line.decimals) << " |";
      os << "\n";
    }
    os << "\n";
  };
  table("Mean ± SD", mean_sd_cell);
  table("Median [min, max]", median_range_cell);
  os << t.patients << " test patients; SD is the sample standard deviation (n − 1). "
     << "Distances in mm between voxel centres on each CT's own grid; HD95 is the larger of "
        "the two directed 95th percentiles. OV: overlap volume with the organ. A dash: not "
        "applicable or not recorded.\n";
  if (!t.paired.empty()) {
    os << "\n## Model against each method: Wilcoxon signed-rank test, two-sided p\n\n| |";
    for (const std::string& m : t.paired_methods) os << " " << method_label(m) << " |";
    os << "\n|---|";
    for (std::size_t i = 0; i < t.paired_methods.size(); ++i) os << "---|";
    os << "\n";
    for (const PairedLine& line : t.paired) {
      os << "| " << line.label << " |";
      for (const data::SignedRankTest& s : line.per_method)
        os << " " << p_value_cell(s, t.patients) << " |";
      os << "\n";
    }
    os << "\nPaired by patient (model minus method); zero differences are dropped and n says "
          "how many pairs remain when fewer than the patients; p is exact (all sign patterns "
          "of the ranks), not corrected for the number of tests.\n";
  }
  return os.str();
}

std::string table1_csv(const Table1& t) {
  std::ostringstream os;
  os << "metric,method,n,nan_skipped,mean,sd,median,min,max\n";
  for (const Table1Line& line : t.lines)
    for (std::size_t i = 0; i < t.methods.size(); ++i) {
      const data::Summary& s = line.per_method[i];
      os << line.column << "," << t.methods[i] << "," << s.n << "," << s.nan_skipped;
      for (double v : {s.mean, s.sd, s.median, s.min, s.max})
        os << "," << format_number(v, "%.10g");
      os << "\n";
    }
  return os.str();
}

}  // namespace ctv::cli
