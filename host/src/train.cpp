#include "train.hpp"

#include "atomic_file.hpp"
#include "gnuplot.hpp"
#include "inference.hpp"
#include "metrics.hpp"
#include "pipeline.hpp"
#include "pipeline_config.hpp"
#include "progress.hpp"
#include "sample_stream.hpp"
#include "tensor.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>

namespace radpipe::host {
namespace fs = std::filesystem;

ClassWeights class_weights_for(const std::string& mode, std::size_t positives, std::size_t negatives, double explicit_positive,
                               double explicit_negative, double standardization_bias) {
  const double p = static_cast<double>(positives), n = static_cast<double>(negatives);
  if (mode == "explicit") return {explicit_positive, explicit_negative};
  if (mode == "none" || p == 0 || n == 0) return {1.0, 1.0};
  if (mode == "standardization") return {1.0 + (n + standardization_bias) / p, 1.0 + p / n};
  // MURA: w_abnormal = |N| / (|A| + |N|), w_normal = |A| / (|A| + |N|).
  return {n / (p + n), p / (p + n)};
}

namespace {

void set_cuda_autocast(bool enabled) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCUDA, enabled);
#else
  at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  at::autocast::set_enabled(enabled);
#endif
  if (!enabled) at::autocast::clear_cache();
}

struct HistoryRow {
  int epoch = 0;
  double learning_rate = 0, train_loss = 0, val_loss = 0, val_auroc = 0, val_kappa = 0, val_accuracy = 0, seconds = 0,
         images_per_second = 0;
};

nlohmann::json to_json(const HistoryRow& row) {
  return {{"epoch", row.epoch},           {"learning_rate", row.learning_rate}, {"train_loss", row.train_loss},
          {"val_loss", row.val_loss},     {"val_auroc", row.val_auroc},         {"val_kappa", row.val_kappa},
          {"val_accuracy", row.val_accuracy}, {"seconds", row.seconds},        {"images_per_second", row.images_per_second}};
}

HistoryRow history_from_json(const nlohmann::json& item) {
  auto number = [&](const char* key) { return item.contains(key) && item[key].is_number() ? item[key].get<double>() : std::nan(""); };
  return {item.at("epoch").get<int>(), number("learning_rate"), number("train_loss"), number("val_loss"), number("val_auroc"),
          number("val_kappa"), number("val_accuracy"), number("seconds"), number("images_per_second")};
}

struct ChainTrainer {
  ModelChain* chain = nullptr;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::string file_stem; // "model" for the default chain, "model-NAME" for routed ones
};

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Params& train, torch::nn::Module& module) {
  std::vector<torch::Tensor> parameters;
  for (auto& parameter : module.parameters())
    if (parameter.requires_grad()) parameters.push_back(parameter);
  if (parameters.empty()) throw std::runtime_error("every parameter of the model is frozen: nothing to train");
  const double rate = train.real("learning_rate"), decay = train.real("weight_decay");
  const std::string& name = train.string("optimizer");
  if (name == "sgd")
    return std::make_unique<torch::optim::SGD>(parameters,
                                               torch::optim::SGDOptions(rate).momentum(train.real("momentum")).weight_decay(decay));
  if (name == "adamw")
    return std::make_unique<torch::optim::AdamW>(parameters, torch::optim::AdamWOptions(rate).weight_decay(decay));
  return std::make_unique<torch::optim::Adam>(parameters, torch::optim::AdamOptions(rate).weight_decay(decay));
}

double learning_rate_of(torch::optim::Optimizer& optimizer) { return optimizer.param_groups().front().options().get_lr(); }

void set_learning_rate(torch::optim::Optimizer& optimizer, double rate) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(rate);
}

// Higher is better for every monitored value once val_loss is negated.
double monitored_score(const std::string& monitor, const HistoryRow& row) {
  if (monitor == "kappa") return row.val_kappa;
  if (monitor == "auroc") return row.val_auroc;
  return -row.val_loss;
}

struct Checkpoint {
  int epoch = 0;
  double score = 0;
  fs::path folder;
};

// ---- Checkpoint folders on disk -------------------------------------------------------------
// A checkpoint folder (last/, epoch-NNNN/) is written whole under NAME.tmp, meta.json last, and
// swapped in by renames: NAME -> NAME.old, NAME.tmp -> NAME, NAME.old removed. A folder is
// complete when its meta.json parses; a kill at any point leaves at least one complete version
// of every name among NAME, NAME.tmp and NAME.old (see settle_checkpoint_folder).

fs::path with_suffix(const fs::path& folder, const char* suffix) {
  fs::path result = folder;
  result += suffix;
  return result;
}

std::optional<nlohmann::json> read_checkpoint_meta(const fs::path& folder) {
  std::ifstream stream(folder / "meta.json");
  if (!stream) return std::nullopt;
  auto meta = nlohmann::json::parse(stream, nullptr, /*allow_exceptions=*/false);
  if (meta.is_discarded() || !meta.is_object() || !meta.contains("epoch") || !meta["epoch"].is_number_integer())
    return std::nullopt;
  return meta;
}

// Renames a complete NAME.tmp into place, keeping the previous version until the new one is in.
void commit_checkpoint_folder(const fs::path& temporary, const fs::path& folder) {
  const fs::path previous = with_suffix(folder, ".old");
  remove_all_durably(previous);
  if (fs::exists(folder)) rename_durably(folder, previous);
  rename_durably(temporary, folder);
  remove_all_durably(previous);
}

