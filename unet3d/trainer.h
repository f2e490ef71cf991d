// The training loop (SPEC section 3): a cohort's training and validation patients, prepared
// once on the network grid; per epoch, every training patient's original and its elastic
// copies (data/elastic.h, made ahead by background threads) in an order shuffled per epoch;
// Adam on the chosen loss; validation AM-GM and Dice after every epoch; the model-selection
// rule; checkpoints that resume bit for bit.
//
// Run folder: config.json (the resolved TrainConfig), latest.h5 (checkpoint: at the end of
// every epoch and every checkpoint_every_steps steps), best.h5 (weights of the selected epoch),
// log.csv (one row per epoch). Every file is written atomically.
//
// Model selection: after epoch e with validation AM-GM loss v, e becomes the candidate when
// there is none yet or v is lower than the candidate's value by more than `delta`; the
// candidate is the selected epoch once `window` later epochs have not displaced it (the
// validation metric saturated), and training stops there when stop_when_saturated. best.h5
// always holds the current candidate; at the end of the run it is the earliest epoch at which
// the metric saturated, or the last candidate when the run ended before saturation.
//
// Determinism and resume: everything random is a pure function of the seed and a counter:
// the initial weights (seed, layer name), the epoch's order (seed, epoch), each elastic copy
// (seed, patient, copy). The state after step s is therefore the model, its batch-norm
// statistics, Adam's moments and steps, and s, plus the validation history: exactly what a
// checkpoint holds (with the running sum of the epoch's training loss). Resuming from a
// checkpoint taken after step s and training on gives the weights of a run never
// interrupted, bit for bit, whatever the thread count (the kernels are thread-count
// invariant). log.csv is cut back to the checkpoint's epochs on resume.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/cohort.h"
#include "data/elastic.h"
#include "unet3d/train_config.h"

namespace ctv::unet3d {

// A loss that is not finite: the run stops; latest.h5 is the last good checkpoint.
class TrainingDiverged : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// SPEC section 3's model-selection rule (see above), fed one epoch at a time.
class ModelSelection {
 public:
  ModelSelection(int window, double delta) : window_(window), delta_(delta) {}
  // Epochs 1, 2, ... in order. ensures: returns true when `epoch` became the candidate.
  bool observe(int epoch, double value);
  int candidate() const { return candidate_; }  // 0 before the first epoch
  double candidate_value() const { return value_; }
  bool saturated() const { return saturated_; }
  void restore(int candidate, double value, bool saturated) {
    candidate_ = candidate;
    value_ = value;
    saturated_ = saturated;
  }

 private:
  int window_;
  double delta_;
  int candidate_ = 0;
  double value_ = 0;
  bool saturated_ = false;
};

struct PreparedPatient {
  std::string id;
  data::TrainingCase grid;  // CT in HU, iGTV, CTV on the network grid
};

// Reads and preprocesses each patient's ct, igtv and ctv (cohort folder files).
// throws std::runtime_error naming the file: missing, unreadable, geometry mismatch, an empty
//   iGTV or CTV; data::NiftiError for a bad NIfTI. `on_patient(i)` is called after each;
//   `on_warning` (may be empty) for each patient whose iGTV plus 10 mm leaves the crop.
std::vector<PreparedPatient> prepare_patients(
    const data::Cohort& cohort, const std::vector<data::CohortPatient>& patients,
    const data::PreprocessConfig& config, int threads,
    const std::function<void(std::size_t)>& on_patient,
    const std::function<void(const std::string&)>& on_warning = {});

struct EpochRecord {
  int epoch = 0;          // 1-based
  std::int64_t step = 0;  // global steps done at its end
  double train_loss = 0;  // mean over the epoch's steps
  double val_amgm = 0, val_dice = 0;
  int candidate = 0;       // the candidate epoch after this one
  bool saturated = false;  // the candidate held for `window` epochs
  double seconds = 0;      // wall time of the epoch (not part of the state)
};

struct TrainObserver {
  virtual ~TrainObserver() = default;
  virtual void epoch_started(int /*epoch*/, std::int64_t /*steps*/) {}
  // step_in_epoch 1-based; voxels_per_s over this step.
  virtual void step_done(std::int64_t /*step_in_epoch*/, double /*loss*/, double /*voxels_per_s*/) {
  }
  virtual void epoch_done(const EpochRecord& /*record*/) {}
  virtual void note(const std::string& /*line*/) {}
};

struct TrainRequest {
  TrainConfig config;
  std::filesystem::path run_dir;       // exists
  bool resume = false;                 // continue from run_dir/latest.h5
  std::filesystem::path init_weights;  // fine-tune from these (empty: fresh initialisation)
  int producer_threads = 1;            // background threads making elastic copies
};

struct TrainResult {
  std::vector<EpochRecord> history;
  int selected_epoch = 0;
  bool saturated = false;
  std::int64_t steps = 0;
};

// requires: config.fault() empty; the cohort has train and val patients with ctv.nii.gz.
// throws std::runtime_error (one line naming the file) for bad data or a checkpoint of another
//   configuration; TrainingDiverged on a non-finite loss.
TrainResult train(const data::Cohort& cohort, const TrainRequest& request, TrainObserver& observer);

}  // namespace ctv::unet3d
