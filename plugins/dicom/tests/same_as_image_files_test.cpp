// An 8-bit DICOM holding exactly the pixels of an image file reaches the model as that file does:
// the real plugins (readers' image_files, dicom, transforms), loaded as the host loads them,
// streamed through the host's SampleStream with the same preprocessing, and stacked by the host's
// one tensor conversion, give identical tensors. The pixels are those of a FracAtlas radiograph
// (a colour JPEG), written by the test as PNG and as DICOM.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <radpipe/testing.hpp>

#include "dicom_files.hpp"
#include "runtime/sample_stream.hpp"
#include "runtime/tensor.hpp"

namespace {

namespace fs = std::filesystem;
using namespace radpipe;
using namespace radpipe::host;
using radpipe::dicom::testing::DicomSpec;
using radpipe::dicom::testing::Encoding;
using radpipe::dicom::testing::Photometric;

class SameAsImageFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    plugins_ = std::make_unique<PluginHost>();
    plugins_->load_folders({RADPIPE_PLUGIN_DIR});
  }
  static void TearDownTestSuite() { plugins_.reset(); }

  // The reader `name` with `params`, every sample through `preprocess` (stage name and params),
  // as tensors of `channels` channels keyed by sample id.
  std::map<std::string, torch::Tensor> tensors(
      const std::string& reader_name, std::map<std::string, ParamValue> params,
      const std::vector<std::pair<std::string, std::map<std::string, ParamValue>>>& preprocess,
      int channels) {
    const auto entry = plugins_->find(StageKind::Reader, reader_name);
    EXPECT_TRUE(entry) << reader_name;
    Built<Reader> reader{
        *entry, plugins_->create<Reader>(*entry, resolve_params(entry->stage->schema, std::move(params)),
                                         StageContext{})};
    std::vector<Built<Transform>> transforms;
    for (const auto& [name, values] : preprocess) {
      const auto transform = plugins_->find(StageKind::Transform, name);
      EXPECT_TRUE(transform) << name;
      transforms.push_back(
          {*transform, plugins_->create<Transform>(
                           *transform, resolve_params(transform->stage->schema, values), StageContext{})});
    }
    SampleStream stream(reader_source(*reader.stage), reader, transforms, StreamOptions{});
    std::map<std::string, torch::Tensor> result;
    while (auto sample = stream.next()) {
      const std::string id = fs::path(sample->info.id).stem().string();
      result[id] = samples_to_tensor(std::span<const Sample>(&*sample, 1), channels);
    }
    EXPECT_TRUE(stream.skipped().empty()) << stream.skipped().front().reason;
    return result;
  }

  // A FracAtlas radiograph, its range narrowed to 20..224 so that any stretching would show.
  static cv::Mat radiograph_rgb() {
    cv::Mat bgr =
        cv::imread((fs::path(RADPIPE_SOURCE_DIR) / "samples/fracatlas/images/IMG0000005.jpg").string(),
                   cv::IMREAD_COLOR);
    EXPECT_FALSE(bgr.empty());
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    rgb.convertTo(rgb, CV_8U, 0.8, 20.0);
    return rgb;
  }

  static std::vector<std::int64_t> values_of(const cv::Mat& image) {
    cv::Mat wide;
    image.reshape(1, 1).convertTo(wide, CV_64F);
    return std::vector<std::int64_t>(wide.begin<double>(), wide.end<double>());
  }

  void write_dicom(const std::string& name, const cv::Mat& image, Encoding encoding) {
    DicomSpec spec;
    spec.rows = image.rows;
    spec.columns = image.cols;
    spec.samples = image.channels();
    spec.bits_allocated = spec.bits_stored = 8;
    spec.photometric = image.channels() == 3 ? Photometric::Rgb : Photometric::Monochrome2;
    spec.values = values_of(image);
    spec.encoding = encoding;
    radpipe::dicom::testing::write_dicom(scratch_.path() / "dicom" / name, spec);
  }

  static inline std::unique_ptr<PluginHost> plugins_;
  radpipe::testing::TempFolder scratch_;
};

TEST_F(SameAsImageFiles, EightBitDicomsGiveTheTensorsOfThePngsWithTheSamePixels) {
  const cv::Mat rgb = radiograph_rgb();
  cv::Mat gray;
  cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
  fs::create_directories(scratch_.path() / "images");
  fs::create_directories(scratch_.path() / "dicom");
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  ASSERT_TRUE(cv::imwrite((scratch_.path() / "images" / "colour.png").string(), bgr));
  ASSERT_TRUE(cv::imwrite((scratch_.path() / "images" / "gray.png").string(), gray));
  write_dicom("colour.dcm", rgb, Encoding::Uncompressed);
  write_dicom("gray.dcm", gray, Encoding::Uncompressed);
  write_dicom("gray_lossless.dcm", gray, Encoding::JpegLossless);

  const std::vector<std::pair<std::string, std::map<std::string, ParamValue>>> preprocess = {
      {"grayscale", {}},
      {"resize", {{"size", std::vector<std::int64_t>{96, 96}}}},
      {"normalize", {{"preset", std::string("imagenet")}}}};
  const auto images =
      tensors("image_files", {{"root", (scratch_.path() / "images").string()}}, preprocess, 1);
  const std::string dicom_folder = (scratch_.path() / "dicom").string();
  ASSERT_EQ(images.size(), 2u);

  // The default window ("tags", which for 8 bits without window tags is "stored"), and "stored"
  // asked for by name; colour as luma (the default) and as RGB.
  for (const std::string window : {"tags", "stored"})
    for (const std::string color : {"luma", "rgb"}) {
      SCOPED_TRACE(window + ", " + color);
      const auto dicoms =
          tensors("dicom", {{"path", dicom_folder}, {"window", window}, {"color", color}}, preprocess, 1);
      ASSERT_EQ(dicoms.size(), 3u);
      EXPECT_TRUE(torch::equal(dicoms.at("gray"), images.at("gray")));
      EXPECT_TRUE(torch::equal(dicoms.at("gray_lossless"), images.at("gray")));
      EXPECT_TRUE(torch::equal(dicoms.at("colour"), images.at("colour")));
    }

  // Without any preprocessing too: the samples themselves, as the model's three channels.
  const auto raw_images = tensors("image_files", {{"root", (scratch_.path() / "images").string()}},
                                  {{"resize", {{"size", std::vector<std::int64_t>{64, 64}}}}}, 3);
  const auto raw_dicoms = tensors("dicom", {{"path", dicom_folder}, {"color", std::string("rgb")}},
                                  {{"resize", {{"size", std::vector<std::int64_t>{64, 64}}}}}, 3);
  EXPECT_TRUE(torch::equal(raw_dicoms.at("colour"), raw_images.at("colour")));
  EXPECT_TRUE(torch::equal(raw_dicoms.at("gray"), raw_images.at("gray")));

  // What the issue measured: stretching each image's own range ("full") is not the same.
  const auto stretched =
      tensors("dicom", {{"path", dicom_folder}, {"window", std::string("full")}}, preprocess, 1);
  EXPECT_FALSE(torch::equal(stretched.at("gray"), images.at("gray")));
  EXPECT_GT((stretched.at("gray") - images.at("gray")).abs().max().item<float>(), 0.1f);
}

} // namespace
