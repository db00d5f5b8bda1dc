// The orthanc reader and writer stages against a real Orthanc: what they read, what they store and
// where, the done-record across runs, a resend after a kill between store and record, and an
// Orthanc that stops in the middle of a run.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <numeric>
#include <radpipe/error.hpp>
#include <radpipe/testing.hpp>

#include "dicom_tools.hpp"
#include "orthanc_reader.hpp"
#include "orthanc_server.hpp"
#include "orthanc_writer.hpp"
#include "pacs_data.hpp"
#include "server_settings.hpp"

namespace radpipe::orthanc {
namespace {

namespace fs = std::filesystem;
using testing::OrthancServer;
using testing::PacsData;
using dicom_results::testing::write_run;

const fs::path model_file = fs::path(RADPIPE_SOURCE_DIR) / "samples/models/fracatlas-cnn5.pt";
constexpr const char* comprehensive_sr = "1.2.840.10008.5.1.4.1.1.88.33";
constexpr const char* secondary_capture = "1.2.840.10008.5.1.4.1.1.7";

// What the stages logged, to check what they say and what they never say.
struct Log {
  std::vector<std::string> lines;
  StageContext context() {
    StageContext context;
    context.log = [this](LogLevel, const std::string& message) { lines.push_back(message); };
    return context;
  }
  std::string all() const {
    return std::accumulate(lines.begin(), lines.end(), std::string(),
                           [](std::string a, const std::string& b) { return std::move(a) + b + "\n"; });
  }
};

// The password reaches the stages through the environment, as a nightly job's would.
void export_password(const OrthancServer& server) {
  ::setenv("RADPIPE_TEST_ORTHANC_PASSWORD", server.options().password.c_str(), 1);
}

std::map<std::string, ParamValue> server_values(const OrthancServer& server) {
  return {{"url", server.url()},
          {"user", server.options().user},
          {"password_env", std::string("RADPIPE_TEST_ORTHANC_PASSWORD")},
          {"connect_timeout_s", 2.0}};
}

OrthancReader make_reader(const OrthancServer& server, Log& log,
                          std::map<std::string, ParamValue> values = {}) {
  export_password(server);
  values.merge(server_values(server));
  return OrthancReader(resolve_params(OrthancReader::schema(), std::move(values)), log.context(),
                       RADPIPE_DICOM_DECODER);
}

std::unique_ptr<OrthancWriter> make_writer(const OrthancServer& server, Log& log, const fs::path& record) {
  export_password(server);
  auto values = server_values(server);
  values["record"] = record.string();
  values["model_name"] = std::string("fracatlas-cnn5");
  values["model_version"] = std::string("1");
  values["checkpoint"] = model_file.string();
  values["uid_root"] = std::string("1.2.826.0.1.3680043.10.543.900");
  return std::make_unique<OrthancWriter>(resolve_params(OrthancWriter::schema(), std::move(values)),
                                         log.context(), RADPIPE_DICOM_DECODER);
}

std::vector<SampleInfo> list_all(OrthancReader& reader) {
  std::vector<SampleInfo> infos;
  while (auto info = reader.next()) infos.push_back(std::move(*info));
  return infos;
}

// What a run hands its writers: a probability per scored image (a fixed stand-in for the model:
// the pipeline test runs the real one), and each study's mean at the threshold 0.5.
struct Predictions {
  std::vector<ImagePrediction> images;
  std::vector<StudyPrediction> studies;

