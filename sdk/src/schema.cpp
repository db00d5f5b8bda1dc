#include <radpipe/error.hpp>
#include <radpipe/schema.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace radpipe {
namespace {

std::string format_number(double value) {
  std::ostringstream out;
  out.precision(15);
  out << value;
  std::string text = out.str();
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

template <class T>
std::string join_list(const std::vector<T>& items, auto&& render) {
  std::string text = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) text += ", ";
    text += render(items[i]);
  }
  return text + "]";
}

std::string quoted(const std::string& text) { return '"' + text + '"'; }

// The value as compared against `choices`: like to_toml, but strings are bare.
std::string choice_text(const ParamValue& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  return to_toml(value);
}

// Bounds as a person writes them: 8, not 8.0.
std::string bound_text(double value) {
  if (std::floor(value) == value && std::abs(value) < 1e15) return std::to_string(static_cast<long long>(value));
  return format_number(value);
}

std::string range_text(const ParamSpec& spec) {
  if (spec.minimum && spec.maximum) return "between " + bound_text(*spec.minimum) + " and " + bound_text(*spec.maximum);
  if (spec.minimum) return "at least " + bound_text(*spec.minimum);
  return "at most " + bound_text(*spec.maximum);
}

bool within_bounds(const ParamSpec& spec, double value) {
  return !(spec.minimum && value < *spec.minimum) && !(spec.maximum && value > *spec.maximum);
}

std::string join_choices(const std::vector<std::string>& choices) {
  std::string text;
  for (std::size_t i = 0; i < choices.size(); ++i) text += (i ? ", " : "") + quoted(choices[i]);
  return text;
}

// Whole numbers are valid floats: `lr = 1` means 1.0.
void widen_integers(ParamType type, ParamValue& value) {
  if (type == ParamType::Float) {
    if (const auto* whole = std::get_if<std::int64_t>(&value)) value = static_cast<double>(*whole);
  } else if (type == ParamType::FloatList) {
    if (const auto* wholes = std::get_if<std::vector<std::int64_t>>(&value))
      value = std::vector<double>(wholes->begin(), wholes->end());
  }
}

bool holds_type(ParamType type, const ParamValue& value) {
  switch (type) {
  case ParamType::Bool: return std::holds_alternative<bool>(value);
  case ParamType::Int: return std::holds_alternative<std::int64_t>(value);
  case ParamType::Float: return std::holds_alternative<double>(value);
  case ParamType::String:
  case ParamType::Path: return std::holds_alternative<std::string>(value);
  case ParamType::IntList: return std::holds_alternative<std::vector<std::int64_t>>(value);
  case ParamType::FloatList: return std::holds_alternative<std::vector<double>>(value);
  case ParamType::StringList: return std::holds_alternative<std::vector<std::string>>(value);
  }
  return false;
}

std::string value_type_name(const ParamValue& value) {
  return std::visit(
      [](const auto& held) -> std::string {
        using T = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<T, bool>) return "a boolean";
        else if constexpr (std::is_same_v<T, std::int64_t>) return "an integer";
        else if constexpr (std::is_same_v<T, double>) return "a float";
        else if constexpr (std::is_same_v<T, std::string>) return "a string";
        else if constexpr (std::is_same_v<T, std::vector<std::int64_t>>) return "a list of integers";
        else if constexpr (std::is_same_v<T, std::vector<double>>) return "a list of floats";
        else return "a list of strings";
      },
      value);
}

std::string expected_type_name(ParamType type) {
  switch (type) {
  case ParamType::Bool: return "a boolean (true or false)";
  case ParamType::Int: return "an integer";
  case ParamType::Float: return "a number";
  case ParamType::String: return "a string";
  case ParamType::Path: return "a path string";
  case ParamType::IntList: return "a list of integers";
  case ParamType::FloatList: return "a list of numbers";
  case ParamType::StringList: return "a list of strings";
  }
  return "?";
}

} // namespace

std::string_view to_string(ParamType type) {
  switch (type) {
  case ParamType::Bool: return "bool";
  case ParamType::Int: return "int";
  case ParamType::Float: return "float";
  case ParamType::String: return "string";
  case ParamType::Path: return "path";
  case ParamType::IntList: return "int[]";
  case ParamType::FloatList: return "float[]";
  case ParamType::StringList: return "string[]";
  }
  return "?";
}

