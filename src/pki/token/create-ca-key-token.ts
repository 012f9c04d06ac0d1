import type { Config } from '../../config/schema.ts';
import type { Logger } from '../../log.ts';
import type { CaKeyToken } from './ca-key-token.ts';
import { Pkcs11Token } from './pkcs11-token.ts';
import { SoftwareToken } from './software-token.ts';

/** What a token is made from. */
export interface TokenDeps {
  readonly config: Config;
  readonly log: Logger;
}

/** The token `config.token` selects: PKCS#11 when set, the software token under state_dir otherwise. Opens nothing yet. */
export function createCaKeyToken(deps: TokenDeps): CaKeyToken {
  const timeoutMs = deps.config.token_timeout * 1000;
  if (deps.config.token) return new Pkcs11Token({ token: deps.config.token, timeoutMs, log: deps.log });
  return new SoftwareToken({ stateDir: deps.config.state_dir, timeoutMs, log: deps.log });
}
