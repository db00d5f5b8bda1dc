// The one batching helper: batches per chain, delivery in push order through a bounded window,
// and a slow chain that does not hold up the others.
#include "runtime/chain_runner.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

using namespace radpipe;
using namespace radpipe::host;

namespace {

Sample sample_with_id(std::uint64_t index) {
  Sample sample;
  sample.info.id = std::to_string(index);
  sample.info.index = index;
  sample.image = cv::Mat(2, 2, CV_8U, cv::Scalar(1));
  return sample;
}

std::vector<Chain> two_chains(std::size_t batch_a, std::size_t batch_b) {
  std::vector<Chain> chains(2);
  chains[0].name = "slow";
  chains[0].batch_size = batch_a;
  chains[1].name = "fast";
  chains[1].batch_size = batch_b;
  return chains;
}

struct Scored {
  std::string id;
  std::string chain;
  std::size_t batch_size = 0;
};

TEST(ChainRunner, BatchesEachChainAndDeliversInPushOrder) {
  auto chains = two_chains(3, 4);
  std::vector<Scored> delivered;
  ChainRunner<Scored> runner(
      chains,
      [](Chain& chain, std::vector<Sample>& batch) {
        std::vector<Scored> out;
        for (auto& sample : batch) out.push_back({sample.info.id, chain.name, batch.size()});
        return out;
      },
      [&](ChainOutcome<Scored>&& outcome) { delivered.push_back(*outcome.result); }, ChainRunnerOptions{});
  for (std::uint64_t i = 0; i < 50; ++i) runner.push(sample_with_id(i), chains[i % 3 == 0 ? 0 : 1]);
  runner.finish();
  ASSERT_EQ(delivered.size(), 50u);
  for (std::size_t i = 0; i < delivered.size(); ++i) {
    EXPECT_EQ(delivered[i].id, std::to_string(i));
    EXPECT_EQ(delivered[i].chain, i % 3 == 0 ? "slow" : "fast");
    EXPECT_LE(delivered[i].batch_size, delivered[i].chain == "slow" ? 3u : 4u);
  }
}

TEST(ChainRunner, ASlowChainDoesNotHoldUpTheOthersAndMemoryStaysWithinTheWindow) {
  auto chains = two_chains(1, 4);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<std::size_t> fast_scored{0};
  std::size_t delivered = 0, most_waiting = 0;
  std::vector<std::string> order;
  ChainRunnerOptions options;
  options.window = 32;
  ChainRunner<std::string> runner(
      chains,
      [&](Chain& chain, std::vector<Sample>& batch) {
        if (chain.name == "slow") released.wait(); // held until the test lets it go
        else fast_scored += batch.size();
        std::vector<std::string> out;
        for (auto& sample : batch) out.push_back(sample.info.id);
        return out;
      },
      [&](ChainOutcome<std::string>&& outcome) {
        order.push_back(*outcome.result);
        ++delivered;
      },
      options);
  // The first sample goes to the slow chain, the next 200 to the fast one. The fast chain scores
  // everything the window lets in while the slow one is stuck; then push() blocks, so memory in
  // flight stays at the window.
  std::thread watchdog([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (fast_scored < options.window - 1 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    most_waiting = fast_scored.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // Still no more than the window: push() waited instead of piling samples up.
    EXPECT_LE(fast_scored.load(), options.window - 1);
    release.set_value();
  });
  runner.push(sample_with_id(0), chains[0]);
  for (std::uint64_t i = 1; i <= 200; ++i) runner.push(sample_with_id(i), chains[1]);
  runner.finish();
  watchdog.join();
  EXPECT_EQ(most_waiting, options.window - 1) << "the fast chain scored while the slow one was stuck";
  ASSERT_EQ(delivered, 201u);
  for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], std::to_string(i));
}

TEST(ChainRunner, AnErrorInAChainStopsTheRunAndReachesTheCaller) {
  auto chains = two_chains(2, 2);
  ChainRunner<int> runner(
      chains,
      [](Chain& chain, std::vector<Sample>& batch) -> std::vector<int> {
        if (chain.name == "slow") throw std::runtime_error("model exploded");
        return std::vector<int>(batch.size(), 1);
      },
      [](ChainOutcome<int>&&) {}, ChainRunnerOptions{});
  EXPECT_THROW(
      {
        for (std::uint64_t i = 0; i < 100; ++i) runner.push(sample_with_id(i), chains[i % 2]);
        runner.finish();
      },
      std::runtime_error);
}

TEST(ChainRunner, InlineModeRunsBatchesAsTheyFill) {
  auto chains = two_chains(2, 3);
  std::vector<std::string> calls;
  ChainRunnerOptions options;
  options.concurrent = false;
  ChainRunner<int> runner(
      chains,
      [&](Chain& chain, std::vector<Sample>& batch) {
        calls.push_back(chain.name + ":" + std::to_string(batch.size()));
        return std::vector<int>(batch.size(), 0);
      },
      [](ChainOutcome<int>&&) {}, options);
  for (std::uint64_t i = 0; i < 7; ++i) runner.push(sample_with_id(i), chains[i < 4 ? 0 : 1]);
  runner.finish();
  EXPECT_EQ(calls, (std::vector<std::string>{"slow:2", "slow:2", "fast:3"}));
}

} // namespace
