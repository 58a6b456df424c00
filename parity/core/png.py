"""A minimal PNG writer (zlib + numpy, no plotting dependency) and the error map `parity check --plot` draws."""
from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path
from typing import Final

import numpy as np

SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_MIN_TILE: Final = 48  # pixels: small tiles are enlarged by an integer factor up to at least this
_BAND: Final = 12  # pixels: height of the band drawn for a 1-D output row
_GAP: Final = 2


def write(path: str | Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB image as an 8-bit truecolour PNG."""
    Path(path).write_bytes(encode(image))


def encode(image: np.ndarray) -> bytes:
    """The PNG file bytes of an (H, W, 3) uint8 RGB image."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an (H, W, 3) uint8 array, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    rows = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, width * 3)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    chunks = [_chunk(b"IHDR", header), _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)), _chunk(b"IEND", b"")]
    return SIGNATURE + b"".join(chunks)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def error_map(error: np.ndarray) -> np.ndarray:
    """|Y - reference| (N, C, *spatial) as an RGB grid with one tile per output channel.

    Each tile is the maximum over the batch (and over depth for 3-D data; a 1-D row is drawn as a band),
    scaled by the largest error overall: black is 0, through red and yellow to white at the maximum.
    """
    tiles = np.nan_to_num(np.abs(error), nan=np.inf).max(axis=0)
    if tiles.ndim == 4:
        tiles = tiles.max(axis=1)
    if tiles.ndim == 2:
        tiles = tiles[:, None, :]
    peak = np.max(tiles[np.isfinite(tiles)], initial=0.0)
    level = np.where(np.isfinite(tiles), tiles / peak if peak > 0 else 0.0, 1.0)
    factor = max(1, -(-_MIN_TILE // max(tiles.shape[1:])))
    level = level.repeat(factor if tiles.shape[1] > 1 else _BAND, axis=1).repeat(factor, axis=2)
    return _grid(_heat(level))


def _heat(level: np.ndarray) -> np.ndarray:
    """Black -> red -> yellow -> white as the level goes 0 -> 1."""
    channels = [np.clip(3 * level - offset, 0, 1) for offset in (0, 1, 2)]
    return (np.stack(channels, axis=-1) * 255).round().astype(np.uint8)


def _grid(tiles: np.ndarray) -> np.ndarray:
    count, height, width = tiles.shape[:3]
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    image = np.full((rows * (height + _GAP) + _GAP, columns * (width + _GAP) + _GAP, 3), 64, np.uint8)
    for index in range(count):
        top, left = _GAP + index // columns * (height + _GAP), _GAP + index % columns * (width + _GAP)
        image[top:top + height, left:left + width] = tiles[index]
    return image
