#include "multipart.hpp"

#include <gtest/gtest.h>

namespace radpipe::orthanc {
namespace {

TEST(ContentTypeParameter, FindsQuotedAndBareValuesWhateverTheirOrder) {
  const std::string type = "multipart/related; type=\"application/dicom; x=1\"; boundary=abc-123";
  EXPECT_EQ(content_type_parameter(type, "type"), "application/dicom; x=1");
  EXPECT_EQ(content_type_parameter(type, "Boundary"), "abc-123");
  EXPECT_EQ(content_type_parameter("multipart/related;boundary=\"q q\";type=x", "boundary"), "q q");
  EXPECT_EQ(content_type_parameter("application/dicom", "boundary"), std::nullopt);
}

TEST(Multipart, WhatIsMadeIsReadBackPartForPart) {
  const std::string first("\0\1DICM--boundary-lookalike\r\n", 28);
  const std::string second = "second part";
  const MultipartBody body = make_multipart({first, second, ""}, "application/dicom");
  EXPECT_TRUE(
      body.content_type.starts_with("multipart/related; type=\"application/dicom\"; boundary=radpipe-"));
  const auto parts = multipart_parts(body.body, body.content_type);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0], first);
  EXPECT_EQ(parts[1], second);
  EXPECT_EQ(parts[2], "");
}

TEST(Multipart, ReadsAnOrthancAnswerWithPartHeaders) {
  const std::string body =
      "--b1\r\nContent-Type: application/dicom\r\nContent-Length: 5\r\nMIME-Version: "
      "1.0\r\n\r\nABCDE\r\n--b1--\r\n";
  const auto parts = multipart_parts(body, "multipart/related; type=\"application/dicom\"; boundary=b1");
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0], "ABCDE");
}

TEST(Multipart, RefusesWhatIsCutShortOrNotMultipart) {
  EXPECT_THROW(multipart_parts("--b1\r\nContent-Type: x\r\n\r\nABC", "multipart/related; boundary=b1"),
               std::runtime_error);
  EXPECT_THROW(multipart_parts("--b1\r\nContent-Type: x", "multipart/related; boundary=b1"),
               std::runtime_error);
  EXPECT_THROW(multipart_parts("{}", "application/json"), std::runtime_error);
  EXPECT_THROW(multipart_parts("no boundary here", "multipart/related; boundary=b1"), std::runtime_error);
}

} // namespace
} // namespace radpipe::orthanc
