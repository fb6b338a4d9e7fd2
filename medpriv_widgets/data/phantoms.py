"""Procedural synthetic chest X-ray phantoms: the offline fallback when no real file is available.

Each image is drawn from a few smooth shapes on a normalised grid (x, y in [-1, 1], y downwards,
the viewer's right is the patient's left as on a PA film):

- a soft body outline (soft tissue, mid grey) on dark air;
- two dark lung fields, narrower at the apex, cut from below by the diaphragm domes;
- a bright mediastinum (spine) with a dark trachea, and the heart shadow bulging to the left;
- posterior ribs as curved bright bands over the thorax, and the clavicles;
- for the "pneumonia" class: patchy opacities (blobs with low-frequency texture) inside the lungs.

Anatomy varies per synthetic patient (position, scale, lung and heart size, rib spacing and
curvature, dome heights); exposure varies per image (contrast, gamma, noise). Some patients have
several images, so patient-level splits can be exercised. Everything is vectorised numpy and
seeded: the same arguments give the same pixels.

These are *not* medical images: every figure made from them must say "synthetic"
(:attr:`ChestXrayData.caption` does).
"""

from __future__ import annotations

import numpy as np

from .._validate import check_choice, check_int, check_real
from .dataset import ChestXrayData
from .npz import to_record
from .registry import SPLITS

SOURCE = "Synthetic chest X-ray phantoms"

# Work in chunks so memory stays ~tens of MB whatever n and size are.
_CHUNK_PIXELS = 1 << 18


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


