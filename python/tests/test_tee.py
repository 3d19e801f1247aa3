"""The TEE layer from Python: backends, sim realms, measurement, tokens, the verifier."""

import json

import pytest

import confml

IMAGE = bytes(range(256)) * 40  # 10 KiB: three granules, the last one padded.
NONCE = bytes(range(64))


@pytest.fixture(scope="module")
def sim():
    return confml.tee_backend("sim")


@pytest.fixture(scope="module")
def realm(sim):
    return sim.create_realm(IMAGE)


def platform_policy(sim, realm, role="device", **role_ref):
    """A policy trusting this sim platform and its software, and `realm`'s RIM for `role`."""
    claims = confml.decode_token(realm.attestation_token(NONCE))
    ref = {"rim": realm.rim}
    ref.update(role_ref)
    return confml.Policy(trust_anchors=[sim.cpak_public_point()], roles={role: [ref]},
                         sw_components=claims["platform"]["sw_components"])


def test_backends_and_capabilities(sim):
    assert {"none", "sim"} <= set(confml.tee_backend_names())
    caps = sim.capabilities()
    assert caps["isolation"]["supported"] and caps["attestation"]["supported"]
    assert not caps["host_memory_read"]["supported"]
    none = confml.tee_backend("none")
    assert none.name == "none"
    ncaps = none.capabilities()
    assert not ncaps["attestation"]["supported"] and ncaps["host_memory_read"]["supported"]
    with pytest.raises(confml.NotFoundError, match="sim"):
        confml.tee_backend("simm")
    with pytest.raises(confml.UnimplementedError):
        none.cpak_public_pem()


def test_rim_follows_image_and_params(sim, realm):
    assert len(realm.rim) == 32
    assert realm.rim == confml.reference_rim(IMAGE)
    changed = bytearray(IMAGE)
    changed[5000] ^= 1
    assert sim.create_realm(bytes(changed)).rim != realm.rim
    r512 = sim.create_realm(IMAGE, hash_algorithm="sha-512", num_recs=2)
    assert len(r512.rim) == 64
    assert r512.params["num_recs"] == 2 and r512.params["hash_algorithm"] == "sha-512"
    with pytest.raises(confml.InvalidArgumentError, match="did you mean 'num_recs'"):
        sim.create_realm(IMAGE, num_rec=2)
    with pytest.raises(ValueError, match="ipa_width"):
        sim.create_realm(IMAGE, ipa_width=60)


def test_rems_extend(sim):
    r = sim.create_realm(IMAGE)
    before = r.rems
    assert len(before) == 4 and all(b == bytes(32) for b in before)
    r.extend_measurement(1, b"model v1")
    after = r.rems
    assert after[0] != before[0] and after[1:] == before[1:]
    with pytest.raises(confml.InvalidArgumentError):
        r.extend_measurement(0, b"x")
    with pytest.raises(confml.InvalidArgumentError):
        r.extend_measurement(1, bytes(65))


def test_token_verifies_and_tamper_fails_named_check(sim, realm):
    token = realm.attestation_token(NONCE)
    claims = confml.decode_token(token)
    assert claims["realm"]["rim"] == realm.rim
    assert claims["realm"]["challenge"] == NONCE
    v = confml.verify_token(token, trust_anchors=[sim.cpak_public_pem()], nonce=NONCE)
    assert v.ok, v.to_json()
    checks = [c for c, _, _ in v.findings]
    assert checks[:6] == ["decode", "platform_signature", "realm_signature", "rak_binding",
                          "challenge", "platform_lifecycle"]
    assert json.loads(v.to_json())["ok"] is True
    assert v.claims["realm"]["rim"] == realm.rim

    # A flipped bit inside the realm token's signed payload (the RIM bytes).
    at = token.find(realm.rim)
    tampered = bytearray(token)
    tampered[at] ^= 0x01
    bad = confml.verify_token(bytes(tampered), trust_anchors=[sim.cpak_public_point()], nonce=NONCE)
    assert not bad.ok
    assert bad.failed_checks == ["realm_signature"]
    assert bad.find("realm_signature")[1] is False

    stale = confml.verify_token(token, trust_anchors=[sim.cpak_public_pem()], nonce=bytes(64))
    assert stale.failed_checks == ["challenge"]
    other = confml.tee_backend("sim", platform_seed="another simulated platform")
    foreign = confml.verify_token(token, trust_anchors=[other.cpak_public_pem()], nonce=NONCE)
    assert "platform_signature" in foreign.failed_checks
    garbage = confml.verify_token(b"\x00junk", trust_anchors=[sim.cpak_public_pem()], nonce=NONCE)
    assert garbage.failed_checks[0] == "decode" and garbage.claims is None
    with pytest.raises(confml.InvalidArgumentError):
        realm.attestation_token(b"short")


