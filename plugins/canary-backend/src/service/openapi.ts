import fs from 'fs';
import { parse } from 'yaml';
import { resolvePackagePath } from '@backstage/backend-plugin-api';

let cached: unknown;

/** The OpenAPI document of the plugin's API (schema/openapi.yaml, shipped in the package). */
export function loadOpenApiDocument(): unknown {
  if (!cached) {
    const file = resolvePackagePath(
      '@coalmine/backstage-plugin-canary-backend',
      'schema/openapi.yaml',
    );
    cached = parse(fs.readFileSync(file, 'utf8'));
  }
  return cached;
}
