// ctv expand: the cropped-expansion baseline (SPEC section 5).
#include "tools/command.h"

namespace ctv::cli {

Command add_expand(CLI::App& root) {
  struct Options {
    std::string igtv, margins, body, out;
    double margin = 5;
    std::vector<std::string> crop;
  };
  static Options o;
  CLI::App* app = root.add_subcommand(
      "expand", "Expand the iGTV by a margin, cropped at organs at risk, within the body");
  app->add_option("--igtv", o.igtv, "iGTV mask (NIfTI)")->required();
  app->add_option("--margin", o.margin, "Uniform margin in mm")->capture_default_str();
  app->add_option("--margins", o.margins,
                  "Per-direction margins in mm: SUP,INF,ANT,POST,RIGHT,LEFT");
  app->add_option("--crop", o.crop, "Organ-at-risk mask to crop at (repeatable)");
  app->add_option("--body", o.body, "Body mask; the expansion stays inside it");
  app->add_option("--out", o.out, "Output mask (NIfTI)")->required();
  return {app, [] { return not_built("expand"); }};
}

}  // namespace ctv::cli
