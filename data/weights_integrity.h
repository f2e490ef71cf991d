// The fence in front of HDF5 (weights/FORMAT.md, "File integrity: the user block"): the first
// 512 bytes of a weights file, which HDF5 skips as its user block, hold a magic line and the
// SHA-256 of every byte after them. A file is read whole into memory and checked here before
// the HDF5 library parses any of it, because Debian's HDF5 1.10.8 crashes on some single-bit
// changes of a valid file (tests/fuzz/known/weights); HDF5 is then handed those same bytes in
// memory (data/h5_tree.h read_tree), so nothing can change between the check and the parse.
//
// Layout of the block (the integrity block), 512 bytes:
//   bytes 0 .. 29    the ASCII magic line "ctvnet-weights-file-sha256-v1\n"
//   bytes 30 .. 93   64 lower-case hex digits: SHA-256 of file bytes 512 .. end
//   byte 94          '\n'
//   bytes 95 .. 511  zero
// Nothing here knows HDF5: the block is plain bytes, and the HDF5 image starts at byte 512.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ctv::data {

// A file refused by the fence: one line, "FILE: fault".
class IntegrityError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::size_t kIntegrityBlockBytes = 512;
inline constexpr std::string_view kIntegrityMagic = "ctvnet-weights-file-sha256-v1\n";
// The largest weights file read (a checkpoint of the full-size float64 network is ~0.1 GiB).
inline constexpr std::uint64_t kMaxWeightsFileBytes = std::uint64_t{2} << 30;

// Fills in the integrity block of a file image whose HDF5 part starts at byte 512.
// requires: image.size() >= kIntegrityBlockBytes (std::invalid_argument otherwise).
// ensures: bytes 0 .. 511 are the block for bytes 512 .. end; nothing else changes.
void seal_image(std::span<std::uint8_t> image);

// The SHA-256 (64 lower-case hex digits) of the image's bytes 512 .. end.
// requires: image.size() >= kIntegrityBlockBytes.
std::string image_sha256(std::span<const std::uint8_t> image);

// Why the image's integrity block does not vouch for it, or "" when it does. One line, no file
// name: "is not a ctvnet weights file (no integrity block)" (too short, or no magic; "is HDF5
// but ..." when the file starts with HDF5's own signature: HDF5 without our block), "damaged:
// its integrity block is malformed", "damaged: file SHA-256 does not match its integrity
// block (...)", "damaged: truncated to N bytes, within its integrity block".
std::string integrity_fault(std::span<const std::uint8_t> image);

// A weights file read whole and checked.
struct SealedFile {
  std::vector<std::uint8_t> bytes;  // the whole file, integrity block included
  std::string sha256;               // as its block records it (== image_sha256(bytes))
};

// Reads `file` whole and checks its integrity block; HDF5 is not called.
// ensures: the block is present, well formed and matches the rest of the file.
// throws IntegrityError naming the file when: it does not exist, is a folder or not a regular
//   file, cannot be read, holds more than max_bytes (refused before reading), or
//   integrity_fault() finds a fault.
SealedFile read_sealed_file(const std::filesystem::path& file,
                            std::uint64_t max_bytes = kMaxWeightsFileBytes);

}  // namespace ctv::data
