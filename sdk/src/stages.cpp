#include <radpipe/stages.hpp>

#include <algorithm>
#include <array>

namespace radpipe {
namespace {
constexpr std::array<std::pair<StageKind, std::string_view>, 7> kind_names{{
    {StageKind::Reader, "reader"},
    {StageKind::Transform, "transform"},
    {StageKind::Model, "model"},
    {StageKind::Router, "router"},
    {StageKind::Aggregator, "aggregator"},
    {StageKind::Explainer, "explainer"},
    {StageKind::Writer, "writer"},
}};
} // namespace

std::string_view to_string(StageKind kind) {
  for (const auto& [each, name] : kind_names)
    if (each == kind) return name;
  return "?";
}

std::optional<StageKind> stage_kind_from_string(std::string_view text) {
  for (const auto& [kind, name] : kind_names)
    if (name == text) return kind;
  return std::nullopt;
}

int DecodeHint::reduction_for(int width, int height) const {
  if (!reducible() || width <= 0 || height <= 0) return 1;
  auto covers = [&](int w, int h) {
    return cover == Cover::Both ? w >= min_width && h >= min_height : w >= min_width || h >= min_height;
  };
  int best = 1;
  for (int factor : {2, 4, 8}) {
    const int w = (width + factor - 1) / factor, h = (height + factor - 1) / factor;
    if (!covers(w, h) || !covers(h, w)) break;
    best = factor;
  }
  return best;
}

DecodeHint most_demanding(const DecodeHint& a, const DecodeHint& b) {
  DecodeHint merged;
  merged.channels = a.channels == DecodeHint::Channels::Gray && b.channels == DecodeHint::Channels::Gray
                        ? DecodeHint::Channels::Gray
                        : DecodeHint::Channels::Any;
  if (a.reducible() && b.reducible()) {
    merged.min_width = std::max(a.min_width, b.min_width);
    merged.min_height = std::max(a.min_height, b.min_height);
    // Covering the larger size on one side covers each smaller one on that side; a chain that
    // needs both sides keeps needing both.
    merged.cover = a.cover == DecodeHint::Cover::Either && b.cover == DecodeHint::Cover::Either ? DecodeHint::Cover::Either
                                                                                                 : DecodeHint::Cover::Both;
  }
  merged.max_bits = std::max(a.max_bits, b.max_bits);
  return merged;
}

std::optional<std::string> field_value(const SampleInfo& info, std::string_view name) {
  auto present = [](const std::string& text) { return text.empty() ? std::nullopt : std::optional<std::string>(text); };
  if (name == "id") return present(info.id);
  if (name == "path") return present(info.path);
  if (name == "patient_id") return present(info.patient_id);
  if (name == "study_id") return present(info.study_key());
  if (name == "body_part") return present(info.body_part);
  if (name == "view") return present(info.view);
  if (name == "split") return present(info.split);
  if (name == "label") return info.label ? std::optional<std::string>(std::to_string(*info.label)) : std::nullopt;
  if (auto found = info.tags.find(std::string(name)); found != info.tags.end()) return present(found->second);
  return std::nullopt;
}

void StageContext::debug(const std::string& message) const {
  if (log) log(LogLevel::Debug, message);
}
void StageContext::info(const std::string& message) const {
  if (log) log(LogLevel::Info, message);
}
void StageContext::warn(const std::string& message) const {
  if (log) log(LogLevel::Warning, message);
}

// Key functions: the vtables and type information of the interfaces live here, once.
Stage::~Stage() = default;
Reader::~Reader() = default;
Transform::~Transform() = default;
Router::~Router() = default;
Aggregator::~Aggregator() = default;
Writer::~Writer() = default;

} // namespace radpipe
