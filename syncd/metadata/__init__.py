"""Metadata: what each item should look like (`desired`, from sidecars and folder defaults)
and bringing the site in line with it (`albums`, `apply`)."""
