// radpipe SDK: the stage interfaces that do not need LibTorch. Models and explainers, which do,
// are in model.hpp. A stage object is created by its plugin's factory from validated Params and
// lives as long as the pipeline that uses it.
#pragma once

#include <radpipe/sample.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace radpipe {

enum class StageKind { Reader, Transform, Model, Router, Aggregator, Explainer, Writer };

// "reader", "transform", "model", "router", "aggregator", "explainer", "writer".
std::string_view to_string(StageKind kind);
std::optional<StageKind> stage_kind_from_string(std::string_view text);

enum class LogLevel { Debug, Info, Warning, Error };
using LogFunction = std::function<void(LogLevel, const std::string&)>;

// What the host tells a stage about the run it is built for.
struct StageContext {
  std::filesystem::path pipeline_dir; // folder of the pipeline file; relative paths resolve here
  std::string plugin_name;
  std::string stage_name;
  int threads = 1;         // intra-op threads the stage may use
  std::uint64_t seed = 0;  // the pipeline's seed, for stages with randomness
  LogFunction log;         // goes to the host's log; never print to stdout from a stage
  // True when the host loads learned weights (a `radpipe train` checkpoint) into a model stage
  // right after building it: the stage should skip loading the initial weights it names.
  bool checkpoint_follows = false;

  void debug(const std::string& message) const;
  void info(const std::string& message) const;
  void warn(const std::string& message) const;
};

// Base of every stage. Its out-of-line destructor lives in the SDK library so that the type
// information of all interfaces is unique across plugin libraries.
class Stage {
public:
  virtual ~Stage();
  Stage() = default;
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;
};

// Lists a dataset lazily and decodes its entries. `next` is called from one thread; `load` may
// be called from several worker threads at once and must not touch mutable shared state.
class Reader : public Stage {
public:
  static constexpr StageKind kind = StageKind::Reader;
  ~Reader() override;

  // The next entry, or nullopt at the end. Cheap: no pixels are decoded here.
  virtual std::optional<SampleInfo> next() = 0;
  // Decodes the entry's pixels. Throws SampleError for a file that cannot be read.
  virtual Sample load(const SampleInfo& info) const = 0;
  // The number of entries when known without decoding (for progress), else nullopt.
  virtual std::optional<std::size_t> size_hint() const { return std::nullopt; }
  // True when every study's images come one after another in the listing (MURA, DICOM study
  // folders). Writers then get each study as soon as its last image is scored; otherwise the host
  // holds every open study's image probabilities until the end of the run.
  virtual bool lists_studies_together() const { return false; }
};

enum class RunMode { Train, Evaluate, Predict };

struct TransformContext {
  RunMode mode = RunMode::Predict;
  std::uint64_t seed = 0;  // the pipeline's seed
  std::uint64_t epoch = 0; // random transforms mix seed, epoch and sample index
};

// Changes one sample in place (pixels and, rarely, metadata). `apply` is const and must be safe
// to call from several threads at once.
class Transform : public Stage {
public:
  static constexpr StageKind kind = StageKind::Transform;
  ~Transform() override;

  virtual void apply(Sample& sample, const TransformContext& context) const = 0;
  // Random transforms (augmentation) run only in training unless a pipeline asks otherwise.
  virtual bool is_random() const { return false; }

  // Transforms with learned state (dataset standardisation) fit on the training split in one
  // streaming pass, then keep their state in a file stored with the model checkpoint.
  virtual bool needs_fit() const { return false; }
  virtual void fit_begin() {}
  virtual void fit_add(const Sample& /*sample*/) {}
  virtual void fit_end() {}
  virtual void save_state(const std::filesystem::path& /*file*/) const {}
  virtual void load_state(const std::filesystem::path& /*file*/) {}
};

// What a router sees of one study: the metadata of each of its images and, when the pipeline's
// [route] table names a chain to consult, that chain's class probabilities for each image.
struct StudyToRoute {
  std::span<const SampleInfo> images;
  std::span<const std::vector<double>> consulted_probabilities; // [image][class]; empty without `consult`
  std::span<const std::string> consulted_classes;               // the consulted chain's class names
};

