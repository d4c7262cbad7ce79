"""syncd.metadata.desired against real files in tmp_path (and the bundled examples/)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from syncd.errors import SidecarError
from syncd.metadata import desired as sidecar
from syncd.metadata.desired import is_sidecar, read_metadata, sidecar_files
from syncd.model import Metadata

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# The examples are committed to git: keep the checkout small.
EXAMPLES_MAX_BYTES = 200 * 1024

Files = dict[str, Any]  # relative path -> JSON value, or raw bytes
# Custom variable names that would override a parameter of the upload (issue 12), in every
# family: metadata, token, callback, answer format, OAuth, Resumable.js, another case.
RESERVED_EXAMPLES = ("tags", "photo_id", "user_id", "max_uploads", "format", "title", "publish",
                     "album_id", "description", "publish_date", "return_url", "upload_token",
                     "token", "domain", "oauth_token", "resumableIdentifier", "Tags")  # fmt: skip


def make_tree(root: Path, files: Files, media: tuple[str, ...] = ()) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    for rel in media:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x00media")


# --- layering ---------------------------------------------------------------

LAYER_CASES: list[tuple[str, Files, str, Metadata, dict[str, Any]]] = [
    (
        "no files at all: base plus default title from the stem",
        {},
        "a/interview-2019.mp4",
        Metadata(tags=("cfg",), albums=("Archive",), publish=False),
        {
            "title": "interview-2019",
            "tags": ("cfg",),
            "albums": ("Archive",),
            "publish": False,
            "description": None,
        },
    ),
    (
        "root < folder < sidecar, key by key",
        {
            ".syncd.json": {"album": "Root", "publish": False, "description": "root d"},
            "a/.syncd.json": {"album": "A", "publish_date": "2020-01-02"},
            "a/b/.syncd.json": {"publish": True},
            "a/b/x.mp4.json": {"title": "X", "publish_date": "2021-03-04 05:06:07"},
        },
        "a/b/x.mp4",
        Metadata(albums=("Cfg",)),
        {
            "title": "X",
            "description": "root d",
            "albums": ("A",),
            "publish": True,
            "publish_date": "2021-03-04 05:06:07",
        },
    ),
    (
        "tags accumulate shallow first, de-duplicated, string form split",
        {
            ".syncd.json": {"tags": ["examples", " spaced tag ", ""]},
            "a/.syncd.json": {"tags": "nature examples  wild"},
            "a/x.json": {"tags": ["ocean", "nature"]},
        },
        "a/x.mp4",
        Metadata(tags=("cfg",)),
        {"tags": ("cfg", "examples", "spaced tag", "nature", "wild", "ocean")},
    ),
    (
        "replace_tags drops every inherited tag, base included",
        {
            ".syncd.json": {"tags": ["examples"]},
            "x.mp4.json": {"tags": "only", "replace_tags": True},
        },
        "x.mp4",
        Metadata(tags=("cfg",)),
        {"tags": ("only",)},
    ),
    (
        "replace_tags false keeps the union",
        {".syncd.json": {"tags": ["examples"]}, "x.mp4.json": {"tags": "t", "replace_tags": False}},
        "x.mp4",
        Metadata(),
        {"tags": ("examples", "t")},
    ),
    (
        "album vs albums: a deeper albums list replaces, duplicates dropped",
        {".syncd.json": {"album": " Root "}, "a/.syncd.json": {"albums": ["P", "Q", "P"]}},
        "a/x.mp4",
        Metadata(),
        {"albums": ("P", "Q")},
    ),
    (
        "an empty albums list clears inherited albums",
        {".syncd.json": {"album": "Root"}, "x.mp4.json": {"albums": []}},
        "x.mp4",
        Metadata(albums=("Cfg",)),
        {"albums": ()},
    ),
    (
        "empty title/description after stripping count as absent",
        {
            ".syncd.json": {"description": "keep me"},
            "x.mp4.json": {"title": "  ", "description": ""},
        },
        "x.mp4",
        Metadata(),
        {"title": "x", "description": "keep me"},
    ),
    (
        "title and description are stripped, HTML kept",
        {"x.mp4.json": {"title": "  Waves ", "description": " <p>a <b>b</b></p>\n"}},
        "x.mp4",
        Metadata(),
        {"title": "Waves", "description": "<p>a <b>b</b></p>"},
    ),
    (
        "custom merges per variable, deeper wins, sorted",
        {".syncd.json": {"custom": {"b": "1", "a": "root"}}, "x.json": {"custom": {"a": "file"}}},
        "x.mp4",
        Metadata(),
        {"custom": (("a", "file"), ("b", "1"))},
    ),
    (
        "stem sidecar used when the filename sidecar is absent",
        {"x.json": {"title": "By stem"}},
        "x.mp4",
        Metadata(),
        {"title": "By stem"},
    ),
    (
        "a UTF-8 BOM is tolerated; non-ASCII text kept",
        {"x.mp4.json": b'\xef\xbb\xbf{"title": "Bl\xc3\xa5b\xc3\xa6r"}'},
        "x.mp4",
        Metadata(),
        {"title": "Blåbær"},
    ),
    (
        "a file without a suffix: one sidecar name, not ambiguous",
        {"README.json": {"title": "Readme"}},
        "README",
        Metadata(),
        {"title": "Readme"},
    ),
    (
        ".syncd.json above the root is ignored",
        {".syncd.json": {"title": "outside"}, "root/x.mp4.json": {"tags": "t"}},
        "root/x.mp4",
        Metadata(),
        {"title": "x", "tags": ("t",)},
    ),
]


@pytest.mark.parametrize(
    ("files", "media", "base", "expected"),
    [case[1:] for case in LAYER_CASES],
    ids=[case[0] for case in LAYER_CASES],
)
def test_layering(
    tmp_path: Path, files: Files, media: str, base: Metadata, expected: dict[str, Any]
) -> None:
    make_tree(tmp_path, files, (media,))
    # The last case puts its root one level down; every other case uses tmp_path.
    root = tmp_path / "root" if media.startswith("root/") else tmp_path
    meta = read_metadata(tmp_path / media, root, base)
    got = {key: getattr(meta, key) for key in expected}
    assert got == expected


# --- bad input: each problem has its own message naming the file -------------

ERROR_CASES: list[tuple[str, Files, str, list[str]]] = [
    (
        "invalid JSON gives line and column",
        {"x.mp4.json": b'{"title": "x",\n  "tags": [}'},
        "x.mp4.json",
        ["invalid JSON at line 2 column"],
    ),
    (
        "unknown key with a did-you-mean hint",
        {"x.mp4.json": {"tag": ["a"]}},
        "x.mp4.json",
        ["tag: unknown key", "did you mean 'tags'?"],
    ),
    (
        "unknown key without a close match lists the known keys",
        {"x.mp4.json": {"zzzzzz": 1}},
        "x.mp4.json",
        ["zzzzzz: unknown key; known keys: album, albums,"],
    ),
    (
        "replace_tags is for per-file sidecars only",
        {".syncd.json": {"replace_tags": True}},
        ".syncd.json",
        ["replace_tags: only allowed in a per-file sidecar"],
    ),
    (
        "wrong type names key, expected and got",
        {"x.mp4.json": {"title": 5}},
        "x.mp4.json",
        ["title: expected a string, got number 5"],
    ),
    (
        "publish must be a JSON boolean, not 1",
        {"x.mp4.json": {"publish": 1}},
        "x.mp4.json",
        ["publish: expected true or false, got number 1"],
    ),
    (
        "publish must not be a string",
        {"x.mp4.json": {"publish": "yes"}},
        "x.mp4.json",
        ["publish: expected true or false, got a string"],
    ),
    (
        "null is a wrong type, not absence",
        {"x.mp4.json": {"description": None}},
        "x.mp4.json",
        ["description: expected a string, got null"],
    ),
    (
        "tags of the wrong type",
        {"x.mp4.json": {"tags": {"a": 1}}},
        "x.mp4.json",
        ["tags: expected an array of strings or a string, got an object"],
    ),
    (
        "a non-string tag in the list names its index",
        {"x.mp4.json": {"tags": ["ok", True]}},
        "x.mp4.json",
        ["tags[1]: expected a string, got boolean true"],
    ),
    (
        "albums must be a list",
        {"x.mp4.json": {"albums": "Nature"}},
        "x.mp4.json",
        ["albums: expected an array of strings, got a string"],
    ),
    (
        "album and albums together",
        {".syncd.json": {"album": "A", "albums": ["B"]}},
        ".syncd.json",
        ["album: give either album or albums, not both"],
    ),
    (
        "an empty album title",
        {"x.mp4.json": {"album": "  "}},
        "x.mp4.json",
        ["album: album title is empty"],
    ),
    (
        "publish_date in a foreign format",
        {"x.mp4.json": {"publish_date": "31/05/2024"}},
        "x.mp4.json",
        ["publish_date: '31/05/2024' is not YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"],
    ),
    (
        "publish_date that is not a real date",
        {"x.mp4.json": {"publish_date": "2023-02-29"}},
        "x.mp4.json",
        ["publish_date: '2023-02-29' is not a real date/time"],
    ),
    (
        "publish_date with an impossible time",
        {".syncd.json": {"publish_date": "2024-01-01 24:00:00"}},
        ".syncd.json",
        ["publish_date: '2024-01-01 24:00:00' is not a real date/time"],
    ),
    (
        "a tag in syncd's identity namespace",
        {"x.mp4.json": {"tags": "ok syncd:0123abcd"}},
        "x.mp4.json",
        ["tags: tag 'syncd:0123abcd' uses the reserved 'syncd:' prefix"],
    ),
    (
        "the identity namespace check ignores case",
        {".syncd.json": {"tags": ["SyncD:x"]}},
        ".syncd.json",
        ["tags: tag 'SyncD:x' uses the reserved 'syncd:' prefix"],
    ),
    (
        "custom must be an object",
        {"x.mp4.json": {"custom": ["a"]}},
        "x.mp4.json",
        ["custom: expected an object of string values, got an array"],
    ),
    (
        "custom values must be strings",
        {"x.mp4.json": {"custom": {"year": 2019}}},
        "x.mp4.json",
        ["custom.year: expected a string, got number 2019"],
    ),
    (
        "custom variable names are restricted",
        {"x.mp4.json": {"custom": {"bad name": "v"}}},
        "x.mp4.json",
        ["custom.bad name: variable names use only letters, digits and _"],
    ),
    (
        "a tag with a double quote cannot be sent safely",
        {"x.mp4.json": {"tags": ["ocean", 'say "hi"']}},
        "x.mp4.json",
        ["tags: tag 'say \"hi\"' contains a double quote"],
    ),
    (
        "quotes in a tag string are not a multi-word tag",
        {".syncd.json": {"tags": '"slow tv" ocean'}},
        ".syncd.json",
        ["tags: tag '\"slow' contains a double quote"],
    ),
    *[
        (
            f"custom variable named like the API parameter {key}",
            {"x.mp4.json": {"custom": {key: "v"}}},
            "x.mp4.json",
            [f"custom.{key}: {key!r} is an API parameter name", "rename the variable"],
        )
        for key in RESERVED_EXAMPLES
    ],
    (
        "reserved custom variables in folder defaults too",
        {".syncd.json": {"custom": {"recorded_by": "Ann", "published_p": "1"}}},
        ".syncd.json",
        ["custom.published_p: 'published_p' is an API parameter name"],
    ),
    (
        "top level must be an object",
        {"x.mp4.json": ["title"]},
        "x.mp4.json",
        ["expected a JSON object {...}, got an array"],
    ),
    (
        "a key given twice",
        {"x.mp4.json": b'{"title": "a", "title": "b"}'},
        "x.mp4.json",
        ["title: given twice"],
    ),
    (
        "invalid UTF-8",
        {"x.mp4.json": b'{"title": "caf\xe9"}'},
        "x.mp4.json",
        ["not valid UTF-8 (bad byte at offset 14)"],
    ),
    (
        "a broken folder file fails files in subfolders too",
        {".syncd.json": b"{", "a/b/.syncd.json": {"tags": "fine"}},
        ".syncd.json",
        ["invalid JSON at line 1 column 2"],
    ),
]


@pytest.mark.parametrize(
    ("files", "bad", "fragments"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_bad_input(tmp_path: Path, files: Files, bad: str, fragments: list[str]) -> None:
    media = "a/b/x.mp4" if "a/b/.syncd.json" in files else "x.mp4"
    make_tree(tmp_path, files, (media,))
    with pytest.raises(SidecarError) as info:
        read_metadata(tmp_path / media, tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / bad}: "), message
    for fragment in fragments:
        assert fragment in message


def test_reserved_custom_keys_cover_every_parameter_sent_with_metadata() -> None:
    """What syncd sends next to custom variables, and what the sandbox (written from the
    pages independently) takes as a method parameter rather than a custom variable, may
    never be a custom variable's name."""
    from syncd.api.client import FORMAT_FIELDS
    from syncd.plan.upload import Chunk, resumable_params, upload_fields
    from syncd.sandbox.items import KNOWN_PARAMS

    meta = Metadata(
        title="t", description="d", tags=("a",), albums=("A", "B"), publish=False,
        publish_date="2024-01-01",
    )  # fmt: skip
    sent = set(upload_fields(meta, "0" * 64, {"A": "1", "B": "2"}))
    sent |= set(resumable_params(Chunk(1, 0, 10), chunk_size=10, total_size=10,
                                 total_chunks=1, identifier="i", filename="f",
                                 relative_path="f", content_type="video/mp4"))  # fmt: skip
    sent |= {name for name, _ in FORMAT_FIELDS}
    sent |= {"valid_minutes", "max_uploads", "upload_token", "photo_id", "published_p"}
    missing = sorted(k for k in sent | KNOWN_PARAMS if not sidecar._reserved_custom_key(k))
    assert missing == []


