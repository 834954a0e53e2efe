"""Journal titles -> disciplines: the table of common journals and the reading of a title as PMC writes it.

:func:`s1mmalign.core.taxonomy.discipline_for_journal` looks a title up here first (by
:func:`journal_key`), then reads its words with the field vocabulary. Standard library only.
"""

from __future__ import annotations

import re
from typing import Any, Optional

#: Journals whose title names no discipline to the keyword rules, or names the wrong one
#: (lower case). Multidisciplinary journals map to None: their subjects must decide.
JOURNAL_DISCIPLINE: dict[str, Optional[str]] = {
    **dict.fromkeys(("nature", "science", "nature communications", "plos one", "scientific reports", "peerj",
                     "proceedings of the national academy of sciences", "pnas", "science advances",
                     "royal society open science", "heliyon", "f1000research", "iscience",
                     "journal of open source software", "sage open"), None),
    **dict.fromkeys(("elife", "cell", "current biology", "cell reports", "molecular cell", "neuron", "genome biology",
                     "nucleic acids research", "the embo journal", "embo journal", "communications biology",
                     "bmc biology", "bmc genomics", "bmc bioinformatics", "bmc microbiology", "bmc evolutionary biology",
                     "bmc plant biology", "bmc ecology", "g3", "genetics", "plos biology", "plos genetics",
                     "plos computational biology", "plos pathogens", "frontiers in microbiology", "frontiers in plant science",
                     "the journal of neuroscience", "journal of neuroscience", "molecular biology and evolution",
                     "ecology letters", "zookeys", "biodiversity data journal"), "biology"),
    **dict.fromkeys(("the lancet", "lancet", "bmj", "bmj open", "jama", "the new england journal of medicine",
                     "new england journal of medicine", "plos medicine", "plos neglected tropical diseases",
                     "bmc medicine", "bmc public health", "bmc cancer", "bmc infectious diseases", "bmc oral health",
                     "environmental health perspectives", "the journal of clinical investigation", "radiology",
                     "international journal of environmental research and public health"), "medicine"),
    **dict.fromkeys(("journal of the american chemical society", "angewandte chemie", "acs omega", "rsc advances",
                     "molecules", "journal of cheminformatics", "chemrxiv"), "chemistry"),
    **dict.fromkeys(("physical review letters", "physical review a", "physical review b", "physical review d",
                     "physical review e", "physical review x", "new journal of physics", "scipost physics",
                     "optics express", "optica", "proceedings of science", "journal of instrumentation"), "physics"),
    **dict.fromkeys(("the astrophysical journal", "astrophysical journal", "the astronomical journal",
                     "astronomy & astrophysics", "astronomy and astrophysics",
                     "monthly notices of the royal astronomical society",
                     "publications of the astronomical society of the pacific"), "astronomy"),
    **dict.fromkeys(("geophysical journal international", "geophysics", "the leading edge", "eartharxiv", "essoar", "the cryosphere",
                     "atmospheric chemistry and physics", "hydrology and earth system sciences",
                     "geoscientific model development", "earth system science data", "nature geoscience"),
                    "earth_science"),
    **dict.fromkeys(("peerj computer science", "journal of machine learning research", "transactions on machine learning research"),
                    "computer_science"),
    **dict.fromkeys(("annals of mathematics", "inventiones mathematicae", "journal of the american mathematical society"),
                    "mathematics"),
    **dict.fromkeys(("international journal of microsimulation", "frontiers in psychology"), "other"),
    # Single-word and house titles common in PMC's open-access subset (MDPI, Frontiers, Impact, Cureus ...)
    **dict.fromkeys(("international journal of molecular sciences", "journal of biological chemistry",
                     "the journal of biological chemistry", "journal of virology", "microorganisms", "life", "cells",
                     "genes", "biomolecules", "viruses", "plants", "animals", "insects", "biology", "development",
                     "journal of cell science", "journal of experimental botany", "neuroimage", "human brain mapping",
                     "bioinformatics", "frontiers in genetics", "frontiers in cell and developmental biology"), "biology"),
    **dict.fromkeys(("nutrients", "antioxidants", "pharmaceutics", "pharmaceuticals", "oncotarget", "cureus", "toxins",
                     "biomedicines", "journal of ethnopharmacology", "brain", "journal of neuroinflammation", "medicina",
                     "diagnostics", "healthcare", "vaccines", "cancers", "journal of clinical medicine", "medicine",
                     "jci insight", "journal of medical internet research"), "medicine"),
    **dict.fromkeys(("materials", "nanomaterials", "physical chemistry chemical physics", "the journal of chemical physics",
                     "journal of chemical physics", "marine drugs", "catalysts", "polymers", "crystals", "inorganics",
                     "chemosensors", "chemical science"), "chemistry"),
    **dict.fromkeys(("water", "frontiers in marine science", "atmosphere", "geosciences"), "earth_science"),
    **dict.fromkeys(("energies", "applied energy", "sensors", "electronics", "machines", "micromachines", "actuators"),
                    "engineering"),
    **dict.fromkeys(("icarus", "solar physics", "universe", "galaxies"), "astronomy"),
    **dict.fromkeys(("entropy", "photonics", "frontiers in physics"), "physics"),
    **dict.fromkeys(("symmetry", "axioms"), "mathematics"),
    **dict.fromkeys(("computers", "algorithms", "future internet", "big data and cognitive computing"), "computer_science"),
    # Titles that name their field in no word of it (organs, house names, series letters)
    **dict.fromkeys(("proceedings of the royal society b", "proceedings of the royal society b: biological sciences",
                     "nature biotechnology", "nature methods", "cell death & disease", "cell death and disease",
                     "new phytologist", "parasites & vectors", "parasites and vectors", "the plant cell"), "biology"),
    **dict.fromkeys(("circulation", "gut", "thorax", "oncogene", "blood", "diabetes", "eurosurveillance", "malaria journal",
                     "molecular autism", "particle and fibre toxicology", "insights into imaging", "ejnmmi research",
                     "trials"), "medicine"),
    **dict.fromkeys(("acs central science", "acs nano", "nature materials", "npj computational materials",
                     "nature chemistry", "communications chemistry"), "chemistry"),
    **dict.fromkeys(("the european physical journal c", "light: science & applications", "light: science and applications",
                     "quantum"), "physics"),
    **dict.fromkeys(("journal of statistical software", "the r journal", "annals of statistics", "the annals of statistics",
                     "statistics in medicine"), "mathematics"),
    # House names of PMC's larger open-access journals, and titles whose words name a neighbouring field
    **dict.fromkeys(("mbio", "msystems", "msphere", "eneuro", "autophagy", "aging", "aging cell", "embo reports", "gigascience",
                     "database", "metabolites", "oecologia", "journal of the royal society interface",
                     "interface focus"), "biology"),
    **dict.fromkeys(("medical physics", "physics in medicine and biology"), "medicine"),
    # health physics: radiation protection and dosimetry (the words read as statistics or chemistry)
    **dict.fromkeys(("radiation protection dosimetry", "health physics", "journal of radiological protection"), "physics"),
    **dict.fromkeys(("chemical senses",), "biology"),  # chemosensation: taste and smell, not chemistry
    **dict.fromkeys(("earth and planetary science letters", "chemosphere", "environment international",
                     "environmental research"), "earth_science"),
    **dict.fromkeys(("cognition", "nature human behaviour", "developmental science", "child development", "infancy",
                     "cognitive science", "journal of experimental child psychology", "developmental psychology"), "other"),
    # Titles whose words mislead the term weights: an acronym ("STAR"), a prefix ("Neuro-computing"),
    # house names of chemistry's and taxonomy's journal families, series named for no field
    **dict.fromkeys(("star protocols", "planta", "heredity", "ecography", "ecosphere", "cladistics", "zookeys", "phytokeys",
                     "mycokeys", "neobiota", "nature conservation", "comparative cytogenetics", "structure", "traffic",
                     "immunity", "glia", "hippocampus", "journal of biomolecular nmr", "febs journal", "febs letters",
                     "the febs journal"), "biology"),
    **dict.fromkeys(("neurocomputing", "softwarex", "journal of open research software", "scientific programming",
                     "patterns", "knowledge-based systems", "acm computing surveys", "communications of the acm",
                     "advances in neural information processing systems", "international conference on learning representations",
                     "leibniz international proceedings in informatics"),
                    "computer_science"),
    **dict.fromkeys(("chembiochem", "chemmedchem", "chemphyschem", "chemsuschem", "chemcatchem", "chemelectrochem",
                     "chempluschem", "chemnanomat", "chemphotochem", "chemistryselect", "chemistryopen", "chemical communications",
                     "dalton transactions", "organic letters", "langmuir", "carbon", "advanced materials",
                     "advanced functional materials", "small", "materials research express", "apl materials", "2d materials",
                     "frontiers in materials", "acs applied materials and interfaces", "iucrj"), "chemistry"),
    **dict.fromkeys(("review of scientific instruments", "aip advances", "physica a", "physica d", "nonlinearity", "fluids",
                     "soft matter", "living reviews in relativity", "ultramicroscopy"), "physics"),
    **dict.fromkeys(("journal of cosmology and astroparticle physics", "advances in space research"), "astronomy"),
    **dict.fromkeys(("space weather", "frontiers in water", "ambio"), "earth_science"),
    **dict.fromkeys(("lab on a chip", "biosensors", "processes", "solar rrl", "wind energy science", "drones",
                     "frontiers in energy research", "biomaterials", "acta biomaterialia", "bioactive materials",
                     "journal of functional biomaterials", "materials and design"), "engineering"),
    # SciELO's titles (Portuguese and Spanish words are read by the vocabulary too: "saúde pública", "química")
    **dict.fromkeys(("revista brasileira de ensino de física", "revista brasileira de física"), "physics"),
    **dict.fromkeys(("hoehnea", "rodriguésia", "acta amazonica", "iheringia"), "biology"),
    **dict.fromkeys(("einstein", "memórias do instituto oswaldo cruz", "clinics", "jornal de pediatria"), "medicine"),
    **dict.fromkeys(("química nova",), "chemistry"),
    **dict.fromkeys(("children", "sleep", "addiction", "haematologica", "leukemia", "kidney international", "geroscience",
                     "surgeries", "theranostics", "journal of controlled release", "antimicrobial agents and chemotherapy",
                     "journal of clinical microbiology"), "medicine"),
}


