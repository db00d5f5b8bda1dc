// The real radpipe binary running pipelines/pacs-nightly.toml against a real Orthanc: the demo
// model reads the PACS's radiographs, the findings land in their studies once, and an outage is
// reported and made good by the next run.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <radpipe/testing.hpp>
#include <sstream>

#include "dicom_tools.hpp"
#include "dicomweb_client.hpp"
#include "done_record.hpp"
#include "orthanc_server.hpp"
#include "pacs_data.hpp"

namespace radpipe::orthanc {
namespace {

namespace fs = std::filesystem;
using testing::OrthancServer;
using testing::PacsData;

const fs::path source_dir = RADPIPE_SOURCE_DIR;
constexpr const char* comprehensive_sr = "1.2.840.10008.5.1.4.1.1.88.33";
constexpr const char* secondary_capture = "1.2.840.10008.5.1.4.1.1.7";

void replace_once(std::string& text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << "pipelines/pacs-nightly.toml no longer holds: " << from;
  text.replace(at, from.size(), to);
}

// The shipped pipeline, with the paths made absolute, the record in the test's folder, and every
// study date instead of the last two days (the test data are from 2004 and 2024).
fs::path nightly_pipeline(const fs::path& folder, const std::string& writer_url = "") {
  std::string text = radpipe::testing::read_text(source_dir / "pipelines/pacs-nightly.toml");
  const std::string record = (folder / "state/done.jsonl").string();
  replace_once(text, "days_back = 2 ", "study_date_from = \"20000101\" ");
  for (int i = 0; i < 2; ++i) replace_once(text, "\"../runs/pacs-nightly/done.jsonl\"", "\"" + record + "\"");
  const std::string model = (source_dir / "samples/models/fracatlas-cnn5.pt").string();
  for (int i = 0; i < 2; ++i)
    replace_once(text, "\"../samples/models/fracatlas-cnn5.pt\"", "\"" + model + "\"");
  if (!writer_url.empty()) text += "url = \"" + writer_url + "\"\n";
  const fs::path file = folder / (writer_url.empty() ? "nightly.toml" : "nightly-broken-writer.toml");
  std::ofstream(file) << text;
  return file;
}

radpipe::testing::CommandResult radpipe_run(const OrthancServer& server, const std::string& arguments) {
  return radpipe::testing::run_command("RADPIPE_ORTHANC_URL='" + server.url() + "' RADPIPE_ORTHANC_USER='" +
                                       server.options().user + "' RADPIPE_ORTHANC_PASSWORD='" +
                                       server.options().password + "' '" RADPIPE_EXECUTABLE "' " + arguments);
}

std::size_t lines_of(const fs::path& file) {
  const std::string text = radpipe::testing::read_text(file);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// The study probabilities of studies.csv (study_id first, probability in the `probability` column).
std::map<std::string, std::string> study_probabilities(const fs::path& file) {
  std::istringstream lines(radpipe::testing::read_text(file));
  std::string line;
  std::getline(lines, line);
  std::vector<std::string> header;
  for (std::stringstream cells(line); std::getline(cells, line, ',');) header.push_back(line);
  const auto column =
      static_cast<std::size_t>(std::find(header.begin(), header.end(), "probability") - header.begin());
  std::map<std::string, std::string> result;
  while (std::getline(lines, line)) {
    std::vector<std::string> cells;
    for (std::stringstream row(line); std::getline(row, line, ',');) cells.push_back(line);
    if (cells.size() > column) result[cells[0]] = cells[column];
  }
  return result;
}

class NightlyPipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    server = std::make_unique<OrthancServer>(folder.path() / "orthanc");
    PacsData(folder.path() / "data").upload_to(*server);
    sources = server->instance_count();
  }
  // The instances of a study of one SOP class (the SRs, the captures), fetched from the PACS into
  // the test's folder.
  std::vector<fs::path> reports_of(const std::string& study_uid, const std::string& sop_class = comprehensive_sr) {
    const HttpClient client(server->client_options());
    const DicomWebClient pacs(client, "/dicom-web");
    std::vector<fs::path> files;
    for (const auto& instance : pacs.study_instances(study_uid)) {
      if (instance.sop_class_uid != sop_class) continue;
      files.push_back(folder.path() / (instance.sop_uid + ".dcm"));
      std::ofstream(files.back(), std::ios::binary) << pacs.fetch_instance(pacs.instance_url(instance));
    }
    return files;
  }
  radpipe::testing::TempFolder folder;
  std::unique_ptr<OrthancServer> server;
  std::size_t sources = 0;
};

TEST_F(NightlyPipeline, ScoresThePacsAndStoresEachStudysFindingsOnce) {
  const fs::path pipeline = nightly_pipeline(folder.path());
  const auto check = radpipe_run(*server, "check '" + pipeline.string() + "'");
  ASSERT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("outputs: csv, orthanc"), std::string::npos) << check.out;

