"""Planted judges: any judge with its attention changed in a known way, to check that the metrics see it.

``planted(judge, variant)`` returns a new :class:`~judgescope.judges.Judge` that shares the model and processor
(no weights copied) and carries an attention edit applied inside every forward pass (generation, value head,
diagnosis) through the same wrapped attention function that captures attention. Variants (``VARIANTS``):
``source_blind`` / ``edited_blind`` (-inf on an image's tokens), ``uniform`` (logit scale tempered to 0),
``sink`` (+strength logits on chosen keys) and ``spotlight`` (+strength x edit-region coverage). Design and
expected answers: ``docs/planted.md``; :func:`expectations` / :func:`check_planted` check a trace's diagnosis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch

from ..errors import JudgescopeError
from .judge import Judge, Prepared

VARIANTS = ("source_blind", "edited_blind", "uniform", "sink", "spotlight")
DEFAULT_STRENGTH = {"source_blind": math.inf, "edited_blind": math.inf, "uniform": 1.0, "sink": 8.0,
                    "spotlight": 8.0}  # fmt: skip


@dataclass
class PlantedPrepared(Prepared):
    """A :class:`Prepared` that also carries the sample and its loaded images (``{"source": PIL, ...}``)."""

    sample: Any = None
    pixels: dict = field(default_factory=dict)


def _key_bias(positions: Sequence[int], values: Sequence[float], guard: bool = False):
    """A BiasFn adding ``values`` on key ``positions`` for every query row (shape ``[1, 1, 1, keys]``).

    With ``guard`` (-inf values), a row that would see no key at all (every earlier key blocked) keeps its own
    diagonal, so softmax stays defined; such a row can still not pass the blocked tokens on, since no row reads
    them.
    """
    pos = torch.as_tensor(list(positions), dtype=torch.long)
    val = torch.as_tensor(list(values), dtype=torch.float32)
    blocked = set(pos.tolist())
    first_free = next(i for i in range(len(blocked) + 1) if i not in blocked)

    def bias(layer, module, query_positions, key_len, device):
        keep = pos < key_len
        b = torch.zeros(1, 1, 1, key_len, device=device)
        b[..., pos[keep].to(device)] = val[keep].to(device)
        lonely = query_positions < first_free
        if guard and bool(lonely.any()):
            b = b.expand(1, 1, query_positions.numel(), key_len).clone()
            rows = torch.nonzero(lonely).flatten()
            b[0, 0, rows, query_positions[rows]] = 0.0
        return b

    return bias


class PlantedEdit:
    """Base of the attention edits: ``bias_for(prepared) -> BiasFn | None``."""

    variant = ""

    def __init__(self, strength: float):
        self.strength = float(strength)

    @property
    def label(self) -> str:
        """Suffix of the planted judge's name."""
        return self.variant

    def meta(self) -> dict:
        """JSON-serialisable description, stored as ``judge.meta["planted"]`` (and so in every trace)."""
        return {"variant": self.variant, "strength": self.strength if math.isfinite(self.strength) else "inf"}

    def bias_for(self, prepared: Prepared):
        raise NotImplementedError

    def keys_for(self, prepared: Prepared) -> tuple[int, ...]:
        """Absolute key positions the edit targets in this input (empty for ``uniform``)."""
        return ()


class BlindEdit(PlantedEdit):
    """No query row may attend to the named image's grid tokens or its wrapper tokens (``extra_positions``)."""

    def __init__(self, image: str):
        super().__init__(math.inf)
        self.image = image
        self.variant = f"{image}_blind"

    def keys_for(self, prepared: Prepared) -> tuple[int, ...]:
        spans = [s for s in prepared.images if s.name == self.image]
        return tuple(sorted({p for s in spans for p in (*s.positions, *s.extra_positions)}))

    def bias_for(self, prepared: Prepared):
        keys = self.keys_for(prepared)
        if not keys:  # the call does not show this image: nothing to hide
            return None
        return _key_bias(keys, [-math.inf] * len(keys), guard=True)


