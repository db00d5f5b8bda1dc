#include "commands/evaluate.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <radpipe/version.hpp>

#include "io/atomic_file.hpp"
#include "report/evaluation.hpp"
#include "commands/explain.hpp"
#include "runtime/inference.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/run_outputs.hpp"
#include "report/report.hpp"

namespace radpipe::host {
namespace fs = std::filesystem;

fs::path find_training_history(const fs::path& checkpoint, const PipelineConfig& config) {
  std::vector<fs::path> candidates;
  if (!checkpoint.empty()) {
    const fs::path folder = fs::absolute(checkpoint).lexically_normal();
    candidates = {folder / "history.csv", folder.parent_path() / "history.csv",
                  folder.parent_path().parent_path() / "history.csv"};
  } else if (const ChainConfig* chain = config.default_chain()) {
    // Beside any file the model stage names (its initial weights, say), without knowing its keys.
    for (const auto& [key, value] : chain->model.params.values())
      if (const auto* text = std::get_if<std::string>(&value); text && chain->model.entry.stage->schema.find(key) &&
                                                                chain->model.entry.stage->schema.find(key)->type == ParamType::Path)
        candidates.push_back(fs::path(*text).parent_path() / "history.csv");
  }
  for (const auto& candidate : candidates)
    if (fs::is_regular_file(candidate)) return candidate;
  return {};
}

namespace {

nlohmann::json paths_json(const std::vector<fs::path>& paths) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& path : paths) list.push_back(path.string());
  return list;
}

// Per chain, the files its models' weights were loaded from (none: the pipeline's own weights).
nlohmann::json weight_files_json(Pipeline& pipeline) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& chain : pipeline.chains()) files[chain.name] = paths_json(chain.weight_files);
  return files;
}

double choose_or_explain(const std::string& method, std::span<const ScoredCase> cases,
                         const PipelineConfig& config, const std::string& level, const std::string& split) {
  try {
    return choose_threshold(method, cases, config.threshold, config.evaluate.real("target_sensitivity"));
  } catch (const std::invalid_argument& error) {
    throw std::runtime_error(
        fmt::format("{}: [evaluate] threshold_method = \"{}\" at {} level on split '{}': {}; pick another "
                    "threshold_split or threshold_method = \"fixed\"",
                    config.file.string(), method, level, split, error.what()));
  }
}

void print_summary(const LevelMetrics& level) {
  std::cout << fmt::format("{} level, threshold {:.4f}\n", level.level, level.threshold);
  std::cout << fmt::format("  {:<12} {:>6} {:>5}  {:<22} {:<23} {:<22}\n", "part", "n", "pos",
                           "AUROC (95% CI)", "kappa (95% CI)", "accuracy (95% CI)");
  auto cell = [](double value, const Interval& ci) {
    if (!std::isfinite(value)) return std::string("-"); // undefined, e.g. AUROC of a part with one class
    return std::isfinite(ci.low) ? fmt::format("{:.3f} ({:.3f}-{:.3f})", value, ci.low, ci.high)
                                 : fmt::format("{:.3f}", value);
  };
  auto row = [&](const GroupMetrics& group) {
    std::cout << fmt::format("  {:<12} {:>6} {:>5}  {:<22} {:<23} {:<22}\n", group.name, group.counts.total(),
                             group.positives, cell(group.auroc, group.auroc_ci),
                             cell(group.kappa, group.kappa_ci),
                             cell(group.counts.accuracy(), group.accuracy_ci));
  };
  for (const auto& part : level.parts) row(part);
  row(level.overall);
}

// The images a reader of the report most wants explained: the most confident true positives,
// false positives and false negatives at the image-level operating point.
struct ExplanationChoice {
  std::vector<SampleInfo> infos;
  std::map<std::string, std::string> group_of; // image id -> "true positive", ...
};

