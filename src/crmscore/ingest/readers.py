"""Readers: put any supported file into a DuckDB staging table of text columns, with source line numbers.

The staging table has one ``VARCHAR`` column per source column (named ``c0``, ``c1`` ...; the original
headers are kept in :attr:`StagedFile.headers`) and ``_line``, the line (record) number in the file: the header
is line 1, so the first data row of a CSV is line 2; for Parquet and JSON Lines it is the row number (from 1),
for XLSX the sheet's row number. Bulk reading goes through DuckDB's own readers (CSV, Parquet, JSON); XLSX goes
through openpyxl. Encodings other than UTF-8 (GBK/GB18030, UTF-16, Latin-1 ...) are detected and transcoded to
UTF-8 first, because DuckDB reads UTF-8 only.

>>> import duckdb, tempfile, pathlib
>>> f = pathlib.Path(tempfile.mkdtemp()) / "c.csv"
>>> _ = f.write_bytes("客户编号;客户名称\\nC1;华为\\n".encode("gbk"))
>>> con = duckdb.connect()
>>> staged = stage_file(con, f, prefix="_doc")
>>> staged.headers, staged.encoding, staged.delimiter, staged.rows
(['客户编号', '客户名称'], 'gb18030', ';', 1)
>>> con.execute(f"SELECT _line, c0, c1 FROM {staged.table}").fetchall()
[(2, 'C1', '华为')]
>>> staged.cleanup()
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from crmscore.errors import InputFileError, UnknownName
from crmscore.ingest.parsing import quote_ident, sql_literal

__all__ = ["SAMPLE_BYTES", "NotLazy", "StagedFile", "detect_encoding", "detect_format", "drop_relation", "stage_file", "stage_frame"]

SAMPLE_BYTES = 1 << 20
_CJK = ("gb2312", "gbk", "gb18030", "hz", "big5", "cp950", "big5hkscs")
_UTF8 = ("utf-8", "utf8", "utf-8-sig", "ascii")


class NotLazy(Exception):
    """A file that cannot be read in place (``stage_file(lazy=True)``): it must be staged as a table."""


@dataclass
class StagedFile:
    """A file staged as text columns in DuckDB, plus what was learnt while reading it."""

    con: duckdb.DuckDBPyConnection
    table: str
    headers: list[str]
    rows: int
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    # Lines the reader itself could not split into fields: (line, raw text, reason)
    malformed: list[tuple[int, str, str]] = field(default_factory=list)
    _temp_dirs: list[str] = field(default_factory=list)
    _tables: list[str] = field(default_factory=list)

    def cleanup(self) -> None:
        for name in self._tables:
            drop_relation(self.con, name)
        for folder in self._temp_dirs:
            shutil.rmtree(folder, ignore_errors=True)


def drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a staging table or view if it exists (never raises)."""
    kind = con.execute("SELECT CASE WHEN EXISTS (SELECT 1 FROM duckdb_views() WHERE view_name = ? AND temporary) "
                       "THEN 'VIEW' ELSE 'TABLE' END", [name]).fetchone()
    with contextlib.suppress(duckdb.Error):
        con.execute(f"DROP {kind[0] if kind else 'TABLE'} IF EXISTS {name}")


