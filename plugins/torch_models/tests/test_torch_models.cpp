// Tests of the torch_models stages on real files: torchvision's layouts and a real torch.save
// state_dict written by Python (tests/data/make_fixtures.py), TorchScript from Python and C++,
// and round trips through radpipe's own format and LibTorch's pickler.
#include "models.hpp"
#include "networks.hpp"
#include "pickle_rewrite.hpp"
#include "weights.hpp"

#include <radpipe/error.hpp>
#include <radpipe/plugin.hpp>
#include <radpipe/testing.hpp>

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

namespace fs = std::filesystem;
using namespace radpipe;
using namespace radpipe::torch_models;

namespace {

const fs::path data_dir = TORCH_MODELS_TEST_DATA;

struct Log {
  std::vector<std::pair<LogLevel, std::string>> lines;

  std::string at(LogLevel level) const {
    std::string text;
    for (const auto& [each, line] : lines)
      if (each == level) text += line + "\n";
    return text;
  }
};

struct Fixture {
  std::shared_ptr<Log> log = std::make_shared<Log>();
  StageContext context() const {
    StageContext context;
    context.plugin_name = "torch_models";
    context.stage_name = "test";
    context.log = [log = log](LogLevel level, const std::string& line) { log->lines.emplace_back(level, line); };
    return context;
  }
};

template <class StageT>
std::unique_ptr<StageT> make(const std::map<std::string, ParamValue>& overrides = {}, const Fixture& fixture = {}) {
  return std::make_unique<StageT>(resolve_params(StageT::schema(), overrides), fixture.context());
}

ParamValue integer(std::int64_t value) { return value; }
ParamValue text(std::string value) { return value; }
ParamValue strings(std::vector<std::string> value) { return value; }

using TempDir = radpipe::testing::TempFolder; // a folder of its own per test, removed afterwards

std::map<std::string, torch::Tensor> state_of(torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& item : module.named_parameters()) state.emplace(item.key(), item.value());
  for (const auto& item : module.named_buffers()) state.emplace(item.key(), item.value());
  return state;
}

std::int64_t parameter_count(torch::nn::Module& module) {
  std::int64_t count = 0;
  for (const auto& parameter : module.parameters()) count += parameter.numel();
  return count;
}

// Sum and position-weighted sum in float64, as make_fixtures.py prints them.
std::pair<double, double> checksum(const torch::Tensor& tensor) {
  torch::Tensor flat = tensor.detach().to(torch::kFloat64).flatten();
  torch::Tensor weights = torch::arange(1, flat.numel() + 1, torch::kFloat64);
  return {flat.sum().item<double>(), (flat * weights).sum().item<double>()};
}

void expect_checksum(const torch::Tensor& tensor, double sum, double weighted) {
  auto [actual_sum, actual_weighted] = checksum(tensor);
  EXPECT_NEAR(actual_sum, sum, 1e-5 + 1e-6 * std::abs(sum));
  EXPECT_NEAR(actual_weighted, weighted, 1e-3 + 1e-6 * std::abs(weighted));
}

std::string shape_string(const torch::Tensor& tensor) {
  std::string text;
  // Appended piecewise: `"x" + std::to_string(...)` trips GCC 12's false -Wrestrict at -O3.
  for (std::int64_t i = 0; i < tensor.dim(); ++i) {
    if (i) text += 'x';
    text += std::to_string(tensor.size(i));
  }
  return text.empty() ? "scalar" : text;
}

template <class Function>
std::string stage_error_of(Function&& function, std::string* key = nullptr) {
  try {
    function();
  } catch (const StageError& error) {
    if (key) *key = error.key();
    return error.what();
  }
  ADD_FAILURE() << "expected a StageError";
  return {};
}

torch::Tensor images(std::int64_t channels, std::int64_t size = 64, std::int64_t batch = 1) {
  return torch::linspace(-1, 1, batch * channels * size * size).reshape({batch, channels, size, size});
}

// ---------------------------------------------------------------- layouts against torchvision

struct TorchvisionLayouts {
  std::map<std::string, std::map<std::string, std::string>> shapes; // model -> name -> "64x3x7x7"
  std::map<std::string, std::int64_t> parameters;                   // model -> count
};

const TorchvisionLayouts& torchvision_layouts() {
  static const TorchvisionLayouts layouts = [] {
    TorchvisionLayouts result;
    std::ifstream in(data_dir / "torchvision_layouts.txt");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      std::string first, second, third;
      fields >> first >> second >> third;
      if (first == "parameters")
        result.parameters[second] = std::stoll(third);
      else
        result.shapes[first][second] = third;
    }
    return result;
  }();
  return layouts;
}

std::unique_ptr<NetworkModel> imagenet_model(const std::string& name) {
  const std::map<std::string, ParamValue> imagenet{{"outputs", integer(1000)}, {"input_channels", integer(3)}};
  auto with_depth = [&](std::int64_t depth) {
    auto overrides = imagenet;
    overrides["depth"] = integer(depth);
    return overrides;
  };
  if (name.starts_with("resnet")) return make<ResNetModel>(with_depth(std::stoll(name.substr(6))));
  return make<DenseNetModel>(with_depth(std::stoll(name.substr(8))));
}

