// `ctv`: one binary, one subcommand per file (tools/cmd_*.cpp). Every fault ends as one line
// on stderr and a non-zero exit; no exception escapes main.
#include <cstdio>
#include <exception>
#include <iostream>
#include <sstream>

#include "ctv/version.h"
#include "engine/backend.h"
#include "tools/command.h"

namespace ctv::cli {

namespace {
std::string g_command_line;
}

const std::string& command_line() { return g_command_line; }

void set_command_line(int argc, char** argv) {
  std::ostringstream os;
  for (int i = 0; i < argc; ++i) os << (i ? " " : "") << argv[i];
  g_command_line = os.str();
}

int not_built(const std::string& name) {
  std::cerr << "ctv " << name << ": not built yet in ctvnet " << build::kVersion
            << "; see the README for what this version does\n";
  return kExitNotBuilt;
}

static std::string version_text() {
  const BackendInfo& b = backend_info();
  std::ostringstream os;
  os << "ctv (ctvnet) " << build::kVersion << "\n"
     << "commit: " << build::kCommit << "\n"
     << "build type: " << build::kBuildType << "\n"
     << "CUDA built: " << (b.cuda_built ? "yes" : "no");
  if (b.cuda_built) os << " (architectures " << build::kCudaArchitectures << ")";
  os << "\nGPU found: ";
  if (b.gpu_found)
    os << "yes (" << b.gpu_name << ", sm_" << b.compute_capability << ")";
  else
    os << "no (" << b.why_no_gpu << ")";
  os << "\n";
  return os.str();
}

}  // namespace ctv::cli

int main(int argc, char** argv) {
  using namespace ctv::cli;
  set_command_line(argc, argv);
  CLI::App app{
      "ctv: clinical target volume delineation for lung cancer radiotherapy.\n"
      "A 3D U-Net predicts the CTV from the planning CT and the iGTV; the cropped-expansion\n"
      "baseline and the evaluation metrics are built in. Every command answers --help.",
      "ctv"};
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version, "Print version, commit, build type, CUDA and GPU status");

  std::vector<Command> commands = {add_phantom(app), add_expand(app),  add_eval(app),
                                   add_train(app),   add_predict(app), add_report(app),
                                   add_demo(app),    add_bench(app),   add_info(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string where = "ctv";
    for (const CLI::App* sub : app.get_subcommands()) where += " " + sub->get_name();
    std::cerr << where << ": " << e.what() << " (see " << where << " --help)\n";
    return kExitUsage;
  }
  if (show_version) {
    std::cout << version_text();
    return kExitOk;
  }
  for (const Command& c : commands) {
    if (!c.app->parsed()) continue;
    try {
      return c.run();
    } catch (const UsageError& e) {
      const std::string where = "ctv " + c.app->get_name();
      std::cerr << where << ": " << e.what() << " (see " << where << " --help)\n";
      return kExitUsage;
    } catch (const std::exception& e) {
      std::cerr << "ctv " << c.app->get_name() << ": error: " << e.what() << "\n";
      return kExitFault;
    } catch (...) {
      std::cerr << "ctv " << c.app->get_name() << ": error: unexpected failure\n";
      return kExitFault;
    }
  }
  std::cout << app.help();
  return kExitUsage;
}