def detect_format(path: Path, head: bytes) -> str:
    """The file format from its first bytes, else its extension (``csv`` by default)."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix == ".parquet":
        return "parquet"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".tsv", ".tab"):
        return "tsv"
    return "csv"


def _utf8_prefix_ok(sample: bytes, complete: bool) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(sample: bytes, complete: bool = False) -> str:
    """The text encoding of a file from its first bytes; binary data raises :class:`InputFileError`.

    >>> detect_encoding("a,b\\n1,2\\n".encode())
    'utf-8'
    >>> detect_encoding(b"\\xef\\xbb\\xbfa,b\\n")
    'utf-8-sig'
    >>> detect_encoding("客户编号,客户名称,行业\\nC1,北京华为技术有限公司,制造业\\n".encode("gbk"))
    'gb18030'
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _utf8_prefix_ok(sample, complete) and b"\x00" not in sample:
        return "utf-8"
    if b"\x00" in sample:
        raise InputFileError("the file looks binary (it contains NUL bytes), not a text export",
                             "export the data as CSV (UTF-8 or GBK), XLSX, Parquet or JSON Lines")
    try:
        text = sample.decode("gb18030") if complete else codecs.getincrementaldecoder("gb18030")().decode(sample)
        cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
        non_ascii = sum(1 for ch in text if ord(ch) > 127)
        if non_ascii and cjk / non_ascii > 0.8:
            return "gb18030"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise InputFileError("cannot tell the text encoding of the file (binary data or mixed encodings?)",
                             "save it as UTF-8 or pass --encoding (e.g. --encoding gbk)")
    encoding = str(best.encoding).lower().replace("_", "-")
    return "gb18030" if encoding.replace("-", "") in _CJK[:4] else encoding


def _transcode(path: Path, encoding: str, folder: str) -> Path:
    """Write a UTF-8 copy of ``path`` (streamed in blocks); undecodable bytes are an error with the line."""
    out = Path(folder) / (path.stem + ".utf8" + path.suffix)
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with path.open("rb") as src, out.open("w", encoding="utf-8", newline="") as dst:
        while True:
            block = src.read(4 << 20)
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                good = block[:exc.start]
                line += good.count(b"\n")
                raise InputFileError(
                    f"{path.name}: cannot decode line {line} as {encoding} ({exc.reason})",
                    "the file mixes encodings or is truncated; pass --encoding with the right one") from exc
            line += block.count(b"\n")
            if text:
                dst.write(text.lstrip("\ufeff") if dst.tell() == 0 else text)
            if not block:
                break
    return out


def _sniff_delimiter(text: str) -> str:
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in ",;\t|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _first_record(text: str, delimiter: str) -> list[str]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    for row in reader:
        if any(cell.strip() for cell in row):
            return row
    return []


def _read_sample(path: Path) -> tuple[bytes, bool]:
    try:
        with path.open("rb") as fh:
            sample = fh.read(SAMPLE_BYTES + 1)
    except FileNotFoundError as exc:
        raise InputFileError(f"file not found: {path}", "check the path") from exc
    except IsADirectoryError as exc:
        raise InputFileError(f"{path} is a folder, not a file", "pass the path of one export file") from exc
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror}", "check the path and permissions") from exc
    complete = len(sample) <= SAMPLE_BYTES
    return sample[:SAMPLE_BYTES], complete


