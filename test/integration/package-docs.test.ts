/**
 * The docs the .deb installs: `pnpm package` builds it, dpkg-deb extracts it, and every relative
 * link of the installed README.md and docs/*.md (to another page, or to an image a page shows)
 * resolves to a file inside the package, as does every unit's Documentation=.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../harness/daemon.ts';
import { mustRun } from '../harness/run-tool.ts';
import { buildPackage } from '../harness/systemd-container.ts';

/** Where the package puts the README and the docs/ tree. */
const DOC_DIR = 'usr/share/doc/provisioningd';

/**
 * The relative targets (without `#anchor`) of a Markdown page's links and images, outside code
 * (fenced blocks and `inline code` are text, not links); URLs with a scheme and `#anchor`-only links are left out.
 */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
    .map((m) => (m[1] ?? '').split('#')[0] ?? '')
    .filter((target) => target !== '' && !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

describe('the docs in the .deb', () => {
  const dir = mkdtempSync(join(tmpdir(), 'package-docs-'));
  const tree = join(dir, 'tree');
  const docRoot = join(tree, DOC_DIR);
  const isFileInPackage = (file: string) => !relative(tree, file).startsWith('..') && statSync(file, { throwIfNoEntry: false })?.isFile() === true;

  before(async () => {
    const deb = await buildPackage(REPO, join(dir, 'pkg'));
    await mustRun('dpkg-deb', ['-x', deb, tree]);
  }, { timeout: 600_000 });
  after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 60_000 });

  it('installs README.md and every page of docs/ under docs/, and every relative link in them resolves to a file in the package', () => {
    // The pages as the repository has them: README.md and docs/*.md, each expected at the same place under DOC_DIR.
    const pages = ['README.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const broken: string[] = [];
    const images: string[] = [];
    for (const page of pages) {
      const from = join(docRoot, page);
      if (!isFileInPackage(from)) {
        broken.push(`${page} is not installed`);
        continue;
      }
      for (const target of relativeLinks(readFileSync(from, 'utf8'))) {
        const file = resolve(dirname(from), decodeURIComponent(target));
        if (!isFileInPackage(file)) broken.push(`${page} → ${target}`);
        else if (/\.(png|svg)$/.test(file)) images.push(relative(docRoot, file));
      }
    }
    assert.deepEqual(broken, [], `pages missing from /${DOC_DIR}/, and links that lead nowhere in the installed docs`);
    // What the README shows and links to is really among them (a check that links were found at all).
    assert.ok(relativeLinks(readFileSync(join(docRoot, 'README.md'), 'utf8')).includes('docs/operations.md'), 'the README links docs/operations.md');
    assert.ok(images.includes('docs/inspector.png'), `the inspector's picture is shown and installed: ${images.join(', ')}`);
  });

  it("every installed unit's Documentation= is a file in the package", () => {
    const unitDir = join(tree, 'usr/lib/systemd/system');
    const units = readdirSync(unitDir).filter((f) => f.endsWith('.service'));
    assert.equal(units.length, 3, units.join(', '));
    for (const unit of units) {
      const docs = /^Documentation=(.*)$/m.exec(readFileSync(join(unitDir, unit), 'utf8'))?.[1]?.split(/\s+/).filter(Boolean) ?? [];
      assert.ok(docs.length > 0, `${unit} names its docs`);
      for (const doc of docs) {
        assert.match(doc, /^file:\/\/\//, unit);
        assert.ok(isFileInPackage(join(tree, doc.slice('file:///'.length))), `${unit}: ${doc} is installed`);
      }
    }
  });
});
