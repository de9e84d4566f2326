import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Logger, Redactor } from '../../src/core/logger';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

afterAll(cleanupTempDirs);

describe('Logger', () => {
  it('writes JSON lines at or above the level and keeps a tail', () => {
    const file = path.join(tempDir(), 'logs', 'openir.log');
    const logger = new Logger({ file, level: 'info', redactor: new Redactor() });
    const log = logger.child('test');
    log.debug('hidden');
    log.info('shown', { n: 1 });
    log.error('bad');
    const lines = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.message)).toEqual(['shown', 'bad']);
    expect(lines[0]).toMatchObject({ level: 'info', source: 'test', fields: { n: 1 } });
    expect(logger.tail(10, 'error').map((e) => e.message)).toEqual(['bad']);
    logger.setLevel('debug');
    log.debug('now shown');
    expect(logger.tail(1)[0]?.message).toBe('now shown');
  });

  it('redacts known secrets, auth keys and secret-named fields everywhere', () => {
    const file = path.join(tempDir(), 'openir.log');
    const redactor = new Redactor();
    const logger = new Logger({ file, level: 'debug', redactor });
    const credential = 'c2VjcmV0LW5vZGUtY3JlZGVudGlhbC12YWx1ZQ';
    redactor.add(credential);
    const key =
      'IR@abc-123@ir@ServiceEndpoint=https://h:1@Pin=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@theAuthKeySecretValue1234567890abcdef';
    logger.child('t').info(`connecting with ${credential}`, {
      header: `Bearer ${credential}`,
      password: 'hunter2-hunter2',
      pasted: key,
      nested: { token: 'tok-123456789', list: [credential] },
      error: new Error(`failed for ${credential}`),
    });
    const text = fs.readFileSync(file, 'utf8');
    for (const secret of [
      credential,
      'hunter2-hunter2',
      'theAuthKeySecretValue1234567890abcdef',
      'tok-123456789',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[REDACTED]');
    expect(text).toContain('ServiceEndpoint=https://h:1');
  });

  it('rotates the file past its size limit', () => {
    const file = path.join(tempDir(), 'openir.log');
    const logger = new Logger({ file, level: 'info', redactor: new Redactor(), maxBytes: 2000 });
    for (let i = 0; i < 50; i += 1) logger.child('t').info(`line ${i} ${'x'.repeat(40)}`);
    expect(fs.existsSync(`${file}.1`)).toBe(true);
    expect(fs.statSync(file).size).toBeLessThanOrEqual(2000);
  });
});