// Finishes what a kill interrupted for one checkpoint name: the newest complete version among
// NAME, NAME.tmp and NAME.old becomes NAME; versions that are incomplete or older are removed (the
// save that was interrupted would have removed them next). Nothing is done when NAME is complete
// and alone.
void settle_checkpoint_folder(const fs::path& folder) {
  const fs::path temporary = with_suffix(folder, ".tmp"), previous = with_suffix(folder, ".old");
  const auto epoch_of = [](const fs::path& candidate) -> std::optional<int> {
    if (auto meta = read_checkpoint_meta(candidate)) return (*meta)["epoch"].get<int>();
    return std::nullopt;
  };
  const auto current = epoch_of(folder), newer = epoch_of(temporary), older = epoch_of(previous);
  if (newer && (!current || *newer > *current)) {
    spdlog::info("completing the interrupted save of {} (epoch {})", folder.string(), *newer);
    commit_checkpoint_folder(temporary, folder);
    return;
  }
  if (!current && older) {
    spdlog::info("restoring {} from {} (epoch {}): the save that replaced it was interrupted", folder.string(),
                 previous.string(), *older);
    if (fs::exists(folder)) remove_all_durably(folder);
    rename_durably(previous, folder);
  } else if (!current && fs::exists(folder)) {
    spdlog::info("removing {}: incomplete, and no complete version of it is left", folder.string());
    remove_all_durably(folder);
  }
  if (fs::exists(temporary)) remove_all_durably(temporary);
  if (fs::exists(previous)) remove_all_durably(previous);
}

fs::path epoch_folder_name(int epoch) { return fmt::format("epoch-{:04d}", epoch); }

// The names of the checkpoint folders under `checkpoints` (last, epoch-NNNN), without the .tmp
// and .old suffixes, sorted.
std::vector<fs::path> checkpoint_folder_names(const fs::path& checkpoints) {
  std::set<fs::path> names;
  std::error_code error;
  for (fs::directory_iterator entry(checkpoints, error), end; !error && entry != end; entry.increment(error)) {
    std::string name = entry->path().filename().string();
    for (const char* suffix : {".tmp", ".old"})
      if (name.size() > 4 && name.ends_with(suffix)) name.resize(name.size() - 4);
    if (name == "last" || name.starts_with("epoch-")) names.insert(checkpoints / name);
  }
  return {names.begin(), names.end()};
}

std::string read_file_bytes(const fs::path& file) {
  std::ifstream stream(file, std::ios::binary);
  if (!stream) throw std::runtime_error("cannot read " + file.string());
  std::ostringstream bytes;
  bytes << stream.rdbuf();
  return bytes.str();
}

// LibTorch's archive writer aborts the process when its file cannot be written (its destructor
// throws a second time); it writes to memory here, and the bytes go to disk through
// write_bytes_atomically, which reports a full disk as an error.
std::string archive_bytes(torch::serialize::OutputArchive& archive) {
  std::ostringstream bytes;
  archive.save_to(bytes);
  return bytes.str();
}

// The state of every random generator LibTorch keeps (dropout and initialisation draw from them):
// saved with each checkpoint so that a resumed run draws what the uninterrupted one would have.
std::string random_state_bytes() {
  torch::serialize::OutputArchive archive;
  archive.write("cpu", at::globalContext().defaultGenerator(at::kCPU).get_state());
  if (torch::cuda::is_available())
    for (std::size_t device = 0; device < torch::cuda::device_count(); ++device)
      archive.write("cuda" + std::to_string(device),
                    at::globalContext().defaultGenerator(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device))).get_state());
  return archive_bytes(archive);
}

void restore_random_state(const fs::path& file) {
  torch::serialize::InputArchive archive;
  archive.load_from(file.string());
  torch::Tensor state;
  archive.read("cpu", state);
  // A Generator is a handle: the copy sets the state of the global generator it refers to.
  at::Generator cpu = at::globalContext().defaultGenerator(at::kCPU);
  cpu.set_state(state);
  if (torch::cuda::is_available())
    for (std::size_t device = 0; device < torch::cuda::device_count(); ++device)
      if (archive.try_read("cuda" + std::to_string(device), state)) {
        at::Generator cuda = at::globalContext().defaultGenerator(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device)));
        cuda.set_state(state);
      }
}

// What a non-finite loss most likely comes from, judged from the batch's input and the model.
std::string likely_cause_of_nonfinite_loss(const torch::Tensor& input, torch::nn::Module& module, double learning_rate) {
  const auto finite_input = torch::isfinite(input).all().item<bool>();
  if (!finite_input)
    return "the model's input holds values that are not finite numbers: check the preprocessing (a normalize std or "
           "standardize statistics near zero, a transform dividing by zero)";
  const double largest = input.numel() ? input.abs().max().item<double>() : 0.0;
  if (largest > 1e4)
    return fmt::format("the model's input reaches {:.3g} in magnitude, where models expect values of about 1: check the "
                       "preprocessing (a normalize std or standardize statistics far too small)",
                       largest);
  for (const auto& parameter : module.parameters())
    if (!torch::isfinite(parameter).all().item<bool>())
      return "the model's weights are not finite numbers: the weights file holds NaN or infinity, or an earlier step "
             "diverged";
  return fmt::format("the input looks sane (at most {:.3g} in magnitude), so the likely cause is a learning rate too "
                     "high ({:.3g}) or exploding gradients: lower [train] learning_rate",
                     largest, learning_rate);
}