TEST(Layouts, StateDictNamesAndShapesEqualTorchvisions) {
  const auto& layouts = torchvision_layouts();
  ASSERT_EQ(layouts.shapes.size(), 3u) << "torchvision_layouts.txt is missing or incomplete";
  for (const auto& [model_name, expected] : layouts.shapes) {
    SCOPED_TRACE(model_name);
    auto model = imagenet_model(model_name);
    std::map<std::string, std::string> actual;
    for (const auto& [name, tensor] : state_of(*model->trainable())) actual[name] = shape_string(tensor);
    for (const auto& [name, shape] : expected) {
      auto found = actual.find(name);
      if (found == actual.end())
        ADD_FAILURE() << "missing " << name;
      else
        EXPECT_EQ(found->second, shape) << name;
    }
    for (const auto& [name, shape] : actual) EXPECT_TRUE(expected.contains(name)) << "not in torchvision: " << name;
  }
}

TEST(Layouts, ParameterCountsEqualTorchvisions) {
  const std::map<std::string, std::int64_t> counts{{"resnet18", 11'689'512},   {"resnet34", 21'797'672},
                                                   {"resnet50", 25'557'032},   {"densenet121", 7'978'856},
                                                   {"densenet169", 14'149'480}, {"densenet201", 20'013'928}};
  for (const auto& [name, count] : counts) {
    EXPECT_EQ(parameter_count(*imagenet_model(name)->trainable()), count) << name;
    EXPECT_EQ(torchvision_layouts().parameters.at(name), count) << name << " in torchvision_layouts.txt";
  }
}

TEST(Layouts, TorchvisionNamesExist) {
  auto resnet = state_of(*make<ResNetModel>()->trainable());
  for (const char* name : {"conv1.weight", "bn1.num_batches_tracked", "layer2.0.downsample.0.weight",
                           "layer2.0.downsample.1.running_mean", "layer4.1.bn2.running_var", "fc.weight", "fc.bias"})
    EXPECT_TRUE(resnet.contains(name)) << name;
  auto resnet50 = state_of(*make<ResNetModel>({{"depth", integer(50)}})->trainable());
  EXPECT_TRUE(resnet50.contains("layer1.0.conv3.weight"));
  EXPECT_TRUE(resnet50.contains("layer1.0.downsample.0.weight")); // 64 -> 256 channels at stride 1

  auto densenet = state_of(*make<DenseNetModel>()->trainable());
  for (const char* name : {"features.conv0.weight", "features.norm0.running_mean",
                           "features.denseblock1.denselayer1.norm1.weight",
                           "features.denseblock4.denselayer16.conv2.weight", "features.transition3.conv.weight",
                           "features.transition1.norm.running_var", "features.norm5.bias", "classifier.weight"})
    EXPECT_TRUE(densenet.contains(name)) << name;
  EXPECT_FALSE(densenet.contains("features.denseblock4.denselayer17.conv2.weight"));

  auto cnn = state_of(*make<CnnModel>()->trainable());
  for (const char* name : {"features.block1.conv.weight", "features.block4.norm.running_var", "classifier.weight"})
    EXPECT_TRUE(cnn.contains(name)) << name;
}

TEST(Layouts, HeadKeepsTorchvisionNameOnlyWhenPlain) {
  auto plain = state_of(*make<ResNetModel>()->trainable());
  EXPECT_EQ(plain.at("fc.weight").sizes(), (std::vector<std::int64_t>{1, 512}));

  auto hidden = state_of(*make<ResNetModel>({{"hidden", ParamValue{std::vector<std::int64_t>{64}}},
                                             {"dropout", ParamValue{0.25}},
                                             {"outputs", integer(3)}})
                             ->trainable());
  // Dropout, Linear(512, 64), ReLU, Dropout, Linear(64, 3): nn.Sequential's numbering.
  EXPECT_EQ(hidden.at("fc.1.weight").sizes(), (std::vector<std::int64_t>{64, 512}));
  EXPECT_EQ(hidden.at("fc.4.weight").sizes(), (std::vector<std::int64_t>{3, 64}));
  EXPECT_FALSE(hidden.contains("fc.weight"));

  auto dropout_only = state_of(*make<DenseNetModel>({{"dropout", ParamValue{0.5}}})->trainable());
  EXPECT_TRUE(dropout_only.contains("classifier.1.weight"));
}

// ------------------------------------------------------------------------------- forward

TEST(Forward, CnnShapesPerBlockCount) {
  for (std::int64_t blocks = 2; blocks <= 5; ++blocks) {
    SCOPED_TRACE(blocks);
    auto model = make<CnnModel>({{"blocks", integer(blocks)}, {"outputs", integer(2)}});
    model->set_training(false);
    ModelOutput output = model->forward(images(1, 64, 2));
    EXPECT_EQ(output.logits.sizes(), (std::vector<std::int64_t>{2, 2}));
    const std::int64_t channels = std::min<std::int64_t>(32 << (blocks - 1), 512);
    const std::int64_t side = 64 >> blocks;
    EXPECT_EQ(output.features.sizes(), (std::vector<std::int64_t>{2, channels, side, side}));
    EXPECT_EQ(model->input_channels(), 1);
    EXPECT_EQ(model->num_outputs(), 2);
  }
}

