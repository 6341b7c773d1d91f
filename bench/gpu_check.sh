#!/usr/bin/env bash
# GPU check of ufsn on one NVIDIA GPU, offline, in about 8 minutes (see docs/gpu_check.md):
#   1. the GPU, driver, CUDA and torch versions
#   2. TV-L1 in PyTorch (pipeline.steps.tvl1.pytorch): pairs/s on CUDA at 340x256, batch 1 and the best batch
#   3. ufsn-bench perf train on CUDA with AMP (UCF-101 config, random inputs; needs no data)
#   4. a stage-1 training step (flow_ucf101.toml) with AMP against float32: ms/step and first-step loss
#   5. the tiny synthetic dataset (ufsn-data synth + all) and one end-to-end `ufsn` run on it (top-1, seconds)
#
# Usage: bash bench/gpu_check.sh [--cpu-smoke] [REPORT]
#   REPORT        Markdown report, a copy of everything printed [default: ./gpu_check_report.md]
#   --cpu-smoke   every part on the CPU at the smallest sizes (batch 1-2, 1 step), to check the script
#                 on a machine without a GPU; its figures mean nothing
# Environment: UFSN_BIN  folder of ufsn-bench / ufsn-data and their python
#              [default: where ufsn-bench is on PATH, else the repository's .venv/bin]
# Exit status: 0 every part ran or was skipped (skips are reported), 1 a part failed or timed out,
#              2 no CUDA device (or no torch), 64 bad arguments.
# Parts that need OpenCV (the synthetic data and the run on it) are skipped when `import cv2` fails.

set -u

SMOKE=0
if [ "${1:-}" = "--cpu-smoke" ]; then
    SMOKE=1
    shift
fi
case "${1:-}" in
    -h | --help)
        sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    -*)
        echo "gpu_check.sh: unknown option $1 (usage: bash bench/gpu_check.sh [--cpu-smoke] [REPORT])" >&2
        exit 64
        ;;
esac
if [ "$#" -gt 1 ]; then
    echo "gpu_check.sh: too many arguments (usage: bash bench/gpu_check.sh [--cpu-smoke] [REPORT])" >&2
    exit 64
fi
REPORT="${1:-gpu_check_report.md}"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${UFSN_BIN:-}" ]; then
    BIN="$UFSN_BIN"
elif command -v ufsn-bench >/dev/null 2>&1; then
    BIN="$(dirname "$(command -v ufsn-bench)")"
else
    BIN="$REPO/.venv/bin"
fi
if [ ! -x "$BIN/ufsn-bench" ] || [ ! -x "$BIN/ufsn-data" ]; then
    echo "gpu_check.sh: no ufsn-bench / ufsn-data in $BIN (install the project, or set UFSN_BIN to their folder)" >&2
    exit 2
fi
# The python the entry points run with (their shebang), so the inline blocks see the same packages.
PY="$(head -n 1 "$BIN/ufsn-bench" | sed -n 's/^#![[:space:]]*//p' | cut -d ' ' -f 1)"
if [ -z "$PY" ] || [ ! -x "$PY" ]; then
    if [ -x "$BIN/python" ]; then PY="$BIN/python"; else PY="$(command -v python3)"; fi
fi

if ! : >"$REPORT" 2>/dev/null; then
    echo "gpu_check.sh: cannot write the report $REPORT" >&2
    exit 64
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ufsn-gpu-check.XXXXXX")" || exit 1
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/data"   # the data root of part 5
PYDIR="$WORK/check" # the inline python and shell parts, written when their part starts
mkdir -p "$ROOT" "$PYDIR" || exit 1
trap 'exit 130' INT TERM HUP

if [ "$SMOKE" = 1 ]; then
    DEVICE=cpu
    # part timeouts (s): generous, the CPU smoke run is only a check of the script
    T_INFO=120 T_TVL1=600 T_PERF=600 T_STAGE1=600 T_DATA=600 T_TRAIN=900
else
    DEVICE=cuda
    # part timeouts (s): 15 + 155 + 80 + 45 + 55 + 105 = 455 s; with the kill grace under 8 minutes
    T_INFO=15 T_TVL1=155 T_PERF=80 T_STAGE1=45 T_DATA=55 T_TRAIN=105
