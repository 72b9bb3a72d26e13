"""Camera-like digit strips, synthesised on the fly and deterministic by seed.

Each generator draws a clean strip of one kind and returns it with its label;
``camera`` then makes it look photographed; ``strips`` mixes the kinds.
"""
