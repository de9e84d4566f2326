import { expect } from 'vitest';
import { TYPED_COLUMNS } from './mariadb';

export { TYPED_COLUMNS, batchRows, createTypedTable, typedReference } from './mariadb';

/**
 * The comparison of what a job wrote from the typed MariaDB table
 * (createTypedTable in mariadb.ts), as CSV or NDJSON, with `mariadb --batch`
 * of the same rows. Shared by the staging (mysql.test.ts) and Blob
 * (blob.test.ts) suites.
 */

/** RFC 4180 CSV → rows of text, an empty unquoted field read as "NULL" (a quoted "" is an empty string). */
export function csvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  while (i < text.length) {
    let field = '';
    if (text[i] === '"') {
      i += 1;
      for (;;) {
        const quote = text.indexOf('"', i);
        field += text.slice(i, quote);
        i = quote + 1;
        if (text[i] === '"') {
          field += '"';
          i += 1;
        } else break;
      }
    } else {
      const end = /[,\n]/g;
      end.lastIndex = i;
      const at = end.exec(text)?.index ?? text.length;
      field = at === i ? 'NULL' : text.slice(i, at);
      i = at;
    }
    row.push(field);
    if (text[i] === '\n' || i >= text.length) {
      rows.push(row);
      row = [];
    }
    i += 1;
  }
  return rows;
}

const asText = (value: unknown): string =>
  value === null ? 'NULL' : typeof value === 'string' ? value : JSON.stringify(value);

/**
 * Asserts that `text`, a job's CSV output (header first), is `reference` row
 * for row; an empty string is quoted and a NULL is not, so the two stay apart.
 */
export function expectCsvRowExact(text: string, reference: string[][]): void {
  const rows = csvRows(text);
  expect(rows).toHaveLength(reference.length);
  for (let i = 0; i < rows.length; i += 1) {
    // '' in the reference is an empty string (a NULL there reads "NULL").
    if (JSON.stringify(rows[i]) !== JSON.stringify(reference[i]))
      expect([i, rows[i]]).toEqual([i, reference[i]]);
  }
  expect(rows[1]).toEqual(reference[1]);
}

/** Asserts that `text`, a job's NDJSON output, is `reference` (header first) row for row, value for value. */
export function expectNdjsonRowExact(text: string, reference: string[][], columns = TYPED_COLUMNS): void {
  const lines = text.split('\n');
  expect(lines.pop()).toBe('');
  expect(lines).toHaveLength(reference.length - 1);
  for (let i = 0; i < lines.length; i += 1) {
    const object = JSON.parse(lines[i] as string) as Record<string, unknown>;
    expect(Object.keys(object)).toEqual(columns);
    const row = columns.map((c) => asText(object[c]));
    if (JSON.stringify(row) !== JSON.stringify(reference[i + 1]))
      expect([i, row]).toEqual([i, reference[i + 1]]);
  }
}
