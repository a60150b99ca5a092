#!/usr/bin/env python3
"""Writes the recorded ESC/POS print streams of tests/data/escpos and what each must decode to.

Each stream is what a POS sends its receipt printer, byte for byte: code page selection, text,
raster logos, barcodes, QR codes, drawer kicks, status requests and cuts, as Epson TM-T88-class
printers take them. Next to each <name>.bin, <name>.json holds the receipt_tap configuration to
read it with and the receipts expected: their exact text (UTF-8), and for each the sale's txn,
total (minor units), currency and time, or the reason it is unreadable. Made txns (receipts
without a printed number) are computed here independently: "rcpt-" + 24 hex digits of SHA-256
over "tillsync receipt txn v1\n", the lines without reprint lines with blanks collapsed, "@" and
the printed time as time_pattern read it.

Run from anywhere: python3 tests/data/escpos/make_streams.py (writes next to itself). The
output is deterministic; the tests read the committed files.
"""
import hashlib
import json
import os
import random
import re

HERE = os.path.dirname(os.path.abspath(__file__))

ESC, GS, FS, DLE = b"\x1b", b"\x1d", b"\x1c", b"\x10"


def u16(n):
    return bytes([n & 0xFF, n >> 8])


def raster_logo(width_bytes=48, rows=64, seed=1):
    """GS v 0: a real-size logo (384 x 64 dots) whose bitmap holds bytes that look like
    commands: a cut (GS V 0 / GS V A), LF, ESC @ and ESC t."""
    rnd = random.Random(seed)
    bits = bytearray()
    for y in range(rows):
        for x in range(width_bytes):
            # a ring and stripes, as a logo has, and noise
            cx, cy = x * 8 - 192, y - 32
            b = 0xFF if 600 < cx * cx + cy * cy * 16 < 9000 else 0
            if y % 16 < 3:
                b |= 0x55
            bits.append(b ^ (rnd.getrandbits(8) & 0x11))
    traps = [b"\x1d\x56\x00", b"\x1d\x56\x41\x03", b"\x0a\x0a", b"\x1b\x40", b"\x1bt\x13",
             b"\x1b\x69", b"TOTAL 99.99\n"]
    for i, t in enumerate(traps):
        pos = 200 + i * 397
        bits[pos:pos + len(t)] = t
    assert len(bits) == width_bytes * rows
    return GS + b"v0\x00" + u16(width_bytes) + u16(rows) + bytes(bits)


def bit_image_esc_star(columns=200):
    """ESC * 33: 24-dot double density, three bytes a column."""
    data = bytes((i * 37) & 0xFF for i in range(columns * 3))
    data = data[:10] + b"\x1dV\x00\n" + data[14:]
    return ESC + b"*" + bytes([33]) + u16(columns) + data


def qr(text):
    d = text.encode()
    return (GS + b"(k" + u16(4) + b"1A2\x00" +        # model 2
            GS + b"(k" + u16(3) + b"1C\x06" +         # module size 6
            GS + b"(k" + u16(3) + b"1E1" +            # error correction M
            GS + b"(k" + u16(len(d) + 3) + b"1P0" + d +  # store
            GS + b"(k" + u16(3) + b"1Q0")             # print


def code128(data):
    """GS k 73 n d1..dn (form B): the data may hold any byte, LF among them."""
    return GS + b"H\x02" + GS + b"h\x50" + GS + b"k\x49" + bytes([len(data)]) + data


def ean13(digits):
    """GS k 2 d1..dk NUL (form A)."""
    return GS + b"k\x02" + digits.encode() + b"\x00"


