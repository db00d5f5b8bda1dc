#include "dicom_reader.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <opencv2/core.hpp>
#include <radpipe/error.hpp>
#include <sstream>
#include <system_error>

#include "child_process.hpp"
#include "decoder_protocol.hpp"
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

// The last non-empty line of a helper's stderr: an assertion message, say.
std::string last_line(const std::string& text) {
  std::istringstream lines(text);
  std::string line, last;
  while (std::getline(lines, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last;
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
          "Intensities mapped onto 0..65535: tags (VOI LUT, else WindowCenter/Width, else full), "
          "full (the image's min..max), percentile (see percentiles)")
          .with_default("tags")
          .one_of({"tags", "full", "percentile"}),
      ParamSpec::reals("percentiles",
                       "With window = \"percentile\": the percentiles that become black and white")
          .with_default(ParamValue{std::vector<double>{0.5, 99.5}})
          .items(2, 2)
          .in_range(0.0, 100.0),
      ParamSpec::string("body_part", "Body part for files whose BodyPartExamined is empty (lower-cased)")
          .optional(),
      ParamSpec::real("timeout_s",
                      "Time limit for decoding one file; a decoder still running is killed and the "
                      "file reported as unreadable")
          .with_default(120.0)
          .in_range(1.0, 3600.0),
  };
}

DicomReader::DicomReader(const Params& params, const StageContext& context)
    : DicomReader(params, context, installed_decoder()) {}

DicomReader::DicomReader(const Params& params, const StageContext& context, fs::path decoder)
    : decoder_(std::move(decoder)), time_limit_(static_cast<long>(params.real("timeout_s") * 1000.0)) {
  if (::access(decoder_.c_str(), X_OK) != 0)
    throw StageError("the DICOM decoder " + decoder_.string() +
                     " is missing or not executable; it belongs beside the dicom plugin: reinstall radpipe");

  const auto percentiles = params.reals("percentiles");
  if (percentiles[0] >= percentiles[1])
    throw StageError("percentiles", "the low percentile (" + std::to_string(percentiles[0]) +
                                        ") must be below the high one (" + std::to_string(percentiles[1]) +
                                        ")");
  decoder_arguments_ = {"--window", params.string("window"), "--percentiles", std::to_string(percentiles[0]),
                        std::to_string(percentiles[1])};
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
  context.debug("dicom: " + std::to_string(files_.size()) + " files under " + root_.string() + ", decoder " +
                decoder_.string());
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
  if (cursor_ >= files_.size()) return std::nullopt;
  SampleInfo info;
  info.id = ids_[cursor_];
  info.path = (root_ / files_[cursor_]).string();
  info.body_part = fallback_body_part_;
  info.index = cursor_;
  ++cursor_;
  return info;
}

Sample DicomReader::load(const SampleInfo& info) const {
  const auto fail = [&](const std::string& reason) -> SampleError {
    return SampleError(info.path, "cannot read DICOM " + info.path + ": " + reason);
  };
  std::vector<std::string> arguments = decoder_arguments_;
  arguments.push_back(info.path);
  ProcessResult run;
  try {
    run = run_process(decoder_, arguments, time_limit_);
  } catch (const std::system_error& error) {
    throw fail(std::string("the decoder could not be started: ") + error.what());
  }
  if (!run.succeeded()) {
    const std::string said = last_line(run.err_tail);
    throw fail("the decoder " + describe_ending(run, time_limit_) +
               (said.empty() ? "" : " (it said: " + said + ")") + "; the file is probably malformed");
  }
  DecoderReply reply;
  try {
    reply = parse_reply(run.out);
  } catch (const std::exception& error) {
    throw fail(error.what());
  }
  if (!reply.image) throw fail(reply.error);

  DecodedDicom& decoded = *reply.image;
  Sample sample;
  sample.info = info;
  sample.info.patient_id = std::move(decoded.patient_id);
  sample.info.study_id = std::move(decoded.study_id);
  if (!decoded.body_part.empty()) sample.info.body_part = std::move(decoded.body_part);
  sample.info.view = std::move(decoded.view);
  sample.info.pixel_spacing_mm = decoded.pixel_spacing_mm;
  for (auto& [name, value] : decoded.tags) sample.info.tags[name] = std::move(value);
  sample.image = cv::Mat(decoded.rows, decoded.columns, CV_16UC1, decoded.pixels.data()).clone();
  return sample;
}

} // namespace radpipe::dicom
