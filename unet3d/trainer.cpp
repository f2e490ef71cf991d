// The training loop: see trainer.h for the run folder, model selection and resume.
#include "unet3d/trainer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include "data/atomic_file.h"
#include "data/nifti.h"
#include "data/producer.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "unet3d/inference.h"
#include "unet3d/weights.h"

namespace ctv::unet3d {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::uint64_t kShuffleStream = 0x5348554646ull;  // "SHUFF"

std::int64_t grid_voxels(const data::PreprocessConfig& c) {
  return std::int64_t(c.grid[0]) * c.grid[1] * c.grid[2];
}

std::int64_t count_mask(const std::vector<float>& m) {
  std::int64_t n = 0;
  for (float v : m) n += v > 0.5f;
  return n;
}

// (patient, copy): copy 0 is the original, 1..copies the elastic copies.
struct Sample {
  std::size_t patient = 0;
  int copy = 0;
};

// The epoch's samples in their shuffled order (Fisher-Yates from Rng(seed, stream(epoch))).
std::vector<Sample> epoch_order(const TrainConfig& c, std::size_t patients, int epoch) {
  std::vector<Sample> s;
  const int copies = c.elastic ? c.copies : 0;
  for (std::size_t p = 0; p < patients; ++p)
    for (int k = 0; k <= copies; ++k) s.push_back({p, k});
  Rng rng(c.seed, kShuffleStream + std::uint64_t(epoch));
  for (std::size_t i = s.size(); i > 1; --i) {
    const std::size_t j = std::size_t(rng.next_u64() % i);
    std::swap(s[i - 1], s[j]);
  }
  return s;
}

// Fills batch row b of x [B, Z, Y, X, 2] (as prediction does) and g [B, Z, Y, X, 1].
void fill_row(const TrainConfig& c, const data::TrainingCase& t, std::int64_t b, Tensor& x,
              Tensor& g) {
  const std::int64_t n = grid_voxels(c.data);
  fill_network_input(c.data.window, t.ct, t.igtv, x.data<float>() + 2 * n * b);
  float* gp = g.data<float>() + n * b;
  for (std::int64_t i = 0; i < n; ++i) gp[i] = t.ctv[std::size_t(i)] > 0.5f ? 1.f : 0.f;
}

Var loss_of(const TrainConfig& c, const Var& p, const Var& g) {
  switch (c.loss) {
    case LossKind::bce:
      return bce_loss(p, g);
    case LossKind::wbce:
      return weighted_bce_loss(p, g, c.wbce_background_weight);
    case LossKind::amgm:
      break;
  }
  return amgm_loss(p, g);
}

// The training state a checkpoint carries beyond model and optimizer (JSON text).
struct LoopState {
  std::vector<EpochRecord> history;
  double epoch_loss_sum = 0;  // over the current epoch's steps done so far
  ModelSelection selection;

  explicit LoopState(const TrainConfig& c) : selection(c.selection_window, c.selection_delta) {}

  std::string to_json() const {
    json h = json::array();
    for (const EpochRecord& r : history)
      h.push_back({{"epoch", r.epoch},
                   {"step", r.step},
                   {"train_loss", r.train_loss},
                   {"val_amgm", r.val_amgm},
                   {"val_dice", r.val_dice},
                   {"candidate", r.candidate},
                   {"saturated", r.saturated}});
    return json{{"history", h},
                {"epoch_loss_sum", epoch_loss_sum},
                {"candidate", selection.candidate()},
                {"candidate_value", selection.candidate_value()},
                {"saturated", selection.saturated()}}
        .dump();
  }
  // Restores what to_json wrote.
  void restore(const std::string& text, const fs::path& file) {
    LoopState& s = *this;
    try {
      const json j = json::parse(text);
      for (const json& r : j.at("history"))
        s.history.push_back({r.at("epoch").get<int>(), r.at("step").get<std::int64_t>(),
                             r.at("train_loss").get<double>(), r.at("val_amgm").get<double>(),
                             r.at("val_dice").get<double>(), r.at("candidate").get<int>(),
                             r.at("saturated").get<bool>(), 0.0});
      s.epoch_loss_sum = j.at("epoch_loss_sum").get<double>();
      s.selection.restore(j.at("candidate").get<int>(), j.at("candidate_value").get<double>(),
                          j.at("saturated").get<bool>());
    } catch (const json::exception& e) {
      throw std::runtime_error(file.string() + ": train.state is not a ctv train state (" +
                               e.what() + ")");
    }
  }
};

// The config as a resume compares it: the keys that change results (not threads or epochs).
std::string identity_json(TrainConfig c) {
  c.threads = 0;
  c.epochs = 1;
  return to_json(c);
}

void write_text(const fs::path& file, const std::string& text) {
  data::write_file_atomically(
      file,
      [&](const fs::path& tmp) {
        std::ofstream f(tmp, std::ios::binary);
        f << text;
        f.flush();
        if (!f) throw std::runtime_error(tmp.string() + ": cannot write");
      },
      /*overwrite=*/true);
}

const char* kLogHeader = "epoch,step,train_loss,val_amgm,val_dice,candidate,saturated,seconds\n";

std::string log_row(const EpochRecord& r) {
  char line[256];
  std::snprintf(line, sizeof line, "%d,%lld,%.9g,%.9g,%.9g,%d,%d,%.3f\n", r.epoch,
                static_cast<long long>(r.step), r.train_loss, r.val_amgm, r.val_dice, r.candidate,
                r.saturated ? 1 : 0, r.seconds);
  return line;
}

// log.csv's rows for epochs 1..epochs, kept from an earlier sitting (resume).
std::vector<std::string> kept_log_rows(const fs::path& file, int epochs) {
  std::vector<std::string> rows;
  std::ifstream f(file);
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line) && int(rows.size()) < epochs) rows.push_back(line + "\n");
  return rows;
}

