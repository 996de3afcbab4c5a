"""Finding a keyword's position in a PDF's page text, for placing a seal on it (e.g. 盖章处).

pdfminer.six (pure Python) lays the characters out; a keyword is matched inside one text line and
its box is the union of its characters' boxes, in PDF user space (points, y upwards, the page's
MediaBox origin added back). pdfminer decodes content streams, forms and fonts without limits,
so those of the pages to be read are first decoded once through pyHanko's bounded decoder
(images are skipped: pdfminer does not decode them either).
"""

# pyHanko's PDF object API is only partly annotated:
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Final

from pdfminer.converter import PDFPageAggregator
from pdfminer.layout import LAParams, LTAnno, LTChar, LTComponent, LTContainer, LTTextLine
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodeLimits, DocumentDecodeBudget, StreamDecodeLimits

from seals.pdf_verify import PdfMalformed, PdfTooLarge, open_pdf
from trust.errors import InvalidInput, TrustError

__all__ = ["MAX_KEYWORD_CHARS", "MAX_KEYWORD_PAGES", "KeywordHit", "find_keyword"]

MAX_KEYWORD_CHARS: Final = 32
MAX_KEYWORD_PAGES: Final = 500  # pages searched for a keyword
_TEXT_DECODE_LIMITS: Final = DecodeLimits(
    per_stream=StreamDecodeLimits(max_ratio=1100, ratio_floor=1 << 20, max_output_size=32 << 20),
    document_budget=DocumentDecodeBudget(base_allowance=128 << 20, max_ratio=20),
)
_MAX_RESOURCE_NODES: Final = 50_000


@dataclass(frozen=True, slots=True)
class KeywordHit:
    """A keyword's box on page ``page`` (0-based) in PDF user space (points, y upwards)."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float


def _text_lines(node: LTComponent) -> list[LTTextLine]:
    if isinstance(node, LTTextLine):
        return [node]
    if isinstance(node, LTContainer):
        return [line for child in node for line in _text_lines(child)]
    return []


def _line_hits(
    line: LTTextLine, keyword: str, page: int, origin: tuple[float, float]
) -> list[KeywordHit]:
    owners: list[LTChar | None] = []  # the character box behind each position of ``text``
    parts = []
    for item in line:
        if isinstance(item, LTChar | LTAnno):
            piece = item.get_text()  # may be several characters (ligatures)
            parts.append(piece)
            owners.extend([item if isinstance(item, LTChar) else None] * len(piece))
    text = "".join(parts)
    hits = []
    start = text.find(keyword)
    while start >= 0:
        chars = [c for c in owners[start : start + len(keyword)] if c is not None]
        if chars:
            hits.append(
                KeywordHit(
                    page,
                    min(c.x0 for c in chars) + origin[0],
                    min(c.y0 for c in chars) + origin[1],
                    max(c.x1 for c in chars) + origin[0],
                    max(c.y1 for c in chars) + origin[1],
                )
            )
        start = text.find(keyword, start + 1)
    return hits


def _walk_streams(root: Any, budget: list[int], seen: set[int]) -> None:
    """Decode every non-image stream reachable from ``root`` (not via /Parent or /P)."""
    stack = [root]
    while stack:
        budget[0] -= 1
        if budget[0] < 0:
            raise PdfTooLarge("page resources too complex", code="seal.pdf_too_complex")
        node = stack.pop()
        if isinstance(node, generic.IndirectObject):
            if node.idnum in seen:
                continue
            seen.add(node.idnum)
            node = node.get_object()
        if isinstance(node, generic.StreamObject) and node.get("/Subtype") != "/Image":
            _ = node.data  # decoded under _TEXT_DECODE_LIMITS
        if isinstance(node, generic.DictionaryObject):
            stack.extend(v for k, v in node.items() if k not in ("/Parent", "/P"))
        elif isinstance(node, generic.ArrayObject):
            stack.extend(node)


def _precheck_streams(pdf: bytes, page: int | None) -> None:
    reader = open_pdf(pdf, decode_limits=_TEXT_DECODE_LIMITS)
    try:
        count = int(reader.root["/Pages"]["/Count"])
        pages = [page] if page is not None else range(min(count, MAX_KEYWORD_PAGES))
        budget, seen = [_MAX_RESOURCE_NODES], set[int]()
        for index in pages:
            page_ref, resources = reader.find_page_for_modification(index)
            _walk_streams(page_ref.get_object().get("/Contents"), budget, seen)
            _walk_streams(resources, budget, seen)
    except TrustError:
        raise
    except misc.PdfDecodeLimitError as exc:
        raise PdfTooLarge(
            f"a page stream is too large: {exc}"[:200], code="seal.pdf_too_complex"
        ) from exc
    except Exception as exc:
        raise PdfMalformed(f"unreadable page: {type(exc).__name__}"[:200]) from exc


def find_keyword(pdf: bytes, keyword: str, *, page: int | None = None) -> tuple[KeywordHit, ...]:
    """Every occurrence of ``keyword`` within one text line, page by page, top to bottom then
    left to right. Pure Python (pdfminer.six); pages with /Rotate are skipped."""
    if not isinstance(keyword, str) or not 1 <= len(keyword.strip()) <= MAX_KEYWORD_CHARS:
        raise InvalidInput(f"keyword: 1..{MAX_KEYWORD_CHARS} characters", code="seal.bad_placement")
    _precheck_streams(pdf, page)
    manager = PDFResourceManager(caching=True)
    device = PDFPageAggregator(manager, laparams=LAParams())
    interpreter = PDFPageInterpreter(manager, device)
    hits: list[KeywordHit] = []
    try:
        pages = PDFPage.get_pages(
            io.BytesIO(pdf), pagenos=None if page is None else {page}, maxpages=MAX_KEYWORD_PAGES
        )
        for index, pdf_page in enumerate(pages):
            number = index if page is None else page
            if int(pdf_page.rotate or 0) % 360:
                continue
            interpreter.process_page(pdf_page)
            origin = (float(pdf_page.mediabox[0]), float(pdf_page.mediabox[1]))
            found = [
                hit
                for line in _text_lines(device.get_result())
                for hit in _line_hits(line, keyword, number, origin)
            ]
            hits.extend(sorted(found, key=lambda h: (-h.y1, h.x0)))
    except TrustError:
        raise
    except Exception as exc:  # pdfminer raises many types on hostile input
        raise PdfMalformed(f"cannot read the page text: {type(exc).__name__}"[:200]) from exc
    return tuple(hits)
