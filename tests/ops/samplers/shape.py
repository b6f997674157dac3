"""Sample calls for the shape ops."""

SAMPLERS: dict = {}
INDIRECT: dict = {}
