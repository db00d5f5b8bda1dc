// Routing: sends each study to one model chain. Consecutive images of a study are held (at most
// [route] max_study_images) until the study is complete, then the router decides for all of them,
// after running the consulted chain (a body-part classifier) on them when [route] names one. A
// decision is remembered for the last `remembered_studies` studies, so that an image of a study
// that comes back later in the listing meets the same chain; readers that list studies together
// (MURA, DICOM folders, CSVs sorted by study) never rely on that memory.
#pragma once

#include "runtime/chain_runner.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/sample_stream.hpp"

#include <atomic>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace radpipe::host {

struct RoutedSample {
  Sample sample;
  Chain* chain = nullptr; // never null: skipped studies are not emitted
  RouteNote route;
};

class StudyRouter {
public:
  using Emit = std::function<void(RoutedSample&&)>;
  static constexpr std::size_t remembered_studies = 65536;

  // `by_field`: route on this sample field through the chains' names and match lists instead of
  // asking the router (training assigns images by their known body part, not by a classifier).
  StudyRouter(Pipeline& pipeline, TransformContext transform, std::string by_field = {});

  // Takes the next sample in input order; emits every sample whose study is now routed.
  void add(Sample sample, const Emit& emit);
  // Routes what is still held.
  void finish(const Emit& emit);

  // Training assigns each image on its own, from its metadata: through `by_field` when given, else
  // through the router (which must not consult a chain). nullptr: no chain takes it (skip).
  Chain* assign(const SampleInfo& info);

  // Samples of studies that no chain takes, with on_unknown = "skip".
  const std::vector<SkippedSample>& skipped() const { return skipped_; }
  // Images sent to each chain so far.
  const std::map<std::string, std::size_t>& counts() const { return counts_; }

private:
  struct Decision {
    Chain* chain = nullptr; // nullptr: skipped
    RouteNote note;
  };

  void route_held(const Emit& emit);
  Decision decide(const std::vector<Sample>& study);
  Decision resolve(const std::string& value, double confidence, bool confident, const std::string& study) const;
  std::vector<std::vector<double>> consult(const std::vector<Sample>& study);
  void remember(const std::string& study, const Decision& decision);
  void send(Sample sample, const Decision& decision, const Emit& emit);

  Pipeline& pipeline_;
  TransformContext transform_;
  std::string by_field_;
  Chain* consulted_ = nullptr;
  Chain* fallback_ = nullptr;
  std::string on_unknown_ = "fallback";
  std::size_t max_study_images_ = 256;
  std::vector<Sample> held_;
  std::unordered_map<std::string, Decision> decisions_;
  std::deque<std::string> decision_order_;
  std::vector<SkippedSample> skipped_;
  std::map<std::string, std::size_t> counts_;
};

// Routes every sample of `stream` into `runner`, then routes what is held and runs the partial
// batches: the loop predict, evaluate and explain share. `stop` (set from a signal handler) ends
// the reading early; what was read is still scored.
template <class Result>
void route_into(SampleStream& stream, StudyRouter& router, ChainRunner<Result>& runner,
                const std::atomic<bool>* stop = nullptr) {
  auto emit = [&](RoutedSample&& routed) { runner.push(std::move(routed.sample), *routed.chain, std::move(routed.route)); };
  while (!(stop && stop->load())) {
    auto sample = stream.next();
    if (!sample) break;
    router.add(std::move(*sample), emit);
  }
  router.finish(emit);
  runner.finish();
}

} // namespace radpipe::host
