#!/usr/bin/env python3
"""Independent expected values for cvlan-ipsec's known-answer tests.

Computes the IKEv2 key schedule (RFC 7296 sections 2.13-2.18), PSK AUTH (2.15), ESP
seal (RFC 4303 / RFC 4106 / RFC 3602 + RFC 4868), the IKE SK payload (RFC 5282) and the
DH groups with Python's hashlib/hmac and the `cryptography` package — none of it shares
code with the Rust implementation. Writes vectors.rs next to this file:

    python3 ipsec/tests/kat/kat_gen.py
"""
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import serialization

H = bytes.fromhex
out = []


def emit(name, value):
    out.append(f'pub const {name}: &str = "{value.hex()}";')


def prf(key, data, h=hashlib.sha256):
    return hmac.new(key, data, h).digest()


def prf_plus(key, seed, n, h=hashlib.sha256):
    t, res, i = b"", b"", 1
    while len(res) < n:
        t = prf(key, t + seed + bytes([i]), h)
        res += t
        i += 1
    return res[:n]


# --- RFC 4231 test case 2, checked here so the constants in the test are known-good.
assert hmac.new(b"Jefe", b"what do ya want for nothing?", hashlib.sha256).hexdigest() == \
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

# --- prf+ with each PRF.
PK = bytes(range(1, 33))
SEED = b"prf+ seed for cvlan" * 3
emit("PRF_PLUS_KEY", PK)
emit("PRF_PLUS_SEED", SEED)
emit("PRF_PLUS_SHA256_100", prf_plus(PK, SEED, 100))
emit("PRF_PLUS_SHA384_150", prf_plus(PK, SEED, 150, hashlib.sha384))
emit("PRF_PLUS_SHA512_200", prf_plus(PK, SEED, 200, hashlib.sha512))

