// The DICOMweb client against a real Orthanc: queries, fetches, stores, authentication, TLS with a
// CA the test makes, and a server that is not there.
#include <gtest/gtest.h>

#include <radpipe/testing.hpp>

#include "dicom_tools.hpp"
#include "dicomweb_client.hpp"
#include "orthanc_server.hpp"
#include "pacs_data.hpp"
#include "source_header.hpp"

namespace radpipe::orthanc {
namespace {

namespace fs = std::filesystem;
using testing::OrthancServer;
using testing::PacsData;

std::vector<std::string> uids_of(const std::vector<FoundStudy>& studies) {
  std::vector<std::string> uids;
  for (const auto& study : studies) uids.push_back(study.study_uid);
  return uids;
}

class DicomWebAgainstOrthanc : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    folder_ = std::make_unique<radpipe::testing::TempFolder>();
    server_ = std::make_unique<OrthancServer>(folder_->path() / "orthanc");
    PacsData(folder_->path() / "data").upload_to(*server_);
  }
  static void TearDownTestSuite() {
    server_.reset();
    folder_.reset();
  }

  static HttpOptions options() { return server_->client_options(); }

  static inline std::unique_ptr<radpipe::testing::TempFolder> folder_;
  static inline std::unique_ptr<OrthancServer> server_;
};

TEST_F(DicomWebAgainstOrthanc, FindsStudiesByDateRangeModalityAndBodyPart) {
  const HttpClient http(options());
  const DicomWebClient pacs(http, "/dicom-web");
  EXPECT_EQ(uids_of(pacs.find_studies({})),
            (std::vector<std::string>{PacsData::rg3_study, PacsData::rg1_study, PacsData::hand_study,
                                      PacsData::wrist_study, PacsData::chest_study}))
      << "every study, oldest first, then by UID";
  EXPECT_EQ(uids_of(pacs.find_studies({"20240101", "20240131", {}, {}})),
            (std::vector<std::string>{PacsData::hand_study, PacsData::wrist_study}));
  EXPECT_EQ(uids_of(pacs.find_studies({"20240101", "", {"CR"}, {}})),
            (std::vector<std::string>{PacsData::hand_study, PacsData::chest_study}));
  EXPECT_EQ(uids_of(pacs.find_studies({"", "", {"CR", "DX"}, {"HAND", "WRIST", "EXTREMITY"}})),
            (std::vector<std::string>{PacsData::rg3_study, PacsData::hand_study, PacsData::wrist_study}));
  EXPECT_TRUE(pacs.find_studies({"20300101", "", {}, {}}).empty());
}

TEST_F(DicomWebAgainstOrthanc, ListsAStudysInstancesInOrderAndFetchesThemIntoMemory) {
  const HttpClient http(options());
  const DicomWebClient pacs(http, "/dicom-web");
  const auto instances = pacs.study_instances(PacsData::hand_study);
  ASSERT_EQ(instances.size(), 2u);
  EXPECT_EQ(instances[0].sop_uid, std::string(PacsData::hand_study) + ".1.1");
  EXPECT_EQ(instances[1].sop_uid, std::string(PacsData::hand_study) + ".1.2");
  EXPECT_EQ(instances[0].sop_class_uid, "1.2.840.10008.5.1.4.1.1.1");
  EXPECT_EQ(instances[0].modality, "CR");
  EXPECT_EQ(instances[0].body_part, "HAND");
  EXPECT_EQ(instances[0].patient_id, "RP-A");

  const std::string url = pacs.instance_url(instances[1]);
  EXPECT_EQ(url, server_->url() + "/dicom-web/studies/" + PacsData::hand_study + "/series/" +
                     PacsData::hand_study + ".1/instances/" + instances[1].sop_uid);
  const std::string bytes = pacs.fetch_instance(url);
  const auto header = dicom_results::SourceHeader::read_bytes(bytes, url);
  EXPECT_EQ(header.sop_instance_uid(), instances[1].sop_uid);
  EXPECT_EQ(bytes, radpipe::testing::read_text(folder_->path() / "data/2.dcm"))
      << "the stored file, byte for byte";
}

