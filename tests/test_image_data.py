"""The image container shared by image datasets and image models."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import causal.images.data as image_data
from causal.images import ImageData, image_grid


def _data(n=4, size=6, channels=3):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)
    return ImageData(pd.DataFrame({"a": np.arange(n) % 2}, index=[10 + i for i in range(n)]), imgs,
                     style=rng.random((n, 2)))


def test_doctests():
    result = doctest.testmod(image_data)
    assert result.attempted > 0 and result.failed == 0


def test_selection_keeps_labels_images_and_style_aligned():
    d = _data()
    sub = d[np.array([False, True, False, True])]
    assert sub.index.tolist() == [11, 13]
    np.testing.assert_array_equal(sub.images, d.images[[1, 3]])
    np.testing.assert_array_equal(sub.style, d.style[[1, 3]])
    assert len(d.head(2)) == 2 and d[2].index.tolist() == [12]


def test_float_and_tensor_round_trip_exactly():
    d = _data()
    back = ImageData.from_float(d.labels, d.tensor())
    np.testing.assert_array_equal(back.images, d.images)
    assert d.tensor().shape == (4, 3, 6, 6) and float(d.tensor().max()) <= 1.0
    assert ImageData.from_float(d.labels, d.floats()).images.dtype == np.uint8


@pytest.mark.parametrize("images, labels, needle", [
    (np.zeros((3, 4, 4, 2), np.uint8), 3, "1 or 3 channels"),
    (np.zeros((3, 4, 4, 1), np.float32), 3, "uint8"),
    (np.zeros((2, 4, 4, 1), np.uint8), 3, "2 images but 3 label rows"),
])
def test_bad_arrays_are_refused_with_the_reason(images, labels, needle):
    with pytest.raises(ValueError, match=needle):
        ImageData(pd.DataFrame({"a": range(labels)}), images)


def test_a_label_column_named_like_the_image_node_is_refused():
    with pytest.raises(ValueError, match="image node"):
        ImageData(pd.DataFrame({"image": [0]}), np.zeros((1, 2, 2, 1), np.uint8))


def test_grid_tiles_images_with_gaps():
    imgs = np.zeros((5, 4, 4, 1), np.uint8)
    g = image_grid(imgs, columns=3, pad=1)
    assert g.shape == (2 * 5 + 1, 3 * 5 + 1, 1)
    assert g[0].min() == 255 and g[1, 1, 0] == 0  # a gap row, then the first image
    assert g[6:10, 11:15].min() == 255  # the sixth cell is empty
