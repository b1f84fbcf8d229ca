"""Text normalisation for keyword matching.

``normalize(text)`` folds what people use to slip a word past a filter: Unicode NFKC (which
also turns full-width forms into half-width), case folding, zero-width and combining
characters removed, homoglyphs (Cyrillic and Greek look-alikes) mapped to Latin, and
leetspeak digits and symbols mapped to letters when they sit next to letters. Separators
between single letters ("f.u.c.k", "s e x", "操-你-妈") are handled by the keyword tier, which
also matches a second, separator-free view of the text.
"""

import re
import unicodedata

# Zero-width and other invisible format characters (Unicode category Cf covers most of them).
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e"}

# Capitals first (before case folding), where the capital looks like a different letter than
# its lower case (Greek Ν is N, ν is v).
HOMOGLYPH_CAPITALS = str.maketrans(
    {
        "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
        "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x", "А": "a", "В": "b", "Е": "e", "К": "k",
        "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c", "Т": "t", "Х": "x", "У": "y", "Ѕ": "s",
        "І": "i", "Ј": "j",
    }
)  # fmt: skip
HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "с": "c", "е": "e", "һ": "h", "і": "i", "ј": "j", "к": "k",
        "м": "m", "н": "h", "о": "o", "р": "p", "ѕ": "s", "т": "t", "у": "y", "х": "x",
        "ԁ": "d", "ɡ": "g", "ӏ": "l", "ո": "n", "ս": "u", "ԝ": "w", "ү": "y",
        # Greek
        "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x", "ω": "w",
        # Latin look-alikes that NFKC keeps
        "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ß": "ss",
    }
)  # fmt: skip

LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "9": "g",
        "@": "a", "$": "s", "!": "i", "|": "l", "+": "t", "€": "e", "£": "l"}  # fmt: skip
_LEET_RUN = re.compile(r"[\w@$!|+€£]+")


def strip_invisible(text: str) -> str:
    return "".join(
        ch
        for ch in text
        if ch not in _INVISIBLE
        and unicodedata.category(ch) not in {"Cf", "Mn", "Me"}  # format, combining marks
    )


_DIGITS_INSIDE_WORD = re.compile(r"(?<=[^\W\d_])[0134579]+(?=[^\W\d_])")


def _unleet_word(word: str) -> str:
    """Map digits inside a word ("sh1t", "f4ggot") and symbols in a word that has more letters
    than symbols ("@ss", "$hit"). Order numbers, sizes and prices stay ("A10293", "4XL", "$19")."""
    word = _DIGITS_INSIDE_WORD.sub(lambda m: "".join(LEET[d] for d in m.group(0)), word)
    symbols = sum(1 for ch in word if ch in "@$!|+€£")
    letters = sum(1 for ch in word if ch.isalpha())
    if symbols and letters > symbols and not any(ch.isdigit() for ch in word):
        word = "".join(LEET.get(ch, ch) if ch in "@$!|+€£" else ch for ch in word)
    return word


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2FA1F
        or 0xF900 <= code <= 0xFAFF
    )


def normalize(text: str) -> str:
    """The folded form that keyword lists are matched against (and stored in)."""
    text = unicodedata.normalize("NFKD", text)  # split accents off so they can be stripped
    text = strip_invisible(text)
    text = unicodedata.normalize("NFKC", text).translate(HOMOGLYPH_CAPITALS).casefold()
    text = text.translate(HOMOGLYPHS)
    text = _LEET_RUN.sub(lambda m: _unleet_word(m.group(0)), text)
    return text


def detect_language(text: str) -> str:
    """ "zh" when CJK characters are at least a fifth of the letters, else "en"."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "en"
    cjk = sum(1 for ch in letters if is_cjk(ch))
    return "zh" if cjk * 5 >= len(letters) else "en"
