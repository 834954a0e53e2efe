"""Draw the figures of the demo sample shipped in builder/sample/ (run once; output is committed).

    python scripts/make_sample.py

Each figure is drawn with matplotlib to look like its modality; records are written to
builder/sample/manifest.jsonl with the contract's fields.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "builder" / "sample"
rng = np.random.default_rng(7)

PAPERS = {
    "2101.00123": dict(
        source="arxiv", categories=["cond-mat.str-el", "hep-th"], license="http://creativecommons.org/licenses/by/4.0/",
        title="Spin correlations in a frustrated kagome antiferromagnet",
        abstract="We study spin correlations of the kagome Heisenberg antiferromagnet with exact diagonalisation "
                 "and tensor networks. The structure factor shows broad maxima at the M points, and the "
                 "susceptibility follows a Curie-Weiss law above the ordering temperature.",
    ),
    "10.1101/2023.05.01.538999": dict(
        source="biorxiv", categories=["Cell Biology"], license="CC-BY 4.0",
        title="Mitochondrial networks remodel under nutrient stress in yeast",
        abstract="Using live-cell fluorescence microscopy we follow mitochondrial morphology in budding yeast "
                 "starved of glucose. Networks fragment within minutes and fuse again after refeeding.",
    ),
    "2203.04567": dict(
        source="arxiv", categories=["astro-ph.GA", "astro-ph.CO"], license="http://arxiv.org/licenses/nonexclusive-distrib/1.0/",
        title="A deep survey of dwarf galaxies around Milky Way analogues",
        abstract="We present deep imaging of twelve Milky Way analogues and detect 87 dwarf satellite candidates. "
                 "The luminosity function is flatter than predicted by cold dark matter simulations.",
    ),
    "2305.11111": dict(
        source="arxiv", categories=["cs.LG", "stat.ML"], license="http://creativecommons.org/licenses/by/4.0/",
        title="Sparse attention for long scientific documents",
        abstract="We propose a sparse attention pattern for transformers reading long scientific papers. It "
                 "matches dense attention on summarisation while using a fraction of the memory.",
    ),
    "10.1101/2024.02.02.24302222": dict(
        source="medrxiv", categories=["Radiology and Imaging"], license="CC-BY-NC 4.0",
        title="Automated detection of pulmonary nodules in low-dose CT",
        abstract="A convolutional detector trained on 4,000 low-dose CT scans finds pulmonary nodules with a "
                 "sensitivity of 94% at one false positive per scan.",
    ),
    "10.26434/chemrxiv-2022-abcde": dict(
        source="chemrxiv", categories=["Organic Chemistry"], license="CC BY 4.0",
        title="A one-pot synthesis of substituted benzimidazoles",
        abstract="We report a one-pot condensation that yields substituted benzimidazoles in high yield under "
                 "mild conditions, and characterise the products by NMR.",
    ),
}


def fig_plot(ax):
    t = np.linspace(0.1, 10, 200)
    for j in (0.5, 1.0, 2.0):
        ax.plot(t, 1 / (t + j) + 0.02 * rng.standard_normal(t.size), label=f"J={j}")
    ax.set_xlabel("T / J")
    ax.set_ylabel(r"$\chi$")
    ax.legend()


def fig_heatmap(ax):
    x = np.linspace(-np.pi, np.pi, 80)
    z = np.cos(x)[:, None] + np.cos(x)[None, :] + 0.3 * rng.standard_normal((80, 80))
    im = ax.imshow(z, cmap="inferno", origin="lower")
    plt.colorbar(im, ax=ax)
    ax.set_title("S(q)")


def fig_microscopy(ax):
    img = rng.normal(0.1, 0.05, (200, 200))
    for _ in range(25):
        cx, cy = rng.integers(10, 190, 2)
        yy, xx = np.mgrid[:200, :200]
        img += np.exp(-(((xx - cx) ** 2) / 30 + ((yy - cy) ** 2) / 8))
    ax.imshow(img, cmap="Greens")
    ax.axis("off")
    ax.plot([150, 190], [190, 190], color="white", lw=3)


def fig_astro(ax):
    img = rng.normal(0.02, 0.01, (256, 256))
    yy, xx = np.mgrid[:256, :256]
    for _ in range(60):
        cx, cy = rng.integers(0, 256, 2)
        img += rng.uniform(0.1, 1) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 3)
    img += 0.8 * np.exp(-(((xx - 128) / 30) ** 2 + ((yy - 128) / 12) ** 2))
    ax.imshow(np.arcsinh(img * 5), cmap="gray", origin="lower")
    ax.axis("off")


def fig_diagram(ax):
    for i, name in enumerate(["tokens", "sparse\nattention", "FFN", "output"]):
        ax.add_patch(plt.Rectangle((0.05 + i * 0.24, 0.4), 0.18, 0.2, fill=False, lw=2))
        ax.text(0.14 + i * 0.24, 0.5, name, ha="center", va="center")
        if i < 3:
            ax.annotate("", xy=(0.29 + i * 0.24, 0.5), xytext=(0.23 + i * 0.24, 0.5), arrowprops=dict(arrowstyle="->"))
    ax.axis("off")


def fig_medical(ax):
    yy, xx = np.mgrid[:256, :256]
    body = ((xx - 128) / 110) ** 2 + ((yy - 128) / 80) ** 2 < 1
    lungs = (((xx - 85) / 35) ** 2 + ((yy - 125) / 55) ** 2 < 1) | (((xx - 171) / 35) ** 2 + ((yy - 125) / 55) ** 2 < 1)
    img = 0.6 * body - 0.5 * lungs + 0.05 * rng.standard_normal((256, 256))
    img += 0.5 * np.exp(-((xx - 160) ** 2 + (yy - 110) ** 2) / 20)
    ax.imshow(img, cmap="gray")
    ax.axis("off")


def fig_molecule(ax):
    ang = np.linspace(0, 2 * np.pi, 7)[:-1]
    x, y = np.cos(ang), np.sin(ang)
    ax.plot(np.append(x, x[0]), np.append(y, y[0]), "k-", lw=2)
    x2, y2 = x + 1.7, y
    ax.plot([x[0], x2[3]], [y[0], y2[3]], "k-", lw=2)
    for xi, yi in zip(np.append(x, x2), np.append(y, y2)):
        ax.plot(xi, yi, "o", color="gray", ms=10)
    ax.text(0.85, 0.0, "N", fontsize=16, color="blue")
    ax.set_aspect("equal")
    ax.axis("off")


def fig_bar(ax):
    ax.bar(["dense", "local", "ours"], [31.2, 28.9, 31.0], color=["gray", "gray", "tab:blue"])
    ax.set_ylabel("ROUGE-L")


def fig_spectrum(ax):
    ppm = np.linspace(0, 10, 500)
    y = sum(a * np.exp(-((ppm - c) ** 2) / 0.002) for a, c in ((1, 7.3), (0.6, 7.6), (0.4, 2.5), (0.9, 3.9)))
    ax.plot(ppm, y, "k")
    ax.invert_xaxis()
    ax.set_xlabel("chemical shift (ppm)")


FIGURES = [
    ("2101.00123", "fig:chi", "plot", fig_plot, "Magnetic susceptibility versus temperature for three couplings J.",
     ["As shown in Fig. 1, the susceptibility follows a Curie-Weiss law above T = J."]),
    ("2101.00123", "fig:sq", "heatmap", fig_heatmap, "Static structure factor S(q) in the first Brillouin zone.",
     ["The structure factor in Fig. 2 has broad maxima at the M points."]),
    ("10.1101/2023.05.01.538999", "Figure 1", "microscopy", fig_microscopy,
     "Mitochondria (green) in glucose-starved yeast cells. Scale bar, 5 um.",
     ["Mitochondrial networks fragment within 10 minutes of starvation (Figure 1)."]),
    ("2203.04567", "fig:field", "astronomical_image", fig_astro, "Deep r-band image of the field around NGC 1234.",
     ["Figure 1 shows the stacked image; candidates are marked in Fig. 2."]),
    ("2203.04567", "fig:lf", "plot", fig_plot, "Luminosity function of the satellite candidates.",
     ["The luminosity function (Fig. 3) is flatter than the CDM prediction."]),
    ("2305.11111", "fig:arch", "diagram", fig_diagram, "Overview of the sparse attention block.",
     ["Figure 1 sketches the block: tokens pass through sparse attention and a feed-forward layer."]),
    ("2305.11111", "fig:results", "plot", fig_bar, "ROUGE-L of dense, local and sparse attention.",
     ["Sparse attention nearly matches dense attention (Fig. 2)."]),
    ("10.1101/2024.02.02.24302222", "Figure 2", "medical_image", fig_medical, "Axial low-dose CT slice with a detected nodule.",
     ["An example detection is shown in Figure 2."]),
    ("10.26434/chemrxiv-2022-abcde", "Scheme 1", "molecular_structure", fig_molecule, "Structure of benzimidazole product 3a.",
     ["Product 3a (Scheme 1) was obtained in 92% yield."]),
    ("10.26434/chemrxiv-2022-abcde", "Figure 2", "plot", fig_spectrum, "1H NMR spectrum of 3a in CDCl3.",
     ["The 1H NMR spectrum (Figure 2) shows the aromatic protons at 7.3-7.6 ppm."]),
]


def main() -> None:
    import sys

    sys.path.insert(0, str(OUT.parents[1]))
    from s1mmalign_dataset import discipline_for_tags, make_key

    (OUT / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for paper_id, label, modality, draw, caption, contexts in FIGURES:
        p = PAPERS[paper_id]
        key = make_key(p["source"], paper_id, label)
        fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
        draw(ax)
        fig.tight_layout()
        fig.savefig(OUT / "images" / f"{key}.png")
        plt.close(fig)
        lines.append(dict(
            key=key, image=f"images/{key}.png", caption=caption, recaption=None, title=p["title"],
            abstract=p["abstract"], citation_contexts=contexts, paper_id=paper_id, figure_label=label,
            source=p["source"], categories=p["categories"], discipline=discipline_for_tags(p["categories"]),
            modality=modality, modality_method="sample", license=p["license"],
        ))
    with open(OUT / "manifest.jsonl", "w") as f:
        for rec in lines:
            f.write(json.dumps(rec) + "\n")
    print(f"wrote {len(lines)} figures to {OUT}")


if __name__ == "__main__":
    main()
