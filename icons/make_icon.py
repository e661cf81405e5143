"""Generates icons/twinscope.png (256x256): a scope ring around two linked nodes (the twin).
Pure Python (zlib + struct) so it runs anywhere: python3 icons/make_icon.py"""
import math, struct, zlib

N = 256
px = [[(0, 0, 0, 0)] * N for _ in range(N)]

def blend(x, y, c, a):
    if 0 <= x < N and 0 <= y < N and a > 0:
        r, g, b, al = px[y][x]
        a = min(1.0, a)
        na = a + al / 255 * (1 - a)
        if na == 0:
            return
        mix = lambda s, d: int((s * a + d * (al / 255) * (1 - a)) / na)
        px[y][x] = (mix(c[0], r), mix(c[1], g), mix(c[2], b), int(na * 255))

def cover(d):  # anti-aliased coverage from signed distance
    return max(0.0, min(1.0, 0.5 - d))

bg, ring, node, link = (24, 36, 52), (64, 200, 170), (255, 170, 40), (140, 190, 255)
for y in range(N):
    for x in range(N):
        cx, cy = x + 0.5, y + 0.5
        # rounded square background
        qx, qy = max(abs(cx - 128) - 96, 0), max(abs(cy - 128) - 96, 0)
        blend(x, y, bg, cover(math.hypot(qx, qy) - 28))
        r = math.hypot(cx - 128, cy - 128)
        blend(x, y, ring, cover(abs(r - 84) - 7))
        # cross-hair ticks
        for ang in range(0, 360, 90):
            a = math.radians(ang)
            tx, ty = 128 + math.cos(a) * 100, 128 + math.sin(a) * 100
            blend(x, y, ring, cover(math.hypot(cx - tx, cy - ty) - 6))
        # link between the two nodes
        ax, ay, bx, by = 96, 150, 162, 104
        t = max(0, min(1, ((cx - ax) * (bx - ax) + (cy - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)))
        blend(x, y, link, cover(math.hypot(cx - (ax + t * (bx - ax)), cy - (ay + t * (by - ay))) - 5))
        blend(x, y, node, cover(math.hypot(cx - ax, cy - ay) - 20))
        blend(x, y, link, cover(math.hypot(cx - bx, cy - by) - 20))

raw = b"".join(b"\x00" + bytes(v for p in row for v in p) for row in px)
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", N, N, 8, 6, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
open(__file__.replace("make_icon.py", "twinscope.png"), "wb").write(png)