class Trainer {
public:
  Trainer(const PipelineConfig& config, const PluginHost& plugins, const GlobalOptions& global, const TrainOptions& options)
      : config_(config), train_(*config.train), options_(options) {
    seed_ = static_cast<std::uint64_t>(config.settings.integer("seed"));
    torch::manual_seed(seed_);
    threads_ = resolve_threads(global.threads > 0 ? global.threads : static_cast<int>(config.settings.integer("threads")));
    torch::set_num_threads(threads_);
    out_ = options.out_dir.empty() ? train_.path("output") : options.out_dir;
    epochs_ = options.epochs.value_or(static_cast<int>(train_.integer("epochs")));
    mixed_precision_ = train_.boolean("mixed_precision");
    BuildOptions build;
    build.threads = threads_;
    build.device_override = options.device;
    pipeline_ = std::make_unique<Pipeline>(config, plugins, build);
    add_chain(pipeline_->default_chain(), "model");
    for (auto& chain : pipeline_->routed_chains()) add_chain(chain, "model-" + chain.name);
  }

  int run() {
    prepare_output_folder(out_, options_.out_dir.empty() ? "[train] output" : "--out");
    list_samples();
    compute_class_weights();
    create_folder(out_ / "checkpoints");
    int first_epoch = 1;
    if (options_.resume) first_epoch = resume();
    if (first_epoch == 1) fit_transforms();
    spdlog::info("training '{}' for epochs {}..{} on {} images, validating on {}; {} thread{}; output {}",
                 config_.settings.string("name"), first_epoch, epochs_, train_set_.size(), valid_set_.size(), threads_,
                 threads_ == 1 ? "" : "s", out_.string());
    const std::string monitor = train_.string("monitor");
    for (int epoch = first_epoch; epoch <= epochs_; ++epoch) {
      HistoryRow row = run_epoch(epoch);
      history_.push_back(row);
      const double score = monitored_score(monitor, row);
      // NaN (a validation metric undefined on this split) never counts as an improvement.
      const bool improved = !std::isnan(score) && (!best_score_ || score > *best_score_);
      if (improved) {
        best_score_ = score;
        best_epoch_ = epoch;
        epochs_without_improvement_ = 0;
      } else {
        ++epochs_without_improvement_;
      }
      spdlog::info("epoch {}/{}: train loss {:.4f}, val loss {:.4f}, AUROC {:.4f}, kappa {:.4f}, accuracy {:.4f}, lr {:.2g}, {:.1f} img/s{}",
                   epoch, epochs_, row.train_loss, row.val_loss, row.val_auroc, row.val_kappa, row.val_accuracy, row.learning_rate,
                   row.images_per_second, improved ? " (best)" : "");
      // The schedule moves before the save, so that the checkpoint holds the state the next
      // epoch starts from and a resumed run continues exactly where this one would.
      adjust_learning_rate(epoch, improved);
      save_epoch(epoch, score, improved);
      const auto patience = train_.integer("early_stopping");
      if (patience > 0 && epochs_without_improvement_ >= patience) {
        spdlog::info("early stopping: {} epochs without improvement of {}", epochs_without_improvement_, monitor);
        break;
      }
    }
    spdlog::info("best {} {:.4f}; best weights in {}", monitor, best_score_ ? (monitor == "val_loss" ? -*best_score_ : *best_score_) : 0.0,
                 (out_ / "best.pt").string());
    return exit_ok;
  }

private:
  void add_chain(ModelChain& chain, const std::string& stem) {
    torch::nn::Module* module = call_plugin(chain.model.entry, [&] { return chain.model.stage->trainable(); });
    if (module == nullptr)
      throw std::runtime_error("model chain '" + chain.name + "' (" + chain.model.entry.stage->name +
                               ") cannot be trained: it is inference-only");
    if (chain.model.stage->num_outputs() != 1)
      throw std::runtime_error("model chain '" + chain.name + "' has " + std::to_string(chain.model.stage->num_outputs()) +
                               " outputs; radpipe train fits binary models (outputs = 1)");
    trainers_.push_back({&chain, make_optimizer(train_, *module), stem});
  }

  void list_samples() {
    auto& reader = pipeline_->reader();
    const std::string train_split = train_.string("train_split"), valid_split = train_.string("valid_split");
    while (auto info = call_plugin(reader.entry, [&] { return reader.stage->next(); })) {
      if (info->split != train_split && info->split != valid_split) continue;
      if (!info->label)
        throw std::runtime_error("sample " + info->id + " (" + info->path + ") has no label; training needs labelled data");
      require_binary_label(*info);
      (info->split == train_split ? train_set_ : valid_set_).push_back(std::move(*info));
    }
    if (train_set_.empty()) throw std::runtime_error("no sample has split '" + train_split + "': nothing to train on");
    if (valid_set_.empty()) throw std::runtime_error("no sample has split '" + valid_split + "': nothing to validate on");
    if (auto limit = static_cast<std::size_t>(train_.integer("limit")); limit > 0 && limit < train_set_.size()) {
      std::mt19937_64 random(seed_);
      std::shuffle(train_set_.begin(), train_set_.end(), random);
      train_set_.resize(limit);
      valid_set_.resize(std::min(valid_set_.size(), std::max<std::size_t>(limit / 2, 8)));
    }
  }

