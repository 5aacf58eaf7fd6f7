import {
  PatchApplyError,
  jsonPatch,
  mergePatch,
  strategicMergePatch,
} from './patch';

describe('patches', () => {
  it('merge patch replaces lists and deletes nulls', () => {
    expect(
      mergePatch(
        { a: 1, b: { c: 2, d: 3 }, l: [1, 2] },
        { b: { c: null }, l: [3] },
      ),
    ).toEqual({
      a: 1,
      b: { d: 3 },
      l: [3],
    });
  });

  it('JSON patch supports every operation and fails on missing paths', () => {
    const doc = { spec: { route: [{ weight: 100 }] } };
    expect(
      jsonPatch(doc, [
        { op: 'add', path: '/spec/route/-', value: { weight: 0 } },
        { op: 'replace', path: '/spec/route/0/weight', value: 90 },
        { op: 'copy', from: '/spec/route/0', path: '/spec/first' },
        { op: 'move', from: '/spec/first', path: '/spec/moved' },
        { op: 'remove', path: '/spec/moved' },
        { op: 'test', path: '/spec/route/1/weight', value: 0 },
        { op: 'add', path: '/metadata~1x', value: 'escaped' },
      ]),
    ).toEqual({
      spec: { route: [{ weight: 90 }, { weight: 0 }] },
      'metadata/x': 'escaped',
    });
    expect(doc.spec.route).toHaveLength(1);
    expect(() =>
      jsonPatch(doc, [{ op: 'replace', path: '/spec/nope', value: 1 }]),
    ).toThrow(PatchApplyError);
    expect(() =>
      jsonPatch(doc, [{ op: 'test', path: '/spec/route/0/weight', value: 5 }]),
    ).toThrow(PatchApplyError);
    expect(() =>
      jsonPatch(doc, [{ op: 'remove', path: '/spec/route/3' }]),
    ).toThrow(PatchApplyError);
  });

  it('strategic merge merges containers, env and ports by key and honours directives', () => {
    const target = {
      spec: {
        containers: [
          {
            name: 'app',
            image: 'a:1',
            env: [{ name: 'X', value: '1' }],
            ports: [{ containerPort: 8080 }],
          },
          { name: 'proxy', image: 'p:1' },
        ],
        volumes: [{ name: 'data' }],
      },
    };
    const patched = strategicMergePatch(target, {
      spec: {
        '$setElementOrder/containers': [{ name: 'proxy' }, { name: 'app' }],
        containers: [
          {
            name: 'app',
            image: 'a:2',
            env: [{ name: 'Y', value: '2' }],
            ports: [{ containerPort: 8080, name: 'http' }],
          },
          { name: 'proxy', $patch: 'delete' },
        ],
        volumes: [{ name: 'cache' }],
      },
    });
    expect(patched.spec.containers).toEqual([
      {
        name: 'app',
        image: 'a:2',
        env: [
          { name: 'X', value: '1' },
          { name: 'Y', value: '2' },
        ],
        ports: [{ containerPort: 8080, name: 'http' }],
      },
    ]);
    expect(patched.spec.volumes).toEqual([{ name: 'data' }, { name: 'cache' }]);
    expect(
      strategicMergePatch(
        { a: { b: 1, c: 2 } },
        { a: { $patch: 'replace', d: 3 } },
      ),
    ).toEqual({ a: { d: 3 } });
  });
});
