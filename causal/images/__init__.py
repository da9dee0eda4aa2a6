"""Images with causal labels: the ImageData container, ground-truth image datasets, image files, image graphs."""

from causal.images.data import IMAGE_NODE, ImageData, ImageDataError, image_grid
from causal.images.faces import FACE_ATTRIBUTES, FACE_CPT, FACE_STYLE, render_faces
from causal.images.files import IMAGE_SUFFIXES, load_image_folder, save_image_folder, save_png
from causal.images.glyphs import GLYPH_STYLE, render_glyphs
from causal.images.graph import image_graph, split_image_graph
from causal.images.morpho import load_morpho_mnist, morpho_graph
from causal.images.pendulum import render_pendulum
from causal.images.registry import ImageDataset, ImageDatasetInfo, example_grid, info, load, names, pixel_error
from causal.images.scm import ImageSCM

__all__ = [
    "ImageData", "ImageDataError", "IMAGE_NODE", "image_grid",
    "ImageSCM", "ImageDataset", "ImageDatasetInfo", "names", "info", "load", "pixel_error", "example_grid",
    "render_pendulum", "render_faces", "render_glyphs", "FACE_ATTRIBUTES", "FACE_CPT", "FACE_STYLE", "GLYPH_STYLE",
    "load_morpho_mnist", "morpho_graph",
    "load_image_folder", "save_image_folder", "save_png", "IMAGE_SUFFIXES",
    "image_graph", "split_image_graph",
]
