// Weights and checkpoints on disk (SPEC section 2; the layout is weights/FORMAT.md): the model
// config, the preprocessing record, one array per tensor, and in checkpoints the Adam state,
// step, RNG states and training config, with a SHA-256 checksum over a canonical byte stream.
//
// This layer knows plain arrays only (no engine, no network): unet3d/weights.h maps a model
// onto a WeightsFile and checks names and shapes against its config.
//
// Invariants of a WeightsFile:
// - preprocessing is the PreprocessConfig training used (data/preprocess.h), so prediction
//   prepares an input exactly the same way.
// - model.filters has one entry per level (levels = filters.size()); model.dtype names the
//   element type of every float tensor (model, Adam moments).
// - tensors (the /model group) are keyed by their PyTorch state_dict names; each has a
//   layout: "KTRSC" (conv3d weight), "CTRSK" (transposed conv weight), "C" (vectors),
//   "scalar" (num_batches_tracked, int64).
// - checkpoint present <=> the file is a checkpoint (kind "checkpoint"): shipped weights
//   hold no optimizer state.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/h5_tree.h"
#include "data/preprocess.h"

namespace ctv::data {

// Every fault reading or writing weights: one line, "FILE: fault".
class WeightsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr const char* kWeightsFormatName = "ctvnet-weights";
inline constexpr std::int64_t kWeightsFormatVersion = 1;

struct ModelRecord {
  std::int64_t in_channels = 2;
  std::vector<std::int64_t> filters{16, 32, 64, 128, 256};  // level 0 first
  std::string norm = "batch";                               // "batch" or "none"
  double bn_momentum = 0.1;
  double bn_eps = 1e-5;
  std::string dtype = "float32";  // "float32" or "float64"
  std::uint64_t init_seed = 0;    // informational: the seed the training started from
};

struct WeightsTensor {
  h5::Array values;
  std::string layout;  // "KTRSC", "CTRSK", "C" or "scalar"
};

struct AdamRecord {
  double lr = 1e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-7;
};

struct RngRecord {
  std::uint64_t seed = 0, stream = 0, state = 0;
};

struct CheckpointRecord {
  std::int64_t step = 0;  // the training loop's step count
  AdamRecord adam;
  std::string training_config = "{}";                   // JSON text, as the trainer read it
  std::string training_state = "{}";                    // JSON text: epoch, validation history, ...
  std::map<std::string, WeightsTensor> adam_m, adam_v;  // by parameter name
  std::map<std::string, std::int64_t> adam_steps;       // by parameter name
  std::map<std::string, RngRecord> rngs;                // by the trainer's name for it
};

struct WeightsFile {
  ModelRecord model;
  PreprocessConfig preprocessing;  // how inputs are prepared (data/preprocess.h)
  std::map<std::string, WeightsTensor> tensors;
  std::optional<CheckpointRecord> checkpoint;
  std::string checksum;  // 64 hex digits; set by read_weights and write_weights
  // The whole file as read_weights found it: the SHA-256 its integrity block records (checked
  // against bytes 512 .. end, weights/FORMAT.md "File integrity") and its size in bytes.
  std::string file_sha256;
  std::uint64_t file_bytes = 0;
};

// Sees a file's records and every array's type and shape (no values yet); throws
// WeightsError to refuse it before anything large is read.
using WeightsCheck = std::function<void(const WeightsFile&)>;

// Reads and verifies a weights file or checkpoint. The file is read whole and its integrity
// block checked (data/weights_integrity.h) before HDF5 parses any byte of it, from memory.
// ensures: every record and array read; the file's SHA-256 equal to its integrity block's; the
//   canonical checksum recomputed and equal to the stored one.
// throws WeightsError, one line naming the file and the fault, when: the file is missing or
//   larger than kMaxWeightsFileBytes; it has no integrity block ("not a ctvnet weights file
//   (no integrity block)") or one that does not match ("damaged: ..."), which covers every
//   truncated or altered file; it is not HDF5 or HDF5 finds it damaged; the format name or
//   version is not ours; an attribute is
//   missing, of the wrong kind or out of range (naming it); a dataset has another element
//   type or no layout; an object the format does not define is present; `check` refuses it;
//   a size limit is exceeded (data/h5_tree.h ReadLimits); the checksum differs.
// Nothing is printed.
WeightsFile read_weights(const std::filesystem::path& file, const WeightsCheck& check = {});

// Writes `weights` (its checksum and file fields are ignored) atomically: to a temporary name
// in the same folder, fsync'd, then renamed (data/atomic_file.h). The HDF5 image is built in
// memory after a 512-byte user block, which is then filled in with the integrity block.
// requires: every array's bytes match its shape and type; the records within the ranges
//   read_weights accepts (checked: WeightsError naming the field).
// ensures: returns the checksum now stored in the file; read_weights(file) gives `weights`
//   back with that checksum.
// throws WeightsError naming the file when it exists and overwrite is false, its folder does
//   not exist, or on any I/O fault; `file` is then untouched and no temporary remains.
std::string write_weights(const std::filesystem::path& file, const WeightsFile& weights,
                          bool overwrite = false);

// The checksum write_weights would store for `weights`.
std::string weights_checksum(const WeightsFile& weights);

}  // namespace ctv::data
