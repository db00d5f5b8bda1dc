#include "commands/explain.hpp"

#include "io/atomic_file.hpp"
#include "runtime/chain_runner.hpp"
#include "runtime/explanation.hpp"
#include "runtime/inference.hpp"
#include "runtime/routing.hpp"
#include "runtime/pipeline.hpp"
#include "io/progress.hpp"
#include "runtime/sample_stream.hpp"
#include "runtime/tensor.hpp"


#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>

namespace radpipe::host {
namespace fs = std::filesystem;

namespace {

// What the model saw, as 8-bit grey: the mean of the input's channels stretched to its own range
// (the input is normalised, so its absolute values mean nothing to the eye).
cv::Mat model_input_as_gray(const torch::Tensor& image) {
  auto plane = image.mean(0).contiguous();
  const float low = plane.min().item<float>(), high = plane.max().item<float>();
  cv::Mat gray(static_cast<int>(plane.size(0)), static_cast<int>(plane.size(1)), CV_32F, plane.data_ptr<float>());
  cv::Mat out;
  gray.convertTo(out, CV_8U, high > low ? 255.0 / (high - low) : 0.0, high > low ? -255.0 * low / (high - low) : 0.0);
  return out;
}

// The input beside the input with the heatmap blended over it (JET: red is where the evidence is).
cv::Mat side_by_side(const cv::Mat& gray, const torch::Tensor& heat) {
  auto heat_cpu = heat.contiguous();
  cv::Mat heat_float(gray.rows, gray.cols, CV_32F, heat_cpu.data_ptr<float>());
  cv::Mat heat_8u, colour, base, blended, both;
  heat_float.convertTo(heat_8u, CV_8U, 255.0);
  cv::applyColorMap(heat_8u, colour, cv::COLORMAP_JET);
  cv::cvtColor(gray, base, cv::COLOR_GRAY2BGR);
  cv::addWeighted(base, 0.6, colour, 0.4, 0.0, blended);
  cv::hconcat(base, blended, both);
  // Models see small inputs (128 px, say): enlarge so that a person can make out the anatomy.
  constexpr int readable_height = 320;
  if (both.rows < readable_height) {
    const double scale = static_cast<double>(readable_height) / both.rows;
    cv::resize(both, both, cv::Size(), scale, scale, cv::INTER_LINEAR);
  }
  return both;
}

// Any radpipe image as 8-bit grey for display, stretched to its own range.
cv::Mat display_gray(const cv::Mat& image) {
  cv::Mat gray = image;
  if (image.channels() == 3) cv::cvtColor(image, gray, cv::COLOR_RGB2GRAY);
  cv::Mat out;
  cv::normalize(gray, out, 0, 255, cv::NORM_MINMAX, CV_8U);
  return out;
}

void write_png(const fs::path& file, const cv::Mat& image) {
  std::vector<unsigned char> bytes;
  if (!cv::imencode(".png", image, bytes)) throw std::runtime_error("cannot encode " + file.string() + " as PNG");
  write_file_atomically(file, [&](std::ostream& out) { out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())); });
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    default: out += c;
    }
  }
  return out;
}

void write_index(const fs::path& out_dir, std::vector<HeatmapFigure> items, const PipelineConfig& config) {
  std::stable_sort(items.begin(), items.end(), [](const HeatmapFigure& a, const HeatmapFigure& b) { return a.probability > b.probability; });
  write_file_atomically(out_dir / "index.html", [&](std::ostream& out) {
    out << "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>radpipe explain: " << html_escape(config.settings.string("name"))
        << "</title>\n<style>body{font-family:sans-serif;margin:1em;background:#111;color:#eee}"
           ".grid{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;background:#222;padding:6px;border-radius:4px}"
           "img{display:block;max-width:520px;image-rendering:auto}figcaption{font-size:13px;margin-top:4px}"
           ".pos{color:#f77}.neg{color:#7cf}</style></head><body>\n<h1>Where the model looked: "
        << html_escape(config.settings.string("name")) << "</h1>\n<p>Left: the model's input; right: the "
        << html_escape(config.explain->entry.stage->name)
        << " heatmap of the evidence for the positive class (red is strongest). Sorted by probability, highest first; a click shows the heatmap over the whole image at its original size.</p>\n"
           "<div class=\"grid\">\n";
    for (const auto& item : items) {
      const std::string label = item.info.label ? (*item.info.label ? "positive" : "negative") : "unlabelled";
      out << "<figure>" << (item.original_file.empty() ? "" : "<a href=\"" + html_escape(item.original_file) + "\">") << "<img src=\""
          << html_escape(item.image_file) << "\" alt=\"" << html_escape(item.info.id) << "\">"
          << (item.original_file.empty() ? "" : "</a>") << "<figcaption>"
          << html_escape(item.info.id) << (item.info.body_part.empty() ? "" : " · " + html_escape(item.info.body_part))
          << fmt::format(" · p = {:.3f} · ", item.probability) << "<span class=\""
          << (item.info.label && *item.info.label ? "pos" : "neg") << "\">" << label << "</span></figcaption></figure>\n";
    }
    out << "</div>\n</body></html>\n";
  });
}

