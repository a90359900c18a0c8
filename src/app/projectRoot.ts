import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project's root (the folder with package.json), found upwards from this module: the same from the
 * TypeScript sources (src/) and from the compiled ones (dist/src/).
 */
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) || !existsSync(path.join(dir, 'prisma'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('project root not found above src/projectRoot');
    dir = up;
  }
  return dir;
}

export const PROJECT_ROOT = findRoot();