def _upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of (B, g, g) to (B, size, size); used for low-frequency texture."""
    g = grid.shape[-1]
    t = np.linspace(0.0, g - 1.0, size)
    i0 = np.minimum(np.floor(t).astype(int), g - 2)
    w = np.zeros((size, g), dtype=np.float32)      # interpolation matrix: row i mixes 2 nodes
    w[np.arange(size), i0] = 1.0 - (t - i0)
    w[np.arange(size), i0 + 1] = t - i0
    return w @ grid @ w.T


def _draw_parameters(rng: np.random.Generator, n: int, pneumonia_fraction: float) -> dict:
    """All random choices, drawn up front so the pixels do not depend on the chunking."""
    # Patients: most have one image, some two to four (as in the Kermany data).
    sizes = rng.choice([1, 1, 1, 1, 1, 1, 2, 2, 3, 4], size=n)
    owner = np.repeat(np.arange(n), sizes)[:n]
    owner = owner[rng.permutation(n)]
    n_pat = int(owner.max()) + 1

    def per_patient(low, high):
        return rng.uniform(low, high, n_pat)[owner]

    p = {
        "owner": owner,
        # Position and scale: per patient, plus a little per-image jitter (positioning).
        "cx": per_patient(-0.06, 0.06) + rng.normal(0, 0.015, n),
        "cy": per_patient(-0.06, 0.08) + rng.normal(0, 0.015, n),
        "scale": per_patient(0.9, 1.1) * rng.uniform(0.98, 1.02, n),
        "aspect": per_patient(0.92, 1.08),
        "body_w": per_patient(0.95, 1.15),
        "lung_x": per_patient(0.40, 0.46),
        "lung_w": per_patient(0.27, 0.33),
        "lung_y": per_patient(-0.16, -0.06),
        "lung_h": per_patient(0.62, 0.74),
        "dome_r": per_patient(0.50, 0.62),
        "dome_l": per_patient(0.56, 0.68),
        "dome_h": per_patient(0.14, 0.24),
        "heart_x": per_patient(0.08, 0.16),
        "heart_y": per_patient(0.36, 0.46),
        "heart_w": per_patient(0.30, 0.40),
        "heart_h": per_patient(0.26, 0.34),
        "rib_gap": per_patient(0.16, 0.22),
        "rib_curve": per_patient(0.5, 1.0),
        "rib_phase": per_patient(0.0, 2 * np.pi),
        "rib_amp": per_patient(0.09, 0.16),
        "lung_dark": per_patient(0.26, 0.36),
        "contrast": rng.uniform(0.85, 1.15, n),
        "brightness": rng.uniform(-0.05, 0.05, n),
        "gamma": rng.uniform(0.85, 1.2, n),
        "noise": rng.uniform(0.006, 0.022, n),
    }
    n_pos = int(round(n * pneumonia_fraction))
    labels = np.zeros(n, dtype=np.int64)
    labels[rng.permutation(n)[:n_pos]] = 1
    p["labels"] = labels

    # Opacities: up to 6 blobs per image; unused ones get zero amplitude. Centres lie inside a lung,
    # more often in the lower zones (lobar/bronchopneumonia favour the bases).
    k = 6
    p["blob_n"] = rng.integers(2, k + 1, n)
    p["blob_side"] = rng.choice([-1.0, 1.0], size=(n, k))
    p["blob_u"] = rng.uniform(-0.7, 0.7, (n, k))
    p["blob_v"] = rng.beta(2.5, 1.6, (n, k)) * 1.4 - 0.7
    p["blob_r"] = rng.uniform(0.08, 0.2, (n, k))
    p["blob_amp"] = rng.uniform(0.15, 0.32, (n, k)) * (np.arange(k) < p["blob_n"][:, None])
    p["blob_tex"] = rng.uniform(0, 1, (n, 8, 8)).astype(np.float32)
    p["lung_tex"] = rng.uniform(0, 1, (n, 10, 10)).astype(np.float32)
    return p


def _render(p: dict, sl: slice, size: int, noise_seeds: list) -> np.ndarray:
    """Render images ``sl`` of the parameter set; returns float32 (B, size, size) in [0, 1]."""
    f32 = np.float32

    def col(name):  # per-image scalar broadcast over the grid
        return p[name][sl].astype(f32)[:, None, None]

    px = f32(2.0 / size)
    soft = max(f32(0.03), 1.5 * px)   # edge width: never razor sharp, whatever the size
    t = np.linspace(-1.0, 1.0, size, dtype=f32)
    # Patient position and scale: move the coordinates, not the shapes.
    X = (t[None, None, :] - col("cx")) / (col("scale") * col("aspect"))
    Y = (t[None, :, None] - col("cy")) / col("scale")
    ax = np.abs(X)

    # Soft tissue: the trunk fills the film's width; shoulders slope down at the top corners.
    body = _sigmoid((col("body_w") - ax - 0.35 * np.clip(-0.55 - Y, 0, None) * ax) / (2 * soft))
    img = 0.05 + 0.55 * body

    # Diaphragm domes: y of the dome surface under each lung (smaller y = higher).
    lx, lw = col("lung_x"), col("lung_w")
    dome_base = np.where(X > 0, col("dome_l"), col("dome_r"))
    dome = dome_base - col("dome_h") * (1.0 - ((ax - lx) / (lw * 1.4)) ** 2)
    below_dome = _sigmoid((Y - dome) / (1.5 * soft))

    # Lungs: half-width grows from apex to base; the costophrenic angle is cut by the dome.
    ly, lh = col("lung_y"), col("lung_h")
    tt = np.clip((Y - (ly - lh)) / (2 * lh), 0.0, 1.0)
    w_eff = lw * (0.45 + 0.6 * np.sqrt(tt))
    lungs = _sigmoid((1.0 - ((ax - lx) / w_eff) ** 2 - ((Y - ly) / lh) ** 2) / (3 * soft))
    # Heart: on the patient's left (viewer's right), sitting on the left dome, hiding lung.
    heart = _sigmoid((1.0 - ((X - col("heart_x")) / col("heart_w")) ** 2
                      - ((Y - col("heart_y")) / col("heart_h")) ** 2) / (2 * soft))
    lungs = lungs * (1.0 - below_dome) * (1.0 - heart)

    # Lung fields: darker laterally and at the apex; low-frequency vascular texture.
    lung_tex = _upsample(p["lung_tex"][sl], size)
    darkness = col("lung_dark") * (0.75 + 0.3 * np.clip((ax - 0.1) * 2.0, 0, 1) + 0.2 * lung_tex
                                   - 0.15 * np.clip(Y - ly, 0, None))
    img = img - darkness * lungs

    # Mediastinum and spine: bright central column widening downwards; heart as bright as it.
    med_w = 0.10 + 0.05 * np.clip((Y + 0.3) / 0.8, 0, 1)
    # Heart, mediastinum and sub-diaphragmatic soft tissue have one density: their union is
    # bright, and the heart's outline shows only against the lungs (as on a real film).
    dense = np.maximum(np.maximum(_sigmoid((med_w - np.abs(X)) / (1.5 * soft)), heart), below_dome)
    img = img + 0.15 * dense * body
    # Trachea: dark air column above the carina.
    img = img - 0.10 * _sigmoid((0.035 - ax) / soft) * _sigmoid((-0.3 - Y) / soft) * body

    # Posterior ribs: broad bands sagging laterally (a band is Y - c*x^2 = const), over the thorax
    # only; brighter where they cross the dark lungs.
    thorax = _sigmoid((1.0 - ((ax - lx) / (lw * 1.45)) ** 2 - ((Y - ly) / (lh * 1.1)) ** 2) / soft)
    thorax = thorax * (1.0 - below_dome) * (1.0 - 0.7 * heart) * np.clip((ax - 0.06) / 0.08, 0, 1)
    phase = 2 * np.pi * (Y - col("rib_curve") * ax * ax) / col("rib_gap") + col("rib_phase")
    ribs = 0.5 + 0.5 * np.cos(phase)
    ribs = ribs * ribs * ribs
    # Fade ribs whose period is only a few pixels (28 px): they would alias into a checkerboard,
    # and on real low-resolution films they are barely visible anyway.
    period_px = col("rib_gap") * (size / 2.0)
    visible = np.clip((period_px - 2.5) / 3.0, 0.0, 1.0)
    img = img + col("rib_amp") * visible * ribs * thorax * (0.6 + 0.6 * lungs)

    # Clavicles: bright bars at the top, rising laterally.
    clav_y = (ly - lh) + 0.08 - 0.2 * np.clip(ax - 0.1, 0, None)
    img = img + 0.12 * np.exp(-((Y - clav_y) ** 2) * (1.0 / (2 * 0.03 ** 2))) * \
        ((ax > 0.08) & (ax < 0.7)) * body

    # Pneumonia: textured opacities confined to the lungs (computed for label-1 images only).
    sick = np.flatnonzero(p["labels"][sl] == 1)
    if sick.size:
        rows = np.arange(sl.start, sl.stop)[sick]
        Xs, Ys, lxs, lws, lys, lhs = (a[sick] for a in (X, Y, lx, lw, ly, lh))
        op = np.zeros((sick.size, size, size), dtype=f32)
        for j in range(p["blob_amp"].shape[1]):
            def b(name):
                return p[name][rows, j].astype(f32)[:, None, None]
            bx = b("blob_side") * (lxs + lws * 0.75 * b("blob_u"))
            by = lys + lhs * b("blob_v")
            op += b("blob_amp") * np.exp(((Xs - bx) ** 2 + (Ys - by) ** 2) * (-0.5 / b("blob_r") ** 2))
        tex = 0.3 + 1.0 * _upsample(p["blob_tex"][rows], size)
        img[sick] += np.minimum(op * tex, 0.4) * lungs[sick]

    # Exposure: contrast, brightness, gamma, quantum noise (then 8-bit, like the real files).
    img = (img - 0.35) * col("contrast") + 0.35 + col("brightness")
    img = np.clip(img, 0.0, 1.0) ** col("gamma")
    # One noise stream per image, so the pixels do not depend on how images are chunked.
    noise = np.stack([np.random.default_rng(s).standard_normal((size, size), dtype=f32)
                      for s in noise_seeds])
    img = img + col("noise") * noise
    return np.clip(img, 0.0, 1.0)


def make_phantom_arrays(*, n: int, size: int, seed: int = 0, pneumonia_fraction: float = 0.5
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phantom pixels as arrays: (uint8 images (n, size, size), int64 labels (n,), owner index (n,)).

    ``owner`` is the synthetic patient index (0-based) of each image.
    """
    n = check_int("n", n, low=1, high=200_000)
    size = check_int("size", size, low=16, high=512, hint="Phantoms are drawn at 16 to 512 px.")
    pneumonia_fraction = check_real("pneumonia_fraction", pneumonia_fraction, low=0.0, high=1.0)
    seed = check_int("seed", seed, low=0)
    ss = np.random.SeedSequence([seed, size, 7541])  # 7541: keeps phantom streams apart from others
    p = _draw_parameters(np.random.default_rng(ss), n, pneumonia_fraction)
    chunk = max(1, _CHUNK_PIXELS // (size * size))
    out = np.empty((n, size, size), dtype=np.uint8)
    noise_seeds = ss.spawn(n)
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        out[sl] = np.rint(_render(p, sl, size, noise_seeds[sl]) * 255).astype(np.uint8)
    return out, p["labels"], p["owner"]


def make_phantoms(*, n: int, size: int, seed: int = 0, pneumonia_fraction: float = 0.5,
                  split: str = "train", id_start: int = 1) -> ChestXrayData:
    """Synthetic chest X-ray phantoms as a :class:`ChestXrayData` (``synthetic=True``).

    Parameters
    ----------
    n : int
        Number of images (1 to 200,000).
    size : int
        Image side in pixels (16 to 512).
    seed : int
        Same seed, same images.
    pneumonia_fraction : float in [0, 1]
        Fraction of images with label 1 (patchy opacities), rounded to a whole count.
    split : {'train', 'val', 'test'}
        Only recorded on the result.
    id_start : int
        Number of the first synthetic patient; patient IDs are ``synthetic-0001``, ... Loaders give
        each split a different range so no synthetic patient appears in two splits.

    Returns
    -------
    ChestXrayData
        images float32 (n, 1, size, size) in [0, 1]; labels int64 (n,); patient_ids str (n,),
        e.g. ``synthetic-0001``; ``synthetic=True``.
    """
    check_choice("split", split, SPLITS)
    id_start = check_int("id_start", id_start, low=0)
    images, labels, owner = make_phantom_arrays(n=n, size=size, seed=seed,
                                                pneumonia_fraction=pneumonia_fraction)
    pids = np.array([f"synthetic-{id_start + int(o):04d}" for o in owner])
    return to_record(images, labels, patient_ids=pids, metadata={}, split=split, source=SOURCE,
                     official=False, path=None, synthetic=True)