  // Transforms with learned state (dataset standardisation) fit on the training split, each seeing
  // samples as the transforms before it leave them, in one streaming pass per such transform.
  void fit_transforms() {
    const auto& transforms = pipeline_->transforms();
    for (std::size_t position = 0; position < transforms.size(); ++position) {
      const auto& transform = transforms[position];
      if (!transform.stage->needs_fit()) continue;
      std::vector<Built<Transform>> before(transforms.begin(), transforms.begin() + static_cast<long>(position));
      SampleStream stream(vector_source(train_set_), pipeline_->reader(), before, stream_options(RunMode::Evaluate, 0));
      Progress progress(fmt::format("fit {}", transform.entry.stage->name), train_set_.size());
      call_plugin(transform.entry, [&] { transform.stage->fit_begin(); });
      while (auto sample = stream.next()) {
        call_plugin(transform.entry, [&] { transform.stage->fit_add(*sample); });
        progress.advance(1);
      }
      call_plugin(transform.entry, [&] { transform.stage->fit_end(); });
      progress.finish();
    }
  }

  void compute_class_weights() {
    const std::string mode = train_.string("class_weights");
    std::map<std::string, std::pair<std::size_t, std::size_t>> counts; // part -> positives, negatives
    std::size_t positives = 0, negatives = 0;
    for (const auto& info : train_set_) {
      auto& [part_positives, part_negatives] = counts[info.body_part];
      (*info.label == 1 ? part_positives : part_negatives)++;
      (*info.label == 1 ? positives : negatives)++;
    }
    auto weights_of = [&](std::size_t p, std::size_t n) {
      return class_weights_for(mode, p, n, train_.real("positive_weight"), train_.real("negative_weight"),
                               train_.real("standardization_bias"));
    };
    global_weights_ = weights_of(positives, negatives);
    for (const auto& [part, pair] : counts) {
      part_weights_[part] = mode == "per_part" ? weights_of(pair.first, pair.second) : global_weights_;
      spdlog::info("body part '{}': {} positive, {} negative; loss weights positive {:.3f}, negative {:.3f}", part.empty() ? "(none)" : part,
                   pair.first, pair.second, part_weights_[part].positive, part_weights_[part].negative);
    }
  }

  double weight_of(const SampleInfo& info) const {
    auto found = part_weights_.find(info.body_part);
    const ClassWeights& weights = found == part_weights_.end() ? global_weights_ : found->second;
    return *info.label == 1 ? weights.positive : weights.negative;
  }

  ChainTrainer& trainer_for(const Sample& sample) {
    ModelChain& chain = pipeline_->chain_for(sample);
    for (auto& trainer : trainers_)
      if (trainer.chain == &chain) return trainer;
    return trainers_.front();
  }

  torch::Tensor model_input(ChainTrainer& trainer, const std::vector<Sample>& batch) const {
    return samples_to_tensor(batch, trainer.chain->model.stage->input_channels()).to(trainer.chain->device);
  }

  // Loss of a batch: weighted binary cross-entropy averaged over the batch.
  torch::Tensor batch_loss(ChainTrainer& trainer, const std::vector<Sample>& batch, const torch::Tensor& input,
                           torch::Tensor* probabilities) {
    auto& model = *trainer.chain->model.stage;
    std::vector<float> labels, weights;
    for (const auto& sample : batch) {
      labels.push_back(static_cast<float>(*sample.info.label));
      weights.push_back(static_cast<float>(weight_of(sample.info)));
    }
    auto target = torch::tensor(labels).to(trainer.chain->device);
    auto weight = torch::tensor(weights).to(trainer.chain->device);
    torch::Tensor logits;
    if (mixed_precision_ && trainer.chain->device.is_cuda()) {
      // bfloat16 keeps float32's range, so no gradient scaler is needed (LibTorch has none).
      set_cuda_autocast(true);
      struct AutocastOff {
        ~AutocastOff() { set_cuda_autocast(false); }
      } autocast_off;
      logits = model.forward(input).logits.reshape({-1}).to(torch::kFloat32);
    } else {
      logits = model.forward(input).logits.reshape({-1});
    }
    if (probabilities) *probabilities = torch::sigmoid(logits.detach()).to(torch::kCPU);
    return torch::binary_cross_entropy_with_logits(logits, target, weight);
  }

  // Whether every gradient of the chain's model is finite, in one device synchronisation: the
  // sum of the gradients' norms is finite exactly when each of them is.
  static bool gradients_are_finite(torch::nn::Module& module) {
    std::vector<torch::Tensor> norms;
    for (const auto& parameter : module.parameters())
      if (parameter.grad().defined()) norms.push_back(parameter.grad().norm());
    return norms.empty() || torch::isfinite(torch::stack(norms).sum()).item<bool>();
  }

  // One optimisation step on a batch. A non-finite loss (or gradient) never reaches the weights:
  // training stops with what most likely caused it, or with on_nonfinite_loss = "skip" the batch
  // is skipped. Returns the batch's loss, or nullopt when it was skipped.
  std::optional<double> train_step(ChainTrainer& trainer, const std::vector<Sample>& batch, int epoch, std::size_t batch_number) {
    torch::Tensor input;
    std::string problem;
    double value = 0;
    call_plugin(trainer.chain->model.entry, [&] {
      trainer.optimizer->zero_grad();
      input = model_input(trainer, batch);
      auto loss = batch_loss(trainer, batch, input, nullptr);
      value = loss.item<double>();
      if (!std::isfinite(value)) {
        problem = fmt::format("the training loss is {}", value);
        return;
      }
      loss.backward();
      if (!gradients_are_finite(*trainer.chain->model.stage->trainable())) {
        problem = fmt::format("the training loss is {:.4g} but a gradient is not finite", value);
        trainer.optimizer->zero_grad();
        return;
      }
      trainer.optimizer->step();
    });
    if (problem.empty()) return value;
    const std::string where = fmt::format("epoch {}, batch {} (chain '{}', first image {})", epoch, batch_number, trainer.chain->name,
                                          batch.front().info.path);
    if (train_.string("on_nonfinite_loss") == "skip") {
      spdlog::warn("{}: {}; batch skipped ([train] on_nonfinite_loss = \"skip\")", where, problem);
      return std::nullopt;
    }
    torch::NoGradGuard no_gradients;
    throw std::runtime_error(fmt::format("{}: {}, so training stops before the weights are spoiled. Likely cause: {}. To skip such "
                                         "batches instead, set [train] on_nonfinite_loss = \"skip\"",
                                         where, problem,
                                         likely_cause_of_nonfinite_loss(input, *trainer.chain->model.stage->trainable(),
                                                                        learning_rate_of(*trainer.optimizer))));
  }

