// confml/core/cbor.h: a small, strict CBOR (RFC 8949) decoder and a
// deterministic encoder, for attestation tokens, COSE and signed policies.
//
//   StatusOr<cbor::Value> v = cbor::Decode(bytes);     // whole input, strict
//   if (!v.ok()) return v.status();                    // InvalidArgument
//   const cbor::Value* rim = v->Find(44238);           // map lookup by int key
//   Bytes out = cbor::Encode(cbor::Value::Map({{cbor::Value::Int(1), cbor::Value::Int(-35)}}));
//
// The decoder is written for hostile input: every length is checked against
// the bytes that remain before anything is allocated, nesting is limited,
// indefinite lengths are rejected, integer and length arguments must use the
// shortest form (RFC 8949 sec. 4.2.1 "preferred serialization"), text must be
// valid UTF-8, map keys must be integers or text and unique, and the input
// must hold exactly one data item (no trailing bytes). Map entry ORDER is
// kept as received and not required to be sorted, because real CCA tokens
// (TF-RMM) do not sort their claims. Errors name the byte offset.
//
// The encoder writes preferred serialization with definite lengths and keeps
// map entries in the order given, so equal Values encode to equal bytes.
// Values are plain data: copyable, not thread-safe to mutate concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "confml/core/crypto.h"
#include "confml/core/status.h"

namespace confml::cbor {

enum class Major : uint8_t {
  kUnsigned = 0,
  kNegative = 1,
  kBytes = 2,
  kText = 3,
  kArray = 4,
  kMap = 5,
  kTag = 6,
  kSimple = 7,  // false, true, null, undefined, floats
};

class Value {
 public:
  using Entry = std::pair<Value, Value>;

  Value() = default;  // null
  static Value Int(int64_t v);
  static Value Uint(uint64_t v);
  // The negative integer -1 - n (covers the full CBOR range down to -2^64).
  static Value NegativeFromArgument(uint64_t n);
  static Value ByteString(ByteSpan b);
  static Value ByteString(Bytes&& b);
  static Value Text(std::string_view s);
  static Value Array(std::vector<Value> items);
  static Value Map(std::vector<Entry> entries);
  static Value Tag(uint64_t tag, Value content);
  static Value Bool(bool b);
  static Value Null();
  static Value Undefined();
  // A float kept as its encoded bits (2, 4 or 8 bytes wide); confml never
  // does arithmetic on CBOR floats, it only has to accept or re-emit them.
  static Value FloatBits(uint64_t bits, int width_bytes);

  Major major() const { return major_; }
  bool is_unsigned() const { return major_ == Major::kUnsigned; }
  bool is_integer() const { return major_ == Major::kUnsigned || major_ == Major::kNegative; }
  bool is_bytes() const { return major_ == Major::kBytes; }
  bool is_text() const { return major_ == Major::kText; }
  bool is_array() const { return major_ == Major::kArray; }
  bool is_map() const { return major_ == Major::kMap; }
  bool is_tag() const { return major_ == Major::kTag; }
  bool is_bool() const { return major_ == Major::kSimple && (simple_ == 20 || simple_ == 21); }
  bool is_null() const { return major_ == Major::kSimple && simple_ == 22; }

  // The integer if it fits in int64_t, else nullopt (also for non-integers).
  std::optional<int64_t> AsInt64() const;
  // The raw argument: the value of an unsigned, n of a negative (-1-n), the
  // tag number of a tag.
  uint64_t argument() const { return arg_; }
  bool AsBool() const { return simple_ == 21; }
  // Byte-string contents, or text bytes (UTF-8) for text.
  const Bytes& bytes() const { return bytes_; }
  std::string_view text() const {
    return std::string_view(reinterpret_cast<const char*>(bytes_.data()), bytes_.size());
  }
  // Array items, or the single tagged item of a tag.
  const std::vector<Value>& items() const { return items_; }
  const std::vector<Entry>& entries() const { return entries_; }
  // Tag content (precondition: is_tag()).
  const Value& tag_content() const { return items_.front(); }
  // Simple value number (20..23) or float width marker (25..27).
  uint8_t simple() const { return simple_; }

  // Map lookup by integer or text key; nullptr if absent or not a map.
  const Value* Find(int64_t key) const;
  const Value* Find(std::string_view key) const;

  friend bool operator==(const Value& a, const Value& b);

 private:
  Major major_ = Major::kSimple;
  uint8_t simple_ = 22;  // null
  uint64_t arg_ = 0;
  Bytes bytes_;
  std::vector<Value> items_;
  std::vector<Entry> entries_;
};

struct DecodeOptions {
  // Arrays, maps and tags nested deeper than this are rejected. Default 16.
  int max_depth = 16;
  // Inputs longer than this are rejected before parsing. Default 1 MiB.
  size_t max_input_size = 1u << 20;
  // Reject non-shortest integer/length encodings. Default true.
  bool require_preferred_serialization = true;
  // Accept floats (major 7, 25..27). Default true; tokens never use them.
  bool allow_floats = true;
};

// Decodes exactly one data item spanning all of `data`. InvalidArgument on
// any violation, with the byte offset and what was wrong.
StatusOr<Value> Decode(ByteSpan data, const DecodeOptions& options = {});

// Deterministic encoding (see top of file).
Bytes Encode(const Value& value);
// Appends the encoding of `value` to `out`.
void EncodeTo(const Value& value, Bytes& out);

// Appends a major type and argument in shortest form, for callers that stream
// an encoding (e.g. a byte-string header before its contents).
void EncodeHead(Major major, uint64_t argument, Bytes& out);

}  // namespace confml::cbor
