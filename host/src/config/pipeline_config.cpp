#include "config/pipeline_config.hpp"

#include "config/overrides.hpp"
#include "loader/host_keys.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace radpipe::host {
namespace fs = std::filesystem;

const Schema& pipeline_table_schema() {
  static const Schema schema{
      ParamSpec::string("name", "Name of the pipeline, used in logs and reports"),
      ParamSpec::string("description", "What the pipeline is for").with_default(""),
      ParamSpec::integer("seed", "Seed for every random choice (augmentation, shuffling, initialisation)").with_default(0).at_least(0),
      ParamSpec::integer("threads", "Intra-op threads of LibTorch (the models; decode workers run OpenCV on one thread each); 0 uses every core").with_default(0).in_range(0, 1024),
      ParamSpec::integer("workers", "Threads that decode and preprocess images ahead of the model").with_default(2).in_range(1, 256),
      ParamSpec::integer("batch_size", "Images per model call at prediction and evaluation").with_default(16).in_range(1, 65536),
      ParamSpec::string("on_error", "What an unreadable image does: skip it (logged and counted) or stop the run")
          .with_default("skip")
          .one_of({"skip", "fail"}),
      ParamSpec::boolean("decode_hints",
                         "Let readers decode only what the first preprocessing steps keep (grey, a reduced JPEG scale that "
                         "still covers the first resize); false decodes every image in full")
          .with_default(ParamValue{true}),
      ParamSpec::boolean("optimize",
                         "Score with each model's inference form (BatchNorm folded into convolutions, channels-last, "
                         "frozen TorchScript); false scores with the trainable form")
          .with_default(ParamValue{true}),
  };
  return schema;
}

