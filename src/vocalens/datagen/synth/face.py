"""Rendered talking faces for the synthetic dataset (vectorised numpy + cv2 drawing).

A face is drawn once per video as a shaded layer (hair, ears, face, nose, brows, neck,
shoulders) composited over a background; each frame then pastes in only the eyes (blinks,
gaze) and the mouth (opening, width, rounding, teeth) and is warped by the head motion, the
way a face-tracking crop jitters. Framing follows LAV-DF's face-centred crops: the face is ~2/3 of the
frame height, eyes at ~40 %, mouth in the lower middle (~70 %).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

SKIN_TONES = np.array(
    [  # RGB, light to dark
        [241, 208, 185],
        [228, 185, 153],
        [210, 160, 120],
        [190, 135, 95],
        [160, 106, 72],
        [128, 84, 56],
        [98, 64, 44],
        [72, 48, 34],
    ],
    dtype=np.float64,
)
HAIR_COLOURS = np.array(
    [[25, 20, 18], [60, 40, 28], [105, 72, 45], [170, 130, 80], [200, 175, 130], [135, 135, 135], [120, 50, 30]],
    dtype=np.float64,
)
IRIS_COLOURS = np.array([[70, 45, 30], [40, 28, 20], [80, 110, 150], [90, 120, 80], [110, 90, 60]], dtype=np.float64)
SHIFT = 4  # cv2 drawing with 4 fractional bits: smooth sub-pixel motion of mouth and lids
ONE = 1 << SHIFT


def _c(v) -> tuple:
    return tuple(float(x) for x in np.clip(v, 0, 255))


def _pts(x, y) -> np.ndarray:
    return np.round(np.stack([x, y], -1) * ONE).astype(np.int32)


def _ell(img, centre, axes, colour, angle=0.0, thickness=-1):
    cv2.ellipse(
        img,
        (int(round(centre[0] * ONE)), int(round(centre[1] * ONE))),
        (max(0, int(round(axes[0] * ONE))), max(0, int(round(axes[1] * ONE)))),
        angle,
        0,
        360,
        colour,
        thickness,
        cv2.LINE_AA,
        SHIFT,
    )


@dataclass
class Face:
    """One identity in one scene: static layer, background and the geometry the frames need."""

    size: int
    layer: np.ndarray  # [S,S,3] float32 shaded head, eyes/mouth not yet drawn
    alpha: np.ndarray  # [S,S] float32 0..1
    background: np.ndarray  # [S,S,3] float32
    light: np.ndarray  # [S,S,1] float32 multiplicative lighting
    skin: np.ndarray
    lip: np.ndarray
    iris: np.ndarray
    cx: float
    eye_y: float
    eye_dx: float
    eye_w: float
    eye_h: float
    mouth_y: float
    mouth_w: float  # half-width at rest
    max_open: float  # inner half-height at full opening
    noise: float  # sensor noise std (levels)
    extras: dict = field(default_factory=dict)


def _background(rng, s) -> np.ndarray:
    def muted():  # rooms are mostly greys, beiges and muted colours
        c = rng.uniform(20, 235, 3)
        return c.mean() + (c - c.mean()) * rng.uniform(0.15, 0.7)

    c1, c2 = muted(), muted()
    ang = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:s, 0:s] / s
    t = np.cos(ang) * xx + np.sin(ang) * yy
    t = (t - t.min()) / (np.ptp(t) + 1e-9)
    bg = c1 * (1 - t[..., None]) + c2 * t[..., None]
    bg = bg.astype(np.float32)
    for _ in range(rng.integers(2, 7)):  # shelves, windows, lamps
        col = _c(muted())
        x0, y0 = rng.integers(-s // 4, s, 2)
        w, h = rng.integers(s // 10, s // 2, 2)
        if rng.random() < 0.6:
            cv2.rectangle(bg, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), col, -1)
        else:
            cv2.circle(bg, (int(x0), int(y0)), int(w // 2), col, -1, cv2.LINE_AA)
    blur = float(rng.uniform(1.5, 6.0))  # depth of field
    bg = cv2.GaussianBlur(bg, (0, 0), blur)
    bg += rng.normal(0, rng.uniform(0.5, 3.0), (s, s, 1)).astype(np.float32)  # texture
    return bg


def random_face(rng: np.random.Generator, size: int = 224) -> Face:
    """A random identity, scene and lighting, framed like a LAV-DF face crop."""
    s = float(size)
    tone = rng.uniform(0, len(SKIN_TONES) - 1)
    i = int(tone)
    skin = SKIN_TONES[i] * (1 - (tone - i)) + SKIN_TONES[min(i + 1, len(SKIN_TONES) - 1)] * (tone - i)
    skin = skin * rng.uniform(0.94, 1.06, 3)
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.85, 1.15)
    lip = skin * np.array([0.86, 0.62, 0.62]) * rng.uniform(0.9, 1.05) + np.array([10, 0, 5])
    iris = IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))]
    cloth = rng.uniform(15, 230, 3)

    b = s * rng.uniform(0.34, 0.37)  # face half-height: face ~65-72 % of the frame (hairline to chin)
    a = b * rng.uniform(0.72, 0.86)
    cx = s / 2 + rng.uniform(-0.03, 0.03) * s
    cy = s * rng.uniform(0.5, 0.54)
    jaw = rng.uniform(0.05, 0.3)

    layer = np.zeros((size, size, 3), np.float32)
    alpha = np.zeros((size, size), np.float32)

    def both(draw):
        draw(layer, None)
        draw(alpha, 1.0)

    # shoulders and neck
    sh_y = cy + b * 1.35
    both(
        lambda im, v: _ell(
            im, (cx, sh_y + s * 0.35), (s * rng.uniform(0.42, 0.55), s * 0.42), v if v is not None else _c(cloth)
        )
    )
    neck_w = a * rng.uniform(0.5, 0.65)
    both(
        lambda im, v: cv2.rectangle(
            im,
            (int(cx - neck_w), int(cy + b * 0.3)),
            (int(cx + neck_w), int(sh_y + 4)),
            v if v is not None else _c(skin * 0.72),
            -1,
        )
    )
    # hair behind the head (long styles)
    style = rng.integers(0, 4)  # 0 short, 1 long, 2 bald-ish, 3 bun/curly volume
    if style == 1:
        both(lambda im, v: _ell(im, (cx, cy - b * 0.05), (a * 1.22, b * 0.95), v if v is not None else _c(hair)))
    # ears
    for side in (-1, 1):
        both(
            lambda im, v, side=side: _ell(
                im, (cx + side * a * 0.98, cy - b * 0.05), (a * 0.13, b * 0.2), v if v is not None else _c(skin * 0.9)
            )
        )
    # face contour: ellipse narrowing towards the jaw
    phi = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    sy = np.sin(phi)
    fx = cx + a * np.cos(phi) * (1 - jaw * np.maximum(sy, 0) ** 2)
    fy = cy + b * sy
    contour = _pts(fx, fy)
    both(lambda im, v: cv2.fillPoly(im, [contour], v if v is not None else _c(skin), cv2.LINE_AA, SHIFT))
    # hair on top
    if style != 2:
        vol = 1.12 if style == 3 else 1.04
        top = np.zeros((size, size), np.float32)
        _ell(top, (cx, cy - b * 0.35), (a * vol * 1.02, b * 0.72 * vol), 1.0)
        hairline = cy - b * rng.uniform(0.6, 0.8)
        yy = np.arange(size, dtype=np.float32)[:, None]
        xx = np.arange(size, dtype=np.float32)[None, :]
        # fringe: hair down to a curved hairline, sides down to the ears
        below = yy > hairline + 0.25 * b * ((xx - cx) / a) ** 2
        top[below & (np.abs(xx - cx) < a * 0.82)] = 0
        top = cv2.GaussianBlur(top, (0, 0), 0.8)
        tex = 1 + 0.12 * cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 1.0)
        layer[:] = layer * (1 - top[..., None]) + (hair * tex[..., None] * top[..., None]).astype(np.float32)
        alpha[:] = np.maximum(alpha, top)
    # shading: light from one side, darker towards the face edge
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    lx, ly = rng.uniform(-0.6, 0.6), rng.uniform(-0.5, 0.1)
    r2 = ((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2
    shade = 1.08 - 0.22 * np.clip(r2, 0, 1.6) ** 1.5 + 0.12 * ((xx - cx) / a * lx + (yy - cy) / b * ly)
    # relief: shadowed eye sockets, lit nose bridge and cheeks, shadow under the lower lip
    eye_y = cy - b * rng.uniform(0.2, 0.3)
    eye_dx = a * rng.uniform(0.38, 0.46)
    eye_w = a * rng.uniform(0.17, 0.22)
    eye_h = eye_w * rng.uniform(0.34, 0.44)
    mouth_y = cy + b * rng.uniform(0.5, 0.56)
    nose_y = cy + b * 0.22

    def blob(x0, y0, sx, sy):
        return np.exp(-0.5 * (((xx - x0) / sx) ** 2 + ((yy - y0) / sy) ** 2))

    depth = rng.uniform(0.22, 0.34) + 0.15 * (1 - skin.mean() / 230)  # deeper-looking sockets on darker skin
    for sd in (-1, 1):
        shade -= depth * blob(cx + sd * eye_dx, eye_y - 0.6 * eye_h, 1.3 * eye_w, 2.0 * eye_h)
        shade += 0.07 * blob(cx + sd * a * 0.5, cy + b * 0.15, 0.25 * a, 0.18 * b)
    shade += 0.1 * blob(cx, (eye_y + nose_y) / 2, 0.12 * a, 0.3 * b)
    shade -= 0.12 * blob(cx, mouth_y + b * 0.28, 0.3 * a, 0.06 * b)
    layer *= np.clip(shade, 0.45, 1.25)[..., None]
    # specular sheen (forehead, nose bridge, cheekbones): additive, so it shows on dark skin too
    spec = (
        rng.uniform(0.04, 0.09)
        * 255
        * (
            blob(cx, eye_y - 1.0 * b * 0.4, 0.45 * a, 0.12 * b)
            + 0.8 * blob(cx, (eye_y + nose_y) / 2, 0.08 * a, 0.25 * b)
            + sum(0.7 * blob(cx + sd * a * 0.52, cy + b * 0.08, 0.16 * a, 0.1 * b) for sd in (-1, 1))
        )
    )
    face_mask = np.zeros((size, size), np.float32)
    cv2.fillPoly(face_mask, [contour], 1.0, cv2.LINE_AA, SHIFT)
    if style != 2:
        face_mask *= 1 - top
    layer += (spec * face_mask)[..., None]

    # nose, brows drawn onto the shaded layer
    nw = a * rng.uniform(0.14, 0.2)
    side = 1 if lx < 0 else -1
    pts = _pts(
        np.array([cx + side * nw * 0.35, cx + side * nw * 0.8, cx + side * nw * 1.1]),
        np.array([cy - b * 0.15, nose_y - b * 0.04, nose_y + b * 0.04]),
    )
    cv2.polylines(layer, [pts], False, _c(skin * 0.72), max(1, int(s / 150)), cv2.LINE_AA, SHIFT)
    for sd in (-1, 1):
        _ell(layer, (cx + sd * nw * 0.55, nose_y + b * 0.03), (nw * 0.28, nw * 0.16), _c(skin * 0.45))
    _ell(layer, (cx, nose_y - b * 0.02), (nw * 0.5, nw * 0.35), _c(skin * 1.05))
    brow = np.minimum(hair * 0.75, skin * 0.5) if style != 2 else skin * 0.45
    for sd in (-1, 1):
        t = np.linspace(-1, 1, 12)
        bx = cx + sd * eye_dx + t * eye_w * 1.25
        by = eye_y - eye_h * 2.1 - eye_h * 0.6 * (1 - t**2) + sd * t * eye_h * 0.2
        cv2.polylines(layer, [_pts(bx, by)], False, _c(brow), max(2, int(s / 60)), cv2.LINE_AA, SHIFT)
    mouth_w = a * rng.uniform(0.4, 0.5)

    bg = _background(rng, size)
    gain = rng.uniform(0.85, 1.15)
    wb = rng.uniform(0.9, 1.1, 3)
    gx, gy = rng.uniform(-0.35, 0.35, 2)
    light = gain * (1 + gx * (xx / s - 0.5) + gy * (yy / s - 0.5))
    light = (light[..., None] * wb).astype(np.float32)
    return Face(
        size=size,
        layer=layer,
        alpha=alpha,
        background=bg,
        light=light,
        skin=skin,
        lip=lip,
        iris=iris,
        cx=cx,
        eye_y=eye_y,
        eye_dx=eye_dx,
        eye_w=eye_w,
        eye_h=eye_h,
        mouth_y=mouth_y,
        mouth_w=mouth_w,
        max_open=mouth_w * rng.uniform(0.5, 0.65),
        noise=float(rng.uniform(0.8, 4.0)),
        extras={
            "teeth": rng.uniform(200, 245),
            "lip_thick": rng.uniform(0.16, 0.26),
            "chin_y": cy + b,
            "half_height": b,
        },
    )


def _lit(f: Face, r: float, g: float, b: float) -> tuple:
    """A fixed colour (sclera, teeth, mouth interior) under the face's light."""
    return _c(np.array([r, g, b]) * f.extras.get("tint", 1.0))


