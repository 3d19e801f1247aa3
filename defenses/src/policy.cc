// Signed attestation policy: validation, CBOR codec, COSE_Sign1 envelope.

#include "confml/defenses/policy.h"

#include <set>
#include <string>
#include <utility>

#include "confml/core/cbor.h"
#include "confml/core/file_util.h"

namespace confml::defenses {
namespace {

using cbor::Value;

constexpr std::string_view kFormatName = "confml-attestation-policy";

bool IsHashSize(size_t n) { return n == 32 || n == 48 || n == 64; }

Status Bad(const std::string& where, const std::string& what) {
  return InvalidArgumentError("policy: " + where + ": " + what);
}

// Strict map reader: every key must be known, mandatory keys present.
class MapReader {
 public:
  MapReader(const Value& map, std::string where) : map_(map), where_(std::move(where)) {}

  Status CheckKeys(std::initializer_list<std::string_view> known) const {
    if (!map_.is_map()) return Bad(where_, "expected a map");
    for (const auto& [key, value] : map_.entries()) {
      if (!key.is_text()) return Bad(where_, "map key is not text");
      bool ok = false;
      for (std::string_view k : known) ok = ok || key.text() == k;
      if (!ok) return Bad(where_, "unknown key '" + std::string(key.text()) + "'");
    }
    return OkStatus();
  }
  const Value* Get(std::string_view key) const { return map_.Find(key); }
  StatusOr<const Value*> Require(std::string_view key) const {
    const Value* v = map_.Find(key);
    if (v == nullptr) return Bad(where_, "missing key '" + std::string(key) + "'");
    return v;
  }
  const std::string& where() const { return where_; }

