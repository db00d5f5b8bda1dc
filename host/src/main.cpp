// radpipe: the host program. Loads plugins, validates pipeline files and runs them.
#include "io/atomic_file.hpp"
#include "commands/commands.hpp"
#include "commands/cv.hpp"
#include "commands/evaluate.hpp"
#include "commands/explain.hpp"
#include "loader/plugin_host.hpp"
#include "runtime/cpu_allocator.hpp"
#include "runtime/device.hpp"
#include "runtime/distributed.hpp"
#include "commands/preview.hpp"
#include "commands/show.hpp"
#include "commands/split_command.hpp"
#include "commands/train.hpp"

#include <radpipe/error.hpp>
#include <radpipe/fingerprint.hpp>
#include <radpipe/version.hpp>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <radpipe/process_memory.hpp>
#include <iostream>

using namespace radpipe::host;

namespace {

// --checkpoint, and --selected, which only means something with it (predict, explain, evaluate).
void add_checkpoint_options(CLI::App& command, std::filesystem::path& checkpoint, bool& selected_weights,
                            const std::string& checkpoint_doc) {
  auto* checkpoint_option = command.add_option("--checkpoint", checkpoint, checkpoint_doc)->check(CLI::ExistingDirectory);
  command
      .add_flag("--selected", selected_weights,
                "With --checkpoint: each chain's selected weights, those its best.pt holds ([train] select), not those the "
                "checkpoint's epoch ended with")
      ->needs(checkpoint_option);
}

// The arguments of the commands that run a pipeline's models over its images (predict, explain).
void add_scoring_options(CLI::App& command, PredictOptions& options, const std::string& pipeline_doc) {
  command.add_option("pipeline", options.pipeline, pipeline_doc)->required();
  command.add_option("--out", options.out_dir, "Output folder")->required()->type_name("DIR");
  command.add_option("--split", options.split, "Only samples of this split (as the reader reports it)");
  command.add_option("--limit", options.limit, "At most this many images");
  command.add_option("--device", options.device, "Device for every model chain: cpu, cuda, cuda:N, auto");
  add_checkpoint_options(command, options.checkpoint, options.selected_weights,
                         "Checkpoint folder of `radpipe train` (e.g. RUN/checkpoints/last): its weights replace the pipeline's");
}

} // namespace