TEST(Forward, CnnWidthIsCappedAt512) {
  auto model = make<CnnModel>({{"blocks", integer(6)}, {"width", integer(64)}});
  EXPECT_EQ(model->forward(images(1, 64)).features.size(1), 512);
}

TEST(Layouts, CnnDepthAddsNumberedConvolutionsAfterTheFirstBlock) {
  auto deep = state_of(*make<CnnModel>({{"blocks", integer(3)}, {"width", integer(8)}, {"convs", integer(3)}})->trainable());
  EXPECT_EQ(deep.at("features.block1.conv.weight").sizes(), (std::vector<std::int64_t>{8, 1, 3, 3}));
  EXPECT_FALSE(deep.contains("features.block1.conv2.weight")) << "the full-resolution block keeps one convolution";
  EXPECT_EQ(deep.at("features.block2.conv.weight").sizes(), (std::vector<std::int64_t>{16, 8, 3, 3}));
  EXPECT_EQ(deep.at("features.block2.conv2.weight").sizes(), (std::vector<std::int64_t>{16, 16, 3, 3}));
  EXPECT_EQ(deep.at("features.block3.conv3.weight").sizes(), (std::vector<std::int64_t>{32, 32, 3, 3}));
  EXPECT_TRUE(deep.contains("features.block3.norm3.running_var"));
  EXPECT_FALSE(deep.contains("features.block3.conv4.weight"));

  // One convolution per block is the layout the shipped checkpoints were saved with.
  auto shallow = state_of(*make<CnnModel>({{"blocks", integer(3)}, {"width", integer(8)}})->trainable());
  for (const auto& [name, tensor] : shallow) EXPECT_EQ(name.find("conv2"), std::string::npos) << name;
  // Each extra pair: the convolution's weight, BatchNorm's weight, bias and three statistics.
  EXPECT_EQ(deep.size(), shallow.size() + 2 * 2 * 6) << "two extra conv+norm pairs in each of blocks 2 and 3";
}

TEST(Forward, CnnDepthKeepsTheOutputShapes) {
  auto model = make<CnnModel>({{"blocks", integer(4)}, {"width", integer(8)}, {"convs", integer(2)}});
  model->set_training(false);
  ModelOutput output = model->forward(images(1, 64, 2));
  EXPECT_EQ(output.logits.sizes(), (std::vector<std::int64_t>{2, 1}));
  EXPECT_EQ(output.features.sizes(), (std::vector<std::int64_t>{2, 64, 4, 4}));
}

TEST(Forward, ResNetAndDenseNetShapesAtOneAndThreeChannels) {
  for (std::int64_t channels : {1, 3}) {
    SCOPED_TRACE(channels);
    auto resnet = make<ResNetModel>({{"input_channels", integer(channels)}});
    resnet->set_training(false);
    ModelOutput output = resnet->forward(images(channels));
    EXPECT_EQ(output.logits.sizes(), (std::vector<std::int64_t>{1, 1}));
    EXPECT_EQ(output.features.sizes(), (std::vector<std::int64_t>{1, 512, 2, 2}));

    auto densenet = make<DenseNetModel>({{"input_channels", integer(channels)}, {"outputs", integer(4)}});
    densenet->set_training(false);
    output = densenet->forward(images(channels));
    EXPECT_EQ(output.logits.sizes(), (std::vector<std::int64_t>{1, 4}));
    EXPECT_EQ(output.features.sizes(), (std::vector<std::int64_t>{1, 1024, 2, 2}));
    EXPECT_GE(output.features.min().item<float>(), 0.0f) << "DenseNet features are taken after norm5 and ReLU";
  }
}

TEST(Forward, FeaturesCarryGradientsForExplainers) {
  auto model = make<ResNetModel>();
  model->set_training(false);
  ModelOutput output = model->forward(images(3));
  output.features.retain_grad();
  output.logits.sum().backward();
  ASSERT_TRUE(output.features.grad().defined());
  EXPECT_GT(output.features.grad().abs().sum().item<double>(), 0.0);
}

TEST(Forward, WrongChannelCountIsAStageError) {
  auto model = make<ResNetModel>();
  std::string key;
  const std::string message = stage_error_of([&] { model->forward(images(1)); }, &key);
  EXPECT_EQ(key, "input_channels");
  EXPECT_NE(message.find("[N, 3, H, W]"), std::string::npos) << message;
}

// Training on the CPU runs NHWC activations (oneDNN's fastest layout) while every parameter and its
// gradient keep the default layout that checkpoints, optimisers and collectives were written for.
TEST(Forward, CpuTrainingRunsChannelsLastAndLeavesParametersAsTheyWere) {
  auto check = [](Model& model) {
    model.set_training(true);
    ModelOutput output = model.forward(torch::rand({2, model.input_channels(), 64, 64}));
    EXPECT_TRUE(output.features.is_contiguous(torch::MemoryFormat::ChannelsLast));
    EXPECT_FALSE(output.features.is_contiguous()) << "the check above must be able to fail";
    output.logits.sum().backward();
    for (const auto& parameter : model.trainable()->named_parameters()) {
      EXPECT_TRUE(parameter.value().is_contiguous()) << parameter.key();
      ASSERT_TRUE(parameter.value().grad().defined()) << parameter.key();
      EXPECT_TRUE(parameter.value().grad().is_contiguous()) << parameter.key();
    }
  };
  check(*make<CnnModel>({{"blocks", integer(3)}, {"width", integer(8)}, {"input_channels", integer(1)}}));
  check(*make<ResNetModel>({{"depth", integer(18)}}));
}

