#!/usr/bin/env bash
# csm classify / csm tasks: the CLI contract, and accuracy on the labelled
# faces of ../shared/data/faceapi: gender on 40 crops of eight people (three
# women, five men), expression on seven photos named by their expression.
# Skips (77) without the models or the shared data.
set -uo pipefail
csm=${CSM_BIN:?}
models=${CSM_MODELS_DIR:?}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${CSM_SHARED_DATA:-$root/../shared/data}
faces=$shared/faceapi
MIN_GENDER=${CSM_CLASSIFY_MIN_GENDER:-36}         # of 40
MIN_EXPRESSION=${CSM_CLASSIFY_MIN_EXPRESSION:-4} # of 7
MIN_AGREE=${CSM_CLASSIFY_MIN_AGREE:-6}            # of 7, with human 3.3.6's labels

for f in faceres emotion blazeface-back blazeface-front; do
  [ -f "$models/$f.json" ] || { echo "model $f not installed: skipped"; exit 77; }
done
[ -d "$faces/amy" ] || { echo "$faces absent: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not found: skipped"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/csm-classify.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export CSM_MODELS_DIR=$models
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# ---- CLI contract ---------------------------------------------------------
"$csm" classify --help | grep -q "usage: csm classify" || fail "--help"
"$csm" classify "$faces/happy.jpg" >/dev/null 2>&1; [ $? = 1 ] || fail "no --task: want exit 1"
"$csm" classify --task "$faces/happy.jpg" >/dev/null 2>&1; [ $? = 1 ] || fail "no images: want exit 1"
"$csm" classify --task nope "$faces/happy.jpg" >"$tmp/out" 2>"$tmp/err"
[ $? = 1 ] || fail "unknown task: want exit 1"
[ "$(wc -l <"$tmp/err")" = 1 ] || fail "unknown task: want a one-line error"
"$csm" classify --task gender "$faces/happy.jpg" "$tmp/missing.jpg" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] || fail "missing image: want exit 2, got $rc"
[ -s "$tmp/out" ] && fail "missing image: want no partial output"
[ "$(wc -l <"$tmp/err")" = 1 ] || fail "missing image: want a one-line error"
"$csm" tasks --json | python3 -c '
import json, sys
t = {x["name"]: x for x in json.load(sys.stdin)["tasks"]}
for n in ("gender", "gender-64", "gender-ssrnet", "expression", "age", "race"):
    assert n in t, n
assert t["expression"]["classes"][3] == "happy" and t["gender"]["input"] == [224, 224, 3]
' || fail "csm tasks --json"

# ---- gender: 40 labelled crops ---------------------------------------------
imgs=()
for p in amy bernadette penny howard leonard raj sheldon stuart; do
  for k in 1 2 3 4 5; do imgs+=("$faces/$p/$p$k.png"); done
done
for task in gender gender-64 gender-ssrnet; do
  "$csm" classify --task $task --json "${imgs[@]}" >"$tmp/$task.json" || { fail "classify $task"; continue; }
  read -r right detail < <(python3 - "$tmp/$task.json" <<'PY'
import json, os, sys
women = {"amy", "bernadette", "penny"}
right, wrong = 0, []
for im in json.load(open(sys.argv[1]))["images"]:
    person = os.path.basename(os.path.dirname(im["path"]))
    want = "female" if person in women else "male"
    got = im["faces"][0]["label"] if im["faces"] else "no face"
    if got == want: right += 1
    else: wrong.append(os.path.basename(im["path"]) + ":" + got)
print(right, "wrong:", " ".join(wrong) or "none")
PY
  )
  echo "gender ($task): $right/40 right; $detail"
  [ "$task" = gender ] && [ "$right" -lt "$MIN_GENDER" ] && fail "gender: $right/40 < $MIN_GENDER"
done

