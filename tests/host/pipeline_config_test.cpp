#include "config/pipeline_config.hpp"
#include "real_plugins.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

namespace fs = std::filesystem;
using namespace radpipe::host;

namespace {

using radpipe::host::test_support::real_plugins;

const std::string labels = std::string(RADPIPE_SHARED_DIR) + "/data/fracatlas/labels.csv";

std::vector<std::string> messages_of(const std::string& text) {
  std::vector<std::string> messages;
  for (const auto& diagnostic : parse_pipeline(text, "/pipelines/test.toml", real_plugins()).diagnostics) messages.push_back(format(diagnostic));
  return messages;
}

// A valid pipeline, line by line, so that tests can break single lines.
std::string valid_pipeline() {
  return "[pipeline]\n"                                  // 1
         "name = \"unit\"\n"                             // 2
         "batch_size = 4\n"                              // 3
         "\n"                                            // 4
         "[reader]\n"                                    // 5
         "stage = \"csv\"\n"                             // 6
         "file = \"" + labels + "\"\n"                   // 7
         "label_column = \"fractured\"\n"                // 8
         "\n"                                            // 9
         "[[preprocess]]\n"                              // 10
         "stage = \"grayscale\"\n"                       // 11
         "[[preprocess]]\n"                              // 12
         "stage = \"resize\"\n"                          // 13
         "size = [64, 64]\n"                             // 14
         "\n"                                            // 15
         "[model]\n"                                     // 16
         "stage = \"cnn\"\n"                             // 17
         "device = \"cpu\"\n"                            // 18
         "\n"                                            // 19
         "[aggregate]\n"                                 // 20
         "stage = \"mean\"\n"                            // 21
         "threshold = 0.4\n";                            // 22
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

} // namespace

TEST(PipelineConfig, AValidPipelineResolvesEveryStageAndAppliesDefaults) {
  auto result = parse_pipeline(valid_pipeline(), "/pipelines/test.toml", real_plugins());
  ASSERT_TRUE(result.diagnostics.empty()) << format(result.diagnostics.front());
  const auto& config = *result.config;
  EXPECT_EQ(config.settings.string("name"), "unit");
  EXPECT_EQ(config.settings.integer("batch_size"), 4);
  EXPECT_EQ(config.settings.string("on_error"), "skip"); // the schema's default
  EXPECT_EQ(config.reader.entry.stage->name, "csv");
  ASSERT_EQ(config.preprocess.size(), 2u);
  EXPECT_EQ(config.preprocess[1].params.integers("size"), (std::vector<std::int64_t>{64, 64}));
  ASSERT_EQ(config.chains.size(), 1u);
  EXPECT_EQ(config.chains[0].name, "default");
  EXPECT_EQ(config.chains[0].device(), "cpu");
  EXPECT_EQ(config.chains[0].batch_size, 4u);
  EXPECT_DOUBLE_EQ(config.threshold, 0.4);
  EXPECT_EQ(config.preprocess[0].where.line, 10);
}

TEST(PipelineConfig, ReportsASyntaxErrorWithItsPosition) {
  auto messages = messages_of("[pipeline]\nname = \"x\"\nseed = = 3\n");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].rfind("/pipelines/test.toml:3:", 0), 0u) << messages[0];
}

TEST(PipelineConfig, ReportsAnUnknownKeyWithTheClosestValidOne) {
  auto messages = messages_of(replace(valid_pipeline(), "size = [64, 64]", "sise = [64, 64]"));
  ASSERT_EQ(messages.size(), 2u); // the typo, and then `size` is missing
  EXPECT_EQ(messages[0], "/pipelines/test.toml:14:1: error: unknown key 'sise' in [[preprocess]] #2 (transform 'resize'); did you mean 'size'?");
  EXPECT_NE(messages[1].find("/pipelines/test.toml:12:1: error: missing required key 'size' in [[preprocess]] #2"), std::string::npos) << messages[1];
}

