// Per-patient metric rows and the text files made from them, shared by `ctv eval` and
// `ctv report` so their CSV files have the same columns and number formats.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "data/metrics.h"

namespace ctv::cli {

// One scored pair: who, what, and its metrics as named columns (data::metric_columns order).
struct MetricRow {
  std::string patient, method;
  std::vector<data::NamedValue> values;
};

// Every column name of the rows, in first-seen order.
std::vector<std::string> metric_column_names(const std::vector<MetricRow>& rows);

// The value of a named column of a row; NaN when the row lacks it.
double metric_value(const MetricRow& row, const std::string& column);

// A number as text for tables: printf `format`; "nan" for NaN; never "-0".
std::string format_number(double v, const char* format = "%.6g");

// CSV text: header "patient,method,<columns>", one line per row, %.10g numbers; a column
// missing from a row (an OAR absent for one patient) is written as nan.
std::string metrics_csv(const std::vector<MetricRow>& rows,
                        const std::vector<std::string>& columns);

// Writes text to `file` atomically (data/atomic_file.h), then its provenance sidecar.
// throws FileWriteError naming the file (it exists and !overwrite, or an I/O fault).
void write_text_output(const std::filesystem::path& file, const std::string& text,
                       const std::vector<std::filesystem::path>& inputs, bool overwrite);

}  // namespace ctv::cli
