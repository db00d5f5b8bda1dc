#include "runtime/inference.hpp"

#include "io/atomic_file.hpp"
#include "io/progress.hpp"
#include "runtime/chain_runner.hpp"
#include "runtime/device.hpp"
#include "runtime/ensemble.hpp"
#include "runtime/explanation.hpp"
#include "runtime/routing.hpp"
#include "runtime/stage_provenance.hpp"
#include "runtime/tensor.hpp"
#include "runtime/precision.hpp"

#include <radpipe/version.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <map>

namespace radpipe::host {

torch::Tensor positive_probability(const torch::Tensor& logits) {
  auto flat = logits.to(torch::kCPU, torch::kFloat32);
  if (flat.dim() == 1 || flat.size(1) == 1) return torch::sigmoid(flat.reshape({-1}));
  return torch::softmax(flat, 1).select(1, 1).contiguous();
}

torch::Tensor probabilities_from_logits(const Chain& chain, const torch::Tensor& logits) {
  if (chain.multiclass()) return torch::softmax(logits.to(torch::kCPU, torch::kFloat32), 1).contiguous();
  return positive_probability(logits);
}

namespace {

// The scores of an input already on the chain's device.
torch::Tensor probabilities_on_device(Chain& chain, const torch::Tensor& input) {
  // Inference mode: no autograd bookkeeping at all (no version counters, no views tracked).
  c10::InferenceMode inference;
  const AutocastScope autocast(chain.device, parse_precision(chain.config->model_host.string("precision")).value_or(Precision::fp32));
  if (chain.averages()) return averaged_probabilities(chain, input);
  return call_plugin(chain.model.entry, [&] { return probabilities_from_logits(chain, chain.model.stage->forward(input).logits); });
}

} // namespace

torch::Tensor chain_probabilities(Chain& chain, std::span<const Sample> batch) {
  if (chain.averages()) {
    const int channels = call_plugin(chain.model.entry, [&] { return chain.model.stage->input_channels(); });
    return probabilities_on_device(chain, samples_to_device(batch, channels, chain.device));
  }
  return call_plugin(chain.model.entry, [&] {
    return probabilities_on_device(chain, samples_to_device(batch, chain.model.stage->input_channels(), chain.device));
  });
}

torch::Tensor chain_probabilities_of_input(Chain& chain, const torch::Tensor& input) {
  return probabilities_on_device(chain, to_device(input, chain.device));
}

namespace {

std::vector<ImagePrediction> predictions_from(Chain& chain, std::vector<Sample>& batch, const torch::Tensor& probabilities) {
  std::vector<ImagePrediction> out;
  out.reserve(batch.size());
  if (chain.multiclass()) {
    auto rows = probabilities.accessor<float, 2>();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      ImagePrediction prediction{std::move(batch[i].info), 0.0, chain.name, {}, 0, {}, 1.0, {}};
      for (long k = 0; k < probabilities.size(1); ++k) prediction.class_probabilities.push_back(rows[static_cast<long>(i)][k]);
      const auto best = std::max_element(prediction.class_probabilities.begin(), prediction.class_probabilities.end());
      prediction.predicted_class = static_cast<int>(best - prediction.class_probabilities.begin());
      prediction.probability = *best;
      out.push_back(std::move(prediction));
    }
  } else {
    auto values = probabilities.accessor<float, 1>();
    for (std::size_t i = 0; i < batch.size(); ++i)
      out.push_back({std::move(batch[i].info), static_cast<double>(values[static_cast<long>(i)]), chain.name, {}, 0, {}, 1.0, {}});
  }
  return out;
}

// A heatmap holds no finer detail than the model's input; writers scale it onto their pictures.
constexpr int heatmap_max_side = 512;

// predict_batch, and each image's heatmap from the pipeline's explainer on the decoded image's frame.
std::vector<ImagePrediction> predict_and_explain_batch(Chain& chain, Built<Explainer>& explainer, std::vector<Sample>& batch) {
  ExplainedBatch explained = explain_samples(chain, explainer, batch);
  std::vector<cv::Mat> heatmaps;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    bool stretched = false;
    heatmaps.push_back(heatmap_on_decoded_frame(explained.heat[static_cast<long>(i)], batch[i].info, heatmap_max_side, stretched));
  }
  std::vector<ImagePrediction> out = predictions_from(chain, batch, explained.probabilities);
  for (std::size_t i = 0; i < out.size(); ++i) out[i].heatmap = std::move(heatmaps[i]);
  return out;
}

} // namespace

