"""What a rendered chart shows: reads a PNG (8-bit RGB or RGBA, as
rsvg-convert writes it) with the standard library alone and prints JSON
{"width", "height", "ink": the share of pixels that are not white or
transparent, "blue": pixels of the report's blue (#1f77b4) line colour,
"orange": pixels of its orange (#ff7f0e)}.

Usage: png_ink.py FILE.png
"""
import json
import struct
import sys
import zlib

data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", None
while pos < len(data):
    (n,) = struct.unpack(">I", data[pos:pos + 4])
    kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
    pos += 12 + n
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
        bpp = 4 if ctype == 6 else 3
    elif kind == b"IDAT":
        idat += body
raw = zlib.decompress(idat)
stride = w * bpp
rows, prev = [], bytearray(stride)
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
        if f == 1:
            line[i] = (line[i] + a) & 255
        elif f == 2:
            line[i] = (line[i] + b) & 255
        elif f == 3:
            line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line)
    prev = line
ink = blue = orange = 0
for line in rows:
    for x in range(w):
        px = line[x * bpp:(x + 1) * bpp]
        r, g, b_ = px[0], px[1], px[2]
        alpha = px[3] if bpp == 4 else 255
        if alpha > 0 and min(r, g, b_) < 240:
            ink += 1
        near = lambda t: alpha > 200 and abs(r - t[0]) < 40 and abs(g - t[1]) < 40 and abs(b_ - t[2]) < 40
        if near((31, 119, 180)):
            blue += 1
        if near((255, 127, 14)):
            orange += 1
print(json.dumps({"width": w, "height": h, "ink": ink / (w * h), "blue": blue, "orange": orange}))
