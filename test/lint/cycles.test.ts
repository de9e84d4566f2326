import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

afterAll(cleanupTempDirs);

/**
 * No import cycles in src, type-only imports included: a cycle is a sign two
 * modules are one concern (or share a type that wants its own module), and
 * it makes load order matter. Every relative import counts: `import`,
 * `import type`, `export … from`, `import x = require()`, `require()`, `import('…')` and
 * `typeof import('…')` types.
 */

const SOURCE_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts'];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(full);
    return SOURCE_EXTENSIONS.some((ext) => entry.name.endsWith(ext)) ? [full] : [];
  });
}

/** Every module specifier a file names, read with the TypeScript parser (no type checking). */
function moduleSpecifiers(file: string): string[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push(node.moduleSpecifier.text);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      found.push(node.moduleReference.expression.text);
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === 'require')) &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      found.push(node.arguments[0].text);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      found.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** A relative specifier as the compiler resolves it: `x`, `x.js` → `x.ts`/`x.tsx`, or `x/index.ts`. */
function resolveRelative(from: string, specifier: string, known: Set<string>): string | null {
  if (!specifier.startsWith('.')) return null;
  const base = path.resolve(path.dirname(from), specifier);
  const stem = base.replace(/\.(?:[mc]?js|jsx)$/, '');
  const candidates = [
    base,
    ...SOURCE_EXTENSIONS.map((ext) => stem + ext),
    ...SOURCE_EXTENSIONS.map((ext) => path.join(base, `index${ext}`)),
  ];
  return candidates.find((candidate) => known.has(candidate)) ?? null;
}

/** The relative imports of every source file under root; `unresolved` lists those that name no file. */
function importGraph(root: string): { graph: Map<string, string[]>; unresolved: string[] } {
  const files = sourceFiles(root);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  const unresolved: string[] = [];
  for (const file of files) {
    const targets = new Set<string>();
    for (const specifier of moduleSpecifiers(file)) {
      if (!specifier.startsWith('.')) continue;
      const target = resolveRelative(file, specifier, known);
      if (target) targets.add(target);
      // A stylesheet or an asset is a file but no module of ours; anything else is a path the check missed.
      else if (!fs.existsSync(path.resolve(path.dirname(file), specifier))) {
        unresolved.push(`${path.relative(root, file)}: ${specifier}`);
      }
    }
    graph.set(file, [...targets].sort());
  }
  return { graph, unresolved };
}

interface Cycle {
  /** The shortest loop through the knot's first file, e.g. a.ts → b.ts → a.ts. */
  loop: string[];
  /** Every file of the knot (its strongly connected component): more than the loop when loops overlap. */
  files: string[];
}

/** The cycles of the graph: one per knot of files that reach each other (Tarjan's components). */
function findCycles(graph: Map<string, string[]>): Cycle[] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];

  const connect = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      const selfImport = (graph.get(node) ?? []).includes(node);
      if (component.length > 1 || selfImport) components.push(component.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) connect(node);

  return components
    .map((files) => ({ loop: shortestLoop(graph, files), files }))
    .sort((a, b) => a.loop.join().localeCompare(b.loop.join()));
}

function shortestLoop(graph: Map<string, string[]>, component: string[]): string[] {
  const start = component[0]!;
  const inside = new Set(component);
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const next of graph.get(node) ?? []) {
      if (!inside.has(next)) continue;
      if (next === start) {
        const loop = [start];
        for (let at = node; at !== start; at = previous.get(at)!) loop.splice(1, 0, at);
        return [...loop, start];
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start, start];
}

function describeCycles(root: string, cycles: Cycle[]): string {
  const name = (file: string) => path.relative(root, file).split(path.sep).join('/');
  return cycles
    .map(({ loop, files }) => {
      const shown = loop.map(name).join(' → ');
      // Overlapping loops form one knot; name all its files so one fix does not just reveal the next loop.
      return files.length > loop.length - 1
        ? `${shown}\n  (one knot of ${files.length} files: ${files.map(name).join(', ')})`
        : shown;
    })
    .join('\n');
}

const repo = path.resolve(__dirname, '../..');

describe('import cycles', () => {
  const src = importGraph(path.join(repo, 'src'));

  it('src has none, type-only imports included', () => {
    const cycles = describeCycles(repo, findCycles(src.graph));
    expect(cycles, `Import cycles in src (move the shared part into its own module):\n${cycles}`).toBe('');
  });

  it('every relative import in src resolves, so no cycle hides behind a path the check missed', () => {
    expect(src.graph.size).toBeGreaterThan(50);
    expect(src.unresolved).toEqual([]);
  });

  it('the check finds a cycle made only of type imports, re-exports and lazy imports', () => {
    const dir = tempDir();
    const write = (name: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), text);
    };
    write('a.ts', "import type { B } from './b';\nexport type A = { b?: B };\n");
    write('b.ts', "export type { C as B } from './deep';\n");
    write('deep/index.ts', "export type C = typeof import('../a.js');\n");
    write('lazy.ts', "export const load = () => import('./lazy2.js');\n");
    write('lazy2.ts', "import { load } from './lazy';\nexport const again = load;\n");
    write('self.tsx', "import './self';\n");
    write('fine.ts', "import { A } from './a';\nimport z from 'zod';\nexport type F = A | typeof z;\n");

    const fixture = importGraph(dir);
    expect(fixture.unresolved).toEqual([]);
    expect(describeCycles(dir, findCycles(fixture.graph))).toBe(
      ['a.ts → b.ts → deep/index.ts → a.ts', 'lazy.ts → lazy2.ts → lazy.ts', 'self.tsx → self.tsx'].join(
        '\n',
      ),
    );
  });
});