TEST(Forward, TrainingModeTogglesModules) {
  auto model = make<CnnModel>();
  EXPECT_FALSE(model->trainable()->is_training()) << "a model starts in eval mode";
  model->set_training(true);
  EXPECT_TRUE(model->trainable()->is_training());
  model->set_training(false);
  EXPECT_FALSE(model->trainable()->is_training());
  model->to(torch::Device(torch::kCPU));
  EXPECT_EQ(model->device(), torch::Device(torch::kCPU));
}

// ---------------------------------------------------------------------------------- weights

// One training-mode pass, so that BatchNorm statistics differ from a fresh model's.
void update_batch_norm(Model& model) {
  torch::NoGradGuard no_grad;
  model.set_training(true);
  model.forward(torch::randn({4, model.input_channels(), 64, 64}));
  model.set_training(false);
}

TEST(Weights, RadpipeFormatRoundTripGivesIdenticalOutputs) {
  TempDir dir;
  auto check = [&](std::unique_ptr<NetworkModel> saved, std::unique_ptr<NetworkModel> loaded, const std::string& file) {
    update_batch_norm(*saved);
    saved->save_weights(dir.path() / "nested" / file);
    EXPECT_TRUE(fs::exists(dir.path() / "nested" / file));
    const torch::Tensor x = images(saved->input_channels());
    EXPECT_FALSE(torch::equal(saved->forward(x).logits, loaded->forward(x).logits));
    loaded->load_weights(dir.path() / "nested" / file);
    EXPECT_TRUE(torch::equal(saved->forward(x).logits, loaded->forward(x).logits));
    EXPECT_TRUE(torch::equal(saved->forward(x).features, loaded->forward(x).features));
  };
  Fixture fixture;
  const std::map<std::string, ParamValue> head{{"hidden", ParamValue{std::vector<std::int64_t>{16, 8}}},
                                               {"dropout", ParamValue{0.3}},
                                               {"outputs", integer(3)}};
  check(make<CnnModel>(head, fixture), make<CnnModel>(head, fixture), "cnn.pt");
  check(make<ResNetModel>({}, fixture), make<ResNetModel>({}, fixture), "resnet18.pt");
  EXPECT_EQ(fixture.log->at(LogLevel::Warning), "") << "a complete load warns about nothing";
  for (const auto& entry : fs::directory_iterator(dir.path() / "nested"))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << "left behind: " << entry.path();
}

TEST(Weights, WeightsParameterLoadsAtConstruction) {
  TempDir dir;
  auto saved = make<DenseNetModel>();
  update_batch_norm(*saved);
  saved->save_weights(dir.path() / "densenet.pt");
  auto loaded = make<DenseNetModel>({{"weights", text((dir.path() / "densenet.pt").string())}});
  const torch::Tensor x = images(3);
  EXPECT_TRUE(torch::equal(saved->forward(x).logits, loaded->forward(x).logits));
}

TEST(Weights, PickledStateDictFromCppRoundTrip) {
  TempDir dir;
  auto saved = make<DenseNetModel>({{"outputs", integer(2)}});
  update_batch_norm(*saved);
  NamedTensors tensors;
  for (const auto& [name, tensor] : state_of(*saved->trainable())) tensors.emplace_back(name, tensor);
  write_state_dict(tensors, dir.path() / "densenet121.pth");

  Fixture fixture;
  auto loaded = make<DenseNetModel>({{"outputs", integer(2)}}, fixture);
  loaded->load_weights(dir.path() / "densenet121.pth");
  EXPECT_EQ(fixture.log->at(LogLevel::Warning), "");
  const torch::Tensor x = images(3);
  EXPECT_TRUE(torch::equal(saved->forward(x).logits, loaded->forward(x).logits));
  auto state = state_of(*loaded->trainable());
  EXPECT_EQ(state.at("features.norm5.num_batches_tracked").item<std::int64_t>(), 1);
}

TEST(Weights, LegacyDenseNetNamesAreRenamed) {
  // torchvision's own densenet downloads predate its current names: "norm.1" for "norm1".
  TempDir dir;
  auto model = make<DenseNetModel>();
  const torch::Tensor value = torch::full({128}, 0.75);
  write_state_dict({{"features.denseblock1.denselayer2.norm.2.weight", value}}, dir.path() / "legacy.pth");
  model->load_weights(dir.path() / "legacy.pth");
  EXPECT_TRUE(torch::equal(state_of(*model->trainable()).at("features.denseblock1.denselayer2.norm2.weight"), value));
}