def graphics_gs_paren_l():
    """GS ( L: store a raster graphic (fn 112) then print it (fn 50)."""
    w, h = 64, 24
    img = bytes(((x ^ y) * 29) & 0xFF for y in range(h) for x in range(w // 8))
    img = img[:5] + b"\x1dV\x01" + img[8:]
    body = b"0p0\x01\x011" + u16(w) + u16(h) + img
    return GS + b"(L" + u16(len(body)) + body + GS + b"(L" + u16(2) + b"02"


def graphics_gs8l():
    """GS 8 L: the same with a 32-bit length."""
    w, h = 128, 40
    img = bytes(((x * 7 + y * 3) & 0xFF) for y in range(h) for x in range(w // 8))
    img = img[:30] + b"\x1bi\x1bm" + img[34:]
    body = b"0p0\x01\x011" + u16(w) + u16(h) + img
    n = len(body)
    return GS + b"8L" + bytes([n & 0xFF, (n >> 8) & 0xFF, (n >> 16) & 0xFF, n >> 24]) + body


class Stream:
    def __init__(self, name, config, note):
        self.name, self.config, self.note = name, config, note
        self.b = bytearray()
        self.enc = "cp437"
        self.lines = []
        self.receipts = []
        self.unknown = 0

    def raw(self, data):
        self.b += data

    def codepage(self, n, enc):
        self.raw(ESC + b"t" + bytes([n]))
        self.enc = enc

    def init(self):
        self.raw(ESC + b"@")
        self.enc = self.config.get("codepage", "cp437")

    def line(self, text, encoded=None, end=b"\n"):
        self.raw((encoded if encoded is not None else text.encode(self.enc)) + end)
        t = text.replace("\t", " ").rstrip(" ")
        if t:
            self.lines.append(t)

    def cut(self, command, expect):
        self.raw(command)
        text = "".join(l + "\n" for l in self.lines)
        expect = dict(expect)
        expect["text"] = text
        if expect.get("txn") == "made":
            expect["txn"] = made_txn(self.lines, self.config, expect.pop("printed_time"))
        self.receipts.append(expect)
        self.lines = []

    def write(self):
        with open(os.path.join(HERE, self.name + ".bin"), "wb") as f:
            f.write(bytes(self.b))
        with open(os.path.join(HERE, self.name + ".json"), "w", encoding="utf-8") as f:
            json.dump({"note": self.note, "config": self.config, "cut_wall_ms": CUT_WALL_MS,
                       "unknown_commands": self.unknown, "receipts": self.receipts}, f,
                      ensure_ascii=False, indent=1)
            f.write("\n")


DEFAULT_REPRINT = "REPRINT|COPY|DUPLICATE|KOPIE|DUPLIKAT|COPIE"
CUT_WALL_MS = 1796053500000  # 2026-11-30T15:45:00Z: when the tests say the cuts were seen


def made_txn(lines, config, printed_time):
    reprint = re.compile(config.get("reprint_pattern", DEFAULT_REPRINT), re.I)
    kept = [re.sub(r"[ \t]+", " ", l).strip(" \t") for l in lines if not reprint.search(l)]
    text = "".join(l + "\n" for l in kept if l)
    h = hashlib.sha256(b"tillsync receipt txn v1\n" + text.encode() + b"@" +
                       printed_time.encode()).hexdigest()
    return "rcpt-" + h[:24]


def cafe():
    """CP437: box drawing and £, a raster logo full of command-like bytes, CODE128 with a LF in
    its data, a QR code, a drawer kick, a status request, partial cut with feed."""
    s = Stream("cp437_cafe", {"currency": "GBP", "txn_pattern": "Receipt #[[:space:]]*([0-9]+)"},
               "CP437 cafe receipt, London: logo, barcode, QR, partial cut with feed")
    s.init()
    s.raw(DLE + b"\x04\x01")  # real-time status, as POS software polls
    s.raw(ESC + b"a\x01")
    s.raw(raster_logo())
    s.codepage(0, "cp437")
    s.line("╔══════════════════════════════╗")
    s.line("║   THE CORNER CAFÉ, LONDON    ║")
    s.line("╚══════════════════════════════╝")
    s.raw(ESC + b"a\x00")
    s.line("Receipt # 004217")
    s.line("30/11/2026 14:35   Till 2")
    s.line("──────────────────────────────")
    s.line("2 x Flat White          £7.00")
    s.line("1 x Almond Croissant    £3.25")
    s.line("1 x Still Water  ½L     £2.25")
    s.line("──────────────────────────────")
    s.line("SUBTOTAL               £12.50")
    s.raw(ESC + b"E\x01" + GS + b"!\x11")
    s.line("TOTAL                  £12.50")
    s.raw(ESC + b"E\x00" + GS + b"!\x00")
    s.line("CASH                   £20.00")
    s.line("CHANGE                  £7.50")
    s.raw(ESC + b"p\x00\x19\xfa")  # drawer kick
    s.raw(code128(b"{B004217\n"))
    s.line("")
    s.raw(qr("https://cornercafe.example/r/004217"))
    s.line("Thank you!\t see you soon   ")
    s.cut(GS + b"V" + bytes([66, 3]), {"outcome": "sale", "txn": "004217", "total": 1250,
                                       "currency": "GBP", "at": "2026-11-30T14:35:00+00:00"})
    s.write()


def bistro():
    """CP858 with €, two receipts back to back in one write, full cuts (GS V 0, GS V 65 n),
    EAN-13 barcodes in the NUL-terminated form, an unknown command."""
    s = Stream("cp858_bistro", {"currency": "EUR", "codepage": "cp858",
                                "txn_pattern": "Bon-Nr\\.?:?[[:space:]]*([0-9A-Z-]+)"},
               "CP858 bistro, Paris: two receipts back to back, full cuts, EAN-13, € sign")
    for n, (items, total, cut, time) in enumerate([
            ([("Café crème", "3,20 €"), ("Croque-monsieur", "8,50 €")], ("TOTAL", "11,70 €"),
             GS + b"V\x00", "01/12/2026 09:12"),
            ([("Menu du jour", "16,90 €"), ("Carafe d'eau", "0,00 €"), ("Crème brûlée", "6,50 €")],
             ("TOTAL", "23,40 €"), GS + b"VA\x05", "01/12/2026 12:47")]):
        s.init()
        s.codepage(19, "cp858")
        s.raw(ESC + b"!\x30")
        s.line("BISTRO ÉTOILE")
        s.raw(ESC + b"!\x00")
        s.line("Bon-Nr: B-%04d" % (881 + n))
        s.line(time)
        if n == 1:
            s.raw(ESC + b"y")  # a command Epson does not define: counted, skipped
            s.unknown += 1
        for name, price in items:
            s.line("%-20s%10s" % (name, price))
        s.line("%-20s%10s" % total)
        s.line("dont TVA 10%%       %8s" % ("1,06 €" if n == 0 else "2,13 €"))
        s.raw(ean13("3760123456789"))
        s.line("Merci de votre visite")
        s.cut(cut, {"outcome": "sale", "txn": "B-%04d" % (881 + n),
                    "total": 1170 if n == 0 else 2340, "currency": "EUR",
                    "at": "2026-12-01T%s:00+00:00" % time[-5:]})
    s.config["decimal_separator"] = ","
    s.write()


def boutique():
    """CP1252: accented customer names, ESC * bit image, loyalty id and email, summer time,
    ESC i cut, a thousands separator."""
    s = Stream("cp1252_boutique", {"currency": "EUR", "codepage": "cp437",
                                   "txn_pattern": "Ticket:?[[:space:]]*([0-9]+)",
                                   "loyalty_pattern": "Fidélité:?[[:space:]]*([A-Z0-9-]+)",
                                   "time_pattern": "([0-9]{2}\\.[0-9]{2}\\.[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2})",
                                   "time_format": "%d.%m.%Y %H:%M:%S"},
               "CP1252 boutique, Lyon: accented names, ESC * logo, loyalty id and email, July")
    s.init()
    s.raw(bit_image_esc_star())
    s.raw(b"\n")
    s.codepage(16, "cp1252")
    s.line("Boutique Hélène & Zoë")
    s.line("Ticket: 77120")
    s.line("15.07.2026 10:05:42")
    s.line("Client: Renée Müller-Ødegård")
    s.line("Fidélité: FID-20931")
    s.line("Courriel: renee.muller@exemple.fr")
    s.line("Robe en soie « Été »     1,149.00")
    s.line("Foulard façonné            96.50")
    s.line("TOTAL EUR                1,245.50")
    s.line("Payé par carte ************4242")
    s.line("Échange sous 30 jours — merci")
    s.cut(ESC + b"i", {"outcome": "sale", "txn": "77120", "total": 124550, "currency": "EUR",
                       "at": "2026-07-15T10:05:42+01:00", "customer_id": "FID-20931",
                       "email": "renee.muller@exemple.fr"})
    s.write()


def german():
    """CP850 and the German international character set (ESC R 2: [ prints Ä), a German-locale
    total (1.234,56 EUR), an NV logo (FS p), ESC m cut."""
    s = Stream("cp850_german", {"currency_pattern": "SUMME[[:space:]]+([A-Z]{3})",
                                "codepage": "cp850", "decimal_separator": ",",
                                "total_pattern": "^[[:space:]]*SUMME[^0-9]*([0-9][0-9.,]*)",
                                "txn_pattern": "Beleg-Nr\\.?[[:space:]]*([0-9]+)",
                                "time_pattern": "([0-9]{2}\\.[0-9]{2}\\.[0-9]{4} [0-9]{2}:[0-9]{2})",
                                "time_format": "%d.%m.%Y %H:%M"},
               "CP850 German electronics shop, Munich: 1.234,56 EUR, ESC R 2, NV logo, ESC m")
    s.init()
    s.raw(FS + b"p\x01\x00")  # the logo stored in the printer
    s.codepage(2, "cp850")
    s.line("Elektro Größl GmbH")
    s.line("Münchner Straße 12")
    s.raw(ESC + b"R\x02")  # Germany: [ \ ] { | } ~ print Ä Ö Ü ä ö ü ß
    s.line("GETRÄNKE & ZUBEHÖR", encoded=b"GETR[NKE & ZUBEH\\R")
    s.raw(ESC + b"R\x00")
    s.line("Beleg-Nr. 552901")
    s.line("28.11.2026 18:02")
    s.line("Waschmaschine WM-7         1.099,00")
    s.line("Lieferung                     135,56")
    s.line("SUMME EUR                  1.234,56")
    s.line("MwSt 19%                     197,12")
    s.line("Bar                        1.250,00")
    s.line("Rückgeld                       15,44")
    s.cut(ESC + b"m", {"outcome": "sale", "txn": "552901", "total": 123456,
                       "currency": "EUR", "at": "2026-11-28T18:02:00+00:00"})
    s.write()


def reprint():
    """A receipt without a printed number (the txn is made from its text and time), the same
    receipt reprinted with a REPRINT line, and a different one; graphics by GS ( L and GS 8 L."""
    cfg = {"currency": "USD"}
    s = Stream("reprint", cfg, "a receipt, its reprint (same made txn), another receipt")
    body = [("Joe's Diner", None), ("Table 4", None), ("30/11/2026 20:15", None),
            ("Burger              14.00", None), ("Fries                4.50", None),
            ("TOTAL              $18.50", None)]
    for n in range(3):
        s.init()
        s.raw(graphics_gs_paren_l() if n != 1 else graphics_gs8l())
        if n == 1:
            s.raw(ESC + b"E\x01")
            s.line("*** REPRINT ***")
            s.raw(ESC + b"E\x00")
        for text, _ in body if n < 2 else [(t.replace("Table 4", "Table 5"), None)
                                           for t, _ in body]:
            s.line(text)
        if n == 1:
            s.line("Reprinted 30/11/2026 21:02 (COPY)")
        s.cut(GS + b"V\x31", {"outcome": "sale", "txn": "made", "printed_time": "30/11/2026 20:15",
                              "total": 1850, "currency": "USD",
                              "at": "2026-11-30T20:15:00+00:00"})
    s.write()


def unreadable():
    """A receipt whose total cannot be read (and that prints a full card number), a receipt
    printed as an image only, then a readable one: the tap recovers."""
    s = Stream("unreadable", {"currency": "GBP", "txn_pattern": "Receipt #[[:space:]]*([0-9]+)"},
               "no total line (a card number printed: masked), image-only receipt, then a sale")
    s.init()
    s.line("Receipt # 9001")
    s.line("30/11/2026 16:00")
    s.line("BALANCE: twelve pounds fifty")
    s.line("VISA 4111 1111 1111 1111")
    s.cut(GS + b"V\x00", {"outcome": "unreadable", "why": "total: no line matched total_pattern",
                          "masked": "VISA **** **** **** 1111"})
    s.raw(raster_logo(seed=7))
    s.cut(GS + b"V\x00", {"outcome": "unreadable", "why": "text: none (1 images"})
    s.raw(GS + b"V\x00")  # a second cut, nothing printed: no receipt
    s.line("Receipt # 9002")
    s.line("30/11/2026 16:05")
    s.line("TOTAL 3.10")
    s.cut(GS + b"V\x00", {"outcome": "sale", "txn": "9002", "total": 310, "currency": "GBP",
                          "at": "2026-11-30T16:05:00+00:00"})
    s.write()


if __name__ == "__main__":
    cafe()
    bistro()
    boutique()
    german()
    reprint()
    unreadable()