TEST(PipelineConfig, ValidatesOutputWritersLikeEveryStage) {
  auto messages = messages_of(valid_pipeline() + "[[output]]\nstage = \"jsonl\"\nfiel = \"x.jsonl\"\n[[output]]\nstage = \"parquet\"\n");
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_NE(messages[0].find("unknown key 'fiel' in [[output]] #1 (writer 'jsonl'); did you mean 'file'?"), std::string::npos) << messages[0];
  EXPECT_NE(messages[1].find("[[output]] #2"), std::string::npos) << messages[1];
  auto valid = parse_pipeline(valid_pipeline() + "[[output]]\nstage = \"csv\"\n[[output]]\nstage = \"mura_submission\"\n",
                              "/pipelines/test.toml", real_plugins());
  ASSERT_TRUE(valid.config) << (valid.diagnostics.empty() ? "" : format(valid.diagnostics[0]));
  ASSERT_EQ(valid.config->outputs.size(), 2u);
  EXPECT_EQ(valid.config->outputs[1].params.string("file"), "mura-submission.csv");
}

TEST(PipelineConfig, ReportsAWrongType) {
  auto messages = messages_of(replace(valid_pipeline(), "batch_size = 4", "batch_size = \"four\""));
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0], "/pipelines/test.toml:3:14: error: key 'batch_size' in [pipeline]: expected an integer, got a string");
}

TEST(PipelineConfig, ReportsAValueOutOfRange) {
  auto messages = messages_of(replace(valid_pipeline(), "size = [64, 64]", "size = [64, 2]"));
  ASSERT_EQ(messages.size(), 1u) << testing::PrintToString(messages);
  EXPECT_NE(messages[0].find("/pipelines/test.toml:14:8: error: key 'size' in [[preprocess]] #2 (transform 'resize'): item 1 (2) is out of range"),
            std::string::npos)
      << messages[0];
}

TEST(PipelineConfig, ReportsAValueOutsideItsChoices) {
  auto messages = messages_of(replace(valid_pipeline(), "batch_size = 4", "batch_size = 4\non_error = \"ignore\""));
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0], "/pipelines/test.toml:4:12: error: key 'on_error' in [pipeline]: \"ignore\" is not one of \"skip\", \"fail\"");
}

TEST(PipelineConfig, ReportsAMissingRequiredKeyAtItsTable) {
  auto messages = messages_of(replace(valid_pipeline(), "name = \"unit\"\n", "\n"));
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].rfind("/pipelines/test.toml:1:1: error: missing required key 'name' in [pipeline] (string)", 0), 0u) << messages[0];
}

TEST(PipelineConfig, ReportsAnUnknownStageListingTheAvailableOnes) {
  auto messages = messages_of(replace(valid_pipeline(), "stage = \"mean\"", "stage = \"meen\""));
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].find("/pipelines/test.toml:21:9: error: unknown aggregator stage 'meen' in [aggregate]; did you mean 'mean'?"),
            std::string::npos)
      << messages[0];
  EXPECT_NE(messages[0].find("available aggregator stages: "), std::string::npos);
  EXPECT_NE(messages[0].find("max"), std::string::npos);
}

TEST(PipelineConfig, SaysWhenAStageExistsUnderAnotherKind) {
  auto messages = messages_of(replace(valid_pipeline(), "stage = \"grayscale\"", "stage = \"mean\""));
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].find("('mean' is an aggregator stage of plugin aggregators)"), std::string::npos) << messages[0];
}

TEST(PipelineConfig, ReportsEveryProblemAtOnce) {
  std::string text = valid_pipeline();
  text = replace(text, "batch_size = 4", "batch_size = -1");
  text = replace(text, "label_column = \"fractured\"", "label_colum = \"fractured\"");
  text = replace(text, "device = \"cpu\"", "device = \"gpu7\"");
  auto messages = messages_of(text);
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0].rfind("/pipelines/test.toml:3:14: error: key 'batch_size'", 0), 0u) << messages[0];
  EXPECT_EQ(messages[1].rfind("/pipelines/test.toml:8:1: error: unknown key 'label_colum' in [reader] (reader 'csv'); did you mean 'label_column'?", 0), 0u) << messages[1];
  EXPECT_EQ(messages[2].rfind("/pipelines/test.toml:18:10: error: key 'device' in [model]", 0), 0u) << messages[2];
}

TEST(PipelineConfig, ReportsUnknownTables) {
  auto messages = messages_of(valid_pipeline() + "[agregate]\nstage = \"mean\"\n");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0], "/pipelines/test.toml:23:2: error: unknown table [agregate]; did you mean [aggregate]?");
}

