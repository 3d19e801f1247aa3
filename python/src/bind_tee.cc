// Bindings of the TEE layer: backends and realms (core/tee_backend.h, the
// "sim" backend of tee_sim), keys (core/crypto.h), token claims
// (core/cca_token.h), the attestation policy and verifier (defenses/).
//
//   tee = confml.tee_backend("sim")
//   realm = tee.create_realm(image_bytes, hash_algorithm="sha-256", num_recs=1)
//   token = realm.attestation_token(nonce)              # 64 bytes in, CBOR out
//   v = confml.verify_token(token, trust_anchors=[tee.cpak_public_pem()], nonce=nonce)
//   v.ok, v.findings                                    # [(check, passed, detail), ...]
//
// Byte strings are Python bytes both ways (bytearray and memoryview are
// accepted as inputs).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "bindings.h"
#include "confml/core/cca_token.h"
#include "confml/core/crypto.h"
#include "confml/core/tee_backend.h"
#include "confml/defenses/policy.h"
#include "confml/defenses/verifier.h"
#include "confml/tee_sim/sim_backend.h"
#include "errors.h"

namespace py = pybind11;

namespace confml::python {
namespace {

using defenses::Policy;
using defenses::Verdict;

py::bytes ToPy(const Bytes& b) {
  return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
}

Bytes FromPy(py::handle h, const std::string& what) {
  if (PyUnicode_Check(h.ptr())) {
    ThrowStatus(InvalidArgumentError(what + " must be bytes, not str"));
  }
  PyObject* b = PyBytes_FromObject(h.ptr());
  if (b == nullptr) {
    PyErr_Clear();
    ThrowStatus(InvalidArgumentError(what + " must be bytes, not " +
                                     std::string(py::str(py::type::of(h).attr("__name__")))));
  }
  auto owned = py::reinterpret_steal<py::bytes>(b);
  const char* data = PyBytes_AS_STRING(b);
  return Bytes(data, data + PyBytes_GET_SIZE(b));
}

// Backends and realms share the backend: a realm must die first, and Python
// may drop the backend object while realms live.
struct Backend {
  std::shared_ptr<TeeBackend> tee;
};
struct Realm {
  std::shared_ptr<TeeBackend> tee;  // Declared first: destroyed last.
  std::unique_ptr<TeeRealm> realm;
};

const std::vector<std::string>& RealmParamNames() {
  static const std::vector<std::string> names = {
      "hash_algorithm",  "rpv",      "seal_policy_flags", "realm_flags",  "ipa_width",
      "sve_vl",          "num_bps",  "num_wps",           "pmu_num_ctrs", "load_ipa",
      "measure_content", "num_recs", "entry_pc",          "boot_gprs",    "private_memory_bytes"};
  return names;
}

RealmHashAlgorithm ParseHash(const std::string& s) {
  if (s == "sha-256" || s == "sha256") return RealmHashAlgorithm::kSha256;
  if (s == "sha-512" || s == "sha512") return RealmHashAlgorithm::kSha512;
  ThrowStatus(
      InvalidArgumentError("hash_algorithm must be 'sha-256' or 'sha-512', got '" + s + "'"));
}

template <typename T>
T IntParam(const std::string& key, py::handle v) {
  if (!py::isinstance<py::int_>(v) || py::isinstance<py::bool_>(v)) {
    ThrowStatus(InvalidArgumentError("realm parameter '" + key + "' must be an int"));
  }
  py::int_ i = py::reinterpret_borrow<py::int_>(v);
  if (py::int_(0) > i || i > py::int_(std::numeric_limits<T>::max())) {
    ThrowStatus(InvalidArgumentError("realm parameter '" + key +
                                     "' out of range: " + std::string(py::str(v))));
  }
  return static_cast<T>(py::cast<uint64_t>(v));
}

RealmParams ParamsFromKwargs(const py::kwargs& kwargs) {
  RealmParams p;
  for (auto [k, v] : kwargs) {
    const std::string key = py::cast<std::string>(k);
    if (key == "hash_algorithm") {
      p.hash_algorithm = ParseHash(py::cast<std::string>(v));
    } else if (key == "rpv") {
      Bytes rpv = FromPy(v, "rpv");
      if (rpv.size() != kTeeRpvSize) {
        ThrowStatus(
            InvalidArgumentError("rpv must be 64 bytes, got " + std::to_string(rpv.size())));
      }
      std::copy(rpv.begin(), rpv.end(), p.rpv.begin());
    } else if (key == "seal_policy_flags") {
      p.seal_policy_flags = IntParam<uint64_t>(key, v);
    } else if (key == "realm_flags") {
      p.realm_flags = IntParam<uint64_t>(key, v);
    } else if (key == "ipa_width") {
      p.ipa_width = IntParam<uint8_t>(key, v);
    } else if (key == "sve_vl") {
      p.sve_vl = IntParam<uint8_t>(key, v);
    } else if (key == "num_bps") {
      p.num_bps = IntParam<uint8_t>(key, v);
    } else if (key == "num_wps") {
      p.num_wps = IntParam<uint8_t>(key, v);
    } else if (key == "pmu_num_ctrs") {
      p.pmu_num_ctrs = IntParam<uint8_t>(key, v);
    } else if (key == "load_ipa") {
      p.load_ipa = IntParam<uint64_t>(key, v);
    } else if (key == "measure_content") {
      p.measure_content = py::cast<bool>(v);
    } else if (key == "num_recs") {
      p.num_recs = IntParam<uint32_t>(key, v);
    } else if (key == "entry_pc") {
      p.entry_pc = IntParam<uint64_t>(key, v);
    } else if (key == "boot_gprs") {
      auto seq = py::cast<py::sequence>(v);
      if (py::len(seq) > p.boot_gprs.size()) {
        ThrowStatus(InvalidArgumentError("boot_gprs holds at most 8 values (x0..x7)"));
      }
      for (size_t i = 0; i < py::len(seq); ++i) p.boot_gprs[i] = IntParam<uint64_t>(key, seq[i]);
    } else if (key == "private_memory_bytes") {
      p.private_memory_bytes = IntParam<size_t>(key, v);
    } else {
      std::string msg = "unknown realm parameter '" + key + "'";
      std::string near = NearestName(key, RealmParamNames());
      if (!near.empty()) msg += " (did you mean '" + near + "'?)";
      ThrowStatus(InvalidArgumentError(msg));
    }
  }
  return p;
}

py::dict ParamsToDict(const RealmParams& p) {
  py::dict d;
  d["hash_algorithm"] = std::string(RealmHashAlgorithmName(p.hash_algorithm));
  d["rpv"] = ToPy(Bytes(p.rpv.begin(), p.rpv.end()));
  d["seal_policy_flags"] = p.seal_policy_flags;
  d["realm_flags"] = p.realm_flags;
  d["ipa_width"] = p.ipa_width;
  d["sve_vl"] = p.sve_vl;
  d["num_bps"] = p.num_bps;
  d["num_wps"] = p.num_wps;
  d["pmu_num_ctrs"] = p.pmu_num_ctrs;
  d["load_ipa"] = p.load_ipa;
  d["measure_content"] = p.measure_content;
  d["num_recs"] = p.num_recs;
  d["entry_pc"] = p.entry_pc;
  d["boot_gprs"] = std::vector<uint64_t>(p.boot_gprs.begin(), p.boot_gprs.end());
  d["private_memory_bytes"] = p.private_memory_bytes;
  return d;
}

std::vector<TeeFeature> AllFeatures() {
  return {TeeFeature::kIsolation,   TeeFeature::kMeasurement, TeeFeature::kMeasurementExtend,
          TeeFeature::kAttestation, TeeFeature::kSealing,     TeeFeature::kHostMemoryRead,
          TeeFeature::kCostModel};
}

tee_sim::Rmm& SimPlatformOrThrow(Backend& b) {
  tee_sim::Rmm* rmm = tee_sim::SimPlatform(*b.tee);
  if (rmm == nullptr) {
    ThrowStatus(UnimplementedError("backend '" + std::string(b.tee->name()) +
                                   "' has no simulated platform key (only 'sim' does)"));
  }
  return *rmm;
}

EcKey KeyFrom(py::handle h, const std::string& what) {
  if (py::isinstance<EcKey>(h)) return py::cast<EcKey>(h);
  if (PyUnicode_Check(h.ptr())) return Unwrap(EcKey::FromPublicPem(py::cast<std::string>(h)));
  Bytes point = FromPy(h, what);
  return Unwrap(EcKey::FromPublicPoint(EcCurve::kP384, point));
}

Bytes PointFrom(py::handle h, const std::string& what) {
  if (py::isinstance<EcKey>(h) || PyUnicode_Check(h.ptr())) return KeyFrom(h, what).PublicPoint();
  return FromPy(h, what);
}

void CheckKeys(const py::dict& d, const std::vector<std::string>& allowed,
               const std::string& what) {
  for (auto [k, v] : d) {
    std::string key = py::cast<std::string>(k);
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string msg = what + ": unknown key '" + key + "'";
      std::string near = NearestName(key, allowed);
      if (!near.empty()) msg += " (did you mean '" + near + "'?)";
      ThrowStatus(InvalidArgumentError(msg));
    }
  }
}

Policy PolicyFromPython(const py::object& trust_anchors, const py::object& roles,
                        const py::object& sw_components, uint32_t lifecycle_min,
                        uint32_t lifecycle_max) {
  Policy p;
  for (py::handle a : py::cast<py::iterable>(trust_anchors)) {
    p.trust_anchors.push_back(PointFrom(a, "trust anchor"));
  }
  for (auto [role, refs] : py::cast<py::dict>(roles)) {
    defenses::RolePolicy rp;
    rp.role = py::cast<std::string>(role);
    for (py::handle ref : py::cast<py::iterable>(refs)) {
      if (!py::isinstance<py::dict>(ref)) {
        ThrowStatus(InvalidArgumentError("role '" + rp.role +
                                         "': each realm reference is a dict "
                                         "{rim, rems=None, rpv=None}"));
      }
      auto d = py::reinterpret_borrow<py::dict>(ref);
      const std::string what = "role '" + rp.role + "'";
      CheckKeys(d, {"rim", "rems", "rpv"}, what);
      if (!d.contains("rim"))
        ThrowStatus(InvalidArgumentError(what + ": realm reference without 'rim'"));
      defenses::RealmReference r;
      r.rim = FromPy(d["rim"], what + ".rim");
      if (d.contains("rems") && !d["rems"].is_none()) {
        auto rems = py::cast<py::sequence>(d["rems"]);
        if (py::len(rems) != kRealmExtensibleMeasurementCount) {
          ThrowStatus(InvalidArgumentError(what + ".rems must hold 4 byte strings"));
        }
        std::array<Bytes, kRealmExtensibleMeasurementCount> a;
        for (size_t i = 0; i < a.size(); ++i) a[i] = FromPy(rems[i], what + ".rems");
        r.rems = a;
      }
      if (d.contains("rpv") && !d["rpv"].is_none()) r.rpv = FromPy(d["rpv"], what + ".rpv");
      rp.realms.push_back(std::move(r));
    }
    p.roles.push_back(std::move(rp));
  }
  for (py::handle c : py::cast<py::iterable>(sw_components)) {
    if (!py::isinstance<py::dict>(c)) {
      ThrowStatus(
          InvalidArgumentError("each sw component is a dict {measurement_value, signer_id, "
                               "measurement_type=None, version=None}"));
    }
    auto d = py::reinterpret_borrow<py::dict>(c);
    // hash_algorithm_id is accepted (and ignored) so that the components of
    // decode_token(...)["platform"] can be passed as they are.
    CheckKeys(
        d, {"measurement_value", "signer_id", "measurement_type", "version", "hash_algorithm_id"},
        "sw component");
    if (!d.contains("measurement_value") || !d.contains("signer_id")) {
      ThrowStatus(InvalidArgumentError("sw component needs measurement_value and signer_id"));
    }
    defenses::SwComponentReference s;
    s.measurement_value = FromPy(d["measurement_value"], "sw component measurement_value");
    s.signer_id = FromPy(d["signer_id"], "sw component signer_id");
    if (d.contains("measurement_type") && !d["measurement_type"].is_none())
      s.measurement_type = py::cast<std::string>(d["measurement_type"]);
    if (d.contains("version") && !d["version"].is_none())
      s.version = py::cast<std::string>(d["version"]);
    p.accepted_sw_components.push_back(std::move(s));
  }
  p.lifecycle_min = lifecycle_min;
  p.lifecycle_max = lifecycle_max;
  ThrowIfError(defenses::ValidatePolicy(p));
  return p;
}

py::dict PolicyToDict(const Policy& p) {
  py::dict d;
  py::list anchors;
  for (const Bytes& a : p.trust_anchors) anchors.append(ToPy(a));
  d["trust_anchors"] = anchors;
  py::dict roles;
  for (const auto& rp : p.roles) {
    py::list refs;
    for (const auto& r : rp.realms) {
      py::dict rd;
      rd["rim"] = ToPy(r.rim);
      if (r.rems) {
        py::list rems;
        for (const Bytes& b : *r.rems) rems.append(ToPy(b));
        rd["rems"] = rems;
      } else {
        rd["rems"] = py::none();
      }
      rd["rpv"] = r.rpv ? py::object(ToPy(*r.rpv)) : py::none();
      refs.append(rd);
    }
    roles[py::str(rp.role)] = refs;
  }
  d["roles"] = roles;
  py::list sws;
  for (const auto& s : p.accepted_sw_components) {
    py::dict sd;
    sd["measurement_value"] = ToPy(s.measurement_value);
    sd["signer_id"] = ToPy(s.signer_id);
    sd["measurement_type"] =
        s.measurement_type ? py::object(py::str(*s.measurement_type)) : py::none();
    sd["version"] = s.version ? py::object(py::str(*s.version)) : py::none();
    sws.append(sd);
  }
  d["sw_components"] = sws;
  d["lifecycle_min"] = p.lifecycle_min;
  d["lifecycle_max"] = p.lifecycle_max;
  return d;
}

py::object OptStr(const std::optional<std::string>& s) {
  return s ? py::object(py::str(*s)) : py::none();
}

py::dict ClaimsToDict(const CcaToken& t) {
  py::dict platform;
  platform["profile"] = t.platform.profile;
  platform["challenge"] = ToPy(t.platform.challenge);
  platform["implementation_id"] = ToPy(t.platform.implementation_id);
  platform["instance_id"] = ToPy(t.platform.instance_id);
  platform["config"] = ToPy(t.platform.config);
  platform["lifecycle"] = t.platform.lifecycle;
  py::list sws;
  for (const SwComponent& s : t.platform.sw_components) {
    py::dict sd;
    sd["measurement_type"] = OptStr(s.measurement_type);
    sd["measurement_value"] = ToPy(s.measurement_value);
    sd["version"] = OptStr(s.version);
    sd["signer_id"] = ToPy(s.signer_id);
    sd["hash_algorithm_id"] = OptStr(s.hash_algorithm_id);
    sws.append(sd);
  }
  platform["sw_components"] = sws;
  platform["verification_service"] = OptStr(t.platform.verification_service);
  platform["hash_algorithm_id"] = t.platform.hash_algorithm_id;
  py::dict realm;
  realm["profile"] = OptStr(t.realm.profile);
  realm["challenge"] = ToPy(t.realm.challenge);
  realm["personalization_value"] = ToPy(t.realm.personalization_value);
  realm["hash_algorithm_id"] = t.realm.hash_algorithm_id;
  realm["public_key"] = ToPy(t.realm.public_key);
  realm["rim"] = ToPy(t.realm.rim);
  py::list rems;
  for (const Bytes& b : t.realm.rems) rems.append(ToPy(b));
  realm["rems"] = rems;
  realm["public_key_hash_algorithm_id"] = t.realm.public_key_hash_algorithm_id;
  py::dict d;
  d["platform"] = platform;
  d["realm"] = realm;
  return d;
}

py::list FindingsList(const Verdict& v) {
  py::list out;
  for (const auto& f : v.findings()) out.append(py::make_tuple(f.check, f.passed, f.detail));
  return out;
}

}  // namespace

