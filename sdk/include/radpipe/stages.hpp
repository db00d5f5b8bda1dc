/// @file
/// @brief The stage interfaces that do not need LibTorch (models and explainers, which do, are in
/// model.hpp).
///
/// A stage object is created by its plugin's factory from validated Params and lives as long as
/// the pipeline that uses it. Threads: **unless its documentation says otherwise, a `const` method
/// may be called on several threads at once, on the same object; a non-const method is never
/// called concurrently on one object.** Each method's documentation says where it is called from.
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

/// The interface a stage implements; a plugin may register stages of several kinds.
enum class StageKind {
  Reader,     ///< Lists a dataset and decodes its images.
  Transform,  ///< Changes one sample (preprocessing, augmentation).
  Model,      ///< Scores batches (LibTorch; model.hpp).
  Router,     ///< Chooses the model chain of a study.
  Aggregator, ///< Turns a study's image probabilities into one.
  Explainer,  ///< Heatmaps of where a model looked (model.hpp).
  Writer      ///< Writes a run's results.
};

/// "reader", "transform", "model", "router", "aggregator", "explainer", "writer".
std::string_view to_string(StageKind kind);
/// The kind named by to_string's text, or nullopt.
std::optional<StageKind> stage_kind_from_string(std::string_view text);

/// The severity of a message a stage logs through StageContext::log.
enum class LogLevel {
  Debug,   ///< Shown with `radpipe -vv`.
  Info,    ///< Shown unless `-q`.
  Warning, ///< Always shown.
  Error    ///< Always shown.
};
/// Where a stage's log messages go: the host's log on stderr.
using LogFunction = std::function<void(LogLevel, const std::string&)>;

/// What the host tells a stage about the run it is built for.
struct StageContext {
  std::filesystem::path pipeline_dir; ///< Folder of the pipeline file; relative paths resolve here.
  std::string plugin_name;            ///< The plugin the stage comes from.
  std::string stage_name;             ///< The stage's registered name.
  int threads = 1;                    ///< Intra-op threads the stage may use.
  std::uint64_t seed = 0;             ///< The pipeline's seed, for stages with randomness.
  LogFunction log;                    ///< Goes to the host's log; never print to stdout from a stage.
  /// True when the host loads learned weights (a `radpipe train` checkpoint) into a model stage
  /// right after building it: the stage should skip loading the initial weights it names.
  bool checkpoint_follows = false;

  /// Logs `message` at LogLevel::Debug (nothing when `log` is empty).
  void debug(const std::string& message) const;
  /// Logs `message` at LogLevel::Info.
  void info(const std::string& message) const;
  /// Logs `message` at LogLevel::Warning.
  void warn(const std::string& message) const;
};

/// Base of every stage. Its out-of-line destructor lives in the SDK library so that the type
/// information of all interfaces is unique across plugin libraries.
class Stage {
public:
  /// Runs in the plugin's code while its library is still loaded.
  virtual ~Stage();
  /// Stages are made by their factory only.
  Stage() = default;
  Stage(const Stage&) = delete;            ///< Stages are not copied.
  Stage& operator=(const Stage&) = delete; ///< Stages are not copied.
};

/// What the first steps of a chain need of the decoded pixels, so that a reader can decode straight
/// to it: grey from a colour file, a JPEG at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT-domain
/// scaling, several times faster than a full decode), 8 bits from a 16-bit file. The host builds
/// it from the [[preprocess]] chain (Transform::refine_decode_hint) and hands it to
/// Reader::load_hinted. Following it is optional: the steps that declared the need give the same
/// result from a full decode, within resampling and rounding noise.
struct DecodeHint {
  /// Which channels matter.
  enum class Channels {
    Any, ///< Colour may be used.
    Gray ///< One luma channel is all that is used.
  };
  /// Cover::Both: the image will fill the size (stretched or cropped), so both sides must reach it.
  /// Cover::Either: it will be scaled to fit inside the size, so reaching it on one side is enough.
  enum class Cover {
    Both,  ///< Both sides must reach the size.
    Either ///< One side reaching it is enough.
  };

