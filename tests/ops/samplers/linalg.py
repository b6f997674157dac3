"""Sample calls for the linalg ops."""

SAMPLERS: dict = {}
INDIRECT: dict = {}
