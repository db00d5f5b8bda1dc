#include "report/report.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "config/diagnostics.hpp"
#include "io/atomic_file.hpp"
#include "report/gnuplot.hpp"

namespace radpipe::host {
namespace fs = std::filesystem;

std::vector<ReferenceComparison> compare_with_reference(const LevelMetrics& study_level,
                                                        const std::vector<ReferenceRow>& reference) {
  std::vector<ReferenceComparison> rows;
  auto add = [&](const GroupMetrics& group) {
    ReferenceComparison row{group.name, group.kappa, group.kappa_ci, {}};
    for (const auto& published : reference)
      if (published.study_type == group.name) row.published.push_back(&published);
    if (!row.published.empty()) rows.push_back(std::move(row));
  };
  for (const auto& part : study_level.parts) add(part);
  // Only worth showing when some body part is one of the reference's study types.
  if (!rows.empty()) add(study_level.overall);
  return rows;
}

namespace {

std::string escaped(const std::string& text) {
  std::string out;
  for (char character : text) {
    switch (character) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += character;
    }
  }
  return out;
}

std::string number(double value) {
  return std::isfinite(value) ? fmt::format("{:.3f}", value) : "&ndash;";
}

std::string with_interval(double value, const Interval& interval) {
  if (!std::isfinite(interval.low) || !std::isfinite(interval.high)) return number(value);
  return fmt::format("{} <span class=ci>({}&ndash;{})</span>", number(value), number(interval.low),
                     number(interval.high));
}

// A label in a gnuplot data block: double quotes group words there (single quotes do not).
std::string data_label(std::string text) {
  std::erase(text, '"');
  return '"' + text + '"';
}

// gnuplot reads "NaN" as a missing value.
std::string data_value(double value) {
  return std::isfinite(value) ? fmt::format("{:.6f}", value) : "NaN";
}

std::string roc_commands(const LevelMetrics& level) {
  std::string data, plots;
  std::vector<const GroupMetrics*> groups{&level.overall};
  for (const auto& part : level.parts) groups.push_back(&part);
  std::size_t index = 0;
  for (const GroupMetrics* group : groups) {
    if (group->roc.empty()) continue; // one class only: no curve
    const std::string block = fmt::format("$roc{}", index++);
    data += block + " << EOD\n";
    for (const auto& point : group->roc)
      data += fmt::format("{:.6f} {:.6f}\n", point.false_positive_rate, point.true_positive_rate);
    data += "EOD\n";
    plots += fmt::format("{}{} using 1:2 with lines lw {} title {}", plots.empty() ? "" : ", ", block,
                         group == &level.overall ? 3 : 1.5,
                         gnuplot_quoted(fmt::format("{} (AUROC {:.3f}, n={})", group->name, group->auroc,
                                                    group->counts.total())));
  }
  if (plots.empty()) return {};
  return data + "set title " + gnuplot_quoted("ROC, " + level.level + " level") +
         "\nset xlabel 'false positive rate (1 - specificity)'\nset ylabel 'true positive rate "
         "(sensitivity)'\n"
         "set xrange [0:1]\nset yrange [0:1]\nset size ratio -1\nset grid\nset key outside right top\n"
         "plot " +
         plots + ", x with lines dt 2 lc rgb 'gray' title 'chance'\n";
}

std::string parts_commands(const LevelMetrics& level) {
  std::string data = "$parts << EOD\n";
  auto row = [&](const GroupMetrics& group) {
    // A bar without an interval gets a zero-length error bar rather than none, which gnuplot would
    // take as a missing bar.
    auto low = [](double value, const Interval& interval) {
      return std::isfinite(interval.low) ? interval.low : value;
    };
    auto high = [](double value, const Interval& interval) {
      return std::isfinite(interval.high) ? interval.high : value;
    };
    data += fmt::format("{} {} {} {} {} {} {}\n", data_label(group.name), data_value(group.auroc),
                        data_value(low(group.auroc, group.auroc_ci)),
                        data_value(high(group.auroc, group.auroc_ci)), data_value(group.kappa),
                        data_value(low(group.kappa, group.kappa_ci)),
                        data_value(high(group.kappa, group.kappa_ci)));
  };
  row(level.overall);
  for (const auto& part : level.parts) row(part);
  data += "EOD\n";
  return data + "set title " +
         gnuplot_quoted("AUROC and Cohen's kappa per body part, " + level.level + " level, with CIs") +
         "\nset style data histograms\nset style histogram errorbars gap 2 lw 1\nset style fill solid 0.6 "
         "border -1\n"
         "set boxwidth 0.9\nset yrange [*:1.05]\nset grid ytics\nset key outside right top\nset xtics rotate "
         "by -30\n"
         "plot $parts using 2:3:4:xtic(1) title 'AUROC' lc rgb '#4477aa', $parts using 5:6:7 title 'kappa' "
         "lc rgb '#ee6677'\n";
}

std::string figure(const std::string& file, const std::string& caption) {
  return fmt::format("<figure><img src=\"{}\" alt=\"{}\"><figcaption>{}</figcaption></figure>\n",
                     escaped(file), escaped(caption), escaped(caption));
}

std::string confusion_table(const GroupMetrics& group, const std::string& level) {
  const auto& c = group.counts;
  return fmt::format(
      "<table class=confusion><caption>{} level, {}</caption>"
      "<tr><th></th><th>predicted abnormal</th><th>predicted normal</th></tr>"
      "<tr><th>abnormal</th><td class=good>{} <small>TP</small></td><td class=bad>{} "
      "<small>FN</small></td></tr>"
      "<tr><th>normal</th><td class=bad>{} <small>FP</small></td><td class=good>{} "
      "<small>TN</small></td></tr></table>\n",
      escaped(level), escaped(group.name), c.true_positive, c.false_negative, c.false_positive,
      c.true_negative);
}

std::string metric_table(const LevelMetrics& level) {
  std::string html = fmt::format(
      "<table class=metrics><caption>{} level, {}</caption><tr><th>part</th><th>n</th><th>abnormal</th>"
      "<th>AUROC (CI)</th><th>kappa (CI)</th><th>accuracy (CI)</th><th>sensitivity (CI)</th><th>specificity "
      "(CI)</th>"
      "<th>precision</th><th>F1</th><th>macro F1</th><th>TP</th><th>FP</th><th>TN</th><th>FN</th></tr>\n",
      escaped(level.level),
      // Pooled cross-validation cases whose folds chose different thresholds have none in common.
      std::isfinite(level.threshold) ? fmt::format("threshold {:.4f}", level.threshold) : std::string("each fold's own threshold"));
  auto row = [&](const GroupMetrics& group, bool overall) {
    const auto& c = group.counts;
    html += fmt::format(
        "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</"
        "td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        overall ? " class=overall" : "", escaped(group.name), c.total(), group.positives,
        with_interval(group.auroc, group.auroc_ci), with_interval(group.kappa, group.kappa_ci),
        with_interval(c.accuracy(), group.accuracy_ci), with_interval(c.sensitivity(), group.sensitivity_ci),
        with_interval(c.specificity(), group.specificity_ci), number(c.precision()), number(c.f1()),
        number(c.macro_f1()), c.true_positive, c.false_positive, c.true_negative, c.false_negative);
  };
  for (const auto& part : level.parts) row(part, false);
  row(level.overall, true);
  return html + "</table>\n";
}

std::string multiclass_tables(const MulticlassMetrics& metrics) {
  std::string html = fmt::format(
      "<table class=metrics><caption>chain {}, {} level, {} classes, {} cases: accuracy {}, macro F1 {}</caption>"
      "<tr><th>class</th><th>support</th><th>called</th><th>precision</th><th>recall</th><th>F1</th></tr>\n",
      escaped(metrics.chain), escaped(metrics.level), metrics.classes.size(), metrics.cases,
      with_interval(metrics.accuracy, metrics.accuracy_ci),
      with_interval(metrics.macro_f1, metrics.macro_f1_ci));
  for (const auto& item : metrics.classes)
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", escaped(item.name),
                        item.support, item.predicted, number(item.precision), number(item.recall), number(item.f1));
  html += "</table>\n";
  html += fmt::format("<table class=confusion><caption>chain {}, {} level: true class (rows) against predicted class (columns)</caption>"
                      "<tr><th></th>",
                      escaped(metrics.chain), escaped(metrics.level));
  for (const auto& item : metrics.classes) html += "<th>" + escaped(item.name) + "</th>";
  html += "</tr>\n";
  for (std::size_t row = 0; row < metrics.confusion.size(); ++row) {
    html += "<tr><th>" + escaped(metrics.classes[row].name) + "</th>";
    for (std::size_t column = 0; column < metrics.confusion[row].size(); ++column)
      html += fmt::format("<td class={}>{}</td>", row == column ? "good" : (metrics.confusion[row][column] ? "bad" : "none"),
                          metrics.confusion[row][column]);
    html += "</tr>\n";
  }
  return html + "</table>\n";
}

