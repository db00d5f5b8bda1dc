#include "config/overrides.hpp"

#include "config/pipeline_config.hpp"

#include <cctype>
#include <memory>
#include <optional>

namespace radpipe::host {
namespace {

struct KeySegment {
  std::string name;
  std::optional<std::size_t> index; // 1-based [N]
};

std::string trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return std::string(text);
}

bool is_bare_key_character(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

// The position of the '=' that ends the key: the first one outside a quoted key.
std::optional<std::size_t> find_assignment(std::string_view text) {
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '"') quoted = !quoted;
    else if (text[i] == '=' && !quoted) return i;
  }
  return std::nullopt;
}

// "route.hand.model.depth", "preprocess[2].size", "\"odd.name\".x": the key path, or a problem.
std::vector<KeySegment> parse_key_path(std::string_view text, std::string& problem) {
  std::vector<KeySegment> segments;
  std::size_t i = 0;
  auto fail = [&](std::string message) {
    problem = std::move(message);
    return std::vector<KeySegment>{};
  };
  while (true) {
    KeySegment segment;
    if (i < text.size() && text[i] == '"') {
      const auto end = text.find('"', i + 1);
      if (end == std::string_view::npos) return fail("the quoted key part has no closing '\"'");
      segment.name = std::string(text.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      const std::size_t start = i;
      while (i < text.size() && is_bare_key_character(text[i])) ++i;
      if (i == start)
        return fail(i < text.size() ? "unexpected '" + std::string(1, text[i]) + "' in the key; keys are words joined by '.', "
                                          "such as train.epochs or preprocess[2].size"
                                    : "the key ends in '.'");
      segment.name = std::string(text.substr(start, i - start));
    }
    if (i < text.size() && text[i] == '[') {
      const auto end = text.find(']', i);
      const std::string digits = end == std::string_view::npos ? std::string() : std::string(text.substr(i + 1, end - i - 1));
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 6)
        return fail("expected a step number in [" + segment.name + "[N]], counting from 1");
      segment.index = std::stoul(digits);
      if (*segment.index == 0) return fail(segment.name + "[0]: steps count from 1, as in the validator's messages");
      i = end + 1;
    }
    segments.push_back(std::move(segment));
    if (i == text.size()) return segments;
    if (text[i] != '.') return fail("unexpected '" + std::string(1, text[i]) + "' after '" + segments.back().name + "'");
    ++i;
  }
}

std::string quoted_basic_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += "\\u00";
      out += hex[(c >> 4) & 0xf];
      out += hex[c & 0xf];
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// The override's value as a TOML node whose source is the override: TOML when it parses as a
// value, else the text as a string (so that `model.device=cpu` needs no quotes).
toml::table parse_value(const std::string& value, const std::string& label) {
  try {
    return toml::parse("value = " + value, label);
  } catch (const toml::parse_error&) {
    return toml::parse("value = " + quoted_basic_string(value), label);
  }
}

toml::table sourced_table(const std::string& label) {
  toml::table holder = toml::parse("table = {}", label);
  return std::move(*holder.get_as<toml::table>("table"));
}

toml::source_region region_named(const std::string& label) {
  toml::source_region region;
  region.begin = {1, 1};
  region.end = {1, 1};
  region.path = std::make_shared<const std::string>(label);
  return region;
}

// "a string", "an integer", ...: what a node is, for messages.
std::string kind_of(const toml::node& node) {
  switch (node.type()) {
  case toml::node_type::table: return "a table";
  case toml::node_type::array: return "a list";
  case toml::node_type::string: return "a string";
  case toml::node_type::integer: return "an integer";
  case toml::node_type::floating_point: return "a number";
  case toml::node_type::boolean: return "a boolean";
  default: return "a date or time";
  }
}

SourceLocation location_in(const toml::node& node, const std::filesystem::path& file) {
  return {file.string(), static_cast<int>(node.source().begin.line), static_cast<int>(node.source().begin.column)};
}

} // namespace

