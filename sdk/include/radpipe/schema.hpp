/// @file
/// @brief Parameters are data: ParamSpec, Schema, Params.
///
/// Every stage declares its parameters once, as a Schema; the host validates pipeline files
/// against it (reporting file:line:col), `radpipe inspect` prints it, docs/stages.md is generated
/// from it, and the factory receives the validated values with every default filled in. The
/// schema's default is the only default: stages never hard-code a fallback of their own.
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

/// The type of a parameter, as pipeline files write it.
enum class ParamType {
  Bool,      ///< `true` or `false`
  Int,       ///< a whole number
  Float,     ///< a number (a whole number is accepted and converted)
  String,    ///< text
  Path,      ///< a file or folder, resolved against the pipeline file's folder
  IntList,   ///< `[1, 2]`
  FloatList, ///< `[0.5, 1]`
  StringList ///< `["a", "b"]`
};

/// "bool", "int", "float", "string", "path", "int[]", "float[]", "string[]".
std::string_view to_string(ParamType type);

/// A parameter's value. Paths are stored as strings, already resolved against the pipeline
/// file's folder.
using ParamValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>,
                                std::vector<double>, std::vector<std::string>>;

/// Renders a value as it would be written in TOML: 3, 0.5, "text", [320, 320].
std::string to_toml(const ParamValue& value);

/// One declared parameter. Build it with the named constructors and chain the refinements:
/// @code
/// ParamSpec::integer("depth", "DenseNet depth").with_default(121).one_of({"121", "169", "201"})
/// @endcode
struct ParamSpec {
  std::string name;                        ///< The key in the stage's table.
  ParamType type = ParamType::String;      ///< What the value must be.
  std::string doc;                         ///< One line for `radpipe inspect` and docs/stages.md.
  std::optional<ParamValue> default_value; ///< Absent and not `is_optional`: the key is required.
  bool is_optional = false;                ///< May be omitted, and then has no value at all.
  std::optional<double> minimum;           ///< Lower bound of numbers and of each element of number lists.
  std::optional<double> maximum;           ///< Upper bound of numbers and of each element of number lists.
  std::vector<std::string> choices;        ///< Allowed values, compared as written (to_toml without quotes).
  std::optional<std::size_t> min_items;    ///< Shortest list allowed.
  std::optional<std::size_t> max_items;    ///< Longest list allowed.
  bool path_must_exist = false;            ///< A path that must name an existing file or folder.

  /// A `bool` parameter called `name`, documented by `doc`.
  static ParamSpec boolean(std::string name, std::string doc);
  /// An `int` parameter.
  static ParamSpec integer(std::string name, std::string doc);
  /// A `float` parameter.
  static ParamSpec real(std::string name, std::string doc);
  /// A `string` parameter.
  static ParamSpec string(std::string name, std::string doc);
  /// A `path` parameter, resolved against the pipeline file's folder.
  static ParamSpec path(std::string name, std::string doc);
  /// An `int[]` parameter.
  static ParamSpec integers(std::string name, std::string doc);
  /// A `float[]` parameter.
  static ParamSpec reals(std::string name, std::string doc);
  /// A `string[]` parameter.
  static ParamSpec strings(std::string name, std::string doc);

  /// The value used when a pipeline omits the key; the only default there is.
  ParamSpec& with_default(ParamValue value);
  /// @copydoc with_default(ParamValue)
  ParamSpec& with_default(bool value) { return with_default(ParamValue{value}); }
  /// @copydoc with_default(ParamValue)
  ParamSpec& with_default(int value) { return with_default(ParamValue{std::int64_t{value}}); }
  /// @copydoc with_default(ParamValue)
  ParamSpec& with_default(double value) { return with_default(ParamValue{value}); }
  /// @copydoc with_default(ParamValue)
  ParamSpec& with_default(const char* value) { return with_default(ParamValue{std::string{value}}); }
  /// The key may be omitted and then has no value (Params::has is false).
  ParamSpec& optional();
  /// Numbers (and list elements) must be at least `value`.
  ParamSpec& at_least(double value);
  /// Numbers (and list elements) must be at most `value`.
  ParamSpec& at_most(double value);
  /// Numbers (and list elements) must lie in [low, high].
  ParamSpec& in_range(double low, double high);
  /// The value must be one of `allowed`, as written in TOML without quotes.
  ParamSpec& one_of(std::vector<std::string> allowed);
  /// Lists must have between `low` and `high` elements.
  ParamSpec& items(std::size_t low, std::size_t high);
  /// A path must name an existing file or folder.
  ParamSpec& existing();

  /// Whether a pipeline must set the key.
  bool required() const { return !default_value && !is_optional; }

  /// Empty when `value` satisfies this spec's type, range, choices and length; otherwise a
  /// sentence saying what is wrong, without the key name (the caller adds where it happened).
  /// A whole number is accepted where a float is expected, and converted.
  std::string check(ParamValue& value) const;
};

/// Every parameter of a stage, in the order `radpipe inspect` shows them.
class Schema {
public:
  /// No parameters.
  Schema() = default;
  /// The parameters `specs`, in order.
  Schema(std::initializer_list<ParamSpec> specs);

  /// Appends a parameter.
  Schema& add(ParamSpec spec);
  /// The parameters, in order.
  const std::vector<ParamSpec>& specs() const { return specs_; }
  /// The parameter called `name`, or nullptr.
  const ParamSpec* find(std::string_view name) const;

private:
  std::vector<ParamSpec> specs_;
};

/// Validated parameter values handed to a stage factory, defaults already applied.
class Params {
public:
  /// No values.
  Params() = default;

  /// Sets (or replaces) the value of `name`.
  void set(std::string name, ParamValue value);
  /// Whether `name` has a value (false for an omitted optional parameter).
  bool has(std::string_view name) const;
  /// Every value, by name.
  const std::map<std::string, ParamValue, std::less<>>& values() const { return values_; }

  /// @name Typed accessors
  /// Each throws StageError naming the key when it is absent or of another type.
  /// @{
  bool boolean(std::string_view name) const;                         ///< A `bool` value.
  std::int64_t integer(std::string_view name) const;                 ///< An `int` value.
  double real(std::string_view name) const;                          ///< A `float` value; accepts an `int` too.
  const std::string& string(std::string_view name) const;            ///< A `string` value.
  std::filesystem::path path(std::string_view name) const;           ///< A `path` value, already resolved.
  const std::vector<std::int64_t>& integers(std::string_view name) const; ///< An `int[]` value.
  std::vector<double> reals(std::string_view name) const;            ///< A `float[]` value; accepts an `int[]` too.
  const std::vector<std::string>& strings(std::string_view name) const;   ///< A `string[]` value.
  /// @}

private:
  const ParamValue& at(std::string_view name) const;
  std::map<std::string, ParamValue, std::less<>> values_;
};

/// Applies a schema to values given in code, as the host does for pipeline files: checks each
/// value, fills in defaults, rejects unknown keys and reports missing required ones. Throws
/// StageError naming the key at fault. For stages built by programs and tests (a stage's unit
/// test builds it this way), not from TOML.
Params resolve_params(const Schema& schema, std::map<std::string, ParamValue> values);

} // namespace radpipe
