// ctv predict: the model's CTV in the CT's own geometry (SPEC sections 1 and 3).
#include "tools/command.h"

namespace ctv::cli {

Command add_predict(CLI::App& root) {
  struct Options {
    std::string model, ct, igtv, out, cohort, name = "model";
    bool no_igtv_union = false;
  };
  static Options o;
  CLI::App* app = root.add_subcommand(
      "predict", "Predict the CTV for one patient or every patient of a cohort");
  app->add_option("--model", o.model, "Weights file (HDF5)")->required();
  app->add_option("--ct", o.ct, "Planning CT (NIfTI)");
  app->add_option("--igtv", o.igtv, "iGTV mask (NIfTI)");
  app->add_option("--out", o.out, "Output CTV mask (NIfTI)");
  app->add_option("--cohort", o.cohort, "Predict every patient of this cohort");
  app->add_option("--name", o.name, "Method name for cohort outputs: <patient>/pred_<NAME>.nii.gz")
      ->capture_default_str();
  app->add_flag("--no-igtv-union", o.no_igtv_union,
                "Do not unite the output with the iGTV (it is by default)");
  return {app, [] { return not_built("predict"); }};
}

}  // namespace ctv::cli