  void add(const Sample& sample) {
    ImagePrediction image;
    image.info = sample.info;
    image.probability = 0.3 + 0.15 * static_cast<double>(images.size() % 4);
    image.chain = "default";
    images.push_back(std::move(image));
  }
  void aggregate() {
    studies.clear();
    for (const auto& image : images) {
      auto study = std::find_if(studies.begin(), studies.end(),
                                [&](const StudyPrediction& s) { return s.study_id == image.info.study_id; });
      if (study == studies.end()) {
        StudyPrediction added;
        added.study_id = image.info.study_id;
        added.patient_id = image.info.patient_id;
        added.body_part = image.info.body_part;
        studies.push_back(std::move(added));
        study = studies.end() - 1;
      }
      study->probability =
          (study->probability * static_cast<double>(study->image_count) + image.probability) /
          static_cast<double>(study->image_count + 1);
      ++study->image_count;
      study->predicted = study->probability >= 0.5 ? 1 : 0;
    }
  }
};

// The instances of a study by SOP class.
std::map<std::string, std::size_t> classes_in(const OrthancServer& server, const std::string& study_uid) {
  const HttpClient client(server.client_options());
  std::map<std::string, std::size_t> counts;
  for (const auto& instance : DicomWebClient(client, "/dicom-web").study_instances(study_uid))
    ++counts[instance.sop_class_uid];
  return counts;
}

class OrthancStages : public ::testing::Test {
 protected:
  void SetUp() override {
    server = std::make_unique<OrthancServer>(folder.path() / "orthanc");
    PacsData(folder.path() / "data", false).upload_to(*server); // hand, wrist, chest
  }
  radpipe::testing::TempFolder folder;
  std::unique_ptr<OrthancServer> server;
  Log log;
};

TEST_F(OrthancStages, ReaderListsTheMatchingRadiographsAndDecodesThemFromMemory) {
  OrthancReader reader = make_reader(*server, log,
                                     {{"study_date_from", std::string("20240101")},
                                      {"body_parts", std::vector<std::string>{"hand", "WRIST"}}});
  ASSERT_EQ(reader.studies().size(), 2u);
  const auto infos = list_all(reader);
  ASSERT_EQ(infos.size(), 3u);
  EXPECT_EQ(infos[0].study_id, PacsData::hand_study);
  EXPECT_EQ(infos[0].tags.at(study_images_tag), "2");
  EXPECT_EQ(infos[2].study_id, PacsData::wrist_study);
  EXPECT_EQ(infos[2].tags.at(study_images_tag), "1");
  EXPECT_EQ(infos[2].body_part, "wrist");
  const Sample sample = reader.load(infos[0]);
  EXPECT_EQ(sample.image.type(), CV_8UC1) << "8 stored bits decode to 8 bits, as the dicom reader reads them";
  EXPECT_EQ(sample.image.cols, 256);
  EXPECT_EQ(sample.info.patient_id, "RP-A");
  EXPECT_EQ(sample.info.tags.at("SOPInstanceUID"), infos[0].id);
  EXPECT_NE(log.all().find("2 to score"), std::string::npos) << log.all();
}

TEST_F(OrthancStages, WriterStoresEachStudysResultsIntoItOnceAndRecordsIt) {
  const fs::path record = folder.path() / "state/done.jsonl";
  OrthancReader reader = make_reader(*server, log, {{"record", record.string()}});
  Predictions run;
  for (const auto& info : list_all(reader)) run.add(reader.load(info));
  run.aggregate();
  ASSERT_EQ(run.studies.size(), 3u) << "hand, wrist, chest";
  const std::size_t sources = server->instance_count();
  write_run(*make_writer(*server, log, record), run.images, run.studies, folder.path() / "out");

  EXPECT_EQ(server->instance_count(), sources + 3 + 4) << "a report per study, a capture per image";
  for (const auto& study : run.studies) {
    const auto counts = classes_in(*server, study.study_id);
    EXPECT_EQ(counts.at(comprehensive_sr), 1u) << study.study_id;
    EXPECT_EQ(counts.at(secondary_capture), study.image_count) << study.study_id;
  }
  EXPECT_EQ(DoneRecord::read(record).size(), 3u);

  // The stored report, fetched back, validates and carries the verdict.
  const HttpClient client(server->client_options());
  const DicomWebClient pacs(client, "/dicom-web");
  for (const auto& instance : pacs.study_instances(PacsData::hand_study)) {
    const fs::path file = folder.path() / (instance.sop_uid + ".dcm");
    std::ofstream(file, std::ios::binary) << pacs.fetch_instance(pacs.instance_url(instance));
    if (instance.sop_class_uid == "1.2.840.10008.5.1.4.1.1.1") continue;
    EXPECT_TRUE(dicom_results::testing::dciodvfy_errors(file).empty())
        << dicom_results::testing::dciodvfy_report(file);
    if (instance.sop_class_uid == comprehensive_sr) {
      const std::string content = dicom_results::testing::dsrdump(file);
      // The hand study's images are the first two scored: 0.30 and 0.45, a mean of 0.375.
      EXPECT_NE(content.find("\"Finding\")=(17621005,SCT,\"Normal\")"), std::string::npos) << content;
      EXPECT_NE(content.find("\"Probability\")=\"0.3750\""), std::string::npos) << content;
      EXPECT_NE(content.find("\"Finding Site\")=(85562004,SCT,\"Hand\")"), std::string::npos) << content;
    }
  }

  // The next night: the record says all is done; the reader lists nothing and a writer sends nothing.
  Log next_night;
  OrthancReader again = make_reader(*server, next_night, {{"record", record.string()}});
  EXPECT_TRUE(again.studies().empty());
  EXPECT_NE(next_night.all().find("3 of them already done, 0 to score"), std::string::npos)
      << next_night.all();
  write_run(*make_writer(*server, next_night, record), run.images, run.studies, folder.path() / "out");
  EXPECT_EQ(server->instance_count(), sources + 7);
  EXPECT_NE(next_night.all().find("0 of 3 studies sent to " + server->url() + ", 3 already done"),
            std::string::npos)
      << next_night.all();

  // A kill between store and record loses the record's lines: the resend replaces the objects.
  std::filesystem::resize_file(record, 0);
  Log after_kill;
  OrthancReader rerun = make_reader(*server, after_kill, {{"record", record.string()}});
  EXPECT_EQ(rerun.studies().size(), 3u);
  write_run(*make_writer(*server, after_kill, record), run.images, run.studies, folder.path() / "out");
  EXPECT_EQ(server->instance_count(), sources + 7) << "the same UIDs: replaced, not doubled";
  EXPECT_EQ(classes_in(*server, PacsData::hand_study).at(comprehensive_sr), 1u);
  EXPECT_EQ(log.all().find(server->options().password), std::string::npos) << "the password never shows";
}

TEST_F(OrthancStages, AStudyWithAnUnreadableImageIsNotSent) {
  const fs::path record = folder.path() / "done.jsonl";
  OrthancReader reader = make_reader(*server, log, {{"study_date_from", std::string("20240101")}});
  Predictions run;
  const auto infos = list_all(reader);
  for (const auto& info : infos)
    if (info.id != std::string(PacsData::hand_study) + ".1.2") run.add(reader.load(info)); // as if unreadable
  run.aggregate();
  write_run(*make_writer(*server, log, record), run.images, run.studies, folder.path() / "out");
  EXPECT_EQ(classes_in(*server, PacsData::hand_study).count(comprehensive_sr), 0u);
  EXPECT_EQ(classes_in(*server, PacsData::wrist_study).at(comprehensive_sr), 1u);
  EXPECT_FALSE(DoneRecord::read(record).contains(PacsData::hand_study));
  EXPECT_NE(log.all().find("1 of 2 images scored"), std::string::npos) << log.all();
}

TEST_F(OrthancStages, AnOutageMidRunIsReportedLosesNothingAndTheNextRunCompletes) {
  const fs::path record = folder.path() / "done.jsonl";
  {
    OrthancReader reader = make_reader(*server, log, {{"record", record.string()}});
    const auto infos = list_all(reader);
    ASSERT_EQ(infos.size(), 4u);
    Predictions run;
    for (std::size_t index = 0; index < 2; ++index) run.add(reader.load(infos[index])); // the hand study
    auto writer = make_writer(*server, log, record);
    writer->open(WriterRun{folder.path() / "out", false, {}, false}); // the PACS answers at the start
    server->stop(); // Orthanc goes away in the middle of the night
    std::size_t unreadable = 0;
    for (std::size_t index = 2; index < infos.size(); ++index) {
      try {
        run.add(reader.load(infos[index]));
        ADD_FAILURE() << infos[index].path << " was read from a stopped server";
      } catch (const SampleError& error) {
        ++unreadable;
        EXPECT_NE(std::string(error.what()).find("the PACS is unreachable"), std::string::npos)
            << error.what();
      }
    }
    EXPECT_EQ(unreadable, 2u);
    run.aggregate();
    try {
      for (const auto& image : run.images) writer->write_image(image);
      for (const auto& study : run.studies) writer->write_study(study);
      writer->close();
      FAIL() << "the writer must say that the PACS is gone";
    } catch (const StageError& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find("the PACS stopped the run: cannot connect"), std::string::npos) << message;
      // The two images read make one whole study; the others have none.
      EXPECT_NE(message.find("0 of 1 studies sent"), std::string::npos) << message;
      EXPECT_NE(message.find("the next run sends them"), std::string::npos) << message;
    }
  }
  EXPECT_EQ(DoneRecord::read(record).size(), 0u) << "nothing recorded that the PACS does not hold";

