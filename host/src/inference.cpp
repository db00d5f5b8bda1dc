#include "inference.hpp"

#include "atomic_file.hpp"
#include "progress.hpp"
#include "stage_provenance.hpp"
#include "tensor.hpp"

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

namespace {

void score_batch(ModelChain& chain, std::vector<Sample>& batch, std::vector<ImagePrediction>& out) {
  if (batch.empty()) return;
  torch::NoGradGuard no_gradients;
  torch::Tensor probabilities = call_plugin(chain.model.entry, [&] {
    auto input = samples_to_tensor(batch, chain.model.stage->input_channels()).to(chain.device);
    return positive_probability(chain.model.stage->forward(input).logits);
  });
  auto values = probabilities.accessor<float, 1>();
  for (std::size_t i = 0; i < batch.size(); ++i)
    out.push_back({std::move(batch[i].info), static_cast<double>(values[static_cast<long>(i)]), chain.name});
  batch.clear();
}

} // namespace

StreamOptions prediction_stream_options(const PipelineConfig& config) {
  const auto& settings = config.settings;
  StreamOptions options;
  options.workers = static_cast<int>(settings.integer("workers"));
  options.window = std::max<std::size_t>(64, 4 * static_cast<std::size_t>(settings.integer("batch_size")));
  options.skip_bad_samples = settings.string("on_error") == "skip";
  options.transform = {RunMode::Predict, static_cast<std::uint64_t>(settings.integer("seed")), 0};
  return options;
}

InferenceResult run_inference(Pipeline& pipeline, const InferenceOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const auto& settings = pipeline.config().settings;
  const auto batch_size = static_cast<std::size_t>(settings.integer("batch_size"));

  call_plugin(pipeline.default_chain().model.entry, [&] { pipeline.default_chain().model.stage->set_training(false); });
  for (auto& chain : pipeline.routed_chains()) call_plugin(chain.model.entry, [&] { chain.model.stage->set_training(false); });

  auto& reader = pipeline.reader();
  std::function<bool(const SampleInfo&)> keep;
  if (!options.split.empty()) keep = [split = options.split](const SampleInfo& info) { return info.split == split; };
  SampleStream stream(reader_source(*reader.stage, keep, options.limit), reader, pipeline.transforms(),
                      prediction_stream_options(pipeline.config()));

  std::optional<std::uint64_t> total = call_plugin(reader.entry, [&] { return reader.stage->size_hint(); });
  if (options.limit > 0 && total) total = std::min<std::uint64_t>(*total, options.limit);
  if (!options.split.empty()) total.reset(); // the hint counts every split
  Progress progress("predict", total);

  InferenceResult result;
  std::map<std::string, std::vector<Sample>> pending; // per chain
  while (auto sample = stream.next()) {
    ModelChain& chain = pipeline.chain_for(*sample);
    auto& batch = pending[chain.name];
    batch.push_back(std::move(*sample));
    if (batch.size() >= batch_size) {
      const auto count = batch.size();
      score_batch(chain, batch, result.images);
      progress.advance(count);
    }
  }
  for (auto& [name, batch] : pending) {
    if (batch.empty()) continue;
    ModelChain* chain = &pipeline.default_chain();
    for (auto& routed : pipeline.routed_chains())
      if (routed.name == name) chain = &routed;
    const auto count = batch.size();
    score_batch(*chain, batch, result.images);
    progress.advance(count);
  }
  result.skipped = stream.skipped();
  progress.finish(result.skipped.empty() ? std::string() : fmt::format("{} skipped", result.skipped.size()));

  std::stable_sort(result.images.begin(), result.images.end(),
                   [](const ImagePrediction& a, const ImagePrediction& b) { return a.info.index < b.info.index; });
  result.studies = aggregate_studies(result.images, pipeline.aggregator(), pipeline.config().threshold);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

std::vector<StudyPrediction> aggregate_studies(const std::vector<ImagePrediction>& images, const Built<Aggregator>& aggregator,
                                               double threshold) {
  std::vector<StudyPrediction> studies;
  std::map<std::string, std::size_t> position;
  std::vector<std::vector<double>> probabilities;
  for (const auto& image : images) {
    const std::string& key = image.info.study_key();
    auto [found, inserted] = position.emplace(key, studies.size());
    if (inserted) {
      studies.push_back({key, image.info.patient_id, image.info.body_part, 0, 0.0, 0, image.info.label});
      probabilities.emplace_back();
    }
    auto& study = studies[found->second];
    ++study.image_count;
    probabilities[found->second].push_back(image.probability);
    // A study is abnormal when any of its images is labelled abnormal.
    if (image.info.label && (!study.label || *image.info.label > *study.label)) study.label = image.info.label;
  }
  for (std::size_t i = 0; i < studies.size(); ++i) {
    studies[i].probability = call_plugin(aggregator.entry, [&] { return aggregator.stage->aggregate(probabilities[i]); });
    studies[i].predicted = studies[i].probability >= threshold ? 1 : 0;
  }
  return studies;
}

void write_inference_outputs(const InferenceResult& result, const PipelineConfig& config, double threshold,
                             const std::filesystem::path& out_dir) {
  auto label_text = [](const std::optional<int>& label) { return label ? std::to_string(*label) : std::string(); };
  write_file_atomically(out_dir / "predictions.csv", [&](std::ostream& out) {
    out << "id,path,study_id,patient_id,body_part,view,chain,probability,predicted,label\n";
    for (const auto& image : result.images) {
      out << csv_field(image.info.id) << ',' << csv_field(image.info.path) << ',' << csv_field(image.info.study_key()) << ','
          << csv_field(image.info.patient_id) << ',' << csv_field(image.info.body_part) << ',' << csv_field(image.info.view) << ','
          << csv_field(image.chain) << ',' << fmt::format("{:.6f}", image.probability) << ','
          << (image.probability >= threshold ? 1 : 0) << ',' << label_text(image.info.label) << '\n';
    }
  });
  write_file_atomically(out_dir / "studies.csv", [&](std::ostream& out) {
    out << "study_id,patient_id,body_part,images,probability,predicted,label\n";
    for (const auto& study : result.studies) {
      out << csv_field(study.study_id) << ',' << csv_field(study.patient_id) << ',' << csv_field(study.body_part) << ','
          << study.image_count << ',' << fmt::format("{:.6f}", study.probability) << ',' << study.predicted << ','
          << label_text(study.label) << '\n';
    }
  });
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
  summary["skipped"] = nlohmann::json::array();
  for (const auto& skip : result.skipped) summary["skipped"].push_back({{"path", skip.path}, {"reason", skip.reason}});
  write_file_atomically(out_dir / "run.json", [&](std::ostream& out) { out << summary.dump(2) << '\n'; });
}

} // namespace radpipe::host
