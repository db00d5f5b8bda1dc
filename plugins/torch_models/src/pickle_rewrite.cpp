#include "pickle_rewrite.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

namespace radpipe::torch_models {
namespace {

// Python's pickle opcodes (see its pickletools module), those this rewrite reads or writes.
namespace op {
constexpr std::uint8_t mark = '(';
constexpr std::uint8_t stop = '.';
constexpr std::uint8_t none = 'N';
constexpr std::uint8_t newtrue = 0x88;
constexpr std::uint8_t newfalse = 0x89;
constexpr std::uint8_t binint = 'J';
constexpr std::uint8_t binint1 = 'K';
constexpr std::uint8_t binint2 = 'M';
constexpr std::uint8_t long1 = 0x8a;
constexpr std::uint8_t binunicode = 'X';
constexpr std::uint8_t binfloat = 'G';
constexpr std::uint8_t empty_list = ']';
constexpr std::uint8_t empty_tuple = ')';
constexpr std::uint8_t empty_dict = '}';
constexpr std::uint8_t list = 'l';
constexpr std::uint8_t tuple = 't';
constexpr std::uint8_t dict = 'd';
constexpr std::uint8_t tuple1 = 0x85;
constexpr std::uint8_t tuple2 = 0x86;
constexpr std::uint8_t tuple3 = 0x87;
constexpr std::uint8_t append = 'a';
constexpr std::uint8_t appends = 'e';
constexpr std::uint8_t setitem = 's';
constexpr std::uint8_t setitems = 'u';
constexpr std::uint8_t global = 'c';
constexpr std::uint8_t reduce = 'R';
constexpr std::uint8_t build = 'b';
constexpr std::uint8_t newobj = 0x81;
constexpr std::uint8_t binpersid = 'Q';
constexpr std::uint8_t binput = 'q';
constexpr std::uint8_t long_binput = 'r';
constexpr std::uint8_t binget = 'h';
constexpr std::uint8_t long_binget = 'j';
constexpr std::uint8_t proto = 0x80;
} // namespace op

std::uint64_t little_endian(std::string_view bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = bytes.size(); i-- > 0;) value = (value << 8) | static_cast<std::uint8_t>(bytes[i]);
  return value;
}

std::string opcode_text(std::uint8_t code) {
  char text[32];
  if (code >= 0x20 && code < 0x7f)
    std::snprintf(text, sizeof text, "'%c' (0x%02x)", code, code);
  else
    std::snprintf(text, sizeof text, "0x%02x", code);
  return text;
}

class Rewriter {
public:
  explicit Rewriter(std::string_view in) : in_(in) { out_.reserve(in.size() + 64); }

  std::string run() {
    while (true) {
      if (pos_ >= in_.size()) throw std::runtime_error("the pickle data ends without a STOP instruction");
      const std::size_t start = out_.size();
      const std::uint8_t code = byte();
      if (pending_ != Pending::Nothing) {
        finish_ordered_dict(code, start);
        continue;
      }
      switch (code) {
      case op::stop: out_.push_back(static_cast<char>(code)); return std::move(out_);
      case op::proto: copy(code, take(1)); break;
      case op::binput: copy(code, take(1)); break;
      case op::long_binput: copy(code, take(4)); break;
      case op::binget:
      case op::long_binget: {
        const std::string_view id = take(code == op::binget ? 1 : 4);
        if (ordered_dict_memo_.contains(little_endian(id))) {
          pending_ = Pending::Class;
          break;
        }
        push_copy(code, id, start);
        break;
      }
      case op::global: {
        const std::string_view module = take_line();
        const std::string_view name = take_line();
        if (module == "collections\n" && name == "OrderedDict\n") {
          pending_ = Pending::Class;
          break;
        }
        push_copy(code, in_.substr(pos_ - module.size() - name.size(), module.size() + name.size()), start);
        break;
      }
      case op::none: case op::newtrue: case op::newfalse: case op::empty_list: case op::empty_tuple: case op::empty_dict:
        push_copy(code, {}, start);
        break;
      case op::binint1: push_copy(code, take(1), start); break;
      case op::binint2: push_copy(code, take(2), start); break;
      case op::binint: push_copy(code, take(4), start); break;
      case op::binfloat: push_copy(code, take(8), start); break;
      case op::binunicode: {
        const std::string_view length = take(4);
        const std::string_view text = take(little_endian(length));
        push_copy(code, in_.substr(pos_ - 4 - text.size(), 4 + text.size()), start);
        break;
      }
      case op::long1: widen_long1(start); break;
      case op::mark:
        marks_.emplace_back(stack_.size(), start);
        out_.push_back(static_cast<char>(code));
        break;
      case op::tuple: case op::list: case op::dict:
        stack_.push_back(pop_to_mark());
        out_.push_back(static_cast<char>(code));
        break;
      case op::appends: case op::setitems:
        pop_to_mark();
        out_.push_back(static_cast<char>(code));
        break;
      case op::tuple1: pop_push(code, 1); break;
      case op::tuple2: pop_push(code, 2); break;
      case op::tuple3: pop_push(code, 3); break;
      case op::reduce: pop_push(code, 2); break;
      case op::newobj: pop_push(code, 2); break;
      case op::binpersid: pop_push(code, 1); break;
      case op::setitem: // dict key value SETITEM -> dict MARK key value SETITEMS
        require(3, code);
        insert(stack_[stack_.size() - 2], std::string(1, static_cast<char>(op::mark)));
        out_.push_back(static_cast<char>(op::setitems));
        stack_.resize(stack_.size() - 2);
        break;
      case op::append: // list value APPEND -> list MARK value APPENDS
        require(2, code);
        insert(stack_.back(), std::string(1, static_cast<char>(op::mark)));
        out_.push_back(static_cast<char>(op::appends));
        stack_.pop_back();
        break;
      case op::build: { // obj state BUILD -> obj MARK "__state__" state SETITEMS
        require(2, code);
        static constexpr std::string_view key = "__state__";
        std::string prefix{static_cast<char>(op::mark), static_cast<char>(op::binunicode)};
        for (int shift = 0; shift < 32; shift += 8) prefix.push_back(static_cast<char>((key.size() >> shift) & 0xff));
        prefix.append(key);
        insert(stack_.back(), prefix);
        out_.push_back(static_cast<char>(op::setitems));
        stack_.pop_back();
        break;
      }
      default:
        throw std::runtime_error("the pickle uses instruction " + opcode_text(code) + " at byte " +
                                 std::to_string(pos_ - 1) + ", which LibTorch's unpickler does not read");
      }
    }
  }

private:
  enum class Pending { Nothing, Class, Arguments };