std::string to_toml(const ParamValue& value) {
  return std::visit(
      [](const auto& held) -> std::string {
        using T = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<T, bool>) return held ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::int64_t>) return std::to_string(held);
        else if constexpr (std::is_same_v<T, double>) return format_number(held);
        else if constexpr (std::is_same_v<T, std::string>) return quoted(held);
        else if constexpr (std::is_same_v<T, std::vector<std::int64_t>>)
          return join_list(held, [](std::int64_t item) { return std::to_string(item); });
        else if constexpr (std::is_same_v<T, std::vector<double>>) return join_list(held, format_number);
        else return join_list(held, quoted);
      },
      value);
}

namespace {
ParamSpec make_spec(std::string name, ParamType type, std::string doc) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = type;
  spec.doc = std::move(doc);
  return spec;
}
} // namespace

ParamSpec ParamSpec::boolean(std::string name, std::string doc) { return make_spec(std::move(name), ParamType::Bool, std::move(doc)); }
ParamSpec ParamSpec::integer(std::string name, std::string doc) { return make_spec(std::move(name), ParamType::Int, std::move(doc)); }
ParamSpec ParamSpec::real(std::string name, std::string doc) { return make_spec(std::move(name), ParamType::Float, std::move(doc)); }
ParamSpec ParamSpec::string(std::string name, std::string doc) { return make_spec(std::move(name), ParamType::String, std::move(doc)); }
ParamSpec ParamSpec::path(std::string name, std::string doc) { return make_spec(std::move(name), ParamType::Path, std::move(doc)); }
ParamSpec ParamSpec::integers(std::string name, std::string doc) { return make_spec(std::move(name), ParamType::IntList, std::move(doc)); }
ParamSpec ParamSpec::reals(std::string name, std::string doc) { return make_spec(std::move(name), ParamType::FloatList, std::move(doc)); }
ParamSpec ParamSpec::strings(std::string name, std::string doc) { return make_spec(std::move(name), ParamType::StringList, std::move(doc)); }

ParamSpec& ParamSpec::with_default(ParamValue value) {
  widen_integers(type, value);
  default_value = std::move(value);
  return *this;
}
ParamSpec& ParamSpec::optional() {
  is_optional = true;
  return *this;
}
ParamSpec& ParamSpec::at_least(double value) {
  minimum = value;
  return *this;
}
ParamSpec& ParamSpec::at_most(double value) {
  maximum = value;
  return *this;
}
ParamSpec& ParamSpec::in_range(double low, double high) {
  minimum = low;
  maximum = high;
  return *this;
}
ParamSpec& ParamSpec::one_of(std::vector<std::string> allowed) {
  choices = std::move(allowed);
  return *this;
}
ParamSpec& ParamSpec::items(std::size_t low, std::size_t high) {
  min_items = low;
  max_items = high;
  return *this;
}
ParamSpec& ParamSpec::existing() {
  path_must_exist = true;
  return *this;
}

std::string ParamSpec::check(ParamValue& value) const {
  widen_integers(type, value);
  if (!holds_type(type, value))
    return "expected " + expected_type_name(type) + ", got " + value_type_name(value);

  if (const auto* number = std::get_if<std::int64_t>(&value); number && !within_bounds(*this, double(*number)))
    return "value " + std::to_string(*number) + " is out of range: must be " + range_text(*this);
  if (const auto* number = std::get_if<double>(&value); number && (!std::isfinite(*number) || !within_bounds(*this, *number)))
    return "value " + format_number(*number) + " is out of range: must be " + range_text(*this);

  auto check_list = [&](const auto& list) -> std::string {
    if ((min_items && list.size() < *min_items) || (max_items && list.size() > *max_items)) {
      std::string bounds = min_items == max_items ? "exactly " + std::to_string(*min_items)
                           : max_items           ? std::to_string(min_items.value_or(0)) + " to " + std::to_string(*max_items)
                                                 : "at least " + std::to_string(*min_items);
      return "list has " + std::to_string(list.size()) + " items, expected " + bounds;
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      using Item = std::decay_t<decltype(list[i])>;
      if constexpr (!std::is_same_v<Item, std::string>) {
        if (!std::isfinite(double(list[i])) || !within_bounds(*this, double(list[i])))
          return "item " + std::to_string(i) + " (" + to_toml(ParamValue{list[i]}) + ") is out of range: must be " + range_text(*this);
      } else if (!choices.empty() && std::find(choices.begin(), choices.end(), list[i]) == choices.end()) {
        return "item " + std::to_string(i) + " (" + quoted(list[i]) + ") is not one of " + join_choices(choices);
      }
    }
    return {};
  };
  if (const auto* list = std::get_if<std::vector<std::int64_t>>(&value)) return check_list(*list);
  if (const auto* list = std::get_if<std::vector<double>>(&value)) return check_list(*list);
  if (const auto* list = std::get_if<std::vector<std::string>>(&value)) return check_list(*list);

  if (!choices.empty()) {
    const std::string written = choice_text(value);
    if (std::find(choices.begin(), choices.end(), written) == choices.end())
      return to_toml(value) + " is not one of " + join_choices(choices);
  }
  if (type == ParamType::Path && path_must_exist) {
    const auto& text = std::get<std::string>(value);
    std::error_code error;
    const auto status = std::filesystem::status(text, error);
    if (!std::filesystem::exists(status)) return "no such file or folder: " + text;
    // Reading a FIFO blocks until something writes to it; a device is no dataset either.
    if (!std::filesystem::is_regular_file(status) && !std::filesystem::is_directory(status))
      return text + " is " + (std::filesystem::is_fifo(status) ? std::string("a FIFO (named pipe)") : std::string("a device or socket")) +
             ", not a file or folder";
  }
  return {};
}

