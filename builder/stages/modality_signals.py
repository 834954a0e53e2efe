"""Modality from every signal a record has, combined with a stated precedence and a confidence.

Signals, strongest first (the weight each vote gets):

==============  ======  ====================================================================
signal          weight  what it reads
==============  ======  ====================================================================
``recaption``   4       a recaption written by a model from the image (``recaption_model``
                        set and not ``context``-only): its first sentence names the figure
``caption``     2       the caption (:func:`s1mmalign.builder.stages.modality.classify_caption`)
``clip``        2       zero-shot CLIP's best label, strength its probability (the ``clip``
                        classifier, when a model is given)
``file``        1       the figure's file name (``image_path``: "sem_cells.tif", "map.png")
``context``     1       LaTeX/JATS text citing the figure (``citation_contexts``)
``image``       1       layout statistics of the image (page-white line art, dark field,
                        photographic colour); at most 0.6 of a vote
==============  ======  ====================================================================

Each signal votes ``(modality, strength in 0..1)``; a modality's score is the sum of weight x
strength. The winner's **confidence** is its share of all votes, capped by its strongest vote; below
``min_confidence`` (or with no vote) the label is ``other``, never a guess. A signal that names
what makes a figure no figure type (a screenshot, a table, code, a logo) votes ``other`` like any
modality, so the image statistics cannot turn a screenshot on a white page into a plot. ``modality_method`` is ``rules:`` plus
the signals that voted for the winner ("rules:recaption+caption", "rules:image",
"rules:none").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

WEIGHTS: dict[str, float] = {"recaption": 4.0, "caption": 2.0, "clip": 2.0, "file": 1.0, "context": 1.0, "image": 1.0}
MIN_CONFIDENCE = 0.5
METHOD_PREFIX = "rules:"

# What a recaption says the figure *is*: "The figure displays a filled contour plot", "This is a
# fluorescence micrograph". Nouns of figure types only, not of content ("molecules", "galaxy":
# "shows the galaxy luminosity function" is a plot); the first sentence decides (a recaption names
# the figure type first, then its content), several types by :func:`_named`. Lower case only: the
# text is lower-cased once (re.I costs ~2x).
_IS_A = re.compile(r"\b(?:is|are|shows?|showing|displays?|displaying|presents?|presenting|depicts?|depicting|"
                   r"illustrates?|illustrating|contains?|consists? of|features?|comprises?)\b")
# Anatomy a 3-D rendering or reconstruction can show (a patient's vessels, organs, bones): what
# makes "a 3D rendering of ..." a medical image and not a diagram or a molecule
_ANATOMY = (r"(?:arter(?:y|ies|ial)|aort\w*|(?<!pressure )(?<!reaction )(?<!reactor )(?<!storage )(?:blood )?vessels?|"
            r"vascula\w+|veins?|aneurysms?|heart|hearts|ventricl\w+|atri(?:um|a)|brains?|skulls?|bones?|femur|tibia|"
            r"spine|vertebra\w*|lungs?|airways?|bronch\w+|liver|kidneys?|organs?|tumou?rs?|teeth|tooth|mandible|jaw|"
            r"knee|hip|pelvis|cochlea|anatomy|anatomical structures?|carotid|coronar\w+)")
# Words that name no figure type but what the figure is made of when it is no figure at all:
# software seen on a screen (a container: what it shows, when a figure type, decides) and text
# content (tables, code, equations, lists, logos, documents: a panel like any figure type).
_SCREEN = (r"screen ?shots?|screen (?:captures?|grabs?|recordings?)|(?:graphical )?user interfaces?|guis?|"
           r"(?:web|browser|software|application|app|program|desktop|mobile|smartphone|gui|plugin|plug-in|tool) "
           r"(?:interfaces?|windows?|pages?|panels?|dashboards?|front-?ends?|screens?)|web ?pages?|web ?sites?|"
           r"web (?:applications?|apps?|portals?|browsers?|viewers?|tools?|services?|forms?)|browser windows?|dashboards?|"
           r"(?:terminal|console|command[- ]line|shell|jupyter|notebook|ide|editor) (?:windows?|sessions?|interfaces?|"
           r"screens?|views?|prompts?)|(?:command[- ]line|text[- ]based) interfaces?|cli|jupyter notebooks?|"
           r"dialog(?:ue)? (?:box|window)(?:es|s)?|interactive (?:notebooks?|widgets?|viewers?|interfaces?|applications?|apps?)|"
           r"(?:video |computer |arcade |racing )?game (?:frames?|screens?|scenes?|environments?|levels?)|"
           r"frames? (?:of|from) (?:a |an |the )?(?:[\w-]+ ){0,3}?(?:video |computer )?games?")
_SCREEN_RX = re.compile(_SCREEN)
# what only a program's own interface has: a screen that shows them is a screenshot of the software,
# whatever its panes hold ("a web app with input fields and a grid of plots"); without them the
# screen only frames what it shows ("a screenshot of a software window showing a scatter plot")
_INTERFACE = re.compile(r"\b(?:menus?|(?:menu|tool|title|side|status|task|scroll) ?bars?|buttons?|sliders?|check ?box(?:es)?|"
                        r"drop-?downs?|tabs\b|(?:input|text|form|request|search|entry) (?:fields?|box(?:es)?)|forms?\b|"
                        r"settings|options panels?|(?:control|configuration|parameter|settings|options|log) (?:panels?|windows?|dialog\w*)|"
                        r"dialog(?:ue)?s?\b|consoles?|(?:text )?logs?\b|(?:code|text|source) editors?|upload\w*|"
                        r"documentation|file (?:browsers?|lists?|trees?)|lists? of (?:files|images|datasets|options)|text listings?)")
_FRAMES = re.compile(r"(?: of|.* showing|.* displaying) (?:an? |the |one |two |three |several )?(?:[\w-]+ ){0,3}")
_TEXT = (r"table(?<!optical table)(?<!wooden table)(?<!work table)(?<!lab table)(?<!laboratory table)(?<!operating table)"
         r"(?<!rotary table)(?<!rotating table)(?<!periodic table)(?<!kitchen table)(?<!dining table)(?<!coffee table)"
         r"(?<!water table)(?<!tilt table)s?(?! of contents)|tabular \w+|spreadsheets?|"
         r"(?:source |example |sample )?code (?:snippets?|listings?|excerpts?|examples?|blocks?|fragments?|samples?|cells?)|"
         r"snippets? of (?:[\w+#-]+ )?code|(?:source|python|julia|matlab|c\+\+|javascript|typescript|bash|shell|fortran|rust|"
         r"r|sql|yaml|json|html|latex|java|go|c) (?:[\w-]+ )?(?:code|scripts?|source|snippets?|listings?)|pseudo-?code|program listings?|"
         r"lines? of (?:[\w+#-]+ ){0,3}?code|"
         r"listings? of|lines of code|(?:terminal|console|command[- ]line|shell|program|text|log) outputs?|(?:shell|terminal) commands?|"
         r"command[- ]line (?:commands?|invocations?|usage|examples?)|(?:configuration|config|input|yaml|json|toml) files?|"
         r"(?:directory|file|folder|project|repository|package) (?:trees?|structures?|hierarch(?:y|ies)|layouts?|listings?)|"
         r"(?:page|pages|block|blocks|paragraphs?|lines|excerpts?|passages?) of text|text (?:documents?|files?|excerpts?|passages?|blocks?)|"
         r"plain text|(?:bullet(?:ed)?|numbered|itemi[sz]ed) (?:points?|lists?)|lists? of (?:[\w-]+ ){0,2}?(?:modules|functions|files|"
         r"packages|commands|features|items|steps|methods|classes|parameters|options|keywords|tools|references|names)|"
         r"(?:mathematical |governing |differential )?equations?|formula(?:s|e)?|mathematical (?:expressions?|notation|derivations?)|"
         r"matri(?:x|ces) of (?:[\w-]+ ){0,3}?(?:symbols|letters|entries|expressions)|"
         r"logos?|logotypes?|wordmarks?|emblems?|badges?|icons?|qr codes?|barcodes?|"
         r"(?:scanned|printed|handwritten) (?:documents?|pages?|manuscripts?|texts?|notes?|forms?|letters?)|documents?|manuscripts?|"
         r"questionnaires?")
#: "a 3D rendering of a patient-specific carotid artery": a medical image (the caption rules use it too)
ANATOMICAL_RENDERING = (rf"(?:renderings?|rendered models?|reconstructions?|models?|meshe?s?|segmentations?|visuali[sz]ations?|views?) "
                        rf"of (?:a |an |the )?(?:[\w-]+ ){{0,3}}?{_ANATOMY}\b")
#: what a rendering shows when it is a molecular structure ("a rendering of an atomistic nanoparticle")
_MOLECULAR_OBJECT = r"(?:atoms?|atomistic|molecules?|molecular|proteins?|nanoparticles?|crystals?)\b"
#: "a 3D rendering of a building model", "a 2D particle rendering of a splash": a rendered scene or
#: simulation is a diagram, unless it renders anatomy (a medical image) or atoms and molecules
_RENDERED_STRUCTURE = (rf"(?:{_ANATOMY}\b|{_MOLECULAR_OBJECT}|"
                       rf"(?:[\w-]+ )?(?:cells?|nuclei|tissues?|neurons?)\b)")  # a rendering of imaged cells: microscopy
RENDERED_SCENE = (rf"(?:3d|three-dimensional|2d|two-dimensional|particle) renderings?"
                  rf"(?! of (?:a |an |the )?(?:[\w-]+ ){{0,3}}?{_RENDERED_STRUCTURE})")
_NOUNS: list[tuple[str, str]] = [
    # a photograph or scan of a document is text: `other` (before "photograph" at one position)
    ("other", r"(?:photo(?:graph)?s?|scans?|images?|pictures?) of (?:a |an |the )?(?:[\w-]+ ){0,2}?(?:documents?|pages?|"
              r"manuscripts?|letters?|notebooks?|receipts?|newspapers?|certificates?|books?|forms)"),
    # a filled contour plot is a colour field; a contour plot of lines is a plot, contour lines on a map a map
    ("heatmap", r"heat ?maps?|heat-maps?|(?:filled|colou?r(?:ed)?|shaded) contour (?:plots?|maps?)|contour maps?|colou?r[- ](?:coded|mapped|shaded|scaled)(?: [\w-]+){0,2} "
                r"(?:matri(?:x|ces)|grids?|maps?|images?|fields?|plots?|densit(?:y|ies)|distributions?|slices?|(?:cross-)?sections?)|"
                r"colou?r plots?|"
                r"(?:correlation|confusion|similarity|distance|adjacency|covariance|presence|interaction|contact) matri(?:x|ces)|"
                r"(?:matrix |nonzero |non-zero )?sparsity (?:patterns?|plots?|structures?)|spy plots?|"
                r"(?:attention|saliency|activation|grad-?cam|feature|contact|hi-c|probability) maps?|matrix plots?|colou?r ?maps?|"
                r"(?:2d|two-dimensional) histograms?|hexbin (?:plots?|charts?)|checkerboard (?:plots?|matri(?:x|ces))|"
                r"clustergrams?|density (?:plots?|maps?)|colou?r ?maps? of|(?:pseudo|false)[- ]?colou?r (?:images?|plots?|maps?)|"
                r"matri(?:x|ces) of (?:\w+ )?(?:values|scores|correlations|counts|p-values)|spectrograms?|scalograms?"),
    ("microscopy", r"(?:photo)?micrographs?|microscopy|microscopic (?:image|view|picture)s?|microscope (?:image|view|picture)s?|"
                   r"(?:sem|tem|stem|afm|stm|sted|haadf|confocal|fluorescen\w+|electron|histolog\w+|histopatholog\w+|brightfield|"
                   r"bright-field|dark-?field|phase[- ]contrast|epifluorescen\w+|two-photon|multiphoton|super-resolution|light-sheet|"
                   r"widefield|wide-field|live-cell|time-lapse|cryo-?em|cryo-electron|atomic force|scanning tunnell?ing|"
                   r"(?:scanning|transmission) electron) (?:image|picture|view|section|micrograph|scan|frame|topograph\w*)s?|"
                   r"fluorescen\w+ (?:lifetime|intensity|ratio) (?:image|map)s?|"
                   r"images? of (?:[\w-]+ ){0,2}?(?:cells|nuclei|bacteria|neurons|organoids|tissue sections?|yeast)\b|"
                   r"immuno\w+|(?:stained|labell?ed) (?:tissue|section|cells|slides?)|(?:h&e|hematoxylin|haematoxylin)[- ]\w+|"
                   r"tissue sections?|histolog\w+ (?:slides?|sections?)|whole[- ]slide images?|cryo-?em|kymographs?|z-stacks?|"
                   r"maximum[- ]intensity projections?|(?:electron|saed|selected[- ]area) diffraction patterns?|"
                   r"(?:cells|bacteria|neurons|nuclei|organoids|embryos|tissue) (?:imaged|visuali[sz]ed) (?:under|with|by)"),
    ("medical_image", r"(?:ct|cbct|mri|fmri|mr|pet|pet/ct|spect|x-ray|chest|dental|panoramic|oct|brain|head|abdominal|cardiac|"
                      r"spinal|knee|pelvic) (?:scan|image|slice|radiograph|film|volume|angiogram|b-scan)s?|"
                      r"(?:ct|mri|fmri|mr|pet|spect|dti|diffusion|perfusion|adc|fa|t1|t2) (?:parameter |parametric )?maps?|"
                      r"(?:micro-?ct|µct|ct|cbct|mri|mr|pet|spect) (?:cross-sections?|sections?|projections?|reconstructions?|renderings?|volumes?|datasets?)|"
                      r"radiographs?|"
                      r"radiographic (?:image|view)s?|chest x-rays?|x-rays? of (?:a |the )?(?:chest|hand|knee|hip|skull|patient|tooth|teeth|lung|spine)\w*|"
                      r"computed tomograph\w*|magnetic resonance (?:image|imaging|scan|angiogra\w+)s?|"
                      r"(?:t1|t2|diffusion|flair|proton density)[- ]weighted (?:image|scan|mri|mr)s?|tractograph\w+|"
                      r"positron emission|scintigra\w+|bone scans?|ultrasound|ultrasonograph\w+|sonograms?|echocardiogra\w+|"
                      r"doppler (?:image|ultrasound|scan)s?|angiograms?|angiograph\w+|arteriograms?|venograms?|fluoroscop\w+|"
                      r"mammograms?|mammograph\w+|fundus (?:image|photograph|photo)s?|fundus|retinal (?:image|scan|photograph)s?|"
                      r"optical coherence tomograph\w+|(?:endo|colono|laparo|broncho|arthro|cysto|dermo|dermato|oto)scop\w+|"
                      r"(?:axial|sagittal|coronal|transverse) (?:slice|view|section|image|plane|mri|ct)s?|"
                      r"(?:medical|clinical|radiological|radiologic) (?:image|scan)s?|"
                      rf"(?:3d |three-dimensional |volume |volumetric |surface |mesh |segmented )?{ANATOMICAL_RENDERING}|"
                      rf"patient-specific (?:[\w-]+ ){{0,3}}?(?:geometr(?:y|ies)|models?|meshe?s?|anatomy|"
                      rf"reconstructions?|renderings?|{_ANATOMY})|(?:arter(?:y|ies|ial)|aortic|vascular|vessel|aneurysm|bone|skull|carotid|"
                      rf"coronary) (?:geometr(?:y|ies)|meshe?s?|surface models?|segmentations?|reconstructions?|renderings?)"),
    ("molecular_structure", r"(?:chemical|molecular|crystal|protein|3d|three-dimensional|atomic|atomistic|lattice|x-ray|cryo-em|nmr|"
                            r"secondary|tertiary|quaternary) structures?|(?:structural|skeletal|chemical) formula(?:s|e)?|"
                            r"lewis structures?|ball[- ]and[- ]stick|stick (?:model|representation)s?|space[- ]filling|"
                            r"cpk (?:model|representation)s?|van der waals (?:surface|sphere)s?|"
                            r"(?:ribbon|cartoon) (?:diagram|representation|model|structure|view|rendering)s?|"
                            r"(?:reaction|synthetic|synthesis|retrosynthetic|catalytic) (?:schemes?|routes?|mechanisms?|cycles?)|"
                            r"unit cells?|supercells?|crystal (?:lattices?|packings?)|electron density maps?|molecular orbitals?|"
                            r"(?:molecular|atomic|atomistic|md) (?:models?|renderings?|configurations?|snapshots?|visuali[sz]ations?)|"
                            r"(?:renderings?|rendered (?:models?|images?|views?)) of (?:an? |the )?(?:[\w-]+ ){0,3}?"
                            + _MOLECULAR_OBJECT + r"|"
                            r"(?:protein|enzyme|dna|rna|peptide|ligand|molecule|complex) (?:models?|renderings?)|"
                            r"docking poses?|binding (?:poses?|modes?)|structures? of (?:the )?(?:compounds?|molecules?|ligands?|inhibitors?)"),
    ("astronomical_image", r"(?:astronomical|telescope|sky|hubble|hst|jwst|spitzer|chandra|alma|sdss|galaxy|stellar|lensed|quasar|"
                           r"deep[- ]field|postage[- ]stamp|solar|sdo|aia|euv|extreme[- ]ultraviolet|coronagraph|full-disk|"
                           r"chromospheric|coronal|planetary|lunar) (?:images?|views?|mosaics?|observations?|cutouts?|stamps?|frames?)|"
                           r"images? of (?:a |the )?(?:[\w-]+ ){0,2}?(?:galax\w+|nebula\w*|star clusters?|globular clusters?|sky|"
                           r"sun|solar \w+|moon|planets?|comets?|asteroids?|supernova\w*|quasars?|accretion disks?)|"
                           r"star ?fields?|night sky|sky ?maps?|all-sky maps?|(?:cmb|cosmic microwave background) maps?|"
                           r"einstein rings?|lensed (?:ring |arc )?(?:images?|galax\w+|quasars?|sources?|arcs?)|"
                           r"(?:interferometric|radio|submillimet\w+|millimet\w+)(?: continuum| synthesis)? (?:images?|maps?)|"
                           r"magnetograms?|helioprojective|coronagraphs?|solar (?:disk|corona|surface|atmosphere)s?"),
    ("diagram", r"(?:mind|concept|process|value[- ]stream|journey|site) maps?|(?:organi[sz]ation(?:al)?|org) charts?|"
                r"(?:3d|three-dimensional) (?:cad )?(?:models?|renderings?|drawings?|designs?) of (?:a |an |the )?(?:[\w-]+ ){0,3}?"
                r"(?:device|instrument|setup|apparatus|assembly|prototype|robot|sensor|mechanism|chip|housing|enclosure|"
                r"vehicle|drone|mount|holder|part|component)s?"),
    ("plot", r"(?:phase|ternary|bifurcation|stability|regime|bode|nyquist|pourbaix|ashby|hertzsprung-russell|h-r|hr|"
             r"colou?r-magnitude|taylor|bar|pie|line|box|whisker|box-and-whisker|scatter)(?:[- ](?:type|like|style))? diagrams?"),
    ("map", r"(?:geographic\w*|topographic\w*|bathymetric|world|global|regional|political|geological|geologic|satellite|aerial|relief|"
            r"elevation|land[- ]cover|land[- ]use|choropleth|thematic|location|locator|tectonic|seismicity|hazard|road|street|"
            r"weather|synoptic|nautical) (?:maps?|images?|views?|charts?)|choropleths?|orthophotos?|orthoimages?|orthomosaics?|"
            r"digital elevation models?|(?:terrain|elevation|topograph\w*|bathymetr\w*) (?:surfaces?|models?|renderings?|grids?)|"
            r"geo-?referenced (?:rasters?|images?|grids?|maps?)|(?:landsat|sentinel-?2|modis) (?:images?|scenes?)|"
            r"maps? of (?:the )?(?:world|region|study|country|countries|area|site|island|continent|ocean|sea|basin|state|"
            r"province|city|europe|africa|asia|america|australia)\w*|(?<!contour )(?<!heat )(?<!density )(?<!colour )(?<!color )\bmaps?\b"
            r"(?! of (?:the )?(?:cell|neuron|gene|protein|spine|synapse)s?\b)"),  # "maps of cell positions": no geography
    ("photograph", r"photo(?:graph)?s?\b|photographic (?:image|view)s?|pictures? of|(?:camera|specimen|device|setup|close-up|macro|"
                   r"smartphone|drone|uav|underwater|high-speed) (?:image|photo|photograph|picture|shot|view|frame)s?|"
                   r"(?:video|camera) (?:frames?|stills?)|frames? (?:from|of) (?:a |the )?(?:video|recording|camera)|"
                   r"petri dish\w*|gel (?:image|electrophoresis)|western blots?|blots?"),
    ("diagram", r"(?:schematic|block|flow|circuit|conceptual|network|tree|venn|process|system) ?(?:diagram|chart)s?|"
                r"schemat\w+|flow ?charts?|diagrams?|workflows?|pipelines?|illustrations?|sketch\w*|cartoons?|infographics?|"
                r"conceptual (?:models?|frameworks?)|"
                r"(?:graphical|visual) abstracts?|architectures?|(?:electric\w*|electronic|equivalent|logic|quantum|"
                r"integrated) circuits?|circuit (?:layouts?|boards? layouts?)|(?:network|system) (?:topolog(?:y|ies)|layouts?)|"
                r"(?:model|network) architectures?|phylogenetic trees?|dendrograms?|cladograms?|decision trees?|graphs? of (?:nodes|a network)|"
                r"(?:network|call|dependency|knowledge|directed|undirected|acyclic|node-link|task|computation(?:al)?|factor|bipartite|scene) graphs?|"
                r"sankey diagrams?|circos|uml|state machines?|petri nets?|cad\b(?: \w+)?|wireframes?|mock-?ups?|"
                r"(?:engineering|technical|mechanical|line|cad|assembly|architectural|isometric|perspective|cutaway) drawings?|"
                r"exploded views?|cutaway views?|cross-sectional (?:views?|drawings?|schematics?|illustrations?)|"
                r"(?:triangular|triangulated|tetrahedral|hexahedral|finite[- ]element|computational) (?:[\w-]+ )?meshe?s?|"
                r"(?:finite[- ]element|fe|simulation|cfd) (?:models?|renderings?|meshe?s?)|"
                r"geometric(?:al)? (?:constructions?|drawings?|sketch\w*|diagrams?)|" + RENDERED_SCENE),
    ("plot", r"(?:line|scatter|bar|column|box|violin|dot|strip|swarm|polar|radar|spider|contour|surface|3d|log-log|semi-log|forest|"
             r"funnel|kaplan-meier|survival|trajectory|density|ridgeline|area|step|stem|pie|donut|doughnut|bubble|q-q|qq|"
             r"manhattan|volcano|bland-altman|roc|precision-recall|calibration|learning|loss|lollipop|waterfall|pareto|corner|pair|"
             r"trace|dose-response|light|rotation|growth|stress-strain|current-voltage|i-v) ?(?:plots?|graphs?|charts?|curves?)|"
             r"(?<!sampling )(?<!study )(?<!forest )(?<!permanent )(?<!vegetation )(?<!garden )(?<!quadrat )(?<!grassland )(?<!census )"
             r"(?<!plant )plots?|graphs?|charts?|histograms?|curves?|spectr(?:um|a)|time[- ]series|scatter(?:grams?)?|box ?plots?|"
             r"(?:current[- ]voltage|capacitance[- ]voltage|i[- ]v|c[- ]v|transfer|output) characteristics|"
             r"(?:electronic |phonon )?band structures?|(?:phonon )?dispersion (?:curves?|relations?)|"
             r"stereographic projections?|stereonets?|rose diagrams?|biplots?|ordination (?:plot|diagram)s?|treemaps?|"
             r"quiver plots?|vector fields?|streamlines?|(?:t-?sne|umap|pca) (?:embedding|projection)s?|waveforms?|"
             r"(?:chromato|diffracto|voltammo|thermo|periodo|correlo|vario|semivario|seismo|hydro|hyeto|electrocardio|"
             r"electroencephalo|hodo|nomo)grams?|(?:voltage|current|calcium|spike|eeg|ecg|emg|seismic|oscilloscope|activity|"
             r"fluorescence) traces?|(?:xrd|x-ray diffraction|powder diffraction) patterns?|parallel coordinates?|sparklines?"),
    # containers: software on a screen; content: tables, code, equations, text, logos, documents
    ("other", _SCREEN),
    ("other", _TEXT),
    # artwork: what an artist or an algorithm draws as a picture, not a figure of data (samples of
    # a generative model are no photographs; a named figure type beside them still wins)
    ("other", r"stipple(?:d)? (?:drawings?|images?|renderings?|portraits?)|stippling|paintings?|artworks?|"
              r"(?:pencil|charcoal|watercolou?r|ink) (?:drawings?|sketches|portraits?)|"
              r"(?:synthetic|generated|fake) (?:sample )?(?:images?|pictures?|samples?)|"
              r"(?:images?|samples?) (?:generated|sampled|synthesi[sz]ed) (?:by|from) (?:a |an |the )?"
              r"(?:generative )?(?:models?|generators?|gans?|networks?|diffusion models?)"),
]
# weak: taken only when the text names no figure type ("field images with colour bars")
_WEAK_CUES: list[tuple[str, str]] = [
    ("heatmap", r"colou?r ?bars?|colou?r ?scales?"),
    ("microscopy", r"fluorescen\w+|(?:stained|labell?ed) (?:cells|nuclei|tissue)|scale bars?"),
    ("plot", r"versus|vs\.?|as a function of|(?:plotted |shown )?against|scattered (?:[\w-]+ ){0,2}(?:points|dots|markers)"),
]
_NOUNS += _WEAK_CUES
_WEAK_RANK = ["heatmap", "microscopy", "photograph", "plot"]  # which weak mention wins, wherever it stands
#: One pass over the text: a named group per entry, earlier entries first at one position.
_GROUPS = [f"{m}_{i}" for i, (m, _) in enumerate(_NOUNS)]
#: Every entry starts with a word character, so one ``\b(?=\w)`` in front is the ``\b`` of each
#: (and lets the engine skip a position inside a word once, not once per entry: ~2x faster).
_NOUN_RX = re.compile(r"\b(?=\w)(?:" + "|".join(rf"(?P<{g}>{p})\b" for g, (_, p) in zip(_GROUPS, _NOUNS)) + ")")
_GROUP_MODALITY = {g: m for g, (m, _) in zip(_GROUPS, _NOUNS)}
assert not any(re.search(r"(?<!\\)[A-Z]", p) for _, p in _NOUNS), "patterns are lower case"
#: what a weak mention is: a weak cue, or a blot (a photograph's word, a panel of a chart figure)
_WEAK = re.compile("|".join([r"(?:western )?blots?", *(p for _, p in _WEAK_CUES)]))
_GEO_AXES = re.compile(r"\b(?:easting|northing|latitude|longitude|coastlines?|shorelines?)\b(?!-like)|\b(?:east and north|north and east)\b")
_FIRST_SENTENCE = re.compile(r"^(.{0,400}?[.!?])(?:\s|$)", re.S)
# how many panels a mention stands for: plural, a quantifier before it ("many", "six"), a kind or
# a mention of the same type coordinated before it ("line and scatter plots", "time series and
# line plots"); a mention after "with" is an inset or an aside
_PLURAL = re.compile(r"(?:s|ices|ra|series)$")
_QUANTIFIER = re.compile(r"\b(?:many|several|multiple|numerous|various|two|three|four|five|six|seven|eight|nine|\d+)"
                         r"(?: [\w-]+){0,3} $")
_COORDINATED = re.compile(r"\b([\w-]+),? (?:and|or) $")
_ASIDE = re.compile(r"\b(?:with|including|and an? inset|inset)\b|:")  # after a colon: what the figure holds
LEAD_CHARS = 60


def _panels(scope: str, hit: re.Match) -> float:
    """The weight of one mention of a figure type among the others of its sentence."""
    before = scope[max(0, hit.start() - 40):hit.start()]
    n = 2.0 if _PLURAL.search(hit.group(0)) else 1.0
    n += 1.0 if _QUANTIFIER.search(before) else 0.0
    co = _COORDINATED.search(before)
    if co:  # a kind ("line and scatter plots": "line plots") or a mention of the same type ("time
        # series and line plots"); not a word of another type ("dose matrices and photographs")
        end = hit.start() - len(before) + co.end(1)
        kind = _NOUN_RX.fullmatch(f"{co.group(1)} {hit.group(0).rsplit(' ', 1)[-1]}")
        same = any(h.end() == end and _GROUP_MODALITY[h.lastgroup] == _GROUP_MODALITY[hit.lastgroup]
                   for h in _NOUN_RX.finditer(scope, 0, hit.start()))
        n += 1.0 if kind or same else 0.0
    return n * (0.5 if _ASIDE.search(scope[:hit.start()]) else 1.0)


def _program_shown(scope: str, named: list[tuple[str, re.Match]]) -> bool:
    """Whether a passage shows a program itself: it is about a screen first (a screen inside a
    diagram is a part of it), the screen is no mere frame of one figure type ("a screenshot of an
    interactive scatter plot"), and the program's own interface is named (menus, settings, a code
    editor), whatever its panes hold."""
    (m, screen), rest = named[0], named[1:]
    if m != "other" or not _SCREEN_RX.fullmatch(screen.group(0)) or not _INTERFACE.search(scope):
        return False
    shown = next((hit for m, hit in rest if m != "other"), None)
    return not (shown and _FRAMES.fullmatch(scope[screen.end():shown.start()]))


def _named(scope: str) -> tuple[Optional[str], bool]:
    """The figure type a passage names: the one most of its mentions stand for (:func:`_panels`;
    ties to the earliest), weak mentions only when nothing else is named (then True). What is no
    figure type (a screen, a table, code, a logo) is `other` only when the passage names no
    figure type: a recaption that names a plot is never left `other`."""
    named: list[tuple[str, re.Match]] = []
    weak = None
    for hit in _NOUN_RX.finditer(scope):
        m = _GROUP_MODALITY[hit.lastgroup]
        if _WEAK.fullmatch(hit.group(0)):  # a blot beside charts is a panel of a chart figure
            weak = min(filter(None, (weak, m)), key=_WEAK_RANK.index)  # a colour bar over axes: a colour field
        else:
            named.append((m, hit))
    if not named:
        return weak, True
    if any(m != "other" for m, _ in named):  # a figure type named beside a screen, a table, code: that
        # type ("a screenshot of the GUI showing a line plot", "two tables and a bar chart": plots)
        named = [(m, hit) for m, hit in named if m != "other"]
    if all(m == named[0][0] for m, _ in named):  # one type named (most recaptions): nothing to weigh
        return named[0][0], False
    score: dict[str, float] = {}
    for m, hit in named:
        score[m] = score.get(m, 0.0) + _panels(scope, hit)
    # dicts keep insertion order: ties go to the earliest figure type named
    return max(score, key=score.get), False


def recaption_vote(text: str) -> tuple[str, float]:
    """The modality a model-written recaption names for the figure, and how plainly (0..1).

    The first sentence is read; a type named after "shows / displays / is", or as the
    sentence's subject (within its first :data:`LEAD_CHARS` characters, no verb before it:
    "A scatter plot of ..."), counts fully, any other mention in the first sentence 0.7, a
    mention further on 0.4; a weak cue alone ("with colour bars", "fluorescent") at most 0.7.
    A sentence naming several types ("a sketch of the setup and many
    line plots") gives the one most of its mentions stand for.
    """
    text = (text or "").strip()[:1500].lower()  # the patterns are lower case (re.I costs ~2x)
    if not text:
        return "other", 0.0
    m = _FIRST_SENTENCE.match(text)
    first = m.group(1) if m else text[:400]
    if _INTERFACE.search(first):  # (rare: the whole sentence's figure types are read again only then)
        shown = [(_GROUP_MODALITY[h.lastgroup], h) for h in _NOUN_RX.finditer(first) if not _WEAK.fullmatch(h.group(0))]
        if shown and _program_shown(first, shown):  # whatever its panes hold, or a verb says they show
            return "other", 1.0 if shown[0][1].start() < LEAD_CHARS else 0.7
    verb = _IS_A.search(first)
    for scope, strength in ((first[verb.end():verb.end() + 160] if verb else "", 1.0), (first, 0.7), (text, 0.4)):
        best, weak = _named(scope)
        if best:
            if strength == 0.7 and not weak:  # the type as the sentence's subject counts fully
                lead = next((h for h in _NOUN_RX.finditer(first[:LEAD_CHARS]) if not _WEAK.fullmatch(h.group(0))), None)
                strength = 1.0 if lead and not (verb and verb.start() < lead.start()) else 0.7
            if best in ("heatmap", "plot") and _GEO_AXES.search(first):
                best = "map"  # a colour field or scatter over easting/northing or latitude/longitude
            return best, min(strength, 0.7) if weak else strength
    return "other", 0.0


_FILE_WORDS = re.compile(r"[a-z]+", re.I)


def file_vote(name: str, caption_rules) -> tuple[str, float]:
    """The modality a figure's file name names ("sem_cells.tif", "fig3-heatmap.png")."""
    stem = re.sub(r"\.[a-z0-9]{2,5}$", "", (name or "").rsplit("/", 1)[-1].lower())
    words = " ".join(w for w in _FILE_WORDS.findall(stem) if not re.fullmatch(r"fig(ure)?s?|supp\w*|panel|v|e|g", w))
    if not words:
        return "other", 0.0
    words = re.sub(r"\bhisto\b", "histogram", words)
    modality, score = caption_rules(words)
    return (modality, 1.0) if score >= 3 else ("other", 0.0)


def context_vote(contexts, caption_rules) -> tuple[str, float]:
    """The modality the sentences citing the figure name (strong cues only)."""
    text = " ".join(str(c) for c in (contexts or [])[:4])[:2000]
    if not text:
        return "other", 0.0
    modality, score = caption_rules(text)
    return (modality, 1.0) if score >= 3 else ("other", 0.0)


@dataclass
class ImageStats:
    """Cheap layout statistics of an image reduced to 96 px."""

    background: float  # median grey level of the border
    white: float  # share of page-white pixels
    dark: float  # share of near-black pixels
    saturation: float  # mean colour saturation 0..1
    colours: int  # distinct colours after 4-bit quantisation
    ink: float  # share of pixels differing from the background
    vivid: float  # share of strongly coloured pixels (saturation > 0.35, not near-black)


def image_stats(img) -> ImageStats:
    """:class:`ImageStats` of a PIL image."""
    small = img.convert("RGB")
    small.thumbnail((96, 96))
    a = np.asarray(small, dtype=np.int16)
    grey = a.mean(axis=2)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    bg = float(np.median(border))
    mx, mn = a.max(axis=2), a.min(axis=2)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1), 0)
    q = (a >> 4).reshape(-1, 3)
    colours = int(np.unique(q[:, 0] * 256 + q[:, 1] * 16 + q[:, 2]).size)
    return ImageStats(bg, float((mn >= 235).mean()), float((mx <= 40).mean()), float(sat.mean()), colours,
                      float((np.abs(grey - bg) > 24).mean()), float(((sat > 0.35) & (mx > 60)).mean()))


