#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check cifs's credit contract in an ftrace of netfs:netfs_sreq and
cifs:smb3_rw_credits events, whichever engine issued the uploads.

cifs_credits.py --wsize BYTES [--max-credits N] [--need-limited] TRACE

cifs_prepare_write() takes credits for an upload subrequest and sets the
stream's limit to min(wsize, credits * 64 KiB), or to 64 KiB with no
credits at all when the server has 8 or fewer left (smb2_wait_mtu_credits);
it traces "wr-prepare cred=N". An engine must call prepare_write before
every submission of a subrequest (a retry included: the credits of the
first attempt are gone), and never send more than that limit. So, for
every upload subrequest (R=request[index]) submitted (netfs_sreq SUBMT):
  - a wr-prepare of that subrequest came after its previous submission;
  - its length is within the limit that wr-prepare gave.
--max-credits N: the server was told to grant at most N credits (Samba's
smb2 max credits): the credits taken plus those left (pool) never exceed
it. --need-limited: at least one submission was cut below wsize by the
credits (otherwise the test did not test credits). Prints the counts, the
distinct limits, and an excerpt of each retried subrequest's events.
Only requests that cifs traced credits for are checked: the trace also
holds the uploads of other netfs filesystems (the 9p run share the logs go
to), which take no credits. A retried upload that starts inside a piece
that failed, or ends before that piece's end, is counted as split (what
the piece's fresh credits allowed was less than the piece). Exits 1 on any violation.
"""
import argparse
import collections
import re
import sys

SMB2_MAX_BUFFER_SIZE = 65536
SREQ = re.compile(r"netfs_sreq: R=([0-9a-f]+)\[([0-9a-f]+)\] (\S+) (\S+)\s+f=([0-9a-f]+) "
                  r"s=([0-9a-f]+) ([0-9a-f]+)/([0-9a-f]+) s=(\d+) e=(-?\d+)")
CRED = re.compile(r"smb3_rw_credits: R=([0-9a-f]+)\[([0-9a-f]+)\] (\S+)\s+cred=(\d+) chg=(-?\d+) "
                  r"pool=(\d+) ifl=(-?\d+)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--wsize", type=int, required=True)
    ap.add_argument("--max-credits", type=int, default=0)
    ap.add_argument("--need-limited", action="store_true")
    a = ap.parse_args()

    prepared = {}           # (R, index) -> credits of its last wr-prepare, unused yet
    events = collections.defaultdict(list)
    retried = []
    bad = []
    limits = collections.Counter()
    submits = limited = prepares = pool_max = sent = 0
    lines = open(a.trace, errors="replace").read().splitlines()
    cifs_reqs = {m.group(1) for m in map(CRED.search, lines) if m}
    ignored = splits = 0
    failed = collections.defaultdict(list)   # R -> [(start, len)] of pieces to retry
    retry_span = {}                          # (R, index) -> span length at RETRY
    split_keys = []
    term_line = {}
    for n, line in enumerate(lines, 1):
        m = CRED.search(line)
        if m:
            if m.group(3) != "wr-prepare":
                continue
            key = (m.group(1), int(m.group(2), 16))
            cred, pool = int(m.group(4)), int(m.group(6))
            prepared[key] = cred
            prepares += 1
            pool_max = max(pool_max, cred + pool)
            events[key].append(line.strip())
            if a.max_credits and cred + pool > a.max_credits:
                bad.append("line %d: %d credits taken + %d left > smb2 max credits %d: %s"
                           % (n, cred, pool, a.max_credits, line.strip()))
            continue
        m = SREQ.search(line)
        if not m or m.group(3) != "UPLD":
            continue
        key = (m.group(1), int(m.group(2), 16))
        if key[0] not in cifs_reqs:
            ignored += m.group(4) == "SUBMT"
            continue
        what = m.group(4)
        flags, start, length = int(m.group(5), 16), int(m.group(6), 16), int(m.group(8), 16)
        events[key].append(line.strip())
        if what == "TERM" and int(m.group(10)) != 0:
            failed[key[0]].append((start, length))
            term_line[(key[0], start, length)] = line.strip()
        if what == "RETRY":
            if key not in retry_span:
                retried.append(key)
            retry_span[key] = length
        if what != "SUBMT":
            continue
        submits += 1
        sent += length
        if key in retry_span:
            retry_span.pop(key)
            # The last failed piece it resends part of: a split if it
            # does not resend all of it.
            for s0, l0 in reversed(failed[key[0]]):
                if s0 <= start < s0 + l0:
                    if start > s0 or start + length < s0 + l0:
                        splits += 1
                        split_keys.append((key, s0, l0))
                    break
        if key not in prepared:
            bad.append("line %d: R=%s[%x] submitted without a fresh prepare_write: %s"
                       % (n, key[0], key[1], line.strip()))
            continue
        cred = prepared.pop(key)
        limit = min(a.wsize, cred * SMB2_MAX_BUFFER_SIZE) if cred else SMB2_MAX_BUFFER_SIZE
        limits[limit] += 1
        if limit < a.wsize:
            limited += 1
        if length > limit:
            bad.append("line %d: R=%s[%x] sent %d bytes, its limit was %d (%d credits): %s"
                       % (n, key[0], key[1], length, limit, cred, line.strip()))

    print("cifs_credits: %d upload submissions, %d prepares, %d cut below wsize %d by credits, "
          "%d retried (%d split); most credits seen (taken + left) %d; "
          "%d submissions of other filesystems ignored"
          % (submits, prepares, limited, a.wsize, len(retried), splits, pool_max, ignored))
    print("cifs_credits: mean submission %d bytes" % (sent // submits if submits else 0))
    print("cifs_credits: limits (bytes: submissions): " +
          ", ".join("%d: %d" % kv for kv in sorted(limits.items())))
    for key, s0, l0 in split_keys[:3]:
        print("cifs_credits: split on retry: R=%s[%x] resends part of the failed piece %x+%x:" % (key + (s0, l0)))
        print("    " + term_line[(key[0], s0, l0)])
        for e in events[key][:6]:
            print("    " + e)
    for key in retried[:3]:
        print("cifs_credits: retried R=%s[%x]:" % key)
        for e in events[key][:8]:
            print("    " + e)
    if submits == 0:
        bad.append("no upload submission in the trace")
    if a.need_limited and limited == 0:
        bad.append("no submission was limited by credits: the credit cap did not bite")
    for b in bad[:20]:
        print("cifs_credits: VIOLATION " + b)
    if len(bad) > 20:
        print("cifs_credits: ... %d violations in all" % len(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
