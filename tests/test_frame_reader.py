"""The whole-frame reader with the shipped recogniser and strip detector."""

import numpy as np
import pytest

from digitcam.device.detector import LearnedFinder, StripDetector
from digitcam.device.finder import Finder
from digitcam.device.frame_reader import FrameReader
from digitcam.device.geometry import rectify
from digitcam.device.recognizer import Recognizer
from digitcam.device.segment import FallbackFinder
from digitcam.device.windows import WindowsFinder

pytestmark = pytest.mark.tflite_runtime

ImageFont = pytest.importorskip("PIL.ImageFont")
from PIL import Image, ImageDraw  # noqa: E402

ITALIC = "/usr/share/fonts/truetype/liberation/LiberationSans-Italic.ttf"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@pytest.fixture(scope="module")
def reader() -> FrameReader:
    return FrameReader(Recognizer(), LearnedFinder(StripDetector()), windows=WindowsFinder(),
                       fallback=FallbackFinder())


def frame_with(text: str) -> np.ndarray:
    img = Image.new("L", (640, 480), 90)
    ImageDraw.Draw(img).text((150, 200), text, font=ImageFont.truetype(ITALIC, 56), fill=235)
    return np.asarray(img)


@pytest.mark.parametrize("word", ["Model", "Sale"])
def test_a_word_with_a_digit_like_letter_reads_as_nothing(reader, word):
    # Without the width-per-digit check these read "0" and "5": one digit read in a
    # box six heights wide is a letter of a word, not a number.
    assert reader.read(frame_with(word)).text == ""


def test_most_lone_words_read_as_nothing(reader):
    # The 30 evaluation words (none seen in training) in the same italic face: a model
    # trained on few close-cropped words reads a third of them as digits (GAS -> 645,
    # Soil -> 5, Slot -> 51); training on words brings that under a fifth (BENCHMARKS.md).
    from digitcam.trainer.synth.words import EVAL_WORDS

    read_as_digits = {w: text for w in EVAL_WORDS if (text := reader.read(frame_with(w)).text)}
    assert len(read_as_digits) <= len(EVAL_WORDS) // 5, read_as_digits


@pytest.mark.parametrize("number", ["4071", "306", "1234567"])
def test_numbers_in_the_same_face_still_read(reader, number):
    assert reader.read(frame_with(number)).text == number


@pytest.mark.parametrize("number", ["306", "981"])
def test_a_widely_spaced_face_reads_as_one_number(reader, number):
    # DejaVu at 56 px leaves a cell of background between glyphs: the detector lit
    # "3" and "06" as two regions and the reader took "06" (BENCHMARKS.md, session 23).
    img = Image.new("L", (640, 480), 90)
    ImageDraw.Draw(img).text((150, 200), number, font=ImageFont.truetype(DEJAVU, 56), fill=235)
    assert reader.read(np.asarray(img)).text == number