class SinkEdit(PlantedEdit):
    """``+strength`` logits on chosen keys, for every query row in every layer.

    Args:
        positions: ``"first"`` (key 0), ``"border"`` (top-left, top-right and bottom-left tokens of ``image``'s
            grid; fewer when the grid has one row or column) or a sequence of absolute positions.
        image: the image whose border is used (default ``"edited"``).
    """

    variant = "sink"

    def __init__(self, strength: float, positions: str | Sequence[int] = "first", image: str = "edited"):
        super().__init__(strength)
        if isinstance(positions, str) and positions not in ("first", "border"):
            raise JudgescopeError(f"sink positions must be 'first', 'border' or positions, got {positions!r}")
        self.positions = positions if isinstance(positions, str) else tuple(int(p) for p in positions)
        self.image = image

    @property
    def label(self) -> str:
        named = isinstance(self.positions, str)
        return "sink" if self.positions == "first" else f"sink_{self.positions if named else 'custom'}"

    def meta(self) -> dict:
        m = super().meta()
        m["positions"] = self.positions if isinstance(self.positions, str) else list(self.positions)
        if self.positions == "border":
            m["image"] = self.image
        return m

    def keys_for(self, prepared: Prepared) -> tuple[int, ...]:
        if self.positions == "first":
            return (0,)
        if self.positions == "border":
            span = next((s for s in prepared.images if s.name == self.image), None)
            if span is None:
                return ()
            return tuple(sorted(border_positions(span)))
        bad = [p for p in self.positions if not 0 <= p < prepared.prompt_len]
        if bad:
            raise JudgescopeError(
                f"sink positions {bad} are outside the prompt (0..{prepared.prompt_len - 1})"
            )
        return self.positions

    def bias_for(self, prepared: Prepared):
        keys = self.keys_for(prepared)
        return _key_bias(keys, [self.strength] * len(keys)) if keys else None


def border_positions(span) -> set[int]:
    """Absolute positions of the top-left, top-right and bottom-left tokens of an image grid."""
    rows, cols = span.grid
    return {span.positions[0], span.positions[cols - 1], span.positions[(rows - 1) * cols]}


RegionFn = Callable[[Prepared], dict]


def diff_coverage(prepared: Prepared) -> dict[str, np.ndarray]:
    """Coverage ``[rows, cols]`` of the pixel-difference edit mask on each image's token grid of ``prepared``.

    The mask comes from :func:`judgescope.regions.diff_mask` on the sample's source and edited images (at the
    source size; moved onto an edited image of another size by area resampling). Cells outside the frame
    count as 0.
    """
    from ..regions import Region, diff_mask

    pixels = getattr(prepared, "pixels", None) or {}
    if "source" not in pixels or "edited" not in pixels:
        raise JudgescopeError(
            "spotlight needs the sample's source and edited images: prepare the input with the planted judge "
            "(its prepare() keeps them) or pass region_fn"
        )
    region = Region.from_diff(diff_mask(pixels["source"], pixels["edited"]))
    return {
        s.name: np.nan_to_num(region.on_grid(s.geometry, resize=True), nan=0.0)
        for s in prepared.images
        if s.name in ("source", "edited")
    }


class SpotlightEdit(PlantedEdit):
    """``strength * coverage`` logits on each image's grid tokens: attention is pulled into the edit region.

    Args:
        region_fn: ``region_fn(prepared) -> {image_name: coverage [rows, cols] in [0, 1]}``; default
            :func:`diff_coverage`. ``prepared`` is a :class:`PlantedPrepared` (``.sample``, ``.pixels``), so a
            region may also come from ``prepared.sample.mask`` or boxes. Images missing from the dict get no bias.
    """

    variant = "spotlight"

    def __init__(self, strength: float, region_fn: RegionFn | None = None):
        super().__init__(strength)
        self.region_fn = region_fn or diff_coverage

    def meta(self) -> dict:
        m = super().meta()
        m["region"] = getattr(self.region_fn, "__name__", type(self.region_fn).__name__)
        return m

    def _values(self, prepared: Prepared) -> dict[int, float]:
        cov = self.region_fn(prepared)
        out: dict[int, float] = {}
        for span in prepared.images:
            if span.name not in cov:
                continue
            c = np.nan_to_num(np.asarray(cov[span.name], dtype=np.float64), nan=0.0).reshape(-1)
            if c.size != len(span.positions):
                raise JudgescopeError(
                    f"spotlight region for {span.name!r} has {c.size} cells; its grid is {span.grid}"
                )
            out.update({p: float(v) for p, v in zip(span.positions, c) if v > 0})
        return out

    def keys_for(self, prepared: Prepared) -> tuple[int, ...]:
        return tuple(sorted(self._values(prepared)))

    def bias_for(self, prepared: Prepared):
        values = self._values(prepared)
        if not values:  # empty region: nothing to spotlight (metrics report the empty region as NaN)
            return None
        return _key_bias(list(values), [self.strength * v for v in values.values()])


