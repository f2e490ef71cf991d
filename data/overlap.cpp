#include "data/overlap.h"

#include <limits>
#include <stdexcept>
#include <string>

namespace ctv::data {

double OverlapCounts::dice() const {
  if (pred + ref == 0) return 1.0;
  return 2.0 * double(both) / double(pred + ref);
}

double OverlapCounts::precision() const {
  return pred == 0 ? std::numeric_limits<double>::quiet_NaN() : double(both) / double(pred);
}

double OverlapCounts::recall() const {
  return ref == 0 ? std::numeric_limits<double>::quiet_NaN() : double(both) / double(ref);
}

OverlapCounts count_overlap(const std::vector<float>& pred, const std::vector<float>& ref) {
  if (pred.size() != ref.size())
    throw std::invalid_argument("count_overlap: masks of " + std::to_string(pred.size()) + " and " +
                                std::to_string(ref.size()) + " voxels");
  OverlapCounts c;
  for (std::size_t i = 0; i < pred.size(); ++i) {
    const bool p = pred[i] > 0.5f, r = ref[i] > 0.5f;
    c.pred += p;
    c.ref += r;
    c.both += p && r;
  }
  return c;
}

}  // namespace ctv::data