  const fs::path out = folder.path() / "night-1";
  const auto first = radpipe_run(*server, "predict '" + pipeline.string() + "' --out '" + out.string() + "'");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(lines_of(out / "predictions.csv"), 1u + 7u);
  EXPECT_EQ(lines_of(out / "studies.csv"), 1u + 5u);
  EXPECT_EQ(lines_of(folder.path() / "state/done.jsonl"), 5u);
  EXPECT_EQ(server->instance_count(), sources + 5 + 7) << "an SR per study, a capture per image";
  EXPECT_NE(first.err.find("5 of 5 studies sent to " + server->url()), std::string::npos) << first.err;

  // Each study's SR validates and states the probability studies.csv holds.
  for (const auto& [study, probability] : study_probabilities(out / "studies.csv")) {
    const auto reports = reports_of(study);
    ASSERT_EQ(reports.size(), 1u) << study;
    EXPECT_TRUE(dicom_results::testing::dciodvfy_errors(reports[0]).empty())
        << dicom_results::testing::dciodvfy_report(reports[0]);
    // The study's group comes first in the report: its Probability is the study's.
    const std::string content = dicom_results::testing::dsrdump(reports[0]);
    const std::string key = "\"Probability\")=\"";
    const auto at = content.find(key);
    ASSERT_NE(at, std::string::npos) << content;
    EXPECT_NEAR(std::stod(content.substr(at + key.size())), std::stod(probability), 6e-5) << study << "\n"
                                                                                          << content;
    // The pipeline's [explain] stage ran during predict: each capture has its Grad-CAM overlay.
    for (const auto& capture : reports_of(study, secondary_capture)) {
      EXPECT_TRUE(dicom_results::testing::dciodvfy_errors(capture).empty())
          << dicom_results::testing::dciodvfy_report(capture);
      const std::string dump = dicom_results::testing::dcmdump(capture);
      EXPECT_NE(dump.find("the Grad-CAM heatmap blended in"), std::string::npos) << dump;
    }
  }
  EXPECT_NE(first.err.find("heatmaps for output[2]: the [explain] stage (gradcam) runs with every batch"), std::string::npos)
      << first.err;
  for (const auto& file : {out / "run.json", out / "predictions.csv"})
    EXPECT_EQ(radpipe::testing::read_text(file).find(server->options().password), std::string::npos) << file;
  EXPECT_EQ(first.err.find(server->options().password), std::string::npos) << "never logged";

  // The next night finds nothing new: nothing is scored, nothing sent twice.
  const auto second = radpipe_run(
      *server, "predict '" + pipeline.string() + "' --out '" + (folder.path() / "night-2").string() + "'");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("5 of them already done, 0 to score"), std::string::npos) << second.err;
  EXPECT_EQ(server->instance_count(), sources + 12);
  EXPECT_EQ(lines_of(folder.path() / "state/done.jsonl"), 5u);
}

TEST_F(NightlyPipeline, AnOutageIsReportedLosesNothingAndTheNextRunCompletes) {
  // The PACS is down when the run starts: it stops at once and says so.
  server->stop();
  const fs::path pipeline = nightly_pipeline(folder.path());
  const auto down = radpipe_run(
      *server, "predict '" + pipeline.string() + "' --out '" + (folder.path() / "down").string() + "'");
  EXPECT_EQ(down.exit_code, 3) << down.err;
  EXPECT_NE(down.err.find("cannot list the studies to score: the PACS is unreachable"), std::string::npos)
      << down.err;
  server->start();

  // The PACS the results go to does not answer (the writer's URL leads nowhere here): the run
  // stops before it scores anything, says so, and records nothing. An outage between scoring and
  // storing is OrthancStages.AnOutageMidRunIsReportedLosesNothingAndTheNextRunCompletes.
  const fs::path broken = nightly_pipeline(folder.path(), "http://127.0.0.1:9");
  const auto cut = radpipe_run(
      *server, "predict '" + broken.string() + "' --out '" + (folder.path() / "cut").string() + "'");
  EXPECT_EQ(cut.exit_code, 3) << cut.err;
  EXPECT_NE(cut.err.find("the PACS stopped the run: cannot connect"), std::string::npos) << cut.err;
  EXPECT_NE(cut.err.find("Nothing was scored or sent"), std::string::npos) << cut.err;
  EXPECT_EQ(cut.err.find("predict: "), std::string::npos) << "nothing scored: " << cut.err;
  EXPECT_EQ(lines_of(folder.path() / "state/done.jsonl"), 0u);
  EXPECT_EQ(server->instance_count(), sources);

  const auto next = radpipe_run(
      *server, "predict '" + pipeline.string() + "' --out '" + (folder.path() / "next").string() + "'");
  ASSERT_EQ(next.exit_code, 0) << next.err;
  EXPECT_EQ(lines_of(folder.path() / "state/done.jsonl"), 5u);
  EXPECT_EQ(server->instance_count(), sources + 12);
}

} // namespace
} // namespace radpipe::orthanc
