// Transpiles src/, bench/memory.ts and bench/icount.ts to plain JavaScript in bench/.work/ (git-ignored), so that the
// library runs as users run it (not through tsx, whose keepNames helper wraps every closure) and the
// memory measurements run in a bare `node` process: tsx's loader alone holds ~45 MB of RSS, which
// would swamp a 100 MB budget. Type-stripping only (TypeScript's transpileModule), no bundling.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import type * as Lib from '../src/index.ts';
import { BENCH_DIR, ROOT } from './lib.ts';

function files(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(folder, entry.name)) : entry.name.endsWith('.ts') ? [join(folder, entry.name)] : [],
  );
}

/** The working tree's src/ as text, keyed by the path under the repository (`src/api.ts`). */
export function sourceTree(): Record<string, string> {
  return Object.fromEntries(files(join(ROOT, 'src')).map((file) => [relative(ROOT, file), readFileSync(file, 'utf8')]));
}

/**
 * Transpiles `src` (default: the working tree's src/; bench/ab.ts passes another revision's),
 * bench/memory.ts and bench/icount.ts into bench/.work/<name>/, and returns that folder:
 * src/index.js, bench/memory.js and bench/icount.js are in it. The folder is emptied first, so two
 * benches at once need two names: `BENCH_PLAIN` (default `plain`; `npm test` uses its own).
 */
export function buildPlain(name = process.env.BENCH_PLAIN || 'plain', src: Record<string, string> = sourceTree()): string {
  const out = join(BENCH_DIR, '.work', name);
  rmSync(out, { recursive: true, force: true });
  const scripts = Object.fromEntries(['memory.ts', 'icount.ts'].map((name) => [join('bench', name), readFileSync(join(BENCH_DIR, name), 'utf8')]));
  for (const [path, text] of Object.entries({ ...src, ...scripts })) {
    const { outputText } = ts.transpileModule(text, {
      fileName: join(ROOT, path),
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
        rewriteRelativeImportExtensions: true,
      },
    });
    const target = join(out, path).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
  return out;
}

/** The library transpiled by {@link buildPlain} into `dir`. */
export async function importPlain(dir: string): Promise<typeof Lib> {
  return (await import(pathToFileURL(join(dir, 'src', 'index.js')).href)) as typeof Lib;
}
