// A UNet3D (and, for checkpoints, its Adam state and RNG states) to and from the weights
// format (data/weights_h5.h, weights/FORMAT.md).
//
// Invariants:
// - Tensor names are those of named_parameters() plus "<bn>.running_mean",
//   "<bn>.running_var" and "<bn>.num_batches_tracked" for every batch-norm layer: PyTorch's
//   state_dict keys. Values are copied bit for bit in the engine's layouts (KTRSC, CTRSK,
//   [C]); the file's dtype is the model's.
// - Loading checks the config and every name, shape and layout against the network the
//   config describes before any array is read, so a file for another network is refused
//   without reading (or allocating) its arrays.
// - A checkpoint restores everything the next training step reads: parameters, batch-norm
//   states, Adam moments and per-parameter steps, the Adam config and the named RNG states.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "data/weights_h5.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "unet3d/unet3d.h"

namespace ctv::unet3d {

// requires: nothing. ensures: the record of config (filters listed per level).
data::ModelRecord model_record(const UNetConfig& config);
// ensures: the config a record describes (seed = init_seed).
// throws std::invalid_argument naming the field when it describes no network we can build.
UNetConfig config_from_record(const data::ModelRecord& record);

// The part of a checkpoint beyond the model and the optimizer.
struct TrainingProgress {
  std::int64_t step = 0;               // the training loop's step count
  std::map<std::string, Rng> rngs;     // every generator the loop draws from, by name
  std::string training_config = "{}";  // JSON text
  std::string training_state = "{}";   // JSON text: epoch, validation history, ...
};

// Writes shipped weights: config, preprocessing record, parameters, batch-norm states.
// requires: model's tensors on the CPU.
// ensures: returns the file's checksum. Written atomically, integrity block included
//   (data::write_weights).
// throws data::WeightsError naming the file (exists and !overwrite, I/O fault).
std::string save_weights(const std::filesystem::path& file, const UNet3D& model,
                         const data::PreprocessConfig& preprocessing, bool overwrite = false);

// Writes a checkpoint: save_weights' content plus adam's state and config and `progress`.
// requires: adam built on model.parameters() (each of its params one of the model's;
//           std::invalid_argument otherwise).
std::string save_checkpoint(const std::filesystem::path& file, const UNet3D& model,
                            const Adam& adam, const data::PreprocessConfig& preprocessing,
                            const TrainingProgress& progress, bool overwrite = false);

struct LoadedWeights {
  UNet3D model;
  data::PreprocessConfig preprocessing;
  std::string checksum;
  bool is_checkpoint = false;  // a checkpoint loads as weights too; its optimizer is ignored
};

struct LoadedCheckpoint {
  UNet3D model;
  Adam adam;  // built on model.parameters(), its state and config restored
  data::PreprocessConfig preprocessing;
  TrainingProgress progress;
  std::string checksum;
};

// throws data::WeightsError, one line naming the file and the fault: every fault of
//   data::read_weights; a config the code cannot build; a tensor missing, unexpected, or of
//   another shape or layout than the config needs (naming it and both shapes).
LoadedWeights load_weights(const std::filesystem::path& file);
// throws as load_weights, and when the file is not a checkpoint or its optimizer or RNG
//   state does not match the parameters.
LoadedCheckpoint load_checkpoint(const std::filesystem::path& file);

}  // namespace ctv::unet3d
