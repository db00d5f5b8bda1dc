#include "config/pipeline_config.hpp"
#include "loader/elf_symbols.hpp"
#include "loader/plugin_host.hpp"
#include "loader/plugin_verify.hpp"
#include "loader/sha256.hpp"
#include "runtime/stage_provenance.hpp"

#include <radpipe/testing.hpp>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace radpipe;
using radpipe::host::PluginError;
using radpipe::host::PluginHost;

namespace {
const fs::path abi_dir = RADPIPE_ABI_DIR;
const fs::path vendor_dir = abi_dir / "vendor";

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

// The library's constructor leaves a marker file when it runs; the loader reads the symbol table
// from the file and must refuse it without running it. The control plugin proves the marker works.
TEST(PluginHost, RefusesALibraryWithoutEntrySymbolWithoutRunningItsCode) {
  radpipe::testing::TempFolder markers;
  ASSERT_EQ(::setenv("RADPIPE_TEST_MARKER_DIR", markers.path().c_str(), 1), 0);
  PluginHost host;
  EXPECT_FALSE(host.load_file(abi_dir / "libmissing_entry.so"));
  EXPECT_NE(broken_reason(host).find("no entry symbol 'radpipe_plugin_entry'"), std::string::npos);
  EXPECT_FALSE(fs::exists(markers.path() / "missing_entry.ran")) << "the rejected library's constructor ran";

  PluginHost control;
  EXPECT_TRUE(control.load_file(abi_dir / "libmarker_plugin.so"));
  EXPECT_TRUE(fs::exists(markers.path() / "marker_plugin.ran")) << "a loaded library's constructor leaves the marker";
  ::unsetenv("RADPIPE_TEST_MARKER_DIR");
}

// Built with -D_GLIBCXX_USE_CXX11_ABI=0, it needs SDK symbols under old-ABI names: the refusal
// must come from the fingerprint, naming both sides, not from the dynamic linker.
TEST(PluginHost, RefusesAnOldCxxAbiPluginByItsFingerprint) {
  PluginHost host;
  EXPECT_FALSE(host.load_file(abi_dir / "libold_cxx_abi.so"));
  const std::string reason = broken_reason(host);
  EXPECT_NE(reason.find("build fingerprint mismatch (cxx11_abi: plugin built with 0, host with 1)"), std::string::npos) << reason;
  EXPECT_EQ(reason.find("undefined symbol"), std::string::npos) << reason;
}

TEST(PluginHost, LoadsTheShorterInfoStructOfAnOlderSdkOfTheSameAbi) {
  PluginHost host;
  ASSERT_TRUE(host.load_file(abi_dir / "liblegacy_info.so")) << host.broken().front().reason;
  const auto& plugin = *host.plugins().front();
  EXPECT_EQ(plugin.name, "abi_legacy_info");
  EXPECT_EQ(plugin.sdk_version, "0.1.9");
  EXPECT_EQ(plugin.info_size, RADPIPE_PLUGIN_INFO_MINIMUM_SIZE);
  EXPECT_LT(plugin.info_size, sizeof(radpipe_plugin_info));
  EXPECT_EQ(plugin.license, "");
  EXPECT_EQ(plugin.min_host_version, "");
  EXPECT_TRUE(host.find(StageKind::Transform, "legacy_identity"));
}

TEST(PluginHost, ReadsTheMetadataAppendedToTheInfoStruct) {
  PluginHost host;
  ASSERT_TRUE(host.load_file(vendor_dir / "libradpipe-acme.so"));
  const auto& plugin = *host.plugins().front();
  EXPECT_EQ(plugin.info_size, sizeof(radpipe_plugin_info));
  EXPECT_EQ(plugin.license, "Apache-2.0");
  EXPECT_EQ(plugin.vendor, "Acme Imaging");
  EXPECT_EQ(plugin.url, "https://acme.example/radpipe");
  EXPECT_EQ(plugin.min_host_version, "0.2.0");
}

TEST(PluginHost, RefusesAPluginThatNeedsANewerHost) {
  PluginHost host;
  EXPECT_FALSE(host.load_file(abi_dir / "libneeds_newer_host.so"));
  const std::string reason = broken_reason(host);
  EXPECT_NE(reason.find("abi_needs_newer_host 3.0.0 needs radpipe 99.0.0 or newer; this host is radpipe " RADPIPE_SDK_VERSION_STRING),
            std::string::npos)
      << reason;
}

TEST(PluginHost, RefusesAStageNameThatContainsTheQualifyingColon) {
  PluginHost host;
  EXPECT_FALSE(host.load_file(abi_dir / "libbad_stage_name.so"));
  EXPECT_NE(broken_reason(host).find("'acme:identity' contains ':'"), std::string::npos);
}

TEST(PluginHost, RefusesAPluginNeedingASymbolNothingProvidesAtLoadTime) {
  PluginHost host;
  EXPECT_FALSE(host.load_file(abi_dir / "libunresolved_symbol.so"));
  EXPECT_NE(broken_reason(host).find("needs symbols that no loaded library provides: radpipe_test_function_nobody_defines"),
            std::string::npos);
}

// A folder writable by every user lets anyone replace a plugin; so does a world-writable file.
TEST(PluginHost, RefusesPluginsOthersCouldReplaceUnlessAllowed) {
  radpipe::testing::TempFolder scratch;
  const fs::path shared = scratch.path() / "shared", sticky = scratch.path() / "sticky";
  for (const auto& folder : {shared, sticky}) {
    fs::create_directories(folder);
    fs::copy_file(abi_dir / "libgood_plugin.so", folder / "libgood_plugin.so");
  }
  fs::permissions(shared, fs::perms::all);
  fs::permissions(sticky, fs::perms::all | fs::perms::sticky_bit);

  PluginHost host;
  EXPECT_FALSE(host.load_file(shared / "libgood_plugin.so"));
  std::string reason = broken_reason(host);
  EXPECT_NE(reason.find("refused: the folder " + shared.string() + " is writable by every user without the sticky bit (mode 0777)"),
            std::string::npos)
      << reason;
  EXPECT_NE(reason.find("--allow-insecure-plugins"), std::string::npos) << reason;

  PluginHost in_sticky;
  EXPECT_TRUE(in_sticky.load_file(sticky / "libgood_plugin.so")) << "a sticky folder (like /tmp) lets no one replace others' files";

  fs::permissions(sticky / "libgood_plugin.so", fs::perms::all);
  PluginHost writable_file;
  EXPECT_FALSE(writable_file.load_file(sticky / "libgood_plugin.so"));
  reason = broken_reason(writable_file);
  EXPECT_NE(reason.find("the plugin file " + (sticky / "libgood_plugin.so").string() + " is writable by every user (mode 0777)"),
            std::string::npos)
      << reason;

  PluginHost allowed(host::LoadOptions{.allow_insecure = true});
  EXPECT_TRUE(allowed.load_file(shared / "libgood_plugin.so"));
  ASSERT_EQ(allowed.warnings().size(), 1u);
  EXPECT_NE(allowed.warnings()[0].find("(--allow-insecure-plugins)"), std::string::npos);
}

// The dynamic symbol table survives `strip`, which removes .symtab from every packaged library.
TEST(ElfSymbols, ReadsTheDynamicSymbolsOfAStrippedLibrary) {
  radpipe::testing::TempFolder scratch;
  const fs::path stripped = scratch.path() / "libstripped.so";
  ASSERT_EQ(std::system(("strip --strip-all -o " + stripped.string() + " " + (abi_dir / "libgood_plugin.so").string()).c_str()), 0);
  const auto symbols = host::read_dynamic_symbols(stripped);
  EXPECT_NE(std::find(symbols.defined.begin(), symbols.defined.end(), "radpipe_plugin_entry"), symbols.defined.end());
  PluginHost host;
  EXPECT_TRUE(host.load_file(stripped));
  EXPECT_THROW(host::read_dynamic_symbols(scratch.write("text.so", "not an ELF file at all, but long enough to have a header......")),
               std::runtime_error);
}

TEST(PluginHost, RefusesAnotherAbiVersionNamingBothSides) {
  PluginHost host;
  EXPECT_FALSE(host.load_file(abi_dir / "libwrong_abi.so"));
  const std::string reason = broken_reason(host);
  EXPECT_NE(reason.find("plugin has ABI 999"), std::string::npos) << reason;
  EXPECT_NE(reason.find("host has ABI " + std::to_string(RADPIPE_ABI_VERSION) + " (SDK " RADPIPE_SDK_VERSION_STRING ")"), std::string::npos)
      << reason;
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
  EXPECT_EQ(names, (std::vector<std::string>{"abi_good", "abi_legacy_info", "abi_marker", "abi_throwing"}));
  EXPECT_EQ(host.broken().size(), 11u); // every library of tests/abi but the four good ones
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

TEST(PluginHost, ComparesVersionNumbers) {
  EXPECT_EQ(host::compare_versions("0.2.0", "0.2"), 0);
  EXPECT_EQ(host::compare_versions("0.10.1", "0.9"), 1);
  EXPECT_EQ(host::compare_versions("1", "1.0.1"), -1);
  EXPECT_FALSE(host::compare_versions("1.x", "1.0"));
  EXPECT_FALSE(host::compare_versions("", "1.0"));
}

// Two plugins registering aggregator `mean`: neither is chosen silently. A pipeline naming `mean`
// is refused, naming both; `acme:mean` or `aggregators:mean` chooses one, and the run record says
// which plugin and version served each stage.
TEST(PluginHost, AClashOfStageNamesMustBeResolvedByQualifiedNames) {
  PluginHost host;
  host.load_folders({RADPIPE_PLUGIN_DIR, vendor_dir});
  ASSERT_TRUE(host.broken().empty()) << host.broken().front().reason;
  EXPECT_FALSE(host.find(StageKind::Aggregator, "mean"));
  const std::string ambiguity = host.ambiguity(StageKind::Aggregator, "mean");
  EXPECT_NE(ambiguity.find("aggregator 'mean' is registered by 2 plugins"), std::string::npos) << ambiguity;
  EXPECT_NE(ambiguity.find("'aggregators:mean' or 'acme:mean'"), std::string::npos) << ambiguity;
  ASSERT_TRUE(host.find(StageKind::Aggregator, "acme:mean"));
  EXPECT_EQ(host.find(StageKind::Aggregator, "acme:mean")->plugin->name, "acme");
  EXPECT_EQ(host.find(StageKind::Aggregator, "aggregators:mean")->plugin->name, "aggregators");
  EXPECT_TRUE(host.find(StageKind::Aggregator, "max")) << "an unclashed name needs no qualification";
  EXPECT_FALSE(host.find(StageKind::Aggregator, "acme:max"));
  ASSERT_EQ(host.clashes().size(), 1u);
  EXPECT_EQ(host.clashes()[0].name, "mean");

  const std::string labels = std::string(RADPIPE_SHARED_DIR) + "/data/fracatlas/labels.csv";
  const std::string pipeline = "[pipeline]\nname = \"clash\"\n[reader]\nstage = \"csv\"\nfile = \"" + labels +
                               "\"\n[model]\nstage = \"cnn\"\n[aggregate]\nstage = \"mean\"\n";
  auto ambiguous = host::parse_pipeline(pipeline, "/pipelines/clash.toml", host);
  ASSERT_EQ(ambiguous.diagnostics.size(), 1u);
  EXPECT_EQ(format(ambiguous.diagnostics[0]).rfind("/pipelines/clash.toml:9:9: error: aggregator 'mean' is registered by 2 plugins", 0), 0u)
      << format(ambiguous.diagnostics[0]);

  std::string qualified = pipeline;
  qualified.replace(qualified.find("\"mean\""), 6, "\"acme:mean\"");
  auto chosen = host::parse_pipeline(qualified, "/pipelines/clash.toml", host);
  ASSERT_TRUE(chosen.diagnostics.empty()) << format(chosen.diagnostics[0]);
  EXPECT_EQ(chosen.config->aggregate.entry.plugin->name, "acme");

  const auto provenance = host::stage_provenance(*chosen.config);
  ASSERT_EQ(provenance.size(), 3u); // reader, model, aggregate
  EXPECT_EQ(provenance[2]["table"], "aggregate");
  EXPECT_EQ(provenance[2]["stage"], "acme:mean");
  EXPECT_EQ(provenance[2]["plugin_version"], "2.1.0");
  EXPECT_EQ(provenance[2]["sha256"], host::sha256_of_file(vendor_dir / "libradpipe-acme.so"));
  EXPECT_EQ(provenance[0]["stage"], "readers:csv");
}

TEST(Sha256, MatchesTheFipsExamples) {
  auto digest = [](const std::string& text) {
    host::Sha256 hash;
    hash.update(text);
    return hash.hex_digest();
  };
  EXPECT_EQ(digest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(digest(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// The list is what `sha256sum` writes; a tampered plugin and an unlisted one both fail.
TEST(PluginVerify, ChecksPluginFilesAgainstASha256sumList) {
  radpipe::testing::TempFolder scratch;
  const fs::path folder = scratch.path() / "plugins";
  fs::create_directories(folder);
  for (const char* name : {"libgood_plugin.so", "libthrowing_factory.so", "liblegacy_info.so"}) fs::copy_file(abi_dir / name, folder / name);
  const fs::path list = scratch.path() / "plugins.sha256";
  ASSERT_EQ(std::system(("cd " + folder.string() + " && sha256sum libgood_plugin.so libthrowing_factory.so > " + list.string()).c_str()), 0);
  { std::ofstream(folder / "libthrowing_factory.so", std::ios::app) << "tampered"; }

  const auto entries = host::read_checksum_list(list);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].path, "libgood_plugin.so");
  const auto results = host::verify_plugin_files(host::plugin_files({folder}), entries);
  ASSERT_EQ(results.size(), 3u); // sorted: good, legacy, throwing
  EXPECT_EQ(results[0].status, host::VerifyStatus::Verified);
  EXPECT_EQ(results[1].status, host::VerifyStatus::Unlisted);
  EXPECT_EQ(results[2].status, host::VerifyStatus::Mismatch);
  EXPECT_EQ(results[2].listed->line, 2u);

  std::ofstream(list, std::ios::app) << "not-a-checksum  libx.so\n";
  try {
    host::read_checksum_list(list);
    FAIL() << "a malformed line must be refused";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(list.string() + ":3: "), std::string::npos) << error.what();
  }
}
