"""XMP sidecars, as Lightroom, Bridge, darktable, digiKam and exiftool write them.

RDF/XML is read with defusedxml: a DTD may be present, but an entity declaration (the
"billion laughs" bomb, an external entity pointing at a file or URL) is refused before
anything is expanded. Properties are read wherever the tools put them: as attributes of
`rdf:Description` (darktable, Lightroom) or as child elements (exiftool, one
`rdf:Description` per namespace), with `rdf:Alt` language alternatives (the `x-default`
one, else the first), `rdf:Bag` and `rdf:Seq` lists. Namespaces are matched by URI, so
any prefix works.

What becomes what (in the common vocabulary, validated like any sidecar afterwards):

- `dc:title` -> title; `dc:description` -> description (plain text in XMP, so `&`, `<`
  and `>` are escaped for the site, which reads descriptions as HTML);
- `dc:subject` and `lr:hierarchicalSubject` -> tags: each hierarchy's leaf
  (`Places|Europe|Oslo` -> `Oslo`), after the dc:subject keywords that are not merely
  a parent level of a hierarchy (Lightroom and darktable list "Places" and "Europe"
  there too); darktable's own `darktable|...` tags are left out; duplicates (any case)
  are dropped;
- `photoshop:DateCreated`, else `xmp:CreateDate`, else `exif:DateTimeOriginal` ->
  publish_date: the first with a full date, as `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`
  on the clock it was written in (a time zone offset is dropped, not converted);
- `exif:GPSLatitude` + `exif:GPSLongitude` ("DDD,MM.mmmk", "DDD,MM,SSk" or decimal
  degrees) -> coordinates;
- `xmp:Rating` -> custom[<rating variable>] when `[metadata] xmp_rating_variable` is set.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder
from xml.parsers.expat import ErrorString

from defusedxml import (
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
    NotSupportedError,
)
from defusedxml.ElementTree import DefusedXMLParser

from syncd.errors import SidecarError

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Prefixes for messages; properties are matched by namespace URI.
PREFIXES = {
    RDF: "rdf",
    "adobe:ns:meta/": "x",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/lightroom/1.0/": "lr",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://ns.adobe.com/exif/1.0/": "exif",
}
HIERARCHY_SEPARATOR = "|"
# darktable files its bookkeeping as tags under this root (darktable|format|nef,
# darktable|changed): not the user's keywords.
DARKTABLE_ROOT = "darktable"
DATE_PROPERTIES = ("photoshop:DateCreated", "xmp:CreateDate", "exif:DateTimeOriginal")

# XMP dates are ISO 8601 ("2023-06-10T18:22:05.32+02:00", or only "2023"); darktable
# writes exif:DateTimeOriginal in EXIF form ("2022:08:14 09:12:44.000").
_ISO_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?)?)?)?"
)
_EXIF_DATE = re.compile(r"(\d{4}):(\d{2}):(\d{2})(?: (\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?")
_GPS_DMS = re.compile(r"(\d+),(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?([NSEW])")
_GPS_DECIMAL = re.compile(r"([+-]?\d+(?:\.\d+)?)([NSEW]?)")
_RATING = re.compile(r"-?\d+(?:\.0+)?")


@dataclass(frozen=True, slots=True)
class _Property:
    """One XMP property's value: simple text, a list (Bag/Seq) or language alternatives."""

    name: str  # "dc:title", for messages
    line: int
    text: str | None = None
    items: tuple[str, ...] | None = None
    alternatives: tuple[tuple[str | None, str], ...] | None = None


def load_xmp(path: Path, text: str, rating_variable: str | None = None) -> dict[str, Any]:
    """The fields of one XMP sidecar, as a sidecar mapping; SidecarError on a bad file."""
    root, lines = _parse_xml(path, text)
    props = _properties(path, root, lines)
    data: dict[str, Any] = {}
    title = _text_of(path, props.get("dc:title"))
    if title:
        data["title"] = title
    description = _text_of(path, props.get("dc:description"))
    if description:
        data["description"] = html.escape(description, quote=False)
    tags = _tags(props)
    if tags:
        data["tags"] = tags
    date = _publish_date(path, props)
    if date:
        data["publish_date"] = date
    coordinates = _coordinates(path, props)
    if coordinates:
        data["coordinates"] = coordinates
    rating = props.get("xmp:Rating")
    if rating_variable and rating is not None:
        data["custom"] = {rating_variable: _rating(path, rating)}
    return data


# --- XML ----------------------------------------------------------------------


