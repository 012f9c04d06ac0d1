// `pnpm -s spdm attest …` and `pnpm -s spdm respond …`: the operator's SPDM tools.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { tokenSchema } from '../config/schema.ts';
import { createLogger } from '../log.ts';
import { pemCertificates } from '../pki/certificate/index.ts';
import { Pkcs11Token } from '../pki/token/index.ts';
import type { SignerAlgorithm } from './algorithms.ts';
import {
  attest,
  DEFAULT_SPDM_CONNECTION_LIFETIME_MS,
  DEFAULT_SPDM_MAX_SIGNATURES,
  isSpdmError,
  type MeasurementBlock,
  signerAlgorithmOf,
  softwareSigner,
  type SpdmSigner,
  startSpdmResponder,
  tokenSigner,
} from './index.ts';
import type { SpdmTransport } from './transport.ts';
import { errorMessage } from '../util/error-message.ts';

const ATTEST_USAGE = `  spdm attest --host H --port P --root FILE [--root FILE …] [--transport tcp|emu] [--timeout MS] [--algorithm ECDSA_P256_SHA256|ECDSA_P384_SHA384]
      prints the verified report as JSON; exit 0 on pass, 1 on fail (one line on stderr)`;
const RESPOND_USAGE = `  spdm respond --port P [--host 127.0.0.1] --chain FILE (--key FILE | --token-conf FILE) [--measure FILE …] [--measure-raw FILE …] [--transport tcp|emu] [--timeout MS] [--lifetime MS] [--max-signatures N]
      serves until SIGTERM; prints {"port":N} on stdout once listening`;
const HELP = '  spdm [attest|respond] --help   prints this usage and exits 0';
const USAGE = `usage:\n${ATTEST_USAGE}\n${RESPOND_USAGE}\n${HELP}`;

/** Prints a usage on stdout (asked for with --help, so not an error): exit 0. */
function printHelp(usage: string): number {
  process.stdout.write(`${usage}\n`);
  return 0;
}

/** A command-line mistake: usage on stderr, exit 64 (EX_USAGE). */
class UsageError extends Error {}

const EX_USAGE = 64;
const EX_FAIL = 1;

function transportOf(v: string | undefined): SpdmTransport {
  if (v === undefined || v === 'tcp') return 'tcp';
  if (v === 'emu') return 'emu';
  throw new UsageError(`--transport must be tcp or emu, not ${v}`);
}

function portOf(v: string | undefined, allowZero: boolean): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535) throw new UsageError(`--port must be a TCP port, not ${String(v)}`);
  return n;
}

function timeoutOf(v: string | undefined): number {
  if (v === undefined) return 30_000;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 600_000) throw new UsageError(`--timeout must be 1..600000 ms, not ${v}`);
  return n;
}

/** A whole number from `min` to `max` given to option `name`, or `fallback` when absent. */
function wholeOf(o: { name: string; value: string | undefined; min: number; max: number; fallback: number }): number {
  if (o.value === undefined) return o.fallback;
  const n = Number(o.value);
  if (!Number.isInteger(n) || n < o.min || n > o.max) throw new UsageError(`--${o.name} must be ${o.min}..${o.max}, not ${o.value}`);
  return n;
}

/** All certificates of a PEM file (or one DER certificate), in file order. */
function readCertificates(path: string): Uint8Array[] {
  const text = readFileSync(path);
  const pems = pemCertificates(text.toString('latin1'));
  const ders = pems.length ? pems.map((p) => new X509Certificate(p).raw) : [new X509Certificate(text).raw];
  return ders.map((d) => new Uint8Array(d));
}

async function runAttest(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      root: { type: 'string', multiple: true },
      transport: { type: 'string' },
      timeout: { type: 'string' },
      algorithm: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return printHelp(`usage:\n${ATTEST_USAGE}`);
  if (!values.host) throw new UsageError('--host is required');
  if (!values.root?.length) throw new UsageError('--root is required');
  const algorithms = values.algorithm?.map((a) => {
    if (a !== 'ECDSA_P256_SHA256' && a !== 'ECDSA_P384_SHA384') throw new UsageError(`unknown --algorithm ${a}`);
    return a as SignerAlgorithm;
  });
  const roots = values.root.flatMap(readCertificates);
  try {
    const report = await attest({
      host: values.host,
      port: portOf(values.port, false),
      transport: transportOf(values.transport),
      roots,
      timeoutMs: timeoutOf(values.timeout),
      ...(algorithms ? { algorithms } : {}),
    });
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  } catch (err) {
    const line = isSpdmError(err) ? `${err.code}: ${err.message}` : `INTERNAL: ${errorMessage(err)}`;
    process.stderr.write(`spdm attest: ${line}\n`);
    return EX_FAIL;
  }
}