fi
KILL_GRACE=3
export PYTHONUNBUFFERED=1 # a part stopped at its timeout keeps what it printed
NPROC="$(nproc 2>/dev/null || echo 1)"
WORKERS=$((NPROC < 8 ? NPROC : 8))
[ "$SMOKE" = 1 ] && WORKERS=1

SUMMARY=()
FAILED=0
PART_PID=""

# run_part LABEL TIMEOUT COMMAND...: the command's stdout as it comes, its stderr (last 40 lines) in a
# code block after it, then its status and wall time; one summary row per part.
run_part() {
    local label="$1" limit="$2"
    shift 2
    local err="$PYDIR/stderr.txt" start end rc status
    start=$(date +%s.%N)
    timeout -k "$KILL_GRACE" "$limit" "$@" 2>"$err" </dev/null &
    PART_PID=$!
    wait "$PART_PID"
    rc=$?
    PART_PID=""
    end=$(date +%s.%N)
    local wall
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    local shown
    shown=$(tr '\r' '\n' <"$err" | grep -Ev '^[^|]*[0-9]+%\|' | grep -v '^[[:space:]]*$' | tail -n 40)
    if [ -n "$shown" ]; then
        echo
        echo "stderr (last 40 lines, progress bars left out):"
        echo '```'
        printf '%s\n' "$shown"
        echo '```'
    fi
    case "$rc" in
        0) status="ok" ;;
        124 | 137) status="TIMED OUT after ${limit} s" FAILED=1 ;;
        *) status="FAILED (exit $rc)" FAILED=1 ;;
    esac
    echo
    echo "**$label: $status, wall time ${wall} s** (limit ${limit} s)"
    echo
    SUMMARY+=("| $label | $status | $wall |")
    return "$rc"
}

skip_part() {
    echo "**$1: skipped: $2**"
    echo
    SUMMARY+=("| $1 | skipped: $2 | - |")
}

heading() {
    echo "## $1"
    echo
}

# write_py NAME: the heredoc on stdin -> $PYDIR/NAME.py
write_py() {
    cat >"$PYDIR/$1.py"
}

