#include "commands/train.hpp"

#include "io/atomic_file.hpp"
#include "report/gnuplot.hpp"
#include "runtime/inference.hpp"
#include "runtime/mixup.hpp"
#include "report/metrics.hpp"
#include "runtime/pipeline.hpp"
#include "config/pipeline_config.hpp"
#include "io/progress.hpp"
#include "runtime/chain_runner.hpp"
#include "runtime/distributed.hpp"
#include "runtime/ensemble.hpp"
#include "runtime/precision.hpp"
#include "runtime/routing.hpp"
#include "runtime/sample_stream.hpp"
#include "runtime/tensor.hpp"
#include "runtime/weight_average.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
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

struct HistoryRow {
  int epoch = 0;
  double learning_rate = 0, train_loss = 0, val_loss = 0, val_auroc = 0, val_kappa = 0, val_accuracy = 0, seconds = 0,
         images_per_second = 0, val_macro_f1 = 0;
};

nlohmann::json to_json(const HistoryRow& row) {
  return {{"epoch", row.epoch},           {"learning_rate", row.learning_rate}, {"train_loss", row.train_loss},
          {"val_loss", row.val_loss},     {"val_auroc", row.val_auroc},         {"val_kappa", row.val_kappa},
          {"val_accuracy", row.val_accuracy}, {"seconds", row.seconds},        {"images_per_second", row.images_per_second},
          {"val_macro_f1", row.val_macro_f1}};
}

HistoryRow history_from_json(const nlohmann::json& item) {
  auto number = [&](const char* key) { return item.contains(key) && item[key].is_number() ? item[key].get<double>() : std::nan(""); };
  return {item.at("epoch").get<int>(), number("learning_rate"), number("train_loss"), number("val_loss"), number("val_auroc"),
          number("val_kappa"), number("val_accuracy"), number("seconds"), number("images_per_second"), number("val_macro_f1")};
}

// The trainable parameters of `module`: all but those `freeze` names by prefix, which stop
// receiving gradients.
std::vector<torch::Tensor> trainable_parameters(torch::nn::Module& module, const std::vector<std::string>& freeze) {
  std::vector<torch::Tensor> parameters;
  for (auto& item : module.named_parameters()) {
    const bool frozen = std::any_of(freeze.begin(), freeze.end(), [&](const std::string& prefix) { return item.key().rfind(prefix, 0) == 0; });
    if (frozen) item.value().set_requires_grad(false);
    if (item.value().requires_grad()) parameters.push_back(item.value());
  }
  return parameters;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Params& train, torch::nn::Module& module) {
  std::vector<torch::Tensor> parameters = trainable_parameters(module, train.strings("freeze"));
  if (parameters.empty()) throw std::runtime_error("every parameter of the model is frozen: nothing to train");
  const double rate = train.real("learning_rate"), decay = train.real("weight_decay");
  const std::string& name = train.string("optimizer");
  if (name == "sgd")
    return std::make_unique<torch::optim::SGD>(parameters,
                                               torch::optim::SGDOptions(rate).momentum(train.real("momentum")).weight_decay(decay));
  if (name == "adagrad")
    return std::make_unique<torch::optim::Adagrad>(parameters, torch::optim::AdagradOptions(rate).weight_decay(decay));
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
  if (monitor == "accuracy") return row.val_accuracy;
  if (monitor == "macro_f1") return row.val_macro_f1;
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

torch::Tensor cpu_random_state() {
  return at::globalContext().defaultGenerator(at::kCPU).get_state();
}

// The state of every random generator LibTorch keeps (dropout and initialisation draw from them):
// saved with each checkpoint so that a resumed run draws what the uninterrupted one would have.
// In distributed training rank 0 writes its own as "cpu" and the other ranks' as "cpu.rankN".
std::string random_state_bytes(const std::map<int, torch::Tensor>& other_ranks) {
  torch::serialize::OutputArchive archive;
  archive.write("cpu", cpu_random_state());
  for (const auto& [rank, state] : other_ranks) archive.write("cpu.rank" + std::to_string(rank), state);
  if (torch::cuda::is_available())
    for (std::size_t device = 0; device < torch::cuda::device_count(); ++device)
      archive.write("cuda" + std::to_string(device),
                    at::globalContext().defaultGenerator(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device))).get_state());
  return archive_bytes(archive);
}

