"""Sample calls for the creation ops."""

SAMPLERS: dict = {}
INDIRECT: dict = {}
