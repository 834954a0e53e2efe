"""The rules modality stage on release records and on each signal (model recaption, caption,
file name, citing text, image statistics) with its precedence and confidence."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.release import RECAPTION_MODEL, to_record
from s1mmalign.builder.stages import modality_signals as signals
from s1mmalign.builder.stages.modality import classify_caption, make_classifier, relabel_from_recaption


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _page_figure(seed: int) -> Image.Image:
    """White page line art: what most figures look like to the image statistics."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (320, 240), "white")
    d = ImageDraw.Draw(img)
    d.line([(30, 210), (310, 210)], fill="black")
    d.line([(30, 10), (30, 210)], fill="black")
    pts = [(30 + 10 * i, int(120 + 60 * np.sin(i / 3 + seed) + rng.normal(0, 5))) for i in range(28)]
    d.line(pts, fill=(200, 30, 30), width=2)
    return img


# Recaptions phrased as a vision-language model writes them, with captions that name nothing or
# mislead the caption rules ("contour map" is a heatmap, a dish photo caption names a "plate").
RELEASE = [
    ("plot", "The figure displays a line plot of the normalized flux versus time for three filters, with error bars.",
     "Light curves of the transient."),
    ("plot", "This image presents a scatter plot comparing predicted and measured energies.", "Comparison of the models."),
    ("heatmap", "The figure displays a filled contour plot of the posterior density over the two parameters.",
     "Contour map of the posterior."),
    ("heatmap", "The image shows a heatmap of pairwise correlation coefficients between twelve genes.", "Gene co-expression."),
    ("microscopy", "This is a fluorescence micrograph of HeLa cells stained for actin (green) and DNA (blue).",
     "Cells after 24 h of treatment."),
    ("microscopy", "The image depicts a scanning electron microscopy view of the porous film surface.", "Surface morphology."),
    ("map", "The figure is a map of the study region showing the sampling sites as red dots along the coast.",
     "Sampling sites."),
    ("diagram", "The figure illustrates a schematic diagram of the proposed encoder-decoder architecture.",
     "Overview of our method."),
    ("diagram", "This flowchart depicts the steps of the data processing pipeline.", "Processing steps."),
    ("photograph", "The image is a photograph of three Petri dishes with bacterial colonies on agar.", "Growth on plates."),
    ("photograph", "A photo of the experimental setup showing the laser, lenses and the sample stage.", "Setup."),
    ("molecular_structure", "The figure shows the chemical structures of the four synthesized compounds, drawn as skeletal formulae.",
     "Compounds 1-4."),
    ("molecular_structure", "The image displays the crystal structure of the protein-ligand complex in ribbon representation.",
     "Binding mode."),
]


def _release_records() -> list[dict]:
    out = []
    for i, (_, recaption, caption) in enumerate(RELEASE):
        row = {"image_path": f"2101.0000{i}/fig{i}.png", "caption": caption, "recaption": recaption,
               "arxiv_id": f"2101.0000{i}", "categories": "astro-ph.GA", "title": "T", "abstract": "A"}
        out.append(to_record("arxiv", row, _png(_page_figure(i)), f"arxiv/2101/fig{i}.png"))
    return out


def test_release_records_are_labelled_from_their_recaption_and_none_is_left_other():
    records = _release_records()
    assert all(r["recaption_model"] == RECAPTION_MODEL for r in records)
    out = make_classifier("rules")(records, Rejects())
    got = [(r["modality"], r["modality_method"]) for r in out]
    assert [m for m, _ in got] == [m for m, _, _ in RELEASE], got
    assert all(method.startswith("rules:recaption") for _, method in got), got
    # the caption rules alone get several of these wrong (the "contour map" -> map)
    assert sum(classify_caption(c)[0] != m for m, _, c in RELEASE) >= 4


def test_recaption_outweighs_a_misleading_caption_but_not_without_a_model():
    rec = {"caption": "Map of the sampling sites.", "recaption": "The figure displays a filled contour plot of the field.",
           "recaption_model": "vllm:Qwen/Qwen2.5-VL-7B-Instruct@main/prompt-v2", "image": {"bytes": _png(_page_figure(1))}}
    out = make_classifier("rules")([rec], Rejects())[0]
    assert (out["modality"], out["modality_method"]) == ("heatmap", "rules:recaption")
    # a text-only recaption (the context backend never saw the image) is not a signal
    rec_ctx = dict(rec, recaption_model="context:rules/prompt-v1")
    out = make_classifier("rules")([rec_ctx], Rejects())[0]
    assert (out["modality"], out["modality_method"]) == ("map", "rules:caption")