ExplanationChoice choose_images_to_explain(const std::vector<ImagePrediction>& images, double threshold, std::size_t per_group) {
  std::vector<const ImagePrediction*> true_positives, false_positives, false_negatives;
  for (const auto& image : images) {
    if (!image.info.label) continue;
    const bool called = image.probability >= threshold;
    if (*image.info.label == 1 && called) true_positives.push_back(&image);
    else if (*image.info.label == 0 && called) false_positives.push_back(&image);
    else if (*image.info.label == 1) false_negatives.push_back(&image);
  }
  ExplanationChoice choice;
  auto take = [&](std::vector<const ImagePrediction*>& group, const std::string& name, bool most_positive_first) {
    std::stable_sort(group.begin(), group.end(), [&](const ImagePrediction* a, const ImagePrediction* b) {
      return most_positive_first ? a->probability > b->probability : a->probability < b->probability;
    });
    for (std::size_t i = 0; i < std::min(per_group, group.size()); ++i) {
      choice.infos.push_back(group[i]->info);
      choice.group_of[group[i]->info.id] = name;
    }
  };
  take(true_positives, "true positive", true);
  take(false_positives, "false positive", true);
  take(false_negatives, "false negative", false);
  return choice;
}

std::vector<ReportFigure> explain_for_report(Pipeline& pipeline, const std::vector<ImagePrediction>& images, double threshold,
                                             std::size_t per_group, const fs::path& out) {
  ExplanationChoice choice = choose_images_to_explain(images, threshold, per_group);
  if (choice.infos.empty()) return {};
  SampleStream stream(vector_source(choice.infos), pipeline.reader(), pipeline.transforms(),
                      prediction_stream_options(pipeline));
  auto figures = explain_stream(pipeline, stream, out, "explanations");
  std::vector<ReportFigure> report;
  for (const std::string group : {"true positive", "false positive", "false negative"})
    for (const auto& figure : figures)
      if (choice.group_of[figure.info.id] == group)
        report.push_back({figure.image_file, fmt::format("{}: {}{} · p = {:.3f}", group, figure.info.id,
                                                         figure.info.body_part.empty() ? "" : " · " + figure.info.body_part,
                                                         figure.probability)});
  return report;
}

// A patient's verdict: all of the patient's images aggregated like a study's, by the aggregator
// of the chain that scored them. Its body part is the images' one, or none when they show
// several (such a patient counts in the overall figures only). Binary chains only.
std::vector<StudyPrediction> aggregate_patients(const std::vector<ImagePrediction>& images, Pipeline& pipeline) {
  std::vector<ImagePrediction> known;
  std::map<std::string, std::set<std::string>> parts;
  for (const auto& image : images) {
    if (image.info.patient_id.empty() || !image.class_probabilities.empty()) continue;
    ImagePrediction copy = image;
    copy.info.study_id = image.info.patient_id;
    parts[image.info.patient_id].insert(image.info.body_part);
    known.push_back(std::move(copy));
  }
  auto patients = aggregate_studies(known, pipeline);
  for (auto& patient : patients)
    if (parts[patient.study_id].size() > 1) patient.body_part.clear();
  return patients;
}

// The images and studies of binary chains: the ones abnormal-against-normal metrics apply to.
std::vector<ImagePrediction> binary_images(const std::vector<ImagePrediction>& images) {
  std::vector<ImagePrediction> binary;
  std::copy_if(images.begin(), images.end(), std::back_inserter(binary),
               [](const ImagePrediction& image) { return image.class_probabilities.empty(); });
  return binary;
}
std::vector<StudyPrediction> binary_studies(const std::vector<StudyPrediction>& studies) {
  std::vector<StudyPrediction> binary;
  std::copy_if(studies.begin(), studies.end(), std::back_inserter(binary),
               [](const StudyPrediction& study) { return study.class_probabilities.empty(); });
  return binary;
}

void write_patients(const std::vector<StudyPrediction>& patients, const fs::path& file) {
  write_file_atomically(file, [&](std::ostream& out) {
    out << "patient_id,body_part,images,probability,predicted,label\n";
    for (const auto& patient : patients)
      out << csv_field(patient.study_id) << ',' << csv_field(patient.body_part) << ',' << patient.image_count << ','
          << fmt::format("{:.6f}", patient.probability) << ',' << patient.predicted << ','
          << (patient.label ? std::to_string(*patient.label) : std::string()) << '\n';
  });
}

