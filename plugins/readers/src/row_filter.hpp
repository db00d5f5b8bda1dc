// Row filters of the CSV reader: `split == "train"`, `body_part in ["hand", "leg"]`,
// `label != "1" and not (site == "b" or site == "c")`. Values are compared as text.
#pragma once

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace radpipe::readers {

// A filter that does not parse: what is wrong, at which character (1-based) of the text.
class FilterSyntaxError : public std::runtime_error {
 public:
  FilterSyntaxError(std::size_t character, const std::string& message)
      : std::runtime_error(message), character_(character) {}
  std::size_t character() const noexcept { return character_; }

 private:
  std::size_t character_;
};

// Grammar (keywords lower-case):
//   expression := conjunction ("or" conjunction)*
//   conjunction := negation ("and" negation)*
//   negation := "not" negation | "(" expression ")" | FIELD test
//   test := ("==" | "!=") VALUE | ["not"] "in" "[" VALUE ("," VALUE)* "]"
//   VALUE := "text" | 'text' | a bare number such as 3 or 0.5
// FIELD is a name of letters, digits, '_', '.' and '-', starting with a letter or '_'.
class RowFilter {
 public:
  // Throws FilterSyntaxError.
  explicit RowFilter(std::string_view text);

  // The fields the filter reads, each once, in order of first use; with the character at which
  // each is first named, for errors about unknown fields.
  const std::vector<std::string>& fields() const { return fields_; }
  std::size_t field_character(std::size_t field) const { return field_characters_[field]; }

  // Whether a row passes; `value_of(i)` is the row's value of fields()[i].
  bool matches(const std::function<std::string_view(std::size_t field)>& value_of) const;

 private:
  enum class Op { Equal, NotEqual, In, NotIn, And, Or, Not };
  struct Node {
    Op op;
    std::size_t field = 0;           // comparisons
    std::vector<std::string> values; // comparisons: one value, or the list
    std::size_t left = 0, right = 0; // And, Or (both), Not (left)
  };
  class Parser;

  bool evaluate(std::size_t node, const std::function<std::string_view(std::size_t)>& value_of) const;

  std::vector<Node> nodes_; // children before parents; the root is last
  std::vector<std::string> fields_;
  std::vector<std::size_t> field_characters_;
};

} // namespace radpipe::readers
