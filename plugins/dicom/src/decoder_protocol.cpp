#include "decoder_protocol.hpp"

#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

namespace radpipe::dicom {
namespace {

using json = nlohmann::json;

constexpr std::pair<WindowMode, std::string_view> window_names[] = {
    {WindowMode::Tags, "tags"},
    {WindowMode::Stored, "stored"},
    {WindowMode::Full, "full"},
    {WindowMode::Percentile, "percentile"},
};
constexpr std::pair<ColorMode, std::string_view> color_names[] = {{ColorMode::Luma, "luma"},
                                                                  {ColorMode::Rgb, "rgb"}};

// One line of JSON. Invalid UTF-8 is replaced: tag values in legacy character sets and file names
// in other encodings must not stop an answer.
std::string line_of(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json parse_line(std::string_view line, const char* what) {
  try {
    return json::parse(line);
  } catch (const json::exception& error) {
    throw std::runtime_error(std::string(what) + " is garbled: " + error.what());
  }
}

} // namespace

std::string_view name_of(WindowMode mode) {
  for (const auto& [value, name] : window_names)
    if (value == mode) return name;
  return "tags";
}

std::optional<WindowMode> window_mode_named(std::string_view name) {
  for (const auto& [value, known] : window_names)
    if (known == name) return value;
  return std::nullopt;
}

std::string_view name_of(ColorMode mode) {
  return mode == ColorMode::Rgb ? "rgb" : "luma";
}

std::optional<ColorMode> color_mode_named(std::string_view name) {
  for (const auto& [value, known] : color_names)
    if (known == name) return value;
  return std::nullopt;
}

int PixelLayout::cv_type() const {
  return CV_MAKETYPE(bits == 8 ? CV_8U : CV_16U, channels);
}

std::size_t PixelLayout::bytes() const {
  return static_cast<std::size_t>(rows) * static_cast<std::size_t>(columns) *
         static_cast<std::size_t>(channels) * static_cast<std::size_t>(bits / 8);
}

std::string encode_request(const DecoderRequest& request) {
  json line{{"file", request.file}, {"request", request.number}};
  if (request.operation == DecoderRequest::Operation::CountFrames) {
    line["operation"] = "count_frames";
    return line_of(line);
  }
  line["operation"] = "decode";
  line["frame"] = request.frame;
  line["window"] = name_of(request.options.window);
  line["percentiles"] = {request.options.low_percentile, request.options.high_percentile};
  line["color"] = name_of(request.options.color);
  return line_of(line);
}

DecoderRequest parse_request(std::string_view line) {
  const json fields = parse_line(line, "the request");
  DecoderRequest request;
  try {
    const auto operation = fields.at("operation").get<std::string>();
    request.file = fields.at("file").get<std::string>();
    request.number = fields.at("request").get<std::uint64_t>();
    if (operation == "count_frames") {
      request.operation = DecoderRequest::Operation::CountFrames;
      return request;
    }
    if (operation != "decode")
      throw std::runtime_error("the request names an unknown operation " + operation);
    request.frame = fields.at("frame").get<int>();
    const auto window = window_mode_named(fields.at("window").get<std::string>());
    const auto color = color_mode_named(fields.at("color").get<std::string>());
    if (!window || !color) throw std::runtime_error("the request names an unknown window or colour mode");
    request.options.window = *window;
    request.options.color = *color;
    const auto percentiles = fields.at("percentiles").get<std::array<double, 2>>();
    request.options.low_percentile = percentiles[0];
    request.options.high_percentile = percentiles[1];
  } catch (const json::exception& error) {
    throw std::runtime_error(std::string("the request lacks a field: ") + error.what());
  }
  return request;
}

std::string encode_decoded(std::uint64_t request, const DicomHeader& header, const PixelLayout& layout) {
  json fields{{"patient_id", header.patient_id},
              {"study_id", header.study_id},
              {"body_part", header.body_part},
              {"view", header.view},
              {"tags", header.tags}};
  if (header.pixel_spacing_mm) fields["pixel_spacing_mm"] = *header.pixel_spacing_mm;
  return line_of(json{{"request", request},
                      {"header", fields},
                      {"pixels",
                       {{"rows", layout.rows},
                        {"columns", layout.columns},
                        {"channels", layout.channels},
                        {"bits", layout.bits}}}});
}

std::string encode_frame_count(std::uint64_t request, int frames) {
  return line_of(json{{"request", request}, {"frames", frames}});
}

std::string encode_failure(std::uint64_t request, const std::string& error) {
  return line_of(json{{"request", request}, {"error", error}});
}

DecoderReply parse_reply(std::string_view line) {
  const json fields = parse_line(line, "the decoder's answer");
  DecoderReply reply;
  try {
    reply.request = fields.at("request").get<std::uint64_t>();
    if (fields.contains("error")) {
      reply.error = fields.at("error").get<std::string>();
      if (reply.error.empty()) reply.error = "the decoder failed without saying why";
      return reply;
    }
    if (fields.contains("frames")) {
      reply.frames = fields.at("frames").get<int>();
      if (*reply.frames < 1)
        throw std::runtime_error("the decoder counted " + std::to_string(*reply.frames) + " frames");
      return reply;
    }
    const json& header_fields = fields.at("header");
    DicomHeader header;
    header.patient_id = header_fields.at("patient_id").get<std::string>();
    header.study_id = header_fields.at("study_id").get<std::string>();
    header.body_part = header_fields.at("body_part").get<std::string>();
    header.view = header_fields.at("view").get<std::string>();
    header.tags = header_fields.at("tags").get<std::map<std::string, std::string>>();
    if (header_fields.contains("pixel_spacing_mm"))
      header.pixel_spacing_mm = header_fields.at("pixel_spacing_mm").get<std::array<double, 2>>();

    const json& pixels = fields.at("pixels");
    PixelLayout layout;
    layout.rows = pixels.at("rows").get<int>();
    layout.columns = pixels.at("columns").get<int>();
    layout.channels = pixels.at("channels").get<int>();
    layout.bits = pixels.at("bits").get<int>();
    if (layout.rows <= 0 || layout.columns <= 0 || (layout.channels != 1 && layout.channels != 3) ||
        (layout.bits != 8 && layout.bits != 16) ||
        layout.columns > std::numeric_limits<int>::max() / layout.channels)
      throw std::runtime_error("the decoder described impossible pixels (" + pixels.dump() + ")");
    reply.header = std::move(header);
    reply.layout = layout;
  } catch (const json::exception& error) {
    throw std::runtime_error(std::string("the decoder's answer lacks a field: ") + error.what());
  }
  return reply;
}

} // namespace radpipe::dicom
