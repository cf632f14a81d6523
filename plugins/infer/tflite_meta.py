"""Read a named metadata entry from a ``.tflite`` file without the TFLite schema package.

A TFLite model is a FlatBuffer whose root table ``Model`` has ``buffers`` (field 4) and
``metadata`` (field 6: tables ``{name: string, buffer: uint}``); a ``Buffer`` holds its
bytes in ``data`` (field 0) or, in files over 2 GB, at ``offset``/``size`` (fields 1, 2)
from the start of the file. tflite-runtime ships no schema, so this reads those few
fields directly (checked against ai_edge_litert's generated schema in the tests).
"""
from __future__ import annotations

import struct


def _u32(buf: bytes, pos: int) -> int:
    return struct.unpack_from("<I", buf, pos)[0]


def _field(buf: bytes, table: int, index: int) -> int | None:
    """Position of field ``index`` of the table at ``table``, or None when absent."""
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    vt_size = struct.unpack_from("<H", buf, vtable)[0]
    slot = 4 + 2 * index
    if slot >= vt_size:
        return None
    off = struct.unpack_from("<H", buf, vtable + slot)[0]
    return table + off if off else None


def _vector(buf: bytes, pos: int) -> tuple[int, int]:
    """(start of elements, length) of the vector referenced at ``pos``."""
    start = pos + _u32(buf, pos)
    return start + 4, _u32(buf, start)


def _table_at(buf: bytes, pos: int) -> int:
    return pos + _u32(buf, pos)


def read_metadata(buf: bytes, name: str) -> bytes | None:
    """The bytes of metadata entry ``name``, or None when the model has none."""
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ValueError("not a TFLite model (no TFL3 identifier)")
    model = _table_at(buf, 0)
    meta_pos, buffers_pos = _field(buf, model, 6), _field(buf, model, 4)
    if meta_pos is None or buffers_pos is None:
        return None
    start, count = _vector(buf, meta_pos)
    for i in range(count):
        entry = _table_at(buf, start + 4 * i)
        name_pos = _field(buf, entry, 0)
        if name_pos is None:
            continue
        s_start, s_len = _vector(buf, name_pos)
        if buf[s_start:s_start + s_len].decode() != name:
            continue
        index_pos = _field(buf, entry, 1)
        index = _u32(buf, index_pos) if index_pos is not None else 0
        b_start, _ = _vector(buf, buffers_pos)
        buffer = _table_at(buf, b_start + 4 * index)
        data_pos = _field(buf, buffer, 0)
        if data_pos is not None:
            d_start, d_len = _vector(buf, data_pos)
            return bytes(buf[d_start:d_start + d_len])
        off_pos, size_pos = _field(buf, buffer, 1), _field(buf, buffer, 2)
        if off_pos is not None and size_pos is not None:
            off = struct.unpack_from("<Q", buf, off_pos)[0]
            size = struct.unpack_from("<Q", buf, size_pos)[0]
            return bytes(buf[off:off + size])
        return b""
    return None
