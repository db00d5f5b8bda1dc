// Every reader of this plugin on broken files the test makes: listing never fails for them, and
// loading each fails with a SampleError that names the file and says why. (The run's on_error
// policy then skips or stops; tests/integration/readers_cli_test.cpp checks that with the binary.)
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <radpipe/error.hpp>
#include <radpipe/testing.hpp>

#include "class_folders_reader.hpp"
#include "csv_reader.hpp"
#include "image_files_reader.hpp"
#include "study_folder_reader.hpp"

namespace radpipe::readers {
namespace {

using radpipe::testing::TempFolder;

// File name in the folder -> a fragment of the reason loading it must give.
const std::map<std::string, std::string> broken_files{
    {"truncated.png", "OpenCV found no image"}, {"cut.jpg", "truncated JPEG"},
    {"text.png", "OpenCV found no image"},      {"empty.png", "the file is empty"},
    {"dangling.png", "no such file"},           {"fifo.png", "not a regular file"},
};

std::string encoded(const std::string& extension) {
  cv::Mat noise(32, 32, CV_8UC1);
  cv::randu(noise, 0, 255); // noise compresses badly, so that half the file lacks image data
  std::vector<unsigned char> bytes;
  EXPECT_TRUE(cv::imencode(extension, noise, bytes));
  return std::string(bytes.begin(), bytes.end());
}

// folder/good.png and every file of broken_files.
void write_broken_folder(const TempFolder& scratch, const std::filesystem::path& relative) {
  const auto folder = scratch.path() / relative;
  const std::string png = encoded(".png"), jpeg = encoded(".jpg");
  scratch.write(relative / "good.png", png);
  scratch.write(relative / "truncated.png", png.substr(0, png.size() / 2));
  scratch.write(relative / "cut.jpg", jpeg.substr(0, jpeg.size() / 2));
  scratch.write(relative / "text.png", "these are not pixels\n");
  scratch.write(relative / "empty.png", "");
  std::filesystem::create_symlink(folder / "deleted.png", folder / "dangling.png");
  ASSERT_EQ(::mkfifo((folder / "fifo.png").c_str(), 0600), 0);
}

// Enumerates `reader` and loads every entry: file name -> the error, or "" when it loaded.
std::map<std::string, std::string> load_all(Reader& reader) {
  std::map<std::string, std::string> outcome;
  while (auto info = reader.next()) {
    const std::string name = std::filesystem::path(info->path).filename().string();
    try {
      const Sample sample = reader.load(*info);
      EXPECT_FALSE(sample.image.empty()) << name;
      outcome[name] = "";
    } catch (const SampleError& error) {
      EXPECT_EQ(error.path(), info->path);
      EXPECT_NE(std::string(error.what()).find(info->path), std::string::npos) << error.what();
      outcome[name] = error.what();
    }
  }
  return outcome;
}

void expect_every_broken_file_reported(const std::map<std::string, std::string>& outcome) {
  ASSERT_TRUE(outcome.count("good.png"));
  EXPECT_EQ(outcome.at("good.png"), "");
  for (const auto& [name, fragment] : broken_files) {
    ASSERT_TRUE(outcome.count(name)) << name << " was not listed";
    EXPECT_NE(outcome.at(name).find(fragment), std::string::npos) << name << ": " << outcome.at(name);
  }
}

TEST(BadInput, StudyFolder) {
  TempFolder scratch;
  write_broken_folder(scratch, "study");
  StudyFolderReader reader(
      resolve_params(StudyFolderReader::schema(), {{"folder", (scratch.path() / "study").string()}}),
      StageContext{});
  expect_every_broken_file_reported(load_all(reader));
}

TEST(BadInput, ClassFolders) {
  TempFolder scratch;
  write_broken_folder(scratch, "normal");
  scratch.write("abnormal/placeholder.txt", "");
  // A dangling link and a FIFO where class folders could be are not classes.
  std::filesystem::create_symlink(scratch.path() / "nowhere", scratch.path() / "lost");
  ASSERT_EQ(::mkfifo((scratch.path() / "pipe").c_str(), 0600), 0);
  ClassFoldersReader reader(resolve_params(ClassFoldersReader::schema(), {{"root", scratch.path().string()}}),
                            StageContext{});
  expect_every_broken_file_reported(load_all(reader));
}

// image_files once listed regular files only, so that dangling links, symbolic link loops and
// FIFOs vanished without a word, even with on_error = "fail". They are listed now, and loading
// each says why it cannot be read.
TEST(BadInput, ImageFiles) {
  TempFolder scratch;
  write_broken_folder(scratch, "images");
  const auto folder = scratch.path() / "images";
  std::filesystem::create_symlink(folder / "loop.png", folder / "loop.png");
  ImageFilesReader reader(resolve_params(ImageFilesReader::schema(), {{"root", folder.string()}}), StageContext{});
  const auto outcome = load_all(reader);
  expect_every_broken_file_reported(outcome);
  ASSERT_TRUE(outcome.count("loop.png")) << "a symbolic link loop is listed";
  EXPECT_NE(outcome.at("loop.png").find("symbolic links"), std::string::npos) << outcome.at("loop.png");
}

// A subfolder image_files cannot list is one unreadable entry, not a silent gap. Root reads every
// folder, so the listing runs in a child process without root's privileges when the test has them.
TEST(BadInput, ImageFilesReportsAnUnreadableFolder) {
  TempFolder scratch;
  const auto folder = scratch.path() / "images";
  scratch.write("images/good.png", encoded(".png"));
  scratch.write("images/locked/hidden.png", encoded(".png"));
  std::filesystem::permissions(folder / "locked", std::filesystem::perms::none);
  std::filesystem::permissions(scratch.path(), std::filesystem::perms::all); // the child walks down to it
  const auto list_and_check = [&] {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) std::_Exit(2);
    ImageFilesReader reader(resolve_params(ImageFilesReader::schema(), {{"root", folder.string()}}), StageContext{});
    const auto outcome = load_all(reader);
    const bool reported = outcome.count("locked") && outcome.at("locked").find("cannot list folder") != std::string::npos &&
                          outcome.count("good.png") && outcome.at("good.png").empty();
    std::_Exit(reported ? 0 : 1);
  };
  EXPECT_EXIT(list_and_check(), ::testing::ExitedWithCode(0), "");
  std::filesystem::permissions(folder / "locked", std::filesystem::perms::owner_all);
}

TEST(BadInput, Csv) {
  TempFolder scratch;
  write_broken_folder(scratch, "images");
  std::string rows = "image,label\nimages/good.png,0\nimages/missing.png,1\nimages/good.png/inside.png,1\n";
  for (const auto& [name, fragment] : broken_files) rows += "images/" + name + ",1\n";
  const auto file = scratch.write("set.csv", rows);
  CsvReader reader(resolve_params(CsvReader::schema(), {{"file", file.string()}}), StageContext{});
  auto outcome = load_all(reader);
  expect_every_broken_file_reported(outcome);
  EXPECT_NE(outcome.at("missing.png").find("no such file"), std::string::npos) << outcome.at("missing.png");
  // A path through a file, where a folder is expected.
  EXPECT_NE(outcome.at("inside.png").find("no such file"), std::string::npos) << outcome.at("inside.png");
}

TEST(BadInput, UnreadableRootsAreConfigurationErrors) {
  TempFolder scratch;
  std::filesystem::create_symlink(scratch.path() / "nowhere", scratch.path() / "dangling");
  const auto file = scratch.write("file", "x");
  for (const auto& root : {scratch.path() / "dangling", file}) {
    EXPECT_THROW(StudyFolderReader(resolve_params(StudyFolderReader::schema(), {{"folder", root.string()}}),
                                   StageContext{}),
                 StageError)
        << root;
    EXPECT_THROW(ClassFoldersReader(resolve_params(ClassFoldersReader::schema(), {{"root", root.string()}}),
                                    StageContext{}),
                 StageError)
        << root;
  }
}

} // namespace
} // namespace radpipe::readers
