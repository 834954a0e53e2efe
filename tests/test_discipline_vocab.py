"""Every category of the published vocabularies maps to its intended discipline.

The lists are the full vocabularies as published: arXiv (every archive and category of
arXiv's taxonomy, legacy ones included, from ``arxiv/taxonomy/definitions.py`` of arXiv's
``arxiv-base``), bioRxiv's 27 and medRxiv's 51 subject collections, ChemRxiv's 17
categories (its Engage public API's list; "Chemical biology" is biology, as in Nature's areas) and the Nature subject areas
(the five top-level areas and every area under them, as on nature.com/subjects).
"""

from __future__ import annotations

import pytest

from s1mmalign.core import contract

# arXiv: archive -> its categories' subject classes ("" is the bare archive).
ARXIV: dict[str, tuple[str, ...]] = {
    "astro-ph": ("", "CO", "EP", "GA", "HE", "IM", "SR"),
    "cond-mat": ("", "dis-nn", "mes-hall", "mtrl-sci", "other", "quant-gas", "soft", "stat-mech", "str-el", "supr-con"),
    "cs": ("", "AI", "AR", "CC", "CE", "CG", "CL", "CR", "CV", "CY", "DB", "DC", "DL", "DM", "DS", "ET", "FL", "GL", "GR",
           "GT", "HC", "IR", "IT", "LG", "LO", "MA", "MM", "MS", "NA", "NE", "NI", "OH", "OS", "PF", "PL", "RO", "SC",
           "SD", "SE", "SI", "SY"),
    "econ": ("", "EM", "GN", "TH"),
    "eess": ("", "AS", "IV", "SP", "SY"),
    "gr-qc": ("",), "hep-ex": ("",), "hep-lat": ("",), "hep-ph": ("",), "hep-th": ("",), "math-ph": ("",),
    "nucl-ex": ("",), "nucl-th": ("",), "quant-ph": ("",),
    "math": ("", "AC", "AG", "AP", "AT", "CA", "CO", "CT", "CV", "DG", "DS", "FA", "GM", "GN", "GR", "GT", "HO", "IT",
             "KT", "LO", "MG", "MP", "NA", "NT", "OA", "OC", "PR", "QA", "RA", "RT", "SG", "SP", "ST"),
    "nlin": ("", "AO", "CD", "CG", "PS", "SI"),
    "physics": ("", "acc-ph", "ao-ph", "app-ph", "atm-clus", "atom-ph", "bio-ph", "chem-ph", "class-ph", "comp-ph",
                "data-an", "ed-ph", "flu-dyn", "gen-ph", "geo-ph", "hist-ph", "ins-det", "med-ph", "optics", "plasm-ph",
                "pop-ph", "soc-ph", "space-ph"),
    "q-bio": ("", "BM", "CB", "GN", "MN", "NC", "OT", "PE", "QM", "SC", "TO"),
    "q-fin": ("", "CP", "EC", "GN", "MF", "PM", "PR", "RM", "ST", "TR"),
    "stat": ("", "AP", "CO", "ME", "ML", "OT", "TH"),
    # legacy archives (subsumed into the categories above)
    "acc-phys": ("",), "adap-org": ("",), "alg-geom": ("",), "ao-sci": ("",), "atom-ph": ("",), "bayes-an": ("",),
    "chao-dyn": ("",), "chem-ph": ("",), "cmp-lg": ("",), "comp-gas": ("",), "dg-ga": ("",), "funct-an": ("",),
    "mtrl-th": ("",), "patt-sol": ("",), "plasm-ph": ("",), "q-alg": ("",), "solv-int": ("",), "supr-con": ("",),
}
ARXIV_ARCHIVE_DISCIPLINE = {
    "astro-ph": "astronomy", "cs": "computer_science", "econ": "other", "eess": "engineering", "math": "mathematics",
    "q-bio": "biology", "q-fin": "other", "stat": "mathematics", "acc-phys": "physics", "adap-org": "physics",
    "alg-geom": "mathematics", "ao-sci": "earth_science", "atom-ph": "physics", "bayes-an": "mathematics",
    "chao-dyn": "physics", "chem-ph": "chemistry", "cmp-lg": "computer_science", "comp-gas": "physics",
    "dg-ga": "mathematics", "funct-an": "mathematics", "mtrl-th": "physics", "patt-sol": "physics", "plasm-ph": "physics",
    "q-alg": "mathematics", "solv-int": "physics", "supr-con": "physics",
}
# categories whose discipline is not their archive's (aliases map alike: math.MP = math-ph,
# math.IT = cs.IT, cs.NA = math.NA, cs.SY = eess.SY, stat.TH = math.ST, q-fin.EC = econ.GN)
ARXIV_EXCEPTIONS = {
    "physics.ao-ph": "earth_science", "physics.geo-ph": "earth_science", "physics.chem-ph": "chemistry",
    "physics.atm-clus": "chemistry", "physics.med-ph": "medicine", "physics.space-ph": "astronomy",
    "math.MP": "physics", "math.IT": "computer_science", "cs.NA": "mathematics",
    "cs.SY": "engineering", "stat.ML": "computer_science", "q-bio.QM": "biology",
}


