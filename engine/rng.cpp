// splitmix64 streams (see engine/rng.h).
#include "engine/rng.h"

#include <cmath>

namespace ctv {

namespace {
constexpr std::uint64_t kGamma = 0x9E3779B97F4A7C15ull;  // splitmix64's increment
}

std::uint64_t splitmix64_mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

Rng::Rng(std::uint64_t seed, std::uint64_t stream)
    : seed_(seed),
      stream_(stream),
      state_(splitmix64_mix(seed) ^ splitmix64_mix(~stream * kGamma)) {}

std::uint64_t Rng::next_u64() {
  state_ += kGamma;
  return splitmix64_mix(state_);
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double Rng::normal() {
  const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

Rng Rng::restore(std::uint64_t seed, std::uint64_t stream, std::uint64_t state) {
  Rng r(seed, stream);
  r.state_ = state;
  return r;
}

Rng Rng::split(std::uint64_t stream) const {
  return Rng(splitmix64_mix(seed_ ^ splitmix64_mix(stream_ + kGamma)), stream);
}

}  // namespace ctv
