// Strict CBOR decoder and deterministic encoder; see cbor.h for the rules.

#include "confml/core/cbor.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace confml::cbor {

Value Value::Int(int64_t v) {
  if (v >= 0) return Uint(static_cast<uint64_t>(v));
  // -1 - n = v  =>  n = -1 - v, computed without overflow for INT64_MIN.
  return NegativeFromArgument(static_cast<uint64_t>(-(v + 1)));
}

Value Value::Uint(uint64_t v) {
  Value out;
  out.major_ = Major::kUnsigned;
  out.simple_ = 0;
  out.arg_ = v;
  return out;
}

Value Value::NegativeFromArgument(uint64_t n) {
  Value out;
  out.major_ = Major::kNegative;
  out.simple_ = 0;
  out.arg_ = n;
  return out;
}

Value Value::ByteString(ByteSpan b) { return ByteString(Bytes(b.begin(), b.end())); }

Value Value::ByteString(Bytes&& b) {
  Value out;
  out.major_ = Major::kBytes;
  out.simple_ = 0;
  out.bytes_ = std::move(b);
  out.arg_ = out.bytes_.size();
  return out;
}

Value Value::Text(std::string_view s) {
  Value out;
  out.major_ = Major::kText;
  out.simple_ = 0;
  out.bytes_.assign(s.begin(), s.end());
  out.arg_ = out.bytes_.size();
  return out;
}

Value Value::Array(std::vector<Value> items) {
  Value out;
  out.major_ = Major::kArray;
  out.simple_ = 0;
  out.arg_ = items.size();
  out.items_ = std::move(items);
  return out;
}

Value Value::Map(std::vector<Entry> entries) {
  Value out;
  out.major_ = Major::kMap;
  out.simple_ = 0;
  out.arg_ = entries.size();
  out.entries_ = std::move(entries);
  return out;
}

Value Value::Tag(uint64_t tag, Value content) {
  Value out;
  out.major_ = Major::kTag;
  out.simple_ = 0;
  out.arg_ = tag;
  out.items_.push_back(std::move(content));
  return out;
}

Value Value::Bool(bool b) {
  Value out;
  out.simple_ = b ? 21 : 20;
  return out;
}

Value Value::Null() { return Value(); }

Value Value::Undefined() {
  Value out;
  out.simple_ = 23;
  return out;
}

Value Value::FloatBits(uint64_t bits, int width_bytes) {
  Value out;
  out.simple_ = width_bytes == 2 ? 25 : width_bytes == 4 ? 26 : 27;
  out.arg_ = bits;
  return out;
}

std::optional<int64_t> Value::AsInt64() const {
  constexpr uint64_t kMax = static_cast<uint64_t>(INT64_MAX);
  if (major_ == Major::kUnsigned) {
    if (arg_ > kMax) return std::nullopt;
    return static_cast<int64_t>(arg_);
  }
  if (major_ == Major::kNegative) {
    if (arg_ > kMax) return std::nullopt;  // below INT64_MIN
    return -1 - static_cast<int64_t>(arg_);
  }
  return std::nullopt;
}

const Value* Value::Find(int64_t key) const {
  for (const Entry& e : entries_) {
    std::optional<int64_t> k = e.first.AsInt64();
    if (k && *k == key) return &e.second;
  }
  return nullptr;
}

const Value* Value::Find(std::string_view key) const {
  for (const Entry& e : entries_) {
    if (e.first.is_text() && e.first.text() == key) return &e.second;
  }
  return nullptr;
}

bool operator==(const Value& a, const Value& b) {
  return a.major_ == b.major_ && a.simple_ == b.simple_ && a.arg_ == b.arg_ &&
         a.bytes_ == b.bytes_ && a.items_ == b.items_ && a.entries_ == b.entries_;
}

// ---- Encoder ----------------------------------------------------------------

void EncodeHead(Major major, uint64_t argument, Bytes& out) {
  const uint8_t m = static_cast<uint8_t>(static_cast<uint8_t>(major) << 5);
  if (argument < 24) {
    out.push_back(static_cast<uint8_t>(m | argument));
  } else if (argument <= 0xff) {
    out.push_back(m | 24);
    out.push_back(static_cast<uint8_t>(argument));
  } else if (argument <= 0xffff) {
    out.push_back(m | 25);
    for (int s = 8; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(argument >> s));
  } else if (argument <= 0xffffffffu) {
    out.push_back(m | 26);
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(argument >> s));
  } else {
    out.push_back(m | 27);
    for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(argument >> s));
  }
}

