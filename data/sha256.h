// SHA-256 (through OpenSSL's libcrypto), fed incrementally: the one hasher behind file
// checksums in provenance sidecars and the weights format's canonical checksum.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace ctv::data {

class Sha256 {
 public:
  // throws std::runtime_error when libcrypto offers no SHA-256 (a broken installation).
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  // requires: hex() not yet called.
  void update(const void* bytes, std::size_t n);
  void update(std::string_view text) { update(text.data(), text.size()); }
  // ensures: the 64 lower-case hex digits of the digest of everything fed so far. Call once.
  std::string hex();

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
};

}  // namespace ctv::data
