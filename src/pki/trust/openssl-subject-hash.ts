import { execFile } from 'node:child_process';

/** How long one `openssl x509 -subject_hash` may take before it is abandoned. */
const OPENSSL_TIMEOUT_MS = 10_000;

/**
 * OpenSSL's subject-name hash of a certificate (8 lowercase hex digits), the name stem that
 * `openssl verify -CApath` looks up. Computed by the openssl tool itself so it always matches.
 */
export function opensslSubjectHash(pem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'openssl',
      ['x509', '-noout', '-subject_hash'],
      { timeout: OPENSSL_TIMEOUT_MS, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`openssl x509 -subject_hash failed: ${stderr.trim() || err.message}`));
          return;
        }
        const hash = stdout.trim();
        if (!/^[0-9a-f]{8}$/.test(hash)) {
          reject(new Error(`openssl x509 -subject_hash printed an unexpected value: ${JSON.stringify(hash)}`));
          return;
        }
        resolve(hash);
      },
    );
    child.stdin?.end(pem);
  });
}