TEST(PipelineConfig, ResolvesRelativePathsAgainstThePipelineFolder) {
  const fs::path data = fs::path(RADPIPE_SHARED_DIR) / "data" / "fracatlas";
  auto result = parse_pipeline(replace(valid_pipeline(), "file = \"" + labels + "\"", "file = \"labels.csv\""), data / "p.toml", real_plugins());
  ASSERT_TRUE(result.diagnostics.empty()) << format(result.diagnostics.front());
  EXPECT_EQ(result.config->reader.params.path("file"), (data / "labels.csv").lexically_normal());

  auto missing = parse_pipeline(replace(valid_pipeline(), "file = \"" + labels + "\"", "file = \"nowhere.csv\""), "/tmp/p.toml", real_plugins());
  ASSERT_EQ(missing.diagnostics.size(), 1u) << format(missing.diagnostics.back());
  EXPECT_NE(format(missing.diagnostics[0]).find("/tmp/p.toml:7:8: error: key 'file' in [reader] (reader 'csv'): no such file or folder: /tmp/nowhere.csv"),
            std::string::npos)
      << format(missing.diagnostics[0]);
}

TEST(PipelineConfig, ValidatesRoutesAndTheirModels) {
  std::string text = valid_pipeline() +
                     "[route]\nstage = \"by_field\"\nby = \"body_part\"\n"                  // 23-25
                     "[route.hand.model]\nstage = \"cnn\"\nblocks = 3\ndevice = \"cpu\"\n" // 26-29
                     "[route.leg.model]\nstage = \"cnn\"\nblokcs = 3\n";                   // 30-32
  auto messages = messages_of(text);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].rfind("/pipelines/test.toml:32:1: error: unknown key 'blokcs' in [route.leg.model] (model 'cnn'); did you mean 'blocks'?", 0), 0u)
      << messages[0];
  auto fixed = parse_pipeline(replace(text, "blokcs", "blocks"), "/pipelines/test.toml", real_plugins());
  ASSERT_TRUE(fixed.config);
  ASSERT_TRUE(fixed.config->route);
  EXPECT_EQ(fixed.config->route->router.entry.stage->name, "by_field");
  EXPECT_EQ(fixed.config->route->router.params.string("by"), "body_part");
  EXPECT_EQ(fixed.config->route->fallback, "default"); // [model] catches what no route takes
  ASSERT_EQ(fixed.config->chains.size(), 3u);
  EXPECT_EQ(fixed.config->chains[1].name, "hand");
  EXPECT_EQ(fixed.config->chains[2].name, "leg");
}

TEST(PipelineConfig, ARouteIsAWholeChain) {
  const std::string text = valid_pipeline() +
                           "[train]\nepochs = 4\nlearning_rate = 0.001\n"         // 23-25
                           "[route]\nstage = \"by_field\"\nby = \"BodyPartExamined\"\n" // 26-28
                           "[route.hand]\nbatch_size = 2\nmatch = [\"HAND\", \"XR_HAND\"]\n" // 29-31
                           "[[route.hand.preprocess]]\nstage = \"invert\"\n"          // 32-33
                           "[route.hand.model]\nstage = \"resnet\"\ndepth = 18\n"     // 34-36
                           "[route.hand.aggregate]\nstage = \"max\"\nthreshold = 0.3\n" // 37-39
                           "[route.hand.train]\nlearning_rate = 0.01\n";             // 40-41
  auto result = parse_pipeline(text, "/pipelines/test.toml", real_plugins());
  ASSERT_TRUE(result.diagnostics.empty()) << format(result.diagnostics.front());
  const ChainConfig* hand = result.config->chain("hand");
  ASSERT_NE(hand, nullptr);
  EXPECT_EQ(hand->batch_size, 2u);
  EXPECT_TRUE(hand->matches("xr_hand"));
  EXPECT_TRUE(hand->matches("Hand"));
  EXPECT_FALSE(hand->matches("leg"));
  ASSERT_EQ(hand->preprocess.size(), 1u);
  EXPECT_EQ(hand->preprocess[0].table, "route.hand.preprocess[1]");
  EXPECT_EQ(hand->model.entry.stage->name, "resnet");
  EXPECT_EQ(hand->device(), "auto");
  EXPECT_EQ(hand->aggregate.entry.stage->name, "max");
  EXPECT_DOUBLE_EQ(hand->threshold, 0.3);
  ASSERT_TRUE(hand->train);
  EXPECT_DOUBLE_EQ(hand->train->real("learning_rate"), 0.01); // its own
  EXPECT_EQ(hand->train->integer("epochs"), 4);              // the pipeline's
  const ChainConfig* fallback = result.config->default_chain();
  ASSERT_NE(fallback, nullptr);
  EXPECT_DOUBLE_EQ(fallback->train->real("learning_rate"), 0.001);
  EXPECT_EQ(fallback->aggregate.entry.stage->name, "mean");
  EXPECT_DOUBLE_EQ(fallback->threshold, 0.4);
}

