#include "loader/plugin_host.hpp"

#include <gtest/gtest.h>
#include <opencv2/core.hpp>

#include <filesystem>

namespace fs = std::filesystem;
using namespace radpipe;
using radpipe::host::PluginError;
using radpipe::host::PluginHost;

namespace {
const fs::path abi_dir = RADPIPE_ABI_DIR;

std::string broken_reason(const PluginHost& host) {
  EXPECT_EQ(host.broken().size(), 1u);
  EXPECT_TRUE(host.plugins().empty());
  return host.broken().empty() ? std::string() : host.broken().front().reason;
}
} // namespace

TEST(PluginHost, LoadsAWellFormedPlugin) {
  PluginHost host;
  ASSERT_TRUE(host.load_file(abi_dir / "libgood_plugin.so"));
  ASSERT_EQ(host.plugins().size(), 1u);
  EXPECT_EQ(host.plugins()[0]->name, "abi_good");
  EXPECT_EQ(host.plugins()[0]->version, "1.0.0");
  ASSERT_TRUE(host.find(StageKind::Transform, "add_offset"));
  EXPECT_FALSE(host.find(StageKind::Reader, "add_offset"));
}

TEST(PluginHost, RefusesALibraryWithoutEntrySymbol) {
  PluginHost host;
  EXPECT_FALSE(host.load_file(abi_dir / "libmissing_entry.so"));
  EXPECT_NE(broken_reason(host).find("no entry symbol 'radpipe_plugin_entry'"), std::string::npos);
}

TEST(PluginHost, RefusesAnotherAbiVersionNamingBothSides) {
  PluginHost host;
  EXPECT_FALSE(host.load_file(abi_dir / "libwrong_abi.so"));
  const std::string reason = broken_reason(host);
  EXPECT_NE(reason.find("plugin has ABI 999"), std::string::npos) << reason;
  EXPECT_NE(reason.find("host has ABI 1"), std::string::npos) << reason;
}

TEST(PluginHost, RefusesAnotherFingerprintNamingTheFieldsThatDiffer) {
  PluginHost host;
  EXPECT_FALSE(host.load_file(abi_dir / "libwrong_fingerprint.so"));
  const std::string reason = broken_reason(host);
  EXPECT_NE(reason.find("torch: plugin built with 0.4, host with " + std::to_string(TORCH_VERSION_MAJOR)), std::string::npos) << reason;
  EXPECT_NE(reason.find("opencv: plugin built with 3.2, host with 4."), std::string::npos) << reason;
  EXPECT_EQ(reason.find("compiler:"), std::string::npos) << "the compiler matches and must not be reported: " << reason;
}

TEST(PluginHost, RefusesATruncatedInfoStruct) {
  PluginHost host;
  EXPECT_FALSE(host.load_file(abi_dir / "libtruncated_info.so"));
  EXPECT_NE(broken_reason(host).find("truncated (4 bytes)"), std::string::npos);
}

TEST(PluginHost, RefusesAFileThatIsNotASharedObject) {
  PluginHost host;
  EXPECT_FALSE(host.load_file(abi_dir / "libnot_a_library.so"));
  EXPECT_NE(broken_reason(host).find("not a loadable shared library"), std::string::npos);
}

TEST(PluginHost, ReportsARegistrationThatThrows) {
  PluginHost host;
  EXPECT_FALSE(host.load_file(abi_dir / "libthrowing_register.so"));
  EXPECT_NE(broken_reason(host).find("register_stages threw: cannot find my model zoo"), std::string::npos);
}

TEST(PluginHost, SkipsBrokenLibrariesInAFolderAndLoadsTheRest) {
  PluginHost host;
  host.load_folders({abi_dir});
  std::vector<std::string> names;
  for (const auto& plugin : host.plugins()) names.push_back(plugin->name);
  EXPECT_EQ(names, (std::vector<std::string>{"abi_good", "abi_throwing"}));
  EXPECT_EQ(host.broken().size(), 7u); // every library of tests/abi but the two good ones
}

TEST(PluginHost, FactoryExceptionsArriveAsPluginStageKeyAndMessage) {
  PluginHost host;
  ASSERT_TRUE(host.load_file(abi_dir / "libthrowing_factory.so"));
  auto explode = host.find(StageKind::Transform, "explode");
  ASSERT_TRUE(explode);
  Params params;
  params.set("level", std::int64_t{11});
  try {
    host.create<Transform>(*explode, params, {});
    FAIL() << "the factory must throw";
  } catch (const PluginError& error) {
    EXPECT_STREQ(error.what(), "plugin abi_throwing, stage transform explode, key level: level 11 is too loud");
  }
  auto throws_int = host.find(StageKind::Aggregator, "throws_int");
  ASSERT_TRUE(throws_int);
  try {
    host.create<Aggregator>(*throws_int, {}, {});
    FAIL() << "the factory must throw";
  } catch (const PluginError& error) {
    EXPECT_NE(std::string(error.what()).find("plugin abi_throwing, stage aggregator throws_int: unknown exception"), std::string::npos);
  }
}

TEST(PluginHost, AStageOutlivesTheHostThatLoadedIt) {
  std::shared_ptr<Transform> stage;
  {
    PluginHost host;
    ASSERT_TRUE(host.load_file(abi_dir / "libgood_plugin.so"));
    Params params;
    params.set("offset", 2.5);
    stage = host.create<Transform>(*host.find(StageKind::Transform, "add_offset"), params, {});
  }
  Sample sample;
  sample.image = cv::Mat(2, 2, CV_32F, cv::Scalar(1.0));
  stage->apply(sample, {});
  EXPECT_FLOAT_EQ(sample.image.at<float>(1, 1), 3.5f);
  stage.reset(); // runs the plugin's destructor through the library the deleter kept loaded
}

TEST(PluginHost, ReportsWhichFingerprintFieldsDiffer) {
  EXPECT_EQ(host::fingerprint_difference("a=1;b=2", "a=1;b=2"), "");
  EXPECT_EQ(host::fingerprint_difference("a=1;b=3", "a=1;b=2"), "b: plugin built with 3, host with 2");
  EXPECT_EQ(host::fingerprint_difference("a=1", "a=1;c=x"), "c: plugin built with (absent), host with x");
}

TEST(PluginHost, RefusesAStageThatDeclaresAKeyTheHostOwns) {
  PluginHost host;
  EXPECT_FALSE(host.load_file(abi_dir / "libreserved_key.so"));
  ASSERT_EQ(host.broken().size(), 1u);
  EXPECT_NE(host.broken()[0].reason.find("aggregator stage 'averager' declares key 'threshold', which radpipe reads itself"), std::string::npos)
      << host.broken()[0].reason;
}