class _LineTracker(TreeBuilder):
    """Builds the tree and notes the line each element starts on (for messages)."""

    def __init__(self) -> None:
        super().__init__()
        self.parser: DefusedXMLParser | None = None
        self.lines: dict[int, int] = {}

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        element = super().start(tag, attrs)
        if self.parser is not None:
            self.lines[id(element)] = self.parser.parser.CurrentLineNumber
        return element


def _parse_xml(path: Path, text: str) -> tuple[Element, dict[int, int]]:
    tracker = _LineTracker()
    parser = DefusedXMLParser(
        target=tracker, forbid_dtd=False, forbid_entities=True, forbid_external=True
    )
    tracker.parser = parser
    try:
        parser.feed(text)
        root = parser.close()
    except ParseError as exc:
        line, column = exc.position
        problem = ErrorString(exc.code) if exc.code else str(exc)
        raise SidecarError(
            f"{path}: invalid XML at line {line} column {column + 1}: {problem}"
        ) from None
    except EntitiesForbidden as exc:
        line = parser.parser.CurrentLineNumber
        kind = "an external entity" if exc.sysid or exc.pubid else "an entity"
        raise SidecarError(
            f"{path}: line {line}: declares {kind} ({exc.name!r}): refused, since entities "
            "are how XML bombs and external-file reads work (XMP never needs them)"
        ) from None
    except (ExternalReferenceForbidden, DTDForbidden, NotSupportedError) as exc:
        line = parser.parser.CurrentLineNumber
        raise SidecarError(f"{path}: line {line}: refused: {exc}") from None
    return root, tracker.lines


def _name(tag: str) -> str:
    """ "{http://purl.org/dc/elements/1.1/}title" -> "dc:title"."""
    uri, _, local = tag[1:].partition("}")
    prefix = PREFIXES.get(uri) if tag.startswith("{") else None
    return f"{prefix}:{local}" if prefix else tag


def _rdf(local: str) -> str:
    return f"{{{RDF}}}{local}"


def _properties(path: Path, root: Element, lines: dict[int, int]) -> dict[str, _Property]:
    """Every top-level property of every rdf:Description; the first of a name wins."""
    rdf_root = root if root.tag == _rdf("RDF") else root.find(_rdf("RDF"))
    if rdf_root is None:
        raise SidecarError(f"{path}: no rdf:RDF element under <{_name(root.tag)}>: not XMP")
    props: dict[str, _Property] = {}
    for description in rdf_root.findall(_rdf("Description")):
        line = lines.get(id(description), 0)
        for tag, value in description.attrib.items():
            name = _name(tag)
            if not tag.startswith(f"{{{RDF}}}") and tag != XML_LANG:
                props.setdefault(name, _Property(name, line, text=value))
        for child in description:
            prop = _property(child, lines)
            if prop is not None:
                props.setdefault(prop.name, prop)
    return props


def _property(element: Element, lines: dict[int, int]) -> _Property | None:
    name, line = _name(element.tag), lines.get(id(element), 0)
    if element.get(_rdf("resource")) is not None or element.get(_rdf("parseType")):
        return None  # a URI or a structure: none of the fields syncd reads
    container = next(iter(element), None)
    if container is None:
        return _Property(name, line, text=element.text or "")
    items = container.findall(_rdf("li"))
    if container.tag == _rdf("Alt"):
        return _Property(
            name, line, alternatives=tuple((li.get(XML_LANG), _li_text(li)) for li in items)
        )
    if container.tag in (_rdf("Bag"), _rdf("Seq")):
        return _Property(name, line, items=tuple(_li_text(li) for li in items))
    return None  # a nested rdf:Description (a structure)


def _li_text(li: Element) -> str:
    value = li.find(_rdf("value"))  # a qualified value: <rdf:li rdf:parseType="Resource">
    return (value.text if value is not None else li.text) or ""


def _fail(path: Path, prop: _Property, problem: str) -> SidecarError:
    return SidecarError(f"{path}: line {prop.line}: {prop.name}: {problem}")


# --- fields ---------------------------------------------------------------------


def _text_of(path: Path, prop: _Property | None) -> str | None:
    if prop is None:
        return None
    if prop.alternatives is not None:
        chosen = next(
            (t for lang, t in prop.alternatives if (lang or "").lower() == "x-default"), None
        )
        if chosen is None and prop.alternatives:
            chosen = prop.alternatives[0][1]
        return (chosen or "").strip() or None
    if prop.items is not None:
        raise _fail(path, prop, "expected text or a language alternative (rdf:Alt), got a list")
    return (prop.text or "").strip() or None


