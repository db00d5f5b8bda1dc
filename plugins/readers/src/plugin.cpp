// The `readers` plugin: where datasets come from.
#include <radpipe/plugin.hpp>

#include "csv_reader.hpp"
#include "image_files_reader.hpp"

namespace {
void register_readers(radpipe::PluginRegistrar& registrar) {
  using radpipe::readers::CsvReader;
  using radpipe::readers::ImageFilesReader;
  registrar.add<ImageFilesReader>("image_files", "Every image file under a folder, sorted by path",
                                  ImageFilesReader::schema());
  registrar.add<CsvReader>("csv", "A dataset listed in a CSV file: image paths, labels, body parts, splits",
                           CsvReader::schema());
}
} // namespace

RADPIPE_PLUGIN("readers", "0.1.0", "Dataset readers: image folders and labelled CSV files", register_readers)
