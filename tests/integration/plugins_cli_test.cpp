// The plugin vendor's side of the real radpipe binary: versions, plugin metadata, stage names
// that clash, exceptions from a vendor's stage, and the plugin trust checks. The vendor plugin is
// tests/abi/vendor_acme.cpp, a real library built by the test tree.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <radpipe/testing.hpp>
#include <radpipe/version.hpp>
#include <regex>

namespace fs = std::filesystem;
using radpipe::testing::CommandResult;
using radpipe::testing::read_text;
using radpipe::testing::TempFolder;

namespace {

const fs::path source_dir = RADPIPE_SOURCE_DIR;
const fs::path vendor_dir = fs::path(RADPIPE_BINARY_DIR) / "tests" / "abi" / "vendor";

CommandResult run_radpipe(const std::string& arguments) {
  return radpipe::testing::run_command(std::string(RADPIPE_EXECUTABLE) + " " + arguments);
}

// The demo pipeline with its paths made absolute, written into `folder`, its aggregator and
// on_error replaced and `extra` preprocessing appended after the grayscale step.
fs::path demo_variant(const TempFolder& folder, const std::string& aggregator, const std::string& on_error,
                      const std::string& extra = "") {
  std::string text = read_text(source_dir / "pipelines" / "demo.toml");
  text = std::regex_replace(text, std::regex(R"("\.\./samples/)"),
                            "\"" + (source_dir / "samples").string() + "/");
  text = std::regex_replace(text, std::regex(R"(\[aggregate\]\nstage = "mean")"),
                            "[aggregate]\nstage = \"" + aggregator + "\"");
  text = std::regex_replace(text, std::regex(R"(\[pipeline\]\n)"),
                            "[pipeline]\non_error = \"" + on_error + "\"\n");
  text = std::regex_replace(text, std::regex(R"((stage = "grayscale"\n))"), "$1" + extra);
  EXPECT_NE(text.find("stage = \"" + aggregator + "\""), std::string::npos)
      << "the demo's [aggregate] table changed";
  return folder.write("pipeline.toml", text);
}

} // namespace

TEST(PluginsCli, VersionPrintsSdkAbiAndFingerprint) {
  const CommandResult run = run_radpipe("--version");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_NE(run.out.find("radpipe " RADPIPE_SDK_VERSION_STRING "\n"), std::string::npos) << run.out;
  EXPECT_NE(
      run.out.find("SDK " RADPIPE_SDK_VERSION_STRING ", plugin ABI " + std::to_string(RADPIPE_ABI_VERSION)),
      std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("build fingerprint compiler="), std::string::npos) << run.out;
  EXPECT_NE(run.out.find(";cxx11_abi="), std::string::npos) << run.out;
}

// Global options work after the subcommand too; the listing shows each plugin's SDK version and
// the metadata it declares, and says which stage names clash.
TEST(PluginsCli, ListsMetadataAndClashesWithGlobalOptionsAfterTheCommand) {
  const CommandResult text = run_radpipe("plugins --plugin-path " + vendor_dir.string());
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("acme 2.1.0  A vendor's plugin whose names clash"), std::string::npos) << text.out;
  EXPECT_NE(
      text.out.find(
          "SDK " RADPIPE_SDK_VERSION_STRING
          ", license Apache-2.0, vendor Acme Imaging, https://acme.example/radpipe, needs radpipe >= 0.2.0"),
      std::string::npos)
      << text.out;
  // In search-path order: --plugin-path before the installation's folder.
  EXPECT_NE(text.out.find(
                "CLASH aggregator 'mean' is registered by plugins acme, aggregators: pipelines must name it "
                "'acme:mean' or 'aggregators:mean'"),
            std::string::npos)
      << text.out;

  const CommandResult json = run_radpipe("plugins --json --plugin-path " + vendor_dir.string());
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto listing = nlohmann::json::parse(json.out);
  EXPECT_EQ(listing["host"]["abi_version"], RADPIPE_ABI_VERSION);
  EXPECT_EQ(listing["host"]["sdk_version"], RADPIPE_SDK_VERSION_STRING);
  bool found = false;
  for (const auto& plugin : listing["plugins"])
    if (plugin["name"] == "acme") {
      found = true;
      EXPECT_EQ(plugin["license"], "Apache-2.0");
      EXPECT_EQ(plugin["vendor"], "Acme Imaging");
      EXPECT_EQ(plugin["url"], "https://acme.example/radpipe");
      EXPECT_EQ(plugin["min_host_version"], "0.2.0");
      EXPECT_EQ(plugin["abi_version"], RADPIPE_ABI_VERSION);
    }
  EXPECT_TRUE(found) << json.out;
  ASSERT_EQ(listing["clashes"].size(), 1u) << json.out;
  EXPECT_EQ(listing["clashes"][0]["qualified"], (nlohmann::json{"acme:mean", "aggregators:mean"}));

  const CommandResult inspect = run_radpipe("inspect aggregator/acme:mean --plugin-path " + vendor_dir.string());
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("aggregator mean (plugin acme 2.1.0)"), std::string::npos) << inspect.out;
}

