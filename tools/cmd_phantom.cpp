// ctv phantom: writes a synthetic thorax cohort (SPEC section 4).
#include "tools/command.h"

namespace ctv::cli {

Command add_phantom(CLI::App& root) {
  struct Options {
    std::string out;
    int n = 84;
    unsigned seed = 1;
    std::string spacing = "1,1,2.5";
    std::string size = "416,288,128";
  };
  static Options o;
  CLI::App* app = root.add_subcommand(
      "phantom", "Write a synthetic thorax cohort (CT, iGTV, CTV, organs at risk)");
  app->add_option("--out", o.out, "Cohort folder to create")->required();
  app->add_option("--n", o.n, "Number of patients")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--seed", o.seed, "Random seed; the same seed gives the same cohort")
      ->capture_default_str();
  app->add_option("--spacing", o.spacing, "Voxel spacing x,y,z in mm")->capture_default_str();
  app->add_option("--size", o.size, "Grid size x,y,z in voxels")->capture_default_str();
  return {app, [] { return not_built("phantom"); }};
}

}  // namespace ctv::cli
