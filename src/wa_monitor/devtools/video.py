"""A real MP4 video written byte by byte, for the bridge's stand-in: no encoder needed.

An agent sometimes films a drop instead of photographing it; WhatsApp sends that as an MP4 with
an H.264 stream. This writes one a browser decodes and plays: H.264 Baseline where every
macroblock is I_PCM (its pixels stored as they are, which every decoder must read; no
prediction, no transform, so no encoder), in the smallest MP4 a player accepts (ftyp, moov with
one video track, mdat). Large per pixel, so only for small frames: a 128x96 frame is 18 kB.

The structures are those of ISO/IEC 14496-10 (the H.264 syntax: SPS, PPS, an IDR slice of
I_PCM macroblocks) and ISO/IEC 14496-12/-15 (the MP4 boxes, the avcC configuration).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from PIL import Image

MB = 16  # a macroblock's side in pixels
_PROFILE_BASELINE = 66
_CONSTRAINTS = 0xC0  # constraint_set0 and set1: a Baseline stream any Main decoder takes too
_LEVEL = 30  # 3.0: up to 720x576, far above what is written here
_I_PCM = 25  # mb_type of I_PCM in an I slice
_TIMESCALE = 1000  # the track's clock: milliseconds
_UNITY = (0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)  # the identity matrix


def mp4(frames: Sequence[Image.Image], *, fps: int = 4) -> bytes:
    """An MP4 of `frames` (all of one size, each side a multiple of 16) at `fps` a second."""
    if not frames:
        raise ValueError("a video needs a frame")
    width, height = frames[0].size
    if width % MB or height % MB or any(f.size != (width, height) for f in frames):
        raise ValueError("every frame must be the first one's size, in multiples of 16")
    sps, pps = _sps(width, height), _pps()
    samples = [_length_prefixed(_idr(frame, n % 2)) for n, frame in enumerate(frames)]
    delta = _TIMESCALE // fps
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41")

    def moov(data_at: int) -> bytes:
        sizes = [len(s) for s in samples]
        return _moov(
            width=width, height=height, sps=sps, pps=pps, sizes=sizes, delta=delta, data_at=data_at
        )

    # The sample table names where the data lies (after ftyp and moov): moov's own size does
    # not depend on that offset, so it is laid out once to learn it.
    data_at = len(ftyp) + len(moov(0)) + 8
    mdat = b"".join(samples)
    return ftyp + moov(data_at) + struct.pack(">I", 8 + len(mdat)) + b"mdat" + mdat


# -- H.264: the bits ---------------------------------------------------------------------------


class _Bits:
    """An RBSP being written: fixed-width fields, Exp-Golomb codes, byte-aligned raw bytes."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.count = 0  # bits in `acc`, fewer than 8

    def u(self, value: int, width: int) -> None:
        for shift in range(width - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> shift) & 1)
            self.count += 1
            if self.count == 8:
                self.out.append(self.acc)
                self.acc = self.count = 0

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(0, code.bit_length() - 1)
        self.u(code, code.bit_length())

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align(self) -> None:
        while self.count:
            self.u(0, 1)

    def raw(self, data: bytes) -> None:
        if self.count:
            raise ValueError("raw bytes start on a byte boundary")
        self.out += data

    def trailing(self) -> bytes:
        """rbsp_trailing_bits: a stop bit, then zeros to the byte."""
        self.u(1, 1)
        self.align()
        return bytes(self.out)


