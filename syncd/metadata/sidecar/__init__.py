"""Sidecar formats: which files describe a media file (`registry`), reading them safely
(`reading`), the YAML and XMP readers (`yml`, `xmp`), the newer vocabulary keys
(`fields`) and where each final value came from (`provenance`).

Every reader returns a plain mapping in the common vocabulary (the JSON sidecar's keys);
`syncd.metadata.desired` validates and layers them all with one set of rules.
"""