def test_policy_roles_and_signature(sim, realm):
    policy = platform_policy(sim, realm)
    token = realm.attestation_token(NONCE)
    v = confml.verify_token(token, nonce=NONCE, policy=policy, role="device")
    assert v.ok, v.to_json()
    assert confml.verify_token(token, nonce=NONCE, policy=policy, role="runtime").failed_checks[0] == "role"

    attacker = sim.create_realm(IMAGE + b"attack module")
    t2 = attacker.attestation_token(NONCE)
    refused = confml.verify_token(t2, nonce=NONCE, policy=policy, role="device")
    assert refused.failed_checks == ["rim"]

    key = confml.EcKey.generate()
    blob = policy.sign(key)
    assert confml.Policy.load_signed(blob, key.public_only()) == policy
    tampered = bytearray(blob)
    tampered[len(blob) // 2] ^= 0x40
    with pytest.raises(confml.UnauthenticatedError):
        confml.Policy.load_signed(bytes(tampered), key.public_only())
    with pytest.raises(confml.UnauthenticatedError):
        confml.Policy.load_signed(blob, confml.EcKey.generate().public_only())
    with pytest.raises(confml.InvalidArgumentError, match="did you mean 'rim'"):
        confml.Policy(roles={"device": [{"rimm": realm.rim}]})


def test_nonce_registry_rejects_replay(sim, realm):
    nonces = confml.NonceRegistry()
    n = nonces.issue()
    assert len(n) == 64 and nonces.outstanding == 1
    token = realm.attestation_token(n)
    anchors = [sim.cpak_public_pem()]
    assert confml.verify_token(token, trust_anchors=anchors, nonce=n, nonce_registry=nonces).ok
    replay = confml.verify_token(token, trust_anchors=anchors, nonce=n, nonce_registry=nonces)
    assert replay.failed_checks == ["challenge"]


def test_seal_unseal_and_isolation(sim, realm):
    blob = realm.seal(b"model weights")
    assert b"model weights" not in blob
    assert realm.unseal(blob) == b"model weights"
    other = sim.create_realm(IMAGE + b"\x01")
    with pytest.raises(confml.DataLossError):
        other.unseal(blob)
    with pytest.raises(confml.DataLossError):
        realm.unseal(blob[:-1] + bytes([blob[-1] ^ 1]))

    ipa = realm.load_ipa + realm.memory_size - 4096
    realm.write_memory(ipa, b"secret")
    assert realm.read_memory(ipa, 6) == b"secret"
    with pytest.raises(confml.PermissionDeniedError):
        realm.host_read(ipa, 6)
    plain = confml.tee_backend("none").create_realm(IMAGE)
    plain.write_memory(ipa, b"secret")
    assert plain.host_read(ipa, 6) == b"secret"
    with pytest.raises(confml.UnimplementedError):
        plain.attestation_token(NONCE)
    assert realm.cost()["tokens"] >= 1


def test_keys_roundtrip():
    k = confml.EcKey.from_seed(b"0123456789abcdef", "policy")
    again = confml.EcKey.from_private_pem(k.private_pem())
    assert again.public_point() == k.public_point() and len(k.public_point()) == 97
    pub = confml.EcKey.from_public_pem(k.public_pem())
    assert not pub.has_private_key
    with pytest.raises(confml.FailedPreconditionError):
        pub.private_pem()
    with pytest.raises(confml.InvalidArgumentError):
        confml.EcKey.from_public_point(b"\x04" + bytes(96))