UNREADABLE_CASES = [
    ("sidecar is a directory", "x.mp4.json", "dir", ": not a regular file (folder)"),
    ("sidecar is a dangling symlink", "x.json", "dangling", ": cannot read: No such file"),
    ("sidecar is a FIFO", "x.mp4.json", "fifo", ": not a regular file (FIFO)"),
    ("sidecar links to a device", "x.json", "device", ": not a regular file (character device)"),
    ("sidecar is over the size cap", "x.mp4.json", "huge", ": larger than 1 MiB"),
    ("folder defaults is a directory", ".syncd.json", "dir", ": not a regular file (folder)"),
    ("folder defaults is a dangling symlink", ".syncd.json", "dangling", ": cannot read: No such"),
    ("folder defaults is a FIFO", ".syncd.json", "fifo", ": not a regular file (FIFO)"),
    ("folder defaults links to a device", ".syncd.json", "device", "(character device)"),
    ("folder defaults is over the size cap", ".syncd.json", "huge", ": larger than 1 MiB"),
]


def make_unreadable(path: Path, kind: str) -> None:
    """Sidecars that cannot be used. Tests run as root, so chmod 000 would not stop a read:
    each case is unusable whoever reads it."""
    if kind == "dir":
        path.mkdir()
    elif kind == "dangling":
        path.symlink_to(path.parent / "gone.json")
    elif kind == "fifo":
        os.mkfifo(path)  # no writer: a blocking open or read would wait for ever
    elif kind == "device":
        path.symlink_to("/dev/null")  # reads as empty; /dev/zero would be endless
    else:
        # Sparse: one byte past the cap, without writing a megabyte.
        with open(path, "wb") as fh:
            fh.truncate(sidecar.MAX_SIDECAR_BYTES + 1)