// Multi-class results of each multi-class chain, at image level and at study level (the study's
// class probabilities aggregated by the chain's aggregator); each image's class is the value of
// the chain's target field, a study's the most frequent of its images'.
std::vector<MulticlassMetrics> multiclass_levels(Pipeline& pipeline, const InferenceResult& result, const BootstrapOptions& bootstrap) {
  std::vector<MulticlassMetrics> levels;
  for (auto& chain : pipeline.chains()) {
    if (!chain.multiclass()) continue;
    std::vector<ClassifiedCase> image_level, study_level;
    std::map<std::string, std::map<int, std::size_t>> study_labels;
    for (const auto& image : result.images) {
      if (image.chain != chain.name || image.class_probabilities.size() != chain.classes.size()) continue;
      const auto target = chain.target_of(image.info);
      if (!target) continue;
      image_level.push_back({*target, image.predicted_class});
      ++study_labels[image.info.study_key()][*target];
    }
    if (image_level.empty()) continue;
    for (const auto& study : result.studies) {
      auto found = study_labels.find(study.study_id);
      if (study.chain != chain.name || study.class_probabilities.empty() || found == study_labels.end()) continue;
      const auto most = std::max_element(found->second.begin(), found->second.end(),
                                         [](const auto& a, const auto& b) { return a.second < b.second; });
      study_level.push_back({most->first, study.predicted});
    }
    for (auto [level, cases] : {std::pair{"image", &image_level}, std::pair{"study", &study_level}}) {
      levels.push_back(multiclass_metrics(level, *cases, chain.classes, bootstrap));
      levels.back().chain = chain.name;
    }
  }
  return levels;
}

void print_multiclass_summary(const MulticlassMetrics& metrics) {
  auto value = [](double x) { return std::isfinite(x) ? fmt::format("{:.3f}", x) : std::string("-"); };
  std::cout << fmt::format("chain '{}', {} level, {} classes, {} cases: accuracy {}, macro F1 {}\n", metrics.chain, metrics.level,
                           metrics.classes.size(), metrics.cases, value(metrics.accuracy), value(metrics.macro_f1));
  std::cout << fmt::format("  {:<16} {:>7} {:>9} {:>7} {:>7}\n", "class", "support", "precision", "recall", "F1");
  for (const auto& item : metrics.classes)
    std::cout << fmt::format("  {:<16} {:>7} {:>9} {:>7} {:>7}\n", item.name, item.support, value(item.precision),
                             value(item.recall), value(item.f1));
}

} // namespace

