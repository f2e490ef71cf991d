// The `ctv` subcommands: each tools/cmd_<name>.cpp adds one CLI11 subcommand and the
// function that runs it. Exit codes, for every command:
//   0 success; 1 a fault in the inputs or while working (one line names the file and fault);
//   2 a usage error; 3 the command is not built in this version.
#pragma once

#include <CLI/CLI.hpp>

#include <array>
#include <exception>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
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

// Thrown inside a command for a fault in how it was called; main prints "ctv <cmd>: <what>
// (see ctv <cmd> --help)" and returns kExitUsage.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "X,Y,Z": exactly three numbers (int or double). throws UsageError naming `option`.
template <class T>
std::array<T, 3> parse_triple(const std::string& text, const char* option) {
  static_assert(std::is_same_v<T, int> || std::is_same_v<T, double>);
  std::array<T, 3> v{};
  std::stringstream ss(text);
  std::string item;
  int count = 0;
  bool bad = false;
  while (std::getline(ss, item, ',')) {
    if (count < 3) {
      std::size_t used = 0;
      try {
        if constexpr (std::is_same_v<T, int>)
          v[std::size_t(count)] = std::stoi(item, &used);
        else
          v[std::size_t(count)] = std::stod(item, &used);
      } catch (const std::exception&) {
        bad = true;
      }
      bad |= used != item.size();
    }
    ++count;
  }
  if (bad || count != 3 || text.back() == ',')
    throw UsageError(std::string(option) + " \"" + text + "\": expected 3 numbers x,y,z");
  return v;
}

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
