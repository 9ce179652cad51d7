// Transpiles src/ and bench/memory.ts to plain JavaScript in bench/.work/ (git-ignored), so that the
// memory measurements run in a bare `node` process: tsx's loader alone holds ~45 MB of RSS, which
// would swamp a 100 MB budget. Type-stripping only (TypeScript's transpileModule), no bundling.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { BENCH_DIR, ROOT } from './lib.ts';


function files(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(folder, entry.name)) : entry.name.endsWith('.ts') ? [join(folder, entry.name)] : [],
  );
}

/**
 * Returns the path of the transpiled bench/memory.js (src/index.js is at `../src/index.js` from it).
 * `replace` maps a path under the repository (`src/api.ts`) to other source text: the A/B builds of bench/ab.ts.
 */
export function buildPlain(name = 'plain', replace: Record<string, string> = {}): string {
  const OUT = join(BENCH_DIR, '.work', name);
  rmSync(OUT, { recursive: true, force: true });
  for (const file of [...files(join(ROOT, 'src')), join(BENCH_DIR, 'memory.ts')]) {
    const { outputText } = ts.transpileModule(replace[relative(ROOT, file)] ?? readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
        rewriteRelativeImportExtensions: true,
      },
    });
    const target = join(OUT, relative(ROOT, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
  return join(OUT, 'bench', 'memory.js');
}
