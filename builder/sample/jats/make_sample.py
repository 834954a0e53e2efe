"""Regenerate the sample JATS papers of the demo (written for the project, CC0).

``python builder/sample/jats/make_sample.py`` rewrites, beside this file: two article folders
(``PMC9000001/``: TIFF micrograph, PNG plot with a GIF thumbnail beside it, JPEG heatmap;
``biorxiv-2024-000002/``: a schematic and a map under ``media/``) and one PMC ``oa_package``
(``PMC9000003.tar.gz``: a CT-like scan and a molecular structure). Images are drawn with
numpy/Pillow (and matplotlib for the plot), seeded, so the bytes are the same every run.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).parent
HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving '
        'and Interchange DTD v1.3 20210610//EN" "JATS-archivearticle1-3.dtd">\n')


def micrograph(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:240, 0:320]
    img = rng.normal(60, 12, (240, 320))
    for _ in range(14):
        cy, cx, r = rng.uniform(20, 220), rng.uniform(20, 300), rng.uniform(8, 22)
        img += 140 * np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)))
    return Image.fromarray(np.clip(img, 0, 255).astype("uint8"), "L")


def heatmap(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    data = rng.random((24, 32)).cumsum(axis=1)
    data = (data - data.min()) / (data.max() - data.min())
    rgb = np.stack([data, 0.2 + 0 * data, 1 - data], axis=-1)
    return Image.fromarray((rgb * 255).astype("uint8"), "RGB").resize((320, 240), Image.NEAREST)


def plot_png() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.linspace(0, 10, 200)
    fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
    for k in (1, 2, 3):
        ax.plot(x, np.exp(-x / (2 * k)) * np.cos(k * x), label=f"k={k}")
    ax.set_xlabel("time (h)")
    ax.set_ylabel("growth")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def schematic() -> Image.Image:
    img = Image.new("RGB", (360, 200), "white")
    d = ImageDraw.Draw(img)
    for i, (x, label) in enumerate([(20, "input"), (140, "encoder"), (260, "output")]):
        d.rectangle([x, 70, x + 80, 130], outline="black", width=3, fill=(200 + 20 * i, 220, 255 - 40 * i))
        d.text((x + 12, 92), label, fill="black")
        if i < 2:
            d.line([x + 80, 100, x + 120, 100], fill="black", width=3)
            d.polygon([(x + 120, 100), (x + 110, 94), (x + 110, 106)], fill="black")
    rng = np.random.default_rng(3)
    arr = np.asarray(img).astype("int16") + rng.integers(-6, 6, (200, 360, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype("uint8"))


def map_image() -> Image.Image:
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:240, 0:320]
    land = np.sin(xx / 37.0) + np.cos(yy / 23.0) + rng.normal(0, 0.3, (240, 320))
    rgb = np.where(land[..., None] > 0.3, [120, 170, 90], [70, 120, 200]).astype("uint8")
    img = Image.fromarray(rgb)
    d = ImageDraw.Draw(img)
    for x, y in [(80, 60), (200, 150), (260, 90)]:
        d.ellipse([x - 5, y - 5, x + 5, y + 5], fill="red")
    return img


def ct_scan() -> Image.Image:
    yy, xx = np.mgrid[0:256, 0:256]
    rng = np.random.default_rng(7)
    body = ((xx - 128) ** 2 / 110 ** 2 + (yy - 128) ** 2 / 90 ** 2) < 1
    lungs = (((xx - 85) ** 2 / 35 ** 2 + (yy - 120) ** 2 / 55 ** 2) < 1) | (((xx - 171) ** 2 / 35 ** 2 + (yy - 120) ** 2 / 55 ** 2) < 1)
    img = np.where(body, 150, 5) - np.where(lungs, 120, 0) + rng.normal(0, 8, (256, 256))
    return Image.fromarray(np.clip(img, 0, 255).astype("uint8"), "L")


def molecule() -> Image.Image:
    img = Image.new("RGB", (300, 220), "white")
    d = ImageDraw.Draw(img)
    pts = [(150 + 50 * np.cos(a), 110 + 50 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 7)[:-1]]
    for i in range(6):
        d.line([pts[i], pts[(i + 1) % 6]], fill="black", width=3)
    d.line([pts[0], (pts[0][0] + 45, pts[0][1])], fill="black", width=3)
    d.text((pts[0][0] + 48, pts[0][1] - 6), "OH", fill="red")
    rng = np.random.default_rng(9)
    arr = np.asarray(img).astype("int16") + rng.integers(-5, 5, (220, 300, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype("uint8"))


def save(img: Image.Image, path: Path, fmt: str, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt, **kw)


ARTICLE1 = HEAD + """<article xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:mml="http://www.w3.org/1998/Math/MathML" article-type="research-article">
<front>
<journal-meta><journal-title-group><journal-title>Journal of Demo Cell Biology</journal-title></journal-title-group></journal-meta>
<article-meta>
<article-id pub-id-type="pmc">9000001</article-id>
<article-id pub-id-type="doi">10.5555/demo.9000001</article-id>
<article-categories><subj-group subj-group-type="heading"><subject>Research Article</subject></subj-group>
<subj-group subj-group-type="discipline"><subject>Cell Biology</subject></subj-group></article-categories>
<title-group><article-title>Nuclear foci in dividing <italic>S. cerevisiae</italic> cells</article-title></title-group>
<permissions><license xlink:href="https://creativecommons.org/licenses/by/4.0/"><license-p>CC BY 4.0</license-p></license></permissions>
<abstract><p>We image nuclear foci in budding yeast and relate their number to growth rate.</p></abstract>
</article-meta>
</front>
<body>
<sec><title>Results</title>
<p>Foci appear within minutes of stress (<xref ref-type="fig" rid="f1">Fig. 1</xref>). Their number rises with temperature. The growth curves in <xref ref-type="fig" rid="f2">Figure 2</xref> fall accordingly.</p>
<p>Across conditions (<xref ref-type="fig" rid="f1">Figs. 1</xref>&#x2013;<xref ref-type="fig" rid="f3">3</xref>) the response is graded. Figure 3b shows the strongest correlation, with <inline-formula><tex-math>r = 0.91</tex-math></inline-formula>.</p>
</sec>
</body>
<floats-group>
<fig id="f1"><label>Figure 1</label><caption><title>Fluorescence micrograph of nuclear foci</title><p>Confocal microscopy image of yeast cells 10 min after heat stress; scale bar 5 &#x00b5;m.</p></caption><graphic xlink:href="pmc9000001-f1.tif"/></fig>
<fig id="f2"><label>Figure 2</label><caption><title>Growth curves.</title><p>Optical density versus time for three strains (k = 1, 2, 3).</p></caption><graphic xlink:href="pmc9000001-f2"/></fig>
<fig id="f3"><label>Figure 3</label><caption><p>Heatmap of pairwise correlation between foci count and growth rate across 24 strains and 32 conditions.</p></caption><graphic xlink:href="pmc9000001-f3.jpg"/></fig>
</floats-group>
</article>
"""

ARTICLE2 = HEAD + """<article xmlns:xlink="http://www.w3.org/1999/xlink" article-type="research-article">
<front>
<journal-meta><journal-title-group><journal-title>bioRxiv</journal-title></journal-title-group><publisher><publisher-name>Cold Spring Harbor Laboratory</publisher-name></publisher></journal-meta>
<article-meta>
<article-id pub-id-type="doi">10.1101/2024.01.02.000002</article-id>
<article-categories><subj-group subj-group-type="author-type"><subject>Regular Article</subject></subj-group>
<subj-group subj-group-type="hwp-journal-coll"><subject>Ecology</subject></subj-group></article-categories>
<title-group><article-title>A sensor network for river ecology</article-title></title-group>
<permissions><license license-type="cc_by"><ali:license_ref xmlns:ali="http://www.niso.org/schemas/ali/1.0/">http://creativecommons.org/licenses/by/4.0/</ali:license_ref></license></permissions>
<abstract><title>Abstract</title><p>We deploy sensors along a river and stream their readings through an encoder.</p></abstract>
</article-meta>
</front>
<body>
<sec><title>Methods</title>
<p>The processing pipeline (<xref ref-type="fig" rid="F1">Figure 1</xref>) encodes readings on the node. Sensor sites are marked in <xref ref-type="fig" rid="F2">Fig. 2</xref>.</p>
</sec>
</body>
<back><app-group><app><title>Appendix</title><p>The map in <xref ref-type="fig" rid="F2">Figure 2</xref> uses public elevation data.</p></app></app-group></back>
<floats-group>
<fig id="F1" position="float"><label>Figure 1.</label><caption><title>Schematic of the processing pipeline.</title><p>Input readings pass through the encoder to the output stage.</p></caption><graphic xlink:href="media/F1.large.png"/></fig>
<fig id="F2" position="float"><label>Figure 2.</label><caption><title>Map of the sensor sites (red dots) along the river.</title></caption><graphic xlink:href="media/F2.large.jpg"/></fig>
</floats-group>
</article>
"""

ARTICLE3 = HEAD + """<article xmlns:xlink="http://www.w3.org/1999/xlink" article-type="case-report">
<front>
<journal-meta><journal-title-group><journal-title>Demo Reports in Radiology</journal-title></journal-title-group></journal-meta>
<article-meta>
<article-id pub-id-type="pmc">PMC9000003</article-id>
<article-id pub-id-type="pmid">9000003</article-id>
<article-categories><subj-group><subject>Radiology</subject></subj-group></article-categories>
<title-group><article-title>Incidental finding on chest CT and its phenolic culprit</article-title></title-group>
<permissions><license><license-p>This is an open access article under the terms of the <ext-link ext-link-type="uri" xlink:href="http://creativecommons.org/licenses/by/4.0/">Creative Commons Attribution License</ext-link>.</license-p></license></permissions>
<abstract><p>A chest CT scan showed a lesion later linked to phenol exposure.</p></abstract>
</article-meta>
</front>
<body>
<p>The axial CT slice (<xref ref-type="fig" rid="fig1">Figure 1</xref>) shows symmetric lungs. The compound is drawn in <xref ref-type="fig" rid="fig2">Figure 2</xref>.
<fig id="fig1"><label>Figure 1</label><caption><p>Axial chest CT scan at the level of the carina.</p></caption><graphic xlink:href="crr-9000003-g001.jpg"/></fig>
</p>
<p>Exposure was confirmed by history.</p>
<fig id="fig2"><label>Figure 2</label><caption><p>Chemical structure of phenol.</p></caption><graphic xlink:href="crr-9000003-g002.jpg"/></fig>
</body>
</article>
"""


def main() -> None:
    a1 = HERE / "PMC9000001"
    (a1 / "article.nxml").parent.mkdir(parents=True, exist_ok=True)
    (a1 / "article.nxml").write_text(ARTICLE1, encoding="utf-8")
    save(micrograph(1), a1 / "pmc9000001-f1.tif", "TIFF", compression="tiff_deflate")
    png = plot_png()
    (a1 / "pmc9000001-f2.png").write_bytes(png)
    Image.open(io.BytesIO(png)).convert("RGB").resize((80, 60)).save(a1 / "pmc9000001-f2.gif", "GIF")  # thumbnail
    save(heatmap(2), a1 / "pmc9000001-f3.jpg", "JPEG", quality=90)

    a2 = HERE / "biorxiv-2024-000002"
    a2.mkdir(parents=True, exist_ok=True)
    (a2 / "000002.xml").write_text(ARTICLE2, encoding="utf-8")
    save(schematic(), a2 / "media" / "F1.large.png", "PNG")
    save(map_image(), a2 / "media" / "F2.large.jpg", "JPEG", quality=90)

    files = {"PMC9000003/crr-9000003.nxml": ARTICLE3.encode("utf-8")}
    for name, img in (("crr-9000003-g001.jpg", ct_scan()), ("crr-9000003-g002.jpg", molecule())):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        files[f"PMC9000003/{name}"] = buf.getvalue()
    with tarfile.open(HERE / "PMC9000003.tar.gz", "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            tf.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    main()
