"""Pure decisions, no I/O: what to upload how, what to change remotely.

Imports only `syncd.model` and `syncd.errors`, so every decision is tested as
data without a network or a disk.
"""
