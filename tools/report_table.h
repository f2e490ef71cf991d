// The paper's Table 1 (Xie et al. 2021): per method, each metric's mean +- sd and median
// [min, max] over the test patients, from per-patient rows (tools/metric_table.h).
//
// Methods appear in the order given; "reference" is the physician's CTV itself: it has a volume
// and overlaps with organs at risk, but no agreement metrics (shown as a dash).
// Summaries follow data::summarize: sample sd (n - 1), NaN values skipped and counted.
#pragma once

#include <string>
#include <vector>

#include "data/metrics.h"
#include "tools/metric_table.h"

namespace ctv::cli {

struct Table1Line {
  std::string label;   // "DSC", "95% Hausdorff distance (mm)"
  std::string column;  // the metric column it summarises ("hausdorff95_mm")
  int decimals = 2;
  std::vector<data::Summary> per_method;  // one per Table1::methods entry
};

// The model against another method on one line's metric: Wilcoxon's signed-rank test of
// model minus method over the patients both have a value for.
struct PairedLine {
  std::string label;
  std::vector<data::SignedRankTest> per_method;  // one per Table1::paired_methods entry
};

struct Table1 {
  std::vector<std::string> methods;  // method names, in column order
  std::vector<Table1Line> lines;
  std::size_t patients = 0;  // distinct patients in the rows
  // When "model" is among the methods: every other method but "reference", and for each line
  // whose metric the model has, the paired tests. Empty otherwise.
  std::vector<std::string> paired_methods;
  std::vector<PairedLine> paired;
};

// The column label of a method: "Reference", "Model (U-Net)", "5 mm expansion", or the name.
std::string method_label(const std::string& method);

// Summaries of the standard lines (DSC, precision, recall, median / mean / Hausdorff / 95%
// surface distances, OV with esophagus and heart, CTV volume, contouring time) for each method,
// from the rows whose method matches. Columns no row has give n = 0 (a dash).
Table1 make_table1(const std::vector<MetricRow>& rows, const std::vector<std::string>& methods);

// "0.012", "< 0.001", "0.012 (n = 20)" when fewer than `patients` pairs were used, "—" when none.
std::string p_value_cell(const data::SignedRankTest& t, std::size_t patients);

// "0.86 ± 0.05" (mean ± sd), "0.86" when n = 1, "—" when n = 0.
std::string mean_sd_cell(const data::Summary& s, int decimals);
// "0.87 [0.70, 0.93]", "—" when n = 0.
std::string median_range_cell(const data::Summary& s, int decimals);

// A Markdown document: the mean ± sd table, the median [min, max] table, then (when there are
// paired tests) the model-against-each-method p-values.
std::string table1_markdown(const Table1& t, const std::string& title);
// Long form: "metric,method,n,nan_skipped,mean,sd,median,min,max".
std::string table1_csv(const Table1& t);

}  // namespace ctv::cli
