#include "tools/report_html.h"

#include <sstream>

namespace ctv::cli {

std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (unsigned char)bytes[i] << 16 | (unsigned char)bytes[i + 1] << 8 |
                       (unsigned char)bytes[i + 2];
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  if (i < bytes.size()) {
    const bool two = i + 1 < bytes.size();
    const unsigned v = (unsigned char)bytes[i] << 16 | (two ? (unsigned char)bytes[i + 1] << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += two ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  return out;
}

namespace {

constexpr const char* kStyle = R"(
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px auto; max-width: 1280px;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
p.fact { margin: 0.1em 0; color: #555; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #bbb; padding: 4px 9px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #eef1f5; }
td small { color: #666; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #444; font-size: 0.9em; }
details { margin: 1em 0; }
p.note { color: #555; font-size: 0.88em; max-width: 60em; }
)";

void figure(std::ostringstream& os, const ReportFigure& f) {
  os << "<figure id=\"" << html_escape(f.id) << "\"><img alt=\"" << html_escape(f.caption)
     << "\" src=\"data:image/png;base64," << base64(f.png) << "\"><figcaption>"
     << html_escape(f.caption) << "</figcaption></figure>\n";
}

}  // namespace

std::string report_html(const ReportPage& page) {
  std::ostringstream os;
  os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
     << html_escape(page.title) << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n";
  os << "<h1>" << html_escape(page.title) << "</h1>\n";
  for (const std::string& f : page.facts) os << "<p class=\"fact\">" << html_escape(f) << "</p>\n";

  const Table1& t = page.table1;
  os << "<h2>Table 1: agreement with the reference CTV</h2>\n<table id=\"table1\">\n<thead><tr>"
        "<th></th>";
  for (const std::string& m : t.methods) os << "<th>" << html_escape(method_label(m)) << "</th>";
  os << "</tr></thead>\n<tbody>\n";
  for (const Table1Line& line : t.lines) {
    os << "<tr><td>" << html_escape(line.label) << "</td>";
    for (const data::Summary& s : line.per_method) {
      os << "<td>" << html_escape(mean_sd_cell(s, line.decimals));
      if (s.n > 1)
        os << "<br><small>" << html_escape(median_range_cell(s, line.decimals)) << "</small>";
      os << "</td>";
    }
    os << "</tr>\n";
  }
  os << "</tbody>\n</table>\n<p class=\"note\">Mean ± sample SD (n − 1) over " << t.patients
     << " test patients; below it the median [min, max]. Distances in mm between voxel centres "
        "on each CT's own grid; HD95 is the larger of the two directed 95th percentiles. OV: "
        "overlap volume with the organ at risk. Contouring time: as recorded in each "
        "prediction's provenance sidecar. A dash: not applicable or not recorded.</p>\n";
  if (!t.paired.empty()) {
    os << "<h2>Model against each method</h2>\n<table id=\"paired\">\n<thead><tr><th></th>";
    for (const std::string& m : t.paired_methods)
      os << "<th>" << html_escape(method_label(m)) << "</th>";
    os << "</tr></thead>\n<tbody>\n";
    for (const PairedLine& line : t.paired) {
      os << "<tr><td>" << html_escape(line.label) << "</td>";
      for (const data::SignedRankTest& s : line.per_method)
        os << "<td>" << html_escape(p_value_cell(s, t.patients)) << "</td>";
      os << "</tr>\n";
    }
    os << "</tbody>\n</table>\n<p class=\"note\">Wilcoxon signed-rank test, two-sided p, paired "
          "by patient (model minus method); zero differences dropped (n: the pairs left, when "
          "fewer than the patients); exact, not corrected for the number of tests.</p>\n";
  }

  if (!page.box_plots.empty()) {
    os << "<h2>Per-patient distributions</h2>\n";
    for (const ReportFigure& f : page.box_plots) figure(os, f);
  }
  if (!page.overlays.empty()) {
    os << "<h2>Contours</h2>\n";
    for (const ReportFigure& f : page.overlays) figure(os, f);
  }

  os << "<h2>Per patient</h2>\n<details><summary>" << page.per_patient.size()
     << " rows (also in per_patient.csv)</summary>\n<table id=\"per-patient\">\n<thead><tr>"
        "<th>patient</th><th>method</th>";
  for (const std::string& c : page.per_patient_columns) os << "<th>" << html_escape(c) << "</th>";
  os << "</tr></thead>\n<tbody>\n";
  for (const MetricRow& r : page.per_patient) {
    os << "<tr><td>" << html_escape(r.patient) << "</td><td>" << html_escape(r.method) << "</td>";
    for (const std::string& c : page.per_patient_columns)
      os << "<td>" << format_number(metric_value(r, c), "%.4g") << "</td>";
    os << "</tr>\n";
  }
  os << "</tbody>\n</table>\n</details>\n</body>\n</html>\n";
  return os.str();
}

}  // namespace ctv::cli