 private:
  const Value& map_;
  std::string where_;
};

StatusOr<Bytes> GetBytes(const Value* v, const std::string& where) {
  if (!v->is_bytes()) return Bad(where, "expected a byte string");
  return v->bytes();
}

StatusOr<std::string> GetText(const Value* v, const std::string& where) {
  if (!v->is_text()) return Bad(where, "expected a text string");
  return std::string(v->text());
}

StatusOr<uint32_t> GetU32(const Value* v, const std::string& where) {
  if (!v->is_unsigned() || v->argument() > 0xffffffffu)
    return Bad(where, "expected an unsigned integer");
  return static_cast<uint32_t>(v->argument());
}

}  // namespace

const RolePolicy* Policy::FindRole(std::string_view role) const {
  for (const RolePolicy& r : roles) {
    if (r.role == role) return &r;
  }
  return nullptr;
}

Status ValidatePolicy(const Policy& p) {
  for (size_t i = 0; i < p.trust_anchors.size(); ++i) {
    auto key = EcKey::FromPublicPoint(EcCurve::kP384, p.trust_anchors[i]);
    if (!key.ok()) return Bad("trust_anchors[" + std::to_string(i) + "]", key.status().message());
  }
  std::set<std::string> names;
  for (const RolePolicy& r : p.roles) {
    if (r.role.empty()) return Bad("roles", "empty role name");
    if (!names.insert(r.role).second) return Bad("roles", "duplicate role '" + r.role + "'");
    for (size_t i = 0; i < r.realms.size(); ++i) {
      const RealmReference& ref = r.realms[i];
      const std::string at = "role '" + r.role + "' realm " + std::to_string(i);
      if (!IsHashSize(ref.rim.size())) return Bad(at, "rim must be 32, 48 or 64 bytes");
      if (ref.rems) {
        for (const Bytes& rem : *ref.rems) {
          if (!IsHashSize(rem.size())) return Bad(at, "each rem must be 32, 48 or 64 bytes");
        }
      }
      if (ref.rpv && ref.rpv->size() != kRealmPersonalizationValueSize)
        return Bad(at, "rpv must be 64 bytes");
    }
  }
  for (size_t i = 0; i < p.accepted_sw_components.size(); ++i) {
    const SwComponentReference& s = p.accepted_sw_components[i];
    const std::string at = "sw_components[" + std::to_string(i) + "]";
    if (!IsHashSize(s.measurement_value.size()))
      return Bad(at, "measurement_value must be 32, 48 or 64 bytes");
    if (!IsHashSize(s.signer_id.size())) return Bad(at, "signer_id must be 32, 48 or 64 bytes");
  }
  if (p.lifecycle_min > p.lifecycle_max || p.lifecycle_max > 0xffff) {
    return Bad("lifecycle", "need lifecycle_min <= lifecycle_max <= 0xffff");
  }
  return OkStatus();
}

StatusOr<Bytes> EncodePolicy(const Policy& p) {
  CONFML_RETURN_IF_ERROR(ValidatePolicy(p));
  std::vector<Value> anchors;
  for (const Bytes& a : p.trust_anchors) anchors.push_back(Value::ByteString(a));
  std::vector<Value> roles;
  for (const RolePolicy& r : p.roles) {
    std::vector<Value> realms;
    for (const RealmReference& ref : r.realms) {
      std::vector<Value::Entry> e;
      e.emplace_back(Value::Text("rim"), Value::ByteString(ref.rim));
      if (ref.rems) {
        std::vector<Value> rems;
        for (const Bytes& rem : *ref.rems) rems.push_back(Value::ByteString(rem));
        e.emplace_back(Value::Text("rems"), Value::Array(std::move(rems)));
      }
      if (ref.rpv) e.emplace_back(Value::Text("rpv"), Value::ByteString(*ref.rpv));
      realms.push_back(Value::Map(std::move(e)));
    }
    roles.push_back(Value::Map({{Value::Text("role"), Value::Text(r.role)},
                                {Value::Text("realms"), Value::Array(std::move(realms))}}));
  }
  std::vector<Value> sws;
  for (const SwComponentReference& s : p.accepted_sw_components) {
    std::vector<Value::Entry> e;
    e.emplace_back(Value::Text("measurement_value"), Value::ByteString(s.measurement_value));
    e.emplace_back(Value::Text("signer_id"), Value::ByteString(s.signer_id));
    if (s.measurement_type)
      e.emplace_back(Value::Text("measurement_type"), Value::Text(*s.measurement_type));
    if (s.version) e.emplace_back(Value::Text("version"), Value::Text(*s.version));
    sws.push_back(Value::Map(std::move(e)));
  }
  Value doc = Value::Map({
      {Value::Text("format"), Value::Text(kFormatName)},
      {Value::Text("version"), Value::Uint(kPolicyFormatVersion)},
      {Value::Text("trust_anchors"), Value::Array(std::move(anchors))},
      {Value::Text("roles"), Value::Array(std::move(roles))},
      {Value::Text("sw_components"), Value::Array(std::move(sws))},
      {Value::Text("lifecycle_min"), Value::Uint(p.lifecycle_min)},
      {Value::Text("lifecycle_max"), Value::Uint(p.lifecycle_max)},
  });
  return cbor::Encode(doc);
}

StatusOr<Policy> DecodePolicy(ByteSpan payload) {
  cbor::DecodeOptions opt;
  opt.max_input_size = kMaxCcaTokenSize;
  opt.allow_floats = false;
  auto doc = cbor::Decode(payload, opt);
  if (!doc.ok()) return Bad("payload", doc.status().message());
  MapReader top(*doc, "payload");
  CONFML_RETURN_IF_ERROR(top.CheckKeys({"format", "version", "trust_anchors", "roles",
                                        "sw_components", "lifecycle_min", "lifecycle_max"}));
  Policy p;
  CONFML_ASSIGN_OR_RETURN(const Value* format, top.Require("format"));
  CONFML_ASSIGN_OR_RETURN(std::string format_name, GetText(format, "format"));
  if (format_name != kFormatName)
    return Bad("format", "not a confml attestation policy ('" + format_name + "')");
  CONFML_ASSIGN_OR_RETURN(const Value* version, top.Require("version"));
  CONFML_ASSIGN_OR_RETURN(uint32_t v, GetU32(version, "version"));
  if (v != kPolicyFormatVersion)
    return Bad("version", "unsupported policy version " + std::to_string(v));

  CONFML_ASSIGN_OR_RETURN(const Value* anchors, top.Require("trust_anchors"));
  if (!anchors->is_array()) return Bad("trust_anchors", "expected an array");
  for (const Value& a : anchors->items()) {
    CONFML_ASSIGN_OR_RETURN(Bytes point, GetBytes(&a, "trust_anchors"));
    p.trust_anchors.push_back(std::move(point));
  }

  CONFML_ASSIGN_OR_RETURN(const Value* roles, top.Require("roles"));
  if (!roles->is_array()) return Bad("roles", "expected an array");
  for (const Value& r : roles->items()) {
    MapReader role(r, "roles");
    CONFML_RETURN_IF_ERROR(role.CheckKeys({"role", "realms"}));
    RolePolicy rp;
    CONFML_ASSIGN_OR_RETURN(const Value* name, role.Require("role"));
    CONFML_ASSIGN_OR_RETURN(rp.role, GetText(name, "roles.role"));
    CONFML_ASSIGN_OR_RETURN(const Value* realms, role.Require("realms"));
    if (!realms->is_array()) return Bad("roles.realms", "expected an array");
    for (const Value& rv : realms->items()) {
      MapReader realm(rv, "role '" + rp.role + "' realm");
      CONFML_RETURN_IF_ERROR(realm.CheckKeys({"rim", "rems", "rpv"}));
      RealmReference ref;
      CONFML_ASSIGN_OR_RETURN(const Value* rim, realm.Require("rim"));
      CONFML_ASSIGN_OR_RETURN(ref.rim, GetBytes(rim, realm.where() + ".rim"));
      if (const Value* rems = realm.Get("rems")) {
        if (!rems->is_array() || rems->items().size() != kRealmExtensibleMeasurementCount) {
          return Bad(realm.where() + ".rems", "expected an array of 4 byte strings");
        }
        std::array<Bytes, kRealmExtensibleMeasurementCount> values;
        for (size_t i = 0; i < values.size(); ++i) {
          CONFML_ASSIGN_OR_RETURN(values[i], GetBytes(&rems->items()[i], realm.where() + ".rems"));
        }
        ref.rems = std::move(values);
      }
      if (const Value* rpv = realm.Get("rpv")) {
        CONFML_ASSIGN_OR_RETURN(Bytes b, GetBytes(rpv, realm.where() + ".rpv"));
        ref.rpv = std::move(b);
      }
      rp.realms.push_back(std::move(ref));
    }
    p.roles.push_back(std::move(rp));
  }

  CONFML_ASSIGN_OR_RETURN(const Value* sws, top.Require("sw_components"));
  if (!sws->is_array()) return Bad("sw_components", "expected an array");
  for (const Value& sv : sws->items()) {
    MapReader sw(sv, "sw_components");
    CONFML_RETURN_IF_ERROR(
        sw.CheckKeys({"measurement_value", "signer_id", "measurement_type", "version"}));
    SwComponentReference s;
    CONFML_ASSIGN_OR_RETURN(const Value* mv, sw.Require("measurement_value"));
    CONFML_ASSIGN_OR_RETURN(s.measurement_value, GetBytes(mv, "sw_components.measurement_value"));
    CONFML_ASSIGN_OR_RETURN(const Value* sid, sw.Require("signer_id"));
    CONFML_ASSIGN_OR_RETURN(s.signer_id, GetBytes(sid, "sw_components.signer_id"));
    if (const Value* t = sw.Get("measurement_type")) {
      CONFML_ASSIGN_OR_RETURN(std::string text, GetText(t, "sw_components.measurement_type"));
      s.measurement_type = std::move(text);
    }
    if (const Value* t = sw.Get("version")) {
      CONFML_ASSIGN_OR_RETURN(std::string text, GetText(t, "sw_components.version"));
      s.version = std::move(text);
    }
    p.accepted_sw_components.push_back(std::move(s));
  }
  CONFML_ASSIGN_OR_RETURN(const Value* lmin, top.Require("lifecycle_min"));
  CONFML_ASSIGN_OR_RETURN(p.lifecycle_min, GetU32(lmin, "lifecycle_min"));
  CONFML_ASSIGN_OR_RETURN(const Value* lmax, top.Require("lifecycle_max"));
  CONFML_ASSIGN_OR_RETURN(p.lifecycle_max, GetU32(lmax, "lifecycle_max"));
  CONFML_RETURN_IF_ERROR(ValidatePolicy(p));
  return p;
}

StatusOr<Bytes> SignPolicy(const Policy& policy, const EcKey& policy_key) {
  CONFML_ASSIGN_OR_RETURN(Bytes payload, EncodePolicy(policy));
  return SignCoseSign1(payload, policy_key);
}

StatusOr<Policy> LoadSignedPolicy(ByteSpan signed_policy, const EcKey& policy_public_key) {
  auto cose = DecodeCoseSign1(signed_policy, "signed policy");
  // A malformed envelope is as untrustworthy as a bad signature: whoever
  // altered it is not the policy key holder.
  if (!cose.ok())
    return UnauthenticatedError("policy is not a valid signed policy: " + cose.status().message());
  Status sig = VerifyCoseSign1(*cose, policy_public_key);
  if (!sig.ok())
    return UnauthenticatedError("policy signature does not verify with the policy key");
  // Only now is the payload trusted enough to parse.
  return DecodePolicy(cose->payload);
}

StatusOr<Policy> LoadSignedPolicyFile(const std::string& policy_path,
                                      const std::string& policy_key_pem_path) {
  CONFML_ASSIGN_OR_RETURN(Bytes blob, ReadFileBytes(policy_path));
  CONFML_ASSIGN_OR_RETURN(std::string pem, ReadFileText(policy_key_pem_path));
  auto key = EcKey::FromPublicPem(pem);
  if (!key.ok()) return key.status().WithContext(policy_key_pem_path);
  auto policy = LoadSignedPolicy(blob, *key);
  if (!policy.ok()) return policy.status().WithContext(policy_path);
  return policy;
}

}  // namespace confml::defenses