std::vector<ImagePrediction> predict_batch(Chain& chain, std::vector<Sample>& batch) {
  return predictions_from(chain, batch, chain_probabilities(chain, batch));
}

StreamOptions prediction_stream_options(const Pipeline& pipeline) {
  const auto& settings = pipeline.config().settings;
  StreamOptions options;
  options.workers = static_cast<int>(settings.integer("workers"));
  options.window = std::max<std::size_t>(64, 4 * static_cast<std::size_t>(settings.integer("batch_size")));
  options.skip_bad_samples = settings.string("on_error") == "skip";
  options.transform = {RunMode::Predict, static_cast<std::uint64_t>(settings.integer("seed")), 0};
  options.decode_hint = pipeline.decode_hint();
  return options;
}

InferenceSummary stream_inference(Pipeline& pipeline, const InferenceOptions& options,
                                  const std::function<void(ImagePrediction&&)>& on_image) {
  const auto start = std::chrono::steady_clock::now();
  Built<Explainer>* explainer = options.heatmaps ? pipeline.explainer() : nullptr;
  if (options.heatmaps && explainer == nullptr) throw std::logic_error("stream_inference: heatmaps need a pipeline with an [explain] stage");
  // Explainers differentiate the model: its trainable form, never the folded one.
  pipeline.prepare_models(explainer != nullptr ? ModelForm::Trainable : pipeline.scoring_form());

  auto& reader = pipeline.reader();
  std::function<bool(const SampleInfo&)> keep = options.keep;
  if (!options.split.empty())
    keep = [split = options.split, also = options.keep](const SampleInfo& info) { return info.split == split && (!also || also(info)); };
  const StreamOptions stream_options = prediction_stream_options(pipeline);
  SampleStream stream(reader_source(*reader.stage, keep, options.limit), reader, pipeline.transforms(), stream_options);

  std::optional<std::uint64_t> total = call_plugin(reader.entry, [&] { return reader.stage->size_hint(); });
  if (options.limit > 0 && total) total = std::min<std::uint64_t>(*total, options.limit);
  if (!options.split.empty()) total.reset(); // the hint counts every split
  if (total && options.keep) { // an estimate: a shard's share, less what a resumed run has already
    *total /= std::max<std::uint64_t>(1, options.expected_share);
    *total -= std::min(*total, options.already_done);
  }
  Progress progress("predict", total);

  InferenceSummary summary;
  std::vector<SkippedSample> chain_skips;
  ChainRunnerOptions runner_options;
  runner_options.window = window_for(pipeline.chains());
  runner_options.transform = stream_options.transform;
  // Gradients flow on the chain threads: one explainer call at a time keeps it simple for plugins.
  if (explainer != nullptr) runner_options.concurrent = false;
  std::function<std::vector<ImagePrediction>(Chain&, std::vector<Sample>&)> score = predict_batch;
  if (explainer != nullptr)
    score = [explainer](Chain& chain, std::vector<Sample>& batch) { return predict_and_explain_batch(chain, *explainer, batch); };
  ChainRunner<ImagePrediction> runner(
      pipeline.chains(), score,
      [&](ChainOutcome<ImagePrediction>&& outcome) {
        progress.advance(1);
        if (outcome.skip) {
          if (!stream_options.skip_bad_samples) stop_at(*outcome.skip);
          spdlog::warn("skipped {}: {}", outcome.skip->path, outcome.skip->reason);
          chain_skips.push_back(std::move(*outcome.skip));
          return;
        }
        outcome.result->routed_value = std::move(outcome.route.value);
        outcome.result->route_confidence = outcome.route.confidence;
        ++summary.images;
        ++summary.chain_images[outcome.chain->name];
        on_image(std::move(*outcome.result));
      },
      runner_options);
  StudyRouter router(pipeline, stream_options.transform);
  route_into(stream, router, runner, options.stop);

  summary.skipped = stream.skipped();
  summary.skipped.insert(summary.skipped.end(), router.skipped().begin(), router.skipped().end());
  summary.skipped.insert(summary.skipped.end(), chain_skips.begin(), chain_skips.end());
  progress.finish(summary.skipped.empty() ? std::string() : fmt::format("{} skipped", summary.skipped.size()));
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::debug("time per image on {} decode worker(s): {}; in all {:.3f} ms per image", stream_options.workers, stream.step_times(),
                summary.seconds * 1e3 / static_cast<double>(std::max<std::size_t>(summary.images, 1)));
  if (summary.chain_images.size() > 1)
    for (const auto& [name, count] : summary.chain_images) spdlog::info("chain '{}': {} images", name, count);
  return summary;
}