def image_vote(stats: Optional[ImageStats], discipline: Optional[str] = None) -> tuple[str, float]:
    """A weak guess from layout statistics: page-white line art is a plot, a large area of
    saturated colour on a page a colour field (heatmap), a dark field with light structure a
    fluorescence micrograph (an astronomical image in an astronomy paper), a full-bleed image of
    many colours a photograph. The paper's ``discipline`` only decides what a dark field is."""
    if stats is None:
        return "other", 0.0
    if stats.background < 60 and stats.dark > 0.4:
        return ("astronomical_image", 0.6) if discipline == "astronomy" else ("microscopy", 0.5)
    if stats.background > 200 and stats.white > 0.05 and stats.vivid > 0.15:
        return "heatmap", 0.4
    if stats.white > 0.45 and stats.background > 200:
        return "plot", 0.6 if stats.colours < 400 else 0.4
    if stats.white < 0.05 and stats.dark < 0.4:  # full bleed: grey ones may as well be micrographs or scans
        return "photograph", 0.5 if stats.saturation > 0.08 else 0.4
    return "other", 0.0


@dataclass
class Decision:
    """The combined label: modality, confidence (0..1) and the signals that chose it."""

    modality: str
    confidence: float
    signals: tuple[str, ...]

    @property
    def method(self) -> str:
        return METHOD_PREFIX + ("+".join(self.signals) if self.signals else "none")


