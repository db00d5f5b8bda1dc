#include "decoder_protocol.hpp"

#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace radpipe::dicom {
namespace {

constexpr std::string_view greeting = "radpipe-dicom-decoder 1\n";

} // namespace

void write_reply(std::ostream& out, const DecodedDicom& image) {
  nlohmann::json header{
      {"rows", image.rows},         {"columns", image.columns},     {"patient_id", image.patient_id},
      {"study_id", image.study_id}, {"body_part", image.body_part}, {"view", image.view},
      {"tags", image.tags}};
  if (image.pixel_spacing_mm) header["pixel_spacing_mm"] = *image.pixel_spacing_mm;
  // Replacement of invalid UTF-8: tag values in legacy character sets must not stop the reply.
  out << greeting << header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  out.write(reinterpret_cast<const char*>(image.pixels.data()),
            static_cast<std::streamsize>(image.pixels.size() * sizeof(std::uint16_t)));
}

void write_failure(std::ostream& out, const std::string& error) {
  out << greeting
      << nlohmann::json{{"error", error}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
      << '\n';
}

DecoderReply parse_reply(std::string_view bytes) {
  if (!bytes.starts_with(greeting))
    throw std::runtime_error(bytes.empty() ? "the decoder sent nothing"
                                           : "the decoder's reply does not start with its greeting");
  bytes.remove_prefix(greeting.size());
  const auto line_end = bytes.find('\n');
  if (line_end == std::string_view::npos) throw std::runtime_error("the decoder's reply was cut short");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.substr(0, line_end));
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error(std::string("the decoder's reply is garbled: ") + error.what());
  }
  bytes.remove_prefix(line_end + 1);

  DecoderReply reply;
  try {
    if (header.contains("error")) {
      reply.error = header.at("error").get<std::string>();
      return reply;
    }
    DecodedDicom image;
    image.rows = header.at("rows").get<int>();
    image.columns = header.at("columns").get<int>();
    image.patient_id = header.at("patient_id").get<std::string>();
    image.study_id = header.at("study_id").get<std::string>();
    image.body_part = header.at("body_part").get<std::string>();
    image.view = header.at("view").get<std::string>();
    image.tags = header.at("tags").get<std::map<std::string, std::string>>();
    if (header.contains("pixel_spacing_mm"))
      image.pixel_spacing_mm = header.at("pixel_spacing_mm").get<std::array<double, 2>>();
    if (image.rows <= 0 || image.columns <= 0) throw std::runtime_error("the decoder sent an empty image");
    const std::size_t count = static_cast<std::size_t>(image.rows) * static_cast<std::size_t>(image.columns);
    if (bytes.size() != count * sizeof(std::uint16_t))
      throw std::runtime_error("the decoder sent " + std::to_string(bytes.size()) + " pixel bytes for a " +
                               std::to_string(image.columns) + "x" + std::to_string(image.rows) +
                               " image; expected " + std::to_string(count * sizeof(std::uint16_t)));
    image.pixels.resize(count);
    std::memcpy(image.pixels.data(), bytes.data(), bytes.size());
    reply.image = std::move(image);
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error(std::string("the decoder's reply lacks a field: ") + error.what());
  }
  return reply;
}

} // namespace radpipe::dicom
