#include "row_filter.hpp"

#include <gtest/gtest.h>

#include <map>

namespace radpipe::readers {
namespace {

// Evaluates `filter` on a row given as field -> value.
bool passes(const std::string& text, const std::map<std::string, std::string>& row) {
  const RowFilter filter(text);
  return filter.matches(
      [&](std::size_t field) -> std::string_view { return row.at(filter.fields()[field]); });
}

// The character a syntax error points at, and its message.
std::pair<std::size_t, std::string> syntax_error(const std::string& text) {
  try {
    RowFilter filter(text);
  } catch (const FilterSyntaxError& error) {
    return {error.character(), error.what()};
  }
  ADD_FAILURE() << "'" << text << "' parsed";
  return {0, ""};
}

TEST(RowFilter, ComparesAsText) {
  EXPECT_TRUE(passes(R"(split == "train")", {{"split", "train"}}));
  EXPECT_FALSE(passes(R"(split == "train")", {{"split", "valid"}}));
  EXPECT_TRUE(passes("split != 'train'", {{"split", "valid"}}));
  EXPECT_TRUE(passes("fold == 3", {{"fold", "3"}}));
  EXPECT_FALSE(passes("fold == 3", {{"fold", "3.0"}})); // text, not numbers
}

TEST(RowFilter, InAndNotIn) {
  const std::string in = R"(body_part in ["hand", "leg",])";
  EXPECT_TRUE(passes(in, {{"body_part", "leg"}}));
  EXPECT_FALSE(passes(in, {{"body_part", "hip"}}));
  const std::string not_in = R"(body_part not in ["hand", "leg"])";
  EXPECT_TRUE(passes(not_in, {{"body_part", "hip"}}));
  EXPECT_FALSE(passes(not_in, {{"body_part", "hand"}}));
}

TEST(RowFilter, AndBindsTighterThanOr) {
  // a or b and c == a or (b and c): with a true and c false the row passes only under that reading.
  const std::string text = R"(a == "1" or b == "1" and c == "1")";
  EXPECT_TRUE(passes(text, {{"a", "1"}, {"b", "0"}, {"c", "0"}}));
  EXPECT_FALSE(passes(text, {{"a", "0"}, {"b", "1"}, {"c", "0"}}));
  // Parentheses change it: (a or b) and c is false when c is.
  EXPECT_FALSE(passes(R"((a == "1" or b == "1") and c == "1")", {{"a", "1"}, {"b", "0"}, {"c", "0"}}));
  EXPECT_TRUE(passes(R"(not (a == "1") and not b == "1")", {{"a", "0"}, {"b", "0"}}));
}

TEST(RowFilter, ListsEachFieldOnceWithItsFirstCharacter) {
  const RowFilter filter(R"(split == "train" and body_part in ["hand"] or split == "valid")");
  EXPECT_EQ(filter.fields(), (std::vector<std::string>{"split", "body_part"}));
  EXPECT_EQ(filter.field_character(0), 1u);
  EXPECT_EQ(filter.field_character(1), 22u); // 'split == "train" and ' is 21 characters
}

TEST(RowFilter, SyntaxErrorsPointAtTheCharacter) {
  // Characters counted by hand, 1-based.
  EXPECT_EQ(syntax_error("split = 'train'").first, 7u);
  EXPECT_NE(syntax_error("split = 'train'").second.find("'=='"), std::string::npos);
  EXPECT_EQ(syntax_error("split == train").first, 10u); // a bare word is a field name, not a value
  EXPECT_NE(syntax_error("split == train").second.find("expected a value in quotes"), std::string::npos);
  EXPECT_EQ(syntax_error("split == 'train").first, 10u);
  EXPECT_NE(syntax_error("split == 'train").second.find("never closed"), std::string::npos);
  EXPECT_EQ(syntax_error("body_part in 'hand'").first, 14u);
  EXPECT_EQ(syntax_error("body_part in []").first, 15u);
  EXPECT_EQ(syntax_error("(split == 'a'").first, 14u); // the end
  EXPECT_NE(syntax_error("(split == 'a'").second.find("to close the '(' at character 1"), std::string::npos);
  EXPECT_EQ(syntax_error("split == 'a' split == 'b'").first, 14u);
  EXPECT_EQ(syntax_error("split 'a'").first, 7u);
  EXPECT_EQ(syntax_error("split == 'a' and").first, 17u);
  EXPECT_EQ(syntax_error("a not 'x'").first, 7u);
  EXPECT_EQ(syntax_error("   ").first, 1u);
  EXPECT_EQ(syntax_error("a == 'x' & b == 'y'").first, 10u);
}

} // namespace
} // namespace radpipe::readers
