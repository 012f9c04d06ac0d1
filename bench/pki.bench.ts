// Certificate issuance on swtpm (tpm2-pkcs11 through tpm2-abrmd) and on SoftHSM2, in one run:
// a leaf certificate (in-memory key pair, certificate built by @peculiar/x509, signed through the
// token-backed WebCrypto) and a whole issue() (plus the atomic chain writes) against the raw
// PKCS#11 C_Sign they contain, the token's own signing path (CaKeyToken.sign) against that raw call,
// and the cost of opening a session and logging in.
// Goal (swtpm, where signatures are what costs): a leaf certificate costs at most 2x the raw C_Sign
// measured in the same run. SoftHSM2 signs in about 0.1 ms, so there the ratio only shows the
// certificate work; it is printed, not judged.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11 from 'pkcs11js';
import { configSchema } from '../src/config/schema.ts';
import { createLogger } from '../src/log.ts';
import { certPaths, createCertificateIssuer, CredentialHolder } from '../src/pki/certificate/index.ts';
import { ensureCaCertificate, issueLeaf } from '../src/pki/issuance/index.ts';
import { Pkcs11Token } from '../src/pki/token/index.ts';
import { startSoftTpmToken } from '../test/harness/soft-tpm.ts';
import { startSoftHsmToken, type TestToken } from '../test/harness/softhsm.ts';
import { compare, measurePair, printStats, settle, stats, timeOnce } from './harness.ts';

const GOAL_RATIO = 2;
const TIMEOUT_MS = 30_000;

