// Helpers for the transforms' tests.
#pragma once

#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace radpipe::transforms::testing {

// The schema's defaults, then `values`, each checked against its spec, as the host's validator
// would hand them to a factory. A value the schema rejects fails the test at the call site.
inline Params make_params(const Schema& schema, std::vector<std::pair<std::string, ParamValue>> values) {
  Params params;
  for (const auto& spec : schema.specs())
    if (spec.default_value) params.set(spec.name, *spec.default_value);
  for (auto& [name, value] : values) {
    const ParamSpec* spec = schema.find(name);
    if (spec == nullptr) throw std::invalid_argument("the schema has no parameter " + name);
    if (std::string problem = spec->check(value); !problem.empty())
      throw std::invalid_argument(name + ": " + problem);
    params.set(name, std::move(value));
  }
  for (const auto& spec : schema.specs())
    if (spec.required() && !params.has(spec.name))
      throw std::invalid_argument("required parameter missing: " + spec.name);
  return params;
}

// Builds StageT from `values` and applies it to `image`, returning the result.
template <class StageT>
cv::Mat run(const cv::Mat& image, std::vector<std::pair<std::string, ParamValue>> values = {}) {
  const StageT stage(make_params(StageT::schema(), std::move(values)), StageContext{});
  Sample sample;
  sample.info.id = "test";
  sample.info.path = "/in/memory.png";
  sample.image = image;
  stage.apply(sample, TransformContext{});
  return sample.image;
}

} // namespace radpipe::transforms::testing
