#include "runtime/run_outputs.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <radpipe/version.hpp>
#include <stdexcept>

#include "io/atomic_file.hpp"
#include "runtime/stage_provenance.hpp"

namespace radpipe::host {
namespace fs = std::filesystem;
namespace {

Params schema_defaults(const Schema& schema) {
  Params params;
  for (const auto& spec : schema.specs())
    if (spec.default_value) params.set(spec.name, *spec.default_value);
  return params;
}

std::string json_line(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A writer stage with its schema's defaults, as if an [[output]] table named only its stage.
StageConfig default_writer(const PluginHost& plugins, const PipelineConfig& config, const std::string& name) {
  auto entry = plugins.find(StageKind::Writer, name);
  if (!entry) throw std::runtime_error("the writer '" + name + "' is not loaded (plugin 'writers')");
  StageConfig stage;
  stage.table = "output";
  stage.entry = *entry;
  stage.params = schema_defaults(entry->stage->schema);
  stage.where = {config.file.string(), 1, 1};
  return stage;
}

} // namespace

void write_collected(const PluginHost& plugins, const PipelineConfig& config, const std::string& writer,
                     std::span<const ImagePrediction> images, std::span<const StudyPrediction> studies,
                     const fs::path& out_dir) {
  const StageConfig stage = default_writer(plugins, config, writer);
  Built<Writer> built{stage.entry,
                      create_configured<Writer>(plugins, stage, stage_context(config, stage, 1))};
  call_plugin(built.entry, [&] {
    built.stage->open(WriterRun{out_dir, false, {}, config.route.has_value()});
    for (const auto& image : images) built.stage->write_image(image);
    for (const auto& study : studies) built.stage->write_study(study);
    built.stage->close();
  });
}

RunOutputs::RunOutputs(Pipeline& pipeline, const PluginHost& plugins, OutputOptions options)
    : pipeline_(pipeline), options_(std::move(options)), start_(std::chrono::steady_clock::now()) {
  const PipelineConfig& config = pipeline.config();
  stages_ = stage_provenance(config); // hashes each plugin file once, not at every commit
  fs::create_directories(options_.out_dir);
  if (options_.resume) read_previous_run();
  // A fresh run first withdraws the old record, then truncates the files it vouched for: a kill in
  // between never leaves a run.json naming bytes that are gone.
  else remove_all_durably(options_.out_dir / "run.json");
  studies_together_ =
      call_plugin(pipeline.reader().entry, [&] { return pipeline.reader().stage->lists_studies_together(); });

  std::vector<StageConfig> outputs = config.outputs;
  if (outputs.empty()) outputs.push_back(default_writer(plugins, config, "csv"));
  WriterRun run{options_.out_dir, options_.resume, committed_bytes_, config.route.has_value()};
  for (const auto& stage : outputs) {
    Built<Writer> writer{stage.entry,
                         create_configured<Writer>(plugins, stage, stage_context(config, stage, 1))};
    if (call_plugin(writer.entry, [&] { return writer.stage->wants_heatmaps(); }))
      for (const auto& configured : config.outputs)
        if (configured.table == stage.table) heatmap_outputs_.push_back(&configured);
    call_plugin(writer.entry, [&] { writer.stage->open(run); });
    writers_.push_back(std::move(writer));
  }
  ledger_.emplace(run, ledger_name);
  commit("running");
  last_commit_.reset(); // that commit only says a run began: the first batch still commits at once
}

RunOutputs::~RunOutputs() {
  if (closed_) return;
  try { // an exception ends the run: keep what is committed, record that it failed
    InferenceSummary none;
    summary_ = &none;
    for (auto& writer : writers_) call_plugin(writer.entry, [&] { writer.stage->close(); });
    ledger_->close();
    closed_ = true;
    write_run_json("failed");
  } catch (const std::exception& error) {
    spdlog::error("closing the outputs after a failure: {}", error.what());
  }
}

void RunOutputs::read_previous_run() {
  const fs::path run_file = options_.out_dir / "run.json";
  std::ifstream in(run_file);
  if (!in)
    throw std::runtime_error("--resume: " + run_file.string() +
                             " is missing: nothing to resume (run without --resume)");
  nlohmann::json previous;
  try {
    previous = nlohmann::json::parse(in);
  } catch (const std::exception& error) {
    throw std::runtime_error("--resume: " + run_file.string() + " is not valid JSON: " + error.what());
  }
  const auto& config = pipeline_.config();
  if (previous.value("pipeline_name", "") != config.settings.string("name"))
    throw std::runtime_error("--resume: " + run_file.string() + " records pipeline '" +
                             previous.value("pipeline_name", "") + "', not '" +
                             config.settings.string("name") + "'");
  if (previous.value("shard", std::string("0/1")) != options_.shard.text())
    throw std::runtime_error("--resume: " + run_file.string() + " records shard " +
                             previous.value("shard", std::string("0/1")) + ", not " + options_.shard.text());
  committed_bytes_ = previous.at("files").get<std::map<std::string, std::uint64_t>>();
  images_before_ = previous.value("images", std::size_t{0});
  studies_before_ = previous.value("studies", std::size_t{0});
  skipped_before_ = previous.value("skipped_total", std::size_t{0});
  seconds_before_ = previous.value("seconds", 0.0);
  chain_images_ = previous.value("chains", std::map<std::string, std::size_t>{});

  // The ledger up to its committed size: the images done, and which of their studies are written.
  std::ifstream ledger(options_.out_dir / ledger_name, std::ios::binary);
  std::uint64_t left = committed_bytes_.count(ledger_name) ? committed_bytes_[ledger_name] : 0;
  std::string line;
  while (left > 0 && std::getline(ledger, line)) {
    left -= std::min<std::uint64_t>(left, line.size() + 1);
    const auto entry = nlohmann::json::parse(line);
    if (entry.contains("study_done")) {
      open_.erase(entry["study_done"].get<std::string>());
      finished_.insert(stable_hash(entry["study_done"].get<std::string>()));
      continue;
    }
    ImagePrediction image;
    image.info.id = entry.at("id").get<std::string>();
    image.info.study_id = entry.at("study").get<std::string>();
    image.info.patient_id = entry.value("patient_id", "");
    image.info.body_part = entry.value("body_part", "");
    if (entry.contains("label") && !entry["label"].is_null()) image.info.label = entry["label"].get<int>();
    image.chain = entry.at("chain").get<std::string>();
    image.probability = entry.at("probability").get<double>();
    image.class_probabilities = entry.value("class_probabilities", std::vector<double>{});
    committed_ids_.insert(image.info.id);
    auto& open = open_[image.info.study_id];
    if (open.second.study.image_count == 0) open.first = next_sequence_++;
    open.second.add(image);
    last_study_ = image.info.study_id;
  }
  spdlog::info("resuming: {} images and {} studies committed, {} studies open", images_before_,
               studies_before_, open_.size());
}

void RunOutputs::add(ImagePrediction&& image) {
  const Chain* chain = pipeline_.chain(image.chain);
  if (image.class_probabilities.empty() && chain != nullptr)
    image.predicted_class = image.probability >= chain->config->threshold ? 1 : 0;
  const std::string key = image.info.study_key();
  if (studies_together_ && key != last_study_ && finished_.count(stable_hash(key)))
    throw std::runtime_error("study " + key +
                             " comes back in the listing after its last image, but the reader says it lists "
                             "studies together: its study row is already written");
  if (studies_together_ && key != last_study_ && !open_.empty()) {
    std::vector<std::string> done;
    for (const auto& [open_key, open] : open_)
      if (open_key != key) done.push_back(open_key);
    for (const auto& done_key : done) finish_study(done_key);
  }
  for (auto& writer : writers_) call_plugin(writer.entry, [&] { writer.stage->write_image(image); });
  nlohmann::json entry{{"id", image.info.id},
                       {"study", key},
                       {"patient_id", image.info.patient_id},
                       {"body_part", image.info.body_part},
                       {"chain", image.chain},
                       {"probability", image.probability}};
  if (image.info.label) entry["label"] = *image.info.label;
  if (!image.class_probabilities.empty()) entry["class_probabilities"] = image.class_probabilities;
  ledger_->write_line(json_line(entry));
  auto& open = open_[key];
  if (open.second.study.image_count == 0) open.first = next_sequence_++;
  open.second.add(image);
  last_study_ = key;
  ++images_;
  ++chain_images_[image.chain];
  // An image without a study id is a study of one, so it is written now, whatever the reader says
  // of its order: a listing without studies (a CSV without study_column, class folders) then holds
  // nothing per image, however many millions it lists. Ids are unique, so nothing is remembered.
  if (image.info.study_id.empty()) finish_study(key, /*may_come_back=*/false);
  if (++since_commit_ >= options_.commit_every &&
      (!last_commit_ || std::chrono::steady_clock::now() - *last_commit_ >= options_.commit_interval))
    commit("running");
}

void RunOutputs::finish_study(const std::string& key, bool may_come_back) {
  auto found = open_.find(key);
  StudyPrediction study = found->second.second.finish(pipeline_);
  open_.erase(found);
  if (studies_together_ && may_come_back) finished_.insert(stable_hash(key));
  for (auto& writer : writers_) call_plugin(writer.entry, [&] { writer.stage->write_study(study); });
  ledger_->write_line(json_line({{"study_done", key}}));
  ++studies_;
}

void RunOutputs::commit(const std::string& status) {
  files_.clear();
  for (auto& writer : writers_)
    for (auto& file : call_plugin(writer.entry, [&] { return writer.stage->commit(); })) {
      if (file.name == ledger_name || !files_.emplace(file.name, file.bytes).second)
        throw std::runtime_error("two [[output]] writers write " + file.name +
                                 ": give one of them another file name");
    }
  const CommittedFile ledger = ledger_->commit();
  files_[ledger.name] = ledger.bytes;
  since_commit_ = 0;
  last_commit_ = std::chrono::steady_clock::now();
  write_run_json(status);
}

void RunOutputs::finish(const InferenceSummary& summary, const std::string& status) {
  summary_ = &summary;
  if (status == "complete") {
    std::vector<std::pair<std::uint64_t, std::string>> order; // first seen first
    for (const auto& [key, open] : open_) order.emplace_back(open.first, key);
    std::sort(order.begin(), order.end());
    for (const auto& [sequence, key] : order) finish_study(key);
  }
  commit(status);
  for (auto& writer : writers_) call_plugin(writer.entry, [&] { writer.stage->close(); });
  ledger_->close();
  closed_ = true;
  write_run_json(status);
}

void RunOutputs::write_run_json(const std::string& status) {
  const auto& config = pipeline_.config();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  nlohmann::json run;
  run["radpipe_version"] = RADPIPE_SDK_VERSION_STRING;
  run["pipeline"] = config.file.string();
  run["pipeline_name"] = config.settings.string("name");
  run["overrides"] = config.overrides; // the --set texts applied to the file, in order
  run["status"] = status; // running, complete, interrupted, failed
  run["shard"] = options_.shard.text();
  run["inputs"] = options_.inputs;
  run["images"] = images();
  run["studies"] = studies();
  run["open_studies"] = open_.size();
  run["threshold"] = config.threshold;
  run["seconds"] = seconds_before_ + seconds;
  run["images_per_second"] = seconds > 0 ? static_cast<double>(images_) / seconds : 0.0;
  run["chains"] = chain_images_;
  run["files"] = files_;
  run["stages"] = stages_;
  std::size_t skipped = 0;
  run["skipped"] = nlohmann::json::array();
  if (summary_ != nullptr) {
    skipped = summary_->skipped.size();
    for (const auto& skip : summary_->skipped)
      run["skipped"].push_back({{"path", skip.path}, {"reason", skip.reason}});
  }
  run["skipped_total"] = skipped_before_ + skipped;
  write_file_atomically(options_.out_dir / "run.json",
                        [&](std::ostream& out) { out << run.dump(2) << '\n'; });
}

} // namespace radpipe::host
