// A model without BatchNorm or dropout for the distributed-training tests: one linear layer over
// the pixels. With it, 2 ranks of batch B must reach the weights of 1 process of batch 2B (the
// torch_models stages all hold BatchNorm, whose batch statistics are each rank's own).
#include <torch/torch.h>

#include <radpipe/model.hpp>
#include <radpipe/plugin.hpp>

namespace {

class LinearModel final : public radpipe::Model {
 public:
  LinearModel(const radpipe::Params& params, const radpipe::StageContext&)
      : pixels_(params.integer("size") * params.integer("size")), linear_(pixels_, 1) {}

  static radpipe::Schema schema() {
    radpipe::Schema schema;
    schema.add(radpipe::ParamSpec::integer("size", "Side of the square grey input images, in pixels")
                   .with_default(16)
                   .in_range(1, 256));
    return schema;
  }

  int input_channels() const override { return 1; }
  int num_outputs() const override { return 1; }
  radpipe::ModelOutput forward(const torch::Tensor& images) override {
    if (images.dim() != 4 || images.size(1) * images.size(2) * images.size(3) != pixels_)
      throw radpipe::StageError("size", "the images do not have size x size grey pixels");
    return {linear_->forward(images.flatten(1)), images};
  }
  torch::nn::Module* trainable() override { return linear_.get(); }
  void to(const torch::Device& device) override { linear_->to(device); }
  torch::Device device() const override { return linear_->weight.device(); }
  void set_training(bool on) override { linear_->train(on); }
  void save_weights(const std::filesystem::path& file) const override {
    torch::serialize::OutputArchive archive;
    for (const auto& item : linear_->named_parameters()) archive.write(item.key(), item.value());
    archive.save_to(file.string());
  }
  void load_weights(const std::filesystem::path& file) override {
    torch::serialize::InputArchive archive;
    archive.load_from(file.string());
    torch::NoGradGuard no_gradients;
    for (auto& item : linear_->named_parameters()) {
      torch::Tensor value;
      archive.read(item.key(), value);
      item.value().copy_(value);
    }
  }

 private:
  std::int64_t pixels_;
  torch::nn::Linear linear_;
};

void register_stages(radpipe::PluginRegistrar& registrar) {
  registrar.add<LinearModel>("test_linear",
                             "One linear layer over the pixels (tests of distributed training)",
                             LinearModel::schema());
}

} // namespace

RADPIPE_PLUGIN("test_linear", "0.1.0", "A linear model for the distributed-training tests", register_stages)