def _arxiv_rows():
    for archive, classes in ARXIV.items():
        for c in classes:
            cat = f"{archive}.{c}" if c else archive
            want = ARXIV_EXCEPTIONS.get(cat, ARXIV_ARCHIVE_DISCIPLINE.get(archive, "physics"))
            yield cat, want


BIORXIV = {  # the 27 subject collections
    "Animal Behavior and Cognition": "biology", "Biochemistry": "biology", "Bioengineering": "biology",
    "Bioinformatics": "biology", "Biophysics": "biology", "Cancer Biology": "biology", "Cell Biology": "biology",
    "Clinical Trials": "medicine", "Developmental Biology": "biology", "Ecology": "biology", "Epidemiology": "medicine",
    "Evolutionary Biology": "biology", "Genetics": "biology", "Genomics": "biology", "Immunology": "biology",
    "Microbiology": "biology", "Molecular Biology": "biology", "Neuroscience": "biology", "Paleontology": "biology",
    "Pathology": "medicine", "Pharmacology and Toxicology": "medicine", "Physiology": "biology",
    "Plant Biology": "biology", "Scientific Communication and Education": "other", "Synthetic Biology": "biology",
    "Systems Biology": "biology", "Zoology": "biology",
}
MEDRXIV = (  # the 51 subject areas, all medicine
    "Addiction Medicine", "Allergy and Immunology", "Anesthesia", "Cardiovascular Medicine",
    "Dentistry and Oral Medicine", "Dermatology", "Emergency Medicine",
    "Endocrinology (including Diabetes Mellitus and Metabolic Disease)", "Epidemiology", "Forensic Medicine",
    "Gastroenterology", "Genetic and Genomic Medicine", "Geriatric Medicine", "Health Economics", "Health Informatics",
    "Health Policy", "Health Systems and Quality Improvement", "Hematology", "HIV/AIDS",
    "Infectious Diseases (except HIV/AIDS)", "Intensive Care and Critical Care Medicine", "Medical Education",
    "Medical Ethics", "Nephrology", "Neurology", "Nursing", "Nutrition", "Obstetrics and Gynecology",
    "Occupational and Environmental Health", "Oncology", "Ophthalmology", "Orthopedics", "Otolaryngology",
    "Pain Medicine", "Palliative Medicine", "Pathology", "Pediatrics", "Pharmacology and Therapeutics",
    "Primary Care Research", "Psychiatry and Clinical Psychology", "Public and Global Health",
    "Radiology and Imaging", "Rehabilitation Medicine and Physical Therapy", "Respiratory Medicine", "Rheumatology",
    "Sexual and Reproductive Health", "Sports Medicine", "Surgery", "Toxicology", "Transplantation", "Urology",
)
CHEMRXIV = (  # every category is chemistry
    "Agriculture and Food Chemistry", "Analytical Chemistry", "Biological and Medicinal Chemistry", "Catalysis",
    "Chemical Education", "Chemical Engineering and Industrial Chemistry", "Earth, Space, and Environmental Chemistry",
    "Energy", "Inorganic Chemistry", "Materials Chemistry", "Materials Science", "Nanoscience", "Organic Chemistry",
    "Organometallic Chemistry", "Physical Chemistry", "Polymer Science", "Theoretical and Computational Chemistry",
)
NATURE = {  # top-level areas first, then the areas under each
    "Physical sciences": "physics", "Earth and environmental sciences": "earth_science",
    "Biological sciences": "biology", "Health sciences": "medicine", "Scientific community and society": "other",
    # Physical sciences
    "Physics": "physics", "Astronomy and planetary science": "astronomy", "Chemistry": "chemistry",
    "Materials science": "chemistry", "Mathematics and computing": "mathematics", "Engineering": "engineering",
    "Nanoscience and technology": "chemistry", "Optics and photonics": "physics",
    "Energy science and technology": "engineering",
    # Earth and environmental sciences
    "Climate sciences": "earth_science", "Ecology": "biology", "Environmental sciences": "earth_science",
    "Solid Earth sciences": "earth_science", "Planetary science": "astronomy", "Environmental social sciences": "other",
    "Biogeochemistry": "earth_science", "Ocean sciences": "earth_science", "Hydrology": "earth_science",
    "Natural hazards": "earth_science", "Limnology": "earth_science", "Space physics": "astronomy",
    # Biological sciences
    "Genetics": "biology", "Microbiology": "biology", "Neuroscience": "biology", "Immunology": "biology",
    "Evolution": "biology", "Cancer": "medicine", "Cell biology": "biology", "Biochemistry": "biology",
    "Molecular biology": "biology", "Zoology": "biology", "Developmental biology": "biology",
    "Biological techniques": "biology", "Structural biology": "biology", "Physiology": "biology",
    "Biotechnology": "biology", "Drug discovery": "medicine", "Stem cells": "biology", "Plant sciences": "biology",
    "Computational biology and bioinformatics": "biology", "Psychology": "other", "Biophysics": "biology",
    "Chemical biology": "biology", "Systems biology": "biology",
    # Health sciences
    "Diseases": "medicine", "Health care": "medicine", "Medical research": "medicine", "Anatomy": "medicine",
    "Pathogenesis": "medicine", "Risk factors": "medicine", "Biomarkers": "medicine", "Neurology": "medicine",
    "Signs and symptoms": "medicine", "Endocrinology": "medicine", "Health occupations": "medicine",
    # Scientific community and society
    "Scientific community": "other", "Social sciences": "other", "Business and industry": "other",
    "Developing world": "other", "Agriculture": "biology", "Water resources": "earth_science",
    "Geography": "earth_science", "Energy and society": "other", "Forestry": "biology",
}


