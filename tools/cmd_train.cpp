// ctv train: trains the 3D U-Net on a cohort (SPEC section 3; the loop is unet3d/trainer.h).
//
// The configuration: defaults (unet3d/train_config.h), then --config FILE (JSON), then the
// command-line overrides; written to RUN_DIR/config.json. A run folder that is not empty is
// refused unless --resume (continue: the same configuration, checked against the checkpoint;
// only --epochs and --threads may change) or --force (start again, replacing config.json,
// latest.h5, best.h5 and log.csv). Progress: a bar per epoch with ETA, loss and voxels per
// second; a line per epoch with the validation AM-GM and Dice and the selected epoch.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/cohort.h"
#include "engine/backend.h"
#include "kernels/cpu/fast/parallel.h"
#include "tools/command.h"
#include "tools/metric_table.h"
#include "tools/progress.h"
#include "tools/provenance.h"
#include "unet3d/trainer.h"

namespace ctv::cli {

namespace fs = std::filesystem;

namespace {

struct Options {
  std::string cohort, out, config, init, device, precision, loss, elastic, grid, spacing, crop;
  bool resume = false, force = false;
  int threads = -1, levels = -1, base_filters = -1, copies = -1, batch = -1, epochs = -1,
      checkpoint_every = -1;
  double lr = -1, sigma = -1;
  long long seed = -1;
};

std::string read_text(const fs::path& file) {
  std::ifstream f(file, std::ios::binary);
  if (!f) throw UserError(file.string() + ": cannot be read");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

unet3d::TrainConfig resolve_config(const Options& o, const fs::path& run_dir) {
  unet3d::TrainConfig c;
  std::string where;
  if (!o.config.empty())
    where = o.config;
  else if (o.resume && fs::is_regular_file(run_dir / "config.json"))
    where = (run_dir / "config.json").string();
  try {
    if (!where.empty()) c = unet3d::parse_train_config(read_text(where), c, where);
    // Overrides, as JSON on top, so they are checked the same way.
    nlohmann::json j = nlohmann::json::object();
    if (o.levels > 0) j["model"]["levels"] = o.levels;
    if (o.base_filters > 0) j["model"]["base_filters"] = o.base_filters;
    if (!o.grid.empty()) j["data"]["grid"] = parse_triple<int>(o.grid, "--grid");
    if (!o.spacing.empty()) j["data"]["spacing_mm"] = parse_triple<double>(o.spacing, "--spacing");
    if (!o.crop.empty()) j["data"]["crop"] = o.crop;
    if (!o.loss.empty()) j["loss"] = o.loss;
    if (!o.elastic.empty()) j["elastic"]["enabled"] = o.elastic == "on";
    if (o.copies >= 0) j["elastic"]["copies"] = o.copies;
    if (o.sigma >= 0) j["elastic"]["sigma_px"] = o.sigma;
    if (o.lr > 0) j["optimizer"]["lr"] = o.lr;
    if (o.batch > 0) j["batch"] = o.batch;
    if (o.epochs > 0) j["epochs"] = o.epochs;
    if (o.seed >= 0) j["seed"] = o.seed;
    if (o.checkpoint_every >= 0) j["checkpoint_every_steps"] = o.checkpoint_every;
    if (!o.device.empty()) j["device"] = o.device;
    if (!o.precision.empty()) j["precision"] = o.precision;
    if (o.threads >= 0) j["threads"] = o.threads;
    c = unet3d::parse_train_config(j.dump(), c, "command line");
  } catch (const std::invalid_argument& e) {
    throw UserError(e.what());
  }
  if (c.device == "cuda") select_device(Device::cuda, std::cerr);  // throws why it cannot
  select_precision(c.device == "cuda" ? Device::cuda : Device::cpu, c.precision);
  return c;
}

// Progress bar per epoch and a line per epoch, on stderr / stdout.
struct ConsoleObserver : unet3d::TrainObserver {
  int epochs = 0;
  std::unique_ptr<Progress> bar;
  double loss_sum = 0;
  std::int64_t steps = 0;

  void epoch_started(int epoch, std::int64_t n) override {
    bar = std::make_unique<Progress>(
        "epoch " + std::to_string(epoch) + "/" + std::to_string(epochs), n, "steps");
    loss_sum = 0;
    steps = 0;
  }
  void step_done(std::int64_t k, double loss, double vps) override {
    loss_sum += loss;
    ++steps;
    char note[96];
    std::snprintf(note, sizeof note, "loss %.4f, %.2f Mvoxel/s", loss_sum / double(steps),
                  vps / 1e6);
    bar->update(k, note);
  }
  void epoch_done(const unet3d::EpochRecord& r) override {
    bar.reset();
    char line[256];
    std::snprintf(
        line, sizeof line,
        "epoch %d: train loss %.4f, validation AM-GM %.4f, Dice %.3f; selected epoch %d%s; %s",
        r.epoch, r.train_loss, r.val_amgm, r.val_dice, r.candidate,
        r.saturated ? " (saturated)" : "", format_duration(r.seconds).c_str());
    std::cout << line << std::endl;
  }
  void note(const std::string& line) override { std::cerr << "ctv train: " << line << "\n"; }
};

int run(const Options& o) {
  const fs::path run_dir(o.out);
  const data::Cohort cohort = data::read_cohort(o.cohort);
  if (o.resume && o.force) throw UserError("give --resume or --force, not both");
  if (o.resume && !o.init.empty()) throw UserError("give --resume or --init, not both");
  const bool non_empty = fs::is_directory(run_dir) && !fs::is_empty(run_dir);
  if (o.resume && !non_empty) throw UserError(o.out + ": no run to resume here");
  if (!o.resume && !o.force && non_empty)
    throw UserError(o.out +
                    ": exists and is not empty; not overwritten (use --resume to "
                    "continue its run, or --force to start again)");
  if (fs::exists(run_dir) && !fs::is_directory(run_dir))
    throw UserError(o.out + ": exists and is not a folder");

  unet3d::TrainConfig c = resolve_config(o, run_dir);
  const int threads =
      c.threads > 0 ? c.threads : std::max(1, int(std::thread::hardware_concurrency()));
  c.threads = threads;
  kernels::fast::set_num_threads(threads);
  const bool created = !fs::exists(run_dir);
  fs::create_directories(run_dir);
  if (o.force)
    for (const char* f : {"latest.h5", "best.h5", "log.csv"}) fs::remove(run_dir / f);
  write_text_output(run_dir / "config.json", unet3d::to_json(c), {cohort.manifest()},
                    /*overwrite=*/true);

  unet3d::TrainRequest req;
  req.config = c;
  req.run_dir = run_dir;
  req.resume = o.resume;
  req.init_weights = o.init;
  ConsoleObserver obs;
  obs.epochs = c.epochs;
  std::cerr << "ctv train: " << cohort.in_split("train").size() << " training, "
            << cohort.in_split("val").size() << " validation patients; "
            << unet3d::loss_name(c.loss) << " loss, elastic "
            << (c.elastic ? "on (" + std::to_string(c.copies) + " copies)" : std::string("off"))
            << ", batch " << c.batch << ", lr " << c.optimizer.lr << ", up to " << c.epochs
            << " epochs, " << threads << " threads\n";
  unet3d::TrainResult r;
  try {
    r = unet3d::train(cohort, req, obs);
  } catch (...) {
    // A new run that failed before its first checkpoint (a bad patient, say) leaves nothing
    // behind, so the same command runs once the fault is mended.
    if (!o.resume && !fs::exists(run_dir / "latest.h5")) {
      std::error_code ec;
      fs::remove(run_dir / "config.json", ec);
      fs::remove(sidecar_path(run_dir / "config.json"), ec);
      if (created) fs::remove(run_dir, ec);  // only when empty
    }
    throw;
  }
  std::cout << "ctv train: " << o.out << ": " << r.history.size() << " epochs, " << r.steps
            << " steps; selected epoch " << r.selected_epoch
            << (r.saturated ? " (validation AM-GM saturated)" : " (not yet saturated)")
            << "; weights " << (run_dir / "best.h5").string() << ", checkpoint "
            << (run_dir / "latest.h5").string() << ", log " << (run_dir / "log.csv").string()
            << "\n";
  return kExitOk;
}

}  // namespace

Command add_train(CLI::App& root) {
  static Options o;
  CLI::App* app = root.add_subcommand("train", "Train the 3D U-Net on a cohort");
  app->add_option("--cohort", o.cohort, "Cohort folder (with cohort.json)")->required();
  app->add_option("--out", o.out, "Run folder for config.json, checkpoints and log.csv")
      ->required();
  app->add_option("--config", o.config,
                  "Training configuration (JSON; keys in unet3d/train_config.h)");
  app->add_flag("--resume", o.resume, "Continue the run folder's run from latest.h5");
  app->add_flag("--force", o.force, "Start again in a run folder that holds a run");
  app->add_option("--init", o.init, "Start from these weights (fine-tuning)");
  app->add_option("--device", o.device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app->add_option("--precision", o.precision,
                  "Convolution arithmetic: fp32, or tf32 / bf16 (tensor cores; --device cuda)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
  app->add_option("--threads", o.threads, "CPU threads (0: all cores)")->check(CLI::Range(0, 1024));
  app->add_option("--levels", o.levels, "U-Net levels")->check(CLI::Range(1, 12));
  app->add_option("--base-filters", o.base_filters,
                  "Filters at full resolution (doubling per level)")
      ->check(CLI::Range(1, 4096));
  app->add_option("--loss", o.loss, "amgm, bce or wbce")
      ->check(CLI::IsMember({"amgm", "bce", "wbce"}));
  app->add_option("--elastic", o.elastic, "Elastic augmentation on or off")
      ->check(CLI::IsMember({"on", "off"}));
  app->add_option("--copies", o.copies, "Elastic copies per training patient")
      ->check(CLI::Range(0, 1000));
  app->add_option("--sigma", o.sigma, "Elastic displacement sd, pixels")
      ->check(CLI::Range(0.0, 1000.0));
  app->add_option("--lr", o.lr, "Adam learning rate")->check(CLI::PositiveNumber);
  app->add_option("--batch", o.batch, "Batch size")->check(CLI::Range(1, 1024));
  app->add_option("--epochs", o.epochs, "Maximum epochs")->check(CLI::Range(1, 100000));
  app->add_option("--grid", o.grid, "Network grid x,y,z in voxels");
  app->add_option("--spacing", o.spacing, "Resampled spacing x,y,z in mm");
  app->add_option("--crop", o.crop, "Grid centre: image_centre or igtv_centroid")
      ->check(CLI::IsMember({"image_centre", "igtv_centroid"}));
  app->add_option("--seed", o.seed, "Seed: initial weights, epoch order, elastic copies")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--checkpoint-every", o.checkpoint_every,
                  "Also write latest.h5 every N steps (0: at each epoch's end only)")
      ->check(CLI::NonNegativeNumber);
  return {app, [] { return run(o); }};
}

}  // namespace ctv::cli
