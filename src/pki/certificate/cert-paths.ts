import { join } from 'node:path';

/** The contract's file locations under `cert_root` (contracts.md, "Files under cert_root"). */
export interface CertPaths {
  readonly selfCa: string;
  readonly serverChain: string;
  readonly clientChain: string;
  readonly authorityDir: string;
}

export function certPaths(certRoot: string): CertPaths {
  const certs = join(certRoot, 'etc/ssl/certs');
  return {
    selfCa: join(certs, 'self_ca.pem'),
    serverChain: join(certs, 'https/server_cert.pem'),
    clientChain: join(certs, 'https/client_cert.pem'),
    authorityDir: join(certs, 'authority'),
  };
}