// Removes temporary files a killed run left behind (".latest.tmp-...", ".best.tmp-...").
void remove_stale_temporaries(const fs::path& run_dir) {
  for (const auto& e : fs::directory_iterator(run_dir)) {
    const std::string n = e.path().filename().string();
    for (const char* stem : {".latest.tmp-", ".best.tmp-", ".log.tmp-", ".config.tmp-"})
      if (n.rfind(stem, 0) == 0) fs::remove(e.path());
  }
}

struct Validation {
  double amgm = 0, dice = 0;
};

Validation validate(UNet3D& model, const TrainConfig& c, const std::vector<PreparedPatient>& val) {
  Validation v;
  InferenceMode no_tape;
  const auto& g = c.data.grid;
  for (const PreparedPatient& p : val) {
    Tensor x = Tensor::empty(Shape{1, g[2], g[1], g[0], 2});
    Tensor t = Tensor::empty(Shape{1, g[2], g[1], g[0], 1});
    fill_row(c, p.grid, 0, x, t);
    const Device device = model.device();
    const Var prob = model.forward(Var(x.to(device)), /*training=*/false);
    v.amgm += amgm_loss(prob, Var(t.to(device))).value().item();
    const Tensor host_prob = prob.value().to(Device::cpu);
    const float* q = host_prob.data<float>();
    const float* r = t.data<float>();
    std::int64_t both = 0, sp = 0, sr = 0;
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      const bool a = q[i] > 0.5f, b = r[i] > 0.5f;
      both += a && b;
      sp += a;
      sr += b;
    }
    v.dice += sp + sr ? 2.0 * double(both) / double(sp + sr) : 1.0;
  }
  v.amgm /= double(val.size());
  v.dice /= double(val.size());
  return v;
}

}  // namespace

bool ModelSelection::observe(int epoch, double value) {
  const bool improved = candidate_ == 0 || value_ - value > delta_;
  if (improved) {
    candidate_ = epoch;
    value_ = value;
  }
  saturated_ = epoch - candidate_ >= window_;
  return improved;
}

std::vector<PreparedPatient> prepare_patients(
    const data::Cohort& cohort, const std::vector<data::CohortPatient>& patients,
    const data::PreprocessConfig& config, int threads,
    const std::function<void(std::size_t)>& on_patient,
    const std::function<void(const std::string&)>& on_warning) {
  std::vector<PreparedPatient> out;
  for (std::size_t i = 0; i < patients.size(); ++i) {
    const fs::path dir = cohort.patient_dir(patients[i]);
    const fs::path ct_f = dir / "ct.nii.gz", igtv_f = dir / "igtv.nii.gz",
                   ctv_f = dir / "ctv.nii.gz";
    for (const fs::path& f : {ct_f, igtv_f, ctv_f})
      if (!fs::is_regular_file(f))
        throw std::runtime_error(f.string() + ": missing (patient " + patients[i].id + ", split " +
                                 patients[i].split + ")");
    const data::Volume ct = data::read_nifti(ct_f), igtv = data::read_nifti(igtv_f),
                       ctv = data::read_nifti(ctv_f);
    data::require_same_geometry(ct.geometry, ct_f, igtv.geometry, igtv_f);
    data::require_same_geometry(ct.geometry, ct_f, ctv.geometry, ctv_f);
    if (count_mask(igtv.data) == 0)
      throw std::runtime_error(igtv_f.string() + ": the iGTV is empty (no voxel > 0.5)");
    if (count_mask(ctv.data) == 0)
      throw std::runtime_error(ctv_f.string() + ": the reference CTV is empty (no voxel > 0.5)");
    const data::PreprocessPlan plan = data::plan_preprocessing(ct.geometry, config, &igtv, ct_f);
    PreparedPatient p;
    p.id = patients[i].id;
    p.grid.dim = config.grid;
    p.grid.ct = data::to_network_grid(plan, ct, data::SampleKind::image, threads);
    p.grid.igtv = data::to_network_grid(plan, igtv, data::SampleKind::mask, threads);
    p.grid.ctv = data::to_network_grid(plan, ctv, data::SampleKind::mask, threads);
    if (count_mask(p.grid.igtv) == 0)
      throw std::runtime_error(igtv_f.string() + ": the iGTV falls outside the network's crop");
    if (const double mm = data::crop_clearance_mm(plan, igtv); mm < 10 && on_warning)
      on_warning(patients[i].id + ": the iGTV plus 10 mm leaves the network's crop (clearance " +
                 std::to_string(int(std::floor(mm))) + " mm); its CTV may be cut there");
    out.push_back(std::move(p));
    if (on_patient) on_patient(i);
  }
  return out;
}

