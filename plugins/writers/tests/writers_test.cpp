// The writer stages and OutputFile on real files: whole lines after each commit, resume cutting a
// file back to its committed size, names that would leave the output folder refused.
#include "writers.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <radpipe/output_file.hpp>
#include <radpipe/testing.hpp>
#include <sstream>

using namespace radpipe;

namespace {

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

ImagePrediction image(const std::string& id, const std::string& study, double probability) {
  ImagePrediction prediction;
  prediction.info.id = id;
  prediction.info.path = id + ".png";
  prediction.info.study_id = study;
  prediction.info.label = 1;
  prediction.chain = "default";
  prediction.probability = probability;
  prediction.predicted_class = probability >= 0.5 ? 1 : 0;
  return prediction;
}

Params defaults(const Schema& schema) {
  Params params;
  for (const auto& spec : schema.specs())
    if (spec.default_value) params.set(spec.name, *spec.default_value);
  return params;
}

TEST(OutputFile, ResumeCutsBackToTheCommittedSizeAndAppends) {
  radpipe::testing::TempFolder scratch;
  WriterRun run{scratch.path(), false, {}, false};
  CommittedFile committed;
  {
    OutputFile file(run, "lines.txt", "header");
    file.write_line("one");
    committed = file.commit();
    file.write_line("two");
    file.close();
  }
  EXPECT_EQ(committed.name, "lines.txt");
  EXPECT_EQ(committed.bytes, std::string("header\none\n").size());
  // A kill mid-line leaves a partial line behind the committed lines.
  { std::ofstream(scratch.path() / "lines.txt", std::ios::app) << "thr"; }
  WriterRun resumed{scratch.path(), true, {{"lines.txt", committed.bytes}}, false};
  {
    OutputFile file(resumed, "lines.txt", "header");
    file.write_line("three");
    EXPECT_EQ(file.commit().bytes, std::string("header\none\nthree\n").size());
  }
  EXPECT_EQ(read_text(scratch.path() / "lines.txt"), "header\none\nthree\n");

  // A file shorter than run.json says was changed by someone else: refuse to resume.
  WriterRun wrong{scratch.path(), true, {{"lines.txt", 1000}}, false};
  EXPECT_THROW(OutputFile(wrong, "lines.txt"), std::runtime_error);
}

TEST(OutputFile, NamesThatLeaveTheOutputFolderAreRefused) {
  const std::filesystem::path out = "/tmp/run";
  EXPECT_EQ(output_path_inside(out, "a/b.csv"), out / "a/b.csv");
  EXPECT_THROW(output_path_inside(out, "../escape.csv"), std::invalid_argument);
  EXPECT_THROW(output_path_inside(out, "a/../../escape.csv"), std::invalid_argument);
  EXPECT_THROW(output_path_inside(out, "/etc/passwd"), std::invalid_argument);
  EXPECT_THROW(output_path_inside(out, ""), std::invalid_argument);
  EXPECT_EQ(safe_file_name("../../etc/passwd"), "___.._etc_passwd");
  EXPECT_EQ(output_path_inside(out, safe_file_name("../../etc/passwd")).parent_path(), out);
  EXPECT_EQ(safe_file_name("/abs/id"), "_abs_id");
  EXPECT_EQ(safe_file_name(".."), "__");
  EXPECT_EQ(safe_file_name(""), "_");
  EXPECT_EQ(safe_file_name("MURA-v1.1/valid/XR_HAND"), "MURA-v1.1_valid_XR_HAND");
}

TEST(Writers, CsvJsonlAndMuraSubmissionStreamWholeLines) {
  radpipe::testing::TempFolder scratch;
  WriterRun run{scratch.path(), false, {}, false};
  writers::Csv csv(defaults(writers::Csv::schema()), StageContext{});
  writers::Jsonl jsonl(defaults(writers::Jsonl::schema()), StageContext{});
  writers::MuraSubmission mura(defaults(writers::MuraSubmission::schema()), StageContext{});
  std::vector<Writer*> all{&csv, &jsonl, &mura};
  for (auto* writer : all) writer->open(run);
  auto first = image("a,1", "study/1", 0.25);
  first.info.tags["BodyPartExamined"] = "HAND";
  for (auto* writer : all) writer->write_image(first);
  StudyPrediction study{"study/1", "", "hand", 1, 0.25, 0, 1, "default", {}};
  for (auto* writer : all) writer->write_study(study);
  for (auto* writer : all) writer->commit();
  // Committed: every file holds whole lines.
  EXPECT_EQ(read_text(scratch.path() / "predictions.csv"),
            "id,path,study_id,patient_id,body_part,view,chain,probability,predicted,label\n"
            "\"a,1\",\"a,1.png\",study/1,,,,default,0.250000,0,1\n");
  EXPECT_EQ(read_text(scratch.path() / "studies.csv"),
            "study_id,patient_id,body_part,chain,images,probability,predicted,label\nstudy/"
            "1,,hand,default,1,0.250000,0,1\n");
  EXPECT_EQ(read_text(scratch.path() / "mura-submission.csv"), "study/1,0\n");
  const std::string lines = read_text(scratch.path() / "predictions.jsonl");
  EXPECT_NE(lines.find("\"type\":\"image\""), std::string::npos);
  EXPECT_NE(lines.find("\"BodyPartExamined\":\"HAND\""), std::string::npos);
  EXPECT_NE(lines.find("\"type\":\"study\""), std::string::npos);
  EXPECT_EQ(lines.back(), '\n');
  for (auto* writer : all) writer->close();
}

TEST(Writers, AFileNameOutsideTheOutputFolderIsRefusedAtOpen) {
  radpipe::testing::TempFolder scratch;
  Params params = defaults(writers::Jsonl::schema());
  params.set("file", std::string("../outside.jsonl"));
  writers::Jsonl jsonl(params, StageContext{});
  EXPECT_THROW(jsonl.open(WriterRun{scratch.path() / "out", false, {}, false}), std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(scratch.path() / "outside.jsonl"));
}

} // namespace
