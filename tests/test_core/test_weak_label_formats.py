"""Parsers of published weak annotations: clicks, ScribbleSup XML, foreign label PNGs."""
import numpy as np
import pytest
from PIL import Image

from mmseg_sam_wsss.core.weak_label_formats import (class_name_map, clicks_to_points,
                                                    image_shape, parse_scribblesup_xml,
                                                    parse_value_map, polyline_pixels,
                                                    remap_label, scribbles_to_label)
from mmseg_sam_wsss.errors import SamWsssError

SCRIBBLE_XML = """<?xml version="1.0"?>
<annotation>
  <filename>2007_000032.jpg</filename>
  <polygon>
    <tag>aeroplane</tag>
    <point><X>1.2</X><Y>2.9</Y></point>
    <point><X>8.7</X><Y>2.0</Y></point>
  </polygon>
  <polygon>
    <tag>Background</tag>
    <point><X>0</X><Y>9</Y></point>
    <point><X>0</X><Y>5</Y></point>
    <point><X>12</X><Y>5</Y></point>
  </polygon>
  <polygon>
    <tag>potted plant</tag>
    <point><X>11</X><Y>0</Y></point>
  </polygon>
</annotation>
"""


def test_clicks_floor_to_pixels_and_the_far_edge_is_the_last_pixel():
    clicks = [{'x': 3.9, 'y': 0.2, 'cls': 15, 'rank': 1}, {'x': 10.0, 'y': 6.0, 'cls': 0}]
    assert clicks_to_points(clicks, (6, 10)) == [(3, 0, 15), (9, 5, 0)]
    with pytest.raises(SamWsssError, match=r'clicks.json \[a\] click 0: x = 10.5 is outside'):
        clicks_to_points([{'x': 10.5, 'y': 1, 'cls': 1}], (6, 10), name='clicks.json [a]')
    with pytest.raises(SamWsssError, match='y = -1 is outside'):
        clicks_to_points([{'x': 1, 'y': -1, 'cls': 1}], (6, 10))
    with pytest.raises(SamWsssError, match="class 21 is not a class id 0..20"):
        clicks_to_points([{'x': 1, 'y': 1, 'cls': 21}], (6, 10))
    with pytest.raises(SamWsssError, match='expected'):
        clicks_to_points([{'x': 1, 'cls': 1}], (6, 10))
    with pytest.raises(SamWsssError, match='not a number'):
        clicks_to_points([{'x': 'left', 'y': 1, 'cls': 1}], (6, 10))


def test_scribblesup_xml_is_parsed_with_voc_names():
    scribbles = parse_scribblesup_xml(SCRIBBLE_XML, class_name_map(), 'a.xml')
    assert [class_id for class_id, _ in scribbles] == [1, 0, 16]
    np.testing.assert_allclose(scribbles[0][1], [[1.2, 2.9], [8.7, 2.0]])
    assert scribbles[2][1].shape == (1, 2)
    with pytest.raises(SamWsssError, match=r"a.xml: polygon 0: unknown class name 'zebra'"):
        parse_scribblesup_xml('<a><polygon><tag>zebra</tag><point><X>1</X><Y>1</Y></point>'
                              '</polygon></a>', class_name_map(), 'a.xml')
    with pytest.raises(SamWsssError, match='has no <point>'):
        parse_scribblesup_xml('<a><polygon><tag>cat</tag></polygon></a>', class_name_map())
    with pytest.raises(SamWsssError, match='numeric <X> and <Y>'):
        parse_scribblesup_xml('<a><polygon><tag>cat</tag><point><X>1</X></point></polygon></a>',
                              class_name_map())
    with pytest.raises(SamWsssError, match='not valid XML'):
        parse_scribblesup_xml('<a><polygon>', class_name_map())


def test_polylines_are_connected_and_drawn_with_their_thickness():
    pixels = polyline_pixels(np.array([[0.5, 0.5], [9.5, 6.5]]), (8, 10))
    # 8-connected: every pixel but the first has a neighbour among the others.
    for row, col in pixels[1:]:
        distances = np.abs(pixels - [row, col]).max(1)
        assert ((distances == 1)).any()
    assert {(0, 0), (6, 9)} <= set(map(tuple, pixels.tolist()))
    scribbles = parse_scribblesup_xml(SCRIBBLE_XML, class_name_map())
    label = scribbles_to_label(scribbles, (10, 13), thickness=3)
    # The background polyline (drawn second) crosses nothing; the aeroplane line runs along
    # rows 2..3 and is 3 pixels thick; the one-point potted plant is a disk of radius 1.
    assert (label[1:4, 2:8] == 1).all() and label[0, 4] == 255
    assert (label[5, :] == 0).all() and (label[6:10, 0] == 0).all()
    assert label[0, 11] == 16 and label[1, 11] == 16 and label[0, 10] == 16
    thin = scribbles_to_label(scribbles[:1], (10, 13), thickness=1)
    assert set(np.unique(thin)) == {1, 255} and (thin == 1).sum() <= 10
    with pytest.raises(SamWsssError, match='x = 14.0 is outside'):
        scribbles_to_label([(1, np.array([[14.0, 1.0]]))], (10, 13), name='b.xml')


def test_later_scribbles_win_overlaps():
    crossing = [(1, np.array([[0.0, 2.5], [5.0, 2.5]])), (2, np.array([[2.5, 0.0], [2.5, 5.0]]))]
    label = scribbles_to_label(crossing, (5, 5), thickness=1)
    assert label[2, 2] == 2 and label[2, 0] == 1 and label[0, 2] == 2


def test_foreign_label_pngs_are_remapped():
    label = np.array([[0, 1, 2], [3, 255, 1]], np.uint8)
    remapped = remap_label(label, parse_value_map(['1=15', '2=0', '3=255']), ignore_value=0)
    np.testing.assert_array_equal(remapped, [[255, 15, 0], [255, 255, 15]])
    with pytest.raises(SamWsssError, match=r'c.png: values \[30\] map to no class id'):
        remap_label(np.array([[30]], np.uint8), name='c.png')
    for item in ('1', '1=300', 'a=b'):
        with pytest.raises(SamWsssError, match='expected SRC=DST'):
            parse_value_map([item])


def test_image_shape_reads_the_header(tmp_path):
    path = tmp_path / 'a.jpg'
    Image.new('RGB', (7, 4)).save(path)
    assert image_shape(str(path)) == (4, 7)
    with pytest.raises(SamWsssError, match='image not found'):
        image_shape(str(tmp_path / 'b.jpg'))
    (tmp_path / 'c.jpg').write_bytes(b'not an image')
    with pytest.raises(SamWsssError, match='cannot read the image header'):
        image_shape(str(tmp_path / 'c.jpg'))