TEST(Weights, PickleRewriteGivesLibTorchsSubset) {
  using namespace std::string_literals;
  // Literals are split after hex escapes, which would otherwise swallow a following a-f.
  // {"a": 1} with SETITEM -> SETITEMS behind a MARK placed before the key.
  EXPECT_EQ(normalise_torch_save_pickle("\x80\x02}q\x00X\x01\x00\x00\x00" "aK\x01s."s),
            "\x80\x02}q\x00(X\x01\x00\x00\x00" "aK\x01u."s);
  // [(1, 2)] with APPEND: the MARK goes before the whole tuple's instructions.
  EXPECT_EQ(normalise_torch_save_pickle("\x80\x02]q\x00K\x01K\x02\x86q\x01" "a."s),
            "\x80\x02]q\x00(K\x01K\x02\x86q\x01" "e."s);
  // 3_000_000_000 as a 5-byte LONG1 becomes an 8-byte one; -2 as a 1-byte LONG1 stays negative.
  EXPECT_EQ(normalise_torch_save_pickle("\x80\x02\x8a\x05\x00\x5e\xd0\xb2\x00."s),
            "\x80\x02\x8a\x08\x00\x5e\xd0\xb2\x00\x00\x00\x00."s);
  EXPECT_EQ(normalise_torch_save_pickle("\x80\x02\x8a\x01\xfe."s), "\x80\x02\x8a\x08\xfe\xff\xff\xff\xff\xff\xff\xff."s);
  // OrderedDict() with attributes: an empty dict, the attributes stored under "__state__".
  EXPECT_EQ(normalise_torch_save_pickle("\x80\x02" "ccollections\nOrderedDict\nq\x00)Rq\x01}q\x02" "b."s),
            "\x80\x02}q\x01(X\x09\x00\x00\x00__state__}q\x02u."s);
  // Later OrderedDicts come from the memo.
  EXPECT_EQ(normalise_torch_save_pickle("\x80\x02" "ccollections\nOrderedDict\nq\x00)Rq\x01h\x00)Rq\x02\x86."s),
            "\x80\x02}q\x01}q\x02\x86."s);
  EXPECT_THROW(normalise_torch_save_pickle("\x80\x02K\x01"s), std::runtime_error);           // no STOP
  EXPECT_THROW(normalise_torch_save_pickle("\x80\x02\x8c\x01" "a."s), std::runtime_error);  // protocol 4's SHORT_BINUNICODE
}

// Checksums printed by make_fixtures.py for the tensors of resnet18_subset.pth.
constexpr double conv1_sum = -5.01875004, conv1_weighted = -23335.4529;
constexpr double conv1_channel_sum = -5.01874995, conv1_channel_weighted = -7885.41765;
constexpr double bn1_var_sum = 65.4442988, bn1_var_weighted = 2079.558;
constexpr double layer4_bn2_sum = 509.811452, layer4_bn2_weighted = 130938.892;