def _check(rows, label):
    wrong = [(tag, contract.discipline_for_tags([tag]), want) for tag, want in rows
             if contract.discipline_for_tags([tag]) != want]
    assert not wrong, f"{label}: {len(wrong)} of {len(rows)} map elsewhere (tag, got, intended): {wrong}"


def test_every_arxiv_archive_and_category_legacy_included():
    rows = list(_arxiv_rows())
    assert len(rows) == 184 and len({c for c, _ in rows}) == 184
    _check(rows, "arXiv")


@pytest.mark.parametrize("name,rows", [
    ("bioRxiv", list(BIORXIV.items())),
    ("medRxiv", [(s, "medicine") for s in MEDRXIV]),
    ("ChemRxiv", [(s, "chemistry") for s in CHEMRXIV]),
    ("Nature", list(NATURE.items())),
])
def test_every_subject_area_of_the_preprint_servers_and_nature(name, rows):
    assert {"bioRxiv": 27, "medRxiv": 51, "ChemRxiv": 17, "Nature": 69}[name] == len(rows)
    _check(rows, name)
    # the API spells them in lower case with underscores ("cancer_biology"); same answer
    _check([(t.lower().replace(" ", "_"), want) for t, want in rows], name + " (API spelling)")


@pytest.mark.parametrize("tags,want", [
    # Nature's subject pairs: the broad area first, the specific subject decides
    (["Physical sciences", "Chemistry"], "chemistry"),
    (["Physical sciences", "Astronomy and planetary science"], "astronomy"),
    (["Biological sciences", "Neuroscience", "Health sciences", "Neurology"], "biology"),
    (["Health sciences", "Cardiology"], "medicine"),
    (["Earth and environmental sciences", "Ecology"], "biology"),
    (["Physical sciences", "Engineering", "Energy science and technology"], "engineering"),
    # PLOS hierarchies: top-level area, then narrower terms
    (["Physical Sciences", "Chemistry", "Physical chemistry"], "chemistry"),
    (["Research Article", "Biology and life sciences", "Ecology", "Marine ecology", "Physical sciences", "Physics"], "biology"),
    (["Physical sciences", "Mathematics", "Applied mathematics"], "mathematics"),
    (["Engineering and technology", "Civil engineering"], "engineering"),
    (["Medicine and health sciences", "Oncology"], "medicine"),
    (["Earth sciences", "Geophysics", "Physical sciences"], "earth_science"),
    # eLife's subjects
    (["Research Article", "Biochemistry and Chemical Biology", "Chromosomes and Gene Expression"], "biology"),
    (["Research Article", "Structural Biology and Molecular Biophysics"], "biology"),
    (["Short Report", "Epidemiology and Global Health"], "medicine"),
    # arXiv: the primary category first
    (["cs.CV", "eess.IV"], "computer_science"),
    (["physics.optics", "quant-ph"], "physics"),
])
def test_the_most_specific_subject_wins_over_broad_areas(tags, want):
    assert contract.discipline_for_tags(tags) == want


