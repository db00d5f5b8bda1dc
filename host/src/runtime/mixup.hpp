// mixup (Zhang et al., 2018): each training batch is replaced by convex combinations of its
// images with those of a shuffled copy of itself, lambda x_i + (1 - lambda) x_partner(i), and the
// loss by the same combination of the losses against both labels. lambda ~ Beta(alpha, alpha), one
// draw per batch; small alphas keep most batches close to their own images.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace radpipe::host {

struct MixupDraw {
  double lambda = 1.0;
  std::vector<std::int64_t> partner; // partner[i]: the image mixed into image i
};

// One batch's draw, a function of `seeds` alone (the run's seed, the step, the rank), so that a
// resumed run mixes as the uninterrupted one did.
MixupDraw draw_mixup(double alpha, std::size_t batch_size, const std::vector<std::uint64_t>& seeds);

} // namespace radpipe::host