struct RouteDecision {
  // The value that picks a chain: the chain whose name or `match` list holds it (compared without
  // regard to case). Empty: the router has no value for this study.
  std::string value;
  double confidence = 1.0; // in [0, 1]; written to the predictions
  bool confident = true;   // false: the study goes to the [route] fallback chain
};

// Chooses the model chain for a whole study, so that all of a study's images meet one chain.
// `route` may be called from one thread at a time; it must not keep the study.
class Router : public Stage {
public:
  static constexpr StageKind kind = StageKind::Router;
  ~Router() override;

  virtual RouteDecision route(const StudyToRoute& study) const = 0;
};

// The value of a sample field by name: id, path, patient_id, study_id, body_part, view, split,
// label, or else a key of `tags` (a DICOM keyword such as BodyPartExamined, a CSV column).
// nullopt when the sample has no such field or an empty one.
std::optional<std::string> field_value(const SampleInfo& info, std::string_view name);

// Turns the probabilities of a study's images into one study probability.
class Aggregator : public Stage {
public:
  static constexpr StageKind kind = StageKind::Aggregator;
  ~Aggregator() override;

  virtual double aggregate(std::span<const double> image_probabilities) const = 0;
};

struct ImagePrediction {
  SampleInfo info;
  double probability = 0.0; // of the positive (abnormal) class; of the predicted class for k > 2
  std::string chain;        // the model chain that scored it ("default" or a route name)
  std::vector<double> class_probabilities; // softmax over a multi-class chain's classes; empty for binary
  int predicted_class = 0;                 // argmax of class_probabilities (binary: 0 or 1 at the threshold)
  std::string routed_value;  // what the router decided on (a body part, a class name); empty without router
  double route_confidence = 1.0;
};

struct StudyPrediction {
  std::string study_id;
  std::string patient_id;
  std::string body_part;
  std::size_t image_count = 0;
  double probability = 0.0;
  int predicted = 0;        // 0 or 1 at the threshold; the class index for multi-class chains
  std::optional<int> label;
  std::string chain;        // the chain that scored the study's images
  std::vector<double> class_probabilities; // multi-class chains: the aggregated class probabilities
};

// What the host tells a writer when a run opens.
struct WriterRun {
  std::filesystem::path out_dir; // the run's --out folder; every file a writer makes stays inside it
  // True for `predict --resume`: append to the files a killed or stopped run left. The host sends
  // only what those files do not hold yet.
  bool resume = false;
  // With resume: the size in bytes of each of this writer's files (by name relative to out_dir)
  // that the last run committed, as run.json records it. Whatever lies beyond (a partial line, or
  // whole lines written after the last commit) is cut off before appending.
  std::map<std::string, std::uint64_t> committed_bytes;
  bool routed = false; // the pipeline has a [route]: images carry routed_value and route_confidence
};

// A file as it stands after a commit: name relative to out_dir, and its size in bytes.
struct CommittedFile {
  std::string name;
  std::uint64_t bytes = 0;
};

// Writes a run's results as they are produced. The host calls, from one thread:
//   open(run), then write_image / write_study in any interleaving, commit() at least once per
//   batch of images, after each study and before close(), then close().
// A study arrives after all of its images. Between commits a writer may buffer; after commit()
// returns, its files hold whole lines only, flushed to the operating system, and the sizes it
// returns are what the host records in run.json as committed (OutputFile does all of that).
// A writer never holds a whole run in memory.
class Writer : public Stage {
public:
  static constexpr StageKind kind = StageKind::Writer;
  ~Writer() override;

  virtual void open(const WriterRun& run) = 0;
  virtual void write_image(const ImagePrediction& image) = 0;
  virtual void write_study(const StudyPrediction& study) = 0;
  virtual std::vector<CommittedFile> commit() = 0;
  // Commits and closes the files. Also called when a run ends early (SIGINT, SIGTERM, errors).
  virtual void close() = 0;
};

} // namespace radpipe
