#include "routers.hpp"

#include <gtest/gtest.h>
#include <radpipe/error.hpp>
#include <radpipe/testing.hpp>

#include <filesystem>

namespace {

using namespace radpipe;

SampleInfo image(std::string body_part, std::map<std::string, std::string> tags = {}) {
  SampleInfo info;
  info.id = "image";
  info.study_id = "study";
  info.body_part = std::move(body_part);
  info.tags = std::move(tags);
  return info;
}

TEST(ByField, RoutesOnAFieldByTheValueMostImagesCarry) {
  routers::ByField router(resolve_params(routers::ByField::schema(), {{"by", std::string("body_part")}}), {});
  const std::vector<SampleInfo> study{image("hand"), image("wrist"), image("hand")};
  const RouteDecision decision = router.route({study, {}, {}});
  EXPECT_EQ(decision.value, "hand");
  EXPECT_NEAR(decision.confidence, 2.0 / 3.0, 1e-12);
  EXPECT_TRUE(decision.confident);
}

TEST(ByField, RoutesOnADicomTagAndStripsAPrefix) {
  routers::ByField router(
      resolve_params(routers::ByField::schema(), {{"by", std::string("BodyPartExamined")}, {"strip_prefix", std::string("xr_")}}), {});
  const std::vector<SampleInfo> study{image("", {{"BodyPartExamined", "XR_HAND"}})};
  EXPECT_EQ(router.route({study, {}, {}}).value, "HAND");
}

TEST(ByField, AStudyWithoutTheFieldHasNoValue) {
  routers::ByField router(resolve_params(routers::ByField::schema(), {{"by", std::string("view")}}), {});
  const std::vector<SampleInfo> study{image("hand")};
  EXPECT_EQ(router.route({study, {}, {}}).value, "");
}

TEST(Classifier, TakesTheLargestMeanClassProbabilityOfTheStudy) {
  routers::Classifier router(resolve_params(routers::Classifier::schema(), {{"min_confidence", 0.6}}), {});
  const std::vector<SampleInfo> study{image(""), image("")};
  const std::vector<std::vector<double>> probabilities{{0.7, 0.2, 0.1}, {0.5, 0.4, 0.1}};
  const std::vector<std::string> classes{"hand", "leg", "hip"};
  RouteDecision decision = router.route({study, probabilities, classes});
  EXPECT_EQ(decision.value, "hand");
  EXPECT_NEAR(decision.confidence, 0.6, 1e-12);
  EXPECT_TRUE(decision.confident);

  const std::vector<std::vector<double>> unsure{{0.5, 0.4, 0.1}, {0.4, 0.5, 0.1}};
  decision = router.route({study, unsure, classes});
  EXPECT_FALSE(decision.confident); // 0.45 < 0.6: the fallback chain takes it
}

TEST(Classifier, WithoutAConsultedChainSaysWhatToSet) {
  routers::Classifier router(resolve_params(routers::Classifier::schema(), {}), {});
  const std::vector<SampleInfo> study{image("")};
  try {
    router.route({study, {}, {}});
    FAIL() << "expected a StageError";
  } catch (const StageError& error) {
    EXPECT_NE(std::string(error.what()).find("consult"), std::string::npos) << error.what();
  }
}

TEST(RoutersPlugin, EntryDescribesItAndRegistersItsStages) {
  radpipe::testing::expect_plugin_library(std::filesystem::path(RADPIPE_PLUGIN_DIR) / "libradpipe-routers.so", "routers",
                                 {{StageKind::Router, "by_field"}, {StageKind::Router, "classifier"}});
}

} // namespace