const Schema& train_table_schema() {
  static const Schema schema{
      ParamSpec::integer("epochs", "Passes over the training split").with_default(10).in_range(1, 100000),
      ParamSpec::integer("steps",
                         "Train for this many optimisation steps (batches) instead of `epochs` passes; 0: train by epochs. "
                         "Validation and checkpoints still follow each pass, and the last pass stops at the count")
          .with_default(0)
          .at_least(0),
      ParamSpec::integer("batch_size", "Images per optimisation step").with_default(16).in_range(1, 65536),
      ParamSpec::string("optimizer", "Optimiser").with_default("adam").one_of({"adam", "adamw", "sgd", "adagrad"}),
      ParamSpec::real("learning_rate", "Initial learning rate").with_default(ParamValue{1e-4}).in_range(1e-12, 10),
      ParamSpec::real("weight_decay", "L2 penalty (decoupled for adamw)").with_default(ParamValue{0.0}).in_range(0, 1),
      ParamSpec::real("momentum", "SGD momentum").with_default(ParamValue{0.9}).in_range(0, 1),
      ParamSpec::string("class_weights",
                        "Positive/negative loss weights: per_part (from each body part's counts, as MURA), global (from all "
                        "counts), standardization (w_pos = 1 + (N+b)/P, w_neg = 1 + P/N), explicit, or none")
          .with_default("per_part")
          .one_of({"per_part", "global", "standardization", "explicit", "none"}),
      ParamSpec::real("positive_weight", "Loss weight of positive images when class_weights = \"explicit\"").with_default(ParamValue{1.0}).at_least(0),
      ParamSpec::real("negative_weight", "Loss weight of negative images when class_weights = \"explicit\"").with_default(ParamValue{1.0}).at_least(0),
      ParamSpec::real("standardization_bias", "The b of the standardization report's weight formula").with_default(ParamValue{0.0}).at_least(0),
      ParamSpec::string("scheduler", "Learning-rate schedule").with_default("plateau").one_of({"plateau", "step", "cosine", "none"}),
      ParamSpec::real("plateau_factor", "Factor applied to the rate when the monitored value stalls").with_default(ParamValue{0.1}).in_range(1e-6, 1),
      ParamSpec::integer("plateau_patience", "Epochs without improvement before the rate drops").with_default(1).at_least(0),
      ParamSpec::integer("step_size", "Epochs (or steps, with step_unit = \"step\") between drops of the step schedule")
          .with_default(10)
          .at_least(1),
      ParamSpec::string("step_unit", "What step_size counts: epochs, or optimisation steps (batches)")
          .with_default("epoch")
          .one_of({"epoch", "step"}),
      ParamSpec::real("step_gamma", "Factor of each step-schedule drop").with_default(ParamValue{0.1}).in_range(1e-6, 1),
      ParamSpec::string("monitor", "Validation value that picks the best checkpoint and drives plateau and early stopping")
          .with_default("val_loss")
          .one_of({"val_loss", "kappa", "auroc", "accuracy", "macro_f1"}),
      ParamSpec::integer("early_stopping", "Stop after this many epochs without improvement; 0 never stops early").with_default(0).at_least(0),
      ParamSpec::string("select",
                        "Which epoch's weights best.pt holds, and so what predict, evaluate and cv score: best, the epoch "
                        "with the best monitored validation value; last, the final epoch's (the end of a fixed schedule, "
                        "which a validation split too small to rank epochs cannot pick by its noise)")
          .with_default("best")
          .one_of({"best", "last"}),
      ParamSpec::string("train_split", "Samples whose split is this train").with_default("train"),
      ParamSpec::string("valid_split", "Samples whose split is this validate").with_default("valid"),
      ParamSpec::integer("limit", "Use at most this many training images (0: all); for quick trials and tests").with_default(0).at_least(0),
      ParamSpec::path("output", "Folder for checkpoints, history.csv and curves").with_default("runs"),
      ParamSpec::integer("keep_best", "Best checkpoints kept besides the last one").with_default(3).in_range(1, 100),
      ParamSpec::real("mixup",
                      "mixup (Zhang et al., 2018): alpha of the Beta(alpha, alpha) draw of lambda, one per batch; each "
                      "training image becomes lambda x + (1 - lambda) x' with a partner x' from the same batch, and the "
                      "loss the same mix of the losses against both labels. 0 mixes nothing; 0.2 is the paper's ImageNet value")
          .with_default(ParamValue{0.0})
          .in_range(0, 100),
      ParamSpec::real("ema_decay",
                      "Exponential moving average of the weights, updated after every optimisation step t with decay "
                      "min(ema_decay, (1+t)/(10+t)); validation, best.pt and the checkpoints' model.average.pt hold the "
                      "average, which predict, evaluate and explain then score. 0 keeps no average")
          .with_default(ParamValue{0.0})
          .in_range(0, 0.999999),
      ParamSpec::strings("freeze", "Parameters kept fixed: every model parameter whose name starts with one of these "
                                   "prefixes (e.g. [\"features\"] trains only a DenseNet's classifier)")
          .with_default(ParamValue{std::vector<std::string>{}}),
      ParamSpec::string("precision",
                        "Numeric precision of the training forward pass: fp32, or autocast to bf16 (CPU and CUDA; no loss "
                        "scaling needed) or fp16 (CUDA only, with a dynamic loss scaler). Validation scores as predict "
                        "does, with the [model] table's precision")
          .with_default("fp32")
          .one_of({"fp32", "bf16", "fp16"}),
      ParamSpec::boolean("distributed_overlap",
                         "Distributed training: all-reduce each bucket of gradients as soon as the backward pass has "
                         "produced all of them, overlapping communication with computation; false all-reduces after the "
                         "backward pass")
          .with_default(ParamValue{true}),
      ParamSpec::real("distributed_bucket_mb", "Distributed training: MiB of gradients all-reduced together (one collective each)")
          .with_default(ParamValue{25.0})
          .in_range(1e-6, 4096),
      ParamSpec::string("on_nonfinite_loss",
                        "A batch whose loss or gradient is NaN or infinite: stop training (naming epoch, batch and the likely "
                        "cause) or skip the batch (logged; an epoch that skips every batch still stops)")
          .with_default("stop")
          .one_of({"stop", "skip"}),
      ParamSpec::string("distributed_sampler",
                        "Distributed training (docs/distributed.md): when the epoch's images do not split evenly across the "
                        "ranks, pad (repeat the first images of the shuffled order, so every image is seen) or drop the rest")
          .with_default("pad")
          .one_of({"pad", "drop"}),
      ParamSpec::string("distributed_batchnorm",
                        "Distributed training: BatchNorm running statistics (and every other floating-point buffer) averaged "
                        "across the ranks at the end of each epoch, or left local (rank 0's are saved); batch statistics in "
                        "the forward pass are always each rank's own")
          .with_default("average")
          .one_of({"average", "local"}),
      ParamSpec::integer("distributed_timeout",
                         "Distributed training: seconds a rank waits for the others (at start-up and in each collective, "
                         "validation on rank 0 included) before it stops with an error")
          .with_default(1800)
          .in_range(1, 86400),
  };
  return schema;
}

