import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { minimatch } from 'minimatch';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * What can be checked of the desktop installers without Electron and without
 * Windows or macOS: the electron-builder config, the files it packs, the
 * fuses, the NSIS firewall include and the release workflow. The workflow
 * itself runs only on GitHub's runners (README "Install").
 */
const ROOT = path.resolve(__dirname, '../..');
const config = parse(fs.readFileSync(path.join(ROOT, 'electron-builder.yml'), 'utf8')) as {
  files: string[];
  electronFuses: Record<string, boolean>;
  nsis: { include: string };
  linux: { target: string[]; executableName: string };
  win: { target: string[] };
  mac: { target: string[] };
};

/** electron-builder's rule: patterns in order, the last one that matches a path decides. */
function packed(file: string): boolean {
  let included = false;
  for (const pattern of config.files) {
    const negated = pattern.startsWith('!');
    if (minimatch(file, negated ? pattern.slice(1) : pattern, { dot: true })) included = !negated;
  }
  return included;
}

describe('desktop installers', () => {
  it('electron-builder accepts the config (its own schema validation)', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { validateConfiguration } = require('app-builder-lib/out/util/config/config') as {
      validateConfiguration: (c: unknown, logger: unknown) => Promise<void>;
    };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };
    await expect(validateConfiguration(config, new DebugLogger(false))).resolves.toBeUndefined();
    // The validation is real: an unknown key is refused.
    await expect(validateConfiguration({ ...config, nsiss: {} }, new DebugLogger(false))).rejects.toThrow(
      /unknown property 'nsiss'/,
    );
  });

  it('packs the built app and the tray icons, and no sources, tests, benches or maps', () => {
    const tray = fs.readdirSync(path.join(ROOT, 'assets/tray')).map((f) => `assets/tray/${f}`);
    expect(tray.length).toBeGreaterThan(0);
    for (const file of [
      'package.json',
      'dist/main/main.js',
      'dist/preload/preload.js',
      'dist/renderer/index.html',
      'dist/core/host.js',
      'dist/shared/contract.js',
      ...tray,
    ]) {
      expect(packed(file), file).toBe(true);
    }
    const tracked = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    const leaked = tracked.filter((f) => packed(f) && /^(src|test|e2e|bench|scripts|docs)\//.test(f));
    expect(leaked).toEqual([]);
    for (const file of [
      'dist/main/main.js.map',
      'dist/control-plane/main.js',
      'test/e2e/jobs.test.ts',
      'e2e/web.spec.ts',
      'bench/jobs.ts',
      'src/main/main.ts',
    ]) {
      expect(packed(file), file).toBe(false);
    }
  });

  it('sets the hardening fuses', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      grantFileProtocolExtraPrivileges: false,
    });
  });

  it('builds NSIS, DMG, deb and AppImage, and the NSIS include offers the firewall rule', () => {
    expect(config.win.target).toEqual(['nsis']);
    expect(config.mac.target).toEqual(['dmg']);
    expect(config.linux.target).toEqual(['deb', 'AppImage']);
    const include = fs.readFileSync(path.join(ROOT, config.nsis.include), 'utf8');
    expect(include).toContain('"NOFIREWALL="');
    expect(include).toMatch(/netsh advfirewall firewall add rule .*localport=8060/);
    expect(include).toMatch(/netsh advfirewall firewall delete rule/);
  });

  // Debian's nsis package compiles the include as electron-builder's installer would insert it.
  const makensis = spawnSync('makensis', ['-VERSION']).status === 0;
  it.skipIf(!makensis)('the NSIS include compiles with makensis', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openir-nsis-'));
    try {
      const script = path.join(dir, 'check.nsi');
      fs.writeFileSync(
        script,
        [
          '!define APP_EXECUTABLE_FILENAME "OpenIR.exe"',
          `!include "${path.join(ROOT, config.nsis.include)}"`,
          `OutFile "${path.join(dir, 'check.exe')}"`,
          'RequestExecutionLevel user',
          'Section',
          '  !insertmacro customInstall',
          `  WriteUninstaller "${path.join(dir, 'uninstall.exe')}"`,
          'SectionEnd',
          'Section "Uninstall"',
          '  !insertmacro customUnInstall',
          'SectionEnd',
        ].join('\n'),
      );
      const run = spawnSync('makensis', ['-V2', '-WX', script], { encoding: 'utf8' });
      expect(run.stdout + run.stderr).not.toMatch(/error/i);
      expect(run.status).toBe(0);
      expect(fs.existsSync(path.join(dir, 'check.exe'))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the release workflow parses and builds, tests and uploads on the three OSes', () => {
    const workflow = parse(fs.readFileSync(path.join(ROOT, '.github/workflows/release.yml'), 'utf8')) as {
      jobs: Record<
        string,
        {
          'runs-on': string;
          strategy: { matrix: { include: { os: string; app: string }[] } };
          steps: { run?: string; uses?: string; env?: Record<string, string> }[];
        }
      >;
    };
    const job = workflow.jobs.installers;
    if (!job) throw new Error('release.yml has no "installers" job');
    expect(job.strategy.matrix.include.map((m) => m.os).sort()).toEqual([
      'macos-latest',
      'ubuntu-latest',
      'windows-latest',
    ]);
    const runs = job.steps.map((s) => s.run ?? s.uses ?? '').join('\n');
    expect(runs).toMatch(/npm ci/);
    expect(runs).toMatch(/electron-builder --config electron-builder\.yml/);
    expect(runs).toMatch(/playwright test e2e\/electron\.spec\.ts/);
    expect(runs).toMatch(/actions\/upload-artifact/);
    const e2e = job.steps.find((s) => s.run?.includes('playwright test'));
    expect(e2e?.env?.OPENIR_ELECTRON_APP).toContain('matrix.app');
    // The Linux packaged executable is the one electron-builder names.
    const linux = job.strategy.matrix.include.find((m) => m.os === 'ubuntu-latest');
    expect(linux?.app).toBe(`release/linux-unpacked/${config.linux.executableName}`);
  });
});
