// Portable pseudo-random numbers: the same seed gives the same numbers on every compiler,
// standard library and machine (unlike std::uniform_real_distribution, whose output is
// implementation-defined). Generator: splitmix64 (Steele, Lea, Flood 2014), a 64-bit counter
// advanced by a fixed odd constant and finalised by a bijective mixer.
//
// Streams: Rng(seed, stream) gives an independent sequence per stream id, so each parameter
// tensor can draw from its own stream and its values do not depend on initialisation order.
#pragma once
#include <cstdint>

namespace ctv {

// The splitmix64 finaliser: a bijection on 64-bit integers with good avalanche.
std::uint64_t splitmix64_mix(std::uint64_t z);

class Rng {
 public:
  explicit Rng(std::uint64_t seed, std::uint64_t stream = 0);

  std::uint64_t next_u64();
  // ensures: k * 2^-53 for a uniform k in [0, 2^53): exact, in [0, 1).
  double uniform();
  // ensures: lo + (hi - lo) * uniform(), in [lo, hi) up to the rounding of that expression.
  double uniform(double lo, double hi);
  // Standard normal by Box-Muller. Uses std::log/std::sqrt/std::cos, so its last bit may differ
  // between math libraries (uniform() never does); nothing in the initialisers uses it.
  double normal();
  // An independent generator for `stream`, derived from this one's seed and stream.
  Rng split(std::uint64_t stream) const;

  std::uint64_t state() const { return state_; }
  std::uint64_t seed() const { return seed_; }
  std::uint64_t stream() const { return stream_; }
  // A generator exactly where one with these seed(), stream() and state() was, so that a
  // resumed run draws the numbers the interrupted one would have drawn (checkpoints).
  static Rng restore(std::uint64_t seed, std::uint64_t stream, std::uint64_t state);

 private:
  std::uint64_t seed_, stream_, state_;
};

}  // namespace ctv
