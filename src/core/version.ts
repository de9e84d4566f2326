import fs from 'node:fs';
import path from 'node:path';

/** The product version, from the package.json shipped beside dist/. */
export const OPENIR_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();
