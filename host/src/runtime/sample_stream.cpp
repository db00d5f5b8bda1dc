#include "runtime/sample_stream.hpp"

#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <spdlog/spdlog.h>

#include <chrono>

namespace radpipe::host {

SampleStream::Source reader_source(Reader& reader, std::function<bool(const SampleInfo&)> keep, std::size_t limit) {
  return [&reader, keep = std::move(keep), limit, taken = std::size_t{0}]() mutable -> std::optional<SampleInfo> {
    if (limit > 0 && taken >= limit) return std::nullopt;
    while (auto info = reader.next()) {
      if (keep && !keep(*info)) continue;
      ++taken;
      return info;
    }
    return std::nullopt;
  };
}

SampleStream::Source vector_source(const std::vector<SampleInfo>& infos) {
  return [&infos, position = std::size_t{0}]() mutable -> std::optional<SampleInfo> {
    if (position >= infos.size()) return std::nullopt;
    return infos[position++];
  };
}

SampleStream::SampleStream(Source source, const Built<Reader>& reader, const std::vector<Built<Transform>>& transforms,
                           StreamOptions options)
    : source_(std::move(source)), reader_(reader), transforms_(transforms), options_(options),
      step_nanoseconds_(transforms.size() + 1) {
  options_.workers = std::max(1, options_.workers);
  options_.window = std::max<std::size_t>(options_.window, static_cast<std::size_t>(options_.workers));
  // The workers are the parallelism: OpenCV's own pool inside each of them (cv::resize splits
  // large images over every core) would run workers x cores threads on the cores and slow each
  // step down; with `workers` threads a run uses exactly the cores it was given.
  cv::setNumThreads(1);
  threads_.emplace_back([this] { enumerate(); });
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { work(); });
}

SampleStream::~SampleStream() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_available_.notify_all();
  result_available_.notify_all();
  window_has_room_.notify_all();
  threads_.clear(); // joins
}

void SampleStream::enumerate() {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      window_has_room_.wait(lock,
                            [&] { return stopping_ || enumerated_ - next_to_deliver_ < options_.window; });
      if (stopping_) return;
    }
    std::optional<SampleInfo> info;
    std::exception_ptr error;
    try {
      info = source_();
    } catch (const std::exception& failure) {
      error = std::make_exception_ptr(PluginError(PluginHost::describe(reader_.entry, "") + failure.what()));
    }
    {
      std::lock_guard lock(mutex_);
      if (!info) {
        enumeration_done_ = true;
        enumeration_error_ = error;
      } else {
        info->index = enumerated_;
        pending_.emplace_back(enumerated_++, std::move(*info));
      }
    }
    if (info) {
      work_available_.notify_one();
      continue;
    }
    work_available_.notify_all();   // idle workers end
    result_available_.notify_all(); // next() may be waiting for the end
    return;
  }
}

namespace {

// Adds the time since the last call to `total`: each step's share of a worker's time.
class StepClock {
public:
  void lap(std::atomic<std::int64_t>& total) {
    const auto now = std::chrono::steady_clock::now();
    total += std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_).count();
    last_ = now;
  }

private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

} // namespace

SkippedSample sample_failure(const StageEntry& stage, const std::string& path) {
  auto failed = [&](const std::string& at, const std::string& message, bool plugin_failure) {
    return SkippedSample(at.empty() ? path : at, PluginHost::describe(stage, "") + message, stage.plugin ? stage.plugin->name : "",
                         stage.stage ? std::string(to_string(stage.stage->kind)) + " " + stage.stage->name : "", plugin_failure);
  };
  try {
    throw;
  } catch (const SampleError& error) {
    return failed(error.path(), error.what(), false);
  } catch (const cv::Exception& error) {
    return failed(path, error.what(), false); // OpenCV refusing these pixels: a property of the sample
  } catch (const StageError& error) {
    throw PluginError(PluginHost::describe(stage, error.key()) + error.what() + " (on " + path + ")", error.key());
  } catch (const std::exception& error) {
    return failed(path, error.what(), true);
  } catch (...) {
    return failed(path, "unknown exception (not derived from std::exception)", true);
  }
}

