#include "dicom_object.hpp"

#include <dcmtk/config/osconfig.h> // first, as DCMTK requires
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcwcache.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "source_header.hpp"

namespace radpipe::dicom_results {

DicomObject::DicomObject(std::unique_ptr<DcmFileFormat> file) : file_(std::move(file)) {}
DicomObject::~DicomObject() = default;
DicomObject::DicomObject(DicomObject&&) noexcept = default;
DicomObject& DicomObject::operator=(DicomObject&&) noexcept = default;

DcmDataset& DicomObject::dataset() const {
  return *file_->getDataset();
}

std::string DicomObject::attribute(unsigned short group, unsigned short element) const {
  OFString value;
  if (file_->getDataset()->findAndGetOFString(DcmTagKey(group, element), value).bad()) return "";
  return value.c_str();
}

std::string DicomObject::sop_class_uid() const {
  return attribute(0x0008, 0x0016);
}
std::string DicomObject::sop_instance_uid() const {
  return attribute(0x0008, 0x0018);
}
std::string DicomObject::series_instance_uid() const {
  return attribute(0x0020, 0x000e);
}
std::string DicomObject::study_instance_uid() const {
  return attribute(0x0020, 0x000d);
}

std::string DicomObject::bytes() const {
  const E_TransferSyntax syntax = EXS_LittleEndianExplicit;
  OFCondition status = file_->validateMetaInfo(syntax);
  if (status.bad())
    throw DicomResultError(std::string("DCMTK cannot make the meta header: ") + status.text());
  const Uint32 length = file_->calcElementLength(syntax, EET_ExplicitLength);
  std::string buffer(length + 1024, '\0'); // the length may leave out padding DCMTK adds
  DcmOutputBufferStream stream(buffer.data(), buffer.size());
  DcmWriteCache cache;
  file_->transferInit();
  status = file_->write(stream, syntax, EET_ExplicitLength, &cache);
  file_->transferEnd();
  if (status.bad()) throw DicomResultError(std::string("DCMTK cannot encode the object: ") + status.text());
  void* written = nullptr;
  offile_off_t size = 0;
  stream.flushBuffer(written, size);
  buffer.resize(static_cast<std::size_t>(size));
  return buffer;
}

void DicomObject::save(const std::filesystem::path& file) const {
  const std::string content = bytes();
  const std::filesystem::path temporary = file.string() + ".part";
  const auto fail = [&](const std::string& what) -> DicomResultError {
    return DicomResultError("cannot " + what + " " + file.string() + ": " + std::strerror(errno));
  };
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw fail("create");
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t count = ::write(fd, content.data() + done, content.size() - done);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) {
      const int error = errno;
      ::close(fd);
      ::unlink(temporary.c_str());
      errno = error;
      throw fail("write");
    }
    done += static_cast<std::size_t>(count);
  }
  const bool synced = ::fsync(fd) == 0;
  if (::close(fd) != 0 || !synced) {
    ::unlink(temporary.c_str());
    throw fail("write");
  }
  if (::rename(temporary.c_str(), file.c_str()) != 0) {
    ::unlink(temporary.c_str());
    throw fail("rename the new object onto");
  }
}

} // namespace radpipe::dicom_results
