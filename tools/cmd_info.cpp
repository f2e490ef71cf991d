// ctv info: what a NIfTI file holds (geometry, orientation, datatype, value range).
#include "tools/command.h"

namespace ctv::cli {

Command add_info(CLI::App& root) {
  static std::vector<std::string> files;
  CLI::App* app =
      root.add_subcommand("info", "Show the geometry, orientation and values of NIfTI files");
  app->add_option("files", files, "NIfTI files")->required();
  return {app, [] { return not_built("info"); }};
}

}  // namespace ctv::cli
