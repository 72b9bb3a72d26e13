# digitcam: the two commands a new user types are `make demo` and `make test`.
# Everything either needs, apt or pip, is installed from here.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TFLITE_VENV := .venv-tflite
# MNIST in Keras' layout: the shared copy beside the repo when there is one;
# otherwise empty, and Keras downloads it once (or give MNIST=/path/to/mnist.npz).
MNIST ?= $(wildcard ../shared/data/mnist.npz)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_BASE := python3-venv
# Font packages the trainer draws printed and seven-segment digits with; the
# held-out faces (roboto, croscore, open-sans, cantarell) test unseen type.
APT_TRAIN := fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-liberation2 \
	fonts-freefont-ttf fonts-urw-base35 fonts-dseg fonts-roboto fonts-croscore \
	fonts-open-sans fonts-cantarell fonts-lato fonts-inter fonts-crosextra-carlito \
	fonts-oxygen fonts-cabin fonts-manrope fonts-league-spartan fonts-quicksand \
	fonts-comfortaa fonts-b612 fonts-jura fonts-go fonts-firacode fonts-jetbrains-mono

# The tests start their own MQTT broker (and make a self-signed certificate for its TLS test),
# and drive the status page in Debian's own Chromium through its chromedriver.
APT_TEST := mosquitto openssl chromium chromium-driver

APT_E2E := debootstrap systemd-container openssh-client rsync
APT_E2E_ARM64 := qemu-user-static binfmt-support

.PHONY: demo test lint typecheck pytest test-tflite-runtime e2e e2e-arm64 train detector seed-check pipeline-check real-data real-check source-check window-check photo-check bench-frames latency-bench clean

define apt_install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null; then \
	  echo "apt: installing $$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

# The editable installs below: setuptools maps digitcam.device -> device/ (package-dir) with an
# import finder and says so on every install ("Editable installation ... folders with the same
# name as your package"). There is no digitcam/ folder here, and no other mode fits this layout
# (compat puts the checkout on sys.path, where digitcam.* does not exist; strict prints its own
# notice and needs a reinstall for each new file), so that one notice is filtered, nothing else.
$(VENV)/.device $(VENV)/.dev $(TFLITE_VENV)/.ready: export PYTHONWARNINGS = ignore:Editable installation

$(VENV)/.device: pyproject.toml
	$(call apt_install,$(APT_BASE))
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[device]'
	touch $@

$(VENV)/.dev: $(VENV)/.device
	$(call apt_install,$(APT_TRAIN) $(APT_TEST))
	$(PY) -m pip install -q -e '.[device,trainer,deploy,dev]'
	touch $@

demo: $(VENV)/.device
	@echo "== digitcam read: the bundled sample strips (file names carry the true digits)"
	$(VENV)/bin/digitcam read --roi full --stats device/samples/strips
	@echo "== digitcam device run: the daemon on the bundled 640x480 sample frames"
	rm -rf .demo-state
	$(VENV)/bin/digitcam device run --config device/samples/demo.toml --summary

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check device trainer deploy tests

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy

pytest: $(VENV)/.dev
	DIGITCAM_MNIST=$(MNIST) $(PY) -m pytest tests --ignore=tests/e2e/test_deploy.py

# The fallback runtime: tflite-runtime 2.14 needs numpy<2 and only has wheels
# up to Python 3.11, so on a newer Python this says so and is skipped.
$(TFLITE_VENV)/.ready: pyproject.toml
	$(PYTHON) -m venv $(TFLITE_VENV)
	$(TFLITE_VENV)/bin/python -m pip install -q --upgrade pip
	$(TFLITE_VENV)/bin/python -m pip install -q 'tflite-runtime==2.14.0' 'numpy<2' \
		'opencv-python-headless<4.12' pytest
	$(TFLITE_VENV)/bin/python -m pip install -q --no-deps -e .
	touch $@

test-tflite-runtime:
	@if $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] > (3, 11))'; then \
	  $(MAKE) --no-print-directory $(TFLITE_VENV)/.ready && \
	  DIGITCAM_RUNTIME=tflite-runtime $(TFLITE_VENV)/bin/python -m pytest -m tflite_runtime tests; \
	else echo "skipping tflite-runtime tests: no tflite-runtime wheel for this Python"; fi

# `digitcam deploy push` against a real Debian guest booted with systemd-nspawn and
# reached over ssh on loopback. Needs root; the guest root is built once (~2 min)
# and cached in /var/cache/digitcam-e2e.
e2e: $(VENV)/.dev
	$(call apt_install,$(APT_E2E))
	$(PY) -m pytest tests/e2e/test_deploy.py

# The same on an emulated aarch64 guest (bookworm, like Raspberry Pi OS); ~15 min, not in `make test`.
e2e-arm64: $(VENV)/.dev
	$(call apt_install,$(APT_E2E) $(APT_E2E_ARM64))
	DIGITCAM_E2E_ARCH=arm64 $(PY) -m pytest tests/e2e/test_deploy.py