int evaluate_pipeline(const GlobalOptions& global, const EvaluateOptions& options, EvaluationOutcome* outcome) {
  PluginHost plugins;
  load_plugins(plugins, global);
  auto config = validate_or_report(options.pipeline, plugins, global.overrides);
  if (!config) return exit_invalid;
  prepare_output_folder(options.out_dir, "--out");
  const Params& settings = config->evaluate;
  const std::string split = options.split.empty() ? settings.string("split") : options.split;

  BuildOptions build;
  build.threads = global.threads;
  build.device_override = options.device;
  build.checkpoint = options.checkpoint;
  build.member_checkpoints = options.member_checkpoints;
  build.selected_weights = options.selected_weights;
  build.sample_filter = options.sample_filter;
  Pipeline pipeline(*config, plugins, build);
  const int threads = resolve_threads(
      global.threads > 0 ? global.threads : static_cast<int>(config->settings.integer("threads")));
  torch::set_num_threads(threads);
  const bool binary_chains_only = std::none_of(pipeline.chains().begin(), pipeline.chains().end(),
                                               [](const Chain& chain) { return chain.multiclass(); });
  if (binary_chains_only) {
    // The metrics are binary: labels are checked on the listing, before any image is scored. With
    // multi-class chains, a label is a class index, checked against each chain's classes.
    Built<Reader> listing = pipeline.make_reader();
    while (auto info = call_plugin(listing.entry, [&] { return listing.stage->next(); }))
      if (info->split == split || info->split == settings.string("threshold_split")) require_binary_label(*info);
  }

  InferenceResult result = run_inference(pipeline, {split, options.limit});
  const auto images = image_cases(binary_images(result.images));
  const bool multiclass_chains = std::any_of(result.images.begin(), result.images.end(),
                                             [](const ImagePrediction& image) { return !image.class_probabilities.empty(); });
  if (images.empty() && !multiclass_chains) {
    spdlog::error(
        "{}: no labelled image {} split '{}' ({} scored, {} skipped); evaluation needs labels: check the "
        "reader's "
        "label and split columns, or pass --split",
        options.pipeline.string(), result.images.empty() ? "in" : "with a label in", split,
        result.images.size(), result.skipped.size());
    return exit_invalid;
  }
  if (!multiclass_chains && images.size() < result.images.size())
    spdlog::warn("{} of {} images have no label and are left out of the metrics",
                 result.images.size() - images.size(), result.images.size());

  // Abnormal-against-normal levels for the images of binary chains; multi-class chains get theirs below.
  const bool binary_levels = !images.empty();
  std::vector<StudyPrediction> patients = aggregate_patients(result.images, pipeline);

  // The operating point: the pipeline's, or tuned on the threshold split (each level apart).
  const std::string method = binary_levels ? settings.string("threshold_method") : std::string("fixed");
  const std::string threshold_split = settings.string("threshold_split");
  double image_threshold = config->threshold, study_threshold = config->threshold, patient_threshold = config->threshold;
  if (method != "fixed") {
    InferenceResult tuning_run;
    const InferenceResult* tuning = &result;
    if (threshold_split != split) {
      pipeline.reader() = pipeline.make_reader(); // the first pass used up the reader
      tuning_run = run_inference(pipeline, {threshold_split, options.limit});
      tuning = &tuning_run;
    }
    image_threshold =
        choose_or_explain(method, image_cases(binary_images(tuning->images)), *config, "image", threshold_split);
    study_threshold =
        choose_or_explain(method, study_cases(binary_studies(tuning->studies)), *config, "study", threshold_split);
    if (!patients.empty())
      patient_threshold =
          choose_or_explain(method, study_cases(aggregate_patients(tuning->images, pipeline)), *config, "patient", threshold_split);
    spdlog::info("threshold ({} on split '{}'): image level {:.4f}, study level {:.4f}{}", method, threshold_split, image_threshold,
                 study_threshold, patients.empty() ? std::string() : fmt::format(", patient level {:.4f}", patient_threshold));
  }
  for (auto& study : result.studies)
    if (study.class_probabilities.empty()) study.predicted = study.probability >= study_threshold ? 1 : 0;
  for (auto& patient : patients) patient.predicted = patient.probability >= patient_threshold ? 1 : 0;

  BootstrapOptions bootstrap;
  bootstrap.resamples = static_cast<std::size_t>(settings.integer("bootstrap_resamples"));
  bootstrap.seed = static_cast<std::uint64_t>(settings.has("seed") ? settings.integer("seed")
                                                                   : config->settings.integer("seed"));
  bootstrap.level = settings.real("confidence_level");
  const auto start = std::chrono::steady_clock::now();
  std::vector<LevelMetrics> levels;
  if (binary_levels) {
    levels.push_back(level_metrics("study", study_cases(binary_studies(result.studies)), study_threshold, bootstrap));
    const auto patient_cases = study_cases(patients);
    if (!patient_cases.empty()) levels.push_back(level_metrics("patient", patient_cases, patient_threshold, bootstrap));
    levels.push_back(level_metrics("image", images, image_threshold, bootstrap));
  }
  std::vector<MulticlassMetrics> multiclass = multiclass_levels(pipeline, result, bootstrap);
  spdlog::debug("metrics and {} bootstrap resamples per group in {:.2f} s", bootstrap.resamples,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());

  const fs::path& out = options.out_dir;
  write_inference_outputs(result, *config, image_threshold, out);
  if (!patients.empty()) write_patients(patients, out / "patients.csv");

  const fs::path reference_file = !options.reference.empty()  ? options.reference
                                  : settings.has("reference") ? settings.path("reference")
                                                              : fs::path();
  std::vector<ReferenceRow> reference;
  if (!reference_file.empty()) reference = read_reference(reference_file);

  nlohmann::json metrics{
      {"radpipe_version", RADPIPE_SDK_VERSION_STRING},
      {"pipeline", config->file.string()},
      {"pipeline_name", config->settings.string("name")},
      {"overrides", config->overrides},
      {"checkpoint", options.checkpoint.string()},
      {"member_checkpoints", paths_json(options.member_checkpoints)},
      {"selected_weights", options.selected_weights},
      {"weights", weight_files_json(pipeline)},
      {"split", split},
      {"images", result.images.size()},
      {"studies", result.studies.size()},
      {"patients", patients.size()},
      {"skipped", result.skipped.size()},
      {"threshold", {{"method", method}, {"chosen_on", method == "fixed" ? "" : threshold_split}}},
      {"bootstrap",
       {{"resamples", bootstrap.resamples}, {"seed", bootstrap.seed}, {"level", bootstrap.level}}},
      {"levels", nlohmann::json::object()}};
  if (method == "sensitivity")
    metrics["threshold"]["target_sensitivity"] = settings.real("target_sensitivity");
  for (const auto& level : levels) metrics["levels"][level.level] = to_json(level);
  for (const auto& level : multiclass) metrics["multiclass"][level.chain][level.level] = to_json(level);
  if (!reference.empty() && !levels.empty()) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& row : compare_with_reference(levels.front(), reference)) {
      nlohmann::json published = nlohmann::json::object();
      for (const auto* item : row.published)
        published[item->reader] = {{"kappa", item->kappa}, {"ci", {item->ci.low, item->ci.high}}};
      rows.push_back({{"study_type", row.study_type},
                      {"kappa", row.kappa},
                      {"kappa_ci", {row.kappa_ci.low, row.kappa_ci.high}},
                      {"published", published}});
    }
    metrics["reference"] = {{"file", reference_file.string()}, {"study_types", rows}};
  }
  write_file_atomically(out / "metrics.json",
                        [&](std::ostream& stream) { stream << metrics.dump(2) << '\n'; });

  // MURA's submission format: one "study path,label" row per study, no header.
  const bool mura = !result.studies.empty() &&
                    std::all_of(result.studies.begin(), result.studies.end(),
                                [](const StudyPrediction& s) { return is_mura_study_path(s.study_id); });
  if (mura) write_collected(plugins, *config, "mura_submission", {}, result.studies, out);

  ReportInput report;
  report.pipeline_name = config->settings.string("name");
  report.pipeline_file = config->file;
  report.overrides = config->overrides;
  report.split = split;
  report.threshold_method = method;
  report.threshold_split = threshold_split;
  report.bootstrap = bootstrap;
  report.images = result.images.size();
  report.studies = result.studies.size();
  report.patients = patients.size();
  report.skipped = result.skipped.size();
  report.levels = levels;
  report.multiclass = multiclass;
  report.reference = reference;
  report.reference_file = reference_file;
  report.training_history = find_training_history(options.checkpoint, *config);
  if (pipeline.explainer() != nullptr && settings.integer("explain_per_group") > 0 && binary_levels)
    report.explanations = explain_for_report(pipeline, result.images, image_threshold,
                                             static_cast<std::size_t>(settings.integer("explain_per_group")), out);
  write_report(report, out);

  if (options.print_summary) {
    for (const auto& level : levels) print_summary(level);
    for (const auto& level : multiclass) print_multiclass_summary(level);
  }
  spdlog::info("{} images, {} studies{} of split '{}'; wrote {}{}", result.images.size(), result.studies.size(),
               patients.empty() ? std::string() : fmt::format(", {} patients", patients.size()), split,
               (out / "report.html").string(), mura ? " and mura-submission.csv" : "");
  if (outcome != nullptr) {
    outcome->images = std::move(result.images);
    outcome->studies = std::move(result.studies);
    outcome->patients = std::move(patients);
    outcome->image_threshold = image_threshold;
    outcome->study_threshold = study_threshold;
    outcome->patient_threshold = patient_threshold;
    outcome->levels = std::move(levels);
    outcome->multiclass = std::move(multiclass);
  }
  return exit_ok;
}

int command_evaluate(const GlobalOptions& global, const EvaluateOptions& options) {
  return evaluate_pipeline(global, options, nullptr);
}

} // namespace radpipe::host
