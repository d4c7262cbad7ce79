"""XMP sidecars, read through read_metadata: the realistic fixtures field by field, then
each mapping rule and each way an XMP file can be bad."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sidecar_helpers import FIXTURES, bag, media_with, xmp_packet

from syncd.config import MetadataConfig
from syncd.errors import SidecarError
from syncd.metadata.desired import read_metadata
from syncd.metadata.sidecar.registry import XMP_SIDECAR_CAP
from syncd.model import Coordinates, Metadata

RATING = MetadataConfig(xmp_rating_variable="rating")

# (fixture, media file, sidecar name as the tool writes it, expected fields)
TOOL_CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "lightroom-classic.xmp",
        "sunset.mov",
        "sunset.xmp",  # Lightroom: <stem>.xmp
        {
            "title": "Sunset over the Oslofjord",
            # Plain text in XMP; the site reads descriptions as HTML.
            "description": "Evening light from Ekebergåsen &amp; the ferries to Nesodden.",
            # Parent levels Lightroom lists in dc:subject (Places, Europe, Norway) are
            # dropped; "golden hour" and "ferry" are hierarchy leaves already in dc:subject.
            "tags": ("Oslo", "Oslofjord", "golden hour", "ferry", "sunset"),
            "publish_date": "2023-06-10 18:22:05",  # photoshop:DateCreated, offset dropped
            "coordinates": Coordinates(59.91199, 10.73912),  # 59,54.7194N 10,44.3472E
            "custom": (("rating", "4"),),
        },
    ),
    (
        "darktable.xmp",
        "bryggen.jpg",
        "bryggen.jpg.xmp",  # darktable: <name.ext>.xmp
        {
            "title": "Bryggen in the rain",
            "description": "The Hanseatic wharf, seen from Vågen.",
            # darktable's own darktable|changed, darktable|format|jpg and every parent
            # level it lists in dc:subject are left out.
            "tags": ("Bergen", "rain", "UNESCO world heritage"),
            # No photoshop:DateCreated or xmp:CreateDate: exif:DateTimeOriginal, EXIF form.
            "publish_date": "2022-08-14 09:12:44",
            "coordinates": Coordinates(60.39602, 5.32345),
            "custom": (("rating", "3"),),
        },
    ),
    (
        "digikam.xmp",
        "paris.mp4",
        "paris.mp4.xmp",
        {
            "title": "Picnic on the Champ de Mars",  # x-default, though not listed first
            "description": "Anna's first visit to the Eiffel Tower &lt;3",
            "tags": ("Paris", "Anna Müller", "Summer holiday 2019"),
            "publish_date": "2019-07-21 14:03:11",
            "coordinates": Coordinates(48.85835, 2.29511),
            "custom": (("rating", "5"),),
        },
    ),
    (
        "exiftool.xmp",
        "interview.mp4",
        "interview.mp4.xmp",  # one rdf:Description per namespace, properties as elements
        {
            "title": "Interview with Sigrid Holm",
            "description": "Recorded at the Trondheim folk music archive, spring 2021.",
            "tags": ("interview", "folk music", "Hardanger fiddle"),
            # photoshop:DateCreated wins over xmp:CreateDate (the same instant in UTC).
            "publish_date": "2021-03-04 10:20:30",
            "coordinates": Coordinates(63.4305, 10.395),
            "custom": (("rating", "2"),),
        },
    ),
]


@pytest.mark.parametrize(
    ("fixture", "media", "sidecar", "expected"), TOOL_CASES, ids=[c[0] for c in TOOL_CASES]
)
def test_tool_written_xmp_field_by_field(
    tmp_path: Path, fixture: str, media: str, sidecar: str, expected: dict[str, Any]
) -> None:
    path = media_with(tmp_path, media, sidecar, fixture)
    meta = read_metadata(path, tmp_path, Metadata(), RATING)
    for name, value in expected.items():
        assert getattr(meta, name) == value, name
    # What XMP does not carry stays as the lower layers left it.
    assert meta.albums == () and meta.publish is True
    assert meta.chapters is None and meta.thumbnail is None


def test_rating_is_ignored_unless_a_variable_is_configured(tmp_path: Path) -> None:
    path = media_with(tmp_path, "sunset.mov", "sunset.xmp", "lightroom-classic.xmp")
    assert read_metadata(path, tmp_path).custom == ()
    config = MetadataConfig(xmp_rating_variable="stars")
    assert read_metadata(path, tmp_path, Metadata(), config).custom == (("stars", "4"),)


@pytest.mark.parametrize(("rating", "sent"), [("-1", "-1"), ("0", "0"), ("3.0", "3"), ("5", "5")])
def test_rating_values(tmp_path: Path, rating: str, sent: str) -> None:
    meta = read_packet(tmp_path, xmp_packet(f'xmp:Rating="{rating}"'))
    assert meta.custom == (("rating", sent),)


def read_packet(tmp_path: Path, packet: str, options: MetadataConfig = RATING) -> Metadata:
    media = tmp_path / "x.mp4"
    media.write_bytes(b"media")
    (tmp_path / "x.mp4.xmp").write_text(packet, encoding="utf-8")
    return read_metadata(media, tmp_path, Metadata(), options)


def bad_packet(tmp_path: Path, packet: str | bytes) -> str:
    media = tmp_path / "x.mp4"
    media.write_bytes(b"media")
    sidecar = tmp_path / "x.mp4.xmp"
    if isinstance(packet, bytes):
        sidecar.write_bytes(packet)
    else:
        sidecar.write_text(packet, encoding="utf-8")
    with pytest.raises(SidecarError) as info:
        read_metadata(media, tmp_path, Metadata(), RATING)
    message = str(info.value)
    assert message.startswith(f"{sidecar}: "), message
    return message


# --- tags -----------------------------------------------------------------------

TAG_CASES = [
    ("dc:subject alone, in order", bag("dc:subject", "b", "a", " ", "b"), ("b", "a")),
    ("a hierarchy gives its leaf", bag("lr:hierarchicalSubject", "Places|Europe|Oslo"), ("Oslo",)),
    (
        "leaves after dc:subject, deduplicated in any case",
        bag("dc:subject", "oslo", "fjord") + bag("lr:hierarchicalSubject", "Places|Oslo", "A|Sea"),
        ("oslo", "fjord", "Sea"),
    ),
    (
        "parent levels in dc:subject are dropped, unless a leaf elsewhere",
        bag("dc:subject", "Places", "Norway", "Oslo", "walk")
        + bag("lr:hierarchicalSubject", "Places|Norway|Oslo", "Norway"),
        ("Norway", "Oslo", "walk"),
    ),
    (
        "darktable's bookkeeping paths and their levels are left out",
        bag("dc:subject", "changed", "darktable", "format", "nef", "gull")
        + bag("lr:hierarchicalSubject", "darktable|changed", "darktable|format|nef", "Birds|gull"),
        ("gull",),
    ),
    ("a Seq counts like a Bag", bag("dc:subject", "one", "two", kind="Seq"), ("one", "two")),
    ("empty levels are skipped", bag("lr:hierarchicalSubject", "A||B| "), ("B",)),
]


@pytest.mark.parametrize(
    ("elements", "tags"), [c[1:] for c in TAG_CASES], ids=[c[0] for c in TAG_CASES]
)
def test_tag_rules(tmp_path: Path, elements: str, tags: tuple[str, ...]) -> None:
    assert read_packet(tmp_path, xmp_packet(elements=elements)).tags == tags


# --- text fields ------------------------------------------------------------------


def alt(tag: str, *items: tuple[str, str]) -> str:
    lis = "".join(f'<rdf:li xml:lang="{lang}">{text}</rdf:li>' for lang, text in items)
    return f"<{tag}><rdf:Alt>{lis}</rdf:Alt></{tag}>"


def test_language_alternatives_prefer_x_default_else_the_first(tmp_path: Path) -> None:
    packet = xmp_packet(
        elements=alt("dc:title", ("nb-NO", "Solnedgang"), ("x-default", "Sunset"))
        + alt("dc:description", ("de-DE", "Erste"), ("fr-FR", "Premier"))
    )
    meta = read_packet(tmp_path, packet)
    assert (meta.title, meta.description) == ("Sunset", "Erste")


def test_simple_text_attributes_and_empty_values(tmp_path: Path) -> None:
    packet = xmp_packet(attributes='dc:title="  Plain title "', elements=alt("dc:description"))
    meta = read_packet(tmp_path, packet)
    assert meta.title == "Plain title"
    assert meta.description is None  # an empty rdf:Alt sets nothing


def test_namespaces_match_by_uri_not_prefix(tmp_path: Path) -> None:
    packet = xmp_packet().replace(
        "<rdf:Description",
        '<rdf:Description xmlns:d="http://purl.org/dc/elements/1.1/" d:title="By URI"',
    )
    assert read_packet(tmp_path, packet).title == "By URI"


# --- dates ---------------------------------------------------------------------

DATE_CASES = [
    ('photoshop:DateCreated="2023-06-10"', "2023-06-10"),
    ('photoshop:DateCreated="2023-06-10T18:22+02:00"', "2023-06-10 18:22:00"),
    ('photoshop:DateCreated="2023-06-10T23:30:00-05:00"', "2023-06-10 23:30:00"),  # not UTC
    ('photoshop:DateCreated="2023-06-10T18:22:05Z"', "2023-06-10 18:22:05"),
    ('xmp:CreateDate="2020-01-02T03:04:05.678"', "2020-01-02 03:04:05"),
    ('exif:DateTimeOriginal="2022:08:14 09:12:44"', "2022-08-14 09:12:44"),
    # A year or a month is no publish date: the next property is used.
    ('photoshop:DateCreated="2019" xmp:CreateDate="2019-05-06T07:08:09"', "2019-05-06 07:08:09"),
    ('photoshop:DateCreated="2019-05"', None),
]


@pytest.mark.parametrize(("attributes", "expected"), DATE_CASES)
def test_publish_date_rules(tmp_path: Path, attributes: str, expected: str | None) -> None:
    assert read_packet(tmp_path, xmp_packet(attributes)).publish_date == expected


# --- coordinates -----------------------------------------------------------------

GPS_CASES = [
    ("59,54.7194N", "10,44.3472E", Coordinates(59.91199, 10.73912)),
    ("59,54,43.164N", "10,44,20.832E", Coordinates(59.91199, 10.73912)),  # DD,MM,SSk
    ("33,52.128S", "151,12.558W", Coordinates(-33.8688, -151.2093)),
    ("59.91199", "-10.73912", Coordinates(59.91199, -10.73912)),
    ("59.91199N", "10.73912W", Coordinates(59.91199, -10.73912)),
    ("90,0N", "180,0E", Coordinates(90.0, 180.0)),
]


@pytest.mark.parametrize(("latitude", "longitude", "expected"), GPS_CASES)
def test_gps_forms(tmp_path: Path, latitude: str, longitude: str, expected: Coordinates) -> None:
    attributes = f'exif:GPSLatitude="{latitude}" exif:GPSLongitude="{longitude}"'
    assert read_packet(tmp_path, xmp_packet(attributes)).coordinates == expected


# --- bad XMP ----------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE x:xmpmeta [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
""" + xmp_packet(attributes='dc:title="&lol9;"')