TEST(PipelineConfig, ReportsRouteMistakesWhereTheyAre) {
  const std::string text = valid_pipeline() +
                           "[route]\nstage = \"by_field\"\nby = \"body_part\"\nfallback = \"hnad\"\n" // 23-26
                           "[route.default.model]\nstage = \"cnn\"\n"                              // 27-28
                           "[route.hand]\nbatch_sise = 3\n"                                         // 29-30
                           "[route.hand.model]\nstage = \"cnn\"\ndevice = \"gpu\"\n"               // 31-33
                           "[route.hand.train]\noutput = \"elsewhere\"\n"                           // 34-35
                           "[train]\nepochs = 2\n";                                                  // 36-37
  const auto messages = messages_of(text);
  auto has = [&](const std::string& wanted) {
    return std::any_of(messages.begin(), messages.end(), [&](const std::string& message) { return message.rfind(wanted, 0) == 0; });
  };
  std::string all;
  for (const auto& message : messages) all += message + "\n";
  EXPECT_TRUE(has("/pipelines/test.toml:26:12: error: key 'fallback' in [route]: no chain named 'hnad'; did you mean 'hand'?")) << all;
  EXPECT_TRUE(has("/pipelines/test.toml:27:8: error: route name 'default' is reserved")) << all;
  EXPECT_TRUE(has("/pipelines/test.toml:30:1: error: unknown key 'batch_sise' in [route.hand]; did you mean 'batch_size'?")) << all;
  EXPECT_TRUE(has("/pipelines/test.toml:33:10: error: key 'device' in [route.hand.model]")) << all;
  EXPECT_TRUE(has("/pipelines/test.toml:35:1: error: unknown key 'output' in [route.hand.train]")) << all;
  EXPECT_EQ(messages.size(), 5u) << all;
  const auto without_train = messages_of(text.substr(0, text.find("[train]")));
  EXPECT_TRUE(std::any_of(without_train.begin(), without_train.end(), [](const std::string& message) {
    return message.rfind("/pipelines/test.toml:34:1: error: [route.hand.train] overrides [train], but the pipeline has no [train] table", 0) == 0;
  }));
}

TEST(PipelineConfig, RoutesWithoutModelMustSayWhereUnknownStudiesGo) {
  std::string routed_only = replace(valid_pipeline(), "[model]\nstage = \"cnn\"\ndevice = \"cpu\"\n", "") +
                            "[route]\nstage = \"by_field\"\nby = \"body_part\"\n" // 19-21
                            "[route.hand.model]\nstage = \"cnn\"\n";
  auto messages = messages_of(routed_only);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].find("on_unknown = \"fallback\"), but there is none"), std::string::npos) << messages[0];
  auto skipping = parse_pipeline(replace(routed_only, "by = \"body_part\"\n", "by = \"body_part\"\non_unknown = \"skip\"\n"), "/pipelines/test.toml",
                                 real_plugins());
  ASSERT_TRUE(skipping.diagnostics.empty()) << format(skipping.diagnostics.front());
  EXPECT_EQ(skipping.config->chains.size(), 1u);
  EXPECT_EQ(skipping.config->default_chain(), nullptr);
}

TEST(PipelineConfig, AConsultedChainMustBeAClassifier) {
  const std::string text = valid_pipeline() +
                           "[route]\nstage = \"classifier\"\nconsult = \"part\"\n" // 23-25
                           "[route.part.model]\nstage = \"cnn\"\n"                 // 26-27
                           "[route.hand.model]\nstage = \"cnn\"\n";                // 28-29
  auto messages = messages_of(text);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].rfind("/pipelines/test.toml:25:11: error: key 'consult' in [route]: chain 'part' has no classes", 0), 0u) << messages[0];
  auto fixed = parse_pipeline(replace(text, "[route.part.model]\nstage = \"cnn\"\n",
                                      "[route.part.model]\nstage = \"cnn\"\noutputs = 2\nclasses = [\"hand\", \"leg\"]\ntarget = \"body_part\"\n"),
                              "/pipelines/test.toml", real_plugins());
  ASSERT_TRUE(fixed.diagnostics.empty()) << format(fixed.diagnostics.front());
  EXPECT_EQ(fixed.config->chain("part")->classes(), (std::vector<std::string>{"hand", "leg"}));
  EXPECT_EQ(fixed.config->chain("part")->target(), "body_part");
}

