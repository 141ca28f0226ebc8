#!/usr/bin/env python3
"""bomb_seeds.py - seed inputs of the decompression-bomb shape for both fuzzers.

usage: bomb_seeds.py snapshot|protocol CORPUS_DIR

Each seed is a valid snapshot container (magic, version, CRCs) whose zstd frame is built by hand
from RLE blocks (4 bytes per 128 KiB of zeros), so a few KiB claim hundreds of MiB: with a valid
payload start and a frame count that fits the claim ("lying counts"), and without. The protocol
seeds carry the same containers in Snapshot and Update frames after an agent Hello.
"""
import os
import struct
import sys
import zlib

MAGIC = b"NMLKSNAP"
VERSION = 1


def zstd_rle_frame(prefix: bytes, total: int) -> bytes:
    out = bytearray(struct.pack("<I", 0xFD2FB528))
    out += bytes([0xC0, (17 - 10) << 3]) + struct.pack("<Q", total)  # 8-byte content size, 128 KiB window

    def block(kind, size, last):
        h = (size << 3) | (kind << 1) | (1 if last else 0)
        out.extend(bytes([h & 255, (h >> 8) & 255, (h >> 16) & 255]))

    left = total
    for at in range(0, len(prefix), 128 << 10):
        chunk = prefix[at:at + (128 << 10)]
        left -= len(chunk)
        block(0, len(chunk), left == 0)
        out += chunk
    while left > 0:
        n = min(left, 128 << 10)
        left -= n
        block(1, n, left == 0)
        out.append(0)
    return bytes(out)


def container(stored: bytes, payload_size: int) -> bytes:
    head = MAGIC + struct.pack("<IIQQI", VERSION, 1, payload_size, len(stored), zlib.crc32(stored))
    return head + struct.pack("<I", zlib.crc32(head)) + stored


def payload_prefix(frames: int) -> bytes:
    # pid, empty command/executable/hostname, start and snapshot times, stack depth, no modules.
    return struct.pack("<iIIIQQII", 4242, 0, 0, 0, 0, 0, 16, 0) + struct.pack("<I", frames)


def bombs():
    yield "bomb-zeros-512m", container(zstd_rle_frame(payload_prefix(0), 512 << 20), 512 << 20)
    yield "bomb-counts-4m", container(zstd_rle_frame(payload_prefix(100000), 4 << 20), 4 << 20)
    yield "bomb-counts-huge", container(zstd_rle_frame(payload_prefix(0xFFFFFFFF), 4 << 20), 4 << 20)


def frame(kind: int, seq: int, payload: bytes) -> bytes:
    return struct.pack("<IHHI", len(payload), kind, 0, seq) + payload


def main():
    target, corpus = sys.argv[1], sys.argv[2]
    os.makedirs(corpus, exist_ok=True)
    for name, data in bombs():
        if target == "snapshot":
            path = os.path.join(corpus, "seed-" + name + ".nmsnap")
            blob = data
        else:
            cmd = b"cmd"
            hello = (b"NMLKPROT" + struct.pack("<IIIIIQ", 1, 4242, 1000, 200, 32, 0)
                     + struct.pack("<I", len(cmd)) + cmd + struct.pack("<I", 0) + struct.pack("<I", 1) + b"1")
            blob = b"\x3e" + frame(0x01, 0, hello) + frame(0x10, 0, data) + frame(0x11, 1, data)
            path = os.path.join(corpus, "seed-" + name)
        with open(path, "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main()
