// The `ctv` subcommands: each tools/cmd_<name>.cpp adds one CLI11 subcommand and the
// function that runs it. Exit codes, for every command:
//   0 success; 1 a fault in the inputs or while working (one line names the file and fault);
//   2 a usage error; 3 the command is not built in this version.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace ctv::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFault = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotBuilt = 3;

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;  // called after a successful parse when this subcommand was chosen
};

// Thrown by a command for a fault the user can fix; main prints "ctv <cmd>: error: <what>".
struct UserError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Prints "ctv <name>: not built yet in ctvnet <version>" and returns kExitNotBuilt.
int not_built(const std::string& name);

// The full command line as typed, for provenance sidecars.
const std::string& command_line();
void set_command_line(int argc, char** argv);

Command add_phantom(CLI::App& root);
Command add_expand(CLI::App& root);
Command add_eval(CLI::App& root);
Command add_train(CLI::App& root);
Command add_predict(CLI::App& root);
Command add_report(CLI::App& root);
Command add_demo(CLI::App& root);
Command add_bench(CLI::App& root);
Command add_info(CLI::App& root);

}  // namespace ctv::cli
