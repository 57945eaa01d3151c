import zipfile

from streamrec.streams.cli import ensure_data
from streamrec.streams.settings import Settings


def test_missing_dataset_is_downloaded_with_a_message(tmp_path, monkeypatch, capsys):
    # an official-layout zip served from a file:// URL stands in for the network
    src = tmp_path / "ml.zip"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("ml-latest-small/ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,5\n")
        z.writestr("ml-latest-small/movies.csv", "movieId,title,genres\n1,Toy Story,Comedy\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr("streamrec.streams.settings.search_roots", lambda: [work])
    s = ensure_data(Settings.from_env({}), url=src.as_uri())
    out = capsys.readouterr().out
    assert "movielens-small dataset not found" in out and "Downloading it now" in out
    assert (work / "data" / "movielens-small" / "ratings.csv").exists()
    assert s.resolved_data_dir() == (work / "data" / "movielens-small").resolve()
    assert ensure_data(s) == s  # present now: nothing downloaded again
