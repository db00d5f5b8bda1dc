#include "radpipe/mura_tree.hpp"

#include <fstream>
#include <map>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <stdexcept>

namespace radpipe::testing {

std::string MuraStudy::folder() const {
  return "MURA-v1.1/" + split + "/" + body_part + "/patient" + patient + "/study" + std::to_string(number) +
         (positive ? "_positive/" : "_negative/");
}

std::vector<MuraStudy> generated_mura_studies(int patients, int train_patients) {
  static const char* const parts[] = {"XR_WRIST", "XR_ELBOW", "XR_HAND"};
  std::vector<MuraStudy> studies;
  for (int p = 1; p <= patients; ++p) {
    char id[16];
    std::snprintf(id, sizeof id, "%05d", p);
    for (int s = 1; s <= 1 + p % 3; ++s)
      studies.push_back(
          {p <= train_patients ? "train" : "valid", parts[p % 3], id, s, (p + s) % 2 == 1, 1 + (p + s) % 3});
  }
  return studies;
}

void write_mura_tree(const std::filesystem::path& root, const std::vector<MuraStudy>& studies) {
  std::map<std::string, std::ofstream> csv;
  const auto out = [&](const std::string& name) -> std::ofstream& {
    auto [place, inserted] = csv.try_emplace(name);
    if (inserted) place->second.open(root / name, std::ios::binary);
    return place->second;
  };
  std::filesystem::create_directories(root);
  for (const auto& study : studies) {
    const std::string folder = study.folder();
    const auto on_disk = root / folder.substr(std::string("MURA-v1.1/").size());
    std::filesystem::create_directories(on_disk);
    for (int k = 1; k <= study.images; ++k) {
      const std::string image = "image" + std::to_string(k) + ".png";
      if (!cv::imwrite((on_disk / image).string(), cv::Mat(8, 8, CV_8UC1, cv::Scalar(10 * k))))
        throw std::runtime_error("cannot write " + (on_disk / image).string());
      out(study.split + "_image_paths.csv") << folder << image << '\n';
    }
    out(study.split + "_labeled_studies.csv") << folder << ',' << (study.positive ? 1 : 0) << '\n';
  }
}

} // namespace radpipe::testing
