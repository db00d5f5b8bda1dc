// Loads the built plugin library the way the host does (C entry first, then registration) and
// checks what it declares.
#include <gtest/gtest.h>

#include <filesystem>
#include <radpipe/testing.hpp>

namespace {

using radpipe::StageKind;

TEST(AggregatorsPlugin, EntryDescribesItAndRegistersItsStages) {
  radpipe::testing::expect_plugin_library(
      std::filesystem::path(RADPIPE_PLUGIN_DIR) / "libradpipe-aggregators.so", "aggregators",
      {{StageKind::Aggregator, "mean"},
       {StageKind::Aggregator, "max"},
       {StageKind::Aggregator, "top_k_mean"},
       {StageKind::Aggregator, "majority"},
       {StageKind::Aggregator, "any_positive"}});
}

} // namespace
