// ctv report: Table 1, box plots, tri-planar overlays and one HTML page (SPEC section 1).
#include "tools/command.h"

namespace ctv::cli {

Command add_report(CLI::App& root) {
  struct Options {
    std::string cohort, out;
  };
  static Options o;
  CLI::App* app = root.add_subcommand(
      "report", "Write the evaluation report of a cohort (tables, plots, overlays, HTML)");
  app->add_option("--cohort", o.cohort, "Cohort folder")->required();
  app->add_option("--out", o.out, "Report folder")->required();
  return {app, [] { return not_built("report"); }};
}

}  // namespace ctv::cli
