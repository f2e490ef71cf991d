// Overlap of two masks on one grid (SPEC section 5): a mask is the voxels > 0.5.
#pragma once

#include <cstdint>
#include <vector>

namespace ctv::data {

struct OverlapCounts {
  std::int64_t pred = 0, ref = 0, both = 0;  // |P|, |R|, |P and R| in voxels

  // DSC = 2|P and R| / (|P| + |R|); 1 when both masks are empty.
  double dice() const;
  // |P and R| / |P|; NaN when P is empty.
  double precision() const;
  // |P and R| / |R|; NaN when R is empty.
  double recall() const;
};

// requires: pred.size() == ref.size() (std::invalid_argument otherwise).
OverlapCounts count_overlap(const std::vector<float>& pred, const std::vector<float>& ref);

}  // namespace ctv::data