void EncodeTo(const Value& v, Bytes& out) {
  switch (v.major()) {
    case Major::kUnsigned:
    case Major::kNegative:
      EncodeHead(v.major(), v.argument(), out);
      return;
    case Major::kBytes:
    case Major::kText:
      EncodeHead(v.major(), v.bytes().size(), out);
      out.insert(out.end(), v.bytes().begin(), v.bytes().end());
      return;
    case Major::kArray:
      EncodeHead(Major::kArray, v.items().size(), out);
      for (const Value& item : v.items()) EncodeTo(item, out);
      return;
    case Major::kMap:
      EncodeHead(Major::kMap, v.entries().size(), out);
      for (const auto& [key, value] : v.entries()) {
        EncodeTo(key, out);
        EncodeTo(value, out);
      }
      return;
    case Major::kTag:
      EncodeHead(Major::kTag, v.argument(), out);
      EncodeTo(v.tag_content(), out);
      return;
    case Major::kSimple: {
      const uint8_t s = v.simple();
      out.push_back(static_cast<uint8_t>(0xe0 | s));
      const int width = s == 25 ? 2 : s == 26 ? 4 : s == 27 ? 8 : 0;
      for (int i = width - 1; i >= 0; --i)
        out.push_back(static_cast<uint8_t>(v.argument() >> (8 * i)));
      return;
    }
  }
}

Bytes Encode(const Value& value) {
  Bytes out;
  EncodeTo(value, out);
  return out;
}

// ---- Decoder ----------------------------------------------------------------

namespace {

// RFC 3629 well-formed UTF-8: no overlong forms, no surrogates, <= U+10FFFF.
bool IsValidUtf8(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c == 0xe0) {
      len = 3;
      lo = 0xa0;
    } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
      len = 3;
    } else if (c == 0xed) {
      len = 3;
      hi = 0x9f;
    } else if (c == 0xf0) {
      len = 4;
      lo = 0x90;
    } else if (c >= 0xf1 && c <= 0xf3) {
      len = 4;
    } else if (c == 0xf4) {
      len = 4;
      hi = 0x8f;
    } else {
      return false;
    }
    if (n - i < len) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (size_t k = 2; k < len; ++k) {
      if (p[i + k] < 0x80 || p[i + k] > 0xbf) return false;
    }
    i += len;
  }
  return true;
}

class Decoder {
 public:
  Decoder(ByteSpan data, const DecodeOptions& options) : data_(data), opt_(options) {}

  Status DecodeItem(Value& out, int depth) {
    const size_t start = pos_;
    if (pos_ >= data_.size()) return Error(start, "unexpected end of input");
    const uint8_t initial = data_[pos_++];
    const auto major = static_cast<Major>(initial >> 5);
    const uint8_t info = initial & 0x1f;

    if (major == Major::kSimple) return DecodeSimple(out, info, start);

    uint64_t arg = 0;
    CONFML_RETURN_IF_ERROR(ReadArgument(info, start, arg));

    switch (major) {
      case Major::kUnsigned:
        out = Value::Uint(arg);
        return OkStatus();
      case Major::kNegative:
        out = Value::NegativeFromArgument(arg);
        return OkStatus();
      case Major::kBytes:
      case Major::kText: {
        if (arg > Remaining())
          return Error(start, "string length " + std::to_string(arg) + " exceeds the " +
                                  std::to_string(Remaining()) + " remaining bytes");
        const size_t n = static_cast<size_t>(arg);
        const uint8_t* p = data_.data() + pos_;
        if (major == Major::kText) {
          if (!IsValidUtf8(p, n)) return Error(start, "text string is not valid UTF-8");
          out = Value::Text(std::string_view(reinterpret_cast<const char*>(p), n));
        } else {
          out = Value::ByteString(ByteSpan(p, n));
        }
        pos_ += n;
        return OkStatus();
      }
      case Major::kArray: {
        if (depth >= opt_.max_depth)
          return Error(start, "nesting deeper than " + std::to_string(opt_.max_depth));
        // Every item takes at least one byte: bounds the allocation below.
        if (arg > Remaining())
          return Error(start, "array of " + std::to_string(arg) +
                                  " items cannot fit in the remaining bytes");
        std::vector<Value> items(static_cast<size_t>(arg));
        for (Value& item : items) CONFML_RETURN_IF_ERROR(DecodeItem(item, depth + 1));
        out = Value::Array(std::move(items));
        return OkStatus();
      }
      case Major::kMap: {
        if (depth >= opt_.max_depth)
          return Error(start, "nesting deeper than " + std::to_string(opt_.max_depth));
        if (arg > Remaining() / 2)
          return Error(start, "map of " + std::to_string(arg) +
                                  " entries cannot fit in the remaining bytes");
        std::vector<Value::Entry> entries(static_cast<size_t>(arg));
        // Encoded key bytes, for duplicate detection: with preferred
        // serialization enforced, equal keys have equal encodings.
        std::vector<std::pair<size_t, size_t>> key_spans;
        key_spans.reserve(entries.size());
        for (auto& [key, value] : entries) {
          const size_t key_start = pos_;
          if (key_start < data_.size()) {
            const auto key_major = static_cast<Major>(data_[key_start] >> 5);
            if (key_major != Major::kUnsigned && key_major != Major::kNegative &&
                key_major != Major::kText) {
              return Error(key_start, "map key is not an integer or text string");
            }
          }
          CONFML_RETURN_IF_ERROR(DecodeItem(key, depth + 1));
          key_spans.emplace_back(key_start, pos_ - key_start);
          CONFML_RETURN_IF_ERROR(DecodeItem(value, depth + 1));
        }
        const uint8_t* base = data_.data();
        auto less = [base](const std::pair<size_t, size_t>& a, const std::pair<size_t, size_t>& b) {
          if (a.second != b.second) return a.second < b.second;
          return std::memcmp(base + a.first, base + b.first, a.second) < 0;
        };
        std::sort(key_spans.begin(), key_spans.end(), less);
        for (size_t i = 1; i < key_spans.size(); ++i) {
          if (!less(key_spans[i - 1], key_spans[i]))
            return Error(key_spans[i].first, "duplicate map key");
        }
        out = Value::Map(std::move(entries));
        return OkStatus();
      }
      case Major::kTag: {
        if (depth >= opt_.max_depth)
          return Error(start, "nesting deeper than " + std::to_string(opt_.max_depth));
        Value content;
        CONFML_RETURN_IF_ERROR(DecodeItem(content, depth + 1));
        out = Value::Tag(arg, std::move(content));
        return OkStatus();
      }
      case Major::kSimple:
        break;  // handled above
    }
    return Error(start, "unreachable major type");
  }

