// A validated pipeline turned into live stage objects: the reader, the shared preprocessing, the
// model chains and the router that chooses among them.
#pragma once

#include "config/pipeline_config.hpp"
#include "loader/plugin_host.hpp"
#include "runtime/tta.hpp"

#include <radpipe/model.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace radpipe::host {

template <class Interface>
struct Built {
  StageEntry entry;
  std::shared_ptr<Interface> stage;
};

// A model chain as a unit: its own preprocessing steps, its model on its device, its batch size
// and its aggregator. Predict, evaluate, explain and train all run chains through ChainRunner.
struct Chain {
  const ChainConfig* config = nullptr;
  std::string name;
  std::vector<Built<Transform>> transforms; // after the pipeline's shared steps
  Built<Model> model;
  // An ensemble's models, one per file of the model table's `ensemble` key, `model` the first;
  // empty when `model` scores alone.
  std::vector<Built<Model>> ensemble;
  // The files the models' weights came from, `model`'s first: a checkpoint's, or the ensemble's;
  // empty when the model table's own `weights` (or none) were loaded.
  std::vector<std::filesystem::path> weight_files;
  Averaging average = Averaging::Probability; // of the ensemble's members and the TTA views
  TestTimeAugmentation tta;
  torch::Device device{torch::kCPU};
  Built<Aggregator> aggregator;
  std::vector<std::string> classes; // multi-class chains; empty for binary ones
  std::size_t batch_size = 16;

  bool multiclass() const { return !classes.empty(); }
  // Every model the chain scores with: the ensemble's, or `model` alone.
  std::span<Built<Model>> models() { return ensemble.empty() ? std::span<Built<Model>>(&model, 1) : std::span<Built<Model>>(ensemble); }
  // True when the chain averages several outputs per image (an ensemble, TTA views).
  bool averages() const { return ensemble.size() > 1 || tta.enabled(); }
  // The class index of a sample for this chain: its label for binary chains, the position of its
  // target field's value among `classes` for multi-class ones; nullopt when unknown.
  std::optional<int> target_of(const SampleInfo& info) const;
};

using SampleFilter = std::function<bool(SampleInfo&)>;

struct BuildOptions {
  int threads = 0;                  // 0: every core
  std::string device_override;      // replaces every chain's device when not empty
  bool load_model_weights = true;
  // false: only the reader and the shared [[preprocess]] steps are built (for commands that never score).
  bool build_models = true;
  // A checkpoint folder written by `radpipe train`: its model.pt (and model-ROUTE.pt for routed
  // chains) replace the weights the pipeline names, and its fitted preprocessing state is loaded.
  std::filesystem::path checkpoint;
  // Checkpoint folders of further `radpipe train` runs of the same pipeline (other seeds): each
  // chain then scores the mean of `checkpoint`'s model and theirs (Chain::ensemble, the chain's
  // `average`); the fitted preprocessing comes from `checkpoint`. `radpipe cv --members`.
  std::vector<std::filesystem::path> member_checkpoints;
  // With `checkpoint` (and `member_checkpoints`): each chain's selected weights, the MODEL.best.pt
  // that every checkpoint carries (the bytes of the run's best.pt, best-NAME.pt: [train] select),
  // instead of the weights the checkpoint's epoch ended with. A routed run's chains may have
  // selected different epochs, so no one checkpoint folder holds all their selected weights.
  bool selected_weights = false;
  // Sees every listed sample before anything else does: may change its metadata (its split) or
  // drop it by returning false. `radpipe cv` assigns its folds this way.
  SampleFilter sample_filter;
};

class Pipeline {
public:
  Pipeline(const PipelineConfig& config, const PluginHost& plugins, const BuildOptions& options);

  const PipelineConfig& config() const { return config_; }
  Built<Reader>& reader() { return reader_; }
  const std::vector<Built<Transform>>& transforms() const { return transforms_; }
  std::vector<Chain>& chains() { return chains_; }
  // The chain named `name`; nullptr when there is none.
  Chain* chain(std::string_view name);
  // The [route] stage; nullptr without routing.
  Built<Router>* router() { return router_ ? &*router_ : nullptr; }
  // The [explain] stage; nullptr when the pipeline has none.
  Built<Explainer>* explainer() { return explainer_ ? &*explainer_ : nullptr; }
  // A new reader from the same configuration (each pass over the data needs its own).
  Built<Reader> make_reader() const;
  // What the reader may skip decoding for this pipeline's chain ([pipeline] decode_hints), the
  // same in training and at inference so that a model always sees the pixels it was trained on.
  const DecodeHint& decode_hint() const { return decode_hint_; }

  StageContext context_for(const StageConfig& stage) const;

  // Puts every chain's model in training or evaluation mode.
  void set_training(bool on);
  // Puts every chain's model in eval mode and in `form` (Model::set_form).
  void prepare_models(ModelForm form);
  // The form scoring runs in: Inference, unless [pipeline] optimize = false.
  ModelForm scoring_form() const;

private:
  const PipelineConfig& config_;
  const PluginHost& plugins_;
  int threads_ = 1;
  SampleFilter sample_filter_;
  Built<Reader> reader_;
  std::vector<Built<Transform>> transforms_;
  DecodeHint decode_hint_;
  std::vector<Chain> chains_;
  std::optional<Built<Router>> router_;
  std::optional<Built<Explainer>> explainer_;
};

// The decode hint of a chain's preprocessing, the shared steps then its own: each step from the
// start narrows it (Transform::refine_decode_hint) until one does not declare its needs. The
// pipeline combines its chains' hints with most_demanding (radpipe/stages.hpp).
DecodeHint decode_hint_of(const std::vector<Built<Transform>>& shared, const std::vector<Built<Transform>>& own = {});

// The context a stage of `config` is built with.
StageContext stage_context(const PipelineConfig& config, const StageConfig& stage, int threads);

// Builds a configured stage. A plugin error about one key gets the `file:line:col` where the
// pipeline file sets that key in front of it.
template <class Interface>
std::shared_ptr<Interface> create_configured(const PluginHost& plugins, const StageConfig& stage, const StageContext& context) {
  try {
    return plugins.create<Interface>(stage.entry, stage.params, context);
  } catch (const PluginError& error) {
    const auto place = stage.key_locations.find(error.key());
    if (error.key().empty() || place == stage.key_locations.end()) throw;
    throw PluginError(format(Diagnostic{place->second, error.what()}), error.key());
  }
}

// The pipeline's reader alone, for commands that only list the data (`radpipe split`).
Built<Reader> build_reader(const PipelineConfig& config, const PluginHost& plugins, int threads);

// The file in a checkpoint folder that holds the learned state of the transform at `position`
// (0-based) of the shared [[preprocess]] steps (empty chain name) or of a chain's own steps.
std::string transform_state_file(std::size_t position, const std::string& chain = {});

// The weights file of a chain in a checkpoint folder: model.pt, or model-NAME.pt for a route.
std::string chain_weights_file(const std::string& chain);

// A stage's log: spdlog lines prefixed with `[prefix]`.
LogFunction logger_for(std::string prefix);

// "auto" picks the first CUDA device when LibTorch sees one, else the CPU.
torch::Device resolve_device(const std::string& name);

// How many threads `requested` means on this machine (0: every core).
int resolve_threads(int requested);

} // namespace radpipe::host
