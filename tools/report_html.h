// The report as one self-contained HTML page: Table 1, the box plots and the tri-planar overlays
// embedded as PNG data URIs, and the per-patient table; inline CSS, no script, no external
// reference of any kind, so it opens offline and can be mailed as one file.
#pragma once

#include <string>
#include <vector>

#include "tools/metric_table.h"
#include "tools/report_table.h"

namespace ctv::cli {

struct ReportFigure {
  std::string id;       // element id, e.g. "boxplot-overlap"
  std::string caption;  // shown under the image, also its alt text
  std::string png;      // the PNG file's bytes
};

struct ReportPage {
  std::string title;
  std::vector<std::string> facts;  // lines under the title (cohort, version, date)
  Table1 table1;
  std::vector<ReportFigure> box_plots;
  std::vector<ReportFigure> overlays;
  std::vector<MetricRow> per_patient;
  std::vector<std::string> per_patient_columns;
};

// Standard base64 (RFC 4648, with padding).
std::string base64(const std::string& bytes);
// Escapes & < > " ' for HTML text and attribute values.
std::string html_escape(const std::string& text);

std::string report_html(const ReportPage& page);

}  // namespace ctv::cli