# A FIFO read by mistake would hang: fail the test instead.
@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("name", "kind", "problem"),
    [case[1:] for case in UNREADABLE_CASES],
    ids=[case[0] for case in UNREADABLE_CASES],
)
def test_unreadable(tmp_path: Path, name: str, kind: str, problem: str) -> None:
    make_tree(tmp_path, {}, ("x.mp4",))
    bad = tmp_path / name
    make_unreadable(bad, kind)
    with pytest.raises(SidecarError) as info:
        read_metadata(tmp_path / "x.mp4", tmp_path)
    assert str(info.value).startswith(f"{bad}: "), str(info.value)
    assert problem in str(info.value)
    # The broken file still counts as contributing, so fixing it is noticed.
    assert bad in sidecar_files(tmp_path / "x.mp4", tmp_path)


def test_sidecar_at_the_cap_is_read(tmp_path: Path) -> None:
    """The cap is a limit, not a cliff before it: a sidecar of exactly MAX_SIDECAR_BYTES
    (a long description) is read."""
    make_tree(tmp_path, {}, ("x.mp4",))
    frame = b'{"title": "long", "description": ""}'
    pad = b" " * (sidecar.MAX_SIDECAR_BYTES - len(frame))
    (tmp_path / "x.mp4.json").write_bytes(frame[:-1] + pad + frame[-1:])
    assert (tmp_path / "x.mp4.json").stat().st_size == sidecar.MAX_SIDECAR_BYTES
    assert read_metadata(tmp_path / "x.mp4", tmp_path).title == "long"