const Schema& evaluate_table_schema() {
  static const Schema schema{
      ParamSpec::string("split", "Split that `radpipe evaluate` scores when --split is not given").with_default("valid"),
      ParamSpec::string("threshold_method",
                        "Operating point: fixed (the [aggregate] threshold), youden (maximises sensitivity + "
                        "specificity - 1), or sensitivity (the most specific threshold reaching target_sensitivity)")
          .with_default("fixed")
          .one_of({"fixed", "youden", "sensitivity"}),
      ParamSpec::real("target_sensitivity", "Sensitivity the threshold must reach when threshold_method = \"sensitivity\"")
          .with_default(ParamValue{0.9})
          .in_range(0.01, 1.0),
      ParamSpec::string("threshold_split", "Split whose predictions choose the threshold (image and study level apart)")
          .with_default("valid"),
      ParamSpec::integer("bootstrap_resamples", "Bootstrap resamples for the confidence intervals; 0 skips them")
          .with_default(2000)
          .in_range(0, 1000000),
      ParamSpec::real("confidence_level", "Coverage of the confidence intervals").with_default(ParamValue{0.95}).in_range(0.5, 0.999),
      ParamSpec::integer("seed", "Seed of the bootstrap resampling (absent: the [pipeline] seed)").optional().at_least(0),
      ParamSpec::integer("explain_per_group",
                         "With an [explain] stage: Grad-CAM figures in the report of the most confident true positives, "
                         "false positives and false negatives, this many of each; 0 draws none")
          .with_default(4)
          .in_range(0, 64),
      ParamSpec::path("reference",
                      "Published kappas per study type (CSV study_type,reader,kappa,ci_low,ci_high, e.g. "
                      "shared/reference/mura-kappa.csv) shown beside ours; --reference overrides")
          .optional()
          .existing(),
  };
  return schema;
}

const std::vector<std::string>& chain_train_keys() {
  static const std::vector<std::string> keys{"epochs",         "batch_size",      "optimizer",        "learning_rate",
                                             "weight_decay",   "momentum",        "class_weights",    "positive_weight",
                                             "negative_weight", "standardization_bias", "scheduler",  "plateau_factor",
                                             "plateau_patience", "step_size",     "step_gamma",       "monitor",
                                             "steps",          "step_unit",
                                             "early_stopping", "select",          "freeze",           "precision",        "ema_decay",
                                             "mixup"};
  return keys;
}

bool ChainConfig::matches(std::string_view value) const {
  auto same = [&](std::string_view other) {
    return value.size() == other.size() &&
           std::equal(value.begin(), value.end(), other.begin(), [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); });
  };
  if (same(name)) return true;
  return std::any_of(match.begin(), match.end(), same);
}

const ChainConfig* PipelineConfig::chain(std::string_view name) const {
  for (const auto& each : chains)
    if (each.name == name) return &each;
  return nullptr;
}

namespace {

const std::set<std::string> device_words{"auto", "cpu", "cuda"};

std::string with_article(std::string_view noun) {
  return (std::string_view("aeiou").find(noun.front()) != std::string_view::npos ? "an " : "a ") + std::string(noun);
}

bool valid_device(const std::string& text) {
  static const std::regex cuda_index("cuda:[0-9]+");
  return device_words.count(text) || std::regex_match(text, cuda_index);
}

// A node knows the source it was parsed from: the file, or a `--set` override.
SourceLocation location_of(const toml::source_region& region, const fs::path& file) {
  return {region.path ? *region.path : file.string(), static_cast<int>(region.begin.line), static_cast<int>(region.begin.column)};
}

// Converts one TOML value to a ParamValue, or explains why it cannot be one.
std::optional<ParamValue> to_param_value(const toml::node& node, ParamType wanted, std::string& problem) {
  if (auto value = node.as_boolean()) return ParamValue{value->get()};
  if (auto value = node.as_integer()) return ParamValue{std::int64_t{value->get()}};
  if (auto value = node.as_floating_point()) return ParamValue{value->get()};
  if (auto value = node.as_string()) return ParamValue{value->get()};
  if (const auto* array = node.as_array()) {
    if (array->empty()) {
      switch (wanted) {
      case ParamType::IntList: return ParamValue{std::vector<std::int64_t>{}};
      case ParamType::FloatList: return ParamValue{std::vector<double>{}};
      default: return ParamValue{std::vector<std::string>{}};
      }
    }
    bool all_integers = true, all_numbers = true, all_strings = true;
    for (const auto& item : *array) {
      all_integers &= item.is_integer();
      all_numbers &= item.is_number();
      all_strings &= item.is_string();
    }
    if (all_integers) {
      std::vector<std::int64_t> items;
      for (const auto& item : *array) items.push_back(item.as_integer()->get());
      return ParamValue{std::move(items)};
    }
    if (all_numbers) {
      std::vector<double> items;
      for (const auto& item : *array) items.push_back(item.value<double>().value_or(0.0));
      return ParamValue{std::move(items)};
    }
    if (all_strings) {
      std::vector<std::string> items;
      for (const auto& item : *array) items.push_back(item.as_string()->get());
      return ParamValue{std::move(items)};
    }
    problem = "expected a " + std::string(to_string(wanted)) + " list, got a list mixing types or holding tables";
    return std::nullopt;
  }
  if (node.is_table()) problem = "expected " + std::string(to_string(wanted)) + ", got a table";
  else problem = "expected " + std::string(to_string(wanted)) + ", got a date or time";
  return std::nullopt;
}

class Validator {
public:
  Validator(const fs::path& file, const PluginHost& plugins) : file_(file), plugins_(plugins) {
    folder_ = file.has_parent_path() ? file.parent_path() : fs::path(".");
  }