def shaken(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same scene a moment later: a pixel of shake, fresh sensor noise."""
    moved = np.roll(frame, (int(rng.integers(-1, 2)), int(rng.integers(-1, 2))), axis=(0, 1))
    return np.clip(moved + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)


def test_a_still_stream_rereads_the_strip_without_the_detector(reader):
    rng = np.random.default_rng(1)
    tracker = FrameReader(reader.recognizer, reader.finder, windows=reader.windows, track_every=5)
    scene = frame_with("4071")
    results = [tracker.read(shaken(scene, rng)) for _ in range(12)]
    assert [r.text for r in results] == ["4071"] * 12
    tracked = [r.latency_ms["detect"] == 0 for r in results]
    assert not tracked[0] and sum(tracked) == tracker.tracked_frames >= 6
    # Never more than track_every frames in a row without the detector.
    runs = "".join("t" if t else "d" for t in tracked).split("d")
    assert max(len(run) for run in runs) <= 5
    assert all(r.candidates == 1 for r, t in zip(results, tracked, strict=True) if t)


def test_a_new_scene_is_searched_again(reader):
    tracker = FrameReader(reader.recognizer, reader.finder, windows=reader.windows, track_every=30)
    assert tracker.read(frame_with("4071")).text == "4071"
    img = Image.new("L", (640, 480), 40)
    ImageDraw.Draw(img).text((60, 60), "306", font=ImageFont.truetype(ITALIC, 80), fill=250)
    moved = tracker.read(np.asarray(img))
    assert moved.text == "306" and moved.latency_ms["detect"] > 0
    assert tracker.tracked_frames == 0


def test_each_image_is_independent_without_tracking(reader):
    # digitcam read: the same image twice is searched twice and reads the same.
    first, second = reader.read(frame_with("1234567")), reader.read(frame_with("1234567"))
    assert reader.track_every == 0 and reader.tracked_frames == 0
    assert first.text == second.text == "1234567"
    assert second.latency_ms["detect"] > 0 and np.array_equal(first.quad, second.quad)


def test_a_frame_is_made_grey_once_and_its_preprocessing_booked_apart(reader, monkeypatch):
    from digitcam.device import frame_reader, preprocess, recognizer
    from digitcam.device.profiling import PREPROCESS, READER_STAGES, TOTAL

    calls = []

    def counting(image):
        calls.append(image.shape)
        return preprocess.to_grey(image)

    monkeypatch.setattr(frame_reader, "to_grey", counting)
    monkeypatch.setattr(recognizer, "to_grey", counting)
    colour = np.dstack([frame_with("4071")] * 3)
    result = reader.read(colour)
    assert result.text == "4071" and calls == [colour.shape]  # the frame, not each strip again
    assert set(result.latency_ms) == {*READER_STAGES, TOTAL} and result.latency_ms[PREPROCESS] > 0


class TwoCrops(Finder):
    """One region read by two crops, the first cutting off the number's first digit."""

    stop_when_sure = True

    def __init__(self, crops: list[np.ndarray]) -> None:
        self.crops = crops

    def find(self, grey):
        return [self.crops]


def clipped_7900(reader: FrameReader) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A frame with 7900, its whole box, and a box that cuts the 7 off (read '900')."""
    img = Image.new("L", (640, 480), 90)
    ImageDraw.Draw(img).text((150, 200), "7900", font=ImageFont.truetype(ITALIC, 56), fill=235)
    frame = np.asarray(img)
    box = lambda x0, x1: np.float32([[x0, 200], [x1, 200], [x1, 275], [x0, 275]])  # noqa: E731
    whole, clipped = box(135, 290), box(180, 290)
    assert reader.recognizer.read(rectify(frame, clipped)).text == "900"  # the premise
    return frame, whole, clipped


def test_a_sure_read_of_a_clipped_crop_does_not_end_its_region(reader):
    # Pump photos: the detector's tight crop read '900' of 7900 at 0.68 (sure), and the
    # search stopped before the looser crop that reads 7900. Every crop of the region
    # that gave the sure read is read; of two confident reads the longer one wins.
    frame, whole, clipped = clipped_7900(reader)
    result = FrameReader(reader.recognizer, TwoCrops([clipped, whole])).read(frame)
    assert result.text == "7900" and np.array_equal(result.quad, whole)


class OneRegion(Finder):
    def __init__(self, quad: np.ndarray, stop_when_sure: bool = False) -> None:
        self.quad, self.stop_when_sure = quad, stop_when_sure

    def find(self, grey):
        return [[self.quad]]


def test_display_windows_are_read_even_after_a_sure_detector_read(reader):
    # Pump photos: the detector's box cut off the leading digit and read '6900' of 16900
    # surely, while the display window's inside read all five; the windows were read only
    # when the detector read nothing sure. They are now read on every search and compete.
    frame, whole, clipped = clipped_7900(reader)
    detector = OneRegion(clipped, stop_when_sure=True)
    assert FrameReader(reader.recognizer, detector).read(frame).text == "900"  # sure, clipped
    result = FrameReader(reader.recognizer, detector, windows=OneRegion(whole)).read(frame)
    assert result.text == "7900" and np.array_equal(result.quad, whole) and result.candidates == 2


class StubRecognizer:
    """Reads every strip as ``text`` at ``confidence``."""

    def __init__(self, text: str, confidence: float) -> None:
        self.text, self.confidence = text, confidence

    def read_grey(self, strip, stretch=1.0):
        from digitcam.device.decode import Recognition
        from digitcam.device.profiling import DECODE, INFER, PREPROCESS

        return Recognition(self.text, self.confidence, (self.confidence,) * len(self.text),
                           {PREPROCESS: 0.0, INFER: 0.0, DECODE: 0.0})


def a_finder_that_finds_nothing_and_one_box_at(floor_scale: float):
    """A blank frame, a finder that proposes nothing, and one box read at ``floor_scale``."""
    frame = np.full((480, 640), 90, np.uint8)
    box = np.float32([[100, 200], [300, 200], [300, 260], [100, 260]])
    nothing = OneRegion(box)
    nothing.find = lambda grey: []  # type: ignore[method-assign]
    region = OneRegion(box)
    region.floor_scale = floor_scale
    return frame, box, nothing, region


def test_a_read_inside_a_display_window_needs_less_confidence_than_a_detector_box():
    # A dark walled window is a display by its shape; a read in it is kept at 0.8 of the
    # floor (0.4 of 0.5), a read in a detector box only at the floor itself.
    frame, box, nothing, window = a_finder_that_finds_nothing_and_one_box_at(WindowsFinder.floor_scale)
    unsure = StubRecognizer("7900", 0.45)
    assert 0.5 * WindowsFinder.floor_scale <= 0.45 < 0.5  # the premise
    assert FrameReader(unsure, OneRegion(box)).read(frame).text == ""
    assert FrameReader(unsure, nothing, windows=window).read(frame).text == "7900"
    strict = FrameReader(unsure, nothing, windows=window, min_confidence=0.6)
    assert strict.read(frame).text == ""  # the one configurable floor still moves both


SEGMENTS = {"0": "abcdef", "3": "abcdg", "4": "bcfg", "9": "abcdfg"}


def pump_lcd(text: str) -> np.ndarray:
    """A phone photo of a fuel pump held close: a dark LCD window whose thin seven-segment
    digits reach to within 5 % of its top and bottom, 'LITRES' printed below."""
    import cv2

    image = np.full((720, 1280), 215, np.uint8)
    x0, y0, width, height = 160, 200, 960, 260
    image[y0:y0 + height, x0:x0 + width] = 70
    tall = height * 0.9
    wide, thick, pitch = tall * 0.5, int(tall * 0.08), tall * 0.8
    for i, digit in enumerate(text):
        x, y = x0 + 0.95 * width - pitch * (len(text) - i), y0 + 0.05 * height
        left, right, top, middle, bottom = x, x + wide, y, y + tall / 2, y + tall
        ends = {"a": ((left, top), (right, top)), "b": ((right, top), (right, middle)),
                "c": ((right, middle), (right, bottom)), "d": ((left, bottom), (right, bottom)),
                "e": ((left, middle), (left, bottom)), "f": ((left, top), (left, middle)),
                "g": ((left, middle), (right, middle))}
        for segment in SEGMENTS[digit]:
            (ax, ay), (bx, by) = ends[segment]
            cv2.line(image, (int(ax), int(ay)), (int(bx), int(by)), 30, thick)
    cv2.putText(image, "LITRES", (500, 560), cv2.FONT_HERSHEY_SIMPLEX, 2, 20, 5)
    return image


@pytest.mark.parametrize("text", ["9300", "4900"])
def test_digits_as_tall_as_their_display_window_read_whole(reader, text):
    # The window is read whole and at its middle 85 %. Read at 90 % and 75 % of its height
    # (windows.INSETS before), these read 930 and 490.
    assert reader.read(pump_lcd(text)).text == text


@pytest.mark.parametrize("face, size, text",
                         [(DEJAVU, 24, "4071"), (ITALIC, 24, "1234567"), (DEJAVU, 28, "58")])
def test_a_small_number_on_a_plain_surface_is_read_by_the_fallback(reader, face, size, text):
    # The strip detector proposes nothing here, nor do display windows: each of these read
    # as nothing before the edge blobs were read as a fallback.
    img = Image.new("L", (640, 480), 90)
    ImageDraw.Draw(img).text((150, 200), text, font=ImageFont.truetype(face, size), fill=235)
    frame = np.asarray(img)
    assert FrameReader(reader.recognizer, reader.finder, windows=reader.windows).read(frame).text == ""
    assert reader.read(frame).text == text


def test_a_meter_with_a_known_digit_count_passes_over_regions_read_with_another():
    # Two numbers in one frame: the reader takes the stronger, 40718; told the meter shows four
    # digits (stabiliser.expected_digits), it reads 2607; told three, nothing, never a wrong count.
    from digitcam.device.config import config_from
    from digitcam.device.pipeline import build_pipeline

    img = Image.new("L", (640, 480), 90)
    draw = ImageDraw.Draw(img)
    draw.text((150, 100), "40718", font=ImageFont.truetype(ITALIC, 56), fill=235)
    draw.text((200, 300), "2607", font=ImageFont.truetype(ITALIC, 56), fill=235)
    frame = np.asarray(img)
    read = {}
    for digits in (0, 5, 4, 3):
        config = config_from({"region": {"track_every": 0}, "stabiliser": {"expected_digits": digits}},
                             "test")
        read[digits] = build_pipeline(config).reader.read(frame).text
    assert read == {0: "40718", 5: "40718", 4: "2607", 3: ""}


def test_a_read_of_a_cut_for_a_counter_line_needs_a_counters_digits(reader):
    # Cuts of a closer look's region read half a word's height as '00' or '50'; such a read
    # needs ZOOM_LINE_DIGITS digits (a meter counter's line), a region's read one.
    from digitcam.device.detector import ZOOM_LINE_DIGITS
    from digitcam.device.geometry import rect_quad
    from digitcam.device.profiling import READER_STAGES

    frame = frame_with("50")
    groups = [[rect_quad(140, 195, 110, 75)]]
    latency = dict.fromkeys(READER_STAGES, 0.0)
    found = reader._search(frame, reader.finder, groups, latency)
    assert found is not None and found.read.text == "50"
    assert reader._search(frame, reader.finder, groups, latency, None, ZOOM_LINE_DIGITS) is None
    assert reader._search(frame_with("4071"), reader.finder, [[rect_quad(140, 195, 180, 75)]], latency,
                          None, ZOOM_LINE_DIGITS).read.text == "4071"


@pytest.mark.parametrize(("confidence", "looks_closer"), [(0.7, True), (0.95, False)])
def test_the_closer_look_runs_unless_a_read_is_zoom_below_sure(confidence, looks_closer):
    # A sure read (0.6) stops a search, but only a read ZOOM_BELOW (0.9) sure spares the closer
    # look: a meter photo's first regions read '14' of 00147 at 0.63.
    import dataclasses

    from digitcam.device.detector import ZoomFinder
    from digitcam.device.frame_reader import SURE, ZOOM_BELOW

    assert SURE <= 0.7 < ZOOM_BELOW < 0.95
    recognizer, detector = Recognizer(), StripDetector()
    read_grey = recognizer.read_grey
    recognizer.read_grey = lambda strip, stretch: dataclasses.replace(  # type: ignore[method-assign]
        read_grey(strip, stretch), confidence=confidence)
    zoom = ZoomFinder(detector)
    looks: list[int] = []
    around = zoom.around
    zoom.around = lambda grey, regions: looks.append(len(regions)) or around(grey, regions)  # type: ignore[method-assign]
    reader = FrameReader(recognizer, LearnedFinder(detector), zoom=zoom)
    assert reader.read(frame_with("4071")).text == "4071"
    assert bool(looks) == looks_closer


def test_the_fallback_is_read_last_and_needs_a_surer_read():
    frame, box, nothing, blobs = a_finder_that_finds_nothing_and_one_box_at(FallbackFinder.floor_scale)
    assert FallbackFinder.floor_scale * 0.5 == pytest.approx(0.8)  # the premise
    assert FrameReader(StubRecognizer("58", 0.75), nothing, fallback=blobs).read(frame).text == ""
    assert FrameReader(StubRecognizer("58", 0.85), nothing, fallback=blobs).read(frame).text == "58"
    # Not read at all when the detector's region read above the floor.
    read = FrameReader(StubRecognizer("58", 0.85), OneRegion(box), fallback=blobs).read(frame)
    assert read.text == "58" and read.candidates == 1


def column_scores(*columns: dict[int, float]) -> np.ndarray:
    """Per-column class probabilities: each column's digits as given, the rest blank (10)."""
    probs = np.zeros((len(columns), 11), np.float32)
    for row, column in zip(probs, columns, strict=True):
        for digit, p in column.items():
            row[digit] = p
        row[10] = 1.0 - sum(column.values())
    return probs


class FramingRecognizer:
    """Reads a strip from the scores ``scores`` maps its framing to, (height, stretch): a
    region drawn with room above and below, as the held-out meters' strips were, where a
    tighter or a wider framing reads the digits larger."""

    def __init__(self, scores: dict[tuple[int, float], np.ndarray]) -> None:
        self.scores, self.framings = scores, []

    def read_grey(self, strip, stretch=1.0):
        from dataclasses import replace

        from digitcam.device.decode import ctc_greedy
        from digitcam.device.profiling import DECODE, INFER, PREPROCESS

        self.framings.append((strip.shape[0], stretch))
        read = ctc_greedy(np.log(np.maximum(self.scores[strip.shape[0], stretch], 1e-30)), "0123456789", 10)
        return replace(read, latency_ms={PREPROCESS: 0.0, INFER: 0.0, DECODE: 0.0})

    def text_log_likelihoods(self, reads, texts, weights=None):
        from digitcam.device.decode import text_log_likelihoods

        return text_log_likelihoods([read.probs for read in reads], texts, "0123456789", 10, weights)


ONE, TWO, BLANK = {1: 1.0}, {2: 1.0}, {}
# As drawn, the third digit is a doubt: blank 0.55 against 3 at 0.45, so it reads '12'.
AS_DRAWN = column_scores(BLANK, ONE, BLANK, TWO, BLANK, {3: 0.45}, BLANK)
SURE_3 = column_scores(BLANK, ONE, BLANK, TWO, BLANK, {3: 0.9}, BLANK)
SOMEWHAT_3 = column_scores(BLANK, ONE, BLANK, TWO, BLANK, {3: 0.6}, BLANK)
ALL_FOUR = [(120, 1.0), (100, 1.0), (120, 1.15), (100, 1.15)]


# A 120-row frame read whole (120 rows) and a twelfth off top and bottom (rows 10..110),
# then, where those disagree, both again 1.15 times wider. Evidence, weighted 1, .5, .5, 1:
@pytest.mark.parametrize("scores, text, framings", [
    # '123' log(.45) + .5 log(.9) + .5 log(.45) + log(.9) = -1.36 against '12' -4.35.
    ({(120, 1.0): AS_DRAWN, (100, 1.0): SURE_3, (120, 1.15): AS_DRAWN, (100, 1.15): SURE_3}, "123", ALL_FOUR),
    # Barely: '123' -1.97 against '12' -2.27; the as-drawn read stands.
    ({(120, 1.0): AS_DRAWN, (100, 1.0): SOMEWHAT_3, (120, 1.15): AS_DRAWN, (100, 1.15): SOMEWHAT_3}, "12",
     ALL_FOUR),
    # Both read '12': nothing more is read.
    ({(120, 1.0): AS_DRAWN, (100, 1.0): AS_DRAWN}, "12", ALL_FOUR[:2]),
    # The trimmed framing reads '143', which the as-drawn scores rule out; the wider reads
    # say '123', likelier than '12' under all four.
    ({(120, 1.0): AS_DRAWN, (120, 1.15): SURE_3, (100, 1.15): SURE_3,
      (100, 1.0): column_scores(BLANK, ONE, BLANK, {2: 0.45, 4: 0.55}, BLANK, {3: 0.9}, BLANK)},
     "123", ALL_FOUR),
])
def test_framings_that_disagree_are_settled_by_every_framings_scores(scores, text, framings):
    from digitcam.device.finder import FixedRegion
    from digitcam.device.frame_reader import REFRAME_MARGIN_NATS, REFRAME_STRETCH, REFRAME_WEIGHTS

    assert REFRAME_STRETCH == 1.15 and REFRAME_WEIGHTS == (1.0, 0.5, 0.5, 1.0)  # the premise
    assert -1.97 - -2.27 < REFRAME_MARGIN_NATS < -1.36 - -4.35
    recognizer = FramingRecognizer(scores)
    result = FrameReader(recognizer, FixedRegion()).read(np.full((120, 300), 90, np.uint8))
    assert recognizer.framings == framings
    assert result.text == text and result.candidates == 2


def test_an_as_drawn_read_too_long_to_be_a_number_loses_to_the_trimmed_one(monkeypatch):
    """A bezel read as digits can decode past the bundle's max_length: the recogniser turns
    that into no read but keeps its scores, so the trimmed framing's number is weighed
    against them and wins. The real Recognizer; only its model's scores are stood in, by
    the strip's content (a bright band marks the as-drawn framing)."""
    from digitcam.device.finder import FixedRegion

    recognizer = Recognizer()
    columns = recognizer.meta.bundle.output.time_steps
    twelve = [column for d in range(12) for column in (BLANK, {d % 10: 1.0})]  # past max_length (10)
    noise = column_scores(*twelve, *[BLANK] * (columns - len(twelve)))
    number = column_scores(BLANK, ONE, BLANK, TWO, BLANK, {3: 1.0}, BLANK, {4: 1.0}, *[BLANK] * (columns - 8))

    def scores(strip):
        drawn = strip[0].max() > 200  # the frame's bright top rows are cut off by every trim
        return np.log(np.maximum(noise if drawn else number, 1e-30))

    monkeypatch.setattr(recognizer, "scores", scores)
    frame = np.full((120, 300), 90, np.uint8)
    frame[:10] = 255  # a twelfth of 120 rows
    alone = recognizer.read_grey(frame)
    assert alone.text == "" and alone.probs is not None
    assert FrameReader(recognizer, FixedRegion()).read(frame).text == "1234"
