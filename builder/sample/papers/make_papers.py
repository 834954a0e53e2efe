"""Writes builder/sample/papers: three small arXiv-style sources with PNG/PDF/EPS figures + OAI metadata.

Run: python builder/sample/papers/make_papers.py builder/sample/papers  (needs matplotlib; output is what is committed).
"""
import io, json, tarfile, shutil, sys
from pathlib import Path
import numpy as np
import matplotlib; matplotlib.use("Agg")
import matplotlib.pyplot as plt

OUT = Path(sys.argv[1]); OUT.mkdir(parents=True, exist_ok=True)
for old in ("2401.00001.tar.gz", "2401.00002", "2401.00003.tar.gz"):
    shutil.rmtree(OUT / old, ignore_errors=True) if (OUT / old).is_dir() else (OUT / old).unlink(missing_ok=True)
rng = np.random.default_rng(7)

def fig_bytes(kind, fmt, seed):
    r = np.random.default_rng(seed)
    f, ax = plt.subplots(figsize=(4, 3), dpi=100)
    if kind == "line":
        x = np.linspace(0.1, 5, 200)
        for j in range(3):
            ax.plot(x, 1 / (x + 0.3 * (j + 1)) + 0.02 * r.standard_normal(200), label=f"J={j+1}")
        ax.set_xlabel("T / J"); ax.set_ylabel("chi"); ax.legend()
    elif kind == "heat":
        ax.imshow(r.standard_normal((40, 40)).cumsum(0), cmap="viridis"); ax.set_title("S(q)")
    elif kind == "scatter":
        ax.scatter(r.standard_normal(300), r.standard_normal(300), s=4, c=r.random(300)); ax.set_xlabel("x")
    elif kind == "bar":
        ax.bar(range(8), r.random(8) + 0.2, yerr=0.05); ax.set_ylabel("accuracy")
    elif kind == "hist":
        ax.hist(r.standard_normal(2000) * 0.7 + 1.5, bins=40); ax.set_xlabel("log M")
    f.tight_layout()
    b = io.BytesIO(); f.savefig(b, format=fmt); plt.close(f)
    return b.getvalue()

def tar_gz(path, files):
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            data = data.encode() if isinstance(data, str) else data
            ti = tarfile.TarInfo(name); ti.size = len(data); ti.mtime = 1700000000
            tf.addfile(ti, io.BytesIO(data))

P1 = {
"main.tex": r"""\documentclass[twocolumn]{revtex4-2}
\usepackage{graphicx}
\usepackage{subcaption}
\usepackage{cleveref}
\graphicspath{{figures/}}
\newcommand{\Jp}{J^{\prime}}
\begin{document}
\title{Spin liquid signatures in a distorted kagome magnet}
\author{A. Author}
\begin{abstract}
We compute the magnetic susceptibility and the static structure factor of a distorted kagome
Heisenberg model with couplings $J$ and $\Jp$.
\end{abstract}
\maketitle
\section{Introduction}
Kagome magnets are prime candidates for quantum spin liquids. The susceptibility in
Fig.~\ref{fig:chi} follows a Curie--Weiss law above $T \approx J$. We summarise all results in
Figs.~\ref{fig:chi}--\ref{fig:sq}.
\input{sections/results}
\begin{figure}[t]
  \centering
  \includegraphics[width=\columnwidth]{chi}
  \caption{Magnetic susceptibility $\chi(T)$ versus temperature $T/J$ for three couplings
  $\Jp/J \in \{0.5, 1, 2\}$. Lines are guides to the eye.}
  \label{fig:chi}
\end{figure}
\begin{figure*}[t]
  \begin{subfigure}{0.48\textwidth}
    \includegraphics[width=\linewidth]{sq_exact.pdf}
    \caption{Exact diagonalisation}\label{fig:sq:ed}
  \end{subfigure}\hfill
  \begin{subfigure}{0.48\textwidth}
    \includegraphics[width=\linewidth]{sq_tn}
    \caption{Tensor network}\label{fig:sq:tn}
  \end{subfigure}
  \caption{Static structure factor $S(\mathbf{q})$ in the extended Brillouin zone: (a) exact
  diagonalisation on 36 sites, (b) tensor networks with bond dimension $D=8$.}
  \label{fig:sq}
\end{figure*}
\end{document}
""",
"sections/results.tex": r"""\section{Results}
The structure factor in \cref{fig:sq} has broad maxima at the $M$ points. The tensor-network
data of Fig.~\ref{fig:sq:tn} agree with exact diagonalisation (\Cref{fig:sq:ed}) within 2\%.
""",
"figures/chi.png": fig_bytes("line", "png", 1),
"figures/sq_exact.pdf": fig_bytes("heat", "pdf", 2),
"figures/sq_tn.png": fig_bytes("heat", "png", 3),
}
tar_gz(OUT / "2401.00001.tar.gz", P1)