def test_billion_laughs_is_refused_before_expansion(tmp_path: Path) -> None:
    message = bad_packet(tmp_path, BILLION_LAUGHS)
    assert "line 3: declares an entity ('lol'): refused" in message
    assert "XML bombs" in message


def test_external_entity_is_refused_and_nothing_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    packet = (
        f'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        + xmp_packet(attributes='dc:title="&xxe;"')
    )
    message = bad_packet(tmp_path, packet)
    assert "line 2: declares an external entity ('xxe'): refused" in message
    assert "TOP-SECRET" not in message


BAD_CASES = [
    (
        "an unbound prefix",
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'>\n  <rdf:RDF>\n",
        "invalid XML at line 2 column 3: unbound prefix",
    ),
    ("not XML at all", "Title: Sunset\n", "invalid XML at line 1 column 1: syntax error"),
    (
        "mismatched tag",
        xmp_packet().replace("</rdf:RDF>", "</rdf:Bag>"),
        "invalid XML at line 7 column 4: mismatched tag",
    ),
    ("no rdf:RDF", "<x:xmpmeta xmlns:x='adobe:ns:meta/'/>", "no rdf:RDF element under <x:xmpmeta>"),
    (
        "a date that is not one",
        xmp_packet('photoshop:DateCreated="last summer"'),
        "line 3: photoshop:DateCreated: 'last summer' is not an XMP date",
    ),
    (
        "latitude out of range",
        xmp_packet('exif:GPSLatitude="91,0N" exif:GPSLongitude="10,0E"'),
        "line 3: exif:GPSLatitude: 91 degrees is out of range (-90 to 90)",
    ),
    (
        "latitude with an east/west letter",
        xmp_packet('exif:GPSLatitude="10,30E" exif:GPSLongitude="10,0E"'),
        "exif:GPSLatitude: '10,30E': expected N or S",
    ),
    (
        "minutes of 60 or more",
        xmp_packet('exif:GPSLatitude="10,75.5N" exif:GPSLongitude="10,0E"'),
        "exif:GPSLatitude: '10,75.5N': minutes and seconds must be below 60",
    ),
    (
        "a coordinate that is not one",
        xmp_packet('exif:GPSLatitude="north" exif:GPSLongitude="10,0E"'),
        "exif:GPSLatitude: 'north' is not a GPS coordinate",
    ),
    (
        "latitude without longitude",
        xmp_packet(elements="   <exif:GPSLatitude>59,54.7N</exif:GPSLatitude>"),
        "line 5: exif:GPSLatitude: given without exif:GPSLongitude",
    ),
    (
        "a rating out of range",
        xmp_packet('xmp:Rating="7"'),
        "xmp:Rating: '7' is not a rating (-1 for rejected, 0 to 5 stars)",
    ),
    (
        "a title given as a list",
        xmp_packet(elements=bag("dc:title", "a", "b")),
        "dc:title: expected text or a language alternative (rdf:Alt), got a list",
    ),
    (
        "a tag in syncd's namespace (shared validation)",
        xmp_packet(elements=bag("dc:subject", "syncd:0123")),
        "tags: tag 'syncd:0123' uses the reserved 'syncd:' prefix",
    ),
    (
        "not UTF-8",
        xmp_packet(attributes='dc:title="caf\xe9"').encode("latin-1"),
        "not valid UTF-8 (bad byte at offset",
    ),
]


