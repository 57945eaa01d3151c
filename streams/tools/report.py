"""Reports of ``streamrec evaluate`` and ``streamrec bench``: Markdown + PNG + JSON.

A :class:`Report` collects paragraphs, tables and plots; :meth:`Report.save` writes
``report.md`` (tables inline, plots as linked PNGs), each plot as a PNG (matplotlib, no
screen needed) and ``results.json`` with the raw numbers. Tables also print to the
terminal.

>>> r = Report("demo")
>>> r.table("speed", ["run", "events/s"], [["a", 1200.0], ["b", 98.5]])
>>> print(r.tables_text())
speed
| run | events/s |
|-----|----------|
| a   | 1,200    |
| b   | 98.5     |
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


def fmt(v: Any) -> str:
    """A table cell: floats with sensible digits, thousands separators."""
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        if abs(v) >= 1:
            return f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else f"{v:.0f}"
        return f"{v:.4f}"
    return str(v)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in header]] + [[fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
             for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


@dataclass
class _Plot:
    name: str
    caption: str
    draw: Callable[[Any], None]   # draws on a matplotlib Axes


@dataclass
class Report:
    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def para(self, text: str) -> None:
        self.blocks.append(("para", text))

    def table(self, caption: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.blocks.append(("table", (caption, list(header), [list(r) for r in rows])))

    def plot(self, name: str, caption: str, draw: Callable[[Any], None]) -> None:
        self.blocks.append(("plot", _Plot(name, caption, draw)))

    def tables_text(self) -> str:
        return "\n\n".join(f"{c}\n{markdown_table(h, rows)}"
                           for kind, (c, h, rows) in
                           ((k, b) for k, b in self.blocks if k == "table"))

    def save(self, out: Path, raw: dict[str, Any]) -> Path:
        """Write report.md, the PNG plots and results.json into ``out``; returns report.md."""
        plt = _pyplot()
        out.mkdir(parents=True, exist_ok=True)
        md = [f"# {self.title}", ""]
        for kind, b in self.blocks:
            if kind == "para":
                md += [b, ""]
            elif kind == "table":
                caption, header, rows = b
                md += [f"**{caption}**", "", markdown_table(header, rows), ""]
            elif plt is None:
                md += [f"*{b.caption}: no plot (matplotlib is not installed: "
                       "pip install 'streamrec[reports]')*", ""]
            else:
                fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
                b.draw(ax)
                fig.tight_layout()
                fig.savefig(out / f"{b.name}.png")
                plt.close(fig)
                md += [f"![{b.caption}]({b.name}.png)", "", f"*{b.caption}*", ""]
        (out / "results.json").write_bytes(
            orjson.dumps(raw, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
        path = out / "report.md"
        path.write_text("\n".join(md))
        return path


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, or None where the ``reports`` extra is not
    installed (the worker image does not carry it): the tables are written all the same."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt
