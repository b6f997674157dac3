"""Sample calls for the indexing ops."""

SAMPLERS: dict = {}
INDIRECT: dict = {}