  StreamOptions stream_options(RunMode mode, int epoch) const {
    StreamOptions options;
    options.workers = static_cast<int>(config_.settings.integer("workers"));
    options.window = std::max<std::size_t>(64, 4 * static_cast<std::size_t>(train_.integer("batch_size")));
    options.skip_bad_samples = config_.settings.string("on_error") == "skip";
    options.transform = {mode, seed_, static_cast<std::uint64_t>(epoch)};
    return options;
  }

  HistoryRow run_epoch(int epoch) {
    const auto start = std::chrono::steady_clock::now();
    HistoryRow row;
    row.epoch = epoch;
    row.learning_rate = learning_rate_of(*trainers_.front().optimizer);

    std::vector<SampleInfo> order = train_set_;
    std::mt19937_64 random(seed_ * 1000003ULL + static_cast<std::uint64_t>(epoch));
    std::shuffle(order.begin(), order.end(), random);

    for (auto& trainer : trainers_) call_plugin(trainer.chain->model.entry, [&] { trainer.chain->model.stage->set_training(true); });
    const auto batch_size = static_cast<std::size_t>(train_.integer("batch_size"));
    double loss_sum = 0;
    std::size_t seen = 0;
    {
      SampleStream stream(vector_source(order), pipeline_->reader(), pipeline_->transforms(), stream_options(RunMode::Train, epoch));
      Progress progress(fmt::format("epoch {}/{} train", epoch, epochs_), order.size());
      std::map<ChainTrainer*, std::vector<Sample>> pending;
      std::size_t batch_number = 0, skipped_batches = 0;
      auto step = [&](ChainTrainer& trainer, std::vector<Sample>& batch) {
        if (auto loss = train_step(trainer, batch, epoch, ++batch_number)) {
          loss_sum += *loss * static_cast<double>(batch.size());
          seen += batch.size();
        } else {
          ++skipped_batches;
        }
        progress.advance(batch.size(), fmt::format("loss {:.4f}", seen ? loss_sum / static_cast<double>(seen) : 0.0));
        batch.clear();
      };
      while (auto sample = stream.next()) {
        ChainTrainer& trainer = trainer_for(*sample);
        auto& batch = pending[&trainer];
        batch.push_back(std::move(*sample));
        if (batch.size() >= batch_size) step(trainer, batch);
      }
      for (auto& [trainer, batch] : pending)
        if (!batch.empty()) step(*trainer, batch);
      progress.finish(fmt::format("loss {:.4f}", seen ? loss_sum / static_cast<double>(seen) : 0.0));
      if (skipped_batches > 0 && skipped_batches == batch_number)
        throw std::runtime_error(fmt::format("epoch {}: every one of its {} batches had a non-finite loss and was skipped; nothing "
                                             "was learned. Check the preprocessing and the learning rate",
                                             epoch, batch_number));
      if (skipped_batches > 0) spdlog::warn("epoch {}: {} of {} batches skipped for a non-finite loss", epoch, skipped_batches, batch_number);
    }
    row.train_loss = seen ? loss_sum / static_cast<double>(seen) : std::nan("");
    const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    row.images_per_second = static_cast<double>(seen) / std::max(train_seconds, 1e-9);
    validate(row);
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return row;
  }

