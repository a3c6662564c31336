#!/usr/bin/env bash
# The tiledet demo: synthetic xView-format scenes -> YOLO dataset (whole scenes and 640 px tiles)
# -> classifier chips -> COCO ground truth of the untiled validation scenes.
# Usage: scripts/demo.sh [OUT_DIR]   (default runs/demo; run through `make demo`)
set -euo pipefail
out=${1:-runs/demo}
bin=${TILEDET_BIN:-.venv/bin/tiledet}
mkdir -p "$out"

echo "== 1/4 synthetic xView-format scenes"
"$bin" synth --out "$out/synth" --scenes 6 --size 2000 2000 --seed 0

echo "== 2/4 xView GeoJSON -> YOLO dataset (whole scenes)"
"$bin" convert "$out/synth/xView_train.geojson" --images "$out/synth/images" --out "$out/yolo" --seed 0

echo "== 3/4 the same labels (semicolon format) -> 640 px tiles, 20 % overlap"
"$bin" convert "$out/synth/labels_semicolon.txt" --images "$out/synth/images" --out "$out/yolo_tiles" \
  --tile 640 --overlap 0.2 --min-visibility 0.5 --empty-fraction 0.1 --seed 0

echo "== 4/4 object and background chips for classifiers"
"$bin" convert "$out/synth/labels.csv" --images "$out/synth/images" --out "$out/chips" \
  --to chips --chip-size 64 --context 0.5 --background 20 --seed 0

echo
echo "Demo outputs in $out: synth/ (scenes + labels), yolo/ and yolo_tiles/ (data.yaml for Ultralytics),"
echo "chips/ (ImageFolder), each with report.json; yolo_tiles/annotations/val_full.json is the whole-scene GT."