TEST_F(DicomWebAgainstOrthanc, StoresObjectsIntoTheStudyAndAResendReplacesInsteadOfAdding) {
  const HttpClient http(options());
  const DicomWebClient pacs(http, "/dicom-web");
  // A radiograph of the wrist study as a stand-in result object.
  dicom_results::testing::RadiographSpec spec;
  spec.pixels = dicom_results::testing::fracatlas_pixels("IMG0000015.jpg", 64);
  spec.study_uid = PacsData::wrist_study;
  spec.series_uid = std::string(PacsData::wrist_study) + ".77";
  spec.sop_uid = spec.series_uid + ".1";
  dicom_results::testing::write_radiograph(folder_->path() / "result.dcm", spec);
  const std::string object = radpipe::testing::read_text(folder_->path() / "result.dcm");

  const std::size_t before = server_->instance_count();
  const StoreResult first = pacs.store(PacsData::wrist_study, {object});
  EXPECT_EQ(first.stored, std::vector<std::string>{spec.sop_uid});
  EXPECT_TRUE(first.failures.empty());
  EXPECT_EQ(server_->instance_count(), before + 1);
  const StoreResult again = pacs.store(PacsData::wrist_study, {object});
  EXPECT_TRUE(again.failures.empty());
  EXPECT_EQ(server_->instance_count(), before + 1) << "the same UIDs stored twice are one instance";

  // An object of another study is refused: results never land in the wrong study.
  EXPECT_ANY_THROW({
    const StoreResult wrong = pacs.store(PacsData::hand_study, {object});
    if (!wrong.failures.empty()) throw std::runtime_error(wrong.failures.front());
  });
  EXPECT_EQ(server_->instance_count(), before + 1);
}

TEST_F(DicomWebAgainstOrthanc, AWrongPasswordIsRefusedWithoutShowingIt) {
  HttpOptions wrong = options();
  wrong.password = "not-the-Password-42";
  const HttpClient http(wrong);
  try {
    http.get("/dicom-web/studies", "application/dicom+json");
    FAIL() << "a wrong password must be refused";
  } catch (const HttpError& error) {
    EXPECT_EQ(error.kind(), HttpError::Kind::Refused);
    EXPECT_EQ(error.status(), 401);
    const std::string message = error.what();
    EXPECT_NE(message.find("user \"radpipe\""), std::string::npos) << message;
    EXPECT_EQ(message.find("not-the-Password-42"), std::string::npos) << message;
  }
}

TEST(DicomWebWithoutServer, SaysTheServerIsUnreachable) {
  HttpOptions http;
  http.base_url = "http://127.0.0.1:9"; // discard: nothing listens
  http.connect_timeout = std::chrono::seconds(2);
  const HttpClient client(http);
  try {
    client.get("/dicom-web/studies", "application/dicom+json");
    FAIL() << "nothing listens there";
  } catch (const HttpError& error) {
    EXPECT_EQ(error.kind(), HttpError::Kind::Unreachable);
    EXPECT_TRUE(error.no_answer());
    EXPECT_NE(std::string(error.what()).find("cannot connect for GET http://127.0.0.1:9/dicom-web/studies"),
              std::string::npos)
        << error.what();
  }
}

TEST(DicomWebUrls, RefuseCredentialsInTheUrlAndOtherSchemes) {
  EXPECT_THROW(checked_base_url("https://user:secret@pacs:8042"), std::invalid_argument);
  EXPECT_THROW(checked_base_url("ftp://pacs"), std::invalid_argument);
  EXPECT_THROW(checked_base_url("pacs:8042"), std::invalid_argument);
  EXPECT_EQ(checked_base_url("https://pacs.example.org:8042/"), "https://pacs.example.org:8042");
  EXPECT_TRUE(is_loopback_http("http://127.0.0.1:8042"));
  EXPECT_TRUE(is_loopback_http("http://localhost/orthanc"));
  EXPECT_FALSE(is_loopback_http("http://pacs.example.org"));
  EXPECT_FALSE(is_loopback_http("https://127.0.0.1"));
}

// https: Orthanc behind nginx with a certificate signed by a CA the test made. Trusting that CA
// works; the system's CAs, or another CA, refuse the certificate; verification can be switched off.
TEST(DicomWebOverTls, TrustsTheGivenCaAndRefusesAnUntrustedCertificate) {
  radpipe::testing::TempFolder folder;
  const auto certificates = testing::make_test_certificates(folder.path() / "pki");
  const OrthancServer server(folder.path() / "orthanc");
  const testing::TlsProxy proxy(folder.path() / "nginx", certificates, server.port());
  ASSERT_TRUE(proxy.url().starts_with("https://127.0.0.1:"));

  HttpOptions http = server.client_options();
  http.base_url = proxy.url();
  http.ca_file = certificates.ca;
  EXPECT_NO_THROW(HttpClient(http).get("/dicom-web/studies", "application/dicom+json"));

  for (const fs::path& untrusted : {fs::path(), certificates.other_ca}) {
    http.ca_file = untrusted;
    try {
      HttpClient(http).get("/dicom-web/studies", "application/dicom+json");
      ADD_FAILURE() << "a certificate from an untrusted CA must be refused (ca_file " << untrusted << ")";
    } catch (const HttpError& error) {
      EXPECT_EQ(error.kind(), HttpError::Kind::Tls) << error.what();
      EXPECT_NE(std::string(error.what()).find("give the server's CA in ca_file"), std::string::npos)
          << error.what();
    }
  }
  http.ca_file.clear();
  http.verify_tls = false;
  EXPECT_NO_THROW(HttpClient(http).get("/dicom-web/studies", "application/dicom+json"));
}

} // namespace
} // namespace radpipe::orthanc
