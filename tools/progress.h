// Progress on long work (SPEC section 1): a bar with ETA redrawn in place when stderr is a
// terminal, plain periodic lines otherwise (logs, CI), so both stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ctv::cli {

class Progress {
 public:
  // total > 0 units of work; `what` names them ("step", "patient").
  Progress(std::string label, std::int64_t total, std::string what);
  ~Progress();  // finishes the line on a terminal
  // ensures: done() units are complete; `note` (e.g. "loss 0.41") is shown beside the bar.
  void update(std::int64_t done, const std::string& note = {});

 private:
  void draw(bool final_line);
  std::string label_, what_, note_;
  std::int64_t total_, done_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_print_;
  bool finished_ = false;
};

// "1 min 05 s", "12 s", "0.4 s".
std::string format_duration(double seconds);
// Wall-clock seconds from t to now.
double seconds_since(std::chrono::steady_clock::time_point t);

}  // namespace ctv::cli
