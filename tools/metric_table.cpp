#include "tools/metric_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "data/atomic_file.h"
#include "tools/provenance.h"

namespace ctv::cli {

namespace fs = std::filesystem;

std::vector<std::string> metric_column_names(const std::vector<MetricRow>& rows) {
  std::vector<std::string> names;
  for (const MetricRow& r : rows)
    for (const data::NamedValue& v : r.values)
      if (std::find(names.begin(), names.end(), v.name) == names.end()) names.push_back(v.name);
  return names;
}

double metric_value(const MetricRow& row, const std::string& column) {
  for (const data::NamedValue& v : row.values)
    if (v.name == column) return v.value;
  return std::nan("");
}

std::string format_number(double v, const char* format) {
  if (std::isnan(v)) return "nan";
  char buf[48];
  std::snprintf(buf, sizeof buf, format, v);
  return std::string(buf) == "-0" ? "0" : buf;
}

std::string metrics_csv(const std::vector<MetricRow>& rows,
                        const std::vector<std::string>& columns) {
  std::ostringstream os;
  os << "patient,method";
  for (const std::string& c : columns) os << "," << c;
  os << "\n";
  for (const MetricRow& r : rows) {
    os << r.patient << "," << r.method;
    for (const std::string& c : columns) os << "," << format_number(metric_value(r, c), "%.10g");
    os << "\n";
  }
  return os.str();
}

void write_text_output(const fs::path& file, const std::string& text,
                       const std::vector<fs::path>& inputs, bool overwrite) {
  data::write_file_atomically(
      file,
      [&](const fs::path& tmp) {
        std::ofstream out(tmp, std::ios::binary);
        out << text;
        out.close();
        if (!out) throw data::FileWriteError(file.string() + ": cannot be written");
      },
      overwrite);
  write_provenance(file, Provenance{inputs, {}}, overwrite);
}

}  // namespace ctv::cli