  server->start(); // the next night
  Log next_night;
  OrthancReader reader = make_reader(*server, next_night, {{"record", record.string()}});
  Predictions run;
  for (const auto& info : list_all(reader)) run.add(reader.load(info));
  run.aggregate();
  write_run(*make_writer(*server, next_night, record), run.images, run.studies, folder.path() / "out");
  EXPECT_EQ(DoneRecord::read(record).size(), 3u);
  for (const char* study : {PacsData::hand_study, PacsData::wrist_study, PacsData::chest_study})
    EXPECT_EQ(classes_in(*server, study).at(comprehensive_sr), 1u) << study;
}

TEST_F(OrthancStages, ARecordOfAnotherModelOrInUseIsRefused) {
  const fs::path record = folder.path() / "done.jsonl";
  {
    DoneRecordWriter other(record);
    other.add(DoneStudy{"1.2.3", "0123456789abcdef", server->url(), "", 1});
  }
  try {
    make_writer(*server, log, record);
    FAIL() << "a record of another checkpoint must be refused";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "record");
    EXPECT_NE(std::string(error.what()).find("needs a record of its own"), std::string::npos) << error.what();
  }
  const fs::path fresh = folder.path() / "fresh.jsonl";
  const auto first = make_writer(*server, log, fresh);
  EXPECT_THROW(make_writer(*server, log, fresh), StageError) << "a second run on the same record";
}

