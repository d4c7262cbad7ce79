"""Several sidecars for one file: an error naming them all, unless [metadata] sidecar_order
layers them (lowest first; formats left out are not read). Also the [metadata] config."""

from __future__ import annotations

from pathlib import Path

import pytest
from sidecar_helpers import xmp_packet

from syncd.config import MetadataConfig, parse_config
from syncd.errors import ConfigError, SidecarError
from syncd.metadata.desired import DEFAULT_OPTIONS, is_sidecar, read_metadata, sidecar_files
from syncd.metadata.sidecar.registry import per_file_candidates

XMP_TITLE = xmp_packet(attributes='dc:title="From XMP"')


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    media = tmp_path / "x.mp4"
    media.write_bytes(b"media")
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return media


def error_of(tmp_path: Path, media: Path, options: MetadataConfig = DEFAULT_OPTIONS) -> str:
    with pytest.raises(SidecarError) as info:
        read_metadata(media, tmp_path, options=options)
    return str(info.value)


def test_two_formats_without_an_order_is_an_error_naming_both(tmp_path: Path) -> None:
    media = tree(tmp_path, {"x.mp4.json": '{"title": "j"}', "x.mp4.xmp": XMP_TITLE})
    assert error_of(tmp_path, media) == (
        f"{media}: two sidecars, {tmp_path / 'x.mp4.json'} and {tmp_path / 'x.mp4.xmp'}: "
        "keep only one, or set [metadata] sidecar_order to layer them"
    )


def test_three_formats_are_all_named(tmp_path: Path) -> None:
    media = tree(tmp_path, {"x.json": '{"title": "j"}', "x.yml": "title: y\n", "x.xmp": XMP_TITLE})
    message = error_of(tmp_path, media)
    names = ", ".join(str(tmp_path / n) for n in ("x.json", "x.yml"))
    assert message.startswith(f"{media}: three sidecars, {names} and {tmp_path / 'x.xmp'}: ")


def test_an_order_layers_them_lowest_first(tmp_path: Path) -> None:
    media = tree(
        tmp_path,
        {
            "x.mp4.json": '{"title": "j", "tags": ["from-json"], "album": "A"}',
            "x.mp4.yaml": "title: y\ntags: [from-yaml]\n",
            "x.xmp": xmp_packet(
                'dc:title="From XMP"',
                "<dc:subject><rdf:Bag><rdf:li>from-xmp</rdf:li></rdf:Bag></dc:subject>",
            ),
        },
    )
    meta = read_metadata(
        media, tmp_path, options=MetadataConfig(sidecar_order=("json", "yaml", "xmp"))
    )
    assert meta.title == "From XMP"  # the highest layer wins key by key
    assert meta.tags == ("from-json", "from-yaml", "from-xmp")  # tags accumulate
    assert meta.albums == ("A",)  # only JSON sets it
    meta = read_metadata(
        media, tmp_path, options=MetadataConfig(sidecar_order=("xmp", "yaml", "json"))
    )
    assert meta.title == "j"
    assert meta.tags == ("from-xmp", "from-yaml", "from-json")


def test_a_format_left_out_of_the_order_is_not_read(tmp_path: Path) -> None:
    media = tree(tmp_path, {"x.mp4.json": '{"title": "j"}', "x.mp4.xmp": "<not xml"})
    options = MetadataConfig(sidecar_order=("json",))
    assert read_metadata(media, tmp_path, options=options).title == "j"
    assert sidecar_files(media, tmp_path, options) == [tmp_path / "x.mp4.json"]
    # Without the order the broken XMP is listed (and read: the ambiguity is reported).
    assert sidecar_files(media, tmp_path) == [tmp_path / "x.mp4.json", tmp_path / "x.mp4.xmp"]


def test_a_format_left_out_is_not_read_as_folder_defaults_either(tmp_path: Path) -> None:
    media = tree(tmp_path, {".syncd.json": "{broken", "x.xmp": XMP_TITLE})
    options = MetadataConfig(sidecar_order=("xmp",))
    assert read_metadata(media, tmp_path, options=options).title == "From XMP"
    assert "invalid JSON" in error_of(
        tmp_path, media, MetadataConfig(sidecar_order=("xmp", "json"))
    )


def test_a_symlink_to_a_sidecar_is_read(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "real.yaml").write_text("title: Linked\n", encoding="utf-8")
    media = tree(tmp_path, {})
    (tmp_path / "x.yml").symlink_to(tmp_path / "kept" / "real.yaml")
    assert read_metadata(media, tmp_path).title == "Linked"


