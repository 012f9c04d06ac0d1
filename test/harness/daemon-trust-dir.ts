import { trustDirOf } from '../../src/pki/trust/index.ts';

/** The trust store directory a daemon under test uses, from its config keys (`trust_dir`, or `<state_dir>/trust`). */
export function daemonTrustDir(config: Record<string, unknown>): string {
  const trustDir = config['trust_dir'];
  return trustDirOf({ state_dir: String(config['state_dir']), trust_dir: typeof trustDir === 'string' ? trustDir : undefined });
}