test: lint typecheck pytest test-tflite-runtime e2e

# The shipped model's recipe: the base run, then the fine-tune step its bundle records (real
# strips; needs `make real-data` first). BENCHMARKS.md has the times.
train: $(VENV)/.dev
	$(VENV)/bin/digitcam trainer train --config device/models/digits.json --mnist '$(MNIST)' --out runs/digits
	$(VENV)/bin/digitcam trainer finetune --from runs/digits/bundle/digits.json --recipe device/models/digits.json \
		--mnist '$(MNIST)' --out runs/digits-ft

# The strip detector the device's auto region uses (~25 min); --ship copies it into device/models.
detector: $(VENV)/.dev
	$(VENV)/bin/digitcam trainer detector --mnist '$(MNIST)' --out runs/detector

# Real camera crops for training (issue 25): a local snapshot of
# github.com/haverland/Tenth-of-step-of-a-meter-digit (Apache-2.0), never downloaded here:
#   git clone https://github.com/haverland/Tenth-of-step-of-a-meter-digit ../meter-digits
#   make real-data REAL=../meter-digits
# writes runs/real/real-VERSION.npz, the set the shipped recipe names (real_path).
REAL ?= ../meter-digits
real-data: $(VENV)/.dev
	$(VENV)/bin/digitcam trainer import-real '$(REAL)/images/collected' --out runs/real \
		--repo haverland/Tenth-of-step-of-a-meter-digit --licence Apache-2.0 \
		--commit "$$(git -C '$(REAL)' rev-parse HEAD 2>/dev/null || echo unknown)"

# The real held-out meters through the real CLI: strips composed from meters training never
# saw (roller, LCD, rollers caught half-way, and registers: rollers at rest but the last
# window), read with --roi full; then every held-out crop read on its own, per meter
# and per tenths of a roll, with the errors by kind (runs/realcrops.json).
REAL_SET ?= $(lastword $(sort $(wildcard runs/real/real-*.npz)))
real-check: $(VENV)/.dev
	$(VENV)/bin/digitcam trainer real-strips '$(REAL_SET)' runs/realstrips --count 1000 >/dev/null
	$(VENV)/bin/digitcam read --roi full --json runs/realstrips > runs/realstrips.jsonl
	$(VENV)/bin/digitcam trainer score runs/realstrips/labels.csv runs/realstrips.jsonl
	$(VENV)/bin/digitcam trainer crop-report '$(REAL_SET)' | tee runs/realcrops.json

# A second source, measured on only: the author's own four meters (cold, hot and plain water,
# gas; 1,370 roller crops, labelled by folder) in github.com/ardiloot/meter-digits-recognizer,
# which states no licence, so never trained on. Held out by source, not only by meter:
#   git clone https://github.com/ardiloot/meter-digits-recognizer ../meter-digits-recognizer
SOURCE ?= ../meter-digits-recognizer
source-check: $(VENV)/.dev
	$(VENV)/bin/digitcam trainer import-real '$(SOURCE)/images' --out runs/source --label-from folder \
		--meter-from-name '^\d+_((?:cold_|hot_)?water_meter|gas_meter)_\d{8}_\d+\.jpg$$' --measure-only \
		--repo ardiloot/meter-digits-recognizer --licence 'none stated (measure only)' \
		--commit "$$(git -C '$(SOURCE)' rev-parse HEAD 2>/dev/null || echo unknown)" > runs/source.json
	$(VENV)/bin/digitcam trainer real-strips "$$($(PY) -c 'import json; print(json.load(open("runs/source.json"))["set"])')" \
		runs/sourcestrips --count 1000 >/dev/null
	$(VENV)/bin/digitcam read --roi full --json runs/sourcestrips > runs/sourcestrips.jsonl
	$(VENV)/bin/digitcam trainer score runs/sourcestrips/labels.csv runs/sourcestrips.jsonl
	$(VENV)/bin/digitcam trainer crop-report "$$($(PY) -c 'import json; print(json.load(open("runs/source.json"))["set"])')" \
		| tee runs/sourcecrops.json

