// Decodes and preprocesses samples on a pool of worker threads, behind a bounded window, and
// hands them out in enumeration order. Memory stays flat however long the listing: at most
// `window` samples are enumerated but not yet consumed.
#pragma once

#include "runtime/pipeline.hpp"

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

struct SkippedSample {
  std::string path;
  std::string reason;
};

struct StreamOptions {
  int workers = 2;
  std::size_t window = 64;
  bool skip_bad_samples = true; // false: the first unreadable sample stops the run
  TransformContext transform;   // run mode, seed, epoch
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

  // The next sample in order, or nullopt at the end. Rethrows a fatal error (a stage's
  // configuration error, or a bad sample when skipping is off).
  std::optional<Sample> next();

  const std::vector<SkippedSample>& skipped() const { return skipped_; }
  std::uint64_t delivered() const { return delivered_; }

private:
  struct Result {
    std::optional<Sample> sample;
    std::optional<SkippedSample> skip;
    std::exception_ptr fatal;
  };

  void enumerate();
  void work();
  Result process(SampleInfo info) const;

  Source source_;
  const Built<Reader>& reader_;
  const std::vector<Built<Transform>>& transforms_;
  StreamOptions options_;

  std::mutex mutex_;
  std::condition_variable changed_;
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
  std::vector<std::jthread> threads_;
};

// A source that enumerates a reader lazily, keeping only samples that `keep` accepts, up to
// `limit` of them (0: no limit).
SampleStream::Source reader_source(Reader& reader, std::function<bool(const SampleInfo&)> keep = {}, std::size_t limit = 0);

// A source that hands out `infos` in order; the vector must outlive the stream.
SampleStream::Source vector_source(const std::vector<SampleInfo>& infos);

} // namespace radpipe::host