TEST(OrthancSettings, TakeTheServerFromTheEnvironmentAndRefuseUnsafeOnes) {
  Log log;
  const auto settings_of = [&](std::map<std::string, ParamValue> values) {
    return ServerSettings::from(resolve_params(Schema([] {
                                                 Schema schema;
                                                 for (auto& spec : ServerSettings::schema_specs())
                                                   schema.add(spec);
                                                 return schema;
                                               }()),
                                               std::move(values)),
                                log.context());
  };
  ::setenv("RADPIPE_ORTHANC_URL", "https://pacs.example.org:8042/", 1);
  ::setenv("RADPIPE_ORTHANC_USER", "night", 1);
  ::setenv("RADPIPE_ORTHANC_PASSWORD", "from-the-environment", 1);
  const ServerSettings from_environment = settings_of({});
  EXPECT_EQ(from_environment.http.base_url, "https://pacs.example.org:8042");
  EXPECT_EQ(from_environment.http.user, "night");
  EXPECT_EQ(from_environment.http.password, "from-the-environment");
  EXPECT_TRUE(from_environment.http.verify_tls);

  radpipe::testing::TempFolder folder;
  const fs::path secret = folder.write("secret", "from-a-file\n");
  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(settings_of({{"password_file", secret.string()}}).http.password, "from-a-file");
  EXPECT_TRUE(log.lines.empty()) << log.all();
  fs::permissions(secret, fs::perms::group_read | fs::perms::others_read, fs::perm_options::add);
  settings_of({{"password_file", secret.string()}});
  EXPECT_NE(log.all().find("chmod 600"), std::string::npos) << log.all();

  const auto key_of = [&](std::map<std::string, ParamValue> values) {
    try {
      settings_of(std::move(values));
    } catch (const StageError& error) {
      EXPECT_EQ(std::string(error.what()).find("from-the-environment"), std::string::npos) << error.what();
      return error.key();
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(key_of({{"url", std::string("http://pacs.example.org")}}), "url")
      << "plain http off this machine";
  EXPECT_EQ(key_of({{"url", std::string("http://pacs.example.org")}, {"allow_plain_http", true}}),
            "(accepted)");
  EXPECT_EQ(key_of({{"url", std::string("http://127.0.0.1:8042")}}), "(accepted)");
  EXPECT_EQ(key_of({{"url", std::string("https://night:pw@pacs")}}), "url");
  ::unsetenv("RADPIPE_ORTHANC_URL");
  EXPECT_EQ(key_of({}), "url");
  ::unsetenv("RADPIPE_ORTHANC_USER");
  EXPECT_EQ(key_of({{"url", std::string("https://pacs")}}), "user") << "a password without a user";
  ::unsetenv("RADPIPE_ORTHANC_PASSWORD");
}

TEST(OrthancPlugin, EntryDescribesItAndRegistersItsReaderAndWriter) {
  radpipe::testing::expect_plugin_library(fs::path(RADPIPE_PLUGIN_DIR) / "libradpipe-orthanc.so", "orthanc",
                                          {{StageKind::Reader, "orthanc"}, {StageKind::Writer, "orthanc"}});
}

} // namespace
} // namespace radpipe::orthanc
