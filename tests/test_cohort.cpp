// Cohort manifests (data/cohort.h): what is read, and every refusal names the manifest.
#include <doctest/doctest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>

#include "data/cohort.h"

namespace fs = std::filesystem;
using namespace ctv::data;

namespace {

// A fresh folder holding cohort.json with `text`; removed on destruction.
struct ManifestDir {
  fs::path dir;
  explicit ManifestDir(const std::string& text) {
    static int n = 0;
    dir = fs::temp_directory_path() /
          ("ctv_test_cohort_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::create_directories(dir);
    std::ofstream(dir / "cohort.json") << text;
  }
  ~ManifestDir() { fs::remove_all(dir); }
};

// The message of the CohortError that read_cohort throws, or "" when it does not.
std::string refusal(const std::string& text) {
  ManifestDir m(text);
  try {
    read_cohort(m.dir);
  } catch (const CohortError& e) {
    const std::string what = e.what();
    CHECK(what.find((m.dir / "cohort.json").string()) != std::string::npos);
    return what;
  }
  return "";
}

}  // namespace

TEST_CASE("a manifest lists id, side and split of each patient, in order") {
  ManifestDir m(R"({"seed": 3, "patients": [
      {"id": "p001", "side": "right", "split": "train", "note": "extra fields are ignored"},
      {"id": "P-2_b", "side": "left", "split": "test"},
      {"id": "p003", "side": "right", "split": "test"}]})");
  const Cohort c = read_cohort(m.dir);
  REQUIRE(c.patients.size() == 3);
  CHECK(c.patients[1].id == "P-2_b");
  CHECK(c.patients[1].side == "left");
  CHECK(c.patients[0].split == "train");
  const auto test = c.in_split("test");
  REQUIRE(test.size() == 2);
  CHECK(test[0].id == "P-2_b");
  CHECK(test[1].id == "p003");
  CHECK(c.patient_dir(test[1]) == m.dir / "p003");
  CHECK(c.in_split("val").empty());
}

TEST_CASE("patient ids must be plain names") {
  CHECK(is_plain_name("p001"));
  CHECK(is_plain_name("A-b_9"));
  CHECK_FALSE(is_plain_name(""));
  CHECK_FALSE(is_plain_name(".."));
  CHECK_FALSE(is_plain_name("a/b"));
  CHECK_FALSE(is_plain_name("a b"));
  CHECK_FALSE(is_plain_name("p.1"));
  const std::string e =
      refusal(R"({"patients": [{"id": "../etc", "side": "left", "split": "test"}]})");
  CHECK(e.find("\"../etc\"") != std::string::npos);
  CHECK(e.find("plain name") != std::string::npos);
}

TEST_CASE("manifest faults are refused with the manifest named") {
  CHECK(refusal("{not json").find("not valid JSON") != std::string::npos);
  CHECK(refusal(R"({"cases": []})").find("\"patients\"") != std::string::npos);
  CHECK(refusal(R"({"patients": [3]})").find("patient 0 is not an object") != std::string::npos);
  CHECK(refusal(R"({"patients": [{"id": "a", "split": "test"}]})").find("\"side\"") !=
        std::string::npos);
  CHECK(refusal(R"({"patients": [{"id": 7, "side": "left", "split": "test"}]})").find("\"id\"") !=
        std::string::npos);
  CHECK(refusal(R"({"patients": [{"id": "a", "side": "up", "split": "test"}]})")
            .find("side \"up\"") != std::string::npos);
  CHECK(refusal(R"({"patients": [{"id": "a", "side": "left", "split": "holdout"}]})")
            .find("split \"holdout\"") != std::string::npos);
  CHECK(refusal(R"({"patients": [{"id": "a", "side": "left", "split": "test"},
                                  {"id": "a", "side": "left", "split": "val"}]})")
            .find("appears twice") != std::string::npos);
  const fs::path nowhere = fs::temp_directory_path() / "ctv_test_cohort_missing_dir";
  CHECK_THROWS_AS(read_cohort(nowhere), CohortError);
}