@pytest.mark.parametrize("journal,want", [
    ("BMC Microbiology", "biology"), ("BMC Oral Health", "medicine"), ("Environmental Health Perspectives", "medicine"),
    ("eLife", "biology"), ("PLOS Computational Biology", "biology"), ("The Lancet", "medicine"),
    ("Geochemistry, Geophysics, Geosystems", "earth_science"), ("Geophysical Journal International", "earth_science"),
    ("Atmospheric Chemistry and Physics", "earth_science"), ("The Astrophysical Journal", "astronomy"),
    ("Monthly Notices of the Royal Astronomical Society", "astronomy"), ("Physical Review Letters", "physics"),
    ("Journal of the American Chemical Society", "chemistry"), ("The Journal of Chemical Physics", "chemistry"),
    ("IEEE Transactions on Power Systems", "engineering"), ("IEEE Transactions on Pattern Analysis and Machine Intelligence",
                                                           "computer_science"),
    ("Journal of Hydrology", "earth_science"), ("Annals of Mathematics", "mathematics"),
    ("PLOS ONE", None), ("Nature Communications", None), ("Scientific Reports", None), ("", None), (None, None),
])
def test_journal_titles_map_to_disciplines(journal, want):
    assert contract.discipline_for_journal(journal) == want


def test_journal_then_paper_title_decide_only_when_no_subject_does():
    # subjects that are only article types: the journal decides
    assert contract.discipline_for_tags(["Research Article"], journal="BMC Microbiology") == "biology"
    assert contract.discipline_for_tags(["Research"], journal="Environmental Health Perspectives") == "medicine"
    assert contract.discipline_for_tags(["Policy Forum"], journal="PLoS Medicine") == "medicine"  # not `other` for "policy"
    # a subject decides over the journal
    assert contract.discipline_for_tags(["Research Article", "Oncology"], journal="BMC Microbiology") == "medicine"
    # a multidisciplinary journal names nothing: the paper's title is the last resort, then the default
    assert contract.discipline_for_tags(["Research Article"], journal="PLOS ONE",
                                        title="miRNA profiling in renal carcinoma") == "medicine"
    assert contract.discipline_for_tags(["Research Article"], journal="PLOS ONE", title="A new method") == "other"
    assert contract.discipline_for_tags([], default="biology", journal="PLOS ONE", title="A new method") == "biology"
    # a broad area alone still decides, and beats the journal
    assert contract.discipline_for_tags(["Physical sciences"], journal="BMC Microbiology") == "physics"