# --- x25519 (RFC 7748 section 6.1 keys; the shared secret is recomputed here).
A_PRIV = H("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
B_PUB = H("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
a = x25519.X25519PrivateKey.from_private_bytes(A_PRIV)
emit("X25519_PRIV", A_PRIV)
emit("X25519_PUB", a.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
emit("X25519_PEER", B_PUB)
X_SHARED = a.exchange(x25519.X25519PublicKey.from_public_bytes(B_PUB))
emit("X25519_SHARED", X_SHARED)

# --- ecp256: public value x|y and shared secret x (RFC 5903 encoding).
E_PRIV = hashlib.sha256(b"cvlan ecp256 initiator").digest()
E_PEER_PRIV = hashlib.sha256(b"cvlan ecp256 responder").digest()
e = ec.derive_private_key(int.from_bytes(E_PRIV, "big"), ec.SECP256R1())
ep = ec.derive_private_key(int.from_bytes(E_PEER_PRIV, "big"), ec.SECP256R1())
def xy(k):
    n = k.public_key().public_numbers()
    return n.x.to_bytes(32, "big") + n.y.to_bytes(32, "big")
emit("ECP256_PRIV", E_PRIV)
emit("ECP256_PUB", xy(e))
emit("ECP256_PEER", xy(ep))
E_SHARED = e.exchange(ec.ECDH(), ep.public_key())
emit("ECP256_SHARED", E_SHARED)

# --- modp2048 (RFC 3526 group 14, generator 2) with 256-bit exponents.
P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF", 16)
M_PRIV = hashlib.sha256(b"cvlan modp initiator").digest()
M_PEER_PRIV = hashlib.sha256(b"cvlan modp responder").digest()
M_PEER = pow(2, int.from_bytes(M_PEER_PRIV, "big"), P).to_bytes(256, "big")
emit("MODP_PRIV", M_PRIV)
emit("MODP_PUB", pow(2, int.from_bytes(M_PRIV, "big"), P).to_bytes(256, "big"))
emit("MODP_PEER", M_PEER)
emit("MODP_SHARED", pow(int.from_bytes(M_PEER, "big"), int.from_bytes(M_PRIV, "big"), P).to_bytes(256, "big"))

# --- IKE SA key schedule: aes256gcm16-prfsha256-x25519 (SK_a* empty; SK_e* = 32 + 4 salt).
NI = bytes(range(0x10, 0x30))
NR = bytes(range(0x40, 0x60))
SPI_I = H("0102030405060708")
SPI_R = H("a1a2a3a4a5a6a7a8")
emit("NI", NI)
emit("NR", NR)
SKEYSEED = prf(NI + NR, X_SHARED)
emit("GCM_SKEYSEED", SKEYSEED)
km = prf_plus(SKEYSEED, NI + NR + SPI_I + SPI_R, 32 * 3 + 36 * 2)
parts = {}
at = 0
for name, n in [("D", 32), ("AI", 0), ("AR", 0), ("EI", 36), ("ER", 36), ("PI", 32), ("PR", 32)]:
    parts[name] = km[at:at + n]
    at += n
for k, v in parts.items():
    emit(f"GCM_SK_{k}", v)

# --- aes256-sha256-ecp256: SK_a* 32 bytes, SK_e* 32 bytes.
SK2 = prf(NI + NR, E_SHARED)
emit("CBC_SKEYSEED", SK2)
km = prf_plus(SK2, NI + NR + SPI_I + SPI_R, 32 * 3 + 32 * 2 + 32 * 2)
at = 0
for name, n in [("D", 32), ("AI", 32), ("AR", 32), ("EI", 32), ("ER", 32), ("PI", 32), ("PR", 32)]:
    emit(f"CBC_SK_{name}", km[at:at + n])
    at += n

# --- IKE rekey: SKEYSEED = prf(SK_d(old), g^ir(new) | Ni | Nr).
emit("REKEY_SKEYSEED", prf(parts["D"], E_SHARED + NI + NR))

# --- Child SA KEYMAT from the GCM SA's SK_d.
# aes256gcm16 without PFS: 36 bytes each way.
km = prf_plus(parts["D"], NI + NR, 72)
emit("CHILD_GCM_EI", km[:36])
emit("CHILD_GCM_ER", km[36:])
# aes256-sha256 with PFS (the modp2048 secret): enc 32 + integ 32, each way.
km = prf_plus(parts["D"], pow(int.from_bytes(M_PEER, "big"), int.from_bytes(M_PRIV, "big"), P).to_bytes(256, "big") + NI + NR, 128)
emit("CHILD_CBC_EI", km[0:32])
emit("CHILD_CBC_AI", km[32:64])
emit("CHILD_CBC_ER", km[64:96])
emit("CHILD_CBC_AR", km[96:128])

# --- PSK AUTH for the initiator (RFC 7296 section 2.15).
PSK = b"labsecret-0123456789"
MSG1 = b"\x00" * 8 + b"IKE_SA_INIT request bytes stand-in"
IDI_BODY = bytes([2, 0, 0, 0]) + b"branch17.acme.example"
emit("AUTH_MSG1", MSG1)
emit("AUTH_I", prf(prf(PSK, b"Key Pad for IKEv2"), MSG1 + NR + prf(parts["PI"], IDI_BODY)))

# --- ESP seal, AES-256-GCM-16: IV = 64-bit sequence number, AAD = SPI | seq.
ESP_SPI = H("c0ffee01")
INNER = H("450000240000400040110000c0a80a01c0a80b01303900350010000068656c6c6f212121")
emit("ESP_INNER", INNER)
def esp_trailer(inner, align):
    pad = (align - (len(inner) + 2) % align) % align
    return inner + bytes(range(1, pad + 1)) + bytes([pad, 4])
seq = (1).to_bytes(4, "big")
iv = (1).to_bytes(8, "big")
key, salt = parts["EI"][:32], parts["EI"][32:]
ct = AESGCM(key).encrypt(salt + iv, esp_trailer(INNER, 4), ESP_SPI + seq)
emit("ESP_GCM_KEY", parts["EI"])
emit("ESP_GCM_PACKET", ESP_SPI + seq + iv + ct)

# --- ESP seal, AES-256-CBC + HMAC-SHA-256-128: IV = AES_K(0^8 | seq64), ICV over SPI..ct.
ekey, akey = km[0:32], km[32:64]
enc = Cipher(algorithms.AES(ekey), modes.ECB()).encryptor()
cbc_iv = enc.update(bytes(8) + (1).to_bytes(8, "big")) + enc.finalize()
body = esp_trailer(INNER, 16)
c = Cipher(algorithms.AES(ekey), modes.CBC(cbc_iv)).encryptor()
ct = c.update(body) + c.finalize()
signed = ESP_SPI + seq + cbc_iv + ct
emit("ESP_CBC_PACKET", signed + hmac.new(akey, signed, hashlib.sha256).digest()[:16])

# --- IKE SK payload with AES-GCM: header | SK header | IV(=counter 1) | ct | ICV.
def ike_gcm(first_inner, inner):
    plain = inner + bytes([0])  # no padding, pad length 0
    sk_len = 4 + 8 + len(plain) + 16
    total = 28 + sk_len
    header = SPI_I + SPI_R + bytes([46, 0x20, 37, 0x08]) + (2).to_bytes(4, "big") + total.to_bytes(4, "big")
    skh = bytes([first_inner, 0]) + sk_len.to_bytes(2, "big")
    iv = (1).to_bytes(8, "big")
    ct = AESGCM(parts["EI"][:32]).encrypt(parts["EI"][32:] + iv, plain, header + skh)
    return header + skh + iv + ct
# Inner: a Delete payload for the IKE SA (protocol 1, SPI size 0, 0 SPIs).
DELETE_IKE = bytes([0, 0, 0, 8, 1, 0, 0, 0])
emit("SK_GCM_MESSAGE", ike_gcm(42, DELETE_IKE))

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "vectors.rs"), "w") as f:
    f.write("//! Generated by kat_gen.py (Python hashlib/hmac and `cryptography`); do not edit.\n\n")
    f.write("\n".join(out) + "\n")
print(f"wrote {len(out)} vectors")
