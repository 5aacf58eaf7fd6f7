import fs from 'fs';
import path from 'path';
import { parseAllDocuments } from 'yaml';
import { yamlBlocks } from '../__testUtils__/readmeBlocks';
import * as kinds from '../controllers/kinds';
import type { CustomKind } from './customObjects';
import * as watchCache from './watchCache';

/**
 * The README's ClusterRole against the code: every Kubernetes client call in
 * the backend's source (typed calls, custom objects, the watch caches,
 * discovery) must be granted there, and the README grants nothing no call
 * needs. A new call without a README update fails here.
 */

const SRC = path.resolve(__dirname, '..');
const readme = fs.readFileSync(
  path.resolve(__dirname, '../../../../README.md'),
  'utf8',
);

const grant = (group: string, resource: string, verb: string) =>
  `${group || 'core'} ${resource} ${verb}`;

function readmeRole() {
  const section = readme.split('\n## Kubernetes permissions\n')[1];
  if (!section) throw new Error('README.md has no "Kubernetes permissions"');
  const docs = yamlBlocks(section.split('\n## ')[0]).flatMap(block =>
    parseAllDocuments(block).map(d => d.toJS()),
  );
  const role = docs.find(d => d?.kind === 'ClusterRole');
  const grants = new Set<string>();
  const urls = new Set<string>();
  for (const rule of role.rules) {
    for (const verb of rule.verbs) {
      for (const url of rule.nonResourceURLs ?? []) urls.add(`${url} ${verb}`);
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources) {
          grants.add(grant(group, resource, verb));
        }
      }
    }
  }
  const binding = docs.find(d => d?.kind === 'ClusterRoleBinding');
  return { grants, urls, binding, name: role.metadata.name };
}

/** The backend's own source files (not tests, fixtures or test helpers). */
function sourceFiles(dir = SRC): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      return /^__/.test(entry.name) ? [] : sourceFiles(full);
    }
    return /\.ts$/.test(entry.name) && !/\.test\.ts$/.test(entry.name)
      ? [full]
      : [];
  });
}

const sources = sourceFiles().map(file => ({
  file: path.relative(SRC, file),
  text: fs.readFileSync(file, 'utf8'),
}));

const where = (file: string, text: string, index: number) =>
  `${file}:${text.slice(0, index).split('\n').length}`;

const VERB: Record<string, string> = {
  read: 'get',
  get: 'get',
  list: 'list',
  create: 'create',
  replace: 'update',
  patch: 'patch',
  delete: 'delete',
  deleteCollection: 'deletecollection',
};

/** Typed clients of ClusterApis (`apis.apps`, `apis.core`, `apis.networking`) and their groups. */
const GROUP_OF_CLIENT: Record<string, string> = {
  apps: 'apps',
  core: '',
  networking: 'networking.k8s.io',
};

const plural = (kind: string) =>
  kind.toLowerCase() + (/s$/.test(kind) ? 'es' : 's');