// Restores this rank's generators from random.pt; rank 0 also keeps the other ranks' states in
// `other_ranks`, to write them again. Returns false when the file holds nothing for `rank`.
bool restore_random_state(const fs::path& file, int rank, std::map<int, torch::Tensor>& other_ranks) {
  torch::serialize::InputArchive archive;
  archive.load_from(file.string());
  torch::Tensor state;
  other_ranks.clear();
  for (const auto& key : archive.keys())
    if (key.starts_with("cpu.rank") && archive.try_read(key, state))
      other_ranks[std::atoi(key.c_str() + 8)] = state.clone();
  if (rank > 0) {
    if (!other_ranks.contains(rank)) return false;
    at::Generator cpu = at::globalContext().defaultGenerator(at::kCPU);
    cpu.set_state(other_ranks[rank]);
    return true;
  }
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
  return true;
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

// One chain in training: its optimizer and schedule, its share of the data, its best score.
// A batch's mixup draw with its partners as an index tensor on the batch's device.
struct BatchMix {
  double lambda = 1.0;
  torch::Tensor partner;
};

struct ChainTrainer {
  Chain* chain = nullptr;
  Params train;                // [train] with the chain's overrides
  std::string file_stem;       // "model" for the default chain, "model-NAME" for routed ones
  bool selected = true;        // false: `--route` trains another chain; this one keeps its weights
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<SampleInfo> train_set, valid_set;
  ClassWeights global_weights;
  std::map<std::string, ClassWeights> part_weights; // binary chains, per body part
  std::vector<float> class_weights;                 // multi-class chains, per class
  std::vector<HistoryRow> history;
  std::optional<double> best_score;
  int best_epoch = 0; // the epoch of best.pt's weights; 0: none yet
  int epochs_without_improvement = 0;
  std::int64_t plateau_wait = 0;
  bool stopped = false; // early stopping ended this chain's training
  std::int64_t steps_done = 0; // optimisation steps so far
  int ranks = 1;               // processes training this chain together; each trains its share of an epoch
  std::unique_ptr<GradientAverager> averager; // distributed training: averages the gradients across the ranks
  Precision precision = Precision::fp32;      // of the training forward pass ([train] precision)
  Precision scoring_precision = Precision::fp32; // of validation, as predict scores ([model] precision)
  std::optional<LossScaler> scaler;           // fp16 training
  std::unique_ptr<WeightAverage> average;     // [train] ema_decay: validated and saved in place of the live weights

  // [train] epochs, or with [train] steps as many passes as the steps take (the last one stops
  // at the count).
  int epochs() const {
    const auto steps = train.integer("steps");
    if (steps <= 0) return static_cast<int>(train.integer("epochs"));
    const auto batch = static_cast<std::int64_t>(std::max<std::size_t>(chain->batch_size, 1));
    const auto share = (static_cast<std::int64_t>(train_set.size()) + ranks - 1) / ranks;
    const auto per_epoch = std::max<std::int64_t>(1, (share + batch - 1) / batch);
    return static_cast<int>((steps + per_epoch - 1) / per_epoch);
  }
  bool step_budget_spent() const { return train.integer("steps") > 0 && steps_done >= train.integer("steps"); }
  std::string label() const { return chain->name == "default" ? std::string("model") : "chain '" + chain->name + "'"; }
  // history.csv and best.pt for the [model] chain, history-NAME.csv and best-NAME.pt for routes.
  std::string suffix() const { return chain->name == "default" ? std::string() : "-" + chain->name; }
  // The weights validation scores: the average when one is kept, else the live ones.
  std::string validated_file() const { return file_stem + (average ? ".average.pt" : ".pt"); }
};

nlohmann::json chain_state_json(const ChainTrainer& trainer) {
  nlohmann::json state{{"best_score", trainer.best_score ? nlohmann::json(*trainer.best_score) : nlohmann::json()},
                       {"best_epoch", trainer.best_epoch},
                       {"epochs_without_improvement", trainer.epochs_without_improvement},
                       {"plateau_wait", trainer.plateau_wait},
                       {"stopped", trainer.stopped},
                       {"learning_rate", learning_rate_of(*trainer.optimizer)},
                       {"steps", trainer.steps_done},
                       {"loss_scale", trainer.scaler ? nlohmann::json(trainer.scaler->scale()) : nlohmann::json()},
                       {"history", nlohmann::json::array()}};
  for (const auto& row : trainer.history) state["history"].push_back(to_json(row));
  if (trainer.chain->multiclass()) state["classes"] = trainer.chain->classes;
  return state;
}

void restore_chain_state(ChainTrainer& trainer, const nlohmann::json& state) {
  trainer.history.clear();
  for (const auto& item : state.at("history")) trainer.history.push_back(history_from_json(item));
  if (state.at("best_score").is_number()) trainer.best_score = state.at("best_score").get<double>();
  trainer.best_epoch = state.value("best_epoch", 0);
  trainer.epochs_without_improvement = state.at("epochs_without_improvement").get<int>();
  trainer.plateau_wait = state.at("plateau_wait").get<std::int64_t>();
  trainer.stopped = state.at("stopped").get<bool>();
  trainer.steps_done = state.value("steps", std::int64_t{0});
  if (trainer.scaler && state.contains("loss_scale") && state["loss_scale"].is_number())
    trainer.scaler->set_scale(state["loss_scale"].get<double>());
  set_learning_rate(*trainer.optimizer, state.at("learning_rate").get<double>());
}

struct ValidationScores {
  std::vector<double> scores; // binary: positive probability; multi-class: the true class's
  std::vector<int> labels;
  std::vector<int> predicted;
  double loss_sum = 0;
  std::map<std::string, std::pair<std::vector<double>, std::vector<int>>> by_part;
};

class Trainer {
public:
  Trainer(const PipelineConfig& config, const PluginHost& plugins, const GlobalOptions& global, const TrainOptions& options)
      : config_(config), train_(*config.train), options_(options) {
    seed_ = static_cast<std::uint64_t>(config.settings.integer("seed"));
    torch::manual_seed(seed_);
    threads_ = resolve_threads(global.threads > 0 ? global.threads : static_cast<int>(config.settings.integer("threads")));
    torch::set_num_threads(threads_);
    out_ = options.out_dir.empty() ? train_.path("output") : options.out_dir;
    if (!options.route.empty() && config.chain(options.route) == nullptr) {
      std::vector<std::string> names;
      for (const auto& chain : config.chains) names.push_back(chain.name);
      throw std::runtime_error("--route " + options.route + ": the pipeline has no chain of that name (chains: " + join(names) + ")");
    }
    if (config.route && !config.route->consult().empty() && config.route->train_by().empty())
      throw std::runtime_error(format(Diagnostic{config.route->router.where,
                                                 "[route] consults chain '" + config.route->consult() +
                                                     "', whose predictions cannot route training images before it is trained: "
                                                     "set train_by = \"FIELD\" (e.g. \"body_part\") to route them by a known field"}));
    for (const auto& chain : config.chains) {
      if (const auto members = chain.ensemble(); !members.empty())
        throw std::runtime_error(format(Diagnostic{
            ensemble_location(chain), ensemble_refusal(chain) +
                                          ", and training trains one model per chain: train each member on its own "
                                          "and list their best.pt in ensemble, or train this model with --set " +
                                          chain.model.table + ".ensemble=[]"}));
      if (TestTimeAugmentation::from(chain.model_host).enabled())
        spdlog::info("chain '{}': training ignores test-time augmentation ({}); predict, evaluate and explain use it", chain.name,
                     scoring_summary(chain));
    }
    BuildOptions build;
    build.threads = threads_;
    build.device_override = options.device;
    const auto place = group_place_from_environment();
    if (place && place->world_size > 1 && options.device.empty()) build.device_override = rank_device(config, *place);
    build.sample_filter = options.sample_filter;
    pipeline_ = std::make_unique<Pipeline>(config, plugins, build);
    for (auto& chain : pipeline_->chains()) add_chain(chain);
    if (place && place->world_size > 1)
      join_group(*place);
    else if (options.nproc > 1)
      throw std::runtime_error(fmt::format("--nproc {}: this rank sees no group of {} (WORLD_SIZE is {})",
                                           options.nproc, options.nproc, place ? place->world_size : 1));
  }

  int run() {
    if (leader()) prepare_output_folder(out_, options_.out_dir.empty() ? "[train] output" : "--out");
    list_samples();
    for (auto& trainer : trainers_) compute_class_weights(trainer);
    if (leader()) create_folder(out_ / "checkpoints");
    int first_epoch = 1;
    if (options_.resume)
      first_epoch = group_ ? resume_group() : resume();
    else if (!options_.route.empty()) carry_other_chains();
    if (first_epoch == 1) fit_transforms();
    if (group_) start_from_leaders_model();
    int last_epoch = 0;
    for (const auto& trainer : trainers_)
      if (trainer.selected) last_epoch = std::max(last_epoch, options_.epochs.value_or(trainer.epochs()));
    spdlog::info("training '{}' for epochs {}..{}: {}; {} thread{}; output {}", config_.settings.string("name"), first_epoch, last_epoch,
                 describe_sets(), threads_, threads_ == 1 ? "" : "s", out_.string());
    for (int epoch = first_epoch; epoch <= last_epoch; ++epoch) {
      std::vector<ChainTrainer*> active;
      for (auto& trainer : trainers_)
        if (trainer.selected && !trainer.stopped && epoch <= options_.epochs.value_or(trainer.epochs())) active.push_back(&trainer);
      if (active.empty()) break;
      run_epoch(epoch, last_epoch, active);
      // The schedule moves before the save, so that the checkpoint holds the state the next epoch
      // starts from and a resumed run continues exactly where this one would have.
      for (auto* trainer : active) adjust_learning_rate(*trainer, epoch, last_epoch);
      if (group_) gather_random_states();
      if (leader()) save_epoch(epoch, active);
    }
    for (const auto& trainer : trainers_) {
      if (!trainer.selected || !leader()) continue;
      const std::string monitor = trainer.train.string("monitor");
      const double best = trainer.best_score ? (monitor == "val_loss" ? -*trainer.best_score : *trainer.best_score) : 0.0;
      const fs::path weights = out_ / ("best" + trainer.suffix() + ".pt");
      if (trainer.train.string("select") == "last")
        spdlog::info("{}: best {} {:.4f}; the last epoch's weights (select = last) in {}", trainer.label(), monitor, best, weights.string());
      else
        spdlog::info("{}: best {} {:.4f}; best weights in {}", trainer.label(), monitor, best, weights.string());
    }
    return exit_ok;
  }

private:
 // ---- Distributed training (docs/distributed.md) -------------------------------------------

 // One GPU per process, as torchrun users expect: a group whose chains ask for "cuda" or "auto" puts
 // each rank on GPU LOCAL_RANK (modulo the GPUs it sees); an explicit cuda:N is kept. Empty (no
 // override) otherwise.
 static std::string rank_device(const PipelineConfig& config, const GroupPlace& place) {
   if (!torch::cuda::is_available()) return {};
   for (const auto& chain : config.chains)
     if (chain.device() != "cuda" && chain.device() != "auto") return {};
   return fmt::format("cuda:{}", place.local_rank % static_cast<int>(torch::cuda::device_count()));
 }

 // Rank 0 (or the only process) writes checkpoints, history and curves.
 bool leader() const { return !group_ || group_->rank() == 0; }

 void join_group(const GroupPlace& place) {
   if (options_.sample_filter)
     throw std::runtime_error(
         "radpipe cv trains its folds in one process: run it without a launcher's RANK/WORLD_SIZE "
         "(distributed training is for radpipe train)");
   std::vector<std::string> chains;
   for (const auto& trainer : trainers_)
     if (trainer.selected) chains.push_back(trainer.chain->name);
   // Every rank must run the same collectives in the same order. With one chain they do; routed
   // chains would take a different number of batches on each rank's share and hang the group.
   if (chains.size() != 1)
     throw std::runtime_error(
         fmt::format("distributed training trains one model chain per run, and this pipeline trains {} ({}): "
                     "choose one with --route NAME",
                     chains.size(), join(chains)));
   auto logger = spdlog::default_logger();
   logger->set_pattern(fmt::format("%^[%l]%$ [rank {}] %v", place.rank));
   if (place.rank > 0 && logger->level() == spdlog::level::info) logger->set_level(spdlog::level::warn);
   const std::chrono::seconds timeout(train_.integer("distributed_timeout"));
   spdlog::info("rank {} of {} (local rank {}, from {}'s environment): joining the group at {}:{}",
                place.rank, place.world_size, place.local_rank, place.source, place.master_address,
                place.master_port);
   ChainTrainer* trained = nullptr;
   for (auto& trainer : trainers_)
     if (trainer.selected) trained = &trainer;
   // Gloo for a CPU chain, NCCL for a CUDA one (the collectives run where the gradients are).
   group_ = std::make_unique<ProcessGroup>(place, timeout, trained->chain->device);
   std::vector<torch::Tensor> parameters;
   for (auto& group : trained->optimizer->param_groups())
     for (auto& parameter : group.params()) parameters.push_back(parameter);
   trained->ranks = group_->size();
   const auto bucket_bytes = static_cast<std::size_t>(train_.real("distributed_bucket_mb") * 1024 * 1024);
   trained->averager = std::make_unique<GradientAverager>(*group_, std::move(parameters), std::max<std::size_t>(bucket_bytes, 1),
                                                          train_.boolean("distributed_overlap"));
   spdlog::info("{} of {} ranks over {} on {}; gradients in {} bucket{} of at most {:g} MiB, all-reduced {}", trained->label(),
                place.world_size, group_->backend(), trained->chain->device.str(), trained->averager->buckets(),
                trained->averager->buckets() == 1 ? "" : "s", train_.real("distributed_bucket_mb"),
                train_.boolean("distributed_overlap") ? "during the backward pass" : "after the backward pass");
 }

 // The model tensors (parameters, then buffers) of the chains this run trains.
 std::vector<torch::Tensor> model_tensors(bool parameters, bool buffers) {
   std::vector<torch::Tensor> tensors;
   for (auto& trainer : trainers_) {
     if (!trainer.selected) continue;
     torch::nn::Module* module = trainer.chain->model.stage->trainable();
     if (parameters)
       for (auto& parameter : module->parameters()) tensors.push_back(parameter);
     if (buffers)
       for (auto& buffer : module->buffers()) tensors.push_back(buffer);
   }
   return tensors;
 }

 // Every rank starts from rank 0's weights and buffers, as DistributedDataParallel does: equal
 // seeds give equal weights already, but a plugin that initialises from its own generator would not.
 void start_from_leaders_model() {
   torch::NoGradGuard no_gradients;
   std::vector<torch::Tensor> tensors = model_tensors(true, true);
   group_->broadcast(tensors, 0, "the broadcast of rank 0's weights");
 }

 // BatchNorm running statistics (and any other floating-point buffer) averaged across the ranks.
 void average_buffers() {
   torch::NoGradGuard no_gradients;
   std::vector<torch::Tensor> buffers;
   for (auto& buffer : model_tensors(false, true))
     if (buffer.is_floating_point()) buffers.push_back(buffer);
   if (buffers.empty()) return;
   std::vector<torch::Tensor> pieces;
   for (auto& buffer : buffers) pieces.push_back(buffer.reshape({-1}).to(torch::kFloat64));
   std::vector<torch::Tensor> flat{torch::cat(pieces)};
   group_->all_reduce_sum(flat, "the averaging of BatchNorm statistics");
   flat[0].div_(group_->size());
   std::int64_t offset = 0;
   for (auto& buffer : buffers) {
     buffer.copy_(flat[0].narrow(0, offset, buffer.numel()).view_as(buffer));
     offset += buffer.numel();
   }
 }

 // Rank 0 keeps every rank's generator state for the checkpoint.
 void gather_random_states() {
   const std::vector<torch::Tensor> states =
       group_->all_gather(cpu_random_state(), "the gathering of random generator states");
   other_rank_states_.clear();
   for (int rank = 1; rank < group_->size(); ++rank)
     other_rank_states_[rank] = states[static_cast<std::size_t>(rank)];
 }

 // --resume in a group: rank 0 finds and settles the checkpoint (resume()), then the others load
 // the same one (the output folder must be shared by every rank's machine).
 int resume_group() {
   std::vector<torch::Tensor> epoch{torch::zeros({1}, torch::kFloat64)};
   if (leader()) epoch[0].fill_(resume());
   group_->broadcast(epoch, 0, "the broadcast of the epoch to resume from");
   const int first_epoch = static_cast<int>(epoch[0].item<double>());
   if (!leader() && first_epoch > 1) {
     const fs::path last = out_ / "checkpoints" / "last";
     const auto meta = read_checkpoint_meta(last);
     if (!meta || (*meta)["epoch"].get<int>() + 1 != first_epoch)
       throw std::runtime_error(
           fmt::format("rank {}: {} does not hold epoch {}, which rank 0 resumes from: --resume needs the "
                       "output folder on storage every rank sees",
                       group_->rank(), last.string(), first_epoch - 1));
     load_checkpoint_state(last, *meta);
   }
   return first_epoch;
 }

 struct StepAgreement {
   double ranks_with_batch = 1;
   double total_weight = 0; // the sum of the ranks' loss denominators: the global batch
   bool any_nonfinite = false;
 };

 // Before each optimisation step the ranks agree on who has a batch, the global batch's size and
 // whether a loss is not finite, so that they all take or skip the step together.
 StepAgreement agree_on_step(bool has_batch, double weight, bool nonfinite) {
   std::vector<torch::Tensor> flags{torch::tensor(
       std::vector<double>{has_batch ? 1.0 : 0.0, weight, nonfinite ? 1.0 : 0.0}, torch::kFloat64)};
   group_->all_reduce_sum(flags, "the agreement on the next step");
   const auto values = flags[0].accessor<double, 1>();
   return {values[0], values[1], values[2] > 0};
 }

 // What the loss of a batch is averaged over: its images, or for weighted softmax cross-entropy
 // the sum of their class weights, so that ranks weighted by it give the global batch's mean.
 double loss_denominator(const ChainTrainer& trainer, const std::vector<Sample>& batch) const {
   if (!trainer.chain->multiclass()) return static_cast<double>(batch.size());
   double sum = 0;
   for (const auto& sample : batch)
     sum += trainer.class_weights[static_cast<std::size_t>(*trainer.chain->target_of(sample.info))];
   return sum;
 }

 // A rank whose share of the epoch ran out (a shorter last batch elsewhere, images skipped as
 // unreadable) takes part in the steps the others still take, with zero gradients, so that its
 // collectives match theirs and its optimizer steps on the same average. False when no rank has
 // a batch left.
 bool step_without_batch(ChainTrainer& trainer, int epoch) {
   const StepAgreement agreed = agree_on_step(false, 0.0, false);
   if (agreed.ranks_with_batch == 0) return false;
   auto& model = trainer.chain->model;
   std::string problem;
   if (agreed.any_nonfinite) {
     problem = "the training loss of another rank is not finite";
   } else {
     call_plugin(model.entry, [&] { trainer.optimizer->zero_grad(); });
     trainer.averager->average(0.0, agreed.total_weight);
     call_plugin(model.entry, [&] {
       if (!unscale_gradients(trainer)) return; // as the ranks with a batch do: their scales stay equal
       if (!gradients_are_finite(*model.stage->trainable())) {
         problem = "a gradient is not finite";
         trainer.optimizer->zero_grad();
         return;
       }
       trainer.optimizer->step();
     });
   }
   if (problem.empty()) {
     count_step(trainer);
     return true;
   }
   if (trainer.train.string("on_nonfinite_loss") == "skip") {
     spdlog::warn("epoch {}, {}: {}; step skipped ([train] on_nonfinite_loss = \"skip\")", epoch,
                  trainer.label(), problem);
     return true;
   }
   throw std::runtime_error(
       fmt::format("epoch {}, {}: {}, so training stops before the weights are spoiled (the rank whose loss "
                   "it was names the batch and the likely cause)",
                   epoch, trainer.label(), problem));
 }

 // This rank's share of an epoch's shuffled order ([train] distributed_sampler).
 std::vector<SampleInfo> rank_order(const std::vector<SampleInfo>& order) const {
   const bool pad = train_.string("distributed_sampler") == "pad";
   std::vector<SampleInfo> share;
   for (const std::size_t position : rank_share(order.size(), group_->rank(), group_->size(), pad))
     share.push_back(order[position]);
   if (share.empty())
     throw std::runtime_error(fmt::format(
         "{} training images leave nothing to {} ranks with [train] distributed_sampler = \"drop\"",
         order.size(), group_->size()));
   return share;
 }

 // Rank 0's validation values, the same on every rank, so that they all take the same decisions
 // (best epoch, plateau, early stopping).
 void share_validation(HistoryRow& row) {
   std::vector<torch::Tensor> values{torch::tensor(
       std::vector<double>{row.val_loss, row.val_auroc, row.val_kappa, row.val_accuracy, row.val_macro_f1},
       torch::kFloat64)};
   group_->broadcast(values, 0, "the broadcast of rank 0's validation");
   const auto shared = values[0].accessor<double, 1>();
   row.val_loss = shared[0];
   row.val_auroc = shared[1];
   row.val_kappa = shared[2];
   row.val_accuracy = shared[3];
   row.val_macro_f1 = shared[4];
 }

  // After each optimisation step: the step count, the weight average, a step-based schedule.
  void count_step(ChainTrainer& trainer) {
    ++trainer.steps_done;
    if (trainer.average) call_plugin(trainer.chain->model.entry, [&] { trainer.average->update(trainer.steps_done); });
    drop_learning_rate_by_step(trainer);
  }

  void add_chain(Chain& chain) {
    ChainTrainer trainer;
    trainer.chain = &chain;
    trainer.train = chain.config->train.value_or(train_);
    trainer.file_stem = chain_weights_file(chain.name).substr(0, chain_weights_file(chain.name).size() - 3);
    trainer.selected = options_.route.empty() || options_.route == chain.name;
    torch::nn::Module* module = call_plugin(chain.model.entry, [&] { return chain.model.stage->trainable(); });
    if (module == nullptr) {
      if (trainer.selected)
        throw std::runtime_error("model chain '" + chain.name + "' (" + chain.model.entry.stage->name + ") cannot be trained: it is inference-only" +
                                 (config_.chains.size() > 1 ? "; train the other chains with --route NAME" : ""));
      return;
    }
    trainer.optimizer = make_optimizer(trainer.train, *module);
    trainer.precision = parse_precision(trainer.train.string("precision")).value_or(Precision::fp32);
    trainer.scoring_precision = parse_precision(chain.config->model_host.string("precision")).value_or(Precision::fp32);
    if (const std::string problem = precision_problem(trainer.precision, chain.device); trainer.selected && !problem.empty())
      throw std::runtime_error(fmt::format("{}: [train] of {} on {}: {}", config_.file.string(), trainer.label(), chain.device.str(), problem));
    if (trainer.precision == Precision::fp16) trainer.scaler.emplace();
    if (const double alpha = trainer.train.real("mixup"); trainer.selected && alpha > 0)
      spdlog::info("{}: mixup of each training batch with a shuffled copy of itself, lambda ~ Beta({:g}, {:g})", trainer.label(),
                   alpha, alpha);
    if (const double decay = trainer.train.real("ema_decay"); trainer.selected && decay > 0) {
      trainer.average = std::make_unique<WeightAverage>(*module, decay);
      spdlog::info("{}: validating and saving an exponential moving average of the weights (decay {:g}; "
                   "checkpoints keep the live weights too, to resume)",
                   trainer.label(), decay);
    }
    if (trainer.selected && trainer.precision != Precision::fp32)
      spdlog::info("{}: training forward pass in {} autocast on {}{}", trainer.label(), precision_name(trainer.precision),
                   chain.device.str(), trainer.scaler ? ", with a dynamic loss scaler" : "");
    trainers_.push_back(std::move(trainer));
  }

  ChainTrainer* trainer_of(const Chain* chain) {
    for (auto& trainer : trainers_)
      if (trainer.chain == chain) return &trainer;
    return nullptr;
  }

  std::string describe_sets() const {
    std::vector<std::string> parts;
    for (const auto& trainer : trainers_)
      if (trainer.selected)
        parts.push_back(fmt::format("{} on {} images, validating on {}", trainer.label(), trainer.train_set.size(), trainer.valid_set.size()));
    return join(parts, "; ");
  }

  // The chains that learn from a sample: the one its known field routes it to, and a consulted
  // classifier, which learns from every image whose class it knows.
  std::vector<Chain*> chains_for(const SampleInfo& info, StudyRouter& router) {
    std::vector<Chain*> chains;
    Chain* consulted = config_.route && !config_.route->consult().empty() ? pipeline_->chain(config_.route->consult()) : nullptr;
    if (consulted != nullptr && consulted->target_of(info)) chains.push_back(consulted);
    if (Chain* routed = router.assign(info); routed != nullptr && routed != consulted) chains.push_back(routed);
    return chains;
  }

  void list_samples() {
    auto& reader = pipeline_->reader();
    const std::string train_split = train_.string("train_split"), valid_split = train_.string("valid_split");
    StudyRouter router(*pipeline_, {RunMode::Train, seed_, 0}, config_.route ? config_.route->train_by() : std::string());
    std::size_t unassigned = 0;
    std::uint64_t listed = 0;
    while (auto info = call_plugin(reader.entry, [&] { return reader.stage->next(); })) {
      if (info->split != train_split && info->split != valid_split) continue;
      info->index = listed++; // identifies the image across the chains' sets (readers need not number them)
      const std::vector<Chain*> chains = chains_for(*info, router);
      if (chains.empty()) ++unassigned;
      for (Chain* chain : chains) {
        ChainTrainer* trainer = trainer_of(chain);
        if (trainer == nullptr || !trainer->selected) continue;
        if (!chain->target_of(*info))
          throw std::runtime_error("sample " + info->id + " (" + info->path + ") has no " +
                                   (chain->multiclass() ? "value of '" + chain->config->target() + "' among the classes of chain '" + chain->name + "'"
                                                        : std::string("label")) +
                                   "; training needs labelled data");
        if (!chain->multiclass()) require_binary_label(*info);
        (info->split == train_split ? trainer->train_set : trainer->valid_set).push_back(*info);
      }
    }
    if (unassigned > 0) spdlog::info("{} images go to no chain ([route] on_unknown = \"skip\") and are not trained on", unassigned);
    const bool any_training_images = std::any_of(trainers_.begin(), trainers_.end(), [](const ChainTrainer& trainer) {
      return trainer.selected && !trainer.train_set.empty();
    });
    for (auto& trainer : trainers_) {
      if (!trainer.selected) continue;
      if (trainer.train_set.empty() && any_training_images && trainer.valid_set.empty()) {
        // A route the data never reaches (a part this dataset lacks) is left as it starts, loudly:
        // the other chains still train, and its weights are kept in the checkpoint as given.
        spdlog::warn("{}: no image of this dataset reaches it: not trained, its weights stay as they start (the model "
                     "table's weights, or the initialisation); give it images, or train it on other data with --route",
                     trainer.label());
        trainer.selected = false;
        continue;
      }
      if (trainer.train_set.empty())
        throw std::runtime_error(trainer.label() + ": no sample has split '" + train_split + "': nothing to train on");
      if (trainer.valid_set.empty())
        throw std::runtime_error(trainer.label() + ": no sample has split '" + valid_split + "': nothing to validate on");
      if (auto limit = static_cast<std::size_t>(trainer.train.integer("limit")); limit > 0 && limit < trainer.train_set.size()) {
        std::mt19937_64 random(seed_);
        std::shuffle(trainer.train_set.begin(), trainer.train_set.end(), random);
        trainer.train_set.resize(limit);
        trainer.valid_set.resize(std::min(trainer.valid_set.size(), std::max<std::size_t>(limit / 2, 8)));
      }
    }
  }

  // Every distinct image of the given chains' sets, in listing order, each once.
  static std::vector<SampleInfo> distinct(const std::vector<const ChainTrainer*>& trainers, std::vector<SampleInfo> ChainTrainer::*set) {
    std::map<std::uint64_t, const SampleInfo*> by_index;
    for (const auto* trainer : trainers)
      for (const auto& info : (*trainer).*set) by_index.emplace(info.index, &info);
    std::vector<SampleInfo> all;
    for (const auto& [index, info] : by_index) all.push_back(*info);
    return all;
  }

  std::vector<SampleInfo> union_of(std::vector<SampleInfo> ChainTrainer::*set) const {
    std::vector<const ChainTrainer*> selected;
    for (const auto& trainer : trainers_)
      if (trainer.selected) selected.push_back(&trainer);
    return distinct(selected, set);
  }

  // Transforms with learned state (dataset standardisation) fit on the training split, each seeing
  // samples as the transforms before it leave them, in one streaming pass per such transform:
  // shared steps on every chain's training images, a chain's own steps on that chain's.
  void fit_transforms() {
    const auto& shared = pipeline_->transforms();
    const std::vector<SampleInfo> everything = union_of(&ChainTrainer::train_set);
    for (std::size_t position = 0; position < shared.size(); ++position) {
      if (!shared[position].stage->needs_fit()) continue;
      std::vector<Built<Transform>> before(shared.begin(), shared.begin() + static_cast<long>(position));
      fit_one(shared[position], before, {}, everything);
    }
    for (auto& trainer : trainers_) {
      if (!trainer.selected) continue;
      const auto& own = trainer.chain->transforms;
      for (std::size_t position = 0; position < own.size(); ++position) {
        if (!own[position].stage->needs_fit()) continue;
        std::vector<Built<Transform>> before(own.begin(), own.begin() + static_cast<long>(position));
        fit_one(own[position], shared, before, trainer.train_set);
      }
    }
  }

  void fit_one(const Built<Transform>& transform, const std::vector<Built<Transform>>& shared_before,
               const std::vector<Built<Transform>>& own_before, const std::vector<SampleInfo>& samples) {
    SampleStream stream(vector_source(samples), pipeline_->reader(), shared_before, stream_options(RunMode::Evaluate, 0));
    Progress progress(fmt::format("fit {}", transform.entry.stage->name), samples.size());
    const TransformContext context{RunMode::Evaluate, seed_, 0};
    call_plugin(transform.entry, [&] { transform.stage->fit_begin(); });
    while (auto sample = stream.next()) {
      for (const auto& step : own_before) call_plugin(step.entry, [&] { step.stage->apply(*sample, context); });
      call_plugin(transform.entry, [&] { transform.stage->fit_add(*sample); });
      progress.advance(1);
    }
    call_plugin(transform.entry, [&] { transform.stage->fit_end(); });
    progress.finish();
  }

  void compute_class_weights(ChainTrainer& trainer) {
    if (!trainer.selected) return;
    const std::string mode = trainer.train.string("class_weights");
    Chain& chain = *trainer.chain;
    if (chain.multiclass()) {
      // Softmax cross-entropy weights each class by N / (k * N_class), so that rare classes count.
      std::vector<std::size_t> counts(chain.classes.size(), 0);
      for (const auto& info : trainer.train_set) ++counts[static_cast<std::size_t>(*chain.target_of(info))];
      for (std::size_t k = 0; k < counts.size(); ++k) {
        const double weight = mode == "none" || counts[k] == 0
                                  ? 1.0
                                  : static_cast<double>(trainer.train_set.size()) / (static_cast<double>(counts.size()) * static_cast<double>(counts[k]));
        trainer.class_weights.push_back(static_cast<float>(weight));
        spdlog::info("{}: class '{}': {} images, loss weight {:.3f}", trainer.label(), chain.classes[k], counts[k], weight);
      }
      return;
    }
    std::map<std::string, std::pair<std::size_t, std::size_t>> counts; // part -> positives, negatives
    std::size_t positives = 0, negatives = 0;
    for (const auto& info : trainer.train_set) {
      auto& [part_positives, part_negatives] = counts[info.body_part];
      (*info.label == 1 ? part_positives : part_negatives)++;
      (*info.label == 1 ? positives : negatives)++;
    }
    auto weights_of = [&](std::size_t p, std::size_t n) {
      return class_weights_for(mode, p, n, trainer.train.real("positive_weight"), trainer.train.real("negative_weight"),
                               trainer.train.real("standardization_bias"));
    };
    trainer.global_weights = weights_of(positives, negatives);
    for (const auto& [part, pair] : counts) {
      trainer.part_weights[part] = mode == "per_part" ? weights_of(pair.first, pair.second) : trainer.global_weights;
      spdlog::info("{}: body part '{}': {} positive, {} negative; loss weights positive {:.3f}, negative {:.3f}", trainer.label(),
                   part.empty() ? "(none)" : part, pair.first, pair.second, trainer.part_weights[part].positive,
                   trainer.part_weights[part].negative);
    }
  }

  double weight_of(const ChainTrainer& trainer, const SampleInfo& info) const {
    auto found = trainer.part_weights.find(info.body_part);
    const ClassWeights& weights = found == trainer.part_weights.end() ? trainer.global_weights : found->second;
    return *info.label == 1 ? weights.positive : weights.negative;
  }

  // Loss of a batch: weighted binary cross-entropy, or weighted softmax cross-entropy for a
  // multi-class chain, averaged over the batch. `scores` receives what validation needs.
  torch::Tensor model_input(const ChainTrainer& trainer, const std::vector<Sample>& batch) const {
    return samples_to_device(batch, trainer.chain->model.stage->input_channels(), trainer.chain->device);
  }

  // The forward pass runs in `precision` (autocast); the loss is computed in float32.
  // With `mix`, the loss is mixup's: the mix of the losses against each image's label and its
  // partner's, weighted by lambda (the input was mixed the same way).
  torch::Tensor batch_loss(ChainTrainer& trainer, const std::vector<Sample>& batch, const torch::Tensor& input, Precision precision,
                           ValidationScores* scores, const BatchMix* mix = nullptr) {
    Chain& chain = *trainer.chain;
    auto& model = *chain.model.stage;
    torch::Tensor logits;
    {
      const AutocastScope autocast(chain.device, precision);
      logits = model.forward(input).logits;
    }
    logits = logits.to(torch::kFloat32);
    std::vector<int> targets;
    for (const auto& sample : batch) targets.push_back(*chain.target_of(sample.info));
    if (chain.multiclass()) {
      auto target = torch::tensor(std::vector<std::int64_t>(targets.begin(), targets.end())).to(chain.device);
      auto weight = torch::tensor(trainer.class_weights).to(chain.device);
      if (scores != nullptr) {
        auto probabilities = torch::softmax(logits.detach().to(torch::kCPU, torch::kFloat32), 1);
        auto predicted = probabilities.argmax(1);
        for (std::size_t i = 0; i < batch.size(); ++i) {
          scores->scores.push_back(probabilities[static_cast<long>(i)][targets[i]].item<double>());
          scores->predicted.push_back(static_cast<int>(predicted[static_cast<long>(i)].item<long>()));
          scores->labels.push_back(targets[i]);
        }
      }
      const auto options = torch::nn::functional::CrossEntropyFuncOptions().weight(weight);
      if (mix == nullptr) return torch::nn::functional::cross_entropy(logits, target, options);
      return mix->lambda * torch::nn::functional::cross_entropy(logits, target, options) +
             (1.0 - mix->lambda) * torch::nn::functional::cross_entropy(logits, target.index_select(0, mix->partner), options);
    }
    logits = logits.reshape({-1});
    std::vector<float> labels, weights;
    for (const auto& sample : batch) {
      labels.push_back(static_cast<float>(*sample.info.label));
      weights.push_back(static_cast<float>(weight_of(trainer, sample.info)));
    }
    auto target = torch::tensor(labels).to(chain.device);
    auto weight = torch::tensor(weights).to(chain.device);
    if (scores != nullptr) {
      auto probabilities = torch::sigmoid(logits.detach()).to(torch::kCPU);
      auto values = probabilities.accessor<float, 1>();
      for (std::size_t i = 0; i < batch.size(); ++i) {
        scores->scores.push_back(values[static_cast<long>(i)]);
        scores->labels.push_back(targets[i]);
        auto& part = scores->by_part[batch[i].info.body_part];
        part.first.push_back(values[static_cast<long>(i)]);
        part.second.push_back(targets[i]);
      }
    }
    if (mix == nullptr) return torch::binary_cross_entropy_with_logits(logits, target, weight);
    return mix->lambda * torch::binary_cross_entropy_with_logits(logits, target, weight) +
           (1.0 - mix->lambda) * torch::binary_cross_entropy_with_logits(logits, target.index_select(0, mix->partner),
                                                                          weight.index_select(0, mix->partner));
  }

  // Whether every gradient of a model is finite, in one device synchronisation: the sum of the
  // gradients' norms is finite exactly when each of them is.
  static bool gradients_are_finite(torch::nn::Module& module) {
    std::vector<torch::Tensor> norms;
    for (const auto& parameter : module.parameters())
      if (parameter.grad().defined()) norms.push_back(parameter.grad().norm());
    return norms.empty() || torch::isfinite(torch::stack(norms).sum()).item<bool>();
  }

  // fp16 training: divides the gradients by the loss scale and adapts it. False when they overflowed
  // float16: the step is skipped (its gradients cleared), as torch.cuda.amp.GradScaler does. In a
  // group every rank holds the same summed gradients, so all of them skip alike.
  static bool unscale_gradients(ChainTrainer& trainer) {
    if (!trainer.scaler) return true;
    std::vector<torch::Tensor> parameters;
    for (auto& group : trainer.optimizer->param_groups())
      for (auto& parameter : group.params()) parameters.push_back(parameter);
    const bool finite = trainer.scaler->unscale(parameters);
    trainer.scaler->update(finite);
    if (!finite) {
      spdlog::debug("{}: float16 gradients overflowed; step skipped, loss scale lowered to {}", trainer.label(), trainer.scaler->scale());
      trainer.optimizer->zero_grad();
    }
    return finite;
  }

  // [train] mixup: the draw of the next step, from the run's seed, the step and the rank, so that
  // a resumed run repeats it. None without mixup, or for a batch of one image.
  std::optional<MixupDraw> draw_mixup_for(const ChainTrainer& trainer, std::size_t batch_size) const {
    const double alpha = trainer.train.real("mixup");
    if (alpha <= 0 || batch_size < 2) return std::nullopt;
    return draw_mixup(alpha, batch_size,
                      {seed_, static_cast<std::uint64_t>(trainer.steps_done + 1), static_cast<std::uint64_t>(group_ ? group_->rank() : 0),
                       std::hash<std::string>{}(trainer.chain->name)});
  }

  // One optimisation step on a batch. A non-finite loss (or gradient) never reaches the weights:
  // training stops naming what most likely caused it, or, with on_nonfinite_loss = "skip", the
  // batch is skipped. Returns the batch's loss, or nullopt when it was skipped.
  std::optional<double> train_step(ChainTrainer& trainer, const std::vector<Sample>& batch, int epoch, std::size_t batch_number) {
    Chain& chain = *trainer.chain;
    torch::Tensor input, loss;
    std::string problem;
    double value = 0;
    if (group_) maybe_fail_for_test(group_->rank(), trainer.steps_done + 1);
    const std::optional<MixupDraw> draw = draw_mixup_for(trainer, batch.size());
    call_plugin(chain.model.entry, [&] {
      trainer.optimizer->zero_grad();
      input = model_input(trainer, batch);
      std::optional<BatchMix> mix;
      if (draw) { // the partners go to the device once, for the input and both losses
        mix = BatchMix{draw->lambda, torch::tensor(draw->partner).to(input.device())};
        input = mix->lambda * input + (1.0 - mix->lambda) * input.index_select(0, mix->partner);
      }
      loss = batch_loss(trainer, batch, input, trainer.precision, nullptr, mix ? &*mix : nullptr);
      value = loss.item<double>();
    });
    // In a group the ranks agree first (collectives stay outside call_plugin: their failures are
    // the group's, not the model plugin's).
    const double weight = group_ ? loss_denominator(trainer, batch) : 1.0;
    const StepAgreement agreed =
        group_ ? agree_on_step(true, weight, !std::isfinite(value)) : StepAgreement{1, weight, false};
    if (!std::isfinite(value))
      problem = fmt::format("the training loss is {}", value);
    else if (agreed.any_nonfinite)
      problem = "the training loss of another rank is not finite";
    if (problem.empty()) {
      if (group_) trainer.averager->begin(weight, agreed.total_weight); // overlapped: buckets start during backward
      call_plugin(chain.model.entry, [&] { (trainer.scaler ? trainer.scaler->scaled(loss) : loss).backward(); });
      if (group_) {
        trainer.averager->finish();
        if (trainer.steps_done == 0)
          spdlog::info("first step: {} of {} gradient buckets started their all-reduce before the backward pass ended",
                       trainer.averager->buckets_started_during_backward(), trainer.averager->buckets());
      }
      call_plugin(chain.model.entry, [&] {
        if (!unscale_gradients(trainer)) return; // fp16 overflow: the step is skipped, the scale lowered
        if (!gradients_are_finite(*chain.model.stage->trainable())) {
          problem = fmt::format("the training loss is {:.4g} but a gradient is not finite", value);
          trainer.optimizer->zero_grad();
          return;
        }
        trainer.optimizer->step();
      });
    }
    if (problem.empty()) return value;
    const std::string where =
        fmt::format("epoch {}, batch {} of {} (first image {})", epoch, batch_number, trainer.label(), batch.front().info.path);
    if (trainer.train.string("on_nonfinite_loss") == "skip") {
      spdlog::warn("{}: {}; batch skipped ([train] on_nonfinite_loss = \"skip\")", where, problem);
      return std::nullopt;
    }
    torch::NoGradGuard no_gradients;
    throw std::runtime_error(fmt::format("{}: {}, so training stops before the weights are spoiled. Likely cause: {}. To skip such "
                                         "batches instead, set [train] on_nonfinite_loss = \"skip\"",
                                         where, problem,
                                         likely_cause_of_nonfinite_loss(input, *chain.model.stage->trainable(),
                                                                        learning_rate_of(*trainer.optimizer))));
  }

  StreamOptions stream_options(RunMode mode, int epoch) const {
    StreamOptions options;
    options.workers = static_cast<int>(config_.settings.integer("workers"));
    options.window = std::max<std::size_t>(64, 4 * static_cast<std::size_t>(train_.integer("batch_size")));
    options.skip_bad_samples = config_.settings.string("on_error") == "skip";
    options.transform = {mode, seed_, static_cast<std::uint64_t>(epoch)};
    options.decode_hint = pipeline_->decode_hint(); // as predict decodes: the model sees the same pixels
    return options;
  }

  // Streams `infos` once and hands each sample to every active chain it belongs to, through the
  // one batching helper (inline, so that a seeded run repeats exactly).
  template <class Result>
  void run_pass(const std::vector<SampleInfo>& infos, RunMode mode, int epoch, const std::vector<ChainTrainer*>& active,
                std::vector<SampleInfo> ChainTrainer::*set, const typename ChainRunner<Result>::Work& work,
                const typename ChainRunner<Result>::Sink& sink) {
    // The stream numbers samples by their position in `infos`; each position's chains, in advance.
    std::map<std::uint64_t, std::vector<Chain*>> by_listing; // listing index -> the active chains that take it
    for (auto* trainer : active)
      for (const auto& info : (*trainer).*set) by_listing[info.index].push_back(trainer->chain);
    std::vector<std::vector<Chain*>> members;
    for (const auto& info : infos) members.push_back(by_listing[info.index]);
    ChainRunnerOptions options;
    options.concurrent = false;
    options.transform = {mode, seed_, static_cast<std::uint64_t>(epoch)};
    ChainRunner<Result> runner(pipeline_->chains(), work, sink, options);
    SampleStream stream(vector_source(infos), pipeline_->reader(), pipeline_->transforms(), stream_options(mode, epoch));
    while (auto sample = stream.next()) {
      const auto& chains = members.at(sample->info.index);
      for (std::size_t i = 0; i < chains.size(); ++i) {
        if (i + 1 == chains.size()) runner.push(std::move(*sample), *chains[i]);
        else runner.push(Sample{sample->info, sample->image.clone()}, *chains[i]);
      }
    }
    runner.finish();
    spdlog::debug("{} pass: time per image on {} decode worker(s): {}", mode == RunMode::Train ? "training" : "validation",
                  stream_options(mode, epoch).workers, stream.step_times());
  }

  void run_epoch(int epoch, int last_epoch, const std::vector<ChainTrainer*>& active) {
    const auto start = std::chrono::steady_clock::now();
    std::map<const Chain*, std::pair<double, std::size_t>> losses; // loss sum, images
    std::vector<SampleInfo> order = distinct({active.begin(), active.end()}, &ChainTrainer::train_set);
    std::mt19937_64 random(seed_ * 1000003ULL + static_cast<std::uint64_t>(epoch));
    std::shuffle(order.begin(), order.end(), random);
    if (group_) order = rank_order(order); // every rank shuffles alike, then takes its share
    for (auto* trainer : active)
      call_plugin(trainer->chain->model.entry, [&] {
        trainer->chain->model.stage->set_form(ModelForm::Trainable);
        trainer->chain->model.stage->set_training(true);
      });
    std::size_t seen = 0;
    double loss_sum = 0;
    std::map<const Chain*, std::pair<std::size_t, std::size_t>> batches; // per chain: batches run, skipped
    {
      Progress progress(fmt::format("epoch {}/{} train", epoch, last_epoch), order.size());
      run_pass<double>(
          order, RunMode::Train, epoch, active, &ChainTrainer::train_set,
          [&](Chain& chain, std::vector<Sample>& batch) {
            ChainTrainer& trainer = *trainer_of(&chain);
            if (trainer.step_budget_spent()) { // [train] steps reached: the rest of the pass trains nothing
              progress.advance(batch.size());
              return std::vector<double>(batch.size(), 0.0);
            }
            auto& [run, skipped] = batches[&chain];
            const std::optional<double> loss = train_step(trainer, batch, epoch, ++run);
            if (!loss) ++skipped;
            if (loss) {
              count_step(trainer);
              auto& [sum, count] = losses[&chain];
              sum += *loss * static_cast<double>(batch.size());
              count += batch.size();
              loss_sum += *loss * static_cast<double>(batch.size());
              seen += batch.size();
            }
            progress.advance(batch.size(), fmt::format("loss {:.4f}", seen ? loss_sum / static_cast<double>(seen) : 0.0));
            return std::vector<double>(batch.size(), loss.value_or(std::nan("")));
          },
          [](ChainOutcome<double>&&) {});
      progress.finish(fmt::format("loss {:.4f}", seen ? loss_sum / static_cast<double>(seen) : 0.0));
    }
    if (group_) {
      for (auto* trainer : active)
        while (step_without_batch(*trainer, epoch)) {
        }
      if (train_.string("distributed_batchnorm") == "average") average_buffers();
      // The history shows the whole group's loss and speed.
      std::vector<double> totals{static_cast<double>(seen), loss_sum};
      for (auto* trainer : active)
        totals.insert(totals.end(),
                      {losses[trainer->chain].first, static_cast<double>(losses[trainer->chain].second)});
      std::vector<torch::Tensor> summed{torch::tensor(totals, torch::kFloat64)};
      group_->all_reduce_sum(summed, "the sum of training losses");
      const auto values = summed[0].accessor<double, 1>();
      seen = static_cast<std::size_t>(values[0]);
      loss_sum = values[1];
      for (std::size_t i = 0; i < active.size(); ++i)
        losses[active[i]->chain] = {values[static_cast<long>(2 + 2 * i)],
                                    static_cast<std::size_t>(values[static_cast<long>(3 + 2 * i)])};
    }
    for (auto* trainer : active) {
      const auto [run, skipped] = batches[trainer->chain];
      if (skipped > 0 && skipped == run)
        throw std::runtime_error(fmt::format("epoch {}, {}: every batch ({} of {}) had a non-finite loss and was skipped; nothing "
                                             "was learned. Check the preprocessing and the learning rate",
                                             epoch, trainer->label(), skipped, run));
      if (skipped > 0) spdlog::warn("epoch {}, {}: {} of {} batches skipped for a non-finite loss", epoch, trainer->label(), skipped, run);
    }
    const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::map<const Chain*, ValidationScores> validation;
    if (leader()) validation = validate(active); // the other ranks wait for its values (share_validation)
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (auto* trainer : active) {
      HistoryRow row;
      row.epoch = epoch;
      row.learning_rate = learning_rate_of(*trainer->optimizer);
      const auto& [sum, count] = losses[trainer->chain];
      row.train_loss = count ? sum / static_cast<double>(count) : std::nan("");
      row.images_per_second = static_cast<double>(seen) / std::max(train_seconds, 1e-9);
      row.seconds = seconds;
      if (leader()) score_validation(*trainer, validation[trainer->chain], row);
      if (group_) share_validation(row);
      trainer->history.push_back(row);
      const double score = monitored_score(trainer->train.string("monitor"), row);
      // NaN (a validation metric undefined on this split) never counts as an improvement.
      const bool improved = !std::isnan(score) && (!trainer->best_score || score > *trainer->best_score + 1e-12);
      if (improved) {
        trainer->best_score = score;
        trainer->epochs_without_improvement = 0;
      } else {
        ++trainer->epochs_without_improvement;
      }
      // With select = last every epoch's weights replace best.pt's; the monitor still drives the
      // plateau schedule and early stopping.
      const bool selected = improved || trainer->train.string("select") == "last";
      if (selected) trainer->best_epoch = epoch;
      improved_[trainer->chain] = improved;
      selected_[trainer->chain] = selected;
      if (trainer->chain->multiclass())
        spdlog::info("epoch {}/{} {}: train loss {:.4f}, val loss {:.4f}, accuracy {:.4f}, macro F1 {:.4f}, lr {:.2g}, {:.1f} img/s{}", epoch,
                     last_epoch, trainer->label(), row.train_loss, row.val_loss, row.val_accuracy, row.val_macro_f1, row.learning_rate,
                     row.images_per_second, improved ? " (best)" : "");
      else
        spdlog::info("epoch {}/{} {}: train loss {:.4f}, val loss {:.4f}, AUROC {:.4f}, kappa {:.4f}, accuracy {:.4f}, lr {:.2g}, {:.1f} img/s{}",
                     epoch, last_epoch, trainer->label(), row.train_loss, row.val_loss, row.val_auroc, row.val_kappa, row.val_accuracy,
                     row.learning_rate, row.images_per_second, improved ? " (best)" : "");
      const auto patience = trainer->train.integer("early_stopping");
      if (patience > 0 && trainer->epochs_without_improvement >= patience) {
        trainer->stopped = true;
        spdlog::info("{}: early stopping after {} epochs without improvement of {}", trainer->label(), trainer->epochs_without_improvement,
                     trainer->train.string("monitor"));
      }
    }
  }

  std::map<const Chain*, ValidationScores> validate(const std::vector<ChainTrainer*>& active) {
    // Validation scores as predict does: the inference form, refolded from this epoch's weights
    // (their average, when one is kept, which goes back out of the model when validation ends).
    std::vector<std::unique_ptr<WeightAverage::InPlace>> averages_in_place;
    for (auto* trainer : active)
      call_plugin(trainer->chain->model.entry, [&] {
        averages_in_place.push_back(std::make_unique<WeightAverage::InPlace>(trainer->average.get()));
        trainer->chain->model.stage->set_training(false);
        trainer->chain->model.stage->set_form(pipeline_->scoring_form());
      });
    const auto unfold = [&] {
      for (auto* trainer : active) // no folded copy of the average outlives its stay in the model
        call_plugin(trainer->chain->model.entry, [&] { trainer->chain->model.stage->set_form(ModelForm::Trainable); });
    };
    std::map<const Chain*, ValidationScores> scores = score_validation_set(active);
    unfold();
    return scores;
  }

  std::map<const Chain*, ValidationScores> score_validation_set(const std::vector<ChainTrainer*>& active) {
    c10::InferenceMode inference;
    std::map<const Chain*, ValidationScores> scores;
    const std::vector<SampleInfo> order = distinct({active.begin(), active.end()}, &ChainTrainer::valid_set);
    run_pass<double>(
        order, RunMode::Evaluate, 0, active, &ChainTrainer::valid_set,
        [&](Chain& chain, std::vector<Sample>& batch) {
          auto& target = scores[&chain];
          auto loss = call_plugin(chain.model.entry, [&] {
            ChainTrainer& trainer = *trainer_of(&chain);
            return batch_loss(trainer, batch, model_input(trainer, batch), trainer.scoring_precision, &target);
          });
          target.loss_sum += loss.item<double>() * static_cast<double>(batch.size());
          return std::vector<double>(batch.size(), 0.0);
        },
        [](ChainOutcome<double>&&) {});
    return scores;
  }

  void score_validation(const ChainTrainer& trainer, const ValidationScores& scores, HistoryRow& row) const {
    if (scores.labels.empty()) throw std::runtime_error(trainer.label() + ": every validation image was skipped");
    if (const auto undefined = std::count_if(scores.scores.begin(), scores.scores.end(), [](double score) { return std::isnan(score); });
        undefined > 0)
      spdlog::warn("{}: {} of {} validation images got a probability that is not a number: the model's output is not finite, so "
                   "this epoch's validation metrics are undefined",
                   trainer.label(), undefined, scores.scores.size());
    row.val_loss = scores.loss_sum / static_cast<double>(scores.labels.size());
    if (trainer.chain->multiclass()) {
      const auto counts = count_classes(scores.predicted, scores.labels, trainer.chain->classes.size());
      row.val_accuracy = counts.accuracy();
      row.val_macro_f1 = counts.macro_f1();
      row.val_auroc = row.val_kappa = std::nan("");
      for (std::size_t k = 0; k < trainer.chain->classes.size(); ++k)
        spdlog::info("  valid {:<10} recall {:.4f}  precision {:.4f}  F1 {:.4f}", trainer.chain->classes[k], counts.recall(k), counts.precision(k),
                     counts.f1(k));
      return;
    }
    const double threshold = trainer.chain->config->threshold;
    row.val_auroc = auroc(scores.scores, scores.labels);
    auto predicted = threshold_at(scores.scores, threshold);
    row.val_kappa = cohen_kappa(predicted, scores.labels);
    const auto counts = count_outcomes(predicted, scores.labels);
    row.val_accuracy = counts.accuracy();
    row.val_macro_f1 = counts.macro_f1();
    for (const auto& [part, pair] : scores.by_part) {
      auto part_predicted = threshold_at(pair.first, threshold);
      spdlog::info("  valid {:<10} n={:<4} AUROC {:.4f}  kappa {:.4f}  accuracy {:.4f}", part, pair.first.size(), auroc(pair.first, pair.second),
                   cohen_kappa(part_predicted, pair.second), count_outcomes(part_predicted, pair.second).accuracy());
    }
  }

  // The score that ranks epoch checkpoints: the mean monitored score of the chains trained.
  double epoch_score(const std::vector<ChainTrainer*>& active) const {
    double sum = 0;
    for (const auto* trainer : active) sum += monitored_score(trainer->train.string("monitor"), trainer->history.back());
    return active.empty() ? 0.0 : sum / static_cast<double>(active.size());
  }

  // ---- Checkpoints: saving -------------------------------------------------------------------

  nlohmann::json checkpoint_meta(int epoch, double score) const {
    nlohmann::json meta{{"epoch", epoch},
                        {"score", score},
                        {"seed", seed_},
                        {"world_size", group_ ? group_->size() : 1},
                        {"overrides", config_.overrides},
                        {"threshold", config_.threshold},
                        {"class_map", {{"0", "normal"}, {"1", "abnormal"}}},
                        {"chains", nlohmann::json::object()},
                        {"best", nlohmann::json::array()}};
    for (const auto& trainer : trainers_) meta["chains"][trainer.chain->name] = chain_state_json(trainer);
    for (const auto& kept : best_)
      meta["best"].push_back({{"epoch", kept.epoch}, {"score", kept.score}, {"folder", kept.folder.filename().string()}});
    return meta;
  }

  // Writes the whole training state into `folder`: every file under FOLDER.tmp, meta.json last,
  // then the renames (commit_checkpoint_folder); each step is a counted file operation. Each
  // chain's best weights so far travel in every checkpoint as STEM.best.pt (a hard link, so no
  // copy), so that best.pt can always be brought back to the epoch the metadata names:
  // this epoch's weights for a chain that improved, else those of `best_source`.
  void write_checkpoint(const fs::path& folder, int epoch, double score, const fs::path& best_source) {
    const fs::path temporary = with_suffix(folder, ".tmp");
    remove_all_durably(temporary);
    create_folder(temporary);
    for (auto& trainer : trainers_) {
      const fs::path weights = temporary / (trainer.file_stem + ".pt");
      count_file_operation("write weights", weights);
      call_plugin(trainer.chain->model.entry, [&] { trainer.chain->model.stage->save_weights(weights); });
      const fs::path average = temporary / (trainer.file_stem + ".average.pt");
      if (trainer.average) {
        count_file_operation("write averaged weights", average);
        call_plugin(trainer.chain->model.entry, [&] {
          const WeightAverage::InPlace in_place(trainer.average.get());
          trainer.chain->model.stage->save_weights(average);
        });
      } else if (const fs::path carried = best_source / (trainer.file_stem + ".average.pt"); !trainer.selected && fs::exists(carried)) {
        link_or_copy_durably(carried, average); // a chain another run averaged keeps its average
      }
      torch::serialize::OutputArchive archive;
      trainer.optimizer->save(archive);
      write_bytes_atomically(temporary / (trainer.file_stem + ".optimizer.pt"), archive_bytes(archive));
      const fs::path best = temporary / (trainer.file_stem + ".best.pt"), kept = best_source / (trainer.file_stem + ".best.pt");
      if (selected_[trainer.chain]) link_or_copy_durably(temporary / trainer.validated_file(), best);
      else if (fs::exists(kept)) link_or_copy_durably(kept, best);
    }
    auto save_states = [&](const std::vector<Built<Transform>>& transforms, const std::string& chain) {
      for (std::size_t position = 0; position < transforms.size(); ++position)
        if (transforms[position].stage->needs_fit()) {
          const fs::path state = temporary / transform_state_file(position, chain);
          count_file_operation("write transform state", state);
          call_plugin(transforms[position].entry, [&] { transforms[position].stage->save_state(state); });
        }
    };
    save_states(pipeline_->transforms(), "");
    for (auto& chain : pipeline_->chains()) save_states(chain.transforms, chain.name);
    write_bytes_atomically(temporary / "random.pt", random_state_bytes(other_rank_states_));
    write_bytes_atomically(temporary / "pipeline.toml", read_file_bytes(config_.file));
    sync_folder_contents(temporary); // what the plugins wrote too is on disk before meta.json
    write_file_atomically(temporary / "meta.json", [&](std::ostream& out) { out << checkpoint_meta(epoch, score).dump(2) << '\n'; });
    commit_checkpoint_folder(temporary, folder);
  }

  // One epoch's checkpoints, in an order that leaves a complete, consistent set after a kill at
  // any file operation (tests/integration/train_test.cpp kills at each one in turn):
  //  1. epoch-NNNN/ when the epoch ranks among the keep_best best;
  //  2. last/;
  //  3. best.pt (best-NAME.pt) from last/, for the chains whose best weights changed;
  //  4. removal of the epoch folders that fell out of the keep_best best;
  //  5. history.csv and curves.png.
  // A kill before 2 completes resumes from the previous epoch, which is recomputed identically; a
  // kill after it resumes from this one, and resume() redoes 3 and 5 (4 waits for the next save).
  void save_epoch(int epoch, const std::vector<ChainTrainer*>& active) {
    try {
      const fs::path checkpoints = out_ / "checkpoints", last = checkpoints / "last";
      const double score = epoch_score(active);
      const auto keep = static_cast<std::size_t>(train_.integer("keep_best"));
      // NaN ranks below every number, so an undefined score never displaces a kept checkpoint.
      const auto ranks_above = [](double a, double b) { return !std::isnan(a) && (std::isnan(b) || a > b); };
      if (best_.size() < keep || ranks_above(score, best_.back().score)) {
        best_.push_back({epoch, score, checkpoints / epoch_folder_name(epoch)});
        std::stable_sort(best_.begin(), best_.end(), [&](const Checkpoint& a, const Checkpoint& b) { return ranks_above(a.score, b.score); });
        if (best_.size() > keep) best_.pop_back(); // never this epoch: it ranks above the one it displaces
        write_checkpoint(checkpoints / epoch_folder_name(epoch), epoch, score, last);
      }
      write_checkpoint(last, epoch, score, last);
      publish_best_weights();
      prune_checkpoints(epoch);
      for (auto* trainer : active) write_history(*trainer);
    } catch (const std::exception& error) {
      // Exit 4 (an I/O failure), also when the plugin that writes the weights reports it.
      throw std::runtime_error(fmt::format("cannot save the checkpoint of epoch {} in {}: {}. The checkpoints saved before are "
                                           "intact; free space (or fix the folder) and continue with --resume",
                                           epoch, (out_ / "checkpoints").string(), error.what()));
    }
  }

  // best.pt (best-NAME.pt for routed chains): a copy of the best weights the last checkpoint
  // holds, rewritten when they differ. Returns whether anything was rewritten.
  bool publish_best_weights() {
    bool rewritten = false;
    for (const auto& trainer : trainers_) {
      const fs::path source = out_ / "checkpoints" / "last" / (trainer.file_stem + ".best.pt");
      const fs::path target = out_ / ("best" + trainer.suffix() + ".pt");
      std::error_code missing;
      if (!fs::exists(source, missing)) continue;
      const std::string bytes = read_file_bytes(source);
      if (fs::exists(target, missing) && read_file_bytes(target) == bytes) continue;
      write_bytes_atomically(target, bytes);
      rewritten = true;
    }
    return rewritten;
  }

  // Removes the epoch folders up to `epoch` that are not among the kept best, and the leftovers of
  // a prune a kill interrupted. Folders of later epochs, left by a killed run, are replaced when
  // their epoch is recomputed.
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

  void write_history(const ChainTrainer& trainer) {
    const fs::path history = out_ / ("history" + trainer.suffix() + ".csv");
    write_file_atomically(history, [&](std::ostream& out) {
      out << "epoch,learning_rate,train_loss,val_loss,val_auroc,val_kappa,val_accuracy,seconds,images_per_second,val_macro_f1\n";
      for (const auto& row : trainer.history)
        out << fmt::format("{},{:.6g},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.2f},{:.2f},{:.6f}\n", row.epoch, row.learning_rate, row.train_loss,
                           row.val_loss, row.val_auroc, row.val_kappa, row.val_accuracy, row.seconds, row.images_per_second, row.val_macro_f1);
    });
    const std::string title = config_.settings.string("name") + (trainer.chain->name == "default" ? "" : " / " + trainer.chain->name);
    plot_training_curves(history, out_ / ("curves" + trainer.suffix() + ".png"), title);
  }

  void adjust_learning_rate(ChainTrainer& trainer, int epoch, int last_epoch) {
    const Params& train = trainer.train;
    const std::string scheduler = train.string("scheduler");
    auto& optimizer = *trainer.optimizer;
    const double rate = learning_rate_of(optimizer);
    double next = rate;
    if (scheduler == "plateau") {
      if (improved_[trainer.chain]) trainer.plateau_wait = 0;
      else if (++trainer.plateau_wait > train.integer("plateau_patience")) {
        next = rate * train.real("plateau_factor");
        trainer.plateau_wait = 0;
      }
    } else if (scheduler == "step" && train.string("step_unit") == "epoch" && epoch % train.integer("step_size") == 0) {
      next = rate * train.real("step_gamma");
    } else if (scheduler == "cosine") {
      const double initial = train.real("learning_rate");
      const int epochs = std::min(last_epoch, options_.epochs.value_or(trainer.epochs()));
      next = 0.5 * initial * (1.0 + std::cos(M_PI * epoch / static_cast<double>(epochs)));
    }
    if (next != rate) {
      set_learning_rate(optimizer, next);
      if (scheduler != "cosine") spdlog::info("learning rate of {} {:.3g} -> {:.3g}", trainer.label(), rate, next);
    }
  }

  // The step schedule with step_unit = "step": the rate drops every step_size optimisation steps.
  void drop_learning_rate_by_step(ChainTrainer& trainer) {
    const Params& train = trainer.train;
    if (train.string("scheduler") != "step" || train.string("step_unit") != "step" || trainer.steps_done % train.integer("step_size") != 0)
      return;
    const double rate = learning_rate_of(*trainer.optimizer), next = rate * train.real("step_gamma");
    set_learning_rate(*trainer.optimizer, next);
    spdlog::info("learning rate of {} {:.3g} -> {:.3g} after step {}", trainer.label(), rate, next, trainer.steps_done);
  }

  // `--route NAME` without --resume: the other chains keep the weights an earlier run in this
  // output folder gave them, so that the checkpoint goes on holding every chain.
  void carry_other_chains() {
    const fs::path last = out_ / "checkpoints" / "last";
    if (!fs::exists(last / "meta.json")) return;
    nlohmann::json meta = nlohmann::json::parse(std::ifstream(last / "meta.json"));
    for (auto& trainer : trainers_) {
      if (trainer.selected) continue;
      const fs::path weights = last / (trainer.file_stem + ".pt");
      if (!fs::exists(weights)) continue;
      call_plugin(trainer.chain->model.entry, [&] { trainer.chain->model.stage->load_weights(weights); });
      if (meta.contains("chains") && meta["chains"].contains(trainer.chain->name)) restore_chain_state(trainer, meta["chains"][trainer.chain->name]);
      spdlog::info("{}: keeps its trained weights from {}", trainer.label(), weights.string());
    }
  }

  // ---- Checkpoints: resuming -----------------------------------------------------------------

  // Whether `folder` holds everything a resume reads (meta.json is written last, so this only fails
  // for folders that something other than radpipe cut short).
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
    for (auto& trainer : trainers_) {
      if (trainer.average) load_weight_average(trainer, folder);
      call_plugin(trainer.chain->model.entry, [&] { trainer.chain->model.stage->load_weights(folder / (trainer.file_stem + ".pt")); });
      torch::serialize::InputArchive archive;
      archive.load_from((folder / (trainer.file_stem + ".optimizer.pt")).string());
      trainer.optimizer->load(archive);
      if (meta.contains("chains") && meta["chains"].contains(trainer.chain->name)) restore_chain_state(trainer, meta["chains"][trainer.chain->name]);
    }
    auto load_states = [&](const std::vector<Built<Transform>>& transforms, const std::string& chain) {
      for (std::size_t position = 0; position < transforms.size(); ++position)
        if (transforms[position].stage->needs_fit())
          call_plugin(transforms[position].entry, [&] { transforms[position].stage->load_state(folder / transform_state_file(position, chain)); });
    };
    load_states(pipeline_->transforms(), "");
    for (auto& chain : pipeline_->chains()) load_states(chain.transforms, chain.name);
    const int rank = group_ ? group_->rank() : 0;
    if (fs::exists(folder / "random.pt")) {
      if (!restore_random_state(folder / "random.pt", rank, other_rank_states_))
        spdlog::warn("{} holds no random generator state of rank {} (the group had fewer ranks): the resumed run will not "
                     "repeat the uninterrupted one exactly",
                     folder.string(), rank);
    } else
      spdlog::warn("{} holds no random generator state (an older radpipe wrote it): the resumed run will not repeat the "
                   "uninterrupted one exactly",
                   folder.string());
    best_.clear();
    for (const auto& item : meta["best"])
      best_.push_back({item["epoch"].get<int>(), item["score"].is_number() ? item["score"].get<double>() : std::nan(""),
                       out_ / "checkpoints" / item["folder"].get<std::string>()});
  }

  // The average goes through the model (the plugin reads its own weights format): loaded into it,
  // taken from it; the live weights are loaded after. A checkpoint written without an average
  // (ema_decay added on resume) starts one from the live weights.
  void load_weight_average(ChainTrainer& trainer, const fs::path& folder) {
    const fs::path average = folder / (trainer.file_stem + ".average.pt");
    if (!fs::exists(average)) {
      spdlog::warn("{} holds no weight average of {} ([train] ema_decay was 0 when it was written): the average starts "
                   "from the resumed weights",
                   folder.string(), trainer.label());
      return; // started from the live weights at the first update
    }
    call_plugin(trainer.chain->model.entry, [&] {
      trainer.chain->model.stage->load_weights(average);
      trainer.average->start_from_module();
    });
  }

  // Continues from the newest complete checkpoint; returns the first epoch to run. Finishes the
  // save a kill interrupted: last/ when it was the one lost, best.pt when it lags behind the best
  // weights the checkpoint holds, the history files. Never removes a complete checkpoint of an
  // epoch it resumes after.
  int resume() {
    const auto found = find_resume_checkpoint();
    if (!found) {
      spdlog::info("--resume: no complete checkpoint in {}, starting afresh", (out_ / "checkpoints").string());
      return 1;
    }
    const nlohmann::json meta = *read_checkpoint_meta(*found);
    if (const int saved = meta.value("world_size", 1), now = group_ ? group_->size() : 1; saved != now)
      spdlog::warn("{} was written by {} rank{}, this run has {}: the shares of each epoch change, so the resumed run will "
                   "not repeat the uninterrupted one exactly",
                   found->string(), saved, saved == 1 ? "" : "s", now);
    load_checkpoint_state(*found, meta);
    const int epoch = meta["epoch"].get<int>();
    const double score = meta["score"].is_number() ? meta["score"].get<double>() : std::nan("");
    try {
      if (found->filename() != "last") {
        spdlog::info("{} is newer than the last checkpoint: making it the last", found->string());
        write_checkpoint(out_ / "checkpoints" / "last", epoch, score, *found);
      }
      if (publish_best_weights()) spdlog::info("best weights brought up to date with the last checkpoint");
      for (const auto& trainer : trainers_)
        if (trainer.selected && !trainer.history.empty()) write_history(trainer);
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
  fs::path out_;
  std::unique_ptr<Pipeline> pipeline_;
  std::vector<ChainTrainer> trainers_;
  std::map<const Chain*, bool> improved_; // by the last validation
  std::map<const Chain*, bool> selected_; // the last epoch's weights replace best.pt's ([train] select)
  std::vector<Checkpoint> best_;
  std::unique_ptr<ProcessGroup> group_;            // distributed training; null in a single process
  std::map<int, torch::Tensor> other_rank_states_; // rank 0: the other ranks' generator states, for random.pt
};

} // namespace

int command_train(const GlobalOptions& global, const TrainOptions& options) {
  PluginHost plugins;
  load_plugins(plugins, global);
  auto config = validate_or_report(options.pipeline, plugins, global.overrides);
  if (!config) return exit_invalid;
  if (!config->train) {
    std::cerr << options.pipeline.string() << ": error: no [train] table; `radpipe inspect '[train]'` lists its keys\n";
    return exit_invalid;
  }
  Trainer trainer(*config, plugins, global, options);
  return trainer.run();
}

} // namespace radpipe::host
