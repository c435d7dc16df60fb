#!/usr/bin/env python3
"""e2e_place.py: spread deliveries evenly over the partitions of kafka-mock.

Usage: e2e_place.py [--hash] PARTITIONS OUTDIR FILE...

librdkafka's mock cluster keeps about 5 MiB per partition: when a message
set is appended and the partition holds more than 5 MiB with it, the oldest
message sets are deleted (rdkafka_mock.c, max_size = 5 MiB). `ddas-worker
submit` keys every message of a delivery by its delivery id, and the
default partitioner (consistent_random) puts key K on partition
crc32(K) % PARTITIONS. Hashing alone would pile several deliveries on some
partitions and lose the oldest ones to retention, so this script gives
delivery i the partition i % PARTITIONS: it makes a symbolic link
OUTDIR/<name>-s<j>.json to FILE, choosing j so that the default delivery id
of the link (`submit`'s default: the file name with characters outside
[A-Za-z0-9_-] replaced by '_' and the '.json' suffix dropped, '-', then the
first 6 bytes of the SHA-256 of the content in hex) hashes to that
partition. The content is untouched.

--hash links every file under its own name and reports the partition the
default partitioner will choose (no spreading: to show what retention does).

Prints one line per link: LINK DELIVERY_ID PARTITION BYTES. bench/run-e2e
checks the placement afterwards with kcat (partition and key of every
message) and accounts for every record.
"""

import hashlib
import os
import re
import sys
import zlib


def default_id(name, content_sha):
    base = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    if len(base) > 5 and base.endswith("_json"):
        base = base[:-5]
    return "%s-%s" % (base, content_sha[:12])


def main():
    args = sys.argv[1:]
    spread = True
    if args and args[0] == "--hash":
        spread = False
        args = args[1:]
    if len(args) < 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    parts = int(args[0])
    outdir = args[1]
    os.makedirs(outdir, exist_ok=True)
    for i, path in enumerate(args[2:]):
        h = hashlib.sha256()
        size = 0
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
                size += len(block)
        sha = h.hexdigest()
        stem = os.path.basename(path)
        if stem.endswith(".json"):
            stem = stem[:-5]
        if not spread:
            name = os.path.basename(path)
            did = default_id(name, sha)
            link = os.path.join(outdir, name)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(os.path.abspath(path), link)
            print("%s %s %d %d" % (link, did, zlib.crc32(did.encode()) % parts, size))
            continue
        want = i % parts
        for j in range(1000000):
            name = "%s-s%d.json" % (stem, j)
            did = default_id(name, sha)
            if zlib.crc32(did.encode()) % parts == want:
                break
        else:
            print("e2e_place.py: no name found for %s" % path, file=sys.stderr)
            return 1
        link = os.path.join(outdir, name)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.abspath(path), link)
        print("%s %s %d %d" % (link, did, want, size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