/** `readNamespacedDeploymentScale(` and the like, on the typed clients. */
function typedCalls() {
  const found: Array<{ grant: string; at: string }> = [];
  const re =
    /\b(apps|core|networking)\.(read|list|create|replace|patch|delete|deleteCollection)Namespaced([A-Z][A-Za-z]*?)(Scale|Status)?\(/g;
  for (const { file, text } of sources) {
    for (const m of text.matchAll(re)) {
      const resource = `${plural(m[3])}${m[4] ? `/${m[4].toLowerCase()}` : ''}`;
      found.push({
        grant: grant(GROUP_OF_CLIENT[m[1]], resource, VERB[m[2]]),
        at: where(file, text, m.index!),
      });
    }
  }
  return found;
}

/** The watch caches list and watch every kind they serve. */
function watchedKinds() {
  return Object.values(watchCache)
    .filter(
      (value): value is watchCache.CachedKind =>
        typeof value === 'object' &&
        value !== null &&
        typeof (value as any).collection === 'function',
    )
    .flatMap(kind => {
      const m = /^\/apis?\/(?:([^/]+)\/)?v1\/namespaces\/ns\/([^/]+)$/.exec(
        kind.collection('ns'),
      )!;
      const group = kind.collection('ns').startsWith('/api/') ? '' : m[1];
      return ['list', 'watch'].map(verb => grant(group, m[2], verb));
    });
}

const CONTROLLER_KINDS = Object.entries(kinds).filter(
  (entry): entry is [string, CustomKind] =>
    typeof entry[1] === 'object' && entry[1] !== null && 'plural' in entry[1],
);

/** The route objects a traffic provider's file names: its GROUP and `plural:` literals. */
function routeResources(text: string): Array<[string, string]> {
  const group = /const GROUP = '([^']+)'/.exec(text)?.[1];
  if (!group) return [];
  return [...text.matchAll(/plural: '([^']+)'/g)].map(m => [group, m[1]]);
}

const routeFiles = sources.filter(s => routeResources(s.text).length > 0);

const FUNCTION = /^(?:export )?(?:async )?function (\w+)/gm;

/** The name of the top-level function a position in a file is in. */
function enclosingFunction(text: string, index: number): string | undefined {
  const all = [...text.slice(0, index).matchAll(FUNCTION)];
  return all[all.length - 1]?.[1];
}

/** Where the top-level function a position in a file is in starts. */
function functionStart(text: string, index: number): number {
  const all = [...text.slice(0, index).matchAll(FUNCTION)];
  return all[all.length - 1]?.index ?? 0;
}

/** The text of a top-level function, to its closing brace at column 0. */
function functionBody(text: string, name: string): string {
  const start = text.search(
    new RegExp(`^(?:export )?(?:async )?function ${name}\\b`, 'm'),
  );
  const end = text.indexOf('\n}', start);
  return text.slice(start, end);
}

/**
 * Custom objects: a call naming a kind of controllers/kinds grants on that
 * kind; a call inside a helper taking the kind as a parameter grants on
 * every kind its callers pass: a controller kind named at the call, or the
 * route objects of the traffic provider file calling it (the generic
 * CustomObjectSplitProvider stands for the providers extending it).
 */
