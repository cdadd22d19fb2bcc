"""Make the bundled demo edits from scikit-image's sample photographs (public domain / CC0).

Each pair is a real photograph and a local edit whose true mask is known: recolour, removal by inpainting,
pasted object. Run once; the output is committed under src/judgescope/data/demo/.
"""

from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data

OUT = Path(__file__).resolve().parents[1] / "src" / "judgescope" / "data" / "demo"


def small(img, width):
    h, w = img.shape[:2]
    return cv2.resize(img, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)


def recolour(img, mask, shift=90):
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = np.where(mask, (hsv[..., 0].astype(int) + shift) % 180, hsv[..., 0])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []

    def save(sid, src, edited, mask, instruction):
        Image.fromarray(src).save(OUT / f"{sid}_source.jpg", quality=92)
        Image.fromarray(edited).save(OUT / f"{sid}_edited.jpg", quality=92)
        Image.fromarray((mask * 255).astype(np.uint8)).save(OUT / f"{sid}_mask.png")
        rows.append(
            {
                "id": sid,
                "source": f"{sid}_source.jpg",
                "edited": f"{sid}_edited.jpg",
                "mask": f"{sid}_mask.png",
                "instruction": instruction,
            }
        )

    coffee = small(data.coffee(), 192)
    m = np.zeros(coffee.shape[:2], bool)
    cv2.ellipse(m.view(np.uint8), (100, 60), (45, 30), 0, 0, 360, 1, -1)
    save("coffee-recolour", coffee, recolour(coffee, m), m, "make the cup blue")

    astro = small(data.astronaut(), 160)
    m = np.zeros(astro.shape[:2], bool)
    m[100:140, 20:55] = True
    save(
        "astronaut-remove",
        astro,
        cv2.inpaint(astro, m.astype(np.uint8), 5, cv2.INPAINT_TELEA),
        m,
        "remove the flag patch",
    )

    cat = small(data.chelsea(), 200)
    rocket = small(data.rocket(), 120)
    patch = rocket[20:60, 40:80]
    edited = cat.copy()
    edited[30:70, 130:170] = patch
    m = np.zeros(cat.shape[:2], bool)
    m[30:70, 130:170] = True
    save("cat-paste", cat, edited, m, "add a small rocket in the top right")

    wide = small(data.rocket(), 224)
    m = np.zeros(wide.shape[:2], bool)
    m[60:120, 90:140] = True
    save("rocket-recolour", wide, recolour(wide, m, 60), m, "paint the rocket green")

    import json

    (OUT / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {len(rows)} pairs to {OUT}")


if __name__ == "__main__":
    main()