// With the vendor's `mean` installed, the demo's `stage = "mean"` is an error at its line; named
// `acme:mean`, the vendor's stage serves, and run.json records plugin and version of every stage.
TEST(PluginsCli, AClashIsAnErrorUntilThePipelineQualifiesTheName) {
  TempFolder folder;
  const std::string plugins = "--plugin-path " + vendor_dir.string() + " ";
  const CommandResult ambiguous = run_radpipe(plugins + "check " + demo_variant(folder, "mean", "skip").string());
  EXPECT_EQ(ambiguous.exit_code, 1);
  EXPECT_TRUE(std::regex_search(
      ambiguous.err,
      std::regex(R"(pipeline\.toml:\d+:9: error: aggregator 'mean' is registered by 2 plugins)")))
      << ambiguous.err;

  const CommandResult run =
      run_radpipe(plugins + "predict " + demo_variant(folder, "acme:mean", "skip").string() +
              " --limit 3 --out " + (folder.path() / "out").string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto record = nlohmann::json::parse(read_text(folder.path() / "out" / "run.json"));
  ASSERT_TRUE(record["stages"].is_array()) << record.dump(2);
  nlohmann::json aggregate;
  for (const auto& stage : record["stages"])
    if (stage["table"] == "aggregate") aggregate = stage;
  EXPECT_EQ(aggregate["stage"], "acme:mean");
  EXPECT_EQ(aggregate["plugin"], "acme");
  EXPECT_EQ(aggregate["plugin_version"], "2.1.0");
  EXPECT_EQ(aggregate["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(record["stages"][0]["stage"], "readers:csv");
}

// A vendor's transform throwing std::out_of_range on one image: with on_error = "skip" that image
// is skipped and attributed to its path, plugin and stage; with "fail" the run stops, saying so.
TEST(PluginsCli, AnExceptionFromAStageFailsItsImageAndFollowsOnError) {
  TempFolder folder;
  const std::string plugins = "--plugin-path " + vendor_dir.string() + " ";
  const std::string fail_on = "\n[[preprocess]]\nstage = \"fail_on\"\nid = \"IMG0000015\"\n";
  const CommandResult skipped =
      run_radpipe(plugins + "predict " + demo_variant(folder, "aggregators:mean", "skip", fail_on).string() +
              " --out " + (folder.path() / "skip").string());
  ASSERT_EQ(skipped.exit_code, 0) << skipped.err;
  EXPECT_NE(skipped.err.find("IMG0000015.jpg: plugin acme, stage transform fail_on: index 7 out of range"),
            std::string::npos)
      << skipped.err;
  const auto record = nlohmann::json::parse(read_text(folder.path() / "skip" / "run.json"));
  EXPECT_EQ(record["images"], 19);
  ASSERT_EQ(record["skipped"].size(), 1u);
  EXPECT_NE(record["skipped"][0]["path"].get<std::string>().find("IMG0000015.jpg"), std::string::npos);
  EXPECT_EQ(record["skipped"][0]["reason"],
            "plugin acme, stage transform fail_on: index 7 out of range in acme's lookup table");

  const CommandResult stopped =
      run_radpipe(plugins + "predict " + demo_variant(folder, "aggregators:mean", "fail", fail_on).string() +
              " --out " + (folder.path() / "fail").string());
  EXPECT_EQ(stopped.exit_code, 3) << "a plugin failure: " << stopped.err;
  EXPECT_NE(stopped.err.find("IMG0000015.jpg: plugin acme, stage transform fail_on: index 7 out of range"),
            std::string::npos)
      << stopped.err;
  // The run stopped: its record says so, and vouches only for what was committed before.
  EXPECT_EQ(nlohmann::json::parse(read_text(folder.path() / "fail" / "run.json"))["status"], "failed");
}

TEST(PluginsCli, VerifiesPluginChecksumsAgainstTheSitesList) {
  TempFolder folder;
  const fs::path plugins_dir = fs::path(RADPIPE_PLUGIN_DIR);
  const fs::path list = folder.path() / "plugins.sha256";
  ASSERT_EQ(std::system(("sha256sum " + plugins_dir.string() + "/*.so " + vendor_dir.string() + "/*.so > " +
                         list.string())
                            .c_str()),
            0);
  const CommandResult verified =
      run_radpipe("--plugin-path " + vendor_dir.string() + " plugins --verify " + list.string());
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_NE(verified.out.find("OK         " + (vendor_dir / "libradpipe-acme.so").string()),
            std::string::npos)
      << verified.out;

  // The vendor's plugin replaced by another file: its checksum no longer matches the list.
  const fs::path copy = folder.path() / "vendor";
  fs::create_directories(copy);
  fs::permissions(copy, fs::perms::owner_all);
  fs::copy_file(fs::path(RADPIPE_BINARY_DIR) / "tests" / "abi" / "libgood_plugin.so",
                copy / "libradpipe-acme.so");
  std::string entries = read_text(list);
  entries = std::regex_replace(entries, std::regex(vendor_dir.string()), copy.string());
  std::ofstream(list) << entries;
  const CommandResult tampered =
      run_radpipe("--plugin-path " + copy.string() + " plugins --verify " + list.string());
  EXPECT_EQ(tampered.exit_code, 1);
  EXPECT_NE(tampered.out.find("MISMATCH   " + (copy / "libradpipe-acme.so").string()), std::string::npos)
      << tampered.out;

  const CommandResult unlisted =
      run_radpipe("--plugin-path " + (fs::path(RADPIPE_BINARY_DIR) / "tests" / "abi").string() +
              " plugins --verify " + list.string() + " --json");
  EXPECT_EQ(unlisted.exit_code, 1);
  EXPECT_NE(unlisted.out.find("\"status\": \"UNLISTED\""), std::string::npos) << unlisted.out;
}

TEST(PluginsCli, RefusesAPluginInAFolderEveryoneCanWriteUnlessAllowed) {
  TempFolder folder;
  const fs::path open = folder.path() / "open";
  fs::create_directories(open);
  fs::copy_file(vendor_dir / "libradpipe-acme.so", open / "libradpipe-acme.so");
  fs::permissions(open, fs::perms::all);
  const CommandResult refused = run_radpipe("plugins --plugin-path " + open.string());
  EXPECT_EQ(refused.exit_code, 0);
  EXPECT_NE(refused.out.find("BROKEN " + (open / "libradpipe-acme.so").string()), std::string::npos)
      << refused.out;
  EXPECT_NE(refused.out.find("is writable by every user without the sticky bit"), std::string::npos)
      << refused.out;

  const CommandResult allowed = run_radpipe("plugins --allow-insecure-plugins --plugin-path " + open.string());
  EXPECT_NE(allowed.out.find("acme 2.1.0"), std::string::npos) << allowed.out;
  EXPECT_NE(allowed.out.find("WARNING loading " + (open / "libradpipe-acme.so").string()), std::string::npos)
      << allowed.out;
}
