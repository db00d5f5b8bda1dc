// A small pool of long-lived radpipe-dicom-decoder processes. Each decodes many files, one at a
// time; pixels come back through shared memory. A helper that dies, aborts, hangs past the time
// limit or answers nonsense costs only the file it was decoding: it is replaced by a fresh one
// when next needed, and the pool goes on. Thread-safe; each pool owns its helpers, and none
// outlives it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "decoder_protocol.hpp"

namespace radpipe::dicom {

class HelperProcess;

// Why the pool could not decode a file, phrased for the user without the file name: the decoder's
// own refusal ("not a DICOM file ..."), or how its helper failed ("the decoder was killed by
// signal 6 (Aborted) (it said: ...); the file is probably malformed").
class DecoderFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DecoderPoolOptions {
  std::filesystem::path program;                // radpipe-dicom-decoder, or a test's stand-in
  std::size_t size = 1;                         // helpers at most, each started when first needed
  std::chrono::milliseconds time_limit{120000}; // per request, a helper's start-up included
  std::size_t requests_per_helper = 0;          // a helper ends after this many; 0 = never
};

class DecoderPool {
 public:
  explicit DecoderPool(DecoderPoolOptions options);
  ~DecoderPool(); // ends every helper
  DecoderPool(const DecoderPool&) = delete;
  DecoderPool& operator=(const DecoderPool&) = delete;

  // Frame `frame` (1-based) of `file`. Throws DecoderFailure.
  DecodedDicom decode(const std::string& file, int frame, const DecodeOptions& options);
  // NumberOfFrames of `file`, from its header. Throws DecoderFailure.
  int count_frames(const std::string& file);
  // Decodes the first frame of a DICOM file held in memory (written to a temporary file for the
  // helper): for tests and fuzz targets, which see any failure as a DecoderFailure.
  DecodedDicom decode_bytes(std::string_view bytes, const DecodeOptions& options);

  // How many helper processes this pool has started so far (replacements included).
  std::size_t helpers_started() const;
  std::size_t size() const;

 private:
  struct Slot;
  std::size_t acquire(const std::string& file);
  void release(std::size_t index);
  // Sends `request` to a helper and returns its answer; the pixels of a decoded frame are copied
  // out of the shared memory into `image` before the helper is handed to another thread.
  DecoderReply call(const DecoderRequest& request, cv::Mat* image);

  DecoderPoolOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<Slot> slots_;
  std::size_t started_ = 0;
};

} // namespace radpipe::dicom
