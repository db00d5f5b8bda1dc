// The `readers` plugin: where datasets come from.
#include <radpipe/plugin.hpp>

#include <opencv2/imgcodecs.hpp>

#include "class_folders_reader.hpp"
#include "csv_reader.hpp"
#include "image_files_reader.hpp"
#include "mura_reader.hpp"
#include "study_folder_reader.hpp"

namespace {
void register_readers(radpipe::PluginRegistrar& registrar) {
  using radpipe::readers::CsvReader;
  using radpipe::readers::ImageFilesReader;
  registrar.add<ImageFilesReader>("image_files", "Every image file under a folder, sorted by path", ImageFilesReader::schema()).files =
      radpipe::FileSupport{[](const std::filesystem::path& file) { return cv::haveImageReader(file.string()); }, "root"};
  registrar.add<CsvReader>("csv", "A dataset listed in a CSV file: image paths, labels, body parts, splits",
                           CsvReader::schema());
  using radpipe::readers::ClassFoldersReader;
  using radpipe::readers::MuraReader;
  using radpipe::readers::StudyFolderReader;
  registrar.add<MuraReader>("mura",
                            "MURA-v1.1: body part, patient, study, label and split from its layout or CSVs",
                            MuraReader::schema());
  registrar.add<ClassFoldersReader>(
      "class_folders", "One folder of images per class (root/<class>/*), labels from the folders",
      ClassFoldersReader::schema());
  registrar.add<StudyFolderReader>("study_folder",
                                   "Every image of one folder is one unlabelled study, for one verdict",
                                   StudyFolderReader::schema());
}
} // namespace

RADPIPE_PLUGIN("readers", "0.1.0",
               "Dataset readers: image folders, labelled CSV files, MURA, class and study folders",
               register_readers)
