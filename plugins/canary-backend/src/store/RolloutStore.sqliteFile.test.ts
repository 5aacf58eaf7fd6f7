import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import { RolloutStore } from './RolloutStore';
import { migrationsDir } from '../engine/__testUtils__/harness';
import { storedRollout } from './__testUtils__/storedRollout';

jest.setTimeout(60_000);

describe('RolloutStore on a SQLite file', () => {
  let dir: string;
  let db: Knex | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'canary-store-'));
  });

  afterEach(async () => {
    await db?.destroy();
    db = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes through the write-ahead log with synchronous = NORMAL on every pooled connection, also those opened later', async () => {
    db = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: path.join(dir, 'canary.sqlite') },
      useNullAsDefault: true,
      pool: { min: 1, max: 3 },
    });
    await RolloutStore.create(db, migrationsDir);
    const pool = (db.client as { pool: { numUsed(): number } }).pool;
    let mostInUse = 0;
    // Three transactions at once hold three connections; the pool opens two
    // of them after create() ran its PRAGMAs.
    const seen = await Promise.all(
      [0, 1, 2].map(() =>
        db!.transaction(async tx => {
          const [mode] = await tx.raw('PRAGMA journal_mode');
          const [sync] = await tx.raw('PRAGMA synchronous');
          mostInUse = Math.max(mostInUse, pool.numUsed());
          await new Promise(r => setTimeout(r, 100));
          return { journal: mode.journal_mode, synchronous: sync.synchronous };
        }),
      ),
    );
    expect(mostInUse).toBe(3);
    // 1 is NORMAL (SQLite's default is 2, FULL).
    expect(seen).toEqual([
      { journal: 'wal', synchronous: 1 },
      { journal: 'wal', synchronous: 1 },
      { journal: 'wal', synchronous: 1 },
    ]);
  });

  it('leaves an in-memory database as it is', async () => {
    db = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: ':memory:' },
      useNullAsDefault: true,
    });
    await RolloutStore.create(db, migrationsDir);
    const [mode] = await db.raw('PRAGMA journal_mode');
    expect(mode.journal_mode).toBe('memory');
  });
});

describe('RolloutStore on better-sqlite3', () => {
  it('compiles each statement once per connection and reuses it', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Database = require('better-sqlite3');
    const prepare = jest.spyOn(Database.prototype, 'prepare');
    const db = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: ':memory:' },
      useNullAsDefault: true,
    });
    try {
      const store = await RolloutStore.create(db, migrationsDir);
      const compiled = () =>
        prepare.mock.calls.filter(([sql]) =>
          /^select \* from `canary_rollouts` where `id` = \?/.test(String(sql)),
        ).length;
      const before = compiled();
      for (const id of ['a', 'b', 'c', 'a']) {
        expect(await store.get(id)).toBeUndefined();
      }
      expect(compiled() - before).toBe(1);
      // The reused statement still answers with what is stored now.
      await store.insert(storedRollout('a', 'app'));
      expect((await store.get('a'))?.id).toBe('a');
      expect(compiled() - before).toBe(1);
    } finally {
      prepare.mockRestore();
      await db.destroy();
    }
  });
});
