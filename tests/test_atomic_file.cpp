// Atomic writes: the final name holds either the old content or the complete new content.
#include <doctest/doctest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "data/atomic_file.h"

namespace fs = std::filesystem;
using ctv::data::FileWriteError;
using ctv::data::write_file_atomically;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("ctv-atomic-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

auto writer(const std::string& text) {
  return [text](const fs::path& tmp) { std::ofstream(tmp) << text; };
}

std::size_t entries(const fs::path& dir) {
  return std::size_t(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("a new file appears complete under its final name") {
  TempDir d;
  const fs::path f = d.path / "out.nii.gz";
  write_file_atomically(f, writer("hello"), false);
  CHECK(slurp(f) == "hello");
  CHECK(entries(d.path) == 1);  // no temporary left behind
}

TEST_CASE("the temporary keeps the compound extension") {
  const fs::path t = ctv::data::temporary_name_for("/x/ct.nii.gz");
  CHECK(t.parent_path() == "/x");
  const std::string name = t.filename().string();
  CHECK(name.rfind(".ct.tmp-", 0) == 0);
  CHECK(name.size() > 7);
  CHECK(name.substr(name.size() - 7) == ".nii.gz");
}

TEST_CASE("an existing file is not overwritten unless asked") {
  TempDir d;
  const fs::path f = d.path / "mask.nii";
  write_file_atomically(f, writer("first"), false);
  CHECK_THROWS_WITH_AS(write_file_atomically(f, writer("second"), false),
                       doctest::Contains("already exists"), FileWriteError);
  CHECK(slurp(f) == "first");
  write_file_atomically(f, writer("second"), true);
  CHECK(slurp(f) == "second");
  CHECK(entries(d.path) == 1);
}

TEST_CASE("a failing writer leaves the old file and no temporary") {
  TempDir d;
  const fs::path f = d.path / "ctv.nii.gz";
  write_file_atomically(f, writer("good"), false);
  auto failing = [](const fs::path& tmp) {
    std::ofstream(tmp) << "partial";
    throw std::runtime_error("value out of range");
  };
  CHECK_THROWS_WITH(write_file_atomically(f, failing, true), "value out of range");
  CHECK(slurp(f) == "good");
  CHECK(entries(d.path) == 1);
}

TEST_CASE("a missing folder is named in the error") {
  TempDir d;
  const fs::path f = d.path / "no-such-folder" / "out.nii";
  CHECK_THROWS_WITH_AS(write_file_atomically(f, writer("x"), false),
                       doctest::Contains("no-such-folder"), FileWriteError);
}

TEST_CASE("a writer that writes nothing is an error") {
  TempDir d;
  const fs::path f = d.path / "out.json";
  CHECK_THROWS_AS(write_file_atomically(
                      f, [](const fs::path&) {}, false),
                  FileWriteError);
  CHECK_FALSE(fs::exists(f));
}