def test_file_name_and_citing_text_decide_when_the_caption_names_nothing():
    blank = Image.new("RGB", (200, 150), (128, 128, 128))
    batch = [
        {"caption": "Sample B after annealing.", "image": {"bytes": _png(blank), "path": "sem_sampleB.tif"}},
        {"caption": "Results.", "image_path": "fig3-heatmap.png", "image": {"bytes": _png(blank)}},
        {"caption": "Region 2.", "citation_contexts": ["The confocal micrograph in Fig. 2 shows the stained nuclei."],
         "image": {"bytes": _png(blank)}},
    ]
    out = make_classifier("rules")(batch, Rejects())
    assert [(r["modality"], r["modality_method"]) for r in out] == [
        ("microscopy", "rules:file"), ("heatmap", "rules:file"), ("microscopy", "rules:context")]


def test_low_confidence_is_other_and_image_statistics_alone_are_a_weak_vote():
    grey = Image.new("RGB", (200, 150), (128, 128, 128))
    out = make_classifier("rules")([{"caption": "Results.", "image": {"bytes": _png(grey)}},
                                    {"caption": "Results.", "image": {"bytes": _png(_page_figure(3))}}], Rejects())
    assert (out[0]["modality"], out[0]["modality_method"]) == ("other", "rules:none")
    assert (out[1]["modality"], out[1]["modality_method"]) == ("plot", "rules:image")  # page-white line art
    # two signals that disagree with equal weight: the stronger precedence wins, confidence halves
    d = signals.combine({"caption": ("map", 1.0), "file": ("plot", 1.0), "context": ("heatmap", 1.0)})
    assert d.modality == "map" and d.confidence == 0.5 and d.method == "rules:caption"
    assert signals.combine({"image": ("astronomical_image", 0.3)}).modality == "other"
    assert signals.combine({}).method == "rules:none"


def test_caption_rules_regressions_from_real_papers():
    assert classify_caption("Contour map of the misfit over both parameters.")[0] == "heatmap"
    assert classify_caption("Map of the study area with the contour lines of elevation.")[0] == "map"
    assert classify_caption("Colonies grown on a Petri dish after 48 h.")[0] == "photograph"
    assert signals.recaption_vote("")[0] == "other"
    assert signals.recaption_vote("The figure shows three panels. Each is a histogram of counts.") == ("plot", 0.4)


# What a vision-language model writes for each modality of the demo sample (release recaptions).
SAMPLE_RECAPTIONS = {
    "plot": "The figure displays a line plot with three curves and error bars against the horizontal axis.",
    "heatmap": "The image shows a heatmap of intensity over a two-dimensional grid with a colour bar.",
    "microscopy": "This is a fluorescence micrograph of cells with a scale bar in the corner.",
    "astronomical_image": "The figure presents a deep telescope image of a galaxy field with faint sources.",
    "diagram": "The figure illustrates a schematic diagram of blocks connected by arrows.",
    "medical_image": "The image is an axial CT slice of the chest with a nodule marked.",
    "molecular_structure": "The figure shows the chemical structure of a small molecule drawn as a skeletal formula.",
}