  void validate(HistoryRow& row) {
    for (auto& trainer : trainers_) call_plugin(trainer.chain->model.entry, [&] { trainer.chain->model.stage->set_training(false); });
    torch::NoGradGuard no_gradients;
    SampleStream stream(vector_source(valid_set_), pipeline_->reader(), pipeline_->transforms(), stream_options(RunMode::Evaluate, 0));
    std::vector<double> scores;
    std::vector<int> labels;
    std::map<std::string, std::pair<std::vector<double>, std::vector<int>>> by_part;
    double loss_sum = 0;
    const auto batch_size = static_cast<std::size_t>(config_.settings.integer("batch_size"));
    std::map<ChainTrainer*, std::vector<Sample>> pending;
    auto score = [&](ChainTrainer& trainer, std::vector<Sample>& batch) {
      torch::Tensor probabilities;
      auto loss = call_plugin(trainer.chain->model.entry, [&] { return batch_loss(trainer, batch, model_input(trainer, batch), &probabilities); });
      loss_sum += loss.item<double>() * static_cast<double>(batch.size());
      auto values = probabilities.accessor<float, 1>();
      for (std::size_t i = 0; i < batch.size(); ++i) {
        scores.push_back(values[static_cast<long>(i)]);
        labels.push_back(*batch[i].info.label);
        by_part[batch[i].info.body_part].first.push_back(values[static_cast<long>(i)]);
        by_part[batch[i].info.body_part].second.push_back(*batch[i].info.label);
      }
      batch.clear();
    };
    while (auto sample = stream.next()) {
      ChainTrainer& trainer = trainer_for(*sample);
      auto& batch = pending[&trainer];
      batch.push_back(std::move(*sample));
      if (batch.size() >= batch_size) score(trainer, batch);
    }
    for (auto& [trainer, batch] : pending)
      if (!batch.empty()) score(*trainer, batch);
    if (scores.empty()) throw std::runtime_error("every validation image was skipped");
    if (const auto undefined = std::count_if(scores.begin(), scores.end(), [](double score) { return std::isnan(score); }); undefined > 0)
      spdlog::warn("{} of {} validation images got a probability that is not a number: the model's output is not finite, so the "
                   "validation metrics of this epoch are undefined",
                   undefined, scores.size());
    const double threshold = config_.threshold;
    row.val_loss = loss_sum / static_cast<double>(scores.size());
    row.val_auroc = auroc(scores, labels);
    auto predicted = threshold_at(scores, threshold);
    row.val_kappa = cohen_kappa(predicted, labels);
    row.val_accuracy = count_outcomes(predicted, labels).accuracy();
    for (const auto& [part, pair] : by_part) {
      auto part_predicted = threshold_at(pair.first, threshold);
      spdlog::info("  valid {:<10} n={:<4} AUROC {:.4f}  kappa {:.4f}  accuracy {:.4f}", part, pair.first.size(), auroc(pair.first, pair.second),
                   cohen_kappa(part_predicted, pair.second), count_outcomes(part_predicted, pair.second).accuracy());
    }
  }

  // ---- Checkpoints: saving -------------------------------------------------------------------

  std::string best_weights_name(const ChainTrainer& trainer) const {
    return trainer.file_stem == "model" ? std::string("best.pt") : "best-" + trainer.chain->name + ".pt";
  }

  nlohmann::json checkpoint_meta(int epoch, double score) const {
    nlohmann::json meta{{"epoch", epoch},
                        {"score", score},
                        {"monitor", train_.string("monitor")},
                        {"seed", seed_},
                        {"threshold", config_.threshold},
                        {"class_map", {{"0", "normal"}, {"1", "abnormal"}}},
                        {"best_score", best_score_ ? *best_score_ : score},
                        {"best_epoch", best_epoch_},
                        {"epochs_without_improvement", epochs_without_improvement_},
                        {"plateau_wait", plateau_wait_},
                        {"learning_rates", nlohmann::json::object()},
                        {"history", nlohmann::json::array()},
                        {"best", nlohmann::json::array()}};
    for (const auto& trainer : trainers_) meta["learning_rates"][trainer.file_stem] = learning_rate_of(*trainer.optimizer);
    for (const auto& row : history_) meta["history"].push_back(to_json(row));
    for (const auto& kept : best_)
      meta["best"].push_back({{"epoch", kept.epoch}, {"score", kept.score}, {"folder", kept.folder.filename().string()}});
    return meta;
  }

  // Writes the whole training state into `folder` (see commit_checkpoint_folder): every file under
  // FOLDER.tmp, meta.json last, then the renames. Each step is a counted file operation.
  void write_checkpoint(const fs::path& folder, int epoch, double score) {
    const fs::path temporary = with_suffix(folder, ".tmp");
    remove_all_durably(temporary);
    create_folder(temporary);
    for (auto& trainer : trainers_) {
      const fs::path weights = temporary / (trainer.file_stem + ".pt");
      count_file_operation("write weights", weights);
      call_plugin(trainer.chain->model.entry, [&] { trainer.chain->model.stage->save_weights(weights); });
      torch::serialize::OutputArchive archive;
      trainer.optimizer->save(archive);
      write_bytes_atomically(temporary / (trainer.file_stem + ".optimizer.pt"), archive_bytes(archive));
    }
    const auto& transforms = pipeline_->transforms();
    for (std::size_t position = 0; position < transforms.size(); ++position)
      if (transforms[position].stage->needs_fit()) {
        const fs::path state = temporary / transform_state_file(position);
        count_file_operation("write transform state", state);
        call_plugin(transforms[position].entry, [&] { transforms[position].stage->save_state(state); });
      }
    write_bytes_atomically(temporary / "random.pt", random_state_bytes());
    write_bytes_atomically(temporary / "pipeline.toml", read_file_bytes(config_.file));
    sync_folder_contents(temporary); // the files plugins wrote, too, are on disk before meta.json
    write_file_atomically(temporary / "meta.json", [&](std::ostream& out) { out << checkpoint_meta(epoch, score).dump(2) << '\n'; });
    commit_checkpoint_folder(temporary, folder);
  }

