#include "image_files_reader.hpp"

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <radpipe/error.hpp>
#include <radpipe/testing.hpp>

#include "test_support.hpp"

namespace radpipe::readers {
namespace {

using radpipe::testing::TempFolder;
using namespace std::string_literals;
using testing::enumerate;

std::vector<std::string> ids_of(const std::vector<SampleInfo>& infos) {
  std::vector<std::string> ids;
  for (const auto& info : infos) ids.push_back(info.id);
  return ids;
}

void write_image(const std::filesystem::path& file, const cv::Mat& image) {
  std::filesystem::create_directories(file.parent_path());
  ASSERT_TRUE(cv::imwrite(file.string(), image)) << file;
}

// root/a.jpg, root/b.png, root/sub/c.PNG, root/sub/deeper/d.jpeg, plus files that are not read.
class ImageFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    const cv::Mat small(8, 8, CV_8UC1, cv::Scalar(50));
    write_image(root() / "b.png", small);
    write_image(root() / "a.jpg", small);
    write_image(root() / "sub" / "c.PNG", cv::Mat(8, 8, CV_16UC1, cv::Scalar(60000)));
    write_image(root() / "sub" / "deeper" / "d.jpeg", small);
    write_image(root() / ".hidden.png", small);
    write_image(root() / ".cache" / "e.png", small);
    scratch_.write("notes.txt", "not an image");
  }
  const std::filesystem::path& root() const { return scratch_.path(); }

  TempFolder scratch_;
  StageContext context_;
};

TEST_F(ImageFolder, ListsImagesRecursivelyInPathOrder) {
  ImageFilesReader reader(resolve_params(ImageFilesReader::schema(), {{"root", root().string()}}), context_);
  ASSERT_EQ(reader.size_hint(), 4u);
  const auto infos = enumerate(reader);
  EXPECT_EQ(ids_of(infos), (std::vector<std::string>{"a", "b", "sub/c", "sub/deeper/d"}));
  for (std::size_t i = 0; i < infos.size(); ++i) EXPECT_EQ(infos[i].index, i);
  EXPECT_EQ(infos[2].path, (root() / "sub" / "c.PNG").string());
  EXPECT_TRUE(infos[0].body_part.empty());
  EXPECT_FALSE(infos[0].label.has_value());
  EXPECT_FALSE(reader.next().has_value()); // stays at the end
}

TEST_F(ImageFolder, NonRecursiveStaysInRoot) {
  ImageFilesReader reader(
      resolve_params(ImageFilesReader::schema(), {{"root", root().string()}, {"recursive", false}}),
      context_);
  EXPECT_EQ(ids_of(enumerate(reader)), (std::vector<std::string>{"a", "b"}));
}

TEST_F(ImageFolder, ExtensionsAreCaseInsensitiveAndDotOptional) {
  ImageFilesReader reader(resolve_params(ImageFilesReader::schema(),
                                         {{"root", root().string()}, {"extensions", std::vector{"PNG"s}}}),
                          context_);
  EXPECT_EQ(ids_of(enumerate(reader)), (std::vector<std::string>{"b", "sub/c"}));
}

TEST_F(ImageFolder, BodyPartIsLowerCasedOntoEverySample) {
  ImageFilesReader reader(
      resolve_params(ImageFilesReader::schema(), {{"root", root().string()}, {"body_part", "Wrist"s}}),
      context_);
  for (const auto& info : enumerate(reader)) EXPECT_EQ(info.body_part, "wrist") << info.id;
}

TEST_F(ImageFolder, LoadDecodesKeepingDepth) {
  ImageFilesReader reader(resolve_params(ImageFilesReader::schema(), {{"root", root().string()}}), context_);
  const auto infos = enumerate(reader);
  const Sample deep = reader.load(infos[2]);
  EXPECT_EQ(deep.info.id, "sub/c");
  ASSERT_EQ(deep.image.type(), CV_16UC1);
  EXPECT_EQ(deep.image.at<std::uint16_t>(7, 7), 60000);
  const Sample shallow = reader.load(infos[1]);
  ASSERT_EQ(shallow.image.type(), CV_8UC1);
  EXPECT_EQ(shallow.image.at<unsigned char>(0, 0), 50);
}

TEST_F(ImageFolder, CorruptFileIsListedButFailsOnLoad) {
  scratch_.write("z.png", "garbage");
  ImageFilesReader reader(resolve_params(ImageFilesReader::schema(), {{"root", root().string()}}), context_);
  const auto infos = enumerate(reader); // listing decodes nothing, so it cannot fail here
  ASSERT_EQ(infos.back().id, "z");
  EXPECT_THROW(reader.load(infos.back()), SampleError);
}

TEST_F(ImageFolder, SameIdFromTwoExtensionsIsAnError) {
  write_image(root() / "a.png", cv::Mat(8, 8, CV_8UC1, cv::Scalar(1)));
  try {
    ImageFilesReader reader(resolve_params(ImageFilesReader::schema(), {{"root", root().string()}}),
                            context_);
    FAIL() << "a.jpg and a.png share the id \"a\"";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "root");
    EXPECT_NE(std::string(error.what()).find("\"a\": a.jpg and a.png"), std::string::npos) << error.what();
  }
}

TEST(ImageFilesReader, FolderWithoutImagesIsAnError) {
  TempFolder scratch;
  scratch.write("readme.txt", "nothing here");
  try {
    ImageFilesReader reader(resolve_params(ImageFilesReader::schema(), {{"root", scratch.path().string()}}),
                            StageContext{});
    FAIL() << "an empty dataset should be an error";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "root");
    EXPECT_NE(std::string(error.what()).find(".png, .jpg, .jpeg"), std::string::npos) << error.what();
  }
}

TEST(ImageFilesReader, RootThatIsAFileReadsThatFileAlone) {
  TempFolder scratch;
  const auto file = scratch.path() / "image.png";
  write_image(file, cv::Mat(3, 5, CV_8UC1, cv::Scalar(7)));
  write_image(scratch.path() / "other.png", cv::Mat(3, 5, CV_8UC1, cv::Scalar(9)));
  ImageFilesReader reader(resolve_params(ImageFilesReader::schema(), {{"root", file.string()}}),
                          StageContext{});
  EXPECT_EQ(reader.size_hint(), 1u);
  const auto info = reader.next();
  ASSERT_TRUE(info);
  EXPECT_EQ(info->id, "image");
  EXPECT_EQ(info->path, file.string());
  EXPECT_EQ(reader.load(*info).image.at<unsigned char>(2, 4), 7);
  EXPECT_FALSE(reader.next().has_value());
}

TEST(ImageFilesReader, ReadsTheFracAtlasImagesFolder) {
  ImageFilesReader reader(
      resolve_params(ImageFilesReader::schema(),
                     {{"root", (testing::fracatlas_dir() / "images").string()}, {"body_part", "Leg"s}}),
      StageContext{});
  EXPECT_EQ(reader.size_hint(), 3419u);
  const auto first = reader.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, "IMG0000000");
  EXPECT_EQ(first->body_part, "leg");
  EXPECT_EQ(reader.load(*first).image.size(), cv::Size(421, 512));
}

} // namespace
} // namespace radpipe::readers