def draw_eyes(img: np.ndarray, f: Face, blink: float, gaze: tuple[float, float]) -> None:
    for sd in (-1, 1):
        ex, ey = f.cx + sd * f.eye_dx, f.eye_y
        h = f.eye_h * (1 - blink)
        t = np.linspace(-1, 1, 17)
        x = ex + t * f.eye_w
        env = np.sqrt(1 - t**2)
        up = ey - h * env * 1.1
        lo = ey + max(h, 0.4) * env * 0.8
        if h > 0.8:
            # work in the eye's box only: sclera, then iris/pupil/glint clipped to the lids
            x0, y0 = int(ex - f.eye_w) - 2, int(ey - f.eye_h * 1.2) - 2
            x1, y1 = int(ex + f.eye_w) + 3, int(ey + f.eye_h) + 3
            x0, y0 = max(0, x0), max(0, y0)
            box = img[y0:y1, x0:x1]
            poly = _pts(np.concatenate([x, x[::-1]]) - x0, np.concatenate([up, lo[::-1]]) - y0)
            cv2.fillPoly(box, [poly], _lit(f, 218, 212, 205), cv2.LINE_AA, SHIFT)
            roi = np.zeros(box.shape[:2], np.uint8)
            cv2.fillPoly(roi, [poly], 1, cv2.LINE_8, SHIFT)
            eye = box.copy()
            ir = f.eye_w * 0.42
            ix, iy = ex + gaze[0] * f.eye_w * 0.3 - x0, ey + gaze[1] * f.eye_h * 0.2 - y0
            _ell(eye, (ix, iy), (ir, ir), _c(f.iris))
            _ell(eye, (ix, iy), (ir * 0.45, ir * 0.45), _lit(f, 15, 12, 12))
            _ell(eye, (ix + ir * 0.3, iy - ir * 0.3), (ir * 0.15, ir * 0.15), _lit(f, 250, 250, 250))
            m = roi.astype(bool)
            box[m] = eye[m]
        cv2.polylines(img, [_pts(x, up)], False, _c(f.skin * 0.3), 2, cv2.LINE_AA, SHIFT)  # lash line
        cv2.polylines(img, [_pts(x, up - f.eye_h * 0.45)], False, _c(f.skin * 0.75), 1, cv2.LINE_AA, SHIFT)


