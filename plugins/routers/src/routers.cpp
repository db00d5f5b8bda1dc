#include "routers.hpp"

#include <radpipe/error.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <vector>

namespace radpipe::routers {

ByField::ByField(const Params& params, const StageContext& /*context*/)
    : field_(params.string("by")), strip_prefix_(params.string("strip_prefix")) {
  if (field_.empty()) throw StageError("by", "names no field; use e.g. \"body_part\" or a DICOM keyword such as \"BodyPartExamined\"");
}

Schema ByField::schema() {
  return Schema{
      ParamSpec::string("by", "Sample field or tag to route on: body_part, view, split, study_id, patient_id, a CSV column, or a "
                              "DICOM keyword (BodyPartExamined)"),
      ParamSpec::string("strip_prefix", "A prefix removed from values before they are matched, without regard to case "
                                        "(\"XR_\" turns MURA's XR_HAND into HAND)")
          .with_default(""),
  };
}

RouteDecision ByField::route(const StudyToRoute& study) const {
  // The value most images of the study carry; the first seen wins a tie.
  std::vector<std::pair<std::string, std::size_t>> votes;
  for (const auto& info : study.images) {
    std::string value = field_value(info, field_).value_or("");
    if (value.empty()) continue;
    if (!strip_prefix_.empty() && value.size() > strip_prefix_.size() &&
        std::equal(strip_prefix_.begin(), strip_prefix_.end(), value.begin(),
                   [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); }))
      value.erase(0, strip_prefix_.size());
    auto found = std::find_if(votes.begin(), votes.end(), [&](const auto& vote) { return vote.first == value; });
    if (found == votes.end()) votes.emplace_back(value, 1);
    else ++found->second;
  }
  if (votes.empty()) return {"", 0.0, true};
  auto best = votes.begin();
  std::size_t total = 0;
  for (auto it = votes.begin(); it != votes.end(); ++it) {
    total += it->second;
    if (it->second > best->second) best = it;
  }
  return {best->first, static_cast<double>(best->second) / static_cast<double>(total), true};
}

Classifier::Classifier(const Params& params, const StageContext& /*context*/) : min_confidence_(params.real("min_confidence")) {}

Schema Classifier::schema() {
  return Schema{
      ParamSpec::real("min_confidence", "Mean class probability below which the study goes to the [route] fallback chain")
          .with_default(0.5)
          .in_range(0, 1),
  };
}

RouteDecision Classifier::route(const StudyToRoute& study) const {
  if (study.consulted_classes.empty() || study.consulted_probabilities.size() != study.images.size())
    throw StageError("the classifier router needs a chain to consult: set [route] consult = \"CHAIN\", a chain whose model "
                     "table lists its classes");
  const std::size_t classes = study.consulted_classes.size();
  std::vector<double> mean(classes, 0.0);
  for (const auto& image : study.consulted_probabilities) {
    if (image.size() != classes) throw StageError("the consulted chain gave " + std::to_string(image.size()) + " probabilities for " +
                                                  std::to_string(classes) + " classes");
    for (std::size_t k = 0; k < classes; ++k) mean[k] += image[k] / static_cast<double>(study.consulted_probabilities.size());
  }
  const auto best = static_cast<std::size_t>(std::max_element(mean.begin(), mean.end()) - mean.begin());
  return {study.consulted_classes[best], mean[best], mean[best] >= min_confidence_};
}

} // namespace radpipe::routers