  Channels channels = Channels::Any; ///< Gray: one luma channel is all that is used
  /// The decoded image may be smaller than the file as long as it still covers min_width x
  /// min_height as `cover` says; 0 x 0: the full size is needed.
  int min_width = 0;         ///< 0: the full width is needed.
  int min_height = 0;        ///< 0: the full height is needed.
  Cover cover = Cover::Both; ///< How the size must be covered.
  int max_bits = 16; ///< bits per channel that matter: 8 lets a reader decode 16-bit files to 8 bits

  /// Whether a smaller decode may do at all.
  bool reducible() const { return min_width > 0 && min_height > 0; }
  /// The largest of 1, 2, 4 and 8 by which a width x height image may be shrunk (sides rounded up,
  /// as JPEG's scaled decoding does) and still cover the size, in either orientation (EXIF
  /// rotation may swap the sides). 1 when the full size is needed.
  int reduction_for(int width, int height) const;
};

/// The most demanding of two needs, for a reader that feeds several chains: colour if either needs
/// it, a size that covers both, the larger bit depth.
DecodeHint most_demanding(const DecodeHint& a, const DecodeHint& b);

/// Lists a dataset lazily and decodes its entries.
class Reader : public Stage {
public:
  static constexpr StageKind kind = StageKind::Reader; ///< What PluginRegistrar::add registers it as.
  ~Reader() override;

  /// The next entry, or nullopt at the end. Cheap: no pixels are decoded here. Called from one
  /// enumerating thread, never concurrently with itself, while load() runs on others.
  virtual std::optional<SampleInfo> next() = 0;
  /// Decodes the entry's pixels. Called from several worker threads at once: touch no mutable
  /// shared state. Throws SampleError for a file that cannot be read (that image fails alone).
  virtual Sample load(const SampleInfo& info) const = 0;
  /// The number of entries when known without decoding (for progress), else nullopt.
  virtual std::optional<std::size_t> size_hint() const { return std::nullopt; }
  /// Decodes the entry's pixels as `hint` allows: a reader that can decode less than the whole file
  /// (see DecodeHint) overrides it; the default decodes everything with load(info). Same threading
  /// and errors as load.
  virtual Sample load_hinted(const SampleInfo& info, const DecodeHint& /*hint*/) const { return load(info); }
  /// True when every study's images come one after another in the listing (MURA, DICOM study
  /// folders). Writers then get each study as soon as its last image is scored; otherwise the host
  /// holds every open study's image probabilities until the end of the run.
  virtual bool lists_studies_together() const { return false; }
};

/// Why a pipeline runs.
enum class RunMode {
  Train,    ///< `radpipe train`: random transforms run.
  Evaluate, ///< `radpipe evaluate`, and validation during training.
  Predict   ///< `radpipe predict`, `explain`, `preview`.
};

/// What a transform is told about the run, for each sample.
struct TransformContext {
  RunMode mode = RunMode::Predict; ///< Why the pipeline runs.
  std::uint64_t seed = 0;          ///< The pipeline's seed.
  std::uint64_t epoch = 0;         ///< Random transforms mix seed, epoch and the sample's `info.index`.
};

/// Changes one sample in place (pixels and, rarely, metadata).
class Transform : public Stage {
public:
  static constexpr StageKind kind = StageKind::Transform; ///< What PluginRegistrar::add registers it as.
  ~Transform() override;

  /// Changes `sample`. Called from several worker threads at once: read only what the
  /// constructor or a fit set. Throws SampleError for a sample it cannot process (that image
  /// fails alone), StageError for a configuration that cannot work (the run stops). Check the
  /// pixels first with require_radpipe_image (image.hpp); after `normalize` float pixels are
  /// standardised and leave [0, 1].
  virtual void apply(Sample& sample, const TransformContext& context) const = 0;
  /// Random transforms (augmentation) run only in training unless a pipeline asks otherwise.
  virtual bool is_random() const { return false; }