def _nal(ref_idc: int, kind: int, rbsp: bytes) -> bytes:
    """A NAL unit: its header byte, then the RBSP with emulation prevention (no 00 00 0x,
    x <= 3, inside: a 03 goes between)."""
    out = bytearray([(ref_idc << 5) | kind])
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _sps(width: int, height: int) -> bytes:
    bits = _Bits()
    bits.u(_PROFILE_BASELINE, 8)
    bits.u(_CONSTRAINTS, 8)
    bits.u(_LEVEL, 8)
    bits.ue(0)  # seq_parameter_set_id
    bits.ue(0)  # log2_max_frame_num_minus4
    bits.ue(2)  # pic_order_cnt_type 2: output order is decoding order
    bits.ue(1)  # max_num_ref_frames
    bits.u(0, 1)  # gaps_in_frame_num_value_allowed_flag
    bits.ue(width // MB - 1)
    bits.ue(height // MB - 1)
    bits.u(1, 1)  # frame_mbs_only_flag
    bits.u(1, 1)  # direct_8x8_inference_flag
    bits.u(0, 1)  # frame_cropping_flag
    bits.u(0, 1)  # vui_parameters_present_flag: limited-range BT.601, the default
    return _nal(3, 7, bits.trailing())


def _pps() -> bytes:
    bits = _Bits()
    bits.ue(0)  # pic_parameter_set_id
    bits.ue(0)  # seq_parameter_set_id
    bits.u(0, 1)  # entropy_coding_mode_flag: CAVLC
    bits.u(0, 1)  # bottom_field_pic_order_in_frame_present_flag
    bits.ue(0)  # num_slice_groups_minus1
    bits.ue(0)  # num_ref_idx_l0_default_active_minus1
    bits.ue(0)  # num_ref_idx_l1_default_active_minus1
    bits.u(0, 1)  # weighted_pred_flag
    bits.u(0, 2)  # weighted_bipred_idc
    bits.se(0)  # pic_init_qp_minus26
    bits.se(0)  # pic_init_qs_minus26
    bits.se(0)  # chroma_qp_index_offset
    bits.u(1, 1)  # deblocking_filter_control_present_flag (the slice turns it off)
    bits.u(0, 1)  # constrained_intra_pred_flag
    bits.u(0, 1)  # redundant_pic_cnt_present_flag
    return _nal(3, 8, bits.trailing())


def _idr(frame: Image.Image, idr_pic_id: int) -> bytes:
    """One frame as an IDR picture: one I slice whose every macroblock is I_PCM."""
    luma, cb, cr = _planes(frame)
    width, height = frame.size
    bits = _Bits()
    bits.ue(0)  # first_mb_in_slice
    bits.ue(7)  # slice_type: I, as every slice of the picture
    bits.ue(0)  # pic_parameter_set_id
    bits.u(0, 4)  # frame_num (an IDR's is 0)
    bits.ue(idr_pic_id)  # two IDRs in a row differ in it
    bits.u(0, 1)  # no_output_of_prior_pics_flag
    bits.u(0, 1)  # long_term_reference_flag
    bits.se(0)  # slice_qp_delta
    bits.ue(1)  # disable_deblocking_filter_idc: off (the pixels are exact already)
    for top in range(0, height, MB):
        for left in range(0, width, MB):
            bits.ue(_I_PCM)
            bits.align()  # pcm_alignment_zero_bits
            bits.raw(_block(luma, width, left, top, MB))
            bits.raw(_block(cb, width // 2, left // 2, top // 2, MB // 2))
            bits.raw(_block(cr, width // 2, left // 2, top // 2, MB // 2))
    return _nal(3, 5, bits.trailing())


def _planes(frame: Image.Image) -> tuple[bytes, bytes, bytes]:
    """Y at full size, Cb and Cr at half (4:2:0), scaled to video range (16-235, 16-240)."""
    y, cb, cr = frame.convert("RGB").convert("YCbCr").split()
    half = (frame.width // 2, frame.height // 2)
    y = y.point(lambda v: 16 + v * 219 // 255)
    cb, cr = (
        c.resize(half, Image.Resampling.BOX).point(lambda v: 16 + v * 224 // 255) for c in (cb, cr)
    )
    return y.tobytes(), cb.tobytes(), cr.tobytes()


def _block(plane: bytes, stride: int, left: int, top: int, side: int) -> bytes:
    return b"".join(
        plane[row * stride + left : row * stride + left + side] for row in range(top, top + side)
    )


def _length_prefixed(nal: bytes) -> bytes:
    """A sample in MP4: each NAL unit after its 4-byte length (no start codes)."""
    return struct.pack(">I", len(nal)) + nal


# -- MP4: the boxes ----------------------------------------------------------------------------


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full(kind: bytes, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", flags), *parts)  # version 0


def _moov(
    *,
    width: int,
    height: int,
    sps: bytes,
    pps: bytes,
    sizes: list[int],
    delta: int,
    data_at: int,
) -> bytes:
    duration = delta * len(sizes)
    matrix = struct.pack(">9I", *_UNITY)
    mvhd = _full(
        b"mvhd",
        0,
        struct.pack(">IIII", 0, 0, _TIMESCALE, duration),
        struct.pack(">IH", 0x00010000, 0x0100),  # rate 1.0, volume 1.0
        bytes(10),
        matrix,
        bytes(24),
        struct.pack(">I", 2),  # next_track_ID
    )
    tkhd = _full(
        b"tkhd",
        0x3,  # enabled, in the movie
        struct.pack(">IIIII", 0, 0, 1, 0, duration),
        bytes(8),
        struct.pack(">hhhH", 0, 0, 0, 0),  # layer, alternate group, volume (none), reserved
        matrix,
        struct.pack(">II", width << 16, height << 16),
    )
    mdhd = _full(b"mdhd", 0, struct.pack(">IIIIHH", 0, 0, _TIMESCALE, duration, 0x55C4, 0))
    hdlr = _full(b"hdlr", 0, bytes(4), b"vide", bytes(12), b"VideoHandler\x00")
    avcc = _box(
        b"avcC",
        bytes([1, _PROFILE_BASELINE, _CONSTRAINTS, _LEVEL, 0xFF, 0xE1]),  # 4-byte lengths; 1 SPS
        struct.pack(">H", len(sps)),
        sps,
        bytes([1]),
        struct.pack(">H", len(pps)),
        pps,
    )
    avc1 = _box(
        b"avc1",
        bytes(6),
        struct.pack(">H", 1),  # data_reference_index
        bytes(16),
        struct.pack(">HH", width, height),
        struct.pack(">II", 0x00480000, 0x00480000),  # 72 dpi
        bytes(4),
        struct.pack(">H", 1),  # frame_count
        bytes(32),  # compressorname
        struct.pack(">Hh", 0x18, -1),  # depth, pre_defined
        avcc,
    )
    stbl = _box(
        b"stbl",
        _full(b"stsd", 0, struct.pack(">I", 1), avc1),
        _full(b"stts", 0, struct.pack(">III", 1, len(sizes), delta)),
        _full(b"stsc", 0, struct.pack(">IIII", 1, 1, len(sizes), 1)),  # one chunk of them all
        _full(b"stsz", 0, struct.pack(f">II{len(sizes)}I", 0, len(sizes), *sizes)),
        _full(b"stco", 0, struct.pack(">II", 1, data_at)),
    )  # no stss: every sample is a sync sample (an IDR)
    minf = _box(
        b"minf",
        _full(b"vmhd", 1, bytes(8)),
        _box(b"dinf", _full(b"dref", 0, struct.pack(">I", 1), _full(b"url ", 1))),
        stbl,
    )
    trak = _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))
    return _box(b"moov", mvhd, trak)