TEST(Weights, TorchvisionStateDictFromPython) {
  Fixture fixture;
  auto model = make<ResNetModel>({{"weights", text((data_dir / "resnet18_subset.pth").string())}}, fixture);
  auto state = state_of(*model->trainable());
  expect_checksum(state.at("conv1.weight"), conv1_sum, conv1_weighted);
  expect_checksum(state.at("bn1.running_var"), bn1_var_sum, bn1_var_weighted);
  expect_checksum(state.at("layer4.1.bn2.weight"), layer4_bn2_sum, layer4_bn2_weighted);
  EXPECT_EQ(state.at("bn1.num_batches_tracked").item<std::int64_t>(), 1234);

  const std::string warnings = fixture.log->at(LogLevel::Warning);
  EXPECT_NE(warnings.find("loaded 11 of 12 tensors"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("fc.bias (file [1000], model [1])"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("not in the file"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("fc.weight"), std::string::npos) << warnings;
  EXPECT_EQ(warnings.find("fc.bias"), warnings.rfind("fc.bias")) << "a mismatched tensor is reported once: " << warnings;
}

TEST(Weights, OneChannelModelSumsTheFirstConvolution) {
  Fixture fixture;
  auto model = make<ResNetModel>(
      {{"input_channels", integer(1)}, {"weights", text((data_dir / "resnet18_subset.pth").string())}}, fixture);
  const torch::Tensor conv1 = state_of(*model->trainable()).at("conv1.weight");
  EXPECT_EQ(conv1.sizes(), (std::vector<std::int64_t>{64, 1, 7, 7}));
  expect_checksum(conv1, conv1_channel_sum, conv1_channel_weighted);
  EXPECT_NE(fixture.log->at(LogLevel::Info).find("summed conv1.weight"), std::string::npos);

  auto rgb = make<ResNetModel>({{"weights", text((data_dir / "resnet18_subset.pth").string())}});
  EXPECT_TRUE(torch::allclose(conv1, state_of(*rgb->trainable()).at("conv1.weight").sum(1, true)));
}

TEST(Weights, CheckpointDictWithDataParallelPrefix) {
  Fixture fixture;
  auto model = make<ResNetModel>({{"weights", text((data_dir / "checkpoint_dataparallel.pth").string())}}, fixture);
  auto state = state_of(*model->trainable());
  expect_checksum(state.at("conv1.weight"), conv1_sum, conv1_weighted);
  expect_checksum(state.at("layer4.1.bn2.weight"), layer4_bn2_sum, layer4_bn2_weighted);
  const std::string warnings = fixture.log->at(LogLevel::Warning);
  EXPECT_NE(warnings.find("loaded 11 of 11 tensors"), std::string::npos) << warnings;
  EXPECT_EQ(warnings.find("module."), std::string::npos) << warnings;
}

TEST(Weights, NothingFittingIsAStageError) {
  auto model = make<DenseNetModel>();
  std::string key;
  const std::string message =
      stage_error_of([&] { model->load_weights(data_dir / "resnet18_subset.pth"); }, &key);
  EXPECT_EQ(key, "weights");
  EXPECT_NE(message.find("none of the 12 tensors"), std::string::npos) << message;
  EXPECT_NE(message.find("conv1.weight"), std::string::npos) << message;
}

TEST(Weights, UnreadableFilesAreStageErrors) {
  TempDir dir;
  auto model = make<CnnModel>();
  std::ofstream(dir.path() / "notes.txt") << "not weights\n";
  std::ofstream(dir.path() / "legacy.pth", std::ios::binary) << std::string("\x80\x02\x8a\x0a", 4) << "rest";

  EXPECT_NE(stage_error_of([&] { model->load_weights(dir.path() / "missing.pt"); }).find("does not exist"),
            std::string::npos);
  EXPECT_NE(stage_error_of([&] { model->load_weights(dir.path() / "notes.txt"); }).find("not a PyTorch weights file"),
            std::string::npos);
  EXPECT_NE(stage_error_of([&] { model->load_weights(dir.path() / "legacy.pth"); }).find("legacy torch.save"),
            std::string::npos);
  const std::string script = stage_error_of([&] { model->load_weights(data_dir / "tiny_script.pt"); });
  EXPECT_NE(script.find("stage = \"torchscript\""), std::string::npos) << script;
}

TEST(Weights, PickledPythonObjectsAreExplained) {
  // What torch.save(model) writes: an instance of the user's class, rebuilt with NEWOBJ and BUILD.
  TempDir dir;
  static constexpr char raw[] = "\x80\x02" "cmymodels\nResNet\nq\x00)\x81q\x01}q\x02" "b.";
  const std::string pickle(raw, sizeof raw - 1);
  {
    caffe2::serialize::PyTorchStreamWriter writer((dir.path() / "model.pth").string());
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    writer.writeEndOfFile();
  }
  const std::string message = stage_error_of([&] { make<ResNetModel>()->load_weights(dir.path() / "model.pth"); });
  EXPECT_NE(message.find("'mymodels.ResNet'"), std::string::npos) << message;
  EXPECT_NE(message.find("torch.save(model.state_dict(), path)"), std::string::npos) << message;
}

// ---------------------------------------------------------------------------------- freeze

TEST(Freeze, MatchesWholeNamePrefixesOnly) {
  auto model = make<ResNetModel>({{"freeze", strings({"conv1", "layer1", "layer4.1.bn2.weight"})}});
  for (const auto& parameter : model->trainable()->named_parameters()) {
    const std::string& name = parameter.key();
    const bool frozen = name == "conv1.weight" || name.starts_with("layer1.") || name == "layer4.1.bn2.weight";
    EXPECT_EQ(parameter.value().requires_grad(), !frozen) << name;
  }
}

TEST(Freeze, AppliesAfterTheWeightsAndSurvivesReloading) {
  auto model = make<ResNetModel>(
      {{"freeze", strings({"conv1"})}, {"weights", text((data_dir / "resnet18_subset.pth").string())}});
  auto conv1 = model->trainable()->named_parameters()["conv1.weight"];
  expect_checksum(conv1, conv1_sum, conv1_weighted);
  EXPECT_FALSE(conv1.requires_grad());
  model->load_weights(data_dir / "checkpoint_dataparallel.pth");
  EXPECT_FALSE(model->trainable()->named_parameters()["conv1.weight"].requires_grad());
  EXPECT_TRUE(model->trainable()->named_parameters()["bn1.weight"].requires_grad());
}

TEST(Freeze, UnknownPrefixListsTopLevelNames) {
  std::string key;
  const std::string message =
      stage_error_of([&] { make<ResNetModel>({{"freeze", strings({"layer9"})}}); }, &key);
  EXPECT_EQ(key, "freeze");
  EXPECT_NE(message.find("\"layer9\""), std::string::npos) << message;
  EXPECT_NE(message.find("conv1, bn1, layer1, layer2, layer3, layer4, fc"), std::string::npos) << message;
  // A prefix is a whole name component: "layer" is not "layer1".
  EXPECT_NE(stage_error_of([&] { make<ResNetModel>({{"freeze", strings({"layer"})}}); }).find("\"layer\""),
            std::string::npos);
}

// ------------------------------------------------------------------------------ torchscript

TEST(TorchScript, PythonScriptedModelWithFeatures) {
  auto model = make<TorchScriptModel>({{"file", text((data_dir / "tiny_script.pt").string())}, {"outputs", integer(2)}});
  EXPECT_EQ(model->trainable(), nullptr);
  const torch::Tensor probe = torch::linspace(-1, 1, 3 * 8 * 8).reshape({1, 3, 8, 8});
  ModelOutput output = model->forward(probe);
  ASSERT_EQ(output.logits.sizes(), (std::vector<std::int64_t>{1, 2}));
  // Printed by make_fixtures.py.
  EXPECT_NEAR(output.logits[0][0].item<double>(), 0.324270606, 1e-6);
  EXPECT_NEAR(output.logits[0][1].item<double>(), 0.60395807, 1e-6);
  ASSERT_TRUE(output.features.defined());
  EXPECT_EQ(output.features.sizes(), (std::vector<std::int64_t>{1, 4, 8, 8}));

  auto wrong = make<TorchScriptModel>({{"file", text((data_dir / "tiny_script.pt").string())}});
  std::string key;
  const std::string message = stage_error_of([&] { wrong->forward(probe); }, &key);
  EXPECT_EQ(key, "outputs");
  EXPECT_NE(message.find("[1, 2]"), std::string::npos) << message;
}

TEST(TorchScript, ModuleScriptedInCppSavesAndReloads) {
  TempDir dir;
  torch::jit::Module scripted("SumModel");
  scripted.register_parameter("scale", torch::full({1, 1, 1, 1}, 0.5), /*is_buffer=*/false);
  scripted.define(R"(
def forward(self, x):
    return (x * self.scale).sum(dim=[1, 2, 3]).unsqueeze(1)
)");
  scripted.save((dir.path() / "sum.pt").string());

  auto model = make<TorchScriptModel>({{"file", text((dir.path() / "sum.pt").string())}, {"input_channels", integer(1)}});
  const torch::Tensor x = torch::ones({2, 1, 4, 4});
  ModelOutput output = model->forward(x);
  EXPECT_TRUE(torch::allclose(output.logits, torch::full({2, 1}, 8.0)));
  EXPECT_FALSE(output.features.defined());

  model->save_weights(dir.path() / "copy.pt");
  auto copy = make<TorchScriptModel>({{"file", text((data_dir / "tiny_script.pt").string())}, {"input_channels", integer(1)}});
  copy->load_weights(dir.path() / "copy.pt");
  EXPECT_TRUE(torch::equal(copy->forward(x).logits, output.logits));
}

TEST(TorchScript, RadpipeWeightsAreNotAModel) {
  TempDir dir;
  make<CnnModel>()->save_weights(dir.path() / "cnn.pt");
  std::string key;
  const std::string message =
      stage_error_of([&] { make<TorchScriptModel>({{"file", text((dir.path() / "cnn.pt").string())}}); }, &key);
  EXPECT_EQ(key, "file");
  EXPECT_NE(message.find("no forward method"), std::string::npos) << message;
}

// ------------------------------------------------------------------------- inference form

// BatchNorm scales and shifts drawn at random, then running statistics measured on random images
// (momentum 1: the last pass's batch statistics), so that folding has something to fold and the
// activations stay normalised through DenseNet's 120 layers, as a trained network's are. Seeded.
void calibrate(Model& model, std::int64_t channels) {
  torch::manual_seed(11);
  torch::NoGradGuard no_grad;
  std::vector<torch::nn::BatchNorm2dImpl*> norms;
  for (auto& module : model.trainable()->modules())
    if (auto* norm = module->as<torch::nn::BatchNorm2d>()) norms.push_back(norm);
  for (auto* norm : norms) {
    norm->weight.uniform_(0.5, 1.5);
    norm->bias.uniform_(-0.2, 0.2);
    norm->options.momentum(1.0);
  }
  model.set_training(true);
  for (int pass = 0; pass < 2; ++pass) model.forward(torch::rand({4, channels, 128, 128}) * 4 - 2);
  for (auto* norm : norms) norm->options.momentum(0.1);
  model.set_training(false);
}

// The inference form (BatchNorm folded, channels-last) against the trainable form in eval mode,
// on the same images: logits within 1e-4.
void expect_inference_form_agrees(Model& model, std::int64_t channels, std::int64_t size) {
  torch::manual_seed(5);
  const torch::Tensor x = torch::rand({2, channels, size, size}) * 4 - 2;
  torch::NoGradGuard no_grad;
  const torch::Tensor eager = model.forward(x).logits;
  model.set_form(ModelForm::Inference);
  const torch::Tensor optimized = model.forward(x).logits;
  ASSERT_EQ(eager.sizes(), optimized.sizes());
  const double difference = (eager - optimized).abs().max().item<double>();
  std::cout << "inference form vs eager: max |logit difference| " << difference << " (logits up to "
            << eager.abs().max().item<double>() << ")\n";
  EXPECT_LE(difference, 1e-4);
  EXPECT_GT(eager.abs().max().item<double>(), 1e-3) << "logits this small would hide any difference";
  // Back to the trainable form: the modules as trained, gradients reaching the input.
  model.set_form(ModelForm::Trainable);
  torch::AutoGradMode with_gradients(true);
  const torch::Tensor input = x.clone().requires_grad_(true);
  ModelOutput output = model.forward(input);
  EXPECT_NEAR((output.logits.detach() - eager).abs().max().item<double>(), 0.0, 1e-6);
  output.logits.sum().backward();
  EXPECT_TRUE(input.grad().defined());
}

TEST(InferenceForm, ShippedDemoModelAgreesWithEager) {
  auto model = make<CnnModel>({{"blocks", integer(5)},
                               {"width", integer(16)},
                               {"input_channels", integer(1)},
                               {"dropout", ParamValue{0.3}},
                               {"weights", text((fs::path(RADPIPE_SOURCE_DIR) / "samples" / "models" / "fracatlas-cnn5.pt").string())}});
  model->set_training(false);
  expect_inference_form_agrees(*model, 1, 128);
}

TEST(InferenceForm, DeeperCnnAgreesWithEager) {
  torch::manual_seed(5);
  auto model = make<CnnModel>({{"blocks", integer(5)}, {"width", integer(12)}, {"convs", integer(2)}});
  calibrate(*model, 1);
  expect_inference_form_agrees(*model, 1, 128);
  // Every added convolution is folded: once folded, its BatchNorm's live statistics no longer count.
  model->set_form(ModelForm::Inference);
  const torch::Tensor x = torch::rand({1, 1, 64, 64}).contiguous(torch::MemoryFormat::ChannelsLast);
  const torch::Tensor folded = model->forward(x).logits;
  {
    torch::NoGradGuard no_gradients;
    state_of(*model->trainable()).at("features.block3.norm2.running_mean").add_(5.0);
  }
  EXPECT_TRUE(torch::equal(folded, model->forward(x).logits));
}

TEST(InferenceForm, ResNet18AgreesWithEager) {
  torch::manual_seed(3);
  auto model = make<ResNetModel>({{"depth", integer(18)}});
  calibrate(*model, 3);
  expect_inference_form_agrees(*model, 3, 128);
}

TEST(InferenceForm, DenseNet121AgreesWithEager) {
  torch::manual_seed(4);
  auto model = make<DenseNetModel>({{"depth", integer(121)}});
  calibrate(*model, 3);
  expect_inference_form_agrees(*model, 3, 128);
}

TEST(InferenceForm, TrainingLeavesTheInferenceForm) {
  torch::manual_seed(6);
  auto model = make<ResNetModel>({{"depth", integer(18)}, {"input_channels", integer(1)}});
  calibrate(*model, 1);
  model->set_form(ModelForm::Inference);
  model->set_training(true); // a training step must update BatchNorm's statistics, not a folded copy
  const torch::Tensor before = state_of(*model->trainable()).at("bn1.running_mean").clone();
  model->forward(torch::rand({2, 1, 64, 64}));
  EXPECT_FALSE(torch::equal(before, state_of(*model->trainable()).at("bn1.running_mean")));
}

TEST(InferenceForm, FrozenTorchScriptAgreesWithTheScript) {
  auto model = make<TorchScriptModel>({{"file", text((data_dir / "tiny_script.pt").string())}, {"outputs", integer(2)}});
  model->set_training(false);
  const torch::Tensor probe = torch::linspace(-1, 1, 3 * 8 * 8).reshape({1, 3, 8, 8});
  const torch::Tensor eager = model->forward(probe).logits;
  model->set_form(ModelForm::Inference);
  const torch::Tensor frozen = model->forward(probe).logits;
  EXPECT_LE((eager - frozen).abs().max().item<double>(), 1e-4);
  EXPECT_NEAR(frozen[0][0].item<double>(), 0.324270606, 1e-4); // printed by make_fixtures.py
}

// ------------------------------------------------------------------------------------ plugin

TEST(Plugin, RegistersItsFourModelStages) {
  radpipe::testing::expect_plugin_library(fs::path(RADPIPE_PLUGIN_DIR) / "libradpipe-torch_models.so",
                                          "torch_models",
                                          {{StageKind::Model, "cnn"},
                                           {StageKind::Model, "resnet"},
                                           {StageKind::Model, "densenet"},
                                           {StageKind::Model, "torchscript"}});
}

// Not run by default: `test_torch_models --gtest_also_run_disabled_tests --gtest_filter=*Timing*`.
TEST(Timing, DISABLED_DenseNet121Forward320Batch8) {
  torch::set_num_threads(2);
  auto model = make<DenseNetModel>({{"input_channels", integer(1)}});
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({8, 1, 320, 320});
  model->forward(x);
  const auto start = std::chrono::steady_clock::now();
  constexpr int runs = 3;
  for (int i = 0; i < runs; ++i) model->forward(x);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / runs;
  std::cout << "densenet121 forward, 8x1x320x320, 2 threads, eval, no grad: " << seconds << " s\n";
}

// Not run by default: what the inference form gives, `--gtest_also_run_disabled_tests
// --gtest_filter=*InferenceFormSpeed*`. ResNet-18 and DenseNet-121, batch 16 at 224, 2 threads.
TEST(Timing, DISABLED_InferenceFormSpeed) {
  torch::set_num_threads(2);
  const torch::Tensor x = torch::randn({16, 3, 224, 224});
  auto time = [&](Model& model) {
    c10::InferenceMode inference;
    model.forward(x);
    const auto start = std::chrono::steady_clock::now();
    constexpr int runs = 3;
    for (int i = 0; i < runs; ++i) model.forward(x);
    return 16.0 * runs / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  for (const std::string name : {"resnet18", "densenet121"}) {
    auto model = imagenet_model(name);
    model->set_training(false);
    const double eager = time(*model);
    model->set_form(ModelForm::Inference);
    const double optimized = time(*model);
    std::cout << name << " 16x3x224x224, 2 threads, inference mode: eager " << eager << " img/s, inference form " << optimized
              << " img/s (x" << optimized / eager << ")\n";
  }
}

} // namespace