std::vector<Diagnostic> PipelineOverrides::apply(toml::table& document, const std::filesystem::path& file) {
  std::vector<Diagnostic> problems;
  origins_.clear();
  for (const auto& text : texts_) {
    const std::string label = "--set " + text;
    auto fail = [&](const std::string& message) { problems.push_back({{label, 0, 0}, message}); };
    const auto assignment = find_assignment(text);
    if (!assignment) {
      fail("expected KEY=VALUE, such as train.epochs=1");
      continue;
    }
    std::string problem;
    const auto path = parse_key_path(trimmed(std::string_view(text).substr(0, *assignment)), problem);
    if (path.empty()) {
      fail(problem.empty() ? "the key is empty" : problem);
      continue;
    }
    toml::table parsed = parse_value(trimmed(std::string_view(text).substr(*assignment + 1)), label);
    toml::node& value = *parsed.get("value");

    Origin origin{label, {}};
    toml::table* table = &document;
    std::string walked; // the key path so far, for messages
    bool failed = false;
    for (std::size_t i = 0; i < path.size() && !failed; ++i) {
      const KeySegment& segment = path[i];
      const bool last = i + 1 == path.size();
      walked += (walked.empty() ? "" : ".") + segment.name;
      toml::node* node = table->get(segment.name);
      if (!segment.index) {
        if (last) {
          if (node != nullptr) origin.replaced = location_in(*node, file);
          table->insert_or_assign(toml::key(segment.name, region_named(label)), std::move(value));
        } else if (node == nullptr) {
          auto inserted = table->insert_or_assign(toml::key(segment.name, region_named(label)), sourced_table(label));
          table = inserted.first->second.as_table();
        } else if (auto* inner = node->as_table()) {
          table = inner;
        } else {
          fail(walked + " is " + kind_of(*node) + " in " + file.string() + ", not a table, so it has no key '" + path[i + 1].name + "'");
          failed = true;
        }
        continue;
      }
      const std::size_t index = *segment.index;
      toml::array* steps = node == nullptr ? nullptr : node->as_array();
      if (node != nullptr && (steps == nullptr || !steps->is_array_of_tables())) {
        fail(walked + " is " + kind_of(*node) + ", not a list of [[" + segment.name + "]] tables, so [" + std::to_string(index) +
             "] picks nothing");
        failed = true;
        continue;
      }
      const std::size_t count = steps == nullptr ? 0 : steps->size();
      if (index > count + 1) {
        fail(walked + "[" + std::to_string(index) + "]: the pipeline has " + std::to_string(count) + " [[" + segment.name +
             "]] table" + (count == 1 ? "" : "s") + "; use 1.." + std::to_string(count) + " to change one or " +
             std::to_string(count + 1) + " to add one");
        failed = true;
        continue;
      }
      if (steps == nullptr) {
        auto inserted = table->insert_or_assign(toml::key(segment.name, region_named(label)), toml::array{});
        steps = inserted.first->second.as_array();
      }
      if (index == count + 1) steps->push_back(sourced_table(label));
      toml::node& step = *steps->get(index - 1);
      walked += "[" + std::to_string(index) + "]";
      if (last) {
        if (index <= count) origin.replaced = location_in(step, file);
        steps->replace(steps->cbegin() + static_cast<std::ptrdiff_t>(index - 1), std::move(value));
      } else {
        table = step.as_table();
      }
    }
    if (!failed) origins_.push_back(std::move(origin));
  }
  return problems;
}

const PipelineOverrides::Origin* PipelineOverrides::origin_of(const SourceLocation& where) const {
  for (const auto& origin : origins_)
    if (origin.label == where.file) return &origin;
  return nullptr;
}

void PipelineOverrides::relocate(SourceLocation& where) const {
  if (origin_of(where) != nullptr) where = {where.file, 0, 0};
}

void PipelineOverrides::relocate(std::vector<Diagnostic>& diagnostics) const {
  for (auto& diagnostic : diagnostics) {
    const Origin* origin = origin_of(diagnostic.where);
    if (origin == nullptr) continue;
    diagnostic.where = {origin->label, 0, 0};
    if (!origin->replaced.file.empty())
      diagnostic.message += " (the override replaced the value at " + format_location(origin->replaced) + ")";
  }
}

void PipelineOverrides::relocate(PipelineConfig& config) const {
  auto relocate_stage = [&](StageConfig& stage) {
    relocate(stage.where);
    for (auto& [key, where] : stage.key_locations) relocate(where);
  };
  relocate_stage(config.reader);
  for (auto& stage : config.preprocess) relocate_stage(stage);
  for (auto& chain : config.chains) {
    relocate(chain.where);
    for (auto& stage : chain.preprocess) relocate_stage(stage);
    relocate_stage(chain.model);
    relocate_stage(chain.aggregate);
  }
  if (config.route) relocate_stage(config.route->router);
  relocate_stage(config.aggregate);
  if (config.explain) relocate_stage(*config.explain);
}

} // namespace radpipe::host
