// UIDs of the objects radpipe writes into a PACS, derived instead of random: the same root, source
// study and checkpoint always give the same UIDs, so that sending a study's results again (after a
// kill between upload and record, say) replaces the objects already stored instead of adding a
// second copy beside them.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>

namespace radpipe::dicom_results {

// The longest root that leaves room for 20 digits (66 bits) of hash below it.
inline constexpr std::size_t max_uid_root_length = 43;

// Why `root` cannot be a UID root ("" when it can): only digits and dots, no empty component, no
// component with a leading zero, at most max_uid_root_length characters.
std::string uid_root_problem(std::string_view root);

// A UID under `root` made from the SHA-256 of `parts` (each length-prefixed, so that ("ab", "c")
// and ("a", "bc") differ). Under the root "2.25" the hash becomes a version-8 UUID written as one
// decimal number, as ISO/IEC 9834-8 defines UIDs of that arc; under any other root its leading
// bits are written in decimal, as many digits as fit in 64 characters. Throws
// std::invalid_argument when `root` is not a valid root.
std::string derive_uid(std::string_view root, std::initializer_list<std::string_view> parts);

// SHA-256 of a file's content, as 64 lower-case hex digits. Throws std::runtime_error naming the
// file when it cannot be read.
std::string sha256_of_file(const std::filesystem::path& file);
std::string sha256_of(std::string_view bytes);

} // namespace radpipe::dicom_results
