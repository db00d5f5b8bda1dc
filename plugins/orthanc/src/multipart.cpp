#include "multipart.hpp"

#include <algorithm>
#include <cctype>
#include <random>
#include <stdexcept>

namespace radpipe::orthanc {
namespace {

std::string lower(std::string_view text) {
  std::string result(text);
  std::transform(result.begin(), result.end(), result.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return result;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

} // namespace

std::optional<std::string> content_type_parameter(std::string_view content_type, std::string_view name) {
  constexpr auto npos = std::string_view::npos;
  std::size_t position = content_type.find(';');
  while (position != npos) {
    const std::size_t equals = content_type.find('=', position + 1);
    if (equals == npos) return std::nullopt;
    const std::string key = lower(trimmed(content_type.substr(position + 1, equals - position - 1)));
    std::size_t start = equals + 1;
    while (start < content_type.size() && content_type[start] == ' ') ++start;
    std::string value;
    if (start < content_type.size() && content_type[start] == '"') { // quoted: may hold ';'
      const std::size_t close = content_type.find('"', start + 1);
      if (close == npos) return std::nullopt;
      value = std::string(content_type.substr(start + 1, close - start - 1));
      position = content_type.find(';', close);
    } else {
      position = content_type.find(';', start);
      value = std::string(trimmed(content_type.substr(start, position == npos ? npos : position - start)));
    }
    if (key == lower(name)) return value;
  }
  return std::nullopt;
}

std::vector<std::string_view> multipart_parts(std::string_view body, std::string_view content_type) {
  const auto boundary = content_type_parameter(content_type, "boundary");
  if (!lower(content_type).starts_with("multipart/") || !boundary || boundary->empty())
    throw std::runtime_error("the answer is not multipart (Content-Type: " + std::string(content_type) + ")");
  const std::string delimiter = "--" + *boundary;
  std::vector<std::string_view> parts;
  std::size_t position = body.find(delimiter);
  if (position == std::string_view::npos)
    throw std::runtime_error("the multipart answer has no boundary line");
  while (true) {
    position += delimiter.size();
    if (body.substr(position, 2) == "--") return parts; // the closing delimiter
    const std::size_t headers_end = body.find("\r\n\r\n", position);
    if (headers_end == std::string_view::npos)
      throw std::runtime_error("a part of the multipart answer is cut short");
    const std::size_t content = headers_end + 4;
    const std::size_t next = body.find("\r\n" + delimiter, content);
    if (next == std::string_view::npos)
      throw std::runtime_error("the multipart answer ends without its closing boundary (cut short?)");
    parts.push_back(body.substr(content, next - content));
    position = next + 2;
  }
}

MultipartBody make_multipart(const std::vector<std::string_view>& parts, const std::string& part_type) {
  std::random_device entropy;
  std::string boundary;
  const auto unused = [&](const std::string& candidate) {
    return std::none_of(parts.begin(), parts.end(), [&](std::string_view part) {
      return part.find(candidate) != std::string_view::npos;
    });
  };
  do boundary = "radpipe-" + std::to_string(entropy()) + "-" + std::to_string(entropy());
  while (!unused(boundary));
  MultipartBody result;
  result.content_type = "multipart/related; type=\"" + part_type + "\"; boundary=" + boundary;
  for (const auto part : parts) {
    result.body += "--" + boundary + "\r\nContent-Type: " + part_type + "\r\n\r\n";
    result.body.append(part);
    result.body += "\r\n";
  }
  result.body += "--" + boundary + "--\r\n";
  return result;
}

} // namespace radpipe::orthanc
