"""Edits with known masks on real photographs (scikit-image's sample images), and the degradations a real
editor adds: a resize of a few percent, JPEG re-encoding, a global brightness shift."""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image
from skimage import data


def ellipse_mask(shape: tuple[int, int], center: tuple[int, int], axes: tuple[int, int]) -> np.ndarray:
    """bool [H, W] ellipse; ``center`` and ``axes`` in (x, y) pixels."""
    m = np.zeros(shape, np.uint8)
    cv2.ellipse(m, center, axes, 0, 0, 360, 1, thickness=-1)
    return m.astype(bool)


def polygon_mask(shape: tuple[int, int], points: list[tuple[int, int]]) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.array(points, np.int32)], 1)
    return m.astype(bool)


def recolour(img: np.ndarray, mask: np.ndarray, a: float, b: float) -> np.ndarray:
    """Set the Lab chroma (a*, b*) inside ``mask`` to a fixed colour, keeping lightness: "make it green"."""
    lab = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lab[mask, 1], lab[mask, 2] = a, b
    out = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.where(mask[:, :, None], out, img)


def remove(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Object removal: inpaint the masked pixels from their surroundings (Telea)."""
    return cv2.inpaint(img, mask.astype(np.uint8), 7, cv2.INPAINT_TELEA)


def paste(img: np.ndarray, donor: np.ndarray, mask: np.ndarray, donor_xy: tuple[int, int]) -> np.ndarray:
    """Paste the donor pixels under ``mask`` (shifted so that mask's box starts at ``donor_xy`` in the donor)."""
    ys, xs = np.nonzero(mask)
    dx, dy = donor_xy[0] - xs.min(), donor_xy[1] - ys.min()
    out = img.copy()
    out[ys, xs] = donor[ys + dy, xs + dx]
    return out


def degrade(img: np.ndarray, scale: float = 1.03, quality: int = 90, brightness: int = 5) -> np.ndarray:
    """What an editor does to an image on the way back: brightness shift, resize, JPEG."""
    out = np.clip(img.astype(np.int16) + brightness, 0, 255).astype(np.uint8)
    pil = Image.fromarray(out)
    w, h = pil.size
    pil = pil.resize((round(w * scale), round(h * scale)), Image.BICUBIC)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@dataclass
class EditCase:
    name: str
    source: np.ndarray
    edited: np.ndarray
    truth: np.ndarray


def object_mask(region: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """An object's exact mask: the largest closed component of a per-pixel test, within a search area."""
    m = cv2.morphologyEx((region & inside).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def make_cases() -> list[EditCase]:
    """Local edits on four photographs, each with the exact mask of the pixels the edit replaced."""
    coffee, astro, rocket, cat = data.coffee(), data.astronaut(), data.rocket(), data.chelsea()
    coins = np.repeat(data.coins()[:, :, None], 3, axis=2)
    cases = []
    m = ellipse_mask(coffee.shape[:2], (288, 146), (84, 48))  # the coffee in the cup -> green
    cases.append(EditCase("coffee_recolour", coffee, recolour(coffee, m, -45.0, 45.0), m))
    # the mission patch on the sleeve: blue (b* < 0) on an orange suit
    b_star = cv2.cvtColor(astro.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[:, :, 2]
    m = object_mask(b_star < 0, ellipse_mask(astro.shape[:2], (172, 386), (46, 46)))
    cases.append(EditCase("astronaut_remove_patch", astro, remove(astro, m), m))
    # the large coin at the right edge, on a dark cloth
    m = object_mask(coins[:, :, 0] > 100, ellipse_mask(coins.shape[:2], (350, 187), (36, 36)))
    cases.append(EditCase("coins_remove_coin", coins, remove(coins, m), m))
    m = ellipse_mask(rocket.shape[:2], (500, 110), (60, 70))  # the cat's face pasted into the sky
    cases.append(EditCase("rocket_paste_cat", rocket, paste(rocket, cat, m, (150, 40)), m))
    m = ellipse_mask(cat.shape[:2], (225, 150), (190, 135))  # most of the photo recoloured blue
    cases.append(EditCase("chelsea_recolour_most", cat, recolour(cat, m, 10.0, -60.0), m))
    return cases
