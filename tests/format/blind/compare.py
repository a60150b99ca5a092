#!/usr/bin/env python3
"""format.blind_reader: blind_reader.py against dump_state (the firmware's view) over many
configurations: uncut workloads, power cuts (torn or not, the image left as cut or carried on),
worn blocks, another program size, images damaged here, and version 1 journals made by mkv1.py.

Written with blind_reader.py and mkv1.py by a helper that read docs/FORMAT.md and nothing else of
the project (2026-11-29), running dump_state as a black box; adapted for ctest (dump_state path,
emulator prefix, temporary directory, exit status).

usage: compare.py DUMP_STATE [N_PER_GEOMETRY] [--fields f1,f2] [--show K] [--seed S]
Exit 0 if every configuration agrees on every field.
"""
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
DUMP = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, 'dump_state')
EMU = shlex.split(os.environ.get('TILLSYNC_EMULATOR', ''))
READER = os.path.join(HERE, 'blind_reader.py')
WORK = tempfile.mkdtemp(prefix='tillsync-blind-')

GEOMS = [  # erase, prog, nblocks, nsales
    (4096, 16, 8, 700),
    (65536, 16, 5, 4000),
    (4096, 1, 8, 700),
    (32768, 4096, 6, 250),
]
FIELDS = ['refused', 'head', 'tail', 'used', 'next_seq', 'empty', 'corrupt_records',
          'damaged_headers', 'head_sealed'] + (['torn'] if os.environ.get('TORN') else [])
BFIELDS = ['watermark', 'delivered_total', 'dead_total', 'queued']


def run_dump(args):
    p = subprocess.run(EMU + [DUMP] + [str(a) for a in args], capture_output=True, text=True)
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ''
    return json.loads(line)