def draw_mouth(img: np.ndarray, f: Face, opening: float, rounding: float) -> None:
    """Lips and mouth interior: ``opening`` 0..1 (jaw/lip aperture), ``rounding`` -1 spread .. 1 round."""
    rnd, spr = max(rounding, 0.0), max(-rounding, 0.0)
    w = f.mouth_w * (1 - 0.3 * rnd + 0.1 * spr - 0.08 * opening)
    h = f.max_open * opening * (1 + 0.2 * rnd)
    th = f.mouth_w * f.extras["lip_thick"] * (1 + 0.45 * rnd)
    cy = f.mouth_y + 0.25 * h
    t = np.linspace(-1, 1, 25)
    x = f.cx + t * w
    env = np.sqrt(1 - t**2)
    bow = 1 - 0.35 * np.exp(-((t / 0.15) ** 2))  # cupid's bow
    inner_up = cy - 0.45 * h * env ** (0.8 + 0.6 * rnd)
    inner_lo = cy + 0.55 * h * env ** (0.8 + 0.6 * rnd)
    outer_up = inner_up - th * env**0.7 * bow - 0.5
    outer_lo = inner_lo + th * 1.25 * env**0.7 + 0.5
    lips = _pts(np.concatenate([x, x[::-1]]), np.concatenate([outer_up, outer_lo[::-1]]))
    cv2.fillPoly(img, [lips], _c(f.lip), cv2.LINE_AA, SHIFT)
    if h > 0.6:
        inner = _pts(np.concatenate([x, x[::-1]]), np.concatenate([inner_up, inner_lo[::-1]]))
        cv2.fillPoly(img, [inner], _lit(f, 45, 18, 22), cv2.LINE_AA, SHIFT)
        # upper teeth show under the upper lip, tongue low in the mouth
        teeth = _pts(
            np.concatenate([x[4:-4], x[4:-4][::-1]]),
            np.concatenate(
                [inner_up[4:-4], np.minimum(inner_up[4:-4] + 0.22 * f.max_open + 0.3 * h * 0.2, inner_lo[4:-4])[::-1]]
            ),
        )
        tv = f.extras["teeth"]
        cv2.fillPoly(img, [teeth], _lit(f, tv, tv * 0.97, tv * 0.9), cv2.LINE_AA, SHIFT)
        if h > 3:
            _ell(img, (f.cx, inner_lo[12] - h * 0.15), (w * 0.45, h * 0.22), _lit(f, 150, 60, 65))
    cv2.polylines(
        img,
        [_pts(x, (inner_up + inner_lo) / 2 if h <= 0.6 else inner_up)],
        False,
        _c(f.lip * 0.45),
        1,
        cv2.LINE_AA,
        SHIFT,
    )
    # lower-lip highlight
    hl = _pts(x[8:-8], outer_lo[8:-8] - th * 0.45)
    cv2.polylines(img, [hl], False, _c(np.minimum(f.lip * 1.18, 255)), 1, cv2.LINE_AA, SHIFT)


