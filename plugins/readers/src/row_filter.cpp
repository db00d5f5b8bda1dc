#include "row_filter.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

namespace radpipe::readers {
namespace {

enum class Token {
  Field,
  Value,
  Equal,
  NotEqual,
  And,
  Or,
  Not,
  In,
  Open,
  Close,
  OpenList,
  CloseList,
  Comma,
  End
};

struct Lexeme {
  Token token = Token::End;
  std::string text;          // field name or value
  std::size_t character = 0; // 1-based start
};

bool starts_field(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool continues_field(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}
bool starts_number(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.';
}
bool continues_number(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+';
}

std::string describe(const Lexeme& lexeme) {
  switch (lexeme.token) {
    case Token::End:
      return "the end of the filter";
    case Token::Value:
      return "the value \"" + lexeme.text + "\"";
    case Token::Field:
      return "'" + lexeme.text + "'";
    default:
      return "'" + lexeme.text + "'";
  }
}

std::vector<Lexeme> tokenize(std::string_view text) {
  std::vector<Lexeme> lexemes;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const std::size_t character = i + 1;
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    auto single = [&](Token token) {
      lexemes.push_back({token, std::string(1, c), character});
      ++i;
    };
    if (c == '(')
      single(Token::Open);
    else if (c == ')')
      single(Token::Close);
    else if (c == '[')
      single(Token::OpenList);
    else if (c == ']')
      single(Token::CloseList);
    else if (c == ',')
      single(Token::Comma);
    else if (c == '=' || c == '!') {
      if (i + 1 < text.size() && text[i + 1] == '=') {
        lexemes.push_back({c == '=' ? Token::Equal : Token::NotEqual, std::string(1, c) + "=", character});
        i += 2;
      } else if (c == '=') {
        throw FilterSyntaxError(character, "a single '=' is not a comparison; write '==' to compare");
      } else {
        throw FilterSyntaxError(character, "'!' stands alone; write '!=' to compare, or 'not' to negate");
      }
    } else if (c == '"' || c == '\'') {
      const std::size_t close = text.find(c, i + 1);
      if (close == std::string_view::npos)
        throw FilterSyntaxError(character,
                                std::string("the value starting here is never closed; add the missing ") + c);
      lexemes.push_back({Token::Value, std::string(text.substr(i + 1, close - i - 1)), character});
      i = close + 1;
    } else if (starts_field(c)) {
      std::size_t end = i;
      while (end < text.size() && continues_field(text[end])) ++end;
      std::string word(text.substr(i, end - i));
      Token token = Token::Field;
      if (word == "and")
        token = Token::And;
      else if (word == "or")
        token = Token::Or;
      else if (word == "not")
        token = Token::Not;
      else if (word == "in")
        token = Token::In;
      lexemes.push_back({token, std::move(word), character});
      i = end;
    } else if (starts_number(c)) {
      std::size_t end = i;
      while (end < text.size() && continues_number(text[end])) ++end;
      lexemes.push_back({Token::Value, std::string(text.substr(i, end - i)), character});
      i = end;
    } else {
      throw FilterSyntaxError(character, std::string("unexpected character '") + c +
                                             "'; a filter compares fields with ==, !=, in, not in, "
                                             "joined by and, or, not, with values in quotes");
    }
  }
  lexemes.push_back({Token::End, "", text.size() + 1});
  return lexemes;
}

} // namespace

class RowFilter::Parser {
 public:
  Parser(RowFilter& filter, std::string_view text) : filter_(filter), lexemes_(tokenize(text)) {}

  void parse() {
    if (peek().token == Token::End)
      throw FilterSyntaxError(1, "the filter is empty; write a condition such as split == \"train\"");
    expression();
    if (peek().token != Token::End) {
      const auto& extra = peek();
      throw FilterSyntaxError(extra.character,
                              "expected 'and', 'or' or the end of the filter, found " + describe(extra));
    }
  }

 private:
  const Lexeme& peek() const { return lexemes_[position_]; }
  const Lexeme& take() { return lexemes_[position_++]; }
  bool accept(Token token) {
    if (peek().token != token) return false;
    ++position_;
    return true;
  }

  std::size_t add(Node node) {
    filter_.nodes_.push_back(std::move(node));
    return filter_.nodes_.size() - 1;
  }

  std::size_t expression() {
    std::size_t left = conjunction();
    while (accept(Token::Or)) left = add({Op::Or, 0, {}, left, conjunction()});
    return left;
  }

