// radpipe SDK: parameters are data. Every stage declares its parameters once, as a Schema; the
// host validates pipeline files against it (reporting file:line:col), `radpipe inspect` prints
// it, and the factory receives the validated values with every default filled in. The schema's
// default is the only default: stages never hard-code a fallback of their own.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace radpipe {

enum class ParamType { Bool, Int, Float, String, Path, IntList, FloatList, StringList };

// "bool", "int", "float", "string", "path", "int[]", "float[]", "string[]".
std::string_view to_string(ParamType type);

// Paths are stored as strings, already resolved against the pipeline file's folder.
using ParamValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>,
                                std::vector<double>, std::vector<std::string>>;

// Renders a value as it would be written in TOML: 3, 0.5, "text", [320, 320].
std::string to_toml(const ParamValue& value);

// One declared parameter. Build it with the named constructors and chain the refinements:
//   ParamSpec::integer("depth", "DenseNet depth").with_default(121).one_of({"121", "169", "201"})
struct ParamSpec {
  std::string name;
  ParamType type = ParamType::String;
  std::string doc;
  std::optional<ParamValue> default_value; // absent and not `optional`: the key is required
  bool is_optional = false;                // may be omitted, and then has no value at all
  std::optional<double> minimum;           // numbers and each element of number lists
  std::optional<double> maximum;
  std::vector<std::string> choices;        // allowed values, compared as written (to_toml without quotes)
  std::optional<std::size_t> min_items;    // list length bounds
  std::optional<std::size_t> max_items;
  bool path_must_exist = false;

  static ParamSpec boolean(std::string name, std::string doc);
  static ParamSpec integer(std::string name, std::string doc);
  static ParamSpec real(std::string name, std::string doc);
  static ParamSpec string(std::string name, std::string doc);
  static ParamSpec path(std::string name, std::string doc);
  static ParamSpec integers(std::string name, std::string doc);
  static ParamSpec reals(std::string name, std::string doc);
  static ParamSpec strings(std::string name, std::string doc);

  ParamSpec& with_default(ParamValue value);
  ParamSpec& with_default(bool value) { return with_default(ParamValue{value}); }
  ParamSpec& with_default(int value) { return with_default(ParamValue{std::int64_t{value}}); }
  ParamSpec& with_default(double value) { return with_default(ParamValue{value}); }
  ParamSpec& with_default(const char* value) { return with_default(ParamValue{std::string{value}}); }
  ParamSpec& optional();
  ParamSpec& at_least(double value);
  ParamSpec& at_most(double value);
  ParamSpec& in_range(double low, double high);
  ParamSpec& one_of(std::vector<std::string> allowed);
  ParamSpec& items(std::size_t low, std::size_t high);
  ParamSpec& existing();

  bool required() const { return !default_value && !is_optional; }

  // Empty when `value` satisfies this spec's type, range, choices and length; otherwise a
  // sentence saying what is wrong, without the key name (the caller adds where it happened).
  // A whole number is accepted where a float is expected, and converted.
  std::string check(ParamValue& value) const;
};

class Schema {
public:
  Schema() = default;
  Schema(std::initializer_list<ParamSpec> specs);

  Schema& add(ParamSpec spec);
  const std::vector<ParamSpec>& specs() const { return specs_; }
  const ParamSpec* find(std::string_view name) const;

private:
  std::vector<ParamSpec> specs_;
};

// Validated parameter values handed to a stage factory, defaults already applied.
class Params {
public:
  Params() = default;

  void set(std::string name, ParamValue value);
  bool has(std::string_view name) const;
  const std::map<std::string, ParamValue, std::less<>>& values() const { return values_; }

  // Typed accessors; each throws StageError naming the key when it is absent or of another type.
  bool boolean(std::string_view name) const;
  std::int64_t integer(std::string_view name) const;
  double real(std::string_view name) const; // accepts an integer value too
  const std::string& string(std::string_view name) const;
  std::filesystem::path path(std::string_view name) const;
  const std::vector<std::int64_t>& integers(std::string_view name) const;
  std::vector<double> reals(std::string_view name) const; // accepts integer lists too
  const std::vector<std::string>& strings(std::string_view name) const;

private:
  const ParamValue& at(std::string_view name) const;
  std::map<std::string, ParamValue, std::less<>> values_;
};

// Applies a schema to values given in code, as the host does for pipeline files: checks each
// value, fills in defaults, rejects unknown keys and reports missing required ones. Throws
// StageError naming the key at fault. For stages built by programs and tests, not from TOML.
Params resolve_params(const Schema& schema, std::map<std::string, ParamValue> values);

} // namespace radpipe
