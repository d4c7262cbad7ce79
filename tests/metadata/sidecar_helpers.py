"""Helpers for the sidecar format tests: the realistic fixtures and small XMP packets."""

from __future__ import annotations

import shutil
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"

XMP_NAMESPACES = (
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
    'xmlns:lr="http://ns.adobe.com/lightroom/1.0/" '
    'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
    'xmlns:exif="http://ns.adobe.com/exif/1.0/"'
)


def xmp_packet(attributes: str = "", elements: str = "") -> str:
    """One rdf:Description with the given attribute properties and child elements."""
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        f'  <rdf:Description rdf:about="" {XMP_NAMESPACES}\n'
        f"   {attributes}>\n"
        f"{elements}\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
    )


def bag(tag: str, *items: str, kind: str = "Bag") -> str:
    lis = "".join(f"<rdf:li>{item}</rdf:li>" for item in items)
    return f"<{tag}><rdf:{kind}>{lis}</rdf:{kind}></{tag}>"


def media_with(root: Path, media: str, sidecar_name: str, fixture: str) -> Path:
    """`root/media` (a few bytes) with the fixture copied next to it as `sidecar_name`."""
    path = root / media
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(f"media {media}".encode())
    shutil.copyfile(FIXTURES / fixture, path.parent / sidecar_name)
    return path
