#include "dicom_reader.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <map>
#include <opencv2/core.hpp>
#include <radpipe/error.hpp>
#include <sstream>
#include <thread>

#include "dicom_magic.hpp"

namespace radpipe::dicom {
namespace {

namespace fs = std::filesystem;

constexpr const char* decoder_name = "radpipe-dicom-decoder";

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

bool is_hidden(const fs::path& entry) {
  return entry.filename().string().starts_with('.');
}

bool has_extension(const fs::path& file, const std::vector<std::string>& extensions) {
  return std::find(extensions.begin(), extensions.end(), lower(file.extension().string())) !=
         extensions.end();
}

// DICOM archives name files by UID ("1.2.840.113619.2.55.3"), so only a known extension is
// dropped from an id; anything else after a dot belongs to the name.
std::string id_of(const fs::path& relative, const std::vector<std::string>& extensions) {
  fs::path id = relative;
  if (has_extension(relative, extensions)) id.replace_extension();
  return id.generic_string();
}

} // namespace

Schema DicomReader::schema() {
  return Schema{
      ParamSpec::path(
          "path",
          "A DICOM file, or a folder searched recursively for DICOM files (known extension or the "
          "DICM marker at byte 128; hidden entries skipped)")
          .existing(),
      ParamSpec::strings(
          "extensions",
          "Files with these extensions are read even without the DICM marker (case-insensitive)")
          .with_default(std::vector<std::string>{".dcm", ".dicom"})
          .items(0, 64),
      ParamSpec::string(
          "window",
          "Intensities mapped onto the output's full scale: tags (the VOI LUT, else WindowCenter/Width, "
          "else stored for colour and for 8 bits stored or fewer, full for wider grayscale), stored (the "
          "range BitsStored can hold, as image files are read; 8-bit files come out 8-bit), full (the "
          "frame's min..max), percentile (see percentiles)")
          .with_default("tags")
          .one_of({"tags", "stored", "full", "percentile"}),
      ParamSpec::reals("percentiles",
                       "With window = \"percentile\": the percentiles that become black and white")
          .with_default(ParamValue{std::vector<double>{0.5, 99.5}})
          .items(2, 2)
          .in_range(0.0, 100.0),
      ParamSpec::string("body_part", "Body part for files whose BodyPartExamined is empty (lower-cased)")
          .optional(),
      ParamSpec::string("color",
                        "Colour images (RGB, YBR_FULL, YBR_FULL_422, YBR_RCT, YBR_ICT): luma (one channel, "
                        "0.299 R + 0.587 G + 0.114 B, as the grayscale transform computes it) or rgb (three "
                        "channels); grayscale images are not changed")
          .with_default("luma")
          .one_of({"luma", "rgb"}),
      ParamSpec::integer("decoders",
                         "Decoder processes at most (0: one per core); each decodes many files, and one that "
                         "crashes or runs past timeout_s is replaced")
          .with_default(0)
          .in_range(0, 256),
      ParamSpec::real("timeout_s",
                      "Time limit for decoding one frame; a decoder still running is killed and "
                      "replaced, and the file reported as unreadable")
          .with_default(120.0)
          .in_range(1.0, 3600.0),
  };
}

DicomReader::DicomReader(const Params& params, const StageContext& context)
    : DicomReader(params, context, installed_decoder()) {}

DicomReader::DicomReader(const Params& params, const StageContext& context, fs::path decoder)
    : log_(context.log) {
  if (::access(decoder.c_str(), X_OK) != 0)
    throw StageError("the DICOM decoder " + decoder.string() +
                     " is missing or not executable; it belongs beside the dicom plugin: reinstall radpipe");

  const auto percentiles = params.reals("percentiles");
  if (percentiles[0] >= percentiles[1])
    throw StageError("percentiles", "the low percentile (" + std::to_string(percentiles[0]) +
                                        ") must be below the high one (" + std::to_string(percentiles[1]) +
                                        ")");
  // The schema allows only names these know.
  options_.window = window_mode_named(params.string("window")).value_or(WindowMode::Tags);
  options_.color = color_mode_named(params.string("color")).value_or(ColorMode::Luma);
  options_.low_percentile = percentiles[0];
  options_.high_percentile = percentiles[1];

  DecoderPoolOptions pool;
  pool.program = decoder;
  pool.time_limit = std::chrono::milliseconds(static_cast<long>(params.real("timeout_s") * 1000.0));
  pool.size = params.integer("decoders") > 0 ? static_cast<std::size_t>(params.integer("decoders"))
                                             : std::max(1u, std::thread::hardware_concurrency());
  decoders_ = std::make_unique<DecoderPool>(pool);
  pool.size = 1;
  counter_ = std::make_unique<DecoderPool>(pool);
  if (params.has("body_part")) fallback_body_part_ = lower(params.string("body_part"));

  std::vector<std::string> extensions;
  for (const auto& written : params.strings("extensions")) {
    std::string extension = lower(written);
    if (extension.empty() || extension == ".")
      throw StageError("extensions", "an empty extension matches nothing; write extensions such as \".dcm\"");
    if (extension.front() != '.') extension.insert(extension.begin(), '.');
    extensions.push_back(std::move(extension));
  }

  const fs::path path = params.path("path");
  std::error_code error;
  if (fs::is_regular_file(path, error)) {
    root_ = path.parent_path();
    files_.push_back(path.filename());
  } else if (fs::is_directory(path, error)) {
    root_ = path;
    fs::recursive_directory_iterator entries(path, fs::directory_options::skip_permission_denied, error);
    for (; !error && entries != fs::recursive_directory_iterator(); entries.increment(error)) {
      const fs::path& entry = entries->path();
      std::error_code status_error;
      if (is_hidden(entry)) {
        if (entries->is_directory(status_error)) entries.disable_recursion_pending();
        continue;
      }
      if (!entries->is_regular_file(status_error)) continue;
      if (has_extension(entry, extensions) || has_dicom_magic(entry))
        files_.push_back(entry.lexically_relative(root_));
    }
    if (error) throw StageError("path", "cannot list " + path.string() + ": " + error.message());
    if (files_.empty())
      throw StageError("path",
                       "no DICOM files under " + path.string() +
                           " (none with the DICM marker or a listed extension); check path and extensions");
  } else {
    throw StageError("path", path.string() + " is neither a file nor a folder");
  }
  std::sort(files_.begin(), files_.end(), [](const auto& left, const auto& right) {
    return left.generic_string() < right.generic_string();
  });

  std::map<std::string, const fs::path*> owner_of_id;
  for (const auto& file : files_) {
    ids_.push_back(id_of(file, extensions));
    auto [existing, inserted] = owner_of_id.try_emplace(ids_.back(), &file);
    if (!inserted)
      throw StageError("path", "two files under " + root_.string() + " have the same id \"" +
                                   existing->first + "\": " + existing->second->generic_string() + " and " +
                                   file.generic_string() + "; rename one");
  }
  context.debug("dicom: " + std::to_string(files_.size()) + " files under " + root_.string() + ", up to " +
                std::to_string(decoders_->size()) + " decoder processes (" + decoder.string() + ")");
}

fs::path DicomReader::installed_decoder() {
  Dl_info library{};
  if (::dladdr(reinterpret_cast<const void*>(&DicomReader::installed_decoder), &library) == 0 ||
      library.dli_fname == nullptr)
    throw StageError(
        "cannot tell which file the dicom plugin was loaded from, so its decoder cannot be found");
  return fs::absolute(library.dli_fname).parent_path() / decoder_name;
}

std::optional<SampleInfo> DicomReader::next() {
  if (next_frame_ > frames_of_current_) {
    if (next_file_ >= files_.size()) return std::nullopt;
    const std::string path = (root_ / files_[next_file_]).string();
    ++next_file_;
    try {
      frames_of_current_ = counter_->count_frames(path);
    } catch (const DecoderFailure& error) {
      // Listed as one sample all the same: decoding it reports the problem where it is counted.
      frames_of_current_ = 1;
      if (log_) log_(LogLevel::Debug, "dicom: cannot count the frames of " + path + ": " + error.what());
    }
    next_frame_ = 1;
  }
  const std::size_t file = next_file_ - 1;
  SampleInfo info;
  info.id = ids_[file];
  info.path = (root_ / files_[file]).string();
  info.body_part = fallback_body_part_;
  info.index = listed_++;
  if (frames_of_current_ > 1) {
    info.id += "#frame" + std::to_string(next_frame_);
    info.tags["frame"] = std::to_string(next_frame_);
  }
  ++next_frame_;
  return info;
}

Sample DicomReader::load(const SampleInfo& info) const {
  int frame = 1;
  if (const auto written = info.tags.find("frame"); written != info.tags.end()) {
    const auto& text = written->second;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), frame);
    if (error != std::errc() || end != text.data() + text.size() || frame < 1)
      throw SampleError(info.path,
                        "cannot read DICOM " + info.path + ": its frame number \"" + text + "\" is not one");
  }
  DecodedDicom decoded;
  try {
    decoded = decoders_->decode(info.path, frame, options_);
  } catch (const DecoderFailure& error) {
    throw SampleError(info.path, "cannot read DICOM " + info.path + ": " + error.what());
  }

  DicomHeader& header = decoded.header;
  Sample sample;
  sample.info = info;
  sample.info.patient_id = std::move(header.patient_id);
  sample.info.study_id = std::move(header.study_id);
  if (!header.body_part.empty()) sample.info.body_part = std::move(header.body_part);
  sample.info.view = std::move(header.view);
  sample.info.pixel_spacing_mm = header.pixel_spacing_mm;
  for (auto& [name, value] : header.tags) sample.info.tags[name] = std::move(value);
  sample.image = std::move(decoded.image);
  return sample;
}

} // namespace radpipe::dicom