  /// Whether the transform has learned state (dataset standardisation): it is then fitted on the
  /// training split in one streaming pass (fit_begin, fit_add for each sample, fit_end, on one
  /// thread, in order) and keeps its state in a file stored with the model checkpoint.
  virtual bool needs_fit() const { return false; }
  /// Starts a fit, forgetting any earlier one.
  virtual void fit_begin() {}
  /// Adds one training sample, as the transforms before this one left it.
  virtual void fit_add(const Sample& /*sample*/) {}
  /// Ends the fit; apply() may run from now on.
  virtual void fit_end() {}
  /// Writes the fitted state to `file` (radpipe train, with each checkpoint).
  virtual void save_state(const std::filesystem::path& /*file*/) const {}
  /// Reads a state that save_state wrote (predict --checkpoint); throws StageError if it cannot.
  virtual void load_state(const std::filesystem::path& /*file*/) {}

  /// Decoding hints. The host walks the [[preprocess]] chain from its start and lets each step
  /// narrow `hint` to what the chain needs of the decoded image: grayscale asks for one channel,
  /// resize for a decode that still covers its size. Return true only when the chain's output stays
  /// the same (within resampling noise) whether or not the reader follows the narrowed hint, given
  /// the steps before this one; never widen what an earlier step narrowed. Return false (the
  /// default) to stop the walk: this step, and so every later one, sees the image as the hint
  /// built so far lets the reader decode it.
  virtual bool refine_decode_hint(DecodeHint& /*hint*/) const { return false; }
};

/// What a router sees of one study: the metadata of each of its images and, when the pipeline's
/// [route] table names a chain to consult, that chain's class probabilities for each image.
struct StudyToRoute {
  std::span<const SampleInfo> images; ///< The metadata of each of the study's images.
  std::span<const std::vector<double>> consulted_probabilities; ///< [image][class]; empty without `consult`.
  std::span<const std::string> consulted_classes;               ///< The consulted chain's class names.
};

/// A router's choice for one study.
struct RouteDecision {
  /// The value that picks a chain: the chain whose name or `match` list holds it (compared without
  /// regard to case). Empty: the router has no value for this study.
  std::string value;
  double confidence = 1.0; ///< In [0, 1]; written to the predictions.
  bool confident = true;   ///< False: the study goes to the [route] fallback chain.
};

/// Chooses the model chain for a whole study, so that all of a study's images meet one chain.
class Router : public Stage {
public:
  static constexpr StageKind kind = StageKind::Router; ///< What PluginRegistrar::add registers it as.
  ~Router() override;

  /// The chain for `study`. Called from one thread at a time; it must not keep the study.
  virtual RouteDecision route(const StudyToRoute& study) const = 0;
};

/// The value of a sample field by name: id, path, patient_id, study_id, body_part, view, split,
/// label, or else a key of `tags` (a DICOM keyword such as BodyPartExamined, a CSV column).
/// nullopt when the sample has no such field or an empty one.
std::optional<std::string> field_value(const SampleInfo& info, std::string_view name);

/// Turns the probabilities of a study's images into one study probability.
class Aggregator : public Stage {
public:
  static constexpr StageKind kind = StageKind::Aggregator; ///< What PluginRegistrar::add registers it as.
  ~Aggregator() override;

  /// The study's probability of the positive class, from its images' (never empty). May be
  /// called from several threads at once.
  virtual double aggregate(std::span<const double> image_probabilities) const = 0;
};

