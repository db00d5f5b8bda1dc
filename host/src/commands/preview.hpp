// `radpipe preview`: contact sheets of the first images after each preprocessing step, so that a
// person can see what a chain does. Random stages run as in training, seeded as there.
#pragma once

#include <filesystem>
#include <opencv2/core/mat.hpp>
#include <radpipe/sample.hpp>
#include <span>
#include <string>

#include "commands/commands.hpp"

namespace radpipe::host {

struct PreviewOptions {
  std::filesystem::path pipeline;
  std::filesystem::path out_dir;
  std::size_t count = 16;
  std::string split;
  std::filesystem::path checkpoint; // fitted stages' state; without it they fit on the previewed images
  int tile = 256;                   // pixels per image cell
};

// Writes OUT/00-input.png, OUT/NN-STAGE.png for each [[preprocess]] step and OUT/index.html.
int command_preview(const GlobalOptions& global, const PreviewOptions& options);

// Where a contact sheet puts things: a header band with the step's title, then a grid of cells
// (as square as the count allows), each an image area of tile x tile pixels with a caption below.
struct SheetLayout {
  static constexpr int margin = 8;
  static constexpr int header = 48;
  static constexpr int caption = 34;

  int tile = 256;
  int columns = 1;
  int rows = 1;

  SheetLayout(std::size_t count, int tile);
  cv::Size size() const;
  cv::Rect image_area(std::size_t cell) const;
};

// An image as 8-bit BGR for display. 8-bit shows as is and 16-bit divided by 257 (full scale to
// full scale). Float shows its [0, 1] scale as 0..255 when it lies within it, and otherwise is
// stretched from its own minimum..maximum; `note` then says so ("stretched -2.1..2.6").
cv::Mat display_image(const cv::Mat& image, std::string& note);

// One sheet: `title` and `subtitle` in the header, each sample letterboxed into its cell and
// captioned with its id, size, pixel type and any display note.
cv::Mat contact_sheet(std::span<const Sample> samples, const std::string& title, const std::string& subtitle,
                      int tile);

} // namespace radpipe::host
