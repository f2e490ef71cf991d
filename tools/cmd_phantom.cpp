// ctv phantom: writes a synthetic thorax cohort (SPEC section 4; the generator's rules are at
// the top of data/phantom*.cpp).
//
// Output: DIR/cohort.json (data/phantom_cohort.h: ids, sides, splits, the generator's settings
// and each patient's features) and DIR/<id>/ with ct.nii.gz (int16 HU), igtv.nii.gz,
// ctv.nii.gz (the reference) and the OAR masks of data/cohort.h (uint8), all in one LPS geometry,
// each with a provenance sidecar. A folder that exists and is not empty is refused unless
// --force, which overwrites same-named files and removes what was derived from the replaced
// patients (pred_*.nii.gz in the folders it rewrites; eval_*.csv, the check files and snapshots
// in DIR; with their sidecars), so that ctv eval never scores a stale prediction and no report
// describes the replaced cohort; nothing else is removed. Every file is written
// atomically and the manifest last, so an interrupted run leaves no cohort.json: nothing partial
// is ever published as a cohort.
// --check adds DIR/phantom_check.md, phantom_check.csv and phantom_hu.csv (data/phantom_check.h)
// and exits 1 when a requirement fails. --snapshots N adds DIR/phantom_snapshot_<id>.png,
// tri-planar views of the first N test patients drawn from their files.
// --cohort DIR instead of --out works on a cohort already on disk: --check re-makes every patient
// from the manifest's seed (tools/phantom_readback.h), refuses files that differ from what the
// generator makes, and writes the same check files the check made while writing (byte-identical
// numbers); --snapshots draws them. Named like ctv eval's and ctv report's --cohort, the folder
// they read; --out stays the folder ctv phantom creates. Existing check files or snapshots are
// refused before any work unless --force.
// Patients are made in parallel (--threads); each comes from its own random stream, so the
// files are byte-identical whatever the thread count (sidecars carry a time stamp).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "data/cohort.h"
#include "data/nifti.h"
#include "data/phantom.h"
#include "data/phantom_check.h"
#include "data/phantom_cohort.h"
#include "tools/command.h"
#include "tools/metric_table.h"
#include "tools/phantom_readback.h"
#include "tools/progress.h"
#include "tools/provenance.h"

