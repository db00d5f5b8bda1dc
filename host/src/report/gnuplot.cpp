#include "report/gnuplot.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>

#include "io/atomic_file.hpp"

namespace radpipe::host {
namespace fs = std::filesystem;

bool gnuplot_available() {
  return std::system("command -v gnuplot >/dev/null 2>&1") == 0;
}

std::string gnuplot_quoted(const std::string& text) {
  std::string quoted = "'";
  for (char character : text) {
    if (character == '\'') quoted += '\'';
    quoted += character;
  }
  return quoted + "'";
}

namespace {
std::string shell_quoted(const std::string& text) {
  std::string quoted = "'";
  for (char character : text) quoted += character == '\'' ? std::string("'\\''") : std::string(1, character);
  return quoted + "'";
}
} // namespace

bool plot_png(const fs::path& image, int width, int height, const std::string& commands) {
  if (!gnuplot_available()) {
    spdlog::warn("gnuplot is not installed: {} not drawn (scripts/setup-debian.sh installs gnuplot-nox)",
                 image.string());
    return false;
  }
  fs::path script = image;
  script += ".gnuplot";
  fs::path partial = image;
  partial += ".partial." + std::to_string(::getpid());
  fs::path errors = image;
  errors += ".errors." + std::to_string(::getpid());
  write_file_atomically(script, [&](std::ostream& out) {
    // noenhanced: file and part names keep their underscores instead of turning them into subscripts.
    out << "set terminal pngcairo size " << width << ',' << height << " font 'DejaVu Sans,10' noenhanced\n"
        << "set output " << gnuplot_quoted(partial.string()) << '\n'
        << commands << (commands.empty() || commands.back() == '\n' ? "" : "\n") << "unset output\n";
  });
  const int status = std::system(
      ("gnuplot " + shell_quoted(script.string()) + " 2>" + shell_quoted(errors.string())).c_str());
  std::ostringstream complaint;
  complaint << std::ifstream(errors).rdbuf();
  std::error_code ignored;
  fs::remove(errors, ignored);
  if (status != 0 || !fs::exists(partial)) {
    fs::remove(partial, ignored);
    spdlog::warn("gnuplot could not draw {} (script {}): {}", image.string(), script.string(),
                 complaint.str());
    return false;
  }
  rename_durably(partial, image);
  return true;
}

bool plot_training_curves(const fs::path& history_csv, const fs::path& image, const std::string& title) {
  const std::string data = gnuplot_quoted(history_csv.string());
  return plot_png(
      image, 1000, 420,
      "set datafile separator ','\nset key autotitle columnhead outside bottom center horizontal\n"
      "set grid\nset multiplot layout 1,2 title " +
          gnuplot_quoted(title) +
          "\n"
          "set xlabel 'epoch'\nset title 'loss'\nplot " +
          data +
          " using 1:3 with linespoints lw 2, '' using 1:4 with linespoints lw 2\n"
          "set title 'validation'\nset yrange [*:1]\nplot " +
          data +
          " using 1:5 with linespoints lw 2, '' using 1:6 with linespoints lw 2, '' using 1:7 with "
          "linespoints "
          "lw 2\nunset multiplot\n");
}

} // namespace radpipe::host