  std::size_t conjunction() {
    std::size_t left = negation();
    while (accept(Token::And)) left = add({Op::And, 0, {}, left, negation()});
    return left;
  }

  std::size_t negation() {
    if (accept(Token::Not)) return add({Op::Not, 0, {}, negation(), 0});
    if (peek().token == Token::Open) {
      const std::size_t open = take().character;
      const std::size_t inner = expression();
      if (!accept(Token::Close))
        throw FilterSyntaxError(peek().character, "expected ')' to close the '(' at character " +
                                                      std::to_string(open) + ", found " + describe(peek()));
      return inner;
    }
    if (peek().token != Token::Field)
      throw FilterSyntaxError(peek().character,
                              "expected a field name, 'not' or '(', found " + describe(peek()));
    const Lexeme& field = take();
    Node node{Op::Equal, field_index(field), {}, 0, 0};
    const Lexeme& test = take();
    switch (test.token) {
      case Token::Equal:
      case Token::NotEqual:
        node.op = test.token == Token::Equal ? Op::Equal : Op::NotEqual;
        node.values.push_back(value_after("'" + test.text + "'"));
        break;
      case Token::Not:
        if (!accept(Token::In))
          throw FilterSyntaxError(peek().character, "expected 'in' after 'not', found " + describe(peek()));
        node.op = Op::NotIn;
        node.values = list();
        break;
      case Token::In:
        node.op = Op::In;
        node.values = list();
        break;
      default:
        throw FilterSyntaxError(test.character, "expected ==, !=, in or not in after the field '" +
                                                    field.text + "', found " + describe(test));
    }
    return add(std::move(node));
  }

  std::string value_after(const std::string& what) {
    if (peek().token != Token::Value)
      throw FilterSyntaxError(peek().character, "expected a value in quotes (such as \"train\") after " +
                                                    what + ", found " + describe(peek()));
    return take().text;
  }

  std::vector<std::string> list() {
    if (!accept(Token::OpenList))
      throw FilterSyntaxError(
          peek().character, "expected '[' to start the list of values after 'in', found " + describe(peek()));
    std::vector<std::string> values;
    if (peek().token == Token::CloseList)
      throw FilterSyntaxError(peek().character,
                              "the list is empty; name at least one value, as in [\"hand\"]");
    values.push_back(value_after("'['"));
    while (accept(Token::Comma)) {
      if (peek().token == Token::CloseList) break; // a trailing comma, as TOML allows
      values.push_back(value_after("','"));
    }
    if (!accept(Token::CloseList))
      throw FilterSyntaxError(peek().character,
                              "expected ',' or ']' in the list of values, found " + describe(peek()));
    std::sort(values.begin(), values.end());
    return values;
  }

  std::size_t field_index(const Lexeme& field) {
    auto found = std::find(filter_.fields_.begin(), filter_.fields_.end(), field.text);
    if (found != filter_.fields_.end()) return static_cast<std::size_t>(found - filter_.fields_.begin());
    filter_.fields_.push_back(field.text);
    filter_.field_characters_.push_back(field.character);
    return filter_.fields_.size() - 1;
  }

  RowFilter& filter_;
  std::vector<Lexeme> lexemes_;
  std::size_t position_ = 0;
};

RowFilter::RowFilter(std::string_view text) {
  Parser(*this, text).parse();
}

bool RowFilter::matches(const std::function<std::string_view(std::size_t)>& value_of) const {
  return evaluate(nodes_.size() - 1, value_of);
}

bool RowFilter::evaluate(std::size_t index,
                         const std::function<std::string_view(std::size_t)>& value_of) const {
  const Node& node = nodes_[index];
  switch (node.op) {
    case Op::Equal:
      return value_of(node.field) == node.values.front();
    case Op::NotEqual:
      return value_of(node.field) != node.values.front();
    case Op::In:
    case Op::NotIn: {
      const std::string_view value = value_of(node.field);
      const bool found = std::binary_search(node.values.begin(), node.values.end(), value, std::less<>{});
      return node.op == Op::In ? found : !found;
    }
    case Op::And:
      return evaluate(node.left, value_of) && evaluate(node.right, value_of);
    case Op::Or:
      return evaluate(node.left, value_of) || evaluate(node.right, value_of);
    case Op::Not:
      return !evaluate(node.left, value_of);
  }
  return false;
}

} // namespace radpipe::readers
