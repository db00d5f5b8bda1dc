// Recognising DICOM files by content: a DICOM Part 10 file has a 128-byte preamble followed by
// the four bytes "DICM". Archives often store them without an extension (IM0001, 1.2.840...).
#pragma once

#include <filesystem>

namespace radpipe::dicom {

// Whether `file` carries the DICM marker at byte 128. False when it cannot be read.
bool has_dicom_magic(const std::filesystem::path& file);

// What the reader takes for a DICOM file: the DICM marker, or a .dcm/.dicom extension (files
// without the preamble exist).
bool is_dicom_file(const std::filesystem::path& file);

} // namespace radpipe::dicom
