import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/** The layers of README.md ("How it fits together") are enforced by lint; prove the rules bite. */
const eslint = new ESLint({ cwd: path.resolve(__dirname, '../..') });

async function restricted(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.resolve(__dirname, '../..', file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import boundaries', () => {
  it.each([
    ['src/core/x.ts', "import { app } from 'electron';\nexport const a = app;\n"],
    ['src/shared/x.ts', "import fs from 'node:fs';\nexport const a = fs;\n"],
    ['src/shared/x.ts', "import { runHost } from '../core/runHost';\nexport const a = runHost;\n"],
    ['src/renderer/x.ts', "import { runHost } from '../core/runHost';\nexport const a = runHost;\n"],
    ['src/control-plane/x.ts', "import { runHost } from '../core/runHost';\nexport const a = runHost;\n"],
    ['src/core/x.ts', "import { main } from '../cli/main';\nexport const a = main;\n"],
  ])('%s may not import %j', async (file, code) => {
    expect(await restricted(file, code)).not.toEqual([]);
  });

  it.each([
    ['src/core/x.ts', "import { parseAuthKey } from '../shared/authKey';\nexport const a = parseAuthKey;\n"],
    ['src/cli/x.ts', "import { runHost } from '../core/runHost';\nexport const a = runHost;\n"],
    ['src/main/x.ts', "import { app } from 'electron';\nexport const a = app;\n"],
  ])('%s may import %j', async (file, code) => {
    expect(await restricted(file, code)).toEqual([]);
  });
});