def run_reader(img, E, P, NB):
    p = subprocess.run([sys.executable, READER, img, str(E), str(P), str(NB)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return {'_error': p.stderr[-500:]}
    return json.loads(p.stdout)


def flatten(v, nb):
    names = ['glu', 'crm'][:nb]
    out = {}
    for f in FIELDS:
        out[f] = v.get(f)
    if v.get('refused'):
        return {'refused': v['refused']}
    for n in names:
        for f in BFIELDS:
            out['backends.%s.%s' % (n, f)] = v.get('backends', {}).get(n, {}).get(f)
        out['owed.%s' % n] = v.get('owed', {}).get(n)
    return out


def configs(nper):
    rs = 12345
    if '--seed' in sys.argv:
        rs = int(sys.argv[sys.argv.index('--seed') + 1])
    rnd = random.Random(rs)
    cfgs = []
    for gi, (E, P, NB, NS) in enumerate(GEOMS):
        for i in range(nper):
            seed = rnd.randint(1, 50)
            nbk = 1 + (i % 2)
            cfgs.append((E, P, NB, NS, seed, nbk))
    return cfgs, rnd


def one(job):
    tag, args, E, P, nbk = job
    img = os.path.join(WORK, tag + '.img')
    args = [img] + list(args)
    d = run_dump(args)
    r = run_reader(img, E, P, nbk)
    return tag, args, d, r


SRC = {}


def damage(job):
    """job: (tag, src_img, E, P, NB, nbk, kind, seed): damage a copy, mount with -m."""
    import struct, zlib
    tag, src, E, P, NB, nbk, kind, seed = job
    rnd = random.Random(seed)
    img = bytearray(open(src, 'rb').read())
    # find valid headers
    hs = []
    for b in range(NB):
        h = img[b * E:b * E + 40]
        m, v, hsz, bs, fs = struct.unpack_from('<IHHQQ', h)
        if m == 0x4C4A5354 and struct.unpack_from('<I', h, 36)[0] == zlib.crc32(bytes(h[:36])):
            hs.append((bs, b))
    hs.sort()
    if not hs:
        return None
    head = hs[-1][1]
    if kind == 'hdrflip':      # flip a bit in a random valid header
        b = rnd.choice(hs)[1]
        img[b * E + rnd.randrange(36)] ^= 1 << rnd.randrange(8)
    elif kind == 'headflip':   # flip a bit in the head's header
        img[head * E + rnd.randrange(8, 36)] ^= 1 << rnd.randrange(8)
    elif kind == 'recflip':    # flip a bit in a random non-erased byte of a random block
        b = rnd.choice(hs)[1]
        blk = img[b * E:(b + 1) * E]
        idx = [i for i in range(40, E) if blk[i] != 0xFF]
        if idx:
            i = rnd.choice(idx)
            img[b * E + i] ^= 1 << rnd.randrange(8)
    elif kind == 'headrec':    # flip a bit in a record of the head block
        blk = img[head * E:(head + 1) * E]
        idx = [i for i in range(40, E) if blk[i] != 0xFF]
        if idx:
            img[head * E + rnd.choice(idx)] ^= 1 << rnd.randrange(8)
    elif kind == 'tailflip':   # flip a bit in the erased space after the head's log
        blk = img[head * E:(head + 1) * E]
        last = max([i for i in range(E) if blk[i] != 0xFF] + [0])
        if last + 1 < E:
            i = rnd.randrange(last + 1, E)
            img[head * E + i] &= ~(1 << rnd.randrange(8)) & 0xFF
    elif kind in ('v3', 'v1', 'v0', 'geom'):
        b = rnd.choice(hs)[1] if kind != 'v1' else head
        o = b * E
        if kind == 'v3':
            img[o + 4:o + 6] = struct.pack('<H', 3)
        elif kind == 'v1':
            img[o + 4:o + 6] = struct.pack('<H', 1)
        elif kind == 'v0':
            img[o + 4:o + 6] = struct.pack('<H', 0)
        else:
            img[o + 32:o + 36] = struct.pack('<I', P * 2)
        img[o + 36:o + 40] = struct.pack('<I', zlib.crc32(bytes(img[o:o + 36])))
    elif kind == 'zerohdr':   # wipe a random ring header to all-FF
        b = rnd.choice(hs)[1]
        img[b * E:b * E + 40] = b'\xff' * 40
    path = os.path.join(WORK, tag + '.img')
    open(path, 'wb').write(img)
    d = run_dump(['-m', path, nbk, E, P, NB])
    r = run_reader(path, E, P, nbk)
    return tag, ['-m', path, nbk, E, P, NB, kind, seed], d, r


def main():
    nper = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 3
    only = None
    show = 8
    if '--fields' in sys.argv:
        only = sys.argv[sys.argv.index('--fields') + 1].split(',')
    if '--show' in sys.argv:
        show = int(sys.argv[sys.argv.index('--show') + 1])
    cfgs, rnd = configs(nper)
    # first pass: uncut runs, to learn ops
    jobs = []
    for k, (E, P, NB, NS, seed, nbk) in enumerate(cfgs):
        jobs.append(('u%d' % k, [seed, NS, nbk, E, P, NB, 0, 0, 0], E, P, nbk))
    with ThreadPoolExecutor(os.cpu_count() or 4) as ex:
        res = list(ex.map(one, jobs))
    # second pass: cut runs at sampled points
    jobs2 = []
    for k, (tag, args, d, r) in enumerate(res):
        E, P, NB, NS, seed, nbk = cfgs[k]
        ops = d.get('ops', 0)
        if not ops:
            continue
        for j, (torn, cont) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)]):
            cut = rnd.randint(1, ops)
            jobs2.append(('c%d_%d' % (k, j), [seed, NS, nbk, E, P, NB, cut, torn, cont], E, P, nbk))
    with ThreadPoolExecutor(os.cpu_count() or 4) as ex:
        res += list(ex.map(one, jobs2))
    # third pass: worn blocks, other mount prog size
    jobs3 = []
    for k, (E, P, NB, NS, seed, nbk) in enumerate(cfgs):
        if k % 2 == 0:
            wb = rnd.randrange(NB)
            ops = res[k][2].get('ops', 100) or 100
            a = rnd.randint(1, ops)
            b = rnd.randint(a, ops)
            jobs3.append(('w%d' % k, [seed, NS, nbk, E, P, NB, 0, 0, 0, P, wb, a, b], E, P, nbk))
            cut = rnd.randint(1, ops)
            jobs3.append(('wc%d' % k, [seed, NS, nbk, E, P, NB, cut, 1, 1, P, wb, a, b], E, P, nbk))
        if k % 8 == 1:
            MP = P * 2 if P < 4096 else P // 2
            jobs3.append(('mp%d' % k, [seed, NS, nbk, E, P, NB, 0, 0, 0, MP], E, MP, nbk))
    with ThreadPoolExecutor(os.cpu_count() or 4) as ex:
        res += list(ex.map(one, jobs3))
    # fourth pass: crafted damage on uncut and cut images
    kinds = ['hdrflip', 'headflip', 'recflip', 'recflip', 'tailflip', 'v3', 'v1', 'v0', 'geom', 'zerohdr', 'headrec', 'headflip', 'hdrflip']
    jobs4 = []
    for k, (tag, args, d, r) in enumerate(list(res)):
        if args[0] == '-m' or d.get('refused') or d.get('empty'):
            continue
        if len(args) < 10:
            continue
        img, seed, NS, nbk, E, P, NB = args[:7]
        if len(args) > 10 and args[10] != P:
            continue
        kind = kinds[k % len(kinds)]
        jobs4.append(('d%d' % k, img, E, P, NB, nbk, kind, k))
        SRC['d%d' % k] = ' '.join(str(a) for a in args)
    with ThreadPoolExecutor(os.cpu_count() or 4) as ex:
        res += [x for x in ex.map(damage, jobs4) if x]
    # fifth pass: synthetic version 1 journals (mkv1.py, encoder written from FORMAT.md)
    def v1job(s):
        img = os.path.join(WORK, 'v1_%d.img' % s)
        subprocess.run([sys.executable, os.path.join(HERE, 'mkv1.py'), 'rand', str(s), img], check=True)
        out = []
        for nbk in (1, 2):
            d = run_dump(['-m', img, nbk, 4096, 16, 8])
            r = run_reader(img, 4096, 16, nbk)
            out.append(('v1_%d' % s, ['-m', img, nbk, 4096, 16, 8, 'v1synth', s], d, r))
        return out
    with ThreadPoolExecutor(os.cpu_count() or 4) as ex:
        for o in ex.map(v1job, range(nper)):
            res += o
    agree = 0
    total = 0
    mism = []
    field_bad = {}
    for tag, args, d, r in res:
        nbk = args[2] if args[0] == '-m' else args[3]
        fd, fr = flatten(d, nbk), flatten(r, nbk)
        bad = []
        for f in fd:
            if only and not any(f.startswith(o) for o in only):
                continue
            if fd[f] != fr.get(f):
                bad.append(f)
                field_bad[f] = field_bad.get(f, 0) + 1
        if '_error' in r:
            bad.append('_error')
        total += 1
        if not bad:
            agree += 1
        else:
            mism.append((args, bad, fd, fr, r.get('_error')))
    stats = {}
    for tag, args, d, r in res:
        for f in ('head_sealed', 'damaged_headers', 'corrupt_records', 'empty'):
            if d.get(f):
                stats[f] = stats.get(f, 0) + 1
        if d.get('refused'):
            stats['refused'] = stats.get('refused', 0) + 1
    print('cases with nonzero:', stats)
    print('%d/%d configurations: blind_reader.py (FORMAT.md alone) agrees with the firmware'
          % (agree, total))
    if '--src' in sys.argv:
        print('source of', sys.argv[sys.argv.index('--src') + 1], ':', SRC.get(sys.argv[sys.argv.index('--src') + 1]))
    if field_bad:
        print('mismatching fields:', field_bad)
    for args, bad, fd, fr, err in mism[:show]:
        print('---', ' '.join(str(a) for a in args))
        if err:
            print('  reader error:', err)
        for f in bad:
            if f == '_error':
                continue
            a, b = fd.get(f), fr.get(f)
            if isinstance(a, list):
                sa = set(map(tuple, a or []))
                sb = set(map(tuple, b or []))
                print('  %s: dump %d items, reader %d; only dump %s; only reader %s' % (
                    f, len(a or []), len(b or []), sorted(sa - sb)[:5], sorted(sb - sa)[:5]))
            else:
                print('  %s: dump=%r reader=%r' % (f, a, b))


    return 0 if agree == total else 1


if __name__ == '__main__':
    rc = main()
    if rc == 0:
        shutil.rmtree(WORK, ignore_errors=True)
    else:
        print('images kept in', WORK)
    sys.exit(rc)