std::string file_stem_for(const SampleInfo& info) {
  std::string stem = fmt::format("{:06d}-", info.index);
  for (char c : info.id.empty() ? fs::path(info.path).stem().string() : info.id)
    stem += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return stem.substr(0, 96);
}

// The heatmap over the image as the reader decoded it (decoded again: the batch holds the
// model's input).
void draw_at_original_size(Built<Reader>& reader, const torch::Tensor& heat, const fs::path& out_dir, HeatmapFigure& item) {
  const Sample original = call_plugin(reader.entry, [&] { return reader.stage->load(item.info); });
  const cv::Size size = original.image.size();
  const cv::Mat map = heatmap_at_source(heat, item.info, size, item.original_stretched);
  cv::Point peak;
  cv::minMaxLoc(map, nullptr, nullptr, nullptr, &peak);
  item.original_width = size.width;
  item.original_height = size.height;
  item.original_peak_x = peak.x;
  item.original_peak_y = peak.y;
  cv::Mat heat_8u, colour, base, blended;
  map.convertTo(heat_8u, CV_8U, 255.0);
  cv::applyColorMap(heat_8u, colour, cv::COLORMAP_JET);
  cv::cvtColor(display_gray(original.image), base, cv::COLOR_GRAY2BGR);
  cv::addWeighted(base, 0.6, colour, 0.4, 0.0, blended);
  item.original_file = fs::path(item.image_file).replace_extension().string() + "-original.png";
  write_png(out_dir / item.original_file, blended);
}

// Heatmap figures of one chain's batch. Explainers need gradients through the model, so this
// runs outside the no-gradient scoring path. With `original_reader`, each heatmap is also drawn
// over the decoded image.
std::vector<HeatmapFigure> explain_batch(Chain& chain, Built<Explainer>& explainer, std::vector<Sample>& batch, const fs::path& out_dir,
                                         const std::string& subfolder, Built<Reader>* original_reader) {
  ExplainedBatch explained = explain_samples(chain, explainer, batch);
  const torch::Tensor& input = explained.input;
  const torch::Tensor& heat = explained.heat;
  // Multi-class chains: each image's figure shows the probability of the class explained.
  const torch::Tensor probabilities =
      chain.multiclass() ? std::get<0>(explained.probabilities.max(1)) : explained.probabilities;
  std::vector<HeatmapFigure> figures;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto n = static_cast<long>(i);
    HeatmapFigure item;
    item.info = std::move(batch[i].info);
    item.chain = chain.name;
    item.probability = probabilities[n].item<double>();
    item.image_file = subfolder + "/" + file_stem_for(item.info) + ".png";
    write_png(out_dir / item.image_file, side_by_side(model_input_as_gray(input[n]), heat[n]));
    const auto flat_peak = heat[n].flatten().argmax().item<long>();
    item.peak_x = (static_cast<double>(flat_peak % heat.size(2)) + 0.5) / static_cast<double>(heat.size(2));
    item.peak_y = (static_cast<double>(flat_peak / heat.size(2)) + 0.5) / static_cast<double>(heat.size(1));
    if (original_reader != nullptr) draw_at_original_size(*original_reader, heat[n], out_dir, item);
    figures.push_back(std::move(item));
  }
  return figures;
}

} // namespace