  ValidationResult run(const toml::table& document) {
    PipelineConfig config;
    config.file = file_;
    config.folder = folder_;

    check_top_level(document);
    config.settings = read_table(document, "pipeline", pipeline_table_schema(), {});

    if (auto stage = read_stage(document, "reader", StageKind::Reader)) config.reader = std::move(*stage);
    config.preprocess = read_steps(document, "preprocess", "preprocess");
    if (const auto* train = document.get_as<toml::table>("train"))
      config.train = read_params(*train, "[train]", train_table_schema(), {});
    else if (document.contains("train"))
      error(document.get("train")->source(), "[train] must be a table");
    read_aggregate(document, config);
    read_default_chain(document, config);
    read_routes(document, config);
    if (document.contains("explain")) config.explain = read_stage(document, "explain", StageKind::Explainer);
    config.outputs = read_steps(document, "output", "output", StageKind::Writer);
    if (const auto* evaluate = document.get_as<toml::table>("evaluate")) {
      config.evaluate = read_params(*evaluate, "[evaluate]", evaluate_table_schema(), {});
    } else {
      if (document.contains("evaluate")) error(document.get("evaluate")->source(), "[evaluate] must be a table");
      config.evaluate = read_params(toml::table{}, "[evaluate]", evaluate_table_schema(), {});
    }

    ValidationResult result;
    result.diagnostics = std::move(diagnostics_);
    if (result.diagnostics.empty()) result.config = std::move(config);
    return result;
  }

private:
  void error(const toml::source_region& region, std::string message) {
    diagnostics_.push_back({location_of(region, file_), std::move(message)});
  }

  void check_top_level(const toml::table& document) {
    static const std::vector<std::string> known{"pipeline", "reader", "preprocess", "model", "route", "aggregate", "train",
                                                "evaluate", "explain", "output"};
    for (const auto& [key, node] : document) {
      const std::string name(key.str());
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      std::string message = "unknown table [" + name + "]";
      if (auto close = closest_match(name, known); !close.empty()) message += "; did you mean [" + close + "]?";
      else message += "; the pipeline tables are " + join(known);
      error(key.source(), message);
    }
  }

  // Validates every key of `table` against `schema`; `host_keys` are consumed by the host itself.
  Params read_params(const toml::table& table, const std::string& where, const Schema& schema,
                     const std::set<std::string>& host_keys, bool ignore_unknown = false) {
    Params params;
    std::set<std::string> present; // written in the file, valid or not: never reported as missing
    std::vector<std::string> valid_names(host_keys.begin(), host_keys.end());
    for (const auto& spec : schema.specs()) valid_names.push_back(spec.name);

    for (const auto& [key, node] : table) {
      const std::string name(key.str());
      if (host_keys.count(name)) continue;
      const ParamSpec* spec = schema.find(name);
      if (spec == nullptr && ignore_unknown) continue;
      if (spec == nullptr && name == "mixed_precision" && schema.find("precision") != nullptr) {
        error(key.source(), "key 'mixed_precision' in " + where +
                                " was replaced by 'precision': write precision = \"bf16\" for bfloat16 autocast (now on CPU "
                                "too), or precision = \"fp32\" (the default) for none");
        continue;
      }
      if (spec == nullptr) {
        std::string message = "unknown key '" + name + "' in " + where;
        if (auto close = closest_match(name, valid_names); !close.empty()) message += "; did you mean '" + close + "'?";
        else if (!valid_names.empty()) message += "; valid keys: " + join(valid_names);
        error(key.source(), message);
        continue;
      }
      present.insert(name);
      std::string problem;
      auto value = to_param_value(node, spec->type, problem);
      if (value && spec->type == ParamType::Path) {
        if (auto* text = std::get_if<std::string>(&*value); text && !text->empty()) {
          fs::path path(*text);
          if (path.is_relative()) path = folder_ / path;
          *text = path.lexically_normal().string();
        }
      }
      if (value) problem = spec->check(*value);
      if (!problem.empty()) {
        error(node.source(), "key '" + name + "' in " + where + ": " + problem);
        continue;
      }
      params.set(name, std::move(*value));
    }

    std::vector<std::string> missing;
    for (const auto& spec : schema.specs()) {
      if (present.count(spec.name)) continue;
      if (spec.default_value) {
        ParamValue value = *spec.default_value;
        if (spec.type == ParamType::Path) {
          auto& text = std::get<std::string>(value);
          if (!text.empty() && fs::path(text).is_relative()) text = (folder_ / text).lexically_normal().string();
        }
        params.set(spec.name, std::move(value));
      } else if (spec.required()) {
        missing.push_back(spec.name);
      }
    }
    for (const auto& name : missing) {
      const ParamSpec* spec = schema.find(name);
      error(table.source(), "missing required key '" + name + "' in " + where + " (" + std::string(to_string(spec->type)) +
                                "): " + spec->doc);
    }
    return params;
  }