InferenceResult run_inference(Pipeline& pipeline, const InferenceOptions& options) {
  InferenceResult result;
  InferenceSummary summary = stream_inference(pipeline, options, [&](ImagePrediction&& image) { result.images.push_back(std::move(image)); });
  result.skipped = std::move(summary.skipped);
  result.chain_images = std::move(summary.chain_images);
  result.studies = aggregate_studies(result.images, pipeline);
  result.seconds = summary.seconds;
  return result;
}

void StudyAccumulator::add(const ImagePrediction& image) {
  if (study.image_count == 0) {
    study = {image.info.study_key(), image.info.patient_id, image.info.body_part, 0, 0.0, 0, image.info.label, image.chain, {}};
    class_columns.resize(image.class_probabilities.size());
  }
  ++study.image_count;
  probabilities.push_back(image.probability);
  for (std::size_t k = 0; k < image.class_probabilities.size() && k < class_columns.size(); ++k)
    class_columns[k].push_back(image.class_probabilities[k]);
  // A study is abnormal when any of its images is labelled abnormal.
  if (image.info.label && (!study.label || *image.info.label > *study.label)) study.label = image.info.label;
}

StudyPrediction StudyAccumulator::finish(const Built<Aggregator>& aggregator, double threshold) {
  if (class_columns.empty()) {
    study.probability = call_plugin(aggregator.entry, [&] { return aggregator.stage->aggregate(probabilities); });
    study.predicted = study.probability >= threshold ? 1 : 0;
    return std::move(study);
  }
  // Multi-class: each class's probabilities aggregate like a binary one's; the largest wins.
  for (const auto& column : class_columns)
    study.class_probabilities.push_back(call_plugin(aggregator.entry, [&] { return aggregator.stage->aggregate(column); }));
  const auto best = std::max_element(study.class_probabilities.begin(), study.class_probabilities.end());
  study.predicted = static_cast<int>(best - study.class_probabilities.begin());
  study.probability = *best;
  return std::move(study);
}

StudyPrediction StudyAccumulator::finish(Pipeline& pipeline) {
  const Chain* chain = pipeline.chain(study.chain);
  if (chain == nullptr) throw std::logic_error("study " + study.study_id + " was scored by an unknown chain");
  return finish(chain->aggregator, chain->config->threshold);
}

namespace {

std::vector<StudyAccumulator> group_studies(const std::vector<ImagePrediction>& images) {
  std::vector<StudyAccumulator> groups;
  std::map<std::string, std::size_t> position;
  for (const auto& image : images) {
    auto [found, inserted] = position.emplace(image.info.study_key(), groups.size());
    if (inserted) groups.emplace_back();
    groups[found->second].add(image);
  }
  return groups;
}

} // namespace

