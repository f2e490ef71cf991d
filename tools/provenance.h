// Provenance sidecars (SPEC section 1): every output file F gets F.json with the ctvnet
// version and commit, the command line, the model checksum and each input's SHA-256.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ctv::cli {

// Lower-case hex SHA-256 of a file's bytes. throws std::runtime_error naming the file.
std::string sha256_file(const std::filesystem::path& file);

struct Provenance {
  std::vector<std::filesystem::path> inputs;
  std::string model_checksum;  // empty when no model was involved
  // Wall-clock seconds spent making the output (the contouring time of a predicted or expanded
  // CTV, read back by `ctv report`); negative when not measured, and then not written.
  double elapsed_s = -1;
};

// Writes `<output>.json` atomically. ensures: never leaves a partial sidecar.
void write_provenance(const std::filesystem::path& output, const Provenance& p, bool overwrite);

// The "elapsed_s" of an output's sidecar; nullopt when the sidecar is missing, unreadable or
// has no such number (outputs of other tools, or of older versions).
std::optional<double> read_elapsed_seconds(const std::filesystem::path& output);

// The sidecar's name for an output file.
std::filesystem::path sidecar_path(const std::filesystem::path& output);

}  // namespace ctv::cli
