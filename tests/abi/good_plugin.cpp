// A well-formed plugin: the control case of the ABI tests, and proof that an object made by a
// plugin keeps its library loaded.
#include <radpipe/plugin.hpp>

#include <opencv2/core.hpp>

#include <fstream>
#include <iomanip>

namespace {
class AddOffset : public radpipe::Transform {
public:
  AddOffset(const radpipe::Params& params, const radpipe::StageContext&) : offset_(params.real("offset")) {}
  void apply(radpipe::Sample& sample, const radpipe::TransformContext&) const override { cv::add(sample.image, cv::Scalar::all(offset_), sample.image); }

private:
  double offset_;
};

// A transform with learned state: subtracts the mean intensity of the training images, which it
// fits in one pass and keeps in a state file beside the model.
class SubtractTrainingMean : public radpipe::Transform {
public:
  SubtractTrainingMean(const radpipe::Params&, const radpipe::StageContext&) {}
  void apply(radpipe::Sample& sample, const radpipe::TransformContext&) const override {
    if (!fitted_) throw radpipe::StageError("subtract_training_mean used before it was fitted or loaded");
    sample.image.convertTo(sample.image, CV_32F);
    cv::subtract(sample.image, cv::Scalar::all(mean_), sample.image);
  }
  bool needs_fit() const override { return true; }
  void fit_begin() override { sum_ = count_ = 0; }
  void fit_add(const radpipe::Sample& sample) override {
    sum_ += cv::sum(sample.image)[0];
    count_ += static_cast<double>(sample.image.total());
  }
  void fit_end() override {
    mean_ = count_ > 0 ? sum_ / count_ : 0.0;
    fitted_ = true;
  }
  void save_state(const std::filesystem::path& file) const override { std::ofstream(file) << std::setprecision(17) << mean_ << '\n'; }
  void load_state(const std::filesystem::path& file) override {
    std::ifstream in(file);
    if (!(in >> mean_)) throw radpipe::StageError("cannot read the state file " + file.string());
    fitted_ = true;
  }

private:
  double sum_ = 0, count_ = 0, mean_ = 0;
  bool fitted_ = false;
};

void register_stages(radpipe::PluginRegistrar& registrar) {
  registrar.add<SubtractTrainingMean>("subtract_training_mean", "Subtracts the training images' mean intensity (fitted)", {});
  registrar.add<AddOffset>("add_offset", "Adds a constant to every pixel",
                           radpipe::Schema{radpipe::ParamSpec::real("offset", "Value added").with_default(radpipe::ParamValue{1.0})});
}
} // namespace

RADPIPE_PLUGIN("abi_good", "1.0.0", "A correct plugin for the loader tests", register_stages)