int main(int argc, char** argv) {
  radpipe::keep_freed_memory_for_reuse(); // LibTorch's scratch buffers: see the header
  keep_large_tensor_buffers_for_reuse(std::size_t{1} << 30);
  // A file-size limit (ulimit -f) would kill radpipe with SIGXFSZ in the middle of a write, without
  // a word. Ignored, the write fails with EFBIG ("File too large") and radpipe reports it (exit 4).
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"radpipe: plugin pipelines for musculoskeletal radiograph analysis", "radpipe"};
  app.set_version_flag("--version", std::string("radpipe " RADPIPE_SDK_VERSION_STRING "\nSDK " RADPIPE_SDK_VERSION_STRING ", plugin ABI ") +
                                        std::to_string(RADPIPE_ABI_VERSION) + "\nbuild fingerprint " RADPIPE_BUILD_FINGERPRINT "\n" + accelerator_build_summary());
  app.require_subcommand(1);
  // Global options may follow the subcommand too (`radpipe plugins --plugin-path DIR`): each
  // subcommand hands the options it does not know to this one. Inherited by the subcommands below.
  app.fallthrough();
  app.footer("Exit codes: 0 success, 1 invalid pipeline or input, 2 bad command line, 3 plugin failure, 4 other failure, "
             "5 stopped by SIGINT/SIGTERM (resumable).");

  GlobalOptions global;
  int verbosity = 0;
  bool quiet = false;
  app.add_option("--plugin-path", global.plugin_paths, "Folder searched for plugins first (repeatable)")->type_name("DIR");
  app.add_option("--threads", global.threads, "Intra-op threads (overrides [pipeline] threads; 0: every core)")->check(CLI::NonNegativeNumber);
  app.add_flag("-v,--verbose", verbosity, "More log output: debug messages and where the time goes per stage");
  app.add_flag("-q,--quiet", quiet, "Only warnings, errors and progress lines on stderr");
  app.add_flag("--allow-insecure-plugins", global.allow_insecure_plugins,
               "Load plugin files that other users could replace (world-writable, or in a folder writable by others)");

  PluginsOptions plugins_options;
  auto* plugins = app.add_subcommand("plugins", "List plugins, their versions, licences and stages, and broken libraries with the reason");
  plugins->add_flag("--json", plugins_options.json, "Machine-readable output");
  plugins->add_option("--verify", plugins_options.verify,
                      "Check every plugin file's SHA-256 against this list (sha256sum format) without loading any; exit 1 on a "
                      "mismatch or an unlisted file")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);

  InspectOptions inspect_options;
  auto* inspect = app.add_subcommand("inspect", "Show a stage's parameters (or the host's tables: '[pipeline]', '[train]', '[evaluate]', '[route.NAME]')");
  auto* inspect_stage = inspect->add_option("stage", inspect_options.stage,
                                            "Stage name; PLUGIN:NAME when plugins share the name, KIND/NAME when kinds do");
  auto* inspect_all = inspect->add_flag("--all", inspect_options.all, "Every stage of every plugin, and the host's tables")->excludes(inspect_stage);
  auto* inspect_json = inspect->add_flag("--json", inspect_options.json, "Machine-readable output");
  inspect->add_flag("--markdown", inspect_options.markdown, "Markdown (with --all: the stage reference, docs/stages.md)")->excludes(inspect_json);
  inspect->callback([&] {
    if (!*inspect_stage && !*inspect_all) throw CLI::RequiredError("a stage name or --all");
  });

  std::filesystem::path pipeline_file;
  auto* check = app.add_subcommand("check", "Validate a pipeline file; exit 0 when valid, 1 when not");
  check->add_option("pipeline", pipeline_file, "Pipeline TOML file")->required();

  PredictOptions predict_options;
  auto* predict = app.add_subcommand("predict", "Score images with a pipeline: predictions.csv, studies.csv, run.json");
  add_scoring_options(*predict, predict_options, "Pipeline TOML file");
  predict->add_flag("--resume", predict_options.resume,
                    "Continue the run in --out: skip the images it committed, finish the studies it cut, append");
  predict->add_option("--shard", predict_options.shard,
                      "Take shard I of N (0-based), by a stable hash of the study id; default: from SLURM_ARRAY_TASK_ID/"
                      "SLURM_ARRAY_TASK_COUNT or JOB_COMPLETION_INDEX")
      ->type_name("I/N");
  predict->add_option("--input", predict_options.inputs,
                      "Read these image files, folders or list files (a path per line) instead of the pipeline's [reader], "
                      "each with the reader plugin that reads it")
      ->type_name("PATH...");
  predict->add_option("--commit-seconds", predict_options.commit_seconds,
                      "Commit the outputs (whole lines, then run.json) once a batch and at least this many seconds "
                      "have passed since the last commit: what a kill can lose; 0 commits every batch")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  predict->add_option("--shard-count", predict_options.shard_count, "Number of shards when JOB_COMPLETION_INDEX gives the index")
      ->check(CLI::PositiveNumber);

  std::filesystem::path merge_out;
  std::vector<std::filesystem::path> merge_shards;
  auto* merge = app.add_subcommand("merge", "Join the outputs of `predict --shard` runs, checking that none is missing or duplicated");
  merge->add_option("out", merge_out, "Output folder")->required()->type_name("DIR");
  merge->add_option("shards", merge_shards, "The shards' --out folders")->required()->check(CLI::ExistingDirectory)->type_name("SHARD_DIR...");

  TrainOptions train_options;
  auto* train = app.add_subcommand("train", "Train a pipeline's models ([train] table): checkpoints, history.csv, curves.png");
  train->add_option("pipeline", train_options.pipeline, "Pipeline TOML file with a [train] table")->required();
  train->add_option("--out", train_options.out_dir, "Output folder (default: [train] output)")->type_name("DIR");
  train->add_flag("--resume", train_options.resume, "Continue from the last checkpoint in the output folder");
  train->add_option("--device", train_options.device, "Device for every model chain: cpu, cuda, cuda:N, auto");
  train->add_option("--epochs", train_options.epochs, "Override [train] epochs")->check(CLI::PositiveNumber);
  train->add_option("--route", train_options.route, "Train only this chain (a [route.NAME] name, or default for [model])")->type_name("NAME");
  train->add_option("--nproc", train_options.nproc, "Train data-parallel in N local processes (Gloo on 127.0.0.1; docs/distributed.md)")
      ->type_name("N")
      ->check(CLI::Range(1, 1024));

  ExplainOptions explain_options;
  auto* explain = app.add_subcommand("explain", "Heatmaps of where the model looked ([explain] table): heatmaps/*.png, index.html");
  add_scoring_options(*explain, explain_options, "Pipeline TOML file with an [explain] table");

  PreviewOptions preview_options;
  auto* preview = app.add_subcommand("preview", "Contact sheets of the first images after each preprocessing step, and index.html");
  preview->add_option("pipeline", preview_options.pipeline, "Pipeline TOML file")->required();
  preview->add_option("--out", preview_options.out_dir, "Output folder")->required()->type_name("DIR");
  preview->add_option("--n", preview_options.count, "How many images")->capture_default_str()->check(CLI::Range(1, 1024));
  preview->add_option("--split", preview_options.split, "Only images of this split (as the reader reports it)");
  preview->add_option("--tile", preview_options.tile, "Cell size in pixels")->capture_default_str()->check(CLI::Range(32, 2048));
  preview->add_option("--checkpoint", preview_options.checkpoint,
                      "Checkpoint folder whose fitted preprocessing state to use (else fitted stages fit on the shown images)")
      ->check(CLI::ExistingDirectory);

  SplitOptions split_options;
  auto* split = app.add_subcommand("split", "Write the reader's listing as a CSV with seeded patient-level split or fold columns");
  split->add_option("pipeline", split_options.pipeline, "Pipeline TOML file")->required();
  split->add_option("--out", split_options.out, "CSV file to write")->required()->type_name("FILE");
  auto* folds = split->add_option("--k", split_options.folds, "k folds (columns fold, split_fold1..k)")->check(CLI::Range(2, 1000));
  split->add_option("--valid", split_options.valid_fraction, "Holdout share of the valid split (column split)")
      ->excludes(folds);
  split->add_option("--seed", split_options.seed, "Seed (default: the pipeline's seed)");

  ShowOptions show_options;
  auto* show = app.add_subcommand("show", "What a reader makes of one image or DICOM file: size, depth, ids, window, intensity range");
  show->add_option("file", show_options.file, "DICOM or image file")->required();
  show->add_option("--png", show_options.png, "Also write the decoded image as an 8-bit PNG")->type_name("OUT");
  show->add_flag("--json", show_options.json, "Machine-readable output");

  EvaluateOptions evaluate_options;
  auto* evaluate = app.add_subcommand("evaluate", "Metrics of a labelled split ([evaluate] table): metrics.json, predictions.csv, report.html");
  evaluate->add_option("pipeline", evaluate_options.pipeline, "Pipeline TOML file")->required();
  evaluate->add_option("--out", evaluate_options.out_dir, "Output folder")->required()->type_name("DIR");
  evaluate->add_option("--split", evaluate_options.split, "Split to evaluate (default: [evaluate] split)");
  add_checkpoint_options(*evaluate, evaluate_options.checkpoint, evaluate_options.selected_weights,
                         "Checkpoint folder of `radpipe train`: its weights replace the pipeline's");
  evaluate->add_option("--reference", evaluate_options.reference, "Published kappas per study type (default: [evaluate] reference)")
      ->check(CLI::ExistingFile);
  evaluate->add_option("--limit", evaluate_options.limit, "At most this many images");
  evaluate->add_option("--device", evaluate_options.device, "Device for every model chain: cpu, cuda, cuda:N, auto");

  CvOptions cv_options;
  auto* cv = app.add_subcommand("cv", "k-fold cross-validation grouped by patient: trains and evaluates every fold, pools the rest");
  cv->add_option("pipeline", cv_options.pipeline, "Pipeline TOML file with a [train] table")->required();
  cv->add_option("--out", cv_options.out_dir, "Output folder")->required()->type_name("DIR");
  cv->add_option("--k", cv_options.folds, "Folds")->capture_default_str()->check(CLI::Range(2, 100));
  cv->add_option("--seed", cv_options.seed, "Seed of the folds (default: the pipeline's seed)");
  cv->add_option("--valid", cv_options.valid_fraction,
                 "Share of each fold's training part held out (by patient) to pick the best epoch and threshold")
      ->capture_default_str();
  cv->add_option("--split", cv_options.splits, "Only samples of this split (repeatable; default: every labelled sample)")
      ->allow_extra_args(false);
  cv->add_flag("--resume", cv_options.resume, "Continue a cross-validation in --out where it stopped");
  cv->add_option("--device", cv_options.device, "Device for every model chain: cpu, cuda, cuda:N, auto");
  cv->add_option("--epochs", cv_options.epochs, "Override [train] epochs")->check(CLI::PositiveNumber);
  cv->add_option("--members", cv_options.members,
                 "Models trained per fold with consecutive seeds; their mean scores the held-out part (an ensemble)")
      ->capture_default_str()
      ->check(CLI::Range(1, 32));

  CompareOptions compare_options;
  auto* compare = app.add_subcommand("compare", "Two evaluations side by side per body part, with deltas and CI overlap");
  compare->add_option("run_a", compare_options.run_a, "Output folder of `radpipe evaluate` (or its metrics.json)")->required();
  compare->add_option("run_b", compare_options.run_b, "The other one; deltas are B - A")->required();
  compare->add_option("--level", compare_options.level, "study or image")->default_val("study")->check(CLI::IsMember({"study", "image"}));

  // Every command that reads a pipeline takes --set, validated like the file itself.
  for (auto* command : {check, predict, train, explain, preview, split, evaluate, cv})
    command->add_option("--set", global.overrides,
                        "Override a pipeline key before validation (repeatable): train.epochs=1, 'preprocess[2].size=[64,64]', "
                        "route.hand.model.depth=18")
        ->type_name("KEY=VALUE")
        ->allow_extra_args(false);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::ParseError& error) {
    app.exit(error);
    return exit_usage;
  }

  auto logger = spdlog::stderr_color_mt("radpipe");
  logger->set_pattern("%^[%l]%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(quiet ? spdlog::level::warn : verbosity >= 1 ? spdlog::level::debug : spdlog::level::info);

  try {
    if (*plugins) return command_plugins(global, plugins_options);
    if (*inspect) return command_inspect(global, inspect_options);
    if (*check) return command_check(global, pipeline_file);
    if (*predict) return command_predict(global, predict_options);
    if (*merge) return command_merge(merge_out, merge_shards);
    if (*train && train_options.nproc > 1 && !started_by_local_group()) {
      if (group_place_from_environment()) {
        spdlog::error("--nproc starts its own ranks, but this process already belongs to a group (RANK, WORLD_SIZE or SLURM_PROCID "
                      "are set): drop --nproc under torchrun, srun or a Kubernetes job");
        return exit_usage;
      }
      return run_local_group(train_options.nproc, argv);
    }
    if (*train) return command_train(global, train_options);
    if (*explain) return command_explain(global, explain_options);
    if (*preview) return command_preview(global, preview_options);
    if (*split) return command_split(global, split_options);
    if (*show) return command_show(global, show_options);
    if (*evaluate) return command_evaluate(global, evaluate_options);
    if (*compare) return command_compare(compare_options);
    if (*cv) return command_cv(global, cv_options);
  } catch (const OutputPathError& error) {
    spdlog::error("{}", error.what());
    return exit_usage;
  } catch (const PluginError& error) {
    spdlog::error("{}", error.what());
    return exit_plugin;
  } catch (const radpipe::SampleError& error) {
    spdlog::error("{}: {}", error.path(), error.what());
    return exit_invalid;
  } catch (const std::exception& error) {
    spdlog::error("{}", error.what());
    return exit_failure;
  }
  return exit_usage;
}
