"""PII detection and redaction: emails, phone numbers (international and Chinese mobile),
payment cards (Luhn), Chinese resident ID numbers (GB 11643 checksum), IBANs (ISO 7064
mod-97), street addresses (English and Chinese patterns), API keys and secrets.

``redact_pii(text)`` returns the text with each finding replaced by ``[KIND]`` and the
findings. Checksummed kinds are only reported when the checksum holds, so order numbers and
tracking numbers pass through.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PiiMatch:
    kind: str  # email, phone, card, cn_id, iban, address, secret
    start: int
    end: int
    value: str


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_CN_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CN_ID_CHECK = "10X98765432"


def cn_id_valid(value: str) -> bool:
    value = value.upper()
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    month, day = int(value[10:12]), int(value[12:14])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _CN_ID_WEIGHTS, strict=True))
    return _CN_ID_CHECK[total % 11] == value[17]


IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21, "CY": 28,
    "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23,
    "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24,
    "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26,
}  # fmt: skip


def iban_valid(value: str) -> bool:
    value = re.sub(r"\s", "", value).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", value):
        return False
    expected = IBAN_LENGTHS.get(value[:2])
    if expected is not None and len(value) != expected:
        return False
    rearranged = value[4:] + value[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
CARD = re.compile(r"(?<![\d+-])(?:\d[ -]?){12,18}\d(?![\d-])")
CN_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
CN_MOBILE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)")
INTL_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}[ .-]?(?:\(?\d{1,4}\)?[ .-]?){2,5}\d{2,4}(?!\d)")
NANP_PHONE = re.compile(r"(?<!\d)\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b")
SECRETS = [
    re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"),  # OpenAI / Anthropic style
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API key
    re.compile(r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}\b"),  # Stripe
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),  # JWT
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
    re.compile(
        r"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|密码)"
        r"\s*[:=：]\s*\S{6,}"
    ),
]
STREET_SUFFIX = (
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|"
    r"square|sq|terrace|way|close|crescent|highway|hwy|parkway|pkwy)"
)
EN_ADDRESS = re.compile(
    rf"(?i)\b\d{{1,5}}[A-Za-z]?\s+(?:[A-Z][\w'.-]*\s+){{1,4}}{STREET_SUFFIX}\b\.?"
    r"(?:,?\s*(?:apt|apartment|suite|unit|flat|#)\s*[\w-]+)?"
)
ZH_ADDRESS = re.compile(
    r"(?:[\u4e00-\u9fff]{2,6}(?:省|自治区))?(?:[\u4e00-\u9fff]{2,6}市)?(?:[\u4e00-\u9fff]{1,6}(?:区|县))?"
    r"[\u4e00-\u9fff]{1,10}(?:路|街|大道|巷|胡同|弄)\d{1,5}(?:号|號)"
    r"(?:[\u4e00-\u9fff\d]{0,8}(?:栋|幢|楼|单元|室|座))*(?:\d{1,5}(?:室|号))?"
)


def _add(found: list[PiiMatch], kind: str, match: re.Match) -> None:
    found.append(PiiMatch(kind, match.start(), match.end(), match.group(0)))


def find_pii(text: str) -> list[PiiMatch]:
    """Non-overlapping findings in text order (earlier, more specific kinds win overlaps)."""
    found: list[PiiMatch] = []
    for pattern in SECRETS:
        for m in pattern.finditer(text):
            _add(found, "secret", m)
    for m in EMAIL.finditer(text):
        _add(found, "email", m)
    for m in IBAN.finditer(text):
        if iban_valid(m.group(0)):
            _add(found, "iban", m)
    for m in CN_ID.finditer(text):
        if cn_id_valid(m.group(0)):
            _add(found, "cn_id", m)
    for m in CN_MOBILE.finditer(text):
        _add(found, "phone", m)
    for m in CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            _add(found, "card", m)
    for pattern in (INTL_PHONE, NANP_PHONE):
        for m in pattern.finditer(text):
            _add(found, "phone", m)
    for pattern in (EN_ADDRESS, ZH_ADDRESS):
        for m in pattern.finditer(text):
            _add(found, "address", m)
    chosen: list[PiiMatch] = []
    for item in found:  # first come (by the order above) wins an overlap
        if all(item.end <= c.start or item.start >= c.end for c in chosen):
            chosen.append(item)
    return sorted(chosen, key=lambda m: m.start)


def redact_pii(text: str) -> tuple[str, list[PiiMatch]]:
    """The text with every finding replaced by ``[KIND]``, and the findings."""
    matches = find_pii(text)
    parts, last = [], 0
    for m in matches:
        parts.append(text[last : m.start])
        parts.append(f"[{m.kind.upper()}]")
        last = m.end
    parts.append(text[last:])
    return "".join(parts), matches
