import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { CopyMeter, CopyTally } from '../../src/core/jobs/meter';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Feeds `chunks` through a CopyMeter stream, as a copy does. */
async function meter(format: 'raw' | 'csv' | 'ndjson', chunks: Buffer[]) {
  const m = new CopyMeter(format, new Writable({ write: (_c, _e, cb) => cb() }));
  await pipeline(Readable.from(chunks), m);
  return { ...m.reading(), sha256: m.sha256() };
}

/** Splits `text` at the given byte offsets. */
function split(bytes: Buffer, at: number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...at, bytes.length]) {
    out.push(bytes.subarray(from, cut));
    from = cut;
  }
  return out;
}

/** A slow, obviously right RFC 4180 record count (less the header), character by character. */
function referenceRows(text: string): number {
  let records = 0;
  let inQuotes = false;
  let open = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (inQuotes) {
      if (c === '"' && text[i + 1] === '"') i += 1;
      else if (c === '"') inQuotes = false;
      open = true;
    } else if (c === '"') {
      inQuotes = true;
      open = true;
    } else if (c === '\n') {
      records += 1;
      open = false;
    } else open = true;
  }
  return Math.max(0, records + (open ? 1 : 0) - 1);
}

// Quoted values with LF, CRLF and "" inside, CRLF record ends, an empty quoted value, a trailing record without newline.
const TRICKY =
  'id,note,amount\r\n' +
  '1,"line one\nline two",3\r\n' +
  '2,"she said ""hi""\r\nthen left",4\r\n' +
  '3,"",5\r\n' +
  '4,"""\n""",6\r\n' +
  '5,plain,7';

describe('CSV row count', () => {
  it('counts records, not lines: newlines inside quotes are data', async () => {
    expect(referenceRows(TRICKY)).toBe(5);
    expect(await meter('csv', [Buffer.from(TRICKY)])).toMatchObject({ rows: 5 });
    expect(await meter('csv', [Buffer.from('a,b\n"x\ny",2\n')])).toMatchObject({ rows: 1 });
    // The old line count would say 3 here.
    expect(await meter('csv', [Buffer.from('a\n"1\n2\n3"\n')])).toMatchObject({ rows: 1 });
  });

  it('gives the same count and checksum wherever the chunks are cut (every 1- and 2-cut split)', async () => {
    const bytes = Buffer.from(TRICKY);
    const expected = { bytes: bytes.length, rows: 5, sha256: sha256(bytes) };
    for (let i = 0; i <= bytes.length; i += 1) {
      expect(await meter('csv', split(bytes, [i])), `cut at ${i}`).toEqual(expected);
    }
    // Two cuts: inside `""`, between CR and LF, inside a quoted newline, and everything else.
    for (let i = 0; i <= bytes.length; i += 3) {
      for (let j = i; j <= bytes.length; j += 1) {
        const tally = new CopyTally('csv');
        for (const chunk of split(bytes, [i, j])) tally.update(chunk);
        expect(tally.reading(), `cuts at ${i}, ${j}`).toEqual({ bytes: bytes.length, rows: 5 });
      }
    }
  });

  it('splits in the awkward places named: inside "", between CR and LF, inside a quoted newline', async () => {
    const bytes = Buffer.from(TRICKY);
    const insideEscape = TRICKY.indexOf('""hi') + 1;
    const betweenCrLf = TRICKY.indexOf('\r\n') + 1;
    const insideQuotedNewline = TRICKY.indexOf('one\n') + 3;
    const cuts = [insideQuotedNewline, insideEscape, betweenCrLf].sort((a, b) => a - b);
    expect(await meter('csv', split(bytes, cuts))).toMatchObject({ rows: 5 });
    expect(await meter('csv', split(bytes, [...Array(bytes.length).keys()].slice(1)))).toMatchObject({
      rows: 5,
    });
  });

  it('agrees with the reference on generated CSV, cut into random chunks', async () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pieces = ['a', 'b,c', '"q"', '"x""y"', '"l1\nl2"', '"\r\n"', '""', '""""', ','];
    for (let round = 0; round < 200; round += 1) {
      let text = 'h1,h2\r\n';
      const rows = Math.floor(random() * 8);
      for (let r = 0; r < rows; r += 1) {
        const fields = 1 + Math.floor(random() * 4);
        for (let f = 0; f < fields; f += 1) {
          text += `${f ? ',' : ''}${pieces[Math.floor(random() * pieces.length)]}`;
        }
        text += r === rows - 1 && random() < 0.5 ? '' : random() < 0.5 ? '\n' : '\r\n';
      }
      const bytes = Buffer.from(text);
      const cuts = [...new Set([...Array(3)].map(() => Math.floor(random() * bytes.length)))].sort(
        (a, b) => a - b,
      );
      const got = await meter('csv', split(bytes, cuts));
      expect(got.rows, JSON.stringify({ text, cuts })).toBe(referenceRows(text));
    }
  });

  it('keeps what it counted before: header excluded, a last line without newline counted, empty input 0', async () => {
    expect(await meter('csv', [Buffer.from('a,b\n1,2\n3,4')])).toMatchObject({ bytes: 11, rows: 2 });
    expect(await meter('csv', [Buffer.from('a,b\n1,2\n3,4\n')])).toMatchObject({ rows: 2 });
    expect(await meter('csv', [Buffer.from('a,b\n')])).toMatchObject({ rows: 0 });
    expect(await meter('csv', [])).toMatchObject({ bytes: 0, rows: 0 });
    expect(await meter('ndjson', [Buffer.from('{"a":1}\n{'), Buffer.from('"b":2}')])).toMatchObject({
      rows: 2,
    });
    expect(await meter('raw', [Buffer.from('x\n"')])).toMatchObject({ bytes: 3, rows: undefined });
  });
});

describe('meter checkpoints (resume)', () => {
  it('restores count and checksum at a kept checkpoint, so a resumed copy ends with the whole-file values', () => {
    const MiB = 1024 * 1024;
    // CSV with a quoted newline straddling the 1 MiB checkpoint.
    const line = Buffer.from('1,"a\nb",2\n');
    const bytes = Buffer.concat([Buffer.from('h,n,v\n'), ...Array(400_000).fill(line)]);
    const chunks = split(
      bytes,
      [...Array(Math.floor(bytes.length / 65_537)).keys()].slice(1).map((i) => i * 65_537),
    );
    const whole = new CopyTally('csv');
    for (const chunk of chunks) whole.update(chunk);
    expect(whole.reading()).toEqual({ bytes: bytes.length, rows: 400_000 });

    const tally = new CopyTally('csv');
    for (const chunk of chunks) tally.update(chunk);
    // The other end kept 2.5 MiB: the copy goes back to the checkpoint at or before it, then re-sends from there.
    const checkpoint = tally.checkpointAtOrBefore(2.5 * MiB);
    expect(checkpoint.bytes).toBeGreaterThanOrEqual(MiB);
    expect(checkpoint.bytes).toBeLessThanOrEqual(2.5 * MiB);
    tally.restore(checkpoint);
    expect(tally.reading().bytes).toBe(checkpoint.bytes);
    tally.update(bytes.subarray(checkpoint.bytes, checkpoint.bytes + 12_345));
    tally.update(bytes.subarray(checkpoint.bytes + 12_345));
    expect(tally.reading()).toEqual(whole.reading());
    expect(tally.sha256()).toBe(sha256(bytes));
    // Before the first checkpoint there is only the start.
    expect(tally.checkpointAtOrBefore(1000).bytes).toBe(0);
  });
});