# A regular file whose stat says 0 bytes while it reads as several MiB (the kernel makes it
# up as it is read): what a file growing after the size check looks like to the reader.
LYING_SIZE_FILE = Path("/proc/kallsyms")


def test_the_read_stops_at_the_cap_whatever_stat_says(tmp_path: Path) -> None:
    """The size checked before reading is not trusted: the read itself stops at the cap."""
    try:
        st = LYING_SIZE_FILE.stat()
        with open(LYING_SIZE_FILE, "rb") as fh:
            real = len(fh.read(sidecar.MAX_SIDECAR_BYTES + 1))
    except OSError:
        real, st = 0, None
    if st is None or st.st_size != 0 or real <= sidecar.MAX_SIDECAR_BYTES:
        pytest.skip(f"{LYING_SIZE_FILE} is not a 0-byte-by-stat file over the cap here")
    make_tree(tmp_path, {}, ("x.mp4",))
    (tmp_path / "x.mp4.json").symlink_to(LYING_SIZE_FILE)
    with pytest.raises(SidecarError, match=r"x\.mp4\.json: larger than 1 MiB"):
        read_metadata(tmp_path / "x.mp4", tmp_path)


def test_both_sidecar_names_is_an_error_naming_both(tmp_path: Path) -> None:
    make_tree(tmp_path, {"x.mp4.json": {"title": "a"}, "x.json": {"title": "b"}}, ("x.mp4",))
    with pytest.raises(SidecarError) as info:
        read_metadata(tmp_path / "x.mp4", tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'x.mp4'}: two sidecars")
    assert str(tmp_path / "x.mp4.json") in message
    assert str(tmp_path / "x.json") in message


