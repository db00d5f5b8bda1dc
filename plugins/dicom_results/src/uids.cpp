#include "uids.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace radpipe::dicom_results {
namespace {

using Digest = std::array<unsigned char, 32>;

struct DigestContextDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

class Sha256 {
 public:
  Sha256() : context_(EVP_MD_CTX_new()) {
    if (!context_ || EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("OpenSSL cannot start a SHA-256 digest");
  }
  void add(std::string_view bytes) {
    if (EVP_DigestUpdate(context_.get(), bytes.data(), bytes.size()) != 1)
      throw std::runtime_error("OpenSSL failed while hashing");
  }
  Digest finish() {
    Digest digest{};
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(context_.get(), digest.data(), &length) != 1 || length != digest.size())
      throw std::runtime_error("OpenSSL failed to finish a SHA-256 digest");
    return digest;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, DigestContextDeleter> context_;
};

std::string hex(const Digest& digest) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text;
  for (const unsigned char byte : digest) {
    text += digits[byte >> 4];
    text += digits[byte & 0x0f];
  }
  return text;
}

std::string decimal(unsigned __int128 value) {
  if (value == 0) return "0";
  std::string text;
  while (value != 0) {
    text.insert(text.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  }
  return text;
}

} // namespace

std::string uid_root_problem(std::string_view root) {
  if (root.empty()) return "it is empty";
  if (root.size() > max_uid_root_length)
    return "it has " + std::to_string(root.size()) + " characters; at most " +
           std::to_string(max_uid_root_length) + " leave room for the derived part of a 64-character UID";
  std::size_t start = 0;
  while (start <= root.size()) {
    const std::size_t end = std::min(root.find('.', start), root.size());
    const std::string_view component = root.substr(start, end - start);
    if (component.empty()) return "it has an empty component (two dots, or a dot at either end)";
    if (component.find_first_not_of("0123456789") != std::string_view::npos)
      return "\"" + std::string(component) + "\" is not a number; UIDs hold only digits and dots";
    if (component.size() > 1 && component.front() == '0')
      return "the component \"" + std::string(component) + "\" starts with a zero";
    start = end + 1;
  }
  return "";
}

std::string derive_uid(std::string_view root, std::initializer_list<std::string_view> parts) {
  if (const std::string problem = uid_root_problem(root); !problem.empty())
    throw std::invalid_argument("\"" + std::string(root) + "\" is not a UID root: " + problem);
  Sha256 sha;
  for (const std::string_view part : parts) {
    sha.add(std::to_string(part.size()));
    sha.add(":");
    sha.add(part);
  }
  const Digest digest = sha.finish();
  unsigned __int128 value = 0;
  for (std::size_t i = 0; i < 16; ++i) value = (value << 8) | digest[i];

  if (root == "2.25") {
    // A version-8 (custom) UUID, RFC 9562: version nibble 8, variant bits 10.
    const unsigned __int128 one = 1;
    value &= ~(static_cast<unsigned __int128>(0xf) << 76);
    value |= static_cast<unsigned __int128>(0x8) << 76;
    value &= ~(static_cast<unsigned __int128>(0x3) << 62);
    value |= one << 63;
    return "2.25." + decimal(value);
  }
  // The leading digits of the hash, as many as fit in a UID of at most 64 characters (a decimal
  // number never starts with zero, so neither does the component).
  const std::size_t room = 64 - root.size() - 1;
  std::string digits = decimal(value);
  if (digits.size() > room) digits.resize(room);
  return std::string(root) + "." + digits;
}

std::string sha256_of(std::string_view bytes) {
  Sha256 sha;
  sha.add(bytes);
  return hex(sha.finish());
}

std::string sha256_of_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string() + " to hash it");
  Sha256 sha;
  std::array<char, 1 << 16> buffer{};
  while (in) {
    in.read(buffer.data(), buffer.size());
    sha.add(std::string_view(buffer.data(), static_cast<std::size_t>(in.gcount())));
  }
  if (in.bad()) throw std::runtime_error("cannot read " + file.string() + " to hash it");
  return hex(sha.finish());
}

} // namespace radpipe::dicom_results