  // One epoch's checkpoints, in an order that leaves a complete, consistent set after a kill at
  // any file operation (tests/integration/train_test.cpp kills at each one in turn):
  //  1. epoch-NNNN/ when the epoch ranks among the keep_best best;
  //  2. last/;
  //  3. best.pt from the best epoch's folder, when this epoch is the best;
  //  4. removal of the epoch folders that fell out of the keep_best best;
  //  5. history.csv and curves.png.
  // A kill before 2 completes resumes from the previous epoch, recomputed identically; a kill after
  // it resumes from this one, and resume() redoes 3 and 5 (4 waits for the next save).
  void save_epoch(int epoch, double score, bool improved) {
    try {
      const fs::path checkpoints = out_ / "checkpoints";
      const auto keep = static_cast<std::size_t>(train_.integer("keep_best"));
      // NaN ranks below every number, so an undefined score never displaces a kept checkpoint.
      const auto ranks_above = [](double a, double b) { return !std::isnan(a) && (std::isnan(b) || a > b); };
      if (best_.size() < keep || ranks_above(score, best_.back().score)) {
        best_.push_back({epoch, score, checkpoints / epoch_folder_name(epoch)});
        std::stable_sort(best_.begin(), best_.end(), [&](const Checkpoint& a, const Checkpoint& b) { return ranks_above(a.score, b.score); });
        if (best_.size() > keep) best_.pop_back(); // never this epoch: it ranks above the one it displaces
        write_checkpoint(checkpoints / epoch_folder_name(epoch), epoch, score);
      }
      write_checkpoint(checkpoints / "last", epoch, score);
      if (improved) write_best_weights();
      prune_checkpoints(epoch);
      write_history();
    } catch (const std::exception& error) {
      // Exit 4 (an I/O failure), also when the plugin that writes the weights reports it.
      throw std::runtime_error(fmt::format("cannot save the checkpoint of epoch {} in {}: {}. The checkpoints saved before are "
                                           "intact; free space (or fix the folder) and continue with --resume",
                                           epoch, (out_ / "checkpoints").string(), error.what()));
    }
  }

  // best.pt (best-ROUTE.pt for routed chains): the weights of the best epoch, copied from its
  // checkpoint folder, which keep_best never removes. Returns whether anything was rewritten.
  bool write_best_weights() {
    if (best_epoch_ == 0) return false;
    bool rewritten = false;
    const fs::path folder = out_ / "checkpoints" / epoch_folder_name(best_epoch_);
    for (const auto& trainer : trainers_) {
      const fs::path source = folder / (trainer.file_stem + ".pt"), target = out_ / best_weights_name(trainer);
      const std::string bytes = read_file_bytes(source);
      std::error_code missing;
      if (fs::exists(target, missing) && read_file_bytes(target) == bytes) continue;
      write_bytes_atomically(target, bytes);
      rewritten = true;
    }
    return rewritten;
  }

  // Removes the epoch folders up to `epoch` that are not among the kept best (also the leftovers
  // of a prune that a kill interrupted). Folders of later epochs, left by a killed run, are
  // replaced when their epoch is recomputed.
  void prune_checkpoints(int epoch) {
    for (const auto& name : checkpoint_folder_names(out_ / "checkpoints")) {
      const std::string text = name.filename().string();
      if (!text.starts_with("epoch-") || fs::exists(with_suffix(name, ".tmp")) || fs::exists(with_suffix(name, ".old"))) continue;
      const int folder_epoch = std::atoi(text.c_str() + 6);
      if (folder_epoch <= 0 || folder_epoch > epoch) continue;
      if (std::none_of(best_.begin(), best_.end(), [&](const Checkpoint& kept) { return kept.epoch == folder_epoch; }))
        remove_all_durably(name);
    }
  }

  void write_history() {
    write_file_atomically(out_ / "history.csv", [&](std::ostream& out) {
      out << "epoch,learning_rate,train_loss,val_loss,val_auroc,val_kappa,val_accuracy,seconds,images_per_second\n";
      for (const auto& row : history_)
        out << fmt::format("{},{:.6g},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.2f},{:.2f}\n", row.epoch, row.learning_rate, row.train_loss,
                           row.val_loss, row.val_auroc, row.val_kappa, row.val_accuracy, row.seconds, row.images_per_second);
    });
    plot_history();
  }

  // curves.png: the loss and the validation metrics per epoch.
  void plot_history() { plot_training_curves(out_ / "history.csv", out_ / "curves.png", config_.settings.string("name")); }

  void adjust_learning_rate(int epoch, bool improved) {
    const std::string scheduler = train_.string("scheduler");
    for (auto& trainer : trainers_) {
      auto& optimizer = *trainer.optimizer;
      const double rate = learning_rate_of(optimizer);
      double next = rate;
      if (scheduler == "plateau") {
        if (improved) plateau_wait_ = 0;
        else if (++plateau_wait_ > train_.integer("plateau_patience")) {
          next = rate * train_.real("plateau_factor");
          plateau_wait_ = 0;
        }
      } else if (scheduler == "step" && epoch % train_.integer("step_size") == 0) {
        next = rate * train_.real("step_gamma");
      } else if (scheduler == "cosine") {
        const double initial = train_.real("learning_rate");
        next = 0.5 * initial * (1.0 + std::cos(M_PI * epoch / static_cast<double>(epochs_)));
      }
      if (next != rate) {
        set_learning_rate(optimizer, next);
        if (scheduler != "cosine") spdlog::info("learning rate of chain '{}' {:.3g} -> {:.3g}", trainer.chain->name, rate, next);
      }
    }
  }

  // ---- Checkpoints: resuming -----------------------------------------------------------------

  // Whether `folder` holds everything a resume reads (meta.json is written last, so this only
  // fails for folders that something other than radpipe cut short).
  bool is_resumable(const fs::path& folder) const {
    if (!read_checkpoint_meta(folder)) return false;
    for (const auto& trainer : trainers_)
      for (const auto& file : {trainer.file_stem + ".pt", trainer.file_stem + ".optimizer.pt"})
        if (!fs::is_regular_file(folder / file)) return false;
    return true;
  }

