import { RESOURCE_TYPES, groupVersion } from './resourceTypes';

/**
 * A minimal OpenAPI v3 surface: one document per group/version with the PATCH
 * operations and their `fieldValidation` parameter. That is what kubectl looks
 * for to leave validation to the server, so a plain `kubectl apply -f` works.
 * There are no schemas: kubectl falls back to its built-in types for
 * strategic merge, and the sandbox accepts unknown fields.
 */
function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

export function openApiV3Root(): object {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const rt of RESOURCE_TYPES) {
    for (const v of rt.versions) {
      const p = gvPath(rt.group, v);
      paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=sandbox` };
    }
  }
  return { paths };
}

export function openApiV3GroupVersion(path: string): object | undefined {
  const types = RESOURCE_TYPES.flatMap(rt =>
    rt.versions
      .filter(v => gvPath(rt.group, v) === path)
      .map(v => ({ rt, version: v })),
  );
  if (types.length === 0) return undefined;
  const paths: Record<string, object> = {};
  const param = (name: string, where: string) => ({
    name,
    in: where,
    ...(where === 'path' ? { required: true } : {}),
    schema: { type: 'string', uniqueItems: true },
  });
  for (const { rt, version } of types) {
    const base = `/${gvPath(rt.group, version)}${
      rt.namespaced ? '/namespaces/{namespace}' : ''
    }/${rt.plural}/{name}`;
    const gvk = { group: rt.group, version, kind: rt.kind };
    paths[base] = {
      patch: {
        operationId: `patch${rt.kind}`,
        parameters: [
          ...(rt.namespaced ? [param('namespace', 'path')] : []),
          param('name', 'path'),
          param('dryRun', 'query'),
          param('fieldManager', 'query'),
          param('fieldValidation', 'query'),
          param('force', 'query'),
        ],
        responses: { '200': { description: 'OK' } },
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': gvk,
      },
    };
  }
  const first = types[0];
  return {
    openapi: '3.0.0',
    info: {
      title: 'Kubernetes',
      version: `${groupVersion(first.rt.group, first.version)} (sandbox)`,
    },
    paths,
    components: { schemas: {} },
  };
}
