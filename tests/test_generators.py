"""The generators draw what their labels say."""

import cv2
import numpy as np
import pytest

pytest.importorskip("PIL")

from conftest import edge_energy

from digitcam.device.preprocess import fit_strip
from digitcam.trainer.synth import fonts
from digitcam.trainer.synth.camera import close_rows, rescale
from digitcam.trainer.synth.common import random_digits
from digitcam.trainer.synth.counter import meter_window, roller_counter
from digitcam.trainer.synth.handwriting import SPACED_GAPS, MnistPool, handwritten, seed_protocol_strip
from digitcam.trainer.synth.printed import truetype_mask
from digitcam.trainer.synth.sevenseg import SEGMENTS, _segment_polygons, drawn_masks
from digitcam.trainer.synth.strips import KINDS, STRETCH_RANGE, Synthesizer, build, stretch


def ink_runs(profile: np.ndarray) -> int:
    """Number of separate runs of True in a 1-D profile."""
    on = profile.astype(np.int8)
    return int(((np.diff(np.concatenate(([0], on))) == 1)).sum())


def test_fonts_are_installed():
    assert len(fonts.font_files(fonts.TRAIN_PRINTED)) >= 20
    assert len(fonts.seven_segment_files()) >= 8
    assert len(fonts.font_files(fonts.HELD_OUT_PRINTED)) >= 6


@pytest.mark.parametrize("seed", range(6))
def test_printed_glyph_count_matches_label(seed):
    rng = np.random.default_rng(seed)
    text = random_digits(rng)
    font = fonts.font_files(("DejaVuSans-Bold", "LiberationMono", "FreeSans"))[seed % 3]
    # Re-draw until the tracking is wide enough to separate glyphs by clean columns.
    for _ in range(50):
        mask = truetype_mask(rng, text, font, 48)
        if ink_runs(mask.max(axis=0) > 0.3) == len(text):
            return
    pytest.fail(f"{text!r} in {font.name}: never drew {len(text)} separate glyphs")


def test_seven_segment_lights_the_labelled_segments():
    rng = np.random.default_rng(3)
    for digit, patterns in SEGMENTS.items():
        lit, unlit = drawn_masks(rng, digit, 1)
        assert lit.sum() > 0
        # Every lit pixel plus every unlit pixel covers all seven segments.
        assert (lit > 0.5).sum() < ((lit + unlit) > 0.5).sum() or digit == "8"
        fraction = (lit > 0.5).sum() / max(1, ((lit + unlit) > 0.5).sum())
        expected = min(len(p) for p in patterns) / 7, max(len(p) for p in patterns) / 7
        assert expected[0] - 0.12 <= fraction <= expected[1] + 0.12, digit


def test_meter_panels_are_training_only_and_draw_dark_digits_on_a_lighter_panel(monkeypatch):
    from digitcam.trainer.synth import sevenseg

    image = sevenseg._meter_panel(np.random.default_rng(2), "120")
    assert np.percentile(image, 2) < np.median(image) - 15
    drawn = []
    monkeypatch.setattr(sevenseg, "_meter_panel", lambda rng, text: drawn.append(text) or image)
    rng = np.random.default_rng(0)
    for _ in range(40):  # evaluation sets: never a meter panel, so they stay byte-identical
        sevenseg.seven_segment(rng, "123", [], backlit=False)
    assert drawn == []
    for _ in range(40):
        sevenseg.seven_segment(rng, "123", [], backlit=True)
    assert 5 <= len(drawn) <= 25  # METER_PANEL_SHARE of training's backlit draws


def test_segment_geometry_has_seven_segments():
    assert sorted(_segment_polygons(30, 60, 6, 1)) == list("abcdefg")


