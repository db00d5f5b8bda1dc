#include "runtime/tensor.hpp"

#include <torch/torch.h>

#include <opencv2/core.hpp>
#include <stdexcept>

#include "runtime/device.hpp"

namespace radpipe::host {

namespace {

torch::Tensor assemble(std::span<const Sample> samples, int channels, const torch::Device& device) {
  if (samples.empty()) throw std::runtime_error("no samples to batch");
  const cv::Size size = samples.front().image.size();
  auto batch = torch::empty({static_cast<long>(samples.size()), channels, size.height, size.width},
                            host_batch_options(device));
  for (std::size_t n = 0; n < samples.size(); ++n) {
    const Sample& sample = samples[n];
    const cv::Mat& image = sample.image;
    if (image.empty())
      throw std::runtime_error("sample " + sample.info.id + " (" + sample.info.path + ") has no pixels");
    if (image.size() != size)
      throw std::runtime_error("sample " + sample.info.id + " is " + std::to_string(image.cols) + "x" +
                               std::to_string(image.rows) + " but the batch is " +
                               std::to_string(size.width) + "x" + std::to_string(size.height) +
                               ": add a [[preprocess]] stage = \"resize\" so that every image has one size");
    if (image.channels() != 1 && image.channels() != 3)
      throw std::runtime_error("sample " + sample.info.id + " has " + std::to_string(image.channels()) +
                               " channels; expected 1 or 3");
    if (image.channels() == 3 && channels == 1)
      throw std::runtime_error(
          "sample " + sample.info.id +
          " has 3 channels but the model takes 1: add a [[preprocess]] stage = \"grayscale\"");

    // A normalized image is float already: converting it would only copy it once more, on the
    // thread that feeds the model.
    cv::Mat as_float = image;
    if (image.depth() != CV_32F) {
      double scale = 1.0;
      if (image.depth() == CV_8U)
        scale = 1.0 / 255.0;
      else if (image.depth() == CV_16U)
        scale = 1.0 / 65535.0;
      image.convertTo(as_float, CV_MAKETYPE(CV_32F, image.channels()), scale);
    }

    // Split channels straight into the tensor's planes: no per-pixel loop, no extra copy.
    float* base = batch[static_cast<long>(n)].data_ptr<float>();
    const std::size_t plane = static_cast<std::size_t>(size.area());
    std::vector<cv::Mat> planes;
    for (int c = 0; c < image.channels(); ++c) planes.emplace_back(size, CV_32F, base + c * plane);
    cv::split(as_float, planes);
    for (int c = image.channels(); c < channels; ++c)
      planes.front().copyTo(cv::Mat(size, CV_32F, base + c * plane));
  }
  return batch;
}

} // namespace

torch::Tensor samples_to_tensor(std::span<const Sample> samples, int channels) {
  return assemble(samples, channels, torch::Device(torch::kCPU));
}

torch::Tensor samples_to_device(std::span<const Sample> samples, int channels, const torch::Device& device) {
  return to_device(assemble(samples, channels, device), device);
}

} // namespace radpipe::host
