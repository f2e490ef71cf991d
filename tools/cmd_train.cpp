// ctv train: trains the 3D U-Net (SPEC section 3).
#include "tools/command.h"

namespace ctv::cli {

Command add_train(CLI::App& root) {
  struct Options {
    std::string cohort, out, config, device, precision = "fp32";
    bool resume = false;
  };
  static Options o;
  CLI::App* app = root.add_subcommand("train", "Train the 3D U-Net on a cohort");
  app->add_option("--cohort", o.cohort, "Cohort folder (with cohort.json)")->required();
  app->add_option("--out", o.out, "Run folder for checkpoints and logs")->required();
  app->add_option("--config", o.config, "Training configuration (JSON)");
  app->add_flag("--resume", o.resume, "Resume from the run folder's latest checkpoint");
  app->add_option("--device", o.device, "cpu or cuda (default: cuda when a GPU is found)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  app->add_option("--precision", o.precision, "fp32, tf32 or bf16")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
  return {app, [] { return not_built("train"); }};
}

}  // namespace ctv::cli
