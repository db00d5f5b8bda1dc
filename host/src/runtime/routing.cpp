#include "runtime/routing.hpp"

#include "runtime/inference.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

namespace radpipe::host {

std::size_t window_for(const std::vector<Chain>& chains) {
  std::size_t batches = 0;
  for (const auto& chain : chains) batches += chain.batch_size;
  return std::max<std::size_t>(256, 4 * batches);
}

StudyRouter::StudyRouter(Pipeline& pipeline, TransformContext transform, std::string by_field)
    : pipeline_(pipeline), transform_(transform), by_field_(std::move(by_field)) {
  const auto& route = pipeline.config().route;
  if (!route) return;
  fallback_ = route->fallback.empty() ? nullptr : pipeline.chain(route->fallback);
  on_unknown_ = route->on_unknown();
  max_study_images_ = static_cast<std::size_t>(route->policy.integer("max_study_images"));
  if (!route->consult().empty()) consulted_ = pipeline.chain(route->consult());
}

void StudyRouter::add(Sample sample, const Emit& emit) {
  const auto& route = pipeline_.config().route;
  if (!route && by_field_.empty()) {
    Chain* chain = pipeline_.chain("default");
    send(std::move(sample), {chain, {}}, emit);
    return;
  }
  if (!by_field_.empty()) {
    // Known field values route image by image: nothing to wait for.
    const std::string value = field_value(sample.info, by_field_).value_or("");
    send(std::move(sample), resolve(value, 1.0, true, sample.info.study_key()), emit);
    return;
  }
  const std::string& study = sample.info.study_key();
  if (auto known = decisions_.find(study); known != decisions_.end() && (held_.empty() || held_.front().info.study_key() != study)) {
    // A study seen before in the listing: its images meet the chain its first ones met.
    send(std::move(sample), known->second, emit);
    return;
  }
  if (!held_.empty() && (held_.front().info.study_key() != study || held_.size() >= max_study_images_)) route_held(emit);
  held_.push_back(std::move(sample));
}

void StudyRouter::finish(const Emit& emit) {
  if (!held_.empty()) route_held(emit);
}

Chain* StudyRouter::assign(const SampleInfo& info) {
  if (!pipeline_.config().route) return pipeline_.chain("default");
  if (!by_field_.empty()) return resolve(field_value(info, by_field_).value_or(""), 1.0, true, info.study_key()).chain;
  const std::span<const SampleInfo> one(&info, 1);
  auto& router = *pipeline_.router();
  RouteDecision decision = call_plugin(router.entry, [&] { return router.stage->route(StudyToRoute{one, {}, {}}); });
  return resolve(decision.value, decision.confidence, decision.confident, info.study_key()).chain;
}

void StudyRouter::route_held(const Emit& emit) {
  const std::string study = held_.front().info.study_key();
  Decision decision;
  if (auto known = decisions_.find(study); known != decisions_.end()) decision = known->second; // the rest of a long study
  else {
    decision = decide(held_);
    remember(study, decision);
  }
  std::vector<Sample> study_samples = std::move(held_);
  held_.clear();
  for (auto& sample : study_samples) send(std::move(sample), decision, emit);
}

void StudyRouter::send(Sample sample, const Decision& decision, const Emit& emit) {
  if (decision.chain == nullptr) {
    skipped_.push_back({sample.info.path, fmt::format("no chain for study {} (router value '{}'; on_unknown = \"skip\")",
                                                      sample.info.study_key(), decision.note.value)});
    spdlog::warn("skipped {}: {}", skipped_.back().path, skipped_.back().reason);
    return;
  }
  ++counts_[decision.chain->name];
  emit(RoutedSample{std::move(sample), decision.chain, decision.note});
}

void StudyRouter::remember(const std::string& study, const Decision& decision) {
  decisions_.emplace(study, decision);
  decision_order_.push_back(study);
  if (decision_order_.size() > remembered_studies) {
    decisions_.erase(decision_order_.front());
    decision_order_.pop_front();
  }
}

std::vector<std::vector<double>> StudyRouter::consult(const std::vector<Sample>& study) {
  std::vector<std::vector<double>> probabilities;
  for (std::size_t start = 0; start < study.size(); start += consulted_->batch_size) {
    std::vector<Sample> batch;
    for (std::size_t i = start; i < std::min(study.size(), start + consulted_->batch_size); ++i) {
      Sample copy{study[i].info, study[i].image.clone()};
      for (const auto& transform : consulted_->transforms) {
        if (transform.stage->is_random()) continue;
        call_plugin(transform.entry, [&] { transform.stage->apply(copy, transform_); });
      }
      batch.push_back(std::move(copy));
    }
    torch::Tensor scores = chain_probabilities(*consulted_, batch);
    auto rows = scores.accessor<float, 2>();
    for (long row = 0; row < scores.size(0); ++row) {
      std::vector<double> values;
      for (long column = 0; column < scores.size(1); ++column) values.push_back(rows[row][column]);
      probabilities.push_back(std::move(values));
    }
  }
  return probabilities;
}

StudyRouter::Decision StudyRouter::decide(const std::vector<Sample>& study) {
  std::vector<SampleInfo> infos;
  for (const auto& sample : study) infos.push_back(sample.info);
  std::vector<std::vector<double>> consulted;
  if (consulted_ != nullptr) consulted = consult(study);
  const std::vector<std::string> no_classes;
  StudyToRoute input{infos, consulted, consulted_ != nullptr ? consulted_->classes : no_classes};
  auto& router = *pipeline_.router();
  RouteDecision decision = call_plugin(router.entry, [&] { return router.stage->route(input); });
  return resolve(decision.value, decision.confidence, decision.confident, study.front().info.study_key());
}

StudyRouter::Decision StudyRouter::resolve(const std::string& value, double confidence, bool confident, const std::string& study) const {
  Decision decision{nullptr, {value, confidence}};
  if (confident && !value.empty())
    for (auto& chain : pipeline_.chains())
      if (&chain != consulted_ && chain.config->matches(value)) {
        decision.chain = &chain;
        return decision;
      }
  if (!confident && fallback_ != nullptr) {
    decision.chain = fallback_;
    return decision;
  }
  if (on_unknown_ == "fallback" && fallback_ != nullptr) {
    decision.chain = fallback_;
    return decision;
  }
  if (on_unknown_ == "skip") return decision;
  std::vector<std::string> names;
  for (const auto& chain : pipeline_.chains())
    if (&chain != consulted_) names.push_back(chain.name);
  throw std::runtime_error(fmt::format("study {}: no chain for router value '{}'{} (chains: {}); [route] on_unknown = \"{}\" stops the run "
                                       "(use \"fallback\" or \"skip\", or add the value to a chain's match list)",
                                       study, value, confident ? "" : fmt::format(" at confidence {:.3f}", confidence), fmt::join(names, ", "),
                                       on_unknown_));
}

} // namespace radpipe::host