std::string reference_table(const std::vector<ReferenceComparison>& rows, const fs::path& file) {
  std::vector<std::string> readers;
  for (const auto& row : rows)
    for (const auto* published : row.published)
      if (std::find(readers.begin(), readers.end(), published->reader) == readers.end())
        readers.push_back(published->reader);
  std::string html = "<table class=metrics><caption>Cohen's kappa, study level: this run beside " +
                     escaped(file.string()) + "</caption><tr><th>study type</th><th>this run</th>";
  for (const auto& reader : readers) html += "<th>" + escaped(reader) + "</th>";
  html += "</tr>\n";
  for (const auto& row : rows) {
    html += fmt::format("<tr{}><td>{}</td><td>{}</td>", row.study_type == "overall" ? " class=overall" : "",
                        escaped(row.study_type), with_interval(row.kappa, row.kappa_ci));
    for (const auto& reader : readers) {
      auto found = std::find_if(row.published.begin(), row.published.end(),
                                [&](const ReferenceRow* r) { return r->reader == reader; });
      html += "<td>" +
              (found == row.published.end() ? std::string("&ndash;")
                                            : with_interval((*found)->kappa, (*found)->ci)) +
              "</td>";
    }
    html += "</tr>\n";
  }
  return html +
         "</table>\n<p class=note>The published figures come from another data set split (MURA's test set "
         "for "
         "mura-kappa.csv): compare orders of magnitude, not decimals.</p>\n";
}

