import struct, zlib, sys, random
def ru(v,u): return (v+u-1)//u*u
def crc(b): return zlib.crc32(bytes(b)) & 0xffffffff
E_, P = 4096, 16
HA = ru(40, P)
def hdr(bs, fs, ver=1, ec=1):
    h = struct.pack('<IHHQQIII', 0x4C4A5354, ver, 40, bs, fs, ec, E_, P)
    h += struct.pack('<I', crc(h))
    return h + b'\xff' * (HA - 40)
def rec(t, payload):
    h = struct.pack('<BBHII', t, 0, 0x5254, len(payload), crc(payload))
    h += struct.pack('<I', crc(h))
    r = h + payload
    return r + b'\xff' * (ru(len(r), P) - len(r))
def sale(seq, txn):
    body = ('{"txn":"%s","at":"2024-06-10T09:30:00Z","total":1250,"currency":"EUR"}' % txn).encode()
    return rec(1, struct.pack('<QQB', seq, 1718011800123, len(txn)) + txn.encode() + body)
def mark(name, wm, dt, dd, flags=0, dseq=None):
    p = struct.pack('<IIQQQ', crc(name.encode()), flags, wm, dt, dd)
    if flags: p += struct.pack('<Q', dseq) + (b'HTTP 422' if flags & 1 else b'')
    return rec(2, p)
def build(nblocks, plan, out):
    """plan: list of (phys_block, bs, first_seq, [records])"""
    img = bytearray(b'\xff' * (E_ * nblocks))
    for b, bs, fs, recs, ver in plan:
        blk = hdr(bs, fs, ver) + b''.join(recs)
        assert len(blk) <= E_
        img[b*E_:b*E_+len(blk)] = blk
    open(out, 'wb').write(img)
mode = sys.argv[1]
if mode == 'example':
    build(4, [(0, 1, 0, [sale(0, 'T-1001'), mark('glu', 1, 1, 0)], 1)], 'v1a.img')
    print(open('v1a.img','rb').read()[:0xf0].hex())
else:
    rnd = random.Random(int(sys.argv[2]))
    nb = 8
    seq = 0; plan = []; start = rnd.randrange(nb); bs0 = rnd.randint(1, 20)
    nused = rnd.randint(1, 6)
    wm = {'glu': 0, 'crm': 0}; tot = {'glu': [0,0], 'crm': [0,0]}
    for i in range(nused):
        fs = seq; recs = []; size = HA
        while True:
            if rnd.random() < 0.7:
                r = sale(seq, 'V-%d' % seq); seq += 1 + (rnd.random() < 0.1)
            else:
                n = rnd.choice(['glu', 'crm'])
                wm[n] = min(seq, wm[n] + rnd.randint(0, 6)); tot[n][0] += 1
                fl = 1 if rnd.random() < 0.1 else 0
                if fl: tot[n][1] += 1
                r = mark(n, wm[n], tot[n][0], tot[n][1], fl, max(0, wm[n]-1))
            if size + len(r) > E_ - 200 * (i == nused - 1) * rnd.randint(0, 10): break
            recs.append(r); size += len(r)
        ver = 1 if (rnd.random() < 0.7 or i < nused - 2) else 2
        plan.append(((start + i) % nb, bs0 + i, fs, recs, 1))
    build(nb, plan, sys.argv[3])