/** A measurement source per file, read at every request: digest blocks (SHA-256) or raw blocks. */
function measurementsOf(digestFiles: readonly string[], rawFiles: readonly string[]): () => Promise<MeasurementBlock[]> {
  return async () => {
    const blocks: MeasurementBlock[] = [];
    let index = 1;
    for (const f of digestFiles) {
      blocks.push({ index: index++, valueType: 1, raw: false, value: new Uint8Array(createHash('sha256').update(readFileSync(f)).digest()) });
    }
    for (const f of rawFiles) blocks.push({ index: index++, valueType: 1, raw: true, value: new Uint8Array(readFileSync(f)) });
    return blocks;
  };
}

async function runRespond(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      chain: { type: 'string' },
      key: { type: 'string' },
      'token-conf': { type: 'string' },
      measure: { type: 'string', multiple: true },
      'measure-raw': { type: 'string', multiple: true },
      transport: { type: 'string' },
      timeout: { type: 'string' },
      lifetime: { type: 'string' },
      'max-signatures': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return printHelp(`usage:\n${RESPOND_USAGE}`);
  if (!values.chain) throw new UsageError('--chain is required');
  if (Boolean(values.key) === Boolean(values['token-conf'])) throw new UsageError('give exactly one of --key and --token-conf');
  const log = createLogger({ level: process.env.LOG_LEVEL ?? 'info' });
  const timeoutMs = timeoutOf(values.timeout);
  const lifetimeMs = wholeOf({ name: 'lifetime', value: values.lifetime, min: 1, max: 3_600_000, fallback: DEFAULT_SPDM_CONNECTION_LIFETIME_MS });
  const maxSignatures = wholeOf({ name: 'max-signatures', value: values['max-signatures'], min: 1, max: 1_000_000, fallback: DEFAULT_SPDM_MAX_SIGNATURES });
  let signer: SpdmSigner;
  let closeToken: (() => Promise<void>) | undefined;
  if (values.key) {
    const key = createPrivateKey(readFileSync(values.key));
    signer = softwareSigner({ algorithm: signerAlgorithmOf(key), privateKeyPem: key });
  } else {
    const conf = tokenSchema.parse(JSON.parse(readFileSync(values['token-conf'] ?? '', 'utf8')));
    const token = new Pkcs11Token({ token: conf, timeoutMs, log });
    await token.caPublicKey({ create: false });
    signer = tokenSigner(token);
    closeToken = () => token.close();
  }
  const measure = values.measure ?? [];
  const measureRaw = values['measure-raw'] ?? [];
  for (const f of [...measure, ...measureRaw]) readFileSync(f);
  const responder = await startSpdmResponder({
    host: values.host ?? '127.0.0.1',
    port: portOf(values.port ?? '0', true),
    transport: transportOf(values.transport),
    signer,
    certificateChain: readCertificates(values.chain),
    measurements: measurementsOf(measure, measureRaw),
    timeoutMs,
    lifetimeMs,
    maxSignatures,
    log,
  });
  process.stdout.write(`${JSON.stringify({ port: responder.port })}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await responder.close();
  await closeToken?.();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'attest') return await runAttest(rest);
    if (command === 'respond') return await runRespond(rest);
    if (command === '--help' || command === '-h') return printHelp(USAGE);
    throw new UsageError(command ? `unknown command ${command}` : 'a command is required');
  } catch (err) {
    if (err instanceof UsageError || (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`spdm: ${err.message}\n${USAGE}\n`);
      return EX_USAGE;
    }
    process.stderr.write(`spdm ${command ?? ''}: ${errorMessage(err)}\n`);
    return EX_FAIL;
  }
}

process.exitCode = await main(process.argv.slice(2));