def mouth_box(f: Face) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the region a lip-sync generator repaints, in layer coordinates."""
    x0 = int(f.cx - f.mouth_w * 1.6)
    x1 = int(f.cx + f.mouth_w * 1.6)
    y0 = int(f.mouth_y - f.mouth_w * 0.9)
    y1 = int(f.mouth_y + f.max_open + f.mouth_w * 1.0)
    s = f.size
    return max(0, x0), max(0, y0), min(s, x1), min(s, y1)


def blend_artefact(patch: np.ndarray, blur: float, shift: np.ndarray, feather: float) -> None:
    """What a lip-sync generator leaves on the mouth box it repaints: the region is softer, slightly
    off in colour, pasted with a feathered elliptical mask (a faint seam where the mask falls off)."""
    h, w = patch.shape[:2]
    roi_f = patch.astype(np.float32)
    soft = cv2.GaussianBlur(roi_f, (0, 0), blur) + np.asarray(shift, np.float32)[None, None, :]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, h // 2), (w // 2 - 2, h // 2 - 2), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), feather)[..., None]
    patch[:] = np.clip(roi_f * (1 - mask) + soft * mask, 0, 255).astype(np.uint8)


def drop_jaw(patch: np.ndarray, mouth_y: float, chin_y: float, drop: float) -> np.ndarray:
    """The chin moves down with the open mouth: rows between the mouth and the chin slide down by up to
    ``drop`` px (most at the chin, fading out towards the patch's sides and bottom); returns a copy."""
    if drop < 0.25:
        return patch.copy()
    h, w = patch.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    below = np.clip((yy - mouth_y) / max(chin_y - mouth_y, 1.0), 0, 1)
    after = np.clip((h - 1 - yy) / max(h - 1 - chin_y, 1.0), 0, 1)
    wy = np.where(yy <= chin_y, below, after)
    wx = np.sin(np.pi * np.clip(xx / max(w - 1, 1), 0, 1)) ** 2
    map_y = (yy - drop * wx * wy).astype(np.float32)
    return cv2.remap(patch, xx, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _eye_box(f: Face) -> tuple[int, int, int, int]:
    x0 = int(f.cx - f.eye_dx - f.eye_w) - 4
    x1 = int(f.cx + f.eye_dx + f.eye_w) + 5
    y0 = int(f.eye_y - 1.8 * f.eye_h) - 4
    y1 = int(f.eye_y + f.eye_h) + 5
    return max(0, x0), max(0, y0), min(f.size, x1), min(f.size, y1)


def render_frames(
    f: Face,
    opening: np.ndarray,
    rounding: np.ndarray,
    blink: np.ndarray,
    motion: np.ndarray,
    gaze: np.ndarray,
    artefact: np.ndarray,
    artefact_params: dict,
    rng: np.random.Generator,
    flicker: np.ndarray,
) -> np.ndarray:
    """[T,S,S,3] uint8 RGB. ``motion`` [T,4] = (dx, dy, degrees, scale-1); ``artefact`` [T] bool.

    The lit head is composited over the background once; per frame the eye and mouth boxes are
    pasted in (drawn once per quantised state: blink 0.1, gaze 1/4, opening 0.02, rounding 0.05,
    i.e. well under a pixel), the frame is warped by the head motion as a face-tracking crop
    jitters, then flicker and sensor noise are applied in one saturating op.
    """
    T = len(opening)
    s = f.size
    tint = f.light[int(f.mouth_y), int(f.cx)].astype(np.float64)  # eyes and mouth are drawn lit
    f = replace(f, skin=f.skin * tint, lip=f.lip * tint, iris=f.iris * tint, extras={**f.extras, "tint": tint})
    a = f.alpha[..., None]
    base = np.clip((f.background * (1 - a) + f.layer * a) * f.light, 0, 255).astype(np.uint8)
    out = np.empty((T, s, s, 3), np.uint8)
    centre = (f.cx, f.mouth_y - f.mouth_w)  # head rotates about a point near the nose
    bank = np.clip(128 + rng.normal(0.0, f.noise, (8, s, s, 3)), 0, 255).astype(np.uint8)
    pick = rng.integers(0, len(bank), T)
    ex0, ey0, ex1, ey1 = _eye_box(f)
    mx0, my0, mx1, my1 = mouth_box(f)
    jy1 = max(my1, min(s, int(f.extras["chin_y"] + 0.2 * f.extras["half_height"])))  # down past the chin
    f_eye = replace(f, cx=f.cx - ex0, eye_y=f.eye_y - ey0)
    f_mouth = replace(f, cx=f.cx - mx0, mouth_y=f.mouth_y - my0)
    chin = f.extras["chin_y"] - my0
    eyes: dict = {}
    mouths: dict = {}
    kb = np.round(np.clip(blink, 0, 1) * 10).astype(int)
    kg = np.round(np.clip(gaze, -2, 2) * 4).astype(int)
    ko = np.round(np.clip(opening, 0, 1) * 50).astype(int)
    kr = np.round(np.clip(rounding, -1, 1) * 20).astype(int)
    for i in range(T):
        img = base.copy()
        key = (kb[i], kg[i, 0], kg[i, 1])
        if key not in eyes:
            patch = base[ey0:ey1, ex0:ex1].copy()
            draw_eyes(patch, f_eye, key[0] / 10, (key[1] / 4, key[2] / 4))
            eyes[key] = patch
        img[ey0:ey1, ex0:ex1] = eyes[key]
        key = (ko[i], kr[i], bool(artefact[i]))
        if key not in mouths:
            o, r = key[0] / 50, key[1] / 20
            patch = drop_jaw(
                base[my0:jy1, mx0:mx1], f_mouth.mouth_y, chin, 0.75 * f.max_open * o * (1 + 0.2 * max(r, 0.0))
            )
            draw_mouth(patch, f_mouth, o, r)
            if key[2]:
                blend_artefact(patch[: my1 - my0], **artefact_params)
            mouths[key] = patch
        img[my0:jy1, mx0:mx1] = mouths[key]
        M = cv2.getRotationMatrix2D(centre, float(motion[i, 2]), 1.0 + float(motion[i, 3]))
        M[:, 2] += motion[i, :2]
        frame = cv2.warpAffine(img, M, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        out[i] = cv2.addWeighted(frame, float(flicker[i]), bank[pick[i]], 1.0, -128.0)
    return out
