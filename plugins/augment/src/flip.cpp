#include "flip.hpp"

#include <opencv2/core.hpp>
#include <radpipe/image.hpp>

#include "seeding.hpp"

namespace radpipe::augment {

Schema RandomFlip::schema() {
  return Schema{
      ParamSpec::real("horizontal", "Probability of mirroring left-right").with_default(0.5).in_range(0, 1),
      ParamSpec::real("vertical", "Probability of mirroring top-bottom").with_default(0.0).in_range(0, 1),
  };
}

RandomFlip::RandomFlip(const Params& params, const StageContext& /*context*/)
    : horizontal_(params.real("horizontal")), vertical_(params.real("vertical")), salt_(stage_salt(name, params)) {}

FlipDraw RandomFlip::draw(std::uint64_t index, const TransformContext& context) const {
  std::mt19937_64 generator = sample_generator(salt_, context, index);
  FlipDraw result;
  result.horizontal = chance(generator, horizontal_);
  result.vertical = chance(generator, vertical_);
  return result;
}

void RandomFlip::apply(Sample& sample, const TransformContext& context) const {
  require_radpipe_image(sample, name);
  const FlipDraw drawn = draw(sample.info.index, context);
  if (!drawn.horizontal && !drawn.vertical) return;
  // cv::flip's code: 1 about the vertical axis (left-right), 0 about the horizontal, -1 both.
  const int code = drawn.horizontal && drawn.vertical ? -1 : (drawn.horizontal ? 1 : 0);
  cv::Mat flipped;
  cv::flip(sample.image, flipped, code);
  sample.image = std::move(flipped);
}

} // namespace radpipe::augment