  Params read_table(const toml::table& document, const std::string& name, const Schema& schema,
                    const std::set<std::string>& host_keys) {
    const auto* table = document.get_as<toml::table>(name);
    if (table == nullptr) {
      if (const auto* node = document.get(name)) error(node->source(), "[" + name + "] must be a table");
      else diagnostics_.push_back({{file_.string(), 1, 1}, "missing table [" + name + "]"});
      return {};
    }
    return read_params(*table, "[" + name + "]", schema, host_keys);
  }

  std::optional<StageEntry> resolve_stage(const toml::table& table, const std::string& where, StageKind kind) {
    const auto* stage_node = table.get("stage");
    if (stage_node == nullptr) {
      std::vector<std::string> names;
      for (const auto& entry : plugins_.stages_of(kind)) names.push_back(entry.stage->name);
      error(table.source(), "missing required key 'stage' in " + where + ": the " + std::string(to_string(kind)) +
                                " to use (available: " + (names.empty() ? std::string("none") : join(names)) + ")");
      return std::nullopt;
    }
    const auto* stage_name = stage_node->as_string();
    if (stage_name == nullptr) {
      error(stage_node->source(), "key 'stage' in " + where + ": expected a string naming a " + std::string(to_string(kind)));
      return std::nullopt;
    }
    const std::string name = stage_name->get();
    if (auto entry = plugins_.find(kind, name)) return entry;
    if (auto clash = plugins_.ambiguity(kind, name); !clash.empty()) {
      error(stage_node->source(), clash + " (in " + where + ")");
      return std::nullopt;
    }

    std::vector<std::string> names;
    for (const auto& entry : plugins_.stages_of(kind)) names.push_back(entry.stage->name);
    std::string message = "unknown " + std::string(to_string(kind)) + " stage '" + name + "' in " + where;
    if (auto elsewhere = plugins_.stages_named(name); !elsewhere.empty())
      message += " ('" + name + "' is " + with_article(to_string(elsewhere.front().stage->kind)) + " stage of plugin " +
                 elsewhere.front().plugin->name + ")";
    if (auto close = closest_match(name, names); !close.empty()) message += "; did you mean '" + close + "'?";
    message += "; available " + std::string(to_string(kind)) + " stages: " + (names.empty() ? std::string("none") : join(names));
    if (!plugins_.broken().empty())
      message += "; " + std::to_string(plugins_.broken().size()) + " plugin librar" +
                 (plugins_.broken().size() == 1 ? "y" : "ies") + " failed to load (see `radpipe plugins`)";
    error(stage_node->source(), message);
    return std::nullopt;
  }

  // A stage table: `stage` names the stage, the host's keys for its kind (host_keys_for) go to
  // `host`, every other key except those in `skip` is checked against the stage's schema.
  std::optional<StageConfig> read_stage_table(const toml::table& table, const std::string& label, const std::string& where,
                                              StageKind kind, Params* host = nullptr, const std::set<std::string>& skip = {}) {
    const Schema& host_schema = host_keys_for(kind);
    if (host != nullptr) *host = read_params(table, where, host_schema, {}, true);
    auto entry = resolve_stage(table, where, kind);
    if (!entry) return std::nullopt;
    std::set<std::string> keys = skip;
    keys.insert("stage");
    for (const auto& spec : host_schema.specs()) keys.insert(spec.name);
    const std::string described = where + " (" + std::string(to_string(kind)) + " '" + entry->stage->name + "')";
    StageConfig stage{label, *entry, read_params(table, described, entry->stage->schema, keys), location_of(table.source(), file_), {}};
    for (const auto& [key, node] : table) stage.key_locations.emplace(std::string(key.str()), location_of(node.source(), file_));
    return stage;
  }

