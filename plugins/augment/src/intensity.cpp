#include "intensity.hpp"

#include <opencv2/core.hpp>
#include <radpipe/error.hpp>
#include <radpipe/image.hpp>
#include <string>
#include <vector>

#include "seeding.hpp"

namespace radpipe::augment {

Schema RandomIntensity::schema() {
  return Schema{
      ParamSpec::real("brightness", "Largest additive shift, as a fraction of the range; uniform in [-b, b]")
          .with_default(0.0)
          .in_range(0, 1),
      ParamSpec::real("contrast", "Largest deviation of the contrast factor from 1; uniform in [1 - c, 1 + c]")
          .with_default(0.0)
          .in_range(0, 1),
      ParamSpec::reals("gamma", "[min, max] exponent applied to the [0, 1] intensities, uniform")
          .with_default(ParamValue{std::vector<double>{1.0, 1.0}})
          .items(2, 2)
          .in_range(0.05, 20),
      ParamSpec::real("noise_std", "Standard deviation of additive Gaussian noise, as a fraction of the range")
          .with_default(0.0)
          .in_range(0, 1),
      ParamSpec::real("autocontrast_probability",
                      "Probability of first stretching the image's own minimum..maximum to the full range")
          .with_default(0.0)
          .in_range(0, 1),
  };
}

RandomIntensity::RandomIntensity(const Params& params, const StageContext& /*context*/)
    : brightness_(params.real("brightness")),
      contrast_(params.real("contrast")),
      noise_std_(params.real("noise_std")),
      autocontrast_probability_(params.real("autocontrast_probability")),
      salt_(stage_salt(name, params)) {
  const std::vector<double> gamma = params.reals("gamma");
  if (gamma.size() != 2)
    throw StageError("gamma", "expected [min, max], got " + std::to_string(gamma.size()) + " numbers");
  if (gamma[0] > gamma[1])
    throw StageError("gamma", "min " + std::to_string(gamma[0]) + " is above max " + std::to_string(gamma[1]));
  gamma_low_ = gamma[0];
  gamma_high_ = gamma[1];
}

IntensityDraw RandomIntensity::draw(std::uint64_t index, const TransformContext& context) const {
  std::mt19937_64 generator = sample_generator(salt_, context, index);
  // A fixed number of draws in a fixed order, whatever the settings.
  IntensityDraw drawn;
  drawn.autocontrast = chance(generator, autocontrast_probability_);
  drawn.gamma = uniform(generator, gamma_low_, gamma_high_);
  drawn.contrast = uniform(generator, 1.0 - contrast_, 1.0 + contrast_);
  drawn.brightness = uniform(generator, -brightness_, brightness_);
  drawn.noise_seed = generator();
  return drawn;
}

void RandomIntensity::apply(Sample& sample, const TransformContext& context) const {
  require_radpipe_image(sample, name);
  const IntensityDraw drawn = draw(sample.info.index, context);
  if (!drawn.autocontrast && drawn.gamma == 1.0 && drawn.contrast == 1.0 && drawn.brightness == 0.0 &&
      noise_std_ == 0.0)
    return; // nothing to do: keep the pixels bit for bit

  const int depth = sample.image.depth();
  const double range = depth_maximum(depth);
  cv::Mat x;
  sample.image.convertTo(x, CV_32F, 1.0 / range);

  if (drawn.autocontrast) {
    double low = 0.0, high = 0.0;
    cv::minMaxLoc(x.reshape(1), &low, &high);
    if (high > low) {
      cv::subtract(x, cv::Scalar::all(low), x);
      cv::divide(x, cv::Scalar::all(high - low), x);
    }
  }
  if (drawn.gamma != 1.0) {
    cv::max(x, cv::Scalar::all(0.0), x); // cv::pow would take |x| for a fractional exponent
    cv::pow(x, drawn.gamma, x);
  }
  if (drawn.contrast != 1.0) {
    // About the mean over all channels, so that contrast changes leave the average brightness alone.
    const cv::Scalar channel_means = cv::mean(x);
    double mean = 0.0;
    for (int c = 0; c < x.channels(); ++c) mean += channel_means[c];
    mean /= x.channels();
    x.convertTo(x, CV_32F, drawn.contrast, mean * (1.0 - drawn.contrast));
  }
  if (drawn.brightness != 0.0) cv::add(x, cv::Scalar::all(drawn.brightness), x);
  if (noise_std_ > 0.0) {
    // cv::RNG is a value with its own state, unlike cv::randn, which uses OpenCV's shared generator.
    cv::RNG noise_generator(drawn.noise_seed);
    cv::Mat noise(x.size(), x.type());
    noise_generator.fill(noise, cv::RNG::NORMAL, cv::Scalar::all(0.0), cv::Scalar::all(noise_std_));
    cv::add(x, noise, x);
  }

  if (depth == CV_32F) {
    sample.image = std::move(x);
  } else {
    cv::Mat result;
    x.convertTo(result, depth, range); // rounds and saturates to the depth
    sample.image = std::move(result);
  }
}

} // namespace radpipe::augment
