// splitmix64 streams for data/ (see data/random.h).
#include "data/random.h"

#include <cmath>

namespace ctv::data {

namespace {

constexpr std::uint64_t kGamma = 0x9E3779B97F4A7C15ull;  // splitmix64's increment

std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

SplitMix64::SplitMix64(std::uint64_t seed, std::initializer_list<std::uint64_t> ids)
    : state_(mix(seed)) {
  // Each id moves the state through the mixer (a bijection for a fixed state), so the order of
  // ids matters and distinct keys start from distinct states but for a 64-bit collision.
  for (std::uint64_t id : ids) state_ = mix(state_ + kGamma * (id + 1));
}

std::uint64_t SplitMix64::next_u64() {
  state_ += kGamma;
  return mix(state_);
}

double SplitMix64::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double SplitMix64::normal() {
  const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace ctv::data