def test_media_outside_root_is_rejected(tmp_path: Path) -> None:
    make_tree(tmp_path, {}, ("elsewhere/x.mp4",))
    (tmp_path / "root").mkdir()
    with pytest.raises(ValueError, match="not under root"):
        read_metadata(tmp_path / "elsewhere" / "x.mp4", tmp_path / "root")


def test_root_reached_through_a_symlink(tmp_path: Path) -> None:
    make_tree(tmp_path, {"real/.syncd.json": {"tags": "rooted"}}, ("real/a/x.mp4",))
    (tmp_path / "link").symlink_to(tmp_path / "real")
    meta = read_metadata(tmp_path / "real" / "a" / "x.mp4", tmp_path / "link")
    assert meta.tags == ("rooted",)


# --- sidecar_files and is_sidecar -------------------------------------------


def test_sidecar_files_shallow_first(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".syncd.json": {},
            "a/b/.syncd.json": {},  # a/ has none: skipped
            "a/b/c/.syncd.json": {},
            "a/b/c/x.mp4.json": {},
            "a/b/c/other.json": {},  # another file's sidecar: not ours
        },
        ("a/b/c/x.mp4",),
    )
    assert sidecar_files(tmp_path / "a/b/c/x.mp4", tmp_path) == [
        tmp_path / ".syncd.json",
        tmp_path / "a/b/.syncd.json",
        tmp_path / "a/b/c/.syncd.json",
        tmp_path / "a/b/c/x.mp4.json",
    ]
    assert sidecar_files(tmp_path / "a/y.mp4", tmp_path) == [tmp_path / ".syncd.json"]


def test_sidecar_files_lists_both_names_when_ambiguous(tmp_path: Path) -> None:
    make_tree(tmp_path, {"x.mp4.json": {}, "x.json": {}}, ("x.mp4",))
    assert sidecar_files(tmp_path / "x.mp4", tmp_path) == [
        tmp_path / "x.mp4.json",
        tmp_path / "x.json",
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (".syncd.json", True),
        ("waves.mp4.json", True),
        ("birdsong.json", True),
        ("UPPER.JSON", True),
        ("waves.mp4", False),
        ("json", False),
        ("notes.jsonl", False),
    ],
)
def test_is_sidecar(name: str, expected: bool) -> None:
    assert is_sidecar(Path("/archive") / name) is expected


# --- change detection -------------------------------------------------------