main() {
    trap '[ -n "$PART_PID" ] && kill -TERM -- "-$PART_PID" 2>/dev/null; echo; echo "interrupted: the check stopped here"; exit 130' INT TERM HUP
    local script_start mode
    script_start=$(date +%s)
    if [ "$SMOKE" = 1 ]; then mode="CPU smoke run (--cpu-smoke: smallest sizes, figures mean nothing)"; else mode="GPU run"; fi
    echo "# ufsn GPU check"
    echo
    echo "- mode: $mode"
    echo "- repository: $REPO (commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown))"
    echo "- binaries: $BIN; python: $PY"
    echo "- host: $(uname -n), $NPROC CPU cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo

    # ---- 1. GPU, driver, CUDA, torch -------------------------------------------------------------------
    heading "1. GPU, driver, CUDA, torch"
    if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
        echo "no CUDA check possible: $PY cannot import torch"
        return 2
    fi
    if [ "$SMOKE" = 0 ] && ! timeout 60 "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() and torch.cuda.device_count() > 0 else 1)' >/dev/null 2>&1; then
        echo "no CUDA device: torch $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null) sees no GPU (torch.cuda.is_available() is False; CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}); run with --cpu-smoke to check the script without one"
        return 2
    fi
    if command -v nvidia-smi >/dev/null 2>&1; then
        echo "nvidia-smi: $(timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv,noheader 2>&1 | head -n 1)"
        echo
    else
        echo "nvidia-smi: not on PATH"
        echo
    fi
    write_py info <<'EOF'
import importlib.util
import os
import platform

import torch

def version(module):
    if importlib.util.find_spec(module) is None:
        return "missing"
    try:
        return getattr(__import__(module), "__version__", "present")
    except Exception as e:  # noqa: BLE001
        return f"broken ({type(e).__name__}: {e})"

print(f"- python {platform.python_version()}, torch {torch.__version__}, CUDA (torch build) {torch.version.cuda}, "
      f"cuDNN {torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else 'none'}")
print(f"- triton {version('triton')}, torchvision {version('torchvision')}, "
      f"opencv {version('cv2')}, decord {version('decord')}")
if torch.cuda.is_available():
    try:
        driver = torch._C._cuda_getDriverVersion()  # CUDA driver API version, e.g. 12040
        driver = f"{driver // 1000}.{driver % 1000 // 10}"
    except Exception:  # noqa: BLE001
        driver = "unknown"
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        print(f"- cuda:{i}: {torch.cuda.get_device_name(i)}, compute capability {p.major}.{p.minor}, "
              f"{p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs")
    print(f"- CUDA driver API {driver}; bf16 supported: {torch.cuda.is_bf16_supported()}; "
          f"TF32 matmul {torch.backends.cuda.matmul.allow_tf32}, cuDNN TF32 {torch.backends.cudnn.allow_tf32}")
    x = torch.randn(1024, 1024, device="cuda")
    torch.cuda.synchronize()
    print(f"- a CUDA matmul ran (checksum {float((x @ x).abs().mean()):.3f})")
else:
    print(f"- no CUDA device visible (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})")
print(f"- torch CPU threads {torch.get_num_threads()}")
EOF
    DEVICE="$DEVICE" run_part "1. GPU, driver, CUDA, torch" "$T_INFO" "$PY" "$PYDIR/info.py"
    local info_rc=$?
    if [ "$SMOKE" = 0 ] && [ "$info_rc" != 0 ]; then
        echo "the CUDA device does not work (see above): the other parts are not run"
        return 2
    fi

    local has_cv2=1
    "$PY" -c 'import cv2' >/dev/null 2>&1 || has_cv2=0

    # ---- 2. TV-L1 in PyTorch ---------------------------------------------------------------------------
    heading "2. TV-L1 in PyTorch (pipeline.steps.tvl1.pytorch), pairs/s"
    local tvl1_size tvl1_batches tvl1_compile
    if [ "$SMOKE" = 1 ]; then
        tvl1_size=64x48 tvl1_batches=1,2 tvl1_compile=0
    else
        tvl1_size=340x256 tvl1_batches=1,2,4,8,16,32,64 tvl1_compile=auto
    fi
    write_py tvl1 <<'EOF'
"""Pairs/s of the torch TV-L1 (OpenCV's default parameters) on synthetic textured pairs with a known smooth
flow, each batch over the same pairs; the EPE against the known flow checks the result."""
import importlib.util
import os
import time

import torch
import torch.nn.functional as F

from pipeline.steps.tvl1.pytorch import tvl1_flow

device = torch.device(os.environ["DEVICE"])
width, height = (int(v) for v in os.environ["SIZE"].split("x"))
batches = [int(b) for b in os.environ["BATCHES"].split(",")]
budget = float(os.environ["BUDGET"])
compile_ = os.environ["COMPILE"]
if compile_ == "auto":
    compile_ = device.type == "cuda" and importlib.util.find_spec("triton") is not None
else:
    compile_ = compile_ == "1"
start_all = time.perf_counter()
n = max(batches)  # every batch size computes the same n pairs


def synthetic_pairs(count, h, w, gen):
    """Grey frames 0..255 with texture at several scales; frame 2 = frame 1 moved by a smooth flow (px)."""
    img = torch.zeros(count, 1, h, w)
    for cells, weight in ((4, 1.0), (16, 0.6), (64, 0.3)):
        noise = torch.rand(count, 1, max(2, h * cells // w), cells, generator=gen)
        img += weight * F.interpolate(noise, size=(h, w), mode="bicubic", align_corners=False)
    img = (img - img.amin(dim=(2, 3), keepdim=True)) / (img.amax(dim=(2, 3), keepdim=True) - img.amin(dim=(2, 3), keepdim=True))
    coarse = (torch.rand(count, 2, 3, 4, generator=gen) * 2 - 1) * 4.0  # up to 4 px
    flow = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)  # (N, 2, H, W)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    # frame 2 at x holds frame 1 at x - flow, so frame2(x + flow) ~ frame1(x): TV-L1's flow is `flow`
    gx, gy = xs - flow[:, 0], ys - flow[:, 1]
    grid = torch.stack([(2 * gx + 1) / w - 1, (2 * gy + 1) / h - 1], dim=-1)
    img2 = F.grid_sample(img, grid, mode="bicubic", padding_mode="border", align_corners=False)
    noise = torch.randn(img.shape, generator=gen) * 0.004
    to_grey = lambda t: (t.clamp(0, 1) * 255).round()  # noqa: E731
    return to_grey(img), to_grey(img2 + noise), flow


gen = torch.Generator().manual_seed(0)
first, second, truth = synthetic_pairs(n, height, width, gen)
first, second = first.to(device), second.to(device)
sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def run(lo, hi):
    with torch.no_grad():
        out = tvl1_flow(first[lo:hi], second[lo:hi], compile=compile_)
    sync()
    return out


print(f"{n} synthetic {width}x{height} pairs (smooth flow up to ~4 px), device {device}, "
      f"torch.compile {'on' if compile_ else 'off'}, OpenCV's default TV-L1 parameters; "
      f"budget {budget:.0f} s (batches that do not fit are cut short or left out)")
print()
print("| batch | pairs timed | pairs/s | warm-up s | EPE vs known flow (px) |")
print("|---:|---:|---:|---:|---:|")
rows = []
for i, batch in enumerate(batches):
    left = budget - (time.perf_counter() - start_all)
    if left < 2 or (rows and 2 * batch / rows[-1][1] > left):  # a warm-up and one timed call would not fit
        print(f"| {batch} | - | not timed: over the budget | - | - |")
        continue
    t0 = time.perf_counter()
    try:  # torch.compile's builds (batch 1 and batch > 1 are separate graphs), CUDA start-up
        run(0, batch)
    except Exception as e:  # noqa: BLE001
        if not compile_:
            raise
        print(f"| {batch} | - | torch.compile failed ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
              "going on without it | - | - |")
        compile_ = False
        t0 = time.perf_counter()
        run(0, batch)
    warm = time.perf_counter() - t0
    allowance = (budget - (time.perf_counter() - start_all)) / (len(batches) - i)  # this batch's share
    done, flows = 0, []
    t1 = time.perf_counter()
    while done < n:  # at least one call
        hi = min(n, done + batch)
        flows.append(run(done, hi))
        done = hi
        if time.perf_counter() - t1 > allowance:
            break
    seconds = time.perf_counter() - t1
    flow = torch.cat(flows).float().cpu()
    epe = (flow - truth[:done]).norm(dim=1)[:, 8:-8, 8:-8].mean().item()  # borders: frame 2 has no data there
    rows.append((batch, done / seconds))
    print(f"| {batch} | {done} | {done / seconds:.2f} | {warm:.1f} | {epe:.3f} |")
print()
if rows:
    best = max(rows, key=lambda r: r[1])
    one = dict(rows).get(1)
    first_row = f"batch 1 {one:.2f} pairs/s; " if one else ""
    vs = f" ({best[1] / one:.2f}x batch 1)" if one else ""
    print(f"TV-L1 torch on {device} at {width}x{height}, torch.compile {'on' if compile_ else 'off'}: {first_row}"
          f"best batch {best[0]}: {best[1]:.2f} pairs/s{vs}")
else:
    raise SystemExit("no batch was timed")
EOF
    DEVICE="$DEVICE" SIZE="$tvl1_size" BATCHES="$tvl1_batches" COMPILE="$tvl1_compile" BUDGET=$((T_TVL1 > 30 ? T_TVL1 - 15 : T_TVL1 / 2)) \
        run_part "2. TV-L1 torch" "$T_TVL1" "$PY" "$PYDIR/tvl1.py"

    # ---- 3. perf train --------------------------------------------------------------------------------
    heading "3. ufsn-bench perf train (UCF-101 config, random inputs, AMP on CUDA)"
    echo "Every training step of the UCF-101 config (K segments, 224 crops, config batches; stage 1 at the"
    echo "flow config's crop) on random inputs, after one warm-up step. No data is needed (--no-loader: the"
    echo "loader column stays empty; the estimate is for UCF-101's split 1)."
    echo
    if [ "$SMOKE" = 1 ]; then
        run_part "3. perf train" "$T_PERF" "$BIN/ufsn-bench" perf train --root "$ROOT" --dataset ucf101 \
            --device cpu --batch 1 --steps 1 --no-loader --no-progress
    else
        run_part "3. perf train" "$T_PERF" "$BIN/ufsn-bench" perf train --root "$ROOT" --dataset ucf101 \
            --device cuda --steps 3 --no-loader --no-progress
    fi

    # ---- 4. stage-1 step: AMP vs float32 ---------------------------------------------------------------
    heading "4. Stage-1 training step (flow_ucf101.toml): AMP vs float32"
    local s1_env=()
    if [ "$SMOKE" = 1 ]; then
        s1_env=(CROP=64x80 BATCH=1 STEPS=1 WARMUP=1)
    else
        s1_env=(STEPS=10 WARMUP=3)
    fi
    write_py stage1 <<'EOF'
"""forward + compute_loss + backward + clip + Adam step of the stage-1 estimator, as ufsn.flow.train.train_flow
does it, under autocast float16 with a GradScaler against float32, from the same weights on the same pairs."""
import dataclasses
import math
import os
import time

import torch

from bench.stage1 import load_flow_config
from ufsn.flow.net import FlowNet, count_parameters
from ufsn.flow.train import compute_loss

device = torch.device(os.environ["DEVICE"])
steps, warmup = int(os.environ["STEPS"]), int(os.environ["WARMUP"])
budget = float(os.environ["BUDGET"])
cfg = load_flow_config("flow_ucf101")
if "CROP" in os.environ:
    w, h = (int(v) for v in os.environ["CROP"].split("x"))
    cfg = dataclasses.replace(cfg, crop=(h, w))
if "BATCH" in os.environ:
    cfg = dataclasses.replace(cfg, batch_size=int(os.environ["BATCH"]))
h, w = cfg.crop
b = cfg.batch_size
# float16 on CUDA (what train_flow's autocast picks); the CPU smoke run can only try bfloat16
amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
torch.manual_seed(cfg.seed)
init = FlowNet(cfg.resolved_net()).state_dict()
gen = torch.Generator().manual_seed(0)
img1 = torch.rand(b, 3, h, w, generator=gen).to(device)  # (B, 3, H, W) in [0, 1]
img2 = img1.roll(3, dims=-1)  # a 3 px shift
sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
print(f"flow_ucf101.toml, variant {cfg.variant}, batch {b} pairs (x2: bidirectional {cfg.bidirectional}), "
      f"crop {h}x{w}, {warmup} warm-up + {steps} timed steps, device {device}, AMP dtype {str(amp_dtype)[6:]}")
start_all = time.perf_counter()


def measure(amp: bool):
    net = FlowNet(cfg.resolved_net())
    net.load_state_dict(init)
    net = net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step(i):
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
            loss, _ = compute_loss(net, cfg, i, img1, img2, None, None)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        scaler.step(opt)
        scaler.update()
        return loss.detach().float().item()

    first = step(0)
    for i in range(1, warmup):
        step(i)
    sync()
    t0, done = time.perf_counter(), 0
    for i in range(steps):
        step(warmup + i)
        done += 1
        if time.perf_counter() - start_all > budget * (0.5 if not amp else 1.0):
            break
    sync()
    ms = (time.perf_counter() - t0) / done * 1000
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return ms, first, done, peak, count_parameters(net)


ms32, loss32, n32, mem32, params = measure(False)
msamp, lossamp, namp, memamp, _ = measure(True)
print(f"estimator parameters: {params:,}")
print()
print("| mode | ms/step | pairs/s | timed steps | peak GPU memory GiB | loss at step 0 |")
print("|---|---:|---:|---:|---:|---:|")
print(f"| float32 | {ms32:.1f} | {1000 * b / ms32:.1f} | {n32} | {mem32:.2f} | {loss32:.6f} |")
print(f"| AMP {str(amp_dtype)[6:]} + GradScaler | {msamp:.1f} | {1000 * b / msamp:.1f} | {namp} | {memamp:.2f} | {lossamp:.6f} |")
print()
rel = abs(lossamp - loss32) / max(abs(loss32), 1e-12)
print(f"AMP speed-up (float32 ms / AMP ms): {ms32 / msamp:.2f}x; relative difference of the step-0 loss: {rel:.2e}")
if not (math.isfinite(loss32) and math.isfinite(lossamp)):
    raise SystemExit("non-finite step-0 loss")
EOF
    run_part "4. stage-1 AMP vs float32" "$T_STAGE1" env DEVICE="$DEVICE" BUDGET=$((T_STAGE1 - 10)) "${s1_env[@]}" \
        "$PY" "$PYDIR/stage1.py"

    # ---- 5. tiny synthetic data + one end-to-end ufsn run ----------------------------------------------
    heading "5. Tiny synthetic dataset and one end-to-end ufsn run"
    if [ "$has_cv2" = 0 ]; then
        echo "OpenCV is missing (\`import cv2\` fails in $PY): ufsn-data synth / all and the training run need it."
        echo
        skip_part "5a. synthetic data" "no OpenCV (import cv2 fails)"
        skip_part "5b. ufsn run (tiny)" "no OpenCV (import cv2 fails)"
    else
        echo "\`ufsn-data synth --preset tiny\` and \`ufsn-data all --dataset synthetic\` in a temporary root, then"
        echo "\`ufsn-bench train --config tiny --method ufsn --device $DEVICE\` (it trains the runs ufsn needs first)."
        echo
        write_py records <<'EOF'
"""The run records under <root>/synthetic/runs: top-1 and training seconds; fails without ufsn-split1's."""
import json
import sys
from pathlib import Path

runs = Path(sys.argv[1])
record = runs / "ufsn-split1" / "record.json"
print("| run | method | device | top-1 | training s |")
print("|---|---|---|---:|---:|")
for path in sorted(runs.glob("*/record.json")):
    r = json.loads(path.read_text())
    top1 = (r.get("metrics") or {}).get("top1")
    print(f"| {r.get('name')} | {r.get('method')} | {r.get('device')} | "
          f"{'-' if top1 is None else f'{top1:.3f}'} | {r.get('seconds')} |")
print()
if not record.is_file():
    raise SystemExit(f"no {record}")
r = json.loads(record.read_text())
top1 = (r.get("metrics") or {}).get("top1")
print(f"ufsn-split1: top-1 {'-' if top1 is None else f'{top1:.3f}'}, training {r.get('seconds')} s on "
      f"{r.get('device')} (tiny preset: a check that every stage runs, not an accuracy)")
EOF
        cat >"$PYDIR/data.sh" <<'EOF'
set -e -o pipefail
bin=$1 root=$2 workers=$3
"$bin/ufsn-data" synth --root "$root" --preset tiny --workers "$workers" >/dev/null
"$bin/ufsn-data" all --root "$root" --dataset synthetic --workers "$workers" | tail -n 8
echo "data: $(du -sh "$root/synthetic" | cut -f 1) in $root/synthetic"
EOF
        cat >"$PYDIR/train.sh" <<'EOF'
set -e -o pipefail
bin=$1 root=$2 device=$3 py=$4 pydir=$5
"$bin/ufsn-bench" train --root "$root" --dataset synthetic --config tiny --method ufsn --device "$device" \
    --no-progress | tail -n 15
echo
"$py" "$pydir/records.py" "$root/synthetic/runs"
EOF
        if run_part "5a. synthetic data (synth --preset tiny, all)" "$T_DATA" \
            bash "$PYDIR/data.sh" "$BIN" "$ROOT" "$WORKERS"; then
            run_part "5b. ufsn run (tiny)" "$T_TRAIN" bash "$PYDIR/train.sh" "$BIN" "$ROOT" "$DEVICE" "$PY" "$PYDIR"
        else
            skip_part "5b. ufsn run (tiny)" "no data (5a did not finish)"
        fi
    fi

    # ---- summary ----------------------------------------------------------------------------------------
    heading "Summary"
    echo "| part | status | wall s |"
    echo "|---|---|---:|"
    printf '%s\n' "${SUMMARY[@]}"
    echo
    echo "total wall time: $(($(date +%s) - script_start)) s"
    return "$FAILED"
}

main 2>&1 | tee -i "$REPORT"
rc=${PIPESTATUS[0]}
echo "report: $REPORT (exit $rc)"
exit "$rc"
