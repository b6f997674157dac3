"""Sample calls for the reductions ops."""

SAMPLERS: dict = {}
INDIRECT: dict = {}
