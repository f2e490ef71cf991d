// SHA-256 over OpenSSL's EVP interface (see data/sha256.h).
#include "data/sha256.h"

#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <stdexcept>

namespace ctv::data {

struct Sha256::Context {
  EVP_MD_CTX* md = nullptr;
};

Sha256::Sha256() : ctx_(std::make_unique<Context>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 is not available from libcrypto");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_->md); }

void Sha256::update(const void* bytes, std::size_t n) {
  if (n > 0 && EVP_DigestUpdate(ctx_->md, bytes, n) != 1)
    throw std::runtime_error("SHA-256: digest update failed");
}

std::string Sha256::hex() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned len = 0;
  if (EVP_DigestFinal_ex(ctx_->md, md.data(), &len) != 1)
    throw std::runtime_error("SHA-256: digest finalisation failed");
  std::string out;
  char two[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(two, sizeof two, "%02x", md[i]);
    out += two;
  }
  return out;
}

}  // namespace ctv::data
