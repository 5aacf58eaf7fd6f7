import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { ReadAccess } from './ReadAccess';
import { checkout } from '../actions/__testUtils__/fixtures';

function setUp() {
  let t = 1_000_000;
  const asked: string[][] = [];
  let failing = false;
  const permissions = mockServices.permissions.mock();
  permissions.authorize.mockImplementation(async (requests, options) => {
    const who = (options.credentials.principal as any).userEntityRef;
    asked.push(requests.map((r: any) => `${who} ${r.resourceRef}`));
    if (failing) throw new Error('permission backend unavailable');
    return requests.map((r: any) => ({
      result:
        who === 'user:default/jane' || r.resourceRef.endsWith('/mine')
          ? AuthorizeResult.ALLOW
          : AuthorizeResult.DENY,
    }));
  });
  const catalog = catalogServiceMock({ entities: [checkout] });
  const getEntityByRef = jest.spyOn(catalog, 'getEntityByRef');
  const reads = new ReadAccess({
    permissions,
    catalog,
    catalogCredentials: async c => c,
    ttlMs: 5_000,
    now: () => t,
  });
  return {
    reads,
    asked,
    getEntityByRef,
    advance: (ms: number) => {
      t += ms;
    },
    fail: (on: boolean) => {
      failing = on;
    },
  };
}

const jane = mockCredentials.user('user:default/jane');
const bob = mockCredentials.user('user:default/bob');

describe('ReadAccess', () => {
  it('asks once per caller and component, in one batch, and never answers one caller with another’s decision', async () => {
    const { reads, asked, advance } = setUp();
    const refs = ['component:default/a', 'component:default/mine'];
    const [first, again] = await Promise.all([
      reads.readable(refs, jane),
      reads.readable(refs, jane),
    ]);
    expect([...first].sort()).toEqual(refs);
    expect([...again].sort()).toEqual(refs);
    expect([...(await reads.readable(refs, bob))]).toEqual([
      'component:default/mine',
    ]);
    expect(asked).toEqual([
      [
        'user:default/jane component:default/a',
        'user:default/jane component:default/mine',
      ],
      [
        'user:default/bob component:default/a',
        'user:default/bob component:default/mine',
      ],
    ]);
    // Only the undecided one is asked; after the TTL all are asked again.
    await reads.readable([...refs, 'component:default/b'], jane);
    expect(asked[2]).toEqual(['user:default/jane component:default/b']);
    advance(5_001);
    await reads.mayRead('component:default/a', jane);
    expect(asked[3]).toEqual(['user:default/jane component:default/a']);
  });

  it('does not keep a failed decision', async () => {
    const { reads, asked, fail } = setUp();
    fail(true);
    await expect(reads.mayRead('component:default/a', jane)).rejects.toThrow(
      'permission backend unavailable',
    );
    fail(false);
    expect(await reads.mayRead('component:default/a', jane)).toBe(true);
    expect(asked).toHaveLength(2);
  });

  it('shares catalog reads per caller, and nothing for a caller without identity', async () => {
    const { reads, getEntityByRef } = setUp();
    await Promise.all([
      reads.entity('component:default/checkout', jane),
      reads.entity('component:default/checkout', jane),
    ]);
    expect(getEntityByRef).toHaveBeenCalledTimes(1);
    await reads.entity('component:default/checkout', bob);
    expect(getEntityByRef).toHaveBeenCalledTimes(2);
    const nobody = mockCredentials.none();
    await reads.entity('component:default/checkout', nobody);
    await reads.entity('component:default/checkout', nobody);
    expect(getEntityByRef).toHaveBeenCalledTimes(4);
  });

  it('shares an assembled result per caller, then answers the last one while a fresh one loads', async () => {
    const { reads, advance } = setUp();
    let n = 0;
    const load = jest.fn(async () => `result ${++n}`);
    expect(await reads.shared(jane, 'k', load)).toBe('result 1');
    expect(await reads.shared(jane, 'k', load)).toBe('result 1');
    expect(await reads.shared(bob, 'k', load)).toBe('result 2');
    expect(load).toHaveBeenCalledTimes(2);
    // A second later: the last result at once, one refresh behind it.
    advance(1_001);
    expect(
      await Promise.all([
        reads.shared(jane, 'k', load),
        reads.shared(jane, 'k', load),
      ]),
    ).toEqual(['result 1', 'result 1']);
    expect(load).toHaveBeenCalledTimes(3);
    await new Promise(resolve => setImmediate(resolve));
    expect(await reads.shared(jane, 'k', load)).toBe('result 3');
    // Too old to answer: the caller waits for a fresh one.
    advance(10_001);
    expect(await reads.shared(jane, 'k', load)).toBe('result 4');
  });
});
