#include "affine.hpp"

#include <cmath>
#include <numbers>
#include <opencv2/imgproc.hpp>
#include <radpipe/error.hpp>
#include <radpipe/image.hpp>
#include <string>
#include <vector>

#include "seeding.hpp"

namespace radpipe::augment {
namespace {

int border_flag(const std::string& fill) {
  if (fill == "constant") return cv::BORDER_CONSTANT;
  if (fill == "reflect") return cv::BORDER_REFLECT_101;
  if (fill == "replicate") return cv::BORDER_REPLICATE;
  throw StageError("fill", "\"" + fill + "\" is not a fill; use \"constant\", \"reflect\" or \"replicate\"");
}

int interpolation_flag(const std::string& name) {
  if (name == "linear") return cv::INTER_LINEAR;
  if (name == "nearest") return cv::INTER_NEAREST;
  if (name == "cubic") return cv::INTER_CUBIC;
  throw StageError("interpolation",
                   "\"" + name + "\" is not an interpolation; use \"linear\", \"nearest\" or \"cubic\"");
}

double radians(double degrees) {
  return degrees * std::numbers::pi / 180.0;
}

bool is_identity(const AffineDraw& drawn) {
  return drawn.rotation == 0.0 && drawn.shear == 0.0 && drawn.scale == 1.0 && drawn.translate_x == 0.0 &&
         drawn.translate_y == 0.0;
}

} // namespace

Schema RandomAffine::schema() {
  return Schema{
      ParamSpec::real("rotation", "Largest rotation in degrees; the angle is uniform in [-rotation, rotation]")
          .with_default(30.0)
          .in_range(0, 180),
      ParamSpec::real("shear", "Largest shear along x in degrees; uniform in [-shear, shear]")
          .with_default(0.0)
          .in_range(0, 60),
      ParamSpec::reals("zoom", "[min, max] scale factor, uniform; above 1 zooms in")
          .with_default(ParamValue{std::vector<double>{1.0, 1.0}})
          .items(2, 2)
          .in_range(0.05, 20),
      ParamSpec::real("translate",
                      "Largest shift as a fraction of the width (x) and height (y); each uniform in [-t, t]")
          .with_default(0.0)
          .in_range(0, 1),
      ParamSpec::real("probability", "Probability of warping a sample at all").with_default(1.0).in_range(0, 1),
      ParamSpec::string("fill",
                        "Pixels from outside the image: constant (fill_value), reflect (mirrored, edge "
                        "not repeated) or replicate (edge repeated)")
          .with_default("constant")
          .one_of({"constant", "reflect", "replicate"}),
      ParamSpec::real("fill_value", "Value for fill = \"constant\", in the image's own units (0-255, 0-65535, float)")
          .with_default(0.0),
      ParamSpec::string("interpolation", "Resampling: linear, nearest (for masks) or cubic")
          .with_default("linear")
          .one_of({"linear", "nearest", "cubic"}),
  };
}

RandomAffine::RandomAffine(const Params& params, const StageContext& /*context*/)
    : probability_(params.real("probability")),
      rotation_(params.real("rotation")),
      shear_(params.real("shear")),
      translate_(params.real("translate")),
      border_(border_flag(params.string("fill"))),
      fill_value_(params.real("fill_value")),
      interpolation_(interpolation_flag(params.string("interpolation"))),
      salt_(stage_salt(name, params)) {
  const std::vector<double> zoom = params.reals("zoom");
  if (zoom.size() != 2) throw StageError("zoom", "expected [min, max], got " + std::to_string(zoom.size()) + " numbers");
  if (zoom[0] > zoom[1])
    throw StageError("zoom", "min " + std::to_string(zoom[0]) + " is above max " + std::to_string(zoom[1]));
  zoom_low_ = zoom[0];
  zoom_high_ = zoom[1];
}

AffineDraw RandomAffine::draw(std::uint64_t index, const TransformContext& context) const {
  std::mt19937_64 generator = sample_generator(salt_, context, index);
  // Every parameter is drawn whether or not it is used, so that changing one setting (or the
  // probability outcome) does not shift the others' draws.
  AffineDraw drawn;
  drawn.applied = chance(generator, probability_);
  drawn.rotation = uniform(generator, -rotation_, rotation_);
  drawn.shear = uniform(generator, -shear_, shear_);
  drawn.scale = uniform(generator, zoom_low_, zoom_high_);
  drawn.translate_x = uniform(generator, -translate_, translate_);
  drawn.translate_y = uniform(generator, -translate_, translate_);
  return drawn;
}

cv::Matx23d RandomAffine::matrix(const AffineDraw& drawn, cv::Size size) {
  const double angle = radians(drawn.rotation);
  const double c = std::cos(angle), s = std::sin(angle);
  const cv::Matx22d rotate(c, s, -s, c); // y points down, so this turns counter-clockwise on screen
  const cv::Matx22d shear(1.0, std::tan(radians(drawn.shear)), 0.0, 1.0);
  const cv::Matx22d linear = rotate * shear * drawn.scale;
  const cv::Vec2d centre((size.width - 1) / 2.0, (size.height - 1) / 2.0);
  const cv::Vec2d offset =
      centre + cv::Vec2d(drawn.translate_x * size.width, drawn.translate_y * size.height) - linear * centre;
  return {linear(0, 0), linear(0, 1), offset[0], linear(1, 0), linear(1, 1), offset[1]};
}

cv::Mat RandomAffine::warp(const cv::Mat& image, const AffineDraw& drawn) const {
  cv::Mat warped;
  cv::warpAffine(image, warped, matrix(drawn, image.size()), image.size(), interpolation_, border_,
                 cv::Scalar::all(fill_value_));
  return warped;
}

void RandomAffine::apply(Sample& sample, const TransformContext& context) const {
  require_radpipe_image(sample, name);
  const AffineDraw drawn = draw(sample.info.index, context);
  // An identity warp would only cost time (and, with cubic, could ring at edges): skip it.
  if (!drawn.applied || is_identity(drawn)) return;
  sample.image = warp(sample.image, drawn);
}

} // namespace radpipe::augment