  std::optional<StageConfig> read_stage(const toml::table& document, const std::string& name, StageKind kind, Params* host = nullptr) {
    const auto* table = document.get_as<toml::table>(name);
    if (table == nullptr) {
      if (const auto* node = document.get(name)) error(node->source(), "[" + name + "] must be a table");
      else diagnostics_.push_back({{file_.string(), 1, 1}, "missing table [" + name + "] (the " + std::string(to_string(kind)) + ")"});
      return std::nullopt;
    }
    return read_stage_table(*table, name, "[" + name + "]", kind, host);
  }

  // An array of transform tables: [[preprocess]] or [[route.NAME.preprocess]].
  std::vector<StageConfig> read_steps(const toml::table& parent, const std::string& key, const std::string& label_stem,
                                      StageKind kind = StageKind::Transform) {
    std::vector<StageConfig> steps;
    const std::string shown = "[[" + label_stem + "]]";
    const auto* node = parent.get(key);
    if (node == nullptr) return steps;
    const auto* array = node->as_array();
    if (array == nullptr || !array->is_array_of_tables()) {
      error(node->source(), label_stem + " must be an array of tables: write each step as " + shown);
      return steps;
    }
    std::size_t index = 0;
    for (const auto& item : *array) {
      ++index;
      const std::string label = label_stem + "[" + std::to_string(index) + "]";
      if (auto stage = read_stage_table(*item.as_table(), label, shown + " #" + std::to_string(index), kind))
        steps.push_back(std::move(*stage));
    }
    return steps;
  }

  // The device key of a model table: the schema only knows it is a string.
  void check_device(const toml::table& model, const std::string& label) {
    const auto* node = model.get("device");
    if (node == nullptr) return;
    const auto* text = node->as_string();
    if (text != nullptr && !valid_device(text->get()))
      error(node->source(), "key 'device' in [" + label + "]: expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\", got \"" + text->get() + "\"");
  }

  // The `ensemble` key of a model table: its files resolved against the pipeline's folder, each
  // one that is not a file reported at its item; false when one is not.
  bool resolve_ensemble(const toml::table& model, const std::string& label, ChainConfig& chain) {
    const std::vector<std::string> written = chain.ensemble();
    const auto* node = model.get("ensemble");
    const auto* list = node != nullptr ? node->as_array() : nullptr;
    std::vector<std::string> files;
    bool valid = true;
    for (std::size_t index = 0; index < written.size(); ++index) {
      fs::path path(written[index]);
      if (path.is_relative()) path = folder_ / path;
      path = path.lexically_normal();
      std::error_code code;
      const auto status = fs::status(path, code);
      if (!fs::is_regular_file(status)) {
        const auto& where = list != nullptr && index < list->size() ? (*list)[index].source() : model.source();
        error(where, "key 'ensemble' in [" + label + "]: item " + std::to_string(index) + ": " +
                         (fs::is_directory(status) ? path.string() + " is a folder; name the weights file in it (best.pt, model.pt)"
                                                   : "no such file: " + path.string()) +
                         " (relative paths resolve against the pipeline file's folder)");
        valid = false;
      }
      files.push_back(path.string());
    }
    if (!written.empty()) chain.model_host.set("ensemble", ParamValue{files});
    return valid;
  }

  // The model table of a chain; false when it is invalid.
  bool read_chain_model(const toml::table& model, const std::string& label, ChainConfig& chain) {
    check_device(model, label);
    auto stage = read_stage_table(model, label, "[" + label + "]", StageKind::Model, &chain.model_host);
    if (!stage) return false;
    chain.model = std::move(*stage);
    if (!resolve_ensemble(model, label, chain)) return false;
    if (chain.model_host.has("classes")) {
      const auto& classes = chain.model_host.strings("classes");
      std::set<std::string> unique(classes.begin(), classes.end());
      if (classes.size() < 2 || unique.size() != classes.size()) {
        error(model.get("classes")->source(), "key 'classes' in [" + label + "]: expected two or more distinct class names");
        return false;
      }
    }
    return true;
  }

  std::size_t pipeline_batch_size(const PipelineConfig& config) const {
    return static_cast<std::size_t>(config.settings.has("batch_size") ? config.settings.integer("batch_size") : 16);
  }

  void read_default_chain(const toml::table& document, PipelineConfig& config) {
    const auto* node = document.get("model");
    if (node == nullptr) return; // then the routes must cover every case: read_routes checks that
    const auto* model = node->as_table();
    if (model == nullptr) {
      error(node->source(), "[model] must be a table");
      return;
    }
    ChainConfig chain;
    chain.name = "default";
    chain.table = "model";
    chain.where = location_of(model->source(), file_);
    chain.batch_size = pipeline_batch_size(config);
    chain.aggregate = config.aggregate;
    chain.threshold = config.threshold;
    chain.train = config.train;
    if (read_chain_model(*model, "model", chain)) config.chains.push_back(std::move(chain));
  }