void BindTee(py::module_& m) {
  ThrowIfError(tee_sim::RegisterSimTeeBackend());

  // ---- keys ----
  py::class_<EcKey>(m, "EcKey", "An EC key (P-384 or P-256), or a public key alone.")
      .def_static(
          "generate",
          [](const std::string& curve) {
            if (curve != "P-384" && curve != "P-256")
              ThrowStatus(InvalidArgumentError("curve must be 'P-384' or 'P-256'"));
            return Unwrap(EcKey::Generate(curve == "P-384" ? EcCurve::kP384 : EcCurve::kP256));
          },
          py::arg("curve") = "P-384", "A fresh random key pair.")
      .def_static(
          "from_seed",
          [](py::handle seed, const std::string& label) {
            return Unwrap(EcKey::FromSeed(FromPy(seed, "seed"), label));
          },
          py::arg("seed"), py::arg("label"), "A deterministic P-384 key pair (seed >= 16 bytes).")
      .def_static("from_private_pem",
                  [](const std::string& pem) { return Unwrap(EcKey::FromPrivatePem(pem)); })
      .def_static("from_public_pem",
                  [](const std::string& pem) { return Unwrap(EcKey::FromPublicPem(pem)); })
      .def_static(
          "from_public_point",
          [](py::handle point) {
            return Unwrap(EcKey::FromPublicPoint(EcCurve::kP384, FromPy(point, "point")));
          },
          "A P-384 public key from its SEC1 uncompressed point (97 bytes).")
      .def_property_readonly("has_private_key", &EcKey::has_private_key)
      .def("public_point", [](const EcKey& k) { return ToPy(k.PublicPoint()); })
      .def("public_pem", &EcKey::PublicKeyPem)
      .def("private_pem", [](const EcKey& k) { return Unwrap(k.PrivateKeyPem()); })
      .def("public_only", &EcKey::PublicOnly)
      .def("__repr__", [](const EcKey& k) {
        return std::string("<confml.EcKey ") + (k.curve() == EcCurve::kP384 ? "P-384" : "P-256") +
               (k.has_private_key() ? " private>" : " public>");
      });

  // ---- backends and realms ----
  py::class_<Realm>(m, "Realm",
                    "A realm running one image. Methods marked (in realm) enter it once; "
                    "host_read acts as the host.")
      .def_property_readonly("memory_size", [](const Realm& r) { return r.realm->memory_size(); })
      .def_property_readonly("params",
                             [](const Realm& r) { return ParamsToDict(r.realm->params()); })
      .def_property_readonly("load_ipa", [](const Realm& r) { return r.realm->params().load_ipa; })
      .def_property_readonly(
          "rim", [](Realm& r) { return ToPy(Unwrap(r.realm->ReadMeasurement(0))); },
          "The Realm Initial Measurement (in realm: RSI_MEASUREMENT_READ 0).")
      .def_property_readonly(
          "rems",
          [](Realm& r) {
            py::list out;
            for (int i = 1; i <= kTeeNumRems; ++i)
              out.append(ToPy(Unwrap(r.realm->ReadMeasurement(i))));
            return out;
          },
          "The four Realm Extensible Measurements.")
      .def(
          "read_measurement",
          [](Realm& r, int index) { return ToPy(Unwrap(r.realm->ReadMeasurement(index))); },
          py::arg("index"), "(in realm) 0 = RIM, 1..4 = REMs.")
      .def(
          "extend_measurement",
          [](Realm& r, int index, py::handle data) {
            ThrowIfError(r.realm->ExtendMeasurement(index, FromPy(data, "data")));
          },
          py::arg("index"), py::arg("data"),
          "(in realm) REM[index] = H(REM[index] || data); data <= 64 B.")
      .def(
          "attestation_token",
          [](Realm& r, py::handle challenge) {
            Bytes c = FromPy(challenge, "challenge");
            StatusOr<Bytes> token = InternalError("not run");
            {
              py::gil_scoped_release release;
              token = r.realm->AttestationToken(c);
            }
            return ToPy(Unwrap(std::move(token)));
          },
          py::arg("challenge"),
          "(in realm) A CCA attestation token (CBOR tag 399) for a 64-byte challenge.")
      .def(
          "seal",
          [](Realm& r, py::handle data) {
            return ToPy(Unwrap(r.realm->Seal(FromPy(data, "data"))));
          },
          py::arg("data"), "(in realm) Authenticated encryption only this realm can undo.")
      .def(
          "unseal",
          [](Realm& r, py::handle blob) {
            return ToPy(Unwrap(r.realm->Unseal(FromPy(blob, "blob"))));
          },
          py::arg("blob"),
          "(in realm) DataLossError for a blob of another realm or a tampered one.")
      .def(
          "write_memory",
          [](Realm& r, uint64_t ipa, py::handle data) {
            Bytes b = FromPy(data, "data");
            ThrowIfError(r.realm->Run([&](RealmContext& ctx) { return ctx.WriteMemory(ipa, b); }));
          },
          py::arg("ipa"), py::arg("data"), "(in realm) Writes the realm's own memory.")
      .def(
          "read_memory",
          [](Realm& r, uint64_t ipa, size_t length) {
            Bytes out;
            ThrowIfError(r.realm->Run([&](RealmContext& ctx) -> Status {
              CONFML_ASSIGN_OR_RETURN(out, ctx.ReadMemory(ipa, length));
              return OkStatus();
            }));
            return ToPy(out);
          },
          py::arg("ipa"), py::arg("length"), "(in realm) Reads the realm's own memory.")
      .def(
          "host_read",
          [](Realm& r, uint64_t ipa, size_t length) {
            return ToPy(Unwrap(r.realm->HostRead(ipa, length)));
          },
          py::arg("ipa"), py::arg("length"),
          "The HOST reads realm memory: PermissionDeniedError on sim/cca, the bytes on none.")
      .def(
          "cost",
          [](const Realm& r) {
            TeeCost c = r.realm->cost();
            py::dict d;
            d["profile"] = c.profile;
            d["realm_entries"] = c.realm_entries;
            d["bytes_copied"] = c.bytes_copied;
            d["bytes_crypted"] = c.bytes_crypted;
            d["tokens"] = c.tokens;
            d["entry_exit_seconds"] = c.entry_exit_seconds;
            d["copy_seconds"] = c.copy_seconds;
            d["crypto_seconds"] = c.crypto_seconds;
            d["attestation_seconds"] = c.attestation_seconds;
            d["total_seconds"] = c.total_seconds();
            return d;
          },
          "Modeled overheads so far (sim's cost profile).");

  py::class_<Backend>(m, "TeeBackend",
                      "A TEE backend ('none', 'sim', ...); make one with confml.tee_backend.")
      .def_property_readonly("name", [](const Backend& b) { return std::string(b.tee->name()); })
      .def(
          "capabilities",
          [](const Backend& b) {
            TeeCapabilities caps = b.tee->capabilities();
            py::dict d;
            for (TeeFeature f : AllFeatures()) {
              py::dict fd;
              auto it = caps.features.find(f);
              fd["supported"] = it != caps.features.end() && it->second.supported;
              fd["note"] =
                  it != caps.features.end() ? it->second.note : std::string("not reported");
              d[py::str(std::string(TeeFeatureName(f)))] = fd;
            }
            return d;
          },
          "{feature: {'supported': bool, 'note': str}} for every TEE feature.")
      .def(
          "create_realm",
          [](Backend& b, py::handle image, const py::kwargs& kwargs) {
            Bytes img = FromPy(image, "image");
            RealmParams params = ParamsFromKwargs(kwargs);
            StatusOr<std::unique_ptr<TeeRealm>> realm = InternalError("not run");
            {
              py::gil_scoped_release release;
              realm = b.tee->CreateRealm(img, params);
            }
            return Realm{b.tee, Unwrap(std::move(realm))};
          },
          py::arg("image"),
          "Loads image bytes into a new, active realm. Keyword arguments are RealmParams fields:\n"
          "hash_algorithm ('sha-256'|'sha-512'), rpv (64 bytes), seal_policy_flags, realm_flags,\n"
          "ipa_width, sve_vl, num_bps, num_wps, pmu_num_ctrs, load_ipa, measure_content,\n"
          "num_recs, entry_pc, boot_gprs, private_memory_bytes.")
      .def(
          "cpak_public_pem", [](Backend& b) { return SimPlatformOrThrow(b).cpak_public_pem(); },
          "The simulated platform's CPAK public key (PEM): the verifier's trust anchor (sim only).")
      .def(
          "cpak_public_point",
          [](Backend& b) { return ToPy(SimPlatformOrThrow(b).cpak_public_point()); },
          "The CPAK as a SEC1 P-384 point (sim only).");

  m.def(
      "tee_backend",
      [](const std::string& name, const py::kwargs& kwargs) {
        std::map<std::string, ParamValue> given;
        for (auto [k, v] : kwargs) given[py::cast<std::string>(k)] = py::cast<ParamValue>(v);
        std::unique_ptr<TeeBackend> tee = Unwrap(NewTeeBackend(name, given));
        return Backend{std::shared_ptr<TeeBackend>(std::move(tee))};
      },
      py::arg("name"),
      "A TEE backend by name: 'none' (plain process), 'sim' (the CCA simulator; keywords\n"
      "cost_profile, rak_scope, platform_seed).");
  m.def("tee_backend_names", [] { return TeeBackendRegistry().Names(); });
  m.def(
      "reference_rim",
      [](py::handle image, const py::kwargs& kwargs) {
        Bytes img = FromPy(image, "image");
        return ToPy(Unwrap(tee_sim::ComputeReferenceRim(img, ParamsFromKwargs(kwargs))));
      },
      py::arg("image"),
      "The RIM a realm loaded from `image` with these RealmParams gets (the measure tool).");

  // ---- tokens, policies, verdicts ----
  m.def(
      "decode_token",
      [](py::handle token) { return ClaimsToDict(Unwrap(DecodeCcaToken(FromPy(token, "token")))); },
      py::arg("token"),
      "Strictly decodes a CCA token: {'platform': claims, 'realm': claims}. No signature check.");

  py::class_<Policy>(m, "Policy",
                     "An attestation policy: trusted platforms, platform software, lifecycle, and\n"
                     "the realm measurements each role may run.")
      .def(
          py::init(&PolicyFromPython), py::kw_only(), py::arg("trust_anchors") = py::list(),
          py::arg("roles") = py::dict(), py::arg("sw_components") = py::list(),
          py::arg("lifecycle_min") = kLifecycleSecuredMin,
          py::arg("lifecycle_max") = kLifecycleSecuredMax,
          "trust_anchors: CPAK keys (EcKey, PEM str or SEC1 bytes); roles: {role: [{'rim': bytes,\n"
          "'rems': [4 bytes] or None, 'rpv': bytes or None}]}; sw_components: "
          "[{'measurement_value',\n"
          "'signer_id', 'measurement_type'=None, 'version'=None}] (default-deny when empty).")
      .def("to_dict", &PolicyToDict)
      .def(
          "sign",
          [](const Policy& p, const EcKey& key) {
            return ToPy(Unwrap(defenses::SignPolicy(p, key)));
          },
          py::arg("policy_key"),
          "COSE_Sign1 (ES384) of the policy, signed with a private P-384 key.")
      .def_static(
          "load_signed",
          [](py::handle blob, const EcKey& key) {
            return Unwrap(defenses::LoadSignedPolicy(FromPy(blob, "signed policy"), key));
          },
          py::arg("signed_policy"), py::arg("policy_public_key"),
          "Checks the signature, then decodes; UnauthenticatedError for a tampered or foreign "
          "policy.")
      .def("__eq__", [](const Policy& a, const Policy& b) { return a == b; });

  py::class_<defenses::NonceRegistry>(m, "NonceRegistry",
                                      "Fresh 64-byte nonces, each accepted once.")
      .def(py::init<size_t>(), py::arg("capacity") = 4096)
      .def("issue", [](defenses::NonceRegistry& r) { return ToPy(Unwrap(r.Issue())); })
      .def_property_readonly("outstanding", &defenses::NonceRegistry::outstanding);

  py::class_<Verdict>(m, "Verdict", "The verifier's appraisal, one finding per check.")
      .def_property_readonly("ok", &Verdict::ok)
      .def_property_readonly("findings", &FindingsList,
                             "[(check, passed, detail), ...] in check order.")
      .def_property_readonly("failed_checks", &Verdict::FailedChecks)
      .def(
          "find",
          [](const Verdict& v, const std::string& check) -> py::object {
            const defenses::Finding* f = v.Find(check);
            if (f == nullptr) return py::none();
            return py::make_tuple(f->check, f->passed, f->detail);
          },
          py::arg("check"), "The finding of one check, or None if it was not made.")
      .def_property_readonly(
          "claims",
          [](const Verdict& v) -> py::object {
            if (!v.token()) return py::none();
            return ClaimsToDict(*v.token());
          },
          "The decoded claims (None when the token did not decode).")
      .def("to_json", &Verdict::ToJson)
      .def("__repr__", [](const Verdict& v) {
        std::string s = v.ok() ? "<confml.Verdict ok" : "<confml.Verdict FAILED:";
        if (!v.ok()) {
          for (const std::string& c : v.FailedChecks()) s += " " + c;
        }
        return s + ">";
      });

  m.def(
      "verify_token",
      [](py::handle token, const py::iterable& trust_anchors, const py::object& nonce,
         const py::object& policy, const py::object& role,
         defenses::NonceRegistry* nonce_registry) {
        Bytes t = FromPy(token, "token");
        defenses::VerifierInputs in;
        for (py::handle a : trust_anchors) in.trust_anchors.push_back(KeyFrom(a, "trust anchor"));
        if (!nonce.is_none()) in.expected_nonce = FromPy(nonce, "nonce");
        Policy p;
        if (!policy.is_none()) {
          p = py::cast<Policy>(policy);
          if (role.is_none())
            ThrowStatus(InvalidArgumentError("verify_token: a policy needs role="));
          in.policy = &p;
        }
        if (!role.is_none()) in.claimed_role = py::cast<std::string>(role);
        in.nonce_registry = nonce_registry;
        Verdict v;
        {
          py::gil_scoped_release release;
          v = defenses::Verify(t, in);
        }
        return v;
      },
      py::arg("token"), py::kw_only(), py::arg("trust_anchors") = py::list(),
      py::arg("nonce") = py::none(), py::arg("policy") = py::none(), py::arg("role") = py::none(),
      py::arg("nonce_registry") = nullptr,
      "Appraises a CCA token claim by claim (never raises for bad token bytes: the verdict says\n"
      "which check failed). trust_anchors: CPAK keys as EcKey, PEM str or SEC1 bytes.");
}

}  // namespace confml::python