  size_t pos() const { return pos_; }

  Status Error(size_t offset, const std::string& what) const {
    return InvalidArgumentError("CBOR at byte " + std::to_string(offset) + ": " + what);
  }

 private:
  size_t Remaining() const { return data_.size() - pos_; }

  Status ReadArgument(uint8_t info, size_t start, uint64_t& arg) {
    if (info < 24) {
      arg = info;
      return OkStatus();
    }
    if (info == 31) return Error(start, "indefinite length is not allowed");
    if (info > 27) return Error(start, "reserved additional information " + std::to_string(info));
    const size_t width = size_t{1} << (info - 24);  // 1, 2, 4, 8
    if (Remaining() < width) return Error(start, "argument runs past the end of input");
    arg = 0;
    for (size_t i = 0; i < width; ++i) arg = (arg << 8) | data_[pos_ + i];
    pos_ += width;
    if (opt_.require_preferred_serialization) {
      const uint64_t min = info == 24   ? 24
                           : info == 25 ? 0x100
                           : info == 26 ? 0x10000
                                        : 0x100000000ull;
      if (arg < min)
        return Error(start, "argument " + std::to_string(arg) + " not in its shortest form");
    }
    return OkStatus();
  }

  Status DecodeSimple(Value& out, uint8_t info, size_t start) {
    if (info >= 20 && info <= 23) {
      out = info == 20   ? Value::Bool(false)
            : info == 21 ? Value::Bool(true)
            : info == 22 ? Value::Null()
                         : Value::Undefined();
      return OkStatus();
    }
    if (info >= 25 && info <= 27) {
      if (!opt_.allow_floats) return Error(start, "floating-point value not allowed");
      const size_t width = size_t{1} << (info - 24);
      if (Remaining() < width) return Error(start, "float runs past the end of input");
      uint64_t bits = 0;
      for (size_t i = 0; i < width; ++i) bits = (bits << 8) | data_[pos_ + i];
      pos_ += width;
      out = Value::FloatBits(bits, static_cast<int>(width));
      return OkStatus();
    }
    if (info == 31) return Error(start, "unexpected break (indefinite lengths are not allowed)");
    return Error(start, "unassigned or reserved simple value " + std::to_string(info));
  }

  ByteSpan data_;
  DecodeOptions opt_;
  size_t pos_ = 0;
};

}  // namespace

StatusOr<Value> Decode(ByteSpan data, const DecodeOptions& options) {
  if (data.size() > options.max_input_size) {
    return InvalidArgumentError("CBOR input of " + std::to_string(data.size()) +
                                " bytes exceeds the limit of " +
                                std::to_string(options.max_input_size));
  }
  Decoder decoder(data, options);
  Value out;
  CONFML_RETURN_IF_ERROR(decoder.DecodeItem(out, 0));
  if (decoder.pos() != data.size()) {
    return decoder.Error(decoder.pos(), std::to_string(data.size() - decoder.pos()) +
                                            " trailing bytes after the data item");
  }
  return out;
}

}  // namespace confml::cbor
