// The one way radpipe draws a chart: a gnuplot script rendered to PNG (gnuplot-nox's pngcairo
// terminal). `train` draws its curves with it, `evaluate` its report's figures.
#pragma once

#include <filesystem>
#include <string>

namespace radpipe::host {

bool gnuplot_available();

// `text` as a gnuplot single-quoted string (a quote inside is doubled).
std::string gnuplot_quoted(const std::string& text);

// Draws `commands` (plots, styles, datablocks; no terminal or output) into `image`, a PNG of
// width x height pixels. The script is kept beside the image as IMAGE.gnuplot so that a figure can
// be restyled and redrawn by hand. The image appears complete or not at all. Returns false, after
// logging gnuplot's complaint as a warning, when gnuplot is missing or fails.
bool plot_png(const std::filesystem::path& image, int width, int height, const std::string& commands);

// Loss and validation metrics per epoch from a history.csv of `radpipe train`.
bool plot_training_curves(const std::filesystem::path& history_csv, const std::filesystem::path& image,
                          const std::string& title);

} // namespace radpipe::host