std::vector<HeatmapFigure> explain_stream(Pipeline& pipeline, SampleStream& stream, const fs::path& out_dir, const std::string& subfolder,
                                          bool at_original_size) {
  Built<Explainer>* explainer = pipeline.explainer();
  if (explainer == nullptr) throw std::logic_error("explain_stream needs a pipeline with an [explain] stage");
  // Explainers differentiate the model: its trainable form, never the folded one.
  pipeline.prepare_models(ModelForm::Trainable);
  fs::create_directories(out_dir / subfolder);

  Progress progress("explain", std::nullopt);
  std::vector<HeatmapFigure> explained;
  std::vector<SkippedSample> skipped;
  ChainRunnerOptions options;
  options.window = window_for(pipeline.chains());
  options.transform = prediction_stream_options(pipeline).transform;
  // Gradients flow on the chain threads: one explainer call at a time keeps it simple for plugins.
  options.concurrent = false;
  ChainRunner<HeatmapFigure> runner(
      pipeline.chains(),
      [&](Chain& chain, std::vector<Sample>& batch) {
        return explain_batch(chain, *explainer, batch, out_dir, subfolder, at_original_size ? &pipeline.reader() : nullptr);
      },
      [&](ChainOutcome<HeatmapFigure>&& outcome) {
        progress.advance(1);
        if (outcome.skip) skipped.push_back(std::move(*outcome.skip));
        else explained.push_back(std::move(*outcome.result));
      },
      options);
  StudyRouter router(pipeline, options.transform);
  route_into(stream, router, runner);
  skipped.insert(skipped.end(), router.skipped().begin(), router.skipped().end());
  const std::size_t skip_count = stream.skipped().size() + skipped.size();
  progress.finish(skip_count == 0 ? std::string() : fmt::format("{} skipped", skip_count));
  for (const auto& skip : skipped) spdlog::warn("skipped {}: {}", skip.path, skip.reason);
  std::stable_sort(explained.begin(), explained.end(),
                   [](const HeatmapFigure& a, const HeatmapFigure& b) { return a.info.index < b.info.index; });
  return explained;
}

int command_explain(const GlobalOptions& global, const ExplainOptions& options) {
  PluginHost plugins;
  load_plugins(plugins, global);
  auto config = validate_or_report(options.pipeline, plugins, global.overrides);
  if (!config) return exit_invalid;
  if (!config->explain) {
    spdlog::error("{}: the pipeline has no [explain] table; add one, e.g.\n  [explain]\n  stage = \"gradcam\"", options.pipeline.string());
    return exit_invalid;
  }
  prepare_output_folder(options.out_dir, "--out");

  BuildOptions build;
  build.threads = global.threads;
  build.device_override = options.device;
  build.checkpoint = options.checkpoint;
  build.selected_weights = options.selected_weights;
  Pipeline pipeline(*config, plugins, build);
  torch::set_num_threads(resolve_threads(global.threads > 0 ? global.threads : static_cast<int>(config->settings.integer("threads"))));

  std::function<bool(const SampleInfo&)> keep;
  if (!options.split.empty()) keep = [split = options.split](const SampleInfo& info) { return info.split == split; };
  // Heatmaps are drawn back onto the radiograph at its own size: a full decode keeps that map exact,
  // where a reduced JPEG decode (decode hints) rounds the scale. The model's input differs from the
  // hinted one by resampling noise only (README, "Speed").
  StreamOptions stream_options = prediction_stream_options(pipeline);
  stream_options.decode_hint = DecodeHint{};
  SampleStream stream(reader_source(*pipeline.reader().stage, keep, options.limit), pipeline.reader(), pipeline.transforms(),
                      stream_options);
  std::vector<HeatmapFigure> explained = explain_stream(pipeline, stream, options.out_dir, "heatmaps", /*at_original_size=*/true);
  if (std::any_of(explained.begin(), explained.end(), [](const HeatmapFigure& item) { return item.original_stretched; }))
    spdlog::warn("a transform changed the image size without recording how (radpipe/geometry.hpp): those heatmaps were stretched "
                 "onto the original image, which is exact only for a plain resize");
  if (explained.empty()) {
    spdlog::error("no image could be explained ({} skipped); nothing written", stream.skipped().size());
    return exit_invalid;
  }

  write_file_atomically(options.out_dir / "explanations.csv", [&](std::ostream& out) {
    out << "id,path,body_part,chain,probability,label,heatmap,peak_x,peak_y,original_heatmap,original_width,original_height,"
           "original_peak_x,original_peak_y\n";
    for (const auto& item : explained)
      out << csv_field(item.info.id) << ',' << csv_field(item.info.path) << ',' << csv_field(item.info.body_part) << ','
          << csv_field(item.chain) << ',' << fmt::format("{:.6f}", item.probability) << ','
          << (item.info.label ? std::to_string(*item.info.label) : std::string()) << ',' << csv_field(item.image_file) << ','
          << fmt::format("{:.4f},{:.4f}", item.peak_x, item.peak_y) << ',' << csv_field(item.original_file) << ','
          << fmt::format("{},{},{},{}", item.original_width, item.original_height, item.original_peak_x, item.original_peak_y) << '\n';
  });
  write_index(options.out_dir, explained, *config);
  spdlog::info("{} heatmaps; open {}", explained.size(), (options.out_dir / "index.html").string());
  return exit_ok;
}

} // namespace radpipe::host
