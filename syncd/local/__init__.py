"""The local side: walking trees with the scan filters, and recording what is there."""