def combine(votes: dict[str, tuple[str, float]], *, weights: Optional[dict[str, float]] = None,
            min_confidence: float = MIN_CONFIDENCE) -> Decision:
    """Weighted vote over ``{signal: (modality, strength)}``; see the module docstring."""
    weights = weights or WEIGHTS
    scores: dict[str, float] = {}
    for signal, (modality, strength) in votes.items():
        if strength > 0:  # "other" too, when a signal names it (a screenshot, a table): not a mere absence
            scores[modality] = scores.get(modality, 0.0) + weights.get(signal, 1.0) * strength
    if not scores:
        return Decision("other", 0.0, ())
    total = sum(scores.values())
    best = max(scores, key=lambda m: (scores[m], -list(WEIGHTS).index(_first_signal(votes, m))))
    # the winner's share of the votes, and never more than its strongest vote: weak votes alone
    # (image statistics, a CLIP probability of 0.3, a caption's "versus") are not confident
    confidence = min(scores[best] / total, max(st for m, st in votes.values() if m == best))
    if confidence < min_confidence and not (scores[best] >= 2.0 and confidence >= 0.4):
        return Decision("other", round(confidence, 3), ())
    signals = tuple(s for s in WEIGHTS if s in votes and votes[s][0] == best and votes[s][1] > 0)
    return Decision(best, round(confidence, 3), signals)


def _first_signal(votes: dict[str, tuple[str, float]], modality: str) -> str:
    return next((s for s in WEIGHTS if s in votes and votes[s][0] == modality), "image")
