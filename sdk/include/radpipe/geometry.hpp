// radpipe SDK: where transforms move pixels. A deterministic transform that resamples, crops or
// pads records the affine map from its input's pixel coordinates to its output's; the records of
// a chain compose into one map from the image as the reader decoded it to the model's input, so
// that what is computed on the input (a heatmap) can be drawn back onto the decoded image.
// Header-only, kept as text in SampleInfo::tags, so that recording adds nothing to the ABI.
//
// Coordinates are those of pixel centres: pixel (0, 0) is at (0, 0), and an image scaled by s
// maps x to (x + 0.5) s - 0.5, as cv::resize does. Random transforms (augmentation) run only in
// training and need not record anything.
#pragma once

#include <radpipe/sample.hpp>

#include <opencv2/core/mat.hpp>
#include <opencv2/core/matx.hpp>

#include <cstdio>
#include <optional>
#include <sstream>
#include <string>

namespace radpipe {

/// The affine map from the decoded image's pixel coordinates to the current ones.
struct PixelGeometry {
  cv::Matx23d to_output; ///< Decoded-image coordinates -> current coordinates.
  cv::Size source;       ///< The decoded image's size.
  cv::Size output;       ///< The current image's size.
};

/// The tag that holds the record: "a b c d e f W H w h" (the map's rows, source and output size),
/// or "unknown" once a transform changed the size without recording how.
inline constexpr const char* geometry_tag = "radpipe.geometry";

/// Details of the record format.
namespace geometry_detail {
/// The record, or nullopt when it is not one.
inline std::optional<PixelGeometry> parse(const std::string& record) {
  PixelGeometry geometry;
  std::istringstream text(record);
  auto& m = geometry.to_output;
  if (!(text >> m(0, 0) >> m(0, 1) >> m(0, 2) >> m(1, 0) >> m(1, 1) >> m(1, 2) >> geometry.source.width >> geometry.source.height >>
        geometry.output.width >> geometry.output.height))
    return std::nullopt;
  return geometry;
}
} // namespace geometry_detail

/// The map from the decoded image (size `decoded`) to the sample's pixels now (size `current`):
/// the composed record, the identity when nothing changed the size, or nullopt when the size
/// changed and no record says how.
inline std::optional<PixelGeometry> recorded_geometry(const SampleInfo& info, cv::Size current, cv::Size decoded) {
  auto found = info.tags.find(geometry_tag);
  if (found == info.tags.end()) {
    if (current != decoded) return std::nullopt;
    return PixelGeometry{cv::Matx23d(1, 0, 0, 0, 1, 0), decoded, current};
  }
  auto geometry = geometry_detail::parse(found->second);
  if (!geometry || geometry->output != current || geometry->source != decoded) return std::nullopt;
  return geometry;
}

/// Called by a transform after it turned an image of size `input` into one of size `output` by the
/// map `step` (input coordinates -> output coordinates).
inline void record_geometry(SampleInfo& info, const cv::Matx23d& step, cv::Size input, cv::Size output) {
  PixelGeometry before{cv::Matx23d(1, 0, 0, 0, 1, 0), input, input};
  if (auto found = info.tags.find(geometry_tag); found != info.tags.end()) {
    auto parsed = geometry_detail::parse(found->second);
    if (!parsed || parsed->output != input) {
      found->second = "unknown"; // a transform in between changed the size without a record
      return;
    }
    before = *parsed;
  }
  const cv::Matx33d first(before.to_output(0, 0), before.to_output(0, 1), before.to_output(0, 2), before.to_output(1, 0),
                          before.to_output(1, 1), before.to_output(1, 2), 0, 0, 1);
  const cv::Matx33d second(step(0, 0), step(0, 1), step(0, 2), step(1, 0), step(1, 1), step(1, 2), 0, 0, 1);
  const cv::Matx33d both = second * first;
  char buffer[320];
  std::snprintf(buffer, sizeof buffer, "%.17g %.17g %.17g %.17g %.17g %.17g %d %d %d %d", both(0, 0), both(0, 1), both(0, 2), both(1, 0),
                both(1, 1), both(1, 2), before.source.width, before.source.height, output.width, output.height);
  info.tags[geometry_tag] = buffer;
}

/// The map of scaling an image by (sx, sy) and then shifting it by (dx, dy) pixels, in pixel-centre
/// coordinates: x -> (x + 0.5) sx - 0.5 + dx.
inline cv::Matx23d scale_then_shift(double sx, double sy, double dx, double dy) {
  return cv::Matx23d(sx, 0, 0.5 * sx - 0.5 + dx, 0, sy, 0.5 * sy - 0.5 + dy);
}

} // namespace radpipe