function customObjectCalls() {
  const found: Array<{ grant: string; at: string }> = [];
  const helpers = new Map<string, Set<string>>();
  const re =
    /\bcustom\.(get|list|replace|patch)NamespacedCustomObject(Status)?\(/g;
  for (const { file, text } of sources) {
    for (const m of text.matchAll(re)) {
      const verb = VERB[m[1]];
      const sub = m[2] ? '/status' : '';
      const call = text.slice(m.index!, m.index! + 300);
      const named = CONTROLLER_KINDS.filter(([name]) =>
        new RegExp(`\\b${name}\\.plural\\b`).test(call),
      );
      // `params` built earlier in the same function, as argoRollouts does.
      const above = text.slice(functionStart(text, m.index!), m.index!);
      const namedAbove = CONTROLLER_KINDS.filter(([name]) =>
        new RegExp(`plural: ${name}\\.plural\\b`).test(above),
      );
      const direct = named.length ? named : namedAbove;
      if (direct.length) {
        for (const [, kind] of direct) {
          found.push({
            grant: grant(kind.group, `${kind.plural}${sub}`, verb),
            at: where(file, text, m.index!),
          });
        }
        continue;
      }
      if (file === path.join('kubernetes', 'watchCache.ts')) continue; // below
      const helper = enclosingFunction(text, m.index!);
      if (!helper)
        throw new Error(
          `custom object call outside a function at ${where(
            file,
            text,
            m.index!,
          )}`,
        );
      const verbs = helpers.get(helper) ?? new Set<string>();
      verbs.add(`${verb}${sub}`);
      helpers.set(helper, verbs);
    }
  }
  // Helpers reading through the watch cache list and watch the kind too.
  for (const { text } of sources) {
    for (const [helper, verbs] of helpers) {
      if (/cachedGet\(|cachedList\(/.test(functionBody(text, helper))) {
        verbs.add('list');
        verbs.add('watch');
      }
    }
  }
  const extendsGeneric = routeFiles.filter(s =>
    /extends CustomObjectSplitProvider\b/.test(s.text),
  );
  for (const { file, text } of sources) {
    for (const [helper, verbs] of helpers) {
      const callRe = new RegExp(`\\b${helper}(?:<[^>(]*>)?\\(`, 'g');
      for (const m of text.matchAll(callRe)) {
        if (/function\s*$/.test(text.slice(0, m.index!))) continue;
        const at = where(file, text, m.index!);
        const call = text.slice(m.index!, m.index! + 200);
        const named = CONTROLLER_KINDS.filter(([name]) =>
          new RegExp(`\\b${name}\\b`).test(call),
        ).map(([, k]) => [k.group, k.plural] as [string, string]);
        let resources: Array<[string, string]> = named;
        if (!resources.length) resources = routeResources(text);
        if (
          !resources.length &&
          /class CustomObjectSplitProvider\b/.test(text)
        ) {
          resources = extendsGeneric.flatMap(s => routeResources(s.text));
        }
        if (!resources.length) {
          throw new Error(
            `rbac.test.ts cannot tell which custom resources ${helper}() at ${at} reaches: teach it, and grant them in README.md`,
          );
        }
        for (const [group, resource] of resources) {
          for (const verb of verbs) {
            const [v, sub] = verb.split('/');
            found.push({
              grant: grant(group, sub ? `${resource}/${sub}` : resource, v),
              at,
            });
          }
        }
      }
    }
  }
  return found;
}

/** Discovery calls: the preferred version of a group, and the health probe. */
function nonResourceCalls() {
  const urls: Record<string, string> = {
    getAPIVersions: '/apis/ get',
    getCode: '/version/ get',
  };
  return sources.flatMap(({ file, text }) =>
    [...text.matchAll(/\.(getAPIVersions|getCode)\(/g)].map(m => ({
      grant: urls[m[1]],
      at: where(file, text, m.index!),
    })),
  );
}

describe('the Kubernetes permissions in README.md', () => {
  const role = readmeRole();

  it('bind the ClusterRole they define', () => {
    expect(role.binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: role.name,
    });
  });

  it('cover every client call in the source', () => {
    const calls = [
      ...typedCalls(),
      ...watchedKinds().map(g => ({
        grant: g,
        at: 'kubernetes/watchCache.ts',
      })),
      ...customObjectCalls(),
      ...nonResourceCalls(),
    ];
    const missing = calls
      .filter(call =>
        call.grant.includes('/ ')
          ? !role.urls.has(call.grant)
          : !role.grants.has(call.grant),
      )
      .map(call => `${call.grant} (${call.at})`);
    expect(missing).toEqual([]);
    // The scan finds what it must (it cannot pass by finding nothing).
    const found = new Set(calls.map(call => call.grant));
    for (const expected of [
      'apps deployments/scale update',
      'apps deployments create',
      'core pods watch',
      'core events list',
      'networking.k8s.io ingresses update',
      'networking.istio.io destinationrules update',
      'split.smi-spec.io trafficsplits update',
      'gateway.networking.k8s.io httproutes watch',
      'flagger.app canaries watch',
      'argoproj.io rollouts/status patch',
      'argoproj.io analysisruns list',
      '/apis/ get',
      '/version/ get',
    ]) {
      expect(found).toContain(expected);
    }
    // And nothing in the README that no call needs.
    const needed = [...found];
    expect(
      [...role.grants, ...role.urls].filter(g => !needed.includes(g)),
    ).toEqual([]);
  });
});
