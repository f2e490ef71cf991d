// ctv demo: the README's main job (SPEC section 7).
#include "tools/command.h"

namespace ctv::cli {

Command add_demo(CLI::App& root) {
  CLI::App* app =
      root.add_subcommand("demo", "Run the end-to-end demonstration on a small synthetic cohort");
  return {app, [] { return not_built("demo"); }};
}

}  // namespace ctv::cli
