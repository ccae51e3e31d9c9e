#!/usr/bin/env python3
"""Cross-check of the docs/protocol.md test vectors with an independent implementation.

A plaintext codec written from the document alone re-encodes each vector's plaintext from its
channels and samples and decodes it back; each decode vector is accepted as its block or refused
as published; each link text is parsed by the document's rule. Then each vector's sealed payload
is rebuilt from its key, serial, counter, key generation and plaintext using only the
`cryptography` package (HKDF-SHA-256, AES-128-ECB for the IV, AES-128-CBC + PKCS#7, HMAC-SHA-256
truncated to 16 bytes) and compared with the published payload_hex and the base64url link. A
firmware team can start from this file.

Run: python3 crates/logvault-protocol/tests/crosscheck_vectors.py
"""

import base64
import pathlib
import re
import sys

from cryptography.hazmat.primitives import hashes, hmac, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "protocol.md"



MASK64 = (1 << 64) - 1
QUANTITIES = {"temperature": 1, "relative_humidity": 2}
I32 = (-(1 << 31), (1 << 31) - 1)
MAX_CODES = 1 << 30


class Bits:
    def __init__(self):
        self.bits = []

    def bit(self, b):
        self.bits.append(1 if b else 0)

    def uint(self, value, n):
        for i in reversed(range(n)):
            self.bits.append((value >> i) & 1)

    def varint(self, value):
        while True:
            group, value = value & 0x7F, value >> 7
            self.uint(group | (0x80 if value else 0), 8)
            if not value:
                return

    def finish(self):
        bits = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))


class Reader:
    def __init__(self, data):
        self.bits = [(byte >> (7 - i)) & 1 for byte in data for i in range(8)]
        self.pos = 0

    def bit(self):
        if self.pos >= len(self.bits):
            raise ValueError("truncated")
        self.pos += 1
        return self.bits[self.pos - 1]

    def uint(self, n):
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def varint(self):
        value = 0
        for idx in range(10):
            byte = self.uint(8)
            group = byte & 0x7F
            if idx == 9 and group > 1:
                raise ValueError("varint overflow")
            value |= group << (7 * idx)
            if not byte & 0x80:
                if idx > 0 and group == 0:
                    raise ValueError("overlong varint")
                return value
        raise ValueError("varint too long")

    def finish(self):
        left = len(self.bits) - self.pos
        if left >= 8 or any(self.bits[self.pos:]):
            raise ValueError("trailing bits")


def zigzag(v):
    return ((v << 1) ^ (v >> 63)) & MASK64


def unzigzag(u):
    return (u >> 1) ^ -(u & 1)


def signed64(u):
    u &= MASK64
    return u - (1 << 64) if u >> 63 else u


class Rice:
    def __init__(self):
        self.a, self.n = 1, 1

    def k(self):
        k = 0
        while k < 56 and (self.n << k) < self.a:
            k += 1
        return k

    def update(self, v):
        self.a = min(self.a + v, MASK64)
        self.n += 1
        if self.n >= 64:
            self.a >>= 1
            self.n >>= 1

    def cost(self, v):
        k = self.k()
        bits = (v >> k) + 1 + k if (v >> k) < 16 else 16 + 6 + v.bit_length() - 1
        self.update(v)
        return bits

    def write(self, w, v):
        k = self.k()
        if (v >> k) < 16:
            w.uint((1 << (v >> k)) - 1, v >> k)
            w.bit(0)
            w.uint(v & ((1 << k) - 1), k)
        else:
            w.uint(0xFFFF, 16)
            w.uint(v.bit_length() - 1, 6)
            w.uint(v & ((1 << (v.bit_length() - 1)) - 1), v.bit_length() - 1)
        self.update(v)

    def read(self, r):
        k = self.k()
        q = 0
        while q < 16 and r.bit():
            q += 1
        if q < 16:
            v = (q << k) | r.uint(k)
        else:
            n = r.uint(6) + 1
            v = (1 << (n - 1)) | r.uint(n - 1)
            if (v >> k) < 16:
                raise ValueError("needless escape")
        self.update(v)
        return v