Schema::Schema(std::initializer_list<ParamSpec> specs) {
  for (const auto& spec : specs) add(spec);
}

Schema& Schema::add(ParamSpec spec) {
  if (find(spec.name) != nullptr) throw StageError(spec.name, "parameter declared twice in one schema");
  if (spec.default_value) {
    ParamValue value = *spec.default_value;
    if (spec.type != ParamType::Path || !spec.path_must_exist) {
      if (std::string problem = spec.check(value); !problem.empty())
        throw StageError(spec.name, "the schema's own default is invalid: " + problem);
    }
  }
  specs_.push_back(std::move(spec));
  return *this;
}

const ParamSpec* Schema::find(std::string_view name) const {
  for (const auto& spec : specs_)
    if (spec.name == name) return &spec;
  return nullptr;
}

void Params::set(std::string name, ParamValue value) { values_.insert_or_assign(std::move(name), std::move(value)); }

bool Params::has(std::string_view name) const { return values_.find(name) != values_.end(); }

const ParamValue& Params::at(std::string_view name) const {
  auto found = values_.find(name);
  if (found == values_.end()) throw StageError(std::string(name), "parameter has no value (not set and no default)");
  return found->second;
}

namespace {
template <class T>
const T& expect(const ParamValue& value, std::string_view name, std::string_view wanted) {
  if (const auto* held = std::get_if<T>(&value)) return *held;
  throw StageError(std::string(name), "parameter is " + value_type_name(value) + ", the stage asked for " + std::string(wanted));
}
} // namespace

bool Params::boolean(std::string_view name) const { return expect<bool>(at(name), name, "a boolean"); }
std::int64_t Params::integer(std::string_view name) const { return expect<std::int64_t>(at(name), name, "an integer"); }
double Params::real(std::string_view name) const {
  const ParamValue& value = at(name);
  if (const auto* whole = std::get_if<std::int64_t>(&value)) return static_cast<double>(*whole);
  return expect<double>(value, name, "a float");
}
const std::string& Params::string(std::string_view name) const { return expect<std::string>(at(name), name, "a string"); }
std::filesystem::path Params::path(std::string_view name) const { return expect<std::string>(at(name), name, "a path"); }
const std::vector<std::int64_t>& Params::integers(std::string_view name) const {
  return expect<std::vector<std::int64_t>>(at(name), name, "a list of integers");
}
std::vector<double> Params::reals(std::string_view name) const {
  const ParamValue& value = at(name);
  if (const auto* wholes = std::get_if<std::vector<std::int64_t>>(&value)) return {wholes->begin(), wholes->end()};
  return expect<std::vector<double>>(value, name, "a list of floats");
}
const std::vector<std::string>& Params::strings(std::string_view name) const {
  return expect<std::vector<std::string>>(at(name), name, "a list of strings");
}

Params resolve_params(const Schema& schema, std::map<std::string, ParamValue> values) {
  Params params;
  for (auto& [name, value] : values) {
    const ParamSpec* spec = schema.find(name);
    if (spec == nullptr) throw StageError(name, "unknown parameter");
    if (std::string problem = spec->check(value); !problem.empty()) throw StageError(name, problem);
    params.set(name, std::move(value));
  }
  for (const auto& spec : schema.specs()) {
    if (params.has(spec.name)) continue;
    if (spec.default_value) params.set(spec.name, *spec.default_value);
    else if (spec.required()) throw StageError(spec.name, "missing required parameter");
  }
  return params;
}

} // namespace radpipe
