import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Where `command` runs from, as a spawn would find it: itself when it names a path (has a '/'),
 * else the first executable file of that name in `searchPath` ($PATH); undefined when none.
 */
export function executablePath(command: string, searchPath: string): string | undefined {
  const candidates = command.includes('/') ? [command] : searchPath.split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}
