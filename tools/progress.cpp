#include "tools/progress.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>

namespace ctv::cli {

namespace {
constexpr double kPlainInterval = 10.0;  // seconds between plain lines
constexpr int kBarWidth = 30;
}  // namespace

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string format_duration(double s) {
  char buf[48];
  if (s < 10)
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  else if (s < 60)
    std::snprintf(buf, sizeof buf, "%.0f s", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%d min %02d s", int(s) / 60, int(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%d h %02d min", int(s) / 3600, (int(s) % 3600) / 60);
  return buf;
}

Progress::Progress(std::string label, std::int64_t total, std::string what)
    : label_(std::move(label)),
      what_(std::move(what)),
      total_(total > 0 ? total : 1),
      tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

Progress::~Progress() {
  if (!finished_ && tty_) std::cerr << "\n";
}

void Progress::update(std::int64_t done, const std::string& note) {
  done_ = done;
  note_ = note;
  const auto now = std::chrono::steady_clock::now();
  const bool final_line = done_ >= total_;
  const double since = std::chrono::duration<double>(now - last_print_).count();
  if (tty_ || final_line || since >= kPlainInterval || done_ == 1) {
    draw(final_line);
    last_print_ = now;
  }
  if (final_line) finished_ = true;
}

void Progress::draw(bool final_line) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = double(done_) / double(total_);
  std::ostringstream os;
  os << label_ << " ";
  if (tty_) {
    const int filled = int(frac * kBarWidth + 0.5);
    os << "[" << std::string(std::size_t(filled), '#')
       << std::string(std::size_t(kBarWidth - filled), '.') << "] ";
  }
  os << done_ << "/" << total_ << " " << what_;
  if (!note_.empty()) os << "  " << note_;
  if (final_line)
    os << "  done in " << format_duration(elapsed);
  else if (done_ > 0)
    os << "  ETA " << format_duration(elapsed / frac - elapsed);
  if (tty_)
    std::cerr << "\r\033[K" << os.str() << (final_line ? "\n" : "") << std::flush;
  else
    std::cerr << os.str() << "\n";
}

}  // namespace ctv::cli