P2dir = OUT / "2401.00002"
P2 = {
"ms.tex": r"""\documentclass{aastex631}
\usepackage{graphicx,wrapfig}
\begin{document}
\title{The stellar mass function of dwarf galaxies in the Local Volume}
\begin{abstract}
We measure stellar masses of 300 dwarf galaxies and compare their mass function with
cold dark matter predictions.
\end{abstract}
\section{Data}
Our sample spans four decades in stellar mass (\autoref{fig:hist}). Masses were derived from
$K$-band luminosities with a mass-to-light ratio of $0.6\,M_\odot/L_\odot$. The colour--mass
relation in Fig.~\ref{fig:scatter}b shows no break.
\begin{figure}
\plotone{hist.eps}
\caption{Histogram of $\log(M_\star/M_\odot)$ for the 300 dwarf galaxies of the sample.}
\label{fig:hist}
\end{figure}
\begin{wrapfigure}{r}{0.45\textwidth}
\includegraphics[width=0.44\textwidth]{scatter.png}
\caption{Colour versus stellar mass; the colour scale is the H\,\textsc{i} gas fraction.}
\label{fig:scatter}
\end{wrapfigure}
\begin{table}
\caption{Sample summary.}
\begin{tabular}{lc} N & 300 \\ \end{tabular}
\end{table}
As Figures~\ref{fig:hist} and~\ref{fig:scatter} show, the sample is complete above $10^7\,M_\odot$.
\end{document}
""",
"hist.eps": fig_bytes("hist", "eps", 4),
"scatter.png": fig_bytes("scatter", "png", 5),
}
P2dir.mkdir()
for n, d in P2.items():
    (P2dir / n).write_bytes(d.encode() if isinstance(d, str) else d)

P3 = {
"paper.tex": r"""\documentclass{article}
\input{macros}
\usepackage{graphicx,subfig,tikz}
\begin{document}
\title{Sparse \method{} for tabular benchmarks}
\begin{abstract}
We introduce \method{}, a sparse mixture model, and report its accuracy on eight benchmarks.
\end{abstract}
\section{Method}
The architecture is drawn in Figure~\ref{fig:arch}. Accuracies are in Fig.~\ref{fig:acc}.
\begin{figure}
\centering
\begin{tikzpicture}\draw (0,0) -- (1,1);\end{tikzpicture}
\caption{Architecture of \method{}.}
\label{fig:arch}
\end{figure}
\begin{figure}
\centering
\subfloat[Accuracy per benchmark]{\includegraphics[width=0.45\linewidth]{acc.png}\label{fig:acc:a}}
\subfloat[Training curve]{\includegraphics[width=0.45\linewidth]{curve}}
\caption{Results of \method{} (\textbf{bold}: best) on the eight benchmarks, averaged over 5 seeds.}
\label{fig:acc}
\end{figure}
\end{document}
""",
"macros.tex": r"\newcommand{\method}{SpaMix}" + "\n",
"acc.png": fig_bytes("bar", "png", 6),
"curve.eps": fig_bytes("line", "eps", 7),
}
tar_gz(OUT / "2401.00003.tar.gz", P3)

meta = [
 {"id": "2401.00001", "submitter": "A. Author", "authors": "A. Author", "title": "Spin liquid signatures in a\n  distorted kagome magnet",
  "abstract": "  We compute the magnetic susceptibility and the static structure factor of a distorted kagome\nHeisenberg model.\n",
  "categories": "cond-mat.str-el cond-mat.mtrl-sci", "license": "http://creativecommons.org/licenses/by/4.0/", "doi": None,
  "versions": [{"version": "v1", "created": "Mon, 1 Jan 2024 00:00:00 GMT"}], "update_date": "2024-01-01"},
 {"id": "2401.00002", "submitter": "B. Author", "authors": "B. Author", "title": "The stellar mass function of dwarf galaxies in the Local Volume",
  "abstract": "We measure stellar masses of 300 dwarf galaxies.", "categories": "astro-ph.GA astro-ph.CO",
  "license": "http://creativecommons.org/licenses/by-sa/4.0/", "doi": "10.0000/example.2", "update_date": "2024-01-02"},
 {"id": "2401.00003", "submitter": "C. Author", "authors": "C. Author", "title": "Sparse SpaMix for tabular benchmarks",
  "abstract": "We introduce SpaMix, a sparse mixture model.", "categories": "cs.LG stat.ML",
  "license": "http://creativecommons.org/licenses/by/4.0/", "doi": None, "update_date": "2024-01-03"},
]
with open(OUT / "arxiv-metadata.jsonl", "w") as f:
    for m in meta: f.write(json.dumps(m) + "\n")
(OUT / "README.md").write_text("""# Sample arXiv papers (written for this project's demo and tests; CC0)

Three small papers in the forms arXiv distributes them: `2401.00001.tar.gz` (gzipped tar: `\\input`,
`\\graphicspath`, sub-figures, PNG + PDF), `2401.00002/` (unpacked: EPS via `\\plotone`, `wrapfigure`, a table),
`2401.00003.tar.gz` (main file `paper.tex` with macros from `\\input{macros}`, `\\subfloat`, a TikZ figure with no
image file, which ingest rejects as `no_graphics`). `arxiv-metadata.jsonl` is in the arXiv OAI snapshot format.

    s1mmalign ingest builder/sample/papers OUT --arxiv-metadata builder/sample/papers/arxiv-metadata.jsonl
""")