@pytest.mark.parametrize("text", ["7", "0042", "9876543210"])
def test_counter_draws_one_drum_per_digit(text):
    rng = np.random.default_rng(len(text))
    for _ in range(5):
        image = roller_counter(rng, text, fonts.font_files(("DejaVuSans-Bold",)))
        rows = image.shape[0]
        # Sample the frame colour at the very top edge, then count drum runs across the middle.
        frame = image[0, 0]
        middle = np.abs(image[rows // 2 - rows // 5: rows // 2 + rows // 5] - frame).max(axis=0)
        if ink_runs(middle > 12) == len(text):
            return
    pytest.fail(f"never saw {len(text)} separate drums for {text!r}")


@pytest.mark.parametrize("text", ["7", "00000", "0123456789"])
def test_a_meter_window_has_one_drum_per_digit_between_thin_separators(text):
    # Between the window's edges a separator is a column of one level from top to bottom:
    # one more of them than digits, evenly spaced, thin beside a drum.
    face = fonts.font_files(("DejaVuSans-Bold",))
    seen = 0
    for seed in range(20):
        image = meter_window(np.random.default_rng(seed), text, face, face_share=0.0)
        rows = image.shape[0]
        inside = image[rows * 15 // 100: rows * 85 // 100]
        flat = np.flatnonzero(inside.std(axis=0) < 1e-3)
        runs = np.split(flat, np.flatnonzero(np.diff(flat) > 1) + 1) if flat.size else []
        if len(runs) != len(text) + 1:
            continue
        starts = np.array([r[0] for r in runs])
        assert starts[0] == 0 and np.ptp(np.diff(starts)) <= 1  # drums of one width
        assert max(len(r) for r in runs) < (image.shape[1] / len(text)) / 4
        seen += 1
    assert seen >= 15, f"only {seen} of 20 windows showed {len(text) + 1} separators"


def test_a_meter_window_on_its_face_keeps_the_window_and_adds_marks_beside_it():
    # The same draws with and without the face: the window itself is unchanged, inside a
    # rim, and the face is wider than the window by at least its margins.
    face = fonts.font_files(("DejaVuSans-Bold",))
    marked = 0
    for seed in range(10):
        window = meter_window(np.random.default_rng(seed), "00417", face, face_share=0.0)
        on_face = meter_window(np.random.default_rng(seed), "00417", face, face_share=1.0)
        h, w = window.shape
        hits = cv2.matchTemplate(on_face, window, cv2.TM_SQDIFF)
        assert hits.min() < h * w, "the window is not inside its face unchanged"  # under a grey level
        assert on_face.shape[0] > h and on_face.shape[1] > w
        marked += on_face.shape[1] - w > 0.5 * h  # a mark or a unit beside the window
    assert marked >= 5


def test_meter_windows_are_drawn_only_when_asked_and_evaluation_counters_do_not_change():
    plain = Synthesizer(None)
    windows = Synthesizer(None, meter_windows=1.0)
    for seed in range(5):
        before = roller_counter(np.random.default_rng(seed), "04217", plain.printed_fonts)
        assert np.array_equal(plain.clean(np.random.default_rng(seed), "counter", "04217"), before)
        drawn = windows.clean(np.random.default_rng(seed), "counter", "04217")
        assert not np.array_equal(drawn, before) and drawn.shape != before.shape


def test_meter_faces_are_drawn_only_when_asked():
    windows = Synthesizer(None, meter_windows=1.0)
    faces = Synthesizer(None, meter_windows=1.0, meter_faces=1.0)
    for seed in range(5):
        window = windows.clean(np.random.default_rng(seed), "counter", "04217")
        on_face = faces.clean(np.random.default_rng(seed), "counter", "04217")
        assert on_face.shape[0] > window.shape[0] and on_face.shape[1] > window.shape[1]


def test_face_lines_add_print_above_or_below_and_leave_the_face_otherwise_as_it_was():
    # Drawn last, so the same draws give the same face with the lines stacked on it: as wide,
    # taller, and the face found unchanged inside; with no lines asked, nothing changes.
    face = fonts.font_files(("DejaVuSans-Bold",))
    for seed in range(10):
        plain = meter_window(np.random.default_rng(seed), "00417", face, face_share=1.0)
        assert np.array_equal(plain, meter_window(np.random.default_rng(seed), "00417", face,
                                                  face_share=1.0, lines_share=0.0))
        lined = meter_window(np.random.default_rng(seed), "00417", face, face_share=1.0, lines_share=1.0)
        h, w = plain.shape
        assert lined.shape[1] == w and lined.shape[0] > h
        hits = cv2.matchTemplate(lined, plain, cv2.TM_SQDIFF)
        assert hits.min() < h * w, "the face is not inside the lined face unchanged"
        top = int(np.unravel_index(hits.argmin(), hits.shape)[0])
        rows = np.delete(np.arange(lined.shape[0]), np.arange(top, top + h))
        assert np.ptp(lined[rows]) > 40, "the added rows carry no print"


def test_face_lines_are_drawn_only_when_asked():
    faces = Synthesizer(None, meter_windows=1.0, meter_faces=1.0)
    lined = Synthesizer(None, meter_windows=1.0, meter_faces=1.0, face_lines=1.0)
    for seed in range(5):
        face = faces.clean(np.random.default_rng(seed), "counter", "04217")
        with_lines = lined.clean(np.random.default_rng(seed), "counter", "04217")
        assert with_lines.shape[0] > face.shape[0] and with_lines.shape[1] == face.shape[1]


def test_mnist_pool_draws_the_asked_digit(mnist_path):
    from digitcam.trainer import mnist

    (x, y), _ = mnist.load(mnist_path)
    pool = MnistPool(x, y)
    rng = np.random.default_rng(0)
    index = {x[i].tobytes(): int(y[i]) for i in range(len(x))}
    for digit in "0123456789" * 3:
        assert index[pool.sample(rng, digit).tobytes()] == int(digit)


def test_spaced_handwriting_keeps_every_digit_apart_by_the_wide_gap():
    """Blocks for digits, so each one is exactly one run of ink columns."""
    cells = np.zeros((10, 28, 28), np.uint8)
    cells[:, 6:22, 10:18] = 255
    pool = MnistPool(cells, np.arange(10))
    for seed in range(20):
        rng = np.random.default_rng(seed)
        text = random_digits(rng)
        strip = handwritten(rng, text, pool, spaced_share=1.0)
        bg = np.median(strip[:, 0])
        contrast = np.abs(strip - bg).max()
        columns = np.abs(strip - bg).max(axis=0) > 0.5 * contrast
        assert ink_runs(columns) == len(text)
        edges = np.flatnonzero(np.diff(columns.astype(np.int8)))
        gaps = edges[2::2] - edges[1:-1:2]  # from each run's end to the next one's start
        assert gaps.size == len(text) - 1
        assert (gaps >= SPACED_GAPS[0] - 1).all() and (gaps <= SPACED_GAPS[1] + 1).all()


def test_seed_protocol_layout():
    cells = [np.full((28, 28), v, np.uint8) for v in (0, 50, 100, 150, 200)]
    strip = seed_protocol_strip(cells)
    assert strip.shape == (28, 140) and strip[0, 28 * 3] == 150
    assert seed_protocol_strip(cells, invert=True)[0, 0] == 255


def test_spaced_and_lone_evaluation_sets_keep_mnist_cells_whole():
    from digitcam.trainer.evaluate import lone_digits, seed_protocol

    cells = np.stack([np.full((28, 28), 10 * (d + 1), np.uint8) for d in range(10)])
    labels = np.arange(10)
    spaced = seed_protocol(cells, labels, gap=10)
    assert spaced.labels == ["01234", "56789"]
    strip = spaced.images[1]
    assert strip.shape == (28, 5 * 28 + 4 * 10)
    assert (strip[:, 28:38] == 0).all() and (strip[:, 38:66] == 70).all()  # gap, then the '6'
    lone = lone_digits(cells, labels)
    assert lone.labels == list("0123456789") and lone.images[3].shape == (28, 36)
    assert (lone.images[3][:, 4:32] == 40).all() and not lone.images[3][:, :4].any()


def test_build_is_deterministic_by_seed(mnist_path):
    from digitcam.trainer import mnist

    (x, y), _ = mnist.load(mnist_path)
    kinds = {k: 1.0 for k in KINDS}
    a = build(40, 5, kinds, 32, 192, (x, y), workers=1, chunk=16)
    b = build(40, 5, kinds, 32, 192, (x, y), workers=2, chunk=16)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1] and set(a[2]) <= set(KINDS)
    assert all(len(t) <= 10 for t in a[1])


def test_stretch_changes_only_the_width_and_keeps_the_digits_apart():
    # Three bars: stretched either way they stay three bars on the same rows.
    strip = np.zeros((30, 60), np.uint8)
    for x in (5, 25, 45):
        strip[5:25, x:x + 8] = 255
    rng = np.random.default_rng(3)
    factors = []
    for _ in range(200):
        out = stretch(rng, strip)
        assert out.shape[0] == 30 and out.dtype == np.uint8
        factors.append(out.shape[1] / 60)
        assert ink_runs(out.max(axis=0) > 127) == 3
        assert (out[:4] == 0).all() and (out[26:] == 0).all()
    low, high = STRETCH_RANGE
    assert low - 0.02 <= min(factors) < 0.8 and 1.25 < max(factors) <= high + 0.02


def test_rescale_brings_strips_to_the_model_height_with_harder_edges_too():
    """A seed-protocol strip (28 rows) through rescale: always 32 rows with its aspect
    and its five digits, its edges from a plain bilinear upscale's to much harder."""
    cells = []
    for i in range(5):  # five filled discs, anti-aliased like MNIST ink
        cell = np.zeros((28, 28), np.uint8)
        cv2.circle(cell, (14, 14), 7 + i % 2, 255, -1, lineType=cv2.LINE_AA)
        cells.append(cell)
    strip = seed_protocol_strip(cells)

    # Not fit_strip's own upscale: that one is softened after (UPSCALE_BLUR_SIGMA).
    plain = edge_energy(fit_strip(cv2.resize(strip, (160, 32), interpolation=cv2.INTER_LINEAR),
                                  32, 192))
    rng = np.random.default_rng(5)
    energies = []
    for _ in range(300):
        out = rescale(rng, strip, 32)
        assert out.shape == (32, 160) and out.dtype == np.uint8
        assert ink_runs(out.max(axis=0) > 127) == 5
        energies.append(edge_energy(fit_strip(out, 32, 192)))
    assert min(energies) <= 1.01 * plain and max(energies) > 1.25 * plain


def test_close_rows_cuts_margin_above_and_below_but_never_ink():
    # A seed-protocol-like strip: ink on rows 4-23 of 28, in two polarities.
    rng = np.random.default_rng(11)
    for bg, fg in ((0.0, 255.0), (230.0, 20.0)):
        strip = np.full((28, 140), bg, np.float32)
        strip[4:24, 10:130:20] = fg
        heights = []
        for _ in range(100):
            out = close_rows(rng, strip)
            assert out.shape[1] == 140
            ink = np.flatnonzero((np.abs(out - bg) > 100).any(axis=1))
            assert ink.size == 20  # every ink row kept
            top, bottom = int(ink[0]), out.shape[0] - 1 - int(ink[-1])
            assert 0 <= top <= 4 and 0 <= bottom <= 4
            heights.append(out.shape[0])
        # Ink from ~71 % of the height up to ~90 %, not one framing.
        assert min(heights) <= 22 and max(heights) >= 27
    assert close_rows(rng, np.full((20, 50), 7.0, np.float32)).shape == (20, 50)  # no ink


def test_every_kind_produces_a_labelled_uint8_strip(mnist_path):
    from digitcam.trainer import mnist

    (x, y), _ = mnist.load(mnist_path)
    synth = Synthesizer(MnistPool(x, y), empty_rate=0.0)
    rng = np.random.default_rng(1)
    for kind in KINDS:
        for _ in range(20):
            image, text = synth.sample(rng, kind)
            assert image.dtype == np.uint8 and image.ndim == 2
            assert 1 <= len(text) <= 10 and text.isdigit()


def test_detector_target_marks_exactly_the_strip_cells():
    pytest.importorskip("tensorflow")
    from digitcam.trainer.detector import DetectorArgs, target

    args = DetectorArgs()  # 320x240 in, 80x60 cells: 8x8 pixels of a 640x480 frame each
    quad = np.float32([[80, 120], [240, 120], [240, 184], [80, 184]])
    cells = target(quad, (640, 480), args)
    assert cells.shape == (60, 80)
    assert np.all(cells[15:23, 10:30] > 0.9)  # inside the strip
    assert cells[:14].max() == 0 and cells[24:].max() == 0  # above and below
    assert cells[:, :9].max() == 0 and cells[:, 31:].max() == 0  # either side
    assert target(np.zeros((4, 2), np.float32), (640, 480), args).max() == 0  # no strip


def test_detector_training_scenes_share_nothing_with_the_test_scenes(mnist_path):
    from digitcam.trainer import mnist
    from digitcam.trainer.synth.scenes import TRAIN_WORDS, WORDS, SceneMaker

    (x, y), _ = mnist.load(mnist_path)
    train = SceneMaker(MnistPool(x, y), split="train")
    test = SceneMaker(MnistPool(x, y), split="test")
    assert not set(TRAIN_WORDS) & set(WORDS)
    assert {p.name for p in train.printed_fonts}.isdisjoint(p.name for p in test.printed_fonts)
    assert all(p.name.startswith(fonts.TRAIN_PRINTED) for p in train.clutter_fonts)
    rng = np.random.default_rng(0)
    scene = train.make(rng, "counter")
    assert scene.image.shape == (480, 640) and scene.text.isdigit() and np.any(scene.quad)


def test_training_scenes_can_draw_short_numbers_small_too(mnist_path):
    # Sized by width alone, a number of one to three digits is drawn a third of the frame
    # tall, and the detector missed "12" at 56 px on a plain label. `trainer detector
    # --by-height` sizes a share of training strips by height; test scenes never change.
    from digitcam.trainer import mnist
    from digitcam.trainer.synth.scenes import SceneMaker, SceneOptions

    (x, y), _ = mnist.load(mnist_path)
    pool = MnistPool(x[:2000], y[:2000])
    with pytest.raises(ValueError, match="test scenes"):
        SceneMaker(pool, split="test", options=SceneOptions(by_height_share=0.5))

    def short_heights(split: str) -> list[float]:
        options = SceneOptions(by_height_share=0.5) if split == "train" else SceneOptions()
        maker, rng, heights = SceneMaker(pool, split=split, options=options), np.random.default_rng(3), []
        while len(heights) < 40:
            scene = maker.make(rng, "printed")
            if len(scene.text) <= 3:
                heights.append(float(np.linalg.norm(scene.quad[3] - scene.quad[0])))
        return heights

    train, test = short_heights("train"), short_heights("test")
    assert np.median(test) > 150 and np.percentile(train, 25) < 80, (np.median(test), sorted(train))


def test_plain_scenes_put_a_whole_number_inside_its_quad_on_a_flat_frame(mnist_path):
    from digitcam.trainer import mnist
    from digitcam.trainer.synth.scenes import SceneMaker

    _, (x, y) = mnist.load(mnist_path)
    maker, rng = SceneMaker(MnistPool(x[:100], y[:100])), np.random.default_rng(5)
    heights = []
    for _ in range(30):
        scene = maker.plain(rng)
        assert scene.kind == "plain" and 1 <= len(scene.text) <= 8 and scene.text.isdigit()
        x0, y0 = scene.quad.min(axis=0).astype(int)
        x1, y1 = scene.quad.max(axis=0).astype(int)
        assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480
        inside = scene.image[y0:y1, x0:x1].astype(np.float32)
        outside = np.delete(scene.image, np.s_[max(0, y0 - 4):y1 + 4], axis=0).astype(np.float32)
        # The ink is all inside the quad: outside is the flat surface, its noise and light only.
        assert np.ptp(inside) > 60 and np.percentile(np.abs(outside - np.median(outside)), 99.9) < 45
        heights.append(y1 - y0)
    assert max(heights) > 3 * min(heights)


def test_meter_face_scenes_mark_the_counter_window_alone_among_the_faces_other_print(mnist_path):
    # `trainer detector --meter-faces`: a whole meter's face, where the serial number above the
    # window and the 'V' beside it are ink the detector must leave out of the strip.
    from digitcam.trainer import mnist
    from digitcam.trainer.synth.scenes import SceneMaker, SceneOptions

    (x, y), _ = mnist.load(mnist_path)
    maker = SceneMaker(MnistPool(x[:100], y[:100]), split="train", options=SceneOptions(meter_faces=0.5))
    rng = np.random.default_rng(7)
    ink_outside = 0
    for portrait in (False, True) * 10:
        scene = maker.meter_face(rng, portrait=portrait)
        assert scene.image.shape == ((854, 480) if portrait else (480, 640)) and scene.image.dtype == np.uint8
        assert scene.kind == "meter-face" and 4 <= len(scene.text) <= 8 and scene.text.isdigit()
        h, w = scene.image.shape
        assert scene.quad[:, 0].min() >= 1 and scene.quad[:, 0].max() <= w - 2
        assert scene.quad[:, 1].min() >= 1 and scene.quad[:, 1].max() <= h - 2
        width = np.linalg.norm(scene.quad[1] - scene.quad[0])
        height = np.linalg.norm(scene.quad[3] - scene.quad[0])
        assert width > 1.8 * height and width > 0.12 * w  # one line, a good part of the frame
        # The face's other print: strong edges near the window but outside it.
        inside = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(inside, np.round(scene.quad).astype(np.int32), 1)
        near = cv2.dilate(inside, np.ones((int(3 * height), int(3 * height)), np.uint8)) - inside
        edges = cv2.Canny(scene.image, 80, 200) > 0
        ink_outside += int((edges & (near > 0)).sum() > 0.2 * (edges & (inside > 0)).sum())
    assert ink_outside >= 12, ink_outside


@pytest.mark.parametrize("seed", range(40))
def test_partial_neighbours_keep_a_gap_from_the_strip(seed):
    # A sliver pasted right beside the last digit reads as a trailing '1'; the
    # label would then teach the model to drop real ones.
    from digitcam.trainer.synth.camera import _place_clutter

    rng = np.random.default_rng(seed)
    h, w, margin = 40, 120, int(rng.integers(4, 40))
    out = np.zeros((h + 10, w + 2 * margin), np.float32)
    piece = np.full((30, 60), 255.0, np.float32)
    _place_clutter(rng, out, piece, (5, margin, h, w))
    gap = int(0.4 * h)
    rows = slice(5, 5 + h)  # pieces above and below may overhang; beside the strip they may not
    assert not out[rows, margin - gap:margin].any()
    assert not out[rows, margin + w:margin + w + gap].any()


@pytest.mark.parametrize("rows", [28, 40, 72, 140])
def test_simulated_sensor_never_renders_a_crop_below_min_rows(rows):
    # A 28-row MNIST strip at the old 0.35 factor came out 9 rows tall: digits of
    # ~7 rows, illegible, so their labels taught the model noise.
    from digitcam.trainer.synth.camera import MIN_ROWS, sensor_size

    rng = np.random.default_rng(rows)
    sizes = [sensor_size(rng, 5 * rows, rows) for _ in range(500)]
    heights = np.array([h for _, h in sizes])
    assert heights.min() >= MIN_ROWS
    assert heights.max() <= 0.9 * rows
    if rows >= 72:  # tall crops still get the full range down to 0.35
        assert heights.min() < 0.5 * rows


def test_sensor_keeps_a_crop_already_below_min_rows_nearly_whole():
    from digitcam.trainer.synth.camera import MIN_ROWS, sensor_size

    rng = np.random.default_rng(0)
    assert {sensor_size(rng, 60, MIN_ROWS - 4)[1] for _ in range(50)} == {int(0.9 * (MIN_ROWS - 4))}


@pytest.mark.parametrize("seed", range(20))
def test_margin_shapes_stay_off_the_strip_and_its_gap(seed):
    # Edges and arcs beside the number teach the recogniser they are not digits;
    # drawn into the strip they would contradict its label.
    from digitcam.trainer.synth.camera import shapes

    rng = np.random.default_rng(seed)
    h, w, margin = 40, 160, int(rng.integers(12, 60))
    out = np.zeros((h + 2 * margin, w + 2 * margin), np.float32)
    shapes(rng, out, (margin, margin, h, w))
    gap = int(0.25 * h)
    assert not out[margin - gap:margin + h + gap, margin - gap:margin + w + gap].any()
    assert out.any()  # something was drawn in the margins


def test_distort_reshapes_a_digit_but_keeps_it_in_its_cell(mnist_path):
    from digitcam.trainer import mnist
    from digitcam.trainer.synth.handwriting import distort

    (x, _), _ = mnist.load(mnist_path)
    rng = np.random.default_rng(3)
    for cell in x[:20]:
        out = distort(rng, cell)
        assert out.shape == (28, 28) and out.dtype == np.uint8
        assert not np.array_equal(out, cell)
        # Ink kept (scale 0.85-1.1 changes area by at most ~30 %) and still centred.
        assert 0.6 < out.sum() / cell.sum() < 1.4
        ys, xs = np.nonzero(out > 60)
        assert abs(ys.mean() - 13.5) < 5 and abs(xs.mean() - 13.5) < 5


def test_only_training_scenes_reshape_handwriting(mnist_path):
    """Distortion is for training: a test scene's handwriting is MNIST's own digits."""
    from digitcam.trainer import mnist
    from digitcam.trainer.synth.handwriting import handwritten
    from digitcam.trainer.synth.scenes import SceneMaker

    (x, y), _ = mnist.load(mnist_path)
    pool = MnistPool(x[:2000], y[:2000])
    makers = {split: SceneMaker(pool, split=split) for split in ("test", "train")}
    differs = 0
    for seed in range(10):
        plain = np.pad(handwritten(np.random.default_rng(seed), "4071", pool), 6, mode="edge")
        test = makers["test"].strip(np.random.default_rng(seed), "handwriting", "4071")
        train = makers["train"].strip(np.random.default_rng(seed), "handwriting", "4071")
        assert np.array_equal(test, plain)
        differs += train.shape != plain.shape or not np.array_equal(train, plain)
    assert differs >= 3  # DISTORT_SHARE of them, give or take


@pytest.mark.parametrize("args", [["--plain", "1.5"], ["--by-height", "-0.1"], ["--plain-words", "2"],
                                  ["--meter-faces", "1.2"]])
def test_detector_scene_shares_out_of_range_get_one_line(args, tmp_path):
    from conftest import run_cli

    result = run_cli("trainer", "detector", "--tiny", "--out", str(tmp_path / "run"), *args)
    errors = [line for line in result.stderr.splitlines() if line.startswith("digitcam:")]
    assert result.returncode != 0 and len(errors) == 1 and "is a share" in errors[0], result.stderr[-500:]
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()