  // [route.NAME.train]: the overridable [train] keys, on top of the pipeline's [train].
  std::optional<Params> read_chain_train(const toml::table& table, const std::string& label, const PipelineConfig& config) {
    const auto* node = table.get("train");
    if (node == nullptr) return config.train;
    const auto* train = node->as_table();
    if (train == nullptr) {
      error(node->source(), "[" + label + ".train] must be a table");
      return config.train;
    }
    if (!config.train) {
      error(node->source(), "[" + label + ".train] overrides [train], but the pipeline has no [train] table");
      return std::nullopt;
    }
    Schema overridable;
    for (const auto& key : chain_train_keys()) overridable.add(*train_table_schema().find(key));
    Params merged = *config.train;
    Params overrides = read_params(*train, "[" + label + ".train]", overridable, {});
    for (const auto& [key, node_value] : *train) {
      (void)node_value;
      const std::string name(key.str());
      if (auto found = overrides.values().find(name); found != overrides.values().end()) merged.set(name, found->second);
    }
    return merged;
  }

  // [route.NAME]: a whole chain, with its own steps, model, batch size, aggregator and training.
  void read_route_chain(const toml::table& table, const std::string& name, const toml::key& key, PipelineConfig& config) {
    const std::string label = "route." + name;
    static const std::regex valid_name("[A-Za-z0-9_-]+");
    if (name == "default") {
      error(key.source(), "route name 'default' is reserved for the [model] chain; name the route after what it serves");
      return;
    }
    if (!std::regex_match(name, valid_name)) {
      error(key.source(), "route name '" + name + "': use letters, digits, '_' and '-' only (it names checkpoint files)");
      return;
    }
    ChainConfig chain;
    chain.name = name;
    chain.table = label;
    chain.where = location_of(table.source(), file_);
    static const std::set<std::string> sub_tables{"preprocess", "model", "aggregate", "train"};
    Params own = read_params(table, "[" + label + "]", chain_table_schema(), sub_tables);
    chain.batch_size = own.has("batch_size") ? static_cast<std::size_t>(own.integer("batch_size")) : pipeline_batch_size(config);
    if (own.has("match")) chain.match = own.strings("match");
    chain.preprocess = read_steps(table, "preprocess", label + ".preprocess");
    chain.aggregate = config.aggregate;
    chain.threshold = config.threshold;
    if (const auto* node = table.get("aggregate")) {
      if (const auto* aggregate = node->as_table()) {
        Params host;
        if (auto stage = read_stage_table(*aggregate, label + ".aggregate", "[" + label + ".aggregate]", StageKind::Aggregator, &host)) {
          chain.aggregate = std::move(*stage);
          if (host.has("threshold")) chain.threshold = host.real("threshold");
        }
      } else {
        error(node->source(), "[" + label + ".aggregate] must be a table");
      }
    }
    chain.train = read_chain_train(table, label, config);
    const auto* model = table.get_as<toml::table>("model");
    if (model == nullptr) {
      error(table.source(), "route '" + name + "' has no [" + label + ".model] table");
      return;
    }
    if (read_chain_model(*model, label + ".model", chain)) config.chains.push_back(std::move(chain));
  }

  std::vector<std::string> chain_names(const PipelineConfig& config) const {
    std::vector<std::string> names;
    for (const auto& chain : config.chains) names.push_back(chain.name);
    return names;
  }