  // The complete checkpoint of the latest epoch: normally last/, else (last/ lost or older) the
  // newest epoch-NNNN/, which holds the same state. Interrupted saves are finished first.
  std::optional<fs::path> find_resume_checkpoint() {
    const fs::path checkpoints = out_ / "checkpoints", last = checkpoints / "last";
    std::optional<fs::path> newest;
    int newest_epoch = 0;
    for (const auto& name : checkpoint_folder_names(checkpoints)) {
      settle_checkpoint_folder(name);
      if (!is_resumable(name)) continue;
      const int epoch = (*read_checkpoint_meta(name))["epoch"].get<int>();
      if (epoch > newest_epoch || (epoch == newest_epoch && name == last)) {
        newest = name;
        newest_epoch = epoch;
      }
    }
    return newest;
  }

  void load_checkpoint_state(const fs::path& folder, const nlohmann::json& meta) {
    const auto number = [](const nlohmann::json& value) { return value.is_number() ? value.get<double>() : std::nan(""); };
    for (auto& trainer : trainers_) {
      call_plugin(trainer.chain->model.entry, [&] { trainer.chain->model.stage->load_weights(folder / (trainer.file_stem + ".pt")); });
      torch::serialize::InputArchive archive;
      archive.load_from((folder / (trainer.file_stem + ".optimizer.pt")).string());
      trainer.optimizer->load(archive);
      if (meta.contains("learning_rates") && meta["learning_rates"].contains(trainer.file_stem))
        set_learning_rate(*trainer.optimizer, meta["learning_rates"][trainer.file_stem].get<double>());
    }
    const auto& transforms = pipeline_->transforms();
    for (std::size_t position = 0; position < transforms.size(); ++position)
      if (transforms[position].stage->needs_fit())
        call_plugin(transforms[position].entry, [&] { transforms[position].stage->load_state(folder / transform_state_file(position)); });
    if (fs::exists(folder / "random.pt")) restore_random_state(folder / "random.pt");
    else spdlog::warn("{} holds no random generator state (an older radpipe wrote it): the resumed run will not repeat the "
                      "uninterrupted one exactly", folder.string());
    history_.clear();
    best_.clear();
    for (const auto& item : meta["history"]) history_.push_back(history_from_json(item));
    for (const auto& item : meta["best"])
      best_.push_back({item["epoch"].get<int>(), number(item["score"]), out_ / "checkpoints" / item["folder"].get<std::string>()});
    if (meta.contains("best_score") && meta["best_score"].is_number()) best_score_ = meta["best_score"].get<double>();
    best_epoch_ = meta.value("best_epoch", best_.empty() ? 0 : best_.front().epoch);
    epochs_without_improvement_ = meta.value("epochs_without_improvement", 0);
    plateau_wait_ = meta.value("plateau_wait", std::int64_t{0});
  }

  // Continues from the newest complete checkpoint; returns the first epoch to run. Finishes the
  // save a kill interrupted: last/ when it was the one lost, best.pt when it lags behind the
  // best epoch, history.csv. Never removes a complete checkpoint of an epoch it resumes after.
  int resume() {
    const auto found = find_resume_checkpoint();
    if (!found) {
      spdlog::info("--resume: no complete checkpoint in {}, starting afresh", (out_ / "checkpoints").string());
      return 1;
    }
    const nlohmann::json meta = *read_checkpoint_meta(*found);
    load_checkpoint_state(*found, meta);
    const int epoch = meta["epoch"].get<int>();
    const double score = meta["score"].is_number() ? meta["score"].get<double>() : std::nan("");
    try {
      if (found->filename() != "last") {
        spdlog::info("{} is newer than the last checkpoint: making it the last", found->string());
        write_checkpoint(out_ / "checkpoints" / "last", epoch, score);
      }
      if (write_best_weights()) spdlog::info("best.pt brought up to date with the best epoch, {}", best_epoch_);
      write_history();
    } catch (const std::exception& error) {
      throw std::runtime_error(fmt::format("cannot finish the interrupted save in {}: {}", (out_ / "checkpoints").string(), error.what()));
    }
    spdlog::info("resuming after epoch {} from {}", epoch, found->string());
    return epoch + 1;
  }

  const PipelineConfig& config_;
  const Params& train_;
  const TrainOptions& options_;
  std::uint64_t seed_ = 0;
  int threads_ = 1;
  int epochs_ = 1;
  bool mixed_precision_ = false;
  fs::path out_;
  std::unique_ptr<Pipeline> pipeline_;
  std::vector<ChainTrainer> trainers_;
  std::vector<SampleInfo> train_set_, valid_set_;
  ClassWeights global_weights_;
  std::map<std::string, ClassWeights> part_weights_;
  std::vector<HistoryRow> history_;
  std::vector<Checkpoint> best_;
  std::optional<double> best_score_;
  int best_epoch_ = 0; // 0: no epoch has had a defined score yet
  int epochs_without_improvement_ = 0;
  std::int64_t plateau_wait_ = 0;
};

} // namespace

int command_train(const GlobalOptions& global, const TrainOptions& options) {
  PluginHost plugins;
  load_plugins(plugins, global);
  auto config = validate_or_report(options.pipeline, plugins);
  if (!config) return exit_invalid;
  if (!config->train) {
    std::cerr << options.pipeline.string() << ": error: no [train] table; `radpipe inspect '[train]'` lists its keys\n";
    return exit_invalid;
  }
  Trainer trainer(*config, plugins, global, options);
  return trainer.run();
}

} // namespace radpipe::host