class UniformEdit(PlantedEdit):
    """Every decoder attention's logit scale times ``1 - strength``: strength 1 gives uniform rows.

    ``softmax(scale * q.k + mask)`` with scale 0 is uniform over the keys the mask allows, exactly. The bias
    function carries ``logit_scale``, which the capture wrapper applies to the ``scaling`` the module passes,
    and the captured rows are computed with the same scaling, so they are the rows the model used. The bias
    itself is zeros: it makes the wrapper pass a dense mask (sdpa's ``is_causal`` path returns NaN at scale 0
    on CPU).
    """

    variant = "uniform"

    def __init__(self, strength: float):
        if not 0.0 <= strength <= 1.0:
            raise JudgescopeError(f"uniform strength must be in [0, 1] (1 = fully uniform), got {strength}")
        super().__init__(strength)

    @property
    def factor(self) -> float:
        return 1.0 - self.strength

    def bias_for(self, prepared: Prepared):
        def bias(layer, module, query_positions, key_len, device):
            return torch.zeros(1, 1, 1, key_len, device=device)

        bias.logit_scale = lambda layer, module: self.factor
        return bias


class PlantedJudge(Judge):
    """A :class:`Judge` sharing another judge's model and processor, with a planted attention edit.

    Build it with :func:`planted`. ``prepare`` keeps the sample's images (for region-based edits); the
    Judge applies ``attention_edit`` to every forward pass (generation, value head, diagnosis).
    """

    attention_edit: PlantedEdit

    def prepare(self, sample, call, images: dict | None = None) -> PlantedPrepared:
        images = images if images is not None else sample.images(self.min_image_side)
        p = super().prepare(sample, call, images)
        base = {f.name: getattr(p, f.name) for f in fields(Prepared)}
        return PlantedPrepared(**base, sample=sample, pixels=dict(images))


def planted(judge: Judge, variant: str, strength: float | None = None, **kw) -> PlantedJudge:
    """A new judge: ``judge`` with a known attention edit (see the module docstring).

    Args:
        judge: any judge; it is left unchanged (model and processor are shared, not copied).
        variant: one of :data:`VARIANTS`.
        strength: logits for ``sink`` / ``spotlight`` (default 8); 0..1 for ``uniform`` (default 1 = uniform);
            the blind variants take none (always -inf).
        kw: ``sink``: ``positions`` ("first" | "border" | [int]), ``image``; ``spotlight``: ``region_fn``.

    Returns:
        a :class:`PlantedJudge` named ``"<name>+<variant>"`` with ``meta["planted"]`` describing the edit.
    """
    if variant not in VARIANTS:
        raise JudgescopeError(f"unknown planted variant {variant!r}; variants: {', '.join(VARIANTS)}")
    if judge.attention_edit is not None:
        raise JudgescopeError(f"{judge.name}: already has an attention edit; plant on the original judge")
    unknown = sorted(set(kw) - set(_OPTIONS[variant]))
    if unknown:
        raise JudgescopeError(f"{variant}: unknown options {unknown}; allowed: {list(_OPTIONS[variant])}")
    s = DEFAULT_STRENGTH[variant] if strength is None else float(strength)
    if variant.endswith("_blind"):
        if strength is not None:
            raise JudgescopeError(f"{variant} takes no strength (it always removes the image)")
        edit: PlantedEdit = BlindEdit(variant.removesuffix("_blind"))
    elif variant == "uniform":
        edit = UniformEdit(s)
    else:
        if not math.isfinite(s):
            raise JudgescopeError(f"{variant} strength must be a finite number of logits, got {s}")
        edit = SinkEdit(s, **kw) if variant == "sink" else SpotlightEdit(s, **kw)
    new = PlantedJudge.__new__(PlantedJudge)
    new.__dict__.update(judge.__dict__)  # shares model, processor, protocol, value head
    new.meta = {**judge.meta, "planted": edit.meta()}
    new.name = f"{judge.name}+{edit.label}"
    new.attention_edit = edit
    return new


