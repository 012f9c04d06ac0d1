import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mustRun } from './run-tool.ts';

/** A throw-away CA made by the openssl tool for tests: files on disk, key included (test only). */
export interface TestCa {
  readonly certFile: string;
  readonly keyFile: string;
  readonly pem: string;
}

/** Where and under which subject to make a test CA. */
export interface TestCaSpec {
  readonly dir: string;
  /** File stem, e.g. `ca-a`. */
  readonly stem: string;
  /** OpenSSL subject syntax, e.g. `/CN=peer CA`. */
  readonly subject: string;
  /** Make a non-CA self-signed certificate instead (for refusal tests). */
  readonly notCa?: boolean;
}

/** Makes a self-signed P-256 CA certificate (basicConstraints CA:true, keyCertSign) with openssl. */
export async function makeTestCa(spec: TestCaSpec): Promise<TestCa> {
  const certFile = join(spec.dir, `${spec.stem}.pem`);
  const keyFile = join(spec.dir, `${spec.stem}.key`);
  const ext = spec.notCa
    ? ['-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature']
    : ['-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  await mustRun('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-subj', spec.subject, '-days', '2', ...ext,
  ]);
  const pem = await mustRun('openssl', ['x509', '-in', certFile]);
  return { certFile, keyFile, pem };
}

/** Issues a TLS leaf for `name` from a test CA with openssl; returns the leaf PEM file path. */
export async function makeTestLeaf(opts: { ca: TestCa; dir: string; stem: string; name: string }): Promise<string> {
  const key = join(opts.dir, `${opts.stem}.key`);
  const csr = join(opts.dir, `${opts.stem}.csr`);
  const cert = join(opts.dir, `${opts.stem}.pem`);
  const extFile = join(opts.dir, `${opts.stem}.ext`);
  writeFileSync(
    extFile,
    `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:${opts.name}\n`,
  );
  await mustRun('openssl', [
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', csr, '-subj', `/CN=${opts.name}`,
  ]);
  await mustRun('openssl', [
    'x509', '-req', '-in', csr, '-CA', opts.ca.certFile, '-CAkey', opts.ca.keyFile, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-out', cert, '-days', '1', '-extfile', extFile,
  ]);
  return cert;
}