def test_digest_follows_sidecar_changes(tmp_path: Path) -> None:
    make_tree(tmp_path, {".syncd.json": {"tags": "a"}, "x.mp4.json": {"title": "T"}}, ("x.mp4",))
    media = tmp_path / "x.mp4"
    first = read_metadata(media, tmp_path).digest()

    # Reformatting without changing meaning keeps the digest.
    (tmp_path / "x.mp4.json").write_text('{\n  "title":   "T"\n}\n')
    assert read_metadata(media, tmp_path).digest() == first

    (tmp_path / "x.mp4.json").write_text('{"title": "T2"}')
    second = read_metadata(media, tmp_path).digest()
    assert second != first

    # A change in the folder defaults is seen too (not hidden by the cache).
    (tmp_path / ".syncd.json").write_text('{"tags": "a b"}')
    assert read_metadata(media, tmp_path).digest() not in (first, second)


# --- caching ----------------------------------------------------------------

MANY_FILES = 300


def test_folder_defaults_parsed_once_for_many_files(tmp_path: Path) -> None:
    media = tuple(f"a/clip{i:04d}.mp4" for i in range(MANY_FILES))
    make_tree(tmp_path, {".syncd.json": {"tags": "r"}, "a/.syncd.json": {"album": "A"}}, media)
    sidecar.folder_cache_clear()
    for rel in media:
        meta = read_metadata(tmp_path / rel, tmp_path)
        assert (meta.tags, meta.albums) == (("r",), ("A",))
    assert sidecar.folder_parse_count() == 2

    # Same size, new content, explicit new mtime: the edit is still seen.
    folder_file = tmp_path / "a/.syncd.json"
    folder_file.write_text(json.dumps({"album": "B"}))
    st = folder_file.stat()
    os.utime(folder_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert read_metadata(tmp_path / media[0], tmp_path).albums == ("B",)
    assert sidecar.folder_parse_count() == 3


def test_broken_folder_defaults_parsed_once(tmp_path: Path) -> None:
    media = tuple(f"clip{i}.mp4" for i in range(50))
    make_tree(tmp_path, {".syncd.json": b"{nope"}, media)
    sidecar.folder_cache_clear()
    for rel in media:
        with pytest.raises(SidecarError, match="invalid JSON at line 1 column 2"):
            read_metadata(tmp_path / rel, tmp_path)
    assert sidecar.folder_parse_count() == 1


# --- the bundled examples ---------------------------------------------------

EXAMPLE_EXPECTED = {
    "nature/waves.mp4": {
        "title": "Waves at dusk",
        "albums": ("Nature",),
        "tags": ("examples", "nature", "ocean", "slow tv"),
        "publish": True,
        "publish_date": "2019-06-21 21:30:00",
    },
    "nature/birdsong.wav": {
        "title": "Birdsong",
        "albums": ("Nature",),
        "tags": ("examples", "nature", "audio", "birds"),
        "custom": (("recorded_by", "syncd examples"),),
    },
    "people/interview.mp4": {
        "title": "Interview (unpublished draft)",
        "albums": ("People", "Interviews"),
        "tags": ("examples", "interview"),
        "publish": False,
    },
    "stills/poster.png": {
        "title": "poster",
        "albums": ("syncd examples",),
        "tags": ("examples",),
        "description": None,
    },
}

# Leading bytes of each kind of example media: the files are real, not stand-ins.
MAGIC = {".mp4": (4, b"ftyp"), ".wav": (8, b"WAVE"), ".png": (0, b"\x89PNG\r\n\x1a\n")}


@pytest.mark.parametrize("rel", sorted(EXAMPLE_EXPECTED))
def test_examples_metadata(rel: str) -> None:
    meta = read_metadata(EXAMPLES / rel, EXAMPLES)
    expected = EXAMPLE_EXPECTED[rel]
    assert {key: getattr(meta, key) for key in expected} == expected
    offset, magic = MAGIC[(EXAMPLES / rel).suffix]
    assert (EXAMPLES / rel).read_bytes()[offset : offset + len(magic)] == magic


def test_examples_are_small_and_every_json_is_used() -> None:
    files = [p for p in EXAMPLES.rglob("*") if p.is_file()]
    media = [p for p in files if p.suffix in MAGIC]
    assert sorted(str(p.relative_to(EXAMPLES)) for p in media) == sorted(EXAMPLE_EXPECTED)
    assert sum(p.stat().st_size for p in media) < EXAMPLES_MAX_BYTES
    contributing = {f for p in media for f in sidecar_files(p, EXAMPLES)}
    sidecars = {p for p in files if is_sidecar(p)}
    assert sidecars == contributing
