"""Builders for the inert samples in the attachment cases. Every "program" here is a valid
file format around code that does nothing (a single `ret`); every script points at hosts under
.invalid, which cannot resolve. Used by generate.py."""

import io
import os
import random
import struct
import subprocess
import tempfile
import zlib
import hashlib
import pathlib


# --- Windows PE -----------------------------------------------------------------------------

def _align(n, a):
    return (n + a - 1) // a * a


def _idata(rva, imports):
    """An import section at `rva`: descriptors, lookup and address tables, hint/names."""
    desc_size = 20 * (len(imports) + 1)
    pos = desc_size
    tables = []
    for _, funcs in imports:
        ilt = pos
        pos += 4 * (len(funcs) + 1)
        iat = pos
        pos += 4 * (len(funcs) + 1)
        tables.append((ilt, iat))
    strings = bytearray()
    names = []
    for dll, funcs in imports:
        fn_offs = []
        for f in funcs:
            fn_offs.append(pos + len(strings))
            strings += b"\0\0" + f.encode() + b"\0"
            if len(strings) % 2:
                strings += b"\0"
        dll_off = pos + len(strings)
        strings += dll.encode() + b"\0"
        if len(strings) % 2:
            strings += b"\0"
        names.append((fn_offs, dll_off))
    out = bytearray(pos) + strings
    for i, (ilt, iat) in enumerate(tables):
        fn_offs, dll_off = names[i]
        struct.pack_into("<IIIII", out, 20 * i, rva + ilt, 0, 0, rva + dll_off, rva + iat)
        for j, fo in enumerate(fn_offs):
            struct.pack_into("<I", out, ilt + 4 * j, rva + fo)
            struct.pack_into("<I", out, iat + 4 * j, rva + fo)
    return bytes(out), desc_size


def pe(imports=(("kernel32.dll", ["ExitProcess"]),), dll=False, sections=None, dotnet=False,
       overlay=b"", strings=b""):
    """A 32-bit PE. `sections`: extra (name, characteristics, bytes); `strings` go in .rdata."""
    FA, SA, HEADERS = 0x200, 0x1000, 0x400
    text = bytearray(b"\xc3" + b"\xcc" * 15)
    if dotnet:
        text += bytes(0x60 - len(text))
    secs = [[b".text", 0x60000020, bytes(text)]]
    if strings:
        secs.append([b".rdata", 0x40000040, strings])
    for name, chars, data in sections or []:
        secs.append([name, chars, data])
    # RVAs: sections in order, each on a page.
    rva = SA
    idata_index = None
    for s in secs:
        s.append(rva)
        rva += _align(max(len(s[2]), 1), SA)
    idata = None
    if imports:
        idata, desc_size = _idata(rva, list(imports))
        secs.append([b".idata", 0xC0000040, idata, rva])
        idata_index = len(secs) - 1
        rva += _align(len(idata), SA)
    size_of_image = rva
    # COR20 header and a metadata root in .text.
    if dotnet:
        t_rva = secs[0][3]
        meta = struct.pack("<IHHII", 0x424A5342, 1, 1, 0, 12) + b"v4.0.30319\0\0" + struct.pack("<HH", 0, 0)
        cor = struct.pack("<IHHII", 72, 2, 5, t_rva + 0x60 + 0, len(meta)) + bytes(72 - 16)
        text = bytearray(secs[0][2]) + bytes(0x200)
        text[0x10:0x10 + 72] = cor
        text[0x60:0x60 + len(meta)] = meta
        secs[0][2] = bytes(text[:0x60 + len(meta)])
    # File layout.
    raw = HEADERS
    for s in secs:
        s.append(raw)
        raw += _align(len(s[2]), FA)
    out = bytearray(raw)
    out[0:2] = b"MZ"
    struct.pack_into("<I", out, 0x3C, 0x40)
    out[0x40:0x44] = b"PE\0\0"
    chars = 0x0102 | (0x2000 if dll else 0)
    struct.pack_into("<HHIIIHH", out, 0x44, 0x14C, len(secs), 0, 0, 0, 0xE0, chars)
    opt = 0x58
    struct.pack_into("<HBBIIIIII", out, opt, 0x10B, 14, 0, 0x200, 0, 0, secs[0][3], secs[0][3], 0)
    struct.pack_into("<IIIHHHHHHIIIIHHIIIIII", out, opt + 28, 0x400000, SA, FA, 6, 0, 0, 0, 6, 0, 0,
                     size_of_image, HEADERS, 0, 2, 0x8140, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
    dirs = opt + 96
    if idata_index is not None:
        struct.pack_into("<II", out, dirs + 8 * 1, secs[idata_index][3], desc_size)
    if dotnet:
        struct.pack_into("<II", out, dirs + 8 * 14, secs[0][3] + 0x10, 72)
    sh = opt + 0xE0
    for i, (name, ch, data, s_rva, s_raw) in enumerate(secs):
        struct.pack_into("<8sIIIIIIHHI", out, sh + 40 * i, name, len(data), s_rva,
                         _align(len(data), FA), s_raw, 0, 0, 0, 0, ch)
        out[s_raw:s_raw + len(data)] = data
    return bytes(out) + overlay


def sign(pe_bytes, tamper=False):
    """Appends an Authenticode-shaped certificate whose digest covers the file as the
    specification says (checksum, certificate directory entry and the certificate excluded).
    `tamper` changes a byte of code afterwards: the digest no longer matches."""
    data = bytearray(pe_bytes)
    while len(data) % 8:
        data += b"\0"
    cks = 0x40 + 4 + 20 + 64
    certdir = 0x40 + 4 + 20 + 96 + 8 * 4
    digest = hashlib.sha256(bytes(data[:cks]) + bytes(data[cks + 4:certdir]) + bytes(data[certdir + 8:])).digest()
    # The shape of SpcIndirectDataContent's DigestInfo: sha256 OID, then the digest.
    blob = bytes.fromhex("3031300d060960864801650304020105000420") + digest
    blob = b"\x30\x82" + struct.pack(">H", len(blob)) + blob
    cert = struct.pack("<IHH", 8 + len(blob), 0x0200, 0x0002) + blob
    while len(cert) % 8:
        cert += b"\0"
    struct.pack_into("<II", data, certdir, len(data), len(cert))
    # The directory entry is excluded from the digest, so setting it after hashing is right.
    data += cert
    if tamper:
        data[0x401] ^= 0xFF
    return bytes(data)


INJECTOR_IMPORTS = (
    ("kernel32.dll", ["OpenProcess", "VirtualAllocEx", "WriteProcessMemory", "CreateRemoteThread", "ExitProcess"]),
)
DOWNLOADER_IMPORTS = (
    ("kernel32.dll", ["ExitProcess", "WinExec"]),
    ("urlmon.dll", ["URLDownloadToFileA"]),
)


def high_entropy(n, seed):
    r = random.Random(seed)
    return bytes(r.getrandbits(8) for _ in range(n))


# --- ELF --------------------------------------------------------------------------------------

def elf():
    header = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7, 2, 62, 1,
                         0x400078, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, 0x80, 0x80, 0x1000)
    return header + phdr + b"\xc3" * 8


