#!/usr/bin/python3
# Compares NAME.bodystructure/.body/.envelope with what a Dovecot on
# 127.0.0.1:14343 (user u, password p) answers for NAME.eml after APPEND.
# Usage: compare-dovecot.py tests/mime-corpus  (see README.md)
import imaplib, sys, os, re
def parse(b, i=0):
    # returns (list of items, new index) parsing until ')' or end
    out = []
    n = len(b)
    while i < n:
        c = b[i:i+1]
        if c in (b' ', b'\r', b'\n'): i += 1; continue
        if c == b'(':
            sub, i = parse(b, i+1); out.append(sub); continue
        if c == b')': return out, i+1
        if c == b'"':
            j = i+1; s = bytearray()
            while b[j:j+1] != b'"':
                if b[j:j+1] == b'\\': j += 1
                s += b[j:j+1]; j += 1
            out.append(('S', bytes(s))); i = j+1; continue
        if c == b'{':
            j = b.index(b'}', i); L = int(b[i+1:j]); k = j+3
            out.append(('S', b[k:k+L])); i = k+L; continue
        j = i
        while j < n and b[j:j+1] not in (b' ', b'(', b')', b'\r', b'\n'): j += 1
        out.append(b[i:j].upper() if b[i:j].upper()==b'NIL' else b[i:j]); i = j
    return out, i

M = imaplib.IMAP4('127.0.0.1', 14343); M.login('u','p')
corpus = sys.argv[1]
items = ['BODYSTRUCTURE', 'BODY', 'ENVELOPE']
ext = {'BODYSTRUCTURE':'bodystructure','BODY':'body','ENVELOPE':'envelope'}
for f in sorted(os.listdir(corpus)):
    if not f.endswith('.eml'): continue
    data = open(os.path.join(corpus,f),'rb').read()
    try: M.delete('T')
    except Exception: pass
    M.create('T'); M.select('T'); M.append('T', None, None, data)
    for it in items:
        typ, d = M.fetch('1', '('+it+')')
        raw = b''
        for x in d:
            if isinstance(x, tuple): raw += x[0] + x[1]
            else: raw += x
        # reconstruct literal: imaplib splits at literal; re-insert marker by using the parse on concatenation is hard; instead rebuild
        raw2 = b''
        for x in d:
            if isinstance(x, tuple):
                raw2 += x[0][:x[0].rindex(b'{')] + b'"' + x[1].replace(b'\\', b'\\\\').replace(b'"', b'\\"') + b'"'
            else: raw2 += x
        p, _ = parse(raw2)
        # p = [b'1', [b'BODYSTRUCTURE', value]]
        dv = p[1][1]
        mine = open(os.path.join(corpus, f[:-4]+'.'+ext[it]),'rb').read()
        mp, _ = parse(mine)
        if mp[0] != dv:
            print('DIFF', f, it)
            print('  dovecot:', raw2.decode('utf-8','replace')[:1500])
            print('  mine   :', mine.decode('utf-8','replace')[:1500])
    M.close()
