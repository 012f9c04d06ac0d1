import { join } from 'node:path';

/** Where the certificates live under `cert_root`, the paths other BMC services read (docs/security-model.md, "What lives where"). */
export interface CertPaths {
  readonly selfCa: string;
  readonly serverChain: string;
  readonly clientChain: string;
}

export function certPaths(certRoot: string): CertPaths {
  const certs = join(certRoot, 'etc/ssl/certs');
  return {
    selfCa: join(certs, 'self_ca.pem'),
    serverChain: join(certs, 'https/server_cert.pem'),
    clientChain: join(certs, 'https/client_cert.pem'),
  };
}