# A third source, measured on only: 999 phone photos of domestic water meters (five drums,
# dark digits on light drums, often caught turning), each labelled with its counter window's corners
# and every reading the window allows, in github.com/iaoqian/water_meter_recognition. Its
# licence is MIT, but the photos look like a competition's release whose owner is not stated,
# so they are never trained on. The windows squared up (the recogniser alone, on real strips,
# not composed ones), then the whole photos with the automatic region and where the finder
# loses them:
#   git clone https://github.com/iaoqian/water_meter_recognition ../water_meter_recognition
WINDOWS ?= ../water_meter_recognition
window-check: $(VENV)/.dev
	rm -rf runs/windows runs/window-photos
	$(VENV)/bin/digitcam trainer import-windows '$(WINDOWS)/WaterMeterDataset/train_labels/labels' \
		'$(WINDOWS)/WaterMeterDataset/train_imgs' runs/windows --photos-out runs/window-photos --kind wm >/dev/null
	$(VENV)/bin/digitcam read --roi full --json runs/windows > runs/windows.jsonl
	$(VENV)/bin/digitcam trainer score runs/windows/labels.csv runs/windows.jsonl
	$(VENV)/bin/digitcam read --json runs/window-photos > runs/window-photos.jsonl
	$(VENV)/bin/digitcam trainer score runs/window-photos/labels.csv runs/window-photos.jsonl
	# ...and as a device set up for these five-drum meters reads them ([stabiliser] expected_digits)
	$(VENV)/bin/digitcam read --expected-digits 5 --json runs/window-photos > runs/window-photos-5.jsonl
	$(VENV)/bin/digitcam trainer score runs/window-photos/labels.csv runs/window-photos-5.jsonl
	$(VENV)/bin/digitcam trainer finder-report runs/window-photos/labels.csv

# Whole phone photos of fuel-pump LCDs (github.com/SachaIZADI/Seven-Segment-OCR, no licence
# given: used to measure only, never trained on), read with the automatic region. The label
# is the whole litres; the pumps show two decimals or one, and the labels do not say which
# (trainer/scoring.py).
PHOTOS ?= ../Seven-Segment-OCR
photo-check: $(VENV)/.dev
	rm -rf runs/photos
	@for q in HQ MQ LQ; do \
	  $(VENV)/bin/digitcam trainer import-photos '$(PHOTOS)/Datasets/'$${q}_digital.csv \
	    '$(PHOTOS)/Datasets/'$${q}_digital runs/photos --delimiter ';' --value-column used_liter \
	    --decimals 1-2 --kind pump-$$(echo $$q | tr A-Z a-z) >/dev/null || exit 1; \
	done
	$(VENV)/bin/digitcam read --json runs/photos > runs/photos.jsonl
	$(VENV)/bin/digitcam trainer score runs/photos/labels.csv runs/photos.jsonl

# The acceptance check for the shipped model: the 2017 seed protocol, both
# polarities, read through the real CLI.
seed-check: $(VENV)/.dev
	@for v in normal inverted; do \
	  d=runs/seedset-$$v; flag=$$([ $$v = inverted ] && echo --invert); \
	  $(VENV)/bin/digitcam trainer seedset $$d $$flag --mnist '$(MNIST)' >/dev/null && \
	  $(VENV)/bin/digitcam read --roi full --json $$d > $$d.jsonl && \
	  printf '%s: ' $$v && $(VENV)/bin/digitcam trainer score $$d/labels.csv $$d.jsonl; \
	done

# Issue 3's acceptance check: whole 640x480 frames unlike the training strips
# (held-out faces, clutter, rotation) and frames with a lone word and no digits,
# read with the automatic strip finder. Then 300 plain frames: a printed number of any
# length and size straight on a flat surface, as a label or a sticker is, and 300 with a
# lone word drawn the same way, which must read as nothing (kind plain-word).
pipeline-check: $(VENV)/.dev
	$(VENV)/bin/digitcam trainer scenes runs/scenes --per-kind 100 --empty 50 --words 50 --mnist '$(MNIST)' >/dev/null
	$(VENV)/bin/digitcam read --json runs/scenes > runs/scenes.jsonl
	$(VENV)/bin/digitcam trainer score runs/scenes/labels.csv runs/scenes.jsonl
	$(VENV)/bin/digitcam trainer scenes runs/plain --per-kind 0 --empty 0 --plain 300 --plain-words 300 --mnist '$(MNIST)' >/dev/null
	$(VENV)/bin/digitcam read --json runs/plain > runs/plain.jsonl
	$(VENV)/bin/digitcam trainer score runs/plain/labels.csv runs/plain.jsonl

# Issue 28's latency bench on camera-like frames: 640x480 JPEGs from `trainer scenes`
# (printed, seven-segment, counter, handwriting, 80 each, and 80 empty), once as 400
# different scenes and once as a stream (40 scenes, ten shots each with a little shake
# and fresh sensor noise, as a fixed camera sees a meter). Seeds apart from pipeline-check's.
bench-frames: $(VENV)/.dev
	$(VENV)/bin/digitcam trainer scenes runs/bench-frames --per-kind 80 --empty 80 --seed 2828 --mnist '$(MNIST)' >/dev/null
	$(VENV)/bin/digitcam trainer scenes runs/bench-stream --per-kind 8 --empty 8 --repeat 10 --seed 2829 --mnist '$(MNIST)' >/dev/null

latency-bench: bench-frames
	$(VENV)/bin/digitcam device bench --source replay:runs/bench-frames --frames 400 --threads 1
	$(VENV)/bin/digitcam device bench --source replay:runs/bench-stream --frames 400 --threads 1

clean:
	rm -rf $(VENV) $(TFLITE_VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
