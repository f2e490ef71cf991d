// The training configuration (SPEC section 3): one struct, read from JSON, overridden field by
// field from the command line, written back as JSON into the run folder and into every
// checkpoint, so a run can always be repeated and a resume can check it continues the same run.
//
// JSON keys (every key optional; defaults as below; an unknown key is refused, so a misspelt
// name is an error and not a silently ignored setting):
//   "model":      {"levels": 5, "base_filters": 16, "filters": [..] (optional, per level),
//                  "norm": "batch" | "none"}
//   "data":       {"spacing_mm": [1, 1, 2.5], "grid": [416, 288, 128],
//                  "crop": "image_centre" | "igtv_centroid",
//                  "hu_window": [-1000, 1000], "hu_offset": 0, "hu_scale": 1000}
//   "loss":       "amgm" | "bce" | "wbce";  "wbce_background_weight": 0.1
//   "elastic":    {"enabled": true, "copies": 20, "sigma_px": 10}
//   "optimizer":  {"lr": 1e-4, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7}
//   "batch": 1, "epochs": 100, "seed": 1,
//   "selection":  {"window": 10, "delta": 0.001, "stop_when_saturated": true}
//   "checkpoint_every_steps": 0   (0: at the end of every epoch only)
//   "device": "cpu" | "cuda", "precision": "fp32" | "tf32" | "bf16", "threads": 0 (all cores)
//
// Epoch: one pass, in an order shuffled per epoch, over every training patient's original
// and, with elastic on, its `copies` augmented copies (SPEC section 3: 20 per patient).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/preprocess.h"
#include "engine/optim.h"
#include "unet3d/unet3d_config.h"

namespace ctv::unet3d {

enum class LossKind { amgm, bce, wbce };
const char* loss_name(LossKind k);

struct TrainConfig {
  UNetConfig model;  // seed is set from `seed`
  data::PreprocessConfig data;
  LossKind loss = LossKind::amgm;
  double wbce_background_weight = 0.1;
  bool elastic = true;
  int copies = 20;
  double sigma_px = 10;
  AdamConfig optimizer;
  int batch = 1;
  int epochs = 100;
  std::uint64_t seed = 1;
  int selection_window = 10;
  double selection_delta = 0.001;
  bool stop_when_saturated = true;
  int checkpoint_every_steps = 0;
  std::string device = "cpu", precision = "fp32";
  int threads = 0;

  // Empty when usable; else what is wrong, naming the key ("batch 0 is not >= 1").
  std::string fault() const;
  // Samples per epoch for n training patients.
  std::int64_t samples_per_epoch(std::int64_t patients) const {
    return patients * (elastic ? 1 + copies : 1);
  }
};

// Parses JSON text on top of `base` (keys absent keep base's values).
// throws std::invalid_argument naming `where` (a file name) and the key: not JSON, an unknown
//   key, a value of the wrong type or out of range (fault()).
TrainConfig parse_train_config(const std::string& json_text, const TrainConfig& base,
                               const std::string& where);
// Every key, canonical order, 2-space indented: parse_train_config(to_json(c)) == c.
std::string to_json(const TrainConfig& config);

}  // namespace ctv::unet3d
