#include "data/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace ctv::data {

namespace fs = std::filesystem;

namespace {

// ".nii.gz" for "ct.nii.gz": the extensions that select a format must survive the rename.
std::string compound_extension(const fs::path& file) {
  const std::string name = file.filename().string();
  const std::size_t dot = name.find('.', name.empty() || name[0] != '.' ? 0 : 1);
  return dot == std::string::npos ? std::string() : name.substr(dot);
}

void fsync_path(const fs::path& p, int flags) {
  const int fd = ::open(p.c_str(), flags);
  if (fd < 0) throw FileWriteError(p.string() + ": cannot open to flush: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0)
    throw FileWriteError(p.string() + ": flushing to disk failed: " + std::strerror(saved));
}

}  // namespace

fs::path temporary_name_for(const fs::path& file) {
  static std::atomic<unsigned> counter{0};
  const std::string ext = compound_extension(file);
  std::string stem = file.filename().string();
  stem = stem.substr(0, stem.size() - ext.size());
  return file.parent_path() / ("." + stem + ".tmp-" + std::to_string(::getpid()) + "-" +
                               std::to_string(counter++) + ext);
}

// Testing aid: CTV_TEST_PAUSE_BEFORE_PUBLISH_MS=N sleeps N ms (at most 60 s) between writing
// the temporary file and publishing it, so that a test can kill the process in the middle of
// writing a file (tests/cli/train_resume.sh). Unset or 0: no pause.
static void pause_before_publish() {
  const char* env = std::getenv("CTV_TEST_PAUSE_BEFORE_PUBLISH_MS");
  if (!env || !*env) return;
  const long ms = std::strtol(env, nullptr, 10);
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(std::min(ms, 60000L)));
}

void write_file_atomically(const fs::path& file, const std::function<void(const fs::path&)>& write,
                           bool overwrite) {
  const fs::path folder = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  std::error_code ec;
  if (!fs::is_directory(folder, ec))
    throw FileWriteError(file.string() + ": folder " + folder.string() + " does not exist");
  if (!overwrite && fs::exists(file, ec))
    throw FileWriteError(file.string() + ": already exists; not overwriting it");
  if (fs::is_directory(file, ec)) throw FileWriteError(file.string() + ": is a folder");

  const fs::path tmp = temporary_name_for(file);
  try {
    write(tmp);
    if (!fs::exists(tmp, ec)) throw FileWriteError(file.string() + ": nothing was written");
    pause_before_publish();
    fsync_path(tmp, O_RDONLY);
    if (overwrite) {
      if (std::rename(tmp.c_str(), file.c_str()) != 0)
        throw FileWriteError(file.string() + ": cannot rename the finished file into place: " +
                             std::strerror(errno));
    } else {
      // link() fails if the name appeared meanwhile, so a file written by someone else
      // between the check above and now is never replaced.
      if (::link(tmp.c_str(), file.c_str()) != 0) {
        const int saved = errno;
        throw FileWriteError(file.string() + (saved == EEXIST
                                                  ? ": already exists; not overwriting it"
                                                  : ": cannot put the finished file in place: " +
                                                        std::string(std::strerror(saved))));
      }
      fs::remove(tmp, ec);
    }
    fsync_path(folder, O_RDONLY | O_DIRECTORY);  // make the rename itself durable
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace ctv::data