namespace ctv::cli {

namespace fs = std::filesystem;
namespace ph = data::phantom;

namespace {

struct Options {
  std::string out, cohort;
  int snapshots = 0;
  int n = 84;
  std::uint64_t seed = 1;
  std::string spacing = "1,1,2.5";
  std::string size = "416,288,128";
  bool check = false, force = false, no_variation = false;
  int threads = 0;
};

void write_mask(const fs::path& file, const data::Geometry& g, const std::vector<std::uint8_t>& m,
                bool force) {
  const std::vector<float> v(m.begin(), m.end());
  data::write_nifti(file, g, v, data::VoxelType::uint8, force);
  write_provenance(file, Provenance{}, force);
}

// Predictions and scores made from a replaced patient no longer describe it: ctv eval would
// score a stale pred_expand5 against the new reference. Returns how many files went.
int remove_stale(const fs::path& dir, const std::string& prefix, const std::string& suffix) {
  int removed = 0;
  if (!fs::is_directory(dir)) return 0;
  std::vector<fs::path> stale;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    const bool match =
        name.starts_with(prefix) && (name.ends_with(suffix) || name.ends_with(suffix + ".json"));
    if (match && e.is_regular_file()) stale.push_back(e.path());
  }
  for (const fs::path& f : stale) removed += fs::remove(f) ? 1 : 0;
  return removed;
}

void write_patient(const fs::path& dir, const ph::PhantomPatient& p, bool force) {
  fs::create_directories(dir);
  if (force) remove_stale(dir, "pred_", ".nii.gz");
  data::write_nifti(dir / "ct.nii.gz", p.geometry, p.ct, data::VoxelType::int16, force);
  write_provenance(dir / "ct.nii.gz", Provenance{}, force);
  write_mask(dir / "igtv.nii.gz", p.geometry, p.igtv, force);
  write_mask(dir / "ctv.nii.gz", p.geometry, p.ctv, force);
  for (std::size_t o = 0; o < data::kOarNames.size(); ++o)
    write_mask(dir / (std::string(data::kOarNames[o]) + ".nii.gz"), p.geometry, p.oars[o], force);
}

// Runs work(i) for every patient on `threads` threads with a progress line; rethrows the first
// error (the others stop at their next patient).
void for_each_patient(const std::vector<ph::CohortSlot>& slots, int threads,
                      const std::function<void(int)>& work) {
  const int n = int(slots.size());
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::exception_ptr error;
  int done = 0;
  {
    Progress progress("ctv phantom", n, "patients");
    auto worker = [&] {
      for (int i = next++; i < n && !failed; i = next++) {
        try {
          work(i);
          const std::lock_guard<std::mutex> lock(mutex);
          progress.update(++done, slots[std::size_t(i)].id);
        } catch (...) {
          const std::lock_guard<std::mutex> lock(mutex);
          if (!error) error = std::current_exception();
          failed = true;
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < std::clamp(threads, 1, n); ++t) pool.emplace_back(worker);
    for (std::thread& t : pool) t.join();
  }
  if (error) std::rethrow_exception(error);
}

int thread_count(const Options& o, int n) {
  return std::clamp(o.threads > 0 ? o.threads : int(std::thread::hardware_concurrency()), 1, n);
}

const char* const kCheckFiles[] = {"phantom_check.md", "phantom_check.csv", "phantom_hu.csv"};

// The first `count` test patients (manifest order), by index.
std::vector<int> snapshot_patients(const std::vector<ph::CohortSlot>& slots, int count) {
  std::vector<int> chosen;
  for (std::size_t i = 0; i < slots.size() && int(chosen.size()) < count; ++i)
    if (slots[i].split == "test") chosen.push_back(int(i));
  return chosen;
}

// Writes the check files; returns whether every requirement passed.
bool write_check(const fs::path& dir, const std::vector<ph::PatientCheck>& checks,
                 const ph::PhantomConfig& config, const std::vector<fs::path>& inputs, bool force) {
  const ph::CohortCheck s = ph::summarize_check(checks);
  write_text_output(dir / kCheckFiles[0], ph::check_markdown(checks, s, config), inputs, force);
  write_text_output(dir / kCheckFiles[1], ph::check_csv(checks), inputs, force);
  write_text_output(dir / kCheckFiles[2], ph::histogram_csv(checks), inputs, force);
  std::printf(
      "ctv phantom: check: rule without variation vs reference, mean Dice %.3f (>= 0.95: %s); "
      "best uniform cropped margin %d mm, mean Dice %.3f (< 0.85: %s); report %s\n",
      s.rule_dice_mean, s.rule_ok ? "pass" : "FAIL", s.best_margin_mm, s.best_uniform_dice,
      s.uniform_ok ? "pass" : "FAIL", (dir / kCheckFiles[0]).string().c_str());
  std::fflush(stdout);
  return s.rule_ok && s.uniform_ok;
}

void write_snapshots(const PhantomCohortOnDisk& cohort, int count, bool force) {
  const fs::path& dir = cohort.dir;
  const std::vector<int> chosen = snapshot_patients(cohort.slots, count);
  if (chosen.empty()) {
    std::printf("ctv phantom: snapshots: the cohort has no test patient; none drawn\n");
    return;
  }
  std::string names;
  for (int i : chosen) {
    std::vector<fs::path> inputs;
    const std::string png = draw_phantom_snapshot(cohort, i, inputs);
    const fs::path file = dir / snapshot_name(cohort.slots[std::size_t(i)].id);
    write_text_output(file, png, inputs, force);
    names += (names.empty() ? "" : ", ") + file.string();
  }
  std::printf("ctv phantom: snapshots of %zu test patient%s: %s\n", chosen.size(),
              chosen.size() == 1 ? "" : "s", names.c_str());
  std::fflush(stdout);
}

// After the check (check_ok false when a requirement failed): the snapshots, then the verdict.
int finish(const fs::path& dir, bool check_ok, const Options& o) {
  if (o.snapshots > 0) write_snapshots(read_phantom_cohort(dir), o.snapshots, o.force);
  if (!check_ok) throw UserError((dir / kCheckFiles[0]).string() + ": a cohort requirement failed");
  return kExitOk;
}

// --cohort DIR: the check and snapshots of a cohort on disk.
int run_existing(const Options& o) {
  const fs::path dir(o.cohort);
  const PhantomCohortOnDisk cohort = read_phantom_cohort(dir);
  // Refuse before the long work, not after it.
  std::vector<fs::path> outputs;
  if (o.check)
    for (const char* f : kCheckFiles) outputs.push_back(dir / f);
  for (int i : snapshot_patients(cohort.slots, o.snapshots))
    outputs.push_back(dir / snapshot_name(cohort.slots[std::size_t(i)].id));
  if (!o.force)
    for (const fs::path& f : outputs)
      if (fs::exists(f))
        throw UserError(f.string() + ": exists; nothing written (use --force to replace it)");

  bool ok = true;
  if (o.check) {
    const int n = int(cohort.slots.size()), threads = thread_count(o, n);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<ph::PatientCheck> checks(cohort.slots.size());
    for_each_patient(cohort.slots, threads, [&](int i) {
      checks[std::size_t(i)] =
          ph::check_patient(reload_patient(cohort, i), cohort.slots[std::size_t(i)]);
    });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf(
        "ctv phantom: %s: %d patients re-made from seed %llu match their iGTV and reference CTV "
        "files, in %s with %d threads\n",
        dir.string().c_str(), n, static_cast<unsigned long long>(cohort.config.seed),
        format_duration(seconds).c_str(), threads);
    ok = write_check(dir, checks, cohort.config, {dir / "cohort.json"}, o.force);
  }
  return finish(dir, ok, o);
}

int run(const Options& o) {
  if (o.out.empty() == o.cohort.empty() || (!o.cohort.empty() && !o.check && o.snapshots == 0) ||
      o.snapshots < 0) {
    std::cerr << "ctv phantom: "
              << (o.snapshots < 0 ? "--snapshots must be 0 or more"
                  : o.out.empty() == o.cohort.empty()
                      ? "give --out DIR to write a cohort or --cohort DIR to work on one on disk"
                      : "--cohort DIR needs --check or --snapshots N")
              << " (see ctv phantom --help)\n";
    return kExitUsage;
  }
  if (!o.cohort.empty()) return run_existing(o);
  ph::PhantomConfig config;
  config.size = parse_triple<int>(o.size, "--size");
  config.spacing = parse_triple<double>(o.spacing, "--spacing");
  for (int a = 0; a < 3; ++a) {
    if (config.size[a] < 8 || config.size[a] > 2048)
      throw UsageError("--size " + o.size + ": each size must be 8 to 2048 voxels");
    if (!(config.spacing[a] > 0 && config.spacing[a] <= 10))
      throw UsageError("--spacing " + o.spacing + ": each spacing must be in (0, 10] mm");
  }
  if (o.n < 1 || o.n > 9999) throw UsageError("--n must be 1 to 9999");
  config.seed = o.seed;
  config.observer_variation = !o.no_variation;

  const fs::path dir(o.out);
  if (fs::exists(dir) && !fs::is_directory(dir))
    throw UserError(o.out + ": exists and is not a folder");
  if (fs::exists(dir) && !fs::is_empty(dir) && !o.force)
    throw UserError(o.out +
                    ": folder is not empty; nothing written (use --force to write into it)");
  fs::create_directories(dir);

  const std::vector<ph::CohortSlot> slots = ph::plan_cohort(o.n, o.seed);
  const int threads = thread_count(o, o.n);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<ph::PatientFeatures> features(slots.size());
  std::vector<ph::PatientCheck> checks(o.check ? slots.size() : 0);
  for_each_patient(slots, threads, [&](int i) {
    const ph::PhantomPatient p = ph::make_patient(config, i, slots[std::size_t(i)].side);
    write_patient(dir / slots[std::size_t(i)].id, p, o.force);
    features[std::size_t(i)] = p.features;
    if (o.check) checks[std::size_t(i)] = ph::check_patient(p, slots[std::size_t(i)]);
  });

  if (o.force) {  // scores, the check and snapshots of the replaced cohort describe it no more
    remove_stale(dir, "eval_", ".csv");
    for (const char* f : kCheckFiles) remove_stale(dir, f, "");
    remove_stale(dir, "phantom_snapshot_", ".png");
  }
  write_text_output(dir / "cohort.json", ph::manifest_json(slots, config, features), {}, o.force);
  const data::Cohort readable = data::read_cohort(dir);  // the manifest reads as any cohort
  const ph::SplitCounts c = ph::split_counts(o.n);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "ctv phantom: %s: %zu patients (%d right, %d left; %d train, %d val, %d test), %d x %d x "
      "%d voxels of %g x %g x %g mm, seed %llu, in %s with %d threads\n",
      dir.string().c_str(), readable.patients.size(), c.right, c.left, c.train, c.val, c.test,
      config.size[0], config.size[1], config.size[2], config.spacing[0], config.spacing[1],
      config.spacing[2], static_cast<unsigned long long>(o.seed), format_duration(seconds).c_str(),
      threads);
  return finish(dir, !o.check || write_check(dir, checks, config, {}, o.force), o);
}

}  // namespace

Command add_phantom(CLI::App& root) {
  static Options o;
  CLI::App* app = root.add_subcommand(
      "phantom", "Write a synthetic thorax cohort (CT, iGTV, reference CTV, organs at risk)");
  app->footer(
      "Split for --n 84 (the paper's): 56 right and 28 left; 50 train, 10 val, 24 test. Other n: "
      "the same proportions (data/phantom_cohort.h). Files are in LPS order; the same seed gives "
      "byte-identical images whatever --threads.");
  CLI::Option* out =
      app->add_option("--out", o.out, "Cohort folder to create (must be empty unless --force)");
  CLI::Option* cohort = app->add_option(
      "--cohort", o.cohort,
      "A cohort ctv phantom wrote, to check (--check) or draw (--snapshots) instead of writing "
      "one; its patients are re-made from the manifest's seed and must match their files");
  out->excludes(cohort);
  for (CLI::Option* opt :
       {app->add_option("--n", o.n, "Number of patients")->capture_default_str(),
        app->add_option("--seed", o.seed, "Random seed; the same seed gives the same cohort")
            ->capture_default_str(),
        app->add_option("--spacing", o.spacing, "Voxel spacing x,y,z in mm")->capture_default_str(),
        app->add_option("--size", o.size, "Grid size x,y,z in voxels")->capture_default_str(),
        app->add_flag("--no-variation", o.no_variation,
                      "Reference CTVs without the observer variation (the rule alone)")})
    opt->excludes(cohort);
  app->add_flag("--check", o.check,
                "Also write phantom_check.md/.csv and phantom_hu.csv: the rule's Dice, the "
                "uniform-margin sweep, 5/8 mm expansions, HU per tissue; exit 1 if a requirement "
                "fails");
  app->add_option("--snapshots", o.snapshots,
                  "Also draw phantom_snapshot_<id>.png for the first N test patients: axial, "
                  "coronal, sagittal CT through the iGTV with the iGTV, reference CTV and organ "
                  "contours");
  app->add_option("--threads", o.threads, "Patients made at once (default: all cores)");
  app->add_flag("--force", o.force,
                "Write into a non-empty folder, replacing same-named files (with --cohort: "
                "replace existing check files and snapshots)");
  return {app, [] { return run(o); }};
}

}  // namespace ctv::cli
