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

#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <random>

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
    list_samples();
    compute_class_weights();
    fs::create_directories(out_ / "checkpoints");
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
      const bool improved = !best_score_ || score > *best_score_ + 1e-12;
      if (improved) {
        best_score_ = score;
        epochs_without_improvement_ = 0;
      } else {
        ++epochs_without_improvement_;
      }
      spdlog::info("epoch {}/{}: train loss {:.4f}, val loss {:.4f}, AUROC {:.4f}, kappa {:.4f}, accuracy {:.4f}, lr {:.2g}, {:.1f} img/s{}",
                   epoch, epochs_, row.train_loss, row.val_loss, row.val_auroc, row.val_kappa, row.val_accuracy, row.learning_rate,
                   row.images_per_second, improved ? " (best)" : "");
      save_epoch(epoch, score, improved);
      adjust_learning_rate(epoch, improved);
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

  // Loss of a batch: weighted binary cross-entropy averaged over the batch.
  torch::Tensor batch_loss(ChainTrainer& trainer, const std::vector<Sample>& batch, torch::Tensor* probabilities) {
    auto& model = *trainer.chain->model.stage;
    auto input = samples_to_tensor(batch, model.input_channels()).to(trainer.chain->device);
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

  StreamOptions stream_options(RunMode mode, int epoch) const {
    StreamOptions options;
    options.workers = static_cast<int>(config_.settings.integer("workers"));
    options.window = std::max<std::size_t>(64, 4 * static_cast<std::size_t>(train_.integer("batch_size")));
    options.skip_bad_samples = config_.settings.string("on_error") == "skip";
    options.transform = {mode, seed_, static_cast<std::uint64_t>(epoch)};
    options.decode_hint = pipeline_->decode_hint();
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

    for (auto& trainer : trainers_)
      call_plugin(trainer.chain->model.entry, [&] {
        trainer.chain->model.stage->set_form(ModelForm::Trainable);
        trainer.chain->model.stage->set_training(true);
      });
    const auto batch_size = static_cast<std::size_t>(train_.integer("batch_size"));
    double loss_sum = 0;
    std::size_t seen = 0;
    {
      SampleStream stream(vector_source(order), pipeline_->reader(), pipeline_->transforms(), stream_options(RunMode::Train, epoch));
      Progress progress(fmt::format("epoch {}/{} train", epoch, epochs_), order.size());
      std::map<ChainTrainer*, std::vector<Sample>> pending;
      auto step = [&](ChainTrainer& trainer, std::vector<Sample>& batch) {
        call_plugin(trainer.chain->model.entry, [&] {
          trainer.optimizer->zero_grad();
          auto loss = batch_loss(trainer, batch, nullptr);
          loss.backward();
          trainer.optimizer->step();
          loss_sum += loss.item<double>() * static_cast<double>(batch.size());
        });
        seen += batch.size();
        progress.advance(batch.size(), fmt::format("loss {:.4f}", loss_sum / static_cast<double>(seen)));
        batch.clear();
      };
      // The main thread either waits for samples or steps: waiting means the decode workers lag.
      double waiting = 0;
      auto waiting_since = std::chrono::steady_clock::now();
      while (auto sample = stream.next()) {
        waiting += std::chrono::duration<double>(std::chrono::steady_clock::now() - waiting_since).count();
        ChainTrainer& trainer = trainer_for(*sample);
        auto& batch = pending[&trainer];
        batch.push_back(std::move(*sample));
        if (batch.size() >= batch_size) step(trainer, batch);
        waiting_since = std::chrono::steady_clock::now();
      }
      for (auto& [trainer, batch] : pending)
        if (!batch.empty()) step(*trainer, batch);
      spdlog::debug("epoch {}: time per image on {} decode worker(s): {}; the training loop waited {:.3f} ms per image for them", epoch,
                    stream_options(RunMode::Train, epoch).workers, stream.step_times(),
                    waiting * 1e3 / static_cast<double>(std::max<std::size_t>(seen, 1)));
      progress.finish(fmt::format("loss {:.4f}", seen ? loss_sum / static_cast<double>(seen) : 0.0));
    }
    row.train_loss = seen ? loss_sum / static_cast<double>(seen) : std::nan("");
    const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    row.images_per_second = static_cast<double>(seen) / std::max(train_seconds, 1e-9);
    validate(row);
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return row;
  }

  void validate(HistoryRow& row) {
    pipeline_->prepare_models(pipeline_->scoring_form()); // refolded from this epoch's weights
    c10::InferenceMode inference;
    SampleStream stream(vector_source(valid_set_), pipeline_->reader(), pipeline_->transforms(), stream_options(RunMode::Evaluate, 0));
    std::vector<double> scores;
    std::vector<int> labels;
    std::map<std::string, std::pair<std::vector<double>, std::vector<int>>> by_part;
    double loss_sum = 0;
    const auto batch_size = static_cast<std::size_t>(config_.settings.integer("batch_size"));
    std::map<ChainTrainer*, std::vector<Sample>> pending;
    auto score = [&](ChainTrainer& trainer, std::vector<Sample>& batch) {
      torch::Tensor probabilities;
      auto loss = call_plugin(trainer.chain->model.entry, [&] { return batch_loss(trainer, batch, &probabilities); });
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

  void write_checkpoint(const fs::path& folder, int epoch, double score) {
    fs::path temporary = folder;
    temporary += ".tmp";
    fs::remove_all(temporary);
    fs::create_directories(temporary);
    for (auto& trainer : trainers_) {
      call_plugin(trainer.chain->model.entry, [&] { trainer.chain->model.stage->save_weights(temporary / (trainer.file_stem + ".pt")); });
      torch::serialize::OutputArchive archive;
      trainer.optimizer->save(archive);
      archive.save_to((temporary / (trainer.file_stem + ".optimizer.pt")).string());
    }
    const auto& transforms = pipeline_->transforms();
    for (std::size_t position = 0; position < transforms.size(); ++position)
      if (transforms[position].stage->needs_fit())
        call_plugin(transforms[position].entry, [&] { transforms[position].stage->save_state(temporary / transform_state_file(position)); });
    fs::copy_file(config_.file, temporary / "pipeline.toml", fs::copy_options::overwrite_existing);
    nlohmann::json meta{{"epoch", epoch},
                        {"score", score},
                        {"monitor", train_.string("monitor")},
                        {"seed", seed_},
                        {"threshold", config_.threshold},
                        {"class_map", {{"0", "normal"}, {"1", "abnormal"}}},
                        {"best_score", best_score_ ? *best_score_ : score},
                        {"epochs_without_improvement", epochs_without_improvement_},
                        {"history", nlohmann::json::array()},
                        {"best", nlohmann::json::array()}};
    for (const auto& row : history_) meta["history"].push_back(to_json(row));
    for (const auto& kept : best_)
      meta["best"].push_back({{"epoch", kept.epoch}, {"score", kept.score}, {"folder", kept.folder.filename().string()}});
    write_file_atomically(temporary / "meta.json", [&](std::ostream& out) { out << meta.dump(2) << '\n'; });
    // Swap the finished folder in: the old one is only removed once the new one is complete.
    fs::path previous = folder;
    previous += ".old";
    fs::remove_all(previous);
    if (fs::exists(folder)) fs::rename(folder, previous);
    fs::rename(temporary, folder);
    fs::remove_all(previous);
  }

  void save_epoch(int epoch, double score, bool improved) {
    const fs::path checkpoints = out_ / "checkpoints";
    const auto keep = static_cast<std::size_t>(train_.integer("keep_best"));
    bool kept = best_.size() < keep || score > best_.back().score;
    if (kept) {
      const fs::path folder = checkpoints / fmt::format("epoch-{:04d}", epoch);
      best_.push_back({epoch, score, folder});
      std::stable_sort(best_.begin(), best_.end(), [](const Checkpoint& a, const Checkpoint& b) { return a.score > b.score; });
      while (best_.size() > keep) {
        fs::remove_all(best_.back().folder);
        best_.pop_back();
      }
      write_checkpoint(folder, epoch, score);
    }
    write_checkpoint(checkpoints / "last", epoch, score);
    if (improved) {
      for (auto& trainer : trainers_) {
        const fs::path source = checkpoints / "last" / (trainer.file_stem + ".pt");
        const fs::path target = out_ / ((trainer.file_stem == "model" ? std::string("best") : "best-" + trainer.chain->name) + ".pt");
        write_file_atomically(target, [&](std::ostream& out) { out << std::ifstream(source, std::ios::binary).rdbuf(); });
      }
    }
    write_history();
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

  int resume() {
    const fs::path last = out_ / "checkpoints" / "last";
    if (!fs::exists(last / "meta.json")) {
      spdlog::info("--resume: no checkpoint in {}, starting afresh", last.string());
      return 1;
    }
    nlohmann::json meta = nlohmann::json::parse(std::ifstream(last / "meta.json"));
    for (auto& trainer : trainers_) {
      call_plugin(trainer.chain->model.entry, [&] { trainer.chain->model.stage->load_weights(last / (trainer.file_stem + ".pt")); });
      torch::serialize::InputArchive archive;
      archive.load_from((last / (trainer.file_stem + ".optimizer.pt")).string());
      trainer.optimizer->load(archive);
    }
    const auto& transforms = pipeline_->transforms();
    for (std::size_t position = 0; position < transforms.size(); ++position)
      if (transforms[position].stage->needs_fit())
        call_plugin(transforms[position].entry, [&] { transforms[position].stage->load_state(last / transform_state_file(position)); });
    for (const auto& item : meta["history"]) history_.push_back(history_from_json(item));
    for (const auto& item : meta["best"])
      best_.push_back({item["epoch"].get<int>(), item["score"].get<double>(), out_ / "checkpoints" / item["folder"].get<std::string>()});
    best_score_ = meta["best_score"].get<double>();
    epochs_without_improvement_ = meta["epochs_without_improvement"].get<int>();
    const int epoch = meta["epoch"].get<int>();
    spdlog::info("resuming after epoch {} from {}", epoch, last.string());
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
