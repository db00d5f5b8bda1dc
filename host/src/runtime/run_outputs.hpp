// Where predict's results go while a run streams: the [[output]] writers, the run's ledger and
// run.json. One design for output transactions, shared by every command that streams results:
//
// - Each image is handed to every writer as soon as it is scored (in input order); each study
//   when its last image is. With a reader that lists studies together, that is when the next study
//   starts; otherwise open studies are held (their images' probabilities only) until the end. An
//   image without a study id is a study of one, written at once.
// - Once `commit_every` images (a batch) and `commit_interval` have passed since the last commit,
//   the writers commit (whole lines, flushed), then the ledger does, then run.json is rewritten
//   atomically with the size of every file. run.json is the record of what is committed: what lies
//   beyond those sizes after a kill is cut off by --resume. The interval bounds what a kill loses
//   to about a second of work, while a fast run (thousands of images a second) does not pay three
//   fsyncs every batch, which on a cluster's network file system would cap it.
// - The ledger (ledger.jsonl) holds one line per committed image (id, study, probabilities) and
//   one per written study: a resume skips the ids it holds and finishes the studies a kill cut in
//   two from the probabilities it holds.
#pragma once

#include "loader/plugin_host.hpp"
#include "runtime/inference.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/shard.hpp"

#include <nlohmann/json.hpp>
#include <radpipe/output_file.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace radpipe::host {

struct OutputOptions {
  std::filesystem::path out_dir;
  bool resume = false;
  std::size_t commit_every = 16;                      // images between commits: at least once per batch
  std::chrono::duration<double> commit_interval{1.0}; // and at least this long; 0: every batch
  Shard shard;
  std::vector<std::string> inputs; // --input paths, recorded in run.json
};

class RunOutputs {
public:
  static constexpr const char* ledger_name = "ledger.jsonl";

  // Builds the writers ([[output]], or `csv` when the pipeline has none) and opens them; with
  // resume, reads run.json and the ledger first. Throws std::runtime_error when the folder holds
  // another run (a different pipeline or shard) or run.json is missing on resume.
  RunOutputs(Pipeline& pipeline, const PluginHost& plugins, OutputOptions options);
  ~RunOutputs();
  RunOutputs(const RunOutputs&) = delete;
  RunOutputs& operator=(const RunOutputs&) = delete;

  // True when a resumed run's ledger already holds this image.
  bool committed(const std::string& id) const { return committed_ids_.count(id) > 0; }
  std::size_t images_before() const { return images_before_; }
  // The [[output]] tables whose writers draw heatmaps (Writer::wants_heatmaps).
  const std::vector<const StageConfig*>& heatmap_outputs() const { return heatmap_outputs_; }

  void add(ImagePrediction&& image);
  // Ends the run. status "complete" writes every open study; "interrupted" and "failed" leave
  // open studies to a resume. Closes the writers and writes the last run.json.
  void finish(const InferenceSummary& summary, const std::string& status);

  std::size_t images() const { return images_before_ + images_; }
  std::size_t studies() const { return studies_before_ + studies_; }
  std::size_t open_studies() const { return open_.size(); }

private:
  // may_come_back: whether the key must be remembered, to catch a listing that breaks the reader's
  // promise to list studies together.
  void finish_study(const std::string& key, bool may_come_back = true);
  void commit(const std::string& status);
  void write_run_json(const std::string& status);
  void read_previous_run();

  Pipeline& pipeline_;
  OutputOptions options_;
  bool studies_together_ = false;
  std::vector<Built<Writer>> writers_;
  std::vector<const StageConfig*> heatmap_outputs_;
  std::optional<OutputFile> ledger_;
  std::map<std::string, std::uint64_t> committed_bytes_; // previous run's, for resume
  std::unordered_set<std::string> committed_ids_;        // previous run's images
  std::unordered_map<std::string, std::pair<std::uint64_t, StudyAccumulator>> open_; // by study: first-seen number, images
  std::uint64_t next_sequence_ = 0;
  std::unordered_set<std::uint64_t> finished_; // hashes of written studies, with studies_together_: 8 bytes a study
  std::map<std::string, std::uint64_t> files_; // as last committed
  std::string last_study_;
  std::size_t images_ = 0, studies_ = 0, since_commit_ = 0;
  std::size_t images_before_ = 0, studies_before_ = 0, skipped_before_ = 0;
  std::map<std::string, std::size_t> chain_images_;
  const InferenceSummary* summary_ = nullptr;
  nlohmann::json stages_; // what served each stage (stage_provenance), for run.json
  bool closed_ = false;
  std::chrono::steady_clock::time_point start_;
  // None yet: the first batch commits at once.
  std::optional<std::chrono::steady_clock::time_point> last_commit_;
  double seconds_before_ = 0.0;
};

// Runs the writer stage `writer` with its default parameters over results already collected
// (evaluate's mura-submission.csv). Throws std::runtime_error when no plugin provides it.
void write_collected(const PluginHost& plugins, const PipelineConfig& config, const std::string& writer,
                     std::span<const ImagePrediction> images, std::span<const StudyPrediction> studies,
                     const std::filesystem::path& out_dir);

} // namespace radpipe::host
