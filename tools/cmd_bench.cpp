// ctv bench: kernel and end-to-end benchmarks beside their peers (SPEC section 6).
#include "tools/command.h"

namespace ctv::cli {

Command add_bench(CLI::App& root) {
  CLI::App* app =
      root.add_subcommand("bench", "Benchmark kernels and the whole network beside their peers");
  app->allow_extras();
  return {app, [] { return not_built("bench"); }};
}

}  // namespace ctv::cli
