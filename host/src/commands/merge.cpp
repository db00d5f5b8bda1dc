// `radpipe merge OUT SHARD_DIR...`: joins the outputs of the shards of one run, after checking
// against each shard's run.json that the shards are one complete set and that no image is missing
// or duplicated.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <radpipe/output_file.hpp>
#include <radpipe/version.hpp>
#include <set>
#include <unordered_set>

#include "commands/commands.hpp"
#include "io/atomic_file.hpp"
#include "runtime/run_outputs.hpp"
#include "runtime/shard.hpp"

namespace radpipe::host {
namespace fs = std::filesystem;
namespace {

struct ShardRun {
  fs::path folder;
  nlohmann::json run;
  Shard shard;
};

// The first `bytes` of a file, line by line.
void for_each_committed_line(const fs::path& file, std::uint64_t bytes,
                             const std::function<void(const std::string&)>& action) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::string line;
  while (bytes > 0 && std::getline(in, line)) {
    if (line.size() + 1 > bytes)
      throw std::runtime_error(file.string() + " ends inside a line that run.json records as committed");
    bytes -= line.size() + 1;
    action(line);
  }
  if (bytes > 0) throw std::runtime_error(file.string() + " is shorter than its run.json records");
}

} // namespace

int command_merge(const fs::path& out_dir, const std::vector<fs::path>& shard_dirs) {
  std::vector<ShardRun> shards;
  for (const auto& folder : shard_dirs) {
    std::ifstream in(folder / "run.json");
    if (!in) {
      spdlog::error("{}: no run.json", folder.string());
      return exit_invalid;
    }
    ShardRun shard{folder, nlohmann::json::parse(in), {}};
    shard.shard = parse_shard(shard.run.value("shard", std::string("0/1")));
    if (shard.run.value("status", "") != "complete") {
      spdlog::error(
          "{}: run.json says the run is '{}', not complete: finish it with `radpipe predict --resume` first",
          folder.string(), shard.run.value("status", ""));
      return exit_invalid;
    }
    shards.push_back(std::move(shard));
  }
  if (shards.empty()) return exit_usage;
  std::sort(shards.begin(), shards.end(),
            [](const ShardRun& a, const ShardRun& b) { return a.shard.index < b.shard.index; });
  const std::uint64_t count = shards.front().shard.count;
  const std::string pipeline_name = shards.front().run.value("pipeline_name", "");
  std::set<std::uint64_t> seen;
  for (const auto& shard : shards) {
    if (shard.shard.count != count || shard.run.value("pipeline_name", "") != pipeline_name) {
      spdlog::error("{}: shard {} of pipeline '{}' does not belong with shard {} of pipeline '{}'",
                    shard.folder.string(), shard.shard.text(), shard.run.value("pipeline_name", ""),
                    shards.front().shard.text(), pipeline_name);
      return exit_invalid;
    }
    if (!seen.insert(shard.shard.index).second) {
      spdlog::error("shard {} is given twice", shard.shard.text());
      return exit_invalid;
    }
  }
  if (seen.size() != count) {
    std::vector<std::string> missing;
    for (std::uint64_t index = 0; index < count; ++index)
      if (!seen.count(index)) missing.push_back(Shard{index, count}.text());
    spdlog::error("shards missing: {}", join(missing));
    return exit_invalid;
  }

  // Every image once, in the shard its study hashes to, as many as each run.json counts.
  std::unordered_set<std::string> ids;
  std::size_t images = 0, studies = 0;
  for (const auto& shard : shards) {
    const auto files = shard.run.at("files").get<std::map<std::string, std::uint64_t>>();
    std::size_t shard_images = 0;
    for_each_committed_line(
        shard.folder / RunOutputs::ledger_name, files.at(RunOutputs::ledger_name),
        [&](const std::string& line) {
          const auto entry = nlohmann::json::parse(line);
          if (entry.contains("study_done")) return;
          const std::string id = entry.at("id").get<std::string>();
          SampleInfo info;
          info.id = id;
          info.study_id = entry.at("study").get<std::string>();
          if (!shard.shard.holds(info))
            throw std::runtime_error(
                fmt::format("{}: image {} belongs to another shard", shard.folder.string(), id));
          if (!ids.insert(id).second)
            throw std::runtime_error(fmt::format("image {} is in more than one shard", id));
          ++shard_images;
        });
    if (shard_images != shard.run.value("images", std::size_t{0}))
      throw std::runtime_error(fmt::format("{}: the ledger holds {} images but run.json counts {}",
                                           shard.folder.string(), shard_images,
                                           shard.run.value("images", std::size_t{0})));
    images += shard_images;
    studies += shard.run.value("studies", std::size_t{0});
  }

  // Each file: the committed part of every shard's, in shard order; a .csv header line once.
  fs::create_directories(out_dir);
  std::map<std::string, std::uint64_t> merged_files;
  std::set<std::string> names;
  for (const auto& shard : shards)
    for (const auto& [name, bytes] : shard.run.at("files").items()) names.insert(name);
  for (const auto& name : names) {
    const fs::path target = output_path_inside(out_dir, name);
    fs::create_directories(target.parent_path());
    std::uint64_t written = 0;
    write_file_atomically(target, [&](std::ostream& out) {
      std::string header;
      bool first_file = true;
      for (const auto& shard : shards) {
        const auto files = shard.run.at("files");
        if (!files.contains(name)) continue;
        bool first_line = true;
        for_each_committed_line(output_path_inside(shard.folder, name), files.at(name).get<std::uint64_t>(),
                                [&](const std::string& line) {
                                  const bool repeated_header = first_line && !first_file &&
                                                               fs::path(name).extension() == ".csv" &&
                                                               line == header;
                                  if (first_line && first_file) header = line;
                                  first_line = false;
                                  if (repeated_header) return;
                                  out << line << '\n';
                                  written += line.size() + 1;
                                });
        first_file = false;
      }
    });
    merged_files[name] = written;
  }

  nlohmann::json run;
  run["radpipe_version"] = RADPIPE_SDK_VERSION_STRING;
  run["pipeline"] = shards.front().run.value("pipeline", "");
  run["pipeline_name"] = pipeline_name;
  run["status"] = "complete";
  run["shard"] = "0/1";
  run["merged_from"] = nlohmann::json::array();
  for (const auto& shard : shards)
    run["merged_from"].push_back({{"folder", shard.folder.string()}, {"shard", shard.shard.text()}});
  run["images"] = images;
  run["studies"] = studies;
  run["open_studies"] = 0;
  run["files"] = merged_files;
  write_file_atomically(out_dir / "run.json", [&](std::ostream& out) { out << run.dump(2) << '\n'; });
  spdlog::info("merged {} shards: {} images, {} studies into {}", shards.size(), images, studies,
               out_dir.string());
  return exit_ok;
}

} // namespace radpipe::host
