"""Reading a member register, CSV or XML, as rows of text values numbered by their line.

Both readers stream (a large file is never held in memory whole) and name every problem
with the line it is on. XML is parsed only with defusedxml, with DTDs refused outright: a
member register needs no DTD, and refusing them stops entity-expansion bombs ("billion
laughs"), external entities and DTD retrieval before any expansion happens.
"""

import codecs
import csv
import io
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO
from xml.sax import SAXParseException
from xml.sax.handler import ContentHandler

import defusedxml.sax
from defusedxml import DefusedXmlException

COLUMNS = (
    "member_number",
    "first_name",
    "last_name",
    "phone",
    "email",
    "language",
    "accepts_marketing_sms",
    "accepts_marketing_email",
)

# Spellings found in members' registers, read as our column names.
ALIASES = {
    "member_id": "member_number",
    "member_no": "member_number",
    "membership_number": "member_number",
    "firstname": "first_name",
    "given_name": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family_name": "last_name",
    "mobile": "phone",
    "phone_number": "phone",
    "mobile_phone": "phone",
    "e-mail": "email",
    "email_address": "email",
    "preferred_language": "language",
    "lang": "language",
    "marketing_sms": "accepts_marketing_sms",
    "sms_consent": "accepts_marketing_sms",
    "marketing_email": "accepts_marketing_email",
    "email_consent": "accepts_marketing_email",
}

_CHUNK_BYTES = 64 * 1024


class ImportFileError(Exception):
    """The file as a whole cannot be read; ``line`` says where (0: before any line)."""

    def __init__(self, message: str, *, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class SourceRow:
    line: int
    values: dict[str, str]
    problem: str = ""  # a row that could not even be split into fields


def column_name(text: str) -> str:
    name = "_".join(text.strip().lower().replace("-", "_").split())
    name = {"e_mail": "email"}.get(name, name)
    return ALIASES.get(name, name)


def _check_columns(names: list[str], *, line: int) -> None:
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise ImportFileError(
            f"Unknown column(s): {', '.join(unknown)}. Known columns: {', '.join(COLUMNS)}.",
            line=line,
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ImportFileError(f"Column(s) given twice: {', '.join(repeated)}.", line=line)
    if "phone" not in names and "email" not in names:
        raise ImportFileError("The file needs a phone or an email column.", line=line)


def read_rows(file: IO[bytes], *, file_format: str) -> Iterator[SourceRow]:
    if file_format == "xml":
        return xml_rows(file)
    return csv_rows(file)


def csv_rows(file: IO[bytes]) -> Iterator[SourceRow]:
    """Rows of a UTF-8 CSV file with a header line; comma, semicolon or tab separated."""
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    try:
        header_line = text.readline()
    except UnicodeDecodeError as error:
        raise ImportFileError("The file is not UTF-8 text.", line=1) from error
    if not header_line.strip():
        raise ImportFileError("The file is empty: it needs a header line.", line=1)
    delimiter = max(",;\t", key=header_line.count)
    reader = csv.reader(itertools.chain([header_line], text), delimiter=delimiter, strict=True)
    header = [column_name(name) for name in next(reader)]
    _check_columns(header, line=1)
    line = reader.line_num
    while True:
        start = line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as error:
            raise ImportFileError("The file is not UTF-8 text from here on.", line=start) from error
        except csv.Error as error:
            raise ImportFileError(f"The CSV cannot be read: {error}.", line=start) from error
        line = reader.line_num
        if not any(field.strip() for field in fields):
            continue  # blank lines are allowed anywhere
        if len(fields) != len(header):
            yield SourceRow(
                start,
                {},
                problem=f"The row has {len(fields)} fields; the header has {len(header)}.",
            )
            continue
        yield SourceRow(start, dict(zip(header, fields, strict=True)))


class _RegisterHandler(ContentHandler):
    """<anything><member a="..."><phone>...</phone>...</member>...</anything>: each child
    of the root is a row; its attributes and child elements are the fields."""

    def __init__(self, line_number: Callable[[], int]) -> None:
        super().__init__()
        # The parser's current line (fed incrementally, expat never hands us a locator).
        self._line = line_number
        self.rows: list[SourceRow] = []
        self.depth = 0
        self.row_line = 0
        self.values: dict[str, str] = {}
        self.field = ""
        self.text: list[str] = []
        self.problem = ""

    def startElement(self, name, attrs) -> None:
        self.depth += 1
        if self.depth == 2:
            self.row_line = self._line()
            self.values = {}
            self.problem = ""
            for attribute in attrs.getNames():
                self._set(column_name(attribute), attrs.getValue(attribute))
        elif self.depth == 3:
            self.field = column_name(name)
            self.text = []
        elif self.depth > 3 and not self.problem:
            self.problem = f"<{name}> is nested too deep: a field holds text only."

    def _set(self, name: str, value: str) -> None:
        if name not in COLUMNS:
            self.problem = self.problem or (
                f"Unknown field {name!r}. Known fields: {', '.join(COLUMNS)}."
            )
        elif name in self.values:
            self.problem = self.problem or f"Field {name!r} is given twice."
        else:
            self.values[name] = value

    def characters(self, content: str) -> None:
        if self.depth == 3:
            self.text.append(content)

    def endElement(self, name) -> None:
        if self.depth == 3:
            self._set(self.field, "".join(self.text))
        elif self.depth == 2:
            self.rows.append(SourceRow(self.row_line, self.values, problem=self.problem))
        self.depth -= 1


def xml_rows(file: IO[bytes]) -> Iterator[SourceRow]:
    """Rows of an XML member register, parsed incrementally with defusedxml's SAX parser."""
    parser = defusedxml.sax.make_parser()
    handler = _RegisterHandler(parser.getLineNumber)
    parser.forbid_dtd = True
    parser.forbid_entities = True
    parser.forbid_external = True
    parser.setContentHandler(handler)
    decoder_check = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := file.read(_CHUNK_BYTES):
            decoder_check.decode(chunk)
            parser.feed(chunk)
            yield from handler.rows
            handler.rows.clear()
        parser.close()
    except DefusedXmlException as error:
        raise ImportFileError(
            f"The XML declares a DTD or entities, which are refused for safety ({error}).",
            line=handler._line(),
        ) from error
    except SAXParseException as error:
        raise ImportFileError(
            f"The XML is not well formed: {error.getMessage()}.", line=error.getLineNumber()
        ) from error
    except UnicodeDecodeError as error:
        raise ImportFileError("The file is not UTF-8 text.", line=handler._line()) from error
    yield from handler.rows
