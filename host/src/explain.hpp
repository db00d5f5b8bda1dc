// `radpipe explain`: where did the model look? Runs a pipeline's [explain] stage (Grad-CAM) over
// its images and writes a heatmap overlay per image, explanations.csv and a browsable index.html.
#pragma once

#include "commands.hpp"

#include <filesystem>
#include <string>

namespace radpipe::host {

struct ExplainOptions {
  std::filesystem::path pipeline;
  std::filesystem::path out_dir;
  std::string split;
  std::size_t limit = 0;
  std::string device;
  std::filesystem::path checkpoint;
};

int command_explain(const GlobalOptions& global, const ExplainOptions& options);

} // namespace radpipe::host
