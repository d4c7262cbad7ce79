"""Provenance: where each value of a file's metadata came from, as read_metadata_with_sources
returns it and as `syncd metadata PATH [--json]` prints it (run as a real process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sidecar_helpers import media_with

from syncd.config import Config, Secret, SiteConfig, WatchRoot, parse_config
from syncd.metadata.base import config_base
from syncd.metadata.desired import read_metadata_with_sources
from syncd.metadata.sidecar.provenance import Source, SourceKind

REPO_ROOT = Path(__file__).resolve().parents[2]
# A `syncd metadata` process taking longer than this is hung, not slow.
COMMAND_TIMEOUT = 60.0

CONFIG = """\
[site]
domain = "video.example.com"
consumer_key = "key"
consumer_secret = "consumer-secret-value"
access_token = "token"
access_token_secret = "token-secret-value"

[journal]
path = "journal.db"

[[watch]]
path = "archive"
album = "Archive"
tags = ["archive"]

[metadata]
xmp_rating_variable = "rating"
"""


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """config < archive/.syncd.json < archive/nature/.syncd.yaml < sunset.xmp (Lightroom)."""
    config = tmp_path / "syncd.toml"
    config.write_text(CONFIG, encoding="utf-8")
    config.chmod(0o600)
    root = tmp_path / "archive"
    media_with(root, "nature/sunset.mov", "sunset.xmp", "lightroom-classic.xmp")
    (root / ".syncd.json").write_text(
        json.dumps({"tags": ["examples"], "album": "syncd examples", "custom": {"set": "a"}}),
        encoding="utf-8",
    )
    (root / "nature" / ".syncd.yaml").write_text(
        "tags: [nature]\nalbum: Nature\ndescription: From the folder\n", encoding="utf-8"
    )
    return root


def load(tmp_path: Path) -> Config:
    import tomllib

    data = tomllib.loads((tmp_path / "syncd.toml").read_text(encoding="utf-8"))
    return parse_config(data, source=tmp_path / "syncd.toml", env={})[0]


def test_each_value_names_its_source(tmp_path: Path, archive: Path) -> None:
    config = load(tmp_path)
    base, base_sources = config_base(config, archive)
    media = archive / "nature" / "sunset.mov"
    meta, sources = read_metadata_with_sources(media, archive, base, config.metadata, base_sources)

    toml = str(tmp_path / "syncd.toml")
    xmp = Source(SourceKind.SIDECAR, str(archive / "nature" / "sunset.xmp"), "xmp")
    yaml = Source(SourceKind.FOLDER, str(archive / "nature" / ".syncd.yaml"), "yaml")
    json_ = Source(SourceKind.FOLDER, str(archive / ".syncd.json"), "json")
    watch = Source(SourceKind.CONFIG, toml, None, f"[[watch]] tags (path {archive})")
    assert sources.fields == {
        "title": xmp,
        "description": xmp,  # the sidecar overrides the folder's description
        "albums": yaml,  # the deepest album wins over .syncd.json's and the config's
        "publish": Source(SourceKind.CONFIG, toml, None, "[upload] publish"),
        "publish_date": xmp,
        "coordinates": xmp,
    }
    assert sources.tags == {
        "archive": watch,
        "examples": json_,
        "nature": yaml,
        **{t: xmp for t in ("Oslo", "Oslofjord", "golden hour", "ferry", "sunset")},
    }
    assert sources.custom == {"set": json_, "rating": xmp}
    assert list(sources.tags) == list(meta.tags)


def test_a_default_title_and_replaced_tags(tmp_path: Path) -> None:
    (tmp_path / "talk.mp4").write_bytes(b"media")
    (tmp_path / ".syncd.json").write_text('{"tags": ["folder"]}', encoding="utf-8")
    (tmp_path / "talk.yml").write_text("tags: [own]\nreplace_tags: true\n", encoding="utf-8")
    meta, sources = read_metadata_with_sources(tmp_path / "talk.mp4", tmp_path)
    assert meta.title == "talk"
    assert sources.fields["title"] == Source(SourceKind.DEFAULT, detail="the file name")
    assert sources.tags == {"own": Source(SourceKind.SIDECAR, str(tmp_path / "talk.yml"), "yaml")}


def test_the_deepest_watch_root_gives_the_base(tmp_path: Path) -> None:
    site = SiteConfig("h", "k", Secret("s"), "t", Secret("ts"))
    outer = WatchRoot(tmp_path / "a", album="Outer", tags=("outer",))
    inner = WatchRoot(tmp_path / "a" / "b", album="Inner", tags=("inner",))
    config = Config(site=site, journal_path=tmp_path / "j.db", watch=(outer, inner))
    assert config.watch_root_for(tmp_path / "a" / "b" / "c") is inner
    assert config.watch_root_for(tmp_path / "a" / "x") is outer
    assert config.watch_root_for(tmp_path / "ab") is None  # a prefix is not a parent
    base, sources = config_base(config, tmp_path / "a" / "b")
    assert (base.albums, base.tags) == (("Inner",), ("inner",))
    assert sources.fields["albums"].detail == f"[[watch]] album (path {inner.path})"
    base, sources = config_base(config, tmp_path / "elsewhere")
    assert (base.albums, base.tags, set(sources.fields)) == ((), (), {"publish"})


# --- the command -------------------------------------------------------------------------


def syncd_metadata(tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", "-c", str(tmp_path / "syncd.toml"), "metadata"]
        + [str(a) for a in args],
        capture_output=True,
        timeout=COMMAND_TIMEOUT,
        env=env,
        cwd=tmp_path,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    )


def line_of(output: str, start: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith(start)]
    return line


def test_command_prints_values_and_sources(tmp_path: Path, archive: Path) -> None:
    media = archive / "nature" / "sunset.mov"
    result = syncd_metadata(tmp_path, media)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    xmp = f"<- {archive / 'nature' / 'sunset.xmp'} (sidecar, xmp)"
    assert line_of(out, "file: ") == f"file: {media}"
    assert line_of(out, "root: ") == f"root: {archive}"  # the [[watch]] folder holding it
    assert line_of(out, "title: ").endswith(xmp)
    assert '"Sunset over the Oslofjord"' in line_of(out, "title: ")
    assert line_of(out, "tags: ").endswith(
        f"<- config {tmp_path / 'syncd.toml'}: [[watch]] tags (path {archive})"
    )
    examples = line_of(out, " " * 14 + '"examples"')
    assert examples.endswith(f"<- {archive / '.syncd.json'} (folder defaults, json)")
    nature = line_of(out, " " * 14 + '"nature"')
    assert nature.endswith(f"<- {archive / 'nature' / '.syncd.yaml'} (folder defaults, yaml)")
    assert line_of(out, "albums: ").endswith("(folder defaults, yaml)")
    assert line_of(out, "publish: ").endswith(": [upload] publish")
    assert line_of(out, 'custom:       rating = "4"').endswith(xmp)  # sorted by name
    assert line_of(out, " " * 14 + 'set = "a"').endswith("(folder defaults, json)")
    assert line_of(out, "chapters: ") == "chapters:     (not set)"
    assert "not applied" not in out  # every field is sent now
    assert "secret-value" not in out + result.stderr


def test_command_json(tmp_path: Path, archive: Path) -> None:
    media = archive / "nature" / "sunset.mov"
    result = syncd_metadata(tmp_path, media, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["metadata"]["title"] == "Sunset over the Oslofjord"
    assert data["metadata"]["albums"] == ["Nature"]
    assert data["metadata"]["coordinates"] == {"latitude": 59.91199, "longitude": 10.73912}
    assert data["sources"]["title"] == {
        "kind": "sidecar",
        "path": str(archive / "nature" / "sunset.xmp"),
        "format": "xmp",
    }
    assert data["sources"]["tags"]["archive"]["kind"] == "config"
    assert data["sources"]["tags"]["nature"]["format"] == "yaml"
    assert data["sources"]["custom"]["set"]["path"] == str(archive / ".syncd.json")
    assert len(data["digest"]) == 16


def test_command_root_option_starts_folder_defaults_lower(tmp_path: Path, archive: Path) -> None:
    media = archive / "nature" / "sunset.mov"
    data = json.loads(
        syncd_metadata(tmp_path, media, "--json", "--root", archive / "nature").stdout
    )
    assert "examples" not in data["metadata"]["tags"]  # archive/.syncd.json is above the root
    assert data["metadata"]["tags"][:2] == ["archive", "nature"]  # still under [[watch]]


def test_command_bad_sidecar_exits_1_naming_it(tmp_path: Path, archive: Path) -> None:
    (archive / "nature" / ".syncd.yaml").write_text("tags: [a,\n", encoding="utf-8")
    result = syncd_metadata(tmp_path, archive / "nature" / "sunset.mov")
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"syncd: {archive / 'nature' / '.syncd.yaml'}: invalid YAML at line 2 column 1"
    )
    assert result.stdout == ""


def test_command_refuses_a_sidecar_as_path(tmp_path: Path, archive: Path) -> None:
    result = syncd_metadata(tmp_path, archive / "nature" / "sunset.xmp")
    assert result.returncode == 2
    assert "is a metadata file; give the media file it describes" in result.stderr


def test_command_outside_any_watch_folder_uses_the_files_folder(tmp_path: Path) -> None:
    (tmp_path / "syncd.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "syncd.toml").chmod(0o600)
    loose = tmp_path / "loose"
    media_with(loose, "clip.mp4", "clip.mp4.yaml", "hand-kept.yaml")
    result = syncd_metadata(tmp_path, loose / "clip.mp4")
    assert result.returncode == 0, result.stderr
    assert line_of(result.stdout, "root: ") == f"root: {loose}"
    assert line_of(result.stdout, "chapters: ").startswith(
        'chapters:     00:00:00 "Parkeringsplassen'
    )
    assert line_of(result.stdout, "thumbnail: ").startswith("thumbnail:    frame at 00:01:35.5")


def test_command_needs_no_access_token(tmp_path: Path) -> None:
    config = CONFIG.replace('access_token = "token"\n', "").replace(
        'access_token_secret = "token-secret-value"\n', ""
    )
    assert "access_token" not in config
    (tmp_path / "syncd.toml").write_text(config, encoding="utf-8")
    (tmp_path / "syncd.toml").chmod(0o600)
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "clip.mp4").write_bytes(b"media")
    result = syncd_metadata(tmp_path, tmp_path / "archive" / "clip.mp4")
    assert result.returncode == 0, result.stderr
    title = line_of(result.stdout, "title: ")
    assert title.startswith('title:        "clip"') and title.endswith("<- default: the file name")