# ---- expression: seven photos ----------------------------------------------
ex=()
for e in angry disgusted fearful happy neutral sad surprised; do ex+=("$faces/$e.jpg"); done
"$csm" classify --task expression --json "${ex[@]}" >"$tmp/expr.json" || fail "classify expression"
read -r right detail < <(python3 - "$tmp/expr.json" <<'PY'
import json, os, sys
want = {"angry": "angry", "disgusted": "disgust", "fearful": "fear", "happy": "happy",
        "neutral": "neutral", "sad": "sad", "surprised": "surprise"}
right, out = 0, []
for im in json.load(open(sys.argv[1]))["images"]:
    name = os.path.splitext(os.path.basename(im["path"]))[0]
    f = im["faces"][0] if im["faces"] else {"label": "no face", "confidence": 0}
    right += f["label"] == want[name]
    out.append("%s->%s(%.2f)" % (name, f["label"], f["confidence"]))
print(right, " ".join(out))
PY
)
echo "expression: $right/7 right: $detail"
[ "$right" -ge "$MIN_EXPRESSION" ] || fail "expression: $right/7 < $MIN_EXPRESSION"

# ---- expression: agreement with human 3.3.6's own labels --------------------
npm=${CSM_NPM_DIR:-$root/deps/npm/node_modules}
if ! command -v node >/dev/null; then
  echo "expression vs human: node not found: skipped"
elif [ ! -d "$npm/@vladmandic/human" ]; then
  echo "expression vs human: no npm tree at $npm: skipped"
elif ! node "${CSM_SOURCE_DIR:-$root}/tests/oracles/human_faces.mjs" --detector back --min-score 0.2 \
  --emotion "${ex[@]}" >"$tmp/human.json" 2>"$tmp/human.err"; then
  fail "human oracle: $(tail -1 "$tmp/human.err")"
else
  read -r agree detail < <(python3 - "$tmp/expr.json" "$tmp/human.json" <<'PY'
import json, os, sys
csm = {os.path.basename(im["path"]): (im["faces"][0]["label"] if im["faces"] else "none")
       for im in json.load(open(sys.argv[1]))["images"]}
hum = {}
for im in json.load(open(sys.argv[2]))["images"]:
    # human labels only faces its mesh keeps: the largest of those.
    fs = [f for f in im["faces"] if f.get("emotion")]
    f = max(fs, key=lambda f: f["box"][2] * f["box"][3]) if fs else {"emotion": "none"}
    hum[os.path.basename(im["path"])] = f["emotion"]
names = sorted(hum)
agree = sum(csm.get(n) == hum[n] for n in names)
print(agree, "human:", ",".join(hum[n] for n in names), "csm:", ",".join(csm.get(n, "none") for n in names))
PY
  )
  echo "expression vs human: $agree/7 agree; $detail"
  [ "$agree" -ge "$MIN_AGREE" ] || fail "expression vs human: $agree/7 < $MIN_AGREE"
fi

# ---- every task runs on a group photo and gives normalized scores -----------
for task in $("$csm" tasks --json | python3 -c "import json,sys; print(' '.join(t['name'] for t in json.load(sys.stdin)['tasks']))"); do
  "$csm" classify --task "$task" --json "$faces/bbt1.jpg" >"$tmp/t.json" 2>"$tmp/err" ||
    { fail "classify $task: $(cat "$tmp/err")"; continue; }
  python3 - "$tmp/t.json" <<'PY' || fail "classify $task on bbt1.jpg: bad scores"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["images"][0]["faces"]) >= 3
for f in d["images"][0]["faces"]:
    assert len(f["box"]) == 4
    if f["scores"]:
        assert abs(sum(f["scores"].values()) - 1) < 1e-3
        assert f["scores"][f["label"]] == f["confidence"] == max(f["scores"].values())
    else:
        assert 0 < f["value"] < 100
PY
done

[ $fails = 0 ] && echo "classify: all checks passed"
exit $((fails > 0))
