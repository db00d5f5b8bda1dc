// `radpipe explain`: where did the model look? Runs a pipeline's [explain] stage (Grad-CAM) over
// its images and writes a heatmap overlay per image, explanations.csv and a browsable index.html.
#pragma once

#include "commands/commands.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/sample_stream.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace radpipe::host {

// explain takes what predict takes: pipeline, output folder, split, limit, device, checkpoint.
using ExplainOptions = PredictOptions;

int command_explain(const GlobalOptions& global, const ExplainOptions& options);

// One explained image: its heatmap figure (the model's input beside the overlay) as a PNG file.
struct HeatmapFigure {
  SampleInfo info;
  std::string chain;
  double probability = 0.0;
  std::string image_file;            // relative to the output folder
  double peak_x = 0.0, peak_y = 0.0; // where the heatmap is highest, as fractions of width and height
  // With the original size asked for: the heatmap drawn over the image as the reader decoded it.
  std::string original_file;         // relative to the output folder; empty when not drawn
  int original_width = 0, original_height = 0;
  int original_peak_x = 0, original_peak_y = 0; // the heatmap's peak there, in pixels
  bool original_stretched = false;   // no recorded geometry: the map was stretched onto the image
};

// Runs the pipeline's [explain] stage over every sample of `stream`, batched per model chain,
// and writes one figure per sample into `out_dir / subfolder`; with `at_original_size`, also the
// heatmap over the image as the reader decoded it, mapped back through the geometry the
// transforms recorded (radpipe/geometry.hpp). The pipeline must have an explainer.
std::vector<HeatmapFigure> explain_stream(Pipeline& pipeline, SampleStream& stream, const std::filesystem::path& out_dir,
                                          const std::string& subfolder, bool at_original_size = false);

} // namespace radpipe::host
