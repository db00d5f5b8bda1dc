#include "runtime/mixup.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <stdexcept>

namespace radpipe::host {

MixupDraw draw_mixup(double alpha, std::size_t batch_size, const std::vector<std::uint64_t>& seeds) {
  if (!(alpha > 0)) throw std::invalid_argument("mixup's alpha must be positive");
  std::vector<std::uint32_t> words;
  for (const std::uint64_t seed : seeds) {
    words.push_back(static_cast<std::uint32_t>(seed));
    words.push_back(static_cast<std::uint32_t>(seed >> 32));
  }
  std::seed_seq sequence(words.begin(), words.end());
  std::mt19937_64 random(sequence);
  // Beta(alpha, alpha) as X / (X + Y) with X, Y ~ Gamma(alpha, 1).
  std::gamma_distribution<double> gamma(alpha, 1.0);
  const double x = gamma(random), y = gamma(random);
  MixupDraw draw;
  draw.lambda = x + y > 0 ? x / (x + y) : 1.0; // both underflowed (a tiny alpha): no mixing
  draw.partner.resize(batch_size);
  std::iota(draw.partner.begin(), draw.partner.end(), std::int64_t{0});
  std::shuffle(draw.partner.begin(), draw.partner.end(), random);
  return draw;
}

} // namespace radpipe::host
