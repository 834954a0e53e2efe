"""LaTeX's named characters: symbols, accents, siunitx units and prefixes (tables only)."""

SYMBOLS = {
    # Greek
    **dict(zip(("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma "
                "tau upsilon phi chi psi omega").split(), "αβγδεζηθικλμνξοπρστυφχψω")),
    "varepsilon": "ε", "vartheta": "ϑ", "varphi": "φ", "varrho": "ϱ", "varsigma": "ς", "varpi": "ϖ",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ",
    "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    # operators and relations
    "times": "×", "pm": "±", "mp": "∓", "cdot": "·", "cdots": "⋯", "ldots": "…", "dots": "…", "div": "÷",
    "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥", "neq": "≠", "ne": "≠", "approx": "≈", "simeq": "≃",
    "sim": "~", "propto": "∝", "equiv": "≡", "ll": "≪", "gg": "≫", "infty": "∞", "partial": "∂",
    "nabla": "∇", "sum": "Σ", "prod": "Π", "int": "∫", "oint": "∮", "sqrt": "√", "circ": "°", "degree": "°",
    "rightarrow": "→", "to": "→", "leftarrow": "←", "Rightarrow": "⇒", "leftrightarrow": "↔",
    "langle": "⟨", "rangle": "⟩", "in": "∈", "subset": "⊂", "cup": "∪", "cap": "∩", "hbar": "ħ", "ell": "ℓ",
    "prime": "′", "odot": "⊙", "sun": "☉", "oplus": "⊕", "earth": "⊕", "micro": "µ", "deg": "°", "perp": "⊥", "parallel": "∥", "star": "⋆", "ast": "*", "dagger": "†", "AA": "Å", "angstrom": "Å",
    "log": "log", "ln": "ln", "exp": "exp", "sin": "sin", "cos": "cos", "tan": "tan", "max": "max", "min": "min",
    "lim": "lim", "det": "det",
    "subseteq": "⊆", "supseteq": "⊇", "supset": "⊃", "nsubseteq": "⊈", "subsetneq": "⊊", "setminus": "∖",
    "mapsto": "↦", "emptyset": "∅", "varnothing": "∅", "lesssim": "≲", "gtrsim": "≳", "cong": "≅",
    "leqslant": "≤", "geqslant": "≥", "Leftrightarrow": "⇔", "Leftarrow": "⇐", "implies": "⟹", "iff": "⟺",
    "longrightarrow": "⟶", "gets": "←", "uparrow": "↑", "downarrow": "↓", "rightleftharpoons": "⇌",
    "bullet": "•", "angle": "∠", "wedge": "∧", "land": "∧", "vee": "∨", "lor": "∨", "neg": "¬", "lnot": "¬",
    "notin": "∉", "ni": "∋", "forall": "∀", "exists": "∃", "nexists": "∄", "otimes": "⊗", "mid": "|",
    "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉", "vert": "|", "Vert": "‖", "|": "‖",
    "arcsec": "″", "arcmin": "′", "aleph": "ℵ", "Re": "ℜ", "Im": "ℑ", "vdots": "⋮", "ddots": "⋱",
    "prec": "≺", "succ": "≻", "preceq": "⪯", "succeq": "⪰", "preccurlyeq": "≼", "succcurlyeq": "≽", "nmid": "∤",
    "coloneqq": "≔", "doteq": "≐", "triangleq": "≜", "models": "⊨", "vdash": "⊢", "dashv": "⊣", "top": "⊤",
    "bot": "⊥", "asymp": "≍", "nsim": "≁", "ncong": "≇", "nleq": "≰", "ngeq": "≱", "lessapprox": "⪅",
    "gtrapprox": "⪆", "varpropto": "∝", "bigcup": "⋃", "bigcap": "⋂", "sqcup": "⊔", "sqcap": "⊓", "uplus": "⊎",
    "coprod": "∐", "iint": "∬", "boxplus": "⊞", "boxtimes": "⊠", "circledast": "⊛", "lhd": "⊲", "rhd": "⊳",
    "unlhd": "⊴", "unrhd": "⊵", "diamond": "⋄", "Box": "□", "square": "□", "blacksquare": "■", "triangle": "△",
    "checkmark": "✓", "ddagger": "‡", "ddag": "‡", "texttimes": "×", "wp": "℘", "bowtie": "⋈",
    **{f: f for f in "sinh cosh tanh coth arcsin arccos arctan cot sec csc sup inf arg dim ker gcd Pr mod bmod".split()},
    # text
    "&": "&", "%": "%", "_": "_", "#": "#", "$": "$", "{": "{", "}": "}", " ": " ", ",": " ", ";": " ", ":": " ",
    "!": "", "/": "", "\\": " ", "-": "", "quad": " ", "qquad": " ", "enspace": " ", "thinspace": " ",
    "textendash": "–", "textemdash": "—", "textdegree": "°", "textmu": "µ", "textpm": "±", "copyright": "©",
    "LaTeX": "LaTeX", "TeX": "TeX", "ss": "ß", "o": "ø", "O": "Ø", "ae": "æ", "AE": "Æ", "l": "ł", "L": "Ł",
    "item": "•", "i": "ı", "textasciitilde": "~", "textbackslash": "\\", "textbar": "|", "S": "§", "P": "¶", "dag": "†",
    "textquotesingle": "'", "textquotedbl": '"', "textquoteleft": "‘", "textquoteright": "’",
    "textquotedblleft": "“", "textquotedblright": "”", "textellipsis": "…", "textbullet": "•", "oe": "œ", "OE": "Œ",
    "aa": "å", "textless": "<", "textgreater": ">", "textunderscore": "_", "textregistered": "®", "texttrademark": "™",
    "newline": " ", "linebreak": " ", "par": " ",
}
ACCENTS = {"'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304",
            ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328", "r": "\u030a"}

#: Math accents: the combining mark printed over the letter (\bar{s} "s̄", \hat{H} "Ĥ"); an \overline or a
#: \bar over several letters marks each of them, a wide accent the last.
MATH_ACCENTS = {"bar": "\u0304", "overline": "\u0305", "hat": "\u0302", "widehat": "\u0302", "tilde": "\u0303",
                "widetilde": "\u0303", "vec": "\u20d7", "dot": "\u0307", "ddot": "\u0308", "check": "\u030c",
                "breve": "\u0306", "acute": "\u0301", "grave": "\u0300", "mathring": "\u030a"}

#: Letter-like text characters: TeX eats the space after them (``Hawai\textquotesingle i``).
GLUED = frozenset("textquotesingle ss o O ae AE oe OE aa l L i".split())

#: siunitx prefixes (``\kilo``, binary ``\mebi``): written before the next unit, no space.
UNIT_PREFIXES = {
    **dict(zip("yocto zepto atto femto pico nano micro milli centi deci deca deka hecto kilo mega giga tera peta exa "
               "zetta yotta".split(), "y z a f p n µ m c d da da h k M G T P E Z Y".split())),
    **dict(zip("kibi mebi gibi tebi pebi exbi".split(), "Ki Mi Gi Ti Pi Ei".split())),
}
_ABBREVIATED = {  # siunitx's abbreviated units: \kg, \mm, \GHz, \keV ... (prefix letter + unit)
    "g": "fpnumk", "m": "pnumckd", "s": "afpnum", "mol": "fpnumk", "A": "pnumk", "l": "umh", "L": "umh",
    "Hz": "mkMGT", "N": "mkM", "Pa": "hkMG", "ohm": "kM", "V": "pnumk", "W": "umkMG", "J": "umk", "eV": "mkMGT",
    "F": "fpnum", "K": "m",
}
#: siunitx units (full names and abbreviations) -> symbol; ``\per``, ``\squared`` ... are the Converter's.
UNITS = {
    **dict(zip("metre meter gram second ampere kelvin mole candela becquerel degreeCelsius celsius coulomb farad gray "
               "hertz henry joule katal lumen lux newton ohm pascal radian siemens sievert steradian tesla volt watt "
               "weber day hectare hour litre liter minute tonne arcminute arcsecond degree electronvolt dalton "
               "atomicmassunit astronomicalunit bel decibel neper bit byte percent angstrom barn bar mmHg "
               "parsec lightyear arcmin arcsec".split(),
               "m m g s A K mol cd Bq °C °C C F Gy Hz H J kat lm lx N Ω Pa rad S Sv sr T V W Wb d ha h L L min t ′ ″ ° "
               "eV Da u au B dB Np bit B % Å b bar mmHg pc ly ′ ″".split())),
    **{p + u: {"u": "µ"}.get(p, p) + {"ohm": "Ω", "l": "L"}.get(u, u) for u, ps in _ABBREVIATED.items() for p in ps},
    "Hz": "Hz", "Pa": "Pa", "ohm": "Ω", "eV": "eV", "dB": "dB", "kWh": "kWh", "mmHg": "mmHg",
    **{u: u for u in ("m", "g", "s", "A", "K", "N", "V", "W", "J", "F", "mol")}, "l": "L", "L": "L",
}