def _list_of(prop: _Property | None) -> list[str]:
    if prop is None:
        return []
    if prop.items is not None:
        values = list(prop.items)
    elif prop.alternatives is not None:
        values = [text for _, text in prop.alternatives]
    else:
        values = [prop.text or ""]
    return [v.strip() for v in values if v.strip()]


def _tags(props: dict[str, _Property]) -> list[str]:
    """dc:subject's keywords that are not just a level of a hierarchy, then each
    hierarchy's leaf; darktable's own `darktable|...` paths count for nothing."""
    paths = []
    for entry in _list_of(props.get("lr:hierarchicalSubject")):
        levels = [level.strip() for level in entry.split(HIERARCHY_SEPARATOR) if level.strip()]
        if levels:
            paths.append(levels)
    own = [p for p in paths if p[0].casefold() == DARKTABLE_ROOT]
    paths = [p for p in paths if p[0].casefold() != DARKTABLE_ROOT]
    leaves = [p[-1] for p in paths]
    leaf_keys = {leaf.casefold() for leaf in leaves}
    # Lightroom and darktable also list every parent level in dc:subject ("Places",
    # "Europe"): categories, not tags. A level that is also a leaf somewhere stays.
    levels_only = {level.casefold() for p in paths for level in p[:-1]}
    levels_only |= {level.casefold() for p in own for level in p}
    levels_only -= leaf_keys
    tags = [t for t in _list_of(props.get("dc:subject")) if t.casefold() not in levels_only]
    seen = {t.casefold() for t in tags}
    for leaf in leaves:
        if leaf.casefold() not in seen:
            tags.append(leaf)
            seen.add(leaf.casefold())
    return tags


def _publish_date(path: Path, props: dict[str, _Property]) -> str | None:
    for name in DATE_PROPERTIES:
        prop = props.get(name)
        value = _text_of(path, prop)
        if prop is None or value is None:
            continue
        match = _ISO_DATE.fullmatch(value) or _EXIF_DATE.fullmatch(value)
        if not match:
            raise _fail(path, prop, f"{value!r} is not an XMP date (e.g. 2023-06-10T18:22:05)")
        year, month, day, hour, minute, second = match.groups()
        if day is None:
            continue  # only a year or a month: not a publish date; try the next property
        date = f"{year}-{month}-{day}"
        if hour is None:
            return date
        return f"{date} {hour}:{minute}:{second or '00'}"
    return None


def _degrees(path: Path, prop: _Property, positive: str, negative: str) -> float:
    value = (prop.text or "").strip()
    dms = _GPS_DMS.fullmatch(value)
    decimal = _GPS_DECIMAL.fullmatch(value)
    if dms:
        degrees, minutes, seconds, hemisphere = dms.groups()
        number = int(degrees) + float(minutes) / 60 + float(seconds or 0) / 3600
        if float(minutes) >= 60 or float(seconds or 0) >= 60:
            raise _fail(path, prop, f"{value!r}: minutes and seconds must be below 60")
    elif decimal:
        number_text, hemisphere = decimal.groups()
        number = float(number_text)
        if hemisphere and number < 0:
            raise _fail(path, prop, f"{value!r}: a negative number with a hemisphere letter")
    else:
        raise _fail(path, prop, f"{value!r} is not a GPS coordinate (e.g. 59,54.7194N or 59.91199)")
    if hemisphere and hemisphere not in (positive, negative):
        raise _fail(path, prop, f"{value!r}: expected {positive} or {negative}")
    return -number if hemisphere == negative else number


def _coordinates(path: Path, props: dict[str, _Property]) -> dict[str, float] | None:
    latitude, longitude = props.get("exif:GPSLatitude"), props.get("exif:GPSLongitude")
    if latitude is None and longitude is None:
        return None
    if latitude is None or longitude is None:
        given = latitude or longitude
        assert given is not None
        missing = "exif:GPSLongitude" if longitude is None else "exif:GPSLatitude"
        raise _fail(path, given, f"given without {missing}")
    lat = _degrees(path, latitude, "N", "S")
    lon = _degrees(path, longitude, "E", "W")
    for prop, number, limit in ((latitude, lat, 90), (longitude, lon, 180)):
        if not -limit <= number <= limit:
            raise _fail(path, prop, f"{number:g} degrees is out of range (-{limit} to {limit})")
    return {"latitude": lat, "longitude": lon}


def _rating(path: Path, prop: _Property) -> str:
    value = (prop.text or "").strip()
    if not _RATING.fullmatch(value) or not -1 <= float(value) <= 5:
        raise _fail(path, prop, f"{value!r} is not a rating (-1 for rejected, 0 to 5 stars)")
    return str(int(float(value)))
