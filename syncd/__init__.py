"""syncd: resumable bulk upload and sync daemon for TwentyThree (23 Video) sites."""

__version__ = "0.1.0"
