#!/usr/bin/env python3
"""Cross-check of the docs/protocol.md test vectors with an independent implementation.

Rebuilds each vector's sealed payload from its key, serial, counter, key generation and
plaintext using only the `cryptography` package (HKDF-SHA-256, AES-128-ECB for the IV,
AES-128-CBC + PKCS#7, HMAC-SHA-256 truncated to 16 bytes), then compares it with the published
payload_hex and the base64url link. A firmware team can start from this file.

Run: python3 crates/logvault-protocol/tests/crosscheck_vectors.py
"""

import base64
import pathlib
import sys

from cryptography.hazmat.primitives import hashes, hmac, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "protocol.md"


def hkdf(key: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=b"logvault block v1", info=info).derive(key)


def seal(key: bytes, key_generation: int, serial: bytes, counter: int, plaintext: bytes) -> bytes:
    k_enc = hkdf(key, b"logvault v1 aes-128-cbc key", 16)
    k_mac = hkdf(key, b"logvault v1 hmac-sha-256 key", 32)
    k_iv = hkdf(key, b"logvault v1 iv key", 16)
    ecb = Cipher(algorithms.AES(k_iv), modes.ECB()).encryptor()
    iv = ecb.update(bytes(8) + counter.to_bytes(8, "big")) + ecb.finalize()
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    cbc = Cipher(algorithms.AES(k_enc), modes.CBC(iv)).encryptor()
    ciphertext = cbc.update(padded) + cbc.finalize()
    out = bytes([1, 1, key_generation, len(serial)]) + serial + iv + ciphertext
    mac = hmac.HMAC(k_mac, hashes.SHA256())
    mac.update(out)
    return out + mac.finalize()[:16]


def vectors():
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line == "```vector":
            current = {}
        elif line == "```" and current is not None:
            yield current
            current = None
        elif current is not None:
            name, value = line.split(":", 1)
            current.setdefault(name.strip(), value.strip())


def main() -> int:
    count = 0
    for vector in vectors():
        sealed = seal(
            bytes.fromhex(vector["key"]),
            int(vector["key_generation"]),
            vector["serial"].encode("ascii"),
            int(vector["counter"]),
            bytes.fromhex(vector["plaintext_hex"]),
        )
        assert sealed.hex() == vector["payload_hex"], f"{vector['name']}: payload differs"
        link = vector["base_url"].rstrip("/") + "/l#" + base64.urlsafe_b64encode(sealed).decode().rstrip("=")
        assert link == vector["link"], f"{vector['name']}: link differs"
        count += 1
    assert count >= 3, f"only {count} vectors found"
    print(f"{count} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