def varint_bits(v):
    return -(-max(v.bit_length(), 1) // 7) * 8


def table_codes(lowest, ranges):
    """ranges: [(step, upper)] -> [(lower, step, n_steps, first_code)]; checks every rule of the spec."""
    if not 1 <= len(ranges) <= 16 or not I32[0] <= lowest <= I32[1]:
        raise ValueError("bad table")
    out, lower, code = [], lowest, 0
    for step, upper in ranges:
        if step < 1 or not I32[0] <= upper <= I32[1] or upper <= lower or (upper - lower) % step:
            raise ValueError("bad range")
        n_steps = (upper - lower) // step
        out.append((lower, step, n_steps, code))
        code += n_steps
        lower = upper
    if code + 1 > MAX_CODES:  # the closing bound is a grid value too
        raise ValueError("too many codes")
    return out


def code_of(table, value):
    for idx, (lower, step, n_steps, first) in enumerate(table):
        last = idx == len(table) - 1
        if lower <= value < lower + step * n_steps or (last and value == lower + step * n_steps):
            if (value - lower) % step:
                raise ValueError("value off the grid")
            return first + (value - lower) // step
    raise ValueError("value outside the table")


def value_of(table, code):
    for lower, step, n_steps, first in reversed(table):
        if code >= first:
            if code - first > n_steps:
                raise ValueError("code beyond the table")
            return lower + (code - first) * step
    raise ValueError("negative code")


def base_interval(deltas):
    counts = {}
    for d in deltas:
        counts[d] = counts.get(d, 0) + 1
    return min(counts, key=lambda d: (-counts[d], d)) if counts else 0


def encode(counter, channels, samples):
    """channels: [(quantity, lowest, [(step, upper)])]; samples: [(time, [values])]."""
    w = Bits()
    w.varint(counter)
    w.uint(len(channels), 8)
    tables = []
    for quantity, lowest, ranges in channels:
        table = table_codes(lowest, ranges)
        tables.append(table)
        w.uint(QUANTITIES[quantity], 8)
        w.varint(zigzag(lowest))
        w.varint(len(table))
        for _, step, n_steps, _ in table:
            w.varint(step)
            w.varint(n_steps)
    w.varint(len(samples))
    if not samples:
        return w.finish()
    times = [t for t, _ in samples]
    w.varint(zigzag(times[0]))
    deltas = [(b - a) & MASK64 for a, b in zip(times, times[1:])]
    base = base_interval(deltas)
    w.varint(base)
    exceptions, last = [], -1
    for idx, d in enumerate(deltas):
        if d != base:
            exceptions.append((idx - last - 1, d))
            last = idx
    exception_bits = varint_bits(len(exceptions)) + sum(varint_bits(g) + varint_bits(d) for g, d in exceptions)
    rice = Rice()
    rice_bits = sum(rice.cost(zigzag(signed64(d - base))) for d in deltas)
    if exception_bits <= rice_bits:
        w.bit(0)
        w.varint(len(exceptions))
        for gap, d in exceptions:
            w.varint(gap)
            w.varint(d)
    else:
        w.bit(1)
        rice = Rice()
        for d in deltas:
            rice.write(w, zigzag(signed64(d - base)))
    for idx, table in enumerate(tables):
        codes = [code_of(table, values[idx]) for _, values in samples]
        w.varint(codes[0])
        rice = Rice()
        for a, b in zip(codes, codes[1:]):
            rice.write(w, zigzag(b - a))
    return w.finish()


def decode(data):
    """Returns (counter, channels, samples) or raises ValueError."""
    r = Reader(data)
    counter = r.varint()
    n_channels = r.uint(8)
    if not 1 <= n_channels <= 16:
        raise ValueError("channel count")
    channels, tables = [], []
    names = {v: k for k, v in QUANTITIES.items()}
    for _ in range(n_channels):
        quantity = names.get(r.uint(8))
        if quantity is None:
            raise ValueError("unknown quantity")
        lowest = unzigzag(r.varint())
        n_ranges = r.varint()
        if not 1 <= n_ranges <= 16:
            raise ValueError("range count")
        ranges, lower = [], lowest
        for _ in range(n_ranges):
            step, n_steps = r.varint(), r.varint()
            if n_steps < 1:
                raise ValueError("empty range")
            lower += step * n_steps
            ranges.append((step, lower))
        tables.append(table_codes(lowest, ranges))
        channels.append((quantity, lowest, ranges))
    n_samples = r.varint()
    if n_samples > 1 << 20:
        raise ValueError("too many samples")
    samples = []
    if n_samples:
        time = unzigzag(r.varint())
        base = r.varint()
        n_deltas = n_samples - 1
        deltas = [base] * n_deltas
        if r.bit() == 0:
            n_exceptions = r.varint()
            if n_exceptions > n_deltas:
                raise ValueError("too many exceptions")
            idx = 0
            for _ in range(n_exceptions):
                idx += r.varint()  # the first gap counts from the first delta
                d = r.varint()
                if d == base or idx >= n_deltas:
                    raise ValueError("bad exception")
                deltas[idx] = d
                idx += 1
        else:
            rice = Rice()
            deltas = [(base + unzigzag(rice.read(r))) & MASK64 for _ in range(n_deltas)]
        times = [time]
        for d in deltas:
            time += d
            if time > (1 << 63) - 1:
                raise ValueError("time overflow")
            times.append(time)
        columns = []
        for table in tables:
            n_codes = table[-1][2] + table[-1][3] + 1
            code = r.varint()
            rice = Rice()
            codes = [code]
            for _ in range(n_deltas):
                code += unzigzag(rice.read(r))
                codes.append(code)
            if any(not 0 <= c < n_codes for c in codes):
                raise ValueError("code out of range")
            columns.append([value_of(table, c) for c in codes])
        samples = [(t, [col[i] for col in columns]) for i, t in enumerate(times)]
    r.finish()
    return counter, channels, samples


def from_link(text):
    """The sealed bytes of a link or bare payload (docs/protocol.md, Text forms), or None."""
    text = text.strip()
    payload = text.rsplit("#", 1)[-1]
    if not payload or not re.fullmatch(r"[A-Za-z0-9_-]+", payload) or len(payload) % 4 == 1:
        return None
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return data if base64.urlsafe_b64encode(data).decode().rstrip("=") == payload else None


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


def fenced(fence):
    """The `name: value` lines of each block fenced by FENCE, as lists of pairs."""
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line == fence:
            current = []
        elif line == "```" and current is not None:
            yield current
            current = None
        elif current is not None:
            name, value = line.split(":", 1)
            current.append((name.strip(), value.strip()))


def link_texts():
    inside = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line == "```link-texts":
            inside = True
        elif line == "```":
            inside = False
        elif inside:
            yield line


def block_of(fields):
    """(counter, channels, samples) from a vector's channel and sample lines."""
    channels, samples = [], []
    for name, value in fields:
        words = value.split()
        if name == "channel":
            ranges = [tuple(int(x) for x in word.split(":")) for word in words[2:]]
            channels.append((words[0], int(words[1]), ranges))
        elif name == "sample":
            samples.append((int(words[0]), [int(x) for x in words[1:]]))
    return int(dict(fields)["counter"]), channels, samples


def main() -> int:
    count = 0
    for fields in fenced("```vector"):
        vector = dict(fields)
        block = block_of(fields)
        plaintext = encode(*block)
        assert plaintext.hex() == vector["plaintext_hex"], f"{vector['name']}: plaintext differs"
        assert decode(plaintext) == block, f"{vector['name']}: does not decode back"
        sealed = seal(
            bytes.fromhex(vector["key"]),
            int(vector["key_generation"]),
            vector["serial"].encode("ascii"),
            int(vector["counter"]),
            plaintext,
        )
        assert sealed.hex() == vector["payload_hex"], f"{vector['name']}: payload differs"
        link = vector["base_url"].rstrip("/") + "/l#" + base64.urlsafe_b64encode(sealed).decode().rstrip("=")
        assert link == vector["link"], f"{vector['name']}: link differs"
        assert from_link(link) == sealed, f"{vector['name']}: link does not parse back"
        count += 1
    assert count >= 6, f"only {count} vectors found"
    n_decode = 0
    for fields in fenced("```decode-vector"):
        vector = dict(fields)
        try:
            decoded = decode(bytes.fromhex(vector["plaintext_hex"]))
        except (ValueError, KeyError):
            decoded = None
        if vector.get("result") == "refused":
            assert decoded is None, f"{vector['name']}: decoded although refused"
        else:
            assert decoded == block_of(fields), f"{vector['name']}: decodes to {decoded}"
        n_decode += 1
    assert n_decode >= 10, f"only {n_decode} decode vectors found"
    n_links = 0
    for line in link_texts():
        verdict, rest = line.split(" ", 1)
        if verdict == "accept":
            expected, text = rest.split(" ", 1)
            assert from_link(text) == bytes.fromhex(expected), f"link text {text!r}"
        else:
            assert verdict == "refuse" and from_link(rest) is None, f"link text {rest!r}"
        n_links += 1
    assert n_links >= 8, f"only {n_links} link texts found"
    print(f"{count} vectors, {n_decode} decode vectors, {n_links} link texts passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