void require_binary_label(const SampleInfo& info) {
  if (info.label && *info.label != 0 && *info.label != 1)
    throw SampleError(info.path, fmt::format("sample {} has label {}; a binary chain's label is 0 (normal) or 1 (abnormal): check "
                                             "the reader's label column (or positive_class), or give the chain classes",
                                             info.id, *info.label));
}

std::vector<StudyPrediction> aggregate_studies(const std::vector<ImagePrediction>& images, const Built<Aggregator>& aggregator,
                                               double threshold) {
  std::vector<StudyPrediction> studies;
  for (auto& group : group_studies(images)) studies.push_back(group.finish(aggregator, threshold));
  return studies;
}

std::vector<StudyPrediction> aggregate_studies(const std::vector<ImagePrediction>& images, Pipeline& pipeline) {
  std::vector<StudyPrediction> studies;
  for (auto& group : group_studies(images)) studies.push_back(group.finish(pipeline));
  return studies;
}

void write_inference_outputs(const InferenceResult& result, const PipelineConfig& config, double threshold,
                             const std::filesystem::path& out_dir) {
  auto label_text = [](const std::optional<int>& label) { return label ? std::to_string(*label) : std::string(); };
  const bool routed = config.route.has_value();
  // The three files are one set, run.json its record: committed together, so that a full disk or a
  // kill never leaves new predictions beside an old run.json (see write_file_set_atomically).
  // Issue 12 turns this into streaming writers with run.json as the record of what is committed.
  const auto write_predictions = [&](std::ostream& out) {
    out << "id,path,study_id,patient_id,body_part,view,chain," << (routed ? "routed_value,route_confidence," : "")
        << "probability,predicted,label\n";
    for (const auto& image : result.images) {
      const int predicted = image.class_probabilities.empty() ? (image.probability >= threshold ? 1 : 0) : image.predicted_class;
      out << csv_field(image.info.id) << ',' << csv_field(image.info.path) << ',' << csv_field(image.info.study_key()) << ','
          << csv_field(image.info.patient_id) << ',' << csv_field(image.info.body_part) << ',' << csv_field(image.info.view) << ','
          << csv_field(image.chain) << ',';
      if (routed) out << csv_field(image.routed_value) << ',' << fmt::format("{:.6f}", image.route_confidence) << ',';
      out << fmt::format("{:.6f}", image.probability) << ',' << predicted << ',' << label_text(image.info.label) << '\n';
    }
  };
  const auto write_studies = [&](std::ostream& out) {
    out << "study_id,patient_id,body_part,chain,images,probability,predicted,label\n";
    for (const auto& study : result.studies) {
      out << csv_field(study.study_id) << ',' << csv_field(study.patient_id) << ',' << csv_field(study.body_part) << ','
          << csv_field(study.chain) << ',' << study.image_count << ',' << fmt::format("{:.6f}", study.probability) << ',' << study.predicted
          << ',' << label_text(study.label) << '\n';
    }
  };
  nlohmann::json summary;
  summary["radpipe_version"] = RADPIPE_SDK_VERSION_STRING;
  summary["pipeline"] = config.file.string();
  summary["pipeline_name"] = config.settings.string("name");
  summary["stages"] = stage_provenance(config);
  summary["images"] = result.images.size();
  summary["studies"] = result.studies.size();
  summary["threshold"] = threshold;
  summary["seconds"] = result.seconds;
  summary["images_per_second"] = result.seconds > 0 ? static_cast<double>(result.images.size()) / result.seconds : 0.0;
  summary["chains"] = result.chain_images;
  summary["files"] = {"predictions.csv", "studies.csv"};
  summary["skipped"] = nlohmann::json::array();
  for (const auto& skip : result.skipped) summary["skipped"].push_back({{"path", skip.path}, {"reason", skip.reason}});
  write_file_set_atomically({{out_dir / "predictions.csv", write_predictions},
                             {out_dir / "studies.csv", write_studies},
                             {out_dir / "run.json", [&](std::ostream& out) { out << summary.dump(2) << '\n'; }}});
}

} // namespace radpipe::host