@pytest.mark.parametrize(
    ("packet", "fragment"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES]
)
def test_bad_xmp(tmp_path: Path, packet: str | bytes, fragment: str) -> None:
    assert fragment in bad_packet(tmp_path, packet)


def test_oversized_xmp_is_refused_unread(tmp_path: Path) -> None:
    media = tmp_path / "x.mp4"
    media.write_bytes(b"media")
    sidecar = tmp_path / "x.xmp"
    with open(sidecar, "wb") as fh:  # sparse: big, yet costs no disk and no read
        fh.truncate(XMP_SIDECAR_CAP + 1)
    with pytest.raises(SidecarError) as info:
        read_metadata(media, tmp_path)
    assert str(info.value) == f"{sidecar}: larger than 16 MiB; a sidecar holds metadata, not media"


def test_fifo_in_place_of_an_xmp_is_reported_not_waited_on(tmp_path: Path) -> None:
    media = tmp_path / "x.mp4"
    media.write_bytes(b"media")
    fifo = tmp_path / "x.mp4.xmp"
    os.mkfifo(fifo)  # no writer: a blocking open would hang this test
    with pytest.raises(SidecarError, match=r"not a regular file \(FIFO\)"):
        read_metadata(media, tmp_path)


def test_fixtures_are_what_the_tools_write() -> None:
    """Guard against tidying the fixtures into something no tool writes."""
    assert (FIXTURES / "digikam.xmp").read_bytes().startswith(b'<?xpacket begin="\xef\xbb\xbf"')
    assert "x:xmptk='Image::ExifTool" in (FIXTURES / "exiftool.xmp").read_text("utf-8")
    assert 'x:xmptk="Adobe XMP Core' in (FIXTURES / "lightroom-classic.xmp").read_text("utf-8")
    assert "darktable:history" in (FIXTURES / "darktable.xmp").read_text("utf-8")
