import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, freePort, getProperty, IFACE, OBJECT, REPO, SERVICE, STATUS } from '../harness/daemon.ts';
import { runTool } from '../harness/run-tool.ts';
import { STARTUP_DEADLINE_MS } from '../harness/startup-deadline.ts';
import { checkSelfProvisioningFiles } from '../harness/self-provisioning-files.ts';
import { startSoftHsmToken } from '../harness/softhsm.ts';
import { createAttestationd, startAttestationd, writeManifest, writeRoots } from '../harness/attestationd.ts';

const BUNDLE = join(REPO, 'dist/provisioningd.js');
const CHUNKS = join(REPO, 'dist/chunks');
const NAME = 'bmc-bundle';
/**
 * The first page request lays the statecharts out (elkjs on its thread, up to the inspector's 20 s
 * layout deadline on a loaded machine): wait past that, so the page is judged, not the machine's load.
 */
const PAGE_DEADLINE_MS = 40_000;

describe('the production bundle (pnpm build; node dist/provisioningd.js)', () => {
  const fixture = useBusFixture();
  const theBus = fixture.bus;

  before(async () => {
    const build = await runTool(process.execPath, [join(REPO, 'scripts/build.mjs')], { cwd: REPO, timeoutMs: 120_000 });
    assert.equal(build.code, 0, `pnpm build failed:\n${build.stdout}${build.stderr}`);
  }, { timeout: 300_000 });

  it('is ESM with source maps, loading no TypeScript at run time', () => {
    assert.ok(existsSync(BUNDLE));
    assert.ok(existsSync(`${BUNDLE}.map`));
    const code = [BUNDLE, ...readdirSync(CHUNKS).filter((f) => f.endsWith('.js')).map((f) => join(CHUNKS, f))]
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    assert.doesNotMatch(code, /import\(\s*["'][^"']+\.ts["']\s*\)/, 'no dynamic import of a .ts file is left');
    assert.doesNotMatch(code, /from\s+["']tsx["']/);
  });

  it('starts light: neither daemon loads the X.509 library, TLS, the PKCS#11 module or xml2js before its first line runs (they come with import() or require() when used)', () => {
    const meta = JSON.parse(readFileSync(join(REPO, 'dist/meta.json'), 'utf8')) as {
      outputs: Record<string, { imports?: { path: string; kind: string; external?: boolean }[]; inputs: Record<string, unknown> }>;
    };
    for (const program of ['provisioningd', 'attestationd']) {
      // Every output file the program loads before it runs its first line: its static import graph,
      // and the Node modules those files import.
      const loaded = new Set<string>();
      const builtins = new Set<string>();
      const visit = (path: string) => {
        if (loaded.has(path)) return;
        loaded.add(path);
        for (const imp of meta.outputs[path]?.imports ?? []) {
          if (imp.kind === 'dynamic-import') continue;
          if (imp.external) builtins.add(imp.path.replace(/^node:/, ''));
          else visit(imp.path);
        }
      };
      visit(`dist/${program}.js`);
      const inputs = [...loaded].flatMap((out) => Object.keys(meta.outputs[out]?.inputs ?? {}));
      assert.deepEqual(inputs.filter((input) => input.includes('@peculiar/x509')), [], `${program} loads the X.509 library at start`);
      assert.deepEqual(inputs.filter((input) => /src\/pki\/token\/pkcs11-module\.ts$|src\/tls\/(bmc-responder|tls-link-client)\.ts$/.test(input)), [], `${program} loads TLS or PKCS#11 code at start`);
      assert.ok(!builtins.has('tls') && !builtins.has('worker_threads'), `${program} imports node:tls or node:worker_threads at start: ${[...builtins].join(', ')}`);
      // dbus-next's xml2js is the stand-in that loads the real one (dist/node_modules/xml2js) when first used.
      assert.deepEqual(inputs.filter((input) => /node_modules\/(xml2js|xmlbuilder|sax)\//.test(input)), [], `${program} loads xml2js at start`);
      assert.ok(inputs.includes('src/dbus/xml2js-on-demand.ts'), `${program}'s dbus-next gets the stand-in for xml2js`);
    }
  });

  it('runs the documented busctl commands like the daemon from source', async () => {
    const d = await fixture.startDaemon({ entry: 'dist', config: { name: NAME } });
    assert.equal(await getProperty(theBus(), 'provisioned'), 'false');
    assert.equal(await getProperty(theBus(), 'peerConnected'), `${STATUS}.NotDetermined`);
    const call = await busctl(theBus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(call.code, 0, `${call.stderr}\n${d.output()}`);
    const provisioned = await busctl(theBus(), 'get-property', SERVICE, OBJECT, IFACE, 'provisioned');
    assert.equal(provisioned.stdout.trim(), 'b true');
    // Introspection: dbus-next builds the XML with xml2js, which the bundle loads only now.
    const xml = await busctl(theBus(), 'introspect', '--xml-interface', SERVICE, OBJECT);
    assert.equal(xml.code, 0, `${xml.stderr}\n${d.output()}`);
    assert.match(xml.stdout, /<method name="ProvisionPeer">\s*<arg(?=[^>]*direction="in")(?=[^>]*type="s")[^>]*>\s*<\/method>/);
    assert.match(xml.stdout, /<property name="provisioned" type="b" access="read"\s*\/?>/);
    assert.match(xml.stdout, /<interface name="org\.freedesktop\.DBus\.Properties">/);
    const tree = await busctl(theBus(), 'tree', SERVICE);
    assert.equal(tree.code, 0, `${tree.stderr}\n${d.output()}`);
    assert.match(tree.stdout, /\/xyz\/openbmc_project\/Provisioning/);
    await checkSelfProvisioningFiles({ certRoot: String(d.config['cert_root']), name: NAME });
    d.kill('SIGTERM');
    assert.deepEqual(await withTimeout(d.exited(), 15_000, 'bundle exit'), { code: 0, signal: null }, d.output());
  });

  it('ships attestationd as dist/attestationd.js: identity key on SoftHSM2, it attests its own responder', async () => {
    const token = await startSoftHsmToken({ label: 'bundle-att', keyLabel: 'attestation-identity' });
    fixture.cleanup(() => token.stop());
    const setup = await createAttestationd({ dir: fixture.tempDir('bundle-att-'), name: NAME, config: { identity_token: token.token }, env: token.env, entry: 'dist' });
    writeRoots(setup, [setup.rootPem]);
    writeManifest(setup, [{ index: 1, files: [join(REPO, 'src/attestationd/main.ts')] }]);
    const d = await startAttestationd({ bus: theBus(), setup, env: token.env, entry: 'dist' });
    fixture.cleanup(() => d.stop());
    const root = '/xyz/openbmc_project/attestation_requester';
    const add = await busctl(theBus(), 'call', 'xyz.openbmc_project.attestation', root, 'xyz.openbmc_project.AttestationDevices', 'AddDevice', 'sss', NAME, '127.0.0.1', String(setup.spdmPort));
    assert.equal(add.code, 0, `${add.stderr}\n${d.output()}`);
    const path = `${root}/devices/tcp/bmc_2dbundle`;
    const attest = await busctl(theBus(), 'call', 'xyz.openbmc_project.attestation', path, 'xyz.openbmc_project.AttestationDevice', 'attest');
    assert.equal(attest.code, 0, attest.stderr);
    // Nothing provisioned under its cert_root: the signed exchange ran end to end and says so.
    assert.ok(
      await eventually(async () => {
        const r = await busctl(theBus(), 'get-property', 'xyz.openbmc_project.attestation', path, 'xyz.openbmc_project.AttestationDevice', 'last_failure');
        return r.stdout.includes('NO_PROVISIONING_CA');
      }, 30_000),
      d.output(),
    );
    d.kill('SIGTERM');
    assert.deepEqual(await withTimeout(d.exited(), 15_000, 'attestationd exit'), { code: 0, signal: null }, d.output());
  });

  it('issues from a PKCS#11 token (SoftHSM2): the native addon and its worker thread load from dist/', async () => {
    const token = await startSoftHsmToken({ label: 'bundle' });
    fixture.cleanup(() => token.stop());
    const d = await fixture.startDaemon({ entry: 'dist', config: { name: NAME, token: token.token }, env: token.env });
    const call = await busctl(theBus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(call.code, 0, `${call.stderr}\n${d.output()}`);
    assert.equal(await getProperty(theBus(), 'provisioned'), 'true');
    await checkSelfProvisioningFiles({ certRoot: String(d.config['cert_root']), name: NAME });
    await d.stop();
  });

  it("writes V8's compile cache for the parts it loads on demand (issuance, the PKCS#11 module and its thread) as they load, not only at a clean exit", async () => {
    const token = await startSoftHsmToken({ label: 'bundle-cache' });
    fixture.cleanup(() => token.stop());
    const cache = fixture.tempDir('bundle-compile-cache-');
    // Node's own trace of the cache (stderr): which file it writes, and when.
    const env = { ...token.env, NODE_COMPILE_CACHE: cache, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' };
    const d = await fixture.startDaemon({ entry: 'dist', config: { name: NAME, token: token.token }, env });
    const call = await busctl(theBus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(call.code, 0, `${call.stderr}\n${d.output()}`);
    for (const part of [/\/chunks\/issuance-\w+\.js$/, /\/chunks\/pkcs11-module-\w+\.js$/, /\/pkcs11-worker\.js$/]) {
      const persisted = () => persistedCacheEntries(d.output()).find((e) => part.test(e.source));
      assert.ok(await eventually(() => persisted() !== undefined, 30_000), `no cache written for ${part} while the daemon runs:\n${d.output()}`);
    }
    // Killed, it has no clean exit to write the cache at: what it wrote is on disk already.
    d.kill('SIGKILL');
    await withTimeout(d.exited(), 15_000, 'bundle exit');
    for (const { source, file } of persistedCacheEntries(d.output())) assert.ok(existsSync(file), `${file} (${source})`);
  });

  it('reports a bad configuration like the daemon from source (exit 78, one line)', async () => {
    const d = await fixture.startDaemon({ entry: 'dist', rawConfig: '{"port": 70000}', waitForName: false });
    // Start-up is in this wait: the net for a loaded machine, not a measured time.
    const exit = await withTimeout(d.exited(), STARTUP_DEADLINE_MS, 'bundle exit');
    assert.equal(exit.code, 78, d.output());
    assert.equal(d.output().trimEnd().split('\n').length, 1, d.output());
    assert.match(d.output(), /field "port"/);
  });

  it('serves the inspector from the bundle when inspect_port is set', async () => {
    const port = await freePort();
    const d = await fixture.startDaemon({ entry: 'dist', config: { name: NAME, inspect_port: port } });
    // The line reaches the pipe a little after the name is owned (the log is written asynchronously).
    await d.waitForOutput(/inspector at \S+/);
    const url = /inspector at (\S+)/.exec(d.output())?.[1];
    assert.ok(url, `the daemon logs the inspector's address:\n${d.output()}`);
    assert.ok(url.startsWith(`http://127.0.0.1:${port}`), url);
    const res = await fetch(url, { signal: AbortSignal.timeout(PAGE_DEADLINE_MS) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    const page = await res.text();
    assert.match(page, /<svg[\s\S]*provisioning/i, 'the page draws the statechart (elkjs layout runs from the bundle)');
    // The page's own script and stylesheet are served from the bundle too.
    const assets = [...page.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)="([^"]+)"/g)].map((m) => m[1] ?? '');
    assert.ok(assets.length > 0, 'the page references its script and stylesheet');
    for (const asset of assets) {
      const r: Response = await fetch(new URL(asset, url), { signal: AbortSignal.timeout(PAGE_DEADLINE_MS) });
      assert.equal(r.status, 200, asset);
    }
    await d.stop();
  });
});

/** The cache entries Node reports written (NODE_DEBUG_NATIVE=COMPILE_CACHE): each source file, and the file its cache was renamed to. */
function persistedCacheEntries(output: string): { source: string; file: string }[] {
  const sourceOfTemp = new Map<string, string>();
  for (const m of output.matchAll(/writing cache for (\S+) to temporary file (\S+) \[[^\]]*\]\.\.\.success/g)) sourceOfTemp.set(m[2] ?? '', m[1] ?? '');
  return [...output.matchAll(/Renaming (\S+) to (\S+)\.\.\.success/g)].flatMap((m) => {
    const source = sourceOfTemp.get(m[1] ?? '');
    return source === undefined ? [] : [{ source, file: m[2] ?? '' }];
  });
}
