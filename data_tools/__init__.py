"""COCO captions → machine translations → cached CLIP teacher vectors.

Importing this package is cheap: torch is imported only by the modules that need it (teacher, translate).
"""
