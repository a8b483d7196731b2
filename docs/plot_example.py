"""Regenerate README's picture: the safe-region map of `examples/pinn.py` (`relulint plot`).

    python docs/plot_example.py          # rewrite docs/safe_region_pinn.png
    python docs/plot_example.py --check  # exit 1 when the PNG is stale (the test-suite runs this)

The PNG carries what it shows as a text chunk (`relulint.plot.figure_data`: the picture's size in pixels,
each chain marker's data coordinates, the Eq. 5 lines); `--check` draws the figure again and compares
that, and the size in the PNG's header, rather than the bytes, which differ between matplotlib versions.
Needs the plot extra: pip install "relulint[plot]".
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PICTURE = ROOT / "docs" / "safe_region_pinn.png"
TARGET = "examples/pinn.py"


def figure() -> object:
    import relulint
    from relulint.plot import draw

    report = relulint.check(TARGET, cwd=ROOT)
    return draw(report, p=0.01, title=TARGET)


def png_chunks(data: bytes) -> tuple[tuple[int, int], dict[str, str]]:
    """(width, height) from the IHDR chunk, and the text chunks (tEXt, zTXt, iTXt) of a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    size = struct.unpack(">II", data[16:24])
    texts: dict[str, str] = {}
    at = 8
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"tEXt":
            key, value = body.split(b"\0", 1)
            texts[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"zTXt":
            key, rest = body.split(b"\0", 1)
            texts[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
        elif kind == b"iTXt":
            key, rest = body.split(b"\0", 1)
            compressed, rest = rest[0], rest[2:]
            _language, _translated, text = rest.split(b"\0", 2)
            texts[key.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode("utf-8")
        at += 12 + length
    return size, texts


def stale(path: Path = PICTURE) -> str | None:
    """Why the committed picture does not show what `figure()` draws now; None when it does."""
    from relulint.plot import figure_data

    if not path.is_file():
        return f"{path.name} is missing"
    size, texts = png_chunks(path.read_bytes())
    expected = figure_data(figure())
    if list(size) != expected["size"]:
        return (
            f"{path.name} is {size[0]}×{size[1]} px, the figure {expected['size'][0]}×{expected['size'][1]}"
        )
    stored = json.loads(texts.get("relulint", "null"))
    if stored != json.loads(json.dumps(expected)):
        return f"{path.name} shows other data than the figure (markers or Eq. 5 lines changed)"
    return None


def main() -> int:
    if "--check" in sys.argv:
        problem = stale()
        if problem is not None:
            print(f"{problem}: run python docs/plot_example.py", file=sys.stderr)
            return 1
        return 0
    from relulint.plot import save_figure

    save_figure(figure(), PICTURE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
