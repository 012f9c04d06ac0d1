/**
 * Rooms keep their doors: a folder with an `index.ts` (a "room": src/pki/token, src/pki/certificate,
 * src/pki/trust, src/spdm, …) is entered only through that index. A relative import from outside
 * the room that names a file inside it other than its index.ts is reported. Files inside a room
 * import each other freely; a room inside a room has its own door.
 *
 * Checked: src/, machines/, scripts/ and bench/. Not checked: test/. Unit tests of a room's
 * internals (the SPDM codecs, the PIN file reader, …) import the file they test directly; tests
 * of behaviour go through the door like any other caller.
 *
 * Biome (biome.json) cannot say "from outside the folder" for every folder that has an index.ts,
 * so `pnpm lint` runs this after `biome lint`; test/unit/code-rules.test.ts proves it on a
 * fixture (test/fixtures/lint/src/room-doors/).
 *
 * Usage: tsx scripts/room-doors.ts [root]   (root: the project folder, default: the current one)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** The folders whose files are checked, relative to the project root. */
export const CHECKED_FOLDERS = ['src', 'machines', 'scripts', 'bench'] as const;

/** One import that goes around a room's door. */
export interface RoomBypass {
  /** The importing file, relative to the root. */
  readonly file: string;
  /** 1-based line of the import. */
  readonly line: number;
  /** The import specifier as written. */
  readonly specifier: string;
  /** The room (folder with index.ts) it reaches into, relative to the root. */
  readonly room: string;
}

/** Every .ts/.mts/.js/.mjs file under `dir` (none if it does not exist). */
function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(m?ts|m?js)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

/** Static imports and re-exports (`from '…'`), side-effect imports (`import '…'`) and dynamic `import('…')`. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"\n]+)\1/gm;

/** The relative import specifiers of a source text, with their 1-based lines. */
export function importSpecifiers(text: string): Array<{ specifier: string; line: number }> {
  const found: Array<{ specifier: string; line: number }> = [];
  for (const match of text.matchAll(SPECIFIER)) {
    const specifier = match[2] ?? '';
    if (!specifier.startsWith('.')) continue;
    const line = text.slice(0, match.index + match[0].length).split('\n').length;
    found.push({ specifier, line });
  }
  return found;
}

/** `path` is `folder` itself or inside it. */
const isWithin = (path: string, folder: string) => path === folder || path.startsWith(folder + sep);

/** Every import in the checked folders under `root` that enters a room other than through its index.ts. */
export function findRoomBypasses(root: string): RoomBypass[] {
  const files = CHECKED_FOLDERS.flatMap((folder) => sourceFiles(join(root, folder)));
  const rooms = files.filter((f) => f.endsWith(`${sep}index.ts`)).map((f) => dirname(f));
  const bypasses: RoomBypass[] = [];
  for (const file of files) {
    for (const { specifier, line } of importSpecifiers(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), specifier);
      for (const room of rooms) {
        if (!isWithin(target, room) || isWithin(file, room)) continue;
        if (target === join(room, 'index.ts') || target === room) continue;
        bypasses.push({ file: relative(root, file), line, specifier, room: relative(root, room) });
      }
    }
  }
  return bypasses;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const root = resolve(process.argv[2] ?? '.');
  const bypasses = findRoomBypasses(root);
  for (const b of bypasses) {
    console.error(`${b.file}:${b.line}: '${b.specifier}' reaches inside ${b.room}/; import from ${b.room}/index.ts instead`);
  }
  if (bypasses.length > 0) process.exit(1);
}
