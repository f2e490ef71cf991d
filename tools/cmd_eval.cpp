// ctv eval: overlap, surface and organ-at-risk metrics (SPEC section 5).
#include "tools/command.h"

namespace ctv::cli {

Command add_eval(CLI::App& root) {
  struct Options {
    std::string pred, ref, csv, cohort, method;
    std::vector<std::string> oar;
  };
  static Options o;
  CLI::App* app = root.add_subcommand(
      "eval", "Score a predicted CTV against the reference (Dice, surface distances, OAR overlap)");
  app->add_option("--pred", o.pred, "Predicted mask (NIfTI)");
  app->add_option("--ref", o.ref, "Reference mask (NIfTI)");
  app->add_option("--oar", o.oar, "Organ at risk as NAME=FILE (repeatable)");
  app->add_option("--csv", o.csv, "Write the metrics to this CSV file");
  app->add_option("--cohort", o.cohort, "Evaluate every test patient of this cohort");
  app->add_option("--method", o.method,
                  "Method name: predictions are <patient>/pred_<NAME>.nii.gz");
  return {app, [] { return not_built("eval"); }};
}

}  // namespace ctv::cli