def test_free_keyword_tags_are_read_together_and_geometry_is_mathematics():
    """Free tags (no published vocabulary) are read together with the title and abstract by the
    term weights; the first keyword match does not decide alone."""
    tags = ["Python", "biomechanics", "electromyography", "signal processing"]
    assert contract.discipline_for_tags(tags) == "engineering"
    assert contract.discipline_for_tags(["Python", "landscape evolution", "geomorphology", "hydrology"]) == "earth_science"
    assert contract.discipline_for_tags(["Julia", "geometry", "computational geometry", "triangulation"]) == "mathematics"
    assert contract.discipline_for_tags(["geometric-algorithms"]) == "mathematics"
    # a tie of free tags goes to the paper's own words
    tied = ["biomechanics", "electromyography"]
    assert contract.discipline_for_tags(tied, title="Muscle physiology and neurons of zebrafish larvae") == "biology"
    assert contract.discipline_for_tags(tied, title="An amplifier and sensor circuit design for electromyography signal processing "
                                           "in control of prosthetic actuators") == "engineering"
    # a tag from a published vocabulary still beats any number of free ones
    assert contract.discipline_for_tags(["geophysics tools", "seismology", "astro-ph.GA"]) == "astronomy"


@pytest.mark.parametrize("journal,want", [
    ("International Journal of Molecular Sciences", "biology"), ("The Journal of Biological Chemistry", "biology"),
    ("Journal of Virology", "biology"), ("Frontiers in Neuroscience", "biology"), ("Microorganisms", "biology"),
    ("Nutrients", "medicine"), ("Cancers", "medicine"), ("Oncotarget", "medicine"), ("Cureus", "medicine"),
    ("BMC Psychiatry", "medicine"), ("Frontiers in Oncology", "medicine"), ("Frontiers in Psychology", "other"),
    ("Materials", "chemistry"), ("Nanomaterials", "chemistry"), ("Physical Chemistry Chemical Physics", "chemistry"),
    ("Journal of Medicinal Chemistry", "chemistry"), ("Water", "earth_science"), ("Remote Sensing", "earth_science"),
    ("Geophysical Research Letters", "earth_science"), ("Energies", "engineering"), ("Sensors", "engineering"),
    ("IEEE Access", "engineering"), ("Icarus", "astronomy"), ("Applied Physics Letters", "physics"),
    ("Symmetry", "mathematics"), ("Algorithms", "computer_science"), ("Heliyon", None), ("PeerJ", None),
    # read by the term weights: a field word in the title
    ("Virology Journal", "biology"), ("Retrovirology", "biology"), ("Molecular Neurodegeneration", "medicine"),
    ("Critical Care", "medicine"), ("Respiratory Research", "medicine"), ("Systematic Reviews", "medicine"),
    ("Journal of Cardiovascular Magnetic Resonance", "medicine"), ("BMC Veterinary Research", "medicine"),
    ("Biogeosciences", "earth_science"), ("Water Research", "earth_science"), ("Nano Letters", "chemistry"),
    ("Environmental Science & Technology", "earth_science"), ("Physical Review Research", "physics"),
    ("Biometrika", "mathematics"), ("SIAM Journal on Scientific Computing", "mathematics"),
    ("Pattern Recognition", "computer_science"), ("Neural Computation", "computer_science"),
    ("Journal of NeuroEngineering and Rehabilitation", "engineering"), ("Psychological Science", "other"),
    # the table: no word of the title names the field
    ("Circulation", "medicine"), ("Gut", "medicine"), ("Nature Methods", "biology"), ("ACS Nano", "chemistry"),
    ("Proceedings of the Royal Society B", "biology"), ("Journal of Statistical Software", "mathematics"),
])
def test_common_open_access_journals_map_to_disciplines(journal, want):
    """Titles frequent in PMC's open-access subset: single words (MDPI) the term weights cannot read."""
    assert contract.discipline_for_journal(journal) == want