void stop_at(const SkippedSample& skip) {
  const std::string policy = " (on_error = \"fail\"; set on_error = \"skip\" in [pipeline] to go on)";
  if (skip.plugin_failure) throw PluginError(skip.path + ": " + skip.reason + policy);
  throw SampleError(skip.path, skip.reason + policy);
}

std::string SampleStream::step_times() const {
  const double images = std::max<double>(1.0, static_cast<double>(processed_.load()));
  std::string text;
  for (std::size_t step = 0; step < step_nanoseconds_.size(); ++step) {
    const double milliseconds = static_cast<double>(step_nanoseconds_[step].load()) / 1e6 / images;
    if (step > 0 && milliseconds == 0.0) continue; // a random stage that did not run in this mode
    text += fmt::format("{}{} {:.3f} ms", text.empty() ? "" : ", ", step == 0 ? std::string("decode") : transforms_[step - 1].entry.stage->name,
                        milliseconds);
  }
  return text;
}

SampleStream::Result SampleStream::process(SampleInfo info) {
  Result result;
  const std::string path = info.path;
  const StageEntry* stage = &reader_.entry; // the stage running, to which a failure is attributed
  StepClock clock;
  try {
    Sample sample = reader_.stage->load_hinted(info, options_.decode_hint);
    clock.lap(step_nanoseconds_[0]);
    for (std::size_t step = 0; step < transforms_.size(); ++step) {
      const auto& transform = transforms_[step];
      if (transform.stage->is_random() && options_.transform.mode != RunMode::Train) continue;
      stage = &transform.entry;
      transform.stage->apply(sample, options_.transform);
      clock.lap(step_nanoseconds_[step + 1]);
    }
    ++processed_;
    result.sample = std::move(sample);
  } catch (...) {
    try {
      result.skip = sample_failure(*stage, path);
    } catch (...) {
      result.fatal = std::current_exception();
    }
  }
  return result;
}

void SampleStream::work() {
  while (true) {
    std::pair<std::uint64_t, SampleInfo> task;
    {
      std::unique_lock lock(mutex_);
      work_available_.wait(
          lock, [&] { return stopping_ || pending_front_ < pending_.size() || enumeration_done_; });
      if (stopping_) return;
      if (pending_front_ >= pending_.size()) return; // enumeration done, nothing left
      task = std::move(pending_[pending_front_++]);
      if (pending_front_ == pending_.size()) {
        pending_.clear();
        pending_front_ = 0;
      }
    }
    Result result = process(std::move(task.second));
    bool awaited = false; // next() waits for results in order: an earlier one still out keeps it waiting
    {
      std::lock_guard lock(mutex_);
      awaited = task.first == next_to_deliver_;
      results_.emplace(task.first, std::move(result));
    }
    if (awaited) result_available_.notify_one();
  }
}

std::optional<Sample> SampleStream::next() {
  while (true) {
    Result result;
    {
      std::unique_lock lock(mutex_);
      result_available_.wait(lock, [&] {
        return results_.count(next_to_deliver_) || (enumeration_done_ && next_to_deliver_ == enumerated_);
      });
      auto found = results_.find(next_to_deliver_);
      if (found == results_.end()) {
        if (enumeration_error_) std::rethrow_exception(enumeration_error_);
        return std::nullopt;
      }
      result = std::move(found->second);
      results_.erase(found);
      ++next_to_deliver_;
    }
    window_has_room_.notify_one();
    if (result.fatal) std::rethrow_exception(result.fatal);
    if (result.skip) {
      if (!options_.skip_bad_samples) stop_at(*result.skip);
      spdlog::warn("skipped {}: {}", result.skip->path, result.skip->reason);
      skipped_.push_back(*result.skip);
      continue;
    }
    ++delivered_;
    return std::move(result.sample);
  }
}

} // namespace radpipe::host
