"""The Trace: captured attention rows with everything needed to read them.

A Trace is immutable in spirit: selection methods return new Traces. ``attention[l, h, q, k]`` is the
post-softmax weight that query row ``q`` of head ``h`` in layer ``layers[l]`` gives to key position ``k``; each
row sums to 1 over ``k`` (up to float error) for an attention trace. Attribution traces (``kind !=
"attention"``) hold non-negative scores on the same layout and need not sum to 1.

File format (``Trace.save``): one safetensors file. Tensor ``"attention"`` is float32 ``[L, H, Q, K]``. The
header's metadata key ``"judgescope.trace"`` holds a JSON object with every other field (see
``docs/trace-format.md``), so any safetensors reader can open it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ..spans import ImageSpan, positions_to_ranges, ranges_to_positions

FORMAT_VERSION = 1
_META_KEY = "judgescope.trace"


@dataclass(frozen=True)
class Trace:
    """Captured rows of one sample.

    Attributes:
        attention: float32 ``[layers, heads, queries, keys]``.
        layers: decoder layer index of each slice along dim 0.
        queries: sequence position of each query row.
        query_tokens: the token text at each query position.
        images: the image spans, in input order (source first for every built-in protocol).
        tokens: the text of every key token, ``len(tokens) == keys``.
        groups: named non-image token groups (``"prompt"``, ``"generated"``, ``"score"`` ...) as positions.
        judge, protocol, sample_id: provenance.
        kind: ``"attention"`` or the name of an attribution method.
        meta: free JSON-serialisable extras (scores, parse status, planted variant, ...).
    """

    attention: torch.Tensor
    layers: tuple[int, ...]
    queries: tuple[int, ...]
    query_tokens: tuple[str, ...]
    images: tuple[ImageSpan, ...]
    tokens: tuple[str, ...] = ()
    groups: dict[str, tuple[int, ...]] = field(default_factory=dict)
    judge: str = ""
    protocol: str = ""
    sample_id: str = ""
    kind: str = "attention"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        a = self.attention
        if a.ndim != 4:
            raise ValueError(f"attention must be [layers, heads, queries, keys], got shape {tuple(a.shape)}")
        if a.shape[0] != len(self.layers):
            raise ValueError(f"{a.shape[0]} layer slices but {len(self.layers)} layer indices")
        if a.shape[2] != len(self.queries):
            raise ValueError(f"{a.shape[2]} query rows but {len(self.queries)} query positions")
        if self.tokens and len(self.tokens) != a.shape[3]:
            raise ValueError(f"{a.shape[3]} keys but {len(self.tokens)} token strings")
        for span in self.images:
            if span.stop > a.shape[3]:
                raise ValueError(
                    f"image {span.index} reaches position {span.stop - 1} beyond {a.shape[3]} keys"
                )

    # -- shape ---------------------------------------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        return self.attention.shape[0]

    @property
    def num_heads(self) -> int:
        return self.attention.shape[1]

    @property
    def num_queries(self) -> int:
        return self.attention.shape[2]

    @property
    def num_keys(self) -> int:
        return self.attention.shape[3]

    def image(self, which: int | str) -> ImageSpan:
        """The image span by index or by name (``"source"``, ``"edited"``)."""
        if isinstance(which, str):
            for span in self.images:
                if span.name == which:
                    return span
            raise KeyError(f"no image named {which!r}; images: {[s.name for s in self.images]}")
        return self.images[which]

    # -- reading -------------------------------------------------------------------------------------------
    def image_map(self, which: int | str) -> torch.Tensor:
        """Attention over one image's token grid: float32 ``[layers, heads, queries, rows, cols]``.

        Values are the raw row weights (not renormalised inside the image).
        """
        span = self.image(which)
        idx = torch.as_tensor(span.positions, dtype=torch.long)
        rows, cols = span.grid
        return self.attention.index_select(3, idx).reshape(*self.attention.shape[:3], rows, cols)

    def image_mass(self, which: int | str) -> torch.Tensor:
        """Total weight on one image's grid tokens: ``[layers, heads, queries]``."""
        return self.image_map(which).sum(dim=(-2, -1))

    def other_positions(self) -> tuple[int, ...]:
        """Key positions outside every image grid (the group X of the metrics)."""
        taken = {p for span in self.images for p in span.positions}
        return tuple(p for p in range(self.num_keys) if p not in taken)

    # -- selection -----------------------------------------------------------------------------------------
    def select(self, layers=None, heads=None, queries=None) -> Trace:
        """A new Trace restricted to the given layer indices (decoder numbering), heads and query rows (0-based
        indices into ``queries``)."""
        a = self.attention
        new_layers, new_queries, new_qtok = self.layers, self.queries, self.query_tokens
        if layers is not None:
            layers = [layers] if isinstance(layers, int) else list(layers)
            missing = [layer for layer in layers if layer not in self.layers]
            if missing:
                raise KeyError(f"layers {missing} were not captured; captured: {list(self.layers)}")
            li = [self.layers.index(layer) for layer in layers]
            a = a[li]
            new_layers = tuple(layers)
        if heads is not None:
            heads = [heads] if isinstance(heads, int) else list(heads)
            a = a[:, heads]
        if queries is not None:
            queries = [queries] if isinstance(queries, int) else list(queries)
            a = a[:, :, queries]
            new_queries = tuple(self.queries[i] for i in queries)
            new_qtok = tuple(self.query_tokens[i] for i in queries)
        return replace(self, attention=a, layers=new_layers, queries=new_queries, query_tokens=new_qtok)

    # -- persistence ---------------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """Everything but the tensor, as JSON-ready data."""
        return {
            "format_version": FORMAT_VERSION,
            "shape": list(self.attention.shape),
            "layers": list(self.layers),
            "queries": list(self.queries),
            "query_tokens": list(self.query_tokens),
            "images": [s.to_dict() for s in self.images],
            "tokens": list(self.tokens),
            "groups": {k: positions_to_ranges(v) for k, v in self.groups.items()},
            "judge": self.judge,
            "protocol": self.protocol,
            "sample_id": self.sample_id,
            "kind": self.kind,
            "meta": self.meta,
        }

    def save(self, path: str | Path) -> Path:
        """Write the trace to one ``.safetensors`` file (atomically) and return its path."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tensor = self.attention.detach().to(torch.float32).contiguous().cpu()
        save_file({"attention": tensor}, str(tmp), metadata={_META_KEY: json.dumps(self.metadata())})
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """Read a trace written by :meth:`save`."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            if _META_KEY not in header:
                raise ValueError(f"{path}: not a judgescope trace (no {_META_KEY!r} metadata)")
            meta = json.loads(header[_META_KEY])
            attention = f.get_tensor("attention")
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(f"{path}: trace format {meta['format_version']} is newer than this judgescope")
        return cls(
            attention=attention,
            layers=tuple(meta["layers"]),
            queries=tuple(meta["queries"]),
            query_tokens=tuple(meta["query_tokens"]),
            images=tuple(ImageSpan.from_dict(s) for s in meta["images"]),
            tokens=tuple(meta.get("tokens", ())),
            groups={k: ranges_to_positions(v) for k, v in meta.get("groups", {}).items()},
            judge=meta.get("judge", ""),
            protocol=meta.get("protocol", ""),
            sample_id=meta.get("sample_id", ""),
            kind=meta.get("kind", "attention"),
            meta=meta.get("meta", {}),
        )

    def __repr__(self) -> str:
        imgs = ", ".join(f"{s.name}:{s.grid[0]}x{s.grid[1]}" for s in self.images)
        return (
            f"Trace(sample={self.sample_id!r}, judge={self.judge!r}, kind={self.kind}, "
            f"layers={self.num_layers}, heads={self.num_heads}, queries={self.num_queries}, "
            f"keys={self.num_keys}, images=[{imgs}])"
        )