  void read_routes(const toml::table& document, PipelineConfig& config) {
    const auto* node = document.get("route");
    if (node == nullptr) {
      if (!document.contains("model"))
        diagnostics_.push_back({{file_.string(), 1, 1}, "missing table [model] (the model); without it, a [route] table's chains "
                                                        "must cover every case"});
      return;
    }
    const auto* route = node->as_table();
    if (route == nullptr) {
      error(node->source(), "[route] must be a table");
      return;
    }
    // Tables in [route] are chains; its other keys belong to the router and the host's policy.
    std::set<std::string> route_tables;
    for (const auto& [key, value] : *route)
      if (value.is_table()) route_tables.insert(std::string(key.str()));
    RouteConfig routing;
    auto router = read_stage_table(*route, "route", "[route]", StageKind::Router, &routing.policy, route_tables);
    for (const auto& [key, value] : *route)
      if (value.is_table()) read_route_chain(*value.as_table(), std::string(key.str()), key, config);
    if (config.chains.empty()) {
      error(route->source(), "[route] has no chain: add [route.NAME.model] tables, or a [model] table");
      return;
    }
    if (!router) return;
    routing.router = std::move(*router);

    auto source_of = [&](const char* key) { return route->get(key) ? route->get(key)->source() : route->source(); };
    for (const char* key : {"fallback", "consult"}) {
      if (!routing.policy.has(key)) continue;
      const std::string& name = routing.policy.string(key);
      if (config.chain(name) != nullptr) continue;
      std::string message = "key '" + std::string(key) + "' in [route]: no chain named '" + name + "'";
      if (auto close = closest_match(name, chain_names(config)); !close.empty()) message += "; did you mean '" + close + "'?";
      error(source_of(key), message + "; chains: " + join(chain_names(config)));
    }
    if (routing.policy.has("fallback")) routing.fallback = routing.policy.string("fallback");
    else if (config.chain("default") != nullptr) routing.fallback = "default";
    if (routing.policy.string("on_unknown") == "fallback" && routing.fallback.empty())
      error(source_of("on_unknown"), "[route] sends studies without a chain to the fallback chain (on_unknown = \"fallback\"), but there "
                                     "is none: add a [model] chain, name one with fallback = \"CHAIN\", or set on_unknown = \"skip\" or \"fail\"");
    if (routing.policy.has("consult")) {
      const ChainConfig* consulted = config.chain(routing.policy.string("consult"));
      if (consulted != nullptr && consulted->classes().empty())
        error(source_of("consult"), "key 'consult' in [route]: chain '" + consulted->name +
                                        "' has no classes; a consulted chain classifies: give its model table classes = [...]");
    }
    config.route = std::move(routing);
  }

  void read_aggregate(const toml::table& document, PipelineConfig& config) {
    Params host;
    if (auto stage = read_stage(document, "aggregate", StageKind::Aggregator, &host)) {
      config.aggregate = std::move(*stage);
      // An invalid threshold was reported and left no value: keep the default for the rest of the checks.
      if (host.has("threshold")) config.threshold = host.real("threshold");
    }
  }

  fs::path file_;
  fs::path folder_;
  const PluginHost& plugins_;
  std::vector<Diagnostic> diagnostics_;
};

} // namespace

ValidationResult parse_pipeline(std::string_view text, const fs::path& file, const PluginHost& plugins,
                                const std::vector<std::string>& overrides) {
  toml::table document;
  try {
    document = toml::parse(text, file.string());
  } catch (const toml::parse_error& error) {
    ValidationResult result;
    result.diagnostics.push_back({location_of(error.source(), file), std::string(error.description())});
    return result;
  }
  PipelineOverrides changes(overrides);
  auto problems = changes.apply(document, file);
  ValidationResult result = Validator(file, plugins).run(document);
  changes.relocate(result.diagnostics);
  result.diagnostics.insert(result.diagnostics.begin(), problems.begin(), problems.end());
  if (!result.diagnostics.empty()) {
    result.config.reset();
  } else {
    changes.relocate(*result.config);
    result.config->overrides = overrides;
  }
  return result;
}

ValidationResult load_pipeline(const fs::path& file, const PluginHost& plugins, const std::vector<std::string>& overrides) {
  const auto refuse = [&](const std::string& message) {
    ValidationResult result;
    result.diagnostics.push_back({{file.string(), 0, 0}, message});
    return result;
  };
  // Checked before opening: a FIFO would block the open forever, and a folder opens fine and reads
  // as an empty document ("missing table [pipeline]").
  std::error_code error;
  const auto status = fs::status(file, error);
  if (!fs::exists(status)) return refuse("cannot open the pipeline file: " + (error ? error.message() : std::string("no such file")));
  if (fs::is_directory(status)) return refuse("is a folder, not a pipeline file: give the .toml file to use");
  if (!fs::is_regular_file(status))
    return refuse(std::string("is ") + (fs::is_fifo(status) ? "a FIFO (named pipe)" : "a device or socket") +
                  ", not a pipeline file: radpipe reads pipelines from regular files");
  constexpr std::uintmax_t largest_pipeline = 4 * 1024 * 1024;
  if (const auto size = fs::file_size(file, error); !error && size > largest_pipeline)
    return refuse("is " + std::to_string(size) + " bytes: far too large for a pipeline file (a few KiB of TOML)");
  std::ifstream stream(file, std::ios::binary);
  if (!stream) return refuse("cannot open the pipeline file: " + std::string(std::strerror(errno)));
  std::ostringstream buffer;
  buffer << stream.rdbuf();
  const std::string text = buffer.str();
  if (text.find('\0') != std::string::npos) return refuse("is not a text file (it holds NUL bytes): is it really a pipeline file?");
  return parse_pipeline(text, file, plugins, overrides);
}

} // namespace radpipe::host