def _text_columns(n: int) -> str:
    return "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n)) + "}"


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path, staged: StagedFile, sample: bytes, complete: bool,
               header: bool, delimiter: str | None, encoding: str | None, whitespace: bool,
               lazy: bool = False) -> None:
    enc = (encoding or detect_encoding(sample, complete)).lower()
    enc = "gb18030" if enc.replace("-", "") in ("gbk", "gb2312") else enc
    staged.encoding = enc
    if lazy and (whitespace or enc not in _UTF8):
        raise NotLazy(f"{enc} {'whitespace-separated ' if whitespace else ''}text is staged, not read in place")
    try:
        text = codecs.getincrementaldecoder(enc)().decode(sample, final=complete).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        try:
            guess = detect_encoding(sample, complete)
        except InputFileError:
            guess = None
        raise InputFileError(f"{path.name} is not valid {enc} (byte {exc.start} of the file)",
                             f"the file looks like {guess}: pass --encoding {guess}" if guess else
                             "pass the right --encoding") from exc
    except LookupError as exc:
        raise InputFileError(f"unknown encoding {enc!r}", "use e.g. utf-8, gbk, gb18030, utf-16, latin-1") from exc
    source = path
    if enc not in _UTF8:
        folder = tempfile.mkdtemp(prefix="crmscore-import-")
        staged._temp_dirs.append(folder)
        source = _transcode(path, enc, folder)
    raw = f"{staged.table}_raw"
    rejects, scan = f"{staged.table}_rej", f"{staged.table}_rejscan"
    staged._tables += [raw, rejects, scan]
    con.execute(f"DROP TABLE IF EXISTS {rejects}")
    con.execute(f"DROP TABLE IF EXISTS {scan}")
    common = (f"auto_detect=false, header={'true' if header else 'false'}, store_rejects=true, "
              f"rejects_table='{rejects}', rejects_scan='{scan}', max_line_size=10000000")
    if whitespace:
        # One text column per line, split on runs of blanks (CDNOW style).
        first_line = next((ln for ln in text.splitlines() if ln.strip()), "")
        ncols = len(first_line.split())
        if header:
            staged.headers = first_line.split()
        else:
            staged.headers = [f"column{i + 1}" for i in range(ncols)]
        staged.delimiter = "whitespace"
        parts = "string_split_regex(trim(line, ' \t\r'), '[ \t]+')"
        cols = ", ".join(f"{parts}[{i + 1}] AS c{i}" for i in range(ncols))
        extra = f"len({parts}) AS _n"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT {cols}, {extra} FROM read_csv("
                    f"{sql_literal(str(source))}, delim={sql_literal(chr(1))}, quote='', escape='', "
                    f"columns={{'line': 'VARCHAR'}}, {common})")
    else:
        delim = delimiter or ("\t" if staged.format == "tsv" else _sniff_delimiter(text))
        staged.delimiter = delim
        first = _first_record(text, delim)
        if not first:
            raise InputFileError(f"{path.name}: no header or data found", "is the file empty?")
        ncols = len(first)
        staged.headers = ([h.strip() or f"column{i + 1}" for i, h in enumerate(first)] if header
                          else [f"column{i + 1}" for i in range(ncols)])
        reader = (f"read_csv({sql_literal(str(source))}, delim={sql_literal(delim)}, quote='\"', escape='\"', "
                  f"columns={_text_columns(ncols)}, auto_detect=false, header={'true' if header else 'false'}, "
                  f"max_line_size=10000000")
        if lazy:
            # Read in place, strictly: a line DuckDB cannot split raises an error instead of being set aside.
            select = ", ".join(f"c{i}" for i in range(ncols))
            con.execute(f"CREATE OR REPLACE TEMP VIEW {staged.table} AS SELECT CAST(NULL AS BIGINT) AS _line, "
                        f"{select} FROM {reader})")
            return
        con.execute(f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT * FROM {reader}, store_rejects=true, "
                    f"rejects_table='{rejects}', rejects_scan='{scan}')")
    offset = 2 if header else 1
    bad = con.execute(f"SELECT line, any_value(csv_line), string_agg(DISTINCT error_message, '; ') "
                      f"FROM {rejects} GROUP BY line ORDER BY line").fetchall()
    staged.malformed = [(int(line), str(raw_line or ""), str(msg or "")) for line, raw_line, msg in bad]
    select = ", ".join(f"c{i}" for i in range(len(staged.headers)))
    if whitespace:
        wrong = f"{raw}._n <> {len(staged.headers)}"
        # Lines with another number of fields are malformed too; keep them as rejections.
        bad_ws = con.execute(f"SELECT rowid + {offset}, concat_ws(' ', {select}), _n FROM {raw} WHERE {wrong}"
                             ).fetchall()
        staged.malformed += [(int(line), text_, f"expected {len(staged.headers)} fields, found {n}")
                             for line, text_, n in bad_ws]
        staged.malformed.sort()
    if not whitespace:
        n_rows = int(con.execute(f"SELECT count(*) FROM {raw}").fetchone()[0])  # type: ignore[index]
        physical = _physical_lines(source, delim, header, n_rows, [m[0] for m in staged.malformed])
        if physical is not None:
            # Blank lines or line breaks inside quoted values: number every row by the line it starts on.
            row_lines, malformed_lines = physical
            staged.malformed = [(malformed_lines[line], text_, msg) for line, text_, msg in staged.malformed]
            view = f"{staged.table}_lines"
            con.register(view, pa.table({"line": pa.array(row_lines, pa.int64())}))
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {staged.table} AS SELECT m.line AS _line, "
                            f"{', '.join('r.c' + str(i) for i in range(ncols))} FROM (SELECT * FROM {raw} "
                            f"ORDER BY rowid) r POSITIONAL JOIN {view} m")
            finally:
                con.unregister(view)
            con.execute(f"DROP TABLE IF EXISTS {raw}")
            return
    if not staged.malformed and not whitespace:
        # The usual case: a view numbering the rows as read (no copy of the data).
        con.execute(f"CREATE OR REPLACE TEMP VIEW {staged.table} AS SELECT CAST(rowid + {offset} AS BIGINT) "
                    f"AS _line, {select} FROM {raw}")
        return
    if whitespace:
        keep = f"WHERE {raw}._n = {len(staged.headers)}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {staged.table} AS SELECT CAST(rowid + {offset} AS BIGINT) "
                    f"AS _line, {select} FROM {raw} {keep}")
    else:
        # Rows after a malformed line move up by one: map each row back to its record number.
        lines = [line for line, _, _ in staged.malformed]
        adj = ", ".join(f"({line - offset - k}, {k + 1})" for k, line in enumerate(lines))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {staged.table} AS SELECT CAST(r.rowid + {offset} + "
                    f"coalesce(a.k, 0) AS BIGINT) AS _line, {', '.join('r.c' + str(i) for i in range(ncols))} "
                    f"FROM {raw} r ASOF LEFT JOIN (SELECT * FROM (VALUES {adj}) v(v, k)) a ON r.rowid >= a.v "
                    f"ORDER BY r.rowid")
    con.execute(f"DROP TABLE IF EXISTS {raw}")