/** The module opened directly in this thread, for the raw figures (no queue, no worker, no certificate). */
function openRaw(t: TestToken): { lib: pkcs11.PKCS11; slot: Buffer } {
  const lib = new pkcs11.PKCS11();
  lib.load(t.token.module);
  try {
    lib.C_Initialize();
  } catch (err) {
    if (!String(err).includes('CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw err;
  }
  const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === t.token.label);
  if (!slot) throw new Error(`no token ${t.token.label}`);
  return { lib, slot };
}

function login(lib: pkcs11.PKCS11, session: Buffer, pin: string): void {
  try {
    lib.C_Login(session, pkcs11.CKU_USER, pin);
  } catch (err) {
    if (!String(err).includes('CKR_USER_ALREADY_LOGGED_IN')) throw err;
  }
}

async function benchToken(kind: 'swtpm' | 'softhsm', t: TestToken, n: { sign: number; login: number; open: number }): Promise<void> {
  for (const [k, v] of Object.entries(t.env)) process.env[k] = v;
  const log = createLogger({ level: 'warn' });
  const work = mkdtempSync(join(tmpdir(), `bench-pki-${kind}-`));
  const config = configSchema.parse({
    name: 'bench-bmc',
    cert_root: join(work, 'root'),
    state_dir: join(work, 'state'),
    token: t.token,
    token_timeout: 30,
  });
  try {
    // 1. What the daemon pays on first use: load + C_Initialize + find the token + open + log in.
    const firstUse: number[] = [];
    for (let i = 0; i < n.open; i++) {
      const tok = new Pkcs11Token({ token: t.token, timeoutMs: TIMEOUT_MS, log });
      firstUse.push(await timeOnce(() => tok.open()));
      await tok.close();
    }
    printStats({ name: `${kind} token first use (initialize+open+login)`, stats: stats(firstUse) });

    // 2. Raw C_OpenSession + C_Login (then C_Logout + C_CloseSession, not timed).
    const raw = openRaw(t);
    const openLogin: number[] = [];
    for (let i = 0; i < n.login; i++) {
      let session: Buffer | undefined;
      openLogin.push(
        await timeOnce(async () => {
          session = raw.lib.C_OpenSession(raw.slot, pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION);
          raw.lib.C_Login(session, pkcs11.CKU_USER, t.pin);
        }),
      );
      if (session) {
        raw.lib.C_Logout(session);
        raw.lib.C_CloseSession(session);
      }
    }
    printStats({ name: `${kind} raw C_OpenSession+C_Login`, stats: stats(openLogin) });
    await settle();

    // 3. Issuance against raw C_Sign, alternately.
    const issuer = createCertificateIssuer({ config, credentials: new CredentialHolder(), log });
    const token = new Pkcs11Token({ token: t.token, timeoutMs: TIMEOUT_MS, log });
    const rawSession = raw.lib.C_OpenSession(raw.slot, pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION);
    try {
      await issuer.issue({ reason: 'provision' });
      const key = await token.caPublicKey({ create: false });
      const ca = await ensureCaCertificate({
        token,
        spki: key.spki,
        bmcName: config.name,
        lifetimeDays: config.ca_lifetime_days,
        minRemainingMs: config.leaf_lifetime * 1000,
        file: certPaths(config.cert_root).selfCa,
        log,
      });
      login(raw.lib, rawSession, t.pin);
      raw.lib.C_FindObjectsInit(rawSession, [
        { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PRIVATE_KEY },
        { type: pkcs11.CKA_LABEL, value: t.token.key_label },
      ]);
      const [caKey] = raw.lib.C_FindObjects(rawSession, 1);
      raw.lib.C_FindObjectsFinal(rawSession);
      if (!caKey) throw new Error('CA key not found for the raw signature');
      const digest = createHash('sha256').update('raw C_Sign benchmark input').digest();
      const out = Buffer.alloc(128);
      const rawSign = async () => {
        raw.lib.C_SignInit(rawSession, { mechanism: pkcs11.CKM_ECDSA }, caKey);
        raw.lib.C_Sign(rawSession, digest, out);
      };

      const leafName = `${kind} leaf certificate (key pair + @peculiar/x509 + token signature)`;
      const rawName = `${kind} raw C_Sign`;
      const leaf = await measurePair({
        a: () => issueLeaf({ ca, lifetimeMs: 86_400_000 }),
        b: rawSign,
        n: n.sign,
        warmup: 10,
        timeoutMs: TIMEOUT_MS,
      });
      printStats({ name: rawName, stats: stats(leaf.b) });
      printStats({ name: leafName, stats: stats(leaf.a), baseline: { name: rawName, stats: stats(leaf.b) } });
      const ratio = stats(leaf.a).median / stats(leaf.b).median;
      console.log(
        kind === 'swtpm'
          ? `${kind} goal leaf certificate <= ${GOAL_RATIO}x raw C_Sign (medians, same run): ${ratio <= GOAL_RATIO ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`
          : `${kind} leaf certificate / raw C_Sign (medians, same run, no goal): ${ratio.toFixed(2)}x`,
      );
      await settle();
      // Where the rest goes: the token's own path (queue, PKCS#11 thread) against the raw call.
      const tbsSized = new Uint8Array(400).fill(0x5a);
      await compare({
        name: `${kind} CaKeyToken.sign (the token path inside a leaf)`,
        op: () => token.sign(tbsSized),
        baselineName: rawName,
        baseline: rawSign,
        n: Math.max(20, Math.floor(n.sign / 2)),
        warmup: 5,
        timeoutMs: TIMEOUT_MS,
      });
      await settle();
      await compare({
        name: `${kind} issue() incl. atomic chain writes`,
        op: () => issuer.issue({ reason: 'renew' }),
        baselineName: rawName,
        baseline: rawSign,
        n: Math.max(20, Math.floor(n.sign / 2)),
        warmup: 5,
        timeoutMs: TIMEOUT_MS,
      });
    } finally {
      raw.lib.C_CloseSession(rawSession);
      await token.close();
      await issuer.close();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const tpm = await startSoftTpmToken();
try {
  await benchToken('swtpm', tpm, { sign: 200, login: 30, open: 10 });
} finally {
  await tpm.stop();
}
await settle();
const hsm = await startSoftHsmToken();
try {
  await benchToken('softhsm', hsm, { sign: 1000, login: 200, open: 20 });
} finally {
  await hsm.stop();
}
