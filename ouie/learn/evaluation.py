"""Detection quality: per-class precision/recall/F1 with counts, confusion, false alarms.

A clip's prediction is the class of its best-scoring event (or `none`), as the pipeline would
report it. Scored classes are those of shared/audio's baseline: gunshot, glass_break, siren,
explosion, scream (macro F1 over them). A false alarm is a non-alerting clip (everyday sounds,
speech, sirens) predicted as an alerting class.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ouie.core.classes import ALERTING_CLASSES
from ouie.learn.dataset import NONE_LABEL, TRAINED_CLASSES

SCORED_CLASSES = TRAINED_CLASSES
BANG_FOLDERS = ("doorslam", "knock", "keysDrop", "drawer")
"""Everyday impulsive sounds most easily taken for gunshots."""
ALERTING = frozenset(c.value for c in ALERTING_CLASSES)


@dataclass
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int
    true_positives: int


@dataclass
class EvalResult:
    """Figures over a set of clips."""

    per_class: dict[str, ClassScores]
    macro_f1: float
    confusion: dict[str, dict[str, int]]
    false_alarms: int
    non_alerting: int
    bangs: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.non_alerting if self.non_alerting else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "macro_f1": round(self.macro_f1, 4),
            "per_class": {c: vars(f) for c, f in self.per_class.items()},
            "false_alarms": self.false_alarms,
            "non_alerting_clips": self.non_alerting,
            "false_alarm_rate": round(self.false_alarm_rate, 4),
            "confusion": self.confusion,
            "bangs": self.bangs,
        }


def scored_label(predicted: str) -> str:
    """Predictions outside the scored classes (alarm, fireworks) count as `none`."""
    return predicted if predicted in SCORED_CLASSES else NONE_LABEL


def evaluate(truth: list[str], predicted: list[str], folders: list[str]) -> EvalResult:
    """P = TP / predicted, R = TP / support, F1 = 2PR / (P + R), per scored class."""
    predicted = [scored_label(p) for p in predicted]
    per_class = {}
    for c in SCORED_CLASSES:
        tp = sum(t == c and p == c for t, p in zip(truth, predicted, strict=True))
        n_pred = sum(p == c for p in predicted)
        support = sum(t == c for t in truth)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = ClassScores(precision, recall, f1, support, n_pred, tp)
    present = [f.f1 for f in per_class.values() if f.support]
    labels = (*SCORED_CLASSES, NONE_LABEL)
    pairs = Counter(zip(truth, predicted, strict=True))
    confusion = {t: {p: pairs[(t, p)] for p in labels} for t in labels}
    non_alerting = [p for t, p in zip(truth, predicted, strict=True) if t not in ALERTING]
    bangs = {
        folder: dict(Counter(p for f, p in zip(folders, predicted, strict=True) if f == folder))
        for folder in BANG_FOLDERS
        if folder in folders
    }
    return EvalResult(
        per_class=per_class,
        macro_f1=sum(present) / len(present) if present else 0.0,
        confusion=confusion,
        false_alarms=sum(p in ALERTING for p in non_alerting),
        non_alerting=len(non_alerting),
        bangs=bangs,
    )


def render(result: EvalResult, title: str) -> None:
    """Print the per-class table, the confusion table and the false alarms (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table("class", "precision", "recall", "F1", "clips", "predicted", title=title)
    for c, f in result.per_class.items():
        table.add_row(
            c,
            f"{f.precision:.3f}",
            f"{f.recall:.3f}",
            f"{f.f1:.3f}",
            str(f.support),
            str(f.predicted),
        )
    table.add_row("macro", "", "", f"{result.macro_f1:.3f}", "", "", style="bold")
    console.print(table)
    labels = list(result.confusion)
    confusion = Table("truth \\ predicted", *labels, title="confusion (clips)")
    for t in labels:
        confusion.add_row(t, *(str(result.confusion[t][p]) for p in labels))
    console.print(confusion)
    console.print(
        f"false alarms: {result.false_alarms} of {result.non_alerting} non-alerting clips "
        f"({100 * result.false_alarm_rate:.2f} %)"
    )
    for folder, outcome in result.bangs.items():
        console.print(f"  {folder}: {outcome}")