def test_author_keywords_are_read_as_words_not_as_a_vocabulary():
    # a subject-list term among author keywords is one strong vote, not the answer
    tags = ["Python", "spatial statistics", "kriging", "semivariogram", "geostatistics", "public health"]
    assert contract.discipline_for_tags(tags) == "earth_science"
    assert contract.discipline_for_tags(["Public health"]) == "medicine"  # alone, the vocabulary decides
    # programming languages name no field; a statistics paper's keywords are mathematics
    assert contract.discipline_for_tags(["R", "Python", "regression models", "causal inference"]) == "mathematics"
    assert contract.discipline_for_tags(["Python", "C++", "Julia"], title="A new method") == "other"
    # an article type is not an author keyword: the journal still decides
    assert contract.discipline_for_tags(["Research"], journal="Environmental Health Perspectives",
                                        title="Gene expression in zebrafish embryos") == "medicine"
    # an arXiv category is never outvoted
    assert contract.discipline_for_tags(["astro-ph.GA", "seismology", "earthquakes", "tectonics"]) == "astronomy"


@pytest.mark.parametrize("journal,want", [
    # PMC's <journal-title> as NLM writes it: place and edition qualifiers, subtitles, "&", a leading "The"
    ("Sensors (Basel, Switzerland)", "engineering"), ("Materials (Basel, Switzerland)", "chemistry"),
    ("Antioxidants (Basel, Switzerland)", "medicine"), ("Entropy (Basel, Switzerland)", "physics"),
    ("Lancet (London, England)", "medicine"), ("Development (Cambridge, England)", "biology"),
    ("G3 (Bethesda, Md.)", "biology"), ("Angewandte Chemie (International ed. in English)", "chemistry"),
    ("Animals : an Open Access Journal from MDPI", "biology"), ("Light, Science & Applications", "physics"),
    ("Cell Death & Disease", "biology"), ("The EMBO Journal", "biology"),
    # the publisher's name is no field ("Society", "Philosophical")
    ("Philosophical Transactions of the Royal Society of London. Series B, Biological Sciences", "biology"),
    ("Philosophical Transactions. Series A, Mathematical, Physical, and Engineering Sciences", None),
    ("Journal of the Royal Society, Interface", "biology"), ("Proceedings. Biological Sciences", "biology"),
    # house names and families
    ("mBio", "biology"), ("mSphere", "biology"), ("eNeuro", "biology"), ("GigaScience", "biology"),
    ("JAMA Network Open", "medicine"), ("JMIR mHealth and uHealth", "medicine"), ("Cognition", "other"),
    ("Earth and Planetary Science Letters", "earth_science"), ("Chemosphere", "earth_science"),
    # medical specialties and neighbouring fields named by their words
    ("Frontiers in Endocrinology", "medicine"), ("Hepatology", "medicine"), ("Frontiers in Nutrition", "medicine"),
    ("BMC Pregnancy and Childbirth", "medicine"), ("BMC Medical Education", "medicine"), ("Journal of Magnetic Resonance Imaging",
                                                                                         "medicine"),
    ("Frontiers in Molecular Biosciences", "biology"), ("Bulletin of Mathematical Biology", "biology"),
    ("Journal of Mathematical Biology", "biology"), ("Biomedical Engineering Online", "engineering"),
])
def test_journal_titles_as_pmc_writes_them(journal, want):
    assert contract.discipline_for_journal(journal) == want


