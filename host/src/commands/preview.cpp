#include "commands/preview.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "io/atomic_file.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/sample_stream.hpp"

namespace radpipe::host {
namespace fs = std::filesystem;

namespace {

const cv::Scalar background(32, 32, 32);
const cv::Scalar text_colour(235, 235, 235);
const cv::Scalar dim_text_colour(170, 170, 170);
constexpr int font = cv::FONT_HERSHEY_SIMPLEX;

// Draws `text` at `origin` (baseline left), cut short with "..." so that it fits `width` pixels.
void draw_text(cv::Mat& sheet, std::string text, cv::Point origin, int width, double scale,
               const cv::Scalar& colour) {
  int baseline = 0;
  while (!text.empty() && cv::getTextSize(text, font, scale, 1, &baseline).width > width) {
    text.resize(text.size() > 4 ? text.size() - 4 : 0);
    text += "...";
    if (text.size() <= 3) break;
  }
  cv::putText(sheet, text, origin, font, scale, colour, 1, cv::LINE_AA);
}

std::string pixel_type(const cv::Mat& image) {
  const char* depth = image.depth() == CV_8U    ? "8u"
                      : image.depth() == CV_16U ? "16u"
                      : image.depth() == CV_32F ? "32f"
                                                : "?";
  return fmt::format("{}x{}", depth, image.channels());
}

std::string html_escape(const std::string& text) {
  std::string escaped;
  for (const char c : text) {
    switch (c) {
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '&':
        escaped += "&amp;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

std::string parameters_text(const Params& params) {
  std::vector<std::string> items;
  for (const auto& [name, value] : params.values()) items.push_back(name + "=" + to_toml(value));
  return join(items, "  ");
}

struct Sheet {
  std::string file;
  std::string title;
  std::string subtitle;
};

} // namespace

SheetLayout::SheetLayout(std::size_t count, int tile_size) : tile(tile_size) {
  const auto n = std::max<std::size_t>(count, 1);
  columns = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
  rows = static_cast<int>((n + static_cast<std::size_t>(columns) - 1) / static_cast<std::size_t>(columns));
}

cv::Size SheetLayout::size() const {
  return {margin + columns * (tile + margin), header + rows * (tile + caption + margin)};
}

cv::Rect SheetLayout::image_area(std::size_t cell) const {
  const int column = static_cast<int>(cell % static_cast<std::size_t>(columns));
  const int row = static_cast<int>(cell / static_cast<std::size_t>(columns));
  return {margin + column * (tile + margin), header + row * (tile + caption + margin), tile, tile};
}

cv::Mat display_image(const cv::Mat& image, std::string& note) {
  note.clear();
  cv::Mat gray_or_rgb;
  if (image.depth() == CV_8U) {
    gray_or_rgb = image;
  } else if (image.depth() == CV_16U) {
    image.convertTo(gray_or_rgb, CV_8U, 1.0 / 257.0);
  } else {
    double low = 0.0, high = 0.0;
    cv::minMaxLoc(image.reshape(1), &low, &high);
    if (low >= 0.0 && high <= 1.0) {
      image.convertTo(gray_or_rgb, CV_8U, 255.0);
    } else {
      // Standardised pixels have no fixed scale: their own range is the only one there is.
      const double span = high > low ? high - low : 1.0;
      image.convertTo(gray_or_rgb, CV_8U, 255.0 / span, -low * 255.0 / span);
      note = fmt::format("stretched {:.3g}..{:.3g}", low, high);
    }
  }
  cv::Mat bgr;
  cv::cvtColor(gray_or_rgb, bgr, gray_or_rgb.channels() == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_RGB2BGR);
  return bgr;
}

cv::Mat contact_sheet(std::span<const Sample> samples, const std::string& title, const std::string& subtitle,
                      int tile) {
  const SheetLayout layout(samples.size(), tile);
  cv::Mat sheet(layout.size(), CV_8UC3, background);
  const int text_width = sheet.cols - 2 * SheetLayout::margin;
  draw_text(sheet, title, {SheetLayout::margin, 20}, text_width, 0.6, text_colour);
  draw_text(sheet, subtitle, {SheetLayout::margin, 40}, text_width, 0.4, dim_text_colour);

  for (std::size_t cell = 0; cell < samples.size(); ++cell) {
    const cv::Mat& image = samples[cell].image;
    const cv::Rect area = layout.image_area(cell);
    std::string note;
    const cv::Mat shown = display_image(image, note);
    // Letterboxed into the square cell, so that shapes and aspect changes stay visible.
    const double scale =
        std::min(static_cast<double>(tile) / shown.cols, static_cast<double>(tile) / shown.rows);
    const cv::Size fitted(std::clamp(static_cast<int>(std::lround(shown.cols * scale)), 1, tile),
                          std::clamp(static_cast<int>(std::lround(shown.rows * scale)), 1, tile));
    const cv::Rect target(area.x + (tile - fitted.width) / 2, area.y + (tile - fitted.height) / 2,
                          fitted.width, fitted.height);
    cv::Mat destination = sheet(target);
    if (fitted == shown.size())
      shown.copyTo(destination);
    else
      cv::resize(shown, destination, fitted, 0, 0, scale < 1.0 ? cv::INTER_AREA : cv::INTER_LINEAR);

    const int text_top = area.y + tile;
    draw_text(sheet, samples[cell].info.id, {area.x, text_top + 13}, tile, 0.4, text_colour);
    draw_text(
        sheet,
        fmt::format("{}x{} {}{}{}", image.cols, image.rows, pixel_type(image), note.empty() ? "" : " ", note),
        {area.x, text_top + 28}, tile, 0.35, dim_text_colour);
  }
  return sheet;
}

int command_preview(const GlobalOptions& global, const PreviewOptions& options) {
  PluginHost plugins;
  load_plugins(plugins, global);
  auto config = validate_or_report(options.pipeline, plugins, global.overrides);
  if (!config) return exit_invalid;
  prepare_output_folder(options.out_dir, "--out");

  // No models: a preview shows pixels only, so it never pays for building or loading a network.
  BuildOptions build;
  build.threads = global.threads;
  build.build_models = false;
  build.checkpoint = options.checkpoint;
  Pipeline pipeline(*config, plugins, build);

  const auto& settings = config->settings;
  // Random stages run as in training, with the pipeline's seed and the first epoch.
  const TransformContext training{RunMode::Train, static_cast<std::uint64_t>(settings.integer("seed")), 0};
  std::function<bool(const SampleInfo&)> keep;
  if (!options.split.empty())
    keep = [split = options.split](const SampleInfo& info) { return info.split == split; };
  StreamOptions stream_options;
  stream_options.workers = static_cast<int>(settings.integer("workers"));
  stream_options.transform = training;
  stream_options.decode_hint = pipeline.decode_hint(); // the pixels the chain gets, as in training
  std::vector<Sample> samples;
  const std::vector<Built<Transform>> decode_only;
  {
    SampleStream stream(reader_source(*pipeline.reader().stage, keep, options.count), pipeline.reader(),
                        decode_only, stream_options);
    while (auto sample = stream.next()) samples.push_back(std::move(*sample));
    for (const auto& skipped : stream.skipped())
      spdlog::warn("preview skips {}: {}", skipped.path, skipped.reason);
  }
  if (samples.empty()) {
    spdlog::error("{}: the reader gave no images{} to preview", options.pipeline.string(),
                  options.split.empty() ? "" : " of split '" + options.split + "'");
    return exit_invalid;
  }

  fs::create_directories(options.out_dir);
  std::vector<Sheet> sheets;
  const auto write_sheet = [&](const std::string& name, const std::string& title,
                               const std::string& subtitle) {
    const cv::Mat sheet = contact_sheet(samples, title, subtitle, options.tile);
    std::vector<unsigned char> png;
    if (!cv::imencode(".png", sheet, png))
      throw std::runtime_error("cannot encode the contact sheet " + name + " as PNG");
    const std::string file = fmt::format("{:02d}-{}.png", sheets.size(), name);
    write_file_atomically(options.out_dir / file, [&](std::ostream& out) {
      out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
    });
    spdlog::info("{}: {}", file, title);
    sheets.push_back({file, title, subtitle});
  };

  const std::size_t steps = pipeline.transforms().size();
  write_sheet(
      "input", fmt::format("0/{} input: {} images as the reader decodes them", steps, samples.size()),
      fmt::format("{} ({})", config->reader.entry.stage->name, parameters_text(config->reader.params)));
  for (std::size_t position = 0; position < steps; ++position) {
    const auto& transform = pipeline.transforms()[position];
    const auto& stage = config->preprocess[position];
    std::string how = transform.stage->is_random() ? "random, seeded as in training" : "deterministic";
    if (transform.stage->needs_fit() && options.checkpoint.empty()) {
      // Nothing else to fit on without a training run: these images show the stage's effect.
      call_plugin(transform.entry, [&] {
        transform.stage->fit_begin();
        for (const Sample& sample : samples) transform.stage->fit_add(sample);
        transform.stage->fit_end();
      });
      how = fmt::format("fitted on these {} images (give --checkpoint for a training run's state)",
                        samples.size());
    }
    std::vector<Sample> kept;
    for (Sample& sample : samples) {
      try {
        call_plugin(transform.entry, [&] { transform.stage->apply(sample, training); });
        kept.push_back(std::move(sample));
      } catch (const SampleError& error) {
        spdlog::warn("preview drops {} at {}: {}", error.path(), stage.table, error.what());
      }
    }
    samples = std::move(kept);
    if (samples.empty())
      throw std::runtime_error(stage.table + " (" + transform.entry.stage->name + ") rejected every image");
    write_sheet(transform.entry.stage->name,
                fmt::format("{}/{} {} [{} plugin, {}]", position + 1, steps, transform.entry.stage->name,
                            transform.entry.plugin->name, how),
                parameters_text(stage.params));
  }

  write_file_atomically(options.out_dir / "index.html", [&](std::ostream& out) {
    const std::string name = html_escape(settings.string("name"));
    out << "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>radpipe preview: " << name
        << "</title></head>\n"
        << "<body style=\"background:#202020;color:#eee;font-family:sans-serif\">\n<h1>" << name
        << "</h1>\n<p>" << html_escape(options.pipeline.string()) << "</p>\n";
    for (const auto& sheet : sheets)
      out << "<h2>" << html_escape(sheet.title) << "</h2>\n<p>" << html_escape(sheet.subtitle)
          << "</p>\n<img src=\"" << html_escape(sheet.file) << "\" alt=\"" << html_escape(sheet.title)
          << "\">\n";
    out << "</body></html>\n";
  });
  std::cout << fmt::format("{} contact sheets of {} images in {}\n", sheets.size(), samples.size(),
                           (options.out_dir / "index.html").string());
  return exit_ok;
}

} // namespace radpipe::host