_OPTIONS = {"sink": ("positions", "image"), "spotlight": ("region_fn",)}
_OPTIONS.update({v: () for v in VARIANTS if v not in _OPTIONS})


def planted_variants(judge: Judge, **strengths) -> dict[str, PlantedJudge]:
    """Every planted variant of ``judge``, for calibration: ``{"source_blind": ..., "sink_border": ...}``.

    Args:
        strengths: optional strength per variant (``uniform``, ``sink``, ``spotlight``); ``sink`` applies to
            both sink variants.
    """
    unknown = sorted(set(strengths) - {"uniform", "sink", "spotlight"})
    if unknown:
        raise JudgescopeError(f"planted_variants: no strength for {unknown}; only uniform, sink, spotlight")
    out = {
        "source_blind": planted(judge, "source_blind"),
        "edited_blind": planted(judge, "edited_blind"),
        "uniform": planted(judge, "uniform", strengths.get("uniform")),
        "sink_first": planted(judge, "sink", strengths.get("sink"), positions="first"),
        "sink_border": planted(judge, "sink", strengths.get("sink"), positions="border"),
        "spotlight": planted(judge, "spotlight", strengths.get("spotlight")),
    }
    return out


@dataclass(frozen=True)
class Expectation:
    """What the metrics must find for a planted judge.

    Attributes:
        metric: a key of ``Diagnosis.summary`` (:func:`judgescope.metrics.diagnose`), or ``"sinks"``.
        op: ``"=="`` (within ``tol``), ``">"``, or ``"contains"`` (the sinks found include ``value``).
        value: a number, or key positions for ``"contains"``.
    """

    metric: str
    op: str
    value: float | tuple[int, ...]
    tol: float = 0.0

    def observe(self, diagnosis) -> tuple[bool, Any]:
        """``(holds, observed value)`` on a ``Diagnosis`` (NaN never holds)."""
        if self.metric == "sinks":
            found = tuple(diagnosis.sinks.positions)
            return set(self.value) <= set(found), found
        x = float(diagnosis.summary.get(self.metric, math.nan))
        ok = abs(x - self.value) <= self.tol if self.op == "==" else x > self.value
        return bool(ok), x


def expectations(trace) -> list[Expectation]:
    """The known answers for a trace of a planted judge (``trace.meta["planted"]``), see docs/planted.md.

    ``uniform`` answers assume query rows after both images (score tokens, last prompt token) and strength 1;
    ``spotlight`` thresholds assume an edit covering under a quarter of the image (lift is at most 1 / area).
    Traces of unplanted judges, and ``uniform`` below strength 1, have none.
    """
    plant = trace.meta.get("planted")
    if not plant:
        return []
    variant, spans = plant["variant"], {s.name: s for s in trace.images}
    if variant in ("source_blind", "edited_blind"):
        return [Expectation("source_share", "==", 0.0 if variant == "source_blind" else 1.0, 1e-6)]
    if variant == "uniform":
        if plant["strength"] != 1.0 or not {"source", "edited"} <= set(spans):
            return []
        n_s, n_e = len(spans["source"].positions), len(spans["edited"].positions)
        return [Expectation("source_share", "==", n_s / (n_s + n_e), 1e-5),
                Expectation("entropy_norm_src", "==", 1.0, 1e-5),
                Expectation("entropy_norm_edit", "==", 1.0, 1e-5)]  # fmt: skip
    if variant == "sink":
        pos = plant["positions"]
        if pos == "first":
            keys: tuple[int, ...] = (0,)
        elif pos == "border":
            span = spans.get(plant.get("image", "edited"))
            keys = tuple(sorted(border_positions(span))) if span is not None else ()
        else:
            keys = tuple(pos)
        return [Expectation("sinks", "contains", keys)] if keys else []
    return [Expectation("lift_edit", ">", 3.0), Expectation("correspondence", ">", 0.8)]


def check_planted(trace, diagnosis) -> list[dict]:
    """One row per expectation: ``metric, op, expected, observed, ok`` (for a calibration table)."""
    rows = []
    for e in expectations(trace):
        ok, seen = e.observe(diagnosis)
        rows.append({"metric": e.metric, "op": e.op, "expected": e.value, "tol": e.tol, "observed": seen,
                     "ok": ok})  # fmt: skip
    return rows
