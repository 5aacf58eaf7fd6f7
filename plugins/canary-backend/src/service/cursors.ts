import { InputError } from '@backstage/errors';
import type { ListPosition } from '../store/RolloutStore';

/**
 * Cursors of the read API: opaque to clients, checked on the way back in.
 * A cursor names what it pages through, so one for events handed in as an
 * analysis cursor (or a hand-edited one) is refused with a message instead
 * of silently paging through the wrong thing.
 */
type HistoryKind = 'events' | 'analysis';

const encode = (text: string) =>
  Buffer.from(text, 'utf8').toString('base64url');

function decode(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return undefined;
  return Buffer.from(cursor, 'base64url').toString('utf8');
}

function badCursor(field: string, cursor: string, from: string): InputError {
  const shown = cursor.length > 40 ? `${cursor.slice(0, 40)}…` : cursor;
  return new InputError(
    `query field ${field}: "${shown}" is not a cursor this API gave out; pass the ${from} of a previous answer unchanged, or leave ${field} out for the newest page`,
  );
}

/** The cursor of the page of events or analysis rows older than row `id`. */
export function historyCursor(
  kind: HistoryKind,
  id: number | null,
): string | null {
  return id === null ? null : encode(`${kind}:${id}`);
}

/** The row id a history cursor points before; InputError naming the field when it is not one. */
export function parseHistoryCursor(
  kind: HistoryKind,
  cursor: string,
  field: string,
): number {
  const text = decode(cursor);
  const match = text?.match(/^(events|analysis):(\d{1,15})$/);
  if (!match || match[1] !== kind) {
    throw badCursor(
      field,
      cursor,
      kind === 'events'
        ? 'eventsCursor (or cursor)'
        : 'analysisCursor (or cursor)',
    );
  }
  return Number(match[2]);
}

/** The cursor of the list page after the given rollout. */
export function listCursor(position: ListPosition): string {
  return encode(`rollouts:${position.createdAt}:${position.id}`);
}

/** The list position a list cursor names; InputError when it is not one. */
export function parseListCursor(cursor: string, field: string): ListPosition {
  const text = decode(cursor);
  const match = text?.match(/^rollouts:(\d{1,15}):([A-Za-z0-9._:-]{1,64})$/);
  if (!match) throw badCursor(field, cursor, 'nextCursor');
  return { createdAt: Number(match[1]), id: match[2] };
}