constexpr const char* style = R"(<style>
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
caption { text-align: left; font-weight: bold; padding: .3em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.overall td { font-weight: bold; background: #f3f3f3; }
.ci { color: #666; font-size: .9em; white-space: nowrap; }
table.confusion { display: inline-table; margin-right: 1.5em; vertical-align: top; }
table.confusion td { min-width: 6em; text-align: center; font-size: 1.1em; }
td.good { background: #dcefdc; } td.bad { background: #f6dcdc; } td.none { color: #999; }
figure { display: inline-block; margin: .5em 1em .5em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .85em; color: #555; }
img.broken { outline: 4px solid red; min-width: 200px; min-height: 50px; }
.note { color: #555; font-size: .9em; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; } dt { font-weight: bold; }
</style>
)";

// Marks every image that did not load, so that a reader sees the gap and a test can count it
// (body data-images / data-broken-images).
constexpr const char* image_check = R"(<script>
window.addEventListener('load', function () {
  var broken = 0;
  for (var i = 0; i < document.images.length; i++) {
    var image = document.images[i];
    if (!image.complete || image.naturalWidth === 0) { broken++; image.classList.add('broken'); }
  }
  document.body.setAttribute('data-images', document.images.length);
  document.body.setAttribute('data-broken-images', broken);
});
</script>
)";

void write_page(const fs::path& file, const std::string& title, const std::string& body) {
  write_file_atomically(file, [&](std::ostream& out) {
    out << "<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n<title>" << escaped(title) << "</title>\n"
        << style << "</head>\n<body>\n"
        << body << image_check << "</body>\n</html>\n";
  });
}

} // namespace

void write_report(const ReportInput& input, const fs::path& out_dir) {
  std::ostringstream body;
  body << "<h1>Evaluation of " << escaped(input.pipeline_name) << "</h1>\n<dl>"
       << "<dt>pipeline</dt><dd>" << escaped(input.pipeline_file.string()) << "</dd>"
       << (input.overrides.empty() ? std::string()
                                   : "<dt>overrides</dt><dd><code>--set " + escaped(join(input.overrides, " --set ")) + "</code></dd>")
       << "<dt>split</dt><dd>" << escaped(input.split) << "</dd>"
       << fmt::format(
              "<dt>cases</dt><dd>{} images in {} studies{}{}</dd>", input.images, input.studies,
              input.patients ? fmt::format(" of {} patients", input.patients) : std::string(),
              input.skipped ? fmt::format(", {} unreadable images skipped", input.skipped) : std::string())
       << "<dt>threshold</dt><dd>" << escaped(input.threshold_method)
       << (input.threshold_method == "fixed"
               ? std::string(" ([aggregate] threshold)")
               : " (chosen on split " + escaped(input.threshold_split) + ", per level)");
  for (const auto& level : input.levels)
    body << fmt::format("; {} {:.4f}", escaped(level.level), level.threshold);
  body << "</dd><dt>intervals</dt><dd>"
       << (input.bootstrap.resamples
               ? fmt::format("{:.0f}% percentile bootstrap, {} resamples of the cases of each group, seed {}",
                             100 * input.bootstrap.level, input.bootstrap.resamples, input.bootstrap.seed)
               : std::string("none ([evaluate] bootstrap_resamples = 0)"))
       << "</dd></dl>\n";

  body << "<h2>Metrics</h2>\n";
  for (const auto& level : input.levels) body << metric_table(level);
  body << "<p class=note>macro F1 is the mean of the abnormal and the normal class's F1. A dash marks a "
          "value that is "
          "undefined for the group (for instance AUROC with one class only).";
  if (input.patients)
    body << " At patient level every image of a patient is aggregated by the pipeline's [aggregate] stage; a patient whose "
            "images show several body parts counts in the overall row only.";
  body << "</p>\n";
  if (!input.multiclass.empty()) {
    body << "<h2>Classes</h2>\n";
    for (const auto& level : input.multiclass) body << multiclass_tables(level);
    body << "<p class=note>Each image's class is the model's most probable one; a study's is the most probable class once "
            "the chain's aggregator has combined its images' class probabilities, and its true class the most frequent of its "
            "images'. macro F1 is the unweighted mean of the classes' F1.</p>\n";
  }

  body << "<h2>ROC curves</h2>\n";
  for (const auto& level : input.levels) {
    const std::string file = "roc-" + level.level + ".png";
    const std::string commands = roc_commands(level);
    if (commands.empty())
      body << "<p class=note>No ROC curve at " << escaped(level.level) << " level: one class only.</p>\n";
    else if (plot_png(out_dir / file, 720, 500, commands))
      body << figure(file, "ROC curves, " + level.level + " level");
  }

  body << "<h2>Per body part</h2>\n";
  if (!input.levels.empty() && !input.levels.front().parts.empty()) {
    const auto& level = input.levels.front();
    const std::string file = "parts-" + level.level + ".png";
    if (plot_png(out_dir / file, 900, 460, parts_commands(level)))
      body << figure(file, "AUROC and kappa per body part, " + level.level + " level (error bars: CIs)");
  } else {
    body << "<p class=note>The reader gave no body parts.</p>\n";
  }

  body << "<h2>Confusion matrices</h2>\n";
  for (const auto& level : input.levels) {
    body << confusion_table(level.overall, level.level);
    for (const auto& part : level.parts) body << confusion_table(part, level.level);
  }

  if (!input.reference.empty() && !input.levels.empty()) {
    auto rows = compare_with_reference(input.levels.front(), input.reference);
    body << "<h2>Published reference</h2>\n";
    if (rows.empty())
      body << "<p class=note>No body part of this run is a study type of "
           << escaped(input.reference_file.string()) << ".</p>\n";
    else
      body << reference_table(rows, input.reference_file);
  }

  body << "<h2>Training</h2>\n";
  if (!input.training_history.empty() &&
      plot_training_curves(input.training_history, out_dir / "training-curves.png", input.pipeline_name))
    body << figure("training-curves.png", "Training history: " + input.training_history.string());
  else
    body << "<p class=note>No training history found (history.csv of <code>radpipe train</code> in the "
            "checkpoint's run folder "
            "or beside the weights).</p>\n";

  body << "<h2>Where the model looked</h2>\n";
  if (input.explanations.empty()) {
    body << "<p class=note>No explainer ran for this evaluation. Add an <code>[explain]</code> table "
            "(<code>stage = \"gradcam\"</code>) to the pipeline to see Grad-CAM heatmaps of the most confident true "
            "positives, false positives and false negatives here.</p>\n";
  } else {
    for (const auto& explanation : input.explanations) body << figure(explanation.file, explanation.caption);
  }

  write_page(out_dir / "report.html", "radpipe evaluation: " + input.pipeline_name, body.str());
}

void write_cv_report(const CrossValidationReport& input, const fs::path& out_dir) {
  std::ostringstream body;
  body << "<h1>Cross-validation of " << escaped(input.pipeline_name) << "</h1>\n<dl>"
       << "<dt>pipeline</dt><dd>" << escaped(input.pipeline_file.string()) << "</dd>"
       << (input.overrides.empty() ? std::string()
                                   : "<dt>overrides</dt><dd><code>--set " + escaped(join(input.overrides, " --set ")) + "</code></dd>")
       << fmt::format("<dt>folds</dt><dd>{} folds grouped by patient (else study, else image), stratified by label and body part, "
                      "seed {}; in each fold {:.0f}% of the training part, grouped alike, picks the best epoch and any tuned "
                      "threshold, and the held-out fold is scored once{}</dd>",
                      input.folds, input.seed, 100 * input.valid_fraction,
                      input.members > 1 ? fmt::format(" by the mean of {} models trained with consecutive [pipeline] seeds", input.members)
                                        : std::string())
       << "<dt>intervals</dt><dd>"
       << (input.bootstrap.resamples
               ? fmt::format("{:.0f}% percentile bootstrap of the pooled out-of-fold cases, {} resamples, seed {}",
                             100 * input.bootstrap.level, input.bootstrap.resamples, input.bootstrap.seed)
               : std::string("none ([evaluate] bootstrap_resamples = 0)"))
       << "</dd></dl>\n";

  body << "<h2>Each fold</h2>\n";
  for (std::size_t l = 0; l < input.levels.size(); ++l) {
    body << fmt::format("<table class=metrics><caption>{} level, each fold at its own threshold</caption>"
                        "<tr><th>fold</th><th>n</th><th>abnormal</th><th>AUROC</th><th>kappa</th><th>accuracy</th>"
                        "<th>sensitivity</th><th>specificity</th></tr>\n",
                        escaped(input.levels[l]));
    std::vector<double> aurocs, kappas, accuracies, sensitivities, specificities;
    for (const auto& fold : input.fold_levels) {
      const GroupMetrics& g = fold[l];
      aurocs.push_back(g.auroc);
      kappas.push_back(g.kappa);
      accuracies.push_back(g.counts.accuracy());
      sensitivities.push_back(g.counts.sensitivity());
      specificities.push_back(g.counts.specificity());
      body << fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                          escaped(g.name), g.counts.total(), g.positives, number(g.auroc), number(g.kappa), number(g.counts.accuracy()),
                          number(g.counts.sensitivity()), number(g.counts.specificity()));
    }
    auto spread = [](const std::vector<double>& values) {
      const Spread s = spread_of(values);
      return std::isfinite(s.sd) ? fmt::format("{} &plusmn; {}", number(s.mean), number(s.sd)) : number(s.mean);
    };
    body << fmt::format("<tr class=overall><td>mean &plusmn; sd</td><td></td><td></td><td>{}</td><td>{}</td><td>{}</td>"
                        "<td>{}</td><td>{}</td></tr>\n</table>\n",
                        spread(aurocs), spread(kappas), spread(accuracies), spread(sensitivities), spread(specificities));
  }

  body << "<h2>Pooled out-of-fold metrics</h2>\n<p class=note>Every case scored once, by the model of the fold that held it "
          "out, at that fold's threshold.</p>\n";
  for (const auto& level : input.pooled) body << metric_table(level);
  for (const auto& level : input.pooled) {
    const std::string file = "roc-" + level.level + ".png";
    const std::string commands = roc_commands(level);
    if (!commands.empty() && plot_png(out_dir / file, 720, 500, commands))
      body << figure(file, "ROC curves of the pooled out-of-fold cases, " + level.level + " level");
  }
  if (!input.pooled.empty() && !input.pooled.front().parts.empty()) {
    const auto& level = input.pooled.front();
    const std::string file = "parts-" + level.level + ".png";
    if (plot_png(out_dir / file, 900, 460, parts_commands(level)))
      body << figure(file, "AUROC and kappa per body part, pooled, " + level.level + " level (error bars: CIs)");
  }
  body << "<h2>Confusion matrices, pooled</h2>\n";
  for (const auto& level : input.pooled) {
    body << confusion_table(level.overall, level.level);
    for (const auto& part : level.parts) body << confusion_table(part, level.level);
  }
  body << "<p class=note>Each fold's own evaluation report is in <code>fold-N/evaluation/report.html</code>.</p>\n";
  write_page(out_dir / "report.html", "radpipe cross-validation: " + input.pipeline_name, body.str());
}

} // namespace radpipe::host
