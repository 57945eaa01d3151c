"""The offline tools' report writer."""

from __future__ import annotations


def test_a_report_without_matplotlib_keeps_its_tables(tmp_path, monkeypatch):
    """The plots are an extra (``streamrec[reports]``): without it the report is written
    with its tables and says how to get the plots."""
    import sys

    from streamrec.streams.tools.report import Report
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import raises ImportError
    r = Report("t")
    r.table("figures", ["a"], [[1]])
    r.plot("p", "a plot", lambda ax: ax.plot([1]))
    text = r.save(tmp_path, {"x": 1}).read_text()
    assert "**figures**" in text and "| 1" in text
    assert "streamrec[reports]" in text and not (tmp_path / "p.png").exists()