/// One scored image, as writers receive it.
struct ImagePrediction {
  SampleInfo info;          ///< The image.
  double probability = 0.0; ///< Of the positive (abnormal) class; of the predicted class for k > 2.
  std::string chain;        ///< The model chain that scored it ("default" or a route name).
  std::vector<double> class_probabilities; ///< Softmax over a multi-class chain's classes; empty for binary.
  int predicted_class = 0;                 ///< Argmax of class_probabilities (binary: 0 or 1 at the threshold).
  std::string routed_value;                ///< What the router decided on (a body part, a class name); empty without router.
  double route_confidence = 1.0;           ///< The router's confidence in that decision.
  /// Where the model looked, for writers whose wants_heatmaps() is true and pipelines with an
  /// [explain] stage; empty otherwise. One channel, float (CV_32FC1), values in [0, 1], covering
  /// the whole image as the reader decoded it (same aspect ratio, any resolution): scale it onto
  /// the picture you draw. Drawn back through the transforms' recorded geometry (geometry.hpp).
  cv::Mat heatmap;
};

/// One study's verdict, as writers receive it.
struct StudyPrediction {
  std::string study_id;        ///< SampleInfo::study_key of its images.
  std::string patient_id;      ///< Its patient, when known.
  std::string body_part;       ///< Its study type.
  std::size_t image_count = 0; ///< How many of its images were scored.
  double probability = 0.0;    ///< The aggregator's study probability.
  int predicted = 0;           ///< 0 or 1 at the threshold; the class index for multi-class chains.
  std::optional<int> label;    ///< 1 when any of its images is labelled abnormal; unset when unlabelled.
  std::string chain;           ///< The chain that scored the study's images.
  std::vector<double> class_probabilities; ///< Multi-class chains: the aggregated class probabilities.
};

/// What the host tells a writer when a run opens.
struct WriterRun {
  std::filesystem::path out_dir; ///< The run's --out folder; every file a writer makes stays inside it
  /// True for `predict --resume`: append to the files a killed or stopped run left. The host sends
  /// only what those files do not hold yet.
  bool resume = false;
  /// With resume: the size in bytes of each of this writer's files (by name relative to out_dir)
  /// that the last run committed, as run.json records it. Whatever lies beyond (a partial line, or
  /// whole lines written after the last commit) is cut off before appending.
  std::map<std::string, std::uint64_t> committed_bytes;
  bool routed = false; ///< The pipeline has a [route]: images carry routed_value and route_confidence
};

/// A file as it stands after a commit: name relative to out_dir, and its size in bytes.
struct CommittedFile {
  std::string name;        ///< Relative to the run's out_dir.
  std::uint64_t bytes = 0; ///< Its size when committed.
};

/// Writes a run's results as they are produced, streaming. The host calls, from one thread:
///   open(run), then write_image / write_study in any interleaving, commit() at least once per
///   batch of images, after each study and before close(), then close().
/// A study arrives after all of its images. Between commits a writer may buffer; after commit()
/// returns, its files hold whole lines only, flushed to the operating system, and the sizes it
/// returns are what the host records in run.json as committed (OutputFile does all of that).
/// A writer never holds a whole run in memory.
class Writer : public Stage {
public:
  static constexpr StageKind kind = StageKind::Writer; ///< What PluginRegistrar::add registers it as.
  ~Writer() override;

  /// Opens the run's files, or reopens them for resume, cut to their committed sizes.
  virtual void open(const WriterRun& run) = 0;
  /// One scored image.
  virtual void write_image(const ImagePrediction& image) = 0;
  /// One study, after all of its images.
  virtual void write_study(const StudyPrediction& study) = 0;
  /// Flushes whole lines to the operating system; returns each file's committed size.
  virtual std::vector<CommittedFile> commit() = 0;
  /// Commits and closes the files. Also called when a run ends early (SIGINT, SIGTERM, errors).
  virtual void close() = 0;
  /// True when this writer draws heatmaps (ImagePrediction::heatmap): the host then runs the
  /// pipeline's [explain] stage during predict, which needs gradients and so costs a backward pass
  /// per batch. Asked once, after construction and before open().
  virtual bool wants_heatmaps() const { return false; }
};

} // namespace radpipe