def test_build_and_convert_label_release_records_from_their_recaption_alike(tmp_path):
    """The build's default classify stage on a release whose captions name nothing: every record
    whose recaption names its modality gets it, none is left other, and the labels equal the
    classifier's on the same records read with ``iter_release`` and those ``convert`` writes."""
    import json
    import shutil
    from collections import Counter
    from pathlib import Path

    import pyarrow.parquet as pq
    import yaml

    from s1mmalign.builder.commands.build import run_build
    from s1mmalign.builder.sources.release import iter_release
    from s1mmalign.builder.sources.sample_release import SAMPLE_MANIFEST, sample_release

    shutil.copytree(SAMPLE_MANIFEST.parent / "images", tmp_path / "images")
    rows, want = [], {}
    for line in SAMPLE_MANIFEST.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        rec["recaption"] = SAMPLE_RECAPTIONS[rec["modality"]]
        want[Path(rec["image"]).name] = rec["modality"]
        rec["caption"] = "Results of the analysis."
        rows.append(json.dumps(rec))
    (tmp_path / "manifest.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    release = sample_release(tmp_path / "release", manifest=tmp_path / "manifest.jsonl")

    cfg = tmp_path / "build.yaml"
    cfg.write_text(yaml.safe_dump({"sources": [str(release)], "out": "out", "stages": ["ingest", "classify", "write"]}))
    assert run_build(str(cfg), progress=False)["complete"]
    table = pq.read_table(sorted((tmp_path / "out").glob("data/*/*.parquet")),
                          columns=["key", "image_path", "modality", "modality_method"]).to_pylist()
    assert len(table) == len(want)
    built = {r["key"]: (r["modality"], r["modality_method"]) for r in table}
    assert {Path(r["image_path"]).name: r["modality"] for r in table} == want
    assert all(m.startswith("rules:recaption") for _, m in built.values())

    direct = make_classifier("rules")(list(iter_release(release)), Rejects())
    assert {r["key"]: (r["modality"], r["modality_method"]) for r in direct} == built

    # convert (its preset: classify with rules, layout check off) writes the same labels
    from s1mmalign.builder.commands.convert import convert_release

    report = convert_release(release, tmp_path / "converted", progress=False, workers=1)
    assert report["modalities"] == dict(Counter(want.values()))
    converted = pq.read_table(sorted((tmp_path / "converted").glob("data/*/*.parquet")),
                              columns=["key", "modality", "modality_method"]).to_pylist()
    assert {r["key"]: (r["modality"], r["modality_method"]) for r in converted} == built


def test_recaption_content_nouns_do_not_name_the_figure_type():
    assert signals.recaption_vote("The figure shows the galaxy luminosity function as a line plot.") == ("plot", 1.0)
    assert signals.recaption_vote("The figure shows the number of molecules versus time in a line plot.") == ("plot", 1.0)
    assert signals.recaption_vote("The image shows a Hubble image of the galaxy cluster.")[0] == "astronomical_image"


def test_recaption_naming_several_types_gives_the_one_most_panels_are():
    # a composite: the kind most of its mentions stand for (plural, "many", "line and scatter")
    assert signals.recaption_vote("The figure shows a sketch of the apparatus and many line and scatter plots of the "
                                  "measured rates.") == ("plot", 1.0)
    assert signals.recaption_vote("The figure shows a flow diagram, a heat map and bar and line charts.")[0] == "plot"
    # what comes after "with" is an inset or an aside
    assert signals.recaption_vote("The figure shows a map of the study area with bar charts of catches per site.")[0] == "map"
    assert signals.recaption_vote("The figure shows a schematic and a line plot.")[0] == "diagram"  # a tie: the first
    # a word coordinated before a mention adds a panel only as a kind of it or a mention of its
    # own type, not as the tail of another type ("matrices") or a word of content ("error")
    assert signals.recaption_vote("Colour-coded dose matrices and photographs of stained well plates.")[0] == "heatmap"
    assert signals.recaption_vote("Line plots of memory and RMS error and colour-coded cross-validation grids.")[0] == "plot"
    assert signals.recaption_vote("Markov chain diagrams with time series and line plots.")[0] == "plot"


def test_recaption_vocabulary_of_figure_types():
    cases = {
        "A scatter plot of the two principal components with a dendrogram beside it.": ("plot", 1.0),  # its subject
        "Grey images of the sample field, with colour bars.": ("heatmap", 0.7),  # weak: nothing else named
        "The figure shows a CAD rendering of the instrument housing.": ("diagram", 1.0),
        "The figure shows an exploded view of the gearbox assembly.": ("diagram", 1.0),
        "The image shows an engineering drawing of the mount, with a microscope objective.": ("diagram", 1.0),
        "The figure displays a biplot of an ordination of sites and species.": ("plot", 1.0),
        "The figure shows a stereographic projection of the magnetisation directions.": ("plot", 1.0),
        "The figure shows a correlation matrix of twenty traits.": ("heatmap", 1.0),
        "The figure shows a colour map of the electric potential over the electrode.": ("heatmap", 1.0),
        "The figure displays a table of the fitted parameters.": ("other", 1.0),
        "The figure shows spectrograms of the recorded calls.": ("heatmap", 1.0),
        "The figure shows a t-SNE embedding of single-cell profiles coloured by cluster.": ("plot", 1.0),
        "The figure shows a Sankey diagram of energy flows.": ("diagram", 1.0),
        "The figure shows streamlines of the mean flow around the cylinder.": ("plot", 1.0),
        "A 3D projection of labelled cells in a collagen gel.": ("microscopy", 0.7),  # weak: nothing else named
        "Network graphs of pathways with gene nodes, and bar charts of enriched terms.": ("diagram", 1.0),
        "The figure shows a dependency graph of the package's modules.": ("diagram", 1.0),
        "Maps of cell positions and stacks of red and green traces with bar charts.": ("plot", 0.7),  # no geography
        "A line of R model code with the predictors coloured and function names under them.": ("other", 1.0),
        "The figure shows Python plotting code.": ("other", 1.0),
        "Grayscale CT projections of several small fish in a round holder.": ("medical_image", 1.0),
        "The figure shows micro-CT cross-sections of a mouse tibia.": ("medical_image", 1.0),
        "The figure shows a lensed ring image, a model image and the reconstructed source.": ("astronomical_image", 1.0),
        "A 3D rendered terrain elevation surface coloured by slope.": ("map", 1.0),
        "A stipple drawing of a potted plant made of black dots.": ("other", 1.0),  # artwork, not data
        "A grid of small synthetic images of noisy textures generated by a model.": ("other", 1.0),  # no photos
        "Samples generated by the diffusion model for four prompts.": ("other", 1.0),
        "Generated images beside a line plot of the training loss.": ("plot", 1.0),  # a figure type wins
        "A black-and-white matrix sparsity pattern with nonzero entries along the diagonal.": ("heatmap", 1.0),
        "A grid of seven axial brain MRI maps of fractional anisotropy, each with a colour bar.": ("medical_image", 1.0),
        "The figure shows FA maps and ADC maps of two patients.": ("medical_image", 1.0),  # no geography
        "A rendered top-down frame of a car-racing game on a grey road.": ("other", 1.0),  # software on a screen
        "The figure shows a geological map of the study area.": ("map", 1.0),
        "A 3D rendering of a triangular surface mesh of a cylindrical tube with a notch.": ("diagram", 1.0),
        "A gallery of twelve finite-element simulation renderings of fracture and flow.": ("diagram", 1.0),
        "A surface mesh of the aorta coloured by wall shear stress.": ("medical_image", 1.0),  # anatomy first
        "A colour-coded field of sea surface temperature with coastlines and a colour bar.": ("map", 1.0),
        "A colour-coded cost grid inside a coastline-like outline.": ("heatmap", 1.0),  # no geography
        "Fluorescence lifetime images of cells at four time points, coloured by lifetime.": ("microscopy", 1.0),
        "The figure shows images of HeLa cells after treatment.": ("microscopy", 1.0),
        "Three square panels of spatial colour maps in viridis.": ("heatmap", 1.0),
        "The figure shows a colour map of a magnetic anomaly over east and north distance in km.": ("map", 1.0),
    }
    for text, want in cases.items():
        assert signals.recaption_vote(text) == want, text
    # the instrument is not the image: "microscope" names no micrograph
    assert signals.recaption_vote("The figure shows a photograph of the microscope on an optical table.")[0] == "photograph"


def test_caption_rules_name_drawings_trees_and_stereonets():
    assert classify_caption("A cartoon of the light path through the microscope stand and the tube lens.")[0] == "diagram"
    assert classify_caption("Phylogenetic tree of 40 strains based on the clustering of their expression profiles.")[0] == "diagram"
    assert classify_caption("Stereonet of the estimated magnetisation directions for each source.")[0] == "plot"
    assert classify_caption("Cells imaged under a confocal microscope after 24 h.")[0] == "microscopy"


# Recaptions as a vision-language model writes them, several per modality, over the vocabulary
# each modality is described with (written from general knowledge, not from the evaluation set).
VOCABULARY = {
    "other": [
        "The image is a screenshot of a graphical user interface showing menus, buttons and input fields.",
        "This is a screenshot of a web page with a navigation bar and a search box.",
        "The image shows terminal output of a command-line tool listing the installed packages.",
        "The figure displays a code snippet in Python that defines a training loop.",
        "The image shows the logo of the software package: a stylised blue bird above its name.",
        "The figure presents a table of benchmark results for five solvers.",
        "The image shows a set of equations describing the governing dynamics.",
        "The figure shows a photograph of a handwritten manuscript page.",  # a document: text, not a photograph
        "The image shows the directory tree of the repository.",
        "A screenshot of a Jupyter notebook session with cells of code.",
    ],
    "medical_image": [
        "The figure presents a 3D rendering of a patient-specific carotid artery coloured by wall shear stress.",
        "The image shows a surface mesh reconstruction of the abdominal aorta with an aneurysm.",
        "The image is an axial CT scan of the chest showing a nodule in the right lung.",
        "The figure shows sagittal T1-weighted MRI slices of the brain.",
        "The image is a chest X-ray of a patient with pneumonia.",
        "The figure displays an ultrasound image of the carotid bifurcation.",
        "The image is a coronary angiogram with a stenosis marked by an arrow.",
        "The figure shows PET/CT images of a tumour in the liver.",
        "The image displays a volume rendering of the skull reconstructed from CT data.",
    ],
    "microscopy": [
        "The image is a scanning electron microscopy image of porous silicon.",
        "The figure shows TEM micrographs of gold nanoparticles.",
        "The image is an AFM topography image of a graphene flake.",
        "The figure shows confocal images of neurons labelled with GFP.",
        "The image shows a histology section stained with H&E.",  # histology is microscopy
        "The figure shows a kymograph of microtubule growth.",
    ],
    "molecular_structure": [
        "The figure shows a ball-and-stick model of the caffeine molecule.",
        "The image is a space-filling model of a fullerene.",
        "The figure shows a ribbon diagram of the protein dimer.",
        "The figure displays the skeletal formula of the drug candidate.",
        "The image shows the reaction scheme for the synthesis of the catalyst.",
        "The figure shows the crystal structure with the unit cell outlined.",
    ],
    "astronomical_image": [
        "The image is a Hubble image of a spiral galaxy.",
        "The figure shows an EUV image of the solar corona from SDO/AIA.",
        "The image shows a sky map of the cosmic microwave background.",
        "The image shows a telescope image of a star cluster.",
        "The image presents a radio continuum image of the jet at 5 GHz.",
    ],
    "map": [
        "The figure shows a geological map of the study area with fault lines.",
        "The image is a choropleth map of disease incidence by county.",
        "The figure displays a satellite image of the river delta.",
        "The figure shows a digital elevation model of the volcano.",
    ],
    "photograph": [
        "The image is a photograph of the experimental apparatus on an optical table.",  # "table": furniture
        "The figure shows a close-up photo of the sensor mounted on the robot arm.",
        "The image is a photograph of the field site showing the vegetation and the sampling plots.",  # plots of land
        "The figure shows video frames of a bird in flight.",
    ],
    "diagram": [
        "The figure is a flowchart of the data processing steps.",
        "The image shows a UML class diagram of the library.",
        "The image depicts a conceptual model of the interactions between soil, plants and microbes.",
        "The figure illustrates the system architecture with a database and a web server.",
        "The figure shows a circuit diagram of the amplifier.",
        "The figure shows a block diagram of the control loop.",
        "The figure shows the pipeline of the proposed method.",
        "The figure shows a decision tree for the triage of patients.",
        "The image shows a 3D CAD model of the device housing.",
    ],
    "heatmap": [
        "The figure displays a heatmap of gene expression across samples.",
        "The figure shows a confusion matrix of the classifier.",
        "The figure shows attention maps overlaid on the input images.",
        "The figure shows a spectrogram of the recorded signal.",
    ],
    "plot": [
        "The figure shows a bar chart of counts per category.",
        "The figure shows a pie chart of the market shares.",
        "The figure shows the current-voltage characteristics of the device at different temperatures.",
        "The figure illustrates the band structure of the material along high-symmetry directions.",
        "The figure displays violin plots of the scores per group.",
        "The figure shows a phase diagram of the model in the temperature-pressure plane.",
        "The figure displays X-ray diffraction patterns of the three samples.",
        "The image shows a chromatogram with four peaks.",
        "The figure shows a Kaplan-Meier survival curve for the two arms.",
    ],
}


def test_recaption_rules_cover_each_modalitys_vocabulary():
    wrong = [(m, t, signals.recaption_vote(t)) for m, texts in VOCABULARY.items() for t in texts
             if signals.recaption_vote(t) != (m, 1.0)]
    assert not wrong, wrong


def test_one_word_does_not_decide_where_a_figure_type_is_named():
    cases = {
        # a table beside a figure type never makes a recaption that names a plot `other`
        "The figure displays a line plot with a table of parameters.": "plot",
        "The figure shows a table and a bar chart of the results.": "plot",
        "The figure shows two tables of coefficients and a scatter plot of the residuals.": "plot",
        "The image is a screenshot of two code listings and a flowchart of the pipeline.": "diagram",
        # a screen is what it shows when that is a figure type
        "The image is a screenshot of a software window showing a scatter plot of the data.": "plot",
        "The image is a screenshot of a web application displaying a map of the stations.": "map",
        "A screenshot of a web dashboard showing a time-series line plot and a side panel of settings.": "plot",
        # ... but a program's own interface, with no figure type shown, is the program: `other`
        "A screenshot of a web app with input fields on the left and a grid of numbered plots.": "other",
        "Screenshot of a segmentation program: an abdominal CT slice beside a panel of settings and buttons.": "other",
        "A screenshot of a code editor with R code and two image viewer windows of fluorescent cells.": "other",
        # stop 30, from fresh11: a named diagram of quantities with a suffix, hyphenated time series,
        # axes named by "against", a point pattern; a colour bar over axes is a colour field
        "A Hertzsprung-Russell-type diagram of log luminosity against log effective temperature.": "plot",
        "Stacked time-series panels of decoded position and a colour-coded summary table.": "plot",
        "A grid of eight small panels of wind speed against days, two coloured lines per panel.": "plot",
        "Three square panels of scattered black points filling the square, no axes.": "plot",
        "A red-blue seismic shot gather of time against receiver number with a colour bar.": "heatmap",
        "A photograph of a cyclist leaning against a wall.": "photograph",
        # a screen inside a diagram is a part of it
        "A software architecture diagram: a browser screenshot, a settings form and a database joined by arrows.": "diagram",
        # "screen" in a screening assay, furniture tables, interfaces between materials
        "The figure shows a bar chart of hits in the screening assay.": "plot",
        "The figure shows a photograph of the setup on a wooden table.": "photograph",
        "The figure shows a line plot of the energy at the interface between the two layers.": "plot",
        # an artery in a plot is content, not a medical image; a protein rendering is no anatomy
        "The figure shows a line plot of the flow rate in the carotid artery over a cardiac cycle.": "plot",
        "The figure shows a 3D rendering of the protein structure in cartoon representation.": "molecular_structure",
        # a formula in a chemical drawing, an equation in a plot
        "The figure shows the structural formula of the ligand.": "molecular_structure",
        "The figure shows a scatter plot of the data with the fitted equation.": "plot",
        # a mind map is a diagram, a site of a survey on a map a map
        "The figure shows a mind map of the project's concepts.": "diagram",
        "The figure shows a map of the survey sites.": "map",
        # a filled contour plot is a colour field; contour lines alone are a plot (or, on a map, a map)
        "The figure shows a filled contour plot of the posterior density.": "heatmap",
        "The figure shows a contour map of the misfit.": "heatmap",
        "A contour plot of a joint probability density as concentric circles in u1 and u2 axes.": "plot",
        "Two contour plots of an objective function with evaluated points.": "plot",
        "A geological map with coloured units and an anomaly map with contour lines.": "map",
        # what a colon opens is what the figure holds, not what it is
        "A vertical flowchart of rounded boxes: input MRI scans, co-registration, segmentation and report.": "diagram",
        # a rendering of atoms or molecules is a molecular structure, as a rendering of anatomy a medical image
        "A rendering of an atomistic nanoparticle of yellow atoms in a cloud of water molecules.": "molecular_structure",
        "A rainbow-coloured ribbon rendering of a small all-helical protein.": "molecular_structure",
        # a rendered scene or simulation is a diagram; rendered anatomy, molecules or imaged cells are not
        "A 3D rendering of a building model with rooms and windows inside a transparent box.": "diagram",
        "A 2D particle rendering of a splash crater in a blue particle pool.": "diagram",
        "A 3D rendering of particles in a grey box, coloured by a colour bar into several blocks.": "diagram",
        "A 3D rendering of a patient-specific carotid artery.": "medical_image",
        "A 3D rendering of fluorescent cells in a fibre network.": "microscopy",
        "A geometric construction of rays from a camera centre through image points to a closed curve.": "diagram",
        "Four triangulated face-shaped meshes with coloured arrows at the vertices.": "diagram",
        # a typeset matrix of symbols is text; a matrix of values is a colour field
        "Five 4x4 matrices of Greek-letter rate symbols labelled K2P, K3P and JC69.": "other",
        "The figure shows a matrix of correlations between genes.": "heatmap",
        # colour plots and colour-coded densities are colour fields
        "A colour-coded phase-space density against L* and time, above a line plot of two indices.": "heatmap",
        "A colour-coded pressure map of a magnetosphere with two polar colour plots and time series below.": "heatmap",
    }
    for text, want in cases.items():
        assert signals.recaption_vote(text)[0] == want, (text, signals.recaption_vote(text))
    # naming nothing is not a vote for `other`; the screening assay plate names no figure type
    assert signals.recaption_vote("The image shows a high-throughput screening assay.") == ("other", 0.0)


def test_other_named_by_a_signal_wins_over_the_image_statistics():
    """A screenshot or a table on a white page looks like line art (plot) to the image statistics:
    a signal that names it decides `other`, with the signal in ``modality_method``."""
    page = _png(_page_figure(2))
    model = "vllm:Qwen/Qwen2.5-VL-7B-Instruct@main/prompt-v2"
    batch = [
        {"caption": "Results.", "recaption": "The image is a screenshot of a graphical user interface with a file browser.",
         "recaption_model": model, "image": {"bytes": page}},
        {"caption": "Screenshot of the web interface.", "image": {"bytes": page}},
        {"caption": "Project logo.", "image": {"bytes": page}},
        {"caption": "Results.", "image": {"bytes": page}},  # nothing named: the image statistics decide
    ]
    out = make_classifier("rules")(batch, Rejects())
    assert [(r["modality"], r["modality_method"]) for r in out] == [
        ("other", "rules:recaption"), ("other", "rules:caption"), ("other", "rules:caption"), ("plot", "rules:image")]
    d = signals.combine({"recaption": ("other", 0.7), "image": ("plot", 0.6)})
    assert (d.modality, d.method) == ("other", "rules:recaption")
    # the build recaptions after it classifies: a screenshot labelled plot by its image is relabelled
    rec = dict(out[3], recaption="A screenshot of a terminal window with the output of the installer.", recaption_model=model)
    relabel_from_recaption(rec)
    assert (rec["modality"], rec["modality_method"]) == ("other", "rules:recaption")


def test_caption_rules_name_the_wider_vocabulary():
    cases = {
        "3D reconstruction of the abdominal aorta from CT angiography.": "medical_image",
        "Patient-specific geometry of the carotid bifurcation, rendered from MRI.": "medical_image",
        "Ball-and-stick model of the complex.": "molecular_structure",
        "Synthetic route to compound 3.": "molecular_structure",
        "Phase diagram of the Ising model.": "plot",
        "Pie chart of the funding sources.": "plot",
        "Screenshot of the web interface.": "other",
        "Code listing of the configuration.": "other",
        "Choropleth of incidence per district.": "map",
        "SDO/AIA 171 image of the active region.": "astronomical_image",
        "Mind map of the review's themes.": "diagram",
        "Bright-field images of the organoids after 7 days.": "microscopy",
    }
    for caption, want in cases.items():
        assert classify_caption(caption)[0] == want, (caption, classify_caption(caption))
    # a technique named for an instrument is no micrograph
    assert classify_caption("Layout of the light-sheet design: objective, tube lens and camera.")[0] != "microscopy"
