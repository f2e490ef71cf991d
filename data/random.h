// Portable seeded random numbers for data/ (augmentation, and any data-side draw): the same
// seed gives the same uniform numbers on every compiler, standard library and machine.
//
// Generator: splitmix64 (Steele, Lea, Flood 2014), the same generator as engine/rng.h. data/
// must not depend on engine/ (tools -> unet3d -> engine -> kernels, tools/unet3d -> data), and
// no library sits below both, so data/ keeps its own ~30 lines rather than a new layer.
// Streams are keyed by a tuple of ids (e.g. seed, patient, copy): each key gives its own
// sequence, independent of the order in which streams are created or which thread uses them.
#pragma once

#include <cstdint>
#include <initializer_list>

namespace ctv::data {

class SplitMix64 {
 public:
  // A stream for the key (seed, ids...): each id is folded into the state through the mixer in
  // turn, so (seed, 1, 2) and (seed, 2, 1) are different streams.
  explicit SplitMix64(std::uint64_t seed, std::initializer_list<std::uint64_t> ids = {});

  std::uint64_t next_u64();
  // ensures: k * 2^-53 for a uniform k in [0, 2^53): exact, in [0, 1).
  double uniform();
  // Standard normal by Box-Muller (one value per call; the second is discarded so the stream
  // position does not depend on call history). Uses std::log/std::sqrt/std::cos: the last bit
  // may differ between math libraries, never between runs or thread counts on one machine.
  double normal();

 private:
  std::uint64_t state_;
};

}  // namespace ctv::data
