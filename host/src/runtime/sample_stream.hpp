// Decodes and preprocesses samples on a pool of worker threads, behind a bounded window, and
// hands them out in enumeration order. Memory stays flat however long the listing: at most
// `window` samples are enumerated but not yet consumed.
#pragma once

#include "runtime/pipeline.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace radpipe::host {

// A sample that could not be read or processed: its path, and a reason that names the plugin and
// stage at fault ("plugin NAME, stage KIND NAME: message").
struct SkippedSample {
  SkippedSample(std::string path, std::string reason, std::string plugin = {}, std::string stage = {}, bool plugin_failure = false)
      : path(std::move(path)), reason(std::move(reason)), plugin(std::move(plugin)), stage(std::move(stage)),
        plugin_failure(plugin_failure) {}

  std::string path;
  std::string reason;
  std::string plugin;          // the plugin whose stage failed on it
  std::string stage;           // "transform normalize"
  bool plugin_failure = false; // the stage threw something other than SampleError (a bug, or a resource)
};

// What becomes of a sample that `stage` failed on; call it while the stage's exception is in
// flight (in a catch block). A SampleError, or any other exception, fails that sample only: the
// SkippedSample names its path, the plugin and the stage. A StageError, a configuration problem
// that fails every sample alike, is rethrown as a PluginError naming the sample.
SkippedSample sample_failure(const StageEntry& stage, const std::string& path);

// Stops the run at a failed sample (on_error = "fail"): a SampleError (exit 1), or a PluginError
// (exit 3) when the stage failed with anything but a SampleError; both name sample, plugin, stage.
[[noreturn]] void stop_at(const SkippedSample& skip);

struct StreamOptions {
  int workers = 2;
  std::size_t window = 64;
  bool skip_bad_samples = true; // false: the first unreadable sample stops the run
  TransformContext transform;   // run mode, seed, epoch
  DecodeHint decode_hint;       // what the reader may skip decoding (Pipeline::decode_hint)
};

class SampleStream {
public:
  using Source = std::function<std::optional<SampleInfo>()>;

  // `source` is called from one thread only; `reader.load` and the transforms from several.
  SampleStream(Source source, const Built<Reader>& reader, const std::vector<Built<Transform>>& transforms,
               StreamOptions options);
  ~SampleStream();
  SampleStream(const SampleStream&) = delete;
  SampleStream& operator=(const SampleStream&) = delete;

  // The next sample in order, or nullopt at the end. A stage that throws on one sample fails that
  // sample only: it is skipped (and counted) or, when skipping is off, the run stops with a
  // SampleError (the stage threw SampleError) or a PluginError (anything else), either naming the
  // sample, plugin and stage. A StageError (configuration) stops the run whatever the policy.
  std::optional<Sample> next();

  const std::vector<SkippedSample>& skipped() const { return skipped_; }
  std::uint64_t delivered() const { return delivered_; }
  // Where the workers' time went, per decoded image: "decode 1.20 ms, grayscale 0.05 ms, ..."
  // (the reader's load, then each transform that ran), for the breakdown that -v logs.
  std::string step_times() const;

private:
  struct Result {
    std::optional<Sample> sample;
    std::optional<SkippedSample> skip;
    std::exception_ptr fatal;
  };

  void enumerate();
  void work();
  Result process(SampleInfo info);

  Source source_;
  const Built<Reader>& reader_;
  const std::vector<Built<Transform>>& transforms_;
  StreamOptions options_;

  std::mutex mutex_;
  // One condition per waiter, each signalled only when its waiter can go on: with a single
  // condition notified for every event, each image woke the enumerator, every worker and the
  // consumer three times (futex wake-ups and IPIs were about a seventh of a 2-core run at 128).
  std::condition_variable work_available_;   // workers: pending_ holds a task, or enumeration ended
  std::condition_variable result_available_; // next(): the next result in order is in, or none will be
  std::condition_variable window_has_room_;  // enumerate(): fewer than `window` samples in flight
  std::vector<std::pair<std::uint64_t, SampleInfo>> pending_; // enumerated, not yet taken by a worker (FIFO)
  std::size_t pending_front_ = 0;
  std::map<std::uint64_t, Result> results_;
  std::uint64_t enumerated_ = 0;
  std::uint64_t next_to_deliver_ = 0;
  bool enumeration_done_ = false;
  std::exception_ptr enumeration_error_;
  bool stopping_ = false;

  std::vector<SkippedSample> skipped_;
  std::uint64_t delivered_ = 0;
  std::vector<std::atomic<std::int64_t>> step_nanoseconds_; // [0] decode, then one per transform
  std::atomic<std::int64_t> processed_{0};
  std::vector<std::jthread> threads_;
};

// A source that enumerates a reader lazily, keeping only samples that `keep` accepts, up to
// `limit` of them (0: no limit).
SampleStream::Source reader_source(Reader& reader, std::function<bool(const SampleInfo&)> keep = {}, std::size_t limit = 0);

// A source that hands out `infos` in order; the vector must outlive the stream.
SampleStream::Source vector_source(const std::vector<SampleInfo>& infos);

} // namespace radpipe::host