TEST(PipelineConfig, ValidatesTheTrainTable) {
  auto messages = messages_of(valid_pipeline() + "[train]\nepochs = 0\noptimiser = \"adam\"\n");
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].rfind("/pipelines/test.toml:24:10: error: key 'epochs' in [train]: value 0 is out of range", 0), 0u) << messages[0];
  EXPECT_EQ(messages[1], "/pipelines/test.toml:25:1: error: unknown key 'optimiser' in [train]; did you mean 'optimizer'?");
}

// `--set KEY=VALUE` overrides: applied to the parsed file before validation, validated like the
// file, and reported at the override when they are wrong.
namespace {

std::string pipeline_text() {
  return "[pipeline]\n"                    // 1
         "name = \"unit\"\n"               // 2
         "batch_size = 4\n"                // 3
         "[reader]\n"                      // 4
         "stage = \"csv\"\n"               // 5
         "file = \"" + labels + "\"\n"     // 6
         "label_column = \"fractured\"\n"  // 7
         "[[preprocess]]\n"                // 8
         "stage = \"grayscale\"\n"         // 9
         "[[preprocess]]\n"                // 10
         "stage = \"resize\"\n"            // 11
         "size = [64, 64]\n"               // 12
         "[model]\n"                       // 13
         "stage = \"cnn\"\n"               // 14
         "device = \"auto\"\n"             // 15
         "[aggregate]\n"                   // 16
         "stage = \"mean\"\n";             // 17
}

ValidationResult parse_with(const std::vector<std::string>& overrides) {
  return parse_pipeline(pipeline_text(), "/pipelines/test.toml", real_plugins(), overrides);
}

std::vector<std::string> messages_with(const std::vector<std::string>& overrides) {
  std::vector<std::string> messages;
  for (const auto& diagnostic : parse_with(overrides).diagnostics) messages.push_back(format(diagnostic));
  return messages;
}

} // namespace

TEST(PipelineOverrides, ChangeKeysOfTablesAndStepsAndCreateWhatIsMissing) {
  auto result = parse_with({"train.epochs=1", "preprocess[2].size=[32, 48]", "model.device=cpu", "pipeline.batch_size=7",
                            "model.blocks=3"});
  ASSERT_TRUE(result.diagnostics.empty()) << format(result.diagnostics.front());
  const auto& config = *result.config;
  ASSERT_TRUE(config.train.has_value()); // [train] did not exist: the override made it, with its defaults
  EXPECT_EQ(config.train->integer("epochs"), 1);
  EXPECT_EQ(config.train->string("optimizer"), "adam");
  EXPECT_EQ(config.preprocess[1].params.integers("size"), (std::vector<std::int64_t>{32, 48}));
  EXPECT_EQ(config.default_chain()->device(), "cpu"); // a bare word is a string
  EXPECT_EQ(config.settings.integer("batch_size"), 7);
  EXPECT_EQ(config.default_chain()->model.params.integer("blocks"), 3);
  EXPECT_EQ(config.overrides.size(), 5u);
  // A plugin's complaint about a key at build time points at the override that set it.
  EXPECT_EQ(config.default_chain()->model.key_locations.at("blocks").file, "--set model.blocks=3");
  EXPECT_EQ(config.default_chain()->model.key_locations.at("stage").file, "/pipelines/test.toml");
}

