#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Grant system:anyuser all rights on the root directory of a volume dump.

afsacl.py DUMP  (rewritten in place)

A new OpenAFS volume's root ACL grants only system:administrators, and
kAFS without a token is anonymous; with no OpenAFS cache manager there is
no `fs setacl`. So the ACL is patched in a `vos dump`, restored with `vos
restore -overwrite full`. The dump: a D_VNODE tag (3), the vnode number and
uniquifier (root: 1, 1), then one-letter tagged fields up to the ACL ('A':
192 bytes, struct acl_accessList in network byte order: size, version,
total, positive, negative, then (id, rights) pairs).
"""
import struct
import sys

ANYUSER, ADMINS, ALL = -101, -204, 0x7F
FIELDS = {b"t": 1, b"l": 2, b"v": 4, b"m": 4, b"a": 4, b"o": 4, b"g": 4,
          b"b": 2, b"p": 4, b"s": 4}


def main():
    path = sys.argv[1]
    data = bytearray(open(path, "rb").read())
    pos = data.find(b"\x03" + struct.pack(">II", 1, 1))
    if pos < 0:
        sys.exit("afsacl: no root vnode in " + path)
    pos += 9
    while data[pos:pos + 1] != b"A":
        tag = bytes(data[pos:pos + 1])
        if tag not in FIELDS:
            sys.exit("afsacl: unexpected vnode tag %r at %d" % (tag, pos))
        pos += 1 + FIELDS[tag]
    acl = pos + 1
    size, version, total, positive, negative = struct.unpack_from(">5i", data, acl)
    entries = [struct.unpack_from(">2i", data, acl + 20 + 8 * i) for i in range(total)]
    if version != 1 or negative != 0 or total != positive:
        sys.exit("afsacl: unexpected ACL %r" % ((size, version, total, positive, negative),))
    if (ANYUSER, ALL) in entries:
        return
    entries = [e for e in entries if e[0] != ANYUSER] + [(ANYUSER, ALL)]
    n = len(entries)
    block = struct.pack(">5i", 28 + 8 * (n - 1), version, n, n, 0)
    for e in entries:
        block += struct.pack(">2i", *e)
    data[acl:acl + 192] = block.ljust(192, b"\0")
    open(path, "wb").write(data)
    print("afsacl: root ACL", ", ".join("%d:0x%x" % e for e in entries))


if __name__ == "__main__":
    main()
