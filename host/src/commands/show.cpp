#include "commands/show.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <radpipe/image.hpp>

#include "io/atomic_file.hpp"
#include "runtime/pipeline.hpp"
#include "loader/plugin_host.hpp"

namespace radpipe::host {
namespace {

namespace fs = std::filesystem;

std::string depth_name(int depth) {
  switch (depth) {
    case CV_8U:
      return "8-bit unsigned";
    case CV_16U:
      return "16-bit unsigned";
    case CV_32F:
      return "32-bit float";
    default:
      return fmt::format("OpenCV depth {}", depth);
  }
}

// What one file became: the reader that read it and the sample it made.
struct Shown {
  std::string reader;
  std::string plugin;
  Sample sample;
  double minimum = 0.0, maximum = 0.0;
};

// The first reader stage that says it reads this file (readers declare it as FileSupport).
Shown read_one(const PluginHost& plugins, const fs::path& file) {
  std::optional<StageEntry> entry;
  std::vector<std::string> tried;
  for (const auto& candidate : plugins.stages_of(StageKind::Reader)) {
    if (!candidate.stage->files) continue;
    tried.push_back(candidate.stage->name);
    if (call_plugin(candidate, [&] { return candidate.stage->files->can_read(file); })) {
      entry = candidate;
      break;
    }
  }
  if (!entry)
    throw std::runtime_error(tried.empty() ? std::string("no installed reader reads single files (see `radpipe plugins`)")
                                           : fmt::format("none of the readers that take single files ({}) can read it", join(tried)));
  const std::string stage = entry->stage->name;
  StageContext context;
  context.pipeline_dir = fs::current_path();
  context.plugin_name = entry->plugin->name;
  context.stage_name = stage;
  context.log = logger_for("show " + stage);
  const Params params =
      call_plugin(*entry, [&] { return resolve_params(entry->stage->schema, {{entry->stage->files->path_key, file.string()}}); });
  auto reader = plugins.create<Reader>(*entry, params, context);
  Shown shown{stage, entry->plugin->name + " " + entry->plugin->version, {}};
  auto info = call_plugin(*entry, [&] { return reader->next(); });
  if (!info) throw std::runtime_error("the " + stage + " reader found nothing to read in it");
  shown.sample = call_plugin(*entry, [&] { return reader->load(*info); });
  require_radpipe_image(shown.sample, "show");
  cv::minMaxLoc(shown.sample.image.reshape(1), &shown.minimum, &shown.maximum);
  return shown;
}

nlohmann::json to_json(const Shown& shown, const fs::path& file) {
  const auto& info = shown.sample.info;
  const cv::Mat& image = shown.sample.image;
  nlohmann::json out{
      {"file", file.string()},
      {"reader", shown.reader},
      {"plugin", shown.plugin},
      {"id", info.id},
      {"width", image.cols},
      {"height", image.rows},
      {"channels", image.channels()},
      {"depth", depth_name(image.depth())},
      {"intensity",
       {{"min", shown.minimum}, {"max", shown.maximum}, {"full_scale", depth_maximum(image.depth())}}},
      {"patient_id", info.patient_id},
      {"study_id", info.study_id},
      {"body_part", info.body_part},
      {"view", info.view},
      {"tags", info.tags}};
  out["pixel_spacing_mm"] =
      info.pixel_spacing_mm ? nlohmann::json(*info.pixel_spacing_mm) : nlohmann::json(nullptr);
  return out;
}

void print_text(const Shown& shown, const fs::path& file) {
  const auto& info = shown.sample.info;
  const cv::Mat& image = shown.sample.image;
  const auto line = [](const char* key, const std::string& value) {
    std::cout << fmt::format("{:<15}{}\n", key, value.empty() ? "-" : value);
  };
  line("file", file.string());
  line("reader", fmt::format("{} (plugin {})", shown.reader, shown.plugin));
  line("size", fmt::format("{} x {} (width x height)", image.cols, image.rows));
  line("pixels", fmt::format("{} channel{}, {}", image.channels(), image.channels() == 1 ? "" : "s",
                             depth_name(image.depth())));
  line("intensity",
       fmt::format("{:g}..{:g} of 0..{:g}", shown.minimum, shown.maximum, depth_maximum(image.depth())));
  line("patient", info.patient_id);
  line("study", info.study_id);
  line("body part", info.body_part);
  line("view", info.view);
  line("pixel spacing", info.pixel_spacing_mm
                            ? fmt::format("{:g} x {:g} mm (row x column)", (*info.pixel_spacing_mm)[0],
                                          (*info.pixel_spacing_mm)[1])
                            : std::string());
  if (info.tags.empty()) return;
  std::cout << "tags\n";
  std::size_t width = 0;
  for (const auto& [name, value] : info.tags) width = std::max(width, name.size());
  for (const auto& [name, value] : info.tags) std::cout << fmt::format("  {:<{}}  {}\n", name, width, value);
}

void write_png(const cv::Mat& image, const fs::path& target) {
  cv::Mat eight_bit;
  image.convertTo(eight_bit, CV_8U, 255.0 / depth_maximum(image.depth()));
  if (eight_bit.channels() == 3)
    cv::cvtColor(eight_bit, eight_bit, cv::COLOR_RGB2BGR); // radpipe holds RGB, OpenCV writes BGR
  std::vector<unsigned char> encoded;
  if (!cv::imencode(".png", eight_bit, encoded))
    throw std::runtime_error("OpenCV could not encode the image as PNG");
  write_file_atomically(target, [&](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(encoded.data()), static_cast<std::streamsize>(encoded.size()));
  });
}

} // namespace

int command_show(const GlobalOptions& global, const ShowOptions& options) {
  std::error_code error;
  if (!fs::is_regular_file(options.file, error)) {
    spdlog::error("{}: {}", options.file.string(),
                  fs::exists(options.file, error) ? "not a regular file" : "no such file");
    return exit_invalid;
  }
  PluginHost plugins;
  load_plugins(plugins, global);
  Shown shown;
  try {
    shown = read_one(plugins, options.file);
  } catch (const SampleError& failure) {
    spdlog::error("{}", failure.what()); // already names the file
    return exit_invalid;
  } catch (const std::exception& failure) {
    spdlog::error("cannot read {}: {}", options.file.string(), failure.what());
    return exit_invalid;
  }
  if (options.json)
    std::cout << to_json(shown, options.file).dump(2) << '\n';
  else
    print_text(shown, options.file);
  if (!options.png.empty()) {
    write_png(shown.sample.image, options.png);
    spdlog::info("wrote {}", options.png.string());
  }
  return exit_ok;
}

} // namespace radpipe::host