TrainResult train(const data::Cohort& cohort, const TrainRequest& req, TrainObserver& obs) {
  const TrainConfig& c = req.config;
  if (const std::string f = c.fault(); !f.empty()) throw std::invalid_argument("config: " + f);
  const fs::path latest = req.run_dir / "latest.h5", best = req.run_dir / "best.h5",
                 log = req.run_dir / "log.csv";

  // The model, optimizer and loop state: fresh, fine-tuned, or resumed.
  std::optional<UNet3D> model;
  std::optional<Adam> adam;
  LoopState state(c);
  std::int64_t step = 0;
  if (req.resume) {
    if (!fs::is_regular_file(latest))
      throw std::runtime_error(latest.string() + ": missing; nothing to resume");
    LoadedCheckpoint ck = load_checkpoint(latest);
    TrainConfig saved;
    try {
      saved = parse_train_config(ck.progress.training_config, TrainConfig{}, latest.string());
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(std::string(e.what()) + " (train.config)");
    }
    if (identity_json(saved) != identity_json(c))
      throw std::runtime_error(latest.string() +
                               ": a checkpoint of another configuration (compare its train.config "
                               "with " +
                               (req.run_dir / "config.json").string() + ")");
    state.restore(ck.progress.training_state, latest);
    step = ck.progress.step;
    model.emplace(std::move(ck.model));
    adam.emplace(std::move(ck.adam));
    remove_stale_temporaries(req.run_dir);
    obs.note("resuming " + latest.string() + " at step " + std::to_string(step) + " (epoch " +
             std::to_string(state.history.size()) + " done)");
  } else if (!req.init_weights.empty()) {
    LoadedWeights w = load_weights(req.init_weights);
    if (describe(w.model.config()) != describe(c.model) || w.model.config().dtype != DType::f32)
      throw std::runtime_error(req.init_weights.string() +
                               ": weights of another network than the config's (" +
                               describe(w.model.config()) + ")");
    model.emplace(std::move(w.model));
    adam.emplace(model->parameters(), c.optimizer);
    obs.note("initialised from " + req.init_weights.string());
  } else {
    model.emplace(c.model);
    adam.emplace(model->parameters(), c.optimizer);
  }
  // The model and the optimiser's state live on the run's device; batches are made on the host
  // and copied there, and the checkpoints copy back (weights.h).
  const Device device = c.device == "cuda" ? Device::cuda : Device::cpu;
  model->to(device);
  adam->to(device);

  const auto train_ids = cohort.in_split("train"), val_ids = cohort.in_split("val");
  if (train_ids.empty())
    throw std::runtime_error(cohort.manifest().string() + ": no train patient");
  if (val_ids.empty()) throw std::runtime_error(cohort.manifest().string() + ": no val patient");
  const int threads = std::max(1, c.threads);
  obs.note("preparing " + std::to_string(train_ids.size()) + " training and " +
           std::to_string(val_ids.size()) + " validation patients on the " +
           std::to_string(c.data.grid[0]) + " x " + std::to_string(c.data.grid[1]) + " x " +
           std::to_string(c.data.grid[2]) + " grid");
  const auto warn = [&](const std::string& line) { obs.note("warning: " + line); };
  const std::vector<PreparedPatient> train_set =
      prepare_patients(cohort, train_ids, c.data, threads, {}, warn);
  const std::vector<PreparedPatient> val_set =
      prepare_patients(cohort, val_ids, c.data, threads, {}, warn);

  const std::int64_t samples = c.samples_per_epoch(std::int64_t(train_set.size()));
  const std::int64_t steps_per_epoch = (samples + c.batch - 1) / c.batch;
  const std::int64_t n_vox = grid_voxels(c.data);
  data::ElasticConfig elastic;
  elastic.sigma_px = c.sigma_px;
  elastic.ct_fill_hu = c.data.ct_pad_hu;

  std::vector<std::string> rows =
      req.resume ? kept_log_rows(log, int(state.history.size())) : std::vector<std::string>{};
  for (std::size_t e = rows.size(); e < state.history.size(); ++e)  // killed before the log
    rows.push_back(log_row(state.history[e]));
  std::int64_t checkpoint_step = fs::is_regular_file(latest) ? step : -1;
  auto checkpoint = [&]() {
    checkpoint_step = step;
    TrainingProgress pr;
    pr.step = step;
    TrainConfig stored = c;  // the thread count is the sitting's, not the run's
    stored.threads = 0;
    pr.training_config = to_json(stored);
    pr.training_state = state.to_json();
    save_checkpoint(latest, *model, *adam, c.data, pr, /*overwrite=*/true);
  };

  TrainResult result;
  const auto& g = c.data.grid;
  while (!(state.selection.saturated() && c.stop_when_saturated) &&
         int(state.history.size()) < c.epochs) {
    const int epoch = int(state.history.size()) + 1;
    const std::int64_t first = step - std::int64_t(state.history.size()) * steps_per_epoch;
    const std::vector<Sample> order = epoch_order(c, train_set.size(), epoch);
    const auto t_epoch = std::chrono::steady_clock::now();
    obs.epoch_started(epoch, steps_per_epoch);

    std::vector<Sample> jobs(order.begin() + std::min<std::int64_t>(first * c.batch, samples),
                             order.end());
    data::OrderedProducer<Sample, data::TrainingCase> producer(
        jobs,
        [&](const Sample& s) {
          const data::TrainingCase& t = train_set[s.patient].grid;
          if (s.copy == 0) return t;
          return data::elastic_copy(t, elastic, c.seed, s.patient, std::uint64_t(s.copy));
        },
        std::max(1, req.producer_threads));

    for (std::int64_t k = first; k < steps_per_epoch; ++k) {
      const auto t_step = std::chrono::steady_clock::now();
      const std::int64_t b = std::min<std::int64_t>(c.batch, samples - k * c.batch);
      Tensor x = Tensor::empty(Shape{b, g[2], g[1], g[0], 2});
      Tensor t = Tensor::empty(Shape{b, g[2], g[1], g[0], 1});
      for (std::int64_t r = 0; r < b; ++r) fill_row(c, *producer.next(), r, x, t);
      adam->zero_grad();
      const Var loss = loss_of(c, model->forward(Var(x.to(device)), /*training=*/true),
                               Var(t.to(device)));
      const double value = loss.value().item();
      if (!std::isfinite(value))
        throw TrainingDiverged(
            "epoch " + std::to_string(epoch) + ", step " + std::to_string(step + 1) +
            ": the loss is " + (std::isnan(value) ? "NaN" : "infinite") + "; stopped. " +
            (checkpoint_step >= 0 ? "The last good checkpoint is " + latest.string() + " (step " +
                                        std::to_string(checkpoint_step) + ")"
                                  : std::string("No checkpoint was written yet")) +
            "; try a lower learning rate");
      backward(loss);
      adam->step();
      ++step;
      state.epoch_loss_sum += value;
      const double dt =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t_step).count();
      obs.step_done(k + 1, value, double(b * n_vox) / std::max(dt, 1e-9));
      if (c.checkpoint_every_steps > 0 && step % c.checkpoint_every_steps == 0 &&
          k + 1 < steps_per_epoch)
        checkpoint();
    }

    EpochRecord r;
    r.epoch = epoch;
    r.step = step;
    r.train_loss = state.epoch_loss_sum / double(steps_per_epoch);
    const Validation v = validate(*model, c, val_set);
    r.val_amgm = v.amgm;
    r.val_dice = v.dice;
    const bool improved = state.selection.observe(epoch, v.amgm);
    r.candidate = state.selection.candidate();
    r.saturated = state.selection.saturated();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_epoch).count();
    state.history.push_back(r);
    state.epoch_loss_sum = 0;
    if (improved) save_weights(best, *model, c.data, /*overwrite=*/true);
    checkpoint();
    rows.push_back(log_row(r));
    std::string text = kLogHeader;
    for (const std::string& row : rows) text += row;
    write_text(log, text);
    obs.epoch_done(r);
  }
  if (device != Device::cpu)
    obs.note("GPU memory: peak of live tensors " +
             std::to_string(memory_stats(device).peak_bytes >> 20) + " MiB");
  result.history = state.history;
  result.selected_epoch = state.selection.candidate();
  result.saturated = state.selection.saturated();
  result.steps = step;
  return result;
}

}  // namespace ctv::unet3d