def macho():
    """A 64-bit x86-64 Mach-O executable header with no load commands."""
    return struct.pack("<IiiIIIII", 0xFEEDFACF, 0x01000007, 3, 2, 0, 0, 0, 0) + b"\xc3" * 8


# --- LNK --------------------------------------------------------------------------------------

def lnk(target, arguments, icon="", show=7):
    flags = 0x08 | 0x20 | 0x80 | (0x40 if icon else 0) | 0x200
    h = bytearray(0x4C)
    struct.pack_into("<I", h, 0, 0x4C)
    h[4:20] = bytes.fromhex("0114020000000000c000000000000046")
    struct.pack_into("<II", h, 0x14, flags, 0x20)
    struct.pack_into("<I", h, 0x3C, show)

    def sd(s):
        u = s.encode("utf-16-le")
        return struct.pack("<H", len(u) // 2) + u

    body = sd(target.rsplit("\\", 1)[-1]) + sd(arguments) + (sd(icon) if icon else b"")
    env = struct.pack("<II", 0x314, 0xA0000001)
    env += target.encode("latin-1").ljust(260, b"\0") + target.encode("utf-16-le").ljust(520, b"\0")
    return bytes(h) + body + env + b"\0\0\0\0"


def powershell_encoded(command):
    import base64
    return base64.b64encode(command.encode("utf-16-le")).decode()


# --- Disk images --------------------------------------------------------------------------------

def iso(files, udf=False):
    import pycdlib
    image = pycdlib.PyCdlib()
    if udf:
        image.new(joliet=3, udf="2.60")
    else:
        image.new(joliet=3)
    for i, (name, data) in enumerate(files):
        short = f"/F{i}.;1"
        kwargs = {"joliet_path": "/" + name}
        if udf:
            kwargs["udf_path"] = "/" + name
        image.add_fp(io.BytesIO(data), len(data), short, **kwargs)
    out = io.BytesIO()
    image.write_fp(out)
    image.close()
    return out.getvalue()


def udf_only(files):
    """A UDF image without a readable ISO 9660 tree: the bridge's ISO descriptor is blanked."""
    data = bytearray(iso(files, udf=True))
    for sector in range(16, 24):
        at = sector * 2048
        if data[at + 1:at + 6] == b"CD001":
            data[at + 1:at + 6] = b"\0\0\0\0\0"
    return bytes(data)


def fat_image(files):
    with tempfile.TemporaryDirectory() as d:
        img = pathlib.Path(d, "disk.img")
        subprocess.run(["mkfs.fat", "-C", str(img), "1440"], check=True, capture_output=True)
        for name, data in files:
            p = pathlib.Path(d, name)
            p.write_bytes(data)
            subprocess.run(["mcopy", "-i", str(img), str(p), "::" + name], check=True)
        return img.read_bytes()


# --- RAR (store), by hand; checked with bsdtar by generate.py ----------------------------------

def _vint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _rar5_block(kind, flags, body, data=b""):
    fl = flags | (2 if data else 0)
    h = _vint(kind) + _vint(fl) + (_vint(len(data)) if data else b"") + body
    h = _vint(len(h)) + h
    return struct.pack("<I", zlib.crc32(h)) + h + data


def rar5(members):
    """members: (name, data, method) with method 0 = store (others: listed, bytes as given)."""
    out = b"Rar!\x1a\x07\x01\x00" + _rar5_block(1, 0, _vint(0))
    for name, data, method in members:
        n = name.encode()
        body = (_vint(0x4) + _vint(len(data)) + _vint(0x20) + struct.pack("<I", zlib.crc32(data))
                + _vint(method << 7) + _vint(0) + _vint(len(n)) + n)
        out += _rar5_block(2, 0, body, data)
    return out + _rar5_block(5, 0, _vint(0))


def rar4(members):
    out = b"Rar!\x1a\x07\x00"
    main = struct.pack("<BHHHI", 0x73, 0, 13, 0, 0)
    out += struct.pack("<H", zlib.crc32(main) & 0xFFFF) + main
    for name, data in members:
        n = name.encode()
        h = struct.pack("<BHHIIBIIBBHI", 0x74, 0x8000, 32 + len(n), len(data), len(data), 2,
                        zlib.crc32(data), 0x5A000000, 29, 0x30, len(n), 0x20) + n
        out += struct.pack("<H", zlib.crc32(h) & 0xFFFF) + h + data
    end = struct.pack("<BHH", 0x7B, 0x4000, 7)
    return out + struct.pack("<H", zlib.crc32(end) & 0xFFFF) + end


# --- CAB (uncompressed) -------------------------------------------------------------------------

def cab(members):
    files = b""
    offset = 0
    for name, data in members:
        files += struct.pack("<IIHHHH", len(data), offset, 0, 0x5821, 0, 0x20) + name.encode() + b"\0"
        offset += len(data)
    payload = b"".join(d for _, d in members)
    blocks = [payload[i:i + 32768] for i in range(0, len(payload), 32768)] or [b""]
    header_len = 36 + 8
    coff_files = header_len
    data_start = coff_files + len(files)
    cfdata = b"".join(struct.pack("<IHH", 0, len(b), len(b)) + b for b in blocks)
    total = data_start + len(cfdata)
    header = struct.pack("<4sIIIIIBBHHHHH", b"MSCF", 0, total, 0, coff_files, 0, 3, 1, 1, len(members), 0, 0x1234, 0)
    folder = struct.pack("<IHH", data_start, len(blocks), 0)
    return header + folder + files + cfdata


# --- CHM (one uncompressed page) ---------------------------------------------------------------

def _encint(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def chm(pages):
    """pages: (path, bytes), stored in content section 0 (uncompressed)."""
    chunk_size = 0x1000
    entries = b""
    offset = 0
    for path, data in pages:
        p = path.encode()
        entries += _encint(len(p)) + p + _encint(0) + _encint(offset) + _encint(len(data))
        offset += len(data)
    pmgl = b"PMGL" + struct.pack("<IIii", chunk_size - 0x14 - len(entries), 0, -1, -1) + entries
    pmgl = pmgl.ljust(chunk_size, b"\0")
    itsp = b"ITSP" + struct.pack("<IIIIIIiIIiII", 1, 0x54, 0x0A, chunk_size, 2, 1, -1, 0, 0, -1, 1, 0x409)
    itsp = itsp.ljust(0x54, b"\0")
    header_len = 0x60
    sect0 = bytes(0x18)
    dir_off = header_len + len(sect0)
    directory = itsp + pmgl
    content = dir_off + len(directory)
    itsf = b"ITSF" + struct.pack("<IIIII", 3, header_len, 1, 0, 0x409) + bytes(32)
    itsf += struct.pack("<QQQQQ", header_len, len(sect0), dir_off, len(directory), content)
    return itsf + sect0 + directory + b"".join(d for _, d in pages)


# --- 7z ---------------------------------------------------------------------------------------

def sevenz(members, password=None, header_encryption=False):
    import py7zr
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", password=password, header_encryption=header_encryption) as z:
        for name, data in members:
            z.writestr(data, name)
    return buf.getvalue()
