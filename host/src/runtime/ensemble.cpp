#include "runtime/ensemble.hpp"

#include "runtime/inference.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <vector>

namespace radpipe::host {

torch::Tensor averaged_probabilities(Chain& chain, const torch::Tensor& input) {
  const auto views = tta_views(chain.tta, static_cast<int>(input.size(2)), static_cast<int>(input.size(3)));
  const bool logits_space = chain.average == Averaging::Logit;
  torch::Tensor sum;
  std::size_t count = 0;
  for (auto& model : chain.models())
    for (const auto& view : views) {
      // One forward call per view: the memory of a batch stays what it is without TTA.
      torch::Tensor logits = call_plugin(model.entry, [&] { return model.stage->forward(apply_view(view, input)).logits; });
      logits = logits.to(torch::kCPU, torch::kFloat32);
      torch::Tensor value = logits_space ? logits : probabilities_from_logits(chain, logits);
      sum = sum.defined() ? sum + value : value;
      ++count;
    }
  const torch::Tensor mean = sum / static_cast<double>(count);
  return (logits_space ? probabilities_from_logits(chain, mean) : mean).contiguous();
}

torch::Tensor averaged_heatmaps(Chain& chain, const torch::Tensor& input, const ExplainOne& explain) {
  const auto views = tta_views(chain.tta, static_cast<int>(input.size(2)), static_cast<int>(input.size(3)));
  const auto models = chain.models();
  torch::Tensor sum;
  for (auto& model : models) {
    torch::Tensor heat;
    if (views.size() == 1) {
      heat = explain(model, input);
    } else {
      torch::Tensor maps, coverage;
      for (const auto& view : views) {
        FrameMap back = view_map_back(view, explain(model, apply_view(view, input)));
        maps = maps.defined() ? maps + back.map : back.map;
        coverage = coverage.defined() ? coverage + back.coverage : back.coverage;
      }
      heat = maps / coverage; // the unaugmented view sees every pixel: coverage >= 1
    }
    sum = sum.defined() ? sum + heat : heat;
  }
  return models.size() == 1 ? sum : (sum / static_cast<double>(models.size())).contiguous();
}

std::string scoring_summary(const ChainConfig& chain) {
  std::vector<std::string> parts;
  const auto members = chain.ensemble();
  const TestTimeAugmentation tta = TestTimeAugmentation::from(chain.model_host);
  if (!members.empty()) parts.push_back(fmt::format("ensemble of {}", members.size()));
  if (members.size() > 1 || tta.enabled())
    parts.push_back(averaging_from(chain.model_host) == Averaging::Logit ? "logit average" : "probability average");
  if (tta.enabled()) {
    std::vector<std::string> views;
    if (tta.horizontal_flip) views.push_back("horizontal flip");
    if (tta.vertical_flip) views.push_back("vertical flip");
    if (tta.shift > 0) views.push_back(fmt::format("shifts of {} px", tta.shift));
    if (tta.crop < 1.0) views.push_back(fmt::format("5 crops of {:g}", tta.crop));
    parts.push_back("TTA: " + fmt::format("{}", fmt::join(views, ", ")));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

SourceLocation ensemble_location(const ChainConfig& chain) {
  const auto found = chain.model.key_locations.find("ensemble");
  return found == chain.model.key_locations.end() ? chain.model.where : found->second;
}

std::string ensemble_refusal(const ChainConfig& chain) {
  const std::size_t members = chain.ensemble().size();
  return "[" + chain.model.table + "] is an ensemble of " + std::to_string(members) + (members == 1 ? " weights file" : " weights files");
}

} // namespace radpipe::host