def _physical_lines(source: Path, delimiter: str, header: bool, rows: int, malformed: list[int]
                    ) -> tuple[list[int], dict[int, int]] | None:
    """Line numbers as an editor shows them, when they differ from record numbers; else None.

    DuckDB's CSV reader skips blank lines, and a quoted value may span lines, so ``rowid + 2`` is the line
    of a row only when every record is one line. That is checked by counting line breaks (trailing blank lines
    aside). Otherwise the file is split again by Python's ``csv`` module (same quoting) to find the line each
    record starts on: returns those lines for the rows DuckDB read, in order, and DuckDB's line number of each
    malformed record (it counts records and blank lines) mapped to its line. None also when the two readers
    disagree on the records (the record numbers are kept then).
    """
    breaks = 0
    last = b""
    with source.open("rb") as fh:
        while block := fh.read(8 << 20):
            breaks += block.count(b"\n")
            last = (last + block)[-64:]
    if not last.strip(b"\r\n \t"):
        return None
    trailing = len(last) - len(last.rstrip(b"\r\n"))
    breaks -= last[len(last) - trailing:].count(b"\n")
    if breaks + 1 == int(header) + rows + len(malformed):
        return None
    bad = set(malformed)
    row_lines: list[int] = []
    malformed_lines: dict[int, int] = {}
    limit = csv.field_size_limit()
    try:
        csv.field_size_limit(10_000_000)
        with source.open(encoding="utf-8-sig", newline="", errors="replace") as fh:
            reader = csv.reader(fh, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
            end = 0
            duck = 0  # DuckDB's count: records and blank lines
            for record in reader:
                start, end = end + 1, reader.line_num
                duck += 1
                if not record or (header and duck == 1):
                    continue
                if duck in bad:
                    malformed_lines[duck] = start
                else:
                    row_lines.append(start)
    except csv.Error:
        return None
    finally:
        csv.field_size_limit(limit)
    if len(row_lines) != rows or len(malformed_lines) != len(bad):
        return None
    return row_lines, malformed_lines


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _stage_xlsx(con: duckdb.DuckDBPyConnection, path: Path, staged: StagedFile, sheet: str | None,
                header: bool) -> None:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise InputFileError(f"{path.name} is not a readable XLSX workbook ({exc})",
                             "open it in Excel and save it again as .xlsx, or export CSV") from exc
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise UnknownName("sheet", sheet, book.sheetnames)
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        staged.encoding = None
        lines: list[int] = []
        rows: list[list[str | None]] = []
        headers: list[str] | None = None
        for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [_cell_text(v) for v in row]
            if not any(c is not None and c.strip() for c in cells):
                continue
            if headers is None and header:
                headers = [(c or "").strip() or f"column{i + 1}" for i, c in enumerate(cells)]
                continue
            lines.append(number)
            rows.append(cells)
    except Exception as exc:
        if isinstance(exc, UnknownName):
            raise
        raise InputFileError(f"{path.name}: cannot read the sheet ({exc})", "save the workbook again") from exc
    finally:
        book.close()
    width = max([len(headers or [])] + [len(r) for r in rows]) if (headers or rows) else 0
    if headers is None:
        headers = [f"column{i + 1}" for i in range(width)]
    headers = headers + [f"column{i + 1}" for i in range(len(headers), width)]
    # Drop trailing unnamed, empty columns that Excel reports for formatted cells.
    while headers and headers[-1].startswith("column") and all(len(r) < len(headers) or r[len(headers) - 1]
                                                                 is None for r in rows):
        headers.pop()
    data = {"_line": pa.array(lines, pa.int64())}
    for i in range(len(headers)):
        data[f"c{i}"] = pa.array([r[i] if i < len(r) else None for r in rows], pa.string())
    staged.headers = headers
    _stage_arrow(con, pa.table(data), staged)


def _stage_arrow(con: duckdb.DuckDBPyConnection, table: pa.Table, staged: StagedFile) -> None:
    view = f"{staged.table}_arrow"
    con.register(view, table)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {staged.table} AS SELECT * FROM {view}")
    finally:
        con.unregister(view)


def _stage_typed(con: duckdb.DuckDBPyConnection, relation_sql: str, staged: StagedFile, what: str) -> None:
    """Stage a typed source (Parquet, JSON, a DataFrame) as text columns, numbered from 1 in source order."""
    try:
        cols = con.execute(f"DESCRIBE SELECT * FROM {relation_sql}").fetchall()
        staged.headers = [str(c[0]) for c in cols]
        casts = []
        for i, (name, type_, *_rest) in enumerate(cols):
            ident = quote_ident(str(name))
            if str(type_).upper() in ("DOUBLE", "FLOAT", "REAL"):
                # 17850.0 -> '17850'; 2.55 stays '2.55' (shortest round-trip text)
                casts.append(f"CASE WHEN {ident} = trunc({ident}) AND abs({ident}) < 1e15 "
                             f"THEN CAST(CAST({ident} AS BIGINT) AS VARCHAR) "
                             f"ELSE CAST({ident} AS VARCHAR) END AS c{i}")
            else:
                casts.append(f"CAST({ident} AS VARCHAR) AS c{i}")
        tmp = f"{staged.table}_typed"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {tmp} AS SELECT {', '.join(casts)} FROM {relation_sql}")
        try:
            select = ", ".join(f"c{i}" for i in range(len(cols)))
            con.execute(f"CREATE OR REPLACE TEMP TABLE {staged.table} AS SELECT CAST(rowid + 1 AS BIGINT) AS _line, "
                        f"{select} FROM {tmp}")
        finally:
            con.execute(f"DROP TABLE IF EXISTS {tmp}")
    except duckdb.Error as exc:
        raise InputFileError(f"cannot read the {what}: {str(exc).splitlines()[0]}",
                             f"check that the file is a valid {what}") from exc


def stage_file(con: duckdb.DuckDBPyConnection, path: str | Path, *, prefix: str = "_crmscore_imp",
               file_format: str | None = None, sheet: str | None = None, header: bool = True,
               delimiter: str | None = None, encoding: str | None = None,
               progress: Callable[[str], None] | None = None, lazy: bool = False) -> StagedFile:
    """Read a file into a staging table in ``con`` (see the module docstring).

    ``lazy``: a UTF-8 CSV/TSV becomes a view reading the file in place, strictly (a malformed line is an error
    when the view is read), with ``_line`` NULL and ``rows`` -1 (not counted); other files raise :class:`NotLazy`.
    """
    path = Path(path)
    sample, complete = _read_sample(path)
    fmt = file_format or detect_format(path, sample[:8])
    staged = StagedFile(con=con, table=f"{prefix}_src", headers=[], rows=0, format=fmt)
    staged._tables.append(staged.table)
    if progress:
        progress(f"reading {path.name} ({fmt})")
    try:
        if not sample.strip() and fmt not in ("xlsx", "parquet"):
            raise InputFileError(f"{path.name} is empty", "export the data again")
        if lazy and fmt not in ("csv", "tsv"):
            raise NotLazy(f"{fmt} files are staged, not read in place")
        if fmt in ("csv", "tsv", "whitespace"):
            _stage_csv(con, path, staged, sample, complete, header, delimiter, encoding, fmt == "whitespace", lazy)
            if lazy:
                staged.rows = -1
                return staged
        elif fmt == "xlsx":
            _stage_xlsx(con, path, staged, sheet, header)
        elif fmt == "parquet":
            _stage_typed(con, f"read_parquet({sql_literal(str(path))})", staged, "Parquet file")
        elif fmt == "jsonl":
            enc = encoding or detect_encoding(sample, complete)
            source = path
            if enc not in ("utf-8", "utf-8-sig", "ascii"):
                folder = tempfile.mkdtemp(prefix="crmscore-import-")
                staged._temp_dirs.append(folder)
                source = _transcode(path, enc, folder)
            staged.encoding = enc
            _stage_typed(con, f"read_json({sql_literal(str(source))}, format='newline_delimited', "
                              f"records=true, maximum_object_size=16777216)", staged, "JSON Lines file")
        else:
            raise InputFileError(f"unknown file format {fmt!r}", "use csv, tsv, whitespace, xlsx, parquet or jsonl")
        staged.rows = int(con.execute(f"SELECT count(*) FROM {staged.table}").fetchone()[0])  # type: ignore[index]
    except duckdb.Error as exc:
        staged.cleanup()
        raise InputFileError(f"cannot read {path.name}: {str(exc).splitlines()[0]}",
                             "check the format, delimiter and encoding (or pass a mapping file)") from exc
    except BaseException:
        staged.cleanup()
        raise
    return staged


def stage_frame(con: duckdb.DuckDBPyConnection, frame: Any, *, prefix: str = "_crmscore_imp") -> StagedFile:
    """Stage a DataFrame (pandas, Polars) or an Arrow table like a file (rows numbered from 1)."""
    if isinstance(frame, pa.Table):
        table = frame
    elif hasattr(frame, "to_arrow"):
        table = frame.to_arrow()
    else:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    staged = StagedFile(con=con, table=f"{prefix}_src", headers=[], rows=0, format="frame")
    staged._tables.append(staged.table)
    view = f"{prefix}_frame"
    con.register(view, table)
    try:
        _stage_typed(con, view, staged, "data frame")
    finally:
        con.unregister(view)
    staged.rows = int(con.execute(f"SELECT count(*) FROM {staged.table}").fetchone()[0])  # type: ignore[index]
    return staged