def journal_key(title: Any) -> str:
    """A journal title as :data:`JOURNAL_DISCIPLINE` keys it: lower case, without NLM's place or edition
    qualifier ("Materials (Basel, Switzerland)", "Angewandte Chemie (International ed. in English)"),
    subtitle ("Animals : an Open Access Journal from MDPI"), leading "The", punctuation, or the
    publisher's name ("... of the Royal Society ...", whose "Society" and "Philosophical" name no
    field of the journal; "Society", "Association", "Academy" of any publisher); "&" reads "and"."""
    low = " ".join(str(title or "").lower().replace("_", " ").split())
    low = re.sub(r"\s*\([^()]*\)\s*$", "", low).split(" : ", 1)[0].replace("&", " and ")
    low = re.sub(r"\bphilosophical transactions\b|\b(?:of )?the royal society(?: of london)?\b", " ", low)
    low = re.sub(r"\b(?:society|association|academy|institute|federation)\b", " ", low)  # "Journal of the Acoustical
    # Society of America", "Chemical Society Reviews": the publisher, no field
    low = " ".join(re.sub(r"[.,:;]", " ", low).split())
    return low.removeprefix("the ")


JOURNALS_BY_KEY = {journal_key(k): v for k, v in JOURNAL_DISCIPLINE.items()}  # the table as titles are looked up

#: House titles whose first word names the publisher of a whole family of journals of one field.
JOURNAL_FAMILIES = {"jama": "medicine", "jmir": "medicine", "lancet": "medicine"}


