#include "confml/core/program.h"

#include <algorithm>
#include <cstring>

#include "confml/core/crypto.h"
#include "confml/core/params.h"

namespace confml {
namespace {

constexpr char kMagic[] = "CONFML-PROGRAM";  // + its NUL: 15 bytes
constexpr size_t kMagicSize = sizeof(kMagic);
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kDigestSize = 32;
// Bounds for parsing: far above any real program, low enough that a hostile
// image cannot make the parser allocate much.
constexpr uint32_t kMaxComponents = 1024;
constexpr uint32_t kMaxString = 1 << 16;

// The modules every Program of a role starts with: the role's own logic and
// what it links. Shared code comes first so the order reads like a link line.
const std::vector<std::string>* BaseModules(std::string_view role) {
  static const auto* provider =
      new std::vector<std::string>{"core", "defenses", "roles_common", "role.model_provider"};
  static const auto* device = new std::vector<std::string>{"core", "core_ml", "defenses",
                                                           "roles_common", "role.device"};
  static const auto* runtime = new std::vector<std::string>{"core", "core_ml", "defenses",
                                                            "roles_common", "role.runtime"};
  static const auto* verifier =
      new std::vector<std::string>{"core", "defenses", "roles_common", "role.verifier"};
  if (role == kRoleModelProvider) return provider;
  if (role == kRoleDevice) return device;
  if (role == kRoleRuntime) return runtime;
  if (role == kRoleVerifier) return verifier;
  return nullptr;
}

Status CheckRole(std::string_view role) {
  if (BaseModules(role) != nullptr) return OkStatus();
  std::string msg = "unknown role '" + std::string(role) + "'";
  std::string near = NearestName(role, ProgramRoles());
  if (!near.empty()) msg += " (did you mean '" + near + "'?)";
  return InvalidArgumentError(msg + "; roles: model-provider, device, runtime, verifier");
}

void PutU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void PutStr(std::vector<uint8_t>& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

class Reader {
 public:
  explicit Reader(const std::vector<uint8_t>& b) : b_(b) {}
  bool U32(uint32_t* v) {
    if (b_.size() - pos_ < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) *v = (*v << 8) | b_[pos_++];
    return true;
  }
  bool Raw(size_t n, std::string* s) {
    if (b_.size() - pos_ < n) return false;
    s->assign(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  bool Str(std::string* s) {
    uint32_t n = 0;
    return U32(&n) && n <= kMaxString && Raw(n, s);
  }
  size_t remaining() const { return b_.size() - pos_; }

 private:
  const std::vector<uint8_t>& b_;
  size_t pos_ = 0;
};

}  // namespace

const std::vector<std::string>& ProgramRoles() {
  static const auto* roles = new std::vector<std::string>{
      std::string(kRoleModelProvider), std::string(kRoleDevice), std::string(kRoleRuntime),
      std::string(kRoleVerifier)};
  return *roles;
}

StatusOr<CodeModule> FindCodeModule(std::string_view name) {
  std::vector<std::string> names;
  for (const CodeModule& m : BuiltinCodeModules()) {
    if (m.name == name) return m;
    names.push_back(m.name);
  }
  std::string msg = "unknown code module '" + std::string(name) + "'";
  std::string near = NearestName(name, names);
  if (!near.empty()) msg += " (did you mean '" + near + "'?)";
  return NotFoundError(msg);
}

StatusOr<std::vector<uint8_t>> Program::Image() const {
  CONFML_RETURN_IF_ERROR(CheckRole(role));
  std::vector<uint8_t> out(kMagic, kMagic + kMagicSize);
  PutU32(out, kFormatVersion);
  PutStr(out, role);
  PutU32(out, static_cast<uint32_t>(components.size()));
  for (const ProgramComponent& c : components) {
    CONFML_ASSIGN_OR_RETURN(CodeModule m, FindCodeModule(c.module));
    CONFML_ASSIGN_OR_RETURN(Bytes digest, FromHex(m.digest));
    if (digest.size() != kDigestSize) {
      return InternalError("code module '" + m.name + "' has a malformed digest");
    }
    PutStr(out, m.name);
    PutStr(out, m.version);
    out.insert(out.end(), digest.begin(), digest.end());
    PutStr(out, c.config);
  }
  return out;
}

std::string Program::Describe() const {
  std::string out = "program for role " + role + ":\n";
  for (const ProgramComponent& c : components) {
    out += "  " + c.module;
    if (!c.config.empty()) out += "  [" + c.config + "]";
    out += "\n";
  }
  return out;
}

bool Program::HasModule(std::string_view module) const {
  return std::any_of(components.begin(), components.end(),
                     [&](const ProgramComponent& c) { return c.module == module; });
}

StatusOr<Program> HonestProgram(std::string_view role, std::vector<ProgramComponent> extra) {
  CONFML_RETURN_IF_ERROR(CheckRole(role));
  Program p;
  p.role = std::string(role);
  for (const std::string& m : *BaseModules(role)) p.components.push_back({m, ""});
  for (ProgramComponent& c : extra) p.components.push_back(std::move(c));
  return p;
}

StatusOr<Program> ParseProgramImage(const std::vector<uint8_t>& image,
                                    std::vector<std::string>* digests) {
  Reader r(image);
  std::string magic;
  if (!r.Raw(kMagicSize, &magic) || std::memcmp(magic.data(), kMagic, kMagicSize) != 0) {
    return DataLossError("not a confml program image (bad magic)");
  }
  uint32_t version = 0, count = 0;
  Program p;
  if (!r.U32(&version)) return DataLossError("program image truncated in its header");
  if (version != kFormatVersion) {
    return DataLossError("program image format version " + std::to_string(version) +
                         " (this build reads " + std::to_string(kFormatVersion) + ")");
  }
  if (!r.Str(&p.role) || !r.U32(&count)) return DataLossError("program image truncated in its header");
  if (count > kMaxComponents) {
    return DataLossError("program image claims " + std::to_string(count) + " components");
  }
  if (digests) digests->clear();
  for (uint32_t i = 0; i < count; ++i) {
    ProgramComponent c;
    std::string version_text, digest;
    if (!r.Str(&c.module) || !r.Str(&version_text) || !r.Raw(kDigestSize, &digest) ||
        !r.Str(&c.config)) {
      return DataLossError("program image truncated in component " + std::to_string(i));
    }
    if (digests) {
      digests->push_back(ToHex(ByteSpan(reinterpret_cast<const uint8_t*>(digest.data()),
                                        digest.size())));
    }
    p.components.push_back(std::move(c));
  }
  if (r.remaining() != 0) {
    return DataLossError("program image has " + std::to_string(r.remaining()) +
                         " trailing bytes");
  }
  return p;
}

}  // namespace confml