def test_two_names_of_one_format_stay_an_error_with_an_order(tmp_path: Path) -> None:
    media = tree(tmp_path, {"x.mp4.xmp": XMP_TITLE, "x.xmp": XMP_TITLE})
    message = error_of(tmp_path, media, MetadataConfig(sidecar_order=("xmp",)))
    assert message == (
        f"{media}: two sidecars, {tmp_path / 'x.mp4.xmp'} and {tmp_path / 'x.xmp'}: "
        "keep only one (which one applies would be a guess)"
    )


def test_yaml_and_yml_for_one_file_is_an_error(tmp_path: Path) -> None:
    media = tree(tmp_path, {"x.mp4.yaml": "title: a\n", "x.mp4.yml": "title: b\n"})
    assert "two sidecars" in error_of(tmp_path, media, MetadataConfig(sidecar_order=("yaml",)))


def test_folder_defaults_in_two_formats(tmp_path: Path) -> None:
    media = tree(tmp_path, {".syncd.json": '{"tags": ["j"]}', ".syncd.yaml": "tags: [y]\n"})
    assert error_of(tmp_path, media) == (
        f"{tmp_path}: two folder-defaults files, {tmp_path / '.syncd.json'} and "
        f"{tmp_path / '.syncd.yaml'}: keep only one, or set [metadata] sidecar_order to layer them"
    )
    options = MetadataConfig(sidecar_order=("yaml", "json"))
    assert read_metadata(media, tmp_path, options=options).tags == ("y", "j")


def test_sidecar_files_follow_the_order(tmp_path: Path) -> None:
    media = tree(
        tmp_path,
        {".syncd.yml": "{}", ".syncd.json": "{}", "x.json": "{}", "x.mp4.xmp": XMP_TITLE},
    )
    options = MetadataConfig(sidecar_order=("xmp", "yaml", "json"))
    assert sidecar_files(media, tmp_path, options) == [
        tmp_path / ".syncd.yml",
        tmp_path / ".syncd.json",
        tmp_path / "x.mp4.xmp",
        tmp_path / "x.json",
    ]


def test_candidate_names() -> None:
    names = [p.name for _, p in per_file_candidates(Path("/a/clip.mp4"))]
    assert names == [
        "clip.mp4.json",
        "clip.json",
        "clip.mp4.yaml",
        "clip.mp4.yml",
        "clip.yaml",
        "clip.yml",
        "clip.mp4.xmp",
        "clip.xmp",
    ]
    # A name without a suffix has one name per suffix, not two.
    assert len(per_file_candidates(Path("/a/README"))) == 4


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x.mp4.json", True),
        ("x.YAML", True),
        ("x.yml", True),
        ("x.XMP", True),
        (".syncd.yaml", True),
        ("x.mp4", False),
        ("xmp", False),
    ],
)
def test_is_sidecar(name: str, expected: bool) -> None:
    assert is_sidecar(Path(name)) is expected


# --- [metadata] in the config -----------------------------------------------------

SITE = {
    "domain": "127.0.0.1:1",
    "scheme": "http",
    "consumer_key": "k",
    "consumer_secret": "s",
    "access_token": "t",
    "access_token_secret": "ts",
}


def metadata_config(table: dict[str, object]) -> MetadataConfig:
    config, _ = parse_config({"site": SITE, "metadata": table}, env={})
    return config.metadata


def test_metadata_config_defaults_and_values() -> None:
    config, _ = parse_config({"site": SITE}, env={})
    assert config.metadata == MetadataConfig(sidecar_order=None, xmp_rating_variable=None)
    assert metadata_config(
        {"sidecar_order": ["yaml", "json"], "xmp_rating_variable": "rating"}
    ) == MetadataConfig(sidecar_order=("yaml", "json"), xmp_rating_variable="rating")


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"sidecar_order": []}, "metadata.sidecar_order: list at least one format"),
        (
            {"sidecar_order": ["json", "toml"]},
            "metadata.sidecar_order: 'toml' is not a sidecar format",
        ),
        ({"sidecar_order": ["json", "json"]}, "metadata.sidecar_order: a format is listed twice"),
        ({"sidecar_order": "json"}, "metadata.sidecar_order: expected a list of strings"),
        (
            {"xmp_rating_variable": "star rating"},
            "metadata.xmp_rating_variable: variable names use",
        ),
        (
            {"xmp_rating": "r"},
            "metadata.xmp_rating: unknown key (did you mean 'xmp_rating_variable'?)",
        ),
    ],
)
def test_bad_metadata_config(table: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        metadata_config(table)
    assert f"<config>: {problem}" in str(info.value)