  std::uint8_t byte() { return static_cast<std::uint8_t>(take(1)[0]); }

  std::string_view take(std::size_t count) {
    if (count > in_.size() - pos_) throw std::runtime_error("the pickle data ends in the middle of an instruction");
    const std::string_view bytes = in_.substr(pos_, count);
    pos_ += count;
    return bytes;
  }

  std::string_view take_line() {
    const std::size_t end = in_.find('\n', pos_);
    if (end == std::string_view::npos) throw std::runtime_error("the pickle data ends in the middle of an instruction");
    return take(end + 1 - pos_);
  }

  void copy(std::uint8_t code, std::string_view argument) {
    out_.push_back(static_cast<char>(code));
    out_.append(argument);
  }

  void push_copy(std::uint8_t code, std::string_view argument, std::size_t start) {
    copy(code, argument);
    stack_.push_back(start);
  }

  void require(std::size_t count, std::uint8_t code) const {
    const std::size_t floor = marks_.empty() ? 0 : marks_.back().first;
    if (stack_.size() < floor + count)
      throw std::runtime_error("malformed pickle: instruction " + opcode_text(code) + " finds too few operands");
  }

  // Pops to the last MARK; the collapsed item begins where the MARK was written.
  std::size_t pop_to_mark() {
    if (marks_.empty()) throw std::runtime_error("malformed pickle: a collection without MARK");
    const auto [depth, offset] = marks_.back();
    marks_.pop_back();
    if (stack_.size() < depth) throw std::runtime_error("malformed pickle: MARK below the stack");
    stack_.resize(depth);
    return offset;
  }

  void pop_push(std::uint8_t code, std::size_t count) {
    require(count, code);
    const std::size_t start = stack_[stack_.size() - count];
    stack_.resize(stack_.size() - count);
    stack_.push_back(start);
    out_.push_back(static_cast<char>(code));
  }

  // Inserts bytes before the instructions of a stack item. Only the items above it (its fellow
  // operands) begin later, and they are consumed by the instruction being rewritten.
  void insert(std::size_t offset, const std::string& bytes) {
    // Spliced by hand: GCC 12 at -O3 reports a false -Wrestrict overlap on std::string::insert
    // inlined here (GCC bug 105329), which -Werror turns into a build failure in Release.
    std::string spliced;
    spliced.reserve(out_.size() + bytes.size());
    spliced.append(out_, 0, offset).append(bytes).append(out_, offset);
    out_ = std::move(spliced);
    for (auto& start : stack_)
      if (start >= offset) start += bytes.size();
    for (auto& mark : marks_)
      if (mark.second >= offset) mark.second += bytes.size();
  }

  // LibTorch reads LONG1 only with 8 bytes; Python writes as few as the number needs.
  void widen_long1(std::size_t start) {
    const std::size_t length = byte();
    const std::string_view bytes = take(length);
    if (length > 8) throw std::runtime_error("the pickle holds an integer wider than 64 bits");
    std::string wide(bytes);
    const bool negative = length > 0 && (static_cast<std::uint8_t>(bytes.back()) & 0x80);
    wide.resize(8, negative ? '\xff' : '\0');
    out_.push_back(static_cast<char>(op::long1));
    out_.push_back(8);
    out_.append(wide);
    stack_.push_back(start);
  }

  // After the OrderedDict class: its memo slot, the empty argument tuple, REDUCE.
  void finish_ordered_dict(std::uint8_t code, std::size_t start) {
    if (pending_ == Pending::Class && (code == op::binput || code == op::long_binput)) {
      ordered_dict_memo_.insert(little_endian(take(code == op::binput ? 1 : 4)));
      return;
    }
    if (pending_ == Pending::Class && code == op::empty_tuple) {
      pending_ = Pending::Arguments;
      return;
    }
    if (pending_ == Pending::Arguments && code == op::reduce) {
      push_copy(op::empty_dict, {}, start);
      pending_ = Pending::Nothing;
      return;
    }
    throw std::runtime_error("the pickle builds a collections.OrderedDict in a way this reader does not know (instruction " +
                             opcode_text(code) + ")");
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  std::string out_;
  std::vector<std::size_t> stack_;                         // where each stack item's instructions begin in out_
  std::vector<std::pair<std::size_t, std::size_t>> marks_; // stack depth and out_ offset of each open MARK
  std::set<std::uint64_t> ordered_dict_memo_;              // memo slots holding the OrderedDict class
  Pending pending_ = Pending::Nothing;
};

} // namespace

std::string normalise_torch_save_pickle(std::string_view pickle) { return Rewriter(pickle).run(); }

} // namespace radpipe::torch_models
