// The integrity block of weights files (see data/weights_integrity.h), in plain POSIX I/O and
// data::Sha256: no HDF5 call here, so whatever this refuses never reaches the library.
#include "data/weights_integrity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "data/sha256.h"

namespace ctv::data {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kDigestAt = kIntegrityMagic.size();  // 30
constexpr std::size_t kDigestEnd = kDigestAt + 64;         // the '\n' after the digits
constexpr std::string_view kHdf5Signature{"\x89HDF\r\n\x1a\n", 8};

bool starts_with(std::span<const std::uint8_t> image, std::string_view prefix) {
  return image.size() >= prefix.size() &&
         std::memcmp(image.data(), prefix.data(), prefix.size()) == 0;
}

[[noreturn]] void refuse(const fs::path& file, const std::string& what) {
  throw IntegrityError(file.string() + ": " + what);
}

}  // namespace

std::string image_sha256(std::span<const std::uint8_t> image) {
  if (image.size() < kIntegrityBlockBytes)
    throw std::invalid_argument("image_sha256: image shorter than its integrity block");
  Sha256 h;
  h.update(image.data() + kIntegrityBlockBytes, image.size() - kIntegrityBlockBytes);
  return h.hex();
}

void seal_image(std::span<std::uint8_t> image) {
  if (image.size() < kIntegrityBlockBytes)
    throw std::invalid_argument("seal_image: image shorter than its integrity block");
  const std::string digest = image_sha256(image);
  std::fill(image.begin(), image.begin() + kIntegrityBlockBytes, std::uint8_t{0});
  std::memcpy(image.data(), kIntegrityMagic.data(), kIntegrityMagic.size());
  std::memcpy(image.data() + kDigestAt, digest.data(), 64);
  image[kDigestEnd] = '\n';
}

std::string integrity_fault(std::span<const std::uint8_t> image) {
  if (image.size() < kIntegrityBlockBytes && !image.empty() &&
      kIntegrityMagic.starts_with(std::string_view(reinterpret_cast<const char*>(image.data()),
                                                   std::min(image.size(), kDigestAt))))
    return "damaged: truncated to " + std::to_string(image.size()) +
           " bytes, within its integrity block";
  if (image.size() < kIntegrityBlockBytes || !starts_with(image, kIntegrityMagic))
    return starts_with(image, kHdf5Signature)
               ? "is HDF5 but not a ctvnet weights file (no integrity block)"
               : "is not a ctvnet weights file (no integrity block)";
  const auto* digits = reinterpret_cast<const char*>(image.data() + kDigestAt);
  const std::string recorded(digits, 64);
  const bool well_formed =
      std::all_of(recorded.begin(), recorded.end(),
                  [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }) &&
      image[kDigestEnd] == '\n' &&
      std::all_of(image.begin() + kDigestEnd + 1, image.begin() + kIntegrityBlockBytes,
                  [](std::uint8_t b) { return b == 0; });
  if (!well_formed) return "damaged: its integrity block is malformed";
  const std::string computed = image_sha256(image);
  if (computed != recorded)
    return "damaged: file SHA-256 does not match its integrity block (recorded " +
           recorded.substr(0, 16) + "..., computed " + computed.substr(0, 16) + "... over " +
           std::to_string(image.size()) + " bytes): the file was truncated or altered";
  return "";
}

SealedFile read_sealed_file(const fs::path& file, std::uint64_t max_bytes) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) refuse(file, "does not exist");
    refuse(file, std::string("cannot be opened: ") + std::strerror(e));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) refuse(file, std::string("cannot be read: ") + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) refuse(file, "is a folder");
  if (!S_ISREG(st.st_mode)) refuse(file, "is not a regular file");
  const auto too_large = [&](std::uint64_t n) {
    refuse(file, "is " + std::to_string(n) + " bytes, more than the " + std::to_string(max_bytes) +
                     " a weights file may hold");
  };
  if (std::uint64_t(st.st_size) > max_bytes) too_large(std::uint64_t(st.st_size));
  SealedFile out;
  // One byte more than stat said, so a file that grows while we read is noticed.
  out.bytes.resize(std::size_t(st.st_size) + 1);
  std::size_t done = 0;
  for (;;) {
    if (done == out.bytes.size()) {
      if (done > max_bytes) too_large(done);
      out.bytes.resize(std::min<std::uint64_t>(2 * done, max_bytes + 1));
    }
    const ssize_t n = ::read(fd, out.bytes.data() + done, out.bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) refuse(file, std::string("cannot be read: ") + std::strerror(errno));
    if (n == 0) break;
    done += std::size_t(n);
  }
  if (done > max_bytes) too_large(done);
  out.bytes.resize(done);
  if (const std::string fault = integrity_fault(out.bytes); !fault.empty()) refuse(file, fault);
  out.sha256.assign(reinterpret_cast<const char*>(out.bytes.data() + kDigestAt), 64);
  return out;
}

}  // namespace ctv::data
