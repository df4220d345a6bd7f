"""Entity and token calibration of a MultiCoNER model before and after temperature scaling,
measured on dev sentences that neither training nor the temperature saw: the table and the
figure of docs/evaluation.md ("Measured on MultiCoNER").

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.calibration_multiconer MODEL \\
        [--data_dir ../shared/data] [--fit_sents 200] [--held_out_sents 200]
        [--out benchmarks/results/calibration_multiconer_small.json] [--plot FILE.png]

MODEL is the small MultiCoNER run of docs/reproducing.md (multilingual-e5-small, selected on
the first 200 sentences of each of the 11 dev sets). The temperature is fitted on exactly those
sentences (``machamp-lite calibrate``, the same fit that training runs at its end); the held-out
part is the next ``held_out_sents`` sentences of each dev set. The held-out part is predicted
once with the fitted temperature and once without (``--uncalibrated``), each with
``--probabilities``, and scored by ``evaluate --probabilities``. The model folder is copied
first, so MODEL itself is not changed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_train_predict import machine

RESULTS = Path(__file__).resolve().parent / "results"
FOLDERS = {
    "bn": "BN-Bangla", "de": "DE-German", "en": "EN-English", "es": "ES-Spanish",
    "fa": "FA-Farsi", "hi": "HI-Hindi", "ko": "KO-Korean", "nl": "NL-Dutch",
    "ru": "RU-Russian", "tr": "TR-Turkish", "zh": "ZH-Chinese",
}  # fmt: skip


def dev_parts(data_dir: Path, fit: int, held_out: int) -> tuple[str, str]:
    """(first ``fit`` sentences, the ``held_out`` after them) of every dev set, as text."""
    first, rest = [], []
    for language, folder in sorted(FOLDERS.items()):
        text = (data_dir / "multiconer2022" / folder / f"{language}_dev.conll").read_text(
            encoding="utf-8"
        )
        blocks = [block for block in re.split(r"\n\s*\n", text) if block.strip()]
        first += blocks[:fit]
        rest += blocks[fit : fit + held_out]
    return "\n\n".join(first) + "\n\n", "\n\n".join(rest) + "\n\n"


def cli(*arguments: str) -> str:
    """Run a machamp-lite command in this process; its standard output."""
    from machamp_lite.cli import main

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        code = main(list(arguments))
    if code != 0:
        raise SystemExit(f"machamp-lite {' '.join(arguments)} failed with exit code {code}")
    return captured.getvalue()


def summary(report: dict) -> dict:
    section = report["calibration"]
    out = {"span_micro_f1": report["micro"]["f1"], "temperatures": section["temperatures"]}
    for kind in ("tokens", "entities"):
        part = section[kind]
        out[kind] = {k: part[k] for k in ("count", "mean_confidence", "accuracy", "ece", "mce")}
    out["entities"]["targets"] = section["entities"]["targets"]
    out["entities"]["table"] = section["entities"]["table"]
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--data_dir", default="../shared/data")
    parser.add_argument("--fit_sents", type=int, default=200)
    parser.add_argument("--held_out_sents", type=int, default=200)
    parser.add_argument("--out", default=str(RESULTS / "calibration_multiconer_small.json"))
    parser.add_argument("--plot", default=None, help="the calibrated run's figure")
    args = parser.parse_args(argv)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="calibration-multiconer-") as folder:
        work = Path(folder)
        model = work / "model"
        shutil.copytree(args.model, model)
        fit_text, held_text = dev_parts(Path(args.data_dir), args.fit_sents, args.held_out_sents)
        (work / "fit.conll").write_text(fit_text, encoding="utf-8")
        held = work / "held_out.conll"
        held.write_text(held_text, encoding="utf-8")
        cli("calibrate", str(model), "--dev", str(work / "fit.conll"))
        reports = {}
        for name, extra in (("uncalibrated", ["--uncalibrated"]), ("calibrated", [])):
            prediction = work / f"{name}.conll"
            cli("predict", str(model), str(held), str(prediction), "--probabilities", *extra)
            side = f"{prediction}.probabilities.jsonl"
            plot = ["--plot", args.plot] if args.plot and name == "calibrated" else []
            reports[name] = json.loads(
                cli("evaluate", str(held), str(prediction), "--probabilities", side, "--json")
            )
            if plot:
                cli("evaluate", str(held), str(prediction), "--probabilities", side, *plot)
        same = (work / "uncalibrated.conll").read_bytes() == (
            work / "calibrated.conll"
        ).read_bytes()
        calibration = json.loads((model / "calibration.json").read_text(encoding="utf-8"))
    result = {
        "experiment": "calibration_multiconer",
        "command": "python -m benchmarks.calibration_multiconer "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "model": str(args.model),
        "fit_sentences": args.fit_sents * len(FOLDERS),
        "held_out_sentences": args.held_out_sents * len(FOLDERS),
        "fitted": calibration,
        "same_labels_calibrated_and_not": same,
        "uncalibrated": summary(reports["uncalibrated"]),
        "calibrated": summary(reports["calibrated"]),
        "seconds": round(time.time() - started, 1),
        "machine": machine(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("fitted", "same_labels_calibrated_and_not")}))
    for name in ("uncalibrated", "calibrated"):
        part = result[name]
        print(
            f"{name}: entity ECE {part['entities']['ece']:.4f}, token ECE "
            f"{part['tokens']['ece']:.4f}, span micro-F1 {part['span_micro_f1']:.4f}"
        )
    return result


if __name__ == "__main__":
    main()
