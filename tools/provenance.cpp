#include "tools/provenance.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "ctv/version.h"
#include "data/atomic_file.h"
#include "data/sha256.h"
#include "tools/command.h"

namespace ctv::cli {

namespace fs = std::filesystem;

std::string sha256_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(file.string() + ": cannot open to compute its checksum");
  data::Sha256 sha;
  std::array<char, 1 << 16> buf;
  while (in) {
    in.read(buf.data(), buf.size());
    if (in.gcount() > 0) sha.update(buf.data(), std::size_t(in.gcount()));
  }
  if (in.bad())
    throw std::runtime_error(file.string() + ": read error while computing its checksum");
  return sha.hex();
}

namespace {

// A command writing several outputs from the same inputs (ctv report) hashes each input once:
// the checksum is reused while the file's size and modification time are unchanged.
std::string sha256_file_cached(const fs::path& file) {
  struct Entry {
    std::uintmax_t size;
    fs::file_time_type mtime;
    std::string sha256;
  };
  static std::map<std::string, Entry> cache;
  const std::string key = fs::absolute(file).lexically_normal().string();
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(file, ec);
  const fs::file_time_type mtime = fs::last_write_time(file, ec);
  if (ec) return sha256_file(file);
  if (const auto it = cache.find(key);
      it != cache.end() && it->second.size == size && it->second.mtime == mtime)
    return it->second.sha256;
  std::string hex = sha256_file(file);
  cache[key] = {size, mtime, hex};
  return hex;
}

}  // namespace

fs::path sidecar_path(const fs::path& output) { return fs::path(output.string() + ".json"); }

void write_provenance(const fs::path& output, const Provenance& p, bool overwrite) {
  nlohmann::json j;
  j["ctvnet_version"] = build::kVersion;
  j["ctvnet_commit"] = build::kCommit;
  j["command_line"] = command_line();
  j["output"] = output.filename().string();
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  j["created_utc"] = when;
  j["model_checksum"] =
      p.model_checksum.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.model_checksum);
  if (p.elapsed_s >= 0) j["elapsed_s"] = p.elapsed_s;
  j["inputs"] = nlohmann::json::array();
  for (const fs::path& in : p.inputs)
    j["inputs"].push_back({{"path", fs::absolute(in).lexically_normal().string()},
                           {"sha256", sha256_file_cached(in)}});
  const std::string text = j.dump(2) + "\n";
  data::write_file_atomically(
      sidecar_path(output),
      [&](const fs::path& tmp) {
        std::ofstream out(tmp, std::ios::binary);
        out << text;
        if (!out.flush()) throw data::FileWriteError(tmp.string() + ": write failed");
      },
      overwrite);
}

std::optional<double> read_elapsed_seconds(const fs::path& output) {
  std::ifstream in(sidecar_path(output));
  if (!in) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  const auto it = j.find("elapsed_s");
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

}  // namespace ctv::cli