@pytest.mark.parametrize("journal,want", [
    # words that mislead: an acronym, a prefix, the publisher's "Society"
    ("STAR Protocols", "biology"), ("Neurocomputing", "computer_science"),
    ("The Journal of the Acoustical Society of America", "physics"), ("Chemical Society Reviews", "chemistry"),
    ("Journal of the American Society for Mass Spectrometry", "chemistry"),
    ("Bulletin of the American Meteorological Society", "earth_science"),
    # families and single words of PMC's open-access list that named nothing
    ("ChemBioChem", "chemistry"), ("ChemSusChem", "chemistry"), ("Advanced Materials (Deerfield Beach, Fla.)", "chemistry"),
    ("Small (Weinheim an der Bergstrasse, Germany)", "chemistry"), ("ACS Applied Materials & Interfaces", "chemistry"),
    ("ZooKeys", "biology"), ("PhytoKeys", "biology"), ("Nota Lepidopterologica", "biology"), ("Planta", "biology"),
    ("Structure (London, England : 1993)", "biology"), ("FEBS Letters", "biology"), ("Glia", "biology"),
    ("Soft Matter", "physics"), ("Review of Scientific Instruments", "physics"), ("Fluids", "physics"),
    ("Journal of Cosmology and Astroparticle Physics", "astronomy"), ("Space Weather", "earth_science"),
    ("Lab on a Chip", "engineering"), ("Aerospace", "engineering"), ("Biomaterials", "engineering"),
    ("Kidney International", "medicine"), ("Frontiers in Allergy", "medicine"), ("Dermatopathology", "medicine"),
    ("Chemical Senses", "biology"), ("Radiation Protection Dosimetry", "physics"),
    ("Children", "medicine"), ("Developmental Science", "other"), ("SoftwareX", "computer_science"), ("Frontiers in Big Data", "computer_science"),
    # SciELO: Portuguese and Spanish titles
    ("Revista de Saúde Pública", "medicine"), ("Cadernos de Saúde Pública", "medicine"), ("Química Nova", "chemistry"),
    ("Revista Brasileira de Ensino de Física", "physics"), ("Hoehnea", "biology"), ("einstein (São Paulo)", "medicine"),
    ("Journal of the Brazilian Chemical Society", "chemistry"),
    # still no field: multidisciplinary titles
    ("Royal Society Open Science", None), ("Proceedings of the Royal Society A", None), ("Scientific Data", None),
    ("Anais da Academia Brasileira de Ciências", None),
])
def test_journal_titles_that_misled_the_term_weights(journal, want):
    assert contract.discipline_for_journal(journal) == want


@pytest.mark.parametrize("article_type", ["Database", "Software Tool Article", "Data Descriptor", "Tools and Resources"])
def test_article_types_named_in_field_words_count_for_nothing(article_type):
    # Nucleic Acids Research files a database paper under "Database": the journal and the paper decide, not the word
    assert contract.discipline_for_tags(["Research Article", article_type], journal="BMC Microbiology") == "biology"
    assert contract.discipline_for_tags([article_type], journal="Nucleic Acids Research") == "biology"
    assert contract.discipline_for_tags([article_type]) == "other"


@pytest.mark.parametrize("heading,want", [
    ("Neuroscience", "biology"), ("Microbiology", "biology"), ("Plant Science", "biology"), ("Psychology", "other"),
    ("Oncology", "medicine"), ("Endocrinology", "medicine"), ("Nutrition", "medicine"), ("Ophthalmology", "medicine"),
    ("Obstetrics and Gynecology", "medicine"), ("Otorhinolaryngology", "medicine"), ("Rehabilitation", "medicine"),
    ("Marine Science", "earth_science"), ("Marine Biology", "biology"), ("Rehabilitation Engineering", "engineering"),
    ("Astronomy and Space Sciences", "astronomy"), ("Applied Mathematics and Statistics", "mathematics"),
    ("Energy Research", "engineering"), ("Molecular Biosciences", "biology"), ("Materials", "chemistry"),
])
def test_journal_section_headings_beside_an_article_type(heading, want):
    """Frontiers and BMC file an article under a section heading beside its type ("Original Research")."""
    assert contract.discipline_for_tags(["Original Research", heading], journal="Frontiers in Research Metrics") == want
