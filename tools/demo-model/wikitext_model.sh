#!/usr/bin/env bash
# A second small model of our own making, unlike the bundled demo model in size and in training text, for the
# llama.cpp comparison (docs/llamacpp.md): 6 blocks, hidden 256, FFN 512, 4 query heads sharing one key/value head,
# 2048 sentencepiece BPE pieces, trained on WikiText-2. It is not bundled (WikiText-2 is CC BY-SA and lives in the
# fixtures); this script makes it again.
#
#   tools/demo-model/wikitext_model.sh prepare FIXTURES_DIR DATA_DIR
#       Splits WikiText-2's raw test split (FIXTURES_DIR/text/wikitext2_test_hf_joined.txt) at the first article
#       heading after 90 % of its characters: train.txt before it, heldout.txt from it. Trains the tokenizer on
#       train.txt (spm_train, Debian's `sentencepiece`, the demo model's options) and writes the token files the
#       trainer reads. Needs build/bin/aq-demo-trainer.
#   tools/demo-model/wikitext_model.sh train DATA_DIR OUT_DIR [TRAINER] [DEVICE]
#       Trains 600 steps (batches of 16 x 512 tokens, seed 1234) with aq-demo-trainer (default
#       build/bin/aq-demo-trainer) on DEVICE (default cuda; on a 2-core CPU this takes hours) and writes the model
#       folder to OUT_DIR, with DATA_DIR's heldout.txt and calibration text (calib.txt: the first 400,000 characters
#       of train.txt) beside it.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
cmd=${1:-}
case $cmd in
prepare)
  FIX=$2 DATA=$3
  mkdir -p "$DATA"
  python3 - "$FIX/text/wikitext2_test_hf_joined.txt" "$DATA" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
cut = re.compile(r"\n \= [^=\n]+ \= \n").search(text, int(len(text) * 0.9)).start()
open(sys.argv[2] + "/train.txt", "w", encoding="utf-8").write(text[:cut])
open(sys.argv[2] + "/heldout.txt", "w", encoding="utf-8").write(text[cut:])
open(sys.argv[2] + "/calib.txt", "w", encoding="utf-8").write(text[:400000])
print("train %d, held-out %d characters" % (cut, len(text) - cut))
PY
  spm_train --input="$DATA/train.txt" --model_prefix="$DATA/tokenizer" --vocab_size=2048 --model_type=bpe \
    --byte_fallback=true --split_digits=true --character_coverage=1.0 --normalization_rule_name=identity \
    --remove_extra_whitespaces=false --add_dummy_prefix=true --max_sentence_length=8192 --unk_id=0 --bos_id=1 \
    --eos_id=2 --pad_id=-1 > "$DATA/spm_train.log" 2>&1
  "$SRC/build/bin/aq-demo-trainer" tokenize --spm "$DATA/tokenizer.model" --out "$DATA/train.bin" "$DATA/train.txt"
  "$SRC/build/bin/aq-demo-trainer" tokenize --spm "$DATA/tokenizer.model" --out "$DATA/heldout.bin" "$DATA/heldout.txt"
  ;;
train)
  DATA=$2 OUT=$3 TRAINER=${4:-$SRC/build/bin/aq-demo-trainer} DEVICE=${5:-cuda}
  "$TRAINER" train --train "$DATA/train.bin" --heldout "$DATA/heldout.bin" --spm "$DATA/tokenizer.model" --out "$OUT" \
    --device "$DEVICE" --steps 600 --seed 1234 --layers 6 --hidden 256 --ffn 512 --heads 4 --kv-heads 1 \
    | tee "$OUT.training.log"
  mv "$OUT.training.log" "$OUT/training.log"
  cp "$DATA/heldout.txt" "$DATA/calib.txt" "$OUT/"
  ;;
*)
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2;;
esac
