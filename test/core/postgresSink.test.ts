import { describe, expect, it } from 'vitest';
import { csvHeaderColumns, openPostgresSink, quotedSinkTable } from '../../src/core/jobs/postgresSink';
import type { PostgresCredential } from '../../src/core/jobs/postgresSource';
import { OpenIrError } from '../../src/shared/errors';

describe('PostgreSQL sink table names', () => {
  it('quotes each part, folding plain names to lower case', () => {
    expect(quotedSinkTable('table:Sales')).toBe('"sales"');
    expect(quotedSinkTable('table:public.Sales')).toBe('"public"."sales"');
    expect(quotedSinkTable('table:"My Schema"."Odd""Name"')).toBe('"My Schema"."Odd""Name"');
  });

  it.each([
    'table:',
    'sales',
    'table:a.b.c',
    'table:sales; DROP TABLE sales',
    'table:sales--',
    'table:"unclosed',
    'table:a..b',
    'table: sales',
  ])('refuses %s with INVALID_INPUT', (location) => {
    let caught: unknown;
    try {
      quotedSinkTable(location);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OpenIrError);
    expect((caught as OpenIrError).code).toBe('INVALID_INPUT');
  });

  it('refuses a format other than csv before connecting', async () => {
    const credential = {
      type: 'postgresql',
      name: 'pg',
      host: '127.0.0.1',
      port: 1,
      database: 'd',
      user: 'u',
      ssl: false,
    } as unknown as PostgresCredential;
    await expect(openPostgresSink(credential, 'table:t', 'ndjson')).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
  });
});

describe('PostgreSQL sink: the CSV header line as a column list', () => {
  it('reads plain and quoted names, in their order, exactly as spelled', () => {
    expect(csvHeaderColumns('day,label,id', '"t"')).toEqual(['day', 'label', 'id']);
    expect(csvHeaderColumns('"Day","a,b","say ""hi""",x\r', '"t"')).toEqual(['Day', 'a,b', 'say "hi"', 'x']);
    expect(csvHeaderColumns('only', '"t"')).toEqual(['only']);
  });

  it.each(['a,,b', '', 'a,', '"open', 'a"b', '"a"x,b'])(
    'refuses the header %j with SINK_DATA_REJECTED',
    (line) => {
      let caught: unknown;
      try {
        csvHeaderColumns(line, '"t"');
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(OpenIrError);
      expect((caught as OpenIrError).code).toBe('SINK_DATA_REJECTED');
      expect((caught as OpenIrError).message).toContain('Nothing was loaded');
    },
  );
});