TEST(PipelineOverrides, AddRoutesAndStepsAndReplaceWholeTables) {
  auto result = parse_with({"route.stage=by_field", "route.by=body_part", "route.hand.model.stage=resnet", "route.hand.model.depth=34",
                            "preprocess[3]={stage = \"normalize\", preset = \"imagenet\"}",
                            "aggregate={stage = \"max\", threshold = 0.3}"});
  ASSERT_TRUE(result.diagnostics.empty()) << format(result.diagnostics.front());
  const auto& config = *result.config;
  ASSERT_EQ(config.chains.size(), 2u);
  ASSERT_NE(config.chain("hand"), nullptr);
  EXPECT_EQ(config.chain("hand")->model.params.integer("depth"), 34);
  ASSERT_EQ(config.preprocess.size(), 3u);
  EXPECT_EQ(config.preprocess[2].entry.stage->name, "normalize");
  EXPECT_EQ(config.aggregate.entry.stage->name, "max");
  EXPECT_DOUBLE_EQ(config.threshold, 0.3);
}

TEST(PipelineOverrides, LaterOverridesWinAndQuotedKeysWork) {
  auto result = parse_with({"train.epochs=3", "\"train\".\"epochs\"=5"});
  ASSERT_TRUE(result.diagnostics.empty()) << format(result.diagnostics.front());
  EXPECT_EQ(result.config->train->integer("epochs"), 5);
}

TEST(PipelineOverrides, AnInvalidValueIsReportedAtTheOverrideWithTheKeyItReplaced) {
  auto messages = messages_with({"pipeline.batch_size=0"});
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].rfind("--set pipeline.batch_size=0: error: key 'batch_size' in [pipeline]: ", 0), 0u) << messages[0];
  EXPECT_NE(messages[0].find("(the override replaced the value at /pipelines/test.toml:3:14)"), std::string::npos) << messages[0];
}

TEST(PipelineOverrides, ANewKeyIsValidatedLikeOneInTheFile) {
  auto messages = messages_with({"train.epochz=3", "model.depth=18", "route.knee.model.depth=18", "train.optimizer=lbfgs"});
  auto found = [&](const std::string& prefix) {
    return std::any_of(messages.begin(), messages.end(), [&](const std::string& message) { return message.rfind(prefix, 0) == 0; });
  };
  EXPECT_TRUE(found("--set train.epochz=3: error: unknown key 'epochz' in [train]; did you mean 'epochs'?")) << ::testing::PrintToString(messages);
  EXPECT_TRUE(found("--set model.depth=18: error: unknown key 'depth' in [model] (model 'cnn')")) << ::testing::PrintToString(messages);
  EXPECT_TRUE(found("--set train.optimizer=lbfgs: error: key 'optimizer' in [train]: ")) << ::testing::PrintToString(messages);
  // A route table made by the override lacks its router and its model stage: both are reported
  // at the override, as nothing in the file is wrong.
  EXPECT_GE(std::count_if(messages.begin(), messages.end(),
                          [](const std::string& message) { return message.rfind("--set route.knee.model.depth=18: error: ", 0) == 0; }),
            2)
      << ::testing::PrintToString(messages);
  for (const auto& message : messages) EXPECT_EQ(message.rfind("--set ", 0), 0u) << message;
}

TEST(PipelineOverrides, MalformedOverridesAreReportedAtTheOverride) {
  auto messages = messages_with({"train.epochs", "preprocess[5].stage=resize", "pipeline.name.first=1", "preprocess[0].size=[1,1]",
                                 "model..stage=cnn", "pipeline.batch_size[1]=3"});
  ASSERT_EQ(messages.size(), 6u) << ::testing::PrintToString(messages);
  EXPECT_EQ(messages[0], "--set train.epochs: error: expected KEY=VALUE, such as train.epochs=1");
  EXPECT_EQ(messages[1], "--set preprocess[5].stage=resize: error: preprocess[5]: the pipeline has 2 [[preprocess]] tables; use 1..2 "
                         "to change one or 3 to add one");
  EXPECT_EQ(messages[2].rfind("--set pipeline.name.first=1: error: pipeline.name is a string in /pipelines/test.toml, not a table", 0), 0u)
      << messages[2];
  EXPECT_NE(messages[3].find("steps count from 1"), std::string::npos) << messages[3];
  EXPECT_NE(messages[4].find("unexpected '.'"), std::string::npos) << messages[4];
  EXPECT_NE(messages[5].find("pipeline.batch_size is an integer, not a list of [[batch_size]] tables"), std::string::npos) << messages[5];
}

TEST(PipelineOverrides, NoOverridesLeaveTheFileAsItIs) {
  auto result = parse_with({});
  ASSERT_TRUE(result.diagnostics.empty());
  EXPECT_FALSE(result.config->train.has_value());
  EXPECT_TRUE(result.config->overrides.empty());
}
